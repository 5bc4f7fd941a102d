/* risk_gates through its descriptor: each of the eight gates' decision on intents (reject,
 * resize, allow; reduce-only passes) at its boundary, and the exact actions it requests
 * from the host, once per episode; stop latches; logging and metrics of gate states. */
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
    int32_t btc, eth;
    int64_t vts; /* the venue clock, ns since the epoch */
} world_t;

/* BTC perp quoted 49995/50005 (spread 10, mid 50000), mark and oracle 50000, all fresh. */
static int setup(void **state)
{
    static world_t w;
    w.f = fake_new("risk_gates");
    w.btc = fake_inst(w.f, SYM, KS_KIND_PERP, "0.001", 50);
    w.eth = fake_inst(w.f, "ETH/USDT:USDT", KS_KIND_PERP, "0.01", 50);
    fake_market(w.f, w.btc, "49995", "50005", "50000");
    fake_strategy(w.f, "oracle", "100000");
    w.vts = 1767225600LL * FAKE_SEC;
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

/* A BBO event (the venue clock moves 1 ms) with the mark and oracle refreshed. */
static void quote(world_t *w, const char *bid, const char *ask)
{
    w->vts += FAKE_MS;
    fake_set_mark(w->f, w->btc, "50000");
    fake_set_oracle(w->f, w->btc, "50000");
    fake_ev_bbo(w->f, w->btc, bid, ask, w->vts);
}

static void quote_n(world_t *w, int n, const char *bid, const char *ask)
{
    for (int i = 0; i < n; i++)
        quote(w, bid, ask);
}

static ks_risk_decision_t buy(world_t *w, const char *qty)
{
    return fake_check(w->f, "oracle", w->btc, BUY, qty, "50000", NULL, false);
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

static void assert_resized(ks_risk_decision_t d, const char *qty, const char *reason)
{
    if (d.verdict != KS_RISK_RESIZE)
        fail_msg("expected RESIZE to %s (%s), got verdict %u: %s", qty, reason, d.verdict,
                 d.reason);
    assert_string_equal(F(d.qty), qty);
    assert_string_equal(d.reason, reason);
}

static void assert_action(const fake_t *f, int i, uint32_t kind, int32_t inst, const char *fraction,
                          const char *reason)
{
    const fake_action_t *a = fake_action(f, i);
    assert_int_equal(a->kind, kind);
    assert_true(a->all_strategies);
    assert_int_equal(a->inst, inst);
    assert_string_equal(F(a->fraction), fraction);
    assert_string_equal(a->reason, reason);
}

static void assert_reduce_only_passes(world_t *w)
{
    assert_allowed(fake_check(w->f, "oracle", w->btc, SELL, "1", "50000", NULL, true));
}

/* ---- quiet market ---------------------------------------------------------------------- */

static void quiet_market_allows_entries_and_requests_nothing(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote_n(w, 30, "49995", "50005");
    assert_allowed(buy(w, "1"));
    assert_int_equal(w->f->host.n_actions, 0);
    assert_int_equal(fake_metric(w->f, "gates_BTC_USDT_USDT"), -1); /* never changed */
}

/* ---- OracleFresh ----------------------------------------------------------------------- */

static void oracle_exactly_max_age_old_still_allows(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 3000);
    fake_set_bbo(w->f, w->btc, "49995", "50005");
    assert_allowed(buy(w, "1"));
}

static void oracle_older_than_max_age_rejects_new_entries(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 3001);
    fake_set_bbo(w->f, w->btc, "49995", "50005");
    assert_rejected(buy(w, "1"), "OracleFresh on " SYM ": oracle age 3001 ms > 3000 ms");
    assert_reduce_only_passes(w);
    fake_ev_tick(w->f);
    assert_int_equal(w->f->host.n_actions, 0);
}

static void oracle_fresh_uses_the_ticker_when_there_is_no_oracle(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"oracle_max_age_ms\": 1000}");
    w->f->pf.view[w->btc].oracle_recv_ns = 0;
    fake_advance_ms(w->f, 1500);
    fake_set_bbo(w->f, w->btc, "49995", "50005");
    assert_rejected(buy(w, "1"), "OracleFresh on " SYM ": ticker age 1500 ms > 1000 ms");
}

