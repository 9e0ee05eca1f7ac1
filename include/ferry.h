/* ferry — the embedding API.
 *
 * A ferry runtime is a Lua 5.4 state with ferry's modules (json, yaml, task,
 * http, exec, log, ...) available through require, an event loop that drives
 * HTTP transfers, timers and child processes, and a searcher for the Lua
 * library compiled into the binary. The ferry command itself uses only the
 * functions below; see docs/embedding.md for a complete example.
 *
 * Functions returning int return FERRY_OK or one of the FERRY_E* codes; the
 * message of the last failure is available from ferry_last_error(). They
 * never raise into the caller: each does all its Lua work (arguments,
 * results, error text) inside one protected call, out of memory included.
 */
#ifndef FERRY_H
#define FERRY_H

#ifdef __cplusplus
extern "C" {
#endif

#include <lua.h>

#define FERRY_VERSION "0.1.0"

enum ferry_status {
    FERRY_OK = 0,
    FERRY_ERUN = 1,         /* the Lua code raised an error */
    FERRY_EUSAGE = 2,       /* bad arguments, missing file */
    FERRY_EMEMORY = 3,      /* out of memory */
    FERRY_EINTERRUPTED = 130 /* stopped by Ctrl-C (SIGINT) */
};

typedef struct ferry_runtime ferry_runtime;

/* Creates a runtime with its own lua_State and every ferry module. Returns
 * NULL only when memory is exhausted. */
ferry_runtime *ferry_open(void);

/* Closes the Lua state (running every __gc/__close), then frees the runtime. */
void ferry_close(ferry_runtime *rt);

/* The runtime's Lua state, for registering your own functions. */
lua_State *ferry_state(ferry_runtime *rt);

/* Opens ferry's modules into a Lua state the caller owns: registers them in
 * package.preload and installs the searcher for the embedded Lua library.
 * Raises a Lua error on failure. [-0, +0, m] */
void ferry_open_modules(lua_State *L);

/* Puts a directory of Lua sources in front of the embedded library, so
 * require finds DIR/name.lua before the compiled-in copy (live editing).
 * Several calls add several directories, the latest first. */
int ferry_add_lua_path(ferry_runtime *rt, const char *dir);

/* Makes Ctrl-C (SIGINT) cancel the running tasks and return
 * FERRY_EINTERRUPTED; a second Ctrl-C ends the process. Process-wide. */
void ferry_catch_interrupts(ferry_runtime *rt);

/* Runs a Lua file with arg = {[0] = path, argv...}, then waits for the tasks
 * it spawned. */
int ferry_run_file(ferry_runtime *rt, const char *path, int argc, char **argv);

/* Runs a string of Lua code; chunkname names it in error messages. If the
 * code returns values and results is not NULL, *results receives the first
 * one converted to text (owned by the runtime, valid until the next call). */
int ferry_run_string(ferry_runtime *rt, const char *code, const char *chunkname,
                     const char **result);

/* Calls require(module).main(args) where args = {argv...} and returns its
 * integer result as the exit status (used by the ferry command). */
int ferry_run_main(ferry_runtime *rt, const char *module, int argc, char **argv);

/* The message of the last failure, or "" if none. Owned by the runtime. */
const char *ferry_last_error(ferry_runtime *rt);

/* The traceback of the last failure, or "" if none. Owned by the runtime. */
const char *ferry_last_traceback(ferry_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif
