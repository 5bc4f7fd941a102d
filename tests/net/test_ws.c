/* WebSocket client <-> server over loopback, both on one ks_loop: open, echo, order,
 * large messages, closes from either side (each reported exactly once), failures
 * reported from the loop, handshake headers, and teardown without callbacks. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/error.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "http.h"
#include "log.h"
#include "net_util.h"
#include "ws.h"

/* --- a small echo server ------------------------------------------------------------- */

enum { SRV_ECHO = 0, SRV_WELCOME = 1 };

typedef struct server {
    ks_ws_server_t *srv;
    int mode;
    int opened, closed, messages;
    int in_order_next; /* next expected "n" of numbered messages, -1 once out of order */
    ks_ws_peer_t *last_peer;
    char path[256];
    char header[128];
    size_t last_len;
} server_t;

static void srv_on_open(void *ud, ks_ws_peer_t *peer, const char *path)
{
    server_t *s = ud;
    s->opened++;
    s->last_peer = peer;
    snprintf(s->path, sizeof(s->path), "%s", path);
    const char *h = ks_ws_peer_header(peer, "x-kestrel-test");
    snprintf(s->header, sizeof(s->header), "%s", h ? h : "");
    ks_ws_peer_set_data(peer, s);
    if (s->mode == SRV_WELCOME)
        assert_int_equal(ks_ws_peer_send(peer, "welcome", 7), KS_OK);
}

static void srv_on_message(void *ud, ks_ws_peer_t *peer, const char *data, size_t len)
{
    server_t *s = ud;
    assert_ptr_equal(ks_ws_peer_get_data(peer), s);
    s->messages++;
    s->last_len = len;
    if (len == 3 && memcmp(data, "bye", 3) == 0) {
        ks_ws_peer_close(peer);
        return;
    }
    if (len == 4 && memcmp(data, "big?", 4) == 0) {
        size_t n = 4u << 20;
        char *big = malloc(n);
        for (size_t i = 0; i < n; i++)
            big[i] = (char)('a' + i % 26);
        assert_int_equal(ks_ws_peer_send(peer, big, n), KS_OK);
        free(big);
        return;
    }
    if (len > 2 && data[0] == 'n' && data[1] == ':' && s->in_order_next >= 0)
        s->in_order_next = atoi(data + 2) == s->in_order_next ? s->in_order_next + 1 : -1;
    assert_int_equal(ks_ws_peer_send(peer, data, len), KS_OK);
}

static void srv_on_close(void *ud, ks_ws_peer_t *peer)
{
    server_t *s = ud;
    s->closed++;
    assert_int_equal(ks_ws_peer_send(peer, "x", 1), KS_ESTATE);
}

static void srv_on_http(void *ud, ks_http_exchange_t *ex, const ks_http_server_request_t *req)
{
    ks_http_reply(ex, 200, "text/plain", NULL, 0, req->path, strlen(req->path));
}

static const ks_ws_server_callbacks_t srv_cb = {
    .on_http = srv_on_http,
    .on_ws_open = srv_on_open,
    .on_ws_message = srv_on_message,
    .on_ws_close = srv_on_close,
};

/* --- a client that records everything ---------------------------------------------------- */

typedef struct client {
    ks_ws_t *ws;
    bool in_connect;
    bool callback_inside_connect;
    int opened, closed, messages;
    int rc;
    char reason[KS_REASON_LEN];
    char last[64];
    size_t last_len;
    bool last_ok; /* the 4 MiB pattern, when that was the last message */
    bool last_binary;
    char first[64];
    int next_echo;    /* numbered echoes seen in order; -1 once out of order */
    int send_on_open; /* numbered messages to send once open */
    const char *first_message;
    bool done;     /* closed */
    bool got_echo; /* at least one message */
} client_t;

static void cli_on_open(void *ud, ks_ws_t *ws)
{
    client_t *c = ud;
    if (c->in_connect)
        c->callback_inside_connect = true;
    c->opened++;
    if (c->first_message)
        assert_int_equal(ks_ws_send(ws, c->first_message, strlen(c->first_message)), KS_OK);
    for (int i = 0; i < c->send_on_open; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "n:%d", i);
        assert_int_equal(ks_ws_send(ws, m, (size_t)n), KS_OK);
    }
}

