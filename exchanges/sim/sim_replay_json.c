/* sim_replay_json: recorded exchange messages (JSON) -> replay events.
 *
 *   hftbacktest      gzip lines "<recv ns> <raw JSON>": Binance USD-M / spot combined
 *                    streams (depthUpdate with U/u/pu, bookTicker, trade) plus one REST depth
 *                    snapshot; Hyperliquid l2Book / trades / bbo / activeAssetCtx
 *   cryptofeed       JSON lines {"t","conn","ts","data"}: Bybit v5 (orderbook, tickers,
 *                    publicTrade, allLiquidation, instruments-info) and Binance futures
 *                    (depth, bookTicker, aggTrade, markPrice, forceOrder, REST depth and
 *                    exchangeInfo); the older text format "<ts>: <json>" of the same
 *   bybit history    JSON lines of Bybit's public history files (orderbook snapshot/delta)
 *   hl asset ctxs    one allDexsAssetCtxs message (positional; see sim_replay.h)
 *
 * Binance diff books are synchronized at load time the way a live client does it: diffs
 * before the REST snapshot are held, those newer than the snapshot's lastUpdateId are
 * applied right after it, later ones are checked for continuity (U/u/pu; a gap is counted
 * and the diff still applied), and BBOs older than the book are dropped. */
#include "sim_replay.h"

#include "sim_lines.h"
#include "sim_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NS_PER_MS 1000000LL
#define NS_PER_H  (3600LL * 1000000000LL)
#define MAX_SYNC  64
#define MAX_CONN  16
#define MAX_LV    8192

/* A diff received before the book's snapshot. */
typedef struct pend {
    int64_t ts, venue_ts;
    uint64_t U, u, pu, off;
    uint32_t nb, na;
} pend_t;

typedef struct bsync {
    int32_t inst;
    bool synced, first;
    uint64_t last_u;
    pend_t *pend;
    uint32_t n_pend, cap_pend;
} bsync_t;

typedef struct rctx {
    ks_replay_t *r;
    ks_rp_file_t *f;
    const char *path;
    ks_json_doc_t doc, inner;
    bsync_t sync[MAX_SYNC];
    int n_sync;
    int binance_mode; /* 0 unknown, 1 futures, 2 spot */
    char last_symbol[KS_SYMBOL_LEN];
    struct {
        char conn[64];
        int kind; /* KS_KIND_SPOT / KS_KIND_PERP */
    } conns[MAX_CONN];
    int n_conns;
    int exchange; /* cryptofeed header: 1 Bybit, 2 Binance futures, 3 Binance spot */
    ks_level_t lv[MAX_LV];
    char *err;
    size_t err_len;
} rctx_t;

/* ---- small JSON helpers --------------------------------------------------------------- */

/* A decimal from its text. Values with more significant digits than a ks_dec_t holds
 * (some 24 h notional volumes: "1516669192.1953897476") lose their last fraction digits. */
static bool jdec(const ks_json_t *v, ks_dec_t *out)
{
    if (!v || (v->type != KS_JSON_STRING && v->type != KS_JSON_NUMBER) || !v->len)
        return false;
    size_t n = v->len;
    int rc = ks_dec_parse(v->text, n, out);
    const char *dot = memchr(v->text, '.', n);
    while (rc == KS_ERANGE && dot && !memchr(v->text, 'e', n) && !memchr(v->text, 'E', n) &&
           n > (size_t)(dot - v->text) + 1)
        rc = ks_dec_parse(v->text, --n, out);
    if (rc != KS_OK)
        return false;
    *out = ks_dec_normalize(*out);
    return true;
}

static bool jstr(const ks_json_t *v, char *buf, size_t cap)
{
    if (!v || v->type != KS_JSON_STRING || v->len >= cap)
        return false;
    memcpy(buf, v->text, v->len + 1);
    return true;
}

static bool jms(const ks_json_t *v, int64_t *ns)
{
    return v && (v->type == KS_JSON_NUMBER || v->type == KS_JSON_STRING) &&
           ks_sim_ms_to_ns(v->text, v->len, ns);
}

static bool ju64(const ks_json_t *v, uint64_t *out)
{
    char *end;
    if (!v || (v->type != KS_JSON_NUMBER && v->type != KS_JSON_STRING) || !v->len)
        return false;
    errno = 0;
    unsigned long long x = strtoull(v->text, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

static void upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 32);
}

/* ---- instruments ---------------------------------------------------------------------- */

static int32_t pair_inst(rctx_t *c, uint8_t kind, const char *id_in)
{
    char id[KS_SYMBOL_LEN], base[KS_ASSET_LEN], quote[KS_ASSET_LEN];
    ks_strlcpy(id, id_in, sizeof(id));
    upper(id);
    if (!ks_replay_split_pair(id, base, sizeof(base), quote, sizeof(quote)))
        return -1;
    return ks_replay_inst_get(c->r, kind, id, base, quote, NULL);
}

/* Hyperliquid coin: "BTC" -> BTC/USDC:USDC, "xyz:TSLA" -> XYZ-TSLA/USDC:USDC (dex xyz);
 * spot ("@107", "PURR/USDC") is not replayed. */
static int32_t hl_inst(rctx_t *c, const char *coin)
{
    char base[KS_ASSET_LEN], dex[KS_NAME_LEN] = "";
    const char *colon = strchr(coin, ':');
    if (coin[0] == '@' || strchr(coin, '/'))
        return -1;
    if (colon) {
        size_t dl = (size_t)(colon - coin);
        if (dl >= sizeof(dex))
            return -1;
        memcpy(dex, coin, dl);
        dex[dl] = '\0';
        if (dl + 1 + strlen(colon + 1) >= sizeof(base))
            return -1;
        memcpy(base, dex, dl);
        base[dl] = '-';
        strcpy(base + dl + 1, colon + 1);
        upper(base);
    } else {
        ks_strlcpy(base, coin, sizeof(base));
    }
    return ks_replay_inst_get(c->r, KS_KIND_PERP, coin, base, "USDC", dex[0] ? dex : NULL);
}

/* ---- event helpers -------------------------------------------------------------------- */

static int push(rctx_t *c, ks_rp_event_t *e)
{
    return ks_replay_push(c->r, c->f, e) ? KS_OK : KS_ENOMEM;
}

/* Counts one source message by what it becomes (several events may come from it). */
static void seen_msg(rctx_t *c, int kind)
{
    c->f->messages[kind]++;
}

/* Reads [[px, qty], ...] (Binance, Bybit) or [{px, sz}, ...] (Hyperliquid) into c->lv
 * from position *n. */
