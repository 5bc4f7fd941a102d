/* sim_market: determinism, quantization, the lagging oracle, the funding formula and
 * its boundaries, and that the default profiles give funding-arbitrage and liquidation
 * strategies something to find. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sim/sim_test_util.h"
#include "sim_config.h"
#include "sim_market.h"

#define SEC  1000000000LL
#define HOUR (3600 * SEC)
/* 2024-01-01 01:00:00 UTC */
#define T0 (1704067200LL * SEC + HOUR)

static ks_sim_market_params_t params(void)
{
    ks_sim_market_params_t p;
    memset(&p, 0, sizeof(p));
    p.price = 100;
    p.vol = 0.8;
    p.jumps_per_day = 3;
    p.jump_std = 0.005;
    p.premium_mean = 0.0002;
    p.premium_vol = 0.0003;
    p.premium_half_life_h = 2;
    p.liq_bursts_per_day = 8;
    p.liq_impact = 0.006;
    p.liq_usd = 500000;
    p.trades_per_s = 2;
    p.trade_usd = 1000;
    p.oi_usd = 1e9;
    p.volume_usd = 2e9;
    p.funding_interval_h = 8;
    p.tick = D("0.01");
    p.lot = D("0.1");
    return p;
}

static ks_sim_market_config_t config(uint64_t seed)
{
    ks_sim_market_config_t c;
    memset(&c, 0, sizeof(c));
    c.seed = seed;
    c.funding_cap = D("0.0075");
    c.interest_8h = D("0.0001");
    c.oracle_lag_ns = 3 * SEC;
    c.step_ns = SEC;
    return c;
}

static ks_sim_market_t *new_market(const ks_sim_market_config_t *c, const ks_sim_market_params_t *p,
                                   uint32_t n)
{
    char err[KS_REASON_LEN];
    ks_sim_market_t *m = ks_sim_market_new(c, p, n, T0, err, sizeof(err));
    if (!m)
        fail_msg("ks_sim_market_new: %s", err);
    return m;
}

/* One text line of everything a step produced for base i. */
static uint64_t hash_out(uint64_t h, const ks_sim_market_out_t *o)
{
    char line[2048];
    size_t p = 0;
    p = sim_tx_put(line, sizeof(line), p, "%s %s %s %s %s %s %d %s %s %s", F(o->spot_mid),
                   F(o->perp_mid), F(o->mark), F(o->oracle), F(o->funding_rate), F(o->settle_rate),
                   o->settled, F(o->open_interest), F(o->spot_volume_24h), F(o->perp_volume_24h));
    for (uint32_t k = 0; k < o->n_perp_trades; k++)
        p = sim_tx_put(line, sizeof(line), p, " t%d:%s", o->perp_trades[k].side,
                       F(o->perp_trades[k].qty));
    for (uint32_t k = 0; k < o->n_liqs; k++)
        p = sim_tx_put(line, sizeof(line), p, " l%d:%s@%s", o->liqs[k].side, F(o->liqs[k].qty),
                       F(o->liqs[k].px));
    return sim_fnv1a(h, line);
}

static uint64_t run_hash(uint64_t seed, int steps)
{
    ks_sim_market_config_t c = config(seed);
    ks_sim_market_params_t p[2] = {params(), params()};
    ks_sim_market_t *m = new_market(&c, p, 2);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 1; i <= steps; i++) {
        ks_sim_market_step(m, T0 + i * SEC);
        h = hash_out(h, ks_sim_market_out(m, 0));
        h = hash_out(h, ks_sim_market_out(m, 1));
    }
    ks_sim_market_free(m);
    return h;
}

static void same_seed_same_path_other_seed_differs(void **state)
{
    assert_true(run_hash(42, 5000) == run_hash(42, 5000));
    assert_true(run_hash(42, 5000) != run_hash(43, 5000));
}

static void bases_have_independent_paths(void **state)
{
    ks_sim_market_config_t c = config(42);
    ks_sim_market_params_t p[2] = {params(), params()};
    ks_sim_market_t *m = new_market(&c, p, 2);
    ks_sim_market_step(m, T0 + 60 * SEC);
    assert_true(ks_dec_cmp(ks_sim_market_out(m, 0)->spot_mid, ks_sim_market_out(m, 1)->spot_mid) !=
                0);
    ks_sim_market_free(m);
}

