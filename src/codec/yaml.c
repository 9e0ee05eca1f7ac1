/* require "yaml": libyaml's event parser and emitter between YAML text and
 * Lua values. Plain scalars resolve as Kubernetes reads manifests
 * (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1 flavoured); the rule is the
 * table in docs/modules/yaml.md. libyaml's state lives in userdata boxes
 * with __gc, and errors are raised only between libyaml calls, after the
 * box is released. */
#include "codec/codec.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/buffer.h"
#include "core/error.h"
#include "core/modules.h"
#include "core/names.h"
#include "core/value.h"

/* Upvalues shared by every function of the module. */
#define YAML_NULL lua_upvalueindex(1)
#define YAML_ARRAY_MT lua_upvalueindex(2)
#define YAML_OBJECT_MT lua_upvalueindex(3)

#define TAG_PREFIX "tag:yaml.org,2002:"

/* Alias expansion copies values; a document may build this many values
 * through aliases plus ten per value it spells out (billion laughs). */
#define YAML_ALIAS_BUDGET 100000

/* ------------------------------------------------- plain scalar resolution */

enum yaml_kind {
    YAML_KIND_STRING,
    YAML_KIND_NULL,
    YAML_KIND_BOOL,
    YAML_KIND_INT,
    YAML_KIND_FLOAT,
    YAML_KIND_TIMESTAMP, /* kept as its text, as kubectl does */
};

struct yaml_scalar {
    enum yaml_kind kind;
    int boolean;
    lua_Integer integer;
    double number;
    int unsigned_range; /* an integer past INT64_MAX, held as a float */
};

static const struct yaml_word {
    const char *text;
    enum yaml_kind kind;
    double value;
} yaml_words[] = {
    {"y", YAML_KIND_BOOL, 1}, {"Y", YAML_KIND_BOOL, 1}, {"yes", YAML_KIND_BOOL, 1},
    {"Yes", YAML_KIND_BOOL, 1}, {"YES", YAML_KIND_BOOL, 1}, {"true", YAML_KIND_BOOL, 1},
    {"True", YAML_KIND_BOOL, 1}, {"TRUE", YAML_KIND_BOOL, 1}, {"on", YAML_KIND_BOOL, 1},
    {"On", YAML_KIND_BOOL, 1}, {"ON", YAML_KIND_BOOL, 1}, {"n", YAML_KIND_BOOL, 0},
    {"N", YAML_KIND_BOOL, 0}, {"no", YAML_KIND_BOOL, 0}, {"No", YAML_KIND_BOOL, 0},
    {"NO", YAML_KIND_BOOL, 0}, {"false", YAML_KIND_BOOL, 0}, {"False", YAML_KIND_BOOL, 0},
    {"FALSE", YAML_KIND_BOOL, 0}, {"off", YAML_KIND_BOOL, 0}, {"Off", YAML_KIND_BOOL, 0},
    {"OFF", YAML_KIND_BOOL, 0}, {"", YAML_KIND_NULL, 0}, {"~", YAML_KIND_NULL, 0},
    {"null", YAML_KIND_NULL, 0}, {"Null", YAML_KIND_NULL, 0}, {"NULL", YAML_KIND_NULL, 0},
    {".nan", YAML_KIND_FLOAT, NAN}, {".NaN", YAML_KIND_FLOAT, NAN}, {".NAN", YAML_KIND_FLOAT, NAN},
    {".inf", YAML_KIND_FLOAT, INFINITY}, {".Inf", YAML_KIND_FLOAT, INFINITY},
    {".INF", YAML_KIND_FLOAT, INFINITY}, {"+.inf", YAML_KIND_FLOAT, INFINITY},
    {"+.Inf", YAML_KIND_FLOAT, INFINITY}, {"+.INF", YAML_KIND_FLOAT, INFINITY},
    {"-.inf", YAML_KIND_FLOAT, -INFINITY}, {"-.Inf", YAML_KIND_FLOAT, -INFINITY},
    {"-.INF", YAML_KIND_FLOAT, -INFINITY},
};

static int yaml_resolve_word(const char *s, size_t n, struct yaml_scalar *v)
{
    for (size_t i = 0; i < sizeof yaml_words / sizeof *yaml_words; i++) {
        const struct yaml_word *w = &yaml_words[i];
        if (strlen(w->text) == n && memcmp(w->text, s, n) == 0) {
            v->kind = w->kind;
            v->boolean = w->value != 0;
            v->number = w->value;
            return 1;
        }
    }
    return 0;
}

static int yaml_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t yaml_digits(const char *s, size_t i, size_t n)
{
    size_t start = i;
    while (i < n && yaml_is_digit(s[i]))
        i++;
    return i - start;
}

/* go-yaml's float pattern: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int yaml_float_syntax(const char *s, size_t n)
{
    size_t i = s[0] == '+' || s[0] == '-';
    size_t digits = yaml_digits(s, i, n);
    i += digits;
    if (i < n && s[i] == '.') {
        size_t fraction = yaml_digits(s, i + 1, n);
        if (!digits && !fraction)
            return 0;
        i += 1 + fraction;
    } else if (!digits) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        i += i < n && (s[i] == '+' || s[i] == '-');
        size_t exponent = yaml_digits(s, i, n);
        if (!exponent)
            return 0;
        i += exponent;
    }
    return i == n;
}

/* A float whose text passed yaml_float_syntax (NUL-terminated, writable);
 * out-of-range values are not floats, as in Go's strconv.ParseFloat. */
static int yaml_parse_float(char *text, struct yaml_scalar *v)
{
    char point = localeconv()->decimal_point[0];
    char *dot = point != '.' ? strchr(text, '.') : NULL;
    if (dot)
        *dot = point;
    double number = strtod(text, NULL);
    if (isinf(number))
        return 0;
    v->kind = YAML_KIND_FLOAT;
    v->number = number;
    return 1;
}

static int yaml_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99;
}

/* Go's strconv.ParseInt(s, 0, 64) (0x, 0o, 0b and a leading 0 for octal),
 * then ParseUint for what only fits unsigned 64 bits, which Lua can only
 * hold as a float. */
