/* Market cache: every instrument the venues registered, with its spec (and
 * spec_version), and per instrument the latest BBO, merged ticker, oracle price,
 * recent liquidations and last trade, each stamped with the host recv_ns that freshness
 * decisions use. Updated by the engine from events before anyone else sees them. */
#ifndef KS_MARKET_H
#define KS_MARKET_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "strmap.h"

#define KS_MKT_LIQ_RING 64

typedef struct ks_inst_rec {
    int32_t id;
    uint32_t venue;
    ks_instrument_t spec; /* string fields point at the buffers below */
    char symbol[KS_SYMBOL_LEN];
    char venue_symbol[KS_SYMBOL_LEN];
    char base[KS_ASSET_LEN], quote[KS_ASSET_LEN], settle[KS_ASSET_LEN];
    char dex[KS_NAME_LEN];
} ks_inst_rec_t;

typedef struct ks_liq_rec {
    int8_t side;
    ks_dec_t px, qty;
    int64_t venue_ts, recv_ns;
} ks_liq_rec_t;

typedef struct ks_mkt {
    /* BBO */
    ks_dec_t bid_px, bid_qty, ask_px, ask_qty;
    int64_t bbo_recv_ns, bbo_venue_ts;
    uint64_t bbo_count;
    /* merged ticker: fields accumulate across partial tickers */
    ks_ticker_t ticker;
    uint32_t ticker_fields;
    int64_t ticker_recv_ns;
    /* oracle */
    ks_dec_t oracle;
    int64_t oracle_recv_ns, oracle_venue_ts;
    /* last trade */
    ks_dec_t last_px, last_qty;
    int8_t last_side;
    int64_t trade_recv_ns;
    /* recent liquidations, a ring */
    ks_liq_rec_t liq[KS_MKT_LIQ_RING];
    uint32_t liq_head, liq_count;
    int64_t liq_recv_ns;
    /* newest venue timestamp and recv time of anything about this instrument */
    int64_t last_venue_ts, last_recv_ns;
    bool time_regressed; /* a venue timestamp went backwards at least once */
} ks_mkt_t;

typedef struct ks_market {
    ks_inst_rec_t **inst; /* by id */
    ks_mkt_t **mkt;       /* by id */
    int32_t n, cap;
    ks_strmap_t by_key; /* "venue\x1fsymbol" -> id + 1 */
} ks_market_t;

void ks_market_init(ks_market_t *m);
void ks_market_free(ks_market_t *m);

/* Registers or updates an instrument (strings copied). *changed: spec differed from the
 * stored one (spec_version was bumped) or it is new (*is_new). */
int ks_market_upsert(ks_market_t *m, uint32_t venue, const ks_instrument_t *spec, int32_t *id,
                     bool *is_new, bool *changed);
/* Instrument id for (venue, unified symbol) or -1. */
int32_t ks_market_find(const ks_market_t *m, uint32_t venue, const char *symbol);
const ks_inst_rec_t *ks_market_inst(const ks_market_t *m, int32_t id);
ks_mkt_t *ks_market_state(ks_market_t *m, int32_t id);

/* Applies a market-data event (BBO, ticker, oracle, trade, liquidation, book top). */
void ks_market_apply(ks_market_t *m, const ks_event_t *ev);

/* Mid price ((bid + ask) / 2) when both sides exist, else last/mark; false if none. */
bool ks_market_mid(const ks_market_t *m, int32_t id, ks_dec_t *out);
/* The price used to value a position: perp mark, else mid, else last trade. */
bool ks_market_mark(const ks_market_t *m, int32_t id, ks_dec_t *out);

/* Fills the risk plugins' view. */
void ks_market_view(const ks_market_t *m, int32_t id, ks_market_view_t *out);

#endif
