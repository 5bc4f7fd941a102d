/* Leg groups (see legs.h). One step() function looks at a group whenever none of its
 * legs has an order in flight and decides the next move from the legs' positions, so
 * the same logic handles fills, rejects, timeouts and recovery after a restart. */
#include "legs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "log.h"
#include "lua_runtime.h"

#define MAX_QUICK_ATTEMPTS 3 /* corrective rounds before backing off */
#define MAX_BACKOFF_NS     (30LL * 1000000000)

struct ks_legs {
    ks_engine_t *eng;
    ks_hedge_t **g;
    int n, cap;
    ks_strmap_t by_id;    /* id -> group index + 1 */
    ks_strmap_t by_cloid; /* cloid -> (group index << 3 | leg) + 1 */
    uint64_t seq;
};

const char *ks_hedge_state_name(int state)
{
    static const char *const names[] = {"idle", "opening", "active", "closing", "closed", "failed"};
    return state >= 0 && state <= KS_HEDGE_FAILED ? names[state] : "invalid";
}

static bool final_state(int s)
{
    return s == KS_HEDGE_CLOSED || s == KS_HEDGE_FAILED;
}

ks_legs_t *ks_legs_new(ks_engine_t *eng)
{
    ks_legs_t *lg = calloc(1, sizeof(*lg));
    if (lg)
        lg->eng = eng;
    return lg;
}

ks_engine_t *ks_legs_engine(ks_legs_t *lg)
{
    return lg->eng;
}

void ks_legs_free(ks_legs_t *lg)
{
    if (!lg)
        return;
    for (int i = 0; i < lg->n; i++) {
        if (lg->g[i]->timer)
            ks_loop_timer_stop(ks_engine_loop(lg->eng), lg->g[i]->timer);
        if (lg->g[i]->deadline_timer)
            ks_loop_timer_stop(ks_engine_loop(lg->eng), lg->g[i]->deadline_timer);
        free(lg->g[i]);
    }
    free(lg->g);
    ks_strmap_free(&lg->by_id);
    ks_strmap_free(&lg->by_cloid);
    free(lg);
}

static int group_index(ks_legs_t *lg, const ks_hedge_t *h)
{
    void *v;
    return ks_strmap_get(&lg->by_id, h->id, &v) ? (int)(intptr_t)v - 1 : -1;
}

ks_hedge_t *ks_legs_find(ks_legs_t *lg, const char *id)
{
    void *v;
    return ks_strmap_get(&lg->by_id, id, &v) ? lg->g[(intptr_t)v - 1] : NULL;
}

/* ---- persistence ----------------------------------------------------------------------- */

static void add_dec(cJSON *o, const char *k, ks_dec_t d)
{
    char b[KS_DEC_STRLEN];
    ks_dec_format(d, b, sizeof(b));
    cJSON_AddStringToObject(o, k, b);
}

static void persist(ks_legs_t *lg, ks_hedge_t *h, bool commit)
{
    ks_store_t *st = ks_engine_store(lg->eng);
    ks_market_t *m = ks_engine_market(lg->eng);
    if (!st)
        return;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tag", h->tag);
    cJSON_AddBoolToObject(root, "top_up", h->top_up);
    cJSON_AddBoolToObject(root, "topped_up", h->topped_up);
    cJSON_AddBoolToObject(root, "restoring", h->restoring);
    cJSON_AddNumberToObject(root, "attempts", h->attempts);
    cJSON *legs = cJSON_AddArrayToObject(root, "legs");
    for (int i = 0; i < h->n_legs; i++) {
        const ks_leg_t *l = &h->legs[i];
        const ks_inst_rec_t *r = ks_market_inst(m, l->inst);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "venue", ks_engine_venue(lg->eng, r->venue)->name);
        cJSON_AddStringToObject(o, "symbol", r->symbol);
        cJSON_AddStringToObject(o, "side", ks_side_name(l->side));
        add_dec(o, "target", l->target);
        add_dec(o, "pos", l->pos);
        add_dec(o, "goal", l->goal);
        add_dec(o, "open_qty", l->open_qty);
        add_dec(o, "open_notional", l->open_notional);
        cJSON_AddStringToObject(o, "working", l->working);
        cJSON *orders = cJSON_AddArrayToObject(o, "orders");
        for (int k = 0; k < l->n_orders; k++)
            cJSON_AddItemToArray(orders, cJSON_CreateString(l->orders[k]));
        cJSON_AddItemToArray(legs, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text) {
        const char *sname =
            h->strat >= 0 ? ks_strategy_name(ks_engine_strategy(lg->eng, h->strat)) : "";
        ks_store_leg_put(st, h->id, sname, h->state, h->reason, text,
                         ks_loop_wall_ns(ks_engine_loop(lg->eng)), commit);
        free(text);
    }
}

static void transition(ks_legs_t *lg, ks_hedge_t *h, int state, const char *fmt, ...)
    KS_PRINTF(4, 5);
