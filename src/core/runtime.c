/* The runtime: a lua_State with ferry's modules, the searcher for the
 * embedded Lua library, and the protected entry points of include/ferry.h. */
#include "ferry.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "core/embedded.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/names.h"
#include "core/value.h"

struct ferry_runtime {
    lua_State *L;
    char *error;
    char *traceback;
    char *result;
};

static const luaL_Reg preloaded_modules[] = {
    {"json", luaopen_ferry_json},
    {"yaml", luaopen_ferry_yaml},
    {"base64", luaopen_ferry_base64},
    {"ferry.loop", luaopen_ferry_loop},
    {"ferry.sys", luaopen_ferry_sys},
    {"ferry.http", luaopen_ferry_http},
    {"ferry.exec", luaopen_ferry_exec},
    {"ferry.git", luaopen_ferry_git},
    {"ferry.edit", luaopen_ferry_edit},
    {NULL, NULL},
};

static const struct ferry_embedded_source *embedded_find(const char *module)
{
    size_t low = 0, high = ferry_embedded_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int cmp = strcmp(module, ferry_embedded_sources[mid].module);
        if (cmp == 0)
            return &ferry_embedded_sources[mid];
        if (cmp < 0)
            high = mid;
        else
            low = mid + 1;
    }
    return NULL;
}

/* Tries DIR/a/b.lua then DIR/a/b/init.lua for module "a.b"; on success
 * pushes the loader and the file name. [-0, +0|2, e] */
static int search_directory(lua_State *L, const char *dir, const char *module)
{
    static const char *const patterns[] = {"%s/%s.lua", "%s/%s/init.lua"};
    const char *relative = luaL_gsub(L, module, ".", "/");
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++) {
        const char *file = lua_pushfstring(L, patterns[i], dir, relative);
        FILE *probe = fopen(file, "r");
        if (!probe) {
            lua_pop(L, 1);
            continue;
        }
        fclose(probe);
        if (luaL_loadfile(L, file) != LUA_OK)
            return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", module,
                              file, lua_tostring(L, -1));
        lua_insert(L, -2);
        lua_remove(L, -3);
        return 2;
    }
    lua_pop(L, 1);
    return 0;
}

/* package.searchers entry: override dirs first, then the embedded library.
 * [-0, +1|2, e] */
static int search_ferry_library(lua_State *L)
{
    const char *module = luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LUA_PATH_KEY);
    lua_Integer dirs = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= dirs; i++) {
        lua_geti(L, -1, i);
        const char *dir = lua_tostring(L, -1);
        if (dir && search_directory(L, dir, module) == 2)
            return 2;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    const struct ferry_embedded_source *found = embedded_find(module);
    if (!found) {
        lua_pushfstring(L, "no module '%s' in ferry's library", module);
        return 1;
    }
    const char *chunkname = lua_pushfstring(L, "@%s", found->path);
    if (luaL_loadbufferx(L, found->source, found->length, chunkname, "t") != LUA_OK)
        return luaL_error(L, "error loading embedded module '%s':\n\t%s", module,
                          lua_tostring(L, -1));
    lua_pushstring(L, found->path);
    return 2;
}

/* Inserts the value on top into the array below it at position, moving
 * the elements from position on up by one (table.insert's shift). The
 * array must have no metamethods. [-1, +0, m] */
static void array_insert(lua_State *L, lua_Integer position)
{
    int array = lua_gettop(L) - 1;
    for (lua_Integer i = (lua_Integer)lua_rawlen(L, array); i >= position; i--) {
        lua_rawgeti(L, array, i);
        lua_rawseti(L, array, i + 1);
    }
    lua_rawseti(L, array, position);
}

/* Adds DIR to the override path, in front. [-0, +0, m] */
static void lua_path_prepend(lua_State *L, const char *dir)
{
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LUA_PATH_KEY);
    lua_pushstring(L, dir);
    array_insert(L, 1);
    lua_pop(L, 1);
}

/* FERRY_LUA_PATH is a colon-separated list; the first entry wins. [-0, +0, m] */
static void lua_path_from_environment(lua_State *L)
{
    const char *env = getenv("FERRY_LUA_PATH");
    if (!env || !*env)
        return;
    luaL_Buffer dirs;
    const char *end = env + strlen(env);
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LUA_PATH_KEY);
    lua_Integer n = 0;
    for (const char *start = env; start <= end;) {
        const char *colon = strchr(start, ':');
        if (!colon)
            colon = end;
        if (colon > start) {
            luaL_buffinit(L, &dirs);
            luaL_addlstring(&dirs, start, (size_t)(colon - start));
            luaL_pushresult(&dirs);
            lua_seti(L, -2, ++n);
        }
        start = colon + 1;
    }
    lua_pop(L, 1);
}

