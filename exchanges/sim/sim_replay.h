/* sim_replay: recorded market data for the sim venue, loaded once and replayed in time
 * order.
 *
 * ks_replay_load() reads a file or a directory, detects the format from the content (and
 * the path where content is ambiguous), and appends normalized events; ks_replay_finish()
 * sorts everything by (time, load order), applies the time window and symbol filter,
 * infers instrument specs the data does not state, and adds the synthetic spot markets
 * when asked. After that the replay is read-only: the sim plugin walks the events in
 * order (ks_replay_event) and feeds them to the matching core. Pure: no host API, no
 * clock; deterministic for the same files and options. Formats and rules: README.md. */
#ifndef KS_SIM_REPLAY_H
#define KS_SIM_REPLAY_H

#include <kestrel/kestrel.h>

/* What one replay event does. */
typedef enum ks_rp_kind {
    KS_RP_BOOK = 1,    /* levels (off, n_bids, n_asks); snapshot replaces, delta sets (0 deletes) */
    KS_RP_BBO = 2,     /* top of book: px/qty bid, px2/qty2 ask (a zero qty: side unknown) */
    KS_RP_TRADE = 3,   /* public print: side (aggressor), px, qty */
    KS_RP_TICKER = 4,  /* ticker fields: off indexes the ticker pool */
    KS_RP_FUNDING = 5, /* a funding settlement at ts: px = the rate */
    KS_RP_LIQ = 6,     /* forced order: side, px (average price), qty */
    KS_RP_ORACLE = 7,  /* oracle price: px */
    KS_RP_KLINE = 8,   /* a closed candle: px = close, px2 = high, qty2 = low; ticker in pool */
} ks_rp_kind_t;
#define KS_RP_KIND_MAX 8

enum {
    KS_RPF_SNAPSHOT = 1u << 0, /* KS_RP_BOOK: replaces the book */
    KS_RPF_PRIME = 1u << 1,    /* before the window start: applied silently at the start */
};

typedef struct ks_rp_event {
    int64_t ts;       /* replay time, ns since the epoch (the recorder's receive time if any) */
    int64_t venue_ts; /* the exchange's own timestamp, ns (0: none recorded) */
    uint32_t seq;     /* load order, the tie-break of equal times */
    int32_t inst;     /* index into the replay's instruments */
    uint8_t kind;     /* ks_rp_kind_t */
    uint8_t flags;    /* KS_RPF_* */
    int8_t side;
    uint32_t n_bids, n_asks;
    uint64_t off; /* KS_RP_BOOK: first level in the level pool; TICKER/KLINE: ticker index */
    ks_dec_t px, qty, px2, qty2;
} ks_rp_event_t;

typedef struct ks_rp_ticker {
    uint32_t fields; /* KS_TK_* */
    ks_dec_t last, mark, index, bid, ask, funding_rate, open_interest, volume_quote_24h;
    int64_t next_funding_ts;
    int32_t funding_interval_h;
} ks_rp_ticker_t;

/* Where an instrument's prices come from (flags). */
enum {
    KS_RPI_BOOK = 1u << 0,      /* recorded book or BBO */
    KS_RPI_MARK = 1u << 1,      /* recorded mark price (else the book mid is the mark) */
    KS_RPI_KLINE = 1u << 2,     /* candle closes drive a synthetic book */
    KS_RPI_SYNTHETIC = 1u << 3, /* synthetic spot priced at its perp's candles */
    KS_RPI_FUNDING = 1u << 4,   /* recorded funding settlements */
};

