/* bybit_codec: Bybit v5 messages -> Kestrel events. One code path serves the live
 * streams, the REST replies and the decode op, so `kestrel decode` shows exactly what
 * the adapter would emit. Field meanings: venues/bybit.md §5 (market data), §6
 * (private streams), §4 (instruments). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bybit.h"

#define TOPIC_IS(t, tl, lit) ((tl) >= sizeof(lit) - 1 && memcmp((t), (lit), sizeof(lit) - 1) == 0)

/* ---- small table of tracked orders (cloid -> record), open addressing ------------- */

static uint32_t slot_of(const ks_bybit_orders_t *t, const char *cloid)
{
    return (uint32_t)ks_bybit_hash(cloid, strlen(cloid)) & (t->cap - 1);
}

static int orders_rehash(ks_bybit_orders_t *t, uint32_t nc)
{
    ks_bybit_order_t *ns = calloc(nc, sizeof(*ns));
    if (!ns)
        return KS_ENOMEM;
    ks_bybit_order_t *old = t->slots;
    uint32_t oc = t->cap;
    t->slots = ns;
    t->cap = nc;
    t->used = t->live = 0;
    for (uint32_t i = 0; i < oc; i++) {
        if (!old[i].in_use)
            continue;
        uint32_t h = slot_of(t, old[i].cloid);
        while (t->slots[h].in_use)
            h = (h + 1) & (nc - 1);
        t->slots[h] = old[i];
        t->used++;
        t->live++;
    }
    free(old);
    return KS_OK;
}

ks_bybit_order_t *ks_bybit_orders_get(ks_bybit_orders_t *t, const char *cloid)
{
    if (!t->cap || !cloid[0])
        return NULL;
    uint32_t h = slot_of(t, cloid);
    for (uint32_t n = 0; n < t->cap; n++) {
        ks_bybit_order_t *o = &t->slots[h];
        if (!o->in_use && !o->tombstone)
            return NULL;
        if (o->in_use && strcmp(o->cloid, cloid) == 0)
            return o;
        h = (h + 1) & (t->cap - 1);
    }
    return NULL;
}

ks_bybit_order_t *ks_bybit_orders_add(ks_bybit_orders_t *t, const char *cloid)
{
    ks_bybit_order_t *o = ks_bybit_orders_get(t, cloid);
    if (o)
        return o;
    if (!cloid[0] || strlen(cloid) >= KS_CLOID_LEN)
        return NULL;
    if ((t->used + 1) * 2 > t->cap) {
        uint32_t nc = t->cap ? t->cap : 64;
        while ((t->live + 1) * 4 > nc)
            nc *= 2;
        if (orders_rehash(t, nc < 64 ? 64 : nc) != KS_OK)
            return NULL;
    }
    uint32_t h = slot_of(t, cloid);
    while (t->slots[h].in_use)
        h = (h + 1) & (t->cap - 1);
    o = &t->slots[h];
    if (!o->tombstone)
        t->used++;
    memset(o, 0, sizeof(*o));
    o->in_use = true;
    o->inst = -1;
    ks_strlcpy(o->cloid, cloid, sizeof(o->cloid));
    t->live++;
    return o;
}

void ks_bybit_orders_del(ks_bybit_orders_t *t, ks_bybit_order_t *o)
{
    if (!o || !o->in_use)
        return;
    memset(o, 0, sizeof(*o));
    o->tombstone = true;
    t->live--;
}