static void cli_on_message(void *ud, ks_ws_t *ws, const char *data, size_t len, bool binary)
{
    client_t *c = ud;
    c->last_binary = binary;
    if (c->messages == 0)
        snprintf(c->first, sizeof(c->first), "%.*s", (int)(len < 63 ? len : 63), data);
    c->messages++;
    c->got_echo = true;
    c->last_len = len;
    snprintf(c->last, sizeof(c->last), "%.*s", (int)(len < 63 ? len : 63), data);
    if (len == 4u << 20) {
        c->last_ok = true;
        for (size_t i = 0; i < len; i++)
            if (data[i] != (char)('a' + i % 26))
                c->last_ok = false;
    }
    if (len > 2 && data[0] == 'n' && data[1] == ':' && c->next_echo >= 0)
        c->next_echo = atoi(data + 2) == c->next_echo ? c->next_echo + 1 : -1;
}

static void cli_on_close(void *ud, ks_ws_t *ws, int rc, const char *reason)
{
    client_t *c = ud;
    if (c->in_connect)
        c->callback_inside_connect = true;
    c->closed++;
    c->rc = rc;
    snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
    c->done = true;
}

static const ks_ws_callbacks_t cli_cb = {
    .struct_size = sizeof(ks_ws_callbacks_t),
    .on_open = cli_on_open,
    .on_message = cli_on_message,
    .on_close = cli_on_close,
};

static ks_ws_t *connect_to(ks_wsctx_t *ctx, client_t *c, const char *url, const ks_http_header_t *h,
                           uint32_t nh, int32_t timeout_ms)
{
    ks_ws_options_t opt = {.struct_size = sizeof(opt),
                           .url = url,
                           .headers = h,
                           .n_headers = nh,
                           .connect_timeout_ms = timeout_ms};
    c->in_connect = true;
    c->ws = ks_ws_connect(ctx, &opt, &cli_cb, c);
    c->in_connect = false;
    return c->ws;
}

