/* The real host, driven for tests (see lua_run.h). */
#define _XOPEN_SOURCE 700
#include "lua_run.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "lua_runtime.h"

#define NS_PER_S  1000000000LL
#define SAMPLE_NS (5 * NS_PER_S)

static char workdir[256];
static FILE *logfile;

const char *ks_run_source_dir(void)
{
    const char *s = getenv("KS_SOURCE_DIR");
    return s ? s : KS_SOURCE_DIR;
}

const char *ks_run_build_dir(void)
{
    const char *s = getenv("KS_BUILD_DIR");
    return s ? s : KS_TEST_BUILD_DIR;
}

const char *ks_run_workdir(void)
{
    if (!workdir[0]) {
        snprintf(workdir, sizeof(workdir), "/tmp/ks_lua_XXXXXX");
        if (!mkdtemp(workdir))
            return NULL;
        /* The host's log goes to a file there (KS_TEST_VERBOSE=1: stderr). */
        char p[400];
        snprintf(p, sizeof(p), "%s/host.log", workdir);
        if (!getenv("KS_TEST_VERBOSE"))
            logfile = fopen(p, "w");
        ks_log_setup(logfile ? logfile : stderr, KS_LOG_INFO, KS_LOGF_TEXT);
    }
    return workdir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void ks_run_cleanup(void)
{
    ks_log_setup(stderr, KS_LOG_INFO, KS_LOGF_TEXT);
    if (logfile)
        fclose(logfile);
    logfile = NULL;
    if (workdir[0] && !getenv("KS_TEST_KEEP"))
        nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    workdir[0] = '\0';
}

char *ks_run_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

int ks_run_write(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(text, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* ---- one run ---------------------------------------------------------------------------- */

typedef struct run_ctx {
    ks_engine_t *eng;
    const ks_run_spec_t *spec;
    ks_run_result_t *out;
    int victim;
} run_ctx_t;

static ks_strategy_t *victim_of(run_ctx_t *c)
{
    return ks_engine_strategy(c->eng, c->victim);
}

static void sample(ks_loop_t *loop, void *ud)
{
    run_ctx_t *c = ud;
    if (c->out->n_samples < KS_RUN_MAX_SAMPLES) {
        ks_run_sample_t *s = &c->out->samples[c->out->n_samples++];
        s->t_ns = ks_loop_now_ns(loop);
        s->events = ks_engine_event_count(c->eng);
        s->enabled = ks_strategy_enabled(victim_of(c));
    }
}

static void reload(ks_loop_t *loop, void *ud)
{
    run_ctx_t *c = ud;
    c->out->reloaded = true;
    if (ks_run_write(c->spec->victim_file, c->spec->reload_text, strlen(c->spec->reload_text)) !=
        0) {
        c->out->reload_rc = -1000;
        snprintf(c->out->reload_err, sizeof(c->out->reload_err), "cannot write the victim file");
        return;
    }
    c->out->reload_rc = ks_engine_reload_strategy(c->eng, c->victim, c->out->reload_err,
                                                  sizeof(c->out->reload_err));
}

/* Appends the rows of a query, one line each, columns separated by spaces. */
static char *query_lines(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    size_t len = 0, cap = 256;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return out;
    while (sqlite3_step(q) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(q); i++) {
            const char *v = (const char *)sqlite3_column_text(q, i);
            size_t n = (v ? strlen(v) : 4) + 2;
            if (len + n + 1 > cap) {
                while (len + n + 1 > cap)
                    cap *= 2;
                char *nb = realloc(out, cap);
                if (!nb)
                    break;
                out = nb;
            }
            len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", v ? v : "NULL");
        }
        if (len + 2 <= cap) {
            out[len++] = '\n';
            out[len] = '\0';
        }
    }
    sqlite3_finalize(q);
    return out;
}

static void read_store(const char *db_path, ks_run_result_t *out)
{
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    out->fills = query_lines(db, "SELECT symbol, side, px, qty, fee, ts_ns FROM fills "
                                 "WHERE strategy = 'bystander' ORDER BY id");
    out->journal = query_lines(db, "SELECT kind, detail FROM events WHERE subject = 'victim' "
                                   "ORDER BY id");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT data FROM strategy_state WHERE strategy = 'victim'", -1, &q,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
            out->state = strdup((const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
    }
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM orders WHERE strategy = 'victim'", -1, &q,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            out->victim_orders = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
}

int ks_run(const ks_run_spec_t *spec, ks_run_result_t *out)
{
    const char *wd = ks_run_workdir();
    char json[8192], err[900], state_dir[400], db_path[600];
    memset(out, 0, sizeof(*out));
    if (!wd)
        return -1;
    snprintf(state_dir, sizeof(state_dir), "%s/state", wd);
    int n = snprintf(
        json, sizeof(json),
        "{\"plugin_path\": [\"%s/plugins\"],"
        " \"venues\": {\"sim\": {\"plugin\": \"sim\", \"config\": {\"seed\": 11, \"tick_ms\": 1000,"
        " \"symbols\": [\"BTC\", \"ETH\"]}}},"
        " \"strategies\": {"
        "  \"victim\": {\"file\": \"%s\", \"venue\": \"sim\", \"symbols\": [\"%s\"],"
        "   \"capital\": \"1000\", \"on_disable\": \"cancel\"%s%s}"
        "  %s%s%s"
        " },"
        " \"backtest\": {\"days\": 1, \"start\": \"2026-01-01T00:00:00Z\"}}",
        ks_run_build_dir(), spec->victim_file,
        spec->victim_symbol ? spec->victim_symbol : "ETH/USDT:USDT", spec->victim_extra ? ", " : "",
        spec->victim_extra ? spec->victim_extra : "",
        spec->bystander ? ", \"bystander\": {\"file\": \"" : "",
        spec->bystander ? ks_run_source_dir() : "",
        spec->bystander ? "/tests/lua/hostile/support/bystander.lua\", \"venue\": \"sim\","
                          " \"symbols\": [\"BTC/USDT:USDT\"], \"capital\": \"10000\"}"
                        : "");
    if (n < 0 || (size_t)n >= sizeof(json))
        return -1;
    ks_config_t *cfg = ks_config_parse(json, wd, err, sizeof(err));
    if (!cfg) {
        snprintf(out->load_err, sizeof(out->load_err), "config: %s", err);
        return -1;
    }
    ks_engine_opts_t eo = {.cfg = cfg,
                           .state_dir = state_dir,
                           .backtest = true,
                           .start_wall_ns = cfg->backtest_start_ns};
    ks_engine_t *eng = ks_engine_new(&eo, out->load_err, sizeof(out->load_err));
    if (!eng) {
        ks_config_free(cfg);
        return 0; /* refused at load: load_err says why */
    }
    out->loaded = true;
    out->load_err[0] = '\0';
    run_ctx_t c = {eng, spec, out, -1};
    for (int i = 0; i < ks_engine_n_strategies(eng); i++)
        if (strcmp(ks_strategy_name(ks_engine_strategy(eng, i)), "victim") == 0)
            c.victim = i;
    ks_loop_t *loop = ks_engine_loop(eng);
    if (ks_engine_start(eng, err, sizeof(err)) != 0) {
        snprintf(out->load_err, sizeof(out->load_err), "start: %s", err);
        ks_engine_free(eng);
        ks_config_free(cfg);
        return -1;
    }
    sample(loop, &c);
    uint64_t st = ks_loop_timer_start(loop, SAMPLE_NS, SAMPLE_NS, sample, &c);
    uint64_t rt = 0;
    if (spec->reload_text)
        rt = ks_loop_timer_start(loop, (int64_t)(spec->reload_at_s * NS_PER_S), 0, reload, &c);
    out->run_rc = ks_engine_run(eng, (int64_t)(spec->duration_s * NS_PER_S));
    ks_loop_timer_stop(loop, st);
    if (rt)
        ks_loop_timer_stop(loop, rt);
    sample(loop, &c);
    ks_strategy_t *v = victim_of(&c);
    out->enabled = ks_strategy_enabled(v);
    snprintf(out->disabled_reason, sizeof(out->disabled_reason), "%s",
             ks_strategy_disabled_reason(v));
    snprintf(out->last_error, sizeof(out->last_error), "%s", ks_strategy_last_error(v));
    out->events = ks_engine_event_count(eng);
    snprintf(db_path, sizeof(db_path), "%s", ks_engine_db_path(eng));
    ks_engine_free(eng);
    ks_config_free(cfg);
    read_store(db_path, out);
    return 0;
}

void ks_run_result_free(ks_run_result_t *r)
{
    free(r->fills);
    free(r->journal);
    free(r->state);
    r->fills = r->journal = r->state = NULL;
}
