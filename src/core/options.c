#include "core/options.h"

#include <lauxlib.h>

const char *ferry_opt_string(lua_State *L, int options, const char *module, const char *name)
{
    lua_getfield(L, options, name);
    const char *value = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s option '%s' must be a string, got %s", module, name, luaL_typename(L, -1));
        value = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return value;
}

double ferry_opt_number(lua_State *L, int options, const char *module, const char *name, double fallback)
{
    lua_getfield(L, options, name);
    double value = fallback;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "%s option '%s' must be a number, got %s", module, name, luaL_typename(L, -1));
        value = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return value;
}

int ferry_opt_boolean(lua_State *L, int options, const char *name)
{
    lua_getfield(L, options, name);
    int value = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}
