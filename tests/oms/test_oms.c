/* Order management: the state machine, idempotent venue updates, write-ahead records,
 * fills into positions (average cost, realized PnL, flips), fee conversion and funding
 * attribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "market.h"
#include "oms.h"
#include "store.h"

typedef struct fx {
    char dir[64];
    char db[128];
    ks_store_t *store;
    ks_market_t market;
    ks_oms_t oms;
    int32_t perp, spot;
    int strat;
} fx_t;

static ks_dec_t D(const char *s)
{
    ks_dec_t d;
    assert_int_equal(ks_dec_parse(s, (size_t)-1, &d), KS_OK);
    return d;
}

static void assert_dec(ks_dec_t got, const char *want)
{
    char buf[KS_DEC_STRLEN];
    ks_dec_format(got, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[256];
    strcpy(f->dir, "/tmp/ks_oms_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/k.db", f->dir);
    f->store = ks_store_open(f->db, err, sizeof(err));
    assert_non_null(f->store);
    ks_market_init(&f->market);
    ks_instrument_t in;
    KS_INIT(&in);
    in.kind = KS_KIND_PERP;
    in.symbol = "BTC/USDT:USDT";
    in.venue_symbol = "BTCUSDT";
    in.base = "BTC";
    in.quote = "USDT";
    in.settle = "USDT";
    in.tick_size = D("0.1");
    in.lot_size = D("0.001");
    in.min_qty = D("0.001");
    bool n, c;
    assert_int_equal(ks_market_upsert(&f->market, 0, &in, &f->perp, &n, &c), KS_OK);
    in.kind = KS_KIND_SPOT;
    in.symbol = "BTC/USDT";
    in.settle = NULL;
    assert_int_equal(ks_market_upsert(&f->market, 0, &in, &f->spot, &n, &c), KS_OK);
    ks_oms_init(&f->oms, f->store, &f->market, 1767225600000LL);
    f->strat = ks_oms_add_account(&f->oms, "carry", D("10000"));
    assert_int_equal(f->strat, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[200];
    ks_oms_free(&f->oms);
    ks_market_free(&f->market);
    ks_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static ks_order_t *new_order(fx_t *f, int strat, int32_t inst, int side, const char *qty)
{
    ks_order_intent_t in;
    ks_order_t *o = NULL;
    KS_INIT(&in);
    in.inst = inst;
    in.side = (int8_t)side;
    in.type = KS_ORD_MARKET;
    in.tif = KS_TIF_IOC;
    in.qty = D(qty);
    assert_int_equal(ks_oms_create(&f->oms, strat, 0, "sim", inst, &in, 1000, &o), KS_OK);
    ks_oms_sent(&f->oms, o, 1, 1000);
    return o;
}

static void fill(fx_t *f, ks_order_t *o, const char *tid, const char *px, const char *qty,
                 const char *fee, const char *fee_asset)
{
    ks_fill_t fl;
    bool dup;
    KS_EVENT_INIT(&fl, KS_EV_FILL);
    strcpy(fl.cloid, o->rec.cloid);
    strcpy(fl.trade_id, tid);
    fl.side = o->rec.side;
    fl.px = D(px);
    fl.qty = D(qty);
    fl.fee = D(fee);
    strcpy(fl.fee_asset, fee_asset);
    assert_non_null(ks_oms_on_fill(&f->oms, &fl, "sim", 2000, &dup));
    assert_false(dup);
}

static void update(fx_t *f, ks_order_t *o, int status, const char *filled, bool want_change)
{
    ks_order_update_t u;
    bool changed;
    KS_EVENT_INIT(&u, KS_EV_ORDER);
    strcpy(u.cloid, o->rec.cloid);
    u.status = (uint8_t)status;
    u.filled = D(filled);
    assert_ptr_equal(ks_oms_on_order(&f->oms, &u, 3000, &changed), o);
    assert_int_equal(changed, want_change);
}

static void state_machine_allows_only_forward_transitions(void **state)
{
    assert_true(ks_oms_transition_ok(KS_OS_NEW, KS_OS_SENT));
    assert_true(ks_oms_transition_ok(KS_OS_SENT, KS_OS_ACKED));
    assert_true(ks_oms_transition_ok(KS_OS_SENT, KS_OS_UNKNOWN));
    assert_true(ks_oms_transition_ok(KS_OS_ACKED, KS_OS_PARTIAL));
    assert_true(ks_oms_transition_ok(KS_OS_PARTIAL, KS_OS_PARTIAL));
    assert_true(ks_oms_transition_ok(KS_OS_PARTIAL, KS_OS_FILLED));
    assert_true(ks_oms_transition_ok(KS_OS_UNKNOWN, KS_OS_FILLED));
    assert_true(ks_oms_transition_ok(KS_OS_UNKNOWN, KS_OS_REJECTED));
    assert_false(ks_oms_transition_ok(KS_OS_ACKED, KS_OS_SENT));
    assert_false(ks_oms_transition_ok(KS_OS_ACKED, KS_OS_REJECTED));
    assert_false(ks_oms_transition_ok(KS_OS_PARTIAL, KS_OS_ACKED));
    assert_false(ks_oms_transition_ok(KS_OS_ACKED, KS_OS_ACKED));
    for (int fin = KS_OS_FILLED; fin <= KS_OS_EXPIRED; fin++)
        for (int to = 0; to < KS_OS_COUNT; to++)
            assert_false(ks_oms_transition_ok(fin, to));
}

static void create_writes_ahead_with_a_strategy_prefixed_unique_cloid(void **state)
{
    fx_t *f = *state;
    ks_order_t *a = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "0.01");
    ks_order_t *b = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "0.01");
    assert_string_not_equal(a->rec.cloid, b->rec.cloid);
    assert_int_equal(strncmp(a->rec.cloid, "carry-", 6), 0);
    assert_true(strlen(a->rec.cloid) <= 36);
    /* A second connection sees the NEW order already committed. */
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM orders WHERE cloid = ?", -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_text(s, 1, a->rec.cloid, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void duplicate_and_stale_updates_change_nothing(void **state)
{
    fx_t *f = *state;
    ks_order_t *o = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "1");
    update(f, o, KS_OS_ACKED, "0", true);
    update(f, o, KS_OS_ACKED, "0", false); /* duplicate ack */
    update(f, o, KS_OS_PARTIAL, "0.4", true);
    update(f, o, KS_OS_PARTIAL, "0.4", false); /* duplicate partial */
    update(f, o, KS_OS_PARTIAL, "0.2", false); /* older partial arriving late */
    update(f, o, KS_OS_ACKED, "0", false);     /* late ack */
    update(f, o, KS_OS_FILLED, "1", true);
    update(f, o, KS_OS_CANCELED, "1", false); /* after final */
    assert_int_equal(o->rec.status, KS_OS_FILLED);
    assert_dec(o->rec.filled, "1");
    assert_int_equal(f->oms.n_open, 0);
}

