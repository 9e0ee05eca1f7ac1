/* require "ferry.edit": line editing for the REPL on libedit — a prompt,
 * a history kept in a file, and Tab completion computed by a Lua function.
 *
 * The REPL reads through the event loop, so tasks keep running while the
 * user types: editor:start(prompt) shows the prompt and puts libedit in its
 * unbuffered mode (EL_UNBUFFERED, what libedit's rl_callback_read_char is
 * made of: each el_gets() takes one character); the editor is a loop op that
 * is ready when stdin is, and editor:feed() hands libedit what stdin holds,
 * without waiting, until the line is complete.
 *
 * While el_gets() runs, libedit calls back into this file: for the prompt,
 * for each character (editor_read_char), for Tab (editor_complete) and for
 * Ctrl-C (editor_interrupt_key). None of these callbacks may raise a Lua
 * error, since a longjmp would leave libedit's frames (and the terminal
 * mode) behind: the completer runs under lua_pcall, its answer is read with
 * functions that cannot raise, and a failure becomes a beep; Ctrl-C is only
 * recorded, and answered once el_gets() has returned.
 *
 * Ctrl-C at the prompt: while a line is edited the terminal sends it as a
 * key (no SIGINT, which would cancel the tasks running meanwhile), so it
 * only ends the line: feed answers nil, "interrupted" with the terminal
 * restored, and the REPL prompts again. A SIGINT from elsewhere sets the
 * loop's interrupt flag, which the character reader sees likewise. */
#include <errno.h>
#include <histedit.h>
#include <lauxlib.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include <stddef.h>

#include "core/error.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/names.h"

#define DEFAULT_HISTORY_SIZE 1000
#define COMPLETION_STACK 16     /* slots the Tab callback may push */
#define READ_POLL_MS 250        /* how often a blocked read looks at Ctrl-C */

struct editor {
    struct loop_op op;    /* first: ready when stdin is, while a line is read */
    struct loop_watch input;
    EditLine *el;         /* NULL once closed */
    History *history;     /* NULL once closed */
    HistEvent event;
    int in_fd;
    int terminal;         /* stdin is a terminal (else libedit reads whole lines) */
    int reading;          /* between start and the line's end: unbuffered mode */
    int interrupt_key;    /* Ctrl-C was pressed in this el_gets() */
    FILE *out;
    mbstate_t input_state;
    /* Set only while el_gets() runs (busy): the thread that called it and
     * the stack slot of the completer in that thread (0: none). */
    int busy;
    lua_State *L;
    int completer_index;
    const char *prompt;   /* while reading; kept alive as uservalue 2 */
};

#define EDITOR_OF(ptr, member) ((struct editor *)((char *)(ptr) - offsetof(struct editor, member)))

static struct editor *editor_of(EditLine *el)
{
    void *data = NULL;
    el_get(el, EL_CLIENTDATA, &data);
    return data;
}

/* ---- libedit callbacks: nothing here raises ---------------------------- */

static char *editor_prompt(EditLine *el)
{
    struct editor *e = editor_of(el);
    return (char *)(e && e->prompt ? e->prompt : "");
}

/* Reads one character for libedit. Returns 1 with *out set, 0 at end of
 * input, -1 with errno set on failure — EINTR when Ctrl-C was pressed. */
static int editor_read_char(EditLine *el, wchar_t *out)
{
    struct editor *e = editor_of(el);
    for (;;) {
        if (loop_interrupted()) {
            errno = EINTR;
            return -1;
        }
        struct pollfd input = {.fd = e->in_fd, .events = POLLIN};
        int ready = poll(&input, 1, READ_POLL_MS);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready <= 0)
            continue; /* a signal or the poll period: look at the flag again */
        char byte;
        ssize_t n = read(e->in_fd, &byte, 1);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        if (n == 0)
            return 0;
        size_t converted = mbrtowc(out, &byte, 1, &e->input_state);
        if (converted == (size_t)-2)
            continue; /* the middle of a multibyte character */
        if (converted == (size_t)-1) {
            /* not valid in this locale: pass the byte on rather than lose it */
            memset(&e->input_state, 0, sizeof e->input_state);
            *out = (wchar_t)(unsigned char)byte;
        }
        return 1;
    }
}

