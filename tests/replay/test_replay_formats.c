/* Every recorded format the sim venue replays parses to the counts and time spans that
 * /work/shared/data/README.md states, and finish() turns them into a sorted, windowed,
 * spec'd replay. Reads the shared data through KS_SHARED_DIR; skips (with the reason
 * printed) when it is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim_replay.h"
#include "sim_time.h"

static char shared[1024];

static bool have_shared(void)
{
    const char *d = getenv("KS_SHARED_DIR");
    char probe[1200];
    if (!d || !*d) {
        printf("SKIP: KS_SHARED_DIR is not set (the recorded data lives there)\n");
        return false;
    }
    snprintf(shared, sizeof(shared), "%s/data", d);
    snprintf(probe, sizeof(probe), "%s/README.md", shared);
    FILE *f = fopen(probe, "r");
    if (!f) {
        printf("SKIP: %s not found (KS_SHARED_DIR=%s)\n", probe, d);
        return false;
    }
    fclose(f);
    return true;
}

#define NEED_SHARED()                                                                              \
    do {                                                                                           \
        if (!have_shared()) {                                                                      \
            skip();                                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static int64_t T(const char *iso)
{
    int64_t ns = 0;
    if (!ks_sim_iso_to_ns(iso, strlen(iso), &ns))
        fail_msg("bad time literal %s", iso);
    return ns;
}

/* Asserts a <= x < b for times, printing them. */
#define assert_time_in(x, a, b)                                                                    \
    do {                                                                                           \
        int64_t x_ = (x), a_ = T(a), b_ = T(b);                                                    \
        if (x_ < a_ || x_ >= b_)                                                                   \
            fail_msg("%s = %lld, expected in [%s, %s)", #x, (long long)x_, a, b);                  \
    } while (0)

static ks_replay_t *load(const char *rel)
{
    char path[1200], err[1400];
    snprintf(path, sizeof(path), "%s/%s", shared, rel);
    ks_replay_t *r = ks_replay_new();
    assert_non_null(r);
    int rc = ks_replay_load(r, path, err, sizeof(err));
    if (rc != KS_OK)
        fail_msg("load %s: %s (%d)", rel, err, rc);
    return r;
}

static void finish(ks_replay_t *r, const ks_replay_opts_t *o_in)
{
    ks_replay_opts_t o = {0};
    char err[512];
    if (o_in)
        o = *o_in;
    int rc = ks_replay_finish(r, &o, err, sizeof(err));
    if (rc != KS_OK)
        fail_msg("finish: %s (%d)", err, rc);
}

static const ks_rp_inst_t *find_inst(const ks_replay_t *r, const char *symbol)
{
    for (uint32_t i = 0; i < ks_replay_inst_count(r); i++)
        if (strcmp(ks_replay_inst(r, i)->symbol, symbol) == 0)
            return ks_replay_inst(r, i);
    fail_msg("no instrument %s", symbol);
    return NULL;
}

static int32_t inst_index(const ks_replay_t *r, const char *symbol)
{
    for (uint32_t i = 0; i < ks_replay_inst_count(r); i++)
        if (strcmp(ks_replay_inst(r, i)->symbol, symbol) == 0)
            return (int32_t)i;
    fail_msg("no instrument %s", symbol);
    return -1;
}

static uint64_t sum_files(const ks_replay_t *r, int kind)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < ks_replay_file_count(r); i++)
        n += ks_replay_file(r, i)->messages[kind];
    return n;
}

