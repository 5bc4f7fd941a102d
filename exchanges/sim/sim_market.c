/* sim_market: stochastic price, premium, funding and flow generator (see sim_market.h).
 * All state is plain numbers; the oracle history is one ring per base in one block. */
#include "sim_market.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S      1e9
#define S_PER_DAY     86400.0
#define DAYS_PER_YEAR 365.25
#define VOL_BUCKETS   25 /* 24 full hours + the current one */
#define NS_PER_HOUR   3600000000000LL
/* Half-life of the perp's short-lived dislocation from liquidation bursts. */
#define DISLOCATION_HALF_LIFE_S 300.0

typedef struct mk_base {
    ks_sim_market_params_t p;
    uint64_t s[4]; /* xoshiro256** */
    bool has_spare;
    double spare;
    double tick_d, lot_d;
    double spot, prem, dis, last_ret; /* perp = spot * (1 + prem + dis) */
    double oi_x;                      /* OU log-deviation of open interest */
    double fund_acc, fund_h;          /* integral of the premium over the interval, hours */
    int burst_left;                   /* liquidation prints still to come */
    int8_t burst_side;
    double burst_impact, burst_usd; /* per print */
    double spot_vol[VOL_BUCKETS], perp_vol[VOL_BUCKETS];
    int64_t ring_base; /* index of this base's ring in the shared block */
    uint32_t ring_head, ring_n;
    ks_sim_market_out_t out;
} mk_base_t;

typedef struct mk_sample {
    int64_t ts;
    ks_dec_t mark;
} mk_sample_t;

struct ks_sim_market {
    ks_sim_market_config_t cfg;
    uint32_t n;
    int64_t ts;
    int64_t hour;         /* current volume bucket hour */
    double cap, interest; /* funding cap and 8 h interest as doubles */
    uint32_t ring_cap;
    mk_sample_t *ring; /* n * ring_cap */
    mk_base_t *b;
};

/* ---- PRNG ---------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(mk_base_t *b)
{
    uint64_t *s = b->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1). */
