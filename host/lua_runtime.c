/* Strategy runtime (see lua_runtime.h): VM lifecycle, budgets, callbacks, persisted
 * state, hot reload, enable/disable.
 *
 * A strategy (ks_strategy_t) outlives its VMs (ks_vm_t): a hot reload builds a new VM
 * from the file, hands it the old ctx.state, runs on_reload there and only then swaps
 * it in, between two events. Orders, positions and timers belong to the strategy, not
 * to a VM, so they carry over. */
#define _GNU_SOURCE /* pthread_getattr_np */
#include "lua_runtime.h"

#include <assert.h>
#include <pthread.h>
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
#include "lua_json.h"

#define HOOK_STEP     1000 /* instructions between budget checks */
#define MAX_TIMERS    64
#define REG_STRATEGY  "kestrel.strategy"
#define STATE_SAVE_NS (1000000000LL) /* persist ctx.state at most once a second */

typedef struct st_timer {
    ks_strategy_t *st;
    char name[KS_NAME_LEN];
    uint64_t id;
    bool repeat;
} st_timer_t;

typedef struct ks_vm {
    ks_strategy_t *st;
    lua_State *L;
    int ref_module, ref_ctx, ref_msgh;
    uint32_t channels;
    size_t mem, mem_limit, mem_peak;
    bool mem_blown;
} ks_vm_t;

struct ks_strategy {
    ks_engine_t *eng;
    int idx;
    const ks_strategy_cfg_t *cfg;
    char name[KS_NAME_LEN];
    char component[KS_NAME_LEN + 16];
    uint32_t venue;
    ks_vm_t *vm;
    ks_strategy_phase_t phase;
    bool enabled;
    ks_lua_budget_t budget; /* of the running callback */
    /* counters */
    uint64_t callbacks, errors, events, reloads, reload_failures;
    int64_t *err_times; /* ring of the last max_errors error times (monotonic ns) */
    int err_cap, err_head;
    st_timer_t *timers[MAX_TIMERS];
    ks_vm_t *dead_vm; /* closed from the loop after a disable */
    bool close_posted;
    /* ctx.state persistence */
    uint64_t state_hash;
    int64_t state_saved_ns;
    char last_error[KS_REASON_LEN * 2];
    char disabled_reason[KS_REASON_LEN];
    /* metrics set with ctx.metric */
    ks_strmap_t metrics;
    /* log-rate limit (print, ctx.log) */
    double log_tokens;
    int64_t log_refill_ns;
    uint64_t log_dropped;
};

/* ---- allocator with a cap --------------------------------------------------------- */

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ks_vm_t *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem -= old;
        return NULL;
    }
    if (nsize > old && vm->mem + (nsize - old) > vm->mem_limit) {
        vm->mem_blown = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    vm->mem = vm->mem - old + nsize;
    if (vm->mem > vm->mem_peak)
        vm->mem_peak = vm->mem;
    return p;
}

/* ---- instruction budget ----------------------------------------------------------- */

/* The budget of the call running now (single-threaded; nested calls save and restore
 * it). The count hook is per VM in LuaJIT (coroutines share it), so a coroutine cannot
 * escape the budget of the callback that resumed it. */
static ks_lua_budget_t *current;

static int budget_error(lua_State *L, const ks_lua_budget_t *b)
{
    /* lua_pushfstring knows no %lld. */
    char n[32];
    snprintf(n, sizeof(n), "%lld", (long long)b->limit);
    return luaL_error(L, "instruction budget exceeded (%s instructions per callback)", n);
}

/* The lowest address the C stack may reach before Lua code is refused: a quarter of
 * the thread's stack (at least 1 MiB) is kept free. Found once; NULL when unknown. */
static char *cstack_floor(void)
{
    static char *floor_addr;
    static bool known;
    if (!known) {
        pthread_attr_t a;
        void *lo;
        size_t size;
        known = true;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            if (pthread_attr_getstack(&a, &lo, &size) == 0) {
                size_t keep = size / 4 > ((size_t)1 << 20) ? size / 4 : (size_t)1 << 20;
                if (keep < size)
                    floor_addr = (char *)lo + keep;
            }
            pthread_attr_destroy(&a);
        }
    }
    return floor_addr;
}

void ks_lua_check_cstack(lua_State *L)
{
    char here;
    char *f = cstack_floor();
    if (f && &here < f)
        luaL_error(L, "C stack overflow (recursion through C functions is too deep)");
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    ks_lua_budget_t *b = current;
    ks_lua_check_cstack(L);
    if (!b)
        return;
    b->used += b->blown ? 1 : HOOK_STEP;
    if (b->used > b->limit) {
        if (!b->blown) {
            b->blown = true;
            /* From now on every instruction raises, so pcall inside the strategy cannot
             * swallow the error and keep looping. */
            lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        }
        budget_error(L, b);
    }
}

