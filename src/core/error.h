/* Errors as Lua values: a table {kind=..., message=..., ...} whose metatable
 * ("ferry.error") gives it a readable __tostring. Every ferry module raises
 * errors this way so recipes can inspect err.kind instead of parsing text. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <lua.h>

/* Pushes a new error table with fields kind and message. [-0, +1, m] */
void ferry_error_push(lua_State *L, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Pushes an error table like ferry_error_push and raises it. [-0, +0, v] */
int ferry_error_raise(lua_State *L, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Sets t[field] = value on the error table at the top of the stack. [-0, +0, m] */
void ferry_error_set_string(lua_State *L, const char *field, const char *value);
void ferry_error_set_integer(lua_State *L, const char *field, lua_Integer value);

/* Pushes the one line for the error value at idx, errors.format's (the only
 * place that formats errors), and returns it. [-0, +1, e] */
const char *ferry_error_format(lua_State *L, int idx);

/* Installs the "ferry.error" metatable (idempotent). [-0, +0, m] */
void ferry_error_init(lua_State *L);

#endif
