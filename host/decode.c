/* kestrel decode: raw venue messages on stdin -> normalized events on stdout (see
 * decode.h). The venue's plugin is opened with {"decode_only": true} against a minimal
 * host: instruments live in a ks_market_t, every event becomes one JSON line, the log
 * goes to stderr, and everything that would touch the network fails. Decimals are
 * printed as strings with their exact value. */
#include "decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <kestrel/kestrel.h>

#include "market.h"
#include "plugin.h"

static const char *usage_decode =
    "usage: kestrel decode --venue V [--plugin-path DIR] [--config JSON]\n"
    "\n"
    "Reads raw venue messages from stdin, one JSON document per line (WebSocket frames\n"
    "or REST response bodies), feeds each through the venue plugin's parser and prints\n"
    "the resulting events as JSON lines: type, venue, symbol, ts (venue time, ms) and the\n"
    "event's fields, decimals as strings. Instruments the messages name are registered\n"
    "on the fly (an \"instrument\" line each). A line that does not parse is reported on\n"
    "stderr with its number and skipped. --config adds keys to the plugin's config,\n"
    "e.g. --config '{\"decode_category\":\"spot\"}' for Bybit spot WebSocket frames.\n";

/* The minimal host behind the plugin; handed to it as its opaque ks_host_t. */
typedef struct decode_host {
    const char *venue;
    ks_market_t market;
    FILE *out;
    uint64_t events;
} decode_host_t;

static decode_host_t *dh(ks_host_t *h)
{
    return (decode_host_t *)(void *)h;
}

/* ---- JSON output ------------------------------------------------------------------- */

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_key_str(FILE *f, const char *key, const char *s)
{
    fprintf(f, ",\"%s\":", key);
    put_str(f, s);
}

static void put_dec(FILE *f, const char *key, ks_dec_t d)
{
    char b[KS_DEC_STRLEN];
    ks_dec_format(d, b, sizeof(b));
    fprintf(f, ",\"%s\":\"%s\"", key, b);
}

static void put_levels(FILE *f, const char *key, const ks_level_t *lv, uint32_t n)
{
    char p[KS_DEC_STRLEN], q[KS_DEC_STRLEN];
    fprintf(f, ",\"%s\":[", key);
    for (uint32_t i = 0; i < n; i++) {
        ks_dec_format(lv[i].px, p, sizeof(p));
        ks_dec_format(lv[i].qty, q, sizeof(q));
        fprintf(f, "%s[\"%s\",\"%s\"]", i ? "," : "", p, q);
    }
    fputc(']', f);
}

static const char *conn_state_name(int s)
{
    switch ((ks_conn_state_t)s) {
    case KS_CONN_DOWN:
        return "down";
    case KS_CONN_CONNECTING:
        return "connecting";
    case KS_CONN_UP:
        return "up";
    case KS_CONN_RESYNCING:
        return "resyncing";
    }
    return "unknown";
}

static void print_instrument(decode_host_t *d, const ks_inst_rec_t *r)
{
    FILE *f = d->out;
    const ks_instrument_t *s = &r->spec;
    fprintf(f, "{\"type\":\"instrument\"");
    put_key_str(f, "venue", d->venue);
    put_key_str(f, "symbol", r->symbol);
    put_key_str(f, "venue_symbol", r->venue_symbol);
    put_key_str(f, "kind", s->kind == KS_KIND_SPOT ? "spot" : "perp");
    put_key_str(f, "base", r->base);
    put_key_str(f, "quote", r->quote);
    if (r->settle[0])
        put_key_str(f, "settle", r->settle);
    put_dec(f, "tick", s->tick_size);
    put_dec(f, "lot", s->lot_size);
    put_dec(f, "min_qty", s->min_qty);
    put_dec(f, "max_qty", s->max_qty);
    put_dec(f, "min_notional", s->min_notional);
    fprintf(f, ",\"max_leverage\":%d,\"funding_interval_h\":%d", s->max_leverage,
            s->funding_interval_h);
    put_key_str(f, "status", (s->flags & KS_INST_HALTED) ? "halted" : "trading");
    fprintf(f, ",\"spec_version\":%u}\n", s->spec_version);
}

