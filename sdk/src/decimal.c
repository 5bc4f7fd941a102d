/* Exact decimal arithmetic for the SDK (see kestrel/decimal.h). Intermediate values
 * use 128-bit integers so that every operation on two int64 mantissas is exact before
 * the single, explicit rounding step. */
#include <kestrel/decimal.h>
#include <kestrel/error.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef __int128 i128;
typedef unsigned __int128 u128;

static const int64_t pow10_64[19] = {
    1LL,
    10LL,
    100LL,
    1000LL,
    10000LL,
    100000LL,
    1000000LL,
    10000000LL,
    100000000LL,
    1000000000LL,
    10000000000LL,
    100000000000LL,
    1000000000000LL,
    10000000000000LL,
    100000000000000LL,
    1000000000000000LL,
    10000000000000000LL,
    100000000000000000LL,
    1000000000000000000LL,
};

/* 10^n for 0 <= n <= 38. */
static u128 pow10_u128(int n)
{
    u128 r = 1;
    while (n-- > 0)
        r *= 10;
    return r;
}

static u128 mag(i128 v)
{
    return v < 0 ? (u128)(-(v + 1)) + 1 : (u128)v;
}

static int digit_count(u128 m)
{
    int n = 0;
    do {
        n++;
        m /= 10;
    } while (m);
    return n;
}

/* Rounds the magnitude q (with remainder r of divisor d, all >= 0) in direction mode;
 * neg says whether the true value is negative. */
static u128 round_mag(u128 q, u128 r, u128 d, bool neg, ks_round_t mode)
{
    if (r == 0)
        return q;
    switch (mode) {
    case KS_ROUND_TRUNC:
        return q;
    case KS_ROUND_FLOOR:
        return neg ? q + 1 : q;
    case KS_ROUND_CEIL:
        return neg ? q : q + 1;
    case KS_ROUND_AWAY:
        return q + 1;
    case KS_ROUND_HALF_UP:
        return 2 * r >= d ? q + 1 : q;
    case KS_ROUND_HALF_EVEN:
        if (2 * r > d)
            return q + 1;
        if (2 * r == d)
            return (q & 1) ? q + 1 : q;
        return q;
    }
    return q;
}

/* Stores sign * m at `scale` into out, dropping trailing zeros only when needed to fit
 * the scale limit or the int64 mantissa. */
static int fit(bool neg, u128 m, int scale, ks_dec_t *out)
{
    while (scale > KS_DEC_MAX_SCALE && m % 10 == 0) {
        m /= 10;
        scale--;
    }
    while (scale < 0) {
        if (m > (u128)INT64_MAX)
            return KS_ERANGE;
        m *= 10;
        scale++;
    }
    while (m > (u128)INT64_MAX && scale > 0 && m % 10 == 0) {
        m /= 10;
        scale--;
    }
    if (scale > KS_DEC_MAX_SCALE || m > (u128)INT64_MAX)
        return KS_ERANGE;
    out->mant = neg ? -(int64_t)m : (int64_t)m;
    out->scale = scale;
    return KS_OK;
}

/* Rounds sign * m * 10^-scale to `to` fraction digits (to may be negative), then fits. */
static int round_to(bool neg, u128 m, int scale, int to, ks_round_t mode, ks_dec_t *out)
{
    if (to >= scale)
        return fit(neg, m, scale, out);
    int drop = scale - to;
    if (drop > 38) {
        /* Everything is below the rounding unit: result is 0 or one unit. */
        u128 q = round_mag(0, m ? 1 : 0, (u128)-1, neg, mode);
        if (q && to < 0)
            return fit(neg, pow10_u128(-to), 0, out);
        return fit(neg, q, to < 0 ? 0 : to, out);
    }
    u128 d = pow10_u128(drop);
    u128 q = round_mag(m / d, m % d, d, neg, mode);
    if (to < 0) {
        if (-to > 38)
            return q ? KS_ERANGE : fit(neg, 0, 0, out);
        u128 p = pow10_u128(-to);
        if (q && q > ((u128)-1) / p)
            return KS_ERANGE;
        return fit(neg && q, q * p, 0, out);
    }
    return fit(neg && q, q, to, out);
}

