/* Every name ferry gives a value in a Lua state's registry, in one place
 * (as luv and lua-cjson keep theirs), so no two files can pick the same one
 * and each name is spelled once.
 *
 * Metatables are created with luaL_newmetatable(L, name), which also makes
 * the name a value's __name (what tostring and error messages show). Some
 * names are reached from Lua too: lua/ferry/errors.lua takes the error
 * metatable from debug.getregistry()[FERRY_ERROR_METATABLE]. */
#ifndef FERRY_NAMES_H
#define FERRY_NAMES_H

/* ---- metatables, by the file that creates them ----------------------- */

/* core/error.c: error tables */
#define FERRY_ERROR_METATABLE "ferry.error"
/* core/value.c: tables marked as arrays and as objects */
#define FERRY_ARRAY_METATABLE "ferry.array"
#define FERRY_OBJECT_METATABLE "ferry.object"
/* core/task.c: loop.timer ops */
#define FERRY_TIMER_METATABLE "ferry.timer"
/* codec/json.c: the encoder's output buffer */
#define FERRY_JSON_BUFFER_METATABLE "ferry.json.buffer"
/* codec/yaml.c: a libyaml parser and emitter */
#define FERRY_YAML_PARSER_METATABLE "ferry.yaml.parser"
#define FERRY_YAML_EMITTER_METATABLE "ferry.yaml.emitter"
/* net/http.c: a transfer op */
#define FERRY_HTTP_REQUEST_METATABLE "ferry.http.request"
/* mod/exec.c: a child process op */
#define FERRY_EXEC_PROCESS_METATABLE "ferry.exec.process"
/* mod/sys.c: a directory being listed, a file lock held */
#define FERRY_SYS_DIR_METATABLE "ferry.dir"
#define FERRY_SYS_LOCK_METATABLE "ferry.sys.lock"
/* mod/edit.c: a libedit line editor */
#define FERRY_EDITOR_METATABLE "ferry.editor"
/* mod/git*.c: an open repository, a network op, a guard freeing libgit2 objects */
#define FERRY_GIT_REPOSITORY_METATABLE "ferry.git.repository"
#define FERRY_GIT_OP_METATABLE "ferry.git.op"
#define FERRY_GIT_GUARD_METATABLE "ferry.git.guard"

/* ---- registry keys ---------------------------------------------------- */

/* core/value.c: the null sentinel */
#define FERRY_NULL_KEY "ferry.null"
/* core/loop.c: the loop's userdata, and the weak table op address -> op userdata */
#define FERRY_LOOP_KEY "ferry.loop.state"
#define FERRY_LOOP_OPS_KEY "ferry.loop.ops"
/* core/runtime.c: the override directories of the searcher */
#define FERRY_LUA_PATH_KEY "ferry.lua_path"

#endif
