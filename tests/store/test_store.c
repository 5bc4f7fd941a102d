/* The SQLite store: schema creation and migration, the write-ahead order insert versus
 * the batched writes, deduplication, exact decimal round trips and the table walks.
 * A second, independent sqlite3 connection plays the part of "what is on disk". */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"

typedef struct fixture {
    char dir[64];
    char db[128];
    ks_store_t *st;
} fixture_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ks_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/kestrel.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ks_store_close(f->st);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static ks_store_t *open_store(fixture_t *f)
{
    char err[256] = "";
    ks_store_t *st = ks_store_open(f->db, err, sizeof(err));
    if (!st)
        fail_msg("ks_store_open(%s): %s", f->db, err);
    return st;
}

/* Runs sql on a fresh connection to path; returns the first column of the first row as
 * text ("" when there is no row). */
static const char *peek(const char *path, const char *sql)
{
    static char out[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("peek %s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        snprintf(out, sizeof(out), "%s", t ? t : "NULL");
    } else if (rc != SQLITE_DONE) {
        fail_msg("peek %s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

/* Runs sql (no result) on a fresh read-write connection. */
static void poke(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("poke %s: %s", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_close(db);
}

static ks_dec_t D(const char *s)
{
    ks_dec_t d;
    if (ks_dec_parse(s, (size_t)-1, &d) != KS_OK)
        fail_msg("bad decimal %s", s);
    return d;
}

static const char *F(ks_dec_t d)
{
    static char buf[8][KS_DEC_STRLEN];
    static int i;
    i = (i + 1) % 8;
    ks_dec_format(d, buf[i], sizeof(buf[i]));
    return buf[i];
}

static ks_order_rec_t make_order(const char *cloid, int status)
{
    ks_order_rec_t o;
    memset(&o, 0, sizeof(o));
    ks_strlcpy(o.cloid, cloid, sizeof(o.cloid));
    ks_strlcpy(o.strategy, "carry", sizeof(o.strategy));
    ks_strlcpy(o.venue, "sim", sizeof(o.venue));
    ks_strlcpy(o.symbol, "BTC/USDT:USDT", sizeof(o.symbol));
    o.side = KS_SIDE_BUY;
    o.type = KS_ORD_LIMIT;
    o.tif = KS_TIF_GTC;
    o.price = D("65000.5");
    o.qty = D("0.001");
    o.status = (uint8_t)status;
    o.created_ns = o.updated_ns = 1767225600000000000;
    return o;
}

/* ---- schema ------------------------------------------------------------------------ */

static void fresh_open_creates_schema_at_current_version_in_wal_mode(void **state)
{
    fixture_t *f = *state;
    f->st = open_store(f);
    assert_int_equal(ks_store_opened_version(f->st), 0);
    assert_int_equal(atoi(peek(f->db, "PRAGMA user_version")), KS_STORE_SCHEMA_VERSION);
    assert_string_equal(peek(f->db, "PRAGMA journal_mode"), "wal");
    const char *tables[] = {"orders",           "fills",  "positions", "strategy_state",
                            "funding_payments", "events", "plugin_kv", "meta"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT name FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        assert_string_equal(peek(f->db, sql), tables[i]);
        assert_int_equal(ks_store_count(f->st, tables[i]), tables[i][0] == 'm' ? 2 : 0);
    }
    const char *indexes[] = {"orders_status", "fills_cloid", "fills_strategy", "events_kind"};
    for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT name FROM sqlite_master WHERE type='index' AND name='%s'", indexes[i]);
        assert_string_equal(peek(f->db, sql), indexes[i]);
    }
}

static void reopen_keeps_data_and_reports_the_version_found(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW), got;
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    assert_int_equal(ks_store_state_put(f->st, "carry", "{\"n\":1}", 7), KS_OK);
    ks_store_close(f->st);

    f->st = open_store(f);
    assert_int_equal(ks_store_opened_version(f->st), KS_STORE_SCHEMA_VERSION);
    assert_int_equal(ks_store_order_get(f->st, "carry-1", &got), KS_OK);
    assert_string_equal(got.cloid, "carry-1");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(ks_store_state_get(f->st, "carry", &data, &len), KS_OK);
    assert_string_equal(data, "{\"n\":1}");
    free(data);
}

static void version_zero_database_without_tables_is_migrated(void **state)
{
    fixture_t *f = *state;
    poke(f->db, "CREATE TABLE scratch(a); DROP TABLE scratch;");
    assert_string_equal(peek(f->db, "PRAGMA user_version"), "0");
    f->st = open_store(f);
    assert_int_equal(ks_store_opened_version(f->st), 0);
    assert_int_equal(atoi(peek(f->db, "PRAGMA user_version")), KS_STORE_SCHEMA_VERSION);
    assert_int_equal(ks_store_count(f->st, "orders"), 0);
}

static void newer_schema_version_is_refused_and_left_untouched(void **state)
{
    fixture_t *f = *state;
    char err[256], want[256];
    char newer[32];
    snprintf(newer, sizeof(newer), "PRAGMA user_version = %d", KS_STORE_SCHEMA_VERSION + 1);
    poke(f->db, newer);
    assert_null(ks_store_open(f->db, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s: schema version %d is newer than this build supports (%d); use a newer kestrel",
             f->db, KS_STORE_SCHEMA_VERSION + 1, KS_STORE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    snprintf(newer, sizeof(newer), "%d", KS_STORE_SCHEMA_VERSION + 1);
    assert_string_equal(peek(f->db, "PRAGMA user_version"), newer);
    assert_string_equal(peek(f->db, "PRAGMA journal_mode"), "delete");
}

static void file_that_is_not_a_database_is_refused(void **state)
{
    fixture_t *f = *state;
    char err[256], want[256];
    FILE *fp = fopen(f->db, "w");
    assert_non_null(fp);
    fputs("this is not a database, it is a sentence long enough to fill a header.......\n"
          "and another line to make it look like a real file of some size................\n",
          fp);
    fclose(fp);
    assert_null(ks_store_open(f->db, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: cannot read the schema version: file is not a database",
             f->db);
    assert_string_equal(err, want);
}

/* ---- write-ahead versus batch ---------------------------------------------------- */

static void order_insert_is_on_disk_before_it_returns(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW);
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    assert_string_equal(peek(f->db, "SELECT count(*) FROM orders WHERE cloid = 'carry-1'"), "1");
}

static void order_insert_also_commits_the_pending_batch(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW);
    f->st = open_store(f);
    assert_int_equal(ks_store_event(f->st, 1, "strategy.started", "carry", NULL), KS_OK);
    assert_string_equal(peek(f->db, "SELECT count(*) FROM events"), "0");
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    assert_string_equal(peek(f->db, "SELECT count(*) FROM events"), "1");
}

static void order_update_is_invisible_until_flush(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW);
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    o.status = KS_OS_ACKED;
    ks_strlcpy(o.venue_id, "V-1", sizeof(o.venue_id));
    assert_int_equal(ks_store_order_update(f->st, &o), KS_OK);
    assert_string_equal(peek(f->db, "SELECT status FROM orders WHERE cloid = 'carry-1'"), "0");
    assert_int_equal(ks_store_flush(f->st), KS_OK);
    assert_string_equal(peek(f->db, "SELECT status FROM orders WHERE cloid = 'carry-1'"), "2");
    assert_string_equal(peek(f->db, "SELECT venue_id FROM orders WHERE cloid = 'carry-1'"), "V-1");
}

static void close_commits_the_pending_batch(void **state)
{
    fixture_t *f = *state;
    f->st = open_store(f);
    assert_int_equal(ks_store_event(f->st, 1, "strategy.started", "carry", NULL), KS_OK);
    ks_store_close(f->st);
    f->st = NULL;
    assert_string_equal(peek(f->db, "SELECT count(*) FROM events"), "1");
}

static void flush_with_nothing_pending_succeeds(void **state)
{
    fixture_t *f = *state;
    f->st = open_store(f);
    assert_int_equal(ks_store_flush(f->st), KS_OK);
    assert_int_equal(ks_store_flush(f->st), KS_OK);
}

/* ---- deduplication ----------------------------------------------------------------- */

static void duplicate_cloid_is_eexist_and_keeps_the_first_order(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t a = make_order("carry-1", KS_OS_NEW), b = a, got;
    b.qty = D("5");
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &a), KS_OK);
    assert_int_equal(ks_store_order_insert(f->st, &b), KS_EEXIST);
    assert_int_equal(ks_store_count(f->st, "orders"), 1);
    assert_int_equal(ks_store_order_get(f->st, "carry-1", &got), KS_OK);
    assert_string_equal(F(got.qty), "0.001");
}

static void update_of_unknown_order_is_enoent(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("nope-1", KS_OS_ACKED), got;
    f->st = open_store(f);
    assert_int_equal(ks_store_order_update(f->st, &o), KS_ENOENT);
    assert_int_equal(ks_store_order_get(f->st, "nope-1", &got), KS_ENOENT);
}

static ks_fill_rec_t make_fill(const char *venue, const char *trade_id)
{
    ks_fill_rec_t fl;
    memset(&fl, 0, sizeof(fl));
    ks_strlcpy(fl.cloid, "carry-1", sizeof(fl.cloid));
    ks_strlcpy(fl.strategy, "carry", sizeof(fl.strategy));
    ks_strlcpy(fl.venue, venue, sizeof(fl.venue));
    ks_strlcpy(fl.symbol, "BTC/USDT:USDT", sizeof(fl.symbol));
    ks_strlcpy(fl.trade_id, trade_id, sizeof(fl.trade_id));
    ks_strlcpy(fl.fee_asset, "USDT", sizeof(fl.fee_asset));
    fl.side = KS_SIDE_SELL;
    fl.maker = true;
    fl.px = D("65000.5");
    fl.qty = D("0.001");
    fl.fee = D("-0.0065");
    fl.ts_ns = 42;
    return fl;
}

static void duplicate_trade_id_on_a_venue_is_eexist(void **state)
{
    fixture_t *f = *state;
    ks_fill_rec_t a = make_fill("sim", "T-1"), b = make_fill("sim", "T-1");
    ks_fill_rec_t other = make_fill("bybit", "T-1");
    b.qty = D("9");
    f->st = open_store(f);
    assert_int_equal(ks_store_fill_insert(f->st, &a), KS_OK);
    assert_int_equal(ks_store_fill_insert(f->st, &b), KS_EEXIST);
    assert_int_equal(ks_store_fill_insert(f->st, &other), KS_OK);
    assert_int_equal(ks_store_flush(f->st), KS_OK);
    assert_string_equal(peek(f->db, "SELECT count(*) FROM fills"), "2");
    assert_string_equal(peek(f->db, "SELECT qty FROM fills WHERE venue='sim'"), "0.001");
    assert_string_equal(peek(f->db, "SELECT fee FROM fills WHERE venue='sim'"), "-0.0065");
    assert_string_equal(peek(f->db, "SELECT maker || side FROM fills WHERE venue='sim'"), "1-1");
}

/* ---- round trips ------------------------------------------------------------------ */

static void order_round_trip_preserves_every_field(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o, got;
    memset(&o, 0, sizeof(o));
    ks_strlcpy(o.cloid, "carry-00000001-abcdef", sizeof(o.cloid));
    ks_strlcpy(o.strategy, "carry", sizeof(o.strategy));
    ks_strlcpy(o.venue, "bybit", sizeof(o.venue));
    ks_strlcpy(o.symbol, "1000PEPE/USDT:USDT", sizeof(o.symbol));
    o.side = KS_SIDE_SELL;
    o.type = KS_ORD_LIMIT;
    o.tif = KS_TIF_POST_ONLY;
    o.reduce_only = true;
    o.price = D("0.000000000000000001");
    o.qty = D("123456789012345678");
    o.filled = D("-65000.5");
    o.avg_price = D("65000.50"); /* scale 2 on input; the store keeps the shortest form */
    o.fee = D("-0.0000125");
    o.status = KS_OS_PARTIAL;
    ks_strlcpy(o.venue_id, "1f2e3d4c-5b6a", sizeof(o.venue_id));
    o.reject = KS_REJ_POST_ONLY;
    ks_strlcpy(o.reason, "post-only order would have taken \"quoted\" 'text'", sizeof(o.reason));
    o.created_ns = INT64_C(1767225600123456789);
    o.updated_ns = INT64_MAX;

    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    assert_int_equal(ks_store_order_get(f->st, o.cloid, &got), KS_OK);
    assert_string_equal(got.cloid, o.cloid);
    assert_string_equal(got.strategy, o.strategy);
    assert_string_equal(got.venue, o.venue);
    assert_string_equal(got.symbol, o.symbol);
    assert_int_equal(got.side, o.side);
    assert_int_equal(got.type, o.type);
    assert_int_equal(got.tif, o.tif);
    assert_true(got.reduce_only);
    assert_string_equal(F(got.price), "0.000000000000000001");
    assert_int_equal(got.price.mant, 1);
    assert_int_equal(got.price.scale, 18);
    assert_string_equal(F(got.qty), "123456789012345678");
    assert_string_equal(F(got.filled), "-65000.5");
    assert_string_equal(F(got.avg_price), "65000.5");
    assert_int_equal(ks_dec_cmp(got.avg_price, o.avg_price), 0);
    assert_string_equal(F(got.fee), "-0.0000125");
    assert_int_equal(got.status, o.status);
    assert_string_equal(got.venue_id, o.venue_id);
    assert_int_equal(got.reject, o.reject);
    assert_string_equal(got.reason, o.reason);
    assert_int_equal(got.created_ns, o.created_ns);
    assert_int_equal(got.updated_ns, o.updated_ns);
}

static void decimals_are_stored_as_exact_text(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW);
    o.price = D("0.000000000000000001");
    o.filled = D("-65000.5");
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    assert_string_equal(peek(f->db, "SELECT typeof(price) || ' ' || price FROM orders"),
                        "text 0.000000000000000001");
    assert_string_equal(peek(f->db, "SELECT filled FROM orders"), "-65000.5");
}

