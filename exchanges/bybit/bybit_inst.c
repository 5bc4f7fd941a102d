/* bybit_inst: the adapter's instruments, keyed by (category, venue symbol), because
 * Bybit uses the same id ("BTCUSDT") for the spot pair and the linear perpetual. */
#include <stdio.h>
#include <stdlib.h>

#include "bybit.h"

const char *ks_bybit_cat_name(int cat)
{
    return cat == KS_BYBIT_SPOT ? "spot" : "linear";
}

int ks_bybit_cat_parse(const char *s, size_t len)
{
    if (len == 6 && memcmp(s, "linear", 6) == 0)
        return KS_BYBIT_LINEAR;
    if (len == 4 && memcmp(s, "spot", 4) == 0)
        return KS_BYBIT_SPOT;
    return -1;
}

uint64_t ks_bybit_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t key_hash(int cat, const char *sym, size_t len)
{
    return ks_bybit_hash(sym, len) ^ (uint64_t)(cat + 1) * 0x9E3779B97F4A7C15ULL;
}

static int map_grow(ks_bybit_t *bb)
{
    uint32_t nc = bb->map_cap ? bb->map_cap * 2 : 256;
    int32_t *nm = malloc((size_t)nc * sizeof(*nm));
    if (!nm)
        return KS_ENOMEM;
    for (uint32_t i = 0; i < nc; i++)
        nm[i] = -1;
    for (uint32_t i = 0; i < bb->n_insts; i++) {
        const ks_bybit_inst_t *in = bb->insts[i];
        uint32_t h = (uint32_t)key_hash(in->cat, in->sym, strlen(in->sym)) & (nc - 1);
        while (nm[h] >= 0)
            h = (h + 1) & (nc - 1);
        nm[h] = (int32_t)i;
    }
    free(bb->map);
    bb->map = nm;
    bb->map_cap = nc;
    return KS_OK;
}

static ks_bybit_inst_t *lookup(ks_bybit_t *bb, int cat, const char *sym, size_t len)
{
    if (!bb->map_cap)
        return NULL;
    uint32_t h = (uint32_t)key_hash(cat, sym, len) & (bb->map_cap - 1);
    while (bb->map[h] >= 0) {
        ks_bybit_inst_t *in = bb->insts[bb->map[h]];
        if (in->cat == cat && strlen(in->sym) == len && memcmp(in->sym, sym, len) == 0)
            return in;
        h = (h + 1) & (bb->map_cap - 1);
    }
    return NULL;
}

/* Quote assets tried, longest first, when a symbol has to be split without a spec. */
static const char *const spot_quotes[] = {"USDT", "USDC", "USDE", "FDUSD", "BTC", "ETH", "EUR",
                                          "BRL",  "TRY",  "PLN",  "DAI",   "MNT", "USD"};

void ks_bybit_inst_guess_assets(int cat, const char *sym, char *base, char *quote)
{
    size_t n = strlen(sym);
    if (cat == KS_BYBIT_LINEAR && n > 4 && strcmp(sym + n - 4, "PERP") == 0) {
        /* USDC-settled perpetuals: "BTCPERP" */
        snprintf(base, KS_ASSET_LEN, "%.*s", (int)(n - 4), sym);
        snprintf(quote, KS_ASSET_LEN, "USDC");
        return;
    }
    size_t best = 0;
    for (size_t i = 0; i < sizeof(spot_quotes) / sizeof(spot_quotes[0]); i++) {
        size_t q = strlen(spot_quotes[i]);
        if (n > q && q > best && strcmp(sym + n - q, spot_quotes[i]) == 0)
            best = q;
    }
    if (!best) {
        snprintf(base, KS_ASSET_LEN, "%s", sym);
        quote[0] = '\0';
        return;
    }
    snprintf(base, KS_ASSET_LEN, "%.*s", (int)(n - best), sym);
    snprintf(quote, KS_ASSET_LEN, "%s", sym + n - best);
}

static void make_unified(ks_bybit_inst_t *in)
{
    if (!in->quote[0])
        snprintf(in->unified, sizeof(in->unified), "%s", in->sym);
    else if (in->cat == KS_BYBIT_SPOT)
        snprintf(in->unified, sizeof(in->unified), "%s/%s", in->base, in->quote);
    else
        snprintf(in->unified, sizeof(in->unified), "%s/%s:%s", in->base, in->quote, in->quote);
}

static int set_id(ks_bybit_t *bb, ks_bybit_inst_t *in, int32_t id);

int ks_bybit_inst_upsert(ks_bybit_t *bb, ks_bybit_inst_t *in)
{
    int32_t id = -1;
    make_unified(in);
    in->spec.struct_size = sizeof(in->spec);
    in->spec.kind = in->cat == KS_BYBIT_SPOT ? KS_KIND_SPOT : KS_KIND_PERP;
    in->spec.symbol = in->unified;
    in->spec.venue_symbol = in->sym;
    in->spec.base = in->base;
    in->spec.quote = in->quote;
    in->spec.settle = in->cat == KS_BYBIT_SPOT ? NULL : in->quote;
    in->spec.dex = NULL;
    if (in->cat == KS_BYBIT_SPOT)
        in->spec.max_leverage = 1;
    int rc = bb->api->instrument_upsert(bb->host, &in->spec, &id);
    if (rc != KS_OK)
        return rc;
    return set_id(bb, in, id);
}

