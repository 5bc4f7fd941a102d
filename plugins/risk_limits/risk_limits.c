/* risk_limits: per-strategy entry limits — order size bounds, a fat-finger band around the
 * mark, max open positions, notional caps per symbol and per strategy, and position size
 * as a share of equity — each overridable per strategy. Reduce-only intents always pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/kestrel.h>

#include "../common/risk_util.h"

typedef struct opt_dec {
    bool on;
    ks_dec_t v;
} opt_dec_t;

typedef struct limits {
    int64_t max_open_positions; /* -1: none */
    opt_dec_t max_position_pct; /* percent of strategy equity */
    ks_dec_t position_frac;     /* max_position_pct / 100, exact */
    opt_dec_t max_notional_per_symbol;
    opt_dec_t max_notional_per_strategy;
    int64_t fat_finger_bps; /* 0: off */
    opt_dec_t min_order_qty, max_order_qty;
    opt_dec_t min_order_notional, max_order_notional;
} limits_t;

typedef struct strat_limits {
    char name[KS_NAME_LEN];
    limits_t lim;
} strat_limits_t;

typedef struct risk_limits {
    const ks_host_api_t *api; /* borrowed; valid until close() */
    ks_host_t *host;
    limits_t defaults;
    strat_limits_t *per; /* per_strategy overrides, n_per entries */
    int n_per;
} risk_limits_t;

static const char *const LIMIT_KEYS[] = {
    "max_open_positions",      "max_position_pct",
    "max_notional_per_symbol", "max_notional_per_strategy",
    "fat_finger_bps",          "min_order_qty",
    "max_order_qty",           "min_order_notional",
    "max_order_notional",      NULL,
};

static const char *const TOP_KEYS[] = {
    "max_open_positions",
    "max_position_pct",
    "max_notional_per_symbol",
    "max_notional_per_strategy",
    "fat_finger_bps",
    "min_order_qty",
    "max_order_qty",
    "min_order_notional",
    "max_order_notional",
    "per_strategy",
    NULL,
};

/* Reads an optional positive decimal: absent keeps the inherited value, null turns the
 * limit off, anything else must be > 0. */
static int read_opt(const ks_json_t *obj, const char *path, const char *key, opt_dec_t *o,
                    char *err, size_t err_len)
{
    const ks_json_t *v = ks_json_get(obj, key);
    ks_dec_t d;
    char b[KS_DEC_STRLEN];
    int rc;
    if (!v)
        return KS_OK;
    if (v->type == KS_JSON_NULL) {
        o->on = false;
        return KS_OK;
    }
    if ((rc = ks_json_get_dec(obj, path, key, &d, err, err_len)) < 0)
        return rc;
    if (ks_dec_sign(d) <= 0) {
        snprintf(err, err_len, "%s%s: must be > 0, got %s", path, key, ks_risk_util_fmt(d, b));
        return KS_EINVAL;
    }
    o->on = true;
    o->v = d;
    return KS_OK;
}

static int read_int_or_null(const ks_json_t *obj, const char *path, const char *key, int64_t off,
                            int64_t max, int64_t *out, char *err, size_t err_len)
{
    const ks_json_t *v = ks_json_get(obj, key);
    if (v && v->type == KS_JSON_NULL) {
        *out = off;
        return KS_OK;
    }
    int rc = ks_json_get_int(obj, path, key, 0, max, out, err, err_len);
    return rc < 0 ? rc : KS_OK;
}

static int check_pair(const opt_dec_t *lo, const opt_dec_t *hi, const char *path,
                      const char *lo_key, const char *hi_key, char *err, size_t err_len)
{
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    if (lo->on && hi->on && ks_dec_cmp(lo->v, hi->v) > 0) {
        snprintf(err, err_len, "%s%s: %s is above %s %s", path, lo_key, ks_risk_util_fmt(lo->v, a),
                 hi_key, ks_risk_util_fmt(hi->v, b));
        return KS_EINVAL;
    }
    return KS_OK;
}

