/* sim_plugin: the built-in simulated venue as a Kestrel exchange plugin. Glue only: the
 * config (sim_config), the market generator (sim_market) and the matching/account core
 * (sim_core) are driven from one repeating host timer, and the core's results are
 * forwarded to the host through ks_host_api_t.emit. Time comes only from the host. */
#include <kestrel/kestrel.h>

#include "sim_config.h"
#include "sim_core.h"
#include "sim_market.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL

typedef enum sim_req_kind {
    RQ_PLACE = 1,
    RQ_CANCEL = 2,
    RQ_CANCEL_ALL = 3,
    RQ_AMEND = 4,
    RQ_FETCH = 5,
    RQ_TRANSFER = 6,
    RQ_LEVERAGE = 7,
} sim_req_kind_t;

/* A request waiting out latency_ms. Instrument fields hold core indices. */
typedef struct sim_req {
    uint8_t kind; /* sim_req_kind_t */
    int64_t due;  /* host monotonic ns */
    union {
        ks_order_cmd_t place;
        ks_cancel_cmd_t cancel;
        ks_amend_cmd_t amend;
        ks_transfer_cmd_t transfer;
        int32_t cancel_all;
        struct {
            uint32_t what;
            int32_t inst;
            uint64_t req_id;
            char cloid[KS_CLOID_LEN];
        } fetch;
        struct {
            int32_t inst, leverage;
        } lev;
    } u;
} sim_req_t;

typedef struct sim_venue {
    const ks_host_api_t *api;
    ks_host_t *host;
    char name[KS_NAME_LEN];
    ks_sim_config_t cfg;
    ks_sim_core_t *core;
    ks_sim_market_t *mkt;
    int32_t n_inst;
    int32_t host_id[KS_SIM_MAX_INST];
    uint32_t subs[KS_SIM_MAX_INST];
    ks_sim_input_t inputs[KS_SIM_MAX_INST];
    bool started;
    uint64_t step_timer, lat_timer;
    uint64_t steps;
    sim_req_t *q; /* ring of pending requests */
    uint32_t q_head, q_n, q_cap;
} sim_venue_t;

/* ---- helpers ------------------------------------------------------------------- */

static void emit(sim_venue_t *v, const ks_event_t *hdr)
{
    v->api->emit(v->host, hdr);
}

static int32_t core_idx(const sim_venue_t *v, int32_t host_id)
{
    for (int32_t i = 0; i < v->n_inst; i++)
        if (v->host_id[i] == host_id)
            return i;
    return -1;
}

static bool inst_is_perp(int32_t idx)
{
    return idx % 2 == 1; /* 2i: spot, 2i+1: perp of symbols[i] */
}

/* ---- sink: core results to host events ------------------------------------------ */

static void sink_order(void *ud, const ks_order_update_t *ev)
{
    emit(ud, &ev->hdr);
}

static void sink_fill(void *ud, const ks_fill_t *ev)
{
    emit(ud, &ev->hdr);
}

static void sink_position(void *ud, const ks_position_t *ev)
{
    emit(ud, &ev->hdr);
}

static void sink_balance(void *ud, const ks_balance_t *ev)
{
    emit(ud, &ev->hdr);
}

static void sink_funding(void *ud, const ks_funding_t *ev)
{
    emit(ud, &ev->hdr);
}

static void sink_liquidation(void *ud, const ks_liquidation_t *ev)
{
    emit(ud, &ev->hdr);
}

static void sink_trade(void *ud, const ks_trade_t *ev)
{
    sim_venue_t *v = ud;
    int32_t idx = core_idx(v, ev->hdr.inst);
    if (idx >= 0 && (v->subs[idx] & KS_CH_TRADES))
        emit(v, &ev->hdr);
}

/* ---- market data ----------------------------------------------------------------- */

