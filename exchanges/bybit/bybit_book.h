/* bybit_book: one local order book maintained from Bybit's snapshot + delta stream.
 *
 * Bids are kept best (highest) first, asks best (lowest) first, as sorted arrays: a
 * level is found by binary search and inserted or removed with memmove, which beats a
 * tree at Bybit's depths (1, 50, 200, 500, 1000). The arrays grow on demand and are
 * reused across snapshots, so steady-state updates allocate nothing.
 *
 * Sequence rules (venues/bybit.md §5.2): a snapshot (or any message with u == 1)
 * replaces the book; a delta must carry u == last u + 1. ks_bybit_book_check_delta()
 * classifies an incoming update id; the caller decides what to do with a gap. */
#ifndef KS_BYBIT_BOOK_H
#define KS_BYBIT_BOOK_H

#include <kestrel/kestrel.h>

typedef struct ks_bybit_book {
    ks_level_t *bids, *asks; /* owned */
    uint32_t n_bids, n_asks;
    uint32_t cap_bids, cap_asks;
    uint64_t u;   /* update id of the last message applied */
    uint64_t seq; /* Bybit's cross sequence of that message */
    bool valid;   /* a snapshot was applied and no gap was seen since */
} ks_bybit_book_t;

typedef enum ks_bybit_seq {
    KS_BYBIT_SEQ_OK = 0,     /* u == last + 1: apply */
    KS_BYBIT_SEQ_STALE = 1,  /* u <= last: an old or repeated message, drop it */
    KS_BYBIT_SEQ_GAP = 2,    /* u > last + 1: updates were lost */
    KS_BYBIT_SEQ_NOBOOK = 3, /* no valid book: wait for a snapshot */
} ks_bybit_seq_t;

void ks_bybit_book_free(ks_bybit_book_t *b);
/* Empties the book and marks it invalid (waiting for a snapshot). */
void ks_bybit_book_reset(ks_bybit_book_t *b);
/* Starts a snapshot: empties both sides (keeps the memory). */
void ks_bybit_book_clear(ks_bybit_book_t *b);

ks_bybit_seq_t ks_bybit_book_check_delta(const ks_bybit_book_t *b, uint64_t u);

/* Sets one level (qty zero removes it). bid: true for the bid side. KS_ENOMEM. */
int ks_bybit_book_set(ks_bybit_book_t *b, bool bid, ks_dec_t px, ks_dec_t qty);

/* True when both sides exist and best bid >= best ask. */
bool ks_bybit_book_crossed(const ks_bybit_book_t *b);

/* Exact comparison with a fast path for equal scales (Bybit pads prices per symbol). */
static inline int ks_bybit_book_cmp(ks_dec_t a, ks_dec_t b)
{
    if (a.scale == b.scale)
        return a.mant < b.mant ? -1 : a.mant > b.mant;
    return ks_dec_cmp(a, b);
}

#endif
