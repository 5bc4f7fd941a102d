/* Persistent state in SQLite (see store.h): schema migrations, the write-ahead order
 * insert, and the batched transaction that ks_store_flush() commits.
 *
 * Schema (version 1). Decimals are TEXT in ks_dec_format() form ("65000.5",
 * "0.000000000000000001"), read back with ks_dec_parse(): exact both ways. Times are
 * INTEGER nanoseconds since the epoch. Enums are their SDK integer values.
 *
 *   meta(key TEXT PK, value TEXT)        created_by, created_schema
 *   orders(id INTEGER PK, cloid TEXT UNIQUE, strategy, venue, symbol, side, type, tif,
 *          reduce_only, price, qty, filled, avg_price, fee, status, venue_id, reject,
 *          reason, created_ns, updated_ns)
 *       orders_status(status)            recovery: the open orders
 *       orders_strategy(strategy, created_ns)
 *   fills(id INTEGER PK, venue, trade_id, cloid, strategy, symbol, side, maker, px, qty,
 *         fee, fee_asset, ts_ns, UNIQUE(venue, trade_id))
 *       fills_cloid(cloid), fills_strategy(strategy, ts_ns)
 *   positions(id INTEGER PK, strategy, venue, symbol, qty, avg_entry, realized_pnl, fees,
 *             funding, updated_ns, UNIQUE(strategy, venue, symbol))
 *   funding_payments(id INTEGER PK, strategy, venue, symbol, rate, qty, mark, amount,
 *                    ts_ns, UNIQUE(strategy, venue, symbol, ts_ns))
 *       funding_strategy(strategy, ts_ns)
 *   strategy_state(strategy TEXT PK, data BLOB)
 *   events(id INTEGER PK, ts_ns, kind, subject, detail)
 *       events_kind(kind, ts_ns)
 *   plugin_kv(ns, key, value BLOB, PK(ns, key))
 *
 * Every table with a history has an INTEGER PRIMARY KEY: it is the insertion order
 * ("oldest first") and survives VACUUM, which an implicit rowid does not. There are
 * no foreign keys on purpose: fills and funding are facts reported by a venue and
 * must be recorded even when they name an order this database never saw (a manual
 * trade, a database restored from an older copy); reconciliation sorts that out.
 *
 * Durability: WAL with synchronous=NORMAL survives a crash of the process (the case
 * write-ahead protects against); after an OS crash or power loss the last commits may
 * be rolled back, and reconciliation with the venue covers that window. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"

#define LOG_COMP "store"
/* Only another process (a backup, the sqlite3 shell) can make us wait for a lock; keep
 * the stall bounded, the loop must not hang on it. */
#define BUSY_TIMEOUT_MS 1000
#define FOREACH_CHUNK   64

/* Step i migrates schema version i to version i + 1; run in one transaction. Append
 * only: a released step never changes. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE orders("
    " id INTEGER PRIMARY KEY, cloid TEXT NOT NULL UNIQUE, strategy TEXT NOT NULL,"
    " venue TEXT NOT NULL, symbol TEXT NOT NULL, side INTEGER NOT NULL,"
    " type INTEGER NOT NULL, tif INTEGER NOT NULL, reduce_only INTEGER NOT NULL,"
    " price TEXT NOT NULL, qty TEXT NOT NULL, filled TEXT NOT NULL,"
    " avg_price TEXT NOT NULL, fee TEXT NOT NULL, status INTEGER NOT NULL,"
    " venue_id TEXT NOT NULL, reject INTEGER NOT NULL, reason TEXT NOT NULL,"
    " created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);"
    "CREATE INDEX orders_status ON orders(status);"
    "CREATE INDEX orders_strategy ON orders(strategy, created_ns);"
    "CREATE TABLE fills("
    " id INTEGER PRIMARY KEY, venue TEXT NOT NULL, trade_id TEXT NOT NULL,"
    " cloid TEXT NOT NULL, strategy TEXT NOT NULL, symbol TEXT NOT NULL,"
    " side INTEGER NOT NULL, maker INTEGER NOT NULL, px TEXT NOT NULL, qty TEXT NOT NULL,"
    " fee TEXT NOT NULL, fee_asset TEXT NOT NULL, ts_ns INTEGER NOT NULL,"
    " UNIQUE(venue, trade_id));"
    "CREATE INDEX fills_cloid ON fills(cloid);"
    "CREATE INDEX fills_strategy ON fills(strategy, ts_ns);"
    "CREATE TABLE positions("
    " id INTEGER PRIMARY KEY, strategy TEXT NOT NULL, venue TEXT NOT NULL,"
    " symbol TEXT NOT NULL, qty TEXT NOT NULL, avg_entry TEXT NOT NULL,"
    " realized_pnl TEXT NOT NULL, fees TEXT NOT NULL, funding TEXT NOT NULL,"
    " updated_ns INTEGER NOT NULL, UNIQUE(strategy, venue, symbol));"
    "CREATE TABLE funding_payments("
    " id INTEGER PRIMARY KEY, strategy TEXT NOT NULL, venue TEXT NOT NULL,"
    " symbol TEXT NOT NULL, rate TEXT NOT NULL, qty TEXT NOT NULL, mark TEXT NOT NULL,"
    " amount TEXT NOT NULL, ts_ns INTEGER NOT NULL,"
    " UNIQUE(strategy, venue, symbol, ts_ns));"
    "CREATE INDEX funding_strategy ON funding_payments(strategy, ts_ns);"
    "CREATE TABLE strategy_state(strategy TEXT PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE events("
    " id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT,"
    " detail TEXT);"
    "CREATE INDEX events_kind ON events(kind, ts_ns);"
    "CREATE TABLE plugin_kv(ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
    " PRIMARY KEY(ns, key)) WITHOUT ROWID;"
    "INSERT INTO meta(key, value) VALUES ('created_by', 'kestrel " KS_VERSION "'),"
    " ('created_schema', '1');",
    /* 1 -> 2: leg groups (hedges), each with its legs and their orders as JSON */
    "CREATE TABLE leg_groups("
    " id TEXT PRIMARY KEY, strategy TEXT NOT NULL, state INTEGER NOT NULL,"
    " reason TEXT NOT NULL, data TEXT NOT NULL, created_ns INTEGER NOT NULL,"
    " updated_ns INTEGER NOT NULL);"
    "CREATE INDEX leg_groups_state ON leg_groups(state);",
};
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == KS_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* The open-order filter below spells the non-final statuses as numbers. */
_Static_assert(KS_OS_NEW == 0 && KS_OS_SENT == 1 && KS_OS_ACKED == 2 && KS_OS_PARTIAL == 3 &&
                   KS_OS_UNKNOWN == 8 && KS_OS_COUNT == 9,
               "orders open filter matches ks_order_status_t");

