/* Order management (see oms.h). */
#include "oms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define PX_SCALE 12 /* fraction digits kept for average prices and PnL */

static void base36(uint64_t v, char *out, size_t cap)
{
    char tmp[16];
    int n = 0;
    do {
        int d = (int)(v % 36);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= 36;
    } while (v && n < (int)sizeof(tmp));
    int i = 0;
    for (; i < n && (size_t)i + 1 < cap; i++)
        out[i] = tmp[n - 1 - i];
    out[i] = '\0';
}

int ks_oms_init(ks_oms_t *oms, ks_store_t *store, ks_market_t *market, int64_t session_ms)
{
    memset(oms, 0, sizeof(*oms));
    oms->store = store;
    oms->market = market;
    base36((uint64_t)session_ms, oms->session, sizeof(oms->session));
    ks_strlcpy(oms->host_acct.name, "", sizeof(oms->host_acct.name));
    return KS_OK;
}

static void free_acct(ks_strat_acct_t *a)
{
    free(a->pos);
    a->pos = NULL;
    a->n_pos = 0;
}

void ks_oms_free(ks_oms_t *oms)
{
    size_t it = 0;
    void *v;
    while (ks_strmap_next(&oms->orders, &it, NULL, &v))
        free(v);
    ks_strmap_free(&oms->orders);
    free(oms->open);
    free(oms->done);
    for (int i = 0; i < oms->n_accts; i++)
        free_acct(&oms->accts[i]);
    free(oms->accts);
    free_acct(&oms->host_acct);
    memset(oms, 0, sizeof(*oms));
}

int ks_oms_add_account(ks_oms_t *oms, const char *name, ks_dec_t capital)
{
    ks_strat_acct_t *na = realloc(oms->accts, (size_t)(oms->n_accts + 1) * sizeof(*na));
    if (!na)
        return KS_ENOMEM;
    oms->accts = na;
    ks_strat_acct_t *a = &oms->accts[oms->n_accts];
    memset(a, 0, sizeof(*a));
    ks_strlcpy(a->name, name, sizeof(a->name));
    a->capital = capital;
    return oms->n_accts++;
}

ks_strat_acct_t *ks_oms_account(ks_oms_t *oms, int strat)
{
    if (strat < 0)
        return &oms->host_acct;
    return strat < oms->n_accts ? &oms->accts[strat] : NULL;
}

