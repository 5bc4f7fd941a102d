/* Real Bybit captures replayed through `kestrel decode --venue bybit`:
 *  - cryptofeed/BYBIT.jsonl: 45 s of the public linear and spot streams (orderbook.200,
 *    tickers snapshot + delta, publicTrade), one decode run per connection (spot frames
 *    with decode_category "spot"), plus its two instruments-info REST bodies;
 *  - nautilus_trader/2024-12-01_XRPUSDT_ob500.data: one snapshot and 49 deltas of
 *    orderbook.500 from Bybit's history files;
 *  - cryptofeed/BYBIT.ws.1.0: orderbook.1 (snapshot-only) in cryptofeed's older format.
 * The test rebuilds every book from decode's own output and checks: books never cross,
 * every delta continues the previous update id (prev_seq), every BBO is the rebuilt
 * top, no message is lost (one book event per orderbook frame, one trade per trade
 * item, one ticker per tickers frame), instruments-info specs are right. Then it drops
 * one delta from the capture and checks the adapter reports the gap and applies no
 * delta of that book until a fresh snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <kestrel/kestrel.h>

static const char *shared;

/* ---- input ------------------------------------------------------------------------------ */

typedef struct lines {
    char **v;
    size_t n, cap;
} lines_t;

static void lines_add(lines_t *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(char *));
        assert_non_null(l->v);
    }
    l->v[l->n++] = strdup(s);
}

static void lines_free(lines_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static FILE *open_shared(const char *rel)
{
    char path[1024];
    if (!shared)
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", shared, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        printf("SKIP: %s not found\n", path);
    return f;
}

/* cryptofeed JSONL: {"t": "recv"|"http"|..., "conn", "data": "<raw payload>"}. */
static bool read_cryptofeed(lines_t *linear, lines_t *spot, lines_t *http)
{
    FILE *f = open_shared("data/cryptofeed/BYBIT.jsonl");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    /* conn -> category from the "connect" lines' URLs */
    char lin_conn[64] = "", spot_conn[64] = "";
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "t"));
        const char *conn = cJSON_GetStringValue(cJSON_GetObjectItem(j, "conn"));
        const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(j, "data"));
        const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(j, "url"));
        if (!url)
            url = cJSON_GetStringValue(cJSON_GetObjectItem(j, "addr"));
        if (t && strcmp(t, "connect") == 0 && url && conn) {
            if (strstr(url, "/v5/public/linear"))
                snprintf(lin_conn, sizeof(lin_conn), "%s", conn);
            else if (strstr(url, "/v5/public/spot"))
                snprintf(spot_conn, sizeof(spot_conn), "%s", conn);
        } else if (t && strcmp(t, "recv") == 0 && conn && data) {
            if (strcmp(conn, lin_conn) == 0)
                lines_add(linear, data);
            else if (strcmp(conn, spot_conn) == 0)
                lines_add(spot, data);
        } else if (t && strcmp(t, "http") == 0 && data) {
            lines_add(http, data);
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return linear->n && spot->n;
}

/* ---- decode ------------------------------------------------------------------------------- */

static cJSON *decode(const lines_t *in, const char *config)
{
    char path[] = "/tmp/ks-bybit-replay-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < in->n; i++)
        fprintf(f, "%s\n", in->v[i]);
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' decode --venue bybit %s%s%s < '%s'", KS_KESTREL_BIN,
             config ? "--config '" : "", config ? config : "", config ? "'" : "", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    cJSON *out = cJSON_CreateArray();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, p) > 0) {
        cJSON *ev = cJSON_Parse(line);
        if (!ev)
            fail_msg("not JSON: %s", line);
        cJSON_AddItemToArray(out, ev);
    }
    free(line);
    assert_int_equal(pclose(p), 0);
    unlink(path);
    return out;
}

/* ---- a book rebuilt from decode's output -------------------------------------------------- */

#define MAXLV 4096

typedef struct side {
    ks_dec_t px[MAXLV], qty[MAXLV];
    int n;
} side_t;

typedef struct book {
    char symbol[64];
    side_t bids, asks;
    unsigned long long seq;
    bool valid;
    int events, deltas, snapshots;
} book_t;

typedef struct books {
    book_t *b;
    int n;
} books_t;