static void emit_market(sim_venue_t *v, int32_t idx, int64_t ts, uint32_t ch)
{
    const ks_level_t *bids, *asks;
    uint32_t nb, na;
    const ks_sim_market_out_t *mo = ks_sim_market_out(v->mkt, (uint32_t)idx / 2);
    const ks_sim_inst_spec_t *spec = ks_sim_core_spec(v->core, idx);
    bool perp = inst_is_perp(idx);
    int32_t hid = v->host_id[idx];

    ks_sim_core_book(v->core, idx, &bids, &nb, &asks, &na);
    if (ch & KS_CH_BBO) {
        ks_bbo_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_BBO);
        ev.hdr.inst = hid;
        ev.hdr.venue_ts = ts;
        if (nb) {
            ev.bid_px = bids[0].px;
            ev.bid_qty = bids[0].qty;
        }
        if (na) {
            ev.ask_px = asks[0].px;
            ev.ask_qty = asks[0].qty;
        }
        emit(v, &ev.hdr);
    }
    if (ch & KS_CH_BOOK) {
        ks_book_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_BOOK);
        ev.hdr.inst = hid;
        ev.hdr.venue_ts = ts;
        ev.update_id = ks_sim_core_book_seq(v->core, idx);
        ev.snapshot = true;
        ev.n_bids = nb;
        ev.n_asks = na;
        ev.bids = bids;
        ev.asks = asks;
        emit(v, &ev.hdr);
    }
    if (ch & KS_CH_TICKER) {
        ks_ticker_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_TICKER);
        ev.hdr.inst = hid;
        ev.hdr.venue_ts = ts;
        ev.last = ks_sim_core_last_price(v->core, idx);
        if (ev.last.mant)
            ev.fields |= KS_TK_LAST;
        if (nb) {
            ev.bid = bids[0].px;
            ev.fields |= KS_TK_BID;
        }
        if (na) {
            ev.ask = asks[0].px;
            ev.fields |= KS_TK_ASK;
        }
        ev.fields |= KS_TK_VOLUME_QUOTE_24H;
        ev.index = mo->index;
        ev.fields |= KS_TK_INDEX;
        if (perp) {
            ev.volume_quote_24h = mo->perp_volume_24h;
            ev.mark = ks_sim_core_mark(v->core, idx);
            ev.funding_rate = mo->funding_rate;
            ev.next_funding_ts = ks_sim_core_next_funding(v->core, idx);
            ev.funding_interval_h = spec->funding_interval_h;
            ev.open_interest = mo->open_interest;
            ev.fields |= KS_TK_MARK | KS_TK_FUNDING_RATE | KS_TK_NEXT_FUNDING |
                         KS_TK_FUNDING_INTERVAL | KS_TK_OPEN_INTEREST;
        } else {
            ev.volume_quote_24h = mo->spot_volume_24h;
        }
        emit(v, &ev.hdr);
    }
    if (perp && (ch & KS_CH_ORACLE)) {
        ks_oracle_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_ORACLE);
        ev.hdr.inst = hid;
        ev.hdr.venue_ts = ts;
        ev.px = mo->oracle;
        emit(v, &ev.hdr);
    }
    if (perp && (ch & KS_CH_LIQUIDATIONS)) {
        for (uint32_t k = 0; k < mo->n_liqs; k++) {
            ks_liquidation_t ev;
            KS_SIM_EV_INIT(&ev, KS_EV_LIQUIDATION);
            ev.hdr.inst = hid;
            ev.hdr.venue_ts = ts;
            ev.side = mo->liqs[k].side;
            ev.px = mo->liqs[k].px;
            ev.qty = mo->liqs[k].qty;
            emit(v, &ev.hdr);
        }
    }
}

/* Market generator output -> core inputs (no allocation: fixed arrays in the venue). */
static void load_inputs(sim_venue_t *v, bool with_flows)
{
    for (int32_t i = 0; i < v->n_inst; i++) {
        const ks_sim_market_out_t *mo = ks_sim_market_out(v->mkt, (uint32_t)i / 2);
        ks_sim_input_t *in = &v->inputs[i];
        const ks_sim_market_trade_t *t;
        uint32_t n;
        if (inst_is_perp(i)) {
            in->mid = mo->perp_mid;
            in->mark = mo->mark;
            in->funding_rate = mo->settled ? mo->settle_rate : mo->funding_rate;
            t = mo->perp_trades;
            n = mo->n_perp_trades;
        } else {
            in->mid = mo->spot_mid;
            t = mo->spot_trades;
            n = mo->n_spot_trades;
        }
        in->n_flows = with_flows ? n : 0;
        for (uint32_t k = 0; k < in->n_flows; k++) {
            in->flows[k].side = t[k].side;
            in->flows[k].qty = t[k].qty;
        }
    }
}