static void order_update_changes_only_the_progress_fields(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW), u, got;
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    memset(&u, 0, sizeof(u));
    ks_strlcpy(u.cloid, "carry-1", sizeof(u.cloid));
    u.status = KS_OS_FILLED;
    u.filled = D("0.001");
    u.avg_price = D("64999.9");
    u.fee = D("0.026");
    ks_strlcpy(u.venue_id, "V-9", sizeof(u.venue_id));
    u.reject = KS_REJ_NONE;
    ks_strlcpy(u.reason, "done", sizeof(u.reason));
    u.updated_ns = 7;
    assert_int_equal(ks_store_order_update(f->st, &u), KS_OK);
    assert_int_equal(ks_store_order_get(f->st, "carry-1", &got), KS_OK);
    assert_int_equal(got.status, KS_OS_FILLED);
    assert_string_equal(F(got.filled), "0.001");
    assert_string_equal(F(got.avg_price), "64999.9");
    assert_string_equal(F(got.fee), "0.026");
    assert_string_equal(got.venue_id, "V-9");
    assert_string_equal(got.reason, "done");
    assert_int_equal(got.updated_ns, 7);
    /* Identity and request fields keep their inserted values. */
    assert_string_equal(got.strategy, "carry");
    assert_string_equal(got.symbol, "BTC/USDT:USDT");
    assert_string_equal(F(got.price), "65000.5");
    assert_string_equal(F(got.qty), "0.001");
    assert_int_equal(got.side, KS_SIDE_BUY);
    assert_int_equal(got.created_ns, o.created_ns);
}

