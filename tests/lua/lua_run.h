/* Runs the real host (engine + sim venue, backtest clock) with a "victim" strategy and,
 * optionally, a healthy "bystander" next to it, and reports what happened: whether the
 * victim loaded, how it ended, what the store journaled, the bystander's fills. Shared
 * by the hostile-script suite, the sandbox test and the doc coverage test. */
#ifndef KS_TEST_LUA_RUN_H
#define KS_TEST_LUA_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_RUN_MAX_SAMPLES 512

typedef struct ks_run_spec {
    const char *victim_file;   /* the victim's strategy file */
    const char *victim_extra;  /* extra JSON members of the victim's config, or NULL */
    const char *victim_symbol; /* default "ETH/USDT:USDT" */
    bool bystander;            /* trade tests/lua/hostile/support/bystander.lua next to it */
    double duration_s;         /* virtual seconds */
    /* Hot reload: at reload_at_s, victim_file is overwritten with reload_text and
     * reloaded through ks_engine_reload_strategy. */
    const char *reload_text;
    double reload_at_s;
} ks_run_spec_t;

typedef struct ks_run_sample {
    int64_t t_ns;    /* loop time */
    uint64_t events; /* ks_engine_event_count */
    bool enabled;    /* the victim */
} ks_run_sample_t;

typedef struct ks_run_result {
    bool loaded; /* ks_engine_new accepted the config (the victim compiled) */
    char load_err[1024];
    int run_rc;
    bool enabled; /* the victim, at the end */
    char disabled_reason[256];
    char last_error[1024];
    bool reloaded; /* the reload was attempted */
    int reload_rc;
    char reload_err[1024];
    uint64_t events;
    ks_run_sample_t samples[KS_RUN_MAX_SAMPLES];
    int n_samples;
    char *fills;   /* bystander fills, "symbol side px qty fee ts" lines (malloc'ed) */
    char *journal; /* the victim's journal, "kind detail" lines (malloc'ed) */
    char *state;   /* the victim's stored ctx.state JSON, or NULL (malloc'ed) */
    int64_t victim_orders;
} ks_run_result_t;

/* KS_SOURCE_DIR / KS_BUILD_DIR from the environment (ctest sets both). */
const char *ks_run_source_dir(void);
const char *ks_run_build_dir(void);
/* A fresh temporary directory (removed by ks_run_cleanup). */
const char *ks_run_workdir(void);
void ks_run_cleanup(void);

/* Runs the host once; 0 when the harness itself worked (whatever the victim did). */
int ks_run(const ks_run_spec_t *spec, ks_run_result_t *out);
void ks_run_result_free(ks_run_result_t *r);

/* Reads a whole file; NULL when it cannot. Caller frees. */
char *ks_run_slurp(const char *path);
int ks_run_write(const char *path, const char *text, size_t len);

#endif