static void print_event(decode_host_t *d, const ks_event_t *ev)
{
    FILE *f = d->out;
    const ks_inst_rec_t *r = ev->inst >= 0 ? ks_market_inst(&d->market, ev->inst) : NULL;
    fprintf(f, "{\"type\":\"%s\"", ks_event_type_name(ev->type));
    put_key_str(f, "venue", d->venue);
    if (r)
        put_key_str(f, "symbol", r->symbol);
    if (ev->venue_ts)
        fprintf(f, ",\"ts\":%lld", (long long)(ev->venue_ts / 1000000));
    if (ev->flags & KS_EVF_SNAPSHOT)
        fprintf(f, ",\"fetch_snapshot\":true");
    switch ((ks_event_type_t)ev->type) {
    case KS_EV_BBO: {
        const ks_bbo_t *e = (const ks_bbo_t *)ev;
        put_dec(f, "bid", e->bid_px);
        put_dec(f, "bid_qty", e->bid_qty);
        put_dec(f, "ask", e->ask_px);
        put_dec(f, "ask_qty", e->ask_qty);
        break;
    }
    case KS_EV_BOOK: {
        const ks_book_t *e = (const ks_book_t *)ev;
        fprintf(f, ",\"seq\":%llu", (unsigned long long)e->update_id);
        if (e->prev_update_id)
            fprintf(f, ",\"prev_seq\":%llu", (unsigned long long)e->prev_update_id);
        fprintf(f, ",\"snapshot\":%s", e->snapshot ? "true" : "false");
        put_levels(f, "bids", e->bids, e->n_bids);
        put_levels(f, "asks", e->asks, e->n_asks);
        break;
    }
    case KS_EV_TRADE: {
        const ks_trade_t *e = (const ks_trade_t *)ev;
        put_dec(f, "price", e->px);
        put_dec(f, "qty", e->qty);
        put_key_str(f, "side", ks_side_name(e->side));
        put_key_str(f, "id", e->trade_id);
        break;
    }
    case KS_EV_TICKER: {
        const ks_ticker_t *e = (const ks_ticker_t *)ev;
        if (e->fields & KS_TK_LAST)
            put_dec(f, "last", e->last);
        if (e->fields & KS_TK_MARK)
            put_dec(f, "mark", e->mark);
        if (e->fields & KS_TK_INDEX)
            put_dec(f, "index", e->index);
        if (e->fields & KS_TK_BID)
            put_dec(f, "bid", e->bid);
        if (e->fields & KS_TK_ASK)
            put_dec(f, "ask", e->ask);
        if (e->fields & KS_TK_FUNDING_RATE)
            put_dec(f, "funding_rate", e->funding_rate);
        if (e->fields & KS_TK_NEXT_FUNDING)
            fprintf(f, ",\"next_funding_ts\":%lld", (long long)(e->next_funding_ts / 1000000));
        if (e->fields & KS_TK_FUNDING_INTERVAL)
            fprintf(f, ",\"funding_interval_h\":%d", e->funding_interval_h);
        if (e->fields & KS_TK_OPEN_INTEREST)
            put_dec(f, "open_interest", e->open_interest);
        if (e->fields & KS_TK_VOLUME_QUOTE_24H)
            put_dec(f, "volume_quote_24h", e->volume_quote_24h);
        break;
    }
    case KS_EV_ORACLE:
        put_dec(f, "price", ((const ks_oracle_t *)ev)->px);
        break;
    case KS_EV_LIQUIDATION: {
        const ks_liquidation_t *e = (const ks_liquidation_t *)ev;
        put_key_str(f, "side", ks_side_name(e->side));
        put_dec(f, "price", e->px);
        put_dec(f, "qty", e->qty);
        break;
    }
    case KS_EV_ORDER: {
        const ks_order_update_t *e = (const ks_order_update_t *)ev;
        put_key_str(f, "client_id", e->cloid);
        put_key_str(f, "venue_id", e->venue_id);
        put_key_str(f, "status", ks_order_status_name(e->status));
        put_key_str(f, "side", ks_side_name(e->side));
        put_key_str(f, "order_type", ks_ord_type_name(e->type));
        put_key_str(f, "tif", ks_tif_name(e->tif));
        fprintf(f, ",\"reduce_only\":%s", e->reduce_only ? "true" : "false");
        put_dec(f, "price", e->price);
        put_dec(f, "qty", e->qty);
        put_dec(f, "filled", e->filled);
        put_dec(f, "avg_price", e->avg_price);
        put_dec(f, "fee", e->fee);
        if (e->reject) {
            put_key_str(f, "reject", ks_reject_name(e->reject));
            put_key_str(f, "reason", e->reason);
        }
        break;
    }
    case KS_EV_FILL: {
        const ks_fill_t *e = (const ks_fill_t *)ev;
        put_key_str(f, "client_id", e->cloid);
        put_key_str(f, "venue_id", e->venue_id);
        put_key_str(f, "id", e->trade_id);
        put_key_str(f, "side", ks_side_name(e->side));
        put_dec(f, "price", e->px);
        put_dec(f, "qty", e->qty);
        put_dec(f, "fee", e->fee);
        put_key_str(f, "fee_asset", e->fee_asset);
        fprintf(f, ",\"maker\":%s", e->maker ? "true" : "false");
        break;
    }
    case KS_EV_POSITION: {
        const ks_position_t *e = (const ks_position_t *)ev;
        put_dec(f, "qty", e->qty);
        put_dec(f, "entry_price", e->entry_px);
        put_dec(f, "mark_price", e->mark_px);
        put_dec(f, "liq_price", e->liq_px);
        put_dec(f, "margin", e->margin);
        put_dec(f, "upnl", e->upnl);
        fprintf(f, ",\"leverage\":%d", e->leverage);
        break;
    }
    case KS_EV_BALANCE: {
        const ks_balance_t *e = (const ks_balance_t *)ev;
        put_key_str(f, "asset", e->asset);
        put_key_str(f, "wallet", ks_wallet_name(e->wallet));
        put_dec(f, "total", e->total);
        put_dec(f, "available", e->available);
        put_dec(f, "equity", e->equity);
        put_dec(f, "initial_margin", e->initial_margin);
        put_dec(f, "maint_margin", e->maint_margin);
        break;
    }
    case KS_EV_FUNDING: {
        const ks_funding_t *e = (const ks_funding_t *)ev;
        put_dec(f, "rate", e->rate);
        put_dec(f, "position_qty", e->position_qty);
        put_dec(f, "mark_price", e->mark_px);
        put_dec(f, "amount", e->amount);
        put_key_str(f, "asset", e->asset);
        break;
    }
    case KS_EV_CONN: {
        const ks_conn_t *e = (const ks_conn_t *)ev;
        put_key_str(f, "state", conn_state_name(e->state));
        put_key_str(f, "detail", e->detail);
        break;
    }
    case KS_EV_SYNC_DONE: {
        const ks_sync_done_t *e = (const ks_sync_done_t *)ev;
        fprintf(f, ",\"req_id\":%llu,\"rc\":%d", (unsigned long long)e->req_id, e->rc);
        break;
    }
    case KS_EV_TRANSFER: {
        const ks_transfer_result_t *e = (const ks_transfer_result_t *)ev;
        fprintf(f, ",\"req_id\":%llu,\"rc\":%d", (unsigned long long)e->req_id, e->rc);
        put_key_str(f, "asset", e->asset);
        put_dec(f, "amount", e->amount);
        break;
    }
    case KS_EV_INSTRUMENT:
        break;
    }
    fputs("}\n", f);
}

