/* The Bybit adapter against the loopback emulator, in-process over real sockets: one
 * behaviour per test — order entry and its venue rejections, unknown outcomes and their
 * resolution by orderLinkId, duplicate client ids, book gaps, heartbeats, auth, dedup of
 * repeated private messages, fetch(), and the decode-only mode's lack of I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bybit_emu.h"
#include "bybit_test_host.h"
#include "log.h"

#define ALL_CH (KS_CH_BBO | KS_CH_BOOK | KS_CH_TRADES | KS_CH_TICKER | KS_CH_LIQUIDATIONS)

typedef struct fx {
    ks_loop_t *loop;
    ks_bybit_emu_t *emu;
    bt_host_t h;
    int port;
    int n_cloid;
} fx_t;

static bool is_up(bt_host_t *h, void *ud)
{
    return bt_has_conn(h, KS_CONN_UP, NULL, 0);
}

/* Starts an emulator and the adapter connected to it; extra config members appended.
 * creds: the host hands out the emulator's key (and `secret`, default the right one);
 * fault: run on the emulator before the adapter starts. */
static fx_t *start_ex(const char *extra, const ks_bybit_emu_opts_t *eo, const char *secret,
                      bool creds, const char *fault)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[512], cfg[2048];
    assert_non_null(f);
    f->loop = ks_loop_new(false, 0);
    assert_non_null(f->loop);
    ks_bybit_emu_opts_t o;
    if (eo)
        o = *eo;
    else
        memset(&o, 0, sizeof(o));
    if (!o.step_ms)
        o.step_ms = 100;
    if (bt_host_init(&f->h, f->loop, err, sizeof(err)) != KS_OK)
        fail_msg("host: %s", err);
    o.ctx = f->h.ws; /* one lws context per process (see bybit_emu.h) */
    f->emu = ks_bybit_emu_new(f->loop, &o, err, sizeof(err));
    if (!f->emu)
        fail_msg("emulator: %s", err);
    f->port = ks_bybit_emu_port(f->emu);
    if (fault && ks_bybit_emu_fault(f->emu, fault) != KS_OK)
        fail_msg("emulator: unknown fault %s", fault);
    f->h.key = creds ? KS_BYBIT_EMU_KEY : NULL;
    f->h.secret = !creds ? NULL : secret ? secret : KS_BYBIT_EMU_SECRET;
    f->h.autosub = ALL_CH;
    f->h.quiet = true;
    int p = f->port;
    snprintf(cfg, sizeof(cfg),
             "{\"network\":\"custom\",\"rest_url\":\"http://127.0.0.1:%d\","
             "\"ws_public_linear\":\"ws://127.0.0.1:%d/v5/public/linear\","
             "\"ws_public_spot\":\"ws://127.0.0.1:%d/v5/public/spot\","
             "\"ws_private\":\"ws://127.0.0.1:%d/v5/private\","
             "\"symbols\":[\"BTCUSDT\",\"ETHUSDT\",\"SOLUSDT\"],\"recv_window_ms\":1500,"
             "\"order_timeout_ms\":1000,\"reconnect_min_ms\":100,\"reconnect_max_ms\":400%s%s}",
             p, p, p, p, extra && *extra ? "," : "", extra ? extra : "");
    if (bt_host_open(&f->h, cfg, err, sizeof(err)) != KS_OK)
        fail_msg("open: %s", err);
    assert_int_equal(f->h.ops->start(f->h.self), KS_OK);
    return f;
}

static fx_t *start(const char *extra, const ks_bybit_emu_opts_t *eo, const char *secret)
{
    return start_ex(extra, eo, secret, true, NULL);
}

static fx_t *start_up(const char *extra)
{
    fx_t *f = start(extra, NULL, NULL);
    if (!bt_run_until(&f->h, is_up, NULL, 5000))
        fail_msg("the adapter never reported KS_CONN_UP");
    return f;
}

static void stop(fx_t *f)
{
    /* The plugin first, then the emulator, then the shared lws context (bt_host_free). */
    bt_host_close(&f->h);
    ks_bybit_emu_free(f->emu);
    bt_host_free(&f->h);
    ks_loop_free(f->loop);
    free(f);
}

typedef struct want_order {
    const char *cloid;
    int status;
} want_order_t;

static bool order_is(bt_host_t *h, void *ud)
{
    want_order_t *w = ud;
    const ks_order_update_t *o = bt_order(h, w->cloid);
    return o && o->status == w->status;
}

static bool order_final(bt_host_t *h, void *ud)
{
    const ks_order_update_t *o = bt_order(h, ud);
    return o && ks_order_status_is_final(o->status);
}

static bool sync_done(bt_host_t *h, void *ud)
{
    uint64_t id = *(uint64_t *)ud;
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].ev.hdr.type == KS_EV_SYNC_DONE && h->ev[i].ev.sync.req_id == id)
            return true;
    return false;
}

static const ks_sync_done_t *find_sync(bt_host_t *h, uint64_t id)
{
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].ev.hdr.type == KS_EV_SYNC_DONE && h->ev[i].ev.sync.req_id == id)
            return &h->ev[i].ev.sync;
    return NULL;
}