static void prices_and_sizes_are_tick_and_lot_multiples(void **state)
{
    ks_sim_market_config_t c = config(7);
    ks_sim_market_params_t p = params();
    p.liq_bursts_per_day = 500;
    ks_sim_market_t *m = new_market(&c, &p, 1);
    uint32_t trades = 0, liqs = 0;
    for (int i = 1; i <= 20000; i++) {
        ks_sim_market_step(m, T0 + i * SEC);
        const ks_sim_market_out_t *o = ks_sim_market_out(m, 0);
        assert_true(ks_dec_is_multiple(o->spot_mid, p.tick));
        assert_true(ks_dec_is_multiple(o->perp_mid, p.tick));
        assert_true(ks_dec_is_multiple(o->oracle, p.tick));
        assert_true(ks_dec_is_multiple(o->open_interest, p.lot));
        assert_true(o->funding_rate.scale <= 8);
        for (uint32_t k = 0; k < o->n_perp_trades; k++, trades++) {
            assert_true(ks_dec_is_multiple(o->perp_trades[k].qty, p.lot));
            assert_true(ks_dec_cmp(o->perp_trades[k].qty, p.lot) >= 0);
        }
        for (uint32_t k = 0; k < o->n_liqs; k++, liqs++) {
            assert_true(ks_dec_is_multiple(o->liqs[k].px, p.tick));
            assert_true(ks_dec_cmp(o->liqs[k].qty, p.lot) >= 0);
        }
    }
    assert_true(trades > 20000); /* ~2 per second */
    assert_true(liqs > 100);
    ks_sim_market_free(m);
}

static void oracle_is_the_mark_from_lag_ago(void **state)
{
    ks_sim_market_config_t c = config(3);
    ks_sim_market_params_t p = params();
    ks_sim_market_t *m = new_market(&c, &p, 1);
    ks_dec_t marks[200];
    marks[0] = ks_sim_market_out(m, 0)->mark;
    assert_dec_equal(ks_sim_market_out(m, 0)->oracle, marks[0]);
    for (int i = 1; i < 200; i++) {
        ks_sim_market_step(m, T0 + i * SEC);
        const ks_sim_market_out_t *o = ks_sim_market_out(m, 0);
        marks[i] = o->mark;
        assert_dec_equal(o->mark, o->perp_mid);
        assert_dec_equal(o->index, o->spot_mid);
        /* Before 3 s of history the oldest mark stands in. */
        assert_dec_equal(o->oracle, marks[i >= 3 ? i - 3 : 0]);
    }
    ks_sim_market_free(m);
}

static void funding_rate_is_average_premium_plus_interest(void **state)
{
    /* A constant premium (no noise, jumps or bursts) makes the formula visible:
     * (0.0002 + 0.0001) * interval_h / 8. */
    ks_sim_market_config_t c = config(1);
    ks_sim_market_params_t p[2] = {params(), params()};
    for (int i = 0; i < 2; i++) {
        p[i].premium_vol = 0;
        p[i].jumps_per_day = 0;
        p[i].liq_bursts_per_day = 0;
    }
    p[1].funding_interval_h = 4;
    ks_sim_market_t *m = new_market(&c, p, 2);
    ks_sim_market_step(m, T0 + SEC);
    assert_dec_equal(ks_sim_market_out(m, 0)->funding_rate, D("0.0003"));
    assert_dec_equal(ks_sim_market_out(m, 1)->funding_rate, D("0.00015"));
    ks_sim_market_free(m);
}

static void funding_settles_exactly_at_each_boundary(void **state)
{
    ks_sim_market_config_t c = config(5);
    ks_sim_market_params_t p[2] = {params(), params()};
    p[1].funding_interval_h = 1;
    ks_sim_market_t *m = new_market(&c, p, 2);
    int settled8 = 0, settled1 = 0;
    /* T0 = 01:00; run to 17:00 in 10 s steps: 8 h boundaries 08:00, 16:00; hourly: 16. */
    for (int64_t t = T0 + 10 * SEC; t <= T0 + 16 * HOUR; t += 10 * SEC) {
        ks_sim_market_step(m, t);
        if (ks_sim_market_out(m, 0)->settled) {
            settled8++;
            assert_int_equal(t % (8 * HOUR), 0);
        }
        if (ks_sim_market_out(m, 1)->settled) {
            settled1++;
            assert_int_equal(t % HOUR, 0);
        }
    }
    assert_int_equal(settled8, 2);
    assert_int_equal(settled1, 16);
    ks_sim_market_free(m);
}

static void funding_rate_is_capped_exactly(void **state)
{
    ks_sim_market_config_t c = config(9);
    ks_sim_market_params_t p[2] = {params(), params()};
    p[0].premium_mean = 0.05;
    p[1].premium_mean = -0.05;
    ks_sim_market_t *m = new_market(&c, p, 2);
    for (int i = 1; i < 100; i++)
        ks_sim_market_step(m, T0 + i * SEC);
    assert_dec_equal(ks_sim_market_out(m, 0)->funding_rate, D("0.0075"));
    assert_dec_equal(ks_sim_market_out(m, 1)->funding_rate, D("-0.0075"));
    ks_sim_market_free(m);
}

