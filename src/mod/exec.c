/* require "ferry.exec": child processes on the event loop, without a shell.
 *
 * exec.start{argv=, env=, cwd=, stdin=} returns a process op at once; its
 * stdout and stderr are read into C buffers as they arrive and its exit is
 * seen through a pidfd, all by the loop. lua/exec.lua waits on the op. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buffer.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/names.h"

extern char **environ;

enum { STREAM_STDOUT, STREAM_STDERR, STREAM_COUNT };

struct process {
    struct loop_op op; /* first: the scheduler waits on it */
    pid_t pid;         /* 0 once reaped (or never started) */
    int exited;
    int wait_status;
    struct loop_watch exit_watch; /* the pidfd */
    struct loop_timer exit_poll;  /* where pidfds are missing (valgrind) */
    struct loop_watch output[STREAM_COUNT];
    struct buffer captured[STREAM_COUNT];
    struct loop_watch input;
    const char *stdin_data; /* kept alive by the uservalue */
    size_t stdin_length, stdin_written;
    int out_of_memory;
};

#define CONTAINER(ptr, member) \
    ((struct process *)((char *)(ptr) - offsetof(struct process, member)))

static void watch_close(struct ferry_loop *loop, struct loop_watch *w)
{
    if (loop)
        loop_watch_stop(loop, w);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

static int process_finished(const struct process *p)
{
    return p->exited && p->output[STREAM_STDOUT].fd < 0 && p->output[STREAM_STDERR].fd < 0;
}

static void process_progress(struct process *p)
{
    if (process_finished(p))
        loop_op_ready(&p->op);
}

/* ---- loop callbacks: no Lua here --------------------------------------- */

static void output_read(struct process *p, int stream)
{
    struct loop_watch *w = &p->output[stream];
    char chunk[65536];
    for (;;) {
        ssize_t n = read(w->fd, chunk, sizeof chunk);
        if (n > 0) {
            if (buffer_append(&p->captured[stream], chunk, (size_t)n) != 0)
                p->out_of_memory = 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        watch_close(p->op.loop, w); /* EOF or error */
        process_progress(p);
        return;
    }
}

static void on_stdout(struct loop_watch *w, short revents)
{
    (void)revents;
    output_read(CONTAINER(w, output[STREAM_STDOUT]), STREAM_STDOUT);
}

static void on_stderr(struct loop_watch *w, short revents)
{
    (void)revents;
    output_read(CONTAINER(w, output[STREAM_STDERR]), STREAM_STDERR);
}

static void on_input(struct loop_watch *w, short revents)
{
    (void)revents;
    struct process *p = CONTAINER(w, input);
    while (p->stdin_written < p->stdin_length) {
        ssize_t n = write(w->fd, p->stdin_data + p->stdin_written,
                          p->stdin_length - p->stdin_written);
        if (n > 0) {
            p->stdin_written += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EPIPE: the child stopped reading */
    }
    watch_close(p->op.loop, w);
}

#define EXIT_POLL_SECONDS 0.02

/* Reaps the child if it has exited; returns 1 when it has. */
static int process_reap(struct process *p)
{
    int status;
    pid_t reaped = waitpid(p->pid, &status, WNOHANG);
    if (reaped == 0)
        return 0;
    p->exited = 1;
    p->wait_status = reaped == p->pid ? status : 0;
    p->pid = 0;
    return 1;
}

static void on_exit_event(struct loop_watch *w, short revents)
{
    (void)revents;
    struct process *p = CONTAINER(w, exit_watch);
    if (!process_reap(p))
        return;
    watch_close(p->op.loop, w);
    process_progress(p);
}

static void on_exit_poll(struct loop_timer *timer)
{
    struct process *p = CONTAINER(timer, exit_poll);
    if (process_reap(p))
        process_progress(p);
    else
        loop_timer_start(p->op.loop, timer, EXIT_POLL_SECONDS);
}

/* ---- lifetime ------------------------------------------------------------- */

static void process_release(struct process *p)
{
    if (p->pid > 0) {
        /* Abandoned while running (cancelled task, timeout): end it now. */
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    watch_close(p->op.loop, &p->exit_watch);
    if (p->op.loop)
        loop_timer_stop(p->op.loop, &p->exit_poll);
    watch_close(p->op.loop, &p->input);
    for (int i = 0; i < STREAM_COUNT; i++) {
        watch_close(p->op.loop, &p->output[i]);
        buffer_free(&p->captured[i]);
    }
    loop_op_unready(&p->op);
}

/* __gc, __close and cancel: kills a running child and frees everything. [-(1|2), +0, v] */
static int process_close(lua_State *L)
{
    process_release(luaL_checkudata(L, 1, FERRY_EXEC_PROCESS_METATABLE));
    return 0;
}

/* ---- starting ----------------------------------------------------------------- */

/* Finds name on PATH (names with a '/' are used as they are). Pushes the
 * path, or nil. [-0, +1, m] */
static void program_find(lua_State *L, const char *name)
{
    if (strchr(name, '/')) {
        struct stat st;
        if (stat(name, &st) == 0 && S_ISREG(st.st_mode) && access(name, X_OK) == 0)
            lua_pushstring(L, name);
        else
            lua_pushnil(L);
        return;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t length = colon ? (size_t)(colon - path) : strlen(path);
        const char *candidate = length ? lua_pushfstring(L, "%s/%s", lua_pushlstring(L, path, length), name)
                                       : lua_pushfstring(L, "./%s", name);
        struct stat st;
        if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
            if (length)
                lua_remove(L, -2);
            return;
        }
        lua_pop(L, length ? 2 : 1);
        path += length + (colon ? 1 : 0);
        if (!colon)
            break;
    }
    lua_pushnil(L);
}

/* A NULL-terminated char* array in a userdata, so a later error frees it. [-0, +1, m] */
static const char **string_array_new(lua_State *L, size_t count)
{
    const char **array = lua_newuserdatauv(L, (count + 1) * sizeof *array, 0);
    memset(array, 0, (count + 1) * sizeof *array);
    return array;
}

/* Keeps the string at the top alive in the anchor table and returns it. [-1, +0, m] */
static const char *string_anchor(lua_State *L, int anchor)
{
    const char *s = lua_tostring(L, -1);
    lua_seti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    return s;
}

/* options.argv -> char*[]. [-0, +1, e] */
static const char **argv_build(lua_State *L, int options, int anchor)
{
    if (lua_getfield(L, options, "argv") != LUA_TTABLE)
        luaL_error(L, "exec needs argv, a list of strings: exec.run{argv = {\"git\", \"status\"}}");
    size_t count = (size_t)luaL_len(L, -1);
    if (count == 0)
        luaL_error(L, "exec argv is empty: it needs at least the program name");
    const char **argv = string_array_new(L, count);
    for (size_t i = 0; i < count; i++) {
        lua_geti(L, -2, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "exec argv[%d] must be a string, got %s", (int)i + 1, luaL_typename(L, -1));
        lua_tostring(L, -1);
        argv[i] = string_anchor(L, anchor);
    }
    lua_remove(L, -2);
    return argv;
}

/* The inherited environment with options.env applied on top ({NAME=value},
 * false removes NAME). Pushes the array's userdata (or nil). [-0, +1, e] */
static const char **envp_build(lua_State *L, int options, int anchor)
{
    if (lua_getfield(L, options, "env") == LUA_TNIL)
        return (const char **)environ; /* the nil stays as the result */
    luaL_checktype(L, -1, LUA_TTABLE);
    int env = lua_gettop(L);
    size_t inherited = 0, extra = 0;
    while (environ[inherited])
        inherited++;
    lua_pushnil(L);
    while (lua_next(L, env)) {
        extra++;
        lua_pop(L, 1);
    }
    const char **envp = string_array_new(L, inherited + extra);
    size_t n = 0;
    for (size_t i = 0; i < inherited; i++) {
        const char *eq = strchr(environ[i], '=');
        if (!eq)
            continue;
        lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
        int overridden = lua_rawget(L, env) != LUA_TNIL;
        lua_pop(L, 1);
        if (!overridden)
            envp[n++] = environ[i];
    }
    lua_pushnil(L);
    while (lua_next(L, env)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "exec env keys must be variable names (strings)");
        if (lua_toboolean(L, -1)) {
            const char *value = luaL_checkstring(L, -1);
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), value);
            envp[n++] = string_anchor(L, anchor);
        }
        lua_pop(L, 1);
    }
    lua_remove(L, env);
    return envp;
}

