/* risk_margin: the margin guard. check() rejects a new perp entry whose position would
 * liquidate closer than liq_buffer_pct to the mark (the venue's own liquidation price from
 * KS_EV_POSITION when it has one, else an estimate), and new entries while the account's
 * margin level is below margin_level_min. on_event() watches KS_EV_BALANCE: margin level =
 * equity / maint_margin; below the minimum it notifies the strategies and, when configured,
 * reduces every position. Reduce-only intents always pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/kestrel.h>

#include "../common/risk_util.h"

#define MAX_ACCOUNTS 32

typedef struct margin_inst {
    bool venue_known;
    uint32_t venue;
    bool has_pos; /* a KS_EV_POSITION arrived */
    ks_dec_t qty, entry_px, liq_px;
    int32_t leverage;
} margin_inst_t;

/* One (venue, wallet, asset) margin account from KS_EV_BALANCE. */
typedef struct margin_acct {
    uint32_t venue;
    uint8_t wallet;
    char asset[KS_ASSET_LEN];
    bool low;
    ks_dec_t equity, maint;
    int64_t last_reduce;
} margin_acct_t;

typedef struct risk_margin {
    const ks_host_api_t *api; /* borrowed; valid until close() */
    ks_host_t *host;
    ks_dec_t liq_buffer_pct, liq_buffer; /* pct and pct / 100 */
    ks_dec_t mmr;
    int64_t leverage; /* 0: from the venue's position, else the instrument's max */
    ks_dec_t level_min;
    bool reduce_on_low, reject_on_low;
    ks_dec_t reduce_fraction;
    int64_t reduce_cooldown_ns; /* 0: once per crossing */
    margin_inst_t *inst;
    int32_t cap_inst;
    margin_acct_t acct[MAX_ACCOUNTS];
    int n_acct;
    int n_low; /* accounts below the minimum */
    bool warned_full, grow_failed;
} risk_margin_t;

static const char *const KEYS[] = {
    "liq_buffer_pct",     "maint_margin_rate",    "leverage",
    "margin_level_min",   "reduce_on_low_margin", "reduce_fraction",
    "reduce_cooldown_ms", "reject_on_low_margin", NULL,
};

static int read_dec_range(const ks_json_t *root, const char *key, ks_dec_t lo, bool lo_open,
                          ks_dec_t hi, bool hi_open, const char *range, ks_dec_t *out, char *err,
                          size_t err_len)
{
    char b[KS_DEC_STRLEN];
    ks_dec_t d;
    int rc = ks_json_get_dec(root, "", key, &d, err, err_len);
    if (rc <= 0)
        return rc;
    int clo = ks_dec_cmp(d, lo), chi = ks_dec_cmp(d, hi);
    if (clo < 0 || (lo_open && clo == 0) || chi > 0 || (hi_open && chi == 0) ||
        d.scale > KS_DEC_MAX_SCALE - 2) {
        snprintf(err, err_len, "%s: must be in %s, got %s", key, range, ks_risk_util_fmt(d, b));
        return KS_EINVAL;
    }
    *out = d;
    return KS_OK;
}

static void margin_close(void *self)
{
    risk_margin_t *m = self;
    if (!m)
        return;
    free(m->inst);
    free(m);
}

