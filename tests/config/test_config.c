/* The config loader: every field and default, path resolution against the file's
 * directory, and the exact one-line message of each kind of error. JSON in this file is
 * written with single quotes for readability; write_config() turns them into double
 * quotes. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <kestrel/kestrel.h>

#include "config.h"
#include "log.h"

typedef struct fixture {
    char dir[PATH_MAX]; /* real path of the temp dir */
    char conf[PATH_MAX + 16];
    char err[512];
    char want[2 * PATH_MAX];
    ks_config_t *cfg;
} fixture_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Writes text (single quotes become double quotes when json) to dir/rel, creating the
 * parent directories. */
static void write_file(fixture_t *f, const char *rel, const char *text, bool json)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
    for (char *s = path + strlen(f->dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
    FILE *fp = fopen(path, "w");
    if (!fp)
        fail_msg("cannot write %s", path);
    for (const char *s = text; *s; s++)
        fputc(json && *s == '\'' ? '"' : *s, fp);
    fclose(fp);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char tmpl[] = "/tmp/ks_config_XXXXXX";
    assert_non_null(f);
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    snprintf(f->conf, sizeof(f->conf), "%s/kestrel.json", f->dir);
    write_file(f, "strategies/demo.lua", "function on_start(ctx) end\n", false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ks_config_free(f->cfg);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Writes json as dir/kestrel.json and loads it; the result (or NULL) replaces f->cfg. */
static ks_config_t *load(fixture_t *f, const char *json)
{
    write_file(f, "kestrel.json", json, true);
    f->err[0] = '\0';
    ks_config_free(f->cfg);
    f->cfg = ks_config_load(f->conf, f->err, sizeof(f->err));
    return f->cfg;
}

static ks_config_t *load_ok(fixture_t *f, const char *json)
{
    if (!load(f, json))
        fail_msg("ks_config_load: %s", f->err);
    return f->cfg;
}

/* The loader refuses json with exactly the message want. */
static void expect_error(fixture_t *f, const char *json, const char *want)
{
    if (load(f, json))
        fail_msg("accepted, expected \"%s\"", want);
    assert_string_equal(f->err, want);
}

/* A minimal valid config with extra fields spliced into strategy "demo". */
static const char *with_demo(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{'venues': {'sim': {}}, 'strategies': {'demo': {'file': 'strategies/demo.lua',"
             " 'venue': 'sim'%s%s}}}",
             *extra ? ", " : "", extra);
    return buf;
}

/* ---- valid configs ------------------------------------------------------------------ */

static void full_config_round_trips_every_field(void **state)
{
    fixture_t *f = *state;
    char want[PATH_MAX + 64];
    ks_config_t *c = load_ok(
        f, "{\n"
           "  'state_dir': 'state',\n"
           "  'plugin_path': ['../build/plugins', '/opt/kestrel/plugins'],\n"
           "  'log': {'level': 'debug', 'format': 'json'},\n"
           "  'venues': {\n"
           "    'sim': {'plugin': 'sim', 'config': {'seed': 7, 'fees': {'maker': '0.0002'}}},\n"
           "    'bybit_main': {'plugin': 'bybit', 'config': {'testnet': true}}\n"
           "  },\n"
           "  'risk': [\n"
           "    {'plugin': 'risk_limits', 'name': 'limits', 'config': {'max_open': 3}},\n"
           "    {'plugin': 'risk_drawdown'}\n"
           "  ],\n"
           "  'strategies': {\n"
           "    'demo': {\n"
           "      'enabled': false, 'file': 'strategies/demo.lua', 'venue': 'bybit_main',\n"
           "      'symbols': ['BTC/USDT:USDT', 'ETH/USDT', 'XYZ-TSLA/USDC:USDC'],\n"
           "      'params': {'notional': 100, 'legs': ['a', 'b'], 'nested': {'x': null}},\n"
           "      'capital': '10000.50', 'mode': 'paper', 'on_disable': 'flatten',\n"
           "      'jit': false, 'memory_mb': 128, 'instruction_budget': 5000000,\n"
           "      'max_errors': 3, 'error_window_s': 30\n"
           "    }\n"
           "  },\n"
           "  'run': {'status_interval_s': 2.5},\n"
           "  'backtest': {'days': 7, 'start': '2025-06-30T12:00:00Z'}\n"
           "}\n");
    assert_string_equal(c->path, f->conf);
    assert_string_equal(c->base_dir, f->dir);
    snprintf(want, sizeof(want), "%s/state", f->dir);
    assert_string_equal(c->state_dir, want);
    assert_int_equal(c->n_plugin_path, 2);
    char *parent = strdup(f->dir);
    *strrchr(parent, '/') = '\0';
    snprintf(want, sizeof(want), "%s/build/plugins", parent);
    free(parent);
    assert_string_equal(c->plugin_path[0], want);
    assert_string_equal(c->plugin_path[1], "/opt/kestrel/plugins");
    assert_int_equal(c->log_level, KS_LOG_DEBUG);
    assert_int_equal(c->log_format, KS_LOGF_JSON);

    assert_int_equal(c->n_venues, 2);
    assert_string_equal(c->venues[0].name, "sim");
    assert_string_equal(c->venues[0].plugin, "sim");
    assert_string_equal(c->venues[0].config_json, "{\"seed\":7,\"fees\":{\"maker\":\"0.0002\"}}");
    assert_string_equal(c->venues[1].name, "bybit_main");
    assert_string_equal(c->venues[1].plugin, "bybit");
    assert_string_equal(c->venues[1].config_json, "{\"testnet\":true}");
    assert_ptr_equal(ks_config_venue(c, "bybit_main"), &c->venues[1]);
    assert_null(ks_config_venue(c, "bybit"));

    assert_int_equal(c->n_risk, 2);
    assert_string_equal(c->risk[0].plugin, "risk_limits");
    assert_string_equal(c->risk[0].name, "limits");
    assert_string_equal(c->risk[0].config_json, "{\"max_open\":3}");
    assert_string_equal(c->risk[1].plugin, "risk_drawdown");
    assert_string_equal(c->risk[1].name, "risk_drawdown");
    assert_string_equal(c->risk[1].config_json, "{}");

    assert_int_equal(c->n_strategies, 1);
    const ks_strategy_cfg_t *s = ks_config_strategy(c, "demo");
    assert_non_null(s);
    assert_string_equal(s->name, "demo");
    assert_false(s->enabled);
    snprintf(want, sizeof(want), "%s/strategies/demo.lua", f->dir);
    assert_string_equal(s->file, want);
    assert_string_equal(s->venue, "bybit_main");
    assert_int_equal(s->n_symbols, 3);
    assert_string_equal(s->symbols[0], "BTC/USDT:USDT");
    assert_string_equal(s->symbols[1], "ETH/USDT");
    assert_string_equal(s->symbols[2], "XYZ-TSLA/USDC:USDC");
    assert_string_equal(s->params_json,
                        "{\"notional\":100,\"legs\":[\"a\",\"b\"],\"nested\":{\"x\":null}}");
    assert_string_equal(s->capital, "10000.5");
    assert_int_equal(s->mode, KS_MODE_PAPER);
    assert_int_equal(s->on_disable, KS_ON_DISABLE_FLATTEN);
    assert_false(s->jit);
    assert_int_equal(s->memory_limit, 128 * 1024 * 1024);
    assert_int_equal(s->instruction_budget, 5000000);
    assert_int_equal(s->max_errors, 3);
    assert_int_equal(s->error_window_s, 30);
    assert_null(ks_config_strategy(c, "other"));

    assert_int_equal(c->status_interval_ms, 2500);
    assert_int_equal(c->backtest_days, 7);
    assert_int_equal(c->backtest_start_ns, INT64_C(1751284800) * 1000000000);
}

static void absent_keys_take_their_defaults(void **state)
{
    fixture_t *f = *state;
    ks_config_t *c = load_ok(f, with_demo(""));
    assert_null(c->state_dir);
    assert_int_equal(c->n_plugin_path, 0);
    assert_int_equal(c->log_level, KS_LOG_INFO);
    assert_int_equal(c->log_format, -1);
    assert_string_equal(c->venues[0].plugin, "sim");
    assert_string_equal(c->venues[0].config_json, "{}");
    assert_int_equal(c->n_risk, 0);
    const ks_strategy_cfg_t *s = &c->strategies[0];
    assert_true(s->enabled);
    assert_int_equal(s->n_symbols, 0);
    assert_string_equal(s->params_json, "{}");
    assert_null(s->capital);
    assert_int_equal(s->mode, KS_MODE_LIVE);
    assert_int_equal(s->on_disable, KS_ON_DISABLE_CANCEL);
    assert_false(s->jit);
    assert_int_equal(s->memory_limit, 64 * 1024 * 1024);
    assert_int_equal(s->instruction_budget, 10000000);
    assert_int_equal(s->max_errors, 10);
    assert_int_equal(s->error_window_s, 60);
    assert_int_equal(c->status_interval_ms, 5000);
    assert_int_equal(c->backtest_days, 3);
    assert_int_equal(c->backtest_start_ns, INT64_C(1767225600) * 1000000000);
}

static void empty_strategies_object_is_valid(void **state)
{
    fixture_t *f = *state;
    ks_config_t *c = load_ok(f, "{'venues': {'sim': {}}, 'strategies': {}}");
    assert_int_equal(c->n_strategies, 0);
}

static void relative_paths_resolve_against_the_config_directory(void **state)
{
    fixture_t *f = *state;
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    write_file(f, "conf/kestrel.json",
               "{'state_dir': './var//state/../db', 'plugin_path': ['plugins', '/abs/./p/'],"
               " 'venues': {'sim': {}}, 'strategies': {'demo': {'file':"
               " '../strategies/./demo.lua', 'venue': 'sim'}}}",
               true);
    /* Load through a relative path from another directory. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    f->cfg = ks_config_load("conf/kestrel.json", f->err, sizeof(f->err));
    assert_int_equal(chdir(cwd), 0);
    if (!f->cfg)
        fail_msg("ks_config_load: %s", f->err);
    assert_string_equal(f->cfg->path, "conf/kestrel.json");
    snprintf(want, sizeof(want), "%s/conf", f->dir);
    assert_string_equal(f->cfg->base_dir, want);
    snprintf(want, sizeof(want), "%s/conf/var/db", f->dir);
    assert_string_equal(f->cfg->state_dir, want);
    snprintf(want, sizeof(want), "%s/conf/plugins", f->dir);
    assert_string_equal(f->cfg->plugin_path[0], want);
    assert_string_equal(f->cfg->plugin_path[1], "/abs/p");
    snprintf(want, sizeof(want), "%s/strategies/demo.lua", f->dir);
    assert_string_equal(f->cfg->strategies[0].file, want);
}

static void parse_from_text_resolves_against_the_given_base_dir(void **state)
{
    fixture_t *f = *state;
    char err[256], want[PATH_MAX + 64];
    f->cfg = ks_config_parse("{\"venues\": {\"sim\": {}}, \"strategies\": {\"demo\": {\"file\":"
                             " \"strategies/demo.lua\", \"venue\": \"sim\"}}}",
                             f->dir, err, sizeof(err));
    if (!f->cfg)
        fail_msg("ks_config_parse: %s", err);
    assert_null(f->cfg->path);
    assert_string_equal(f->cfg->base_dir, f->dir);
    snprintf(want, sizeof(want), "%s/strategies/demo.lua", f->dir);
    assert_string_equal(f->cfg->strategies[0].file, want);
}

static void capital_accepts_decimal_strings_and_numbers(void **state)
{
    fixture_t *f = *state;
    assert_string_equal(
        load_ok(f, with_demo("'capital': '0.000000000000000001'"))->strategies[0].capital,
        "0.000000000000000001");
    assert_string_equal(load_ok(f, with_demo("'capital': 10000.1"))->strategies[0].capital,
                        "10000.1");
    assert_string_equal(load_ok(f, with_demo("'capital': 0"))->strategies[0].capital, "0");
}

static void backtest_start_accepts_dates_offsets_and_fractions(void **state)
{
    fixture_t *f = *state;
    const struct {
        const char *text;
        int64_t ns;
    } cases[] = {
        {"2026-01-01", INT64_C(1767225600) * 1000000000},
        {"2026-01-01T08:00:00+08:00", INT64_C(1767225600) * 1000000000},
        {"2025-12-31T19:00:00-05:00", INT64_C(1767225600) * 1000000000},
        {"2026-01-01T00:00:00.25Z", INT64_C(1767225600) * 1000000000 + 250000000},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800) * 1000000000},
        {"1970-01-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{'venues': {'sim': {}}, 'strategies': {}, 'backtest': {'start': '%s'}}",
                 cases[i].text);
        assert_int_equal(load_ok(f, json)->backtest_start_ns, cases[i].ns);
    }
}

static void params_matching_declared_defaults_pass_the_type_check(void **state)
{
    fixture_t *f = *state;
    char err[256] = "";
    ks_config_t *c = load_ok(f, with_demo("'params': {'notional': 100, 'side': 'long',"
                                          " 'extra': true, 'opts': {'a': 1}}"));
    assert_int_equal(ks_config_check_params(&c->strategies[0],
                                            "{\"notional\": 50, \"side\": \"short\","
                                            " \"opts\": {\"a\": 2, \"b\": 3}, \"x\": null}",
                                            err, sizeof(err)),
                     KS_OK);
    assert_string_equal(err, "");
}

static void names_of_modes_and_disable_policies(void **state)
{
    assert_string_equal(ks_strategy_mode_name(KS_MODE_LIVE), "live");
    assert_string_equal(ks_strategy_mode_name(KS_MODE_PAPER), "paper");
    assert_string_equal(ks_strategy_mode_name(KS_MODE_OBSERVER), "observer");
    assert_string_equal(ks_on_disable_name(KS_ON_DISABLE_HOLD), "hold");
    assert_string_equal(ks_on_disable_name(KS_ON_DISABLE_CANCEL), "cancel");
    assert_string_equal(ks_on_disable_name(KS_ON_DISABLE_FLATTEN), "flatten");
}

/* ---- one-line errors ----------------------------------------------------------------- */

static void wrong_type_names_the_key_path_and_both_types(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'venues': {'sim': {'plugin': 5}}, 'strategies': {}}",
                 "venues.sim.plugin: expected string, got number");
    expect_error(f, with_demo("'enabled': 'yes'"),
                 "strategies.demo.enabled: expected boolean, got string");
    expect_error(f, with_demo("'params': []"),
                 "strategies.demo.params: expected object, got array");
    expect_error(f, "{'venues': {'sim': {'config': 'x'}}, 'strategies': {}}",
                 "venues.sim.config: expected object, got string");
    expect_error(f, "{'venues': [], 'strategies': {}}", "venues: expected object, got array");
}

static void param_of_the_wrong_type_is_reported_against_declared_defaults(void **state)
{
    fixture_t *f = *state;
    char err[256];
    ks_config_t *c = load(f, "{'venues': {'sim': {}}, 'strategies': {'carry': {'file':"
                             " 'strategies/demo.lua', 'venue': 'sim', 'params': {'notional':"
                             " '100'}}}}");
    assert_non_null(c);
    assert_int_equal(
        ks_config_check_params(&c->strategies[0], "{\"notional\": 100}", err, sizeof(err)),
        KS_EINVAL);
    assert_string_equal(err, "strategies.carry.params.notional: expected number, got string");
}

static void nested_param_of_the_wrong_type_names_the_full_path(void **state)
{
    fixture_t *f = *state;
    char err[256];
    ks_config_t *c = load_ok(f, with_demo("'params': {'legs': {'spot': {'size': true}}}"));
    assert_int_equal(ks_config_check_params(&c->strategies[0],
                                            "{\"legs\": {\"spot\": {\"size\": 1.5}}}", err,
                                            sizeof(err)),
                     KS_EINVAL);
    assert_string_equal(err, "strategies.demo.params.legs.spot.size: expected number, got boolean");
}

static void value_outside_a_choice_lists_the_choices(void **state)
{
    fixture_t *f = *state;
    expect_error(f, with_demo("'mode': 'yolo'"),
                 "strategies.demo.mode: expected one of live, paper, observer, got \"yolo\"");
    expect_error(
        f, with_demo("'on_disable': 'panic'"),
        "strategies.demo.on_disable: expected one of hold, cancel, flatten, got \"panic\"");
    expect_error(f, "{'log': {'level': 'loud'}, 'venues': {'sim': {}}, 'strategies': {}}",
                 "log.level: expected one of debug, info, warn, error, got \"loud\"");
    expect_error(f, "{'log': {'format': 1}, 'venues': {'sim': {}}, 'strategies': {}}",
                 "log.format: expected one of text, json, got number");
}

static void unknown_venue_lists_the_configured_venues(void **state)
{
    fixture_t *f = *state;
    /* The strategy comes first in the file: the reference is checked after all venues. */
    expect_error(f,
                 "{'strategies': {'demo': {'file': 'strategies/demo.lua', 'venue': 'bybit'}},"
                 " 'venues': {'sim': {}, 'binance': {}}}",
                 "strategies.demo.venue: unknown venue \"bybit\" (configured: sim, binance)");
}

static void shared_rate_limits_name_a_configured_group(void **state)
{
    fixture_t *f = *state;
    ks_config_t *c = load_ok(f, "{'rate_limit_groups': {'ip': {'requests': 1200, 'per_s': 60}},"
                                " 'venues': {'a': {'rate_limit': {'shared': 'ip'}},"
                                "  'b': {'rate_limit': {'requests': 10, 'shared': 'ip'}}},"
                                " 'strategies': {}}");
    assert_int_equal(c->n_rl_groups, 1);
    assert_string_equal(c->rl_groups[0].name, "ip");
    assert_int_equal(c->rl_groups[0].rl.requests, 1200);
    assert_int_equal(c->rl_groups[0].rl.window_ms, 60000);
    assert_int_equal(c->venues[0].rl.requests, 0);
    assert_string_equal(c->venues[0].rl_shared, "ip");
    assert_int_equal(c->venues[1].rl.requests, 10);
    assert_int_equal(c->venues[1].rl.window_ms, 1000);
    expect_error(f,
                 "{'rate_limit_groups': {'ip': {'requests': 5}},"
                 " 'venues': {'a': {'rate_limit': {'shared': 'acct'}}}, 'strategies': {}}",
                 "venues.a.rate_limit.shared: unknown rate-limit group \"acct\" "
                 "(rate_limit_groups: ip)");
    expect_error(f, "{'venues': {'a': {'rate_limit': {'per_s': 2}}}, 'strategies': {}}",
                 "venues.a.rate_limit: expected \"requests\" or \"shared\"");
    expect_error(f,
                 "{'rate_limit_groups': {'ip': {'per_s': 5}}, 'venues': {'a': {}},"
                 " 'strategies': {}}",
                 "rate_limit_groups.ip.requests: required key missing");
}

static void missing_strategy_file_names_the_resolved_path(void **state)
{
    fixture_t *f = *state;
    snprintf(f->want, sizeof(f->want),
             "strategies.demo.file: cannot read %s/x.lua: No such file or directory", f->dir);
    expect_error(f,
                 "{'venues': {'sim': {}}, 'strategies': {'demo': {'file': 'strategies/../x.lua',"
                 " 'venue': 'sim'}}}",
                 f->want);
}

static void strategy_file_that_is_a_directory_is_refused(void **state)
{
    fixture_t *f = *state;
    snprintf(f->want, sizeof(f->want),
             "strategies.demo.file: cannot read %s/strategies: Is a "
             "directory",
             f->dir);
    expect_error(f,
                 "{'venues': {'sim': {}}, 'strategies': {'demo': {'file': 'strategies',"
                 " 'venue': 'sim'}}}",
                 f->want);
}

static void unknown_top_level_key_is_an_error(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'foo': 1}", "foo: unknown key");
}

static void unknown_keys_are_errors_at_every_depth(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'log': {'colour': 'red'}, 'venues': {'sim': {}}, 'strategies': {}}",
                 "log.colour: unknown key");
    expect_error(f, "{'venues': {'sim': {'plugn': 'sim'}}, 'strategies': {}}",
                 "venues.sim.plugn: unknown key");
    expect_error(f, with_demo("'param': {}"), "strategies.demo.param: unknown key");
    expect_error(f,
                 "{'venues': {'sim': {}}, 'strategies': {}, 'risk': [{'plugin': 'r'},"
                 " {'plugin': 'q', 'nmae': 'x'}]}",
                 "risk[1].nmae: unknown key");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'run': {'status_interval': 5}}",
                 "run.status_interval: unknown key");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'backtest': {'Days': 5}}",
                 "backtest.Days: unknown key");
}