static void on_step(void *ud)
{
    sim_venue_t *v = ud;
    int64_t ts = v->api->wall_ns(v->host);

    ks_sim_market_step(v->mkt, ts);
    load_inputs(v, true);
    ks_sim_core_step(v->core, ts, v->inputs);
    for (int32_t i = 0; i < v->n_inst; i++)
        if (v->subs[i])
            emit_market(v, i, ts, v->subs[i]);
    v->steps++;
}

/* ---- requests (direct, or after latency_ms in arrival order) -------------------- */

static void emit_sync_done(sim_venue_t *v, int64_t ts, uint64_t req_id, uint32_t what, int rc,
                           const char *detail)
{
    ks_sync_done_t ev;
    KS_SIM_EV_INIT(&ev, KS_EV_SYNC_DONE);
    ev.hdr.inst = -1;
    ev.hdr.venue_ts = ts;
    ev.req_id = req_id;
    ev.what = (uint8_t)what;
    ev.rc = rc;
    ks_strlcpy(ev.detail, detail, sizeof(ev.detail));
    emit(v, &ev.hdr);
}

static void run_req(sim_venue_t *v, const sim_req_t *r)
{
    int64_t ts = v->api->wall_ns(v->host);
    char detail[KS_REASON_LEN] = "";
    int rc;

    switch ((sim_req_kind_t)r->kind) {
    case RQ_PLACE:
        ks_sim_core_place(v->core, ts, &r->u.place);
        break;
    case RQ_CANCEL:
        ks_sim_core_cancel(v->core, ts, r->u.cancel.inst, r->u.cancel.cloid);
        break;
    case RQ_CANCEL_ALL:
        ks_sim_core_cancel_all(v->core, ts, r->u.cancel_all);
        break;
    case RQ_AMEND:
        ks_sim_core_amend(v->core, ts, &r->u.amend);
        break;
    case RQ_FETCH: {
        rc = KS_OK;
        switch ((ks_fetch_kind_t)r->u.fetch.what) {
        case KS_FETCH_OPEN_ORDERS:
            ks_sim_core_emit_open_orders(v->core, ts, r->u.fetch.inst, KS_EVF_SNAPSHOT);
            break;
        case KS_FETCH_POSITIONS:
            ks_sim_core_emit_positions(v->core, ts, r->u.fetch.inst, KS_EVF_SNAPSHOT);
            break;
        case KS_FETCH_BALANCES:
            ks_sim_core_emit_balances(v->core, ts, KS_EVF_SNAPSHOT);
            break;
        case KS_FETCH_ORDER:
            rc = ks_sim_core_emit_order(v->core, ts, r->u.fetch.cloid, KS_EVF_SNAPSHOT);
            if (rc != KS_OK)
                snprintf(detail, sizeof(detail), "unknown order %s", r->u.fetch.cloid);
            break;
        }
        emit_sync_done(v, ts, r->u.fetch.req_id, r->u.fetch.what, rc, detail);
        break;
    }
    case RQ_TRANSFER: {
        ks_transfer_result_t ev;
        rc = ks_sim_core_transfer(v->core, ts, &r->u.transfer, detail, sizeof(detail));
        KS_SIM_EV_INIT(&ev, KS_EV_TRANSFER);
        ev.hdr.inst = -1;
        ev.hdr.venue_ts = ts;
        ev.req_id = r->u.transfer.req_id;
        ev.rc = rc;
        ks_strlcpy(ev.asset, r->u.transfer.asset, sizeof(ev.asset));
        ev.amount = r->u.transfer.amount;
        ev.from = r->u.transfer.from;
        ev.to = r->u.transfer.to;
        ks_strlcpy(ev.detail, detail, sizeof(ev.detail));
        emit(v, &ev.hdr);
        break;
    }
    case RQ_LEVERAGE:
        rc = ks_sim_core_set_leverage(v->core, ts, r->u.lev.inst, r->u.lev.leverage, detail,
                                      sizeof(detail));
        if (rc != KS_OK)
            v->api->log(v->host, KS_LOG_WARN, "set_leverage refused: %s", detail);
        break;
    }
}

static void on_latency(void *ud);

