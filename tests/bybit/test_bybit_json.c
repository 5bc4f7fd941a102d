/* The adapter's pure pieces: the JSON tokenizer (structure, escapes, numbers kept as
 * exact decimal text, errors, no allocation once warm) and the local order book (sorted
 * sides, deltas, sequence classification, crossing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bybit_book.h"
#include "bybit_json.h"

static ks_dec_t D(const char *s)
{
    ks_dec_t d;
    assert_int_equal(ks_dec_parse(s, (size_t)-1, &d), KS_OK);
    return d;
}

static void tokenizer_walks_objects_and_arrays(void **state)
{
    ks_bybit_json_t js = {0};
    const char *t = "{\"topic\":\"orderbook.50.BTCUSDT\",\"data\":{\"s\":\"BTCUSDT\","
                    "\"b\":[[\"30247.20\",\"30.028\"],[\"30245.40\",\"0.224\"]],\"a\":[],"
                    "\"u\":177400507,\"seq\":66544703342},\"ok\":true,\"none\":null}";
    assert_int_equal(ks_bybit_json_parse(&js, t, strlen(t)), KS_OK);
    int data = ks_bybit_json_get(&js, 0, "data");
    assert_int_equal(ks_bybit_json_type(&js, data), KS_BJ_OBJECT);
    int b = ks_bybit_json_get(&js, data, "b");
    assert_int_equal(js.tok[b].count, 2);
    int lv = ks_bybit_json_at(&js, b, 1);
    ks_dec_t px;
    assert_int_equal(ks_bybit_json_dec(&js, ks_bybit_json_at(&js, lv, 0), &px), KS_OK);
    assert_int_equal(px.mant, 3024540);
    assert_int_equal(px.scale, 2); /* "30245.40": exact, trailing zero kept in the scale */
    assert_int_equal(ks_bybit_json_first(&js, ks_bybit_json_get(&js, data, "a")), -1);
    int64_t u;
    assert_int_equal(ks_bybit_json_get_i64(&js, data, "u", &u), KS_OK);
    assert_int_equal(u, 177400507);
    bool ok = false;
    assert_int_equal(ks_bybit_json_bool(&js, ks_bybit_json_get(&js, 0, "ok"), &ok), KS_OK);
    assert_true(ok);
    assert_int_equal(ks_bybit_json_dec(&js, ks_bybit_json_get(&js, 0, "none"), &px), KS_ENOENT);
    assert_int_equal(ks_bybit_json_get(&js, 0, "missing"), -1);
    /* iterate the root's members in order */
    const char *keys[] = {"topic", "data", "ok", "none"};
    int k = 0;
    for (int v = ks_bybit_json_first(&js, 0); v > 0; v = ks_bybit_json_next(&js, v)) {
        char key[16];
        ks_bybit_json_str(&js, ks_bybit_json_key_of(&js, v), key, sizeof(key));
        assert_string_equal(key, keys[k++]);
    }
    assert_int_equal(k, 4);
    ks_bybit_json_free(&js);
}

static void strings_unescape_on_demand(void **state)
{
    ks_bybit_json_t js = {0};
    const char *t = "[\"a\\\"b\\\\\", \"\\u00e9\\n\", \"\\ud83d\\ude00\", \"plain\"]";
    char buf[32];
    assert_int_equal(ks_bybit_json_parse(&js, t, strlen(t)), KS_OK);
    assert_int_equal(js.tok[0].count, 4);
    ks_bybit_json_str(&js, ks_bybit_json_at(&js, 0, 0), buf, sizeof(buf));
    assert_string_equal(buf, "a\"b\\");
    ks_bybit_json_str(&js, ks_bybit_json_at(&js, 0, 1), buf, sizeof(buf));
    assert_string_equal(buf, "\xc3\xa9\n");
    ks_bybit_json_str(&js, ks_bybit_json_at(&js, 0, 2), buf, sizeof(buf));
    assert_string_equal(buf, "\xf0\x9f\x98\x80");
    assert_true(ks_bybit_json_eq(&js, ks_bybit_json_at(&js, 0, 3), "plain"));
    ks_bybit_json_free(&js);
}

static void numbers_stay_exact(void **state)
{
    ks_dec_t d;
    assert_int_equal(ks_bybit_json_parse_dec("-0.000000000000000001", 21, &d), KS_OK);
    assert_int_equal(d.mant, -1);
    assert_int_equal(d.scale, 18);
    assert_int_equal(ks_bybit_json_parse_dec("1e-7", 4, &d), KS_OK); /* the slow path */
    assert_int_equal(ks_dec_cmp(d, D("0.0000001")), 0);
    assert_int_equal(ks_bybit_json_parse_dec("123456789012345678", 18, &d), KS_OK);
    assert_int_equal(d.mant, 123456789012345678LL);
    assert_int_equal(ks_bybit_json_parse_dec("1.", 2, &d), KS_EINVAL);
    assert_int_equal(ks_bybit_json_parse_dec("", 0, &d), KS_EINVAL);
    assert_int_equal(ks_bybit_json_parse_dec("abc", 3, &d) == KS_OK, 0);
}