static void keys_inside_params_and_plugin_config_are_not_checked(void **state)
{
    fixture_t *f = *state;
    ks_config_t *c = load_ok(f, "{'venues': {'sim': {'config': {'anything': {'deep': [1]}}}},"
                                " 'risk': [{'plugin': 'r', 'config': {'whatever': 1}}],"
                                " 'strategies': {'demo': {'file': 'strategies/demo.lua',"
                                " 'venue': 'sim', 'params': {'free': {'form': true}}}}}");
    assert_string_equal(c->venues[0].config_json, "{\"anything\":{\"deep\":[1]}}");
    assert_string_equal(c->risk[0].config_json, "{\"whatever\":1}");
    assert_string_equal(c->strategies[0].params_json, "{\"free\":{\"form\":true}}");
}

static void keys_are_case_sensitive(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'Venues': {'sim': {}}, 'strategies': {}}", "Venues: unknown key");
}

static void duplicate_keys_are_errors(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'venues': {'sim': {}, 'sim': {}}, 'strategies': {}}",
                 "venues.sim: duplicate key");
    expect_error(f, with_demo("'mode': 'live', 'mode': 'paper'"),
                 "strategies.demo.mode: duplicate key");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'venues': {'x': {}}}",
                 "venues: duplicate key");
}

