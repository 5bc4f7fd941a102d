/* The strategy sandbox: a whitelist of the standard library, text-only load, a
 * require limited to strategies/lib, print to the strategy's log, and the string
 * metatable pointed at the sandboxed string table (no string.dump anywhere). Only
 * base, table, string, math and bit are opened in a strategy VM: io, os, package,
 * debug, ffi and jit never exist there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "log.h"
#include "lua_runtime.h"

/* ---- sandbox ---------------------------------------------------------------------- */

static int sb_print(lua_State *L)
{
    ks_strategy_t *st = ks_strategy_from_lua(L);
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        if (i > 1)
            luaL_addchar(&b, '\t');
        if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
            s = lua_tolstring(L, i, &len);
            luaL_addlstring(&b, s, len > 4096 ? 4096 : len);
        } else if (lua_isnil(L, i)) {
            luaL_addstring(&b, "nil");
        } else if (lua_isboolean(L, i)) {
            luaL_addstring(&b, lua_toboolean(L, i) ? "true" : "false");
        } else {
            luaL_addstring(&b, luaL_typename(L, i));
        }
    }
    luaL_pushresult(&b);
    char comp[KS_NAME_LEN + 16];
    snprintf(comp, sizeof(comp), "strategy.%s", st ? ks_strategy_name(st) : "?");
    ks_log(KS_LOG_INFO, comp, "%s", lua_tostring(L, -1));
    return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]): text only, default env the sandbox. */
static int sb_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *chunkname = luaL_optstring(L, 2, "=(load)");
    if (len > 0 && s[0] == LUA_SIGNATURE[0]) {
        lua_pushnil(L);
        lua_pushliteral(L, "binary chunks are not allowed");
        return 2;
    }
    if (luaL_loadbuffer(L, s, len, chunkname) != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (lua_istable(L, 4))
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(1)); /* the sandbox env */
    lua_setfenv(L, -2);
    return 1;
}

/* require(name): only strategies/lib/<name>.lua, loaded as text into the sandbox. */
static int sb_require(lua_State *L)
{
    ks_strategy_t *st = ks_strategy_from_lua(L);
    const char *name = luaL_checkstring(L, 1);
    char path[2400];
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return luaL_error(L, "require: invalid module name '%s'", name);
    if (strstr(name, ".."))
        return luaL_error(L, "require: invalid module name '%s'", name);
    lua_getfield(L, lua_upvalueindex(2), name); /* loaded cache */
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    /* strategies/lib next to the strategy's directory, then the source tree's. */
    char dir[1024];
    ks_strlcpy(dir, ks_strategy_cfg(st)->file, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    char mod[256];
    ks_strlcpy(mod, name, sizeof(mod));
    for (char *p = mod; *p; p++)
        if (*p == '.')
            *p = '/';
    snprintf(path, sizeof(path), "%s/lib/%s.lua", dir, mod);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(path, sizeof(path), "%s/strategies/lib/%s.lua", KS_SOURCE_DIR, mod);
        f = fopen(path, "rb");
    }
    if (!f)
        return luaL_error(L, "require: module '%s' not found in strategies/lib", name);
    fclose(f);
    char chunk[2500];
    snprintf(chunk, sizeof(chunk), "@%s", path);
    size_t len;
    char *text = NULL;
    {
        FILE *g = fopen(path, "rb");
        if (g) {
            fseek(g, 0, SEEK_END);
            long n = ftell(g);
            fseek(g, 0, SEEK_SET);
            text = malloc((size_t)n + 1);
            if (text) {
                len = fread(text, 1, (size_t)n, g);
                text[len] = '\0';
            }
            fclose(g);
        }
    }
    if (!text)
        return luaL_error(L, "require: cannot read %s", path);
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        free(text);
        return luaL_error(L, "require: %s is a binary chunk", path);
    }
    int rc = luaL_loadbuffer(L, text, len, chunk);
    free(text);
    if (rc != 0)
        return lua_error(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setfenv(L, -2);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, lua_upvalueindex(2), name);
    return 1;
}