static void fill_before_ack_is_accepted(void **state)
{
    fx_t *f = *state;
    ks_order_t *o = new_order(f, f->strat, f->perp, KS_SIDE_SELL, "0.5");
    update(f, o, KS_OS_FILLED, "0.5", true); /* the fill overtook the ack */
    update(f, o, KS_OS_ACKED, "0", false);
    assert_int_equal(o->rec.status, KS_OS_FILLED);
}

static void fills_build_average_cost_and_realize_on_close(void **state)
{
    fx_t *f = *state;
    ks_order_t *b1 = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "1");
    fill(f, b1, "t1", "100", "1", "0.055", "USDT");
    ks_order_t *b2 = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "3");
    fill(f, b2, "t2", "110", "3", "0.1815", "USDT");
    const ks_pos_t *p = ks_oms_position(&f->oms, f->strat, f->perp);
    assert_dec(p->qty, "4");
    assert_dec(p->avg_entry, "107.5");
    ks_order_t *s1 = new_order(f, f->strat, f->perp, KS_SIDE_SELL, "2");
    fill(f, s1, "t3", "120", "2", "0.132", "USDT");
    assert_dec(p->qty, "2");
    assert_dec(p->realized, "25"); /* 2 * (120 - 107.5) */
    assert_dec(p->avg_entry, "107.5");
    assert_dec(p->fees, "0.3685");
    /* Flip: sell 5 against +2 -> -3 opened at 100. */
    ks_order_t *s2 = new_order(f, f->strat, f->perp, KS_SIDE_SELL, "5");
    fill(f, s2, "t4", "100", "5", "0", "USDT");
    assert_dec(p->qty, "-3");
    assert_dec(p->realized, "10"); /* 25 + 2 * (100 - 107.5) */
    assert_dec(p->avg_entry, "100");
    /* Short closed lower: profit. */
    ks_order_t *b3 = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "3");
    fill(f, b3, "t5", "90", "3", "0", "USDT");
    assert_dec(p->qty, "0");
    assert_dec(p->realized, "40");
    assert_dec(p->avg_entry, "0");
}

