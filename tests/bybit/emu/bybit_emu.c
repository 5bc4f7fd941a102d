/* The loopback Bybit v5 emulator (see bybit_emu.h). Requests are parsed with cJSON,
 * deliberately not with the adapter's tokenizer, so the two sides check each other.
 *
 * Layout: helpers; the sim sink (core events -> private stream messages); market data
 * publication (books as snapshot + deltas with u + 1, tickers as snapshot + changed
 * fields, trades, liquidations); REST; WebSocket; faults; lifecycle and the record. */
#include "bybit_emu.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <kestrel/kestrel.h>

#include "sim_core.h"
#include "sim_market.h"

#define MS         1000000LL
#define MAX_INST   32
#define MAX_BOOKS  96
#define BOOK_MAX   KS_SIM_MAX_LEVELS
#define MAX_TRADES 64
#define HOLD_MS    30000 /* an unanswered request is cut after this long */
#define N_TK       12

enum { CAT_LINEAR = 0, CAT_SPOT = 1 };
enum { PEER_LINEAR = 0, PEER_SPOT = 1, PEER_PRIVATE = 2 };

/* ---- a growable string ---------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf_t;

static void sb_need(sbuf_t *b, size_t more)
{
    if (b->n + more + 1 <= b->cap)
        return;
    size_t nc = b->cap ? b->cap : 1024;
    while (nc < b->n + more + 1)
        nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np)
        abort();
    b->p = np;
    b->cap = nc;
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) KS_PRINTF(2, 3);
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_need(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

static void sb_dec(sbuf_t *b, ks_dec_t d)
{
    char s[KS_DEC_STRLEN];
    ks_dec_format(d, s, sizeof(s));
    sb_printf(b, "\"%s\"", s);
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_need(b, 2);
    b->p[b->n++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            sb_printf(b, "\\u%04x", (unsigned char)*s);
        else {
            sb_need(b, 1);
            b->p[b->n++] = *s;
        }
    }
    sb_need(b, 1);
    b->p[b->n++] = '"';
    b->p[b->n] = '\0';
}

static void sb_reset(sbuf_t *b)
{
    b->n = 0;
    if (b->p)
        b->p[0] = '\0';
}

static void sb_free(sbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- state ------------------------------------------------------------------------------ */

typedef struct emu_inst {
    int cat;
    char sym[32];
    char base[16];
    int32_t core;
    uint32_t mkt;
    ks_dec_t tick, lot, min_qty, min_notional;
    ks_dec_t tk[N_TK]; /* ticker values last published (linear deltas) */
    bool tk_have;
    ks_trade_t trades[MAX_TRADES];
    int n_trades;
} emu_inst_t;

typedef struct emu_book {
    int inst, depth;
    char topic[64];
    uint64_t u, seq;
    ks_level_t bids[BOOK_MAX], asks[BOOK_MAX];
    uint32_t nb, na;
    bool gap_next;
} emu_book_t;

typedef struct emu_peer {
    ks_bybit_emu_t *emu;
    ks_ws_peer_t *peer;
    int kind;
    bool authed;
    char (*topics)[64];
    int n_topics, cap_topics;
    char conn_id[32];
    struct emu_peer *prev, *next;
} emu_peer_t;

typedef struct emu_order {
    char cloid[KS_CLOID_LEN];
    char order_id[48];
    int inst;
    int8_t side;
    uint8_t type, tif;
    bool reduce_only;
    ks_dec_t price, qty, filled, avg, fee;
    uint8_t status;
    int32_t reject;
    char reason[KS_REASON_LEN];
    int64_t created_ms, updated_ms;
} emu_order_t;

typedef struct emu_fill {
    char exec_id[KS_VENUE_ID_LEN];
    char cloid[KS_CLOID_LEN];
    char order_id[48];
    int inst;
    int8_t side;
    bool maker;
    ks_dec_t px, qty, fee;
    int64_t ts_ms;
    uint64_t seq;
} emu_fill_t;

typedef struct held {
    ks_bybit_emu_t *emu;
    ks_http_exchange_t *ex;
    uint64_t timer;
    int status;
    char *body;
    size_t len;
    bool abort; /* cut the connection when the timer fires instead of answering */
    char lim[3][24];
    bool has_lim;
    struct held *prev, *next;
} held_t;

typedef struct sched {
    ks_bybit_emu_t *emu;
    char spec[64];
    uint64_t timer;
    struct sched *next;
} sched_t;

struct ks_bybit_emu {
    ks_loop_t *loop;
    ks_wsctx_t *ctx;
    bool own_ctx;
    ks_ws_server_t *srv;
    char key[128], secret[128];
    int step_ms;
    int page;
    bool log;
    ks_sim_core_t *core;
    ks_sim_market_t *mkt;
    ks_sim_input_t inputs[MAX_INST];
    int n_bases;
    emu_inst_t inst[MAX_INST];
    int n_inst;
    emu_book_t books[MAX_BOOKS];
    int n_books;
    emu_peer_t *peers;
    emu_order_t *orders;
    size_t n_orders, cap_orders;
    emu_fill_t *fills;
    size_t n_fills, cap_fills;
    held_t *held;
    sched_t *sched;
    uint64_t step_timer;
    /* faults */
    int f_dup[3], f_delay_n, f_delay_ms, f_429, f_10006, f_5xx, f_timeout, f_blackhole, f_authfail;
    int f_feerate400;
    bool f_gap, gap_happened;
    int64_t gap_ns; /* when the last gap was injected */
    int64_t stall_until_ns;
    uint64_t stall_timer;
    struct stalled_msg {
        emu_peer_t *peer;
        char *data;
        size_t len;
    } * stq;
    int n_stq, cap_stq;
    /* capture of a request's core events (synchronous rejections are REST errors only) */
    struct {
        bool on;
        char cloid[KS_CLOID_LEN];
        bool seen;
        int status, reject;
        char reason[KS_REASON_LEN];
        bool was_final;
        char **msgs;
        int n, cap;
        sbuf_t cancelled; /* cancel-all: {"orderId","orderLinkId"} items */
        int n_cancelled;
    } cap;
    bool wallet_dirty;
    struct {
        int64_t sec;
        int count;
    } rl[8];
    uint64_t next_id, next_seq;
    ks_dec_t maker_fee[2], taker_fee[2]; /* by CAT_*: fee-rate answers and fill charges */
    ks_bybit_emu_stats_t st;
    sbuf_t msg, data;
};

