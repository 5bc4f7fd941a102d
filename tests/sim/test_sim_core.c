/* sim_core: depth consumption, fees, order types, wallets, margin, funding, PnL,
 * liquidation, transfers and determinism, each driven through the pure core API with a
 * recording sink and a hand-fed market (jitter-free books, so every level is known). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sim/sim_test_util.h"
#include "sim_core.h"

/* 2024-01-01 01:00:00 UTC: one hour past an 8 h funding boundary. */
#define T0   (1704067200LL * 1000000000LL + 3600LL * 1000000000LL)
#define SEC  1000000000LL
#define SPOT 0
#define PERP 1

typedef union rec_ev {
    ks_event_t hdr;
    ks_trade_t trade;
    ks_order_update_t order;
    ks_fill_t fill;
    ks_position_t pos;
    ks_balance_t bal;
    ks_funding_t funding;
    ks_liquidation_t liq;
} rec_ev_t;

typedef struct rec {
    rec_ev_t *ev;
    size_t n, cap;
    uint64_t hash;
} rec_t;

static void rec_push(rec_t *r, const ks_event_t *e)
{
    char text[1024];
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
    }
    memset(&r->ev[r->n], 0, sizeof(r->ev[r->n]));
    memcpy(&r->ev[r->n], e, e->struct_size < sizeof(rec_ev_t) ? e->struct_size : sizeof(rec_ev_t));
    r->n++;
    r->hash = sim_fnv1a(r->hash, sim_event_text(e, text, sizeof(text)));
    r->hash = sim_fnv1a(r->hash, "\n");
    if (getenv("KS_SIM_TRACE"))
        printf("  %s\n", text);
}

static void on_order(void *ud, const ks_order_update_t *e)
{
    rec_push(ud, &e->hdr);
}
static void on_fill(void *ud, const ks_fill_t *e)
{
    rec_push(ud, &e->hdr);
}
static void on_position(void *ud, const ks_position_t *e)
{
    rec_push(ud, &e->hdr);
}
static void on_balance(void *ud, const ks_balance_t *e)
{
    rec_push(ud, &e->hdr);
}
static void on_funding(void *ud, const ks_funding_t *e)
{
    rec_push(ud, &e->hdr);
}
static void on_liquidation(void *ud, const ks_liquidation_t *e)
{
    rec_push(ud, &e->hdr);
}
static void on_trade(void *ud, const ks_trade_t *e)
{
    rec_push(ud, &e->hdr);
}

static size_t rec_count(const rec_t *r, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->ev[i].hdr.type == type;
    return n;
}

/* The k-th (0-based) event of `type`, failing the test when absent. */
static const rec_ev_t *rec_nth(const rec_t *r, int type, size_t k)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].hdr.type == type && k-- == 0)
            return &r->ev[i];
    fail_msg("no %s event #%zu", ks_event_type_name(type), k);
    return NULL;
}

static const rec_ev_t *rec_last(const rec_t *r, int type)
{
    for (size_t i = r->n; i-- > 0;)
        if (r->ev[i].hdr.type == type)
            return &r->ev[i];
    fail_msg("no %s event", ks_event_type_name(type));
    return NULL;
}

/* The last order update for cloid. */
static const ks_order_update_t *last_order(const rec_t *r, const char *cloid)
{
    for (size_t i = r->n; i-- > 0;)
        if (r->ev[i].hdr.type == KS_EV_ORDER && strcmp(r->ev[i].order.cloid, cloid) == 0)
            return &r->ev[i].order;
    fail_msg("no order update for %s", cloid);
    return NULL;
}

static void rec_clear(rec_t *r)
{
    r->n = 0;
}

typedef struct fx {
    ks_sim_core_t *c;
    rec_t rec;
    ks_sim_input_t in[2];
    int64_t ts;
} fx_t;

static ks_sim_inst_spec_t test_spec(uint8_t kind, int jitter)
{
    ks_sim_inst_spec_t s;
    memset(&s, 0, sizeof(s));
    s.kind = kind;
    snprintf(s.symbol, sizeof(s.symbol), "%s", kind == KS_KIND_PERP ? "BTC/USDT:USDT" : "BTC/USDT");
    snprintf(s.base, sizeof(s.base), "BTC");
    snprintf(s.quote, sizeof(s.quote), "USDT");
    s.tick = D("0.1");
    s.lot = D("0.001");
    s.min_qty = D("0.001");
    s.min_notional = D("5");
    s.maker_fee = D("0.0002");
    s.taker_fee = D("0.00055");
    s.mmr = D("0.005");
    s.leverage = 10;
    s.max_leverage = 100;
    s.funding_interval_h = 8;
    /* Levels: 1.000, 1.250, 1.500, 1.750, 2.000 (touch 1000 lots, +25 % per level). */
    s.book_levels = 5;
    s.spread_ticks = 1;
    s.depth_lots = 1000;
    s.depth_growth_pct = 25;
    s.depth_jitter_pct = jitter;
    s.ext_id = kind == KS_KIND_PERP ? 101 : 100;
    return s;
}

/* A core with BTC spot (index 0) and perp (index 1), 100000 USDT in each wallet, and
 * books built around `mid` at T0. */
static void fx_init_full(fx_t *f, const char *mid, uint64_t seed, int jitter, int spread)
{
    char err[KS_REASON_LEN];
    ks_sim_sink_t sink = {&f->rec,    on_order,   on_fill,        on_position,
                          on_balance, on_funding, on_liquidation, on_trade};
    memset(f, 0, sizeof(*f));
    f->rec.hash = 0xcbf29ce484222325ULL;
    f->c = ks_sim_core_new(seed, &sink);
    assert_non_null(f->c);
    for (uint8_t k = KS_KIND_SPOT; k <= KS_KIND_PERP; k++) {
        ks_sim_inst_spec_t s = test_spec(k, jitter);
        int32_t idx;
        s.spread_ticks = spread;
        assert_int_equal(ks_sim_core_add_inst(f->c, &s, &idx, err, sizeof(err)), KS_OK);
    }
    assert_int_equal(ks_sim_core_deposit(f->c, KS_WALLET_SPOT, "USDT", D("100000")), KS_OK);
    assert_int_equal(ks_sim_core_deposit(f->c, KS_WALLET_FUTURES, "USDT", D("100000")), KS_OK);
    f->ts = T0;
    for (int i = 0; i < 2; i++) {
        f->in[i].mid = D(mid);
        f->in[i].mark = D(mid);
        f->in[i].funding_rate = D("0.0001");
    }
    assert_int_equal(ks_sim_core_step(f->c, f->ts, f->in), KS_OK);
}