static void oracle_fresh_rejects_when_nothing_was_received(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_set_bbo(w->f, w->eth, "2999", "3001");
    assert_rejected(fake_check(w->f, "oracle", w->eth, BUY, "1", "3000", NULL, false),
                    "OracleFresh on ETH/USDT:USDT: no oracle or ticker received");
}

/* ---- MarkMidDivergence ----------------------------------------------------------------- */

static void mark_exactly_max_bps_from_mid_allows(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_set_mark(w->f, w->btc, "50250"); /* 250 / 50000 = 50 bps */
    assert_allowed(buy(w, "1"));
}

static void mark_mid_divergence_rejects_entries_when_flat(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_set_mark(w->f, w->btc, "50250.1");
    assert_rejected(buy(w, "1"), "MarkMidDivergence on " SYM ": mark 50250.1 vs mid 50000: 50.02 "
                                 "bps > 50 bps; no new entries while flat");
    assert_reduce_only_passes(w);
}

static void mark_mid_divergence_divides_size_by_five_when_holding(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "0.5");
    fake_set_mark(w->f, w->btc, "49700");
    assert_resized(buy(w, "1"), "0.2",
                   "MarkMidDivergence on " SYM ": mark 49700 vs mid 50000: 60 bps > 50 bps; size "
                   "/5: 1 -> 0.2");
}

static void resize_rounds_down_to_the_lot(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "0.5");
    fake_set_mark(w->f, w->btc, "49700");
    ks_risk_decision_t d = buy(w, "0.014"); /* 0.0028 -> 0.002 */
    assert_int_equal(d.verdict, KS_RISK_RESIZE);
    assert_string_equal(F(d.qty), "0.002");
}

static void resize_below_one_lot_rejects(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "0.5");
    fake_set_mark(w->f, w->btc, "49700");
    assert_rejected(buy(w, "0.004"), "MarkMidDivergence on " SYM ": mark 49700 vs mid 50000: 60 "
                                     "bps > 50 bps; size /5 leaves less than a lot");
}

/* ---- SpreadShock ----------------------------------------------------------------------- */

static void spread_exactly_k_times_the_ewma_allows(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote_n(w, 20, "49995", "50005"); /* EWMA 10 after 20 samples */
    quote(w, "49975", "50025");       /* 50 = 5 x 10 */
    assert_allowed(buy(w, "1"));
}

static void spread_shock_divides_size_by_five(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote_n(w, 20, "49995", "50005");
    quote(w, "49974.9", "50025.1"); /* 50.2 > 5 x 10 */
    assert_resized(buy(w, "1"), "0.2",
                   "SpreadShock on " SYM ": spread 50.2 > 5 x EWMA 10; size /5: 1 -> 0.2");
    assert_reduce_only_passes(w);
    assert_true(fake_logged(w->f, "gate SpreadShock on for " SYM ": spread 50.2 > 5 x EWMA 10"));
    assert_int_equal(w->f->host.n_actions, 0);
}

static void spread_shock_waits_for_min_samples(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote_n(w, 19, "49995", "50005");
    quote(w, "49900", "50100");
    assert_allowed(buy(w, "1"));
}

static void spread_shock_clears_when_the_spread_normalizes(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"spread_min_samples\": 5, \"spread_k\": \"3\"}");
    quote_n(w, 5, "49995", "50005");
    quote(w, "49900", "50100");
    assert_int_equal(buy(w, "1").verdict, KS_RISK_RESIZE);
    quote(w, "49995", "50005");
    assert_allowed(buy(w, "1"));
    assert_int_equal(fake_log_count(w->f, "gate SpreadShock on"), 1);
    assert_int_equal(fake_log_count(w->f, "gate SpreadShock off"), 1);
}

static void one_sided_book_counts_as_a_spread_shock(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote_n(w, 20, "49995", "50005");
    quote(w, "49995", NULL);
    assert_resized(buy(w, "1"), "0.2",
                   "SpreadShock on " SYM ": one-sided or crossed BBO; size /5: 1 -> 0.2");
}

/* ---- OiCap ----------------------------------------------------------------------------- */

