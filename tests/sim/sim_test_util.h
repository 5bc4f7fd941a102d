/* Helpers shared by the sim venue tests: decimal shorthands and a canonical one-line text
 * form of every event (field by field, so struct padding never matters), used to
 * compare event streams and to print readable failures. */
#ifndef KS_SIM_TEST_UTIL_H
#define KS_SIM_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kestrel/kestrel.h>

static inline ks_dec_t D(const char *s)
{
    ks_dec_t d;
    if (ks_dec_parse(s, (size_t)-1, &d) != KS_OK) {
        fprintf(stderr, "bad decimal literal %s\n", s);
        d = KS_DEC_ZERO;
    }
    return d;
}

/* Formats into one of 16 rotating buffers (several F() per assertion are fine). */
static inline const char *F(ks_dec_t d)
{
    static char buf[16][KS_DEC_STRLEN];
    static int i;
    i = (i + 1) % 16;
    ks_dec_format(d, buf[i], sizeof(buf[i]));
    return buf[i];
}

/* Asserts two decimals are equal, printing both. */
#define assert_dec_equal(a, b)                                                                     \
    do {                                                                                           \
        ks_dec_t a_ = (a), b_ = (b);                                                               \
        if (ks_dec_cmp(a_, b_) != 0)                                                               \
            fail_msg("%s = %s, expected %s", #a, F(a_), F(b_));                                    \
    } while (0)

static inline size_t sim_tx_put(char *buf, size_t cap, size_t pos, const char *fmt, ...)
{
    va_list ap;
    if (pos >= cap)
        return pos;
    va_start(ap, fmt);
    int n = vsnprintf(buf + pos, cap - pos, fmt, ap);
    va_end(ap);
    return n > 0 ? pos + (size_t)n : pos;
}

/* Canonical text of an event (type name, header fields except seq/recv_ns, payload). */
static inline const char *sim_event_text(const ks_event_t *e, char *buf, size_t cap)
{
    size_t p = 0;
    p = sim_tx_put(buf, cap, p, "%s inst=%d ts=%lld fl=%u", ks_event_type_name(e->type), e->inst,
                   (long long)e->venue_ts, e->flags);
    switch ((ks_event_type_t)e->type) {
    case KS_EV_BBO: {
        const ks_bbo_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " %s@%s / %s@%s", F(x->bid_qty), F(x->bid_px), F(x->ask_qty),
                       F(x->ask_px));
        break;
    }
    case KS_EV_BOOK: {
        const ks_book_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " u=%llu snap=%d", (unsigned long long)x->update_id,
                       x->snapshot);
        for (uint32_t i = 0; i < x->n_bids; i++)
            p = sim_tx_put(buf, cap, p, " b%s@%s", F(x->bids[i].qty), F(x->bids[i].px));
        for (uint32_t i = 0; i < x->n_asks; i++)
            p = sim_tx_put(buf, cap, p, " a%s@%s", F(x->asks[i].qty), F(x->asks[i].px));
        break;
    }
    case KS_EV_TRADE: {
        const ks_trade_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " %s %s@%s id=%s", ks_side_name(x->side), F(x->qty), F(x->px),
                       x->trade_id);
        break;
    }
    case KS_EV_TICKER: {
        const ks_ticker_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p,
                       " f=%u last=%s mark=%s index=%s bid=%s ask=%s fr=%s next=%lld iv=%d "
                       "oi=%s vol=%s",
                       x->fields, F(x->last), F(x->mark), F(x->index), F(x->bid), F(x->ask),
                       F(x->funding_rate), (long long)x->next_funding_ts, x->funding_interval_h,
                       F(x->open_interest), F(x->volume_quote_24h));
        break;
    }
    case KS_EV_ORACLE: {
        const ks_oracle_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " px=%s", F(x->px));
        break;
    }
    case KS_EV_LIQUIDATION: {
        const ks_liquidation_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " %s %s@%s", ks_side_name(x->side), F(x->qty), F(x->px));
        break;
    }
    case KS_EV_ORDER: {
        const ks_order_update_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p,
                       " %s vid=%s %s %s %s %s ro=%d %s@%s filled=%s avg=%s fee=%s rej=%s "
                       "\"%s\"",
                       x->cloid, x->venue_id, ks_order_status_name(x->status),
                       ks_side_name(x->side), ks_ord_type_name(x->type), ks_tif_name(x->tif),
                       x->reduce_only, F(x->qty), F(x->price), F(x->filled), F(x->avg_price),
                       F(x->fee), ks_reject_name(x->reject), x->reason);
        break;
    }
    case KS_EV_FILL: {
        const ks_fill_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " %s vid=%s tid=%s %s %s %s@%s fee=%s %s", x->cloid,
                       x->venue_id, x->trade_id, ks_side_name(x->side),
                       x->maker ? "maker" : "taker", F(x->qty), F(x->px), F(x->fee), x->fee_asset);
        break;
    }
    case KS_EV_POSITION: {
        const ks_position_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " qty=%s entry=%s mark=%s liq=%s margin=%s upnl=%s lev=%d",
                       F(x->qty), F(x->entry_px), F(x->mark_px), F(x->liq_px), F(x->margin),
                       F(x->upnl), x->leverage);
        break;
    }
    case KS_EV_BALANCE: {
        const ks_balance_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " %s %s total=%s avail=%s eq=%s im=%s mm=%s",
                       ks_wallet_name(x->wallet), x->asset, F(x->total), F(x->available),
                       F(x->equity), F(x->initial_margin), F(x->maint_margin));
        break;
    }
    case KS_EV_FUNDING: {
        const ks_funding_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " rate=%s qty=%s mark=%s amount=%s %s", F(x->rate),
                       F(x->position_qty), F(x->mark_px), F(x->amount), x->asset);
        break;
    }
    case KS_EV_CONN: {
        const ks_conn_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " state=%u \"%s\"", x->state, x->detail);
        break;
    }
    case KS_EV_INSTRUMENT:
        break;
    case KS_EV_SYNC_DONE: {
        const ks_sync_done_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " req=%llu what=%u rc=%d \"%s\"", (unsigned long long)x->req_id,
                       x->what, x->rc, x->detail);
        break;
    }
    case KS_EV_TRANSFER: {
        const ks_transfer_result_t *x = (const void *)e;
        p = sim_tx_put(buf, cap, p, " req=%llu rc=%d %s %s %u->%u \"%s\"",
                       (unsigned long long)x->req_id, x->rc, F(x->amount), x->asset, x->from, x->to,
                       x->detail);
        break;
    }
    }
    (void)p;
    return buf;
}

static inline uint64_t sim_fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif
