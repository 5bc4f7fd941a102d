/* sim_config: the sim venue config (defaults, overrides, and one-line errors that name the
 * key). Its JSON reader, kestrel/json.h, is tested in tests/unit/test_json.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sim/sim_test_util.h"
#include "sim_config.h"

static void config_defaults_when_empty(void **state)
{
    ks_sim_config_t cfg;
    char err[KS_REASON_LEN];
    const char *empty[] = {NULL, "", "  \n", "{}", "null"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ks_sim_config_parse(empty[i], &cfg, err, sizeof(err)), KS_OK);
        assert_int_equal(cfg.seed, 42);
        assert_string_equal(cfg.quote, "USDT");
        assert_int_equal(cfg.tick_ms, 1000);
        assert_int_equal(cfg.funding_interval_h, 8);
        assert_dec_equal(cfg.funding_cap, D("0.0075"));
        assert_dec_equal(cfg.maker_fee, D("0.0002"));
        assert_dec_equal(cfg.taker_fee, D("0.00055"));
        assert_int_equal(cfg.latency_ms, 0);
        assert_int_equal(cfg.book_levels, 20);
        assert_int_equal(cfg.leverage, 10);
        assert_int_equal(cfg.oracle_lag_ms, 3000);
        assert_int_equal(cfg.n_symbols, 3);
        assert_string_equal(cfg.symbols[0].base, "BTC");
        assert_dec_equal(cfg.symbols[0].tick, D("0.1"));
        assert_dec_equal(cfg.symbols[0].lot, D("0.001"));
        assert_string_equal(cfg.symbols[1].base, "ETH");
        assert_dec_equal(cfg.symbols[1].tick, D("0.01"));
        assert_int_equal(cfg.n_spot, 1);
        assert_string_equal(cfg.spot[0].asset, "USDT");
        assert_dec_equal(cfg.spot[0].amount, D("100000"));
        assert_dec_equal(cfg.futures[0].amount, D("100000"));
    }
}

static void config_reads_the_documented_example(void **state)
{
    ks_sim_config_t cfg;
    char err[KS_REASON_LEN];
    const char *text =
        "{ \"seed\": 42, \"quote\": \"USDT\", \"tick_ms\": 250, \"funding_interval_h\": 8, "
        "\"funding_cap\": \"0.0075\", \"maker_fee\": \"0.0002\", \"taker_fee\": \"0.00055\", "
        "\"latency_ms\": 5, \"book_levels\": 10, \"leverage\": 5, \"oracle_lag_ms\": 3000, "
        "\"balances\": {\"spot\": {\"USDT\": \"100000\", \"BTC\": \"0.5\"}, "
        "\"futures\": {\"USDT\": \"2500.25\"}}, "
        "\"symbols\": [\"BTC\", \"ETH\", {\"base\": \"SOL\", \"price\": \"150\", \"vol\": 0.9, "
        "\"tick\": \"0.01\", \"lot\": \"0.01\", \"min_qty\": \"0.01\", \"min_notional\": \"5\", "
        "\"premium_mean\": 0.0003, \"funding_interval_h\": 4}, "
        "{\"base\": \"FOO\", \"price\": \"0.0123\"}] }";
    assert_int_equal(ks_sim_config_parse(text, &cfg, err, sizeof(err)), KS_OK);
    assert_int_equal(cfg.tick_ms, 250);
    assert_int_equal(cfg.latency_ms, 5);
    assert_int_equal(cfg.book_levels, 10);
    assert_int_equal(cfg.leverage, 5);
    assert_int_equal(cfg.n_spot, 2);
    assert_string_equal(cfg.spot[1].asset, "BTC");
    assert_dec_equal(cfg.spot[1].amount, D("0.5"));
    assert_dec_equal(cfg.futures[0].amount, D("2500.25"));
    assert_int_equal(cfg.n_symbols, 4);
    const ks_sim_symbol_cfg_t *sol = &cfg.symbols[2];
    assert_string_equal(sol->base, "SOL");
    assert_dec_equal(sol->lot, D("0.01"));
    assert_true(sol->vol == 0.9);
    assert_true(sol->premium_mean == 0.0003);
    assert_int_equal(sol->funding_interval_h, 4);
    assert_int_equal(cfg.symbols[0].funding_interval_h, 8);
    /* An unknown base gets a tick near 1 bp of its price and a lot worth < 1 quote. */
    const ks_sim_symbol_cfg_t *foo = &cfg.symbols[3];
    assert_dec_equal(foo->tick, D("0.000001"));
    assert_dec_equal(foo->lot, D("10"));
    assert_dec_equal(foo->min_qty, D("10"));
}