static int margin_open(const ks_host_api_t *api, ks_host_t *host, const char *name,
                       const char *config_json, void **self, char *err, size_t err_len)
{
    ks_json_doc_t doc;
    const ks_json_t *root;
    risk_margin_t *m = calloc(1, sizeof(*m));
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    int64_t ms = 60000;
    int rc;

    *self = NULL;
    if (!m) {
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    m->api = api;
    m->host = host;
    m->liq_buffer_pct = KS_DEC(20, 0);
    m->mmr = KS_DEC(5, 3);
    m->level_min = KS_DEC(15, 1);
    m->reduce_fraction = KS_DEC(25, 2);
    m->reject_on_low = true;

    if ((rc = ks_risk_util_config(config_json, &doc, &root, err, err_len)) != KS_OK)
        goto fail;
    if ((rc = ks_json_check_keys(root, "", KEYS, err, err_len)) != KS_OK ||
        (rc = read_dec_range(root, "liq_buffer_pct", KS_DEC_ZERO, false, KS_DEC(100, 0), true,
                             "[0, 100)", &m->liq_buffer_pct, err, err_len)) < 0 ||
        (rc = read_dec_range(root, "maint_margin_rate", KS_DEC_ZERO, false, KS_DEC(1, 0), true,
                             "[0, 1)", &m->mmr, err, err_len)) < 0 ||
        (rc = ks_json_get_int(root, "", "leverage", 1, 1000, &m->leverage, err, err_len)) < 0 ||
        (rc = read_dec_range(root, "margin_level_min", KS_DEC(1, 0), false, KS_DEC(1000, 0), false,
                             "[1, 1000]", &m->level_min, err, err_len)) < 0 ||
        (rc = ks_json_get_bool(root, "", "reduce_on_low_margin", &m->reduce_on_low, err, err_len)) <
            0 ||
        (rc = read_dec_range(root, "reduce_fraction", KS_DEC_ZERO, true, KS_DEC(1, 0), false,
                             "(0, 1]", &m->reduce_fraction, err, err_len)) < 0 ||
        (rc = ks_json_get_int(root, "", "reduce_cooldown_ms", 0, 86400000, &ms, err, err_len)) <
            0 ||
        (rc = ks_json_get_bool(root, "", "reject_on_low_margin", &m->reject_on_low, err, err_len)) <
            0)
        goto fail;
    m->liq_buffer = KS_DEC(m->liq_buffer_pct.mant, m->liq_buffer_pct.scale + 2);
    m->reduce_cooldown_ns = ms * KS_RISK_UTIL_MS_NS;
    if (ks_risk_util_grow((void **)&m->inst, &m->cap_inst, 64, sizeof(*m->inst)) != KS_OK) {
        snprintf(err, err_len, "out of memory");
        rc = KS_ENOMEM;
        goto fail;
    }
    ks_json_free(&doc);
    api->log(host, KS_LOG_INFO,
             "risk_margin %s: liquidation buffer %s%%, margin level min %s, reduce on low "
             "margin %s",
             name, ks_risk_util_fmt(m->liq_buffer_pct, a), ks_risk_util_fmt(m->level_min, b),
             m->reduce_on_low ? "on" : "off");
    *self = m;
    return KS_OK;

fail:
    ks_json_free(&doc);
    margin_close(m);
    return rc;
}

/* ---- liquidation estimate ----------------------------------------------------------- */

/* Isolated-margin liquidation price of a position entered at `entry` with leverage L and
 * maintenance rate mmr:
 *     long:  entry * (1 - 1/L + mmr)      short: entry * (1 + 1/L - mmr)
 * 1/L is rounded down and the product toward the mark (long up, short down): the estimate
 * never places liquidation further away than the formula does. */
static int estimate_liq(const risk_margin_t *m, bool is_long, ks_dec_t entry, int64_t lev,
                        ks_dec_t *liq)
{
    ks_dec_t inv, f;
    if (ks_dec_div(KS_DEC(1, 0), KS_DEC(lev, 0), 12, KS_ROUND_FLOOR, &inv) != KS_OK)
        return KS_ERANGE;
    if (is_long) {
        if (ks_dec_sub(KS_DEC(1, 0), inv, &f) != KS_OK || ks_dec_add(f, m->mmr, &f) != KS_OK)
            return KS_ERANGE;
        return ks_risk_util_mul(entry, f, 12, KS_ROUND_CEIL, liq);
    }
    if (ks_dec_add(KS_DEC(1, 0), inv, &f) != KS_OK || ks_dec_sub(f, m->mmr, &f) != KS_OK)
        return KS_ERANGE;
    return ks_risk_util_mul(entry, f, 12, KS_ROUND_FLOOR, liq);
}

/* The same test for the estimate, multiplied through by L > 0 so that it is exact and
 * needs no division (b = liq_buffer_pct / 100):
 *   long:  mark - liq < b mark   <=>  mark * L(1 - b)  <  entry * (L(1 + mmr) - 1)
 *   short: liq - mark < b mark   <=>  entry * (L(1 - mmr) + 1)  <  mark * L(1 + b) */
static bool estimate_too_close(const risk_margin_t *m, bool is_long, ks_dec_t entry, int64_t lev,
                               ks_dec_t mark)
{
    const ks_dec_t one = KS_DEC(1, 0), L = KS_DEC(lev, 0);
    ks_dec_t t, k, lb;
    if (is_long) {
        if (ks_dec_add(one, m->mmr, &t) != KS_OK || ks_dec_mul(L, t, &k) != KS_OK ||
            ks_dec_sub(k, one, &k) != KS_OK || ks_dec_sub(one, m->liq_buffer, &t) != KS_OK ||
            ks_dec_mul(L, t, &lb) != KS_OK)
            return true;
        return ks_risk_util_cmp_prod(mark, lb, entry, k) < 0;
    }
    if (ks_dec_sub(one, m->mmr, &t) != KS_OK || ks_dec_mul(L, t, &k) != KS_OK ||
        ks_dec_add(k, one, &k) != KS_OK || ks_dec_add(one, m->liq_buffer, &t) != KS_OK ||
        ks_dec_mul(L, t, &lb) != KS_OK)
        return true;
    return ks_risk_util_cmp_prod(entry, k, mark, lb) < 0;
}

/* True when liq is closer than the buffer to the mark, on the losing side or beyond:
 * long: mark - liq < buffer * mark;  short: liq - mark < buffer * mark. */
static bool too_close(const risk_margin_t *m, bool is_long, ks_dec_t liq, ks_dec_t mark)
{
    ks_dec_t gap;
    if (ks_dec_sub(is_long ? mark : liq, is_long ? liq : mark, &gap) != KS_OK)
        return true;
    return ks_risk_util_cmp_prod(gap, KS_DEC(1, 0), m->liq_buffer, mark) < 0;
}

/* Average entry after adding |dq| at px to |q0| at e0, rounded toward the liquidation
 * side (a long's entry up, a short's down) so the estimate errs on the safe side. */
static int avg_entry(bool is_long, ks_dec_t q0, ks_dec_t e0, ks_dec_t dq, ks_dec_t px, ks_dec_t q1,
                     ks_dec_t *out)
{
    ks_round_t dir = is_long ? KS_ROUND_CEIL : KS_ROUND_FLOOR;
    ks_dec_t a, b, s;
    if (ks_risk_util_mul(ks_dec_abs(q0), e0, 12, dir, &a) != KS_OK ||
        ks_risk_util_mul(ks_dec_abs(dq), px, 12, dir, &b) != KS_OK || ks_dec_add(a, b, &s) != KS_OK)
        return KS_ERANGE;
    return ks_risk_util_div(s, ks_dec_abs(q1), 12, dir, out);
}

static bool low_margin_for(const risk_margin_t *m, const margin_inst_t *st,
                           const margin_acct_t **hit)
{
    if (!m->n_low)
        return false;
    for (int i = 0; i < m->n_acct; i++) {
        const margin_acct_t *a = &m->acct[i];
        if (a->low && (!st || !st->venue_known || st->venue == a->venue)) {
            *hit = a;
            return true;
        }
    }
    return false;
}

static void margin_check(void *self, const ks_order_intent_t *in, const ks_portfolio_t *pf,
                         ks_risk_decision_t *out)
{
    risk_margin_t *m = self;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], c[KS_DEC_STRLEN], d[KS_DEC_STRLEN];
    char e[KS_DEC_STRLEN], sym[KS_SYMBOL_LEN];
    const margin_acct_t *low;
    if (in->reduce_only)
        return;
    const margin_inst_t *st = in->inst >= 0 && in->inst < m->cap_inst ? &m->inst[in->inst] : NULL;

    if (m->reject_on_low && low_margin_for(m, st, &low)) {
        ks_dec_t level = KS_DEC_ZERO;
        ks_dec_div(low->equity, low->maint, 2, KS_ROUND_FLOOR, &level);
        ks_risk_util_decide(out, KS_RISK_REJECT,
                            "margin level %s is below margin_level_min %s (%s equity %s / maint "
                            "margin %s)",
                            ks_risk_util_fmt(level, a), ks_risk_util_fmt(m->level_min, b),
                            low->asset, ks_risk_util_fmt(low->equity, c),
                            ks_risk_util_fmt(low->maint, d));
        return;
    }

    ks_instrument_t spec;
    KS_INIT(&spec);
    if (pf->api->instrument(pf, in->inst, &spec) != KS_OK || spec.kind != KS_KIND_PERP)
        return; /* spot cannot be liquidated */

    /* The account's position (all strategies share it, so the host's total, which fills
     * update before the venue's next position report) and what the order makes of it. The
     * venue's report (entry, liquidation price, leverage) is used while it is on the same
     * side. */
    ks_dec_t q0 = pf->api->position(pf, NULL, in->inst);
    ks_dec_t dq = in->side == KS_SIDE_SELL ? ks_dec_neg(in->qty) : in->qty, q1;
    if (ks_dec_add(q0, dq, &q1) != KS_OK || ks_dec_is_zero(q1))
        return;
    bool same = ks_dec_sign(q0) == ks_dec_sign(q1);
    if (same && ks_dec_cmp(ks_dec_abs(q1), ks_dec_abs(q0)) <= 0)
        return; /* shrinks */
    bool is_long = ks_dec_sign(q1) > 0;
    bool venue =
        st && st->has_pos && ks_dec_sign(st->qty) == ks_dec_sign(q1) && !ks_dec_is_zero(st->qty);

    ks_market_view_t v;
    ks_dec_t mark;
    const char *what;
    KS_INIT(&v);
    if (pf->api->market(pf, in->inst, &v) != KS_OK)
        memset(&v, 0, sizeof(v));
    ks_dec_t px = ks_dec_sign(in->price) > 0 ? in->price : in->ref_price;
    if (!ks_risk_util_mark(&v, &mark, &what)) {
        mark = in->ref_price;
        what = "reference";
    }
    if (ks_dec_sign(mark) <= 0 || ks_dec_sign(px) <= 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "liquidation buffer: no mark or price on %s",
                            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)));
        return;
    }

    /* The venue's liquidation price still applies when the order adds to its position. */
    if (same && venue && ks_dec_sign(st->liq_px) > 0 && too_close(m, is_long, st->liq_px, mark)) {
        ks_dec_t gap = KS_DEC_ZERO;
        ks_dec_sub(mark, st->liq_px, &gap);
        ks_dec_t pct = ks_risk_util_pct(ks_dec_abs(gap), mark);
        ks_risk_util_decide(out, KS_RISK_REJECT,
                            "liquidation buffer: %s %s liquidates at %s (venue), %s%% from %s %s "
                            "< %s%%",
                            is_long ? "long" : "short",
                            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)),
                            ks_risk_util_fmt(st->liq_px, a), ks_risk_util_fmt(pct, b), what,
                            ks_risk_util_fmt(mark, c), ks_risk_util_fmt(m->liq_buffer_pct, d));
        return;
    }

    ks_dec_t entry = px, liq;
    if (same) {
        ks_dec_t e0 = venue && ks_dec_sign(st->entry_px) > 0 ? st->entry_px : mark;
        if (avg_entry(is_long, q0, e0, dq, px, q1, &entry) != KS_OK)
            entry = is_long ? ks_dec_max(e0, px) : ks_dec_min(e0, px); /* the worse one */
    }
    int64_t lev = m->leverage                 ? m->leverage
                  : venue && st->leverage > 0 ? st->leverage
                                              : spec.max_leverage;
    if (lev < 1)
        lev = 1;
    if (estimate_too_close(m, is_long, entry, lev, mark)) {
        if (estimate_liq(m, is_long, entry, lev, &liq) != KS_OK)
            liq = KS_DEC_ZERO;
        ks_dec_t gap = KS_DEC_ZERO;
        ks_dec_sub(mark, liq, &gap);
        ks_dec_t pct = ks_risk_util_pct(ks_dec_abs(gap), mark);
        ks_dec_t shown = KS_DEC_ZERO;
        ks_risk_util_mul(liq, KS_DEC(1, 0), 8, is_long ? KS_ROUND_CEIL : KS_ROUND_FLOOR, &shown);
        ks_risk_util_decide(out, KS_RISK_REJECT,
                            "liquidation buffer: %s %s %s would liquidate near %s (est. %lldx), "
                            "%s%% from %s %s < %s%%",
                            is_long ? "long" : "short", ks_risk_util_fmt(ks_dec_abs(q1), a),
                            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)),
                            ks_risk_util_fmt(ks_dec_normalize(shown), b), (long long)lev,
                            ks_risk_util_fmt(pct, c), what, ks_risk_util_fmt(mark, d),
                            ks_risk_util_fmt(m->liq_buffer_pct, e));
        return;
    }
}

