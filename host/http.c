/* Asynchronous HTTP client (see http.h): one libcurl multi handle driven through its
 * socket API, so curl's sockets are ordinary loop watchers and curl's single timeout
 * is one loop timer. The multi handle keeps the connection cache, so requests to the
 * same venue reuse connections (and HTTP/2 streams where the server offers them). */
#define _GNU_SOURCE
#include "http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <kestrel/error.h>

#include "log.h"

#define LOG_COMP           "http"
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_BODY           (64u << 20) /* a reply larger than this is refused (KS_EIO) */

typedef struct buf {
    char *data;
    size_t len, cap;
} buf_t;

typedef struct req {
    struct req *prev, *next;
    ks_http_t *http;
    uint64_t id;
    CURL *easy;
    struct curl_slist *hdrs;
    ks_http_cb cb;
    void *ud;
    buf_t body;
    buf_t hdr; /* "name\0value\0" pairs of the latest response head */
    uint32_t n_hdr;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
} req_t;

struct ks_http {
    ks_loop_t *loop;
    CURLM *multi;
    uint64_t timer_id;
    uint64_t next_id;
    req_t *head; /* requests in flight */
    int pending;
    int depth; /* > 0 while a user callback runs */
    bool dead; /* ks_http_free() was called from inside a callback */
};

static int curl_users;

static int buf_append(buf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return KS_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KS_OK;
}

/* --- request list ------------------------------------------------------------------ */

static void req_link(ks_http_t *http, req_t *r)
{
    r->next = http->head;
    if (http->head)
        http->head->prev = r;
    http->head = r;
    http->pending++;
}

static void req_unlink(ks_http_t *http, req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        http->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    http->pending--;
}

static void req_free(req_t *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->body.data);
    free(r->hdr.data);
    free(r);
}

/* Takes a request out of the multi handle; its callback will not run. */
static void req_abort(ks_http_t *http, req_t *r)
{
    curl_multi_remove_handle(http->multi, r->easy);
    req_unlink(http, r);
    req_free(r);
}

/* --- curl callbacks (never call user code) ----------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    req_t *r = ud;
    size_t len = size * n;
    if (r->body.len + len > MAX_BODY) {
        r->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return buf_append(&r->body, p, len) == KS_OK ? len : 0;
}

/* Collects the headers of the latest response head only: a status line (a 100
 * Continue, a redirect) starts the list afresh. Names are lower-cased. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    req_t *r = ud;
    size_t len = size * n, end = len;
    while (end > 0 && (p[end - 1] == '\r' || p[end - 1] == '\n'))
        end--;
    if (end >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        r->hdr.len = 0;
        r->n_hdr = 0;
        return len;
    }
    const char *colon = memchr(p, ':', end);
    if (!colon || colon == p)
        return len;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1, *v_end = p + end;
    while (v < v_end && (*v == ' ' || *v == '\t'))
        v++;
    while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
        v_end--;
    size_t at = r->hdr.len;
    if (buf_append(&r->hdr, p, name_len) != KS_OK || buf_append(&r->hdr, "", 1) != KS_OK ||
        buf_append(&r->hdr, v, (size_t)(v_end - v)) != KS_OK || buf_append(&r->hdr, "", 1) != KS_OK)
        return 0;
    for (size_t i = 0; i < name_len; i++)
        r->hdr.data[at + i] = (char)tolower((unsigned char)r->hdr.data[at + i]);
    r->n_hdr++;
    return len;
}

static void drain_done(ks_http_t *http);
static void http_destroy(ks_http_t *http);

static void on_io(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    ks_http_t *http = ud;
    int flags = 0, running;
    if (events & KS_IO_READ)
        flags |= CURL_CSELECT_IN;
    if (events & KS_IO_WRITE)
        flags |= CURL_CSELECT_OUT;
    if (events & KS_IO_ERROR)
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(http->multi, fd, flags, &running);
    drain_done(http);
}

static void on_timer(ks_loop_t *loop, void *ud)
{
    ks_http_t *http = ud;
    int running;
    http->timer_id = 0;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(http);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    ks_http_t *http = userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp) {
            ks_loop_io_del(http->loop, s);
            curl_multi_assign(http->multi, s, NULL);
        }
        return 0;
    }
    uint32_t ev =
        ((what & CURL_POLL_IN) ? KS_IO_READ : 0) | ((what & CURL_POLL_OUT) ? KS_IO_WRITE : 0);
    if (socketp)
        return ks_loop_io_mod(http->loop, s, ev) == KS_OK ? 0 : -1;
    if (ks_loop_io_add(http->loop, s, ev, on_io, http) != KS_OK)
        return -1;
    curl_multi_assign(http->multi, s, http); /* non-NULL: "watched" */
    return 0;
}

