/* Conversions between Lua values and JSON text (cJSON), for ctx.state persistence,
 * ctx.params and the config's opaque objects. Only data crosses: strings, finite
 * numbers, booleans and tables (arrays 1..n, or string-keyed objects); anything else is
 * an error naming the path ("state.positions[2].fn: cannot store a function"). */
#ifndef KS_LUA_JSON_H
#define KS_LUA_JSON_H

#include <stddef.h>

typedef struct lua_State lua_State;
struct cJSON;

/* Serializes the value at idx. On success *out is malloc'ed JSON (caller frees) and 0 is
 * returned; on failure -1 with one line in err. root names the value in messages. */
int ks_lua_to_json(lua_State *L, int idx, const char *root, char **out, char *err, size_t err_len);
/* Pushes the Lua value for a cJSON node. */
void ks_lua_push_cjson(lua_State *L, const struct cJSON *j);
/* Pushes the Lua value of JSON text; pushes nil (and returns -1) when it does not parse. */
int ks_lua_push_json(lua_State *L, const char *json);

#endif