static void arm_latency(sim_venue_t *v)
{
    int64_t now = v->api->now_ns(v->host);
    int64_t after = v->q[v->q_head].due - now;
    v->lat_timer = v->api->timer_start(v->host, after > 0 ? after : 0, 0, on_latency, v);
}

/* Runs every request that is due, oldest first; one one-shot timer covers the head. */
static void on_latency(void *ud)
{
    sim_venue_t *v = ud;
    int64_t now = v->api->now_ns(v->host);
    v->lat_timer = 0;
    while (v->q_n && v->q[v->q_head].due <= now) {
        sim_req_t r = v->q[v->q_head];
        v->q_head = (v->q_head + 1) % v->q_cap;
        v->q_n--;
        run_req(v, &r);
    }
    if (v->q_n)
        arm_latency(v);
}

static int submit(sim_venue_t *v, sim_req_t *r)
{
    if (v->cfg.latency_ms <= 0) {
        run_req(v, r);
        return KS_OK;
    }
    if (v->q_n == v->q_cap) {
        uint32_t cap = v->q_cap ? v->q_cap * 2 : 64;
        sim_req_t *q = malloc(cap * sizeof(*q));
        if (!q)
            return KS_ENOMEM;
        for (uint32_t i = 0; i < v->q_n; i++)
            q[i] = v->q[(v->q_head + i) % v->q_cap];
        free(v->q);
        v->q = q;
        v->q_cap = cap;
        v->q_head = 0;
    }
    r->due = v->api->now_ns(v->host) + (int64_t)v->cfg.latency_ms * NS_PER_MS;
    v->q[(v->q_head + v->q_n) % v->q_cap] = *r;
    v->q_n++;
    if (!v->lat_timer)
        arm_latency(v);
    return KS_OK;
}

/* ---- operations ------------------------------------------------------------------ */

static void build_spec(const ks_sim_config_t *cfg, const ks_sim_symbol_cfg_t *s, bool perp,
                       ks_sim_inst_spec_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = perp ? KS_KIND_PERP : KS_KIND_SPOT;
    if (perp)
        snprintf(out->symbol, sizeof(out->symbol), "%s/%s:%s", s->base, cfg->quote, cfg->quote);
    else
        snprintf(out->symbol, sizeof(out->symbol), "%s/%s", s->base, cfg->quote);
    ks_strlcpy(out->base, s->base, sizeof(out->base));
    ks_strlcpy(out->quote, cfg->quote, sizeof(out->quote));
    out->tick = s->tick;
    out->lot = s->lot;
    out->min_qty = s->min_qty;
    out->min_notional = s->min_notional;
    out->maker_fee = cfg->maker_fee;
    out->taker_fee = cfg->taker_fee;
    out->mmr = cfg->maint_margin_rate;
    out->leverage = cfg->leverage;
    out->max_leverage = perp ? s->max_leverage : 1;
    out->funding_interval_h = perp ? s->funding_interval_h : 0;
    out->book_levels = cfg->book_levels;
    out->spread_ticks = s->spread_ticks;
    /* Touch depth in whole lots, from the quote-notional parameter (floor, >= 1). */
    double lots = s->depth_usd / ks_dec_to_double(s->price) / ks_dec_to_double(s->lot);
    out->depth_lots = lots >= 1 ? (int64_t)(lots < 1e12 ? lots : 1e12) : 1;
    out->depth_growth_pct = 25;
    out->depth_jitter_pct = 40;
    out->ext_id = -1;
}

static void market_setup(const ks_sim_config_t *cfg, ks_sim_market_config_t *mc,
                         ks_sim_market_params_t *mp)
{
    memset(mc, 0, sizeof(*mc));
    mc->seed = cfg->seed;
    mc->funding_cap = cfg->funding_cap;
    mc->interest_8h = cfg->interest_rate;
    mc->oracle_lag_ns = (int64_t)cfg->oracle_lag_ms * NS_PER_MS;
    mc->step_ns = (int64_t)cfg->tick_ms * NS_PER_MS;
    for (uint32_t i = 0; i < cfg->n_symbols; i++) {
        const ks_sim_symbol_cfg_t *s = &cfg->symbols[i];
        ks_sim_market_params_t *p = &mp[i];
        memset(p, 0, sizeof(*p));
        p->price = ks_dec_to_double(s->price);
        p->vol = s->vol;
        p->jumps_per_day = s->jumps_per_day;
        p->jump_std = s->jump_size;
        p->premium_mean = s->premium_mean;
        p->premium_vol = s->premium_vol;
        p->premium_half_life_h = s->premium_half_life_h;
        p->liq_bursts_per_day = s->liq_bursts_per_day;
        p->liq_impact = s->liq_impact;
        p->liq_usd = s->liq_usd;
        p->trades_per_s = s->trades_per_s;
        p->trade_usd = s->trade_usd;
        p->oi_usd = s->oi_usd;
        p->volume_usd = s->volume_usd;
        p->funding_interval_h = s->funding_interval_h;
        p->tick = s->tick;
        p->lot = s->lot;
    }
}

