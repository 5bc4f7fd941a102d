/* risk_util: helpers shared by the shipped risk modules (see risk_util.h). */
#include "risk_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef __int128 i128;
typedef unsigned __int128 u128;

int ks_risk_util_config(const char *config_json, ks_json_doc_t *doc, const ks_json_t **root,
                        char *err, size_t err_len)
{
    const char *text = config_json ? config_json : "";
    const char *p = text;
    char q[64];
    int rc;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (!*p)
        text = "{}";
    if ((rc = ks_json_parse(text, (size_t)-1, doc, err, err_len)) != KS_OK)
        return rc;
    if (doc->root->type != KS_JSON_OBJECT) {
        snprintf(err, err_len, "config: expected a JSON object, got %s",
                 ks_json_quote(doc->root, q, sizeof(q)));
        return KS_EINVAL;
    }
    *root = doc->root;
    return KS_OK;
}

static u128 pow10_u128(int n)
{
    u128 r = 1;
    while (n-- > 0)
        r *= 10;
    return r;
}

/* Magnitudes below 2^126 (products of two int64 mantissas) with scales 0..36. */
static int cmp_mag(u128 m1, int s1, u128 m2, int s2)
{
    if (s1 < s2) {
        u128 f = pow10_u128(s2 - s1);
        if (m1 > ~(u128)0 / f)
            return 1; /* m1 * f exceeds 2^128 > m2 */
        m1 *= f;
    } else if (s2 < s1) {
        u128 f = pow10_u128(s1 - s2);
        if (m2 > ~(u128)0 / f)
            return -1;
        m2 *= f;
    }
    return m1 < m2 ? -1 : m1 > m2 ? 1 : 0;
}

int ks_risk_util_cmp_prod(ks_dec_t a, ks_dec_t b, ks_dec_t c, ks_dec_t d)
{
    i128 p = (i128)a.mant * (i128)b.mant;
    i128 q = (i128)c.mant * (i128)d.mant;
    int sp = (p > 0) - (p < 0), sq = (q > 0) - (q < 0);
    if (sp != sq)
        return sp < sq ? -1 : 1;
    if (sp == 0)
        return 0;
    u128 mp = p < 0 ? -(u128)p : (u128)p;
    u128 mq = q < 0 ? -(u128)q : (u128)q;
    int r = cmp_mag(mp, a.scale + b.scale, mq, c.scale + d.scale);
    return sp > 0 ? r : -r;
}

int ks_risk_util_mul(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out)
{
    static const int fallback[] = {12, 8, 4, 0};
    int rc = ks_dec_mul_round(a, b, scale, mode, out);
    for (size_t i = 0; rc == KS_ERANGE && i < sizeof(fallback) / sizeof(fallback[0]); i++)
        if (fallback[i] < scale)
            rc = ks_dec_mul_round(a, b, fallback[i], mode, out);
    return rc;
}

int ks_risk_util_div(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out)
{
    if (b.mant == 0)
        return KS_EINVAL;
    if (scale < 0 || scale > KS_DEC_MAX_SCALE)
        return ks_dec_div(a, b, scale, mode, out);
    bool neg = (a.mant < 0) != (b.mant < 0) && a.mant != 0;
    u128 num = a.mant < 0 ? -(u128)a.mant : (u128)a.mant;
    u128 den = b.mant < 0 ? -(u128)b.mant : (u128)b.mant;
    int e = scale + b.scale - a.scale; /* a/b * 10^scale = num * 10^e / den */
    if (e >= 0) {
        u128 f = pow10_u128(e);
        if (num > ~(u128)0 / f)
            return ks_dec_div(a, b, scale, mode, out);
        num *= f;
    } else {
        u128 f = pow10_u128(-e);
        if (den > ~(u128)0 / f)
            return ks_dec_div(a, b, scale, mode, out);
        den *= f;
    }
    u128 q = num / den, r = num % den;
    bool up = false;
    switch (mode) {
    case KS_ROUND_FLOOR:
        up = neg && r;
        break;
    case KS_ROUND_CEIL:
        up = !neg && r;
        break;
    case KS_ROUND_TRUNC:
        break;
    case KS_ROUND_AWAY:
        up = r != 0;
        break;
    case KS_ROUND_HALF_UP:
        up = r && r >= den - r;
        break;
    case KS_ROUND_HALF_EVEN:
        up = r && (r > den - r || (r == den - r && (q & 1)));
        break;
    }
    q += up;
    if (q > (u128)INT64_MAX)
        return KS_ERANGE;
    *out = KS_DEC(neg ? -(int64_t)q : (int64_t)q, scale);
    return KS_OK;
}

