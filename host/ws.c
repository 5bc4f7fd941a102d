/* WebSocket client and server, plus a small HTTP/1.1 server, on libwebsockets 4.1
 * driven by ks_loop (see ws.h).
 *
 * How lws is serviced: Debian's lws has no external-poll hooks, so lws keeps its own
 * poll set and we mirror it. Every lws socket we create (client connect) or hand over
 * (accepted server socket) is also watched on the loop. A ready socket, queued output
 * or the "tick" timer marks the context as needing service; a loop hook then runs
 * lws_service(ctx, -1): one non-blocking poll over lws's sockets plus lws's own timers.
 * If lws still holds buffered work afterwards (TLS records, rx buffers) the loop is
 * told not to sleep. The tick (2 ms while anything connects or has output pending, else
 * 50 ms) covers what we cannot see: lws timers and lws waiting for POLLOUT.
 *
 * The HTTP server is ours: we own the listening socket, parse HTTP/1.1 ourselves (lws
 * 4.1 cannot list custom request headers, which venue emulators need for signatures)
 * and hand a connection to lws only when it asks for a WebSocket upgrade, passing the
 * bytes already read with lws_adopt_socket_vhost_readbuf().
 *
 * Lifetimes: user callbacks may stop servers, close peers or start connections from
 * anywhere, so objects that can be on the stack (HTTP connections, peers, servers) are
 * only unlinked and closed there, and freed by the loop hook afterwards. A client's
 * on_close always runs from a zero-delay loop timer, never from inside lws or
 * ks_ws_connect(). */
#define _GNU_SOURCE
#include "ws.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kestrel/error.h>
#include <libwebsockets.h>

#include "log.h"

#define LOG_COMP                   "ws"
#define PROTO_NAME                 "kestrel"
#define MS                         1000000LL
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define CLOSE_TIMEOUT_NS           (5000 * MS) /* a close handshake that takes longer is cut */
#define TICK_FAST_NS               (2 * MS)
#define TICK_SLOW_NS               (50 * MS)
#define MAX_MESSAGE                (64u << 20) /* larger incoming messages close the connection */
#define RX_CHUNK                   65536       /* lws rx buffer per connection */
#define RX_KEEP                    (1u << 20)  /* reassembly buffers above this are released */
#define HTTP_MAX_HEAD              65536
#define HTTP_MAX_HEADERS           100
#define HTTP_MAX_BODY              (64u << 20)
#define HTTP_READ_BUDGET           (256 * 1024) /* per readiness event, for fairness */
#define ACCEPT_BUDGET              64

/* --- byte buffers -------------------------------------------------------------------- */

typedef struct buf {
    char *data;
    size_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return KS_OK;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return KS_ENOMEM;
    b->data = d;
    b->cap = cap;
    return KS_OK;
}

static int buf_append(buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != KS_OK)
        return KS_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KS_OK;
}

static int buf_printf(buf_t *b, const char *fmt, ...) KS_PRINTF(2, 3);
static int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != KS_OK)
        return KS_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KS_OK;
}

static void buf_free(buf_t *b)
{
    free(b->data);
    *b = (buf_t){0};
}

/* --- outgoing message queue ------------------------------------------------------------
 * One contiguous FIFO of records [size_t len][LWS_PRE headroom][payload], 8-aligned, so
 * each message can go to lws_write() in place and the steady state allocates nothing. */

typedef struct sendq {
    uint8_t *buf;
    size_t head, tail, cap;
    uint32_t count;
} sendq_t;

#define REC_HDR (sizeof(size_t) + LWS_PRE)

static size_t rec_size(size_t len)
{
    return (REC_HDR + len + 7) & ~(size_t)7;
}

static int sendq_push(sendq_t *q, const char *data, size_t len)
{
    size_t need = rec_size(len);
    if (q->tail + need > q->cap && q->head > 0) {
        memmove(q->buf, q->buf + q->head, q->tail - q->head);
        q->tail -= q->head;
        q->head = 0;
    }
    if (q->tail + need > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->tail + need)
            cap *= 2;
        uint8_t *b = realloc(q->buf, cap);
        if (!b)
            return KS_ENOMEM;
        q->buf = b;
        q->cap = cap;
    }
    memcpy(q->buf + q->tail, &len, sizeof(len));
    if (len)
        memcpy(q->buf + q->tail + REC_HDR, data, len);
    q->tail += need;
    q->count++;
    return KS_OK;
}

static uint8_t *sendq_front(const sendq_t *q, size_t *len)
{
    memcpy(len, q->buf + q->head, sizeof(*len));
    return q->buf + q->head + REC_HDR;
}

static void sendq_pop(sendq_t *q)
{
    size_t len;
    memcpy(&len, q->buf + q->head, sizeof(len));
    q->head += rec_size(len);
    if (--q->count == 0)
        q->head = q->tail = 0;
}

static void sendq_free(sendq_t *q)
{
    free(q->buf);
    *q = (sendq_t){0};
}

/* --- objects ------------------------------------------------------------------------- */

typedef enum lc_kind { LC_CLIENT, LC_PEER } lc_kind_t;

/* What a client connection and a server peer share: one lws wsi and its socket. */
typedef struct lconn {
    ks_wsctx_t *ctx;
    lc_kind_t kind;
    struct lws *wsi; /* NULL until bound and after detach */
    int fd;          /* socket watched on the loop, -1 none */
    uint32_t io_events;
    bool connected; /* TCP connect completed (writability seen) */
    bool closing;   /* flush the queue, then send a close frame */
    bool ended;     /* detached from lws for good */
    bool rx_active; /* a fragmented message is being reassembled */
    bool rx_binary;
    sendq_t q;
    buf_t rx;
    struct lconn *prev, *next; /* ctx->lconns (bound ones) */
} lconn_t;

typedef enum ws_state {
    WS_PENDING,    /* created, connect not started (deferred to the loop) */
    WS_RESOLVING,  /* host name lookup on a resolver thread */
    WS_CONNECTING, /* TCP/TLS/handshake in lws */
    WS_OPEN,
    WS_CLOSING, /* ks_ws_close() called, close handshake under way */
    WS_CLOSED,  /* on_close queued or delivered */
} ws_state_t;

typedef struct resolve_job resolve_job_t;

struct ks_ws {
    lconn_t lc; /* first: lws opaque data points here */
    ws_state_t state;
    ks_ws_callbacks_t cb;
    void *ud;
    bool tls;
    int port;
    char *host;     /* as in the URL, brackets removed */
    char *host_hdr; /* Host header: host[:port] */
    char *path;     /* path and query */
    ks_http_header_t *hdrs;
    uint32_t n_hdrs;
    char *hdr_block;
    int32_t connect_timeout_ms;
    uint64_t timer_id; /* connect timeout, then close timeout */
    resolve_job_t *job;
    int close_rc;
    char reason[KS_REASON_LEN];
    int peer_close_code; /* from the server's close frame, 0 none */
    char peer_close_text[64];
    bool in_deferred;
    struct ks_ws *dnext;       /* ctx->deferred */
    struct ks_ws *prev, *next; /* ctx->clients */
};

struct ks_ws_peer {
    lconn_t lc;          /* first */
    ks_ws_server_t *srv; /* NULL once the server is stopped */
    void *data;
    int adopt_fd;
    bool opened;
    bool close_reported;
    bool buried;
    char *target;
    ks_http_header_t *hdrs;
    uint32_t n_hdrs;
    char *hdr_block;
    struct ks_ws_peer *sprev, *snext; /* srv->peers, then ctx->dead_peers */
};