static void open_interest_at_the_symbol_cap_rejects(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"oi_cap\": {\"" SYM "\": \"1000\", \"*\": \"5\"}}");
    quote(w, "49995", "50005");
    fake_ev_ticker(w->f, w->btc, "50000", "999.999", w->vts);
    assert_allowed(buy(w, "1"));
    fake_ev_ticker(w->f, w->btc, "50000", "1000", w->vts);
    assert_rejected(buy(w, "1"), "OiCap on " SYM ": open interest 1000 >= cap 1000");
    assert_reduce_only_passes(w);
    assert_int_equal(w->f->host.n_actions, 0);
}

static void open_interest_cap_star_applies_to_other_symbols(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"oi_cap\": {\"" SYM "\": \"1000\", \"*\": \"5\"}}");
    fake_market(w->f, w->eth, "2999", "3001", "3000");
    fake_ev_ticker(w->f, w->eth, "3000", "5", w->vts);
    assert_rejected(fake_check(w->f, "oracle", w->eth, BUY, "1", "3000", NULL, false),
                    "OiCap on ETH/USDT:USDT: open interest 5 >= cap 5");
}

static void single_oi_cap_applies_to_every_symbol(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"oi_cap\": \"700\"}");
    fake_ev_ticker(w->f, w->btc, "50000", "700", w->vts);
    assert_rejected(buy(w, "1"), "OiCap on " SYM ": open interest 700 >= cap 700");
}

/* ---- ParamChange ----------------------------------------------------------------------- */

static void param_change_cancels_all_and_stops_when_flat(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING);
    assert_int_equal(w->f->host.n_actions, 1);
    assert_action(w->f, 0, KS_ACT_CANCEL_ALL, w->btc, "0",
                  "ParamChange on " SYM ": spec_version 1 -> 2");
    assert_rejected(buy(w, "1"),
                    "ParamChange stop on " SYM ": spec_version 1 -> 2 (latched 300 s more)");
    assert_reduce_only_passes(w);
    assert_true(fake_logged(w->f, "gate ParamChange on for " SYM ": spec_version 1 -> 2"));
    assert_int_equal(fake_metric(w->f, "stopped_BTC_USDT_USDT"), 1);
}

static void param_change_cancels_then_reduces_when_holding(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "-0.3");
    quote(w, "49995", "50005");
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING);
    assert_int_equal(w->f->host.n_actions, 2);
    assert_action(w->f, 0, KS_ACT_CANCEL_ALL, w->btc, "0",
                  "ParamChange on " SYM ": spec_version 1 -> 2");
    assert_action(w->f, 1, KS_ACT_REDUCE, w->btc, "1",
                  "ParamChange on " SYM ": spec_version 1 -> 2");
}

static void param_change_acts_once_per_episode(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING);
    for (int i = 0; i < 10; i++) {
        fake_advance_ms(w->f, 500);
        quote(w, "49995", "50005");
        fake_ev_tick(w->f);
    }
    assert_int_equal(w->f->host.n_actions, 1);
    assert_int_equal(fake_log_count(w->f, "gate ParamChange on"), 1);
}

static void param_change_stop_lifts_after_the_latch_and_accepts_the_new_spec(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING);
    fake_advance_ms(w->f, 299 * 1000);
    quote(w, "49995", "50005");
    assert_rejected(buy(w, "1"),
                    "ParamChange stop on " SYM ": spec_version 1 -> 2 (latched 1 s more)");
    fake_advance_ms(w->f, 1000);
    quote(w, "49995", "50005");
    assert_allowed(buy(w, "1"));
    assert_true(fake_logged(w->f, "stop on " SYM " lifted after 300 s"));
    assert_true(fake_logged(w->f, "gate ParamChange off for " SYM));
    assert_int_equal(fake_metric(w->f, "stopped_BTC_USDT_USDT"), 0);
    /* A later change is a new episode. */
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING);
    assert_int_equal(w->f->host.n_actions, 2);
    assert_action(w->f, 1, KS_ACT_CANCEL_ALL, w->btc, "0",
                  "ParamChange on " SYM ": spec_version 2 -> 3");
}

