/* risk_gates: the eight market-quality gates of the oracle-dislocation spec, per
 * instrument — OracleFresh, MarkMidDivergence, SpreadShock, OiCap, ParamChange, Halt,
 * NoBboUpdate, TimeRegression. check() rejects or shrinks new orders while a gate is
 * active; on_event() tracks the state the market view cannot show (spread EWMA, venue clock,
 * the first spec_version), logs every gate transition once and requests the gate's actions
 * (cancel all, reduce) once per episode. Reduce-only intents always pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/kestrel.h>

#include "../common/risk_util.h"

enum {
    G_ORACLE = 0,
    G_MARKMID,
    G_SPREAD,
    G_OICAP,
    G_PARAM,
    G_HALT,
    G_NOBBO,
    G_TIMEREG,
    G_COUNT,
};

#define BIT(g) (1u << (g))

static const char *const GATE_NAMES[G_COUNT] = {
    "OracleFresh", "MarkMidDivergence", "SpreadShock",    "OiCap", "ParamChange",
    "Halt",        "NoBboUpdate",       "TimeRegression",
};

/* Order in which check() reports a rejecting gate: the hardest stop first. */
static const int REJECT_ORDER[] = {G_HALT,   G_PARAM, G_TIMEREG, G_NOBBO,
                                   G_ORACLE, G_OICAP, G_MARKMID};

/* Market-data streams whose venue clock must not go backwards. */
enum { S_BBO, S_BOOK, S_TRADE, S_TICKER, S_ORACLE, S_LIQ, S_COUNT };
static const char *const STREAM_NAMES[S_COUNT] = {"bbo",    "book",   "trade",
                                                  "ticker", "oracle", "liquidation"};

typedef struct oi_cap {
    char symbol[KS_SYMBOL_LEN]; /* "*" for every other symbol */
    ks_dec_t cap;
} oi_cap_t;

typedef struct gate_inst {
    bool known;        /* tracked: evaluated, logged and swept */
    bool wanted;       /* check() saw an intent for it before it was tracked */
    bool base_set;     /* spec_base holds the first spec_version seen */
    bool cap_resolved; /* oi cap looked up by symbol */
    bool has_cap;
    ks_dec_t cap;
    uint32_t spec_base; /* first spec_version seen (re-based when a ParamChange stop ends) */
    int64_t last_vts[S_COUNT];
    /* TimeRegression: the episode's evidence. */
    bool tr_hit;
    int tr_stream;
    int64_t tr_prev, tr_new;
    /* SpreadShock: EWMA of (ask - bid) over BBO events; the last BBO compared with the
     * EWMA of the spreads before it. */
    ks_dec_t ewma;
    uint32_t samples;
    bool shock;
    ks_dec_t shock_spread, shock_ewma;
    /* Stop latch. */
    int64_t stop_until; /* 0: none; KS_RISK_UTIL_FOREVER: until restart */
    uint32_t stop_gates;
    char stop_why[112]; /* evidence of the gate that latched first */
    /* Last logged gate mask and the actions already taken in each gate's episode. */
    uint32_t active;
    uint32_t did_cancel, did_reduce;
} gate_inst_t;

typedef struct risk_gates {
    const ks_host_api_t *api; /* borrowed; valid until close() */
    ks_host_t *host;
    char name[KS_NAME_LEN];
    int64_t oracle_max_age_ns;
    int64_t mark_mid_max_bps;
    ks_dec_t spread_k, spread_alpha;
    int64_t spread_min_samples;
    int64_t bbo_max_age_ns;
    int64_t stop_latch_ns; /* 0: forever */
    int64_t time_tolerance_ns;
    int64_t sweep_ns;
    ks_dec_t size_divisor;
    uint32_t enabled; /* gate mask */
    oi_cap_t *caps;
    int n_caps;
    gate_inst_t *inst; /* by host instrument id */
    int32_t cap_inst, n_inst;
    int64_t last_sweep;
    bool grow_failed;
} risk_gates_t;

static const char *const KEYS[] = {
    "oracle_max_age_ms",
    "mark_mid_max_bps",
    "spread_k",
    "spread_ewma_alpha",
    "spread_min_samples",
    "oi_cap",
    "bbo_max_age_ms",
    "stop_latch_s",
    "size_divisor",
    "time_regression_tolerance_ms",
    "sweep_interval_ms",
    "disabled",
    NULL,
};

/* ---- config ---------------------------------------------------------------------- */

static int read_ms(const ks_json_t *root, const char *key, int64_t min, int64_t *ns, char *err,
                   size_t err_len)
{
    int64_t v;
    int rc = ks_json_get_int(root, "", key, min, 86400000, &v, err, err_len);
    if (rc == 1)
        *ns = v * KS_RISK_UTIL_MS_NS;
    return rc < 0 ? rc : KS_OK;
}