static void transition(ks_legs_t *lg, ks_hedge_t *h, int state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
    va_end(ap);
    int old = h->state;
    h->state = state;
    if (state != old)
        h->attempts = 0;
    persist(lg, h, false);
    char detail[KS_REASON_LEN * 3], esc[KS_REASON_LEN * 2];
    size_t j = 0;
    for (const char *p = h->reason; *p && j + 2 < sizeof(esc); p++) {
        if (*p == '"' || *p == '\\')
            esc[j++] = '\\';
        esc[j++] = *p;
    }
    esc[j] = '\0';
    snprintf(detail, sizeof(detail),
             "{\"id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\"}", h->id,
             ks_hedge_state_name(old), ks_hedge_state_name(state), esc);
    const char *sname =
        h->strat >= 0 ? ks_strategy_name(ks_engine_strategy(lg->eng, h->strat)) : "host";
    ks_engine_journal(lg->eng, "hedge.transition", sname, detail);
    ks_log((state == KS_HEDGE_FAILED) ? KS_LOG_WARN : KS_LOG_INFO, "legs", "%s %s: %s -> %s: %s",
           sname, h->id, ks_hedge_state_name(old), ks_hedge_state_name(state), h->reason);
    ks_engine_hedge_changed(lg->eng, h);
}

/* ---- sending --------------------------------------------------------------------------- */

static const ks_inst_rec_t *inst_of(ks_legs_t *lg, const ks_leg_t *l)
{
    return ks_market_inst(ks_engine_market(lg->eng), l->inst);
}

/* The leg's order list is full (a long retry history): drops the oldest order that is
 * finished with all its fills booked. The list only maps a restart's late updates to the
 * group; a finished order has none left to map (by_cloid keeps it in memory anyway). */
static bool forget_oldest_done(ks_legs_t *lg, ks_leg_t *l)
{
    ks_oms_t *oms = ks_engine_oms(lg->eng);
    for (int k = 0; k < l->n_orders; k++) {
        const ks_order_t *o = ks_oms_find(oms, l->orders[k]);
        if (strcmp(l->orders[k], l->working) == 0 ||
            (o && (!ks_order_status_is_final(o->rec.status) ||
                   ks_dec_cmp(o->fill_qty, o->rec.filled) < 0)))
            continue;
        memmove(l->orders[k], l->orders[k + 1],
                (size_t)(l->n_orders - k - 1) * sizeof(l->orders[0]));
        l->n_orders--;
        return true;
    }
    return false;
}

/* Sends one market order for a leg: opening side (open = true) or closing side
 * (reduce-only where the venue has positions). */
static bool send_leg(ks_legs_t *lg, ks_hedge_t *h, int li, bool open, ks_dec_t qty, const char *why)
{
    ks_leg_t *l = &h->legs[li];
    const ks_inst_rec_t *r = inst_of(lg, l);
    char err[KS_REASON_LEN], cloid[KS_CLOID_LEN];
    if (l->n_orders >= KS_LEG_MAX_ORDERS && !forget_oldest_done(lg, l)) {
        ks_log_error("legs", "%s leg %d: order limit reached; needs manual attention", h->id, li);
        return false;
    }
    ks_order_intent_t in;
    KS_INIT(&in);
    in.strategy = h->strat >= 0 ? ks_strategy_name(ks_engine_strategy(lg->eng, h->strat)) : "host";
    in.inst = l->inst;
    in.side = open ? l->side : (int8_t)-l->side;
    in.type = KS_ORD_MARKET;
    in.tif = KS_TIF_IOC;
    in.reduce_only = !open && r->spec.kind == KS_KIND_PERP;
    in.qty = qty;
    if (ks_engine_send(lg->eng, h->strat, &in, open ? 0 : KS_SEND_CLOSING, cloid, err,
                       sizeof(err)) != KS_OK) {
        ks_log_warn("legs", "%s leg %s (%s): order not sent: %s", h->id, r->symbol, why, err);
        snprintf(h->fail_reason, sizeof(h->fail_reason), "%.40s: %.110s", r->symbol, err);
        return false;
    }
    ks_strlcpy(l->working, cloid, sizeof(l->working));
    ks_strlcpy(l->orders[l->n_orders++], cloid, sizeof(l->orders[0]));
    int gi = group_index(lg, h);
    ks_strmap_put(&lg->by_cloid, cloid, (void *)(intptr_t)(((gi << 3) | li) + 1));
    return true;
}

static bool any_working(const ks_hedge_t *h)
{
    for (int i = 0; i < h->n_legs; i++)
        if (h->legs[i].working[0])
            return true;
    return false;
}

/* |a - b| < lot of leg l */
static bool within_lot(ks_legs_t *lg, const ks_leg_t *l, ks_dec_t a, ks_dec_t b)
{
    ks_dec_t d;
    ks_dec_sub(a, b, &d);
    ks_dec_t lot = inst_of(lg, l)->spec.lot_size;
    return ks_dec_cmp(ks_dec_abs(d), lot.mant > 0 ? lot : KS_DEC(1, 18)) < 0;
}

