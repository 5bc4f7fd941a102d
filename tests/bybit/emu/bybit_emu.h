/* A loopback Bybit v5 emulator for tests: the REST and WebSocket subset the Kestrel
 * adapter uses, on 127.0.0.1, backed by the sim venue's matching core (sim_core: orders,
 * positions, wallets) and market generator (sim_market: prices, trades, liquidations).
 *
 * It checks requests the way Bybit does (venues/bybit.md §2, §3.1): a wrong signature
 * is retCode 10004, a timestamp outside [server - recvWindow, server + 1000) is 10002,
 * an unknown key is 10003; WebSocket auth likewise. Faults are scripted by name:
 *
 *   drop             close every WebSocket (drop:public, drop:private for one kind)
 *   gap              lose one order-book delta on every book topic (u skips a value)
 *   dup[:N]          send the next N messages of each stream (public linear, public spot,
 *                    private) twice (default 20)
 *   stall[:MS]       send nothing and answer no ping for MS ms (default 8000)
 *   delay[:N[:MS]]   delay the next N order-entry replies by MS ms (default 3, 1500)
 *   http429[:N]      answer the next N order-entry requests with HTTP 429
 *   ret10006[:N]     ... with retCode 10006 "Too many visits!"
 *   http5xx[:N]      ... with HTTP 503 (the request is not processed)
 *   timeout[:N]      process the next N creates but never answer them
 *   blackhole[:N]    drop the next N creates unprocessed and never answer
 *   authfail[:N]     refuse the next N private WebSocket auths (and drop private sockets
 *                    so the client has to authenticate again)
 *   feerate400[:N]   answer the next N GET /v5/account/fee-rate with HTTP 400 (as Bybit's
 *                    demo hosts do)
 *
 * Order entry = POST /v5/order/create, cancel, amend, cancel-all. Faults run at once
 * (ks_bybit_emu_fault) or at a time after start ("gap@5" on the command line). The
 * emulator keeps a record of every order it processed and every fill, for comparing
 * with the host's database. All callbacks run on the caller's loop. */
#ifndef KS_TEST_BYBIT_EMU_H
#define KS_TEST_BYBIT_EMU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "loop.h"
#include "ws.h"

#define KS_BYBIT_EMU_KEY    "emu-key"
#define KS_BYBIT_EMU_SECRET "emu-secret"

typedef struct ks_bybit_emu ks_bybit_emu_t;

typedef struct ks_bybit_emu_opts {
    const char *host;         /* "127.0.0.1" when NULL */
    int port;                 /* 0: any free port */
    uint64_t seed;            /* market seed (42) */
    int step_ms;              /* market step (250) */
    const char *api_key;      /* KS_BYBIT_EMU_KEY when NULL */
    const char *api_secret;   /* KS_BYBIT_EMU_SECRET when NULL */
    const char *const *bases; /* "BTC", "ETH", "SOL" when NULL */
    int n_bases;
    const char *usdt;     /* starting USDT of the unified wallet ("200000") */
    int instruments_page; /* instruments-info page size (0: everything on one page) */
    /* The account's fee rates: what /v5/account/fee-rate answers and what fills are
     * charged. NULL: linear maker "0.0001" taker "0.0004", spot "0.0008" / "0.0008" —
     * deliberately not the adapter's defaults, so a test can tell which applied. */
    const char *linear_maker_fee, *linear_taker_fee, *spot_maker_fee, *spot_taker_fee;
    bool log; /* one line per request/fault on stderr */
    /* An lws context to share (borrowed; must outlive the emulator). NULL: its own.
     * Share the client's context when both live in one process: two lws contexts in one
     * process leak OpenSSL state at exit (seen with LeakSanitizer). */
    ks_wsctx_t *ctx;
} ks_bybit_emu_opts_t;

typedef struct ks_bybit_emu_stats {
    uint64_t rest_requests, ws_messages_in, ws_messages_out;
    uint64_t auth_ok, auth_failed;              /* WebSocket */
    uint64_t sig_errors, ts_errors, key_errors; /* REST 10004, 10002, 10003 */
    uint64_t orders, fills;
    uint64_t gaps_injected;
    uint64_t book_subscribes;             /* orderbook topic subscriptions */
    uint64_t book_resubscribes_after_gap; /* book subscriptions after a gap was injected */
    uint64_t private_connects, public_connects;
    uint64_t faults_fired;
    uint64_t duplicate_cloids;  /* creates whose orderLinkId the matching engine had seen */
    uint64_t fee_rate_requests; /* GET /v5/account/fee-rate, faulted ones included */
} ks_bybit_emu_stats_t;

/* Starts the emulator on `loop` with its own lws context. NULL with a reason in err.
 * Caller owns the result; free with ks_bybit_emu_free(). */
ks_bybit_emu_t *ks_bybit_emu_new(ks_loop_t *loop, const ks_bybit_emu_opts_t *opts, char *err,
                                 size_t err_len);
void ks_bybit_emu_free(ks_bybit_emu_t *emu);
int ks_bybit_emu_port(const ks_bybit_emu_t *emu);

/* Runs a fault now ("gap", "http429:2", ...). KS_EINVAL for an unknown one. */
int ks_bybit_emu_fault(ks_bybit_emu_t *emu, const char *spec);
/* Runs a fault `after_ms` from now. */
int ks_bybit_emu_fault_at(ks_bybit_emu_t *emu, const char *spec, int64_t after_ms);

void ks_bybit_emu_stats(const ks_bybit_emu_t *emu, ks_bybit_emu_stats_t *out);

/* Writes the emulator's record as JSON lines: {"kind":"order",...} per order it
 * processed (cloid, order_id, symbol, category, side, qty, status, filled) and
 * {"kind":"fill",...} per execution (exec_id, cloid, price, qty), then one
 * {"kind":"stats",...}. */
int ks_bybit_emu_write_record(const ks_bybit_emu_t *emu, FILE *f);

/* The account as JSON (also GET /emu/state): {"instruments": [{"symbol": "BTC/USDT",
 * "qty": "0.01"}, ...], "orders": N, "open_orders": N, "duplicate_cloids": N}, where qty is
 * the spot wallet's base holding (spot) or the signed position (linear), unified symbols.
 * For tests comparing a host's records with the venue's. */
int ks_bybit_emu_write_state(const ks_bybit_emu_t *emu, FILE *f);

/* Status of an order in Bybit words ("Filled"), or NULL when the emulator never saw it. */
const char *ks_bybit_emu_order_status(const ks_bybit_emu_t *emu, const char *cloid);

#endif