static int read_pos_dec(const ks_json_t *root, const char *key, ks_dec_t *out, bool below_one,
                        char *err, size_t err_len)
{
    char b[KS_DEC_STRLEN];
    ks_dec_t d;
    int rc = ks_json_get_dec(root, "", key, &d, err, err_len);
    if (rc <= 0)
        return rc;
    if (ks_dec_sign(d) <= 0 || (below_one && ks_dec_cmp(d, KS_DEC(1, 0)) > 0)) {
        snprintf(err, err_len, "%s: must be %s, got %s", key, below_one ? "in (0, 1]" : "> 0",
                 ks_risk_util_fmt(d, b));
        return KS_EINVAL;
    }
    *out = d;
    return KS_OK;
}

static int read_oi_caps(risk_gates_t *g, const ks_json_t *root, char *err, size_t err_len)
{
    const ks_json_t *v = ks_json_get(root, "oi_cap");
    char b[KS_DEC_STRLEN];
    if (!v || v->type == KS_JSON_NULL)
        return KS_OK;
    if (v->type != KS_JSON_OBJECT) {
        /* One cap for every symbol. */
        g->caps = calloc(1, sizeof(*g->caps));
        if (!g->caps) {
            snprintf(err, err_len, "out of memory");
            return KS_ENOMEM;
        }
        ks_strlcpy(g->caps[0].symbol, "*", sizeof(g->caps[0].symbol));
        if (read_pos_dec(root, "oi_cap", &g->caps[0].cap, false, err, err_len) != KS_OK)
            return KS_EINVAL;
        g->n_caps = 1;
        return KS_OK;
    }
    g->caps = calloc(v->count ? v->count : 1, sizeof(*g->caps));
    if (!g->caps) {
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    for (const ks_json_t *c = v->child; c; c = c->next) {
        oi_cap_t *cap = &g->caps[g->n_caps];
        if (!c->key[0] || strlen(c->key) >= sizeof(cap->symbol)) {
            snprintf(err, err_len, "oi_cap.%.*s: symbol must be 1-%d characters", KS_SYMBOL_LEN,
                     c->key, KS_SYMBOL_LEN - 1);
            return KS_EINVAL;
        }
        ks_strlcpy(cap->symbol, c->key, sizeof(cap->symbol));
        if (ks_json_get_dec(v, "oi_cap.", c->key, &cap->cap, err, err_len) != 1) {
            if (c->type == KS_JSON_NULL)
                snprintf(err, err_len, "oi_cap.%s: expected a decimal number, got null", c->key);
            return KS_EINVAL;
        }
        if (ks_dec_sign(cap->cap) <= 0) {
            snprintf(err, err_len, "oi_cap.%s: must be > 0, got %s", c->key,
                     ks_risk_util_fmt(cap->cap, b));
            return KS_EINVAL;
        }
        g->n_caps++;
    }
    return KS_OK;
}

static int read_disabled(risk_gates_t *g, const ks_json_t *root, char *err, size_t err_len)
{
    const ks_json_t *arr = NULL;
    int i = 0, rc = ks_json_get_array(root, "", "disabled", &arr, err, err_len);
    if (rc <= 0)
        return rc;
    for (const ks_json_t *c = arr->child; c; c = c->next, i++) {
        int found = -1;
        char q[64];
        for (int k = 0; k < G_COUNT && c->type == KS_JSON_STRING; k++)
            if (strcmp(c->text, GATE_NAMES[k]) == 0)
                found = k;
        if (found < 0) {
            snprintf(err, err_len,
                     "disabled[%d]: unknown gate %s (expected OracleFresh, MarkMidDivergence, "
                     "SpreadShock, OiCap, ParamChange, Halt, NoBboUpdate or TimeRegression)",
                     i, ks_json_quote(c, q, sizeof(q)));
            return KS_EINVAL;
        }
        g->enabled &= ~BIT(found);
    }
    return KS_OK;
}

static void gates_close(void *self)
{
    risk_gates_t *g = self;
    if (!g)
        return;
    free(g->caps);
    free(g->inst);
    free(g);
}

static int gates_open(const ks_host_api_t *api, ks_host_t *host, const char *name,
                      const char *config_json, void **self, char *err, size_t err_len)
{
    ks_json_doc_t doc;
    const ks_json_t *root;
    risk_gates_t *g = calloc(1, sizeof(*g));
    char kbuf[KS_DEC_STRLEN];
    int64_t v;
    int rc;

    *self = NULL;
    if (!g) {
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    g->api = api;
    g->host = host;
    ks_strlcpy(g->name, name ? name : "risk_gates", sizeof(g->name));
    g->oracle_max_age_ns = 3000 * KS_RISK_UTIL_MS_NS;
    g->mark_mid_max_bps = 50;
    g->spread_k = KS_DEC(5, 0);
    g->spread_alpha = KS_DEC(5, 2);
    g->spread_min_samples = 20;
    g->bbo_max_age_ns = 5000 * KS_RISK_UTIL_MS_NS;
    g->stop_latch_ns = 300 * 1000 * KS_RISK_UTIL_MS_NS;
    g->sweep_ns = 250 * KS_RISK_UTIL_MS_NS;
    g->size_divisor = KS_DEC(5, 0);
    g->enabled = BIT(G_COUNT) - 1;

    if ((rc = ks_risk_util_config(config_json, &doc, &root, err, err_len)) != KS_OK)
        goto fail;
    if ((rc = ks_json_check_keys(root, "", KEYS, err, err_len)) != KS_OK ||
        (rc = read_ms(root, "oracle_max_age_ms", 1, &g->oracle_max_age_ns, err, err_len)) !=
            KS_OK ||
        (rc = read_ms(root, "bbo_max_age_ms", 1, &g->bbo_max_age_ns, err, err_len)) != KS_OK ||
        (rc = read_ms(root, "time_regression_tolerance_ms", 0, &g->time_tolerance_ns, err,
                      err_len)) != KS_OK ||
        (rc = read_ms(root, "sweep_interval_ms", 0, &g->sweep_ns, err, err_len)) != KS_OK ||
        (rc = read_pos_dec(root, "spread_k", &g->spread_k, false, err, err_len)) != KS_OK ||
        (rc = read_pos_dec(root, "spread_ewma_alpha", &g->spread_alpha, true, err, err_len)) !=
            KS_OK ||
        (rc = read_oi_caps(g, root, err, err_len)) != KS_OK ||
        (rc = read_disabled(g, root, err, err_len)) != KS_OK)
        goto fail;
    if ((rc = ks_json_get_int(root, "", "mark_mid_max_bps", 1, 100000, &g->mark_mid_max_bps, err,
                              err_len)) < 0 ||
        (rc = ks_json_get_int(root, "", "spread_min_samples", 1, 1000000, &g->spread_min_samples,
                              err, err_len)) < 0 ||
        (rc = ks_json_get_int(root, "", "size_divisor", 2, 1000000, &v, err, err_len)) < 0)
        goto fail;
    if (rc == 1)
        g->size_divisor = KS_DEC(v, 0);
    if ((rc = ks_json_get_int(root, "", "stop_latch_s", 0, 30 * 86400, &v, err, err_len)) < 0)
        goto fail;
    if (rc == 1)
        g->stop_latch_ns = v * 1000 * KS_RISK_UTIL_MS_NS;
    if ((rc = ks_risk_util_grow((void **)&g->inst, &g->cap_inst, 64, sizeof(*g->inst))) != KS_OK) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    ks_json_free(&doc);
    api->log(host, KS_LOG_INFO,
             "risk_gates %s: oracle %lld ms, mark/mid %lld bps, spread k %s, bbo %lld ms, "
             "latch %lld s%s, %d oi cap(s), enabled mask 0x%02x",
             g->name, (long long)(g->oracle_max_age_ns / KS_RISK_UTIL_MS_NS),
             (long long)g->mark_mid_max_bps, ks_risk_util_fmt(g->spread_k, kbuf),
             (long long)(g->bbo_max_age_ns / KS_RISK_UTIL_MS_NS),
             (long long)(g->stop_latch_ns / 1000 / KS_RISK_UTIL_MS_NS),
             g->stop_latch_ns ? "" : " (forever)", g->n_caps, g->enabled);
    *self = g;
    return KS_OK;

fail:
    ks_json_free(&doc);
    gates_close(g);
    return rc;
}

/* ---- evaluation ------------------------------------------------------------------- */

static gate_inst_t *state_of(risk_gates_t *g, int32_t inst)
{
    return inst >= 0 && inst < g->cap_inst ? &g->inst[inst] : NULL;
}

static void resolve_cap(risk_gates_t *g, gate_inst_t *st, const ks_portfolio_t *pf, int32_t inst)
{
    ks_instrument_t spec;
    const oi_cap_t *star = NULL, *hit = NULL;
    st->cap_resolved = true;
    if (!g->n_caps)
        return;
    KS_INIT(&spec);
    bool have = pf->api->instrument(pf, inst, &spec) == KS_OK && spec.symbol;
    for (int i = 0; i < g->n_caps; i++) {
        if (strcmp(g->caps[i].symbol, "*") == 0)
            star = &g->caps[i];
        else if (have && strcmp(g->caps[i].symbol, spec.symbol) == 0)
            hit = &g->caps[i];
    }
    if (!hit)
        hit = star;
    st->has_cap = hit != NULL;
    if (hit)
        st->cap = hit->cap;
}

static int64_t oracle_time(const ks_market_view_t *v, bool *is_oracle)
{
    *is_oracle = v->oracle_recv_ns != 0;
    return v->oracle_recv_ns ? v->oracle_recv_ns : v->ticker_recv_ns;
}

/* |mark - mid| / mid > bps / 10000, written without division:
 * |2 mark - (bid + ask)| * 10000 > bps * (bid + ask). */
static bool mark_mid_diverged(const risk_gates_t *g, const ks_market_view_t *v)
{
    ks_dec_t sum, twice, dev;
    if (ks_dec_sign(v->mark) <= 0 || ks_dec_sign(v->bid_px) <= 0 || ks_dec_sign(v->ask_px) <= 0)
        return false;
    if (ks_dec_add(v->bid_px, v->ask_px, &sum) != KS_OK ||
        ks_dec_add(v->mark, v->mark, &twice) != KS_OK || ks_dec_sub(twice, sum, &dev) != KS_OK)
        return true;
    return ks_risk_util_cmp_prod(ks_dec_abs(dev), KS_DEC(10000, 0), KS_DEC(g->mark_mid_max_bps, 0),
                                 sum) > 0;
}

/* Gates active now, from the market view plus the state on_event keeps. */
static uint32_t eval_gates(const risk_gates_t *g, const gate_inst_t *st, const ks_market_view_t *v,
                           int64_t now)
{
    uint32_t m = 0;
    bool is_oracle;
    int64_t t = oracle_time(v, &is_oracle);
    if (!t || now - t > g->oracle_max_age_ns)
        m |= BIT(G_ORACLE);
    if (mark_mid_diverged(g, v))
        m |= BIT(G_MARKMID);
    if (st && st->shock)
        m |= BIT(G_SPREAD);
    if (st && st->has_cap && ks_dec_sign(v->open_interest) > 0 &&
        ks_dec_cmp(v->open_interest, st->cap) >= 0)
        m |= BIT(G_OICAP);
    if (st && st->base_set && v->spec_version != st->spec_base)
        m |= BIT(G_PARAM);
    if (v->inst_flags & KS_INST_HALTED)
        m |= BIT(G_HALT);
    if (!v->bbo_recv_ns || now - v->bbo_recv_ns > g->bbo_max_age_ns)
        m |= BIT(G_NOBBO);
    if (st && st->tr_hit)
        m |= BIT(G_TIMEREG);
    return m & g->enabled;
}

static bool latched(const gate_inst_t *st, int64_t now)
{
    return st && st->stop_until && (st->stop_until == KS_RISK_UTIL_FOREVER || now < st->stop_until);
}

static int64_t ms(int64_t ns)
{
    return ns / KS_RISK_UTIL_MS_NS;
}

/* One line of evidence for a gate ("oracle age 3500 ms > 3000 ms"). */
static void describe(const risk_gates_t *g, const gate_inst_t *st, const ks_market_view_t *v,
                     int64_t now, int gate, char *buf, size_t cap)
{
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], c[KS_DEC_STRLEN];
    bool is_oracle;
    int64_t t;
    ks_dec_t mid;
    switch (gate) {
    case G_ORACLE:
        t = oracle_time(v, &is_oracle);
        if (!t)
            snprintf(buf, cap, "no oracle or ticker received");
        else
            snprintf(buf, cap, "%s age %lld ms > %lld ms", is_oracle ? "oracle" : "ticker",
                     (long long)ms(now - t), (long long)ms(g->oracle_max_age_ns));
        return;
    case G_MARKMID:
        if (!ks_risk_util_mid(v, &mid))
            mid = KS_DEC_ZERO;
        snprintf(buf, cap, "mark %s vs mid %s: %s bps > %lld bps", ks_risk_util_fmt(v->mark, a),
                 ks_risk_util_fmt(mid, b), ks_risk_util_fmt(ks_risk_util_bps(v->mark, mid), c),
                 (long long)g->mark_mid_max_bps);
        return;
    case G_SPREAD:
        if (st && ks_dec_sign(st->shock_spread) < 0)
            snprintf(buf, cap, "one-sided or crossed BBO");
        else if (st)
            snprintf(buf, cap, "spread %s > %s x EWMA %s", ks_risk_util_fmt(st->shock_spread, a),
                     ks_risk_util_fmt(g->spread_k, b), ks_risk_util_fmt(st->shock_ewma, c));
        else
            snprintf(buf, cap, "spread shock");
        return;
    case G_OICAP:
        snprintf(buf, cap, "open interest %s >= cap %s", ks_risk_util_fmt(v->open_interest, a),
                 ks_risk_util_fmt(st ? st->cap : KS_DEC_ZERO, b));
        return;
    case G_PARAM:
        snprintf(buf, cap, "spec_version %u -> %u", st ? st->spec_base : 0, v->spec_version);
        return;
    case G_HALT:
        snprintf(buf, cap, "instrument halted");
        return;
    case G_NOBBO:
        if (!v->bbo_recv_ns)
            snprintf(buf, cap, "no BBO received");
        else
            snprintf(buf, cap, "BBO age %lld ms > %lld ms", (long long)ms(now - v->bbo_recv_ns),
                     (long long)ms(g->bbo_max_age_ns));
        return;
    case G_TIMEREG:
        if (st)
            snprintf(buf, cap, "%s venue_ts went back %lld ms", STREAM_NAMES[st->tr_stream],
                     (long long)ms(st->tr_prev - st->tr_new));
        else
            snprintf(buf, cap, "venue time went back");
        return;
    }
    snprintf(buf, cap, "?");
}

static int first_gate(uint32_t mask)
{
    for (int k = 0; k < G_COUNT; k++)
        if (mask & BIT(k))
            return k;
    return G_COUNT;
}

/* ---- check ------------------------------------------------------------------------ */

static void gates_check(void *self, const ks_order_intent_t *in, const ks_portfolio_t *pf,
                        ks_risk_decision_t *out)
{
    risk_gates_t *g = self;
    ks_market_view_t v;
    char sym[KS_SYMBOL_LEN], why[112];
    if (in->reduce_only)
        return;
    int64_t now = pf->api->now_ns(pf);
    gate_inst_t *st = state_of(g, in->inst);
    if (st && !st->known && !st->wanted) {
        /* Not tracked yet: ask the next sweep to (no allocation here). */
        st->wanted = true;
        if (in->inst >= g->n_inst)
            g->n_inst = in->inst + 1;
    }
    if (st && !st->cap_resolved)
        resolve_cap(g, st, pf, in->inst);
    KS_INIT(&v);
    if (pf->api->market(pf, in->inst, &v) != KS_OK) {
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
    }
    uint32_t m = eval_gates(g, st, &v, now);
    bool stop = latched(st, now);
    /* A ParamChange whose stop has run out is accepted; on_event re-bases it. */
    if ((m & BIT(G_PARAM)) && st && (st->active & BIT(G_PARAM)) && !stop)
        m &= ~BIT(G_PARAM);
    if (stop) {
        int k = first_gate(st->stop_gates);
        if (st->stop_until == KS_RISK_UTIL_FOREVER)
            ks_risk_util_decide(out, KS_RISK_REJECT, "%s stop on %s: %s (latched until restart)",
                                k < G_COUNT ? GATE_NAMES[k] : "gate",
                                ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), st->stop_why);
        else
            ks_risk_util_decide(out, KS_RISK_REJECT, "%s stop on %s: %s (latched %lld s more)",
                                k < G_COUNT ? GATE_NAMES[k] : "gate",
                                ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), st->stop_why,
                                (long long)((st->stop_until - now + 999999999) / 1000000000));
        return;
    }
    if (!m)
        return;
    bool holding =
        (m & BIT(G_MARKMID)) && !ks_dec_is_zero(pf->api->position(pf, in->strategy, in->inst));
    for (size_t i = 0; i < sizeof(REJECT_ORDER) / sizeof(REJECT_ORDER[0]); i++) {
        int k = REJECT_ORDER[i];
        if (!(m & BIT(k)) || (k == G_MARKMID && holding))
            continue;
        describe(g, st, &v, now, k, why, sizeof(why));
        ks_risk_util_decide(out, KS_RISK_REJECT, "%s on %s: %s%s", GATE_NAMES[k],
                            ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), why,
                            k == G_MARKMID ? "; no new entries while flat" : "");
        return;
    }
    /* Only resizing gates are left: MarkMidDivergence while holding, SpreadShock. One
     * division by size_divisor whatever their number, rounded down to the lot. */
    int k = (m & BIT(G_MARKMID)) ? G_MARKMID : G_SPREAD;
    ks_instrument_t spec;
    ks_dec_t q;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    KS_INIT(&spec);
    describe(g, st, &v, now, k, why, sizeof(why));
    if (ks_dec_div(in->qty, g->size_divisor, KS_DEC_MAX_SCALE, KS_ROUND_FLOOR, &q) != KS_OK)
        q = KS_DEC_ZERO;
    if (pf->api->instrument(pf, in->inst, &spec) == KS_OK && ks_dec_sign(spec.lot_size) > 0 &&
        ks_dec_quantize(q, spec.lot_size, KS_ROUND_FLOOR, &q) != KS_OK)
        q = KS_DEC_ZERO;
    q = ks_dec_normalize(q);
    if (ks_dec_sign(q) <= 0) {
        ks_risk_util_decide(out, KS_RISK_REJECT, "%s on %s: %s; size /%lld leaves less than a lot",
                            GATE_NAMES[k], ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), why,
                            (long long)g->size_divisor.mant);
        return;
    }
    ks_risk_util_decide(out, KS_RISK_RESIZE, "%s on %s: %s; size /%lld: %s -> %s", GATE_NAMES[k],
                        ks_risk_util_symbol(pf, in->inst, sym, sizeof(sym)), why,
                        (long long)g->size_divisor.mant, ks_risk_util_fmt(in->qty, a),
                        ks_risk_util_fmt(q, b));
    out->qty = q;
}