static bool read_levels(rctx_t *c, int32_t inst, const ks_json_t *arr, uint32_t *n)
{
    if (!arr)
        return true;
    if (arr->type != KS_JSON_ARRAY)
        return false;
    for (const ks_json_t *x = arr->child; x; x = x->next) {
        ks_level_t l;
        if (x->type == KS_JSON_ARRAY) {
            const ks_json_t *p = x->child;
            const ks_json_t *q = p ? p->next : NULL;
            if (!jdec(p, &l.px) || !jdec(q, &l.qty))
                return false;
        } else if (x->type == KS_JSON_OBJECT) {
            if (!jdec(ks_json_get(x, "px"), &l.px) || !jdec(ks_json_get(x, "sz"), &l.qty))
                return false;
        } else {
            return false;
        }
        if (*n >= MAX_LV)
            return true; /* deeper than anyone trades against */
        c->lv[(*n)++] = l;
        ks_replay_seen(c->r, inst, l.px, l.qty);
    }
    return true;
}

/* Levels (bids then asks) from c->lv into the pool, as a book event. */
static int push_book(rctx_t *c, int64_t ts, int64_t venue_ts, int32_t inst, bool snapshot,
                     uint32_t nb, uint32_t na)
{
    ks_rp_event_t e;
    memset(&e, 0, sizeof(e));
    e.ts = ts;
    e.venue_ts = venue_ts;
    e.inst = inst;
    e.kind = KS_RP_BOOK;
    e.flags = snapshot ? KS_RPF_SNAPSHOT : 0;
    e.n_bids = nb;
    e.n_asks = na;
    if (ks_replay_push_levels(c->r, c->lv, nb + na, &e.off) != KS_OK)
        return KS_ENOMEM;
    ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_BOOK;
    if (snapshot)
        c->f->snapshots++;
    return push(c, &e);
}

static bsync_t *sync_of(rctx_t *c, int32_t inst)
{
    for (int i = 0; i < c->n_sync; i++)
        if (c->sync[i].inst == inst)
            return &c->sync[i];
    if (c->n_sync == MAX_SYNC)
        return NULL;
    bsync_t *s = &c->sync[c->n_sync++];
    memset(s, 0, sizeof(*s));
    s->inst = inst;
    return s;
}

/* A diff of a synchronized book: continuity check, then the event. */
static int apply_diff(rctx_t *c, bsync_t *s, int64_t ts, int64_t venue_ts, uint64_t U, uint64_t u,
                      uint64_t pu, uint64_t off, uint32_t nb, uint32_t na)
{
    if (u <= s->last_u) {
        c->f->skipped++;
        return KS_OK; /* already in the snapshot */
    }
    bool futures = c->binance_mode != 2;
    bool cont;
    if (s->first)
        cont = U <= s->last_u + 1;
    else if (futures && pu)
        cont = pu == s->last_u;
    else
        cont = U == s->last_u + 1;
    if (!cont)
        c->f->book_gaps++;
    s->first = false;
    s->last_u = u;
    ks_rp_event_t e;
    memset(&e, 0, sizeof(e));
    e.ts = ts;
    e.venue_ts = venue_ts;
    e.inst = s->inst;
    e.kind = KS_RP_BOOK;
    e.n_bids = nb;
    e.n_asks = na;
    e.off = off;
    return push(c, &e);
}

static int binance_snapshot(rctx_t *c, int64_t ts, int64_t venue_ts, int32_t inst, uint64_t last_id,
                            uint32_t nb, uint32_t na)
{
    bsync_t *s = sync_of(c, inst);
    if (!s)
        return KS_ERANGE;
    int rc = push_book(c, ts, venue_ts, inst, true, nb, na);
    if (rc != KS_OK)
        return rc;
    s->synced = true;
    s->first = true;
    s->last_u = last_id;
    for (uint32_t i = 0; i < s->n_pend && rc == KS_OK; i++) {
        const pend_t *p = &s->pend[i];
        rc = apply_diff(c, s, ts, p->venue_ts, p->U, p->u, p->pu, p->off, p->nb, p->na);
    }
    free(s->pend);
    s->pend = NULL;
    s->n_pend = s->cap_pend = 0;
    return rc;
}

static int binance_diff(rctx_t *c, int64_t ts, int64_t venue_ts, int32_t inst, uint64_t U,
                        uint64_t u, uint64_t pu, uint32_t nb, uint32_t na)
{
    bsync_t *s = sync_of(c, inst);
    uint64_t off;
    if (!s)
        return KS_ERANGE;
    if (ks_replay_push_levels(c->r, c->lv, nb + na, &off) != KS_OK)
        return KS_ENOMEM;
    ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_BOOK;
    if (s->synced)
        return apply_diff(c, s, ts, venue_ts, U, u, pu, off, nb, na);
    if (s->n_pend == s->cap_pend) {
        uint32_t cap = s->cap_pend ? s->cap_pend * 2 : 64;
        pend_t *p = realloc(s->pend, cap * sizeof(*p));
        if (!p)
            return KS_ENOMEM;
        s->pend = p;
        s->cap_pend = cap;
    }
    s->pend[s->n_pend++] = (pend_t){ts, venue_ts, U, u, pu, off, nb, na};
    return KS_OK;
}

/* ---- Binance -------------------------------------------------------------------------- */

static int binance_symbol_inst(rctx_t *c, const char *sym)
{
    ks_strlcpy(c->last_symbol, sym, sizeof(c->last_symbol));
    upper(c->last_symbol);
    return pair_inst(c, c->binance_mode == 2 ? KS_KIND_SPOT : KS_KIND_PERP, sym);
}

/* A REST depth snapshot {"lastUpdateId", "bids", "asks"} for `symbol`. */
static int binance_rest_depth(rctx_t *c, int64_t ts, const ks_json_t *o, const char *symbol)
{
    uint64_t last;
    int64_t vts = 0;
    uint32_t nb = 0, na = 0;
    if (!symbol || !symbol[0])
        return KS_EPROTO;
    seen_msg(c, KS_RP_BOOK);
    int32_t inst = binance_symbol_inst(c, symbol);
    if (inst < 0 || !ju64(ks_json_get(o, "lastUpdateId"), &last))
        return KS_EPROTO;
    jms(ks_json_get(o, "E"), &vts);
    if (!read_levels(c, inst, ks_json_get(o, "bids"), &nb))
        return KS_EPROTO;
    na = nb;
    if (!read_levels(c, inst, ks_json_get(o, "asks"), &na))
        return KS_EPROTO;
    return binance_snapshot(c, ts, vts, inst, last, nb, na - nb);
}