ks_dec_t ks_risk_util_bps(ks_dec_t a, ks_dec_t b)
{
    ks_dec_t d, n, r;
    if (ks_dec_is_zero(b) || ks_dec_sub(a, b, &d) != KS_OK ||
        ks_risk_util_mul(ks_dec_abs(d), KS_DEC(10000, 0), 18, KS_ROUND_HALF_UP, &n) != KS_OK ||
        ks_dec_div(n, ks_dec_abs(b), 2, KS_ROUND_HALF_UP, &r) != KS_OK)
        return KS_DEC_ZERO;
    return ks_dec_normalize(r);
}

ks_dec_t ks_risk_util_pct(ks_dec_t a, ks_dec_t b)
{
    ks_dec_t n, r;
    if (ks_dec_is_zero(b) ||
        ks_risk_util_mul(a, KS_DEC(100, 0), 18, KS_ROUND_HALF_UP, &n) != KS_OK ||
        ks_dec_div(n, b, 2, KS_ROUND_HALF_UP, &r) != KS_OK)
        return KS_DEC_ZERO;
    return ks_dec_normalize(r);
}

bool ks_risk_util_mid(const ks_market_view_t *v, ks_dec_t *out)
{
    ks_dec_t s;
    if (ks_dec_sign(v->bid_px) <= 0 || ks_dec_sign(v->ask_px) <= 0 ||
        ks_dec_add(v->bid_px, v->ask_px, &s) != KS_OK ||
        ks_risk_util_mul(s, KS_DEC(5, 1), 18, KS_ROUND_HALF_EVEN, out) != KS_OK)
        return false;
    *out = ks_dec_normalize(*out);
    return true;
}

bool ks_risk_util_mark(const ks_market_view_t *v, ks_dec_t *out, const char **what)
{
    if (ks_dec_sign(v->mark) > 0) {
        *out = v->mark;
        *what = "mark";
        return true;
    }
    *what = "mid";
    return ks_risk_util_mid(v, out);
}

const char *ks_risk_util_fmt(ks_dec_t d, char *buf)
{
    if (ks_dec_format(d, buf, KS_DEC_STRLEN) < 0)
        snprintf(buf, KS_DEC_STRLEN, "?");
    return buf;
}

void ks_risk_util_decide(ks_risk_decision_t *out, uint32_t verdict, const char *fmt, ...)
{
    va_list ap;
    out->verdict = verdict;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

void ks_risk_util_line(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

const char *ks_risk_util_symbol(const ks_portfolio_t *pf, int32_t inst, char *buf, size_t cap)
{
    ks_instrument_t spec;
    KS_INIT(&spec);
    if (pf->api->instrument(pf, inst, &spec) == KS_OK && spec.symbol && spec.symbol[0])
        snprintf(buf, cap, "%s", spec.symbol);
    else
        snprintf(buf, cap, "#%d", (int)inst);
    return buf;
}

int ks_risk_util_act(const ks_host_api_t *api, ks_host_t *host, uint32_t kind, const char *strategy,
                     int32_t inst, ks_dec_t fraction, const char *reason)
{
    ks_action_t act;
    KS_INIT(&act);
    act.kind = kind;
    act.strategy = strategy;
    act.inst = inst;
    act.fraction = fraction;
    act.reason = reason;
    int rc = KS_HAS_FIELD(api, ks_host_api_t, request_action) && api->request_action
                 ? api->request_action(host, &act)
                 : KS_ENOTSUP;
    if (rc != KS_OK)
        api->log(host, KS_LOG_ERROR, "the host refused action %u (%s): %s", kind, ks_strerror(rc),
                 reason ? reason : "");
    return rc;
}

void ks_risk_util_metric(const ks_host_api_t *api, ks_host_t *host, const char *name, double value)
{
    char clean[96];
    size_t i = 0;
    if (!KS_HAS_FIELD(api, ks_host_api_t, metric) || !api->metric)
        return;
    for (; name[i] && i + 1 < sizeof(clean); i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        clean[i] = ok ? c : '_';
    }
    clean[i] = '\0';
    api->metric(host, clean, value);
}

int ks_risk_util_grow(void **arr, int32_t *cap, int32_t need, size_t elem)
{
    if (need <= *cap)
        return KS_OK;
    int32_t n = *cap ? *cap : 16;
    while (n < need)
        n = n > INT32_MAX / 2 ? need : n * 2;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return KS_ENOMEM;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(n - *cap) * elem);
    *arr = p;
    *cap = n;
    return KS_OK;
}
