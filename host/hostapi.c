/* The host services table handed to plugins (ks_host_api_t): thin adapters from the
 * ABI onto the engine, the loop, http, ws, the store and OpenSSL. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "engine.h"
#include "log.h"

/* A plugin timer: the loop calls us, we call the plugin's (ud) callback. */
typedef struct host_timer {
    struct ks_host *h;
    uint64_t id;
    bool repeat;
    ks_timer_cb cb;
    void *ud;
} host_timer_t;

static void h_log(ks_host_t *h, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ks_logv(level, h->component, fmt, ap);
    va_end(ap);
}

static int64_t h_now_ns(ks_host_t *h)
{
    return ks_loop_now_ns(ks_engine_loop(h->eng));
}

static int64_t h_wall_ns(ks_host_t *h)
{
    return ks_loop_wall_ns(ks_engine_loop(h->eng));
}

static void timer_fire(ks_loop_t *loop, void *ud)
{
    host_timer_t *t = ud;
    struct ks_host *h = t->h;
    uint64_t id = t->id;
    if (!t->repeat)
        ks_u64map_del(&h->timers, id);
    t->cb(t->ud);
    if (!t->repeat)
        free(t);
}

static uint64_t h_timer_start(ks_host_t *h, int64_t after_ns, int64_t repeat_ns, ks_timer_cb cb,
                              void *ud)
{
    if (!cb || h->closing)
        return 0;
    host_timer_t *t = calloc(1, sizeof(*t));
    if (!t)
        return 0;
    t->h = h;
    t->repeat = repeat_ns > 0;
    t->cb = cb;
    t->ud = ud;
    t->id = ks_loop_timer_start(ks_engine_loop(h->eng), after_ns < 0 ? 0 : after_ns, repeat_ns,
                                timer_fire, t);
    if (!t->id || ks_u64map_put(&h->timers, t->id, t) != KS_OK) {
        if (t->id)
            ks_loop_timer_stop(ks_engine_loop(h->eng), t->id);
        free(t);
        return 0;
    }
    return t->id;
}

static void h_timer_stop(ks_host_t *h, uint64_t id)
{
    void *v;
    if (!ks_u64map_get(&h->timers, id, &v))
        return;
    ks_u64map_del(&h->timers, id);
    ks_loop_timer_stop(ks_engine_loop(h->eng), id);
    free(v);
}

static uint64_t h_http_request(ks_host_t *h, const ks_http_request_t *req, ks_http_cb cb, void *ud)
{
    ks_http_t *http = ks_engine_http(h->eng);
    return http && !h->closing ? ks_http_request(http, req, cb, ud) : 0;
}

static void h_http_cancel(ks_host_t *h, uint64_t id)
{
    ks_http_t *http = ks_engine_http(h->eng);
    if (http)
        ks_http_cancel(http, id);
}

static ks_ws_t *h_ws_connect(ks_host_t *h, const ks_ws_options_t *opt, const ks_ws_callbacks_t *cb,
                             void *ud)
{
    ks_wsctx_t *ws = ks_engine_ws(h->eng);
    return ws && !h->closing ? ks_ws_connect(ws, opt, cb, ud) : NULL;
}

static void h_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                          uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n);
}

static void h_sha256(const void *msg, size_t len, uint8_t out[32])
{
    SHA256(msg, len, out);
}

/* Secrets come from the environment (NAME) or from a file named by NAME_FILE that only
 * its owner may read. The value is registered with the logger so it is masked
 * wherever it might be printed. */