static void stop_latch_zero_holds_until_restart(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"stop_latch_s\": 0}");
    quote(w, "49995", "50005");
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING);
    fake_advance_ms(w->f, 86400 * 1000LL);
    quote(w, "49995", "50005");
    assert_rejected(buy(w, "1"),
                    "ParamChange stop on " SYM ": spec_version 1 -> 2 (latched until restart)");
}

static void spec_change_before_tracking_is_caught_from_registration(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_ev_instrument(w->f, w->btc);       /* registered at spec_version 1, not traded yet */
    assert_int_equal(w->f->host.n_logs, 1); /* only the open() line: untraded is quiet */
    w->f->pf.inst[w->btc].spec_version = 2;
    w->f->pf.view[w->btc].spec_version = 2;
    assert_rejected(buy(w, "1"), "ParamChange on " SYM ": spec_version 1 -> 2");
    quote(w, "49995", "50005");
    assert_action(w->f, 0, KS_ACT_CANCEL_ALL, w->btc, "0",
                  "ParamChange on " SYM ": spec_version 1 -> 2");
}

/* ---- Halt ------------------------------------------------------------------------------ */

static void halt_flag_cancels_reduces_and_stops(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "0.3");
    quote(w, "49995", "50005");
    w->f->pf.view[w->btc].inst_flags |= KS_INST_HALTED;
    quote(w, "49995", "50005");
    assert_int_equal(w->f->host.n_actions, 2);
    assert_action(w->f, 0, KS_ACT_CANCEL_ALL, w->btc, "0", "Halt on " SYM ": instrument halted");
    assert_action(w->f, 1, KS_ACT_REDUCE, w->btc, "1", "Halt on " SYM ": instrument halted");
    assert_rejected(buy(w, "1"), "Halt stop on " SYM ": instrument halted (latched 300 s more)");
    assert_reduce_only_passes(w);
}

static void halt_by_spec_change_requests_one_cancel_named_after_the_halt(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_ev_spec_change(w->f, w->btc, KS_INST_TRADING | KS_INST_HALTED);
    assert_int_equal(w->f->host.n_actions, 1);
    assert_action(w->f, 0, KS_ACT_CANCEL_ALL, w->btc, "0", "Halt on " SYM ": instrument halted");
}

static void halt_keeps_rejecting_after_the_latch_while_halted(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    w->f->pf.view[w->btc].inst_flags |= KS_INST_HALTED;
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 301 * 1000);
    quote(w, "49995", "50005");
    assert_rejected(buy(w, "1"), "Halt on " SYM ": instrument halted");
    assert_int_equal(w->f->host.n_actions, 1);
    w->f->pf.view[w->btc].inst_flags &= ~(uint32_t)KS_INST_HALTED;
    quote(w, "49995", "50005");
    assert_allowed(buy(w, "1"));
    assert_true(fake_logged(w->f, "gate Halt off for " SYM));
}

/* ---- NoBboUpdate ----------------------------------------------------------------------- */

static void bbo_exactly_max_age_old_still_allows(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 5000);
    fake_set_oracle(w->f, w->btc, "50000");
    assert_allowed(buy(w, "1"));
}

static void stale_bbo_rejects_entries_without_action_when_flat(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 5001);
    fake_set_oracle(w->f, w->btc, "50000");
    fake_ev_tick(w->f);
    assert_rejected(buy(w, "1"), "NoBboUpdate on " SYM ": BBO age 5001 ms > 5000 ms");
    assert_int_equal(w->f->host.n_actions, 0);
    assert_true(fake_logged(w->f, "gate NoBboUpdate on for " SYM ": BBO age 5001 ms > 5000 ms"));
    /* Not latched: a fresh BBO lifts it. */
    quote(w, "49995", "50005");
    assert_allowed(buy(w, "1"));
}

static void stale_bbo_reduces_and_stops_when_holding(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "0.3");
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 5001);
    fake_ev_tick(w->f);
    assert_int_equal(w->f->host.n_actions, 1);
    assert_action(w->f, 0, KS_ACT_REDUCE, w->btc, "1",
                  "NoBboUpdate on " SYM ": BBO age 5001 ms > 5000 ms");
    quote(w, "49995", "50005");
    assert_rejected(buy(w, "1"),
                    "NoBboUpdate stop on " SYM ": BBO age 5001 ms > 5000 ms (latched 300 s more)");
    assert_reduce_only_passes(w);
}

