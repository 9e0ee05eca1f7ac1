/* require "json": a decoder that builds Lua values straight from the text
 * and an encoder that writes straight from Lua values into one buffer.
 * Why not cJSON: see docs/modules/json.md. */
#include "codec/codec.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buffer.h"
#include "core/error.h"
#include "core/modules.h"
#include "core/names.h"
#include "core/value.h"

/* Upvalues shared by every function of the module: looked up once at
 * luaopen instead of once per table. */
#define JSON_NULL lua_upvalueindex(1)
#define JSON_ARRAY_MT lua_upvalueindex(2)
#define JSON_OBJECT_MT lua_upvalueindex(3)

/* ---------------------------------------------------------------- buffers */

/* A struct buffer inside a userdata: a raise anywhere leaves the memory to
 * __gc instead of leaking it. __gc and __close. [-(1|2), +0, -] */
static int json_buffer_gc(lua_State *L)
{
    buffer_free(lua_touserdata(L, 1));
    return 0;
}

/* Pushes an empty buffer box. [-0, +1, m] */
static struct buffer *json_buffer_push(lua_State *L)
{
    struct buffer *b = lua_newuserdatauv(L, sizeof *b, 0);
    *b = (struct buffer){0};
    if (luaL_newmetatable(L, FERRY_JSON_BUFFER_METATABLE)) {
        lua_pushcfunction(L, json_buffer_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, json_buffer_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* ---------------------------------------------------------------- decoder */

struct json_decoder {
    lua_State *L;
    const char *start, *p, *end;
    int depth;
    struct buffer *scratch; /* unescaped strings and relocalized numbers */
};

/* 1 for bytes a string cannot simply copy: '"', '\\', controls, non-ASCII. */
static const unsigned char json_string_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Raises "line L, column C: message" for the byte at `at`; the column counts
 * characters, as editors do. The scratch buffer is freed first. [-0, +0, v] */
static void json_fail_at(struct json_decoder *d, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void json_fail_at(struct json_decoder *d, const char *at, const char *fmt, ...)
{
    lua_State *L = d->L;
    lua_Integer line = 1, column = 1;
    for (const char *c = d->start; c < at; c++) {
        if (*c == '\n') {
            line++;
            column = 1;
        } else if (((unsigned char)*c & 0xC0) != 0x80) {
            column++;
        }
    }
    buffer_free(d->scratch);
    char problem[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    ferry_error_push(L, "json", "line %d, column %d: %s", (int)line, (int)column, problem);
    ferry_error_set_integer(L, "line", line);
    ferry_error_set_integer(L, "column", column);
    lua_error(L);
    abort(); /* not reached: lua_error does not return */
}

/* Names the byte found where something else was expected. [-0, +0, v] */
static void json_fail_unexpected(struct json_decoder *d, const char *expected)
    __attribute__((noreturn));

static void json_fail_unexpected(struct json_decoder *d, const char *expected)
{
    unsigned char c = (unsigned char)*d->p;
    if (d->p >= d->end)
        json_fail_at(d, d->p, "unexpected end of input, expected %s", expected);
    if (c >= 0x20 && c < 0x7F)
        json_fail_at(d, d->p, "unexpected '%c', expected %s", c, expected);
    json_fail_at(d, d->p, "unexpected byte 0x%02X, expected %s", c, expected);
}

static void json_skip_space(struct json_decoder *d)
{
    const char *p = d->p;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    d->p = p;
}

/* Appends to the scratch buffer, raising on exhausted memory. [-0, +0, v] */
static void json_scratch_append(struct json_decoder *d, const char *s, size_t n)
{
    if (buffer_append(d->scratch, s, n) != 0)
        json_fail_at(d, d->p, "not enough memory");
}

static int json_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        v = v * 16 + digit;
    }
    return v;
}

/* Reads \uXXXX (with its low surrogate when it is a high one) at p, which
 * points at the 'u'; returns the code point and moves p past it. [-0, +0, v] */
static unsigned long json_decode_unicode_escape(struct json_decoder *d, const char **p)
{
    const char *at = *p - 1;
    int unit = json_hex4(*p + 1);
    if (unit < 0)
        json_fail_at(d, at, "invalid \\u escape");
    *p += 5;
    if (unit >= 0xDC00 && unit <= 0xDFFF)
        json_fail_at(d, at, "lone low surrogate \\u%04X", (unsigned)unit);
    if (unit < 0xD800 || unit > 0xDBFF)
        return (unsigned long)unit;
    int low = (*p)[0] == '\\' && (*p)[1] == 'u' ? json_hex4(*p + 2) : -1;
    if (low < 0xDC00 || low > 0xDFFF)
        json_fail_at(d, at, "high surrogate \\u%04X without a low surrogate", (unsigned)unit);
    *p += 6;
    return 0x10000 + (((unsigned long)unit - 0xD800) << 10) + ((unsigned long)low - 0xDC00);
}

static size_t json_utf8_encode(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at p (pointing at the backslash) into the scratch
 * buffer; returns the position after it. [-0, +0, v] */
static const char *json_decode_escape(struct json_decoder *d, const char *p)
{
    char c;
    switch (p[1]) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
        const char *after = p + 1;
        char utf8[4];
        unsigned long cp = json_decode_unicode_escape(d, &after);
        json_scratch_append(d, utf8, json_utf8_encode(utf8, cp));
        return after;
    }
    default:
        json_fail_at(d, p, "invalid escape '\\%c'", p[1] >= 0x20 && p[1] < 0x7F ? p[1] : '?');
    }
    json_scratch_append(d, &c, 1);
    return p + 2;
}

/* Checks the byte at p that stopped a plain copy (other than '"' and '\\')
 * and returns the position after its character. [-0, +0, v] */
static const char *json_string_check(struct json_decoder *d, const char *p)
{
    unsigned char c = (unsigned char)*p;
    if (c < 0x20) {
        if (p >= d->end)
            json_fail_at(d, p, "unterminated string");
        json_fail_at(d, p, "control character 0x%02X in string (escape it)", c);
    }
    size_t n = codec_utf8_length((const unsigned char *)p, (size_t)(d->end - p));
    if (n == 0)
        json_fail_at(d, p, "invalid UTF-8 in string");
    return p + n;
}

/* The rest of a string after its first escape, built in the scratch
 * buffer; p points at the escape, s at the string's first byte. [-0, +1, v] */
static void json_decode_escaped_string(struct json_decoder *d, const char *s, const char *p)
{
    d->scratch->length = 0;
    json_scratch_append(d, s, (size_t)(p - s));
    for (;;) {
        const char *run = p;
        while (!json_string_stop[(unsigned char)*p])
            p++;
        json_scratch_append(d, run, (size_t)(p - run));
        if (*p == '"')
            break;
        if (*p == '\\') {
            p = json_decode_escape(d, p);
        } else {
            const char *next = json_string_check(d, p);
            json_scratch_append(d, p, (size_t)(next - p));
            p = next;
        }
    }
    lua_pushlstring(d->L, d->scratch->data, d->scratch->length);
    d->p = p + 1;
}

/* d->p is at the opening quote. [-0, +1, v] */
static void json_decode_string(struct json_decoder *d)
{
    const char *s = d->p + 1, *p = s;
    for (;;) {
        while (!json_string_stop[(unsigned char)*p])
            p++;
        if (*p == '"')
            break;
        if (*p == '\\') {
            json_decode_escaped_string(d, s, p);
            return;
        }
        p = json_string_check(d, p);
    }
    lua_pushlstring(d->L, s, (size_t)(p - s));
    d->p = p + 1;
}

/* strtod on the number text [s, e), which the grammar already checked, in
 * the C locale's notation whatever LC_NUMERIC says. [-0, +0, v] */
static double json_strtod(struct json_decoder *d, const char *s, const char *e)
{
    char point = localeconv()->decimal_point[0];
    if (point == '.')
        return strtod(s, NULL);
    d->scratch->length = 0;
    json_scratch_append(d, s, (size_t)(e - s));
    json_scratch_append(d, "", 1);
    char *dot = strchr(d->scratch->data, '.');
    if (dot)
        *dot = point;
    return strtod(d->scratch->data, NULL);
}

static int json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Integers that fit stay exact 64-bit integers; everything else is a
 * double. [-0, +1, v] */
static void json_decode_number(struct json_decoder *d)
{
    const char *s = d->p, *p = s;
    int negative = *p == '-';
    p += negative;
    uint64_t magnitude = 0;
    int overflow = 0, is_float = 0;
    if (*p == '0') {
        p++;
        if (json_is_digit(*p))
            json_fail_at(d, s, "invalid number (leading zero)");
    } else if (json_is_digit(*p)) {
        for (; json_is_digit(*p); p++) {
            unsigned digit = (unsigned)(*p - '0');
            if (magnitude > (UINT64_MAX - digit) / 10)
                overflow = 1;
            magnitude = magnitude * 10 + digit;
        }
    } else {
        json_fail_at(d, s, "invalid number");
    }
    if (*p == '.') {
        if (!json_is_digit(*++p))
            json_fail_at(d, s, "invalid number (no digit after '.')");
        while (json_is_digit(*p))
            p++;
        is_float = 1;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        if (!json_is_digit(*p))
            json_fail_at(d, s, "invalid number (no digit in exponent)");
        while (json_is_digit(*p))
            p++;
        is_float = 1;
    }
    d->p = p;
    uint64_t limit = negative ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX;
    if (is_float || overflow || magnitude > limit)
        lua_pushnumber(d->L, json_strtod(d, s, p));
    else if (negative)
        lua_pushinteger(d->L, magnitude == limit ? LUA_MININTEGER : -(lua_Integer)magnitude);
    else
        lua_pushinteger(d->L, (lua_Integer)magnitude);
}

/* true, false or null. [-0, +1, v] */
static void json_decode_literal(struct json_decoder *d)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t available = (size_t)(d->end - d->p);
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (available >= n && memcmp(d->p, words[i], n) == 0) {
            d->p += n;
            if (i == 2)
                lua_pushvalue(d->L, JSON_NULL);
            else
                lua_pushboolean(d->L, i == 0);
            return;
        }
    }
    json_fail_unexpected(d, "a value");
}