/* One Binance stream payload (the "data" of a combined stream, or a raw one). */
static int binance_payload(rctx_t *c, int64_t ts, const ks_json_t *o, const char *stream)
{
    char ev[32] = "", sym[KS_SYMBOL_LEN];
    jstr(ks_json_get(o, "e"), ev, sizeof(ev));
    if (!ev[0] && stream && strstr(stream, "@bookTicker"))
        ks_strlcpy(ev, "bookTicker", sizeof(ev));
    if (!ev[0] && ks_json_get(o, "lastUpdateId"))
        return binance_rest_depth(c, ts, o, c->last_symbol);
    /* Spot or futures: futures diffs carry pu, futures bookTickers carry e. */
    if (!c->binance_mode) {
        if (strcmp(ev, "depthUpdate") == 0)
            c->binance_mode = ks_json_get(o, "pu") ? 1 : 2;
        else if (stream && strstr(stream, "@bookTicker"))
            c->binance_mode = ks_json_get(o, "e") ? 1 : 2;
    }
    if (strcmp(ev, "forceOrder") == 0) {
        const ks_json_t *x = ks_json_get(o, "o");
        seen_msg(c, KS_RP_LIQ);
        ks_rp_event_t e;
        char side[8] = "";
        memset(&e, 0, sizeof(e));
        if (!x || !jstr(ks_json_get(x, "s"), sym, sizeof(sym)) ||
            !jstr(ks_json_get(x, "S"), side, 8) || !jdec(ks_json_get(x, "ap"), &e.px) ||
            !(jdec(ks_json_get(x, "z"), &e.qty) || jdec(ks_json_get(x, "q"), &e.qty)))
            return KS_EPROTO;
        if ((e.inst = pair_inst(c, KS_KIND_PERP, sym)) < 0)
            return KS_EPROTO;
        e.side = strcmp(side, "SELL") == 0 ? KS_SIDE_SELL : KS_SIDE_BUY;
        e.kind = KS_RP_LIQ;
        e.ts = ts;
        jms(ks_json_get(x, "T"), &e.venue_ts);
        ks_replay_seen(c->r, e.inst, e.px, e.qty);
        return push(c, &e);
    }
    if (!jstr(ks_json_get(o, "s"), sym, sizeof(sym))) {
        c->f->skipped++;
        return KS_OK;
    }
    int32_t inst = binance_symbol_inst(c, sym);
    if (inst < 0)
        return KS_EPROTO;
    ks_rp_event_t e;
    memset(&e, 0, sizeof(e));
    e.ts = ts;
    e.inst = inst;
    if (strcmp(ev, "depthUpdate") == 0) {
        uint64_t U = 0, u = 0, pu = 0;
        seen_msg(c, KS_RP_BOOK);
        uint32_t nb = 0, na;
        jms(ks_json_get(o, "E"), &e.venue_ts);
        if (!ju64(ks_json_get(o, "U"), &U) || !ju64(ks_json_get(o, "u"), &u))
            return KS_EPROTO;
        ju64(ks_json_get(o, "pu"), &pu);
        if (!read_levels(c, inst, ks_json_get(o, "b"), &nb))
            return KS_EPROTO;
        na = nb;
        if (!read_levels(c, inst, ks_json_get(o, "a"), &na))
            return KS_EPROTO;
        return binance_diff(c, ts, e.venue_ts, inst, U, u, pu, nb, na - nb);
    }
    if (strcmp(ev, "bookTicker") == 0) {
        uint64_t u = 0;
        ju64(ks_json_get(o, "u"), &u);
        seen_msg(c, KS_RP_BBO);
        bsync_t *s = sync_of(c, inst);
        if (s && s->synced && u && u <= s->last_u) {
            c->f->skipped++; /* older than the book */
            return KS_OK;
        }
        if (!jdec(ks_json_get(o, "b"), &e.px) || !jdec(ks_json_get(o, "B"), &e.qty) ||
            !jdec(ks_json_get(o, "a"), &e.px2) || !jdec(ks_json_get(o, "A"), &e.qty2))
            return KS_EPROTO;
        jms(ks_json_get(o, "E"), &e.venue_ts);
        e.kind = KS_RP_BBO;
        ks_replay_seen(c->r, inst, e.px, e.qty);
        ks_replay_seen(c->r, inst, e.px2, e.qty2);
        ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_BOOK;
        return push(c, &e);
    }
    if (strcmp(ev, "trade") == 0 || strcmp(ev, "aggTrade") == 0) {
        const ks_json_t *m = ks_json_get(o, "m");
        seen_msg(c, KS_RP_TRADE);
        if (!jdec(ks_json_get(o, "p"), &e.px) || !jdec(ks_json_get(o, "q"), &e.qty) || !m ||
            m->type != KS_JSON_BOOL)
            return KS_EPROTO;
        e.side = m->boolean ? KS_SIDE_SELL : KS_SIDE_BUY; /* buyer is maker: a sell took */
        jms(ks_json_get(o, "T"), &e.venue_ts);
        e.kind = KS_RP_TRADE;
        ks_replay_seen(c->r, inst, e.px, e.qty);
        return push(c, &e);
    }
    if (strcmp(ev, "markPriceUpdate") == 0) {
        ks_rp_ticker_t t;
        seen_msg(c, KS_RP_TICKER);
        memset(&t, 0, sizeof(t));
        if (jdec(ks_json_get(o, "p"), &t.mark)) {
            t.fields |= KS_TK_MARK;
            ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_MARK;
        }
        if (jdec(ks_json_get(o, "i"), &t.index) && t.index.mant)
            t.fields |= KS_TK_INDEX;
        if (jdec(ks_json_get(o, "r"), &t.funding_rate))
            t.fields |= KS_TK_FUNDING_RATE;
        if (jms(ks_json_get(o, "T"), &t.next_funding_ts) && t.next_funding_ts)
            t.fields |= KS_TK_NEXT_FUNDING;
        jms(ks_json_get(o, "E"), &e.venue_ts);
        e.kind = KS_RP_TICKER;
        if (ks_replay_push_ticker(c->r, &t, &e.off) != KS_OK)
            return KS_ENOMEM;
        return push(c, &e);
    }
    if (strcmp(ev, "kline") == 0)
        seen_msg(c, KS_RP_KLINE); /* counted, not replayed */
    c->f->skipped++;              /* klines, tickers we do not replay */
    return KS_OK;
}