/* Parses a decimal literal into sign, magnitude and a power of ten (value = m * 10^e).
 * Accepts at most 38 significant digits; further non-zero digits fail. */
static int parse_raw(const char *s, size_t len, bool *neg, u128 *m, int *e)
{
    size_t i = 0;
    bool any = false, point = false;
    u128 v = 0;
    int exp10 = 0;
    const u128 limit = pow10_u128(37);

    if (len == (size_t)-1)
        len = strlen(s);
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    *neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        *neg = s[i] == '-';
        i++;
    }
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (point)
                return KS_EINVAL;
            point = true;
            continue;
        }
        if (c < '0' || c > '9')
            break;
        any = true;
        if (v >= limit) {
            if (c != '0')
                return KS_ERANGE;
            if (!point)
                exp10++;
            continue;
        }
        v = v * 10 + (u128)(c - '0');
        if (point)
            exp10--;
    }
    if (!any)
        return KS_EINVAL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        int ev = 0, digits = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            eneg = s[i] == '-';
            i++;
        }
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (ev < 100000)
                ev = ev * 10 + (s[i] - '0');
            digits++;
        }
        if (!digits)
            return KS_EINVAL;
        exp10 += eneg ? -ev : ev;
    }
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i != len)
        return KS_EINVAL;
    *m = v;
    *e = exp10;
    return KS_OK;
}

int ks_dec_parse(const char *s, size_t len, ks_dec_t *out)
{
    bool neg;
    u128 m;
    int e, rc;

    if (!s || !out)
        return KS_EINVAL;
    if ((rc = parse_raw(s, len, &neg, &m, &e)) != KS_OK)
        return rc;
    if (m == 0) {
        *out = KS_DEC_ZERO;
        return KS_OK;
    }
    if (e > 38)
        return KS_ERANGE;
    if (e < -76)
        return KS_ERANGE;
    return fit(neg, m, -e, out);
}

