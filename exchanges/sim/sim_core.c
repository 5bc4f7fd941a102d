/* sim_core: matching with depth consumption, a touch queue model for resting orders,
 * spot and futures wallets, isolated perp positions, liquidation and funding.
 *
 * Everything is exact ks_dec_t arithmetic. Wallet amounts are kept at no more than
 * KS_SIM_ACCT_SCALE fraction digits: notionals and PnL are exact because tick.scale +
 * lot.scale <= KS_SIM_ACCT_SCALE is enforced, and the few inexact results (fees,
 * margins, funding, pro-rata cost) are rounded there in a stated direction. */
#include "sim_core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sim_side {
    ks_level_t lv[KS_SIM_MAX_LEVELS];
    uint32_t head; /* first level with liquidity left */
    uint32_t n;    /* levels generated */
} sim_side_t;

typedef struct sim_pos {
    ks_dec_t qty;    /* signed */
    ks_dec_t cost;   /* signed sum of px * qty of the open part */
    ks_dec_t margin; /* isolated margin allocated */
    ks_dec_t liq_px; /* zero: none */
} sim_pos_t;

typedef struct sim_inst {
    ks_sim_inst_spec_t spec;
    int32_t leverage;
    int32_t base_asset, quote_asset; /* spot wallet asset indices */
    uint64_t rng;                    /* splitmix64 state for book depth */
    sim_side_t bids, asks;
    uint64_t book_seq;
    ks_dec_t last, mark, funding_rate;
    int64_t next_funding, interval_ns;
    sim_pos_t pos;
    uint32_t n_open;
} sim_inst_t;

typedef struct sim_asset {
    char name[KS_ASSET_LEN];
    ks_dec_t total, locked;
} sim_asset_t;

typedef struct sim_order {
    uint64_t oid, seq;
    int64_t created_ts, updated_ts;
    char cloid[KS_CLOID_LEN];
    int32_t inst;
    int8_t side;
    uint8_t type, tif, status;
    bool reduce_only;
    uint8_t hold_wallet; /* 0: no hold; KS_WALLET_SPOT or KS_WALLET_FUTURES */
    int16_t hold_asset;  /* spot asset index */
    int32_t reject;
    ks_dec_t price, qty, filled, notional, fee, hold, queue_ahead;
    char reason[KS_REASON_LEN];
} sim_order_t;

struct ks_sim_core {
    uint64_t seed;
    ks_sim_sink_t sink;
    int32_t n_inst;
    sim_inst_t inst[KS_SIM_MAX_INST];
    int32_t n_assets;
    sim_asset_t spot[KS_SIM_MAX_ASSETS];
    char fut_asset[KS_ASSET_LEN];
    ks_dec_t fut_total, fut_locked;
    /* Open orders in placement order; finished ones move to the done ring. */
    sim_order_t *open;
    uint32_t n_open, cap_open;
    uint32_t *scratch; /* cap_open entries: priority-sorted indices into open */
    sim_order_t done[KS_SIM_DONE_RING];
    uint32_t done_next, n_done;
    /* Every cloid ever accepted or rejected (FNV-1a 64, open addressing, 0 = empty). */
    uint64_t *cloids;
    uint32_t cloid_cap, cloid_n;
    uint64_t next_oid, next_trade, next_seq, next_liq;
    int64_t last_ts;
    bool need_compact; /* an open order became final */
    uint64_t num_err;
};

/* ---- decimals ------------------------------------------------------------------ */

static ks_dec_t d_add(ks_sim_core_t *c, ks_dec_t a, ks_dec_t b)
{
    ks_dec_t r;
    if (ks_dec_add(a, b, &r) != KS_OK) {
        c->num_err++;
        return a;
    }
    return r;
}

static ks_dec_t d_sub(ks_sim_core_t *c, ks_dec_t a, ks_dec_t b)
{
    ks_dec_t r;
    if (ks_dec_sub(a, b, &r) != KS_OK) {
        c->num_err++;
        return a;
    }
    return r;
}

static ks_dec_t d_mul(ks_sim_core_t *c, ks_dec_t a, ks_dec_t b)
{
    ks_dec_t r;
    if (ks_dec_mul(a, b, &r) != KS_OK) {
        c->num_err++;
        ks_dec_mul_round(a, b, KS_DEC_MAX_SCALE, KS_ROUND_HALF_EVEN, &r);
    }
    return r;
}

static ks_dec_t d_mulr(ks_sim_core_t *c, ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode)
{
    ks_dec_t r;
    if (ks_dec_mul_round(a, b, scale, mode, &r) != KS_OK) {
        c->num_err++;
        return KS_DEC_ZERO;
    }
    return ks_dec_normalize(r);
}

static ks_dec_t d_div(ks_sim_core_t *c, ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode)
{
    ks_dec_t r;
    if (ks_dec_div(a, b, scale, mode, &r) != KS_OK) {
        c->num_err++;
        return KS_DEC_ZERO;
    }
    return ks_dec_normalize(r);
}

static ks_dec_t d_acct(ks_sim_core_t *c, ks_dec_t a, ks_round_t mode)
{
    ks_dec_t r;
    if (a.scale <= KS_SIM_ACCT_SCALE)
        return a;
    if (ks_dec_rescale(a, KS_SIM_ACCT_SCALE, mode, &r) != KS_OK) {
        c->num_err++;
        return a;
    }
    return ks_dec_normalize(r);
}

static int cmp(ks_dec_t a, ks_dec_t b)
{
    return ks_dec_cmp(a, b);
}

static bool is_pos(ks_dec_t a)
{
    return a.mant > 0;
}

static ks_dec_t dmin(ks_dec_t a, ks_dec_t b)
{
    return ks_dec_cmp(a, b) <= 0 ? a : b;
}

/* ---- small helpers ------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

/* "<prefix><n>" without printf (called per trade). */
static void fmt_id(char *buf, size_t cap, char prefix, uint64_t n)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + (int)(n % 10));
        n /= 10;
    } while (n);
    size_t pos = 0;
    if (pos + 1 < cap)
        buf[pos++] = prefix;
    while (i > 0 && pos + 1 < cap)
        buf[pos++] = tmp[--i];
    buf[pos] = '\0';
}

static int find_asset(const ks_sim_core_t *c, const char *name)
{
    for (int i = 0; i < c->n_assets; i++)
        if (strcmp(c->spot[i].name, name) == 0)
            return i;
    return -1;
}

static int add_asset(ks_sim_core_t *c, const char *name)
{
    int i = find_asset(c, name);
    if (i >= 0)
        return i;
    if (c->n_assets >= KS_SIM_MAX_ASSETS || !name[0] || strlen(name) >= KS_ASSET_LEN)
        return -1;
    i = c->n_assets++;
    ks_strlcpy(c->spot[i].name, name, sizeof(c->spot[i].name));
    c->spot[i].total = KS_DEC_ZERO;
    c->spot[i].locked = KS_DEC_ZERO;
    return i;
}

static bool is_perp(const sim_inst_t *in)
{
    return in->spec.kind == KS_KIND_PERP;
}

static ks_dec_t ticks_px(const sim_inst_t *in, int64_t t)
{
    return KS_DEC(t * in->spec.tick.mant, in->spec.tick.scale);
}

static ks_dec_t lots_qty(const sim_inst_t *in, int64_t n)
{
    return KS_DEC(n * in->spec.lot.mant, in->spec.lot.scale);
}

static void call_order(ks_sim_core_t *c, const ks_order_update_t *ev)
{
    if (c->sink.on_order)
        c->sink.on_order(c->sink.ud, ev);
}

/* ---- cloid set ----------------------------------------------------------------- */

static bool cloid_seen(const ks_sim_core_t *c, uint64_t h)
{
    if (!c->cloid_cap)
        return false;
    uint32_t mask = c->cloid_cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (c->cloids[i] == 0)
            return false;
        if (c->cloids[i] == h)
            return true;
    }
}

static void cloid_put(uint64_t *tab, uint32_t cap, uint64_t h)
{
    uint32_t mask = cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (tab[i] != 0 && tab[i] != h)
        i = (i + 1) & mask;
    tab[i] = h;
}

static int cloid_add(ks_sim_core_t *c, uint64_t h)
{
    if ((c->cloid_n + 1) * 2 > c->cloid_cap) {
        uint32_t cap = c->cloid_cap ? c->cloid_cap * 2 : 1024;
        uint64_t *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return KS_ENOMEM;
        for (uint32_t i = 0; i < c->cloid_cap; i++)
            if (c->cloids[i])
                cloid_put(tab, cap, c->cloids[i]);
        free(c->cloids);
        c->cloids = tab;
        c->cloid_cap = cap;
    }
    cloid_put(c->cloids, c->cloid_cap, h);
    c->cloid_n++;
    return KS_OK;
}

/* ---- lifecycle ----------------------------------------------------------------- */

ks_sim_core_t *ks_sim_core_new(uint64_t seed, const ks_sim_sink_t *sink)
{
    ks_sim_core_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->seed = seed;
    if (sink)
        c->sink = *sink;
    c->next_oid = 1;
    c->next_trade = 1;
    c->next_seq = 1;
    c->next_liq = 1;
    return c;
}

void ks_sim_core_free(ks_sim_core_t *c)
{
    if (!c)
        return;
    free(c->open);
    free(c->scratch);
    free(c->cloids);
    free(c);
}

void ks_sim_core_set_sink(ks_sim_core_t *c, const ks_sim_sink_t *sink)
{
    if (sink)
        c->sink = *sink;
    else
        memset(&c->sink, 0, sizeof(c->sink));
}