static double uniform(mk_base_t *b)
{
    return (double)(next_u64(b) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller, second value cached). */
static double normal(mk_base_t *b)
{
    if (b->has_spare) {
        b->has_spare = false;
        return b->spare;
    }
    double u1 = uniform(b), u2 = uniform(b);
    if (u1 < 1e-300)
        u1 = 1e-300;
    double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
    b->spare = r * sin(a);
    b->has_spare = true;
    return r * cos(a);
}

/* Poisson count with mean lam (Knuth; lam is small here), capped at cap. */
static uint32_t poisson(mk_base_t *b, double lam, uint32_t cap)
{
    if (lam <= 0)
        return 0;
    if (lam > 30)
        return cap;
    double l = exp(-lam), p = 1.0;
    uint32_t k = 0;
    for (;;) {
        p *= uniform(b);
        if (p <= l || k >= cap)
            return k;
        k++;
    }
}

/* ---- quantization: the only exits from double to decimal ----------------------- */

/* Nearest tick (ties up), at least one tick. */
static ks_dec_t to_tick(const mk_base_t *b, double px)
{
    double t = floor(px / b->tick_d + 0.5);
    if (!(t >= 1))
        t = 1;
    if (t > 9e15 / (double)b->p.tick.mant)
        t = 9e15 / (double)b->p.tick.mant;
    return KS_DEC((int64_t)t * b->p.tick.mant, b->p.tick.scale);
}

/* Floor to lot, at least `min_lots` lots. */
static ks_dec_t to_lots(const mk_base_t *b, double qty, int64_t min_lots)
{
    double n = floor(qty / b->lot_d);
    if (!(n >= (double)min_lots))
        n = (double)min_lots;
    if (n > 9e15 / (double)b->p.lot.mant)
        n = 9e15 / (double)b->p.lot.mant;
    return KS_DEC((int64_t)n * b->p.lot.mant, b->p.lot.scale);
}

/* Nearest 1e-8 (ties up). */
static ks_dec_t to_rate(double r)
{
    return KS_DEC((int64_t)floor(r * 1e8 + 0.5), 8);
}

/* Floor to a whole quote unit. */
static ks_dec_t to_units(double v)
{
    if (!(v >= 0))
        v = 0;
    if (v > 9e18)
        v = 9e18;
    return KS_DEC((int64_t)floor(v), 0);
}

/* ---- model --------------------------------------------------------------------- */

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* rate = clamp((average premium + interest_8h) * interval_h / 8, +-cap): the premium
 * and the interest are read as per-8 h rates, so the yearly cost of a given premium does
 * not depend on the interval length. */
static ks_dec_t funding_rate(const ks_sim_market_t *m, const mk_base_t *b)
{
    double avg = b->fund_h > 0 ? b->fund_acc / b->fund_h : b->prem + b->dis;
    double r = clamp((avg + m->interest) * b->p.funding_interval_h / 8.0, -m->cap, m->cap);
    ks_dec_t d = to_rate(r);
    if (ks_dec_cmp(d, m->cfg.funding_cap) > 0)
        d = m->cfg.funding_cap;
    if (ks_dec_cmp(d, ks_dec_neg(m->cfg.funding_cap)) < 0)
        d = ks_dec_neg(m->cfg.funding_cap);
    return ks_dec_normalize(d);
}

static void ring_push(ks_sim_market_t *m, mk_base_t *b, int64_t ts, ks_dec_t mark)
{
    mk_sample_t *r = m->ring + b->ring_base;
    if (b->ring_n == m->ring_cap) { /* full: drop the oldest */
        b->ring_head = (b->ring_head + 1) % m->ring_cap;
        b->ring_n--;
    }
    uint32_t pos = (b->ring_head + b->ring_n++) % m->ring_cap;
    r[pos].ts = ts;
    r[pos].mark = mark;
}

/* Newest sample at or before ts - lag; the oldest kept when none is that old. Samples
 * older than the answer are dropped. */
static ks_dec_t oracle_at(ks_sim_market_t *m, mk_base_t *b, int64_t ts)
{
    const mk_sample_t *r = m->ring + b->ring_base;
    int64_t cut = ts - m->cfg.oracle_lag_ns;
    while (b->ring_n > 1 && r[(b->ring_head + 1) % m->ring_cap].ts <= cut) {
        b->ring_head = (b->ring_head + 1) % m->ring_cap;
        b->ring_n--;
    }
    return r[b->ring_head].mark;
}

static double vol_sum(const double *v, int64_t hour, double frac)
{
    /* Bucket hour % 25 is the current one; (hour + 1) % 25 the oldest, of which only the
     * part of the hour not yet elapsed is still inside the 24 h window. */
    double s = 0;
    for (int64_t h = hour - 23; h <= hour; h++)
        s += v[h % VOL_BUCKETS];
    return s + v[(hour + 1) % VOL_BUCKETS] * (1.0 - frac);
}

static void fill_out(ks_sim_market_t *m, mk_base_t *b, int64_t ts)
{
    ks_sim_market_out_t *o = &b->out;
    double perp = b->spot * (1.0 + b->prem + b->dis);
    double frac = (double)(ts - m->hour * NS_PER_HOUR) / (double)NS_PER_HOUR;
    o->spot_mid = to_tick(b, b->spot);
    o->perp_mid = to_tick(b, perp);
    o->mark = o->perp_mid;
    o->index = o->spot_mid;
    ring_push(m, b, ts, o->mark);
    o->oracle = m->cfg.oracle_lag_ns > 0 ? oracle_at(m, b, ts) : o->mark;
    o->funding_rate = funding_rate(m, b);
    o->open_interest = to_lots(b, b->p.oi_usd / b->p.price * exp(b->oi_x), 0);
    o->spot_volume_24h = to_units(vol_sum(b->spot_vol, m->hour, frac));
    o->perp_volume_24h = to_units(vol_sum(b->perp_vol, m->hour, frac));
}

static void gen_trades(mk_base_t *b, double lam, double bias, double px, ks_sim_market_trade_t *t,
                       uint32_t *n)
{
    uint32_t k = poisson(b, lam, KS_SIM_MARKET_MAX_TRADES);
    double mean = b->p.trade_usd / px;
    for (uint32_t i = 0; i < k; i++) {
        t[i].side = uniform(b) < 0.5 + bias ? KS_SIDE_BUY : KS_SIDE_SELL;
        double u = uniform(b);
        double q = -log(1.0 - u) * mean;
        t[i].qty = to_lots(b, q < 20 * mean ? q : 20 * mean, 1);
    }
    *n = k;
}

static void step_base(ks_sim_market_t *m, mk_base_t *b, double dt_s, int64_t prev_ts, int64_t ts)
{
    const ks_sim_market_params_t *p = &b->p;
    ks_sim_market_out_t *o = &b->out;
    double dt_y = dt_s / (S_PER_DAY * DAYS_PER_YEAR), dt_d = dt_s / S_PER_DAY, dt_h = dt_s / 3600;
    double sq = sqrt(dt_y);
    int64_t iv = (int64_t)p->funding_interval_h * NS_PER_HOUR;
    bool new_interval = ts / iv != prev_ts / iv;

    o->n_liqs = 0;
    o->settled = false;

    /* Spot: GBM log-return, plus a Poisson jump. */
    double ret = -0.5 * p->vol * p->vol * dt_y + p->vol * sq * normal(b);
    if (uniform(b) < p->jumps_per_day * dt_d)
        ret += p->jump_std * normal(b);

    /* Premium: exact OU transition towards premium_mean. */
    double theta = log(2.0) / (p->premium_half_life_h > 0 ? p->premium_half_life_h : 1.0);
    double e = exp(-theta * dt_h);
    double prem = p->premium_mean + (b->prem - p->premium_mean) * e +
                  p->premium_vol * sqrt(1.0 - e * e) * normal(b);

    /* Dislocation: decays fast; liquidation bursts feed it. */
    double dis = b->dis * exp(-log(2.0) / DISLOCATION_HALF_LIFE_S * dt_s);

    /* Liquidation bursts: a few prints of one side over consecutive steps, each moving
     * spot by 70 % of the impact and the perp by a further 30 % (a dislocation that
     * decays with a 5 min half-life) in the forced order's direction. */
    if (!b->burst_left && uniform(b) < p->liq_bursts_per_day * dt_d) {
        double psell = b->last_ret < 0 ? 0.65 : 0.35;
        b->burst_side = uniform(b) < psell ? KS_SIDE_SELL : KS_SIDE_BUY;
        b->burst_left = 3 + (int)(next_u64(b) % 6);
        b->burst_impact = p->liq_impact * (0.5 + uniform(b)) / b->burst_left;
        b->burst_usd = p->liq_usd * (0.5 + uniform(b)) / b->burst_left;
    }
    if (b->burst_left) {
        int k = 1 + (int)(next_u64(b) % 2);
        for (int i = 0; i < k && b->burst_left && o->n_liqs < KS_SIM_MARKET_MAX_LIQS; i++) {
            double imp = b->burst_impact * (0.6 + 0.8 * uniform(b)) * b->burst_side;
            ret += 0.7 * imp;
            dis += 0.3 * imp;
            double perp = b->spot * exp(ret) * (1.0 + prem + dis);
            ks_sim_market_liq_t *l = &o->liqs[o->n_liqs++];
            l->side = b->burst_side;
            l->px = to_tick(b, perp);
            l->qty = to_lots(b, b->burst_usd * (0.5 + uniform(b)) / perp, 1);
            b->burst_left--;
        }
    }

    b->spot *= exp(ret);
    b->prem = prem;
    b->dis = dis;
    b->last_ret = ret;

    /* Funding: time-weighted average of the whole premium (perp / spot - 1). */
    b->fund_acc += (prem + dis) * dt_h;
    b->fund_h += dt_h;
    if (new_interval) {
        o->settle_rate = funding_rate(m, b);
        o->settled = true;
        b->fund_acc = 0;
        b->fund_h = 0;
    }

    /* Open interest: OU in log space around oi_usd at the initial price (6 h half-life,
     * 8 % stationary stddev). */
    double eo = exp(-log(2.0) / 6.0 * dt_h);
    b->oi_x = b->oi_x * eo + 0.08 * sqrt(1.0 - eo * eo) * normal(b);

    /* Taker flow, leaning with the move; turnover into the hour bucket. */
    double sd = p->vol * sq > 0 ? p->vol * sq : 1;
    double bias = clamp(ret / sd * 0.15, -0.3, 0.3);
    double perp_px = b->spot * (1.0 + b->prem + b->dis);
    gen_trades(b, p->trades_per_s * dt_s, bias, perp_px, o->perp_trades, &o->n_perp_trades);
    gen_trades(b, 0.6 * p->trades_per_s * dt_s, bias, b->spot, o->spot_trades, &o->n_spot_trades);
    double act = (0.7 + 0.6 * uniform(b)) * (1.0 + fabs(ret) / sd * 0.2);
    double turnover = p->volume_usd * dt_s / S_PER_DAY * act;
    b->perp_vol[m->hour % VOL_BUCKETS] += turnover;
    b->spot_vol[m->hour % VOL_BUCKETS] += 0.4 * turnover;

    fill_out(m, b, ts);
}

/* ---- API ----------------------------------------------------------------------- */

static const char *check_params(const ks_sim_market_params_t *p)
{
    if (!(p->price > 0) || !isfinite(p->price))
        return "price must be > 0";
    if (!(p->vol >= 0 && p->vol < 20))
        return "vol must be in [0, 20)";
    if (!(p->jumps_per_day >= 0) || !(p->jump_std >= 0) || !(p->liq_bursts_per_day >= 0) ||
        !(p->liq_impact >= 0 && p->liq_impact < 0.5) || !(p->liq_usd >= 0))
        return "jump and liquidation parameters must be >= 0 (liq_impact < 0.5)";
    if (!(fabs(p->premium_mean) < 0.1) || !(p->premium_vol >= 0 && p->premium_vol < 0.1) ||
        !(p->premium_half_life_h > 0))
        return "premium_mean and premium_vol must be within +-0.1, half-life > 0";
    if (!(p->trades_per_s >= 0 && p->trades_per_s <= 100) || !(p->trade_usd > 0))
        return "trades_per_s must be in [0, 100] and trade_usd > 0";
    if (!(p->oi_usd >= 0) || !(p->volume_usd >= 0))
        return "oi_usd and volume_usd must be >= 0";
    if (p->tick.mant <= 0 || p->lot.mant <= 0)
        return "tick and lot must be > 0";
    if (p->funding_interval_h < 1 || 24 % p->funding_interval_h != 0)
        return "funding_interval_h must divide 24";
    return NULL;
}

int ks_sim_market_validate(const ks_sim_market_config_t *cfg, const ks_sim_market_params_t *params,
                           uint32_t n, char *err, size_t err_len)
{
    const char *why;
    if (!cfg || !params || !n) {
        snprintf(err, err_len, "no symbols");
        return KS_EINVAL;
    }
    if (cfg->funding_cap.mant < 0 || cfg->oracle_lag_ns < 0) {
        snprintf(err, err_len, "funding_cap and oracle lag must be >= 0");
        return KS_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if ((why = check_params(&params[i])) != NULL) {
            snprintf(err, err_len, "symbols[%u]: %s", i, why);
            return KS_EINVAL;
        }
    }
    return KS_OK;
}

ks_sim_market_t *ks_sim_market_new(const ks_sim_market_config_t *cfg,
                                   const ks_sim_market_params_t *params, uint32_t n, int64_t t0,
                                   char *err, size_t err_len)
{
    ks_sim_market_t *m;

    if (ks_sim_market_validate(cfg, params, n, err, err_len) != KS_OK)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        goto fail_nomem;
    m->cfg = *cfg;
    m->n = n;
    m->ts = t0;
    m->hour = t0 / NS_PER_HOUR;
    m->cap = ks_dec_to_double(cfg->funding_cap);
    m->interest = ks_dec_to_double(cfg->interest_8h);
    int64_t step = cfg->step_ns > 0 ? cfg->step_ns : 1000000000LL;
    int64_t cap = cfg->oracle_lag_ns > 0 ? 2 * (cfg->oracle_lag_ns / step) + 8 : 1;
    m->ring_cap = (uint32_t)(cap > (1 << 20) ? (1 << 20) : cap);
    m->ring = calloc((size_t)n * m->ring_cap, sizeof(*m->ring));
    m->b = calloc(n, sizeof(*m->b));
    if (!m->ring || !m->b)
        goto fail_nomem;
    for (uint32_t i = 0; i < n; i++) {
        mk_base_t *b = &m->b[i];
        uint64_t sm = cfg->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1));
        b->p = params[i];
        for (int k = 0; k < 4; k++)
            b->s[k] = splitmix64(&sm);
        b->tick_d = ks_dec_to_double(params[i].tick);
        b->lot_d = ks_dec_to_double(params[i].lot);
        b->spot = params[i].price;
        b->prem = params[i].premium_mean;
        b->ring_base = (int64_t)i * m->ring_cap;
        /* A market that existed before t0: every past hour traded volume_usd / 24. */
        for (int h = 0; h < VOL_BUCKETS; h++) {
            b->perp_vol[h] = params[i].volume_usd / 24.0;
            b->spot_vol[h] = 0.4 * params[i].volume_usd / 24.0;
        }
        b->perp_vol[m->hour % VOL_BUCKETS] = 0;
        b->spot_vol[m->hour % VOL_BUCKETS] = 0;
        fill_out(m, b, t0);
    }
    return m;

