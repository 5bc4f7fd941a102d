/* bybit_book: sorted-array order book (see header). */
#include "bybit_book.h"

#include <stdlib.h>

void ks_bybit_book_free(ks_bybit_book_t *b)
{
    free(b->bids);
    free(b->asks);
    memset(b, 0, sizeof(*b));
}

void ks_bybit_book_clear(ks_bybit_book_t *b)
{
    b->n_bids = b->n_asks = 0;
}

void ks_bybit_book_reset(ks_bybit_book_t *b)
{
    ks_bybit_book_clear(b);
    b->valid = false;
    b->u = 0;
    b->seq = 0;
}

ks_bybit_seq_t ks_bybit_book_check_delta(const ks_bybit_book_t *b, uint64_t u)
{
    if (!b->valid)
        return KS_BYBIT_SEQ_NOBOOK;
    if (u <= b->u)
        return KS_BYBIT_SEQ_STALE;
    if (u != b->u + 1)
        return KS_BYBIT_SEQ_GAP;
    return KS_BYBIT_SEQ_OK;
}

/* Position of px in a side sorted best first: the index of an equal level (*found) or
 * where it would be inserted. bid sides are descending. */
static uint32_t find(const ks_level_t *lv, uint32_t n, bool bid, ks_dec_t px, bool *found)
{
    uint32_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = ks_bybit_book_cmp(lv[mid].px, px);
        if (c == 0) {
            *found = true;
            return mid;
        }
        /* bid: descending, so a level with a higher price comes first */
        if (bid ? c > 0 : c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int ks_bybit_book_set(ks_bybit_book_t *b, bool bid, ks_dec_t px, ks_dec_t qty)
{
    ks_level_t **lvp = bid ? &b->bids : &b->asks;
    uint32_t *np = bid ? &b->n_bids : &b->n_asks;
    uint32_t *capp = bid ? &b->cap_bids : &b->cap_asks;
    bool found;
    uint32_t i = find(*lvp, *np, bid, px, &found);

    if (qty.mant == 0) {
        if (found) {
            memmove(*lvp + i, *lvp + i + 1, (size_t)(*np - i - 1) * sizeof(ks_level_t));
            (*np)--;
        }
        return KS_OK;
    }
    if (found) {
        (*lvp)[i].qty = qty;
        return KS_OK;
    }
    if (*np == *capp) {
        uint32_t nc = *capp ? *capp * 2 : 64;
        ks_level_t *nl = realloc(*lvp, (size_t)nc * sizeof(*nl));
        if (!nl)
            return KS_ENOMEM;
        *lvp = nl;
        *capp = nc;
    }
    memmove(*lvp + i + 1, *lvp + i, (size_t)(*np - i) * sizeof(ks_level_t));
    (*lvp)[i].px = px;
    (*lvp)[i].qty = qty;
    (*np)++;
    return KS_OK;
}

bool ks_bybit_book_crossed(const ks_bybit_book_t *b)
{
    return b->n_bids && b->n_asks && ks_bybit_book_cmp(b->bids[0].px, b->asks[0].px) >= 0;
}
