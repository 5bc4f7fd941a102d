/* Engine-level behaviour through the real engine on a virtual clock, against the
 * recording test venue (engine/recvenue.c): rate limits and priorities, and leg groups
 * under scripted venue faults. */
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

typedef struct fx {
    char dir[64];
    char log[128];
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

/* Builds and starts an engine in backtest mode on the recording venue. */
static const char *mode = "live";
/* Real clock (kestrel run): startup reconciliation runs; a backtest skips it. */
static bool real_clock = false;

/* A new temporary directory for f, with the strategy file s.lua in it. */
static void make_dir(fx_t *f, const char *lua)
{
    char path[256];
    strcpy(f->dir, "/tmp/ks_eng_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/s.lua", f->dir);
    write_file(path, lua);
}

/* Parses the config text (relative paths against f->dir), builds and starts the engine:
 * a backtest unless real_clock. */
static void boot(fx_t *f, const char *json)
{
    char err[1024], state[128];
    f->cfg = ks_config_parse(json, f->dir, err, sizeof(err));
    if (!f->cfg)
        fail_msg("config: %s", err);
    snprintf(state, sizeof(state), "%s/state", f->dir);
    ks_engine_opts_t o = {.cfg = f->cfg,
                          .state_dir = state,
                          .backtest = !real_clock,
                          .start_wall_ns = f->cfg->backtest_start_ns};
    f->eng = ks_engine_new(&o, err, sizeof(err));
    if (!f->eng)
        fail_msg("engine: %s", err);
    if (ks_engine_start(f->eng, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
}

static void start_in(fx_t *f, bool fresh, const char *venue_cfg, const char *rate_limit,
                     const char *lua)
{
    char path[256], json[4096];
    if (fresh) {
        make_dir(f, lua);
    } else {
        snprintf(path, sizeof(path), "%s/s.lua", f->dir);
        write_file(path, lua);
    }
    snprintf(f->log, sizeof(f->log), "%s/venue.log", f->dir);
    snprintf(
        json, sizeof(json),
        "{\"plugin_path\": [\"%s\"], \"state_dir\": \"%s/state\","
        " \"venues\": {\"v\": {\"plugin\": \"recvenue\", \"config\": {\"log\":\"%s\"%s%s}%s%s}},"
        " \"strategies\": {\"s\": {\"file\": \"s.lua\", \"venue\": \"v\","
        " \"symbols\": [\"TST/USDT:USDT\", \"TST/USDT\"], \"capital\": \"1000000\","
        " \"mode\": \"%s\"}}}",
        KS_TEST_PLUGIN_DIR, f->dir, f->log, venue_cfg[0] ? "," : "", venue_cfg,
        rate_limit[0] ? ", \"rate_limit\": " : "", rate_limit, mode);
    boot(f, json);
}

static void start(fx_t *f, const char *venue_cfg, const char *rate_limit, const char *lua)
{
    real_clock = false;
    start_in(f, true, venue_cfg, rate_limit, lua);
}

/* Stops the engine (as a crash would leave the store: nothing more is written) and starts
 * a new one on the same state directory. */
static void restart(fx_t *f, const char *venue_cfg, const char *lua)
{
    ks_engine_free(f->eng);
    ks_config_free(f->cfg);
    start_in(f, false, venue_cfg, "", lua);
}

static void finish(fx_t *f)
{
    char cmd[128];
    ks_engine_free(f->eng);
    ks_config_free(f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

typedef struct rec {
    long long t;
    char kind[16];
    char cloid[64];
    int reduce;
} rec_t;

static int read_log(const char *path, rec_t *out, int cap)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    assert_non_null(f);
    while (n < cap && fscanf(f, "%lld %15s %63s %d", &out[n].t, out[n].kind, out[n].cloid,
                             &out[n].reduce) == 4)
        n++;
    fclose(f);
    return n;
}

static const char *burst_lua =
    "local S = {}\n"
    "function S.on_start(ctx)\n"
    "  local ids = {}\n"
    "  for i = 1, 1000 do\n"
    "    ids[i] = assert(ctx.order{symbol='TST/USDT:USDT', side='buy', qty=1, price=90})\n"
    "  end\n"
    "  ctx.state.first = ids[1]\n"
    "  ctx.state.queued = ids[500]\n"
    "  assert(ctx.cancel(ids[1]))      -- sent already: a cancel request, priority 1\n"
    "  assert(ctx.cancel(ids[500]))    -- still queued: withdrawn, never sent\n"
    "  ctx.state.reduce = assert(ctx.order{symbol='TST/USDT:USDT', side='sell', qty=1,\n"
    "                                      reduce_only=true})  -- priority 0\n"
    "end\n"
    "return S\n";

static void burst_respects_the_window_and_sends_reduce_and_cancel_first(void **state)
{
    fx_t f;
    start(&f, "", "{\"requests\": 10, \"per_s\": 1}", burst_lua);
    assert_int_equal(ks_engine_run(f.eng, 120LL * 1000000000), 0);
    static rec_t r[2000];
    int n = read_log(f.log, r, 2000);
    /* 1000 orders - 1 withdrawn + 1 reduce + 1 cancel */
    assert_int_equal(n, 1001);
    /* No 1-second window ever holds more than 10 requests. */
    for (int i = 10; i < n; i++)
        if (r[i].t - r[i - 10].t < 1000000000LL)
            fail_msg("11 requests within %lld ns (entries %d..%d)", r[i].t - r[i - 10].t, i - 10,
                     i);
    /* The first 10 new orders left at once; then the reduce-only order, then the cancel,
     * before any of the 989 new orders still waiting. */
    assert_int_equal(r[10].reduce, 1);
    assert_string_equal(r[10].kind, "place");
    assert_string_equal(r[11].kind, "cancel");
    for (int i = 12; i < n; i++)
        assert_string_equal(r[i].kind, "place");
    /* The withdrawn order never reached the venue and is cancelled locally. */
    ks_order_t *q = NULL;
    size_t it = 0;
    void *v;
    int cancelled_unsent = 0;
    while (ks_strmap_next(&ks_engine_oms(f.eng)->orders, &it, NULL, &v)) {
        q = v;
        if (q->rec.status == KS_OS_CANCELED && strstr(q->rec.reason, "before it was sent"))
            cancelled_unsent++;
    }
    assert_int_equal(cancelled_unsent, 1);
    /* The reduce-only market order was acknowledged and never finished; the venue no
     * longer knows it when asked: it ends EXPIRED (not REJECTED, not asked forever). */
    int expired = 0;
    it = 0;
    while (ks_strmap_next(&ks_engine_oms(f.eng)->orders, &it, NULL, &v)) {
        q = v;
        if (q->rec.reduce_only) {
            assert_int_equal(q->rec.status, KS_OS_EXPIRED);
            assert_non_null(strstr(q->rec.reason, "no longer known to the venue"));
            expired++;
        }
    }
    assert_int_equal(expired, 1);
    finish(&f);
}

static void throttle_pauses_new_orders_but_not_reduce_only(void **state)
{
    fx_t f;
    const char *lua = "local S = {}\n"
                      "function S.on_start(ctx) ctx.timer('t', 0.5) end\n"
                      "function S.on_timer(ctx)\n"
                      "  ctx.order{symbol='TST/USDT:USDT', side='buy', qty=1, price=90}\n"
                      "  ctx.order{symbol='TST/USDT:USDT', side='sell', qty=1, reduce_only=true}\n"
                      "end\n"
                      "return S\n";
    start(&f, "", "", lua);
    /* The venue answers 429 before the strategy's timer fires. */
    ks_venue_t *v = ks_engine_venue(f.eng, 0);
    ks_ratelimit_info_t info;
    KS_INIT(&info);
    info.http_status = 429;
    info.limit = info.remaining = -1;
    ks_engine_ratelimit_feedback(f.eng, &v->host, &info);
    assert_true(v->pause_new_until_ns >= 1000000000LL);
    assert_int_equal(ks_engine_run(f.eng, 900000000LL), 0);
    static rec_t r[16];
    int n = read_log(f.log, r, 16);
    assert_int_equal(n, 1); /* only the reduce-only order went out during the pause */
    assert_int_equal(r[0].reduce, 1);
    /* After the pause (1 s, up to 1.5 s with jitter) the new order follows. */
    assert_int_equal(ks_engine_run(f.eng, 2000000000LL), 0);
    n = read_log(f.log, r, 16);
    assert_int_equal(n, 2);
    assert_int_equal(r[1].reduce, 0);
    assert_true(r[1].t >= 1000000000LL && r[1].t <= 1500000001LL);
    finish(&f);
}

/* Two venue entries on one account: each strategy bursts on its own venue, and the
 * account-wide window holds across both. */
static const char *shared_lua =
    "local S = {}\n"
    "function S.on_start(ctx)\n"
    "  for i = 1, 100 do\n"
    "    assert(ctx.order{symbol='TST/USDT:USDT', side='buy', qty=1, price=90})\n"
    "  end\n"
    "  if ctx.params.reduce then\n"
    "    assert(ctx.order{symbol='TST/USDT:USDT', side='sell', qty=1, reduce_only=true})\n"
    "  end\n"
    "end\n"
    "return S\n";

static void a_shared_window_limits_venues_together_and_keeps_priority_across_them(void **state)
{
    fx_t f;
    char json[4096];
    real_clock = false;
    make_dir(&f, shared_lua);
    snprintf(f.log, sizeof(f.log), "%s/venues.log", f.dir);
    snprintf(json, sizeof(json),
             "{\"plugin_path\": [\"%s\"], \"state_dir\": \"%s/state\","
             " \"rate_limit_groups\": {\"acct\": {\"requests\": 10, \"per_s\": 1}},"
             " \"venues\": {"
             "  \"v1\": {\"plugin\": \"recvenue\", \"config\": {\"log\":\"%s\",\"append\":true},"
             "          \"rate_limit\": {\"shared\": \"acct\"}},"
             "  \"v2\": {\"plugin\": \"recvenue\", \"config\": {\"log\":\"%s\",\"append\":true},"
             "          \"rate_limit\": {\"requests\": 3, \"per_s\": 1, \"shared\": \"acct\"}}},"
             " \"strategies\": {"
             "  \"a\": {\"file\": \"s.lua\", \"venue\": \"v1\", \"symbols\": [\"TST/USDT:USDT\"],"
             "         \"capital\": \"1000000\"},"
             "  \"b\": {\"file\": \"s.lua\", \"venue\": \"v2\", \"symbols\": [\"TST/USDT:USDT\"],"
             "         \"capital\": \"1000000\", \"params\": {\"reduce\": true}}}}",
             KS_TEST_PLUGIN_DIR, f.dir, f.log, f.log);
    boot(&f, json);
    assert_int_equal(ks_engine_run(f.eng, 60LL * 1000000000), 0);

    /* One log in send order; strategy a trades on v1, b on v2. */
    static rec_t all[512], r2[256];
    int n = read_log(f.log, all, 512), n2 = 0;
    for (int k = 0; k < n; k++)
        if (all[k].cloid[0] == 'b')
            r2[n2++] = all[k];
    assert_int_equal(n, 201);
    assert_int_equal(n2, 101);
    /* No 1-second window holds more than 10 requests across both venues... */
    for (int k = 10; k < n; k++)
        if (all[k].t - all[k - 10].t < 1000000000LL)
            fail_msg("11 requests across the venues within %lld ns", all[k].t - all[k - 10].t);
    /* ...nor more than 3 on v2 alone. */
    for (int k = 3; k < n2; k++)
        if (r2[k].t - r2[k - 3].t < 1000000000LL)
            fail_msg("4 requests on v2 within %lld ns", r2[k].t - r2[k - 3].t);
    /* v2's reduce-only order, queued behind the window v1's burst filled, is the first
     * request of the next window, before any new order of either venue. */
    int first_reduce = -1;
    for (int k = 0; k < n; k++)
        if (all[k].reduce == 1) {
            first_reduce = k;
            break;
        }
    assert_true(first_reduce >= 10);
    assert_true(all[first_reduce].t >= all[0].t + 1000000000LL);
    for (int k = 0; k < n; k++)
        if (all[k].t >= all[0].t + 1000000000LL) {
            assert_int_equal(k, first_reduce);
            break;
        }
    /* The venues take turns: v2 gets its own limit of 3 in every window while v1 still
     * has orders waiting, rather than waiting for v1's burst to drain. */
    int v2_early = 0;
    for (int k = 0; k < n2; k++)
        v2_early += r2[k].t < all[0].t + 10LL * 1000000000;
    assert_true(v2_early >= 27);
    finish(&f);
}

/* Finished orders leave memory after a while; a late duplicate fill loads the order back
 * from the store and is recognized as a duplicate; cancel and lookup still find it. */
static void finished_orders_retire_and_come_back_for_late_fills(void **state)
{
    fx_t f;
    const char *lua = "local S = {}\n"
                      "function S.on_start(ctx)\n"
                      "  ctx.state.id = assert(ctx.order{symbol='TST/USDT:USDT', side='buy',"
                      " qty=1})\n"
                      "end\n"
                      "return S\n";
    start(&f, "\"fill\":true", "", lua);
    assert_int_equal(ks_engine_run(f.eng, 60LL * 1000000000), 0);
    static rec_t r[4];
    assert_int_equal(read_log(f.log, r, 4), 1);
    ks_oms_t *oms = ks_engine_oms(f.eng);
    ks_order_t *o = ks_oms_find(oms, r[0].cloid);
    assert_non_null(o);
    assert_int_equal(o->rec.status, KS_OS_FILLED);
    int32_t inst = ks_market_find(ks_engine_market(f.eng), 0, "TST/USDT:USDT");
    assert_true(inst >= 0);
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[inst].qty, KS_DEC(1, 0)), 0);

    /* 20 minutes later it is gone from memory, still in the store. */
    assert_int_equal(ks_engine_run(f.eng, 20LL * 60 * 1000000000), 0);
    assert_null(ks_oms_find(oms, r[0].cloid));
    assert_true(oms->retired >= 1);

    /* The venue repeats the fill (a resync after a reconnect). */
    ks_venue_t *v = ks_engine_venue(f.eng, 0);
    ks_fill_t fl;
    KS_EVENT_INIT(&fl, KS_EV_FILL);
    fl.hdr.inst = inst;
    ks_strlcpy(fl.cloid, r[0].cloid, sizeof(fl.cloid));
    ks_strlcpy(fl.trade_id, "t1", sizeof(fl.trade_id));
    fl.side = KS_SIDE_BUY;
    fl.px = KS_DEC(100, 0);
    fl.qty = KS_DEC(1, 0);
    ks_strlcpy(fl.fee_asset, "USDT", sizeof(fl.fee_asset));
    ks_hostapi_table()->emit(&v->host, &fl.hdr);
    assert_int_equal(ks_engine_run(f.eng, 1000000000LL), 0);
    assert_int_equal(oms->revived, 1);
    o = ks_oms_find(oms, r[0].cloid);
    assert_non_null(o);
    assert_int_equal(o->rec.status, KS_OS_FILLED);
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[inst].qty, KS_DEC(1, 0)), 0);
    assert_int_equal(ks_oms_account(oms, 0)->fills, 1);

    /* Retired again, an operation on it still knows what it was. */
    assert_int_equal(ks_engine_run(f.eng, 20LL * 60 * 1000000000), 0);
    assert_null(ks_oms_find(oms, r[0].cloid));
    char err[256];
    assert_int_not_equal(ks_engine_cancel(f.eng, 0, r[0].cloid, err, sizeof(err)), KS_OK);
    if (!strstr(err, "already"))
        fail_msg("cancel of a retired order: %s", err);
    assert_null(ks_engine_order(f.eng, "s-nosuchorder"));
    finish(&f);
}

