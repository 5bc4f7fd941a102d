/* The sim venue as the host sees it: sim.so loaded with dlopen and driven through its
 * ks_exchange_ops_t by a fake host with a virtual clock, a timer heap and a recording
 * emit(). Covers start, subscribe, order entry, fetch, transfer, latency, config errors,
 * determinism of the whole event stream, liveliness, funding, and speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "sim/fake_host.h"
#include "sim/sim_test_util.h"

#define MS   1000000LL
#define SEC  1000000000LL
#define HOUR (3600 * SEC)
/* 2024-01-01 01:00:00 UTC */
#define WALL0 (1704067200LL * SEC + HOUR)

typedef struct venue {
    fh_plugin_t plug;
    ks_host_t host;
    void *self;
} venue_t;

static const ks_exchange_ops_t *ops(venue_t *v)
{
    return v->plug.ops;
}

static int venue_open(venue_t *v, const char *config, int64_t wall0, char *err, size_t err_len)
{
    memset(v, 0, sizeof(*v));
    if (fh_plugin_load(&v->plug, "sim") != 0)
        fail_msg("cannot load sim.so (is KS_BUILD_DIR set?)");
    fh_init(&v->host, wall0);
    return ops(v)->open(fh_api(), &v->host, "sim", config, &v->self, err, err_len);
}

static void venue_start(venue_t *v, const char *config)
{
    char err[KS_REASON_LEN] = "";
    int rc = venue_open(v, config, WALL0, err, sizeof(err));
    if (rc != KS_OK)
        fail_msg("open: %s", err);
    assert_int_equal(ops(v)->start(v->self), KS_OK);
}

static void venue_close(venue_t *v)
{
    if (v->self)
        ops(v)->close(v->self);
    fh_free(&v->host);
    fh_plugin_unload(&v->plug);
}

static int32_t inst(venue_t *v, const char *symbol)
{
    int32_t id = fh_inst_id(&v->host, symbol);
    if (id < 0)
        fail_msg("no instrument %s", symbol);
    return id;
}

static int place(venue_t *v, const char *symbol, const char *cloid, int side, int type, int tif,
                 const char *px, const char *qty)
{
    ks_order_cmd_t cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.struct_size = sizeof(cmd);
    cmd.inst = inst(v, symbol);
    ks_strlcpy(cmd.cloid, cloid, sizeof(cmd.cloid));
    cmd.side = (int8_t)side;
    cmd.type = (uint8_t)type;
    cmd.tif = (uint8_t)tif;
    cmd.price = px ? D(px) : KS_DEC_ZERO;
    cmd.qty = D(qty);
    return ops(v)->place(v->self, &cmd);
}

static const ks_order_update_t *last_order(venue_t *v, const char *cloid)
{
    for (size_t i = v->host.n_ev; i-- > 0;)
        if (v->host.ev[i].hdr.type == KS_EV_ORDER && strcmp(v->host.ev[i].order.cloid, cloid) == 0)
            return &v->host.ev[i].order;
    fail_msg("no order update for %s", cloid);
    return NULL;
}

/* ---- descriptor, start, subscribe ------------------------------------------------------ */

static void descriptor_declares_an_exchange_with_its_caps(void **state)
{
    fh_plugin_t p;
    assert_int_equal(fh_plugin_load(&p, "sim"), 0);
    assert_int_equal(p.desc->abi_major, KS_ABI_MAJOR);
    assert_int_equal(p.desc->kind, KS_PLUGIN_EXCHANGE);
    assert_string_equal(p.desc->name, "sim");
    assert_int_equal(p.ops->struct_size, sizeof(ks_exchange_ops_t));
    uint32_t caps = KS_XCAP_TRANSFER | KS_XCAP_QUERY_BY_CLOID | KS_XCAP_AMEND;
    assert_int_equal(p.ops->caps & caps, caps);
    assert_non_null(p.ops->amend);
    assert_non_null(p.ops->transfer);
    assert_int_equal(p.ops->request_weight(NULL, KS_REQ_PLACE, 0), 1);
    fh_plugin_unload(&p);
}

