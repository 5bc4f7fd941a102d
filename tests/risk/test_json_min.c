/* json_min, the config reader compiled into every shipped plugin: strict parsing, exact
 * number text, unescaping, and typed getters whose errors name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/kestrel.h>

#include "json_min.h"

static const ks_json_min_node_t *parse_ok(ks_json_min_doc_t *doc, const char *text)
{
    char err[256] = "";
    int rc = ks_json_min_parse(text, (size_t)-1, doc, err, sizeof(err));
    if (rc != KS_OK)
        fail_msg("parse(%s) = %d: %s", text, rc, err);
    return doc->root;
}

/* Returns the parse error for text (which must fail). */
static const char *parse_err(const char *text)
{
    static char err[256];
    ks_json_min_doc_t doc;
    err[0] = '\0';
    int rc = ks_json_min_parse(text, (size_t)-1, &doc, err, sizeof(err));
    ks_json_min_free(&doc);
    if (rc == KS_OK)
        fail_msg("parse(%s) succeeded", text);
    assert_int_equal(rc, KS_EINVAL);
    return err;
}

static void parses_objects_arrays_and_literals(void **state)
{
    ks_json_min_doc_t doc;
    const ks_json_min_node_t *r =
        parse_ok(&doc, " {\"a\": [1, true, false, null, {}], \"b\": {\"c\": \"x\"}} ");
    assert_int_equal(r->type, KS_JSON_MIN_OBJECT);
    assert_int_equal(r->count, 2);
    const ks_json_min_node_t *a = ks_json_min_get(r, "a");
    assert_non_null(a);
    assert_int_equal(a->type, KS_JSON_MIN_ARRAY);
    assert_int_equal(a->count, 5);
    const ks_json_min_node_t *e = a->child;
    assert_int_equal(e->type, KS_JSON_MIN_NUMBER);
    e = e->next;
    assert_int_equal(e->type, KS_JSON_MIN_BOOL);
    assert_true(e->boolean);
    e = e->next;
    assert_false(e->boolean);
    e = e->next;
    assert_int_equal(e->type, KS_JSON_MIN_NULL);
    e = e->next;
    assert_int_equal(e->type, KS_JSON_MIN_OBJECT);
    assert_int_equal(e->count, 0);
    assert_null(e->next);
    assert_string_equal(ks_json_min_get(ks_json_min_get(r, "b"), "c")->text, "x");
    assert_null(ks_json_min_get(r, "missing"));
    ks_json_min_free(&doc);
}

static void numbers_keep_their_source_text(void **state)
{
    ks_json_min_doc_t doc;
    const ks_json_min_node_t *r = parse_ok(&doc, "[0.1, -0, 1e-7, 123456789012345678.5, 2E+3]");
    const char *want[] = {"0.1", "-0", "1e-7", "123456789012345678.5", "2E+3"};
    int i = 0;
    for (const ks_json_min_node_t *c = r->child; c; c = c->next, i++) {
        assert_int_equal(c->type, KS_JSON_MIN_NUMBER);
        assert_string_equal(c->text, want[i]);
        assert_int_equal(c->len, strlen(want[i]));
    }
    ks_json_min_free(&doc);
}

static void strings_are_unescaped_including_surrogate_pairs(void **state)
{
    ks_json_min_doc_t doc;
    const ks_json_min_node_t *r =
        parse_ok(&doc, "[\"a\\\"b\\\\c\\/d\\n\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", \"\"]");
    const ks_json_min_node_t *s = r->child;
    assert_string_equal(s->text, "a\"b\\c/d\n");
    s = s->next;
    assert_string_equal(s->text, "\xc3\xa9\xe2\x82\xac");
    s = s->next;
    assert_string_equal(s->text, "\xf0\x9f\x98\x80");
    s = s->next;
    assert_string_equal(s->text, "");
    assert_int_equal(s->len, 0);
    ks_json_min_free(&doc);
}

