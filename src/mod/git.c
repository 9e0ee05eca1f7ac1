/* require "ferry.git": Git repositories through libgit2.
 *
 * Local operations (open, read, write, status, commit, log, diff, checkout)
 * run on the caller's thread: they touch only the disk. Network operations
 * (clone, fetch, push) block inside libgit2, so each runs as a thread job
 * (core/job.h) and returns an op at once; lua/git.lua waits on it with
 * task.await. Everything a job needs -- URL, credentials, trusted SSH host
 * keys -- is copied to C memory before it starts, its callbacks run on the
 * worker thread without Lua, and its outcome is read back after it ends.
 *
 * No Lua error crosses a libgit2 frame: callbacks record what went wrong and
 * return an error code, and the libgit2 objects a function holds live in a
 * to-be-closed guard userdata, freed whether the function returns or raises. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/job.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/options.h"

#define REPO_METATABLE "ferry.git.repository"
#define OP_METATABLE "ferry.git.op"
#define GUARD_METATABLE "ferry.git.guard"

/* How long closing a running network op waits for libgit2 to notice the
 * cancel and clean up (a half-done clone removes its directory). */
#define CANCEL_WAIT_SECONDS 2.0

/* ---- guard: libgit2 objects held by the running C function --------------- */

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
    static void name(void *resource) { free_fn((type *)resource); }
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

static void release_fd(void *resource)
{
    close((int)(intptr_t)resource - 1);
}

static int guard_close(lua_State *L)
{
    struct guard *g = luaL_checkudata(L, 1, GUARD_METATABLE);
    for (int i = GUARD_SLOTS - 1; i >= 0; i--) {
        if (g->slots[i].resource) {
            g->slots[i].release(g->slots[i].resource);
            g->slots[i].resource = NULL;
        }
    }
    git_buf_dispose(&g->buf);
    return 0;
}

/* Pushes an empty guard in a to-be-closed slot: whatever it holds is freed
 * when the C function returns or raises. [-0, +1, m] */
static struct guard *guard_push(lua_State *L)
{
    struct guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, GUARD_METATABLE);
    lua_toclose(L, -1);
    return g;
}

/* Hands resource (may be NULL) to the guard; returns it. */
static void *guard_keep(struct guard *g, void *resource, void (*release)(void *))
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

/* Frees one resource now (a loop that allocates per item). */
static void guard_drop(struct guard *g, void *resource)
{
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (resource && g->slots[i].resource == resource) {
            g->slots[i].release(resource);
            g->slots[i].resource = NULL;
            return;
        }
    }
}

/* ---- errors ------------------------------------------------------------------ */

static const char *code_name(int error)
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

/* Raises {kind="git", message="<context>: <reason>", reason=...}. The reason
 * is libgit2's last error on this thread. [-0, +0, v] */
