/* Kestrel SDK: instruments (tradable markets) and their specifications. */
#ifndef KESTREL_INSTRUMENT_H
#define KESTREL_INSTRUMENT_H

#include "abi.h"
#include "decimal.h"

typedef enum ks_inst_kind {
    KS_KIND_SPOT = 1,
    KS_KIND_PERP = 2, /* linear (quote-margined) perpetual swap */
} ks_inst_kind_t;

enum {
    KS_INST_TRADING = 1u << 0, /* open for trading */
    KS_INST_HALTED = 1u << 1,  /* listed but halted: the Halt gate watches this */
};

/* An instrument spec as a venue describes it. Exchange plugins fill one and call
 * ks_host_api_t.instrument_upsert(); the host copies every field (strings included)
 * and assigns `spec_version`, which increases whenever tick, lot, min size, min
 * notional, leverage, funding interval, fees or flags change. */
typedef struct ks_instrument {
    uint32_t struct_size;
    uint32_t kind;              /* ks_inst_kind_t */
    const char *symbol;         /* unified: "BTC/USDT", "BTC/USDT:USDT"; borrowed */
    const char *venue_symbol;   /* the venue's id: "BTCUSDT"; borrowed */
    const char *base;           /* "BTC"; borrowed */
    const char *quote;          /* "USDT"; borrowed */
    const char *settle;         /* "USDT" for linear perps, NULL for spot; borrowed */
    const char *dex;            /* HIP-3 dex name, or NULL; borrowed */
    ks_dec_t tick_size;         /* price increment */
    ks_dec_t lot_size;          /* quantity increment (base units) */
    ks_dec_t min_qty;           /* smallest order quantity */
    ks_dec_t max_qty;           /* largest order quantity; zero when unlimited */
    ks_dec_t min_notional;      /* smallest price * qty; zero when none */
    ks_dec_t maker_fee;         /* fee rate for resting orders, 0.0002 = 2 bps */
    ks_dec_t taker_fee;         /* fee rate for taking orders */
    int32_t max_leverage;       /* 1 for spot */
    int32_t funding_interval_h; /* hours between funding settlements; 0 for spot */
    uint32_t flags;             /* KS_INST_* */
    uint32_t spec_version;      /* set by the host; ignored on upsert */
} ks_instrument_t;

#endif