static ks_pos_t *pos_slot(ks_strat_acct_t *a, int32_t inst)
{
    if (inst < 0)
        return NULL;
    if (inst >= a->n_pos) {
        int32_t n = inst + 16;
        ks_pos_t *np = realloc(a->pos, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        memset(np + a->n_pos, 0, (size_t)(n - a->n_pos) * sizeof(*np));
        a->pos = np;
        a->n_pos = n;
    }
    return &a->pos[inst];
}

bool ks_oms_transition_ok(int from, int to)
{
    if (from == to)
        return to == KS_OS_PARTIAL; /* a partial fill may follow a partial fill */
    switch ((ks_order_status_t)from) {
    case KS_OS_NEW:
        return to != KS_OS_NEW;
    case KS_OS_SENT:
        return to != KS_OS_NEW;
    case KS_OS_ACKED:
        return to == KS_OS_PARTIAL || to == KS_OS_FILLED || to == KS_OS_CANCELED ||
               to == KS_OS_EXPIRED || to == KS_OS_UNKNOWN;
    case KS_OS_PARTIAL:
        return to == KS_OS_FILLED || to == KS_OS_CANCELED || to == KS_OS_EXPIRED ||
               to == KS_OS_UNKNOWN;
    case KS_OS_UNKNOWN:
        return to == KS_OS_ACKED || to == KS_OS_PARTIAL || to == KS_OS_FILLED ||
               to == KS_OS_CANCELED || to == KS_OS_REJECTED || to == KS_OS_EXPIRED;
    case KS_OS_FILLED:
    case KS_OS_CANCELED:
    case KS_OS_REJECTED:
    case KS_OS_EXPIRED:
        return false;
    }
    return false;
}

ks_order_t *ks_oms_find(const ks_oms_t *oms, const char *cloid)
{
    void *v;
    return ks_strmap_get(&oms->orders, cloid, &v) ? v : NULL;
}

static int open_add(ks_oms_t *oms, ks_order_t *o)
{
    if (oms->n_open == oms->cap_open) {
        uint32_t nc = oms->cap_open ? oms->cap_open * 2 : 64;
        ks_order_t **nl = realloc(oms->open, (size_t)nc * sizeof(*nl));
        if (!nl)
            return KS_ENOMEM;
        oms->open = nl;
        oms->cap_open = nc;
    }
    o->open_slot = oms->n_open;
    oms->open[oms->n_open++] = o;
    return KS_OK;
}

static void open_remove(ks_oms_t *oms, ks_order_t *o)
{
    uint32_t i = o->open_slot;
    if (i >= oms->n_open || oms->open[i] != o)
        return;
    oms->open[i] = oms->open[--oms->n_open];
    oms->open[i]->open_slot = i;
}

int ks_oms_create(ks_oms_t *oms, int strat, uint32_t venue, const char *venue_name, int32_t inst,
                  const ks_order_intent_t *in, int64_t wall_ns, ks_order_t **out)
{
    ks_strat_acct_t *a = ks_oms_account(oms, strat);
    const ks_inst_rec_t *r = ks_market_inst(oms->market, inst);
    char prefix[13], seq[16];
    int rc;

    if (!a || !r)
        return KS_EINVAL;
    ks_order_t *o = calloc(1, sizeof(*o));
    if (!o)
        return KS_ENOMEM;
    ks_strlcpy(prefix, strat < 0 ? "host" : a->name, sizeof(prefix));
    base36(++oms->seq, seq, sizeof(seq));
    /* <= 12 + 1 + 8 (ms until year 5138) + 1 + 14 = 36 characters: every venue's limit */
    snprintf(o->rec.cloid, sizeof(o->rec.cloid), "%.12s-%.8s-%.14s", prefix, oms->session, seq);
    ks_strlcpy(o->rec.strategy, a->name, sizeof(o->rec.strategy));
    ks_strlcpy(o->rec.venue, venue_name, sizeof(o->rec.venue));
    ks_strlcpy(o->rec.symbol, r->symbol, sizeof(o->rec.symbol));
    o->rec.side = in->side;
    o->rec.type = in->type;
    o->rec.tif = in->tif;
    o->rec.reduce_only = in->reduce_only;
    o->rec.price = in->price;
    o->rec.qty = in->qty;
    o->rec.status = KS_OS_NEW;
    o->rec.created_ns = o->rec.updated_ns = wall_ns;
    o->inst = inst;
    o->venue = venue;
    o->strat = strat;
    /* Write-ahead: the order is on disk before anything can leave. */
    if (oms->store && (rc = ks_store_order_insert(oms->store, &o->rec)) != KS_OK) {
        free(o);
        return rc;
    }
    if ((rc = open_add(oms, o)) != KS_OK) {
        free(o);
        return rc;
    }
    if ((rc = ks_strmap_put(&oms->orders, o->rec.cloid, o)) != KS_OK) {
        open_remove(oms, o);
        free(o);
        return rc;
    }
    a->orders++;
    a->open_orders++;
    *out = o;
    return KS_OK;
}

/* On disk an order never claims more filled than the fills stored with it: while the
 * venue reports more than the fills received (they trail the update, or were lost), the
 * row keeps the booked quantity and, if the order is finished, an open status. After a
 * crash the order is then reloaded as open, recovery asks the venue, and exactly the
 * difference is booked (ks_oms_load takes the stored quantity as booked); a row written
 * final, with everything booked, needs nothing more. */
static void persist(ks_oms_t *oms, ks_order_t *o, int64_t wall_ns)
{
    o->rec.updated_ns = wall_ns;
    if (!oms->store)
        return;
    ks_order_rec_t r = o->rec;
    r.filled = o->fill_qty;
    if (ks_order_status_is_final(r.status) && ks_dec_cmp(o->fill_qty, o->rec.filled) < 0)
        r.status = ks_dec_sign(r.filled) > 0 ? KS_OS_PARTIAL : KS_OS_ACKED;
    ks_store_order_update(oms->store, &r);
}

static void done_push(ks_oms_t *oms, ks_order_t *o, int64_t at)
{
    if (oms->done_head + oms->done_n == oms->cap_done) {
        if (oms->done_head > oms->cap_done / 2) {
            memmove(oms->done, oms->done + oms->done_head, oms->done_n * sizeof(*oms->done));
            oms->done_head = 0;
        } else {
            uint32_t nc = oms->cap_done ? oms->cap_done * 2 : 256;
            struct ks_oms_done *nd = realloc(oms->done, (size_t)nc * sizeof(*nd));
            if (!nd)
                return; /* it simply stays in memory */
            oms->done = nd;
            oms->cap_done = nc;
        }
    }
    oms->done[oms->done_head + oms->done_n++] = (struct ks_oms_done){o, at};
}

static void became_final(ks_oms_t *oms, ks_order_t *o, int64_t wall_ns)
{
    ks_strat_acct_t *a = ks_oms_account(oms, o->strat);
    if (a && a->open_orders)
        a->open_orders--;
    open_remove(oms, o);
    done_push(oms, o, wall_ns);
    if (o->rec.status == KS_OS_REJECTED && a)
        a->rejects++;
}

void ks_oms_sent(ks_oms_t *oms, ks_order_t *o, int64_t now_ns, int64_t wall_ns)
{
    o->sent_ns = now_ns;
    if (o->rec.status == KS_OS_NEW) {
        o->rec.status = KS_OS_SENT;
        persist(oms, o, wall_ns);
    }
}

void ks_oms_send_failed(ks_oms_t *oms, ks_order_t *o, int reject, const char *reason,
                        int64_t wall_ns)
{
    if (ks_order_status_is_final(o->rec.status))
        return;
    o->rec.status = KS_OS_REJECTED;
    o->rec.reject = reject;
    ks_strlcpy(o->rec.reason, reason ? reason : "", sizeof(o->rec.reason));
    persist(oms, o, wall_ns);
    became_final(oms, o, wall_ns);
}

void ks_oms_mark_unknown(ks_oms_t *oms, ks_order_t *o, const char *reason, int64_t wall_ns)
{
    if (!ks_oms_transition_ok(o->rec.status, KS_OS_UNKNOWN))
        return;
    o->rec.status = KS_OS_UNKNOWN;
    ks_strlcpy(o->rec.reason, reason ? reason : "", sizeof(o->rec.reason));
    persist(oms, o, wall_ns);
}

ks_order_t *ks_oms_on_order(ks_oms_t *oms, const ks_order_update_t *u, int64_t wall_ns,
                            bool *changed)
{
    ks_order_t *o = ks_oms_find(oms, u->cloid);
    *changed = false;
    if (!o)
        return NULL;
    int cur = o->rec.status;
    if (ks_order_status_is_final(cur))
        return o; /* duplicates and late updates of a finished order change nothing */
    bool more_filled = ks_dec_cmp(u->filled, o->rec.filled) > 0;
    bool status_ok = ks_oms_transition_ok(cur, u->status);
    if (u->status == KS_OS_PARTIAL && cur == KS_OS_PARTIAL && !more_filled)
        status_ok = false; /* a repeated partial update */
    if (ks_dec_cmp(u->filled, o->rec.filled) < 0)
        status_ok = false; /* older than what we have: out of order */
    if (!status_ok && !more_filled)
        return o;
    if (status_ok)
        o->rec.status = u->status;
    if (more_filled) {
        o->rec.filled = u->filled;
        o->rec.avg_price = u->avg_price;
        o->rec.fee = u->fee;
    }
    if (u->venue_id[0] && !o->rec.venue_id[0])
        ks_strlcpy(o->rec.venue_id, u->venue_id, sizeof(o->rec.venue_id));
    if (status_ok && (u->reject || u->reason[0])) {
        o->rec.reject = u->reject;
        ks_strlcpy(o->rec.reason, u->reason, sizeof(o->rec.reason));
    }
    *changed = true;
    persist(oms, o, wall_ns);
    if (ks_order_status_is_final(o->rec.status))
        became_final(oms, o, wall_ns);
    return o;
}

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h | 1;
}

