/* The Bybit v5 exchange plugin: spot + USDT linear perpetuals on a Unified Trading
 * Account. Config, the operations table and the glue between the modules (see bybit.h
 * for the map and docs/bybit.md for behaviour). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bybit.h"

#define BYBIT_VERSION "0.1.0"

static const char *const mainnet_urls[4] = {
    "https://api.bybit.com", "wss://stream.bybit.com/v5/public/linear",
    "wss://stream.bybit.com/v5/public/spot", "wss://stream.bybit.com/v5/private"};
static const char *const testnet_urls[4] = {
    "https://api-testnet.bybit.com", "wss://stream-testnet.bybit.com/v5/public/linear",
    "wss://stream-testnet.bybit.com/v5/public/spot", "wss://stream-testnet.bybit.com/v5/private"};

/* ---- config --------------------------------------------------------------------------- */

static int cfg_err(char *err, size_t err_len, const char *fmt, ...) KS_PRINTF(3, 4);
static int cfg_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return KS_EINVAL;
}

/* Copies a URL, expanding ${NAME} and ${NAME:-default} from the environment (so an
 * emulator's port can be passed in: "http://127.0.0.1:${BYBIT_EMU_PORT:-18080}"). */
static int expand_url(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (in[i] == '$' && i + 1 < len && in[i + 1] == '{') {
            const char *end = memchr(in + i, '}', len - i);
            if (!end)
                return KS_EINVAL;
            char name[64], def[128] = "";
            size_t n = (size_t)(end - (in + i + 2));
            const char *dflt = NULL;
            for (size_t k = 0; k + 1 < n; k++)
                if (in[i + 2 + k] == ':' && in[i + 3 + k] == '-') {
                    dflt = in + i + 4 + k;
                    snprintf(def, sizeof(def), "%.*s", (int)(n - k - 2), dflt);
                    n = k;
                    break;
                }
            if (!n || n >= sizeof(name))
                return KS_EINVAL;
            memcpy(name, in + i + 2, n);
            name[n] = '\0';
            const char *v = getenv(name);
            if (!v || !*v) {
                if (!dflt)
                    return KS_ENOENT;
                v = def;
            }
            int w = snprintf(out + o, cap - o, "%s", v);
            if (w < 0 || (size_t)w >= cap - o)
                return KS_ERANGE;
            o += (size_t)w;
            i = (size_t)(end - in) + 1;
            continue;
        }
        if (o + 1 >= cap)
            return KS_ERANGE;
        out[o++] = in[i++];
    }
    out[o] = '\0';
    return KS_OK;
}

static int read_int(const ks_bybit_json_t *js, int v, const char *key, int32_t lo, int32_t hi,
                    int32_t *out, char *err, size_t err_len)
{
    int64_t x;
    if (ks_bybit_json_type(js, v) != KS_BJ_NUMBER || ks_bybit_json_i64(js, v, &x) != KS_OK ||
        x < lo || x > hi)
        return cfg_err(err, err_len, "%s: expected an integer in [%d, %d]", key, lo, hi);
    *out = (int32_t)x;
    return KS_OK;
}

static int read_str(const ks_bybit_json_t *js, int v, const char *key, char *out, size_t cap,
                    char *err, size_t err_len)
{
    if (ks_bybit_json_type(js, v) != KS_BJ_STRING)
        return cfg_err(err, err_len, "%s: expected a string", key);
    if (ks_bybit_json_str(js, v, out, cap) >= (int)cap)
        return cfg_err(err, err_len, "%s: too long", key);
    return KS_OK;
}

/* A fee rate: a decimal as a string or a number, in [-0.01, 0.01] (negative: a rebate). */
static int read_fee(const ks_bybit_json_t *js, int v, const char *cat, const char *which,
                    ks_dec_t *out, char *err, size_t err_len)
{
    ks_dec_t x;
    int t = ks_bybit_json_type(js, v);
    if ((t != KS_BJ_STRING && t != KS_BJ_NUMBER) || ks_bybit_json_dec(js, v, &x) != KS_OK ||
        ks_dec_cmp(x, KS_DEC(-1, 2)) < 0 || ks_dec_cmp(x, KS_DEC(1, 2)) > 0)
        return cfg_err(err, err_len, "fees.%s.%s: expected a decimal in [-0.01, 0.01]", cat, which);
    *out = x;
    return KS_OK;
}