#define ORDER_COLS                                                                                 \
    "cloid, strategy, venue, symbol, side, type, tif, reduce_only, price, qty, filled,"            \
    " avg_price, fee, status, venue_id, reject, reason, created_ns, updated_ns"
#define POSITION_COLS                                                                              \
    "strategy, venue, symbol, qty, avg_entry, realized_pnl, fees, funding, updated_ns"

/* The tables ks_store_count() accepts; the name is never spliced from caller input. */
static const char *const count_tables[] = {
    "orders", "fills",     "positions", "funding_payments", "strategy_state",
    "events", "plugin_kv", "meta",      "leg_groups",
};
#define N_COUNT_TABLES ((int)(sizeof(count_tables) / sizeof(count_tables[0])))

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_ORDER_INSERT,
    S_ORDER_UPDATE,
    S_ORDER_GET,
    S_ORDERS_ALL,
    S_ORDERS_OPEN,
    S_FILL_INSERT,
    S_FILL_IDS,
    S_POSITION_PUT,
    S_POSITIONS_ALL,
    S_FUNDING_INSERT,
    S_EVENT_INSERT,
    S_STATE_GET,
    S_STATE_PUT,
    S_KV_GET,
    S_KV_SET,
    S_LEG_PUT,
    S_LEGS_ALL,
    S_COUNT_FIRST,
    S_N = S_COUNT_FIRST + N_COUNT_TABLES,
};

