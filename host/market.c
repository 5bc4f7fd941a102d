/* Market cache (see market.h). */
#include "market.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ks_market_init(ks_market_t *m)
{
    memset(m, 0, sizeof(*m));
}

void ks_market_free(ks_market_t *m)
{
    for (int32_t i = 0; i < m->n; i++) {
        free(m->inst[i]);
        free(m->mkt[i]);
    }
    free(m->inst);
    free(m->mkt);
    ks_strmap_free(&m->by_key);
    memset(m, 0, sizeof(*m));
}

static void make_key(char *buf, size_t cap, uint32_t venue, const char *symbol)
{
    snprintf(buf, cap, "%u\x1f%s", venue, symbol);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    ks_strlcpy(dst, src ? src : "", cap);
}

/* True when the tradable parameters of two specs differ. */
static bool spec_differs(const ks_instrument_t *a, const ks_instrument_t *b)
{
    return ks_dec_cmp(a->tick_size, b->tick_size) || ks_dec_cmp(a->lot_size, b->lot_size) ||
           ks_dec_cmp(a->min_qty, b->min_qty) || ks_dec_cmp(a->max_qty, b->max_qty) ||
           ks_dec_cmp(a->min_notional, b->min_notional) || ks_dec_cmp(a->maker_fee, b->maker_fee) ||
           ks_dec_cmp(a->taker_fee, b->taker_fee) || a->max_leverage != b->max_leverage ||
           a->funding_interval_h != b->funding_interval_h || a->flags != b->flags ||
           a->kind != b->kind;
}

int ks_market_upsert(ks_market_t *m, uint32_t venue, const ks_instrument_t *spec, int32_t *id,
                     bool *is_new, bool *changed)
{
    char key[KS_SYMBOL_LEN + 16];
    void *v;
    ks_instrument_t in;

    if (!spec || !spec->symbol || !*spec->symbol)
        return KS_EINVAL;
    /* Read only the fields the caller's struct has. */
    memset(&in, 0, sizeof(in));
    memcpy(&in, spec, spec->struct_size < sizeof(in) ? spec->struct_size : sizeof(in));
    make_key(key, sizeof(key), venue, in.symbol);
    *is_new = false;
    *changed = false;
    if (ks_strmap_get(&m->by_key, key, &v)) {
        ks_inst_rec_t *r = m->inst[(intptr_t)v - 1];
        *id = r->id;
        if (spec_differs(&r->spec, &in)) {
            uint32_t ver = r->spec.spec_version + 1;
            r->spec = in;
            r->spec.spec_version = ver;
            *changed = true;
        } else {
            return KS_OK;
        }
    } else {
        if (m->n == m->cap) {
            int32_t ncap = m->cap ? m->cap * 2 : 64;
            ks_inst_rec_t **ni = realloc(m->inst, (size_t)ncap * sizeof(*ni));
            if (!ni)
                return KS_ENOMEM;
            m->inst = ni;
            ks_mkt_t **nm = realloc(m->mkt, (size_t)ncap * sizeof(*nm));
            if (!nm)
                return KS_ENOMEM;
            m->mkt = nm;
            m->cap = ncap;
        }
        ks_inst_rec_t *r = calloc(1, sizeof(*r));
        ks_mkt_t *mk = calloc(1, sizeof(*mk));
        if (!r || !mk) {
            free(r);
            free(mk);
            return KS_ENOMEM;
        }
        r->id = m->n;
        r->venue = venue;
        r->spec = in;
        r->spec.spec_version = 1;
        if (ks_strmap_put(&m->by_key, key, (void *)(intptr_t)(r->id + 1)) != KS_OK) {
            free(r);
            free(mk);
            return KS_ENOMEM;
        }
        m->inst[m->n] = r;
        m->mkt[m->n] = mk;
        m->n++;
        *id = r->id;
        *is_new = true;
        *changed = true;
    }
    /* (Re)point the strings at our own buffers. */
    ks_inst_rec_t *r = m->inst[*id];
    copy_str(r->symbol, sizeof(r->symbol), in.symbol);
    copy_str(r->venue_symbol, sizeof(r->venue_symbol), in.venue_symbol);
    copy_str(r->base, sizeof(r->base), in.base);
    copy_str(r->quote, sizeof(r->quote), in.quote);
    copy_str(r->settle, sizeof(r->settle), in.settle);
    copy_str(r->dex, sizeof(r->dex), in.dex);
    r->spec.struct_size = sizeof(r->spec);
    r->spec.symbol = r->symbol;
    r->spec.venue_symbol = r->venue_symbol;
    r->spec.base = r->base;
    r->spec.quote = r->quote;
    r->spec.settle = r->settle[0] ? r->settle : NULL;
    r->spec.dex = r->dex[0] ? r->dex : NULL;
    return KS_OK;
}

