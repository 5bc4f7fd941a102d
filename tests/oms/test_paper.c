/* Paper trading matcher: fills against quotes, resting orders, the special order types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "paper.h"

typedef struct rec {
    int n;
    int type[32];
    int status[32];
    char px[32][KS_DEC_STRLEN];
    bool maker[32];
    char reason[32][KS_REASON_LEN];
} rec_t;

static void on_emit(void *ud, uint32_t venue, const ks_event_t *ev)
{
    rec_t *r = ud;
    int i = r->n++;
    r->type[i] = ev->type;
    if (ev->type == KS_EV_ORDER) {
        const ks_order_update_t *u = (const ks_order_update_t *)ev;
        r->status[i] = u->status;
        ks_strlcpy(r->reason[i], u->reason, sizeof(r->reason[i]));
    } else {
        const ks_fill_t *f = (const ks_fill_t *)ev;
        ks_dec_format(f->px, r->px[i], sizeof(r->px[i]));
        r->maker[i] = f->maker;
    }
}

static ks_dec_t D(const char *s)
{
    ks_dec_t d;
    assert_int_equal(ks_dec_parse(s, (size_t)-1, &d), KS_OK);
    return d;
}

typedef struct fx {
    ks_market_t m;
    int32_t inst;
    rec_t rec;
    ks_paper_t *p;
} fx_t;

static void quote(fx_t *f, const char *bid, const char *ask)
{
    ks_bbo_t b;
    KS_EVENT_INIT(&b, KS_EV_BBO);
    b.hdr.inst = f->inst;
    b.hdr.recv_ns = 1;
    b.bid_px = D(bid);
    b.ask_px = D(ask);
    b.bid_qty = b.ask_qty = D("5");
    ks_market_apply(&f->m, &b.hdr);
}

static int setup(void **state)
{
    static fx_t f;
    memset(&f, 0, sizeof(f));
    ks_market_init(&f.m);
    ks_instrument_t in;
    KS_INIT(&in);
    in.kind = KS_KIND_PERP;
    in.symbol = "BTC/USDT:USDT";
    in.base = "BTC";
    in.quote = "USDT";
    in.tick_size = D("0.5");
    in.lot_size = D("0.001");
    in.taker_fee = D("0.0005");
    in.maker_fee = D("0.0002");
    bool n, c;
    ks_market_upsert(&f.m, 0, &in, &f.inst, &n, &c);
    f.p = ks_paper_new(&f.m, on_emit, &f.rec);
    quote(&f, "100", "101");
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    ks_paper_free(f->p);
    ks_market_free(&f->m);
    return 0;
}

static ks_order_cmd_t cmd(fx_t *f, const char *id, int side, int type, int tif, const char *px)
{
    ks_order_cmd_t c;
    KS_INIT(&c);
    c.inst = f->inst;
    ks_strlcpy(c.cloid, id, sizeof(c.cloid));
    c.side = (int8_t)side;
    c.type = (uint8_t)type;
    c.tif = (uint8_t)tif;
    c.price = px ? D(px) : KS_DEC_ZERO;
    c.qty = D("0.01");
    return c;
}

static void market_order_fills_at_the_touch_as_taker(void **state)
{
    fx_t *f = *state;
    ks_order_cmd_t c = cmd(f, "a", KS_SIDE_BUY, KS_ORD_MARKET, KS_TIF_IOC, NULL);
    assert_int_equal(ks_paper_place(f->p, 0, &c, KS_DEC_ZERO, 1), KS_OK);
    assert_int_equal(f->rec.n, 3); /* acked, fill, filled */
    assert_int_equal(f->rec.type[1], KS_EV_FILL);
    assert_string_equal(f->rec.px[1], "101");
    assert_false(f->rec.maker[1]);
    assert_int_equal(f->rec.status[2], KS_OS_FILLED);
}

static void resting_limit_fills_at_its_price_when_reached(void **state)
{
    fx_t *f = *state;
    ks_order_cmd_t c = cmd(f, "b", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "99");
    ks_paper_place(f->p, 0, &c, KS_DEC_ZERO, 1);
    assert_int_equal(ks_paper_resting(f->p), 1);
    quote(f, "99.5", "100");
    ks_paper_on_bbo(f->p, f->inst, 2);
    assert_int_equal(ks_paper_resting(f->p), 1);
    quote(f, "98", "99");
    ks_paper_on_bbo(f->p, f->inst, 3);
    assert_int_equal(ks_paper_resting(f->p), 0);
    assert_int_equal(f->rec.type[1], KS_EV_FILL);
    assert_string_equal(f->rec.px[1], "99");
    assert_true(f->rec.maker[1]);
}

static void ioc_post_only_reduce_only_and_cancel(void **state)
{
    fx_t *f = *state;
    ks_order_cmd_t c = cmd(f, "c", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_IOC, "99");
    ks_paper_place(f->p, 0, &c, KS_DEC_ZERO, 1);
    assert_int_equal(f->rec.status[1], KS_OS_EXPIRED);
    c = cmd(f, "d", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_POST_ONLY, "101");
    ks_paper_place(f->p, 0, &c, KS_DEC_ZERO, 1);
    assert_int_equal(f->rec.status[3], KS_OS_REJECTED);
    c = cmd(f, "e", KS_SIDE_SELL, KS_ORD_MARKET, KS_TIF_IOC, NULL);
    c.reduce_only = true;
    ks_paper_place(f->p, 0, &c, KS_DEC_ZERO, 1); /* flat: nothing to reduce */
    assert_int_equal(f->rec.status[4], KS_OS_REJECTED);
    c = cmd(f, "g", KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC, "150");
    ks_paper_place(f->p, 0, &c, KS_DEC_ZERO, 1);
    assert_int_equal(ks_paper_cancel(f->p, "g", 2), KS_OK);
    assert_int_equal(f->rec.status[f->rec.n - 1], KS_OS_CANCELED);
    assert_int_equal(ks_paper_cancel(f->p, "g", 2), KS_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(market_order_fills_at_the_touch_as_taker, setup, teardown),
        cmocka_unit_test_setup_teardown(resting_limit_fills_at_its_price_when_reached, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ioc_post_only_reduce_only_and_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