static const char *const stmt_sql[S_COUNT_FIRST] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_SAVEPOINT] = "SAVEPOINT ks_write_ahead",
    [S_RELEASE] = "RELEASE ks_write_ahead",
    [S_ROLLBACK_TO] = "ROLLBACK TO ks_write_ahead",
    [S_ORDER_INSERT] = "INSERT INTO orders(" ORDER_COLS ") VALUES "
                       "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
                       " ON CONFLICT DO NOTHING",
    [S_ORDER_UPDATE] = "UPDATE orders SET filled = ?11, avg_price = ?12, fee = ?13,"
                       " status = ?14, venue_id = ?15, reject = ?16, reason = ?17,"
                       " updated_ns = ?19 WHERE cloid = ?1",
    [S_ORDER_GET] = "SELECT " ORDER_COLS ", id FROM orders WHERE cloid = ?1",
    [S_FILL_IDS] = "SELECT trade_id FROM fills WHERE cloid = ?1 ORDER BY id",
    [S_ORDERS_ALL] = "SELECT " ORDER_COLS ", id FROM orders WHERE id > ?1 ORDER BY id LIMIT ?2",
    [S_ORDERS_OPEN] = "SELECT " ORDER_COLS ", id FROM orders"
                      " WHERE status IN (0, 1, 2, 3, 8) AND id > ?1 ORDER BY id LIMIT ?2",
    [S_FILL_INSERT] = "INSERT INTO fills(venue, trade_id, cloid, strategy, symbol, side, maker,"
                      " px, qty, fee, fee_asset, ts_ns) VALUES"
                      " (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) ON CONFLICT DO NOTHING",
    [S_POSITION_PUT] = "INSERT INTO positions(" POSITION_COLS ") VALUES"
                       " (?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(strategy, venue, symbol)"
                       " DO UPDATE SET qty = excluded.qty, avg_entry = excluded.avg_entry,"
                       " realized_pnl = excluded.realized_pnl, fees = excluded.fees,"
                       " funding = excluded.funding, updated_ns = excluded.updated_ns",
    [S_POSITIONS_ALL] = "SELECT " POSITION_COLS ", id FROM positions WHERE id > ?1"
                        " ORDER BY id LIMIT ?2",
    [S_FUNDING_INSERT] = "INSERT INTO funding_payments(strategy, venue, symbol, rate, qty, mark,"
                         " amount, ts_ns) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"
                         " ON CONFLICT DO NOTHING",
    [S_EVENT_INSERT] = "INSERT INTO events(ts_ns, kind, subject, detail) VALUES (?1,?2,?3,?4)",
    [S_STATE_GET] = "SELECT data FROM strategy_state WHERE strategy = ?1",
    [S_STATE_PUT] = "INSERT INTO strategy_state(strategy, data) VALUES (?1, ?2)"
                    " ON CONFLICT(strategy) DO UPDATE SET data = excluded.data",
    [S_KV_GET] = "SELECT value FROM plugin_kv WHERE ns = ?1 AND key = ?2",
    [S_LEG_PUT] =
        "INSERT INTO leg_groups(id, strategy, state, reason, data, created_ns, updated_ns)"
        " VALUES (?1,?2,?3,?4,?5,?6,?6) ON CONFLICT(id) DO UPDATE SET"
        " state = excluded.state, reason = excluded.reason, data = excluded.data,"
        " updated_ns = excluded.updated_ns",
    [S_LEGS_ALL] = "SELECT id, strategy, state, reason, data FROM leg_groups ORDER BY rowid",
    [S_KV_SET] = "INSERT INTO plugin_kv(ns, key, value) VALUES (?1, ?2, ?3)"
                 " ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value",
};

/* Decimal parameters are formatted into these and bound SQLITE_STATIC: no copy. The
 * largest statement binds 5 decimals. */
#define DEC_SLOTS 5

struct ks_store {
    sqlite3 *db;
    char *path;
    int opened_version;
    sqlite3_stmt *stmt[S_N];
    char dec[DEC_SLOTS][KS_DEC_STRLEN];
    bool simulation; /* backtest: order inserts ride in the batch (nothing leaves) */
};

/* ---- helpers -------------------------------------------------------------------- */

