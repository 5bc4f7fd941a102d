/* The HTTP client (libcurl multi on ks_loop) against the ks_ws_server HTTP side over
 * loopback: round trips, status codes and headers, delayed replies, timeouts, refusals,
 * cancellation, 100 concurrent requests, and freeing with requests in flight. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kestrel/error.h>

#include "http.h"
#include "log.h"
#include "net_util.h"
#include "ws.h"

/* --- the server -------------------------------------------------------------------------- */

typedef struct server {
    ks_loop_t *loop;
    ks_ws_server_t *srv;
    int requests;
    size_t last_body_len;
    bool last_body_ok;
    char last_content_type[64];
} server_t;

typedef struct delayed {
    ks_http_exchange_t *ex;
} delayed_t;

static const char *req_header(const ks_http_server_request_t *req, const char *name)
{
    for (uint32_t i = 0; i < req->n_headers; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static void on_delayed_reply(ks_loop_t *loop, void *ud)
{
    delayed_t *d = ud;
    /* KS_EIO when the client gave up meanwhile; the exchange is finished either way. */
    ks_http_reply(d->ex, 200, "text/plain", NULL, 0, "late", 4);
    free(d);
}

static void srv_on_http(void *ud, ks_http_exchange_t *ex, const ks_http_server_request_t *req)
{
    server_t *s = ud;
    s->requests++;
    if (strcmp(req->path, "/echo") == 0) {
        const char *xt = req_header(req, "x-test");
        const char *ct = req_header(req, "content-type");
        snprintf(s->last_content_type, sizeof(s->last_content_type), "%s", ct ? ct : "");
        s->last_body_len = req->body_len;
        s->last_body_ok = strlen(req->body) <= req->body_len; /* NUL-terminated */
        size_t cap = req->body_len + 256;
        char *out = malloc(cap);
        int n = snprintf(out, cap, "%s %s %s x-test=%s body=%s", req->method, req->path, req->query,
                         xt ? xt : "-", req->body);
        ks_http_header_t h[] = {{"X-Reply", "yes"}};
        assert_int_equal(ks_http_reply(ex, 200, "text/plain", h, 1, out, (size_t)n), KS_OK);
        free(out);
    } else if (strcmp(req->path, "/size") == 0) {
        char out[32];
        int n = snprintf(out, sizeof(out), "%zu", req->body_len);
        s->last_body_len = req->body_len;
        s->last_body_ok = true;
        for (size_t i = 0; i < req->body_len; i++)
            if (req->body[i] != (char)('a' + i % 26))
                s->last_body_ok = false;
        ks_http_reply(ex, 200, "text/plain", NULL, 0, out, (size_t)n);
    } else if (strcmp(req->path, "/limited") == 0) {
        ks_http_header_t h[] = {{"Retry-After", "3"}, {"X-RateLimit-Remaining", "0"}};
        const char *body = "{\"code\":10006,\"msg\":\"Too many visits\"}";
        ks_http_reply(ex, 429, "application/json", h, 2, body, strlen(body));
    } else if (strcmp(req->path, "/delay") == 0) {
        delayed_t *d = malloc(sizeof(*d));
        d->ex = ex;
        ks_loop_timer_start(s->loop, 50 * MS, 0, on_delayed_reply, d);
    } else if (strcmp(req->path, "/hang") == 0) {
        /* never answered; freed when the server stops */
    } else if (strcmp(req->path, "/abort") == 0) {
        ks_http_abort(ex);
    } else {
        ks_http_reply(ex, 404, "text/plain", NULL, 0, "nope", 4);
    }
}

static const ks_ws_server_callbacks_t srv_cb = {.on_http = srv_on_http};

/* --- the client side --------------------------------------------------------------------- */

typedef struct result {
    int calls;
    int rc, status;
    char body[512];
    size_t body_len;
    char retry_after[16], x_reply[16], content_type[64];
    char error[KS_REASON_LEN];
    bool done;
    int64_t at;
} result_t;

static bool in_request; /* set around ks_http_request(): callbacks must not run then */

static void on_response(void *ud, const ks_http_response_t *resp)
{
    result_t *r = ud;
    assert_false(in_request);
    r->calls++;
    r->rc = resp->rc;
    r->status = resp->status;
    r->body_len = resp->body_len;
    assert_non_null(resp->body);
    assert_int_equal(resp->body[resp->body_len], '\0');
    snprintf(r->body, sizeof(r->body), "%s", resp->body);
    snprintf(r->error, sizeof(r->error), "%s", resp->error);
    for (uint32_t i = 0; i < resp->n_headers; i++) {
        const ks_http_header_t *h = &resp->headers[i];
        for (const char *p = h->name; *p; p++)
            assert_false(*p >= 'A' && *p <= 'Z'); /* names are lower-cased */
        if (strcmp(h->name, "retry-after") == 0)
            snprintf(r->retry_after, sizeof(r->retry_after), "%s", h->value);
        if (strcmp(h->name, "x-reply") == 0)
            snprintf(r->x_reply, sizeof(r->x_reply), "%s", h->value);
        if (strcmp(h->name, "content-type") == 0)
            snprintf(r->content_type, sizeof(r->content_type), "%s", h->value);
    }
    r->done = true;
    r->at = net_now_ns();
}

typedef struct fixture {
    int fds_before;
    ks_loop_t *loop;
    ks_wsctx_t *ws;
    ks_http_t *http;
    server_t s;
    char base[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->fds_before = net_count_fds();
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    f->loop = ks_loop_new(false, 0);
    f->ws = ks_wsctx_new(f->loop);
    f->http = ks_http_new(f->loop);
    f->s.loop = f->loop;
    f->s.srv = ks_ws_server_start(f->ws, "127.0.0.1", 0, &srv_cb, &f->s);
    assert_non_null(f->s.srv);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", ks_ws_server_port(f->s.srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 80 * MS); /* delayed replies */
    ks_http_free(f->http);
    ks_wsctx_free(f->ws);
    ks_loop_free(f->loop);
    int leaked = net_count_fds() - f->fds_before;
    free(f);
    if (leaked != 0)
        printf("%d file descriptors leaked\n", leaked);
    return leaked != 0;
}

static uint64_t start(fixture_t *f, const char *method, const char *path, const ks_http_header_t *h,
                      uint32_t nh, const char *body, size_t body_len, int32_t timeout_ms,
                      result_t *r)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    ks_http_request_t req = {.struct_size = sizeof(req),
                             .method = method,
                             .url = url,
                             .headers = h,
                             .n_headers = nh,
                             .body = body,
                             .body_len = body_len,
                             .timeout_ms = timeout_ms};
    in_request = true;
    uint64_t id = ks_http_request(f->http, &req, on_response, r);
    in_request = false;
    return id;
}

/* --- tests ------------------------------------------------------------------------------- */

static void get_carries_method_path_query_and_headers_both_ways(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    ks_http_header_t h[] = {{"X-Test", "abc"}};
    assert_true(start(f, "GET", "/echo?a=1&b=2", h, 1, NULL, 0, 0, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, KS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET /echo a=1&b=2 x-test=abc body=");
    assert_string_equal(r.x_reply, "yes");
    assert_string_equal(r.content_type, "text/plain");
    assert_int_equal(ks_http_pending(f->http), 0);
}

static void post_body_and_content_type_round_trip(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    const char *body = "{\"symbol\":\"BTCUSDT\",\"qty\":\"0.001\"}";
    ks_http_header_t h[] = {{"Content-Type", "application/json"}, {"X-Test", "signed"}};
    assert_true(start(f, "POST", "/echo", h, 2, body, strlen(body), 0, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.rc, KS_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(f->s.last_body_len, strlen(body));
    assert_true(f->s.last_body_ok);
    assert_string_equal(f->s.last_content_type, "application/json");
    char want[256];
    snprintf(want, sizeof(want), "POST /echo  x-test=signed body=%s", body);
    assert_string_equal(r.body, want);
}

static void a_two_mebibyte_post_body_is_collected_whole(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    size_t n = 2u << 20;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    assert_true(start(f, "POST", "/size", NULL, 0, body, n, 0, &r) > 0);
    free(body); /* the request was copied */
    assert_true(net_run_until(f->loop, &r.done, 5 * SEC));
    assert_int_equal(r.rc, KS_OK);
    assert_int_equal(f->s.last_body_len, n);
    assert_true(f->s.last_body_ok);
    assert_string_equal(r.body, "2097152");
}

static void status_429_and_its_headers_reach_the_caller(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    assert_true(start(f, "GET", "/limited", NULL, 0, NULL, 0, 0, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.rc, KS_OK); /* an HTTP reply arrived: not a transport error */
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "3");
    assert_string_equal(r.content_type, "application/json");
    assert_non_null(strstr(r.body, "10006"));
}

static void a_reply_delayed_by_a_loop_timer_arrives(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    int64_t t0 = net_now_ns();
    assert_true(start(f, "DELETE", "/delay", NULL, 0, NULL, 0, 0, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.rc, KS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "late");
    assert_true(r.at - t0 >= 50 * MS);
}

static void a_server_that_never_replies_times_out(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    int64_t t0 = net_now_ns();
    assert_true(start(f, "GET", "/hang", NULL, 0, NULL, 0, 200, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, KS_ETIMEDOUT);
    assert_int_equal(r.status, 0);
    assert_true(r.error[0] != '\0');
    assert_true(r.at - t0 >= 190 * MS && r.at - t0 < SEC);
    printf("timeout: %s\n", r.error);
}

static void connection_refused_is_an_io_error_with_curl_text(void **state)
{
    fixture_t *f = *state;
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", net_closed_port());
    result_t r = {0};
    assert_true(start(f, "GET", "/", NULL, 0, NULL, 0, 0, &r) > 0);
    assert_int_equal(r.calls, 0); /* never from inside ks_http_request */
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.rc, KS_EIO);
    assert_int_equal(r.status, 0);
    assert_true(r.error[0] != '\0');
    printf("refused: %s\n", r.error);
}

static void a_dropped_connection_is_an_io_error(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    assert_true(start(f, "GET", "/abort", NULL, 0, NULL, 0, 0, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    assert_int_equal(r.rc, KS_EIO);
    assert_int_equal(r.status, 0);
}

static void a_cancelled_request_never_calls_back(void **state)
{
    fixture_t *f = *state;
    result_t r = {0}, r2 = {0};
    uint64_t id = start(f, "GET", "/delay", NULL, 0, NULL, 0, 0, &r);
    uint64_t id2 = start(f, "GET", "/echo", NULL, 0, NULL, 0, 0, &r2);
    assert_true(id > 0 && id2 > id);
    assert_int_equal(ks_http_pending(f->http), 2);
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 10 * MS); /* request in flight */
    ks_http_cancel(f->http, id);
    ks_http_cancel(f->http, id);   /* twice: ignored */
    ks_http_cancel(f->http, 9999); /* unknown: ignored */
    assert_true(net_run_until(f->loop, &r2.done, 3 * SEC));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 150 * MS);
    assert_int_equal(r.calls, 0);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(ks_http_pending(f->http), 0);
}

typedef struct many {
    int calls[100];
    int ok;
    int done_count;
    bool all;
} many_t;

typedef struct many_slot {
    many_t *m;
    int i;
} many_slot_t;

static void on_many(void *ud, const ks_http_response_t *resp)
{
    many_slot_t *s = ud;
    s->m->calls[s->i]++;
    char want[64];
    snprintf(want, sizeof(want), "GET /echo i=%d x-test=- body=", s->i);
    if (resp->rc == KS_OK && resp->status == 200 && strcmp(resp->body, want) == 0)
        s->m->ok++;
    if (++s->m->done_count == 100)
        s->m->all = true;
}

static void a_hundred_concurrent_requests_each_complete_exactly_once(void **state)
{
    fixture_t *f = *state;
    many_t m = {0};
    many_slot_t slots[100];
    for (int i = 0; i < 100; i++) {
        slots[i] = (many_slot_t){&m, i};
        char url[128];
        snprintf(url, sizeof(url), "%s/echo?i=%d", f->base, i);
        ks_http_request_t req = {.struct_size = sizeof(req), .method = "GET", .url = url};
        assert_true(ks_http_request(f->http, &req, on_many, &slots[i]) > 0);
    }
    assert_int_equal(ks_http_pending(f->http), 100);
    assert_true(net_run_until(f->loop, &m.all, 8 * SEC));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 20 * MS);
    for (int i = 0; i < 100; i++)
        assert_int_equal(m.calls[i], 1);
    assert_int_equal(m.ok, 100);
    assert_int_equal(f->s.requests, 100);
    assert_int_equal(ks_http_pending(f->http), 0);
}

/* Sockets this process holds (client and server ends alike). */
static int count_sockets(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], link[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len > 0) {
            link[len] = '\0';
            n += strncmp(link, "socket:", 7) == 0;
        }
    }
    if (d)
        closedir(d);
    return n;
}

static void sequential_requests_reuse_one_connection(void **state)
{
    fixture_t *f = *state;
    int before = count_sockets();
    for (int i = 0; i < 20; i++) {
        result_t r = {0};
        assert_true(start(f, "GET", "/echo", NULL, 0, NULL, 0, 0, &r) > 0);
        assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
        assert_int_equal(r.status, 200);
    }
    assert_int_equal(f->s.requests, 20);
    /* One connection stays open: its client end in curl's cache, its server end
     * waiting for the next request. A connection per request would leave 40. */
    assert_int_equal(count_sockets() - before, 2);
}

static void freeing_with_requests_in_flight_calls_nothing(void **state)
{
    fixture_t *f = *state;
    result_t r[10];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 10; i++)
        assert_true(start(f, "GET", i % 2 ? "/delay" : "/hang", NULL, 0, NULL, 0, 0, &r[i]) > 0);
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 20 * MS);
    ks_http_free(f->http);
    f->http = NULL;
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 100 * MS);
    for (int i = 0; i < 10; i++)
        assert_int_equal(r[i].calls, 0);
}

typedef struct chain {
    fixture_t *f;
    result_t second;
    int first_calls;
    bool freed;
} chain_t;

static void on_first_then_free(void *ud, const ks_http_response_t *resp)
{
    chain_t *c = ud;
    c->first_calls++;
    /* A new request and freeing the client are both allowed from a callback. */
    assert_true(start(c->f, "GET", "/echo", NULL, 0, NULL, 0, 0, &c->second) > 0);
    ks_http_free(c->f->http);
    c->f->http = NULL;
    c->freed = true;
}

static void the_client_can_be_freed_from_inside_a_callback(void **state)
{
    fixture_t *f = *state;
    chain_t c = {.f = f};
    result_t other = {0};
    char url[128];
    snprintf(url, sizeof(url), "%s/echo", f->base);
    ks_http_request_t req = {.struct_size = sizeof(req), .url = url};
    assert_true(ks_http_request(f->http, &req, on_first_then_free, &c) > 0);
    assert_true(start(f, "GET", "/hang", NULL, 0, NULL, 0, 0, &other) > 0);
    assert_true(net_run_until(f->loop, &c.freed, 3 * SEC));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 50 * MS);
    assert_int_equal(c.first_calls, 1);
    assert_int_equal(c.second.calls, 0);
    assert_int_equal(other.calls, 0);
}

