/* The sim venue replaying a small hand-written capture (hftbacktest line format, Binance
 * USD-M messages), driven through its plugin operations by the fake host of the sim
 * tests: the queue-position model of resting orders, the latency model, funding from
 * recorded settlements and the book sync rules, each on a scenario small enough to check
 * fill by fill. Needs no shared data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/fake_host.h"
#include "sim/sim_test_util.h"

#define MS 1000000LL
/* 2024-08-08 23:54:00 UTC, the capture's first line */
#define T0 (1723161240LL * 1000000000LL)

typedef struct venue {
    fh_plugin_t plug;
    ks_host_t host;
    void *self;
    char dir[256], path[320];
} venue_t;

static const ks_exchange_ops_t *ops(venue_t *v)
{
    return v->plug.ops;
}

/* Writes the capture: one line per entry, "<T0 + ms> <json>". */
static void write_capture(venue_t *v, const char *const *lines)
{
    snprintf(v->dir, sizeof(v->dir), "/tmp/ks_replay_XXXXXX");
    if (!mkdtemp(v->dir))
        fail_msg("mkdtemp failed");
    snprintf(v->path, sizeof(v->path), "%s/testusdt_capture.txt", v->dir);
    FILE *f = fopen(v->path, "w");
    assert_non_null(f);
    for (int i = 0; lines[i]; i += 2)
        fprintf(f, "%lld %s\n", (long long)(T0 + atoll(lines[i]) * MS), lines[i + 1]);
    fclose(f);
}

static void venue_start(venue_t *v, const char *const *lines, const char *extra)
{
    char cfg[1024], err[KS_REASON_LEN] = "";
    memset(v, 0, sizeof(*v));
    write_capture(v, lines);
    snprintf(cfg, sizeof(cfg), "{\"replay\": {\"paths\": [\"%s\"], \"min_notional\": \"0\"}%s%s}",
             v->path, extra ? ", " : "", extra ? extra : "");
    if (fh_plugin_load(&v->plug, "sim") != 0)
        fail_msg("cannot load sim.so (is KS_BUILD_DIR set?)");
    fh_init(&v->host, T0); /* wall clock at the capture's start: no time shift */
    if (ops(v)->open(fh_api(), &v->host, "sim", cfg, &v->self, err, sizeof(err)) != KS_OK)
        fail_msg("open: %s", err);
    assert_int_equal(ops(v)->start(v->self), KS_OK);
}

static void venue_close(venue_t *v)
{
    if (v->self)
        ops(v)->close(v->self);
    fh_free(&v->host);
    fh_plugin_unload(&v->plug);
    unlink(v->path);
    rmdir(v->dir);
}

static void run_to(venue_t *v, int64_t ms)
{
    fh_run_until(&v->host, ms * MS);
}

static int place(venue_t *v, const char *cloid, int side, const char *px, const char *qty)
{
    ks_order_cmd_t cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.struct_size = sizeof(cmd);
    cmd.inst = fh_inst_id(&v->host, "TEST/USDT:USDT");
    assert_true(cmd.inst >= 0);
    ks_strlcpy(cmd.cloid, cloid, sizeof(cmd.cloid));
    cmd.side = (int8_t)side;
    cmd.type = px ? KS_ORD_LIMIT : KS_ORD_MARKET;
    cmd.tif = px ? KS_TIF_GTC : KS_TIF_IOC;
    cmd.price = px ? D(px) : KS_DEC_ZERO;
    cmd.qty = D(qty);
    return ops(v)->place(v->self, &cmd);
}

/* Sum of fill quantities of cloid so far, and the last fill. */
static ks_dec_t filled(venue_t *v, const char *cloid, const ks_fill_t **last)
{
    ks_dec_t sum = KS_DEC_ZERO;
    if (last)
        *last = NULL;
    for (size_t i = 0; i < fh_count(&v->host, KS_EV_FILL); i++) {
        const ks_fill_t *f = &fh_nth(&v->host, KS_EV_FILL, i)->fill;
        if (strcmp(f->cloid, cloid) == 0) {
            ks_dec_add(sum, f->qty, &sum);
            if (last)
                *last = f;
        }
    }
    return sum;
}

static int last_status(venue_t *v, const char *cloid)
{
    for (size_t i = v->host.n_ev; i-- > 0;)
        if (v->host.ev[i].hdr.type == KS_EV_ORDER && strcmp(v->host.ev[i].order.cloid, cloid) == 0)
            return v->host.ev[i].order.status;
    fail_msg("no order update for %s", cloid);
    return -1;
}

#define SNAPSHOT                                                                                   \
    "{\"lastUpdateId\":100,\"E\":1,\"T\":1,\"bids\":[[\"100.0\",\"5\"],[\"99.9\",\"3\"]],"         \
    "\"asks\":[[\"100.3\",\"4\"],[\"100.4\",\"6\"]]}"
