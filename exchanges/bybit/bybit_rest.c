/* bybit_rest: signed REST requests over the host's HTTP client, their replies, the
 * retCode -> ks_reject_t mapping, and the multi-request jobs behind fetch() and the
 * resync after a reconnect.
 *
 * Order-entry rules (docs/bybit.md "Orders and unknown outcomes"):
 *  - a rejection the venue states (retCode != 0, HTTP 429) is an order update REJECTED;
 *  - a create whose outcome is unknown (transport error, timeout, 5xx, retCode 10016)
 *    emits nothing: the order stays SENT, the host's watchdog makes it UNKNOWN and asks
 *    fetch(KS_FETCH_ORDER), answered by querying the orderLinkId;
 *  - "duplicate orderLinkId" means an earlier attempt arrived: query it, never reject;
 *  - an order the venue does not know is declared never placed only once its request
 *    can no longer be accepted: after timestamp + recvWindow (Bybit refuses a request
 *    older than that), plus a second of clock margin. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bybit.h"
#include "bybit_sign.h"

#define NS_PER_MS           1000000LL
#define RETRY_MS            2000
#define NOT_FOUND_MARGIN_MS 1500
#define CANCEL_RECHECK_MS   1000

enum {
    BUCKET_DEFAULT = 0,
    BUCKET_CREATE = 1,
    BUCKET_CANCEL = 2,
    BUCKET_AMEND = 3,
    BUCKET_CANCEL_ALL = 4,
    BUCKET_QUERY = 5,
    BUCKET_ACCOUNT = 6,
    BUCKET_FEE_RATE = 7,
};

struct ks_bybit_req {
    ks_bybit_t *bb;
    ks_bybit_req_t *prev, *next;
    uint64_t http_id;
    uint64_t timer;
    int kind;
    int cat;
    bool post, sign;
    char path[64];
    char *base; /* query string (GET, without the cursor) or body (POST); owned */
    char cursor[192];
    int attempts;
    int bucket;
    int64_t started_ms;
    int64_t sign_ts_ms;
    char cloid[KS_CLOID_LEN];
    int32_t inst;
    ks_bybit_job_t *job;
    int64_t exec_sync_to; /* EXECS: venue time the resync started */
};

/* ---- time ------------------------------------------------------------------------- */

static int64_t wall_ms(ks_bybit_t *bb)
{
    return bb->api->wall_ns(bb->host) / NS_PER_MS;
}

int64_t ks_bybit_rest_now_ms(ks_bybit_t *bb)
{
    return wall_ms(bb) + bb->time_offset_ms;
}

/* ---- requests ------------------------------------------------------------------------ */

static void job_unref(ks_bybit_job_t *job);

