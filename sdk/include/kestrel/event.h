/* Kestrel SDK: events that exchange plugins emit and the host routes.
 *
 * Every event struct starts with a ks_event_t header; emit a pointer to the header.
 * The host copies the event before emit() returns (book levels included), assigns
 * the sequence number and, when the plugin left it zero, recv_ns. Events handed to
 * plugins and strategies are borrowed and valid during the callback only. */
#ifndef KESTREL_EVENT_H
#define KESTREL_EVENT_H

#include "abi.h"
#include "decimal.h"
#include "order.h"

typedef enum ks_event_type {
    KS_EV_BBO = 1,
    KS_EV_BOOK = 2,
    KS_EV_TRADE = 3,
    KS_EV_TICKER = 4,
    KS_EV_ORACLE = 5,
    KS_EV_LIQUIDATION = 6,
    KS_EV_ORDER = 7,
    KS_EV_FILL = 8,
    KS_EV_POSITION = 9,
    KS_EV_BALANCE = 10,
    KS_EV_FUNDING = 11,
    KS_EV_CONN = 12,
    KS_EV_INSTRUMENT = 13, /* emitted by the host when an instrument spec changes */
    KS_EV_SYNC_DONE = 14,  /* a fetch (open orders, positions, balances) has finished */
    KS_EV_TRANSFER = 15,   /* result of a wallet transfer */
} ks_event_type_t;
#define KS_EV_TYPE_MAX 15

/* Header of every event. */
typedef struct ks_event {
    uint32_t struct_size; /* size of the whole event struct */
    uint16_t type;        /* ks_event_type_t */
    uint16_t flags;       /* KS_EVF_* */
    int32_t inst;         /* host instrument id, -1 when not about one instrument */
    uint32_t venue;       /* set by the host */
    uint64_t seq;         /* host sequence number, set by the host */
    int64_t venue_ts;     /* the venue's own timestamp, ns since the Unix epoch (0: none) */
    int64_t recv_ns;      /* host monotonic receive time; set by the host when 0 */
} ks_event_t;

/* Zero an event struct and set its header: `ks_bbo_t ev; KS_EVENT_INIT(&ev, KS_EV_BBO);`
 * (inst starts at -1, "not about one instrument"). */
#define KS_EVENT_INIT(ptr, type_)                                                                  \
    do {                                                                                           \
        memset((ptr), 0, sizeof(*(ptr)));                                                          \
        (ptr)->hdr.struct_size = (uint32_t)sizeof(*(ptr));                                         \
        (ptr)->hdr.type = (uint16_t)(type_);                                                       \
        (ptr)->hdr.inst = -1;                                                                      \
    } while (0)

enum {
    KS_EVF_SNAPSHOT = 1u << 0, /* part of a fetch reply (reconciliation), not a live update */
    KS_EVF_REPLAY = 1u << 1,   /* from recorded data */
};

typedef struct ks_bbo {
    ks_event_t hdr;
    ks_dec_t bid_px, bid_qty;
    ks_dec_t ask_px, ask_qty; /* a missing side has qty zero */
} ks_bbo_t;

typedef struct ks_level {
    ks_dec_t px;
    ks_dec_t qty; /* zero in a delta removes the level */
} ks_level_t;

typedef struct ks_book {
    ks_event_t hdr;
    uint64_t update_id;      /* the venue's book sequence */
    uint64_t prev_update_id; /* the previous sequence when the venue sends one, else 0 */
    bool snapshot;           /* true: replaces the book; false: a delta */
    uint32_t n_bids, n_asks;
    const ks_level_t *bids; /* best first; borrowed, copied by the host on emit */
    const ks_level_t *asks;
} ks_book_t;

typedef struct ks_trade {
    ks_event_t hdr;
    ks_dec_t px, qty;
    int8_t side; /* aggressor side, ks_side_t */
    char trade_id[KS_VENUE_ID_LEN];
} ks_trade_t;

/* Fields present in a ticker (a venue may send only some). */
enum {
    KS_TK_LAST = 1u << 0,
    KS_TK_MARK = 1u << 1,
    KS_TK_INDEX = 1u << 2,
    KS_TK_BID = 1u << 3,
    KS_TK_ASK = 1u << 4,
    KS_TK_FUNDING_RATE = 1u << 5,
    KS_TK_NEXT_FUNDING = 1u << 6,
    KS_TK_FUNDING_INTERVAL = 1u << 7,
    KS_TK_OPEN_INTEREST = 1u << 8,
    KS_TK_VOLUME_QUOTE_24H = 1u << 9,
};

typedef struct ks_ticker {
    ks_event_t hdr;
    uint32_t fields; /* KS_TK_* */
    ks_dec_t last, mark, index, bid, ask;
    ks_dec_t funding_rate;   /* per interval; positive: longs pay shorts */
    int64_t next_funding_ts; /* ns since the epoch */
    int32_t funding_interval_h;
    ks_dec_t open_interest;    /* base units */
    ks_dec_t volume_quote_24h; /* 24h turnover in quote currency */
} ks_ticker_t;

