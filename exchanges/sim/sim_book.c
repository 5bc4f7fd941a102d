/* sim_book: sorted level arrays with binary search; a diff touches O(log n) to find a
 * level and one memmove to insert or remove it. */
#include "sim_book.h"

#include <stdlib.h>
#include <string.h>

void ks_sim_book_free(ks_sim_book_t *b)
{
    free(b->lv[0]);
    free(b->lv[1]);
    memset(b, 0, sizeof(*b));
}

/* Does price a come before b on this side (bids descending, asks ascending)? */
static int order(int side, ks_dec_t a, ks_dec_t b)
{
    int k = ks_dec_cmp(a, b);
    return side == 0 ? -k : k;
}

/* First index whose price does not come before px. */
static uint32_t lower(const ks_sim_book_t *b, int side, ks_dec_t px)
{
    uint32_t lo = 0, hi = b->n[side];
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (order(side, b->lv[side][mid].px, px) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int reserve(ks_sim_book_t *b, int side, uint32_t need)
{
    if (need <= b->cap[side])
        return KS_OK;
    uint32_t cap = b->cap[side] ? b->cap[side] : 64;
    while (cap < need)
        cap *= 2;
    ks_level_t *lv = realloc(b->lv[side], cap * sizeof(*lv));
    if (!lv)
        return KS_ENOMEM;
    b->lv[side] = lv;
    b->cap[side] = cap;
    return KS_OK;
}

int ks_sim_book_set(ks_sim_book_t *b, int side, ks_dec_t px, ks_dec_t qty)
{
    if (px.mant <= 0)
        return KS_EINVAL;
    uint32_t i = lower(b, side, px);
    bool found = i < b->n[side] && ks_dec_cmp(b->lv[side][i].px, px) == 0;
    ks_level_t *lv;
    if (qty.mant <= 0) {
        if (found) {
            lv = b->lv[side];
            memmove(lv + i, lv + i + 1, (b->n[side] - i - 1) * sizeof(*lv));
            b->n[side]--;
        }
        return KS_OK;
    }
    if (found) {
        b->lv[side][i].qty = qty;
        return KS_OK;
    }
    if (reserve(b, side, b->n[side] + 1) != KS_OK)
        return KS_ENOMEM;
    lv = b->lv[side];
    memmove(lv + i + 1, lv + i, (b->n[side] - i) * sizeof(*lv));
    lv[i].px = px;
    lv[i].qty = qty;
    b->n[side]++;
    return KS_OK;
}

int ks_sim_book_snapshot(ks_sim_book_t *b, const ks_level_t *bids, uint32_t nb,
                         const ks_level_t *asks, uint32_t na)
{
    int rc = KS_OK;
    b->n[0] = b->n[1] = 0;
    for (uint32_t i = 0; i < nb && rc == KS_OK; i++)
        rc = ks_sim_book_set(b, 0, bids[i].px, bids[i].qty);
    for (uint32_t i = 0; i < na && rc == KS_OK; i++)
        rc = ks_sim_book_set(b, 1, asks[i].px, asks[i].qty);
    return rc;
}

/* Drops levels of `side` from the front while they come before or at px (inclusive
 * when `incl`). */
static void drop_front(ks_sim_book_t *b, int side, ks_dec_t px, bool incl)
{
    uint32_t k = 0;
    while (k < b->n[side]) {
        int o = order(side, b->lv[side][k].px, px);
        if (o < 0 || (incl && o == 0))
            k++;
        else
            break;
    }
    if (k) {
        memmove(b->lv[side], b->lv[side] + k, (b->n[side] - k) * sizeof(ks_level_t));
        b->n[side] -= k;
    }
}

int ks_sim_book_bbo(ks_sim_book_t *b, ks_dec_t bid_px, ks_dec_t bid_qty, ks_dec_t ask_px,
                    ks_dec_t ask_qty)
{
    int rc = KS_OK;
    if (bid_px.mant > 0 && bid_qty.mant > 0) {
        drop_front(b, 0, bid_px, false);
        /* An ask at or below the best bid cannot be there any more. */
        uint32_t k = 0;
        while (k < b->n[1] && ks_dec_cmp(b->lv[1][k].px, bid_px) <= 0)
            k++;
        if (k) {
            memmove(b->lv[1], b->lv[1] + k, (b->n[1] - k) * sizeof(ks_level_t));
            b->n[1] -= k;
        }
        rc = ks_sim_book_set(b, 0, bid_px, bid_qty);
    }
    if (rc == KS_OK && ask_px.mant > 0 && ask_qty.mant > 0) {
        drop_front(b, 1, ask_px, false);
        uint32_t k = 0;
        while (k < b->n[0] && ks_dec_cmp(b->lv[0][k].px, ask_px) >= 0)
            k++;
        if (k) {
            memmove(b->lv[0], b->lv[0] + k, (b->n[0] - k) * sizeof(ks_level_t));
            b->n[0] -= k;
        }
        rc = ks_sim_book_set(b, 1, ask_px, ask_qty);
    }
    return rc;
}
