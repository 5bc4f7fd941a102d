/* A fake host services table and a fake portfolio that drive the shipped risk plugins
 * through their descriptors, as the host would, without the host core: the clock is set by
 * the test, log lines, actions and metrics are recorded, and positions, equity, market views
 * and instruments are scripted. */
#ifndef KS_TEST_RISK_FAKE_H
#define KS_TEST_RISK_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#define FAKE_MAX_INST    8
#define FAKE_MAX_STRATS  4
#define FAKE_MAX_LOGS    256
#define FAKE_MAX_ACTIONS 64
#define FAKE_MAX_METRICS 64
#define FAKE_MAX_KV      16
#define FAKE_SEC         1000000000LL
#define FAKE_MS          1000000LL

typedef struct fake_action {
    uint32_t kind;
    bool all_strategies; /* strategy was NULL */
    char strategy[KS_NAME_LEN];
    int32_t inst;
    ks_dec_t fraction;
    char reason[KS_REASON_LEN];
} fake_action_t;

struct ks_host {
    int64_t now_ns;
    int n_logs;
    int log_level[FAKE_MAX_LOGS];
    char logs[FAKE_MAX_LOGS][512];
    int n_actions;
    fake_action_t actions[FAKE_MAX_ACTIONS];
    int n_metrics;
    struct {
        char name[96];
        double value;
    } metrics[FAKE_MAX_METRICS];
    int n_kv;
    struct {
        char key[96];
        char val[64];
        size_t len;
    } kv[FAKE_MAX_KV];
};

typedef struct fake_strat {
    char name[KS_NAME_LEN];
    ks_dec_t equity;
    ks_dec_t gross; /* what gross_notional() answers */
    ks_dec_t pos[FAKE_MAX_INST];
    ks_dec_t open_qty[FAKE_MAX_INST];
} fake_strat_t;

typedef struct fake_pf {
    ks_portfolio_t pub; /* first: plugins get &pub */
    struct ks_host *host;
    int n_inst;
    ks_instrument_t inst[FAKE_MAX_INST];
    char symbol[FAKE_MAX_INST][KS_SYMBOL_LEN];
    ks_market_view_t view[FAKE_MAX_INST];
    int n_strats;
    fake_strat_t strats[FAKE_MAX_STRATS];
} fake_pf_t;

typedef struct fake {
    struct ks_host host;
    fake_pf_t pf;
    ks_host_api_t api;
    void *dl;
    const ks_plugin_desc_t *desc;
    const ks_risk_ops_t *ops;
    void *self; /* the open plugin instance, NULL until fake_open() succeeds */
} fake_t;

/* Loads <KS_BUILD_DIR>/plugins/<plugin>.so and checks its descriptor (fails the test
 * otherwise). The clock starts at 1000 s. Free with fake_free(). */
fake_t *fake_new(const char *plugin);
/* Calls ops->open(config) (NULL: no config); on failure the error is in err. */
int fake_open(fake_t *f, const char *config_json, char *err, size_t err_len);
void fake_free(fake_t *f);

/* Parses a decimal or fails the test; F() formats into a rotating buffer. */
ks_dec_t D(const char *s);
const char *F(ks_dec_t d);

/* Scripting. Times use the fake clock (f->host.now_ns). */
int32_t fake_inst(fake_t *f, const char *symbol, int kind, const char *lot, int max_leverage);
fake_strat_t *fake_strategy(fake_t *f, const char *name, const char *equity);
void fake_position(fake_t *f, const char *strategy, int32_t inst, const char *qty);
void fake_open_qty(fake_t *f, const char *strategy, int32_t inst, const char *qty);
/* Sets the view as the host's market cache would, stamping recv times with now. */
void fake_set_bbo(fake_t *f, int32_t inst, const char *bid, const char *ask);
void fake_set_mark(fake_t *f, int32_t inst, const char *mark);
void fake_set_oracle(fake_t *f, int32_t inst, const char *px);
/* A fresh, quiet market: bid/ask, mark, oracle all now. */
void fake_market(fake_t *f, int32_t inst, const char *bid, const char *ask, const char *mark);
void fake_advance_ms(fake_t *f, int64_t ms);

/* check() on one intent. price NULL: a market order; ref_price NULL: the limit price (or the
 * mark for market orders), as the host sets it. */
ks_risk_decision_t fake_check(fake_t *f, const char *strategy, int32_t inst, int side,
                              const char *qty, const char *price, const char *ref_price,
                              bool reduce_only);

/* Events: each updates the view like the market cache first, then calls on_event. */
void fake_event(fake_t *f, ks_event_t *ev); /* recv_ns = now when zero */
void fake_ev_bbo(fake_t *f, int32_t inst, const char *bid, const char *ask, int64_t venue_ts);
void fake_ev_ticker(fake_t *f, int32_t inst, const char *mark, const char *oi, int64_t venue_ts);
void fake_ev_oracle(fake_t *f, int32_t inst, const char *px, int64_t venue_ts);
/* Changes the spec (spec_version + 1, flags) and emits KS_EV_INSTRUMENT. */
void fake_ev_spec_change(fake_t *f, int32_t inst, uint32_t flags);
void fake_ev_instrument(fake_t *f, int32_t inst);
void fake_ev_position(fake_t *f, int32_t inst, const char *qty, const char *entry, const char *liq,
                      int leverage);
void fake_ev_balance(fake_t *f, const char *asset, const char *equity, const char *maint);
/* Any event without market content (a connection status), to let time-driven state move. */
void fake_ev_tick(fake_t *f);

/* Recorded output. */
bool fake_logged(const fake_t *f, const char *needle);
int fake_log_count(const fake_t *f, const char *needle);
void fake_clear(fake_t *f);
const fake_action_t *fake_action(const fake_t *f, int i);
/* Last value of a metric, or -1 when never set. */
double fake_metric(const fake_t *f, const char *name);
/* Stores a value in the fake key-value store. */
void fake_kv_put(fake_t *f, const char *key, const char *val);
const char *fake_kv(const fake_t *f, const char *key);

#endif