/* Reads the limit keys of one object on top of *lim (the defaults or the inherited). */
static int read_limits(const ks_json_t *obj, const char *path, limits_t *lim, char *err,
                       size_t err_len)
{
    int rc;
    if ((rc = read_int_or_null(obj, path, "max_open_positions", -1, 1000000,
                               &lim->max_open_positions, err, err_len)) != KS_OK ||
        (rc = read_opt(obj, path, "max_position_pct", &lim->max_position_pct, err, err_len)) !=
            KS_OK ||
        (rc = read_opt(obj, path, "max_notional_per_symbol", &lim->max_notional_per_symbol, err,
                       err_len)) != KS_OK ||
        (rc = read_opt(obj, path, "max_notional_per_strategy", &lim->max_notional_per_strategy, err,
                       err_len)) != KS_OK ||
        (rc = read_int_or_null(obj, path, "fat_finger_bps", 0, 100000, &lim->fat_finger_bps, err,
                               err_len)) != KS_OK ||
        (rc = read_opt(obj, path, "min_order_qty", &lim->min_order_qty, err, err_len)) != KS_OK ||
        (rc = read_opt(obj, path, "max_order_qty", &lim->max_order_qty, err, err_len)) != KS_OK ||
        (rc = read_opt(obj, path, "min_order_notional", &lim->min_order_notional, err, err_len)) !=
            KS_OK ||
        (rc = read_opt(obj, path, "max_order_notional", &lim->max_order_notional, err, err_len)) !=
            KS_OK)
        return rc;
    if (lim->max_position_pct.on) {
        ks_dec_t p = lim->max_position_pct.v;
        if (p.scale > KS_DEC_MAX_SCALE - 2) {
            snprintf(err, err_len, "%smax_position_pct: at most %d fraction digits", path,
                     KS_DEC_MAX_SCALE - 2);
            return KS_EINVAL;
        }
        lim->position_frac = KS_DEC(p.mant, p.scale + 2); /* exact pct / 100 */
    }
    if ((rc = check_pair(&lim->min_order_qty, &lim->max_order_qty, path, "min_order_qty",
                         "max_order_qty", err, err_len)) != KS_OK ||
        (rc = check_pair(&lim->min_order_notional, &lim->max_order_notional, path,
                         "min_order_notional", "max_order_notional", err, err_len)) != KS_OK)
        return rc;
    return KS_OK;
}

static void lim_close(void *self)
{
    risk_limits_t *rl = self;
    if (!rl)
        return;
    free(rl->per);
    free(rl);
}