struct completion_request {
    const char *line;
    size_t cursor;
    size_t length;
    int columns;
};

/* completer(text_before_cursor, line, columns) -> {prefix=, replace=} |
 * {prefix=, listing=} | nil: what Tab does, decided in Lua (repl.complete's
 * edit). Leaves prefix, replace and listing, each a string or nil. [-2, +3, e] */
static int completion_call(lua_State *L)
{
    const struct completion_request *request = lua_touserdata(L, 2);
    lua_settop(L, 1);
    lua_pushvalue(L, 1); /* the answer lands at 2 */
    lua_pushlstring(L, request->line, request->cursor);
    lua_pushlstring(L, request->line, request->length);
    lua_pushinteger(L, request->columns);
    lua_call(L, 3, 1);
    int answered = lua_istable(L, 2);
    const char *fields[] = {"prefix", "replace", "listing"};
    for (int i = 0; i < 3; i++) {
        if (!answered || lua_getfield(L, 2, fields[i]) != LUA_TSTRING) {
            if (answered)
                lua_pop(L, 1);
            lua_pushnil(L);
        }
    }
    return 3;
}

static int terminal_columns(FILE *out)
{
    struct winsize size;
    if (ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

/* Replaces the prefix before the cursor with text. */
static unsigned char line_replace(EditLine *el, const char *prefix, const char *text)
{
    size_t prefix_chars = mbstowcs(NULL, prefix, 0);
    if (prefix_chars == (size_t)-1)
        prefix_chars = strlen(prefix);
    if (prefix_chars > 0)
        el_deletestr(el, (int)prefix_chars);
    return text[0] != '\0' && el_insertstr(el, text) != 0 ? CC_ERROR : CC_REFRESH;
}

/* Does what the checked answer at base (prefix, replace, listing) says, once
 * the prefix is seen to be what the line has before the cursor. Nothing
 * here raises. */
static unsigned char completion_apply(struct editor *e, EditLine *el, lua_State *L, int base,
                                      const struct completion_request *request)
{
    size_t prefix_length;
    const char *prefix = lua_tolstring(L, base, &prefix_length);
    const char *replace = lua_tostring(L, base + 1);
    const char *listing = lua_tostring(L, base + 2);
    if (!prefix || prefix_length > request->cursor ||
        memcmp(request->line + request->cursor - prefix_length, prefix, prefix_length) != 0)
        return CC_ERROR;
    if (replace)
        return line_replace(el, prefix, replace);
    if (!listing)
        return CC_ERROR;
    fputs(listing, e->out);
    fflush(e->out);
    return CC_REDISPLAY;
}

/* The function bound to Tab. */
static unsigned char editor_complete(EditLine *el, int ch)
{
    (void)ch;
    struct editor *e = editor_of(el);
    if (!e || !e->L || !e->completer_index)
        return CC_ERROR;
    lua_State *L = e->L;
    const LineInfo *info = el_line(el);
    struct completion_request request = {
        .line = info->buffer,
        .cursor = (size_t)(info->cursor - info->buffer),
        .length = (size_t)(info->lastchar - info->buffer),
        .columns = terminal_columns(e->out),
    };
    int top = lua_gettop(L); /* readline reserved COMPLETION_STACK slots */
    lua_pushcfunction(L, completion_call);
    lua_pushvalue(L, e->completer_index);
    lua_pushlightuserdata(L, &request);
    if (lua_pcall(L, 2, 3, 0) != LUA_OK) {
        lua_settop(L, top); /* the completer failed: beep, keep the line */
        return CC_ERROR;
    }
    unsigned char result = completion_apply(e, el, L, top + 1, &request);
    lua_settop(L, top);
    return result;
}

/* The function bound to Ctrl-C: records it and ends the line; feed answers
 * "interrupted" once el_gets() has returned. */
static unsigned char editor_interrupt_key(EditLine *el, int ch)
{
    (void)ch;
    struct editor *e = editor_of(el);
    if (e)
        e->interrupt_key = 1;
    return CC_NEWLINE;
}

static void on_input_ready(struct loop_watch *watch, short revents)
{
    (void)revents;
    loop_op_ready(&EDITOR_OF(watch, input)->op);
}

/* ---- the editor userdata ------------------------------------------------ */

/* Shows the prompt and enters libedit's unbuffered mode, stdin watched by
 * the loop. Nothing here raises. */
static void reading_start(struct editor *e, const char *prompt)
{
    e->prompt = prompt;
    e->interrupt_key = 0;
    memset(&e->input_state, 0, sizeof e->input_state);
    e->reading = 1;
    if (e->terminal) /* else libedit reads whole lines, as it must for a pipe */
        el_set(e->el, EL_UNBUFFERED, 1);
    if (e->op.loop)
        loop_watch_start(e->op.loop, &e->input);
}

/* Leaves unbuffered mode (restoring the terminal) and stops watching stdin. */
static void reading_finish(struct editor *e)
{
    if (!e->reading)
        return;
    e->reading = 0;
    if (e->el && e->terminal)
        el_set(e->el, EL_UNBUFFERED, 0);
    if (e->op.loop) {
        loop_watch_stop(e->op.loop, &e->input);
        loop_op_unready(&e->op);
    }
    e->prompt = NULL;
}

static struct editor *editor_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, FERRY_EDITOR_METATABLE);
}

