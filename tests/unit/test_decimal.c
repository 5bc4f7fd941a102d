/* Exact decimals: parsing, formatting, arithmetic, rounding to tick/lot, and every
 * applicable case of ccxt's decimal-to-precision test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <kestrel/kestrel.h>

#include "test_util.h"

static ks_dec_t D(const char *s)
{
    ks_dec_t d;
    int rc = ks_dec_parse(s, (size_t)-1, &d);
    if (rc != KS_OK)
        fail_msg("parse(%s) = %d", s, rc);
    return d;
}

static const char *F(ks_dec_t d)
{
    static char buf[8][KS_DEC_STRLEN];
    static int i;
    i = (i + 1) % 8;
    ks_dec_format(d, buf[i], sizeof(buf[i]));
    return buf[i];
}

static void parse_and_format_round_trip(void **state)
{
    const char *cases[][2] = {
        {"0", "0"},
        {"-0", "0"},
        {"1.50", "1.5"},
        {"65000.5", "65000.5"},
        {"0.00012", "0.00012"},
        {"-3", "-3"},
        {"1e-7", "0.0000001"},
        {"1.25E+3", "1250"},
        {"+7", "7"},
        {".5", "0.5"},
        {"5.", "5"},
        {"123456789012345678", "123456789012345678"},
        {"0.000000000000000001", "0.000000000000000001"},
        {"9223372036854775807", "9223372036854775807"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(F(D(cases[i][0])), cases[i][1]);
}

static void parse_rejects_garbage_and_overflow(void **state)
{
    ks_dec_t d;
    assert_int_equal(ks_dec_parse("", (size_t)-1, &d), KS_EINVAL);
    assert_int_equal(ks_dec_parse("abc", (size_t)-1, &d), KS_EINVAL);
    assert_int_equal(ks_dec_parse("1.2.3", (size_t)-1, &d), KS_EINVAL);
    assert_int_equal(ks_dec_parse("1e", (size_t)-1, &d), KS_EINVAL);
    assert_int_equal(ks_dec_parse("12x", (size_t)-1, &d), KS_EINVAL);
    assert_int_equal(ks_dec_parse("0.0000000000000000001", (size_t)-1, &d), KS_ERANGE);
    assert_int_equal(ks_dec_parse("9223372036854775808", (size_t)-1, &d), KS_ERANGE);
    /* Trailing zeros beyond 18 fraction digits carry no information and are accepted. */
    assert_int_equal(ks_dec_parse("1.0000000000000000000000", (size_t)-1, &d), KS_OK);
    assert_string_equal(F(d), "1");
    /* Length-bounded parsing reads only len bytes. */
    assert_int_equal(ks_dec_parse("12.5xyz", 4, &d), KS_OK);
    assert_string_equal(F(d), "12.5");
}

static void arithmetic_is_exact(void **state)
{
    ks_dec_t r;
    assert_int_equal(ks_dec_add(D("0.1"), D("0.2"), &r), KS_OK);
    assert_string_equal(F(r), "0.3");
    assert_int_equal(ks_dec_sub(D("65000.5"), D("0.00000001"), &r), KS_OK);
    assert_string_equal(F(r), "65000.49999999");
    assert_int_equal(ks_dec_mul(D("0.00000002"), D("69696900000"), &r), KS_OK);
    assert_string_equal(F(r), "1393.938");
    assert_int_equal(ks_dec_mul(D("-1.5"), D("2"), &r), KS_OK);
    assert_string_equal(F(r), "-3");
    assert_int_equal(ks_dec_div(D("1"), D("3"), 8, KS_ROUND_HALF_EVEN, &r), KS_OK);
    assert_string_equal(F(r), "0.33333333");
    assert_int_equal(ks_dec_div(D("2"), D("3"), 8, KS_ROUND_HALF_EVEN, &r), KS_OK);
    assert_string_equal(F(r), "0.66666667");
    assert_int_equal(ks_dec_div(D("-2"), D("3"), 2, KS_ROUND_FLOOR, &r), KS_OK);
    assert_string_equal(F(r), "-0.67");
    assert_int_equal(ks_dec_div(D("100"), D("1"), 18, KS_ROUND_HALF_EVEN, &r), KS_OK);
    assert_string_equal(F(r), "100");
    assert_int_equal(ks_dec_div(D("1"), D("0"), 8, KS_ROUND_HALF_EVEN, &r), KS_EINVAL);
    assert_int_equal(ks_dec_mul(D("9223372036854775807"), D("10"), &r), KS_ERANGE);
}

