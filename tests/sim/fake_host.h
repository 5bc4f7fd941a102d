/* A fake Kestrel host for plugin tests: a virtual clock, a timer heap, an instrument
 * registry and a recording emit(), behind a ks_host_api_t, plus a dlopen loader. */
#ifndef KS_TEST_FAKE_HOST_H
#define KS_TEST_FAKE_HOST_H

#include <kestrel/kestrel.h>

/* One recorded event (a copy; a book's level pointers are cleared, its text kept). */
typedef union fh_ev {
    ks_event_t hdr;
    ks_bbo_t bbo;
    ks_book_t book;
    ks_trade_t trade;
    ks_ticker_t ticker;
    ks_oracle_t oracle;
    ks_liquidation_t liq;
    ks_order_update_t order;
    ks_fill_t fill;
    ks_position_t pos;
    ks_balance_t bal;
    ks_funding_t funding;
    ks_conn_t conn;
    ks_sync_done_t sync;
    ks_transfer_result_t xfer;
} fh_ev_t;

typedef struct fh_timer {
    uint64_t id;
    int64_t due, repeat;
    ks_timer_cb cb;
    void *ud;
    bool active;
} fh_timer_t;

typedef struct fh_inst {
    int32_t id;
    ks_instrument_t spec; /* string fields point at the copies below */
    char symbol[KS_SYMBOL_LEN], venue_symbol[KS_SYMBOL_LEN], base[KS_ASSET_LEN],
        quote[KS_ASSET_LEN], settle[KS_ASSET_LEN];
} fh_inst_t;

struct ks_host {
    int64_t now;   /* monotonic ns */
    int64_t wall0; /* wall = wall0 + now */
    fh_timer_t *timers;
    uint32_t n_timers, cap_timers;
    uint32_t *heap; /* indices into timers, ordered by (due, id) */
    uint32_t n_heap, cap_heap;
    uint64_t next_timer_id;
    fh_inst_t inst[128];
    int n_inst;
    bool record;  /* keep copies of events (off for long runs) */
    bool trace;   /* print every event */
    bool no_hash; /* skip the canonical text (speed runs) */
    fh_ev_t *ev;
    size_t n_ev, cap_ev;
    uint64_t counts[KS_EV_TYPE_MAX + 1];
    uint64_t hash; /* FNV-1a of the canonical text of every event */
    int n_logs;
    char last_log[512];
};

void fh_init(ks_host_t *h, int64_t wall0);
void fh_free(ks_host_t *h);
const ks_host_api_t *fh_api(void);

/* Runs due timers in (due, id) order up to and including virtual time t. */
void fh_run_until(ks_host_t *h, int64_t t);
void fh_advance(ks_host_t *h, int64_t dt);
int64_t fh_wall(const ks_host_t *h);

/* Recorded events (record must be on). */
void fh_clear(ks_host_t *h);
size_t fh_count(const ks_host_t *h, int type);
const fh_ev_t *fh_nth(const ks_host_t *h, int type, size_t k);
const fh_ev_t *fh_last(const ks_host_t *h, int type);
int32_t fh_inst_id(const ks_host_t *h, const char *symbol);
const fh_inst_t *fh_inst_get(const ks_host_t *h, int32_t id);
size_t fh_active_timers(const ks_host_t *h);

typedef struct fh_plugin {
    void *dl;
    const ks_plugin_desc_t *desc;
    const ks_exchange_ops_t *ops;
} fh_plugin_t;

/* dlopen()s $KS_BUILD_DIR/plugins/<name>.so; 0 on success. */
int fh_plugin_load(fh_plugin_t *p, const char *name);
void fh_plugin_unload(fh_plugin_t *p);

#endif