static void sim_close(void *self);

static int sim_open(const ks_host_api_t *api, ks_host_t *host, const char *venue,
                    const char *config_json, void **self, char *err, size_t err_len)
{
    sim_venue_t *v;
    ks_sim_market_config_t mc;
    ks_sim_market_params_t mp[KS_SIM_MAX_SYMBOLS];
    char why[KS_REASON_LEN];
    int rc;

    if (!api || !self || !api->emit || !api->timer_start || !api->wall_ns || !api->now_ns ||
        !api->instrument_upsert) {
        snprintf(err, err_len, "sim: the host API lacks emit, timers, clocks or instruments");
        return KS_EINVAL;
    }
    *self = NULL;
    v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, err_len, "sim: out of memory");
        return KS_ENOMEM;
    }
    v->api = api;
    v->host = host;
    ks_strlcpy(v->name, venue ? venue : "sim", sizeof(v->name));
    if ((rc = ks_sim_config_parse(config_json, &v->cfg, err, err_len)) != KS_OK)
        goto fail;
    market_setup(&v->cfg, &mc, mp);
    if ((rc = ks_sim_market_validate(&mc, mp, v->cfg.n_symbols, err, err_len)) != KS_OK)
        goto fail;

    ks_sim_sink_t sink = {
        .ud = v,
        .on_order = sink_order,
        .on_fill = sink_fill,
        .on_position = sink_position,
        .on_balance = sink_balance,
        .on_funding = sink_funding,
        .on_liquidation = sink_liquidation,
        .on_trade = sink_trade,
    };
    v->core = ks_sim_core_new(v->cfg.seed, &sink);
    if (!v->core) {
        snprintf(err, err_len, "sim: out of memory");
        rc = KS_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < v->cfg.n_symbols; i++) {
        for (int perp = 0; perp < 2; perp++) {
            ks_sim_inst_spec_t spec;
            int32_t idx;
            build_spec(&v->cfg, &v->cfg.symbols[i], perp, &spec);
            if ((rc = ks_sim_core_add_inst(v->core, &spec, &idx, why, sizeof(why))) != KS_OK) {
                snprintf(err, err_len, "symbols[%u]: %s", i, why);
                goto fail;
            }
        }
    }
    v->n_inst = ks_sim_core_inst_count(v->core);
    for (uint32_t i = 0; i < v->cfg.n_spot; i++)
        ks_sim_core_deposit(v->core, KS_WALLET_SPOT, v->cfg.spot[i].asset, v->cfg.spot[i].amount);
    for (uint32_t i = 0; i < v->cfg.n_futures; i++)
        ks_sim_core_deposit(v->core, KS_WALLET_FUTURES, v->cfg.futures[i].asset,
                            v->cfg.futures[i].amount);
    for (int32_t i = 0; i < v->n_inst; i++)
        v->host_id[i] = -1;
    *self = v;
    return KS_OK;

fail:
    sim_close(v);
    return rc;
}

static void sim_close(void *self)
{
    sim_venue_t *v = self;
    if (!v)
        return;
    if (v->step_timer && v->api->timer_stop)
        v->api->timer_stop(v->host, v->step_timer);
    if (v->lat_timer && v->api->timer_stop)
        v->api->timer_stop(v->host, v->lat_timer);
    ks_sim_core_free(v->core);
    ks_sim_market_free(v->mkt);
    free(v->q);
    free(v);
}

