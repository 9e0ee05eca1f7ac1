/* require "ferry.loop": the primitives the task scheduler (lua/task.lua) is
 * built from — run the loop once, timers, and a resume that lets Ctrl-C reach
 * the running task. */
#include <lauxlib.h>

#include "core/error.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/names.h"

struct timer_op {
    struct loop_op op; /* first: the scheduler waits on it */
    struct loop_timer timer;
};

static void timer_fire(struct loop_timer *timer)
{
    struct timer_op *t = (struct timer_op *)((char *)timer - offsetof(struct timer_op, timer));
    loop_op_ready(&t->op);
}

/* cancel, __gc and __close: stops the timer and leaves the ready queue;
 * safe to call twice. [-(1|2), +0, v] */
static int timer_close(lua_State *L)
{
    struct timer_op *t = luaL_checkudata(L, 1, FERRY_TIMER_METATABLE);
    if (t->op.loop) {
        loop_timer_stop(t->op.loop, &t->timer);
        loop_op_unready(&t->op);
    }
    return 0;
}

/* loop.timer(seconds) -> timer op, ready once the time has passed. [-1, +1, v] */
static int loop_lua_timer(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    struct ferry_loop *loop = ferry_loop_get(L);
    struct timer_op *t = lua_newuserdatauv(L, sizeof *t, 0);
    loop_op_init(&t->op, NULL); /* closed state until started */
    t->timer = (struct loop_timer){.fire = timer_fire};
    luaL_setmetatable(L, FERRY_TIMER_METATABLE);
    t->op.loop = loop;
    loop_op_register(L, -1, &t->op);
    loop_timer_start(loop, &t->timer, seconds);
    return 1;
}

/* loop.run_once([timeout]) -> list of ready ops, interrupted. [-(0|1), +2, v] */
static int loop_lua_run_once(lua_State *L)
{
    double timeout = luaL_optnumber(L, 1, -1);
    struct ferry_loop *loop = ferry_loop_get(L);
    int status = loop_poll(loop, timeout);
    lua_newtable(L);
    lua_getfield(L, LUA_REGISTRYINDEX, FERRY_LOOP_OPS_KEY);
    lua_Integer n = 0;
    struct loop_op *op;
    while ((op = loop_ready_pop(loop))) {
        lua_pushlightuserdata(L, op);
        if (lua_rawget(L, -2) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        lua_seti(L, -3, ++n);
    }
    lua_pop(L, 1);
    lua_pushboolean(L, status < 0);
    return 2;
}

/* loop.active() -> number of timers, watches and transfers in flight. [-0, +1, -] */
static int loop_lua_active(lua_State *L)
{
    lua_pushinteger(L, loop_active_count(ferry_loop_get(L)));
    return 1;
}

/* loop.interrupted() -> whether a Ctrl-C is pending. [-0, +1, -] */
static int loop_lua_interrupted(lua_State *L)
{
    lua_pushboolean(L, loop_interrupted());
    return 1;
}

/* loop.clear_interrupt(): forgets a pending Ctrl-C and re-arms the handler. [-0, +0, -] */
static int loop_lua_clear_interrupt(lua_State *L)
{
    (void)L;
    loop_interrupt_clear();
    return 0;
}

/* loop.resume(co, ...) -> true, ... | false, err
 * Like coroutine.resume, but marks co as the running thread for Ctrl-C
 * (the scheduler takes a failed task's traceback, errors.traceback, before
 * it closes the coroutine): n arguments after co, r results of the
 * coroutine, or 2 values. [-(n+1), +(r+1)|2, v] */
static int loop_lua_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int nargs = lua_gettop(L) - 1;
    if (!lua_checkstack(co, nargs + LUA_MINSTACK))
        return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, nargs);
    lua_State *previous = loop_running_thread_swap(co);
    int nresults = 0;
    int status = lua_resume(co, L, nargs, &nresults);
    loop_running_thread_swap(previous);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nresults + 1)) {
            lua_pop(co, nresults);
            return luaL_error(L, "too many results to resume");
        }
        lua_pushboolean(L, 1);
        lua_xmove(co, L, nresults);
        return nresults + 1;
    }
    lua_pushboolean(L, 0);
    lua_xmove(co, L, 1); /* the error */
    return 2;
}

static const luaL_Reg loop_functions[] = {
    {"timer", loop_lua_timer},
    {"run_once", loop_lua_run_once},
    {"active", loop_lua_active},
    {"interrupted", loop_lua_interrupted},
    {"clear_interrupt", loop_lua_clear_interrupt},
    {"resume", loop_lua_resume},
    {NULL, NULL},
};

static const luaL_Reg timer_methods[] = {
    {"cancel", timer_close},
    {"__gc", timer_close},
    {"__close", timer_close},
    {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_ferry_loop(lua_State *L)
{
    if (luaL_newmetatable(L, FERRY_TIMER_METATABLE)) {
        luaL_setfuncs(L, timer_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, loop_functions);
    return 1;
}
