/* The Bybit v5 adapter's internal state, shared by its modules:
 *
 *   bybit_inst.c    instruments: (category, venue symbol) -> host id, unified symbols
 *   bybit_codec.c   venue messages (WS frames, REST results) -> Kestrel events
 *   bybit_rest.c    signed REST requests, replies, error mapping, fetch jobs
 *   bybit_conn.c    the three WebSocket connections: auth, subscribe, ping, reconnect
 *   bybit_plugin.c  config, the ks_exchange_ops_t table, order entry
 *
 * Nothing here is visible outside the plugin (hidden visibility). All state lives in
 * one ks_bybit_t per instance; the host's single loop drives everything, so no locks. */
#ifndef KS_BYBIT_H
#define KS_BYBIT_H

#include <kestrel/kestrel.h>

#include "bybit_book.h"
#include "bybit_json.h"

#define KS_BYBIT_SYM_LEN 32
#define KS_BYBIT_URL_LEN 256

typedef enum ks_bybit_cat {
    KS_BYBIT_LINEAR = 0,
    KS_BYBIT_SPOT = 1,
} ks_bybit_cat_t;
#define KS_BYBIT_NCAT 2

/* One instrument the adapter knows (registered with the host). */
typedef struct ks_bybit_inst {
    int32_t id;      /* host instrument id */
    uint8_t cat;     /* ks_bybit_cat_t */
    bool spec_known; /* registered from instruments-info (else inferred from a message) */
    bool listed;     /* present in the last instruments-info reply */
    char sym[KS_BYBIT_SYM_LEN];
    char unified[KS_SYMBOL_LEN];
    char base[KS_ASSET_LEN], quote[KS_ASSET_LEN];
    ks_instrument_t spec; /* as last upserted; string fields point at the buffers above */
    uint32_t channels;    /* KS_CH_* wanted */
    /* book */
    ks_bybit_book_t book;
    uint8_t topics;      /* KS_BYBIT_T_* subscribed on the current connection */
    bool resync_pending; /* a gap was seen: waiting for the fresh snapshot */
    bool bbo_valid;
    ks_dec_t bbo_bid, bbo_bid_qty, bbo_ask, bbo_ask_qty; /* last BBO emitted */
    /* ticker, merged across snapshot + delta messages */
    ks_ticker_t tk;
} ks_bybit_inst_t;

/* Public topics of one instrument. */
enum {
    KS_BYBIT_T_BOOK = 1u << 0,   /* orderbook.{depth}.SYM: KS_CH_BOOK, KS_CH_BBO */
    KS_BYBIT_T_TRADE = 1u << 1,  /* publicTrade.SYM */
    KS_BYBIT_T_TICKER = 1u << 2, /* tickers.SYM */
    KS_BYBIT_T_LIQ = 1u << 3,    /* allLiquidation.SYM (linear only) */
};

/* An order this instance placed or learned about, while it is open. */
typedef struct ks_bybit_order {
    char cloid[KS_CLOID_LEN];
    char venue_id[KS_VENUE_ID_LEN];
    int32_t inst;
    uint8_t cat;
    int8_t side;
    uint8_t type, tif;
    bool reduce_only;
    ks_dec_t price, qty, filled, avg_price, fee;
    uint8_t status;       /* last status emitted (KS_OS_*) */
    int64_t sign_ts_ms;   /* venue-clock timestamp of the create request (0: unknown) */
    bool create_inflight; /* the create request has not answered yet */
    uint32_t resync_gen;  /* last resync whose open-order list contained it */
    bool in_use;
    bool tombstone;
} ks_bybit_order_t;

typedef struct ks_bybit_orders {
    ks_bybit_order_t *slots;
    uint32_t cap, used, live;
} ks_bybit_orders_t;

/* A set of recently seen 64-bit ids (execution ids), two generations. */
typedef struct ks_bybit_seen {
    uint64_t *cur, *prev;
    uint32_t cap, n_cur;
} ks_bybit_seen_t;

typedef enum ks_bybit_conn_kind {
    KS_BYBIT_WS_LINEAR = 0,
    KS_BYBIT_WS_SPOT = 1,
    KS_BYBIT_WS_PRIVATE = 2,
} ks_bybit_conn_kind_t;
#define KS_BYBIT_NCONN 3

typedef enum ks_bybit_conn_state {
    KS_BYBIT_CONN_IDLE = 0, /* not wanted or waiting to reconnect */
    KS_BYBIT_CONN_CONNECTING = 1,
    KS_BYBIT_CONN_AUTHING = 2, /* private: auth sent */
    KS_BYBIT_CONN_READY = 3,   /* subscriptions may be sent */
} ks_bybit_conn_state_t;

typedef struct ks_bybit ks_bybit_t;

