/* Embeds ferry the way docs/embedding.md shows, through include/ferry.h only. */
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "ferry.h"
#include "unit.h"

static void test_run_string_returns_result(void)
{
    ferry_runtime *rt = ferry_open();
    CHECK(rt != NULL);
    const char *result = NULL;
    CHECK(ferry_run_string(rt, "return 6 * 7", "=test", &result) == FERRY_OK);
    CHECK_STR(result, "42");
    ferry_close(rt);
}

static void test_modules_are_required(void)
{
    ferry_runtime *rt = ferry_open();
    const char *result = NULL;
    int status = ferry_run_string(rt,
        "local json = require 'json'\n"
        "return json.encode(json.decode('[1,2,{\"a\":null}]'))", "=modules", &result);
    CHECK(status == FERRY_OK);
    CHECK_STR(result, "[1,2,{\"a\":null}]");
    ferry_close(rt);
}

static void test_error_is_reported_with_traceback(void)
{
    ferry_runtime *rt = ferry_open();
    int status = ferry_run_string(rt, "local function f() error('boom') end f()", "=boom", NULL);
    CHECK(status == FERRY_ERUN);
    CHECK_CONTAINS(ferry_last_error(rt), "boom");
    CHECK_CONTAINS(ferry_last_traceback(rt), "stack traceback");
    /* the runtime stays usable after a failure */
    const char *result = NULL;
    CHECK(ferry_run_string(rt, "return 'again'", "=again", &result) == FERRY_OK);
    CHECK_STR(result, "again");
    CHECK_STR(ferry_last_error(rt), "");
    ferry_close(rt);
}

static void test_error_tables_keep_their_kind(void)
{
    ferry_runtime *rt = ferry_open();
    int status = ferry_run_string(rt, "require('json').decode('{')", "=bad", NULL);
    CHECK(status == FERRY_ERUN);
    CHECK_CONTAINS(ferry_last_error(rt), "json");
    ferry_close(rt);
}

static void test_syntax_error(void)
{
    ferry_runtime *rt = ferry_open();
    CHECK(ferry_run_string(rt, "return +", "=syntax", NULL) == FERRY_ERUN);
    CHECK_CONTAINS(ferry_last_error(rt), "syntax:1:");
    ferry_close(rt);
}

static void test_missing_file_is_a_usage_error(void)
{
    ferry_runtime *rt = ferry_open();
    CHECK(ferry_run_file(rt, "/nonexistent/script.lua", 0, NULL) == FERRY_EUSAGE);
    CHECK_CONTAINS(ferry_last_error(rt), "/nonexistent/script.lua");
    ferry_close(rt);
}

static int host_add(lua_State *L)
{
    lua_pushinteger(L, luaL_checkinteger(L, 1) + luaL_checkinteger(L, 2));
    return 1;
}

static void test_host_functions_and_files(void)
{
    ferry_runtime *rt = ferry_open();
    lua_register(ferry_state(rt), "host_add", host_add);
    char dir[] = "/tmp/ferry-embed-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char module[256], script[256];
    snprintf(module, sizeof module, "%s/greeting.lua", dir);
    snprintf(script, sizeof script, "%s/main.lua", dir);
    FILE *f = fopen(module, "w");
    fputs("return { text = 'hello from the override path' }\n", f);
    fclose(f);
    f = fopen(script, "w");
    fputs("local task = require 'task'\n"
          "local r = task.all { function() task.sleep(0.01) return host_add(1, 2) end,\n"
          "                     function() return require('greeting').text end }\n"
          "assert(r[1] == 3 and r[2] == 'hello from the override path')\n"
          "assert(arg[1] == 'x' and arg[0]:match('main.lua$'))\n", f);
    fclose(f);
    CHECK(ferry_add_lua_path(rt, dir) == FERRY_OK);
    char *argv[] = {"x"};
    int status = ferry_run_file(rt, script, 1, argv);
    CHECK(status == FERRY_OK);
    if (status != FERRY_OK)
        fprintf(stderr, "%s\n", ferry_last_error(rt));
    unlink(module);
    unlink(script);
    rmdir(dir);
    ferry_close(rt);
}

static void test_run_main_returns_exit_code(void)
{
    ferry_runtime *rt = ferry_open();
    char *argv[] = {"eval", "x = 1"};
    CHECK(ferry_run_main(rt, "ferry.cli", 2, argv) == 0);
    char *bad[] = {"no-such-command"};
    CHECK(ferry_run_main(rt, "ferry.cli", 1, bad) == FERRY_EUSAGE);
    ferry_close(rt);
}

static void test_open_modules_into_own_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    ferry_open_modules(L);
    int status = luaL_dostring(L, "return require('yaml').decode('a: [1, 2]').a[2]");
    CHECK(status == LUA_OK);
    CHECK(lua_tointeger(L, -1) == 2);
    lua_close(L);
}

static void host_on_interrupt(int signal_number)
{
    (void)signal_number;
}

/* Ctrl-C is the host's unless it hands it to ferry (ferry_catch_interrupts). */
static void test_host_keeps_its_interrupt_handler(void)
{
    struct sigaction mine, seen, previous;
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = host_on_interrupt;
    sigemptyset(&mine.sa_mask);
    sigaction(SIGINT, &mine, &previous);
    ferry_runtime *rt = ferry_open();
    CHECK(ferry_run_string(rt, "require('task').sleep(0.01)", "=sleep", NULL) == FERRY_OK);
    ferry_close(rt);
    sigaction(SIGINT, &previous, &seen);
    CHECK(seen.sa_handler == host_on_interrupt);
}

int main(void)
{
    clock_t started = clock();
    RUN(test_run_string_returns_result);
    RUN(test_modules_are_required);
    RUN(test_error_is_reported_with_traceback);
    RUN(test_error_tables_keep_their_kind);
    RUN(test_syntax_error);
    RUN(test_missing_file_is_a_usage_error);
    RUN(test_host_functions_and_files);
    RUN(test_run_main_returns_exit_code);
    RUN(test_open_modules_into_own_state);
    RUN(test_host_keeps_its_interrupt_handler);
    return unit_summary(started);
}