typedef struct fixture {
    int fds_before;
    ks_loop_t *loop;
    ks_wsctx_t *ctx;
    server_t s;
    char url[128];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->fds_before = net_count_fds();
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    f->loop = ks_loop_new(false, 0);
    f->ctx = ks_wsctx_new(f->loop);
    f->s.srv = ks_ws_server_start(f->ctx, "127.0.0.1", 0, &srv_cb, &f->s);
    assert_non_null(f->s.srv);
    assert_true(ks_ws_server_port(f->s.srv) > 0);
    snprintf(f->url, sizeof(f->url), "ws://127.0.0.1:%d/stream?x=1", ks_ws_server_port(f->s.srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ks_wsctx_free(f->ctx);
    ks_loop_free(f->loop);
    int leaked = net_count_fds() - f->fds_before;
    free(f);
    if (leaked != 0)
        printf("%d file descriptors leaked\n", leaked);
    return leaked != 0;
}

static bool server_closed(fixture_t *f, int n)
{
    bool done = false;
    int64_t end = net_now_ns() + 3 * SEC;
    while (f->s.closed < n && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    done = f->s.closed >= n;
    return done;
}

/* --- tests ------------------------------------------------------------------------------- */

static void text_echoes_both_ways_and_client_close_is_reported_once_on_each_side(void **state)
{
    fixture_t *f = *state;
    f->s.mode = SRV_WELCOME;
    client_t c = {.first_message = "hello"};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    assert_int_equal(ks_ws_send(c.ws, "early", 5), KS_ESTATE); /* not open yet */
    bool two = false;
    int64_t end = net_now_ns() + 3 * SEC;
    while (!two && net_now_ns() < end) {
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
        two = c.messages >= 2;
    }
    assert_int_equal(c.opened, 1);
    assert_int_equal(f->s.opened, 1);
    assert_int_equal(c.messages, 2);
    assert_string_equal(c.last, "hello"); /* "welcome" came first, then the echo */
    assert_string_equal(f->s.path, "/stream?x=1");

    ks_ws_close(c.ws);
    ks_ws_close(c.ws); /* twice: ignored */
    assert_int_equal(ks_ws_send(c.ws, "late", 4), KS_ESTATE);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    assert_true(server_closed(f, 1));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 50 * MS);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.rc, KS_OK);
    assert_int_equal(f->s.closed, 1);
    assert_false(c.callback_inside_connect);
}

static void a_thousand_messages_arrive_in_order_both_ways(void **state)
{
    fixture_t *f = *state;
    client_t c = {.send_on_open = 1000};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    int64_t end = net_now_ns() + 8 * SEC;
    while (c.messages < 1000 && c.next_echo >= 0 && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(f->s.messages, 1000);
    assert_int_equal(f->s.in_order_next, 1000);
    assert_int_equal(c.messages, 1000);
    assert_int_equal(c.next_echo, 1000);
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
}

static void one_mebibyte_up_and_four_mebibytes_down_arrive_whole(void **state)
{
    fixture_t *f = *state;
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.opened && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(c.opened, 1);

    size_t n = 1u << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('A' + i % 26);
    assert_int_equal(ks_ws_send(c.ws, big, n), KS_OK);
    free(big);
    end = net_now_ns() + 8 * SEC;
    while (c.messages < 1 && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(f->s.last_len, n); /* reassembled into one message on the server */
    assert_int_equal(c.last_len, n);    /* and the echo into one on the client */

    assert_int_equal(ks_ws_send(c.ws, "big?", 4), KS_OK);
    end = net_now_ns() + 8 * SEC;
    while (c.messages < 2 && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(c.last_len, 4u << 20);
    assert_true(c.last_ok);
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
}

static void server_initiated_close_reaches_the_client_once(void **state)
{
    fixture_t *f = *state;
    client_t c = {.first_message = "bye"};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    assert_true(server_closed(f, 1));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 50 * MS);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.rc, KS_EIO);
    assert_non_null(strstr(c.reason, "1000"));
    assert_int_equal(f->s.closed, 1);
}

static void connection_refused_reports_eio_from_the_loop_not_from_connect(void **state)
{
    fixture_t *f = *state;
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", net_closed_port());
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, url, NULL, 0, 0));
    assert_int_equal(c.closed, 0);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.opened, 0);
    assert_int_equal(c.rc, KS_EIO);
    assert_false(c.callback_inside_connect);
    printf("refused: %s\n", c.reason);
}

static void a_silent_server_times_out_the_connect(void **state)
{
    fixture_t *f = *state;
    int port = 0;
    int lfd = net_silent_listener(&port);
    assert_true(lfd >= 0);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
    client_t c = {0};
    int64_t t0 = net_now_ns();
    assert_non_null(connect_to(f->ctx, &c, url, NULL, 0, 200));
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    int64_t took = net_now_ns() - t0;
    assert_int_equal(c.rc, KS_ETIMEDOUT);
    assert_true(took >= 190 * MS && took < 1 * SEC);
    close(lfd);
}

static void custom_handshake_header_is_visible_on_the_server(void **state)
{
    fixture_t *f = *state;
    ks_http_header_t h[] = {{"X-Kestrel-Test", "abc123"}, {"X-Api-Key", "k"}};
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, f->url, h, 2, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.opened && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(f->s.opened, 1);
    assert_string_equal(f->s.header, "abc123");
    assert_string_equal(ks_ws_peer_header(f->s.last_peer, "X-API-KEY"), "k");
    assert_null(ks_ws_peer_header(f->s.last_peer, "x-missing"));
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
}