static void assert_dec_str(ks_dec_t d, const char *want)
{
    char buf[KS_DEC_STRLEN];
    ks_dec_format(d, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fail_msg("decimal %s, expected %s", buf, want);
}

/* ---- hftbacktest ------------------------------------------------------------------ */

static void hftbacktest_binance_usdm_btc_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("hftbacktest/usdm/btcusdt_20240808.gz");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    assert_string_equal(f->format, "hftbacktest");
    /* README: 93,954 messages: bookTicker 66,089, trade 21,313, depth 6,551 (+ the REST
     * snapshot), 2024-08-08 23:54:15-23:59:59. */
    assert_int_equal(f->lines, 93954);
    assert_int_equal(f->messages[KS_RP_BBO], 66089);
    assert_int_equal(f->messages[KS_RP_TRADE], 21313);
    assert_int_equal(f->messages[KS_RP_BOOK], 6551 + 1);
    assert_int_equal(f->snapshots, 1);
    assert_time_in(f->first_ts, "2024-08-08T23:54:15Z", "2024-08-08T23:54:16Z");
    assert_time_in(f->last_ts, "2024-08-08T23:59:59Z", "2024-08-09T00:00:00Z");
    finish(r, NULL);
    const ks_rp_inst_t *in = find_inst(r, "BTC/USDT:USDT");
    assert_int_equal(in->kind, KS_KIND_PERP);
    assert_true(in->flags & KS_RPI_BOOK);
    assert_false(in->flags & KS_RPI_MARK); /* no markPrice stream: the mid is the mark */
    assert_dec_str(in->tick, "0.1");
    assert_dec_str(in->lot, "0.001");
    printf("usdm btc: %llu events, %llu book gaps, %llu skipped (stale BBOs, pre-snapshot "
           "diffs)\n",
           (unsigned long long)f->events, (unsigned long long)f->book_gaps,
           (unsigned long long)f->skipped);
    /* Sorted by time; the snapshot precedes every replayed diff. */
    bool snap = false;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        if (i)
            assert_true(ks_replay_event(r, i - 1)->ts <= e->ts);
        if (e->kind == KS_RP_BOOK && (e->flags & KS_RPF_SNAPSHOT))
            snap = true;
        else if (e->kind == KS_RP_BOOK && !snap)
            fail_msg("a diff before the snapshot at event %u", i);
    }
    assert_true(snap);
    ks_replay_free(r);
}

static void hftbacktest_binance_spot_btc_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("hftbacktest/spot/btcusdt_20240808.gz");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    /* README: 41,249 messages (bookTicker 28,040, trade 9,757, depth@100ms 3,451). */
    assert_int_equal(f->lines, 41249);
    assert_int_equal(f->messages[KS_RP_BBO], 28040);
    assert_int_equal(f->messages[KS_RP_TRADE], 9757);
    assert_int_equal(f->messages[KS_RP_BOOK], 3451 + 1);
    assert_time_in(f->first_ts, "2024-08-08T23:54:13Z", "2024-08-08T23:54:16Z");
    assert_time_in(f->last_ts, "2024-08-08T23:59:59Z", "2024-08-09T00:00:00Z");
    finish(r, NULL);
    const ks_rp_inst_t *in = find_inst(r, "BTC/USDT");
    assert_int_equal(in->kind, KS_KIND_SPOT);
    assert_dec_str(in->tick, "0.01");
    ks_replay_free(r);
}

static void hftbacktest_hyperliquid_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("hftbacktest/hyperliquid/btcusd_20250126.gz");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    /* README: 46 l2Book and 9 trades, 2025-01-26 19:14:03-19:14:29. */
    assert_int_equal(f->messages[KS_RP_BOOK], 46);
    assert_int_equal(f->messages[KS_RP_TRADE], 9);
    assert_int_equal(f->snapshots, 46);
    assert_time_in(f->first_ts, "2025-01-26T19:14:03Z", "2025-01-26T19:14:04Z");
    assert_time_in(f->last_ts, "2025-01-26T19:14:29Z", "2025-01-26T19:14:30Z");
    finish(r, NULL);
    const ks_rp_inst_t *in = find_inst(r, "BTC/USDC:USDC");
    assert_string_equal(in->venue_symbol, "BTC");
    assert_string_equal(ks_replay_quote(r), "USDC");
    ks_replay_free(r);
}

/* ---- cryptofeed ------------------------------------------------------------------- */

