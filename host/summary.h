/* End-of-run summary: a per-strategy table (orders, fills, fees, funding, realized and
 * unrealized PnL) and the same as JSON for --summary-json. Deterministic: no wall-clock
 * values, so two identical backtests write byte-identical JSON. */
#ifndef KS_SUMMARY_H
#define KS_SUMMARY_H

#include <stdio.h>

#include "engine.h"

void ks_summary_print(ks_engine_t *eng, FILE *out);
/* Writes the JSON summary; returns 0, or -1 with one line in err. */
int ks_summary_write_json(ks_engine_t *eng, const char *path, char *err, size_t err_len);
/* The JSON text; caller frees. */
char *ks_summary_json(ks_engine_t *eng);

#endif
