/* risk_drawdown: the equity high-water mark of each strategy, sampled on events at most
 * every check_interval_ms of host time. warn_pct below it: a log line and a notice to the
 * strategy, once per crossing. stop_pct below it: check() rejects the strategy's new
 * entries until equity is back above the stop level. The mark persists in the plugin's
 * key-value store, so a restart does not forgive a drawdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/kestrel.h>

#include "../common/risk_util.h"

#define MAX_STRATEGIES 128

enum { LVL_OK = 0, LVL_WARN = 1, LVL_STOP = 2 };

typedef struct dd_strat {
    char name[KS_NAME_LEN];
    bool loaded; /* hwm initialized (from the store or the first equity seen) */
    bool fresh;  /* registered by check(): evaluate at the next event, throttle or not */
    uint8_t level;
    ks_dec_t hwm, equity; /* as of the last evaluation */
} dd_strat_t;

typedef struct risk_drawdown {
    const ks_host_api_t *api; /* borrowed; valid until close() */
    ks_host_t *host;
    ks_dec_t warn_pct, stop_pct;
    ks_dec_t warn_keep, stop_keep; /* 1 - pct/100: the share of the mark a level keeps */
    int64_t interval_ns;
    bool persist, reset;
    int64_t last_eval;
    bool evaluated_once;
    bool any_fresh;
    dd_strat_t *strats; /* MAX_STRATEGIES slots, n used */
    int n;
    bool full_logged;
} risk_drawdown_t;

static const char *const KEYS[] = {
    "warn_pct", "stop_pct", "check_interval_ms", "strategies", "persist_hwm", "reset_hwm", NULL};

static int read_pct(const ks_json_t *root, const char *key, ks_dec_t *out, char *err,
                    size_t err_len)
{
    char b[KS_DEC_STRLEN];
    ks_dec_t d;
    int rc = ks_json_get_dec(root, "", key, &d, err, err_len);
    if (rc <= 0)
        return rc;
    if (ks_dec_sign(d) <= 0 || ks_dec_cmp(d, KS_DEC(100, 0)) >= 0 ||
        d.scale > KS_DEC_MAX_SCALE - 2) {
        snprintf(err, err_len, "%s: must be a percentage in (0, 100), got %s", key,
                 ks_risk_util_fmt(d, b));
        return KS_EINVAL;
    }
    *out = d;
    return KS_OK;
}

/* 1 - pct/100, exact. */
static ks_dec_t keep_of(ks_dec_t pct)
{
    ks_dec_t frac = KS_DEC(pct.mant, pct.scale + 2), keep = KS_DEC_ZERO;
    ks_dec_sub(KS_DEC(1, 0), frac, &keep);
    return keep;
}

static dd_strat_t *find(risk_drawdown_t *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->strats[i].name, name) == 0)
            return &d->strats[i];
    return NULL;
}

/* Adds a slot without allocating (check() calls this). NULL when the table is full or the
 * name cannot be a strategy name. */
static dd_strat_t *add(risk_drawdown_t *d, const char *name)
{
    if (d->n >= MAX_STRATEGIES || !name[0] || strlen(name) >= KS_NAME_LEN)
        return NULL;
    dd_strat_t *s = &d->strats[d->n++];
    memset(s, 0, sizeof(*s));
    ks_strlcpy(s->name, name, sizeof(s->name));
    s->fresh = true;
    d->any_fresh = true;
    return s;
}

static void dd_close(void *self)
{
    risk_drawdown_t *d = self;
    if (!d)
        return;
    free(d->strats);
    free(d);
}