/* After a restart the venue's wallet holds less of the spot leg than the store says
 * (sold outside the host while it was down): the spot position is scaled down to the
 * wallet, the event journaled, and the leg group trims the perp leg to match. */
static const char *spot_lua = "local S = {}\n"
                              "function S.on_start(ctx)\n"
                              "  if ctx.state.id then return end\n"
                              "  ctx.state.id = assert(ctx.hedge{legs = {\n"
                              "      {symbol='TST/USDT', side='buy', qty=10},\n"
                              "      {symbol='TST/USDT:USDT', side='sell', qty=10}}})\n"
                              "end\n"
                              "return S\n";

static void a_spot_leg_short_at_the_venue_after_a_restart_rebalances_the_hedge(void **state)
{
    fx_t f;
    real_clock = true;
    start_in(&f, true, "\"fill\":true", "", spot_lua);
    assert_int_equal(ks_engine_run(f.eng, 300000000LL), 0);
    ks_oms_t *oms = ks_engine_oms(f.eng);
    int32_t spot = ks_market_find(ks_engine_market(f.eng), 0, "TST/USDT");
    int32_t perp = ks_market_find(ks_engine_market(f.eng), 0, "TST/USDT:USDT");
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[spot].qty, KS_DEC(10, 0)), 0);
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[perp].qty, KS_DEC(-10, 0)), 0);

    /* The wallet holds 4 TST, the perp is still -10. 0.5 short would be dust (below a lot)
     * and change nothing; 6 is not. */
    restart(&f,
            "\"fill\":true,\"spot_balance\":\"4\",\"perp_position\":\"-10\","
            "\"trade_prefix\":\"r1-\"",
            spot_lua);
    assert_int_equal(ks_engine_run(f.eng, 300000000LL), 0);
    oms = ks_engine_oms(f.eng);
    spot = ks_market_find(ks_engine_market(f.eng), 0, "TST/USDT");
    perp = ks_market_find(ks_engine_market(f.eng), 0, "TST/USDT:USDT");
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[spot].qty, KS_DEC(4, 0)), 0);
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[perp].qty, KS_DEC(-4, 0)), 0);
    /* The trim was a reduce-only order on the perp. */
    static rec_t r[8];
    int n = read_log(f.log, r, 8);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].reduce, 1);
    /* Journaled, with what each side held. */
    char db[160];
    sqlite3 *h;
    sqlite3_stmt *st;
    snprintf(db, sizeof(db), "%s/state/kestrel.db", f.dir);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT detail FROM events WHERE kind ="
                                        " 'recovery.spot_short'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *d = (const char *)sqlite3_column_text(st, 0);
    assert_non_null(strstr(d, "\"local\":\"10\""));
    assert_non_null(strstr(d, "\"wallet\":\"4\""));
    sqlite3_finalize(st);
    sqlite3_close(h);

    /* A wallet short by less than a lot (fees taken in the coin) changes nothing. */
    restart(&f,
            "\"fill\":true,\"spot_balance\":\"3.5\",\"perp_position\":\"-4\","
            "\"trade_prefix\":\"r2-\"",
            spot_lua);
    assert_int_equal(ks_engine_run(f.eng, 300000000LL), 0);
    oms = ks_engine_oms(f.eng);
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[spot].qty, KS_DEC(4, 0)), 0);
    assert_int_equal(ks_dec_cmp(ks_oms_account(oms, 0)->pos[perp].qty, KS_DEC(-4, 0)), 0);
    assert_int_equal(read_log(f.log, r, 8), 0);
    real_clock = false;
    finish(&f);
}