/* The quantity leg i holds when balanced to leg m's fill ratio, on i's lot grid. */
static ks_dec_t balanced_qty(ks_legs_t *lg, const ks_hedge_t *h, int i, int m)
{
    const ks_leg_t *li = &h->legs[i], *lm = &h->legs[m];
    ks_dec_t num, q, out;
    if (ks_dec_sign(lm->pos) <= 0)
        return KS_DEC_ZERO;
    if (ks_dec_mul(li->target, lm->pos, &num) != KS_OK ||
        ks_dec_div(num, lm->target, 12, KS_ROUND_FLOOR, &q) != KS_OK)
        return li->pos;
    ks_dec_t lot = inst_of(lg, li)->spec.lot_size;
    if (lot.mant > 0 && ks_dec_quantize(q, lot, KS_ROUND_FLOOR, &out) == KS_OK)
        return out;
    return q;
}

/* Index of the leg with the lowest (lag) or highest (lead) fill ratio pos/target. */
static int extreme_leg(const ks_hedge_t *h, bool lead)
{
    int best = 0;
    for (int i = 1; i < h->n_legs; i++) {
        ks_dec_t a, b;
        /* compare pos_i / target_i with pos_best / target_best by cross-multiplying */
        if (ks_dec_mul(h->legs[i].pos, h->legs[best].target, &a) != KS_OK ||
            ks_dec_mul(h->legs[best].pos, h->legs[i].target, &b) != KS_OK)
            continue;
        int c = ks_dec_cmp(a, b);
        if (lead ? c > 0 : c < 0)
            best = i;
    }
    return best;
}

static bool all_flat(ks_legs_t *lg, const ks_hedge_t *h)
{
    for (int i = 0; i < h->n_legs; i++)
        if (!within_lot(lg, &h->legs[i], h->legs[i].pos, KS_DEC_ZERO))
            return false;
    return true;
}

static bool all_full(ks_legs_t *lg, const ks_hedge_t *h)
{
    for (int i = 0; i < h->n_legs; i++)
        if (!within_lot(lg, &h->legs[i], h->legs[i].pos, h->legs[i].target))
            return false;
    return true;
}

/* Moves every leg to the fill ratio of leg m: trims (closing side) the ones above it and,
 * when grow, re-opens the ones below. Returns the number of orders sent. */
static int balance_to(ks_legs_t *lg, ks_hedge_t *h, int m, bool grow, const char *why)
{
    int sent = 0;
    for (int i = 0; i < h->n_legs; i++) {
        if (i == m)
            continue;
        ks_leg_t *l = &h->legs[i];
        ks_dec_t want = balanced_qty(lg, h, i, m), d;
        if (within_lot(lg, l, want, l->pos))
            continue;
        ks_dec_sub(l->pos, want, &d);
        if (ks_dec_sign(d) > 0)
            sent += send_leg(lg, h, i, false, d, why);
        else if (grow)
            sent += send_leg(lg, h, i, true, ks_dec_neg(d), why);
    }
    return sent;
}

static void step(ks_legs_t *lg, ks_hedge_t *h);

/* True when every leg sits at leg m's fill ratio (within a lot). */
static bool balanced_at(ks_legs_t *lg, const ks_hedge_t *h, int m)
{
    for (int i = 0; i < h->n_legs; i++)
        if (i != m && !within_lot(lg, &h->legs[i], h->legs[i].pos, balanced_qty(lg, h, i, m)))
            return false;
    return true;
}

static void retry_fire(ks_loop_t *loop, void *ud)
{
    ks_hedge_t *h = ud;
    h->timer = 0;
    h->retry_at_ns = 0;
    step(h->owner, h);
}

/* ---- the state machine ---------------------------------------------------------------- */

/* A corrective round could not send everything: try again later, with backoff. */
static void schedule_retry(ks_legs_t *lg, ks_hedge_t *h)
{
    if (h->timer)
        return;
    int64_t backoff = 1000000000LL << (h->attempts < 5 ? h->attempts : 5);
    if (backoff > MAX_BACKOFF_NS)
        backoff = MAX_BACKOFF_NS;
    h->retry_at_ns = ks_loop_now_ns(ks_engine_loop(lg->eng)) + backoff;
    h->timer = ks_loop_timer_start(ks_engine_loop(lg->eng), backoff, 0, retry_fire, h);
}

