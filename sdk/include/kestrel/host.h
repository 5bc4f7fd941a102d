/* Kestrel SDK: the host services table handed to every plugin.
 *
 * Plugins do no I/O of their own and never block: HTTP, WebSockets, timers, clocks,
 * secrets and persistence all come from this table, driven by the host's one event
 * loop. In a backtest the clocks and timers are virtual, so a plugin written against
 * this table runs unchanged live and in replay.
 *
 * The table only grows at the end. Fields added after ABI 1.0 say which minor added
 * them; check KS_HAS_FIELD(api, ks_host_api_t, field) before calling those. */
#ifndef KESTREL_HOST_H
#define KESTREL_HOST_H

#include "abi.h"
#include "decimal.h"
#include "event.h"
#include "instrument.h"

/* Opaque handle for one loaded plugin instance; pass it back on every call. */
typedef struct ks_host ks_host_t;
/* Opaque WebSocket connection handle. */
typedef struct ks_ws ks_ws_t;

typedef enum ks_log_level {
    KS_LOG_DEBUG = 0,
    KS_LOG_INFO = 1,
    KS_LOG_WARN = 2,
    KS_LOG_ERROR = 3,
} ks_log_level_t;

typedef void (*ks_timer_cb)(void *ud);

typedef struct ks_http_header {
    const char *name;  /* borrowed */
    const char *value; /* borrowed */
} ks_http_header_t;

typedef struct ks_http_request {
    uint32_t struct_size;
    const char *method;              /* "GET", "POST", "DELETE" */
    const char *url;                 /* absolute http:// or https:// URL */
    const ks_http_header_t *headers; /* n_headers entries */
    uint32_t n_headers;
    const char *body; /* may be NULL */
    size_t body_len;
    int32_t timeout_ms; /* whole request; 0 means the host default (10 s) */
} ks_http_request_t;

typedef struct ks_http_response {
    uint32_t struct_size;
    int32_t rc;       /* KS_OK when an HTTP reply arrived; KS_ETIMEDOUT, KS_EIO otherwise */
    int32_t status;   /* HTTP status, 0 when no reply */
    const char *body; /* NUL-terminated; borrowed, valid during the callback */
    size_t body_len;
    const ks_http_header_t *headers; /* lower-cased names; borrowed */
    uint32_t n_headers;
    char error[KS_REASON_LEN]; /* transport error text when rc != KS_OK */
} ks_http_response_t;

/* Called exactly once per started request, unless it was cancelled. */
typedef void (*ks_http_cb)(void *ud, const ks_http_response_t *resp);

typedef struct ks_ws_options {
    uint32_t struct_size;
    const char *url; /* ws:// or wss:// */
    const ks_http_header_t *headers;
    uint32_t n_headers;
    int32_t connect_timeout_ms; /* 0: host default (10 s) */
} ks_ws_options_t;

typedef struct ks_ws_callbacks {
    uint32_t struct_size;
    /* The handshake completed; ws_send() may be used from now on. */
    void (*on_open)(void *ud, ks_ws_t *ws);
    /* One complete message; data is borrowed and valid during the call only. */
    void (*on_message)(void *ud, ks_ws_t *ws, const char *data, size_t len, bool binary);
    /* The connection failed or closed (rc KS_OK after ws_close(), KS_EIO or KS_ETIMEDOUT
     * otherwise). Called once; the handle is invalid afterwards. */
    void (*on_close)(void *ud, ks_ws_t *ws, int rc, const char *reason);
} ks_ws_callbacks_t;

/* Rate-limit information a venue reply carried, fed to the host's limiter. */
typedef struct ks_ratelimit_info {
    uint32_t struct_size;
    int32_t http_status;    /* 429, 418, ... or 0 */
    int32_t venue_code;     /* venue error code (Bybit 10006) or 0 */
    uint32_t bucket;        /* adapter-defined bucket id, 0 = the venue's default */
    int32_t limit;          /* requests (or weight) allowed per window, -1 unknown */
    int32_t remaining;      /* left in the current window, -1 unknown */
    int64_t reset_ns;       /* epoch ns when the window resets, 0 unknown */
    int64_t retry_after_ns; /* venue-requested pause, 0 none */
} ks_ratelimit_info_t;

typedef enum ks_action_kind {
    KS_ACT_BLOCK_NEW = 1, /* no new entries (reduce-only still allowed) */
    KS_ACT_UNBLOCK = 2,   /* lift a block this plugin requested */
    KS_ACT_CANCEL_ALL = 3,
    KS_ACT_REDUCE = 4, /* reduce the position(s) in scope */
    KS_ACT_FLATTEN_ALL = 5,
    KS_ACT_KILL = 6,   /* the kill switch: block, cancel, flatten, persist, exit */
    KS_ACT_NOTIFY = 7, /* an event to the strategy only */
} ks_action_kind_t;

