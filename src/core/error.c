#include "core/error.h"
#include "core/names.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>

/* The text of the error at idx, by errors.format, pushed on the stack.
 * [-0, +1, e] */
const char *ferry_error_format(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.errors");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "format");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_remove(L, -2);
    return lua_tostring(L, -1);
}

/* __tostring: the text of an error is made in one place, errors.format
 * (lua/ferry/errors.lua), for errors raised in C as for those raised in Lua.
 * [-0, +1, e] */
static int error_tostring(lua_State *L)
{
    lua_settop(L, 1);
    ferry_error_format(L, 1);
    return 1;
}

void ferry_error_init(lua_State *L)
{
    if (luaL_newmetatable(L, FERRY_ERROR_METATABLE)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

/* [-0, +1, m] */
static void error_vpush(lua_State *L, const char *kind, const char *fmt, va_list ap)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushvfstring(L, fmt, ap);
    lua_setfield(L, -2, "message");
    ferry_error_init(L);
    luaL_setmetatable(L, FERRY_ERROR_METATABLE);
}

void ferry_error_push(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vpush(L, kind, fmt, ap);
    va_end(ap);
}

int ferry_error_raise(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vpush(L, kind, fmt, ap);
    va_end(ap);
    lua_error(L);
    /* lua_error does not return */
    for (;;) {}
}

void ferry_error_set_string(lua_State *L, const char *field, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

void ferry_error_set_integer(lua_State *L, const char *field, lua_Integer value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, field);
}
