/* Backtest reports (see report.h): a repeating loop timer samples every strategy's
 * equity, funding, fees, drawdown and exposure on the (virtual) clock; at the end the
 * samples, a per-symbol table (OMS positions + the store's orders and fills) and the
 * trades (the store's fills table, read through a second, read-only SQLite connection)
 * are added to the run summary and written as DIR/summary.json and a self-contained
 * DIR/report.html whose inline script draws the charts as SVG. Every value is an exact
 * decimal or a virtual time, so identical runs write identical bytes. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "lua_runtime.h"
#include "strmap.h"
#include "summary.h"

#define NS_PER_MS       1000000LL
#define MIN_POINTS      500  /* a short recorded-data run still gets this many samples */
#define HTML_MAX_TRADES 5000 /* the page lists at most this many; summary.json has all */
#define MAX_NOTES       64

/* One strategy at one sample time. */
typedef struct sample {
    ks_dec_t equity, funding, fees, realized, unrealized, gross, net;
} sample_t;

struct ks_report {
    ks_engine_t *eng;
    int64_t sample_ns;
    uint64_t timer;
    int n_strats; /* strategies at start; ones added later are not sampled */
    int64_t *t;   /* sample times, wall ns (virtual in a backtest) */
    sample_t *s;  /* n rows of n_strats */
    uint32_t n, cap;
    int64_t start_ns;
    char *notes[MAX_NOTES];
    int n_notes;
};

/* ---- sampling -------------------------------------------------------------------------- */

static void take_sample(ks_report_t *r)
{
    ks_engine_t *eng = r->eng;
    int64_t now = ks_loop_wall_ns(ks_engine_loop(eng));
    if (r->n && r->t[r->n - 1] == now)
        r->n--; /* the same instant again (the final sample): replace it */
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 256;
        int64_t *t = realloc(r->t, cap * sizeof(*t));
        if (!t)
            return;
        r->t = t;
        sample_t *s =
            realloc(r->s, (size_t)cap * (size_t)(r->n_strats ? r->n_strats : 1) * sizeof(*s));
        if (!s)
            return;
        r->s = s;
        r->cap = cap;
    }
    ks_oms_t *oms = ks_engine_oms(eng);
    ks_market_t *m = ks_engine_market(eng);
    sample_t *row = &r->s[(size_t)r->n * (size_t)r->n_strats];
    for (int i = 0; i < r->n_strats; i++) {
        ks_acct_totals_t tot;
        sample_t *x = &row[i];
        ks_oms_totals(oms, i, &tot);
        x->equity = ks_engine_equity(eng, i);
        x->funding = tot.funding;
        x->fees = tot.fees;
        x->realized = tot.realized;
        x->unrealized = tot.unrealized;
        x->gross = KS_DEC_ZERO;
        x->net = KS_DEC_ZERO;
        for (int32_t k = 0; k < m->n; k++) {
            const ks_pos_t *p = ks_oms_position(oms, i, k);
            ks_dec_t mark, v;
            if (ks_dec_is_zero(p->qty) || !ks_market_mark(m, k, &mark) ||
                ks_dec_mul_round(p->qty, mark, 8, KS_ROUND_HALF_EVEN, &v) != KS_OK)
                continue;
            ks_dec_add(x->gross, ks_dec_abs(v), &x->gross);
            ks_dec_add(x->net, v, &x->net);
        }
    }
    r->t[r->n++] = now;
}

static void on_sample(ks_loop_t *loop, void *ud)
{
    (void)loop;
    take_sample(ud);
}

ks_report_t *ks_report_start(ks_engine_t *eng, int64_t sample_ns)
{
    ks_report_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->eng = eng;
    r->n_strats = ks_engine_n_strategies(eng);
    /* A recorded-data run shorter than MIN_POINTS samples gets a finer period. */
    int64_t span = ks_engine_data_span_ns(eng);
    if (sample_ns <= 0)
        sample_ns = 3600LL * 1000 * NS_PER_MS;
    if (span > 0 && span / sample_ns < MIN_POINTS) {
        int64_t fine = span / MIN_POINTS;
        sample_ns = fine > NS_PER_MS ? fine - fine % NS_PER_MS : NS_PER_MS;
    }
    r->sample_ns = sample_ns;
    r->start_ns = ks_loop_wall_ns(ks_engine_loop(eng));
    take_sample(r);
    r->timer = ks_loop_timer_start(ks_engine_loop(eng), sample_ns, sample_ns, on_sample, r);
    return r;
}

void ks_report_note(ks_report_t *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (!r || r->n_notes == MAX_NOTES)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (int i = 0; i < r->n_notes; i++)
        if (strcmp(r->notes[i], buf) == 0)
            return;
    r->notes[r->n_notes] = strdup(buf);
    if (r->notes[r->n_notes])
        r->n_notes++;
}

void ks_report_free(ks_report_t *r)
{
    if (!r)
        return;
    if (r->timer)
        ks_loop_timer_stop(ks_engine_loop(r->eng), r->timer);
    for (int i = 0; i < r->n_notes; i++)
        free(r->notes[i]);
    free(r->t);
    free(r->s);
    free(r);
}

/* ---- JSON helpers ----------------------------------------------------------------------- */

/* An exact decimal as a JSON number, rounded half-even to `places` when given (>= 0). */
static cJSON *num(ks_dec_t d, int places)
{
    char buf[KS_DEC_STRLEN + 4];
    ks_dec_t x = d;
    if (places >= 0 && x.scale > places &&
        ks_dec_rescale(d, places, KS_ROUND_HALF_EVEN, &x) != KS_OK)
        x = d;
    ks_dec_format(ks_dec_normalize(x), buf, sizeof(buf));
    return cJSON_CreateRaw(buf);
}

static void add_num(cJSON *o, const char *key, ks_dec_t d, int places)
{
    cJSON_AddItemToObject(o, key, num(d, places));
}

