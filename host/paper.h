/* Paper trading: orders of strategies in mode "paper" never reach a venue; this matcher
 * fills them against the venue's live quotes instead and reports through the ordinary
 * events, so positions, PnL, on_order and on_fill work as in live mode.
 *
 * Model: a market or marketable order fills completely at the touch (the ask for a buy,
 * the bid for a sell; size at the touch is not consumed) with the instrument's taker fee;
 * a limit order that does not cross rests and fills completely at its own price, with the
 * maker fee, when the opposite touch reaches it. IOC/FOK that do not cross expire;
 * post-only that would cross is rejected; reduce-only is capped to the strategy's
 * position. Deterministic: no randomness, only the quotes. */
#ifndef KS_PAPER_H
#define KS_PAPER_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "market.h"
#include "strmap.h"

typedef struct ks_paper ks_paper_t;

/* How the matcher reports: the engine queues the event as if the venue had sent it. */
typedef void (*ks_paper_emit_fn)(void *ud, uint32_t venue, const ks_event_t *ev);

ks_paper_t *ks_paper_new(ks_market_t *market, ks_paper_emit_fn emit, void *ud);
void ks_paper_free(ks_paper_t *p);

/* Accepts an order; position is the owner's signed position in the instrument (for
 * reduce-only). Events follow through emit. */
int ks_paper_place(ks_paper_t *p, uint32_t venue, const ks_order_cmd_t *cmd, ks_dec_t position,
                   int64_t wall_ns);
/* Cancels a resting paper order; KS_ENOENT when it is not resting. */
int ks_paper_cancel(ks_paper_t *p, const char *cloid, int64_t wall_ns);
/* New quotes for an instrument: resting orders that are now reached fill. */
void ks_paper_on_bbo(ks_paper_t *p, int32_t inst, int64_t wall_ns);
/* Resting paper orders. */
int ks_paper_resting(const ks_paper_t *p);

#endif