static void child_exec(const char *program, const char **argv, const char **envp,
                       const char *cwd, int fds[3], int error_fd)
{
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0)
            goto failed;
    }
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (cwd && chdir(cwd) != 0)
        goto failed;
    execve(program, (char *const *)argv, (char *const *)envp);
failed:;
    int code = errno;
    ssize_t ignored = write(error_fd, &code, sizeof code);
    (void)ignored;
    _exit(127);
}

static int pipe_pair(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

static void fds_close(int *fds, int count)
{
    for (int i = 0; i < count; i++)
        if (fds[i] >= 0)
            close(fds[i]), fds[i] = -1;
}

/* exec.start{argv=, env=, cwd=, stdin=} -> process op. [-1, +1, e] */
static int exec_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: keeps the strings built below alive */
    const char **argv = argv_build(L, 1, 2);               /* 3 */
    program_find(L, argv[0]);                              /* 4 */
    if (lua_isnil(L, 4))
        return ferry_error_raise(L, "exec", "cannot run '%s': not found on PATH", argv[0]);
    const char *program = lua_tostring(L, 4);
    const char **envp = envp_build(L, 1, 2);               /* 5 */
    lua_getfield(L, 1, "cwd");                             /* 6 */
    const char *cwd = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    size_t stdin_length = 0;
    lua_getfield(L, 1, "stdin");                           /* 7 */
    const char *stdin_data = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &stdin_length);
    int stdin_value = lua_gettop(L);

    struct process *p = lua_newuserdatauv(L, sizeof *p, 1);
    memset(p, 0, sizeof *p);
    p->exit_watch.fd = p->input.fd = p->output[0].fd = p->output[1].fd = -1;
    luaL_setmetatable(L, FERRY_EXEC_PROCESS_METATABLE);
    lua_pushvalue(L, stdin_value);
    lua_setiuservalue(L, -2, 1);
    loop_op_init(&p->op, ferry_loop_get(L));

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
    int failed = pipe_pair(out) || pipe_pair(err) || pipe_pair(report) ||
                 (stdin_data ? pipe_pair(in) : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0);
    if (failed) {
        int code = errno;
        int all[] = {in[0], in[1], out[0], out[1], err[0], err[1], report[0], report[1]};
        fds_close(all, 8);
        return ferry_error_raise(L, "exec", "cannot run '%s': %s", argv[0], strerror(code));
    }
    int child_fds[3] = {in[0], out[1], err[1]};
    pid_t pid = fork();
    if (pid == 0)
        child_exec(program, argv, envp, cwd, child_fds, report[1]);
    int fork_errno = errno;
    fds_close(child_fds, 3);
    fds_close(&report[1], 1);
    int child_errno = 0;
    if (pid > 0) {
        ssize_t n;
        do
            n = read(report[0], &child_errno, sizeof child_errno);
        while (n < 0 && errno == EINTR);
        if (n != sizeof child_errno)
            child_errno = 0;
    }
    fds_close(&report[0], 1);
    if (pid < 0 || child_errno) {
        if (pid > 0)
            waitpid(pid, NULL, 0);
        int open_fds[] = {in[1], out[0], err[0]};
        fds_close(open_fds, 3);
        return ferry_error_raise(L, "exec", "cannot run '%s'%s%s: %s", argv[0],
                                 cwd && child_errno == ENOENT ? " in " : "",
                                 cwd && child_errno == ENOENT ? cwd : "",
                                 strerror(pid < 0 ? fork_errno : child_errno));
    }
    p->pid = pid;
    struct ferry_loop *loop = p->op.loop;
    p->output[STREAM_STDOUT] = (struct loop_watch){.fd = out[0], .events = POLLIN, .on_event = on_stdout};
    p->output[STREAM_STDERR] = (struct loop_watch){.fd = err[0], .events = POLLIN, .on_event = on_stderr};
    for (int i = 0; i < STREAM_COUNT; i++) {
        fcntl(p->output[i].fd, F_SETFL, O_NONBLOCK);
        loop_watch_start(loop, &p->output[i]);
    }
    if (stdin_data) {
        p->stdin_data = stdin_data;
        p->stdin_length = stdin_length;
        p->input = (struct loop_watch){.fd = in[1], .events = POLLOUT, .on_event = on_input};
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        loop_watch_start(loop, &p->input);
    }
    int pidfd = pidfd_open(pid, 0);
    if (pidfd >= 0) {
        p->exit_watch = (struct loop_watch){.fd = pidfd, .events = POLLIN, .on_event = on_exit_event};
        loop_watch_start(loop, &p->exit_watch);
    } else {
        /* no pidfds (old kernel, valgrind): look at the child now and then */
        p->exit_poll = (struct loop_timer){.fire = on_exit_poll};
        loop_timer_start(loop, &p->exit_poll, EXIT_POLL_SECONDS);
    }
    loop_op_register(L, -1, &p->op);
    return 1;
}