static int yaml_parse_integer(const char *s, size_t n, struct yaml_scalar *v)
{
    size_t i = 0;
    int sign = s[0] == '+' || s[0] == '-', negative = s[0] == '-';
    i += (size_t)sign;
    if (i == n)
        return 0;
    unsigned base = 10;
    if (s[i] == '0') {
        char prefix = n - i >= 3 ? (char)(s[i + 1] | 0x20) : 0;
        base = prefix == 'x' ? 16 : prefix == 'b' ? 2 : 8;
        i += prefix == 'x' || prefix == 'o' || prefix == 'b' ? 2 : 1;
    }
    uint64_t u = 0;
    for (; i < n; i++) {
        unsigned digit = (unsigned)yaml_digit_value(s[i]);
        if (digit >= base || u > (UINT64_MAX - digit) / base)
            return 0;
        u = u * base + digit;
    }
    if (negative && u > (uint64_t)1 << 63)
        return 0;
    if (!negative && u > (uint64_t)INT64_MAX) {
        if (sign)
            return 0;
        v->kind = YAML_KIND_FLOAT;
        v->number = (double)u;
        v->unsigned_range = 1;
        return 1;
    }
    v->kind = YAML_KIND_INT;
    v->integer = negative ? (u == (uint64_t)1 << 63 ? LUA_MININTEGER : -(lua_Integer)u) : (lua_Integer)u;
    return 1;
}

static int yaml_digit_run(const char *s, size_t *i, size_t n, size_t low, size_t high)
{
    size_t count = yaml_digits(s, *i, n);
    *i += count;
    return count >= low && count <= high;
}

/* The timestamp forms go-yaml v2 recognizes: 2006-1-2, 2006-1-2T15:4:5.9Z07:00
 * (t too) and 2006-1-2 15:4:5.9. Field ranges are not checked: this only
 * keeps such text a string and makes the encoder quote it. */
static int yaml_is_timestamp(const char *s, size_t n)
{
    size_t i = 0;
    if (!yaml_digit_run(s, &i, n, 4, 4) || i == n || s[i++] != '-')
        return 0;
    if (!yaml_digit_run(s, &i, n, 1, 2) || i == n || s[i++] != '-' || !yaml_digit_run(s, &i, n, 1, 2))
        return 0;
    if (i == n)
        return 1;
    char separator = s[i++];
    if (separator != 'T' && separator != 't' && separator != ' ')
        return 0;
    for (int field = 0; field < 3; field++) {
        if ((field > 0 && (i == n || s[i++] != ':')) || !yaml_digit_run(s, &i, n, 1, 2))
            return 0;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (!yaml_digit_run(s, &i, n, 1, 9))
            return 0;
    }
    if (i == n || separator == ' ')
        return i == n;
    if (s[i] == 'Z')
        return i + 1 == n;
    if (s[i] != '+' && s[i] != '-')
        return 0;
    i++;
    return yaml_digit_run(s, &i, n, 2, 2) && i < n && s[i++] == ':' && yaml_digit_run(s, &i, n, 2, 2) &&
           i == n;
}

/* Numbers after the first character said "digit or sign": go-yaml tries a
 * timestamp, then an integer, then a float, with every '_' removed. */
static enum yaml_kind yaml_resolve_number(const char *s, size_t n, struct yaml_scalar *v)
{
    if (yaml_is_timestamp(s, n))
        return v->kind = YAML_KIND_TIMESTAMP;
    char plain[256];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_')
            continue;
        if (m == sizeof plain - 1)
            return v->kind = YAML_KIND_STRING; /* no sane number is this long */
        plain[m++] = s[i];
    }
    plain[m] = '\0';
    if (m > 0 && yaml_parse_integer(plain, m, v))
        return v->kind;
    if (m > 0 && yaml_float_syntax(plain, m) && yaml_parse_float(plain, v))
        return v->kind;
    return v->kind = YAML_KIND_STRING;
}

/* A plain (unquoted, untagged) scalar, resolved as go-yaml v2 does: the
 * first character decides what the text may be. */
static enum yaml_kind yaml_resolve_plain(const char *s, size_t n, struct yaml_scalar *v)
{
    v->kind = YAML_KIND_STRING;
    char first = n ? s[0] : '~';
    int digit_or_sign = yaml_is_digit(first) || first == '+' || first == '-';
    if (!digit_or_sign && first != '.' && !strchr("yYnNtTfFoO~", first))
        return YAML_KIND_STRING;
    if (yaml_resolve_word(s, n, v))
        return v->kind;
    if (digit_or_sign)
        return yaml_resolve_number(s, n, v);
    if (first == '.' && n < 256 && yaml_float_syntax(s, n)) {
        char text[256];
        memcpy(text, s, n);
        text[n] = '\0';
        yaml_parse_float(text, v);
    }
    return v->kind;
}

/* go-yaml quotes these too though it reads them as strings: other YAML 1.1
 * readers take 1:20 for a base 60 number. */
static int yaml_is_base60(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t i = s[0] == '+' || s[0] == '-';
    if (i >= n || !yaml_is_digit(s[i]))
        return 0;
    while (i < n && (yaml_is_digit(s[i]) || s[i] == '_'))
        i++;
    int groups = 0;
    while (i < n && s[i] == ':') {
        size_t count = yaml_digits(s, ++i, n);
        if (count < 1 || count > 2 || (count == 2 && s[i] > '5'))
            return 0;
        i += count;
        groups++;
    }
    if (!groups)
        return 0;
    if (i < n && s[i] == '.')
        for (i++; i < n && (yaml_is_digit(s[i]) || s[i] == '_'); i++) {
        }
    return i == n;
}

/* ----------------------------------------------------------------- decoder */

/* libyaml's parser and its current event, deleted by __gc if a raise (an
 * out-of-memory error from Lua, say) skips the normal release. */
struct yaml_parser_box {
    yaml_parser_t parser;
    yaml_event_t event;
    int parser_ready, event_ready;
};

static void yaml_parser_box_release(struct yaml_parser_box *box)
{
    if (box->event_ready)
        yaml_event_delete(&box->event);
    if (box->parser_ready)
        yaml_parser_delete(&box->parser);
    box->event_ready = box->parser_ready = 0;
}

