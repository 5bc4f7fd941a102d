/* replay_funding_check: recomputes, from the recorded CSV rows alone, the funding a
 * strategy holding fixed positions must have been paid over a Binance funding + 1h klines
 * replay, and compares it row by row with the funding_payments table of the backtest's
 * database (and, when given, with the summary's total).
 *
 *   replay_funding_check DB DATA_DIR STRATEGY [TOTAL]
 *
 * For every perp the strategy traded: position = the signed sum of its fills, opened at
 * the first fill; for every recorded settlement (data/funding/<SYM>.csv) after that, the
 * mark in effect is the close of the last candle (data/1h/<SYM>.csv) whose close_time is
 * at or before the settlement, and the payment is -qty * mark * rate rounded toward -inf
 * at 8 decimals (positive rate: longs pay). Independent of the sim's code: plain CSV
 * reading and SDK decimals. Exit 0 when everything matches. */
#include <kestrel/kestrel.h>

#include "../common/csv_rows.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 8192

static int failures;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DB DATA_DIR STRATEGY [TOTAL]\n", argv[0]);
        return 2;
    }
    const char *db_path = argv[1], *data = argv[2], *strat = argv[3];
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
    ks_dec_t total = KS_DEC_ZERO, exact_total = KS_DEC_ZERO;
    int n_syms = 0, n_pays = 0;
    while (sqlite3_step(syms) == SQLITE_ROW) {
        char symbol[64], venue_sym[64], path[2048];
        snprintf(symbol, sizeof(symbol), "%s", (const char *)sqlite3_column_text(syms, 0));
        /* BTC/USDT:USDT -> BTCUSDT */
        char base[32] = "", quote[32] = "";
        sscanf(symbol, "%31[^/]/%31[^:]", base, quote);
        snprintf(venue_sym, sizeof(venue_sym), "%s%s", base, quote);

        ks_dec_t qty = KS_DEC_ZERO;
        long long entry_ns = -1;
        sqlite3_reset(fills);
        sqlite3_bind_text(fills, 1, strat, -1, SQLITE_STATIC);
        sqlite3_bind_text(fills, 2, symbol, -1, SQLITE_STATIC);
        while (sqlite3_step(fills) == SQLITE_ROW) {
            ks_dec_t q = csv_dec((const char *)sqlite3_column_text(fills, 1));
            if (sqlite3_column_int(fills, 0) < 0)
                q = ks_dec_neg(q);
            ks_dec_add(qty, q, &qty);
            if (entry_ns < 0)
                entry_ns = sqlite3_column_int64(fills, 2);
        }

        snprintf(path, sizeof(path), "%s/data/1h/%s.csv", data, venue_sym);
        int nk = csv_read_rows(path, 8, 4, kl, MAX_ROWS); /* close_time, close */
        snprintf(path, sizeof(path), "%s/data/funding/%s.csv", data, venue_sym);
        int nf = csv_read_rows(path, 0, 2, fr, MAX_ROWS); /* timestamp, funding_rate */

        sqlite3_reset(pays);
        sqlite3_bind_text(pays, 1, strat, -1, SQLITE_STATIC);
        sqlite3_bind_text(pays, 2, symbol, -1, SQLITE_STATIC);
        int k = 0, expected = 0, got = 0;
        ks_dec_t sym_sum = KS_DEC_ZERO;
        for (int i = 0; i < nf; i++) {
            long long ts_ns = fr[i].ts_ms * 1000000LL;
            if (ts_ns <= entry_ns)
                continue;
            while (k + 1 < nk && kl[k + 1].ts_ms * 1000000LL <= ts_ns)
                k++;
            if (!nk || kl[k].ts_ms * 1000000LL > ts_ns)
                continue; /* no candle closed yet: no mark */
            ks_dec_t mark = kl[k].a, rate = fr[i].a, value, exact, want;
            ks_dec_mul(qty, mark, &value);
            ks_dec_mul(value, rate, &exact);
            exact = ks_dec_neg(exact);
            ks_dec_rescale(exact, 8, KS_ROUND_FLOOR, &want);
            want = ks_dec_normalize(want);
            expected++;
            ks_dec_add(exact_total, exact, &exact_total);
            if (sqlite3_step(pays) != SQLITE_ROW) {
                fprintf(stderr, "%s: settlement at %lld ms (rate %s, mark %s) was not paid\n",
                        symbol, fr[i].ts_ms, csv_fmt(rate), csv_fmt(mark));
                failures++;
                continue;
            }
            got++;
            long long db_ts = sqlite3_column_int64(pays, 0);
            ks_dec_t db_rate = csv_dec((const char *)sqlite3_column_text(pays, 1));
            ks_dec_t db_mark = csv_dec((const char *)sqlite3_column_text(pays, 3));
            ks_dec_t db_amount = csv_dec((const char *)sqlite3_column_text(pays, 4));
            if (db_ts != ts_ns || ks_dec_cmp(db_rate, rate) || ks_dec_cmp(db_mark, mark) ||
                ks_dec_cmp(db_amount, want)) {
                fprintf(stderr,
                        "%s @ %lld: paid %s (rate %s, mark %s, ts %lld), expected %s (rate %s, "
                        "mark %s)\n",
                        symbol, fr[i].ts_ms, csv_fmt(db_amount), csv_fmt(db_rate), csv_fmt(db_mark),
                        db_ts, csv_fmt(want), csv_fmt(rate), csv_fmt(mark));
                failures++;
            }
            ks_dec_add(sym_sum, db_amount, &sym_sum);
        }
        while (sqlite3_step(pays) == SQLITE_ROW) {
            fprintf(stderr, "%s: unexpected payment at %lld ns\n", symbol,
                    (long long)sqlite3_column_int64(pays, 0));
            failures++;
        }
        printf("%-20s qty %-6s entry %lld: %4d settlements, %4d paid, sum %s\n", symbol,
               csv_fmt(qty), entry_ns / 1000000LL, expected, got, csv_fmt(sym_sum));
        ks_dec_add(total, sym_sum, &total);
        n_syms++;
        n_pays += got;
    }
    printf("%d perps, %d payments, total %s (unrounded %s)\n", n_syms, n_pays, csv_fmt(total),
           csv_fmt(exact_total));
    if (argc > 4 && ks_dec_cmp(csv_dec(argv[4]), total) != 0) {
        fprintf(stderr, "summary funding %s != sum of payments %s\n", argv[4], csv_fmt(total));
        failures++;
    }
    if (!n_syms || !n_pays) {
        fprintf(stderr, "nothing was checked (no fills or no payments)\n");
        failures++;
    }
    sqlite3_finalize(syms);
    sqlite3_finalize(fills);
    sqlite3_finalize(pays);
    sqlite3_close(db);
    printf("%s\n", failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