static void req_unlink(ks_bybit_req_t *r)
{
    ks_bybit_t *bb = r->bb;
    if (r->prev)
        r->prev->next = r->next;
    else if (bb->reqs == r)
        bb->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(ks_bybit_req_t *r)
{
    ks_bybit_t *bb = r->bb;
    req_unlink(r);
    if (r->http_id)
        bb->api->http_cancel(bb->host, r->http_id);
    if (r->timer)
        bb->api->timer_stop(bb->host, r->timer);
    ks_bybit_job_t *job = r->job;
    free(r->base);
    free(r);
    if (job)
        job_unref(job);
}

static ks_bybit_req_t *req_new(ks_bybit_t *bb, int kind, int cat, bool post, bool sign,
                               const char *path, const char *base, int bucket)
{
    ks_bybit_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->base = strdup(base ? base : "");
    if (!r->base) {
        free(r);
        return NULL;
    }
    r->bb = bb;
    r->kind = kind;
    r->cat = cat;
    r->post = post;
    r->sign = sign;
    r->bucket = bucket;
    r->inst = -1;
    ks_strlcpy(r->path, path, sizeof(r->path));
    r->next = bb->reqs;
    if (bb->reqs)
        bb->reqs->prev = r;
    bb->reqs = r;
    return r;
}

static void on_http(void *ud, const ks_http_response_t *resp);

static int grow_buf(ks_bybit_t *bb, size_t need)
{
    if (need <= bb->buf_cap)
        return KS_OK;
    size_t nc = bb->buf_cap ? bb->buf_cap : 1024;
    while (nc < need)
        nc *= 2;
    char *nb = realloc(bb->buf, nc);
    if (!nb)
        return KS_ENOMEM;
    bb->buf = nb;
    bb->buf_cap = nc;
    return KS_OK;
}

/* Builds, signs and starts the HTTP request. KS_OK or a negative code (not started). */
static int req_send(ks_bybit_req_t *r)
{
    ks_bybit_t *bb = r->bb;
    char payload[2048], url[KS_BYBIT_URL_LEN + 2200], ts[24], rw[16], sig[65];
    int plen;
    if (r->cursor[0])
        plen = snprintf(payload, sizeof(payload), "%s%scursor=%s", r->base, r->base[0] ? "&" : "",
                        r->cursor);
    else
        plen = snprintf(payload, sizeof(payload), "%s", r->base);
    if (plen < 0 || (size_t)plen >= sizeof(payload))
        return KS_ERANGE;
    if (r->post || !plen)
        snprintf(url, sizeof(url), "%s%s", bb->cfg.rest_url, r->path);
    else
        snprintf(url, sizeof(url), "%s%s?%s", bb->cfg.rest_url, r->path, payload);

    ks_http_header_t h[6];
    uint32_t nh = 0;
    if (r->sign) {
        if (!bb->have_keys)
            return KS_EAUTH;
        r->sign_ts_ms = ks_bybit_rest_now_ms(bb);
        snprintf(ts, sizeof(ts), "%lld", (long long)r->sign_ts_ms);
        snprintf(rw, sizeof(rw), "%d", bb->cfg.recv_window_ms);
        size_t need = strlen(ts) + strlen(bb->key) + strlen(rw) + (size_t)plen + 1;
        if (grow_buf(bb, need) != KS_OK)
            return KS_ENOMEM;
        int n = ks_bybit_sign_payload(bb->buf, bb->buf_cap, ts, bb->key, rw, payload, (size_t)plen);
        if (n < 0)
            return n;
        ks_bybit_sign_hex(bb->api->hmac_sha256, bb->secret, bb->buf, (size_t)n, sig);
        h[nh++] = (ks_http_header_t){"X-BAPI-API-KEY", bb->key};
        h[nh++] = (ks_http_header_t){"X-BAPI-TIMESTAMP", ts};
        h[nh++] = (ks_http_header_t){"X-BAPI-SIGN", sig};
        h[nh++] = (ks_http_header_t){"X-BAPI-RECV-WINDOW", rw};
    }
    if (r->post)
        h[nh++] = (ks_http_header_t){"Content-Type", "application/json"};

    ks_http_request_t req;
    KS_INIT(&req);
    req.method = r->post ? "POST" : "GET";
    req.url = url;
    req.headers = h;
    req.n_headers = nh;
    req.body = r->post ? payload : NULL;
    req.body_len = r->post ? (size_t)plen : 0;
    req.timeout_ms = r->kind == KS_BYBIT_RQ_CREATE || r->kind == KS_BYBIT_RQ_CANCEL ||
                             r->kind == KS_BYBIT_RQ_AMEND
                         ? bb->cfg.order_timeout_ms
                         : bb->cfg.http_timeout_ms;
    r->attempts++;
    r->started_ms = wall_ms(bb);
    r->http_id = bb->api->http_request(bb->host, &req, on_http, r);
    memset(sig, 0, sizeof(sig));
    return r->http_id ? KS_OK : KS_EIO;
}

static void on_retry_timer(void *ud)
{
    ks_bybit_req_t *r = ud;
    r->timer = 0;
    if (req_send(r) != KS_OK) {
        r->bb->api->log(r->bb->host, KS_LOG_WARN, "%s: could not be sent again", r->path);
        req_free(r);
    }
}

static void retry_later(ks_bybit_req_t *r, int64_t ms)
{
    ks_bybit_t *bb = r->bb;
    r->timer = bb->api->timer_start(bb->host, ms * NS_PER_MS, 0, on_retry_timer, r);
    if (!r->timer)
        req_free(r);
}

/* ---- jobs (fetch and resync) -------------------------------------------------------------- */

static ks_bybit_job_t *job_new(ks_bybit_t *bb, uint8_t what, uint64_t req_id)
{
    ks_bybit_job_t *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->bb = bb;
    job->what = what;
    job->req_id = req_id;
    job->inst = -1;
    job->pending = 1; /* held by the starter until job_unref() after issuing requests */
    job->next = bb->jobs;
    if (bb->jobs)
        bb->jobs->prev = job;
    bb->jobs = job;
    return job;
}

static void job_free(ks_bybit_job_t *job)
{
    ks_bybit_t *bb = job->bb;
    if (job->prev)
        job->prev->next = job->next;
    else if (bb->jobs == job)
        bb->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    if (job->retry_timer)
        bb->api->timer_stop(bb->host, job->retry_timer);
    free(job);
}

static void job_finish(ks_bybit_job_t *job)
{
    ks_bybit_t *bb = job->bb;
    if (!bb->closing) {
        if (job->on_done)
            job->on_done(job);
        if (job->req_id) {
            ks_sync_done_t ev;
            KS_EVENT_INIT(&ev, KS_EV_SYNC_DONE);
            ev.req_id = job->req_id;
            ev.what = job->what;
            ev.rc = job->rc;
            ks_strlcpy(ev.detail, job->detail, sizeof(ev.detail));
            bb->api->emit(bb->host, &ev.hdr);
        }
    }
    job_free(job);
}

static void job_unref(ks_bybit_job_t *job)
{
    if (--job->pending > 0 || job->retry_timer)
        return;
    job_finish(job);
}

static void on_job_retry(void *ud);

/* Re-runs a KS_FETCH_ORDER job's query after `ms`; the job stays open meanwhile. */
static bool job_retry_later(ks_bybit_job_t *job, int64_t ms)
{
    ks_bybit_t *bb = job->bb;
    job->retry_timer =
        bb->api->timer_start(bb->host, (ms > 0 ? ms : 1) * NS_PER_MS, 0, on_job_retry, job);
    return job->retry_timer != 0;
}

static void job_fail(ks_bybit_job_t *job, int rc, const char *detail)
{
    if (!job)
        return;
    if (job->rc == KS_OK)
        job->rc = rc;
    if (!job->detail[0])
        ks_strlcpy(job->detail, detail, sizeof(job->detail));
}

static int job_get(ks_bybit_t *bb, ks_bybit_job_t *job, int kind, int cat, const char *path,
                   const char *query, int bucket)
{
    ks_bybit_req_t *r = req_new(bb, kind, cat, false, true, path, query, bucket);
    if (!r)
        return KS_ENOMEM;
    r->job = job;
    if (job)
        job->pending++;
    int rc = req_send(r);
    if (rc != KS_OK) {
        job_fail(job, rc, "request could not be sent");
        req_free(r);
    }
    return rc;
}

static void order_query(ks_bybit_t *bb, ks_bybit_job_t *job, bool history);
static void run_deferred(ks_bybit_t *bb);

/* ---- replies ---------------------------------------------------------------------- */

static const char *header(const ks_http_response_t *resp, const char *name)
{
    for (uint32_t i = 0; i < resp->n_headers; i++)
        if (strcmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

static void ratelimit(ks_bybit_req_t *r, const ks_http_response_t *resp, int64_t code)
{
    ks_bybit_t *bb = r->bb;
    const char *lim = header(resp, "x-bapi-limit");
    const char *rem = header(resp, "x-bapi-limit-status");
    const char *rst = header(resp, "x-bapi-limit-reset-timestamp");
    bool limited = resp->status == 429 || resp->status == 403 || code == 10006 || code == 10018;
    if (!lim && !rem && !limited)
        return;
    ks_ratelimit_info_t info;
    KS_INIT(&info);
    info.http_status = resp->status;
    info.venue_code = limited && code > 0 ? (int32_t)code : 0;
    info.bucket = (uint32_t)r->bucket;
    info.limit = lim ? (int32_t)strtol(lim, NULL, 10) : -1;
    info.remaining = rem ? (int32_t)strtol(rem, NULL, 10) : -1;
    if (rst) {
        long long reset_ms = strtoll(rst, NULL, 10);
        info.reset_ns = reset_ms * NS_PER_MS;
        if (limited) {
            long long wait = reset_ms - ks_bybit_rest_now_ms(bb);
            info.retry_after_ns = (wait > 0 ? wait : 1000) * NS_PER_MS;
        }
    } else if (limited) {
        info.retry_after_ns = 1000 * NS_PER_MS;
    }
    bb->api->ratelimit_feedback(bb->host, &info);
}

static void reject_order(ks_bybit_t *bb, const char *cloid, int reject, const char *fmt, ...)
    KS_PRINTF(4, 5);
static void reject_order(ks_bybit_t *bb, const char *cloid, int reject, const char *fmt, ...)
{
    char reason[KS_REASON_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, cloid);
    if (!o)
        return;
    ks_bybit_order_emit(bb, o, KS_OS_REJECTED, reject, reason, 0);
    ks_bybit_orders_del(&bb->orders, o);
}

/* A cancel or amend the venue refused: the order's tracked state again, with why. */
static void refused(ks_bybit_t *bb, const char *cloid, int reject, const char *what, int64_t code,
                    const char *msg)
{
    ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, cloid);
    char reason[KS_REASON_LEN];
    snprintf(reason, sizeof(reason), "%s refused: retCode %lld: %s", what, (long long)code, msg);
    bb->api->log(bb->host, KS_LOG_WARN, "%s %s", cloid, reason);
    if (o)
        ks_bybit_order_emit(bb, o, o->status, reject, reason, 0);
}

static int start_order_job(ks_bybit_t *bb, const char *cloid, int32_t inst, uint64_t req_id,
                           bool from_cancel)
{
    ks_bybit_job_t *job = job_new(bb, KS_FETCH_ORDER, req_id);
    if (!job)
        return KS_ENOMEM;
    ks_strlcpy(job->cloid, cloid, sizeof(job->cloid));
    job->inst = inst;
    job->from_cancel = from_cancel;
    order_query(bb, job, false);
    job_unref(job);
    return KS_OK;
}

static void on_job_retry(void *ud)
{
    ks_bybit_job_t *job = ud;
    job->retry_timer = 0;
    job->pending++;
    order_query(job->bb, job, false);
    job_unref(job);
}

/* KS_FETCH_ORDER found nothing in realtime nor history. */
static void order_not_found(ks_bybit_t *bb, ks_bybit_job_t *job)
{
    ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, job->cloid);
    int64_t now = ks_bybit_rest_now_ms(bb);
    if (o && (o->create_inflight || (o->sign_ts_ms && now < o->sign_ts_ms + bb->cfg.recv_window_ms +
                                                                NOT_FOUND_MARGIN_MS))) {
        /* The create may still be accepted: ask again once it no longer can be. */
        int64_t wait = o->create_inflight
                           ? RETRY_MS
                           : o->sign_ts_ms + bb->cfg.recv_window_ms + NOT_FOUND_MARGIN_MS - now;
        if (job_retry_later(job, wait))
            return;
    }
    if (o && o->sign_ts_ms) {
        bb->api->log(bb->host, KS_LOG_WARN,
                     "order %s is unknown to the venue after its receive window: never placed",
                     job->cloid);
        ks_bybit_order_emit(bb, o, KS_OS_REJECTED, KS_REJ_OTHER,
                            "the venue never received the order (not found after its receive "
                            "window)",
                            job->req_id ? KS_EVF_SNAPSHOT : 0);
        ks_bybit_orders_del(&bb->orders, o);
        return;
    }
    if (o && job->from_cancel) {
        ks_bybit_order_emit(bb, o, KS_OS_REJECTED, KS_REJ_UNKNOWN_ORDER,
                            "cancel: the venue does not know this order", 0);
        ks_bybit_orders_del(&bb->orders, o);
        return;
    }
    job_fail(job, KS_ENOENT, "no order with this orderLinkId at the venue");
}

/* Parses "server_timestamp[1696396707813]" out of a 10002 message. */
static bool server_ts_from_msg(const char *msg, int64_t *out)
{
    const char *p = strstr(msg, "server_timestamp[");
    if (!p)
        return false;
    *out = strtoll(p + 17, NULL, 10);
    return *out > 0;
}

static void start_time_sync(ks_bybit_t *bb);

static void remember_fee(ks_bybit_t *bb, int cat, const char *sym, size_t len, ks_dec_t maker,
                         ks_dec_t taker)
{
    if (bb->n_acct_fees[cat] == bb->cap_acct_fees[cat]) {
        uint32_t nc = bb->cap_acct_fees[cat] ? bb->cap_acct_fees[cat] * 2 : 64;
        struct ks_bybit_fee *nf = realloc(bb->acct_fees[cat], nc * sizeof(*nf));
        if (!nf)
            return;
        bb->acct_fees[cat] = nf;
        bb->cap_acct_fees[cat] = nc;
    }
    struct ks_bybit_fee *f = &bb->acct_fees[cat][bb->n_acct_fees[cat]++];
    memcpy(f->sym, sym, len);
    f->sym[len] = '\0';
    f->maker = maker;
    f->taker = taker;
}

/* The first instruments-info of a category (after its fee rates, with credentials). */
static void start_instruments(ks_bybit_t *bb, int cat)
{
    bb->instruments_asked[cat] = true;
    if (ks_bybit_rest_instruments(bb, cat, NULL) != KS_OK) {
        bb->api->log(bb->host, KS_LOG_WARN, "instruments-info %s could not be sent; retrying",
                     ks_bybit_cat_name(cat));
        bb->instruments_asked[cat] = false;
    }
}

/* A rate the account reports; anything outside [-1 %, 1 %] is not a fee rate. */
static bool fee_rate_ok(ks_dec_t x)
{
    return ks_dec_cmp(x, KS_DEC(-1, 2)) >= 0 && ks_dec_cmp(x, KS_DEC(1, 2)) <= 0;
}

/* No account rates (Bybit's demo hosts answer HTTP 400 or an empty list): the
 * instruments keep what they have. Said once per instance, not at every refresh. */
static void fee_rate_fallback(ks_bybit_t *bb, int cat, const char *why)
{
    if (bb->fee_rate_warned) {
        bb->api->log(bb->host, KS_LOG_DEBUG, "fee-rate %s: %s", ks_bybit_cat_name(cat), why);
        return;
    }
    bb->fee_rate_warned = true;
    bb->api->log(bb->host, KS_LOG_WARN,
                 "fee-rate %s: %s; instruments keep the configured maker/taker fees",
                 ks_bybit_cat_name(cat), why);
}

/* Handles a reply by kind. `code` is retCode (-1 when the body did not parse). */
static void dispatch(ks_bybit_req_t *r, const ks_http_response_t *resp, int64_t code,
                     const char *msg, int result, int64_t time_ms)
{
    ks_bybit_t *bb = r->bb;
    ks_bybit_json_t *js = &bb->js;
    /* No verdict from the venue: nothing arrived, a server error, or a 200 we cannot
     * read. A 4xx without a Bybit body was refused before it reached the venue. */
    bool transport = resp->rc != KS_OK || resp->status >= 500 || code == 10016 ||
                     (code < 0 && resp->status < 400);
    bool limited = resp->status == 429 || resp->status == 403 || code == 10006 || code == 10018;

    switch ((ks_bybit_req_kind_t)r->kind) {
    case KS_BYBIT_RQ_TIME: {
        int64_t ns = 0, s = 0;
        if (transport || code != 0)
            return;
        int64_t server_ms = time_ms;
        if (ks_bybit_json_get_i64(js, result, "timeNano", &ns) == KS_OK && ns > 0)
            server_ms = ns / NS_PER_MS;
        else if (ks_bybit_json_get_i64(js, result, "timeSecond", &s) == KS_OK && s > 0)
            server_ms = s * 1000;
        if (server_ms > 0) {
            bb->time_offset_ms = server_ms - (r->started_ms + wall_ms(bb)) / 2;
            bb->time_synced = true;
        }
        return;
    }
    case KS_BYBIT_RQ_INSTRUMENTS: {
        if (transport || code != 0) {
            bb->api->log(bb->host, KS_LOG_WARN, "instruments-info %s failed (%s); retrying",
                         ks_bybit_cat_name(r->cat), transport ? "transport" : msg);
            ks_bybit_req_t *again =
                req_new(bb, r->kind, r->cat, false, false, r->path, r->base, BUCKET_DEFAULT);
            if (again) {
                ks_strlcpy(again->cursor, r->cursor, sizeof(again->cursor));
                retry_later(again, 5000);
            }
            return;
        }
        ks_bybit_codec_result(bb, result, r->cat, 0, time_ms);
        char cursor[sizeof(r->cursor)] = "";
        ks_bybit_json_str(js, ks_bybit_json_get(js, result, "nextPageCursor"), cursor,
                          sizeof(cursor));
        if (cursor[0]) {
            ks_bybit_rest_instruments(bb, r->cat, cursor);
            return;
        }
        /* Last page: instruments that disappeared from the list are no longer trading. */
        for (uint32_t i = 0; i < bb->n_insts; i++) {
            ks_bybit_inst_t *in = bb->insts[i];
            if (in->cat == r->cat && in->spec_known && !in->listed &&
                (in->spec.flags & KS_INST_TRADING)) {
                in->spec.flags = KS_INST_HALTED;
                bb->api->log(bb->host, KS_LOG_WARN, "%s %s is no longer listed as Trading",
                             ks_bybit_cat_name(in->cat), in->sym);
                ks_bybit_inst_upsert(bb, in);
            }
        }
        /* A refresh asks the account's rates again (at start they came first). */
        if (bb->have_keys && bb->instruments_loaded[r->cat])
            ks_bybit_rest_fee_rate(bb, r->cat);
        if (!bb->instruments_loaded[r->cat]) {
            bb->instruments_loaded[r->cat] = true;
            uint32_t n = 0;
            for (uint32_t i = 0; i < bb->n_insts; i++)
                n += bb->insts[i]->cat == r->cat && bb->insts[i]->spec_known;
            bb->api->log(bb->host, KS_LOG_INFO, "%u %s instruments registered", n,
                         ks_bybit_cat_name(r->cat));
            if (ks_bybit_rest_ready(bb))
                run_deferred(bb);
            ks_bybit_conn_report(bb);
        }
        return;
    }
    case KS_BYBIT_RQ_CREATE: {
        ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, r->cloid);
        if (o)
            o->create_inflight = false;
        if (limited) {
            reject_order(bb, r->cloid, KS_REJ_RATE_LIMIT, "rate limited (%s)",
                         code > 0              ? msg
                         : resp->status == 403 ? "HTTP 403"
                                               : "HTTP 429");
            return;
        }
        if (transport) {
            /* The order may or may not exist: say nothing, the watchdog asks later. */
            bb->api->log(bb->host, KS_LOG_WARN, "create %s: outcome unknown (%s)", r->cloid,
                         resp->rc != KS_OK     ? resp->error
                         : resp->status >= 500 ? "HTTP 5xx"
                                               : msg);
            if (o && ks_order_status_is_final(o->status))
                ks_bybit_orders_del(&bb->orders, o);
            return;
        }
        if (code == 0) {
            char vid[KS_VENUE_ID_LEN] = "";
            ks_bybit_json_str(js, ks_bybit_json_get(js, result, "orderId"), vid, sizeof(vid));
            if (o && vid[0] && !o->venue_id[0])
                ks_strlcpy(o->venue_id, vid, sizeof(o->venue_id));
            if (o && o->status == KS_OS_SENT)
                ks_bybit_order_emit(bb, o, KS_OS_ACKED, 0, NULL, 0);
            if (o && ks_order_status_is_final(o->status))
                ks_bybit_orders_del(&bb->orders, o);
            return;
        }
        if (code == 10002 && r->attempts < 2) {
            /* The clock was re-measured in on_http: sign again, once. */
            ks_bybit_req_t *again =
                req_new(bb, r->kind, r->cat, true, true, r->path, r->base, r->bucket);
            if (again) {
                again->attempts = r->attempts;
                ks_strlcpy(again->cloid, r->cloid, sizeof(again->cloid));
                again->inst = r->inst;
                if (o)
                    o->create_inflight = true;
                if (req_send(again) == KS_OK) {
                    if (o)
                        o->sign_ts_ms = again->sign_ts_ms;
                    return;
                }
                if (o)
                    o->create_inflight = false;
                req_free(again);
            }
        }
        if (code == 110072 || code == 170141) {
            /* Our orderLinkId is already there: an earlier attempt arrived. */
            bb->api->log(bb->host, KS_LOG_INFO, "create %s: duplicate orderLinkId, querying it",
                         r->cloid);
            start_order_job(bb, r->cloid, r->inst, 0, false);
            return;
        }
        if (code < 0)
            reject_order(bb, r->cloid, ks_bybit_codec_reject(code, resp->status),
                         "HTTP %d: refused before reaching the venue", (int)resp->status);
        else
            reject_order(bb, r->cloid, ks_bybit_codec_reject(code, resp->status),
                         "retCode %lld: %s", (long long)code, msg);
        return;
    }
    case KS_BYBIT_RQ_CANCEL:
    case KS_BYBIT_RQ_AMEND: {
        const char *what = r->kind == KS_BYBIT_RQ_CANCEL ? "cancel" : "amend";
        if (code == 0)
            return; /* the order stream reports the result */
        if (limited) {
            refused(bb, r->cloid, KS_REJ_RATE_LIMIT, what, code, msg);
            return;
        }
        if (transport) {
            /* Did it happen? Ask the venue shortly and report the order's state. */
            bb->api->log(bb->host, KS_LOG_WARN, "%s %s: outcome unknown, re-checking", what,
                         r->cloid);
            ks_bybit_job_t *job = job_new(bb, KS_FETCH_ORDER, 0);
            if (!job)
                return;
            ks_strlcpy(job->cloid, r->cloid, sizeof(job->cloid));
            job->inst = r->inst;
            job->from_cancel = true;
            job_retry_later(job, CANCEL_RECHECK_MS);
            job_unref(job);
            return;
        }
        if (code == 110001 || code == 110008 || code == 170213 || code == 110010) {
            /* Already gone (filled, cancelled) or never there: report what it is. */
            start_order_job(bb, r->cloid, r->inst, 0, true);
            return;
        }
        refused(bb, r->cloid, ks_bybit_codec_reject(code, resp->status), what, code, msg);
        return;
    }
    case KS_BYBIT_RQ_FEE_RATE: {
        int list = transport || code != 0 ? -1 : ks_bybit_json_get(js, result, "list");
        uint32_t count = ks_bybit_json_type(js, list) == KS_BJ_ARRAY ? js->tok[list].count : 0;
        char why[KS_REASON_LEN + 48];
        if (resp->rc != KS_OK)
            snprintf(why, sizeof(why), "%s", resp->error);
        else if (code > 0)
            snprintf(why, sizeof(why), "retCode %lld: %s", (long long)code, msg);
        else if (code < 0 && msg[0])
            snprintf(why, sizeof(why), "%s", msg); /* "HTTP 400 with a body that is not ..." */
        else if (code != 0 || transport)
            snprintf(why, sizeof(why), "HTTP %d", (int)resp->status);
        else
            snprintf(why, sizeof(why), "an empty list");
        /* At start the instruments are asked for once the rates are in (or refused). */
        bool first = !bb->instruments_loaded[r->cat] && !bb->instruments_asked[r->cat];
        if (!count) {
            fee_rate_fallback(bb, r->cat, why);
            if (first)
                start_instruments(bb, r->cat);
            return;
        }
        uint32_t changed = 0;
        bb->n_acct_fees[r->cat] = 0;
        for (int el = ks_bybit_json_first(js, list); el > 0; el = ks_bybit_json_next(js, el)) {
            size_t len;
            const char *sym = ks_bybit_json_raw(js, ks_bybit_json_get(js, el, "symbol"), &len);
            ks_dec_t maker, taker;
            if (!sym || !len || len >= KS_BYBIT_SYM_LEN ||
                ks_bybit_json_get_dec(js, el, "makerFeeRate", &maker) != KS_OK ||
                ks_bybit_json_get_dec(js, el, "takerFeeRate", &taker) != KS_OK ||
                !fee_rate_ok(maker) || !fee_rate_ok(taker))
                continue;
            remember_fee(bb, r->cat, sym, len, maker, taker);
            ks_bybit_inst_t *in = ks_bybit_inst_get(bb, r->cat, sym, len, KS_BYBIT_FIND);
            if (in && in->id >= 0)
                changed += ks_bybit_inst_set_fees(bb, in, maker, taker) == 1;
        }
        if (first)
            start_instruments(bb, r->cat);
        bb->api->log(bb->host, changed ? KS_LOG_INFO : KS_LOG_DEBUG,
                     "fee-rate %s: %u rates listed, %u instruments changed",
                     ks_bybit_cat_name(r->cat), count, changed);
        return;
    }
    case KS_BYBIT_RQ_CANCEL_ALL:
    case KS_BYBIT_RQ_LEVERAGE:
        if (code == 0 || (r->kind == KS_BYBIT_RQ_LEVERAGE && code == 110043))
            return;
        bb->api->log(bb->host, KS_LOG_WARN, "%s %s failed: %s", r->path, ks_bybit_cat_name(r->cat),
                     transport ? "transport error" : msg);
        return;
    case KS_BYBIT_RQ_ORDERS:
    case KS_BYBIT_RQ_HISTORY:
    case KS_BYBIT_RQ_EXECS:
    case KS_BYBIT_RQ_POSITIONS:
    case KS_BYBIT_RQ_WALLET: {
        ks_bybit_job_t *job = r->job;
        if (transport || code != 0) {
            char d[KS_REASON_LEN];
            snprintf(d, sizeof(d), "%.40s: %.110s", r->path,
                     transport ? (resp->rc != KS_OK ? resp->error : "server error") : msg);
            if (r->attempts < 3 && (transport || limited || code == 10002)) {
                ks_bybit_req_t *again =
                    req_new(bb, r->kind, r->cat, false, true, r->path, r->base, r->bucket);
                if (again) {
                    again->attempts = r->attempts;
                    again->job = job;
                    again->exec_sync_to = r->exec_sync_to;
                    ks_strlcpy(again->cursor, r->cursor, sizeof(again->cursor));
                    ks_strlcpy(again->cloid, r->cloid, sizeof(again->cloid));
                    again->inst = r->inst;
                    if (job)
                        job->pending++;
                    retry_later(again, RETRY_MS * r->attempts);
                    return;
                }
            }
            bb->api->log(bb->host, KS_LOG_WARN, "%s", d);
            job_fail(job,
                     code == 10002   ? KS_EAUTH
                     : code > 0      ? KS_EREJECT
                     : resp->rc != 0 ? resp->rc
                                     : KS_EIO,
                     d);
            return;
        }
        int list = ks_bybit_json_get(js, result, "list");
        uint32_t count = ks_bybit_json_type(js, list) == KS_BJ_ARRAY ? js->tok[list].count : 0;
        bool one_order = job && job->what == KS_FETCH_ORDER;
        uint16_t flags =
            job && job->req_id && !(one_order && job->from_cancel) ? KS_EVF_SNAPSHOT : 0;
        if (r->kind == KS_BYBIT_RQ_ORDERS && job && !job->req_id && !one_order) {
            /* Resync: remember which tracked orders are still open. */
            for (int el = ks_bybit_json_first(js, list); el > 0; el = ks_bybit_json_next(js, el)) {
                char c[KS_CLOID_LEN];
                ks_bybit_json_str(js, ks_bybit_json_get(js, el, "orderLinkId"), c, sizeof(c));
                ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, c);
                if (o)
                    o->resync_gen = bb->resync_gen;
            }
        }
        ks_bybit_codec_result(bb, result, r->cat, flags, time_ms);
        if (one_order) {
            if (count) {
                job->found = 1;
                return;
            }
            if (r->kind == KS_BYBIT_RQ_ORDERS)
                order_query(bb, job, true);
            else
                order_not_found(bb, job);
            return;
        }
        char cursor[sizeof(r->cursor)] = "";
        ks_bybit_json_str(js, ks_bybit_json_get(js, result, "nextPageCursor"), cursor,
                          sizeof(cursor));
        if (cursor[0] && count) {
            ks_bybit_req_t *next =
                req_new(bb, r->kind, r->cat, false, true, r->path, r->base, r->bucket);
            if (next) {
                next->job = job;
                next->exec_sync_to = r->exec_sync_to;
                ks_strlcpy(next->cursor, cursor, sizeof(next->cursor));
                if (job)
                    job->pending++;
                if (req_send(next) != KS_OK) {
                    job_fail(job, KS_EIO, "next page could not be requested");
                    req_free(next);
                }
            }
            return;
        }
        if (r->kind == KS_BYBIT_RQ_EXECS && r->exec_sync_to > bb->last_exec_sync_ms)
            bb->last_exec_sync_ms = r->exec_sync_to;
        return;
    }
    }
}

