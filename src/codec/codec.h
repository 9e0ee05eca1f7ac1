/* The helpers both data codecs (json.c, yaml.c) share: opening the module,
 * marking tables, UTF-8 checks, number formatting, error paths and sorted
 * keys. */
#ifndef FERRY_CODEC_H
#define FERRY_CODEC_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

/* Deeper documents are refused on decode and encode; it also bounds the C
 * recursion of both codecs and turns a reference cycle into an error. */
#define CODEC_DEPTH_MAX 1000

/* Opens a codec module: its functions get the upvalues null, the array
 * metatable and the object metatable (in that order), and the module's
 * `null` field is the shared sentinel. [-0, +1, m] */
int codec_open(lua_State *L, const luaL_Reg *functions);

/* json.array([t]) / yaml.object([t]) ...: marks t (or a new table) with the
 * metatable at index mt, so it keeps its kind when empty. [-0, +1, v] */
int codec_mark(lua_State *L, int mt);

/* json.array([t]) / yaml.array([t]) and .object([t]): codec_mark with the
 * module's own metatables (upvalues 2 and 3 of codec_open). [-(0|1), +1, v] */
int codec_array(lua_State *L);
int codec_object(lua_State *L);

/* json.safe_decode / yaml.safe_decode: decode (a function of the module,
 * given its upvalues) on the first nargs arguments under a protected call:
 * its result, or nil and the error when that is a decode error of kind
 * `kind`; any other error (memory, a bad argument) raises again.
 * [-nargs, +(1|2), e] */
int codec_safe_decode(lua_State *L, lua_CFunction decode, int nargs, const char *kind);

/* Length (1..4) of the well-formed UTF-8 sequence at s, 0 when it is not
 * (overlong forms, surrogates and code points past U+10FFFF included). */
size_t codec_utf8_length(const unsigned char *s, size_t available);

/* snprintf and strtod follow LC_NUMERIC, which an embedding program may
 * have set; the codecs always speak with a '.'. */
void codec_decimal_point_fix(char *text);

/* Writes the shortest of %.15g/%.16g/%.17g that reads back as exactly v
 * (finite), with ".0" added to integral values so they decode as floats
 * again. Returns the length; size must be at least 32. */
int codec_format_float(char *out, size_t size, double v);

/* Writes v in decimal; returns the length (out holds at least 21 bytes). */
int codec_format_integer(char *out, lua_Integer v);

/* One step of the path from the encoded value's root to the value being
 * encoded: the table's stack index and either the key's stack index or,
 * for arrays, the 1-based position. */
struct codec_path_step {
    int table;
    int key;
    lua_Integer position;
};

/* Pushes the path as a Lua expression on the root, e.g.
 * $.spec.containers[1]["app.kubernetes.io/name"], so an error names the
 * exact value. A key that is neither a string nor a number is named by
 * luaL_tolstring, which runs its __tostring. [-0, +1, e] */
void codec_path_push(lua_State *L, const struct codec_path_step *steps, int count);

/* When the depth cap is hit, tells a reference cycle (a table that is its
 * own ancestor) from a merely deep value: returns the number of steps up to
 * the second visit of the first repeated table, or 0 when there is none.
 * [-0, +0, -] */
int codec_cycle_length(lua_State *L, const struct codec_path_step *steps, int count);

/* A key of a table being encoded with sorted keys: its text, and the
 * position in the keys table of the original key (text NULL for a key of a
 * type no document can hold). */
struct codec_key {
    const char *text;
    size_t length;
    int position;
};

/* Text of the number key at idx as both codecs write it. [-0, +1, m] */
void codec_number_key_push(lua_State *L, int idx);

/* Pushes a table {key1, text1, key2, text2, ...} of the keys of the table at
 * idx and a userdata array of struct codec_key sorted with compare (keys of
 * other types than string and number first, text NULL); returns the count.
 * Both stay on the stack so the texts stay alive. [-0, +2, m] */
int codec_sorted_keys_push(lua_State *L, int idx, int (*compare)(const void *, const void *));

#endif