static void malformed_documents_fail_with_the_byte_offset(void **state)
{
    assert_string_equal(parse_err("{\"a\": 1,}"), "invalid JSON at byte 8: expected a string key");
    assert_string_equal(parse_err("{\"a\" 1}"), "invalid JSON at byte 5: expected ':' after a key");
    assert_string_equal(parse_err("[1 2]"),
                        "invalid JSON at byte 3: expected ',' or ']' in an array");
    assert_string_equal(parse_err("\"abc"), "invalid JSON at byte 4: unterminated string");
    assert_string_equal(parse_err("{} x"),
                        "invalid JSON at byte 3: unexpected text after the document");
    assert_string_equal(parse_err("   "), "invalid JSON at byte 3: empty document");
    assert_string_equal(parse_err("[01]"),
                        "invalid JSON at byte 2: expected ',' or ']' in an array");
    assert_string_equal(parse_err("[1.]"), "invalid JSON at byte 3: expected a digit after '.'");
    assert_string_equal(parse_err("[tru]"),
                        "invalid JSON at byte 1: invalid literal (expected true)");
    assert_string_equal(parse_err("[\"\\x\"]"), "invalid JSON at byte 3: invalid escape \\x");
    assert_string_equal(parse_err("[\"\\ud800\"]"),
                        "invalid JSON at byte 8: unpaired high surrogate in a \\u escape");
    assert_string_equal(parse_err("[\"a\nb\"]"),
                        "invalid JSON at byte 3: control character 0x0a inside a string");
    assert_string_equal(parse_err("{\"a\": 1, \"a\": 2}"),
                        "invalid JSON at byte 9: duplicate key \"a\"");
    assert_string_equal(parse_err("// no comments\n{}"),
                        "invalid JSON at byte 0: unexpected character '/'");
}

static void nesting_deeper_than_64_levels_is_refused(void **state)
{
    char deep[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    assert_string_equal(parse_err(deep), "invalid JSON at byte 64: nested deeper than 64 levels");
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    ks_json_min_doc_t doc;
    parse_ok(&doc, deep);
    ks_json_min_free(&doc);
}

static void getters_leave_the_default_for_absent_and_null(void **state)
{
    ks_json_min_doc_t doc;
    char err[128];
    const ks_json_min_node_t *r = parse_ok(&doc, "{\"n\": null}");
    ks_dec_t d = KS_DEC(7, 0);
    int64_t i = 3;
    bool b = true;
    assert_int_equal(ks_json_min_get_dec(r, "", "n", &d, err, sizeof(err)), 0);
    assert_int_equal(ks_json_min_get_dec(r, "", "missing", &d, err, sizeof(err)), 0);
    assert_int_equal(ks_json_min_get_int(r, "", "n", 0, 10, &i, err, sizeof(err)), 0);
    assert_int_equal(ks_json_min_get_bool(r, "", "n", &b, err, sizeof(err)), 0);
    assert_int_equal(d.mant, 7);
    assert_int_equal(i, 3);
    assert_true(b);
    ks_json_min_free(&doc);
}

static void get_dec_reads_numbers_and_strings_exactly(void **state)
{
    ks_json_min_doc_t doc;
    char err[128], buf[KS_DEC_STRLEN];
    const ks_json_min_node_t *r = parse_ok(&doc, "{\"a\": 0.1, \"b\": \"12.500\", \"c\": 5e-2}");
    ks_dec_t d;
    assert_int_equal(ks_json_min_get_dec(r, "", "a", &d, err, sizeof(err)), 1);
    ks_dec_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "0.1");
    assert_int_equal(ks_json_min_get_dec(r, "", "b", &d, err, sizeof(err)), 1);
    ks_dec_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "12.5");
    assert_int_equal(ks_json_min_get_dec(r, "", "c", &d, err, sizeof(err)), 1);
    ks_dec_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "0.05");
    ks_json_min_free(&doc);
}