static void on_http(void *ud, const ks_http_response_t *resp)
{
    ks_bybit_req_t *r = ud;
    ks_bybit_t *bb = r->bb;
    ks_bybit_json_t *js = &bb->js;
    int64_t code = -1, time_ms = 0;
    char msg[KS_REASON_LEN] = "";
    int result = -1;

    r->http_id = 0;
    if (resp->rc == KS_OK && resp->body && resp->body_len &&
        ks_bybit_json_parse(js, resp->body, resp->body_len) == KS_OK &&
        ks_bybit_json_type(js, 0) == KS_BJ_OBJECT) {
        if (ks_bybit_json_get_i64(js, 0, "retCode", &code) != KS_OK)
            code = -1;
        ks_bybit_json_str(js, ks_bybit_json_get(js, 0, "retMsg"), msg, sizeof(msg));
        ks_bybit_json_get_i64(js, 0, "time", &time_ms);
        result = ks_bybit_json_get(js, 0, "result");
    } else if (resp->rc == KS_OK) {
        snprintf(msg, sizeof(msg), "HTTP %d with a body that is not a Bybit reply",
                 (int)resp->status);
    }
    if (resp->rc == KS_OK)
        ratelimit(r, resp, code);
    if (code == 10002) {
        /* Our clock is off from the venue's: take its time from the message now, and
         * measure properly for the requests after this one. */
        int64_t server_ms;
        if (server_ts_from_msg(msg, &server_ms))
            bb->time_offset_ms = server_ms - wall_ms(bb);
        start_time_sync(bb);
    }
    if (code != 0 && resp->rc == KS_OK && r->kind != KS_BYBIT_RQ_CREATE)
        bb->api->log(bb->host, KS_LOG_DEBUG, "%s: HTTP %d retCode %lld %s", r->path,
                     (int)resp->status, (long long)code, msg);
    if (code == 10003 || code == 10004 || code == 10005)
        bb->api->log(bb->host, KS_LOG_ERROR, "%s: authentication refused (retCode %lld: %s)",
                     r->path, (long long)code, msg);
    dispatch(r, resp, code, msg, result, time_ms);
    req_free(r);
}