/* Fee in the instrument's quote currency: a fee charged in the base asset is valued at
 * the fill price. */
static ks_dec_t fee_in_quote(const ks_inst_rec_t *r, const ks_fill_t *f)
{
    ks_dec_t q;
    if (f->fee_asset[0] && r && strcmp(f->fee_asset, r->base) == 0 &&
        ks_dec_mul_round(f->fee, f->px, PX_SCALE, KS_ROUND_HALF_EVEN, &q) == KS_OK)
        return q;
    return f->fee;
}

ks_dec_t ks_oms_fill_base_qty(const ks_inst_rec_t *r, const ks_fill_t *f, int side)
{
    ks_dec_t q;
    if (!r || r->spec.kind != KS_KIND_SPOT || !f->fee_asset[0] || strcmp(f->fee_asset, r->base))
        return f->qty;
    if ((side == KS_SIDE_BUY ? ks_dec_sub(f->qty, f->fee, &q) : ks_dec_add(f->qty, f->fee, &q)) !=
            KS_OK ||
        ks_dec_sign(q) < 0)
        return f->qty;
    return q;
}

/* Average-cost position update; realized PnL on the closed part. */
static void apply_fill(ks_pos_t *p, int side, ks_dec_t px, ks_dec_t qty)
{
    ks_dec_t dq = side == KS_SIDE_BUY ? qty : ks_dec_neg(qty);
    int ps = ks_dec_sign(p->qty);
    ks_dec_t t;

    if (ps == 0 || ps == ks_dec_sign(dq)) {
        /* Opening or adding: new avg = (|q| * avg + qty * px) / (|q| + qty). */
        ks_dec_t aq = ks_dec_abs(p->qty), c1, c2, num, den;
        if (ks_dec_mul(aq, p->avg_entry, &c1) == KS_OK && ks_dec_mul(qty, px, &c2) == KS_OK &&
            ks_dec_add(c1, c2, &num) == KS_OK && ks_dec_add(aq, qty, &den) == KS_OK &&
            ks_dec_div(num, den, PX_SCALE, KS_ROUND_HALF_EVEN, &t) == KS_OK)
            p->avg_entry = ks_dec_normalize(t);
        ks_dec_add(p->qty, dq, &p->qty);
        return;
    }
    /* Reducing (and maybe flipping). */
    ks_dec_t aq = ks_dec_abs(p->qty);
    ks_dec_t closed = ks_dec_min(aq, qty), diff, pnl;
    ks_dec_sub(px, p->avg_entry, &diff);
    if (ps < 0)
        diff = ks_dec_neg(diff);
    if (ks_dec_mul_round(closed, diff, PX_SCALE, KS_ROUND_HALF_EVEN, &pnl) == KS_OK)
        ks_dec_add(p->realized, pnl, &p->realized);
    ks_dec_add(p->qty, dq, &p->qty);
    if (ks_dec_is_zero(p->qty))
        p->avg_entry = KS_DEC_ZERO;
    else if (ks_dec_sign(p->qty) != ps)
        p->avg_entry = px; /* flipped: the remainder opened at this price */
}