static book_t *book_of(books_t *bs, const char *sym)
{
    for (int i = 0; i < bs->n; i++)
        if (strcmp(bs->b[i].symbol, sym) == 0)
            return &bs->b[i];
    bs->b = realloc(bs->b, (size_t)(bs->n + 1) * sizeof(book_t));
    book_t *b = &bs->b[bs->n++];
    memset(b, 0, sizeof(*b));
    snprintf(b->symbol, sizeof(b->symbol), "%s", sym);
    return b;
}

static ks_dec_t dec(const cJSON *v)
{
    ks_dec_t d = KS_DEC_ZERO;
    if (!cJSON_IsString(v) || ks_dec_parse(v->valuestring, (size_t)-1, &d) != KS_OK)
        fail_msg("a decimal string expected");
    return d;
}

static void set_level(side_t *s, bool bid, ks_dec_t px, ks_dec_t qty)
{
    int i = 0;
    while (i < s->n && (bid ? ks_dec_cmp(s->px[i], px) > 0 : ks_dec_cmp(s->px[i], px) < 0))
        i++;
    bool found = i < s->n && ks_dec_cmp(s->px[i], px) == 0;
    if (ks_dec_is_zero(qty)) {
        if (found) {
            memmove(s->px + i, s->px + i + 1, (size_t)(s->n - i - 1) * sizeof(ks_dec_t));
            memmove(s->qty + i, s->qty + i + 1, (size_t)(s->n - i - 1) * sizeof(ks_dec_t));
            s->n--;
        }
        return;
    }
    if (found) {
        s->qty[i] = qty;
        return;
    }
    assert_true(s->n < MAXLV);
    memmove(s->px + i + 1, s->px + i, (size_t)(s->n - i) * sizeof(ks_dec_t));
    memmove(s->qty + i + 1, s->qty + i, (size_t)(s->n - i) * sizeof(ks_dec_t));
    s->px[i] = px;
    s->qty[i] = qty;
    s->n++;
}

static void apply_levels(side_t *s, bool bid, const cJSON *levels)
{
    const cJSON *lv;
    cJSON_ArrayForEach(lv, levels)
    {
        set_level(s, bid, dec(cJSON_GetArrayItem(lv, 0)), dec(cJSON_GetArrayItem(lv, 1)));
    }
}

typedef struct counts {
    int book, bbo, trade, ticker, conn_resync, instruments, resyncs;
} counts_t;

/* Replays decode's events into books and checks the rules; fills counts. */
static void check_stream(cJSON *events, counts_t *c, books_t *bs, const char *what)
{
    const cJSON *e;
    memset(c, 0, sizeof(*c));
    cJSON_ArrayForEach(e, events)
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
        const char *sym = cJSON_GetStringValue(cJSON_GetObjectItem(e, "symbol"));
        if (strcmp(type, "instrument") == 0) {
            c->instruments++;
            continue;
        }
        if (strcmp(type, "conn") == 0) {
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "state")), "resyncing") == 0) {
                c->conn_resync++;
                /* The rest of the names the venue symbol; invalidate every book of it. */
                for (int i = 0; i < bs->n; i++)
                    if (strstr(cJSON_GetStringValue(cJSON_GetObjectItem(e, "detail")),
                               bs->b[i].symbol))
                        bs->b[i].valid = false;
            }
            continue;
        }
        if (strcmp(type, "trade") == 0) {
            c->trade++;
            continue;
        }
        if (strcmp(type, "ticker") == 0) {
            c->ticker++;
            continue;
        }
        if (strcmp(type, "book") == 0) {
            c->book++;
            book_t *b = book_of(bs, sym);
            unsigned long long seq =
                (unsigned long long)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "seq"));
            if (cJSON_IsTrue(cJSON_GetObjectItem(e, "snapshot"))) {
                b->bids.n = b->asks.n = 0;
                b->valid = true;
                b->snapshots++;
            } else {
                if (!b->valid)
                    fail_msg("%s %s: a delta (seq %llu) with no valid book", what, sym, seq);
                unsigned long long prev =
                    (unsigned long long)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "prev_seq"));
                if (prev != b->seq || seq != b->seq + 1)
                    fail_msg("%s %s: delta seq %llu prev %llu after %llu", what, sym, seq, prev,
                             b->seq);
                b->deltas++;
            }
            b->seq = seq;
            b->events++;
            apply_levels(&b->bids, true, cJSON_GetObjectItem(e, "bids"));
            apply_levels(&b->asks, false, cJSON_GetObjectItem(e, "asks"));
            if (b->bids.n && b->asks.n && ks_dec_cmp(b->bids.px[0], b->asks.px[0]) >= 0)
                fail_msg("%s %s: crossed book at seq %llu", what, sym, seq);
            continue;
        }
        if (strcmp(type, "bbo") == 0) {
            c->bbo++;
            book_t *b = book_of(bs, sym);
            ks_dec_t bid = dec(cJSON_GetObjectItem(e, "bid")),
                     ask = dec(cJSON_GetObjectItem(e, "ask"));
            if (ks_dec_cmp(bid, b->bids.n ? b->bids.px[0] : KS_DEC_ZERO) != 0 ||
                ks_dec_cmp(ask, b->asks.n ? b->asks.px[0] : KS_DEC_ZERO) != 0 ||
                ks_dec_cmp(dec(cJSON_GetObjectItem(e, "bid_qty")),
                           b->bids.n ? b->bids.qty[0] : KS_DEC_ZERO) != 0)
                fail_msg("%s %s: BBO is not the book's top", what, sym);
            if (ks_dec_sign(bid) > 0 && ks_dec_sign(ask) > 0 && ks_dec_cmp(bid, ask) >= 0)
                fail_msg("%s %s: crossed BBO", what, sym);
            continue;
        }
    }
}