static int db_error(ks_store_t *st, const char *what)
{
    ks_log_error(LOG_COMP, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
    return KS_EIO;
}

/* Length of a fixed-size text field, which need not be NUL-terminated. */
#define FIELD_LEN(f) ((int)strnlen((f), sizeof(f)))

static void bind_field(sqlite3_stmt *s, int i, const char *f, int len)
{
    sqlite3_bind_text(s, i, f, len, SQLITE_STATIC);
}
#define BIND_FIELD(s, i, f) bind_field((s), (i), (f), FIELD_LEN(f))

static void bind_str(sqlite3_stmt *s, int i, const char *str)
{
    if (str)
        sqlite3_bind_text(s, i, str, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static int bind_dec(ks_store_t *st, sqlite3_stmt *s, int i, int slot, ks_dec_t d)
{
    int n = ks_dec_format(d, st->dec[slot], sizeof(st->dec[slot]));
    if (n < 0)
        return n;
    sqlite3_bind_text(s, i, st->dec[slot], n, SQLITE_STATIC);
    return KS_OK;
}

static void column_str(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    ks_strlcpy(dst, t ? t : "", cap);
}

/* Reads a decimal column; a value that does not parse means the file was edited or
 * damaged outside kestrel. */
static int column_dec(ks_store_t *st, sqlite3_stmt *s, int i, ks_dec_t *out)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    int rc = t ? ks_dec_parse(t, (size_t)sqlite3_column_bytes(s, i), out) : KS_EINVAL;
    if (rc != KS_OK) {
        ks_log_error(LOG_COMP, "%s: column %s holds \"%s\", not a decimal", st->path,
                     sqlite3_column_name(s, i), t ? t : "NULL");
        return KS_EPROTO;
    }
    return KS_OK;
}

/* Steps a statement that returns no rows, then resets it. */
static int step_done(ks_store_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? KS_OK : db_error(st, what);
    sqlite3_reset(s);
    return ret;
}

/* Opens the batch transaction if none is open. */
static int batch_begin(ks_store_t *st)
{
    if (!sqlite3_get_autocommit(st->db))
        return KS_OK;
    return step_done(st, st->stmt[S_BEGIN], "begin");
}

/* A failed COMMIT either leaves the transaction open (SQLITE_BUSY: flush again later)
 * or has SQLite roll it back (I/O error, disk full); the log line says which. */
static int batch_commit(ks_store_t *st)
{
    sqlite3_stmt *s = st->stmt[S_COMMIT];
    int rc;

    if (sqlite3_get_autocommit(st->db))
        return KS_OK;
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        ks_log_error(LOG_COMP, "%s: commit: %s (%s)", st->path, sqlite3_errmsg(st->db),
                     sqlite3_get_autocommit(st->db) ? "the pending batch was rolled back"
                                                    : "the batch is still pending");
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? KS_OK : KS_EIO;
}

/* Runs a bound write inside the batch. `dedup`: a statement that does nothing on a
 * uniqueness conflict, reported as KS_EEXIST. */
static int batch_write(ks_store_t *st, sqlite3_stmt *s, bool dedup, const char *what)
{
    int rc = step_done(st, s, what);
    if (rc == KS_OK && dedup && sqlite3_changes(st->db) == 0)
        return KS_EEXIST;
    return rc;
}

/* ---- open, migrate, close -------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Sets WAL mode; the pragma answers with the mode actually in effect. */
static int set_wal(sqlite3 *db, char *mode, size_t cap)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(s, 0);
        ks_strlcpy(mode, m ? m : "", cap);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

static int migrate(ks_store_t *st, char *err, size_t err_len)
{
    char *msg = NULL;
    char sql[64];
    int v = st->opened_version;

    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    /* Read again under the write lock: another process may have migrated meanwhile. */
    if (pragma_int(st->db, "PRAGMA user_version", &v) != SQLITE_OK)
        goto fail;
    for (; v < KS_STORE_SCHEMA_VERSION; v++)
        if (sqlite3_exec(st->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
            goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", KS_STORE_SCHEMA_VERSION);
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    if (st->opened_version > 0)
        ks_log_info(LOG_COMP, "%s: migrated the schema from v%d to v%d", st->path,
                    st->opened_version, KS_STORE_SCHEMA_VERSION);
    return KS_OK;

fail:
    snprintf(err, err_len, "%s: migrating the schema from v%d to v%d failed: %s", st->path, v,
             KS_STORE_SCHEMA_VERSION, msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return KS_EIO;
}

static int prepare_all(ks_store_t *st, char *err, size_t err_len)
{
    char sql[96];
    for (int i = 0; i < S_N; i++) {
        const char *text = i < S_COUNT_FIRST ? stmt_sql[i] : sql;
        if (i >= S_COUNT_FIRST)
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", count_tables[i - S_COUNT_FIRST]);
        if (sqlite3_prepare_v3(st->db, text, -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, err_len, "%s: preparing \"%s\" failed: %s", st->path, text,
                     sqlite3_errmsg(st->db));
            return KS_EIO;
        }
    }
    return KS_OK;
}

ks_store_t *ks_store_open(const char *path, char *err, size_t err_len)
{
    ks_store_t *st;
    char mode[16];
    char dummy[1];

    if (!err || !err_len) {
        err = dummy;
        err_len = sizeof(dummy);
    }
    err[0] = '\0';
    if (!path || !*path) {
        snprintf(err, err_len, "store: no database path given");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (!st || !(st->path = strdup(path))) {
        snprintf(err, err_len, "%s: out of memory", path);
        goto fail;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot open: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);

    /* Check the version before changing anything in a file we may not understand. */
    if (pragma_int(st->db, "PRAGMA user_version", &st->opened_version) != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot read the schema version: %s", path,
                 sqlite3_errmsg(st->db));
        goto fail;
    }
    if (st->opened_version > KS_STORE_SCHEMA_VERSION) {
        snprintf(err, err_len,
                 "%s: schema version %d is newer than this build supports (%d); "
                 "use a newer kestrel",
                 path, st->opened_version, KS_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (st->opened_version < 0) {
        snprintf(err, err_len, "%s: invalid schema version %d", path, st->opened_version);
        goto fail;
    }

    if (set_wal(st->db, mode, sizeof(mode)) != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot enable WAL mode: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        snprintf(err, err_len, "%s: cannot enable WAL mode (journal mode stays \"%s\")", path,
                 mode);
        goto fail;
    }
    if (sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot set synchronous=NORMAL: %s", path,
                 sqlite3_errmsg(st->db));
        goto fail;
    }
    if (st->opened_version < KS_STORE_SCHEMA_VERSION && migrate(st, err, err_len) != KS_OK)
        goto fail;
    if (prepare_all(st, err, err_len) != KS_OK)
        goto fail;
    return st;

fail:
    if (st) {
        for (int i = 0; i < S_N; i++)
            sqlite3_finalize(st->stmt[i]);
        sqlite3_close(st->db);
        free(st->path);
        free(st);
    }
    return NULL;
}

void ks_store_close(ks_store_t *st)
{
    if (!st)
        return;
    ks_store_flush(st);
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_exec(st->db, "PRAGMA optimize", NULL, NULL, NULL);
    if (sqlite3_close(st->db) != SQLITE_OK)
        db_error(st, "close");
    free(st->path);
    free(st);
}

int ks_store_opened_version(const ks_store_t *st)
{
    return st ? st->opened_version : KS_EINVAL;
}

int ks_store_flush(ks_store_t *st)
{
    if (!st)
        return KS_EINVAL;
    return batch_commit(st);
}

/* ---- orders ------------------------------------------------------------------------ */

/* Binds all 19 order columns (?1..?19, ORDER_COLS order). */
static int bind_order(ks_store_t *st, sqlite3_stmt *s, const ks_order_rec_t *o)
{
    int rc;
    BIND_FIELD(s, 1, o->cloid);
    BIND_FIELD(s, 2, o->strategy);
    BIND_FIELD(s, 3, o->venue);
    BIND_FIELD(s, 4, o->symbol);
    sqlite3_bind_int(s, 5, o->side);
    sqlite3_bind_int(s, 6, o->type);
    sqlite3_bind_int(s, 7, o->tif);
    sqlite3_bind_int(s, 8, o->reduce_only);
    if ((rc = bind_dec(st, s, 9, 0, o->price)) || (rc = bind_dec(st, s, 10, 1, o->qty)) ||
        (rc = bind_dec(st, s, 11, 2, o->filled)) || (rc = bind_dec(st, s, 12, 3, o->avg_price)) ||
        (rc = bind_dec(st, s, 13, 4, o->fee))) {
        ks_log_error(LOG_COMP, "order %.*s: a decimal field cannot be formatted",
                     FIELD_LEN(o->cloid), o->cloid);
        return rc;
    }
    sqlite3_bind_int(s, 14, o->status);
    BIND_FIELD(s, 15, o->venue_id);
    sqlite3_bind_int(s, 16, o->reject);
    BIND_FIELD(s, 17, o->reason);
    sqlite3_bind_int64(s, 18, o->created_ns);
    sqlite3_bind_int64(s, 19, o->updated_ns);
    return KS_OK;
}

static int read_order(ks_store_t *st, sqlite3_stmt *s, ks_order_rec_t *o)
{
    memset(o, 0, sizeof(*o));
    column_str(s, 0, o->cloid, sizeof(o->cloid));
    column_str(s, 1, o->strategy, sizeof(o->strategy));
    column_str(s, 2, o->venue, sizeof(o->venue));
    column_str(s, 3, o->symbol, sizeof(o->symbol));
    o->side = (int8_t)sqlite3_column_int(s, 4);
    o->type = (uint8_t)sqlite3_column_int(s, 5);
    o->tif = (uint8_t)sqlite3_column_int(s, 6);
    o->reduce_only = sqlite3_column_int(s, 7) != 0;
    if (column_dec(st, s, 8, &o->price) || column_dec(st, s, 9, &o->qty) ||
        column_dec(st, s, 10, &o->filled) || column_dec(st, s, 11, &o->avg_price) ||
        column_dec(st, s, 12, &o->fee))
        return KS_EPROTO;
    o->status = (uint8_t)sqlite3_column_int(s, 13);
    column_str(s, 14, o->venue_id, sizeof(o->venue_id));
    o->reject = sqlite3_column_int(s, 15);
    column_str(s, 16, o->reason, sizeof(o->reason));
    o->created_ns = sqlite3_column_int64(s, 17);
    o->updated_ns = sqlite3_column_int64(s, 18);
    return KS_OK;
}

/* Takes back the write-ahead insert and keeps the rest of the batch pending. */
static void write_ahead_undo(ks_store_t *st)
{
    if (sqlite3_get_autocommit(st->db))
        return; /* SQLite already rolled the whole transaction back */
    step_done(st, st->stmt[S_ROLLBACK_TO], "rollback to savepoint");
    step_done(st, st->stmt[S_RELEASE], "release savepoint");
}

/* The insert runs inside a savepoint so that a failed commit can take back just this
 * order: KS_OK means on disk; anything else means not stored, and the caller must not
 * send. */
int ks_store_order_insert(ks_store_t *st, const ks_order_rec_t *o)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !o || !o->cloid[0])
        return KS_EINVAL;
    s = st->stmt[S_ORDER_INSERT];
    if ((rc = bind_order(st, s, o)) != KS_OK)
        return rc;
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    if ((rc = step_done(st, st->stmt[S_SAVEPOINT], "savepoint")) != KS_OK)
        return rc;
    rc = step_done(st, s, "order insert");
    if (rc == KS_OK && sqlite3_changes(st->db) == 0)
        rc = KS_EEXIST;
    if (rc == KS_OK && !st->simulation)
        rc = batch_commit(st);
    else if (rc == KS_OK)
        rc = step_done(st, st->stmt[S_RELEASE], "release");
    if (rc != KS_OK)
        write_ahead_undo(st);
    return rc;
}

void ks_store_set_simulation(ks_store_t *st, bool on)
{
    st->simulation = on;
    /* Nothing in a simulation is worth an fsync: the venue lives in this process. */
    sqlite3_exec(st->db, on ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=NORMAL", NULL, NULL,
                 NULL);
}

int ks_store_order_update(ks_store_t *st, const ks_order_rec_t *o)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !o || !o->cloid[0])
        return KS_EINVAL;
    s = st->stmt[S_ORDER_UPDATE];
    if ((rc = bind_order(st, s, o)) != KS_OK)
        return rc;
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    if ((rc = step_done(st, s, "order update")) != KS_OK)
        return rc;
    return sqlite3_changes(st->db) == 0 ? KS_ENOENT : KS_OK;
}

int ks_store_order_get(ks_store_t *st, const char *cloid, ks_order_rec_t *out)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !cloid || !out)
        return KS_EINVAL;
    s = st->stmt[S_ORDER_GET];
    bind_str(s, 1, cloid);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = read_order(st, s, out);
    else if (rc == SQLITE_DONE)
        rc = KS_ENOENT;
    else
        rc = db_error(st, "order get");
    sqlite3_reset(s);
    return rc;
}

