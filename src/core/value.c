#include "core/names.h"
#include "core/value.h"

#include <lauxlib.h>

/* The sentinel's __tostring. [-1, +1, m] */
static int null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

/* [-0, +0, m] */
static void metatable_init(lua_State *L, const char *name, const char *kind)
{
    if (luaL_newmetatable(L, name)) {
        /* __jsontype lets Lua code (and printers) ask a table's kind cheaply. */
        lua_pushstring(L, kind);
        lua_setfield(L, -2, "__jsontype");
    }
    lua_pop(L, 1);
}

void ferry_value_init(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, FERRY_NULL_KEY) == LUA_TNIL) {
        lua_newuserdatauv(L, 0, 0);
        lua_createtable(L, 0, 2);
        lua_pushcfunction(L, null_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "null");
        lua_setfield(L, -2, "__name");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, FERRY_NULL_KEY);
    }
    lua_pop(L, 1);
    metatable_init(L, FERRY_ARRAY_METATABLE, "array");
    metatable_init(L, FERRY_OBJECT_METATABLE, "object");
}

void ferry_null_push(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_NULL_KEY);
}

void ferry_table_mark(lua_State *L, int idx, enum ferry_table_kind kind)
{
    idx = lua_absindex(L, idx);
    if (kind == FERRY_TABLE_ARRAY)
        luaL_getmetatable(L, FERRY_ARRAY_METATABLE);
    else if (kind == FERRY_TABLE_OBJECT)
        luaL_getmetatable(L, FERRY_OBJECT_METATABLE);
    else
        lua_pushnil(L);
    lua_setmetatable(L, idx);
}

enum ferry_table_kind ferry_table_marked(lua_State *L, int idx)
{
    enum ferry_table_kind kind = FERRY_TABLE_UNMARKED;
    if (!lua_getmetatable(L, idx))
        return kind;
    if (lua_getfield(L, -1, "__jsontype") == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (s[0] == 'a')
            kind = FERRY_TABLE_ARRAY;
        else if (s[0] == 'o')
            kind = FERRY_TABLE_OBJECT;
    }
    lua_pop(L, 2);
    return kind;
}

enum ferry_table_kind ferry_table_kind(lua_State *L, int idx, lua_Integer *length)
{
    idx = lua_absindex(L, idx);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (length)
        *length = n;
    enum ferry_table_kind kind = ferry_table_marked(L, idx);
    if (kind != FERRY_TABLE_UNMARKED)
        return kind;
    if (n == 0)
        return FERRY_TABLE_OBJECT;
    /* An array has exactly the keys 1..n: count them all to be sure. */
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER || !lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return FERRY_TABLE_OBJECT;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || k > n) {
            lua_pop(L, 1);
            return FERRY_TABLE_OBJECT;
        }
        count++;
    }
    return count == n ? FERRY_TABLE_ARRAY : FERRY_TABLE_OBJECT;
}