static void json_decode_value(struct json_decoder *d);

/* Counts one level of nesting and makes room on the Lua stack for it.
 * [-0, +0, v] */
static void json_enter(struct json_decoder *d)
{
    if (++d->depth > CODEC_DEPTH_MAX)
        json_fail_at(d, d->p, "nesting deeper than %d levels", CODEC_DEPTH_MAX);
    if (!lua_checkstack(d->L, 4))
        json_fail_at(d, d->p, "not enough memory for the Lua stack");
}

/* Pushes a new table marked with the metatable at mt. [-0, +1, m] */
static void json_table_push(lua_State *L, int mt)
{
    lua_newtable(L);
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
}

/* d->p is at '['. [-0, +1, v] */
static void json_decode_array(struct json_decoder *d)
{
    lua_State *L = d->L;
    json_enter(d);
    json_table_push(L, JSON_ARRAY_MT);
    d->p++;
    json_skip_space(d);
    if (*d->p == ']') {
        d->p++;
        d->depth--;
        return;
    }
    for (lua_Integer i = 1;; i++) {
        json_decode_value(d);
        lua_rawseti(L, -2, i);
        json_skip_space(d);
        if (*d->p == ',') {
            d->p++;
        } else if (*d->p == ']') {
            d->p++;
            break;
        } else {
            json_fail_unexpected(d, "',' or ']'");
        }
    }
    d->depth--;
}

