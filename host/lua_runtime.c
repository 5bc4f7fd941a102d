/* Strategy runtime (see lua_runtime.h): VM creation, sandbox, budgets, callbacks. */
#include "lua_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>

#include "engine.h"
#include "log.h"

#define HOOK_STEP 1000 /* instructions between budget checks */
#define MAX_TIMERS 64
#define REG_STRATEGY "kestrel.strategy"

typedef struct st_timer {
    ks_strategy_t *st;
    char name[KS_NAME_LEN];
    uint64_t id;
    bool repeat;
} st_timer_t;

struct ks_strategy {
    ks_engine_t *eng;
    int idx;
    const ks_strategy_cfg_t *cfg;
    char name[KS_NAME_LEN];
    char component[KS_NAME_LEN + 16];
    uint32_t venue;
    lua_State *L;
    int ref_module, ref_ctx, ref_msgh;
    uint32_t channels; /* KS_CH_* wanted by the defined callbacks */
    ks_strategy_phase_t phase;
    bool enabled;
    /* budgets */
    size_t mem, mem_limit, mem_peak;
    int64_t budget, used;
    bool budget_blown, mem_blown;
    /* counters */
    uint64_t callbacks, errors, events;
    int64_t *err_times; /* ring of the last max_errors error times (monotonic ns) */
    int err_head;
    st_timer_t *timers[MAX_TIMERS];
    bool close_posted;
};

/* ---- allocator with a cap --------------------------------------------------------- */

static void *st_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ks_strategy_t *st = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        st->mem -= old;
        return NULL;
    }
    if (nsize > old && st->mem + (nsize - old) > st->mem_limit) {
        st->mem_blown = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    st->mem = st->mem - old + nsize;
    if (st->mem > st->mem_peak)
        st->mem_peak = st->mem;
    return p;
}

/* ---- instruction budget ----------------------------------------------------------- */

static ks_strategy_t *current; /* the strategy whose VM is running (single-threaded) */

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    ks_strategy_t *st = current;
    if (!st)
        return;
    st->used += st->budget_blown ? 1 : HOOK_STEP;
    if (st->used > st->budget) {
        if (!st->budget_blown) {
            st->budget_blown = true;
            /* From now on every instruction raises, so pcall inside the strategy cannot
             * swallow the error and keep looping. */
            lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        }
        luaL_error(L, "instruction budget exceeded (%lld instructions per callback)",
                   (long long)st->budget);
    }
}

/* Message handler: a traceback for string errors; never calls metamethods of an error
 * object (a hostile __tostring must not run here). */