/* ---- on_event --------------------------------------------------------------------- */

static void latch(const risk_gates_t *g, gate_inst_t *st, int gate, int64_t now, const char *why)
{
    int64_t until = g->stop_latch_ns ? now + g->stop_latch_ns : KS_RISK_UTIL_FOREVER;
    if (!st->stop_until)
        snprintf(st->stop_why, sizeof(st->stop_why), "%s", why);
    if (st->stop_until != KS_RISK_UTIL_FOREVER && until > st->stop_until)
        st->stop_until = until;
    if (!st->stop_gates)
        st->stop_gates = BIT(gate);
}

static void act(risk_gates_t *g, uint32_t kind, int32_t inst, ks_dec_t fraction, int gate,
                const char *sym, const char *why)
{
    char reason[KS_REASON_LEN];
    ks_risk_util_line(reason, sizeof(reason), "%s on %s: %s", GATE_NAMES[gate], sym, why);
    g->api->log(g->host, KS_LOG_WARN, "%s: %s on %s (%s)",
                kind == KS_ACT_CANCEL_ALL ? "cancel all" : "reduce 100%", GATE_NAMES[gate], sym,
                why);
    ks_risk_util_act(g->api, g->host, kind, NULL, inst, fraction, reason);
}

static void publish(risk_gates_t *g, const char *sym, const gate_inst_t *st, int64_t now)
{
    char metric[KS_SYMBOL_LEN + 16];
    snprintf(metric, sizeof(metric), "gates_%s", sym);
    ks_risk_util_metric(g->api, g->host, metric, (double)st->active);
    snprintf(metric, sizeof(metric), "stopped_%s", sym);
    ks_risk_util_metric(g->api, g->host, metric, latched(st, now) ? 1.0 : 0.0);
}

