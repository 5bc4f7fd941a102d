/* The fake host and portfolio of the risk plugin tests (see fake.h). */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake.h"

/* ---- decimals ------------------------------------------------------------------------ */

ks_dec_t D(const char *s)
{
    ks_dec_t d;
    int rc = ks_dec_parse(s, (size_t)-1, &d);
    if (rc != KS_OK)
        fail_msg("parse(%s) = %d", s, rc);
    return d;
}

const char *F(ks_dec_t d)
{
    static char buf[8][KS_DEC_STRLEN];
    static int i;
    i = (i + 1) % 8;
    ks_dec_format(d, buf[i], sizeof(buf[i]));
    return buf[i];
}

/* ---- host services --------------------------------------------------------------------- */

static void h_log(ks_host_t *h, int level, const char *fmt, ...) KS_PRINTF(3, 4);
static void h_log(ks_host_t *h, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (getenv("FAKE_VERBOSE"))
        printf("  [log %d] %s\n", level, line);
    if (h->n_logs >= FAKE_MAX_LOGS)
        fail_msg("more than %d log lines", FAKE_MAX_LOGS);
    h->log_level[h->n_logs] = level;
    snprintf(h->logs[h->n_logs++], sizeof(h->logs[0]), "%s", line);
}

static int64_t h_now(ks_host_t *h)
{
    return h->now_ns;
}

static int64_t h_wall(ks_host_t *h)
{
    return 1767225600LL * FAKE_SEC + h->now_ns;
}

static void h_metric(ks_host_t *h, const char *name, double value)
{
    for (int i = 0; i < h->n_metrics; i++) {
        if (strcmp(h->metrics[i].name, name) == 0) {
            h->metrics[i].value = value;
            return;
        }
    }
    if (h->n_metrics >= FAKE_MAX_METRICS)
        fail_msg("more than %d metrics", FAKE_MAX_METRICS);
    snprintf(h->metrics[h->n_metrics].name, sizeof(h->metrics[0].name), "%s", name);
    h->metrics[h->n_metrics++].value = value;
}

static int h_kv_get(ks_host_t *h, const char *key, void *buf, size_t cap, size_t *len)
{
    for (int i = 0; i < h->n_kv; i++) {
        if (strcmp(h->kv[i].key, key) == 0) {
            memcpy(buf, h->kv[i].val, h->kv[i].len < cap ? h->kv[i].len : cap);
            *len = h->kv[i].len;
            return KS_OK;
        }
    }
    return KS_ENOENT;
}

static int h_kv_set(ks_host_t *h, const char *key, const void *val, size_t len)
{
    int i = 0;
    while (i < h->n_kv && strcmp(h->kv[i].key, key) != 0)
        i++;
    if (i == h->n_kv) {
        if (h->n_kv >= FAKE_MAX_KV)
            return KS_ENOMEM;
        h->n_kv++;
    }
    if (len >= sizeof(h->kv[i].val))
        return KS_ERANGE;
    snprintf(h->kv[i].key, sizeof(h->kv[i].key), "%s", key);
    memcpy(h->kv[i].val, val, len);
    h->kv[i].val[len] = '\0';
    h->kv[i].len = len;
    return KS_OK;
}

static int h_request_action(ks_host_t *h, const ks_action_t *act)
{
    if (h->n_actions >= FAKE_MAX_ACTIONS)
        fail_msg("more than %d actions", FAKE_MAX_ACTIONS);
    assert_int_equal(act->struct_size, sizeof(ks_action_t));
    fake_action_t *a = &h->actions[h->n_actions++];
    memset(a, 0, sizeof(*a));
    a->kind = act->kind;
    a->all_strategies = act->strategy == NULL;
    snprintf(a->strategy, sizeof(a->strategy), "%s", act->strategy ? act->strategy : "");
    a->inst = act->inst;
    a->fraction = act->fraction;
    snprintf(a->reason, sizeof(a->reason), "%s", act->reason ? act->reason : "");
    if (getenv("FAKE_VERBOSE"))
        printf("  [action %u] inst %d %s: %s\n", a->kind, a->inst, F(a->fraction), a->reason);
    /* One line, and no quote: the host embeds reasons in its JSON journal. */
    assert_null(strchr(a->reason, '\n'));
    assert_null(strchr(a->reason, '"'));
    return KS_OK;
}