/* ---- starting requests ------------------------------------------------------------ */

static void start_time_sync(ks_bybit_t *bb)
{
    ks_bybit_req_t *r =
        req_new(bb, KS_BYBIT_RQ_TIME, -1, false, false, "/v5/market/time", "", BUCKET_DEFAULT);
    if (r && req_send(r) != KS_OK)
        req_free(r);
}

int ks_bybit_rest_instruments(ks_bybit_t *bb, int cat, const char *cursor)
{
    char q[96];
    /* 1000: the most instruments-info returns per page */
    snprintf(q, sizeof(q), "category=%s&limit=1000", ks_bybit_cat_name(cat));
    if (!cursor) {
        for (uint32_t i = 0; i < bb->n_insts; i++)
            if (bb->insts[i]->cat == cat)
                bb->insts[i]->listed = false;
    }
    ks_bybit_req_t *r = req_new(bb, KS_BYBIT_RQ_INSTRUMENTS, cat, false, false,
                                "/v5/market/instruments-info", q, BUCKET_DEFAULT);
    if (!r)
        return KS_ENOMEM;
    if (cursor)
        ks_strlcpy(r->cursor, cursor, sizeof(r->cursor));
    int rc = req_send(r);
    if (rc != KS_OK)
        req_free(r);
    return rc;
}