static int h_secret_get(ks_host_t *h, const char *name, char *buf, size_t cap)
{
    char fname[160];
    const char *v = getenv(name);
    if (v && *v) {
        if (strlen(v) + 1 > cap)
            return KS_ERANGE;
        strcpy(buf, v);
        ks_log_add_secret(buf);
        return KS_OK;
    }
    snprintf(fname, sizeof(fname), "%s_FILE", name);
    const char *path = getenv(fname);
    if (!path || !*path)
        return KS_ENOENT;
    struct stat st;
    if (stat(path, &st) != 0)
        return KS_ENOENT;
    if (st.st_mode & 077) {
        ks_log_error(h->component,
                     "secret file for %s is readable by group or others (mode %o); "
                     "chmod 600 it",
                     name, (unsigned)(st.st_mode & 0777));
        return KS_EAUTH;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return KS_ENOENT;
    size_t n = fread(buf, 1, cap - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more)
        return KS_ERANGE;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    ks_log_add_secret(buf);
    return KS_OK;
}

static int h_instrument_upsert(ks_host_t *h, const ks_instrument_t *inst, int32_t *id)
{
    if (!inst || !id || h->kind != KS_PLUGIN_EXCHANGE)
        return KS_EINVAL;
    return ks_engine_instrument_upsert(h->eng, h, inst, id);
}

static int h_instrument_find(ks_host_t *h, const char *symbol, int32_t *id)
{
    if (h->kind != KS_PLUGIN_EXCHANGE || !symbol || !id)
        return KS_EINVAL;
    int32_t i = ks_engine_find_inst(h->eng, (uint32_t)h->index, symbol);
    if (i < 0)
        return KS_ENOENT;
    *id = i;
    return KS_OK;
}

static int h_instrument_get(ks_host_t *h, int32_t id, ks_instrument_t *out)
{
    const ks_inst_rec_t *r = ks_market_inst(ks_engine_market(h->eng), id);
    if (!r || !out)
        return KS_ENOENT;
    uint32_t size = out->struct_size ? out->struct_size : sizeof(*out);
    memcpy(out, &r->spec, size < sizeof(r->spec) ? size : sizeof(r->spec));
    out->struct_size = size < sizeof(r->spec) ? size : sizeof(r->spec);
    return KS_OK;
}

static int h_emit(ks_host_t *h, const ks_event_t *ev)
{
    return ks_engine_emit(h->eng, h, ev);
}

static void h_metric(ks_host_t *h, const char *name, double value)
{
    ks_log_debug(h->component, "metric %s=%g", name, value);
}

static int h_kv_get(ks_host_t *h, const char *key, void *buf, size_t cap, size_t *len)
{
    ks_store_t *st = ks_engine_store(h->eng);
    return st ? ks_store_kv_get(st, h->name, key, buf, cap, len) : KS_ENOENT;
}

static int h_kv_set(ks_host_t *h, const char *key, const void *val, size_t len)
{
    ks_store_t *st = ks_engine_store(h->eng);
    return st ? ks_store_kv_set(st, h->name, key, val, len) : KS_ESTATE;
}

static void h_ratelimit_feedback(ks_host_t *h, const ks_ratelimit_info_t *info)
{
    if (info && h->kind == KS_PLUGIN_EXCHANGE)
        ks_engine_ratelimit_feedback(h->eng, h, info);
}

static int h_request_action(ks_host_t *h, const ks_action_t *act)
{
    return act ? ks_engine_action(h->eng, h, act) : KS_EINVAL;
}

static int h_replay_span(ks_host_t *h, int64_t start_ns, int64_t end_ns)
{
    if (h->kind != KS_PLUGIN_EXCHANGE || end_ns < start_ns)
        return KS_EINVAL;
    return ks_engine_set_replay_span(h->eng, start_ns, end_ns);
}

static const ks_host_api_t host_api = {
    .struct_size = sizeof(ks_host_api_t),
    .abi_major = KS_ABI_MAJOR,
    .abi_minor = KS_ABI_MINOR,
    .log = h_log,
    .now_ns = h_now_ns,
    .wall_ns = h_wall_ns,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .http_request = h_http_request,
    .http_cancel = h_http_cancel,
    .ws_connect = h_ws_connect,
    .ws_send = ks_ws_send,
    .ws_close = ks_ws_close,
    .hmac_sha256 = h_hmac_sha256,
    .sha256 = h_sha256,
    .secret_get = h_secret_get,
    .instrument_upsert = h_instrument_upsert,
    .instrument_find = h_instrument_find,
    .instrument_get = h_instrument_get,
    .emit = h_emit,
    .metric = h_metric,
    .kv_get = h_kv_get,
    .kv_set = h_kv_set,
    .ratelimit_feedback = h_ratelimit_feedback,
    .request_action = h_request_action,
    .replay_span = h_replay_span,
};

const ks_host_api_t *ks_hostapi_table(void)
{
    return &host_api;
}

void ks_host_init(struct ks_host *h, ks_engine_t *eng, int kind, int index, const char *name)
{
    memset(h, 0, sizeof(*h));
    h->eng = eng;
    h->kind = kind;
    h->index = index;
    ks_strlcpy(h->name, name, sizeof(h->name));
    snprintf(h->component, sizeof(h->component), "%s.%s",
             kind == KS_PLUGIN_EXCHANGE ? "venue" : "risk", name);
}

void ks_host_release(struct ks_host *h)
{
    size_t it = 0;
    uint64_t id;
    void *v;
    h->closing = true;
    while (ks_u64map_next(&h->timers, &it, &id, &v)) {
        ks_loop_timer_stop(ks_engine_loop(h->eng), id);
        free(v);
    }
    ks_u64map_free(&h->timers);
}