int32_t ks_market_find(const ks_market_t *m, uint32_t venue, const char *symbol)
{
    char key[KS_SYMBOL_LEN + 16];
    void *v;
    make_key(key, sizeof(key), venue, symbol);
    return ks_strmap_get(&m->by_key, key, &v) ? (int32_t)((intptr_t)v - 1) : -1;
}

const ks_inst_rec_t *ks_market_inst(const ks_market_t *m, int32_t id)
{
    return id >= 0 && id < m->n ? m->inst[id] : NULL;
}

ks_mkt_t *ks_market_state(ks_market_t *m, int32_t id)
{
    return id >= 0 && id < m->n ? m->mkt[id] : NULL;
}

static void merge_ticker(ks_mkt_t *k, const ks_ticker_t *t)
{
    uint32_t f = t->fields;
    ks_ticker_t *d = &k->ticker;
    if (f & KS_TK_LAST)
        d->last = t->last;
    if (f & KS_TK_MARK)
        d->mark = t->mark;
    if (f & KS_TK_INDEX)
        d->index = t->index;
    if (f & KS_TK_BID)
        d->bid = t->bid;
    if (f & KS_TK_ASK)
        d->ask = t->ask;
    if (f & KS_TK_FUNDING_RATE)
        d->funding_rate = t->funding_rate;
    if (f & KS_TK_NEXT_FUNDING)
        d->next_funding_ts = t->next_funding_ts;
    if (f & KS_TK_FUNDING_INTERVAL)
        d->funding_interval_h = t->funding_interval_h;
    if (f & KS_TK_OPEN_INTEREST)
        d->open_interest = t->open_interest;
    if (f & KS_TK_VOLUME_QUOTE_24H)
        d->volume_quote_24h = t->volume_quote_24h;
    k->ticker_fields |= f;
    d->fields = k->ticker_fields;
    d->hdr = t->hdr;
}

void ks_market_apply(ks_market_t *m, const ks_event_t *ev)
{
    ks_mkt_t *k = ks_market_state(m, ev->inst);
    if (!k)
        return;
    if (ev->venue_ts) {
        if (ev->venue_ts < k->last_venue_ts)
            k->time_regressed = true;
        else
            k->last_venue_ts = ev->venue_ts;
    }
    k->last_recv_ns = ev->recv_ns;
    switch ((ks_event_type_t)ev->type) {
    case KS_EV_BBO: {
        const ks_bbo_t *b = (const ks_bbo_t *)ev;
        k->bid_px = b->bid_px;
        k->bid_qty = b->bid_qty;
        k->ask_px = b->ask_px;
        k->ask_qty = b->ask_qty;
        k->bbo_recv_ns = ev->recv_ns;
        k->bbo_venue_ts = ev->venue_ts;
        k->bbo_count++;
        break;
    }
    case KS_EV_BOOK: {
        /* A snapshot's top of book is the BBO; deltas are left to the venue adapter,
         * which emits BBO events for the merged book. */
        const ks_book_t *b = (const ks_book_t *)ev;
        if (b->snapshot) {
            k->bid_px = b->n_bids ? b->bids[0].px : KS_DEC_ZERO;
            k->bid_qty = b->n_bids ? b->bids[0].qty : KS_DEC_ZERO;
            k->ask_px = b->n_asks ? b->asks[0].px : KS_DEC_ZERO;
            k->ask_qty = b->n_asks ? b->asks[0].qty : KS_DEC_ZERO;
            k->bbo_recv_ns = ev->recv_ns;
            k->bbo_venue_ts = ev->venue_ts;
        }
        break;
    }
    case KS_EV_TICKER:
        merge_ticker(k, (const ks_ticker_t *)ev);
        k->ticker_recv_ns = ev->recv_ns;
        break;
    case KS_EV_ORACLE:
        k->oracle = ((const ks_oracle_t *)ev)->px;
        k->oracle_recv_ns = ev->recv_ns;
        k->oracle_venue_ts = ev->venue_ts;
        break;
    case KS_EV_TRADE: {
        const ks_trade_t *t = (const ks_trade_t *)ev;
        k->last_px = t->px;
        k->last_qty = t->qty;
        k->last_side = t->side;
        k->trade_recv_ns = ev->recv_ns;
        break;
    }
    case KS_EV_LIQUIDATION: {
        const ks_liquidation_t *l = (const ks_liquidation_t *)ev;
        k->liq[k->liq_head] = (ks_liq_rec_t){l->side, l->px, l->qty, ev->venue_ts, ev->recv_ns};
        k->liq_head = (k->liq_head + 1) % KS_MKT_LIQ_RING;
        if (k->liq_count < KS_MKT_LIQ_RING)
            k->liq_count++;
        k->liq_recv_ns = ev->recv_ns;
        break;
    }
    case KS_EV_ORDER:
    case KS_EV_FILL:
    case KS_EV_POSITION:
    case KS_EV_BALANCE:
    case KS_EV_FUNDING:
    case KS_EV_CONN:
    case KS_EV_INSTRUMENT:
    case KS_EV_SYNC_DONE:
    case KS_EV_TRANSFER:
        break;
    }
}