void ks_bybit_orders_free(ks_bybit_orders_t *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---- recently seen execution ids: two generations of an open-addressing set ------- */

#define SEEN_CAP 8192

static bool seen_has(const uint64_t *set, uint64_t id)
{
    if (!set)
        return false;
    uint32_t h = (uint32_t)(id ^ (id >> 29)) & (SEEN_CAP - 1);
    while (set[h]) {
        if (set[h] == id)
            return true;
        h = (h + 1) & (SEEN_CAP - 1);
    }
    return false;
}

bool ks_bybit_seen_check_add(ks_bybit_seen_t *s, uint64_t id)
{
    id |= 1; /* 0 marks an empty slot */
    if (seen_has(s->cur, id) || seen_has(s->prev, id))
        return true;
    if (!s->cur) {
        s->cur = calloc(SEEN_CAP, sizeof(uint64_t));
        s->prev = calloc(SEEN_CAP, sizeof(uint64_t));
        if (!s->cur || !s->prev)
            return false;
    }
    if (s->n_cur >= SEEN_CAP / 2) {
        uint64_t *t = s->prev;
        s->prev = s->cur;
        s->cur = t;
        memset(s->cur, 0, SEEN_CAP * sizeof(uint64_t));
        s->n_cur = 0;
    }
    uint32_t h = (uint32_t)(id ^ (id >> 29)) & (SEEN_CAP - 1);
    while (s->cur[h])
        h = (h + 1) & (SEEN_CAP - 1);
    s->cur[h] = id;
    s->n_cur++;
    return false;
}

void ks_bybit_seen_free(ks_bybit_seen_t *s)
{
    free(s->cur);
    free(s->prev);
    memset(s, 0, sizeof(*s));
}

/* ---- helpers --------------------------------------------------------------------- */

static void emit(ks_bybit_t *bb, const ks_event_t *ev)
{
    bb->api->emit(bb->host, ev);
}

static int side_of(const ks_bybit_json_t *js, int tok)
{
    if (ks_bybit_json_eq(js, tok, "Buy"))
        return KS_SIDE_BUY;
    if (ks_bybit_json_eq(js, tok, "Sell"))
        return KS_SIDE_SELL;
    return 0;
}

static bool dec_eq(ks_dec_t a, ks_dec_t b)
{
    return ks_bybit_book_cmp(a, b) == 0;
}

/* Reads member `key` as a decimal into *out and sets `bit` in *fields when present. */
static void take(const ks_bybit_json_t *js, int obj, const char *key, ks_dec_t *out,
                 uint32_t *fields, uint32_t bit)
{
    if (ks_bybit_json_get_dec(js, obj, key, out) == KS_OK)
        *fields |= bit;
}

void ks_bybit_codec_conn(ks_bybit_t *bb, int state, const char *fmt, ...)
{
    ks_conn_t ev;
    KS_EVENT_INIT(&ev, KS_EV_CONN);
    ev.state = (uint8_t)state;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
    va_end(ap);
    emit(bb, &ev.hdr);
}

/* The category of one element: its own "category" member, else `fallback`. -1 for a
 * category this adapter does not handle (option, inverse). */
static int el_cat(const ks_bybit_json_t *js, int el, int fallback)
{
    size_t len;
    const char *c = ks_bybit_json_raw(js, ks_bybit_json_get(js, el, "category"), &len);
    if (!c || !len)
        return fallback;
    return ks_bybit_cat_parse(c, len);
}

static ks_bybit_inst_t *inst_of(ks_bybit_t *bb, int cat, int el, const char *key)
{
    size_t len;
    const char *s = ks_bybit_json_raw(&bb->js, ks_bybit_json_get(&bb->js, el, key), &len);
    if (!s || !len || cat < 0)
        return NULL;
    ks_bybit_inst_t *in = ks_bybit_inst_get(bb, cat, s, len, KS_BYBIT_CREATE_INFER);
    return in && in->id >= 0 ? in : NULL;
}

static bool wants(const ks_bybit_t *bb, const ks_bybit_inst_t *in, uint32_t ch)
{
    return !bb->live || (in->channels & ch);
}

/* ---- order book ---------------------------------------------------------------------- */

static int grow_levels(ks_bybit_t *bb, uint32_t need)
{
    if (need <= bb->lv_cap)
        return KS_OK;
    uint32_t nc = bb->lv_cap ? bb->lv_cap : 256;
    while (nc < need)
        nc *= 2;
    ks_level_t *nb = realloc(bb->lv_bids, (size_t)nc * sizeof(*nb));
    if (!nb)
        return KS_ENOMEM;
    bb->lv_bids = nb;
    ks_level_t *na = realloc(bb->lv_asks, (size_t)nc * sizeof(*na));
    if (!na)
        return KS_ENOMEM;
    bb->lv_asks = na;
    bb->lv_cap = nc;
    return KS_OK;
}

/* Parses [[px, qty], ...] into out; returns the count or -1. */
static int read_levels(const ks_bybit_json_t *js, int arr, ks_level_t *out)
{
    int n = 0;
    for (int lv = ks_bybit_json_first(js, arr); lv > 0; lv = ks_bybit_json_next(js, lv)) {
        if (ks_bybit_json_type(js, lv) != KS_BJ_ARRAY || js->tok[lv].count < 2)
            return -1;
        if (ks_bybit_json_dec(js, lv + 1, &out[n].px) != KS_OK ||
            ks_bybit_json_dec(js, (int)js->tok[lv + 1].next, &out[n].qty) != KS_OK)
            return -1;
        n++;
    }
    return n;
}

void ks_bybit_codec_book_resync(ks_bybit_t *bb, ks_bybit_inst_t *in, const char *why)
{
    ks_bybit_book_reset(&in->book);
    in->bbo_valid = false;
    in->resync_pending = true;
    bb->api->log(bb->host, KS_LOG_WARN, "%s %s book: %s; %s", ks_bybit_cat_name(in->cat), in->sym,
                 why,
                 bb->live ? "resubscribing for a fresh snapshot" : "waiting for a fresh snapshot");
    ks_bybit_codec_conn(bb, KS_CONN_RESYNCING, "%s %s book: %s", ks_bybit_cat_name(in->cat),
                        in->sym, why);
    if (bb->live)
        ks_bybit_conn_resubscribe_book(bb, in);
}

static int emit_bbo(ks_bybit_t *bb, ks_bybit_inst_t *in, int64_t ts_ms, uint16_t flags)
{
    const ks_bybit_book_t *b = &in->book;
    ks_dec_t z = KS_DEC_ZERO;
    ks_dec_t bp = b->n_bids ? b->bids[0].px : z, bq = b->n_bids ? b->bids[0].qty : z;
    ks_dec_t ap = b->n_asks ? b->asks[0].px : z, aq = b->n_asks ? b->asks[0].qty : z;
    if (in->bbo_valid && dec_eq(bp, in->bbo_bid) && dec_eq(bq, in->bbo_bid_qty) &&
        dec_eq(ap, in->bbo_ask) && dec_eq(aq, in->bbo_ask_qty))
        return 0;
    in->bbo_valid = true;
    in->bbo_bid = bp;
    in->bbo_bid_qty = bq;
    in->bbo_ask = ap;
    in->bbo_ask_qty = aq;
    if (!wants(bb, in, KS_CH_BBO | KS_CH_BOOK))
        return 0;
    ks_bbo_t ev;
    KS_EVENT_INIT(&ev, KS_EV_BBO);
    ev.hdr.inst = in->id;
    ev.hdr.flags = flags;
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(ts_ms);
    ev.bid_px = bp;
    ev.bid_qty = bq;
    ev.ask_px = ap;
    ev.ask_qty = aq;
    emit(bb, &ev.hdr);
    return 1;
}

static int on_book(ks_bybit_t *bb, int cat, int data, bool snapshot, int64_t ts_ms, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_bybit_inst_t *in = inst_of(bb, cat, data, "s");
    int64_t u = 0, seq = 0;
    if (!in)
        return 0;
    ks_bybit_json_get_i64(js, data, "u", &u);
    ks_bybit_json_get_i64(js, data, "seq", &seq);
    int ab = ks_bybit_json_get(js, data, "b"), aa = ks_bybit_json_get(js, data, "a");
    uint32_t nb = ks_bybit_json_type(js, ab) == KS_BJ_ARRAY ? js->tok[ab].count : 0;
    uint32_t na = ks_bybit_json_type(js, aa) == KS_BJ_ARRAY ? js->tok[aa].count : 0;
    ks_bybit_book_t *b = &in->book;
    int n = 0;

    if (u == 1)
        snapshot = true; /* the venue's book service restarted */
    if (!snapshot) {
        switch (ks_bybit_book_check_delta(b, (uint64_t)u)) {
        case KS_BYBIT_SEQ_OK:
            break;
        case KS_BYBIT_SEQ_STALE:
            bb->n_stale++;
            return 0;
        case KS_BYBIT_SEQ_NOBOOK:
            return 0;
        case KS_BYBIT_SEQ_GAP: {
            char why[96];
            bb->n_gaps++;
            if (bb->live)
                bb->api->metric(bb->host, "bybit_book_gaps", (double)bb->n_gaps);
            snprintf(why, sizeof(why), "update id gap (%llu after %llu)", (unsigned long long)u,
                     (unsigned long long)b->u);
            ks_bybit_codec_book_resync(bb, in, why);
            return 1;
        }
        }
    }
    if (grow_levels(bb, nb > na ? nb : na) != KS_OK)
        return 0;
    int rb = read_levels(js, ab, bb->lv_bids), ra = read_levels(js, aa, bb->lv_asks);
    if (rb < 0 || ra < 0)
        return 0;
    uint64_t prev_u = b->u;
    if (snapshot)
        ks_bybit_book_clear(b);
    for (int i = 0; i < rb; i++)
        if (ks_bybit_book_set(b, true, bb->lv_bids[i].px, bb->lv_bids[i].qty) != KS_OK)
            return 0;
    for (int i = 0; i < ra; i++)
        if (ks_bybit_book_set(b, false, bb->lv_asks[i].px, bb->lv_asks[i].qty) != KS_OK)
            return 0;
    b->u = (uint64_t)u;
    b->seq = (uint64_t)seq;
    if (ks_bybit_book_crossed(b)) {
        bb->n_crossed++;
        ks_bybit_codec_book_resync(bb, in, "crossed book");
        return 1;
    }
    if (snapshot) {
        b->valid = true;
        if (in->resync_pending) {
            in->resync_pending = false;
            ks_bybit_codec_conn(bb, KS_CONN_UP, "%s %s book rebuilt from a fresh snapshot",
                                ks_bybit_cat_name(in->cat), in->sym);
            n++;
        }
    }
    if (wants(bb, in, KS_CH_BOOK)) {
        ks_book_t ev;
        KS_EVENT_INIT(&ev, KS_EV_BOOK);
        ev.hdr.inst = in->id;
        ev.hdr.flags = flags;
        ev.hdr.venue_ts = ks_bybit_ms_to_ns(ts_ms);
        ev.update_id = (uint64_t)u;
        ev.prev_update_id = snapshot ? 0 : prev_u;
        ev.snapshot = snapshot;
        if (snapshot) {
            ev.bids = b->bids;
            ev.n_bids = b->n_bids;
            ev.asks = b->asks;
            ev.n_asks = b->n_asks;
        } else {
            ev.bids = bb->lv_bids;
            ev.n_bids = (uint32_t)rb;
            ev.asks = bb->lv_asks;
            ev.n_asks = (uint32_t)ra;
        }
        emit(bb, &ev.hdr);
        n++;
    }
    return n + emit_bbo(bb, in, ts_ms, flags);
}

/* ---- trades, tickers, liquidations ---------------------------------------------------- */

/* WS publicTrade element {T, s, S, v, p, i} or REST recent-trade {time, symbol, side,
 * size, price, execId}. */
static int on_trade(ks_bybit_t *bb, int cat, int el, bool rest, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_bybit_inst_t *in = inst_of(bb, cat, el, rest ? "symbol" : "s");
    if (!in || !wants(bb, in, KS_CH_TRADES))
        return 0;
    ks_trade_t ev;
    int64_t t = 0;
    KS_EVENT_INIT(&ev, KS_EV_TRADE);
    ev.hdr.inst = in->id;
    ev.hdr.flags = flags;
    if (ks_bybit_json_get_dec(js, el, rest ? "price" : "p", &ev.px) != KS_OK ||
        ks_bybit_json_get_dec(js, el, rest ? "size" : "v", &ev.qty) != KS_OK)
        return 0;
    ks_bybit_json_get_i64(js, el, rest ? "time" : "T", &t);
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
    ev.side = (int8_t)side_of(js, ks_bybit_json_get(js, el, rest ? "side" : "S"));
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, rest ? "execId" : "i"), ev.trade_id,
                      sizeof(ev.trade_id));
    emit(bb, &ev.hdr);
    return 1;
}

