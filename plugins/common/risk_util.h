/* risk_util: what the shipped risk modules share — reading the config object, exact
 * comparisons of products, prices from a market view, decision reasons, host actions and
 * per-instrument state arrays. Compiled into each plugin; nothing here allocates except
 * ks_risk_util_grow() and ks_risk_util_config(), which run outside check(). */
#ifndef KS_PLUGINS_RISK_UTIL_H
#define KS_PLUGINS_RISK_UTIL_H

#include <kestrel/kestrel.h>

#define KS_RISK_UTIL_MS_NS   1000000LL
#define KS_RISK_UTIL_FOREVER INT64_MAX

/* Parses a plugin's config text (NULL or blank means {}) and requires a JSON object. On
 * failure writes one line into err. Caller owns doc; free with ks_json_free() in
 * either case. */
int ks_risk_util_config(const char *config_json, ks_json_doc_t *doc, const ks_json_t **root,
                        char *err, size_t err_len);

/* Compares a*b with c*d exactly (no rounding, no overflow): -1, 0 or 1. */
int ks_risk_util_cmp_prod(ks_dec_t a, ks_dec_t b, ks_dec_t c, ks_dec_t d);

/* a*b rounded `mode` to `scale` fraction digits, dropping digits (scale 12, 8, 4, 0) when
 * the value is too large for that scale. KS_ERANGE only when even an integer does not fit. */
int ks_risk_util_mul(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out);

/* a / b rounded `mode` to `scale` (0..18) fraction digits, like ks_dec_div() but with one
 * 128-bit division instead of digit-by-digit long division (check() budgets are tight).
 * KS_EINVAL when b is zero, KS_ERANGE when the quotient does not fit. */
int ks_risk_util_div(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out);

/* 10000 * |a - b| / b rounded half-up to 2 decimals: a deviation in basis points, for
 * messages only (decisions compare products exactly). Zero when b is zero. */
ks_dec_t ks_risk_util_bps(ks_dec_t a, ks_dec_t b);
/* 100 * a / b rounded half-up to 2 decimals, for messages; zero when b is zero. */
ks_dec_t ks_risk_util_pct(ks_dec_t a, ks_dec_t b);

/* Mid ((bid + ask) / 2) when both sides are quoted; false otherwise. */
bool ks_risk_util_mid(const ks_market_view_t *v, ks_dec_t *out);
/* The reference price of a market: mark when the venue sends one, else the mid. *what
 * gets "mark" or "mid" for messages. */
bool ks_risk_util_mark(const ks_market_view_t *v, ks_dec_t *out, const char **what);

/* Formats d into buf (KS_DEC_STRLEN bytes); returns buf. */
const char *ks_risk_util_fmt(ks_dec_t d, char *buf);

/* Fills a non-ALLOW decision: verdict plus a one-line reason (truncated to fit). */
void ks_risk_util_decide(ks_risk_decision_t *out, uint32_t verdict, const char *fmt, ...)
    KS_PRINTF(3, 4);

/* snprintf into a one-line buffer where truncating a long reason is intended. */
void ks_risk_util_line(char *buf, size_t cap, const char *fmt, ...) KS_PRINTF(3, 4);

/* The unified symbol of inst for messages, or "#<id>" when unknown. Writes into buf. */
const char *ks_risk_util_symbol(const ks_portfolio_t *pf, int32_t inst, char *buf, size_t cap);

/* Sends one action through api->request_action (kind, strategy NULL for all, inst -1 for
 * all, fraction for KS_ACT_REDUCE) and returns its status; a refusal is logged. `strategy`
 * and `reason` are borrowed for the call. */
int ks_risk_util_act(const ks_host_api_t *api, ks_host_t *host, uint32_t kind, const char *strategy,
                     int32_t inst, ks_dec_t fraction, const char *reason);

/* Sets a gauge when the host offers metrics. `name` is sanitized to [A-Za-z0-9_]. */
void ks_risk_util_metric(const ks_host_api_t *api, ks_host_t *host, const char *name, double value);

/* Makes *arr (of *cap elements of `elem` bytes, zero-filled) hold at least `need`
 * elements; new elements are zeroed. KS_ENOMEM leaves the array as it was. */
int ks_risk_util_grow(void **arr, int32_t *cap, int32_t need, size_t elem);

#endif
