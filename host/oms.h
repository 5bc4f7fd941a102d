/* Order management: client order ids, the write-ahead order record, the order state
 * machine, fills into per-strategy positions and PnL, and funding attribution.
 *
 * Every order belongs to one strategy (or to the host itself, strat -1, for kill-switch
 * and disable flattening). Positions and PnL are kept per strategy and instrument with
 * exact decimals, average-cost method; fees are converted to the quote currency. */
#ifndef KS_OMS_H
#define KS_OMS_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "market.h"
#include "store.h"
#include "strmap.h"

#define KS_OMS_MAX_FILLS_TRACKED 64 /* per order, for duplicate-fill detection */

typedef struct ks_order {
    ks_order_rec_t rec;
    int32_t inst;
    uint32_t venue;
    int strat;         /* strategy index, -1: the host */
    bool paper;        /* filled by the paper matcher, never sent to the venue */
    int64_t sent_ns;   /* monotonic time the command left */
    ks_dec_t fill_qty; /* sum of fills received (may lead rec.filled) */
    uint64_t fill_hash[KS_OMS_MAX_FILLS_TRACKED];
    uint32_t n_fills;
    uint32_t open_slot; /* index in ks_oms_t.open while not final */
} ks_order_t;

typedef struct ks_pos {
    ks_dec_t qty;       /* signed */
    ks_dec_t avg_entry; /* average entry price of the open quantity */
    ks_dec_t realized;  /* realized PnL, quote currency, fees excluded */
    ks_dec_t fees;      /* quote currency; negative = rebates */
    ks_dec_t funding;   /* received (+) or paid (-) */
    uint32_t fills;
    bool touched; /* ever traded or funded */
} ks_pos_t;

typedef struct ks_strat_acct {
    char name[KS_NAME_LEN];
    ks_dec_t capital;
    ks_pos_t *pos; /* by instrument id */
    int32_t n_pos;
    uint64_t orders, fills, rejects;
    uint32_t open_orders;
    bool paper; /* paper trading: its orders and positions never exist at the venue */
} ks_strat_acct_t;

typedef struct ks_oms {
    ks_store_t *store;   /* borrowed */
    ks_market_t *market; /* borrowed */
    ks_strmap_t orders;  /* cloid -> ks_order_t* */
    ks_strat_acct_t *accts;
    int n_accts;
    ks_strat_acct_t host_acct; /* orders the host places itself */
    char session[16];          /* base36 of the start time in ms */
    uint64_t seq;
    /* The orders not yet final, so that scans for open orders cost what is open, not
     * every order of the session. */
    ks_order_t **open;
    uint32_t n_open, cap_open;
    /* Finished orders in the order they finished, with when (wall clock), so that
     * ks_oms_retire() can drop the old ones from memory (they stay in the store). */
    struct ks_oms_done {
        ks_order_t *o;
        int64_t at;
    } * done;
    uint32_t done_head, done_n, cap_done;
    uint64_t retired, revived;
} ks_oms_t;

/* session_ms makes client ids unique across restarts (the start wall time in ms). */
int ks_oms_init(ks_oms_t *oms, ks_store_t *store, ks_market_t *market, int64_t session_ms);
void ks_oms_free(ks_oms_t *oms);

/* Registers a strategy account; returns its index (== strategy index) or < 0. */
int ks_oms_add_account(ks_oms_t *oms, const char *name, ks_dec_t capital);
ks_strat_acct_t *ks_oms_account(ks_oms_t *oms, int strat);

/* The allowed transitions of the order state machine (from -> to). Final states accept
 * nothing; UNKNOWN resolves to any venue-reported state. */
bool ks_oms_transition_ok(int from, int to);

/* Creates an order in state NEW for an intent already rounded to tick and lot, and
 * writes it ahead to the store (committed). Returns KS_OK and *out (owned by the oms). */
int ks_oms_create(ks_oms_t *oms, int strat, uint32_t venue, const char *venue_name, int32_t inst,
                  const ks_order_intent_t *in, int64_t wall_ns, ks_order_t **out);
/* The command left (status SENT), or could not be sent (status REJECTED, reason). */
void ks_oms_sent(ks_oms_t *oms, ks_order_t *o, int64_t now_ns, int64_t wall_ns);
void ks_oms_send_failed(ks_oms_t *oms, ks_order_t *o, int reject, const char *reason,
                        int64_t wall_ns);
/* No acknowledgement in time: the order becomes UNKNOWN until the venue answers. */
void ks_oms_mark_unknown(ks_oms_t *oms, ks_order_t *o, const char *reason, int64_t wall_ns);

ks_order_t *ks_oms_find(const ks_oms_t *oms, const char *cloid);

/* Applies a venue order update idempotently: duplicates and stale (out-of-order)
 * updates change nothing. Returns the order (NULL if unknown cloid); *changed says
 * whether anything changed. */
ks_order_t *ks_oms_on_order(ks_oms_t *oms, const ks_order_update_t *u, int64_t wall_ns,
                            bool *changed);
/* Applies a fill to its order and the owner's position. *dup: an already-seen trade id
 * (nothing changed). NULL when the cloid is unknown. */