void ks_lua_charge(lua_State *L, int64_t units)
{
    ks_lua_budget_t *b = current;
    ks_lua_check_cstack(L);
    if (!b || units <= 0)
        return;
    b->used += units;
    if (b->used > b->limit) {
        if (!b->blown) {
            b->blown = true;
            lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        }
        budget_error(L, b);
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

int ks_lua_run_budgeted(lua_State *L, ks_lua_budget_t *b, int nargs, int nres)
{
    char here;
    char *f = cstack_floor();
    if (f && &here < f) {
        /* Re-entered from Lua through C too deeply: fail this call, do not run it. */
        lua_settop(L, lua_gettop(L) - nargs - 1);
        lua_pushliteral(L, "C stack overflow (recursion through C functions is too deep)");
        return LUA_ERRRUN;
    }
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    ks_lua_budget_t *prev = current;
    if (prev != b) {
        /* A nested call of the same budget (a ctx function that synchronously delivers
         * a callback to the same strategy) keeps counting: resetting here would let a
         * loop around that ctx function run forever. */
        b->used = 0;
        b->blown = false;
    }
    current = b;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, b->blown ? 1 : HOOK_STEP);
    int rc = lua_pcall(L, nargs, nres, base);
    current = prev;
    if (rc == 0 && b->blown && prev != b) {
        /* `return pcall(loop)` is a tail call: the caught budget error returns straight
         * here without another instruction to trip the hook. Still a blown budget. */
        char n[32];
        snprintf(n, sizeof(n), "%lld", (long long)b->limit);
        lua_settop(L, base);
        lua_pushfstring(L, "instruction budget exceeded (%s instructions per callback)", n);
        rc = LUA_ERRRUN;
    }
    if (prev) /* back in the caller's budget (same VM): its hook rate */
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, prev->blown ? 1 : HOOK_STEP);
    if (rc != 0 && lua_type(L, -1) != LUA_TSTRING) {
        /* msgh failed (out of memory in the traceback): say what happened. */
        lua_pop(L, 1);
        lua_pushstring(L, rc == LUA_ERRMEM ? "not enough memory" : "error in error handling");
    }
    lua_remove(L, base);
    return rc;
}

static int run_budgeted(ks_strategy_t *st, lua_State *L, int nargs, int nres)
{
    return ks_lua_run_budgeted(L, &st->budget, nargs, nres);
}

/* ---- VM construction ---------------------------------------------------------------- */

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
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
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

static void vm_free(ks_vm_t *vm)
{
    if (!vm)
        return;
    if (vm->L) {
        ks_lua_budget_t *prev = current;
        current = NULL;
        lua_close(vm->L);
        current = prev;
    }
    free(vm);
}

/* The host reads the strategy's tables (module, ctx, params defaults) with raw accesses
 * only: they belong to the strategy, which may give them metatables, and an __index or
 * __newindex must never run outside a budgeted, protected call. Everything the host does
 * on a VM runs under lua_cpcall too: at the memory cap any allocation (pushing an
 * event's table) raises, and an unprotected error would abort the process. */
static void raw_getfield(lua_State *L, int idx, const char *k)
{
    if (idx < 0 && idx > LUA_REGISTRYINDEX)
        idx = lua_gettop(L) + idx + 1;
    lua_pushstring(L, k);
    lua_rawget(L, idx);
}

/* Builds ctx.params on the stack: the module's `params` defaults overridden by
 * params_json. Types must match the defaults (recursively), and when the strategy
 * declares defaults, every configured key must be one of them (a typo must not go
 * unnoticed). Runs inside lua_cpcall: what it allocates outside the VM goes to *parsed
 * and *defaults_json, which the caller frees whatever happens. */
static int build_params(ks_strategy_t *st, lua_State *L, int module, const char *params_json,
                        char *err, size_t err_len, cJSON **parsed, char **defaults_json)
{
    ks_strategy_cfg_t probe = *st->cfg;
    probe.params_json = (char *)(params_json ? params_json : "{}");
    raw_getfield(L, module, "params");
    int defaults = lua_istable(L, -1) ? lua_gettop(L) : 0;
    if (defaults) {
        if (ks_lua_to_json(L, defaults, "params", defaults_json, err, err_len) != 0)
            return -1;
        if (ks_config_check_params(&probe, *defaults_json, err, err_len) != KS_OK)
            return -1;
    }
    cJSON *cfg = *parsed = cJSON_Parse(probe.params_json);
    if (!cJSON_IsObject(cfg)) {
        snprintf(err, err_len, "strategies.%s.params: expected object", st->name);
        return -1;
    }
    lua_newtable(L);
    int params = lua_gettop(L);
    if (defaults) {
        lua_pushnil(L);
        while (lua_next(L, defaults)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, params);
        }
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cfg)
    {
        if (defaults) {
            raw_getfield(L, defaults, c->string);
            bool known = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (!known) {
                snprintf(err, err_len,
                         "strategies.%s.params.%s: unknown parameter (the strategy declares no "
                         "default for it)",
                         st->name, c->string);
                return -1;
            }
        }
        lua_pushstring(L, c->string);
        ks_lua_push_cjson(L, c);
        lua_rawset(L, params);
    }
    lua_replace(L, -2); /* params where the defaults were */
    return 0;
}

/* Copies the first line of the error message on top of the stack. */
static void copy_error(lua_State *L, char *err, size_t err_len, const char *fallback)
{
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    snprintf(err, err_len, "%s", m ? m : fallback);
    char *nl = strchr(err, '\n');
    if (nl)
        *nl = '\0';
}

