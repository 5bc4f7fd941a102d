/* Strategy runtime (see lua_runtime.h): VM lifecycle, budgets, callbacks, persisted
 * state, hot reload, enable/disable.
 *
 * A strategy (ks_strategy_t) outlives its VMs (ks_vm_t): a hot reload builds a new VM
 * from the file, hands it the old ctx.state, runs on_reload there and only then swaps
 * it in, between two events. Orders, positions and timers belong to the strategy, not
 * to a VM, so they carry over. */
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
#include "lua_json.h"

#define HOOK_STEP 1000 /* instructions between budget checks */
#define MAX_TIMERS 64
#define REG_STRATEGY "kestrel.strategy"
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

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    ks_lua_budget_t *b = current;
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
        ks_strategy_t *prev = current;
        current = NULL;
        lua_close(vm->L);
        current = prev;
    }
    free(vm);
}

/* Builds ctx.params on the stack: the module's `params` defaults overridden by
 * params_json. Types must match the defaults (recursively), and when the strategy
 * declares defaults, every configured key must be one of them (a typo must not go
 * unnoticed). */
static int build_params(ks_strategy_t *st, lua_State *L, int module, const char *params_json,
                        char *err, size_t err_len)
{
    ks_strategy_cfg_t probe = *st->cfg;
    probe.params_json = (char *)(params_json ? params_json : "{}");
    lua_getfield(L, module, "params");
    int defaults = lua_istable(L, -1) ? lua_gettop(L) : 0;
    if (defaults) {
        char *dj = NULL;
        if (ks_lua_to_json(L, defaults, "params", &dj, err, err_len) != 0)
            return -1;
        int rc = ks_config_check_params(&probe, dj, err, err_len);
        free(dj);
        if (rc != KS_OK)
            return -1;
    }
    cJSON *cfg = cJSON_Parse(probe.params_json);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
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
            lua_settable(L, params);
        }
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cfg)
    {
        if (defaults) {
            lua_getfield(L, defaults, c->string);
            bool known = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (!known) {
                snprintf(err, err_len,
                         "strategies.%s.params.%s: unknown parameter (the strategy declares no "
                         "default for it)",
                         st->name, c->string);
                cJSON_Delete(cfg);
                return -1;
            }
        }
        ks_lua_push_cjson(L, c);
        lua_setfield(L, params, c->string);
    }
    cJSON_Delete(cfg);
    lua_replace(L, -2); /* params where the defaults were */
    return 0;
}

/* Compiles the strategy file into a fresh sandboxed VM, runs its chunk (under the
 * budget), builds ctx with params and `state` (from state_json, or empty). On failure
 * writes "file:line: message" into err and returns NULL. */
static ks_vm_t *vm_new(ks_strategy_t *st, const char *params_json, const char *state_json,
                       char *err, size_t err_len)
{
    const ks_strategy_cfg_t *cfg = st->cfg;
    char chunkname[1100];
    size_t len;
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
    /* The JIT stays off: count hooks do not fire inside compiled traces. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    if (ks_lua_sandbox_open(L) != 0) {
        snprintf(err, err_len, "%s: cannot open the Lua libraries", cfg->file);
        goto fail;
    }
    lua_pushlightuserdata(L, st);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_STRATEGY);

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
        snprintf(err, err_len, "%s", rc == LUA_ERRMEM ? "out of memory" : lua_tostring(L, -1));
        goto fail;
    }
    ks_lua_sandbox_push_env(L);
    lua_setfenv(L, -2);
    ks_strategy_phase_t saved = st->phase;
    st->phase = KS_PHASE_LOAD;
    rc = run_budgeted(st, L, 0, 1);
    st->phase = saved;
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
        lua_getfield(L, module, wants[i].cb);
        if (lua_isfunction(L, -1))
            vm->channels |= wants[i].ch;
        lua_pop(L, 1);
    }
    if (build_params(st, L, module, params_json, err, err_len) != 0)
        goto fail;
    lua_setfield(L, LUA_REGISTRYINDEX, "kestrel.params");
    vm->ref_module = luaL_ref(L, LUA_REGISTRYINDEX);
    ks_lua_api_push_ctx(L, st);
    if (ks_lua_push_json(L, state_json ? state_json : "{}") != 0 || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        if (state_json)
            ks_log_warn(st->component, "stored state is not a JSON object; starting empty");
    }
    lua_setfield(L, -2, "state");
    vm->ref_ctx = luaL_ref(L, LUA_REGISTRYINDEX);
    return vm;
fail:
    vm_free(vm);
    return NULL;
}

/* ---- state persistence -------------------------------------------------------------- */

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Serializes ctx.state of a VM; caller frees. NULL with err on failure. */
static char *vm_state_json(ks_vm_t *vm, char *err, size_t err_len)
{
    lua_State *L = vm->L;
    char *out = NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_ctx);
    lua_getfield(L, -1, "state");
    if (ks_lua_to_json(L, -1, "ctx.state", &out, err, err_len) != 0)
        out = NULL;
    lua_pop(L, 2);
    return out;
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
    snprintf(st->last_error, sizeof(st->last_error), "%s: %s", what, msg);
    for (const char *p = msg; *p && j + 2 < sizeof(esc); p++) {
        if (*p == '"' || *p == '\\')
            esc[j++] = '\\';
        esc[j++] = (*p == '\n' || *p == '\t') ? ' ' : *p;
    }
    esc[j] = '\0';
    snprintf(detail, sizeof(detail), "{\"callback\":\"%s\",\"error\":\"%s\"}", what, esc);
    ks_engine_journal(st->eng, "strategy.error", st->name, detail);
}

/* Calls the function below nargs arguments in the current VM, with error accounting:
 * a blown budget or memory cap disables the strategy, and so do too many errors within
 * the window. */
