/* embed.c: a C program that embeds ferry through include/ferry.h.
 *
 * It opens a runtime, gives Lua one function of its own (host_clusters),
 * runs Lua code that checks those clusters concurrently with ferry's task
 * module and returns JSON, then shows how a failure is reported.
 *
 * Build (from the top of the repository, after `make`):
 *   cc -Iinclude examples/embed.c libferry.a \
 *      $(pkg-config --cflags --libs lua5.4 libcurl yaml-0.1 libgit2 libedit) -lm \
 *      -o embed
 */
#include <lauxlib.h>
#include <stdio.h>

#include "ferry.h"

/* host_clusters() -> {"prod-eun-1", ...}: what the host knows, handed to Lua. */
static int host_clusters(lua_State *L)
{
    static const char *const names[] = {"prod-eun-1", "prod-eun-2", "prod-euw-1"};
    int count = (int)(sizeof names / sizeof *names);
    lua_createtable(L, count, 0);
    for (int i = 0; i < count; i++) {
        lua_pushstring(L, names[i]);
        lua_seti(L, -2, i + 1);
    }
    return 1;
}

static const char check_clusters[] =
    "local json = require 'json'\n"
    "local task = require 'task'\n"
    "local checks = {}\n"
    "for i, name in ipairs(host_clusters()) do\n"
    "  checks[i] = function()\n"
    "    task.sleep(0.1) -- stands for a real request; the three run side by side\n"
    "    return name .. ' ok'\n"
    "  end\n"
    "end\n"
    "return json.encode({ checked = task.all(checks) })\n";

static const char find_cluster[] =
    "local errors = require 'ferry.errors'\n"
    "errors.raise('not_found', 'no cluster named prod-eun-9')\n";

int main(void)
{
    ferry_runtime *rt = ferry_open();
    if (!rt) {
        fprintf(stderr, "embed: out of memory\n");
        return 1;
    }
    lua_register(ferry_state(rt), "host_clusters", host_clusters);

    const char *result = NULL;
    int status = ferry_run_string(rt, check_clusters, "=check_clusters", &result);
    if (status != FERRY_OK) {
        fprintf(stderr, "embed: %s\n", ferry_last_error(rt));
        ferry_close(rt);
        return 1;
    }
    printf("result: %s\n", result);

    /* A failing run returns a status and leaves the runtime usable. */
    status = ferry_run_string(rt, find_cluster, "=find_cluster", NULL);
    printf("status: %d\n", status);
    printf("error: %s\n", ferry_last_error(rt));

    ferry_close(rt);
    return status == FERRY_ERUN ? 0 : 1;
}