/* exchangeInfo (futures or spot): tick, lot, min qty, min notional per symbol. */
static int binance_exchange_info(rctx_t *c, const ks_json_t *root, uint8_t kind)
{
    const ks_json_t *syms = ks_json_get(root, "symbols");
    if (!syms || syms->type != KS_JSON_ARRAY)
        return KS_EPROTO;
    for (const ks_json_t *s = syms->child; s; s = s->next) {
        ks_rp_meta_t m;
        memset(&m, 0, sizeof(m));
        m.kind = kind;
        if (!jstr(ks_json_get(s, "symbol"), m.venue_symbol, sizeof(m.venue_symbol)))
            continue;
        const ks_json_t *fl = ks_json_get(s, "filters");
        for (const ks_json_t *x = fl ? fl->child : NULL; x; x = x->next) {
            char ft[32];
            if (!jstr(ks_json_get(x, "filterType"), ft, sizeof(ft)))
                continue;
            if (strcmp(ft, "PRICE_FILTER") == 0)
                jdec(ks_json_get(x, "tickSize"), &m.tick);
            else if (strcmp(ft, "LOT_SIZE") == 0) {
                jdec(ks_json_get(x, "stepSize"), &m.lot);
                jdec(ks_json_get(x, "minQty"), &m.min_qty);
            } else if (strcmp(ft, "MIN_NOTIONAL") == 0 || strcmp(ft, "NOTIONAL") == 0) {
                if (!jdec(ks_json_get(x, "notional"), &m.min_notional))
                    jdec(ks_json_get(x, "minNotional"), &m.min_notional);
            }
        }
        if (ks_replay_meta_put(c->r, &m) != KS_OK)
            return KS_ENOMEM;
    }
    return KS_OK;
}

/* ---- Bybit ---------------------------------------------------------------------------- */

static int bybit_instruments(rctx_t *c, const ks_json_t *root)
{
    const ks_json_t *res = ks_json_get(root, "result");
    char cat[16] = "";
    if (!res || !jstr(ks_json_get(res, "category"), cat, sizeof(cat)))
        return KS_EPROTO;
    uint8_t kind = strcmp(cat, "spot") == 0 ? KS_KIND_SPOT : KS_KIND_PERP;
    const ks_json_t *list = ks_json_get(res, "list");
    for (const ks_json_t *s = list ? list->child : NULL; s; s = s->next) {
        ks_rp_meta_t m;
        memset(&m, 0, sizeof(m));
        m.kind = kind;
        if (!jstr(ks_json_get(s, "symbol"), m.venue_symbol, sizeof(m.venue_symbol)))
            continue;
        const ks_json_t *pf = ks_json_get(s, "priceFilter"), *lf = ks_json_get(s, "lotSizeFilter");
        const ks_json_t *lev = ks_json_get(s, "leverageFilter");
        if (pf)
            jdec(ks_json_get(pf, "tickSize"), &m.tick);
        if (lf) {
            if (!jdec(ks_json_get(lf, "qtyStep"), &m.lot))
                jdec(ks_json_get(lf, "basePrecision"), &m.lot);
            jdec(ks_json_get(lf, "minOrderQty"), &m.min_qty);
            if (!jdec(ks_json_get(lf, "minNotionalValue"), &m.min_notional))
                jdec(ks_json_get(lf, "minOrderAmt"), &m.min_notional);
        }
        ks_dec_t x;
        if (lev && jdec(ks_json_get(lev, "maxLeverage"), &x) &&
            ks_dec_rescale(x, 0, KS_ROUND_FLOOR, &x) == KS_OK && x.mant > 0 && x.mant < 1000)
            m.max_leverage = (int32_t)x.mant;
        const ks_json_t *fi = ks_json_get(s, "fundingInterval");
        uint64_t minutes;
        if (ju64(fi, &minutes) && minutes >= 60)
            m.funding_interval_h = (int32_t)(minutes / 60);
        if (ks_replay_meta_put(c->r, &m) != KS_OK)
            return KS_ENOMEM;
    }
    return KS_OK;
}

/* One Bybit v5 public message. */
static int bybit_msg(rctx_t *c, int64_t ts, const ks_json_t *o, uint8_t kind)
{
    char topic[96];
    if (!jstr(ks_json_get(o, "topic"), topic, sizeof(topic))) {
        c->f->skipped++; /* subscription acks, pongs */
        return KS_OK;
    }
    const ks_json_t *data = ks_json_get(o, "data");
    int64_t vts = 0;
    jms(ks_json_get(o, "ts"), &vts);
    const char *sym = strrchr(topic, '.');
    sym = sym ? sym + 1 : topic;
    if (strncmp(topic, "kline.", 6) == 0) {
        seen_msg(c, KS_RP_KLINE); /* counted, not replayed */
        c->f->skipped++;
        return KS_OK;
    }
    int32_t inst = pair_inst(c, kind, sym);
    if (inst < 0 || !data)
        return KS_EPROTO;
    if (strncmp(topic, "orderbook.", 10) == 0) {
        char type[16] = "";
        seen_msg(c, KS_RP_BOOK);
        uint32_t nb = 0, na;
        jstr(ks_json_get(o, "type"), type, sizeof(type));
        if (!read_levels(c, inst, ks_json_get(data, "b"), &nb))
            return KS_EPROTO;
        na = nb;
        if (!read_levels(c, inst, ks_json_get(data, "a"), &na))
            return KS_EPROTO;
        return push_book(c, ts, vts, inst, strcmp(type, "snapshot") == 0, nb, na - nb);
    }
    if (strncmp(topic, "tickers.", 8) == 0) {
        ks_rp_ticker_t t;
        memset(&t, 0, sizeof(t));
        seen_msg(c, KS_RP_TICKER);
        static const struct {
            const char *key;
            uint32_t field;
            size_t off;
        } fields[] = {
            {"lastPrice", KS_TK_LAST, offsetof(ks_rp_ticker_t, last)},
            {"markPrice", KS_TK_MARK, offsetof(ks_rp_ticker_t, mark)},
            {"indexPrice", KS_TK_INDEX, offsetof(ks_rp_ticker_t, index)},
            {"bid1Price", KS_TK_BID, offsetof(ks_rp_ticker_t, bid)},
            {"ask1Price", KS_TK_ASK, offsetof(ks_rp_ticker_t, ask)},
            {"fundingRate", KS_TK_FUNDING_RATE, offsetof(ks_rp_ticker_t, funding_rate)},
            {"openInterest", KS_TK_OPEN_INTEREST, offsetof(ks_rp_ticker_t, open_interest)},
            {"turnover24h", KS_TK_VOLUME_QUOTE_24H, offsetof(ks_rp_ticker_t, volume_quote_24h)},
        };
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            ks_dec_t *dst = (ks_dec_t *)((char *)&t + fields[i].off);
            const ks_json_t *v = ks_json_get(data, fields[i].key);
            if (v && v->len && jdec(v, dst))
                t.fields |= fields[i].field;
        }
        if (jms(ks_json_get(data, "nextFundingTime"), &t.next_funding_ts) && t.next_funding_ts)
            t.fields |= KS_TK_NEXT_FUNDING;
        uint64_t ih;
        if (ju64(ks_json_get(data, "fundingIntervalHour"), &ih) && ih > 0 && ih <= 24) {
            t.funding_interval_h = (int32_t)ih;
            t.fields |= KS_TK_FUNDING_INTERVAL;
            ks_rp_inst_t *in = ks_replay_inst_mut(c->r, inst);
            if (!in->funding_interval_h)
                in->funding_interval_h = (int32_t)ih;
        }
        if (kind == KS_KIND_SPOT)
            t.fields &= ~(uint32_t)(KS_TK_MARK | KS_TK_INDEX | KS_TK_FUNDING_RATE |
                                    KS_TK_NEXT_FUNDING | KS_TK_OPEN_INTEREST);
        if (t.fields & KS_TK_MARK)
            ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_MARK;
        if (!t.fields) {
            c->f->skipped++;
            return KS_OK;
        }
        ks_rp_event_t e;
        memset(&e, 0, sizeof(e));
        e.ts = ts;
        e.venue_ts = vts;
        e.inst = inst;
        e.kind = KS_RP_TICKER;
        if (ks_replay_push_ticker(c->r, &t, &e.off) != KS_OK)
            return KS_ENOMEM;
        return push(c, &e);
    }
    bool liq =
        strncmp(topic, "allLiquidation.", 15) == 0 || strncmp(topic, "liquidation.", 12) == 0;
    if (strncmp(topic, "publicTrade.", 12) == 0 || liq) {
        seen_msg(c, liq ? KS_RP_LIQ : KS_RP_TRADE);
        if (data->type != KS_JSON_ARRAY)
            data = NULL;
        for (const ks_json_t *x = data ? data->child : NULL; x; x = x->next) {
            ks_rp_event_t e;
            char side[8] = "";
            memset(&e, 0, sizeof(e));
            if (!jdec(ks_json_get(x, "p"), &e.px) || !jdec(ks_json_get(x, "v"), &e.qty) ||
                !jstr(ks_json_get(x, "S"), side, sizeof(side)))
                return KS_EPROTO;
            e.ts = ts;
            jms(ks_json_get(x, "T"), &e.venue_ts);
            e.inst = inst;
            if (liq) {
                /* S is the liquidated position's side: Buy = a long, closed by a sell. */
                e.kind = KS_RP_LIQ;
                e.side = strcmp(side, "Buy") == 0 ? KS_SIDE_SELL : KS_SIDE_BUY;
            } else {
                e.kind = KS_RP_TRADE;
                e.side = strcmp(side, "Buy") == 0 ? KS_SIDE_BUY : KS_SIDE_SELL;
            }
            ks_replay_seen(c->r, inst, e.px, e.qty);
            int rc = push(c, &e);
            if (rc != KS_OK)
                return rc;
        }
        return KS_OK;
    }
    c->f->skipped++;
    return KS_OK;
}

