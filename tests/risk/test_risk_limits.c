/* risk_limits through its descriptor: each entry limit's decision at and beyond its
 * boundary, per-strategy overrides, reduce-only intents passing, and config errors that
 * name the key. */
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

typedef struct world {
    fake_t *f;
    int32_t btc, eth, sol, xrp;
} world_t;

/* BTC perp quoted 49995/50005, mark 50000; strategy carry with 100000 equity. */
static int setup(void **state)
{
    static world_t w;
    w.f = fake_new("risk_limits");
    w.btc = fake_inst(w.f, "BTC/USDT:USDT", KS_KIND_PERP, "0.0001", 50);
    w.eth = fake_inst(w.f, "ETH/USDT:USDT", KS_KIND_PERP, "0.001", 50);
    w.sol = fake_inst(w.f, "SOL/USDT:USDT", KS_KIND_PERP, "0.01", 20);
    w.xrp = fake_inst(w.f, "XRP/USDT:USDT", KS_KIND_PERP, "1", 20);
    fake_market(w.f, w.btc, "49995", "50005", "50000");
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

static void hold_three(world_t *w, const char *strategy)
{
    fake_position(w->f, strategy, w->eth, "1");
    fake_position(w->f, strategy, w->sol, "-10");
    fake_position(w->f, strategy, w->xrp, "100");
}

/* ---- max open positions --------------------------------------------------------------- */

static void fourth_instrument_is_rejected_at_max_open_positions(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    hold_three(w, "carry");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50000", NULL, false),
                    "max open positions 3 reached (strategy carry holds 3)");
}

static void adding_to_a_held_instrument_passes_max_open_positions(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    hold_three(w, "carry");
    fake_position(w->f, "carry", w->xrp, "0");
    fake_position(w->f, "carry", w->btc, "0.01");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50000", NULL, false));
}

static void new_instrument_below_max_open_positions_passes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "carry", w->eth, "1");
    fake_position(w->f, "carry", w->sol, "-10");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50000", NULL, false));
}

static void per_strategy_override_raises_max_open_positions_for_that_strategy_only(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_open_positions\": 3, \"per_strategy\": {\"carry\": "
                  "{\"max_open_positions\": 5}}}");
    fake_strategy(w->f, "basis", "100000");
    hold_three(w, "carry");
    hold_three(w, "basis");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50000", NULL, false));
    assert_rejected(fake_check(w->f, "basis", w->btc, BUY, "0.001", "50000", NULL, false),
                    "max open positions 3 reached (strategy basis holds 3)");
}

static void per_strategy_override_inherits_the_other_top_level_limits(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_open_positions\": 2, \"per_strategy\": {\"carry\": "
                  "{\"max_position_pct\": \"50\"}}}");
    fake_position(w->f, "carry", w->eth, "1");
    fake_position(w->f, "carry", w->sol, "-10");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50000", NULL, false),
                    "max open positions 2 reached (strategy carry holds 2)");
    fake_position(w->f, "carry", w->sol, "0");
    /* 50% of 100000 at 50000: one BTC exactly. */
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "1", "50000", NULL, false));
}

static void reduce_only_intent_passes_every_limit(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_open_positions\": 0, \"max_notional_per_symbol\": \"1\", "
                  "\"max_notional_per_strategy\": \"1\", \"min_order_qty\": \"5\", "
                  "\"max_order_notional\": \"1\", \"fat_finger_bps\": 1}");
    hold_three(w, "carry");
    fake_position(w->f, "carry", w->btc, "-2");
    fake_set_bbo(w->f, w->btc, NULL, NULL);
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "2", "90000", NULL, true));
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "2", NULL, "50000", true));
}

/* ---- position as % of equity ---------------------------------------------------------- */

static void position_of_exactly_max_position_pct_of_equity_passes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    /* 0.2 * 50000 = 10000 = 10% of 100000. */
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.2", "50000", NULL, false));
}

static void position_above_max_position_pct_of_equity_is_rejected(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "carry", w->btc, "0.15");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.0501", "50000", NULL, false),
                    "position 10.01% of equity exceeds max 10%: BTC/USDT:USDT 10005 of strategy "
                    "carry equity 100000");
}

static void short_positions_count_by_their_size(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "carry", w->btc, "-0.2");
    assert_rejected(fake_check(w->f, "carry", w->btc, SELL, "0.0001", "50000", NULL, false),
                    "position 10.01% of equity exceeds max 10%: BTC/USDT:USDT 10005 of strategy "
                    "carry equity 100000");
}

static void resting_orders_in_the_same_direction_count_toward_exposure(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_open_qty(w->f, "carry", w->btc, "0.1");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.15", "50000", NULL, false),
                    "position 12.5% of equity exceeds max 10%: BTC/USDT:USDT 12500 of strategy "
                    "carry equity 100000");
    /* Resting buys do not make a sell bigger. */
    assert_allowed(fake_check(w->f, "carry", w->btc, SELL, "0.15", "50000", NULL, false));
}

