/* sim_plugin: the built-in simulated venue as a Kestrel exchange plugin. Glue only: the
 * config (sim_config), the market (the synthetic generator sim_market, or recorded data
 * from sim_replay) and the matching/account core (sim_core) are driven from host timers,
 * and the core's results are forwarded to the host through ks_host_api_t.emit. Time comes
 * only from the host. */
#include <kestrel/kestrel.h>

#include "sim_book.h"
#include "sim_config.h"
#include "sim_core.h"
#include "sim_market.h"
#include "sim_replay.h"

#include <math.h>
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

/* Replay state of one recorded instrument that became a core instrument. */
typedef struct sim_rinst {
    int32_t core;       /* core index, -1 when filtered out */
    ks_sim_book_t book; /* the recorded book (diffs applied) */
    ks_ticker_t ticker; /* recorded ticker fields merged so far */
    ks_dec_t oracle;
    int32_t interval_h; /* funding interval the host has registered */
    bool synbook;       /* no recorded book: a synthetic one around the close or mark */
    bool recorded_mark; /* the data carries a mark; otherwise the book mid is the mark */
    bool perp;
} sim_rinst_t;

/* An order or fill event held back by the delay fault. */
typedef struct sim_held {
    int64_t due;  /* host monotonic ns */
    uint64_t seq; /* emission order among equal due times */
    union {
        ks_event_t hdr;
        ks_order_update_t order;
        ks_fill_t fill;
    } ev;
} sim_held_t;

enum { FX_NONE = 0, FX_LOSE = 1, FX_DELAY = 2 };

/* The state of the injected faults. Every fault kind draws from its own stream (seeded
 * from `seed`), so changing one rate does not reshuffle the others. */
typedef struct sim_faults {
    uint64_t rng_reject, rng_partial, rng_lose, rng_fill, rng_delay, rng_window;
    /* the placement being run: its order and fill events are dropped or held */
    const char *cur_cloid;
    int cur_mode; /* FX_* */
    int64_t cur_due;
    sim_held_t *held; /* sorted by (due, seq) */
    uint32_t n_held, cap_held;
    uint64_t held_seq, held_timer;
    int64_t held_timer_due;
    bool rate_limited, down;
    uint64_t rl_timer, dc_timer;
    /* audit: every client id a placement carried (FNV-1a 64, open addressing) */
    uint64_t *seen;
    uint32_t seen_cap, seen_n;
    struct {
        uint64_t placed, duplicate_cloids, rejected, partial, lost_acks, lost_fills, delayed,
            rate_limited, rate_limit_windows, disconnects, lost_requests;
    } n;
} sim_faults_t;

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
    int32_t *core_of_host; /* host instrument id -> core index, -1 */
    uint32_t n_core_of_host;
    uint64_t lat_rng; /* latency jitter stream */
    int64_t last_due; /* requests stay in arrival order despite jitter */
    /* replay mode */
    ks_replay_t *rp;
    sim_rinst_t *ri;     /* by replay instrument */
    int32_t *rp_of_core; /* core index -> replay instrument */
    uint32_t rp_next;    /* next event */
    int64_t rp_offset;   /* added to recorded times (0 in a backtest) */
    bool rp_offset_set;
    uint64_t rp_timer, rp_applied;
    sim_faults_t fx; /* injected faults ("faults"), and the audit */
} sim_venue_t;

/* ---- helpers ------------------------------------------------------------------- */

static void emit(sim_venue_t *v, const ks_event_t *hdr)
{
    if (v->fx.down && hdr->type != KS_EV_CONN)
        return; /* disconnected: nothing reaches the host */
    v->api->emit(v->host, hdr);
}

static bool fx_order_event(sim_venue_t *v, const ks_event_t *hdr, const char *cloid);

static int32_t core_idx(const sim_venue_t *v, int32_t host_id)
{
    if (host_id >= 0 && (uint32_t)host_id < v->n_core_of_host)
        return v->core_of_host[host_id];
    for (int32_t i = 0; i < v->n_inst; i++)
        if (v->host_id[i] == host_id)
            return i;
    return -1;
}

/* Remembers host id -> core index (host ids are small and dense). */
static void map_host_id(sim_venue_t *v, int32_t idx, int32_t host_id)
{
    v->host_id[idx] = host_id;
    if (host_id < 0 || host_id >= 1 << 20)
        return;
    if ((uint32_t)host_id >= v->n_core_of_host) {
        uint32_t n = (uint32_t)host_id + 64;
        int32_t *m = realloc(v->core_of_host, n * sizeof(*m));
        if (!m)
            return;
        for (uint32_t i = v->n_core_of_host; i < n; i++)
            m[i] = -1;
        v->core_of_host = m;
        v->n_core_of_host = n;
    }
    v->core_of_host[host_id] = idx;
}

static bool inst_is_perp(const sim_venue_t *v, int32_t idx)
{
    const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, idx);
    return s && s->kind == KS_KIND_PERP;
}

/* ---- sink: core results to host events ------------------------------------------ */

static void sink_order(void *ud, const ks_order_update_t *ev)
{
    if (!fx_order_event(ud, &ev->hdr, ev->cloid))
        emit(ud, &ev->hdr);
}

static void sink_fill(void *ud, const ks_fill_t *ev)
{
    if (!fx_order_event(ud, &ev->hdr, ev->cloid))
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
    if (idx < 0 || !(v->subs[idx] & KS_CH_TRADES))
        return;
    if (v->rp) {
        ks_trade_t t = *ev;
        t.hdr.flags |= KS_EVF_REPLAY;
        emit(v, &t.hdr);
        return;
    }
    emit(v, &ev->hdr);
}

/* ---- market data ----------------------------------------------------------------- */