int ks_sim_core_add_inst(ks_sim_core_t *c, const ks_sim_inst_spec_t *spec, int32_t *idx, char *err,
                         size_t err_len)
{
    const char *why = NULL;
    if (!c || !spec)
        return KS_EINVAL;
    if (c->n_inst >= KS_SIM_MAX_INST) {
        snprintf(err, err_len, "too many instruments (at most %d)", KS_SIM_MAX_INST);
        return KS_ERANGE;
    }
    if (spec->kind != KS_KIND_SPOT && spec->kind != KS_KIND_PERP)
        why = "kind must be spot or perp";
    else if (!spec->symbol[0] || !spec->base[0] || !spec->quote[0])
        why = "symbol, base and quote are required";
    else if (!is_pos(spec->tick) || !is_pos(spec->lot))
        why = "tick and lot must be > 0";
    else if (spec->tick.scale + spec->lot.scale > KS_SIM_ACCT_SCALE)
        why = "tick and lot together have more than 8 fraction digits";
    else if (ks_dec_sign(spec->min_qty) < 0 || ks_dec_sign(spec->min_notional) < 0)
        why = "min_qty and min_notional must be >= 0";
    else if (ks_dec_cmp(spec->maker_fee, KS_DEC(1, 0)) >= 0 ||
             ks_dec_cmp(spec->taker_fee, KS_DEC(1, 0)) >= 0 || ks_dec_sign(spec->taker_fee) < 0 ||
             spec->maker_fee.scale > 8 || spec->taker_fee.scale > 8)
        why = "fee rates must be < 1 with at most 8 fraction digits (taker >= 0)";
    else if (spec->book_levels < 1 || spec->book_levels > KS_SIM_MAX_LEVELS)
        why = "book_levels out of range";
    else if (spec->spread_ticks < 1 || spec->depth_lots < 1 || spec->depth_lots > 1000000000000LL ||
             spec->depth_growth_pct < 0 || spec->depth_growth_pct > 1000 ||
             spec->depth_jitter_pct < 0 || spec->depth_jitter_pct > 90)
        why = "bad book shape (spread_ticks >= 1, depth_lots 1..1e12, growth 0..1000 %, "
              "jitter 0..90 %)";
    else if (spec->kind == KS_KIND_PERP &&
             (spec->max_leverage < 1 || spec->leverage < 1 || spec->leverage > spec->max_leverage))
        why = "leverage must be within 1..max_leverage";
    else if (spec->kind == KS_KIND_PERP && !spec->external_funding &&
             (spec->funding_interval_h < 1 || 24 % spec->funding_interval_h != 0))
        why = "funding_interval_h must divide 24";
    else if (spec->kind == KS_KIND_PERP && spec->external_funding && spec->funding_interval_h < 0)
        why = "funding_interval_h must be >= 0";
    else if (spec->kind == KS_KIND_PERP &&
             (ks_dec_sign(spec->mmr) <= 0 || ks_dec_cmp(spec->mmr, KS_DEC(1, 1)) >= 0))
        why = "mmr must be in (0, 0.1)";
    else if (spec->kind == KS_KIND_PERP && c->fut_asset[0] && strcmp(c->fut_asset, spec->quote))
        why = "every perp must settle in the same quote asset";
    if (why) {
        snprintf(err, err_len, "%s: %s", spec->symbol, why);
        return KS_EINVAL;
    }
    int32_t i = c->n_inst;
    sim_inst_t *in = &c->inst[i];
    memset(in, 0, sizeof(*in));
    in->spec = *spec;
    in->spec.tick = ks_dec_normalize(spec->tick);
    in->spec.lot = ks_dec_normalize(spec->lot);
    in->base_asset = add_asset(c, spec->base);
    in->quote_asset = add_asset(c, spec->quote);
    if (in->base_asset < 0 || in->quote_asset < 0) {
        snprintf(err, err_len, "%s: too many assets", spec->symbol);
        return KS_ERANGE;
    }
    in->leverage = spec->kind == KS_KIND_PERP ? spec->leverage : 1;
    in->rng = c->seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(i + 1));
    in->interval_ns = (int64_t)spec->funding_interval_h * 3600 * 1000000000LL;
    if (spec->kind == KS_KIND_PERP)
        ks_strlcpy(c->fut_asset, spec->quote, sizeof(c->fut_asset));
    c->n_inst++;
    if (idx)
        *idx = i;
    return KS_OK;
}

int ks_sim_core_set_ext_id(ks_sim_core_t *c, int32_t idx, int32_t ext_id)
{
    if (!c || idx < 0 || idx >= c->n_inst)
        return KS_ENOENT;
    c->inst[idx].spec.ext_id = ext_id;
    return KS_OK;
}

int ks_sim_core_inst_count(const ks_sim_core_t *c)
{
    return c->n_inst;
}

const ks_sim_inst_spec_t *ks_sim_core_spec(const ks_sim_core_t *c, int32_t idx)
{
    if (idx < 0 || idx >= c->n_inst)
        return NULL;
    return &c->inst[idx].spec;
}

int ks_sim_core_deposit(ks_sim_core_t *c, int wallet, const char *asset, ks_dec_t amount)
{
    if (!c || !asset || amount.mant < 0 || ks_dec_normalize(amount).scale > KS_SIM_ACCT_SCALE)
        return KS_EINVAL;
    if (wallet == KS_WALLET_SPOT) {
        int a = add_asset(c, asset);
        if (a < 0)
            return KS_ERANGE;
        c->spot[a].total = d_add(c, c->spot[a].total, amount);
        return KS_OK;
    }
    if (wallet == KS_WALLET_FUTURES) {
        if (c->fut_asset[0] && strcmp(c->fut_asset, asset) != 0)
            return KS_EINVAL;
        ks_strlcpy(c->fut_asset, asset, sizeof(c->fut_asset));
        c->fut_total = d_add(c, c->fut_total, amount);
        return KS_OK;
    }
    return KS_EINVAL;
}

/* ---- accounts ------------------------------------------------------------------ */

static ks_dec_t spot_avail(ks_sim_core_t *c, int a)
{
    return d_sub(c, c->spot[a].total, c->spot[a].locked);
}

static ks_dec_t fut_margin_sum(ks_sim_core_t *c)
{
    ks_dec_t m = KS_DEC_ZERO;
    for (int i = 0; i < c->n_inst; i++)
        if (c->inst[i].pos.margin.mant)
            m = d_add(c, m, c->inst[i].pos.margin);
    return m;
}

static ks_dec_t fut_avail(ks_sim_core_t *c)
{
    return d_sub(c, d_sub(c, c->fut_total, fut_margin_sum(c)), c->fut_locked);
}

static ks_dec_t upnl(ks_sim_core_t *c, const sim_inst_t *in)
{
    if (!in->pos.qty.mant || !in->mark.mant)
        return KS_DEC_ZERO;
    return d_sub(c, d_mul(c, in->pos.qty, in->mark), in->pos.cost);
}

static void emit_spot_balance(ks_sim_core_t *c, int64_t ts, int a, uint16_t flags)
{
    if (!c->sink.on_balance || a < 0)
        return;
    ks_balance_t ev;
    KS_SIM_EV_INIT(&ev, KS_EV_BALANCE);
    ev.hdr.flags = flags;
    ev.hdr.inst = -1;
    ev.hdr.venue_ts = ts;
    ev.wallet = KS_WALLET_SPOT;
    ks_strlcpy(ev.asset, c->spot[a].name, sizeof(ev.asset));
    ev.total = c->spot[a].total;
    ev.available = spot_avail(c, a);
    ev.equity = c->spot[a].total;
    c->sink.on_balance(c->sink.ud, &ev);
}

static void fill_fut_balance(ks_sim_core_t *c, int64_t ts, uint16_t flags, ks_balance_t *ev)
{
    ks_dec_t margin = KS_DEC_ZERO, mm = KS_DEC_ZERO, pnl = KS_DEC_ZERO;
    for (int i = 0; i < c->n_inst; i++) {
        const sim_inst_t *in = &c->inst[i];
        if (!is_perp(in) || !in->pos.qty.mant)
            continue;
        margin = d_add(c, margin, in->pos.margin);
        pnl = d_add(c, pnl, upnl(c, in));
        ks_dec_t mark =
            in->mark.mant ? in->mark : d_div(c, in->pos.cost, in->pos.qty, 8, KS_ROUND_HALF_EVEN);
        ks_dec_t notional = d_mul(c, ks_dec_abs(in->pos.qty), mark);
        mm = d_add(c, mm, d_mulr(c, notional, in->spec.mmr, KS_SIM_ACCT_SCALE, KS_ROUND_CEIL));
    }
    KS_SIM_EV_INIT(ev, KS_EV_BALANCE);
    ev->hdr.flags = flags;
    ev->hdr.inst = -1;
    ev->hdr.venue_ts = ts;
    ev->wallet = KS_WALLET_FUTURES;
    ks_strlcpy(ev->asset, c->fut_asset, sizeof(ev->asset));
    ev->total = c->fut_total;
    ev->available = d_sub(c, d_sub(c, c->fut_total, margin), c->fut_locked);
    ev->equity = d_add(c, c->fut_total, pnl);
    ev->initial_margin = d_add(c, margin, c->fut_locked);
    ev->maint_margin = mm;
}

static void emit_fut_balance(ks_sim_core_t *c, int64_t ts, uint16_t flags)
{
    if (!c->sink.on_balance || !c->fut_asset[0])
        return;
    ks_balance_t ev;
    fill_fut_balance(c, ts, flags, &ev);
    c->sink.on_balance(c->sink.ud, &ev);
}

static void fill_position(ks_sim_core_t *c, const sim_inst_t *in, int64_t ts, uint16_t flags,
                          ks_position_t *ev)
{
    KS_SIM_EV_INIT(ev, KS_EV_POSITION);
    ev->hdr.flags = flags;
    ev->hdr.inst = in->spec.ext_id;
    ev->hdr.venue_ts = ts;
    ev->qty = in->pos.qty;
    if (in->pos.qty.mant)
        ev->entry_px = d_div(c, in->pos.cost, in->pos.qty, KS_SIM_PX_SCALE, KS_ROUND_HALF_EVEN);
    ev->mark_px = in->mark;
    ev->liq_px = in->pos.liq_px;
    ev->margin = in->pos.margin;
    ev->upnl = upnl(c, in);
    ev->leverage = in->leverage;
}

static void emit_position(ks_sim_core_t *c, const sim_inst_t *in, int64_t ts, uint16_t flags)
{
    if (!c->sink.on_position)
        return;
    ks_position_t ev;
    fill_position(c, in, ts, flags, &ev);
    c->sink.on_position(c->sink.ud, &ev);
}

ks_dec_t ks_sim_core_liq_price(ks_dec_t qty, ks_dec_t cost, ks_dec_t margin, ks_dec_t mmr,
                               ks_dec_t tick)
{
    ks_dec_t num, den, f, px, q;
    bool is_long = qty.mant > 0;
    ks_round_t mode = is_long ? KS_ROUND_CEIL : KS_ROUND_FLOOR;

    if (!qty.mant || !is_pos(tick))
        return KS_DEC_ZERO;
    /* Long:  margin + q (P - E) = q P mmr  =>  P = (cost - margin) / (q (1 - mmr))
     * Short: margin + q (E - P) = q P mmr  =>  P = (cost + margin) / (q (1 + mmr)),
     * with q = |qty| and cost = q E. */
    if (is_long) {
        if (ks_dec_sub(cost, margin, &num) != KS_OK || ks_dec_sub(KS_DEC(1, 0), mmr, &f) != KS_OK)
            return KS_DEC_ZERO;
    } else {
        if (ks_dec_add(ks_dec_abs(cost), margin, &num) != KS_OK ||
            ks_dec_add(KS_DEC(1, 0), mmr, &f) != KS_OK)
            return KS_DEC_ZERO;
    }
    if (num.mant <= 0 || f.mant <= 0)
        return KS_DEC_ZERO;
    if (ks_dec_mul(ks_dec_abs(qty), f, &den) != KS_OK)
        return KS_DEC_ZERO;
    if (ks_dec_div(num, den, ks_dec_normalize(tick).scale, mode, &px) != KS_OK)
        return KS_DEC_ZERO;
    if (ks_dec_quantize(px, tick, mode, &q) != KS_OK || q.mant <= 0)
        return KS_DEC_ZERO;
    return ks_dec_normalize(q);
}

static void update_liq(sim_inst_t *in)
{
    in->pos.liq_px = ks_sim_core_liq_price(in->pos.qty, in->pos.cost, in->pos.margin, in->spec.mmr,
                                           in->spec.tick);
}