static void invalid_json_reports_file_line_and_column(void **state)
{
    fixture_t *f = *state;
    snprintf(f->want, sizeof(f->want), "%s: invalid JSON near line 3 column 3", f->conf);
    expect_error(f, "{\n  'venues': {'sim': {}},\n  }\n", f->want);
    snprintf(f->want, sizeof(f->want), "%s: invalid JSON near line 1 column 1", f->conf);
    expect_error(f, "", f->want);
    snprintf(f->want, sizeof(f->want), "%s: invalid JSON near line 2 column 16", f->conf);
    expect_error(f, "{'venues': {},\n 'strategies': nope}", f->want);
    snprintf(f->want, sizeof(f->want), "%s: invalid JSON near line 1 column 15", f->conf);
    expect_error(f, "{'venues': {} 'strategies': {}}", f->want);
}

static void top_level_must_be_an_object(void **state)
{
    fixture_t *f = *state;
    snprintf(f->want, sizeof(f->want), "%s: expected object, got array", f->conf);
    expect_error(f, "[]", f->want);
}

static void unreadable_config_file_names_the_file(void **state)
{
    fixture_t *f = *state;
    char err[256], path[PATH_MAX + 32], want[PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/missing.json", f->dir);
    assert_null(ks_config_load(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);
}

static void required_keys_are_reported_when_missing(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'strategies': {}}", "venues: required key missing");
    expect_error(f, "{'venues': {'sim': {}}}", "strategies: required key missing");
    expect_error(f, "{'venues': {}, 'strategies': {}}",
                 "venues: expected at least one venue, got an empty object");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {'demo': {'venue': 'sim'}}}",
                 "strategies.demo.file: required key missing");
    expect_error(f,
                 "{'venues': {'sim': {}}, 'strategies': {'demo': {'file':"
                 " 'strategies/demo.lua'}}}",
                 "strategies.demo.venue: required key missing");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'risk': [{'name': 'x'}]}",
                 "risk[0].plugin: required key missing");
}