/* __gc and __close. [-(1|2), +0, -] */
static int yaml_parser_box_gc(lua_State *L)
{
    yaml_parser_box_release(lua_touserdata(L, 1));
    return 0;
}

/* Pushes a box in the released state, then readies its parser on text.
 * [-0, +1, m] */
static struct yaml_parser_box *yaml_parser_box_push(lua_State *L, const char *text, size_t length)
{
    struct yaml_parser_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->parser_ready = box->event_ready = 0;
    if (luaL_newmetatable(L, FERRY_YAML_PARSER_METATABLE)) {
        lua_pushcfunction(L, yaml_parser_box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, yaml_parser_box_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    if (!yaml_parser_initialize(&box->parser))
        luaL_error(L, "not enough memory");
    box->parser_ready = 1;
    yaml_parser_set_input_string(&box->parser, (const unsigned char *)text, length);
    return box;
}

struct yaml_decoder {
    lua_State *L;
    struct yaml_parser_box *box;
    const char *source; /* for messages; NULL when the caller named none */
    const char *text;
    size_t length;
    int depth;
    int anchors;            /* stack index: anchor name -> value (false while open) */
    long nodes, copies;     /* values spelled out and values built by aliases */
};

/* Raises "source:line:column: problem" (line/column 1-based) with the
 * fields source, line and column, after releasing libyaml. [-0, +0, v] */
static void yaml_fail_at(struct yaml_decoder *d, size_t line, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

static void yaml_fail_at(struct yaml_decoder *d, size_t line, size_t column, const char *fmt, ...)
{
    lua_State *L = d->L;
    char problem[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    yaml_parser_box_release(d->box);
    if (d->source)
        ferry_error_push(L, "yaml", "%s:%d:%d: %s", d->source, (int)line, (int)column, problem);
    else
        ferry_error_push(L, "yaml", "line %d, column %d: %s", (int)line, (int)column, problem);
    if (d->source)
        ferry_error_set_string(L, "source", d->source);
    ferry_error_set_integer(L, "line", (lua_Integer)line);
    ferry_error_set_integer(L, "column", (lua_Integer)column);
    lua_error(L);
    abort(); /* not reached: lua_error does not return */
}

#define yaml_fail_mark(d, mark, ...) yaml_fail_at((d), (mark).line + 1, (mark).column + 1, __VA_ARGS__)

/* libyaml's reader reports a byte offset only: count lines and characters
 * up to it. */
static void yaml_offset_position(struct yaml_decoder *d, size_t offset, size_t *line, size_t *column)
{
    *line = *column = 1;
    for (size_t i = 0; i < offset && i < d->length; i++) {
        if (d->text[i] == '\n') {
            ++*line;
            *column = 1;
        } else if (((unsigned char)d->text[i] & 0xC0) != 0x80) {
            ++*column;
        }
    }
}

/* The parser's own error, with its context when it has one. [-0, +0, v] */
static void yaml_fail_parser(struct yaml_decoder *d)
{
    yaml_parser_t *p = &d->box->parser;
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR)
        yaml_fail_at(d, 1, 1, "not enough memory");
    if (p->error == YAML_READER_ERROR) {
        size_t line, column;
        yaml_offset_position(d, p->problem_offset, &line, &column);
        if (p->problem_value != -1)
            yaml_fail_at(d, line, column, "%s (byte 0x%02X)", problem, (unsigned)p->problem_value);
        yaml_fail_at(d, line, column, "%s", problem);
    }
    yaml_mark_t mark = p->problem_mark, context_mark = p->context_mark;
    if (p->context)
        yaml_fail_mark(d, mark, "%s (%s at line %d, column %d)", problem, p->context,
                       (int)context_mark.line + 1, (int)context_mark.column + 1);
    yaml_fail_mark(d, mark, "%s", problem);
}

static yaml_event_t *yaml_event(struct yaml_decoder *d)
{
    return &d->box->event;
}

/* Replaces the current event with the next. [-0, +0, v] */
static void yaml_next_event(struct yaml_decoder *d)
{
    struct yaml_parser_box *box = d->box;
    if (box->event_ready)
        yaml_event_delete(&box->event);
    box->event_ready = 0;
    if (!yaml_parser_parse(&box->parser, &box->event))
        yaml_fail_parser(d);
    box->event_ready = 1;
}

static void yaml_decode_node(struct yaml_decoder *d);

/* Counts a nesting level and makes room on the Lua stack. [-0, +0, v] */
static void yaml_enter(struct yaml_decoder *d, yaml_mark_t mark)
{
    if (++d->depth > CODEC_DEPTH_MAX)
        yaml_fail_mark(d, mark, "nesting deeper than %d levels", CODEC_DEPTH_MAX);
    if (!lua_checkstack(d->L, 8))
        yaml_fail_mark(d, mark, "not enough memory for the Lua stack");
}

/* Pushes the node's anchor name (nil when none) and marks the anchor open,
 * so an alias inside its own node is caught. [-0, +1, m] */
static void yaml_anchor_open(struct yaml_decoder *d, const yaml_char_t *anchor)
{
    lua_State *L = d->L;
    if (!anchor) {
        lua_pushnil(L);
        return;
    }
    lua_pushstring(L, (const char *)anchor);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 0);
    lua_rawset(L, d->anchors);
}

/* Records the value on top under the anchor name at slot, then removes the
 * slot. [-0, +0, m] */
static void yaml_anchor_close(struct yaml_decoder *d, int slot)
{
    lua_State *L = d->L;
    if (!lua_isnil(L, slot)) {
        lua_pushvalue(L, slot);
        lua_pushvalue(L, -2);
        lua_rawset(L, d->anchors);
    }
    lua_remove(L, slot);
}

/* Pushes a new table marked with the metatable at mt. [-0, +1, m] */
static void yaml_table_push(lua_State *L, int mt)
{
    lua_newtable(L);
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
}

/* Replaces the table on top with a deep copy (marks kept): an alias must
 * not share tables with its anchor, or changing one would change both.
 * [-1, +1, v] */
static void yaml_copy(struct yaml_decoder *d, yaml_mark_t mark, int depth)
{
    lua_State *L = d->L;
    if (d->depth + depth > CODEC_DEPTH_MAX)
        yaml_fail_mark(d, mark, "nesting deeper than %d levels", CODEC_DEPTH_MAX);
    if (!lua_checkstack(L, 6))
        yaml_fail_mark(d, mark, "not enough memory for the Lua stack");
    int source = lua_gettop(L);
    lua_createtable(L, (int)lua_rawlen(L, source), 0);
    if (lua_getmetatable(L, source))
        lua_setmetatable(L, -2);
    int copy = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, source)) {
        if (++d->copies > YAML_ALIAS_BUDGET + 10 * d->nodes)
            yaml_fail_mark(d, mark, "document contains excessive aliasing");
        if (lua_type(L, -1) == LUA_TTABLE)
            yaml_copy(d, mark, depth + 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, copy);
    }
    lua_remove(L, source);
}