/* ---- on_event ----------------------------------------------------------------------- */

static margin_acct_t *account(risk_margin_t *m, const ks_balance_t *b)
{
    for (int i = 0; i < m->n_acct; i++) {
        margin_acct_t *a = &m->acct[i];
        if (a->venue == b->hdr.venue && a->wallet == b->wallet && strcmp(a->asset, b->asset) == 0)
            return a;
    }
    if (m->n_acct >= MAX_ACCOUNTS) {
        if (!m->warned_full)
            m->api->log(m->host, KS_LOG_WARN, "more than %d margin accounts: %s ignored",
                        MAX_ACCOUNTS, b->asset);
        m->warned_full = true;
        return NULL;
    }
    margin_acct_t *a = &m->acct[m->n_acct++];
    memset(a, 0, sizeof(*a));
    a->venue = b->hdr.venue;
    a->wallet = b->wallet;
    ks_strlcpy(a->asset, b->asset, sizeof(a->asset));
    return a;
}

static void on_balance(risk_margin_t *m, const ks_balance_t *b, int64_t now)
{
    char reason[KS_REASON_LEN], x[KS_DEC_STRLEN], y[KS_DEC_STRLEN], z[KS_DEC_STRLEN],
        w[KS_DEC_STRLEN];
    margin_acct_t *a = account(m, b);
    if (!a)
        return;
    a->equity = b->equity;
    a->maint = b->maint_margin;
    /* equity / maint < min, without dividing; no maintenance margin: nothing at risk. */
    bool low = ks_dec_sign(b->maint_margin) > 0 &&
               ks_risk_util_cmp_prod(b->equity, KS_DEC(1, 0), m->level_min, b->maint_margin) < 0;
    ks_dec_t level = KS_DEC_ZERO;
    if (ks_dec_sign(b->maint_margin) > 0)
        ks_dec_div(b->equity, b->maint_margin, 2, KS_ROUND_FLOOR, &level);
    const char *wallet = ks_wallet_name(b->wallet);

    if (low && !a->low) {
        a->low = true;
        m->n_low++;
        ks_risk_util_line(reason, sizeof(reason),
                          "margin level %s below %s on %s %s (equity %s / maint margin %s)",
                          ks_risk_util_fmt(level, x), ks_risk_util_fmt(m->level_min, y),
                          wallet ? wallet : "wallet", a->asset, ks_risk_util_fmt(b->equity, z),
                          ks_risk_util_fmt(b->maint_margin, w));
        m->api->log(m->host, KS_LOG_WARN, "%s", reason);
        ks_risk_util_act(m->api, m->host, KS_ACT_NOTIFY, NULL, -1, KS_DEC_ZERO, reason);
        if (m->reduce_on_low) {
            ks_risk_util_act(m->api, m->host, KS_ACT_REDUCE, NULL, -1, m->reduce_fraction, reason);
            a->last_reduce = now;
        }
    } else if (low && m->reduce_on_low && m->reduce_cooldown_ns &&
               now - a->last_reduce >= m->reduce_cooldown_ns) {
        ks_risk_util_line(reason, sizeof(reason),
                          "margin level %s still below %s on %s %s (equity %s / maint margin %s)",
                          ks_risk_util_fmt(level, x), ks_risk_util_fmt(m->level_min, y),
                          wallet ? wallet : "wallet", a->asset, ks_risk_util_fmt(b->equity, z),
                          ks_risk_util_fmt(b->maint_margin, w));
        m->api->log(m->host, KS_LOG_WARN, "%s", reason);
        ks_risk_util_act(m->api, m->host, KS_ACT_REDUCE, NULL, -1, m->reduce_fraction, reason);
        a->last_reduce = now;
    } else if (!low && a->low) {
        a->low = false;
        m->n_low--;
        ks_risk_util_line(reason, sizeof(reason), "margin level recovered on %s %s: %s (min %s)",
                          wallet ? wallet : "wallet", a->asset,
                          ks_dec_sign(b->maint_margin) > 0 ? ks_risk_util_fmt(level, x)
                                                           : "no margin used",
                          ks_risk_util_fmt(m->level_min, y));
        m->api->log(m->host, KS_LOG_INFO, "%s", reason);
        ks_risk_util_act(m->api, m->host, KS_ACT_NOTIFY, NULL, -1, KS_DEC_ZERO, reason);
    }
}

