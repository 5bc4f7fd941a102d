/* Backtest reports: samples the engine on the (virtual) clock while a backtest runs,
 * then writes DIR/summary.json and a self-contained DIR/report.html (charts of equity,
 * funding income against fees, drawdown and exposure; a per-symbol table; the trades). */
#ifndef KS_REPORT_H
#define KS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct ks_report ks_report_t;

/* Starts sampling every sample_ns of loop time. Caller owns the result. */
ks_report_t *ks_report_start(ks_engine_t *eng, int64_t sample_ns);
/* Takes a last sample and writes the report files; -1 with one line in err on failure. */
int ks_report_write(ks_report_t *r, const char *dir, char *err, size_t err_len);
void ks_report_free(ks_report_t *r);

#endif
