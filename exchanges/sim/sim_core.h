/* sim_core: the simulated venue's matching engine and accounts, as a pure library.
 *
 * No host API, no I/O, no clock, no globals: every call takes the venue time (`ts`, ns
 * since the Unix epoch) and results leave through a ks_sim_sink_t of callbacks that
 * receive SDK event structs (kestrel/event.h). The Kestrel sim plugin forwards them to
 * ks_host_api_t.emit; a loopback venue emulator translates them into its venue's JSON.
 *
 * Use:
 *     ks_sim_core_t *c = ks_sim_core_new(seed, &sink);
 *     ks_sim_core_add_inst(c, &spec, &idx);            // once per instrument
 *     ks_sim_core_deposit(c, KS_WALLET_SPOT, "USDT", amount);
 *     ks_sim_core_step(c, ts, inputs);                  // every market step
 *     ks_sim_core_place(c, ts, &cmd);                   // cmd.inst is the core index
 *     ks_sim_core_free(c);
 *
 * Instruments are addressed by their core index (0, 1, ... in add order). Events carry
 * the instrument's `ext_id` in hdr.inst (the host id in the plugin; set it with
 * ks_sim_core_set_ext_id), -1 for balances.
 *
 * State is plain arrays and structs without pointers into transient memory (only the
 * sink is transient: re-attach it after restoring), so it can be persisted later. All
 * prices, sizes and money are ks_dec_t; see README.md for the models (queue model,
 * margin, liquidation price, funding). */
#ifndef KS_SIM_CORE_H
#define KS_SIM_CORE_H

#include <kestrel/kestrel.h>

#define KS_SIM_MAX_INST   1024 /* replays of wide datasets register hundreds */
#define KS_SIM_MAX_LEVELS 50
#define KS_SIM_MAX_ASSETS 1024
#define KS_SIM_MAX_FLOWS  16
/* Finished orders kept for fetch-by-cloid (duplicate detection covers every cloid). */
#define KS_SIM_DONE_RING 2048
/* Fraction digits of every wallet amount (fees, margins, funding are rounded to it). */
#define KS_SIM_ACCT_SCALE 8
/* Fraction digits of derived prices (average entry, average fill price). */
#define KS_SIM_PX_SCALE 10

/* Zeroes an event struct and sets hdr.struct_size and hdr.type. (KS_INIT needs a
 * top-level struct_size, which event structs keep in their header.) */
#define KS_SIM_EV_INIT(ev, ev_type)                                                                \
    do {                                                                                           \
        memset((ev), 0, sizeof(*(ev)));                                                            \
        (ev)->hdr.struct_size = (uint32_t)sizeof(*(ev));                                           \
        (ev)->hdr.type = (uint16_t)(ev_type);                                                      \
    } while (0)

/* One instrument. Copied by ks_sim_core_add_inst(). */
typedef struct ks_sim_inst_spec {
    uint8_t kind; /* KS_KIND_SPOT or KS_KIND_PERP */
    char symbol[KS_SYMBOL_LEN];
    char base[KS_ASSET_LEN];
    char quote[KS_ASSET_LEN]; /* also the settle asset of a perp */
    ks_dec_t tick, lot;       /* tick.scale + lot.scale <= KS_SIM_ACCT_SCALE */
    ks_dec_t min_qty, min_notional;
    ks_dec_t maker_fee, taker_fee; /* rates; fee = rate * notional, in quote */
    ks_dec_t mmr;                  /* perps: maintenance margin rate (0.005) */
    int32_t leverage;              /* perps: initial leverage (10) */
    int32_t max_leverage;          /* perps */
    int32_t funding_interval_h;    /* perps: divides 24 */
    /* Synthetic book: `book_levels` levels per side, a spread of `spread_ticks`, touch
     * depth `depth_lots` lots growing by depth_growth_pct per level away from the touch,
     * each level scaled by a uniform factor in [100-jitter, 100+jitter] %. */
    int32_t book_levels;
    int32_t spread_ticks;
    int64_t depth_lots;
    int32_t depth_growth_pct;
    int32_t depth_jitter_pct;
    int32_t ext_id; /* carried in hdr.inst */
    /* Perps: no epoch-aligned settlement; funding is settled only by
     * ks_sim_core_settle_funding() (recorded settlement times and rates in a replay).
     * funding_interval_h is then informational and may be any value >= 0. */
    bool external_funding;
} ks_sim_inst_spec_t;

