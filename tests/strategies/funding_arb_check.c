/* strategy_funding_check: the funding income of a backtest that traded in and out of
 * Binance perps (funding_arb over the gravestone-data tree), recomputed from the recorded
 * CSV rows and the fills the backtest made, and compared with the summary's total.
 *
 *   strategy_funding_check DB DATA_DIR STRATEGY SUMMARY_FUNDING
 *
 * For every perp the strategy traded (fills table): its position over time is the running
 * signed sum of its fills; for every recorded settlement (data/funding/<SYM>.csv: time,
 * rate) the position held then is the sum of the fills strictly before it (a fill at the
 * very same nanosecond is ambiguous and fails the check); the mark is the close of the last
 * candle (data/1h/<SYM>.csv) closed at or before the settlement; the payment is
 * -qty * mark * rate, rounded toward -infinity at 8 decimals (the documented rule; positive
 * rate: shorts receive). Independent of the sim's code: plain CSV reading, the fills table
 * and SDK decimals. The total must equal the summary's funding within 1e-9 relative; the
 * funding_payments table is compared row by row too, to say where a difference comes from.
 * Exit 0 when everything matches. */
#include <kestrel/kestrel.h>

#include "../common/csv_rows.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 16384

typedef struct fill {
    long long ts_ns;
    ks_dec_t q; /* signed */
} fill_t;

static int failures;