static void logf_(ks_bybit_emu_t *e, const char *fmt, ...) KS_PRINTF(2, 3);
static void logf_(ks_bybit_emu_t *e, const char *fmt, ...)
{
    if (!e->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("[bybit-emu] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t now_ms(ks_bybit_emu_t *e)
{
    return ks_loop_wall_ns(e->loop) / MS;
}

static const char *cat_name(int cat)
{
    return cat == CAT_SPOT ? "spot" : "linear";
}

static emu_inst_t *inst_find(ks_bybit_emu_t *e, int cat, const char *sym)
{
    for (int i = 0; i < e->n_inst; i++)
        if (e->inst[i].cat == cat && strcmp(e->inst[i].sym, sym) == 0)
            return &e->inst[i];
    return NULL;
}

static emu_order_t *order_find(ks_bybit_emu_t *e, const char *cloid)
{
    for (size_t i = e->n_orders; i-- > 0;)
        if (strcmp(e->orders[i].cloid, cloid) == 0)
            return &e->orders[i];
    return NULL;
}

static emu_order_t *order_by_id(ks_bybit_emu_t *e, const char *id)
{
    for (size_t i = e->n_orders; i-- > 0;)
        if (strcmp(e->orders[i].order_id, id) == 0)
            return &e->orders[i];
    return NULL;
}

static bool open_status(int s)
{
    return s == KS_OS_ACKED || s == KS_OS_PARTIAL || s == KS_OS_SENT || s == KS_OS_NEW;
}

static const char *status_word(const ks_bybit_emu_t *e, const emu_order_t *o)
{
    switch ((ks_order_status_t)o->status) {
    case KS_OS_NEW:
    case KS_OS_SENT:
    case KS_OS_ACKED:
    case KS_OS_UNKNOWN:
        return "New";
    case KS_OS_PARTIAL:
        return "PartiallyFilled";
    case KS_OS_FILLED:
        return "Filled";
    case KS_OS_CANCELED:
    case KS_OS_EXPIRED:
        return e->inst[o->inst].cat == CAT_SPOT && !ks_dec_is_zero(o->filled)
                   ? "PartiallyFilledCanceled"
                   : "Cancelled";
    case KS_OS_REJECTED:
        /* Bybit cancels (not rejects) a post-only that would take and an IOC with
         * nothing to fill. */
        return o->reject == KS_REJ_POST_ONLY || o->reject == KS_REJ_NO_LIQUIDITY ? "Cancelled"
                                                                                 : "Rejected";
    }
    return "New";
}

static const char *reject_word(const emu_order_t *o)
{
    if (o->status != KS_OS_REJECTED)
        return "EC_NoError";
    switch (o->reject) {
    case KS_REJ_POST_ONLY:
        return "EC_PostOnlyWillTakeLiquidity";
    case KS_REJ_NO_LIQUIDITY:
        return "EC_NoImmediateQtyToFill";
    case KS_REJ_REDUCE_ONLY:
        return "EC_ReduceOnlyRejected";
    case KS_REJ_INSUFFICIENT_FUNDS:
        return "EC_InsufficientBalance";
    default:
        return "EC_Others";
    }
}

/* ---- sending --------------------------------------------------------------------------- */

static bool stalled(ks_bybit_emu_t *e)
{
    return e->stall_until_ns && ks_loop_now_ns(e->loop) < e->stall_until_ns;
}

static bool peer_has(const emu_peer_t *p, const char *topic)
{
    for (int i = 0; i < p->n_topics; i++)
        if (strcmp(p->topics[i], topic) == 0)
            return true;
    return false;
}

static void peer_send(ks_bybit_emu_t *e, emu_peer_t *p, const char *msg, size_t len, bool dup)
{
    if (stalled(e))
        return;
    for (int k = 0; k < (dup ? 2 : 1); k++)
        if (ks_ws_peer_send(p->peer, msg, len) == KS_OK)
            e->st.ws_messages_out++;
}

/* Sends msg to every peer of `kind` subscribed to `topic` (NULL: to every peer). */
static void broadcast(ks_bybit_emu_t *e, int kind, const char *topic, const char *alt_topic,
                      const char *msg, size_t len)
{
    bool dup = kind >= 0 && kind < 3 && e->f_dup[kind] > 0;
    bool any = false;
    for (emu_peer_t *p = e->peers; p; p = p->next) {
        if (p->kind != kind || (kind == PEER_PRIVATE && !p->authed))
            continue;
        if (topic && !peer_has(p, topic) && !(alt_topic && peer_has(p, alt_topic)))
            continue;
        peer_send(e, p, msg, len, dup);
        any = true;
    }
    if (dup && any)
        e->f_dup[kind]--;
}

/* A private stream message: sent now, or held while a request's events are captured. */
static void send_private(ks_bybit_emu_t *e, const char *topic, int cat, const char *data)
{
    char alt[48];
    sbuf_t *m = &e->msg;
    sb_reset(m);
    sb_printf(m, "{\"id\":\"%llu\",\"topic\":\"%s\",\"creationTime\":%lld,\"data\":[%s]}",
              (unsigned long long)++e->next_id, topic, (long long)now_ms(e), data);
    if (e->cap.on) {
        if (e->cap.n == e->cap.cap) {
            e->cap.cap = e->cap.cap ? e->cap.cap * 2 : 8;
            e->cap.msgs = realloc(e->cap.msgs, (size_t)e->cap.cap * sizeof(char *));
            if (!e->cap.msgs)
                abort();
        }
        /* topic and category ride along in front of the text: "topic\x1fcat\x1fmsg" */
        size_t need = strlen(topic) + m->n + 8;
        char *c = malloc(need);
        if (!c)
            abort();
        snprintf(c, need, "%s\x1f%d\x1f%s", topic, cat, m->p);
        e->cap.msgs[e->cap.n++] = c;
        return;
    }
    snprintf(alt, sizeof(alt), "%s.%s", topic, cat_name(cat));
    broadcast(e, PEER_PRIVATE, topic, cat >= 0 ? alt : NULL, m->p, m->n);
}

static void capture_start(ks_bybit_emu_t *e, const char *cloid)
{
    e->cap.on = true;
    ks_strlcpy(e->cap.cloid, cloid ? cloid : "", sizeof(e->cap.cloid));
    e->cap.seen = false;
    e->cap.status = -1;
    e->cap.reject = 0;
    e->cap.reason[0] = '\0';
    e->cap.n = 0;
    sb_reset(&e->cap.cancelled);
    e->cap.n_cancelled = 0;
}

/* Ends a capture: sends the held messages (flush) or forgets them. */
static void capture_end(ks_bybit_emu_t *e, bool flush)
{
    e->cap.on = false;
    for (int i = 0; i < e->cap.n; i++) {
        char *c = e->cap.msgs[i];
        if (flush) {
            char *t1 = strchr(c, '\x1f');
            char *t2 = t1 ? strchr(t1 + 1, '\x1f') : NULL;
            if (t1 && t2) {
                *t1 = '\0';
                int cat = atoi(t1 + 1);
                char alt[48];
                snprintf(alt, sizeof(alt), "%s.%s", c, cat_name(cat));
                broadcast(e, PEER_PRIVATE, c, cat >= 0 ? alt : NULL, t2 + 1, strlen(t2 + 1));
            }
        }
        free(c);
    }
    e->cap.n = 0;
}

/* ---- private messages from the core's events -------------------------------------------- */

static void order_json(ks_bybit_emu_t *e, sbuf_t *b, const emu_order_t *o)
{
    const emu_inst_t *in = &e->inst[o->inst];
    ks_dec_t leaves = KS_DEC_ZERO, value = KS_DEC_ZERO;
    if (open_status(o->status))
        ks_dec_sub(o->qty, o->filled, &leaves);
    ks_dec_mul(o->avg, o->filled, &value);
    sb_printf(b, "{\"category\":\"%s\",\"symbol\":\"%s\",\"orderId\":\"%s\",\"orderLinkId\":",
              cat_name(in->cat), in->sym, o->order_id);
    sb_str(b, o->cloid);
    sb_printf(b, ",\"side\":\"%s\",\"orderType\":\"%s\",\"price\":",
              o->side == KS_SIDE_BUY ? "Buy" : "Sell",
              o->type == KS_ORD_MARKET ? "Market" : "Limit");
    sb_dec(b, o->price);
    sb_printf(b, ",\"qty\":");
    sb_dec(b, o->qty);
    sb_printf(b,
              ",\"timeInForce\":\"%s\",\"orderStatus\":\"%s\",\"cancelType\":\"UNKNOWN\","
              "\"rejectReason\":\"%s\",\"avgPrice\":",
              o->type == KS_ORD_MARKET     ? "IOC"
              : o->tif == KS_TIF_IOC       ? "IOC"
              : o->tif == KS_TIF_FOK       ? "FOK"
              : o->tif == KS_TIF_POST_ONLY ? "PostOnly"
                                           : "GTC",
              status_word(e, o), reject_word(o));
    if (ks_dec_is_zero(o->avg))
        sb_printf(b, "\"\"");
    else
        sb_dec(b, o->avg);
    sb_printf(b, ",\"leavesQty\":");
    sb_dec(b, leaves);
    sb_printf(b, ",\"cumExecQty\":");
    sb_dec(b, o->filled);
    sb_printf(b, ",\"cumExecValue\":");
    sb_dec(b, value);
    sb_printf(b, ",\"cumExecFee\":");
    sb_dec(b, o->fee);
    sb_printf(b, ",\"cumFeeDetail\":{\"USDT\":");
    sb_dec(b, o->fee);
    sb_printf(b,
              "},\"reduceOnly\":%s,\"positionIdx\":0,\"createdTime\":\"%lld\","
              "\"updatedTime\":\"%lld\"}",
              o->reduce_only ? "true" : "false", (long long)o->created_ms,
              (long long)o->updated_ms);
}

static emu_order_t *order_add(ks_bybit_emu_t *e, const char *cloid, int inst)
{
    if (e->n_orders == e->cap_orders) {
        e->cap_orders = e->cap_orders ? e->cap_orders * 2 : 256;
        e->orders = realloc(e->orders, e->cap_orders * sizeof(*e->orders));
        if (!e->orders)
            abort();
    }
    emu_order_t *o = &e->orders[e->n_orders++];
    memset(o, 0, sizeof(*o));
    ks_strlcpy(o->cloid, cloid, sizeof(o->cloid));
    uint64_t id = ++e->next_id;
    if (e->inst[inst].cat == CAT_SPOT)
        snprintf(o->order_id, sizeof(o->order_id), "19%017llu", (unsigned long long)id);
    else
        snprintf(o->order_id, sizeof(o->order_id), "%08llx-e1e1-4c0d-9b5a-%012llx",
                 (unsigned long long)(id * 2654435761u & 0xffffffffu), (unsigned long long)id);
    o->inst = inst;
    o->created_ms = now_ms(e);
    e->st.orders++;
    return o;
}

static void sink_order(void *ud, const ks_order_update_t *ev)
{
    ks_bybit_emu_t *e = ud;
    bool captured = e->cap.on && strcmp(ev->cloid, e->cap.cloid) == 0;
    if (captured && !e->cap.seen) {
        e->cap.seen = true;
        e->cap.status = ev->status;
        e->cap.reject = ev->reject;
        ks_strlcpy(e->cap.reason, ev->reason, sizeof(e->cap.reason));
    }
    if (ev->reject == KS_REJ_DUPLICATE_CLOID || ev->reject == KS_REJ_UNKNOWN_ORDER)
        return; /* about a request, not a change of the order */
    emu_order_t *o = order_find(e, ev->cloid);
    if (o && ev->status == o->status && ev->reject && ks_dec_cmp(ev->filled, o->filled) == 0)
        return; /* a refused amend: nothing changed */
    if (!o) {
        if (ev->hdr.inst < 0 || ev->hdr.inst >= e->n_inst)
            return;
        o = order_add(e, ev->cloid, ev->hdr.inst);
    }
    if (ks_order_status_is_final(o->status) && ev->status == o->status)
        return; /* a re-emitted final state (cancel of a finished order) */
    if (e->cap.on && !captured && e->cap.n_cancelled >= 0 && ev->status == KS_OS_CANCELED) {
        sbuf_t *c = &e->cap.cancelled;
        sb_printf(c, "%s{\"orderId\":\"%s\",\"orderLinkId\":", e->cap.n_cancelled ? "," : "",
                  o->order_id);
        sb_str(c, o->cloid);
        sb_printf(c, "}");
        e->cap.n_cancelled++;
    }
    o->side = ev->side;
    o->type = ev->type;
    o->tif = ev->tif;
    o->reduce_only = ev->reduce_only;
    if (ev->price.mant || ev->type == KS_ORD_LIMIT)
        o->price = ev->price;
    o->qty = ev->qty;
    o->filled = ev->filled;
    o->avg = ev->avg_price;
    o->fee = ev->fee;
    o->status = ev->status;
    o->reject = ev->reject;
    ks_strlcpy(o->reason, ev->reason, sizeof(o->reason));
    o->updated_ms = now_ms(e);
    sbuf_t *d = &e->data;
    sb_reset(d);
    order_json(e, d, o);
    send_private(e, "order", e->inst[o->inst].cat, d->p);
}

static void fill_json(ks_bybit_emu_t *e, sbuf_t *b, const emu_fill_t *f, const char *exec_type)
{
    const emu_inst_t *in = &e->inst[f->inst];
    sb_printf(b,
              "{\"category\":\"%s\",\"symbol\":\"%s\",\"execId\":\"%s\",\"orderId\":\"%s\","
              "\"orderLinkId\":",
              cat_name(in->cat), in->sym, f->exec_id, f->order_id);
    sb_str(b, f->cloid);
    sb_printf(b, ",\"side\":\"%s\",\"execPrice\":", f->side == KS_SIDE_BUY ? "Buy" : "Sell");
    sb_dec(b, f->px);
    sb_printf(b, ",\"execQty\":");
    sb_dec(b, f->qty);
    sb_printf(b, ",\"execFee\":");
    sb_dec(b, f->fee);
    sb_printf(b,
              ",\"feeCurrency\":\"USDT\",\"isMaker\":%s,\"execType\":\"%s\",\"execTime\":"
              "\"%lld\",\"seq\":%llu}",
              f->maker ? "true" : "false", exec_type, (long long)f->ts_ms,
              (unsigned long long)f->seq);
}

static void sink_fill(void *ud, const ks_fill_t *ev)
{
    ks_bybit_emu_t *e = ud;
    if (ev->hdr.inst < 0 || ev->hdr.inst >= e->n_inst)
        return;
    if (e->n_fills == e->cap_fills) {
        e->cap_fills = e->cap_fills ? e->cap_fills * 2 : 256;
        e->fills = realloc(e->fills, e->cap_fills * sizeof(*e->fills));
        if (!e->fills)
            abort();
    }
    emu_fill_t *f = &e->fills[e->n_fills++];
    memset(f, 0, sizeof(*f));
    emu_order_t *o = order_find(e, ev->cloid);
    snprintf(f->exec_id, sizeof(f->exec_id), "e%.32s-%llu", ev->trade_id,
             (unsigned long long)e->n_fills);
    ks_strlcpy(f->cloid, ev->cloid, sizeof(f->cloid));
    ks_strlcpy(f->order_id, o ? o->order_id : ev->venue_id, sizeof(f->order_id));
    f->inst = ev->hdr.inst;
    f->side = ev->side;
    f->maker = ev->maker;
    f->px = ev->px;
    f->qty = ev->qty;
    f->fee = ev->fee;
    f->ts_ms = now_ms(e);
    f->seq = ++e->next_seq;
    e->st.fills++;
    if (!ev->cloid[0])
        return; /* a forced liquidation of this account: not an order's fill */
    sbuf_t *d = &e->data;
    sb_reset(d);
    fill_json(e, d, f, "Trade");
    send_private(e, "execution", e->inst[f->inst].cat, d->p);
}

static void sink_position(void *ud, const ks_position_t *ev)
{
    ks_bybit_emu_t *e = ud;
    if (ev->hdr.inst < 0 || ev->hdr.inst >= e->n_inst)
        return;
    const emu_inst_t *in = &e->inst[ev->hdr.inst];
    sbuf_t *d = &e->data;
    int s = ks_dec_sign(ev->qty);
    sb_reset(d);
    sb_printf(d,
              "{\"category\":\"linear\",\"symbol\":\"%s\",\"positionIdx\":0,\"side\":\"%s\","
              "\"size\":",
              in->sym,
              s > 0   ? "Buy"
              : s < 0 ? "Sell"
                      : "");
    sb_dec(d, ks_dec_abs(ev->qty));
    sb_printf(d, ",\"entryPrice\":");
    sb_dec(d, ev->entry_px);
    sb_printf(d, ",\"markPrice\":");
    sb_dec(d, ev->mark_px);
    sb_printf(d, ",\"liqPrice\":");
    if (ks_dec_is_zero(ev->liq_px))
        sb_printf(d, "\"\"");
    else
        sb_dec(d, ev->liq_px);
    sb_printf(d, ",\"leverage\":\"%d\",\"positionIM\":", ev->leverage);
    sb_dec(d, ev->margin);
    sb_printf(d, ",\"unrealisedPnl\":");
    sb_dec(d, ev->upnl);
    sb_printf(d, ",\"positionStatus\":\"Normal\",\"updatedTime\":\"%lld\"}", (long long)now_ms(e));
    send_private(e, "position", CAT_LINEAR, d->p);
}

/* The unified wallet = the core's spot wallet + its futures (USDT) wallet. */
static void wallet_json(ks_bybit_emu_t *e, sbuf_t *b)
{
    ks_balance_t sp, fu;
    ks_dec_t usdt_total = KS_DEC_ZERO, usdt_eq = KS_DEC_ZERO, total_eq = KS_DEC_ZERO;
    memset(&fu, 0, sizeof(fu));
    ks_sim_core_get_balance(e->core, KS_WALLET_FUTURES, "USDT", &fu);
    sb_printf(b, "{\"accountType\":\"UNIFIED\",\"coin\":[");
    /* USDT first */
    memset(&sp, 0, sizeof(sp));
    ks_sim_core_get_balance(e->core, KS_WALLET_SPOT, "USDT", &sp);
    ks_dec_t locked, im = KS_DEC_ZERO;
    ks_dec_add(sp.total, fu.total, &usdt_total);
    ks_dec_add(sp.total, fu.equity, &usdt_eq);
    ks_dec_sub(sp.total, sp.available, &locked);
    ks_dec_sub(fu.total, fu.available, &im);
    total_eq = usdt_eq;
    sb_printf(b, "{\"coin\":\"USDT\",\"walletBalance\":");
    sb_dec(b, usdt_total);
    sb_printf(b, ",\"equity\":");
    sb_dec(b, usdt_eq);
    sb_printf(b, ",\"availableToWithdraw\":\"\",\"totalPositionIM\":");
    sb_dec(b, im);
    sb_printf(b, ",\"totalOrderIM\":\"0\",\"locked\":");
    sb_dec(b, locked);
    sb_printf(b, ",\"totalPositionMM\":");
    sb_dec(b, fu.maint_margin);
    sb_printf(b, "}");
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        if (in->cat != CAT_SPOT)
            continue;
        memset(&sp, 0, sizeof(sp));
        if (ks_sim_core_get_balance(e->core, KS_WALLET_SPOT, in->base, &sp) != KS_OK)
            continue;
        ks_dec_sub(sp.total, sp.available, &locked);
        sb_printf(b, ",{\"coin\":\"%s\",\"walletBalance\":", in->base);
        sb_dec(b, sp.total);
        sb_printf(b, ",\"equity\":");
        sb_dec(b, sp.total);
        sb_printf(b, ",\"availableToWithdraw\":\"\",\"totalPositionIM\":\"0\",\"totalOrderIM\":"
                     "\"0\",\"locked\":");
        sb_dec(b, locked);
        sb_printf(b, ",\"totalPositionMM\":\"0\"}");
        ks_dec_t v;
        if (ks_dec_mul_round(sp.total, ks_sim_core_last_price(e->core, in->core), 8,
                             KS_ROUND_HALF_EVEN, &v) == KS_OK)
            ks_dec_add(total_eq, v, &total_eq);
    }
    sb_printf(b, "],\"totalEquity\":");
    sb_dec(b, total_eq);
    sb_printf(b, ",\"totalWalletBalance\":");
    sb_dec(b, usdt_total);
    sb_printf(b, ",\"totalAvailableBalance\":");
    ks_dec_t avail;
    ks_dec_add(sp.available, fu.available, &avail);
    sb_dec(b, avail);
    sb_printf(b, ",\"totalInitialMargin\":");
    sb_dec(b, im);
    sb_printf(b, ",\"totalMaintenanceMargin\":");
    sb_dec(b, fu.maint_margin);
    sb_printf(b, "}");
}

static void sink_balance(void *ud, const ks_balance_t *ev)
{
    ((ks_bybit_emu_t *)ud)->wallet_dirty = true;
}

static void sink_funding(void *ud, const ks_funding_t *ev)
{
    ks_bybit_emu_t *e = ud;
    if (ev->hdr.inst < 0 || ev->hdr.inst >= e->n_inst)
        return;
    emu_fill_t f;
    memset(&f, 0, sizeof(f));
    snprintf(f.exec_id, sizeof(f.exec_id), "fund-%llu", (unsigned long long)++e->next_id);
    f.inst = ev->hdr.inst;
    f.side = ks_dec_sign(ev->position_qty) >= 0 ? KS_SIDE_BUY : KS_SIDE_SELL;
    f.px = ev->mark_px;
    f.qty = ks_dec_abs(ev->position_qty);
    f.fee = ks_dec_neg(ev->amount);
    f.ts_ms = ev->hdr.venue_ts / MS;
    sbuf_t *d = &e->data;
    sb_reset(d);
    fill_json(e, d, &f, "Funding");
    send_private(e, "execution", CAT_LINEAR, d->p);
}

static void sink_trade(void *ud, const ks_trade_t *ev)
{
    ks_bybit_emu_t *e = ud;
    if (ev->hdr.inst < 0 || ev->hdr.inst >= e->n_inst)
        return;
    emu_inst_t *in = &e->inst[ev->hdr.inst];
    if (in->n_trades < MAX_TRADES)
        in->trades[in->n_trades++] = *ev;
}

/* After any core call: the wallet once, and trades. */
static void publish_trades(ks_bybit_emu_t *e);

static void after_core(ks_bybit_emu_t *e)
{
    if (e->wallet_dirty) {
        e->wallet_dirty = false;
        sbuf_t *d = &e->data;
        sb_reset(d);
        wallet_json(e, d);
        send_private(e, "wallet", -1, d->p);
    }
    if (!e->cap.on)
        publish_trades(e);
}

/* ---- market data ------------------------------------------------------------------------- */

static void publish_trades(ks_bybit_emu_t *e)
{
    char topic[64];
    sbuf_t *m = &e->msg;
    for (int i = 0; i < e->n_inst; i++) {
        emu_inst_t *in = &e->inst[i];
        if (!in->n_trades)
            continue;
        snprintf(topic, sizeof(topic), "publicTrade.%s", in->sym);
        sb_reset(m);
        sb_printf(m, "{\"topic\":\"%s\",\"type\":\"snapshot\",\"ts\":%lld,\"data\":[", topic,
                  (long long)now_ms(e));
        for (int k = 0; k < in->n_trades; k++) {
            const ks_trade_t *t = &in->trades[k];
            sb_printf(m, "%s{\"T\":%lld,\"s\":\"%s\",\"S\":\"%s\",\"v\":", k ? "," : "",
                      (long long)now_ms(e), in->sym, t->side == KS_SIDE_BUY ? "Buy" : "Sell");
            sb_dec(m, t->qty);
            sb_printf(m, ",\"p\":");
            sb_dec(m, t->px);
            sb_printf(m, ",\"L\":\"ZeroPlusTick\",\"i\":\"%s-%s\",\"BT\":false}", in->sym,
                      t->trade_id);
        }
        sb_printf(m, "]}");
        in->n_trades = 0;
        broadcast(e, in->cat, topic, NULL, m->p, m->n);
    }
}

static void book_levels(ks_bybit_emu_t *e, const emu_book_t *bk, ks_level_t *bids, uint32_t *nb,
                        ks_level_t *asks, uint32_t *na)
{
    const ks_level_t *b, *a;
    uint32_t n_b = 0, n_a = 0;
    ks_sim_core_book(e->core, e->inst[bk->inst].core, &b, &n_b, &a, &n_a);
    *nb = n_b < (uint32_t)bk->depth ? n_b : (uint32_t)bk->depth;
    *na = n_a < (uint32_t)bk->depth ? n_a : (uint32_t)bk->depth;
    if (*nb > BOOK_MAX)
        *nb = BOOK_MAX;
    if (*na > BOOK_MAX)
        *na = BOOK_MAX;
    memcpy(bids, b, *nb * sizeof(ks_level_t));
    memcpy(asks, a, *na * sizeof(ks_level_t));
}

static void levels_json(sbuf_t *m, const ks_level_t *lv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        sb_printf(m, "%s[", i ? "," : "");
        sb_dec(m, lv[i].px);
        sb_printf(m, ",");
        sb_dec(m, lv[i].qty);
        sb_printf(m, "]");
    }
}

static void book_msg(ks_bybit_emu_t *e, const emu_book_t *bk, bool snapshot, const ks_level_t *b,
                     uint32_t nb, const ks_level_t *a, uint32_t na)
{
    sbuf_t *m = &e->msg;
    int64_t t = now_ms(e);
    sb_reset(m);
    sb_printf(m, "{\"topic\":\"%s\",\"type\":\"%s\",\"ts\":%lld,\"data\":{\"s\":\"%s\",\"b\":[",
              bk->topic, snapshot ? "snapshot" : "delta", (long long)t, e->inst[bk->inst].sym);
    levels_json(m, b, nb);
    sb_printf(m, "],\"a\":[");
    levels_json(m, a, na);
    sb_printf(m, "],\"u\":%llu,\"seq\":%llu},\"cts\":%lld}", (unsigned long long)bk->u,
              (unsigned long long)bk->seq, (long long)t);
}

/* Levels of `cur` that differ from `prev` (qty "0" for removed ones), both best first. */
static uint32_t diff_side(const ks_level_t *prev, uint32_t np, const ks_level_t *cur, uint32_t nc,
                          bool bid, ks_level_t *out)
{
    uint32_t i = 0, j = 0, n = 0;
    while (i < np || j < nc) {
        int c;
        if (i == np)
            c = 1;
        else if (j == nc)
            c = -1;
        else {
            c = ks_dec_cmp(prev[i].px, cur[j].px);
            if (bid)
                c = -c; /* descending */
        }
        if (c < 0) { /* only in prev: removed */
            out[n].px = prev[i++].px;
            out[n++].qty = KS_DEC_ZERO;
        } else if (c > 0) { /* only in cur: added */
            out[n++] = cur[j++];
        } else {
            if (ks_dec_cmp(prev[i].qty, cur[j].qty) != 0)
                out[n++] = cur[j];
            i++;
            j++;
        }
    }
    return n;
}

static void publish_books(ks_bybit_emu_t *e)
{
    ks_level_t b[BOOK_MAX], a[BOOK_MAX], db[2 * BOOK_MAX], da[2 * BOOK_MAX];
    uint32_t nb, na;
    bool gap = e->f_gap;
    e->f_gap = false;
    for (int i = 0; i < e->n_books; i++) {
        emu_book_t *bk = &e->books[i];
        book_levels(e, bk, b, &nb, a, &na);
        uint32_t ndb = diff_side(bk->bids, bk->nb, b, nb, true, db);
        uint32_t nda = diff_side(bk->asks, bk->na, a, na, false, da);
        if (!ndb && !nda)
            continue;
        bk->u++;
        bk->seq += 1 + (uint64_t)(ndb + nda);
        memcpy(bk->bids, b, nb * sizeof(ks_level_t));
        memcpy(bk->asks, a, na * sizeof(ks_level_t));
        bk->nb = nb;
        bk->na = na;
        if (gap && bk->depth > 1) {
            /* This update is "lost": the next one carries u + 2. */
            e->st.gaps_injected++;
            e->gap_happened = true;
            e->gap_ns = ks_loop_now_ns(e->loop);
            continue;
        }
        if (bk->depth == 1)
            book_msg(e, bk, true, b, nb, a, na);
        else
            book_msg(e, bk, false, db, ndb, da, nda);
        broadcast(e, e->inst[bk->inst].cat, bk->topic, NULL, e->msg.p, e->msg.n);
    }
}

/* Ticker fields, in a fixed order: names and values. */
static const char *const tk_names[N_TK] = {"lastPrice",    "markPrice",       "indexPrice",
                                           "fundingRate",  "nextFundingTime", "fundingIntervalHour",
                                           "openInterest", "turnover24h",     "bid1Price",
                                           "bid1Size",     "ask1Price",       "ask1Size"};

static void ticker_values(ks_bybit_emu_t *e, const emu_inst_t *in, ks_dec_t *v, bool *have)
{
    const ks_sim_market_out_t *mo = ks_sim_market_out(e->mkt, in->mkt);
    const ks_level_t *b, *a;
    uint32_t nb = 0, na = 0;
    ks_sim_core_book(e->core, in->core, &b, &nb, &a, &na);
    memset(have, 0, N_TK * sizeof(bool));
    v[0] = ks_sim_core_last_price(e->core, in->core);
    have[0] = v[0].mant != 0;
    if (in->cat == CAT_LINEAR) {
        v[1] = ks_sim_core_mark(e->core, in->core);
        v[2] = mo->index;
        v[3] = mo->funding_rate;
        v[4] = ks_dec_from_int(ks_sim_core_next_funding(e->core, in->core) / MS);
        v[5] = ks_dec_from_int(ks_sim_core_spec(e->core, in->core)->funding_interval_h);
        v[6] = mo->open_interest;
        v[7] = mo->perp_volume_24h;
        for (int k = 1; k <= 7; k++)
            have[k] = true;
        have[4] = v[4].mant > 0;
    } else {
        v[7] = mo->spot_volume_24h;
        have[7] = true;
    }
    if (nb) {
        v[8] = b[0].px;
        v[9] = b[0].qty;
        have[8] = have[9] = true;
    }
    if (na) {
        v[10] = a[0].px;
        v[11] = a[0].qty;
        have[10] = have[11] = true;
    }
}

static void ticker_msg(ks_bybit_emu_t *e, const emu_inst_t *in, bool snapshot, const ks_dec_t *v,
                       const bool *have, const bool *send)
{
    sbuf_t *m = &e->msg;
    sb_reset(m);
    sb_printf(m, "{\"topic\":\"tickers.%s\",\"type\":\"%s\",\"data\":{\"symbol\":\"%s\"", in->sym,
              snapshot ? "snapshot" : "delta", in->sym);
    for (int k = 0; k < N_TK; k++) {
        if (!have[k] || !send[k])
            continue;
        sb_printf(m, ",\"%s\":", tk_names[k]);
        sb_dec(m, v[k]);
    }
    sb_printf(m, "},\"cs\":%llu,\"ts\":%lld}", (unsigned long long)++e->next_seq,
              (long long)now_ms(e));
}

static void publish_tickers(ks_bybit_emu_t *e)
{
    ks_dec_t v[N_TK];
    bool have[N_TK], send[N_TK];
    char topic[64];
    for (int i = 0; i < e->n_inst; i++) {
        emu_inst_t *in = &e->inst[i];
        snprintf(topic, sizeof(topic), "tickers.%s", in->sym);
        bool subscribed = false;
        for (emu_peer_t *p = e->peers; p && !subscribed; p = p->next)
            subscribed = p->kind == in->cat && peer_has(p, topic);
        if (!subscribed)
            continue;
        ticker_values(e, in, v, have);
        bool any = false;
        for (int k = 0; k < N_TK; k++) {
            send[k] = !in->tk_have || ks_dec_cmp(v[k], in->tk[k]) != 0;
            any |= send[k] && have[k];
            in->tk[k] = v[k];
        }
        in->tk_have = true;
        if (!any)
            continue;
        if (in->cat == CAT_SPOT) /* spot tickers are snapshots */
            for (int k = 0; k < N_TK; k++)
                send[k] = true;
        ticker_msg(e, in, in->cat == CAT_SPOT, v, have, send);
        broadcast(e, in->cat, topic, NULL, e->msg.p, e->msg.n);
    }
}

static void publish_liquidations(ks_bybit_emu_t *e)
{
    char topic[64];
    sbuf_t *m = &e->msg;
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        if (in->cat != CAT_LINEAR)
            continue;
        const ks_sim_market_out_t *mo = ks_sim_market_out(e->mkt, in->mkt);
        if (!mo->n_liqs)
            continue;
        snprintf(topic, sizeof(topic), "allLiquidation.%s", in->sym);
        sb_reset(m);
        sb_printf(m, "{\"topic\":\"%s\",\"type\":\"snapshot\",\"ts\":%lld,\"data\":[", topic,
                  (long long)now_ms(e));
        for (uint32_t k = 0; k < mo->n_liqs; k++) {
            /* S is the liquidated position's side: a forced SELL closes a long ("Buy"). */
            sb_printf(m, "%s{\"T\":%lld,\"s\":\"%s\",\"S\":\"%s\",\"v\":", k ? "," : "",
                      (long long)now_ms(e), in->sym,
                      mo->liqs[k].side == KS_SIDE_SELL ? "Buy" : "Sell");
            sb_dec(m, mo->liqs[k].qty);
            sb_printf(m, ",\"p\":");
            sb_dec(m, mo->liqs[k].px);
            sb_printf(m, "}");
        }
        sb_printf(m, "]}");
        broadcast(e, PEER_LINEAR, topic, NULL, m->p, m->n);
    }
}