typedef struct seen {
    char cloids[200][KS_CLOID_LEN];
    int n;
    ks_store_t *st;
} seen_t;

static void collect_order(void *ud, const ks_order_rec_t *o)
{
    seen_t *s = ud;
    if (s->n < 200)
        ks_strlcpy(s->cloids[s->n], o->cloid, KS_CLOID_LEN);
    s->n++;
}

static void orders_foreach_only_open_skips_final_states_oldest_first(void **state)
{
    fixture_t *f = *state;
    static seen_t seen;
    f->st = open_store(f);
    /* Insert in reverse status order so "oldest first" is not status order. */
    for (int status = KS_OS_COUNT - 1; status >= 0; status--) {
        char cloid[32];
        snprintf(cloid, sizeof(cloid), "o-%s", ks_order_status_name(status));
        ks_order_rec_t o = make_order(cloid, status);
        assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    }
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(ks_store_orders_foreach(f->st, true, collect_order, &seen), KS_OK);
    assert_int_equal(seen.n, 5);
    char want[5][KS_CLOID_LEN];
    const int open_oldest_first[] = {KS_OS_UNKNOWN, KS_OS_PARTIAL, KS_OS_ACKED, KS_OS_SENT,
                                     KS_OS_NEW};
    for (int i = 0; i < 5; i++) {
        snprintf(want[i], sizeof(want[i]), "o-%s", ks_order_status_name(open_oldest_first[i]));
        assert_string_equal(seen.cloids[i], want[i]);
    }
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(ks_store_orders_foreach(f->st, false, collect_order, &seen), KS_OK);
    assert_int_equal(seen.n, KS_OS_COUNT);
}

