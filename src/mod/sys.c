/* require "ferry.sys": the few system calls the Lua library needs that
 * Lua's own io/os do not offer (directories, file types, monotonic time,
 * terminals, atomic file replacement, file locks, library versions). */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/embedded.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/names.h"
#include "ferry.h"

/* Pushes nil, "path: reason" and returns 2 (the io library's convention). [-0, +2, m] */
static int sys_failure(lua_State *L, const char *path)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
}

/* A directory stream owned by a userdata, so a memory error while the names
 * are pushed cannot leak it. __gc. [-1, +0, -] */
static int dir_box_close(lua_State *L)
{
    DIR **box = lua_touserdata(L, 1);
    if (*box) {
        closedir(*box);
        *box = NULL;
    }
    return 0;
}

/* sys.listdir(path) -> sorted names | nil, err. It sorts with the global
 * table.sort, hence e. [-1, +(1|2), e] */
static int sys_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, FERRY_SYS_DIR_METATABLE)) {
        lua_pushcfunction(L, dir_box_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (!(*box = opendir(path)))
        return sys_failure(L, path);
    lua_newtable(L);
    lua_Integer n = 0;
    struct dirent *entry;
    while ((entry = readdir(*box))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        lua_pushstring(L, entry->d_name);
        lua_seti(L, -2, ++n);
    }
    closedir(*box);
    *box = NULL;
    /* sorted, so listings (and test order) are deterministic */
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    return 1;
}

static const char *file_type_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "file";
    if (S_ISDIR(mode))
        return "directory";
    if (S_ISLNK(mode))
        return "link";
    return "other";
}

/* Pushes {type, size, mtime, mode} for st. [-0, +1, m] */
static int stat_push(lua_State *L, const struct stat *st)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, file_type_name(st->st_mode));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st->st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)st->st_mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)(st->st_mode & 07777));
    lua_setfield(L, -2, "mode");
    return 1;
}

/* sys.stat(path) -> {type, size, mtime, mode} | nil, err. [-1, +(1|2), v] */
static int sys_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return sys_failure(L, path);
    return stat_push(L, &st);
}

/* sys.lstat(path) -> like sys.stat, of a symbolic link itself (type "link"). [-1, +(1|2), v] */
static int sys_lstat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0)
        return sys_failure(L, path);
    return stat_push(L, &st);
}

