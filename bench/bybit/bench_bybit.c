/* bench_bybit: how fast the Bybit plugin turns raw WebSocket frames into events.
 *
 *   bench_bybit extract CAPTURE OUT
 *       Writes the public linear stream of a cryptofeed capture (BYBIT.jsonl) as lines
 *       "<kind> <frame>": S book snapshot, D book delta, T ticker, R trades; and the
 *       instruments-info bodies as "IL"/"IS" lines (for ccxt's markets).
 *   bench_bybit run PLUGIN.so OUT [SECONDS]
 *       Loads the plugin, opens it decode-only against a host whose emit() only counts,
 *       and times ops.decode over every frame of each kind, repeated for SECONDS (per
 *       kind, default 2). Book deltas are timed in capture order after their snapshot
 *       (fed untimed at the start of every pass), so each pass maintains the real book.
 *       Prints one line per kind and a JSON line ("kind": µs per message).
 *
 * Both sides of the comparison (bench/bybit/ccxt_bench.js) read the same OUT file and
 * start from the frame's text. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include <kestrel/kestrel.h>

/* ---- extract ------------------------------------------------------------------------------ */

static int extract(const char *capture, const char *out_path)
{
    FILE *in = fopen(capture, "rb"), *out = fopen(out_path, "w");
    if (!in || !out) {
        fprintf(stderr, "bench_bybit: cannot open %s or %s\n", capture, out_path);
        return 1;
    }
    char *line = NULL, lin_conn[64] = "";
    size_t cap = 0;
    int n[6] = {0};
    while (getline(&line, &cap, in) > 0) {
        cJSON *j = cJSON_Parse(line);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "t"));
        const char *conn = cJSON_GetStringValue(cJSON_GetObjectItem(j, "conn"));
        const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(j, "data"));
        const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(j, "url"));
        if (!url)
            url = cJSON_GetStringValue(cJSON_GetObjectItem(j, "addr"));
        if (t && strcmp(t, "connect") == 0 && url && strstr(url, "/v5/public/linear"))
            snprintf(lin_conn, sizeof(lin_conn), "%s", conn);
        if (t && strcmp(t, "http") == 0 && data && url) {
            fprintf(out, "%s %s\n", strstr(url, "category=spot") ? "IS" : "IL", data);
            n[4]++;
        }
        if (t && strcmp(t, "recv") == 0 && data && conn && strcmp(conn, lin_conn) == 0) {
            cJSON *m = cJSON_Parse(data);
            const char *topic = cJSON_GetStringValue(cJSON_GetObjectItem(m, "topic"));
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(m, "type"));
            const char *kind = NULL;
            if (topic && strncmp(topic, "orderbook.", 10) == 0)
                kind = type && strcmp(type, "snapshot") == 0 ? "S" : "D";
            else if (topic && strncmp(topic, "tickers.", 8) == 0)
                kind = "T";
            else if (topic && strncmp(topic, "publicTrade.", 12) == 0)
                kind = "R";
            if (kind) {
                fprintf(out, "%s %s\n", kind, data);
                n[kind[0] == 'S' ? 0 : kind[0] == 'D' ? 1 : kind[0] == 'T' ? 2 : 3]++;
            }
            cJSON_Delete(m);
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(in);
    fclose(out);
    printf("extracted %d snapshots, %d deltas, %d tickers, %d trade frames, %d REST bodies\n", n[0],
           n[1], n[2], n[3], n[4]);
    return 0;
}

/* ---- a host that only counts ---------------------------------------------------------------- */

static uint64_t n_events;
static char symbols[4096][KS_SYMBOL_LEN];
static int n_symbols;

static void h_log(ks_host_t *h, int level, const char *fmt, ...)
{
}