static void persist_pos(ks_oms_t *oms, ks_strat_acct_t *a, int32_t inst, const ks_pos_t *p,
                        const char *venue_name, int64_t wall_ns)
{
    const ks_inst_rec_t *r = ks_market_inst(oms->market, inst);
    ks_position_rec_t pr;
    if (!oms->store || !r)
        return;
    memset(&pr, 0, sizeof(pr));
    ks_strlcpy(pr.strategy, a->name, sizeof(pr.strategy));
    ks_strlcpy(pr.venue, venue_name, sizeof(pr.venue));
    ks_strlcpy(pr.symbol, r->symbol, sizeof(pr.symbol));
    pr.qty = p->qty;
    pr.avg_entry = p->avg_entry;
    pr.realized_pnl = p->realized;
    pr.fees = p->fees;
    pr.funding = p->funding;
    pr.updated_ns = wall_ns;
    ks_store_position_put(oms->store, &pr);
}

static void missing_fill_id(const ks_order_t *o, uint32_t n, char *buf, size_t cap)
{
    snprintf(buf, cap, "recon-%.40s-%u", o->rec.cloid, n);
}

/* Whether a fill of o was booked by ks_oms_book_missing_fill. */
static bool booked_missing(const ks_order_t *o)
{
    char id[KS_VENUE_ID_LEN];
    for (uint32_t n = 0; n < o->n_fills && n < KS_OMS_MAX_FILLS_TRACKED; n++) {
        missing_fill_id(o, n, id, sizeof(id));
        uint64_t h = hash_id(id);
        for (uint32_t i = 0; i < o->n_fills && i < KS_OMS_MAX_FILLS_TRACKED; i++)
            if (o->fill_hash[i] == h)
                return true;
    }
    return false;
}

ks_order_t *ks_oms_on_fill(ks_oms_t *oms, const ks_fill_t *f, const char *venue_name,
                           int64_t wall_ns, bool *dup)
{
    ks_order_t *o = ks_oms_find(oms, f->cloid);
    *dup = false;
    if (!o)
        return NULL;
    uint64_t h = hash_id(f->trade_id);
    for (uint32_t i = 0; i < o->n_fills && i < KS_OMS_MAX_FILLS_TRACKED; i++) {
        if (o->fill_hash[i] == h) {
            *dup = true;
            return o;
        }
    }
    /* The order finished and its missing fills were booked from its final state
     * (ks_oms_book_missing_fill): a real fill arriving now was already counted. */
    if (ks_order_status_is_final(o->rec.status) && ks_dec_cmp(o->fill_qty, o->rec.filled) >= 0 &&
        booked_missing(o)) {
        ks_log_info("oms",
                    "fill %s of %s arrived after the order's missing quantity was booked; "
                    "not counted twice",
                    f->trade_id, f->cloid);
        *dup = true;
        return o;
    }
    const ks_inst_rec_t *r = ks_market_inst(oms->market, o->inst);
    ks_strat_acct_t *a = ks_oms_account(oms, o->strat);
    if (oms->store) {
        ks_fill_rec_t fr;
        memset(&fr, 0, sizeof(fr));
        ks_strlcpy(fr.cloid, f->cloid, sizeof(fr.cloid));
        ks_strlcpy(fr.strategy, a->name, sizeof(fr.strategy));
        ks_strlcpy(fr.venue, venue_name, sizeof(fr.venue));
        ks_strlcpy(fr.symbol, r ? r->symbol : "", sizeof(fr.symbol));
        ks_strlcpy(fr.trade_id, f->trade_id, sizeof(fr.trade_id));
        fr.side = f->side;
        fr.maker = f->maker;
        fr.px = f->px;
        fr.qty = f->qty;
        fr.fee = f->fee;
        ks_strlcpy(fr.fee_asset, f->fee_asset, sizeof(fr.fee_asset));
        fr.ts_ns = f->hdr.venue_ts ? f->hdr.venue_ts : wall_ns;
        if (ks_store_fill_insert(oms->store, &fr) == KS_EEXIST) {
            *dup = true;
            return o;
        }
    }
    if (o->n_fills < KS_OMS_MAX_FILLS_TRACKED)
        o->fill_hash[o->n_fills] = h;
    o->n_fills++;
    ks_dec_add(o->fill_qty, f->qty, &o->fill_qty);
    persist(oms, o, wall_ns); /* the row follows the fills booked, in their transaction */

    ks_pos_t *p = pos_slot(a, o->inst);
    if (!p)
        return o;
    int side = f->side ? f->side : o->rec.side;
    /* A spot fee taken in the coin changes what the wallet holds: the position is what
     * the wallet got (buy) or gave (sell); the fee's value is booked as a fee. */
    apply_fill(p, side, f->px, ks_oms_fill_base_qty(r, f, side));
    ks_dec_add(p->fees, fee_in_quote(r, f), &p->fees);
    p->fills++;
    p->touched = true;
    a->fills++;
    persist_pos(oms, a, o->inst, p, venue_name, wall_ns);
    return o;
}