static int sim_start(void *self)
{
    sim_venue_t *v = self;
    ks_sim_market_config_t mc;
    ks_sim_market_params_t mp[KS_SIM_MAX_SYMBOLS];
    char err[KS_REASON_LEN];
    int rc;

    if (!v)
        return KS_EINVAL;
    if (v->started)
        return KS_ESTATE;
    for (int32_t i = 0; i < v->n_inst; i++) {
        const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, i);
        const ks_sim_symbol_cfg_t *sym = &v->cfg.symbols[i / 2];
        char venue_symbol[KS_SYMBOL_LEN];
        ks_instrument_t inst;
        snprintf(venue_symbol, sizeof(venue_symbol), "%s%s", s->base, s->quote);
        KS_INIT(&inst);
        inst.kind = s->kind;
        inst.symbol = s->symbol;
        inst.venue_symbol = venue_symbol;
        inst.base = s->base;
        inst.quote = s->quote;
        inst.settle = s->kind == KS_KIND_PERP ? s->quote : NULL;
        inst.tick_size = s->tick;
        inst.lot_size = s->lot;
        inst.min_qty = s->min_qty;
        inst.min_notional = s->min_notional;
        inst.maker_fee = s->maker_fee;
        inst.taker_fee = s->taker_fee;
        inst.max_leverage = s->kind == KS_KIND_PERP ? sym->max_leverage : 1;
        inst.funding_interval_h = s->funding_interval_h;
        inst.flags = KS_INST_TRADING;
        if ((rc = v->api->instrument_upsert(v->host, &inst, &v->host_id[i])) != KS_OK) {
            v->api->log(v->host, KS_LOG_ERROR, "sim: cannot register %s: %s", s->symbol,
                        ks_strerror(rc));
            return rc;
        }
        ks_sim_core_set_ext_id(v->core, i, v->host_id[i]);
    }

    int64_t t0 = v->api->wall_ns(v->host);
    market_setup(&v->cfg, &mc, mp);
    v->mkt = ks_sim_market_new(&mc, mp, v->cfg.n_symbols, t0, err, sizeof(err));
    if (!v->mkt) {
        v->api->log(v->host, KS_LOG_ERROR, "sim: %s", err);
        return KS_ENOMEM;
    }
    /* First books and marks at t0, so orders and subscriptions work before the first step. */
    load_inputs(v, false);
    ks_sim_core_step(v->core, t0, v->inputs);

    int64_t tick_ns = (int64_t)v->cfg.tick_ms * NS_PER_MS;
    v->step_timer = v->api->timer_start(v->host, tick_ns, tick_ns, on_step, v);
    if (!v->step_timer) {
        v->api->log(v->host, KS_LOG_ERROR, "sim: cannot start the step timer");
        return KS_EIO;
    }
    v->started = true;

    ks_conn_t conn;
    KS_SIM_EV_INIT(&conn, KS_EV_CONN);
    conn.hdr.inst = -1;
    conn.hdr.venue_ts = t0;
    conn.state = KS_CONN_UP;
    snprintf(conn.detail, sizeof(conn.detail), "sim: %d instruments, seed %llu, tick %d ms",
             v->n_inst, (unsigned long long)v->cfg.seed, v->cfg.tick_ms);
    emit(v, &conn.hdr);
    ks_sim_core_emit_balances(v->core, t0, 0);
    return KS_OK;
}

static int sim_subscribe(void *self, int32_t inst, uint32_t channels)
{
    sim_venue_t *v = self;
    if (!v || !v->started)
        return KS_ESTATE;
    int32_t idx = core_idx(v, inst);
    if (idx < 0)
        return KS_ENOENT;
    uint32_t added = channels & ~v->subs[idx];
    v->subs[idx] |= channels;
    /* Snapshot-like channels answer at once; trades and liquidations wait for events. */
    added &= KS_CH_BBO | KS_CH_BOOK | KS_CH_TICKER | KS_CH_ORACLE;
    if (added)
        emit_market(v, idx, v->api->wall_ns(v->host), added);
    return KS_OK;
}

static int sim_place(void *self, const ks_order_cmd_t *cmd)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v || !cmd || !KS_HAS_FIELD(cmd, ks_order_cmd_t, qty))
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_PLACE;
    memcpy(&r.u.place, cmd, sizeof(r.u.place));
    r.u.place.struct_size = sizeof(r.u.place);
    if ((r.u.place.inst = core_idx(v, cmd->inst)) < 0)
        return KS_ENOENT;
    return submit(v, &r);
}