/* Applies a signed fill to the perp position; returns the realized PnL. */
static ks_dec_t pos_apply(ks_sim_core_t *c, sim_inst_t *in, int side, ks_dec_t q, ks_dec_t px)
{
    sim_pos_t *p = &in->pos;
    ks_dec_t realized = KS_DEC_ZERO;
    ks_dec_t lev = ks_dec_from_int(in->leverage);
    int psign = ks_dec_sign(p->qty);

    if (psign != 0 && psign != side) {
        ks_dec_t aq = ks_dec_abs(p->qty);
        ks_dec_t close_q = dmin(q, aq);
        ks_dec_t closed_signed = psign > 0 ? close_q : ks_dec_neg(close_q);
        ks_dec_t cost_removed, margin_removed;
        if (cmp(close_q, aq) == 0) {
            cost_removed = p->cost;
            margin_removed = p->margin;
        } else {
            cost_removed = d_acct(
                c, d_div(c, d_mul(c, p->cost, close_q), aq, KS_SIM_ACCT_SCALE, KS_ROUND_HALF_EVEN),
                KS_ROUND_HALF_EVEN);
            margin_removed =
                d_div(c, d_mul(c, p->margin, close_q), aq, KS_SIM_ACCT_SCALE, KS_ROUND_FLOOR);
        }
        realized = d_sub(c, d_mul(c, px, closed_signed), cost_removed);
        p->cost = d_sub(c, p->cost, cost_removed);
        p->margin = d_sub(c, p->margin, margin_removed);
        p->qty = d_sub(c, p->qty, closed_signed);
        if (!p->qty.mant) {
            p->cost = KS_DEC_ZERO;
            p->margin = KS_DEC_ZERO;
        }
        q = d_sub(c, q, close_q);
    }
    if (q.mant > 0) {
        ks_dec_t dq = side > 0 ? q : ks_dec_neg(q);
        ks_dec_t notional = d_mul(c, px, q);
        p->cost = d_add(c, p->cost, side > 0 ? notional : ks_dec_neg(notional));
        p->qty = d_add(c, p->qty, dq);
        p->margin = d_add(c, p->margin, d_div(c, notional, lev, KS_SIM_ACCT_SCALE, KS_ROUND_CEIL));
    }
    p->qty = ks_dec_normalize(p->qty);
    update_liq(in);
    return realized;
}

/* ---- orders -------------------------------------------------------------------- */

static void fill_order_event(ks_sim_core_t *c, const sim_order_t *o, int64_t ts, uint16_t flags,
                             ks_order_update_t *ev)
{
    const sim_inst_t *in = &c->inst[o->inst];
    KS_SIM_EV_INIT(ev, KS_EV_ORDER);
    ev->hdr.flags = flags;
    ev->hdr.inst = in->spec.ext_id;
    ev->hdr.venue_ts = ts;
    ks_strlcpy(ev->cloid, o->cloid, sizeof(ev->cloid));
    if (o->oid)
        fmt_id(ev->venue_id, sizeof(ev->venue_id), 'S', o->oid);
    ev->status = o->status;
    ev->side = o->side;
    ev->type = o->type;
    ev->tif = o->tif;
    ev->reduce_only = o->reduce_only;
    ev->price = o->price;
    ev->qty = o->qty;
    ev->filled = o->filled;
    if (o->filled.mant)
        ev->avg_price = d_div(c, o->notional, o->filled, KS_SIM_PX_SCALE, KS_ROUND_HALF_EVEN);
    ev->fee = o->fee;
    ev->reject = o->reject;
    ks_strlcpy(ev->reason, o->reason, sizeof(ev->reason));
}

static void emit_order(ks_sim_core_t *c, const sim_order_t *o, int64_t ts, uint16_t flags)
{
    if (!c->sink.on_order)
        return;
    ks_order_update_t ev;
    fill_order_event(c, o, ts, flags, &ev);
    call_order(c, &ev);
}

static void set_reason(sim_order_t *o, const char *fmt, ...) KS_PRINTF(2, 3);
static void set_reason(sim_order_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
    va_end(ap);
}

static void done_push(ks_sim_core_t *c, const sim_order_t *o)
{
    c->done[c->done_next] = *o;
    c->done_next = (c->done_next + 1) % KS_SIM_DONE_RING;
    if (c->n_done < KS_SIM_DONE_RING)
        c->n_done++;
}

/* Rejects an order that never became active: one REJECTED update, remembered for
 * fetch-by-cloid. */
static void reject(ks_sim_core_t *c, sim_order_t *o, int64_t ts, int why, const char *fmt, ...)
    KS_PRINTF(5, 6);
static void reject(ks_sim_core_t *c, sim_order_t *o, int64_t ts, int why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
    va_end(ap);
    o->status = KS_OS_REJECTED;
    o->reject = why;
    o->updated_ts = ts;
    emit_order(c, o, ts, 0);
    done_push(c, o);
}

static void release_hold(ks_sim_core_t *c, sim_order_t *o, ks_dec_t amount)
{
    if (!o->hold_wallet || !amount.mant)
        return;
    amount = dmin(amount, o->hold);
    o->hold = d_sub(c, o->hold, amount);
    if (o->hold_wallet == KS_WALLET_SPOT)
        c->spot[o->hold_asset].locked = d_sub(c, c->spot[o->hold_asset].locked, amount);
    else
        c->fut_locked = d_sub(c, c->fut_locked, amount);
}

static void lock_hold(ks_sim_core_t *c, sim_order_t *o, uint8_t wallet, int asset, ks_dec_t amount)
{
    o->hold_wallet = wallet;
    o->hold_asset = (int16_t)asset;
    o->hold = amount;
    if (wallet == KS_WALLET_SPOT)
        c->spot[asset].locked = d_add(c, c->spot[asset].locked, amount);
    else
        c->fut_locked = d_add(c, c->fut_locked, amount);
}

static void emit_wallets(ks_sim_core_t *c, const sim_inst_t *in, int64_t ts)
{
    if (is_perp(in)) {
        emit_fut_balance(c, ts, 0);
    } else {
        emit_spot_balance(c, ts, in->base_asset, 0);
        emit_spot_balance(c, ts, in->quote_asset, 0);
    }
}

/* The wallet asset an order's hold sits in (placement, cancel, amend change only it). */
static void emit_hold_wallet(ks_sim_core_t *c, const sim_order_t *o, int64_t ts)
{
    const sim_inst_t *in = &c->inst[o->inst];
    if (is_perp(in))
        emit_fut_balance(c, ts, 0);
    else
        emit_spot_balance(c, ts, o->side > 0 ? in->quote_asset : in->base_asset, 0);
}

static ks_dec_t remaining(ks_sim_core_t *c, const sim_order_t *o)
{
    return d_sub(c, o->qty, o->filled);
}

static bool is_final(const sim_order_t *o)
{
    return ks_order_status_is_final(o->status);
}

/* Marks an order final and releases what it still holds; compact() moves it out. */
static void finish(ks_sim_core_t *c, sim_order_t *o, uint8_t status, int64_t ts)
{
    o->status = status;
    o->updated_ts = ts;
    release_hold(c, o, o->hold);
    c->inst[o->inst].n_open--;
    c->need_compact = true;
}

static void compact(ks_sim_core_t *c)
{
    uint32_t w = 0;
    if (!c->need_compact)
        return;
    c->need_compact = false;
    for (uint32_t r = 0; r < c->n_open; r++) {
        if (is_final(&c->open[r])) {
            done_push(c, &c->open[r]);
            continue;
        }
        if (w != r)
            c->open[w] = c->open[r];
        w++;
    }
    c->n_open = w;
}

static void print_trade(ks_sim_core_t *c, sim_inst_t *in, int64_t ts, int aggressor, ks_dec_t px,
                        ks_dec_t qty, uint64_t trade_no)
{
    in->last = px;
    if (!c->sink.on_trade)
        return;
    ks_trade_t ev;
    KS_SIM_EV_INIT(&ev, KS_EV_TRADE);
    ev.hdr.inst = in->spec.ext_id;
    ev.hdr.venue_ts = ts;
    ev.px = px;
    ev.qty = qty;
    ev.side = (int8_t)aggressor;
    fmt_id(ev.trade_id, sizeof(ev.trade_id), 'T', trade_no);
    c->sink.on_trade(c->sink.ud, &ev);
}

/* One execution of order o: fee, wallets, position, order totals, fill + public print.
 * The caller emits the order update, position and balances afterwards. */
static void execute(ks_sim_core_t *c, sim_order_t *o, int64_t ts, ks_dec_t px, ks_dec_t q,
                    bool maker)
{
    sim_inst_t *in = &c->inst[o->inst];
    ks_dec_t notional = d_mul(c, px, q);
    ks_dec_t rate = maker ? in->spec.maker_fee : in->spec.taker_fee;
    ks_dec_t fee = d_mulr(c, notional, rate, KS_SIM_ACCT_SCALE, KS_ROUND_CEIL);
    ks_dec_t rem = remaining(c, o);
    uint64_t trade_no = c->next_trade++;

    /* Release the hold pro rata to the remaining quantity: exact on the last fill. */
    if (o->hold_wallet && o->hold.mant)
        release_hold(c, o, d_div(c, d_mul(c, o->hold, q), rem, KS_SIM_ACCT_SCALE, KS_ROUND_FLOOR));

    if (is_perp(in)) {
        ks_dec_t realized = pos_apply(c, in, o->side, q, px);
        c->fut_total = d_add(c, d_sub(c, c->fut_total, fee), realized);
    } else if (o->side == KS_SIDE_BUY) {
        sim_asset_t *qa = &c->spot[in->quote_asset], *ba = &c->spot[in->base_asset];
        qa->total = d_sub(c, qa->total, d_add(c, notional, fee));
        ba->total = d_add(c, ba->total, q);
    } else {
        sim_asset_t *qa = &c->spot[in->quote_asset], *ba = &c->spot[in->base_asset];
        ba->total = d_sub(c, ba->total, q);
        qa->total = d_add(c, qa->total, d_sub(c, notional, fee));
    }
    o->filled = d_add(c, o->filled, q);
    o->notional = d_add(c, o->notional, notional);
    o->fee = d_add(c, o->fee, fee);
    o->updated_ts = ts;
    o->status = cmp(o->filled, o->qty) >= 0 ? KS_OS_FILLED : KS_OS_PARTIAL;

    if (c->sink.on_fill) {
        ks_fill_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_FILL);
        ev.hdr.inst = in->spec.ext_id;
        ev.hdr.venue_ts = ts;
        ks_strlcpy(ev.cloid, o->cloid, sizeof(ev.cloid));
        fmt_id(ev.venue_id, sizeof(ev.venue_id), 'S', o->oid);
        fmt_id(ev.trade_id, sizeof(ev.trade_id), 'T', trade_no);
        ev.side = o->side;
        ev.maker = maker;
        ev.px = px;
        ev.qty = q;
        ev.fee = fee;
        ks_strlcpy(ev.fee_asset, in->spec.quote, sizeof(ev.fee_asset));
        c->sink.on_fill(c->sink.ud, &ev);
    }
    print_trade(c, in, ts, maker ? -o->side : o->side, px, q, trade_no);
    if (o->status == KS_OS_FILLED)
        finish(c, o, KS_OS_FILLED, ts);
}

static void after_fills(ks_sim_core_t *c, sim_order_t *o, int64_t ts)
{
    sim_inst_t *in = &c->inst[o->inst];
    emit_order(c, o, ts, 0);
    if (is_perp(in))
        emit_position(c, in, ts, 0);
    emit_wallets(c, in, ts);
}