/* Books one account's share of a forced fill. False when the share was seen before. */
static bool book_forced_share(ks_oms_t *oms, int strat, const ks_inst_rec_t *r, const ks_fill_t *f,
                              ks_dec_t share, int n, const char *venue_name, int64_t wall_ns)
{
    ks_strat_acct_t *a = ks_oms_account(oms, strat);
    ks_pos_t *p = pos_slot(a, r->id);
    ks_dec_t num, fee = KS_DEC_ZERO;
    if (!p)
        return false;
    if (ks_dec_mul(f->fee, share, &num) == KS_OK)
        ks_dec_div(num, f->qty, 12, KS_ROUND_HALF_EVEN, &fee);
    if (oms->store) {
        ks_fill_rec_t fr;
        memset(&fr, 0, sizeof(fr));
        ks_strlcpy(fr.strategy, a->name, sizeof(fr.strategy));
        ks_strlcpy(fr.venue, venue_name, sizeof(fr.venue));
        ks_strlcpy(fr.symbol, r->symbol, sizeof(fr.symbol));
        snprintf(fr.trade_id, sizeof(fr.trade_id), "%.50s/%d", f->trade_id, n);
        fr.side = f->side;
        fr.px = f->px;
        fr.qty = share;
        fr.fee = fee;
        ks_strlcpy(fr.fee_asset, f->fee_asset, sizeof(fr.fee_asset));
        fr.ts_ns = f->hdr.venue_ts ? f->hdr.venue_ts : wall_ns;
        if (ks_store_fill_insert(oms->store, &fr) == KS_EEXIST)
            return false;
    }
    apply_fill(p, f->side, f->px, share);
    ks_dec_add(p->fees, fee, &p->fees);
    p->fills++;
    p->touched = true;
    persist_pos(oms, a, r->id, p, venue_name, wall_ns);
    return true;
}

int ks_oms_on_forced_fill(ks_oms_t *oms, const ks_fill_t *f, const char *venue_name,
                          int64_t wall_ns, void (*cb)(void *ud, int strat, ks_dec_t qty), void *ud)
{
    const ks_inst_rec_t *r = ks_market_inst(oms->market, f->hdr.inst);
    int dir = f->side == KS_SIDE_BUY ? 1 : -1;
    int holders[64], n = 0;
    ks_dec_t held = KS_DEC_ZERO; /* |positions| this fill reduces */
    if (!r || ks_dec_sign(f->qty) <= 0)
        return 0;
    for (int i = -1; i < oms->n_accts && n < 64; i++) {
        ks_dec_t q = ks_oms_position(oms, i, r->id)->qty;
        if (!ks_oms_account(oms, i)->paper && ks_dec_sign(q) == -dir) {
            holders[n++] = i;
            ks_dec_add(held, ks_dec_abs(q), &held);
        }
    }
    if (!n)
        holders[n++] = -1; /* nobody holds it: the host account adopts it */
    ks_dec_t left = f->qty;
    int shares = 0;
    for (int k = 0; k < n; k++) {
        ks_dec_t share = left, num;
        if (k < n - 1) {
            ks_dec_t q = ks_dec_abs(ks_oms_position(oms, holders[k], r->id)->qty);
            if (ks_dec_mul(f->qty, q, &num) != KS_OK ||
                ks_dec_div(num, held, 12, KS_ROUND_FLOOR, &share) != KS_OK)
                continue;
            if (r->spec.lot_size.mant > 0)
                ks_dec_quantize(share, r->spec.lot_size, KS_ROUND_FLOOR, &share);
            share = ks_dec_min(share, left);
        }
        if (ks_dec_sign(share) <= 0)
            continue;
        if (!book_forced_share(oms, holders[k], r, f, share, k, venue_name, wall_ns))
            return shares;
        ks_dec_sub(left, share, &left);
        shares++;
        if (cb)
            cb(ud, holders[k], dir > 0 ? share : ks_dec_neg(share));
    }
    return shares;
}