static void cryptofeed_bybit_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("cryptofeed/BYBIT.jsonl");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    assert_string_equal(f->format, "cryptofeed");
    /* README: 3,256 lines; orderbook 2,148, tickers 839, publicTrade 120, kline 96;
     * 2026-08-09 21:26:57-21:27:42. */
    assert_int_equal(f->lines, 3256);
    assert_int_equal(f->messages[KS_RP_BOOK], 2148);
    assert_int_equal(f->messages[KS_RP_TICKER], 839);
    assert_int_equal(f->messages[KS_RP_TRADE], 120);
    assert_int_equal(f->messages[KS_RP_KLINE], 96);
    assert_int_equal(f->messages[KS_RP_LIQ], 0); /* none arrived in the window */
    assert_time_in(f->first_ts, "2026-08-09T21:26:57Z", "2026-08-09T21:26:58Z");
    assert_time_in(f->last_ts, "2026-08-09T21:27:42Z", "2026-08-09T21:27:43Z");
    finish(r, NULL);
    /* Linear perps and spot, specs from the recorded instruments-info. */
    const ks_rp_inst_t *p = find_inst(r, "BTC/USDT:USDT"), *s = find_inst(r, "BTC/USDT");
    find_inst(r, "DOGE/USDT:USDT");
    find_inst(r, "ETH/USDT");
    assert_true(p->flags & KS_RPI_MARK);
    assert_dec_str(p->tick, "0.1");
    assert_dec_str(p->lot, "0.001");
    assert_int_equal(p->funding_interval_h, 8);
    assert_int_equal(s->kind, KS_KIND_SPOT);
    ks_replay_free(r);
}

static void cryptofeed_binance_futures_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("cryptofeed/BINANCE_FUTURES.jsonl");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    /* README: 1,542 lines; aggTrade 91, depth@100ms 764, kline_1m 67, bookTicker 613, plus
     * REST depth snapshots for the 4 symbols; 2021-07-22 22:25:40-22:26:11. */
    assert_int_equal(f->lines, 1542);
    assert_int_equal(f->messages[KS_RP_TRADE], 91);
    assert_int_equal(f->messages[KS_RP_BOOK], 764 + 4);
    assert_int_equal(f->snapshots, 4);
    assert_int_equal(f->messages[KS_RP_KLINE], 67);
    assert_int_equal(f->messages[KS_RP_BBO], 613);
    assert_time_in(f->first_ts, "2021-07-22T22:25:40Z", "2021-07-22T22:25:41Z");
    assert_time_in(f->last_ts, "2021-07-22T22:26:11Z", "2021-07-22T22:26:12Z");
    finish(r, NULL);
    const ks_rp_inst_t *in = find_inst(r, "SUSHI/USDT:USDT");
    find_inst(r, "AKRO/USDT:USDT");
    find_inst(r, "KEEP/USDT:USDT");
    find_inst(r, "CTK/USDT:USDT");
    assert_dec_str(in->tick, "0.001"); /* exchangeInfo PRICE_FILTER */
    ks_replay_free(r);
}

static void cryptofeed_text_bybit_bbo_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("cryptofeed/BYBIT.ws.1.0");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    assert_string_equal(f->format, "cryptofeed-text");
    /* README: 207 lines, 198 book messages, 2025-06-13 16:51:14-16:51:42. */
    assert_int_equal(f->lines, 207);
    assert_int_equal(f->messages[KS_RP_BOOK], 198);
    assert_time_in(f->first_ts, "2025-06-13T16:51:11Z", "2025-06-13T16:51:15Z");
    assert_time_in(f->last_ts, "2025-06-13T16:51:42Z", "2025-06-13T16:51:43Z");
    finish(r, NULL);
    find_inst(r, "SNT/USDT:USDT");
    find_inst(r, "RAD/USDT:USDT");
    ks_replay_free(r);
}

static void bybit_history_orderbook_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("nautilus_trader/2024-12-01_XRPUSDT_ob500.data");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    /* README: 1 snapshot and 49 deltas, 2024-12-01 00:00:00.691-00:00:05.490. */
    assert_int_equal(f->messages[KS_RP_BOOK], 50);
    assert_int_equal(f->snapshots, 1);
    assert_int_equal(f->first_ts, T("2024-12-01T00:00:00.691Z"));
    assert_int_equal(f->last_ts, T("2024-12-01T00:00:05.490Z"));
    ks_replay_free(r);
}

/* ---- Binance CSVs (gravestone-data) ----------------------------------------------- */