static struct editor *editor_check_open(lua_State *L, int idx)
{
    struct editor *e = editor_check(L, idx);
    if (!e->el)
        luaL_error(L, "the editor is closed");
    return e;
}

/* Ends libedit (restoring the terminal) and frees the history; safe to call
 * twice. Serves close, __gc and __close. [-0, +0, v] */
static int editor_close(lua_State *L)
{
    struct editor *e = editor_check(L, 1);
    if (e->busy)
        return luaL_error(L, "cannot close the editor while readline runs");
    reading_finish(e);
    if (e->el) {
        el_end(e->el);
        e->el = NULL;
    }
    if (e->history) {
        history_end(e->history);
        e->history = NULL;
    }
    return 0;
}

/* Line editing needs the user's character set (UTF-8) rather than "C". */
static void locale_from_environment(void)
{
    const char *current = setlocale(LC_CTYPE, NULL);
    if (current && strcmp(current, "C") == 0)
        setlocale(LC_CTYPE, "");
}

/* edit.new{name=, history_size=, complete=} -> editor. [-0|1, +1, e] */
static int edit_new(lua_State *L)
{
    const char *name = "ferry";
    lua_Integer history_size = DEFAULT_HISTORY_SIZE;
    lua_settop(L, 1);
    if (lua_isnil(L, 1))
        lua_newtable(L), lua_replace(L, 1);
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "name") != LUA_TNIL) /* 2: stays until el_init copied it */
        name = luaL_checkstring(L, 2);
    if (lua_getfield(L, 1, "history_size") != LUA_TNIL) /* 3 */
        history_size = luaL_checkinteger(L, 3);
    if (history_size < 1 || history_size > 1000000)
        return luaL_error(L, "history_size must be between 1 and 1000000");
    int type = lua_getfield(L, 1, "complete"); /* 4 */
    if (type != LUA_TNIL && type != LUA_TFUNCTION)
        return luaL_error(L, "complete must be a function (got %s)", lua_typename(L, type));
    /* closed state first, so __gc is safe whatever fails below */
    struct editor *e = lua_newuserdatauv(L, sizeof *e, 2);
    memset(e, 0, sizeof *e);
    luaL_setmetatable(L, FERRY_EDITOR_METATABLE);
    lua_pushvalue(L, 4);
    lua_setiuservalue(L, -2, 1);
    locale_from_environment();
    e->in_fd = fileno(stdin);
    e->terminal = isatty(e->in_fd);
    loop_op_init(&e->op, ferry_loop_get(L));
    e->input = (struct loop_watch){.fd = e->in_fd, .events = POLLIN, .on_event = on_input_ready};
    loop_op_register(L, -1, &e->op);
    e->out = stdout;
    e->history = history_init();
    if (!e->history)
        return ferry_error_raise(L, "memory", "cannot create the line editor's history: out of memory");
    history(e->history, &e->event, H_SETSIZE, (int)history_size);
    history(e->history, &e->event, H_SETUNIQUE, 1);
    e->el = el_init(name, stdin, stdout, stderr);
    if (!e->el)
        return ferry_error_raise(L, "memory", "cannot start the line editor (libedit): out of memory");
    el_set(e->el, EL_CLIENTDATA, (void *)e);
    el_set(e->el, EL_EDITOR, "emacs");
    el_set(e->el, EL_PROMPT_ESC, editor_prompt, '\1');
    el_set(e->el, EL_HIST, history, e->history);
    el_set(e->el, EL_GETCFN, editor_read_char);
    /* the wide form: libedit keeps these (static) strings, where the narrow
     * form would leak the copies it makes of them */
    el_wset(e->el, EL_ADDFN, L"ferry-complete", L"complete the word before the cursor",
            editor_complete);
    el_set(e->el, EL_BIND, "^I", "ferry-complete", NULL);
    /* Ctrl-C reaches libedit as a key while a line is edited (see the top) */
    el_set(e->el, EL_SETTY, "-d", "-isig", NULL);
    el_wset(e->el, EL_ADDFN, L"ferry-interrupt", L"abandon the line", editor_interrupt_key);
    el_set(e->el, EL_BIND, "^C", "ferry-interrupt", NULL);
    el_set(e->el, EL_BIND, "^R", "em-inc-search-prev", NULL);
    el_source(e->el, NULL); /* the user's ~/.editrc, if any */
    return 1;
}

