/* Strategy runtime: one sandboxed LuaJIT VM per strategy (DESIGN §6).
 *
 * A strategy file is a Lua chunk returning a table of callbacks (on_start, on_bbo,
 * on_ticker, on_order, on_fill, on_timer, ...) and optional `params` defaults. It runs
 * in a whitelisted environment with the JIT off, a memory cap enforced by the VM's
 * allocator and an instruction budget per callback; everything it needs comes through
 * the `ctx` table built by lua_api.c. Errors are caught, logged with a traceback and
 * counted; too many errors, or a blown budget, disable the strategy. */
#ifndef KS_LUA_RUNTIME_H
#define KS_LUA_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "config.h"

typedef struct ks_engine ks_engine_t;
typedef struct ks_strategy ks_strategy_t;
typedef struct lua_State lua_State;

typedef enum ks_strategy_phase {
    KS_PHASE_LOAD = 0,   /* running the chunk */
    KS_PHASE_START = 1,  /* on_start */
    KS_PHASE_EVENT = 2,  /* market/order/timer callbacks */
    KS_PHASE_STOP = 3,   /* on_stop */
    KS_PHASE_CLOSED = 4, /* VM torn down or disabled: ctx refuses everything */
    KS_PHASE_RELOAD = 5, /* on_reload in the new VM */
} ks_strategy_phase_t;

/* Compiles and loads a strategy into a fresh VM (the chunk runs; no callback yet).
 * On failure writes "file:line: message" style text into err and returns NULL. */
ks_strategy_t *ks_strategy_load(ks_engine_t *eng, int idx, const ks_strategy_cfg_t *cfg, char *err,
                                size_t err_len);
void ks_strategy_free(ks_strategy_t *st);

/* Calls on_start. A failure disables the strategy. */
int ks_strategy_start(ks_strategy_t *st);
/* Calls on_stop and stops its timers. */
void ks_strategy_stop(ks_strategy_t *st);

/* Delivers an event (BBO, ticker, order, fill, ...) to the matching callback. */
void ks_strategy_dispatch(ks_strategy_t *st, const ks_event_t *ev);
/* on_position with the strategy's own position after a fill. */
void ks_strategy_position_changed(ks_strategy_t *st, int32_t inst);

const char *ks_strategy_name(const ks_strategy_t *st);
int ks_strategy_index(const ks_strategy_t *st);
bool ks_strategy_enabled(const ks_strategy_t *st);
const ks_strategy_cfg_t *ks_strategy_cfg(const ks_strategy_t *st);
uint32_t ks_strategy_venue(const ks_strategy_t *st);
/* Market data channels (KS_CH_*) the strategy's callbacks need. */
uint32_t ks_strategy_channels(const ks_strategy_t *st);
/* Disables after a failure (budget, errors): no on_stop; applies the on_disable policy
 * once, persists ctx.state when the VM is still sound, frees the VM from the loop. */
void ks_strategy_disable(ks_strategy_t *st, const char *reason);
/* Disables on request (operator, config): on_stop first, then as above. */
void ks_strategy_disable_graceful(ks_strategy_t *st, const char *reason);
/* Enables a disabled strategy: a fresh VM from the file with the stored ctx.state, then
 * on_start. */
int ks_strategy_enable(ks_strategy_t *st, char *err, size_t err_len);

/* Hot reload: compiles the file into a new VM, gives it the old ctx.state, runs
 * on_reload there, and swaps it in only if all of that succeeded. On failure the old
 * version keeps running, err holds "file:line: message" and the failure is journaled. */
int ks_strategy_reload(ks_strategy_t *st, char *err, size_t err_len);
/* Checks a params JSON object against the running version's declared defaults. */
int ks_strategy_check_params(ks_strategy_t *st, const char *params_json, char *err, size_t err_len);
/* Points the strategy at a new config entry (after a config reload); calls on_params
 * when its params changed. */
void ks_strategy_set_cfg(ks_strategy_t *st, const ks_strategy_cfg_t *cfg);

/* Every callback the runtime may call, NULL-terminated: the list sdk/lua/kestrel.lua
 * documents (tests/lua/test_lua_doc.c keeps the two equal). Calling any other name is a
 * bug (asserted). */
extern const char *const ks_strategy_callbacks[];