static void load_inputs(ks_bybit_emu_t *e, bool flows)
{
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        const ks_sim_market_out_t *mo = ks_sim_market_out(e->mkt, in->mkt);
        ks_sim_input_t *x = &e->inputs[in->core];
        const ks_sim_market_trade_t *t;
        uint32_t n;
        memset(x, 0, sizeof(*x));
        if (in->cat == CAT_LINEAR) {
            x->mid = mo->perp_mid;
            x->mark = mo->mark;
            x->funding_rate = mo->settled ? mo->settle_rate : mo->funding_rate;
            t = mo->perp_trades;
            n = mo->n_perp_trades;
        } else {
            x->mid = mo->spot_mid;
            t = mo->spot_trades;
            n = mo->n_spot_trades;
        }
        x->n_flows = flows ? n : 0;
        for (uint32_t k = 0; k < x->n_flows; k++) {
            x->flows[k].side = t[k].side;
            x->flows[k].qty = t[k].qty;
        }
    }
}

static void on_step(ks_loop_t *loop, void *ud)
{
    ks_bybit_emu_t *e = ud;
    int64_t ts = ks_loop_wall_ns(loop);
    ks_sim_market_step(e->mkt, ts);
    load_inputs(e, true);
    ks_sim_core_step(e->core, ts, e->inputs);
    after_core(e);
    publish_books(e);
    publish_tickers(e);
    publish_liquidations(e);
}