static int dd_open(const ks_host_api_t *api, ks_host_t *host, const char *name,
                   const char *config_json, void **self, char *err, size_t err_len)
{
    ks_json_doc_t doc;
    const ks_json_t *root, *list = NULL;
    risk_drawdown_t *d = calloc(1, sizeof(*d));
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    int64_t ms = 1000;
    int rc;

    *self = NULL;
    if (!d || !(d->strats = calloc(MAX_STRATEGIES, sizeof(*d->strats)))) {
        free(d);
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    d->api = api;
    d->host = host;
    d->warn_pct = KS_DEC(5, 0);
    d->stop_pct = KS_DEC(10, 0);
    d->persist = true;

    if ((rc = ks_risk_util_config(config_json, &doc, &root, err, err_len)) != KS_OK)
        goto fail;
    if ((rc = ks_json_check_keys(root, "", KEYS, err, err_len)) != KS_OK ||
        (rc = read_pct(root, "warn_pct", &d->warn_pct, err, err_len)) < 0 ||
        (rc = read_pct(root, "stop_pct", &d->stop_pct, err, err_len)) < 0 ||
        (rc = ks_json_get_int(root, "", "check_interval_ms", 0, 3600000, &ms, err, err_len)) < 0 ||
        (rc = ks_json_get_bool(root, "", "persist_hwm", &d->persist, err, err_len)) < 0 ||
        (rc = ks_json_get_bool(root, "", "reset_hwm", &d->reset, err, err_len)) < 0 ||
        (rc = ks_json_get_array(root, "", "strategies", &list, err, err_len)) < 0)
        goto fail;
    if (ks_dec_cmp(d->warn_pct, d->stop_pct) > 0) {
        snprintf(err, err_len, "warn_pct: %s is above stop_pct %s",
                 ks_risk_util_fmt(d->warn_pct, a), ks_risk_util_fmt(d->stop_pct, b));
        rc = KS_EINVAL;
        goto fail;
    }
    d->interval_ns = ms * KS_RISK_UTIL_MS_NS;
    d->warn_keep = keep_of(d->warn_pct);
    d->stop_keep = keep_of(d->stop_pct);
    int i = 0;
    for (const ks_json_t *s = list ? list->child : NULL; s; s = s->next, i++) {
        char q[64];
        if (s->type != KS_JSON_STRING || !s->text[0] || s->len >= KS_NAME_LEN ||
            strlen(s->text) != s->len) {
            snprintf(err, err_len, "strategies[%d]: expected a strategy name, got %s", i,
                     ks_json_quote(s, q, sizeof(q)));
            rc = KS_EINVAL;
            goto fail;
        }
        if (!find(d, s->text) && !add(d, s->text)) {
            snprintf(err, err_len, "strategies: more than %d strategies", MAX_STRATEGIES);
            rc = KS_EINVAL;
            goto fail;
        }
    }
    ks_json_free(&doc);
    api->log(host, KS_LOG_INFO,
             "risk_drawdown %s: warn %s%%, stop %s%% below the high-water mark, every %lld ms, "
             "%d strategy(ies) listed, hwm %s",
             name, ks_risk_util_fmt(d->warn_pct, a), ks_risk_util_fmt(d->stop_pct, b),
             (long long)ms, d->n, d->persist ? (d->reset ? "reset" : "persisted") : "in memory");
    *self = d;
    return KS_OK;

fail:
    ks_json_free(&doc);
    dd_close(d);
    return rc;
}

static void kv_key(const dd_strat_t *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "hwm.%s", s->name);
}

static bool kv_ok(const ks_host_api_t *api)
{
    return KS_HAS_FIELD(api, ks_host_api_t, kv_set) && api->kv_get && api->kv_set;
}

/* The stored mark of a strategy, if any. */
static bool load_hwm(risk_drawdown_t *d, const dd_strat_t *s, ks_dec_t *out)
{
    char key[KS_NAME_LEN + 8], buf[KS_DEC_STRLEN];
    size_t len = 0;
    if (!d->persist || d->reset || !kv_ok(d->api))
        return false;
    kv_key(s, key, sizeof(key));
    if (d->api->kv_get(d->host, key, buf, sizeof(buf) - 1, &len) != KS_OK || len >= sizeof(buf))
        return false;
    buf[len] = '\0';
    return ks_dec_parse(buf, len, out) == KS_OK;
}

static void save_hwm(risk_drawdown_t *d, const dd_strat_t *s)
{
    char key[KS_NAME_LEN + 8], buf[KS_DEC_STRLEN];
    if (!d->persist || !kv_ok(d->api))
        return;
    kv_key(s, key, sizeof(key));
    int n = ks_dec_format(s->hwm, buf, sizeof(buf));
    if (n > 0 && d->api->kv_set(d->host, key, buf, (size_t)n) != KS_OK)
        d->api->log(d->host, KS_LOG_WARN, "cannot persist the high-water mark of %s", s->name);
}

/* Level at hwm: eq <= hwm * keep is at or beyond that drawdown (exact). */
static bool at_or_below(ks_dec_t eq, ks_dec_t hwm, ks_dec_t keep)
{
    return ks_risk_util_cmp_prod(eq, KS_DEC(1, 0), hwm, keep) <= 0;
}

static ks_dec_t level_px(ks_dec_t hwm, ks_dec_t keep)
{
    ks_dec_t v = KS_DEC_ZERO;
    ks_risk_util_mul(hwm, keep, 8, KS_ROUND_HALF_UP, &v);
    return ks_dec_normalize(v);
}

static ks_dec_t drawdown_pct(const dd_strat_t *s)
{
    ks_dec_t diff = KS_DEC_ZERO;
    ks_dec_sub(s->hwm, s->equity, &diff);
    return ks_risk_util_pct(diff, s->hwm);
}

static void notify(risk_drawdown_t *d, const dd_strat_t *s, int level, const char *reason)
{
    d->api->log(d->host, level, "%s", reason);
    ks_risk_util_act(d->api, d->host, KS_ACT_NOTIFY, s->name, -1, KS_DEC_ZERO, reason);
}

