/* The event loop engine. See loop.h for the contract. */
#include "core/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/names.h"

#define MAX_WAIT_FDS 256

struct ferry_loop {
    CURLM *multi;
    int transfers;
    struct loop_timer *timers; /* sorted by deadline */
    struct loop_watch *watches;
    int watch_count;
    struct loop_op *ready_head, *ready_tail;
};

/* Signal state is process-wide: only one loop catches interrupts. */
static volatile sig_atomic_t interrupt_count;
static int interrupts_caught; /* ferry_loop_catch_interrupts was called: SIGINT is ours */
static int interrupt_pipe[2] = {-1, -1};
static lua_State *volatile running_thread;

double loop_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- ready queue ---------------------------------------------------- */

void loop_op_init(struct loop_op *op, struct ferry_loop *loop)
{
    memset(op, 0, sizeof *op);
    op->loop = loop;
}

void loop_op_ready(struct loop_op *op)
{
    struct ferry_loop *loop = op->loop;
    if (op->ready || !loop)
        return;
    op->ready = 1;
    op->ready_next = NULL;
    op->ready_prev = loop->ready_tail;
    if (loop->ready_tail)
        loop->ready_tail->ready_next = op;
    else
        loop->ready_head = op;
    loop->ready_tail = op;
}

void loop_op_unready(struct loop_op *op)
{
    struct ferry_loop *loop = op->loop;
    if (!op->ready || !loop)
        return;
    if (op->ready_prev)
        op->ready_prev->ready_next = op->ready_next;
    else
        loop->ready_head = op->ready_next;
    if (op->ready_next)
        op->ready_next->ready_prev = op->ready_prev;
    else
        loop->ready_tail = op->ready_prev;
    op->ready = 0;
    op->ready_next = op->ready_prev = NULL;
}

struct loop_op *loop_ready_pop(struct ferry_loop *loop)
{
    struct loop_op *op = loop->ready_head;
    if (op)
        loop_op_unready(op);
    return op;
}

void loop_op_register(lua_State *L, int idx, struct loop_op *op)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LOOP_OPS_KEY);
    lua_pushlightuserdata(L, op);
    lua_pushvalue(L, idx);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* ---- timers --------------------------------------------------------- */

void loop_timer_start(struct ferry_loop *loop, struct loop_timer *timer, double seconds)
{
    loop_timer_stop(loop, timer);
    timer->deadline = loop_now() + (seconds > 0 ? seconds : 0);
    struct loop_timer **link = &loop->timers, *prev = NULL;
    while (*link && (*link)->deadline <= timer->deadline) {
        prev = *link;
        link = &(*link)->next;
    }
    timer->next = *link;
    timer->prev = prev;
    if (*link)
        (*link)->prev = timer;
    *link = timer;
    timer->active = 1;
}

void loop_timer_stop(struct ferry_loop *loop, struct loop_timer *timer)
{
    if (!timer->active)
        return;
    if (timer->prev)
        timer->prev->next = timer->next;
    else
        loop->timers = timer->next;
    if (timer->next)
        timer->next->prev = timer->prev;
    timer->next = timer->prev = NULL;
    timer->active = 0;
}

static void timers_fire_expired(struct ferry_loop *loop)
{
    double now = loop_now();
    while (loop->timers && loop->timers->deadline <= now) {
        struct loop_timer *timer = loop->timers;
        loop_timer_stop(loop, timer);
        timer->fire(timer);
    }
}

/* ---- file descriptor watches ---------------------------------------- */

void loop_watch_start(struct ferry_loop *loop, struct loop_watch *watch)
{
    if (watch->active)
        return;
    watch->prev = NULL;
    watch->next = loop->watches;
    if (loop->watches)
        loop->watches->prev = watch;
    loop->watches = watch;
    watch->active = 1;
    loop->watch_count++;
}

void loop_watch_stop(struct ferry_loop *loop, struct loop_watch *watch)
{
    if (!watch->active)
        return;
    if (watch->prev)
        watch->prev->next = watch->next;
    else
        loop->watches = watch->next;
    if (watch->next)
        watch->next->prev = watch->prev;
    watch->next = watch->prev = NULL;
    watch->active = 0;
    loop->watch_count--;
}

/* ---- curl ------------------------------------------------------------ */

CURLMcode loop_transfer_start(struct ferry_loop *loop, CURL *easy)
{
    CURLMcode rc = curl_multi_add_handle(loop->multi, easy);
    if (rc == CURLM_OK)
        loop->transfers++;
    return rc;
}

void loop_transfer_stop(struct ferry_loop *loop, CURL *easy)
{
    if (curl_multi_remove_handle(loop->multi, easy) == CURLM_OK)
        loop->transfers--;
}

static void transfers_collect_done(struct ferry_loop *loop)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct loop_transfer *transfer = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&transfer);
        loop_transfer_stop(loop, easy);
        if (transfer)
            transfer->done(transfer, result);
    }
}

int loop_active_count(struct ferry_loop *loop)
{
    int timers = 0;
    for (struct loop_timer *t = loop->timers; t; t = t->next)
        timers++;
    return timers + loop->watch_count + loop->transfers;
}

/* ---- interrupts ------------------------------------------------------ */

/* Set by the SIGINT handler on the running thread: raises the interrupt at
 * the VM's next safe point. [-0, +0, v] */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    if (interrupt_count > 0)
        ferry_error_raise(L, "interrupted", "interrupted by Ctrl-C");
}