/* ---- REST ------------------------------------------------------------------------------- */

typedef struct reply {
    int http;
    int64_t code;
    char msg[512];
    sbuf_t result; /* JSON object text, "{}" when empty */
    bool limit_headers;
    int limit, remaining;
    int64_t reset_ms;
} reply_t;

static void rep_err(reply_t *r, int64_t code, const char *fmt, ...) KS_PRINTF(3, 4);
static void rep_err(reply_t *r, int64_t code, const char *fmt, ...)
{
    va_list ap;
    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
}

static const char *hdr(const ks_http_server_request_t *req, const char *name)
{
    for (uint32_t i = 0; i < req->n_headers; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static void hmac_hex(const char *secret, const char *msg, size_t len, char out[65])
{
    unsigned char mac[32];
    unsigned int n = 32;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, len, mac, &n);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* Bybit's checks, in its order: key (10003), timestamp window (10002), signature (10004). */
static bool check_auth(ks_bybit_emu_t *e, const ks_http_server_request_t *req, reply_t *r)
{
    const char *key = hdr(req, "x-bapi-api-key");
    const char *ts = hdr(req, "x-bapi-timestamp");
    const char *sign = hdr(req, "x-bapi-sign");
    const char *rw = hdr(req, "x-bapi-recv-window");
    if (!key || strcmp(key, e->key) != 0) {
        e->st.key_errors++;
        rep_err(r, 10003, "API key is invalid.");
        return false;
    }
    int64_t server = now_ms(e);
    long long t = ts ? strtoll(ts, NULL, 10) : 0;
    long long w = rw ? strtoll(rw, NULL, 10) : 5000;
    if (!ts || !(server - w <= t && t < server + 1000)) {
        e->st.ts_errors++;
        rep_err(r, 10002,
                "invalid request, please check your server timestamp or recv_window param. "
                "req_timestamp[%lld],server_timestamp[%lld],recv_window[%lld]",
                t, (long long)server, w);
        return false;
    }
    const char *payload = strcmp(req->method, "GET") == 0 ? req->query : req->body;
    size_t plen = strcmp(req->method, "GET") == 0 ? strlen(req->query) : req->body_len;
    size_t n = strlen(ts) + strlen(key) + (rw ? strlen(rw) : 0) + plen + 1;
    char *s = malloc(n);
    if (!s)
        abort();
    snprintf(s, n, "%s%s%s", ts, key, rw ? rw : "");
    memcpy(s + strlen(s), payload, plen);
    s[n - 1] = '\0';
    char want[65];
    hmac_hex(e->secret, s, n - 1, want);
    free(s);
    if (!sign || strcmp(sign, want) != 0) {
        e->st.sig_errors++;
        rep_err(r, 10004, "error sign! please check your signature generation algorithm");
        return false;
    }
    return true;
}

/* Query-string value of `name` (raw, not decoded), copied into buf; false when absent. */
static bool qget(const char *q, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && p[nl] == '=' && memcmp(p, name, nl) == 0) {
            snprintf(buf, cap, "%.*s", (int)(len - nl - 1), p + nl + 1);
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    buf[0] = '\0';
    return false;
}

static int cat_of(const char *s)
{
    return strcmp(s, "linear") == 0 ? CAT_LINEAR : strcmp(s, "spot") == 0 ? CAT_SPOT : -1;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jdec(const cJSON *o, const char *k, ks_dec_t *out)
{
    const char *s = jstr(o, k);
    return s && *s && ks_dec_parse(s, (size_t)-1, out) == KS_OK;
}

/* Per-endpoint, per-second limits of venues/bybit.md §9. */
static bool rate_ok(ks_bybit_emu_t *e, int slot, int limit, reply_t *r)
{
    int64_t now = now_ms(e), sec = now / 1000;
    if (e->rl[slot].sec != sec) {
        e->rl[slot].sec = sec;
        e->rl[slot].count = 0;
    }
    e->rl[slot].count++;
    r->limit_headers = true;
    r->limit = limit;
    r->remaining = limit - e->rl[slot].count > 0 ? limit - e->rl[slot].count : 0;
    r->reset_ms = (sec + 1) * 1000;
    if (e->rl[slot].count > limit) {
        rep_err(r, 10006, "Too many visits!");
        return false;
    }
    return true;
}

static void h_create(ks_bybit_emu_t *e, const cJSON *b, reply_t *r)
{
    const char *cat_s = jstr(b, "category"), *sym = jstr(b, "symbol");
    int cat = cat_s ? cat_of(cat_s) : -1;
    emu_inst_t *in = cat >= 0 && sym ? inst_find(e, cat, sym) : NULL;
    if (!in) {
        rep_err(r, 10001, "params error: symbol invalid");
        return;
    }
    if (!rate_ok(e, cat == CAT_SPOT ? 1 : 0, cat == CAT_SPOT ? 20 : 10, r))
        return;
    const char *side = jstr(b, "side"), *type = jstr(b, "orderType"), *tif = jstr(b, "timeInForce");
    const char *link = jstr(b, "orderLinkId"), *unit = jstr(b, "marketUnit");
    ks_order_cmd_t cmd;
    KS_INIT(&cmd);
    cmd.inst = in->core;
    if (!side || (strcmp(side, "Buy") != 0 && strcmp(side, "Sell") != 0) || !type ||
        !jdec(b, "qty", &cmd.qty)) {
        rep_err(r, 10001, "params error: side, orderType and qty are required");
        return;
    }
    cmd.side = strcmp(side, "Buy") == 0 ? KS_SIDE_BUY : KS_SIDE_SELL;
    cmd.type = strcmp(type, "Market") == 0 ? KS_ORD_MARKET : KS_ORD_LIMIT;
    if (cmd.type == KS_ORD_LIMIT && !jdec(b, "price", &cmd.price)) {
        rep_err(r, 10001, "params error: price is required for a limit order");
        return;
    }
    if (cat == CAT_SPOT && cmd.type == KS_ORD_MARKET && (!unit || strcmp(unit, "baseCoin") != 0)) {
        rep_err(r, 10001, "emulator: spot market orders need marketUnit=baseCoin");
        return;
    }
    cmd.tif = !tif || strcmp(tif, "GTC") == 0 ? KS_TIF_GTC
              : strcmp(tif, "IOC") == 0       ? KS_TIF_IOC
              : strcmp(tif, "FOK") == 0       ? KS_TIF_FOK
              : strcmp(tif, "PostOnly") == 0  ? KS_TIF_POST_ONLY
                                              : KS_TIF_GTC;
    cmd.reduce_only = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "reduceOnly"));
    if (link && *link)
        ks_strlcpy(cmd.cloid, link, sizeof(cmd.cloid));
    else
        snprintf(cmd.cloid, sizeof(cmd.cloid), "emu-%llu", (unsigned long long)++e->next_id);
    capture_start(e, cmd.cloid);
    ks_sim_core_place(e->core, ks_loop_wall_ns(e->loop), &cmd);
    bool rejected = e->cap.seen && e->cap.status == KS_OS_REJECTED &&
                    e->cap.reject != KS_REJ_POST_ONLY && e->cap.reject != KS_REJ_NO_LIQUIDITY;
    capture_end(e, !rejected);
    after_core(e);
    if (rejected) {
        switch (e->cap.reject) {
        case KS_REJ_DUPLICATE_CLOID:
            e->st.duplicate_cloids++;
            rep_err(r, cat == CAT_SPOT ? 170141 : 110072,
                    cat == CAT_SPOT ? "Duplicate clientOrderId." : "OrderLinkedID is duplicate");
            return;
        case KS_REJ_REDUCE_ONLY:
            rep_err(r, 110017, "current position is zero, cannot fix reduce-only order qty");
            return;
        case KS_REJ_INSUFFICIENT_FUNDS:
            rep_err(r, cat == CAT_SPOT ? 170131 : 110007,
                    cat == CAT_SPOT ? "Insufficient balance." : "ab not enough for new order");
            return;
        default:
            rep_err(r, 10001, "params error: %s", e->cap.reason);
            return;
        }
    }
    emu_order_t *o = order_find(e, cmd.cloid);
    sb_printf(&r->result, "{\"orderId\":\"%s\",\"orderLinkId\":", o ? o->order_id : "");
    sb_str(&r->result, cmd.cloid);
    sb_printf(&r->result, "}");
}

static emu_order_t *order_of_body(ks_bybit_emu_t *e, const cJSON *b)
{
    const char *link = jstr(b, "orderLinkId"), *id = jstr(b, "orderId");
    if (id && *id)
        return order_by_id(e, id);
    if (link && *link)
        return order_find(e, link);
    return NULL;
}

static void h_cancel(ks_bybit_emu_t *e, const cJSON *b, reply_t *r)
{
    const char *cat_s = jstr(b, "category");
    int cat = cat_s ? cat_of(cat_s) : -1;
    if (!rate_ok(e, cat == CAT_SPOT ? 3 : 2, cat == CAT_SPOT ? 20 : 10, r))
        return;
    emu_order_t *o = order_of_body(e, b);
    if (!o || !open_status(o->status)) {
        rep_err(r, cat == CAT_SPOT ? 170213 : 110001, "Order does not exist.");
        return;
    }
    char cloid[KS_CLOID_LEN];
    ks_strlcpy(cloid, o->cloid, sizeof(cloid));
    capture_start(e, cloid);
    ks_sim_core_cancel(e->core, ks_loop_wall_ns(e->loop), e->inst[o->inst].core, cloid);
    capture_end(e, true);
    after_core(e);
    o = order_find(e, cloid);
    sb_printf(&r->result, "{\"orderId\":\"%s\",\"orderLinkId\":", o->order_id);
    sb_str(&r->result, o->cloid);
    sb_printf(&r->result, "}");
}

static void h_amend(ks_bybit_emu_t *e, const cJSON *b, reply_t *r)
{
    if (!rate_ok(e, 4, 10, r))
        return;
    emu_order_t *o = order_of_body(e, b);
    if (!o || !open_status(o->status)) {
        rep_err(r, 110001, "Order does not exist.");
        return;
    }
    ks_amend_cmd_t c;
    KS_INIT(&c);
    c.inst = e->inst[o->inst].core;
    ks_strlcpy(c.cloid, o->cloid, sizeof(c.cloid));
    jdec(b, "price", &c.price);
    jdec(b, "qty", &c.qty);
    capture_start(e, c.cloid);
    ks_sim_core_amend(e->core, ks_loop_wall_ns(e->loop), &c);
    bool refused = e->cap.seen && e->cap.reject;
    capture_end(e, !refused);
    after_core(e);
    if (refused) {
        rep_err(r, 10001, "params error: %s", e->cap.reason);
        return;
    }
    sb_printf(&r->result, "{\"orderId\":\"%s\",\"orderLinkId\":", o->order_id);
    sb_str(&r->result, o->cloid);
    sb_printf(&r->result, "}");
}

static void h_cancel_all(ks_bybit_emu_t *e, const cJSON *b, reply_t *r)
{
    const char *cat_s = jstr(b, "category"), *sym = jstr(b, "symbol");
    int cat = cat_s ? cat_of(cat_s) : -1;
    if (cat < 0) {
        rep_err(r, 10001, "params error: category");
        return;
    }
    if (!rate_ok(e, 5, cat == CAT_SPOT ? 20 : 10, r))
        return;
    capture_start(e, NULL);
    int64_t ts = ks_loop_wall_ns(e->loop);
    for (int i = 0; i < e->n_inst; i++)
        if (e->inst[i].cat == cat && (!sym || strcmp(sym, e->inst[i].sym) == 0))
            ks_sim_core_cancel_all(e->core, ts, e->inst[i].core);
    capture_end(e, true);
    after_core(e);
    sb_printf(&r->result, "{\"list\":[%s],\"success\":\"1\"}",
              e->cap.cancelled.p ? e->cap.cancelled.p : "");
}

static void h_leverage(ks_bybit_emu_t *e, const cJSON *b, reply_t *r)
{
    const char *sym = jstr(b, "symbol"), *lev = jstr(b, "buyLeverage");
    emu_inst_t *in = sym ? inst_find(e, CAT_LINEAR, sym) : NULL;
    if (!in || !lev) {
        rep_err(r, 10001, "params error");
        return;
    }
    ks_position_t p;
    memset(&p, 0, sizeof(p));
    ks_sim_core_get_position(e->core, in->core, &p);
    int want = atoi(lev);
    if (p.leverage == want) {
        rep_err(r, 110043, "Set leverage has not been modified.");
        return;
    }
    char why[KS_REASON_LEN];
    if (ks_sim_core_set_leverage(e->core, ks_loop_wall_ns(e->loop), in->core, want, why,
                                 sizeof(why)) != KS_OK)
        rep_err(r, 10001, "%s", why);
    after_core(e);
}

/* Orders matching a query: open (realtime) or closed (history). */
static void h_orders(ks_bybit_emu_t *e, const char *q, bool history, reply_t *r)
{
    char cat_s[16], sym[32], link[64], id[64], settle[16], cursor[16], limit_s[8];
    qget(q, "category", cat_s, sizeof(cat_s));
    int cat = cat_of(cat_s);
    if (cat < 0) {
        rep_err(r, 10001, "params error: category");
        return;
    }
    qget(q, "symbol", sym, sizeof(sym));
    qget(q, "orderLinkId", link, sizeof(link));
    qget(q, "orderId", id, sizeof(id));
    qget(q, "settleCoin", settle, sizeof(settle));
    if (cat == CAT_LINEAR && !history && !sym[0] && !link[0] && !id[0] && !settle[0]) {
        rep_err(r, 10001, "params error: symbol, settleCoin or baseCoin is required");
        return;
    }
    qget(q, "cursor", cursor, sizeof(cursor));
    qget(q, "limit", limit_s, sizeof(limit_s));
    size_t start = (size_t)atol(cursor), limit = limit_s[0] ? (size_t)atol(limit_s) : 20;
    if (!limit || limit > 50)
        limit = 50;
    size_t k = 0, emitted = 0;
    bool more = false;
    sb_printf(&r->result, "{\"category\":\"%s\",\"list\":[", cat_s);
    for (size_t i = e->n_orders; i-- > 0;) {
        const emu_order_t *o = &e->orders[i];
        const emu_inst_t *in = &e->inst[o->inst];
        if (in->cat != cat || (sym[0] && strcmp(sym, in->sym) != 0) ||
            (link[0] && strcmp(link, o->cloid) != 0) || (id[0] && strcmp(id, o->order_id) != 0))
            continue;
        if (history == open_status(o->status))
            continue;
        if (k++ < start)
            continue;
        if (emitted == limit) {
            more = true;
            break;
        }
        if (emitted++)
            sb_printf(&r->result, ",");
        order_json(e, &r->result, o);
    }
    if (more)
        sb_printf(&r->result, "],\"nextPageCursor\":\"%zu\"}", start + emitted);
    else
        sb_printf(&r->result, "],\"nextPageCursor\":\"\"}");
}

static void h_execs(ks_bybit_emu_t *e, const char *q, reply_t *r)
{
    char cat_s[16], sym[32], start_s[24], cursor[16], limit_s[8];
    qget(q, "category", cat_s, sizeof(cat_s));
    int cat = cat_of(cat_s);
    if (cat < 0) {
        rep_err(r, 10001, "params error: category");
        return;
    }
    qget(q, "symbol", sym, sizeof(sym));
    qget(q, "startTime", start_s, sizeof(start_s));
    qget(q, "cursor", cursor, sizeof(cursor));
    qget(q, "limit", limit_s, sizeof(limit_s));
    int64_t since = start_s[0] ? strtoll(start_s, NULL, 10) : now_ms(e) - 7 * 86400000LL;
    size_t start = (size_t)atol(cursor), limit = limit_s[0] ? (size_t)atol(limit_s) : 50;
    if (!limit || limit > 100)
        limit = 100;
    size_t k = 0, emitted = 0;
    bool more = false;
    sb_printf(&r->result, "{\"category\":\"%s\",\"list\":[", cat_s);
    for (size_t i = e->n_fills; i-- > 0;) {
        const emu_fill_t *f = &e->fills[i];
        const emu_inst_t *in = &e->inst[f->inst];
        if (!f->cloid[0] || in->cat != cat || (sym[0] && strcmp(sym, in->sym) != 0) ||
            f->ts_ms < since)
            continue;
        if (k++ < start)
            continue;
        if (emitted == limit) {
            more = true;
            break;
        }
        if (emitted++)
            sb_printf(&r->result, ",");
        fill_json(e, &r->result, f, "Trade");
    }
    if (more)
        sb_printf(&r->result, "],\"nextPageCursor\":\"%zu\"}", start + emitted);
    else
        sb_printf(&r->result, "],\"nextPageCursor\":\"\"}");
}

static void h_positions(ks_bybit_emu_t *e, const char *q, reply_t *r)
{
    char cat_s[16], sym[32];
    qget(q, "category", cat_s, sizeof(cat_s));
    qget(q, "symbol", sym, sizeof(sym));
    if (strcmp(cat_s, "linear") != 0) {
        rep_err(r, 10001, "params error: category");
        return;
    }
    sb_printf(&r->result, "{\"category\":\"linear\",\"list\":[");
    int n = 0;
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        ks_position_t p;
        if (in->cat != CAT_LINEAR || (sym[0] && strcmp(sym, in->sym) != 0))
            continue;
        memset(&p, 0, sizeof(p));
        ks_sim_core_get_position(e->core, in->core, &p);
        if (!sym[0] && ks_dec_is_zero(p.qty))
            continue;
        int s = ks_dec_sign(p.qty);
        sb_printf(&r->result, "%s{\"symbol\":\"%s\",\"positionIdx\":0,\"side\":\"%s\",\"size\":",
                  n++ ? "," : "", in->sym,
                  s > 0   ? "Buy"
                  : s < 0 ? "Sell"
                          : "");
        sb_dec(&r->result, ks_dec_abs(p.qty));
        sb_printf(&r->result, ",\"avgPrice\":");
        sb_dec(&r->result, p.entry_px);
        sb_printf(&r->result, ",\"markPrice\":");
        sb_dec(&r->result, p.mark_px);
        sb_printf(&r->result, ",\"liqPrice\":");
        if (ks_dec_is_zero(p.liq_px))
            sb_printf(&r->result, "\"\"");
        else
            sb_dec(&r->result, p.liq_px);
        sb_printf(&r->result, ",\"leverage\":\"%d\",\"positionIM\":", p.leverage);
        sb_dec(&r->result, p.margin);
        sb_printf(&r->result, ",\"unrealisedPnl\":");
        sb_dec(&r->result, p.upnl);
        sb_printf(&r->result, ",\"updatedTime\":\"%lld\"}", (long long)now_ms(e));
    }
    sb_printf(&r->result, "],\"nextPageCursor\":\"\"}");
}