/* [-0, +1, v] */
static void yaml_decode_alias(struct yaml_decoder *d)
{
    lua_State *L = d->L;
    yaml_event_t *event = yaml_event(d);
    const char *name = (const char *)event->data.alias.anchor;
    int type = lua_getfield(L, d->anchors, name);
    if (type == LUA_TNIL)
        yaml_fail_mark(d, event->start_mark, "unknown anchor '%s'", name);
    if (type == LUA_TBOOLEAN)
        yaml_fail_mark(d, event->start_mark, "anchor '%s' is used inside its own node", name);
    if (++d->copies > YAML_ALIAS_BUDGET + 10 * d->nodes)
        yaml_fail_mark(d, event->start_mark, "document contains excessive aliasing");
    if (type == LUA_TTABLE)
        yaml_copy(d, event->start_mark, 1);
}

static int yaml_base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* !!binary: base64 with line breaks (as go-yaml writes long values),
 * padding required. [-0, +1, v] */
static void yaml_push_binary(struct yaml_decoder *d, const char *s, size_t n, yaml_mark_t mark)
{
    lua_State *L = d->L;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned long bits = 0;
    int count = 0, padding = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        int value = yaml_base64_value(c);
        if (c == '=' && count % 4 >= 2) {
            padding++;
            value = 0;
        } else if (value < 0 || padding) {
            yaml_fail_mark(d, mark, "invalid base64 in !!binary");
        }
        bits = (bits << 6) | (unsigned long)value;
        if (++count % 4 == 0) {
            char bytes[3] = {(char)(bits >> 16), (char)(bits >> 8), (char)bits};
            luaL_addlstring(&b, bytes, (size_t)(3 - padding));
            bits = 0;
        }
    }
    if (count % 4 != 0)
        yaml_fail_mark(d, mark, "invalid base64 in !!binary (length)");
    luaL_pushresult(&b);
}

/* [-0, +1, m] */
static void yaml_push_scalar(struct yaml_decoder *d, const struct yaml_scalar *v, const char *s, size_t n)
{
    lua_State *L = d->L;
    switch (v->kind) {
    case YAML_KIND_NULL: lua_pushvalue(L, YAML_NULL); break;
    case YAML_KIND_BOOL: lua_pushboolean(L, v->boolean); break;
    case YAML_KIND_INT: lua_pushinteger(L, v->integer); break;
    case YAML_KIND_FLOAT: lua_pushnumber(L, v->number); break;
    default: lua_pushlstring(L, s, n);
    }
}

/* A scalar with a core tag must be what the tag says (!!float accepts an
 * integer); other tags, local ones included, keep the text. [-0, +1, v] */
static void yaml_decode_tagged(struct yaml_decoder *d, const char *tag, const char *s, size_t n)
{
    yaml_mark_t mark = yaml_event(d)->start_mark;
    struct yaml_scalar v = {.kind = YAML_KIND_STRING};
    const char *name = strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 ? tag + strlen(TAG_PREFIX) : "";
    enum yaml_kind wanted;
    if (strcmp(name, "binary") == 0) {
        yaml_push_binary(d, s, n, mark);
        return;
    }
    if (strcmp(name, "int") == 0)
        wanted = YAML_KIND_INT;
    else if (strcmp(name, "float") == 0)
        wanted = YAML_KIND_FLOAT;
    else if (strcmp(name, "bool") == 0)
        wanted = YAML_KIND_BOOL;
    else if (strcmp(name, "null") == 0)
        wanted = YAML_KIND_NULL;
    else
        wanted = YAML_KIND_STRING;
    if (wanted != YAML_KIND_STRING) {
        yaml_resolve_plain(s, n, &v);
        if (wanted == YAML_KIND_FLOAT && v.kind == YAML_KIND_INT) {
            v.kind = YAML_KIND_FLOAT;
            v.number = (double)v.integer;
        }
        if (v.kind != wanted && !(wanted == YAML_KIND_INT && v.unsigned_range))
            yaml_fail_mark(d, mark, "cannot read \"%.*s\" as !!%s", n > 40 ? 40 : (int)n, s, name);
    } else {
        v.kind = YAML_KIND_STRING;
    }
    yaml_push_scalar(d, &v, s, n);
}

/* [-0, +1, v] */
static void yaml_decode_scalar(struct yaml_decoder *d)
{
    yaml_event_t *event = yaml_event(d);
    const char *s = (const char *)event->data.scalar.value;
    size_t n = event->data.scalar.length;
    const char *tag = (const char *)event->data.scalar.tag;
    yaml_anchor_open(d, event->data.scalar.anchor);
    int slot = lua_gettop(d->L);
    if (tag) {
        yaml_decode_tagged(d, tag, s, n);
    } else {
        struct yaml_scalar v = {.kind = YAML_KIND_STRING};
        if (event->data.scalar.plain_implicit)
            yaml_resolve_plain(s, n, &v);
        yaml_push_scalar(d, &v, s, n);
    }
    yaml_anchor_close(d, slot);
}

/* [-0, +1, v] */
static void yaml_decode_sequence(struct yaml_decoder *d)
{
    lua_State *L = d->L;
    yaml_event_t *event = yaml_event(d);
    yaml_enter(d, event->start_mark);
    yaml_anchor_open(d, event->data.sequence_start.anchor);
    int slot = lua_gettop(L);
    yaml_table_push(L, YAML_ARRAY_MT);
    yaml_next_event(d);
    for (lua_Integer i = 1; event->type != YAML_SEQUENCE_END_EVENT; i++) {
        yaml_decode_node(d);
        lua_rawseti(L, slot + 1, i);
        yaml_next_event(d);
    }
    yaml_anchor_close(d, slot);
    d->depth--;
}