/* Aggressive public order flow for one step: a synthetic taker of `qty` on `side`. */
typedef struct ks_sim_flow {
    int8_t side; /* ks_side_t of the aggressor */
    ks_dec_t qty;
} ks_sim_flow_t;

/* What the market does to one instrument in one step. */
typedef struct ks_sim_input {
    ks_dec_t mid;          /* book centre; zero keeps the previous book */
    ks_dec_t mark;         /* perps: mark price; zero keeps the previous one */
    ks_dec_t funding_rate; /* perps: rate settled if this step crosses a funding boundary */
    uint32_t n_flows;
    ks_sim_flow_t flows[KS_SIM_MAX_FLOWS];
} ks_sim_input_t;

/* Where results go. Every callback may be NULL. Events are borrowed and valid during
 * the call only; the core never calls back into itself from a callback's return path,
 * but a callback must not call ks_sim_core_* functions. */
typedef struct ks_sim_sink {
    void *ud;
    /* Order acks, state changes, rejections (status REJECTED, reject/reason set). */
    void (*on_order)(void *ud, const ks_order_update_t *ev);
    /* Own executions; trade_id is unique and equals the public print's trade_id. */
    void (*on_fill)(void *ud, const ks_fill_t *ev);
    /* A perp position after every change (also leverage changes, liquidations). */
    void (*on_position)(void *ud, const ks_position_t *ev);
    /* One wallet asset after every change (total, available; futures: equity, margins). */
    void (*on_balance)(void *ud, const ks_balance_t *ev);
    /* Funding settled into one position. */
    void (*on_funding)(void *ud, const ks_funding_t *ev);
    /* This account's position was forcibly liquidated (side of the forced order). */
    void (*on_liquidation)(void *ud, const ks_liquidation_t *ev);
    /* Public trade prints: synthetic flow and own executions. */
    void (*on_trade)(void *ud, const ks_trade_t *ev);
} ks_sim_sink_t;

typedef struct ks_sim_core ks_sim_core_t;

/* Caller owns the result; free with ks_sim_core_free(). sink is copied. NULL on ENOMEM. */
ks_sim_core_t *ks_sim_core_new(uint64_t seed, const ks_sim_sink_t *sink);
void ks_sim_core_free(ks_sim_core_t *c);
void ks_sim_core_set_sink(ks_sim_core_t *c, const ks_sim_sink_t *sink);

/* Adds an instrument (spec copied) and stores its core index in *idx. KS_EINVAL with a
 * reason in err for an inconsistent spec, KS_ERANGE when full. */
int ks_sim_core_add_inst(ks_sim_core_t *c, const ks_sim_inst_spec_t *spec, int32_t *idx, char *err,
                         size_t err_len);
int ks_sim_core_set_ext_id(ks_sim_core_t *c, int32_t idx, int32_t ext_id);
int ks_sim_core_inst_count(const ks_sim_core_t *c);
const ks_sim_inst_spec_t *ks_sim_core_spec(const ks_sim_core_t *c, int32_t idx);

/* Credits a wallet without events (initial balances). The futures wallet holds only the
 * instruments' quote asset. */
int ks_sim_core_deposit(ks_sim_core_t *c, int wallet, const char *asset, ks_dec_t amount);

/* Advances the venue to `ts`. in[i] is for instrument i (ks_sim_core_inst_count()
 * entries). Per instrument: rebuild the book from in.mid, fill resting orders the new
 * book crosses, run the flows (which fill resting orders at or better than the touch by
 * the queue model, then print against the book). Then mark updates, forced
 * liquidations, and funding at every interval boundary in (previous ts, ts]. */