static void h_instruments(ks_bybit_emu_t *e, const char *q, reply_t *r)
{
    char cat_s[16], sym[32], cursor[16];
    qget(q, "category", cat_s, sizeof(cat_s));
    qget(q, "symbol", sym, sizeof(sym));
    qget(q, "cursor", cursor, sizeof(cursor));
    int cat = cat_of(cat_s);
    if (cat < 0) {
        rep_err(r, 10001, "params error: category");
        return;
    }
    int start = atoi(cursor), k = 0, n = 0;
    bool more = false;
    sb_printf(&r->result, "{\"category\":\"%s\",\"list\":[", cat_s);
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        if (in->cat != cat || (sym[0] && strcmp(sym, in->sym) != 0))
            continue;
        if (k++ < start)
            continue;
        if (e->page && n == e->page) {
            more = true;
            break;
        }
        const ks_sim_inst_spec_t *s = ks_sim_core_spec(e->core, in->core);
        sbuf_t *b = &r->result;
        sb_printf(b,
                  "%s{\"symbol\":\"%s\",\"status\":\"Trading\",\"baseCoin\":\"%s\","
                  "\"quoteCoin\":\"USDT\",",
                  n++ ? "," : "", in->sym, in->base);
        if (cat == CAT_LINEAR) {
            sb_printf(b,
                      "\"contractType\":\"LinearPerpetual\",\"settleCoin\":\"USDT\","
                      "\"fundingInterval\":%d,\"leverageFilter\":{\"minLeverage\":\"1\","
                      "\"maxLeverage\":\"%d.00\",\"leverageStep\":\"0.01\"},",
                      s->funding_interval_h * 60, s->max_leverage);
            sb_printf(b, "\"priceFilter\":{\"tickSize\":");
            sb_dec(b, in->tick);
            sb_printf(b, "},\"lotSizeFilter\":{\"qtyStep\":");
            sb_dec(b, in->lot);
            sb_printf(b, ",\"minOrderQty\":");
            sb_dec(b, in->min_qty);
            sb_printf(b, ",\"maxOrderQty\":\"1000000\",\"minNotionalValue\":");
            sb_dec(b, in->min_notional);
            sb_printf(b, "}}");
        } else {
            sb_printf(b, "\"priceFilter\":{\"tickSize\":");
            sb_dec(b, in->tick);
            sb_printf(b, "},\"lotSizeFilter\":{\"basePrecision\":");
            sb_dec(b, in->lot);
            sb_printf(b, ",\"minOrderQty\":");
            sb_dec(b, in->min_qty);
            sb_printf(b, ",\"maxLimitOrderQty\":\"1000000\",\"minOrderAmt\":");
            sb_dec(b, in->min_notional);
            sb_printf(b, "}}");
        }
    }
    if (more)
        sb_printf(&r->result, "],\"nextPageCursor\":\"%d\"}", start + n);
    else
        sb_printf(&r->result, "],\"nextPageCursor\":\"\"}");
}

/* GET /v5/account/fee-rate: one entry per symbol of the category (or the one asked). */
static void h_fee_rate(ks_bybit_emu_t *e, const char *q, reply_t *r)
{
    char cat_s[16], sym[32];
    qget(q, "category", cat_s, sizeof(cat_s));
    qget(q, "symbol", sym, sizeof(sym));
    int cat = cat_of(cat_s);
    if (cat < 0) {
        rep_err(r, 10001, "params error: category");
        return;
    }
    sb_printf(&r->result, "{\"category\":\"%s\",\"list\":[", cat_s);
    int n = 0;
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        if (in->cat != cat || (sym[0] && strcmp(sym, in->sym) != 0))
            continue;
        sb_printf(&r->result,
                  "%s{\"symbol\":\"%s\",\"baseCoin\":\"\",\"takerFeeRate\":", n++ ? "," : "",
                  in->sym);
        sb_dec(&r->result, e->taker_fee[cat]);
        sb_printf(&r->result, ",\"makerFeeRate\":");
        sb_dec(&r->result, e->maker_fee[cat]);
        sb_printf(&r->result, "}");
    }
    sb_printf(&r->result, "]}");
}

/* Sends a reply now (or after the delay fault). */
static void held_free(held_t *h)
{
    ks_bybit_emu_t *e = h->emu;
    if (h->prev)
        h->prev->next = h->next;
    else if (e->held == h)
        e->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (h->timer)
        ks_loop_timer_stop(e->loop, h->timer);
    free(h->body);
    free(h);
}

static void send_reply(ks_bybit_emu_t *e, ks_http_exchange_t *ex, int status, const char *body,
                       size_t len, const char (*lim)[24], bool has_lim)
{
    ks_http_header_t hs[3];
    uint32_t nh = 0;
    if (has_lim) {
        hs[nh++] = (ks_http_header_t){"X-Bapi-Limit", lim[0]};
        hs[nh++] = (ks_http_header_t){"X-Bapi-Limit-Status", lim[1]};
        hs[nh++] = (ks_http_header_t){"X-Bapi-Limit-Reset-Timestamp", lim[2]};
    }
    ks_http_reply(ex, status, status == 200 ? "application/json; charset=utf-8" : "text/plain",
                  nh ? hs : NULL, nh, body, len);
}

static void on_held_timer(ks_loop_t *loop, void *ud)
{
    held_t *h = ud;
    h->timer = 0;
    if (h->abort)
        ks_http_abort(h->ex);
    else
        send_reply(h->emu, h->ex, h->status, h->body, h->len, h->lim, h->has_lim);
    held_free(h);
}

static held_t *hold(ks_bybit_emu_t *e, ks_http_exchange_t *ex, int64_t ms, bool abort_it)
{
    held_t *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->emu = e;
    h->ex = ex;
    h->abort = abort_it;
    h->next = e->held;
    if (e->held)
        e->held->prev = h;
    e->held = h;
    h->timer = ks_loop_timer_start(e->loop, ms * MS, 0, on_held_timer, h);
    return h;
}