/* ---- portfolio ------------------------------------------------------------------------- */

static fake_pf_t *pf_of(const ks_portfolio_t *pf)
{
    return (fake_pf_t *)pf;
}

static const fake_strat_t *strat_of(const fake_pf_t *p, const char *name)
{
    for (int i = 0; name && i < p->n_strats; i++)
        if (strcmp(p->strats[i].name, name) == 0)
            return &p->strats[i];
    return NULL;
}

static bool inst_ok(const fake_pf_t *p, int32_t inst)
{
    return inst >= 0 && inst < p->n_inst;
}

static int64_t pf_now(const ks_portfolio_t *pf)
{
    return pf_of(pf)->host->now_ns;
}

static ks_dec_t pf_position(const ks_portfolio_t *pf, const char *strategy, int32_t inst)
{
    const fake_pf_t *p = pf_of(pf);
    ks_dec_t sum = KS_DEC_ZERO;
    if (!inst_ok(p, inst))
        return sum;
    if (strategy) {
        const fake_strat_t *s = strat_of(p, strategy);
        return s ? s->pos[inst] : sum;
    }
    for (int i = 0; i < p->n_strats; i++)
        ks_dec_add(sum, p->strats[i].pos[inst], &sum);
    return sum;
}

static int pf_open_positions(const ks_portfolio_t *pf, const char *strategy)
{
    const fake_pf_t *p = pf_of(pf);
    int n = 0;
    for (int32_t i = 0; i < p->n_inst; i++)
        n += !ks_dec_is_zero(pf_position(pf, strategy, i));
    return n;
}

static ks_dec_t pf_gross(const ks_portfolio_t *pf, const char *strategy)
{
    const fake_strat_t *s = strat_of(pf_of(pf), strategy);
    return s ? s->gross : KS_DEC_ZERO;
}

static ks_dec_t pf_equity(const ks_portfolio_t *pf, const char *strategy)
{
    const fake_strat_t *s = strat_of(pf_of(pf), strategy);
    return s ? s->equity : KS_DEC_ZERO;
}

static int pf_market(const ks_portfolio_t *pf, int32_t inst, ks_market_view_t *out)
{
    const fake_pf_t *p = pf_of(pf);
    if (!inst_ok(p, inst))
        return KS_ENOENT;
    *out = p->view[inst];
    return KS_OK;
}

static int pf_instrument(const ks_portfolio_t *pf, int32_t inst, ks_instrument_t *out)
{
    const fake_pf_t *p = pf_of(pf);
    if (!inst_ok(p, inst))
        return KS_ENOENT;
    *out = p->inst[inst];
    return KS_OK;
}

static ks_dec_t pf_open_order_qty(const ks_portfolio_t *pf, const char *strategy, int32_t inst)
{
    const fake_pf_t *p = pf_of(pf);
    const fake_strat_t *s = strat_of(p, strategy);
    return s && inst_ok(p, inst) ? s->open_qty[inst] : KS_DEC_ZERO;
}

static const ks_portfolio_api_t pf_api = {
    .struct_size = sizeof(ks_portfolio_api_t),
    .now_ns = pf_now,
    .position = pf_position,
    .open_positions = pf_open_positions,
    .gross_notional = pf_gross,
    .equity = pf_equity,
    .market = pf_market,
    .instrument = pf_instrument,
    .open_order_qty = pf_open_order_qty,
};

/* ---- lifecycle ------------------------------------------------------------------------- */