/* "fees": {"spot": {"maker": "0.001", "taker": "0.001"}, "linear": {...}} */
static int read_fees(const ks_bybit_json_t *js, int v, ks_bybit_cfg_t *cfg, char *err,
                     size_t err_len)
{
    if (ks_bybit_json_type(js, v) != KS_BJ_OBJECT)
        return cfg_err(err, err_len, "fees: expected an object with \"linear\" and/or \"spot\"");
    for (int c = ks_bybit_json_first(js, v); c > 0; c = ks_bybit_json_next(js, c)) {
        char cat_key[24], key[24];
        size_t len;
        int kt = ks_bybit_json_key_of(js, c);
        const char *k = ks_bybit_json_raw(js, kt, &len);
        int cat = k ? ks_bybit_cat_parse(k, len) : -1;
        ks_bybit_json_str(js, kt, cat_key, sizeof(cat_key));
        if (cat < 0)
            return cfg_err(err, err_len, "fees.%s: unknown key", cat_key);
        if (ks_bybit_json_type(js, c) != KS_BJ_OBJECT)
            return cfg_err(err, err_len,
                           "fees.%s: expected an object with \"maker\" and/or \"taker\"", cat_key);
        for (int f = ks_bybit_json_first(js, c); f > 0; f = ks_bybit_json_next(js, f)) {
            int rc;
            ks_bybit_json_str(js, ks_bybit_json_key_of(js, f), key, sizeof(key));
            if (strcmp(key, "maker") == 0)
                rc = read_fee(js, f, cat_key, key, &cfg->maker_fee[cat], err, err_len);
            else if (strcmp(key, "taker") == 0)
                rc = read_fee(js, f, cat_key, key, &cfg->taker_fee[cat], err, err_len);
            else
                rc = cfg_err(err, err_len, "fees.%s.%s: unknown key", cat_key, key);
            if (rc != KS_OK)
                return rc;
        }
    }
    return KS_OK;
}