typedef struct vm_job {
    ks_strategy_t *st;
    ks_vm_t *vm;
    const char *text;
    size_t len;
    const char *params_json;
    cJSON *state; /* parsed stored state, or NULL */
    bool state_given;
    cJSON *params; /* allocations of build_params; freed by vm_new */
    char *defaults_json;
    char *err;
    size_t err_len;
    bool ok;
} vm_job_t;

/* Under lua_cpcall: compiles and runs the chunk (under the budget), builds ctx. */
static int vm_build(lua_State *L)
{
    vm_job_t *j = lua_touserdata(L, 1);
    ks_strategy_t *st = j->st;
    ks_vm_t *vm = j->vm;
    const ks_strategy_cfg_t *cfg = st->cfg;
    char chunkname[1100];
    lua_settop(L, 0);
    lua_pushlightuserdata(L, st);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_STRATEGY);
    snprintf(chunkname, sizeof(chunkname), "@%s", cfg->file);
    /* Text only: LuaJIT bytecode is not verified and can escape any sandbox. */
    int rc = luaL_loadbufferx(L, j->text, j->len, chunkname, "t");
    if (rc != 0) {
        copy_error(L, j->err, j->err_len, "out of memory");
        return 0;
    }
    ks_lua_sandbox_push_env(L);
    lua_setfenv(L, -2);
    ks_strategy_phase_t saved = st->phase;
    st->phase = KS_PHASE_LOAD;
    rc = run_budgeted(st, L, 0, 1);
    st->phase = saved;
    if (rc != 0) {
        copy_error(L, j->err, j->err_len, "error while loading the strategy");
        return 0;
    }
    if (!lua_istable(L, -1)) {
        snprintf(j->err, j->err_len, "%s: the strategy must return a table of callbacks, got %s",
                 cfg->file, luaL_typename(L, -1));
        return 0;
    }
    int module = lua_gettop(L);
    static const struct {
        const char *cb;
        uint32_t ch;
    } wants[] = {{"on_bbo", KS_CH_BBO},       {"on_book", KS_CH_BOOK},
                 {"on_trade", KS_CH_TRADES},  {"on_ticker", KS_CH_TICKER},
                 {"on_oracle", KS_CH_ORACLE}, {"on_liquidation", KS_CH_LIQUIDATIONS}};
    /* BBO and ticker always: ctx.market() serves them from the cache. */
    vm->channels = KS_CH_BBO | KS_CH_TICKER;
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        raw_getfield(L, module, wants[i].cb);
        if (lua_isfunction(L, -1))
            vm->channels |= wants[i].ch;
        lua_pop(L, 1);
    }
    if (build_params(st, L, module, j->params_json, j->err, j->err_len, &j->params,
                     &j->defaults_json) != 0)
        return 0;
    lua_setfield(L, LUA_REGISTRYINDEX, "kestrel.params");
    lua_pushvalue(L, module);
    vm->ref_module = luaL_ref(L, LUA_REGISTRYINDEX);
    ks_lua_api_push_ctx(L, st);
    lua_pushliteral(L, "state");
    if (j->state && cJSON_IsObject(j->state)) {
        ks_lua_push_cjson(L, j->state);
    } else {
        if (j->state_given)
            ks_log_warn(st->component, "stored state is not a JSON object; starting empty");
        lua_newtable(L);
    }
    lua_rawset(L, -3);
    vm->ref_ctx = luaL_ref(L, LUA_REGISTRYINDEX);
    j->ok = true;
    return 0;
}

/* Last resort: an error outside any protected call is a host bug and ends the process
 * (LuaJIT exits after this); say so in the log first. */
static int panic(lua_State *L)
{
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    ks_log_error("lua", "unprotected error in a strategy VM, exiting: %s", m);
    return 0;
}

/* Compiles the strategy file into a fresh sandboxed VM, runs its chunk (under the
 * budget), builds ctx with params and `state` (from state_json, or empty). On failure
 * writes "file:line: message" into err and returns NULL. */
static ks_vm_t *vm_new(ks_strategy_t *st, const char *params_json, const char *state_json,
                       char *err, size_t err_len)
{
    const ks_strategy_cfg_t *cfg = st->cfg;
    size_t len;
    char *text = NULL;
    vm_job_t j = {.st = st, .params_json = params_json, .err = err, .err_len = err_len};
    ks_vm_t *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    vm->st = st;
    vm->mem_limit = cfg->memory_limit > 0 ? (size_t)cfg->memory_limit : (size_t)64 << 20;
    vm->ref_module = vm->ref_ctx = vm->ref_msgh = LUA_NOREF;
    vm->L = lua_newstate(vm_alloc, vm);
    if (!vm->L) {
        snprintf(err, err_len, "%s: cannot create a Lua VM", cfg->file);
        goto fail;
    }
    lua_State *L = vm->L;
    lua_atpanic(L, panic);
    /* The JIT stays off: count hooks do not fire inside compiled traces. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    if (ks_lua_sandbox_open(L) != 0) {
        snprintf(err, err_len, "%s: cannot open the Lua libraries", cfg->file);
        goto fail;
    }
    text = read_file(cfg->file, &len, err, err_len);
    if (!text)
        goto fail;
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        snprintf(err, err_len, "%s: binary chunks are not allowed; load Lua source", cfg->file);
        goto fail;
    }
    j.vm = vm;
    j.text = text;
    j.len = len;
    j.state_given = state_json != NULL;
    j.state = state_json ? cJSON_Parse(state_json) : NULL;
    vm->mem_blown = false;
    int rc = lua_cpcall(L, vm_build, &j);
    if (rc != 0) {
        /* Raised outside the budgeted chunk: the memory cap while building ctx. */
        if (rc == LUA_ERRMEM || vm->mem_blown)
            snprintf(err, err_len, "%s: memory limit exceeded while loading", cfg->file);
        else
            copy_error(L, err, err_len, "error while loading the strategy");
        goto fail;
    }
    if (!j.ok)
        goto fail;
    free(text);
    cJSON_Delete(j.state);
    cJSON_Delete(j.params);
    free(j.defaults_json);
    return vm;