/* d->p is at '{'; a repeated key keeps its last value. [-0, +1, v] */
static void json_decode_object(struct json_decoder *d)
{
    lua_State *L = d->L;
    json_enter(d);
    json_table_push(L, JSON_OBJECT_MT);
    d->p++;
    json_skip_space(d);
    if (*d->p == '}') {
        d->p++;
        d->depth--;
        return;
    }
    for (;;) {
        json_skip_space(d);
        if (*d->p != '"')
            json_fail_unexpected(d, "a string key");
        json_decode_string(d);
        json_skip_space(d);
        if (*d->p != ':')
            json_fail_unexpected(d, "':'");
        d->p++;
        json_decode_value(d);
        lua_rawset(L, -3);
        json_skip_space(d);
        if (*d->p == ',') {
            d->p++;
        } else if (*d->p == '}') {
            d->p++;
            break;
        } else {
            json_fail_unexpected(d, "',' or '}'");
        }
    }
    d->depth--;
}

/* [-0, +1, v] */
static void json_decode_value(struct json_decoder *d)
{
    json_skip_space(d);
    switch (*d->p) {
    case '{': json_decode_object(d); break;
    case '[': json_decode_array(d); break;
    case '"': json_decode_string(d); break;
    case 't': case 'f': case 'n': json_decode_literal(d); break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        json_decode_number(d);
        break;
    default: json_fail_unexpected(d, "a value");
    }
}

