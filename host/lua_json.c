/* Lua <-> JSON (see lua_json.h). */
#include "lua_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>

#define MAX_DEPTH 64

typedef struct conv {
    char *err;
    size_t err_len;
    char path[512];
} conv_t;

static int conv_fail(conv_t *c, const char *what)
{
    snprintf(c->err, c->err_len, "%s: %s", c->path, what);
    return -1;
}

/* True when the table at idx is a sequence 1..n with no other keys; sets *n. */
static int is_array(lua_State *L, int idx, size_t *n)
{
    size_t count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Number k = lua_tonumber(L, -1);
        if (k < 1 || k != floor(k)) {
            lua_pop(L, 1);
            return 0;
        }
        if ((size_t)k > max)
            max = (size_t)k;
        count++;
    }
    *n = count;
    return count == max;
}

static cJSON *to_cjson(lua_State *L, int idx, conv_t *c, int depth)
{
    size_t plen = strlen(c->path);
    cJSON *out = NULL;
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return cJSON_CreateNull();
    case LUA_TBOOLEAN:
        return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        lua_Number v = lua_tonumber(L, idx);
        if (!isfinite(v)) {
            conv_fail(c, "cannot store a non-finite number");
            return NULL;
        }
        return cJSON_CreateNumber(v);
    }
    case LUA_TSTRING:
        return cJSON_CreateString(lua_tostring(L, idx));
    case LUA_TTABLE:
        break;
    default:
        conv_fail(c, "cannot store this type");
        snprintf(c->err + strlen(c->err), c->err_len - strlen(c->err), " (%s)",
                 luaL_typename(L, idx));
        return NULL;
    }
    if (depth >= MAX_DEPTH) {
        conv_fail(c, "nested too deeply (or a cycle)");
        return NULL;
    }
    if (!lua_checkstack(L, 4)) {
        conv_fail(c, "out of stack");
        return NULL;
    }
    size_t n;
    if (is_array(L, idx, &n) && n > 0) {
        out = cJSON_CreateArray();
        for (size_t i = 1; out && i <= n; i++) {
            lua_rawgeti(L, idx, (int)i);
            snprintf(c->path + plen, sizeof(c->path) - plen, "[%zu]", i);
            cJSON *v = to_cjson(L, -1, c, depth + 1);
            lua_pop(L, 1);
            if (!v) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToArray(out, v);
        }
        c->path[plen] = '\0';
        return out;
    }
    out = cJSON_CreateObject();
    lua_pushnil(L);
    while (out && lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            cJSON_Delete(out);
            conv_fail(c, "table keys must be strings (or the table a plain array)");
            return NULL;
        }
        const char *k = lua_tostring(L, -2);
        snprintf(c->path + plen, sizeof(c->path) - plen, ".%s", k);
        cJSON *v = to_cjson(L, -1, c, depth + 1);
        lua_pop(L, 1);
        if (!v) {
            lua_pop(L, 1);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToObject(out, k, v);
    }
    c->path[plen] = '\0';
    return out;
}

int ks_lua_to_json(lua_State *L, int idx, const char *root, char **out, char *err, size_t err_len)
{
    conv_t c = {err, err_len, ""};
    snprintf(c.path, sizeof(c.path), "%s", root);
    cJSON *j = to_cjson(L, idx, &c, 0);
    if (!j)
        return -1;
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!*out) {
        snprintf(err, err_len, "%s: out of memory", root);
        return -1;
    }
    return 0;
}

void ks_lua_push_cjson(lua_State *L, const cJSON *j)
{
    if (!lua_checkstack(L, 3)) {
        lua_pushnil(L);
        return;
    }
    if (cJSON_IsNumber(j)) {
        lua_pushnumber(L, j->valuedouble);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsArray(j)) {
        int i = 1;
        const cJSON *e;
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        cJSON_ArrayForEach(e, j)
        {
            ks_lua_push_cjson(L, e);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsObject(j)) {
        const cJSON *e;
        lua_newtable(L);
        cJSON_ArrayForEach(e, j)
        {
            ks_lua_push_cjson(L, e);
            lua_setfield(L, -2, e->string);
        }
    } else {
        lua_pushnil(L);
    }
}

int ks_lua_push_json(lua_State *L, const char *json)
{
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!j) {
        lua_pushnil(L);
        return -1;
    }
    ks_lua_push_cjson(L, j);
    cJSON_Delete(j);
    return 0;
}