/* A ticker snapshot or delta (WS) or a REST ticker (a snapshot). Deltas merge into the
 * cached state; the event carries every field known so far. */
static int on_ticker(ks_bybit_t *bb, int cat, int el, bool snapshot, int64_t ts_ms, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_bybit_inst_t *in = inst_of(bb, cat, el, "symbol");
    int64_t v;
    if (!in)
        return 0;
    ks_ticker_t *tk = &in->tk;
    if (snapshot) {
        KS_EVENT_INIT(tk, KS_EV_TICKER);
    }
    take(js, el, "lastPrice", &tk->last, &tk->fields, KS_TK_LAST);
    take(js, el, "markPrice", &tk->mark, &tk->fields, KS_TK_MARK);
    take(js, el, "indexPrice", &tk->index, &tk->fields, KS_TK_INDEX);
    take(js, el, "bid1Price", &tk->bid, &tk->fields, KS_TK_BID);
    take(js, el, "ask1Price", &tk->ask, &tk->fields, KS_TK_ASK);
    take(js, el, "fundingRate", &tk->funding_rate, &tk->fields, KS_TK_FUNDING_RATE);
    take(js, el, "openInterest", &tk->open_interest, &tk->fields, KS_TK_OPEN_INTEREST);
    take(js, el, "turnover24h", &tk->volume_quote_24h, &tk->fields, KS_TK_VOLUME_QUOTE_24H);
    if (ks_bybit_json_get_i64(js, el, "nextFundingTime", &v) == KS_OK && v > 0) {
        tk->next_funding_ts = ks_bybit_ms_to_ns(v);
        tk->fields |= KS_TK_NEXT_FUNDING;
    }
    if (ks_bybit_json_get_i64(js, el, "fundingIntervalHour", &v) == KS_OK && v > 0) {
        tk->funding_interval_h = (int32_t)v;
        tk->fields |= KS_TK_FUNDING_INTERVAL;
        /* Bybit changes intervals dynamically: a new one is a spec change. */
        if (in->spec_known && in->cat == KS_BYBIT_LINEAR && in->spec.funding_interval_h != v) {
            bb->api->log(bb->host, KS_LOG_INFO, "%s funding interval %dh -> %lldh", in->sym,
                         in->spec.funding_interval_h, (long long)v);
            in->spec.funding_interval_h = (int32_t)v;
            ks_bybit_inst_upsert(bb, in);
        }
    }
    if (!tk->fields || !wants(bb, in, KS_CH_TICKER))
        return 0;
    ks_ticker_t ev = *tk;
    ev.hdr.inst = in->id;
    ev.hdr.flags = flags;
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(ts_ms);
    emit(bb, &ev.hdr);
    return 1;
}

/* allLiquidation element {T, s, S, v, p}: S is the side of the liquidated POSITION
 * (Buy = a long was liquidated), so the forced order that hit the book is the opposite
 * side, which is what ks_liquidation_t.side means. */
