/* The paper-trading matcher (see paper.h). */
#include "paper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct resting {
    uint32_t venue;
    ks_order_cmd_t cmd;
} resting_t;

struct ks_paper {
    ks_market_t *market;
    ks_paper_emit_fn emit;
    void *ud;
    resting_t *r;
    int n, cap;
    uint64_t trade_seq;
};

ks_paper_t *ks_paper_new(ks_market_t *market, ks_paper_emit_fn emit, void *ud)
{
    ks_paper_t *p = calloc(1, sizeof(*p));
    if (p) {
        p->market = market;
        p->emit = emit;
        p->ud = ud;
    }
    return p;
}

void ks_paper_free(ks_paper_t *p)
{
    if (p) {
        free(p->r);
        free(p);
    }
}

int ks_paper_resting(const ks_paper_t *p)
{
    return p->n;
}

static void update(ks_paper_t *p, uint32_t venue, const ks_order_cmd_t *c, int status,
                   ks_dec_t filled, ks_dec_t avg, ks_dec_t fee, int reject, const char *reason,
                   int64_t wall_ns)
{
    ks_order_update_t u;
    KS_EVENT_INIT(&u, KS_EV_ORDER);
    u.hdr.inst = c->inst;
    u.hdr.venue_ts = wall_ns;
    ks_strlcpy(u.cloid, c->cloid, sizeof(u.cloid));
    snprintf(u.venue_id, sizeof(u.venue_id), "paper-%s", c->cloid);
    u.status = (uint8_t)status;
    u.side = c->side;
    u.type = c->type;
    u.tif = c->tif;
    u.reduce_only = c->reduce_only;
    u.price = c->price;
    u.qty = c->qty;
    u.filled = filled;
    u.avg_price = avg;
    u.fee = fee;
    u.reject = reject;
    if (reason)
        ks_strlcpy(u.reason, reason, sizeof(u.reason));
    p->emit(p->ud, venue, &u.hdr);
}

static void fill(ks_paper_t *p, uint32_t venue, const ks_order_cmd_t *c, ks_dec_t px, bool maker,
                 int64_t wall_ns)
{
    const ks_inst_rec_t *r = ks_market_inst(p->market, c->inst);
    ks_dec_t notional, fee = KS_DEC_ZERO;
    ks_dec_t rate = maker ? r->spec.maker_fee : r->spec.taker_fee;
    if (ks_dec_mul(px, c->qty, &notional) == KS_OK)
        ks_dec_mul_round(notional, rate, 8, KS_ROUND_CEIL, &fee);
    ks_fill_t f;
    KS_EVENT_INIT(&f, KS_EV_FILL);
    f.hdr.inst = c->inst;
    f.hdr.venue_ts = wall_ns;
    ks_strlcpy(f.cloid, c->cloid, sizeof(f.cloid));
    snprintf(f.venue_id, sizeof(f.venue_id), "paper-%s", c->cloid);
    snprintf(f.trade_id, sizeof(f.trade_id), "paper-%llu", (unsigned long long)++p->trade_seq);
    f.side = c->side;
    f.maker = maker;
    f.px = px;
    f.qty = c->qty;
    f.fee = fee;
    ks_strlcpy(f.fee_asset, r->quote, sizeof(f.fee_asset));
    p->emit(p->ud, venue, &f.hdr);
    update(p, venue, c, KS_OS_FILLED, c->qty, px, fee, KS_REJ_NONE, NULL, wall_ns);
}

/* The touch a buy (ask) or sell (bid) would take, zero when absent. */
static ks_dec_t touch(ks_paper_t *p, int32_t inst, int side)
{
    const ks_mkt_t *k = ks_market_state(p->market, inst);
    if (!k)
        return KS_DEC_ZERO;
    ks_dec_t px = side == KS_SIDE_BUY ? k->ask_px : k->bid_px;
    ks_dec_t q = side == KS_SIDE_BUY ? k->ask_qty : k->bid_qty;
    return q.mant > 0 ? px : KS_DEC_ZERO;
}