static void mark_unknown(void *ud, const ks_order_rec_t *o)
{
    seen_t *s = ud;
    ks_order_rec_t u = *o;
    collect_order(ud, o);
    u.status = KS_OS_UNKNOWN;
    assert_int_equal(ks_store_order_update(s->st, &u), KS_OK);
}

/* Recovery walks the open orders and rewrites them; every order is visited once even
 * when there are more than one chunk of them. */
static void orders_foreach_visits_each_once_while_the_callback_writes(void **state)
{
    fixture_t *f = *state;
    static seen_t seen;
    f->st = open_store(f);
    for (int i = 0; i < 150; i++) {
        char cloid[32];
        snprintf(cloid, sizeof(cloid), "o-%03d", i);
        ks_order_rec_t o = make_order(cloid, KS_OS_SENT);
        assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    }
    memset(&seen, 0, sizeof(seen));
    seen.st = f->st;
    assert_int_equal(ks_store_orders_foreach(f->st, true, mark_unknown, &seen), KS_OK);
    assert_int_equal(seen.n, 150);
    for (int i = 0; i < 150; i++) {
        char want[32];
        snprintf(want, sizeof(want), "o-%03d", i);
        assert_string_equal(seen.cloids[i], want);
    }
    assert_int_equal(ks_store_flush(f->st), KS_OK);
    assert_string_equal(peek(f->db, "SELECT count(*) FROM orders WHERE status = 8"), "150");
}

