/* Bybit v5 signing: the string-to-sign and HMAC vectors of
 * fixtures/bybit/sign_example.json reproduce exactly, and the emulator refuses a request
 * whose signature, timestamp window or key is wrong — over REST (retCode 10004, 10002,
 * 10003) and on the private WebSocket's auth — while accepting the right one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bybit_emu.h"
#include "bybit_sign.h"
#include "http.h"
#include "log.h"

static void ossl_hmac(const void *key, size_t key_len, const void *msg, size_t msg_len,
                      uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n);
}

static cJSON *load_fixture(void)
{
    const char *dir = getenv("KS_SHARED_DIR");
    char path[1024];
    if (!dir) {
        printf("SKIP: KS_SHARED_DIR is not set (the shared fixtures are not available)\n");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/fixtures/bybit/sign_example.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("SKIP: %s not found\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    return j;
}

static const char *s(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
}

static void v5_strings_to_sign_match_the_docs(void **state)
{
    cJSON *j = load_fixture();
    if (!j)
        skip();
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(j, "v5"), "cases"))
    {
        char buf[512];
        const char *payload = s(c, "payload");
        int len = ks_bybit_sign_payload(buf, sizeof(buf), s(c, "timestamp"), s(c, "api_key"),
                                        s(c, "recv_window"), payload, strlen(payload));
        assert_true(len > 0);
        assert_string_equal(buf, s(c, "string_to_sign"));
        /* The note pins what HMAC keyed with the api key would give: our HMAC step. */
        const char *note = s(c, "note");
        const char *gives = note ? strstr(note, "it gives ") : NULL;
        if (gives) {
            char want[65], got[65];
            snprintf(want, sizeof(want), "%.64s", gives + 9);
            ks_bybit_sign_hex(ossl_hmac, s(c, "api_key"), buf, (size_t)len, got);
            assert_string_equal(got, want);
        }
        /* The published signature was made with an unpublished secret: never reproducible. */
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(c, "verifiable")));
        n++;
    }
    assert_int_equal(n, 2);
    printf("%d v5 string-to-sign cases reproduced\n", n);
    cJSON_Delete(j);
}

static void verifiable_hmac_examples_reproduce(void **state)
{
    cJSON *j = load_fixture();
    if (!j)
        skip();
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "legacy_verified"))
    {
        char got[65];
        const char *msg = s(c, "string_to_sign");
        ks_bybit_sign_hex(ossl_hmac, s(c, "secret"), msg, strlen(msg), got);
        assert_string_equal(got, s(c, "signature"));
        n++;
    }
    assert_int_equal(n, 2);
    printf("%d HMAC-SHA256 cases reproduced\n", n);
    cJSON_Delete(j);
}

static void ws_auth_signature_is_hmac_of_get_realtime_expires(void **state)
{
    char got[65], want[65];
    ks_bybit_sign_ws_auth(ossl_hmac, "t7T0YlFnYXk0Fx3JswQsDrViLg1Gh3DUU5Mr", 1662350400000LL, got);
    const char *msg = "GET/realtime1662350400000";
    ks_bybit_sign_hex(ossl_hmac, "t7T0YlFnYXk0Fx3JswQsDrViLg1Gh3DUU5Mr", msg, strlen(msg), want);
    assert_string_equal(got, want);
    assert_int_equal(strlen(got), 64);
    for (int i = 0; i < 64; i++)
        assert_true((got[i] >= '0' && got[i] <= '9') || (got[i] >= 'a' && got[i] <= 'f'));
}

static void string_to_sign_refuses_a_small_buffer(void **state)
{
    char buf[8];
    assert_int_equal(ks_bybit_sign_payload(buf, sizeof(buf), "1658384314791", "key", "5000", "", 0),
                     KS_ERANGE);
}

/* ---- the emulator's checks --------------------------------------------------------------- */

typedef struct env {
    ks_loop_t *loop;
    ks_wsctx_t *ctx;
    ks_http_t *http;
    ks_bybit_emu_t *emu;
    int port;
} env_t;

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    char err[256];
    e->loop = ks_loop_new(false, 0);
    e->ctx = ks_wsctx_new(e->loop);
    e->http = ks_http_new(e->loop);
    ks_bybit_emu_opts_t o;
    memset(&o, 0, sizeof(o));
    o.ctx = e->ctx;
    e->emu = ks_bybit_emu_new(e->loop, &o, err, sizeof(err));
    if (!e->emu)
        fail_msg("%s", err);
    e->port = ks_bybit_emu_port(e->emu);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    ks_http_free(e->http);
    ks_bybit_emu_free(e->emu);
    ks_wsctx_free(e->ctx);
    ks_loop_free(e->loop);
    free(e);
    return 0;
}