static void never_quoted_instrument_is_rejected_for_no_bbo(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    assert_rejected(fake_check(w->f, "oracle", w->eth, BUY, "1", "3000", NULL, false),
                    "NoBboUpdate on ETH/USDT:USDT: no BBO received");
}

/* ---- TimeRegression -------------------------------------------------------------------- */

static void venue_time_going_back_cancels_all_and_stops(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    fake_position(w->f, "oracle", w->btc, "0.3");
    quote(w, "49995", "50005");
    fake_ev_ticker(w->f, w->btc, "50000", NULL, w->vts);
    fake_ev_ticker(w->f, w->btc, "50000", NULL, w->vts - 500 * FAKE_MS);
    assert_int_equal(w->f->host.n_actions, 1); /* cancel, no reduce */
    assert_action(w->f, 0, KS_ACT_CANCEL_ALL, w->btc, "0",
                  "TimeRegression on " SYM ": ticker venue_ts went back 500 ms");
    assert_rejected(buy(w, "1"), "TimeRegression stop on " SYM
                                 ": ticker venue_ts went back 500 ms (latched 300 s more)");
    assert_reduce_only_passes(w);
}

static void streams_are_checked_separately_for_time_regression(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_ev_ticker(w->f, w->btc, "50000", NULL, w->vts - 20 * FAKE_MS);
    fake_ev_oracle(w->f, w->btc, "50000", w->vts - 30 * FAKE_MS);
    fake_ev_ticker(w->f, w->btc, "50000", NULL, w->vts - 20 * FAKE_MS); /* equal is fine */
    assert_allowed(buy(w, "1"));
    assert_int_equal(w->f->host.n_actions, 0);
}

static void time_regression_within_tolerance_is_ignored(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"time_regression_tolerance_ms\": 100}");
    quote(w, "49995", "50005");
    int64_t t = w->vts;
    fake_ev_bbo(w->f, w->btc, "49995", "50005", t - 100 * FAKE_MS);
    assert_allowed(buy(w, "1"));
    fake_ev_bbo(w->f, w->btc, "49995", "50005", t - 101 * FAKE_MS);
    assert_rejected(buy(w, "1"), "TimeRegression stop on " SYM
                                 ": bbo venue_ts went back 101 ms (latched 300 s more)");
}

/* ---- logging, metrics, configuration --------------------------------------------------- */

static void gate_transitions_are_logged_once(void **state)
{
    world_t *w = *state;
    open_ok(w->f, NULL);
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 3001);
    for (int i = 0; i < 5; i++) {
        fake_set_bbo(w->f, w->btc, "49995", "50005");
        fake_ev_tick(w->f);
        fake_advance_ms(w->f, 300);
    }
    assert_int_equal(fake_log_count(w->f, "gate OracleFresh on for " SYM), 1);
    assert_int_equal(fake_metric(w->f, "gates_BTC_USDT_USDT"), 1); /* bit 0: OracleFresh */
    for (int i = 0; i < 5; i++)
        quote(w, "49995", "50005");
    assert_int_equal(fake_log_count(w->f, "gate OracleFresh off for " SYM), 1);
    assert_int_equal(fake_metric(w->f, "gates_BTC_USDT_USDT"), 0);
}

