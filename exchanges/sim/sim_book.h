/* sim_book: a full-depth price-level book rebuilt from recorded snapshots, diffs and
 * BBO updates, for the replay. Bids best (highest) first, asks best (lowest) first. */
#ifndef KS_SIM_BOOK_H
#define KS_SIM_BOOK_H

#include <kestrel/kestrel.h>

typedef struct ks_sim_book {
    ks_level_t *lv[2]; /* [0] bids, [1] asks */
    uint32_t n[2], cap[2];
} ks_sim_book_t;

void ks_sim_book_free(ks_sim_book_t *b);
/* Replaces the book (levels best first or in any order; zero quantities ignored). */
int ks_sim_book_snapshot(ks_sim_book_t *b, const ks_level_t *bids, uint32_t nb,
                         const ks_level_t *asks, uint32_t na);
/* Sets one level's quantity (zero removes it). side: 0 bids, 1 asks. */
int ks_sim_book_set(ks_sim_book_t *b, int side, ks_dec_t px, ks_dec_t qty);
/* A top-of-book update: the level at px gets qty, better levels on that side are gone,
 * and crossed levels on the other side too. A zero px or qty leaves that side alone. */
int ks_sim_book_bbo(ks_sim_book_t *b, ks_dec_t bid_px, ks_dec_t bid_qty, ks_dec_t ask_px,
                    ks_dec_t ask_qty);

#endif