static int on_liquidation(ks_bybit_t *bb, int cat, int el, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_bybit_inst_t *in = inst_of(bb, cat, el, "s");
    if (!in || !wants(bb, in, KS_CH_LIQUIDATIONS))
        return 0;
    ks_liquidation_t ev;
    int64_t t = 0;
    KS_EVENT_INIT(&ev, KS_EV_LIQUIDATION);
    ev.hdr.inst = in->id;
    ev.hdr.flags = flags;
    if (ks_bybit_json_get_dec(js, el, "p", &ev.px) != KS_OK ||
        ks_bybit_json_get_dec(js, el, "v", &ev.qty) != KS_OK)
        return 0;
    ks_bybit_json_get_i64(js, el, "T", &t);
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
    ev.side = (int8_t)-side_of(js, ks_bybit_json_get(js, el, "S"));
    emit(bb, &ev.hdr);
    return 1;
}

/* ---- private: orders, executions, positions, wallet -------------------------------- */

int ks_bybit_codec_status(const char *s, size_t len)
{
    static const struct {
        const char *name;
        int status;
    } map[] = {
        {"New", KS_OS_ACKED},
        {"PartiallyFilled", KS_OS_PARTIAL},
        {"Filled", KS_OS_FILLED},
        {"Cancelled", KS_OS_CANCELED},
        {"PartiallyFilledCanceled", KS_OS_CANCELED},
        {"Rejected", KS_OS_REJECTED},
        {"Deactivated", KS_OS_CANCELED},
        {"Untriggered", KS_OS_ACKED},
        {"Triggered", KS_OS_ACKED},
        {"Active", KS_OS_ACKED},
        {"Created", KS_OS_SENT},
        {"Expired", KS_OS_EXPIRED},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i].name) == len && memcmp(map[i].name, s, len) == 0)
            return map[i].status;
    return -1;
}

static bool contains(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(s + i, lit, n) == 0)
            return true;
    return false;
}

/* rejectReason (EC_...) of an order message -> KS_REJ_*. */
static int reject_of_reason(const ks_bybit_json_t *js, int tok)
{
    size_t len;
    const char *r = ks_bybit_json_raw(js, tok, &len);
    if (!r)
        return KS_REJ_OTHER;
#define HAS(lit) contains(r, len, lit)
    if (HAS("PostOnly"))
        return KS_REJ_POST_ONLY;
    if (HAS("ReduceOnly"))
        return KS_REJ_REDUCE_ONLY;
    if (HAS("Balance") || HAS("Margin"))
        return KS_REJ_INSUFFICIENT_FUNDS;
    if (HAS("Duplicate"))
        return KS_REJ_DUPLICATE_CLOID;
    if (HAS("NoImmediateQtyToFill") || HAS("NoFullFill"))
        return KS_REJ_NO_LIQUIDITY;
    if (HAS("Price") || HAS("Qty") || HAS("Invalid"))
        return KS_REJ_INVALID;
#undef HAS
    return KS_REJ_OTHER;
}

int ks_bybit_codec_reject(int64_t code, int http)
{
    if (http == 429 || http == 403)
        return KS_REJ_RATE_LIMIT;
    if (http == 401)
        return KS_REJ_AUTH;
    switch (code) {
    case 10002:
        return KS_REJ_TIMESTAMP;
    case 10003:
    case 10004:
    case 10005:
    case 10007:
    case 10009:
    case 10010:
    case 33004:
        return KS_REJ_AUTH;
    case 10006:
    case 10018:
    case 10429:
        return KS_REJ_RATE_LIMIT;
    case 110004:
    case 110006:
    case 110007:
    case 110012:
    case 110044:
    case 110045:
    case 170131:
    case 131212:
    case 131228:
        return KS_REJ_INSUFFICIENT_FUNDS;
    case 110017:
        return KS_REJ_REDUCE_ONLY;
    case 110072:
    case 170141:
        return KS_REJ_DUPLICATE_CLOID;
    case 110001:
    case 170213:
        return KS_REJ_UNKNOWN_ORDER;
    case 10001:
    case 110003:
    case 110020:
    case 110094:
    case 170134:
    case 170136:
    case 170137:
    case 170140:
    case 170193:
    case 170194:
        return KS_REJ_INVALID;
    default:
        return KS_REJ_OTHER;
    }
}

static int fee_of(const ks_bybit_json_t *js, int el, ks_dec_t *fee)
{
    /* cumFeeDetail {"USDT": "0.0679"} replaces the deprecated cumExecFee where present. */
    int det = ks_bybit_json_get(js, el, "cumFeeDetail");
    if (ks_bybit_json_type(js, det) == KS_BJ_OBJECT && js->tok[det].count == 1 &&
        ks_bybit_json_dec(js, ks_bybit_json_first(js, det), fee) == KS_OK)
        return KS_OK;
    return ks_bybit_json_get_dec(js, el, "cumExecFee", fee);
}