typedef struct hconn hconn_t;

struct ks_http_exchange {
    ks_ws_server_t *srv;
    hconn_t *conn; /* NULL once the client went away */
    ks_http_server_request_t req;
    ks_http_header_t *hdrs;
    char *block;
    bool head_only;
    bool keep_alive;
    struct ks_http_exchange *prev, *next; /* srv->exchanges */
};

struct hconn {
    ks_ws_server_t *srv;
    int fd;
    uint32_t io_events;
    buf_t in;
    size_t in_off;
    buf_t out;
    size_t out_off;
    ks_http_exchange_t *ex; /* awaiting a reply */
    bool close_after_write;
    bool sent_continue;
    bool dead;
    struct hconn *prev, *next; /* srv->conns, then ctx->dead_hconns */
};

struct ks_ws_server {
    ks_wsctx_t *ctx;
    int fd;
    int port;
    uint64_t accept_pause_id; /* out of file descriptors: accepting resumes later */
    ks_ws_server_callbacks_t cb;
    void *ud;
    bool dead;
    hconn_t *conns;
    ks_http_exchange_t *exchanges;
    ks_ws_peer_t *peers;
    struct ks_ws_server *prev, *next; /* ctx->servers, then ctx->dead_servers */
};

struct resolve_job {
    pthread_t thread;
    int wfd;
    char host[256];
    char addr[INET6_ADDRSTRLEN];
    int err;
    ks_ws_t *ws; /* loop side only; NULL when the connection was given up */
    resolve_job_t *next;
};

struct ks_wsctx {
    ks_loop_t *loop;
    struct lws_context *lws;
    struct lws_vhost *vhost;
    bool lws_failed;
    bool need_service;
    bool freeing; /* no user callbacks from here on */
    uint64_t tick_id;
    int64_t tick_period;
    uint64_t kick_id;
    ks_ws_t *deferred, *deferred_tail;
    ks_ws_t *clients;
    lconn_t *lconns;
    ks_ws_server_t *servers;
    ks_ws_peer_t *adopting; /* peer whose socket lws_adopt_* is taking right now */
    hconn_t *dead_hconns;
    ks_ws_peer_t *dead_peers;
    ks_ws_server_t *dead_servers;
    int rpipe[2];
    resolve_job_t *jobs;
};

static void service_soon(ks_wsctx_t *ctx)
{
    ctx->need_service = true;
    ks_loop_wake(ctx->loop);
}

/* --- lws logging --------------------------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    /* lws 4.1 logs these at error level on every adoption with a read buffer. */
    if (strstr(line, "adopt_socket_readbuf"))
        return;
    ks_log(level & LLL_ERR ? KS_LOG_ERROR : KS_LOG_WARN, LOG_COMP, "lws: %.*s", (int)n, line);
}

/* --- lws socket tracking --------------------------------------------------------------- */

static void on_lconn_io(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    lconn_t *lc = ud;
    if (events & (KS_IO_WRITE | KS_IO_ERROR))
        lc->connected = true;
    lc->ctx->need_service = true;
}

static uint32_t lconn_want_events(lconn_t *lc)
{
    uint32_t ev = KS_IO_READ;
    /* Writability is watched only while a connect is in flight (its completion) or lws
     * holds a partly written frame: in both cases lws itself waits for POLLOUT, so the
     * watcher cannot spin. */
    if ((lc->kind == LC_CLIENT && !lc->connected) || (lc->wsi && lws_partial_buffered(lc->wsi)))
        ev |= KS_IO_WRITE;
    return ev;
}

/* Mirrors the wsi's current socket on the loop (it appears after connect starts and
 * may change when lws retries another address). */
static void lconn_track(lconn_t *lc)
{
    ks_loop_t *loop = lc->ctx->loop;
    int fd = lc->wsi ? (int)lws_get_socket_fd(lc->wsi) : -1;
    if (fd != lc->fd) {
        if (lc->fd >= 0)
            ks_loop_io_del(loop, lc->fd);
        lc->fd = -1;
        if (fd >= 0) {
            uint32_t ev = lconn_want_events(lc);
            if (ks_loop_io_add(loop, fd, ev, on_lconn_io, lc) == KS_OK) {
                lc->fd = fd;
                lc->io_events = ev;
            } else {
                ks_log_warn(LOG_COMP, "cannot watch socket %d", fd);
            }
        }
        return;
    }
    if (fd >= 0) {
        uint32_t ev = lconn_want_events(lc);
        if (ev != lc->io_events && ks_loop_io_mod(loop, fd, ev) == KS_OK)
            lc->io_events = ev;
    }
}

static void lconn_bind(lconn_t *lc, struct lws *wsi)
{
    ks_wsctx_t *ctx = lc->ctx;
    lc->wsi = wsi;
    lws_set_opaque_user_data(wsi, lc);
    lc->prev = NULL;
    lc->next = ctx->lconns;
    if (ctx->lconns)
        ctx->lconns->prev = lc;
    ctx->lconns = lc;
    lconn_track(lc);
}

/* Cuts the tie to lws: the socket leaves the loop before lws can close it (so its
 * number is never watched twice), later lws callbacks for the wsi find nothing, and
 * with `kill` lws is asked to drop the connection on its next service. */