int ks_bybit_rest_fee_rate(ks_bybit_t *bb, int cat)
{
    char q[32];
    snprintf(q, sizeof(q), "category=%s", ks_bybit_cat_name(cat));
    ks_bybit_req_t *r = req_new(bb, KS_BYBIT_RQ_FEE_RATE, cat, false, true, "/v5/account/fee-rate",
                                q, BUCKET_FEE_RATE);
    int rc = r ? req_send(r) : KS_ENOMEM;
    if (rc != KS_OK) {
        if (r)
            req_free(r);
        fee_rate_fallback(bb, cat, ks_strerror(rc));
        if (!bb->instruments_loaded[cat] && !bb->instruments_asked[cat])
            start_instruments(bb, cat);
    }
    return rc;
}

static void on_refresh(void *ud)
{
    ks_bybit_t *bb = ud;
    for (int c = 0; c < KS_BYBIT_NCAT; c++)
        if (bb->cfg.cat_enabled[c])
            ks_bybit_rest_instruments(bb, c, NULL);
}

int ks_bybit_rest_start(ks_bybit_t *bb)
{
    start_time_sync(bb);
    for (int c = 0; c < KS_BYBIT_NCAT; c++) {
        if (!bb->cfg.cat_enabled[c])
            continue;
        if (bb->have_keys) {
            /* the account's rates first: every instrument is registered once with them */
            ks_bybit_rest_fee_rate(bb, c);
            continue;
        }
        bb->instruments_asked[c] = true;
        if (ks_bybit_rest_instruments(bb, c, NULL) != KS_OK)
            return KS_EIO;
    }
    int64_t every = (int64_t)bb->cfg.instruments_refresh_s * 1000000000LL;
    if (every > 0)
        bb->refresh_timer = bb->api->timer_start(bb->host, every, every, on_refresh, bb);
    return KS_OK;
}