/* ---- results --------------------------------------------------------------------- */

/* op:finished() -> whether the child has exited and its output is all read. [-1, +1, v] */
static int process_finished_lua(lua_State *L)
{
    struct process *p = luaL_checkudata(L, 1, FERRY_EXEC_PROCESS_METATABLE);
    lua_pushboolean(L, process_finished(p));
    return 1;
}

/* op:kill([signal name or number]) -> true | nil, err. [-(1|2), +(1|2), v] */
static int process_kill(lua_State *L)
{
    struct process *p = luaL_checkudata(L, 1, FERRY_EXEC_PROCESS_METATABLE);
    int signal_number = SIGTERM;
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *name = lua_tostring(L, 2);
        signal_number = strcmp(name, "KILL") == 0 ? SIGKILL
                        : strcmp(name, "INT") == 0 ? SIGINT
                        : strcmp(name, "TERM") == 0 ? SIGTERM
                        : (luaL_argerror(L, 2, "signal must be TERM, KILL or INT"), 0);
    } else if (!lua_isnoneornil(L, 2)) {
        signal_number = (int)luaL_checkinteger(L, 2);
    }
    if (p->pid <= 0 || kill(p->pid, signal_number) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, p->pid <= 0 ? "process has exited" : strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* op:pid() -> the child's process id (0 once it is reaped). [-1, +1, v] */
static int process_pid(lua_State *L)
{
    struct process *p = luaL_checkudata(L, 1, FERRY_EXEC_PROCESS_METATABLE);
    lua_pushinteger(L, p->pid);
    return 1;
}

/* op:result() -> {code, signal, stdout, stderr}. [-1, +1, v] */
static int process_result(lua_State *L)
{
    struct process *p = luaL_checkudata(L, 1, FERRY_EXEC_PROCESS_METATABLE);
    if (!process_finished(p))
        return luaL_error(L, "the process has not finished");
    if (p->out_of_memory)
        return ferry_error_raise(L, "exec", "out of memory while reading the output of process");
    lua_createtable(L, 0, 4);
    if (WIFEXITED(p->wait_status)) {
        lua_pushinteger(L, WEXITSTATUS(p->wait_status));
        lua_setfield(L, -2, "code");
    } else if (WIFSIGNALED(p->wait_status)) {
        lua_pushinteger(L, 128 + WTERMSIG(p->wait_status));
        lua_setfield(L, -2, "code");
        lua_pushinteger(L, WTERMSIG(p->wait_status));
        lua_setfield(L, -2, "signal");
    }
    static const char *const names[STREAM_COUNT] = {"stdout", "stderr"};
    for (int i = 0; i < STREAM_COUNT; i++) {
        lua_pushlstring(L, p->captured[i].data ? p->captured[i].data : "", p->captured[i].length);
        lua_setfield(L, -2, names[i]);
    }
    return 1;
}

/* exec.which(name) -> path | nil. [-1, +1, v] */
static int exec_which(lua_State *L)
{
    program_find(L, luaL_checkstring(L, 1));
    return 1;
}

static const luaL_Reg process_methods[] = {
    {"finished", process_finished_lua},
    {"result", process_result},
    {"kill", process_kill},
    {"pid", process_pid},
    {"cancel", process_close},
    {"__gc", process_close},
    {"__close", process_close},
    {NULL, NULL},
};

static const luaL_Reg exec_functions[] = {
    {"start", exec_start},
    {"which", exec_which},
    {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_ferry_exec(lua_State *L)
{
    if (luaL_newmetatable(L, FERRY_EXEC_PROCESS_METATABLE)) {
        luaL_setfuncs(L, process_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, exec_functions);
    return 1;
}
