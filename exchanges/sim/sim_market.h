/* sim_market: the seeded synthetic market behind the sim venue.
 *
 * Per base asset: a spot mid (GBM + Poisson jumps), a perp mid = spot * (1 + premium)
 * with a mean-reverting (Ornstein-Uhlenbeck) premium that drives the funding rate, a mark
 * and index, an oracle that lags the mark, liquidation bursts, synthetic taker flow,
 * open interest and rolling 24h volume. Doubles live only in here; every price and size
 * leaves quantized to the instrument's tick/lot (rounding stated per field) as ks_dec_t.
 *
 * Deterministic: each base has its own xoshiro256** generator seeded from (seed, base
 * index), and only the sequence of ks_sim_market_step() times matters. No I/O, no
 * clock, no globals. See README.md for the formulas. */
#ifndef KS_SIM_MARKET_H
#define KS_SIM_MARKET_H

#include <kestrel/kestrel.h>

#define KS_SIM_MARKET_MAX_TRADES 16
#define KS_SIM_MARKET_MAX_LIQS   4

typedef struct ks_sim_market_params {
    double price;               /* initial spot mid */
    double vol;                 /* annualized volatility of the spot mid */
    double jumps_per_day;       /* Poisson rate of price jumps */
    double jump_std;            /* stddev of a jump's log size (0.005 = 0.5 %) */
    double premium_mean;        /* long-run mean of perp/spot - 1 */
    double premium_vol;         /* stationary stddev of the premium */
    double premium_half_life_h; /* OU mean-reversion half-life */
    double liq_bursts_per_day;  /* Poisson rate of liquidation bursts */
    double liq_impact;          /* total price impact of a burst (0.004 = 0.4 %) */
    double liq_usd;             /* quote notional of a burst */
    double trades_per_s;        /* perp taker trades per second (spot: 60 %) */
    double trade_usd;           /* mean quote size of a taker trade */
    double oi_usd;              /* open interest at the initial price, in quote */
    double volume_usd;          /* perp 24h quote volume (spot: 40 %) */
    int32_t funding_interval_h; /* divides 24 */
    ks_dec_t tick, lot;         /* quantization of prices and sizes (same spot and perp) */
} ks_sim_market_params_t;

typedef struct ks_sim_market_config {
    uint64_t seed;
    ks_dec_t funding_cap;  /* |rate| <= cap */
    ks_dec_t interest_8h;  /* interest component per 8 h (0.0001) */
    int64_t oracle_lag_ns; /* oracle = mark as of this long ago; 0 = the mark */
    int64_t step_ns;       /* expected step (sizes the oracle history) */
} ks_sim_market_config_t;

typedef struct ks_sim_market_trade {
    int8_t side; /* aggressor, ks_side_t */
    ks_dec_t qty;
} ks_sim_market_trade_t;

typedef struct ks_sim_market_liq {
    int8_t side; /* side of the forced order: SELL liquidates longs */
    ks_dec_t px, qty;
} ks_sim_market_liq_t;

/* The market of one base after a step. */
typedef struct ks_sim_market_out {
    ks_dec_t spot_mid, perp_mid; /* nearest tick */
    ks_dec_t mark, index;        /* mark = perp mid, index = spot mid */
    ks_dec_t oracle;             /* mark as of oracle_lag_ns ago (oldest kept before that) */
    ks_dec_t funding_rate;       /* predicted rate of the current interval (8 digits) */
    ks_dec_t settle_rate;        /* when `settled`: the rate of the interval that ended */
    bool settled;                /* this step crossed a funding boundary */
    ks_dec_t open_interest;      /* base units, floor to lot */
    ks_dec_t spot_volume_24h, perp_volume_24h; /* quote, floor to 1 */
    uint32_t n_spot_trades, n_perp_trades;
    ks_sim_market_trade_t spot_trades[KS_SIM_MARKET_MAX_TRADES];
    ks_sim_market_trade_t perp_trades[KS_SIM_MARKET_MAX_TRADES];
    uint32_t n_liqs; /* liquidation prints on the perp this step */
    ks_sim_market_liq_t liqs[KS_SIM_MARKET_MAX_LIQS];
} ks_sim_market_out_t;

typedef struct ks_sim_market ks_sim_market_t;

/* Caller owns the result; free with ks_sim_market_free(). params (n entries) copied.
 * The initial state is computed for time t0 (ns since the epoch). NULL with a reason in
 * err on bad parameters or ENOMEM. */
/* Checks cfg and params without building anything; a reason in err when invalid. */
int ks_sim_market_validate(const ks_sim_market_config_t *cfg, const ks_sim_market_params_t *params,
                           uint32_t n, char *err, size_t err_len);

ks_sim_market_t *ks_sim_market_new(const ks_sim_market_config_t *cfg,
                                   const ks_sim_market_params_t *params, uint32_t n, int64_t t0,
                                   char *err, size_t err_len);
void ks_sim_market_free(ks_sim_market_t *m);

/* Advances every base to ts (> the previous ts; an older or equal ts only clears the
 * per-step trades and prints). */
void ks_sim_market_step(ks_sim_market_t *m, int64_t ts);

/* Borrowed; valid until the next step. */
const ks_sim_market_out_t *ks_sim_market_out(const ks_sim_market_t *m, uint32_t i);
uint32_t ks_sim_market_count(const ks_sim_market_t *m);

#endif