static void fx_init_seed(fx_t *f, const char *mid, uint64_t seed, int jitter)
{
    fx_init_full(f, mid, seed, jitter, 1);
}

static void fx_init(fx_t *f, const char *mid)
{
    fx_init_seed(f, mid, 7, 0);
}

static void fx_free(fx_t *f)
{
    assert_int_equal(ks_sim_core_numeric_errors(f->c), 0);
    ks_sim_core_free(f->c);
    free(f->rec.ev);
}

/* Steps the market to ts with new mids/mark and no flow. */
static void fx_step(fx_t *f, int64_t ts, const char *mid, const char *mark)
{
    f->ts = ts;
    for (int i = 0; i < 2; i++) {
        f->in[i].mid = mid ? D(mid) : KS_DEC_ZERO;
        f->in[i].n_flows = 0;
    }
    f->in[PERP].mark = mark ? D(mark) : KS_DEC_ZERO;
    assert_int_equal(ks_sim_core_step(f->c, ts, f->in), KS_OK);
}

static void place(fx_t *f, int32_t inst, const char *cloid, int side, int type, int tif,
                  const char *px, const char *qty, bool reduce_only)
{
    ks_order_cmd_t cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.struct_size = sizeof(cmd);
    cmd.inst = inst;
    snprintf(cmd.cloid, sizeof(cmd.cloid), "%s", cloid);
    cmd.side = (int8_t)side;
    cmd.type = (uint8_t)type;
    cmd.tif = (uint8_t)tif;
    cmd.reduce_only = reduce_only;
    cmd.price = px ? D(px) : KS_DEC_ZERO;
    cmd.qty = D(qty);
    assert_int_equal(ks_sim_core_place(f->c, f->ts, &cmd), KS_OK);
}

static void market(fx_t *f, int32_t inst, const char *cloid, int side, const char *qty)
{
    place(f, inst, cloid, side, KS_ORD_MARKET, 0, NULL, qty, false);
}

static ks_balance_t balance(fx_t *f, int wallet, const char *asset)
{
    ks_balance_t b;
    assert_int_equal(ks_sim_core_get_balance(f->c, wallet, asset, &b), KS_OK);
    return b;
}

static ks_position_t position(fx_t *f)
{
    ks_position_t p;
    assert_int_equal(ks_sim_core_get_position(f->c, PERP, &p), KS_OK);
    return p;
}

/* ---- book and depth ---------------------------------------------------------------- */

static void book_is_built_from_mid_with_growing_depth(void **state)
{
    fx_t f;
    const ks_level_t *b, *a;
    uint32_t nb, na;
    fx_init(&f, "100");
    assert_int_equal(ks_sim_core_book(f.c, SPOT, &b, &nb, &a, &na), KS_OK);
    assert_int_equal(nb, 5);
    assert_int_equal(na, 5);
    assert_dec_equal(b[0].px, D("100"));
    assert_dec_equal(a[0].px, D("100.1"));
    assert_dec_equal(b[4].px, D("99.6"));
    assert_dec_equal(a[4].px, D("100.5"));
    const char *q[] = {"1", "1.25", "1.5", "1.75", "2"};
    for (int i = 0; i < 5; i++) {
        assert_dec_equal(b[i].qty, D(q[i]));
        assert_dec_equal(a[i].qty, D(q[i]));
    }
    fx_free(&f);
}

static void market_buy_walks_levels_at_exact_vwap_and_consumes_them(void **state)
{
    fx_t f;
    const ks_level_t *b, *a;
    uint32_t nb, na;
    fx_init(&f, "100");
    market(&f, SPOT, "m1", KS_SIDE_BUY, "2.5");
    /* 1 @ 100.1 + 1.25 @ 100.2 + 0.25 @ 100.3 = 250.425 -> VWAP 100.17 */
    const ks_order_update_t *o = last_order(&f.rec, "m1");
    assert_int_equal(o->status, KS_OS_FILLED);
    assert_dec_equal(o->filled, D("2.5"));
    assert_dec_equal(o->avg_price, D("100.17"));
    assert_int_equal(rec_count(&f.rec, KS_EV_FILL), 3);
    assert_dec_equal(rec_nth(&f.rec, KS_EV_FILL, 0)->fill.px, D("100.1"));
    assert_dec_equal(rec_nth(&f.rec, KS_EV_FILL, 1)->fill.qty, D("1.25"));
    assert_dec_equal(rec_nth(&f.rec, KS_EV_FILL, 2)->fill.qty, D("0.25"));
    assert_dec_equal(rec_nth(&f.rec, KS_EV_FILL, 2)->fill.px, D("100.3"));
    /* Consumed: the best ask is now what is left of 100.3. */
    ks_sim_core_book(f.c, SPOT, &b, &nb, &a, &na);
    assert_int_equal(na, 3);
    assert_dec_equal(a[0].px, D("100.3"));
    assert_dec_equal(a[0].qty, D("1.25"));
    /* Consumed liquidity stays consumed: the next buy starts there. */
    market(&f, SPOT, "m2", KS_SIDE_BUY, "2");
    o = last_order(&f.rec, "m2");
    assert_dec_equal(o->avg_price, D("100.3375")); /* (1.25*100.3 + 0.75*100.4) / 2 */
    /* Until the next rebuild. */
    fx_step(&f, T0 + SEC, "100", "100");
    ks_sim_core_book(f.c, SPOT, &b, &nb, &a, &na);
    assert_dec_equal(a[0].px, D("100.1"));
    assert_dec_equal(a[0].qty, D("1"));
    fx_free(&f);
}