static int lim_open(const ks_host_api_t *api, ks_host_t *host, const char *name,
                    const char *config_json, void **self, char *err, size_t err_len)
{
    ks_json_doc_t doc;
    const ks_json_t *root, *per = NULL;
    risk_limits_t *rl = calloc(1, sizeof(*rl));
    int rc;

    *self = NULL;
    if (!rl) {
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    rl->api = api;
    rl->host = host;
    rl->defaults.max_open_positions = 3;
    rl->defaults.max_position_pct = (opt_dec_t){true, KS_DEC(10, 0)};
    rl->defaults.fat_finger_bps = 500;

    if ((rc = ks_risk_util_config(config_json, &doc, &root, err, err_len)) != KS_OK)
        goto fail;
    if ((rc = ks_json_check_keys(root, "", TOP_KEYS, err, err_len)) != KS_OK ||
        (rc = read_limits(root, "", &rl->defaults, err, err_len)) != KS_OK ||
        (rc = ks_json_get_object(root, "", "per_strategy", &per, err, err_len)) < 0)
        goto fail;
    if (per && per->count) {
        rl->per = calloc(per->count, sizeof(*rl->per));
        if (!rl->per) {
            snprintf(err, err_len, "out of memory");
            rc = KS_ENOMEM;
            goto fail;
        }
        for (const ks_json_t *s = per->child; s; s = s->next) {
            char path[KS_NAME_LEN + 32];
            strat_limits_t *sl = &rl->per[rl->n_per];
            snprintf(path, sizeof(path), "per_strategy.%.*s.", KS_NAME_LEN, s->key);
            if (strlen(s->key) == 0 || strlen(s->key) >= KS_NAME_LEN) {
                snprintf(err, err_len, "per_strategy.%.*s: strategy name must be 1-%d characters",
                         KS_NAME_LEN, s->key, KS_NAME_LEN - 1);
                rc = KS_EINVAL;
                goto fail;
            }
            if (s->type != KS_JSON_OBJECT) {
                char q[64];
                snprintf(err, err_len, "per_strategy.%s: expected an object, got %s", s->key,
                         ks_json_quote(s, q, sizeof(q)));
                rc = KS_EINVAL;
                goto fail;
            }
            ks_strlcpy(sl->name, s->key, sizeof(sl->name));
            sl->lim = rl->defaults;
            if ((rc = ks_json_check_keys(s, path, LIMIT_KEYS, err, err_len)) != KS_OK ||
                (rc = read_limits(s, path, &sl->lim, err, err_len)) != KS_OK)
                goto fail;
            rl->n_per++;
        }
    }
    ks_json_free(&doc);
    api->log(host, KS_LOG_INFO,
             "risk_limits %s: max_open_positions %lld, max_position_pct %s, fat_finger_bps %lld, "
             "%d per-strategy override(s)",
             name, (long long)rl->defaults.max_open_positions,
             rl->defaults.max_position_pct.on ? "on" : "off",
             (long long)rl->defaults.fat_finger_bps, rl->n_per);
    *self = rl;
    return KS_OK;

fail:
    ks_json_free(&doc);
    lim_close(rl);
    return rc;
}

static const limits_t *limits_for(const risk_limits_t *rl, const char *strategy)
{
    for (int i = 0; strategy && i < rl->n_per; i++)
        if (strcmp(rl->per[i].name, strategy) == 0)
            return &rl->per[i].lim;
    return &rl->defaults;
}

/* Order size bounds in base and quote units. */
static bool check_size(const limits_t *c, const ks_order_intent_t *in, ks_risk_decision_t *out)
{
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    const ks_dec_t one = KS_DEC(1, 0);
    if (c->min_order_qty.on && ks_dec_cmp(in->qty, c->min_order_qty.v) < 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "order qty %s is below min_order_qty %s",
                            ks_risk_util_fmt(in->qty, a), ks_risk_util_fmt(c->min_order_qty.v, b));
        return false;
    }
    if (c->max_order_qty.on && ks_dec_cmp(in->qty, c->max_order_qty.v) > 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "order qty %s is above max_order_qty %s",
                            ks_risk_util_fmt(in->qty, a), ks_risk_util_fmt(c->max_order_qty.v, b));
        return false;
    }
    if (!c->min_order_notional.on && !c->max_order_notional.on)
        return true;
    if (ks_dec_sign(in->ref_price) <= 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "order notional unknown: no reference price");
        return false;
    }
    ks_dec_t n = KS_DEC_ZERO;
    ks_risk_util_mul(in->qty, in->ref_price, 8, KS_ROUND_HALF_UP, &n); /* for messages */
    if (c->min_order_notional.on &&
        ks_risk_util_cmp_prod(in->qty, in->ref_price, c->min_order_notional.v, one) < 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "order notional %s is below min_order_notional %s",
                            ks_risk_util_fmt(n, a), ks_risk_util_fmt(c->min_order_notional.v, b));
        return false;
    }
    if (c->max_order_notional.on &&
        ks_risk_util_cmp_prod(in->qty, in->ref_price, c->max_order_notional.v, one) > 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "order notional %s is above max_order_notional %s",
                            ks_risk_util_fmt(n, a), ks_risk_util_fmt(c->max_order_notional.v, b));
        return false;
    }
    return true;
}

/* True when |price - ref| * 10000 > bps * ref, i.e. more than bps away. */
static bool outside_band(ks_dec_t price, ks_dec_t ref, int64_t bps)
{
    ks_dec_t dev;
    if (ks_dec_sub(price, ref, &dev) != KS_OK)
        return true; /* cannot even be represented: far outside */
    return ks_risk_util_cmp_prod(ks_dec_abs(dev), KS_DEC(10000, 0), KS_DEC(bps, 0), ref) > 0;
}

/* Fat-finger band: a limit price within fat_finger_bps of the mark (else mid); a market
 * order needs the side it takes quoted, within the band of the mark when there is one. */