static void funding_and_klines_directory_has_the_17_symbols(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("gravestone-data");
    /* README: 17 symbols with 1h klines, 69,905 rows 2025-09-13 -> 2026-03-19; their
     * funding files; 4h open interest, 2,783 rows. */
    assert_int_equal(ks_replay_inst_count(r), 17);
    assert_int_equal(sum_files(r, KS_RP_KLINE), 69905);
    assert_int_equal(sum_files(r, KS_RP_FUNDING), 3296);
    assert_int_equal(sum_files(r, KS_RP_TICKER), 2783);
    finish(r, NULL);
    /* Kline events sit at close_time: the first candle opened 2025-09-13 08:00. */
    assert_time_in(ks_replay_first_ts(r), "2025-09-13T08:59:59Z", "2025-09-13T09:00:00Z");
    assert_time_in(ks_replay_last_ts(r), "2026-03-20T04:00:00Z", "2026-03-20T04:00:01Z");
    const ks_rp_inst_t *btc = find_inst(r, "BTC/USDT:USDT");
    assert_true(btc->flags & KS_RPI_KLINE);
    assert_true(btc->flags & KS_RPI_FUNDING);
    assert_int_equal(btc->funding_interval_h, 8);
    find_inst(r, "1000PEPE/USDT:USDT");
    find_inst(r, "LYN/USDT:USDT");
    ks_replay_free(r);
}

static void candle_ticker_carries_the_upcoming_recorded_funding(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("gravestone-data");
    finish(r, NULL);
    int32_t btc = inst_index(r, "BTC/USDT:USDT"), lyn = inst_index(r, "LYN/USDT:USDT");
    /* BTC: the candle closing 2026-01-12 15:59:59.999 announces the 16:00 settlement at
     * 0.00004650, interval 8 h. A candle more than one interval before the first recorded
     * settlement has no rate: the upcoming one is not in the data. */
    bool seen_first = false, seen_none = false;
    int32_t lyn_1h = 0;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        if (e->kind != KS_RP_KLINE)
            continue;
        const ks_rp_ticker_t *t = ks_replay_ticker(r, e);
        if (e->inst == btc && e->ts == T("2026-01-12T15:59:59.999Z")) {
            assert_true(t->fields & KS_TK_FUNDING_RATE);
            assert_dec_str(t->funding_rate, "0.0000465");
            assert_int_equal(t->next_funding_ts, T("2026-01-12T16:00:00Z"));
            assert_int_equal(t->funding_interval_h, 8);
            assert_true(t->fields & KS_TK_VOLUME_QUOTE_24H);
            seen_first = true;
        }
        if (e->inst == btc && e->ts == T("2025-12-01T00:59:59.999Z")) {
            assert_false(t->fields & KS_TK_FUNDING_RATE);
            seen_none = true;
        }
        if (e->inst == lyn && (t->fields & KS_TK_FUNDING_INTERVAL) && t->funding_interval_h == 1)
            lyn_1h++;
    }
    assert_true(seen_first);
    assert_true(seen_none);
    assert_true(lyn_1h > 100); /* LYNUSDT settles hourly */
    ks_replay_free(r);
}

static void all_binance_funding_files_match_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("gravestone-data/data/funding");
    /* README: all 539 files, 107,311 rows, 2026-01-12 16:00 -> 2026-03-20 04:00. */
    assert_int_equal(ks_replay_file_count(r), 539);
    assert_int_equal(sum_files(r, KS_RP_FUNDING), 107311);
    assert_int_equal(ks_replay_inst_count(r), 539);
    finish(r, NULL);
    assert_int_equal(ks_replay_first_ts(r), T("2026-01-12T16:00:00Z"));
    assert_time_in(ks_replay_last_ts(r), "2026-03-20T04:00:00Z", "2026-03-20T04:00:01Z");
    ks_replay_free(r);
}

static void binance_liquidations_csv_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("chiefJurist-Trading-Bot/binance_liquidations.excerpt.csv");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    assert_string_equal(f->format, "binance-liquidations-csv");
    /* README: 473 events, 2025-10-22 09:45:01.050 -> 09:49:22.689, 422 SELL, 51 BUY. */
    assert_int_equal(f->messages[KS_RP_LIQ], 473);
    assert_int_equal(f->first_ts, T("2025-10-22T09:45:01.050Z"));
    assert_int_equal(f->last_ts, T("2025-10-22T09:49:22.689Z"));
    /* 32 events (27 SELL, 5 BUY) are for "币安人生USDT", which has no ASCII symbol:
     * counted, not replayed. */
    assert_int_equal(f->skipped, 32);
    assert_int_equal(f->events, 473 - 32);
    int sells = 0, buys = 0;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        assert_int_equal(e->kind, KS_RP_LIQ);
        sells += e->side == KS_SIDE_SELL;
        buys += e->side == KS_SIDE_BUY;
    }
    assert_int_equal(sells + 27, 422);
    assert_int_equal(buys + 5, 51);
    /* The venue settles in USDT (the first perp's quote): the 18 USDC-perp events go. */
    finish(r, NULL);
    assert_string_equal(ks_replay_quote(r), "USDT");
    assert_int_equal(ks_replay_count(r), 473 - 32 - 18);
    bool cascade = false;
    int32_t btc = inst_index(r, "BTC/USDT:USDT");
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        if (e->inst == btc && e->ts == T("2025-10-22T09:45:55.267Z")) {
            assert_dec_str(e->qty, "2.82"); /* the cascade: BTCUSDT 2.82 */
            cascade = true;
        }
    }
    assert_true(cascade);
    ks_replay_free(r);
}