int ks_store_fill_ids(ks_store_t *st, const char *cloid, void (*cb)(void *ud, const char *trade_id),
                      void *ud)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !cloid)
        return KS_EINVAL;
    s = st->stmt[S_FILL_IDS];
    bind_str(s, 1, cloid);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb(ud, (const char *)sqlite3_column_text(s, 0));
    rc = rc == SQLITE_DONE ? KS_OK : db_error(st, "fill ids");
    sqlite3_reset(s);
    return rc;
}

/* Rows are read in chunks keyed by id and the statement is reset before any callback
 * runs, so a callback may write to the store (recovery marks orders UNKNOWN while it
 * walks them) without disturbing the walk. */
typedef int (*read_row_fn)(ks_store_t *st, sqlite3_stmt *s, void *rec);
typedef void (*emit_row_fn)(void *walk, const void *rec);

static int foreach_chunked(ks_store_t *st, enum stmt_id id, size_t rec_size, int id_col,
                           read_row_fn read_row, emit_row_fn emit, void *walk)
{
    char *buf = malloc(rec_size * FOREACH_CHUNK);
    sqlite3_stmt *s = st->stmt[id];
    int64_t last = 0;
    int rc = KS_OK;

    if (!buf)
        return KS_ENOMEM;
    for (;;) {
        int n = 0;
        sqlite3_bind_int64(s, 1, last);
        sqlite3_bind_int(s, 2, FOREACH_CHUNK);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if ((rc = read_row(st, s, buf + rec_size * (size_t)n)) != KS_OK)
                break;
            last = sqlite3_column_int64(s, id_col);
            n++;
        }
        if (rc == SQLITE_DONE)
            rc = KS_OK;
        else if (rc != KS_EPROTO)
            rc = db_error(st, "foreach");
        sqlite3_reset(s);
        if (rc != KS_OK)
            break;
        for (int i = 0; i < n; i++)
            emit(walk, buf + rec_size * (size_t)i);
        if (n < FOREACH_CHUNK)
            break;
    }
    free(buf);
    return rc;
}