static void market_sell_exhausting_the_book_cancels_the_rest(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "big", KS_SIDE_SELL, "10");
    const ks_order_update_t *o = last_order(&f.rec, "big");
    assert_int_equal(o->status, KS_OS_CANCELED);
    assert_dec_equal(o->filled, D("7.5")); /* all five bid levels */
    assert_non_null(strstr(o->reason, "book exhausted"));
    market(&f, PERP, "none", KS_SIDE_SELL, "1");
    o = last_order(&f.rec, "none");
    assert_int_equal(o->status, KS_OS_REJECTED);
    assert_int_equal(o->reject, KS_REJ_NO_LIQUIDITY);
    fx_free(&f);
}

/* ---- fees --------------------------------------------------------------------------- */

static void taker_and_maker_fees_are_exact(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    /* Taker: 2 @ (1 @ 100.1, 1 @ 100.2): fees 0.055055 + 0.05511. */
    market(&f, SPOT, "t", KS_SIDE_BUY, "2");
    assert_dec_equal(last_order(&f.rec, "t")->fee, D("0.110165"));
    assert_false(rec_nth(&f.rec, KS_EV_FILL, 0)->fill.maker);
    assert_string_equal(rec_nth(&f.rec, KS_EV_FILL, 0)->fill.fee_asset, "USDT");
    ks_balance_t q = balance(&f, KS_WALLET_SPOT, "USDT");
    assert_dec_equal(q.total, D("99799.589835")); /* 100000 - 200.3 - 0.110165 */
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "BTC").total, D("2"));

    /* Maker: a bid resting at the touch (1.0 ahead of it) filled by a sell flow of 1.5. */
    rec_clear(&f.rec);
    place(&f, SPOT, "mk", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "0.5", false);
    assert_int_equal(last_order(&f.rec, "mk")->status, KS_OS_ACKED);
    f.in[SPOT].mid = D("100");
    f.in[SPOT].n_flows = 1;
    f.in[SPOT].flows[0].side = KS_SIDE_SELL;
    f.in[SPOT].flows[0].qty = D("1.5");
    f.in[PERP].mid = D("100");
    f.ts += SEC;
    ks_sim_core_step(f.c, f.ts, f.in);
    const ks_order_update_t *o = last_order(&f.rec, "mk");
    assert_int_equal(o->status, KS_OS_FILLED);
    assert_dec_equal(o->fee, D("0.01")); /* 50 * 0.0002 */
    assert_true(rec_last(&f.rec, KS_EV_FILL)->fill.maker);
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "USDT").total, D("99749.579835"));
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "USDT").available, D("99749.579835"));
    fx_free(&f);
}

/* ---- time in force, post-only, reduce-only ------------------------------------------ */

static void ioc_fills_what_crosses_and_cancels_the_rest(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, SPOT, "ioc", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_IOC, "100.2", "5", false);
    const ks_order_update_t *o = last_order(&f.rec, "ioc");
    assert_int_equal(o->status, KS_OS_CANCELED);
    assert_dec_equal(o->filled, D("2.25"));
    assert_int_equal(ks_sim_core_open_order_count(f.c), 0);
    place(&f, SPOT, "ioc0", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_IOC, "100", "1", false);
    o = last_order(&f.rec, "ioc0");
    assert_int_equal(o->status, KS_OS_REJECTED);
    assert_int_equal(o->reject, KS_REJ_NO_LIQUIDITY);
    fx_free(&f);
}

static void fok_fills_entirely_or_not_at_all(void **state)
{
    fx_t f;
    const ks_level_t *b, *a;
    uint32_t nb, na;
    fx_init(&f, "100");
    place(&f, SPOT, "fok1", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_FOK, "100.2", "5", false);
    assert_int_equal(last_order(&f.rec, "fok1")->status, KS_OS_REJECTED);
    assert_int_equal(last_order(&f.rec, "fok1")->reject, KS_REJ_NO_LIQUIDITY);
    assert_int_equal(rec_count(&f.rec, KS_EV_FILL), 0);
    ks_sim_core_book(f.c, SPOT, &b, &nb, &a, &na);
    assert_dec_equal(a[0].qty, D("1")); /* untouched */
    place(&f, SPOT, "fok2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_FOK, "100.2", "2.25", false);
    assert_int_equal(last_order(&f.rec, "fok2")->status, KS_OS_FILLED);
    fx_free(&f);
}

static void post_only_rests_or_is_rejected_when_it_would_take(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, SPOT, "po1", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_POST_ONLY, "100.1", "1", false);
    assert_int_equal(last_order(&f.rec, "po1")->status, KS_OS_REJECTED);
    assert_int_equal(last_order(&f.rec, "po1")->reject, KS_REJ_POST_ONLY);
    place(&f, SPOT, "po2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_POST_ONLY, "100", "1", false);
    assert_int_equal(last_order(&f.rec, "po2")->status, KS_OS_ACKED);
    /* The quote is held: 100 * 1 * (1 + max fee 0.00055). */
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "USDT").available, D("99899.945"));
    assert_int_equal(ks_sim_core_open_order_count(f.c), 1);
    fx_free(&f);
}

static void reduce_only_never_increases_a_position(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, PERP, "ro0", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "1", true);
    assert_int_equal(last_order(&f.rec, "ro0")->reject, KS_REJ_REDUCE_ONLY);
    market(&f, PERP, "open", KS_SIDE_BUY, "1");
    place(&f, PERP, "ro1", KS_SIDE_BUY, KS_ORD_MARKET, 0, NULL, "0.5", true);
    assert_int_equal(last_order(&f.rec, "ro1")->reject, KS_REJ_REDUCE_ONLY);
    place(&f, PERP, "ro2", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "2", true);
    assert_int_equal(last_order(&f.rec, "ro2")->reject, KS_REJ_REDUCE_ONLY);
    place(&f, PERP, "ro3", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "1", true);
    assert_int_equal(last_order(&f.rec, "ro3")->status, KS_OS_FILLED);
    assert_dec_equal(position(&f).qty, D("0"));
    place(&f, PERP, "ro4", KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC, "200", "1", true);
    assert_int_equal(last_order(&f.rec, "ro4")->reject, KS_REJ_REDUCE_ONLY);
    assert_int_equal(last_order(&f.rec, "ro4")->status, KS_OS_REJECTED);
    fx_free(&f);
}