static void disabled_gates_never_fire(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"disabled\": [\"OracleFresh\", \"Halt\"]}");
    quote(w, "49995", "50005");
    fake_advance_ms(w->f, 4000);
    w->f->pf.view[w->btc].inst_flags |= KS_INST_HALTED;
    quote(w, "49995", "50005");
    w->f->pf.view[w->btc].oracle_recv_ns = 1;
    assert_allowed(buy(w, "1"));
    assert_int_equal(w->f->host.n_actions, 0);
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
    assert_config_error(f, "{\"stop_latch\": 5}", "stop_latch: unknown key");
    assert_config_error(f, "{\"oracle_max_age_ms\": \"abc\"}",
                        "oracle_max_age_ms: expected an integer, got \"abc\"");
    assert_config_error(f, "{\"bbo_max_age_ms\": 0}",
                        "bbo_max_age_ms: must be between 1 and 86400000, got 0");
    assert_config_error(f, "{\"spread_ewma_alpha\": 1.5}",
                        "spread_ewma_alpha: must be in (0, 1], got 1.5");
    assert_config_error(f, "{\"spread_k\": \"-2\"}", "spread_k: must be > 0, got -2");
    assert_config_error(f, "{\"oi_cap\": {\"" SYM "\": -1}}",
                        "oi_cap." SYM ": must be > 0, got -1");
    assert_config_error(f, "{\"oi_cap\": {\"" SYM "\": null}}",
                        "oi_cap." SYM ": expected a decimal number, got null");
    assert_config_error(f, "{\"oi_cap\": [1]}", "oi_cap: expected a decimal number, got an array");
    assert_config_error(f, "{\"disabled\": [\"Oracle\"]}",
                        "disabled[0]: unknown gate \"Oracle\" (expected OracleFresh, "
                        "MarkMidDivergence, SpreadShock, OiCap, ParamChange, Halt, NoBboUpdate "
                        "or TimeRegression)");
    assert_config_error(f, "{\"size_divisor\": 1}",
                        "size_divisor: must be between 2 and 1000000, got 1");
    assert_config_error(f, "{\"stop_latch_s\": -1}",
                        "stop_latch_s: must be between 0 and 2592000, got -1");
}

static void check_allow_path_is_fast(void **state)
{
    world_t *w = *state;
    open_ok(w->f, "{\"oi_cap\": \"1000000\"}");
    quote_n(w, 30, "49995", "50005");
    fake_ev_ticker(w->f, w->btc, "50000", "10", w->vts);
    ks_order_intent_t in;
    KS_INIT(&in);
    in.strategy = "oracle";
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
    printf("risk_gates check(): %.0f ns per allowed intent\n", ns);
    assert_true(ns < 5000); /* sanitized debug build: a guard, not the release budget */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(quiet_market_allows_entries_and_requests_nothing),
        T(oracle_exactly_max_age_old_still_allows),
        T(oracle_older_than_max_age_rejects_new_entries),
        T(oracle_fresh_uses_the_ticker_when_there_is_no_oracle),
        T(oracle_fresh_rejects_when_nothing_was_received),
        T(mark_exactly_max_bps_from_mid_allows),
        T(mark_mid_divergence_rejects_entries_when_flat),
        T(mark_mid_divergence_divides_size_by_five_when_holding),
        T(resize_rounds_down_to_the_lot),
        T(resize_below_one_lot_rejects),
        T(spread_exactly_k_times_the_ewma_allows),
        T(spread_shock_divides_size_by_five),
        T(spread_shock_waits_for_min_samples),
        T(spread_shock_clears_when_the_spread_normalizes),
        T(one_sided_book_counts_as_a_spread_shock),
        T(open_interest_at_the_symbol_cap_rejects),
        T(open_interest_cap_star_applies_to_other_symbols),
        T(single_oi_cap_applies_to_every_symbol),
        T(param_change_cancels_all_and_stops_when_flat),
        T(param_change_cancels_then_reduces_when_holding),
        T(param_change_acts_once_per_episode),
        T(param_change_stop_lifts_after_the_latch_and_accepts_the_new_spec),
        T(stop_latch_zero_holds_until_restart),
        T(spec_change_before_tracking_is_caught_from_registration),
        T(halt_flag_cancels_reduces_and_stops),
        T(halt_by_spec_change_requests_one_cancel_named_after_the_halt),
        T(halt_keeps_rejecting_after_the_latch_while_halted),
        T(bbo_exactly_max_age_old_still_allows),
        T(stale_bbo_rejects_entries_without_action_when_flat),
        T(stale_bbo_reduces_and_stops_when_holding),
        T(never_quoted_instrument_is_rejected_for_no_bbo),
        T(venue_time_going_back_cancels_all_and_stops),
        T(streams_are_checked_separately_for_time_regression),
        T(time_regression_within_tolerance_is_ignored),
        T(gate_transitions_are_logged_once),
        T(disabled_gates_never_fire),
        T(config_errors_name_the_key),
        T(check_allow_path_is_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