static int on_order(ks_bybit_t *bb, int cat, int el, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_order_update_t ev;
    size_t len;
    int64_t t = 0;

    KS_EVENT_INIT(&ev, KS_EV_ORDER);
    ev.hdr.flags = flags;
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "orderLinkId"), ev.cloid, sizeof(ev.cloid));
    if (bb->live && !ev.cloid[0])
        return 0; /* placed outside Kestrel: not ours to track */
    const char *st = ks_bybit_json_raw(js, ks_bybit_json_get(js, el, "orderStatus"), &len);
    int status = st ? ks_bybit_codec_status(st, len) : -1;
    if (status < 0) {
        bb->api->log(bb->host, KS_LOG_WARN, "order %s: unknown orderStatus \"%.*s\"", ev.cloid,
                     st ? (int)len : 0, st ? st : "");
        return 0;
    }
    ks_bybit_inst_t *in = inst_of(bb, cat, el, "symbol");
    ev.hdr.inst = in ? in->id : -1;
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "orderId"), ev.venue_id, sizeof(ev.venue_id));
    ev.status = (uint8_t)status;
    ev.side = (int8_t)side_of(js, ks_bybit_json_get(js, el, "side"));
    ev.type = ks_bybit_json_eq(js, ks_bybit_json_get(js, el, "orderType"), "Market") ? KS_ORD_MARKET
                                                                                     : KS_ORD_LIMIT;
    int tif = ks_bybit_json_get(js, el, "timeInForce");
    ev.tif = ks_bybit_json_eq(js, tif, "IOC")        ? KS_TIF_IOC
             : ks_bybit_json_eq(js, tif, "FOK")      ? KS_TIF_FOK
             : ks_bybit_json_eq(js, tif, "PostOnly") ? KS_TIF_POST_ONLY
                                                     : KS_TIF_GTC;
    ks_bybit_json_bool(js, ks_bybit_json_get(js, el, "reduceOnly"), &ev.reduce_only);
    ks_bybit_json_get_dec(js, el, "price", &ev.price);
    ks_bybit_json_get_dec(js, el, "qty", &ev.qty);
    ks_bybit_json_get_dec(js, el, "cumExecQty", &ev.filled);
    ks_bybit_json_get_dec(js, el, "avgPrice", &ev.avg_price);
    fee_of(js, el, &ev.fee);
    if (ks_bybit_json_get_i64(js, el, "updatedTime", &t) != KS_OK)
        ks_bybit_json_get_i64(js, el, "createdTime", &t);
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
    int rr = ks_bybit_json_get(js, el, "rejectReason");
    if (ev.status == KS_OS_REJECTED) {
        ev.reject = reject_of_reason(js, rr);
        ks_bybit_json_str(js, rr, ev.reason, sizeof(ev.reason));
    } else if (ev.status == KS_OS_CANCELED && ks_dec_is_zero(ev.filled) &&
               ks_bybit_json_eq(js, rr, "EC_PostOnlyWillTakeLiquidity")) {
        /* A post-only order that would have taken is cancelled at once: a rejection. */
        ev.status = KS_OS_REJECTED;
        ev.reject = KS_REJ_POST_ONLY;
        ks_bybit_json_str(js, rr, ev.reason, sizeof(ev.reason));
    }

    if (bb->live) {
        ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, ev.cloid);
        if (o && !(flags & KS_EVF_SNAPSHOT) && o->status == ev.status &&
            dec_eq(o->filled, ev.filled) && dec_eq(o->price, ev.price) && dec_eq(o->qty, ev.qty) &&
            ev.status != KS_OS_SENT)
            return 0; /* a repeat of what was already reported */
        if (ks_order_status_is_final(ev.status) && !(flags & KS_EVF_SNAPSHOT)) {
            /* A final state is reported once, also after the order left the table. */
            char key[KS_CLOID_LEN + 48];
            char fq[KS_DEC_STRLEN];
            ks_dec_format(ev.filled, fq, sizeof(fq));
            int kl = snprintf(key, sizeof(key), "%s|%d|%s", ev.cloid, ev.status, fq);
            if (ks_bybit_seen_check_add(&bb->seen_final, ks_bybit_hash(key, (size_t)kl)))
                return 0;
        }
        if (!o && !ks_order_status_is_final(ev.status))
            o = ks_bybit_orders_add(&bb->orders, ev.cloid);
        if (o) {
            o->status = ev.status;
            o->filled = ev.filled;
            o->avg_price = ev.avg_price;
            o->fee = ev.fee;
            o->inst = ev.hdr.inst;
            o->cat = (uint8_t)(cat < 0 ? 0 : cat);
            o->side = ev.side;
            o->type = ev.type;
            o->tif = ev.tif;
            o->reduce_only = ev.reduce_only;
            o->price = ev.price;
            o->qty = ev.qty;
            if (ev.venue_id[0])
                ks_strlcpy(o->venue_id, ev.venue_id, sizeof(o->venue_id));
            if (ks_order_status_is_final(ev.status) && !o->create_inflight)
                ks_bybit_orders_del(&bb->orders, o);
        }
    }
    emit(bb, &ev.hdr);
    return 1;
}

void ks_bybit_order_emit(ks_bybit_t *bb, ks_bybit_order_t *o, int status, int reject,
                         const char *reason, uint16_t flags)
{
    ks_order_update_t ev;
    KS_EVENT_INIT(&ev, KS_EV_ORDER);
    ev.hdr.inst = o->inst;
    ev.hdr.flags = flags;
    ks_strlcpy(ev.cloid, o->cloid, sizeof(ev.cloid));
    ks_strlcpy(ev.venue_id, o->venue_id, sizeof(ev.venue_id));
    ev.status = (uint8_t)status;
    ev.side = o->side;
    ev.type = o->type;
    ev.tif = o->tif;
    ev.reduce_only = o->reduce_only;
    ev.price = o->price;
    ev.qty = o->qty;
    ev.filled = o->filled;
    ev.avg_price = o->avg_price;
    ev.fee = o->fee;
    ev.reject = reject;
    if (reason)
        ks_strlcpy(ev.reason, reason, sizeof(ev.reason));
    o->status = (uint8_t)status;
    emit(bb, &ev.hdr);
}

/* execution element: a fill, or a funding settlement (execType "Funding"). */
static int on_exec(ks_bybit_t *bb, int cat, int el, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_bybit_inst_t *in = inst_of(bb, cat, el, "symbol");
    int64_t t = 0;
    size_t len;
    if (!in)
        return 0;
    ks_bybit_json_get_i64(js, el, "execTime", &t);
    int side = side_of(js, ks_bybit_json_get(js, el, "side"));
    char fee_asset[KS_ASSET_LEN] = "";
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "feeCurrency"), fee_asset, sizeof(fee_asset));
    if (!fee_asset[0])
        /* Spot buys pay the fee in the coin received; everything else in the quote. */
        ks_strlcpy(fee_asset,
                   in->cat == KS_BYBIT_SPOT && side == KS_SIDE_BUY ? in->base : in->quote,
                   sizeof(fee_asset));
    const char *id = ks_bybit_json_raw(js, ks_bybit_json_get(js, el, "execId"), &len);
    if (!id || !len)
        return 0;
    if (bb->live && !(flags & KS_EVF_SNAPSHOT) &&
        ks_bybit_seen_check_add(&bb->seen_exec, ks_bybit_hash(id, len))) {
        bb->n_dup_fills++;
        return 0;
    }

    if (ks_bybit_json_eq(js, ks_bybit_json_get(js, el, "execType"), "Funding")) {
        ks_funding_t ev;
        ks_dec_t fee = KS_DEC_ZERO;
        KS_EVENT_INIT(&ev, KS_EV_FUNDING);
        ev.hdr.inst = in->id;
        ev.hdr.flags = flags;
        ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
        ks_bybit_json_get_dec(js, el, "feeRate", &ev.rate);
        ks_bybit_json_get_dec(js, el, "execQty", &ev.position_qty);
        if (side == KS_SIDE_SELL)
            ev.position_qty = ks_dec_neg(ev.position_qty);
        /* execPrice is the price the fee was computed on (qty x execPrice x rate). */
        if (ks_bybit_json_get_dec(js, el, "execPrice", &ev.mark_px) != KS_OK)
            ks_bybit_json_get_dec(js, el, "markPrice", &ev.mark_px);
        /* execFee > 0: paid. Kestrel's amount > 0: received. */
        ks_bybit_json_get_dec(js, el, "execFee", &fee);
        ev.amount = ks_dec_neg(fee);
        ks_strlcpy(ev.asset, fee_asset, sizeof(ev.asset));
        emit(bb, &ev.hdr);
        return 1;
    }

    ks_fill_t ev;
    KS_EVENT_INIT(&ev, KS_EV_FILL);
    ev.hdr.inst = in->id;
    ev.hdr.flags = flags;
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "orderLinkId"), ev.cloid, sizeof(ev.cloid));
    if (bb->live && !ev.cloid[0]) {
        bb->api->log(bb->host, KS_LOG_INFO, "%s execution %.*s without orderLinkId (%s)", in->sym,
                     (int)len, id, "not placed by Kestrel");
        return 0;
    }
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "orderId"), ev.venue_id, sizeof(ev.venue_id));
    memcpy(ev.trade_id, id, len < sizeof(ev.trade_id) ? len : sizeof(ev.trade_id) - 1);
    ev.side = (int8_t)side;
    ks_bybit_json_bool(js, ks_bybit_json_get(js, el, "isMaker"), &ev.maker);
    ks_bybit_json_get_dec(js, el, "execPrice", &ev.px);
    ks_bybit_json_get_dec(js, el, "execQty", &ev.qty);
    ks_bybit_json_get_dec(js, el, "execFee", &ev.fee);
    ks_strlcpy(ev.fee_asset, fee_asset, sizeof(ev.fee_asset));
    emit(bb, &ev.hdr);
    return 1;
}