static void resting_reduce_only_is_canceled_once_the_position_is_gone(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "open", KS_SIDE_BUY, "1");
    place(&f, PERP, "tp", KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC, "105", "1", true);
    market(&f, PERP, "close", KS_SIDE_SELL, "1");
    fx_step(&f, T0 + SEC, "110", "110"); /* bids now cross 105 */
    const ks_order_update_t *o = last_order(&f.rec, "tp");
    assert_int_equal(o->status, KS_OS_CANCELED);
    assert_int_equal(o->reject, KS_REJ_REDUCE_ONLY);
    assert_dec_equal(o->filled, D("0"));
    fx_free(&f);
}

static void invalid_orders_are_rejected_with_a_reason(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, SPOT, "i1", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100.05", "1", false);
    assert_int_equal(last_order(&f.rec, "i1")->reject, KS_REJ_INVALID);
    assert_non_null(strstr(last_order(&f.rec, "i1")->reason, "tick"));
    place(&f, SPOT, "i2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "0.0015", false);
    assert_non_null(strstr(last_order(&f.rec, "i2")->reason, "lot"));
    place(&f, SPOT, "i3", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "0.04", false);
    assert_int_equal(last_order(&f.rec, "i3")->reject, KS_REJ_INVALID);
    assert_non_null(strstr(last_order(&f.rec, "i3")->reason, "notional"));
    place(&f, SPOT, "i4", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "1", true);
    assert_non_null(strstr(last_order(&f.rec, "i4")->reason, "spot"));
    fx_free(&f);
}

static void a_duplicate_cloid_is_rejected_and_the_original_kept(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, SPOT, "dup", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "99", "1", false);
    place(&f, SPOT, "dup", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "98", "1", false);
    const ks_order_update_t *o = last_order(&f.rec, "dup");
    assert_int_equal(o->status, KS_OS_REJECTED);
    assert_int_equal(o->reject, KS_REJ_DUPLICATE_CLOID);
    rec_clear(&f.rec);
    assert_int_equal(ks_sim_core_emit_order(f.c, f.ts, "dup", KS_EVF_SNAPSHOT), KS_OK);
    o = last_order(&f.rec, "dup");
    assert_int_equal(o->status, KS_OS_ACKED);
    assert_dec_equal(o->price, D("99"));
    assert_int_equal(o->hdr.flags, KS_EVF_SNAPSHOT);
    assert_int_equal(ks_sim_core_emit_order(f.c, f.ts, "nope", 0), KS_ENOENT);
    fx_free(&f);
}

/* ---- resting orders: crossing and the queue model ------------------------------------ */

static void resting_bid_fills_as_maker_when_the_book_crosses_it(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, PERP, "bid", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "99.5", "2", false);
    fx_step(&f, T0 + SEC, "99.2", "99.2"); /* asks 99.3 (1) and 99.4 (1.25) cross 99.5 */
    const ks_order_update_t *o = last_order(&f.rec, "bid");
    assert_int_equal(o->status, KS_OS_FILLED);
    assert_dec_equal(o->avg_price, D("99.5")); /* at its own price */
    assert_true(rec_last(&f.rec, KS_EV_FILL)->fill.maker);
    assert_dec_equal(o->fee, D("0.0398")); /* 199 * 0.0002 */
    fx_free(&f);
}

static void crossing_fill_is_bounded_by_the_crossing_liquidity(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, PERP, "bid", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "99.5", "5", false);
    fx_step(&f, T0 + SEC, "99.3", "99.3"); /* asks 99.4 (1) and 99.5 (1.25) */
    const ks_order_update_t *o = last_order(&f.rec, "bid");
    assert_int_equal(o->status, KS_OS_PARTIAL);
    assert_dec_equal(o->filled, D("2.25"));
    fx_free(&f);
}

static void queue_ahead_trades_before_a_resting_order_fills(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    /* Joins the 100.0 bid behind 1.0 of book liquidity. */
    place(&f, PERP, "q", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "1", false);
    for (int i = 1; i <= 3; i++) {
        f.in[PERP].mid = D("100");
        f.in[PERP].n_flows = 1;
        f.in[PERP].flows[0].side = KS_SIDE_SELL;
        f.in[PERP].flows[0].qty = D("0.4");
        f.in[SPOT].n_flows = 0;
        f.ts = T0 + i * SEC;
        ks_sim_core_step(f.c, f.ts, f.in);
    }
    /* 1.2 sold at 100: 1.0 was ahead, 0.2 reached the order. */
    assert_dec_equal(last_order(&f.rec, "q")->filled, D("0.2"));
    /* With its queue traded through, every later flow reaches it first. */
    f.in[PERP].mid = D("100");
    f.ts += SEC;
    ks_sim_core_step(f.c, f.ts, f.in);
    assert_dec_equal(last_order(&f.rec, "q")->filled, D("0.6"));
    fx_free(&f);
}

static void own_order_inside_the_spread_fills_first(void **state)
{
    fx_t f;
    fx_init_full(&f, "100", 7, 0, 2); /* 2-tick spread: bid 99.9, ask 100.1 */
    place(&f, PERP, "in", KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC, "100.1", "0.5", false);
    f.in[PERP].mid = D("99.9"); /* asks from 100.0: our 100.1 is behind the touch */
    f.in[PERP].n_flows = 1;
    f.in[PERP].flows[0].side = KS_SIDE_BUY;
    f.in[PERP].flows[0].qty = D("0.3");
    f.ts += SEC;
    ks_sim_core_step(f.c, f.ts, f.in);
    assert_dec_equal(last_order(&f.rec, "in")->filled, D("0"));
    f.in[PERP].mid = D("100.1"); /* bid 100.0, ask 100.2: our 100.1 is the best offer */
    f.ts += SEC;
    ks_sim_core_step(f.c, f.ts, f.in);
    assert_dec_equal(last_order(&f.rec, "in")->filled, D("0.3"));
    /* It printed at its own price, and the book touch was not traded. */
    assert_dec_equal(rec_last(&f.rec, KS_EV_TRADE)->trade.px, D("100.1"));
    fx_free(&f);
}

/* ---- wallets and margin --------------------------------------------------------------- */