static void step_opening(ks_legs_t *lg, ks_hedge_t *h)
{
    int64_t now = ks_loop_now_ns(ks_engine_loop(lg->eng));
    if (all_full(lg, h)) {
        transition(lg, h, KS_HEDGE_ACTIVE, "all legs filled");
        return;
    }
    /* top_up: once, before the deadline, trade the missing part of the lagging legs */
    if (h->top_up && !h->topped_up && now < h->open_deadline_ns) {
        int sent = 0;
        h->topped_up = true;
        for (int i = 0; i < h->n_legs; i++) {
            ks_leg_t *l = &h->legs[i];
            ks_dec_t miss;
            ks_dec_sub(l->target, l->pos, &miss);
            if (!within_lot(lg, l, l->pos, l->target) && ks_dec_sign(miss) > 0)
                sent += send_leg(lg, h, i, true, miss, "top up");
        }
        persist(lg, h, false);
        if (sent) {
            h->attempts++;
            return;
        }
    }
    /* trim the leading legs down to the lagging leg's ratio (to zero: unwind) */
    int m = extreme_leg(h, false);
    int sent = balance_to(lg, h, m, false, ks_dec_sign(h->legs[m].pos) > 0 ? "trim" : "unwind");
    persist(lg, h, false);
    if (sent) {
        h->attempts++; /* a corrective round: if the venue refuses it, back off (maybe_done) */
        return;
    }
    if (!balanced_at(lg, h, m)) {
        h->attempts++;
        ks_log_error("legs",
                     "%s: legs unbalanced and the corrective order was not sent (%s); "
                     "retrying",
                     h->id, h->fail_reason);
        schedule_retry(lg, h);
        return;
    }
    if (all_flat(lg, h))
        transition(lg, h, KS_HEDGE_FAILED, "a leg did not fill (%s); filled legs unwound",
                   h->fail_reason[0] ? h->fail_reason : "no fill");
    else
        transition(lg, h, KS_HEDGE_ACTIVE, "partly filled (%s); legs balanced to the smallest fill",
                   h->fail_reason[0] ? h->fail_reason : "partial");
}

static bool at_goal(ks_legs_t *lg, const ks_hedge_t *h)
{
    for (int i = 0; i < h->n_legs; i++)
        if (!within_lot(lg, &h->legs[i], h->legs[i].pos, h->legs[i].goal))
            return false;
    return true;
}

static void step_closing(ks_legs_t *lg, ks_hedge_t *h)
{
    if (at_goal(lg, h)) {
        h->restoring = false;
        h->unwinding = false;
        if (all_flat(lg, h)) {
            transition(lg, h, KS_HEDGE_CLOSED, "all legs closed");
        } else {
            for (int i = 0; i < h->n_legs; i++)
                h->legs[i].target = h->legs[i].pos;
            transition(lg, h, KS_HEDGE_ACTIVE, "reduced");
        }
        return;
    }
    int lead = extreme_leg(h, true);
    bool balanced = balanced_at(lg, h, lead);
    if (h->restoring && balanced) {
        h->restoring = false;
        transition(lg, h, KS_HEDGE_ACTIVE, "close failed on a leg (%s); hedge restored",
                   h->fail_reason[0] ? h->fail_reason : "not filled");
        return;
    }
    if (!h->restoring && balanced) {
        /* Every leg closed partly, or none: close the rest again a few times. */
        if (h->attempts < MAX_QUICK_ATTEMPTS) {
            h->attempts++;
            int sent = 0;
            for (int i = 0; i < h->n_legs; i++) {
                ks_dec_t rest;
                ks_dec_sub(h->legs[i].pos, h->legs[i].goal, &rest);
                if (!within_lot(lg, &h->legs[i], h->legs[i].pos, h->legs[i].goal) &&
                    ks_dec_sign(rest) > 0)
                    sent += send_leg(lg, h, i, false, rest, "close again");
            }
            persist(lg, h, false);
            if (sent)
                return;
        }
        transition(lg, h, KS_HEDGE_ACTIVE, "close did not complete (%s); hedge intact",
                   h->fail_reason[0] ? h->fail_reason : "not filled");
        return;
    }
    if (h->unwinding) {
        /* closing what a late fill left: trim everything down, never re-open */
        int sent = 0;
        for (int i = 0; i < h->n_legs; i++)
            if (!within_lot(lg, &h->legs[i], h->legs[i].pos, KS_DEC_ZERO) &&
                ks_dec_sign(h->legs[i].pos) > 0)
                sent += send_leg(lg, h, i, false, h->legs[i].pos, "unwind");
        persist(lg, h, false);
        if (!sent) {
            h->attempts++;
            schedule_retry(lg, h);
        }
        return;
    }
    /* A leg did not close while another did: re-open to the leading leg's ratio instead
     * of leaving one side naked. */
    h->restoring = true;
    int sent = balance_to(lg, h, lead, true, "restore");
    h->attempts++;
    persist(lg, h, false);
    if (!sent)
        schedule_retry(lg, h);
}

static void step(ks_legs_t *lg, ks_hedge_t *h)
{
    if (any_working(h) || final_state(h->state) || h->timer)
        return;
    switch ((ks_hedge_state_t)h->state) {
    case KS_HEDGE_OPENING:
        step_opening(lg, h);
        break;
    case KS_HEDGE_CLOSING:
        step_closing(lg, h);
        break;
    case KS_HEDGE_ACTIVE: {
        /* Active groups are balanced by construction; a recovered one may not be, and the
         * venue can close a leg by itself (a forced liquidation): trim the others. */
        int m = extreme_leg(h, false);
        if (!balanced_at(lg, h, m)) {
            h->attempts++;
            if (balance_to(lg, h, m, false, "rebalance") == 0)
                schedule_retry(lg, h);
            persist(lg, h, false);
        } else if (all_flat(lg, h)) {
            transition(lg, h, KS_HEDGE_CLOSED, "every leg flat (%s)",
                       h->fail_reason[0] ? h->fail_reason : "closed by the venue");
        } else if (!all_full(lg, h)) {
            for (int i = 0; i < h->n_legs; i++)
                h->legs[i].target = h->legs[i].pos;
            transition(lg, h, KS_HEDGE_ACTIVE, "rebalanced to a smaller size (%s)",
                       h->fail_reason[0] ? h->fail_reason : "a leg shrank");
            h->fail_reason[0] = '\0';
        }
        break;
    }
    case KS_HEDGE_IDLE:
    case KS_HEDGE_CLOSED:
    case KS_HEDGE_FAILED:
        break;
    }
}