void ks_bybit_rest_stop(ks_bybit_t *bb)
{
    if (bb->refresh_timer)
        bb->api->timer_stop(bb->host, bb->refresh_timer);
    bb->refresh_timer = 0;
    while (bb->reqs)
        req_free(bb->reqs);
    while (bb->jobs)
        job_free(bb->jobs);
}

static bool cloid_ok(const char *c)
{
    size_t n = strlen(c);
    if (!n || n > 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = c[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

int ks_bybit_rest_place(ks_bybit_t *bb, const ks_order_cmd_t *cmd, ks_bybit_inst_t *in)
{
    char body[640], px[KS_DEC_STRLEN], qty[KS_DEC_STRLEN], extra[160] = "";
    if (!cloid_ok(cmd->cloid)) {
        bb->api->log(bb->host, KS_LOG_ERROR,
                     "order %s: Bybit needs an orderLinkId of 1-36 characters [A-Za-z0-9_-]",
                     cmd->cloid);
        return KS_EINVAL;
    }
    if (ks_bybit_orders_get(&bb->orders, cmd->cloid))
        return KS_EEXIST;
    if (ks_dec_format(cmd->qty, qty, sizeof(qty)) < 0 ||
        ks_dec_format(cmd->price, px, sizeof(px)) < 0)
        return KS_EINVAL;
    const char *tif = cmd->type == KS_ORD_MARKET     ? "IOC"
                      : cmd->tif == KS_TIF_IOC       ? "IOC"
                      : cmd->tif == KS_TIF_FOK       ? "FOK"
                      : cmd->tif == KS_TIF_POST_ONLY ? "PostOnly"
                                                     : "GTC";
    size_t el = 0;
    if (cmd->type == KS_ORD_LIMIT)
        el += (size_t)snprintf(extra + el, sizeof(extra) - el, ",\"price\":\"%s\"", px);
    if (in->cat == KS_BYBIT_LINEAR)
        el +=
            (size_t)snprintf(extra + el, sizeof(extra) - el, ",\"positionIdx\":0,\"reduceOnly\":%s",
                             cmd->reduce_only ? "true" : "false");
    else if (cmd->type == KS_ORD_MARKET)
        /* Spot market orders count qty in quote unless told otherwise. */
        el += (size_t)snprintf(extra + el, sizeof(extra) - el, ",\"marketUnit\":\"baseCoin\"");
    int n = snprintf(body, sizeof(body),
                     "{\"category\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\",\"orderType\":\"%s\","
                     "\"qty\":\"%s\",\"timeInForce\":\"%s\",\"orderLinkId\":\"%s\"%s}",
                     ks_bybit_cat_name(in->cat), in->sym, cmd->side == KS_SIDE_BUY ? "Buy" : "Sell",
                     cmd->type == KS_ORD_MARKET ? "Market" : "Limit", qty, tif, cmd->cloid, extra);
    if (n < 0 || (size_t)n >= sizeof(body))
        return KS_ERANGE;
    ks_bybit_order_t *o = ks_bybit_orders_add(&bb->orders, cmd->cloid);
    if (!o)
        return KS_ENOMEM;
    o->inst = cmd->inst;
    o->cat = in->cat;
    o->side = cmd->side;
    o->type = cmd->type;
    o->tif = cmd->tif;
    o->reduce_only = cmd->reduce_only;
    o->price = cmd->price;
    o->qty = cmd->qty;
    o->status = KS_OS_SENT;
    o->create_inflight = true;
    ks_bybit_req_t *r = req_new(bb, KS_BYBIT_RQ_CREATE, in->cat, true, true, "/v5/order/create",
                                body, BUCKET_CREATE);
    if (!r) {
        ks_bybit_orders_del(&bb->orders, o);
        return KS_ENOMEM;
    }
    ks_strlcpy(r->cloid, cmd->cloid, sizeof(r->cloid));
    r->inst = cmd->inst;
    int rc = req_send(r);
    if (rc != KS_OK) {
        req_free(r);
        ks_bybit_orders_del(&bb->orders, o);
        return rc;
    }
    o->sign_ts_ms = r->sign_ts_ms;
    return KS_OK;
}

static int post_simple(ks_bybit_t *bb, int kind, int cat, const char *path, const char *body,
                       int bucket, const char *cloid, int32_t inst)
{
    ks_bybit_req_t *r = req_new(bb, kind, cat, true, true, path, body, bucket);
    if (!r)
        return KS_ENOMEM;
    if (cloid)
        ks_strlcpy(r->cloid, cloid, sizeof(r->cloid));
    r->inst = inst;
    int rc = req_send(r);
    if (rc != KS_OK)
        req_free(r);
    return rc;
}

int ks_bybit_rest_cancel(ks_bybit_t *bb, const ks_cancel_cmd_t *cmd, ks_bybit_inst_t *in)
{
    char body[256];
    if (cmd->cloid[0])
        snprintf(body, sizeof(body),
                 "{\"category\":\"%s\",\"symbol\":\"%s\",\"orderLinkId\":\"%s\"}",
                 ks_bybit_cat_name(in->cat), in->sym, cmd->cloid);
    else if (cmd->venue_id[0])
        snprintf(body, sizeof(body), "{\"category\":\"%s\",\"symbol\":\"%s\",\"orderId\":\"%s\"}",
                 ks_bybit_cat_name(in->cat), in->sym, cmd->venue_id);
    else
        return KS_EINVAL;
    return post_simple(bb, KS_BYBIT_RQ_CANCEL, in->cat, "/v5/order/cancel", body, BUCKET_CANCEL,
                       cmd->cloid, cmd->inst);
}

int ks_bybit_rest_amend(ks_bybit_t *bb, const ks_amend_cmd_t *cmd, ks_bybit_inst_t *in)
{
    char body[384], px[KS_DEC_STRLEN], qty[KS_DEC_STRLEN], extra[128] = "";
    size_t el = 0;
    if (!ks_dec_is_zero(cmd->price) && ks_dec_format(cmd->price, px, sizeof(px)) > 0)
        el += (size_t)snprintf(extra + el, sizeof(extra) - el, ",\"price\":\"%s\"", px);
    if (!ks_dec_is_zero(cmd->qty) && ks_dec_format(cmd->qty, qty, sizeof(qty)) > 0)
        el += (size_t)snprintf(extra + el, sizeof(extra) - el, ",\"qty\":\"%s\"", qty);
    if (!el || !cmd->cloid[0])
        return KS_EINVAL;
    snprintf(body, sizeof(body), "{\"category\":\"%s\",\"symbol\":\"%s\",\"orderLinkId\":\"%s\"%s}",
             ks_bybit_cat_name(in->cat), in->sym, cmd->cloid, extra);
    return post_simple(bb, KS_BYBIT_RQ_AMEND, in->cat, "/v5/order/amend", body, BUCKET_AMEND,
                       cmd->cloid, cmd->inst);
}

int ks_bybit_rest_cancel_all(ks_bybit_t *bb, ks_bybit_inst_t *in)
{
    char body[160];
    if (in) {
        snprintf(body, sizeof(body), "{\"category\":\"%s\",\"symbol\":\"%s\"}",
                 ks_bybit_cat_name(in->cat), in->sym);
        return post_simple(bb, KS_BYBIT_RQ_CANCEL_ALL, in->cat, "/v5/order/cancel-all", body,
                           BUCKET_CANCEL_ALL, NULL, in->id);
    }
    int rc = KS_OK;
    for (int c = 0; c < KS_BYBIT_NCAT; c++) {
        if (!bb->cfg.cat_enabled[c])
            continue;
        /* Linear needs a scope: every USDT-settled contract. */
        snprintf(body, sizeof(body),
                 c == KS_BYBIT_LINEAR ? "{\"category\":\"linear\",\"settleCoin\":\"USDT\"}"
                                      : "{\"category\":\"spot\"}");
        int r = post_simple(bb, KS_BYBIT_RQ_CANCEL_ALL, c, "/v5/order/cancel-all", body,
                            BUCKET_CANCEL_ALL, NULL, -1);
        if (r != KS_OK)
            rc = r;
    }
    return rc;
}

int ks_bybit_rest_leverage(ks_bybit_t *bb, ks_bybit_inst_t *in, int32_t leverage)
{
    char body[192];
    snprintf(body, sizeof(body),
             "{\"category\":\"linear\",\"symbol\":\"%s\",\"buyLeverage\":\"%d\","
             "\"sellLeverage\":\"%d\"}",
             in->sym, leverage, leverage);
    return post_simple(bb, KS_BYBIT_RQ_LEVERAGE, KS_BYBIT_LINEAR, "/v5/position/set-leverage", body,
                       BUCKET_ACCOUNT, NULL, in->id);
}

/* GET /v5/order/realtime or /history for the one order of a KS_FETCH_ORDER job. */
static void order_query(ks_bybit_t *bb, ks_bybit_job_t *job, bool history)
{
    char q[160];
    ks_bybit_inst_t *in = ks_bybit_inst_by_id(bb, job->inst);
    ks_bybit_order_t *o = ks_bybit_orders_get(&bb->orders, job->cloid);
    int cat = in ? in->cat : o ? o->cat : KS_BYBIT_LINEAR;
    if (in)
        snprintf(q, sizeof(q), "category=%s&symbol=%s&orderLinkId=%s", ks_bybit_cat_name(cat),
                 in->sym, job->cloid);
    else
        snprintf(q, sizeof(q), "category=%s&orderLinkId=%s", ks_bybit_cat_name(cat), job->cloid);
    job_get(bb, job, history ? KS_BYBIT_RQ_HISTORY : KS_BYBIT_RQ_ORDERS, cat,
            history ? "/v5/order/history" : "/v5/order/realtime", q, BUCKET_QUERY);
}

static void open_orders(ks_bybit_t *bb, ks_bybit_job_t *job, ks_bybit_inst_t *in)
{
    char q[128];
    for (int c = 0; c < KS_BYBIT_NCAT; c++) {
        if (!bb->cfg.cat_enabled[c] || (in && in->cat != c))
            continue;
        if (in)
            snprintf(q, sizeof(q), "category=%s&symbol=%s&limit=50", ks_bybit_cat_name(c), in->sym);
        else if (c == KS_BYBIT_LINEAR)
            snprintf(q, sizeof(q), "category=linear&settleCoin=USDT&limit=50");
        else
            snprintf(q, sizeof(q), "category=spot&limit=50");
        job_get(bb, job, KS_BYBIT_RQ_ORDERS, c, "/v5/order/realtime", q, BUCKET_QUERY);
    }
}

static void positions(ks_bybit_t *bb, ks_bybit_job_t *job, ks_bybit_inst_t *in)
{
    char q[128];
    if (!bb->cfg.cat_enabled[KS_BYBIT_LINEAR] || (in && in->cat != KS_BYBIT_LINEAR))
        return;
    if (in)
        snprintf(q, sizeof(q), "category=linear&symbol=%s", in->sym);
    else
        snprintf(q, sizeof(q), "category=linear&settleCoin=USDT&limit=200");
    job_get(bb, job, KS_BYBIT_RQ_POSITIONS, KS_BYBIT_LINEAR, "/v5/position/list", q, BUCKET_QUERY);
}

static void wallet(ks_bybit_t *bb, ks_bybit_job_t *job)
{
    job_get(bb, job, KS_BYBIT_RQ_WALLET, -1, "/v5/account/wallet-balance", "accountType=UNIFIED",
            BUCKET_ACCOUNT);
}

bool ks_bybit_rest_ready(const ks_bybit_t *bb)
{
    for (int c = 0; c < KS_BYBIT_NCAT; c++)
        if (bb->cfg.cat_enabled[c] && !bb->instruments_loaded[c])
            return false;
    return true;
}

static int defer_fetch(ks_bybit_t *bb, uint32_t what, ks_bybit_inst_t *in, const char *cloid,
                       uint64_t req_id)
{
    if (bb->n_deferred == bb->cap_deferred) {
        uint32_t nc = bb->cap_deferred ? bb->cap_deferred * 2 : 8;
        struct ks_bybit_deferred *nd = realloc(bb->deferred, nc * sizeof(*nd));
        if (!nd)
            return KS_ENOMEM;
        bb->deferred = nd;
        bb->cap_deferred = nc;
    }
    struct ks_bybit_deferred *d = &bb->deferred[bb->n_deferred++];
    d->what = what;
    d->inst = in ? in->id : -1;
    ks_strlcpy(d->cloid, cloid ? cloid : "", sizeof(d->cloid));
    d->req_id = req_id;
    return KS_OK;
}

/* The instruments are in: run what waited for them. */
static void run_deferred(ks_bybit_t *bb)
{
    for (uint32_t i = 0; i < bb->n_deferred; i++) {
        struct ks_bybit_deferred *d = &bb->deferred[i];
        int rc = ks_bybit_rest_fetch(bb, d->what, ks_bybit_inst_by_id(bb, d->inst),
                                     d->cloid[0] ? d->cloid : NULL, d->req_id);
        if (rc != KS_OK && d->req_id) {
            ks_sync_done_t ev;
            KS_EVENT_INIT(&ev, KS_EV_SYNC_DONE);
            ev.req_id = d->req_id;
            ev.what = (uint8_t)d->what;
            ev.rc = rc;
            ks_strlcpy(ev.detail, "could not be started", sizeof(ev.detail));
            bb->api->emit(bb->host, &ev.hdr);
        }
    }
    bb->n_deferred = 0;
    if (bb->resync_deferred) {
        bb->resync_deferred = false;
        ks_bybit_rest_resync(bb);
    }
}

int ks_bybit_rest_fetch(ks_bybit_t *bb, uint32_t what, ks_bybit_inst_t *in, const char *cloid,
                        uint64_t req_id)
{
    if (!bb->have_keys)
        return KS_EAUTH;
    if (!ks_bybit_rest_ready(bb))
        return defer_fetch(bb, what, in, cloid, req_id);
    if (what == KS_FETCH_ORDER) {
        if (!cloid || !cloid[0])
            return KS_EINVAL;
        return start_order_job(bb, cloid, in ? in->id : -1, req_id, false);
    }
    ks_bybit_job_t *job = job_new(bb, (uint8_t)what, req_id);
    if (!job)
        return KS_ENOMEM;
    switch ((ks_fetch_kind_t)what) {
    case KS_FETCH_OPEN_ORDERS:
        open_orders(bb, job, in);
        break;
    case KS_FETCH_POSITIONS:
        positions(bb, job, in);
        break;
    case KS_FETCH_BALANCES:
        wallet(bb, job);
        break;
    case KS_FETCH_ORDER:
        break;
    }
    job_unref(job);
    return KS_OK;
}

/* When the open-order part of a resync has replied: every tracked order the venue no
 * longer lists as open finished while we were not listening; query each one. */
static void after_open_orders(ks_bybit_job_t *job)
{
    ks_bybit_t *bb = job->bb;
    if (job->rc != KS_OK)
        return;
    for (uint32_t i = 0; i < bb->orders.cap; i++) {
        ks_bybit_order_t *o = &bb->orders.slots[i];
        if (!o->in_use || o->create_inflight || o->resync_gen == bb->resync_gen ||
            ks_order_status_is_final(o->status))
            continue;
        start_order_job(bb, o->cloid, o->inst, 0, true);
    }
}

/* Resync after the private stream (re)connected: open orders, positions, balances and
 * executions since the last complete sync, as plain (non-snapshot) updates. */
void ks_bybit_rest_resync(ks_bybit_t *bb)
{
    char q[160];
    int64_t now = ks_bybit_rest_now_ms(bb);
    if (!bb->have_keys)
        return;
    if (!ks_bybit_rest_ready(bb)) {
        bb->resync_deferred = true;
        return;
    }
    bb->resync_gen++;
    bb->api->log(bb->host, KS_LOG_DEBUG,
                 "resync %u: open orders, positions, balances, "
                 "executions",
                 bb->resync_gen);
    ks_bybit_job_t *oo = job_new(bb, KS_FETCH_OPEN_ORDERS, 0);
    if (oo) {
        oo->on_done = after_open_orders;
        open_orders(bb, oo, NULL);
        job_unref(oo);
    }
    ks_bybit_job_t *job = job_new(bb, 0, 0);
    if (!job)
        return;
    positions(bb, job, NULL);
    wallet(bb, job);
    /* Executions since the last complete sync (overlap: the host drops duplicates). */
    int64_t from = bb->last_exec_sync_ms ? bb->last_exec_sync_ms - 60000 : now - 3600000;
    for (int c = 0; c < KS_BYBIT_NCAT; c++) {
        if (!bb->cfg.cat_enabled[c])
            continue;
        snprintf(q, sizeof(q), "category=%s&startTime=%lld&limit=100", ks_bybit_cat_name(c),
                 (long long)from);
        ks_bybit_req_t *r =
            req_new(bb, KS_BYBIT_RQ_EXECS, c, false, true, "/v5/execution/list", q, BUCKET_QUERY);
        if (!r)
            continue;
        r->job = job;
        r->exec_sync_to = now;
        job->pending++;
        if (req_send(r) != KS_OK)
            req_free(r);
    }
    job_unref(job);
}