/* json.decode(text) -> value. [-1, +1, v] */
static int json_decode(lua_State *L)
{
    size_t length;
    const char *text = luaL_checklstring(L, 1, &length);
    lua_settop(L, 1);
    struct json_decoder d = {L, text, text, text + length, 0, NULL};
    d.scratch = json_buffer_push(L);
    if (length >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        d.p += 3; /* a byte order mark, as some Windows editors write */
    json_decode_value(&d);
    json_skip_space(&d);
    if (d.p != d.end)
        json_fail_unexpected(&d, "the end of the input after the value");
    buffer_free(d.scratch);
    return 1;
}

/* json.safe_decode(text) -> value | nil, err: for callers that test rather
 * than catch. Errors other than a decode error (memory, a text that is not
 * a string) still raise. [-1, +(1|2), e] */
static int json_safe_decode(lua_State *L)
{
    return codec_safe_decode(L, json_decode, 1, "json");
}

/* ---------------------------------------------------------------- encoder */

struct json_encoder {
    lua_State *L;
    struct buffer *out;
    int pretty, sort_keys, indent;
    int depth;
    struct codec_path_step path[CODEC_DEPTH_MAX + 1];
};

/* Raises "message at $.path" with err.path set; the output is freed first.
 * Naming a key that is neither a string nor a number runs its __tostring,
 * and reading a table's mark reads its metatable: the encoder may raise
 * what such code raises (e). [-0, +0, e] */
static void json_encode_fail(struct json_encoder *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void json_encode_fail(struct json_encoder *e, const char *fmt, ...)
{
    lua_State *L = e->L;
    buffer_free(e->out);
    va_list ap;
    va_start(ap, fmt);
    const char *problem = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    codec_path_push(L, e->path, e->depth);
    const char *path = lua_tostring(L, -1);
    ferry_error_push(L, "json", "%s at %s", problem, path);
    ferry_error_set_string(L, "path", path);
    lua_error(L);
    abort(); /* not reached: lua_error does not return */
}

/* Makes room for n more bytes, doubling. [-0, +0, e] */
static void json_grow(struct json_encoder *e, size_t n)
{
    struct buffer *b = e->out;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity - b->length < n && capacity <= SIZE_MAX / 2)
        capacity *= 2;
    char *grown = capacity - b->length >= n ? realloc(b->data, capacity) : NULL;
    if (!grown)
        json_encode_fail(e, "not enough memory for the output");
    b->data = grown;
    b->capacity = capacity;
}

/* [-0, +0, e] */
static inline void json_reserve(struct json_encoder *e, size_t n)
{
    if (n > e->out->capacity - e->out->length)
        json_grow(e, n);
}

/* [-0, +0, e] */
static inline void json_put(struct json_encoder *e, const char *s, size_t n)
{
    json_reserve(e, n);
    memcpy(e->out->data + e->out->length, s, n);
    e->out->length += n;
}

/* [-0, +0, e] */
static inline void json_putc(struct json_encoder *e, char c)
{
    json_reserve(e, 1);
    e->out->data[e->out->length++] = c;
}

/* A line break and the indent of level. [-0, +0, e] */
static void json_newline(struct json_encoder *e, int level)
{
    size_t n = (size_t)level * (size_t)e->indent;
    json_reserve(e, n + 1);
    char *p = e->out->data + e->out->length;
    *p++ = '\n';
    memset(p, ' ', n);
    e->out->length += n + 1;
}

static const char json_hex_digits[] = "0123456789abcdef";

/* The escape of a byte the string stop table flagged (except UTF-8).
 * [-0, +0, e] */
static void json_encode_escape(struct json_encoder *e, unsigned char c)
{
    char escape[6] = {'\\', 0, '0', '0', 0, 0};
    switch (c) {
    case '"': escape[1] = '"'; break;
    case '\\': escape[1] = '\\'; break;
    case '\b': escape[1] = 'b'; break;
    case '\f': escape[1] = 'f'; break;
    case '\n': escape[1] = 'n'; break;
    case '\r': escape[1] = 'r'; break;
    case '\t': escape[1] = 't'; break;
    default:
        escape[1] = 'u';
        escape[4] = json_hex_digits[c >> 4];
        escape[5] = json_hex_digits[c & 15];
        json_put(e, escape, 6);
        return;
    }
    json_put(e, escape, 2);
}

/* Writes a quoted string; what must not reach a JSON document (invalid
 * UTF-8) is an error naming where it was. [-0, +0, e] */
static void json_encode_string(struct json_encoder *e, const char *s, size_t n, const char *what)
{
    const unsigned char *u = (const unsigned char *)s;
    json_reserve(e, n + 2);
    json_putc(e, '"');
    size_t run = 0, i = 0;
    while (i < n) {
        if (!json_string_stop[u[i]]) {
            i++;
            continue;
        }
        if (u[i] >= 0x80) {
            size_t length = codec_utf8_length(u + i, n - i);
            if (length == 0)
                json_encode_fail(e, "invalid UTF-8 in %s", what);
            i += length;
            continue;
        }
        json_put(e, s + run, i - run);
        json_encode_escape(e, u[i]);
        run = ++i;
    }
    json_put(e, s + run, n - run);
    json_putc(e, '"');
}

/* [-0, +0, e] */
static void json_encode_number(struct json_encoder *e, int idx)
{
    char text[40];
    int n;
    if (lua_isinteger(e->L, idx)) {
        n = codec_format_integer(text, lua_tointeger(e->L, idx));
    } else {
        double v = lua_tonumber(e->L, idx);
        if (!isfinite(v))
            json_encode_fail(e, "cannot encode %s (JSON has no NaN or infinity)",
                             isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
        n = codec_format_float(text, sizeof text, v);
    }
    json_put(e, text, (size_t)n);
}

static void json_encode_value(struct json_encoder *e, int idx);

/* The key at stack index key, written as an object member name; strings
 * and numbers are the only keys a document can hold. [-0, +0, e] */
static void json_encode_key(struct json_encoder *e, int key, const char *text, size_t n)
{
    e->path[e->depth - 1].key = key;
    if (!text)
        json_encode_fail(e, "cannot encode a %s key", luaL_typename(e->L, key));
    json_encode_string(e, text, n, "key");
    if (e->pretty)
        json_put(e, ": ", 2);
    else
        json_putc(e, ':');
}

/* Before a member or element: the separator and, when pretty, the indent.
 * [-0, +0, e] */
static void json_encode_separator(struct json_encoder *e, int first)
{
    if (!first)
        json_putc(e, ',');
    if (e->pretty)
        json_newline(e, e->depth);
}

/* The member whose key is at stack index key and whose value is on top;
 * pops the value. [-1, +0, e] */
static void json_encode_member(struct json_encoder *e, int key, int first)
{
    lua_State *L = e->L;
    json_encode_separator(e, first);
    int type = lua_type(L, key);
    if (type == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, key, &n);
        json_encode_key(e, key, s, n);
    } else if (type == LUA_TNUMBER) {
        codec_number_key_push(L, key); /* a copy: converting in place would break lua_next */
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        json_encode_key(e, key, s, n);
        lua_pop(L, 1);
    } else {
        json_encode_key(e, key, NULL, 0);
    }
    json_encode_value(e, lua_gettop(L));
    lua_pop(L, 1);
}

static int json_key_compare(const void *a, const void *b)
{
    const struct codec_key *x = a, *y = b;
    if (!x->text || !y->text)
        return (x->text != NULL) - (y->text != NULL);
    size_t n = x->length < y->length ? x->length : y->length;
    int c = memcmp(x->text, y->text, n);
    return c ? c : (x->length > y->length) - (x->length < y->length);
}

/* Members in byte order of their keys, as Python's sort_keys and Go's
 * encoding/json write them; returns their count. [-0, +0, e] */
static int json_encode_sorted_members(struct json_encoder *e, int idx)
{
    lua_State *L = e->L;
    int count = codec_sorted_keys_push(L, idx, json_key_compare);
    int keys = lua_gettop(L) - 1;
    const struct codec_key *entries = lua_touserdata(L, -1);
    for (int i = 0; i < count; i++) {
        lua_rawgeti(L, keys, entries[i].position);
        int key = lua_gettop(L);
        json_encode_separator(e, i == 0);
        json_encode_key(e, key, entries[i].text, entries[i].length);
        lua_pushvalue(L, key);
        lua_rawget(L, idx);
        json_encode_value(e, lua_gettop(L));
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    return count;
}

/* Members in lua_next order, the fast default; returns their count.
 * [-0, +0, e] */
static int json_encode_members(struct json_encoder *e, int idx)
{
    lua_State *L = e->L;
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx))
        json_encode_member(e, lua_gettop(L) - 1, count++ == 0);
    return count;
}