static void start_registers_instruments_and_reports_up(void **state)
{
    venue_t v;
    venue_start(&v, NULL);
    assert_int_equal(v.host.n_inst, 6); /* BTC, ETH, SOL: spot + perp */
    const fh_inst_t *s = fh_inst_get(&v.host, inst(&v, "BTC/USDT"));
    const fh_inst_t *p = fh_inst_get(&v.host, inst(&v, "BTC/USDT:USDT"));
    assert_int_equal(s->spec.kind, KS_KIND_SPOT);
    assert_string_equal(s->venue_symbol, "BTCUSDT");
    assert_null(s->spec.settle);
    assert_int_equal(s->spec.funding_interval_h, 0);
    assert_int_equal(p->spec.kind, KS_KIND_PERP);
    assert_string_equal(p->venue_symbol, "BTCUSDT");
    assert_string_equal(p->settle, "USDT");
    assert_int_equal(p->spec.funding_interval_h, 8);
    assert_dec_equal(p->spec.tick_size, D("0.1"));
    assert_dec_equal(p->spec.lot_size, D("0.001"));
    assert_dec_equal(p->spec.taker_fee, D("0.00055"));
    assert_int_equal(p->spec.max_leverage, 50);
    inst(&v, "SOL/USDT:USDT");
    /* CONN up first, then every balance. */
    assert_int_equal(v.host.ev[0].hdr.type, KS_EV_CONN);
    assert_int_equal(v.host.ev[0].conn.state, KS_CONN_UP);
    assert_int_equal(v.host.ev[0].hdr.venue_ts, WALL0);
    assert_int_equal(fh_count(&v.host, KS_EV_BALANCE), 5); /* spot BTC ETH SOL USDT, futures */
    assert_int_equal(ops(&v)->start(v.self), KS_ESTATE);
    /* Steps without subscriptions emit nothing. */
    fh_clear(&v.host);
    fh_advance(&v.host, 10 * SEC);
    assert_int_equal(v.host.n_ev, 0);
    venue_close(&v);
}

static void subscribe_streams_market_data_every_step(void **state)
{
    venue_t v;
    venue_start(&v, "{\"tick_ms\": 500, \"book_levels\": 20}");
    int32_t perp = inst(&v, "BTC/USDT:USDT");
    fh_clear(&v.host);
    assert_int_equal(ops(&v)->subscribe(v.self, perp, 0x3F), KS_OK);
    /* The snapshot-like channels answer at once. */
    assert_int_equal(fh_count(&v.host, KS_EV_BBO), 1);
    assert_int_equal(fh_count(&v.host, KS_EV_BOOK), 1);
    assert_int_equal(fh_count(&v.host, KS_EV_TICKER), 1);
    assert_int_equal(fh_count(&v.host, KS_EV_ORACLE), 1);
    fh_clear(&v.host);
    fh_advance(&v.host, 60 * SEC);
    assert_int_equal(fh_count(&v.host, KS_EV_BBO), 120);
    assert_int_equal(fh_count(&v.host, KS_EV_BOOK), 120);
    assert_int_equal(fh_count(&v.host, KS_EV_TICKER), 120);
    assert_int_equal(fh_count(&v.host, KS_EV_ORACLE), 120);
    assert_true(fh_count(&v.host, KS_EV_TRADE) > 60);
    for (size_t i = 0; i < v.host.n_ev; i++)
        assert_int_equal(v.host.ev[i].hdr.inst, perp);

    const ks_book_t *b = &fh_last(&v.host, KS_EV_BOOK)->book;
    assert_true(b->snapshot);
    assert_int_equal(b->n_bids, 20);
    assert_true(b->n_asks >= 19);
    const ks_bbo_t *bbo = &fh_last(&v.host, KS_EV_BBO)->bbo;
    assert_true(ks_dec_cmp(bbo->bid_px, bbo->ask_px) < 0);
    assert_int_equal(bbo->hdr.venue_ts, WALL0 + 60 * SEC);

    const ks_ticker_t *t = &fh_last(&v.host, KS_EV_TICKER)->ticker;
    uint32_t want = KS_TK_LAST | KS_TK_MARK | KS_TK_INDEX | KS_TK_BID | KS_TK_ASK |
                    KS_TK_FUNDING_RATE | KS_TK_NEXT_FUNDING | KS_TK_FUNDING_INTERVAL |
                    KS_TK_OPEN_INTEREST | KS_TK_VOLUME_QUOTE_24H;
    assert_int_equal(t->fields, want);
    assert_int_equal(t->next_funding_ts, WALL0 + 7 * HOUR); /* 08:00 UTC */
    assert_int_equal(t->funding_interval_h, 8);
    assert_true(ks_dec_sign(t->open_interest) > 0);
    assert_true(ks_dec_cmp(t->volume_quote_24h, D("1000000000")) > 0);
    assert_true(ks_dec_cmp(t->mark, D("50000")) > 0 && ks_dec_cmp(t->mark, D("80000")) < 0);
    assert_true(ks_dec_cmp(ks_dec_abs(t->funding_rate), D("0.0075")) <= 0);
    /* Subscribing again adds nothing new; a spot instrument has no oracle. */
    fh_clear(&v.host);
    ops(&v)->subscribe(v.self, perp, KS_CH_BBO);
    assert_int_equal(v.host.n_ev, 0);
    ops(&v)->subscribe(v.self, inst(&v, "ETH/USDT"), KS_CH_ORACLE | KS_CH_TICKER);
    assert_int_equal(fh_count(&v.host, KS_EV_ORACLE), 0);
    assert_int_equal(fh_count(&v.host, KS_EV_TICKER), 1);
    assert_int_equal(ops(&v)->subscribe(v.self, 424242, KS_CH_BBO), KS_ENOENT);
    venue_close(&v);
}

