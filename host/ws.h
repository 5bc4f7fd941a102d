/* WebSockets and a small HTTP server on libwebsockets, driven by ks_loop.
 *
 * Debian's libwebsockets 4.1 is built without external-poll support, so the loop
 * watches the sockets of every connection it created or accepted and calls
 * lws_service() with a zero timeout when one is ready, when this module has queued
 * output, and on a short tick for lws's own timers. Client connections back
 * ks_host_api_t.ws_connect; the server side backs the loopback venue emulators and
 * the admin server (HTTP + WS on one port). The server parses HTTP/1.1 itself (every
 * request header is visible, custom ones included) and hands only WebSocket upgrades
 * to lws. Host names are resolved on a helper thread, never on the loop.
 *
 * All callbacks run on the loop thread. A virtual-clock loop has no network: connect
 * and server start return NULL. Do not free the context from inside its callbacks. */
#ifndef KS_WS_H
#define KS_WS_H

#include <kestrel/host.h>

#include "loop.h"

typedef struct ks_wsctx ks_wsctx_t;

/* One lws context on the loop. Caller owns it; free with ks_wsctx_free(), which closes
 * every connection (no callbacks) and every server. */
ks_wsctx_t *ks_wsctx_new(ks_loop_t *loop);
void ks_wsctx_free(ks_wsctx_t *ctx);

/* --- client ------------------------------------------------------------------ */

/* See ks_host_api_t.ws_connect / ws_send / ws_close for the contract. */
ks_ws_t *ks_ws_connect(ks_wsctx_t *ctx, const ks_ws_options_t *opt, const ks_ws_callbacks_t *cb,
                       void *ud);
int ks_ws_send(ks_ws_t *ws, const char *data, size_t len);
void ks_ws_close(ks_ws_t *ws);

/* --- server ------------------------------------------------------------------ */

typedef struct ks_ws_server ks_ws_server_t;
typedef struct ks_ws_peer ks_ws_peer_t;             /* an accepted WebSocket connection */
typedef struct ks_http_exchange ks_http_exchange_t; /* one HTTP request awaiting a reply */

typedef struct ks_http_server_request {
    const char *method;              /* "GET", "POST", ... */
    const char *path;                /* "/v5/order/create" without the query */
    const char *query;               /* "category=linear&symbol=BTCUSDT" or "" */
    const ks_http_header_t *headers; /* lower-cased names */
    uint32_t n_headers;
    const char *body; /* NUL-terminated, may be "" */
    size_t body_len;
} ks_http_server_request_t;

typedef struct ks_ws_server_callbacks {
    /* A complete HTTP request (not a WS upgrade). Reply now or later with
     * ks_http_reply(); the request view is borrowed for the call only. */
    void (*on_http)(void *ud, ks_http_exchange_t *ex, const ks_http_server_request_t *req);
    /* A WebSocket client connected; `path` is the request target as sent, query
     * included ("/stream?streams=btcusdt@bookTicker"). Borrowed for the call. */
    void (*on_ws_open)(void *ud, ks_ws_peer_t *peer, const char *path);
    void (*on_ws_message)(void *ud, ks_ws_peer_t *peer, const char *data, size_t len);
    /* The peer is gone; the handle is invalid afterwards. */
    void (*on_ws_close)(void *ud, ks_ws_peer_t *peer);
} ks_ws_server_callbacks_t;

/* Listens on host:port (port 0 picks a free port; see ks_ws_server_port). Callbacks
 * are copied. NULL on failure. */
ks_ws_server_t *ks_ws_server_start(ks_wsctx_t *ctx, const char *host, int port,
                                   const ks_ws_server_callbacks_t *cb, void *ud);
int ks_ws_server_port(const ks_ws_server_t *srv);
void ks_ws_server_stop(ks_ws_server_t *srv);

/* Sends the reply (status, headers and body copied) and finishes the exchange. An
 * exchange stays valid until ks_http_reply()/ks_http_abort() or ks_ws_server_stop(),
 * even when the client went away meanwhile (the reply then returns KS_EIO). */
int ks_http_reply(ks_http_exchange_t *ex, int status, const char *content_type,
                  const ks_http_header_t *headers, uint32_t n_headers, const char *body,
                  size_t body_len);
/* Drops the connection without a reply (to emulate a timeout or a reset). */
void ks_http_abort(ks_http_exchange_t *ex);

int ks_ws_peer_send(ks_ws_peer_t *peer, const char *data, size_t len);
/* Closes the peer; on_ws_close follows. */
void ks_ws_peer_close(ks_ws_peer_t *peer);
/* A header of the peer's upgrade request (name case-insensitive), or NULL. Borrowed;
 * valid as long as the peer. */
const char *ks_ws_peer_header(const ks_ws_peer_t *peer, const char *name);
void ks_ws_peer_set_data(ks_ws_peer_t *peer, void *data);
void *ks_ws_peer_get_data(const ks_ws_peer_t *peer);

#endif