typedef struct ks_action {
    uint32_t struct_size;
    uint32_t kind;        /* ks_action_kind_t */
    const char *strategy; /* NULL: every strategy; borrowed */
    int32_t inst;         /* -1: every instrument */
    ks_dec_t fraction;    /* KS_ACT_REDUCE: share of the position to close, 0..1 */
    const char *reason;   /* one line; borrowed */
} ks_action_t;

typedef struct ks_host_api {
    uint32_t struct_size;
    uint32_t abi_major, abi_minor;

    /* Writes one structured log line attributed to this plugin. */
    void (*log)(ks_host_t *h, int level, const char *fmt, ...) KS_PRINTF(3, 4);

    /* Monotonic ns (recv_ns clock) and wall-clock ns since the epoch; both virtual in a
     * backtest. */
    int64_t (*now_ns)(ks_host_t *h);
    int64_t (*wall_ns)(ks_host_t *h);

    /* One-shot (repeat_ns 0) or repeating timer. Returns an id > 0, or 0 on failure. The
     * callback runs on the loop; stopping a timer from its own callback is allowed. */
    uint64_t (*timer_start)(ks_host_t *h, int64_t after_ns, int64_t repeat_ns, ks_timer_cb cb,
                            void *ud);
    void (*timer_stop)(ks_host_t *h, uint64_t id);

    /* Asynchronous HTTP over the host's curl multi. The request is copied. Returns an id
     * > 0, or 0 when it could not start (cb is then never called). */
    uint64_t (*http_request)(ks_host_t *h, const ks_http_request_t *req, ks_http_cb cb, void *ud);
    /* Cancels a pending request; its callback will not be called. */
    void (*http_cancel)(ks_host_t *h, uint64_t id);

    /* WebSocket client over the host's libwebsockets context. Options are copied.
     * Returns NULL when the connection could not start (callbacks never called). */
    ks_ws_t *(*ws_connect)(ks_host_t *h, const ks_ws_options_t *opt, const ks_ws_callbacks_t *cb,
                           void *ud);
    /* Queues one text message (copied). KS_ESTATE before on_open or after close. */
    int (*ws_send)(ks_ws_t *ws, const char *data, size_t len);
    /* Starts closing; on_close follows with rc KS_OK. */
    void (*ws_close)(ks_ws_t *ws);

    /* HMAC-SHA256 and SHA-256 (OpenSSL). */
    void (*hmac_sha256)(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[32]);
    void (*sha256)(const void *msg, size_t len, uint8_t out[32]);

    /* Copies the secret `name` (from the environment, or a 0600 file named by
     * <name>_FILE) into buf. KS_ENOENT when absent, KS_EAUTH when the file is readable by
     * others, KS_ERANGE when cap is too small. The host never logs secrets. */
    int (*secret_get)(ks_host_t *h, const char *name, char *buf, size_t cap);

    /* Registers or updates an instrument (every field copied) and returns its host id in
     * *id. The host bumps spec_version and emits KS_EV_INSTRUMENT when the spec changed. */
    int (*instrument_upsert)(ks_host_t *h, const ks_instrument_t *inst, int32_t *id);
    /* Host id of a unified symbol on this plugin's venue, or KS_ENOENT. */
    int (*instrument_find)(ks_host_t *h, const char *symbol, int32_t *id);
    /* Copies the current spec; string fields point into host memory valid until the
     * instrument changes. */
    int (*instrument_get)(ks_host_t *h, int32_t id, ks_instrument_t *out);

    /* Queues an event (copied, book levels included). Safe to call from any plugin
     * callback, including from inside an exchange operation; the host delivers events in
     * emission order after the current callback returns. */
    int (*emit)(ks_host_t *h, const ks_event_t *ev);

    /* Sets a gauge (exported on /metrics as kestrel_plugin_<name>). */
    void (*metric)(ks_host_t *h, const char *name, double value);

    /* A small persistent key-value store private to this plugin instance. kv_get copies
     * at most cap bytes and stores the full length in *len; KS_ENOENT when absent. */
    int (*kv_get)(ks_host_t *h, const char *key, void *buf, size_t cap, size_t *len);
    int (*kv_set)(ks_host_t *h, const char *key, const void *val, size_t len);

    /* Feeds rate-limit state from a venue reply to the host's limiter. */
    void (*ratelimit_feedback)(ks_host_t *h, const ks_ratelimit_info_t *info);

    /* Asks the host to act (risk monitors, margin guards). Every action is logged and
     * stored with its reason. */
    int (*request_action)(ks_host_t *h, const ks_action_t *act);

    /* A venue replaying recorded data declares the span of that data (epoch ns). In a
     * backtest the host starts its virtual wall clock at start_ns and, unless the user
     * gave --days, runs until end_ns. Call from open(). KS_ESTATE outside a backtest or
     * after the host started. */
    int (*replay_span)(ks_host_t *h, int64_t start_ns, int64_t end_ns);
} ks_host_api_t;

#endif
