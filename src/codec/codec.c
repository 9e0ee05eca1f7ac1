/* The helpers both data codecs share. See codec.h. */
#include "codec/codec.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/value.h"

/* Pushes the metatable ferry_table_mark gives to the kind. [-0, +1, m] */
static void codec_metatable_push(lua_State *L, enum ferry_table_kind kind)
{
    lua_newtable(L);
    ferry_table_mark(L, -1, kind);
    lua_getmetatable(L, -1);
    lua_remove(L, -2);
}

int codec_open(lua_State *L, const luaL_Reg *functions)
{
    ferry_value_init(L);
    ferry_error_init(L);
    lua_newtable(L);
    ferry_null_push(L);
    codec_metatable_push(L, FERRY_TABLE_ARRAY);
    codec_metatable_push(L, FERRY_TABLE_OBJECT);
    luaL_setfuncs(L, functions, 3);
    ferry_null_push(L);
    lua_setfield(L, -2, "null");
    return 1;
}

int codec_mark(lua_State *L, int mt)
{
    if (lua_isnoneornil(L, 1)) {
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
    return 1;
}

int codec_array(lua_State *L)
{
    return codec_mark(L, lua_upvalueindex(2));
}

int codec_object(lua_State *L)
{
    return codec_mark(L, lua_upvalueindex(3));
}

/* True when the value on top is an error table of that kind. [-0, +0, -] */
static int codec_is_error_of(lua_State *L, const char *kind)
{
    if (!lua_istable(L, -1))
        return 0;
    lua_pushliteral(L, "kind");
    lua_rawget(L, -2);
    const char *k = lua_tostring(L, -1);
    int same = k && strcmp(k, kind) == 0;
    lua_pop(L, 1);
    return same;
}

int codec_safe_decode(lua_State *L, lua_CFunction decode, int nargs, const char *kind)
{
    luaL_checklstring(L, 1, NULL);
    lua_settop(L, nargs);
    for (int i = 1; i <= 3; i++)
        lua_pushvalue(L, lua_upvalueindex(i));
    lua_pushcclosure(L, decode, 3);
    lua_insert(L, 1);
    int status = lua_pcall(L, nargs, 1, 0);
    if (status == LUA_OK)
        return 1;
    if (status != LUA_ERRRUN || !codec_is_error_of(L, kind))
        return lua_error(L);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

size_t codec_utf8_length(const unsigned char *s, size_t available)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (n == 0 || n > available)
        return 0;
    unsigned low = 0x80, high = 0xBF;
    if (c == 0xE0)
        low = 0xA0;
    else if (c == 0xED)
        high = 0x9F;
    else if (c == 0xF0)
        low = 0x90;
    else if (c == 0xF4)
        high = 0x8F;
    if (s[1] < low || s[1] > high)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

void codec_decimal_point_fix(char *text)
{
    char point = localeconv()->decimal_point[0];
    if (point == '.' || point == '\0')
        return;
    char *p = strchr(text, point);
    if (p)
        *p = '.';
}

int codec_format_float(char *out, size_t size, double v)
{
    int n = 0;
    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(out, size, "%.*g", precision, v);
        if (strtod(out, NULL) == v)
            break;
    }
    codec_decimal_point_fix(out);
    if (!strpbrk(out, ".e")) {
        memcpy(out + n, ".0", 3);
        n += 2;
    }
    return n;
}

int codec_format_integer(char *out, lua_Integer v)
{
    char digits[24];
    int count = 0, n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[count++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[n++] = '-';
    while (count)
        out[n++] = digits[--count];
    return n;
}

static int codec_is_identifier(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

void codec_path_push(lua_State *L, const struct codec_path_step *steps, int count)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '$');
    for (int i = 0; i < count; i++) {
        const struct codec_path_step *step = &steps[i];
        if (step->key == 0) {
            lua_pushfstring(L, "[%I]", (LUAI_UACINT)step->position);
        } else if (lua_type(L, step->key) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, step->key, &n);
            if (codec_is_identifier(s, n))
                lua_pushfstring(L, ".%s", s);
            else
                lua_pushfstring(L, "[\"%s\"]", s);
        } else {
            luaL_tolstring(L, step->key, NULL);
            lua_pushfstring(L, "[%s]", lua_tostring(L, -1));
            lua_remove(L, -2);
        }
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
}

int codec_cycle_length(lua_State *L, const struct codec_path_step *steps, int count)
{
    for (int j = 1; j < count; j++)
        for (int i = 0; i < j; i++)
            if (lua_rawequal(L, steps[i].table, steps[j].table))
                return j;
    return 0;
}

void codec_number_key_push(lua_State *L, int idx)
{
    char text[40];
    if (lua_isinteger(L, idx)) {
        lua_pushlstring(L, text, (size_t)codec_format_integer(text, lua_tointeger(L, idx)));
        return;
    }
    double v = lua_tonumber(L, idx);
    if (isinf(v))
        lua_pushstring(L, v > 0 ? ".inf" : "-.inf");
    else
        lua_pushlstring(L, text, (size_t)codec_format_float(text, sizeof text, v));
}

/* Bottom-up merge sort of n keys through tmp (n more). Unlike qsort it
 * stays in bounds whatever compare answers: go-yaml's key order is not
 * guaranteed to be a strict weak order. Stable, so equal texts keep the
 * table's order. */
static void codec_keys_sort(struct codec_key *keys, struct codec_key *tmp, int n,
                            int (*compare)(const void *, const void *))
{
    for (int width = 1; width < n; width *= 2) {
        for (int low = 0; low < n; low += 2 * width) {
            int middle = low + width < n ? low + width : n;
            int high = low + 2 * width < n ? low + 2 * width : n;
            int i = low, j = middle, k = low;
            while (i < middle && j < high)
                tmp[k++] = compare(&keys[j], &keys[i]) < 0 ? keys[j++] : keys[i++];
            while (i < middle)
                tmp[k++] = keys[i++];
            while (j < high)
                tmp[k++] = keys[j++];
        }
        memcpy(keys, tmp, sizeof *keys * (size_t)n);
    }
}

int codec_sorted_keys_push(lua_State *L, int idx, int (*compare)(const void *, const void *))
{
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    lua_createtable(L, 2 * count, 0);
    int keys = lua_gettop(L);
    struct codec_key *entries = lua_newuserdatauv(L, sizeof *entries * 2 * (size_t)(count ? count : 1), 0);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, 2 * n + 1);
        int type = lua_type(L, -1);
        if (type == LUA_TSTRING)
            lua_pushvalue(L, -1);
        else if (type == LUA_TNUMBER)
            codec_number_key_push(L, -1);
        else
            lua_pushnil(L);
        entries[n].text = lua_tolstring(L, -1, &entries[n].length);
        entries[n].position = 2 * n + 1;
        lua_rawseti(L, keys, 2 * n + 2);
        n++;
    }
    codec_keys_sort(entries, entries + n, n, compare);
    return n;
}
