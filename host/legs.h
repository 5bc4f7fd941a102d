/* Leg groups (ctx.hedge): several legs opened concurrently and kept balanced, so a
 * hedge never leaves one side naked (DESIGN §7).
 *
 * IDLE -> OPENING: every leg's market order is sent at once.
 * OPENING -> ACTIVE: all legs filled (or balanced at a common fill ratio > 0).
 * OPENING -> FAILED: a leg filled nothing; what the others filled is unwound with
 *   reduce-only market orders before FAILED is declared.
 * ACTIVE -> CLOSING: every leg closed at market (reduce-only).
 * CLOSING -> CLOSED: all legs flat. A leg that failed to close makes the host restore
 *   the hedge (re-open the legs that did close, to the same ratio) and go back to
 *   ACTIVE with the reason, rather than leave one side open.
 * Partial fills are balanced by trimming the leading legs (default) or topping up the
 * lagging ones once before trimming ("top_up"). Orders whose fate is UNKNOWN are waited
 * for (the engine's watchdog asks the venue); nothing is ever resent blindly. Every
 * transition is persisted and journaled with its reason. */
#ifndef KS_LEGS_H
#define KS_LEGS_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "oms.h"

#define KS_LEGS_MAX       4
#define KS_HEDGE_ID_LEN   40
#define KS_LEG_MAX_ORDERS 32

typedef enum ks_hedge_state {
    KS_HEDGE_IDLE = 0,
    KS_HEDGE_OPENING = 1,
    KS_HEDGE_ACTIVE = 2,
    KS_HEDGE_CLOSING = 3,
    KS_HEDGE_CLOSED = 4,
    KS_HEDGE_FAILED = 5,
} ks_hedge_state_t;

typedef struct ks_leg {
    int32_t inst;
    int8_t side;                      /* the opening side */
    ks_dec_t target;                  /* quantity asked for, on the lot grid */
    ks_dec_t pos;                     /* net quantity this leg holds, in the opening direction */
    ks_dec_t goal;                    /* CLOSING: the quantity to keep (zero for a full close) */
    ks_dec_t open_qty, open_notional; /* opening fills, for the average price */
    char working[KS_CLOID_LEN];       /* the leg's order in flight, "" when none */
    char orders[KS_LEG_MAX_ORDERS][KS_CLOID_LEN]; /* every order sent for this leg */
    int n_orders;
} ks_leg_t;

typedef struct ks_legs ks_legs_t;

typedef struct ks_hedge {
    ks_legs_t *owner;
    char id[KS_HEDGE_ID_LEN];
    int strat;
    int state;
    char reason[KS_REASON_LEN];
    char tag[KS_NAME_LEN];
    ks_leg_t legs[KS_LEGS_MAX];
    int n_legs;
    int64_t open_deadline_ns; /* monotonic */
    uint64_t timer;           /* retry backoff */
    uint64_t deadline_timer;  /* open timeout */
    bool top_up;              /* balance by topping up the lagging legs first */
    bool topped_up;
    int attempts; /* corrective rounds (trim, unwind, restore, close retries) */
    int64_t retry_at_ns;
    bool restoring; /* CLOSING: re-opening legs that closed while another did not */
    bool unwinding; /* CLOSING after a late fill: trim to flat, never re-open */
    char fail_reason[KS_REASON_LEN]; /* why a leg did not fill */
} ks_hedge_t;

typedef struct ks_engine ks_engine_t;

typedef struct ks_hedge_spec {
    int strat;
    int n_legs;
    struct {
        int32_t inst;
        int8_t side;
        ks_dec_t qty;
    } legs[KS_LEGS_MAX];
    int64_t open_timeout_ns;
    int32_t max_slippage_bps;
    bool top_up;
    const char *tag;
} ks_hedge_spec_t;

ks_legs_t *ks_legs_new(ks_engine_t *eng);
void ks_legs_free(ks_legs_t *lg);
ks_engine_t *ks_legs_engine(ks_legs_t *lg);

/* Opens a leg group; *out the group (owned by the module). Refusals (slippage, risk,
 * minimum size) send nothing and return < 0 with a reason in err. */
int ks_legs_open(ks_legs_t *lg, const ks_hedge_spec_t *spec, ks_hedge_t **out, char *err,
                 size_t err_len);
/* Closes (fraction 1) or reduces (0 < fraction < 1: every leg by that share of its
 * position, then ACTIVE again with the smaller size) an active group. */
int ks_legs_close(ks_legs_t *lg, int strat, const char *id, ks_dec_t fraction, char *err,
                  size_t err_len);
ks_hedge_t *ks_legs_find(ks_legs_t *lg, const char *id);
/* Calls cb for each group of strat (-2: all), including finished ones when all. */
void ks_legs_foreach(ks_legs_t *lg, int strat, bool all, void (*cb)(void *ud, ks_hedge_t *h),
                     void *ud);

/* Routed by the engine after the OMS applied an order update or a fill. */
void ks_legs_on_order(ks_legs_t *lg, ks_order_t *o);
void ks_legs_on_fill(ks_legs_t *lg, ks_order_t *o, const ks_fill_t *f);

/* The venue changed a strategy's position by itself (a forced liquidation): the legs it
 * hit shrink and their groups are rebalanced (the other legs trimmed to match). */
void ks_legs_on_forced(ks_legs_t *lg, int strat, int32_t inst, ks_dec_t qty, const char *why);

/* Recovery: reloads unfinished groups from the store (after the OMS reloaded its
 * orders); ks_legs_resume() then re-evaluates each once the venues are reconciled (a
 * half-open or half-closed group is balanced right away). */
int ks_legs_load(ks_legs_t *lg);
void ks_legs_resume(ks_legs_t *lg);

/* Counts of groups by state, for tests and status. */
void ks_legs_counts(ks_legs_t *lg, int counts[6]);

const char *ks_hedge_state_name(int state);

#endif
