/* risk_margin through its descriptor: the liquidation-price buffer (estimated and from the
 * venue's position report) at its boundary, the margin level guard's notices and reductions
 * once per crossing, reduce-only intents passing, and config errors that name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fake.h"

#define BUY  KS_SIDE_BUY
#define SELL KS_SIDE_SELL
#define SYM  "BTC/USDT:USDT"

typedef struct world {
    fake_t *f;
    int32_t btc, spot;
} world_t;

/* BTC perp (max leverage 10) and BTC spot, both marked at 50000. */
static int setup(void **state)
{
    static world_t w;
    w.f = fake_new("risk_margin");
    w.btc = fake_inst(w.f, SYM, KS_KIND_PERP, "0.001", 10);
    w.spot = fake_inst(w.f, "BTC/USDT", KS_KIND_SPOT, "0.0001", 1);
    fake_market(w.f, w.btc, "49995", "50005", "50000");
    fake_market(w.f, w.spot, "49995", "50005", "50000");
    fake_strategy(w.f, "carry", "100000");
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world_t *w = *state;
    fake_free(w->f);
    return 0;
}

static void open_ok(fake_t *f, const char *config)
{
    char err[256];
    if (fake_open(f, config, err, sizeof(err)) != KS_OK)
        fail_msg("open(%s): %s", config ? config : "NULL", err);
}

static ks_risk_decision_t order(world_t *w, int32_t inst, int side, const char *qty)
{
    return fake_check(w->f, "carry", inst, side, qty, "50000", NULL, false);
}

static void assert_allowed(ks_risk_decision_t d)
{
    if (d.verdict != KS_RISK_ALLOW)
        fail_msg("expected ALLOW, got verdict %u: %s", d.verdict, d.reason);
}

static void assert_rejected(ks_risk_decision_t d, const char *reason)
{
    if (d.verdict != KS_RISK_REJECT)
        fail_msg("expected REJECT (%s), got verdict %u", reason, d.verdict);
    assert_string_equal(d.reason, reason);
}

static void assert_action(const fake_t *f, int i, uint32_t kind, const char *fraction,
                          const char *reason)
{
    const fake_action_t *a = fake_action(f, i);
    assert_int_equal(a->kind, kind);
    assert_true(a->all_strategies);
    assert_int_equal(a->inst, -1);
    assert_string_equal(F(a->fraction), fraction);
    assert_string_equal(a->reason, reason);
}

/* ---- liquidation buffer ------------------------------------------------------------------ */

static void entry_at_max_leverage_liquidating_within_the_buffer_is_rejected(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    /* 50000 * (1 - 1/10 + 0.005) = 45250: 9.5% from the mark. */
    assert_rejected(order(w, w->btc, BUY, "0.1"),
                    "liquidation buffer: long 0.1 " SYM " would liquidate near 45250 (est. 10x), "
                    "9.5% from mark 50000 < 20%");
}

static void entry_at_low_leverage_passes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 3}");
    assert_allowed(order(w, w->btc, BUY, "0.1")); /* liq ~33583: 32.8% away */
}

static void liquidation_exactly_at_the_buffer_passes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 4, \"maint_margin_rate\": \"0.05\"}");
    /* long: 50000 * (1 - 0.25 + 0.05) = 40000; short: 50000 * (1 + 0.25 - 0.05) = 60000. */
    assert_allowed(order(w, w->btc, BUY, "0.1"));
    assert_allowed(order(w, w->btc, SELL, "0.1"));
}

static void liquidation_just_inside_the_buffer_is_rejected_on_either_side(void **state)
{
    world_t *w = *state;
    open_ok(w->f,
            "{\"leverage\": 4, \"maint_margin_rate\": \"0.05\", \"liq_buffer_pct\": \"20.01\"}");
    assert_rejected(order(w, w->btc, BUY, "0.1"),
                    "liquidation buffer: long 0.1 " SYM " would liquidate near 40000 (est. 4x), "
                    "20% from mark 50000 < 20.01%");
    assert_rejected(order(w, w->btc, SELL, "0.1"),
                    "liquidation buffer: short 0.1 " SYM " would liquidate near 60000 (est. 4x), "
                    "20% from mark 50000 < 20.01%");
}

static void reduce_only_and_shrinking_orders_pass_the_buffer(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "carry", w->btc, "0.5");
    fake_ev_position(w->f, w->btc, "0.5", "50000", "49000", 10);
    assert_allowed(fake_check(w->f, "carry", w->btc, SELL, "0.5", "50000", NULL, true));
    assert_allowed(order(w, w->btc, SELL, "0.2"));
}