struct order_walk {
    void (*cb)(void *ud, const ks_order_rec_t *o);
    void *ud;
};

static int read_order_row(ks_store_t *st, sqlite3_stmt *s, void *rec)
{
    return read_order(st, s, rec);
}

static void emit_order(void *walk, const void *rec)
{
    struct order_walk *w = walk;
    w->cb(w->ud, rec);
}

int ks_store_orders_foreach(ks_store_t *st, bool only_open,
                            void (*cb)(void *ud, const ks_order_rec_t *o), void *ud)
{
    struct order_walk w = {cb, ud};
    if (!st || !cb)
        return KS_EINVAL;
    return foreach_chunked(st, only_open ? S_ORDERS_OPEN : S_ORDERS_ALL, sizeof(ks_order_rec_t), 19,
                           read_order_row, emit_order, &w);
}

/* ---- fills, positions, funding ------------------------------------------------------ */

int ks_store_fill_insert(ks_store_t *st, const ks_fill_rec_t *f)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !f || !f->venue[0] || !f->trade_id[0])
        return KS_EINVAL;
    s = st->stmt[S_FILL_INSERT];
    BIND_FIELD(s, 1, f->venue);
    BIND_FIELD(s, 2, f->trade_id);
    BIND_FIELD(s, 3, f->cloid);
    BIND_FIELD(s, 4, f->strategy);
    BIND_FIELD(s, 5, f->symbol);
    sqlite3_bind_int(s, 6, f->side);
    sqlite3_bind_int(s, 7, f->maker);
    if ((rc = bind_dec(st, s, 8, 0, f->px)) || (rc = bind_dec(st, s, 9, 1, f->qty)) ||
        (rc = bind_dec(st, s, 10, 2, f->fee))) {
        ks_log_error(LOG_COMP, "fill %.*s: a decimal field cannot be formatted",
                     FIELD_LEN(f->trade_id), f->trade_id);
        return rc;
    }
    BIND_FIELD(s, 11, f->fee_asset);
    sqlite3_bind_int64(s, 12, f->ts_ns);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    return batch_write(st, s, true, "fill insert");
}