static int git_raise(lua_State *L, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static int git_raise(lua_State *L, int error, const char *fmt, ...)
{
    const git_error *last = git_error_last();
    lua_pushstring(L, last && last->message && last->message[0] ? last->message : "unknown error");
    va_list ap;
    va_start(ap, fmt);
    const char *context = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    ferry_error_push(L, "git", "%s: %s", context, lua_tostring(L, -2));
    ferry_error_set_string(L, "reason", code_name(error));
    lua_error(L);
    for (;;) {
    }
}

/* Raises a git error with a reason of our own. [-0, +0, v] */
static int git_raise_reason(lua_State *L, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static int git_raise_reason(lua_State *L, const char *code, const char *fmt, ...)
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

static void oid_push(lua_State *L, const git_oid *oid)
{
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, oid);
    lua_pushstring(L, hex);
}

/* ---- the repository handle ---------------------------------------------------- */

struct repo_handle {
    git_repository *repo; /* NULL once closed */
};

static git_repository *repo_check(lua_State *L, int idx)
{
    struct repo_handle *h = luaL_checkudata(L, idx, REPO_METATABLE);
    if (!h->repo)
        luaL_error(L, "attempt to use a closed repository");
    return h->repo;
}

/* Frees the repository; safe to call twice. [-0, +0, -] */
static int repo_close(lua_State *L)
{
    struct repo_handle *h = luaL_checkudata(L, 1, REPO_METATABLE);
    if (h->repo) {
        git_repository_free(h->repo);
        h->repo = NULL;
    }
    return 0;
}

/* Pushes a closed handle, to be filled once the repository is open. [-0, +1, m] */
static struct repo_handle *repo_handle_push(lua_State *L)
{
    struct repo_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->repo = NULL;
    luaL_setmetatable(L, REPO_METATABLE);
    return h;
}

/* git.open(dir) -> handle. Only dir itself, no search upwards. [-1, +1, e] */
static int git_open(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    struct repo_handle *h = repo_handle_push(L);
    int error = git_repository_open_ext(&h->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (error < 0)
        git_raise(L, error, "cannot open the repository in %s", dir);
    return 1;
}

/* git.init(dir, bare, initial_branch) -> handle. [-3, +1, e] */
static int git_init(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    int bare = lua_toboolean(L, 2);
    const char *branch = luaL_optstring(L, 3, "main");
    struct repo_handle *h = repo_handle_push(L);
    git_repository_init_options options;
    git_repository_init_options_init(&options, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    options.flags = GIT_REPOSITORY_INIT_MKPATH | (bare ? GIT_REPOSITORY_INIT_BARE : 0);
    options.initial_head = branch;
    int error = git_repository_init_ext(&h->repo, dir, &options);
    if (error < 0)
        git_raise(L, error, "cannot create a repository in %s", dir);
    return 1;
}

/* handle:path() -> work tree (with a trailing /), or the git dir of a bare
 * repository; bare. [-0, +2, m] */
static int repo_path(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *workdir = git_repository_workdir(repo);
    lua_pushstring(L, workdir ? workdir : git_repository_path(repo));
    lua_pushboolean(L, git_repository_is_bare(repo));
    return 2;
}

/* Pushes HEAD's commit id (nil on an unborn branch) and branch name (nil
 * when detached). [-0, +2, e] */
static void head_push(lua_State *L, git_repository *repo, struct guard *g)
{
    git_reference *head = NULL;
    int error = git_repository_head(&head, repo);
    guard_keep(g, head, release_reference);
    if (error == GIT_EUNBORNBRANCH || error == GIT_ENOTFOUND) {
        git_reference *symbolic = NULL;
        error = git_reference_lookup(&symbolic, repo, "HEAD");
        guard_keep(g, symbolic, release_reference);
        if (error < 0)
            git_raise(L, error, "cannot read HEAD");
        const char *target = git_reference_symbolic_target(symbolic);
        lua_pushnil(L);
        if (target && strncmp(target, "refs/heads/", 11) == 0)
            lua_pushstring(L, target + 11);
        else
            lua_pushnil(L);
        return;
    }
    if (error < 0)
        git_raise(L, error, "cannot read HEAD");
    oid_push(L, git_reference_target(head));
    if (git_reference_is_branch(head))
        lua_pushstring(L, git_reference_shorthand(head));
    else
        lua_pushnil(L);
}

/* handle:head() -> id | nil, branch | nil. [-0, +2, e] */
static int repo_head(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    struct guard *g = guard_push(L);
    head_push(L, repo, g);
    return 2;
}

/* handle:remote(name) -> url, push url | nil, fetch refspec | nil; or nil
 * if there is no such remote. Read from the configuration directly, not
 * with git_remote_lookup: libgit2 1.5 leaks memory on every lookup (its
 * url.*.insteadOf scan), and ferry leaves insteadOf aside anyway. [-1, +3, e] */
static int repo_remote(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *name = luaL_checkstring(L, 2);
    struct guard *g = guard_push(L);
    git_config *config = NULL;
    int error = git_repository_config_snapshot(&config, repo);
    guard_keep(g, config, release_config);
    if (error < 0)
        git_raise(L, error, "cannot read the configuration of %s", git_repository_path(repo));
    static const char *const keys[] = {"url", "pushurl", "fetch"};
    for (int i = 0; i < 3; i++) {
        const char *value = NULL;
        error = git_config_get_string(&value, config, lua_pushfstring(L, "remote.%s.%s", name, keys[i]));
        lua_pop(L, 1);
        if (error == GIT_ENOTFOUND && i == 0) {
            lua_pushnil(L);
            return 1;
        }
        if (error < 0 && error != GIT_ENOTFOUND)
            git_raise(L, error, "cannot read remote '%s'", name);
        if (value)
            lua_pushstring(L, value);
        else
            lua_pushnil(L);
    }
    return 3;
}

/* handle:set_remote(name, url): adds the remote, or changes its URL. [-2, +0, e] */
static int repo_set_remote(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    struct guard *g = guard_push(L);
    git_config *config = NULL;
    int error = git_repository_config_snapshot(&config, repo);
    guard_keep(g, config, release_config);
    const char *existing = NULL;
    if (error >= 0)
        error = git_config_get_string(&existing, config, lua_pushfstring(L, "remote.%s.url", name));
    if (error >= 0) {
        error = git_remote_set_url(repo, name, url);
    } else if (error == GIT_ENOTFOUND) {
        git_remote_create_options options;
        git_remote_create_options_init(&options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
        options.repository = repo;
        options.name = name;
        options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
        git_remote *remote = NULL;
        error = git_remote_create_with_opts(&remote, url, &options);
        git_remote_free(remote);
    }
    if (error < 0)
        git_raise(L, error, "cannot set remote '%s'", name);
    return 0;
}

/* ---- paths in the work tree ---------------------------------------------------- */

/* The path argument at idx, as the index knows paths: relative,
 * '/'-separated, no empty, "." or ".." parts, nothing inside .git. Raises
 * otherwise. [-0, +0, v] */
static const char *path_arg(lua_State *L, int idx)
{
    size_t length;
    const char *path = luaL_checklstring(L, idx, &length);
    const char *problem = NULL;
    if (strlen(path) != length)
        problem = "it holds a NUL byte";
    else if (!*path)
        problem = "it is empty";
    else if (*path == '/')
        problem = "it must be relative to the work tree";
    for (const char *part = path; !problem && *part;) {
        const char *end = strchr(part, '/');
        size_t length = end ? (size_t)(end - part) : strlen(part);
        if (length == 0 || (length == 1 && part[0] == '.'))
            problem = "it has an empty or '.' part";
        else if (length == 2 && part[0] == '.' && part[1] == '.')
            problem = "it may not leave the work tree ('..')";
        else if (length == 4 && strncasecmp(part, ".git", 4) == 0)
            problem = "it may not touch .git";
        part += length + (end ? 1 : 0);
        if (end && !*part)
            problem = "it ends with '/'";
    }
    if (problem)
        git_raise_reason(L, "invalid", "bad path '%s': %s", path, problem);
    return path;
}

static const char *workdir_check(lua_State *L, git_repository *repo)
{
    const char *workdir = git_repository_workdir(repo);
    if (!workdir)
        git_raise_reason(L, "bare", "the repository in %s is bare: it has no work tree",
                         git_repository_path(repo));
    return workdir;
}

/* Pushes workdir .. path. [-0, +1, m] */
static const char *full_path_push(lua_State *L, const char *workdir, const char *path)
{
    return lua_pushfstring(L, "%s%s", workdir, path);
}

/* True when the real location of existing is inside the work tree, so a
 * symbolic link cannot lead a read or write out of it. */
static int inside_workdir(const char *workdir, const char *existing)
{
    char real_workdir[PATH_MAX], real_path[PATH_MAX];
    if (!realpath(workdir, real_workdir) || !realpath(existing, real_path))
        return 0;
    size_t n = strlen(real_workdir);
    return strncmp(real_path, real_workdir, n) == 0 && (real_path[n] == '/' || real_path[n] == '\0');
}

/* Creates the missing parent directories of path (relative to workdir). */
static int parents_make(const char *workdir, const char *path, char *buffer, size_t size)
{
    const char *slash = path;
    while ((slash = strchr(slash, '/'))) {
        int n = snprintf(buffer, size, "%s%.*s", workdir, (int)(slash - path), path);
        if (n < 0 || (size_t)n >= size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (mkdir(buffer, 0777) != 0 && errno != EEXIST)
            return -1;
        slash++;
    }
    return 0;
}

/* Updates the index for path after a change in the work tree. [-0, +0, e] */
static void index_update(lua_State *L, git_repository *repo, struct guard *g, const char *path,
                         int removed, int directory)
{
    git_index *index = NULL;
    int error = git_repository_index(&index, repo);
    guard_keep(g, index, release_index);
    if (error >= 0)
        error = git_index_read(index, 0);
    if (error >= 0) {
        if (directory)
            error = git_index_remove_directory(index, path, 0);
        else if (removed)
            error = git_index_remove_bypath(index, path);
        else
            error = git_index_add_bypath(index, path);
    }
    if (error >= 0)
        error = git_index_write(index);
    if (error < 0)
        git_raise(L, error, "cannot update the index for %s", path);
}

/* handle:read_file(path) -> text, from the work tree. [-1, +1, e] */
static int repo_read_file(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *path = path_arg(L, 2);
    const char *workdir = workdir_check(L, repo);
    struct guard *g = guard_push(L);
    const char *full = full_path_push(L, workdir, path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        git_raise_reason(L, errno == ENOENT || errno == ENOTDIR ? "NotFound" : "error",
                         "cannot read %s in %s: %s", path, workdir, strerror(errno));
    guard_keep(g, (void *)(intptr_t)(fd + 1), release_fd);
    struct stat st;
    if (fstat(fd, &st) != 0)
        git_raise_reason(L, "error", "cannot read %s in %s: %s", path, workdir, strerror(errno));
    if (S_ISDIR(st.st_mode))
        git_raise_reason(L, "directory", "cannot read %s in %s: it is a directory", path, workdir);
    if (!inside_workdir(workdir, full))
        git_raise_reason(L, "invalid", "cannot read %s in %s: it leads out of the work tree", path,
                         workdir);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        char *space = luaL_prepbuffer(&b);
        ssize_t n = read(fd, space, LUAL_BUFFERSIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            git_raise_reason(L, "error", "cannot read %s in %s: %s", path, workdir, strerror(errno));
        if (n == 0)
            break;
        luaL_addsize(&b, (size_t)n);
    }
    luaL_pushresult(&b);
    return 1;
}

/* handle:read_rev(path, rev) -> text of path in the commit rev names. [-2, +1, e] */
static int repo_read_rev(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *path = path_arg(L, 2);
    const char *rev = luaL_checkstring(L, 3);
    struct guard *g = guard_push(L);
    git_object *object = NULL, *tree = NULL, *blob = NULL;
    git_tree_entry *entry = NULL;
    int error = git_revparse_single(&object, repo, rev);
    guard_keep(g, object, release_object);
    if (error < 0)
        git_raise(L, error, "unknown revision '%s'", rev);
    error = git_object_peel(&tree, object, GIT_OBJECT_TREE);
    guard_keep(g, tree, release_object);
    if (error < 0)
        git_raise(L, error, "revision '%s' has no files", rev);
    error = git_tree_entry_bypath(&entry, (git_tree *)tree, path);
    guard_keep(g, entry, release_tree_entry);
    if (error == GIT_ENOTFOUND)
        git_raise_reason(L, "NotFound", "no file %s at %s", path, rev);
    if (error < 0)
        git_raise(L, error, "cannot read %s at %s", path, rev);
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
        git_raise_reason(L, "directory", "cannot read %s at %s: it is not a file", path, rev);
    error = git_tree_entry_to_object(&blob, repo, entry);
    guard_keep(g, blob, release_object);
    if (error < 0)
        git_raise(L, error, "cannot read %s at %s", path, rev);
    lua_pushlstring(L, git_blob_rawcontent((git_blob *)blob), (size_t)git_blob_rawsize((git_blob *)blob));
    return 1;
}

static int write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

/* handle:write(path, text): writes the file (whole, through a temp file and
 * a rename; an existing file keeps its mode) and stages it. [-2, +0, e] */
static int repo_write(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *path = path_arg(L, 2);
    size_t length;
    const char *text = luaL_checklstring(L, 3, &length);
    const char *workdir = workdir_check(L, repo);
    struct guard *g = guard_push(L);
    const char *full = full_path_push(L, workdir, path);
    char parent[PATH_MAX];
    if (parents_make(workdir, path, parent, sizeof parent) != 0)
        git_raise_reason(L, "error", "cannot write %s in %s: %s", path, workdir, strerror(errno));
    const char *slash = strrchr(full, '/');
    lua_pushlstring(L, full, (size_t)(slash - full));
    if (!inside_workdir(workdir, lua_tostring(L, -1)))
        git_raise_reason(L, "invalid", "cannot write %s in %s: it leads out of the work tree", path,
                         workdir);
    lua_pop(L, 1);
    struct stat st;
    int existing = lstat(full, &st) == 0;
    if (existing && S_ISDIR(st.st_mode))
        git_raise_reason(L, "directory", "cannot write %s in %s: it is a directory", path, workdir);
    const char *temp = lua_pushfstring(L, "%s.ferry-%d.tmp", full, (int)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        git_raise_reason(L, "error", "cannot write %s in %s: %s", path, workdir, strerror(errno));
    int failed = write_all(fd, text, length) != 0 ||
                 (existing && S_ISREG(st.st_mode) && fchmod(fd, st.st_mode & 07777) != 0);
    int saved = errno;
    failed = close(fd) != 0 || failed;
    if (!failed && rename(temp, full) != 0) {
        failed = 1;
        saved = errno;
    }
    if (failed) {
        unlink(temp);
        git_raise_reason(L, "error", "cannot write %s in %s: %s", path, workdir, strerror(saved));
    }
    index_update(L, repo, g, path, 0, 0);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

/* handle:remove(path): deletes a file (or a directory and what it holds)
 * from the work tree and the index. [-1, +0, e] */
static int repo_remove(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *path = path_arg(L, 2);
    const char *workdir = workdir_check(L, repo);
    struct guard *g = guard_push(L);
    const char *full = full_path_push(L, workdir, path);
    struct stat st;
    int directory = 0;
    if (lstat(full, &st) == 0) {
        directory = S_ISDIR(st.st_mode);
        const char *slash = strrchr(full, '/');
        lua_pushlstring(L, full, (size_t)(slash - full));
        if (!inside_workdir(workdir, lua_tostring(L, -1)))
            git_raise_reason(L, "invalid", "cannot remove %s in %s: it leads out of the work tree",
                             path, workdir);
        lua_pop(L, 1);
        int failed = directory ? nftw(full, remove_entry, 16, FTW_DEPTH | FTW_PHYS) : unlink(full);
        if (failed != 0)
            git_raise_reason(L, "error", "cannot remove %s in %s: %s", path, workdir, strerror(errno));
    } else {
        /* Gone from the work tree already: fine if the index still has it. */
        git_index *index = NULL;
        int error = git_repository_index(&index, repo);
        guard_keep(g, index, release_index);
        if (error >= 0)
            error = git_index_read(index, 0);
        if (error < 0)
            git_raise(L, error, "cannot read the index");
        size_t position;
        if (git_index_find(&position, index, path) != 0 &&
            git_index_find_prefix(&position, index, lua_pushfstring(L, "%s/", path)) != 0)
            git_raise_reason(L, "NotFound", "cannot remove %s in %s: no such file", path, workdir);
        directory = git_index_get_bypath(index, path, 0) == NULL;
    }
    index_update(L, repo, g, path, 1, directory);
    return 0;
}

/* ---- status, diff, log ---------------------------------------------------------- */

static const char *index_state(unsigned flags)
{
    if (flags & GIT_STATUS_INDEX_NEW)
        return "added";
    if (flags & GIT_STATUS_INDEX_MODIFIED)
        return "modified";
    if (flags & GIT_STATUS_INDEX_DELETED)
        return "deleted";
    if (flags & GIT_STATUS_INDEX_RENAMED)
        return "renamed";
    if (flags & GIT_STATUS_INDEX_TYPECHANGE)
        return "typechange";
    return NULL;
}

static const char *worktree_state(unsigned flags)
{
    if (flags & GIT_STATUS_WT_NEW)
        return "untracked";
    if (flags & GIT_STATUS_WT_MODIFIED)
        return "modified";
    if (flags & GIT_STATUS_WT_DELETED)
        return "deleted";
    if (flags & GIT_STATUS_WT_RENAMED)
        return "renamed";
    if (flags & GIT_STATUS_WT_TYPECHANGE)
        return "typechange";
    if (flags & GIT_STATUS_WT_UNREADABLE)
        return "unreadable";
    return NULL;
}

static void field_set_string(lua_State *L, const char *field, const char *value)
{
    if (!value)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

/* handle:status() -> list of {path, index, worktree, old_path, conflicted},
 * sorted by path. [-0, +1, e] */
static int repo_status(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    workdir_check(L, repo);
    struct guard *g = guard_push(L);
    git_status_options options;
    git_status_options_init(&options, GIT_STATUS_OPTIONS_VERSION);
    options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
                    GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX | GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
    git_status_list *list = NULL;
    int error = git_status_list_new(&list, repo, &options);
    guard_keep(g, list, release_status_list);
    if (error < 0)
        git_raise(L, error, "cannot read the status of %s", git_repository_workdir(repo));
    size_t count = git_status_list_entrycount(list);
    lua_createtable(L, (int)count, 0);
    lua_Integer n = 0;
    for (size_t i = 0; i < count; i++) {
        const git_status_entry *entry = git_status_byindex(list, i);
        if (entry->status == GIT_STATUS_CURRENT || (entry->status & GIT_STATUS_IGNORED))
            continue;
        const git_diff_delta *delta = entry->index_to_workdir ? entry->index_to_workdir
                                                              : entry->head_to_index;
        const git_diff_delta *staged = entry->head_to_index;
        lua_createtable(L, 0, 5);
        field_set_string(L, "path", delta->new_file.path ? delta->new_file.path : delta->old_file.path);
        if (staged && (entry->status & GIT_STATUS_INDEX_RENAMED))
            field_set_string(L, "old_path", staged->old_file.path);
        field_set_string(L, "index", index_state(entry->status));
        field_set_string(L, "worktree", worktree_state(entry->status));
        if (entry->status & GIT_STATUS_CONFLICTED) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "conflicted");
        }
        lua_seti(L, -2, ++n);
    }
    return 1;
}

static const char *delta_state(git_delta_t status)
{
    switch (status) {
    case GIT_DELTA_ADDED:
    case GIT_DELTA_UNTRACKED:
        return "added";
    case GIT_DELTA_DELETED:
        return "deleted";
    case GIT_DELTA_MODIFIED:
        return "modified";
    case GIT_DELTA_RENAMED:
        return "renamed";
    case GIT_DELTA_COPIED:
        return "copied";
    case GIT_DELTA_TYPECHANGE:
        return "typechange";
    case GIT_DELTA_CONFLICTED:
        return "conflicted";
    default:
        return "unmodified";
    }
}

/* The tree of rev (a revision string), or of HEAD when rev is NULL; NULL on
 * an unborn branch. [-0, +0, e] */
static git_tree *tree_of(lua_State *L, git_repository *repo, struct guard *g, const char *rev)
{
    git_object *object = NULL, *tree = NULL;
    int error = git_revparse_single(&object, repo, rev ? rev : "HEAD");
    guard_keep(g, object, release_object);
    if (!rev && (error == GIT_ENOTFOUND || error == GIT_EUNBORNBRANCH))
        return NULL;
    if (error < 0)
        git_raise(L, error, "unknown revision '%s'", rev ? rev : "HEAD");
    error = git_object_peel(&tree, object, GIT_OBJECT_TREE);
    guard_keep(g, tree, release_object);
    if (error < 0)
        git_raise(L, error, "revision '%s' has no files", rev ? rev : "HEAD");
    return (git_tree *)tree;
}

/* handle:diff(rev, staged) -> patch text, list of {path, status, old_path}.
 * Compares rev's tree (HEAD's by default) with the work tree and the index
 * (untracked files count as added), or with the index only when staged.
 * [-2, +2, e] */
static int repo_diff(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *rev = luaL_optstring(L, 2, NULL);
    int staged = lua_toboolean(L, 3);
    struct guard *g = guard_push(L);
    git_tree *tree = tree_of(L, repo, g, rev);
    git_diff_options options;
    git_diff_options_init(&options, GIT_DIFF_OPTIONS_VERSION);
    git_diff *diff = NULL;
    int error;
    if (staged) {
        error = git_diff_tree_to_index(&diff, repo, tree, NULL, &options);
    } else {
        workdir_check(L, repo);
        options.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
                        GIT_DIFF_SHOW_UNTRACKED_CONTENT;
        error = git_diff_tree_to_workdir_with_index(&diff, repo, tree, &options);
    }
    guard_keep(g, diff, release_diff);
    if (error >= 0)
        error = git_diff_to_buf(&g->buf, diff, GIT_DIFF_FORMAT_PATCH);
    if (error < 0)
        git_raise(L, error, "cannot compute the diff");
    lua_pushlstring(L, g->buf.ptr ? g->buf.ptr : "", g->buf.size);
    size_t count = git_diff_num_deltas(diff);
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        const git_diff_delta *delta = git_diff_get_delta(diff, i);
        lua_createtable(L, 0, 3);
        field_set_string(L, "path", delta->new_file.path);
        if (delta->old_file.path && strcmp(delta->old_file.path, delta->new_file.path) != 0)
            field_set_string(L, "old_path", delta->old_file.path);
        field_set_string(L, "status", delta_state(delta->status));
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

static void signature_push(lua_State *L, const git_signature *signature)
{
    lua_createtable(L, 0, 4);
    field_set_string(L, "name", signature->name);
    field_set_string(L, "email", signature->email);
    lua_pushinteger(L, (lua_Integer)signature->when.time);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, signature->when.offset);
    lua_setfield(L, -2, "offset"); /* minutes east of UTC */
}

/* handle:log(n, rev) -> list of {id, summary, message, author, committer,
 * parents}, newest first; empty on an unborn branch. [-2, +1, e] */
static int repo_log(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    lua_Integer limit = luaL_checkinteger(L, 2);
    const char *rev = luaL_optstring(L, 3, NULL);
    struct guard *g = guard_push(L);
    git_revwalk *walk = NULL;
    int error = git_revwalk_new(&walk, repo);
    guard_keep(g, walk, release_revwalk);
    if (error < 0)
        git_raise(L, error, "cannot read the history");
    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    lua_newtable(L);
    if (rev) {
        git_object *object = NULL, *commit = NULL;
        error = git_revparse_single(&object, repo, rev);
        guard_keep(g, object, release_object);
        if (error < 0)
            git_raise(L, error, "unknown revision '%s'", rev);
        error = git_object_peel(&commit, object, GIT_OBJECT_COMMIT);
        guard_keep(g, commit, release_object);
        if (error < 0)
            git_raise(L, error, "revision '%s' is not a commit", rev);
        error = git_revwalk_push(walk, git_object_id(commit));
    } else {
        if (git_repository_head_unborn(repo) == 1)
            return 1;
        error = git_revwalk_push_head(walk);
    }
    if (error < 0)
        git_raise(L, error, "cannot read the history from %s", rev ? rev : "HEAD");
    git_oid oid;
    for (lua_Integer n = 1; n <= limit; n++) {
        error = git_revwalk_next(&oid, walk);
        if (error == GIT_ITEROVER)
            break;
        git_commit *commit = NULL;
        if (error >= 0)
            error = git_commit_lookup(&commit, repo, &oid);
        guard_keep(g, commit, release_commit);
        if (error < 0)
            git_raise(L, error, "cannot read the history");
        lua_createtable(L, 0, 6);
        oid_push(L, &oid);
        lua_setfield(L, -2, "id");
        field_set_string(L, "summary", git_commit_summary(commit));
        field_set_string(L, "message", git_commit_message(commit));
        signature_push(L, git_commit_author(commit));
        lua_setfield(L, -2, "author");
        signature_push(L, git_commit_committer(commit));
        lua_setfield(L, -2, "committer");
        unsigned parents = git_commit_parentcount(commit);
        lua_createtable(L, (int)parents, 0);
        for (unsigned i = 0; i < parents; i++) {
            oid_push(L, git_commit_parent_id(commit, i));
            lua_seti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "parents");
        lua_seti(L, -2, n);
        guard_drop(g, commit);
    }
    return 1;
}

/* ---- commit --------------------------------------------------------------------- */

/* A signature from options[name_field], options[email_field], else the
 * repository's user.name/user.email, else ferry's own. [-0, +0, e] */
static git_signature *signature_make(lua_State *L, git_repository *repo, struct guard *g,
                                     int options, const char *name_field, const char *email_field)
{
    const char *name = ferry_opt_string(L, options, "git", name_field);
    const char *email = ferry_opt_string(L, options, "git", email_field);
    git_signature *signature = NULL;
    int error;
    if (name && email) {
        error = git_signature_now(&signature, name, email);
    } else {
        error = git_signature_default(&signature, repo);
        if (error == GIT_ENOTFOUND)
            error = git_signature_now(&signature, name ? name : "ferry",
                                      email ? email : "ferry@localhost");
    }
    guard_keep(g, signature, release_signature);
    if (error < 0)
        git_raise(L, error, "bad %s signature", name_field);
    return signature;
}

/* handle:commit(message, {author_name, author_email, committer_name,
 * committer_email, all, allow_empty}) -> id | nil when there is nothing to
 * commit. all stages every change in the work tree first (git add -A).
 * [-2, +1, e] */
static int repo_commit(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *message = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int all = ferry_opt_boolean(L, 3, "all");
    int allow_empty = ferry_opt_boolean(L, 3, "allow_empty");
    struct guard *g = guard_push(L);
    git_signature *author = signature_make(L, repo, g, 3, "author_name", "author_email");
    git_signature *committer = signature_make(L, repo, g, 3, "committer_name", "committer_email");
    git_index *index = NULL;
    int error = git_repository_index(&index, repo);
    guard_keep(g, index, release_index);
    if (error >= 0)
        error = git_index_read(index, 0);
    if (error >= 0 && all) {
        error = git_index_add_all(index, NULL, GIT_INDEX_ADD_DEFAULT, NULL, NULL);
        if (error >= 0)
            error = git_index_update_all(index, NULL, NULL, NULL);
        if (error >= 0)
            error = git_index_write(index);
    }
    if (error < 0)
        git_raise(L, error, "cannot stage the changes");
    if (git_index_has_conflicts(index))
        git_raise_reason(L, "unmerged", "cannot commit: the index has unresolved conflicts");
    git_oid tree_id, parent_id, commit_id;
    error = git_index_write_tree(&tree_id, index);
    if (error < 0)
        git_raise(L, error, "cannot write the tree");
    git_commit *parent = NULL;
    error = git_reference_name_to_id(&parent_id, repo, "HEAD");
    if (error >= 0) {
        error = git_commit_lookup(&parent, repo, &parent_id);
        guard_keep(g, parent, release_commit);
        if (error < 0)
            git_raise(L, error, "cannot read HEAD");
        if (!allow_empty && git_oid_equal(&tree_id, git_commit_tree_id(parent))) {
            lua_pushnil(L);
            return 1;
        }
    } else if (error == GIT_ENOTFOUND || error == GIT_EUNBORNBRANCH) {
        if (!allow_empty && git_index_entrycount(index) == 0) {
            lua_pushnil(L);
            return 1;
        }
    } else {
        git_raise(L, error, "cannot read HEAD");
    }
    git_tree *tree = NULL;
    error = git_tree_lookup(&tree, repo, &tree_id);
    guard_keep(g, tree, release_tree);
    if (error >= 0)
        error = git_message_prettify(&g->buf, message, 0, '#');
    if (error < 0)
        git_raise(L, error, "cannot commit");
    const git_commit *parents[1] = {parent};
    error = git_commit_create(&commit_id, repo, "HEAD", author, committer, NULL, g->buf.ptr, tree,
                              parent ? 1 : 0, parents);
    if (error < 0)
        git_raise(L, error, "cannot commit");
    oid_push(L, &commit_id);
    return 1;
}

/* ---- checkout ------------------------------------------------------------------- */

struct checkout_conflicts {
    char paths[256];
    int count;
};

/* libgit2 calls this for each path that blocks the checkout: remember a few. */
static int on_checkout_conflict(git_checkout_notify_t why, const char *path, const git_diff_file *baseline,
                                const git_diff_file *target, const git_diff_file *workdir,
                                void *payload)
{
    (void)why, (void)baseline, (void)target, (void)workdir;
    struct checkout_conflicts *c = payload;
    size_t used = strlen(c->paths);
    if (c->count++ < 5 && used + strlen(path) + 3 < sizeof c->paths)
        snprintf(c->paths + used, sizeof c->paths - used, "%s%s", used ? ", " : "", path);
    return 0;
}

/* Checks out commit's tree into the work tree and index. [-0, +0, e] */
static void tree_checkout(lua_State *L, git_repository *repo, const git_object *commit,
                          const char *ref, int force)
{
    struct checkout_conflicts conflicts = {{0}, 0};
    git_checkout_options options;
    git_checkout_options_init(&options, GIT_CHECKOUT_OPTIONS_VERSION);
    options.checkout_strategy = force ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE;
    options.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT;
    options.notify_cb = on_checkout_conflict;
    options.notify_payload = &conflicts;
    int error = git_checkout_tree(repo, commit, &options);
    if (error == GIT_ECONFLICT || (error < 0 && conflicts.count > 0))
        git_raise_reason(L, "conflict",
                         "cannot check out %s: local changes to %s would be overwritten "
                         "(commit them, or check out with force = true to drop them)",
                         ref, conflicts.count ? conflicts.paths : "some files");
    if (error < 0)
        git_raise(L, error, "cannot check out %s", ref);
}

/* Makes branch track refs/remotes/<remote>/<name> (branch.<name>.remote
 * and .merge), as git_branch_set_upstream would without its leaky remote
 * listing. [-0, +0, e] */
static void upstream_set(lua_State *L, git_repository *repo, struct guard *g, const char *branch,
                         const char *tracked)
{
    const char *remote = tracked + strlen("refs/remotes/");
    const char *slash = strchr(remote, '/');
    git_config *config = NULL;
    int error = git_repository_config(&config, repo);
    guard_keep(g, config, release_config);
    if (error >= 0)
        error = git_config_set_string(config, lua_pushfstring(L, "branch.%s.remote", branch),
                                      lua_pushlstring(L, remote, (size_t)(slash - remote)));
    if (error >= 0)
        error = git_config_set_string(config, lua_pushfstring(L, "branch.%s.merge", branch),
                                      lua_pushfstring(L, "refs/heads/%s", slash + 1));
    if (error < 0)
        git_raise(L, error, "cannot make branch '%s' track %s", branch, tracked);
}

/* handle:checkout(ref, force, create) -> id, branch.
 * ref is a local branch (switched to), a branch of a remote not yet local
 * (a local branch tracking it is made), or any revision (detached HEAD).
 * create makes a new branch named ref at HEAD. [-3, +2, e] */
static int repo_checkout(lua_State *L)
{
    git_repository *repo = repo_check(L, 1);
    const char *ref = luaL_checkstring(L, 2);
    int force = lua_toboolean(L, 3);
    int create = lua_toboolean(L, 4);
    workdir_check(L, repo);
    struct guard *g = guard_push(L);
    git_reference *branch = NULL;
    git_object *commit = NULL;
    int error;
    if (create) {
        error = git_revparse_single(&commit, repo, "HEAD^{commit}");
        guard_keep(g, commit, release_object);
        if (error < 0)
            git_raise(L, error, "cannot create branch '%s' at HEAD", ref);
        error = git_branch_create(&branch, repo, ref, (git_commit *)commit, 0);
        guard_keep(g, branch, release_reference);
        if (error < 0)
            git_raise(L, error, "cannot create branch '%s'", ref);
    } else if ((error = git_branch_lookup(&branch, repo, ref, GIT_BRANCH_LOCAL)) == 0) {
        guard_keep(g, branch, release_reference);
        error = git_reference_peel(&commit, branch, GIT_OBJECT_COMMIT);
        guard_keep(g, commit, release_object);
        if (error < 0)
            git_raise(L, error, "cannot check out %s", ref);
        tree_checkout(L, repo, commit, ref, force);
    } else {
        /* refs/remotes/<remote>/<ref>, found without git_remote_list (see repo_remote) */
        git_reference_iterator *refs = NULL;
        git_reference *tracked = NULL;
        if (git_reference_iterator_glob_new(&refs, repo, lua_pushfstring(L, "refs/remotes/*/%s", ref)) == 0) {
            guard_keep(g, refs, release_reference_iterator);
            git_reference *candidate = NULL;
            while (!tracked && git_reference_next(&candidate, refs) == 0) {
                const char *remote = git_reference_name(candidate) + strlen("refs/remotes/");
                if (strlen(remote) == strlen(ref) + 1 + (size_t)(strchr(remote, '/') - remote))
                    tracked = candidate;
                else
                    git_reference_free(candidate);
            }
            guard_drop(g, refs);
        }
        guard_keep(g, tracked, release_reference);
        if (tracked)
            error = git_reference_peel(&commit, tracked, GIT_OBJECT_COMMIT);
        else
            error = git_revparse_single(&commit, repo, lua_pushfstring(L, "%s^{commit}", ref));
        guard_keep(g, commit, release_object);
        if (error == GIT_ENOTFOUND || error == GIT_EINVALIDSPEC || error == GIT_EAMBIGUOUS)
            git_raise_reason(L, error == GIT_EAMBIGUOUS ? "ambiguous" : "NotFound",
                             "cannot check out %s: no branch, tag or commit of that name", ref);
        if (error < 0)
            git_raise(L, error, "cannot check out %s", ref);
        tree_checkout(L, repo, commit, ref, force);
        if (tracked) {
            error = git_branch_create(&branch, repo, ref, (git_commit *)commit, 0);
            guard_keep(g, branch, release_reference);
            if (error < 0)
                git_raise(L, error, "cannot create branch '%s'", ref);
            upstream_set(L, repo, g, ref, git_reference_name(tracked));
        }
    }
    if (branch)
        error = git_repository_set_head(repo, git_reference_name(branch));
    else
        error = git_repository_set_head_detached(repo, git_object_id(commit));
    if (error < 0)
        git_raise(L, error, "cannot move HEAD to %s", ref);
    head_push(L, repo, g);
    return 2;
}

/* ---- network operations: the work a thread does ------------------------------- */

enum work_kind { WORK_CLONE, WORK_FETCH, WORK_PUSH };

struct host_key {
    unsigned char *blob; /* the key as known_hosts has it, base64-decoded */
    size_t length;
};

struct ref_update {
    char *name;
    char old_id[GIT_OID_HEXSZ + 1], new_id[GIT_OID_HEXSZ + 1];
};

#define SECRETS_MAX 4

/* Everything one clone, fetch or push needs and produces, in C memory: the
 * worker thread reads and writes nothing else. */
struct git_work {
    enum work_kind kind;
    struct loop_job *job; /* set by the worker when it starts */
    char *url;            /* the remote's URL */
    char *safe_url;       /* the remote without credentials, for messages */
    char *dir;            /* clone: where to; fetch, push: the repository */
    char *remote;         /* fetch, push: remote name */
    char *branch;         /* clone: branch to check out */
    char *refspec;        /* push */
    char *fetchspec;      /* fetch, push: the remote's fetch refspec */
    int bare;
    int depth;
    /* credentials */
    char *username, *token;
    char *identity, *identity_file, *public_key_file, *passphrase;
    int agent;
    struct host_key *host_keys;
    size_t host_key_count;
    char *known_hosts_source;
    char *secrets[SECRETS_MAX]; /* never in a message: replaced by *** */
    int secret_attempts;
    /* outcome */
    int error;
    char *message;
    char reason[640];
    const char *reason_code;
    char remote_said[256]; /* the last line the server sent on its side band */
    struct ref_update *updates;
    size_t update_count, update_capacity;
};

static void string_free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void work_free(void *data)
{
    struct git_work *w = data;
    if (!w)
        return;
    free(w->url);
    free(w->safe_url);
    free(w->dir);
    free(w->remote);
    free(w->branch);
    free(w->refspec);
    free(w->fetchspec);
    free(w->username);
    string_free_secret(w->token);
    string_free_secret(w->identity);
    free(w->identity_file);
    free(w->public_key_file);
    string_free_secret(w->passphrase);
    for (size_t i = 0; i < w->host_key_count; i++)
        free(w->host_keys[i].blob);
    free(w->host_keys);
    free(w->known_hosts_source);
    for (int i = 0; i < SECRETS_MAX; i++)
        string_free_secret(w->secrets[i]);
    free(w->message);
    for (size_t i = 0; i < w->update_count; i++)
        free(w->updates[i].name);
    free(w->updates);
    free(w);
}

/* A copy of text with every secret replaced by "***" (NULL when out of memory). */
static char *secrets_scrub(const struct git_work *w, const char *text)
{
    char *out = strdup(text);
    for (int i = 0; out && i < SECRETS_MAX; i++) {
        const char *secret = w->secrets[i];
        if (!secret || strlen(secret) < 4)
            continue;
        char *at;
        while (out && (at = strstr(out, secret))) {
            size_t before = (size_t)(at - out), skip = strlen(secret), rest = strlen(at + skip);
            char *next = malloc(before + 3 + rest + 1);
            if (next) {
                memcpy(next, out, before);
                memcpy(next + before, "***", 3);
                memcpy(next + before + 3, at + skip, rest + 1);
            }
            free(out);
            out = next;
        }
    }
    return out;
}

static void reason_set(struct git_work *w, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reason_set(struct git_work *w, const char *code, const char *fmt, ...)
{
    if (w->reason_code)
        return; /* the first reason is the real one */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->reason, sizeof w->reason, fmt, ap);
    va_end(ap);
    w->reason_code = code;
}

static int work_cancelled(struct git_work *w)
{
    if (!loop_job_cancelled(w->job))
        return 0;
    reason_set(w, "cancelled", "cancelled");
    return 1;
}

/* ---- libgit2 callbacks (worker thread: no Lua) ---- */

static int on_credentials(git_credential **out, const char *url, const char *username_from_url,
                          unsigned int allowed, void *payload)
{
    (void)url;
    struct git_work *w = payload;
    if (work_cancelled(w))
        return GIT_EUSER;
    const char *user = w->username         ? w->username
                       : username_from_url ? username_from_url
                                           : "git";
    if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
        if (!w->token) {
            reason_set(w, "auth",
                       "authentication required, and no token was given "
                       "(auth = {username = ..., token = ...}, or GIT_TOKEN)");
            return GIT_EAUTH;
        }
        if (w->secret_attempts++ > 0) {
            reason_set(w, "auth", "authentication refused for user '%s' (wrong token, or no access)",
                       user);
            return GIT_EAUTH;
        }
        return git_credential_userpass_plaintext_new(out, user, w->token);
    }
    if (allowed & (GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_SSH_MEMORY)) {
        if (w->secret_attempts++ > 0) {
            reason_set(w, "auth", "the SSH server refused the key of user '%s' (%s)", user,
                       w->identity        ? "identity given as text"
                       : w->identity_file ? w->identity_file
                                          : "keys of the ssh-agent");
            return GIT_EAUTH;
        }
        if (w->identity && (allowed & GIT_CREDENTIAL_SSH_MEMORY))
            return git_credential_ssh_key_memory_new(out, user, NULL, w->identity, w->passphrase);
        if (w->identity_file)
            return git_credential_ssh_key_new(out, user, w->public_key_file, w->identity_file,
                                              w->passphrase);
        if (w->agent)
            return git_credential_ssh_key_from_agent(out, user);
        reason_set(w, "auth",
                   "no SSH key: give auth.identity or auth.identity_file, or run an ssh-agent");
        return GIT_EAUTH;
    }
    if (allowed & GIT_CREDENTIAL_USERNAME)
        return git_credential_username_new(out, user);
    reason_set(w, "auth", "the server asks for a kind of authentication ferry does not offer");
    return GIT_EAUTH;
}

static const char *ssh_key_type(git_cert_ssh_raw_type_t type)
{
    switch (type) {
    case GIT_CERT_SSH_RAW_TYPE_RSA:
        return "ssh-rsa";
    case GIT_CERT_SSH_RAW_TYPE_DSS:
        return "ssh-dss";
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
        return "ecdsa-sha2-nistp256";
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
        return "ecdsa-sha2-nistp384";
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
        return "ecdsa-sha2-nistp521";
    case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
        return "ssh-ed25519";
    default:
        return "unknown";
    }
}

/* "SHA256:<base64 without padding>", as ssh-keygen -l prints it. */
static void fingerprint_format(char *out, size_t size, const unsigned char hash[32])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (size_t)snprintf(out, size, "SHA256:");
    for (size_t i = 0; i < 32 && n + 5 < size; i += 3) {
        unsigned v = (unsigned)hash[i] << 16;
        if (i + 1 < 32)
            v |= (unsigned)hash[i + 1] << 8;
        if (i + 2 < 32)
            v |= hash[i + 2];
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        if (i + 1 < 32)
            out[n++] = alphabet[(v >> 6) & 63];
        if (i + 2 < 32)
            out[n++] = alphabet[v & 63];
    }
    out[n] = '\0';
}

/* SSH: trust the host key only if it is one of the keys lua/git.lua found
 * for this host in known_hosts. HTTPS: libgit2 and the TLS library decide. */
static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
    struct git_work *w = payload;
    if (work_cancelled(w))
        return GIT_EUSER;
    if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
        const git_cert_hostkey *key = (const git_cert_hostkey *)cert;
        if (key->type & GIT_CERT_SSH_RAW) {
            for (size_t i = 0; i < w->host_key_count; i++) {
                if (w->host_keys[i].length == key->hostkey_len &&
                    memcmp(w->host_keys[i].blob, key->hostkey, key->hostkey_len) == 0)
                    return 0;
            }
        }
        char fingerprint[64] = "";
        if (key->type & GIT_CERT_SSH_SHA256)
            fingerprint_format(fingerprint, sizeof fingerprint, key->hash_sha256);
        reason_set(w, "host_key", "the SSH host key of %s (%s %s) is not trusted: %s", host,
                   (key->type & GIT_CERT_SSH_RAW) ? ssh_key_type(key->raw_type) : "key", fingerprint,
                   w->known_hosts_source ? w->known_hosts_source : "no known_hosts entry");
        return GIT_ECERTIFICATE;
    }
    if (valid)
        return 0;
    reason_set(w, "certificate", "the TLS certificate of %s is not valid (untrusted, expired, or for another name)",
               host);
    return GIT_ECERTIFICATE;
}

static int on_transfer_progress(const git_indexer_progress *stats, void *payload)
{
    (void)stats;
    return work_cancelled(payload) ? GIT_EUSER : 0;
}

static int on_push_progress(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
    (void)current, (void)total, (void)bytes;
    return work_cancelled(payload) ? GIT_EUSER : 0;
}

static int on_pack_progress(int stage, uint32_t current, uint32_t total, void *payload)
{
    (void)stage, (void)current, (void)total;
    return work_cancelled(payload) ? GIT_EUSER : 0;
}

/* Keeps the last line the server printed ("remote: ..."): hooks explain
 * rejections there. */
static int on_sideband(const char *text, int length, void *payload)
{
    struct git_work *w = payload;
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r'))
        length--;
    int start = length;
    while (start > 0 && text[start - 1] != '\n' && text[start - 1] != '\r')
        start--;
    if (length > start)
        snprintf(w->remote_said, sizeof w->remote_said, "%.*s", length - start, text + start);
    return work_cancelled(w) ? GIT_EUSER : 0;
}

static int on_update_tips(const char *refname, const git_oid *old_id, const git_oid *new_id, void *payload)
{
    struct git_work *w = payload;
    if (w->update_count == w->update_capacity) {
        size_t capacity = w->update_capacity ? 2 * w->update_capacity : 8;
        struct ref_update *grown = realloc(w->updates, capacity * sizeof *grown);
        if (!grown)
            return 0; /* the list is a report; the update itself went through */
        w->updates = grown;
        w->update_capacity = capacity;
    }
    struct ref_update *u = &w->updates[w->update_count];
    if (!(u->name = strdup(refname)))
        return 0;
    git_oid_tostr(u->old_id, sizeof u->old_id, old_id);
    git_oid_tostr(u->new_id, sizeof u->new_id, new_id);
    w->update_count++;
    return 0;
}

static int on_push_update_reference(const char *refname, const char *status, void *payload)
{
    struct git_work *w = payload;
    if (status)
        reason_set(w, "rejected", "the remote rejected %s: %s%s%s", refname, status,
                   w->remote_said[0] ? "; it said: " : "", w->remote_said);
    return 0;
}

static void callbacks_set(git_remote_callbacks *callbacks, struct git_work *w)
{
    callbacks->credentials = on_credentials;
    callbacks->certificate_check = on_certificate;
    callbacks->transfer_progress = on_transfer_progress;
    callbacks->sideband_progress = on_sideband;
    callbacks->update_tips = on_update_tips;
    callbacks->pack_progress = on_pack_progress;
    callbacks->push_transfer_progress = on_push_progress;
    callbacks->push_update_reference = on_push_update_reference;
    callbacks->payload = w;
}

/* Records the outcome of the libgit2 call that returned error. */
static void work_record(struct git_work *w, int error)
{
    if (error >= 0 && !w->reason_code)
        return;
    w->error = error < 0 ? error : GIT_ERROR;
    const git_error *last = git_error_last();
    if (error < 0 && last && last->message && last->message[0])
        w->message = secrets_scrub(w, last->message);
    /* libgit2 1.5 reports HTTP refusals only as "unexpected http status code" */
    const char *status = w->message ? strstr(w->message, "http status code: ") : NULL;
    if (status && !w->reason_code) {
        int code = atoi(status + strlen("http status code: "));
        if (code == 401)
            reason_set(w, "auth", "authentication refused (HTTP 401)");
        else if (code == 403)
            reason_set(w, "forbidden", "the server refused access (HTTP 403: no %s access)",
                       w->kind == WORK_PUSH ? "write" : "read");
        else if (code == 404)
            reason_set(w, "NotFound", "no repository there (HTTP 404)");
    }
}

/* The origin of a clone, made without libgit2 1.5's leaky insteadOf scan. */
static int clone_remote_create(git_remote **out, git_repository *repo, const char *name,
                               const char *url, void *payload)
{
    (void)payload;
    git_remote_create_options options;
    git_remote_create_options_init(&options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    options.repository = repo;
    options.name = name;
    options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
    return git_remote_create_with_opts(out, url, &options);
}

static void work_clone(struct git_work *w)
{
    git_clone_options options;
    git_clone_options_init(&options, GIT_CLONE_OPTIONS_VERSION);
    callbacks_set(&options.fetch_opts.callbacks, w);
    options.fetch_opts.proxy_opts.type = GIT_PROXY_AUTO;
    options.checkout_branch = w->branch;
    options.remote_cb = clone_remote_create;
    options.bare = w->bare;
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
    options.fetch_opts.depth = w->depth;
#endif
    git_repository *repo = NULL;
    int error = git_clone(&repo, w->url, w->dir, &options);
    work_record(w, error);
    git_repository_free(repo);
}

static void work_fetch_or_push(struct git_work *w)
{
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    int error = git_repository_open(&repo, w->dir);
    if (error >= 0) {
        /* An in-memory remote with the configured URL and refspec (see repo_remote) */
        git_remote_create_options options;
        git_remote_create_options_init(&options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
        options.repository = repo;
        options.fetchspec = w->fetchspec;
        options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
        error = git_remote_create_with_opts(&remote, w->url, &options);
    }
    if (error >= 0 && w->kind == WORK_FETCH) {
        git_fetch_options options;
        git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
        callbacks_set(&options.callbacks, w);
        options.proxy_opts.type = GIT_PROXY_AUTO;
        error = git_remote_fetch(remote, NULL, &options, NULL);
    } else if (error >= 0) {
        git_push_options options;
        git_push_options_init(&options, GIT_PUSH_OPTIONS_VERSION);
        callbacks_set(&options.callbacks, w);
        options.proxy_opts.type = GIT_PROXY_AUTO;
        char *refspecs[1] = {w->refspec};
        git_strarray specs = {refspecs, 1};
        error = git_remote_push(remote, &specs, &options);
    }
    work_record(w, error);
    git_remote_free(remote);
    git_repository_free(repo);
}

static void work_run(struct loop_job *job, void *data)
{
    struct git_work *w = data;
    w->job = job;
    if (w->kind == WORK_CLONE)
        work_clone(w);
    else
        work_fetch_or_push(w);
}

/* ---- the op Lua waits on ---- */

struct git_op {
    struct loop_op op;     /* first: the scheduler waits on it */
    struct loop_job *job;  /* running or finished job; NULL before the start and once closed */
    struct git_work *work; /* the job's data (owned by the op only before the start) */
};

static void op_done(void *owner)
{
    struct git_op *o = owner;
    loop_op_ready(&o->op);
}

/* __gc, __close and cancel: stops a running job (waiting a little for its
 * cleanup) and frees everything; safe to call twice. [-0, +0, -] */
static int op_close(lua_State *L)
{
    struct git_op *o = luaL_checkudata(L, 1, OP_METATABLE);
    if (o->job) {
        loop_job_cancel(o->job, loop_job_finished(o->job) ? 0 : CANCEL_WAIT_SECONDS);
        o->job = NULL;
    } else {
        work_free(o->work);
    }
    o->work = NULL;
    loop_op_unready(&o->op);
    return 0;
}

/* strdup of options[name] (a string or nil); raises on other types. [-0, +0, e] */
static char *opt_copy(lua_State *L, int options, const char *name)
{
    const char *value = ferry_opt_string(L, options, "git", name);
    if (!value)
        return NULL;
    char *copy = strdup(value);
    if (!copy)
        luaL_error(L, "out of memory");
    return copy;
}

/* Reads the credentials, trusted host keys and secrets of options into w.
 * [-0, +0, e] */
static void work_credentials_read(lua_State *L, struct git_work *w, int options)
{
    w->safe_url = opt_copy(L, options, "safe_url");
    w->username = opt_copy(L, options, "username");
    w->token = opt_copy(L, options, "token");
    w->identity = opt_copy(L, options, "identity");
    w->identity_file = opt_copy(L, options, "identity_file");
    w->public_key_file = opt_copy(L, options, "public_key_file");
    w->passphrase = opt_copy(L, options, "passphrase");
    w->known_hosts_source = opt_copy(L, options, "known_hosts_source");
    w->agent = ferry_opt_boolean(L, options, "agent");
    if (lua_getfield(L, options, "host_keys") == LUA_TTABLE) {
        size_t count = (size_t)luaL_len(L, -1);
        if (count > 0 && !(w->host_keys = calloc(count, sizeof *w->host_keys)))
            luaL_error(L, "out of memory");
        for (size_t i = 0; i < count; i++) {
            lua_geti(L, -1, (lua_Integer)i + 1);
            size_t length;
            const char *blob = luaL_checklstring(L, -1, &length);
            if (!(w->host_keys[i].blob = malloc(length ? length : 1)))
                luaL_error(L, "out of memory");
            memcpy(w->host_keys[i].blob, blob, length);
            w->host_keys[i].length = length;
            w->host_key_count = i + 1;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    const char *secrets[] = {w->token, w->passphrase, ferry_opt_string(L, options, "git", "url_secret"), NULL};
    for (int i = 0, n = 0; i < 3; i++) {
        if (secrets[i] && !(w->secrets[n++] = strdup(secrets[i])))
            luaL_error(L, "out of memory");
    }
}

/* Pushes a new op holding an empty work of the given kind. [-0, +1, m] */
static struct git_op *op_push(lua_State *L, enum work_kind kind)
{
    struct git_op *o = lua_newuserdatauv(L, sizeof *o, 0);
    memset(o, 0, sizeof *o);
    luaL_setmetatable(L, OP_METATABLE);
    loop_op_init(&o->op, ferry_loop_get(L));
    if (!(o->work = calloc(1, sizeof *o->work)))
        luaL_error(L, "out of memory");
    o->work->kind = kind;
    return o;
}

/* Starts the op's job; the op must be at the top of the stack. [-0, +0, e] */
static void op_start(lua_State *L, struct git_op *o)
{
    loop_op_register(L, -1, &o->op);
    o->job = loop_job_start(o->op.loop, work_run, op_done, work_free, o->work, o);
    if (!o->job)
        git_raise_reason(L, "error", "cannot start a thread for git: %s", strerror(errno));
}

/* git.clone(url, dir, {branch, bare, depth, credentials...}) -> op. [-3, +1, e] */
static int git_clone_start(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    struct git_op *o = op_push(L, WORK_CLONE);
    struct git_work *w = o->work;
    if (!(w->url = strdup(url)) || !(w->dir = strdup(dir)))
        luaL_error(L, "out of memory");
    w->branch = opt_copy(L, 3, "branch");
    w->bare = ferry_opt_boolean(L, 3, "bare");
    lua_getfield(L, 3, "depth");
    w->depth = (int)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    work_credentials_read(L, w, 3);
    op_start(L, o);
    return 1;
}

/* handle:fetch(remote, {url, fetchspec, credentials...}) and
 * handle:push(remote, refspec, {url, fetchspec, credentials...}) -> op.
 * url and fetchspec are what handle:remote(name) read. [-2|3, +1, e] */
static int repo_network_start(lua_State *L, enum work_kind kind)
{
    git_repository *repo = repo_check(L, 1);
    const char *remote = luaL_checkstring(L, 2);
    int options = kind == WORK_PUSH ? 4 : 3;
    const char *refspec = kind == WORK_PUSH ? luaL_checkstring(L, 3) : NULL;
    luaL_checktype(L, options, LUA_TTABLE);
    struct git_op *o = op_push(L, kind);
    struct git_work *w = o->work;
    if (!(w->dir = strdup(git_repository_path(repo))) || !(w->remote = strdup(remote)) ||
        (refspec && !(w->refspec = strdup(refspec))))
        luaL_error(L, "out of memory");
    w->url = opt_copy(L, options, "url");
    w->fetchspec = opt_copy(L, options, "fetchspec");
    if (!w->url)
        luaL_error(L, "git %s needs the remote's url", kind == WORK_PUSH ? "push" : "fetch");
    work_credentials_read(L, w, options);
    op_start(L, o);
    return 1;
}

static int repo_fetch(lua_State *L)
{
    return repo_network_start(L, WORK_FETCH);
}

static int repo_push(lua_State *L)
{
    return repo_network_start(L, WORK_PUSH);
}

/* op:finished() -> boolean. [-0, +1, -] */
static int op_finished(lua_State *L)
{
    struct git_op *o = luaL_checkudata(L, 1, OP_METATABLE);
    lua_pushboolean(L, !o->job || loop_job_finished(o->job));
    return 1;
}

/* op:result() -> list of {ref, old, new} updated, or raises the failure as
 * {kind="git", message, code, remote}. [-0, +1, e] */
static int op_result(lua_State *L)
{
    struct git_op *o = luaL_checkudata(L, 1, OP_METATABLE);
    if (!o->job)
        return luaL_error(L, "the git operation was closed or cancelled");
    if (!loop_job_finished(o->job))
        return luaL_error(L, "the git operation has not finished");
    struct git_work *w = o->work;
    static const char *const verbs[] = {"clone", "fetch", "push"};
    const char *where = w->safe_url ? w->safe_url : w->remote ? w->remote : "";
    if (w->error || w->reason_code) {
        const char *reason = w->reason_code ? w->reason : w->message ? w->message : "unknown error";
        ferry_error_push(L, "git", "%s %s: %s", verbs[w->kind], where, reason);
        ferry_error_set_string(L, "reason", w->reason_code ? w->reason_code : code_name(w->error));
        ferry_error_set_string(L, "remote", where);
        ferry_error_set_string(L, "op", verbs[w->kind]);
        return lua_error(L);
    }
    lua_createtable(L, (int)w->update_count, 0);
    for (size_t i = 0; i < w->update_count; i++) {
        lua_createtable(L, 0, 3);
        field_set_string(L, "ref", w->updates[i].name);
        field_set_string(L, "old", w->updates[i].old_id);
        field_set_string(L, "new", w->updates[i].new_id);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
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
    {"path", repo_path},
    {"head", repo_head},
    {"remote", repo_remote},
    {"set_remote", repo_set_remote},
    {"read_file", repo_read_file},
    {"read_rev", repo_read_rev},
    {"write", repo_write},
    {"remove", repo_remove},
    {"status", repo_status},
    {"diff", repo_diff},
    {"log", repo_log},
    {"commit", repo_commit},
    {"checkout", repo_checkout},
    {"fetch", repo_fetch},
    {"push", repo_push},
    {"close", repo_close},
    {"__gc", repo_close},
    {"__close", repo_close},
    {NULL, NULL},
};

static const luaL_Reg op_methods[] = {
    {"finished", op_finished},
    {"result", op_result},
    {"cancel", op_close},
    {"__gc", op_close},
    {"__close", op_close},
    {NULL, NULL},
};

static const luaL_Reg git_functions[] = {
    {"open", git_open},
    {"init", git_init},
    {"clone", git_clone_start},
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
    metatable_make(L, GUARD_METATABLE, guard_methods);
    metatable_make(L, REPO_METATABLE, repo_methods);
    metatable_make(L, OP_METATABLE, op_methods);
    ferry_error_init(L);
    luaL_newlib(L, git_functions);
    return 1;
}