static void order_that_shrinks_the_position_passes_exposure_limits(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_notional_per_symbol\": \"1000\"}");
    fake_position(w->f, "carry", w->btc, "0.5"); /* 25000: over every cap already */
    assert_allowed(fake_check(w->f, "carry", w->btc, SELL, "0.1", "50000", NULL, false));
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.0001", "50000", NULL, false),
                    "max notional per symbol 1000 exceeded: BTC/USDT:USDT would be 25005 "
                    "(0.5001 at 50000)");
}

static void non_positive_equity_rejects_new_exposure(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_strategy(w->f, "broke", "0");
    assert_rejected(fake_check(w->f, "broke", w->btc, BUY, "0.001", "50000", NULL, false),
                    "max position 10% of equity: strategy broke equity is 0");
}

static void null_turns_a_default_limit_off(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_position_pct\": null, \"max_open_positions\": null}");
    hold_three(w, "carry");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "1", "50000", NULL, false));
}

/* ---- notional caps -------------------------------------------------------------------- */

static void notional_per_symbol_at_the_cap_passes_and_above_is_rejected(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_notional_per_symbol\": \"5000\", \"max_position_pct\": null}");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.1", "50000", NULL, false));
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.1001", "50000", NULL, false),
                    "max notional per symbol 5000 exceeded: BTC/USDT:USDT would be 5005 (0.1001 "
                    "at 50000)");
}

static void notional_per_symbol_names_resting_orders_when_they_tip_it(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_notional_per_symbol\": \"5000\", \"max_position_pct\": null}");
    fake_open_qty(w->f, "carry", w->btc, "-0.05");
    assert_rejected(fake_check(w->f, "carry", w->btc, SELL, "0.06", "50000", NULL, false),
                    "max notional per symbol 5000 exceeded: BTC/USDT:USDT would be 5500 (0.11 at "
                    "50000, incl. resting orders)");
}

static void notional_per_strategy_counts_the_gross_plus_the_increase(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_notional_per_strategy\": \"20000\", \"max_position_pct\": null}");
    fake_position(w->f, "carry", w->eth, "5");
    fake_strategy(w->f, "carry", NULL)->gross = D("15000");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.1", "50000", NULL, false));
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.1002", "50000", NULL, false),
                    "max notional per strategy 20000 exceeded: strategy carry would hold 20010 "
                    "gross (now 15000)");
}

/* ---- fat finger ----------------------------------------------------------------------- */

static void limit_exactly_at_the_fat_finger_band_passes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_position_pct\": null}");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.001", "52500", NULL, false));
    assert_allowed(fake_check(w->f, "carry", w->btc, SELL, "0.001", "47500", NULL, false));
}

static void limit_beyond_the_fat_finger_band_is_rejected(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_position_pct\": null}");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", "52500.1", NULL, false),
                    "fat finger: limit 52500.1 on BTC/USDT:USDT is 500.02 bps from mark 50000 "
                    "(max 500 bps)");
    assert_rejected(fake_check(w->f, "carry", w->btc, SELL, "0.001", "47000", NULL, false),
                    "fat finger: limit 47000 on BTC/USDT:USDT is 600 bps from mark 50000 (max "
                    "500 bps)");
}

static void fat_finger_uses_the_mid_without_a_mark(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"fat_finger_bps\": 100, \"max_position_pct\": null}");
    w->f->pf.view[w->btc].mark = KS_DEC_ZERO;
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50600", NULL, false),
                    "fat finger: limit 50600 on BTC/USDT:USDT is 120 bps from mid 50000 (max 100 "
                    "bps)");
}

static void limit_without_mark_or_mid_is_rejected(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    w->f->pf.view[w->btc].mark = KS_DEC_ZERO;
    fake_set_bbo(w->f, w->btc, "49995", NULL);
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", "50000", NULL, false),
                    "fat finger: no mark or mid on BTC/USDT:USDT to check limit 50000");
}

static void market_order_needs_the_side_it_takes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_set_bbo(w->f, w->btc, "49995", NULL);
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", NULL, NULL, false),
                    "fat finger: market buy on BTC/USDT:USDT with no ask in the BBO");
    assert_allowed(fake_check(w->f, "carry", w->btc, SELL, "0.001", NULL, NULL, false));
}

static void market_order_taking_far_from_the_mark_is_rejected(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_set_bbo(w->f, w->btc, "49995", "53000");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.001", NULL, NULL, false),
                    "fat finger: market buy on BTC/USDT:USDT would take ask 53000, 600 bps from "
                    "mark 50000 (max 500 bps)");
}

static void fat_finger_bps_zero_turns_the_band_off(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"fat_finger_bps\": 0, \"max_position_pct\": null}");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.001", "99000", NULL, false));
}

/* ---- order size ----------------------------------------------------------------------- */