int ks_store_position_put(ks_store_t *st, const ks_position_rec_t *p)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !p || !p->strategy[0] || !p->venue[0] || !p->symbol[0])
        return KS_EINVAL;
    s = st->stmt[S_POSITION_PUT];
    BIND_FIELD(s, 1, p->strategy);
    BIND_FIELD(s, 2, p->venue);
    BIND_FIELD(s, 3, p->symbol);
    if ((rc = bind_dec(st, s, 4, 0, p->qty)) || (rc = bind_dec(st, s, 5, 1, p->avg_entry)) ||
        (rc = bind_dec(st, s, 6, 2, p->realized_pnl)) || (rc = bind_dec(st, s, 7, 3, p->fees)) ||
        (rc = bind_dec(st, s, 8, 4, p->funding))) {
        ks_log_error(LOG_COMP, "position %.*s: a decimal field cannot be formatted",
                     FIELD_LEN(p->symbol), p->symbol);
        return rc;
    }
    sqlite3_bind_int64(s, 9, p->updated_ns);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    return batch_write(st, s, false, "position put");
}

static int read_position_row(ks_store_t *st, sqlite3_stmt *s, void *rec)
{
    ks_position_rec_t *p = rec;
    memset(p, 0, sizeof(*p));
    column_str(s, 0, p->strategy, sizeof(p->strategy));
    column_str(s, 1, p->venue, sizeof(p->venue));
    column_str(s, 2, p->symbol, sizeof(p->symbol));
    if (column_dec(st, s, 3, &p->qty) || column_dec(st, s, 4, &p->avg_entry) ||
        column_dec(st, s, 5, &p->realized_pnl) || column_dec(st, s, 6, &p->fees) ||
        column_dec(st, s, 7, &p->funding))
        return KS_EPROTO;
    p->updated_ns = sqlite3_column_int64(s, 8);
    return KS_OK;
}

struct position_walk {
    void (*cb)(void *ud, const ks_position_rec_t *p);
    void *ud;
};

static void emit_position(void *walk, const void *rec)
{
    struct position_walk *w = walk;
    w->cb(w->ud, rec);
}

int ks_store_positions_foreach(ks_store_t *st, void (*cb)(void *ud, const ks_position_rec_t *p),
                               void *ud)
{
    struct position_walk w = {cb, ud};
    if (!st || !cb)
        return KS_EINVAL;
    return foreach_chunked(st, S_POSITIONS_ALL, sizeof(ks_position_rec_t), 9, read_position_row,
                           emit_position, &w);
}

int ks_store_funding_insert(ks_store_t *st, const ks_funding_rec_t *f)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !f || !f->venue[0] || !f->symbol[0])
        return KS_EINVAL;
    s = st->stmt[S_FUNDING_INSERT];
    BIND_FIELD(s, 1, f->strategy);
    BIND_FIELD(s, 2, f->venue);
    BIND_FIELD(s, 3, f->symbol);
    if ((rc = bind_dec(st, s, 4, 0, f->rate)) || (rc = bind_dec(st, s, 5, 1, f->qty)) ||
        (rc = bind_dec(st, s, 6, 2, f->mark)) || (rc = bind_dec(st, s, 7, 3, f->amount))) {
        ks_log_error(LOG_COMP, "funding %.*s: a decimal field cannot be formatted",
                     FIELD_LEN(f->symbol), f->symbol);
        return rc;
    }
    sqlite3_bind_int64(s, 8, f->ts_ns);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    return batch_write(st, s, true, "funding insert");
}

/* ---- events, strategy state, plugin key-values -------------------------------------- */