int ks_sim_core_step(ks_sim_core_t *c, int64_t ts, const ks_sim_input_t *in);

/* Order entry. cmd->inst is the core index. Returns KS_OK when the request was handled
 * (a rejection is an event), < 0 for an unknown instrument or a malformed command. */
int ks_sim_core_place(ks_sim_core_t *c, int64_t ts, const ks_order_cmd_t *cmd);

/* How one placement misbehaves (the sim plugin's injected faults). Zeroed: no fault. */
typedef struct ks_sim_place_fault {
    int32_t reject;     /* != KS_REJ_NONE: refuse the order with this code and `reason`, after
                         * the duplicate check (the cloid is remembered like any rejection) */
    const char *reason; /* borrowed */
    ks_dec_t max_fill;  /* > 0: a market/IOC order executes at most this much (a thin book);
                         * the rest is canceled. FOK and resting orders ignore it. */
} ks_sim_place_fault_t;

/* ks_sim_core_place() with a fault (NULL: none, identical to ks_sim_core_place()). */
int ks_sim_core_place_fault(ks_sim_core_t *c, int64_t ts, const ks_order_cmd_t *cmd,
                            const ks_sim_place_fault_t *fault);
/* Cancel by cloid. An unknown cloid emits a REJECTED update with KS_REJ_UNKNOWN_ORDER; a
 * finished order re-emits its final state. */
int ks_sim_core_cancel(ks_sim_core_t *c, int64_t ts, int32_t inst, const char *cloid);
/* inst -1: every instrument. Returns the number of orders canceled. */
int ks_sim_core_cancel_all(ks_sim_core_t *c, int64_t ts, int32_t inst);
/* New price and/or quantity (zero: unchanged) of a resting order; a new price loses
 * queue priority and may execute as taker (post-only: rejected instead). A refused amend
 * emits the unchanged order with reject and reason set. */
int ks_sim_core_amend(ks_sim_core_t *c, int64_t ts, const ks_amend_cmd_t *cmd);

/* Moves `amount` of `asset` between KS_WALLET_SPOT and KS_WALLET_FUTURES. Returns KS_OK
 * or a negative code with a reason in detail; emits balance updates on success. */
int ks_sim_core_transfer(ks_sim_core_t *c, int64_t ts, const ks_transfer_cmd_t *cmd, char *detail,
                         size_t detail_len);
/* Leverage of a perp (1..max_leverage). An open position's margin is re-based to
 * notional at entry / leverage; KS_EREJECT (reason in detail) when the wallet cannot
 * cover the increase. Emits the position. */
int ks_sim_core_set_leverage(ks_sim_core_t *c, int64_t ts, int32_t inst, int32_t leverage,
                             char *detail, size_t detail_len);

/* Reconciliation snapshots: emit the objects with hdr.flags = `flags`. inst -1: all.
 * Positions: every non-zero one (inst -1) or the one asked for (even when flat).
 * Balances: every spot asset and the futures quote asset. Return the number emitted. */
int ks_sim_core_emit_open_orders(ks_sim_core_t *c, int64_t ts, int32_t inst, uint16_t flags);
int ks_sim_core_emit_positions(ks_sim_core_t *c, int64_t ts, int32_t inst, uint16_t flags);
int ks_sim_core_emit_balances(ks_sim_core_t *c, int64_t ts, uint16_t flags);
/* One order (open or recently finished) by cloid; KS_ENOENT when unknown or too old. */
int ks_sim_core_emit_order(ks_sim_core_t *c, int64_t ts, const char *cloid, uint16_t flags);

/* Read access for market data and tests. Levels are best first; borrowed, valid until
 * the next call that changes the core. */
int ks_sim_core_book(const ks_sim_core_t *c, int32_t inst, const ks_level_t **bids,
                     uint32_t *n_bids, const ks_level_t **asks, uint32_t *n_asks);
