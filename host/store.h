/* Persistent state in SQLite (WAL mode, synchronous=NORMAL): orders, fills, positions,
 * funding payments, strategy state, plugin key-values and an event journal.
 *
 * Writes are batched in one transaction that ks_store_flush() commits (the engine
 * flushes once per loop iteration). ks_store_order_insert() is the exception: it is the
 * write-ahead record of an order and is committed before it returns, so an order can
 * never reach a venue without being on disk first. The schema version lives in
 * PRAGMA user_version and is migrated forward on open. Decimals are stored as exact
 * decimal text. */
#ifndef KS_STORE_H
#define KS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kestrel/kestrel.h>

typedef struct ks_store ks_store_t;

/* The schema version this build migrates to. */
#define KS_STORE_SCHEMA_VERSION 2

typedef struct ks_order_rec {
    char cloid[KS_CLOID_LEN];
    char strategy[KS_NAME_LEN];
    char venue[KS_NAME_LEN];
    char symbol[KS_SYMBOL_LEN];
    int8_t side;
    uint8_t type, tif;
    bool reduce_only;
    ks_dec_t price, qty, filled, avg_price, fee;
    uint8_t status; /* ks_order_status_t */
    char venue_id[KS_VENUE_ID_LEN];
    int32_t reject;
    char reason[KS_REASON_LEN];
    int64_t created_ns, updated_ns; /* wall clock (virtual in a backtest) */
} ks_order_rec_t;

typedef struct ks_fill_rec {
    char cloid[KS_CLOID_LEN];
    char strategy[KS_NAME_LEN];
    char venue[KS_NAME_LEN];
    char symbol[KS_SYMBOL_LEN];
    char trade_id[KS_VENUE_ID_LEN];
    int8_t side;
    bool maker;
    ks_dec_t px, qty, fee;
    char fee_asset[KS_ASSET_LEN];
    int64_t ts_ns;
} ks_fill_rec_t;

typedef struct ks_position_rec {
    char strategy[KS_NAME_LEN];
    char venue[KS_NAME_LEN];
    char symbol[KS_SYMBOL_LEN];
    ks_dec_t qty, avg_entry, realized_pnl, fees, funding;
    int64_t updated_ns;
} ks_position_rec_t;

typedef struct ks_funding_rec {
    char strategy[KS_NAME_LEN];
    char venue[KS_NAME_LEN];
    char symbol[KS_SYMBOL_LEN];
    ks_dec_t rate, qty, mark, amount;
    int64_t ts_ns;
} ks_funding_rec_t;

/* Opens (creating if needed) and migrates the database at path. On failure writes a
 * one-line reason into err and returns NULL. Caller owns the result; ks_store_close(). */
ks_store_t *ks_store_open(const char *path, char *err, size_t err_len);
/* Commits pending writes and closes. */
void ks_store_close(ks_store_t *st);
/* The schema version found on disk when opened (0 for a new file). */
int ks_store_opened_version(const ks_store_t *st);

/* Commits the batch of pending writes; KS_OK when nothing is pending. */
int ks_store_flush(ks_store_t *st);

/* Write-ahead insert of a new order; committed (with any pending batch) on return.
 * KS_EEXIST when the cloid is already stored. */
int ks_store_order_insert(ks_store_t *st, const ks_order_rec_t *o);
/* Simulation mode (backtests): the order insert joins the batch instead of committing
 * (the simulated venue is in-process, so nothing can leave before a crash loses both),
 * and synchronous=OFF. Never for live trading. */
void ks_store_set_simulation(ks_store_t *st, bool on);

/* Updates status, fills, venue id, reason of an existing order (batched): filled,
 * avg_price, fee, status, venue_id, reject, reason and updated_ns are written; the other
 * fields of o are ignored. KS_ENOENT when the cloid is not stored. */
int ks_store_order_update(ks_store_t *st, const ks_order_rec_t *o);
int ks_store_order_get(ks_store_t *st, const char *cloid, ks_order_rec_t *out);
/* Calls cb for every order (only_open: not in a final state), oldest first (insertion
 * order). The record is borrowed; valid during the callback only. cb may write to the
 * store (e.g. update the order it is given). */
int ks_store_orders_foreach(ks_store_t *st, bool only_open,
                            void (*cb)(void *ud, const ks_order_rec_t *o), void *ud);

/* Calls cb with the trade id of every stored fill of an order, oldest first (the id
 * is borrowed for the call). The callback must not write to the store. */
int ks_store_fill_ids(ks_store_t *st, const char *cloid, void (*cb)(void *ud, const char *trade_id),
                      void *ud);
/* Inserts a fill; KS_EEXIST (and nothing written) when (venue, trade_id) exists. */
int ks_store_fill_insert(ks_store_t *st, const ks_fill_rec_t *f);
int ks_store_position_put(ks_store_t *st, const ks_position_rec_t *p);
int ks_store_positions_foreach(ks_store_t *st, void (*cb)(void *ud, const ks_position_rec_t *p),
                               void *ud);
/* KS_EEXIST (and nothing written) when (strategy, venue, symbol, ts_ns) exists: a
 * settlement delivered twice is recorded once. */
int ks_store_funding_insert(ks_store_t *st, const ks_funding_rec_t *f);

/* Appends to the event journal: kind ("order.reject", "strategy.disabled", ...),
 * subject (strategy, order or venue name), detail (JSON text or NULL). */
int ks_store_event(ks_store_t *st, int64_t ts_ns, const char *kind, const char *subject,
                   const char *detail_json);

/* Strategy state blob (serialized ctx.state). KS_ENOENT when none; *out is
 * malloc'ed and NUL-terminated after len bytes, caller frees. */
int ks_store_state_get(ks_store_t *st, const char *strategy, char **out, size_t *len);
int ks_store_state_put(ks_store_t *st, const char *strategy, const char *data, size_t len);

/* Plugin key-value store, one namespace per plugin instance. kv_get copies at most cap
 * bytes and stores the full length in *len (like ks_host_api_t.kv_get); KS_ENOENT when
 * absent. */
int ks_store_kv_get(ks_store_t *st, const char *ns, const char *key, void *buf, size_t cap,
                    size_t *len);
int ks_store_kv_set(ks_store_t *st, const char *ns, const char *key, const void *val, size_t len);

/* Leg groups: one row per group, the legs and their orders as JSON text in data.
 * commit: make it durable now (before the group's first order leaves). */
int ks_store_leg_put(ks_store_t *st, const char *id, const char *strategy, int state,
                     const char *reason, const char *data, int64_t ts_ns, bool commit);
/* Every leg group, oldest first. The callback must not write to the store. */
int ks_store_legs_foreach(ks_store_t *st,
                          void (*cb)(void *ud, const char *id, const char *strategy, int state,
                                     const char *reason, const char *data),
                          void *ud);

/* Row counts, for summaries and tests: table is one of "orders", "fills", "positions",
 * "funding_payments", "strategy_state", "events", "plugin_kv", "meta"; any other name
 * is KS_EINVAL (names are never spliced into SQL). */
int64_t ks_store_count(ks_store_t *st, const char *table);

#endif
