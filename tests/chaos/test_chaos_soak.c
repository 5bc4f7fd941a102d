/* Soak test: a strategy opens and closes spot-long / perp-short leg groups on three
 * bases, thousands of times, against the sim venue injecting every fault it has (rejected
 * legs, delayed and lost acknowledgements, lost fills, partial fills, 429 bursts,
 * disconnects), in a backtest (virtual clock). After a quiet period:
 *
 *  - no naked leg: every group is CLOSED or FAILED (flat), or ACTIVE and balanced, and
 *    the venue's spot holdings match its perp short for every base;
 *  - no duplicate order: the venue received every client order id once;
 *  - positions are the sum of fills: host OMS position == sum of the store's fills ==
 *    the venue's own position, per instrument; every order ended final.
 *
 * CHAOS_SEED and CHAOS_HOURS (environment) replay or stretch a run; the seed is printed. */
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

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "engine.h"
#include "legs.h"
#include "log.h"
#include "lua_runtime.h"

#define NS      1000000000LL
#define N_BASES 3
static const char *const bases[N_BASES] = {"BTC", "ETH", "SOL"};

typedef struct inst_tot {
    char symbol[KS_SYMBOL_LEN];
    ks_dec_t host;  /* OMS, every account */
    ks_dec_t legs;  /* sum over leg groups, signed */
    ks_dec_t fills; /* the store's fills, signed */
    ks_dec_t venue; /* the venue's own: perp position, spot base total */
} inst_tot_t;

typedef struct legs_check {
    ks_engine_t *eng;
    inst_tot_t *tot;
    int n_tot;
    int by_state[6];
    int unbalanced, not_flat;
} legs_check_t;

static inst_tot_t *tot_of(inst_tot_t *t, int n, const char *symbol)
{
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].symbol, symbol) == 0)
            return &t[i];
    fail_msg("unknown symbol %s", symbol);
    return NULL;
}

static const char *fmt(ks_dec_t d, char *b)
{
    ks_dec_format(d, b, KS_DEC_STRLEN);
    return b;
}

static void check_group(void *ud, ks_hedge_t *h)
{
    legs_check_t *c = ud;
    ks_market_t *m = ks_engine_market(c->eng);
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    c->by_state[h->state]++;
    for (int i = 0; i < h->n_legs; i++) {
        const ks_leg_t *l = &h->legs[i];
        inst_tot_t *t = tot_of(c->tot, c->n_tot, ks_market_inst(m, l->inst)->symbol);
        ks_dec_add(t->legs, l->side > 0 ? l->pos : ks_dec_neg(l->pos), &t->legs);
    }
    switch (h->state) {
    case KS_HEDGE_CLOSED:
    case KS_HEDGE_FAILED:
        for (int i = 0; i < h->n_legs; i++)
            if (!ks_dec_is_zero(h->legs[i].pos)) {
                if (c->not_flat++ < 10)
                    print_message("group %s is %s with leg %d at %s (%s)\n", h->id,
                                  ks_hedge_state_name(h->state), i, fmt(h->legs[i].pos, a),
                                  h->reason);
            }
        break;
    case KS_HEDGE_ACTIVE:
        if (ks_dec_cmp(h->legs[0].pos, h->legs[1].pos) != 0 || ks_dec_sign(h->legs[0].pos) <= 0) {
            if (c->unbalanced++ < 10)
                print_message("group %s is active but unbalanced: %s vs %s (%s)\n", h->id,
                              fmt(h->legs[0].pos, a), fmt(h->legs[1].pos, b), h->reason);
        }
        break;
    default:
        if (c->unbalanced++ < 10)
            print_message("group %s still %s after the quiet period (%s; spot %s, perp %s)\n",
                          h->id, ks_hedge_state_name(h->state), h->reason, fmt(h->legs[0].pos, a),
                          fmt(h->legs[1].pos, b));
        break;
    }
}