typedef struct ks_oracle {
    ks_event_t hdr;
    ks_dec_t px;
} ks_oracle_t;

/* A forced liquidation seen on the public feed. side is the side of the forced order:
 * SELL when a long position was liquidated, BUY when a short was. */
typedef struct ks_liquidation {
    ks_event_t hdr;
    int8_t side;
    ks_dec_t px, qty;
} ks_liquidation_t;

typedef struct ks_order_update {
    ks_event_t hdr;
    char cloid[KS_CLOID_LEN];
    char venue_id[KS_VENUE_ID_LEN];
    uint8_t status; /* ks_order_status_t */
    int8_t side;
    uint8_t type; /* ks_ord_type_t */
    uint8_t tif;
    bool reduce_only;
    ks_dec_t price, qty;
    ks_dec_t filled; /* cumulative */
    ks_dec_t avg_price;
    ks_dec_t fee;   /* cumulative, in fee_asset; negative is a rebate */
    int32_t reject; /* ks_reject_t */
    char reason[KS_REASON_LEN];
} ks_order_update_t;

/* A fill of one of the host's orders, by client id. A fill with an EMPTY cloid is one the
 * venue initiated (a forced liquidation, auto-deleveraging): the host splits it across
 * the strategies holding the position it reduces and rebalances their leg groups. */
typedef struct ks_fill {
    ks_event_t hdr;
    char cloid[KS_CLOID_LEN];
    char venue_id[KS_VENUE_ID_LEN];
    char trade_id[KS_VENUE_ID_LEN]; /* unique per fill at the venue; dedup key */
    int8_t side;
    bool maker;
    ks_dec_t px, qty;
    ks_dec_t fee; /* in fee_asset; negative is a rebate */
    char fee_asset[KS_ASSET_LEN];
} ks_fill_t;

typedef struct ks_position {
    ks_event_t hdr;
    ks_dec_t qty;                       /* signed: > 0 long, < 0 short */
    ks_dec_t entry_px, mark_px, liq_px; /* liq_px zero when none */
    ks_dec_t margin;                    /* margin allocated to the position */
    ks_dec_t upnl;
    int32_t leverage;
} ks_position_t;

typedef struct ks_balance {
    ks_event_t hdr;
    uint8_t wallet; /* ks_wallet_t */
    char asset[KS_ASSET_LEN];
    ks_dec_t total, available;
    /* Derivatives/unified wallets: account equity and margin requirements, in asset. */
    ks_dec_t equity, initial_margin, maint_margin;
} ks_balance_t;

/* Funding settled into a position. amount > 0: received; < 0: paid. */
typedef struct ks_funding {
    ks_event_t hdr;
    ks_dec_t rate;
    ks_dec_t position_qty; /* signed, at settlement */
    ks_dec_t mark_px;
    ks_dec_t amount;
    char asset[KS_ASSET_LEN];
} ks_funding_t;

typedef enum ks_conn_state {
    KS_CONN_DOWN = 0,
    KS_CONN_CONNECTING = 1,
    KS_CONN_UP = 2,
    KS_CONN_RESYNCING = 3,
} ks_conn_state_t;

typedef struct ks_conn {
    ks_event_t hdr;
    uint8_t state; /* ks_conn_state_t */
    char detail[KS_REASON_LEN];
} ks_conn_t;

typedef enum ks_fetch_kind {
    KS_FETCH_OPEN_ORDERS = 1,
    KS_FETCH_POSITIONS = 2,
    KS_FETCH_BALANCES = 3,
    KS_FETCH_ORDER = 4, /* one order by client id (resolves UNKNOWN) */
} ks_fetch_kind_t;

/* Ends the reply to ks_exchange_ops_t.fetch(): every matching object was emitted
 * before it with KS_EVF_SNAPSHOT. rc < 0 when the fetch failed. */
typedef struct ks_sync_done {
    ks_event_t hdr;
    uint64_t req_id;
    uint8_t what; /* ks_fetch_kind_t */
    int32_t rc;
    char detail[KS_REASON_LEN];
} ks_sync_done_t;

typedef struct ks_transfer_result {
    ks_event_t hdr;
    uint64_t req_id;
    int32_t rc;
    char asset[KS_ASSET_LEN];
    ks_dec_t amount;
    uint8_t from, to;
    char detail[KS_REASON_LEN];
} ks_transfer_result_t;

/* Emitted by the host: an instrument was added or its spec changed. */
typedef struct ks_instrument_event {
    ks_event_t hdr;
    uint32_t spec_version;
    uint32_t changed; /* 0 on first registration, else a bitmask, unspecified */
} ks_instrument_event_t;

#endif