typedef struct ks_bybit_conn {
    ks_bybit_t *bb;
    int kind; /* ks_bybit_conn_kind_t */
    bool wanted;
    int state;
    ks_ws_t *ws;
    uint64_t ping_timer;      /* repeating */
    uint64_t pong_timer;      /* one-shot deadline after a ping */
    uint64_t reconnect_timer; /* one-shot backoff */
    uint32_t attempts;        /* consecutive failures, for the backoff */
    uint64_t connects;        /* successful opens */
    int64_t last_rx_ns;
} ks_bybit_conn_t;

typedef struct ks_bybit_cfg {
    char rest_url[KS_BYBIT_URL_LEN];
    char ws_url[KS_BYBIT_NCONN][KS_BYBIT_URL_LEN];
    char api_key_env[KS_NAME_LEN];
    char api_secret_env[KS_NAME_LEN];
    int32_t recv_window_ms;
    int32_t book_depth;
    bool cat_enabled[KS_BYBIT_NCAT];
    char (*symbols)[KS_BYBIT_SYM_LEN]; /* owned; NULL: every USDT instrument */
    uint32_t n_symbols;
    bool decode_only;
    uint8_t decode_category;
    int32_t ping_interval_ms;
    int32_t pong_timeout_ms;
    int32_t reconnect_min_ms;
    int32_t reconnect_max_ms;
    int32_t http_timeout_ms;
    int32_t order_timeout_ms;
    int32_t instruments_refresh_s;
    /* Fee rates every instrument of a category starts with (until the account's own
     * rates arrive from /v5/account/fee-rate). */
    ks_dec_t maker_fee[KS_BYBIT_NCAT], taker_fee[KS_BYBIT_NCAT];
} ks_bybit_cfg_t;

typedef struct ks_bybit_req ks_bybit_req_t;
typedef struct ks_bybit_job ks_bybit_job_t;

struct ks_bybit {
    const ks_host_api_t *api;
    ks_host_t *host;
    char venue[KS_NAME_LEN];
    ks_bybit_cfg_t cfg;
    bool live; /* not decode_only */
    bool started;
    bool closing;
    /* credentials (wiped on close; never logged) */
    char key[128];
    char secret[256];
    bool have_keys;
    /* instruments: open-addressing map (cat, sym) -> insts[], and host id -> inst */
    ks_bybit_inst_t **insts;
    uint32_t n_insts, cap_insts;
    int32_t *map; /* index into insts, -1 empty */
    uint32_t map_cap;
    ks_bybit_inst_t **by_id;
    int32_t by_id_cap;
    /* parsing scratch, reused per message */
    ks_bybit_json_t js;
    ks_level_t *lv_bids, *lv_asks;
    uint32_t lv_cap;
    /* orders and fills */
    ks_bybit_orders_t orders;
    ks_bybit_seen_t seen_exec;
    ks_bybit_seen_t seen_final; /* cloid|status|filled of final order updates emitted */
    /* connections */
    ks_bybit_conn_t conn[KS_BYBIT_NCONN];
    bool up_reported;
    /* REST */
    ks_bybit_req_t *reqs;   /* in flight, doubly linked */
    ks_bybit_job_t *jobs;   /* fetches and resyncs not finished yet */
    int64_t time_offset_ms; /* venue clock - wall clock, from /v5/market/time */
    bool time_synced;
    int64_t last_exec_sync_ms; /* executions are complete up to here (venue clock) */
    uint32_t resync_gen;
    bool instruments_loaded[KS_BYBIT_NCAT];
    bool instruments_asked[KS_BYBIT_NCAT]; /* the first instruments-info was sent */
    bool fee_rate_warned; /* the fee-rate fallback was logged (once per instance) */
    /* The account's fee rates by symbol, as the last fee-rate reply listed them. At start
     * they are asked for before instruments-info, so that every instrument is registered
     * once with its real rates (a later change bumps spec_version, which risk_gates'
     * ParamChange treats as a parameter change, as it should). */
    struct ks_bybit_fee {
        char sym[KS_BYBIT_SYM_LEN];
        ks_dec_t maker, taker;
    } * acct_fees[KS_BYBIT_NCAT];
    uint32_t n_acct_fees[KS_BYBIT_NCAT], cap_acct_fees[KS_BYBIT_NCAT];
    /* Fetches and the private resync wait for the instruments, so that replies name known
     * instruments instead of registering guessed ones. */
    struct ks_bybit_deferred {
        uint32_t what;
        int32_t inst;
        char cloid[KS_CLOID_LEN];
        uint64_t req_id;
    } * deferred;
    uint32_t n_deferred, cap_deferred;
    bool resync_deferred;
    uint64_t refresh_timer;
    uint64_t jitter_state;
    char *buf; /* request building scratch */
    size_t buf_cap;
    /* counters (tests, metrics) */
    uint64_t n_gaps, n_stale, n_crossed, n_resubscribes, n_reconnects, n_dup_fills;
};

