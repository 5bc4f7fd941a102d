/* bybit_e2e_check: compares the host's database after a run against the Bybit
 * emulator's own record of what it processed, and fails on any lost, duplicated or
 * disagreeing order or fill.
 *
 *   bybit_e2e_check DB RECORD [--grace-ms N] [--min-orders N] [--min-fills N]
 *                   [--expect-gap-rebuild] [--expect-reauth] [--expect-reconnect]
 *
 * Rules (exact decimal comparisons):
 *  - every order the emulator processed is in the host's orders table, once, and the
 *    host's final status and filled quantity agree with the venue's;
 *  - a host order the venue never processed ended REJECTED (a stated refusal or
 *    "never received"), never FILLED/ACKED;
 *  - no host order is left SENT/UNKNOWN/NEW unless it was created in the last
 *    --grace-ms of the run;
 *  - the fills are the same set of execution ids on both sides with the same
 *    client id, price and quantity. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <kestrel/kestrel.h>

typedef struct h_order {
    char cloid[64];
    int status;
    ks_dec_t filled;
    long long created_ns;
    bool matched;
} h_order_t;

typedef struct h_fill {
    char trade_id[80];
    char cloid[64];
    ks_dec_t px, qty;
    bool matched;
} h_fill_t;

static int failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        failures++;                                                                                \
        if (failures <= 40) {                                                                      \
            fprintf(stderr, "MISMATCH: ");                                                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static ks_dec_t dec(const char *s)
{
    ks_dec_t d = KS_DEC_ZERO;
    if (s)
        ks_dec_parse(s, (size_t)-1, &d);
    return d;
}

/* The host statuses that agree with a venue status word. */
static bool status_agrees(const char *venue, int host, ks_dec_t filled)
{
    if (strcmp(venue, "Filled") == 0)
        return host == KS_OS_FILLED;
    if (strcmp(venue, "Cancelled") == 0 || strcmp(venue, "PartiallyFilledCanceled") == 0)
        /* a post-only that would take is a Cancelled order that Kestrel calls REJECTED */
        return host == KS_OS_CANCELED || (host == KS_OS_REJECTED && ks_dec_is_zero(filled));
    if (strcmp(venue, "Rejected") == 0)
        return host == KS_OS_REJECTED;
    if (strcmp(venue, "New") == 0)
        return host == KS_OS_ACKED;
    if (strcmp(venue, "PartiallyFilled") == 0)
        return host == KS_OS_PARTIAL;
    return false;
}

static double stat_of(const cJSON *stats, const char *k)
{
    double v = cJSON_GetNumberValue(cJSON_GetObjectItem(stats, k));
    return v == v ? v : 0; /* NaN when absent */
}