static void collect_position(void *ud, const ks_position_rec_t *p)
{
    ks_position_rec_t *out = ud;
    int i = 0;
    while (out[i].symbol[0])
        i++;
    out[i] = *p;
}

static void positions_put_upserts_and_round_trips(void **state)
{
    fixture_t *f = *state;
    ks_position_rec_t p, got[4];
    memset(&p, 0, sizeof(p));
    memset(got, 0, sizeof(got));
    ks_strlcpy(p.strategy, "carry", sizeof(p.strategy));
    ks_strlcpy(p.venue, "sim", sizeof(p.venue));
    ks_strlcpy(p.symbol, "BTC/USDT:USDT", sizeof(p.symbol));
    p.qty = D("-0.5");
    p.avg_entry = D("65000.5");
    p.realized_pnl = D("12.34");
    p.fees = D("0.000000000000000001");
    p.funding = D("-3.21");
    p.updated_ns = 11;
    f->st = open_store(f);
    assert_int_equal(ks_store_position_put(f->st, &p), KS_OK);
    p.qty = D("-0.25");
    p.updated_ns = 12;
    assert_int_equal(ks_store_position_put(f->st, &p), KS_OK);
    ks_strlcpy(p.symbol, "BTC/USDT", sizeof(p.symbol));
    p.qty = D("0.25");
    assert_int_equal(ks_store_position_put(f->st, &p), KS_OK);
    assert_int_equal(ks_store_positions_foreach(f->st, collect_position, got), KS_OK);
    assert_string_equal(got[0].symbol, "BTC/USDT:USDT");
    assert_string_equal(got[0].strategy, "carry");
    assert_string_equal(got[0].venue, "sim");
    assert_string_equal(F(got[0].qty), "-0.25");
    assert_string_equal(F(got[0].avg_entry), "65000.5");
    assert_string_equal(F(got[0].realized_pnl), "12.34");
    assert_string_equal(F(got[0].fees), "0.000000000000000001");
    assert_string_equal(F(got[0].funding), "-3.21");
    assert_int_equal(got[0].updated_ns, 12);
    assert_string_equal(got[1].symbol, "BTC/USDT");
    assert_string_equal(F(got[1].qty), "0.25");
    assert_string_equal(got[2].symbol, "");
}