static int msgh(lua_State *L)
{
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    if (!msg) {
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        msg = lua_tostring(L, -1);
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

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
    ks_log(KS_LOG_INFO, st ? st->component : "strategy", "%s", lua_tostring(L, -1));
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
    ks_strlcpy(dir, st->cfg->file, sizeof(dir));
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
static void build_sandbox(lua_State *L)
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

static char *read_file(const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static const char *lua_type_word(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return "number";
    case LUA_TSTRING: return "string";
    case LUA_TBOOLEAN: return "boolean";
    case LUA_TTABLE: return "table";
    case LUA_TNIL: return "null";
    default: return luaL_typename(L, idx);
    }
}

/* Pushes a Lua value for a cJSON node. */
static void push_json(lua_State *L, const cJSON *j)
{
    if (cJSON_IsNumber(j)) {
        lua_pushnumber(L, j->valuedouble);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsArray(j)) {
        int i = 1;
        const cJSON *c;
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        cJSON_ArrayForEach(c, j)
        {
            push_json(L, c);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsObject(j)) {
        const cJSON *c;
        lua_newtable(L);
        cJSON_ArrayForEach(c, j)
        {
            push_json(L, c);
            lua_setfield(L, -2, c->string);
        }
    } else {
        lua_pushnil(L);
    }
}

/* Builds ctx.params: the module's `params` defaults overridden by the config's params,
 * whose types must match the defaults. Leaves the table on the stack. */
static int build_params(lua_State *L, ks_strategy_t *st, int module, char *err, size_t err_len)
{
    cJSON *cfg = cJSON_Parse(st->cfg->params_json ? st->cfg->params_json : "{}");
    const cJSON *c;
    lua_newtable(L);
    int params = lua_gettop(L);
    lua_getfield(L, module, "params");
    int defaults = lua_istable(L, -1) ? lua_gettop(L) : 0;
    if (defaults) {
        lua_pushnil(L);
        while (lua_next(L, defaults)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_settable(L, params);
        }
    }
    cJSON_ArrayForEach(c, cfg)
    {
        push_json(L, c);
        if (defaults) {
            lua_getfield(L, defaults, c->string);
            if (lua_isnil(L, -1)) {
                snprintf(err, err_len, "strategies.%s.params.%s: unknown parameter (the strategy "
                                       "declares no default for it)",
                         st->name, c->string);
                cJSON_Delete(cfg);
                return -1;
            }
            if (lua_type(L, -1) != lua_type(L, -2)) {
                snprintf(err, err_len, "strategies.%s.params.%s: expected %s, got %s", st->name,
                         c->string, lua_type_word(L, -1), lua_type_word(L, -2));
                cJSON_Delete(cfg);
                return -1;
            }
            lua_pop(L, 1);
        }
        lua_setfield(L, params, c->string);
    }
    cJSON_Delete(cfg);
    lua_settop(L, params);
    return 0;
}

static void set_phase(ks_strategy_t *st, ks_strategy_phase_t ph)
{
    st->phase = ph;
}

/* Runs fn (with nargs args already pushed above it) under the budget. Returns 0, or
 * a Lua error code after logging the traceback and counting the error. */
static int protected_call(ks_strategy_t *st, int nargs, const char *what)
{
    lua_State *L = st->L;
    int base = lua_gettop(L) - nargs;
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->ref_msgh);
    lua_insert(L, base);
    ks_strategy_t *prev = current;
    current = st;
    st->used = 0;
    if (!st->budget_blown)
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_STEP);
    int rc = lua_pcall(L, nargs, 0, base);
    current = prev;
    st->callbacks++;
    if (rc == 0) {
        lua_remove(L, base);
        return 0;
    }
    const char *msg = lua_tostring(L, -1);
    st->errors++;
    ks_log_error(st->component, "%s failed: %s", what, msg ? msg : "(no message)");
    char detail[600];
    char esc[400];
    size_t j = 0;
    for (const char *p = msg ? msg : ""; *p && j + 2 < sizeof(esc); p++) {
        if (*p == '"' || *p == '\\')
            esc[j++] = '\\';
        esc[j++] = *p == '\n' ? ' ' : *p == '\t' ? ' ' : *p;
    }
    esc[j] = '\0';
    snprintf(detail, sizeof(detail), "{\"callback\":\"%s\",\"error\":\"%s\"}", what, esc);
    ks_engine_journal(st->eng, "strategy.error", st->name, detail);
    lua_settop(L, base - 1);
    if (st->budget_blown) {
        ks_strategy_disable(st, "instruction budget exceeded");
        return rc;
    }
    if (rc == LUA_ERRMEM || st->mem_blown) {
        ks_strategy_disable(st, "memory limit exceeded");
        return rc;
    }
    /* Too many errors within the window disable the strategy. */
    int max = st->cfg->max_errors > 0 ? st->cfg->max_errors : 10;
    int64_t now = ks_loop_now_ns(ks_engine_loop(st->eng));
    int64_t oldest = st->err_times[st->err_head];
    st->err_times[st->err_head] = now;
    st->err_head = (st->err_head + 1) % max;
    int64_t window = (int64_t)(st->cfg->error_window_s > 0 ? st->cfg->error_window_s : 60) *
                     1000000000LL;
    if (st->errors >= (uint64_t)max && now - oldest <= window)
        ks_strategy_disable(st, "too many errors");
    return rc;
}

ks_strategy_t *ks_strategy_load(ks_engine_t *eng, int idx, const ks_strategy_cfg_t *cfg,
                                char *err, size_t err_len)
{
    size_t len;
    char chunkname[1100];
    ks_strategy_t *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    st->eng = eng;
    st->idx = idx;
    st->cfg = cfg;
    ks_strlcpy(st->name, cfg->name, sizeof(st->name));
    snprintf(st->component, sizeof(st->component), "strategy.%s", cfg->name);
    st->mem_limit = cfg->memory_limit > 0 ? (size_t)cfg->memory_limit : (size_t)64 << 20;
    st->budget = cfg->instruction_budget > 0 ? cfg->instruction_budget : 10000000;
    st->err_times = calloc((size_t)(cfg->max_errors > 0 ? cfg->max_errors : 10), sizeof(int64_t));
    st->ref_module = st->ref_ctx = st->ref_msgh = LUA_NOREF;
    int v = ks_engine_venue_by_name(eng, cfg->venue);
    st->venue = v < 0 ? 0 : (uint32_t)v;
    if (!st->err_times) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    if (cfg->jit) {
        snprintf(err, err_len, "strategies.%s.jit: JIT is refused for now: the instruction-budget "
                               "hook never fires inside JIT-compiled traces",
                 cfg->name);
        goto fail;
    }
    st->L = lua_newstate(st_alloc, st);
    if (!st->L) {
        snprintf(err, err_len, "%s: cannot create a Lua VM", cfg->file);
        goto fail;
    }
    lua_State *L = st->L;
    /* The JIT stays off: count hooks do not fire inside compiled traces. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    if (lua_cpcall(L, open_libs, NULL) != 0) {
        snprintf(err, err_len, "%s: cannot open the Lua libraries", cfg->file);
        goto fail;
    }
    lua_pushlightuserdata(L, st);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_STRATEGY);
    lua_pushcfunction(L, msgh);
    st->ref_msgh = luaL_ref(L, LUA_REGISTRYINDEX);

    char *text = read_file(cfg->file, &len, err, err_len);
    if (!text)
        goto fail;
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        free(text);
        snprintf(err, err_len, "%s: binary chunks are not allowed; load Lua source", cfg->file);
        goto fail;
    }
    snprintf(chunkname, sizeof(chunkname), "@%s", cfg->file);
    int rc = luaL_loadbuffer(L, text, len, chunkname);
    free(text);
    if (rc != 0) {
        /* "file:line: message" as Lua reports it, with the '@' dropped. */
        snprintf(err, err_len, "%s", lua_tostring(L, -1));
        goto fail;
    }
    build_sandbox(L);
    lua_setfenv(L, -2);
    set_phase(st, KS_PHASE_LOAD);
    /* Run the chunk under the budget; it must return a table. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->ref_msgh);
    lua_insert(L, -2);
    current = st;
    st->used = 0;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_STEP);
    rc = lua_pcall(L, 0, 1, -2);
    current = NULL;
    if (rc != 0) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, err_len, "%s", m ? m : "error while loading the strategy");
        char *nl = strchr(err, '\n');
        if (nl)
            *nl = '\0';
        goto fail;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, err_len, "%s: the strategy must return a table of callbacks, got %s",
                 cfg->file, luaL_typename(L, -1));
        goto fail;
    }
    lua_remove(L, -2); /* msgh */
    int module = lua_gettop(L);
    if (build_params(L, st, module, err, err_len) != 0)
        goto fail;
    lua_setfield(L, LUA_REGISTRYINDEX, "kestrel.params");
    {
        static const struct {
            const char *cb;
            uint32_t ch;
        } wants[] = {{"on_bbo", KS_CH_BBO},        {"on_book", KS_CH_BOOK},
                     {"on_trade", KS_CH_TRADES},   {"on_ticker", KS_CH_TICKER},
                     {"on_oracle", KS_CH_ORACLE},  {"on_liquidation", KS_CH_LIQUIDATIONS}};
        /* BBO and ticker always: ctx.market() serves them from the cache. */
        st->channels = KS_CH_BBO | KS_CH_TICKER;
        for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
            lua_getfield(L, module, wants[i].cb);
            if (lua_isfunction(L, -1))
                st->channels |= wants[i].ch;
            lua_pop(L, 1);
        }
    }
    st->ref_module = luaL_ref(L, LUA_REGISTRYINDEX);
    ks_lua_api_push_ctx(L, st);
    st->ref_ctx = luaL_ref(L, LUA_REGISTRYINDEX);
    st->enabled = cfg->enabled;
    return st;