static void order_qty_bounds_are_inclusive(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"min_order_qty\": \"0.01\", \"max_order_qty\": \"1\", "
                  "\"max_position_pct\": null}");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.01", "50000", NULL, false));
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "1", "50000", NULL, false));
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.0099", "50000", NULL, false),
                    "order qty 0.0099 is below min_order_qty 0.01");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "1.0001", "50000", NULL, false),
                    "order qty 1.0001 is above max_order_qty 1");
}

static void order_notional_bounds_are_inclusive(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"min_order_notional\": \"100\", \"max_order_notional\": \"20000\", "
                  "\"max_position_pct\": null}");
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.002", "50000", NULL, false));
    assert_allowed(fake_check(w->f, "carry", w->btc, BUY, "0.4", "50000", NULL, false));
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.0019", "50000", NULL, false),
                    "order notional 95 is below min_order_notional 100");
    assert_rejected(fake_check(w->f, "carry", w->btc, BUY, "0.4001", "50000", NULL, false),
                    "order notional 20005 is above max_order_notional 20000");
}

/* ---- config --------------------------------------------------------------------------- */

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
    assert_config_error(f, "{\"max_open_position\": 3}", "max_open_position: unknown key");
    assert_config_error(f, "{\"per_strategy\": {\"carry\": {\"max_open_positions\": \"x\"}}}",
                        "per_strategy.carry.max_open_positions: expected an integer, got \"x\"");
    assert_config_error(f, "{\"per_strategy\": {\"carry\": {\"per_strategy\": {}}}}",
                        "per_strategy.carry.per_strategy: unknown key");
    assert_config_error(f, "{\"max_position_pct\": -1}", "max_position_pct: must be > 0, got -1");
    assert_config_error(f, "{\"max_notional_per_symbol\": \"lots\"}",
                        "max_notional_per_symbol: expected a decimal number, got \"lots\"");
    assert_config_error(f, "{\"fat_finger_bps\": 1.5}",
                        "fat_finger_bps: expected an integer, got 1.5");
    assert_config_error(f, "{\"min_order_qty\": \"2\", \"max_order_qty\": \"1\"}",
                        "min_order_qty: 2 is above max_order_qty 1");
    assert_config_error(f, "{\"per_strategy\": {\"carry\": 3}}",
                        "per_strategy.carry: expected an object, got 3");
    assert_config_error(f, "{\"per_strategy\": []}",
                        "per_strategy: expected an object, got an array");
    assert_config_error(f, "[1]", "config: expected a JSON object, got an array");
    assert_config_error(f, "{\"fat_finger_bps\": 500,}",
                        "invalid JSON at byte 23: expected a string key");
}

static void empty_config_opens_with_the_defaults(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "  ");
    assert_true(fake_logged(w->f, "max_open_positions 3, max_position_pct on, fat_finger_bps 500"));
}

/* ---- speed ---------------------------------------------------------------------------- */

static void check_allow_path_is_fast(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"max_notional_per_symbol\": \"50000\", \"max_notional_per_strategy\": "
                  "\"100000\", \"min_order_notional\": \"5\", \"max_order_notional\": \"100000\"}");
    fake_position(w->f, "carry", w->btc, "0.05");
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
    printf("risk_limits check(): %.0f ns per allowed intent (every rule on)\n", ns);
    /* Sanitized debug builds are several times slower than release; this guards against an
     * accidental O(n) or allocation on the hot path, not the release budget. */
    assert_true(ns < 5000);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(fourth_instrument_is_rejected_at_max_open_positions),
        T(adding_to_a_held_instrument_passes_max_open_positions),
        T(new_instrument_below_max_open_positions_passes),
        T(per_strategy_override_raises_max_open_positions_for_that_strategy_only),
        T(per_strategy_override_inherits_the_other_top_level_limits),
        T(reduce_only_intent_passes_every_limit),
        T(position_of_exactly_max_position_pct_of_equity_passes),
        T(position_above_max_position_pct_of_equity_is_rejected),
        T(short_positions_count_by_their_size),
        T(resting_orders_in_the_same_direction_count_toward_exposure),
        T(order_that_shrinks_the_position_passes_exposure_limits),
        T(non_positive_equity_rejects_new_exposure),
        T(null_turns_a_default_limit_off),
        T(notional_per_symbol_at_the_cap_passes_and_above_is_rejected),
        T(notional_per_symbol_names_resting_orders_when_they_tip_it),
        T(notional_per_strategy_counts_the_gross_plus_the_increase),
        T(limit_exactly_at_the_fat_finger_band_passes),
        T(limit_beyond_the_fat_finger_band_is_rejected),
        T(fat_finger_uses_the_mid_without_a_mark),
        T(limit_without_mark_or_mid_is_rejected),
        T(market_order_needs_the_side_it_takes),
        T(market_order_taking_far_from_the_mark_is_rejected),
        T(fat_finger_bps_zero_turns_the_band_off),
        T(order_qty_bounds_are_inclusive),
        T(order_notional_bounds_are_inclusive),
        T(config_errors_name_the_key),
        T(empty_config_opens_with_the_defaults),
        T(check_allow_path_is_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