static void mul_round_keeps_direction(void **state)
{
    ks_dec_t r;
    /* 0.00055 * 65000.1 * 0.013 style fee computations: explicit direction. */
    assert_int_equal(ks_dec_mul_round(D("845.0013"), D("0.00055"), 8, KS_ROUND_CEIL, &r), KS_OK);
    assert_string_equal(F(r), "0.46475072");
    assert_int_equal(ks_dec_mul_round(D("845.0013"), D("0.00055"), 8, KS_ROUND_FLOOR, &r), KS_OK);
    assert_string_equal(F(r), "0.46475071");
    /* Large products keep as many digits as fit instead of failing. */
    assert_int_equal(
        ks_dec_mul_round(D("65000.123456789"), D("1000.12345678"), 18, KS_ROUND_HALF_EVEN, &r),
        KS_OK);
    assert_true(ks_dec_to_double(r) > 65008148.0 && ks_dec_to_double(r) < 65008148.5);
}

static void quantize_to_tick_and_lot(void **state)
{
    ks_dec_t r;
    assert_int_equal(ks_dec_quantize(D("65000.37"), D("0.5"), KS_ROUND_FLOOR, &r), KS_OK);
    assert_string_equal(F(r), "65000");
    assert_int_equal(ks_dec_quantize(D("65000.37"), D("0.5"), KS_ROUND_CEIL, &r), KS_OK);
    assert_string_equal(F(r), "65000.5");
    assert_int_equal(ks_dec_quantize(D("0.0123456"), D("0.001"), KS_ROUND_TRUNC, &r), KS_OK);
    assert_string_equal(F(r), "0.012");
    assert_int_equal(ks_dec_quantize(D("-0.0125"), D("0.001"), KS_ROUND_HALF_EVEN, &r), KS_OK);
    assert_string_equal(F(r), "-0.012");
    assert_true(ks_dec_is_multiple(D("65000.5"), D("0.5")));
    assert_false(ks_dec_is_multiple(D("65000.3"), D("0.5")));
    assert_int_equal(ks_dec_quantize(D("1"), D("0"), KS_ROUND_FLOOR, &r), KS_EINVAL);
}

