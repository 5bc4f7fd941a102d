/* The engine: the one hub of the host (DESIGN §1). It owns the loop, the venues and
 * risk modules (plugin instances), the market cache, the OMS, the strategies and the
 * store, and routes every event: venue -> market cache -> OMS -> risk monitors ->
 * strategies. Strategy intents come back through ks_engine_submit(): rounding to tick
 * and lot, the risk chain, the write-ahead record, then the venue. */
#ifndef KS_ENGINE_H
#define KS_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "config.h"
#include "http.h"
#include "loop.h"
#include "market.h"
#include "oms.h"
#include "plugin.h"
#include "store.h"
#include "strmap.h"
#include "ws.h"

typedef struct ks_engine ks_engine_t;
typedef struct ks_strategy ks_strategy_t;

/* A loaded plugin instance's handle, handed to the plugin as ks_host_t *. */
struct ks_host {
    ks_engine_t *eng;
    int kind;  /* KS_PLUGIN_EXCHANGE or KS_PLUGIN_RISK */
    int index; /* venue id or risk module index */
    char name[KS_NAME_LEN];
    char component[KS_NAME_LEN + 8]; /* "venue.sim", "risk.limits" */
    ks_u64map_t timers;              /* host timer id -> wrapper */
    bool closing;
};

/* A sliding-window log of the request weight sent, so no window of window_ns ever holds
 * more than limit (a token bucket would allow twice that across a window boundary). */
typedef struct ks_rlwin {
    char name[KS_NAME_LEN]; /* the venue or the rate_limit_groups entry */
    uint32_t limit;         /* 0: unlimited */
    int64_t window_ns;
    int64_t *t;  /* ring of send times, `limit` slots; owned */
    uint32_t *w; /* and weights */
    uint32_t head, n, used;
} ks_rlwin_t;

/* A request waiting for rate-limit tokens. */
typedef struct ks_vreq {
    struct ks_vreq *next;
    int kind; /* KS_REQ_PLACE, KS_REQ_CANCEL, KS_REQ_AMEND */
    uint32_t weight;
    union {
        ks_order_cmd_t place;
        ks_cancel_cmd_t cancel;
        ks_amend_cmd_t amend;
    } u;
} ks_vreq_t;

/* Priorities of the send queue: reduce/close first, then cancels, then new entries. */
enum { KS_PRIO_REDUCE = 0, KS_PRIO_CANCEL = 1, KS_PRIO_NEW = 2, KS_PRIO_N = 3 };

typedef struct ks_venue {
    uint32_t id;
    char name[KS_NAME_LEN];
    const ks_plugin_t *plugin;
    const ks_exchange_ops_t *ops;
    void *self;
    struct ks_host host;
    bool open, up;
    ks_strmap_t balances; /* "wallet\x1fasset" -> ks_balance_t* */
    /* rate limiting: the venue's own window and, when it counts per IP or account with
     * other venue entries, the shared one (owned by the engine); a request leaves only
     * when it fits in both */
    ks_rlwin_t rl;
    ks_rlwin_t *rl_shared;
    ks_vreq_t *q_head[KS_PRIO_N], *q_tail[KS_PRIO_N];
    uint32_t n_queued;
    uint64_t rl_timer;
    int64_t pause_new_until_ns; /* after a 429/418 or venue rate-limit code */
    int backoff_level;
    int64_t last_throttle_ns;
    uint64_t rng;
    uint64_t sent, throttles;
    bool recon_bal_ok; /* its balances were listed during startup reconciliation */
} ks_venue_t;

typedef struct ks_riskmod {
    char name[KS_NAME_LEN];
    const ks_plugin_t *plugin;
    const ks_risk_ops_t *ops;
    void *self;
    struct ks_host host;
} ks_riskmod_t;

typedef struct ks_engine_opts {
    const ks_config_t *cfg; /* borrowed; must outlive the engine */
    const char *state_dir;  /* directory for kestrel.db */
    bool backtest;          /* virtual clock */
    bool check_only;        /* load and validate everything, start nothing */
    int64_t start_wall_ns;  /* backtest: virtual start */
    /* backtest --data: recorded market data handed to every sim venue as
     * config "replay": {"paths": [...]}; borrowed */
    const char *const *data_paths;
    int n_data;
} ks_engine_opts_t;

