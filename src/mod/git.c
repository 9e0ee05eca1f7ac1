/* require "ferry.git": Git repositories through libgit2.
 *
 * Local operations (open, status, commit, log, diff, checkout, the index)
 * are in git_repo.c and run on the caller's thread: they touch only the
 * disk. Network operations (clone, fetch, push) are in git_remote.c: they
 * block inside libgit2, so each runs as a thread job (core/job.h) and
 * returns an op at once; lua/git.lua waits on it with task.await. The work
 * tree's files are read and written by lua/git.lua through ferry.sys.
 *
 * This file holds what both share: guards, errors, and the module's tables.
 * No Lua error crosses a libgit2 frame: callbacks record what went wrong and
 * return an error code, and the libgit2 objects a function holds live in a
 * to-be-closed guard userdata, freed whether the function returns or raises. */
#include <git2.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/modules.h"
#include "mod/git.h"

/* ---- guard ---- */

static int guard_close(lua_State *L)
{
    struct guard *g = luaL_checkudata(L, 1, FERRY_GIT_GUARD_METATABLE);
    for (int i = GUARD_SLOTS - 1; i >= 0; i--) {
        if (g->slots[i].resource) {
            g->slots[i].release(g->slots[i].resource);
            g->slots[i].resource = NULL;
        }
    }
    git_buf_dispose(&g->buf);
    return 0;
}

struct guard *ferry_git_guard_push(lua_State *L)
{
    struct guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, FERRY_GIT_GUARD_METATABLE);
    lua_toclose(L, -1);
    return g;
}

void *ferry_git_guard_keep(struct guard *g, void *resource, void (*release)(void *))
{
    if (!resource)
        return NULL;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (!g->slots[i].resource) {
            g->slots[i].resource = resource;
            g->slots[i].release = release;
            return resource;
        }
    }
    release(resource); /* unreachable with the fixed use below */
    abort();
}

void ferry_git_guard_drop(struct guard *g, void *resource)
{
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (resource && g->slots[i].resource == resource) {
            g->slots[i].release(resource);
            g->slots[i].resource = NULL;
            return;
        }
    }
}

/* ---- errors ---- */

const char *ferry_git_code_name(int error)
{
    switch (error) {
    case GIT_ENOTFOUND:
        return "NotFound";
    case GIT_EEXISTS:
        return "exists";
    case GIT_EAMBIGUOUS:
        return "ambiguous";
    case GIT_EBAREREPO:
        return "bare";
    case GIT_EUNBORNBRANCH:
        return "unborn";
    case GIT_EUNMERGED:
        return "unmerged";
    case GIT_ENONFASTFORWARD:
        return "non_fast_forward";
    case GIT_EINVALIDSPEC:
        return "invalid";
    case GIT_ECONFLICT:
        return "conflict";
    case GIT_ELOCKED:
        return "locked";
    case GIT_EMODIFIED:
        return "modified";
    case GIT_EAUTH:
        return "auth";
    case GIT_ECERTIFICATE:
        return "certificate";
    case GIT_EUNCOMMITTED:
        return "uncommitted";
    case GIT_EDIRECTORY:
        return "directory";
    case GIT_EUSER:
        return "cancelled";
    default:
        return "error";
    }
}

/* libgit2's error classes (git_error_t), by number. */
static const char *const class_names[] = {
    "none",     "nomemory",  "os",       "invalid",    "reference", "zlib",     "repository",
    "config",   "regex",     "odb",      "index",      "object",    "net",      "tag",
    "tree",     "indexer",   "ssl",      "submodule",  "thread",    "stash",    "checkout",
    "fetchhead", "merge",    "ssh",      "filter",     "revert",    "callback", "cherrypick",
    "describe", "rebase",    "filesystem", "patch",    "worktree",  "sha",      "http",
    "internal",
};

const char *ferry_git_class_name(int klass)
{
    if (klass < 0 || (size_t)klass >= sizeof class_names / sizeof class_names[0])
        return "unknown";
    return class_names[klass];
}

const char *ferry_git_reason_push(lua_State *L, int error, const char *message)
{
    if (message && message[0])
        return lua_pushstring(L, message);
    return lua_pushfstring(L, "libgit2 failed (%s, code %d) without saying why", ferry_git_code_name(error),
                           error);
}