/* curl asks for one timeout at a time; -1 cancels it. A zero timeout is served on the
 * next iteration rather than by calling back into curl from here. */
static int on_timeout_set(CURLM *multi, long timeout_ms, void *userp)
{
    ks_http_t *http = userp;
    if (http->timer_id) {
        ks_loop_timer_stop(http->loop, http->timer_id);
        http->timer_id = 0;
    }
    if (timeout_ms >= 0) {
        http->timer_id =
            ks_loop_timer_start(http->loop, (int64_t)timeout_ms * 1000000, 0, on_timer, http);
        if (!http->timer_id)
            return -1;
    }
    return 0;
}

/* --- completion -------------------------------------------------------------------- */

static void finish(ks_http_t *http, req_t *r, CURLcode res)
{
    curl_multi_remove_handle(http->multi, r->easy);
    req_unlink(http, r);

    ks_http_response_t resp;
    KS_INIT(&resp);
    ks_http_header_t *hv = NULL;
    if (res == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        resp.rc = KS_OK;
        resp.status = (int32_t)status;
        if (r->n_hdr > 0 && (hv = calloc(r->n_hdr, sizeof(*hv))) != NULL) {
            const char *p = r->hdr.data;
            for (uint32_t i = 0; i < r->n_hdr; i++) {
                hv[i].name = p;
                p += strlen(p) + 1;
                hv[i].value = p;
                p += strlen(p) + 1;
            }
            resp.headers = hv;
            resp.n_headers = r->n_hdr;
        }
        resp.body = r->body.data ? r->body.data : "";
        resp.body_len = r->body.len;
    } else {
        resp.rc = res == CURLE_OPERATION_TIMEDOUT ? KS_ETIMEDOUT : KS_EIO;
        resp.body = "";
        const char *why = r->too_large   ? "response body too large"
                          : r->errbuf[0] ? r->errbuf
                                         : curl_easy_strerror(res);
        size_t n = strlen(why) < sizeof(resp.error) ? strlen(why) : sizeof(resp.error) - 1;
        memcpy(resp.error, why, n);
        resp.error[n] = '\0';
        ks_log_debug(LOG_COMP, "request %llu failed: %s", (unsigned long long)r->id, resp.error);
    }
    http->depth++;
    r->cb(r->ud, &resp);
    http->depth--;
    free(hv);
    req_free(r);
}

static void drain_done(ks_http_t *http)
{
    CURLMsg *m;
    int left;
    while (!http->dead && (m = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        finish(http, (req_t *)priv, m->data.result);
    }
    if (http->dead && http->depth == 0)
        http_destroy(http);
}

/* --- API --------------------------------------------------------------------------- */

ks_http_t *ks_http_new(ks_loop_t *loop)
{
    if (!loop)
        return NULL;
    if (curl_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        curl_users = 0;
        return NULL;
    }
    ks_http_t *http = calloc(1, sizeof(*http));
    if (!http)
        goto fail;
    http->loop = loop;
    http->multi = curl_multi_init();
    if (!http->multi)
        goto fail_http;
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_timeout_set);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    return http;

fail_http:
    free(http);
fail:
    if (--curl_users == 0)
        curl_global_cleanup();
    return NULL;
}

static void http_destroy(ks_http_t *http)
{
    while (http->head)
        req_abort(http, http->head);
    curl_multi_cleanup(http->multi); /* closes cached connections: io watchers go */
    if (http->timer_id)
        ks_loop_timer_stop(http->loop, http->timer_id);
    free(http);
    if (--curl_users == 0)
        curl_global_cleanup();
}