static void venue_liquidation_price_within_the_buffer_blocks_adding(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 2}"); /* the estimate alone would pass */
    fake_position(w->f, "carry", w->btc, "0.5");
    fake_ev_position(w->f, w->btc, "0.5", "50000", "46000", 2);
    assert_rejected(order(w, w->btc, BUY, "0.1"),
                    "liquidation buffer: long " SYM " liquidates at 46000 (venue), 8% from mark "
                    "50000 < 20%");
}

static void venue_leverage_is_used_when_none_is_configured(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "carry", w->btc, "0.5");
    fake_ev_position(w->f, w->btc, "0.5", "50000", NULL, 3);
    assert_allowed(order(w, w->btc, BUY, "0.1"));
}

static void adding_to_a_winning_position_uses_the_average_entry(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 5}");
    /* Alone at 50000 and 5x: liq 40250, 19.5% away. */
    assert_rejected(order(w, w->btc, BUY, "1"),
                    "liquidation buffer: long 1 " SYM " would liquidate near 40250 (est. 5x), "
                    "19.5% from mark 50000 < 20%");
    /* On top of 1 bought at 40000 the entry averages 45000: liq 36225, 27.55% away. */
    fake_position(w->f, "carry", w->btc, "1");
    fake_ev_position(w->f, w->btc, "1", "40000", NULL, 5);
    assert_allowed(order(w, w->btc, BUY, "1"));
}

static void flipping_the_position_is_estimated_from_the_order_price(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "carry", w->btc, "0.5");
    assert_rejected(order(w, w->btc, SELL, "1"),
                    "liquidation buffer: short 0.5 " SYM " would liquidate near 54750 (est. 10x), "
                    "9.5% from mark 50000 < 20%");
}

static void spot_cannot_be_liquidated(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    assert_allowed(order(w, w->spot, BUY, "1"));
}

/* ---- margin level ------------------------------------------------------------------------ */

static void margin_level_exactly_at_the_minimum_is_fine(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 2}");
    fake_ev_balance(w->f, "USDT", "1500", "1000");
    assert_int_equal(w->f->host.n_actions, 0);
    assert_allowed(order(w, w->btc, BUY, "0.1"));
}

static void low_margin_level_notifies_once_and_rejects_entries(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 2}");
    fake_ev_balance(w->f, "USDT", "1499.99", "1000");
    fake_ev_balance(w->f, "USDT", "1400", "1000");
    assert_int_equal(w->f->host.n_actions, 1);
    assert_action(w->f, 0, KS_ACT_NOTIFY, "0",
                  "margin level 1.49 below 1.5 on unified USDT (equity 1499.99 / maint margin "
                  "1000)");
    assert_true(fake_logged(w->f, "margin level 1.49 below 1.5 on unified USDT"));
    assert_rejected(order(w, w->spot, BUY, "0.1"),
                    "margin level 1.4 is below margin_level_min 1.5 (USDT equity 1400 / maint "
                    "margin 1000)");
    assert_allowed(fake_check(w->f, "carry", w->btc, SELL, "0.1", "50000", NULL, true));
}

static void recovered_margin_level_notifies_and_allows_entries(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 2}");
    fake_ev_balance(w->f, "USDT", "1400", "1000");
    fake_ev_balance(w->f, "USDT", "1600", "1000");
    assert_int_equal(w->f->host.n_actions, 2);
    assert_action(w->f, 1, KS_ACT_NOTIFY, "0",
                  "margin level recovered on unified USDT: 1.6 (min 1.5)");
    assert_allowed(order(w, w->btc, BUY, "0.1"));
}

static void low_margin_reduces_when_configured_and_again_after_the_cooldown(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"reduce_on_low_margin\": true, \"reduce_fraction\": \"0.25\"}");
    fake_ev_balance(w->f, "USDT", "1200", "1000");
    assert_int_equal(w->f->host.n_actions, 2);
    assert_action(w->f, 0, KS_ACT_NOTIFY, "0",
                  "margin level 1.2 below 1.5 on unified USDT (equity 1200 / maint margin 1000)");
    assert_action(w->f, 1, KS_ACT_REDUCE, "0.25",
                  "margin level 1.2 below 1.5 on unified USDT (equity 1200 / maint margin 1000)");
    fake_advance_ms(w->f, 59999);
    fake_ev_balance(w->f, "USDT", "1250", "1000");
    assert_int_equal(w->f->host.n_actions, 2);
    fake_advance_ms(w->f, 1);
    fake_ev_balance(w->f, "USDT", "1250", "1000");
    assert_int_equal(w->f->host.n_actions, 3);
    assert_action(w->f, 2, KS_ACT_REDUCE, "0.25",
                  "margin level 1.25 still below 1.5 on unified USDT (equity 1250 / maint margin "
                  "1000)");
}