static void jit_true_is_refused_with_the_reason(void **state)
{
    fixture_t *f = *state;
    expect_error(f, with_demo("'jit': true"),
                 "strategies.demo.jit: JIT is refused for now: the instruction-budget hook never "
                 "fires inside JIT-compiled traces, so a runaway loop could not be stopped (see "
                 "docs/strategies.md)");
}

static void strategy_names_must_fit_client_order_ids(void **state)
{
    fixture_t *f = *state;
    const char *want_tail = ": expected a strategy name of 1 to 24 letters, digits or '_' (it "
                            "prefixes client order ids)";
    snprintf(f->want, sizeof(f->want), "strategies.my-strat%s", want_tail);
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {'my-strat': {}}}", f->want);
    snprintf(f->want, sizeof(f->want), "strategies.abcdefghijklmnopqrstuvwxy%s", want_tail);
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {'abcdefghijklmnopqrstuvwxy': {}}}",
                 f->want);
    ks_config_t *c = load_ok(f, "{'venues': {'sim': {}}, 'strategies': {"
                                "'Carry_2x_abcdefghijklmno': {'file': 'strategies/demo.lua',"
                                " 'venue': 'sim'}}}");
    assert_string_equal(c->strategies[0].name, "Carry_2x_abcdefghijklmno");
}