fail:
    free(text);
    cJSON_Delete(j.state);
    cJSON_Delete(j.params);
    free(j.defaults_json);
    vm_free(vm);
    return NULL;
}

/* ---- state persistence -------------------------------------------------------------- */

/* ctx.state is serialized (to compare and store it) at most once a second; a state past
 * these sizes is not saved (a strategy must not make the host spend its time in JSON). */
#define STATE_MAX_VALUES 100000
#define STATE_MAX_BYTES  ((size_t)4 << 20)
#define STATE_MAX_DEPTH  64

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Counts values and string bytes under the value at idx, stopping past the limits. */
static bool state_fits(lua_State *L, int idx, int depth, size_t *values, size_t *bytes)
{
    if (++*values > STATE_MAX_VALUES || *bytes > STATE_MAX_BYTES)
        return false;
    if (lua_type(L, idx) == LUA_TSTRING) {
        *bytes += lua_objlen(L, idx);
        return *bytes <= STATE_MAX_BYTES;
    }
    if (lua_type(L, idx) != LUA_TTABLE || depth > STATE_MAX_DEPTH)
        return true; /* the serializer reports the type or the depth */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING)
            *bytes += lua_objlen(L, -2);
        if (!state_fits(L, lua_gettop(L), depth + 1, values, bytes)) {
            lua_pop(L, 2);
            return false;
        }
        lua_pop(L, 1);
    }
    return true;
}

typedef struct state_job {
    ks_vm_t *vm;
    char *json; /* malloc'ed */
    char *err;
    size_t err_len;
} state_job_t;

/* Under lua_cpcall: ctx.state as JSON text. */
static int state_dump(lua_State *L)
{
    state_job_t *j = lua_touserdata(L, 1);
    size_t values = 0, bytes = 0;
    lua_settop(L, 0);
    /* Grow the stack first: the walks below then never allocate, so nothing can raise
     * while the serializer holds memory of its own. */
    if (!lua_checkstack(L, 8 * STATE_MAX_DEPTH + 32)) {
        snprintf(j->err, j->err_len, "ctx.state: out of stack");
        return 0;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->vm->ref_ctx);
    raw_getfield(L, -1, "state");
    if (!state_fits(L, lua_gettop(L), 0, &values, &bytes)) {
        snprintf(j->err, j->err_len,
                 "ctx.state: too large to save (limits: %d values, %zu MiB of strings)",
                 STATE_MAX_VALUES, STATE_MAX_BYTES >> 20);
        return 0;
    }
    if (ks_lua_to_json(L, -1, "ctx.state", &j->json, j->err, j->err_len) != 0)
        j->json = NULL;
    return 0;
}

/* Serializes ctx.state of a VM; caller frees. NULL with err on failure. */
static char *vm_state_json(ks_vm_t *vm, char *err, size_t err_len)
{
    state_job_t j = {vm, NULL, err, err_len};
    if (lua_cpcall(vm->L, state_dump, &j) != 0) {
        snprintf(err, err_len, "ctx.state: out of memory");
        lua_pop(vm->L, 1);
        free(j.json);
        return NULL;
    }
    return j.json;
}

/* Writes ctx.state to the store when it changed (force: ignore the once-a-second
 * throttle). */
static void persist_state(ks_strategy_t *st, bool force)
{
    ks_store_t *store = ks_engine_store(st->eng);
    int64_t now = ks_loop_now_ns(ks_engine_loop(st->eng));
    char err[KS_REASON_LEN];
    if (!store || !st->vm || !st->vm->L)
        return;
    if (!force && now - st->state_saved_ns < STATE_SAVE_NS)
        return;
    st->state_saved_ns = now;
    char *json = vm_state_json(st->vm, err, sizeof(err));
    if (!json) {
        ks_log_error(st->component, "ctx.state not saved: %s", err);
        return;
    }
    uint64_t h = hash_text(json);
    if (h != st->state_hash) {
        ks_store_state_put(store, st->name, json, strlen(json));
        st->state_hash = h;
    }
    free(json);
}

static char *stored_state(ks_strategy_t *st)
{
    ks_store_t *store = ks_engine_store(st->eng);
    char *data = NULL;
    size_t len;
    if (!store || ks_store_state_get(store, st->name, &data, &len) != KS_OK)
        return NULL;
    st->state_hash = hash_text(data);
    return data;
}

/* ---- calling callbacks ---------------------------------------------------------------- */