fail:
    ks_strategy_free(st);
    return NULL;
}

static void stop_timers(ks_strategy_t *st)
{
    for (int i = 0; i < MAX_TIMERS; i++) {
        if (st->timers[i]) {
            ks_loop_timer_stop(ks_engine_loop(st->eng), st->timers[i]->id);
            free(st->timers[i]);
            st->timers[i] = NULL;
        }
    }
}

static void close_vm(ks_strategy_t *st)
{
    stop_timers(st);
    if (st->L) {
        current = NULL;
        lua_close(st->L);
        st->L = NULL;
    }
}

void ks_strategy_free(ks_strategy_t *st)
{
    if (!st)
        return;
    st->phase = KS_PHASE_CLOSED;
    close_vm(st);
    free(st->err_times);
    free(st);
}

/* Pushes module[name] and ctx; returns false (nothing pushed) when the callback is not
 * defined or the strategy cannot run. */
static bool push_cb(ks_strategy_t *st, const char *name)
{
    lua_State *L = st->L;
    if (!L || !st->enabled || st->phase == KS_PHASE_CLOSED)
        return false;
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->ref_module);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->ref_ctx);
    return true;
}

int ks_strategy_start(ks_strategy_t *st)
{
    if (!st->enabled)
        return 0;
    set_phase(st, KS_PHASE_START);
    int rc = 0;
    if (push_cb(st, "on_start"))
        rc = protected_call(st, 1, "on_start");
    if (st->phase != KS_PHASE_CLOSED)
        set_phase(st, KS_PHASE_EVENT);
    if (rc != 0 && st->enabled)
        ks_strategy_disable(st, "on_start failed");
    return rc;
}