/* sys.mkdir(path [, mode]) -> true | nil, err (existing dir is fine). [-(1|2), +(1|2), v] */
static int sys_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mode_t mode = (mode_t)luaL_optinteger(L, 2, 0755);
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return sys_failure(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

static int write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

/* sys.write_atomic(path, text [, mode]) -> true | nil, err
 * Writes a temp file beside path, fsyncs it and renames it over path, so a
 * reader (or a resumed run after SIGKILL) sees the old or the new content,
 * never half of one. [-(2|3), +(1|2), v] */
static int sys_write_atomic(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t length;
    const char *text = luaL_checklstring(L, 2, &length);
    mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644);
    const char *temp = lua_pushfstring(L, "%s.tmp.%d", path, (int)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return sys_failure(L, temp);
    int failed = write_all(fd, text, length) != 0 || fsync(fd) != 0;
    int saved = errno;
    failed = close(fd) != 0 || failed;
    if (!failed && rename(temp, path) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    saved = errno ? errno : saved;
    unlink(temp);
    errno = saved;
    return sys_failure(L, path);
}

/* sys.chdir(path) -> true | nil, "path: reason". [-1, +(1|2), v] */
static int sys_chdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (chdir(path) != 0)
        return sys_failure(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.realpath(path) -> absolute path | nil, err. [-1, +(1|2), v] */
static int sys_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char resolved[PATH_MAX];
    if (!realpath(path, resolved))
        return sys_failure(L, path);
    lua_pushstring(L, resolved);
    return 1;
}

/* sys.monotonic() -> seconds from an arbitrary start. [-0, +1, -] */
static int sys_monotonic(lua_State *L)
{
    lua_pushnumber(L, loop_now());
    return 1;
}

/* sys.isatty(fd) -> boolean. [-1, +1, v] */
static int sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* sys.getpid() -> process id. [-0, +1, -] */
static int sys_getpid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* sys.versions() -> {ferry=, lua=, curl=, libgit2=, libyaml=}. [-0, +1, m] */
static int sys_versions(lua_State *L)
{
    lua_createtable(L, 0, 5);
    lua_pushliteral(L, FERRY_VERSION);
    lua_setfield(L, -2, "ferry");
    lua_pushliteral(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    lua_setfield(L, -2, "libcurl");
    int major, minor, patch;
    git_libgit2_version(&major, &minor, &patch);
    lua_pushfstring(L, "%d.%d.%d", major, minor, patch);
    lua_setfield(L, -2, "libgit2");
    lua_pushstring(L, yaml_get_version_string());
    lua_setfield(L, -2, "libyaml");
    return 1;
}

/* sys.embedded_modules() -> sorted names of the Lua modules compiled in. [-0, +1, m] */
static int sys_embedded_modules(lua_State *L)
{
    lua_createtable(L, (int)ferry_embedded_count, 0);
    for (size_t i = 0; i < ferry_embedded_count; i++) {
        lua_pushstring(L, ferry_embedded_sources[i].module);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* sys.embedded_source(module) -> source text | nil. [-1, +1, v] */
static int sys_embedded_source(lua_State *L)
{
    const char *module = luaL_checkstring(L, 1);
    for (size_t i = 0; i < ferry_embedded_count; i++) {
        if (strcmp(ferry_embedded_sources[i].module, module) == 0) {
            lua_pushlstring(L, ferry_embedded_sources[i].source, ferry_embedded_sources[i].length);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

/* A lock on a file (flock): held while the userdata lives or until
 * release/close, dropped by the kernel when the process dies, so a lock
 * left by a killed process is never mistaken for a live one. */
struct sys_lock {
    int fd; /* -1 once released */
};

/* lock:release(), __gc and __close. [-0, +0, -] */
static int sys_lock_release(lua_State *L)
{
    struct sys_lock *lock = luaL_checkudata(L, 1, FERRY_SYS_LOCK_METATABLE);
    if (lock->fd >= 0) {
        close(lock->fd); /* closing the last descriptor drops the flock */
        lock->fd = -1;
    }
    return 0;
}

/* sys.lock(path [, text]) -> lock | nil, err, "held"
 * Creates path if needed and takes an exclusive lock on it without waiting;
 * text (who holds it), when given, then replaces the file's content.
 * "held": another process holds it. [-1|2, +1|3, m] */
static int sys_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t length;
    const char *text = luaL_optlstring(L, 2, NULL, &length);
    struct sys_lock *lock = lua_newuserdatauv(L, sizeof *lock, 0);
    lock->fd = -1; /* closed before anything is acquired: __gc is safe */
    luaL_setmetatable(L, FERRY_SYS_LOCK_METATABLE);
    lock->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock->fd < 0)
        return sys_failure(L, path);
    if (flock(lock->fd, LOCK_EX | LOCK_NB) != 0) {
        int held = errno == EWOULDBLOCK;
        int failure = sys_failure(L, path);
        close(lock->fd);
        lock->fd = -1;
        if (!held)
            return failure;
        lua_pushliteral(L, "held");
        return 3;
    }
    if (text && (ftruncate(lock->fd, 0) != 0 || write_all(lock->fd, text, length) != 0)) {
        int failure = sys_failure(L, path);
        close(lock->fd);
        lock->fd = -1;
        return failure;
    }
    return 1;
}

static const luaL_Reg sys_lock_methods[] = {
    {"release", sys_lock_release},
    {"__gc", sys_lock_release},
    {"__close", sys_lock_release},
    {NULL, NULL},
};

static const luaL_Reg sys_functions[] = {
    {"embedded_modules", sys_embedded_modules},
    {"embedded_source", sys_embedded_source},
    {"listdir", sys_listdir},
    {"stat", sys_stat},
    {"lstat", sys_lstat},
    {"mkdir", sys_mkdir},
    {"write_atomic", sys_write_atomic},
    {"chdir", sys_chdir},
    {"realpath", sys_realpath},
    {"monotonic", sys_monotonic},
    {"isatty", sys_isatty},
    {"getpid", sys_getpid},
    {"versions", sys_versions},
    {"lock", sys_lock},
    {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_ferry_sys(lua_State *L)
{
    if (luaL_newmetatable(L, FERRY_SYS_LOCK_METATABLE)) {
        luaL_setfuncs(L, sys_lock_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, sys_functions);
    return 1;
}
