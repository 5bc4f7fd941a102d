/* Kestrel SDK: exact decimals for prices, sizes, fees and balances.
 *
 * A ks_dec_t is mant * 10^-scale with a signed 64-bit mantissa and 0 <= scale <= 18,
 * so it holds up to 18 significant digits after the point and integers up to
 * 9.2e18: every price, size and balance a venue sends. Arithmetic is exact or fails
 * with KS_ERANGE; rounding happens only where a function takes a ks_round_t, so the
 * direction of every rounding is written at the call site. No binary floating point
 * is involved in parsing, formatting or arithmetic. */
#ifndef KESTREL_DECIMAL_H
#define KESTREL_DECIMAL_H

#include "abi.h"

KS_EXTERN_C_BEGIN

#define KS_DEC_MAX_SCALE 18
/* Longest formatted value: sign, 19 digits, point, 18 zeros, NUL. */
#define KS_DEC_STRLEN 48

typedef struct ks_dec {
    int64_t mant;
    int32_t scale;
} ks_dec_t;

#define KS_DEC_ZERO  ((ks_dec_t){0, 0})
#define KS_DEC(m, s) ((ks_dec_t){(m), (s)})
/* The same as a plain initializer, for static tables: `static const ks_dec_t x = KS_DEC_INIT(5,
 * 1);` */
#define KS_DEC_INIT(m, s)                                                                          \
    {                                                                                              \
        (m), (s)                                                                                   \
    }

typedef enum ks_round {
    KS_ROUND_FLOOR = 0,     /* toward -infinity */
    KS_ROUND_CEIL = 1,      /* toward +infinity */
    KS_ROUND_TRUNC = 2,     /* toward zero */
    KS_ROUND_AWAY = 3,      /* away from zero */
    KS_ROUND_HALF_UP = 4,   /* to nearest, ties away from zero */
    KS_ROUND_HALF_EVEN = 5, /* to nearest, ties to even (banker's) */
} ks_round_t;

/* Parses "123", "-0.5", "1e-7", "1.25E+3". Returns KS_OK, KS_EINVAL (not a number)
 * or KS_ERANGE (needs more than 18 fraction digits or overflows the mantissa; trailing
 * fraction zeros are dropped before that test). `len` may be (size_t)-1 for a NUL-
 * terminated string. */
int ks_dec_parse(const char *s, size_t len, ks_dec_t *out);

/* Writes the shortest exact form ("0.00012", "-3", "65000.5") without trailing zeros
 * into buf; returns the length, or KS_ERANGE if cap is too small (KS_DEC_STRLEN is
 * always enough). */
int ks_dec_format(ks_dec_t d, char *buf, size_t cap);

/* Like ks_dec_format but keeps exactly `scale` fraction digits (pads with zeros);
 * d must already have scale <= `scale` digits of precision or it is rounded `mode`. */
int ks_dec_format_fixed(ks_dec_t d, int scale, ks_round_t mode, char *buf, size_t cap);

/* Exact arithmetic. KS_ERANGE when the exact result does not fit. */
int ks_dec_add(ks_dec_t a, ks_dec_t b, ks_dec_t *out);
int ks_dec_sub(ks_dec_t a, ks_dec_t b, ks_dec_t *out);
int ks_dec_mul(ks_dec_t a, ks_dec_t b, ks_dec_t *out);

/* a * b rounded to at most `scale` fraction digits in direction `mode`. */
int ks_dec_mul_round(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out);
/* a / b rounded to `scale` fraction digits in direction `mode`; KS_EINVAL if b == 0. */
int ks_dec_div(ks_dec_t a, ks_dec_t b, int scale, ks_round_t mode, ks_dec_t *out);

/* Rounds to exactly `scale` fraction digits (scale may be negative: -2 rounds to
 * hundreds). The result's scale is max(scale, 0). */
int ks_dec_rescale(ks_dec_t a, int scale, ks_round_t mode, ks_dec_t *out);

/* Rounds a to an integer multiple of step (a tick or lot size), step > 0. */
int ks_dec_quantize(ks_dec_t a, ks_dec_t step, ks_round_t mode, ks_dec_t *out);

/* Rounds to `digits` significant digits (digits >= 1). */
int ks_dec_round_sig(ks_dec_t a, int digits, ks_round_t mode, ks_dec_t *out);

/* -1, 0, 1 as a <, ==, > b; exact for any two values. */
int ks_dec_cmp(ks_dec_t a, ks_dec_t b);
int ks_dec_sign(ks_dec_t a);
bool ks_dec_is_zero(ks_dec_t a);
ks_dec_t ks_dec_neg(ks_dec_t a);
ks_dec_t ks_dec_abs(ks_dec_t a);
ks_dec_t ks_dec_min(ks_dec_t a, ks_dec_t b);
ks_dec_t ks_dec_max(ks_dec_t a, ks_dec_t b);
/* Same value with trailing fraction zeros removed (smallest scale). */
ks_dec_t ks_dec_normalize(ks_dec_t a);
/* True when a is an exact multiple of step. */
bool ks_dec_is_multiple(ks_dec_t a, ks_dec_t step);

ks_dec_t ks_dec_from_int(int64_t v);
/* Nearest double; for display, statistics and Lua, never for accounting. */
double ks_dec_to_double(ks_dec_t a);
/* Converts a double through its shortest round-trip decimal text ("%.17g" trimmed
 * to the shortest string that reads back equal), then rounds to `scale` digits.
 * KS_EINVAL for NaN or infinity, KS_ERANGE if too large. */
int ks_dec_from_double(double v, int scale, ks_round_t mode, ks_dec_t *out);

KS_EXTERN_C_END

#endif