static void duplicate_fill_is_ignored(void **state)
{
    fx_t *f = *state;
    ks_order_t *o = new_order(f, f->strat, f->perp, KS_SIDE_BUY, "2");
    fill(f, o, "dup-1", "100", "1", "0", "USDT");
    ks_fill_t fl;
    bool dup;
    KS_EVENT_INIT(&fl, KS_EV_FILL);
    strcpy(fl.cloid, o->rec.cloid);
    strcpy(fl.trade_id, "dup-1");
    fl.side = KS_SIDE_BUY;
    fl.px = D("100");
    fl.qty = D("1");
    ks_oms_on_fill(&f->oms, &fl, "sim", 2000, &dup);
    assert_true(dup);
    assert_dec(ks_oms_position(&f->oms, f->strat, f->perp)->qty, "1");
    assert_int_equal(ks_store_count(f->store, "fills"), 1);
}

static void base_asset_fee_is_valued_in_quote(void **state)
{
    fx_t *f = *state;
    ks_order_t *o = new_order(f, f->strat, f->spot, KS_SIDE_BUY, "0.5");
    fill(f, o, "s1", "60000", "0.5", "0.0005", "BTC");
    const ks_pos_t *p = ks_oms_position(&f->oms, f->strat, f->spot);
    assert_dec(p->fees, "30");
    /* The wallet got 0.5 - 0.0005: that is the position, so selling it all is possible. */
    assert_dec(p->qty, "0.4995");
    assert_dec(o->fill_qty, "0.5"); /* the order's own progress stays the venue's figure */
    fill(f, new_order(f, f->strat, f->spot, KS_SIDE_SELL, "0.4995"), "s2", "61000", "0.4995",
         "30.4695", "USDT");
    assert_dec(p->qty, "0");
    /* Realized on what was held, fees apart: paid 30000, got 30469.5 - 30.4695 - the
     * 30 valued in quote. */
    assert_dec(p->realized, "499.5");
    assert_dec(p->fees, "60.4695");
}

static void funding_is_split_by_position_share(void **state)
{
    fx_t *f = *state;
    int other = ks_oms_add_account(&f->oms, "other", D("5000"));
    fill(f, new_order(f, f->strat, f->perp, KS_SIDE_SELL, "3"), "a", "100", "3", "0", "USDT");
    fill(f, new_order(f, other, f->perp, KS_SIDE_SELL, "1"), "b", "100", "1", "0", "USDT");
    ks_funding_t fu;
    KS_EVENT_INIT(&fu, KS_EV_FUNDING);
    fu.hdr.inst = f->perp;
    fu.rate = D("0.0001");
    fu.position_qty = D("-4");
    fu.mark_px = D("100");
    fu.amount = D("0.04"); /* shorts receive 4 * 100 * 0.0001 */
    ks_oms_on_funding(&f->oms, &fu, "sim", 5000);
    assert_dec(ks_oms_position(&f->oms, f->strat, f->perp)->funding, "0.03");
    assert_dec(ks_oms_position(&f->oms, other, f->perp)->funding, "0.01");
    assert_int_equal(ks_store_count(f->store, "funding_payments"), 2);
}

