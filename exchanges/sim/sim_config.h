/* sim_config: the sim venue's JSON config, parsed and validated with defaults filled in.
 * Every key is documented in README.md. */
#ifndef KS_SIM_CONFIG_H
#define KS_SIM_CONFIG_H

#include <kestrel/kestrel.h>

#include "sim_core.h"

/* Synthetic-market symbols (each gives a spot and a perp). */
#define KS_SIM_MAX_SYMBOLS 32

typedef struct ks_sim_symbol_cfg {
    char base[KS_ASSET_LEN];
    ks_dec_t price; /* initial spot mid */
    ks_dec_t tick, lot, min_qty, min_notional;
    double vol, jumps_per_day, jump_size;
    double premium_mean, premium_vol, premium_half_life_h;
    double liq_bursts_per_day, liq_impact, liq_usd;
    double trades_per_s, trade_usd, depth_usd;
    double oi_usd, volume_usd;
    int32_t spread_ticks;
    int32_t max_leverage;
    int32_t funding_interval_h;
} ks_sim_symbol_cfg_t;

typedef struct ks_sim_balance_cfg {
    char asset[KS_ASSET_LEN];
    ks_dec_t amount;
} ks_sim_balance_cfg_t;

#define KS_SIM_MAX_REPLAY_PATHS   64
#define KS_SIM_MAX_REPLAY_SYMBOLS 256
#define KS_SIM_PATH_LEN           1024

/* "replay": recorded data instead of the synthetic market (README.md, docs/backtest.md). */
typedef struct ks_sim_replay_cfg {
    uint32_t n_paths; /* 0: the synthetic market */
    char paths[KS_SIM_MAX_REPLAY_PATHS][KS_SIM_PATH_LEN];
    bool synthetic_spot;
    bool oracle_from_index;   /* recorded index prices also publish as KS_EV_ORACLE */
    int64_t start_ns, end_ns; /* 0: the data's own span */
    uint32_t n_symbols;
    char symbols[KS_SIM_MAX_REPLAY_SYMBOLS][KS_SYMBOL_LEN];
    ks_dec_t spread_bps;   /* synthetic book around a candle close or mark */
    ks_dec_t depth_usd;    /* quote notional at the touch of a synthetic book */
    ks_dec_t min_notional; /* for instruments whose data states none */
} ks_sim_replay_cfg_t;

#define KS_SIM_MAX_FAULT_SYMBOLS 32

/* "faults": scripted venue misbehaviour for chaos tests (README.md, "Faults"). Every
 * probability is per request (per fill for lose_fill) and every draw comes from a stream
 * seeded by the venue's `seed`, so a run with faults is as reproducible as one without. */
typedef struct ks_sim_faults_cfg {
    bool any; /* at least one fault is configured */
    double reject_p;
    uint8_t reject_kind; /* 0: any, else KS_KIND_SPOT or KS_KIND_PERP */
    uint32_t n_reject_symbols;
    char reject_symbols[KS_SIM_MAX_FAULT_SYMBOLS][KS_SYMBOL_LEN]; /* bases or symbols */
    double delay_p;
    int32_t delay_min_ms, delay_max_ms;
    double lose_ack_p;
    double lose_fill_p;
    double partial_p;
    double partial_min, partial_max; /* share of the quantity that may fill */
    int32_t ratelimit_every_s;       /* mean time between 429 bursts (exponential) */
    int32_t ratelimit_ms;            /* length of a burst */
    int32_t ratelimit_retry_after_ms;
    int32_t disconnect_every_s; /* mean time between disconnects (exponential) */
    int32_t disconnect_ms;      /* length of a disconnect */
} ks_sim_faults_cfg_t;

typedef struct ks_sim_config {
    uint64_t seed;
    char quote[KS_ASSET_LEN];
    int32_t tick_ms;
    int32_t funding_interval_h;
    ks_dec_t funding_cap, interest_rate;
    ks_dec_t maker_fee, taker_fee, maint_margin_rate;
    int32_t latency_ms;
    int32_t book_levels;
    int32_t leverage, max_leverage;
    int32_t oracle_lag_ms;
    uint32_t n_spot, n_futures;
    ks_sim_balance_cfg_t spot[KS_SIM_MAX_ASSETS];
    ks_sim_balance_cfg_t futures[KS_SIM_MAX_ASSETS];
    uint32_t n_symbols;
    ks_sim_symbol_cfg_t symbols[KS_SIM_MAX_SYMBOLS];
    int32_t latency_jitter_ms;    /* extra request latency, uniform in [0, jitter], seeded */
    bool quote_set, balances_set; /* given in the config (a replay may pick its own quote) */
    ks_sim_replay_cfg_t replay;
    ks_sim_faults_cfg_t faults;
    char audit_file[KS_SIM_PATH_LEN]; /* test-only: the venue's own account written at close */
} ks_sim_config_t;

/* Parses the venue's config object (NULL or blank text: all defaults). On failure
 * writes one line naming the key ("symbols[2].price: expected a decimal string") into
 * err and returns KS_EINVAL (KS_ENOMEM when out of memory). */
int ks_sim_config_parse(const char *json, ks_sim_config_t *cfg, char *err, size_t err_len);

/* Fills a symbol with the built-in defaults for `base` (a generic profile when the base
 * is not in the table) and the venue-wide defaults of cfg. */
void ks_sim_config_symbol_defaults(const ks_sim_config_t *cfg, const char *base,
                                   ks_sim_symbol_cfg_t *out);

#endif
