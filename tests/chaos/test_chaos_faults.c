/* The sim venue's injected faults, one at a time, and what the host does about each:
 * through the real engine on a virtual clock (backtest), with a small strategy. The soak
 * test runs them all together; these pin down one behaviour each. */
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

#include "config.h"
#include "engine.h"
#include "legs.h"
#include "log.h"
#include "sim_config.h"

#define NS 1000000000LL

typedef struct fx {
    char dir[64];
    char audit[128];
    ks_config_t *cfg;
    ks_engine_t *eng;
} fx_t;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A backtest engine on the sim venue (BTC only) with `faults` and the strategy `lua`. */
static void start(fx_t *f, const char *faults, const char *lua)
{
    char path[256], json[4096], err[1024];
    strcpy(f->dir, "/tmp/ks_fault_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->audit, sizeof(f->audit), "%s/audit.json", f->dir);
    snprintf(path, sizeof(path), "%s/s.lua", f->dir);
    write_file(path, lua);
    snprintf(json, sizeof(json),
             "{\"plugin_path\": [\"%s\"], \"state_dir\": \"%s/state\","
             " \"venues\": {\"sim\": {\"plugin\": \"sim\", \"config\": {\"seed\": 9, "
             "\"symbols\": [\"BTC\"], \"latency_ms\": 20, \"audit_file\": \"%s\", \"faults\": "
             "%s}}},"
             " \"strategies\": {\"s\": {\"file\": \"s.lua\", \"venue\": \"sim\","
             " \"symbols\": [\"BTC/USDT\", \"BTC/USDT:USDT\"], \"capital\": \"1000000\"}}}",
             KS_PLUGIN_DIR, f->dir, f->audit, faults);
    f->cfg = ks_config_parse(json, f->dir, err, sizeof(err));
    if (!f->cfg)
        fail_msg("config: %s", err);
    snprintf(path, sizeof(path), "%s/state", f->dir);
    ks_engine_opts_t o = {.cfg = f->cfg,
                          .state_dir = path,
                          .backtest = true,
                          .start_wall_ns = f->cfg->backtest_start_ns};
    f->eng = ks_engine_new(&o, err, sizeof(err));
    if (!f->eng)
        fail_msg("engine: %s", err);
    if (ks_engine_start(f->eng, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
}

/* Frees the engine (the venue writes its audit file) and returns the audit text. */
static char *stop(fx_t *f)
{
    ks_store_flush(ks_engine_store(f->eng));
    ks_engine_free(f->eng);
    f->eng = NULL;
    ks_config_free(f->cfg);
    FILE *af = fopen(f->audit, "r");
    assert_non_null(af);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, af);
    fclose(af);
    text[n] = '\0';
    return text;
}

static void cleanup(fx_t *f)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

static long long db_int(fx_t *f, const char *sql)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    snprintf(path, sizeof(path), "%s/state/kestrel.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void assert_pos(fx_t *f, const char *symbol, const char *want)
{
    char b[KS_DEC_STRLEN];
    int32_t inst = ks_engine_find_inst(f->eng, 0, symbol);
    ks_dec_format(ks_oms_total_position(ks_engine_oms(f->eng), inst), b, sizeof(b));
    if (strcmp(b, want) != 0)
        fail_msg("%s: position %s, want %s", symbol, b, want);
}

static int open_orders(fx_t *f)
{
    int n = 0;
    size_t it = 0;
    void *v;
    while (ks_strmap_next(&ks_engine_oms(f->eng)->orders, &it, NULL, &v))
        n += !ks_order_status_is_final(((ks_order_t *)v)->rec.status);
    return n;
}

static const char *one_buy_lua = "local S = {}\n"
                                 "function S.on_start(ctx) ctx.timer('go', 2) end\n"
                                 "function S.on_timer(ctx)\n"
                                 "  ctx.state.id = assert(ctx.order{symbol='BTC/USDT:USDT', "
                                 "side='buy', qty=0.01})\n"
                                 "end\n"
                                 "return S\n";

static void a_lost_ack_is_resolved_by_asking_the_venue_and_its_fills_are_booked(void **state)
{
    fx_t f;
    start(&f, "{\"lose_ack\": {\"p\": 1}}", one_buy_lua);
    assert_int_equal(ks_engine_run(f.eng, 30 * NS), 0);
    /* Nothing came back from the venue for the order; the watchdog made it UNKNOWN, asked,
     * learned it FILLED, and booked the fill that never arrived. */
    assert_int_equal(open_orders(&f), 0);
    assert_pos(&f, "BTC/USDT:USDT", "0.01");
    char *audit = stop(&f);
    assert_non_null(strstr(audit, "\"lost_acks\": 1,"));
    assert_non_null(strstr(audit, "\"symbol\": \"BTC/USDT:USDT\", \"kind\": \"perp\", \"qty\": "
                                  "\"0.01\""));
    free(audit);
    assert_int_equal(db_int(&f, "SELECT count(*) FROM orders WHERE status = 4 AND filled = "
                                "'0.01' AND reason = 'no acknowledgement in time'"),
                     1);
    assert_int_equal(db_int(&f, "SELECT count(*) FROM fills WHERE trade_id LIKE 'recon-%'"), 1);
    assert_int_equal(db_int(&f, "SELECT count(*) FROM events WHERE kind = 'order.missing_fill'"),
                     1);
    cleanup(&f);
}

static void a_lost_fill_is_booked_from_the_order_update(void **state)
{
    fx_t f;
    start(&f, "{\"lose_fill\": {\"p\": 1}}", one_buy_lua);
    assert_int_equal(ks_engine_run(f.eng, 30 * NS), 0);
    assert_pos(&f, "BTC/USDT:USDT", "0.01");
    free(stop(&f));
    assert_int_equal(db_int(&f, "SELECT count(*) FROM fills WHERE trade_id LIKE 'recon-%'"), 1);
    assert_int_equal(db_int(&f, "SELECT count(*) FROM orders WHERE status = 4"), 1);
    cleanup(&f);
}

static void a_delayed_ack_past_the_watchdog_is_not_booked_twice(void **state)
{
    fx_t f;
    /* Events 20 s late: UNKNOWN at 5 s, the venue's answer, the fill booked from it after
     * the grace, then the real fill arrives and is recognised as already counted. */
    start(&f, "{\"delay\": {\"p\": 1, \"min_ms\": 20000, \"max_ms\": 20000}}", one_buy_lua);
    assert_int_equal(ks_engine_run(f.eng, 60 * NS), 0);
    assert_int_equal(open_orders(&f), 0);
    assert_pos(&f, "BTC/USDT:USDT", "0.01");
    free(stop(&f));
    assert_int_equal(db_int(&f, "SELECT count(*) FROM fills"), 1);
    cleanup(&f);
}

static void an_order_sent_into_a_disconnect_is_closed_as_never_received(void **state)
{
    fx_t f;
    /* Down a third of the time: orders sent meanwhile vanish, and so may the questions
     * about them; the watchdog keeps asking until the venue, back up, says it never saw
     * them. Thirty orders, then quiet. */
    const char *lua = "local S = {}\n"
                      "function S.on_start(ctx) ctx.state.n = 0; ctx.timer('go', 1, 3) end\n"
                      "function S.on_timer(ctx)\n"
                      "  if ctx.state.n >= 30 then return end\n"
                      "  ctx.state.n = ctx.state.n + 1\n"
                      "  ctx.order{symbol='BTC/USDT:USDT', side='buy', qty=0.001}\n"
                      "end\n"
                      "return S\n";
    start(&f, "{\"disconnect\": {\"every_s\": 20, \"for_ms\": 10000}}", lua);
    assert_int_equal(ks_engine_run(f.eng, 400 * NS), 0);
    assert_int_equal(open_orders(&f), 0);
    char host[KS_DEC_STRLEN], want[128];
    ks_dec_format(
        ks_oms_total_position(ks_engine_oms(f.eng), ks_engine_find_inst(f.eng, 0, "BTC/USDT:USDT")),
        host, sizeof(host));
    char *audit = stop(&f);
    /* the venue's position equals the host's */
    snprintf(want, sizeof(want),
             "\"symbol\": \"BTC/USDT:USDT\", \"kind\": \"perp\", \"qty\": \"%s\"", host);
    if (!strstr(audit, want))
        fail_msg("the venue's position differs from the host's %s: %s", host, audit);
    const char *lost = strstr(audit, "\"lost_requests\": ");
    assert_non_null(lost);
    assert_true(atoll(lost + strlen("\"lost_requests\": ")) > 0);
    free(audit);
    assert_true(db_int(&f, "SELECT count(*) FROM orders WHERE status = 6 AND reason LIKE "
                           "'never reached the venue%'") > 0);
    assert_int_equal(db_int(&f, "SELECT count(*) FROM orders WHERE status IN (0, 1, 2, 3, 8)"), 0);
    cleanup(&f);
}

static const char *hedge_lua = "local S = {}\n"
                               "function S.on_start(ctx) ctx.timer('go', 2) end\n"
                               "function S.on_timer(ctx)\n"
                               "  ctx.state.id = assert(ctx.hedge{legs = {\n"
                               "    {symbol='BTC/USDT', side='buy', qty=0.1},\n"
                               "    {symbol='BTC/USDT:USDT', side='sell', qty=0.1}}})\n"
                               "end\n"
                               "return S\n";

static void partial_fills_leave_the_hedge_balanced(void **state)
{
    fx_t f;
    start(&f, "{\"partial\": {\"p\": 1, \"min\": 0.3, \"max\": 0.6}}", hedge_lua);
    assert_int_equal(ks_engine_run(f.eng, 60 * NS), 0);
    int counts[6];
    ks_legs_counts(ks_engine_legs(f.eng), counts);
    assert_int_equal(counts[KS_HEDGE_ACTIVE], 1);
    ks_oms_t *oms = ks_engine_oms(f.eng);
    ks_dec_t spot = ks_oms_total_position(oms, ks_engine_find_inst(f.eng, 0, "BTC/USDT"));
    ks_dec_t perp = ks_oms_total_position(oms, ks_engine_find_inst(f.eng, 0, "BTC/USDT:USDT"));
    assert_true(ks_dec_sign(spot) > 0);
    assert_int_equal(ks_dec_cmp(spot, ks_dec_neg(perp)), 0);
    assert_true(ks_dec_cmp(spot, KS_DEC(1, 1)) < 0); /* less than asked */
    char *audit = stop(&f);
    assert_null(strstr(audit, "\"partial\": 0,"));
    free(audit);
    cleanup(&f);
}

static void a_rejected_spot_leg_unwinds_the_perp_leg(void **state)
{
    fx_t f;
    start(&f, "{\"reject\": {\"p\": 1, \"kind\": \"spot\"}}", hedge_lua);
    assert_int_equal(ks_engine_run(f.eng, 60 * NS), 0);
    int counts[6];
    ks_legs_counts(ks_engine_legs(f.eng), counts);
    assert_int_equal(counts[KS_HEDGE_FAILED], 1);
    assert_pos(&f, "BTC/USDT", "0");
    assert_pos(&f, "BTC/USDT:USDT", "0");
    char *audit = stop(&f);
    assert_non_null(strstr(audit, "\"rejected\": 1,"));
    free(audit);
    cleanup(&f);
}

static void a_429_burst_refuses_placements_and_the_host_backs_off(void **state)
{
    fx_t f;
    /* 429s for 20 s from about the start: every placement refused, the host told. */
    start(&f, "{\"rate_limit\": {\"every_s\": 1, \"for_ms\": 20000}}", hedge_lua);
    assert_int_equal(ks_engine_run(f.eng, 90 * NS), 0);
    ks_venue_t *v = ks_engine_venue(f.eng, 0);
    assert_true(v->throttles >= 1);
    int counts[6];
    ks_legs_counts(ks_engine_legs(f.eng), counts);
    assert_int_equal(counts[KS_HEDGE_OPENING] + counts[KS_HEDGE_CLOSING], 0);
    free(stop(&f));
    /* refused orders stay few: the host backs off rather than spinning */
    long long refused = db_int(&f, "SELECT count(*) FROM orders WHERE reject = 6");
    assert_true(refused >= 1 && refused <= 10);
    cleanup(&f);
}

static void the_same_seed_gives_the_same_faults(void **state)
{
    const char *faults = "{\"reject\": {\"p\": 0.2}, \"partial\": {\"p\": 0.3}, "
                         "\"lose_ack\": {\"p\": 0.1}, \"lose_fill\": {\"p\": 0.1}, "
                         "\"delay\": {\"p\": 0.2, \"max_ms\": 8000}, "
                         "\"rate_limit\": {\"every_s\": 60, \"for_ms\": 3000}, "
                         "\"disconnect\": {\"every_s\": 120, \"for_ms\": 6000}}";
    const char *lua = "local S = {}\n"
                      "function S.on_start(ctx) ctx.timer('go', 1, 1) end\n"
                      "function S.on_timer(ctx)\n"
                      "  ctx.order{symbol='BTC/USDT:USDT', side='buy', qty=0.001}\n"
                      "  ctx.order{symbol='BTC/USDT:USDT', side='sell', qty=0.001}\n"
                      "end\n"
                      "return S\n";
    char *audit[2];
    for (int i = 0; i < 2; i++) {
        fx_t f;
        start(&f, faults, lua);
        assert_int_equal(ks_engine_run(f.eng, 600 * NS), 0);
        audit[i] = stop(&f);
        cleanup(&f);
    }
    assert_string_equal(audit[0], audit[1]);
    free(audit[0]);
    free(audit[1]);
}

static void fault_config_errors_name_the_key(void **state)
{
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{\"faults\": {\"frobnicate\": {}}}", "faults.frobnicate: unknown key"},
        {"{\"faults\": {\"reject\": {\"p\": 2}}}", "faults.reject.p: expected a number in [0, 1]"},
        {"{\"faults\": {\"reject\": {\"kind\": \"option\"}}}",
         "faults.reject.kind: expected \"spot\" or \"perp\""},
        {"{\"faults\": {\"delay\": {\"p\": 0.1, \"min_ms\": 500, \"max_ms\": 100}}}",
         "faults.delay.max_ms: must be at least min_ms"},
        {"{\"faults\": {\"lose_ack\": {\"q\": 1}}}", "faults.lose_ack.q: unknown key"},
        {"{\"faults\": {\"rate_limit\": {\"for_ms\": 0}}}",
         "faults.rate_limit.for_ms: expected an integer in [1, 3600000]"},
        {"{\"faults\": 3}", "faults: expected an object of fault kinds"},
        {"{\"audit_file\": 1}", "audit_file: expected a file path"},
    };
    static ks_sim_config_t cfg;
    char err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(ks_sim_config_parse(cases[i].json, &cfg, err, sizeof(err)), KS_EINVAL);
        assert_string_equal(err, cases[i].err);
    }
    assert_int_equal(ks_sim_config_parse("{\"faults\": {}}", &cfg, err, sizeof(err)), KS_OK);
    assert_false(cfg.faults.any);
    assert_int_equal(
        ks_sim_config_parse("{\"faults\": {\"partial\": {\"p\": 0.5}}}", &cfg, err, sizeof(err)),
        KS_OK);
    assert_true(cfg.faults.any);
    assert_true(cfg.faults.partial_min == 0.1 && cfg.faults.partial_max == 0.9);
}

int main(void)
{
    ks_log_setup(stderr, getenv("CHAOS_LOG") ? KS_LOG_INFO : KS_LOG_ERROR, KS_LOGF_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_config_errors_name_the_key),
        cmocka_unit_test(a_lost_ack_is_resolved_by_asking_the_venue_and_its_fills_are_booked),
        cmocka_unit_test(a_lost_fill_is_booked_from_the_order_update),
        cmocka_unit_test(a_delayed_ack_past_the_watchdog_is_not_booked_twice),
        cmocka_unit_test(an_order_sent_into_a_disconnect_is_closed_as_never_received),
        cmocka_unit_test(partial_fills_leave_the_hedge_balanced),
        cmocka_unit_test(a_rejected_spot_leg_unwinds_the_perp_leg),
        cmocka_unit_test(a_429_burst_refuses_placements_and_the_host_backs_off),
        cmocka_unit_test(the_same_seed_gives_the_same_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