static void liquidation_prints_arrive_for_subscribers(void **state)
{
    venue_t v;
    venue_start(&v, "{\"symbols\": [{\"base\": \"SOL\", \"liq_bursts_per_day\": 200}]}");
    ops(&v)->subscribe(v.self, inst(&v, "SOL/USDT:USDT"), KS_CH_LIQUIDATIONS);
    fh_advance(&v.host, 2 * HOUR);
    size_t n = fh_count(&v.host, KS_EV_LIQUIDATION);
    assert_true(n > 20);
    const ks_liquidation_t *l = &fh_last(&v.host, KS_EV_LIQUIDATION)->liq;
    assert_true(l->side == KS_SIDE_BUY || l->side == KS_SIDE_SELL);
    assert_true(ks_dec_sign(l->qty) > 0);
    venue_close(&v);
}

/* ---- orders ---------------------------------------------------------------------------- */

static void market_order_emits_ack_fills_order_position_balance(void **state)
{
    venue_t v;
    venue_start(&v, NULL);
    int32_t perp = inst(&v, "BTC/USDT:USDT");
    fh_clear(&v.host);
    assert_int_equal(place(&v, "BTC/USDT:USDT", "m1", KS_SIDE_BUY, KS_ORD_MARKET, 0, NULL, "0.01"),
                     KS_OK);
    const fh_ev_t *e = v.host.ev;
    size_t n = v.host.n_ev;
    assert_true(n >= 5);
    assert_int_equal(e[0].hdr.type, KS_EV_ORDER);
    assert_int_equal(e[0].order.status, KS_OS_ACKED);
    assert_int_equal(e[0].hdr.inst, perp);
    assert_int_equal(e[1].hdr.type, KS_EV_FILL);
    assert_string_equal(e[1].fill.cloid, "m1");
    assert_string_equal(e[1].fill.fee_asset, "USDT");
    assert_int_equal(e[n - 3].hdr.type, KS_EV_ORDER);
    assert_int_equal(e[n - 3].order.status, KS_OS_FILLED);
    assert_dec_equal(e[n - 3].order.filled, D("0.01"));
    assert_int_equal(e[n - 2].hdr.type, KS_EV_POSITION);
    assert_dec_equal(e[n - 2].pos.qty, D("0.01"));
    assert_int_equal(e[n - 2].pos.leverage, 10);
    assert_true(ks_dec_sign(e[n - 2].pos.liq_px) > 0);
    assert_int_equal(e[n - 1].hdr.type, KS_EV_BALANCE);
    assert_int_equal(e[n - 1].bal.wallet, KS_WALLET_FUTURES);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e[i].hdr.venue_ts, WALL0);
    /* Unique trade ids. */
    size_t fills = fh_count(&v.host, KS_EV_FILL);
    for (size_t i = 0; i < fills; i++)
        for (size_t k = i + 1; k < fills; k++)
            assert_string_not_equal(fh_nth(&v.host, KS_EV_FILL, i)->fill.trade_id,
                                    fh_nth(&v.host, KS_EV_FILL, k)->fill.trade_id);
    /* Argument checks that return at once, without events. */
    fh_clear(&v.host);
    ks_order_cmd_t bad;
    memset(&bad, 0, sizeof(bad));
    bad.struct_size = sizeof(bad);
    bad.inst = 999999;
    assert_int_equal(ops(&v)->place(v.self, &bad), KS_ENOENT);
    assert_int_equal(v.host.n_ev, 0);
    venue_close(&v);
}

