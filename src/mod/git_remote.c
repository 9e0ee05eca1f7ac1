/* require "ferry.git", the network: clone, fetch and push, their
 * credentials and libgit2's transport callbacks.
 *
 * Each operation blocks inside libgit2, so it runs as a thread job
 * (core/job.h) and returns an op at once; lua/git.lua waits on it with
 * task.await. Everything a job needs -- URL, credentials, trusted SSH host
 * keys -- is copied to C memory before it starts, its callbacks run on the
 * worker thread without Lua (they record what went wrong and return an
 * error code, so libgit2 stops), and its outcome is read back after it ends. */
#include <errno.h>
#include <ftw.h>
#include <git2.h>
#include <lauxlib.h>
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
#include "core/options.h"
#include "mod/git.h"

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
    int secret_attempts;
    /* outcome */
    int error;
    char *message; /* libgit2's, and its error class */
    int klass;
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
    free(w->message);
    for (size_t i = 0; i < w->update_count; i++)
        free(w->updates[i].name);
    free(w->updates);
    free(w);
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

/* Records the outcome of the libgit2 call that returned error. Secrets in
 * libgit2's message are lua/git.lua's to hide (log.redact), and so is the
 * meaning of an HTTP status in it: libgit2 1.5 gives no status but its text. */
static void work_record(struct git_work *w, int error)
{
    if (error >= 0 && !w->reason_code)
        return;
    w->error = error < 0 ? error : GIT_ERROR;
    const git_error *last = git_error_last();
    if (error < 0 && last) {
        w->klass = last->klass;
        if (last->message && !(w->message = strdup(last->message)))
            reason_set(w, "error", "out of memory");
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

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

static int remove_entry_below(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return ftw->level == 0 ? 0 : remove_entry(path, st, type, ftw);
}

/* Deletes a local branch and its tracking configuration; not with
 * git_branch_delete, whose configuration scan leaks in libgit2 1.5. */
static int branch_forget(git_config *config, git_reference *branch)
{
    char key[1024];
    const char *name = git_reference_shorthand(branch);
    static const char *const fields[] = {"remote", "merge"};
    for (int i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "branch.%s.%s", name, fields[i]);
        int error = git_config_delete_entry(config, key);
        if (error < 0 && error != GIT_ENOTFOUND)
            return error;
    }
    return git_reference_delete(branch);
}

/* Makes branch, tracking origin's, the HEAD of a fresh clone and checks it
 * out: what git_clone does with checkout_branch, which libgit2 1.5 fails
 * with a bare "not found" when the remote's HEAD names a branch that does
 * not exist (git clone -b works there). */
static int clone_branch_switch(git_repository *repo, struct git_work *w)
{
    git_reference *tracked = NULL, *local = NULL, *previous = NULL;
    git_object *commit = NULL;
    git_config *config = NULL;
    char name[1024], key[1024];
    snprintf(name, sizeof name, "refs/remotes/origin/%s", w->branch);
    int error = git_reference_lookup(&tracked, repo, name);
    if (error == GIT_ENOTFOUND)
        reason_set(w, "NotFound", "the remote has no branch '%s'", w->branch);
    if (error >= 0)
        error = git_reference_peel(&commit, tracked, GIT_OBJECT_COMMIT);
    if (error >= 0 && git_branch_lookup(&local, repo, w->branch, GIT_BRANCH_LOCAL) == GIT_ENOTFOUND)
        error = git_branch_create(&local, repo, w->branch, (git_commit *)commit, 0);
    if (error >= 0)
        error = git_repository_config(&config, repo);
    snprintf(key, sizeof key, "branch.%s.remote", w->branch);
    if (error >= 0)
        error = git_config_set_string(config, key, "origin");
    snprintf(key, sizeof key, "branch.%s.merge", w->branch);
    snprintf(name, sizeof name, "refs/heads/%s", w->branch);
    if (error >= 0)
        error = git_config_set_string(config, key, name);
    /* the branch git_clone made for the remote's HEAD, if it is another one */
    if (error >= 0 && git_repository_head(&previous, repo) == 0 && strcmp(git_reference_name(previous), name) == 0) {
        git_reference_free(previous);
        previous = NULL;
    }
    if (error >= 0)
        error = git_repository_set_head(repo, name);
    if (error >= 0 && previous && git_reference_is_branch(previous))
        error = branch_forget(config, previous);
    if (error >= 0 && !w->bare) {
        git_checkout_options options;
        git_checkout_options_init(&options, GIT_CHECKOUT_OPTIONS_VERSION);
        options.checkout_strategy = GIT_CHECKOUT_FORCE;
        error = git_checkout_head(repo, &options);
    }
    git_config_free(config);
    git_reference_free(previous);
    git_reference_free(local);
    git_object_free(commit);
    git_reference_free(tracked);
    return error;
}

static void work_clone(struct git_work *w)
{
    git_clone_options options;
    git_clone_options_init(&options, GIT_CLONE_OPTIONS_VERSION);
    callbacks_set(&options.fetch_opts.callbacks, w);
    options.fetch_opts.proxy_opts.type = GIT_PROXY_AUTO;
    options.remote_cb = clone_remote_create;
    options.bare = w->bare;
    if (w->branch)
        options.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE; /* clone_branch_switch checks out */
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
    options.fetch_opts.depth = w->depth;
#endif
    struct stat st;
    int existed = stat(w->dir, &st) == 0;
    git_repository *repo = NULL;
    int error = git_clone(&repo, w->url, w->dir, &options);
    if (error >= 0 && w->branch) {
        error = clone_branch_switch(repo, w);
        if (error < 0) /* leave nothing behind, as git_clone does when it fails */
            nftw(w->dir, existed ? remove_entry_below : remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
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

/* __gc, __close and cancel: frees everything, and asks a running job to
 * stop without waiting for it: libgit2 notices only in its next callback,
 * which a stalled connection may not reach for a long time, and the loop
 * must go on meanwhile. The thread then frees the work itself, and a clone
 * removes its half-made directory then. Safe to call twice. [-0, +0, -] */
int ferry_git_op_close(lua_State *L)
{
    struct git_op *o = luaL_checkudata(L, 1, FERRY_GIT_OP_METATABLE);
    if (o->job) {
        loop_job_cancel(o->job, 0);
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

/* Reads the credentials and trusted host keys of options into w.
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
}

/* Pushes a new op holding an empty work of the given kind. [-0, +1, m] */
static struct git_op *op_push(lua_State *L, enum work_kind kind)
{
    struct git_op *o = lua_newuserdatauv(L, sizeof *o, 0);
    memset(o, 0, sizeof *o);
    luaL_setmetatable(L, FERRY_GIT_OP_METATABLE);
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
        ferry_git_raise_reason(L, "error", "cannot start a thread for git: %s", strerror(errno));
}

/* git.clone(url, dir, {branch, bare, depth, credentials...}) -> op. [-3, +1, e] */
int ferry_git_clone(lua_State *L)
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
    git_repository *repo = ferry_git_repo_check(L, 1);
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

int ferry_git_repo_fetch(lua_State *L)
{
    return repo_network_start(L, WORK_FETCH);
}

int ferry_git_repo_push(lua_State *L)
{
    return repo_network_start(L, WORK_PUSH);
}

/* op:finished() -> boolean. [-0, +1, -] */
int ferry_git_op_finished(lua_State *L)
{
    struct git_op *o = luaL_checkudata(L, 1, FERRY_GIT_OP_METATABLE);
    lua_pushboolean(L, !o->job || loop_job_finished(o->job));
    return 1;
}

/* op:result() -> list of {ref, old, new} updated, or raises the failure as
 * {kind="git", message, code, remote, op[, class]}: class (libgit2's error
 * class) only when the reason is libgit2's message. [-0, +1, e] */
int ferry_git_op_result(lua_State *L)
{
    struct git_op *o = luaL_checkudata(L, 1, FERRY_GIT_OP_METATABLE);
    if (!o->job)
        return luaL_error(L, "the git operation was closed or cancelled");
    if (!loop_job_finished(o->job))
        return luaL_error(L, "the git operation has not finished");
    struct git_work *w = o->work;
    static const char *const verbs[] = {"clone", "fetch", "push"};
    const char *where = w->safe_url ? w->safe_url : w->remote ? w->remote : "";
    if (w->error || w->reason_code) {
        const char *reason = w->reason_code ? w->reason : ferry_git_reason_push(L, w->error, w->message);
        ferry_error_push(L, "git", "%s %s: %s", verbs[w->kind], where, reason);
        ferry_error_set_string(L, "reason", w->reason_code ? w->reason_code : ferry_git_code_name(w->error));
        ferry_error_set_string(L, "remote", where);
        ferry_error_set_string(L, "op", verbs[w->kind]);
        if (!w->reason_code && w->klass)
            ferry_error_set_string(L, "class", ferry_git_class_name(w->klass));
        return lua_error(L);
    }
    lua_createtable(L, (int)w->update_count, 0);
    for (size_t i = 0; i < w->update_count; i++) {
        lua_createtable(L, 0, 3);
        ferry_git_field_set(L, "ref", w->updates[i].name);
        ferry_git_field_set(L, "old", w->updates[i].old_id);
        ferry_git_field_set(L, "new", w->updates[i].new_id);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

