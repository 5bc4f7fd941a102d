/* The hostile-script suite: every .lua file in tests/lua/hostile runs as the "victim" strategy
 * of the real host (engine, sim venue, backtest clock) while a healthy "bystander"
 * trades next to it. Each script says in its header what must happen:
 *
 *   -- expect: refused    the host refuses to load it; checked twice: at startup
 *                         (ks_engine_new fails with `error`) and as a hot reload over a
 *                         running benign version (refused, journaled, old version runs on)
 *   -- expect: disabled   it loads, then the host disables it with `reason` (journaled as
 *                         strategy.disabled) and its last error contains `error`
 *   -- expect: running    contained without being stopped; `verdict` (if given) is what
 *                         the script stored in ctx.state.verdict after probing
 *   -- config: ...        extra JSON members of the victim's config
 *   -- when: stop         the failure happens in on_stop, at the end of the run
 *
 * and for every case: the host keeps processing events afterwards, and the bystander's
 * fills are exactly those of a run with a harmless victim (same seed, deterministic). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lua_run.h"

#define RUN_S       120.0
#define RELOAD_AT_S 20.0
#define MAX_CASES   256

typedef enum { EXPECT_REFUSED, EXPECT_DISABLED, EXPECT_RUNNING } expect_t;

typedef struct hcase {
    char name[128];
    char path[1024];
    expect_t expect;
    char reason[128];
    char error[256];
    char verdict[128];
    char config[512];
    bool at_stop;
} hcase_t;

static char *baseline_fills;
static ks_run_result_t
    res; /* the running case's result; freed by the teardown (also after a failure) */
static hcase_t cases[MAX_CASES];
static int n_cases;

/* ---- headers ------------------------------------------------------------------------- */

static void header_value(const char *text, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\n-- %s: ", key);
    out[0] = '\0';
    const char *p = strstr(text, pat);
    if (!p && strncmp(text, pat + 1, strlen(pat + 1)) == 0)
        p = text - 1;
    if (!p)
        return;
    p += strlen(pat);
    size_t n = strcspn(p, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static int parse_case(const char *dir, const char *file, hcase_t *c)
{
    char expect[32], when[32];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", file);
    if (snprintf(c->path, sizeof(c->path), "%s/%s", dir, file) >= (int)sizeof(c->path))
        return -1;
    char *text = ks_run_slurp(c->path);
    if (!text)
        return -1;
    header_value(text, "expect", expect, sizeof(expect));
    header_value(text, "reason", c->reason, sizeof(c->reason));
    header_value(text, "error", c->error, sizeof(c->error));
    header_value(text, "verdict", c->verdict, sizeof(c->verdict));
    header_value(text, "config", c->config, sizeof(c->config));
    header_value(text, "when", when, sizeof(when));
    c->at_stop = strcmp(when, "stop") == 0;
    free(text);
    if (strcmp(expect, "refused") == 0)
        c->expect = EXPECT_REFUSED;
    else if (strcmp(expect, "disabled") == 0)
        c->expect = EXPECT_DISABLED;
    else if (strcmp(expect, "running") == 0)
        c->expect = EXPECT_RUNNING;
    else
        return -1;
    return 0;
}

static int cmp_case(const void *a, const void *b)
{
    return strcmp(((const hcase_t *)a)->name, ((const hcase_t *)b)->name);
}

static void load_cases(void)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/lua/hostile", ks_run_source_dir());
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL && n_cases < MAX_CASES) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0)
            continue;
        if (parse_case(dir, e->d_name, &cases[n_cases]) != 0) {
            fprintf(stderr, "%s/%s: no valid '-- expect:' header\n", dir, e->d_name);
            fail();
        }
        n_cases++;
    }
    closedir(d);
    qsort(cases, (size_t)n_cases, sizeof(cases[0]), cmp_case);
}

/* ---- checks ---------------------------------------------------------------------------- */