/* ---- Hyperliquid ---------------------------------------------------------------------- */

static int hl_msg(rctx_t *c, int64_t ts, const ks_json_t *o)
{
    char ch[32] = "", coin[KS_SYMBOL_LEN];
    const ks_json_t *data = ks_json_get(o, "data");
    jstr(ks_json_get(o, "channel"), ch, sizeof(ch));
    if (strcmp(ch, "l2Book") == 0 || strcmp(ch, "bbo") == 0) {
        int64_t vts = 0;
        seen_msg(c, strcmp(ch, "bbo") == 0 ? KS_RP_BBO : KS_RP_BOOK);
        if (!data || !jstr(ks_json_get(data, "coin"), coin, sizeof(coin)))
            return KS_EPROTO;
        int32_t inst = hl_inst(c, coin);
        if (inst < 0) {
            c->f->skipped++;
            return KS_OK;
        }
        jms(ks_json_get(data, "time"), &vts);
        if (strcmp(ch, "bbo") == 0) {
            const ks_json_t *bbo = ks_json_get(data, "bbo");
            const ks_json_t *b = bbo ? bbo->child : NULL;
            const ks_json_t *a = b ? b->next : NULL;
            ks_rp_event_t e;
            memset(&e, 0, sizeof(e));
            e.ts = ts;
            e.venue_ts = vts;
            e.inst = inst;
            e.kind = KS_RP_BBO;
            if (b && b->type == KS_JSON_OBJECT) {
                jdec(ks_json_get(b, "px"), &e.px);
                jdec(ks_json_get(b, "sz"), &e.qty);
            }
            if (a && a->type == KS_JSON_OBJECT) {
                jdec(ks_json_get(a, "px"), &e.px2);
                jdec(ks_json_get(a, "sz"), &e.qty2);
            }
            ks_replay_seen(c->r, inst, e.px, e.qty);
            ks_replay_seen(c->r, inst, e.px2, e.qty2);
            ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_BOOK;
            return push(c, &e);
        }
        const ks_json_t *lv = ks_json_get(data, "levels");
        const ks_json_t *bids = lv ? lv->child : NULL;
        const ks_json_t *asks = bids ? bids->next : NULL;
        uint32_t nb = 0, na;
        if (!read_levels(c, inst, bids, &nb))
            return KS_EPROTO;
        na = nb;
        if (!read_levels(c, inst, asks, &na))
            return KS_EPROTO;
        return push_book(c, ts, vts, inst, true, nb, na - nb);
    }
    if (strcmp(ch, "trades") == 0) {
        if (!data || data->type != KS_JSON_ARRAY)
            return KS_EPROTO;
        seen_msg(c, KS_RP_TRADE);
        for (const ks_json_t *x = data->child; x; x = x->next) {
            ks_rp_event_t e;
            char side[4] = "";
            memset(&e, 0, sizeof(e));
            if (!jstr(ks_json_get(x, "coin"), coin, sizeof(coin)) ||
                !jdec(ks_json_get(x, "px"), &e.px) || !jdec(ks_json_get(x, "sz"), &e.qty) ||
                !jstr(ks_json_get(x, "side"), side, sizeof(side)))
                return KS_EPROTO;
            if ((e.inst = hl_inst(c, coin)) < 0)
                continue;
            e.ts = ts;
            jms(ks_json_get(x, "time"), &e.venue_ts);
            e.side = side[0] == 'B' ? KS_SIDE_BUY : KS_SIDE_SELL; /* the taker's side */
            e.kind = KS_RP_TRADE;
            ks_replay_seen(c->r, e.inst, e.px, e.qty);
            int rc = push(c, &e);
            if (rc != KS_OK)
                return rc;
        }
        return KS_OK;
    }
    if (strcmp(ch, "activeAssetCtx") == 0) {
        const ks_json_t *ctx = data ? ks_json_get(data, "ctx") : NULL;
        seen_msg(c, KS_RP_TICKER);
        if (!ctx || !jstr(ks_json_get(data, "coin"), coin, sizeof(coin)))
            return KS_EPROTO;
        int32_t inst = hl_inst(c, coin);
        if (inst < 0) {
            c->f->skipped++;
            return KS_OK;
        }
        ks_rp_ticker_t t;
        ks_rp_event_t e;
        memset(&t, 0, sizeof(t));
        memset(&e, 0, sizeof(e));
        if (jdec(ks_json_get(ctx, "markPx"), &t.mark))
            t.fields |= KS_TK_MARK;
        if (jdec(ks_json_get(ctx, "oraclePx"), &t.index))
            t.fields |= KS_TK_INDEX;
        if (jdec(ks_json_get(ctx, "funding"), &t.funding_rate)) {
            t.fields |= KS_TK_FUNDING_RATE | KS_TK_FUNDING_INTERVAL | KS_TK_NEXT_FUNDING;
            t.funding_interval_h = 1;
            t.next_funding_ts = (ts / NS_PER_H + 1) * NS_PER_H;
        }
        if (jdec(ks_json_get(ctx, "openInterest"), &t.open_interest))
            t.fields |= KS_TK_OPEN_INTEREST;
        if (jdec(ks_json_get(ctx, "dayNtlVlm"), &t.volume_quote_24h))
            t.fields |= KS_TK_VOLUME_QUOTE_24H;
        if (t.fields & KS_TK_MARK)
            ks_replay_inst_mut(c->r, inst)->flags |= KS_RPI_MARK;
        e.ts = ts;
        e.inst = inst;
        e.kind = KS_RP_TICKER;
        if (ks_replay_push_ticker(c->r, &t, &e.off) != KS_OK)
            return KS_ENOMEM;
        int rc = push(c, &e);
        if (rc == KS_OK && (t.fields & KS_TK_INDEX)) {
            e.kind = KS_RP_ORACLE;
            e.px = t.index;
            rc = push(c, &e);
        }
        return rc;
    }
    c->f->skipped++;
    return KS_OK;
}