/* Go's strconv.FormatFloat(v, 'g', -1, 32), the text sigs.k8s.io/yaml gives
 * a float mapping key. [-0, +1, m] */
static void yaml_float_key_push(lua_State *L, double v)
{
    /* a double beyond float range (1e39) becomes infinite as a float: the
     * digits below would then have no exponent to read */
    float f = (float)v;
    if (isnan(f) || isinf(f)) {
        lua_pushstring(L, isnan(f) ? ".nan" : f > 0 ? ".inf" : "-.inf");
        return;
    }
    char text[48];
    int digits = 1;
    for (; digits < 9; digits++) {
        snprintf(text, sizeof text, "%.*e", digits - 1, (double)f);
        if ((float)strtod(text, NULL) == f)
            break;
    }
    snprintf(text, sizeof text, "%.*e", digits - 1, (double)f);
    int exponent = atoi(strchr(text, 'e') + 1);
    if (exponent >= -4 && exponent < 6) {
        int decimals = digits - 1 - exponent;
        snprintf(text, sizeof text, "%.*f", decimals > 0 ? decimals : 0, (double)f);
    }
    codec_decimal_point_fix(text);
    lua_pushstring(L, text);
}

/* Replaces the key on top with the string kubectl makes of it: mapping
 * keys are always strings, as in JSON. [-1, +1, v] */
static void yaml_key_to_string(struct yaml_decoder *d, yaml_mark_t mark)
{
    lua_State *L = d->L;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        return;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1))
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
        else
            yaml_float_key_push(L, lua_tonumber(L, -1));
        break;
    case LUA_TTABLE:
        yaml_fail_mark(d, mark, "a mapping key must be a scalar, not a %s",
                       ferry_table_marked(L, -1) == FERRY_TABLE_ARRAY ? "sequence" : "mapping");
    default:
        yaml_fail_mark(d, mark, "a mapping key cannot be null");
    }
    lua_remove(L, -2);
}

/* Copies into the mapping at target the entries of source that target
 * lacks: keys written in the mapping win over merged ones, wherever the
 * `<<` stands. [-0, +0, m] */
static void yaml_merge_mapping(lua_State *L, int target, int source)
{
    lua_pushnil(L);
    while (lua_next(L, source)) {
        lua_pushvalue(L, -2);
        if (lua_rawget(L, target) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, target);
        } else {
            lua_pop(L, 2);
        }
    }
}

/* `<<: value`, value on top being a mapping or a sequence of mappings
 * (earlier ones win); pops it. [-1, +0, v] */
static void yaml_merge(struct yaml_decoder *d, int target, yaml_mark_t mark)
{
    lua_State *L = d->L;
    int source = lua_gettop(L);
    enum ferry_table_kind kind = lua_istable(L, source) ? ferry_table_marked(L, source) : FERRY_TABLE_UNMARKED;
    if (kind == FERRY_TABLE_OBJECT) {
        yaml_merge_mapping(L, target, source);
    } else if (kind == FERRY_TABLE_ARRAY) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, source);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, source, i);
            if (!lua_istable(L, -1) || ferry_table_marked(L, -1) != FERRY_TABLE_OBJECT)
                yaml_fail_mark(d, mark, "a merge key (<<) needs a mapping or a sequence of mappings");
            yaml_merge_mapping(L, target, lua_gettop(L));
            lua_pop(L, 1);
        }
    } else {
        yaml_fail_mark(d, mark, "a merge key (<<) needs a mapping or a sequence of mappings");
    }
    lua_pop(L, 1);
}

static int yaml_is_merge_key(const yaml_event_t *event)
{
    if (event->type != YAML_SCALAR_EVENT || event->data.scalar.length != 2 ||
        memcmp(event->data.scalar.value, "<<", 2) != 0)
        return 0;
    const char *tag = (const char *)event->data.scalar.tag;
    return tag ? strcmp(tag, TAG_PREFIX "merge") == 0 : event->data.scalar.plain_implicit;
}

/* One key and its value into the mapping at table. [-0, +0, v] */
static void yaml_decode_entry(struct yaml_decoder *d, int table)
{
    lua_State *L = d->L;
    yaml_event_t *event = yaml_event(d);
    yaml_mark_t mark = event->start_mark;
    if (yaml_is_merge_key(event)) {
        yaml_next_event(d);
        yaml_decode_node(d);
        yaml_merge(d, table, mark);
        return;
    }
    yaml_decode_node(d);
    yaml_key_to_string(d, mark);
    yaml_next_event(d);
    yaml_decode_node(d);
    lua_rawset(L, table);
}

/* A repeated key keeps its last value, as in kubectl. [-0, +1, v] */
static void yaml_decode_mapping(struct yaml_decoder *d)
{
    lua_State *L = d->L;
    yaml_event_t *event = yaml_event(d);
    yaml_enter(d, event->start_mark);
    yaml_anchor_open(d, event->data.mapping_start.anchor);
    int slot = lua_gettop(L);
    yaml_table_push(L, YAML_OBJECT_MT);
    yaml_next_event(d);
    while (event->type != YAML_MAPPING_END_EVENT) {
        yaml_decode_entry(d, slot + 1);
        yaml_next_event(d);
    }
    yaml_anchor_close(d, slot);
    d->depth--;
}

/* [-0, +1, v] */
static void yaml_decode_node(struct yaml_decoder *d)
{
    yaml_event_t *event = yaml_event(d);
    d->nodes++;
    switch (event->type) {
    case YAML_ALIAS_EVENT: yaml_decode_alias(d); break;
    case YAML_SCALAR_EVENT: yaml_decode_scalar(d); break;
    case YAML_SEQUENCE_START_EVENT: yaml_decode_sequence(d); break;
    case YAML_MAPPING_START_EVENT: yaml_decode_mapping(d); break;
    default: yaml_fail_mark(d, event->start_mark, "unexpected parser event %d", (int)event->type);
    }
}

/* Reads the next document onto the stack; returns 0 at the end of the
 * stream, pushing nothing. Anchors do not cross documents. [-0, +(0|1), v] */