/* ---- leg groups --------------------------------------------------------------------- */

static const char *hedge_lua =
    "local S = {}\n"
    "S.params = {close_after = 0, balance = 'trim'}\n"
    "function S.on_start(ctx)\n"
    "  ctx.state.log = {}\n"
    "  ctx.state.id = assert(ctx.hedge{legs = {\n"
    "      {symbol='TST/USDT', side='buy', qty=10},\n"
    "      {symbol='TST/USDT:USDT', side='sell', qty=10}}, balance = ctx.params.balance})\n"
    "  if ctx.params.close_after > 0 then ctx.timer('close', ctx.params.close_after) end\n"
    "end\n"
    "function S.on_timer(ctx) ctx.state.close = {ctx.close_hedge(ctx.state.id)} end\n"
    "function S.on_hedge(ctx, h)\n"
    "  table.insert(ctx.state.log, h.state)\n"
    "  ctx.state.last = h\n"
    "end\n"
    "return S\n";

static ks_dec_t pos(fx_t *f, const char *symbol)
{
    int32_t inst = ks_engine_find_inst(f->eng, 0, symbol);
    return ks_oms_total_position(ks_engine_oms(f->eng), inst);
}

static void assert_pos(fx_t *f, const char *symbol, const char *want)
{
    char b[KS_DEC_STRLEN];
    ks_dec_format(pos(f, symbol), b, sizeof(b));
    if (strcmp(b, want) != 0)
        fail_msg("%s: position %s, want %s", symbol, b, want);
}

