/* require "ferry.git", the local repository: open, init, remotes in the
 * configuration, the index, reading a revision, status, diff, log, commit,
 * checkout. Everything here runs on the caller's thread and touches only the
 * disk; the files of the work tree are lua/git.lua's, through ferry.sys. */
#include <git2.h>
#include <lauxlib.h>
#include <string.h>

#include "core/options.h"
#include "mod/git.h"

/* ---- the repository handle ---- */

git_repository *ferry_git_repo_check(lua_State *L, int idx)
{
    struct repo_handle *h = luaL_checkudata(L, idx, FERRY_GIT_REPOSITORY_METATABLE);
    if (!h->repo)
        luaL_error(L, "attempt to use a closed repository");
    return h->repo;
}

/* Frees the repository; safe to call twice. [-0, +0, -] */
int ferry_git_repo_close(lua_State *L)
{
    struct repo_handle *h = luaL_checkudata(L, 1, FERRY_GIT_REPOSITORY_METATABLE);
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
    luaL_setmetatable(L, FERRY_GIT_REPOSITORY_METATABLE);
    return h;
}

/* git.open(dir) -> handle. Only dir itself, no search upwards. [-1, +1, e] */
int ferry_git_open(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    struct repo_handle *h = repo_handle_push(L);
    int error = git_repository_open_ext(&h->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (error < 0)
        ferry_git_raise(L, error, "cannot open the repository in %s", dir);
    return 1;
}

/* git.init(dir, bare, initial_branch) -> handle. [-3, +1, e] */
int ferry_git_init(lua_State *L)
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
        ferry_git_raise(L, error, "cannot create a repository in %s", dir);
    return 1;
}

/* handle:path() -> work tree (with a trailing /), or the git dir of a bare
 * repository; bare. [-0, +2, m] */
int ferry_git_repo_path(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
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
    ferry_git_guard_keep(g, head, release_reference);
    if (error == GIT_EUNBORNBRANCH || error == GIT_ENOTFOUND) {
        git_reference *symbolic = NULL;
        error = git_reference_lookup(&symbolic, repo, "HEAD");
        ferry_git_guard_keep(g, symbolic, release_reference);
        if (error < 0)
            ferry_git_raise(L, error, "cannot read HEAD");
        const char *target = git_reference_symbolic_target(symbolic);
        lua_pushnil(L);
        if (target && strncmp(target, "refs/heads/", 11) == 0)
            lua_pushstring(L, target + 11);
        else
            lua_pushnil(L);
        return;
    }
    if (error < 0)
        ferry_git_raise(L, error, "cannot read HEAD");
    ferry_git_oid_push(L, git_reference_target(head));
    if (git_reference_is_branch(head))
        lua_pushstring(L, git_reference_shorthand(head));
    else
        lua_pushnil(L);
}

/* handle:head() -> id | nil, branch | nil. [-0, +2, e] */
int ferry_git_repo_head(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    struct guard *g = ferry_git_guard_push(L);
    head_push(L, repo, g);
    return 2;
}

/* handle:remote(name) -> url, push url | nil, fetch refspec | nil; or nil
 * if there is no such remote. Read from the configuration directly, not
 * with git_remote_lookup: libgit2 1.5 leaks memory on every lookup (its
 * url.*.insteadOf scan), and ferry leaves insteadOf aside anyway. [-1, +3, e] */
int ferry_git_repo_remote(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *name = luaL_checkstring(L, 2);
    struct guard *g = ferry_git_guard_push(L);
    git_config *config = NULL;
    int error = git_repository_config_snapshot(&config, repo);
    ferry_git_guard_keep(g, config, release_config);
    if (error < 0)
        ferry_git_raise(L, error, "cannot read the configuration of %s", git_repository_path(repo));
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
            ferry_git_raise(L, error, "cannot read remote '%s'", name);
        if (value)
            lua_pushstring(L, value);
        else
            lua_pushnil(L);
    }
    return 3;
}

/* handle:set_remote(name, url): adds the remote, or changes its URL. [-2, +0, e] */
int ferry_git_repo_set_remote(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    struct guard *g = ferry_git_guard_push(L);
    git_config *config = NULL;
    int error = git_repository_config_snapshot(&config, repo);
    ferry_git_guard_keep(g, config, release_config);
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
        ferry_git_raise(L, error, "cannot set remote '%s'", name);
    return 0;
}


/* ---- the index ---- */