static void record_error(ks_strategy_t *st, const char *what, const char *msg)
{
    char detail[700], esc[500];
    size_t j = 0;
    st->errors++;
    ks_log_error(st->component, "%s failed: %s", what, msg);
    /* "what: msg", cut to fit (msg may be a long traceback) */
    int n = snprintf(st->last_error, sizeof(st->last_error), "%s: ", what);
    if (n > 0 && (size_t)n < sizeof(st->last_error))
        ks_strlcpy(st->last_error + n, msg, sizeof(st->last_error) - (size_t)n);
    for (const char *p = msg; *p && j + 2 < sizeof(esc); p++) {
        if (*p == '"' || *p == '\\')
            esc[j++] = '\\';
        esc[j++] = (*p == '\n' || *p == '\t') ? ' ' : *p;
    }
    esc[j] = '\0';
    snprintf(detail, sizeof(detail), "{\"callback\":\"%s\",\"error\":\"%s\"}", what, esc);
    ks_engine_journal(st->eng, "strategy.error", st->name, detail);
}

const char *const ks_strategy_callbacks[] = {
    "on_start",  "on_stop",        "on_bbo",   "on_book",   "on_trade",    "on_ticker",
    "on_oracle", "on_liquidation", "on_order", "on_fill",   "on_position", "on_timer",
    "on_hedge",  "on_transfer",    "on_risk",  "on_reload", "on_params",   NULL,
};

#ifndef NDEBUG
static bool is_callback(const char *name)
{
    for (const char *const *c = ks_strategy_callbacks; *c; c++)
        if (strcmp(*c, name) == 0)
            return true;
    return false;
}
#endif

typedef struct cb_job {
    ks_strategy_t *st;
    ks_vm_t *vm;
    const char *name;
    void (*push)(lua_State *L, void *ud); /* the argument after ctx, or NULL */
    void *ud;
    bool defined;
    int rc; /* the callback's lua_pcall code */
    char msg[KS_REASON_LEN * 4];
} cb_job_t;

/* Under lua_cpcall: module[name](ctx, push()) under the budget. */
static int cb_run(lua_State *L)
{
    cb_job_t *j = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->vm->ref_module);
    raw_getfield(L, 1, j->name);
    if (!lua_isfunction(L, -1))
        return 0;
    j->defined = true;
    lua_rawgeti(L, LUA_REGISTRYINDEX, j->vm->ref_ctx);
    if (j->push)
        j->push(L, j->ud);
    j->rc = run_budgeted(j->st, L, j->push ? 2 : 1, 0);
    if (j->rc != 0)
        ks_strlcpy(j->msg, lua_tostring(L, -1), sizeof(j->msg));
    return 0;
}

/* Runs callback `name` of vm (ctx, and one argument from push when given). Returns
 * whether it is defined; *rc and msg receive the failure, including a failure to push
 * the arguments (the VM at its memory cap). */
static bool cb_call(ks_strategy_t *st, ks_vm_t *vm, const char *name,
                    void (*push)(lua_State *, void *), void *ud, cb_job_t *j)
{
    assert(is_callback(name));
    memset(j, 0, sizeof(*j));
    j->st = st;
    j->vm = vm;
    j->name = name;
    j->push = push;
    j->ud = ud;
    vm->mem_blown = false;
    int rc = lua_cpcall(vm->L, cb_run, j);
    if (rc != 0) {
        j->defined = true;
        j->rc = rc;
        ks_strlcpy(j->msg, rc == LUA_ERRMEM ? "not enough memory" : "error calling the callback",
                   sizeof(j->msg));
        lua_pop(vm->L, 1);
    }
    return j->defined;
}

/* Calls callback `name` of the running VM with error accounting: a blown budget or
 * memory cap disables the strategy, and so do too many errors within the window.
 * Returns 0 when it succeeded or is not defined. */
static int invoke(ks_strategy_t *st, const char *name, void (*push)(lua_State *, void *), void *ud)
{
    if (!st->vm || !st->vm->L || !st->enabled || st->phase == KS_PHASE_CLOSED)
        return 0;
    ks_vm_t *vm = st->vm;
    cb_job_t j;
    if (!cb_call(st, vm, name, push, ud, &j))
        return 0;
    st->callbacks++;
    if (j.rc == 0) {
        persist_state(st, false);
        return 0;
    }
    record_error(st, name, j.msg);
    if (!st->enabled || st->vm != vm)
        return j.rc; /* disabled or replaced while it ran */
    if (st->budget.blown) {
        ks_strategy_disable(st, "instruction budget exceeded");
        return j.rc;
    }
    if (j.rc == LUA_ERRMEM || vm->mem_blown) {
        ks_strategy_disable(st, "memory limit exceeded");
        return j.rc;
    }
    int64_t now = ks_loop_now_ns(ks_engine_loop(st->eng));
    int64_t oldest = st->err_times[st->err_head];
    st->err_times[st->err_head] = now;
    st->err_head = (st->err_head + 1) % st->err_cap;
    int64_t window =
        (int64_t)(st->cfg->error_window_s > 0 ? st->cfg->error_window_s : 60) * 1000000000LL;
    if (st->errors >= (uint64_t)st->err_cap && now - oldest <= window)
        ks_strategy_disable(st, "too many errors");
    else
        persist_state(st, false);
    return j.rc;
}