static int sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") == 0) {
        lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                              (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    if (strcmp(opt, "collect") == 0 || strcmp(opt, "step") == 0) {
        lua_gc(L, strcmp(opt, "collect") == 0 ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
        lua_pushinteger(L, 0);
        return 1;
    }
    return luaL_error(L, "collectgarbage('%s') is not allowed in a strategy", opt);
}

/* Copies the named fields of table at index src into a new table on the stack. */
static void copy_fields(lua_State *L, int src, const char *const *names)
{
    lua_newtable(L);
    for (; *names; names++) {
        lua_getfield(L, src, *names);
        lua_setfield(L, -2, *names);
    }
}

static const char *const base_names[] = {
    "assert", "error",  "ipairs",   "next",  "pairs",   "pcall",    "select",       "tonumber",
    "tostring", "type", "unpack",   "xpcall", "rawequal", "rawget", "rawset", "setmetatable",
    "getmetatable", NULL};
static const char *const string_names[] = {"byte", "char",  "find",  "format", "gmatch",
                                           "gsub", "len",   "lower", "match",  "rep",
                                           "reverse", "sub", "upper", NULL};
static const char *const table_names[] = {"concat", "insert", "maxn", "remove", "sort", NULL};
static const char *const math_names[] = {
    "abs",  "acos", "asin", "atan", "atan2", "ceil", "cos",   "cosh", "deg",  "exp",
    "floor", "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "modf",
    "pi",   "pow",  "rad",  "random", "randomseed", "sin", "sinh", "sqrt", "tan", "tanh", NULL};
static const char *const coroutine_names[] = {"create", "resume", "running", "status",
                                              "wrap",   "yield",  NULL};
static const char *const bit_names[] = {"tobit", "tohex",   "bnot",   "band", "bor",  "bxor",
                                        "lshift", "rshift", "arshift", "rol", "ror", "bswap",
                                        NULL};

/* Builds the strategy's environment: a whitelist of the standard library plus print,
 * text-only load and a lib-only require. Leaves the env on the stack. */
void ks_lua_sandbox_push_env(lua_State *L)
{
    int g = LUA_GLOBALSINDEX;
    copy_fields(L, g, base_names);
    int env = lua_gettop(L);

    lua_getfield(L, g, "string");
    int realstr = lua_gettop(L);
    copy_fields(L, realstr, string_names);
    lua_pushvalue(L, -1);
    lua_setfield(L, env, "string");
    /* Methods on string values ("x"):dump() go through the string metatable: point it
     * at the sandboxed copy, remove dump from the real table, and protect it. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 3);
    lua_pushnil(L);
    lua_setfield(L, realstr, "dump");
    lua_pop(L, 1);

    const struct {
        const char *lib;
        const char *const *names;
    } libs[] = {{"table", table_names},
                {"math", math_names},
                {"coroutine", coroutine_names},
                {"bit", bit_names}};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        lua_getfield(L, g, libs[i].lib);
        copy_fields(L, lua_gettop(L), libs[i].names);
        lua_setfield(L, env, libs[i].lib);
        lua_pop(L, 1);
    }
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, env, "print");
    lua_pushcfunction(L, sb_collectgarbage);
    lua_setfield(L, env, "collectgarbage");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, sb_load, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, env, "load");
    lua_setfield(L, env, "loadstring");
    lua_pushvalue(L, env);
    lua_newtable(L); /* require's cache */
    lua_pushcclosure(L, sb_require, 2);
    lua_setfield(L, env, "require");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushliteral(L, "Lua 5.1");
    lua_setfield(L, env, "_VERSION");
}

/* ---- loading ---------------------------------------------------------------------- */

static int open_libs(lua_State *L)
{
    lua_pushcfunction(L, luaopen_base);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_table);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_string);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_math);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_bit);
    lua_call(L, 0, 0);
    return 0;
}


int ks_lua_sandbox_open(lua_State *L)
{
    return lua_cpcall(L, open_libs, NULL);
}
