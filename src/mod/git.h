/* What the files of require "ferry.git" share: git.c (the module, guards,
 * errors), git_repo.c (the local repository) and git_remote.c (clone, fetch,
 * push on worker threads). Only luaopen_ferry_git is the module's entry;
 * what the files share carries the ferry_git_ prefix, as every name
 * libferry.a exports does (see the Makefile's library rule). */
#ifndef FERRY_GIT_H
#define FERRY_GIT_H

#include <git2.h>
#include <lua.h>

#include "core/names.h"

/* ---- guard: libgit2 objects held by the running C function ---- */

#define GUARD_SLOTS 16

struct guard {
    struct {
        void *resource;
        void (*release)(void *resource);
    } slots[GUARD_SLOTS];
    git_buf buf; /* one output buffer (diff text, prettified message) */
};

/* Typed free functions as void (*)(void *), without casting function types. */
#define RELEASER(name, type, free_fn) \
    static inline void name(void *resource) { free_fn((type *)resource); }
RELEASER(release_reference, git_reference, git_reference_free)
RELEASER(release_object, git_object, git_object_free)
RELEASER(release_commit, git_commit, git_commit_free)
RELEASER(release_tree, git_tree, git_tree_free)
RELEASER(release_tree_entry, git_tree_entry, git_tree_entry_free)
RELEASER(release_index, git_index, git_index_free)
RELEASER(release_signature, git_signature, git_signature_free)
RELEASER(release_status_list, git_status_list, git_status_list_free)
RELEASER(release_diff, git_diff, git_diff_free)
RELEASER(release_revwalk, git_revwalk, git_revwalk_free)
RELEASER(release_config, git_config, git_config_free)
RELEASER(release_reference_iterator, git_reference_iterator, git_reference_iterator_free)

/* Pushes an empty guard in a to-be-closed slot: whatever it holds is freed
 * when the C function returns or raises. [-0, +1, m] */
struct guard *ferry_git_guard_push(lua_State *L);

/* Hands resource (may be NULL) to the guard; returns it. */
void *ferry_git_guard_keep(struct guard *g, void *resource, void (*release)(void *));

/* Frees one resource now (a loop that allocates per item). */
void ferry_git_guard_drop(struct guard *g, void *resource);

/* ---- errors ---- */

/* The error's reason field for a libgit2 return value ("NotFound", ...). */
const char *ferry_git_code_name(int error);

/* The name of a libgit2 error class ("net", "http", "reference", ...). */
const char *ferry_git_class_name(int klass);

/* Pushes libgit2's reason for error: its message, or, when it gave none,
 * a sentence naming the return code. [-0, +1, m] */
const char *ferry_git_reason_push(lua_State *L, int error, const char *message);

/* Raises {kind="git", message="<context>: <reason>", code, class}. The
 * reason is libgit2's last error on this thread. [-0, +0, v] */
int ferry_git_raise(lua_State *L, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Raises a git error with a reason of our own. [-0, +0, v] */
int ferry_git_raise_reason(lua_State *L, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* ---- values ---- */

/* Pushes the hex form of oid. [-0, +1, m] */
void ferry_git_oid_push(lua_State *L, const git_oid *oid);

/* t[field] = value for the table on top, unless value is NULL. [-0, +0, m] */
void ferry_git_field_set(lua_State *L, const char *field, const char *value);

/* ---- the repository handle (git_repo.c) ---- */

struct repo_handle {
    git_repository *repo; /* NULL once closed */
};

/* The open repository of the handle at idx; raises once closed. [-0, +0, v] */
git_repository *ferry_git_repo_check(lua_State *L, int idx);

/* The module's Lua functions, each documented where it is defined. */
int ferry_git_open(lua_State *L);
int ferry_git_init(lua_State *L);
int ferry_git_repo_close(lua_State *L);
int ferry_git_repo_path(lua_State *L);
int ferry_git_repo_head(lua_State *L);
int ferry_git_repo_remote(lua_State *L);
int ferry_git_repo_set_remote(lua_State *L);
int ferry_git_repo_stage(lua_State *L);
int ferry_git_repo_tracked(lua_State *L);
int ferry_git_repo_read_rev(lua_State *L);
int ferry_git_repo_status(lua_State *L);
int ferry_git_repo_diff(lua_State *L);
int ferry_git_repo_log(lua_State *L);
int ferry_git_repo_commit(lua_State *L);
int ferry_git_repo_checkout(lua_State *L);

/* ---- network operations (git_remote.c) ---- */

int ferry_git_clone(lua_State *L);
int ferry_git_repo_fetch(lua_State *L);
int ferry_git_repo_push(lua_State *L);
int ferry_git_op_finished(lua_State *L);
int ferry_git_op_result(lua_State *L);
int ferry_git_op_close(lua_State *L);

#endif