/* The symbol of inst, looked up the first time something is logged, requested or
 * published (buf starts empty). */
static const char *symbol_once(const ks_portfolio_t *pf, int32_t inst, char *buf, size_t cap)
{
    return buf[0] ? buf : ks_risk_util_symbol(pf, inst, buf, cap);
}

/* Re-evaluates one instrument: logs transitions, ends expired stops, requests actions. */
static void evaluate(risk_gates_t *g, int32_t inst, const ks_portfolio_t *pf, int64_t now)
{
    gate_inst_t *st = state_of(g, inst);
    ks_market_view_t v;
    char sym[KS_SYMBOL_LEN], why[112];
    if (!st)
        return;
    KS_INIT(&v);
    if (pf->api->market(pf, inst, &v) != KS_OK)
        return;
    if (!st->known) {
        st->known = true;
        if (inst >= g->n_inst)
            g->n_inst = inst + 1;
    }
    if (!st->base_set) {
        st->base_set = true;
        st->spec_base = v.spec_version;
    }
    if (!st->cap_resolved)
        resolve_cap(g, st, pf, inst);
    bool was_stopped = st->stop_until != 0;
    bool expired = was_stopped && st->stop_until != KS_RISK_UTIL_FOREVER && now >= st->stop_until;
    uint32_t m = eval_gates(g, st, &v, now);
    if (!expired && m == st->active &&
        !(m & (BIT(G_PARAM) | BIT(G_HALT) | BIT(G_TIMEREG) | BIT(G_NOBBO))))
        return; /* the common case: nothing changed, nothing to act on */
    sym[0] = '\0';

    if (expired) {
        /* The stop ran out: a changed spec becomes the new baseline, a venue-clock
         * regression is forgotten; gates whose condition persists stay active. */
        g->api->log(g->host, KS_LOG_INFO, "stop on %s lifted after %lld s",
                    symbol_once(pf, inst, sym, sizeof(sym)),
                    (long long)(g->stop_latch_ns / 1000000000));
        st->spec_base = v.spec_version;
        st->tr_hit = false;
        st->stop_until = 0;
        st->stop_gates = 0;
        st->did_cancel &= ~(BIT(G_PARAM) | BIT(G_TIMEREG));
        st->did_reduce &= ~(BIT(G_PARAM) | BIT(G_TIMEREG));
        m = eval_gates(g, st, &v, now);
    }
    uint32_t rise = m & ~st->active, fall = st->active & ~m;
    for (int k = 0; k < G_COUNT; k++) {
        if (!((rise | fall) & BIT(k)))
            continue;
        if (rise & BIT(k)) {
            describe(g, st, &v, now, k, why, sizeof(why));
            g->api->log(g->host, KS_LOG_WARN, "gate %s on for %s: %s", GATE_NAMES[k],
                        symbol_once(pf, inst, sym, sizeof(sym)), why);
        } else {
            g->api->log(g->host, KS_LOG_INFO, "gate %s off for %s", GATE_NAMES[k],
                        symbol_once(pf, inst, sym, sizeof(sym)));
            st->did_cancel &= ~BIT(k);
            st->did_reduce &= ~BIT(k);
        }
    }
    uint32_t acting = m & (BIT(G_PARAM) | BIT(G_HALT) | BIT(G_TIMEREG) | BIT(G_NOBBO));
    if (acting) {
        /* At most one cancel and one reduce per instrument and evaluation, named after the
         * hardest gate asking for it (a halt arrives as a spec change too). */
        bool holding = !ks_dec_is_zero(pf->api->position(pf, NULL, inst));
        int cancel_by = -1, reduce_by = -1;
        uint32_t cancel_bits = 0, reduce_bits = 0;
        for (size_t i = 0; i < sizeof(REJECT_ORDER) / sizeof(REJECT_ORDER[0]); i++) {
            int k = REJECT_ORDER[i];
            if (!(acting & BIT(k)))
                continue;
            if (k != G_NOBBO && !(st->did_cancel & BIT(k))) {
                cancel_bits |= BIT(k);
                if (cancel_by < 0)
                    cancel_by = k;
            }
            if (holding && k != G_TIMEREG && !(st->did_reduce & BIT(k))) {
                reduce_bits |= BIT(k);
                if (reduce_by < 0)
                    reduce_by = k;
            }
        }
        /* Cancel first, so no resting order re-opens what the reduce closes. */
        if (cancel_by >= 0) {
            describe(g, st, &v, now, cancel_by, why, sizeof(why));
            act(g, KS_ACT_CANCEL_ALL, inst, KS_DEC_ZERO, cancel_by,
                symbol_once(pf, inst, sym, sizeof(sym)), why);
            latch(g, st, cancel_by, now, why);
            st->did_cancel |= cancel_bits;
        }
        if (reduce_by >= 0) {
            describe(g, st, &v, now, reduce_by, why, sizeof(why));
            act(g, KS_ACT_REDUCE, inst, KS_DEC(1, 0), reduce_by,
                symbol_once(pf, inst, sym, sizeof(sym)), why);
            latch(g, st, reduce_by, now, why);
            st->did_reduce |= reduce_bits;
        }
    }
    bool changed = m != st->active || was_stopped != (st->stop_until != 0);
    st->active = m;
    if (changed)
        publish(g, symbol_once(pf, inst, sym, sizeof(sym)), st, now);
}