static int parse_config(ks_bybit_cfg_t *cfg, const char *text, char *err, size_t err_len)
{
    ks_bybit_json_t js = {0};
    int rc = KS_OK;
    int network = 0; /* 0 mainnet, 1 testnet, 2 custom */
    char raw_url[4][KS_BYBIT_URL_LEN] = {"", "", "", ""};
    static const char *const url_keys[4] = {"rest_url", "ws_public_linear", "ws_public_spot",
                                            "ws_private"};

    memset(cfg, 0, sizeof(*cfg));
    ks_strlcpy(cfg->api_key_env, "BYBIT_API_KEY", sizeof(cfg->api_key_env));
    ks_strlcpy(cfg->api_secret_env, "BYBIT_API_SECRET", sizeof(cfg->api_secret_env));
    cfg->recv_window_ms = 5000;
    cfg->book_depth = 50;
    cfg->cat_enabled[KS_BYBIT_LINEAR] = cfg->cat_enabled[KS_BYBIT_SPOT] = true;
    cfg->decode_category = KS_BYBIT_LINEAR;
    cfg->ping_interval_ms = 20000;
    cfg->pong_timeout_ms = 10000;
    cfg->reconnect_min_ms = 500;
    cfg->reconnect_max_ms = 30000;
    cfg->http_timeout_ms = 10000;
    cfg->order_timeout_ms = 4000;
    cfg->instruments_refresh_s = 600;
    /* Bybit's published non-VIP schedule. */
    cfg->maker_fee[KS_BYBIT_SPOT] = KS_DEC(1, 3);
    cfg->taker_fee[KS_BYBIT_SPOT] = KS_DEC(1, 3);
    cfg->maker_fee[KS_BYBIT_LINEAR] = KS_DEC(2, 4);
    cfg->taker_fee[KS_BYBIT_LINEAR] = KS_DEC(55, 5);

    if (!text || !*text)
        text = "{}";
    if (ks_bybit_json_parse(&js, text, strlen(text)) != KS_OK) {
        rc = cfg_err(err, err_len, "config: invalid JSON at byte %u: %s", js.err_off,
                     js.err ? js.err : "?");
        goto out;
    }
    if (ks_bybit_json_type(&js, 0) != KS_BJ_OBJECT) {
        rc = cfg_err(err, err_len, "config: expected an object");
        goto out;
    }
    for (int v = ks_bybit_json_first(&js, 0); v > 0 && rc == KS_OK;
         v = ks_bybit_json_next(&js, v)) {
        char key[48];
        ks_bybit_json_str(&js, ks_bybit_json_key_of(&js, v), key, sizeof(key));
        int ui = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(key, url_keys[i]) == 0)
                ui = i;
        if (strcmp(key, "network") == 0) {
            if (ks_bybit_json_eq(&js, v, "mainnet"))
                network = 0;
            else if (ks_bybit_json_eq(&js, v, "testnet"))
                network = 1;
            else if (ks_bybit_json_eq(&js, v, "custom"))
                network = 2;
            else
                rc = cfg_err(err, err_len,
                             "network: expected \"mainnet\", \"testnet\" or \"custom\"");
        } else if (ui >= 0) {
            rc = read_str(&js, v, key, raw_url[ui], sizeof(raw_url[ui]), err, err_len);
        } else if (strcmp(key, "api_key_env") == 0) {
            rc = read_str(&js, v, key, cfg->api_key_env, sizeof(cfg->api_key_env), err, err_len);
        } else if (strcmp(key, "api_secret_env") == 0) {
            rc = read_str(&js, v, key, cfg->api_secret_env, sizeof(cfg->api_secret_env), err,
                          err_len);
        } else if (strcmp(key, "recv_window_ms") == 0) {
            rc = read_int(&js, v, key, 100, 60000, &cfg->recv_window_ms, err, err_len);
        } else if (strcmp(key, "book_depth") == 0) {
            rc = read_int(&js, v, key, 1, 1000, &cfg->book_depth, err, err_len);
            if (rc == KS_OK && cfg->book_depth != 1 && cfg->book_depth != 50 &&
                cfg->book_depth != 200 && cfg->book_depth != 500 && cfg->book_depth != 1000)
                rc = cfg_err(err, err_len, "book_depth: expected 1, 50, 200, 500 or 1000");
        } else if (strcmp(key, "symbols") == 0) {
            if (ks_bybit_json_type(&js, v) != KS_BJ_ARRAY) {
                rc = cfg_err(err, err_len, "symbols: expected an array of venue symbols");
                continue;
            }
            uint32_t n = js.tok[v].count;
            cfg->symbols = calloc(n ? n : 1, sizeof(*cfg->symbols));
            if (!cfg->symbols) {
                rc = KS_ENOMEM;
                continue;
            }
            for (int e = ks_bybit_json_first(&js, v); e > 0 && rc == KS_OK;
                 e = ks_bybit_json_next(&js, e)) {
                char *dst = cfg->symbols[cfg->n_symbols];
                if (ks_bybit_json_type(&js, e) != KS_BJ_STRING ||
                    ks_bybit_json_str(&js, e, dst, KS_BYBIT_SYM_LEN) >= KS_BYBIT_SYM_LEN || !dst[0])
                    rc = cfg_err(err, err_len,
                                 "symbols[%u]: expected a venue symbol like "
                                 "\"BTCUSDT\"",
                                 cfg->n_symbols);
                else
                    cfg->n_symbols++;
            }
        } else if (strcmp(key, "categories") == 0) {
            if (ks_bybit_json_type(&js, v) != KS_BJ_ARRAY || !js.tok[v].count) {
                rc = cfg_err(err, err_len, "categories: expected a non-empty array");
                continue;
            }
            cfg->cat_enabled[0] = cfg->cat_enabled[1] = false;
            for (int e = ks_bybit_json_first(&js, v); e > 0; e = ks_bybit_json_next(&js, e)) {
                size_t len;
                const char *s = ks_bybit_json_raw(&js, e, &len);
                int c = s && ks_bybit_json_type(&js, e) == KS_BJ_STRING ? ks_bybit_cat_parse(s, len)
                                                                        : -1;
                if (c < 0) {
                    rc = cfg_err(err, err_len, "categories: expected \"linear\" and/or \"spot\"");
                    break;
                }
                cfg->cat_enabled[c] = true;
            }
        } else if (strcmp(key, "decode_only") == 0) {
            if (ks_bybit_json_bool(&js, v, &cfg->decode_only) != KS_OK ||
                ks_bybit_json_type(&js, v) == KS_BJ_STRING)
                rc = cfg_err(err, err_len, "decode_only: expected true or false");
        } else if (strcmp(key, "decode_category") == 0) {
            size_t len;
            const char *s = ks_bybit_json_raw(&js, v, &len);
            int c = s ? ks_bybit_cat_parse(s, len) : -1;
            if (c < 0)
                rc = cfg_err(err, err_len, "decode_category: expected \"linear\" or \"spot\"");
            else
                cfg->decode_category = (uint8_t)c;
        } else if (strcmp(key, "ping_interval_ms") == 0) {
            rc = read_int(&js, v, key, 50, 600000, &cfg->ping_interval_ms, err, err_len);
        } else if (strcmp(key, "pong_timeout_ms") == 0) {
            rc = read_int(&js, v, key, 50, 600000, &cfg->pong_timeout_ms, err, err_len);
        } else if (strcmp(key, "reconnect_min_ms") == 0) {
            rc = read_int(&js, v, key, 10, 600000, &cfg->reconnect_min_ms, err, err_len);
        } else if (strcmp(key, "reconnect_max_ms") == 0) {
            rc = read_int(&js, v, key, 10, 3600000, &cfg->reconnect_max_ms, err, err_len);
        } else if (strcmp(key, "http_timeout_ms") == 0) {
            rc = read_int(&js, v, key, 100, 600000, &cfg->http_timeout_ms, err, err_len);
        } else if (strcmp(key, "order_timeout_ms") == 0) {
            rc = read_int(&js, v, key, 100, 600000, &cfg->order_timeout_ms, err, err_len);
        } else if (strcmp(key, "instruments_refresh_s") == 0) {
            rc = read_int(&js, v, key, 0, 86400, &cfg->instruments_refresh_s, err, err_len);
        } else if (strcmp(key, "fees") == 0) {
            rc = read_fees(&js, v, cfg, err, err_len);
        } else {
            rc = cfg_err(err, err_len, "%s: unknown key", key);
        }
    }
    if (rc != KS_OK)
        goto out;
    if (cfg->reconnect_max_ms < cfg->reconnect_min_ms)
        cfg->reconnect_max_ms = cfg->reconnect_min_ms;
    for (int i = 0; i < 4; i++) {
        const char *src = raw_url[i][0]  ? raw_url[i]
                          : network == 0 ? mainnet_urls[i]
                          : network == 1 ? testnet_urls[i]
                                         : NULL;
        char *dst = i == 0 ? cfg->rest_url : cfg->ws_url[i - 1];
        if (!src) {
            rc = cfg_err(err, err_len, "%s: required with \"network\": \"custom\"", url_keys[i]);
            goto out;
        }
        int e = expand_url(src, strlen(src), dst, KS_BYBIT_URL_LEN);
        if (e != KS_OK) {
            rc = cfg_err(err, err_len, "%s: %s", url_keys[i],
                         e == KS_ENOENT
                             ? "names an unset environment variable (use ${NAME:-default})"
                             : "invalid ${...} or too long");
            goto out;
        }
        size_t n = strlen(dst);
        while (n && dst[n - 1] == '/')
            dst[--n] = '\0';
        if (i == 0 ? strncmp(dst, "http://", 7) != 0 && strncmp(dst, "https://", 8) != 0
                   : strncmp(dst, "ws://", 5) != 0 && strncmp(dst, "wss://", 6) != 0) {
            rc = cfg_err(err, err_len, "%s: expected an %s URL", url_keys[i],
                         i == 0 ? "http(s)://" : "ws(s)://");
            goto out;
        }
    }