/* --- bybit_inst.c ------------------------------------------------------------------ */

enum {
    KS_BYBIT_FIND = 0,         /* only look up */
    KS_BYBIT_CREATE_INFER = 1, /* register an unknown one, spec inferred from the symbol */
    KS_BYBIT_CREATE_BARE = 2,  /* add an unknown one without registering (id -1): the
                                  caller fills the spec and calls ks_bybit_inst_upsert */
};
/* The instrument for (cat, venue symbol), or NULL (unknown and not created). */
ks_bybit_inst_t *ks_bybit_inst_get(ks_bybit_t *bb, int cat, const char *sym, size_t len,
                                   int create);
ks_bybit_inst_t *ks_bybit_inst_by_id(ks_bybit_t *bb, int32_t id);
/* Like by_id, but also finds an instrument whose upsert has not returned yet: the host
 * may call subscribe() from inside instrument_upsert(). */
ks_bybit_inst_t *ks_bybit_inst_resolve(ks_bybit_t *bb, int32_t id);
/* Upserts inst->spec with the host (after changing it). */
int ks_bybit_inst_upsert(ks_bybit_t *bb, ks_bybit_inst_t *inst);
/* Sets the account's fee rates; upserts only when they differ from the spec's. Returns
 * 1 when the spec changed, 0 when not, < 0 when the upsert failed. */
int ks_bybit_inst_set_fees(ks_bybit_t *bb, ks_bybit_inst_t *inst, ks_dec_t maker, ks_dec_t taker);
/* Splits a venue symbol into base/quote/settle when no spec says it ("1000PEPEUSDT"). */
void ks_bybit_inst_guess_assets(int cat, const char *sym, char *base, char *quote);
void ks_bybit_inst_free_all(ks_bybit_t *bb);
const char *ks_bybit_cat_name(int cat);
int ks_bybit_cat_parse(const char *s, size_t len); /* -1 when not spot/linear */

/* --- bybit_codec.c ----------------------------------------------------------------- */

/* One WebSocket frame from a connection of category `cat` (private: -1). Emits events;
 * returns the number emitted, or < 0 when the text is not JSON. */
int ks_bybit_codec_ws(ks_bybit_t *bb, int cat, const char *msg, size_t len);
/* The same for a frame already tokenized in bb->js (root object). */
int ks_bybit_codec_ws_doc(ks_bybit_t *bb, int cat);
/* The `result` object of a REST reply already tokenized in bb->js. cat: the category
 * the request was about (-1: from result.category, else the default). flags go on
 * every event (KS_EVF_SNAPSHOT for fetch replies). time_ms: the envelope's time.
 * Returns the number of events emitted. */
int ks_bybit_codec_result(ks_bybit_t *bb, int result, int cat, uint16_t flags, int64_t time_ms);
/* decode op: a WS frame or a REST body, category from the message or the config. */
int ks_bybit_codec_decode(ks_bybit_t *bb, const char *msg, size_t len);
/* Order-status text -> KS_OS_* (-1 when unknown). */
int ks_bybit_codec_status(const char *s, size_t len);
/* retCode (and HTTP status) of a rejected request -> KS_REJ_*. */
int ks_bybit_codec_reject(int64_t ret_code, int http_status);
/* Emits a CONN event. */
void ks_bybit_codec_conn(ks_bybit_t *bb, int state, const char *fmt, ...) KS_PRINTF(3, 4);
/* Marks a book invalid after a gap or crossed book and asks for a fresh snapshot. */
void ks_bybit_codec_book_resync(ks_bybit_t *bb, ks_bybit_inst_t *inst, const char *why);

/* --- bybit_orders (in bybit_codec.c) ------------------------------------------------- */

ks_bybit_order_t *ks_bybit_orders_get(ks_bybit_orders_t *t, const char *cloid);
ks_bybit_order_t *ks_bybit_orders_add(ks_bybit_orders_t *t, const char *cloid);
void ks_bybit_orders_del(ks_bybit_orders_t *t, ks_bybit_order_t *o);
void ks_bybit_orders_free(ks_bybit_orders_t *t);
/* Emits an order update built from the tracked record. */
void ks_bybit_order_emit(ks_bybit_t *bb, ks_bybit_order_t *o, int status, int reject,
                         const char *reason, uint16_t flags);
bool ks_bybit_seen_check_add(ks_bybit_seen_t *s, uint64_t id);
void ks_bybit_seen_free(ks_bybit_seen_t *s);
uint64_t ks_bybit_hash(const char *s, size_t len);

/* --- bybit_rest.c ------------------------------------------------------------------ */