/* ---- file readers --------------------------------------------------------------------- */

static void ctx_init(rctx_t *c, ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->path = path;
    c->err = err;
    c->err_len = err_len;
}

static void ctx_free(rctx_t *c)
{
    for (int i = 0; i < c->n_sync; i++) {
        if (!c->sync[i].synced && c->f)
            c->f->skipped += c->sync[i].n_pend; /* a diff book that never got a snapshot */
        free(c->sync[i].pend);
    }
    ks_json_free(&c->doc);
    ks_json_free(&c->inner);
}

static int line_error(rctx_t *c, uint64_t lineno, int rc, const char *what)
{
    if (rc == KS_ENOMEM)
        snprintf(c->err, c->err_len, "%s: out of memory", c->path);
    else if (rc == KS_ERANGE)
        snprintf(c->err, c->err_len, "%s:%llu: too many instruments", c->path,
                 (unsigned long long)lineno);
    else
        snprintf(c->err, c->err_len, "%s:%llu: %s", c->path, (unsigned long long)lineno, what);
    return rc == KS_EPROTO ? KS_EINVAL : rc;
}

int ks_replay_read_hftbacktest(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    rctx_t *c = malloc(sizeof(*c));
    ks_lines_t lines;
    char *line, jerr[160];
    size_t len;
    int rc;
    if (!c)
        return KS_ENOMEM;
    ctx_init(c, r, path, err, err_len);
    if ((rc = ks_lines_open(&lines, path, err, err_len)) != KS_OK) {
        free(c);
        return rc;
    }
    if (!(c->f = ks_replay_file_new(r, path, "hftbacktest"))) {
        rc = KS_ENOMEM;
        goto done;
    }
    if (strstr(path, "/spot/") || strstr(path, "spot_"))
        c->binance_mode = 2;
    {
        /* The symbol of a REST snapshot that comes before any stream message. */
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        size_t n = strcspn(b, "_.");
        if (n < sizeof(c->last_symbol)) {
            memcpy(c->last_symbol, b, n);
            c->last_symbol[n] = '\0';
            upper(c->last_symbol);
        }
    }
    while ((rc = ks_lines_next(&lines, &line, &len, err, err_len)) == 1) {
        c->f->lines++;
        if (!len)
            continue;
        char *sp = memchr(line, ' ', len);
        char *end;
        errno = 0;
        long long ns = sp ? strtoll(line, &end, 10) : 0;
        if (!sp || errno || end != sp || ns <= 0) {
            rc = line_error(c, lines.lineno, KS_EPROTO, "expected \"<ns> <json>\"");
            goto done;
        }
        ks_replay_file_time(c->f, ns);
        if (ks_json_reparse(sp + 1, len - (size_t)(sp + 1 - line), &c->doc, jerr, sizeof(jerr)) !=
            KS_OK) {
            rc = line_error(c, lines.lineno, KS_EPROTO, jerr);
            goto done;
        }
        const ks_json_t *root = c->doc.root;
        int mrc;
        if (ks_json_get(root, "channel"))
            mrc = hl_msg(c, ns, root);
        else if (ks_json_get(root, "stream")) {
            char stream[128] = "";
            jstr(ks_json_get(root, "stream"), stream, sizeof(stream));
            const ks_json_t *data = ks_json_get(root, "data");
            mrc = data ? binance_payload(c, ns, data, stream) : KS_EPROTO;
        } else
            mrc = binance_payload(c, ns, root, NULL);
        if (mrc != KS_OK) {
            rc = line_error(c, lines.lineno, mrc, "malformed message");
            goto done;
        }
    }
    if (rc == 0)
        rc = KS_OK;
done:
    ks_lines_close(&lines);
    ctx_free(c);
    free(c);
    return rc;
}

static int conn_kind(rctx_t *c, const char *conn)
{
    for (int i = 0; i < c->n_conns; i++)
        if (strcmp(c->conns[i].conn, conn) == 0)
            return c->conns[i].kind;
    return c->exchange == 3 ? KS_KIND_SPOT : KS_KIND_PERP;
}

static void conn_set(rctx_t *c, const char *conn, const char *url)
{
    int kind = KS_KIND_PERP;
    if (strstr(url, "/spot") || strstr(url, "stream.binance.com") || strstr(url, "api.binance.com"))
        kind = KS_KIND_SPOT;
    for (int i = 0; i < c->n_conns; i++)
        if (strcmp(c->conns[i].conn, conn) == 0) {
            c->conns[i].kind = kind;
            return;
        }
    if (c->n_conns < MAX_CONN) {
        ks_strlcpy(c->conns[c->n_conns].conn, conn, sizeof(c->conns[0].conn));
        c->conns[c->n_conns++].kind = kind;
    }
}

/* A REST body recorded by cryptofeed: instruments, exchangeInfo or a depth snapshot. */
static int cf_http(rctx_t *c, int64_t ts, const char *url, const ks_json_t *o)
{
    if (strstr(url, "instruments-info"))
        return bybit_instruments(c, o);
    if (strstr(url, "exchangeInfo")) {
        c->binance_mode = strstr(url, "fapi") ? 1 : 2;
        return binance_exchange_info(c, o, c->binance_mode == 2 ? KS_KIND_SPOT : KS_KIND_PERP);
    }
    const char *q = strstr(url, "/depth?");
    if (q) {
        char sym[KS_SYMBOL_LEN] = "";
        const char *s = strstr(q, "symbol=");
        if (s) {
            s += 7;
            size_t n = strcspn(s, "&");
            if (n < sizeof(sym)) {
                memcpy(sym, s, n);
                sym[n] = '\0';
            }
        }
        c->binance_mode = strstr(url, "fapi") ? 1 : 2;
        return binance_rest_depth(c, ts, o, sym);
    }
    c->f->skipped++;
    return KS_OK;
}