static int hedge_state(fx_t *f)
{
    int counts[6];
    ks_legs_counts(ks_engine_legs(f->eng), counts);
    for (int i = 0; i < 6; i++)
        if (counts[i])
            return i;
    return -1;
}

static void run_hedge(fx_t *f, const char *venue_cfg, const char *params)
{
    char lua[2048];
    snprintf(lua, sizeof(lua), "%s", hedge_lua);
    if (params[0]) {
        /* params override through the defaults table */
        char *p = strstr(lua, "S.params = {close_after = 0, balance = 'trim'}");
        assert_non_null(p);
        char tail[2048];
        snprintf(tail, sizeof(tail), "%s",
                 p + strlen("S.params = {close_after = 0, balance = 'trim'}"));
        snprintf(p, sizeof(lua) - (size_t)(p - lua), "S.params = {%s}%s", params, tail);
    }
    start(f, venue_cfg, "", lua);
    assert_int_equal(ks_engine_run(f->eng, 30LL * 1000000000), 0);
}

static void both_legs_fill_and_the_hedge_is_active(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true", "");
    assert_int_equal(hedge_state(&f), KS_HEDGE_ACTIVE);
    assert_pos(&f, "TST/USDT", "10");
    assert_pos(&f, "TST/USDT:USDT", "-10");
    finish(&f);
}

