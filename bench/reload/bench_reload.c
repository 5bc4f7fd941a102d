/* Hot-reload swap latency: how long events wait while a strategy is recompiled into a new
 * VM, handed its state, run through on_reload and swapped in. Reloads a strategy N times
 * on a running engine (sim venue, backtest clock) and prints p50 / p99 / max.
 * usage: bench_reload CONFIG STRATEGY_NAME [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "lua_runtime.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc < 3) {
        fprintf(stderr, "usage: bench_reload CONFIG STRATEGY_NAME [N]\n");
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 1000;
    ks_log_setup(stderr, KS_LOG_ERROR, KS_LOGF_TEXT);
    ks_config_t *cfg = ks_config_load(argv[1], err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char dir[] = "/tmp/ks_bench_reload_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    ks_engine_opts_t o = {
        .cfg = cfg, .state_dir = dir, .backtest = true, .start_wall_ns = cfg->backtest_start_ns};
    ks_engine_t *eng = ks_engine_new(&o, err, sizeof(err));
    if (!eng || ks_engine_start(eng, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int idx = -1;
    for (int i = 0; i < ks_engine_n_strategies(eng); i++)
        if (strcmp(ks_strategy_name(ks_engine_strategy(eng, i)), argv[2]) == 0)
            idx = i;
    if (idx < 0) {
        fprintf(stderr, "no strategy %s\n", argv[2]);
        return 1;
    }
    /* Let the strategy build some state first. */
    ks_loop_run_until(ks_engine_loop(eng), 3600LL * 1000000000);
    double *ms = malloc((size_t)n * sizeof(double));
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (ks_engine_reload_strategy(eng, idx, err, sizeof(err)) != KS_OK) {
            fprintf(stderr, "reload failed: %s\n", err);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    }
    qsort(ms, (size_t)n, sizeof(double), cmp);
    printf("reload swap latency over %d reloads of %s: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", n,
           ks_strategy_cfg(ks_engine_strategy(eng, idx))->file, ms[n / 2], ms[n * 99 / 100],
           ms[n - 1]);
    free(ms);
    ks_engine_free(eng);
    ks_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