void ks_oms_on_funding(ks_oms_t *oms, const ks_funding_t *f, const char *venue_name,
                       int64_t wall_ns)
{
    int32_t inst = f->hdr.inst;
    ks_dec_t denom = f->position_qty;
    if (ks_dec_is_zero(denom))
        denom = ks_oms_venue_position(oms, inst);
    if (ks_dec_is_zero(denom))
        return;
    for (int i = -1; i < oms->n_accts; i++) {
        ks_strat_acct_t *a = ks_oms_account(oms, i);
        if (a->paper || inst >= a->n_pos || ks_dec_is_zero(a->pos[inst].qty))
            continue;
        ks_pos_t *p = &a->pos[inst];
        ks_dec_t share, num;
        if (ks_dec_cmp(p->qty, denom) == 0) {
            share = f->amount; /* the whole position: exact */
        } else if (ks_dec_mul(f->amount, p->qty, &num) != KS_OK ||
                   ks_dec_div(num, denom, PX_SCALE, KS_ROUND_HALF_EVEN, &share) != KS_OK) {
            ks_log_warn("oms", "funding share for %s does not fit; skipped", a->name);
            continue;
        }
        ks_dec_add(p->funding, share, &p->funding);
        p->touched = true;
        if (oms->store) {
            const ks_inst_rec_t *r = ks_market_inst(oms->market, inst);
            ks_funding_rec_t fr;
            memset(&fr, 0, sizeof(fr));
            ks_strlcpy(fr.strategy, a->name, sizeof(fr.strategy));
            ks_strlcpy(fr.venue, venue_name, sizeof(fr.venue));
            ks_strlcpy(fr.symbol, r ? r->symbol : "", sizeof(fr.symbol));
            fr.rate = f->rate;
            fr.qty = p->qty;
            fr.mark = f->mark_px;
            fr.amount = share;
            fr.ts_ns = f->hdr.venue_ts ? f->hdr.venue_ts : wall_ns;
            ks_store_funding_insert(oms->store, &fr);
        }
        persist_pos(oms, a, inst, p, venue_name, wall_ns);
    }
}

const ks_pos_t *ks_oms_position(ks_oms_t *oms, int strat, int32_t inst)
{
    static const ks_pos_t zero;
    ks_strat_acct_t *a = ks_oms_account(oms, strat);
    if (!a || inst < 0 || inst >= a->n_pos)
        return &zero;
    return &a->pos[inst];
}

ks_dec_t ks_oms_total_position(ks_oms_t *oms, int32_t inst)
{
    ks_dec_t t = KS_DEC_ZERO;
    for (int i = -1; i < oms->n_accts; i++)
        ks_dec_add(t, ks_oms_position(oms, i, inst)->qty, &t);
    return t;
}

ks_dec_t ks_oms_venue_position(ks_oms_t *oms, int32_t inst)
{
    ks_dec_t t = KS_DEC_ZERO;
    for (int i = -1; i < oms->n_accts; i++)
        if (!ks_oms_account(oms, i)->paper)
            ks_dec_add(t, ks_oms_position(oms, i, inst)->qty, &t);
    return t;
}

ks_dec_t ks_oms_unrealized(ks_oms_t *oms, const ks_pos_t *p, int32_t inst)
{
    ks_dec_t mark, diff, u;
    if (ks_dec_is_zero(p->qty) || !ks_market_mark(oms->market, inst, &mark))
        return KS_DEC_ZERO;
    if (ks_dec_sub(mark, p->avg_entry, &diff) != KS_OK ||
        ks_dec_mul_round(p->qty, diff, PX_SCALE, KS_ROUND_HALF_EVEN, &u) != KS_OK)
        return KS_DEC_ZERO;
    return u;
}

void ks_oms_totals(ks_oms_t *oms, int strat, ks_acct_totals_t *out)
{
    ks_strat_acct_t *a = ks_oms_account(oms, strat);
    memset(out, 0, sizeof(*out));
    if (!a)
        return;
    out->orders = a->orders;
    out->fills = a->fills;
    out->rejects = a->rejects;
    out->open_orders = a->open_orders;
    for (int32_t i = 0; i < a->n_pos; i++) {
        const ks_pos_t *p = &a->pos[i];
        if (!p->touched)
            continue;
        ks_dec_add(out->fees, p->fees, &out->fees);
        ks_dec_add(out->funding, p->funding, &out->funding);
        ks_dec_add(out->realized, p->realized, &out->realized);
        ks_dec_add(out->unrealized, ks_oms_unrealized(oms, p, i), &out->unrealized);
        if (!ks_dec_is_zero(p->qty)) {
            ks_dec_t mark, n;
            out->open_positions++;
            if (ks_market_mark(oms->market, i, &mark) &&
                ks_dec_mul_round(ks_dec_abs(p->qty), mark, 8, KS_ROUND_HALF_EVEN, &n) == KS_OK)
                ks_dec_add(out->gross_notional, n, &out->gross_notional);
        }
    }
}

ks_dec_t ks_oms_open_qty(ks_oms_t *oms, int strat, int32_t inst)
{
    ks_dec_t t = KS_DEC_ZERO;
    for (uint32_t i = 0; i < oms->n_open; i++) {
        const ks_order_t *o = oms->open[i];
        if (o->strat != strat || o->inst != inst)
            continue;
        ks_dec_t rem;
        if (ks_dec_sub(o->rec.qty, o->rec.filled, &rem) != KS_OK)
            continue;
        ks_dec_add(t, o->rec.side == KS_SIDE_BUY ? rem : ks_dec_neg(rem), &t);
    }
    return t;
}