/* Calls callback `cb` with ctx and one value pushed by push(L, ud), if defined. */
void ks_strategy_call(ks_strategy_t *st, const char *cb, void (*push)(lua_State *L, void *ud),
                      void *ud);

const char *ks_strategy_last_error(const ks_strategy_t *st);
const char *ks_strategy_disabled_reason(const ks_strategy_t *st);
/* ctx.metric gauges. */
int ks_strategy_metric(ks_strategy_t *st, const char *name, double value);
bool ks_strategy_metric_next(const ks_strategy_t *st, size_t *it, const char **name, double *value);

typedef struct ks_strategy_stats {
    uint64_t callbacks, errors, events, reloads, reload_failures;
    size_t mem_bytes, mem_peak;
} ks_strategy_stats_t;
void ks_strategy_stats(const ks_strategy_t *st, ks_strategy_stats_t *out);

/* ---- for lua_api.c ---------------------------------------------------------------- */

ks_engine_t *ks_strategy_engine(ks_strategy_t *st);
ks_strategy_phase_t ks_strategy_phase(const ks_strategy_t *st);
/* The strategy owning a Lua state (from the registry). */
ks_strategy_t *ks_strategy_from_lua(lua_State *L);
/* Log-rate limit shared by print and ctx.log: true when one more line may be written
 * now (bursts of 1000 lines, then 100 per second of loop time). When lines flow again
 * after some were dropped, says how many. */
bool ks_strategy_log_admit(ks_strategy_t *st);
/* Arms a named timer calling on_timer(ctx, name); repeat when every_s > 0 after the
 * first. Re-arming a name replaces it. */
int ks_strategy_timer(ks_strategy_t *st, const char *name, double after_s, double every_s);
void ks_strategy_timer_cancel(ks_strategy_t *st, const char *name);
/* lua_sandbox.c: opens the whitelisted libraries; pushes a fresh sandbox env. Its
 * `require` resolves lib/<name>.lua beside the strategy's file (the registry's
 * "kestrel.file" string when no strategy owns the VM, as in `kestrel test`), then the
 * source tree's strategies/lib. */
int ks_lua_sandbox_open(lua_State *L);
void ks_lua_sandbox_push_env(lua_State *L);

/* ---- instruction budgets (also used by `kestrel test`) --------------------------------- */

typedef struct ks_lua_budget {
    int64_t limit; /* VM instructions (and charged C work) per call */
    int64_t used;
    bool blown; /* set once exceeded: every further instruction raises */
} ks_lua_budget_t;

/* Calls the function below nargs arguments with a traceback message handler under
 * budget b (reset unless b is already running: a nested call shares the outer budget).
 * Returns the lua_pcall code and leaves nres results, or the error message (a string),
 * on the stack. The VM must run with the JIT off. */
int ks_lua_run_budgeted(lua_State *L, ks_lua_budget_t *b, int nargs, int nres);
/* Charges C-side work (bytes scanned or copied, pattern-matching steps) to the running
 * budget; raises the budget error when it is exceeded. No-op outside a budgeted call. */
void ks_lua_charge(lua_State *L, int64_t units);
/* Raises "C stack overflow" when the thread's C stack is nearly used up. LuaJIT 2.1 does
 * not bound recursion that goes Lua -> C -> Lua (a gsub callback calling gsub, nested
 * coroutine.resume, a metamethod re-entering a ctx function): it crashes the process.
 * Checked by the budget hook and by every C function that calls back into Lua. */
void ks_lua_check_cstack(lua_State *L);
/* The ctx table is built by lua_api.c on the strategy's VM; leaves it on the stack. */
void ks_lua_api_push_ctx(lua_State *L, ks_strategy_t *st);
/* Event -> Lua table; pushes one value. */
void ks_lua_api_push_event(lua_State *L, ks_strategy_t *st, const ks_event_t *ev);
typedef struct ks_risk_notice {
    const char *module, *reason, *symbol; /* symbol may be NULL */
} ks_risk_notice_t;
void ks_lua_api_push_notice(lua_State *L, const ks_risk_notice_t *n);
void ks_lua_api_push_transfer(lua_State *L, const ks_transfer_result_t *r);
struct ks_hedge;
void ks_lua_api_push_hedge(lua_State *L, const struct ks_hedge *h);
/* Position table for a strategy's instrument; pushes one value. */
void ks_lua_api_push_position(lua_State *L, ks_strategy_t *st, int32_t inst);

#endif