/* The exchange payload of a received message. */
static int cf_payload(rctx_t *c, int64_t ts, int kind, const char *text, size_t len)
{
    char jerr[160];
    if (ks_json_reparse(text, len, &c->inner, jerr, sizeof(jerr)) != KS_OK)
        return KS_EPROTO;
    const ks_json_t *p = c->inner.root;
    if (!p || p->type != KS_JSON_OBJECT) {
        c->f->skipped++;
        return KS_OK;
    }
    if (c->exchange == 1)
        return bybit_msg(c, ts, p, (uint8_t)kind);
    if (ks_json_get(p, "stream")) {
        char stream[128] = "";
        jstr(ks_json_get(p, "stream"), stream, sizeof(stream));
        const ks_json_t *data = ks_json_get(p, "data");
        return data ? binance_payload(c, ts, data, stream) : KS_EPROTO;
    }
    if (ks_json_get(p, "topic") || ks_json_get(p, "op") || ks_json_get(p, "success"))
        return bybit_msg(c, ts, p, (uint8_t)kind);
    if (ks_json_get(p, "channel"))
        return hl_msg(c, ts, p);
    if (ks_json_get(p, "e"))
        return binance_payload(c, ts, p, NULL);
    c->f->skipped++;
    return KS_OK;
}

int ks_replay_read_cryptofeed(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    rctx_t *c = malloc(sizeof(*c));
    ks_lines_t lines;
    char *line, jerr[160];
    size_t len;
    int rc;
    if (!c)
        return KS_ENOMEM;
    ctx_init(c, r, path, err, err_len);
    if ((rc = ks_lines_open(&lines, path, err, err_len)) != KS_OK) {
        free(c);
        return rc;
    }
    if (!(c->f = ks_replay_file_new(r, path, "cryptofeed"))) {
        rc = KS_ENOMEM;
        goto done;
    }
    while ((rc = ks_lines_next(&lines, &line, &len, err, err_len)) == 1) {
        c->f->lines++;
        if (!len)
            continue;
        if (ks_json_reparse(line, len, &c->doc, jerr, sizeof(jerr)) != KS_OK) {
            rc = line_error(c, lines.lineno, KS_EPROTO, jerr);
            goto done;
        }
        const ks_json_t *o = c->doc.root;
        char t[16] = "", conn[64] = "", url[512] = "";
        jstr(ks_json_get(o, "t"), t, sizeof(t));
        jstr(ks_json_get(o, "conn"), conn, sizeof(conn));
        const ks_json_t *tsv = ks_json_get(o, strcmp(t, "header") == 0 ? "recorded" : "ts");
        int64_t ts = 0;
        if (tsv && tsv->type == KS_JSON_NUMBER)
            ks_sim_secs_to_ns(tsv->text, tsv->len, &ts);
        ks_replay_file_time(c->f, ts);
        int mrc = KS_OK;
        if (strcmp(t, "header") == 0) {
            char ex[32] = "";
            jstr(ks_json_get(o, "exchange"), ex, sizeof(ex));
            if (strcmp(ex, "BYBIT") == 0)
                c->exchange = 1;
            else if (strcmp(ex, "BINANCE_FUTURES") == 0) {
                c->exchange = 2;
                c->binance_mode = 1;
            } else if (strcmp(ex, "BINANCE") == 0) {
                c->exchange = 3;
                c->binance_mode = 2;
            } else {
                snprintf(err, err_len,
                         "%s: cryptofeed exchange \"%s\" is not replayed (Bybit, "
                         "Binance, Binance futures are)",
                         path, ex);
                rc = KS_ENOTSUP;
                goto done;
            }
            c->f->skipped++;
        } else if (strcmp(t, "connect") == 0) {
            if (!jstr(ks_json_get(o, "addr"), url, sizeof(url)))
                jstr(ks_json_get(o, "url"), url, sizeof(url));
            conn_set(c, conn, url);
            c->f->skipped++;
        } else if (strcmp(t, "http") == 0 || strcmp(t, "recv") == 0) {
            const ks_json_t *data = ks_json_get(o, "data");
            if (!data || data->type != KS_JSON_STRING) {
                c->f->skipped++;
                continue;
            }
            if (strcmp(t, "http") == 0) {
                jstr(ks_json_get(o, "url"), url, sizeof(url));
                if (ks_json_reparse(data->text, data->len, &c->inner, jerr, sizeof(jerr)) !=
                    KS_OK) {
                    c->f->skipped++; /* an error page */
                    continue;
                }
                mrc = cf_http(c, ts, url, c->inner.root);
            } else {
                mrc = cf_payload(c, ts, conn_kind(c, conn), data->text, data->len);
            }
        } else {
            c->f->skipped++; /* send, disconnect */
        }
        if (mrc != KS_OK) {
            rc = line_error(c, lines.lineno, mrc, "malformed message");
            goto done;
        }
    }
    if (rc == 0)
        rc = KS_OK;
done:
    ks_lines_close(&lines);
    ctx_free(c);
    free(c);
    return rc;
}

int ks_replay_read_cryptofeed_text(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    rctx_t *c = malloc(sizeof(*c));
    ks_lines_t lines;
    char *line;
    size_t len;
    int rc, kind = KS_KIND_PERP;
    if (!c)
        return KS_ENOMEM;
    ctx_init(c, r, path, err, err_len);
    c->exchange = 1;
    if ((rc = ks_lines_open(&lines, path, err, err_len)) != KS_OK) {
        free(c);
        return rc;
    }
    if (!(c->f = ks_replay_file_new(r, path, "cryptofeed-text"))) {
        rc = KS_ENOMEM;
        goto done;
    }
    while ((rc = ks_lines_next(&lines, &line, &len, err, err_len)) == 1) {
        c->f->lines++;
        if (!len)
            continue;
        char *conn = strstr(line, " <-> "), *sent = strstr(line, " <- ");
        int64_t ts = 0;
        if (conn) {
            /* "<addr> <-> <ts>": a connection; the URL says linear or spot. */
            *conn = '\0';
            kind = strstr(line, "/spot") ? KS_KIND_SPOT : KS_KIND_PERP;
            if (strstr(line, "binance"))
                c->exchange = strstr(line, "fstream") ? 2 : 3;
            ks_sim_secs_to_ns(conn + 5, strlen(conn + 5), &ts);
            ks_replay_file_time(c->f, ts);
            c->f->skipped++;
            continue;
        }
        char *colon = strstr(line, ": ");
        if (sent && (!colon || sent < colon)) {
            c->f->skipped++; /* "<addr> <- <ts>: <json sent>" */
            continue;
        }
        if (!colon || !ks_sim_secs_to_ns(line, (size_t)(colon - line), &ts)) {
            rc = line_error(c, lines.lineno, KS_EPROTO, "expected \"<ts>: <json>\"");
            goto done;
        }
        ks_replay_file_time(c->f, ts);
        char *json = colon + 2;
        int mrc = cf_payload(c, ts, kind, json, len - (size_t)(json - line));
        if (mrc != KS_OK) {
            rc = line_error(c, lines.lineno, mrc, "malformed message");
            goto done;
        }
    }
    if (rc == 0)
        rc = KS_OK;
done:
    ks_lines_close(&lines);
    ctx_free(c);
    free(c);
    return rc;
}