/* One el_gets(): libedit takes the input it needs (one character of a
 * terminal). When the line has ended pushes its answer — line | nil, "eof" |
 * nil, "interrupted" | nil, "error", message — and returns how many values;
 * returns 0 while the line goes on. The completer must be at stack slot 2.
 * [-0, +0|1|2|3, m] */
static int reading_step(lua_State *L, struct editor *e)
{
    e->busy = 1;
    e->L = L;
    e->completer_index = lua_isfunction(L, 2) ? 2 : 0;
    int count = 0;
    errno = 0;
    const char *line = el_gets(e->el, &count);
    int failure = errno;
    e->busy = 0;
    e->L = NULL;
    e->completer_index = 0;
    if (e->interrupt_key || loop_interrupted()) {
        reading_finish(e);
        lua_pushnil(L);
        lua_pushliteral(L, "interrupted");
        return 2;
    }
    if (line && count > 0 && (!e->terminal || line[count - 1] == '\n')) {
        reading_finish(e); /* the line stays in libedit's buffer until the next start */
        size_t length = (size_t)count;
        if (line[length - 1] == '\n')
            length--;
        lua_pushlstring(L, line, length);
        return 1;
    }
    if (!line && count == 0) {
        reading_finish(e);
        lua_pushnil(L);
        lua_pushliteral(L, "eof");
        return 2;
    }
    if (!line && failure != 0 && failure != EINTR && failure != EAGAIN) {
        reading_finish(e);
        lua_pushnil(L);
        lua_pushliteral(L, "error");
        lua_pushstring(L, strerror(failure));
        return 3;
    }
    return 0; /* an edit of the line: more to come */
}

/* Checks the editor at 1 and puts its completer at 2. [-0, +0, e] */
static struct editor *reading_prepare(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    if (e->busy)
        luaL_error(L, "readline is already running (called from the completer?)");
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1); /* 2: the completer, or nil */
    luaL_checkstack(L, COMPLETION_STACK, "no stack space for completion");
    return e;
}

/* editor:start(prompt) -> editor: shows the prompt and reads a line through
 * the loop: the editor is ready (task.await) when stdin has input for feed.
 * The prompt may wrap terminal escapes in \1. [-2, +1, e] */
static int editor_start(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    luaL_checkstring(L, 2);
    if (e->busy)
        return luaL_error(L, "readline is already running (called from the completer?)");
    reading_finish(e);
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, 2); /* keeps the prompt alive while reading */
    reading_start(e, lua_tostring(L, 2));
    lua_settop(L, 1);
    return 1;
}

/* editor:feed() -> line | nil, "eof" | nil, "interrupted" | nil, "error",
 * message | false: gives libedit the input stdin has now, never waiting for
 * more; false means the line goes on (await the editor, feed again).
 * [-1, +1|2|3, e] */