/* [-0, +0, e] */
static void json_encode_object(struct json_encoder *e, int idx)
{
    json_putc(e, '{');
    int count = e->sort_keys ? json_encode_sorted_members(e, idx) : json_encode_members(e, idx);
    if (e->pretty && count > 0)
        json_newline(e, e->depth - 1);
    json_putc(e, '}');
}

/* Elements 1..n; holes (a marked array with nils) are written as null.
 * [-0, +0, e] */
static void json_encode_array(struct json_encoder *e, int idx, lua_Integer n)
{
    lua_State *L = e->L;
    struct codec_path_step *step = &e->path[e->depth - 1];
    json_putc(e, '[');
    for (lua_Integer i = 1; i <= n; i++) {
        json_encode_separator(e, i == 1);
        step->key = 0;
        step->position = i;
        lua_rawgeti(L, idx, i);
        json_encode_value(e, lua_gettop(L));
        lua_pop(L, 1);
    }
    if (e->pretty && n > 0)
        json_newline(e, e->depth - 1);
    json_putc(e, ']');
}

/* How the table at idx encodes. The two marks are recognized by identity
 * first: ferry_table_kind's field lookup costs more on large documents.
 * [-0, +0, e] */
static enum ferry_table_kind json_table_kind(lua_State *L, int idx, lua_Integer *length)
{
    if (lua_getmetatable(L, idx)) {
        int array = lua_rawequal(L, -1, JSON_ARRAY_MT), object = lua_rawequal(L, -1, JSON_OBJECT_MT);
        lua_pop(L, 1);
        if (array || object) {
            *length = (lua_Integer)lua_rawlen(L, idx);
            return array ? FERRY_TABLE_ARRAY : FERRY_TABLE_OBJECT;
        }
    }
    return ferry_table_kind(L, idx, length);
}

/* [-0, +0, e] */
static void json_encode_table(struct json_encoder *e, int idx)
{
    if (e->depth >= CODEC_DEPTH_MAX) {
        e->path[e->depth].table = idx;
        int cycle = codec_cycle_length(e->L, e->path, e->depth + 1);
        if (cycle) {
            e->depth = cycle;
            json_encode_fail(e, "reference cycle: a table contains itself");
        }
        json_encode_fail(e, "nesting deeper than %d levels", CODEC_DEPTH_MAX);
    }
    if (!lua_checkstack(e->L, 6))
        json_encode_fail(e, "not enough memory for the Lua stack");
    e->path[e->depth].table = idx;
    e->path[e->depth].key = 0;
    e->path[e->depth].position = 0;
    e->depth++;
    lua_Integer n;
    if (json_table_kind(e->L, idx, &n) == FERRY_TABLE_ARRAY)
        json_encode_array(e, idx, n);
    else
        json_encode_object(e, idx);
    e->depth--;
}

/* [-0, +0, e] */
static void json_encode_value(struct json_encoder *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        json_put(e, "null", 4);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            json_put(e, "true", 4);
        else
            json_put(e, "false", 5);
        break;
    case LUA_TNUMBER:
        json_encode_number(e, idx);
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        json_encode_string(e, s, n, "string");
        break;
    }
    case LUA_TTABLE:
        json_encode_table(e, idx);
        break;
    default:
        if (!lua_rawequal(L, idx, JSON_NULL))
            json_encode_fail(e, "cannot encode a %s", luaL_typename(L, idx));
        json_put(e, "null", 4);
    }
}