/* ---- the host services table -------------------------------------------------------- */

static void h_log(ks_host_t *h, int level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    va_list ap;
    if (level < KS_LOG_INFO)
        return;
    fprintf(stderr, "[%s] %s: ", names[level >= 0 && level <= 3 ? level : 3], dh(h)->venue);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t h_now_ns(ks_host_t *h)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t h_wall_ns(ks_host_t *h)
{
    return clock_ns(CLOCK_REALTIME);
}

static uint64_t h_timer_start(ks_host_t *h, int64_t after_ns, int64_t repeat_ns, ks_timer_cb cb,
                              void *ud)
{
    return 0; /* decode runs no loop */
}

static void h_timer_stop(ks_host_t *h, uint64_t id)
{
}

static uint64_t h_http_request(ks_host_t *h, const ks_http_request_t *req, ks_http_cb cb, void *ud)
{
    return 0;
}

static void h_http_cancel(ks_host_t *h, uint64_t id)
{
}

static ks_ws_t *h_ws_connect(ks_host_t *h, const ks_ws_options_t *opt, const ks_ws_callbacks_t *cb,
                             void *ud)
{
    return NULL;
}

static int h_ws_send(ks_ws_t *ws, const char *data, size_t len)
{
    return KS_ESTATE;
}

static void h_ws_close(ks_ws_t *ws)
{
}

static void h_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                          uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n);
}