void ks_http_free(ks_http_t *http)
{
    if (!http)
        return;
    if (http->depth > 0) {
        /* Inside a callback: drop every request now, free when the callback returns. */
        http->dead = true;
        while (http->head)
            req_abort(http, http->head);
        return;
    }
    http_destroy(http);
}

static bool header_safe(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

/* Applies the copied request to a fresh easy handle. */
static int req_setup(req_t *r, const ks_http_request_t *req)
{
    CURL *e = r->easy;
    const char *method = req->method && *req->method ? req->method : "GET";
    bool has_expect = false;
    for (uint32_t i = 0; i < req->n_headers; i++) {
        const ks_http_header_t *h = &req->headers[i];
        if (!header_safe(h->name) || !*h->name || strchr(h->name, ':') || !header_safe(h->value))
            return KS_EINVAL;
        char line[8192];
        int n = *h->value ? snprintf(line, sizeof(line), "%s: %s", h->name, h->value)
                          : snprintf(line, sizeof(line), "%s;", h->name);
        if (n < 0 || (size_t)n >= sizeof(line))
            return KS_EINVAL;
        struct curl_slist *l = curl_slist_append(r->hdrs, line);
        if (!l)
            return KS_ENOMEM;
        r->hdrs = l;
        if (strcasecmp(h->name, "expect") == 0)
            has_expect = true;
    }
    if (!has_expect) {
        /* No 100-continue round trip before a POST body. */
        struct curl_slist *l = curl_slist_append(r->hdrs, "Expect:");
        if (!l)
            return KS_ENOMEM;
        r->hdrs = l;
    }

    int32_t timeout = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode c = CURLE_OK;
    c |= curl_easy_setopt(e, CURLOPT_URL, req->url);
    c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    c |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
    c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Proxies only when configured explicitly, never from http_proxy/https_proxy in the
     * environment: signed venue requests must not silently take another route. */
    c |= curl_easy_setopt(e, CURLOPT_PROXY, "");
    c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    c |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    c |= curl_easy_setopt(e, CURLOPT_USERAGENT, "kestrel/" KS_VERSION);
    c |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    c |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    c |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    c |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    c |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);

    const char *body = req->body ? req->body : "";
    size_t body_len = req->body ? req->body_len : 0;
    if (strcmp(method, "GET") == 0 && !req->body) {
        c |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        c |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") == 0)
            c |= curl_easy_setopt(e, CURLOPT_POST, 1L);
        else
            c |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (req->body || strcmp(method, "POST") == 0) {
            c |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            c |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
        }
    }
    return c == CURLE_OK ? KS_OK : KS_EINVAL;
}

uint64_t ks_http_request(ks_http_t *http, const ks_http_request_t *req, ks_http_cb cb, void *ud)
{
    if (!http || http->dead || !req || !cb || !req->url ||
        req->struct_size < offsetof(ks_http_request_t, timeout_ms) + sizeof(req->timeout_ms))
        return 0;
    if (ks_loop_is_virtual(http->loop)) {
        ks_log_debug(LOG_COMP, "no HTTP in a virtual-clock loop: %s", req->url);
        return 0;
    }
    req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return 0;
    r->http = http;
    r->cb = cb;
    r->ud = ud;
    r->easy = curl_easy_init();
    if (!r->easy || req_setup(r, req) != KS_OK) {
        ks_log_warn(LOG_COMP, "cannot start %s %s: invalid request",
                    req->method ? req->method : "GET", req->url);
        req_free(r);
        return 0;
    }
    /* Adding only schedules work (curl asks for a zero timeout); the transfer and its
     * completion happen on later loop iterations, so cb never runs from here. */
    if (curl_multi_add_handle(http->multi, r->easy) != CURLM_OK) {
        req_free(r);
        return 0;
    }
    r->id = ++http->next_id;
    req_link(http, r);
    return r->id;
}

void ks_http_cancel(ks_http_t *http, uint64_t id)
{
    if (!http || id == 0)
        return;
    for (req_t *r = http->head; r; r = r->next) {
        if (r->id == id) {
            req_abort(http, r);
            return;
        }
    }
}

int ks_http_pending(const ks_http_t *http)
{
    return http ? http->pending : 0;
}