/* ---- book ---------------------------------------------------------------------- */

static int64_t mid_ticks(ks_sim_core_t *c, const sim_inst_t *in, ks_dec_t mid)
{
    const ks_dec_t tick = in->spec.tick;
    if (mid.scale == tick.scale) {
        int64_t q = mid.mant / tick.mant, r = mid.mant % tick.mant;
        return r < 0 ? q - 1 : q;
    }
    return d_div(c, mid, tick, 0, KS_ROUND_FLOOR).mant; /* scale 0: an integer */
}

static void rebuild_book(ks_sim_core_t *c, sim_inst_t *in, ks_dec_t mid)
{
    const ks_sim_inst_spec_t *s = &in->spec;
    int64_t m = mid_ticks(c, in, mid);
    int64_t bid1 = m - s->spread_ticks / 2, ask1 = bid1 + s->spread_ticks;
    uint32_t n = (uint32_t)s->book_levels;
    int64_t jit = s->depth_jitter_pct;

    in->bids.head = in->asks.head = 0;
    in->bids.n = in->asks.n = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t base = s->depth_lots * (100 + (int64_t)s->depth_growth_pct * i);
        uint64_t r = splitmix64(&in->rng);
        int64_t jb = (int64_t)(r % (uint64_t)(2 * jit + 1)) - jit;
        int64_t ja = (int64_t)((r >> 32) % (uint64_t)(2 * jit + 1)) - jit;
        int64_t qb = base * (100 + jb) / 10000, qa = base * (100 + ja) / 10000;
        if (bid1 - (int64_t)i > 0) {
            in->bids.lv[in->bids.n].px = ticks_px(in, bid1 - (int64_t)i);
            in->bids.lv[in->bids.n].qty = lots_qty(in, qb > 0 ? qb : 1);
            in->bids.n++;
        }
        if (ask1 + (int64_t)i > 0) {
            in->asks.lv[in->asks.n].px = ticks_px(in, ask1 + (int64_t)i);
            in->asks.lv[in->asks.n].qty = lots_qty(in, qa > 0 ? qa : 1);
            in->asks.n++;
        }
    }
    in->book_seq++;
}

/* The side an aggressor of `side` trades against. */
static sim_side_t *opposite(sim_inst_t *in, int side)
{
    return side > 0 ? &in->asks : &in->bids;
}

static const ks_level_t *best(const sim_side_t *sd)
{
    return sd->head < sd->n ? &sd->lv[sd->head] : NULL;
}

/* Does a limit of `side` at px reach level price lp? */
static bool reaches(int side, ks_dec_t px, ks_dec_t lp)
{
    int k = cmp(lp, px);
    return side > 0 ? k <= 0 : k >= 0;
}

static void consume(ks_sim_core_t *c, sim_inst_t *in, sim_side_t *sd, ks_dec_t q)
{
    while (q.mant > 0 && sd->head < sd->n) {
        ks_level_t *l = &sd->lv[sd->head];
        ks_dec_t t = dmin(q, l->qty);
        l->qty = d_sub(c, l->qty, t);
        q = d_sub(c, q, t);
        if (!l->qty.mant)
            sd->head++;
    }
    in->book_seq++;
}

typedef struct sim_plan {
    ks_dec_t qty, notional, fee;
    uint32_t levels;
} sim_plan_t;

/* What a taker of `side` for `want` would get from the current book (limit: stop at
 * px; market: zero limit). Fees are summed per level as execute() charges them. */
static void plan_sweep(ks_sim_core_t *c, sim_inst_t *in, int side, ks_dec_t limit, ks_dec_t want,
                       sim_plan_t *p)
{
    sim_side_t *sd = opposite(in, side);
    memset(p, 0, sizeof(*p));
    p->qty = p->notional = p->fee = KS_DEC_ZERO;
    for (uint32_t i = sd->head; i < sd->n && cmp(p->qty, want) < 0; i++) {
        const ks_level_t *l = &sd->lv[i];
        if (!l->qty.mant)
            continue;
        if (limit.mant && !reaches(side, limit, l->px))
            break;
        ks_dec_t t = dmin(l->qty, d_sub(c, want, p->qty));
        ks_dec_t n = d_mul(c, l->px, t);
        p->qty = d_add(c, p->qty, t);
        p->notional = d_add(c, p->notional, n);
        p->fee =
            d_add(c, p->fee, d_mulr(c, n, in->spec.taker_fee, KS_SIM_ACCT_SCALE, KS_ROUND_CEIL));
        p->levels++;
    }
}

/* Executes order o as taker for up to `want`, walking and consuming the book. */
static void sweep(ks_sim_core_t *c, sim_order_t *o, int64_t ts, ks_dec_t limit, ks_dec_t want)
{
    sim_inst_t *in = &c->inst[o->inst];
    sim_side_t *sd = opposite(in, o->side);
    while (want.mant > 0 && sd->head < sd->n && !is_final(o)) {
        ks_level_t *l = &sd->lv[sd->head];
        if (limit.mant && !reaches(o->side, limit, l->px))
            break;
        ks_dec_t t = dmin(l->qty, want);
        ks_dec_t px = l->px;
        l->qty = d_sub(c, l->qty, t);
        if (!l->qty.mant)
            sd->head++;
        want = d_sub(c, want, t);
        execute(c, o, ts, px, t, false);
    }
    in->book_seq++;
}

/* Book quantity resting at exactly px on the side an order of `side` joins. */
static ks_dec_t level_qty_at(sim_inst_t *in, int side, ks_dec_t px)
{
    sim_side_t *sd = side > 0 ? &in->bids : &in->asks;
    for (uint32_t i = sd->head; i < sd->n; i++) {
        int k = cmp(sd->lv[i].px, px);
        if (k == 0)
            return sd->lv[i].qty;
        if (side > 0 ? k < 0 : k > 0)
            break;
    }
    return KS_DEC_ZERO;
}

/* ---- placement ----------------------------------------------------------------- */

static int open_reserve(ks_sim_core_t *c)
{
    if (c->n_open < c->cap_open)
        return KS_OK;
    uint32_t cap = c->cap_open ? c->cap_open * 2 : 64;
    sim_order_t *o = realloc(c->open, cap * sizeof(*o));
    if (!o)
        return KS_ENOMEM;
    c->open = o;
    uint32_t *s = realloc(c->scratch, cap * sizeof(*s));
    if (!s)
        return KS_ENOMEM;
    c->scratch = s;
    c->cap_open = cap;
    return KS_OK;
}

/* Quantity of a perp order of `side` that would open or extend a position. */
static ks_dec_t opening_qty(ks_sim_core_t *c, const sim_inst_t *in, int side, ks_dec_t qty)
{
    int ps = ks_dec_sign(in->pos.qty);
    if (ps == 0 || ps == side)
        return qty;
    ks_dec_t r = d_sub(c, qty, ks_dec_abs(in->pos.qty));
    return r.mant > 0 ? r : KS_DEC_ZERO;
}

/* Largest quantity a reduce-only order may still fill. */
static ks_dec_t reduce_cap(const sim_inst_t *in, int side)
{
    int ps = ks_dec_sign(in->pos.qty);
    return ps != 0 && ps != side ? ks_dec_abs(in->pos.qty) : KS_DEC_ZERO;
}

static ks_dec_t max_fee_rate(const sim_inst_t *in)
{
    return ks_dec_max(in->spec.maker_fee, in->spec.taker_fee);
}

/* Funds check for an immediate (market/IOC/FOK) execution described by plan. */
static bool taker_funds_ok(ks_sim_core_t *c, sim_inst_t *in, const sim_order_t *o,
                           const sim_plan_t *p, char *why, size_t why_len)
{
    if (is_perp(in)) {
        if (o->reduce_only)
            return true;
        ks_dec_t open_q = opening_qty(c, in, o->side, p->qty);
        ks_dec_t need = p->fee;
        if (open_q.mant) {
            ks_dec_t open_notional =
                d_div(c, d_mul(c, p->notional, open_q), p->qty, KS_SIM_ACCT_SCALE, KS_ROUND_CEIL);
            need = d_add(c, need,
                         d_div(c, open_notional, ks_dec_from_int(in->leverage), KS_SIM_ACCT_SCALE,
                               KS_ROUND_CEIL));
        }
        ks_dec_t avail = fut_avail(c);
        if (cmp(need, avail) > 0) {
            char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
            ks_dec_format(need, a, sizeof(a));
            ks_dec_format(avail, b, sizeof(b));
            snprintf(why, why_len, "margin %s %s needed, %s available", a, c->fut_asset, b);
            return false;
        }
        return true;
    }
    if (o->side > 0) {
        ks_dec_t need = d_add(c, p->notional, p->fee), avail = spot_avail(c, in->quote_asset);
        if (cmp(need, avail) > 0) {
            char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
            ks_dec_format(need, a, sizeof(a));
            ks_dec_format(avail, b, sizeof(b));
            snprintf(why, why_len, "spot %s %s needed, %s available", a, in->spec.quote, b);
            return false;
        }
    }
    return true;
}

/* Hold for a resting order's remaining quantity `rem` at its limit price. */
static bool compute_hold(ks_sim_core_t *c, sim_inst_t *in, const sim_order_t *o, ks_dec_t rem,
                         uint8_t *wallet, int *asset, ks_dec_t *amount)
{
    if (is_perp(in)) {
        *wallet = KS_WALLET_FUTURES;
        *asset = -1;
        if (o->reduce_only) {
            *amount = KS_DEC_ZERO;
            return true;
        }
        ks_dec_t open_q = opening_qty(c, in, o->side, rem);
        ks_dec_t im = d_div(c, d_mul(c, open_q, o->price), ks_dec_from_int(in->leverage),
                            KS_SIM_ACCT_SCALE, KS_ROUND_CEIL);
        ks_dec_t fee =
            d_mulr(c, d_mul(c, rem, o->price), max_fee_rate(in), KS_SIM_ACCT_SCALE, KS_ROUND_CEIL);
        *amount = d_add(c, im, fee);
        return true;
    }
    *wallet = KS_WALLET_SPOT;
    if (o->side > 0) {
        ks_dec_t n = d_mul(c, rem, o->price);
        *asset = in->quote_asset;
        *amount = d_add(c, n, d_mulr(c, n, max_fee_rate(in), KS_SIM_ACCT_SCALE, KS_ROUND_CEIL));
    } else {
        *asset = in->base_asset;
        *amount = rem;
    }
    return true;
}

static ks_dec_t hold_avail(ks_sim_core_t *c, uint8_t wallet, int asset)
{
    return wallet == KS_WALLET_SPOT ? spot_avail(c, asset) : fut_avail(c);
}

static const char *hold_asset_name(ks_sim_core_t *c, uint8_t wallet, int asset)
{
    return wallet == KS_WALLET_SPOT ? c->spot[asset].name : c->fut_asset;
}