static void many_concurrent_clients_are_served(void **state)
{
    fixture_t *f = *state;
    enum { N = 30 };
    client_t c[N];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < N; i++) {
        c[i].first_message = "hi";
        assert_non_null(connect_to(f->ctx, &c[i], f->url, NULL, 0, 0));
    }
    int64_t end = net_now_ns() + 5 * SEC;
    for (int done = 0; done < N && net_now_ns() < end;) {
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
        done = 0;
        for (int i = 0; i < N; i++)
            done += c[i].got_echo;
    }
    for (int i = 0; i < N; i++) {
        assert_true(c[i].got_echo);
        ks_ws_close(c[i].ws);
    }
    assert_true(server_closed(f, N));
    for (int i = 0; i < N; i++) {
        assert_true(net_run_until(f->loop, &c[i].done, 3 * SEC));
        assert_int_equal(c[i].closed, 1);
        assert_int_equal(c[i].rc, KS_OK);
    }
    assert_int_equal(f->s.opened, N);
    assert_int_equal(f->s.closed, N);
}

static void server_stop_drops_its_peers(void **state)
{
    fixture_t *f = *state;
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.opened && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(c.opened, 1);
    ks_ws_server_stop(f->s.srv);
    f->s.srv = NULL;
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    assert_int_equal(c.rc, KS_EIO);
    assert_int_equal(f->s.closed, 0); /* stopping reports nothing to the server */
}

static void a_host_name_is_resolved_off_the_loop(void **state)
{
    fixture_t *f = *state;
    /* A server bound by name, so client and server agree on what "localhost" is. */
    server_t s2 = {0};
    s2.srv = ks_ws_server_start(f->ctx, "localhost", 0, &srv_cb, &s2);
    assert_non_null(s2.srv);
    char url[64];
    snprintf(url, sizeof(url), "ws://localhost:%d/", ks_ws_server_port(s2.srv));
    client_t c = {.first_message = "by name"};
    assert_non_null(connect_to(f->ctx, &c, url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.got_echo && !c.done && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_string_equal(c.last, "by name");
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    ks_ws_server_stop(s2.srv);
}

static void invalid_urls_are_refused_at_once(void **state)
{
    fixture_t *f = *state;
    client_t c = {0};
    assert_null(connect_to(f->ctx, &c, "http://127.0.0.1/", NULL, 0, 0));
    assert_null(connect_to(f->ctx, &c, "ws://", NULL, 0, 0));
    assert_null(connect_to(f->ctx, &c, "ws://host:99999/", NULL, 0, 0));
    ks_http_header_t bad[] = {{"X-Evil", "a\r\nb"}};
    assert_null(connect_to(f->ctx, &c, f->url, bad, 1, 0));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 10 * MS);
    assert_int_equal(c.closed, 0);
}

static void close_before_the_connection_opens_reports_ok_once(void **state)
{
    fixture_t *f = *state;
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    ks_ws_close(c.ws);
    assert_int_equal(c.closed, 0); /* reported from the loop */
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 50 * MS);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.opened, 0);
    assert_int_equal(c.rc, KS_OK);
}

static void freeing_the_context_with_live_connections_calls_nothing(void **state)
{
    fixture_t *f = *state;
    client_t c[3];
    memset(c, 0, sizeof(c));
    c[0].first_message = "x";
    assert_non_null(connect_to(f->ctx, &c[0], f->url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c[0].got_echo && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_true(c[0].got_echo);
    assert_non_null(connect_to(f->ctx, &c[1], f->url, NULL, 0, 0)); /* still connecting */
    assert_non_null(connect_to(f->ctx, &c[2], f->url, NULL, 0, 0));
    ks_ws_close(c[2].ws); /* its on_close is queued, not yet delivered */
    ks_wsctx_free(f->ctx);
    f->ctx = NULL;
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 50 * MS);
    for (int i = 0; i < 3; i++)
        assert_int_equal(c[i].closed, 0);
    assert_int_equal(f->s.closed, 0);
    /* The idle loop has nothing left: no tick, no watcher. */
    assert_int_equal(ks_loop_next_timer_ns(f->loop), -1);
}

static void an_idle_context_leaves_no_timer_running(void **state)
{
    fixture_t *f = *state;
    client_t c = {.first_message = "x"};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.got_echo && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_true(ks_loop_next_timer_ns(f->loop) >= 0); /* the lws tick while connected */
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
    assert_true(server_closed(f, 1));
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 20 * MS);
    assert_int_equal(ks_loop_next_timer_ns(f->loop), -1);
}