typedef struct ev_arg {
    ks_strategy_t *st;
    const ks_event_t *ev;
    int32_t inst;
    const char *str;
    const cJSON *json;
} ev_arg_t;

static void push_event(lua_State *L, void *ud)
{
    ev_arg_t *a = ud;
    ks_lua_api_push_event(L, a->st, a->ev);
}

static void push_position(lua_State *L, void *ud)
{
    ev_arg_t *a = ud;
    ks_lua_api_push_position(L, a->st, a->inst);
}

static void push_string(lua_State *L, void *ud)
{
    lua_pushstring(L, ((ev_arg_t *)ud)->str);
}

static void push_json(lua_State *L, void *ud)
{
    const cJSON *j = ((ev_arg_t *)ud)->json;
    if (j)
        ks_lua_push_cjson(L, j);
    else
        lua_newtable(L);
}

/* ctx.params of the running VM (on_params' argument). */
static void push_params(lua_State *L, void *ud)
{
    ev_arg_t *a = ud;
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->st->vm->ref_ctx);
    raw_getfield(L, -1, "params");
    lua_remove(L, -2);
}

/* ---- public API ------------------------------------------------------------------------ */

ks_strategy_t *ks_strategy_load(ks_engine_t *eng, int idx, const ks_strategy_cfg_t *cfg, char *err,
                                size_t err_len)
{
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
    st->budget.limit = cfg->instruction_budget > 0 ? cfg->instruction_budget : 10000000;
    st->err_cap = cfg->max_errors > 0 ? cfg->max_errors : 10;
    st->err_times = calloc((size_t)st->err_cap, sizeof(int64_t));
    int v = ks_engine_venue_by_name(eng, cfg->venue);
    st->venue = v < 0 ? 0 : (uint32_t)v;
    st->phase = KS_PHASE_CLOSED;
    if (!st->err_times) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    if (cfg->jit) {
        snprintf(err, err_len,
                 "strategies.%s.jit: JIT is refused for now: the instruction-budget hook never "
                 "fires inside JIT-compiled traces",
                 cfg->name);
        goto fail;
    }
    char *state = stored_state(st);
    st->vm = vm_new(st, cfg->params_json, state, err, err_len);
    free(state);
    if (!st->vm)
        goto fail;
    st->enabled = cfg->enabled;
    st->phase = KS_PHASE_START;
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

void ks_strategy_free(ks_strategy_t *st)
{
    if (!st)
        return;
    if (st->vm && st->enabled)
        persist_state(st, true);
    stop_timers(st);
    vm_free(st->vm);
    vm_free(st->dead_vm);
    size_t it = 0;
    void *val;
    while (ks_strmap_next(&st->metrics, &it, NULL, &val))
        free(val);
    ks_strmap_free(&st->metrics);
    free(st->err_times);
    free(st);
}

int ks_strategy_start(ks_strategy_t *st)
{
    if (!st->enabled || !st->vm)
        return 0;
    st->phase = KS_PHASE_START;
    int rc = 0;
    rc = invoke(st, "on_start", NULL, NULL);
    if (!st->enabled)
        return rc;
    st->phase = KS_PHASE_EVENT;
    if (rc != 0)
        ks_strategy_disable(st, "on_start failed");
    return rc;
}

void ks_strategy_stop(ks_strategy_t *st)
{
    if (st->vm && st->enabled && st->phase != KS_PHASE_CLOSED) {
        st->phase = KS_PHASE_STOP;
        invoke(st, "on_stop", NULL, NULL);
        persist_state(st, true);
    }
    stop_timers(st);
}

static const char *cb_name(int type)
{
    switch (type) {
    case KS_EV_BBO:
        return "on_bbo";
    case KS_EV_BOOK:
        return "on_book";
    case KS_EV_TRADE:
        return "on_trade";
    case KS_EV_TICKER:
        return "on_ticker";
    case KS_EV_ORACLE:
        return "on_oracle";
    case KS_EV_LIQUIDATION:
        return "on_liquidation";
    case KS_EV_ORDER:
        return "on_order";
    case KS_EV_FILL:
        return "on_fill";
    case KS_EV_POSITION:
        return "on_position";
    default:
        return NULL;
    }
}

void ks_strategy_dispatch(ks_strategy_t *st, const ks_event_t *ev)
{
    const char *name = cb_name(ev->type);
    st->events++;
    if (!name || st->phase != KS_PHASE_EVENT)
        return;
    ev_arg_t a = {.st = st, .ev = ev};
    invoke(st, name, push_event, &a);
}

void ks_strategy_position_changed(ks_strategy_t *st, int32_t inst)
{
    if (st->phase != KS_PHASE_EVENT)
        return;
    ev_arg_t a = {.st = st, .inst = inst};
    invoke(st, "on_position", push_position, &a);
}

void ks_strategy_call(ks_strategy_t *st, const char *cb, void (*push)(lua_State *, void *),
                      void *ud)
{
    if (st->phase != KS_PHASE_EVENT)
        return;
    invoke(st, cb, push, ud);
}

/* ---- reload, params, enable/disable -------------------------------------------------- */

int ks_strategy_reload(ks_strategy_t *st, char *err, size_t err_len)
{
    if (!st->enabled || !st->vm) {
        snprintf(err, err_len, "%s is disabled; enable it to load the new version", st->name);
        return KS_ESTATE;
    }
    /* The old state goes to the new VM as ctx.state and as on_reload's argument. */
    char *state = vm_state_json(st->vm, err, err_len);
    if (!state)
        return KS_EINVAL;
    ks_vm_t *old = st->vm;
    ks_vm_t *nvm = vm_new(st, st->cfg->params_json, state, err, err_len);
    if (!nvm) {
        free(state);
        goto failed;
    }
    ev_arg_t a = {.st = st, .json = cJSON_Parse(state)};
    ks_strategy_phase_t saved = st->phase;
    cb_job_t job;
    st->vm = nvm; /* ctx calls inside on_reload act on the new VM */
    st->phase = KS_PHASE_RELOAD;
    cb_call(st, nvm, "on_reload", push_json, &a, &job);
    st->phase = saved;
    st->vm = old;
    cJSON_Delete((cJSON *)a.json);
    if (job.rc != 0) {
        snprintf(err, err_len, "on_reload: %s", job.msg);
        char *nl = strchr(err, '\n');
        if (nl)
            *nl = '\0';
        vm_free(nvm);
        free(state);
        goto failed;
    }
    free(state);
    st->vm = nvm;
    vm_free(old);
    st->reloads++;
    st->state_hash = 0;
    persist_state(st, true);
    ks_log_info(st->component, "reloaded %s", st->cfg->file);
    ks_engine_journal(st->eng, "strategy.reloaded", st->name, NULL);
    return KS_OK;
failed:
    st->reload_failures++;
    snprintf(st->last_error, sizeof(st->last_error), "reload: %s", err);
    ks_log_error(st->component, "reload failed, the running version keeps trading: %s", err);
    {
        char detail[KS_REASON_LEN * 3], esc[KS_REASON_LEN * 2];
        size_t j = 0;
        for (const char *p = err; *p && j + 2 < sizeof(esc); p++) {
            if (*p == '"' || *p == '\\')
                esc[j++] = '\\';
            esc[j++] = *p;
        }
        esc[j] = '\0';
        snprintf(detail, sizeof(detail), "{\"error\":\"%s\"}", esc);
        ks_engine_journal(st->eng, "strategy.reload_failed", st->name, detail);
    }
    return KS_EINVAL;
}

typedef struct params_job {
    ks_strategy_t *st;
    const char *json;
    bool apply; /* set ctx.params */
    cJSON *parsed;
    char *defaults_json;
    char *err;
    size_t err_len;
    int rc;
} params_job_t;

/* Under lua_cpcall: builds the params (checking them), optionally sets ctx.params. */
static int params_run(lua_State *L)
{
    params_job_t *j = lua_touserdata(L, 1);
    ks_vm_t *vm = j->st->vm;
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_module);
    j->rc = build_params(j->st, L, 1, j->json, j->err, j->err_len, &j->parsed, &j->defaults_json);
    if (j->rc == 0 && j->apply) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_ctx);
        lua_pushliteral(L, "params");
        lua_pushvalue(L, -3);
        lua_rawset(L, -3);
    }
    return 0;
}