static void symbols_must_be_unified_symbols(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {
        "BTCUSDT", "BTC/", "/USDT", "BTC/USDT:", "BTC:USDT/USDT", "BTC/USDT/X", "BTC /USDT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char extra[128], want[256];
        snprintf(extra, sizeof(extra), "'symbols': ['ETH/USDT', '%s']", bad[i]);
        snprintf(want, sizeof(want),
                 "strategies.demo.symbols[1]: expected a symbol like BTC/USDT or BTC/USDT:USDT, "
                 "got \"%s\"",
                 bad[i]);
        expect_error(f, with_demo(extra), want);
    }
    expect_error(f, with_demo("'symbols': [1]"),
                 "strategies.demo.symbols[0]: expected a symbol like BTC/USDT or BTC/USDT:USDT, "
                 "got number");
    expect_error(f, with_demo("'symbols': ['ETH/USDT', 'ETH/USDT']"),
                 "strategies.demo.symbols[1]: duplicate symbol \"ETH/USDT\"");
}

static void counts_and_sizes_must_be_positive_integers(void **state)
{
    fixture_t *f = *state;
    expect_error(f, with_demo("'memory_mb': 0"),
                 "strategies.demo.memory_mb: expected a positive integer, got 0");
    expect_error(f, with_demo("'memory_mb': -64"),
                 "strategies.demo.memory_mb: expected a positive integer, got -64");
    expect_error(f, with_demo("'memory_mb': 1.5"),
                 "strategies.demo.memory_mb: expected a positive integer, got 1.5");
    expect_error(f, with_demo("'memory_mb': '64'"),
                 "strategies.demo.memory_mb: expected a positive integer, got string");
    expect_error(f, with_demo("'memory_mb': 2000000"),
                 "strategies.demo.memory_mb: expected an integer no greater than 1048576, got "
                 "2000000");
    expect_error(f, with_demo("'instruction_budget': 0"),
                 "strategies.demo.instruction_budget: expected a positive integer, got 0");
    expect_error(f, with_demo("'max_errors': 0"),
                 "strategies.demo.max_errors: expected a positive integer, got 0");
    expect_error(f, with_demo("'error_window_s': -1"),
                 "strategies.demo.error_window_s: expected a positive integer, got -1");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'backtest': {'days': 0}}",
                 "backtest.days: expected a positive integer, got 0");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'run': {'status_interval_s': 0}}",
                 "run.status_interval_s: expected a number of seconds from 0.001 to 86400, got 0");
}