static void config_errors_name_the_key(void **state)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"symbols\": [\"BTC\", \"ETH\", {\"base\": \"SOL\", \"price\": true}]}",
         "symbols[2].price: expected a decimal string"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"price\": \"abc\"}]}",
         "symbols[0].price: expected a decimal string"},
        {"{\"symbols\": [{\"price\": \"1\"}]}", "symbols[0].base: required"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"colour\": 1}]}", "symbols[0].colour: unknown key"},
        {"{\"symbols\": [\"btc\"]}", "symbols[0]: expected upper-case letters and digits"},
        {"{\"symbols\": [\"BTC\", \"BTC\"]}", "symbols[1]: duplicate base BTC"},
        {"{\"symbols\": [\"USDT\"]}", "symbols[0]: base USDT is the quote asset"},
        {"{\"symbols\": []}", "symbols: expected a non-empty array"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"tick\": \"0.0000001\", \"lot\": \"0.01\"}]}",
         "symbols[0].tick: tick and lot together may have at most 8 decimal places"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"lot\": \"0.1\", \"min_qty\": \"0.15\"}]}",
         "symbols[0].min_qty: must be a multiple of the lot size"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"price\": \"0.5\", \"tick\": \"0.01\"}]}",
         "symbols[0].price: must be at least 100 ticks"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"vol\": \"fast\"}]}",
         "symbols[0].vol: expected a number in [0, 10]"},
        {"{\"symbols\": [{\"base\": \"SOL\", \"funding_interval_h\": 5}]}",
         "symbols[0].funding_interval_h: must divide 24"},
        {"{\"tick_ms\": 0}", "tick_ms: expected an integer in [1, 3600000]"},
        {"{\"tick_ms\": 2.5}", "tick_ms: expected an integer"},
        {"{\"seed\": -1}", "seed: expected an integer"},
        {"{\"seed\": \"x\"}", "seed: expected an integer"},
        {"{\"funding_cap\": \"0.5\"}", "funding_cap: expected a decimal in [0, 0.1]"},
        {"{\"maker_fee\": \"0.000000001\"}", "maker_fee: at most 8 decimal places"},
        {"{\"maker_fee\": \"0.001\", \"taker_fee\": \"0.0005\"}",
         "maker_fee: must not exceed taker_fee"},
        {"{\"funding_interval_h\": 7}", "funding_interval_h: must divide 24"},
        {"{\"leverage\": 60}", "leverage: expected an integer in [1, 50]"},
        {"{\"book_levels\": 51}", "book_levels: expected an integer in [1, 50]"},
        {"{\"latency_ms\": -1}", "latency_ms: expected an integer in [0, 60000]"},
        {"{\"quote\": \"\"}", "quote: expected an asset name"},
        {"{\"frobnicate\": 1}", "frobnicate: unknown key"},
        {"{\"balances\": {\"spot\": {\"USDT\": \"-1\"}}}",
         "balances.spot.USDT: expected a decimal in [0, 10000000000]"},
        {"{\"balances\": {\"futures\": {\"BTC\": \"1\"}}}",
         "balances.futures.BTC: the futures wallet holds only USDT"},
        {"{\"balances\": {\"margin\": {}}}", "balances.margin: unknown key"},
        {"{\"balances\": []}", "balances: expected an object"},
        {"[1]", "config: expected an object, got array"},
        {"{\"seed\": 1,}", "config: invalid JSON at byte 11: expected a string key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ks_sim_config_t cfg;
        char err[KS_REASON_LEN] = "";
        assert_int_equal(ks_sim_config_parse(cases[i].json, &cfg, err, sizeof(err)), KS_EINVAL);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("%s\n  got  \"%s\"\n  want \"%s...\"", cases[i].json, err, cases[i].want);
        assert_null(strchr(err, '\n'));
    }
}

static void absent_wallet_in_balances_is_empty(void **state)
{
    ks_sim_config_t cfg;
    char err[KS_REASON_LEN];
    assert_int_equal(
        ks_sim_config_parse("{\"balances\": {\"spot\": {\"ETH\": 2}}}", &cfg, err, sizeof(err)),
        KS_OK);
    assert_int_equal(cfg.n_spot, 1);
    assert_string_equal(cfg.spot[0].asset, "ETH");
    assert_dec_equal(cfg.spot[0].amount, D("2"));
    assert_int_equal(cfg.n_futures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults_when_empty),
        cmocka_unit_test(config_reads_the_documented_example),
        cmocka_unit_test(config_errors_name_the_key),
        cmocka_unit_test(absent_wallet_in_balances_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