static void finish(ks_bybit_emu_t *e, ks_http_exchange_t *ex, reply_t *r, int delay_ms, bool never)
{
    sbuf_t body = {0};
    char lim[3][24];
    if (r->http == 200) {
        sb_printf(&body, "{\"retCode\":%lld,\"retMsg\":", (long long)r->code);
        sb_str(&body, r->code ? r->msg : "OK");
        sb_printf(&body, ",\"result\":%s,\"retExtInfo\":{},\"time\":%lld}",
                  r->result.n && !r->code ? r->result.p : "{}", (long long)now_ms(e));
    } else {
        sb_printf(&body, "%s", r->msg);
    }
    if (r->limit_headers) {
        snprintf(lim[0], sizeof(lim[0]), "%d", r->limit);
        snprintf(lim[1], sizeof(lim[1]), "%d", r->remaining);
        snprintf(lim[2], sizeof(lim[2]), "%lld", (long long)r->reset_ms);
    }
    if (never) {
        hold(e, ex, HOLD_MS, true);
    } else if (delay_ms > 0) {
        held_t *h = hold(e, ex, delay_ms, false);
        h->status = r->http;
        h->body = body.p;
        h->len = body.n;
        body.p = NULL;
        memcpy(h->lim, lim, sizeof(lim));
        h->has_lim = r->limit_headers;
    } else {
        send_reply(e, ex, r->http, body.p ? body.p : "", body.n, lim, r->limit_headers);
    }
    sb_free(&body);
    sb_free(&r->result);
}

static int run_fault(ks_bybit_emu_t *e, const char *spec);

static void on_http(void *ud, ks_http_exchange_t *ex, const ks_http_server_request_t *req)
{
    ks_bybit_emu_t *e = ud;
    reply_t r;
    memset(&r, 0, sizeof(r));
    r.http = 200;
    bool get = strcmp(req->method, "GET") == 0;
    const char *path = req->path;
    e->st.rest_requests++;
    logf_(e, "%s %s%s%s", req->method, path, req->query[0] ? "?" : "", req->query);

    /* control endpoints (tests only) */
    if (strncmp(path, "/emu/", 5) == 0) {
        sbuf_t out = {0};
        int status = 200;
        if (strcmp(path, "/emu/fault") == 0)
            sb_printf(&out, run_fault(e, req->body) == KS_OK ? "ok\n" : "unknown fault\n");
        else if (strcmp(path, "/emu/state") == 0) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            if (f) {
                ks_bybit_emu_write_state(e, f);
                fclose(f);
            }
            sb_printf(&out, "%s", buf ? buf : "");
            free(buf);
        } else if (strcmp(path, "/emu/stats") == 0 || strcmp(path, "/emu/record") == 0) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            if (f) {
                ks_bybit_emu_write_record(e, f);
                fclose(f);
            }
            sb_printf(&out, "%s", buf ? buf : "");
            free(buf);
        } else {
            status = 404;
            sb_printf(&out, "no such control endpoint\n");
        }
        ks_http_reply(ex, status, "text/plain", NULL, 0, out.p ? out.p : "", out.n);
        sb_free(&out);
        return;
    }
    if (get && strcmp(path, "/v5/market/time") == 0) {
        int64_t ns = ks_loop_wall_ns(e->loop);
        sb_printf(&r.result, "{\"timeSecond\":\"%lld\",\"timeNano\":\"%lld\"}",
                  (long long)(ns / 1000000000LL), (long long)ns);
        finish(e, ex, &r, 0, false);
        return;
    }
    if (get && strcmp(path, "/v5/market/instruments-info") == 0) {
        h_instruments(e, req->query, &r);
        finish(e, ex, &r, 0, false);
        return;
    }
    bool order_entry = !get && strncmp(path, "/v5/order/", 10) == 0;
    bool create = !get && strcmp(path, "/v5/order/create") == 0;
    if (!check_auth(e, req, &r)) {
        logf_(e, "  -> %lld %s", (long long)r.code, r.msg);
        finish(e, ex, &r, 0, false);
        return;
    }
    int delay = 0;
    bool never = false;
    if (order_entry) {
        if (create && e->f_blackhole > 0) {
            e->f_blackhole--;
            logf_(e, "  -> fault: blackhole (not processed, no reply)");
            hold(e, ex, HOLD_MS, true);
            return;
        }
        if (e->f_429 > 0) {
            e->f_429--;
            r.http = 429;
            snprintf(r.msg, sizeof(r.msg), "Too Many Requests");
            logf_(e, "  -> fault: HTTP 429");
            finish(e, ex, &r, 0, false);
            return;
        }
        if (e->f_5xx > 0) {
            e->f_5xx--;
            r.http = 503;
            snprintf(r.msg, sizeof(r.msg), "Service Unavailable");
            logf_(e, "  -> fault: HTTP 503");
            finish(e, ex, &r, 0, false);
            return;
        }
        if (e->f_10006 > 0) {
            e->f_10006--;
            rep_err(&r, 10006, "Too many visits!");
            r.limit_headers = true;
            r.limit = 10;
            r.remaining = 0;
            r.reset_ms = now_ms(e) + 1000;
            logf_(e, "  -> fault: retCode 10006");
            finish(e, ex, &r, 0, false);
            return;
        }
        if (create && e->f_timeout > 0) {
            e->f_timeout--;
            never = true;
        }
        if (e->f_delay_n > 0) {
            e->f_delay_n--;
            delay = e->f_delay_ms;
        }
    }
    cJSON *body = !get ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
    if (!get && !cJSON_IsObject(body)) {
        rep_err(&r, 10001, "params error: body is not a JSON object");
    } else if (create) {
        h_create(e, body, &r);
    } else if (!get && strcmp(path, "/v5/order/cancel") == 0) {
        h_cancel(e, body, &r);
    } else if (!get && strcmp(path, "/v5/order/amend") == 0) {
        h_amend(e, body, &r);
    } else if (!get && strcmp(path, "/v5/order/cancel-all") == 0) {
        h_cancel_all(e, body, &r);
    } else if (!get && strcmp(path, "/v5/position/set-leverage") == 0) {
        h_leverage(e, body, &r);
    } else if (get && strcmp(path, "/v5/order/realtime") == 0) {
        if (rate_ok(e, 6, 50, &r))
            h_orders(e, req->query, false, &r);
    } else if (get && strcmp(path, "/v5/order/history") == 0) {
        if (rate_ok(e, 6, 50, &r))
            h_orders(e, req->query, true, &r);
    } else if (get && strcmp(path, "/v5/execution/list") == 0) {
        if (rate_ok(e, 6, 50, &r))
            h_execs(e, req->query, &r);
    } else if (get && strcmp(path, "/v5/position/list") == 0) {
        if (rate_ok(e, 7, 50, &r))
            h_positions(e, req->query, &r);
    } else if (get && strcmp(path, "/v5/account/fee-rate") == 0) {
        e->st.fee_rate_requests++;
        if (e->f_feerate400 > 0) {
            e->f_feerate400--;
            r.http = 400;
            snprintf(r.msg, sizeof(r.msg), "Bad Request");
            logf_(e, "  -> fault: HTTP 400");
        } else if (rate_ok(e, 7, 50, &r)) {
            h_fee_rate(e, req->query, &r);
        }
    } else if (get && strcmp(path, "/v5/account/wallet-balance") == 0) {
        char acct[16];
        qget(req->query, "accountType", acct, sizeof(acct));
        if (strcmp(acct, "UNIFIED") != 0) {
            rep_err(&r, 10001, "accountType only support UNIFIED");
        } else if (rate_ok(e, 7, 50, &r)) {
            sb_printf(&r.result, "{\"list\":[");
            wallet_json(e, &r.result);
            sb_printf(&r.result, "]}");
        }
    } else {
        r.http = 404;
        snprintf(r.msg, sizeof(r.msg), "Not Found");
    }
    cJSON_Delete(body);
    logf_(e, "  -> %lld %s%s", (long long)r.code, r.code ? r.msg : "OK",
          never   ? " (fault: no reply)"
          : delay ? " (fault: delayed)"
                  : "");
    finish(e, ex, &r, delay, never);
}

/* ---- WebSocket ------------------------------------------------------------------------- */

static void peer_reply(ks_bybit_emu_t *e, emu_peer_t *p, const char *msg)
{
    peer_send(e, p, msg, strlen(msg), false);
}

static void topic_add(emu_peer_t *p, const char *t)
{
    if (peer_has(p, t))
        return;
    if (p->n_topics == p->cap_topics) {
        p->cap_topics = p->cap_topics ? p->cap_topics * 2 : 16;
        p->topics = realloc(p->topics, (size_t)p->cap_topics * sizeof(*p->topics));
        if (!p->topics)
            abort();
    }
    ks_strlcpy(p->topics[p->n_topics++], t, sizeof(p->topics[0]));
}

static void topic_del(emu_peer_t *p, const char *t)
{
    for (int i = 0; i < p->n_topics; i++)
        if (strcmp(p->topics[i], t) == 0) {
            memmove(p->topics[i], p->topics[i + 1],
                    (size_t)(p->n_topics - i - 1) * sizeof(p->topics[0]));
            p->n_topics--;
            return;
        }
}

static emu_book_t *book_topic(ks_bybit_emu_t *e, int inst, int depth, const char *topic)
{
    for (int i = 0; i < e->n_books; i++)
        if (strcmp(e->books[i].topic, topic) == 0 &&
            e->inst[e->books[i].inst].cat == e->inst[inst].cat)
            return &e->books[i];
    if (e->n_books == MAX_BOOKS)
        return NULL;
    emu_book_t *bk = &e->books[e->n_books++];
    memset(bk, 0, sizeof(*bk));
    bk->inst = inst;
    bk->depth = depth;
    ks_strlcpy(bk->topic, topic, sizeof(bk->topic));
    bk->u = 100;
    bk->seq = 1000000;
    book_levels(e, bk, bk->bids, &bk->nb, bk->asks, &bk->na);
    return bk;
}

/* A public topic: validates it and sends what a new subscriber gets first. */
static bool public_subscribe(ks_bybit_emu_t *e, emu_peer_t *p, const char *t)
{
    char sym[32];
    int depth = 0;
    int cat = p->kind;
    if (sscanf(t, "orderbook.%d.%31s", &depth, sym) == 2) {
        emu_inst_t *in = inst_find(e, cat, sym);
        if (!in || !(depth == 1 || depth == 50 || depth == 200 || depth == 500 || depth == 1000))
            return false;
        emu_book_t *bk = book_topic(e, (int)(in - e->inst), depth, t);
        if (!bk)
            return false;
        topic_add(p, t);
        e->st.book_subscribes++;
        /* A subscription soon after a lost delta: the client rebuilding its book. */
        if (e->gap_happened && ks_loop_now_ns(e->loop) - e->gap_ns < 3000 * MS)
            e->st.book_resubscribes_after_gap++;
        book_msg(e, bk, true, bk->bids, bk->nb, bk->asks, bk->na);
        peer_send(e, p, e->msg.p, e->msg.n, false);
        return true;
    }
    if (sscanf(t, "tickers.%31s", sym) == 1) {
        emu_inst_t *in = inst_find(e, cat, sym);
        if (!in)
            return false;
        topic_add(p, t);
        ks_dec_t v[N_TK];
        bool have[N_TK], send[N_TK];
        ticker_values(e, in, v, have);
        for (int k = 0; k < N_TK; k++)
            send[k] = true;
        ticker_msg(e, in, true, v, have, send);
        peer_send(e, p, e->msg.p, e->msg.n, false);
        return true;
    }
    if (sscanf(t, "publicTrade.%31s", sym) == 1 ||
        (cat == CAT_LINEAR && sscanf(t, "allLiquidation.%31s", sym) == 1)) {
        if (!inst_find(e, cat, sym))
            return false;
        topic_add(p, t);
        return true;
    }
    return false;
}

static void ws_auth(ks_bybit_emu_t *e, emu_peer_t *p, const cJSON *args)
{
    char msg[256];
    const cJSON *k = cJSON_GetArrayItem(args, 0), *x = cJSON_GetArrayItem(args, 1),
                *s = cJSON_GetArrayItem(args, 2);
    const char *why = NULL;
    if (p->kind != PEER_PRIVATE)
        why = "auth is only for the private stream";
    else if (!cJSON_IsString(k) || !cJSON_IsNumber(x) || !cJSON_IsString(s))
        why = "Params Error";
    else if (e->f_authfail > 0) {
        e->f_authfail--;
        why = "Request not authorized (fault)";
    } else if (strcmp(k->valuestring, e->key) != 0)
        why = "API key is invalid.";
    else if ((int64_t)x->valuedouble <= now_ms(e))
        why = "Params Error: expires is in the past";
    else {
        char want[65], pay[48];
        int n = snprintf(pay, sizeof(pay), "GET/realtime%lld", (long long)x->valuedouble);
        hmac_hex(e->secret, pay, (size_t)n, want);
        if (strcmp(want, s->valuestring) != 0)
            why = "error sign!";
    }
    if (why) {
        e->st.auth_failed++;
        snprintf(msg, sizeof(msg),
                 "{\"success\":false,\"ret_msg\":\"%s\",\"op\":\"auth\",\"conn_id\":\"%s\"}", why,
                 p->conn_id);
        peer_reply(e, p, msg);
        logf_(e, "ws auth refused: %s", why);
        return;
    }
    p->authed = true;
    e->st.auth_ok++;
    snprintf(msg, sizeof(msg),
             "{\"success\":true,\"ret_msg\":\"\",\"op\":\"auth\",\"conn_id\":\"%s\"}", p->conn_id);
    peer_reply(e, p, msg);
}

