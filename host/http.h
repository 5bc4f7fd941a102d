/* Asynchronous HTTP client: libcurl multi with the socket API, driven by ks_loop.
 * Never blocks the loop. Used through ks_host_api_t.http_request by plugins.
 * Connections are reused across requests (one multi handle). Proxy variables in the
 * environment (http_proxy, https_proxy, ...) are ignored: venue traffic never takes
 * an unconfigured route. In a virtual-clock loop no request starts (returns 0). */
#ifndef KS_HTTP_H
#define KS_HTTP_H

#include <kestrel/host.h>

#include "loop.h"

typedef struct ks_http ks_http_t;

/* Caller owns the result; free with ks_http_free(). NULL on failure. */
ks_http_t *ks_http_new(ks_loop_t *loop);
/* Aborts every pending request without calling its callback, then frees. */
void ks_http_free(ks_http_t *http);

/* Starts a request (copied). Returns an id > 0, or 0 when it could not start (cb is
 * then never called). cb runs exactly once from the loop, never from inside this call. */
uint64_t ks_http_request(ks_http_t *http, const ks_http_request_t *req, ks_http_cb cb, void *ud);
/* Cancels; the callback will not be called. Unknown ids are ignored. */
void ks_http_cancel(ks_http_t *http, uint64_t id);
/* Requests in flight. */
int ks_http_pending(const ks_http_t *http);

#endif