/* Validates qty/price/notional of o; returns a reject code (KS_REJ_NONE when fine). */
static int validate(ks_sim_core_t *c, sim_inst_t *in, sim_order_t *o)
{
    const ks_sim_inst_spec_t *s = &in->spec;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];

    if (o->side != KS_SIDE_BUY && o->side != KS_SIDE_SELL) {
        set_reason(o, "side must be buy or sell");
        return KS_REJ_INVALID;
    }
    if (o->type != KS_ORD_MARKET && o->type != KS_ORD_LIMIT) {
        set_reason(o, "type must be market or limit");
        return KS_REJ_INVALID;
    }
    if (o->type == KS_ORD_LIMIT && (o->tif < KS_TIF_GTC || o->tif > KS_TIF_POST_ONLY)) {
        set_reason(o, "unknown time in force %u", o->tif);
        return KS_REJ_INVALID;
    }
    if (o->type == KS_ORD_MARKET && o->tif == KS_TIF_POST_ONLY) {
        set_reason(o, "a market order cannot be post-only");
        return KS_REJ_INVALID;
    }
    if (o->qty.mant <= 0) {
        set_reason(o, "qty must be > 0");
        return KS_REJ_INVALID;
    }
    if (!ks_dec_is_multiple(o->qty, s->lot)) {
        ks_dec_format(o->qty, a, sizeof(a));
        ks_dec_format(s->lot, b, sizeof(b));
        set_reason(o, "qty %s is not a multiple of the lot size %s", a, b);
        return KS_REJ_INVALID;
    }
    if (cmp(o->qty, s->min_qty) < 0) {
        ks_dec_format(o->qty, a, sizeof(a));
        ks_dec_format(s->min_qty, b, sizeof(b));
        set_reason(o, "qty %s is below the minimum %s", a, b);
        return KS_REJ_INVALID;
    }
    ks_dec_t ref = o->price;
    if (o->type == KS_ORD_LIMIT) {
        if (o->price.mant <= 0) {
            set_reason(o, "a limit order needs a price > 0");
            return KS_REJ_INVALID;
        }
        if (!ks_dec_is_multiple(o->price, s->tick)) {
            ks_dec_format(o->price, a, sizeof(a));
            ks_dec_format(s->tick, b, sizeof(b));
            set_reason(o, "price %s is not a multiple of the tick size %s", a, b);
            return KS_REJ_INVALID;
        }
    } else {
        const ks_level_t *l = best(opposite(in, o->side));
        ref = l ? l->px : KS_DEC_ZERO;
    }
    if (ref.mant && cmp(d_mul(c, ref, o->qty), s->min_notional) < 0) {
        ks_dec_format(d_mul(c, ref, o->qty), a, sizeof(a));
        ks_dec_format(s->min_notional, b, sizeof(b));
        set_reason(o, "notional %s is below the minimum %s", a, b);
        return KS_REJ_INVALID;
    }
    if (o->reduce_only) {
        if (!is_perp(in)) {
            set_reason(o, "reduce-only is not supported on spot");
            return KS_REJ_INVALID;
        }
        ks_dec_t cap = reduce_cap(in, o->side);
        if (!cap.mant) {
            set_reason(o, "reduce-only %s would not reduce the position", ks_side_name(o->side));
            return KS_REJ_REDUCE_ONLY;
        }
        if (cmp(o->qty, cap) > 0) {
            ks_dec_format(o->qty, a, sizeof(a));
            ks_dec_format(cap, b, sizeof(b));
            set_reason(o, "reduce-only qty %s exceeds the position %s", a, b);
            return KS_REJ_REDUCE_ONLY;
        }
    }
    if (!is_perp(in) && o->side < 0) {
        ks_dec_t avail = spot_avail(c, in->base_asset);
        if (cmp(o->qty, avail) > 0) {
            ks_dec_format(o->qty, a, sizeof(a));
            ks_dec_format(avail, b, sizeof(b));
            set_reason(o, "spot sell of %s %s with %s available (no spot shorting)", a, s->base, b);
            return KS_REJ_INSUFFICIENT_FUNDS;
        }
    }
    return KS_REJ_NONE;
}

int ks_sim_core_place(ks_sim_core_t *c, int64_t ts, const ks_order_cmd_t *cmd)
{
    return ks_sim_core_place_fault(c, ts, cmd, NULL);
}

int ks_sim_core_place_fault(ks_sim_core_t *c, int64_t ts, const ks_order_cmd_t *cmd,
                            const ks_sim_place_fault_t *fault)
{
    sim_order_t o;
    char why[KS_REASON_LEN];
    int rej;

    if (!c || !cmd || !KS_HAS_FIELD(cmd, ks_order_cmd_t, qty))
        return KS_EINVAL;
    if (cmd->inst < 0 || cmd->inst >= c->n_inst)
        return KS_ENOENT;
    sim_inst_t *in = &c->inst[cmd->inst];

    memset(&o, 0, sizeof(o));
    o.inst = cmd->inst;
    o.side = cmd->side;
    o.type = cmd->type;
    o.tif = cmd->type == KS_ORD_MARKET && cmd->tif == 0 ? KS_TIF_IOC : cmd->tif;
    o.reduce_only = cmd->reduce_only;
    o.price = cmd->type == KS_ORD_LIMIT ? ks_dec_normalize(cmd->price) : KS_DEC_ZERO;
    o.qty = ks_dec_normalize(cmd->qty);
    o.created_ts = o.updated_ts = ts;
    o.status = KS_OS_NEW;
    memcpy(o.cloid, cmd->cloid, sizeof(o.cloid));
    o.cloid[sizeof(o.cloid) - 1] = '\0';

    if (!memchr(cmd->cloid, '\0', sizeof(cmd->cloid)) || !o.cloid[0] || strlen(o.cloid) > 36) {
        reject(c, &o, ts, KS_REJ_INVALID, "cloid must be 1..36 characters");
        return KS_OK;
    }
    uint64_t h = fnv1a(o.cloid);
    if (cloid_seen(c, h)) {
        /* Not remembered: fetch-by-cloid must keep finding the original order. */
        o.status = KS_OS_REJECTED;
        o.reject = KS_REJ_DUPLICATE_CLOID;
        set_reason(&o, "duplicate client order id %s", o.cloid);
        emit_order(c, &o, ts, 0);
        return KS_OK;
    }
    if (cloid_add(c, h) != KS_OK || open_reserve(c) != KS_OK)
        return KS_ENOMEM;

    if (fault && fault->reject != KS_REJ_NONE) {
        reject(c, &o, ts, fault->reject, "%s", fault->reason ? fault->reason : "rejected");
        return KS_OK;
    }
    if ((rej = validate(c, in, &o)) != KS_REJ_NONE) {
        char reason[KS_REASON_LEN];
        memcpy(reason, o.reason, sizeof(reason));
        reject(c, &o, ts, rej, "%s", reason);
        return KS_OK;
    }

    bool immediate = o.type == KS_ORD_MARKET || o.tif == KS_TIF_IOC || o.tif == KS_TIF_FOK;
    if (immediate) {
        sim_plan_t p;
        plan_sweep(c, in, o.side, o.price, o.qty, &p);
        if (fault && fault->max_fill.mant > 0 && o.tif != KS_TIF_FOK &&
            cmp(p.qty, fault->max_fill) > 0)
            plan_sweep(c, in, o.side, o.price, fault->max_fill, &p); /* a thinner book */
        if (!p.qty.mant) {
            reject(c, &o, ts, KS_REJ_NO_LIQUIDITY, "%s: nothing to fill%s",
                   o.type == KS_ORD_MARKET ? "market" : ks_tif_name(o.tif),
                   o.type == KS_ORD_LIMIT ? " at the limit price" : "");
            return KS_OK;
        }
        if (o.tif == KS_TIF_FOK && cmp(p.qty, o.qty) < 0) {
            reject(c, &o, ts, KS_REJ_NO_LIQUIDITY, "FOK: not enough liquidity%s",
                   o.type == KS_ORD_LIMIT ? " at the limit price" : "");
            return KS_OK;
        }
        if (!taker_funds_ok(c, in, &o, &p, why, sizeof(why))) {
            reject(c, &o, ts, KS_REJ_INSUFFICIENT_FUNDS, "%s", why);
            return KS_OK;
        }
        o.oid = c->next_oid++;
        o.seq = c->next_seq++;
        o.status = KS_OS_ACKED;
        in->n_open++;
        c->open[c->n_open++] = o;
        sim_order_t *op = &c->open[c->n_open - 1];
        emit_order(c, op, ts, 0);
        sweep(c, op, ts, op->price, p.qty);
        if (!is_final(op)) {
            set_reason(op, "%s remainder canceled",
                       op->type == KS_ORD_MARKET ? "market order: book exhausted," : "IOC:");
            finish(c, op, KS_OS_CANCELED, ts);
        }
        after_fills(c, op, ts);
        compact(c);
        return KS_OK;
    }

    /* GTC / post-only: the crossing part executes as taker, the rest rests. */
    const ks_level_t *top = best(opposite(in, o.side));
    bool crosses = top && reaches(o.side, o.price, top->px);
    if (crosses && o.tif == KS_TIF_POST_ONLY) {
        char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
        ks_dec_format(o.price, a, sizeof(a));
        ks_dec_format(top->px, b, sizeof(b));
        reject(c, &o, ts, KS_REJ_POST_ONLY, "post-only %s at %s would take (best %s %s)",
               ks_side_name(o.side), a, o.side > 0 ? "ask" : "bid", b);
        return KS_OK;
    }
    uint8_t wallet;
    int asset;
    ks_dec_t hold;
    compute_hold(c, in, &o, o.qty, &wallet, &asset, &hold);
    ks_dec_t avail = hold_avail(c, wallet, asset);
    if (hold.mant && cmp(hold, avail) > 0) {
        char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
        ks_dec_format(hold, a, sizeof(a));
        ks_dec_format(avail, b, sizeof(b));
        reject(c, &o, ts, KS_REJ_INSUFFICIENT_FUNDS, "%s %s %s needed, %s available",
               is_perp(in) ? "margin" : "spot", a, hold_asset_name(c, wallet, asset), b);
        return KS_OK;
    }
    o.oid = c->next_oid++;
    o.seq = c->next_seq++;
    o.status = KS_OS_ACKED;
    if (hold.mant)
        lock_hold(c, &o, wallet, asset, hold);
    in->n_open++;
    c->open[c->n_open++] = o;
    sim_order_t *op = &c->open[c->n_open - 1];
    emit_order(c, op, ts, 0);
    if (crosses) {
        sweep(c, op, ts, op->price, op->qty);
        after_fills(c, op, ts);
    } else {
        emit_hold_wallet(c, op, ts);
    }
    if (!is_final(op))
        op->queue_ahead = level_qty_at(in, op->side, op->price);
    compact(c);
    return KS_OK;
}

static sim_order_t *find_open(ks_sim_core_t *c, const char *cloid)
{
    for (uint32_t i = 0; i < c->n_open; i++)
        if (!is_final(&c->open[i]) && strcmp(c->open[i].cloid, cloid) == 0)
            return &c->open[i];
    return NULL;
}

static const sim_order_t *find_done(const ks_sim_core_t *c, const char *cloid)
{
    for (uint32_t k = 1; k <= c->n_done; k++) {
        const sim_order_t *o = &c->done[(c->done_next + KS_SIM_DONE_RING - k) % KS_SIM_DONE_RING];
        if (strcmp(o->cloid, cloid) == 0)
            return o;
    }
    return NULL;
}