static double secs_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void soak_leaves_no_naked_leg_no_duplicate_and_positions_equal_fills(void **state)
{
    const char *es = getenv("CHAOS_SEED"), *eh = getenv("CHAOS_HOURS");
    unsigned long long seed = es ? strtoull(es, NULL, 10) : 20260112ULL;
    double hours = eh ? atof(eh) : 48;
    const double quiet_h = 0.5;
    char dir[64], path[256], audit[256], json[8192], err[1024];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    print_message("chaos soak: seed %llu, %.1f h of trading + %.1f h quiet (replay with "
                  "CHAOS_SEED=%llu)\n",
                  seed, hours, quiet_h, seed);

    strcpy(dir, "/tmp/ks_chaos_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(audit, sizeof(audit), "%s/venue-audit.json", dir);
    const int64_t start_ns = 1767225600LL * NS; /* 2026-01-01T00:00:00Z */
    const int64_t open_until_ms = (start_ns + (int64_t)(hours * 3600 * NS)) / 1000000;
    snprintf(json, sizeof(json),
             "{\"plugin_path\": [\"%s\"], \"state_dir\": \"%s/state\","
             " \"venues\": {\"sim\": {\"plugin\": \"sim\", \"rate_limit\": {\"requests\": 20, "
             "\"per_s\": 1}, \"config\": {"
             "  \"seed\": %llu, \"tick_ms\": 2000, \"symbols\": [\"BTC\", \"ETH\", \"SOL\"],"
             "  \"latency_ms\": 30, \"latency_jitter_ms\": 40, \"book_levels\": 5,"
             "  \"balances\": {\"spot\": {\"USDT\": \"5000000\"}, \"futures\": {\"USDT\": "
             "\"5000000\"}},"
             "  \"audit_file\": \"%s\","
             "  \"faults\": {"
             "    \"reject\": {\"p\": 0.02},"
             "    \"delay\": {\"p\": 0.03, \"min_ms\": 200, \"max_ms\": 9000},"
             "    \"lose_ack\": {\"p\": 0.01},"
             "    \"lose_fill\": {\"p\": 0.01},"
             "    \"partial\": {\"p\": 0.05, \"min\": 0.1, \"max\": 0.9},"
             "    \"rate_limit\": {\"every_s\": 1800, \"for_ms\": 4000},"
             "    \"disconnect\": {\"every_s\": 3600, \"for_ms\": 12000}}}}},"
             " \"strategies\": {\"hedger\": {\"file\": \"%s/hedger.lua\", \"venue\": "
             "\"sim\","
             "  \"symbols\": [\"BTC/USDT\", \"BTC/USDT:USDT\", \"ETH/USDT\", \"ETH/USDT:USDT\","
             "               \"SOL/USDT\", \"SOL/USDT:USDT\"], \"capital\": \"10000000\","
             "  \"params\": {\"seed\": %llu, \"every_s\": 18, \"hold_min_s\": 5, \"hold_max_s\": "
             "60, \"max_open\": 2, \"keep_p\": 0.5, \"open_until_ms\": %lld}}}}",
             KS_PLUGIN_DIR, dir, seed, audit, KS_CHAOS_DIR, seed % 100000 + 1,
             (long long)open_until_ms);
    ks_config_t *cfg = ks_config_parse(json, dir, err, sizeof(err));
    if (!cfg)
        fail_msg("config: %s", err);
    snprintf(path, sizeof(path), "%s/state", dir);
    ks_engine_opts_t o = {
        .cfg = cfg, .state_dir = path, .backtest = true, .start_wall_ns = start_ns};
    ks_engine_t *eng = ks_engine_new(&o, err, sizeof(err));
    if (!eng)
        fail_msg("engine: %s", err);
    if (ks_engine_start(eng, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    int rc = ks_engine_run(eng, (int64_t)((hours + quiet_h) * 3600 * NS));
    assert_int_equal(rc, 0);
    print_message("ran %.1f virtual hours in %.1f s\n", hours + quiet_h, secs_since(&t0));

    /* ---- the host's view ---------------------------------------------------------------- */
    ks_market_t *m = ks_engine_market(eng);
    ks_oms_t *oms = ks_engine_oms(eng);
    inst_tot_t tot[2 * N_BASES];
    int n_tot = 0;
    for (int32_t i = 0; i < m->n; i++) {
        const ks_inst_rec_t *r = ks_market_inst(m, i);
        assert_true(n_tot < 2 * N_BASES);
        memset(&tot[n_tot], 0, sizeof(tot[0]));
        ks_strlcpy(tot[n_tot].symbol, r->symbol, sizeof(tot[0].symbol));
        tot[n_tot].host = ks_oms_total_position(oms, i);
        n_tot++;
    }
    legs_check_t lc = {.eng = eng, .tot = tot, .n_tot = n_tot};
    ks_legs_foreach(ks_engine_legs(eng), -2, true, check_group, &lc);
    int n_groups = 0;
    for (int i = 0; i < 6; i++)
        n_groups += lc.by_state[i];
    print_message("leg groups: %d (closed %d, failed %d, active %d, opening %d, closing %d)\n",
                  n_groups, lc.by_state[KS_HEDGE_CLOSED], lc.by_state[KS_HEDGE_FAILED],
                  lc.by_state[KS_HEDGE_ACTIVE], lc.by_state[KS_HEDGE_OPENING],
                  lc.by_state[KS_HEDGE_CLOSING]);
    /* Orders: every one final, nothing left waiting. */
    size_t it = 0;
    void *val;
    int not_final = 0, n_orders = 0;
    while (ks_strmap_next(&oms->orders, &it, NULL, &val)) {
        ks_order_t *ord = val;
        n_orders++;
        if (!ks_order_status_is_final(ord->rec.status) && not_final++ < 10)
            print_message("order %s still %s (%s)\n", ord->rec.cloid,
                          ks_order_status_name(ord->rec.status), ord->rec.reason);
    }
    if (oms->n_open != (uint64_t)not_final)
        print_message("the OMS counts %llu open orders, %d are\n", (unsigned long long)oms->n_open,
                      not_final);
    ks_store_flush(ks_engine_store(eng));
    ks_engine_free(eng); /* closes the venue: it writes its audit file */
    ks_config_free(cfg);

    /* ---- the store's fills --------------------------------------------------------------- */
    sqlite3 *db;
    sqlite3_stmt *st;
    snprintf(path, sizeof(path), "%s/state/kestrel.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT symbol, side, qty FROM fills", -1, &st, NULL),
                     SQLITE_OK);
    int n_fills = 0, n_recon = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ks_dec_t q = KS_DEC_ZERO;
        ks_dec_parse((const char *)sqlite3_column_text(st, 2), (size_t)-1, &q);
        inst_tot_t *t = tot_of(tot, n_tot, (const char *)sqlite3_column_text(st, 0));
        ks_dec_add(t->fills, sqlite3_column_int(st, 1) > 0 ? q : ks_dec_neg(q), &t->fills);
        n_fills++;
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM fills WHERE trade_id LIKE "
                                        "'recon-%'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n_recon = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* ---- the venue's own account ----------------------------------------------------------- */
    FILE *af = fopen(audit, "r");
    assert_non_null(af);
    static char abuf[1 << 16];
    size_t an = fread(abuf, 1, sizeof(abuf) - 1, af);
    fclose(af);
    abuf[an] = '\0';
    cJSON *aj = cJSON_Parse(abuf);
    assert_non_null(aj);
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(aj, "instruments"))
    {
        inst_tot_t *t = tot_of(tot, n_tot, cJSON_GetObjectItem(x, "symbol")->valuestring);
        ks_dec_parse(cJSON_GetObjectItem(x, "qty")->valuestring, (size_t)-1, &t->venue);
    }
    int dups = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(aj, "duplicate_cloids"));
    int placed = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(aj, "placed"));
    const cJSON *fx = cJSON_GetObjectItem(aj, "faults");
    char *fxs = cJSON_PrintUnformatted(fx);
    print_message("venue: %d placements, %d duplicate client ids; faults %s\n", placed, dups, fxs);
    print_message("host: %d orders, %d fills (%d booked from order updates: lost fills)\n",
                  n_orders, n_fills, n_recon);
    free(fxs);

    /* ---- the assertions ---------------------------------------------------------------------- */
    int bad = 0;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], c[KS_DEC_STRLEN], d[KS_DEC_STRLEN];
    for (int i = 0; i < n_tot; i++) {
        inst_tot_t *t = &tot[i];
        print_message("  %-14s host %-10s legs %-10s fills %-10s venue %s\n", t->symbol,
                      fmt(t->host, a), fmt(t->legs, b), fmt(t->fills, c), fmt(t->venue, d));
        if (ks_dec_cmp(t->host, t->fills) || ks_dec_cmp(t->host, t->venue) ||
            ks_dec_cmp(t->host, t->legs))
            bad++;
    }
    for (int k = 0; k < N_BASES; k++) {
        char spot[KS_SYMBOL_LEN], perp[KS_SYMBOL_LEN];
        snprintf(spot, sizeof(spot), "%s/USDT", bases[k]);
        snprintf(perp, sizeof(perp), "%s/USDT:USDT", bases[k]);
        ks_dec_t sum;
        ks_dec_add(tot_of(tot, n_tot, spot)->venue, tot_of(tot, n_tot, perp)->venue, &sum);
        if (!ks_dec_is_zero(sum)) {
            print_message("%s: the venue's spot holdings and perp position differ by %s\n",
                          bases[k], fmt(sum, a));
            bad++;
        }
    }
    /* Every kind of fault actually happened. */
    static const char *const kinds[] = {"rejected", "partial",      "lost_acks",   "lost_fills",
                                        "delayed",  "rate_limited", "disconnects", "lost_requests"};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (cJSON_GetNumberValue(cJSON_GetObjectItem(fx, kinds[k])) < 1) {
            print_message("fault %s never fired\n", kinds[k]);
            bad++;
        }
    cJSON_Delete(aj);
    print_message("soak finished in %.1f s\n", secs_since(&t0));
    assert_int_equal(lc.unbalanced, 0);
    assert_int_equal(lc.not_flat, 0);
    assert_int_equal(not_final, 0);
    assert_int_equal(dups, 0);
    assert_int_equal(bad, 0);
    assert_true(n_groups >= (int)(10000 * hours / 48));
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    if (!getenv("CHAOS_KEEP"))
        assert_int_equal(system(path), 0);
    else
        print_message("kept %s\n", dir);
}

int main(void)
{
    ks_log_setup(stderr, getenv("CHAOS_LOG") ? KS_LOG_INFO : KS_LOG_ERROR, KS_LOGF_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(soak_leaves_no_naked_leg_no_duplicate_and_positions_equal_fills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