static int yaml_decode_document(struct yaml_decoder *d)
{
    lua_State *L = d->L;
    yaml_next_event(d);
    if (yaml_event(d)->type == YAML_STREAM_END_EVENT)
        return 0;
    lua_newtable(L);
    lua_replace(L, d->anchors);
    yaml_next_event(d);
    yaml_decode_node(d);
    yaml_next_event(d);
    return 1;
}

/* Pushes options.source (nil when absent) so it stays alive; returns it.
 * [-0, +1, e] */
static const char *yaml_source_push(lua_State *L, int options)
{
    if (lua_isnoneornil(L, options)) {
        lua_pushnil(L);
        return NULL;
    }
    luaL_checktype(L, options, LUA_TTABLE);
    int type = lua_getfield(L, options, "source");
    luaL_argcheck(L, type == LUA_TNIL || type == LUA_TSTRING, options, "source must be a string");
    return lua_tostring(L, -1);
}

/* Documents that are empty or null are skipped, as kubectl skips them;
 * all: every other document in an array, else the first one (or nil).
 * [-(1|2), +1, e] */
static int yaml_decode_stream(lua_State *L, int all)
{
    size_t length;
    const char *text = luaL_checklstring(L, 1, &length);
    lua_settop(L, 2);
    const char *source = yaml_source_push(L, 2);
    lua_pushnil(L); /* anchors, slot 4 */
    struct yaml_decoder d = {L, NULL, source, text, length, 0, 4, 0, 0};
    d.box = yaml_parser_box_push(L, text, length);
    if (all)
        yaml_table_push(L, YAML_ARRAY_MT);
    int result = lua_gettop(L);
    yaml_next_event(&d); /* STREAM-START */
    for (lua_Integer n = 1; yaml_decode_document(&d); lua_pop(L, 1)) {
        if (lua_rawequal(L, -1, YAML_NULL))
            continue;
        if (!all)
            break;
        lua_pushvalue(L, -1);
        lua_rawseti(L, result, n++);
    }
    yaml_parser_box_release(d.box);
    if (!all && lua_gettop(L) == result)
        lua_pushnil(L);
    return 1;
}

/* yaml.decode(text [, {source=}]) -> first document or nil. [-(1|2), +1, e] */
static int yaml_decode(lua_State *L)
{
    return yaml_decode_stream(L, 0);
}

/* yaml.safe_decode(text [, {source=}]) -> first document or nil | nil, err:
 * yaml.decode for callers that test rather than catch, as json.safe_decode.
 * [-(1|2), +(1|2), e] */
static int yaml_safe_decode(lua_State *L)
{
    return codec_safe_decode(L, yaml_decode, 2, "yaml");
}

/* yaml.decode_all(text [, {source=}]) -> array of documents. [-(1|2), +1, e] */
static int yaml_decode_all(lua_State *L)
{
    return yaml_decode_stream(L, 1);
}

/* ----------------------------------------------------------------- encoder */

/* libyaml's emitter and the text it writes, freed by __gc if a raise skips
 * the normal release. */
struct yaml_emitter_box {
    yaml_emitter_t emitter;
    int emitter_ready;
    struct buffer out;
};

static void yaml_emitter_box_release(struct yaml_emitter_box *box)
{
    if (box->emitter_ready)
        yaml_emitter_delete(&box->emitter);
    box->emitter_ready = 0;
    buffer_free(&box->out);
}

/* __gc and __close. [-(1|2), +0, -] */
static int yaml_emitter_box_gc(lua_State *L)
{
    yaml_emitter_box_release(lua_touserdata(L, 1));
    return 0;
}

/* Runs inside libyaml: records, never raises. */
static int yaml_write_handler(void *data, unsigned char *bytes, size_t size)
{
    struct yaml_emitter_box *box = data;
    return buffer_append(&box->out, (const char *)bytes, size) == 0;
}

/* Pushes a box with an emitter set to kubectl's layout: 2-space indent,
 * UTF-8 as is, long plain and quoted strings folded past width columns
 * (-1: never). [-0, +1, m] */