out:
    ks_bybit_json_free(&js);
    return rc;
}

/* ---- operations ------------------------------------------------------------------------ */

static void bybit_close(void *self);

static int bybit_open(const ks_host_api_t *api, ks_host_t *host, const char *venue,
                      const char *config_json, void **self, char *err, size_t err_len)
{
    ks_bybit_t *bb = calloc(1, sizeof(*bb));
    if (!bb) {
        snprintf(err, err_len, "out of memory");
        return KS_ENOMEM;
    }
    bb->api = api;
    bb->host = host;
    ks_strlcpy(bb->venue, venue ? venue : "bybit", sizeof(bb->venue));
    int rc = parse_config(&bb->cfg, config_json, err, err_len);
    if (rc != KS_OK) {
        free(bb->cfg.symbols);
        free(bb);
        return rc;
    }
    bb->live = !bb->cfg.decode_only;
    if (bb->live) {
        int k = api->secret_get(host, bb->cfg.api_key_env, bb->key, sizeof(bb->key));
        int s = api->secret_get(host, bb->cfg.api_secret_env, bb->secret, sizeof(bb->secret));
        if (k == KS_OK && s == KS_OK) {
            bb->have_keys = true;
        } else if (k == KS_ENOENT && s == KS_ENOENT) {
            api->log(host, KS_LOG_INFO, "no %s/%s: public market data only", bb->cfg.api_key_env,
                     bb->cfg.api_secret_env);
        } else {
            snprintf(err, err_len, "credentials %s/%s: %s", bb->cfg.api_key_env,
                     bb->cfg.api_secret_env,
                     k != KS_OK && k != KS_ENOENT   ? ks_strerror(k)
                     : s != KS_OK && s != KS_ENOENT ? ks_strerror(s)
                                                    : "only one of the two is set");
            bybit_close(bb);
            return KS_EAUTH;
        }
    }
    ks_bybit_conn_init(bb);
    *self = bb;
    return KS_OK;
}

