/* sim_config: reads the sim venue config with kestrel/json.h, fills defaults, and reports the
 * first problem as "<key path>: <what was expected>". Unknown keys are errors, so a typo
 * never silently falls back to a default. */
#include "sim_config.h"

#include "sim_time.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built-in market profiles for common bases. Prices are typical levels, not live data. */
typedef struct sym_profile {
    const char *base, *price, *tick, *lot;
    double vol, premium_mean, premium_vol, depth_usd, trades_per_s, trade_usd, oi_usd, volume_usd,
        liq_impact;
} sym_profile_t;

static const sym_profile_t profiles[] = {
    {"BTC", "65000", "0.1", "0.001", 0.55, 0.00003, 0.00012, 150000, 4.0, 4000, 5e9, 1.5e10, 0.004},
    {"ETH", "3500", "0.01", "0.01", 0.70, 0.00006, 0.00015, 100000, 3.0, 3000, 3e9, 8e9, 0.005},
    {"SOL", "150", "0.01", "0.1", 0.90, 0.00015, 0.00025, 50000, 2.5, 1500, 1.5e9, 3e9, 0.007},
    {"BNB", "600", "0.01", "0.01", 0.60, 0.00005, 0.00015, 40000, 1.5, 1200, 6e8, 8e8, 0.006},
    {"XRP", "0.6", "0.0001", "1", 0.85, 0.00010, 0.00025, 40000, 2.0, 1000, 8e8, 1.5e9, 0.007},
    {"DOGE", "0.15", "0.00001", "1", 1.00, 0.00020, 0.00030, 30000, 2.0, 800, 6e8, 1.2e9, 0.008},
    {"ADA", "0.45", "0.0001", "1", 0.85, 0.00008, 0.00025, 20000, 1.2, 600, 3e8, 4e8, 0.008},
    {"AVAX", "35", "0.001", "0.1", 0.95, 0.00012, 0.00030, 20000, 1.5, 700, 3e8, 4e8, 0.008},
    {"LINK", "15", "0.001", "0.1", 0.90, 0.00010, 0.00025, 20000, 1.2, 600, 3e8, 4e8, 0.008},
    {"LTC", "80", "0.01", "0.01", 0.75, 0.00005, 0.00020, 20000, 1.0, 600, 3e8, 3e8, 0.007},
    {"DOT", "7", "0.001", "0.1", 0.85, 0.00010, 0.00025, 15000, 1.0, 500, 2e8, 2e8, 0.008},
    {"SUI", "1.5", "0.0001", "1", 1.10, 0.00020, 0.00035, 15000, 1.5, 500, 4e8, 6e8, 0.010},
    {"PEPE", "0.00001", "0.00000001", "1000", 1.30, 0.00025, 0.00040, 15000, 1.5, 500, 3e8, 6e8,
     0.012},
};

/* The generic profile of a base not in the table. */
static const sym_profile_t generic = {"",    "10", "0.001", "0.1", 1.10, 0.00015, 0.00030,
                                      10000, 1.0,  400,     5e7,   1e8,  0.010};

static ks_dec_t dec(const char *s)
{
    ks_dec_t d = KS_DEC_ZERO;
    ks_dec_parse(s, (size_t)-1, &d);
    return d;
}

static void apply_profile(const ks_sim_config_t *cfg, const sym_profile_t *p,
                          ks_sim_symbol_cfg_t *s)
{
    s->price = dec(p->price);
    s->tick = dec(p->tick);
    s->lot = dec(p->lot);
    s->min_qty = s->lot;
    s->min_notional = KS_DEC(5, 0);
    s->vol = p->vol;
    s->jumps_per_day = 3;
    s->jump_size = 0.005;
    s->premium_mean = p->premium_mean;
    s->premium_vol = p->premium_vol;
    s->premium_half_life_h = 2;
    s->liq_bursts_per_day = 8;
    s->liq_impact = p->liq_impact;
    s->liq_usd = p->oi_usd * 0.0005;
    s->trades_per_s = p->trades_per_s;
    s->trade_usd = p->trade_usd;
    s->depth_usd = p->depth_usd;
    s->oi_usd = p->oi_usd;
    s->volume_usd = p->volume_usd;
    s->spread_ticks = 1;
    s->max_leverage = cfg->max_leverage;
    s->funding_interval_h = cfg->funding_interval_h;
}

void ks_sim_config_symbol_defaults(const ks_sim_config_t *cfg, const char *base,
                                   ks_sim_symbol_cfg_t *out)
{
    const sym_profile_t *p = &generic;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (strcmp(profiles[i].base, base) == 0)
            p = &profiles[i];
    apply_profile(cfg, p, out);
    ks_strlcpy(out->base, base, sizeof(out->base));
}