static int sim_cancel(void *self, const ks_cancel_cmd_t *cmd)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v || !cmd || !KS_HAS_FIELD(cmd, ks_cancel_cmd_t, cloid))
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_CANCEL;
    r.u.cancel.struct_size = sizeof(r.u.cancel);
    memcpy(r.u.cancel.cloid, cmd->cloid, sizeof(r.u.cancel.cloid));
    r.u.cancel.cloid[sizeof(r.u.cancel.cloid) - 1] = '\0';
    r.u.cancel.inst = core_idx(v, cmd->inst);
    return submit(v, &r);
}

static int sim_cancel_all(void *self, int32_t inst)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v)
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_CANCEL_ALL;
    r.u.cancel_all = -1;
    if (inst >= 0 && (r.u.cancel_all = core_idx(v, inst)) < 0)
        return KS_ENOENT;
    return submit(v, &r);
}

static int sim_amend(void *self, const ks_amend_cmd_t *cmd)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v || !cmd || !KS_HAS_FIELD(cmd, ks_amend_cmd_t, qty))
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_AMEND;
    memcpy(&r.u.amend, cmd, sizeof(r.u.amend));
    r.u.amend.cloid[sizeof(r.u.amend.cloid) - 1] = '\0';
    r.u.amend.inst = core_idx(v, cmd->inst);
    return submit(v, &r);
}

static int sim_fetch(void *self, uint32_t what, int32_t inst, const char *cloid, uint64_t req_id)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v)
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    if (what < KS_FETCH_OPEN_ORDERS || what > KS_FETCH_ORDER || (what == KS_FETCH_ORDER && !cloid))
        return KS_EINVAL;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_FETCH;
    r.u.fetch.what = what;
    r.u.fetch.req_id = req_id;
    r.u.fetch.inst = -1;
    if (inst >= 0 && (r.u.fetch.inst = core_idx(v, inst)) < 0)
        return KS_ENOENT;
    if (cloid)
        ks_strlcpy(r.u.fetch.cloid, cloid, sizeof(r.u.fetch.cloid));
    return submit(v, &r);
}

static int sim_transfer(void *self, const ks_transfer_cmd_t *cmd)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v || !cmd || !KS_HAS_FIELD(cmd, ks_transfer_cmd_t, to))
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_TRANSFER;
    memcpy(&r.u.transfer, cmd, sizeof(r.u.transfer));
    r.u.transfer.asset[sizeof(r.u.transfer.asset) - 1] = '\0';
    return submit(v, &r);
}

static int sim_set_leverage(void *self, int32_t inst, int32_t leverage)
{
    sim_venue_t *v = self;
    sim_req_t r;
    if (!v)
        return KS_EINVAL;
    if (!v->started)
        return KS_ESTATE;
    int32_t idx = core_idx(v, inst);
    if (idx < 0)
        return KS_ENOENT;
    const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, idx);
    if (s->kind != KS_KIND_PERP || leverage < 1 || leverage > s->max_leverage)
        return KS_EINVAL;
    memset(&r, 0, sizeof(r));
    r.kind = RQ_LEVERAGE;
    r.u.lev.inst = idx;
    r.u.lev.leverage = leverage;
    return submit(v, &r);
}

static uint32_t sim_request_weight(void *self, uint32_t kind, int32_t inst)
{
    return 1;
}

static const ks_exchange_ops_t sim_ops = {
    .struct_size = sizeof(ks_exchange_ops_t),
    .caps = KS_XCAP_TRANSFER | KS_XCAP_QUERY_BY_CLOID | KS_XCAP_AMEND,
    .open = sim_open,
    .close = sim_close,
    .start = sim_start,
    .subscribe = sim_subscribe,
    .place = sim_place,
    .cancel = sim_cancel,
    .cancel_all = sim_cancel_all,
    .amend = sim_amend,
    .fetch = sim_fetch,
    .transfer = sim_transfer,
    .set_leverage = sim_set_leverage,
    .request_weight = sim_request_weight,
};

static const ks_plugin_desc_t sim_desc =
    KS_PLUGIN_DESC(KS_PLUGIN_EXCHANGE, "sim", "0.1.0",
                   "Built-in simulated venue: seeded synthetic spot + perp market", &sim_ops);

KS_PLUGIN_DEFINE(sim_desc)