static void syntax_errors_say_where(void **state)
{
    ks_bybit_json_t js = {0};
    const char *bad[] = {"{\"a\":1,}", "[1 2]", "{\"a\" 1}", "\"open", "{\"a\":tru}",
                         "[01]",       "{} x",  "",          "[-]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ks_bybit_json_parse(&js, bad[i], strlen(bad[i])), KS_EPROTO);
        assert_non_null(js.err);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_not_equal(ks_bybit_json_parse(&js, deep, 200), KS_OK);
    ks_bybit_json_free(&js);
}

static void a_warm_tokenizer_does_not_grow(void **state)
{
    ks_bybit_json_t js = {0};
    char msg[8192];
    size_t n = (size_t)snprintf(msg, sizeof(msg), "{\"b\":[");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s[\"%d.5\",\"1\"]", i ? "," : "", i);
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "]}");
    assert_int_equal(ks_bybit_json_parse(&js, msg, n), KS_OK);
    uint32_t cap = js.cap;
    void *tok = js.tok;
    for (int k = 0; k < 100; k++)
        assert_int_equal(ks_bybit_json_parse(&js, msg, n), KS_OK);
    assert_int_equal(js.cap, cap);
    assert_ptr_equal(js.tok, tok);
    ks_bybit_json_free(&js);
}

static void book_keeps_sides_sorted_and_applies_deltas(void **state)
{
    ks_bybit_book_t b = {0};
    ks_bybit_book_set(&b, true, D("100.5"), D("1"));
    ks_bybit_book_set(&b, true, D("101"), D("2"));
    ks_bybit_book_set(&b, true, D("99.75"), D("3"));
    ks_bybit_book_set(&b, false, D("102"), D("1"));
    ks_bybit_book_set(&b, false, D("101.5"), D("4"));
    assert_int_equal(b.n_bids, 3);
    assert_int_equal(ks_dec_cmp(b.bids[0].px, D("101")), 0);
    assert_int_equal(ks_dec_cmp(b.bids[2].px, D("99.75")), 0);
    assert_int_equal(ks_dec_cmp(b.asks[0].px, D("101.5")), 0);
    ks_bybit_book_set(&b, true, D("101.0"), D("0")); /* same price, other scale: removes */
    assert_int_equal(b.n_bids, 2);
    ks_bybit_book_set(&b, true, D("100.5"), D("7"));
    assert_int_equal(ks_dec_cmp(b.bids[0].qty, D("7")), 0);
    ks_bybit_book_set(&b, false, D("555"), D("0")); /* removing an absent level: nothing */
    assert_int_equal(b.n_asks, 2);
    assert_false(ks_bybit_book_crossed(&b));
    ks_bybit_book_set(&b, true, D("101.5"), D("1"));
    assert_true(ks_bybit_book_crossed(&b));
    for (int i = 0; i < 1000; i++) /* grows past its first allocation */
        ks_bybit_book_set(&b, false, ks_dec_from_int(200 + i), D("1"));
    assert_int_equal(b.n_asks, 1002);
    ks_bybit_book_free(&b);
}

static void book_classifies_update_ids(void **state)
{
    ks_bybit_book_t b = {0};
    assert_int_equal(ks_bybit_book_check_delta(&b, 5), KS_BYBIT_SEQ_NOBOOK);
    b.valid = true;
    b.u = 10;
    assert_int_equal(ks_bybit_book_check_delta(&b, 11), KS_BYBIT_SEQ_OK);
    assert_int_equal(ks_bybit_book_check_delta(&b, 10), KS_BYBIT_SEQ_STALE);
    assert_int_equal(ks_bybit_book_check_delta(&b, 3), KS_BYBIT_SEQ_STALE);
    assert_int_equal(ks_bybit_book_check_delta(&b, 12), KS_BYBIT_SEQ_GAP);
    ks_bybit_book_reset(&b);
    assert_false(b.valid);
    ks_bybit_book_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokenizer_walks_objects_and_arrays),
        cmocka_unit_test(strings_unescape_on_demand),
        cmocka_unit_test(numbers_stay_exact),
        cmocka_unit_test(syntax_errors_say_where),
        cmocka_unit_test(a_warm_tokenizer_does_not_grow),
        cmocka_unit_test(book_keeps_sides_sorted_and_applies_deltas),
        cmocka_unit_test(book_classifies_update_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