ks_order_t *ks_oms_on_fill(ks_oms_t *oms, const ks_fill_t *f, const char *venue_name,
                           int64_t wall_ns, bool *dup);
/* A fill the venue initiated (no client id: a forced liquidation, auto-deleveraging):
 * split across the accounts whose positions it reduces, in proportion to them (the host
 * account takes what no one holds). Each share is stored as its own fill (trade id
 * "<venue trade id>/<n>") and booked to that account. Calls cb once per share with the
 * account, instrument and signed quantity (in the fill's direction). Returns the number
 * of shares, 0 when a duplicate. */
int ks_oms_on_forced_fill(ks_oms_t *oms, const ks_fill_t *f, const char *venue_name,
                          int64_t wall_ns, void (*cb)(void *ud, int strat, ks_dec_t qty), void *ud);

/* Splits a venue funding payment among the strategies holding the instrument, in
 * proportion to their signed positions. */
void ks_oms_on_funding(ks_oms_t *oms, const ks_funding_t *f, const char *venue_name,
                       int64_t wall_ns);

/* Finds an order in memory or, when it was retired, loads it back from the store (a late
 * fill or update for a long-finished order). strat_of and inst_of as for ks_oms_load.
 * NULL when the store does not know the client id either. */
ks_order_t *ks_oms_revive(ks_oms_t *oms, const char *cloid,
                          int (*strat_of)(void *ud, const char *name),
                          int32_t (*inst_of)(void *ud, const char *venue, const char *symbol,
                                             uint32_t *venue_id),
                          void *ud, int64_t wall_ns);
/* Frees the orders that finished before `before_wall_ns` with all their fills booked;
 * only with a store (where they remain). Pointers to them become invalid: callers keep
 * none past a final state. Returns how many were retired. */
uint32_t ks_oms_retire(ks_oms_t *oms, int64_t before_wall_ns);

/* The quantity of base asset a fill moves in or out of the account: the fill's quantity,
 * except on spot when the fee is taken in the base asset (Bybit spot buys): a buy then
 * brings qty - fee, a sell takes qty + fee. Positions and leg groups count this. */
ks_dec_t ks_oms_fill_base_qty(const ks_inst_rec_t *r, const ks_fill_t *f, int side);

/* Recovery: loads every open order and every position from the store. strat_of maps a
 * strategy name to its account index (-1: the host account, for names no longer in the
 * config). Returns the number of open orders loaded. */
int ks_oms_load(ks_oms_t *oms, int (*strat_of)(void *ud, const char *name),
                int32_t (*inst_of)(void *ud, const char *venue, const char *symbol,
                                   uint32_t *venue_id),
                void *ud);
/* Reconciliation: the venue reports more filled than the fills we hold for a finished
 * order (the host died between the fill and its record): books the difference as one
 * fill at the order's average price with a synthetic trade id. Returns true if it did. */
bool ks_oms_book_missing_fill(ks_oms_t *oms, ks_order_t *o, const char *venue_name, int64_t wall_ns,
                              ks_fill_t *out);
/* Sets a position directly (reconciliation adjustments), journaling is the caller's. */
void ks_oms_adjust_position(ks_oms_t *oms, int strat, int32_t inst, ks_dec_t qty,
                            const char *venue_name, int64_t wall_ns);

/* Position of a strategy (strat -1: the host account) in inst; never NULL (zero). */
const ks_pos_t *ks_oms_position(ks_oms_t *oms, int strat, int32_t inst);
/* Sum over every account. */
ks_dec_t ks_oms_total_position(ks_oms_t *oms, int32_t inst);
/* Sum over the accounts whose positions exist at the venue (not paper). */
ks_dec_t ks_oms_venue_position(ks_oms_t *oms, int32_t inst);
/* Funding a paper account earns or pays at a settlement the venue did not book for it:
 * amount = -qty * mark * rate (positive rate: longs pay), rounded toward -inf at 8
 * decimals. */
void ks_oms_paper_funding(ks_oms_t *oms, int strat, int32_t inst, ks_dec_t rate, ks_dec_t mark,
                          int64_t ts_ns, const char *venue_name, int64_t wall_ns);
/* Unrealized PnL of a position at the current mark (zero without a price). */
ks_dec_t ks_oms_unrealized(ks_oms_t *oms, const ks_pos_t *p, int32_t inst);

typedef struct ks_acct_totals {
    uint64_t orders, fills, rejects;
    ks_dec_t fees, funding, realized, unrealized, gross_notional;
    int open_positions;
    uint32_t open_orders;
} ks_acct_totals_t;
void ks_oms_totals(ks_oms_t *oms, int strat, ks_acct_totals_t *out);

/* Remaining (unfilled) signed quantity of a strategy's live orders in inst. */
ks_dec_t ks_oms_open_qty(ks_oms_t *oms, int strat, int32_t inst);
/* Calls cb for every non-final order of strat (-2: of everyone). */
void ks_oms_foreach_open(ks_oms_t *oms, int strat, void (*cb)(void *ud, ks_order_t *o), void *ud);

#endif