static void getter_errors_name_the_key_with_its_path(void **state)
{
    ks_json_min_doc_t doc;
    char err[128];
    const ks_json_min_node_t *r = parse_ok(
        &doc, "{\"a\": \"ten\", \"b\": [1], \"c\": 1.5, \"d\": 12, \"e\": \"yes\", \"f\": 1, "
              "\"g\": 0.0000000000000000001}");
    ks_dec_t d;
    int64_t i;
    bool b;
    const ks_json_min_node_t *o;
    assert_int_equal(ks_json_min_get_dec(r, "per_strategy.carry.", "a", &d, err, sizeof(err)),
                     KS_EINVAL);
    assert_string_equal(err, "per_strategy.carry.a: expected a decimal number, got \"ten\"");
    assert_int_equal(ks_json_min_get_dec(r, "", "b", &d, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "b: expected a decimal number, got an array");
    assert_int_equal(ks_json_min_get_int(r, "", "c", 0, 100, &i, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "c: expected an integer, got 1.5");
    assert_int_equal(ks_json_min_get_int(r, "", "d", 0, 10, &i, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "d: must be between 0 and 10, got 12");
    assert_int_equal(ks_json_min_get_bool(r, "", "e", &b, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "e: expected true or false, got \"yes\"");
    assert_int_equal(ks_json_min_get_object(r, "", "f", &o, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "f: expected an object, got 1");
    assert_int_equal(ks_json_min_get_dec(r, "", "g", &d, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "g: 0.0000000000000000001 does not fit an exact decimal (at most 18 "
                             "fraction digits)");
    ks_json_min_free(&doc);
}

static void get_int_accepts_integral_numbers_and_strings(void **state)
{
    ks_json_min_doc_t doc;
    char err[128];
    const ks_json_min_node_t *r = parse_ok(&doc, "{\"a\": 3.0, \"b\": \"-4\", \"c\": 1e2}");
    int64_t i;
    assert_int_equal(ks_json_min_get_int(r, "", "a", -10, 1000, &i, err, sizeof(err)), 1);
    assert_int_equal(i, 3);
    assert_int_equal(ks_json_min_get_int(r, "", "b", -10, 1000, &i, err, sizeof(err)), 1);
    assert_int_equal(i, -4);
    assert_int_equal(ks_json_min_get_int(r, "", "c", -10, 1000, &i, err, sizeof(err)), 1);
    assert_int_equal(i, 100);
    ks_json_min_free(&doc);
}

static void check_keys_names_the_unknown_key(void **state)
{
    ks_json_min_doc_t doc;
    char err[128];
    static const char *const allowed[] = {"alpha", "beta", NULL};
    const ks_json_min_node_t *r = parse_ok(&doc, "{\"alpha\": 1, \"betta\": 2}");
    assert_int_equal(ks_json_min_check_keys(r, "x.", allowed, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "x.betta: unknown key");
    ks_json_min_free(&doc);
    r = parse_ok(&doc, "{\"beta\": 1}");
    assert_int_equal(ks_json_min_check_keys(r, "", allowed, err, sizeof(err)), KS_OK);
    ks_json_min_free(&doc);
}

static void error_messages_stay_on_one_line(void **state)
{
    ks_json_min_doc_t doc;
    char err[128];
    static const char *const allowed[] = {NULL};
    const ks_json_min_node_t *r = parse_ok(&doc, "{\"a\\nb\": \"x\\ny\"}");
    assert_int_equal(ks_json_min_check_keys(r, "", allowed, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "a?b: unknown key");
    ks_dec_t d;
    assert_int_equal(ks_json_min_get_dec(r, "", "a\nb", &d, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "a?b: expected a decimal number, got \"x?y\"");
    ks_json_min_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_objects_arrays_and_literals),
        cmocka_unit_test(numbers_keep_their_source_text),
        cmocka_unit_test(strings_are_unescaped_including_surrogate_pairs),
        cmocka_unit_test(malformed_documents_fail_with_the_byte_offset),
        cmocka_unit_test(nesting_deeper_than_64_levels_is_refused),
        cmocka_unit_test(getters_leave_the_default_for_absent_and_null),
        cmocka_unit_test(get_dec_reads_numbers_and_strings_exactly),
        cmocka_unit_test(getter_errors_name_the_key_with_its_path),
        cmocka_unit_test(get_int_accepts_integral_numbers_and_strings),
        cmocka_unit_test(check_keys_names_the_unknown_key),
        cmocka_unit_test(error_messages_stay_on_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