static void defaults(ks_sim_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 42;
    ks_strlcpy(cfg->quote, "USDT", sizeof(cfg->quote));
    cfg->tick_ms = 1000;
    cfg->funding_interval_h = 8;
    cfg->funding_cap = KS_DEC(75, 4);
    cfg->interest_rate = KS_DEC(1, 4);
    cfg->maker_fee = KS_DEC(2, 4);
    cfg->taker_fee = KS_DEC(55, 5);
    cfg->maint_margin_rate = KS_DEC(5, 3);
    cfg->latency_ms = 0;
    cfg->book_levels = 20;
    cfg->leverage = 10;
    cfg->max_leverage = 50;
    cfg->oracle_lag_ms = 3000;
    cfg->replay.spread_bps = KS_DEC(2, 0);
    cfg->replay.depth_usd = KS_DEC(100000, 0);
    cfg->replay.min_notional = KS_DEC(5, 0);
}

/* ---- typed readers --------------------------------------------------------------- */

typedef struct reader {
    char *err;
    size_t err_len;
} reader_t;

static int bad(reader_t *r, const char *path, const char *fmt, ...) KS_PRINTF(3, 4);
static int bad(reader_t *r, const char *path, const char *fmt, ...)
{
    char what[KS_REASON_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(r->err, r->err_len, "%s: %s", path, what);
    return KS_EINVAL;
}

static int read_dec(reader_t *r, const ks_json_t *v, const char *path, ks_dec_t *out)
{
    if (!v || (v->type != KS_JSON_STRING && v->type != KS_JSON_NUMBER) ||
        ks_dec_parse(v->text, v->len, out) != KS_OK)
        return bad(r, path, "expected a decimal string");
    *out = ks_dec_normalize(*out);
    return KS_OK;
}

/* A decimal in [lo, hi] with at most max_scale fraction digits. */
static int read_dec_range(reader_t *r, const ks_json_t *v, const char *path, const char *lo,
                          const char *hi, int max_scale, ks_dec_t *out)
{
    int rc = read_dec(r, v, path, out);
    if (rc != KS_OK)
        return rc;
    if (ks_dec_cmp(*out, dec(lo)) < 0 || ks_dec_cmp(*out, dec(hi)) > 0)
        return bad(r, path, "expected a decimal in [%s, %s]", lo, hi);
    if (out->scale > max_scale)
        return bad(r, path, "at most %d decimal places", max_scale);
    return KS_OK;
}

static int read_int(reader_t *r, const ks_json_t *v, const char *path, int64_t lo, int64_t hi,
                    int32_t *out)
{
    char *end;
    if (!v || v->type != KS_JSON_NUMBER || strpbrk(v->text, ".eE"))
        return bad(r, path, "expected an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    errno = 0;
    long long x = strtoll(v->text, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return bad(r, path, "expected an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    *out = (int32_t)x;
    return KS_OK;
}

static int read_num(reader_t *r, const ks_json_t *v, const char *path, double lo, double hi,
                    double *out)
{
    char *end;
    if (!v || (v->type != KS_JSON_NUMBER && v->type != KS_JSON_STRING) || !v->len)
        return bad(r, path, "expected a number in [%g, %g]", lo, hi);
    errno = 0;
    double x = strtod(v->text, &end);
    if (errno || *end || !isfinite(x) || x < lo || x > hi)
        return bad(r, path, "expected a number in [%g, %g]", lo, hi);
    *out = x;
    return KS_OK;
}

/* An asset or base name: 1..15 of [A-Z0-9]. */
static int read_asset(reader_t *r, const ks_json_t *v, const char *path, char *out)
{
    if (!v || v->type != KS_JSON_STRING || v->len < 1 || v->len >= KS_ASSET_LEN)
        return bad(r, path, "expected an asset name of 1 to %d characters", KS_ASSET_LEN - 1);
    for (size_t i = 0; i < v->len; i++) {
        char ch = v->text[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            return bad(r, path, "expected upper-case letters and digits, got \"%s\"", v->text);
    }
    memcpy(out, v->text, v->len + 1);
    return KS_OK;
}

static int check_keys(reader_t *r, const ks_json_t *obj, const char *path,
                      const char *const *allowed)
{
    for (const ks_json_t *m = obj->child; m; m = m->next) {
        bool ok = false;
        for (const char *const *k = allowed; *k && !ok; k++)
            ok = strcmp(*k, m->key) == 0;
        if (!ok) {
            char p[160];
            snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", m->key);
            return bad(r, p, "unknown key");
        }
    }
    return KS_OK;
}

/* ---- sections -------------------------------------------------------------------- */

static int read_balances(reader_t *r, const ks_json_t *v, ks_sim_config_t *cfg)
{
    static const char *const keys[] = {"spot", "futures", NULL};
    int rc;
    if (v->type != KS_JSON_OBJECT)
        return bad(r, "balances", "expected an object {\"spot\": {...}, \"futures\": {...}}");
    if ((rc = check_keys(r, v, "balances", keys)) != KS_OK)
        return rc;
    cfg->n_spot = cfg->n_futures = 0;
    for (int w = 0; w < 2; w++) {
        const char *wname = w == 0 ? "spot" : "futures";
        const ks_json_t *obj = ks_json_get(v, wname);
        char path[128];
        if (!obj)
            continue;
        snprintf(path, sizeof(path), "balances.%s", wname);
        if (obj->type != KS_JSON_OBJECT)
            return bad(r, path, "expected an object of asset: amount");
        for (const ks_json_t *m = obj->child; m; m = m->next) {
            ks_sim_balance_cfg_t *b =
                w == 0 ? &cfg->spot[cfg->n_spot] : &cfg->futures[cfg->n_futures];
            uint32_t *n = w == 0 ? &cfg->n_spot : &cfg->n_futures;
            char kp[200];
            snprintf(kp, sizeof(kp), "%s.%s", path, m->key);
            if (*n >= KS_SIM_MAX_ASSETS)
                return bad(r, kp, "too many assets (at most %d)", KS_SIM_MAX_ASSETS);
            ks_json_t name = *m;
            name.type = KS_JSON_STRING;
            name.text = m->key;
            name.len = strlen(m->key);
            if ((rc = read_asset(r, &name, kp, b->asset)) != KS_OK)
                return rc;
            if ((rc = read_dec_range(r, m, kp, "0", "10000000000", KS_SIM_ACCT_SCALE,
                                     &b->amount)) != KS_OK)
                return rc;
            (*n)++;
        }
    }
    return KS_OK;
}

/* A time: RFC 3339 / ISO 8601 text ("2026-01-12T00:00:00Z", "2026-01-12") or integer
 * milliseconds since the epoch. */
static int read_time(reader_t *r, const ks_json_t *v, const char *path, int64_t *out)
{
    if (v && v->type == KS_JSON_STRING && ks_sim_iso_to_ns(v->text, v->len, out))
        return KS_OK;
    if (v && v->type == KS_JSON_NUMBER && ks_sim_ms_to_ns(v->text, v->len, out))
        return KS_OK;
    return bad(r, path, "expected a time like \"2026-01-12T00:00:00Z\" or epoch milliseconds");
}

static int read_replay(reader_t *r, const ks_json_t *v, ks_sim_config_t *cfg)
{
    static const char *const keys[] = {
        "paths",   "synthetic_spot", "oracle_from_index", "start",        "end",
        "symbols", "spread_bps",     "depth_usd",         "min_notional", NULL};
    ks_sim_replay_cfg_t *rp = &cfg->replay;
    const ks_json_t *x;
    char kp[128];
    int rc;
    if (v->type != KS_JSON_OBJECT)
        return bad(r, "replay", "expected an object {\"paths\": [...], ...}");
    if ((rc = check_keys(r, v, "replay", keys)) != KS_OK)
        return rc;
    if ((x = ks_json_get(v, "paths"))) {
        if (x->type != KS_JSON_ARRAY || x->count > KS_SIM_MAX_REPLAY_PATHS)
            return bad(r, "replay.paths", "expected an array of at most %d paths",
                       KS_SIM_MAX_REPLAY_PATHS);
        uint32_t i = 0;
        for (const ks_json_t *p = x->child; p; p = p->next, i++) {
            snprintf(kp, sizeof(kp), "replay.paths[%u]", i);
            if (p->type != KS_JSON_STRING || !p->len || p->len >= KS_SIM_PATH_LEN)
                return bad(r, kp, "expected a file or directory path");
            memcpy(rp->paths[i], p->text, p->len + 1);
        }
        rp->n_paths = i;
    }
    if ((x = ks_json_get(v, "synthetic_spot"))) {
        if (x->type != KS_JSON_BOOL)
            return bad(r, "replay.synthetic_spot", "expected true or false");
        rp->synthetic_spot = x->boolean;
    }
    if ((x = ks_json_get(v, "oracle_from_index"))) {
        if (x->type != KS_JSON_BOOL)
            return bad(r, "replay.oracle_from_index", "expected true or false");
        rp->oracle_from_index = x->boolean;
    }
    if ((x = ks_json_get(v, "start")) &&
        (rc = read_time(r, x, "replay.start", &rp->start_ns)) != KS_OK)
        return rc;
    if ((x = ks_json_get(v, "end")) && (rc = read_time(r, x, "replay.end", &rp->end_ns)) != KS_OK)
        return rc;
    if (rp->start_ns && rp->end_ns && rp->end_ns <= rp->start_ns)
        return bad(r, "replay.end", "must be after replay.start");
    if ((x = ks_json_get(v, "symbols"))) {
        if (x->type != KS_JSON_ARRAY || x->count > KS_SIM_MAX_REPLAY_SYMBOLS)
            return bad(r, "replay.symbols", "expected an array of at most %d names",
                       KS_SIM_MAX_REPLAY_SYMBOLS);
        uint32_t i = 0;
        for (const ks_json_t *p = x->child; p; p = p->next, i++) {
            snprintf(kp, sizeof(kp), "replay.symbols[%u]", i);
            if (p->type != KS_JSON_STRING || !p->len || p->len >= KS_SYMBOL_LEN)
                return bad(r, kp,
                           "expected a base (BTC), venue symbol (BTCUSDT) or unified "
                           "symbol (BTC/USDT:USDT)");
            memcpy(rp->symbols[i], p->text, p->len + 1);
        }
        rp->n_symbols = i;
    }
    if ((x = ks_json_get(v, "spread_bps")) &&
        (rc = read_dec_range(r, x, "replay.spread_bps", "0", "1000", 4, &rp->spread_bps)))
        return rc;
    if ((x = ks_json_get(v, "depth_usd")) &&
        (rc = read_dec_range(r, x, "replay.depth_usd", "0.01", "1000000000000", 8, &rp->depth_usd)))
        return rc;
    if ((x = ks_json_get(v, "min_notional")) &&
        (rc = read_dec_range(r, x, "replay.min_notional", "0", "1000000", 8, &rp->min_notional)))
        return rc;
    return KS_OK;
}

/* One fault's object: {"p": probability, ...}; `keys` lists what it accepts. */
static int fault_obj(reader_t *r, const ks_json_t *v, const char *name, const char *const *keys)
{
    char path[64];
    snprintf(path, sizeof(path), "faults.%s", name);
    if (v->type != KS_JSON_OBJECT)
        return bad(r, path, "expected an object");
    return check_keys(r, v, path, keys);
}

static int fault_num(reader_t *r, const ks_json_t *obj, const char *name, const char *key,
                     double lo, double hi, double *out)
{
    const ks_json_t *x = ks_json_get(obj, key);
    char path[96];
    snprintf(path, sizeof(path), "faults.%s.%s", name, key);
    return x ? read_num(r, x, path, lo, hi, out) : KS_OK;
}

static int fault_int(reader_t *r, const ks_json_t *obj, const char *name, const char *key,
                     int64_t lo, int64_t hi, int32_t *out)
{
    const ks_json_t *x = ks_json_get(obj, key);
    char path[96];
    snprintf(path, sizeof(path), "faults.%s.%s", name, key);
    return x ? read_int(r, x, path, lo, hi, out) : KS_OK;
}

static int read_faults(reader_t *r, const ks_json_t *v, ks_sim_config_t *cfg)
{
    static const char *const keys[] = {"reject",  "delay",      "lose_ack",   "lose_fill",
                                       "partial", "rate_limit", "disconnect", NULL};
    static const char *const k_reject[] = {"p", "symbols", "kind", NULL};
    static const char *const k_delay[] = {"p", "min_ms", "max_ms", NULL};
    static const char *const k_p[] = {"p", NULL};
    static const char *const k_partial[] = {"p", "min", "max", NULL};
    static const char *const k_rl[] = {"every_s", "for_ms", "retry_after_ms", NULL};
    static const char *const k_dc[] = {"every_s", "for_ms", NULL};
    ks_sim_faults_cfg_t *f = &cfg->faults;
    const ks_json_t *o, *x;
    int rc;
    if (v->type != KS_JSON_OBJECT)
        return bad(r, "faults", "expected an object of fault kinds");
    if ((rc = check_keys(r, v, "faults", keys)) != KS_OK)
        return rc;
    if ((o = ks_json_get(v, "reject"))) {
        if ((rc = fault_obj(r, o, "reject", k_reject)) ||
            (rc = fault_num(r, o, "reject", "p", 0, 1, &f->reject_p)))
            return rc;
        if ((x = ks_json_get(o, "kind"))) {
            if (x->type == KS_JSON_STRING && strcmp(x->text, "spot") == 0)
                f->reject_kind = KS_KIND_SPOT;
            else if (x->type == KS_JSON_STRING && strcmp(x->text, "perp") == 0)
                f->reject_kind = KS_KIND_PERP;
            else
                return bad(r, "faults.reject.kind", "expected \"spot\" or \"perp\"");
        }
        if ((x = ks_json_get(o, "symbols"))) {
            if (x->type != KS_JSON_ARRAY || x->count > KS_SIM_MAX_FAULT_SYMBOLS)
                return bad(r, "faults.reject.symbols", "expected an array of at most %d names",
                           KS_SIM_MAX_FAULT_SYMBOLS);
            uint32_t i = 0;
            for (const ks_json_t *p = x->child; p; p = p->next, i++) {
                if (p->type != KS_JSON_STRING || !p->len || p->len >= KS_SYMBOL_LEN) {
                    char kp[64];
                    snprintf(kp, sizeof(kp), "faults.reject.symbols[%u]", i);
                    return bad(r, kp, "expected a base (BTC) or a symbol (BTC/USDT:USDT)");
                }
                memcpy(f->reject_symbols[i], p->text, p->len + 1);
            }
            f->n_reject_symbols = i;
        }
    }
    if ((o = ks_json_get(v, "delay"))) {
        f->delay_max_ms = 3000;
        if ((rc = fault_obj(r, o, "delay", k_delay)) ||
            (rc = fault_num(r, o, "delay", "p", 0, 1, &f->delay_p)) ||
            (rc = fault_int(r, o, "delay", "min_ms", 0, 600000, &f->delay_min_ms)) ||
            (rc = fault_int(r, o, "delay", "max_ms", 0, 600000, &f->delay_max_ms)))
            return rc;
        if (f->delay_max_ms < f->delay_min_ms)
            return bad(r, "faults.delay.max_ms", "must be at least min_ms");
    }
    if ((o = ks_json_get(v, "lose_ack")) &&
        ((rc = fault_obj(r, o, "lose_ack", k_p)) ||
         (rc = fault_num(r, o, "lose_ack", "p", 0, 1, &f->lose_ack_p))))
        return rc;
    if ((o = ks_json_get(v, "lose_fill")) &&
        ((rc = fault_obj(r, o, "lose_fill", k_p)) ||
         (rc = fault_num(r, o, "lose_fill", "p", 0, 1, &f->lose_fill_p))))
        return rc;
    if ((o = ks_json_get(v, "partial"))) {
        f->partial_min = 0.1;
        f->partial_max = 0.9;
        if ((rc = fault_obj(r, o, "partial", k_partial)) ||
            (rc = fault_num(r, o, "partial", "p", 0, 1, &f->partial_p)) ||
            (rc = fault_num(r, o, "partial", "min", 0, 1, &f->partial_min)) ||
            (rc = fault_num(r, o, "partial", "max", 0, 1, &f->partial_max)))
            return rc;
        if (f->partial_max < f->partial_min)
            return bad(r, "faults.partial.max", "must be at least min");
    }
    if ((o = ks_json_get(v, "rate_limit"))) {
        f->ratelimit_every_s = 600;
        f->ratelimit_ms = 2000;
        if ((rc = fault_obj(r, o, "rate_limit", k_rl)) ||
            (rc = fault_int(r, o, "rate_limit", "every_s", 1, 86400 * 30, &f->ratelimit_every_s)) ||
            (rc = fault_int(r, o, "rate_limit", "for_ms", 1, 3600000, &f->ratelimit_ms)) ||
            (rc = fault_int(r, o, "rate_limit", "retry_after_ms", 0, 3600000,
                            &f->ratelimit_retry_after_ms)))
            return rc;
    }
    if ((o = ks_json_get(v, "disconnect"))) {
        f->disconnect_every_s = 3600;
        f->disconnect_ms = 5000;
        if ((rc = fault_obj(r, o, "disconnect", k_dc)) ||
            (rc =
                 fault_int(r, o, "disconnect", "every_s", 1, 86400 * 30, &f->disconnect_every_s)) ||
            (rc = fault_int(r, o, "disconnect", "for_ms", 1, 3600000, &f->disconnect_ms)))
            return rc;
    }
    f->any = f->reject_p > 0 || f->delay_p > 0 || f->lose_ack_p > 0 || f->lose_fill_p > 0 ||
             f->partial_p > 0 || f->ratelimit_ms > 0 || f->disconnect_ms > 0;
    return KS_OK;
}

static int read_symbol(reader_t *r, const ks_json_t *v, uint32_t i, ks_sim_config_t *cfg,
                       ks_sim_symbol_cfg_t *s)
{
    static const char *const keys[] = {"base",
                                       "price",
                                       "tick",
                                       "lot",
                                       "min_qty",
                                       "min_notional",
                                       "vol",
                                       "jumps_per_day",
                                       "jump_size",
                                       "premium_mean",
                                       "premium_vol",
                                       "premium_half_life_h",
                                       "liq_bursts_per_day",
                                       "liq_impact",
                                       "liq_usd",
                                       "trades_per_s",
                                       "trade_usd",
                                       "depth_usd",
                                       "oi_usd",
                                       "volume_usd",
                                       "spread_ticks",
                                       "max_leverage",
                                       "funding_interval_h",
                                       NULL};
    char path[64], kp[128];
    int rc;
    snprintf(path, sizeof(path), "symbols[%u]", i);

    if (v->type == KS_JSON_STRING) {
        char base[KS_ASSET_LEN];
        if ((rc = read_asset(r, v, path, base)) != KS_OK)
            return rc;
        ks_sim_config_symbol_defaults(cfg, base, s);
        return KS_OK;
    }
    if (v->type != KS_JSON_OBJECT)
        return bad(r, path, "expected a base name or an object with \"base\"");
    if ((rc = check_keys(r, v, path, keys)) != KS_OK)
        return rc;
    const ks_json_t *b = ks_json_get(v, "base");
    char base[KS_ASSET_LEN];
    snprintf(kp, sizeof(kp), "%s.base", path);
    if (!b)
        return bad(r, kp, "required");
    if ((rc = read_asset(r, b, kp, base)) != KS_OK)
        return rc;
    ks_sim_config_symbol_defaults(cfg, base, s);

    bool known = false;
    for (size_t k = 0; k < sizeof(profiles) / sizeof(profiles[0]); k++)
        known |= strcmp(profiles[k].base, base) == 0;

#define KEY(name) (snprintf(kp, sizeof(kp), "%s.%s", path, name), ks_json_get(v, name))
    const ks_json_t *x;
    if ((x = KEY("price")) &&
        (rc = read_dec_range(r, x, kp, "0.00000001", "100000000", 8, &s->price)) != KS_OK)
        return rc;
    if (x && !known) {
        /* An unknown base priced by the user: a tick of about 1 bp of the price and a lot
         * worth roughly 0.1 to 1 quote unit. */
        ks_dec_t p = s->price;
        int nd = 0;
        for (int64_t m = p.mant; m; m /= 10)
            nd++;
        int e = nd - 1 - p.scale; /* floor(log10(price)) */
        int te = e - 4;
        int64_t mm = p.mant;
        while (mm % 10 == 0)
            mm /= 10;
        bool pow10 = mm == 1; /* log10(price) is an integer */
        int le = -(e + (pow10 ? 0 : 1));
        if (le > 6)
            le = 6;
        int lot_scale = le < 0 ? -le : 0;
        if (te < -(KS_SIM_ACCT_SCALE - lot_scale))
            te = -(KS_SIM_ACCT_SCALE - lot_scale);
        s->tick = te < 0 ? KS_DEC(1, -te) : KS_DEC((int64_t)pow(10, te), 0);
        s->lot = le < 0 ? KS_DEC(1, -le) : KS_DEC((int64_t)pow(10, le), 0);
        s->min_qty = s->lot;
    }
    if ((x = KEY("tick")) && (rc = read_dec_range(r, x, kp, "0.00000001", "10000", 8, &s->tick)))
        return rc;
    if ((x = KEY("lot")) && (rc = read_dec_range(r, x, kp, "0.00000001", "1000000", 8, &s->lot)))
        return rc;
    if (KEY("lot") && !KEY("min_qty"))
        s->min_qty = s->lot;
    if ((x = KEY("min_qty")) && (rc = read_dec_range(r, x, kp, "0", "1000000000", 8, &s->min_qty)))
        return rc;
    if ((x = KEY("min_notional")) &&
        (rc = read_dec_range(r, x, kp, "0", "1000000", 8, &s->min_notional)))
        return rc;
    if ((x = KEY("vol")) && (rc = read_num(r, x, kp, 0, 10, &s->vol)))
        return rc;
    if ((x = KEY("jumps_per_day")) && (rc = read_num(r, x, kp, 0, 1000, &s->jumps_per_day)))
        return rc;
    if ((x = KEY("jump_size")) && (rc = read_num(r, x, kp, 0, 0.5, &s->jump_size)))
        return rc;
    if ((x = KEY("premium_mean")) && (rc = read_num(r, x, kp, -0.05, 0.05, &s->premium_mean)))
        return rc;
    if ((x = KEY("premium_vol")) && (rc = read_num(r, x, kp, 0, 0.05, &s->premium_vol)))
        return rc;
    if ((x = KEY("premium_half_life_h")) &&
        (rc = read_num(r, x, kp, 0.01, 1000, &s->premium_half_life_h)))
        return rc;
    if ((x = KEY("liq_bursts_per_day")) &&
        (rc = read_num(r, x, kp, 0, 10000, &s->liq_bursts_per_day)))
        return rc;
    if ((x = KEY("liq_impact")) && (rc = read_num(r, x, kp, 0, 0.2, &s->liq_impact)))
        return rc;
    if ((x = KEY("liq_usd")) && (rc = read_num(r, x, kp, 0, 1e12, &s->liq_usd)))
        return rc;
    if ((x = KEY("trades_per_s")) && (rc = read_num(r, x, kp, 0, 100, &s->trades_per_s)))
        return rc;
    if ((x = KEY("trade_usd")) && (rc = read_num(r, x, kp, 0.01, 1e9, &s->trade_usd)))
        return rc;
    if ((x = KEY("depth_usd")) && (rc = read_num(r, x, kp, 0.01, 1e12, &s->depth_usd)))
        return rc;
    if ((x = KEY("oi_usd")) && (rc = read_num(r, x, kp, 0, 1e13, &s->oi_usd)))
        return rc;
    if ((x = KEY("volume_usd")) && (rc = read_num(r, x, kp, 0, 1e13, &s->volume_usd)))
        return rc;
    if ((x = KEY("spread_ticks")) && (rc = read_int(r, x, kp, 1, 1000, &s->spread_ticks)))
        return rc;
    if ((x = KEY("max_leverage")) && (rc = read_int(r, x, kp, 1, 200, &s->max_leverage)))
        return rc;
    if ((x = KEY("funding_interval_h")) && (rc = read_int(r, x, kp, 1, 24, &s->funding_interval_h)))
        return rc;
#undef KEY
    if (24 % s->funding_interval_h != 0) {
        snprintf(kp, sizeof(kp), "%s.funding_interval_h", path);
        return bad(r, kp, "must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)");
    }
    if (s->tick.scale + s->lot.scale > KS_SIM_ACCT_SCALE) {
        snprintf(kp, sizeof(kp), "%s.tick", path);
        return bad(r, kp, "tick and lot together may have at most %d decimal places",
                   KS_SIM_ACCT_SCALE);
    }
    if (!ks_dec_is_multiple(s->min_qty, s->lot)) {
        snprintf(kp, sizeof(kp), "%s.min_qty", path);
        return bad(r, kp, "must be a multiple of the lot size");
    }
    ks_dec_t ticks;
    if (ks_dec_div(s->price, s->tick, 0, KS_ROUND_FLOOR, &ticks) != KS_OK ||
        ks_dec_cmp(ticks, KS_DEC(100, 0)) < 0) {
        snprintf(kp, sizeof(kp), "%s.price", path);
        return bad(r, kp, "must be at least 100 ticks");
    }
    if (s->max_leverage < cfg->leverage) {
        snprintf(kp, sizeof(kp), "%s.max_leverage", path);
        return bad(r, kp, "below the default leverage %d", cfg->leverage);
    }
    return KS_OK;
}

int ks_sim_config_parse(const char *json, ks_sim_config_t *cfg, char *err, size_t err_len)
{
    static const char *const keys[] = {"seed",
                                       "quote",
                                       "tick_ms",
                                       "funding_interval_h",
                                       "funding_cap",
                                       "interest_rate",
                                       "maker_fee",
                                       "taker_fee",
                                       "maint_margin_rate",
                                       "latency_ms",
                                       "book_levels",
                                       "leverage",
                                       "max_leverage",
                                       "oracle_lag_ms",
                                       "balances",
                                       "symbols",
                                       "replay",
                                       "latency_jitter_ms",
                                       "faults",
                                       "audit_file",
                                       NULL};
    ks_json_doc_t doc = KS_JSON_DOC_INIT;
    reader_t r = {err, err_len};
    const ks_json_t *root, *x;
    char jerr[KS_REASON_LEN];
    int rc = KS_OK;

    defaults(cfg);
    bool blank = true;
    for (const char *p = json; p && *p && blank; p++)
        blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
    if (!blank) {
        if ((rc = ks_json_parse(json, (size_t)-1, &doc, jerr, sizeof(jerr))) != KS_OK) {
            snprintf(err, err_len, "config: %s", jerr);
            goto done;
        }
        root = doc.root;
        if (root->type == KS_JSON_NULL)
            root = NULL;
        else if (root->type != KS_JSON_OBJECT) {
            rc = bad(&r, "config", "expected an object, got %s", ks_json_type_name(root->type));
            goto done;
        }
    } else {
        root = NULL;
    }
    if (root && (rc = check_keys(&r, root, "", keys)) != KS_OK)
        goto done;

#define GET(name) ks_json_get(root, name)
    if ((x = GET("seed"))) {
        char *end;
        errno = 0;
        unsigned long long s =
            x->type == KS_JSON_NUMBER && x->text[0] != '-' ? strtoull(x->text, &end, 10) : 0;
        if (x->type != KS_JSON_NUMBER || x->text[0] == '-' || errno || *end) {
            rc = bad(&r, "seed", "expected an integer in [0, 18446744073709551615]");
            goto done;
        }
        cfg->seed = (uint64_t)s;
    }
    if ((x = GET("quote")) && (rc = read_asset(&r, x, "quote", cfg->quote)) != KS_OK)
        goto done;
    cfg->quote_set = x != NULL;
    if ((x = GET("tick_ms")) && (rc = read_int(&r, x, "tick_ms", 1, 3600000, &cfg->tick_ms)))
        goto done;
    if ((x = GET("funding_interval_h")) &&
        (rc = read_int(&r, x, "funding_interval_h", 1, 24, &cfg->funding_interval_h)))
        goto done;
    if (24 % cfg->funding_interval_h != 0) {
        rc = bad(&r, "funding_interval_h", "must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)");
        goto done;
    }
    if ((x = GET("funding_cap")) &&
        (rc = read_dec_range(&r, x, "funding_cap", "0", "0.1", 8, &cfg->funding_cap)))
        goto done;
    if ((x = GET("interest_rate")) &&
        (rc = read_dec_range(&r, x, "interest_rate", "-0.01", "0.01", 8, &cfg->interest_rate)))
        goto done;
    if ((x = GET("maker_fee")) &&
        (rc = read_dec_range(&r, x, "maker_fee", "-0.01", "0.1", 8, &cfg->maker_fee)))
        goto done;
    if ((x = GET("taker_fee")) &&
        (rc = read_dec_range(&r, x, "taker_fee", "0", "0.1", 8, &cfg->taker_fee)))
        goto done;
    if ((x = GET("maint_margin_rate")) && (rc = read_dec_range(&r, x, "maint_margin_rate", "0.0001",
                                                               "0.09", 8, &cfg->maint_margin_rate)))
        goto done;
    if ((x = GET("latency_ms")) && (rc = read_int(&r, x, "latency_ms", 0, 60000, &cfg->latency_ms)))
        goto done;
    if ((x = GET("latency_jitter_ms")) &&
        (rc = read_int(&r, x, "latency_jitter_ms", 0, 60000, &cfg->latency_jitter_ms)))
        goto done;
    if ((x = GET("replay")) && (rc = read_replay(&r, x, cfg)) != KS_OK)
        goto done;
    if ((x = GET("faults")) && (rc = read_faults(&r, x, cfg)) != KS_OK)
        goto done;
    if ((x = GET("audit_file"))) {
        if (x->type != KS_JSON_STRING || !x->len || x->len >= KS_SIM_PATH_LEN) {
            rc = bad(&r, "audit_file", "expected a file path");
            goto done;
        }
        memcpy(cfg->audit_file, x->text, x->len + 1);
    }
    if ((x = GET("book_levels")) &&
        (rc = read_int(&r, x, "book_levels", 1, KS_SIM_MAX_LEVELS, &cfg->book_levels)))
        goto done;
    if ((x = GET("max_leverage")) &&
        (rc = read_int(&r, x, "max_leverage", 1, 200, &cfg->max_leverage)))
        goto done;
    if ((x = GET("leverage")) &&
        (rc = read_int(&r, x, "leverage", 1, cfg->max_leverage, &cfg->leverage)))
        goto done;
    if ((x = GET("oracle_lag_ms")) &&
        (rc = read_int(&r, x, "oracle_lag_ms", 0, 3600000, &cfg->oracle_lag_ms)))
        goto done;

    /* Balances: absent means 100000 quote in each wallet; present replaces that. */
    ks_strlcpy(cfg->spot[0].asset, cfg->quote, sizeof(cfg->spot[0].asset));
    cfg->spot[0].amount = KS_DEC(100000, 0);
    ks_strlcpy(cfg->futures[0].asset, cfg->quote, sizeof(cfg->futures[0].asset));
    cfg->futures[0].amount = KS_DEC(100000, 0);
    cfg->n_spot = cfg->n_futures = 1;
    if ((x = GET("balances")) && (rc = read_balances(&r, x, cfg)) != KS_OK)
        goto done;
    cfg->balances_set = x != NULL;
    for (uint32_t i = 0; i < cfg->n_futures; i++) {
        if (strcmp(cfg->futures[i].asset, cfg->quote) != 0) {
            char p[96];
            snprintf(p, sizeof(p), "balances.futures.%s", cfg->futures[i].asset);
            rc = bad(&r, p, "the futures wallet holds only %s", cfg->quote);
            goto done;
        }
    }

    x = GET("symbols");
#undef GET
    if (!x) {
        static const char *const dflt[] = {"BTC", "ETH", "SOL"};
        for (uint32_t i = 0; i < 3; i++)
            ks_sim_config_symbol_defaults(cfg, dflt[i], &cfg->symbols[i]);
        cfg->n_symbols = 3;
    } else {
        if (x->type != KS_JSON_ARRAY || x->count == 0) {
            rc = bad(&r, "symbols", "expected a non-empty array");
            goto done;
        }
        if (x->count > KS_SIM_MAX_SYMBOLS) {
            rc = bad(&r, "symbols", "at most %d symbols", KS_SIM_MAX_SYMBOLS);
            goto done;
        }
        uint32_t i = 0;
        for (const ks_json_t *s = x->child; s; s = s->next, i++) {
            if ((rc = read_symbol(&r, s, i, cfg, &cfg->symbols[i])) != KS_OK)
                goto done;
            if (strcmp(cfg->symbols[i].base, cfg->quote) == 0) {
                char p[32];
                snprintf(p, sizeof(p), "symbols[%u]", i);
                rc = bad(&r, p, "base %s is the quote asset", cfg->quote);
                goto done;
            }
            for (uint32_t k = 0; k < i; k++) {
                if (strcmp(cfg->symbols[k].base, cfg->symbols[i].base) == 0) {
                    char p[32];
                    snprintf(p, sizeof(p), "symbols[%u]", i);
                    rc = bad(&r, p, "duplicate base %s", cfg->symbols[i].base);
                    goto done;
                }
            }
        }
        cfg->n_symbols = i;
    }
    if (ks_dec_cmp(cfg->maker_fee, cfg->taker_fee) > 0) {
        rc = bad(&r, "maker_fee", "must not exceed taker_fee");
        goto done;
    }
    rc = KS_OK;
done:
    ks_json_free(&doc);
    return rc;
}