typedef struct ks_rp_inst {
    char symbol[KS_SYMBOL_LEN];       /* unified: BTC/USDT:USDT, BTC/USDT, XYZ-TSLA/USDC:USDC */
    char venue_symbol[KS_SYMBOL_LEN]; /* BTCUSDT, BTC, xyz:TSLA */
    char base[KS_ASSET_LEN], quote[KS_ASSET_LEN];
    char dex[KS_NAME_LEN];
    uint8_t kind;   /* KS_KIND_SPOT or KS_KIND_PERP */
    uint32_t flags; /* KS_RPI_* */
    /* From exchange metadata in the data when present (zero: inferred in finish()). */
    ks_dec_t tick, lot, min_qty, min_notional;
    int32_t max_leverage;
    int32_t funding_interval_h; /* the first one seen; 0 unknown */
    /* Finest price and size scales seen (normalized), for inference. */
    int32_t px_scale, qty_scale;
    uint32_t n_events;
    int64_t first_ts, last_ts;
    int32_t spot_of; /* synthetic spot: index of its perp, else -1 */
    bool keep;       /* passes the filters (finish) */
} ks_rp_inst_t;

/* Per loaded file: what it was and what it held (tests, logs, report notes). */
typedef struct ks_rp_file {
    char path[1024];
    char format[48]; /* "binance-csv-klines", "hftbacktest", "cryptofeed", ... */
    uint64_t lines;
    uint64_t messages[KS_RP_KIND_MAX + 1]; /* source messages by what they became */
    uint64_t events;                       /* events appended */
    uint64_t skipped;                      /* lines/messages not replayed (acks, klines...) */
    uint64_t book_gaps;                    /* sequence gaps in book diffs */
    uint64_t snapshots;                    /* REST/WS book snapshots */
    int64_t first_ts, last_ts;             /* ns, over every timestamped line */
} ks_rp_file_t;

typedef struct ks_replay_opts {
    bool synthetic_spot;        /* a spot market at each candle perp's close (synthetic!) */
    int64_t start_ns, end_ns;   /* window; 0: open */
    const char *const *symbols; /* keep only these bases or venue symbols; NULL: all */
    uint32_t n_symbols;
    const char *quote;     /* settle asset of the venue; NULL/"": the perps' with most events */
    ks_dec_t min_notional; /* for instruments whose data states none */
} ks_replay_opts_t;

typedef struct ks_replay ks_replay_t;

/* Caller owns the result; free with ks_replay_free(). NULL on ENOMEM. */
ks_replay_t *ks_replay_new(void);
void ks_replay_free(ks_replay_t *r);

/* Loads a file or a directory (see README.md for what a directory means). On failure
 * writes "<path>: <reason>" into err and returns < 0; events already appended stay. */
int ks_replay_load(ks_replay_t *r, const char *path, char *err, size_t err_len);
/* Sorts, filters and infers specs. Call once, after every load. */
int ks_replay_finish(ks_replay_t *r, const ks_replay_opts_t *opts, char *err, size_t err_len);

uint32_t ks_replay_count(const ks_replay_t *r);
const ks_rp_event_t *ks_replay_event(const ks_replay_t *r, uint32_t i);
const ks_level_t *ks_replay_levels(const ks_replay_t *r, const ks_rp_event_t *ev);
const ks_rp_ticker_t *ks_replay_ticker(const ks_replay_t *r, const ks_rp_event_t *ev);

uint32_t ks_replay_inst_count(const ks_replay_t *r);
const ks_rp_inst_t *ks_replay_inst(const ks_replay_t *r, uint32_t i);

uint32_t ks_replay_file_count(const ks_replay_t *r);
const ks_rp_file_t *ks_replay_file(const ks_replay_t *r, uint32_t i);

/* First and last event time after finish() (0 when empty). */
int64_t ks_replay_first_ts(const ks_replay_t *r);
int64_t ks_replay_last_ts(const ks_replay_t *r);
/* The settle asset chosen by finish(). */
const char *ks_replay_quote(const ks_replay_t *r);

/* ---- shared by the format readers (sim_replay_*.c) -------------------------------- */