static void on_ws_open(void *ud, ks_ws_peer_t *peer, const char *path)
{
    ks_bybit_emu_t *e = ud;
    emu_peer_t *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->emu = e;
    p->peer = peer;
    size_t n = strcspn(path, "?");
    if (n == 17 && strncmp(path, "/v5/public/linear", n) == 0)
        p->kind = PEER_LINEAR;
    else if (n == 15 && strncmp(path, "/v5/public/spot", n) == 0)
        p->kind = PEER_SPOT;
    else if (n == 11 && strncmp(path, "/v5/private", n) == 0)
        p->kind = PEER_PRIVATE;
    else
        p->kind = -1;
    snprintf(p->conn_id, sizeof(p->conn_id), "emu-%llu", (unsigned long long)++e->next_id);
    p->next = e->peers;
    if (e->peers)
        e->peers->prev = p;
    e->peers = p;
    ks_ws_peer_set_data(peer, p);
    if (p->kind == PEER_PRIVATE)
        e->st.private_connects++;
    else
        e->st.public_connects++;
    logf_(e, "ws open %s (%s)", path, p->conn_id);
    if (p->kind < 0)
        ks_ws_peer_close(peer);
}

static void peer_free(ks_bybit_emu_t *e, emu_peer_t *p)
{
    for (int i = 0; i < e->n_stq; i++)
        if (e->stq[i].peer == p)
            e->stq[i].peer = NULL;
    if (p->prev)
        p->prev->next = p->next;
    else if (e->peers == p)
        e->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p->topics);
    free(p);
}

static void on_ws_close(void *ud, ks_ws_peer_t *peer)
{
    ks_bybit_emu_t *e = ud;
    emu_peer_t *p = ks_ws_peer_get_data(peer);
    if (!p)
        return;
    logf_(e, "ws close %s", p->conn_id);
    peer_free(e, p);
}

static void on_ws_message(void *ud, ks_ws_peer_t *peer, const char *data, size_t len)
{
    ks_bybit_emu_t *e = ud;
    emu_peer_t *p = ks_ws_peer_get_data(peer);
    char msg[512];
    if (!p || p->kind < 0)
        return;
    if (stalled(e)) {
        /* A stalled network: what the client sends arrives when the stall ends. */
        if (e->n_stq == e->cap_stq) {
            e->cap_stq = e->cap_stq ? e->cap_stq * 2 : 16;
            e->stq = realloc(e->stq, (size_t)e->cap_stq * sizeof(*e->stq));
            if (!e->stq)
                abort();
        }
        char *c = malloc(len + 1);
        if (!c)
            abort();
        memcpy(c, data, len);
        c[len] = '\0';
        e->stq[e->n_stq++] = (struct stalled_msg){p, c, len};
        return;
    }
    e->st.ws_messages_in++;
    logf_(e, "ws %s <- %.*s", p->conn_id, (int)(len > 300 ? 300 : len), data);
    cJSON *j = cJSON_ParseWithLength(data, len);
    const char *op = jstr(j, "op");
    const char *req_id = jstr(j, "req_id");
    if (!op) {
        cJSON_Delete(j);
        return;
    }
    if (strcmp(op, "ping") == 0) {
        if (p->kind == PEER_PRIVATE)
            snprintf(msg, sizeof(msg),
                     "{\"req_id\":\"%s\",\"op\":\"pong\",\"args\":[\"%lld\"],\"conn_id\":\"%s\"}",
                     req_id ? req_id : "", (long long)now_ms(e), p->conn_id);
        else if (p->kind == PEER_SPOT)
            snprintf(msg, sizeof(msg),
                     "{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"%s\",\"op\":\"ping\"}",
                     p->conn_id);
        else
            snprintf(msg, sizeof(msg),
                     "{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"%s\",\"req_id\":\"%s\","
                     "\"op\":\"ping\"}",
                     p->conn_id, req_id ? req_id : "");
        peer_reply(e, p, msg);
    } else if (strcmp(op, "auth") == 0) {
        ws_auth(e, p, cJSON_GetObjectItemCaseSensitive(j, "args"));
    } else if (strcmp(op, "subscribe") == 0 || strcmp(op, "unsubscribe") == 0) {
        bool sub = op[0] == 's', ok = true;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(j, "args");
        char bad[128] = "";
        if (p->kind == PEER_PRIVATE && !p->authed) {
            ok = false;
            snprintf(bad, sizeof(bad), "Request not authorized");
        }
        if (p->kind == PEER_SPOT && cJSON_GetArraySize(args) > 10) {
            ok = false;
            snprintf(bad, sizeof(bad), "args size >10");
        }
        /* Ack first: a new subscriber sees the reply, then the snapshot. */
        const cJSON *a;
        if (ok) {
            cJSON_ArrayForEach(a, args)
            {
                if (!cJSON_IsString(a))
                    continue;
                const char *t = a->valuestring;
                bool known = p->kind == PEER_PRIVATE
                                 ? strcmp(t, "order") == 0 || strcmp(t, "execution") == 0 ||
                                       strcmp(t, "position") == 0 || strcmp(t, "wallet") == 0 ||
                                       strncmp(t, "order.", 6) == 0 ||
                                       strncmp(t, "execution.", 10) == 0 ||
                                       strncmp(t, "position.", 9) == 0
                                 : true;
                if (!known) {
                    ok = false;
                    snprintf(bad, sizeof(bad), "Invalid topic: %.100s", t);
                }
            }
        }
        snprintf(msg, sizeof(msg),
                 "{\"success\":%s,\"ret_msg\":\"%s\",\"conn_id\":\"%s\",\"req_id\":\"%s\","
                 "\"op\":\"%s\"}",
                 ok ? "true" : "false", ok ? "" : bad, p->conn_id, req_id ? req_id : "", op);
        peer_reply(e, p, msg);
        if (ok) {
            cJSON_ArrayForEach(a, args)
            {
                if (!cJSON_IsString(a))
                    continue;
                if (!sub)
                    topic_del(p, a->valuestring);
                else if (p->kind == PEER_PRIVATE)
                    topic_add(p, a->valuestring);
                else if (!public_subscribe(e, p, a->valuestring))
                    logf_(e, "subscribe: unknown topic %s", a->valuestring);
            }
        }
    }
    cJSON_Delete(j);
}

/* ---- faults -------------------------------------------------------------------------- */

static void drop_peers(ks_bybit_emu_t *e, int only_kind)
{
    for (emu_peer_t *p = e->peers; p; p = p->next)
        if (only_kind < 0 || p->kind == only_kind ||
            (only_kind == PEER_LINEAR + 10 && p->kind != PEER_PRIVATE))
            ks_ws_peer_close(p->peer);
}

static void on_ws_message(void *ud, ks_ws_peer_t *peer, const char *data, size_t len);

/* The stall is over: deliver what the clients sent meanwhile. */
static void on_stall_end(ks_loop_t *loop, void *ud)
{
    ks_bybit_emu_t *e = ud;
    e->stall_timer = 0;
    e->stall_until_ns = 0;
    for (int i = 0; i < e->n_stq; i++) {
        if (e->stq[i].peer)
            on_ws_message(e, e->stq[i].peer->peer, e->stq[i].data, e->stq[i].len);
        free(e->stq[i].data);
    }
    e->n_stq = 0;
}

static int run_fault(ks_bybit_emu_t *e, const char *spec)
{
    char name[32] = "";
    int a = -1, b = -1;
    if (!spec)
        return KS_EINVAL;
    while (*spec == ' ' || *spec == '\n')
        spec++;
    if (sscanf(spec, "%31[a-z0-9]:%d:%d", name, &a, &b) < 1)
        return KS_EINVAL;
    int n = a > 0 ? a : 1;
    e->st.faults_fired++;
    logf_(e, "fault: %s", spec);
    if (strcmp(name, "drop") == 0) {
        const char *which = strchr(spec, ':');
        int kind = -1;
        if (which && strncmp(which + 1, "private", 7) == 0)
            kind = PEER_PRIVATE;
        else if (which && strncmp(which + 1, "public", 6) == 0)
            kind = PEER_LINEAR + 10;
        drop_peers(e, kind);
    } else if (strcmp(name, "gap") == 0) {
        e->f_gap = true;
    } else if (strcmp(name, "dup") == 0) {
        for (int k = 0; k < 3; k++)
            e->f_dup[k] += a > 0 ? a : 20;
    } else if (strcmp(name, "stall") == 0) {
        int64_t ms = a > 0 ? a : 8000;
        e->stall_until_ns = ks_loop_now_ns(e->loop) + ms * MS;
        if (e->stall_timer)
            ks_loop_timer_stop(e->loop, e->stall_timer);
        e->stall_timer = ks_loop_timer_start(e->loop, ms * MS + MS, 0, on_stall_end, e);
    } else if (strcmp(name, "delay") == 0) {
        e->f_delay_n += a > 0 ? a : 3;
        e->f_delay_ms = b > 0 ? b : 1500;
    } else if (strcmp(name, "http429") == 0) {
        e->f_429 += n;
    } else if (strcmp(name, "ret10006") == 0) {
        e->f_10006 += n;
    } else if (strcmp(name, "http5xx") == 0) {
        e->f_5xx += n;
    } else if (strcmp(name, "timeout") == 0) {
        e->f_timeout += n;
    } else if (strcmp(name, "blackhole") == 0) {
        e->f_blackhole += n;
    } else if (strcmp(name, "authfail") == 0) {
        e->f_authfail += n;
        drop_peers(e, PEER_PRIVATE);
    } else if (strcmp(name, "feerate400") == 0) {
        e->f_feerate400 += n;
    } else {
        e->st.faults_fired--;
        return KS_EINVAL;
    }
    return KS_OK;
}

int ks_bybit_emu_fault(ks_bybit_emu_t *e, const char *spec)
{
    return run_fault(e, spec);
}

static void on_sched(ks_loop_t *loop, void *ud)
{
    sched_t *s = ud;
    s->timer = 0;
    run_fault(s->emu, s->spec);
}