/* ---- Hyperliquid ------------------------------------------------------------------ */

static void hyperliquid_ctx_csv_matches_readme(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("hyperliquid-funding-tracker/data/funding_rates.csv");
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    /* README: 11 snapshots of 228 perps, 2,508 rows, 2026-02-04 21:19 -> 2026-02-09 21:28. */
    assert_int_equal(f->messages[KS_RP_TICKER], 2508);
    assert_int_equal(ks_replay_inst_count(r), 228);
    assert_time_in(f->first_ts, "2026-02-04T21:19:00Z", "2026-02-04T21:20:00Z");
    assert_time_in(f->last_ts, "2026-02-09T21:28:00Z", "2026-02-09T21:29:00Z");
    finish(r, NULL);
    const ks_rp_inst_t *btc = find_inst(r, "BTC/USDC:USDC");
    assert_int_equal(btc->funding_interval_h, 1);
    assert_true(btc->flags & KS_RPI_MARK);
    int64_t snaps[16];
    int ns = 0;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        int64_t ts = ks_replay_event(r, i)->ts;
        if (!ns || snaps[ns - 1] != ts) {
            assert_true(ns < 16);
            snaps[ns++] = ts;
        }
    }
    assert_int_equal(ns, 11);
    ks_replay_free(r);
}

static void hyperliquid_asset_ctxs_are_named_by_the_universe_beside_them(void **state)
{
    NEED_SHARED();
    char a[1200], b[1200], err[1400];
    snprintf(a, sizeof(a), "%s/nautilus_trader/ws_all_dexs_asset_ctxs.json", shared);
    snprintf(b, sizeof(b), "%s/hyperliquid-funding-tracker/data/funding_rates.csv", shared);
    ks_replay_t *r = ks_replay_new();
    assert_int_equal(ks_replay_load(r, a, err, sizeof(err)), KS_OK);
    const ks_rp_file_t *f = ks_replay_file(r, 0);
    assert_string_equal(f->format, "hyperliquid-asset-ctxs");
    /* README: the main dex (230 perps) plus xyz (80), hyna, km, cash, flx, vntl, para, abcd. */
    assert_int_equal(f->messages[KS_RP_TICKER], 230 + 80 + 25 + 23 + 17 + 16 + 15 + 5 + 1);
    assert_int_equal(ks_replay_load(r, b, err, sizeof(err)), KS_OK);
    finish(r, NULL);
    /* Placed at the start of the timed data beside it, named in meta.universe order. */
    int32_t btc = inst_index(r, "BTC/USDC:USDC");
    bool ctx_oracle = false;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        if (e->inst == btc && e->kind == KS_RP_ORACLE) {
            assert_dec_str(e->px, "77605");
            assert_int_equal(e->ts, ks_replay_first_ts(r));
            ctx_oracle = true;
        }
    }
    assert_true(ctx_oracle);
    find_inst(r, "ETH/USDC:USDC");
    find_inst(r, "XYZ-IDX0/USDC:USDC"); /* builder dexes have no names to go by */
    ks_replay_free(r);
}

static void account_level_liquidations_are_refused_with_a_reason(void **state)
{
    NEED_SHARED();
    char path[1200], err[1400];
    snprintf(path, sizeof(path), "%s/hyperliquid-historical_data/liquidations.csv", shared);
    ks_replay_t *r = ks_replay_new();
    assert_int_equal(ks_replay_load(r, path, err, sizeof(err)), KS_ENOTSUP);
    assert_non_null(strstr(err, "no coin, no price"));
    ks_replay_free(r);
}