static void unknown_order(ks_sim_core_t *c, int64_t ts, int32_t inst, const char *cloid,
                          const char *what)
{
    if (!c->sink.on_order)
        return;
    ks_order_update_t ev;
    KS_SIM_EV_INIT(&ev, KS_EV_ORDER);
    ev.hdr.inst = inst >= 0 && inst < c->n_inst ? c->inst[inst].spec.ext_id : -1;
    ev.hdr.venue_ts = ts;
    ks_strlcpy(ev.cloid, cloid, sizeof(ev.cloid));
    ev.status = KS_OS_REJECTED;
    ev.reject = KS_REJ_UNKNOWN_ORDER;
    snprintf(ev.reason, sizeof(ev.reason), "%s: unknown order", what);
    call_order(c, &ev);
}

int ks_sim_core_cancel(ks_sim_core_t *c, int64_t ts, int32_t inst, const char *cloid)
{
    if (!c || !cloid)
        return KS_EINVAL;
    sim_order_t *o = find_open(c, cloid);
    if (!o) {
        const sim_order_t *d = find_done(c, cloid);
        if (d)
            emit_order(c, d, ts, 0);
        else
            unknown_order(c, ts, inst, cloid, "cancel");
        return KS_OK;
    }
    finish(c, o, KS_OS_CANCELED, ts);
    emit_order(c, o, ts, 0);
    emit_hold_wallet(c, o, ts);
    compact(c);
    return KS_OK;
}

int ks_sim_core_cancel_all(ks_sim_core_t *c, int64_t ts, int32_t inst)
{
    int n = 0;
    bool spot_touched = false, fut_touched = false;
    if (!c)
        return KS_EINVAL;
    for (uint32_t i = 0; i < c->n_open; i++) {
        sim_order_t *o = &c->open[i];
        if (is_final(o) || (inst >= 0 && o->inst != inst))
            continue;
        finish(c, o, KS_OS_CANCELED, ts);
        emit_order(c, o, ts, 0);
        if (is_perp(&c->inst[o->inst]))
            fut_touched = true;
        else
            spot_touched = true;
        n++;
    }
    if (spot_touched)
        for (int a = 0; a < c->n_assets; a++)
            emit_spot_balance(c, ts, a, 0);
    if (fut_touched)
        emit_fut_balance(c, ts, 0);
    compact(c);
    return n;
}

static void amend_refused(ks_sim_core_t *c, const sim_order_t *o, int64_t ts, int why,
                          const char *msg)
{
    ks_order_update_t ev;
    if (!c->sink.on_order)
        return;
    fill_order_event(c, o, ts, 0, &ev);
    ev.reject = why;
    snprintf(ev.reason, sizeof(ev.reason), "amend refused: %s", msg);
    call_order(c, &ev);
}

int ks_sim_core_amend(ks_sim_core_t *c, int64_t ts, const ks_amend_cmd_t *cmd)
{
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], msg[KS_REASON_LEN];
    if (!c || !cmd || !KS_HAS_FIELD(cmd, ks_amend_cmd_t, qty))
        return KS_EINVAL;
    sim_order_t *o = find_open(c, cmd->cloid);
    if (!o) {
        const sim_order_t *d = find_done(c, cmd->cloid);
        if (d)
            amend_refused(c, d, ts, KS_REJ_UNKNOWN_ORDER, "order is final");
        else
            unknown_order(c, ts, cmd->inst, cmd->cloid, "amend");
        return KS_OK;
    }
    sim_inst_t *in = &c->inst[o->inst];
    const ks_sim_inst_spec_t *s = &in->spec;
    ks_dec_t price = cmd->price.mant ? ks_dec_normalize(cmd->price) : o->price;
    ks_dec_t qty = cmd->qty.mant ? ks_dec_normalize(cmd->qty) : o->qty;

    if (price.mant <= 0 || !ks_dec_is_multiple(price, s->tick)) {
        ks_dec_format(price, a, sizeof(a));
        snprintf(msg, sizeof(msg), "price %s is not a positive tick multiple", a);
        amend_refused(c, o, ts, KS_REJ_INVALID, msg);
        return KS_OK;
    }
    if (qty.mant <= 0 || !ks_dec_is_multiple(qty, s->lot) || cmp(qty, s->min_qty) < 0 ||
        cmp(qty, o->filled) <= 0) {
        ks_dec_format(qty, a, sizeof(a));
        ks_dec_format(o->filled, b, sizeof(b));
        snprintf(msg, sizeof(msg), "qty %s must be a lot multiple >= min_qty and > filled %s", a,
                 b);
        amend_refused(c, o, ts, KS_REJ_INVALID, msg);
        return KS_OK;
    }
    if (cmp(d_mul(c, price, qty), s->min_notional) < 0) {
        amend_refused(c, o, ts, KS_REJ_INVALID, "notional below the minimum");
        return KS_OK;
    }
    if (o->reduce_only && cmp(d_sub(c, qty, o->filled), reduce_cap(in, o->side)) > 0) {
        amend_refused(c, o, ts, KS_REJ_REDUCE_ONLY, "reduce-only qty exceeds the position");
        return KS_OK;
    }
    const ks_level_t *top = best(opposite(in, o->side));
    bool crosses = top && reaches(o->side, price, top->px);
    if (crosses && o->tif == KS_TIF_POST_ONLY) {
        amend_refused(c, o, ts, KS_REJ_POST_ONLY, "post-only price would take");
        return KS_OK;
    }
    /* Re-reserve for the new remaining quantity at the new price. */
    sim_order_t trial = *o;
    trial.price = price;
    ks_dec_t old_hold = o->hold;
    uint8_t wallet;
    int asset;
    ks_dec_t hold;
    compute_hold(c, in, &trial, d_sub(c, qty, o->filled), &wallet, &asset, &hold);
    release_hold(c, o, o->hold);
    ks_dec_t avail = hold_avail(c, wallet, asset);
    if (hold.mant && cmp(hold, avail) > 0) {
        if (old_hold.mant)
            lock_hold(c, o, o->hold_wallet, o->hold_asset, old_hold);
        ks_dec_format(hold, a, sizeof(a));
        ks_dec_format(avail, b, sizeof(b));
        snprintf(msg, sizeof(msg), "%s needed, %s available", a, b);
        amend_refused(c, o, ts, KS_REJ_INSUFFICIENT_FUNDS, msg);
        return KS_OK;
    }
    bool reprice = cmp(price, o->price) != 0;
    bool grow = cmp(qty, o->qty) > 0;
    o->price = price;
    o->qty = qty;
    o->updated_ts = ts;
    o->hold = KS_DEC_ZERO;
    o->hold_wallet = 0;
    if (hold.mant)
        lock_hold(c, o, wallet, asset, hold);
    if (reprice || grow) {
        o->seq = c->next_seq++;
        o->queue_ahead = level_qty_at(in, o->side, price);
    }
    emit_order(c, o, ts, 0);
    if (crosses) {
        sweep(c, o, ts, o->price, remaining(c, o));
        after_fills(c, o, ts);
        if (!is_final(o))
            o->queue_ahead = level_qty_at(in, o->side, o->price);
    } else {
        emit_hold_wallet(c, o, ts);
    }
    compact(c);
    return KS_OK;
}

/* ---- market step --------------------------------------------------------------- */

/* Does own order ia come before ib? Better price first, then older (seq is unique). */
static bool before(const ks_sim_core_t *c, int side, uint32_t ia, uint32_t ib)
{
    const sim_order_t *a = &c->open[ia], *b = &c->open[ib];
    int k = ks_dec_cmp(a->price, b->price);
    if (k)
        return side > 0 ? k > 0 : k < 0;
    return a->seq < b->seq;
}

static void sift_down(const ks_sim_core_t *c, int side, uint32_t *v, uint32_t root, uint32_t end)
{
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && before(c, side, v[child], v[child + 1]))
            child++;
        if (!before(c, side, v[root], v[child]))
            return;
        uint32_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/* Indices of open orders of inst on `side`, best priority first (heapsort: in place,
 * O(n log n), and the comparator needs context qsort cannot pass). */
static uint32_t gather(ks_sim_core_t *c, int32_t inst, int side)
{
    uint32_t n = 0;
    uint32_t *v = c->scratch;
    for (uint32_t i = 0; i < c->n_open; i++) {
        const sim_order_t *o = &c->open[i];
        if (o->inst == inst && o->side == side && !is_final(o))
            v[n++] = i;
    }
    if (n < 2)
        return n;
    for (uint32_t i = n / 2; i-- > 0;)
        sift_down(c, side, v, i, n);
    for (uint32_t end = n - 1; end > 0; end--) {
        uint32_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down(c, side, v, 0, end);
    }
    return n;
}

/* How much a resting order may fill now (reduce-only: at most the position). Cancels
 * a reduce-only order that can no longer reduce. */
static ks_dec_t fillable(ks_sim_core_t *c, sim_order_t *o, int64_t ts)
{
    ks_dec_t rem = remaining(c, o);
    if (!o->reduce_only)
        return rem;
    ks_dec_t cap = reduce_cap(&c->inst[o->inst], o->side);
    if (!cap.mant) {
        o->reject = KS_REJ_REDUCE_ONLY;
        set_reason(o, "reduce-only order canceled: the position is closed");
        finish(c, o, KS_OS_CANCELED, ts);
        emit_order(c, o, ts, 0);
        emit_hold_wallet(c, o, ts);
        return KS_DEC_ZERO;
    }
    return dmin(rem, cap);
}

/* Resting orders the rebuilt book crosses fill as maker at their own price, against the
 * crossing levels (which are consumed). */
static void cross_resting(ks_sim_core_t *c, int32_t idx, int64_t ts)
{
    sim_inst_t *in = &c->inst[idx];
    for (int side = KS_SIDE_BUY; side >= KS_SIDE_SELL; side -= 2) {
        uint32_t n = gather(c, idx, side);
        sim_side_t *sd = opposite(in, side);
        for (uint32_t k = 0; k < n; k++) {
            sim_order_t *o = &c->open[c->scratch[k]];
            const ks_level_t *top = best(sd);
            if (!top || !reaches(side, o->price, top->px))
                break;
            ks_dec_t want = fillable(c, o, ts);
            ks_dec_t got = KS_DEC_ZERO;
            while (want.mant > 0 && sd->head < sd->n &&
                   reaches(side, o->price, sd->lv[sd->head].px)) {
                ks_level_t *l = &sd->lv[sd->head];
                ks_dec_t t = dmin(l->qty, want);
                l->qty = d_sub(c, l->qty, t);
                if (!l->qty.mant)
                    sd->head++;
                want = d_sub(c, want, t);
                got = d_add(c, got, t);
            }
            if (got.mant) {
                in->book_seq++;
                execute(c, o, ts, o->price, got, true);
                after_fills(c, o, ts);
            }
        }
    }
}

/* Trades up to q of synthetic flow against the book's touch level (never deeper) and
 * prints it; returns the quantity traded. */
static ks_dec_t touch_print(ks_sim_core_t *c, sim_inst_t *in, sim_side_t *sd, ks_dec_t touch_px,
                            int aggr, ks_dec_t q, int64_t ts)
{
    const ks_level_t *l = best(sd);
    if (!l || cmp(l->px, touch_px) != 0 || q.mant <= 0)
        return KS_DEC_ZERO;
    ks_dec_t t = dmin(q, l->qty);
    consume(c, in, sd, t);
    print_trade(c, in, ts, aggr, touch_px, t, c->next_trade++);
    return t;
}