int ferry_git_raise(lua_State *L, int error, const char *fmt, ...)
{
    const git_error *last = git_error_last();
    const char *reason = ferry_git_reason_push(L, error, last ? last->message : NULL);
    va_list ap;
    va_start(ap, fmt);
    const char *context = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    ferry_error_push(L, "git", "%s: %s", context, reason);
    ferry_error_set_string(L, "reason", ferry_git_code_name(error));
    if (last)
        ferry_error_set_string(L, "class", ferry_git_class_name(last->klass));
    lua_error(L);
    for (;;) {
    }
}

int ferry_git_raise_reason(lua_State *L, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *message = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    ferry_error_push(L, "git", "%s", message);
    ferry_error_set_string(L, "reason", code);
    lua_error(L);
    for (;;) {
    }
}

/* ---- values ---- */

void ferry_git_oid_push(lua_State *L, const git_oid *oid)
{
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, oid);
    lua_pushstring(L, hex);
}

void ferry_git_field_set(lua_State *L, const char *field, const char *value)
{
    if (!value)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

/* git.features() -> {threads, https, ssh}, what this libgit2 was built with;
 * git.version() -> "1.5.1". [-0, +1, m] */
static int git_features(lua_State *L)
{
    int features = git_libgit2_features();
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, features & GIT_FEATURE_THREADS);
    lua_setfield(L, -2, "threads");
    lua_pushboolean(L, features & GIT_FEATURE_HTTPS);
    lua_setfield(L, -2, "https");
    lua_pushboolean(L, features & GIT_FEATURE_SSH);
    lua_setfield(L, -2, "ssh");
    int major, minor, revision;
    git_libgit2_version(&major, &minor, &revision);
    lua_pushfstring(L, "%d.%d.%d", major, minor, revision);
    lua_setfield(L, -2, "version");
    return 1;
}

static const luaL_Reg repo_methods[] = {
    {"path", ferry_git_repo_path},
    {"head", ferry_git_repo_head},
    {"remote", ferry_git_repo_remote},
    {"set_remote", ferry_git_repo_set_remote},
    {"stage", ferry_git_repo_stage},
    {"tracked", ferry_git_repo_tracked},
    {"read_rev", ferry_git_repo_read_rev},
    {"status", ferry_git_repo_status},
    {"diff", ferry_git_repo_diff},
    {"log", ferry_git_repo_log},
    {"commit", ferry_git_repo_commit},
    {"checkout", ferry_git_repo_checkout},
    {"fetch", ferry_git_repo_fetch},
    {"push", ferry_git_repo_push},
    {"close", ferry_git_repo_close},
    {"__gc", ferry_git_repo_close},
    {"__close", ferry_git_repo_close},
    {NULL, NULL},
};

static const luaL_Reg op_methods[] = {
    {"finished", ferry_git_op_finished},
    {"result", ferry_git_op_result},
    {"cancel", ferry_git_op_close},
    {"__gc", ferry_git_op_close},
    {"__close", ferry_git_op_close},
    {NULL, NULL},
};

static const luaL_Reg git_functions[] = {
    {"open", ferry_git_open},
    {"init", ferry_git_init},
    {"clone", ferry_git_clone},
    {"features", git_features},
    {NULL, NULL},
};

static void metatable_make(lua_State *L, const char *name, const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, name)) {
        luaL_setfuncs(L, methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

int luaopen_ferry_git(lua_State *L)
{
    static int initialized;
    if (!initialized) {
        /* Once per process, never shut down: other Lua states may use it. */
        if (git_libgit2_init() < 0)
            return luaL_error(L, "cannot initialize libgit2");
        initialized = 1;
    }
    static const luaL_Reg guard_methods[] = {{"__close", guard_close}, {"__gc", guard_close}, {NULL, NULL}};
    metatable_make(L, FERRY_GIT_GUARD_METATABLE, guard_methods);
    metatable_make(L, FERRY_GIT_REPOSITORY_METATABLE, repo_methods);
    metatable_make(L, FERRY_GIT_OP_METATABLE, op_methods);
    ferry_error_init(L);
    luaL_newlib(L, git_functions);
    return 1;
}
