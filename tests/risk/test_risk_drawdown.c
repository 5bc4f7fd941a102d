/* risk_drawdown through its descriptor: the high-water mark per strategy, the warn and stop
 * levels at their boundaries, the notices it requests once per crossing, the throttle, the
 * persisted mark, and config errors that name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fake.h"

typedef struct world {
    fake_t *f;
    int32_t btc;
} world_t;

static int setup(void **state)
{
    static world_t w;
    w.f = fake_new("risk_drawdown");
    w.btc = fake_inst(w.f, "BTC/USDT:USDT", KS_KIND_PERP, "0.001", 50);
    fake_strategy(w.f, "carry", "10000");
    fake_strategy(w.f, "basis", "10000");
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

/* Sets a strategy's equity and lets one check interval pass with an event. */
static void equity_then_tick(world_t *w, const char *strategy, const char *equity)
{
    fake_strategy(w->f, strategy, equity);
    fake_advance_ms(w->f, 1000);
    fake_ev_tick(w->f);
}

static ks_risk_decision_t entry(world_t *w, const char *strategy)
{
    return fake_check(w->f, strategy, w->btc, KS_SIDE_BUY, "0.01", "50000", NULL, false);
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

static void assert_notify(const fake_t *f, int i, const char *strategy, const char *reason)
{
    const fake_action_t *a = fake_action(f, i);
    assert_int_equal(a->kind, KS_ACT_NOTIFY);
    assert_false(a->all_strategies);
    assert_string_equal(a->strategy, strategy);
    assert_int_equal(a->inst, -1);
    assert_string_equal(a->reason, reason);
}

static void high_water_mark_starts_at_the_first_equity_seen(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    assert_string_equal(fake_kv(w->f, "hwm.carry"), "10000");
    assert_int_equal(w->f->host.n_actions, 0);
    assert_allowed(entry(w, "carry"));
}

static void equity_exactly_warn_pct_below_the_mark_notifies_once(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "9500");
    equity_then_tick(w, "carry", "9400");
    equity_then_tick(w, "carry", "9450");
    assert_int_equal(w->f->host.n_actions, 1);
    assert_notify(w->f, 0, "carry",
                  "drawdown warning: strategy carry equity 9500 is 5% below high-water mark "
                  "10000 (warn at 5%)");
    assert_true(fake_logged(w->f, "drawdown warning: strategy carry equity 9500"));
    assert_allowed(entry(w, "carry")); /* a warning does not block */
}

static void equity_just_above_the_warn_level_is_quiet(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "9500.01");
    assert_int_equal(w->f->host.n_actions, 0);
}

static void warn_notifies_again_after_recovering_and_crossing_again(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "9500");
    equity_then_tick(w, "carry", "9600");
    assert_true(fake_logged(w->f, "drawdown warning cleared: strategy carry equity 9600"));
    equity_then_tick(w, "carry", "9499");
    assert_int_equal(w->f->host.n_actions, 2);
    assert_notify(w->f, 1, "carry",
                  "drawdown warning: strategy carry equity 9499 is 5.01% below high-water mark "
                  "10000 (warn at 5%)");
}

static void stop_pct_below_the_mark_rejects_that_strategys_entries(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\", \"basis\"]}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "9000");
    assert_int_equal(w->f->host.n_actions, 2); /* both levels crossed at once: warn, then stop */
    assert_notify(w->f, 0, "carry",
                  "drawdown warning: strategy carry equity 9000 is 10% below high-water mark "
                  "10000 (warn at 5%)");
    assert_notify(w->f, 1, "carry",
                  "drawdown stop: strategy carry equity 9000 is 10% below high-water mark 10000; "
                  "new entries rejected until above 9000");
    assert_rejected(entry(w, "carry"), "drawdown stop: strategy carry equity 9000 is 10% below "
                                       "high-water mark 10000 (stop at 10%)");
    assert_allowed(fake_check(w->f, "carry", w->btc, KS_SIDE_SELL, "0.01", "50000", NULL, true));
    assert_allowed(entry(w, "basis"));
    assert_int_equal(fake_metric(w->f, "drawdown_level_carry"), 2);
}

static void stop_lifts_when_equity_is_back_above_the_stop_level(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "8990");
    fake_clear(w->f);
    equity_then_tick(w, "carry", "9000");
    assert_int_equal(w->f->host.n_actions, 0); /* at the level is still below it */
    equity_then_tick(w, "carry", "9000.01");
    assert_int_equal(w->f->host.n_actions, 1);
    assert_notify(w->f, 0, "carry",
                  "drawdown stop lifted: strategy carry equity 9000.01 is back above the stop "
                  "level 9000 (high-water mark 10000)");
    assert_allowed(entry(w, "carry"));
    assert_int_equal(fake_metric(w->f, "drawdown_level_carry"), 1);
}

static void high_water_mark_follows_equity_up(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "12000");
    assert_string_equal(fake_kv(w->f, "hwm.carry"), "12000");
    equity_then_tick(w, "carry", "10800");
    assert_rejected(entry(w, "carry"), "drawdown stop: strategy carry equity 10800 is 10% below "
                                       "high-water mark 12000 (stop at 10%)");
}