static void a_rejected_leg_unwinds_the_filled_one_and_fails(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true,\"reject_spot\":true", "");
    assert_int_equal(hedge_state(&f), KS_HEDGE_FAILED);
    assert_pos(&f, "TST/USDT", "0");
    assert_pos(&f, "TST/USDT:USDT", "0"); /* the perp leg was unwound */
    finish(&f);
}

static void a_partial_leg_trims_the_other_to_match(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true,\"partial_spot\":true", "");
    assert_int_equal(hedge_state(&f), KS_HEDGE_ACTIVE);
    assert_pos(&f, "TST/USDT", "5");
    assert_pos(&f, "TST/USDT:USDT", "-5");
    finish(&f);
}

static void top_up_buys_the_missing_part_before_trimming(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true,\"partial_spot\":true", "close_after = 0, balance = 'top_up'");
    assert_int_equal(hedge_state(&f), KS_HEDGE_ACTIVE);
    /* 5 filled, top-up of 5 filled 2, then the perp is trimmed to 7 */
    assert_pos(&f, "TST/USDT", "7");
    assert_pos(&f, "TST/USDT:USDT", "-7");
    finish(&f);
}

static void a_close_failing_on_one_leg_restores_the_hedge(void **state)
{
    fx_t f;
    /* the opening spot order is accepted, the closing one is rejected */
    run_hedge(&f, "\"fill\":true,\"reject_spot_after\":1", "close_after = 5, balance = 'trim'");
    assert_int_equal(hedge_state(&f), KS_HEDGE_ACTIVE);
    assert_pos(&f, "TST/USDT", "10");
    assert_pos(&f, "TST/USDT:USDT", "-10"); /* closed, then re-opened: never naked */
    /* the journal has OPENING->ACTIVE, ACTIVE->CLOSING, CLOSING->ACTIVE with the reason */
    sqlite3 *db;
    sqlite3_stmt *st;
    char path[128];
    snprintf(path, sizeof(path), "%s/state/kestrel.db", f.dir);
    ks_store_flush(ks_engine_store(f.eng));
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT detail FROM events WHERE kind = "
                                        "'hedge.transition' ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int n = 0;
    const char *want[] = {"\"to\":\"active\"", "\"to\":\"closing\"", "hedge restored"};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        if (n < 3 && !strstr(d, want[n]))
            fail_msg("transition %d: %s lacks %s", n, d, want[n]);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(n, 3);
    finish(&f);
}