static void invalid_requests_do_not_start(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    ks_http_header_t bad[] = {{"X-Evil", "a\r\nInjected: yes"}};
    assert_int_equal(start(f, "GET", "/echo", bad, 1, NULL, 0, 0, &r), 0);
    ks_http_request_t req = {.struct_size = sizeof(req), .url = NULL};
    assert_int_equal(ks_http_request(f->http, &req, on_response, &r), 0);
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 20 * MS);
    assert_int_equal(r.calls, 0);
    assert_int_equal(ks_http_pending(f->http), 0);
}

static void a_virtual_loop_has_no_http(void **state)
{
    ks_loop_t *loop = ks_loop_new(true, 0);
    ks_http_t *http = ks_http_new(loop);
    assert_non_null(http);
    result_t r = {0};
    ks_http_request_t req = {.struct_size = sizeof(req), .url = "http://127.0.0.1:1/"};
    assert_int_equal(ks_http_request(http, &req, on_response, &r), 0);
    assert_int_equal(ks_loop_run(loop), KS_OK);
    ks_http_free(http);
    ks_loop_free(loop);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(get_carries_method_path_query_and_headers_both_ways),
        T(post_body_and_content_type_round_trip),
        T(a_two_mebibyte_post_body_is_collected_whole),
        T(status_429_and_its_headers_reach_the_caller),
        T(a_reply_delayed_by_a_loop_timer_arrives),
        T(a_server_that_never_replies_times_out),
        T(connection_refused_is_an_io_error_with_curl_text),
        T(a_dropped_connection_is_an_io_error),
        T(a_cancelled_request_never_calls_back),
        T(a_hundred_concurrent_requests_each_complete_exactly_once),
        T(sequential_requests_reuse_one_connection),
        T(freeing_with_requests_in_flight_calls_nothing),
        T(the_client_can_be_freed_from_inside_a_callback),
        T(invalid_requests_do_not_start),
        cmocka_unit_test(a_virtual_loop_has_no_http),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
