/* Kestrel SDK: order intents (what a strategy asks for) and order commands (what the
 * host asks an exchange plugin to send), with the order state machine's states. */
#ifndef KESTREL_ORDER_H
#define KESTREL_ORDER_H

#include "abi.h"
#include "decimal.h"

typedef enum ks_side {
    KS_SIDE_BUY = 1,
    KS_SIDE_SELL = -1,
} ks_side_t;

typedef enum ks_ord_type {
    KS_ORD_MARKET = 1,
    KS_ORD_LIMIT = 2,
} ks_ord_type_t;

typedef enum ks_tif {
    KS_TIF_GTC = 1,       /* good till cancelled */
    KS_TIF_IOC = 2,       /* immediate or cancel: fill what crosses, cancel the rest */
    KS_TIF_FOK = 3,       /* fill entirely at once or cancel */
    KS_TIF_POST_ONLY = 4, /* rest as maker or be rejected */
} ks_tif_t;

/* NEW (stored, not yet sent) -> SENT -> ACKED -> PARTIAL -> FILLED | CANCELED |
 * REJECTED | EXPIRED. UNKNOWN: a send whose outcome we do not know (timeout,
 * disconnect); resolved only by asking the venue, never by resending. */
typedef enum ks_order_status {
    KS_OS_NEW = 0,
    KS_OS_SENT = 1,
    KS_OS_ACKED = 2,
    KS_OS_PARTIAL = 3,
    KS_OS_FILLED = 4,
    KS_OS_CANCELED = 5,
    KS_OS_REJECTED = 6,
    KS_OS_EXPIRED = 7,
    KS_OS_UNKNOWN = 8,
} ks_order_status_t;
#define KS_OS_COUNT 9

/* Why a venue or the host refused an order; carried in order updates. */
typedef enum ks_reject {
    KS_REJ_NONE = 0,
    KS_REJ_OTHER = 1,
    KS_REJ_INSUFFICIENT_FUNDS = 2,
    KS_REJ_REDUCE_ONLY = 3, /* reduce-only order would increase the position */
    KS_REJ_POST_ONLY = 4,   /* post-only order would have taken */
    KS_REJ_DUPLICATE_CLOID = 5,
    KS_REJ_RATE_LIMIT = 6,
    KS_REJ_INVALID = 7,      /* bad price, size, tick or lot */
    KS_REJ_TIMESTAMP = 8,    /* request time outside the venue's receive window */
    KS_REJ_NO_LIQUIDITY = 9, /* market/IOC order found nothing to fill */
    KS_REJ_RISK = 10,        /* refused by the host's risk chain */
    KS_REJ_AUTH = 11,
    KS_REJ_HALTED = 12,
    KS_REJ_UNKNOWN_ORDER = 13, /* cancel or query of an order the venue does not know */
} ks_reject_t;

/* What the host asks an exchange plugin to send. All fields are exact; price and qty
 * are already multiples of the instrument's tick and lot. Borrowed; valid during the
 * call only (copy what you keep). */
typedef struct ks_order_cmd {
    uint32_t struct_size;
    int32_t inst;             /* host instrument id */
    char cloid[KS_CLOID_LEN]; /* client order id, unique forever, <= 36 chars */
    int8_t side;              /* ks_side_t */
    uint8_t type;             /* ks_ord_type_t */
    uint8_t tif;              /* ks_tif_t (ignored for market orders) */
    bool reduce_only;
    ks_dec_t price; /* limit price; zero for market orders */
    ks_dec_t qty;   /* base quantity, > 0 */
} ks_order_cmd_t;

/* Cancel by client id (and venue id when known). Borrowed; valid during the call. */
typedef struct ks_cancel_cmd {
    uint32_t struct_size;
    int32_t inst;
    char cloid[KS_CLOID_LEN];
    char venue_id[KS_VENUE_ID_LEN]; /* may be empty */
} ks_cancel_cmd_t;

/* Amend price and/or quantity of a resting order; zero means unchanged. */
typedef struct ks_amend_cmd {
    uint32_t struct_size;
    int32_t inst;
    char cloid[KS_CLOID_LEN];
    char venue_id[KS_VENUE_ID_LEN];
    ks_dec_t price;
    ks_dec_t qty;
} ks_amend_cmd_t;

typedef enum ks_wallet {
    KS_WALLET_SPOT = 1,
    KS_WALLET_FUTURES = 2,
    KS_WALLET_UNIFIED = 3, /* one wallet for spot and derivatives (Bybit UTA) */
} ks_wallet_t;

typedef struct ks_transfer_cmd {
    uint32_t struct_size;
    uint64_t req_id; /* echoed in the KS_EV_TRANSFER result */
    char asset[KS_ASSET_LEN];
    ks_dec_t amount;
    uint8_t from; /* ks_wallet_t */
    uint8_t to;
} ks_transfer_cmd_t;

/* A strategy's request before risk checks. Risk plugins see it through check(). */
typedef struct ks_order_intent {
    uint32_t struct_size;
    const char *strategy; /* borrowed */
    int32_t inst;
    int8_t side;
    uint8_t type;
    uint8_t tif;
    bool reduce_only;
    ks_dec_t price; /* zero for market orders */
    ks_dec_t qty;
    ks_dec_t ref_price; /* the price used for notional checks (limit or mark) */
} ks_order_intent_t;

#endif
