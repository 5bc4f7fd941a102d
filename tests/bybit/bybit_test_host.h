/* A small real host for driving the Bybit plugin in-process: the host services table
 * over a ks_loop with the real HTTP client and WebSocket client, instruments in a
 * ks_market_t, and every emitted event recorded (book levels included) so tests can
 * assert on what the adapter said. Like the engine, it subscribes a new instrument from
 * inside instrument_upsert() when `autosub` channels are set. */
#ifndef KS_TEST_BYBIT_HOST_H
#define KS_TEST_BYBIT_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

#include "http.h"
#include "loop.h"
#include "market.h"
#include "plugin.h"
#include "ws.h"

typedef union bt_any {
    ks_event_t hdr;
    ks_bbo_t bbo;
    ks_book_t book;
    ks_trade_t trade;
    ks_ticker_t ticker;
    ks_liquidation_t liq;
    ks_order_update_t order;
    ks_fill_t fill;
    ks_position_t pos;
    ks_balance_t bal;
    ks_funding_t funding;
    ks_conn_t conn;
    ks_sync_done_t sync;
} bt_any_t;

typedef struct bt_event {
    bt_any_t ev;
    ks_level_t *levels; /* books: n_bids + n_asks copied levels (ev.book points into it) */
    int64_t at_ns;      /* loop time of the emit */
} bt_event_t;

typedef struct bt_host {
    ks_loop_t *loop;
    ks_http_t *http;
    ks_wsctx_t *ws;
    bool own_ws;
    ks_market_t market;
    ks_plugin_t *plugin;
    const ks_exchange_ops_t *ops;
    void *self;
    uint32_t autosub;         /* KS_CH_* to subscribe every new instrument with */
    int64_t wall_skew_ns;     /* added to wall_ns(): a drifting clock */
    const char *key, *secret; /* what secret_get returns for *_KEY / *_SECRET names */
    bt_event_t *ev;
    size_t n_ev, cap_ev;
    struct bt_timer *timers;
    int n_ratelimit;
    ks_ratelimit_info_t last_ratelimit;
    int n_errors_logged;
    int n_warnings_logged;
    const char *warn_match; /* count warnings whose text contains this (n_warn_match) */
    int n_warn_match;
    bool quiet;
} bt_host_t;

/* Loads plugins/bybit.so from the build tree (KS_BYBIT_PLUGIN). shared_ws: an lws
 * context to use (borrowed), or NULL for its own. */
int bt_host_init(bt_host_t *h, ks_loop_t *loop, char *err, size_t err_len);
int bt_host_init_shared(bt_host_t *h, ks_loop_t *loop, ks_wsctx_t *shared_ws, char *err,
                        size_t err_len);
/* Opens the adapter with config_json. */
int bt_host_open(bt_host_t *h, const char *config_json, char *err, size_t err_len);
/* Closes the adapter (no loop run may follow before bt_host_free: see ws_close). */
void bt_host_close(bt_host_t *h);
void bt_host_free(bt_host_t *h);

/* Runs the loop until pred(h, ud) is true or timeout_ms passes; true if it became true. */
bool bt_run_until(bt_host_t *h, bool (*pred)(bt_host_t *h, void *ud), void *ud, int timeout_ms);
/* Runs the loop for ms. */
void bt_run_for(bt_host_t *h, int ms);

/* Host id of a unified symbol, -1 when unknown. */
int32_t bt_inst(bt_host_t *h, const char *symbol);

/* Counting and finding recorded events. `from` is an index into h->ev. */
size_t bt_count(const bt_host_t *h, int type, size_t from);
const bt_event_t *bt_last(const bt_host_t *h, int type);
/* The latest order update of cloid (NULL when none). */
const ks_order_update_t *bt_order(const bt_host_t *h, const char *cloid);
bool bt_has_conn(const bt_host_t *h, int state, const char *detail_part, size_t from);

#endif