static void spot_buy_needs_quote_and_sell_needs_base(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, SPOT, "s1", KS_SIDE_SELL, KS_ORD_MARKET, 0, NULL, "1", false);
    const ks_order_update_t *o = last_order(&f.rec, "s1");
    assert_int_equal(o->reject, KS_REJ_INSUFFICIENT_FUNDS);
    assert_non_null(strstr(o->reason, "no spot shorting"));
    place(&f, SPOT, "s2", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "1000", false);
    assert_int_equal(last_order(&f.rec, "s2")->reject, KS_REJ_INSUFFICIENT_FUNDS);
    /* 999 * 100 * 1.00055 = 99954.945 fits; a second one does not. */
    place(&f, SPOT, "s3", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "999", false);
    assert_int_equal(last_order(&f.rec, "s3")->status, KS_OS_ACKED);
    place(&f, SPOT, "s4", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "90", "1", false);
    assert_int_equal(last_order(&f.rec, "s4")->reject, KS_REJ_INSUFFICIENT_FUNDS);
    assert_int_equal(ks_sim_core_cancel(f.c, f.ts, SPOT, "s3"), KS_OK);
    assert_int_equal(last_order(&f.rec, "s3")->status, KS_OS_CANCELED);
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "USDT").available, D("100000"));
    /* Selling what was bought works; selling more than held does not. */
    market(&f, SPOT, "b", KS_SIDE_BUY, "1");
    place(&f, SPOT, "s5", KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC, "200", "1.001", false);
    assert_int_equal(last_order(&f.rec, "s5")->reject, KS_REJ_INSUFFICIENT_FUNDS);
    place(&f, SPOT, "s6", KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC, "200", "1", false);
    assert_int_equal(last_order(&f.rec, "s6")->status, KS_OS_ACKED);
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "BTC").available, D("0"));
    fx_free(&f);
}

static void perp_orders_need_initial_margin(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    /* 10100 * 100 / 10 = 101000 > 100000 */
    place(&f, PERP, "p1", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "100", "10100", false);
    const ks_order_update_t *o = last_order(&f.rec, "p1");
    assert_int_equal(o->reject, KS_REJ_INSUFFICIENT_FUNDS);
    assert_non_null(strstr(o->reason, "margin"));
    /* A small wallet cannot take a market position: 100.1/10 + fee > 10. */
    char detail[KS_REASON_LEN];
    ks_transfer_cmd_t t = {sizeof(t), 1, "USDT", D("99990"), KS_WALLET_FUTURES, KS_WALLET_SPOT};
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_OK);
    market(&f, PERP, "p2", KS_SIDE_BUY, "1");
    assert_int_equal(last_order(&f.rec, "p2")->reject, KS_REJ_INSUFFICIENT_FUNDS);
    market(&f, PERP, "p3", KS_SIDE_BUY, "0.9");
    assert_int_equal(last_order(&f.rec, "p3")->status, KS_OS_FILLED);
    ks_position_t p = position(&f);
    assert_dec_equal(p.margin, D("9.009")); /* 0.9 * 100.1 / 10 */
    assert_int_equal(p.leverage, 10);
    fx_free(&f);
}

static void realized_pnl_on_close_and_flip(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "1"); /* 1 @ 100.1 */
    fx_step(&f, T0 + SEC, "110", "110");
    market(&f, PERP, "c", KS_SIDE_SELL, "1"); /* 1 @ 110.0: +9.9 */
    assert_dec_equal(position(&f).qty, D("0"));
    /* 100000 - 0.055055 - 0.0605 + 9.9 */
    assert_dec_equal(balance(&f, KS_WALLET_FUTURES, "USDT").total, D("100009.784445"));

    market(&f, PERP, "o2", KS_SIDE_BUY, "1"); /* 1 @ 110.1 */
    fx_step(&f, T0 + 2 * SEC, "120", "120");
    /* Sell 3: 1 @ 120.0 closes (+9.9), 1.25 @ 119.9 and 0.75 @ 119.8 open a short. */
    market(&f, PERP, "flip", KS_SIDE_SELL, "3");
    ks_position_t p = position(&f);
    assert_dec_equal(p.qty, D("-2"));
    assert_dec_equal(p.entry_px, D("119.8625")); /* (149.875 + 89.85) / 2 */
    /* wallet after the first round trip + 9.9 realized, minus the fees of o2 and flip */
    ks_dec_t fees = D("0.060555"); /* 110.1 * 0.00055 */
    ks_dec_add(fees, last_order(&f.rec, "flip")->fee, &fees);
    ks_dec_t expect;
    ks_dec_sub(D("100019.684445"), fees, &expect);
    assert_dec_equal(balance(&f, KS_WALLET_FUTURES, "USDT").total, expect);
    /* Cover the short (cost 239.725) at 1 @ 100.1 + 1 @ 100.2: realized 39.425. */
    fx_step(&f, T0 + 3 * SEC, "100", "100");
    market(&f, PERP, "cover", KS_SIDE_BUY, "2");
    assert_dec_equal(position(&f).qty, D("0"));
    ks_dec_t want;
    ks_dec_add(expect, D("39.425"), &want);
    ks_dec_sub(want, last_order(&f.rec, "cover")->fee, &want);
    assert_dec_equal(balance(&f, KS_WALLET_FUTURES, "USDT").total, want);
    fx_free(&f);
}

static void partial_close_keeps_the_average_entry(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "2"); /* 1 @ 100.1 + 1 @ 100.2: entry 100.15 */
    assert_dec_equal(position(&f).entry_px, D("100.15"));
    fx_step(&f, T0 + SEC, "101", "101");
    market(&f, PERP, "c", KS_SIDE_SELL, "0.5"); /* 0.5 @ 101.0: +0.425 */
    ks_position_t p = position(&f);
    assert_dec_equal(p.qty, D("1.5"));
    assert_dec_equal(p.entry_px, D("100.15"));
    assert_dec_equal(p.margin, D("15.0225")); /* 20.03 * 1.5 / 2 */
    assert_dec_equal(p.upnl, D("1.275"));     /* 1.5 * (101 - 100.15) */
    fx_free(&f);
}

/* ---- funding -------------------------------------------------------------------------- */

static const ks_funding_t *settle_once(fx_t *f, const char *rate)
{
    /* T0 is 01:00; the first boundary is 08:00. */
    f->in[PERP].funding_rate = D(rate);
    fx_step(f, T0 + 7 * 3600 * SEC, NULL, "100");
    return &rec_last(&f->rec, KS_EV_FUNDING)->funding;
}