typedef enum ks_bybit_req_kind {
    KS_BYBIT_RQ_TIME = 1,
    KS_BYBIT_RQ_INSTRUMENTS = 2,
    KS_BYBIT_RQ_CREATE = 3,
    KS_BYBIT_RQ_CANCEL = 4,
    KS_BYBIT_RQ_AMEND = 5,
    KS_BYBIT_RQ_CANCEL_ALL = 6,
    KS_BYBIT_RQ_ORDERS = 7,  /* /v5/order/realtime (open orders or one order) */
    KS_BYBIT_RQ_HISTORY = 8, /* /v5/order/history (one order) */
    KS_BYBIT_RQ_EXECS = 9,   /* /v5/execution/list */
    KS_BYBIT_RQ_POSITIONS = 10,
    KS_BYBIT_RQ_WALLET = 11,
    KS_BYBIT_RQ_LEVERAGE = 12,
    KS_BYBIT_RQ_FEE_RATE = 13, /* /v5/account/fee-rate (one category) */
} ks_bybit_req_kind_t;

/* A multi-request operation (a fetch or a resync) that ends with one SYNC_DONE. */
struct ks_bybit_job {
    uint64_t req_id; /* 0: internal (no SYNC_DONE) */
    uint8_t what;    /* ks_fetch_kind_t */
    int pending;
    int rc;
    int found; /* KS_FETCH_ORDER: the order was found */
    char detail[KS_REASON_LEN];
    char cloid[KS_CLOID_LEN];
    int32_t inst;
    bool from_cancel; /* KS_FETCH_ORDER started by a refused cancel (not a host fetch) */
    uint64_t retry_timer;
    ks_bybit_t *bb;
    void (*on_done)(struct ks_bybit_job *job); /* internal jobs: runs when all replied */
    struct ks_bybit_job *prev, *next;          /* bb->jobs */
};

int ks_bybit_rest_start(ks_bybit_t *bb);
void ks_bybit_rest_stop(ks_bybit_t *bb);
int ks_bybit_rest_instruments(ks_bybit_t *bb, int cat, const char *cursor);
int ks_bybit_rest_place(ks_bybit_t *bb, const ks_order_cmd_t *cmd, ks_bybit_inst_t *inst);
int ks_bybit_rest_cancel(ks_bybit_t *bb, const ks_cancel_cmd_t *cmd, ks_bybit_inst_t *inst);
int ks_bybit_rest_amend(ks_bybit_t *bb, const ks_amend_cmd_t *cmd, ks_bybit_inst_t *inst);
int ks_bybit_rest_cancel_all(ks_bybit_t *bb, ks_bybit_inst_t *inst);
int ks_bybit_rest_leverage(ks_bybit_t *bb, ks_bybit_inst_t *inst, int32_t leverage);
/* GET /v5/account/fee-rate for one category (with credentials: at start, before its
 * instruments-info, which it then sends; again after each refresh). A failure or an
 * empty list keeps the configured rates. */
int ks_bybit_rest_fee_rate(ks_bybit_t *bb, int cat);
/* fetch(): starts the requests of `what`; SYNC_DONE follows. */
int ks_bybit_rest_fetch(ks_bybit_t *bb, uint32_t what, ks_bybit_inst_t *inst, const char *cloid,
                        uint64_t req_id);
/* After the private stream (re)connects: open orders, executions since the last sync,
 * positions and balances, plus a query for every tracked order no longer open. */
void ks_bybit_rest_resync(ks_bybit_t *bb);
/* True once instruments-info answered for every enabled category. */
bool ks_bybit_rest_ready(const ks_bybit_t *bb);
/* Venue-clock milliseconds (wall clock + measured offset). */
int64_t ks_bybit_rest_now_ms(ks_bybit_t *bb);

/* --- bybit_conn.c ------------------------------------------------------------------ */

void ks_bybit_conn_init(ks_bybit_t *bb);
void ks_bybit_conn_start(ks_bybit_t *bb);
void ks_bybit_conn_stop(ks_bybit_t *bb);
/* Sends the subscriptions instrument `inst` needs now (if its connection is ready). */
void ks_bybit_conn_subscribe_inst(ks_bybit_t *bb, ks_bybit_inst_t *inst);
/* Unsubscribes and resubscribes the book topic of inst (a fresh snapshot follows). */
void ks_bybit_conn_resubscribe_book(ks_bybit_t *bb, ks_bybit_inst_t *inst);
/* Re-evaluates KS_EV_CONN (up when instruments are loaded and streams are ready). */
void ks_bybit_conn_report(ks_bybit_t *bb);

/* --- helpers ------------------------------------------------------------------------- */

static inline int64_t ks_bybit_ms_to_ns(int64_t ms)
{
    return ms * 1000000LL;
}

#endif