/* Builds the engine: opens the store, loads plugins, opens venues and risk modules,
 * compiles strategies. On failure writes one line into err and returns NULL. */
ks_engine_t *ks_engine_new(const ks_engine_opts_t *opts, char *err, size_t err_len);
void ks_engine_free(ks_engine_t *eng);

/* Starts venues and strategies. */
int ks_engine_start(ks_engine_t *eng, char *err, size_t err_len);
/* Runs the loop until stopped, or (duration_ns > 0) for that long; in a backtest for
 * the virtual duration. Calls on_stop on strategies and flushes the store at the end. */
int ks_engine_run(ks_engine_t *eng, int64_t duration_ns);
void ks_engine_stop(ks_engine_t *eng);

/* Re-reads the config file and applies it as a whole (enable/disable toggles, params
 * -> on_params, new or changed strategy files, removed strategies disabled). An invalid
 * config, or one that changes venues or risk modules, is rejected and the running one
 * stays; returns < 0 with the reason in err. */
int ks_engine_reload_config(ks_engine_t *eng, char *err, size_t err_len);
/* Hot-reloads one strategy (see ks_strategy_reload). */
int ks_engine_reload_strategy(ks_engine_t *eng, int idx, char *err, size_t err_len);
/* The kill switch: block entries, cancel all, flatten all, persist, stop with exit 3. */
void ks_engine_kill(ks_engine_t *eng, const char *reason);

/* Backtest over recorded data: the span of the data the venues declared, or 0. */
int64_t ks_engine_data_span_ns(ks_engine_t *eng);
int ks_engine_set_replay_span(ks_engine_t *eng, int64_t start_ns, int64_t end_ns);

/* Accessors. */
ks_loop_t *ks_engine_loop(ks_engine_t *eng);
ks_market_t *ks_engine_market(ks_engine_t *eng);
ks_oms_t *ks_engine_oms(ks_engine_t *eng);
ks_store_t *ks_engine_store(ks_engine_t *eng);
/* An order by client id: from memory, or loaded back from the store when it finished
 * long ago and was retired (docs/orders.md). NULL when unknown. */
ks_order_t *ks_engine_order(ks_engine_t *eng, const char *cloid);
const ks_config_t *ks_engine_config(ks_engine_t *eng);
bool ks_engine_is_backtest(const ks_engine_t *eng);
const char *ks_engine_db_path(const ks_engine_t *eng);
int ks_engine_n_strategies(const ks_engine_t *eng);
ks_strategy_t *ks_engine_strategy(ks_engine_t *eng, int idx);
ks_venue_t *ks_engine_venue(ks_engine_t *eng, uint32_t id);
int ks_engine_venue_by_name(ks_engine_t *eng, const char *name);
uint64_t ks_engine_event_count(const ks_engine_t *eng);
uint64_t ks_engine_event_count_type(const ks_engine_t *eng, int type);

/* ---- services for strategies (lua_api.c) ---------------------------------------- */

/* Instrument id of a unified symbol on a venue, or -1. */
int32_t ks_engine_find_inst(ks_engine_t *eng, uint32_t venue, const char *symbol);
/* Adds instrument market data for a strategy (resolved when the venue registers it). */
int ks_engine_subscribe(ks_engine_t *eng, int strat, uint32_t venue, const char *symbol);

/* The order path: quantize price (buy down, sell up) and qty (down) to the instrument's
 * tick and lot, check min size / notional, run the risk chain, write ahead, send. On
 * success copies the client order id into cloid. On refusal returns < 0 with a one-line
 * reason in err (no order is created for refusals before the write-ahead). */
int ks_engine_submit(ks_engine_t *eng, int strat, const ks_order_intent_t *in, char *cloid,
                     char *err, size_t err_len);
int ks_engine_cancel(ks_engine_t *eng, int strat, const char *cloid, char *err, size_t err_len);
/* The checks of ks_engine_submit without sending: rounds *in to tick and lot, checks
 * minimums and runs the risk chain (which may resize it). */