static ks_dec_t add(ks_dec_t a, ks_dec_t b)
{
    ks_dec_t r;
    if (ks_dec_add(a, b, &r) != KS_OK) {
        fprintf(stderr, "decimal overflow adding %s + %s\n", csv_fmt(a), csv_fmt(b));
        exit(2);
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s DB DATA_DIR STRATEGY SUMMARY_FUNDING\n", argv[0]);
        return 2;
    }
    const char *db_path = argv[1], *data = argv[2], *strat = argv[3];
    ks_dec_t summary = csv_dec(argv[4]);
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", db_path, sqlite3_errmsg(db));
        return 2;
    }
    static row_t kl[MAX_ROWS], fr[MAX_ROWS];
    sqlite3_stmt *syms, *fills, *pays;
    sqlite3_prepare_v2(db,
                       "SELECT DISTINCT symbol FROM fills WHERE strategy = ?1 AND symbol LIKE "
                       "'%:%' ORDER BY symbol",
                       -1, &syms, NULL);
    sqlite3_prepare_v2(db,
                       "SELECT side, qty, ts_ns FROM fills WHERE strategy = ?1 AND symbol = ?2 "
                       "ORDER BY ts_ns, id",
                       -1, &fills, NULL);
    sqlite3_prepare_v2(db,
                       "SELECT ts_ns, rate, qty, mark, amount FROM funding_payments WHERE "
                       "strategy = ?1 AND symbol = ?2 ORDER BY ts_ns",
                       -1, &pays, NULL);
    sqlite3_bind_text(syms, 1, strat, -1, SQLITE_STATIC);
    ks_dec_t total = KS_DEC_ZERO;
    long double exact_total = 0;
    int n_syms = 0, n_pays = 0, n_fills = 0;
    while (sqlite3_step(syms) == SQLITE_ROW) {
        char symbol[64], venue_sym[64], path[2048];
        snprintf(symbol, sizeof(symbol), "%s", (const char *)sqlite3_column_text(syms, 0));
        char base[32] = "", quote[32] = "";
        sscanf(symbol, "%31[^/]/%31[^:]", base, quote); /* BTC/USDT:USDT -> BTCUSDT */
        snprintf(venue_sym, sizeof(venue_sym), "%s%s", base, quote);

        /* The strategy's fills in this perp, in time order. */
        fill_t *fl = NULL;
        int nfl = 0, cap = 0;
        sqlite3_reset(fills);
        sqlite3_bind_text(fills, 1, strat, -1, SQLITE_STATIC);
        sqlite3_bind_text(fills, 2, symbol, -1, SQLITE_STATIC);
        while (sqlite3_step(fills) == SQLITE_ROW) {
            if (nfl == cap) {
                cap = cap ? cap * 2 : 64;
                fl = realloc(fl, (size_t)cap * sizeof(*fl));
                if (!fl)
                    return 2;
            }
            ks_dec_t q = csv_dec((const char *)sqlite3_column_text(fills, 1));
            if (sqlite3_column_int(fills, 0) < 0)
                q = ks_dec_neg(q);
            fl[nfl].q = q;
            fl[nfl].ts_ns = sqlite3_column_int64(fills, 2);
            nfl++;
        }
        n_fills += nfl;

        snprintf(path, sizeof(path), "%s/data/1h/%s.csv", data, venue_sym);
        int nk = csv_read_rows(path, 8, 4, kl, MAX_ROWS); /* close_time, close */
        snprintf(path, sizeof(path), "%s/data/funding/%s.csv", data, venue_sym);
        int nf = csv_read_rows(path, 0, 2, fr, MAX_ROWS); /* timestamp, funding_rate */

        sqlite3_reset(pays);
        sqlite3_bind_text(pays, 1, strat, -1, SQLITE_STATIC);
        sqlite3_bind_text(pays, 2, symbol, -1, SQLITE_STATIC);
        int k = 0, j = 0, expected = 0, held = 0;
        ks_dec_t pos = KS_DEC_ZERO, sym_sum = KS_DEC_ZERO;
        for (int i = 0; i < nf; i++) {
            long long ts_ns = fr[i].ts_ms * 1000000LL;
            while (j < nfl && fl[j].ts_ns < ts_ns)
                pos = add(pos, fl[j++].q);
            if (j < nfl && fl[j].ts_ns == ts_ns) {
                fprintf(stderr,
                        "%s: a fill at the settlement time %lld ms: which came first is "
                        "ambiguous\n",
                        symbol, fr[i].ts_ms);
                failures++;
            }
            if (ks_dec_is_zero(pos))
                continue;
            held++;
            while (k + 1 < nk && kl[k + 1].ts_ms * 1000000LL <= ts_ns)
                k++;
            if (!nk || kl[k].ts_ms * 1000000LL > ts_ns) {
                fprintf(stderr, "%s: held %s at %lld ms before any candle closed\n", symbol,
                        csv_fmt(pos), fr[i].ts_ms);
                failures++;
                continue;
            }
            ks_dec_t mark = kl[k].a, rate = fr[i].a, value, paid, want;
            if (ks_dec_mul(pos, mark, &value) != KS_OK ||
                ks_dec_mul_round(value, rate, 8, KS_ROUND_CEIL, &paid) != KS_OK) {
                fprintf(stderr, "%s: decimal overflow at %lld\n", symbol, fr[i].ts_ms);
                return 2;
            }
            want = ks_dec_normalize(ks_dec_neg(paid)); /* -(q*m*r) rounded toward -inf */
            exact_total -= (long double)ks_dec_to_double(pos) *
                           (long double)ks_dec_to_double(mark) *
                           (long double)ks_dec_to_double(rate);
            expected++;
            sym_sum = add(sym_sum, want);
            /* Diagnostics: the store's payment row for the same settlement. */
            if (sqlite3_step(pays) != SQLITE_ROW) {
                fprintf(stderr,
                        "%s: settlement at %lld ms (qty %s, rate %s, mark %s) was not "
                        "paid\n",
                        symbol, fr[i].ts_ms, csv_fmt(pos), csv_fmt(rate), csv_fmt(mark));
                failures++;
                continue;
            }
            long long db_ts = sqlite3_column_int64(pays, 0);
            ks_dec_t db_rate = csv_dec((const char *)sqlite3_column_text(pays, 1));
            ks_dec_t db_qty = csv_dec((const char *)sqlite3_column_text(pays, 2));
            ks_dec_t db_mark = csv_dec((const char *)sqlite3_column_text(pays, 3));
            ks_dec_t db_amount = csv_dec((const char *)sqlite3_column_text(pays, 4));
            if (db_ts != ts_ns || ks_dec_cmp(db_rate, rate) || ks_dec_cmp(db_mark, mark) ||
                ks_dec_cmp(db_qty, pos) || ks_dec_cmp(db_amount, want)) {
                fprintf(stderr,
                        "%s @ %lld: paid %s (qty %s, rate %s, mark %s, ts %lld), expected %s "
                        "(qty %s, rate %s, mark %s)\n",
                        symbol, fr[i].ts_ms, csv_fmt(db_amount), csv_fmt(db_qty), csv_fmt(db_rate),
                        csv_fmt(db_mark), db_ts, csv_fmt(want), csv_fmt(pos), csv_fmt(rate),
                        csv_fmt(mark));
                failures++;
            }
        }
        while (sqlite3_step(pays) == SQLITE_ROW) {
            fprintf(stderr, "%s: a payment at %lld ns while flat\n", symbol,
                    (long long)sqlite3_column_int64(pays, 0));
            failures++;
        }
        printf("%-20s %4d fills, held at %4d settlements, funding %s\n", symbol, nfl, held,
               csv_fmt(ks_dec_normalize(sym_sum)));
        total = add(total, sym_sum);
        n_syms++;
        n_pays += expected;
        free(fl);
    }
    total = ks_dec_normalize(total);
    ks_dec_t diff;
    ks_dec_sub(summary, total, &diff);
    double rel = fabs(ks_dec_to_double(diff)) / fmax(fabs(ks_dec_to_double(total)), 1e-300);
    printf("%d perps, %d fills, %d settlements with a position: recomputed funding %s "
           "(unrounded %.8Lf); summary.json %s; relative difference %.3g\n",
           n_syms, n_fills, n_pays, csv_fmt(total), exact_total, csv_fmt(summary), rel);
    if (!(rel <= 1e-9)) {
        fprintf(stderr, "summary funding %s != recomputed %s\n", csv_fmt(summary), csv_fmt(total));
        failures++;
    }
    if (!n_syms || !n_pays) {
        fprintf(stderr, "nothing was checked (no perp fills, or no settlement while holding)\n");
        failures++;
    }
    sqlite3_finalize(syms);
    sqlite3_finalize(fills);
    sqlite3_finalize(pays);
    sqlite3_close(db);
    printf("%s\n", failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