/* ---- finish(): window, filter, synthetic spot ------------------------------------- */

static void synthetic_spot_follows_the_perp_candles(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("gravestone-data");
    const char *syms[] = {"BTC", "ETHUSDT"};
    ks_replay_opts_t o = {.synthetic_spot = true, .symbols = syms, .n_symbols = 2};
    finish(r, &o);
    const ks_rp_inst_t *spot = find_inst(r, "BTC/USDT");
    assert_true(spot->flags & KS_RPI_SYNTHETIC);
    assert_true(spot->keep);
    find_inst(r, "ETH/USDT");
    assert_false(find_inst(r, "SOL/USDT:USDT")->keep);
    int32_t sp = inst_index(r, "BTC/USDT"), pp = inst_index(r, "BTC/USDT:USDT");
    uint64_t ns = 0, np = 0;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        ns += e->inst == sp && e->kind == KS_RP_KLINE;
        np += e->inst == pp && e->kind == KS_RP_KLINE;
        assert_true(ks_replay_inst(r, (uint32_t)e->inst)->keep);
    }
    assert_int_equal(ns, 4500);
    assert_int_equal(np, 4500);
    ks_replay_free(r);
}

static void window_keeps_state_as_priming_and_drops_old_prints(void **state)
{
    NEED_SHARED();
    ks_replay_t *r = load("hftbacktest/usdm/btcusdt_20240808.gz");
    ks_replay_opts_t o = {.start_ns = T("2024-08-08T23:57:00Z"),
                          .end_ns = T("2024-08-08T23:58:00Z")};
    finish(r, &o);
    assert_int_equal(ks_replay_first_ts(r), o.start_ns);
    assert_true(ks_replay_last_ts(r) <= o.end_ns);
    uint64_t prime = 0;
    for (uint32_t i = 0; i < ks_replay_count(r); i++) {
        const ks_rp_event_t *e = ks_replay_event(r, i);
        if (e->flags & KS_RPF_PRIME) {
            assert_int_equal(e->ts, o.start_ns);
            assert_true(e->kind == KS_RP_BOOK || e->kind == KS_RP_BBO);
            prime++;
        }
    }
    assert_true(prime > 1000);
    ks_replay_free(r);
}

static void unknown_files_are_refused_and_directories_skip_them(void **state)
{
    NEED_SHARED();
    char path[1200], err[1400];
    snprintf(path, sizeof(path), "%s/README.md", shared);
    ks_replay_t *r = ks_replay_new();
    assert_int_equal(ks_replay_load(r, path, err, sizeof(err)), KS_ENOTSUP);
    assert_non_null(strstr(err, "unrecognized"));
    snprintf(path, sizeof(path), "%s/hftbacktest", shared); /* LICENSE + 5 captures */
    assert_int_equal(ks_replay_load(r, path, err, sizeof(err)), KS_OK);
    assert_int_equal(ks_replay_file_count(r), 5);
    ks_replay_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hftbacktest_binance_usdm_btc_matches_readme),
        cmocka_unit_test(hftbacktest_binance_spot_btc_matches_readme),
        cmocka_unit_test(hftbacktest_hyperliquid_matches_readme),
        cmocka_unit_test(cryptofeed_bybit_matches_readme),
        cmocka_unit_test(cryptofeed_binance_futures_matches_readme),
        cmocka_unit_test(cryptofeed_text_bybit_bbo_matches_readme),
        cmocka_unit_test(bybit_history_orderbook_matches_readme),
        cmocka_unit_test(funding_and_klines_directory_has_the_17_symbols),
        cmocka_unit_test(candle_ticker_carries_the_upcoming_recorded_funding),
        cmocka_unit_test(all_binance_funding_files_match_readme),
        cmocka_unit_test(binance_liquidations_csv_matches_readme),
        cmocka_unit_test(hyperliquid_ctx_csv_matches_readme),
        cmocka_unit_test(hyperliquid_asset_ctxs_are_named_by_the_universe_beside_them),
        cmocka_unit_test(account_level_liquidations_are_refused_with_a_reason),
        cmocka_unit_test(synthetic_spot_follows_the_perp_candles),
        cmocka_unit_test(window_keeps_state_as_priming_and_drops_old_prints),
        cmocka_unit_test(unknown_files_are_refused_and_directories_skip_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