int ks_engine_check(ks_engine_t *eng, int strat, ks_order_intent_t *in, char *err, size_t err_len);
/* Sends an order for the host's own machinery (leg groups, flattening): rounding and
 * minimums, the risk chain only with KS_SEND_RISK, then write-ahead and send.
 * KS_SEND_CLOSING queues it with reduce/close priority (it reduces exposure even where
 * the venue has no reduce-only flag, e.g. a spot leg being unwound). */
enum { KS_SEND_RISK = 1u << 0, KS_SEND_CLOSING = 1u << 1 };
int ks_engine_send(ks_engine_t *eng, int strat, ks_order_intent_t *in, unsigned flags, char *cloid,
                   char *err, size_t err_len);

/* Leg groups (legs.h). */
struct ks_legs *ks_engine_legs(ks_engine_t *eng);
struct ks_hedge;
/* A leg group changed state: on_hedge to its strategy. */
void ks_engine_hedge_changed(ks_engine_t *eng, struct ks_hedge *h);
/* Cancels every open order of a strategy (-2: everyone). Returns the count. */
int ks_engine_cancel_all(ks_engine_t *eng, int strat, const char *reason);
/* Closes every position of a strategy (-2: everyone) with reduce-only market orders.
 * Returns the number of orders sent. */
int ks_engine_flatten(ks_engine_t *eng, int strat, const char *reason);

/* Amends a resting order of a strategy (venues with KS_XCAP_AMEND). Zero fields are
 * unchanged; they are rounded to tick and lot like new orders. */
int ks_engine_amend(ks_engine_t *eng, int strat, const char *cloid, ks_dec_t price, ks_dec_t qty,
                    char *err, size_t err_len);
/* Starts a wallet transfer for a strategy; the result comes back as on_transfer. *id
 * receives the request id. */
int ks_engine_transfer(ks_engine_t *eng, int strat, uint32_t venue, const char *asset,
                       ks_dec_t amount, int from, int to, uint64_t *id, char *err, size_t err_len);
/* Strategy equity: capital + realized + unrealized + funding - fees. */
ks_dec_t ks_engine_equity(ks_engine_t *eng, int strat);
/* equity / maintenance margin of the venue's derivatives wallet; false when unknown. */
bool ks_engine_margin_level(ks_engine_t *eng, uint32_t venue, double *out);

/* Venue wallet balance from the latest balance event, or NULL. */
const ks_balance_t *ks_engine_balance(ks_engine_t *eng, uint32_t venue, int wallet,
                                      const char *asset);

/* A strategy was (re-)enabled: resubscribes its symbols. */
void ks_engine_strategy_enabled(ks_engine_t *eng, int strat);

/* ctx.record: appends one row (a flat JSON object) to DIR/records/<strategy>.<name>.csv
 * (the first row's keys, sorted, are the header) and journals it as event
 * "record.<name>". */
int ks_engine_record(ks_engine_t *eng, int strat, const char *name, const char *row_json, char *err,
                     size_t err_len);

/* Records an event in the store journal and the log. */
void ks_engine_journal(ks_engine_t *eng, const char *kind, const char *subject,
                       const char *detail_json);

/* ---- the host services table (hostapi.c) ------------------------------------------ */

const ks_host_api_t *ks_hostapi_table(void);
void ks_host_init(struct ks_host *h, ks_engine_t *eng, int kind, int index, const char *name);
/* Stops the plugin's timers; call after the plugin's close(). */
void ks_host_release(struct ks_host *h);

/* Called by hostapi.c. */
int ks_engine_emit(ks_engine_t *eng, struct ks_host *h, const ks_event_t *ev);
int ks_engine_instrument_upsert(ks_engine_t *eng, struct ks_host *h, const ks_instrument_t *in,
                                int32_t *id);
int ks_engine_action(ks_engine_t *eng, struct ks_host *h, const ks_action_t *act);
void ks_engine_ratelimit_feedback(ks_engine_t *eng, struct ks_host *h,
                                  const ks_ratelimit_info_t *info);
ks_http_t *ks_engine_http(ks_engine_t *eng);
ks_wsctx_t *ks_engine_ws(ks_engine_t *eng);

#endif
