/* Market cache: instrument registration and spec_version, ticker merging, freshness
 * stamps, mid and mark, and timestamp regression detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "market.h"

static ks_dec_t D(const char *s)
{
    ks_dec_t d;
    assert_int_equal(ks_dec_parse(s, (size_t)-1, &d), KS_OK);
    return d;
}

static ks_instrument_t perp(const char *tick)
{
    ks_instrument_t in;
    KS_INIT(&in);
    in.kind = KS_KIND_PERP;
    in.symbol = "ETH/USDT:USDT";
    in.venue_symbol = "ETHUSDT";
    in.base = "ETH";
    in.quote = "USDT";
    in.settle = "USDT";
    in.tick_size = D(tick);
    in.lot_size = D("0.01");
    in.funding_interval_h = 8;
    return in;
}

static void spec_version_bumps_only_on_change(void **state)
{
    ks_market_t m;
    int32_t id, id2;
    bool n, c;
    ks_market_init(&m);
    ks_instrument_t in = perp("0.01");
    assert_int_equal(ks_market_upsert(&m, 0, &in, &id, &n, &c), KS_OK);
    assert_true(n && c);
    assert_int_equal(ks_market_inst(&m, id)->spec.spec_version, 1);
    assert_int_equal(ks_market_upsert(&m, 0, &in, &id2, &n, &c), KS_OK);
    assert_int_equal(id, id2);
    assert_false(n || c);
    in = perp("0.05");
    assert_int_equal(ks_market_upsert(&m, 0, &in, &id2, &n, &c), KS_OK);
    assert_true(c && !n);
    assert_int_equal(ks_market_inst(&m, id)->spec.spec_version, 2);
    /* Same symbol on another venue is another instrument. */
    assert_int_equal(ks_market_upsert(&m, 1, &in, &id2, &n, &c), KS_OK);
    assert_true(n);
    assert_int_not_equal(id, id2);
    assert_int_equal(ks_market_find(&m, 0, "ETH/USDT:USDT"), id);
    assert_int_equal(ks_market_find(&m, 2, "ETH/USDT:USDT"), -1);
    /* Strings are copied. */
    assert_string_equal(ks_market_inst(&m, id)->spec.base, "ETH");
    ks_market_free(&m);
}

static void ticker_fields_merge_and_events_are_stamped(void **state)
{
    ks_market_t m;
    int32_t id;
    bool n, c;
    ks_market_init(&m);
    ks_instrument_t in = perp("0.01");
    ks_market_upsert(&m, 0, &in, &id, &n, &c);
    ks_ticker_t t;
    KS_EVENT_INIT(&t, KS_EV_TICKER);
    t.hdr.inst = id;
    t.hdr.recv_ns = 100;
    t.hdr.venue_ts = 1000;
    t.fields = KS_TK_MARK | KS_TK_FUNDING_RATE;
    t.mark = D("3500.5");
    t.funding_rate = D("0.0001");
    ks_market_apply(&m, &t.hdr);
    KS_EVENT_INIT(&t, KS_EV_TICKER);
    t.hdr.inst = id;
    t.hdr.recv_ns = 200;
    t.hdr.venue_ts = 2000;
    t.fields = KS_TK_OPEN_INTEREST;
    t.open_interest = D("12345");
    ks_market_apply(&m, &t.hdr);
    const ks_mkt_t *k = ks_market_state(&m, id);
    assert_int_equal(ks_dec_cmp(k->ticker.mark, D("3500.5")), 0);
    assert_int_equal(ks_dec_cmp(k->ticker.funding_rate, D("0.0001")), 0);
    assert_int_equal(ks_dec_cmp(k->ticker.open_interest, D("12345")), 0);
    assert_int_equal(k->ticker_recv_ns, 200);
    ks_dec_t mark;
    assert_true(ks_market_mark(&m, id, &mark));
    assert_int_equal(ks_dec_cmp(mark, D("3500.5")), 0);
    assert_false(k->time_regressed);

    ks_bbo_t b;
    KS_EVENT_INIT(&b, KS_EV_BBO);
    b.hdr.inst = id;
    b.hdr.recv_ns = 300;
    b.hdr.venue_ts = 1500; /* older than the ticker's 2000 */
    b.bid_px = D("3500");
    b.ask_px = D("3501");
    ks_market_apply(&m, &b.hdr);
    assert_true(k->time_regressed);
    assert_int_equal(k->bbo_recv_ns, 300);
    ks_dec_t mid;
    assert_true(ks_market_mid(&m, id, &mid));
    assert_int_equal(ks_dec_cmp(mid, D("3500.5")), 0);
    ks_market_view_t v;
    ks_market_view(&m, id, &v);
    assert_int_equal(v.bbo_recv_ns, 300);
    assert_int_equal(v.spec_version, 1);
    ks_market_free(&m);
}

static void liquidations_are_kept_in_a_ring(void **state)
{
    ks_market_t m;
    int32_t id;
    bool n, c;
    ks_market_init(&m);
    ks_instrument_t in = perp("0.01");
    ks_market_upsert(&m, 0, &in, &id, &n, &c);
    for (int i = 0; i < KS_MKT_LIQ_RING + 5; i++) {
        ks_liquidation_t l;
        KS_EVENT_INIT(&l, KS_EV_LIQUIDATION);
        l.hdr.inst = id;
        l.hdr.recv_ns = i + 1;
        l.side = KS_SIDE_SELL;
        l.qty = ks_dec_from_int(i);
        ks_market_apply(&m, &l.hdr);
    }
    const ks_mkt_t *k = ks_market_state(&m, id);
    assert_int_equal(k->liq_count, KS_MKT_LIQ_RING);
    assert_int_equal(k->liq_recv_ns, KS_MKT_LIQ_RING + 5);
    ks_market_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_version_bumps_only_on_change),
        cmocka_unit_test(ticker_fields_merge_and_events_are_stamped),
        cmocka_unit_test(liquidations_are_kept_in_a_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