#define TRADE(px, qty, buyer_maker)                                                                \
    "{\"stream\":\"testusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":2,\"T\":2,\"s\":\"TESTUSDT\"," \
    "\"t\":1,\"p\":\"" px "\",\"q\":\"" qty "\",\"X\":\"MARKET\",\"m\":" buyer_maker "}}"
#define DEPTH(U, u, pu, bids, asks)                                                                \
    "{\"stream\":\"testusdt@depth@0ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":3,\"T\":3,"          \
    "\"s\":\"TESTUSDT\",\"U\":" U ",\"u\":" u ",\"pu\":" pu ",\"b\":" bids ",\"a\":" asks "}}"

/* A resting buy at 100.0 joins behind the 5 displayed there. Prints at its price eat the
 * queue first, a shrinking level shortens it, the excess of a print fills the order, and
 * a print below its price (the level traded through) fills the rest. */
static void resting_order_waits_for_the_displayed_queue_then_fills(void **state)
{
    static const char *const lines[] = {
        "0",   SNAPSHOT,
        "10",  DEPTH("101", "101", "100", "[[\"99.8\",\"2\"]]", "[]"),
        "200", TRADE("100.0", "3", "true"), /* sells 3 at 100.0: queue 5 -> 2 */
        "300", DEPTH("102", "102", "101", "[[\"100.0\",\"1\"]]", "[]"), /* shown 1: queue 1 */
        "400", TRADE("100.3", "9", "false"),  /* a buy at the ask: nothing for our bid */
        "500", TRADE("100.0", "1.5", "true"), /* 1 for the queue, 0.5 for us */
        "600", TRADE("99.9", "0.1", "true"),  /* through our price: the rest fills */
        "700", TRADE("99.9", "1", "true"),
        NULL};
    venue_t v;
    venue_start(&v, lines, NULL);
    run_to(&v, 100);
    assert_int_equal(place(&v, "q1", KS_SIDE_BUY, "100.0", "1"), KS_OK);
    assert_int_equal(last_status(&v, "q1"), KS_OS_ACKED);
    run_to(&v, 450);
    assert_dec_equal(filled(&v, "q1", NULL), KS_DEC_ZERO);
    run_to(&v, 550);
    const ks_fill_t *f;
    assert_dec_equal(filled(&v, "q1", &f), D("0.5"));
    assert_true(f->maker);
    assert_dec_equal(f->px, D("100"));
    assert_int_equal(f->hdr.venue_ts, T0 + 500 * MS);
    run_to(&v, 650);
    assert_dec_equal(filled(&v, "q1", &f), D("1"));
    assert_dec_equal(f->px, D("100")); /* a maker fills at its own price, not the print's */
    assert_int_equal(f->hdr.venue_ts, T0 + 600 * MS);
    run_to(&v, 1000);
    assert_dec_equal(filled(&v, "q1", NULL), D("1"));
    venue_close(&v);
}

/* An order priced inside the spread has nobody ahead of it: the first print at its
 * price fills it. An order behind a level that never trades never fills. */
static void order_improving_the_spread_is_first_in_line(void **state)
{
    static const char *const lines[] = {
        "0",   SNAPSHOT,
        "200", TRADE("100.1", "0.4", "true"),
        "300", TRADE("99.9", "0.05", "false"), /* a buy print at 99.9: not for bids */
        "400", TRADE("100.1", "2", "true"),
        NULL};
    venue_t v;
    venue_start(&v, lines, NULL);
    run_to(&v, 100);
    assert_int_equal(place(&v, "in", KS_SIDE_BUY, "100.1", "1"), KS_OK);
    assert_int_equal(place(&v, "back", KS_SIDE_BUY, "99.9", "1"), KS_OK);
    run_to(&v, 250);
    assert_dec_equal(filled(&v, "in", NULL), D("0.4"));
    run_to(&v, 1000);
    assert_dec_equal(filled(&v, "in", NULL), D("1"));
    assert_dec_equal(filled(&v, "back", NULL), KS_DEC_ZERO);
    venue_close(&v);
}

/* A market order pays the recorded ask with latency_ms 0; with latency_ms 100 it reaches
 * the book after the ask moved and fills at the new ask, 100 ms later. */
static void latency_delays_fills_to_the_book_of_their_arrival(void **state)
{
    static const char *const lines[] = {
        "0",
        SNAPSHOT,
        "150",
        DEPTH("101", "101", "100", "[]", "[[\"100.3\",\"0\"],[\"100.4\",\"0\"],[\"100.6\",\"5\"]]"),
        "400",
        TRADE("100.6", "1", "false"),
        NULL};
    for (int lat = 0; lat <= 100; lat += 100) {
        venue_t v;
        char extra[64];
        snprintf(extra, sizeof(extra), "\"latency_ms\": %d", lat);
        venue_start(&v, lines, extra);
        run_to(&v, 100);
        assert_int_equal(place(&v, "m", KS_SIDE_BUY, NULL, "1"), KS_OK);
        const ks_fill_t *f;
        if (lat == 0) {
            assert_dec_equal(filled(&v, "m", &f), D("1"));
            assert_dec_equal(f->px, D("100.3"));
            assert_int_equal(f->hdr.venue_ts, T0 + 100 * MS);
        } else {
            assert_dec_equal(filled(&v, "m", NULL), KS_DEC_ZERO); /* still in flight */
            run_to(&v, 199);
            assert_dec_equal(filled(&v, "m", NULL), KS_DEC_ZERO);
            run_to(&v, 200);
            assert_dec_equal(filled(&v, "m", &f), D("1"));
            assert_dec_equal(f->px, D("100.6"));
            assert_int_equal(f->hdr.venue_ts, T0 + 200 * MS);
            assert_false(f->maker);
        }
        venue_close(&v);
    }
}

