/* Reading a Lua table of options from C: one error message shape for every
 * module ("<module> option 'name' must be a string, got number"). */
#ifndef FERRY_OPTIONS_H
#define FERRY_OPTIONS_H

#include <lua.h>

/* options[name] as a string, or NULL when absent; the string stays alive in
 * the options table. [-0, +0, e] */
const char *ferry_opt_string(lua_State *L, int options, const char *module, const char *name);

/* options[name] as a number, or fallback when absent. [-0, +0, e] */
double ferry_opt_number(lua_State *L, int options, const char *module, const char *name, double fallback);

/* options[name] as a boolean (Lua truthiness). [-0, +0, e] */
int ferry_opt_boolean(lua_State *L, int options, const char *name);

#endif
