/* Kestrel SDK: the operations a risk module plugin implements.
 *
 * check() runs on every order intent, in the configured chain order, synchronously
 * and without I/O: it must return in well under a microsecond. on_event() sees every
 * event and may ask the host to act through ks_host_api_t.request_action. */
#ifndef KESTREL_RISK_H
#define KESTREL_RISK_H

#include "abi.h"
#include "event.h"
#include "host.h"
#include "instrument.h"
#include "order.h"

typedef enum ks_risk_verdict {
    KS_RISK_ALLOW = 0,
    KS_RISK_RESIZE = 1, /* allowed with decision.qty (smaller) */
    KS_RISK_REJECT = 2,
} ks_risk_verdict_t;

typedef struct ks_risk_decision {
    uint32_t struct_size;
    uint32_t verdict; /* ks_risk_verdict_t */
    ks_dec_t qty;     /* KS_RISK_RESIZE: the allowed quantity */
    char reason[KS_REASON_LEN];
} ks_risk_decision_t;

/* What the host knows about one instrument's market, for risk decisions. Times are
 * host monotonic ns (recv_ns); zero when never received. */
typedef struct ks_market_view {
    uint32_t struct_size;
    ks_dec_t bid_px, bid_qty, ask_px, ask_qty;
    int64_t bbo_recv_ns;
    ks_dec_t mark, index, last, funding_rate, open_interest, volume_quote_24h;
    int64_t ticker_recv_ns;
    ks_dec_t oracle;
    int64_t oracle_recv_ns;
    int64_t last_venue_ts; /* newest venue timestamp seen on this instrument */
    uint32_t spec_version;
    uint32_t inst_flags; /* KS_INST_* */
} ks_market_view_t;

/* Read-only view of the host's portfolio, valid during the call only. */
typedef struct ks_portfolio ks_portfolio_t;
typedef struct ks_portfolio_api {
    uint32_t struct_size;
    int64_t (*now_ns)(const ks_portfolio_t *pf);
    /* Signed position of `strategy` (NULL: all strategies) in inst. */
    ks_dec_t (*position)(const ks_portfolio_t *pf, const char *strategy, int32_t inst);
    /* Number of instruments where `strategy` (NULL: all) holds a non-zero position. */
    int (*open_positions)(const ks_portfolio_t *pf, const char *strategy);
    /* Sum of |position| * mark over every instrument, in quote currency. */
    ks_dec_t (*gross_notional)(const ks_portfolio_t *pf, const char *strategy);
    /* Strategy equity: capital + realized + unrealized PnL + funding - fees. */
    ks_dec_t (*equity)(const ks_portfolio_t *pf, const char *strategy);
    int (*market)(const ks_portfolio_t *pf, int32_t inst, ks_market_view_t *out);
    int (*instrument)(const ks_portfolio_t *pf, int32_t inst, ks_instrument_t *out);
    /* Open (not final) orders' remaining quantity of `strategy` in inst, signed. */
    ks_dec_t (*open_order_qty)(const ks_portfolio_t *pf, const char *strategy, int32_t inst);
} ks_portfolio_api_t;

struct ks_portfolio {
    const ks_portfolio_api_t *api;
};

typedef struct ks_risk_ops {
    uint32_t struct_size;
    int (*open)(const ks_host_api_t *api, ks_host_t *host, const char *name,
                const char *config_json, void **self, char *err, size_t err_len);
    void (*close)(void *self);
    /* Decides on one intent. Fill `out` (already KS_INIT'ed, verdict ALLOW). */
    void (*check)(void *self, const ks_order_intent_t *intent, const ks_portfolio_t *pf,
                  ks_risk_decision_t *out);
    /* May be NULL. Sees every event after the market cache was updated. */
    void (*on_event)(void *self, const ks_event_t *ev, const ks_portfolio_t *pf);
} ks_risk_ops_t;

#endif