static void a_successful_close_leaves_both_legs_flat(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true", "close_after = 5, balance = 'trim'");
    assert_int_equal(hedge_state(&f), KS_HEDGE_CLOSED);
    assert_pos(&f, "TST/USDT", "0");
    assert_pos(&f, "TST/USDT:USDT", "0");
    finish(&f);
}

/* A spot buy whose fee is taken in the coin (Bybit) leaves the wallet short of the
 * order's quantity: the spot leg counts what the wallet got, the group trims the perp to
 * it (on the perp's lot grid of 1), and closing sells what is held. */
static void a_spot_fee_in_the_coin_shrinks_the_leg_and_the_hedge_matches_it(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true,\"spot_fee_base\":\"0.15\"", "");
    /* bought 10, fee 1.5 TST: 8.5 held; perp trimmed from -10 to -8 */
    assert_int_equal(hedge_state(&f), KS_HEDGE_ACTIVE);
    assert_pos(&f, "TST/USDT", "8.5");
    assert_pos(&f, "TST/USDT:USDT", "-8");
    finish(&f);

    run_hedge(&f, "\"fill\":true,\"spot_fee_base\":\"0.15\"", "close_after = 5, balance = 'trim'");
    assert_int_equal(hedge_state(&f), KS_HEDGE_CLOSED);
    /* the spot sell is on the lot grid of 1: 8 of the 8.5 go, the rest is dust below a
     * lot; never more than the wallet holds */
    assert_pos(&f, "TST/USDT", "0.5");
    assert_pos(&f, "TST/USDT:USDT", "0");
    finish(&f);
}