static const char *workdir_check(lua_State *L, git_repository *repo)
{
    const char *workdir = git_repository_workdir(repo);
    if (!workdir)
        ferry_git_raise_reason(L, "bare", "the repository in %s is bare: it has no work tree",
                               git_repository_path(repo));
    return workdir;
}

/* The repository's index as it is on disk now, held by g. [-0, +0, e] */
static git_index *index_open(lua_State *L, git_repository *repo, struct guard *g)
{
    git_index *index = NULL;
    int error = git_repository_index(&index, repo);
    ferry_git_guard_keep(g, index, release_index);
    if (error >= 0)
        error = git_index_read(index, 0);
    if (error < 0)
        ferry_git_raise(L, error, "cannot read the index");
    return index;
}

/* handle:stage(path, removed): records in the index what lua/git.lua did to
 * path in the work tree: written (added or updated), or removed (a file, or
 * a directory and all under it). [-3, +0, e] */
int ferry_git_repo_stage(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    int removed = lua_toboolean(L, 3);
    workdir_check(L, repo);
    struct guard *g = ferry_git_guard_push(L);
    git_index *index = index_open(L, repo, g);
    int error;
    if (removed) {
        /* the path is a file or a directory: whichever it is, the other finds nothing */
        error = git_index_remove_bypath(index, path);
        if (error >= 0)
            error = git_index_remove_directory(index, path, 0);
    } else {
        error = git_index_add_bypath(index, path);
    }
    if (error >= 0)
        error = git_index_write(index);
    if (error < 0)
        ferry_git_raise(L, error, "cannot update the index for %s", path);
    return 0;
}

/* handle:tracked(path) -> boolean: the index holds path, or files under it. [-2, +1, e] */
int ferry_git_repo_tracked(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    struct guard *g = ferry_git_guard_push(L);
    git_index *index = index_open(L, repo, g);
    size_t position;
    lua_pushboolean(L, git_index_find(&position, index, path) == 0 ||
                           git_index_find_prefix(&position, index, lua_pushfstring(L, "%s/", path)) == 0);
    return 1;
}