int main(int argc, char **argv)
{
    long long grace_ms = 6000;
    int min_orders = 1, min_fills = 1;
    bool expect_gap = false, expect_reauth = false, expect_reconnect = false;
    if (argc < 3) {
        fputs("usage: bybit_e2e_check DB RECORD [--grace-ms N] [--min-orders N] "
              "[--min-fills N] [--expect-gap-rebuild] [--expect-reauth] [--expect-reconnect]\n",
              stderr);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--grace-ms") == 0 && i + 1 < argc)
            grace_ms = atoll(argv[++i]);
        else if (strcmp(argv[i], "--min-orders") == 0 && i + 1 < argc)
            min_orders = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-fills") == 0 && i + 1 < argc)
            min_fills = atoi(argv[++i]);
        else if (strcmp(argv[i], "--expect-gap-rebuild") == 0)
            expect_gap = true;
        else if (strcmp(argv[i], "--expect-reauth") == 0)
            expect_reauth = true;
        else if (strcmp(argv[i], "--expect-reconnect") == 0)
            expect_reconnect = true;
    }

    /* --- the host's side ----------------------------------------------------------------- */
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s: %s\n", argv[1], sqlite3_errmsg(db));
        return 2;
    }
    h_order_t *ho = NULL;
    h_fill_t *hf = NULL;
    size_t n_ho = 0, n_hf = 0;
    long long last_ns = 0;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT cloid, status, filled, created_ns FROM orders WHERE venue = 'bybit'",
                       -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        ho = realloc(ho, (n_ho + 1) * sizeof(*ho));
        h_order_t *o = &ho[n_ho++];
        memset(o, 0, sizeof(*o));
        snprintf(o->cloid, sizeof(o->cloid), "%s", (const char *)sqlite3_column_text(st, 0));
        o->status = sqlite3_column_int(st, 1);
        o->filled = dec((const char *)sqlite3_column_text(st, 2));
        o->created_ns = sqlite3_column_int64(st, 3);
        if (o->created_ns > last_ns)
            last_ns = o->created_ns;
    }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT trade_id, cloid, px, qty FROM fills WHERE venue = 'bybit'", -1,
                       &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        hf = realloc(hf, (n_hf + 1) * sizeof(*hf));
        h_fill_t *f = &hf[n_hf++];
        memset(f, 0, sizeof(*f));
        snprintf(f->trade_id, sizeof(f->trade_id), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(f->cloid, sizeof(f->cloid), "%s", (const char *)sqlite3_column_text(st, 1));
        f->px = dec((const char *)sqlite3_column_text(st, 2));
        f->qty = dec((const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    /* The end of the run: the last order or event written. */
    sqlite3_prepare_v2(db, "SELECT MAX(ts_ns) FROM events", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > last_ns)
        last_ns = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* --- the venue's side ------------------------------------------------------------------- */
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    int v_orders = 0, v_fills = 0;
    cJSON *stats = NULL;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind"));
        if (!kind) {
            cJSON_Delete(j);
            continue;
        }
        if (strcmp(kind, "order") == 0) {
            v_orders++;
            const char *cloid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "cloid"));
            const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(j, "status"));
            ks_dec_t filled = dec(cJSON_GetStringValue(cJSON_GetObjectItem(j, "filled")));
            h_order_t *o = NULL;
            for (size_t i = 0; i < n_ho && !o; i++)
                if (strcmp(ho[i].cloid, cloid) == 0)
                    o = &ho[i];
            if (!o) {
                FAIL("venue order %s (%s) is unknown to the host", cloid, status);
            } else if (o->matched) {
                FAIL("order %s appears twice at the venue", cloid);
            } else {
                o->matched = true;
                char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
                ks_dec_format(o->filled, a, sizeof(a));
                ks_dec_format(filled, b, sizeof(b));
                bool recent = last_ns - o->created_ns < grace_ms * 1000000LL;
                bool unresolved = o->status == KS_OS_SENT || o->status == KS_OS_UNKNOWN;
                if (!status_agrees(status, o->status, filled) && !(recent && unresolved))
                    FAIL("order %s: venue %s filled %s, host %s filled %s", cloid, status, b,
                         ks_order_status_name(o->status), a);
                else if (ks_dec_cmp(o->filled, filled) != 0 && !(recent && unresolved))
                    FAIL("order %s: venue filled %s, host filled %s", cloid, b, a);
            }
        } else if (strcmp(kind, "fill") == 0) {
            v_fills++;
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "exec_id"));
            const char *cloid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "cloid"));
            ks_dec_t px = dec(cJSON_GetStringValue(cJSON_GetObjectItem(j, "price")));
            ks_dec_t qty = dec(cJSON_GetStringValue(cJSON_GetObjectItem(j, "qty")));
            h_fill_t *x = NULL;
            for (size_t i = 0; i < n_hf && !x; i++)
                if (strcmp(hf[i].trade_id, id) == 0)
                    x = &hf[i];
            if (!x)
                FAIL("venue fill %s of %s is missing at the host", id, cloid);
            else if (x->matched)
                FAIL("fill %s twice at the venue", id);
            else {
                x->matched = true;
                if (strcmp(x->cloid, cloid) != 0 || ks_dec_cmp(x->px, px) != 0 ||
                    ks_dec_cmp(x->qty, qty) != 0)
                    FAIL("fill %s differs (cloid/price/qty)", id);
            }
        } else if (strcmp(kind, "stats") == 0) {
            cJSON_Delete(stats);
            stats = j;
            j = NULL;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);

    int h_unplaced = 0, h_open = 0;
    for (size_t i = 0; i < n_ho; i++) {
        h_order_t *o = &ho[i];
        bool recent = last_ns - o->created_ns < grace_ms * 1000000LL;
        if (!o->matched) {
            if (o->status == KS_OS_REJECTED)
                h_unplaced++;
            else if (!(recent && (o->status == KS_OS_SENT || o->status == KS_OS_UNKNOWN ||
                                  o->status == KS_OS_NEW)))
                FAIL("host order %s is %s but the venue never processed it", o->cloid,
                     ks_order_status_name(o->status));
        } else if ((o->status == KS_OS_SENT || o->status == KS_OS_UNKNOWN ||
                    o->status == KS_OS_NEW) &&
                   !recent) {
            FAIL("host order %s still %s at the end", o->cloid, ks_order_status_name(o->status));
        }
        if (!ks_order_status_is_final(o->status))
            h_open++;
    }
    for (size_t i = 0; i < n_hf; i++)
        if (!hf[i].matched)
            FAIL("host fill %s of %s never happened at the venue", hf[i].trade_id, hf[i].cloid);

#define STAT(k) stat_of(stats, k)
    if (v_orders < min_orders)
        FAIL("only %d orders reached the venue (expected at least %d)", v_orders, min_orders);
    if (v_fills < min_fills)
        FAIL("only %d fills (expected at least %d)", v_fills, min_fills);
    if (expect_gap && (STAT("gaps_injected") < 1 || STAT("book_resubscribes_after_gap") < 1))
        FAIL("no book was resubscribed after the injected gap (gaps %g)", STAT("gaps_injected"));
    if (expect_reauth && (STAT("auth_failed") < 1 || STAT("auth_ok") < 2))
        FAIL("expected a refused auth followed by a successful one (ok %g, failed %g)",
             STAT("auth_ok"), STAT("auth_failed"));
    if (expect_reconnect && STAT("private_connects") < 2)
        FAIL("the private stream never reconnected");
    printf("host: %zu orders (%d never placed, %d open), %zu fills; venue: %d orders, %d fills; "
           "gaps %g, book resubscribes after a gap %g, private connects %g, auth ok %g failed %g, "
           "faults %g\n",
           n_ho, h_unplaced, h_open, n_hf, v_orders, v_fills, STAT("gaps_injected"),
           STAT("book_resubscribes_after_gap"), STAT("private_connects"), STAT("auth_ok"),
           STAT("auth_failed"), STAT("faults_fired"));
#undef STAT
    cJSON_Delete(stats);
    free(ho);
    free(hf);
    if (failures)
        fprintf(stderr, "%d mismatch(es)\n", failures);
    return failures ? 1 : 0;
}