static bool check_band(const limits_t *c, const ks_order_intent_t *in, const ks_portfolio_t *pf,
                       ks_risk_decision_t *out)
{
    ks_market_view_t v;
    ks_dec_t ref;
    const char *what;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], d[KS_DEC_STRLEN], sym[KS_SYMBOL_LEN];
    if (c->fat_finger_bps <= 0)
        return true;
    KS_INIT(&v);
    if (pf->api->market(pf, in->inst, &v) != KS_OK)
        memset(&v, 0, sizeof(v));
    bool have_ref = ks_risk_util_mark(&v, &ref, &what);
    if (in->type == KS_ORD_MARKET) {
        bool buy = in->side == KS_SIDE_BUY;
        ks_dec_t touch = buy ? v.ask_px : v.bid_px, touch_qty = buy ? v.ask_qty : v.bid_qty;
        if (ks_dec_sign(touch) <= 0 || ks_dec_sign(touch_qty) <= 0) {
            ks_risk_util_decide(
                out, KS_RISK_REJECT, "fat finger: market %s on %s with no %s in the BBO",
                buy ? "buy" : "sell", ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)),
                buy ? "ask" : "bid");
            return false;
        }
        if (ks_dec_sign(v.mark) > 0 && outside_band(touch, v.mark, c->fat_finger_bps)) {
            ks_risk_util_decide(out, KS_RISK_REJECT,
                                "fat finger: market %s on %s would take %s %s, %s bps from mark %s "
                                "(max %lld bps)",
                                buy ? "buy" : "sell",
                                ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)),
                                buy ? "ask" : "bid", ks_risk_util_fmt(touch, a),
                                ks_risk_util_fmt(ks_risk_util_bps(touch, v.mark), d),
                                ks_risk_util_fmt(v.mark, b), (long long)c->fat_finger_bps);
            return false;
        }
        return true;
    }
    if (!have_ref) {
        ks_risk_util_decide(
            out, KS_RISK_REJECT, "fat finger: no mark or mid on %s to check limit %s",
            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), ks_risk_util_fmt(in->price, a));
        return false;
    }
    if (outside_band(in->price, ref, c->fat_finger_bps)) {
        ks_risk_util_decide(
            out, KS_RISK_REJECT, "fat finger: limit %s on %s is %s bps from %s %s (max %lld bps)",
            ks_risk_util_fmt(in->price, a), ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)),
            ks_risk_util_fmt(ks_risk_util_bps(in->price, ref), d), what, ks_risk_util_fmt(ref, b),
            (long long)c->fat_finger_bps);
        return false;
    }
    return true;
}

/* Exposure rules on the projected position: position + order, plus the strategy's
 * resting orders in the same direction (they may fill too). Only an order that grows
 * |position| can break them. */