static void lconn_detach(lconn_t *lc, bool kill)
{
    ks_wsctx_t *ctx = lc->ctx;
    if (lc->ended)
        return;
    lc->ended = true;
    if (lc->fd >= 0)
        ks_loop_io_del(ctx->loop, lc->fd);
    lc->fd = -1;
    if (lc->wsi) {
        lws_set_opaque_user_data(lc->wsi, NULL);
        if (kill) {
            lws_set_timeout(lc->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            service_soon(ctx);
        }
        if (lc->prev)
            lc->prev->next = lc->next;
        else
            ctx->lconns = lc->next;
        if (lc->next)
            lc->next->prev = lc->prev;
        lc->prev = lc->next = NULL;
        lc->wsi = NULL;
    }
}

static void lconn_free_buffers(lconn_t *lc)
{
    sendq_free(&lc->q);
    buf_free(&lc->rx);
}

static int lconn_queue(lconn_t *lc, const char *data, size_t len)
{
    if (!data && len)
        return KS_EINVAL;
    if (sendq_push(&lc->q, data, len) != KS_OK)
        return KS_ENOMEM;
    lws_callback_on_writable(lc->wsi);
    service_soon(lc->ctx);
    return KS_OK;
}

/* One queued message per writable callback; then the close frame if asked for.
 * Returns -1 to have lws close the connection. */
static int lconn_writable(lconn_t *lc)
{
    if (lc->q.count > 0) {
        size_t len;
        uint8_t *p = sendq_front(&lc->q, &len);
        int n = lws_write(lc->wsi, p, len, LWS_WRITE_TEXT);
        sendq_pop(&lc->q);
        if (n < (int)len)
            return -1;
        if (lc->q.count > 0 || lc->closing) {
            lws_callback_on_writable(lc->wsi);
            service_soon(lc->ctx);
        }
        return 0;
    }
    if (lc->closing) {
        lws_close_reason(lc->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"", 0);
        return -1;
    }
    return 0;
}

/* Appends a received fragment; true when `lc->rx` holds one complete message. Sets
 * *too_big when the message exceeds MAX_MESSAGE. */
static bool lconn_receive(lconn_t *lc, const void *in, size_t len, bool *too_big)
{
    *too_big = false;
    if (!lc->rx_active) {
        lc->rx_active = true;
        lc->rx_binary = lws_frame_is_binary(lc->wsi) != 0;
        lc->rx.len = 0;
    }
    if (lc->rx.len + len > MAX_MESSAGE || buf_append(&lc->rx, in, len) != KS_OK) {
        *too_big = true;
        return false;
    }
    if (!lws_is_final_fragment(lc->wsi) || lws_remaining_packet_payload(lc->wsi) > 0)
        return false;
    lc->rx_active = false;
    if (!lc->rx.data)
        buf_append(&lc->rx, "", 0);
    return true;
}

static void lconn_rx_done(lconn_t *lc)
{
    lc->rx.len = 0;
    if (lc->rx.cap > RX_KEEP)
        buf_free(&lc->rx);
}

/* --- deferred work: a cancellable zero-delay loop timer ------------------------------- */

static void on_kick(ks_loop_t *loop, void *ud);

static void defer(ks_ws_t *ws)
{
    ks_wsctx_t *ctx = ws->lc.ctx;
    if (ws->in_deferred)
        return;
    ws->in_deferred = true;
    ws->dnext = NULL;
    if (ctx->deferred_tail)
        ctx->deferred_tail->dnext = ws;
    else
        ctx->deferred = ws;
    ctx->deferred_tail = ws;
    if (!ctx->kick_id)
        ctx->kick_id = ks_loop_timer_start(ctx->loop, 0, 0, on_kick, ctx);
}

/* --- client ---------------------------------------------------------------------------- */

static void ws_free(ks_ws_t *ws)
{
    ks_wsctx_t *ctx = ws->lc.ctx;
    if (ws->prev)
        ws->prev->next = ws->next;
    else
        ctx->clients = ws->next;
    if (ws->next)
        ws->next->prev = ws->prev;
    lconn_free_buffers(&ws->lc);
    free(ws->host);
    free(ws->host_hdr);
    free(ws->path);
    free(ws->hdrs);
    free(ws->hdr_block);
    free(ws);
}

/* The connection is over: stop everything and queue on_close (once). */
static void ws_finish(ks_ws_t *ws, int rc, bool kill, const char *fmt, ...) KS_PRINTF(4, 5);
static void ws_finish(ks_ws_t *ws, int rc, bool kill, const char *fmt, ...)
{
    if (ws->state == WS_CLOSED)
        return;
    ws->state = WS_CLOSED;
    ws->close_rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ws->reason, sizeof(ws->reason), fmt, ap);
    va_end(ap);
    if (ws->timer_id) {
        ks_loop_timer_stop(ws->lc.ctx->loop, ws->timer_id);
        ws->timer_id = 0;
    }
    if (ws->job) {
        ws->job->ws = NULL;
        ws->job = NULL;
    }
    lconn_detach(&ws->lc, kill);
    defer(ws);
}

static void on_ws_timer(ks_loop_t *loop, void *ud)
{
    ks_ws_t *ws = ud;
    ws->timer_id = 0;
    if (ws->state == WS_CLOSING)
        ws_finish(ws, KS_OK, true, "closed (no close reply from the server)");
    else
        ws_finish(ws, KS_ETIMEDOUT, true, "connect timed out after %d ms",
                  (int)ws->connect_timeout_ms);
}

static bool ensure_lws(ks_wsctx_t *ctx);

static void ws_connect_lws(ks_ws_t *ws, const char *address)
{
    ks_wsctx_t *ctx = ws->lc.ctx;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = ctx->lws;
    ci.vhost = ctx->vhost;
    ci.address = address;
    ci.port = ws->port;
    ci.path = ws->path;
    ci.host = ws->host_hdr;
    ci.origin = ws->host_hdr;
    ci.ssl_connection = ws->tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = PROTO_NAME;
    ci.opaque_user_data = &ws->lc;
    ws->state = WS_CONNECTING;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    if (ws->state == WS_CLOSED)
        return; /* failed inside, on_close already queued */
    if (!wsi) {
        ws_finish(ws, KS_EIO, false, "cannot connect to %s:%d", ws->host, ws->port);
        return;
    }
    if (!ws->lc.wsi)
        lconn_bind(&ws->lc, wsi);
    else
        lconn_track(&ws->lc);
    service_soon(ctx);
}

/* lws 4.1 connects to one address without fallback, so pick the family most likely
 * to route: IPv4 when the name has one. */
static const struct addrinfo *prefer_ipv4(const struct addrinfo *res)
{
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            return ai;
    return res;
}

static void *resolve_main(void *arg)
{
    resolve_job_t *job = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    job->err = getaddrinfo(job->host, NULL, &hints, &res);
    if (job->err != 0) {
        /* AI_ADDRCONFIG finds nothing on a host with only loopback interfaces. */
        hints.ai_flags = 0;
        job->err = getaddrinfo(job->host, NULL, &hints, &res);
    }
    if (job->err == 0) {
        const struct addrinfo *ai = prefer_ipv4(res);
        job->err = getnameinfo(ai->ai_addr, ai->ai_addrlen, job->addr, sizeof(job->addr), NULL, 0,
                               NI_NUMERICHOST);
        freeaddrinfo(res);
    }
    if (write(job->wfd, &job, sizeof(job)) != (ssize_t)sizeof(job))
        job->err = EAI_SYSTEM; /* cannot happen with a pipe this size; joined at free */
    return NULL;
}

static void on_resolved(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    ks_wsctx_t *ctx = ud;
    resolve_job_t *job;
    while (read(fd, &job, sizeof(job)) == (ssize_t)sizeof(job)) {
        pthread_join(job->thread, NULL);
        for (resolve_job_t **pp = &ctx->jobs; *pp; pp = &(*pp)->next) {
            if (*pp == job) {
                *pp = job->next;
                break;
            }
        }
        ks_ws_t *ws = job->ws;
        if (ws) {
            ws->job = NULL;
            if (job->err)
                ws_finish(ws, KS_EIO, false, "cannot resolve %s: %s", job->host,
                          gai_strerror(job->err));
            else
                ws_connect_lws(ws, job->addr);
        }
        free(job);
    }
}

