/* See csv_rows.h. */
#include "csv_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ks_dec_t csv_dec(const char *s)
{
    ks_dec_t d = KS_DEC_ZERO;
    if (ks_dec_parse(s, (size_t)-1, &d) != KS_OK) {
        fprintf(stderr, "bad decimal %s\n", s);
        exit(2);
    }
    return ks_dec_normalize(d);
}

const char *csv_fmt(ks_dec_t d)
{
    static char buf[8][KS_DEC_STRLEN];
    static int i;
    i = (i + 1) % 8;
    ks_dec_format(d, buf[i], sizeof(buf[i]));
    return buf[i];
}

int csv_read_rows(const char *path, int ts_col, int val_col, row_t *rows, int cap)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof(line), f) && n < cap) {
        char *col[16];
        int nc = 0;
        line[strcspn(line, "\r\n")] = '\0';
        for (char *p = line, *c; nc < 16; p = c + 1) {
            col[nc++] = p;
            if (!(c = strchr(p, ',')))
                break;
            *c = '\0';
        }
        if (nc <= ts_col || nc <= val_col)
            continue;
        rows[n].ts_ms = atoll(col[ts_col]);
        rows[n].a = csv_dec(col[val_col]);
        n++;
    }
    fclose(f);
    return n;
}