/* Two strategies hold one perp on both sides (a +2, b -1): the venue holds their net +1.
 * Closing each on its own with reduce-only orders is refused by the venue (a's sell of 2
 * exceeds it, b's buy would increase it), forever; the kill switch closes the net instead. */
static void the_kill_switch_closes_the_net_when_strategies_hold_both_sides(void **state)
{
    fx_t f;
    char json[4096];
    real_clock = false;
    make_dir(&f, "local S = {}\n"
                 "S.params = {side = 'buy', qty = 1}\n"
                 "function S.on_start(ctx)\n"
                 "  assert(ctx.order{symbol='TST/USDT:USDT', side=ctx.params.side,"
                 " qty=ctx.params.qty})\n"
                 "end\n"
                 "return S\n");
    snprintf(f.log, sizeof(f.log), "%s/venue.log", f.dir);
    snprintf(json, sizeof(json),
             "{\"plugin_path\": [\"%s\"], \"state_dir\": \"%s/state\","
             " \"venues\": {\"v\": {\"plugin\": \"recvenue\", \"config\": {\"log\":\"%s\","
             " \"fill\":true, \"reduce_only_net\":true}}},"
             " \"safety\": {\"kill_timeout_s\": 5},"
             " \"strategies\": {"
             "  \"a\": {\"file\": \"s.lua\", \"venue\": \"v\", \"symbols\": [\"TST/USDT:USDT\"],"
             "         \"capital\": \"1000000\", \"params\": {\"side\": \"buy\", \"qty\": 2}},"
             "  \"b\": {\"file\": \"s.lua\", \"venue\": \"v\", \"symbols\": [\"TST/USDT:USDT\"],"
             "         \"capital\": \"1000000\", \"params\": {\"side\": \"sell\", \"qty\": 1}}}}",
             KS_TEST_PLUGIN_DIR, f.dir, f.log);
    boot(&f, json);
    assert_int_equal(ks_engine_run(f.eng, 1000000000LL), 0);
    assert_pos(&f, "TST/USDT:USDT", "1");
    ks_engine_kill(f.eng, "test");
    /* 3: everything flat (4 would be the timeout with positions left) */
    assert_int_equal(ks_engine_run(f.eng, 20LL * 1000000000), 3);
    assert_pos(&f, "TST/USDT:USDT", "0");
    static rec_t r[8];
    int n = read_log(f.log, r, 8);
    assert_int_equal(n, 3); /* a's buy, b's sell, the host's reduce-only sell of the net */
    assert_int_equal(r[2].reduce, 1);
    assert_non_null(strstr(r[2].cloid, "host"));
    finish(&f);
}