static void funding_long_pays_at_positive_rate(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "2");
    const ks_funding_t *x = settle_once(&f, "0.0001");
    assert_dec_equal(x->amount, D("-0.02")); /* -2 * 100 * 0.0001 */
    assert_dec_equal(x->position_qty, D("2"));
    assert_dec_equal(x->mark_px, D("100"));
    assert_dec_equal(x->rate, D("0.0001"));
    assert_string_equal(x->asset, "USDT");
    assert_int_equal(x->hdr.inst, 101);
    fx_free(&f);
}

static void funding_short_receives_at_positive_rate(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_SELL, "2");
    ks_dec_t before = balance(&f, KS_WALLET_FUTURES, "USDT").total;
    const ks_funding_t *x = settle_once(&f, "0.0001");
    assert_dec_equal(x->amount, D("0.02"));
    ks_dec_t after;
    ks_dec_add(before, D("0.02"), &after);
    assert_dec_equal(balance(&f, KS_WALLET_FUTURES, "USDT").total, after);
    fx_free(&f);
}

static void funding_long_receives_at_negative_rate(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "1.5");
    assert_dec_equal(settle_once(&f, "-0.00037")->amount, D("0.0555")); /* 1.5*100*0.00037 */
    fx_free(&f);
}

static void funding_short_pays_at_negative_rate(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_SELL, "1.5");
    assert_dec_equal(settle_once(&f, "-0.00037")->amount, D("-0.0555"));
    fx_free(&f);
}

static void funding_rounds_against_the_holder(void **state)
{
    fx_t f;
    /* 0.05 * 100 * 0.000000123 = 0.000000615: 8 digits, rounded toward -inf. */
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "0.05");
    assert_dec_equal(settle_once(&f, "0.000000123")->amount, D("-0.00000062"));
    fx_free(&f);
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_SELL, "0.05");
    assert_dec_equal(settle_once(&f, "0.000000123")->amount, D("0.00000061"));
    fx_free(&f);
}

static void funding_settles_only_at_aligned_boundaries(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "1");
    assert_int_equal(ks_sim_core_next_funding(f.c, PERP), T0 + 7 * 3600 * SEC);
    assert_int_equal(ks_sim_core_next_funding(f.c, SPOT), 0);
    fx_step(&f, T0 + 7 * 3600 * SEC - SEC, NULL, "100"); /* 07:59:59 */
    assert_int_equal(rec_count(&f.rec, KS_EV_FUNDING), 0);
    fx_step(&f, T0 + 7 * 3600 * SEC, NULL, "100"); /* 08:00:00 */
    assert_int_equal(rec_count(&f.rec, KS_EV_FUNDING), 1);
    assert_int_equal(rec_last(&f.rec, KS_EV_FUNDING)->hdr.venue_ts, T0 + 7 * 3600 * SEC);
    fx_step(&f, T0 + 7 * 3600 * SEC + SEC, NULL, "100"); /* 08:00:01 */
    assert_int_equal(rec_count(&f.rec, KS_EV_FUNDING), 1);
    /* One step from 08:00:01 to 00:30 the next day crosses 16:00 and 00:00. */
    fx_step(&f, T0 + 23 * 3600 * SEC + 1800 * SEC, NULL, "100");
    assert_int_equal(rec_count(&f.rec, KS_EV_FUNDING), 3);
    assert_int_equal(rec_nth(&f.rec, KS_EV_FUNDING, 1)->hdr.venue_ts, T0 + 15 * 3600 * SEC);
    assert_int_equal(rec_nth(&f.rec, KS_EV_FUNDING, 2)->hdr.venue_ts, T0 + 23 * 3600 * SEC);
    assert_int_equal(ks_sim_core_next_funding(f.c, PERP), T0 + 31 * 3600 * SEC);
    fx_free(&f);
}

/* ---- liquidation ---------------------------------------------------------------------- */

static void liquidation_price_follows_the_isolated_formula(void **state)
{
    /* long: (E - M/q) / (1 - mmr) = (100 - 10) / 0.995 = 90.4522... -> up to 90.46 */
    assert_dec_equal(ks_sim_core_liq_price(D("1"), D("100"), D("10"), D("0.005"), D("0.01")),
                     D("90.46"));
    /* short: (E + M/q) / (1 + mmr) = 110 / 1.005 = 109.4527... -> down to 109.45 */
    assert_dec_equal(ks_sim_core_liq_price(D("-1"), D("-100"), D("10"), D("0.005"), D("0.01")),
                     D("109.45"));
    /* 1x long: margin covers the whole notional, no liquidation price. */
    assert_dec_equal(ks_sim_core_liq_price(D("2"), D("200"), D("200"), D("0.005"), D("0.01")),
                     D("0"));
    assert_dec_equal(ks_sim_core_liq_price(D("0"), D("0"), D("0"), D("0.005"), D("0.01")), D("0"));
}

static void forced_liquidation_closes_at_the_liq_price(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "1"); /* 1 @ 100.1, margin 10.01 */
    ks_position_t p = position(&f);
    /* (100.1 - 10.01) / 0.995 = 90.5427... -> 90.6 (tick 0.1, rounded up for a long) */
    assert_dec_equal(p.liq_px, D("90.6"));
    assert_dec_equal(rec_last(&f.rec, KS_EV_POSITION)->pos.liq_px, D("90.6"));
    rec_clear(&f.rec);
    fx_step(&f, T0 + SEC, "90.7", "90.7");
    assert_int_equal(rec_count(&f.rec, KS_EV_LIQUIDATION), 0);
    fx_step(&f, T0 + 2 * SEC, "88", "88"); /* mark gaps through 90.6 */
    const ks_liquidation_t *l = &rec_last(&f.rec, KS_EV_LIQUIDATION)->liq;
    assert_int_equal(l->side, KS_SIDE_SELL);
    assert_dec_equal(l->px, D("90.6"));
    assert_dec_equal(l->qty, D("1"));
    const ks_fill_t *fl = &rec_last(&f.rec, KS_EV_FILL)->fill;
    assert_dec_equal(fl->px, D("90.6"));
    assert_dec_equal(fl->fee, D("0.51")); /* the rest of the margin: 10.01 - 9.5 */
    assert_dec_equal(rec_last(&f.rec, KS_EV_POSITION)->pos.qty, D("0"));
    /* The wallet loses exactly the position margin (plus the opening fee). */
    const ks_balance_t *b = &rec_last(&f.rec, KS_EV_BALANCE)->bal;
    assert_int_equal(b->wallet, KS_WALLET_FUTURES);
    assert_dec_equal(b->total, D("99989.934945"));
    /* Order: fill, public print, liquidation, position, balance. */
    size_t i = 0;
    while (f.rec.ev[i].hdr.type != KS_EV_FILL)
        i++;
    assert_int_equal(f.rec.ev[i + 1].hdr.type, KS_EV_TRADE);
    assert_int_equal(f.rec.ev[i + 2].hdr.type, KS_EV_LIQUIDATION);
    assert_int_equal(f.rec.ev[i + 3].hdr.type, KS_EV_POSITION);
    assert_int_equal(f.rec.ev[i + 4].hdr.type, KS_EV_BALANCE);
    fx_free(&f);
}