static int stream_of(int type)
{
    switch ((ks_event_type_t)type) {
    case KS_EV_BBO:
        return S_BBO;
    case KS_EV_BOOK:
        return S_BOOK;
    case KS_EV_TRADE:
        return S_TRADE;
    case KS_EV_TICKER:
        return S_TICKER;
    case KS_EV_ORACLE:
        return S_ORACLE;
    case KS_EV_LIQUIDATION:
        return S_LIQ;
    case KS_EV_ORDER:
    case KS_EV_FILL:
    case KS_EV_POSITION:
    case KS_EV_BALANCE:
    case KS_EV_FUNDING:
    case KS_EV_CONN:
    case KS_EV_INSTRUMENT:
    case KS_EV_SYNC_DONE:
    case KS_EV_TRANSFER:
        break;
    }
    return -1;
}

/* Per stream, so two channels of one venue that interleave by a few ms are not a
 * regression; fetch replies and book snapshots may be older than the live feed. */
static void track_venue_clock(risk_gates_t *g, gate_inst_t *st, const ks_event_t *ev)
{
    int s = stream_of(ev->type);
    if (s < 0 || !ev->venue_ts || (ev->flags & KS_EVF_SNAPSHOT))
        return;
    if (ev->type == KS_EV_BOOK && ((const ks_book_t *)ev)->snapshot)
        return;
    int64_t last = st->last_vts[s];
    if (last && ev->venue_ts < last - g->time_tolerance_ns) {
        if (!st->tr_hit) {
            st->tr_hit = true;
            st->tr_stream = s;
            st->tr_prev = last;
            st->tr_new = ev->venue_ts;
        }
        return;
    }
    if (ev->venue_ts > last)
        st->last_vts[s] = ev->venue_ts;
}