int ks_store_event(ks_store_t *st, int64_t ts_ns, const char *kind, const char *subject,
                   const char *detail_json)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !kind || !*kind)
        return KS_EINVAL;
    s = st->stmt[S_EVENT_INSERT];
    sqlite3_bind_int64(s, 1, ts_ns);
    bind_str(s, 2, kind);
    bind_str(s, 3, subject);
    bind_str(s, 4, detail_json);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    return batch_write(st, s, false, "event insert");
}

/* Binds a blob; a NULL or empty value is stored as an empty blob, never as NULL. */
static void bind_blob(sqlite3_stmt *s, int i, const void *data, size_t len)
{
    sqlite3_bind_blob64(s, i, len ? data : "", len, SQLITE_STATIC);
}

int ks_store_state_get(ks_store_t *st, const char *strategy, char **out, size_t *len)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !strategy || !out)
        return KS_EINVAL;
    *out = NULL;
    if (len)
        *len = 0;
    s = st->stmt[S_STATE_GET];
    bind_str(s, 1, strategy);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        char *copy = malloc(n + 1);
        if (copy) {
            if (n)
                memcpy(copy, data, n);
            copy[n] = '\0';
            *out = copy;
            if (len)
                *len = n;
            rc = KS_OK;
        } else {
            rc = KS_ENOMEM;
        }
    } else if (rc == SQLITE_DONE) {
        rc = KS_ENOENT;
    } else {
        rc = db_error(st, "state get");
    }
    sqlite3_reset(s);
    return rc;
}

int ks_store_state_put(ks_store_t *st, const char *strategy, const char *data, size_t len)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !strategy || !*strategy || (!data && len))
        return KS_EINVAL;
    s = st->stmt[S_STATE_PUT];
    bind_str(s, 1, strategy);
    bind_blob(s, 2, data, len);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    return batch_write(st, s, false, "state put");
}

int ks_store_kv_get(ks_store_t *st, const char *ns, const char *key, void *buf, size_t cap,
                    size_t *len)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !ns || !key || (!buf && cap))
        return KS_EINVAL;
    s = st->stmt[S_KV_GET];
    bind_str(s, 1, ns);
    bind_str(s, 2, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        if (n && cap)
            memcpy(buf, data, n < cap ? n : cap);
        if (len)
            *len = n;
        rc = KS_OK;
    } else if (rc == SQLITE_DONE) {
        rc = KS_ENOENT;
    } else {
        rc = db_error(st, "kv get");
    }
    sqlite3_reset(s);
    return rc;
}

int ks_store_kv_set(ks_store_t *st, const char *ns, const char *key, const void *val, size_t len)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !ns || !key || !*key || (!val && len))
        return KS_EINVAL;
    s = st->stmt[S_KV_SET];
    bind_str(s, 1, ns);
    bind_str(s, 2, key);
    bind_blob(s, 3, val, len);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    return batch_write(st, s, false, "kv set");
}

int ks_store_leg_put(ks_store_t *st, const char *id, const char *strategy, int state,
                     const char *reason, const char *data, int64_t ts_ns, bool commit)
{
    sqlite3_stmt *s;
    int rc;

    if (!st || !id || !strategy || !data)
        return KS_EINVAL;
    s = st->stmt[S_LEG_PUT];
    bind_str(s, 1, id);
    bind_str(s, 2, strategy);
    sqlite3_bind_int(s, 3, state);
    bind_str(s, 4, reason ? reason : "");
    bind_str(s, 5, data);
    sqlite3_bind_int64(s, 6, ts_ns);
    if ((rc = batch_begin(st)) != KS_OK)
        return rc;
    if ((rc = batch_write(st, s, false, "leg group put")) != KS_OK)
        return rc;
    return commit && !st->simulation ? ks_store_flush(st) : KS_OK;
}

int ks_store_legs_foreach(ks_store_t *st,
                          void (*cb)(void *ud, const char *id, const char *strategy, int state,
                                     const char *reason, const char *data),
                          void *ud)
{
    sqlite3_stmt *s = st->stmt[S_LEGS_ALL];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb(ud, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           sqlite3_column_int(s, 2), (const char *)sqlite3_column_text(s, 3),
           (const char *)sqlite3_column_text(s, 4));
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? KS_OK : db_error(st, "leg groups");
}

int64_t ks_store_count(ks_store_t *st, const char *table)
{
    sqlite3_stmt *s = NULL;
    int64_t n;

    if (!st || !table)
        return KS_EINVAL;
    for (int i = 0; i < N_COUNT_TABLES; i++)
        if (strcmp(table, count_tables[i]) == 0)
            s = st->stmt[S_COUNT_FIRST + i];
    if (!s) {
        ks_log_error(LOG_COMP, "count: unknown table \"%s\"", table);
        return KS_EINVAL;
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        n = db_error(st, "count");
    sqlite3_reset(s);
    return n;
}