static void short_is_liquidated_when_mark_rises_through_liq(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_SELL, "1");          /* 1 @ 100.0, margin 10 */
    assert_dec_equal(position(&f).liq_px, D("109.4")); /* 110 / 1.005 = 109.45.. -> 109.4 */
    fx_step(&f, T0 + SEC, "109.3", "109.3");
    assert_int_equal(rec_count(&f.rec, KS_EV_LIQUIDATION), 0);
    fx_step(&f, T0 + 2 * SEC, "109.4", "109.4");
    assert_int_equal(rec_last(&f.rec, KS_EV_LIQUIDATION)->liq.side, KS_SIDE_BUY);
    assert_dec_equal(position(&f).qty, D("0"));
    fx_free(&f);
}

static void leverage_changes_margin_and_liq_price(void **state)
{
    fx_t f;
    char detail[KS_REASON_LEN];
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "1");
    assert_int_equal(ks_sim_core_set_leverage(f.c, f.ts, PERP, 20, detail, sizeof(detail)), KS_OK);
    ks_position_t p = position(&f);
    assert_int_equal(p.leverage, 20);
    assert_dec_equal(p.margin, D("5.005"));
    assert_dec_equal(p.liq_px, D("95.6")); /* (100.1 - 5.005) / 0.995 = 95.57.. */
    assert_int_equal(ks_sim_core_set_leverage(f.c, f.ts, PERP, 101, detail, sizeof(detail)),
                     KS_EINVAL);
    assert_int_equal(ks_sim_core_set_leverage(f.c, f.ts, SPOT, 2, detail, sizeof(detail)),
                     KS_EINVAL);
    fx_free(&f);
}

/* ---- transfers ------------------------------------------------------------------------ */

static void transfer_moves_quote_between_wallets(void **state)
{
    fx_t f;
    char detail[KS_REASON_LEN];
    fx_init(&f, "100");
    ks_transfer_cmd_t t = {sizeof(t), 9, "USDT", D("2500.5"), KS_WALLET_SPOT, KS_WALLET_FUTURES};
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_OK);
    assert_dec_equal(balance(&f, KS_WALLET_SPOT, "USDT").total, D("97499.5"));
    assert_dec_equal(balance(&f, KS_WALLET_FUTURES, "USDT").total, D("102500.5"));
    assert_int_equal(rec_count(&f.rec, KS_EV_BALANCE), 2);

    t.amount = D("97499.51");
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_EREJECT);
    assert_non_null(strstr(detail, "insufficient"));
    ks_strlcpy(t.asset, "BTC", sizeof(t.asset));
    t.amount = D("1");
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_EINVAL);
    ks_strlcpy(t.asset, "USDT", sizeof(t.asset));
    t.to = KS_WALLET_SPOT;
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_EINVAL);

    /* Margin in use cannot leave the futures wallet. */
    market(&f, PERP, "o", KS_SIDE_BUY, "1"); /* margin 10.01 + fee 0.055055 */
    t.from = KS_WALLET_FUTURES;
    t.to = KS_WALLET_SPOT;
    t.amount = D("102490.5");
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_EREJECT);
    t.amount = D("102490.434945");
    assert_int_equal(ks_sim_core_transfer(f.c, f.ts, &t, detail, sizeof(detail)), KS_OK);
    assert_dec_equal(balance(&f, KS_WALLET_FUTURES, "USDT").available, D("0"));
    fx_free(&f);
}

/* ---- cancel, amend, fetch -------------------------------------------------------------- */

static void cancel_unknown_and_finished_orders(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    ks_sim_core_cancel(f.c, f.ts, SPOT, "ghost");
    assert_int_equal(last_order(&f.rec, "ghost")->reject, KS_REJ_UNKNOWN_ORDER);
    market(&f, SPOT, "done", KS_SIDE_BUY, "1");
    rec_clear(&f.rec);
    ks_sim_core_cancel(f.c, f.ts, SPOT, "done");
    assert_int_equal(last_order(&f.rec, "done")->status, KS_OS_FILLED);
    place(&f, SPOT, "a", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "90", "1", false);
    place(&f, PERP, "b", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "90", "1", false);
    assert_int_equal(ks_sim_core_cancel_all(f.c, f.ts, PERP), 1);
    assert_int_equal(last_order(&f.rec, "b")->status, KS_OS_CANCELED);
    assert_int_equal(ks_sim_core_cancel_all(f.c, f.ts, -1), 1);
    assert_int_equal(last_order(&f.rec, "a")->status, KS_OS_CANCELED);
    assert_int_equal(ks_sim_core_open_order_count(f.c), 0);
    fx_free(&f);
}

static void amend_reprices_and_may_take(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    place(&f, PERP, "am", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "99", "2", false);
    ks_amend_cmd_t a;
    memset(&a, 0, sizeof(a));
    a.struct_size = sizeof(a);
    a.inst = PERP;
    ks_strlcpy(a.cloid, "am", sizeof(a.cloid));
    a.qty = D("3");
    assert_int_equal(ks_sim_core_amend(f.c, f.ts, &a), KS_OK);
    assert_dec_equal(last_order(&f.rec, "am")->qty, D("3"));
    a.qty = KS_DEC_ZERO;
    a.price = D("99.05");
    ks_sim_core_amend(f.c, f.ts, &a);
    assert_int_equal(last_order(&f.rec, "am")->reject, KS_REJ_INVALID);
    assert_dec_equal(last_order(&f.rec, "am")->price, D("99"));
    a.price = D("100.1"); /* crosses 1.0 at 100.1 */
    ks_sim_core_amend(f.c, f.ts, &a);
    const ks_order_update_t *o = last_order(&f.rec, "am");
    assert_int_equal(o->status, KS_OS_PARTIAL);
    assert_dec_equal(o->filled, D("1"));
    assert_dec_equal(o->price, D("100.1"));
    assert_false(rec_last(&f.rec, KS_EV_FILL)->fill.maker);
    fx_free(&f);
}