static int resolve_start(ks_ws_t *ws)
{
    ks_wsctx_t *ctx = ws->lc.ctx;
    if (ctx->rpipe[0] < 0) {
        if (pipe2(ctx->rpipe, O_NONBLOCK | O_CLOEXEC) != 0)
            return KS_EIO;
        if (ks_loop_io_add(ctx->loop, ctx->rpipe[0], KS_IO_READ, on_resolved, ctx) != KS_OK) {
            close(ctx->rpipe[0]);
            close(ctx->rpipe[1]);
            ctx->rpipe[0] = ctx->rpipe[1] = -1;
            return KS_EIO;
        }
    }
    resolve_job_t *job = calloc(1, sizeof(*job));
    if (!job)
        return KS_ENOMEM;
    snprintf(job->host, sizeof(job->host), "%s", ws->host);
    job->wfd = ctx->rpipe[1];
    job->ws = ws;
    /* The thread takes no signals: they stay with the loop's signalfd. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&job->thread, NULL, resolve_main, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(job);
        return KS_EIO;
    }
    job->next = ctx->jobs;
    ctx->jobs = job;
    ws->job = job;
    ws->state = WS_RESOLVING;
    return KS_OK;
}

static bool is_numeric_host(const char *host)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static void ws_start(ks_ws_t *ws)
{
    ks_wsctx_t *ctx = ws->lc.ctx;
    if (!ensure_lws(ctx)) {
        ws_finish(ws, KS_EIO, false, "websocket context unavailable");
        return;
    }
    if (is_numeric_host(ws->host)) {
        ws_connect_lws(ws, ws->host);
        return;
    }
    if (resolve_start(ws) != KS_OK)
        ws_finish(ws, KS_EIO, false, "cannot start resolving %s", ws->host);
}

static void on_kick(ks_loop_t *loop, void *ud)
{
    ks_wsctx_t *ctx = ud;
    ctx->kick_id = 0;
    ks_ws_t *list = ctx->deferred;
    ctx->deferred = ctx->deferred_tail = NULL;
    while (list) {
        ks_ws_t *ws = list;
        list = ws->dnext;
        ws->in_deferred = false;
        ws->dnext = NULL;
        if (ws->state == WS_PENDING) {
            ws_start(ws);
        } else if (ws->state == WS_CLOSED) {
            if (ws->cb.on_close && !ctx->freeing)
                ws->cb.on_close(ws->ud, ws, ws->close_rc, ws->reason);
            ws_free(ws);
        }
    }
}

/* Splits ws[s]://host[:port][/path][?query]. */
static int parse_url(ks_ws_t *ws, const char *url)
{
    const char *p;
    if (strncasecmp(url, "ws://", 5) == 0) {
        p = url + 5;
        ws->port = 80;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        p = url + 6;
        ws->tls = true;
        ws->port = 443;
    } else {
        return KS_EINVAL;
    }
    const char *host_end, *host = p;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end)
            return KS_EINVAL;
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        p = host_end;
    }
    if (host_end == host || (size_t)(host_end - host) >= 256)
        return KS_EINVAL;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return KS_EINVAL;
        ws->port = (int)port;
        p = end;
    }
    if (*p && *p != '/' && *p != '?')
        return KS_EINVAL;
    size_t path_len = strcspn(p, "#");
    ws->host = strndup(host, (size_t)(host_end - host));
    ws->path = malloc(path_len + 2);
    if (!ws->host || !ws->path)
        return KS_ENOMEM;
    if (*p == '/')
        snprintf(ws->path, path_len + 2, "%.*s", (int)path_len, p);
    else
        snprintf(ws->path, path_len + 2, "/%.*s", (int)path_len, p);
    bool v6 = strchr(ws->host, ':') != NULL;
    bool default_port = ws->port == (ws->tls ? 443 : 80);
    char port_s[16] = "";
    if (!default_port)
        snprintf(port_s, sizeof(port_s), ":%d", ws->port);
    if (asprintf(&ws->host_hdr, "%s%s%s%s", v6 ? "[" : "", ws->host, v6 ? "]" : "", port_s) < 0) {
        ws->host_hdr = NULL;
        return KS_ENOMEM;
    }
    return KS_OK;
}

/* Copies headers into one block: names with a trailing ':' as lws wants them. */
static int copy_client_headers(ks_ws_t *ws, const ks_http_header_t *h, uint32_t n)
{
    if (n == 0)
        return KS_OK;
    size_t size = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!h[i].name || !*h[i].name || !h[i].value || strpbrk(h[i].name, "\r\n:") ||
            strpbrk(h[i].value, "\r\n"))
            return KS_EINVAL;
        size += strlen(h[i].name) + 2 + strlen(h[i].value) + 1;
    }
    ws->hdrs = calloc(n, sizeof(*ws->hdrs));
    ws->hdr_block = malloc(size);
    if (!ws->hdrs || !ws->hdr_block)
        return KS_ENOMEM;
    char *p = ws->hdr_block;
    for (uint32_t i = 0; i < n; i++) {
        ws->hdrs[i].name = p;
        p += sprintf(p, "%s:", h[i].name) + 1;
        ws->hdrs[i].value = p;
        p += sprintf(p, "%s", h[i].value) + 1;
    }
    ws->n_hdrs = n;
    return KS_OK;
}

ks_ws_t *ks_ws_connect(ks_wsctx_t *ctx, const ks_ws_options_t *opt, const ks_ws_callbacks_t *cb,
                       void *ud)
{
    if (!ctx || !opt || !cb || !opt->url || ctx->freeing)
        return NULL;
    if (ks_loop_is_virtual(ctx->loop)) {
        ks_log_debug(LOG_COMP, "no WebSockets in a virtual-clock loop: %s", opt->url);
        return NULL;
    }
    ks_ws_t *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    ws->lc.ctx = ctx;
    ws->lc.kind = LC_CLIENT;
    ws->lc.fd = -1;
    ws->state = WS_PENDING;
    ws->ud = ud;
    size_t cb_size = cb->struct_size < sizeof(ws->cb) ? cb->struct_size : sizeof(ws->cb);
    memcpy(&ws->cb, cb, cb_size);
    ws->cb.struct_size = sizeof(ws->cb);
    int32_t timeout_ms =
        KS_HAS_FIELD(opt, ks_ws_options_t, connect_timeout_ms) ? opt->connect_timeout_ms : 0;
    ws->connect_timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    if (parse_url(ws, opt->url) != KS_OK ||
        copy_client_headers(ws, opt->headers, opt->headers ? opt->n_headers : 0) != KS_OK) {
        ks_log_warn(LOG_COMP, "cannot connect to %s: invalid URL or headers", opt->url);
        goto fail;
    }
    ws->timer_id =
        ks_loop_timer_start(ctx->loop, (int64_t)ws->connect_timeout_ms * MS, 0, on_ws_timer, ws);
    if (!ws->timer_id)
        goto fail;
    ws->next = ctx->clients;
    if (ctx->clients)
        ctx->clients->prev = ws;
    ctx->clients = ws;
    defer(ws); /* the connect itself starts on the loop */
    return ws;

fail:
    lconn_free_buffers(&ws->lc);
    free(ws->host);
    free(ws->host_hdr);
    free(ws->path);
    free(ws->hdrs);
    free(ws->hdr_block);
    free(ws);
    return NULL;
}

int ks_ws_send(ks_ws_t *ws, const char *data, size_t len)
{
    if (!ws || ws->state != WS_OPEN || !ws->lc.wsi)
        return KS_ESTATE;
    return lconn_queue(&ws->lc, data, len);
}

void ks_ws_close(ks_ws_t *ws)
{
    if (!ws)
        return;
    switch (ws->state) {
    case WS_PENDING:
    case WS_RESOLVING:
    case WS_CONNECTING:
        ws_finish(ws, KS_OK, true, "closed before the connection opened");
        break;
    case WS_OPEN:
        ws->state = WS_CLOSING;
        ws->lc.closing = true;
        ws->timer_id = ks_loop_timer_start(ws->lc.ctx->loop, CLOSE_TIMEOUT_NS, 0, on_ws_timer, ws);
        lws_callback_on_writable(ws->lc.wsi);
        service_soon(ws->lc.ctx);
        break;
    case WS_CLOSING:
    case WS_CLOSED:
        break;
    }
}