/* What the input holds: orderbook frames, trade items, tickers frames. */
static void count_input(const lines_t *in, int *books, int *trades, int *tickers)
{
    *books = *trades = *tickers = 0;
    for (size_t i = 0; i < in->n; i++) {
        cJSON *j = cJSON_Parse(in->v[i]);
        const char *topic = cJSON_GetStringValue(cJSON_GetObjectItem(j, "topic"));
        if (topic && strncmp(topic, "orderbook.", 10) == 0)
            (*books)++;
        else if (topic && strncmp(topic, "publicTrade.", 12) == 0)
            *trades += cJSON_GetArraySize(cJSON_GetObjectItem(j, "data"));
        else if (topic && strncmp(topic, "tickers.", 8) == 0)
            (*tickers)++;
        cJSON_Delete(j);
    }
}

static void replay_one(const lines_t *in, const char *config, const char *what)
{
    int n_books, n_trades, n_tickers;
    count_input(in, &n_books, &n_trades, &n_tickers);
    cJSON *ev = decode(in, config);
    counts_t c;
    books_t bs = {0};
    check_stream(ev, &c, &bs, what);
    printf("%s: %zu frames -> %d book (%d in), %d bbo, %d trade (%d in), %d ticker (%d in), "
           "%d books\n",
           what, in->n, c.book, n_books, c.bbo, c.trade, n_trades, c.ticker, n_tickers, bs.n);
    assert_int_equal(c.conn_resync, 0);
    assert_int_equal(c.book, n_books);
    assert_int_equal(c.trade, n_trades);
    assert_int_equal(c.ticker, n_tickers);
    assert_true(c.bbo > 0);
    for (int i = 0; i < bs.n; i++)
        assert_true(bs.b[i].snapshots >= 1);
    free(bs.b);
    cJSON_Delete(ev);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void cryptofeed_linear_and_spot_streams_replay_clean(void **state)
{
    lines_t lin = {0}, spot = {0}, http = {0};
    if (!read_cryptofeed(&lin, &spot, &http))
        skip();
    replay_one(&lin, NULL, "cryptofeed linear");
    replay_one(&spot, "{\"decode_category\":\"spot\"}", "cryptofeed spot");
    /* Linear tickers carry the funding fields after the snapshot merge. */
    cJSON *ev = decode(&lin, NULL);
    const cJSON *e;
    int funding = 0;
    cJSON_ArrayForEach(e, ev)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "ticker") != 0)
            continue;
        assert_non_null(cJSON_GetObjectItem(e, "funding_rate"));
        assert_non_null(cJSON_GetObjectItem(e, "next_funding_ts"));
        assert_non_null(cJSON_GetObjectItem(e, "mark"));
        assert_non_null(cJSON_GetObjectItem(e, "index"));
        assert_non_null(cJSON_GetObjectItem(e, "open_interest"));
        assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "funding_interval_h")),
                         8);
        funding++;
    }
    assert_true(funding > 100);
    cJSON_Delete(ev);
    lines_free(&lin);
    lines_free(&spot);
    lines_free(&http);
}