static void margin_on_event(void *self, const ks_event_t *ev, const ks_portfolio_t *pf)
{
    risk_margin_t *m = self;
    if (ev->type == KS_EV_BALANCE) {
        on_balance(m, (const ks_balance_t *)ev, pf->api->now_ns(pf));
        return;
    }
    if (ev->inst < 0)
        return;
    if (ev->inst >= m->cap_inst && ks_risk_util_grow((void **)&m->inst, &m->cap_inst, ev->inst + 1,
                                                     sizeof(*m->inst)) != KS_OK) {
        if (!m->grow_failed)
            m->api->log(m->host, KS_LOG_ERROR, "out of memory tracking instrument %d", ev->inst);
        m->grow_failed = true;
        return;
    }
    margin_inst_t *st = &m->inst[ev->inst];
    st->venue_known = true;
    st->venue = ev->venue;
    if (ev->type == KS_EV_POSITION) {
        const ks_position_t *p = (const ks_position_t *)ev;
        st->has_pos = true;
        st->qty = p->qty;
        st->entry_px = p->entry_px;
        st->liq_px = p->liq_px;
        st->leverage = p->leverage;
    }
}

static const ks_risk_ops_t ops = {
    .struct_size = sizeof(ks_risk_ops_t),
    .open = margin_open,
    .close = margin_close,
    .check = margin_check,
    .on_event = margin_on_event,
};

static const ks_plugin_desc_t desc =
    KS_PLUGIN_DESC(KS_PLUGIN_RISK, "risk_margin", "1.0.0",
                   "Margin guard: liquidation-price buffer and margin level", &ops);

KS_PLUGIN_DEFINE(desc)