static int client_callback(ks_ws_t *ws, struct lws *wsi, enum lws_callback_reasons reason,
                           void *user, void *in, size_t len)
{
    lconn_t *lc = &ws->lc;
    switch ((int)reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        for (uint32_t i = 0; i < ws->n_hdrs; i++) {
            const char *v = ws->hdrs[i].value;
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)ws->hdrs[i].name,
                                            (const unsigned char *)v, (int)strlen(v), p, end)) {
                ws_finish(ws, KS_EIO, false, "handshake headers too large");
                return -1;
            }
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (ws->timer_id) {
            ks_loop_timer_stop(lc->ctx->loop, ws->timer_id);
            ws->timer_id = 0;
        }
        ws->state = WS_OPEN;
        lc->connected = true;
        if (ws->cb.on_open)
            ws->cb.on_open(ws->ud, ws);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        bool too_big;
        if (!lconn_receive(lc, in, len, &too_big)) {
            if (!too_big)
                return 0;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"", 0);
            ws_finish(ws, KS_EIO, false, "incoming message larger than %u bytes", MAX_MESSAGE);
            return -1;
        }
        if (ws->state == WS_OPEN && ws->cb.on_message)
            ws->cb.on_message(ws->ud, ws, lc->rx.data, lc->rx.len, lc->rx_binary);
        if (lc->ended)
            return -1;
        lconn_rx_done(lc);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return lconn_writable(lc);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            ws->peer_close_code = (b[0] << 8) | b[1];
            size_t tl = len - 2 < sizeof(ws->peer_close_text) - 1 ? len - 2
                                                                  : sizeof(ws->peer_close_text) - 1;
            memcpy(ws->peer_close_text, b + 2, tl);
            ws->peer_close_text[tl] = '\0';
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        ws_finish(ws, KS_EIO, false, "%s", in ? (const char *)in : "connection failed");
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (ws->state == WS_CLOSING)
            ws_finish(ws, KS_OK, false, "closed");
        else if (ws->peer_close_code)
            ws_finish(ws, KS_EIO, false, "closed by the server (%d%s%s)", ws->peer_close_code,
                      ws->peer_close_text[0] ? ": " : "", ws->peer_close_text);
        else
            ws_finish(ws, KS_EIO, false, "connection closed by the server");
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* --- server peers ---------------------------------------------------------------------- */

static void peer_unlink(ks_ws_peer_t *peer)
{
    ks_ws_server_t *srv = peer->srv;
    if (!srv)
        return;
    if (peer->sprev)
        peer->sprev->snext = peer->snext;
    else
        srv->peers = peer->snext;
    if (peer->snext)
        peer->snext->sprev = peer->sprev;
    peer->sprev = peer->snext = NULL;
    peer->srv = NULL;
}

/* Retires a peer: no more callbacks, freed by the hook. */
static void peer_bury(ks_ws_peer_t *peer, bool kill)
{
    ks_wsctx_t *ctx = peer->lc.ctx;
    lconn_detach(&peer->lc, kill);
    peer_unlink(peer);
    peer->close_reported = true;
    peer->buried = true;
    peer->snext = ctx->dead_peers;
    ctx->dead_peers = peer;
}

static void peer_free(ks_ws_peer_t *peer)
{
    lconn_free_buffers(&peer->lc);
    free(peer->target);
    free(peer->hdrs);
    free(peer->hdr_block);
    free(peer);
}

/* The peer's connection ended: report it once (if it ever opened) and retire it. */
static void peer_end(ks_ws_peer_t *peer)
{
    ks_ws_server_t *srv = peer->srv;
    lconn_detach(&peer->lc, false);
    if (srv && peer->opened && !peer->close_reported && !srv->ctx->freeing) {
        peer->close_reported = true;
        if (srv->cb.on_ws_close)
            srv->cb.on_ws_close(srv->ud, peer);
    }
    if (!peer->buried) /* on_ws_close may have stopped the server, which buries */
        peer_bury(peer, false);
}