int ks_dec_format(ks_dec_t d, char *buf, size_t cap)
{
    ks_dec_t n = ks_dec_normalize(d);
    char tmp[KS_DEC_STRLEN];
    char digits[24];
    u128 m = mag(n.mant);
    int nd = 0, pos = 0;

    do {
        digits[nd++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m);
    if (n.mant < 0)
        tmp[pos++] = '-';
    if (nd <= n.scale) {
        tmp[pos++] = '0';
        tmp[pos++] = '.';
        for (int i = 0; i < n.scale - nd; i++)
            tmp[pos++] = '0';
        for (int i = nd - 1; i >= 0; i--)
            tmp[pos++] = digits[i];
    } else {
        for (int i = nd - 1; i >= 0; i--) {
            tmp[pos++] = digits[i];
            if (i == n.scale && i > 0)
                tmp[pos++] = '.';
        }
    }
    tmp[pos] = '\0';
    if ((size_t)pos + 1 > cap)
        return KS_ERANGE;
    memcpy(buf, tmp, (size_t)pos + 1);
    return pos;
}

int ks_dec_format_fixed(ks_dec_t d, int scale, ks_round_t mode, char *buf, size_t cap)
{
    ks_dec_t r;
    int rc, len, have;

    if (scale < 0 || scale > KS_DEC_MAX_SCALE)
        return KS_EINVAL;
    if ((rc = ks_dec_rescale(d, scale, mode, &r)) != KS_OK)
        return rc;
    if ((len = ks_dec_format(r, buf, cap)) < 0)
        return len;
    if (scale == 0)
        return len;
    const char *dot = strchr(buf, '.');
    have = dot ? (int)(len - (dot - buf) - 1) : 0;
    int extra = scale - have + (dot ? 0 : 1);
    if ((size_t)(len + extra) + 1 > cap)
        return KS_ERANGE;
    if (!dot)
        buf[len++] = '.';
    while (have++ < scale)
        buf[len++] = '0';
    buf[len] = '\0';
    return len;
}

/* Both operands at a common scale as 128-bit values. */
static int align(ks_dec_t a, ks_dec_t b, i128 *x, i128 *y)
{
    int s = a.scale > b.scale ? a.scale : b.scale;
    *x = (i128)a.mant * (i128)pow10_64[s - a.scale];
    *y = (i128)b.mant * (i128)pow10_64[s - b.scale];
    return s;
}

static int fit_signed(i128 v, int scale, ks_dec_t *out)
{
    return fit(v < 0, mag(v), scale, out);
}

int ks_dec_add(ks_dec_t a, ks_dec_t b, ks_dec_t *out)
{
    i128 x, y;
    int s = align(a, b, &x, &y);
    return fit_signed(x + y, s, out);
}

int ks_dec_sub(ks_dec_t a, ks_dec_t b, ks_dec_t *out)
{
    i128 x, y;
    int s = align(a, b, &x, &y);
    return fit_signed(x - y, s, out);
}

int ks_dec_mul(ks_dec_t a, ks_dec_t b, ks_dec_t *out)
{
    return fit_signed((i128)a.mant * (i128)b.mant, a.scale + b.scale, out);
}

/* Like round_to, but when the integer part leaves no room for `to` fraction digits in
 * 18 significant digits, rounds at fewer digits instead of failing. */
static int round_fit(bool neg, u128 m, int scale, int to, ks_round_t mode, ks_dec_t *out)
{
    int excess = digit_count(m) - (scale - to) - 18;
    if (excess > 0)
        to -= excess;
    return round_to(neg, m, scale, to, mode, out);
}

int ks_dec_mul_round(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out)
{
    i128 p = (i128)a.mant * (i128)b.mant;
    if (scale > KS_DEC_MAX_SCALE)
        scale = KS_DEC_MAX_SCALE;
    return round_fit(p < 0, mag(p), a.scale + b.scale, scale, mode, out);
}

int ks_dec_div(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out)
{
    i128 x, y;
    u128 q, r, d;
    bool neg;
    int digits = 0;

    if (b.mant == 0)
        return KS_EINVAL;
    if (scale > KS_DEC_MAX_SCALE)
        scale = KS_DEC_MAX_SCALE;
    if (scale < 0) {
        /* Round to tens, hundreds...: divide a by 10^-scale exactly, round the quotient
         * to an integer, scale back up. */
        ks_dec_t shifted = {a.mant, a.scale - scale}, qi;
        int rc;
        if (shifted.scale > KS_DEC_MAX_SCALE)
            return KS_ERANGE;
        if ((rc = ks_dec_div(shifted, b, 0, mode, &qi)) != KS_OK)
            return rc;
        return ks_dec_mul(qi, (ks_dec_t){pow10_64[-scale], 0}, out);
    }
    align(a, b, &x, &y);
    neg = (x < 0) != (y < 0) && x != 0;
    d = mag(y);
    q = mag(x) / d;
    r = mag(x) % d;
    if (q > (u128)INT64_MAX)
        return KS_ERANGE;
    /* Long division, one fraction digit at a time (r < d < 2^123, so r * 10 fits),
     * stopping early when exact or when another digit would not fit the mantissa. */
    while (digits < scale && r != 0 && q <= (u128)INT64_MAX / 10) {
        r *= 10;
        q = q * 10 + r / d;
        r %= d;
        digits++;
    }
    q = round_mag(q, r, d, neg, mode);
    return fit(neg && q, q, digits, out);
}

int ks_dec_rescale(ks_dec_t a, int scale, ks_round_t mode, ks_dec_t *out)
{
    if (scale > KS_DEC_MAX_SCALE)
        return KS_ERANGE;
    if (scale >= a.scale) {
        i128 v = (i128)a.mant * (i128)pow10_64[scale - a.scale];
        if (v > INT64_MAX || v < -INT64_MAX)
            return KS_ERANGE;
        out->mant = (int64_t)v;
        out->scale = scale;
        return KS_OK;
    }
    if (round_to(a.mant < 0, mag(a.mant), a.scale, scale, mode, out) != KS_OK)
        return KS_ERANGE;
    /* round_to may strip zeros to fit; put the requested scale back when possible. */
    if (scale >= 0 && out->scale < scale) {
        i128 v = (i128)out->mant * (i128)pow10_64[scale - out->scale];
        if (v <= INT64_MAX && v >= -INT64_MAX) {
            out->mant = (int64_t)v;
            out->scale = scale;
        }
    }
    return KS_OK;
}

int ks_dec_quantize(ks_dec_t a, ks_dec_t step, ks_round_t mode, ks_dec_t *out)
{
    ks_dec_t n;
    int rc;

    if (step.mant <= 0)
        return KS_EINVAL;
    if ((rc = ks_dec_div(a, step, 0, mode, &n)) != KS_OK)
        return rc;
    if ((rc = ks_dec_mul(n, step, out)) != KS_OK)
        return rc;
    /* Keep the step's scale so "0.0100" style formatting stays stable. */
    if (out->scale < step.scale)
        ks_dec_rescale(*out, step.scale, KS_ROUND_TRUNC, out);
    return KS_OK;
}

int ks_dec_round_sig(ks_dec_t a, int digits, ks_round_t mode, ks_dec_t *out)
{
    if (digits < 1)
        return KS_EINVAL;
    if (a.mant == 0) {
        *out = KS_DEC_ZERO;
        return KS_OK;
    }
    int target = digits - digit_count(mag(a.mant)) + a.scale;
    if (target >= a.scale) {
        *out = a;
        return KS_OK;
    }
    return round_to(a.mant < 0, mag(a.mant), a.scale, target, mode, out);
}

int ks_dec_cmp(ks_dec_t a, ks_dec_t b)
{
    i128 x, y;
    align(a, b, &x, &y);
    return x < y ? -1 : x > y ? 1 : 0;
}

int ks_dec_sign(ks_dec_t a)
{
    return a.mant < 0 ? -1 : a.mant > 0;
}

bool ks_dec_is_zero(ks_dec_t a)
{
    return a.mant == 0;
}

ks_dec_t ks_dec_neg(ks_dec_t a)
{
    a.mant = -a.mant;
    return a;
}

ks_dec_t ks_dec_abs(ks_dec_t a)
{
    if (a.mant < 0)
        a.mant = -a.mant;
    return a;
}

ks_dec_t ks_dec_min(ks_dec_t a, ks_dec_t b)
{
    return ks_dec_cmp(a, b) <= 0 ? a : b;
}

ks_dec_t ks_dec_max(ks_dec_t a, ks_dec_t b)
{
    return ks_dec_cmp(a, b) >= 0 ? a : b;
}

ks_dec_t ks_dec_normalize(ks_dec_t a)
{
    if (a.mant == 0)
        return KS_DEC_ZERO;
    while (a.scale > 0 && a.mant % 10 == 0) {
        a.mant /= 10;
        a.scale--;
    }
    return a;
}

bool ks_dec_is_multiple(ks_dec_t a, ks_dec_t step)
{
    i128 x, y;
    if (step.mant == 0)
        return false;
    align(a, step, &x, &y);
    return x % y == 0;
}

ks_dec_t ks_dec_from_int(int64_t v)
{
    return (ks_dec_t){v, 0};
}

double ks_dec_to_double(ks_dec_t a)
{
    /* Exact for mantissas below 2^53, and one rounding (the division) otherwise. */
    return (double)a.mant / (double)pow10_64[a.scale];
}

int ks_dec_from_double(double v, int scale, ks_round_t mode, ks_dec_t *out)
{
    char buf[40];
    bool neg;
    u128 m;
    int e, rc;

    if (!isfinite(v))
        return KS_EINVAL;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if ((rc = parse_raw(buf, (size_t)-1, &neg, &m, &e)) != KS_OK)
        return rc;
    if (m == 0) {
        *out = KS_DEC_ZERO;
        return KS_OK;
    }
    if (e > 38)
        return KS_ERANGE;
    if (e >= 0) {
        u128 p = pow10_u128(e);
        if (m > ((u128)-1) / p)
            return KS_ERANGE;
        m *= p;
        e = 0;
    }
    if (scale > KS_DEC_MAX_SCALE)
        scale = KS_DEC_MAX_SCALE;
    return round_to(neg, m, -e, scale, mode, out);
}
