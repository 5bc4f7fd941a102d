/* The in-process test host for the Bybit plugin (see bybit_test_host.h). */
#define _GNU_SOURCE
#include "bybit_test_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

typedef struct bt_timer {
    bt_host_t *h;
    uint64_t id;
    bool repeat;
    ks_timer_cb cb;
    void *ud;
    struct bt_timer *next;
} bt_timer_t;

static bt_host_t *H(ks_host_t *h)
{
    return (bt_host_t *)(void *)h;
}

static void h_log(ks_host_t *h, int level, const char *fmt, ...)
{
    va_list ap;
    char line[512];
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (level >= KS_LOG_ERROR)
        H(h)->n_errors_logged++;
    if (level == KS_LOG_WARN) {
        H(h)->n_warnings_logged++;
        if (H(h)->warn_match && strstr(line, H(h)->warn_match))
            H(h)->n_warn_match++;
    }
    if (H(h)->quiet && level < KS_LOG_WARN)
        return;
    if (level < KS_LOG_INFO && !getenv("BT_DEBUG"))
        return;
    fprintf(stderr, "  [bybit %s] %s\n",
            level >= KS_LOG_ERROR  ? "error"
            : level == KS_LOG_WARN ? "warn"
                                   : "info",
            line);
}

static int64_t h_now_ns(ks_host_t *h)
{
    return ks_loop_now_ns(H(h)->loop);
}

static int64_t h_wall_ns(ks_host_t *h)
{
    return ks_loop_wall_ns(H(h)->loop) + H(h)->wall_skew_ns;
}

static void timer_unlink(bt_host_t *h, bt_timer_t *t)
{
    for (bt_timer_t **p = &h->timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            return;
        }
}

static void timer_fire(ks_loop_t *loop, void *ud)
{
    bt_timer_t *t = ud;
    bt_host_t *h = t->h;
    ks_timer_cb cb = t->cb;
    void *cud = t->ud;
    if (!t->repeat) {
        timer_unlink(h, t);
        free(t);
    }
    cb(cud);
}

static uint64_t h_timer_start(ks_host_t *hh, int64_t after_ns, int64_t repeat_ns, ks_timer_cb cb,
                              void *ud)
{
    bt_host_t *h = H(hh);
    bt_timer_t *t = calloc(1, sizeof(*t));
    if (!t)
        return 0;
    t->h = h;
    t->repeat = repeat_ns > 0;
    t->cb = cb;
    t->ud = ud;
    t->id = ks_loop_timer_start(h->loop, after_ns < 0 ? 0 : after_ns, repeat_ns, timer_fire, t);
    if (!t->id) {
        free(t);
        return 0;
    }
    t->next = h->timers;
    h->timers = t;
    return t->id;
}

static void h_timer_stop(ks_host_t *hh, uint64_t id)
{
    bt_host_t *h = H(hh);
    for (bt_timer_t *t = h->timers; t; t = t->next)
        if (t->id == id) {
            ks_loop_timer_stop(h->loop, id);
            timer_unlink(h, t);
            free(t);
            return;
        }
}

static uint64_t h_http_request(ks_host_t *h, const ks_http_request_t *req, ks_http_cb cb, void *ud)
{
    return ks_http_request(H(h)->http, req, cb, ud);
}

static void h_http_cancel(ks_host_t *h, uint64_t id)
{
    ks_http_cancel(H(h)->http, id);
}