static void on_interrupt(int signal_number)
{
    int saved_errno = errno;
    if (interrupt_count++ > 0) {
        /* The second Ctrl-C ends the process the default way. */
        signal(signal_number, SIG_DFL);
        raise(signal_number);
    }
    if (interrupt_pipe[1] >= 0) {
        ssize_t ignored = write(interrupt_pipe[1], "i", 1);
        (void)ignored;
    }
    lua_State *thread = running_thread;
    if (thread)
        lua_sethook(thread, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    errno = saved_errno;
}

static void interrupt_pipe_drain(void)
{
    char buffer[64];
    if (interrupt_pipe[0] < 0)
        return;
    while (read(interrupt_pipe[0], buffer, sizeof buffer) > 0) {
    }
}

/* Without the pipe a poll is not woken by Ctrl-C, but the hook still stops
 * the running task: failing to create it is not an error. */
static void interrupt_pipe_open(void)
{
    if (interrupt_pipe[0] < 0 && pipe2(interrupt_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        interrupt_pipe[0] = interrupt_pipe[1] = -1;
}

static void interrupt_handler_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
}

void ferry_loop_catch_interrupts(lua_State *L)
{
    (void)L;
    interrupt_pipe_open();
    interrupt_handler_install();
    interrupts_caught = 1;
}

int loop_interrupted(void)
{
    return interrupt_count > 0;
}

void loop_interrupt_clear(void)
{
    interrupt_pipe_drain();
    interrupt_count = 0;
    /* re-arm after a first Ctrl-C was handled (the REPL goes on) */
    if (interrupts_caught)
        interrupt_handler_install();
}

lua_State *loop_running_thread_swap(lua_State *thread)
{
    lua_State *previous = running_thread;
    running_thread = thread;
    return previous;
}

/* ---- polling --------------------------------------------------------- */

static int timeout_milliseconds(struct ferry_loop *loop, double timeout)
{
    double wait = timeout;
    if (loop->timers) {
        double until = loop->timers->deadline - loop_now();
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = until;
    }
    long curl_wait = -1;
    if (loop->transfers > 0 && curl_multi_timeout(loop->multi, &curl_wait) == CURLM_OK &&
        curl_wait >= 0 && (wait < 0 || curl_wait / 1000.0 < wait))
        wait = curl_wait / 1000.0;
    if (wait < 0)
        return 3600 * 1000; /* woken by fds or a signal anyway */
    return (int)(wait * 1000.0 + 0.999);
}

static void watches_dispatch(struct ferry_loop *loop, struct curl_waitfd *fds, int count)
{
    /* Callbacks may stop watches (and so unlink them): match by fd and
     * re-check that the watch is still registered before each call. */
    for (int i = 1; i < count; i++) {
        if (!fds[i].revents)
            continue;
        for (struct loop_watch *w = loop->watches; w; w = w->next) {
            if (w->fd == fds[i].fd && (w->events & fds[i].events)) {
                w->on_event(w, fds[i].revents);
                break;
            }
        }
    }
}

int loop_poll(struct ferry_loop *loop, double timeout)
{
    struct curl_waitfd fds[MAX_WAIT_FDS];
    int count = 0;
    fds[count++] = (struct curl_waitfd){.fd = interrupt_pipe[0], .events = CURL_WAIT_POLLIN};
    for (struct loop_watch *w = loop->watches; w && count < MAX_WAIT_FDS; w = w->next) {
        short events = (short)(((w->events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                               ((w->events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
        fds[count++] = (struct curl_waitfd){.fd = w->fd, .events = events};
    }
    if (!loop->ready_head && !loop_interrupted()) {
        int ready_fds = 0;
        curl_multi_poll(loop->multi, fds, (unsigned)count, timeout_milliseconds(loop, timeout),
                        &ready_fds);
        if (ready_fds > 0)
            watches_dispatch(loop, fds, count);
    }
    int running = 0;
    if (loop->transfers > 0) {
        curl_multi_perform(loop->multi, &running);
        transfers_collect_done(loop);
    }
    timers_fire_expired(loop);
    if (loop_interrupted())
        return -1;
    int ready = 0;
    for (struct loop_op *op = loop->ready_head; op; op = op->ready_next)
        ready++;
    return ready;
}

/* ---- the loop as a Lua userdata ------------------------------------- */

/* __gc of the loop's userdata. [-1, +0, -] */
static int loop_gc(lua_State *L)
{
    struct ferry_loop **slot = lua_touserdata(L, 1);
    struct ferry_loop *loop = *slot;
    if (!loop)
        return 0;
    /* Every op's __gc ran before this one (created first, finalized last);
     * detach whatever is left so nothing points into freed memory. */
    while (loop_ready_pop(loop)) {
    }
    curl_multi_cleanup(loop->multi);
    free(loop);
    *slot = NULL;
    return 0;
}

void ferry_loop_open(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LOOP_KEY) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    struct ferry_loop **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, loop_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    struct ferry_loop *loop = calloc(1, sizeof *loop);
    if (!loop || !(loop->multi = curl_multi_init())) {
        free(loop);
        luaL_error(L, "cannot create the event loop: out of memory");
    }
    curl_multi_setopt(loop->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    *slot = loop;
    lua_setfield(L, LUA_REGISTRYINDEX, FERRY_LOOP_KEY);
    /* op pointer -> userdata, weak so a forgotten op can be collected */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, FERRY_LOOP_OPS_KEY);
    interrupt_pipe_open();
    /* A peer closing a socket or a child closing its stdin must be an error
     * code from write(), not a signal that ends the process. */
    struct sigaction current;
    if (sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
}

struct ferry_loop *ferry_loop_get(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LOOP_KEY);
    struct ferry_loop **slot = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return slot ? *slot : NULL;
}