static int on_position(ks_bybit_t *bb, int cat, int el, int64_t ts_ms, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    ks_bybit_inst_t *in = inst_of(bb, cat, el, "symbol");
    int64_t t = 0;
    ks_dec_t lev;
    if (!in)
        return 0;
    ks_position_t ev;
    KS_EVENT_INIT(&ev, KS_EV_POSITION);
    ev.hdr.inst = in->id;
    ev.hdr.flags = flags;
    if (ks_bybit_json_get_i64(js, el, "updatedTime", &t) != KS_OK || t <= 0)
        t = ts_ms;
    ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
    ks_bybit_json_get_dec(js, el, "size", &ev.qty);
    if (side_of(js, ks_bybit_json_get(js, el, "side")) == KS_SIDE_SELL)
        ev.qty = ks_dec_neg(ev.qty);
    /* REST: avgPrice; WebSocket: entryPrice. */
    if (ks_bybit_json_get_dec(js, el, "entryPrice", &ev.entry_px) != KS_OK)
        ks_bybit_json_get_dec(js, el, "avgPrice", &ev.entry_px);
    ks_bybit_json_get_dec(js, el, "markPrice", &ev.mark_px);
    ks_bybit_json_get_dec(js, el, "liqPrice", &ev.liq_px);
    if (ks_bybit_json_get_dec(js, el, "positionIM", &ev.margin) != KS_OK)
        ks_bybit_json_get_dec(js, el, "positionBalance", &ev.margin);
    ks_bybit_json_get_dec(js, el, "unrealisedPnl", &ev.upnl);
    if (ks_bybit_json_get_dec(js, el, "leverage", &lev) == KS_OK) {
        ks_dec_t whole;
        if (ks_dec_rescale(lev, 0, KS_ROUND_FLOOR, &whole) == KS_OK)
            ev.leverage = (int32_t)whole.mant;
    }
    emit(bb, &ev.hdr);
    return 1;
}

static int on_wallet(ks_bybit_t *bb, int el, int64_t ts_ms, uint16_t flags)
{
    const ks_bybit_json_t *js = &bb->js;
    int acct = ks_bybit_json_get(js, el, "accountType");
    int wallet = ks_bybit_json_eq(js, acct, "UNIFIED")    ? KS_WALLET_UNIFIED
                 : ks_bybit_json_eq(js, acct, "CONTRACT") ? KS_WALLET_FUTURES
                 : ks_bybit_json_eq(js, acct, "SPOT")     ? KS_WALLET_SPOT
                                                          : 0;
    int n = 0;
    if (!wallet)
        return 0;
    int coins = ks_bybit_json_get(js, el, "coin");
    for (int c = ks_bybit_json_first(js, coins); c > 0; c = ks_bybit_json_next(js, c)) {
        ks_balance_t ev;
        ks_dec_t im = KS_DEC_ZERO, oim = KS_DEC_ZERO, locked = KS_DEC_ZERO, used;
        KS_EVENT_INIT(&ev, KS_EV_BALANCE);
        ev.hdr.flags = flags;
        ev.hdr.venue_ts = ks_bybit_ms_to_ns(ts_ms);
        ev.wallet = (uint8_t)wallet;
        if (ks_bybit_json_str(js, ks_bybit_json_get(js, c, "coin"), ev.asset, sizeof(ev.asset)) <=
            0)
            continue;
        ks_bybit_json_get_dec(js, c, "walletBalance", &ev.total);
        ks_bybit_json_get_dec(js, c, "equity", &ev.equity);
        ks_bybit_json_get_dec(js, c, "totalPositionIM", &im);
        ks_bybit_json_get_dec(js, c, "totalOrderIM", &oim);
        ks_bybit_json_get_dec(js, c, "locked", &locked);
        ks_bybit_json_get_dec(js, c, "totalPositionMM", &ev.maint_margin);
        ks_dec_add(im, oim, &ev.initial_margin);
        /* UTA 2.0 leaves availableToWithdraw empty: available = wallet - margin in use
         * (position IM + order IM) - locked (spot orders), as ccxt computes it. */
        if (ks_bybit_json_get_dec(js, c, "availableToWithdraw", &ev.available) != KS_OK) {
            if (ks_dec_add(ev.initial_margin, locked, &used) != KS_OK ||
                ks_dec_sub(ev.total, used, &ev.available) != KS_OK)
                ev.available = ev.total;
        }
        emit(bb, &ev.hdr);
        n++;
    }
    /* The account as a whole (USD valued): equity and margin for margin-level checks. */
    ks_balance_t tot;
    KS_EVENT_INIT(&tot, KS_EV_BALANCE);
    tot.hdr.flags = flags;
    tot.hdr.venue_ts = ks_bybit_ms_to_ns(ts_ms);
    tot.wallet = (uint8_t)wallet;
    if (ks_bybit_json_get_dec(js, el, "totalEquity", &tot.equity) == KS_OK) {
        ks_strlcpy(tot.asset, "USD", sizeof(tot.asset));
        ks_bybit_json_get_dec(js, el, "totalWalletBalance", &tot.total);
        ks_bybit_json_get_dec(js, el, "totalAvailableBalance", &tot.available);
        ks_bybit_json_get_dec(js, el, "totalInitialMargin", &tot.initial_margin);
        ks_bybit_json_get_dec(js, el, "totalMaintenanceMargin", &tot.maint_margin);
        emit(bb, &tot.hdr);
        n++;
    }
    return n;
}