void ks_strategy_stop(ks_strategy_t *st)
{
    if (st->L && st->enabled && st->phase != KS_PHASE_CLOSED) {
        set_phase(st, KS_PHASE_STOP);
        if (push_cb(st, "on_stop"))
            protected_call(st, 1, "on_stop");
    }
    stop_timers(st);
}

static const char *cb_name(int type)
{
    switch (type) {
    case KS_EV_BBO: return "on_bbo";
    case KS_EV_BOOK: return "on_book";
    case KS_EV_TRADE: return "on_trade";
    case KS_EV_TICKER: return "on_ticker";
    case KS_EV_ORACLE: return "on_oracle";
    case KS_EV_LIQUIDATION: return "on_liquidation";
    case KS_EV_ORDER: return "on_order";
    case KS_EV_FILL: return "on_fill";
    case KS_EV_POSITION: return "on_position";
    default: return NULL;
    }
}

void ks_strategy_dispatch(ks_strategy_t *st, const ks_event_t *ev)
{
    const char *name = cb_name(ev->type);
    st->events++;
    if (!name || st->phase != KS_PHASE_EVENT || !push_cb(st, name))
        return;
    ks_lua_api_push_event(st->L, st, ev);
    protected_call(st, 2, name);
}

void ks_strategy_position_changed(ks_strategy_t *st, int32_t inst)
{
    if (st->phase != KS_PHASE_EVENT || !push_cb(st, "on_position"))
        return;
    ks_lua_api_push_position(st->L, st, inst);
    protected_call(st, 2, "on_position");
}

const char *ks_strategy_name(const ks_strategy_t *st)
{
    return st->name;
}

int ks_strategy_index(const ks_strategy_t *st)
{
    return st->idx;
}

bool ks_strategy_enabled(const ks_strategy_t *st)
{
    return st->enabled;
}

const ks_strategy_cfg_t *ks_strategy_cfg(const ks_strategy_t *st)
{
    return st->cfg;
}

uint32_t ks_strategy_channels(const ks_strategy_t *st)
{
    return st->channels;
}

uint32_t ks_strategy_venue(const ks_strategy_t *st)
{
    return st->venue;
}

