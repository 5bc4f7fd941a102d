/* bybit_conn: the adapter's three WebSocket connections (public linear, public spot,
 * private) over the host's client: auth, subscriptions, {"op":"ping"} heartbeats, and
 * reconnection with exponential backoff and jitter. After a reconnect every topic is
 * subscribed again (books rebuild from the fresh snapshot) and, on the private stream,
 * the REST resync recovers what happened while it was down. */
#include <stdio.h>
#include <stdlib.h>

#include "bybit.h"
#include "bybit_sign.h"

#define NS_PER_MS           1000000LL
#define SPOT_ARGS_PER_SUB   10 /* venues/bybit.md §3.2 */
#define LINEAR_ARGS_PER_SUB 50

static const char *const conn_names[KS_BYBIT_NCONN] = {"public linear", "public spot", "private"};

static void connect_now(ks_bybit_conn_t *c);

static int64_t now_ns(ks_bybit_t *bb)
{
    return bb->api->now_ns(bb->host);
}

static uint64_t rnd(ks_bybit_t *bb)
{
    /* splitmix64: only for backoff jitter */
    uint64_t z = (bb->jitter_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void stop_timer(ks_bybit_t *bb, uint64_t *id)
{
    if (*id)
        bb->api->timer_stop(bb->host, *id);
    *id = 0;
}

static int send_text(ks_bybit_conn_t *c, const char *text)
{
    if (!c->ws)
        return KS_ESTATE;
    return c->bb->api->ws_send(c->ws, text, strlen(text));
}

/* ---- subscriptions ------------------------------------------------------------------- */

static uint8_t wanted_topics(const ks_bybit_inst_t *in)
{
    uint8_t t = 0;
    if (in->channels & (KS_CH_BOOK | KS_CH_BBO))
        t |= KS_BYBIT_T_BOOK;
    if (in->channels & KS_CH_TRADES)
        t |= KS_BYBIT_T_TRADE;
    if (in->channels & KS_CH_TICKER)
        t |= KS_BYBIT_T_TICKER;
    if ((in->channels & KS_CH_LIQUIDATIONS) && in->cat == KS_BYBIT_LINEAR)
        t |= KS_BYBIT_T_LIQ;
    return t;
}

static int topic_name(const ks_bybit_t *bb, const ks_bybit_inst_t *in, uint8_t t, char *buf,
                      size_t cap)
{
    switch (t) {
    case KS_BYBIT_T_BOOK:
        return snprintf(buf, cap, "orderbook.%d.%s", bb->cfg.book_depth, in->sym);
    case KS_BYBIT_T_TRADE:
        return snprintf(buf, cap, "publicTrade.%s", in->sym);
    case KS_BYBIT_T_TICKER:
        return snprintf(buf, cap, "tickers.%s", in->sym);
    case KS_BYBIT_T_LIQ:
        return snprintf(buf, cap, "allLiquidation.%s", in->sym);
    }
    return 0;
}

/* Collects topic names into {"op":op,"args":[...]} messages of at most `per` args. */
typedef struct sub_batch {
    ks_bybit_conn_t *c;
    const char *op;
    int per, n;
    char msg[8192];
    size_t len;
} sub_batch_t;

static void batch_flush(sub_batch_t *b)
{
    if (!b->n)
        return;
    b->len += (size_t)snprintf(b->msg + b->len, sizeof(b->msg) - b->len, "]}");
    send_text(b->c, b->msg);
    b->n = 0;
    b->len = 0;
}

static void batch_add(sub_batch_t *b, const char *topic)
{
    if (b->n == b->per || b->len + strlen(topic) + 8 > sizeof(b->msg) - 4)
        batch_flush(b);
    if (!b->n)
        b->len = (size_t)snprintf(b->msg, sizeof(b->msg), "{\"op\":\"%s\",\"args\":[", b->op);
    b->len += (size_t)snprintf(b->msg + b->len, sizeof(b->msg) - b->len, "%s\"%s\"",
                               b->n ? "," : "", topic);
    b->n++;
}

static void subscribe_missing(ks_bybit_conn_t *c, ks_bybit_inst_t *only)
{
    ks_bybit_t *bb = c->bb;
    sub_batch_t b = {.c = c,
                     .op = "subscribe",
                     .per = c->kind == KS_BYBIT_WS_SPOT ? SPOT_ARGS_PER_SUB : LINEAR_ARGS_PER_SUB};
    char topic[96];
    for (uint32_t i = 0; i < bb->n_insts; i++) {
        ks_bybit_inst_t *in = only ? only : bb->insts[i];
        if (in->cat == c->kind && in->id >= 0) {
            uint8_t need = wanted_topics(in) & (uint8_t)~in->topics;
            for (uint8_t t = 1; t && t <= KS_BYBIT_T_LIQ; t = (uint8_t)(t << 1)) {
                if (!(need & t))
                    continue;
                topic_name(bb, in, t, topic, sizeof(topic));
                batch_add(&b, topic);
            }
            in->topics |= need;
        }
        if (only)
            break;
    }
    batch_flush(&b);
}

void ks_bybit_conn_subscribe_inst(ks_bybit_t *bb, ks_bybit_inst_t *in)
{
    ks_bybit_conn_t *c = &bb->conn[in->cat];
    if (c->state == KS_BYBIT_CONN_READY)
        subscribe_missing(c, in);
}

void ks_bybit_conn_resubscribe_book(ks_bybit_t *bb, ks_bybit_inst_t *in)
{
    ks_bybit_conn_t *c = &bb->conn[in->cat];
    char topic[96], msg[160];
    if (c->state != KS_BYBIT_CONN_READY || !(in->topics & KS_BYBIT_T_BOOK))
        return; /* the next (re)connect subscribes it afresh anyway */
    topic_name(bb, in, KS_BYBIT_T_BOOK, topic, sizeof(topic));
    snprintf(msg, sizeof(msg), "{\"op\":\"unsubscribe\",\"args\":[\"%s\"]}", topic);
    send_text(c, msg);
    snprintf(msg, sizeof(msg), "{\"op\":\"subscribe\",\"args\":[\"%s\"]}", topic);
    send_text(c, msg);
    bb->n_resubscribes++;
    bb->api->metric(bb->host, "bybit_book_resubscribes", (double)bb->n_resubscribes);
}

/* ---- state reporting ------------------------------------------------------------------ */

void ks_bybit_conn_report(ks_bybit_t *bb)
{
    bool up = true;
    for (int c = 0; c < KS_BYBIT_NCAT; c++)
        if (bb->cfg.cat_enabled[c] && !bb->instruments_loaded[c])
            up = false;
    for (int k = 0; k < KS_BYBIT_NCONN; k++)
        if (bb->conn[k].wanted && bb->conn[k].state != KS_BYBIT_CONN_READY)
            up = false;
    if (up && !bb->up_reported) {
        bb->up_reported = true;
        ks_bybit_codec_conn(bb, KS_CONN_UP, "%s",
                            bb->have_keys ? "market data and private streams"
                                          : "market data (public only)");
    }
}

/* ---- connection lifecycle -------------------------------------------------------------- */

static void on_reconnect_timer(void *ud)
{
    ks_bybit_conn_t *c = ud;
    c->reconnect_timer = 0;
    connect_now(c);
}

static void schedule_reconnect(ks_bybit_conn_t *c)
{
    ks_bybit_t *bb = c->bb;
    if (bb->closing || !c->wanted || c->reconnect_timer)
        return;
    int64_t base = bb->cfg.reconnect_min_ms;
    for (uint32_t i = 0; i < c->attempts && base < bb->cfg.reconnect_max_ms; i++)
        base *= 2;
    if (base > bb->cfg.reconnect_max_ms)
        base = bb->cfg.reconnect_max_ms;
    /* +-25 % jitter so many hosts do not reconnect in lockstep. */
    int64_t delay = base * 3 / 4 + (int64_t)(rnd(bb) % (uint64_t)(base / 2 + 1));
    c->attempts++;
    bb->api->log(bb->host, KS_LOG_INFO, "%s stream: reconnecting in %lld ms (attempt %u)",
                 conn_names[c->kind], (long long)delay, c->attempts);
    c->reconnect_timer =
        bb->api->timer_start(bb->host, delay * NS_PER_MS, 0, on_reconnect_timer, c);
}

/* The connection is gone (closed, failed, or given up on): forget it and reconnect. */
static void conn_down(ks_bybit_conn_t *c, const char *why)
{
    ks_bybit_t *bb = c->bb;
    bool was_ready = c->state == KS_BYBIT_CONN_READY;
    stop_timer(bb, &c->ping_timer);
    stop_timer(bb, &c->pong_timer);
    c->ws = NULL;
    c->state = KS_BYBIT_CONN_IDLE;
    if (bb->closing)
        return;
    if (c->kind != KS_BYBIT_WS_PRIVATE) {
        for (uint32_t i = 0; i < bb->n_insts; i++) {
            ks_bybit_inst_t *in = bb->insts[i];
            if (in->cat != c->kind)
                continue;
            in->topics = 0;
            ks_bybit_book_reset(&in->book);
            in->bbo_valid = false;
            in->resync_pending = false;
        }
    }
    if (was_ready || bb->up_reported) {
        bb->up_reported = false;
        ks_bybit_codec_conn(bb, KS_CONN_CONNECTING, "%s stream lost (%s): reconnecting",
                            conn_names[c->kind], why);
    }
    bb->api->log(bb->host, KS_LOG_WARN, "%s stream down: %s", conn_names[c->kind], why);
    bb->n_reconnects++;
    bb->api->metric(bb->host, "bybit_reconnects", (double)bb->n_reconnects);
    schedule_reconnect(c);
}

static void send_ping(void *ud);

static void on_pong_timeout(void *ud)
{
    ks_bybit_conn_t *c = ud;
    ks_bybit_t *bb = c->bb;
    c->pong_timer = 0;
    ks_ws_t *ws = c->ws;
    char why[80];
    snprintf(why, sizeof(why), "no pong or data for %d ms", bb->cfg.pong_timeout_ms);
    conn_down(c, why);
    if (ws)
        bb->api->ws_close(ws); /* its on_close is ignored: c->ws no longer points at it */
}

static void send_ping(void *ud)
{
    ks_bybit_conn_t *c = ud;
    ks_bybit_t *bb = c->bb;
    if (!c->ws || c->state == KS_BYBIT_CONN_CONNECTING)
        return;
    send_text(c, "{\"op\":\"ping\"}");
    if (!c->pong_timer)
        c->pong_timer = bb->api->timer_start(bb->host, (int64_t)bb->cfg.pong_timeout_ms * NS_PER_MS,
                                             0, on_pong_timeout, c);
}

static void send_auth(ks_bybit_conn_t *c)
{
    ks_bybit_t *bb = c->bb;
    char sig[65], msg[512];
    int64_t expires = ks_bybit_rest_now_ms(bb) + 10000;
    ks_bybit_sign_ws_auth(bb->api->hmac_sha256, bb->secret, expires, sig);
    snprintf(msg, sizeof(msg), "{\"op\":\"auth\",\"args\":[\"%s\",%lld,\"%s\"]}", bb->key,
             (long long)expires, sig);
    send_text(c, msg);
    memset(msg, 0, sizeof(msg));
    memset(sig, 0, sizeof(sig));
}

static void on_open(void *ud, ks_ws_t *ws)
{
    ks_bybit_conn_t *c = ud;
    ks_bybit_t *bb = c->bb;
    if (ws != c->ws)
        return;
    c->connects++;
    c->last_rx_ns = now_ns(bb);
    int64_t every = (int64_t)bb->cfg.ping_interval_ms * NS_PER_MS;
    c->ping_timer = bb->api->timer_start(bb->host, every, every, send_ping, c);
    if (c->kind == KS_BYBIT_WS_PRIVATE) {
        c->state = KS_BYBIT_CONN_AUTHING;
        send_auth(c);
        return;
    }
    c->state = KS_BYBIT_CONN_READY;
    c->attempts = 0;
    subscribe_missing(c, NULL);
    ks_bybit_conn_report(bb);
}

static void on_private_op(ks_bybit_conn_t *c, const ks_bybit_json_t *js)
{
    ks_bybit_t *bb = c->bb;
    int op = ks_bybit_json_get(js, 0, "op");
    bool ok = false;
    char msg[KS_REASON_LEN] = "";
    ks_bybit_json_bool(js, ks_bybit_json_get(js, 0, "success"), &ok);
    ks_bybit_json_str(js, ks_bybit_json_get(js, 0, "ret_msg"), msg, sizeof(msg));
    if (ks_bybit_json_eq(js, op, "auth")) {
        if (!ok) {
            bb->api->log(bb->host, KS_LOG_ERROR, "private stream: auth refused (%s)",
                         msg[0] ? msg : "no reason given");
            ks_ws_t *ws = c->ws;
            conn_down(c, "auth refused");
            if (ws)
                bb->api->ws_close(ws);
            return;
        }
        c->state = KS_BYBIT_CONN_READY;
        c->attempts = 0;
        send_text(c, "{\"op\":\"subscribe\",\"args\":[\"order\",\"execution\",\"position\","
                     "\"wallet\"]}");
        /* The streams have no snapshot: fetch what we may have missed. */
        ks_bybit_rest_resync(bb);
        ks_bybit_conn_report(bb);
    }
}

static void on_message(void *ud, ks_ws_t *ws, const char *data, size_t len, bool binary)
{
    ks_bybit_conn_t *c = ud;
    ks_bybit_t *bb = c->bb;
    if (ws != c->ws || binary)
        return;
    c->last_rx_ns = now_ns(bb);
    stop_timer(bb, &c->pong_timer); /* anything received proves the connection alive */
    ks_bybit_json_t *js = &bb->js;
    if (ks_bybit_json_parse(js, data, len) != KS_OK || ks_bybit_json_type(js, 0) != KS_BJ_OBJECT) {
        bb->api->log(bb->host, KS_LOG_WARN, "%s stream: a message that is not JSON (%zu bytes)",
                     conn_names[c->kind], len);
        return;
    }
    if (ks_bybit_json_get(js, 0, "topic") > 0) {
        ks_bybit_codec_ws_doc(bb, c->kind == KS_BYBIT_WS_PRIVATE ? -1 : c->kind);
        return;
    }
    int op = ks_bybit_json_get(js, 0, "op");
    if (ks_bybit_json_eq(js, op, "ping") || ks_bybit_json_eq(js, op, "pong"))
        return;
    if (c->kind == KS_BYBIT_WS_PRIVATE) {
        on_private_op(c, js);
        return;
    }
    bool ok = true;
    ks_bybit_json_bool(js, ks_bybit_json_get(js, 0, "success"), &ok);
    if (!ok) {
        char msg[KS_REASON_LEN] = "";
        ks_bybit_json_str(js, ks_bybit_json_get(js, 0, "ret_msg"), msg, sizeof(msg));
        bb->api->log(bb->host, KS_LOG_WARN, "%s stream: %.*s refused: %s", conn_names[c->kind],
                     (int)js->tok[op > 0 ? op : 0].len, op > 0 ? js->text + js->tok[op].start : "",
                     msg);
    }
}

static void on_close(void *ud, ks_ws_t *ws, int rc, const char *reason)
{
    ks_bybit_conn_t *c = ud;
    if (ws != c->ws)
        return; /* a connection we already gave up on */
    conn_down(c, reason && reason[0] ? reason : ks_strerror(rc));
}

static void connect_now(ks_bybit_conn_t *c)
{
    ks_bybit_t *bb = c->bb;
    static const ks_ws_callbacks_t cbs = {
        .struct_size = sizeof(ks_ws_callbacks_t),
        .on_open = on_open,
        .on_message = on_message,
        .on_close = on_close,
    };
    ks_ws_options_t opt;
    if (bb->closing || !c->wanted)
        return;
    KS_INIT(&opt);
    opt.url = bb->cfg.ws_url[c->kind];
    opt.connect_timeout_ms = bb->cfg.http_timeout_ms;
    c->state = KS_BYBIT_CONN_CONNECTING;
    c->ws = bb->api->ws_connect(bb->host, &opt, &cbs, c);
    if (!c->ws) {
        c->state = KS_BYBIT_CONN_IDLE;
        bb->api->log(bb->host, KS_LOG_WARN, "%s stream: cannot connect to %s", conn_names[c->kind],
                     opt.url);
        schedule_reconnect(c);
    }
}

void ks_bybit_conn_init(ks_bybit_t *bb)
{
    for (int k = 0; k < KS_BYBIT_NCONN; k++) {
        ks_bybit_conn_t *c = &bb->conn[k];
        memset(c, 0, sizeof(*c));
        c->bb = bb;
        c->kind = k;
        c->wanted = k == KS_BYBIT_WS_PRIVATE
                        ? bb->have_keys && (bb->cfg.cat_enabled[0] || bb->cfg.cat_enabled[1])
                        : bb->cfg.cat_enabled[k];
    }
    bb->jitter_state = (uint64_t)bb->api->wall_ns(bb->host) ^ (uint64_t)(uintptr_t)bb;
}

void ks_bybit_conn_start(ks_bybit_t *bb)
{
    for (int k = 0; k < KS_BYBIT_NCONN; k++)
        connect_now(&bb->conn[k]);
}

void ks_bybit_conn_stop(ks_bybit_t *bb)
{
    for (int k = 0; k < KS_BYBIT_NCONN; k++) {
        ks_bybit_conn_t *c = &bb->conn[k];
        stop_timer(bb, &c->ping_timer);
        stop_timer(bb, &c->pong_timer);
        stop_timer(bb, &c->reconnect_timer);
        if (c->ws) {
            ks_ws_t *ws = c->ws;
            c->ws = NULL;
            bb->api->ws_close(ws);
        }
        c->state = KS_BYBIT_CONN_IDLE;
    }
}