static void instruments_info_bodies_register_every_symbol(void **state)
{
    lines_t lin = {0}, spot = {0}, http = {0};
    if (!read_cryptofeed(&lin, &spot, &http))
        skip();
    assert_int_equal(http.n, 2);
    cJSON *ev = decode(&http, NULL);
    int perps = 0, spots = 0, want_perps = 0, want_spots = 0, halted = 0;
    /* What the bodies list: LinearPerpetual contracts and spot pairs. */
    for (size_t i = 0; i < http.n; i++) {
        cJSON *j = cJSON_Parse(http.v[i]);
        const cJSON *r = cJSON_GetObjectItem(j, "result"), *it;
        bool is_spot =
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r, "category")), "spot") == 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "list"))
        {
            const char *ct = cJSON_GetStringValue(cJSON_GetObjectItem(it, "contractType"));
            if (is_spot)
                want_spots++;
            else if (ct && strcmp(ct, "LinearPerpetual") == 0)
                want_perps++;
        }
        cJSON_Delete(j);
    }
    const cJSON *e, *btc = NULL;
    cJSON_ArrayForEach(e, ev)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "instrument") != 0)
            continue;
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
        if (strcmp(kind, "perp") == 0)
            perps++;
        else
            spots++;
        halted += strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "status")), "halted") == 0;
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "symbol")), "BTC/USDT:USDT") == 0)
            btc = e;
    }
    printf("instruments-info: %d perps (%d listed), %d spot (%d listed), %d halted\n", perps,
           want_perps, spots, want_spots, halted);
    /* Unified symbols are unique per kind; a name clash would merge two instruments. */
    assert_true(perps > 400 && perps <= want_perps);
    assert_true(spots > 300 && spots <= want_spots);
    assert_non_null(btc);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(btc, "tick")), "0.1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(btc, "lot")), "0.001");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(btc, "settle")), "USDT");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(btc, "funding_interval_h")), 8);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(btc, "max_leverage")) >= 100);
    cJSON_Delete(ev);
    lines_free(&lin);
    lines_free(&spot);
    lines_free(&http);
}

static void nautilus_orderbook_500_replays_clean(void **state)
{
    FILE *f = open_shared("data/nautilus_trader/2024-12-01_XRPUSDT_ob500.data");
    if (!f)
        skip();
    lines_t in = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n)
            lines_add(&in, line);
    }
    free(line);
    fclose(f);
    assert_int_equal(in.n, 50);
    replay_one(&in, NULL, "nautilus XRPUSDT ob500");
    lines_free(&in);
}

static void cryptofeed_level1_books_replay_clean(void **state)
{
    FILE *f = open_shared("data/cryptofeed/BYBIT.ws.1.0");
    if (!f)
        skip();
    lines_t in = {0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* "<ts>: <json received>"; connect and send lines contain " <-" / " <->". */
        char *sep = strstr(line, ": ");
        if (!sep || strstr(line, " <-"))
            continue;
        char *json = sep + 2;
        json[strcspn(json, "\r\n")] = '\0';
        if (*json == '{')
            lines_add(&in, json);
    }
    free(line);
    fclose(f);
    assert_true(in.n > 190);
    replay_one(&in, NULL, "cryptofeed orderbook.1");
    lines_free(&in);
}

static void a_lost_delta_is_reported_and_stops_that_book(void **state)
{
    lines_t lin = {0}, spot = {0}, http = {0};
    if (!read_cryptofeed(&lin, &spot, &http))
        skip();
    /* Drop the 20th BTCUSDT delta. */
    int seen = 0;
    size_t dropped = 0;
    for (size_t i = 0; i < lin.n; i++) {
        if (strstr(lin.v[i], "\"topic\":\"orderbook.200.BTCUSDT\"") &&
            strstr(lin.v[i], "\"type\":\"delta\"") && ++seen == 20) {
            dropped = i;
            free(lin.v[i]);
            memmove(lin.v + i, lin.v + i + 1, (lin.n - i - 1) * sizeof(char *));
            lin.n--;
            break;
        }
    }
    assert_int_equal(seen, 20);
    cJSON *ev = decode(&lin, NULL);
    const cJSON *e;
    bool gap = false;
    int btc_after = 0, other_after = 0;
    cJSON_ArrayForEach(e, ev)
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
        const char *sym = cJSON_GetStringValue(cJSON_GetObjectItem(e, "symbol"));
        if (strcmp(type, "conn") == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "state")), "resyncing") == 0) {
            assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(e, "detail")),
                                   "BTCUSDT book: update id gap"));
            gap = true;
        } else if (gap && strcmp(type, "book") == 0) {
            if (strcmp(sym, "BTC/USDT:USDT") == 0)
                btc_after++;
            else
                other_after++;
        }
    }
    printf("dropped frame %zu: gap reported %d, BTC book events after it %d, others %d\n", dropped,
           gap, btc_after, other_after);
    assert_true(gap);
    assert_int_equal(btc_after, 0); /* the capture has no later snapshot to rebuild from */
    assert_true(other_after > 0);   /* the other books carry on */
    counts_t c;
    books_t bs = {0};
    check_stream(ev, &c, &bs, "gap replay"); /* still: never crossed, ids continuous */
    assert_int_equal(c.conn_resync, 1);
    free(bs.b);
    cJSON_Delete(ev);
    lines_free(&lin);
    lines_free(&spot);
    lines_free(&http);
}

