/* Shared data conventions of the codecs (json, yaml):
 * - one null sentinel (a userdata whose __tostring is "null"), the same value
 *   as json.null and yaml.null;
 * - tables marked as arrays or objects through a shared metatable, so an empty
 *   [] or {} keeps its kind through decode -> encode. */
#ifndef FERRY_VALUE_H
#define FERRY_VALUE_H

#include <lua.h>

enum ferry_table_kind { FERRY_TABLE_UNMARKED, FERRY_TABLE_ARRAY, FERRY_TABLE_OBJECT };

/* Creates the sentinel and both metatables (idempotent). [-0, +0, m] */
void ferry_value_init(lua_State *L);

/* Pushes the null sentinel. [-0, +1, -] */
void ferry_null_push(lua_State *L);

/* Marks the table at idx as array or object (sets the shared metatable). [-0, +0, -] */
void ferry_table_mark(lua_State *L, int idx, enum ferry_table_kind kind);

/* The mark of the table at idx, FERRY_TABLE_UNMARKED if none. Reading
 * __jsontype from the table's metatable may run that metatable's own
 * __index. [-0, +0, e] */
enum ferry_table_kind ferry_table_marked(lua_State *L, int idx);

/* How the table at idx encodes: its mark, else an array when its keys are
 * exactly 1..n with n > 0 (*length receives n), else an object.
 * [-0, +0, e] (see ferry_table_marked) */
enum ferry_table_kind ferry_table_kind(lua_State *L, int idx, lua_Integer *length);

#endif