/* Diffs older than the snapshot are dropped, a gap in pu is counted but applied, and a
 * bookTicker older than the book cannot roll it back. */
static void binance_diff_book_syncs_like_a_live_client(void **state)
{
    static const char *const lines[] = {
        "0",
        DEPTH("90", "95", "89", "[[\"50.0\",\"1\"]]", "[]"), /* before the snapshot */
        "5",
        DEPTH("96", "101", "95", "[[\"100.0\",\"7\"]]", "[]"), /* straddles it: applied */
        "10",
        SNAPSHOT,
        "20",
        "{\"stream\":\"testusdt@bookTicker\",\"data\":{\"e\":\"bookTicker\",\"u\":99,"
        "\"s\":\"TESTUSDT\",\"b\":\"99.5\",\"B\":\"1\",\"a\":\"99.6\",\"A\":\"1\",\"T\":4,"
        "\"E\":4}}",
        "30",
        DEPTH("105", "106", "104", "[[\"99.9\",\"0\"]]", "[]"), /* gap: pu 104 != 101 */
        NULL};
    venue_t v;
    venue_start(&v, lines, "\"book_levels\": 5");
    run_to(&v, 1);
    ops(&v)->subscribe(v.self, fh_inst_id(&v.host, "TEST/USDT:USDT"), KS_CH_BOOK | KS_CH_BBO);
    run_to(&v, 100);
    const ks_book_t *b = &fh_last(&v.host, KS_EV_BOOK)->book;
    assert_int_equal(b->n_bids, 1); /* 100.0 (7, from the straddling diff); 99.9 removed */
    const ks_bbo_t *bbo = &fh_last(&v.host, KS_EV_BBO)->bbo;
    assert_dec_equal(bbo->bid_px, D("100"));
    assert_dec_equal(bbo->bid_qty, D("7"));
    assert_dec_equal(bbo->ask_px, D("100.3"));
    assert_true(bbo->hdr.flags & KS_EVF_REPLAY);
    venue_close(&v);
}

#define MARK(px, rate, next_ms)                                                                    \
    "{\"stream\":\"testusdt@markPrice\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":5,"              \
    "\"s\":\"TESTUSDT\",\"p\":\"" px "\",\"i\":\"" px "\",\"r\":\"" rate "\",\"T\":" next_ms "}}"

/* A recorded mark-price stream that runs across a settlement time settles there, at the
 * last rate it showed, on the mark then in effect: a long of 1 at mark 101 and rate
 * 0.0002 pays 0.0202 at 2024-08-09 00:00:00. */
static void ticker_stream_across_a_settlement_settles_funding(void **state)
{
    static const char *const lines[] = {"0",      SNAPSHOT,
                                        "100",    MARK("100.1", "0.0001", "1723161600000"),
                                        "359000", MARK("101", "0.0002", "1723161600000"),
                                        "361000", MARK("101.5", "0.00005", "1723190400000"),
                                        NULL};
    venue_t v;
    venue_start(&v, lines, NULL);
    run_to(&v, 200);
    assert_int_equal(place(&v, "long", KS_SIDE_BUY, NULL, "1"), KS_OK);
    assert_dec_equal(filled(&v, "long", NULL), D("1"));
    run_to(&v, 400000);
    assert_int_equal(fh_count(&v.host, KS_EV_FUNDING), 1);
    const ks_funding_t *f = &fh_last(&v.host, KS_EV_FUNDING)->funding;
    assert_int_equal(f->hdr.venue_ts, 1723161600000LL * MS);
    assert_dec_equal(f->rate, D("0.0002"));
    assert_dec_equal(f->mark_px, D("101"));
    assert_dec_equal(f->position_qty, D("1"));
    assert_dec_equal(f->amount, D("-0.0202"));
    venue_close(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resting_order_waits_for_the_displayed_queue_then_fills),
        cmocka_unit_test(order_improving_the_spread_is_first_in_line),
        cmocka_unit_test(latency_delays_fills_to_the_book_of_their_arrival),
        cmocka_unit_test(binance_diff_book_syncs_like_a_live_client),
        cmocka_unit_test(ticker_stream_across_a_settlement_settles_funding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