static void reduce_cooldown_zero_reduces_once_per_crossing(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"reduce_on_low_margin\": true, \"reduce_cooldown_ms\": 0}");
    fake_ev_balance(w->f, "USDT", "1200", "1000");
    fake_advance_ms(w->f, 3600 * 1000);
    fake_ev_balance(w->f, "USDT", "1200", "1000");
    assert_int_equal(w->f->host.n_actions, 2);
}

static void no_maintenance_margin_is_never_low(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_ev_balance(w->f, "USDT", "0", "0");
    assert_int_equal(w->f->host.n_actions, 0);
}

static void reject_on_low_margin_false_only_notifies(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"reject_on_low_margin\": false, \"leverage\": 2}");
    fake_ev_balance(w->f, "USDT", "1000", "1000");
    assert_int_equal(w->f->host.n_actions, 1);
    assert_allowed(order(w, w->btc, BUY, "0.1"));
}

static void assert_config_error(fake_t *f, const char *config, const char *want)
{
    char err[256];
    assert_int_equal(fake_open(f, config, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, want);
}

static void config_errors_name_the_key(void **state)
{
    world_t *w = *state;
    fake_t *f = w->f;
    assert_config_error(f, "{\"liq_buffer\": 20}", "liq_buffer: unknown key");
    assert_config_error(f, "{\"liq_buffer_pct\": 100}",
                        "liq_buffer_pct: must be in [0, 100), got 100");
    assert_config_error(f, "{\"maint_margin_rate\": \"x\"}",
                        "maint_margin_rate: expected a decimal number, got \"x\"");
    assert_config_error(f, "{\"leverage\": 0}", "leverage: must be between 1 and 1000, got 0");
    assert_config_error(f, "{\"margin_level_min\": \"0.5\"}",
                        "margin_level_min: must be in [1, 1000], got 0.5");
    assert_config_error(f, "{\"reduce_fraction\": 0}", "reduce_fraction: must be in (0, 1], got 0");
    assert_config_error(f, "{\"reduce_on_low_margin\": \"yes\"}",
                        "reduce_on_low_margin: expected true or false, got \"yes\"");
    assert_config_error(f, "{\"reduce_cooldown_ms\": 1.5}",
                        "reduce_cooldown_ms: expected an integer, got 1.5");
}

static void check_allow_path_is_fast(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"leverage\": 3}");
    fake_position(w->f, "carry", w->btc, "0.5");
    fake_ev_position(w->f, w->btc, "0.5", "49000", "33000", 3);
    fake_ev_balance(w->f, "USDT", "100000", "1000");
    ks_order_intent_t in;
    KS_INIT(&in);
    in.strategy = "carry";
    in.inst = w->btc;
    in.side = KS_SIDE_BUY;
    in.type = KS_ORD_LIMIT;
    in.price = D("50000");
    in.qty = D("0.01");
    in.ref_price = in.price;
    enum { N = 200000 };
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) {
        ks_risk_decision_t d;
        KS_INIT(&d);
        w->f->ops->check(w->f->self, &in, &w->f->pf.pub, &d);
        assert_int_equal(d.verdict, KS_RISK_ALLOW);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / N;
    printf("risk_margin check(): %.0f ns per allowed intent (adding to a position)\n", ns);
    assert_true(ns < 5000); /* sanitized debug build: a guard, not the release budget */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(entry_at_max_leverage_liquidating_within_the_buffer_is_rejected),
        T(entry_at_low_leverage_passes),
        T(liquidation_exactly_at_the_buffer_passes),
        T(liquidation_just_inside_the_buffer_is_rejected_on_either_side),
        T(reduce_only_and_shrinking_orders_pass_the_buffer),
        T(venue_liquidation_price_within_the_buffer_blocks_adding),
        T(venue_leverage_is_used_when_none_is_configured),
        T(adding_to_a_winning_position_uses_the_average_entry),
        T(flipping_the_position_is_estimated_from_the_order_price),
        T(spot_cannot_be_liquidated),
        T(margin_level_exactly_at_the_minimum_is_fine),
        T(low_margin_level_notifies_once_and_rejects_entries),
        T(recovered_margin_level_notifies_and_allows_entries),
        T(low_margin_reduces_when_configured_and_again_after_the_cooldown),
        T(reduce_cooldown_zero_reduces_once_per_crossing),
        T(no_maintenance_margin_is_never_low),
        T(reject_on_low_margin_false_only_notifies),
        T(config_errors_name_the_key),
        T(check_allow_path_is_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