static void deadline_fire(ks_loop_t *loop, void *ud)
{
    ks_hedge_t *h = ud;
    ks_legs_t *lg = h->owner;
    char err[KS_REASON_LEN];
    h->deadline_timer = 0;
    if (h->state != KS_HEDGE_OPENING)
        return;
    for (int i = 0; i < h->n_legs; i++)
        if (h->legs[i].working[0]) {
            ks_log_warn("legs", "%s: open timeout; cancelling %s", h->id, h->legs[i].working);
            ks_engine_cancel(lg->eng, -2, h->legs[i].working, err, sizeof(err));
            if (!h->fail_reason[0])
                snprintf(h->fail_reason, sizeof(h->fail_reason),
                         "%s: not filled within the open timeout",
                         inst_of(lg, &h->legs[i])->symbol);
        }
}

/* ---- public ---------------------------------------------------------------------------- */

static ks_hedge_t *add_group(ks_legs_t *lg)
{
    if (lg->n == lg->cap) {
        int nc = lg->cap ? lg->cap * 2 : 64;
        ks_hedge_t **ng = realloc(lg->g, (size_t)nc * sizeof(*ng));
        if (!ng)
            return NULL;
        lg->g = ng;
        lg->cap = nc;
    }
    ks_hedge_t *h = calloc(1, sizeof(*h));
    if (h)
        h->owner = lg;
    return h;
}

static int register_group(ks_legs_t *lg, ks_hedge_t *h)
{
    if (ks_strmap_put(&lg->by_id, h->id, (void *)(intptr_t)(lg->n + 1)) != KS_OK)
        return KS_ENOMEM;
    lg->g[lg->n++] = h;
    return KS_OK;
}

static const char *strat_name(ks_legs_t *lg, int strat)
{
    return strat >= 0 ? ks_strategy_name(ks_engine_strategy(lg->eng, strat)) : "host";
}