static void emit_market(sim_venue_t *v, int32_t idx, int64_t ts, uint32_t ch)
{
    const ks_level_t *bids, *asks;
    uint32_t nb, na;
    const ks_sim_market_out_t *mo = ks_sim_market_out(v->mkt, (uint32_t)idx / 2);
    const ks_sim_inst_spec_t *spec = ks_sim_core_spec(v->core, idx);
    bool perp = inst_is_perp(v, idx);
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
        if (inst_is_perp(v, i)) {
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

/* ---- replay: recorded market data ------------------------------------------------ */

static bool rp_mid(const ks_level_t *bids, uint32_t nb, const ks_level_t *asks, uint32_t na,
                   ks_dec_t *mid)
{
    ks_dec_t sum;
    if (!nb || !na || ks_dec_add(bids[0].px, asks[0].px, &sum) != KS_OK)
        return false;
    int scale = sum.scale + 1;
    if (scale > KS_DEC_MAX_SCALE)
        scale = KS_DEC_MAX_SCALE;
    if (ks_dec_div(sum, KS_DEC(2, 0), scale, KS_ROUND_HALF_EVEN, mid) != KS_OK)
        return false;
    *mid = ks_dec_normalize(*mid);
    return true;
}

static void rp_emit_bbo(sim_venue_t *v, int32_t idx, int64_t ts, int64_t vts)
{
    const ks_level_t *bids, *asks;
    uint32_t nb, na;
    ks_bbo_t ev;
    ks_sim_core_book(v->core, idx, &bids, &nb, &asks, &na);
    KS_SIM_EV_INIT(&ev, KS_EV_BBO);
    ev.hdr.inst = v->host_id[idx];
    ev.hdr.venue_ts = vts ? vts : ts;
    ev.hdr.flags = KS_EVF_REPLAY;
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

static void rp_emit_book(sim_venue_t *v, int32_t idx, int64_t ts, int64_t vts)
{
    const ks_level_t *bids, *asks;
    uint32_t nb, na, cap = (uint32_t)v->cfg.book_levels;
    ks_book_t ev;
    ks_sim_core_book(v->core, idx, &bids, &nb, &asks, &na);
    KS_SIM_EV_INIT(&ev, KS_EV_BOOK);
    ev.hdr.inst = v->host_id[idx];
    ev.hdr.venue_ts = vts ? vts : ts;
    ev.hdr.flags = KS_EVF_REPLAY;
    ev.update_id = ks_sim_core_book_seq(v->core, idx);
    ev.snapshot = true;
    ev.n_bids = nb < cap ? nb : cap;
    ev.n_asks = na < cap ? na : cap;
    ev.bids = bids;
    ev.asks = asks;
    emit(v, &ev.hdr);
}

/* The ticker as the venue shows it now: the recorded fields, plus the core's touch. */
static void rp_emit_ticker(sim_venue_t *v, int32_t idx, int64_t ts, int64_t vts, uint32_t fields)
{
    const sim_rinst_t *ri = &v->ri[v->rp_of_core[idx]];
    const ks_level_t *bids, *asks;
    uint32_t nb, na;
    ks_ticker_t ev = ri->ticker;
    ev.hdr.struct_size = sizeof(ev);
    ev.hdr.type = KS_EV_TICKER;
    ev.hdr.inst = v->host_id[idx];
    ev.hdr.venue_ts = vts ? vts : ts;
    ev.hdr.flags = KS_EVF_REPLAY;
    ev.hdr.seq = 0;
    ev.hdr.recv_ns = 0;
    ev.fields = fields;
    ks_sim_core_book(v->core, idx, &bids, &nb, &asks, &na);
    if (nb && (ri->synbook || !(fields & KS_TK_BID))) {
        ev.bid = bids[0].px;
        ev.fields |= KS_TK_BID;
    }
    if (na && (ri->synbook || !(fields & KS_TK_ASK))) {
        ev.ask = asks[0].px;
        ev.fields |= KS_TK_ASK;
    }
    if (!ri->perp)
        ev.fields &= ~(uint32_t)(KS_TK_MARK | KS_TK_FUNDING_RATE | KS_TK_NEXT_FUNDING |
                                 KS_TK_FUNDING_INTERVAL | KS_TK_OPEN_INTEREST);
    if (!ev.fields)
        return;
    emit(v, &ev.hdr);
}

static void rp_merge_ticker(sim_rinst_t *ri, const ks_rp_ticker_t *t, int64_t offset)
{
    ks_ticker_t *m = &ri->ticker;
    if (t->fields & KS_TK_LAST)
        m->last = t->last;
    if (t->fields & KS_TK_MARK)
        m->mark = t->mark;
    if (t->fields & KS_TK_INDEX)
        m->index = t->index;
    if (t->fields & KS_TK_BID)
        m->bid = t->bid;
    if (t->fields & KS_TK_ASK)
        m->ask = t->ask;
    if (t->fields & KS_TK_FUNDING_RATE)
        m->funding_rate = t->funding_rate;
    if (t->fields & KS_TK_NEXT_FUNDING)
        m->next_funding_ts = t->next_funding_ts + offset;
    if (t->fields & KS_TK_FUNDING_INTERVAL)
        m->funding_interval_h = t->funding_interval_h;
    if (t->fields & KS_TK_OPEN_INTEREST)
        m->open_interest = t->open_interest;
    if (t->fields & KS_TK_VOLUME_QUOTE_24H)
        m->volume_quote_24h = t->volume_quote_24h;
    m->fields |= t->fields;
}

static int register_inst(sim_venue_t *v, int32_t idx, int32_t interval_h);

/* The core's view of a recorded book: the best KS_SIM_MAX_LEVELS per side. Own orders
 * consume that copy; the next recorded update of the instrument restores the record. */
static void rp_push_book(sim_venue_t *v, sim_rinst_t *ri, int64_t ts)
{
    const ks_sim_book_t *b = &ri->book;
    uint32_t nb = b->n[0] < KS_SIM_MAX_LEVELS ? b->n[0] : KS_SIM_MAX_LEVELS;
    uint32_t na = b->n[1] < KS_SIM_MAX_LEVELS ? b->n[1] : KS_SIM_MAX_LEVELS;
    ks_dec_t mid;
    ks_sim_core_replay_book(v->core, ri->core, ts, b->lv[0], nb, b->lv[1], na);
    if (ri->perp && !ri->recorded_mark && rp_mid(b->lv[0], nb, b->lv[1], na, &mid))
        ks_sim_core_replay_mark(v->core, ri->core, ts, mid);
}

static void rp_apply(sim_venue_t *v, const ks_rp_event_t *e)
{
    sim_rinst_t *ri = &v->ri[e->inst];
    int32_t idx = ri->core;
    if (idx < 0)
        return;
    int64_t ts = e->ts + v->rp_offset;
    int64_t vts = e->venue_ts ? e->venue_ts + v->rp_offset : ts;
    bool quiet = (e->flags & KS_RPF_PRIME) != 0;
    uint32_t subs = quiet ? 0 : v->subs[idx];

    switch ((ks_rp_kind_t)e->kind) {
    case KS_RP_BOOK: {
        const ks_level_t *lv = ks_replay_levels(v->rp, e);
        if (e->flags & KS_RPF_SNAPSHOT) {
            ks_sim_book_snapshot(&ri->book, lv, e->n_bids, lv + e->n_bids, e->n_asks);
        } else {
            for (uint32_t i = 0; i < e->n_bids; i++)
                ks_sim_book_set(&ri->book, 0, lv[i].px, lv[i].qty);
            for (uint32_t i = 0; i < e->n_asks; i++)
                ks_sim_book_set(&ri->book, 1, lv[e->n_bids + i].px, lv[e->n_bids + i].qty);
        }
        rp_push_book(v, ri, ts);
        if (subs & KS_CH_BBO)
            rp_emit_bbo(v, idx, ts, vts);
        if (subs & KS_CH_BOOK)
            rp_emit_book(v, idx, ts, vts);
        break;
    }
    case KS_RP_BBO:
        ks_sim_book_bbo(&ri->book, e->px, e->qty, e->px2, e->qty2);
        rp_push_book(v, ri, ts);
        if (subs & KS_CH_BBO)
            rp_emit_bbo(v, idx, ts, vts);
        if (subs & KS_CH_BOOK)
            rp_emit_book(v, idx, ts, vts);
        break;
    case KS_RP_TRADE: {
        ks_sim_print_t p = {.side = e->side, .px = e->px, .qty = e->qty, .publish = !quiet};
        ks_sim_core_replay_trade(v->core, idx, ts, &p);
        break;
    }
    case KS_RP_TICKER: {
        const ks_rp_ticker_t *t = ks_replay_ticker(v->rp, e);
        rp_merge_ticker(ri, t, v->rp_offset);
        if (t->fields & KS_TK_MARK) {
            if (ri->synbook) {
                ks_sim_core_replay_mid(v->core, idx, ts, t->mark);
                if (subs & KS_CH_BBO)
                    rp_emit_bbo(v, idx, ts, vts);
                if (subs & KS_CH_BOOK)
                    rp_emit_book(v, idx, ts, vts);
            }
            ks_sim_core_replay_mark(v->core, idx, ts, t->mark);
        }
        if (ri->perp && (t->fields & KS_TK_FUNDING_INTERVAL) && t->funding_interval_h > 0 &&
            t->funding_interval_h != ri->interval_h && v->started)
            register_inst(v, idx, t->funding_interval_h);
        if (subs & KS_CH_TICKER)
            rp_emit_ticker(v, idx, ts, vts, t->fields);
        if (v->cfg.replay.oracle_from_index && (t->fields & KS_TK_INDEX) && t->index.mant > 0) {
            ri->oracle = t->index;
            if (subs & KS_CH_ORACLE) {
                ks_oracle_t ev;
                KS_SIM_EV_INIT(&ev, KS_EV_ORACLE);
                ev.hdr.inst = v->host_id[idx];
                ev.hdr.venue_ts = vts;
                ev.hdr.flags = KS_EVF_REPLAY;
                ev.px = t->index;
                emit(v, &ev.hdr);
            }
        }
        break;
    }
    case KS_RP_KLINE: {
        const ks_rp_ticker_t *t = ks_replay_ticker(v->rp, e);
        /* Orders resting through the candle fill if its high or low went through them
         * (strictly: what traded at exactly their price is unknown), before the book
         * moves to the close. */
        if (!quiet && ks_sim_core_open_order_count(v->core)) {
            ks_sim_print_t lo = {.side = KS_SIDE_SELL, .px = e->qty2, .through_only = true};
            ks_sim_print_t hi = {.side = KS_SIDE_BUY, .px = e->px2, .through_only = true};
            if (lo.px.mant > 0)
                ks_sim_core_replay_trade(v->core, idx, ts, &lo);
            if (hi.px.mant > 0)
                ks_sim_core_replay_trade(v->core, idx, ts, &hi);
        }
        ks_sim_core_replay_mid(v->core, idx, ts, e->px);
        if (ri->perp)
            ks_sim_core_replay_mark(v->core, idx, ts, e->px);
        uint32_t fields = t->fields;
        if (!ri->perp)
            fields &= KS_TK_LAST | KS_TK_VOLUME_QUOTE_24H;
        ks_rp_ticker_t own = *t;
        own.fields = fields;
        rp_merge_ticker(ri, &own, v->rp_offset);
        if (ri->perp && (fields & KS_TK_FUNDING_INTERVAL) &&
            t->funding_interval_h != ri->interval_h && v->started)
            register_inst(v, idx, t->funding_interval_h);
        if (subs & KS_CH_BBO)
            rp_emit_bbo(v, idx, ts, vts);
        if (subs & KS_CH_BOOK)
            rp_emit_book(v, idx, ts, vts);
        if (subs & KS_CH_TICKER)
            rp_emit_ticker(v, idx, ts, vts, fields);
        break;
    }
    case KS_RP_FUNDING:
        if (!quiet)
            ks_sim_core_settle_funding(v->core, idx, ts, e->px);
        break;
    case KS_RP_LIQ:
        if (subs & KS_CH_LIQUIDATIONS) {
            ks_liquidation_t ev;
            KS_SIM_EV_INIT(&ev, KS_EV_LIQUIDATION);
            ev.hdr.inst = v->host_id[idx];
            ev.hdr.venue_ts = vts;
            ev.hdr.flags = KS_EVF_REPLAY;
            ev.side = e->side;
            ev.px = e->px;
            ev.qty = e->qty;
            emit(v, &ev.hdr);
        }
        break;
    case KS_RP_ORACLE:
        ri->oracle = e->px;
        if (subs & KS_CH_ORACLE) {
            ks_oracle_t ev;
            KS_SIM_EV_INIT(&ev, KS_EV_ORACLE);
            ev.hdr.inst = v->host_id[idx];
            ev.hdr.venue_ts = vts;
            ev.hdr.flags = KS_EVF_REPLAY;
            ev.px = e->px;
            emit(v, &ev.hdr);
        }
        break;
    }
    v->rp_applied++;
}

static void on_replay(void *ud);

static void rp_arm(sim_venue_t *v)
{
    const ks_rp_event_t *e = ks_replay_event(v->rp, v->rp_next);
    if (!e) {
        v->api->log(v->host, KS_LOG_INFO, "replay finished: %llu events applied",
                    (unsigned long long)v->rp_applied);
        return;
    }
    int64_t after = e->ts + v->rp_offset - v->api->wall_ns(v->host);
    v->rp_timer = v->api->timer_start(v->host, after > 0 ? after : 0, 0, on_replay, v);
}

/* Applies every recorded event that is due, in (time, load order), then sleeps until
 * the next one. */
static void on_replay(void *ud)
{
    sim_venue_t *v = ud;
    int64_t now = v->api->wall_ns(v->host);
    uint32_t n = ks_replay_count(v->rp);
    v->rp_timer = 0;
    while (v->rp_next < n) {
        const ks_rp_event_t *e = ks_replay_event(v->rp, v->rp_next);
        if (e->ts + v->rp_offset > now)
            break;
        v->rp_next++;
        rp_apply(v, e);
    }
    rp_arm(v);
}

/* ---- requests (direct, or after latency_ms in arrival order) -------------------- */

/* ---- injected faults ("faults"; README.md, "Faults") ------------------------------- */

static uint64_t fx_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double fx_unit(uint64_t *s)
{
    return (double)(fx_next(s) >> 11) * 0x1.0p-53;
}

static void fx_seed(sim_venue_t *v)
{
    static const uint64_t salt[6] = {0x72656A6563740001ULL, 0x7061727469616C02ULL,
                                     0x6C6F73655F61636BULL, 0x6C6F73655F66696CULL,
                                     0x64656C6179000005ULL, 0x77696E646F770006ULL};
    uint64_t *streams[6] = {&v->fx.rng_reject, &v->fx.rng_partial, &v->fx.rng_lose,
                            &v->fx.rng_fill,   &v->fx.rng_delay,   &v->fx.rng_window};
    for (int i = 0; i < 6; i++) {
        uint64_t s = v->cfg.seed ^ salt[i];
        *streams[i] = fx_next(&s);
    }
}

static uint64_t fx_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

/* Remembers a client id; true when it was seen before. */
static bool fx_seen(sim_venue_t *v, const char *cloid)
{
    sim_faults_t *f = &v->fx;
    uint64_t h = fx_hash(cloid);
    if ((f->seen_n + 1) * 2 > f->seen_cap) {
        uint32_t cap = f->seen_cap ? f->seen_cap * 2 : 4096;
        uint64_t *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return false;
        for (uint32_t i = 0; i < f->seen_cap; i++) {
            if (!f->seen[i])
                continue;
            uint32_t k = (uint32_t)f->seen[i] & (cap - 1);
            while (tab[k])
                k = (k + 1) & (cap - 1);
            tab[k] = f->seen[i];
        }
        free(f->seen);
        f->seen = tab;
        f->seen_cap = cap;
    }
    uint32_t k = (uint32_t)h & (f->seen_cap - 1);
    while (f->seen[k]) {
        if (f->seen[k] == h)
            return true;
        k = (k + 1) & (f->seen_cap - 1);
    }
    f->seen[k] = h;
    f->seen_n++;
    return false;
}

static void fx_held_fire(void *ud);

static void fx_held_arm(sim_venue_t *v)
{
    sim_faults_t *f = &v->fx;
    if (!f->n_held)
        return;
    if (f->held_timer && f->held_timer_due <= f->held[0].due)
        return;
    if (f->held_timer)
        v->api->timer_stop(v->host, f->held_timer);
    int64_t after = f->held[0].due - v->api->now_ns(v->host);
    f->held_timer_due = f->held[0].due;
    f->held_timer = v->api->timer_start(v->host, after > 0 ? after : 0, 0, fx_held_fire, v);
}

/* Delivers the held events that are due, in (due, emission) order. */
static void fx_held_fire(void *ud)
{
    sim_venue_t *v = ud;
    sim_faults_t *f = &v->fx;
    int64_t now = v->api->now_ns(v->host);
    uint32_t k = 0;
    f->held_timer = 0;
    while (k < f->n_held && f->held[k].due <= now)
        emit(v, &f->held[k++].ev.hdr);
    memmove(f->held, f->held + k, (f->n_held - k) * sizeof(*f->held));
    f->n_held -= k;
    fx_held_arm(v);
}

static void fx_hold(sim_venue_t *v, const ks_event_t *hdr)
{
    sim_faults_t *f = &v->fx;
    if (f->n_held == f->cap_held) {
        uint32_t cap = f->cap_held ? f->cap_held * 2 : 64;
        sim_held_t *h = realloc(f->held, cap * sizeof(*h));
        if (!h) {
            emit(v, hdr); /* out of memory: deliver now rather than lose it */
            return;
        }
        f->held = h;
        f->cap_held = cap;
    }
    uint32_t at = f->n_held;
    while (at > 0 && f->held[at - 1].due > f->cur_due)
        at--;
    memmove(f->held + at + 1, f->held + at, (f->n_held - at) * sizeof(*f->held));
    sim_held_t *h = &f->held[at];
    memset(h, 0, sizeof(*h));
    h->due = f->cur_due;
    h->seq = ++f->held_seq;
    memcpy(&h->ev, hdr, hdr->type == KS_EV_FILL ? sizeof(ks_fill_t) : sizeof(ks_order_update_t));
    f->n_held++;
    fx_held_arm(v);
}

/* An order update or fill about to be emitted: true when a fault took it (dropped or
 * held). Fetch replies (KS_EVF_SNAPSHOT) always pass: the venue answers queries truly. */
static bool fx_order_event(sim_venue_t *v, const ks_event_t *hdr, const char *cloid)
{
    sim_faults_t *f = &v->fx;
    if (!v->cfg.faults.any || (hdr->flags & KS_EVF_SNAPSHOT))
        return false;
    if (f->cur_mode != FX_NONE && f->cur_cloid && strcmp(cloid, f->cur_cloid) == 0) {
        if (f->cur_mode == FX_LOSE)
            return true;
        fx_hold(v, hdr);
        return true;
    }
    if (hdr->type == KS_EV_FILL && v->cfg.faults.lose_fill_p > 0 &&
        fx_unit(&f->rng_fill) < v->cfg.faults.lose_fill_p) {
        f->n.lost_fills++;
        v->api->log(v->host, KS_LOG_DEBUG, "fault: fill of %s lost", cloid);
        return true;
    }
    return false;
}

static bool fx_reject_applies(const sim_venue_t *v, int32_t idx)
{
    const ks_sim_faults_cfg_t *c = &v->cfg.faults;
    const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, idx);
    if (c->reject_kind && s->kind != c->reject_kind)
        return false;
    if (!c->n_reject_symbols)
        return true;
    for (uint32_t i = 0; i < c->n_reject_symbols; i++)
        if (strcmp(c->reject_symbols[i], s->base) == 0 ||
            strcmp(c->reject_symbols[i], s->symbol) == 0)
            return true;
    return false;
}

/* A placement reaching the venue, with the faults drawn for it. */
static void fx_place(sim_venue_t *v, int64_t ts, const ks_order_cmd_t *cmd)
{
    const ks_sim_faults_cfg_t *c = &v->cfg.faults;
    sim_faults_t *f = &v->fx;
    ks_sim_place_fault_t pf;
    memset(&pf, 0, sizeof(pf));
    f->n.placed++;
    if (v->cfg.audit_file[0] && fx_seen(v, cmd->cloid)) {
        f->n.duplicate_cloids++;
        v->api->log(v->host, KS_LOG_ERROR, "audit: client id %s placed twice", cmd->cloid);
    }
    if (f->rate_limited) {
        /* HTTP 429 at the gateway: refused before the matching engine sees it. */
        ks_order_update_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_ORDER);
        ev.hdr.inst = v->host_id[cmd->inst];
        ev.hdr.venue_ts = ts;
        ks_strlcpy(ev.cloid, cmd->cloid, sizeof(ev.cloid));
        ev.status = KS_OS_REJECTED;
        ev.side = cmd->side;
        ev.type = cmd->type;
        ev.tif = cmd->tif;
        ev.reduce_only = cmd->reduce_only;
        ev.price = cmd->price;
        ev.qty = cmd->qty;
        ev.reject = KS_REJ_RATE_LIMIT;
        ks_strlcpy(ev.reason, "HTTP 429: too many requests (injected fault)", sizeof(ev.reason));
        f->n.rate_limited++;
        emit(v, &ev.hdr);
        if (KS_HAS_FIELD(v->api, ks_host_api_t, ratelimit_feedback) && v->api->ratelimit_feedback) {
            ks_ratelimit_info_t info;
            KS_INIT(&info);
            info.http_status = 429;
            info.limit = info.remaining = -1;
            info.retry_after_ns = (int64_t)c->ratelimit_retry_after_ms * NS_PER_MS;
            v->api->ratelimit_feedback(v->host, &info);
        }
        return;
    }
    if (c->reject_p > 0 && fx_reject_applies(v, cmd->inst) &&
        fx_unit(&f->rng_reject) < c->reject_p) {
        pf.reject = KS_REJ_OTHER;
        pf.reason = "rejected by the venue (injected fault)";
        f->n.rejected++;
    }
    bool immediate = cmd->type == KS_ORD_MARKET || cmd->tif == KS_TIF_IOC;
    if (c->partial_p > 0 && immediate && fx_unit(&f->rng_partial) < c->partial_p) {
        double share =
            c->partial_min + (c->partial_max - c->partial_min) * fx_unit(&f->rng_partial);
        ks_dec_t lot = ks_sim_core_spec(v->core, cmd->inst)->lot, lots;
        if (lot.mant > 0 && ks_dec_div(cmd->qty, lot, 0, KS_ROUND_FLOOR, &lots) == KS_OK) {
            int64_t n = (int64_t)((double)lots.mant * share);
            if (n > 0 && n < lots.mant) {
                pf.max_fill = KS_DEC(n * lot.mant, lot.scale);
                f->n.partial++;
            }
        }
    }
    f->cur_mode = FX_NONE;
    if (c->lose_ack_p > 0 && fx_unit(&f->rng_lose) < c->lose_ack_p) {
        f->cur_mode = FX_LOSE;
        f->n.lost_acks++;
    } else if (c->delay_p > 0 && fx_unit(&f->rng_delay) < c->delay_p) {
        int64_t span = (int64_t)(c->delay_max_ms - c->delay_min_ms) * NS_PER_MS;
        f->cur_mode = FX_DELAY;
        f->cur_due = v->api->now_ns(v->host) + (int64_t)c->delay_min_ms * NS_PER_MS +
                     (span > 0 ? (int64_t)(fx_next(&f->rng_delay) % (uint64_t)(span + 1)) : 0);
        f->n.delayed++;
    }
    if (f->cur_mode != FX_NONE || pf.reject || pf.max_fill.mant)
        v->api->log(v->host, KS_LOG_DEBUG, "fault on %s:%s%s%s%s", cmd->cloid,
                    pf.reject ? " rejected" : "", pf.max_fill.mant ? " partial" : "",
                    f->cur_mode == FX_LOSE ? " acks lost" : "",
                    f->cur_mode == FX_DELAY ? " acks delayed" : "");
    f->cur_cloid = cmd->cloid;
    ks_sim_core_place_fault(v->core, ts, cmd, &pf);
    f->cur_cloid = NULL;
    f->cur_mode = FX_NONE;
}

/* Exponentially distributed gap with the given mean (seconds), in ns. */
static int64_t fx_gap(sim_venue_t *v, int32_t mean_s)
{
    double u = fx_unit(&v->fx.rng_window);
    return (int64_t)(-log(1.0 - u) * (double)mean_s * 1e9) + 1;
}

static void fx_rl_begin(void *ud);

static void fx_rl_end(void *ud)
{
    sim_venue_t *v = ud;
    v->fx.rate_limited = false;
    v->fx.rl_timer =
        v->api->timer_start(v->host, fx_gap(v, v->cfg.faults.ratelimit_every_s), 0, fx_rl_begin, v);
}

static void fx_rl_begin(void *ud)
{
    sim_venue_t *v = ud;
    v->fx.rate_limited = true;
    v->fx.n.rate_limit_windows++;
    v->api->log(v->host, KS_LOG_INFO, "fault: placements refused with HTTP 429 for %d ms",
                v->cfg.faults.ratelimit_ms);
    v->fx.rl_timer = v->api->timer_start(v->host, (int64_t)v->cfg.faults.ratelimit_ms * NS_PER_MS,
                                         0, fx_rl_end, v);
}

static void fx_conn(sim_venue_t *v, int state, const char *detail)
{
    ks_conn_t ev;
    KS_SIM_EV_INIT(&ev, KS_EV_CONN);
    ev.hdr.inst = -1;
    ev.hdr.venue_ts = v->api->wall_ns(v->host);
    ev.state = (uint8_t)state;
    ks_strlcpy(ev.detail, detail, sizeof(ev.detail));
    emit(v, &ev.hdr);
}

static void fx_dc_begin(void *ud);

static void fx_dc_end(void *ud)
{
    sim_venue_t *v = ud;
    int64_t ts = v->api->wall_ns(v->host);
    v->fx.down = false;
    fx_conn(v, KS_CONN_UP, "reconnected after an injected disconnect");
    /* What a venue's resync gives a client after a reconnect: its account. */
    ks_sim_core_emit_positions(v->core, ts, -1, 0);
    ks_sim_core_emit_balances(v->core, ts, 0);
    v->fx.dc_timer = v->api->timer_start(v->host, fx_gap(v, v->cfg.faults.disconnect_every_s), 0,
                                         fx_dc_begin, v);
}

static void fx_dc_begin(void *ud)
{
    sim_venue_t *v = ud;
    v->fx.n.disconnects++;
    fx_conn(v, KS_CONN_DOWN, "injected disconnect");
    v->fx.down = true;
    v->api->log(v->host, KS_LOG_INFO, "fault: disconnected for %d ms", v->cfg.faults.disconnect_ms);
    v->fx.dc_timer = v->api->timer_start(v->host, (int64_t)v->cfg.faults.disconnect_ms * NS_PER_MS,
                                         0, fx_dc_end, v);
}

/* Arms the first burst and disconnect (from start). */
static void fx_start(sim_venue_t *v)
{
    const ks_sim_faults_cfg_t *c = &v->cfg.faults;
    if (c->ratelimit_ms > 0)
        v->fx.rl_timer =
            v->api->timer_start(v->host, fx_gap(v, c->ratelimit_every_s), 0, fx_rl_begin, v);
    if (c->disconnect_ms > 0)
        v->fx.dc_timer =
            v->api->timer_start(v->host, fx_gap(v, c->disconnect_every_s), 0, fx_dc_begin, v);
}

static void fx_stop(sim_venue_t *v)
{
    sim_faults_t *f = &v->fx;
    if (v->api->timer_stop) {
        if (f->held_timer)
            v->api->timer_stop(v->host, f->held_timer);
        if (f->rl_timer)
            v->api->timer_stop(v->host, f->rl_timer);
        if (f->dc_timer)
            v->api->timer_stop(v->host, f->dc_timer);
    }
    f->held_timer = f->rl_timer = f->dc_timer = 0;
    free(f->held);
    free(f->seen);
    f->held = NULL;
    f->seen = NULL;
}

/* audit_file: the venue's own account and the fault counters, as one JSON object. */
static void fx_write_audit(sim_venue_t *v)
{
    const sim_faults_t *f = &v->fx;
    char tmp[KS_SIM_PATH_LEN + 8], a[KS_DEC_STRLEN];
    snprintf(tmp, sizeof(tmp), "%s.tmp", v->cfg.audit_file);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        v->api->log(v->host, KS_LOG_ERROR, "audit_file %s: cannot write", v->cfg.audit_file);
        return;
    }
    fprintf(out,
            "{\"placed\": %llu, \"duplicate_cloids\": %llu, \"open_orders\": %d,\n"
            " \"faults\": {\"rejected\": %llu, \"partial\": %llu, \"lost_acks\": %llu, "
            "\"lost_fills\": %llu, \"delayed\": %llu, \"rate_limited\": %llu, "
            "\"rate_limit_windows\": %llu, \"disconnects\": %llu, \"lost_requests\": %llu},\n"
            " \"instruments\": [",
            (unsigned long long)f->n.placed, (unsigned long long)f->n.duplicate_cloids,
            ks_sim_core_open_order_count(v->core), (unsigned long long)f->n.rejected,
            (unsigned long long)f->n.partial, (unsigned long long)f->n.lost_acks,
            (unsigned long long)f->n.lost_fills, (unsigned long long)f->n.delayed,
            (unsigned long long)f->n.rate_limited, (unsigned long long)f->n.rate_limit_windows,
            (unsigned long long)f->n.disconnects, (unsigned long long)f->n.lost_requests);
    for (int32_t i = 0; i < v->n_inst; i++) {
        const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, i);
        ks_dec_t q = KS_DEC_ZERO;
        if (s->kind == KS_KIND_PERP) {
            ks_position_t p;
            if (ks_sim_core_get_position(v->core, i, &p) == KS_OK)
                q = p.qty;
        } else {
            ks_balance_t b;
            if (ks_sim_core_get_balance(v->core, KS_WALLET_SPOT, s->base, &b) == KS_OK)
                q = b.total;
        }
        ks_dec_format(q, a, sizeof(a));
        /* perp: the signed position; spot: the base asset's spot wallet total */
        fprintf(out, "%s\n  {\"symbol\": \"%s\", \"kind\": \"%s\", \"qty\": \"%s\"}", i ? "," : "",
                s->symbol, s->kind == KS_KIND_PERP ? "perp" : "spot", a);
    }
    fprintf(out, "]}\n");
    if (fclose(out) != 0 || rename(tmp, v->cfg.audit_file) != 0)
        v->api->log(v->host, KS_LOG_ERROR, "audit_file %s: cannot write", v->cfg.audit_file);
}

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

    if (v->fx.down) {
        v->fx.n.lost_requests++; /* sent into a dead connection: nothing happens */
        return;
    }
    switch ((sim_req_kind_t)r->kind) {
    case RQ_PLACE:
        if (v->cfg.faults.any || v->cfg.audit_file[0])
            fx_place(v, ts, &r->u.place);
        else
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
    /* With faults, requests always run from the timer, never inside the host's call: a
     * refusal calls ratelimit_feedback, which must not re-enter the host's send path. */
    if (v->cfg.latency_ms <= 0 && v->cfg.latency_jitter_ms <= 0 && !v->cfg.faults.any) {
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
    if (v->cfg.latency_jitter_ms > 0) {
        /* splitmix64 on a stream seeded from `seed`: the same run, the same delays. */
        uint64_t z = (v->lat_rng += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        r->due += (int64_t)(z % ((uint64_t)v->cfg.latency_jitter_ms * NS_PER_MS + 1));
    }
    if (r->due < v->last_due)
        r->due = v->last_due; /* FIFO: a request never overtakes an earlier one */
    v->last_due = r->due;
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

/* Registers (or re-registers, when a recorded funding interval changed) core instrument
 * idx with the host. */
static int register_inst(sim_venue_t *v, int32_t idx, int32_t interval_h)
{
    const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, idx);
    const ks_rp_inst_t *ri = v->rp ? ks_replay_inst(v->rp, (uint32_t)v->rp_of_core[idx]) : NULL;
    char venue_symbol[KS_SYMBOL_LEN];
    ks_instrument_t inst;
    int32_t id = -1;
    int rc;
    if (ri)
        ks_strlcpy(venue_symbol, ri->venue_symbol, sizeof(venue_symbol));
    else
        snprintf(venue_symbol, sizeof(venue_symbol), "%s%s", s->base, s->quote);
    KS_INIT(&inst);
    inst.kind = s->kind;
    inst.symbol = s->symbol;
    inst.venue_symbol = venue_symbol;
    inst.base = s->base;
    inst.quote = s->quote;
    inst.settle = s->kind == KS_KIND_PERP ? s->quote : NULL;
    inst.dex = ri && ri->dex[0] ? ri->dex : NULL;
    inst.tick_size = s->tick;
    inst.lot_size = s->lot;
    inst.min_qty = s->min_qty;
    inst.min_notional = s->min_notional;
    inst.maker_fee = s->maker_fee;
    inst.taker_fee = s->taker_fee;
    inst.max_leverage = s->kind == KS_KIND_PERP ? s->max_leverage : 1;
    inst.funding_interval_h = s->kind == KS_KIND_PERP ? interval_h : 0;
    inst.flags = KS_INST_TRADING;
    if ((rc = v->api->instrument_upsert(v->host, &inst, &id)) != KS_OK) {
        v->api->log(v->host, KS_LOG_ERROR, "sim: cannot register %s: %s", s->symbol,
                    ks_strerror(rc));
        return rc;
    }
    map_host_id(v, idx, id);
    ks_sim_core_set_ext_id(v->core, idx, id);
    if (v->rp)
        v->ri[v->rp_of_core[idx]].interval_h = interval_h;
    return KS_OK;
}

/* The first price of each recorded instrument (sizes its synthetic book). */
static void rp_first_prices(const ks_replay_t *rp, ks_dec_t *first)
{
    for (uint32_t i = 0; i < ks_replay_count(rp); i++) {
        const ks_rp_event_t *e = ks_replay_event(rp, i);
        if (first[e->inst].mant)
            continue;
        if (e->kind == KS_RP_KLINE || e->kind == KS_RP_TRADE || e->kind == KS_RP_LIQ)
            first[e->inst] = e->px;
        else if (e->kind == KS_RP_TICKER && (ks_replay_ticker(rp, e)->fields & KS_TK_MARK))
            first[e->inst] = ks_replay_ticker(rp, e)->mark;
        else if (e->kind == KS_RP_BBO)
            first[e->inst] = e->px.mant ? e->px : e->px2;
        else if (e->kind == KS_RP_BOOK && e->n_bids)
            first[e->inst] = ks_replay_levels(rp, e)[0].px;
    }
}

/* Loads the recorded data, builds one core instrument per recorded instrument and tells
 * the host the data's span. */
static int replay_open(sim_venue_t *v, char *err, size_t err_len)
{
    ks_sim_config_t *cfg = &v->cfg;
    const ks_sim_replay_cfg_t *rc_ = &cfg->replay;
    char why[1400];
    const char *syms[KS_SIM_MAX_REPLAY_SYMBOLS];
    int rc;

    if (!(v->rp = ks_replay_new())) {
        snprintf(err, err_len, "sim: out of memory");
        return KS_ENOMEM;
    }
    for (uint32_t i = 0; i < rc_->n_paths; i++) {
        if ((rc = ks_replay_load(v->rp, rc_->paths[i], why, sizeof(why))) != KS_OK) {
            snprintf(err, err_len, "replay.paths[%u]: %s", i, why);
            return rc == KS_ENOTSUP ? KS_EINVAL : rc;
        }
    }
    for (uint32_t i = 0; i < rc_->n_symbols; i++)
        syms[i] = rc_->symbols[i];
    ks_replay_opts_t o = {
        .synthetic_spot = rc_->synthetic_spot,
        .start_ns = rc_->start_ns,
        .end_ns = rc_->end_ns,
        .symbols = syms,
        .n_symbols = rc_->n_symbols,
        .quote = cfg->quote_set ? cfg->quote : NULL,
        .min_notional = rc_->min_notional,
    };
    if ((rc = ks_replay_finish(v->rp, &o, why, sizeof(why))) != KS_OK) {
        snprintf(err, err_len, "%s", why);
        return rc;
    }
    if (!cfg->quote_set && strcmp(cfg->quote, ks_replay_quote(v->rp)) != 0) {
        ks_strlcpy(cfg->quote, ks_replay_quote(v->rp), sizeof(cfg->quote));
        if (!cfg->balances_set) {
            ks_strlcpy(cfg->spot[0].asset, cfg->quote, sizeof(cfg->spot[0].asset));
            ks_strlcpy(cfg->futures[0].asset, cfg->quote, sizeof(cfg->futures[0].asset));
        }
    }

    uint32_t n = ks_replay_inst_count(v->rp);
    v->ri = calloc(n ? n : 1, sizeof(*v->ri));
    v->rp_of_core = calloc(n ? n : 1, sizeof(*v->rp_of_core));
    ks_dec_t *first = calloc(n ? n : 1, sizeof(*first));
    if (!v->ri || !v->rp_of_core || !first) {
        free(first);
        snprintf(err, err_len, "sim: out of memory");
        return KS_ENOMEM;
    }
    rp_first_prices(v->rp, first);
    for (uint32_t k = 0; k < n; k++) {
        const ks_rp_inst_t *in = ks_replay_inst(v->rp, k);
        sim_rinst_t *ri = &v->ri[k];
        ri->core = -1;
        if (!in->keep || !in->n_events)
            continue;
        bool perp = in->kind == KS_KIND_PERP;
        ks_sim_inst_spec_t spec;
        memset(&spec, 0, sizeof(spec));
        spec.kind = in->kind;
        ks_strlcpy(spec.symbol, in->symbol, sizeof(spec.symbol));
        ks_strlcpy(spec.base, in->base, sizeof(spec.base));
        ks_strlcpy(spec.quote, in->quote, sizeof(spec.quote));
        spec.tick = in->tick;
        spec.lot = in->lot;
        spec.min_qty = in->min_qty;
        spec.min_notional = in->min_notional;
        spec.maker_fee = cfg->maker_fee;
        spec.taker_fee = cfg->taker_fee;
        spec.mmr = cfg->maint_margin_rate;
        spec.max_leverage =
            perp ? (in->max_leverage > 0 ? in->max_leverage : cfg->max_leverage) : 1;
        spec.leverage =
            perp ? (cfg->leverage < spec.max_leverage ? cfg->leverage : spec.max_leverage) : 1;
        spec.funding_interval_h = perp ? in->funding_interval_h : 0;
        spec.external_funding = perp;
        spec.book_levels = cfg->book_levels;
        spec.spread_ticks = 1;
        spec.depth_lots = 1;
        spec.depth_growth_pct = 25;
        spec.depth_jitter_pct = 0;
        spec.ext_id = -1;
        ri->perp = perp;
        ri->recorded_mark = (in->flags & (KS_RPI_MARK | KS_RPI_KLINE)) != 0;
        ri->synbook = !(in->flags & KS_RPI_BOOK) && (in->flags & (KS_RPI_KLINE | KS_RPI_MARK));
        if (ri->synbook && first[k].mant > 0) {
            /* A thin book around the close: spread_bps of the first price (>= 1 tick),
             * depth_usd of quote at the touch, growing 25 % per level. */
            double px = ks_dec_to_double(first[k]);
            double tick = ks_dec_to_double(in->tick), lot = ks_dec_to_double(in->lot);
            double spread = px * ks_dec_to_double(rc_->spread_bps) / 1e4 / tick;
            double lots = ks_dec_to_double(rc_->depth_usd) / px / lot;
            spec.spread_ticks = spread < 1 ? 1 : spread > 1000 ? 1000 : (int32_t)(spread + 0.5);
            spec.depth_lots = lots < 1 ? 1 : lots > 1e12 ? 1000000000000LL : (int64_t)lots;
        }
        int32_t idx;
        if ((rc = ks_sim_core_add_inst(v->core, &spec, &idx, why, sizeof(why))) != KS_OK) {
            free(first);
            snprintf(err, err_len, "replay: %s", why);
            return rc;
        }
        ri->core = idx;
        v->rp_of_core[idx] = (int32_t)k;
    }
    free(first);
    v->n_inst = ks_sim_core_inst_count(v->core);
    if (!v->n_inst) {
        snprintf(err, err_len, "replay: no instrument left to replay");
        return KS_ENOENT;
    }
    for (uint32_t i = 0; i < ks_replay_file_count(v->rp); i++) {
        const ks_rp_file_t *f = ks_replay_file(v->rp, i);
        v->api->log(v->host, KS_LOG_INFO, "replay: %s (%s): %llu events%s", f->path, f->format,
                    (unsigned long long)f->events,
                    f->book_gaps ? ", book sequence gaps counted" : "");
    }
    int64_t first_ts = ks_replay_first_ts(v->rp), last_ts = ks_replay_last_ts(v->rp);
    if (KS_HAS_FIELD(v->api, ks_host_api_t, replay_span) && v->api->replay_span &&
        v->api->replay_span(v->host, first_ts, last_ts) == KS_OK) {
        v->rp_offset = 0;
        v->rp_offset_set = true;
    }
    return KS_OK;
}

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
    v->lat_rng = v->cfg.seed ^ 0x6C8E9CF570932BD5ULL;
    fx_seed(v);
    bool replay = v->cfg.replay.n_paths > 0;
    if (!replay) {
        market_setup(&v->cfg, &mc, mp);
        if ((rc = ks_sim_market_validate(&mc, mp, v->cfg.n_symbols, err, err_len)) != KS_OK)
            goto fail;
    }

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
    if (replay) {
        if ((rc = replay_open(v, err, err_len)) != KS_OK)
            goto fail;
    } else {
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
    }
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
    if (v->rp_timer && v->api->timer_stop)
        v->api->timer_stop(v->host, v->rp_timer);
    if (v->cfg.audit_file[0] && v->core)
        fx_write_audit(v);
    fx_stop(v);
    ks_sim_core_free(v->core);
    ks_sim_market_free(v->mkt);
    if (v->ri)
        for (uint32_t k = 0; k < ks_replay_inst_count(v->rp); k++)
            ks_sim_book_free(&v->ri[k].book);
    free(v->ri);
    free(v->rp_of_core);
    ks_replay_free(v->rp);
    free(v->core_of_host);
    free(v->q);
    free(v);
}

/* Facts about this replay that strategies cannot see, for the backtest report (the host
 * turns each line of the kv "report.notes" into a note). */
static void replay_notes(sim_venue_t *v)
{
    char buf[4096];
    size_t p = 0;
    uint32_t n_syn = 0, n_book = 0, n_mid = 0, n_fund = 0, n_quote = 0;
    char syn[256] = "";
#define NOTE(...)                                                                                  \
    do {                                                                                           \
        if (p < sizeof(buf))                                                                       \
            p += (size_t)snprintf(buf + p, sizeof(buf) - p, __VA_ARGS__);                          \
    } while (0)
    for (uint32_t i = 0; i < ks_replay_file_count(v->rp); i++) {
        const ks_rp_file_t *f = ks_replay_file(v->rp, i);
        const char *base = strrchr(f->path, '/');
        if (i < 8)
            NOTE("replayed %s (%s): %llu events%s\n", base ? base + 1 : f->path, f->format,
                 (unsigned long long)f->events,
                 f->book_gaps ? ", with book sequence gaps (applied anyway)" : "");
    }
    if (ks_replay_file_count(v->rp) > 8)
        NOTE("... and %u more files\n", ks_replay_file_count(v->rp) - 8);
    for (uint32_t k = 0; k < ks_replay_inst_count(v->rp); k++) {
        const ks_rp_inst_t *in = ks_replay_inst(v->rp, k);
        const sim_rinst_t *ri = &v->ri[k];
        if (in->kind == KS_KIND_PERP && strcmp(in->quote, v->cfg.quote) != 0)
            n_quote++;
        if (ri->core < 0)
            continue;
        if (in->flags & KS_RPI_SYNTHETIC) {
            if (n_syn++ < 6) {
                size_t l = strlen(syn);
                snprintf(syn + l, sizeof(syn) - l, "%s%s", l ? ", " : "", in->symbol);
            }
        }
        n_book += ri->synbook;
        n_mid += ri->perp && !ri->recorded_mark && !ri->synbook;
        n_fund += (in->flags & KS_RPI_FUNDING) != 0;
    }
    if (n_syn)
        NOTE("synthetic spot markets (NOT recorded: priced at their perp's candle close, zero "
             "basis): %s%s\n",
             syn, n_syn > 6 ? ", ..." : "");
    if (n_book) {
        char sp[KS_DEC_STRLEN], dp[KS_DEC_STRLEN];
        ks_dec_format(v->cfg.replay.spread_bps, sp, sizeof(sp));
        ks_dec_format(v->cfg.replay.depth_usd, dp, sizeof(dp));
        NOTE("%u instruments have no recorded book: a synthetic book around the candle close or "
             "mark (%s bps spread, %s %s at the touch; fills on candle highs/lows are inferred)\n",
             n_book, sp, dp, v->cfg.quote);
    }
    if (n_mid)
        NOTE("%u perps have no recorded mark price: the mark is the recorded book's mid\n", n_mid);
    if (n_fund)
        NOTE("funding settled at the recorded settlement times and rates of %u perps, on the "
             "mark in effect then\n",
             n_fund);
    if (n_quote) {
        NOTE("%u perps that settle in another asset than %s were not replayed (one settle "
             "asset per sim venue: set \"quote\" or use a second venue)\n",
             n_quote, v->cfg.quote);
        v->api->log(v->host, KS_LOG_WARN,
                    "replay: %u perps settle in another asset than %s and are not replayed",
                    n_quote, v->cfg.quote);
    }
    if (v->cfg.latency_ms || v->cfg.latency_jitter_ms)
        NOTE("order latency %d ms + up to %d ms jitter\n", v->cfg.latency_ms,
             v->cfg.latency_jitter_ms);
#undef NOTE
    if (p >= sizeof(buf))
        p = sizeof(buf) - 1;
    if (KS_HAS_FIELD(v->api, ks_host_api_t, kv_set) && v->api->kv_set)
        v->api->kv_set(v->host, "report.notes", buf, p);
}

static int replay_start(sim_venue_t *v)
{
    int rc;
    for (int32_t i = 0; i < v->n_inst; i++) {
        const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, i);
        if ((rc = register_inst(v, i, s->funding_interval_h)) != KS_OK)
            return rc;
    }
    int64_t t0 = v->api->wall_ns(v->host);
    if (!v->rp_offset_set) {
        /* Not a backtest: replay at the real pace, shifted to start now. */
        v->rp_offset = t0 - ks_replay_first_ts(v->rp);
        v->rp_offset_set = true;
    }
    v->started = true;
    ks_conn_t conn;
    KS_SIM_EV_INIT(&conn, KS_EV_CONN);
    conn.hdr.inst = -1;
    conn.hdr.venue_ts = t0;
    conn.state = KS_CONN_UP;
    snprintf(conn.detail, sizeof(conn.detail),
             "sim replay: %d instruments, %u events from %u files", v->n_inst,
             ks_replay_count(v->rp), ks_replay_file_count(v->rp));
    emit(v, &conn.hdr);
    ks_sim_core_emit_balances(v->core, t0, 0);
    fx_start(v);
    replay_notes(v);
    /* The first events (and the priming before a window start) run from a timer, after
     * the host has subscribed its strategies. */
    rp_arm(v);
    return KS_OK;
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
    if (v->rp)
        return replay_start(v);
    for (int32_t i = 0; i < v->n_inst; i++) {
        const ks_sim_inst_spec_t *s = ks_sim_core_spec(v->core, i);
        if ((rc = register_inst(v, i, s->funding_interval_h)) != KS_OK)
            return rc;
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
    fx_start(v);
    return KS_OK;
}

static void rp_subscribed(sim_venue_t *v, int32_t idx, uint32_t added)
{
    const sim_rinst_t *ri = &v->ri[v->rp_of_core[idx]];
    const ks_level_t *bids, *asks;
    uint32_t nb, na;
    int64_t ts = v->api->wall_ns(v->host);
    ks_sim_core_book(v->core, idx, &bids, &nb, &asks, &na);
    if ((added & KS_CH_BBO) && (nb || na))
        rp_emit_bbo(v, idx, ts, 0);
    if ((added & KS_CH_BOOK) && (nb || na))
        rp_emit_book(v, idx, ts, 0);
    if ((added & KS_CH_TICKER) && ri->ticker.fields)
        rp_emit_ticker(v, idx, ts, 0, ri->ticker.fields);
    if ((added & KS_CH_ORACLE) && ri->oracle.mant) {
        ks_oracle_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_ORACLE);
        ev.hdr.inst = v->host_id[idx];
        ev.hdr.venue_ts = ts;
        ev.hdr.flags = KS_EVF_REPLAY;
        ev.px = ri->oracle;
        emit(v, &ev.hdr);
    }
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
    if (!added)
        return KS_OK;
    if (v->rp)
        rp_subscribed(v, idx, added);
    else
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
