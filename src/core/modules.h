/* The C modules built into ferry. Each exports only its luaopen function,
 * which pushes the module's table: [-0, +1, m]; luaopen_ferry_git also
 * raises when libgit2 cannot start: [-0, +1, v]. */
#ifndef FERRY_MODULES_H
#define FERRY_MODULES_H

#include <lua.h>

int luaopen_ferry_json(lua_State *L);  /* require "json" */
int luaopen_ferry_yaml(lua_State *L);  /* require "yaml" */
int luaopen_ferry_base64(lua_State *L); /* require "base64" */
int luaopen_ferry_loop(lua_State *L);  /* require "ferry.loop": timers, resume, run_once */
int luaopen_ferry_sys(lua_State *L);   /* require "ferry.sys": files, clocks, terminals */
int luaopen_ferry_http(lua_State *L);  /* require "ferry.http": libcurl transfers */
int luaopen_ferry_exec(lua_State *L);  /* require "ferry.exec": child processes */
int luaopen_ferry_git(lua_State *L);  /* require "ferry.git" */
int luaopen_ferry_edit(lua_State *L);  /* require "ferry.edit": line editing (libedit) */

#endif