static void capital_must_be_a_non_negative_decimal(void **state)
{
    fixture_t *f = *state;
    expect_error(f, with_demo("'capital': 'lots'"),
                 "strategies.demo.capital: expected a non-negative decimal amount, got \"lots\"");
    expect_error(f, with_demo("'capital': -5"),
                 "strategies.demo.capital: expected a non-negative decimal amount, got -5");
    expect_error(f, with_demo("'capital': true"),
                 "strategies.demo.capital: expected a non-negative decimal amount, got boolean");
}

static void backtest_start_must_be_a_time(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {"yesterday",           "2026-13-01",
                         "2026-02-29",          "2026-01-01T24:00:00Z",
                         "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
                         "2300-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[256], want[256];
        snprintf(json, sizeof(json),
                 "{'venues': {'sim': {}}, 'strategies': {}, 'backtest': {'start': '%s'}}", bad[i]);
        snprintf(want, sizeof(want),
                 "backtest.start: expected an RFC 3339 time like 2026-01-01T00:00:00Z, got \"%s\"",
                 bad[i]);
        expect_error(f, json, want);
    }
}

static void plugin_names_cannot_be_paths(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'venues': {'sim': {'plugin': '../../tmp/evil'}}, 'strategies': {}}",
                 "venues.sim.plugin: expected a name of 1 to 63 letters, digits, '_' or '-', got "
                 "\"../../tmp/evil\"");
    expect_error(f, "{'venues': {'s/m': {}}, 'strategies': {}}",
                 "venues.s/m: expected a venue name of 1 to 63 letters, digits, '_' or '-'");
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'risk': [{'plugin': 'a.so'}]}",
                 "risk[0].plugin: expected a name of 1 to 63 letters, digits, '_' or '-', got "
                 "\"a.so\"");
}