int ks_bybit_inst_set_fees(ks_bybit_t *bb, ks_bybit_inst_t *in, ks_dec_t maker, ks_dec_t taker)
{
    if (ks_dec_cmp(in->spec.maker_fee, maker) == 0 && ks_dec_cmp(in->spec.taker_fee, taker) == 0)
        return 0;
    in->spec.maker_fee = maker;
    in->spec.taker_fee = taker;
    int rc = ks_bybit_inst_upsert(bb, in);
    return rc == KS_OK ? 1 : rc;
}

ks_bybit_inst_t *ks_bybit_inst_get(ks_bybit_t *bb, int cat, const char *sym, size_t len, int create)
{
    ks_bybit_inst_t *in = lookup(bb, cat, sym, len);
    if (in || create == KS_BYBIT_FIND || !len || len >= KS_BYBIT_SYM_LEN)
        return in;
    if ((bb->n_insts + 1) * 2 > bb->map_cap && map_grow(bb) != KS_OK)
        return NULL;
    if (bb->n_insts == bb->cap_insts) {
        uint32_t nc = bb->cap_insts ? bb->cap_insts * 2 : 256;
        ks_bybit_inst_t **ni = realloc(bb->insts, (size_t)nc * sizeof(*ni));
        if (!ni)
            return NULL;
        bb->insts = ni;
        bb->cap_insts = nc;
    }
    in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->id = -1;
    in->cat = (uint8_t)cat;
    memcpy(in->sym, sym, len);
    in->sym[len] = '\0';
    ks_bybit_inst_guess_assets(cat, in->sym, in->base, in->quote);
    in->spec.flags = KS_INST_TRADING;
    /* The account's rates when fee-rate listed them, else the configured ones. */
    in->spec.maker_fee = bb->cfg.maker_fee[cat];
    in->spec.taker_fee = bb->cfg.taker_fee[cat];
    for (uint32_t k = 0; k < bb->n_acct_fees[cat]; k++)
        if (strcmp(bb->acct_fees[cat][k].sym, in->sym) == 0) {
            in->spec.maker_fee = bb->acct_fees[cat][k].maker;
            in->spec.taker_fee = bb->acct_fees[cat][k].taker;
            break;
        }
    KS_EVENT_INIT(&in->tk, KS_EV_TICKER);
    /* In the map before the upsert: the host may call back (subscribe) from inside it. */
    uint32_t idx = bb->n_insts++;
    bb->insts[idx] = in;
    uint32_t h = (uint32_t)key_hash(cat, sym, len) & (bb->map_cap - 1);
    while (bb->map[h] >= 0)
        h = (h + 1) & (bb->map_cap - 1);
    bb->map[h] = (int32_t)idx;
    if (create == KS_BYBIT_CREATE_INFER && ks_bybit_inst_upsert(bb, in) != KS_OK)
        return NULL; /* stays known with id -1; events about it are dropped */
    return in;
}

ks_bybit_inst_t *ks_bybit_inst_by_id(ks_bybit_t *bb, int32_t id)
{
    return id >= 0 && id < bb->by_id_cap ? bb->by_id[id] : NULL;
}

static int set_id(ks_bybit_t *bb, ks_bybit_inst_t *in, int32_t id)
{
    if (in->id >= 0 && in->id != id && in->id < bb->by_id_cap)
        bb->by_id[in->id] = NULL;
    in->id = id;
    if (id >= bb->by_id_cap) {
        int32_t nc = bb->by_id_cap ? bb->by_id_cap : 256;
        while (nc <= id)
            nc *= 2;
        ks_bybit_inst_t **nb = realloc(bb->by_id, (size_t)nc * sizeof(*nb));
        if (!nb)
            return KS_ENOMEM;
        memset(nb + bb->by_id_cap, 0, (size_t)(nc - bb->by_id_cap) * sizeof(*nb));
        bb->by_id = nb;
        bb->by_id_cap = nc;
    }
    bb->by_id[id] = in;
    return KS_OK;
}

ks_bybit_inst_t *ks_bybit_inst_resolve(ks_bybit_t *bb, int32_t id)
{
    ks_bybit_inst_t *in = ks_bybit_inst_by_id(bb, id);
    ks_instrument_t spec;
    if (in || id < 0)
        return in;
    KS_INIT(&spec);
    if (bb->api->instrument_get(bb->host, id, &spec) != KS_OK || !spec.venue_symbol)
        return NULL;
    int cat = spec.kind == KS_KIND_SPOT ? KS_BYBIT_SPOT : KS_BYBIT_LINEAR;
    in = lookup(bb, cat, spec.venue_symbol, strlen(spec.venue_symbol));
    if (in && set_id(bb, in, id) != KS_OK)
        return NULL;
    return in;
}

void ks_bybit_inst_free_all(ks_bybit_t *bb)
{
    for (uint32_t i = 0; i < bb->n_insts; i++) {
        ks_bybit_book_free(&bb->insts[i]->book);
        free(bb->insts[i]);
    }
    free(bb->insts);
    free(bb->map);
    free(bb->by_id);
    for (int c = 0; c < KS_BYBIT_NCAT; c++) {
        free(bb->acct_fees[c]);
        bb->acct_fees[c] = NULL;
        bb->n_acct_fees[c] = bb->cap_acct_fees[c] = 0;
    }
    bb->insts = NULL;
    bb->map = NULL;
    bb->by_id = NULL;
    bb->n_insts = bb->cap_insts = bb->map_cap = 0;
    bb->by_id_cap = 0;
}