void ks_oms_foreach_open(ks_oms_t *oms, int strat, void (*cb)(void *ud, ks_order_t *o), void *ud)
{
    /* Collect first: the callback may finish orders (leaving the open list) or add some. */
    uint32_t n = 0;
    ks_order_t *small[64], **list = small;
    if (oms->n_open > 64 && !(list = malloc((size_t)oms->n_open * sizeof(*list))))
        return;
    for (uint32_t i = 0; i < oms->n_open; i++)
        if (strat == -2 || oms->open[i]->strat == strat)
            list[n++] = oms->open[i];
    for (uint32_t i = 0; i < n; i++)
        if (!ks_order_status_is_final(list[i]->rec.status))
            cb(ud, list[i]);
    if (list != small)
        free(list);
}

/* ---- recovery ----------------------------------------------------------------------------- */

typedef struct load_ctx {
    ks_oms_t *oms;
    int (*strat_of)(void *ud, const char *name);
    int32_t (*inst_of)(void *ud, const char *venue, const char *symbol, uint32_t *venue_id);
    void *ud;
    int n;
} load_ctx_t;

/* Builds the in-memory order of a stored record: open ones join the open list, final
 * ones the retirement queue. */
static ks_order_t *adopt_rec(load_ctx_t *c, const ks_order_rec_t *r, int64_t wall_ns)
{
    uint32_t venue;
    int32_t inst = c->inst_of(c->ud, r->venue, r->symbol, &venue);
    bool open = !ks_order_status_is_final(r->status);
    if (inst < 0) {
        ks_log_warn("oms", "%s order %s on %s %s: instrument not listed now; skipped",
                    open ? "open" : "finished", r->cloid, r->venue, r->symbol);
        return NULL;
    }
    ks_order_t *o = ks_oms_find(c->oms, r->cloid);
    if (o)
        return o;
    if (!(o = calloc(1, sizeof(*o))))
        return NULL;
    o->rec = *r;
    o->inst = inst;
    o->venue = venue;
    o->strat = r->strategy[0] ? c->strat_of(c->ud, r->strategy) : -1;
    o->fill_qty = r->filled; /* fills up to the recorded progress are in the store */
    if (open && open_add(c->oms, o) != KS_OK) {
        free(o);
        return NULL;
    }
    if (ks_strmap_put(&c->oms->orders, o->rec.cloid, o) != KS_OK) {
        if (open)
            open_remove(c->oms, o);
        free(o);
        return NULL;
    }
    if (open) {
        ks_oms_account(c->oms, o->strat)->open_orders++;
        c->n++;
    } else {
        done_push(c->oms, o, wall_ns);
    }
    return o;
}

static void load_order(void *ud, const ks_order_rec_t *r)
{
    adopt_rec(ud, r, 0);
}

static void note_fill_id(void *ud, const char *trade_id)
{
    ks_order_t *o = ud;
    if (o->n_fills < KS_OMS_MAX_FILLS_TRACKED)
        o->fill_hash[o->n_fills] = hash_id(trade_id);
    o->n_fills++;
}

ks_order_t *ks_oms_revive(ks_oms_t *oms, const char *cloid,
                          int (*strat_of)(void *ud, const char *name),
                          int32_t (*inst_of)(void *ud, const char *venue, const char *symbol,
                                             uint32_t *venue_id),
                          void *ud, int64_t wall_ns)
{
    ks_order_t *o = ks_oms_find(oms, cloid);
    ks_order_rec_t r;
    load_ctx_t c = {oms, strat_of, inst_of, ud, 0};
    if (o || !oms->store || ks_store_order_get(oms->store, cloid, &r) != KS_OK)
        return o;
    if (!(o = adopt_rec(&c, &r, wall_ns)))
        return NULL;
    /* The fills it had, so that a repeat is known as one (and a fill booked for missing
     * quantity is recognized). */
    ks_store_fill_ids(oms->store, cloid, note_fill_id, o);
    oms->revived++;
    ks_log_info("oms", "order %s (%s) loaded back from the store for a late update", cloid,
                ks_order_status_name(o->rec.status));
    return o;
}

uint32_t ks_oms_retire(ks_oms_t *oms, int64_t before_wall_ns)
{
    uint32_t n = 0, scan = oms->done_n;
    if (!oms->store)
        return 0;
    while (scan-- && oms->done_n && oms->done[oms->done_head].at < before_wall_ns) {
        struct ks_oms_done d = oms->done[oms->done_head++];
        oms->done_n--;
        ks_order_t *o = d.o;
        if (ks_dec_cmp(o->fill_qty, o->rec.filled) < 0) {
            done_push(oms, o, before_wall_ns); /* fills still due: look again later */
            continue;
        }
        ks_strmap_del(&oms->orders, o->rec.cloid);
        free(o);
        n++;
    }
    if (!oms->done_n)
        oms->done_head = 0;
    oms->retired += n;
    return n;
}