static void add_int(cJSON *o, const char *key, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    cJSON_AddRawToObject(o, key, buf);
}

/* A double rounded to `digits` decimals as a JSON number (statistics only). */
static void add_dbl(cJSON *o, const char *key, double v, int digits)
{
    char buf[64];
    if (!isfinite(v)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    snprintf(buf, sizeof(buf), "%.*f", digits, v);
    if (strcmp(buf, "-0") == 0 || strspn(buf, "-0.") == strlen(buf))
        snprintf(buf, sizeof(buf), "0");
    cJSON_AddRawToObject(o, key, buf);
}

/* Drawdown from the running high-water mark, as a fraction <= 0 (8 decimals). */
static ks_dec_t drawdown(ks_dec_t equity, ks_dec_t hwm)
{
    ks_dec_t diff, dd;
    if (ks_dec_sign(hwm) <= 0 || ks_dec_sub(equity, hwm, &diff) != KS_OK ||
        ks_dec_div(diff, hwm, 8, KS_ROUND_HALF_EVEN, &dd) != KS_OK)
        return KS_DEC_ZERO;
    return ks_dec_normalize(dd);
}

/* ---- the series, statistics ------------------------------------------------------------- */

static void add_series(ks_report_t *r, cJSON *root)
{
    cJSON *series = cJSON_AddObjectToObject(root, "series");
    add_int(series, "sample_ms", r->sample_ns / NS_PER_MS);
    cJSON *t = cJSON_AddArrayToObject(series, "t");
    for (uint32_t k = 0; k < r->n; k++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)(r->t[k] / NS_PER_MS));
        cJSON_AddItemToArray(t, cJSON_CreateRaw(buf));
    }
    cJSON *strats = cJSON_AddObjectToObject(series, "strategies");
    cJSON *stats = cJSON_AddObjectToObject(root, "stats");
    for (int i = 0; i < r->n_strats; i++) {
        const char *name = ks_strategy_name(ks_engine_strategy(r->eng, i));
        cJSON *o = cJSON_AddObjectToObject(strats, name);
        cJSON *eq = cJSON_AddArrayToObject(o, "equity");
        cJSON *fu = cJSON_AddArrayToObject(o, "funding");
        cJSON *fe = cJSON_AddArrayToObject(o, "fees");
        cJSON *pnl = cJSON_AddArrayToObject(o, "pnl");
        cJSON *dd = cJSON_AddArrayToObject(o, "drawdown");
        cJSON *gx = cJSON_AddArrayToObject(o, "exposure");
        cJSON *nx = cJSON_AddArrayToObject(o, "net_exposure");
        ks_dec_t hwm = KS_DEC_ZERO, max_dd = KS_DEC_ZERO;
        double sum = 0, sum2 = 0, prev = 0;
        int nret = 0;
        for (uint32_t k = 0; k < r->n; k++) {
            const sample_t *x = &r->s[(size_t)k * (size_t)r->n_strats + (size_t)i];
            ks_dec_t d, p;
            if (!k || ks_dec_cmp(x->equity, hwm) > 0)
                hwm = x->equity;
            d = drawdown(x->equity, hwm);
            if (ks_dec_cmp(d, max_dd) < 0)
                max_dd = d;
            ks_dec_add(x->realized, x->unrealized, &p);
            cJSON_AddItemToArray(eq, num(x->equity, 4));
            cJSON_AddItemToArray(fu, num(x->funding, 4));
            cJSON_AddItemToArray(fe, num(x->fees, 4));
            cJSON_AddItemToArray(pnl, num(p, 4));
            cJSON_AddItemToArray(dd, num(d, 6));
            cJSON_AddItemToArray(gx, num(x->gross, 2));
            cJSON_AddItemToArray(nx, num(x->net, 2));
            double e = ks_dec_to_double(x->equity);
            if (k && prev > 0) {
                double ret = e / prev - 1;
                sum += ret;
                sum2 += ret * ret;
                nret++;
            }
            prev = e;
        }
        /* Statistics of the sampled equity curve. */
        cJSON *st = cJSON_AddObjectToObject(stats, name);
        const ks_strat_acct_t *a = ks_oms_account(ks_engine_oms(r->eng), i);
        ks_dec_t cap = a ? a->capital : KS_DEC_ZERO;
        ks_dec_t final =
            r->n ? r->s[(size_t)(r->n - 1) * (size_t)r->n_strats + (size_t)i].equity : cap;
        add_num(st, "capital", cap, 8);
        add_num(st, "final_equity", final, 4);
        ks_dec_t gain, ret = KS_DEC_ZERO;
        if (ks_dec_sign(cap) > 0 && ks_dec_sub(final, cap, &gain) == KS_OK)
            ks_dec_div(gain, cap, 8, KS_ROUND_HALF_EVEN, &ret);
        add_num(st, "return", ret, 8);
        add_num(st, "max_drawdown", max_dd, 6);
        double sharpe = NAN;
        if (nret > 2) {
            double mean = sum / nret, var = sum2 / nret - mean * mean;
            double per_year = 365.25 * 86400e9 / (double)r->sample_ns;
            if (var > 0)
                sharpe = mean / sqrt(var) * sqrt(per_year);
        }
        add_dbl(st, "sharpe", sharpe, 3);
        add_int(st, "samples", (long long)r->n);
    }
}

/* ---- per-symbol table and trades (store) ------------------------------------------------ */

typedef struct symagg {
    long long orders, rejects, fills, payments;
    ks_dec_t volume;
} symagg_t;

static symagg_t *agg_get(ks_strmap_t *m, const char *strat, const char *venue, const char *sym)
{
    char key[KS_NAME_LEN * 2 + KS_SYMBOL_LEN + 4];
    void *v;
    snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", strat, venue, sym);
    if (ks_strmap_get(m, key, &v))
        return v;
    symagg_t *a = calloc(1, sizeof(*a));
    if (a && ks_strmap_put(m, key, a) != KS_OK) {
        free(a);
        return NULL;
    }
    return a;
}