static void funding_payments_round_trip_and_dedup_on_settlement_time(void **state)
{
    fixture_t *f = *state;
    ks_funding_rec_t fr;
    memset(&fr, 0, sizeof(fr));
    ks_strlcpy(fr.strategy, "carry", sizeof(fr.strategy));
    ks_strlcpy(fr.venue, "sim", sizeof(fr.venue));
    ks_strlcpy(fr.symbol, "BTC/USDT:USDT", sizeof(fr.symbol));
    fr.rate = D("0.0001");
    fr.qty = D("-0.5");
    fr.mark = D("65000.5");
    fr.amount = D("3.250025");
    fr.ts_ns = 1767225600000000000;
    f->st = open_store(f);
    assert_int_equal(ks_store_funding_insert(f->st, &fr), KS_OK);
    assert_int_equal(ks_store_funding_insert(f->st, &fr), KS_EEXIST);
    fr.ts_ns += INT64_C(8) * 3600 * 1000000000;
    assert_int_equal(ks_store_funding_insert(f->st, &fr), KS_OK);
    assert_int_equal(ks_store_flush(f->st), KS_OK);
    assert_string_equal(peek(f->db, "SELECT count(*) FROM funding_payments"), "2");
    assert_string_equal(peek(f->db, "SELECT strategy||' '||venue||' '||symbol||' '||rate||' '||qty"
                                    "||' '||mark||' '||amount||' '||ts_ns FROM funding_payments"
                                    " ORDER BY id"),
                        "carry sim BTC/USDT:USDT 0.0001 -0.5 65000.5 3.250025 1767225600000000000");
}

static void events_are_journaled_with_optional_subject_and_detail(void **state)
{
    fixture_t *f = *state;
    f->st = open_store(f);
    assert_int_equal(ks_store_event(f->st, 5, "order.reject", "carry-1", "{\"reason\":\"x\"}"),
                     KS_OK);
    assert_int_equal(ks_store_event(f->st, 6, "host.start", NULL, NULL), KS_OK);
    assert_int_equal(ks_store_event(f->st, 7, "", NULL, NULL), KS_EINVAL);
    assert_int_equal(ks_store_flush(f->st), KS_OK);
    assert_int_equal(ks_store_count(f->st, "events"), 2);
    assert_string_equal(peek(f->db, "SELECT ts_ns||' '||kind||' '||subject||' '||detail FROM events"
                                    " WHERE kind = 'order.reject'"),
                        "5 order.reject carry-1 {\"reason\":\"x\"}");
    assert_string_equal(peek(f->db, "SELECT coalesce(subject, 'NULL')||' '||coalesce(detail,"
                                    " 'NULL') FROM events WHERE kind = 'host.start'"),
                        "NULL NULL");
}

static void strategy_state_round_trips_binary_and_empty_blobs(void **state)
{
    fixture_t *f = *state;
    char *data = (char *)"stale";
    size_t len = 99;
    f->st = open_store(f);
    assert_int_equal(ks_store_state_get(f->st, "carry", &data, &len), KS_ENOENT);
    assert_null(data);
    assert_int_equal(len, 0);

    const char blob[] = {'a', '\0', 'b', '\xff'};
    assert_int_equal(ks_store_state_put(f->st, "carry", blob, sizeof(blob)), KS_OK);
    assert_int_equal(ks_store_state_get(f->st, "carry", &data, &len), KS_OK);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(data, blob, sizeof(blob));
    assert_int_equal(data[len], '\0');
    free(data);

    assert_int_equal(ks_store_state_put(f->st, "carry", "", 0), KS_OK);
    assert_int_equal(ks_store_state_get(f->st, "carry", &data, &len), KS_OK);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);
    assert_int_equal(ks_store_count(f->st, "strategy_state"), 1);
}