fake_t *fake_new(const char *plugin)
{
    const char *dir = getenv("KS_BUILD_DIR");
    char path[1024];
    if (!dir || !*dir)
        fail_msg("KS_BUILD_DIR is not set (run through ctest)");
    snprintf(path, sizeof(path), "%s/plugins/%s.so", dir, plugin);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        fail_msg("dlopen(%s): %s", path, dlerror());
    fake_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dl = dl;
    ks_plugin_entry_fn entry = (ks_plugin_entry_fn)dlsym(f->dl, KS_PLUGIN_ENTRY_NAME);
    if (!entry)
        fail_msg("%s: no %s", path, KS_PLUGIN_ENTRY_NAME);
    f->desc = entry();
    assert_int_equal(f->desc->abi_major, KS_ABI_MAJOR);
    assert_int_equal(f->desc->kind, KS_PLUGIN_RISK);
    assert_string_equal(f->desc->name, plugin);
    f->ops = f->desc->ops;
    assert_true(f->ops->struct_size >= sizeof(ks_risk_ops_t));

    f->host.now_ns = 1000 * FAKE_SEC;
    f->pf.pub.api = &pf_api;
    f->pf.host = &f->host;
    f->api.struct_size = sizeof(f->api);
    f->api.abi_major = KS_ABI_MAJOR;
    f->api.abi_minor = KS_ABI_MINOR;
    f->api.log = h_log;
    f->api.now_ns = h_now;
    f->api.wall_ns = h_wall;
    f->api.metric = h_metric;
    f->api.kv_get = h_kv_get;
    f->api.kv_set = h_kv_set;
    f->api.request_action = h_request_action;
    return f;
}

int fake_open(fake_t *f, const char *config_json, char *err, size_t err_len)
{
    char local[512];
    if (!err) {
        err = local;
        err_len = sizeof(local);
    }
    err[0] = '\0';
    int rc = f->ops->open(&f->api, &f->host, f->desc->name, config_json, &f->self, err, err_len);
    if (rc != KS_OK) {
        assert_null(f->self);
        assert_null(strchr(err, '\n'));
    }
    return rc;
}

void fake_free(fake_t *f)
{
    if (!f)
        return;
    if (f->self)
        f->ops->close(f->self);
    if (f->dl)
        dlclose(f->dl);
    free(f);
}

/* ---- scripting ------------------------------------------------------------------------- */

int32_t fake_inst(fake_t *f, const char *symbol, int kind, const char *lot, int max_leverage)
{
    fake_pf_t *p = &f->pf;
    assert_true(p->n_inst < FAKE_MAX_INST);
    int32_t id = p->n_inst++;
    ks_instrument_t *s = &p->inst[id];
    snprintf(p->symbol[id], sizeof(p->symbol[id]), "%s", symbol);
    KS_INIT(s);
    s->kind = (uint32_t)kind;
    s->symbol = p->symbol[id];
    s->tick_size = D("0.1");
    s->lot_size = D(lot);
    s->min_qty = D(lot);
    s->max_leverage = max_leverage;
    s->flags = KS_INST_TRADING;
    s->spec_version = 1;
    ks_market_view_t *v = &p->view[id];
    KS_INIT(v);
    v->spec_version = 1;
    v->inst_flags = KS_INST_TRADING;
    return id;
}