typedef struct reply {
    bool done;
    int status;
    long long code;
} reply_t;

static void on_reply(void *ud, const ks_http_response_t *resp)
{
    reply_t *r = ud;
    r->done = true;
    r->status = resp->status;
    cJSON *j = resp->body ? cJSON_Parse(resp->body) : NULL;
    r->code = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "retCode"));
    cJSON_Delete(j);
}

/* Sends a signed request. ts_skew_ms moves the timestamp; key/secret as given; the body
 * signed may differ from the body sent (tampering). Returns retCode. */
static long long request(env_t *e, const char *method, const char *path, const char *payload,
                         const char *signed_payload, const char *key, const char *secret,
                         long long ts_skew_ms, const char *recv_window)
{
    char url[512], ts[32], sig[65], buf[1024];
    bool post = strcmp(method, "POST") == 0;
    long long now = ks_loop_wall_ns(e->loop) / 1000000LL;
    snprintf(ts, sizeof(ts), "%lld", now + ts_skew_ms);
    if (post)
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->port, path);
    else
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s?%s", e->port, path, payload);
    const char *sp = signed_payload ? signed_payload : payload;
    int n = ks_bybit_sign_payload(buf, sizeof(buf), ts, key, recv_window, sp, strlen(sp));
    ks_bybit_sign_hex(ossl_hmac, secret, buf, (size_t)n, sig);
    ks_http_header_t h[5] = {{"X-BAPI-API-KEY", key},
                             {"X-BAPI-TIMESTAMP", ts},
                             {"X-BAPI-SIGN", sig},
                             {"X-BAPI-RECV-WINDOW", recv_window},
                             {"Content-Type", "application/json"}};
    ks_http_request_t req;
    KS_INIT(&req);
    req.method = method;
    req.url = url;
    req.headers = h;
    req.n_headers = post ? 5 : 4;
    req.body = post ? payload : NULL;
    req.body_len = post ? strlen(payload) : 0;
    reply_t r = {0};
    assert_true(ks_http_request(e->http, &req, on_reply, &r) > 0);
    int64_t end = ks_loop_now_ns(e->loop) + 3000000000LL;
    while (!r.done && ks_loop_now_ns(e->loop) < end)
        ks_loop_run_until(e->loop, ks_loop_now_ns(e->loop) + 5000000LL);
    assert_true(r.done);
    assert_int_equal(r.status, 200); /* business errors are HTTP 200 with a retCode */
    return r.code;
}

#define K      KS_BYBIT_EMU_KEY
#define S      KS_BYBIT_EMU_SECRET
#define WALLET "/v5/account/wallet-balance", "accountType=UNIFIED", NULL

static void emulator_accepts_a_correct_get_and_post(void **state)
{
    env_t *e = *state;
    assert_int_equal(request(e, "GET", WALLET, K, S, 0, "5000"), 0);
    const char *body = "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"side\":\"Buy\","
                       "\"orderType\":\"Market\",\"qty\":\"0.001\",\"orderLinkId\":\"sig-ok\"}";
    assert_int_equal(request(e, "POST", "/v5/order/create", body, NULL, K, S, 0, "5000"), 0);
    assert_non_null(ks_bybit_emu_order_status(e->emu, "sig-ok"));
}

static void emulator_rejects_a_wrong_signature_with_10004(void **state)
{
    env_t *e = *state;
    assert_int_equal(request(e, "GET", WALLET, K, "wrong-secret", 0, "5000"), 10004);
    /* Signed one body, sent another. */
    const char *sent = "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"side\":\"Buy\","
                       "\"orderType\":\"Market\",\"qty\":\"1\",\"orderLinkId\":\"tampered\"}";
    const char *signed_body = "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"side\":\"Buy\","
                              "\"orderType\":\"Market\",\"qty\":\"0.001\",\"orderLinkId\":"
                              "\"tampered\"}";
    assert_int_equal(request(e, "POST", "/v5/order/create", sent, signed_body, K, S, 0, "5000"),
                     10004);
    assert_null(ks_bybit_emu_order_status(e->emu, "tampered"));
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(e->emu, &st);
    assert_int_equal(st.sig_errors, 2);
}

static void emulator_enforces_the_receive_window_with_10002(void **state)
{
    env_t *e = *state;
    /* Accepted: server - recvWindow <= ts < server + 1000. */
    assert_int_equal(request(e, "GET", WALLET, K, S, -3000, "5000"), 0);
    assert_int_equal(request(e, "GET", WALLET, K, S, 500, "5000"), 0);
    /* Too old for the window, and too far ahead. */
    assert_int_equal(request(e, "GET", WALLET, K, S, -5200, "5000"), 10002);
    assert_int_equal(request(e, "GET", WALLET, K, S, 1500, "5000"), 10002);
    /* A wider window accepts the old one. */
    assert_int_equal(request(e, "GET", WALLET, K, S, -5200, "10000"), 0);
}