static void a_forced_liquidation_of_one_leg_closes_the_other(void **state)
{
    fx_t f;
    run_hedge(&f, "\"fill\":true,\"force_perp_buy\":10", "");
    /* the venue bought back the whole perp short; the host sold the spot leg to match */
    assert_int_equal(hedge_state(&f), KS_HEDGE_CLOSED);
    assert_pos(&f, "TST/USDT", "0");
    assert_pos(&f, "TST/USDT:USDT", "0");
    ks_store_flush(ks_engine_store(f.eng));
    /* two opening fills, the venue's forced fill booked to the strategy, the spot trim */
    assert_int_equal(ks_store_count(ks_engine_store(f.eng), "fills"), 4);
    finish(&f);
}

static void paper_mode_fills_against_quotes_and_never_reaches_the_venue(void **state)
{
    fx_t f;
    const char *lua =
        "local S = {}\n"
        "function S.on_start(ctx) ctx.timer('t', 1) end\n"
        "function S.on_timer(ctx)\n"
        "  assert(ctx.order{symbol='TST/USDT:USDT', side='buy', qty=3})\n"
        "  ctx.state.resting = assert(ctx.order{symbol='TST/USDT:USDT', side='sell',\n"
        "                                       qty=1, price=100.1})\n"
        "  ctx.state.far = assert(ctx.order{symbol='TST/USDT:USDT', side='sell',\n"
        "                                   qty=1, price=150})\n"
        "  assert(ctx.cancel(ctx.state.far))\n"
        "end\n"
        "return S\n";
    mode = "paper";
    start(&f, "\"fill\":true", "", lua);
    mode = "live";
    assert_int_equal(ks_engine_run(f.eng, 5LL * 1000000000), 0);
    static rec_t r[8];
    int n = read_log(f.log, r, 8);
    for (int i = 0; i < n; i++)
        printf("venue saw: %s %s\n", r[i].kind, r[i].cloid);
    assert_int_equal(n, 0); /* the venue saw nothing */
    /* bought 3 at the ask (100.1); the sell at 100.1 rests (the bid stays at 99.9); the
     * far one was cancelled */
    assert_pos(&f, "TST/USDT:USDT", "3");
    ks_order_t *o;
    size_t it = 0;
    void *v;
    int filled = 0, canceled = 0, open = 0;
    while (ks_strmap_next(&ks_engine_oms(f.eng)->orders, &it, NULL, &v)) {
        o = v;
        assert_true(o->paper);
        filled += o->rec.status == KS_OS_FILLED;
        canceled += o->rec.status == KS_OS_CANCELED;
        open += o->rec.status == KS_OS_ACKED;
    }
    assert_int_equal(filled, 1);
    assert_int_equal(canceled, 1);
    assert_int_equal(open, 1);
    finish(&f);
}

int main(void)
{
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_respects_the_window_and_sends_reduce_and_cancel_first),
        cmocka_unit_test(throttle_pauses_new_orders_but_not_reduce_only),
        cmocka_unit_test(a_shared_window_limits_venues_together_and_keeps_priority_across_them),
        cmocka_unit_test(finished_orders_retire_and_come_back_for_late_fills),
        cmocka_unit_test(a_spot_leg_short_at_the_venue_after_a_restart_rebalances_the_hedge),
        cmocka_unit_test(both_legs_fill_and_the_hedge_is_active),
        cmocka_unit_test(a_rejected_leg_unwinds_the_filled_one_and_fails),
        cmocka_unit_test(a_partial_leg_trims_the_other_to_match),
        cmocka_unit_test(top_up_buys_the_missing_part_before_trimming),
        cmocka_unit_test(a_close_failing_on_one_leg_restores_the_hedge),
        cmocka_unit_test(a_successful_close_leaves_both_legs_flat),
        cmocka_unit_test(a_spot_fee_in_the_coin_shrinks_the_leg_and_the_hedge_matches_it),
        cmocka_unit_test(a_forced_liquidation_of_one_leg_closes_the_other),
        cmocka_unit_test(the_kill_switch_closes_the_net_when_strategies_hold_both_sides),
        cmocka_unit_test(paper_mode_fills_against_quotes_and_never_reaches_the_venue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