static void lim_check(void *self, const ks_order_intent_t *in, const ks_portfolio_t *pf,
                      ks_risk_decision_t *out)
{
    risk_limits_t *rl = self;
    const limits_t *c;
    const ks_dec_t one = KS_DEC(1, 0);
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], d[KS_DEC_STRLEN], e[KS_DEC_STRLEN];
    char sym[KS_SYMBOL_LEN];
    const char *strategy = in->strategy ? in->strategy : "";

    if (in->reduce_only)
        return;
    c = limits_for(rl, in->strategy);
    if (!check_size(c, in, out) || !check_band(c, in, pf, out))
        return;

    ks_dec_t pos = pf->api->position(pf, in->strategy, in->inst);
    if (c->max_open_positions >= 0 && ks_dec_is_zero(pos)) {
        int n = pf->api->open_positions(pf, in->strategy);
        if (n >= c->max_open_positions) {
            ks_risk_util_decide(out, KS_RISK_REJECT,
                                "max open positions %lld reached (strategy %s holds %d)",
                                (long long)c->max_open_positions, strategy, n);
            return;
        }
    }
    if (!c->max_notional_per_symbol.on && !c->max_notional_per_strategy.on &&
        !c->max_position_pct.on)
        return;

    ks_dec_t dq = in->side == KS_SIDE_SELL ? ks_dec_neg(in->qty) : in->qty;
    ks_dec_t proj, tmp, worst, pending = pf->api->open_order_qty(pf, in->strategy, in->inst);
    bool with_pending = false;
    if (ks_dec_add(pos, dq, &proj) != KS_OK) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "projected position does not fit a decimal");
        return;
    }
    worst = proj;
    if (ks_dec_sign(pending) != 0 && ks_dec_sign(pending) == ks_dec_sign(dq) &&
        ks_dec_add(proj, pending, &tmp) == KS_OK) {
        worst = tmp;
        with_pending = true;
    }
    ks_dec_t wabs = ks_dec_abs(worst), pabs = ks_dec_abs(pos);
    if (ks_dec_cmp(wabs, pabs) <= 0)
        return; /* shrinks (or keeps) exposure */
    if (ks_dec_sign(in->ref_price) <= 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "exposure unknown on %s: no reference price",
                            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)));
        return;
    }
    ks_dec_t wn = KS_DEC_ZERO;
    ks_risk_util_mul(wabs, in->ref_price, 8, KS_ROUND_HALF_UP, &wn); /* for messages */

    if (c->max_notional_per_symbol.on &&
        ks_risk_util_cmp_prod(wabs, in->ref_price, c->max_notional_per_symbol.v, one) > 0) {
        ks_risk_util_decide(
            out, KS_RISK_REJECT, "max notional per symbol %s exceeded: %s would be %s (%s at %s%s)",
            ks_risk_util_fmt(c->max_notional_per_symbol.v, a),
            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), ks_risk_util_fmt(wn, b),
            ks_risk_util_fmt(wabs, d), ks_risk_util_fmt(in->ref_price, e),
            with_pending ? ", incl. resting orders" : "");
        return;
    }
    if (c->max_notional_per_strategy.on) {
        /* The increase is valued at ref_price, the rest as the host marks it. Rounded up:
         * a projected gross is never understated. */
        ks_dec_t gross = pf->api->gross_notional(pf, in->strategy), inc, after = KS_DEC_ZERO;
        if (ks_dec_sub(wabs, pabs, &inc) != KS_OK ||
            ks_risk_util_mul(inc, in->ref_price, 12, KS_ROUND_CEIL, &inc) != KS_OK ||
            ks_dec_add(gross, inc, &after) != KS_OK ||
            ks_dec_cmp(after, c->max_notional_per_strategy.v) > 0) {
            ks_dec_t shown = KS_DEC_ZERO;
            ks_risk_util_mul(after, one, 2, KS_ROUND_CEIL, &shown);
            ks_risk_util_decide(out, KS_RISK_REJECT,
                                "max notional per strategy %s exceeded: strategy %s would hold "
                                "%s gross (now %s)",
                                ks_risk_util_fmt(c->max_notional_per_strategy.v, a), strategy,
                                ks_risk_util_fmt(shown, b), ks_risk_util_fmt(gross, d));
            return;
        }
    }
    if (c->max_position_pct.on) {
        ks_dec_t eq = pf->api->equity(pf, in->strategy);
        if (ks_dec_sign(eq) <= 0) {
            ks_risk_util_decide(
                out, KS_RISK_REJECT, "max position %s%% of equity: strategy %s equity is %s",
                ks_risk_util_fmt(c->max_position_pct.v, a), strategy, ks_risk_util_fmt(eq, b));
            return;
        }
        if (ks_risk_util_cmp_prod(wabs, in->ref_price, c->position_frac, eq) > 0) {
            ks_risk_util_decide(out, KS_RISK_REJECT,
                                "position %s%% of equity exceeds max %s%%: %s %s of strategy %s "
                                "equity %s",
                                ks_risk_util_fmt(ks_risk_util_pct(wn, eq), d),
                                ks_risk_util_fmt(c->max_position_pct.v, a),
                                ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)),
                                ks_risk_util_fmt(wn, b), strategy, ks_risk_util_fmt(eq, e));
            return;
        }
    }
}

static const ks_risk_ops_t ops = {
    .struct_size = sizeof(ks_risk_ops_t),
    .open = lim_open,
    .close = lim_close,
    .check = lim_check,
    .on_event = NULL,
};

static const ks_plugin_desc_t desc = KS_PLUGIN_DESC(
    KS_PLUGIN_RISK, "risk_limits", "1.0.0",
    "Entry limits: open positions, notional caps, % of equity, fat finger, order size", &ops);

KS_PLUGIN_DEFINE(desc)