/* ---- instruments ------------------------------------------------------------------- */

static int on_instrument(ks_bybit_t *bb, int cat, int el)
{
    const ks_bybit_json_t *js = &bb->js;
    size_t len;
    const char *sym = ks_bybit_json_raw(js, ks_bybit_json_get(js, el, "symbol"), &len);
    if (!sym || !len || cat < 0)
        return 0;
    if (cat == KS_BYBIT_LINEAR) {
        int ct = ks_bybit_json_get(js, el, "contractType");
        if (ct > 0 && !ks_bybit_json_eq(js, ct, "LinearPerpetual"))
            return 0; /* dated futures are not modelled */
    }
    char quote[KS_ASSET_LEN] = "", settle[KS_ASSET_LEN] = "";
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "quoteCoin"), quote, sizeof(quote));
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "settleCoin"), settle, sizeof(settle));
    if (bb->live) {
        /* Registered: the configured symbols, else every USDT spot pair / USDT perp. */
        if (bb->cfg.n_symbols) {
            bool hit = false;
            for (uint32_t i = 0; i < bb->cfg.n_symbols && !hit; i++)
                hit =
                    strlen(bb->cfg.symbols[i]) == len && memcmp(bb->cfg.symbols[i], sym, len) == 0;
            if (!hit)
                return 0;
        } else if (strcmp(cat == KS_BYBIT_SPOT ? quote : settle, "USDT") != 0) {
            return 0;
        }
    }
    ks_bybit_inst_t *in = ks_bybit_inst_get(bb, cat, sym, len, KS_BYBIT_CREATE_BARE);
    if (!in)
        return 0;
    ks_instrument_t *s = &in->spec;
    ks_bybit_json_str(js, ks_bybit_json_get(js, el, "baseCoin"), in->base, sizeof(in->base));
    if (quote[0])
        ks_strlcpy(in->quote, quote, sizeof(in->quote));
    int pf = ks_bybit_json_get(js, el, "priceFilter");
    int lf = ks_bybit_json_get(js, el, "lotSizeFilter");
    ks_bybit_json_get_dec(js, pf, "tickSize", &s->tick_size);
    ks_bybit_json_get_dec(js, lf, "minOrderQty", &s->min_qty);
    if (cat == KS_BYBIT_SPOT) {
        ks_bybit_json_get_dec(js, lf, "basePrecision", &s->lot_size);
        ks_bybit_json_get_dec(js, lf, "minOrderAmt", &s->min_notional);
        if (ks_bybit_json_get_dec(js, lf, "maxLimitOrderQty", &s->max_qty) != KS_OK)
            ks_bybit_json_get_dec(js, lf, "maxOrderQty", &s->max_qty);
        s->max_leverage = 1;
        s->funding_interval_h = 0;
    } else {
        int64_t minutes = 0;
        ks_dec_t lev;
        ks_bybit_json_get_dec(js, lf, "qtyStep", &s->lot_size);
        ks_bybit_json_get_dec(js, lf, "minNotionalValue", &s->min_notional);
        ks_bybit_json_get_dec(js, lf, "maxOrderQty", &s->max_qty);
        if (ks_bybit_json_get_dec(js, ks_bybit_json_get(js, el, "leverageFilter"), "maxLeverage",
                                  &lev) == KS_OK) {
            ks_dec_t whole;
            if (ks_dec_rescale(lev, 0, KS_ROUND_FLOOR, &whole) == KS_OK)
                s->max_leverage = (int32_t)whole.mant;
        }
        /* fundingInterval is in minutes (480 = 8 h). */
        if (ks_bybit_json_get_i64(js, el, "fundingInterval", &minutes) == KS_OK && minutes > 0)
            s->funding_interval_h = (int32_t)(minutes >= 60 ? minutes / 60 : 1);
    }
    s->flags = ks_bybit_json_eq(js, ks_bybit_json_get(js, el, "status"), "Trading")
                   ? KS_INST_TRADING
                   : KS_INST_HALTED;
    in->spec_known = true;
    in->listed = true;
    return ks_bybit_inst_upsert(bb, in) == KS_OK ? 1 : 0;
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* One element of result.list, recognized by its shape. */
static int on_element(ks_bybit_t *bb, int cat, int el, int result, uint16_t flags, int64_t time_ms)
{
    const ks_bybit_json_t *js = &bb->js;
    int ecat = el_cat(js, el, cat);
#define HAS(k) (ks_bybit_json_get(js, el, k) > 0)
    if (ks_bybit_json_type(js, el) != KS_BJ_OBJECT)
        return 0;
    if (HAS("lotSizeFilter"))
        return on_instrument(bb, ecat, el);
    if (HAS("orderStatus"))
        return on_order(bb, ecat, el, flags);
    if (HAS("execType"))
        return on_exec(bb, ecat, el, flags);
    if (HAS("execId") && HAS("price"))
        return on_trade(bb, ecat, el, true, flags);
    if (HAS("accountType") && HAS("coin"))
        return on_wallet(bb, el, time_ms, flags);
    if (HAS("positionIdx") ||
        (HAS("size") && HAS("side") && (HAS("avgPrice") || HAS("entryPrice"))))
        return on_position(bb, ecat, el, time_ms, flags);
    if (HAS("fundingRateTimestamp"))
        return 0; /* funding history: settled rates, not live market state */
    if (HAS("openInterest") && HAS("timestamp") && !HAS("symbol")) {
        /* /v5/market/open-interest: {symbol, list: [{openInterest, timestamp}]} */
        size_t len;
        const char *sym = ks_bybit_json_raw(js, ks_bybit_json_get(js, result, "symbol"), &len);
        ks_bybit_inst_t *in =
            sym && ecat >= 0 ? ks_bybit_inst_get(bb, ecat, sym, len, KS_BYBIT_CREATE_INFER) : NULL;
        int64_t t = 0;
        if (!in || !wants(bb, in, KS_CH_TICKER) ||
            ks_bybit_json_get_dec(js, el, "openInterest", &in->tk.open_interest) != KS_OK)
            return 0;
        in->tk.fields |= KS_TK_OPEN_INTEREST;
        ks_bybit_json_get_i64(js, el, "timestamp", &t);
        ks_ticker_t ev = in->tk;
        ev.hdr.inst = in->id;
        ev.hdr.flags = flags;
        ev.hdr.venue_ts = ks_bybit_ms_to_ns(t);
        emit(bb, &ev.hdr);
        return 1;
    }
    if (HAS("symbol") && (HAS("lastPrice") || HAS("bid1Price") || HAS("markPrice"))) {
        int64_t t = time_ms;
        ks_bybit_json_get_i64(js, el, "timestamp", &t);
        return on_ticker(bb, ecat, el, true, t, flags);
    }
#undef HAS
    return 0;
}