static ks_dec_t text_dec(const unsigned char *s)
{
    ks_dec_t d = KS_DEC_ZERO;
    if (s)
        ks_dec_parse((const char *)s, (size_t)-1, &d);
    return d;
}

/* Reads orders and fills from the database; adds "trades" and fills aggregates. */
static int read_store(ks_report_t *r, cJSON *root, ks_strmap_t *aggs, char *err, size_t err_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    const char *path = ks_engine_db_path(r->eng);
    if (!path || sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot open for the report: %s", path ? path : "(no store)",
                 db ? sqlite3_errmsg(db) : "no database");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db,
                           "SELECT strategy, venue, symbol, COUNT(*), SUM(status = 6) FROM orders "
                           "GROUP BY strategy, venue, symbol",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            symagg_t *a = agg_get(aggs, (const char *)sqlite3_column_text(q, 0),
                                  (const char *)sqlite3_column_text(q, 1),
                                  (const char *)sqlite3_column_text(q, 2));
            if (a) {
                a->orders = sqlite3_column_int64(q, 3);
                a->rejects = sqlite3_column_int64(q, 4);
            }
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT strategy, venue, symbol, COUNT(*) FROM funding_payments "
                           "GROUP BY strategy, venue, symbol",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            symagg_t *a = agg_get(aggs, (const char *)sqlite3_column_text(q, 0),
                                  (const char *)sqlite3_column_text(q, 1),
                                  (const char *)sqlite3_column_text(q, 2));
            if (a)
                a->payments = sqlite3_column_int64(q, 3);
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    cJSON *trades = cJSON_AddArrayToObject(root, "trades");
    if (sqlite3_prepare_v2(db,
                           "SELECT ts_ns, strategy, venue, symbol, side, maker, px, qty, fee, "
                           "fee_asset, cloid, trade_id FROM fills ORDER BY ts_ns, id",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *strat = (const char *)sqlite3_column_text(q, 1);
            const char *venue = (const char *)sqlite3_column_text(q, 2);
            const char *sym = (const char *)sqlite3_column_text(q, 3);
            ks_dec_t px = text_dec(sqlite3_column_text(q, 6));
            ks_dec_t qty = text_dec(sqlite3_column_text(q, 7));
            ks_dec_t notional;
            symagg_t *a = agg_get(aggs, strat, venue, sym);
            if (a && ks_dec_mul(px, qty, &notional) == KS_OK) {
                a->fills++;
                ks_dec_add(a->volume, notional, &a->volume);
            }
            cJSON *t = cJSON_CreateObject();
            add_int(t, "t", (long long)(sqlite3_column_int64(q, 0) / NS_PER_MS));
            cJSON_AddStringToObject(t, "strategy", strat);
            cJSON_AddStringToObject(t, "venue", venue);
            cJSON_AddStringToObject(t, "symbol", sym);
            cJSON_AddStringToObject(t, "side", ks_side_name(sqlite3_column_int(q, 4)));
            cJSON_AddBoolToObject(t, "maker", sqlite3_column_int(q, 5) != 0);
            add_num(t, "price", px, -1);
            add_num(t, "qty", qty, -1);
            add_num(t, "fee", text_dec(sqlite3_column_text(q, 8)), -1);
            cJSON_AddStringToObject(t, "fee_asset", (const char *)sqlite3_column_text(q, 9));
            cJSON_AddStringToObject(t, "cloid", (const char *)sqlite3_column_text(q, 10));
            cJSON_AddStringToObject(t, "trade_id", (const char *)sqlite3_column_text(q, 11));
            cJSON_AddItemToArray(trades, t);
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    /* Notes a venue left for the report (the sim: replayed files, synthetic markets). */
    if (sqlite3_prepare_v2(db,
                           "SELECT ns, value FROM plugin_kv WHERE key = 'report.notes' ORDER BY ns",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *ns = (const char *)sqlite3_column_text(q, 0);
            const char *txt = (const char *)sqlite3_column_blob(q, 1);
            int len = sqlite3_column_bytes(q, 1);
            for (int i = 0; txt && i < len;) {
                int j = i;
                while (j < len && txt[j] != '\n')
                    j++;
                if (j > i)
                    ks_report_note(r, "venue %s: %.*s", ns, j - i, txt + i);
                i = j + 1;
            }
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    /* Notes strategies left (ctx.report_note). */
    if (sqlite3_prepare_v2(db,
                           "SELECT subject, detail FROM events WHERE kind = 'report.note'"
                           " ORDER BY id",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *who = (const char *)sqlite3_column_text(q, 0);
            const char *detail = (const char *)sqlite3_column_text(q, 1);
            cJSON *j = detail ? cJSON_Parse(detail) : NULL;
            if (cJSON_IsString(j))
                ks_report_note(r, "strategy %s: %s", who ? who : "?", j->valuestring);
            cJSON_Delete(j);
        }
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}

static void add_symbols(ks_report_t *r, cJSON *root, ks_strmap_t *aggs)
{
    ks_engine_t *eng = r->eng;
    ks_oms_t *oms = ks_engine_oms(eng);
    ks_market_t *m = ks_engine_market(eng);
    cJSON *rows = cJSON_AddArrayToObject(root, "symbols");
    for (int i = 0; i < ks_engine_n_strategies(eng); i++) {
        const char *strat = ks_strategy_name(ks_engine_strategy(eng, i));
        for (int32_t k = 0; k < m->n; k++) {
            const ks_inst_rec_t *in = ks_market_inst(m, k);
            const ks_pos_t *p = ks_oms_position(oms, i, k);
            ks_venue_t *v = in ? ks_engine_venue(eng, in->venue) : NULL;
            if (!in || !v)
                continue;
            char key[KS_NAME_LEN * 2 + KS_SYMBOL_LEN + 4];
            void *val = NULL;
            snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", strat, v->name, in->symbol);
            bool have = ks_strmap_get(aggs, key, &val);
            if (!p->touched && !have)
                continue;
            const symagg_t *a = val;
            symagg_t zero = {0};
            if (!a)
                a = &zero;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "strategy", strat);
            cJSON_AddStringToObject(o, "venue", v->name);
            cJSON_AddStringToObject(o, "symbol", in->symbol);
            add_int(o, "orders", a->orders);
            add_int(o, "rejects", a->rejects);
            add_int(o, "fills", a->fills);
            add_num(o, "volume", a->volume, 2);
            add_num(o, "fees", p->fees, 8);
            add_num(o, "funding", p->funding, 8);
            add_int(o, "funding_payments", a->payments);
            add_num(o, "realized_pnl", p->realized, 8);
            add_num(o, "unrealized_pnl", ks_oms_unrealized(oms, p, k), 8);
            add_num(o, "position", p->qty, -1);
            add_num(o, "avg_entry", p->avg_entry, 10);
            ks_dec_t mark;
            if (ks_market_mark(m, k, &mark))
                add_num(o, "mark", mark, -1);
            else
                cJSON_AddNullToObject(o, "mark");
            cJSON_AddItemToArray(rows, o);
        }
    }
}

/* ---- the page: inline CSS and a small SVG charting script; the data goes between ---- */

static const char html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Kestrel backtest report</title>\n"
    "<style>\n"
    ":root { --fg: #1d2430; --muted: #6b7585; --line: #e3e7ee; --bg: #ffffff; --panel: #f7f9fc; }\n"
    "* { box-sizing: border-box; }\n"
    "body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 -apple-system, \"Segoe UI\", "
    "Roboto, \"Helvetica Neue\", Arial, sans-serif; color: var(--fg); background: var(--bg); }\n"
    "h1 { font-size: 22px; margin: 0 0 4px; }\n"
    "h2 { font-size: 16px; margin: 28px 0 10px; }\n"
    ".sub { color: var(--muted); margin-bottom: 16px; }\n"
    ".cards { display: flex; flex-wrap: wrap; gap: 12px; }\n"
    ".card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: "
    "10px 14px; min-width: 150px; }\n"
    ".card .k { color: var(--muted); font-size: 12px; }\n"
    ".card .v { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }\n"
    ".grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: "
    "16px; }\n"
    ".chart { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; "
    "padding: 10px 12px 6px; position: relative; }\n"
    ".chart h3 { font-size: 13px; margin: 0 0 4px; }\n"
    ".chart svg { width: 100%; height: auto; display: block; }\n"
    ".chart .empty { color: var(--muted); padding: 40px 0; text-align: center; }\n"
    ".tip { position: absolute; pointer-events: none; background: rgba(29,36,48,.92); color: #fff; "
    "font-size: 12px; padding: 6px 8px; border-radius: 4px; white-space: nowrap; display: none; }\n"
    ".legend { font-size: 12px; color: var(--muted); margin-top: 2px; }\n"
    ".legend span { display: inline-block; margin-right: 12px; }\n"
    ".legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; "
    "margin-right: 4px; }\n"
    "table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }\n"
    "th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; "
    "white-space: nowrap; }\n"
    "th { background: var(--panel); position: sticky; top: 0; cursor: pointer; user-select: none; "
    "}\n"
    "th:first-child, td:first-child, .l { text-align: left; }\n"
    ".scroll { max-height: 480px; overflow: auto; border: 1px solid var(--line); border-radius: "
    "8px; }\n"
    ".pos { color: #137333; } .neg { color: #b3261e; }\n"
    "ul.notes { margin: 0; padding-left: 18px; color: var(--fg); }\n"
    "footer { margin-top: 32px; color: var(--muted); font-size: 12px; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>Kestrel backtest report</h1>\n"
    "<div class=\"sub\" id=\"sub\"></div>\n"
    "<div class=\"cards\" id=\"cards\"></div>\n"
    "<h2>Charts</h2>\n"
    "<div class=\"grid\">\n"
    "  <div class=\"chart\" id=\"c-equity\"><h3>Equity (capital + realized + unrealized + funding "
    "&minus; fees)</h3></div>\n"
    "  <div class=\"chart\" id=\"c-funding\"><h3>Cumulative funding income against "
    "fees</h3></div>\n"
    "  <div class=\"chart\" id=\"c-drawdown\"><h3>Drawdown from the high-water mark</h3></div>\n"
    "  <div class=\"chart\" id=\"c-exposure\"><h3>Gross exposure (&Sigma; |qty| &times; "
    "mark)</h3></div>\n"
    "</div>\n"
    "<h2>Strategies</h2>\n"
    "<div class=\"scroll\"><table id=\"t-strategies\"></table></div>\n"
    "<h2>Per symbol</h2>\n"
    "<div class=\"scroll\"><table id=\"t-symbols\"></table></div>\n"
    "<h2 id=\"h-trades\">Trades</h2>\n"
    "<div class=\"scroll\"><table id=\"t-trades\"></table></div>\n"
    "<h2>Notes</h2>\n"
    "<ul class=\"notes\" id=\"notes\"></ul>\n"
    "<footer>Self-contained: data, styles and chart code are inline; nothing is fetched. The same "
    "data is in summary.json beside this file.</footer>\n"
    "<script id=\"report-data\" type=\"application/json\">\n";

static const char html_tail[] =
    "</script>\n"
    "<script>\n"
    "\"use strict\";\n"
    "(function () {\n"
    "  var D = JSON.parse(document.getElementById(\"report-data\").textContent);\n"
    "  var COLORS = [\"#1a73e8\", \"#e8710a\", \"#188038\", \"#a142f4\", \"#d93025\", \"#12a4af\", "
    "\"#f9ab00\", \"#5f6368\"];\n"
    "  var NS = \"http://www.w3.org/2000/svg\";\n"
    "  var series = D.series || {t: [], strategies: {}};\n"
    "  var names = Object.keys(series.strategies || {});\n"
    "  var T = series.t || [];\n"
    "\n"
    "  function el(tag, attrs, parent) {\n"
    "    var e = document.createElementNS(NS, tag);\n"
    "    for (var k in attrs) e.setAttribute(k, attrs[k]);\n"
    "    if (parent) parent.appendChild(e);\n"
    "    return e;\n"
    "  }\n"
    "  function pad(n) { return (n < 10 ? \"0\" : \"\") + n; }\n"
    "  function fmtTime(ms, withTime) {\n"
    "    var d = new Date(ms);\n"
    "    var s = d.getUTCFullYear() + \"-\" + pad(d.getUTCMonth() + 1) + \"-\" + "
    "pad(d.getUTCDate());\n"
    "    if (withTime) s += \" \" + pad(d.getUTCHours()) + \":\" + pad(d.getUTCMinutes());\n"
    "    if (withTime === 2) s += \":\" + pad(d.getUTCSeconds()) + \".\" + (\"00\" + "
    "d.getUTCMilliseconds()).slice(-3);\n"
    "    return s;\n"
    "  }\n"
    "  function fmtNum(v, digits) {\n"
    "    if (v === null || v === undefined || isNaN(v)) return \"\\u2013\";\n"
    "    if (v === 0 && digits === undefined) return \"0\";\n"
    "    var a = Math.abs(v);\n"
    "    if (digits === undefined) digits = a >= 1000 ? 0 : a >= 1 ? 2 : a >= 0.01 ? 4 : 6;\n"
    "    return v.toLocaleString(\"en-US\", {minimumFractionDigits: digits, maximumFractionDigits: "
    "digits});\n"
    "  }\n"
    "  function fmtPct(v, digits) { return v === null || v === undefined ? \"\\u2013\" : (v * "
    "100).toFixed(digits === undefined ? 2 : digits) + \" %\"; }\n"
    "  function niceStep(range, n) {\n"
    "    var raw = range / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;\n"
    "    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;\n"
    "  }\n"
    "\n"
    "  /* One SVG line chart: lines = [{name, values, color, dash}]. Returns the number of\n"
    "   * series drawn. */\n"
    "  function lineChart(box, lines, opts) {\n"
    "    var W = 760, H = 260, L = 70, R = 12, TP = 10, B = 28;\n"
    "    lines = lines.filter(function (s) { return s.values && s.values.length; });\n"
    "    if (!T.length || !lines.length) {\n"
    "      var p = document.createElement(\"div\"); p.className = \"empty\"; p.textContent = \"no "
    "data\";\n"
    "      box.appendChild(p); box.setAttribute(\"data-series\", \"0\"); return 0;\n"
    "    }\n"
    "    var lo = Infinity, hi = -Infinity;\n"
    "    lines.forEach(function (s) { s.values.forEach(function (v) { if (v < lo) lo = v; if (v > "
    "hi) hi = v; }); });\n"
    "    if (opts.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }\n"
    "    if (lo === hi) { var e = Math.abs(lo) * 0.01 || 1; lo -= e; hi += e; }\n"
    "    var span = hi - lo; lo -= span * 0.05; hi += span * 0.05;\n"
    "    var t0 = T[0], t1 = T[T.length - 1]; if (t1 === t0) t1 = t0 + 1;\n"
    "    function X(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }\n"
    "    function Y(v) { return TP + (hi - v) / (hi - lo) * (H - TP - B); }\n"
    "    var svg = el(\"svg\", {viewBox: \"0 0 \" + W + \" \" + H, role: \"img\", \"aria-label\": "
    "opts.title || \"\"}, box);\n"
    "    var step = niceStep(hi - lo, 5);\n"
    "    /* Enough decimals that neighbouring grid labels differ. */\n"
    "    var dec = Math.max(0, -Math.floor(Math.log10(step * (opts.pct ? 100 : 1)) + 1e-9));\n"
    "    for (var g = Math.ceil(lo / step) * step; g <= hi; g += step) {\n"
    "      if (Math.abs(g) < step * 1e-6) g = 0;\n"
    "      el(\"line\", {x1: L, x2: W - R, y1: Y(g), y2: Y(g), stroke: \"#e3e7ee\"}, svg);\n"
    "      var tx = el(\"text\", {x: L - 6, y: Y(g) + 4, \"text-anchor\": \"end\", \"font-size\": "
    "11, fill: \"#6b7585\"}, svg);\n"
    "      tx.textContent = opts.pct ? fmtPct(g, dec) : fmtNum(g, dec);\n"
    "    }\n"
    "    var hours = (t1 - t0) / 3600000;\n"
    "    for (var i = 0; i <= 4; i++) {\n"
    "      var t = t0 + (t1 - t0) * i / 4, iso = new Date(t).toISOString();\n"
    "      var lab = el(\"text\", {x: X(t), y: H - 8, \"text-anchor\": i === 0 ? \"start\" : i === "
    "4 ? \"end\" : \"middle\", \"font-size\": 11, fill: \"#6b7585\"}, svg);\n"
    "      lab.textContent = hours > 72 ? iso.slice(0, 10) : hours > 6 ? iso.slice(5, "
    "16).replace(\"T\", \" \") :\n"
    "                        hours > 0.1 ? iso.slice(11, 19) : iso.slice(11, 23);\n"
    "    }\n"
    "    el(\"line\", {x1: L, x2: L, y1: TP, y2: H - B, stroke: \"#c5ccd6\"}, svg);\n"
    "    var drawn = 0;\n"
    "    lines.forEach(function (s) {\n"
    "      var d = \"\";\n"
    "      for (var k = 0; k < s.values.length && k < T.length; k++)\n"
    "        d += (k ? \"L\" : \"M\") + X(T[k]).toFixed(2) + \" \" + Y(s.values[k]).toFixed(2);\n"
    "      el(\"path\", {d: d, fill: \"none\", stroke: s.color, \"stroke-width\": 1.6, "
    "\"stroke-dasharray\": s.dash || \"none\", \"class\": \"series\"}, svg);\n"
    "      drawn++;\n"
    "    });\n"
    "    var legend = document.createElement(\"div\"); legend.className = \"legend\";\n"
    "    lines.forEach(function (s) {\n"
    "      var sp = document.createElement(\"span\");\n"
    "      sp.innerHTML = \"<i style=\\\"background:\" + s.color + \"\\\"></i>\";\n"
    "      sp.appendChild(document.createTextNode(s.name)); legend.appendChild(sp);\n"
    "    });\n"
    "    box.appendChild(legend);\n"
    "    var cursor = el(\"line\", {y1: TP, y2: H - B, stroke: \"#9aa4b2\", \"stroke-dasharray\": "
    "\"3 3\", visibility: \"hidden\"}, svg);\n"
    "    var tip = document.createElement(\"div\"); tip.className = \"tip\"; "
    "box.appendChild(tip);\n"
    "    svg.addEventListener(\"mousemove\", function (ev) {\n"
    "      var r = svg.getBoundingClientRect(), x = (ev.clientX - r.left) / r.width * W;\n"
    "      var t = t0 + (x - L) / (W - L - R) * (t1 - t0), best = 0;\n"
    "      for (var k = 1; k < T.length; k++) if (Math.abs(T[k] - t) < Math.abs(T[best] - t)) best "
    "= k;\n"
    "      cursor.setAttribute(\"x1\", X(T[best])); cursor.setAttribute(\"x2\", X(T[best]));\n"
    "      cursor.setAttribute(\"visibility\", \"visible\");\n"
    "      var html = fmtTime(T[best], 2);\n"
    "      lines.forEach(function (s) { html += \"<br>\" + s.name.replace(/</g, \"&lt;\") + \": \" "
    "+ (opts.pct ? fmtPct(s.values[best], 3) : fmtNum(s.values[best])); });\n"
    "      tip.innerHTML = html; tip.style.display = \"block\";\n"
    "      tip.style.left = Math.min(ev.clientX - box.getBoundingClientRect().left + 12, "
    "box.clientWidth - tip.offsetWidth - 4) + \"px\";\n"
    "      tip.style.top = \"40px\";\n"
    "    });\n"
    "    svg.addEventListener(\"mouseleave\", function () { tip.style.display = \"none\"; "
    "cursor.setAttribute(\"visibility\", \"hidden\"); });\n"
    "    box.setAttribute(\"data-series\", String(drawn));\n"
    "    return drawn;\n"
    "  }\n"
    "\n"
    "  function col(name, key) { return (series.strategies[name][key] || []).map(Number); }\n"
    "  var charts = 0;\n"
    "  function chart(id, lines, opts) { if (lineChart(document.getElementById(id), lines, opts) > "
    "0) charts++; }\n"
    "  chart(\"c-equity\", names.map(function (n, i) { return {name: n, values: col(n, "
    "\"equity\"), color: COLORS[i % COLORS.length]}; }), {title: \"equity\"});\n"
    "  var fl = [];\n"
    "  names.forEach(function (n, i) {\n"
    "    fl.push({name: n + \" funding\", values: col(n, \"funding\"), color: COLORS[i % "
    "COLORS.length]});\n"
    "    fl.push({name: n + \" fees (paid, negative)\", values: col(n, \"fees\").map(function (v) "
    "{ return -v; }), color: COLORS[i % COLORS.length], dash: \"5 4\"});\n"
    "  });\n"
    "  chart(\"c-funding\", fl, {title: \"funding and fees\", zero: true});\n"
    "  chart(\"c-drawdown\", names.map(function (n, i) { return {name: n, values: col(n, "
    "\"drawdown\"), color: COLORS[i % COLORS.length]}; }), {title: \"drawdown\", pct: true, zero: "
    "true});\n"
    "  chart(\"c-exposure\", names.map(function (n, i) { return {name: n, values: col(n, "
    "\"exposure\"), color: COLORS[i % COLORS.length]}; }), {title: \"exposure\", zero: true});\n"
    "\n"
    "  /* Header, cards. */\n"
    "  var run = D.run || {};\n"
    "  var sub = document.getElementById(\"sub\");\n"
    "  sub.textContent = (D.mode || \"\") + \" \\u00b7 \" + (run.start_ms ? fmtTime(run.start_ms, "
    "1) + \" \\u2192 \" + fmtTime(run.end_ms, 1) + \" UTC\" : \"\") +\n"
    "    \" \\u00b7 \" + (D.events ? fmtNum(D.events.total, 0) + \" events\" : \"\") + \" \\u00b7 "
    "sampled every \" + fmtNum((series.sample_ms || 0) / 1000, 0) + \" s\";\n"
    "  var cards = document.getElementById(\"cards\");\n"
    "  function card(k, v, cls) {\n"
    "    var c = document.createElement(\"div\"); c.className = \"card\";\n"
    "    c.innerHTML = \"<div class=\\\"k\\\"></div><div class=\\\"v\\\"></div>\";\n"
    "    c.firstChild.textContent = k; c.lastChild.textContent = v; if (cls) c.lastChild.className "
    "+= \" \" + cls;\n"
    "    cards.appendChild(c);\n"
    "  }\n"
    "  names.forEach(function (n) {\n"
    "    var st = (D.stats || {})[n] || {}, s = (D.strategies || {})[n] || {};\n"
    "    var ret = Number(st[\"return\"]);\n"
    "    card(n + \" \\u00b7 return\", fmtPct(ret), ret >= 0 ? \"pos\" : \"neg\");\n"
    "    card(n + \" \\u00b7 max drawdown\", fmtPct(Number(st.max_drawdown)));\n"
    "    card(n + \" \\u00b7 funding / fees\", fmtNum(Number(s.funding)) + \" / \" + "
    "fmtNum(Number(s.fees)));\n"
    "    card(n + \" \\u00b7 Sharpe (sampled)\", st.sharpe === null || st.sharpe === undefined ? "
    "\"\\u2013\" : fmtNum(st.sharpe, 2));\n"
    "  });\n"
    "\n"
    "  /* Tables (click a header to sort). */\n"
    "  function table(id, columns, rows) {\n"
    "    var t = document.getElementById(id), thead = document.createElement(\"thead\"), tr = "
    "document.createElement(\"tr\");\n"
    "    columns.forEach(function (c, ci) {\n"
    "      var th = document.createElement(\"th\"); th.textContent = c.title; if (c.left) "
    "th.className = \"l\";\n"
    "      th.addEventListener(\"click\", function () {\n"
    "        var dir = th.getAttribute(\"data-dir\") === \"asc\" ? \"desc\" : \"asc\"; "
    "th.setAttribute(\"data-dir\", dir);\n"
    "        rows.sort(function (a, b) { var x = c.key(a), y = c.key(b); return (x < y ? -1 : x > "
    "y ? 1 : 0) * (dir === \"asc\" ? 1 : -1); });\n"
    "        fill();\n"
    "      });\n"
    "      tr.appendChild(th);\n"
    "    });\n"
    "    thead.appendChild(tr); t.appendChild(thead);\n"
    "    var tbody = document.createElement(\"tbody\"); t.appendChild(tbody);\n"
    "    function fill() {\n"
    "      tbody.textContent = \"\";\n"
    "      rows.forEach(function (r) {\n"
    "        var row = document.createElement(\"tr\");\n"
    "        columns.forEach(function (c) {\n"
    "          var td = document.createElement(\"td\"), v = c.key(r);\n"
    "          td.textContent = c.fmt ? c.fmt(v) : v; if (c.left) td.className = \"l\";\n"
    "          if (c.sign && typeof v === \"number\" && v !== 0) td.className += v > 0 ? \" pos\" "
    ": \" neg\";\n"
    "          row.appendChild(td);\n"
    "        });\n"
    "        tbody.appendChild(row);\n"
    "      });\n"
    "    }\n"
    "    fill();\n"
    "    t.setAttribute(\"data-rows\", String(rows.length));\n"
    "  }\n"
    "  function n(k) { return function (r) { return r[k] === null || r[k] === undefined ? NaN : "
    "Number(r[k]); }; }\n"
    "  function s(k) { return function (r) { return r[k] === undefined ? \"\" : String(r[k]); }; "
    "}\n"
    "  var srows = names.map(function (nm) {\n"
    "    var x = {}, a = (D.strategies || {})[nm] || {}, st = (D.stats || {})[nm] || {};\n"
    "    for (var k in a) x[k] = a[k]; for (var k2 in st) x[k2] = st[k2]; x.name = nm; return x;\n"
    "  });\n"
    "  table(\"t-strategies\", [\n"
    "    {title: \"strategy\", key: s(\"name\"), left: true},\n"
    "    {title: \"capital\", key: n(\"capital\"), fmt: fmtNum}, {title: \"final equity\", key: "
    "n(\"final_equity\"), fmt: fmtNum},\n"
    "    {title: \"return\", key: n(\"return\"), fmt: fmtPct, sign: true}, {title: \"max DD\", "
    "key: n(\"max_drawdown\"), fmt: fmtPct},\n"
    "    {title: \"Sharpe\", key: n(\"sharpe\"), fmt: function (v) { return fmtNum(v, 2); }},\n"
    "    {title: \"funding\", key: n(\"funding\"), fmt: fmtNum, sign: true}, {title: \"fees\", "
    "key: n(\"fees\"), fmt: fmtNum},\n"
    "    {title: \"realized\", key: n(\"realized_pnl\"), fmt: fmtNum, sign: true}, {title: "
    "\"unrealized\", key: n(\"unrealized_pnl\"), fmt: fmtNum, sign: true},\n"
    "    {title: \"net PnL\", key: n(\"net_pnl\"), fmt: fmtNum, sign: true},\n"
    "    {title: \"orders\", key: n(\"orders\"), fmt: function (v) { return fmtNum(v, 0); }}, "
    "{title: \"fills\", key: n(\"fills\"), fmt: function (v) { return fmtNum(v, 0); }}\n"
    "  ], srows);\n"
    "  table(\"t-symbols\", [\n"
    "    {title: \"strategy\", key: s(\"strategy\"), left: true}, {title: \"venue\", key: "
    "s(\"venue\"), left: true}, {title: \"symbol\", key: s(\"symbol\"), left: true},\n"
    "    {title: \"orders\", key: n(\"orders\"), fmt: function (v) { return fmtNum(v, 0); }}, "
    "{title: \"rejects\", key: n(\"rejects\"), fmt: function (v) { return fmtNum(v, 0); }},\n"
    "    {title: \"fills\", key: n(\"fills\"), fmt: function (v) { return fmtNum(v, 0); }}, "
    "{title: \"volume\", key: n(\"volume\"), fmt: fmtNum},\n"
    "    {title: \"fees\", key: n(\"fees\"), fmt: fmtNum}, {title: \"funding\", key: "
    "n(\"funding\"), fmt: fmtNum, sign: true},\n"
    "    {title: \"settlements\", key: n(\"funding_payments\"), fmt: function (v) { return "
    "fmtNum(v, 0); }},\n"
    "    {title: \"realized\", key: n(\"realized_pnl\"), fmt: fmtNum, sign: true}, {title: "
    "\"unrealized\", key: n(\"unrealized_pnl\"), fmt: fmtNum, sign: true},\n"
    "    {title: \"position\", key: n(\"position\"), fmt: function (v) { return String(v); }}, "
    "{title: \"avg entry\", key: n(\"avg_entry\"), fmt: fmtNum},\n"
    "    {title: \"mark\", key: n(\"mark\"), fmt: fmtNum}\n"
    "  ], (D.symbols || []).slice());\n"
    "  var trades = (D.trades || []).slice();\n"
    "  if (D.trades_total > trades.length)\n"
    "    document.getElementById(\"h-trades\").textContent = \"Trades (first \" + trades.length + "
    "\" of \" + D.trades_total + \"; all are in summary.json)\";\n"
    "  else\n"
    "    document.getElementById(\"h-trades\").textContent = \"Trades (\" + trades.length + "
    "\")\";\n"
    "  table(\"t-trades\", [\n"
    "    {title: \"time (UTC)\", key: n(\"t\"), fmt: function (v) { return fmtTime(v, 2); }, left: "
    "true},\n"
    "    {title: \"strategy\", key: s(\"strategy\"), left: true}, {title: \"symbol\", key: "
    "s(\"symbol\"), left: true},\n"
    "    {title: \"side\", key: s(\"side\"), left: true}, {title: \"maker\", key: function (r) { "
    "return r.maker ? \"maker\" : \"taker\"; }, left: true},\n"
    "    {title: \"price\", key: n(\"price\"), fmt: function (v) { return String(v); }}, {title: "
    "\"qty\", key: n(\"qty\"), fmt: function (v) { return String(v); }},\n"
    "    {title: \"fee\", key: n(\"fee\"), fmt: function (v) { return String(v); }}, {title: "
    "\"cloid\", key: s(\"cloid\"), left: true}\n"
    "  ], trades);\n"
    "  var ul = document.getElementById(\"notes\");\n"
    "  (D.notes && D.notes.length ? D.notes : [\"none\"]).forEach(function (x) { var li = "
    "document.createElement(\"li\"); li.textContent = x; ul.appendChild(li); });\n"
    "\n"
    "  document.body.setAttribute(\"data-rendered\", String(charts));\n"
    "})();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* ---- writing ------------------------------------------------------------------------------ */

static int write_file(const char *path, const char *a, const char *b, const char *c, char *err,
                      size_t err_len)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    fputs(a, f);
    if (b)
        fputs(b, f);
    if (c)
        fputs(c, f);
    if (fclose(f) != 0) {
        snprintf(err, err_len, "%s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int make_dir(const char *dir, char *err, size_t err_len)
{
    char p[4096];
    size_t n = strlen(dir);
    if (!n || n >= sizeof(p)) {
        snprintf(err, err_len, "%s: bad report directory", dir);
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "%s: cannot create: %s", p, strerror(errno));
            return -1;
        }
        p[i] = saved;
    }
    return 0;
}

/* JSON text made safe inside <script>: "</" becomes "<\/" (the same string in JSON). */
static char *script_safe(const char *json)
{
    size_t n = strlen(json), extra = 0;
    for (size_t i = 0; i + 1 < n; i++)
        extra += json[i] == '<' && json[i + 1] == '/';
    char *out = malloc(n + extra + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *w++ = json[i];
        if (json[i] == '<' && json[i + 1] == '/')
            *w++ = '\\';
    }
    *w = '\0';
    return out;
}

int ks_report_write(ks_report_t *r, const char *dir, char *err, size_t err_len)
{
    char path[4200];
    int rc = -1;
    if (!r || !dir) {
        snprintf(err, err_len, "report: nothing to write");
        return -1;
    }
    ks_engine_t *eng = r->eng;
    if (ks_engine_store(eng))
        ks_store_flush(ks_engine_store(eng));
    take_sample(r);
    if (make_dir(dir, err, err_len) != 0)
        return -1;

    char *summary = ks_summary_json(eng);
    cJSON *root = summary ? cJSON_Parse(summary) : NULL;
    free(summary);
    if (!root) {
        snprintf(err, err_len, "report: cannot build the summary");
        return -1;
    }
    ks_strmap_t aggs = KS_STRMAP_INIT;
    cJSON *run = cJSON_AddObjectToObject(root, "run");
    add_int(run, "start_ms", r->start_ns / NS_PER_MS);
    add_int(run, "end_ms", ks_loop_wall_ns(ks_engine_loop(eng)) / NS_PER_MS);
    add_int(run, "data_span_ms", ks_engine_data_span_ns(eng) / NS_PER_MS);
    if (read_store(r, root, &aggs, err, err_len) != 0)
        goto done;
    add_series(r, root);
    add_symbols(r, root, &aggs);
    cJSON *notes = cJSON_AddArrayToObject(root, "notes");
    for (int i = 0; i < r->n_notes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(r->notes[i]));

    char *text = cJSON_Print(root);
    if (!text) {
        snprintf(err, err_len, "report: out of memory");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    rc = write_file(path, text, "\n", NULL, err, err_len);
    if (rc == 0) {
        /* The page embeds the same data, minus trades beyond HTML_MAX_TRADES. */
        cJSON *tr = cJSON_GetObjectItem(root, "trades");
        int nt = cJSON_GetArraySize(tr);
        add_int(root, "trades_total", nt);
        while (cJSON_GetArraySize(tr) > HTML_MAX_TRADES)
            cJSON_DeleteItemFromArray(tr, cJSON_GetArraySize(tr) - 1);
        char *compact = cJSON_PrintUnformatted(root);
        char *safe = compact ? script_safe(compact) : NULL;
        snprintf(path, sizeof(path), "%s/report.html", dir);
        if (!safe) {
            snprintf(err, err_len, "report: out of memory");
            rc = -1;
        } else {
            rc = write_file(path, html_head, safe, html_tail, err, err_len);
        }
        free(compact);
        free(safe);
    }
    free(text);
done : {
    size_t it = 0;
    void *v;
    while (ks_strmap_next(&aggs, &it, NULL, &v))
        free(v);
    ks_strmap_free(&aggs);
}
    cJSON_Delete(root);
    return rc;
}