static void track_spread(risk_gates_t *g, gate_inst_t *st, const ks_bbo_t *b)
{
    ks_dec_t spread, diff, step;
    bool ready = st->samples >= (uint32_t)g->spread_min_samples;
    if (ks_dec_sign(b->bid_px) <= 0 || ks_dec_sign(b->ask_px) <= 0 ||
        ks_dec_sub(b->ask_px, b->bid_px, &spread) != KS_OK || ks_dec_sign(spread) < 0) {
        /* A missing side or a crossed book: the spread is as wide as it gets. */
        st->shock = ready;
        st->shock_spread = KS_DEC(-1, 0);
        return;
    }
    st->shock = ready && ks_risk_util_cmp_prod(spread, KS_DEC(1, 0), g->spread_k, st->ewma) > 0;
    st->shock_spread = spread;
    st->shock_ewma = st->ewma;
    if (st->samples == 0) {
        st->ewma = spread;
    } else if (ks_dec_sub(spread, st->ewma, &diff) == KS_OK &&
               ks_risk_util_mul(g->spread_alpha, diff, 12, KS_ROUND_HALF_EVEN, &step) == KS_OK) {
        ks_dec_t e;
        if (ks_dec_add(st->ewma, step, &e) == KS_OK)
            st->ewma = ks_dec_normalize(e);
    }
    if (st->samples < UINT32_MAX)
        st->samples++;
}

