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
/* Adds one line to the report's "notes" (facts the strategies cannot know: synthetic
 * markets, a premium filter, the data replayed...). printf-style; duplicates are dropped,
 * at most 64 notes. Venues can leave notes too: each line of their plugin key-value
 * "report.notes" becomes "venue <name>: <line>" when the report is written. */
void ks_report_note(ks_report_t *r, const char *fmt, ...) KS_PRINTF(2, 3);
/* Takes a last sample and writes the report files; -1 with one line in err on failure.
 * DIR/summary.json: ks_summary_json() plus "run", "series", "stats", "symbols", "trades"
 * and "notes"; DIR/report.html: the same data inline with its charts and tables. */
int ks_report_write(ks_report_t *r, const char *dir, char *err, size_t err_len);
void ks_report_free(ks_report_t *r);

#endif