int ks_bybit_emu_fault_at(ks_bybit_emu_t *e, const char *spec, int64_t after_ms)
{
    sched_t *s = calloc(1, sizeof(*s));
    if (!s)
        return KS_ENOMEM;
    s->emu = e;
    ks_strlcpy(s->spec, spec, sizeof(s->spec));
    s->timer = ks_loop_timer_start(e->loop, after_ms * MS, 0, on_sched, s);
    s->next = e->sched;
    e->sched = s;
    return s->timer ? KS_OK : KS_ENOMEM;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static const struct {
    const char *base, *price, *tick, *lot;
    double vol, premium, depth_usd, trades_per_s, trade_usd, oi_usd, volume_usd;
} profiles[] = {
    {"BTC", "65000", "0.1", "0.001", 0.55, 0.00003, 150000, 4.0, 4000, 5e9, 1.5e10},
    {"ETH", "3500", "0.01", "0.01", 0.70, 0.00006, 100000, 3.0, 3000, 3e9, 8e9},
    {"SOL", "150", "0.01", "0.1", 0.90, 0.00015, 50000, 2.5, 1500, 1.5e9, 3e9},
    {"XRP", "0.6", "0.0001", "1", 0.85, 0.00010, 40000, 2.0, 1000, 8e8, 1.5e9},
    {"DOGE", "0.15", "0.00001", "1", 1.00, 0.00020, 30000, 2.0, 800, 6e8, 1.2e9},
};

static ks_dec_t dec(const char *s)
{
    ks_dec_t d = KS_DEC_ZERO;
    ks_dec_parse(s, (size_t)-1, &d);
    return d;
}

ks_bybit_emu_t *ks_bybit_emu_new(ks_loop_t *loop, const ks_bybit_emu_opts_t *o, char *err,
                                 size_t err_len)
{
    static const char *const dflt[] = {"BTC", "ETH", "SOL"};
    ks_bybit_emu_t *e = calloc(1, sizeof(*e));
    char why[KS_REASON_LEN];
    if (!e) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    e->loop = loop;
    ks_strlcpy(e->key, o && o->api_key ? o->api_key : KS_BYBIT_EMU_KEY, sizeof(e->key));
    ks_strlcpy(e->secret, o && o->api_secret ? o->api_secret : KS_BYBIT_EMU_SECRET,
               sizeof(e->secret));
    e->step_ms = o && o->step_ms > 0 ? o->step_ms : 250;
    e->page = o ? o->instruments_page : 0;
    e->log = o && o->log;
    const char *const *bases = o && o->bases && o->n_bases ? o->bases : dflt;
    int n_bases = o && o->bases && o->n_bases ? o->n_bases : 3;
    uint64_t seed = o && o->seed ? o->seed : 42;
    const char *fees[2][2] = {
        {o && o->linear_maker_fee ? o->linear_maker_fee : "0.0001",
         o && o->linear_taker_fee ? o->linear_taker_fee : "0.0004"},
        {o && o->spot_maker_fee ? o->spot_maker_fee : "0.0008",
         o && o->spot_taker_fee ? o->spot_taker_fee : "0.0008"},
    };

    ks_sim_sink_t sink = {.ud = e,
                          .on_order = sink_order,
                          .on_fill = sink_fill,
                          .on_position = sink_position,
                          .on_balance = sink_balance,
                          .on_funding = sink_funding,
                          .on_trade = sink_trade};
    e->core = ks_sim_core_new(seed, &sink);
    ks_sim_market_config_t mc;
    ks_sim_market_params_t mp[8];
    memset(&mc, 0, sizeof(mc));
    mc.seed = seed;
    mc.funding_cap = KS_DEC(75, 4);
    mc.interest_8h = KS_DEC(1, 4);
    mc.step_ns = (int64_t)e->step_ms * MS;
    if (!e->core || n_bases > 8 || n_bases * 2 > MAX_INST) {
        snprintf(err, err_len, "emulator: out of memory or too many bases");
        goto fail;
    }
    for (int cat = 0; cat < 2; cat++)
        if (ks_dec_parse(fees[cat][0], (size_t)-1, &e->maker_fee[cat]) != KS_OK ||
            ks_dec_parse(fees[cat][1], (size_t)-1, &e->taker_fee[cat]) != KS_OK) {
            snprintf(err, err_len, "emulator: bad %s fee rate", cat_name(cat));
            goto fail;
        }
    for (int i = 0; i < n_bases; i++) {
        int pi = -1;
        for (size_t k = 0; k < sizeof(profiles) / sizeof(profiles[0]); k++)
            if (strcmp(profiles[k].base, bases[i]) == 0)
                pi = (int)k;
        if (pi < 0) {
            snprintf(err, err_len, "emulator: no market profile for %s", bases[i]);
            goto fail;
        }
        memset(&mp[i], 0, sizeof(mp[i]));
        mp[i].price = strtod(profiles[pi].price, NULL);
        mp[i].vol = profiles[pi].vol;
        mp[i].jumps_per_day = 3;
        mp[i].jump_std = 0.005;
        mp[i].premium_mean = profiles[pi].premium;
        mp[i].premium_vol = profiles[pi].premium * 4;
        mp[i].premium_half_life_h = 2;
        mp[i].liq_bursts_per_day = 400; /* busy: a test sees liquidations */
        mp[i].liq_impact = 0.002;
        mp[i].liq_usd = profiles[pi].oi_usd * 0.0001;
        mp[i].trades_per_s = profiles[pi].trades_per_s;
        mp[i].trade_usd = profiles[pi].trade_usd;
        mp[i].oi_usd = profiles[pi].oi_usd;
        mp[i].volume_usd = profiles[pi].volume_usd;
        mp[i].funding_interval_h = 8;
        mp[i].tick = dec(profiles[pi].tick);
        mp[i].lot = dec(profiles[pi].lot);
        for (int cat = 0; cat < 2; cat++) {
            emu_inst_t *in = &e->inst[e->n_inst];
            ks_sim_inst_spec_t s;
            memset(&s, 0, sizeof(s));
            s.kind = cat == CAT_LINEAR ? KS_KIND_PERP : KS_KIND_SPOT;
            snprintf(s.symbol, sizeof(s.symbol), cat == CAT_LINEAR ? "%s/USDT:USDT" : "%s/USDT",
                     bases[i]);
            ks_strlcpy(s.base, bases[i], sizeof(s.base));
            ks_strlcpy(s.quote, "USDT", sizeof(s.quote));
            s.tick = mp[i].tick;
            s.lot = mp[i].lot;
            s.min_qty = mp[i].lot;
            s.min_notional = KS_DEC(5, 0);
            s.maker_fee = e->maker_fee[cat];
            s.taker_fee = e->taker_fee[cat];
            s.mmr = KS_DEC(5, 3);
            s.leverage = 10;
            s.max_leverage = cat == CAT_LINEAR ? 50 : 1;
            s.funding_interval_h = cat == CAT_LINEAR ? 8 : 0;
            s.book_levels = BOOK_MAX;
            s.spread_ticks = 1;
            double lots = profiles[pi].depth_usd / mp[i].price / ks_dec_to_double(mp[i].lot);
            s.depth_lots = lots >= 1 ? (int64_t)lots : 1;
            s.depth_growth_pct = 25;
            s.depth_jitter_pct = 40;
            s.ext_id = e->n_inst;
            if (ks_sim_core_add_inst(e->core, &s, &in->core, why, sizeof(why)) != KS_OK) {
                snprintf(err, err_len, "emulator: %s", why);
                goto fail;
            }
            in->cat = cat;
            in->mkt = (uint32_t)i;
            snprintf(in->sym, sizeof(in->sym), "%sUSDT", bases[i]);
            ks_strlcpy(in->base, bases[i], sizeof(in->base));
            in->tick = s.tick;
            in->lot = s.lot;
            in->min_qty = s.min_qty;
            in->min_notional = s.min_notional;
            e->n_inst++;
        }
    }
    e->n_bases = n_bases;
    /* The unified wallet: USDT split between the core's spot and futures wallets. */
    ks_dec_t usdt = dec(o && o->usdt ? o->usdt : "200000"), half;
    ks_dec_div(usdt, KS_DEC(2, 0), 8, KS_ROUND_FLOOR, &half);
    ks_sim_core_deposit(e->core, KS_WALLET_SPOT, "USDT", half);
    ks_sim_core_deposit(e->core, KS_WALLET_FUTURES, "USDT", half);
    for (int i = 0; i < n_bases; i++)
        ks_sim_core_deposit(e->core, KS_WALLET_SPOT, bases[i], KS_DEC(0, 0));

    int64_t t0 = ks_loop_wall_ns(loop);
    e->mkt = ks_sim_market_new(&mc, mp, (uint32_t)n_bases, t0, why, sizeof(why));
    if (!e->mkt) {
        snprintf(err, err_len, "emulator: %s", why);
        goto fail;
    }
    load_inputs(e, false);
    ks_sim_core_step(e->core, t0, e->inputs);
    e->wallet_dirty = false;
    for (int i = 0; i < e->n_inst; i++)
        e->inst[i].n_trades = 0;

    e->own_ctx = !(o && o->ctx);
    e->ctx = e->own_ctx ? ks_wsctx_new(loop) : o->ctx;
    static const ks_ws_server_callbacks_t cbs = {.on_http = on_http,
                                                 .on_ws_open = on_ws_open,
                                                 .on_ws_message = on_ws_message,
                                                 .on_ws_close = on_ws_close};
    e->srv = e->ctx ? ks_ws_server_start(e->ctx, o && o->host ? o->host : "127.0.0.1",
                                         o ? o->port : 0, &cbs, e)
                    : NULL;
    if (!e->srv) {
        snprintf(err, err_len, "emulator: cannot listen on port %d", o ? o->port : 0);
        goto fail;
    }
    e->step_timer =
        ks_loop_timer_start(loop, (int64_t)e->step_ms * MS, (int64_t)e->step_ms * MS, on_step, e);
    return e;
fail:
    ks_bybit_emu_free(e);
    return NULL;
}

int ks_bybit_emu_port(const ks_bybit_emu_t *e)
{
    return ks_ws_server_port(e->srv);
}

void ks_bybit_emu_free(ks_bybit_emu_t *e)
{
    if (!e)
        return;
    if (e->step_timer)
        ks_loop_timer_stop(e->loop, e->step_timer);
    /* Stopping the server ends every exchange and peer without callbacks. */
    if (e->srv)
        ks_ws_server_stop(e->srv);
    while (e->held)
        held_free(e->held);
    while (e->peers)
        peer_free(e, e->peers);
    while (e->sched) {
        sched_t *s = e->sched;
        e->sched = s->next;
        if (s->timer)
            ks_loop_timer_stop(e->loop, s->timer);
        free(s);
    }
    if (e->stall_timer)
        ks_loop_timer_stop(e->loop, e->stall_timer);
    for (int i = 0; i < e->n_stq; i++)
        free(e->stq[i].data);
    free(e->stq);
    if (e->ctx && e->own_ctx)
        ks_wsctx_free(e->ctx);
    capture_end(e, false);
    free(e->cap.msgs);
    sb_free(&e->cap.cancelled);
    ks_sim_core_free(e->core);
    ks_sim_market_free(e->mkt);
    free(e->orders);
    free(e->fills);
    sb_free(&e->msg);
    sb_free(&e->data);
    free(e);
}

void ks_bybit_emu_stats(const ks_bybit_emu_t *e, ks_bybit_emu_stats_t *out)
{
    *out = e->st;
}

const char *ks_bybit_emu_order_status(const ks_bybit_emu_t *e, const char *cloid)
{
    const emu_order_t *o = order_find((ks_bybit_emu_t *)e, cloid);
    return o ? status_word(e, o) : NULL;
}

int ks_bybit_emu_write_record(const ks_bybit_emu_t *e, FILE *f)
{
    char q[KS_DEC_STRLEN], fl[KS_DEC_STRLEN], px[KS_DEC_STRLEN];
    for (size_t i = 0; i < e->n_orders; i++) {
        const emu_order_t *o = &e->orders[i];
        const emu_inst_t *in = &e->inst[o->inst];
        ks_dec_format(o->qty, q, sizeof(q));
        ks_dec_format(o->filled, fl, sizeof(fl));
        fprintf(f,
                "{\"kind\":\"order\",\"cloid\":\"%s\",\"order_id\":\"%s\",\"symbol\":\"%s\","
                "\"category\":\"%s\",\"side\":\"%s\",\"qty\":\"%s\",\"status\":\"%s\","
                "\"filled\":\"%s\"}\n",
                o->cloid, o->order_id, in->sym, cat_name(in->cat),
                o->side == KS_SIDE_BUY ? "Buy" : "Sell", q, status_word(e, o), fl);
    }
    for (size_t i = 0; i < e->n_fills; i++) {
        const emu_fill_t *x = &e->fills[i];
        if (!x->cloid[0])
            continue;
        ks_dec_format(x->qty, q, sizeof(q));
        ks_dec_format(x->px, px, sizeof(px));
        fprintf(f,
                "{\"kind\":\"fill\",\"exec_id\":\"%s\",\"cloid\":\"%s\",\"price\":\"%s\","
                "\"qty\":\"%s\"}\n",
                x->exec_id, x->cloid, px, q);
    }
    const ks_bybit_emu_stats_t *s = &e->st;
    fprintf(f,
            "{\"kind\":\"stats\",\"rest_requests\":%llu,\"orders\":%llu,\"fills\":%llu,"
            "\"gaps_injected\":%llu,\"book_subscribes\":%llu,\"book_resubscribes_after_gap\":%llu,"
            "\"private_connects\":%llu,\"public_connects\":%llu,\"auth_ok\":%llu,"
            "\"auth_failed\":%llu,\"sig_errors\":%llu,\"ts_errors\":%llu,\"key_errors\":%llu,"
            "\"faults_fired\":%llu,\"duplicate_cloids\":%llu}\n",
            (unsigned long long)s->rest_requests, (unsigned long long)s->orders,
            (unsigned long long)s->fills, (unsigned long long)s->gaps_injected,
            (unsigned long long)s->book_subscribes,
            (unsigned long long)s->book_resubscribes_after_gap,
            (unsigned long long)s->private_connects, (unsigned long long)s->public_connects,
            (unsigned long long)s->auth_ok, (unsigned long long)s->auth_failed,
            (unsigned long long)s->sig_errors, (unsigned long long)s->ts_errors,
            (unsigned long long)s->key_errors, (unsigned long long)s->faults_fired,
            (unsigned long long)s->duplicate_cloids);
    return ferror(f) ? KS_EIO : KS_OK;
}

int ks_bybit_emu_write_state(const ks_bybit_emu_t *e, FILE *f)
{
    char q[KS_DEC_STRLEN];
    int n_open = 0;
    for (size_t i = 0; i < e->n_orders; i++)
        n_open += open_status(e->orders[i].status);
    fprintf(f, "{\"instruments\": [");
    for (int i = 0; i < e->n_inst; i++) {
        const emu_inst_t *in = &e->inst[i];
        ks_dec_t qty = KS_DEC_ZERO;
        if (in->cat == CAT_SPOT) {
            ks_balance_t b;
            if (ks_sim_core_get_balance(e->core, KS_WALLET_SPOT, in->base, &b) == KS_OK)
                qty = b.total;
        } else {
            ks_position_t p;
            if (ks_sim_core_get_position(e->core, in->core, &p) == KS_OK)
                qty = p.qty;
        }
        ks_dec_format(qty, q, sizeof(q));
        fprintf(f, "%s{\"symbol\": \"%s/USDT%s\", \"qty\": \"%s\"}", i ? ", " : "", in->base,
                in->cat == CAT_SPOT ? "" : ":USDT", q);
    }
    fprintf(f, "], \"orders\": %zu, \"open_orders\": %d, \"duplicate_cloids\": %llu}\n",
            e->n_orders, n_open, (unsigned long long)e->st.duplicate_cloids);
    return ferror(f) ? KS_EIO : KS_OK;
}