int ks_legs_open(ks_legs_t *lg, const ks_hedge_spec_t *spec, ks_hedge_t **out, char *err,
                 size_t err_len)
{
    ks_engine_t *eng = lg->eng;
    ks_market_t *m = ks_engine_market(eng);
    if (spec->n_legs < 2 || spec->n_legs > KS_LEGS_MAX) {
        snprintf(err, err_len, "a hedge needs 2 to %d legs", KS_LEGS_MAX);
        return KS_EINVAL;
    }
    /* Check every leg before sending anything: all go, or none. */
    ks_order_intent_t in[KS_LEGS_MAX];
    for (int i = 0; i < spec->n_legs; i++) {
        const ks_inst_rec_t *r = ks_market_inst(m, spec->legs[i].inst);
        const ks_mkt_t *k = ks_market_state(m, spec->legs[i].inst);
        ks_dec_t mid;
        if (!r || !k) {
            snprintf(err, err_len, "leg %d: unknown instrument", i + 1);
            return KS_EINVAL;
        }
        ks_dec_t touch = spec->legs[i].side == KS_SIDE_BUY ? k->ask_px : k->bid_px;
        if (touch.mant <= 0 || !ks_market_mid(m, spec->legs[i].inst, &mid)) {
            snprintf(err, err_len, "leg %d (%s): no quote yet", i + 1, r->symbol);
            return KS_EREJECT;
        }
        double slip = (ks_dec_to_double(touch) - ks_dec_to_double(mid)) / ks_dec_to_double(mid) *
                      1e4 * (spec->legs[i].side == KS_SIDE_BUY ? 1 : -1);
        if (spec->max_slippage_bps > 0 && slip > spec->max_slippage_bps) {
            snprintf(err, err_len,
                     "leg %d (%s): touch is %.1f bps from mid, above max_slippage_bps %d", i + 1,
                     r->symbol, slip, spec->max_slippage_bps);
            return KS_EREJECT;
        }
        KS_INIT(&in[i]);
        in[i].strategy = strat_name(lg, spec->strat);
        in[i].inst = spec->legs[i].inst;
        in[i].side = spec->legs[i].side;
        in[i].type = KS_ORD_MARKET;
        in[i].tif = KS_TIF_IOC;
        in[i].qty = spec->legs[i].qty;
        if (ks_engine_check(eng, spec->strat, &in[i], err, err_len) != KS_OK) {
            char tmp[KS_REASON_LEN];
            ks_strlcpy(tmp, err, sizeof(tmp));
            snprintf(err, err_len, "leg %d (%s): %s", i + 1, r->symbol, tmp);
            return KS_EREJECT;
        }
    }
    ks_hedge_t *h = add_group(lg);
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    snprintf(h->id, sizeof(h->id), "h%s-%llu", ks_engine_oms(eng)->session,
             (unsigned long long)++lg->seq);
    h->strat = spec->strat;
    h->state = KS_HEDGE_OPENING;
    h->top_up = spec->top_up;
    ks_strlcpy(h->tag, spec->tag ? spec->tag : "", sizeof(h->tag));
    snprintf(h->reason, sizeof(h->reason), "opening");
    h->n_legs = spec->n_legs;
    for (int i = 0; i < spec->n_legs; i++) {
        h->legs[i].inst = in[i].inst;
        h->legs[i].side = in[i].side;
        h->legs[i].target = in[i].qty; /* on the lot grid after the check */
    }
    if (register_group(lg, h) != KS_OK) {
        free(h);
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    /* The group is on disk before its first order can leave. */
    persist(lg, h, true);
    char detail[200];
    snprintf(detail, sizeof(detail), "{\"id\":\"%s\",\"legs\":%d}", h->id, h->n_legs);
    ks_engine_journal(eng, "hedge.open", strat_name(lg, h->strat), detail);
    int64_t timeout = spec->open_timeout_ns > 0 ? spec->open_timeout_ns : 5000000000LL;
    h->open_deadline_ns = ks_loop_now_ns(ks_engine_loop(eng)) + timeout;
    h->deadline_timer = ks_loop_timer_start(ks_engine_loop(eng), timeout, 0, deadline_fire, h);
    /* Concurrently: every leg leaves before any answer is processed (answers are queued
     * events, delivered after this call). */
    for (int i = 0; i < h->n_legs; i++)
        send_leg(lg, h, i, true, h->legs[i].target, "open");
    persist(lg, h, false);
    *out = h;
    step(lg, h); /* a leg that could not even be sent: balance now */
    return KS_OK;
}

int ks_legs_close(ks_legs_t *lg, int strat, const char *id, ks_dec_t fraction, char *err,
                  size_t err_len)
{
    ks_hedge_t *h = ks_legs_find(lg, id);
    if (!h || (strat != -2 && h->strat != strat)) {
        snprintf(err, err_len, "no such hedge %s", id);
        return KS_ENOENT;
    }
    if (h->state != KS_HEDGE_ACTIVE) {
        snprintf(err, err_len, "hedge %s is %s; only an active hedge can be closed", id,
                 ks_hedge_state_name(h->state));
        return KS_ESTATE;
    }
    if (any_working(h) || h->timer) {
        snprintf(err, err_len, "hedge %s is being balanced; try again", id);
        return KS_EAGAIN;
    }
    bool full = ks_dec_sign(fraction) <= 0 || ks_dec_cmp(fraction, KS_DEC(1, 0)) >= 0;
    h->fail_reason[0] = '\0';
    for (int i = 0; i < h->n_legs; i++) {
        ks_leg_t *l = &h->legs[i];
        l->goal = KS_DEC_ZERO;
        if (!full) {
            /* keep pos * (1 - fraction), on the lot grid, rounded toward keeping less */
            ks_dec_t keep, one_minus, lot = inst_of(lg, l)->spec.lot_size;
            ks_dec_sub(KS_DEC(1, 0), fraction, &one_minus);
            if (ks_dec_mul_round(l->pos, one_minus, 12, KS_ROUND_FLOOR, &keep) == KS_OK)
                l->goal = keep;
            if (lot.mant > 0)
                ks_dec_quantize(l->goal, lot, KS_ROUND_FLOOR, &l->goal);
        }
    }
    transition(lg, h, KS_HEDGE_CLOSING, full ? "close requested" : "reduce requested");
    for (int i = 0; i < h->n_legs; i++) {
        ks_dec_t q;
        ks_dec_sub(h->legs[i].pos, h->legs[i].goal, &q);
        if (!within_lot(lg, &h->legs[i], h->legs[i].pos, h->legs[i].goal) && ks_dec_sign(q) > 0)
            send_leg(lg, h, i, false, q, full ? "close" : "reduce");
    }
    persist(lg, h, false);
    step(lg, h);
    return KS_OK;
}

void ks_legs_foreach(ks_legs_t *lg, int strat, bool all, void (*cb)(void *ud, ks_hedge_t *h),
                     void *ud)
{
    for (int i = 0; i < lg->n; i++) {
        ks_hedge_t *h = lg->g[i];
        if ((strat != -2 && h->strat != strat) || (!all && final_state(h->state)))
            continue;
        cb(ud, h);
    }
}

static ks_hedge_t *group_of(ks_legs_t *lg, const char *cloid, int *leg)
{
    void *v;
    if (!ks_strmap_get(&lg->by_cloid, cloid, &v))
        return NULL;
    intptr_t x = (intptr_t)v - 1;
    *leg = (int)(x & 7);
    return lg->g[x >> 3];
}

/* The leg's working order is done when it is final and every fill it reported arrived. */
static void maybe_done(ks_legs_t *lg, ks_hedge_t *h, ks_leg_t *l, ks_order_t *o)
{
    if (strcmp(l->working, o->rec.cloid) != 0 || !ks_order_status_is_final(o->rec.status) ||
        ks_dec_cmp(o->fill_qty, o->rec.filled) < 0)
        return;
    if (o->rec.status != KS_OS_FILLED && !h->fail_reason[0])
        snprintf(h->fail_reason, sizeof(h->fail_reason), "%.40s %s%s%.100s", o->rec.symbol,
                 ks_order_status_name(o->rec.status), o->rec.reason[0] ? ": " : "", o->rec.reason);
    l->working[0] = '\0';
    persist(lg, h, false);
    /* A corrective order (attempts > 0: not the group's first orders of an open or a
     * close) that the venue refused outright: resending at once would spin as fast as
     * the venue answers (a 429 burst, a reduce-only refusal); back off instead. */
    if (o->rec.status != KS_OS_FILLED && ks_dec_sign(o->rec.filled) <= 0 && h->attempts > 0 &&
        !any_working(h) && !final_state(h->state)) {
        schedule_retry(lg, h);
        return;
    }
    step(lg, h);
}

void ks_legs_on_fill(ks_legs_t *lg, ks_order_t *o, const ks_fill_t *f)
{
    int li;
    ks_hedge_t *h = group_of(lg, o->rec.cloid, &li);
    if (!h)
        return;
    ks_leg_t *l = &h->legs[li];
    int side = f->side ? f->side : o->rec.side;
    /* What the account holds: a spot fee taken in the coin leaves the leg that much
     * smaller, and the group balances the other leg to it. */
    ks_dec_t q = ks_oms_fill_base_qty(inst_of(lg, l), f, side);
    if (side == l->side) {
        ks_dec_t n;
        ks_dec_add(l->pos, q, &l->pos);
        ks_dec_add(l->open_qty, f->qty, &l->open_qty);
        if (ks_dec_mul(f->px, f->qty, &n) == KS_OK)
            ks_dec_add(l->open_notional, n, &l->open_notional);
    } else {
        ks_dec_sub(l->pos, q, &l->pos);
    }
    persist(lg, h, false);
    if (final_state(h->state) && !all_flat(lg, h)) {
        /* A fill that arrived after the group finished left a position: close what is
         * left (unwinding, never restoring) rather than leave it naked. */
        for (int i = 0; i < h->n_legs; i++)
            h->legs[i].goal = KS_DEC_ZERO;
        h->unwinding = true;
        transition(lg, h, KS_HEDGE_CLOSING, "a late fill on %s left a position; closing it",
                   o->rec.symbol);
        step(lg, h);
        return;
    }
    maybe_done(lg, h, l, o);
}

void ks_legs_on_order(ks_legs_t *lg, ks_order_t *o)
{
    int li;
    ks_hedge_t *h = group_of(lg, o->rec.cloid, &li);
    if (h)
        maybe_done(lg, h, &h->legs[li], o);
}

void ks_legs_on_forced(ks_legs_t *lg, int strat, int32_t inst, ks_dec_t qty, const char *why)
{
    /* qty is signed in the fill's direction; it shrinks the legs opened the other way, the
     * groups of this strategy in turn until it is used up. */
    ks_dec_t left = ks_dec_abs(qty);
    int dir = ks_dec_sign(qty);
    for (int i = 0; i < lg->n && ks_dec_sign(left) > 0; i++) {
        ks_hedge_t *h = lg->g[i];
        if (h->strat != strat || final_state(h->state))
            continue;
        for (int k = 0; k < h->n_legs && ks_dec_sign(left) > 0; k++) {
            ks_leg_t *l = &h->legs[k];
            if (l->inst != inst || l->side == dir || ks_dec_sign(l->pos) <= 0)
                continue;
            ks_dec_t cut = ks_dec_min(l->pos, left);
            ks_dec_sub(l->pos, cut, &l->pos);
            ks_dec_sub(left, cut, &left);
            snprintf(h->fail_reason, sizeof(h->fail_reason), "%.120s", why);
            persist(lg, h, false);
            ks_log_warn("legs", "%s: leg %s shrank by the venue (%s); rebalancing", h->id,
                        inst_of(lg, l)->symbol, why);
            step(lg, h);
        }
    }
}

void ks_legs_counts(ks_legs_t *lg, int counts[6])
{
    memset(counts, 0, 6 * sizeof(int));
    for (int i = 0; i < lg->n; i++)
        counts[lg->g[i]->state]++;
}

/* ---- recovery ---------------------------------------------------------------------------- */

static ks_dec_t json_dec(const cJSON *o, const char *k)
{
    ks_dec_t d = KS_DEC_ZERO;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v))
        ks_dec_parse(v->valuestring, (size_t)-1, &d);
    return d;
}

