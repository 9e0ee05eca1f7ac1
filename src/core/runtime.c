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

/* Adds DIR to the override path, in front. [-0, +0, m] */
static void lua_path_prepend(lua_State *L, const char *dir)
{
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LUA_PATH_KEY);
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = n; i >= 1; i--) {
        lua_geti(L, -1, i);
        lua_seti(L, -2, i + 1);
    }
    lua_pushstring(L, dir);
    lua_seti(L, -2, 1);
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
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = n; i >= 2; i--) {
        lua_geti(L, -1, i);
        lua_seti(L, -2, i + 1);
    }
    lua_pushcfunction(L, search_ferry_library);
    lua_seti(L, -2, 2);
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

/* Pushes one readable line for the error value at idx: its __tostring, or
 * "kind: message" for a plain table carrying those fields. [-0, +1, e] */
static const char *error_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_istable(L, idx) && !luaL_getmetafield(L, idx, "__tostring")) {
        lua_getfield(L, idx, "message");
        lua_getfield(L, idx, "kind");
        if (lua_isstring(L, -2)) {
            if (lua_isstring(L, -1))
                lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), lua_tostring(L, -2));
            else
                lua_pushvalue(L, -2);
            lua_replace(L, -3);
            lua_pop(L, 1);
            return lua_tostring(L, -1);
        }
        lua_pop(L, 2);
    } else if (lua_istable(L, idx)) {
        lua_pop(L, 1); /* the metafield */
    }
    return luaL_tolstring(L, idx, NULL);
}

/* Records the outcome of task.run_protected: ok, value-or-error, traceback.
 * Returns the status for the caller. [-3, +0, -] */
static int record_outcome(ferry_runtime *rt)
{
    lua_State *L = rt->L;
    int status = FERRY_OK;
    replace_text(&rt->result, NULL);
    if (lua_toboolean(L, -3)) {
        if (!lua_isnoneornil(L, -2))
            replace_text(&rt->result, luaL_tolstring(L, -2, NULL)), lua_pop(L, 1);
    } else {
        status = FERRY_ERUN;
        if (lua_istable(L, -2)) {
            lua_getfield(L, -2, "kind");
            if (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "interrupted") == 0)
                status = FERRY_EINTERRUPTED;
            lua_pop(L, 1);
        }
        replace_text(&rt->error, error_text(L, -2));
        lua_pop(L, 1);
        replace_text(&rt->traceback, lua_tostring(L, -1));
    }
    lua_pop(L, 3);
    return status;
}

/* Runs the function at the top of the stack, with nargs arguments below it
 * already pushed after it, as the main task of the loop. [-(nargs+1), +0, -] */
static int run_main_task(ferry_runtime *rt, int nargs)
{
    lua_State *L = rt->L;
    int base = lua_gettop(L) - nargs;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "task");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        replace_text(&rt->error, lua_tostring(L, -1));
        lua_settop(L, base - 1);
        return FERRY_ERUN;
    }
    lua_getfield(L, -1, "run_protected");
    lua_remove(L, -2);
    lua_insert(L, base);
    if (lua_pcall(L, nargs + 1, 3, 0) != LUA_OK) {
        replace_text(&rt->error, lua_tostring(L, -1));
        lua_settop(L, base - 1);
        return FERRY_ERUN;
    }
    return record_outcome(rt);
}

static void set_arg_global(lua_State *L, const char *script, int argc, char **argv)
{
    lua_createtable(L, argc, 1);
    lua_pushstring(L, script);
    lua_seti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_seti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
}

int ferry_run_file(ferry_runtime *rt, const char *path, int argc, char **argv)
{
    lua_State *L = rt->L;
    replace_text(&rt->error, NULL);
    replace_text(&rt->traceback, NULL);
    int loaded = luaL_loadfile(L, path);
    if (loaded != LUA_OK) {
        replace_text(&rt->error, lua_tostring(L, -1));
        lua_pop(L, 1);
        return loaded == LUA_ERRFILE ? FERRY_EUSAGE : FERRY_ERUN;
    }
    set_arg_global(L, path, argc, argv);
    luaL_checkstack(L, argc, "too many arguments");
    for (int i = 0; i < argc; i++)
        lua_pushstring(L, argv[i]);
    return run_main_task(rt, argc);
}

int ferry_run_string(ferry_runtime *rt, const char *code, const char *chunkname,
                     const char **result)
{
    lua_State *L = rt->L;
    replace_text(&rt->error, NULL);
    replace_text(&rt->traceback, NULL);
    if (luaL_loadbuffer(L, code, strlen(code), chunkname) != LUA_OK) {
        replace_text(&rt->error, lua_tostring(L, -1));
        lua_pop(L, 1);
        return FERRY_ERUN;
    }
    int status = run_main_task(rt, 0);
    if (result)
        *result = rt->result;
    return status;
}

/* require(module).main(args) as a task; its integer result is the status. */
int ferry_run_main(ferry_runtime *rt, const char *module, int argc, char **argv)
{
    lua_State *L = rt->L;
    replace_text(&rt->error, NULL);
    replace_text(&rt->traceback, NULL);
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        replace_text(&rt->error, error_text(L, -1));
        lua_pop(L, 2);
        return FERRY_ERUN;
    }
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_seti(L, -2, i + 1);
    }
    int status = run_main_task(rt, 1);
    if (status == FERRY_OK && rt->result) {
        char *end;
        long code = strtol(rt->result, &end, 10);
        if (*end == '\0' && code >= 0 && code <= 255)
            status = (int)code;
    }
    return status;
}