static struct yaml_emitter_box *yaml_emitter_box_push(lua_State *L, int width)
{
    struct yaml_emitter_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->emitter_ready = 0;
    box->out = (struct buffer){0};
    if (luaL_newmetatable(L, FERRY_YAML_EMITTER_METATABLE)) {
        lua_pushcfunction(L, yaml_emitter_box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, yaml_emitter_box_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    if (!yaml_emitter_initialize(&box->emitter))
        luaL_error(L, "not enough memory");
    box->emitter_ready = 1;
    yaml_emitter_set_output(&box->emitter, yaml_write_handler, box);
    yaml_emitter_set_unicode(&box->emitter, 1);
    yaml_emitter_set_indent(&box->emitter, 2);
    yaml_emitter_set_width(&box->emitter, width);
    yaml_emitter_set_break(&box->emitter, YAML_LN_BREAK);
    return box;
}

struct yaml_encoder {
    lua_State *L;
    struct yaml_emitter_box *box;
    int depth;
    struct codec_path_step path[CODEC_DEPTH_MAX + 1];
};

/* Raises "problem at $.path" (err.path set) after releasing the emitter.
 * As in json.c, naming a key may run its __tostring and reading a table's
 * mark reads its metatable, so the encoder may raise what they raise (e).
 * [-0, +0, e] */
static void yaml_encode_fail(struct yaml_encoder *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void yaml_encode_fail(struct yaml_encoder *e, const char *fmt, ...)
{
    lua_State *L = e->L;
    char problem[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    yaml_emitter_box_release(e->box);
    codec_path_push(L, e->path, e->depth);
    const char *path = lua_tostring(L, -1);
    ferry_error_push(L, "yaml", "%s at %s", problem, path);
    ferry_error_set_string(L, "path", path);
    lua_error(L);
    abort(); /* not reached: lua_error does not return */
}

/* Hands an event to the emitter, which owns it from then on whether it
 * succeeds or not. [-0, +0, e] */
static void yaml_emit(struct yaml_encoder *e, yaml_event_t *event, int initialized)
{
    if (!initialized)
        yaml_encode_fail(e, "cannot build a YAML event (out of memory?)");
    if (!yaml_emitter_emit(&e->box->emitter, event))
        yaml_encode_fail(e, "%s", e->box->emitter.problem ? e->box->emitter.problem : "cannot write YAML");
}

/* [-0, +0, e] */
static void yaml_emit_scalar(struct yaml_encoder *e, const char *tag, const char *s, size_t n,
                             yaml_scalar_style_t style)
{
    if (n > INT_MAX)
        yaml_encode_fail(e, "string too long for YAML");
    yaml_event_t event;
    int implicit = tag == NULL;
    int ok = yaml_scalar_event_initialize(&event, NULL, (const yaml_char_t *)tag, (const yaml_char_t *)s,
                                          (int)n, implicit, implicit, style);
    yaml_emit(e, &event, ok);
}

static int yaml_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t length = codec_utf8_length((const unsigned char *)s + i, n - i);
        if (!length)
            return 0;
        i += length;
    }
    return 1;
}

/* Bytes that are not UTF-8 go out as !!binary, in lines of 70 like
 * go-yaml, so they come back exactly. [-0, +0, e] */
static void yaml_encode_binary(struct yaml_encoder *e, const char *s, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    lua_State *L = e->L;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t written = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long bits = (unsigned long)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            bits |= (unsigned long)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            bits |= (unsigned char)s[i + 2];
        char quad[4] = {alphabet[bits >> 18], alphabet[(bits >> 12) & 63],
                        i + 1 < n ? alphabet[(bits >> 6) & 63] : '=', i + 2 < n ? alphabet[bits & 63] : '='};
        for (int k = 0; k < 4; k++) {
            luaL_addchar(&b, quad[k]);
            if (++written % 70 == 0 && n > 52)
                luaL_addchar(&b, '\n');
        }
    }
    luaL_pushresult(&b);
    size_t length;
    const char *text = lua_tolstring(L, -1, &length);
    yaml_emit_scalar(e, TAG_PREFIX "binary", text, length,
                     n > 52 ? YAML_LITERAL_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
    lua_pop(L, 1);
}

/* A string goes out plain when it would read back as the same string,
 * double-quoted when plain it would read as something else ("yes", "0755",
 * "", "1e3"), as a literal block when it has several lines. libyaml itself
 * falls back to quotes where plain is not allowed (": ", "#", edges).
 * [-0, +0, e] */
static void yaml_encode_string(struct yaml_encoder *e, const char *s, size_t n)
{
    if (!yaml_utf8_valid(s, n)) {
        yaml_encode_binary(e, s, n);
        return;
    }
    struct yaml_scalar v = {.kind = YAML_KIND_STRING};
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (memchr(s, '\n', n))
        style = YAML_LITERAL_SCALAR_STYLE;
    else if (yaml_resolve_plain(s, n, &v) != YAML_KIND_STRING || yaml_is_base60(s, n) ||
             (n == 2 && memcmp(s, "<<", 2) == 0))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    yaml_emit_scalar(e, NULL, s, n, style);
}

/* [-0, +0, e] */
static void yaml_encode_number(struct yaml_encoder *e, int idx)
{
    char text[40];
    int n;
    if (lua_isinteger(e->L, idx)) {
        n = codec_format_integer(text, lua_tointeger(e->L, idx));
    } else {
        double v = lua_tonumber(e->L, idx);
        if (isnan(v))
            n = snprintf(text, sizeof text, ".nan");
        else if (isinf(v))
            n = snprintf(text, sizeof text, v > 0 ? ".inf" : "-.inf");
        else
            n = codec_format_float(text, sizeof text, v);
    }
    yaml_emit_scalar(e, NULL, text, (size_t)n, YAML_PLAIN_SCALAR_STYLE);
}

static void yaml_encode_value(struct yaml_encoder *e, int idx);

static int yaml_is_letter(unsigned char c)
{
    unsigned char lower = (unsigned char)(c | 0x20);
    return (lower >= 'a' && lower <= 'z') || c >= 0x80;
}

/* go-yaml v2's key order, which kubectl's output follows: letters after
 * other characters, digit runs compared as numbers ("a2" < "a10"). */
static int yaml_key_less(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    for (size_t i = 0; i < an && i < bn; i++) {
        if (a[i] == b[i])
            continue;
        int al = yaml_is_letter(a[i]), bl = yaml_is_letter(b[i]);
        if (al && bl)
            return a[i] < b[i];
        if (al || bl)
            return bl;
        uint64_t anum = 0, bnum = 0;
        if (a[i] == '0' || b[i] == '0') {
            for (size_t j = i; j-- > 0 && yaml_is_digit((char)a[j]);) {
                if (a[j] != '0') {
                    anum = bnum = 1;
                    break;
                }
            }
        }
        size_t ai = i, bi = i;
        for (; ai < an && yaml_is_digit((char)a[ai]); ai++)
            anum = anum * 10 + (uint64_t)(a[ai] - '0');
        for (; bi < bn && yaml_is_digit((char)b[bi]); bi++)
            bnum = bnum * 10 + (uint64_t)(b[bi] - '0');
        if (anum != bnum)
            return (int64_t)anum < (int64_t)bnum;
        if (ai != bi)
            return ai < bi;
        return a[i] < b[i];
    }
    return an < bn;
}

static int yaml_key_compare(const void *x, const void *y)
{
    const struct codec_key *a = x, *b = y;
    if (!a->text || !b->text)
        return (a->text != NULL) - (b->text != NULL);
    const unsigned char *as = (const unsigned char *)a->text, *bs = (const unsigned char *)b->text;
    if (yaml_key_less(as, a->length, bs, b->length))
        return -1;
    return yaml_key_less(bs, b->length, as, a->length);
}

/* [-0, +0, e] */
static void yaml_encode_mapping(struct yaml_encoder *e, int idx)
{
    lua_State *L = e->L;
    struct codec_path_step *step = &e->path[e->depth - 1];
    yaml_event_t event;
    yaml_emit(e, &event, yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
    int count = codec_sorted_keys_push(L, idx, yaml_key_compare);
    int keys = lua_gettop(L) - 1;
    const struct codec_key *entries = lua_touserdata(L, -1);
    for (int i = 0; i < count; i++) {
        lua_rawgeti(L, keys, entries[i].position);
        step->key = lua_gettop(L);
        if (!entries[i].text)
            yaml_encode_fail(e, "cannot encode a %s key", luaL_typename(L, -1));
        yaml_encode_string(e, entries[i].text, entries[i].length);
        lua_pushvalue(L, -1);
        lua_rawget(L, idx);
        yaml_encode_value(e, lua_gettop(L));
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    yaml_emit(e, &event, yaml_mapping_end_event_initialize(&event));
}

/* [-0, +0, e] */
static void yaml_encode_sequence(struct yaml_encoder *e, int idx, lua_Integer n)
{
    lua_State *L = e->L;
    struct codec_path_step *step = &e->path[e->depth - 1];
    yaml_event_t event;
    yaml_emit(e, &event, yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
    for (lua_Integer i = 1; i <= n; i++) {
        step->key = 0;
        step->position = i;
        lua_rawgeti(L, idx, i);
        yaml_encode_value(e, lua_gettop(L));
        lua_pop(L, 1);
    }
    yaml_emit(e, &event, yaml_sequence_end_event_initialize(&event));
}

/* [-0, +0, e] */
static void yaml_encode_table(struct yaml_encoder *e, int idx)
{
    if (e->depth >= CODEC_DEPTH_MAX) {
        e->path[e->depth].table = idx;
        int cycle = codec_cycle_length(e->L, e->path, e->depth + 1);
        if (cycle) {
            e->depth = cycle;
            yaml_encode_fail(e, "reference cycle: a table contains itself");
        }
        yaml_encode_fail(e, "nesting deeper than %d levels", CODEC_DEPTH_MAX);
    }
    if (!lua_checkstack(e->L, 8))
        yaml_encode_fail(e, "not enough memory for the Lua stack");
    e->path[e->depth] = (struct codec_path_step){idx, 0, 0};
    e->depth++;
    lua_Integer n;
    if (ferry_table_kind(e->L, idx, &n) == FERRY_TABLE_ARRAY)
        yaml_encode_sequence(e, idx, n);
    else
        yaml_encode_mapping(e, idx);
    e->depth--;
}

/* [-0, +0, e] */
static void yaml_encode_value(struct yaml_encoder *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        yaml_emit_scalar(e, NULL, "null", 4, YAML_PLAIN_SCALAR_STYLE);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            yaml_emit_scalar(e, NULL, "true", 4, YAML_PLAIN_SCALAR_STYLE);
        else
            yaml_emit_scalar(e, NULL, "false", 5, YAML_PLAIN_SCALAR_STYLE);
        break;
    case LUA_TNUMBER:
        yaml_encode_number(e, idx);
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        yaml_encode_string(e, s, n);
        break;
    }
    case LUA_TTABLE:
        yaml_encode_table(e, idx);
        break;
    default:
        if (!lua_rawequal(L, idx, YAML_NULL))
            yaml_encode_fail(e, "cannot encode a %s", luaL_typename(L, idx));
        yaml_emit_scalar(e, NULL, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    }
}

/* One document; the first has no "---" line. [-0, +0, e] */
static void yaml_encode_document(struct yaml_encoder *e, int idx, int first)
{
    yaml_event_t event;
    yaml_emit(e, &event, yaml_document_start_event_initialize(&event, NULL, NULL, NULL, first));
    yaml_encode_value(e, idx);
    yaml_emit(e, &event, yaml_document_end_event_initialize(&event, 1));
}

/* Encodes the documents at stack indexes first..last. [-0, +1, e] */
static int yaml_encode_documents(lua_State *L, int first, int last, int width)
{
    struct yaml_encoder e = {.L = L};
    e.box = yaml_emitter_box_push(L, width);
    yaml_event_t event;
    yaml_emit(&e, &event, yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING));
    for (int i = first; i <= last; i++)
        yaml_encode_document(&e, i, i == first);
    yaml_emit(&e, &event, yaml_stream_end_event_initialize(&event));
    struct buffer *out = &e.box->out;
    /* libyaml closes a last "|+" block with "..."; the end of the text
     * closes it as well, and go-yaml writes none. */
    if (out->length >= 5 && memcmp(out->data + out->length - 5, "\n...\n", 5) == 0)
        out->length -= 4;
    lua_pushlstring(L, out->data ? out->data : "", out->length);
    yaml_emitter_box_release(e.box);
    return 1;
}

/* Reads {width=} at index options: kubectl's 80 unless told. [-0, +0, e] */
static int yaml_width_option(lua_State *L, int options)
{
    if (lua_isnoneornil(L, options))
        return 80;
    luaL_checktype(L, options, LUA_TTABLE);
    lua_getfield(L, options, "width");
    int isnum;
    lua_Integer width = lua_tointegerx(L, -1, &isnum);
    luaL_argcheck(L, lua_isnil(L, -1) || (isnum && width >= -1 && width <= INT_MAX), options,
                  "width must be an integer, -1 for no folding");
    lua_pop(L, 1);
    return isnum ? (int)width : 80;
}

/* yaml.encode(value [, {width=}]) -> text. [-(1|2), +1, e] */
static int yaml_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int width = yaml_width_option(L, 2);
    lua_settop(L, 1);
    return yaml_encode_documents(L, 1, 1, width);
}

/* yaml.encode_all(list [, {width=}]) -> text with the documents separated
 * by "---". [-(1|2), +1, e] */
static int yaml_encode_all(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int width = yaml_width_option(L, 2);
    lua_settop(L, 1);
    int n = (int)luaL_len(L, 1);
    if (n == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    luaL_checkstack(L, n + 8, "too many documents");
    for (int i = 1; i <= n; i++)
        lua_rawgeti(L, 1, i);
    return yaml_encode_documents(L, 2, n + 1, width);
}

static const luaL_Reg yaml_functions[] = {
    {"decode", yaml_decode},
    {"safe_decode", yaml_safe_decode},
    {"decode_all", yaml_decode_all},
    {"encode", yaml_encode},
    {"encode_all", yaml_encode_all},
    {"array", codec_array},
    {"object", codec_object},
    {"null", NULL},
    {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_ferry_yaml(lua_State *L)
{
    return codec_open(L, yaml_functions);
}