static int64_t h_clock(ks_host_t *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t h_timer_start(ks_host_t *h, int64_t a, int64_t r, ks_timer_cb cb, void *ud)
{
    return 0;
}

static void h_timer_stop(ks_host_t *h, uint64_t id)
{
}

static int h_secret(ks_host_t *h, const char *name, char *buf, size_t cap)
{
    return KS_ENOENT;
}

static int h_upsert(ks_host_t *h, const ks_instrument_t *in, int32_t *id)
{
    for (int i = 0; i < n_symbols; i++)
        if (strcmp(symbols[i], in->symbol) == 0) {
            *id = i;
            return KS_OK;
        }
    if (n_symbols == 4096)
        return KS_ENOMEM;
    snprintf(symbols[n_symbols], KS_SYMBOL_LEN, "%s", in->symbol);
    *id = n_symbols++;
    return KS_OK;
}

static int h_find(ks_host_t *h, const char *symbol, int32_t *id)
{
    return KS_ENOENT;
}

static int h_get(ks_host_t *h, int32_t id, ks_instrument_t *out)
{
    return KS_ENOENT;
}

static int h_emit(ks_host_t *h, const ks_event_t *ev)
{
    n_events++;
    return KS_OK;
}

static const ks_host_api_t api = {
    .struct_size = sizeof(ks_host_api_t),
    .abi_major = KS_ABI_MAJOR,
    .abi_minor = KS_ABI_MINOR,
    .log = h_log,
    .now_ns = h_clock,
    .wall_ns = h_clock,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .secret_get = h_secret,
    .instrument_upsert = h_upsert,
    .instrument_find = h_find,
    .instrument_get = h_get,
    .emit = h_emit,
};

/* ---- run ----------------------------------------------------------------------------------- */

typedef struct msg {
    char kind;
    char *text;
    size_t len;
} msg_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Times decode over every message of `kind` (after feeding `prep` kinds untimed each
 * pass) until `seconds` of timed work; returns µs per message. */
static double bench(const ks_exchange_ops_t *ops, void *self, const msg_t *m, size_t n, char kind,
                    char prep, double seconds, size_t *count)
{
    double timed = 0;
    size_t done = 0, per_pass = 0;
    for (size_t i = 0; i < n; i++)
        per_pass += m[i].kind == kind;
    *count = per_pass;
    if (!per_pass)
        return 0;
    for (int pass = 0; timed < seconds || pass < 2; pass++) {
        /* One untimed warm-up pass, then timed ones. */
        double t0 = 0;
        bool timing = false;
        for (size_t i = 0; i < n; i++) {
            if (m[i].kind == prep) {
                if (timing) {
                    timed += now_s() - t0;
                    timing = false;
                }
                ops->decode(self, m[i].text, m[i].len);
            } else if (m[i].kind == kind) {
                if (!timing && pass > 0) {
                    t0 = now_s();
                    timing = true;
                }
                if (ops->decode(self, m[i].text, m[i].len) < 0) {
                    fprintf(stderr, "bench_bybit: decode failed\n");
                    exit(1);
                }
                if (pass > 0)
                    done++;
            }
        }
        if (timing)
            timed += now_s() - t0;
    }
    return timed * 1e6 / (double)done;
}

static int run(const char *plugin, const char *path, double seconds)
{
    void *dl = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "bench_bybit: %s\n", dlerror());
        return 1;
    }
    ks_plugin_entry_fn entry = (ks_plugin_entry_fn)dlsym(dl, KS_PLUGIN_ENTRY_NAME);
    const ks_plugin_desc_t *d = entry ? entry() : NULL;
    if (!d || d->kind != KS_PLUGIN_EXCHANGE) {
        fprintf(stderr, "bench_bybit: %s is not an exchange plugin\n", plugin);
        return 1;
    }
    const ks_exchange_ops_t *ops = d->ops;
    void *self = NULL;
    char err[256];
    if (ops->open(&api, (ks_host_t *)&api, "bybit", "{\"decode_only\":true}", &self, err,
                  sizeof(err)) != KS_OK) {
        fprintf(stderr, "bench_bybit: open: %s\n", err);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_bybit: cannot open %s\n", path);
        return 1;
    }
    msg_t *m = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    char *line = NULL;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len < 3 || line[0] == 'I')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            m = realloc(m, cap * sizeof(*m));
        }
        m[n].kind = line[0];
        m[n].len = (size_t)len - 2;
        m[n].text = malloc(m[n].len + 1);
        memcpy(m[n].text, line + 2, m[n].len + 1);
        n++;
    }
    free(line);
    fclose(f);
    size_t nd, nt, nr;
    double d_us = bench(ops, self, m, n, 'D', 'S', seconds, &nd);
    double t_us = bench(ops, self, m, n, 'T', 0, seconds, &nt);
    double r_us = bench(ops, self, m, n, 'R', 0, seconds, &nr);
    printf("kestrel book delta: %7.3f us/msg (%zu per pass)\n", d_us, nd);
    printf("kestrel ticker:     %7.3f us/msg (%zu per pass)\n", t_us, nt);
    printf("kestrel trade:      %7.3f us/msg (%zu per pass)\n", r_us, nr);
    printf("{\"impl\":\"kestrel\",\"book_delta_us\":%.4f,\"ticker_us\":%.4f,\"trade_us\":%.4f,"
           "\"events\":%llu}\n",
           d_us, t_us, r_us, (unsigned long long)n_events);
    ops->close(self);
    for (size_t i = 0; i < n; i++)
        free(m[i].text);
    free(m);
    dlclose(dl);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "extract") == 0)
        return extract(argv[2], argv[3]);
    if (argc >= 4 && strcmp(argv[1], "run") == 0)
        return run(argv[2], argv[3], argc >= 5 ? atof(argv[4]) : 2.0);
    fputs("usage: bench_bybit extract CAPTURE OUT | bench_bybit run PLUGIN.so OUT [SECONDS]\n",
          stderr);
    return 2;
}