static int place(fx_t *f, const char *symbol, int side, int type, const char *qty,
                 const char *price, bool reduce_only, char *cloid_out)
{
    ks_order_cmd_t c;
    KS_INIT(&c);
    c.inst = bt_inst(&f->h, symbol);
    assert_true(c.inst >= 0);
    snprintf(c.cloid, sizeof(c.cloid), "t-%d-%d", f->port, ++f->n_cloid);
    c.side = (int8_t)side;
    c.type = (uint8_t)type;
    c.tif = type == KS_ORD_MARKET ? KS_TIF_IOC : KS_TIF_GTC;
    c.reduce_only = reduce_only;
    ks_dec_parse(qty, (size_t)-1, &c.qty);
    if (price)
        ks_dec_parse(price, (size_t)-1, &c.price);
    strcpy(cloid_out, c.cloid);
    return f->h.ops->place(f->h.self, &c);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void market_order_fills_and_reports_position_and_balance(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN];
    assert_int_equal(
        place(f, "BTC/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "0.002", NULL, false, cloid), KS_OK);
    want_order_t w = {cloid, KS_OS_FILLED};
    assert_true(bt_run_until(&f->h, order_is, &w, 3000));
    const ks_order_update_t *o = bt_order(&f->h, cloid);
    assert_string_equal(ks_order_status_name(o->status), "filled");
    assert_int_equal(ks_dec_cmp(o->filled, KS_DEC(2, 3)), 0);
    assert_true(o->venue_id[0]);
    size_t fills = 0;
    for (size_t i = 0; i < f->h.n_ev; i++)
        if (f->h.ev[i].ev.hdr.type == KS_EV_FILL && strcmp(f->h.ev[i].ev.fill.cloid, cloid) == 0) {
            fills++;
            assert_string_equal(f->h.ev[i].ev.fill.fee_asset, "USDT");
        }
    assert_true(fills >= 1);

    uint64_t id = 7001;
    assert_int_equal(f->h.ops->fetch(f->h.self, KS_FETCH_POSITIONS, -1, NULL, id), KS_OK);
    assert_true(bt_run_until(&f->h, sync_done, &id, 3000));
    assert_int_equal(find_sync(&f->h, id)->rc, KS_OK);
    const bt_event_t *p = bt_last(&f->h, KS_EV_POSITION);
    assert_non_null(p);
    assert_true(p->ev.hdr.flags & KS_EVF_SNAPSHOT);
    assert_int_equal(ks_dec_cmp(p->ev.pos.qty, KS_DEC(2, 3)), 0);

    id = 7002;
    size_t before = f->h.n_ev;
    assert_int_equal(f->h.ops->fetch(f->h.self, KS_FETCH_BALANCES, -1, NULL, id), KS_OK);
    assert_true(bt_run_until(&f->h, sync_done, &id, 3000));
    bool usdt = false;
    for (size_t i = before; i < f->h.n_ev; i++)
        if (f->h.ev[i].ev.hdr.type == KS_EV_BALANCE &&
            strcmp(f->h.ev[i].ev.bal.asset, "USDT") == 0) {
            usdt = true;
            assert_int_equal(f->h.ev[i].ev.bal.wallet, KS_WALLET_UNIFIED);
            assert_true(f->h.ev[i].ev.hdr.flags & KS_EVF_SNAPSHOT);
            assert_true(ks_dec_sign(f->h.ev[i].ev.bal.initial_margin) > 0);
        }
    assert_true(usdt);
    stop(f);
}

static void reduce_only_without_position_is_rejected_with_reason(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN];
    assert_int_equal(
        place(f, "ETH/USDT:USDT", KS_SIDE_SELL, KS_ORD_MARKET, "0.05", NULL, true, cloid), KS_OK);
    want_order_t w = {cloid, KS_OS_REJECTED};
    assert_true(bt_run_until(&f->h, order_is, &w, 3000));
    const ks_order_update_t *o = bt_order(&f->h, cloid);
    assert_int_equal(o->reject, KS_REJ_REDUCE_ONLY);
    assert_non_null(strstr(o->reason, "110017"));
    assert_null(ks_bybit_emu_order_status(f->emu, "nothing"));
    stop(f);
}

static void rate_limit_replies_reject_and_feed_the_limiter(void **state)
{
    fx_t *f = start_up(NULL);
    char c1[KS_CLOID_LEN], c2[KS_CLOID_LEN];
    assert_int_equal(ks_bybit_emu_fault(f->emu, "ret10006:1"), KS_OK);
    assert_int_equal(place(f, "SOL/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "1", NULL, false, c1),
                     KS_OK);
    assert_true(bt_run_until(&f->h, order_final, c1, 3000));
    assert_int_equal(bt_order(&f->h, c1)->status, KS_OS_REJECTED);
    assert_int_equal(bt_order(&f->h, c1)->reject, KS_REJ_RATE_LIMIT);
    assert_int_equal(f->h.last_ratelimit.venue_code, 10006);
    assert_true(f->h.last_ratelimit.retry_after_ns > 0);

    assert_int_equal(ks_bybit_emu_fault(f->emu, "http429:1"), KS_OK);
    assert_int_equal(place(f, "SOL/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "1", NULL, false, c2),
                     KS_OK);
    assert_true(bt_run_until(&f->h, order_final, c2, 3000));
    assert_int_equal(bt_order(&f->h, c2)->reject, KS_REJ_RATE_LIMIT);
    assert_int_equal(f->h.last_ratelimit.http_status, 429);
    assert_null(ks_bybit_emu_order_status(f->emu, c1));
    assert_null(ks_bybit_emu_order_status(f->emu, c2));
    stop(f);
}

/* A 5xx or a timeout on create says nothing about the order: no rejection may follow;
 * fetch(KS_FETCH_ORDER) resolves it by orderLinkId. */
static void server_error_on_create_leaves_it_open_until_fetch_resolves_it(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN];
    assert_int_equal(ks_bybit_emu_fault(f->emu, "http5xx:1"), KS_OK);
    size_t mark = f->h.n_ev;
    assert_int_equal(
        place(f, "BTC/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "0.001", NULL, false, cloid), KS_OK);
    bt_run_for(&f->h, 800);
    assert_null(bt_order(&f->h, cloid)); /* nothing said: the fate is unknown */
    assert_int_equal(bt_count(&f->h, KS_EV_ORDER, mark), 0);

    /* What the host's watchdog does: ask by client id. Not found -> after the receive
     * window (1.5 s here) the order cannot arrive any more: never placed. */
    uint64_t id = 8001;
    assert_int_equal(
        f->h.ops->fetch(f->h.self, KS_FETCH_ORDER, bt_inst(&f->h, "BTC/USDT:USDT"), cloid, id),
        KS_OK);
    assert_true(bt_run_until(&f->h, sync_done, &id, 5000));
    const ks_order_update_t *o = bt_order(&f->h, cloid);
    assert_non_null(o);
    assert_int_equal(o->status, KS_OS_REJECTED);
    assert_non_null(strstr(o->reason, "never received"));
    assert_null(ks_bybit_emu_order_status(f->emu, cloid));
    stop(f);
}

static void timeout_on_create_is_resolved_from_the_venue(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN];
    assert_int_equal(ks_bybit_emu_fault(f->emu, "timeout:1"), KS_OK);
    assert_int_equal(
        place(f, "ETH/USDT:USDT", KS_SIDE_BUY, KS_ORD_LIMIT, "0.05", "3000", false, cloid), KS_OK);
    /* The venue took it (the private stream says so) although the request timed out. */
    want_order_t w = {cloid, KS_OS_ACKED};
    assert_true(bt_run_until(&f->h, order_is, &w, 3000));
    bt_run_for(&f->h, 1200); /* past the client's 1 s timeout: no rejection */
    assert_int_equal(bt_order(&f->h, cloid)->status, KS_OS_ACKED);
    uint64_t id = 8002;
    size_t mark = f->h.n_ev;
    assert_int_equal(
        f->h.ops->fetch(f->h.self, KS_FETCH_ORDER, bt_inst(&f->h, "ETH/USDT:USDT"), cloid, id),
        KS_OK);
    assert_true(bt_run_until(&f->h, sync_done, &id, 3000));
    assert_int_equal(find_sync(&f->h, id)->rc, KS_OK);
    bool snap = false;
    for (size_t i = mark; i < f->h.n_ev; i++)
        if (f->h.ev[i].ev.hdr.type == KS_EV_ORDER && strcmp(f->h.ev[i].ev.order.cloid, cloid) == 0)
            snap = (f->h.ev[i].ev.hdr.flags & KS_EVF_SNAPSHOT) &&
                   f->h.ev[i].ev.order.status == KS_OS_ACKED;
    assert_true(snap);
    assert_string_equal(ks_bybit_emu_order_status(f->emu, cloid), "New");
    stop(f);
}

/* A create repeated with the same orderLinkId — here by a fresh adapter instance, as after
 * a restart — gets "duplicate" from the venue: the first one arrived, so the adapter
 * reports that order's real state, never a rejection. */
static void duplicate_order_link_id_is_queried_not_rejected(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN], err[512];
    assert_int_equal(place(f, "SOL/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "1", NULL, false, cloid),
                     KS_OK);
    assert_true(bt_run_until(&f->h, order_final, cloid, 3000));
    assert_int_equal(bt_order(&f->h, cloid)->status, KS_OS_FILLED);

    /* A second host and adapter on the same venue account. */
    bt_host_t h2;
    assert_int_equal(bt_host_init_shared(&h2, f->loop, f->h.ws, err, sizeof(err)), KS_OK);
    h2.key = KS_BYBIT_EMU_KEY;
    h2.secret = KS_BYBIT_EMU_SECRET;
    h2.quiet = true;
    char cfg[1024];
    int p = f->port;
    snprintf(cfg, sizeof(cfg),
             "{\"network\":\"custom\",\"rest_url\":\"http://127.0.0.1:%d\","
             "\"ws_public_linear\":\"ws://127.0.0.1:%d/v5/public/linear\","
             "\"ws_public_spot\":\"ws://127.0.0.1:%d/v5/public/spot\","
             "\"ws_private\":\"ws://127.0.0.1:%d/v5/private\",\"symbols\":[\"SOLUSDT\"]}",
             p, p, p, p);
    assert_int_equal(bt_host_open(&h2, cfg, err, sizeof(err)), KS_OK);
    assert_int_equal(h2.ops->start(h2.self), KS_OK);
    assert_true(bt_run_until(&h2, is_up, NULL, 5000));
    ks_order_cmd_t c;
    KS_INIT(&c);
    c.inst = bt_inst(&h2, "SOL/USDT:USDT");
    strcpy(c.cloid, cloid);
    c.side = KS_SIDE_BUY;
    c.type = KS_ORD_MARKET;
    c.tif = KS_TIF_IOC;
    ks_dec_parse("1", (size_t)-1, &c.qty);
    assert_int_equal(h2.ops->place(h2.self, &c), KS_OK);
    assert_true(bt_run_until(&h2, order_final, cloid, 3000));
    const ks_order_update_t *o = bt_order(&h2, cloid);
    assert_int_equal(o->status, KS_OS_FILLED);
    assert_int_equal(ks_dec_cmp(o->filled, KS_DEC(1, 0)), 0);
    for (size_t i = 0; i < h2.n_ev; i++)
        if (h2.ev[i].ev.hdr.type == KS_EV_ORDER && strcmp(h2.ev[i].ev.order.cloid, cloid) == 0)
            assert_int_not_equal(h2.ev[i].ev.order.status, KS_OS_REJECTED);
    bt_host_close(&h2);
    bt_host_close(&f->h);
    ks_bybit_emu_free(f->emu);
    f->emu = NULL;
    bt_host_free(&h2); /* before f's, which owns the shared lws context */
    stop(f);
}

/* The clock drifts after start: the venue answers 10002; the adapter takes the venue's
 * time from the reply, signs again once, and the order goes through. */
static void timestamp_rejection_resyncs_the_clock_and_retries_once(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN];
    f->h.wall_skew_ns = -20000000000LL; /* 20 s slow: outside the 1.5 s window */
    assert_int_equal(
        place(f, "BTC/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "0.001", NULL, false, cloid), KS_OK);
    assert_true(bt_run_until(&f->h, order_final, cloid, 3000));
    assert_int_equal(bt_order(&f->h, cloid)->status, KS_OS_FILLED);
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    assert_int_equal(st.ts_errors, 1);
    stop(f);
}

static void limit_order_amend_and_cancel(void **state)
{
    fx_t *f = start_up(NULL);
    char cloid[KS_CLOID_LEN];
    assert_int_equal(
        place(f, "BTC/USDT:USDT", KS_SIDE_BUY, KS_ORD_LIMIT, "0.001", "60000", false, cloid),
        KS_OK);
    want_order_t w = {cloid, KS_OS_ACKED};
    assert_true(bt_run_until(&f->h, order_is, &w, 3000));
    ks_amend_cmd_t a;
    KS_INIT(&a);
    a.inst = bt_inst(&f->h, "BTC/USDT:USDT");
    strcpy(a.cloid, cloid);
    ks_dec_parse("60100", (size_t)-1, &a.price);
    size_t mark = f->h.n_ev;
    assert_int_equal(f->h.ops->amend(f->h.self, &a), KS_OK);
    bool amended = false;
    for (int k = 0; k < 200 && !amended; k++) {
        bt_run_for(&f->h, 10);
        for (size_t i = mark; i < f->h.n_ev; i++)
            if (f->h.ev[i].ev.hdr.type == KS_EV_ORDER &&
                ks_dec_cmp(f->h.ev[i].ev.order.price, KS_DEC(60100, 0)) == 0)
                amended = true;
    }
    assert_true(amended);

    ks_cancel_cmd_t c;
    KS_INIT(&c);
    c.inst = a.inst;
    strcpy(c.cloid, cloid);
    assert_int_equal(f->h.ops->cancel(f->h.self, &c), KS_OK);
    w.status = KS_OS_CANCELED;
    assert_true(bt_run_until(&f->h, order_is, &w, 3000));
    /* Cancelling it again: "order does not exist" -> the order's real (final) state. */
    mark = f->h.n_ev;
    assert_int_equal(f->h.ops->cancel(f->h.self, &c), KS_OK);
    bt_run_for(&f->h, 800);
    for (size_t i = mark; i < f->h.n_ev; i++)
        if (f->h.ev[i].ev.hdr.type == KS_EV_ORDER)
            assert_int_equal(f->h.ev[i].ev.order.status, KS_OS_CANCELED);
    stop(f);
}

typedef struct want_snaps {
    size_t from, n;
} want_snaps_t;

static bool book_snapshots(bt_host_t *h, void *ud)
{
    want_snaps_t *w = ud;
    size_t n = 0;
    for (size_t i = w->from; i < h->n_ev; i++)
        n += h->ev[i].ev.hdr.type == KS_EV_BOOK && h->ev[i].ev.book.snapshot;
    return n >= w->n;
}

static void book_gap_triggers_resubscribe_and_rebuild(void **state)
{
    fx_t *f = start_up(NULL);
    want_snaps_t first = {0, 6}; /* 3 linear + 3 spot books */
    assert_true(bt_run_until(&f->h, book_snapshots, &first, 3000));
    bt_run_for(&f->h, 300);
    size_t mark = f->h.n_ev;
    ks_bybit_emu_fault(f->emu, "gap");
    want_snaps_t again = {mark, 6};
    assert_true(bt_run_until(&f->h, book_snapshots, &again, 3000));
    assert_true(bt_has_conn(&f->h, KS_CONN_RESYNCING, "gap", mark));
    bt_run_for(&f->h, 300);
    assert_true(bt_has_conn(&f->h, KS_CONN_UP, "rebuilt", mark));
    /* Per instrument: after the RESYNCING, no delta before the fresh snapshot, and every
     * delta continues the previous update id. */
    for (size_t i = mark; i < f->h.n_ev; i++) {
        const bt_event_t *e = &f->h.ev[i];
        if (e->ev.hdr.type != KS_EV_BOOK || e->ev.book.snapshot)
            continue;
        assert_int_equal(e->ev.book.update_id, e->ev.book.prev_update_id + 1);
    }
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    assert_true(st.book_resubscribes_after_gap >= 6);
    stop(f);
}

static bool public_reconnected(bt_host_t *h, void *ud)
{
    fx_t *f = ud;
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    return st.public_connects >= 4 && bt_has_conn(h, KS_CONN_UP, NULL, 0);
}

static void silent_server_is_detected_by_ping_and_reconnected(void **state)
{
    fx_t *f = start_up("\"ping_interval_ms\":200,\"pong_timeout_ms\":300");
    ks_bybit_emu_fault(f->emu, "stall:1500");
    size_t mark = f->h.n_ev;
    assert_true(bt_run_until(&f->h, public_reconnected, f, 6000));
    assert_true(bt_has_conn(&f->h, KS_CONN_CONNECTING, "no pong", mark));
    stop(f);
}

static bool reauthed(bt_host_t *h, void *ud)
{
    fx_t *f = ud;
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    return st.auth_failed >= 1 && st.auth_ok >= 2;
}

static void refused_ws_auth_is_retried_with_backoff(void **state)
{
    fx_t *f = start_up(NULL);
    ks_bybit_emu_fault(f->emu, "authfail:1");
    assert_true(bt_run_until(&f->h, reauthed, f, 6000));
    stop(f);
}

static void wrong_secret_rejects_orders_as_auth(void **state)
{
    fx_t *f = start(NULL, NULL, "not-the-secret");
    bt_run_for(&f->h, 700); /* instruments are public: they load */
    assert_true(bt_inst(&f->h, "BTC/USDT:USDT") >= 0);
    char cloid[KS_CLOID_LEN];
    assert_int_equal(
        place(f, "BTC/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "0.001", NULL, false, cloid), KS_OK);
    assert_true(bt_run_until(&f->h, order_final, cloid, 3000));
    assert_int_equal(bt_order(&f->h, cloid)->reject, KS_REJ_AUTH);
    assert_non_null(strstr(bt_order(&f->h, cloid)->reason, "10004"));
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    assert_true(st.sig_errors >= 1);
    assert_true(st.auth_failed >= 1); /* the private stream's auth is refused too */
    assert_int_equal(st.auth_ok, 0);
    stop(f);
}

static void duplicated_private_messages_give_one_fill_each(void **state)
{
    fx_t *f = start_up(NULL);
    ks_bybit_emu_fault(f->emu, "dup:200");
    char cloid[KS_CLOID_LEN];
    assert_int_equal(
        place(f, "ETH/USDT:USDT", KS_SIDE_BUY, KS_ORD_MARKET, "0.5", NULL, false, cloid), KS_OK);
    assert_true(bt_run_until(&f->h, order_final, cloid, 3000));
    bt_run_for(&f->h, 300);
    char ids[64][KS_VENUE_ID_LEN];
    int n = 0;
    for (size_t i = 0; i < f->h.n_ev; i++) {
        const bt_event_t *e = &f->h.ev[i];
        if (e->ev.hdr.type != KS_EV_FILL || strcmp(e->ev.fill.cloid, cloid) != 0)
            continue;
        for (int k = 0; k < n; k++)
            if (strcmp(ids[k], e->ev.fill.trade_id) == 0)
                fail_msg("fill %s emitted twice", e->ev.fill.trade_id);
        if (n < 64)
            strcpy(ids[n++], e->ev.fill.trade_id);
    }
    assert_true(n >= 1);
    /* and the FILLED update itself once */
    int filled = 0;
    for (size_t i = 0; i < f->h.n_ev; i++)
        filled += f->h.ev[i].ev.hdr.type == KS_EV_ORDER &&
                  strcmp(f->h.ev[i].ev.order.cloid, cloid) == 0 &&
                  f->h.ev[i].ev.order.status == KS_OS_FILLED;
    assert_int_equal(filled, 1);
    stop(f);
}

static void instruments_are_paginated_and_specs_complete(void **state)
{
    ks_bybit_emu_opts_t o;
    memset(&o, 0, sizeof(o));
    o.instruments_page = 1;
    fx_t *f = start(NULL, &o, NULL);
    assert_true(bt_run_until(&f->h, is_up, NULL, 5000));
    const char *syms[] = {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT",
                          "BTC/USDT",      "ETH/USDT",      "SOL/USDT"};
    for (int i = 0; i < 6; i++) {
        int32_t id = bt_inst(&f->h, syms[i]);
        assert_true(id >= 0);
        const ks_inst_rec_t *r = ks_market_inst(&f->h.market, id);
        assert_true(r->spec.tick_size.mant > 0);
        assert_true(r->spec.lot_size.mant > 0);
        assert_true(r->spec.flags & KS_INST_TRADING);
        if (i < 3) {
            assert_int_equal(r->spec.funding_interval_h, 8);
            assert_int_equal(r->spec.max_leverage, 50);
            assert_string_equal(r->settle, "USDT");
        }
    }
    stop(f);
}

static void open_orders_fetch_lists_resting_orders(void **state)
{
    fx_t *f = start_up(NULL);
    char c1[KS_CLOID_LEN], c2[KS_CLOID_LEN];
    place(f, "BTC/USDT:USDT", KS_SIDE_BUY, KS_ORD_LIMIT, "0.001", "50000", false, c1);
    place(f, "ETH/USDT", KS_SIDE_BUY, KS_ORD_LIMIT, "0.1", "3000", false, c2);
    want_order_t w1 = {c1, KS_OS_ACKED}, w2 = {c2, KS_OS_ACKED};
    assert_true(bt_run_until(&f->h, order_is, &w1, 3000));
    assert_true(bt_run_until(&f->h, order_is, &w2, 3000));
    uint64_t id = 9001;
    size_t mark = f->h.n_ev;
    assert_int_equal(f->h.ops->fetch(f->h.self, KS_FETCH_OPEN_ORDERS, -1, NULL, id), KS_OK);
    assert_true(bt_run_until(&f->h, sync_done, &id, 3000));
    int seen = 0;
    for (size_t i = mark; i < f->h.n_ev; i++)
        if (f->h.ev[i].ev.hdr.type == KS_EV_ORDER && (f->h.ev[i].ev.hdr.flags & KS_EVF_SNAPSHOT) &&
            (strcmp(f->h.ev[i].ev.order.cloid, c1) == 0 ||
             strcmp(f->h.ev[i].ev.order.cloid, c2) == 0))
            seen++;
    assert_int_equal(seen, 2);
    assert_int_equal(f->h.ops->cancel_all(f->h.self, -1), KS_OK);
    want_order_t x1 = {c1, KS_OS_CANCELED}, x2 = {c2, KS_OS_CANCELED};
    assert_true(bt_run_until(&f->h, order_is, &x1, 3000));
    assert_true(bt_run_until(&f->h, order_is, &x2, 3000));
    stop(f);
}

/* ---- fees -------------------------------------------------------------------------- */

static const ks_inst_rec_t *inst_rec(fx_t *f, const char *symbol)
{
    int32_t id = bt_inst(&f->h, symbol);
    if (id < 0)
        fail_msg("%s is not registered", symbol);
    return ks_market_inst(&f->h.market, id);
}

/* Compares a spec fee with its expected text, printing both. */
static void assert_fee(fx_t *f, const char *symbol, const char *maker, const char *taker)
{
    const ks_inst_rec_t *r = inst_rec(f, symbol);
    ks_dec_t m, t;
    char got_m[KS_DEC_STRLEN], got_t[KS_DEC_STRLEN];
    assert_int_equal(ks_dec_parse(maker, (size_t)-1, &m), KS_OK);
    assert_int_equal(ks_dec_parse(taker, (size_t)-1, &t), KS_OK);
    ks_dec_format(r->spec.maker_fee, got_m, sizeof(got_m));
    ks_dec_format(r->spec.taker_fee, got_t, sizeof(got_t));
    if (ks_dec_cmp(r->spec.maker_fee, m) != 0 || ks_dec_cmp(r->spec.taker_fee, t) != 0)
        fail_msg("%s: maker/taker %s/%s, expected %s/%s", symbol, got_m, got_t, maker, taker);
}

typedef struct want_fee {
    const char *symbol;
    ks_dec_t taker;
} want_fee_t;

static bool taker_fee_is(bt_host_t *h, void *ud)
{
    const want_fee_t *w = ud;
    int32_t id = bt_inst(h, w->symbol);
    return id >= 0 && ks_dec_cmp(ks_market_inst(&h->market, id)->spec.taker_fee, w->taker) == 0;
}

static void without_credentials_instruments_carry_the_default_fees(void **state)
{
    fx_t *f = start_ex(NULL, NULL, NULL, false, NULL);
    assert_true(bt_run_until(&f->h, is_up, NULL, 5000));
    bt_run_for(&f->h, 200);
    assert_fee(f, "BTC/USDT:USDT", "0.0002", "0.00055");
    assert_fee(f, "SOL/USDT:USDT", "0.0002", "0.00055");
    assert_fee(f, "BTC/USDT", "0.001", "0.001");
    assert_fee(f, "ETH/USDT", "0.001", "0.001");
    assert_int_equal(inst_rec(f, "BTC/USDT:USDT")->spec.spec_version, 1);
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    assert_int_equal(st.fee_rate_requests, 0);
    stop(f);
}

static void configured_fees_override_the_defaults_per_category(void **state)
{
    fx_t *f = start_ex("\"fees\":{\"linear\":{\"taker\":\"0.0005\"},"
                       "\"spot\":{\"maker\":0.0009,\"taker\":\"-0.0001\"}}",
                       NULL, NULL, false, NULL);
    assert_true(bt_run_until(&f->h, is_up, NULL, 5000));
    assert_fee(f, "BTC/USDT:USDT", "0.0002", "0.0005");
    assert_fee(f, "ETH/USDT:USDT", "0.0002", "0.0005");
    assert_fee(f, "BTC/USDT", "0.0009", "-0.0001");
    stop(f);
}

/* With credentials, /v5/account/fee-rate (the emulator's 0.0001/0.0004 linear and
 * 0.0008/0.0008 spot) is asked before instruments-info, so every instrument is registered
 * once, with the account's rates: no spec change for risk_gates' ParamChange to see. */
static void account_fee_rates_replace_the_configured_ones(void **state)
{
    fx_t *f = start_ex(NULL, NULL, NULL, true, NULL);
    want_fee_t lin = {"BTC/USDT:USDT", KS_DEC(4, 4)}, spot = {"BTC/USDT", KS_DEC(8, 4)};
    assert_true(bt_run_until(&f->h, taker_fee_is, &lin, 5000));
    assert_true(bt_run_until(&f->h, taker_fee_is, &spot, 5000));
    assert_fee(f, "BTC/USDT:USDT", "0.0001", "0.0004");
    assert_fee(f, "SOL/USDT:USDT", "0.0001", "0.0004");
    assert_fee(f, "BTC/USDT", "0.0008", "0.0008");
    assert_int_equal(inst_rec(f, "BTC/USDT:USDT")->spec.spec_version, 1);
    assert_int_equal(inst_rec(f, "BTC/USDT")->spec.spec_version, 1);
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    assert_int_equal(st.sig_errors, 0);
    assert_true(st.fee_rate_requests >= 2);
    assert_int_equal(f->h.n_warnings_logged, 0);
    stop(f);
}

/* Bybit's demo hosts answer fee-rate with HTTP 400: the configured rates stay, and the
 * fallback is said once, not at every refresh. */
static void refused_fee_rate_keeps_the_configured_fees_and_warns_once(void **state)
{
    fx_t *f = start_ex("\"instruments_refresh_s\":1", NULL, NULL, true, "feerate400:1000");
    f->h.warn_match = "fee-rate";
    assert_true(bt_run_until(&f->h, is_up, NULL, 5000));
    bt_run_for(&f->h, 2500); /* two more refreshes */
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(f->emu, &st);
    if (st.fee_rate_requests < 4)
        fail_msg("fee-rate asked %llu times, expected at start and at each refresh",
                 (unsigned long long)st.fee_rate_requests);
    assert_fee(f, "BTC/USDT:USDT", "0.0002", "0.00055");
    assert_fee(f, "BTC/USDT", "0.001", "0.001");
    assert_int_equal(inst_rec(f, "BTC/USDT:USDT")->spec.spec_version, 1);
    assert_int_equal(f->h.n_warn_match, 1);
    stop(f);
}

/* Rates that change later (here: refused at start, listed at the first refresh) update
 * the spec, and the host bumps spec_version: a fee change is a parameter change. */
static void account_rates_arriving_at_a_refresh_re_register_the_spec(void **state)
{
    fx_t *f = start_ex("\"instruments_refresh_s\":1", NULL, NULL, true, "feerate400:2");
    assert_true(bt_run_until(&f->h, is_up, NULL, 5000));
    assert_fee(f, "BTC/USDT:USDT", "0.0002", "0.00055");
    assert_int_equal(inst_rec(f, "BTC/USDT:USDT")->spec.spec_version, 1);
    want_fee_t lin = {"BTC/USDT:USDT", KS_DEC(4, 4)};
    assert_true(bt_run_until(&f->h, taker_fee_is, &lin, 5000));
    assert_fee(f, "BTC/USDT:USDT", "0.0001", "0.0004");
    assert_int_equal(inst_rec(f, "BTC/USDT:USDT")->spec.spec_version, 2);
    stop(f);
}

static void decode_only_instance_does_no_io(void **state)
{
    ks_loop_t *loop = ks_loop_new(false, 0);
    bt_host_t h;
    char err[256];
    assert_int_equal(bt_host_init(&h, loop, err, sizeof(err)), KS_OK);
    assert_int_equal(bt_host_open(&h, "{\"decode_only\":true}", err, sizeof(err)), KS_OK);
    assert_int_equal(h.ops->start(h.self), KS_OK);
    bt_run_for(&h, 100);
    assert_int_equal(ks_http_pending(h.http), 0);
    assert_int_equal(h.n_ev, 0);
    assert_true(h.ops->decode(h.self, "{not json", 9) < 0);
    const char *msg = "{\"topic\":\"publicTrade.BTCUSDT\",\"type\":\"snapshot\",\"ts\":1,\"data\":"
                      "[{\"T\":1,\"s\":\"BTCUSDT\",\"S\":\"Buy\",\"v\":\"0.001\",\"p\":\"1.50\","
                      "\"i\":\"x\"}]}";
    assert_int_equal(h.ops->decode(h.self, msg, strlen(msg)), KS_OK);
    assert_int_equal(bt_count(&h, KS_EV_TRADE, 0), 1);
    bt_host_free(&h);
    ks_loop_free(loop);
}

static void bad_config_is_refused_with_the_key(void **state)
{
    ks_loop_t *loop = ks_loop_new(false, 0);
    bt_host_t h;
    char err[256];
    assert_int_equal(bt_host_init(&h, loop, err, sizeof(err)), KS_OK);
    assert_int_not_equal(bt_host_open(&h, "{\"book_depth\": 7}", err, sizeof(err)), KS_OK);
    assert_non_null(strstr(err, "book_depth"));
    assert_int_not_equal(bt_host_open(&h, "{\"network\": \"custom\"}", err, sizeof(err)), KS_OK);
    assert_non_null(strstr(err, "rest_url"));
    assert_int_not_equal(bt_host_open(&h, "{\"frobnicate\": 1}", err, sizeof(err)), KS_OK);
    assert_non_null(strstr(err, "frobnicate: unknown key"));
    assert_int_not_equal(
        bt_host_open(&h, "{\"rest_url\": \"http://x:${KS_NO_SUCH_VAR_X}\"}", err, sizeof(err)),
        KS_OK);
    assert_non_null(strstr(err, "environment"));
    assert_int_not_equal(
        bt_host_open(&h, "{\"fees\": {\"linear\": {\"taker\": \"x\"}}}", err, sizeof(err)), KS_OK);
    assert_string_equal(err, "fees.linear.taker: expected a decimal in [-0.01, 0.01]");
    assert_int_not_equal(
        bt_host_open(&h, "{\"fees\": {\"spot\": {\"maker\": 0.02}}}", err, sizeof(err)), KS_OK);
    assert_string_equal(err, "fees.spot.maker: expected a decimal in [-0.01, 0.01]");
    assert_int_not_equal(bt_host_open(&h, "{\"fees\": {\"inverse\": {}}}", err, sizeof(err)),
                         KS_OK);
    assert_string_equal(err, "fees.inverse: unknown key");
    assert_int_not_equal(
        bt_host_open(&h, "{\"fees\": {\"linear\": {\"rebate\": \"0\"}}}", err, sizeof(err)), KS_OK);
    assert_string_equal(err, "fees.linear.rebate: unknown key");
    assert_int_not_equal(bt_host_open(&h, "{\"fees\": 0.001}", err, sizeof(err)), KS_OK);
    assert_string_equal(err, "fees: expected an object with \"linear\" and/or \"spot\"");
    h.self = NULL;
    bt_host_free(&h);
    ks_loop_free(loop);
}

int main(void)
{
    ks_log_setup(stderr, KS_LOG_ERROR, KS_LOGF_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(market_order_fills_and_reports_position_and_balance),
        cmocka_unit_test(reduce_only_without_position_is_rejected_with_reason),
        cmocka_unit_test(rate_limit_replies_reject_and_feed_the_limiter),
        cmocka_unit_test(server_error_on_create_leaves_it_open_until_fetch_resolves_it),
        cmocka_unit_test(timeout_on_create_is_resolved_from_the_venue),
        cmocka_unit_test(duplicate_order_link_id_is_queried_not_rejected),
        cmocka_unit_test(timestamp_rejection_resyncs_the_clock_and_retries_once),
        cmocka_unit_test(limit_order_amend_and_cancel),
        cmocka_unit_test(book_gap_triggers_resubscribe_and_rebuild),
        cmocka_unit_test(silent_server_is_detected_by_ping_and_reconnected),
        cmocka_unit_test(refused_ws_auth_is_retried_with_backoff),
        cmocka_unit_test(wrong_secret_rejects_orders_as_auth),
        cmocka_unit_test(duplicated_private_messages_give_one_fill_each),
        cmocka_unit_test(instruments_are_paginated_and_specs_complete),
        cmocka_unit_test(open_orders_fetch_lists_resting_orders),
        cmocka_unit_test(without_credentials_instruments_carry_the_default_fees),
        cmocka_unit_test(configured_fees_override_the_defaults_per_category),
        cmocka_unit_test(account_fee_rates_replace_the_configured_ones),
        cmocka_unit_test(refused_fee_rate_keeps_the_configured_fees_and_warns_once),
        cmocka_unit_test(account_rates_arriving_at_a_refresh_re_register_the_spec),
        cmocka_unit_test(decode_only_instance_does_no_io),
        cmocka_unit_test(bad_config_is_refused_with_the_key),
    };
    /* BT_ONLY=substring runs the matching tests only (for debugging). */
    if (getenv("BT_ONLY"))
        cmocka_set_test_filter(getenv("BT_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