static int protected_call(ks_strategy_t *st, int nargs, const char *what)
{
    lua_State *L = st->vm->L;
    int rc = run_budgeted(st, L, nargs, 0);
    st->callbacks++;
    if (rc == 0) {
        persist_state(st, false);
        return 0;
    }
    const char *msg = lua_tostring(L, -1);
    record_error(st, what, msg ? msg : "(no message)");
    lua_pop(L, 1);
    if (st->budget_blown) {
        ks_strategy_disable(st, "instruction budget exceeded");
        return rc;
    }
    if (rc == LUA_ERRMEM || st->vm->mem_blown) {
        ks_strategy_disable(st, "memory limit exceeded");
        return rc;
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
    return rc;
}

/* Pushes module[name] and ctx of the current VM; false (nothing pushed) when the
 * callback is not defined or the strategy cannot run. */
static bool push_cb(ks_strategy_t *st, const char *name)
{
    if (!st->vm || !st->vm->L || !st->enabled || st->phase == KS_PHASE_CLOSED)
        return false;
    lua_State *L = st->vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->vm->ref_module);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->vm->ref_ctx);
    return true;
}

/* ---- public API ------------------------------------------------------------------------ */

ks_strategy_t *ks_strategy_load(ks_engine_t *eng, int idx, const ks_strategy_cfg_t *cfg,
                                char *err, size_t err_len)
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
    st->budget = cfg->instruction_budget > 0 ? cfg->instruction_budget : 10000000;
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
    if (push_cb(st, "on_start"))
        rc = protected_call(st, 1, "on_start");
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
        if (push_cb(st, "on_stop"))
            protected_call(st, 1, "on_stop");
        persist_state(st, true);
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
    ks_lua_api_push_event(st->vm->L, st, ev);
    protected_call(st, 2, name);
}

void ks_strategy_position_changed(ks_strategy_t *st, int32_t inst)
{
    if (st->phase != KS_PHASE_EVENT || !push_cb(st, "on_position"))
        return;
    ks_lua_api_push_position(st->vm->L, st, inst);
    protected_call(st, 2, "on_position");
}

void ks_strategy_call(ks_strategy_t *st, const char *cb, void (*push)(lua_State *, void *),
                      void *ud)
{
    if (st->phase != KS_PHASE_EVENT || !push_cb(st, cb))
        return;
    push(st->vm->L, ud);
    protected_call(st, 2, cb);
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
    lua_State *L = nvm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, nvm->ref_module);
    lua_getfield(L, -1, "on_reload");
    lua_remove(L, -2);
    if (lua_isfunction(L, -1)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, nvm->ref_ctx);
        ks_lua_push_json(L, state);
        ks_strategy_phase_t saved = st->phase;
        st->vm = nvm; /* ctx calls inside on_reload act on the new VM */
        st->phase = KS_PHASE_RELOAD;
        int rc = run_budgeted(st, L, 2, 0);
        st->phase = saved;
        st->vm = old;
        if (rc != 0) {
            const char *m = lua_tostring(L, -1);
            snprintf(err, err_len, "on_reload: %s", m ? m : "(no message)");
            char *nl = strchr(err, '\n');
            if (nl)
                *nl = '\0';
            vm_free(nvm);
            free(state);
            goto failed;
        }
    } else {
        lua_pop(L, 1);
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

int ks_strategy_check_params(ks_strategy_t *st, const char *params_json, char *err,
                             size_t err_len)
{
    if (!st->vm || !st->vm->L)
        return KS_OK; /* checked when it is next loaded */
    lua_State *L = st->vm->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->vm->ref_module);
    int rc = build_params(st, L, lua_gettop(L), params_json, err, err_len);
    lua_settop(L, top);
    return rc == 0 ? KS_OK : KS_EINVAL;
}

void ks_strategy_set_cfg(ks_strategy_t *st, const ks_strategy_cfg_t *cfg)
{
    bool params_changed = strcmp(st->cfg->params_json ? st->cfg->params_json : "{}",
                                 cfg->params_json ? cfg->params_json : "{}") != 0;
    st->cfg = cfg;
    st->budget = cfg->instruction_budget > 0 ? cfg->instruction_budget : 10000000;
    if (st->vm)
        st->vm->mem_limit = cfg->memory_limit > 0 ? (size_t)cfg->memory_limit : (size_t)64 << 20;
    if (!params_changed || !st->vm || !st->vm->L)
        return;
    lua_State *L = st->vm->L;
    char err[KS_REASON_LEN * 2];
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->vm->ref_module);
    if (build_params(st, L, lua_gettop(L), cfg->params_json, err, sizeof(err)) != 0) {
        lua_settop(L, top);
        ks_log_error(st->component, "new params not applied: %s", err);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->vm->ref_ctx);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "params");
    lua_pop(L, 2);
    ks_log_info(st->component, "params changed: %s", cfg->params_json);
    ks_engine_journal(st->eng, "strategy.params", st->name, cfg->params_json);
    if (st->enabled && st->phase == KS_PHASE_EVENT && push_cb(st, "on_params")) {
        lua_getfield(L, -1, "params");
        protected_call(st, 2, "on_params");
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
        if (push_cb(st, "on_stop"))
            protected_call(st, 1, "on_stop");
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

bool ks_strategy_metric_next(const ks_strategy_t *st, size_t *it, const char **name,
                             double *value)
{
    void *v;
    if (!ks_strmap_next(&st->metrics, it, name, &v))
        return false;
    *value = *(double *)v;
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
    if (st->phase != KS_PHASE_EVENT || !push_cb(st, "on_timer"))
        return;
    lua_pushstring(st->vm->L, name);
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