bool ks_market_mid(const ks_market_t *m, int32_t id, ks_dec_t *out)
{
    const ks_mkt_t *k = id >= 0 && id < m->n ? m->mkt[id] : NULL;
    if (!k)
        return false;
    if (k->bid_px.mant > 0 && k->ask_px.mant > 0) {
        ks_dec_t s;
        if (ks_dec_add(k->bid_px, k->ask_px, &s) == KS_OK &&
            ks_dec_div(s, KS_DEC(2, 0), KS_DEC_MAX_SCALE, KS_ROUND_HALF_EVEN, out) == KS_OK) {
            *out = ks_dec_normalize(*out);
            return true;
        }
    }
    if (k->last_px.mant > 0) {
        *out = k->last_px;
        return true;
    }
    if (k->ticker_fields & KS_TK_MARK) {
        *out = k->ticker.mark;
        return true;
    }
    return false;
}

bool ks_market_mark(const ks_market_t *m, int32_t id, ks_dec_t *out)
{
    const ks_mkt_t *k = id >= 0 && id < m->n ? m->mkt[id] : NULL;
    if (!k)
        return false;
    if ((k->ticker_fields & KS_TK_MARK) && k->ticker.mark.mant > 0) {
        *out = k->ticker.mark;
        return true;
    }
    return ks_market_mid(m, id, out);
}

void ks_market_view(const ks_market_t *m, int32_t id, ks_market_view_t *out)
{
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    const ks_mkt_t *k = id >= 0 && id < m->n ? m->mkt[id] : NULL;
    const ks_inst_rec_t *r = ks_market_inst(m, id);
    if (!k || !r)
        return;
    out->bid_px = k->bid_px;
    out->bid_qty = k->bid_qty;
    out->ask_px = k->ask_px;
    out->ask_qty = k->ask_qty;
    out->bbo_recv_ns = k->bbo_recv_ns;
    out->mark = k->ticker.mark;
    out->index = k->ticker.index;
    out->last = (k->ticker_fields & KS_TK_LAST) ? k->ticker.last : k->last_px;
    out->funding_rate = k->ticker.funding_rate;
    out->open_interest = k->ticker.open_interest;
    out->volume_quote_24h = k->ticker.volume_quote_24h;
    out->ticker_recv_ns = k->ticker_recv_ns;
    out->oracle = k->oracle;
    out->oracle_recv_ns = k->oracle_recv_ns;
    out->last_venue_ts = k->last_venue_ts;
    out->spec_version = r->spec.spec_version;
    out->inst_flags = r->spec.flags;
}
