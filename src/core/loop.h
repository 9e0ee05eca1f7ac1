/* The event loop: one per Lua state, driving libcurl transfers, timers, file
 * descriptors (child process pipes and pidfds) and Ctrl-C.
 *
 * Modules embed a struct loop_op at the start of the userdata of anything a
 * task can wait for. When the operation makes progress the module calls
 * loop_op_ready(); the Lua scheduler (lua/task.lua) learns it from
 * loop.run_once() and resumes the task waiting on that userdata. Nothing here
 * calls into Lua, so no Lua error can cross a libcurl or poll frame. */
#ifndef FERRY_LOOP_H
#define FERRY_LOOP_H

#include <curl/curl.h>
#include <lua.h>

struct ferry_loop;

struct loop_op {
    struct ferry_loop *loop;
    struct loop_op *ready_next, *ready_prev;
    int ready; /* queued for the scheduler */
};

struct loop_timer {
    double deadline; /* monotonic seconds */
    void (*fire)(struct loop_timer *timer);
    struct loop_timer *next, *prev;
    int active;
};

struct loop_watch {
    int fd;
    short events; /* POLLIN / POLLOUT */
    void (*on_event)(struct loop_watch *watch, short revents);
    struct loop_watch *next, *prev;
    int active;
};

/* Every easy handle added to the loop's multi handle carries one of these
 * as its CURLOPT_PRIVATE, so the loop can report completion. */
struct loop_transfer {
    void (*done)(struct loop_transfer *transfer, CURLcode result);
};

/* Creates the loop of this Lua state (a userdata in the registry whose __gc
 * frees it after every operation's __gc has run); raises when libcurl
 * cannot make its multi handle. [-0, +0, v] */
void ferry_loop_open(lua_State *L);

/* The loop of this Lua state. [-0, +0, -] */
struct ferry_loop *ferry_loop_get(lua_State *L);

/* Makes SIGINT set the interrupt flag and wake the loop. [-0, +0, -] */
void ferry_loop_catch_interrupts(lua_State *L);

double loop_now(void);

void loop_op_init(struct loop_op *op, struct ferry_loop *loop);
void loop_op_ready(struct loop_op *op);
void loop_op_unready(struct loop_op *op);

/* Registers the op userdata at idx so run_once can hand it back to Lua. [-0, +0, m] */
void loop_op_register(lua_State *L, int idx, struct loop_op *op);

void loop_timer_start(struct ferry_loop *loop, struct loop_timer *timer, double seconds);
void loop_timer_stop(struct ferry_loop *loop, struct loop_timer *timer);

void loop_watch_start(struct ferry_loop *loop, struct loop_watch *watch);
void loop_watch_stop(struct ferry_loop *loop, struct loop_watch *watch);

CURLMcode loop_transfer_start(struct ferry_loop *loop, CURL *easy);
void loop_transfer_stop(struct ferry_loop *loop, CURL *easy);

/* Waits up to timeout seconds (< 0: until something happens) and dispatches
 * what happened. Returns the number of ready ops, or -1 if interrupted. */
int loop_poll(struct ferry_loop *loop, double timeout);

/* Pops the oldest ready op, or NULL. */
struct loop_op *loop_ready_pop(struct ferry_loop *loop);

/* Timers, watches and transfers still registered. */
int loop_active_count(struct ferry_loop *loop);

int loop_interrupted(void);
void loop_interrupt_clear(void);

/* The Lua thread the scheduler is running, so Ctrl-C can stop a busy loop in
 * it; returns the previous one. [-0, +0, -] */
lua_State *loop_running_thread_swap(lua_State *thread);

#endif