static void load_position(void *ud, const ks_position_rec_t *p)
{
    load_ctx_t *c = ud;
    uint32_t venue;
    int32_t inst = c->inst_of(c->ud, p->venue, p->symbol, &venue);
    if (inst < 0) {
        if (!ks_dec_is_zero(p->qty))
            ks_log_warn("oms", "position %s %s %s: instrument not listed now; ignored", p->strategy,
                        p->venue, p->symbol);
        return;
    }
    int strat = p->strategy[0] ? c->strat_of(c->ud, p->strategy) : -1;
    ks_strat_acct_t *a = ks_oms_account(c->oms, strat);
    ks_pos_t *pos = pos_slot(a, inst);
    if (!pos)
        return;
    /* A strategy removed from the config hands its position to the host account. */
    ks_dec_add(pos->qty, p->qty, &pos->qty);
    pos->avg_entry = p->avg_entry;
    ks_dec_add(pos->realized, p->realized_pnl, &pos->realized);
    ks_dec_add(pos->fees, p->fees, &pos->fees);
    ks_dec_add(pos->funding, p->funding, &pos->funding);
    pos->touched = true;
}

int ks_oms_load(ks_oms_t *oms, int (*strat_of)(void *ud, const char *name),
                int32_t (*inst_of)(void *ud, const char *venue, const char *symbol,
                                   uint32_t *venue_id),
                void *ud)
{
    load_ctx_t c = {oms, strat_of, inst_of, ud, 0};
    if (!oms->store)
        return 0;
    ks_store_orders_foreach(oms->store, true, load_order, &c);
    ks_store_positions_foreach(oms->store, load_position, &c);
    return c.n;
}

bool ks_oms_book_missing_fill(ks_oms_t *oms, ks_order_t *o, const char *venue_name, int64_t wall_ns,
                              ks_fill_t *out)
{
    ks_dec_t missing;
    if (ks_dec_sub(o->rec.filled, o->fill_qty, &missing) != KS_OK || ks_dec_sign(missing) <= 0)
        return false;
    KS_EVENT_INIT(out, KS_EV_FILL);
    out->hdr.inst = o->inst;
    out->hdr.venue = o->venue;
    ks_strlcpy(out->cloid, o->rec.cloid, sizeof(out->cloid));
    ks_strlcpy(out->venue_id, o->rec.venue_id, sizeof(out->venue_id));
    missing_fill_id(o, o->n_fills, out->trade_id, sizeof(out->trade_id));
    out->side = o->rec.side;
    out->px = o->rec.avg_price.mant ? o->rec.avg_price : o->rec.price;
    out->qty = missing;
    /* The fee of the missing part: the venue's cumulative fee is for the whole order. */
    out->fee = KS_DEC_ZERO;
    bool dup;
    return ks_oms_on_fill(oms, out, venue_name, wall_ns, &dup) && !dup;
}

void ks_oms_adjust_position(ks_oms_t *oms, int strat, int32_t inst, ks_dec_t qty,
                            const char *venue_name, int64_t wall_ns)
{
    ks_strat_acct_t *a = ks_oms_account(oms, strat);
    ks_pos_t *p = a ? pos_slot(a, inst) : NULL;
    if (!p)
        return;
    if (ks_dec_is_zero(p->qty) || ks_dec_sign(p->qty) != ks_dec_sign(qty))
        p->avg_entry = KS_DEC_ZERO;
    p->qty = qty;
    p->touched = true;
    if (ks_dec_is_zero(qty))
        p->avg_entry = KS_DEC_ZERO;
    persist_pos(oms, a, inst, p, venue_name, wall_ns);
}

void ks_oms_paper_funding(ks_oms_t *oms, int strat, int32_t inst, ks_dec_t rate, ks_dec_t mark,
                          int64_t ts_ns, const char *venue_name, int64_t wall_ns)
{
    ks_strat_acct_t *a = ks_oms_account(oms, strat);
    const ks_inst_rec_t *r = ks_market_inst(oms->market, inst);
    if (!a || !r || inst >= a->n_pos || ks_dec_is_zero(a->pos[inst].qty))
        return;
    ks_pos_t *p = &a->pos[inst];
    ks_dec_t value, amount;
    if (ks_dec_mul(p->qty, mark, &value) != KS_OK ||
        ks_dec_mul_round(value, rate, 8, KS_ROUND_CEIL, &amount) != KS_OK)
        return;
    amount = ks_dec_neg(amount);
    ks_dec_add(p->funding, amount, &p->funding);
    if (oms->store) {
        ks_funding_rec_t fr;
        memset(&fr, 0, sizeof(fr));
        ks_strlcpy(fr.strategy, a->name, sizeof(fr.strategy));
        ks_strlcpy(fr.venue, venue_name, sizeof(fr.venue));
        ks_strlcpy(fr.symbol, r->symbol, sizeof(fr.symbol));
        fr.rate = rate;
        fr.qty = p->qty;
        fr.mark = mark;
        fr.amount = amount;
        fr.ts_ns = ts_ns;
        ks_store_funding_insert(oms->store, &fr);
    }
    persist_pos(oms, a, inst, p, venue_name, wall_ns);
}