static void risk_module_names_must_be_unique(void **state)
{
    fixture_t *f = *state;
    expect_error(f,
                 "{'venues': {'sim': {}}, 'strategies': {}, 'risk': [{'plugin': 'limits'},"
                 " {'plugin': 'other', 'name': 'limits'}]}",
                 "risk[1].name: duplicate risk module name \"limits\" (also risk[0])");
}

static void long_values_are_shortened_in_messages(void **state)
{
    fixture_t *f = *state;
    char extra[256];
    snprintf(extra, sizeof(extra), "'mode': '%s'",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect_error(f, with_demo(extra),
                 "strategies.demo.mode: expected one of live, paper, observer, got "
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...");
}

static void messages_stay_on_one_line(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'venues': {'sim': {}}, 'strategies': {}, 'bad\\nkey': 1}",
                 "bad?key: unknown key");
    expect_error(f, with_demo("'mode': 'a\\nb'"),
                 "strategies.demo.mode: expected one of live, paper, observer, got \"a\\nb\"");
}

static void first_error_in_document_order_wins(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "{'log': {'level': 'x'}, 'venues': {'sim': {'plugin': 1}}, 'strategies': 2}",
                 "log.level: expected one of debug, info, warn, error, got \"x\"");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(full_config_round_trips_every_field),
        T(absent_keys_take_their_defaults),
        T(empty_strategies_object_is_valid),
        T(relative_paths_resolve_against_the_config_directory),
        T(parse_from_text_resolves_against_the_given_base_dir),
        T(capital_accepts_decimal_strings_and_numbers),
        T(backtest_start_accepts_dates_offsets_and_fractions),
        T(params_matching_declared_defaults_pass_the_type_check),
        T(names_of_modes_and_disable_policies),
        T(wrong_type_names_the_key_path_and_both_types),
        T(param_of_the_wrong_type_is_reported_against_declared_defaults),
        T(nested_param_of_the_wrong_type_names_the_full_path),
        T(value_outside_a_choice_lists_the_choices),
        T(unknown_venue_lists_the_configured_venues),
        T(shared_rate_limits_name_a_configured_group),
        T(missing_strategy_file_names_the_resolved_path),
        T(strategy_file_that_is_a_directory_is_refused),
        T(unknown_top_level_key_is_an_error),
        T(unknown_keys_are_errors_at_every_depth),
        T(keys_inside_params_and_plugin_config_are_not_checked),
        T(keys_are_case_sensitive),
        T(duplicate_keys_are_errors),
        T(invalid_json_reports_file_line_and_column),
        T(top_level_must_be_an_object),
        T(unreadable_config_file_names_the_file),
        T(required_keys_are_reported_when_missing),
        T(jit_true_is_refused_with_the_reason),
        T(strategy_names_must_fit_client_order_ids),
        T(symbols_must_be_unified_symbols),
        T(counts_and_sizes_must_be_positive_integers),
        T(capital_must_be_a_non_negative_decimal),
        T(backtest_start_must_be_a_time),
        T(plugin_names_cannot_be_paths),
        T(risk_module_names_must_be_unique),
        T(long_values_are_shortened_in_messages),
        T(messages_stay_on_one_line),
        T(first_error_in_document_order_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