/* Spec changes go through instrument_upsert: a status other than Trading is HALTED, and
 * a new funding interval in a ticker re-registers the spec (the host bumps its version). */
static void status_and_funding_interval_changes_reach_the_spec(void **state)
{
    lines_t in = {0};
    const char *inst =
        "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"category\":\"linear\",\"list\":["
        "{\"symbol\":\"BTCUSDT\",\"contractType\":\"LinearPerpetual\",\"status\":\"Trading\","
        "\"baseCoin\":\"BTC\",\"quoteCoin\":\"USDT\",\"settleCoin\":\"USDT\","
        "\"leverageFilter\":{\"maxLeverage\":\"100.00\"},\"priceFilter\":{\"tickSize\":"
        "\"0.10\"},\"lotSizeFilter\":{\"maxOrderQty\":\"1190.000\",\"minOrderQty\":\"0.001\","
        "\"qtyStep\":\"0.001\",\"minNotionalValue\":\"5\"},\"fundingInterval\":480},"
        "{\"symbol\":\"BIOUSDT\",\"contractType\":\"LinearPerpetual\",\"status\":"
        "\"PreLaunch\",\"baseCoin\":\"BIO\",\"quoteCoin\":\"USDT\",\"settleCoin\":\"USDT\","
        "\"leverageFilter\":{\"maxLeverage\":\"5.00\"},\"priceFilter\":{\"tickSize\":"
        "\"0.0001\"},\"lotSizeFilter\":{\"maxOrderQty\":\"70000\",\"minOrderQty\":\"1\","
        "\"qtyStep\":\"1\",\"minNotionalValue\":\"5\"},\"fundingInterval\":480}]},"
        "\"time\":1}";
    const char *tick = "{\"topic\":\"tickers.BTCUSDT\",\"type\":\"snapshot\",\"ts\":2,"
                       "\"data\":{\"symbol\":\"BTCUSDT\",\"fundingIntervalHour\":\"4\","
                       "\"fundingRate\":\"0.005\"}}";
    lines_add(&in, inst);
    lines_add(&in, tick);
    cJSON *ev = decode(&in, NULL);
    const cJSON *e;
    int btc = 0;
    bool bio_halted = false;
    cJSON_ArrayForEach(e, ev)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "instrument") != 0)
            continue;
        const char *sym = cJSON_GetStringValue(cJSON_GetObjectItem(e, "symbol"));
        int h = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "funding_interval_h"));
        int v = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "spec_version"));
        if (strcmp(sym, "BTC/USDT:USDT") == 0) {
            btc++;
            assert_int_equal(v, btc);
            assert_int_equal(h, btc == 1 ? 8 : 4);
        } else if (strcmp(sym, "BIO/USDT:USDT") == 0) {
            bio_halted =
                strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "status")), "halted") == 0;
        }
    }
    assert_int_equal(btc, 2);
    assert_true(bio_halted);
    cJSON_Delete(ev);
    lines_free(&in);
}

int main(void)
{
    shared = getenv("KS_SHARED_DIR");
    if (!shared)
        printf("SKIP: KS_SHARED_DIR is not set (the real captures are not available)\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cryptofeed_linear_and_spot_streams_replay_clean),
        cmocka_unit_test(instruments_info_bodies_register_every_symbol),
        cmocka_unit_test(nautilus_orderbook_500_replays_clean),
        cmocka_unit_test(cryptofeed_level1_books_replay_clean),
        cmocka_unit_test(a_lost_delta_is_reported_and_stops_that_book),
        cmocka_unit_test(status_and_funding_interval_changes_reach_the_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