static void emulator_rejects_an_unknown_key_with_10003(void **state)
{
    env_t *e = *state;
    assert_int_equal(request(e, "GET", WALLET, "someone-else", S, 0, "5000"), 10003);
}

typedef struct wsc {
    bool open, got;
    char last[512];
} wsc_t;

static void c_open(void *ud, ks_ws_t *ws)
{
    ((wsc_t *)ud)->open = true;
}

static void c_msg(void *ud, ks_ws_t *ws, const char *d, size_t l, bool b)
{
    wsc_t *c = ud;
    snprintf(c->last, sizeof(c->last), "%.*s", (int)l, d);
    c->got = true;
}

static void c_close(void *ud, ks_ws_t *ws, int rc, const char *r)
{
    ((wsc_t *)ud)->open = false;
}

static bool ws_auth(env_t *e, ks_ws_t *ws, wsc_t *c, const char *key, const char *secret,
                    long long expires_skew_ms)
{
    char sig[65], msg[512];
    long long expires = ks_loop_wall_ns(e->loop) / 1000000LL + expires_skew_ms;
    ks_bybit_sign_ws_auth(ossl_hmac, secret, expires, sig);
    snprintf(msg, sizeof(msg), "{\"op\":\"auth\",\"args\":[\"%s\",%lld,\"%s\"]}", key, expires,
             sig);
    c->got = false;
    assert_int_equal(ks_ws_send(ws, msg, strlen(msg)), KS_OK);
    int64_t end = ks_loop_now_ns(e->loop) + 3000000000LL;
    while (!c->got && ks_loop_now_ns(e->loop) < end)
        ks_loop_run_until(e->loop, ks_loop_now_ns(e->loop) + 5000000LL);
    assert_true(c->got);
    cJSON *j = cJSON_Parse(c->last);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "op")), "auth");
    bool ok = cJSON_IsTrue(cJSON_GetObjectItem(j, "success"));
    cJSON_Delete(j);
    return ok;
}

static void emulator_checks_the_private_websocket_auth(void **state)
{
    env_t *e = *state;
    char url[128];
    wsc_t c = {0};
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/v5/private", e->port);
    ks_ws_options_t o;
    KS_INIT(&o);
    o.url = url;
    ks_ws_callbacks_t cb = {sizeof(cb), c_open, c_msg, c_close};
    ks_ws_t *ws = ks_ws_connect(e->ctx, &o, &cb, &c);
    assert_non_null(ws);
    int64_t end = ks_loop_now_ns(e->loop) + 3000000000LL;
    while (!c.open && ks_loop_now_ns(e->loop) < end)
        ks_loop_run_until(e->loop, ks_loop_now_ns(e->loop) + 5000000LL);
    assert_true(c.open);
    assert_false(ws_auth(e, ws, &c, K, "wrong-secret", 5000)); /* bad signature */
    assert_false(ws_auth(e, ws, &c, "someone-else", S, 5000)); /* unknown key */
    assert_false(ws_auth(e, ws, &c, K, S, -1000));             /* expires in the past */
    assert_true(ws_auth(e, ws, &c, K, S, 5000));
    ks_bybit_emu_stats_t st;
    ks_bybit_emu_stats(e->emu, &st);
    assert_int_equal(st.auth_failed, 3);
    assert_int_equal(st.auth_ok, 1);
    ks_ws_close(ws);
    end = ks_loop_now_ns(e->loop) + 2000000000LL;
    while (c.open && ks_loop_now_ns(e->loop) < end)
        ks_loop_run_until(e->loop, ks_loop_now_ns(e->loop) + 5000000LL);
}

int main(void)
{
    ks_log_setup(stderr, KS_LOG_ERROR, KS_LOGF_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v5_strings_to_sign_match_the_docs),
        cmocka_unit_test(verifiable_hmac_examples_reproduce),
        cmocka_unit_test(ws_auth_signature_is_hmac_of_get_realtime_expires),
        cmocka_unit_test(string_to_sign_refuses_a_small_buffer),
        cmocka_unit_test_setup_teardown(emulator_accepts_a_correct_get_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(emulator_rejects_a_wrong_signature_with_10004, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(emulator_enforces_the_receive_window_with_10002, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(emulator_rejects_an_unknown_key_with_10003, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(emulator_checks_the_private_websocket_auth, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