#define expect_contains(hay, needle, what)                                                         \
    do {                                                                                           \
        if (!(hay) || !strstr((hay), (needle))) {                                                  \
            print_error("%s: expected to contain\n    \"%s\"\n  got\n    \"%s\"\n", (what),        \
                        (needle), (hay) ? (hay) : "(null)");                                       \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void expect_same_fills(const ks_run_result_t *r)
{
    if (strcmp(r->fills ? r->fills : "", baseline_fills) == 0)
        return;
    const char *a = baseline_fills, *b = r->fills ? r->fills : "";
    int line = 1;
    while (*a && *a == *b) {
        if (*a == '\n')
            line++;
        a++;
        b++;
    }
    print_error("bystander fills differ from the baseline at line %d\n  baseline: %.120s\n"
                "  this run: %.120s\n",
                line, a, b);
    fail();
}

/* The host went on: some sample after the victim stopped (or after `from_ns`) shows more
 * events than the sample where that happened. */
static void expect_events_after(const ks_run_result_t *r, int64_t from_ns, bool use_disable)
{
    int first = -1;
    for (int i = 0; i < r->n_samples; i++) {
        if (use_disable ? !r->samples[i].enabled : r->samples[i].t_ns >= from_ns) {
            first = i;
            break;
        }
    }
    if (first < 0) {
        print_error("no sample after the event (%d samples)\n", r->n_samples);
        fail();
    }
    uint64_t at = r->samples[first].events, last = r->samples[r->n_samples - 1].events;
    if (!(last > at)) {
        print_error("the host stopped processing events: %llu at the failure, %llu at the end\n",
                    (unsigned long long)at, (unsigned long long)last);
        fail();
    }
}

/* ---- the cases ------------------------------------------------------------------------- */

static void run_refused(const hcase_t *c)
{
    ks_run_spec_t spec = {.victim_file = c->path,
                          .victim_extra = c->config[0] ? c->config : NULL,
                          .bystander = true,
                          .duration_s = RUN_S};
    /* 1. At startup: the engine refuses the config, naming the problem. */
    assert_int_equal(ks_run(&spec, &res), 0);
    if (res.loaded) {
        print_error("%s loaded; expected a refusal (%s); enabled=%d reason=%s\n", c->name, c->error,
                    res.enabled, res.disabled_reason);
        fail();
    }
    expect_contains(res.load_err, c->error, "the load error");
    ks_run_result_free(&res);

    /* 2. As a hot reload over the benign version: refused, journaled, the old version and
     * the bystander trade on. */
    char copy[600];
    snprintf(copy, sizeof(copy), "%s/victim_%s", ks_run_workdir(), c->name);
    char benign_path[1024];
    char *hostile = ks_run_slurp(c->path);
    snprintf(benign_path, sizeof(benign_path), "%s/tests/lua/hostile/support/benign.lua",
             ks_run_source_dir());
    char *benign = ks_run_slurp(benign_path);
    int wrote = benign && hostile ? ks_run_write(copy, benign, strlen(benign)) : -1;
    free(benign);
    assert_int_equal(wrote, 0);
    spec.victim_file = copy;
    spec.reload_text = hostile;
    spec.reload_at_s = RELOAD_AT_S;
    int rc = ks_run(&spec, &res);
    free(hostile);
    assert_int_equal(rc, 0);
    assert_true(res.loaded);
    assert_true(res.reloaded);
    assert_int_not_equal(res.reload_rc, 0);
    expect_contains(res.reload_err, c->error, "the reload error");
    assert_true(res.enabled); /* the running version kept going */
    expect_contains(res.journal, "strategy.reload_failed", "the victim's journal");
    expect_events_after(&res, (int64_t)(RELOAD_AT_S * 1e9), false);
    expect_same_fills(&res);
    ks_run_result_free(&res);
}

static void run_loaded(const hcase_t *c)
{
    ks_run_spec_t spec = {.victim_file = c->path,
                          .victim_extra = c->config[0] ? c->config : NULL,
                          .bystander = true,
                          .duration_s = RUN_S};
    assert_int_equal(ks_run(&spec, &res), 0);
    if (!res.loaded) {
        print_error("%s was refused at load: %s\n", c->name, res.load_err);
        fail();
    }
    assert_int_equal(res.run_rc, 0);
    if (c->expect == EXPECT_DISABLED) {
        if (res.enabled) {
            print_error("%s is still enabled (last error: %s)\n", c->name, res.last_error);
            fail();
        }
        assert_string_equal(res.disabled_reason, c->reason);
        expect_contains(res.last_error, c->error, "the last error");
        char journaled[300];
        snprintf(journaled, sizeof(journaled), "strategy.disabled {\"reason\":\"%s\"", c->reason);
        expect_contains(res.journal, journaled, "the victim's journal");
        /* Nothing of it ran afterwards: no error journaled after the disable. */
        const char *after = strstr(res.journal, "strategy.disabled");
        if (after && strstr(after, "strategy.error")) {
            print_error("the victim ran after it was disabled:\n%s\n", after);
            fail();
        }
        if (!c->at_stop)
            expect_events_after(&res, 0, true);
    } else {
        if (!res.enabled) {
            print_error("%s was disabled: %s (last error: %s)\n", c->name, res.disabled_reason,
                        res.last_error);
            fail();
        }
        if (c->verdict[0]) {
            char v[200];
            snprintf(v, sizeof(v), "\"verdict\":\"%s\"", c->verdict);
            expect_contains(res.state, v, "the victim's stored ctx.state");
        }
        expect_events_after(&res, 0, false);
    }
    expect_same_fills(&res);
    ks_run_result_free(&res);
}

static int case_teardown(void **state)
{
    ks_run_result_free(&res);
    return 0;
}

static void run_case(void **state)
{
    const hcase_t *c = *state;
    if (c->expect == EXPECT_REFUSED)
        run_refused(c);
    else
        run_loaded(c);
}

static int group_setup(void **state)
{
    char benign[1024];
    snprintf(benign, sizeof(benign), "%s/tests/lua/hostile/support/benign.lua",
             ks_run_source_dir());
    ks_run_spec_t spec = {.victim_file = benign, .bystander = true, .duration_s = RUN_S};
    if (ks_run(&spec, &res) != 0 || !res.loaded || !res.enabled || !res.fills) {
        fprintf(stderr, "baseline run failed: %s\n", res.load_err);
        return -1;
    }
    if (strchr(res.fills, '\n') == NULL ||
        strchr(res.fills, '\n') == res.fills + strlen(res.fills) - 1) {
        fprintf(stderr, "the bystander should fill several times in the baseline:\n%s\n",
                res.fills);
        return -1;
    }
    baseline_fills = res.fills;
    res.fills = NULL;
    ks_run_result_free(&res);
    return 0;
}

static int group_teardown(void **state)
{
    free(baseline_fills);
    ks_run_cleanup();
    return 0;
}

int main(void)
{
    load_cases();
    if (n_cases < 25) {
        fprintf(stderr, "only %d hostile scripts (at least 25 expected)\n", n_cases);
        return 1;
    }
    struct CMUnitTest *tests = calloc((size_t)n_cases, sizeof(*tests));
    if (!tests)
        return 1;
    for (int i = 0; i < n_cases; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
        tests[i].teardown_func = case_teardown;
    }
    int rc =
        _cmocka_run_group_tests("hostile", tests, (size_t)n_cases, group_setup, group_teardown);
    free(tests);
    return rc;
}