static void rejections_are_order_updates(void **state)
{
    venue_t v;
    venue_start(&v, NULL);
    place(&v, "ETH/USDT", "r1", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "1");
    assert_int_equal(last_order(&v, "r1")->reject, KS_REJ_INSUFFICIENT_FUNDS);
    place(&v, "ETH/USDT:USDT", "r2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "3000.001", "1");
    assert_int_equal(last_order(&v, "r2")->reject, KS_REJ_INVALID);
    place(&v, "ETH/USDT:USDT", "r2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "3000", "1");
    assert_int_equal(last_order(&v, "r2")->reject, KS_REJ_DUPLICATE_CLOID);
    assert_int_equal(last_order(&v, "r2")->status, KS_OS_REJECTED);
    venue_close(&v);
}

static void fetch_replies_with_snapshots_then_sync_done(void **state)
{
    venue_t v;
    venue_start(&v, NULL);
    place(&v, "BTC/USDT:USDT", "pos", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "0.1");
    place(&v, "BTC/USDT:USDT", "rest", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "60000", "0.01");
    place(&v, "ETH/USDT", "rest2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "3000", "0.1");

    fh_clear(&v.host);
    assert_int_equal(ops(&v)->fetch(v.self, KS_FETCH_OPEN_ORDERS, -1, NULL, 11), KS_OK);
    assert_int_equal(fh_count(&v.host, KS_EV_ORDER), 2);
    assert_int_equal(v.host.ev[v.host.n_ev - 1].hdr.type, KS_EV_SYNC_DONE);
    for (size_t i = 0; i + 1 < v.host.n_ev; i++)
        assert_int_equal(v.host.ev[i].hdr.flags, KS_EVF_SNAPSHOT);
    const ks_sync_done_t *d = &fh_last(&v.host, KS_EV_SYNC_DONE)->sync;
    assert_int_equal(d->req_id, 11);
    assert_int_equal(d->what, KS_FETCH_OPEN_ORDERS);
    assert_int_equal(d->rc, KS_OK);

    fh_clear(&v.host);
    ops(&v)->fetch(v.self, KS_FETCH_OPEN_ORDERS, inst(&v, "ETH/USDT"), NULL, 12);
    assert_int_equal(fh_count(&v.host, KS_EV_ORDER), 1);
    assert_string_equal(fh_last(&v.host, KS_EV_ORDER)->order.cloid, "rest2");

    fh_clear(&v.host);
    ops(&v)->fetch(v.self, KS_FETCH_POSITIONS, -1, NULL, 13);
    assert_int_equal(fh_count(&v.host, KS_EV_POSITION), 1);
    assert_dec_equal(fh_last(&v.host, KS_EV_POSITION)->pos.qty, D("-0.1"));
    assert_int_equal(fh_last(&v.host, KS_EV_POSITION)->hdr.flags, KS_EVF_SNAPSHOT);

    fh_clear(&v.host);
    ops(&v)->fetch(v.self, KS_FETCH_BALANCES, -1, NULL, 14);
    assert_int_equal(fh_count(&v.host, KS_EV_BALANCE), 5);
    assert_int_equal(fh_last(&v.host, KS_EV_SYNC_DONE)->sync.req_id, 14);

    fh_clear(&v.host);
    ops(&v)->fetch(v.self, KS_FETCH_ORDER, -1, "pos", 15);
    assert_int_equal(fh_last(&v.host, KS_EV_ORDER)->order.status, KS_OS_FILLED);
    assert_int_equal(fh_last(&v.host, KS_EV_SYNC_DONE)->sync.rc, KS_OK);
    fh_clear(&v.host);
    ops(&v)->fetch(v.self, KS_FETCH_ORDER, -1, "never-sent", 16);
    assert_int_equal(fh_count(&v.host, KS_EV_ORDER), 0);
    d = &fh_last(&v.host, KS_EV_SYNC_DONE)->sync;
    assert_int_equal(d->rc, KS_ENOENT);
    assert_int_equal(d->req_id, 16);
    assert_non_null(strstr(d->detail, "never-sent"));
    assert_int_equal(ops(&v)->fetch(v.self, 99, -1, NULL, 17), KS_EINVAL);
    venue_close(&v);
}

static void transfer_answers_with_a_transfer_event(void **state)
{
    venue_t v;
    venue_start(&v, NULL);
    ks_transfer_cmd_t t = {sizeof(t), 77, "USDT", D("1234.5"), KS_WALLET_SPOT, KS_WALLET_FUTURES};
    fh_clear(&v.host);
    assert_int_equal(ops(&v)->transfer(v.self, &t), KS_OK);
    const ks_transfer_result_t *r = &fh_last(&v.host, KS_EV_TRANSFER)->xfer;
    assert_int_equal(r->req_id, 77);
    assert_int_equal(r->rc, KS_OK);
    assert_dec_equal(r->amount, D("1234.5"));
    assert_int_equal(fh_count(&v.host, KS_EV_BALANCE), 2);
    assert_dec_equal(fh_nth(&v.host, KS_EV_BALANCE, 1)->bal.total, D("101234.5"));
    t.amount = D("1000000");
    t.req_id = 78;
    ops(&v)->transfer(v.self, &t);
    r = &fh_last(&v.host, KS_EV_TRANSFER)->xfer;
    assert_int_equal(r->req_id, 78);
    assert_int_equal(r->rc, KS_EREJECT);
    assert_non_null(strstr(r->detail, "insufficient"));
    venue_close(&v);
}

static void leverage_is_validated_and_applied(void **state)
{
    venue_t v;
    venue_start(&v, NULL);
    int32_t perp = inst(&v, "BTC/USDT:USDT");
    assert_int_equal(ops(&v)->set_leverage(v.self, perp, 0), KS_EINVAL);
    assert_int_equal(ops(&v)->set_leverage(v.self, perp, 51), KS_EINVAL);
    assert_int_equal(ops(&v)->set_leverage(v.self, inst(&v, "BTC/USDT"), 2), KS_EINVAL);
    assert_int_equal(ops(&v)->set_leverage(v.self, perp, 25), KS_OK);
    place(&v, "BTC/USDT:USDT", "l", KS_SIDE_BUY, KS_ORD_MARKET, 0, NULL, "0.01");
    assert_int_equal(fh_last(&v.host, KS_EV_POSITION)->pos.leverage, 25);
    venue_close(&v);
}

static void latency_delays_results_and_keeps_their_order(void **state)
{
    venue_t v;
    venue_start(&v, "{\"latency_ms\": 50, \"tick_ms\": 1000}");
    fh_clear(&v.host);
    fh_advance(&v.host, 200 * MS);
    place(&v, "BTC/USDT:USDT", "a", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "60000", "0.01");
    fh_advance(&v.host, 10 * MS);
    ks_cancel_cmd_t c;
    memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    c.inst = inst(&v, "BTC/USDT:USDT");
    ks_strlcpy(c.cloid, "a", sizeof(c.cloid));
    assert_int_equal(ops(&v)->cancel(v.self, &c), KS_OK);
    ops(&v)->fetch(v.self, KS_FETCH_OPEN_ORDERS, -1, NULL, 5);
    assert_int_equal(v.host.n_ev, 0);
    fh_advance(&v.host, 39 * MS); /* t = 249 ms */
    assert_int_equal(v.host.n_ev, 0);
    fh_advance(&v.host, 1 * MS); /* 250 ms: the place */
    assert_int_equal(last_order(&v, "a")->status, KS_OS_ACKED);
    assert_int_equal(last_order(&v, "a")->hdr.venue_ts, WALL0 + 250 * MS);
    fh_advance(&v.host, 10 * MS); /* 260 ms: the cancel, then the fetch */
    assert_int_equal(last_order(&v, "a")->status, KS_OS_CANCELED);
    const ks_sync_done_t *d = &fh_last(&v.host, KS_EV_SYNC_DONE)->sync;
    assert_int_equal(d->req_id, 5);
    assert_int_equal(v.host.ev[v.host.n_ev - 1].hdr.type, KS_EV_SYNC_DONE);
    assert_int_equal(fh_count(&v.host, KS_EV_ORDER), 2); /* no open order in the snapshot */
    venue_close(&v);
}

/* ---- config ---------------------------------------------------------------------------- */

static void open_reports_config_errors_naming_the_key(void **state)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"symbols\": [\"BTC\", \"ETH\", {\"base\": \"SOL\", \"price\": {}}]}",
         "symbols[2].price: expected a decimal string"},
        {"{\"tick_ms\": \"fast\"}", "tick_ms: expected an integer"},
        {"{\"oracle_lag_ms\": -5}", "oracle_lag_ms: expected an integer"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"liq_impact\": 0.9}]}",
         "symbols[0].liq_impact: expected a number in [0, 0.2]"},
        {"{oops}", "config: invalid JSON at byte 1: expected a string key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        venue_t v;
        char err[KS_REASON_LEN] = "";
        assert_int_equal(venue_open(&v, cases[i].json, WALL0, err, sizeof(err)), KS_EINVAL);
        assert_null(v.self);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("%s: got \"%s\", want \"%s...\"", cases[i].json, err, cases[i].want);
        venue_close(&v);
    }
}

/* ---- determinism ------------------------------------------------------------------------ */

/* Two simulated hours with every channel of two instruments subscribed and a scripted
 * order flow; returns the hash of the canonical text of every event. */
static uint64_t scripted_stream(const char *config)
{
    venue_t v;
    venue_start(&v, config);
    v.host.record = false;
    ops(&v)->subscribe(v.self, inst(&v, "BTC/USDT:USDT"), 0x3F);
    ops(&v)->subscribe(v.self, inst(&v, "ETH/USDT"), 0x3F);
    for (int i = 0; i < 120; i++) {
        char cloid[32];
        snprintf(cloid, sizeof(cloid), "s%d", i);
        if (i % 3 == 0)
            place(&v, "BTC/USDT:USDT", cloid, i % 2 ? KS_SIDE_SELL : KS_SIDE_BUY, KS_ORD_MARKET, 0,
                  NULL, "0.05");
        else if (i % 3 == 1)
            place(&v, "ETH/USDT", cloid, KS_SIDE_BUY, KS_ORD_MARKET, 0, NULL, "0.1");
        else
            ops(&v)->fetch(v.self, KS_FETCH_BALANCES, -1, NULL, (uint64_t)i);
        fh_advance(&v.host, 60 * SEC);
    }
    uint64_t h = v.host.hash;
    venue_close(&v);
    return h;
}

static void same_seed_gives_the_same_event_stream(void **state)
{
    uint64_t a = scripted_stream("{\"seed\": 7, \"latency_ms\": 3}");
    uint64_t b = scripted_stream("{\"seed\": 7, \"latency_ms\": 3}");
    uint64_t c = scripted_stream("{\"seed\": 8, \"latency_ms\": 3}");
    assert_true(a == b);
    assert_true(a != c);
}

/* ---- liveliness and funding ----------------------------------------------------------- */

static void a_quote_at_the_touch_fills_within_seconds(void **state)
{
    /* The naive demo: bid at the touch, move the bid to the new touch every step until it
     * fills, then start over. Ten fills per perp at 250 ms and 1 s steps. */
    static const char *perps[] = {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"};
    for (int tick = 250; tick <= 1000; tick += 750) {
        char cfg[64];
        snprintf(cfg, sizeof(cfg), "{\"tick_ms\": %d}", tick);
        for (int k = 0; k < 3; k++) {
            venue_t v;
            venue_start(&v, cfg);
            int32_t id = inst(&v, perps[k]);
            ops(&v)->subscribe(v.self, id, KS_CH_BBO);
            int64_t elapsed = 0;
            for (int round = 0; round < 10; round++) {
                char cloid[16];
                snprintf(cloid, sizeof(cloid), "q%d", round);
                ks_dec_t bid = fh_last(&v.host, KS_EV_BBO)->bbo.bid_px;
                place(&v, perps[k], cloid, KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, F(bid),
                      k == 0 ? "0.01" : "1");
                int64_t start = v.host.now;
                while (last_order(&v, cloid)->status != KS_OS_FILLED &&
                       v.host.now - start < 600 * SEC) {
                    fh_advance(&v.host, tick * MS);
                    ks_dec_t now_bid = fh_last(&v.host, KS_EV_BBO)->bbo.bid_px;
                    if (last_order(&v, cloid)->status != KS_OS_FILLED &&
                        ks_dec_cmp(now_bid, bid) != 0) {
                        ks_amend_cmd_t a;
                        memset(&a, 0, sizeof(a));
                        a.struct_size = sizeof(a);
                        a.inst = id;
                        ks_strlcpy(a.cloid, cloid, sizeof(a.cloid));
                        a.price = bid = now_bid;
                        assert_int_equal(ops(&v)->amend(v.self, &a), KS_OK);
                    }
                }
                elapsed += v.host.now - start;
            }
            printf("  %s tick %d ms: mean %.1f s to fill a bid kept at the touch\n", perps[k], tick,
                   (double)elapsed / 10 / SEC);
            assert_true(elapsed / 10 < 10 * SEC);
            venue_close(&v);
        }
    }
}

static void funding_is_settled_on_the_boundary(void **state)
{
    venue_t v;
    char err[KS_REASON_LEN];
    /* Start at 07:59:00 UTC so the 08:00 boundary comes after a minute. */
    int64_t wall0 = 1704067200LL * SEC + 8 * HOUR - 60 * SEC;
    assert_int_equal(venue_open(&v, "{\"funding_cap\": \"0.0075\"}", wall0, err, sizeof(err)),
                     KS_OK);
    assert_int_equal(ops(&v)->start(v.self), KS_OK);
    place(&v, "SOL/USDT:USDT", "long", KS_SIDE_BUY, KS_ORD_MARKET, 0, NULL, "10");
    place(&v, "ETH/USDT:USDT", "short", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "1");
    fh_advance(&v.host, 59 * SEC);
    assert_int_equal(fh_count(&v.host, KS_EV_FUNDING), 0);
    fh_advance(&v.host, 1 * SEC);
    assert_int_equal(fh_count(&v.host, KS_EV_FUNDING), 2);
    for (size_t i = 0; i < 2; i++) {
        const ks_funding_t *f = &fh_nth(&v.host, KS_EV_FUNDING, i)->funding;
        assert_int_equal(f->hdr.venue_ts, wall0 + 60 * SEC);
        /* amount = -qty * mark * rate, rounded toward -inf at 8 decimals */
        ks_dec_t x, want;
        ks_dec_mul(f->position_qty, f->mark_px, &x);
        ks_dec_mul_round(ks_dec_neg(x), f->rate, 8, KS_ROUND_FLOOR, &want);
        assert_dec_equal(f->amount, want);
        assert_true(ks_dec_sign(f->rate) != 0);
    }
    assert_int_equal(fh_nth(&v.host, KS_EV_FUNDING, 0)->hdr.inst, inst(&v, "ETH/USDT:USDT"));
    fh_advance(&v.host, 8 * HOUR - SEC);
    assert_int_equal(fh_count(&v.host, KS_EV_FUNDING), 2);
    fh_advance(&v.host, SEC);
    assert_int_equal(fh_count(&v.host, KS_EV_FUNDING), 4);
    venue_close(&v);
}

/* ---- speed ------------------------------------------------------------------------------- */

static double elapsed_s(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void one_simulated_day_runs_fast(void **state)
{
    static const char *cfg = "{\"tick_ms\": 1000, \"symbols\": "
                             "[\"BTC\", \"ETH\", \"SOL\", \"XRP\", \"DOGE\", \"AVAX\"]}";
    struct timespec t0, t1, t2;
    venue_t quiet, loud;

    /* Without subscriptions: the simulation itself (market, books, flow, accounts). */
    venue_start(&quiet, cfg);
    quiet.host.record = false;
    quiet.host.no_hash = true;
    place(&quiet, "BTC/USDT:USDT", "p", KS_SIDE_BUY, KS_ORD_MARKET, 0, NULL, "0.1");
    place(&quiet, "ETH/USDT:USDT", "r", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "1000", "1");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fh_advance(&quiet.host, 24 * HOUR);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    /* Every channel of all 12 instruments, events hashed by the fake host. */
    venue_start(&loud, cfg);
    loud.host.record = false;
    loud.host.no_hash = true;
    for (int i = 0; i < loud.host.n_inst; i++)
        ops(&loud)->subscribe(loud.self, loud.host.inst[i].id, 0x3F);
    struct timespec t1b;
    clock_gettime(CLOCK_MONOTONIC, &t1b);
    fh_advance(&loud.host, 24 * HOUR);
    clock_gettime(CLOCK_MONOTONIC, &t2);

    double steps = 86400.0 * 12;
    double q = elapsed_s(t0, t1), l = elapsed_s(t1b, t2);
    uint64_t events = 0;
    for (int t = 0; t <= KS_EV_TYPE_MAX; t++)
        events += loud.host.counts[t];
    printf("  1 day, 12 instruments, 1 s steps: %.2f s quiet (%.2f us per instrument-step), "
           "%.2f s with every channel emitted (%llu events)\n",
           q, q / steps * 1e6, l, (unsigned long long)events);
    assert_int_equal(quiet.host.counts[KS_EV_FUNDING], 3);          /* 08:00, 16:00, 00:00 */
    assert_int_equal(loud.host.counts[KS_EV_BBO], 86400 * 12 + 12); /* + subscribe snapshots */
    /* Generous bounds for the sanitizer build; the release build is far below them. */
    assert_true(q < 20.0);
    assert_true(l < 60.0);
    venue_close(&quiet);
    venue_close(&loud);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptor_declares_an_exchange_with_its_caps),
        cmocka_unit_test(start_registers_instruments_and_reports_up),
        cmocka_unit_test(subscribe_streams_market_data_every_step),
        cmocka_unit_test(liquidation_prints_arrive_for_subscribers),
        cmocka_unit_test(market_order_emits_ack_fills_order_position_balance),
        cmocka_unit_test(rejections_are_order_updates),
        cmocka_unit_test(fetch_replies_with_snapshots_then_sync_done),
        cmocka_unit_test(transfer_answers_with_a_transfer_event),
        cmocka_unit_test(leverage_is_validated_and_applied),
        cmocka_unit_test(latency_delays_results_and_keeps_their_order),
        cmocka_unit_test(open_reports_config_errors_naming_the_key),
        cmocka_unit_test(same_seed_gives_the_same_event_stream),
        cmocka_unit_test(a_quote_at_the_touch_fills_within_seconds),
        cmocka_unit_test(funding_is_settled_on_the_boundary),
        cmocka_unit_test(one_simulated_day_runs_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
