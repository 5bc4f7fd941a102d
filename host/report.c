/* Backtest reports: being written (see report.h). */
#include <stdio.h>
#include <stdlib.h>

#include "report.h"

struct ks_report {
    ks_engine_t *eng;
};

ks_report_t *ks_report_start(ks_engine_t *eng, int64_t sample_ns)
{
    ks_report_t *r = calloc(1, sizeof(*r));
    if (r)
        r->eng = eng;
    return r;
}

int ks_report_write(ks_report_t *r, const char *dir, char *err, size_t err_len)
{
    snprintf(err, err_len, "%s: reports are not built yet", dir);
    return -1;
}

void ks_report_free(ks_report_t *r)
{
    free(r);
}