static int run_params(ks_strategy_t *st, const char *json, bool apply, char *err, size_t err_len)
{
    params_job_t j = {st, json, apply, NULL, NULL, err, err_len, -1};
    if (lua_cpcall(st->vm->L, params_run, &j) != 0) {
        snprintf(err, err_len, "strategies.%s.params: out of memory", st->name);
        lua_pop(st->vm->L, 1);
        j.rc = -1;
    }
    cJSON_Delete(j.parsed);
    free(j.defaults_json);
    return j.rc;
}

int ks_strategy_check_params(ks_strategy_t *st, const char *params_json, char *err, size_t err_len)
{
    if (!st->vm || !st->vm->L)
        return KS_OK; /* checked when it is next loaded */
    return run_params(st, params_json, false, err, err_len) == 0 ? KS_OK : KS_EINVAL;
}

void ks_strategy_set_cfg(ks_strategy_t *st, const ks_strategy_cfg_t *cfg)
{
    bool params_changed = strcmp(st->cfg->params_json ? st->cfg->params_json : "{}",
                                 cfg->params_json ? cfg->params_json : "{}") != 0;
    st->cfg = cfg;
    st->budget.limit = cfg->instruction_budget > 0 ? cfg->instruction_budget : 10000000;
    if (st->vm)
        st->vm->mem_limit = cfg->memory_limit > 0 ? (size_t)cfg->memory_limit : (size_t)64 << 20;
    if (!params_changed || !st->vm || !st->vm->L)
        return;
    char err[KS_REASON_LEN * 2];
    if (run_params(st, cfg->params_json, true, err, sizeof(err)) != 0) {
        ks_log_error(st->component, "new params not applied: %s", err);
        return;
    }
    ks_log_info(st->component, "params changed: %s", cfg->params_json);
    ks_engine_journal(st->eng, "strategy.params", st->name, cfg->params_json);
    if (st->enabled && st->phase == KS_PHASE_EVENT) {
        ev_arg_t a = {.st = st};
        invoke(st, "on_params", push_params, &a);
    }
}