typedef struct load_ctx {
    ks_legs_t *lg;
    int loaded;
} legs_load_ctx_t;

static void load_group(void *ud, const char *id, const char *strategy, int state,
                       const char *reason, const char *data)
{
    legs_load_ctx_t *c = ud;
    ks_legs_t *lg = c->lg;
    ks_engine_t *eng = lg->eng;
    if (final_state(state) || ks_legs_find(lg, id))
        return;
    cJSON *root = cJSON_Parse(data);
    const cJSON *legs = cJSON_GetObjectItemCaseSensitive(root, "legs");
    ks_hedge_t *h = cJSON_IsArray(legs) ? add_group(lg) : NULL;
    if (!h) {
        ks_log_error("legs", "leg group %s: stored record unreadable; left alone", id);
        cJSON_Delete(root);
        return;
    }
    ks_strlcpy(h->id, id, sizeof(h->id));
    h->strat = -1;
    for (int i = 0; i < ks_engine_n_strategies(eng); i++)
        if (strcmp(ks_strategy_name(ks_engine_strategy(eng, i)), strategy) == 0)
            h->strat = i;
    h->state = state;
    ks_strlcpy(h->reason, reason, sizeof(h->reason));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "tag");
    ks_strlcpy(h->tag, cJSON_IsString(v) ? v->valuestring : "", sizeof(h->tag));
    h->top_up = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "top_up"));
    h->topped_up = true; /* no second chances after a restart: trim */
    h->restoring = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "restoring"));
    const cJSON *l;
    bool ok = true;
    cJSON_ArrayForEach(l, legs)
    {
        if (h->n_legs == KS_LEGS_MAX)
            break;
        ks_leg_t *leg = &h->legs[h->n_legs];
        const cJSON *venue = cJSON_GetObjectItemCaseSensitive(l, "venue");
        const cJSON *symbol = cJSON_GetObjectItemCaseSensitive(l, "symbol");
        const cJSON *side = cJSON_GetObjectItemCaseSensitive(l, "side");
        int vi = cJSON_IsString(venue) ? ks_engine_venue_by_name(eng, venue->valuestring) : -1;
        leg->inst = vi >= 0 && cJSON_IsString(symbol)
                        ? ks_engine_find_inst(eng, (uint32_t)vi, symbol->valuestring)
                        : -1;
        if (leg->inst < 0) {
            ok = false;
            break;
        }
        leg->side = cJSON_IsString(side) && strcmp(side->valuestring, "sell") == 0 ? KS_SIDE_SELL
                                                                                   : KS_SIDE_BUY;
        leg->target = json_dec(l, "target");
        leg->pos = json_dec(l, "pos");
        leg->goal = json_dec(l, "goal");
        leg->open_qty = json_dec(l, "open_qty");
        leg->open_notional = json_dec(l, "open_notional");
        v = cJSON_GetObjectItemCaseSensitive(l, "working");
        ks_strlcpy(leg->working, cJSON_IsString(v) ? v->valuestring : "", sizeof(leg->working));
        const cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(l, "orders"))
        {
            if (leg->n_orders < KS_LEG_MAX_ORDERS && cJSON_IsString(o))
                ks_strlcpy(leg->orders[leg->n_orders++], o->valuestring, sizeof(leg->orders[0]));
        }
        h->n_legs++;
    }
    cJSON_Delete(root);
    if (!ok || h->n_legs < 2 || register_group(lg, h) != KS_OK) {
        ks_log_error("legs", "leg group %s: instruments not available now; left alone", id);
        free(h);
        return;
    }
    int gi = lg->n - 1;
    for (int i = 0; i < h->n_legs; i++)
        for (int k = 0; k < h->legs[i].n_orders; k++)
            ks_strmap_put(&lg->by_cloid, h->legs[i].orders[k],
                          (void *)(intptr_t)(((gi << 3) | i) + 1));
    c->loaded++;
}

int ks_legs_load(ks_legs_t *lg)
{
    legs_load_ctx_t c = {lg, 0};
    ks_store_t *st = ks_engine_store(lg->eng);
    if (st)
        ks_store_legs_foreach(st, load_group, &c);
    return c.loaded;
}

void ks_legs_resume(ks_legs_t *lg)
{
    ks_oms_t *oms = ks_engine_oms(lg->eng);
    for (int i = 0; i < lg->n; i++) {
        ks_hedge_t *h = lg->g[i];
        if (final_state(h->state))
            continue;
        for (int k = 0; k < h->n_legs; k++) {
            ks_leg_t *l = &h->legs[k];
            if (!l->working[0])
                continue;
            ks_order_t *o = ks_oms_find(oms, l->working);
            /* Known and finished (or never known to the OMS): the leg is no longer
             * waiting. Still open: its updates will arrive. */
            if (!o || ks_order_status_is_final(o->rec.status))
                l->working[0] = '\0';
        }
        persist(lg, h, false);
        ks_log_info("legs", "recovered %s (%s): %s", h->id, ks_hedge_state_name(h->state),
                    h->reason);
        step(lg, h);
    }
}