/* Appends an event (copied; seq and counters set); returns it or NULL on ENOMEM. */
ks_rp_event_t *ks_replay_push(ks_replay_t *r, ks_rp_file_t *f, const ks_rp_event_t *ev);
/* Copies levels into the pool; *off receives their position. KS_ENOMEM. */
int ks_replay_push_levels(ks_replay_t *r, const ks_level_t *lv, uint32_t n, uint64_t *off);
/* Appends a ticker to the pool; *off receives its index. */
int ks_replay_push_ticker(ks_replay_t *r, const ks_rp_ticker_t *t, uint64_t *off);
/* Index of an instrument (created on first use; kind KS_KIND_SPOT or KS_KIND_PERP);
 * < 0 when full or the names do not fit. */
int32_t ks_replay_inst_get(ks_replay_t *r, uint8_t kind, const char *venue_symbol, const char *base,
                           const char *quote, const char *dex);
ks_rp_inst_t *ks_replay_inst_mut(ks_replay_t *r, int32_t i);
/* Notes the scales of a price and a size (either may be zero) for spec inference. */
void ks_replay_seen(ks_replay_t *r, int32_t inst, ks_dec_t px, ks_dec_t qty);
/* A new file record (path copied). */
ks_rp_file_t *ks_replay_file_new(ks_replay_t *r, const char *path, const char *format);
void ks_replay_file_time(ks_rp_file_t *f, int64_t ts);

/* Exchange metadata kept aside until an instrument with this (kind, venue symbol) shows
 * up in market data. */
typedef struct ks_rp_meta {
    uint8_t kind;
    char venue_symbol[KS_SYMBOL_LEN];
    ks_dec_t tick, lot, min_qty, min_notional;
    int32_t max_leverage, funding_interval_h;
} ks_rp_meta_t;
int ks_replay_meta_put(ks_replay_t *r, const ks_rp_meta_t *m);

/* Hyperliquid asset contexts carry no coin names (they are positional, in meta.universe
 * order) and no time: they are kept aside and turned into events by finish(), named
 * from a universe listing loaded beside them (ks_replay_hl_universe_add) and placed at
 * the start of the other data. */
enum {
    KS_HLC_MARK = 1u << 0,
    KS_HLC_ORACLE = 1u << 1,
    KS_HLC_FUNDING = 1u << 2,
    KS_HLC_OI = 1u << 3,
    KS_HLC_VOLUME = 1u << 4,
    KS_HLC_PREMIUM = 1u << 5,
};
typedef struct ks_rp_hlctx {
    char dex[KS_NAME_LEN]; /* "" for the first perp dex */
    uint32_t index;        /* position in the dex's universe */
    uint32_t have;         /* KS_HLC_* */
    uint32_t file;         /* ks_replay_file() index */
    ks_dec_t mark, oracle, funding, open_interest, day_ntl_vlm, premium;
} ks_rp_hlctx_t;
int ks_replay_hl_ctx_add(ks_replay_t *r, const ks_rp_hlctx_t *c);
/* The next coin of the first perp dex's universe (in order). */
int ks_replay_hl_universe_add(ks_replay_t *r, const char *coin);

/* Format readers (sim_replay_fmt.c, sim_replay_csv.c). Each returns KS_OK, or < 0 with
 * a reason in err. `text` is the first line, to sniff. */
int ks_replay_read_csv(ks_replay_t *r, const char *path, const char *header, char *err,
                       size_t err_len);
int ks_replay_read_hftbacktest(ks_replay_t *r, const char *path, char *err, size_t err_len);
int ks_replay_read_cryptofeed(ks_replay_t *r, const char *path, char *err, size_t err_len);
int ks_replay_read_cryptofeed_text(ks_replay_t *r, const char *path, char *err, size_t err_len);
int ks_replay_read_bybit_history(ks_replay_t *r, const char *path, char *err, size_t err_len);
int ks_replay_read_hl_ctxs(ks_replay_t *r, const char *path, char *err, size_t err_len);

/* ---- helpers ------------------------------------------------------------------------ */

/* Splits a venue pair id (BTCUSDT, 1000PEPEUSDT, BTC-USDT) into base and quote, from a
 * list of known quote assets. false when no quote matches. */
bool ks_replay_split_pair(const char *id, char *base, size_t base_cap, char *quote,
                          size_t quote_cap);
#endif