/* One synthetic taker: own orders better than the touch fill first; at the touch each
 * own order first waits for its queue_ahead to trade; the rest prints against the book
 * touch (at most the touch quantity: flow never walks the synthetic book). */
static void run_flow(ks_sim_core_t *c, int32_t idx, int64_t ts, const ks_sim_flow_t *f)
{
    sim_inst_t *in = &c->inst[idx];
    int aggr = f->side > 0 ? KS_SIDE_BUY : KS_SIDE_SELL;
    int own_side = -aggr;
    sim_side_t *sd = opposite(in, aggr);
    ks_dec_t v = f->qty;
    const ks_level_t *top = best(sd);
    bool has_touch = top != NULL;
    ks_dec_t touch_px = has_touch ? top->px : KS_DEC_ZERO;

    if (v.mant <= 0)
        return;
    if (in->n_open) {
        uint32_t n = gather(c, idx, own_side);
        for (uint32_t k = 0; k < n && v.mant > 0; k++) {
            sim_order_t *o = &c->open[c->scratch[k]];
            if (has_touch) {
                int rel = cmp(o->price, touch_px); /* > 0: better than the touch */
                if (own_side < 0)
                    rel = -rel;
                if (rel < 0)
                    break;
                if (rel == 0 && o->queue_ahead.mant > 0) {
                    ks_dec_t x = dmin(v, o->queue_ahead);
                    o->queue_ahead = d_sub(c, o->queue_ahead, x);
                    v = d_sub(c, v, x);
                    touch_print(c, in, sd, touch_px, aggr, x, ts);
                    if (!v.mant)
                        break;
                }
            }
            ks_dec_t q = dmin(v, fillable(c, o, ts));
            if (!q.mant)
                continue;
            v = d_sub(c, v, q);
            execute(c, o, ts, o->price, q, true);
            after_fills(c, o, ts);
        }
    }
    if (has_touch)
        touch_print(c, in, sd, touch_px, aggr, v, ts);
}

/* Forced liquidation at the liquidation price; the holder loses the position margin
 * (realized loss at liq_px plus the remaining margin kept as the liquidation fee). */
static void liquidate(ks_sim_core_t *c, sim_inst_t *in, int64_t ts)
{
    sim_pos_t *p = &in->pos;
    ks_dec_t px = p->liq_px, q = ks_dec_abs(p->qty);
    int side = p->qty.mant > 0 ? KS_SIDE_SELL : KS_SIDE_BUY;
    ks_dec_t realized = d_sub(c, d_mul(c, px, p->qty), p->cost);
    ks_dec_t fee = d_add(c, p->margin, realized);
    uint64_t trade_no = c->next_trade++, liq_no = c->next_liq++;

    if (fee.mant < 0)
        fee = KS_DEC_ZERO;
    c->fut_total = d_sub(c, d_add(c, c->fut_total, realized), fee);
    p->qty = p->cost = p->margin = p->liq_px = KS_DEC_ZERO;

    if (c->sink.on_fill) {
        ks_fill_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_FILL);
        ev.hdr.inst = in->spec.ext_id;
        ev.hdr.venue_ts = ts;
        fmt_id(ev.venue_id, sizeof(ev.venue_id), 'L', liq_no);
        fmt_id(ev.trade_id, sizeof(ev.trade_id), 'T', trade_no);
        ev.side = (int8_t)side;
        ev.px = px;
        ev.qty = q;
        ev.fee = fee;
        ks_strlcpy(ev.fee_asset, in->spec.quote, sizeof(ev.fee_asset));
        c->sink.on_fill(c->sink.ud, &ev);
    }
    print_trade(c, in, ts, side, px, q, trade_no);
    if (c->sink.on_liquidation) {
        ks_liquidation_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_LIQUIDATION);
        ev.hdr.inst = in->spec.ext_id;
        ev.hdr.venue_ts = ts;
        ev.side = (int8_t)side;
        ev.px = px;
        ev.qty = q;
        c->sink.on_liquidation(c->sink.ud, &ev);
    }
    emit_position(c, in, ts, 0);
    emit_fut_balance(c, ts, 0);
}

static void settle_funding(ks_sim_core_t *c, sim_inst_t *in, int64_t boundary)
{
    /* payment = -qty * mark * rate: positive rate, longs pay and shorts receive. Rounded
     * down (toward -inf) to KS_SIM_ACCT_SCALE. */
    ks_dec_t value = d_mul(c, in->pos.qty, in->mark);
    ks_dec_t amount =
        ks_dec_neg(d_mulr(c, value, in->funding_rate, KS_SIM_ACCT_SCALE, KS_ROUND_CEIL));
    c->fut_total = d_add(c, c->fut_total, amount);
    if (c->sink.on_funding) {
        ks_funding_t ev;
        KS_SIM_EV_INIT(&ev, KS_EV_FUNDING);
        ev.hdr.inst = in->spec.ext_id;
        ev.hdr.venue_ts = boundary;
        ev.rate = in->funding_rate;
        ev.position_qty = in->pos.qty;
        ev.mark_px = in->mark;
        ev.amount = amount;
        ks_strlcpy(ev.asset, in->spec.quote, sizeof(ev.asset));
        c->sink.on_funding(c->sink.ud, &ev);
    }
}

int ks_sim_core_step(ks_sim_core_t *c, int64_t ts, const ks_sim_input_t *inputs)
{
    if (!c || !inputs)
        return KS_EINVAL;
    for (int32_t i = 0; i < c->n_inst; i++) {
        sim_inst_t *in = &c->inst[i];
        const ks_sim_input_t *x = &inputs[i];
        if (x->mid.mant > 0)
            rebuild_book(c, in, x->mid);
        if (in->n_open)
            cross_resting(c, i, ts);
        uint32_t nf = x->n_flows < KS_SIM_MAX_FLOWS ? x->n_flows : KS_SIM_MAX_FLOWS;
        for (uint32_t k = 0; k < nf; k++)
            run_flow(c, i, ts, &x->flows[k]);
        compact(c);
        if (is_perp(in)) {
            if (x->mark.mant > 0)
                in->mark = x->mark;
            in->funding_rate = x->funding_rate;
        }
    }
    /* Liquidations before funding: a position liquidated in this step pays no funding. */
    for (int32_t i = 0; i < c->n_inst; i++) {
        sim_inst_t *in = &c->inst[i];
        if (!is_perp(in) || !in->pos.qty.mant || !in->pos.liq_px.mant || !in->mark.mant)
            continue;
        int k = cmp(in->mark, in->pos.liq_px);
        if ((in->pos.qty.mant > 0 && k <= 0) || (in->pos.qty.mant < 0 && k >= 0))
            liquidate(c, in, ts);
    }
    bool paid = false;
    for (int32_t i = 0; i < c->n_inst; i++) {
        sim_inst_t *in = &c->inst[i];
        if (!is_perp(in) || in->spec.external_funding)
            continue;
        if (!in->next_funding) {
            /* Boundaries are aligned to the epoch: 00:00, 08:00, 16:00 UTC for 8 h. */
            int64_t k = ts / in->interval_ns;
            in->next_funding = (k + 1) * in->interval_ns;
            continue;
        }
        while (ts >= in->next_funding) {
            if (in->pos.qty.mant && in->mark.mant) {
                settle_funding(c, in, in->next_funding);
                paid = true;
            }
            in->next_funding += in->interval_ns;
        }
    }
    if (paid)
        emit_fut_balance(c, ts, 0);
    c->last_ts = ts;
    return KS_OK;
}

/* ---- replay ------------------------------------------------------------------- */

/* A book update can only shrink an order's queue: what is ahead of it at its price is
 * never more than what the book displays there. */
static void clip_queues(ks_sim_core_t *c, int32_t idx)
{
    sim_inst_t *in = &c->inst[idx];
    for (uint32_t i = 0; i < c->n_open; i++) {
        sim_order_t *o = &c->open[i];
        if (o->inst != idx || is_final(o) || !o->queue_ahead.mant)
            continue;
        o->queue_ahead = dmin(o->queue_ahead, level_qty_at(in, o->side, o->price));
    }
}

static sim_inst_t *replay_inst(ks_sim_core_t *c, int32_t idx, int64_t ts)
{
    if (!c || idx < 0 || idx >= c->n_inst)
        return NULL;
    c->last_ts = ts;
    return &c->inst[idx];
}

static void copy_side(sim_side_t *sd, const ks_level_t *lv, uint32_t n)
{
    sd->head = 0;
    sd->n = 0;
    for (uint32_t i = 0; i < n && sd->n < KS_SIM_MAX_LEVELS; i++) {
        if (lv[i].qty.mant <= 0 || lv[i].px.mant <= 0)
            continue;
        sd->lv[sd->n++] = lv[i];
    }
}

int ks_sim_core_replay_book(ks_sim_core_t *c, int32_t idx, int64_t ts, const ks_level_t *bids,
                            uint32_t n_bids, const ks_level_t *asks, uint32_t n_asks)
{
    sim_inst_t *in = replay_inst(c, idx, ts);
    if (!in || (n_bids && !bids) || (n_asks && !asks))
        return KS_EINVAL;
    copy_side(&in->bids, bids, n_bids);
    copy_side(&in->asks, asks, n_asks);
    in->book_seq++;
    if (in->n_open) {
        clip_queues(c, idx);
        cross_resting(c, idx, ts);
        compact(c);
    }
    return KS_OK;
}

int ks_sim_core_replay_mid(ks_sim_core_t *c, int32_t idx, int64_t ts, ks_dec_t mid)
{
    sim_inst_t *in = replay_inst(c, idx, ts);
    if (!in || mid.mant <= 0)
        return KS_EINVAL;
    rebuild_book(c, in, mid);
    if (in->n_open) {
        clip_queues(c, idx);
        cross_resting(c, idx, ts);
        compact(c);
    }
    return KS_OK;
}

int ks_sim_core_replay_trade(ks_sim_core_t *c, int32_t idx, int64_t ts, const ks_sim_print_t *p)
{
    sim_inst_t *in = replay_inst(c, idx, ts);
    if (!in || !p || (p->side != KS_SIDE_BUY && p->side != KS_SIDE_SELL) || p->px.mant <= 0 ||
        p->qty.mant < 0)
        return KS_EINVAL;
    int aggr = p->side;
    int own_side = -aggr;
    ks_dec_t v = p->qty;
    if (in->n_open) {
        uint32_t n = gather(c, idx, own_side);
        for (uint32_t k = 0; k < n; k++) {
            sim_order_t *o = &c->open[c->scratch[k]];
            int rel = cmp(o->price, p->px); /* > 0: the print traded through the order */
            if (own_side < 0)
                rel = -rel;
            if (rel < 0 || (rel == 0 && (p->through_only || !v.mant)))
                break; /* priority order: nothing further back can fill */
            ks_dec_t q;
            if (rel > 0) {
                /* The whole level went: everything at the order's price traded, it too. */
                o->queue_ahead = KS_DEC_ZERO;
                q = fillable(c, o, ts);
            } else {
                if (o->queue_ahead.mant > 0) {
                    ks_dec_t x = dmin(v, o->queue_ahead);
                    o->queue_ahead = d_sub(c, o->queue_ahead, x);
                    v = d_sub(c, v, x);
                }
                q = dmin(v, fillable(c, o, ts));
                v = d_sub(c, v, q);
            }
            if (!q.mant)
                continue;
            execute(c, o, ts, o->price, q, true);
            after_fills(c, o, ts);
        }
        compact(c);
    }
    if (p->publish && p->qty.mant > 0)
        print_trade(c, in, ts, aggr, p->px, p->qty, c->next_trade++);
    return KS_OK;
}