/* handle:read_rev(path, rev) -> text of path in the commit rev names. [-2, +1, e] */
int ferry_git_repo_read_rev(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *rev = luaL_checkstring(L, 3);
    struct guard *g = ferry_git_guard_push(L);
    git_object *object = NULL, *tree = NULL, *blob = NULL;
    git_tree_entry *entry = NULL;
    int error = git_revparse_single(&object, repo, rev);
    ferry_git_guard_keep(g, object, release_object);
    if (error < 0)
        ferry_git_raise(L, error, "unknown revision '%s'", rev);
    error = git_object_peel(&tree, object, GIT_OBJECT_TREE);
    ferry_git_guard_keep(g, tree, release_object);
    if (error < 0)
        ferry_git_raise(L, error, "revision '%s' has no files", rev);
    error = git_tree_entry_bypath(&entry, (git_tree *)tree, path);
    ferry_git_guard_keep(g, entry, release_tree_entry);
    if (error == GIT_ENOTFOUND)
        ferry_git_raise_reason(L, "NotFound", "no file %s at %s", path, rev);
    if (error < 0)
        ferry_git_raise(L, error, "cannot read %s at %s", path, rev);
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
        ferry_git_raise_reason(L, "directory", "cannot read %s at %s: it is not a file", path, rev);
    error = git_tree_entry_to_object(&blob, repo, entry);
    ferry_git_guard_keep(g, blob, release_object);
    if (error < 0)
        ferry_git_raise(L, error, "cannot read %s at %s", path, rev);
    lua_pushlstring(L, git_blob_rawcontent((git_blob *)blob), (size_t)git_blob_rawsize((git_blob *)blob));
    return 1;
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

/* handle:status() -> list of {path, index, worktree, old_path, conflicted},
 * sorted by path. [-0, +1, e] */
int ferry_git_repo_status(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    workdir_check(L, repo);
    struct guard *g = ferry_git_guard_push(L);
    git_status_options options;
    git_status_options_init(&options, GIT_STATUS_OPTIONS_VERSION);
    options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
                    GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX | GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
    git_status_list *list = NULL;
    int error = git_status_list_new(&list, repo, &options);
    ferry_git_guard_keep(g, list, release_status_list);
    if (error < 0)
        ferry_git_raise(L, error, "cannot read the status of %s", git_repository_workdir(repo));
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
        ferry_git_field_set(L, "path", delta->new_file.path ? delta->new_file.path : delta->old_file.path);
        if (staged && (entry->status & GIT_STATUS_INDEX_RENAMED))
            ferry_git_field_set(L, "old_path", staged->old_file.path);
        ferry_git_field_set(L, "index", index_state(entry->status));
        ferry_git_field_set(L, "worktree", worktree_state(entry->status));
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
    ferry_git_guard_keep(g, object, release_object);
    if (!rev && (error == GIT_ENOTFOUND || error == GIT_EUNBORNBRANCH))
        return NULL;
    if (error < 0)
        ferry_git_raise(L, error, "unknown revision '%s'", rev ? rev : "HEAD");
    error = git_object_peel(&tree, object, GIT_OBJECT_TREE);
    ferry_git_guard_keep(g, tree, release_object);
    if (error < 0)
        ferry_git_raise(L, error, "revision '%s' has no files", rev ? rev : "HEAD");
    return (git_tree *)tree;
}

/* handle:diff(rev, staged) -> patch text, list of {path, status, old_path}.
 * Compares rev's tree (HEAD's by default) with the work tree and the index
 * (untracked files count as added), or with the index only when staged.
 * [-2, +2, e] */
int ferry_git_repo_diff(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *rev = luaL_optstring(L, 2, NULL);
    int staged = lua_toboolean(L, 3);
    struct guard *g = ferry_git_guard_push(L);
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
    ferry_git_guard_keep(g, diff, release_diff);
    if (error >= 0)
        error = git_diff_to_buf(&g->buf, diff, GIT_DIFF_FORMAT_PATCH);
    if (error < 0)
        ferry_git_raise(L, error, "cannot compute the diff");
    lua_pushlstring(L, g->buf.ptr ? g->buf.ptr : "", g->buf.size);
    size_t count = git_diff_num_deltas(diff);
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        const git_diff_delta *delta = git_diff_get_delta(diff, i);
        lua_createtable(L, 0, 3);
        ferry_git_field_set(L, "path", delta->new_file.path);
        if (delta->old_file.path && strcmp(delta->old_file.path, delta->new_file.path) != 0)
            ferry_git_field_set(L, "old_path", delta->old_file.path);
        ferry_git_field_set(L, "status", delta_state(delta->status));
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

static void signature_push(lua_State *L, const git_signature *signature)
{
    lua_createtable(L, 0, 4);
    ferry_git_field_set(L, "name", signature->name);
    ferry_git_field_set(L, "email", signature->email);
    lua_pushinteger(L, (lua_Integer)signature->when.time);
    lua_setfield(L, -2, "time");
    lua_pushinteger(L, signature->when.offset);
    lua_setfield(L, -2, "offset"); /* minutes east of UTC */
}

/* handle:log(n, rev) -> list of {id, summary, message, author, committer,
 * parents}, newest first; empty on an unborn branch. [-2, +1, e] */
int ferry_git_repo_log(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    lua_Integer limit = luaL_checkinteger(L, 2);
    const char *rev = luaL_optstring(L, 3, NULL);
    struct guard *g = ferry_git_guard_push(L);
    git_revwalk *walk = NULL;
    int error = git_revwalk_new(&walk, repo);
    ferry_git_guard_keep(g, walk, release_revwalk);
    if (error < 0)
        ferry_git_raise(L, error, "cannot read the history");
    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    lua_newtable(L);
    if (rev) {
        git_object *object = NULL, *commit = NULL;
        error = git_revparse_single(&object, repo, rev);
        ferry_git_guard_keep(g, object, release_object);
        if (error < 0)
            ferry_git_raise(L, error, "unknown revision '%s'", rev);
        error = git_object_peel(&commit, object, GIT_OBJECT_COMMIT);
        ferry_git_guard_keep(g, commit, release_object);
        if (error < 0)
            ferry_git_raise(L, error, "revision '%s' is not a commit", rev);
        error = git_revwalk_push(walk, git_object_id(commit));
    } else {
        if (git_repository_head_unborn(repo) == 1)
            return 1;
        error = git_revwalk_push_head(walk);
    }
    if (error < 0)
        ferry_git_raise(L, error, "cannot read the history from %s", rev ? rev : "HEAD");
    git_oid oid;
    for (lua_Integer n = 1; n <= limit; n++) {
        error = git_revwalk_next(&oid, walk);
        if (error == GIT_ITEROVER)
            break;
        git_commit *commit = NULL;
        if (error >= 0)
            error = git_commit_lookup(&commit, repo, &oid);
        ferry_git_guard_keep(g, commit, release_commit);
        if (error < 0)
            ferry_git_raise(L, error, "cannot read the history");
        lua_createtable(L, 0, 6);
        ferry_git_oid_push(L, &oid);
        lua_setfield(L, -2, "id");
        ferry_git_field_set(L, "summary", git_commit_summary(commit));
        ferry_git_field_set(L, "message", git_commit_message(commit));
        signature_push(L, git_commit_author(commit));
        lua_setfield(L, -2, "author");
        signature_push(L, git_commit_committer(commit));
        lua_setfield(L, -2, "committer");
        unsigned parents = git_commit_parentcount(commit);
        lua_createtable(L, (int)parents, 0);
        for (unsigned i = 0; i < parents; i++) {
            ferry_git_oid_push(L, git_commit_parent_id(commit, i));
            lua_seti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "parents");
        lua_seti(L, -2, n);
        ferry_git_guard_drop(g, commit);
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
    ferry_git_guard_keep(g, signature, release_signature);
    if (error < 0)
        ferry_git_raise(L, error, "bad %s signature", name_field);
    return signature;
}

/* handle:commit(message, {author_name, author_email, committer_name,
 * committer_email, all, allow_empty}) -> id | nil when there is nothing to
 * commit. all stages every change in the work tree first (git add -A).
 * [-2, +1, e] */
int ferry_git_repo_commit(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *message = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int all = ferry_opt_boolean(L, 3, "all");
    int allow_empty = ferry_opt_boolean(L, 3, "allow_empty");
    struct guard *g = ferry_git_guard_push(L);
    git_signature *author = signature_make(L, repo, g, 3, "author_name", "author_email");
    git_signature *committer = signature_make(L, repo, g, 3, "committer_name", "committer_email");
    git_index *index = index_open(L, repo, g);
    int error = 0;
    if (all) {
        error = git_index_add_all(index, NULL, GIT_INDEX_ADD_DEFAULT, NULL, NULL);
        if (error >= 0)
            error = git_index_update_all(index, NULL, NULL, NULL);
        if (error >= 0)
            error = git_index_write(index);
    }
    if (error < 0)
        ferry_git_raise(L, error, "cannot stage the changes");
    if (git_index_has_conflicts(index))
        ferry_git_raise_reason(L, "unmerged", "cannot commit: the index has unresolved conflicts");
    git_oid tree_id, parent_id, commit_id;
    error = git_index_write_tree(&tree_id, index);
    if (error < 0)
        ferry_git_raise(L, error, "cannot write the tree");
    git_commit *parent = NULL;
    error = git_reference_name_to_id(&parent_id, repo, "HEAD");
    if (error >= 0) {
        error = git_commit_lookup(&parent, repo, &parent_id);
        ferry_git_guard_keep(g, parent, release_commit);
        if (error < 0)
            ferry_git_raise(L, error, "cannot read HEAD");
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
        ferry_git_raise(L, error, "cannot read HEAD");
    }
    git_tree *tree = NULL;
    error = git_tree_lookup(&tree, repo, &tree_id);
    ferry_git_guard_keep(g, tree, release_tree);
    if (error >= 0)
        error = git_message_prettify(&g->buf, message, 0, '#');
    if (error < 0)
        ferry_git_raise(L, error, "cannot commit");
    const git_commit *parents[1] = {parent};
    error = git_commit_create(&commit_id, repo, "HEAD", author, committer, NULL, g->buf.ptr, tree,
                              parent ? 1 : 0, parents);
    if (error < 0)
        ferry_git_raise(L, error, "cannot commit");
    ferry_git_oid_push(L, &commit_id);
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
        ferry_git_raise_reason(L, "conflict",
                         "cannot check out %s: local changes to %s would be overwritten "
                         "(commit them, or check out with force = true to drop them)",
                         ref, conflicts.count ? conflicts.paths : "some files");
    if (error < 0)
        ferry_git_raise(L, error, "cannot check out %s", ref);
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
    ferry_git_guard_keep(g, config, release_config);
    if (error >= 0)
        error = git_config_set_string(config, lua_pushfstring(L, "branch.%s.remote", branch),
                                      lua_pushlstring(L, remote, (size_t)(slash - remote)));
    if (error >= 0)
        error = git_config_set_string(config, lua_pushfstring(L, "branch.%s.merge", branch),
                                      lua_pushfstring(L, "refs/heads/%s", slash + 1));
    if (error < 0)
        ferry_git_raise(L, error, "cannot make branch '%s' track %s", branch, tracked);
}

/* handle:checkout(ref, force, create) -> id, branch.
 * ref is a local branch (switched to), a branch of a remote not yet local
 * (a local branch tracking it is made), or any revision (detached HEAD).
 * create makes a new branch named ref at HEAD. [-3, +2, e] */
int ferry_git_repo_checkout(lua_State *L)
{
    git_repository *repo = ferry_git_repo_check(L, 1);
    const char *ref = luaL_checkstring(L, 2);
    int force = lua_toboolean(L, 3);
    int create = lua_toboolean(L, 4);
    workdir_check(L, repo);
    struct guard *g = ferry_git_guard_push(L);
    git_reference *branch = NULL;
    git_object *commit = NULL;
    int error;
    if (create) {
        error = git_revparse_single(&commit, repo, "HEAD^{commit}");
        ferry_git_guard_keep(g, commit, release_object);
        if (error < 0)
            ferry_git_raise(L, error, "cannot create branch '%s' at HEAD", ref);
        error = git_branch_create(&branch, repo, ref, (git_commit *)commit, 0);
        ferry_git_guard_keep(g, branch, release_reference);
        if (error < 0)
            ferry_git_raise(L, error, "cannot create branch '%s'", ref);
    } else if ((error = git_branch_lookup(&branch, repo, ref, GIT_BRANCH_LOCAL)) == 0) {
        ferry_git_guard_keep(g, branch, release_reference);
        error = git_reference_peel(&commit, branch, GIT_OBJECT_COMMIT);
        ferry_git_guard_keep(g, commit, release_object);
        if (error < 0)
            ferry_git_raise(L, error, "cannot check out %s", ref);
        tree_checkout(L, repo, commit, ref, force);
    } else {
        /* refs/remotes/<remote>/<ref>, found without git_remote_list (see repo_remote) */
        git_reference_iterator *refs = NULL;
        git_reference *tracked = NULL;
        if (git_reference_iterator_glob_new(&refs, repo, lua_pushfstring(L, "refs/remotes/*/%s", ref)) == 0) {
            ferry_git_guard_keep(g, refs, release_reference_iterator);
            git_reference *candidate = NULL;
            while (!tracked && git_reference_next(&candidate, refs) == 0) {
                const char *remote = git_reference_name(candidate) + strlen("refs/remotes/");
                if (strlen(remote) == strlen(ref) + 1 + (size_t)(strchr(remote, '/') - remote))
                    tracked = candidate;
                else
                    git_reference_free(candidate);
            }
            ferry_git_guard_drop(g, refs);
        }
        ferry_git_guard_keep(g, tracked, release_reference);
        if (tracked)
            error = git_reference_peel(&commit, tracked, GIT_OBJECT_COMMIT);
        else
            error = git_revparse_single(&commit, repo, lua_pushfstring(L, "%s^{commit}", ref));
        ferry_git_guard_keep(g, commit, release_object);
        if (error == GIT_ENOTFOUND || error == GIT_EINVALIDSPEC || error == GIT_EAMBIGUOUS)
            ferry_git_raise_reason(L, error == GIT_EAMBIGUOUS ? "ambiguous" : "NotFound",
                             "cannot check out %s: no branch, tag or commit of that name", ref);
        if (error < 0)
            ferry_git_raise(L, error, "cannot check out %s", ref);
        tree_checkout(L, repo, commit, ref, force);
        if (tracked) {
            error = git_branch_create(&branch, repo, ref, (git_commit *)commit, 0);
            ferry_git_guard_keep(g, branch, release_reference);
            if (error < 0)
                ferry_git_raise(L, error, "cannot create branch '%s'", ref);
            upstream_set(L, repo, g, ref, git_reference_name(tracked));
        }
    }
    if (branch)
        error = git_repository_set_head(repo, git_reference_name(branch));
    else
        error = git_repository_set_head_detached(repo, git_object_id(commit));
    if (error < 0)
        ferry_git_raise(L, error, "cannot move HEAD to %s", ref);
    head_push(L, repo, g);
    return 2;
}