static void bybit_close(void *self)
{
    ks_bybit_t *bb = self;
    if (!bb)
        return;
    bb->closing = true;
    if (bb->live) {
        ks_bybit_conn_stop(bb);
        ks_bybit_rest_stop(bb);
    }
    ks_bybit_inst_free_all(bb);
    ks_bybit_json_free(&bb->js);
    ks_bybit_orders_free(&bb->orders);
    ks_bybit_seen_free(&bb->seen_exec);
    ks_bybit_seen_free(&bb->seen_final);
    free(bb->lv_bids);
    free(bb->lv_asks);
    free(bb->buf);
    free(bb->deferred);
    free(bb->cfg.symbols);
    /* Wipe the credentials before the memory goes back to the allocator. */
    volatile char *p = bb->secret;
    for (size_t i = 0; i < sizeof(bb->secret); i++)
        p[i] = 0;
    p = bb->key;
    for (size_t i = 0; i < sizeof(bb->key); i++)
        p[i] = 0;
    free(bb);
}

static int bybit_start(void *self)
{
    ks_bybit_t *bb = self;
    if (!bb->live || bb->started)
        return KS_OK;
    bb->started = true;
    ks_bybit_codec_conn(bb, KS_CONN_CONNECTING, "%s", bb->cfg.rest_url);
    if (ks_bybit_rest_start(bb) != KS_OK)
        return KS_EIO;
    ks_bybit_conn_start(bb);
    return KS_OK;
}

static int bybit_subscribe(void *self, int32_t inst, uint32_t channels)
{
    ks_bybit_t *bb = self;
    ks_bybit_inst_t *in = ks_bybit_inst_resolve(bb, inst);
    if (!in)
        return KS_ENOENT;
    in->channels |= channels;
    if (bb->live)
        ks_bybit_conn_subscribe_inst(bb, in);
    return KS_OK;
}

static ks_bybit_inst_t *trading_inst(ks_bybit_t *bb, int32_t inst)
{
    ks_bybit_inst_t *in = ks_bybit_inst_by_id(bb, inst);
    return in && bb->live && bb->cfg.cat_enabled[in->cat] ? in : NULL;
}

static int bybit_place(void *self, const ks_order_cmd_t *cmd)
{
    ks_bybit_t *bb = self;
    if (!cmd)
        return KS_EINVAL;
    ks_bybit_inst_t *in = trading_inst(bb, cmd->inst);
    if (!in)
        return KS_ENOENT;
    if (!bb->have_keys)
        return KS_EAUTH;
    return ks_bybit_rest_place(bb, cmd, in);
}

