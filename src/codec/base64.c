/* require "base64": standard base64 (RFC 4648), as kubeconfig *-data
 * fields and Secret data use it. */
#include <lauxlib.h>
#include <string.h>

#include "core/error.h"
#include "core/modules.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64.encode(s) -> text. [-1, +1, v] */
static int base64_encode(lua_State *L)
{
    size_t length;
    const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 1, &length);
    luaL_Buffer out;
    char *p = luaL_buffinitsize(L, &out, (length + 2) / 3 * 4);
    size_t n = 0;
    for (size_t i = 0; i < length; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < length)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < length)
            v |= in[i + 2];
        p[n++] = alphabet[(v >> 18) & 63];
        p[n++] = alphabet[(v >> 12) & 63];
        p[n++] = i + 1 < length ? alphabet[(v >> 6) & 63] : '=';
        p[n++] = i + 2 < length ? alphabet[v & 63] : '=';
    }
    luaL_pushresultsize(&out, n);
    return 1;
}

static int decode_value(unsigned char c)
{
    const char *at = c ? strchr(alphabet, c) : NULL;
    if (at)
        return (int)(at - alphabet);
    if (c == '-')
        return 62; /* URL-safe alphabet too */
    if (c == '_')
        return 63;
    return -1;
}

/* base64.decode(text) -> bytes; whitespace is ignored, anything else
 * outside the alphabet is an error naming its position. [-1, +1, v] */
static int base64_decode(lua_State *L)
{
    size_t length;
    const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 1, &length);
    luaL_Buffer out;
    char *p = luaL_buffinitsize(L, &out, length / 4 * 3 + 3);
    size_t n = 0;
    unsigned accumulator = 0;
    int bits = 0, padding = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            padding++;
            continue;
        }
        int v = decode_value(c);
        if (v < 0 || padding)
            return ferry_error_raise(L, "base64", "invalid base64 at byte %d", (int)i + 1);
        accumulator = (accumulator << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[n++] = (char)((accumulator >> bits) & 0xFF);
        }
    }
    luaL_pushresultsize(&out, n);
    return 1;
}

static const luaL_Reg base64_functions[] = {
    {"encode", base64_encode},
    {"decode", base64_decode},
    {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_ferry_base64(lua_State *L)
{
    luaL_newlib(L, base64_functions);
    return 1;
}