/* Book update counter (increments on every rebuild and every consumption). */
uint64_t ks_sim_core_book_seq(const ks_sim_core_t *c, int32_t inst);
ks_dec_t ks_sim_core_last_price(const ks_sim_core_t *c, int32_t inst);
ks_dec_t ks_sim_core_mark(const ks_sim_core_t *c, int32_t inst);
/* Next funding settlement (ns since the epoch), 0 for spot or before the first step. */
int64_t ks_sim_core_next_funding(const ks_sim_core_t *c, int32_t inst);
int ks_sim_core_get_position(const ks_sim_core_t *c, int32_t inst, ks_position_t *out);
int ks_sim_core_get_balance(const ks_sim_core_t *c, int wallet, const char *asset,
                            ks_balance_t *out);
int ks_sim_core_open_order_count(const ks_sim_core_t *c);
/* Isolated-margin liquidation price for a position of signed `qty` with total entry
 * cost `cost` (sum of px*qty, signed like qty), margin `margin`, maintenance rate
 * `mmr`, rounded to `tick` against the holder (long: up, short: down). Zero when none. */
ks_dec_t ks_sim_core_liq_price(ks_dec_t qty, ks_dec_t cost, ks_dec_t margin, ks_dec_t mmr,
                               ks_dec_t tick);
/* ---- replay: the market comes from recorded data instead of ks_sim_core_step() ------

 * These drive one instrument at a time; every one first sets the venue time to ts.
 * Queue model (see README.md): a resting order joins behind the displayed quantity at
 * its price (queue_ahead); recorded prints at its price first consume queue_ahead, the
 * excess fills it; a print at a worse price (the level traded through) fills the whole
 * remainder; a book update can only shrink queue_ahead (to the displayed quantity). */

/* A recorded book (levels best first; at most KS_SIM_MAX_LEVELS per side are kept)
 * replaces the instrument's book; resting orders have queue_ahead clipped to the
 * displayed quantity and fill as maker if the new book crosses them. */
int ks_sim_core_replay_book(ks_sim_core_t *c, int32_t inst, int64_t ts, const ks_level_t *bids,
                            uint32_t n_bids, const ks_level_t *asks, uint32_t n_asks);
/* Rebuilds the synthetic book (the spec's shape) around mid, as a step would, then
 * the same queue clip and crossing as ks_sim_core_replay_book(). */
int ks_sim_core_replay_mid(ks_sim_core_t *c, int32_t inst, int64_t ts, ks_dec_t mid);

/* One recorded public print (or, with publish false, evidence that the market traded
 * there, e.g. a kline's high and low). */
typedef struct ks_sim_print {
    int8_t side; /* aggressor, ks_side_t */
    ks_dec_t px, qty;
    bool through_only; /* fill only orders the print traded through (not those at px) */
    bool publish;      /* emit the public trade (on_trade) */
} ks_sim_print_t;
/* Runs the queue model on resting orders of the passive side, then prints. */
int ks_sim_core_replay_trade(ks_sim_core_t *c, int32_t inst, int64_t ts, const ks_sim_print_t *p);
/* Sets the perp mark (positions, margin, liquidation price) and liquidates a position
 * the mark reached. Spot: ignored. */
int ks_sim_core_replay_mark(ks_sim_core_t *c, int32_t inst, int64_t ts, ks_dec_t mark);
/* Settles funding of a perp at `rate` on the current mark: the position receives
 * -qty * mark * rate (rounded toward -inf at KS_SIM_ACCT_SCALE), one KS_EV_FUNDING with
 * hdr.venue_ts = ts, then the futures balance. Returns 1 when a payment was made, 0 when
 * flat or without a mark, < 0 on a bad instrument. */
int ks_sim_core_settle_funding(ks_sim_core_t *c, int32_t inst, int64_t ts, ks_dec_t rate);
/* Queue position of a resting order (tests, diagnostics): the quantity ahead of it at
 * its price. KS_ENOENT when the cloid is not resting. */
int ks_sim_core_queue_ahead(const ks_sim_core_t *c, const char *cloid, ks_dec_t *out);

/* Decimal operations that did not fit (should stay 0; a non-zero count is a bug). */
uint64_t ks_sim_core_numeric_errors(const ks_sim_core_t *c);

#endif