static void compare_and_from_double(void **state)
{
    ks_dec_t r;
    assert_int_equal(ks_dec_cmp(D("1.10"), D("1.1")), 0);
    assert_int_equal(ks_dec_cmp(D("-0.001"), D("0")), -1);
    assert_int_equal(ks_dec_cmp(D("100"), D("99.9999999999999999")), 1);
    assert_int_equal(ks_dec_from_double(0.1, 18, KS_ROUND_HALF_EVEN, &r), KS_OK);
    assert_string_equal(F(r), "0.1");
    assert_int_equal(ks_dec_from_double(65000.123, 2, KS_ROUND_FLOOR, &r), KS_OK);
    assert_string_equal(F(r), "65000.12");
    assert_int_equal(ks_dec_from_double(-7.8e-7, 18, KS_ROUND_HALF_EVEN, &r), KS_OK);
    assert_string_equal(F(r), "-0.00000078");
    assert_int_equal(ks_dec_from_double(0.0 / 0.0, 8, KS_ROUND_HALF_EVEN, &r), KS_EINVAL);
    char buf[KS_DEC_STRLEN];
    assert_int_equal(ks_dec_format_fixed(D("1.5"), 4, KS_ROUND_HALF_EVEN, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "1.5000");
    assert_int_equal(ks_dec_format_fixed(D("2"), 2, KS_ROUND_HALF_EVEN, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "2.00");
}

/* ---- ccxt decimal-to-precision vectors ------------------------------------------ */

typedef struct {
    int applied, passed, not_applicable;
} tally_t;

static int ccxt_round_mode(const char *name)
{
    if (strcmp(name, "TRUNCATE") == 0)
        return KS_ROUND_TRUNC;
    if (strcmp(name, "ROUND") == 0)
        return KS_ROUND_HALF_UP;
    return -1;
}

/* A decimal argument given as JSON number or string. Numbers go through their
 * shortest decimal form, as JavaScript prints them. */
static int arg_dec(const cJSON *a, ks_dec_t *out)
{
    if (cJSON_IsString(a))
        return ks_dec_parse(a->valuestring, (size_t)-1, out);
    if (cJSON_IsNumber(a))
        return ks_dec_from_double(a->valuedouble, 18, KS_ROUND_HALF_EVEN, out);
    return KS_EINVAL;
}

static int pad_sig_digits(ks_dec_t v, int digits)
{
    /* Fraction digits needed to show `digits` significant digits of v. */
    char buf[KS_DEC_STRLEN];
    ks_dec_format(ks_dec_abs(v), buf, sizeof(buf));
    const char *p = buf;
    int int_digits = 0, lead_zeros = 0;
    if (p[0] == '0') {
        p += 2; /* "0." */
        while (*p == '0') {
            lead_zeros++;
            p++;
        }
        return lead_zeros + digits;
    }
    while (*p && *p != '.') {
        int_digits++;
        p++;
    }
    return digits > int_digits ? digits - int_digits : 0;
}

/* Computes decimalToPrecision; returns KS_OK with the text in out, or an error. */
static int decimal_to_precision(const cJSON *args, char *out, size_t cap)
{
    ks_dec_t x, r, tick;
    int rc;
    const char *xs = cJSON_GetArrayItem(args, 0)->valuestring;
    int mode = ccxt_round_mode(cJSON_GetArrayItem(args, 1)->valuestring);
    const cJSON *prec = cJSON_GetArrayItem(args, 2);
    const char *counting = cJSON_GetArrayItem(args, 3)->valuestring;
    bool pad = strcmp(cJSON_GetArrayItem(args, 4)->valuestring, "PAD_WITH_ZERO") == 0;

    if ((rc = ks_dec_parse(xs, (size_t)-1, &x)) != KS_OK)
        return rc;
    if (strcmp(counting, "TICK_SIZE") == 0) {
        if ((rc = arg_dec(prec, &tick)) != KS_OK)
            return rc;
        if ((rc = ks_dec_quantize(x, tick, (ks_round_t)mode, &r)) != KS_OK)
            return rc;
        if (pad)
            return ks_dec_format_fixed(r, ks_dec_normalize(tick).scale, KS_ROUND_TRUNC, out, cap);
        return ks_dec_format(r, out, cap);
    }
    int digits = cJSON_IsString(prec) ? atoi(prec->valuestring) : (int)prec->valuedouble;
    /* ccxt treats negative significant digits as negative decimal places. */
    if (strcmp(counting, "DECIMAL_PLACES") == 0 || digits < 0) {
        if (digits >= x.scale)
            r = x; /* more places than the value has: unchanged */
        else if ((rc = ks_dec_rescale(x, digits, (ks_round_t)mode, &r)) != KS_OK)
            return rc;
        if (pad && digits > 0)
            return ks_dec_format_fixed(r, digits, KS_ROUND_TRUNC, out, cap);
        return ks_dec_format(r, out, cap);
    }
    /* SIGNIFICANT_DIGITS; zero digits yields zero in ccxt. */
    if (digits == 0) {
        snprintf(out, cap, "0");
        return KS_OK;
    }
    if ((rc = ks_dec_round_sig(x, digits, (ks_round_t)mode, &r)) != KS_OK)
        return rc;
    if (pad)
        return ks_dec_format_fixed(r, pad_sig_digits(r, digits), KS_ROUND_TRUNC, out, cap);
    return ks_dec_format(r, out, cap);
}

/* Precise.* string arithmetic; bool results as "true"/"false". */
static int precise(const char *fn, const cJSON *args, char *out, size_t cap)
{
    ks_dec_t a, b = KS_DEC_ZERO, r;
    int rc, n = cJSON_GetArraySize(args);
    if ((rc = arg_dec(cJSON_GetArrayItem(args, 0), &a)) != KS_OK)
        return rc;
    if (n > 1 && (rc = arg_dec(cJSON_GetArrayItem(args, 1), &b)) != KS_OK)
        return rc;
    const char *op = fn + strlen("Precise.string");
    if (strcmp(op, "Mul") == 0)
        rc = ks_dec_mul(a, b, &r);
    else if (strcmp(op, "Add") == 0)
        rc = ks_dec_add(a, b, &r);
    else if (strcmp(op, "Sub") == 0)
        rc = ks_dec_sub(a, b, &r);
    else if (strcmp(op, "Div") == 0) {
        int p = n > 2 ? (int)cJSON_GetArrayItem(args, 2)->valuedouble : 18;
        rc = ks_dec_div(a, b, p, KS_ROUND_TRUNC, &r);
    } else if (strcmp(op, "Abs") == 0) {
        r = ks_dec_abs(a);
        rc = KS_OK;
    } else if (strcmp(op, "Neg") == 0) {
        r = ks_dec_neg(a);
        rc = KS_OK;
    } else if (strcmp(op, "Mod") == 0) {
        ks_dec_t q, qb;
        rc = ks_dec_div(a, b, 0, KS_ROUND_TRUNC, &q);
        if (rc == KS_OK)
            rc = ks_dec_mul(q, b, &qb);
        if (rc == KS_OK)
            rc = ks_dec_sub(a, qb, &r);
    } else if (strcmp(op, "Min") == 0) {
        r = ks_dec_min(a, b);
        rc = KS_OK;
    } else if (strcmp(op, "Max") == 0) {
        r = ks_dec_max(a, b);
        rc = KS_OK;
    } else {
        int c = ks_dec_cmp(a, b);
        bool v = strcmp(op, "Equals") == 0 ? c == 0
                 : strcmp(op, "Gt") == 0   ? c > 0
                 : strcmp(op, "Ge") == 0   ? c >= 0
                 : strcmp(op, "Lt") == 0   ? c < 0
                                           : c <= 0;
        if (strcmp(op, "Le") != 0 && strcmp(op, "Equals") != 0 && strcmp(op, "Gt") != 0 &&
            strcmp(op, "Ge") != 0 && strcmp(op, "Lt") != 0)
            fail_msg("unhandled %s", fn);
        snprintf(out, cap, "%s", v ? "true" : "false");
        return KS_OK;
    }
    if (rc != KS_OK)
        return rc;
    return ks_dec_format(r, out, cap) < 0 ? KS_ERANGE : KS_OK;
}

/* A case is not applicable when its input or expected value cannot be held in a
 * ks_dec_t (over 18 fraction digits or beyond the int64 mantissa): no venue sends
 * such prices or sizes. Everything else must match exactly. */
static bool representable(const cJSON *c)
{
    ks_dec_t d;
    const cJSON *exp = cJSON_GetObjectItem(c, "expected");
    const cJSON *args = cJSON_GetObjectItem(c, "args");
    const cJSON *a;
    if (cJSON_IsString(exp) && ks_dec_parse(exp->valuestring, (size_t)-1, &d) == KS_ERANGE)
        return false;
    cJSON_ArrayForEach(a, args)
    {
        if (cJSON_IsString(a) && ks_dec_parse(a->valuestring, (size_t)-1, &d) == KS_ERANGE)
            return false;
        if (cJSON_IsNumber(a) && arg_dec(a, &d) == KS_ERANGE)
            return false;
    }
    return true;
}

static void ccxt_decimal_to_precision_vectors(void **state)
{
    char path[512];
    if (!ks_test_shared_path("fixtures/ccxt/decimal-to-precision.json", path, sizeof(path)))
        skip();
    char *text = ks_test_read_file(path, NULL);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    tally_t t = {0};
    int failures = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        const char *fn = cJSON_GetObjectItem(c, "fn")->valuestring;
        const cJSON *args = cJSON_GetObjectItem(c, "args");
        const cJSON *exp = cJSON_GetObjectItem(c, "expected");
        int line = cJSON_GetObjectItem(c, "line")->valueint;
        char got[128] = "", want[128];
        int rc;

        if (!representable(c)) {
            t.not_applicable++;
            printf("  n/a line %d %s: a value needs more than 18 fraction digits or "
                   "exceeds the int64 mantissa\n",
                   line, fn);
            continue;
        }
        if (cJSON_IsBool(exp))
            snprintf(want, sizeof(want), "%s", cJSON_IsTrue(exp) ? "true" : "false");
        else
            snprintf(want, sizeof(want), "%s", exp->valuestring);
        t.applied++;
        if (strcmp(fn, "numberToString") == 0) {
            ks_dec_t d;
            rc = arg_dec(cJSON_GetArrayItem(args, 0), &d);
            if (rc == KS_OK)
                ks_dec_format(d, got, sizeof(got));
        } else if (strcmp(fn, "decimalToPrecision") == 0) {
            rc = decimal_to_precision(args, got, sizeof(got));
            rc = rc < 0 ? rc : KS_OK;
        } else {
            rc = precise(fn, args, got, sizeof(got));
        }
        if (rc == KS_OK && strcmp(got, want) == 0) {
            t.passed++;
        } else {
            failures++;
            char *a = cJSON_PrintUnformatted(args);
            printf("  FAIL line %d %s %s: want %s, got %s (rc %d)\n", line, fn, a, want, got, rc);
            free(a);
        }
    }
    printf("ccxt decimal vectors: %d applied, %d passed, %d not applicable\n", t.applied, t.passed,
           t.not_applicable);
    cJSON_Delete(root);
    free(text);
    assert_int_equal(failures, 0);
    assert_true(t.applied >= 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_and_format_round_trip),
        cmocka_unit_test(parse_rejects_garbage_and_overflow),
        cmocka_unit_test(arithmetic_is_exact),
        cmocka_unit_test(mul_round_keeps_direction),
        cmocka_unit_test(quantize_to_tick_and_lot),
        cmocka_unit_test(compare_and_from_double),
        cmocka_unit_test(ccxt_decimal_to_precision_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