static void gates_on_event(void *self, const ks_event_t *ev, const ks_portfolio_t *pf)
{
    risk_gates_t *g = self;
    int64_t now = pf->api->now_ns(pf);
    int32_t inst = ev->inst;
    bool market = stream_of(ev->type) >= 0;

    if (inst >= 0 && inst >= g->cap_inst &&
        ks_risk_util_grow((void **)&g->inst, &g->cap_inst, inst + 1, sizeof(*g->inst)) != KS_OK) {
        if (!g->grow_failed)
            g->api->log(g->host, KS_LOG_ERROR, "out of memory tracking instrument %d", inst);
        g->grow_failed = true;
        inst = -1;
    }
    gate_inst_t *st = state_of(g, inst);
    if (st && ev->type == KS_EV_INSTRUMENT && !st->base_set) {
        /* Registration: remember the first spec, but track only what is traded or quoted. */
        st->base_set = true;
        st->spec_base = ((const ks_instrument_event_t *)ev)->spec_version;
    }
    if (st && (st->known || st->wanted || market || ev->type == KS_EV_ORDER ||
               ev->type == KS_EV_FILL || ev->type == KS_EV_POSITION)) {
        if (market) {
            track_venue_clock(g, st, ev);
            if (ev->type == KS_EV_BBO)
                track_spread(g, st, (const ks_bbo_t *)ev);
        }
        evaluate(g, inst, pf, now);
    }
    /* Gates also change with time alone (a stale BBO, a stop running out): sweep every
     * known instrument now and then, on whatever event comes. */
    if (now - g->last_sweep >= g->sweep_ns) {
        g->last_sweep = now;
        for (int32_t i = 0; i < g->n_inst; i++)
            if (i != inst && (g->inst[i].known || g->inst[i].wanted))
                evaluate(g, i, pf, now);
    }
}

static const ks_risk_ops_t ops = {
    .struct_size = sizeof(ks_risk_ops_t),
    .open = gates_open,
    .close = gates_close,
    .check = gates_check,
    .on_event = gates_on_event,
};

static const ks_plugin_desc_t desc = KS_PLUGIN_DESC(
    KS_PLUGIN_RISK, "risk_gates", "1.0.0",
    "Oracle-dislocation gates: OracleFresh, MarkMidDivergence, SpreadShock, OiCap, ParamChange, "
    "Halt, NoBboUpdate, TimeRegression",
    &ops);

KS_PLUGIN_DEFINE(desc)