static void snapshots_are_flagged(void **state)
{
    fx_t f;
    fx_init(&f, "100");
    market(&f, PERP, "o", KS_SIDE_BUY, "1");
    place(&f, PERP, "r", KS_SIDE_BUY, KS_ORD_LIMIT, KS_TIF_GTC, "90", "1", false);
    rec_clear(&f.rec);
    assert_int_equal(ks_sim_core_emit_open_orders(f.c, f.ts, -1, KS_EVF_SNAPSHOT), 1);
    assert_int_equal(ks_sim_core_emit_positions(f.c, f.ts, -1, KS_EVF_SNAPSHOT), 1);
    assert_int_equal(ks_sim_core_emit_balances(f.c, f.ts, KS_EVF_SNAPSHOT), 3); /* BTC, USDT, fut */
    for (size_t i = 0; i < f.rec.n; i++)
        assert_int_equal(f.rec.ev[i].hdr.flags, KS_EVF_SNAPSHOT);
    /* A flat instrument asked for by index still answers. */
    assert_int_equal(ks_sim_core_emit_positions(f.c, f.ts, PERP, 0), 1);
    fx_free(&f);
}

/* ---- determinism ---------------------------------------------------------------------- */

static uint64_t scripted_run(uint64_t seed)
{
    fx_t f;
    uint64_t rng = 12345, h;
    fx_init_seed(&f, "100", seed, 40);
    for (int i = 1; i <= 300; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t drift = (int64_t)((rng >> 33) % 21) - 10;
        char mid[32];
        snprintf(mid, sizeof(mid), "%lld.%lld", (long long)(100 + drift / 10),
                 (long long)((drift % 10 + 10) % 10));
        for (int k = 0; k < 2; k++) {
            f.in[k].mid = D(mid);
            f.in[k].n_flows = 2;
            f.in[k].flows[0].side = KS_SIDE_BUY;
            f.in[k].flows[0].qty = D("0.3");
            f.in[k].flows[1].side = KS_SIDE_SELL;
            f.in[k].flows[1].qty = D("0.2");
        }
        f.in[PERP].mark = D(mid);
        f.ts = T0 + i * 600 * SEC;
        ks_sim_core_step(f.c, f.ts, f.in);
        char cloid[16];
        snprintf(cloid, sizeof(cloid), "c%d", i);
        if (i % 3 == 0)
            place(&f, PERP, cloid, i % 2 ? KS_SIDE_BUY : KS_SIDE_SELL, KS_ORD_LIMIT, KS_TIF_GTC,
                  mid, "0.5", false);
        else if (i % 7 == 0)
            market(&f, i % 2 ? PERP : SPOT, cloid, KS_SIDE_BUY, "0.2");
    }
    h = f.rec.hash;
    fx_free(&f);
    return h;
}

static void same_seed_same_events_other_seed_differs(void **state)
{
    uint64_t a = scripted_run(1), b = scripted_run(1), c = scripted_run(2);
    assert_true(a == b);
    assert_true(a != c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(book_is_built_from_mid_with_growing_depth),
        cmocka_unit_test(market_buy_walks_levels_at_exact_vwap_and_consumes_them),
        cmocka_unit_test(market_sell_exhausting_the_book_cancels_the_rest),
        cmocka_unit_test(taker_and_maker_fees_are_exact),
        cmocka_unit_test(ioc_fills_what_crosses_and_cancels_the_rest),
        cmocka_unit_test(fok_fills_entirely_or_not_at_all),
        cmocka_unit_test(post_only_rests_or_is_rejected_when_it_would_take),
        cmocka_unit_test(reduce_only_never_increases_a_position),
        cmocka_unit_test(resting_reduce_only_is_canceled_once_the_position_is_gone),
        cmocka_unit_test(invalid_orders_are_rejected_with_a_reason),
        cmocka_unit_test(a_duplicate_cloid_is_rejected_and_the_original_kept),
        cmocka_unit_test(resting_bid_fills_as_maker_when_the_book_crosses_it),
        cmocka_unit_test(crossing_fill_is_bounded_by_the_crossing_liquidity),
        cmocka_unit_test(queue_ahead_trades_before_a_resting_order_fills),
        cmocka_unit_test(own_order_inside_the_spread_fills_first),
        cmocka_unit_test(spot_buy_needs_quote_and_sell_needs_base),
        cmocka_unit_test(perp_orders_need_initial_margin),
        cmocka_unit_test(realized_pnl_on_close_and_flip),
        cmocka_unit_test(partial_close_keeps_the_average_entry),
        cmocka_unit_test(funding_long_pays_at_positive_rate),
        cmocka_unit_test(funding_short_receives_at_positive_rate),
        cmocka_unit_test(funding_long_receives_at_negative_rate),
        cmocka_unit_test(funding_short_pays_at_negative_rate),
        cmocka_unit_test(funding_rounds_against_the_holder),
        cmocka_unit_test(funding_settles_only_at_aligned_boundaries),
        cmocka_unit_test(liquidation_price_follows_the_isolated_formula),
        cmocka_unit_test(forced_liquidation_closes_at_the_liq_price),
        cmocka_unit_test(short_is_liquidated_when_mark_rises_through_liq),
        cmocka_unit_test(leverage_changes_margin_and_liq_price),
        cmocka_unit_test(transfer_moves_quote_between_wallets),
        cmocka_unit_test(cancel_unknown_and_finished_orders),
        cmocka_unit_test(amend_reprices_and_may_take),
        cmocka_unit_test(snapshots_are_flagged),
        cmocka_unit_test(same_seed_same_events_other_seed_differs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