int ks_bybit_codec_result(ks_bybit_t *bb, int result, int cat, uint16_t flags, int64_t time_ms)
{
    const ks_bybit_json_t *js = &bb->js;
    if (ks_bybit_json_type(js, result) != KS_BJ_OBJECT)
        return 0;
    if (cat < 0) {
        size_t len;
        const char *c = ks_bybit_json_raw(js, ks_bybit_json_get(js, result, "category"), &len);
        if (c && len) {
            cat = ks_bybit_cat_parse(c, len);
            if (cat < 0)
                return 0; /* option, inverse: not handled */
        } else {
            cat = bb->cfg.decode_category;
        }
    }
    int list = ks_bybit_json_get(js, result, "list");
    if (ks_bybit_json_type(js, list) == KS_BJ_ARRAY) {
        int n = 0;
        for (int el = ks_bybit_json_first(js, list); el > 0; el = ks_bybit_json_next(js, el))
            n += on_element(bb, cat, el, result, flags, time_ms);
        return n;
    }
    if (ks_bybit_json_get(js, result, "b") > 0 && ks_bybit_json_get(js, result, "a") > 0) {
        /* /v5/market/orderbook: a full snapshot */
        int64_t ts = time_ms;
        ks_bybit_json_get_i64(js, result, "ts", &ts);
        return on_book(bb, cat, result, true, ts, flags);
    }
    return 0;
}

/* A tokenized WebSocket frame (root object with "topic"). */
int ks_bybit_codec_ws_doc(ks_bybit_t *bb, int cat)
{
    const ks_bybit_json_t *js = &bb->js;
    size_t tl;
    const char *topic = ks_bybit_json_raw(js, ks_bybit_json_get(js, 0, "topic"), &tl);
    int64_t ts = 0;
    int n = 0;
    if (!topic)
        return 0; /* op replies: pong, subscribe, auth */
    if (ks_bybit_json_get_i64(js, 0, "ts", &ts) != KS_OK)
        ks_bybit_json_get_i64(js, 0, "creationTime", &ts);
    int data = ks_bybit_json_get(js, 0, "data");
    bool snapshot = ks_bybit_json_eq(js, ks_bybit_json_get(js, 0, "type"), "snapshot");

    if (TOPIC_IS(topic, tl, "orderbook."))
        return on_book(bb, cat, data, snapshot, ts, 0);
    if (TOPIC_IS(topic, tl, "tickers."))
        return on_ticker(bb, cat, data, snapshot, ts, 0);
    if (TOPIC_IS(topic, tl, "publicTrade.")) {
        for (int el = ks_bybit_json_first(js, data); el > 0; el = ks_bybit_json_next(js, el))
            n += on_trade(bb, cat, el, false, 0);
        return n;
    }
    if (TOPIC_IS(topic, tl, "allLiquidation.")) {
        for (int el = ks_bybit_json_first(js, data); el > 0; el = ks_bybit_json_next(js, el))
            n += on_liquidation(bb, KS_BYBIT_LINEAR, el, 0);
        return n;
    }
    /* Private topics: "order", "order.linear", "execution", "execution.fast", ... */
    int kind = TOPIC_IS(topic, tl, "order")       ? 1
               : TOPIC_IS(topic, tl, "execution") ? 2
               : TOPIC_IS(topic, tl, "position")  ? 3
               : TOPIC_IS(topic, tl, "wallet")    ? 4
                                                  : 0;
    if (!kind)
        return 0; /* kline, lt, ... */
    int fallback = cat >= 0 ? cat : KS_BYBIT_LINEAR;
    for (int el = ks_bybit_json_first(js, data); el > 0; el = ks_bybit_json_next(js, el)) {
        int ecat = el_cat(js, el, fallback);
        switch (kind) {
        case 1:
            n += on_order(bb, ecat, el, 0);
            break;
        case 2:
            n += on_exec(bb, ecat, el, 0);
            break;
        case 3:
            n += on_position(bb, ecat, el, ts, 0);
            break;
        case 4:
            n += on_wallet(bb, el, ts, 0);
            break;
        }
    }
    return n;
}

int ks_bybit_codec_ws(ks_bybit_t *bb, int cat, const char *msg, size_t len)
{
    if (ks_bybit_json_parse(&bb->js, msg, len) != KS_OK ||
        ks_bybit_json_type(&bb->js, 0) != KS_BJ_OBJECT)
        return -1;
    return ks_bybit_codec_ws_doc(bb, cat);
}

int ks_bybit_codec_decode(ks_bybit_t *bb, const char *msg, size_t len)
{
    ks_bybit_json_t *js = &bb->js;
    if (ks_bybit_json_parse(js, msg, len) != KS_OK || ks_bybit_json_type(js, 0) != KS_BJ_OBJECT)
        return KS_EPROTO;
    if (ks_bybit_json_get(js, 0, "topic") > 0)
        return ks_bybit_codec_ws_doc(bb, bb->cfg.decode_category);
    int rc = ks_bybit_json_get(js, 0, "retCode");
    if (rc > 0) {
        int64_t code = -1, t = 0;
        if (ks_bybit_json_i64(js, rc, &code) != KS_OK || code != 0)
            return 0; /* an error reply carries no state */
        ks_bybit_json_get_i64(js, 0, "time", &t);
        return ks_bybit_codec_result(bb, ks_bybit_json_get(js, 0, "result"), -1, 0, t);
    }
    return 0; /* op replies (pong, auth, subscribe) */
}