static void default_profiles_give_funding_arbitrage_something_to_find(void **state)
{
    /* Three days of the default six-symbol market at 1 s steps: funding is mostly
     * positive, differs between symbols, and now and then exceeds 0.03 % / 8 h. */
    static const char *bases[] = {"BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX"};
    ks_sim_config_t cfg;
    char err[KS_REASON_LEN];
    ks_sim_market_params_t p[6];
    assert_int_equal(ks_sim_config_parse(NULL, &cfg, err, sizeof(err)), KS_OK);
    for (int i = 0; i < 6; i++) {
        ks_sim_symbol_cfg_t s;
        ks_sim_config_symbol_defaults(&cfg, bases[i], &s);
        memset(&p[i], 0, sizeof(p[i]));
        p[i].price = ks_dec_to_double(s.price);
        p[i].vol = s.vol;
        p[i].jumps_per_day = s.jumps_per_day;
        p[i].jump_std = s.jump_size;
        p[i].premium_mean = s.premium_mean;
        p[i].premium_vol = s.premium_vol;
        p[i].premium_half_life_h = s.premium_half_life_h;
        p[i].liq_bursts_per_day = s.liq_bursts_per_day;
        p[i].liq_impact = s.liq_impact;
        p[i].liq_usd = s.liq_usd;
        p[i].trades_per_s = s.trades_per_s;
        p[i].trade_usd = s.trade_usd;
        p[i].oi_usd = s.oi_usd;
        p[i].volume_usd = s.volume_usd;
        p[i].funding_interval_h = s.funding_interval_h;
        p[i].tick = s.tick;
        p[i].lot = s.lot;
    }
    ks_sim_market_config_t c = config(42);
    ks_sim_market_t *m = new_market(&c, p, 6);
    int positive = 0, total = 0, above3bp = 0, bursts = 0;
    double sum[6] = {0};
    for (int64_t t = T0 + SEC; t <= T0 + 72 * HOUR; t += SEC) {
        ks_sim_market_step(m, t);
        for (int i = 0; i < 6; i++) {
            const ks_sim_market_out_t *o = ks_sim_market_out(m, (uint32_t)i);
            bursts += o->n_liqs > 0;
            if (!o->settled)
                continue;
            double r = ks_dec_to_double(o->settle_rate);
            total++;
            positive += r > 0;
            above3bp += r > 0.0003;
            sum[i] += r;
        }
    }
    printf("  settlements %d, positive %d, above 0.03%% %d, liquidation steps %d\n", total,
           positive, above3bp, bursts);
    for (int i = 0; i < 6; i++)
        printf("  %-5s mean rate %.5f%%, final volume_24h %s, oi %s\n", bases[i], sum[i] / 9 * 100,
               F(ks_sim_market_out(m, (uint32_t)i)->perp_volume_24h),
               F(ks_sim_market_out(m, (uint32_t)i)->open_interest));
    assert_int_equal(total, 6 * 9);
    assert_true(positive * 10 >= total * 7);
    assert_true(above3bp >= 3);
    assert_true(above3bp * 2 < total);
    assert_true(sum[0] < sum[4]); /* BTC pays less than DOGE */
    assert_true(bursts > 20);
    /* The rolling 24 h volume stays near the configured turnover. */
    double v = ks_dec_to_double(ks_sim_market_out(m, 0)->perp_volume_24h);
    assert_true(v > 0.7 * p[0].volume_usd && v < 1.5 * p[0].volume_usd);
    ks_sim_market_free(m);
}

static void bad_parameters_are_refused(void **state)
{
    char err[KS_REASON_LEN];
    ks_sim_market_config_t c = config(1);
    ks_sim_market_params_t p = params();
    p.funding_interval_h = 5;
    assert_null(ks_sim_market_new(&c, &p, 1, T0, err, sizeof(err)));
    assert_non_null(strstr(err, "funding_interval_h"));
    p = params();
    p.price = -1;
    assert_int_equal(ks_sim_market_validate(&c, &p, 1, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "symbols[0]: price"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_path_other_seed_differs),
        cmocka_unit_test(bases_have_independent_paths),
        cmocka_unit_test(prices_and_sizes_are_tick_and_lot_multiples),
        cmocka_unit_test(oracle_is_the_mark_from_lag_ago),
        cmocka_unit_test(funding_rate_is_average_premium_plus_interest),
        cmocka_unit_test(funding_settles_exactly_at_each_boundary),
        cmocka_unit_test(funding_rate_is_capped_exactly),
        cmocka_unit_test(default_profiles_give_funding_arbitrage_something_to_find),
        cmocka_unit_test(bad_parameters_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