ks_engine_t *ks_strategy_engine(ks_strategy_t *st)
{
    return st->eng;
}

ks_strategy_phase_t ks_strategy_phase(const ks_strategy_t *st)
{
    return st->phase;
}

ks_strategy_t *ks_strategy_from_lua(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_STRATEGY);
    ks_strategy_t *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
}

static void deferred_close(ks_loop_t *loop, void *ud)
{
    ks_strategy_t *st = ud;
    st->close_posted = false;
    if (!st->enabled)
        close_vm(st);
}

void ks_strategy_disable(ks_strategy_t *st, const char *reason)
{
    if (!st->enabled)
        return;
    st->enabled = false;
    st->phase = KS_PHASE_CLOSED;
    stop_timers(st);
    const char *policy = ks_on_disable_name(st->cfg->on_disable);
    ks_log_error(st->component, "disabled: %s (on_disable=%s)", reason, policy);
    char detail[300];
    snprintf(detail, sizeof(detail), "{\"reason\":\"%s\",\"on_disable\":\"%s\"}", reason, policy);
    ks_engine_journal(st->eng, "strategy.disabled", st->name, detail);
    switch (st->cfg->on_disable) {
    case KS_ON_DISABLE_HOLD:
        break;
    case KS_ON_DISABLE_CANCEL:
        ks_engine_cancel_all(st->eng, st->idx, reason);
        break;
    case KS_ON_DISABLE_FLATTEN:
        ks_engine_cancel_all(st->eng, st->idx, reason);
        ks_engine_flatten(st->eng, st->idx, reason);
        break;
    }
    /* The VM may be on the C stack right now; free it from the loop. */
    if (!st->close_posted) {
        st->close_posted = true;
        ks_loop_post(ks_engine_loop(st->eng), deferred_close, st);
    }
}

void ks_strategy_stats(const ks_strategy_t *st, ks_strategy_stats_t *out)
{
    out->callbacks = st->callbacks;
    out->errors = st->errors;
    out->events = st->events;
    out->mem_bytes = st->mem;
    out->mem_peak = st->mem_peak;
}

/* ---- timers ----------------------------------------------------------------------- */

static void timer_fire(ks_loop_t *loop, void *ud)
{
    st_timer_t *t = ud;
    ks_strategy_t *st = t->st;
    char name[KS_NAME_LEN];
    ks_strlcpy(name, t->name, sizeof(name));
    if (!t->repeat) {
        for (int i = 0; i < MAX_TIMERS; i++)
            if (st->timers[i] == t)
                st->timers[i] = NULL;
        free(t);
    }
    if (st->phase != KS_PHASE_EVENT || !push_cb(st, "on_timer"))
        return;
    lua_pushstring(st->L, name);
    protected_call(st, 2, "on_timer");
}

void ks_strategy_timer_cancel(ks_strategy_t *st, const char *name)
{
    for (int i = 0; i < MAX_TIMERS; i++) {
        st_timer_t *t = st->timers[i];
        if (t && strcmp(t->name, name) == 0) {
            ks_loop_timer_stop(ks_engine_loop(st->eng), t->id);
            free(t);
            st->timers[i] = NULL;
        }
    }
}

int ks_strategy_timer(ks_strategy_t *st, const char *name, double after_s, double every_s)
{
    int slot = -1;
    ks_strategy_timer_cancel(st, name);
    for (int i = 0; i < MAX_TIMERS; i++)
        if (!st->timers[i]) {
            slot = i;
            break;
        }
    if (slot < 0)
        return KS_ERANGE;
    st_timer_t *t = calloc(1, sizeof(*t));
    if (!t)
        return KS_ENOMEM;
    t->st = st;
    ks_strlcpy(t->name, name, sizeof(t->name));
    t->repeat = every_s > 0;
    t->id = ks_loop_timer_start(ks_engine_loop(st->eng), (int64_t)(after_s * 1e9),
                                (int64_t)(every_s * 1e9), timer_fire, t);
    if (!t->id) {
        free(t);
        return KS_ENOMEM;
    }
    st->timers[slot] = t;
    return KS_OK;
}