/* Reads {pretty=, sort_keys=, indent=} at arg 2; indent alone implies
 * pretty. [-0, +0, e] */
static void json_encode_options(lua_State *L, struct json_encoder *e)
{
    if (lua_isnoneornil(L, 2))
        return;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "pretty");
    e->pretty = lua_toboolean(L, -1);
    lua_getfield(L, 2, "sort_keys");
    e->sort_keys = lua_toboolean(L, -1);
    lua_getfield(L, 2, "indent");
    if (!lua_isnil(L, -1)) {
        lua_Integer indent = lua_tointeger(L, -1);
        luaL_argcheck(L, lua_isinteger(L, -1) && indent >= 0 && indent <= 16, 2,
                      "indent must be an integer from 0 to 16");
        e->indent = (int)indent;
        e->pretty = 1;
    }
    lua_pop(L, 3);
}

/* json.encode(value [, options]) -> text. The encoder lives on the C stack;
 * only the output, in a box, owns memory. [-(1|2), +1, e] */
static int json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 2);
    struct json_encoder e = {.L = L, .indent = 2};
    json_encode_options(L, &e);
    e.out = json_buffer_push(L);
    json_encode_value(&e, 1);
    lua_pushlstring(L, e.out->data, e.out->length);
    buffer_free(e.out);
    return 1;
}

/* ---------------------------------------------------------------- marks */

static const luaL_Reg json_functions[] = {
    {"decode", json_decode},
    {"safe_decode", json_safe_decode},
    {"encode", json_encode},
    {"array", codec_array},
    {"object", codec_object},
    {"null", NULL},
    {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_ferry_json(lua_State *L)
{
    return codec_open(L, json_functions);
}