static void totals_sum_accounts(void **state)
{
    fx_t *f = *state;
    fill(f, new_order(f, f->strat, f->perp, KS_SIDE_BUY, "1"), "x1", "100", "1", "0.05", "USDT");
    fill(f, new_order(f, f->strat, f->perp, KS_SIDE_SELL, "1"), "x2", "101", "1", "0.05", "USDT");
    ks_acct_totals_t t;
    ks_oms_totals(&f->oms, f->strat, &t);
    assert_int_equal(t.orders, 2);
    assert_int_equal(t.fills, 2);
    assert_dec(t.realized, "1");
    assert_dec(t.fees, "0.1");
    assert_int_equal(t.open_positions, 0);
}

typedef struct seen {
    ks_order_t *o[512];
    int n;
    ks_oms_t *oms;
} seen_t;

static void collect(void *ud, ks_order_t *o)
{
    seen_t *s = ud;
    s->o[s->n++] = o;
    /* Finishing orders from inside the walk must not skip or repeat any. */
    ks_order_update_t u;
    bool changed;
    KS_EVENT_INIT(&u, KS_EV_ORDER);
    strcpy(u.cloid, o->rec.cloid);
    u.status = KS_OS_CANCELED;
    ks_oms_on_order(s->oms, &u, 4000, &changed);
}

static void open_orders_are_tracked_apart_from_finished_ones(void **state)
{
    fx_t *f = *state;
    static ks_order_t *all[300];
    for (int i = 0; i < 300; i++)
        all[i] = new_order(f, f->strat, f->perp, i % 2 ? KS_SIDE_SELL : KS_SIDE_BUY, "2");
    /* Every third order fills; the rest stay open. */
    for (int i = 0; i < 300; i += 3)
        update(f, all[i], KS_OS_FILLED, "2", true);
    assert_int_equal(f->oms.n_open, 200);
    /* The signed quantity still open: buys minus sells among the unfilled. */
    int buys = 0, sells = 0;
    for (int i = 0; i < 300; i++)
        if (i % 3)
            *(i % 2 ? &sells : &buys) += 1;
    char want[32];
    snprintf(want, sizeof(want), "%d", 2 * (buys - sells));
    assert_dec(ks_oms_open_qty(&f->oms, f->strat, f->perp), want);
    assert_dec(ks_oms_open_qty(&f->oms, f->strat, f->spot), "0");
    static seen_t s;
    s.n = 0;
    s.oms = &f->oms;
    ks_oms_foreach_open(&f->oms, f->strat, collect, &s);
    assert_int_equal(s.n, 200);
    for (int i = 0; i < s.n; i++) {
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(s.o[i], s.o[j]);
        assert_int_equal(s.o[i]->rec.status, KS_OS_CANCELED);
    }
    assert_int_equal(f->oms.n_open, 0);
    s.n = 0;
    ks_oms_foreach_open(&f->oms, -2, collect, &s);
    assert_int_equal(s.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_machine_allows_only_forward_transitions),
        cmocka_unit_test_setup_teardown(create_writes_ahead_with_a_strategy_prefixed_unique_cloid,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_and_stale_updates_change_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fill_before_ack_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(fills_build_average_cost_and_realize_on_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(duplicate_fill_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(base_asset_fee_is_valued_in_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(funding_is_split_by_position_share, setup, teardown),
        cmocka_unit_test_setup_teardown(totals_sum_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(open_orders_are_tracked_apart_from_finished_ones, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
