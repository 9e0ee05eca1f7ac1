/* One libFuzzer target: a ferry runtime opened once per process, and a Lua
 * driver (tests/fuzz/NAME.lua, named at build time by FUZZ_DRIVER) that
 * returns {test = function(input), lua_coverage = bool}. Each input is one
 * protected call of test(input). A finding is a sanitizer report or crash,
 * or an error that is not a ferry error table ({kind, message}, see
 * lua/ferry/errors.lua): a raw Lua error such as "attempt to index a number
 * value" means a shape went unchecked. Then the harness prints the error
 * with its traceback and aborts, so libFuzzer keeps the input.
 *
 * libFuzzer sees coverage of the C it was built with (the codecs, the
 * runtime), not of the Lua library run by the uninstrumented Lua VM: a line
 * hook feeds (chunk, previous line, line) pairs into libFuzzer's extra
 * counters, so inputs that reach new Lua lines are kept as well. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"

#ifndef FUZZ_DRIVER
#error "FUZZ_DRIVER names the Lua driver of this target"
#endif

#define LUA_EDGE_COUNT 65536

__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[LUA_EDGE_COUNT];
static uintptr_t previous_line;

static ferry_runtime *runtime;
static int test_ref = LUA_NOREF;

static void count_line(lua_State *L, lua_Debug *ar)
{
    if (!lua_getinfo(L, "S", ar))
        return;
    uintptr_t here = (uintptr_t)ar->source * 2654435761u + (uintptr_t)ar->currentline;
    lua_edges[(here ^ previous_line) % LUA_EDGE_COUNT]++;
    previous_line = here >> 1;
}

static int is_ferry_error(lua_State *L, int index)
{
    index = lua_absindex(L, index);
    if (lua_type(L, index) != LUA_TTABLE)
        return 0;
    int kind = lua_getfield(L, index, "kind");
    int message = lua_getfield(L, index, "message");
    lua_pop(L, 2);
    return kind == LUA_TSTRING && message == LUA_TSTRING;
}

/* Message handler: a ferry error passes as it is, anything else gets the
 * traceback of where it was raised. [-1, +1, m] */
static int describe_error(lua_State *L)
{
    if (is_ferry_error(L, 1))
        return 1;
    luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
    return 1;
}

static void give_up(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz %s: %s: %s\n", FUZZ_DRIVER, what, detail);
    abort();
}

/* Loads the driver and keeps its test function. [-0, +0, e] */
static int load_driver(lua_State *L)
{
    if (luaL_dofile(L, FUZZ_DRIVER) != LUA_OK)
        return lua_error(L);
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_getfield(L, -1, "test");
    luaL_checktype(L, -1, LUA_TFUNCTION);
    test_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (lua_getfield(L, -1, "lua_coverage") == LUA_TBOOLEAN && lua_toboolean(L, -1))
        lua_sethook(L, count_line, LUA_MASKLINE, 0);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    runtime = ferry_open();
    if (!runtime)
        give_up("ferry_open", "out of memory");
    lua_State *L = ferry_state(runtime);
    lua_pushcfunction(L, load_driver);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        give_up("loading the driver", luaL_tolstring(L, -1, NULL));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = ferry_state(runtime);
    int top = lua_gettop(L);
    lua_pushcfunction(L, describe_error);
    lua_rawgeti(L, LUA_REGISTRYINDEX, test_ref);
    lua_pushlstring(L, (const char *)data, size);
    previous_line = 0;
    int status = lua_pcall(L, 1, 0, top + 1);
    if (status != LUA_OK && !is_ferry_error(L, -1))
        give_up("not a ferry error", luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    /* what the input left is freed now: else libFuzzer's leak check sees
     * more mallocs than frees on every input, and runs LeakSanitizer each time */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
