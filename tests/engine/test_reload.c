/* Hot reload under load: a venue streams numbered BBO events (over 20,000 per second,
 * real time) while the strategy is reloaded every 20 ms. Every version counts what it
 * sees in ctx.state (carried over by each reload) and checks the numbers are
 * consecutive: events seen by old plus new versions equal events sent, none twice, none
 * lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "lua_runtime.h"

static const char *counter_lua =
    "local S = {}\n"
    "S.version = %d\n"
    "function S.on_start(ctx) ctx.state.count = 0; ctx.state.last = 0; ctx.state.dups = 0;\n"
    "  ctx.state.gaps = 0; ctx.state.versions = 1 end\n"
    "function S.on_reload(ctx, old) ctx.state.versions = (old.versions or 0) + 1 end\n"
    "function S.on_bbo(ctx, b)\n"
    "  local n = b.bid_qty\n"
    "  if n <= ctx.state.last then ctx.state.dups = ctx.state.dups + 1\n"
    "  elseif n ~= ctx.state.last + 1 then ctx.state.gaps = ctx.state.gaps + 1 end\n"
    "  if n > ctx.state.last then ctx.state.last = n end\n"
    "  ctx.state.count = ctx.state.count + 1\n"
    "end\n"
    "return S\n";

typedef struct fx {
    char dir[64];
    char file[128];
    ks_engine_t *eng;
    int version;
    int reloads, failures;
} fx_t;

static void write_version(fx_t *f)
{
    FILE *o = fopen(f->file, "w");
    assert_non_null(o);
    fprintf(o, counter_lua, f->version);
    fclose(o);
}

static void reload_tick(ks_loop_t *loop, void *ud)
{
    fx_t *f = ud;
    char err[512];
    f->version++;
    write_version(f);
    if (ks_engine_reload_strategy(f->eng, 0, err, sizeof(err)) == KS_OK)
        f->reloads++;
    else
        f->failures++;
}

static double state_number(ks_engine_t *eng, const char *key)
{
    /* ctx.state is persisted as JSON; read it from the store. */
    char *data = NULL;
    size_t len;
    assert_int_equal(ks_store_state_get(ks_engine_store(eng), "s", &data, &len), KS_OK);
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(data, pat);
    double v = p ? atof(p + strlen(pat)) : -1;
    free(data);
    return v;
}

static void reloading_under_load_loses_and_repeats_no_event(void **state)
{
    fx_t f = {0};
    char json[2048], err[1024], state_dir[128];
    strcpy(f.dir, "/tmp/ks_reload_XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.file, sizeof(f.file), "%s/s.lua", f.dir);
    write_version(&f);
    snprintf(json, sizeof(json),
             "{\"plugin_path\": [\"%s\"], \"venues\": {\"v\": {\"plugin\": \"recvenue\","
             " \"config\": {\"firehose\":25}}},"
             " \"strategies\": {\"s\": {\"file\": \"s.lua\", \"venue\": \"v\","
             " \"symbols\": [\"TST/USDT:USDT\"], \"capital\": \"1000\"}},"
             " \"run\": {\"status_interval_s\": 3600}, \"safety\": {\"deadman_s\": 0}}",
             KS_TEST_PLUGIN_DIR);
    ks_config_t *cfg = ks_config_parse(json, f.dir, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    snprintf(state_dir, sizeof(state_dir), "%s/state", f.dir);
    ks_engine_opts_t o = {.cfg = cfg, .state_dir = state_dir};
    f.eng = ks_engine_new(&o, err, sizeof(err));
    if (!f.eng)
        fail_msg("%s", err);
    assert_int_equal(ks_engine_start(f.eng, err, sizeof(err)), 0);
    ks_loop_t *loop = ks_engine_loop(f.eng);
    uint64_t t = ks_loop_timer_start(loop, 20000000, 20000000, reload_tick, &f);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ks_engine_run(f.eng, 4000000000LL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ks_loop_timer_stop(loop, t);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    char buf[32] = "";
    size_t len = 0;
    assert_int_equal(
        ks_store_kv_get(ks_engine_store(f.eng), "v", "firehose.sent", buf, sizeof(buf) - 1, &len),
        KS_OK);
    buf[len] = '\0';
    double sent = atof(buf);
    double count = state_number(f.eng, "count");
    double last = state_number(f.eng, "last");
    double versions = state_number(f.eng, "versions");
    printf("events sent %.0f in %.2f s (%.0f/s), seen %.0f, reloads %d (failed %d), versions "
           "%.0f, gaps %.0f, dups %.0f\n",
           sent, secs, sent / secs, count, f.reloads, f.failures, versions,
           state_number(f.eng, "gaps"), state_number(f.eng, "dups"));
    assert_true(sent / secs >= 20000);
    assert_true(f.reloads >= 100);
    assert_int_equal(f.failures, 0);
    assert_true(versions == f.reloads + 1);
    assert_true(count == sent);
    assert_true(last == sent);
    assert_true(state_number(f.eng, "gaps") == 0);
    assert_true(state_number(f.eng, "dups") == 0);
    ks_engine_free(f.eng);
    ks_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reloading_under_load_loses_and_repeats_no_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