static bool crosses(const ks_order_cmd_t *c, ks_dec_t t)
{
    if (t.mant <= 0)
        return false;
    if (c->type == KS_ORD_MARKET)
        return true;
    return c->side == KS_SIDE_BUY ? ks_dec_cmp(t, c->price) <= 0 : ks_dec_cmp(t, c->price) >= 0;
}

int ks_paper_place(ks_paper_t *p, uint32_t venue, const ks_order_cmd_t *in, ks_dec_t position,
                   int64_t wall_ns)
{
    ks_order_cmd_t c = *in;
    if (!ks_market_inst(p->market, c.inst))
        return KS_ENOENT;
    if (c.reduce_only) {
        /* only the part that shrinks the position */
        ks_dec_t closable = KS_DEC_ZERO;
        if (c.side == KS_SIDE_SELL && ks_dec_sign(position) > 0)
            closable = position;
        if (c.side == KS_SIDE_BUY && ks_dec_sign(position) < 0)
            closable = ks_dec_neg(position);
        if (ks_dec_is_zero(closable)) {
            update(p, venue, &c, KS_OS_REJECTED, KS_DEC_ZERO, KS_DEC_ZERO, KS_DEC_ZERO,
                   KS_REJ_REDUCE_ONLY, "reduce-only order would not reduce the position", wall_ns);
            return KS_OK;
        }
        c.qty = ks_dec_min(c.qty, closable);
    }
    ks_dec_t t = touch(p, c.inst, c.side);
    bool x = crosses(&c, t);
    update(p, venue, &c, KS_OS_ACKED, KS_DEC_ZERO, KS_DEC_ZERO, KS_DEC_ZERO, KS_REJ_NONE, NULL,
           wall_ns);
    if (c.type == KS_ORD_MARKET && !x) {
        update(p, venue, &c, KS_OS_REJECTED, KS_DEC_ZERO, KS_DEC_ZERO, KS_DEC_ZERO,
               KS_REJ_NO_LIQUIDITY, "no quote to fill against", wall_ns);
        return KS_OK;
    }
    if (x && c.tif == KS_TIF_POST_ONLY) {
        update(p, venue, &c, KS_OS_REJECTED, KS_DEC_ZERO, KS_DEC_ZERO, KS_DEC_ZERO,
               KS_REJ_POST_ONLY, "post-only order would take", wall_ns);
        return KS_OK;
    }
    if (x) {
        fill(p, venue, &c, t, false, wall_ns);
        return KS_OK;
    }
    if (c.tif == KS_TIF_IOC || c.tif == KS_TIF_FOK) {
        update(p, venue, &c, KS_OS_EXPIRED, KS_DEC_ZERO, KS_DEC_ZERO, KS_DEC_ZERO, KS_REJ_NONE,
               "nothing to take at this price", wall_ns);
        return KS_OK;
    }
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 16;
        resting_t *nr = realloc(p->r, (size_t)nc * sizeof(*nr));
        if (!nr)
            return KS_ENOMEM;
        p->r = nr;
        p->cap = nc;
    }
    p->r[p->n++] = (resting_t){venue, c};
    return KS_OK;
}

int ks_paper_cancel(ks_paper_t *p, const char *cloid, int64_t wall_ns)
{
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->r[i].cmd.cloid, cloid) != 0)
            continue;
        resting_t r = p->r[i];
        p->r[i] = p->r[--p->n];
        update(p, r.venue, &r.cmd, KS_OS_CANCELED, KS_DEC_ZERO, KS_DEC_ZERO, KS_DEC_ZERO,
               KS_REJ_NONE, NULL, wall_ns);
        return KS_OK;
    }
    return KS_ENOENT;
}

void ks_paper_on_bbo(ks_paper_t *p, int32_t inst, int64_t wall_ns)
{
    for (int i = 0; i < p->n;) {
        resting_t *r = &p->r[i];
        if (r->cmd.inst != inst || !crosses(&r->cmd, touch(p, inst, r->cmd.side))) {
            i++;
            continue;
        }
        resting_t done = *r;
        p->r[i] = p->r[--p->n];
        fill(p, done.venue, &done.cmd, done.cmd.price, true, wall_ns);
    }
}