static void searcher_install(lua_State *L)
{
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, FERRY_LUA_PATH_KEY);
    lua_path_from_environment(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    /* Right after package.preload, before package.path. */
    lua_pushcfunction(L, search_ferry_library);
    array_insert(L, 2);
    lua_pop(L, 2);
}

void ferry_open_modules(lua_State *L)
{
    ferry_error_init(L);
    ferry_value_init(L);
    ferry_loop_open(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const luaL_Reg *m = preloaded_modules; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
    searcher_install(L);
}

static int open_protected(lua_State *L)
{
    luaL_openlibs(L);
    ferry_open_modules(L);
    return 0;
}

ferry_runtime *ferry_open(void)
{
    ferry_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->L = luaL_newstate();
    if (!rt->L) {
        free(rt);
        return NULL;
    }
    lua_pushcfunction(rt->L, open_protected);
    if (lua_pcall(rt->L, 0, 0, 0) != LUA_OK) {
        ferry_close(rt);
        return NULL;
    }
    return rt;
}

void ferry_close(ferry_runtime *rt)
{
    if (!rt)
        return;
    if (rt->L)
        lua_close(rt->L);
    free(rt->error);
    free(rt->traceback);
    free(rt->result);
    free(rt);
}

lua_State *ferry_state(ferry_runtime *rt)
{
    return rt->L;
}

static void replace_text(char **slot, const char *text)
{
    free(*slot);
    *slot = text ? strdup(text) : NULL;
}

const char *ferry_last_error(ferry_runtime *rt)
{
    return rt->error ? rt->error : "";
}

const char *ferry_last_traceback(ferry_runtime *rt)
{
    return rt->traceback ? rt->traceback : "";
}

static int add_lua_path_protected(lua_State *L)
{
    lua_path_prepend(L, lua_touserdata(L, 1));
    return 0;
}

int ferry_add_lua_path(ferry_runtime *rt, const char *dir)
{
    lua_pushcfunction(rt->L, add_lua_path_protected);
    lua_pushlightuserdata(rt->L, (void *)dir);
    if (lua_pcall(rt->L, 1, 0, 0) != LUA_OK) {
        replace_text(&rt->error, lua_tostring(rt->L, -1));
        lua_pop(rt->L, 1);
        return FERRY_EMEMORY;
    }
    return FERRY_OK;
}

void ferry_catch_interrupts(ferry_runtime *rt)
{
    ferry_loop_catch_interrupts(rt->L);
}

/* What a ferry_run_* call asks for; read by run_protected. */
struct run_request {
    const char *path;      /* ferry_run_file */
    const char *code;      /* ferry_run_string, with chunkname */
    const char *chunkname;
    const char *module;    /* ferry_run_main */
    int argc;
    char **argv;
};

/* The message handler of every entry, as lua.c's msghandler: the error's
 * line and traceback, both made by ferry.errors. Leaves {text, traceback}.
 * [-1, +1, e] */
static int message_handler(lua_State *L)
{
    lua_createtable(L, 2, 0);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ferry.errors");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) { /* cannot format: the raw value */
        luaL_tolstring(L, 1, NULL);
        lua_seti(L, 2, 1);
        lua_pop(L, 1);
        return 1;
    }
    lua_getfield(L, -1, "format");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_seti(L, 2, 1);
    lua_getfield(L, -1, "traceback");
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 2);
    lua_call(L, 2, 1);
    lua_seti(L, 2, 2);
    lua_pop(L, 1);
    return 1;
}

/* Pushes the function the request runs and its arguments; returns how many
 * arguments, or -1 with the status in *status when the file cannot be
 * loaded (its message pushed). [-0, +(n+1), e] */
static int request_push(lua_State *L, const struct run_request *request, int *status)
{
    if (request->module) {
        lua_getglobal(L, "require");
        lua_pushstring(L, request->module);
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "main");
        lua_remove(L, -2);
        lua_createtable(L, request->argc, 0);
        for (int i = 0; i < request->argc; i++) {
            lua_pushstring(L, request->argv[i]);
            lua_seti(L, -2, i + 1);
        }
        return 1;
    }
    int loaded = request->path ? luaL_loadfile(L, request->path)
                               : luaL_loadbuffer(L, request->code, strlen(request->code),
                                                 request->chunkname);
    if (loaded != LUA_OK) {
        *status = loaded == LUA_ERRFILE ? FERRY_EUSAGE : FERRY_ERUN;
        return -1;
    }
    if (!request->path)
        return 0;
    lua_createtable(L, request->argc, 1); /* arg = {[0] = path, argv...} */
    lua_pushstring(L, request->path);
    lua_seti(L, -2, 0);
    for (int i = 0; i < request->argc; i++) {
        lua_pushstring(L, request->argv[i]);
        lua_seti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    luaL_checkstack(L, request->argc, "too many arguments");
    for (int i = 0; i < request->argc; i++)
        lua_pushstring(L, request->argv[i]);
    return request->argc;
}

/* Everything an entry does in Lua, under one lua_pcall: loads the code,
 * runs it as the loop's main task (task.run_protected) and turns the
 * outcome into text. Returns status, result-or-error text, traceback.
 * [-1, +3, e] */
static int run_protected(lua_State *L)
{
    const struct run_request *request = lua_touserdata(L, 1);
    int status = FERRY_OK;
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "task");
    lua_call(L, 1, 1);
    lua_getfield(L, 1, "run_protected");
    lua_replace(L, 1);
    int nargs = request_push(L, request, &status);
    if (nargs < 0) {
        lua_pushinteger(L, status);
        lua_replace(L, 1);
        lua_pushnil(L);
        return 3;
    }
    lua_call(L, nargs + 1, 3); /* ok, value or error, traceback */
    if (lua_toboolean(L, 1)) {
        lua_pushinteger(L, FERRY_OK);
        if (lua_isnil(L, 2))
            lua_pushnil(L);
        else
            luaL_tolstring(L, 2, NULL);
        lua_pushnil(L);
        return 3;
    }
    status = FERRY_ERUN;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "kind");
        if (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "interrupted") == 0)
            status = FERRY_EINTERRUPTED;
        lua_pop(L, 1);
    }
    lua_pushinteger(L, status);
    ferry_error_format(L, 2);
    lua_pushvalue(L, 3);
    return 3;
}

/* Runs a request and records its outcome in the runtime; nothing here
 * raises: the Lua work is all in run_protected. */
static int run_request(ferry_runtime *rt, const struct run_request *request)
{
    lua_State *L = rt->L;
    int base = lua_gettop(L);
    replace_text(&rt->error, NULL);
    replace_text(&rt->traceback, NULL);
    replace_text(&rt->result, NULL);
    if (!lua_checkstack(L, 4)) {
        replace_text(&rt->error, "not enough memory");
        return FERRY_EMEMORY;
    }
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, run_protected);
    lua_pushlightuserdata(L, (void *)request);
    int called = lua_pcall(L, 1, 3, base + 1);
    int status;
    if (called == LUA_OK) {
        status = (int)lua_tointeger(L, -3);
        replace_text(status == FERRY_OK ? &rt->result : &rt->error, lua_tostring(L, -2));
        replace_text(&rt->traceback, lua_tostring(L, -1));
    } else if (called == LUA_ERRMEM) {
        status = FERRY_EMEMORY;
        replace_text(&rt->error, "not enough memory");
    } else {
        status = FERRY_ERUN;
        if (lua_istable(L, -1)) { /* {text, traceback} from message_handler */
            lua_rawgeti(L, -1, 1);
            replace_text(&rt->error, lua_tostring(L, -1));
            lua_rawgeti(L, -2, 2);
            replace_text(&rt->traceback, lua_tostring(L, -1));
        } else {
            replace_text(&rt->error, lua_tostring(L, -1));
        }
    }
    lua_settop(L, base);
    return status;
}

int ferry_run_file(ferry_runtime *rt, const char *path, int argc, char **argv)
{
    struct run_request request = {.path = path, .argc = argc, .argv = argv};
    return run_request(rt, &request);
}

int ferry_run_string(ferry_runtime *rt, const char *code, const char *chunkname,
                     const char **result)
{
    struct run_request request = {.code = code, .chunkname = chunkname};
    int status = run_request(rt, &request);
    if (result)
        *result = rt->result;
    return status;
}

/* require(module).main(args) as a task; its integer result is the status. */
int ferry_run_main(ferry_runtime *rt, const char *module, int argc, char **argv)
{
    struct run_request request = {.module = module, .argc = argc, .argv = argv};
    int status = run_request(rt, &request);
    if (status == FERRY_OK && rt->result) {
        char *end;
        long code = strtol(rt->result, &end, 10);
        if (*end == '\0' && code >= 0 && code <= 255)
            status = (int)code;
    }
    return status;
}