fake_strat_t *fake_strategy(fake_t *f, const char *name, const char *equity)
{
    fake_pf_t *p = &f->pf;
    for (int i = 0; i < p->n_strats; i++) {
        if (strcmp(p->strats[i].name, name) == 0) {
            if (equity)
                p->strats[i].equity = D(equity);
            return &p->strats[i];
        }
    }
    assert_true(p->n_strats < FAKE_MAX_STRATS);
    fake_strat_t *s = &p->strats[p->n_strats++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->equity = equity ? D(equity) : KS_DEC_ZERO;
    return s;
}

void fake_position(fake_t *f, const char *strategy, int32_t inst, const char *qty)
{
    fake_strategy(f, strategy, NULL)->pos[inst] = D(qty);
}

void fake_open_qty(fake_t *f, const char *strategy, int32_t inst, const char *qty)
{
    fake_strategy(f, strategy, NULL)->open_qty[inst] = D(qty);
}

void fake_set_bbo(fake_t *f, int32_t inst, const char *bid, const char *ask)
{
    ks_market_view_t *v = &f->pf.view[inst];
    v->bid_px = bid ? D(bid) : KS_DEC_ZERO;
    v->bid_qty = bid ? D("1") : KS_DEC_ZERO;
    v->ask_px = ask ? D(ask) : KS_DEC_ZERO;
    v->ask_qty = ask ? D("1") : KS_DEC_ZERO;
    v->bbo_recv_ns = f->host.now_ns;
}

void fake_set_mark(fake_t *f, int32_t inst, const char *mark)
{
    ks_market_view_t *v = &f->pf.view[inst];
    v->mark = D(mark);
    v->ticker_recv_ns = f->host.now_ns;
}

void fake_set_oracle(fake_t *f, int32_t inst, const char *px)
{
    ks_market_view_t *v = &f->pf.view[inst];
    v->oracle = D(px);
    v->oracle_recv_ns = f->host.now_ns;
}

void fake_market(fake_t *f, int32_t inst, const char *bid, const char *ask, const char *mark)
{
    fake_set_bbo(f, inst, bid, ask);
    fake_set_mark(f, inst, mark);
    fake_set_oracle(f, inst, mark);
}

void fake_advance_ms(fake_t *f, int64_t ms)
{
    f->host.now_ns += ms * FAKE_MS;
}

ks_risk_decision_t fake_check(fake_t *f, const char *strategy, int32_t inst, int side,
                              const char *qty, const char *price, const char *ref_price,
                              bool reduce_only)
{
    ks_order_intent_t in;
    ks_risk_decision_t d;
    KS_INIT(&in);
    in.strategy = strategy;
    in.inst = inst;
    in.side = (int8_t)side;
    in.type = price ? KS_ORD_LIMIT : KS_ORD_MARKET;
    in.tif = price ? KS_TIF_GTC : KS_TIF_IOC;
    in.reduce_only = reduce_only;
    in.price = price ? D(price) : KS_DEC_ZERO;
    in.qty = D(qty);
    in.ref_price = ref_price ? D(ref_price) : price ? D(price) : f->pf.view[inst].mark;
    KS_INIT(&d);
    d.verdict = KS_RISK_ALLOW;
    f->ops->check(f->self, &in, &f->pf.pub, &d);
    if (getenv("FAKE_VERBOSE"))
        printf("  [check] %s %s %s -> %u %s: %s\n", strategy, side > 0 ? "buy" : "sell", qty,
               d.verdict, F(d.qty), d.reason);
    if (d.verdict != KS_RISK_ALLOW) {
        assert_true(d.reason[0] != '\0');
        assert_null(strchr(d.reason, '\n'));
        assert_null(strchr(d.reason, '"'));
    }
    return d;
}

/* ---- events ------------------------------------------------------------------------- */

void fake_event(fake_t *f, ks_event_t *ev)
{
    if (!ev->recv_ns)
        ev->recv_ns = f->host.now_ns;
    if (f->ops->on_event)
        f->ops->on_event(f->self, ev, &f->pf.pub);
}

static void stamp(fake_t *f, int32_t inst, int64_t venue_ts)
{
    ks_market_view_t *v = &f->pf.view[inst];
    if (venue_ts > v->last_venue_ts)
        v->last_venue_ts = venue_ts;
}

void fake_ev_bbo(fake_t *f, int32_t inst, const char *bid, const char *ask, int64_t venue_ts)
{
    ks_bbo_t ev;
    KS_EVENT_INIT(&ev, KS_EV_BBO);
    ev.hdr.inst = inst;
    ev.hdr.venue_ts = venue_ts;
    fake_set_bbo(f, inst, bid, ask);
    stamp(f, inst, venue_ts);
    ev.bid_px = f->pf.view[inst].bid_px;
    ev.bid_qty = f->pf.view[inst].bid_qty;
    ev.ask_px = f->pf.view[inst].ask_px;
    ev.ask_qty = f->pf.view[inst].ask_qty;
    fake_event(f, &ev.hdr);
}

void fake_ev_ticker(fake_t *f, int32_t inst, const char *mark, const char *oi, int64_t venue_ts)
{
    ks_ticker_t ev;
    KS_EVENT_INIT(&ev, KS_EV_TICKER);
    ev.hdr.inst = inst;
    ev.hdr.venue_ts = venue_ts;
    if (mark) {
        ev.fields |= KS_TK_MARK;
        ev.mark = D(mark);
        f->pf.view[inst].mark = ev.mark;
    }
    if (oi) {
        ev.fields |= KS_TK_OPEN_INTEREST;
        ev.open_interest = D(oi);
        f->pf.view[inst].open_interest = ev.open_interest;
    }
    f->pf.view[inst].ticker_recv_ns = f->host.now_ns;
    stamp(f, inst, venue_ts);
    fake_event(f, &ev.hdr);
}

void fake_ev_oracle(fake_t *f, int32_t inst, const char *px, int64_t venue_ts)
{
    ks_oracle_t ev;
    KS_EVENT_INIT(&ev, KS_EV_ORACLE);
    ev.hdr.inst = inst;
    ev.hdr.venue_ts = venue_ts;
    ev.px = D(px);
    fake_set_oracle(f, inst, px);
    stamp(f, inst, venue_ts);
    fake_event(f, &ev.hdr);
}

void fake_ev_instrument(fake_t *f, int32_t inst)
{
    ks_instrument_event_t ev;
    KS_EVENT_INIT(&ev, KS_EV_INSTRUMENT);
    ev.hdr.inst = inst;
    ev.spec_version = f->pf.inst[inst].spec_version;
    ev.changed = ev.spec_version > 1 ? 1u : 0u;
    fake_event(f, &ev.hdr);
}

void fake_ev_spec_change(fake_t *f, int32_t inst, uint32_t flags)
{
    ks_instrument_t *s = &f->pf.inst[inst];
    s->spec_version++;
    s->flags = flags;
    f->pf.view[inst].spec_version = s->spec_version;
    f->pf.view[inst].inst_flags = flags;
    fake_ev_instrument(f, inst);
}

void fake_ev_position(fake_t *f, int32_t inst, const char *qty, const char *entry, const char *liq,
                      int leverage)
{
    ks_position_t ev;
    KS_EVENT_INIT(&ev, KS_EV_POSITION);
    ev.hdr.inst = inst;
    ev.qty = D(qty);
    ev.entry_px = D(entry);
    ev.liq_px = liq ? D(liq) : KS_DEC_ZERO;
    ev.leverage = leverage;
    fake_event(f, &ev.hdr);
}

void fake_ev_balance(fake_t *f, const char *asset, const char *equity, const char *maint)
{
    ks_balance_t ev;
    KS_EVENT_INIT(&ev, KS_EV_BALANCE);
    ev.wallet = KS_WALLET_UNIFIED;
    snprintf(ev.asset, sizeof(ev.asset), "%s", asset);
    ev.equity = D(equity);
    ev.total = ev.equity;
    ev.maint_margin = D(maint);
    fake_event(f, &ev.hdr);
}

void fake_ev_tick(fake_t *f)
{
    ks_conn_t ev;
    KS_EVENT_INIT(&ev, KS_EV_CONN);
    ev.state = KS_CONN_UP;
    fake_event(f, &ev.hdr);
}

/* ---- recorded output ---------------------------------------------------------------- */

bool fake_logged(const fake_t *f, const char *needle)
{
    return fake_log_count(f, needle) > 0;
}

int fake_log_count(const fake_t *f, const char *needle)
{
    int n = 0;
    for (int i = 0; i < f->host.n_logs; i++)
        n += strstr(f->host.logs[i], needle) != NULL;
    return n;
}

void fake_clear(fake_t *f)
{
    f->host.n_logs = 0;
    f->host.n_actions = 0;
}

const fake_action_t *fake_action(const fake_t *f, int i)
{
    if (i >= f->host.n_actions)
        fail_msg("action %d requested, only %d recorded", i, f->host.n_actions);
    return &f->host.actions[i];
}

double fake_metric(const fake_t *f, const char *name)
{
    for (int i = 0; i < f->host.n_metrics; i++)
        if (strcmp(f->host.metrics[i].name, name) == 0)
            return f->host.metrics[i].value;
    return -1;
}

void fake_kv_put(fake_t *f, const char *key, const char *val)
{
    assert_int_equal(h_kv_set(&f->host, key, val, strlen(val)), KS_OK);
}

const char *fake_kv(const fake_t *f, const char *key)
{
    for (int i = 0; i < f->host.n_kv; i++)
        if (strcmp(f->host.kv[i].key, key) == 0)
            return f->host.kv[i].val;
    return NULL;
}