static void evaluate(risk_drawdown_t *d, dd_strat_t *s, const ks_portfolio_t *pf)
{
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], c[KS_DEC_STRLEN], e[KS_DEC_STRLEN];
    char reason[KS_REASON_LEN];
    ks_dec_t eq = pf->api->equity(pf, s->name), stored;
    s->equity = eq;
    s->fresh = false;
    if (!s->loaded) {
        s->loaded = true;
        s->hwm = eq;
        if (load_hwm(d, s, &stored) && ks_dec_cmp(stored, eq) > 0) {
            s->hwm = stored;
            d->api->log(d->host, KS_LOG_INFO,
                        "strategy %s: high-water mark %s restored (equity %s)", s->name,
                        ks_risk_util_fmt(stored, a), ks_risk_util_fmt(eq, b));
        } else {
            save_hwm(d, s);
        }
    } else if (ks_dec_cmp(eq, s->hwm) > 0) {
        s->hwm = eq;
        save_hwm(d, s);
    }
    int level = LVL_OK;
    if (ks_dec_sign(s->hwm) > 0) {
        if (at_or_below(eq, s->hwm, d->stop_keep))
            level = LVL_STOP;
        else if (at_or_below(eq, s->hwm, d->warn_keep))
            level = LVL_WARN;
    }
    if (level == s->level)
        return;
    ks_risk_util_fmt(eq, a);
    ks_risk_util_fmt(drawdown_pct(s), b);
    ks_risk_util_fmt(s->hwm, c);
    if (level > s->level) {
        /* Every level crossed on the way down is announced once, warn before stop. */
        if (s->level < LVL_WARN) {
            ks_risk_util_line(
                reason, sizeof(reason),
                "drawdown warning: strategy %s equity %s is %s%% below high-water mark %s "
                "(warn at %s%%)",
                s->name, a, b, c, ks_risk_util_fmt(d->warn_pct, e));
            notify(d, s, KS_LOG_WARN, reason);
        }
        if (level == LVL_STOP) {
            ks_risk_util_line(
                reason, sizeof(reason),
                "drawdown stop: strategy %s equity %s is %s%% below high-water mark %s; "
                "new entries rejected until above %s",
                s->name, a, b, c, ks_risk_util_fmt(level_px(s->hwm, d->stop_keep), e));
            notify(d, s, KS_LOG_WARN, reason);
        }
    } else if (s->level == LVL_STOP) {
        ks_risk_util_line(reason, sizeof(reason),
                          "drawdown stop lifted: strategy %s equity %s is back above the stop "
                          "level %s (high-water mark %s)",
                          s->name, a, ks_risk_util_fmt(level_px(s->hwm, d->stop_keep), e), c);
        notify(d, s, KS_LOG_INFO, reason);
    } else {
        d->api->log(d->host, KS_LOG_INFO,
                    "drawdown warning cleared: strategy %s equity %s (%s%% below %s)", s->name, a,
                    b, c);
    }
    s->level = (uint8_t)level;
    char metric[KS_NAME_LEN + 16];
    snprintf(metric, sizeof(metric), "drawdown_level_%s", s->name);
    ks_risk_util_metric(d->api, d->host, metric, level);
}

static void dd_on_event(void *self, const ks_event_t *ev, const ks_portfolio_t *pf)
{
    risk_drawdown_t *d = self;
    int64_t now = pf->api->now_ns(pf);
    bool due = !d->evaluated_once || now - d->last_eval >= d->interval_ns;
    if (!due && !d->any_fresh)
        return;
    for (int i = 0; i < d->n; i++)
        if (due || d->strats[i].fresh)
            evaluate(d, &d->strats[i], pf);
    d->any_fresh = false;
    if (due) {
        d->last_eval = now;
        d->evaluated_once = true;
    }
}

static void dd_check(void *self, const ks_order_intent_t *in, const ks_portfolio_t *pf,
                     ks_risk_decision_t *out)
{
    risk_drawdown_t *d = self;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], c[KS_DEC_STRLEN], e[KS_DEC_STRLEN];
    if (in->reduce_only)
        return;
    const char *name = in->strategy ? in->strategy : "";
    dd_strat_t *s = find(d, name);
    if (!s) {
        /* First intent of a strategy: its mark starts at the next event. */
        if (add(d, name))
            return;
        ks_risk_util_decide(out, KS_RISK_REJECT,
                            "drawdown: cannot track strategy '%s' (empty, too long, or more "
                            "than %d strategies)",
                            name, MAX_STRATEGIES);
        return;
    }
    if (s->level != LVL_STOP)
        return;
    ks_risk_util_decide(out, KS_RISK_REJECT,
                        "drawdown stop: strategy %s equity %s is %s%% below high-water mark %s "
                        "(stop at %s%%)",
                        s->name, ks_risk_util_fmt(s->equity, a),
                        ks_risk_util_fmt(drawdown_pct(s), b), ks_risk_util_fmt(s->hwm, c),
                        ks_risk_util_fmt(d->stop_pct, e));
}

static const ks_risk_ops_t ops = {
    .struct_size = sizeof(ks_risk_ops_t),
    .open = dd_open,
    .close = dd_close,
    .check = dd_check,
    .on_event = dd_on_event,
};

static const ks_plugin_desc_t desc = KS_PLUGIN_DESC(
    KS_PLUGIN_RISK, "risk_drawdown", "1.0.0",
    "Drawdown guard: equity high-water mark per strategy, warn and stop levels", &ops);

KS_PLUGIN_DEFINE(desc)