static int bybit_cancel(void *self, const ks_cancel_cmd_t *cmd)
{
    ks_bybit_t *bb = self;
    if (!cmd)
        return KS_EINVAL;
    ks_bybit_inst_t *in = trading_inst(bb, cmd->inst);
    if (!in)
        return KS_ENOENT;
    if (!bb->have_keys)
        return KS_EAUTH;
    return ks_bybit_rest_cancel(bb, cmd, in);
}

static int bybit_cancel_all(void *self, int32_t inst)
{
    ks_bybit_t *bb = self;
    ks_bybit_inst_t *in = NULL;
    if (!bb->live || !bb->have_keys)
        return bb->live ? KS_EAUTH : KS_ENOTSUP;
    if (inst >= 0 && !(in = trading_inst(bb, inst)))
        return KS_ENOENT;
    return ks_bybit_rest_cancel_all(bb, in);
}

static int bybit_amend(void *self, const ks_amend_cmd_t *cmd)
{
    ks_bybit_t *bb = self;
    if (!cmd)
        return KS_EINVAL;
    ks_bybit_inst_t *in = trading_inst(bb, cmd->inst);
    if (!in)
        return KS_ENOENT;
    if (!bb->have_keys)
        return KS_EAUTH;
    return ks_bybit_rest_amend(bb, cmd, in);
}

static int bybit_fetch(void *self, uint32_t what, int32_t inst, const char *cloid, uint64_t req_id)
{
    ks_bybit_t *bb = self;
    if (!bb->live)
        return KS_ENOTSUP;
    if (what < KS_FETCH_OPEN_ORDERS || what > KS_FETCH_ORDER)
        return KS_EINVAL;
    ks_bybit_inst_t *in = inst >= 0 ? ks_bybit_inst_by_id(bb, inst) : NULL;
    return ks_bybit_rest_fetch(bb, what, in, cloid, req_id);
}

static int bybit_set_leverage(void *self, int32_t inst, int32_t leverage)
{
    ks_bybit_t *bb = self;
    ks_bybit_inst_t *in = trading_inst(bb, inst);
    if (!in || in->cat != KS_BYBIT_LINEAR)
        return KS_ENOENT;
    if (!bb->have_keys)
        return KS_EAUTH;
    if (leverage < 1 || (in->spec.max_leverage > 0 && leverage > in->spec.max_leverage))
        return KS_EINVAL;
    return ks_bybit_rest_leverage(bb, in, leverage);
}

static uint32_t bybit_request_weight(void *self, uint32_t kind, int32_t inst)
{
    /* Bybit limits per endpoint and per second, one request = one unit (§9). */
    return 1;
}

static int bybit_decode(void *self, const char *msg, size_t len)
{
    ks_bybit_t *bb = self;
    if (!msg)
        return KS_EINVAL;
    int n = ks_bybit_codec_decode(bb, msg, len);
    return n < 0 ? n : KS_OK;
}

static const ks_exchange_ops_t bybit_ops = {
    .struct_size = sizeof(ks_exchange_ops_t),
    .caps = KS_XCAP_UNIFIED_WALLET | KS_XCAP_AMEND | KS_XCAP_QUERY_BY_CLOID,
    .open = bybit_open,
    .close = bybit_close,
    .start = bybit_start,
    .subscribe = bybit_subscribe,
    .place = bybit_place,
    .cancel = bybit_cancel,
    .cancel_all = bybit_cancel_all,
    .amend = bybit_amend,
    .fetch = bybit_fetch,
    .transfer = NULL, /* Unified Trading Account: spot and perps share one wallet */
    .set_leverage = bybit_set_leverage,
    .request_weight = bybit_request_weight,
    .decode = bybit_decode,
};

static const ks_plugin_desc_t bybit_desc =
    KS_PLUGIN_DESC(KS_PLUGIN_EXCHANGE, "bybit", BYBIT_VERSION,
                   "Bybit v5: spot + USDT linear perpetuals (Unified Trading Account)", &bybit_ops);

KS_PLUGIN_DEFINE(bybit_desc)
