/* Kestrel SDK: the operations an exchange adapter plugin implements.
 *
 * Every operation is asynchronous: it starts work and returns at once; results come
 * back as events through ks_host_api_t.emit (order updates, fills, KS_EV_SYNC_DONE).
 * A return value below zero means the request was not started at all, and no event
 * will follow for it. */
#ifndef KESTREL_EXCHANGE_H
#define KESTREL_EXCHANGE_H

#include "abi.h"
#include "event.h"
#include "host.h"
#include "order.h"

/* Market data channels for subscribe(). */
enum {
    KS_CH_BBO = 1u << 0,
    KS_CH_BOOK = 1u << 1,
    KS_CH_TRADES = 1u << 2,
    KS_CH_TICKER = 1u << 3, /* incl. funding, mark, index, open interest, 24h volume */
    KS_CH_ORACLE = 1u << 4,
    KS_CH_LIQUIDATIONS = 1u << 5,
};

/* Capabilities an adapter declares in ks_exchange_ops_t.caps. */
enum {
    KS_XCAP_AMEND = 1u << 0,
    KS_XCAP_TRANSFER = 1u << 1,       /* separate spot and futures wallets */
    KS_XCAP_UNIFIED_WALLET = 1u << 2, /* one wallet for spot and derivatives */
    KS_XCAP_REDUCE_ONLY_SPOT = 1u << 3,
    KS_XCAP_QUERY_BY_CLOID = 1u << 4, /* fetch(KS_FETCH_ORDER) works by client id */
};

/* What a request is, for rate-limit weights. */
typedef enum ks_request_kind {
    KS_REQ_PLACE = 1,
    KS_REQ_CANCEL = 2,
    KS_REQ_CANCEL_ALL = 3,
    KS_REQ_AMEND = 4,
    KS_REQ_FETCH = 5,
    KS_REQ_TRANSFER = 6,
    KS_REQ_LEVERAGE = 7,
} ks_request_kind_t;

typedef struct ks_exchange_ops {
    uint32_t struct_size;
    uint32_t caps; /* KS_XCAP_* */

    /* Creates an adapter instance for the venue named `venue` from its JSON config
     * (borrowed). On failure writes a one-line reason to err and returns < 0. The
     * instance may call any host function from here on; `host` stays valid until close. */
    int (*open)(const ks_host_api_t *api, ks_host_t *host, const char *venue,
                const char *config_json, void **self, char *err, size_t err_len);
    /* Stops all activity and frees the instance. No host callback arrives afterwards. */
    void (*close)(void *self);

    /* Starts connecting and registers instruments (instrument_upsert), possibly later
     * from a callback. Emits KS_EV_CONN when market data is flowing. */
    int (*start)(void *self);

    /* Asks for market data channels (KS_CH_*) of one instrument. */
    int (*subscribe)(void *self, int32_t inst, uint32_t channels);

    int (*place)(void *self, const ks_order_cmd_t *cmd);
    int (*cancel)(void *self, const ks_cancel_cmd_t *cmd);
    /* inst -1: every instrument. */
    int (*cancel_all)(void *self, int32_t inst);
    /* NULL unless caps has KS_XCAP_AMEND. */
    int (*amend)(void *self, const ks_amend_cmd_t *cmd);

    /* Emits the matching objects with KS_EVF_SNAPSHOT, then KS_EV_SYNC_DONE with req_id.
     * For KS_FETCH_ORDER, `cloid` names the order (NULL otherwise); when the venue does not
     * know that client id at all, SYNC_DONE carries rc KS_ENOENT (the host then knows the
     * order never arrived). For KS_FETCH_POSITIONS emit a position for every instrument
     * with a non-zero position (instruments not listed are taken as flat). */
    int (*fetch)(void *self, uint32_t what, int32_t inst, const char *cloid, uint64_t req_id);

    /* NULL unless caps has KS_XCAP_TRANSFER. Result: KS_EV_TRANSFER. */
    int (*transfer)(void *self, const ks_transfer_cmd_t *cmd);
    /* May be NULL. */
    int (*set_leverage)(void *self, int32_t inst, int32_t leverage);

    /* Rate-limit weight of one request of `kind` (1 when NULL). */
    uint32_t (*request_weight)(void *self, uint32_t kind, int32_t inst);

    /* Feeds one raw venue message (a WebSocket frame or a REST response body, as text)
     * through the adapter's parser without any I/O; the resulting events are emitted as
     * usual. Instruments a message names but that are not registered yet may be
     * registered on the fly. Backs `kestrel decode`; may be NULL. */
    int (*decode)(void *self, const char *msg, size_t len);
} ks_exchange_ops_t;

#endif
