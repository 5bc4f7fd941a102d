/* Test helpers shared by the funding checks (tests/replay/funding_check.c,
 * tests/strategies/funding_arb_check.c): exact decimals from text, and (time, value) rows
 * of a recorded CSV. They exit(2) on input they cannot read: a check that cannot read
 * its data must not pass. */
#ifndef KS_TEST_CSV_ROWS_H
#define KS_TEST_CSV_ROWS_H

#include <kestrel/kestrel.h>

typedef struct row {
    long long ts_ms;
    ks_dec_t a;
} row_t;

/* The decimal of s, normalized; exits on a bad one. */
ks_dec_t csv_dec(const char *s);
/* d as text, in one of 8 rotating static buffers (several per printf). */
const char *csv_fmt(ks_dec_t d);
/* Reads column ts_col (ms) and value column val_col of a CSV with a header line into at
 * most cap rows; returns how many. Exits when the file cannot be opened. */
int csv_read_rows(const char *path, int ts_col, int val_col, row_t *rows, int cap);

#endif