static void equity_is_sampled_at_most_every_check_interval(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"], \"check_interval_ms\": 1000}");
    fake_ev_tick(w->f);
    fake_strategy(w->f, "carry", "9000");
    fake_advance_ms(w->f, 999);
    fake_ev_tick(w->f);
    assert_int_equal(w->f->host.n_actions, 0);
    assert_allowed(entry(w, "carry"));
    fake_advance_ms(w->f, 1);
    fake_ev_tick(w->f);
    assert_int_equal(entry(w, "carry").verdict, KS_RISK_REJECT);
}

static void strategy_first_seen_in_check_is_tracked_from_the_next_event(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_ev_tick(w->f);
    assert_allowed(entry(w, "basis"));
    fake_advance_ms(w->f, 10); /* within the interval: a new strategy does not wait */
    fake_ev_tick(w->f);
    assert_string_equal(fake_kv(w->f, "hwm.basis"), "10000");
    equity_then_tick(w, "basis", "8000");
    assert_rejected(entry(w, "basis"), "drawdown stop: strategy basis equity 8000 is 20% below "
                                       "high-water mark 10000 (stop at 10%)");
}

static void stored_high_water_mark_survives_a_restart(void **state)
{
    world_t *w = *state;
    fake_kv_put(w->f, "hwm.carry", "12000");
    fake_strategy(w->f, "carry", "10800");
    open_ok(w->f, "{\"strategies\": [\"carry\"]}");
    fake_ev_tick(w->f);
    assert_true(fake_logged(w->f, "strategy carry: high-water mark 12000 restored (equity 10800)"));
    assert_rejected(entry(w, "carry"), "drawdown stop: strategy carry equity 10800 is 10% below "
                                       "high-water mark 12000 (stop at 10%)");
}

static void reset_hwm_starts_again_from_the_current_equity(void **state)
{
    world_t *w = *state;
    fake_kv_put(w->f, "hwm.carry", "12000");
    fake_strategy(w->f, "carry", "10800");
    open_ok(w->f, "{\"strategies\": [\"carry\"], \"reset_hwm\": true}");
    fake_ev_tick(w->f);
    assert_allowed(entry(w, "carry"));
    assert_string_equal(fake_kv(w->f, "hwm.carry"), "10800");
}

static void persist_hwm_false_stores_nothing(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"], \"persist_hwm\": false}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "11000");
    assert_null(fake_kv(w->f, "hwm.carry"));
}

static void warn_and_stop_levels_follow_the_config(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"strategies\": [\"carry\"], \"warn_pct\": \"2.5\", \"stop_pct\": 4}");
    fake_ev_tick(w->f);
    equity_then_tick(w, "carry", "9750");
    assert_int_equal(w->f->host.n_actions, 1);
    equity_then_tick(w, "carry", "9600.5");
    assert_int_equal(w->f->host.n_actions, 1);
    equity_then_tick(w, "carry", "9600");
    assert_int_equal(w->f->host.n_actions, 2);
    assert_rejected(entry(w, "carry"), "drawdown stop: strategy carry equity 9600 is 4% below "
                                       "high-water mark 10000 (stop at 4%)");
}

static void strategies_beyond_the_table_are_rejected_not_ignored(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    char name[16];
    for (int i = 0; i < 128; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        assert_allowed(entry(w, name));
    }
    assert_rejected(entry(w, "s128"), "drawdown: cannot track strategy 's128' (empty, too long, "
                                      "or more than 128 strategies)");
    assert_allowed(fake_check(w->f, "s128", w->btc, KS_SIDE_SELL, "0.01", "50000", NULL, true));
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
    assert_config_error(f, "{\"warn\": 5}", "warn: unknown key");
    assert_config_error(f, "{\"warn_pct\": 12}", "warn_pct: 12 is above stop_pct 10");
    assert_config_error(f, "{\"stop_pct\": 100}",
                        "stop_pct: must be a percentage in (0, 100), got 100");
    assert_config_error(f, "{\"warn_pct\": \"five\"}",
                        "warn_pct: expected a decimal number, got \"five\"");
    assert_config_error(f, "{\"check_interval_ms\": -5}",
                        "check_interval_ms: must be between 0 and 3600000, got -5");
    assert_config_error(f, "{\"strategies\": [1]}",
                        "strategies[0]: expected a strategy name, got 1");
    assert_config_error(f, "{\"strategies\": \"carry\"}",
                        "strategies: expected an array, got \"carry\"");
    assert_config_error(f, "{\"persist_hwm\": 1}", "persist_hwm: expected true or false, got 1");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(high_water_mark_starts_at_the_first_equity_seen),
        T(equity_exactly_warn_pct_below_the_mark_notifies_once),
        T(equity_just_above_the_warn_level_is_quiet),
        T(warn_notifies_again_after_recovering_and_crossing_again),
        T(stop_pct_below_the_mark_rejects_that_strategys_entries),
        T(stop_lifts_when_equity_is_back_above_the_stop_level),
        T(high_water_mark_follows_equity_up),
        T(equity_is_sampled_at_most_every_check_interval),
        T(strategy_first_seen_in_check_is_tracked_from_the_next_event),
        T(stored_high_water_mark_survives_a_restart),
        T(reset_hwm_starts_again_from_the_current_equity),
        T(persist_hwm_false_stores_nothing),
        T(warn_and_stop_levels_follow_the_config),
        T(strategies_beyond_the_table_are_rejected_not_ignored),
        T(config_errors_name_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