static int peer_callback(ks_ws_peer_t *peer, struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    lconn_t *lc = &peer->lc;
    ks_ws_server_t *srv = peer->srv;
    switch ((int)reason) {
    case LWS_CALLBACK_ESTABLISHED:
        peer->opened = true;
        if (srv && srv->cb.on_ws_open && !srv->ctx->freeing)
            srv->cb.on_ws_open(srv->ud, peer, peer->target);
        return lc->ended ? -1 : 0;
    case LWS_CALLBACK_RECEIVE: {
        bool too_big;
        if (!lconn_receive(lc, in, len, &too_big)) {
            if (!too_big)
                return 0;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"", 0);
            return -1;
        }
        if (srv && srv->cb.on_ws_message && !lc->closing)
            srv->cb.on_ws_message(srv->ud, peer, lc->rx.data, lc->rx.len);
        if (lc->ended)
            return -1;
        lconn_rx_done(lc);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return lconn_writable(lc);
    case LWS_CALLBACK_HTTP:
        return -1; /* only upgrades are handed to lws */
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
        peer_end(peer);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

int ks_ws_peer_send(ks_ws_peer_t *peer, const char *data, size_t len)
{
    if (!peer || !peer->lc.wsi || !peer->opened || peer->lc.closing)
        return KS_ESTATE;
    return lconn_queue(&peer->lc, data, len);
}

void ks_ws_peer_close(ks_ws_peer_t *peer)
{
    if (!peer || !peer->lc.wsi || peer->lc.closing)
        return;
    peer->lc.closing = true;
    lws_callback_on_writable(peer->lc.wsi);
    service_soon(peer->lc.ctx);
}

void ks_ws_peer_set_data(ks_ws_peer_t *peer, void *data)
{
    if (peer)
        peer->data = data;
}

void *ks_ws_peer_get_data(const ks_ws_peer_t *peer)
{
    return peer ? peer->data : NULL;
}

const char *ks_ws_peer_header(const ks_ws_peer_t *peer, const char *name)
{
    if (!peer || !name)
        return NULL;
    for (uint32_t i = 0; i < peer->n_hdrs; i++)
        if (strcasecmp(peer->hdrs[i].name, name) == 0)
            return peer->hdrs[i].value;
    return NULL;
}

/* --- the lws protocol callback --------------------------------------------------------- */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    lconn_t *lc = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!lc && wsi) {
        /* A socket being adopted gets callbacks before lws_adopt_* returns. */
        struct lws_context *lctx = lws_get_context(wsi);
        ks_wsctx_t *ctx = lctx ? lws_context_user(lctx) : NULL;
        ks_ws_peer_t *peer = ctx ? ctx->adopting : NULL;
        if (peer && !peer->lc.wsi && !peer->lc.ended && lws_get_socket_fd(wsi) == peer->adopt_fd) {
            lconn_bind(&peer->lc, wsi);
            lc = &peer->lc;
        }
    }
    if (!lc) {
        /* Not ours (or no longer): let lws's defaults handle it. */
        if (reason == LWS_CALLBACK_HTTP)
            return -1;
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    if (!lc->wsi)
        lconn_bind(lc, wsi); /* a client wsi's first callback */
    else if (lc->wsi == wsi)
        lconn_track(lc);
    if (lc->kind == LC_CLIENT)
        return client_callback((ks_ws_t *)lc, wsi, reason, user, in, len);
    return peer_callback((ks_ws_peer_t *)lc, wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {PROTO_NAME, ws_callback, 0, RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static bool ensure_lws(ks_wsctx_t *ctx)
{
    if (ctx->lws)
        return true;
    if (ctx->lws_failed)
        return false;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN; /* we listen ourselves and adopt sockets */
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.user = ctx;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.pt_serv_buf_size = 32768;     /* room for custom handshake headers */
    info.max_http_header_data = 16384; /* room for large upgrade requests */
    ctx->lws = lws_create_context(&info);
    if (!ctx->lws) {
        ctx->lws_failed = true;
        ks_log_error(LOG_COMP, "cannot create the libwebsockets context");
        return false;
    }
    ctx->vhost = lws_get_vhost_by_name(ctx->lws, "default");
    return true;
}

/* --- HTTP server connections ------------------------------------------------------------- */

static void hconn_close(hconn_t *c)
{
    if (c->dead)
        return;
    ks_ws_server_t *srv = c->srv;
    ks_wsctx_t *ctx = srv->ctx;
    c->dead = true;
    if (c->fd >= 0) {
        ks_loop_io_del(ctx->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    if (c->ex) {
        c->ex->conn = NULL;
        c->ex = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = ctx->dead_hconns;
    ctx->dead_hconns = c;
}

static void hconn_update_events(hconn_t *c)
{
    if (c->dead || c->fd < 0)
        return;
    uint32_t ev = 0;
    if (!c->close_after_write)
        ev |= KS_IO_READ;
    if (c->out.len > c->out_off)
        ev |= KS_IO_WRITE;
    if (ev != c->io_events && ks_loop_io_mod(c->srv->ctx->loop, c->fd, ev) == KS_OK)
        c->io_events = ev;
}

static void hconn_flush(hconn_t *c)
{
    while (!c->dead && c->out.len > c->out_off) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        hconn_close(c);
        return;
    }
    if (c->dead)
        return;
    c->out.len = c->out_off = 0;
    if (c->close_after_write)
        hconn_close(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 418:
        return "I'm a teapot";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

/* Queues a response on the connection. */
static int hconn_respond(hconn_t *c, int status, const char *content_type,
                         const ks_http_header_t *headers, uint32_t n_headers, const char *body,
                         size_t body_len, bool head_only, bool keep_alive)
{
    buf_t *o = &c->out;
    size_t mark = o->len;
    int rc = buf_printf(o, "HTTP/1.1 %d %s\r\n", status, status_text(status));
    if (content_type && *content_type)
        rc |= buf_printf(o, "Content-Type: %s\r\n", content_type);
    bool no_body = status < 200 || status == 204 || status == 304;
    if (!no_body)
        rc |= buf_printf(o, "Content-Length: %zu\r\n", body_len);
    for (uint32_t i = 0; i < n_headers; i++)
        rc |= buf_printf(o, "%s: %s\r\n", headers[i].name, headers[i].value);
    rc |= buf_printf(o, "Connection: %s\r\n\r\n", keep_alive ? "keep-alive" : "close");
    if (!no_body && !head_only)
        rc |= buf_append(o, body, body_len);
    if (rc != KS_OK) {
        o->len = mark;
        return KS_ENOMEM;
    }
    if (!keep_alive)
        c->close_after_write = true;
    hconn_update_events(c);
    return KS_OK;
}

static void hconn_fail(hconn_t *c, int status)
{
    hconn_respond(c, status, "text/plain", NULL, 0, status_text(status),
                  strlen(status_text(status)), false, false);
}

typedef struct hview {
    const char *name, *value;
    size_t name_len, value_len;
} hview_t;

typedef struct head {
    const char *method, *target;
    size_t method_len, target_len;
    int minor;
    hview_t h[HTTP_MAX_HEADERS];
    uint32_t n;
    size_t content_length;
    bool keep_alive, upgrade_ws, expect_continue;
} head_t;

static bool token_has(const char *v, size_t len, const char *tok)
{
    size_t tl = strlen(tok);
    const char *end = v + len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *s = v;
        while (v < end && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0)
            return true;
    }
    return false;
}

static bool is_tchar(char ch)
{
    return isalnum((unsigned char)ch) || strchr("!#$%&'*+-.^_`|~", ch);
}

/* Parses a request head (ending in CRLF CRLF). Returns 0 or the HTTP status to fail
 * with. */
static int parse_head(const char *p, size_t len, head_t *h)
{
    memset(h, 0, sizeof(*h));
    const char *end = p + len - 2; /* the last CRLF closes the header block */
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1)
        return 400;
    h->method = p;
    h->method_len = (size_t)(sp1 - p);
    h->target = sp1 + 1;
    h->target_len = (size_t)(sp2 - sp1 - 1);
    size_t vlen = (size_t)(eol - sp2 - 1);
    if (vlen != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return 505;
    h->minor = sp2[8] - '0';
    for (const char *m = p; m < sp1; m++)
        if (!is_tchar(*m))
            return 400;
    h->keep_alive = h->minor == 1;
    bool have_len = false, te = false;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line || *line == ' ' || *line == '\t')
            return 400;
        if (h->n == HTTP_MAX_HEADERS)
            return 431;
        hview_t *v = &h->h[h->n++];
        v->name = line;
        v->name_len = (size_t)(colon - line);
        for (size_t i = 0; i < v->name_len; i++)
            if (!is_tchar(line[i]))
                return 400;
        const char *vs = colon + 1, *ve = eol;
        while (vs < ve && (*vs == ' ' || *vs == '\t'))
            vs++;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        v->value = vs;
        v->value_len = (size_t)(ve - vs);
        if (v->name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
            size_t n = 0;
            if (v->value_len == 0 || v->value_len > 12)
                return 400;
            for (size_t i = 0; i < v->value_len; i++) {
                if (!isdigit((unsigned char)vs[i]))
                    return 400;
                n = n * 10 + (size_t)(vs[i] - '0');
            }
            if (have_len && n != h->content_length)
                return 400;
            if (n > HTTP_MAX_BODY)
                return 413;
            h->content_length = n;
            have_len = true;
        } else if (v->name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            te = true;
        } else if (v->name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (token_has(vs, v->value_len, "close"))
                h->keep_alive = false;
            else if (token_has(vs, v->value_len, "keep-alive"))
                h->keep_alive = true;
        } else if (v->name_len == 7 && strncasecmp(line, "upgrade", 7) == 0) {
            h->upgrade_ws = token_has(vs, v->value_len, "websocket");
        } else if (v->name_len == 6 && strncasecmp(line, "expect", 6) == 0) {
            h->expect_continue = token_has(vs, v->value_len, "100-continue");
        }
    }
    if (te)
        return 501; /* chunked request bodies are not supported */
    return 0;
}

/* Copies header views as NUL-terminated lower-cased names and values. */
static int copy_views(const hview_t *v, uint32_t n, size_t extra, ks_http_header_t **out,
                      char **block, char **tail)
{
    size_t size = extra;
    for (uint32_t i = 0; i < n; i++)
        size += v[i].name_len + v[i].value_len + 2;
    *out = n ? calloc(n, sizeof(**out)) : NULL;
    *block = malloc(size ? size : 1);
    if ((n && !*out) || !*block)
        return KS_ENOMEM;
    char *p = *block;
    for (uint32_t i = 0; i < n; i++) {
        (*out)[i].name = p;
        for (size_t k = 0; k < v[i].name_len; k++)
            *p++ = (char)tolower((unsigned char)v[i].name[k]);
        *p++ = '\0';
        (*out)[i].value = p;
        memcpy(p, v[i].value, v[i].value_len);
        p += v[i].value_len;
        *p++ = '\0';
    }
    *tail = p;
    return KS_OK;
}

static void exchange_free(ks_http_exchange_t *ex)
{
    ks_ws_server_t *srv = ex->srv;
    if (ex->prev)
        ex->prev->next = ex->next;
    else
        srv->exchanges = ex->next;
    if (ex->next)
        ex->next->prev = ex->prev;
    free(ex->hdrs);
    free(ex->block);
    free(ex);
}

static void hconn_upgrade(hconn_t *c, const head_t *h);

/* Tries to take one complete request off the input. Returns false when more input is
 * needed (or the connection stopped taking requests). */
static bool hconn_next_request(hconn_t *c)
{
    const char *p = c->in.data + c->in_off;
    size_t avail = c->in.len - c->in_off;
    const char *hend = avail >= 4 ? memmem(p, avail, "\r\n\r\n", 4) : NULL;
    if (!hend) {
        if (avail > HTTP_MAX_HEAD)
            hconn_fail(c, 431);
        return false;
    }
    size_t head_len = (size_t)(hend - p) + 4;
    head_t h;
    int status = parse_head(p, head_len, &h);
    if (status) {
        hconn_fail(c, status);
        return false;
    }
    ks_ws_server_t *srv = c->srv;
    bool is_get = h.method_len == 3 && memcmp(h.method, "GET", 3) == 0;
    if (h.upgrade_ws && is_get && srv->cb.on_ws_open) {
        hconn_upgrade(c, &h);
        return false;
    }
    if (avail < head_len + h.content_length) {
        if (h.expect_continue && !c->sent_continue) {
            c->sent_continue = true;
            buf_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
            hconn_update_events(c);
        }
        return false;
    }
    c->sent_continue = false;

    const char *q = memchr(h.target, '?', h.target_len);
    size_t path_len = q ? (size_t)(q - h.target) : h.target_len;
    size_t query_len = q ? h.target_len - path_len - 1 : 0;
    ks_http_exchange_t *ex = calloc(1, sizeof(*ex));
    char *t;
    if (!ex || copy_views(h.h, h.n, h.method_len + path_len + query_len + h.content_length + 4,
                          &ex->hdrs, &ex->block, &t) != KS_OK) {
        if (ex) {
            free(ex->hdrs);
            free(ex->block);
            free(ex);
        }
        hconn_fail(c, 500);
        return false;
    }
    ex->srv = srv;
    ex->conn = c;
    ex->keep_alive = h.keep_alive;
    ex->head_only = h.method_len == 4 && memcmp(h.method, "HEAD", 4) == 0;
    ex->req.method = t;
    t += sprintf(t, "%.*s", (int)h.method_len, h.method) + 1;
    ex->req.path = t;
    t += sprintf(t, "%.*s", (int)path_len, h.target) + 1;
    ex->req.query = t;
    t += sprintf(t, "%.*s", (int)query_len, q ? q + 1 : "") + 1;
    ex->req.body = t;
    memcpy(t, p + head_len, h.content_length);
    t[h.content_length] = '\0';
    ex->req.body_len = h.content_length;
    ex->req.headers = ex->hdrs;
    ex->req.n_headers = h.n;
    ex->next = srv->exchanges;
    if (srv->exchanges)
        srv->exchanges->prev = ex;
    srv->exchanges = ex;

    c->in_off += head_len + h.content_length;
    if (c->in_off == c->in.len)
        c->in.len = c->in_off = 0;
    c->ex = ex;
    if (srv->cb.on_http)
        srv->cb.on_http(srv->ud, ex, &ex->req);
    else
        ks_http_reply(ex, 404, "text/plain", NULL, 0, "Not Found", 9);
    return !c->dead && !c->ex && !c->close_after_write;
}

static void hconn_process(hconn_t *c)
{
    while (!c->dead && !c->ex && !c->close_after_write && c->fd >= 0 && hconn_next_request(c))
        ;
}

static void on_hconn_io(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    hconn_t *c = ud;
    if (events & KS_IO_WRITE)
        hconn_flush(c);
    if (c->dead)
        return;
    if (events & (KS_IO_READ | KS_IO_ERROR)) {
        size_t got = 0;
        while (got < HTTP_READ_BUDGET) {
            if (c->in_off > 0 && c->in.cap - c->in.len < 4096) {
                memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
                c->in.len -= c->in_off;
                c->in_off = 0;
            }
            if (buf_reserve(&c->in, 16384) != KS_OK) {
                hconn_close(c);
                return;
            }
            ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
            if (n > 0) {
                c->in.len += (size_t)n;
                got += (size_t)n;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n < 0 && errno == EINTR)
                continue;
            /* EOF or error: a client that went away gets no reply; a pending exchange
             * stays valid for its owner. */
            hconn_close(c);
            return;
        }
        if (c->in.len - c->in_off > HTTP_MAX_HEAD + HTTP_MAX_BODY + 4096) {
            hconn_close(c);
            return;
        }
    }
    hconn_process(c);
    if (!c->dead && c->out.len > c->out_off)
        hconn_flush(c);
    hconn_update_events(c);
}

/* Hands the connection to lws as a WebSocket peer, with the bytes already read. */
static void hconn_upgrade(hconn_t *c, const head_t *h)
{
    ks_ws_server_t *srv = c->srv;
    ks_wsctx_t *ctx = srv->ctx;
    if (!ensure_lws(ctx)) {
        hconn_fail(c, 503);
        return;
    }
    ks_ws_peer_t *peer = calloc(1, sizeof(*peer));
    char *t;
    if (!peer || copy_views(h->h, h->n, 0, &peer->hdrs, &peer->hdr_block, &t) != KS_OK ||
        !(peer->target = strndup(h->target, h->target_len))) {
        if (peer)
            peer_free(peer);
        hconn_fail(c, 500);
        return;
    }
    peer->n_hdrs = h->n;
    peer->lc.ctx = ctx;
    peer->lc.kind = LC_PEER;
    peer->lc.fd = -1;
    peer->lc.connected = true;
    peer->srv = srv;
    peer->snext = srv->peers;
    if (srv->peers)
        srv->peers->sprev = peer;
    srv->peers = peer;

    /* The socket and its buffered bytes now belong to lws. */
    int fd = c->fd;
    ks_loop_io_del(ctx->loop, fd);
    c->fd = -1;
    buf_t in = c->in;
    size_t off = c->in_off;
    c->in = (buf_t){0};
    hconn_close(c);

    peer->adopt_fd = fd;
    ctx->adopting = peer;
    struct lws *wsi = lws_adopt_socket_vhost_readbuf(ctx->vhost, fd, in.data + off, in.len - off);
    ctx->adopting = NULL;
    buf_free(&in);
    if (!peer->lc.wsi && !peer->lc.ended) {
        if (wsi)
            lconn_bind(&peer->lc, wsi);
        else
            peer_bury(peer, false); /* lws refused it and closed the socket */
    }
    service_soon(ctx);
}

static void on_accept_resume(ks_loop_t *loop, void *ud)
{
    ks_ws_server_t *srv = ud;
    srv->accept_pause_id = 0;
    ks_loop_io_mod(loop, srv->fd, KS_IO_READ);
}

static void on_listen_io(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    ks_ws_server_t *srv = ud;
    for (int i = 0; i < ACCEPT_BUDGET && !srv->dead; i++) {
        int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection keeps the socket readable: pause instead of
                 * spinning, and retry when descriptors may have been freed. */
                ks_log_warn(LOG_COMP, "accept on port %d: %s; pausing 100 ms", srv->port,
                            strerror(errno));
                ks_loop_io_mod(loop, fd, 0);
                srv->accept_pause_id =
                    ks_loop_timer_start(loop, 100 * MS, 0, on_accept_resume, srv);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                ks_log_warn(LOG_COMP, "accept on port %d: %s", srv->port, strerror(errno));
            }
            return;
        }
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        hconn_t *c = calloc(1, sizeof(*c));
        if (!c || ks_loop_io_add(loop, s, KS_IO_READ, on_hconn_io, c) != KS_OK) {
            free(c);
            close(s);
            continue;
        }
        c->srv = srv;
        c->fd = s;
        c->io_events = KS_IO_READ;
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
    }
}

/* --- server API -------------------------------------------------------------------------- */

ks_ws_server_t *ks_ws_server_start(ks_wsctx_t *ctx, const char *host, int port,
                                   const ks_ws_server_callbacks_t *cb, void *ud)
{
    if (!ctx || !cb || port < 0 || port > 65535 || ctx->freeing)
        return NULL;
    if (ks_loop_is_virtual(ctx->loop))
        return NULL;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_s[8];
    snprintf(port_s, sizeof(port_s), "%d", port);
    int gai = getaddrinfo(host && *host ? host : "127.0.0.1", port_s, &hints, &res);
    if (gai != 0) {
        ks_log_error(LOG_COMP, "cannot listen on %s:%d: %s", host ? host : "127.0.0.1", port,
                     gai_strerror(gai));
        return NULL;
    }
    const struct addrinfo *ai = prefer_ipv4(res); /* as clients resolving the name do */
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0) {
        ks_log_error(LOG_COMP, "cannot listen on %s:%d: %s", host ? host : "127.0.0.1", port,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return NULL;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    ks_ws_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        goto fail;
    srv->ctx = ctx;
    srv->fd = fd;
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    srv->cb = *cb;
    srv->ud = ud;
    if (ks_loop_io_add(ctx->loop, fd, KS_IO_READ, on_listen_io, srv) != KS_OK)
        goto fail;
    srv->next = ctx->servers;
    if (ctx->servers)
        ctx->servers->prev = srv;
    ctx->servers = srv;
    return srv;

fail:
    free(srv);
    close(fd);
    return NULL;
}

int ks_ws_server_port(const ks_ws_server_t *srv)
{
    return srv ? srv->port : -1;
}

void ks_ws_server_stop(ks_ws_server_t *srv)
{
    if (!srv || srv->dead)
        return;
    ks_wsctx_t *ctx = srv->ctx;
    srv->dead = true;
    if (srv->accept_pause_id)
        ks_loop_timer_stop(ctx->loop, srv->accept_pause_id);
    ks_loop_io_del(ctx->loop, srv->fd);
    close(srv->fd);
    srv->fd = -1;
    while (srv->conns)
        hconn_close(srv->conns);
    while (srv->exchanges)
        exchange_free(srv->exchanges);
    while (srv->peers)
        peer_bury(srv->peers, true);
    if (srv->prev)
        srv->prev->next = srv->next;
    else
        ctx->servers = srv->next;
    if (srv->next)
        srv->next->prev = srv->prev;
    srv->prev = NULL;
    srv->next = ctx->dead_servers;
    ctx->dead_servers = srv;
}

int ks_http_reply(ks_http_exchange_t *ex, int status, const char *content_type,
                  const ks_http_header_t *headers, uint32_t n_headers, const char *body,
                  size_t body_len)
{
    if (!ex || status < 100 || status > 999 || (!body && body_len) || (n_headers && !headers))
        return KS_EINVAL;
    for (uint32_t i = 0; i < n_headers; i++)
        if (!headers[i].name || !headers[i].value || strpbrk(headers[i].name, "\r\n:") ||
            strpbrk(headers[i].value, "\r\n"))
            return KS_EINVAL;
    if (content_type && strpbrk(content_type, "\r\n"))
        return KS_EINVAL;
    hconn_t *c = ex->conn;
    int rc = KS_EIO;
    if (c && !c->dead) {
        c->ex = NULL;
        rc = hconn_respond(c, status, content_type, headers, n_headers, body ? body : "", body_len,
                           ex->head_only, ex->keep_alive);
        if (rc != KS_OK)
            hconn_close(c);
    }
    exchange_free(ex);
    return rc;
}

void ks_http_abort(ks_http_exchange_t *ex)
{
    if (!ex)
        return;
    hconn_t *c = ex->conn;
    if (c && !c->dead && c->fd >= 0) {
        /* A reset, not an orderly close: the client sees the connection drop. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (c)
        hconn_close(c);
    exchange_free(ex);
}

/* --- the loop hook: service lws, keep the watchers and the tick right, reap ---------- */

static void reap(ks_wsctx_t *ctx)
{
    while (ctx->dead_hconns) {
        hconn_t *c = ctx->dead_hconns;
        ctx->dead_hconns = c->next;
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
    }
    while (ctx->dead_peers) {
        ks_ws_peer_t *p = ctx->dead_peers;
        ctx->dead_peers = p->snext;
        peer_free(p);
    }
    while (ctx->dead_servers) {
        ks_ws_server_t *s = ctx->dead_servers;
        ctx->dead_servers = s->next;
        free(s);
    }
}

static void on_tick(ks_loop_t *loop, void *ud)
{
    ks_wsctx_t *ctx = ud;
    ctx->need_service = true;
}

static void tick_update(ks_wsctx_t *ctx)
{
    int64_t period = 0;
    if (ctx->lconns) {
        period = TICK_SLOW_NS;
        for (lconn_t *lc = ctx->lconns; lc; lc = lc->next) {
            bool busy = lc->q.count > 0 || lc->closing || !lc->connected ||
                        (lc->kind == LC_CLIENT && ((ks_ws_t *)lc)->state != WS_OPEN) ||
                        (lc->wsi && lws_partial_buffered(lc->wsi));
            lconn_track(lc);
            if (busy)
                period = TICK_FAST_NS;
        }
    }
    if (period == ctx->tick_period)
        return;
    if (ctx->tick_id)
        ks_loop_timer_stop(ctx->loop, ctx->tick_id);
    ctx->tick_id = period ? ks_loop_timer_start(ctx->loop, period, period, on_tick, ctx) : 0;
    ctx->tick_period = ctx->tick_id ? period : 0;
}

static void on_hook(ks_loop_t *loop, void *ud)
{
    ks_wsctx_t *ctx = ud;
    reap(ctx);
    if (ctx->lws && ctx->need_service) {
        ctx->need_service = false;
        lws_service(ctx->lws, -1);
        if (lws_service_adjust_timeout(ctx->lws, 1, 0) == 0)
            service_soon(ctx);
    }
    tick_update(ctx);
    reap(ctx);
}

/* --- context ------------------------------------------------------------------------------ */

ks_wsctx_t *ks_wsctx_new(ks_loop_t *loop)
{
    if (!loop)
        return NULL;
    ks_wsctx_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->loop = loop;
    ctx->rpipe[0] = ctx->rpipe[1] = -1;
    if (ks_loop_add_hook(loop, on_hook, ctx) != KS_OK) {
        free(ctx);
        return NULL;
    }
    lws_set_log_level(LLL_ERR, lws_log_emit);
    return ctx;
}

void ks_wsctx_free(ks_wsctx_t *ctx)
{
    if (!ctx)
        return;
    ctx->freeing = true;
    ks_loop_remove_hook(ctx->loop, on_hook, ctx);
    if (ctx->tick_id)
        ks_loop_timer_stop(ctx->loop, ctx->tick_id);
    if (ctx->kick_id)
        ks_loop_timer_stop(ctx->loop, ctx->kick_id);
    while (ctx->servers)
        ks_ws_server_stop(ctx->servers);
    for (ks_ws_t *ws = ctx->clients; ws; ws = ws->next) {
        if (ws->timer_id)
            ks_loop_timer_stop(ctx->loop, ws->timer_id);
        ws->timer_id = 0;
        if (ws->job)
            ws->job->ws = NULL;
        lconn_detach(&ws->lc, false);
    }
    if (ctx->lws)
        lws_context_destroy(ctx->lws); /* closes every socket it still holds */
    while (ctx->clients)
        ws_free(ctx->clients);
    while (ctx->jobs) {
        resolve_job_t *job = ctx->jobs;
        ctx->jobs = job->next;
        pthread_join(job->thread, NULL);
        free(job);
    }
    if (ctx->rpipe[0] >= 0) {
        ks_loop_io_del(ctx->loop, ctx->rpipe[0]);
        close(ctx->rpipe[0]);
        close(ctx->rpipe[1]);
    }
    reap(ctx);
    free(ctx);
}