static void h_sha256(const void *msg, size_t len, uint8_t out[32])
{
    SHA256(msg, len, out);
}

static int h_secret_get(ks_host_t *h, const char *name, char *buf, size_t cap)
{
    return KS_ENOENT; /* decoding needs no credentials */
}

static int h_instrument_upsert(ks_host_t *h, const ks_instrument_t *inst, int32_t *id)
{
    decode_host_t *d = dh(h);
    bool is_new, changed;
    if (!inst || !id)
        return KS_EINVAL;
    int rc = ks_market_upsert(&d->market, 0, inst, id, &is_new, &changed);
    if (rc == KS_OK && (is_new || changed))
        print_instrument(d, ks_market_inst(&d->market, *id));
    return rc;
}

static int h_instrument_find(ks_host_t *h, const char *symbol, int32_t *id)
{
    int32_t i = symbol && id ? ks_market_find(&dh(h)->market, 0, symbol) : -1;
    if (i < 0)
        return KS_ENOENT;
    *id = i;
    return KS_OK;
}

static int h_instrument_get(ks_host_t *h, int32_t id, ks_instrument_t *out)
{
    const ks_inst_rec_t *r = ks_market_inst(&dh(h)->market, id);
    if (!r || !out)
        return KS_ENOENT;
    uint32_t size = out->struct_size ? out->struct_size : sizeof(*out);
    memcpy(out, &r->spec, size < sizeof(r->spec) ? size : sizeof(r->spec));
    out->struct_size = size < sizeof(r->spec) ? size : sizeof(r->spec);
    return KS_OK;
}

static int h_emit(ks_host_t *h, const ks_event_t *ev)
{
    decode_host_t *d = dh(h);
    if (!ev || ev->struct_size < sizeof(ks_event_t) || ev->type == KS_EV_INSTRUMENT)
        return KS_EINVAL;
    d->events++;
    print_event(d, ev);
    return KS_OK;
}

static void h_metric(ks_host_t *h, const char *name, double value)
{
}

static int h_kv_get(ks_host_t *h, const char *key, void *buf, size_t cap, size_t *len)
{
    return KS_ENOENT;
}

static int h_kv_set(ks_host_t *h, const char *key, const void *val, size_t len)
{
    return KS_ESTATE;
}

static void h_ratelimit_feedback(ks_host_t *h, const ks_ratelimit_info_t *info)
{
}

static int h_request_action(ks_host_t *h, const ks_action_t *act)
{
    return KS_ENOTSUP;
}

static const ks_host_api_t decode_api = {
    .struct_size = sizeof(ks_host_api_t),
    .abi_major = KS_ABI_MAJOR,
    .abi_minor = KS_ABI_MINOR,
    .log = h_log,
    .now_ns = h_now_ns,
    .wall_ns = h_wall_ns,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .http_request = h_http_request,
    .http_cancel = h_http_cancel,
    .ws_connect = h_ws_connect,
    .ws_send = h_ws_send,
    .ws_close = h_ws_close,
    .hmac_sha256 = h_hmac_sha256,
    .sha256 = h_sha256,
    .secret_get = h_secret_get,
    .instrument_upsert = h_instrument_upsert,
    .instrument_find = h_instrument_find,
    .instrument_get = h_instrument_get,
    .emit = h_emit,
    .metric = h_metric,
    .kv_get = h_kv_get,
    .kv_set = h_kv_set,
    .ratelimit_feedback = h_ratelimit_feedback,
    .request_action = h_request_action,
};