static void an_idle_open_connection_does_not_spin_the_loop(void **state)
{
    fixture_t *f = *state;
    client_t c = {.first_message = "x"};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.got_echo && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 20 * MS);
    uint64_t it0 = ks_loop_iterations(f->loop);
    ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 500 * MS);
    uint64_t iterations = ks_loop_iterations(f->loop) - it0;
    printf("idle connection: %llu loop iterations in 500 ms\n", (unsigned long long)iterations);
    assert_true(iterations <= 20); /* the 50 ms lws tick, nothing more */
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
}

/* --- a raw server speaking WebSocket by hand, for what ks_ws_server never sends ---- */

enum { RAW_FRAGMENTS, RAW_GARBAGE };

typedef struct raw {
    ks_loop_t *loop;
    int mode;
    int lfd, cfd;
    char in[8192];
    size_t len;
    bool answered;
} raw_t;

static void raw_write(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void raw_on_client(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    raw_t *r = ud;
    ssize_t n = read(fd, r->in + r->len, sizeof(r->in) - r->len - 1);
    if (n <= 0) {
        ks_loop_io_del(loop, fd);
        close(fd);
        r->cfd = -1;
        return;
    }
    r->len += (size_t)n;
    r->in[r->len] = '\0';
    if (r->answered)
        return; /* the client's frames are not interesting here */
    if (r->mode == RAW_GARBAGE) {
        const char *junk = "this is not TLS\r\n\r\n";
        raw_write(fd, junk, strlen(junk));
        r->answered = true;
        return;
    }
    if (!strstr(r->in, "\r\n\r\n"))
        return;
    const char *k = strcasestr(r->in, "Sec-WebSocket-Key:");
    assert_non_null(k);
    k += 18;
    while (*k == ' ')
        k++;
    char key[128];
    size_t kl = strcspn(k, "\r\n");
    snprintf(key, sizeof(key), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)kl, k);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)key, strlen(key), sha);
    unsigned char accept[64];
    EVP_EncodeBlock(accept, sha, sizeof(sha));
    char resp[256];
    int rl = snprintf(resp, sizeof(resp),
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      accept);
    raw_write(fd, resp, (size_t)rl);
    /* "fragmented" as three frames (text, continuation, final continuation), then a
     * binary message in one frame. Server frames are unmasked. */
    const unsigned char frames[] = {0x01, 4,    'f', 'r', 'a', 'g',  0x00, 4,   'm', 'e', 'n',
                                    't',  0x80, 2,   'e', 'd', 0x82, 3,    'b', 'i', 'n'};
    raw_write(fd, frames, sizeof(frames));
    r->answered = true;
}

static void raw_on_listen(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    raw_t *r = ud;
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        return;
    assert_int_equal(r->cfd, -1);
    r->cfd = c;
    assert_int_equal(ks_loop_io_add(loop, c, KS_IO_READ, raw_on_client, r), KS_OK);
}

static int raw_start(raw_t *r, ks_loop_t *loop, int mode)
{
    int port = 0;
    *r = (raw_t){.loop = loop, .mode = mode, .cfd = -1};
    r->lfd = net_silent_listener(&port);
    assert_true(r->lfd >= 0);
    assert_int_equal(ks_loop_io_add(loop, r->lfd, KS_IO_READ, raw_on_listen, r), KS_OK);
    return port;
}

static void raw_stop(raw_t *r)
{
    if (r->cfd >= 0) {
        ks_loop_io_del(r->loop, r->cfd);
        close(r->cfd);
    }
    ks_loop_io_del(r->loop, r->lfd);
    close(r->lfd);
}

static void a_fragmented_message_is_delivered_once_and_whole(void **state)
{
    fixture_t *f = *state;
    raw_t r;
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", raw_start(&r, f->loop, RAW_FRAGMENTS));
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, url, NULL, 0, 0));
    int64_t end = net_now_ns() + 3 * SEC;
    while (c.messages < 2 && !c.done && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(c.opened, 1);
    assert_int_equal(c.messages, 2);
    assert_string_equal(c.first, "fragmented");
    assert_string_equal(c.last, "bin");
    assert_true(c.last_binary);
    ks_ws_close(c.ws);
    raw_stop(&r); /* the close frame gets no answer: the connection just drops */
    assert_true(net_run_until(f->loop, &c.done, 6 * SEC));
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.rc, KS_OK);
}

