/* The ferry command: a thin shell around the embedding API. Everything past
 * option --lua-path is decided by the Lua side (lua/ferry/cli.lua). */
#include <stdio.h>
#include <string.h>

#include "ferry.h"

/* --lua-path must be known before any Lua module loads, the CLI's own
 * included, so it is taken here; it may appear anywhere before "--". */
static int take_lua_path(ferry_runtime *rt, int *argc, char **argv)
{
    int kept = 1;
    for (int i = 1; i < *argc; i++) {
        const char *dir = NULL;
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[kept++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--lua-path") == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "ferry: --lua-path needs a directory (--lua-path DIR)\n");
                return FERRY_EUSAGE;
            }
            dir = argv[++i];
        } else if (strncmp(argv[i], "--lua-path=", 11) == 0) {
            dir = argv[i] + 11;
        }
        if (dir) {
            if (ferry_add_lua_path(rt, dir) != FERRY_OK)
                return FERRY_EMEMORY;
            continue;
        }
        argv[kept++] = argv[i];
    }
    *argc = kept;
    return FERRY_OK;
}

int main(int argc, char **argv)
{
    ferry_runtime *rt = ferry_open();
    if (!rt) {
        fprintf(stderr, "ferry: cannot start: out of memory\n");
        return FERRY_EMEMORY;
    }
    int status = take_lua_path(rt, &argc, argv);
    if (status == FERRY_OK) {
        ferry_catch_interrupts(rt);
        status = ferry_run_main(rt, "ferry.cli", argc - 1, argv + 1);
        /* ferry.cli reports its own errors; this catches failures to load it */
        if (status != FERRY_OK && *ferry_last_error(rt))
            fprintf(stderr, "ferry: %s\n", ferry_last_error(rt));
    }
    ferry_close(rt);
    return status;
}
