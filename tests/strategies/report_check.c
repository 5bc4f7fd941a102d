/* strategy_report_check: a backtest report is sane for one strategy.
 *
 *   strategy_report_check REPORT_DIR STRATEGY [MIN_TRADES]
 *
 * summary.json parses; it has the strategy's summary (orders, fills, fees, funding, PnL),
 * statistics with finite numbers, a series with one value per sample time for each chart
 * (equity, funding, fees, drawdown, exposure), at least MIN_TRADES of its trades, and
 * notes; report.html holds the four charts' containers and its inline data block parses
 * and carries the same series. Prints the figures. Exit 0 when sane. */
#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL: " __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* A number or a decimal string as a double; NAN when neither. */
static double num(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v)) {
        char *end;
        double d = strtod(v->valuestring, &end);
        return *end ? NAN : d;
    }
    return NAN;
}

static const char *CHARTS[] = {"equity", "funding", "fees", "drawdown", "exposure"};

/* Checks series.t and series.strategies.<name>.<chart> arrays; returns the sample count. */
static int check_series(const cJSON *series, const char *name, const char *where)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(series, "t");
    int n = cJSON_GetArraySize(t);
    CHECK(cJSON_IsArray(t) && n > 1, "%s: series.t has %d samples", where, n);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(series, "strategies"), name);
    CHECK(cJSON_IsObject(s), "%s: no series for %s", where, name);
    for (size_t i = 0; i < sizeof(CHARTS) / sizeof(CHARTS[0]); i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, CHARTS[i]);
        CHECK(cJSON_IsArray(a) && cJSON_GetArraySize(a) == n,
              "%s: series %s has %d values, "
              "expected %d",
              where, CHARTS[i], cJSON_GetArraySize(a), n);
        const cJSON *v;
        int bad = 0;
        cJSON_ArrayForEach(v, a) bad += !isfinite(num(v));
        CHECK(!bad, "%s: %d values of %s are not numbers", where, bad, CHARTS[i]);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s REPORT_DIR STRATEGY [MIN_TRADES]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *name = argv[2];
    int min_trades = argc > 3 ? atoi(argv[3]) : 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    char *text = slurp(path);
    if (!text) {
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        return 1;
    }
    cJSON *sum = cJSON_Parse(text);
    free(text);
    if (!sum) {
        fprintf(stderr, "FAIL: %s does not parse\n", path);
        return 1;
    }
    const cJSON *st =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sum, "strategies"), name);
    CHECK(cJSON_IsObject(st), "summary.json: no strategy %s", name);
    printf("%s: orders %g, fills %g, fees %s, funding %s, realized %s, net PnL %s\n", name,
           num(cJSON_GetObjectItemCaseSensitive(st, "orders")),
           num(cJSON_GetObjectItemCaseSensitive(st, "fills")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "fees")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "funding")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "realized_pnl")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "net_pnl")));
    const cJSON *stats =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sum, "stats"), name);
    static const char *STATS[] = {"capital", "final_equity", "return", "max_drawdown", "sharpe"};
    for (size_t i = 0; i < sizeof(STATS) / sizeof(STATS[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(stats, STATS[i]);
        /* a flat equity curve has no Sharpe ratio: null */
        CHECK(isfinite(num(v)) || (i == 4 && cJSON_IsNull(v)),
              "summary.json: stats.%s.%s is not a number", name, STATS[i]);
    }
    printf("%s: capital %g, final equity %.4f, return %.4f%%, max drawdown %.4f%%, sharpe %.3f\n",
           name, num(cJSON_GetObjectItemCaseSensitive(stats, "capital")),
           num(cJSON_GetObjectItemCaseSensitive(stats, "final_equity")),
           100 * num(cJSON_GetObjectItemCaseSensitive(stats, "return")),
           100 * num(cJSON_GetObjectItemCaseSensitive(stats, "max_drawdown")),
           num(cJSON_GetObjectItemCaseSensitive(stats, "sharpe")));
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(sum, "run");
    double span = num(cJSON_GetObjectItemCaseSensitive(run, "data_span_ms"));
    CHECK(span > 0, "summary.json: run.data_span_ms is %g", span);
    int n = check_series(cJSON_GetObjectItemCaseSensitive(sum, "series"), name, "summary.json");
    int trades = 0;
    const cJSON *tr;
    cJSON_ArrayForEach(tr, cJSON_GetObjectItemCaseSensitive(sum, "trades"))
    {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tr, "strategy"));
        trades += s && strcmp(s, name) == 0;
    }
    CHECK(trades >= min_trades, "summary.json: %d trades of %s, expected at least %d", trades, name,
          min_trades);
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(sum, "notes");
    CHECK(cJSON_GetArraySize(notes) > 0, "summary.json: no notes");
    printf("%s: span %.0f s, %d samples, %d trades, %d notes\n", name, span / 1000, n, trades,
           cJSON_GetArraySize(notes));

    snprintf(path, sizeof(path), "%s/report.html", dir);
    char *html = slurp(path);
    if (!html) {
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        return 1;
    }
    static const char *IDS[] = {"id=\"c-equity\"", "id=\"c-funding\"", "id=\"c-drawdown\"",
                                "id=\"c-exposure\""};
    for (size_t i = 0; i < sizeof(IDS) / sizeof(IDS[0]); i++)
        CHECK(strstr(html, IDS[i]), "report.html: no chart %s", IDS[i]);
    const char *open = "<script id=\"report-data\" type=\"application/json\">";
    char *a = strstr(html, open), *b = a ? strstr(a, "</script>") : NULL;
    CHECK(a && b, "report.html: no inline data block");
    if (a && b) {
        *b = '\0';
        cJSON *data = cJSON_Parse(a + strlen(open));
        CHECK(data, "report.html: the inline data does not parse");
        if (data) {
            int m =
                check_series(cJSON_GetObjectItemCaseSensitive(data, "series"), name, "report.html");
            CHECK(m == n, "report.html: %d samples, summary.json %d", m, n);
            cJSON_Delete(data);
        }
    }
    free(html);
    cJSON_Delete(sum);
    printf("%s\n", failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