static void wss_to_a_server_without_tls_fails_with_eio(void **state)
{
    fixture_t *f = *state;
    raw_t r;
    char url[64];
    snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", raw_start(&r, f->loop, RAW_GARBAGE));
    client_t c = {0};
    assert_non_null(connect_to(f->ctx, &c, url, NULL, 0, 0));
    assert_true(net_run_until(f->loop, &c.done, 5 * SEC));
    assert_int_equal(c.opened, 0);
    assert_int_equal(c.rc, KS_EIO);
    printf("tls failure: %s\n", c.reason);
    raw_stop(&r);
}

typedef struct http_result {
    int status;
    char body[64];
    bool done;
} http_result_t;

static void on_http_result(void *ud, const ks_http_response_t *resp)
{
    http_result_t *r = ud;
    r->status = resp->status;
    snprintf(r->body, sizeof(r->body), "%s", resp->body);
    r->done = true;
}

static void http_and_websocket_share_one_port(void **state)
{
    fixture_t *f = *state;
    client_t c = {.first_message = "ws"};
    assert_non_null(connect_to(f->ctx, &c, f->url, NULL, 0, 0));
    ks_http_t *http = ks_http_new(f->loop);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/plain", ks_ws_server_port(f->s.srv));
    ks_http_request_t req = {.struct_size = sizeof(req), .url = url};
    http_result_t r = {0};
    assert_true(ks_http_request(http, &req, on_http_result, &r) > 0);
    assert_true(net_run_until(f->loop, &r.done, 3 * SEC));
    int64_t end = net_now_ns() + 3 * SEC;
    while (!c.got_echo && net_now_ns() < end)
        ks_loop_run_until(f->loop, ks_loop_now_ns(f->loop) + 5 * MS);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "/plain");
    assert_string_equal(c.last, "ws");
    ks_http_free(http);
    ks_ws_close(c.ws);
    assert_true(net_run_until(f->loop, &c.done, 3 * SEC));
}

static void a_virtual_loop_has_no_websockets_and_still_exits(void **state)
{
    ks_loop_t *loop = ks_loop_new(true, 0);
    ks_wsctx_t *ctx = ks_wsctx_new(loop);
    assert_non_null(ctx);
    client_t c = {0};
    assert_null(connect_to(ctx, &c, "ws://127.0.0.1:1/", NULL, 0, 0));
    assert_null(ks_ws_server_start(ctx, "127.0.0.1", 0, &srv_cb, NULL));
    assert_int_equal(ks_loop_run(loop), KS_OK);
    ks_wsctx_free(ctx);
    ks_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            text_echoes_both_ways_and_client_close_is_reported_once_on_each_side, setup, teardown),
        cmocka_unit_test_setup_teardown(a_thousand_messages_arrive_in_order_both_ways, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_mebibyte_up_and_four_mebibytes_down_arrive_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(server_initiated_close_reaches_the_client_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            connection_refused_reports_eio_from_the_loop_not_from_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(a_silent_server_times_out_the_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_handshake_header_is_visible_on_the_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(many_concurrent_clients_are_served, setup, teardown),
        cmocka_unit_test_setup_teardown(server_stop_drops_its_peers, setup, teardown),
        cmocka_unit_test_setup_teardown(a_host_name_is_resolved_off_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_urls_are_refused_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(close_before_the_connection_opens_reports_ok_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(freeing_the_context_with_live_connections_calls_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_idle_context_leaves_no_timer_running, setup, teardown),
        cmocka_unit_test_setup_teardown(an_idle_open_connection_does_not_spin_the_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_fragmented_message_is_delivered_once_and_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wss_to_a_server_without_tls_fails_with_eio, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(http_and_websocket_share_one_port, setup, teardown),
        cmocka_unit_test(a_virtual_loop_has_no_websockets_and_still_exits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