static ks_ws_t *h_ws_connect(ks_host_t *h, const ks_ws_options_t *opt, const ks_ws_callbacks_t *cb,
                             void *ud)
{
    return ks_ws_connect(H(h)->ws, opt, cb, ud);
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

static int h_secret_get(ks_host_t *hh, const char *name, char *buf, size_t cap)
{
    bt_host_t *h = H(hh);
    const char *v = strstr(name, "SECRET") ? h->secret : strstr(name, "KEY") ? h->key : NULL;
    if (!v)
        return KS_ENOENT;
    if (strlen(v) + 1 > cap)
        return KS_ERANGE;
    strcpy(buf, v);
    return KS_OK;
}

static int h_instrument_upsert(ks_host_t *hh, const ks_instrument_t *inst, int32_t *id)
{
    bt_host_t *h = H(hh);
    bool is_new, changed;
    int rc = ks_market_upsert(&h->market, 0, inst, id, &is_new, &changed);
    if (rc == KS_OK && is_new && h->autosub && h->self)
        h->ops->subscribe(h->self, *id, h->autosub); /* as the engine does, re-entrantly */
    return rc;
}

static int h_instrument_find(ks_host_t *h, const char *symbol, int32_t *id)
{
    int32_t i = ks_market_find(&H(h)->market, 0, symbol);
    if (i < 0)
        return KS_ENOENT;
    *id = i;
    return KS_OK;
}

static int h_instrument_get(ks_host_t *h, int32_t id, ks_instrument_t *out)
{
    const ks_inst_rec_t *r = ks_market_inst(&H(h)->market, id);
    if (!r)
        return KS_ENOENT;
    *out = r->spec;
    return KS_OK;
}

static size_t ev_size(int type)
{
    switch (type) {
    case KS_EV_BBO:
        return sizeof(ks_bbo_t);
    case KS_EV_BOOK:
        return sizeof(ks_book_t);
    case KS_EV_TRADE:
        return sizeof(ks_trade_t);
    case KS_EV_TICKER:
        return sizeof(ks_ticker_t);
    case KS_EV_LIQUIDATION:
        return sizeof(ks_liquidation_t);
    case KS_EV_ORDER:
        return sizeof(ks_order_update_t);
    case KS_EV_FILL:
        return sizeof(ks_fill_t);
    case KS_EV_POSITION:
        return sizeof(ks_position_t);
    case KS_EV_BALANCE:
        return sizeof(ks_balance_t);
    case KS_EV_FUNDING:
        return sizeof(ks_funding_t);
    case KS_EV_CONN:
        return sizeof(ks_conn_t);
    case KS_EV_SYNC_DONE:
        return sizeof(ks_sync_done_t);
    default:
        return 0;
    }
}

static int h_emit(ks_host_t *hh, const ks_event_t *ev)
{
    bt_host_t *h = H(hh);
    size_t size = ev_size(ev->type);
    if (!size || ev->struct_size != size)
        return KS_EINVAL;
    if (h->n_ev == h->cap_ev) {
        h->cap_ev = h->cap_ev ? h->cap_ev * 2 : 1024;
        h->ev = realloc(h->ev, h->cap_ev * sizeof(*h->ev));
        if (!h->ev)
            abort();
    }
    bt_event_t *e = &h->ev[h->n_ev++];
    memset(e, 0, sizeof(*e));
    memcpy(&e->ev, ev, size);
    e->at_ns = ks_loop_now_ns(h->loop);
    if (ev->type == KS_EV_BOOK) {
        const ks_book_t *b = (const ks_book_t *)ev;
        size_t n = (size_t)b->n_bids + b->n_asks;
        e->levels = malloc((n ? n : 1) * sizeof(ks_level_t));
        if (!e->levels)
            abort();
        memcpy(e->levels, b->bids, b->n_bids * sizeof(ks_level_t));
        memcpy(e->levels + b->n_bids, b->asks, b->n_asks * sizeof(ks_level_t));
        e->ev.book.bids = e->levels;
        e->ev.book.asks = e->levels + b->n_bids;
    }
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
    return KS_OK;
}

static void h_ratelimit_feedback(ks_host_t *hh, const ks_ratelimit_info_t *info)
{
    bt_host_t *h = H(hh);
    h->n_ratelimit++;
    h->last_ratelimit = *info;
}

static int h_request_action(ks_host_t *h, const ks_action_t *act)
{
    return KS_ENOTSUP;
}

static const ks_host_api_t api = {
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
    .ws_send = ks_ws_send,
    .ws_close = ks_ws_close,
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

int bt_host_init(bt_host_t *h, ks_loop_t *loop, char *err, size_t err_len)
{
    return bt_host_init_shared(h, loop, NULL, err, err_len);
}

int bt_host_init_shared(bt_host_t *h, ks_loop_t *loop, ks_wsctx_t *shared_ws, char *err,
                        size_t err_len)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    ks_market_init(&h->market);
    h->http = ks_http_new(loop);
    h->own_ws = !shared_ws;
    h->ws = shared_ws ? shared_ws : ks_wsctx_new(loop);
    h->plugin = ks_plugin_open(KS_BYBIT_PLUGIN, err, err_len);
    if (!h->http || !h->ws || !h->plugin)
        return KS_EIO;
    h->ops = h->plugin->desc->ops;
    return KS_OK;
}

int bt_host_open(bt_host_t *h, const char *config_json, char *err, size_t err_len)
{
    return h->ops->open(&api, (ks_host_t *)(void *)h, "bybit", config_json, &h->self, err, err_len);
}

void bt_host_close(bt_host_t *h)
{
    if (h->self)
        h->ops->close(h->self);
    h->self = NULL;
}

void bt_host_free(bt_host_t *h)
{
    /* Close the plugin, then drop the clients before the loop runs again: nothing may call
     * back into the freed plugin (ws_close's on_close would otherwise still arrive). */
    if (h->self)
        h->ops->close(h->self);
    h->self = NULL;
    if (h->ws && h->own_ws)
        ks_wsctx_free(h->ws);
    if (h->http)
        ks_http_free(h->http);
    while (h->timers) {
        bt_timer_t *t = h->timers;
        h->timers = t->next;
        ks_loop_timer_stop(h->loop, t->id);
        free(t);
    }
    for (size_t i = 0; i < h->n_ev; i++)
        free(h->ev[i].levels);
    free(h->ev);
    ks_market_free(&h->market);
    if (h->plugin)
        ks_plugin_close(h->plugin);
    memset(h, 0, sizeof(*h));
}

bool bt_run_until(bt_host_t *h, bool (*pred)(bt_host_t *h, void *ud), void *ud, int timeout_ms)
{
    int64_t end = ks_loop_now_ns(h->loop) + (int64_t)timeout_ms * 1000000LL;
    while (!pred(h, ud)) {
        int64_t now = ks_loop_now_ns(h->loop);
        if (now >= end)
            return false;
        int64_t step = now + 5000000LL < end ? now + 5000000LL : end;
        ks_loop_run_until(h->loop, step);
    }
    return true;
}

void bt_run_for(bt_host_t *h, int ms)
{
    ks_loop_run_until(h->loop, ks_loop_now_ns(h->loop) + (int64_t)ms * 1000000LL);
}

int32_t bt_inst(bt_host_t *h, const char *symbol)
{
    return ks_market_find(&h->market, 0, symbol);
}

size_t bt_count(const bt_host_t *h, int type, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < h->n_ev; i++)
        n += h->ev[i].ev.hdr.type == type;
    return n;
}

const bt_event_t *bt_last(const bt_host_t *h, int type)
{
    for (size_t i = h->n_ev; i-- > 0;)
        if (h->ev[i].ev.hdr.type == type)
            return &h->ev[i];
    return NULL;
}

const ks_order_update_t *bt_order(const bt_host_t *h, const char *cloid)
{
    for (size_t i = h->n_ev; i-- > 0;)
        if (h->ev[i].ev.hdr.type == KS_EV_ORDER && strcmp(h->ev[i].ev.order.cloid, cloid) == 0)
            return &h->ev[i].ev.order;
    return NULL;
}

bool bt_has_conn(const bt_host_t *h, int state, const char *part, size_t from)
{
    for (size_t i = from; i < h->n_ev; i++)
        if (h->ev[i].ev.hdr.type == KS_EV_CONN && h->ev[i].ev.conn.state == state &&
            (!part || strstr(h->ev[i].ev.conn.detail, part)))
            return true;
    return false;
}