static void kv_round_trips_per_namespace_and_reports_full_length(void **state)
{
    fixture_t *f = *state;
    char buf[16];
    size_t len = 0;
    f->st = open_store(f);
    assert_int_equal(ks_store_kv_get(f->st, "sim", "cursor", buf, sizeof(buf), &len), KS_ENOENT);
    assert_int_equal(ks_store_kv_set(f->st, "sim", "cursor", "12345", 5), KS_OK);
    assert_int_equal(ks_store_kv_set(f->st, "bybit", "cursor", "abc", 3), KS_OK);
    assert_int_equal(ks_store_kv_get(f->st, "sim", "cursor", buf, sizeof(buf), &len), KS_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "12345", 5);
    assert_int_equal(ks_store_kv_set(f->st, "sim", "cursor", "0123456789abcdefXYZ", 19), KS_OK);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(ks_store_kv_get(f->st, "sim", "cursor", buf, 4, &len), KS_OK);
    assert_int_equal(len, 19);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(buf[4], 0);
    assert_int_equal(ks_store_kv_get(f->st, "bybit", "cursor", buf, sizeof(buf), &len), KS_OK);
    assert_int_equal(len, 3);
    assert_int_equal(ks_store_count(f->st, "plugin_kv"), 2);
}

static void count_accepts_only_known_table_names(void **state)
{
    fixture_t *f = *state;
    ks_order_rec_t o = make_order("carry-1", KS_OS_NEW);
    f->st = open_store(f);
    assert_int_equal(ks_store_order_insert(f->st, &o), KS_OK);
    assert_int_equal(ks_store_count(f->st, "orders"), 1);
    assert_int_equal(ks_store_count(f->st, "fills"), 0);
    assert_int_equal(ks_store_count(f->st, "sqlite_master"), KS_EINVAL);
    assert_int_equal(ks_store_count(f->st, "orders; DROP TABLE orders"), KS_EINVAL);
    assert_int_equal(ks_store_count(f->st, "ORDERS"), KS_EINVAL);
    assert_int_equal(ks_store_count(f->st, ""), KS_EINVAL);
    assert_int_equal(ks_store_count(f->st, "orders"), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(fresh_open_creates_schema_at_current_version_in_wal_mode),
        T(reopen_keeps_data_and_reports_the_version_found),
        T(version_zero_database_without_tables_is_migrated),
        T(newer_schema_version_is_refused_and_left_untouched),
        T(file_that_is_not_a_database_is_refused),
        T(order_insert_is_on_disk_before_it_returns),
        T(order_insert_also_commits_the_pending_batch),
        T(order_update_is_invisible_until_flush),
        T(close_commits_the_pending_batch),
        T(flush_with_nothing_pending_succeeds),
        T(duplicate_cloid_is_eexist_and_keeps_the_first_order),
        T(update_of_unknown_order_is_enoent),
        T(duplicate_trade_id_on_a_venue_is_eexist),
        T(order_round_trip_preserves_every_field),
        T(decimals_are_stored_as_exact_text),
        T(order_update_changes_only_the_progress_fields),
        T(orders_foreach_only_open_skips_final_states_oldest_first),
        T(orders_foreach_visits_each_once_while_the_callback_writes),
        T(positions_put_upserts_and_round_trips),
        T(funding_payments_round_trip_and_dedup_on_settlement_time),
        T(events_are_journaled_with_optional_subject_and_detail),
        T(strategy_state_round_trips_binary_and_empty_blobs),
        T(kv_round_trips_per_namespace_and_reports_full_length),
        T(count_accepts_only_known_table_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