static int editor_feed(lua_State *L)
{
    struct editor *e = reading_prepare(L);
    if (!e->reading)
        return luaL_error(L, "feed without start: call editor:start(prompt) first");
    for (;;) {
        struct pollfd input = {.fd = e->in_fd, .events = POLLIN};
        if (poll(&input, 1, 0) <= 0) {
            lua_pushboolean(L, 0);
            return 1;
        }
        int results = reading_step(L, e);
        if (results > 0)
            return results;
    }
}

/* editor:readline(prompt) -> as feed, waiting for the whole line (the loop
 * does not run meanwhile). [-2, +1|2|3, e] */
static int editor_readline(lua_State *L)
{
    luaL_checkstring(L, 2);
    lua_pushcfunction(L, editor_start);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 0);
    struct editor *e = reading_prepare(L);
    int results;
    while ((results = reading_step(L, e)) == 0) {
    }
    return results;
}

/* editor:add_history(line) -> editor. [-2, +1, e] */
static int editor_add_history(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    const char *line = luaL_checkstring(L, 2);
    if (*line && history(e->history, &e->event, H_ENTER, line) < 0)
        return ferry_error_raise(L, "edit", "cannot add to the history: %s", e->event.str);
    lua_settop(L, 1);
    return 1;
}

/* editor:load_history(path) -> number of entries | nil, message. [-2, +1|2, m] */
static int editor_load_history(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    const char *path = luaL_checkstring(L, 2);
    errno = 0;
    int loaded = history(e->history, &e->event, H_LOAD, path);
    if (loaded < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, errno ? strerror(errno) : "not a history file");
        return 2;
    }
    lua_pushinteger(L, loaded);
    return 1;
}

/* editor:save_history(path) -> true | nil, message (the file is made
 * readable by its owner only). [-2, +1|2, m] */
static int editor_save_history(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    const char *path = luaL_checkstring(L, 2);
    errno = 0;
    if (history(e->history, &e->event, H_SAVE, path) < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, errno ? strerror(errno) : "cannot write the history");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* editor:history() -> the entries, oldest first. [-1, +1, m] */
static int editor_history(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    lua_newtable(L);
    lua_Integer n = 0;
    for (int more = history(e->history, &e->event, H_LAST); more >= 0;
         more = history(e->history, &e->event, H_PREV)) {
        lua_pushstring(L, e->event.str);
        lua_seti(L, -2, ++n);
    }
    return 1;
}

/* editor:clear_history() -> editor. [-1, +1, e] */
static int editor_clear_history(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    history(e->history, &e->event, H_CLEAR);
    lua_settop(L, 1);
    return 1;
}

/* editor:set_completer(fn | nil) -> editor. [-2, +1, e] */
static int editor_set_completer(lua_State *L)
{
    struct editor *e = editor_check_open(L, 1);
    if (e->busy)
        return luaL_error(L, "cannot change the completer while readline runs");
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_setiuservalue(L, 1, 1);
    return 1;
}

static int editor_tostring(lua_State *L)
{
    struct editor *e = editor_check(L, 1);
    lua_pushstring(L, e->el ? "ferry.editor" : "ferry.editor (closed)");
    return 1;
}

/* edit.columns() -> the width of the terminal on stdout, or nil. [-0, +1, -] */
static int edit_columns(lua_State *L)
{
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        lua_pushinteger(L, size.ws_col);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg editor_methods[] = {
    {"start", editor_start},
    {"feed", editor_feed},
    {"readline", editor_readline},
    {"add_history", editor_add_history},
    {"load_history", editor_load_history},
    {"save_history", editor_save_history},
    {"history", editor_history},
    {"clear_history", editor_clear_history},
    {"set_completer", editor_set_completer},
    {"close", editor_close},
    {"__gc", editor_close},
    {"__close", editor_close},
    {"__tostring", editor_tostring},
    {NULL, NULL},
};

static const luaL_Reg edit_functions[] = {
    {"new", edit_new},
    {"columns", edit_columns},
    {NULL, NULL},
};

int luaopen_ferry_edit(lua_State *L)
{
    if (luaL_newmetatable(L, FERRY_EDITOR_METATABLE)) {
        luaL_setfuncs(L, editor_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, edit_functions);
    return 1;
}