/* ---- main ------------------------------------------------------------------------------- */

/* {"decode_only": true} plus the members of the --config object. */
static char *build_config(const char *extra)
{
    const char *base = "{\"decode_only\":true";
    size_t n = strlen(base) + (extra ? strlen(extra) : 0) + 4;
    char *out = malloc(n);
    if (!out)
        return NULL;
    const char *open = extra ? strchr(extra, '{') : NULL;
    const char *close = extra ? strrchr(extra, '}') : NULL;
    if (!open || !close || close < open) {
        snprintf(out, n, "%s}", base);
        return out;
    }
    const char *inner = open + 1;
    while (inner < close && (*inner == ' ' || *inner == '\t' || *inner == '\n'))
        inner++;
    if (inner == close)
        snprintf(out, n, "%s}", base);
    else
        snprintf(out, n, "%s,%.*s}", base, (int)(close - inner), inner);
    return out;
}

int ks_decode_main(int argc, char **argv)
{
    const char *venue = NULL, *extra = NULL;
    const char *dirs[16];
    int n_dirs = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_decode, stdout);
            return 0;
        }
        if (strcmp(a, "--venue") == 0 && val) {
            venue = val;
            i++;
        } else if (strcmp(a, "--plugin-path") == 0 && val) {
            if (n_dirs < 8)
                dirs[n_dirs++] = val;
            i++;
        } else if (strcmp(a, "--config") == 0 && val) {
            extra = val;
            i++;
        } else {
            fprintf(stderr, "kestrel decode: unexpected argument %s (see --help)\n", a);
            return 2;
        }
    }
    if (!venue) {
        fputs(usage_decode, stderr);
        return 2;
    }
    n_dirs += ks_plugin_default_dirs(dirs + n_dirs, 16 - n_dirs);

    char err[512];
    int rc = 1;
    const ks_plugin_t *p = NULL;
    const ks_exchange_ops_t *ops = NULL;
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    ks_plugin_set_t *set = ks_plugin_set_new();
    char *config = build_config(extra);
    decode_host_t d;
    memset(&d, 0, sizeof(d));
    d.venue = venue;
    d.out = stdout;
    ks_market_init(&d.market);
    void *self = NULL;
    char *line = NULL;
    size_t cap = 0;
    if (!set || !config) {
        fputs("kestrel decode: out of memory\n", stderr);
        goto out;
    }
    p = ks_plugin_set_load(set, venue, dirs, n_dirs, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "kestrel decode: %s\n", err);
        goto out;
    }
    if (p->desc->kind != KS_PLUGIN_EXCHANGE) {
        fprintf(stderr, "kestrel decode: %s is not an exchange plugin\n", p->path);
        goto out;
    }
    ops = p->desc->ops;
    if (!KS_HAS_FIELD(ops, ks_exchange_ops_t, decode) || !ops->decode) {
        fprintf(stderr, "kestrel decode: plugin %s has no decode operation\n", venue);
        goto out;
    }
    err[0] = '\0';
    if (ops->open(&decode_api, (ks_host_t *)(void *)&d, venue, config, &self, err, sizeof(err)) !=
        KS_OK) {
        fprintf(stderr, "kestrel decode: cannot open %s: %s\n", venue, err);
        self = NULL;
        goto out;
    }
    ssize_t n;
    uint64_t lineno = 0, bad = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!n)
            continue;
        int r = ops->decode(self, line, (size_t)n);
        if (r < 0) {
            bad++;
            fflush(stdout);
            fprintf(stderr, "kestrel decode: line %llu: cannot decode: %s\n",
                    (unsigned long long)lineno,
                    r == KS_EPROTO ? "not a JSON document" : ks_strerror(r));
        }
    }
    if (bad)
        fprintf(stderr, "kestrel decode: %llu of %llu line(s) could not be decoded\n",
                (unsigned long long)bad, (unsigned long long)lineno);
    rc = 0;
out:
    fflush(stdout);
    if (self)
        ops->close(self);
    free(line);
    free(config);
    ks_market_free(&d.market);
    ks_plugin_set_free(set);
    return rc;
}