int ks_sim_core_replay_mark(ks_sim_core_t *c, int32_t idx, int64_t ts, ks_dec_t mark)
{
    sim_inst_t *in = replay_inst(c, idx, ts);
    if (!in || mark.mant <= 0)
        return KS_EINVAL;
    if (!is_perp(in))
        return KS_OK;
    in->mark = mark;
    if (in->pos.qty.mant && in->pos.liq_px.mant) {
        int k = cmp(in->mark, in->pos.liq_px);
        if ((in->pos.qty.mant > 0 && k <= 0) || (in->pos.qty.mant < 0 && k >= 0))
            liquidate(c, in, ts);
    }
    return KS_OK;
}

int ks_sim_core_settle_funding(ks_sim_core_t *c, int32_t idx, int64_t ts, ks_dec_t rate)
{
    sim_inst_t *in = replay_inst(c, idx, ts);
    if (!in || !is_perp(in))
        return KS_EINVAL;
    in->funding_rate = rate;
    if (!in->pos.qty.mant || !in->mark.mant)
        return 0;
    settle_funding(c, in, ts);
    emit_fut_balance(c, ts, 0);
    return 1;
}

int ks_sim_core_queue_ahead(const ks_sim_core_t *c, const char *cloid, ks_dec_t *out)
{
    if (!c || !cloid || !out)
        return KS_EINVAL;
    for (uint32_t i = 0; i < c->n_open; i++) {
        const sim_order_t *o = &c->open[i];
        if (!is_final(o) && strcmp(o->cloid, cloid) == 0) {
            *out = o->queue_ahead;
            return KS_OK;
        }
    }
    return KS_ENOENT;
}

/* ---- transfers, leverage ------------------------------------------------------- */

int ks_sim_core_transfer(ks_sim_core_t *c, int64_t ts, const ks_transfer_cmd_t *cmd, char *detail,
                         size_t detail_len)
{
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
    if (!c || !cmd || !KS_HAS_FIELD(cmd, ks_transfer_cmd_t, to)) {
        snprintf(detail, detail_len, "malformed transfer");
        return KS_EINVAL;
    }
    ks_dec_t amt = ks_dec_normalize(cmd->amount);
    bool s2f = cmd->from == KS_WALLET_SPOT && cmd->to == KS_WALLET_FUTURES;
    bool f2s = cmd->from == KS_WALLET_FUTURES && cmd->to == KS_WALLET_SPOT;
    if (!s2f && !f2s) {
        snprintf(detail, detail_len, "transfers go between the spot and futures wallets");
        return KS_EINVAL;
    }
    if (amt.mant <= 0 || amt.scale > KS_SIM_ACCT_SCALE) {
        snprintf(detail, detail_len, "amount must be > 0 with at most %d decimals",
                 KS_SIM_ACCT_SCALE);
        return KS_EINVAL;
    }
    if (!c->fut_asset[0] || strcmp(cmd->asset, c->fut_asset) != 0) {
        snprintf(detail, detail_len, "the futures wallet holds only %s",
                 c->fut_asset[0] ? c->fut_asset : "(none)");
        return KS_EINVAL;
    }
    int sa = add_asset(c, cmd->asset);
    if (sa < 0) {
        snprintf(detail, detail_len, "too many assets");
        return KS_ERANGE;
    }
    ks_dec_t avail = s2f ? spot_avail(c, sa) : fut_avail(c);
    if (cmp(amt, avail) > 0) {
        ks_dec_format(amt, a, sizeof(a));
        ks_dec_format(avail, b, sizeof(b));
        snprintf(detail, detail_len, "insufficient %s: %s requested, %s available in %s",
                 cmd->asset, a, b, ks_wallet_name(cmd->from));
        return KS_EREJECT;
    }
    if (s2f) {
        c->spot[sa].total = d_sub(c, c->spot[sa].total, amt);
        c->fut_total = d_add(c, c->fut_total, amt);
    } else {
        c->fut_total = d_sub(c, c->fut_total, amt);
        c->spot[sa].total = d_add(c, c->spot[sa].total, amt);
    }
    if (detail && detail_len)
        detail[0] = '\0';
    emit_spot_balance(c, ts, sa, 0);
    emit_fut_balance(c, ts, 0);
    return KS_OK;
}

int ks_sim_core_set_leverage(ks_sim_core_t *c, int64_t ts, int32_t inst, int32_t leverage,
                             char *detail, size_t detail_len)
{
    if (!c || inst < 0 || inst >= c->n_inst)
        return KS_ENOENT;
    sim_inst_t *in = &c->inst[inst];
    if (!is_perp(in)) {
        snprintf(detail, detail_len, "%s: leverage applies to perps only", in->spec.symbol);
        return KS_EINVAL;
    }
    if (leverage < 1 || leverage > in->spec.max_leverage) {
        snprintf(detail, detail_len, "%s: leverage %d outside 1..%d", in->spec.symbol, leverage,
                 in->spec.max_leverage);
        return KS_EINVAL;
    }
    if (in->pos.qty.mant) {
        ks_dec_t m = d_div(c, ks_dec_abs(in->pos.cost), ks_dec_from_int(leverage),
                           KS_SIM_ACCT_SCALE, KS_ROUND_CEIL);
        ks_dec_t delta = d_sub(c, m, in->pos.margin);
        if (delta.mant > 0 && cmp(delta, fut_avail(c)) > 0) {
            snprintf(detail, detail_len, "%s: not enough %s to lower leverage to %d",
                     in->spec.symbol, c->fut_asset, leverage);
            return KS_EREJECT;
        }
        in->pos.margin = m;
    }
    in->leverage = leverage;
    update_liq(in);
    if (detail && detail_len)
        detail[0] = '\0';
    emit_position(c, in, ts, 0);
    if (in->pos.qty.mant)
        emit_fut_balance(c, ts, 0);
    return KS_OK;
}

/* ---- snapshots and accessors --------------------------------------------------- */

int ks_sim_core_emit_open_orders(ks_sim_core_t *c, int64_t ts, int32_t inst, uint16_t flags)
{
    int n = 0;
    for (uint32_t i = 0; i < c->n_open; i++) {
        const sim_order_t *o = &c->open[i];
        if (is_final(o) || (inst >= 0 && o->inst != inst))
            continue;
        emit_order(c, o, ts, flags);
        n++;
    }
    return n;
}

int ks_sim_core_emit_positions(ks_sim_core_t *c, int64_t ts, int32_t inst, uint16_t flags)
{
    int n = 0;
    for (int32_t i = 0; i < c->n_inst; i++) {
        const sim_inst_t *in = &c->inst[i];
        if (!is_perp(in) || (inst >= 0 && i != inst) || (inst < 0 && !in->pos.qty.mant))
            continue;
        emit_position(c, in, ts, flags);
        n++;
    }
    return n;
}

int ks_sim_core_emit_balances(ks_sim_core_t *c, int64_t ts, uint16_t flags)
{
    for (int a = 0; a < c->n_assets; a++)
        emit_spot_balance(c, ts, a, flags);
    emit_fut_balance(c, ts, flags);
    return c->n_assets + (c->fut_asset[0] ? 1 : 0);
}

int ks_sim_core_emit_order(ks_sim_core_t *c, int64_t ts, const char *cloid, uint16_t flags)
{
    if (!c || !cloid)
        return KS_EINVAL;
    const sim_order_t *o = find_open(c, cloid);
    if (!o)
        o = find_done(c, cloid);
    if (!o)
        return KS_ENOENT;
    emit_order(c, o, ts, flags);
    return KS_OK;
}

int ks_sim_core_book(const ks_sim_core_t *c, int32_t inst, const ks_level_t **bids,
                     uint32_t *n_bids, const ks_level_t **asks, uint32_t *n_asks)
{
    if (!c || inst < 0 || inst >= c->n_inst)
        return KS_ENOENT;
    const sim_inst_t *in = &c->inst[inst];
    *bids = in->bids.lv + in->bids.head;
    *n_bids = in->bids.n - in->bids.head;
    *asks = in->asks.lv + in->asks.head;
    *n_asks = in->asks.n - in->asks.head;
    return KS_OK;
}

uint64_t ks_sim_core_book_seq(const ks_sim_core_t *c, int32_t inst)
{
    return inst >= 0 && inst < c->n_inst ? c->inst[inst].book_seq : 0;
}

ks_dec_t ks_sim_core_last_price(const ks_sim_core_t *c, int32_t inst)
{
    return inst >= 0 && inst < c->n_inst ? c->inst[inst].last : KS_DEC_ZERO;
}

ks_dec_t ks_sim_core_mark(const ks_sim_core_t *c, int32_t inst)
{
    return inst >= 0 && inst < c->n_inst ? c->inst[inst].mark : KS_DEC_ZERO;
}

int64_t ks_sim_core_next_funding(const ks_sim_core_t *c, int32_t inst)
{
    if (inst < 0 || inst >= c->n_inst || !is_perp(&c->inst[inst]))
        return 0;
    return c->inst[inst].next_funding;
}

int ks_sim_core_get_position(const ks_sim_core_t *c, int32_t inst, ks_position_t *out)
{
    if (!c || inst < 0 || inst >= c->n_inst || !is_perp(&c->inst[inst]))
        return KS_ENOENT;
    /* fill_position only counts numeric errors; reading is otherwise const. */
    fill_position((ks_sim_core_t *)c, &c->inst[inst], c->last_ts, 0, out);
    return KS_OK;
}

int ks_sim_core_get_balance(const ks_sim_core_t *c, int wallet, const char *asset,
                            ks_balance_t *out)
{
    ks_sim_core_t *mc = (ks_sim_core_t *)c; /* numeric-error counter only */
    if (!c || !asset || !out)
        return KS_EINVAL;
    if (wallet == KS_WALLET_FUTURES) {
        if (strcmp(asset, c->fut_asset) != 0)
            return KS_ENOENT;
        fill_fut_balance(mc, c->last_ts, 0, out);
        return KS_OK;
    }
    int a = find_asset(c, asset);
    if (wallet != KS_WALLET_SPOT || a < 0)
        return KS_ENOENT;
    KS_SIM_EV_INIT(out, KS_EV_BALANCE);
    out->hdr.inst = -1;
    out->wallet = KS_WALLET_SPOT;
    ks_strlcpy(out->asset, asset, sizeof(out->asset));
    out->total = c->spot[a].total;
    out->available = spot_avail(mc, a);
    out->equity = c->spot[a].total;
    return KS_OK;
}

int ks_sim_core_open_order_count(const ks_sim_core_t *c)
{
    return (int)c->n_open;
}

uint64_t ks_sim_core_numeric_errors(const ks_sim_core_t *c)
{
    return c->num_err;
}