fail_nomem:
    snprintf(err, err_len, "out of memory");
    ks_sim_market_free(m);
    return NULL;
}

void ks_sim_market_free(ks_sim_market_t *m)
{
    if (!m)
        return;
    free(m->ring);
    free(m->b);
    free(m);
}

void ks_sim_market_step(ks_sim_market_t *m, int64_t ts)
{
    if (ts <= m->ts) {
        for (uint32_t i = 0; i < m->n; i++) {
            m->b[i].out.n_spot_trades = m->b[i].out.n_perp_trades = m->b[i].out.n_liqs = 0;
            m->b[i].out.settled = false;
        }
        return;
    }
    double dt_s = (double)(ts - m->ts) / NS_PER_S;
    int64_t prev = m->ts;
    int64_t hour = ts / NS_PER_HOUR;
    /* Entering new hours: the buckets they reuse start empty. */
    for (int64_t h = m->hour + 1; h <= hour && h <= m->hour + VOL_BUCKETS; h++)
        for (uint32_t i = 0; i < m->n; i++)
            m->b[i].perp_vol[h % VOL_BUCKETS] = m->b[i].spot_vol[h % VOL_BUCKETS] = 0;
    m->hour = hour;
    m->ts = ts;
    for (uint32_t i = 0; i < m->n; i++)
        step_base(m, &m->b[i], dt_s, prev, ts);
}

const ks_sim_market_out_t *ks_sim_market_out(const ks_sim_market_t *m, uint32_t i)
{
    return i < m->n ? &m->b[i].out : NULL;
}

uint32_t ks_sim_market_count(const ks_sim_market_t *m)
{
    return m->n;
}