int ks_replay_read_bybit_history(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    rctx_t *c = malloc(sizeof(*c));
    ks_lines_t lines;
    char *line, jerr[160];
    size_t len;
    int rc;
    if (!c)
        return KS_ENOMEM;
    ctx_init(c, r, path, err, err_len);
    c->exchange = 1;
    if ((rc = ks_lines_open(&lines, path, err, err_len)) != KS_OK) {
        free(c);
        return rc;
    }
    if (!(c->f = ks_replay_file_new(r, path, "bybit-history"))) {
        rc = KS_ENOMEM;
        goto done;
    }
    uint8_t kind = strstr(path, "spot") ? KS_KIND_SPOT : KS_KIND_PERP;
    while ((rc = ks_lines_next(&lines, &line, &len, err, err_len)) == 1) {
        c->f->lines++;
        if (!len)
            continue;
        if (ks_json_reparse(line, len, &c->doc, jerr, sizeof(jerr)) != KS_OK) {
            rc = line_error(c, lines.lineno, KS_EPROTO, jerr);
            goto done;
        }
        const ks_json_t *o = c->doc.root;
        int64_t ts = 0;
        if (!jms(ks_json_get(o, "ts"), &ts)) {
            rc = line_error(c, lines.lineno, KS_EPROTO, "no ts");
            goto done;
        }
        ks_replay_file_time(c->f, ts);
        int mrc = bybit_msg(c, ts, o, kind);
        if (mrc != KS_OK) {
            rc = line_error(c, lines.lineno, mrc, "malformed message");
            goto done;
        }
    }
    if (rc == 0)
        rc = KS_OK;
done:
    ks_lines_close(&lines);
    ctx_free(c);
    free(c);
    return rc;
}

/* Whole file into memory (gzip or plain). */
static int read_all(const char *path, char **out, size_t *len, char *err, size_t err_len)
{
    gzFile gz = gzopen(path, "rb");
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (!gz || !buf) {
        if (gz)
            gzclose(gz);
        free(buf);
        snprintf(err, err_len, "%s: cannot read", path);
        return KS_EIO;
    }
    for (;;) {
        if (cap - n < 65536) {
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                gzclose(gz);
                free(buf);
                return KS_ENOMEM;
            }
            buf = b;
            cap *= 2;
        }
        int k = gzread(gz, buf + n, (unsigned)(cap - n));
        if (k < 0) {
            gzclose(gz);
            free(buf);
            snprintf(err, err_len, "%s: read error", path);
            return KS_EIO;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    gzclose(gz);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return KS_OK;
}

int ks_replay_read_hl_ctxs(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    char *text, jerr[160];
    size_t len;
    ks_json_doc_t doc = KS_JSON_DOC_INIT;
    int rc = read_all(path, &text, &len, err, err_len);
    if (rc != KS_OK)
        return rc;
    ks_rp_file_t *f = ks_replay_file_new(r, path, "hyperliquid-asset-ctxs");
    if (!f) {
        free(text);
        return KS_ENOMEM;
    }
    uint32_t file_idx = ks_replay_file_count(r) - 1;
    for (size_t i = 0; i < len; i++)
        f->lines += text[i] == '\n';
    if ((rc = ks_json_parse(text, len, &doc, jerr, sizeof(jerr))) != KS_OK) {
        snprintf(err, err_len, "%s: %s", path, jerr);
        goto done;
    }
    const ks_json_t *root = doc.root;
    const ks_json_t *data = ks_json_get(root, "data");
    const ks_json_t *ctxs = data ? ks_json_get(data, "ctxs") : NULL;
    if (!ctxs || ctxs->type != KS_JSON_ARRAY) {
        snprintf(err, err_len,
                 "%s: expected {\"channel\": \"allDexsAssetCtxs\", \"data\": "
                 "{\"ctxs\": [[dex, [ctx...]], ...]}}",
                 path);
        rc = KS_EINVAL;
        goto done;
    }
    for (const ks_json_t *dx = ctxs->child; dx; dx = dx->next) {
        const ks_json_t *name = dx->child;
        const ks_json_t *list = name ? name->next : NULL;
        ks_rp_hlctx_t h;
        memset(&h, 0, sizeof(h));
        if (!jstr(name, h.dex, sizeof(h.dex)) || !list || list->type != KS_JSON_ARRAY) {
            snprintf(err, err_len, "%s: malformed dex entry", path);
            rc = KS_EINVAL;
            goto done;
        }
        uint32_t idx = 0;
        for (const ks_json_t *x = list->child; x; x = x->next, idx++) {
            memset(&h.have, 0, sizeof(h) - offsetof(ks_rp_hlctx_t, have));
            h.index = idx;
            h.file = file_idx;
            if (jdec(ks_json_get(x, "markPx"), &h.mark) && h.mark.mant > 0)
                h.have |= KS_HLC_MARK;
            if (jdec(ks_json_get(x, "oraclePx"), &h.oracle) && h.oracle.mant > 0)
                h.have |= KS_HLC_ORACLE;
            if (jdec(ks_json_get(x, "funding"), &h.funding))
                h.have |= KS_HLC_FUNDING;
            if (jdec(ks_json_get(x, "openInterest"), &h.open_interest))
                h.have |= KS_HLC_OI;
            if (jdec(ks_json_get(x, "dayNtlVlm"), &h.day_ntl_vlm))
                h.have |= KS_HLC_VOLUME;
            if (jdec(ks_json_get(x, "premium"), &h.premium))
                h.have |= KS_HLC_PREMIUM;
            f->messages[KS_RP_TICKER]++;
            if ((rc = ks_replay_hl_ctx_add(r, &h)) != KS_OK)
                goto done;
        }
    }
    rc = KS_OK;
done:
    ks_json_free(&doc);
    free(text);
    return rc;
}