int ks_strategy_enable(ks_strategy_t *st, char *err, size_t err_len)
{
    if (st->enabled)
        return KS_OK;
    if (!st->vm) {
        vm_free(st->dead_vm);
        st->dead_vm = NULL;
        char *state = stored_state(st);
        st->vm = vm_new(st, st->cfg->params_json, state, err, err_len);
        free(state);
        if (!st->vm) {
            ks_log_error(st->component, "cannot enable: %s", err);
            return KS_EINVAL;
        }
    }
    st->enabled = true;
    st->disabled_reason[0] = '\0';
    st->errors = 0;
    memset(st->err_times, 0, (size_t)st->err_cap * sizeof(int64_t));
    ks_log_info(st->component, "enabled");
    ks_engine_journal(st->eng, "strategy.enabled", st->name, NULL);
    ks_engine_strategy_enabled(st->eng, st->idx);
    return ks_strategy_start(st) == 0 ? KS_OK : KS_EINVAL;
}

static void deferred_close(ks_loop_t *loop, void *ud)
{
    ks_strategy_t *st = ud;
    st->close_posted = false;
    vm_free(st->dead_vm);
    st->dead_vm = NULL;
}

static void disable(ks_strategy_t *st, const char *reason, bool graceful)
{
    if (!st->enabled)
        return;
    if (graceful && st->vm && st->phase == KS_PHASE_EVENT) {
        st->phase = KS_PHASE_STOP;
        invoke(st, "on_stop", NULL, NULL);
        if (!st->enabled)
            return; /* on_stop failed for good: disabled already */
    }
    if (st->vm && st->vm->L && !st->vm->mem_blown)
        persist_state(st, true);
    st->enabled = false;
    st->phase = KS_PHASE_CLOSED;
    stop_timers(st);
    ks_strlcpy(st->disabled_reason, reason, sizeof(st->disabled_reason));
    const char *policy = ks_on_disable_name(st->cfg->on_disable);
    if (graceful)
        ks_log_warn(st->component, "disabled: %s (on_disable=%s)", reason, policy);
    else
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
    /* The VM may be on the C stack right now (a budget error unwinds through here); free
     * it from the loop. */
    vm_free(st->dead_vm);
    st->dead_vm = st->vm;
    st->vm = NULL;
    if (!st->close_posted) {
        st->close_posted = true;
        ks_loop_post(ks_engine_loop(st->eng), deferred_close, st);
    }
}

void ks_strategy_disable(ks_strategy_t *st, const char *reason)
{
    disable(st, reason, false);
}

void ks_strategy_disable_graceful(ks_strategy_t *st, const char *reason)
{
    disable(st, reason, true);
}

/* ---- accessors ----------------------------------------------------------------------- */

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
    return st->vm ? st->vm->channels : (KS_CH_BBO | KS_CH_TICKER);
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

const char *ks_strategy_last_error(const ks_strategy_t *st)
{
    return st->last_error;
}

const char *ks_strategy_disabled_reason(const ks_strategy_t *st)
{
    return st->disabled_reason;
}

void ks_strategy_stats(const ks_strategy_t *st, ks_strategy_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->callbacks = st->callbacks;
    out->errors = st->errors;
    out->events = st->events;
    out->reloads = st->reloads;
    out->reload_failures = st->reload_failures;
    if (st->vm) {
        out->mem_bytes = st->vm->mem;
        out->mem_peak = st->vm->mem_peak;
    }
}

int ks_strategy_metric(ks_strategy_t *st, const char *name, double value)
{
    void *v;
    if (!ks_strmap_get(&st->metrics, name, &v)) {
        if (st->metrics.count >= 256)
            return KS_ERANGE;
        v = malloc(sizeof(double));
        if (!v || ks_strmap_put(&st->metrics, name, v) != KS_OK) {
            free(v);
            return KS_ENOMEM;
        }
    }
    *(double *)v = value;
    return KS_OK;
}

bool ks_strategy_metric_next(const ks_strategy_t *st, size_t *it, const char **name, double *value)
{
    void *v;
    if (!ks_strmap_next(&st->metrics, it, name, &v))
        return false;
    *value = *(double *)v;
    return true;
}

/* ---- log rate ------------------------------------------------------------------------ */

#define LOG_BURST 1000.0
#define LOG_PER_S 100.0

bool ks_strategy_log_admit(ks_strategy_t *st)
{
    int64_t now = ks_loop_now_ns(ks_engine_loop(st->eng));
    if (st->log_refill_ns == 0) {
        st->log_tokens = LOG_BURST;
    } else if (now > st->log_refill_ns) {
        st->log_tokens += (double)(now - st->log_refill_ns) / 1e9 * LOG_PER_S;
        if (st->log_tokens > LOG_BURST)
            st->log_tokens = LOG_BURST;
    }
    st->log_refill_ns = now;
    if (st->log_tokens < 1) {
        st->log_dropped++;
        return false;
    }
    st->log_tokens -= 1;
    if (st->log_dropped) {
        ks_log_warn(st->component, "%llu log lines dropped (more than %.0f per second)",
                    (unsigned long long)st->log_dropped, LOG_PER_S);
        st->log_dropped = 0;
    }
    return true;
}

/* ---- timers -------------------------------------------------------------------------- */

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
    if (st->phase != KS_PHASE_EVENT)
        return;
    ev_arg_t a = {.st = st, .str = name};
    invoke(st, "on_timer", push_string, &a);
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
