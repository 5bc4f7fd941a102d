/* kestrel/json.h, the SDK's JSON reader (plugin configs, the sim venue's config and recorded
 * data): strict parsing, exact number text, unescaping, errors with the byte offset, typed
 * getters whose errors name the key, and reparsing many documents into one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/kestrel.h>

static const ks_json_t *parse_ok(ks_json_doc_t *doc, const char *text)
{
    char err[256] = "";
    int rc = ks_json_parse(text, (size_t)-1, doc, err, sizeof(err));
    if (rc != KS_OK)
        fail_msg("parse(%s) = %d: %s", text, rc, err);
    assert_non_null(doc->root);
    return doc->root;
}

/* Returns the parse error for text (which must fail). */
static const char *parse_err(const char *text)
{
    static char err[256];
    ks_json_doc_t doc;
    err[0] = '\0';
    int rc = ks_json_parse(text, (size_t)-1, &doc, err, sizeof(err));
    if (rc == KS_OK)
        fail_msg("parse(%s) succeeded", text);
    assert_int_equal(rc, KS_EINVAL);
    assert_null(doc.root);
    ks_json_free(&doc);
    return err;
}

static void parses_objects_arrays_and_literals(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r =
        parse_ok(&doc, " {\"a\": [1, true, false, null, {}], \"b\": {\"c\": \"x\"}} ");
    assert_int_equal(r->type, KS_JSON_OBJECT);
    assert_int_equal(r->count, 2);
    assert_null(r->key);
    const ks_json_t *a = ks_json_get(r, "a");
    assert_non_null(a);
    assert_string_equal(a->key, "a");
    assert_int_equal(a->type, KS_JSON_ARRAY);
    assert_int_equal(a->count, 5);
    const ks_json_t *e = a->child;
    assert_int_equal(e->type, KS_JSON_NUMBER);
    assert_null(e->key);
    e = e->next;
    assert_int_equal(e->type, KS_JSON_BOOL);
    assert_true(e->boolean);
    e = e->next;
    assert_false(e->boolean);
    e = e->next;
    assert_int_equal(e->type, KS_JSON_NULL);
    assert_null(e->text);
    e = e->next;
    assert_int_equal(e->type, KS_JSON_OBJECT);
    assert_int_equal(e->count, 0);
    assert_null(e->child);
    assert_null(e->next);
    assert_string_equal(ks_json_get(ks_json_get(r, "b"), "c")->text, "x");
    assert_null(ks_json_get(r, "missing"));
    ks_json_free(&doc);
}

static void iterates_nested_values_through_child_and_next(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *root = parse_ok(
        &doc,
        " {\"a\": [1, \"two\", true, false, null, {\"b\": -0.5e-3}], \"c\": {}, \"a2\": []} ");
    assert_int_equal(root->count, 3);
    const ks_json_t *a = ks_json_get(root, "a");
    assert_int_equal(a->count, 6);
    const ks_json_t *x = a->child;
    assert_string_equal(x->text, "1");
    x = x->next;
    assert_int_equal(x->type, KS_JSON_STRING);
    assert_string_equal(x->text, "two");
    x = x->next->next->next->next;
    assert_string_equal(ks_json_get(x, "b")->text, "-0.5e-3");
    assert_null(x->next);
    assert_int_equal(ks_json_get(root, "c")->count, 0);
    assert_null(ks_json_get(root, "a2")->child);
    /* Object members keep their order. */
    const char *keys[] = {"a", "c", "a2"};
    int i = 0;
    for (const ks_json_t *m = root->child; m; m = m->next, i++)
        assert_string_equal(m->key, keys[i]);
    assert_int_equal(i, 3);
    ks_json_free(&doc);
}

static void get_is_null_safe_and_reads_objects_only(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r = parse_ok(&doc, "[{\"a\": 1}]");
    assert_null(ks_json_get(NULL, "a"));
    assert_null(ks_json_get(r, "a"));               /* an array */
    assert_null(ks_json_get(r->child->child, "a")); /* a number */
    assert_null(ks_json_get(r->child, NULL));
    assert_string_equal(ks_json_get(r->child, "a")->text, "1");
    ks_json_free(&doc);
}

static void numbers_keep_their_source_text(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r = parse_ok(&doc, "[0.1, -0, 1e-7, 123456789012345678.5, 2E+3, 0.1000, "
                                        "65000.123456789012345]");
    const char *want[] = {
        "0.1", "-0", "1e-7", "123456789012345678.5", "2E+3", "0.1000", "65000.123456789012345"};
    int i = 0;
    for (const ks_json_t *c = r->child; c; c = c->next, i++) {
        assert_int_equal(c->type, KS_JSON_NUMBER);
        assert_string_equal(c->text, want[i]);
        assert_int_equal(c->len, strlen(want[i]));
    }
    assert_int_equal(i, 7);
    ks_json_free(&doc);
}

static void a_bare_number_or_string_is_a_document(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r = parse_ok(&doc, "12.5");
    assert_int_equal(r->type, KS_JSON_NUMBER);
    assert_string_equal(r->text, "12.5");
    ks_json_free(&doc);
    r = parse_ok(&doc, " \"x\" ");
    assert_int_equal(r->type, KS_JSON_STRING);
    assert_string_equal(r->text, "x");
    ks_json_free(&doc);
}

static void strings_are_unescaped_including_surrogate_pairs(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r =
        parse_ok(&doc, "[\"a\\\"b\\\\c\\/d\\n\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", \"\"]");
    const ks_json_t *s = r->child;
    assert_string_equal(s->text, "a\"b\\c/d\n");
    s = s->next;
    assert_string_equal(s->text, "\xc3\xa9\xe2\x82\xac");
    s = s->next;
    assert_string_equal(s->text, "\xf0\x9f\x98\x80");
    s = s->next;
    assert_string_equal(s->text, "");
    assert_int_equal(s->len, 0);
    ks_json_free(&doc);
}

static void keys_are_unescaped_too(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r =
        parse_ok(&doc, "{\"k\\\"ey\": \"a\\\\b\\/c\\n\\u00e9\\ud83d\\ude00\", \"t\\tab\": 1}");
    const ks_json_t *v = r->child;
    assert_string_equal(v->key, "k\"ey");
    assert_string_equal(v->text, "a\\b/c\n\xc3\xa9\xf0\x9f\x98\x80");
    assert_ptr_equal(ks_json_get(r, "t\tab"), v->next);
    ks_json_free(&doc);
}

static void an_escaped_nul_is_kept_and_counted_in_len(void **state)
{
    ks_json_doc_t doc;
    const ks_json_t *r = parse_ok(&doc, "[\"a\\u0000b\"]");
    assert_int_equal(r->child->len, 3);
    assert_memory_equal(r->child->text, "a\0b", 4);
    ks_json_free(&doc);
}

static void malformed_documents_fail_with_the_byte_offset(void **state)
{
    assert_string_equal(parse_err("{\"a\": 1,}"), "invalid JSON at byte 8: expected a string key");
    assert_string_equal(parse_err("{\"a\" 1}"), "invalid JSON at byte 5: expected ':' after a key");
    assert_string_equal(parse_err("[1 2]"),
                        "invalid JSON at byte 3: expected ',' or ']' in an array");
    assert_string_equal(parse_err("{\"a\": 1 \"b\": 2}"),
                        "invalid JSON at byte 8: expected ',' or '}' in an object");
    assert_string_equal(parse_err("\"abc"), "invalid JSON at byte 4: unterminated string");
    assert_string_equal(parse_err("{} x"),
                        "invalid JSON at byte 3: unexpected text after the document");
    assert_string_equal(parse_err("01"),
                        "invalid JSON at byte 1: unexpected text after the document");
    assert_string_equal(parse_err("   "), "invalid JSON at byte 3: empty document");
    assert_string_equal(parse_err(""), "invalid JSON at byte 0: empty document");
    assert_string_equal(parse_err("[1,"), "invalid JSON at byte 3: unexpected end of input");
    assert_string_equal(parse_err("[01]"),
                        "invalid JSON at byte 2: expected ',' or ']' in an array");
    assert_string_equal(parse_err("[1.]"), "invalid JSON at byte 3: expected a digit after '.'");
    assert_string_equal(parse_err("[1e]"),
                        "invalid JSON at byte 3: expected a digit in the exponent");
    assert_string_equal(parse_err("[-]"), "invalid JSON at byte 2: expected a digit");
    assert_string_equal(parse_err("[tru]"),
                        "invalid JSON at byte 1: invalid literal (expected true)");
    assert_string_equal(parse_err("{\"a\": tru}"),
                        "invalid JSON at byte 6: invalid literal (expected true)");
    assert_string_equal(parse_err("[\"\\x\"]"), "invalid JSON at byte 3: invalid escape \\x");
    assert_string_equal(parse_err("[\"\\ud800\"]"),
                        "invalid JSON at byte 8: unpaired high surrogate in a \\u escape");
    assert_string_equal(parse_err("[\"\\udc00\"]"),
                        "invalid JSON at byte 8: unpaired low surrogate in a \\u escape");
    assert_string_equal(parse_err("[\"\\u12g4\"]"),
                        "invalid JSON at byte 4: bad hex digit in a \\u escape");
    assert_string_equal(parse_err("[\"\\u12"), "invalid JSON at byte 4: truncated \\u escape");
    assert_string_equal(parse_err("[\"a\nb\"]"),
                        "invalid JSON at byte 3: control character 0x0a inside a string");
    assert_string_equal(parse_err("{\"a\": 1, \"a\": 2}"),
                        "invalid JSON at byte 9: duplicate key \"a\"");
    assert_string_equal(parse_err("// no comments\n{}"),
                        "invalid JSON at byte 0: unexpected character '/'");
    assert_string_equal(parse_err("[\x01]"), "invalid JSON at byte 1: unexpected byte 0x01");
}

static void a_repeated_key_is_refused_in_nested_objects_only_within_one_object(void **state)
{
    ks_json_doc_t doc;
    /* The same key in two different objects is fine. */
    const ks_json_t *r = parse_ok(&doc, "{\"a\": {\"a\": 1}, \"b\": {\"a\": 2}}");
    assert_string_equal(ks_json_get(ks_json_get(r, "b"), "a")->text, "2");
    ks_json_free(&doc);
    assert_string_equal(parse_err("[{\"x\": 1, \"y\": 2, \"x\": 3}]"),
                        "invalid JSON at byte 18: duplicate key \"x\"");
}

static void errors_fit_a_small_buffer_and_a_null_one(void **state)
{
    ks_json_doc_t doc;
    char err[12];
    assert_int_equal(ks_json_parse("[1 2]", (size_t)-1, &doc, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "invalid JSO");
    ks_json_free(&doc);
    assert_int_equal(ks_json_parse("[1 2]", (size_t)-1, &doc, NULL, 0), KS_EINVAL);
    ks_json_free(&doc);
    assert_int_equal(ks_json_parse(NULL, 0, &doc, err, sizeof(err)), KS_EINVAL);
    ks_json_free(&doc);
    assert_int_equal(ks_json_parse("{}", (size_t)-1, NULL, err, sizeof(err)), KS_EINVAL);
}

static void nesting_deeper_than_64_levels_is_refused(void **state)
{
    char deep[300];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    assert_string_equal(parse_err(deep), "invalid JSON at byte 64: nested deeper than 64 levels");
    /* Runaway nesting that never closes stops at the same depth. */
    memset(deep, '[', 200);
    deep[200] = '\0';
    assert_string_equal(parse_err(deep), "invalid JSON at byte 64: nested deeper than 64 levels");
    memset(deep, '[', KS_JSON_MAX_DEPTH);
    memset(deep + KS_JSON_MAX_DEPTH, ']', KS_JSON_MAX_DEPTH);
    deep[2 * KS_JSON_MAX_DEPTH] = '\0';
    ks_json_doc_t doc;
    parse_ok(&doc, deep);
    ks_json_free(&doc);
}

static void parses_exactly_len_bytes(void **state)
{
    /* A line inside a larger buffer: no NUL after the document. */
    const char buf[] = "{\"a\": [1, 2]}{\"b\": garbage";
    ks_json_doc_t doc;
    char err[128];
    assert_int_equal(ks_json_parse(buf, 13, &doc, err, sizeof(err)), KS_OK);
    assert_int_equal(ks_json_get(doc.root, "a")->count, 2);
    ks_json_free(&doc);
    assert_int_equal(ks_json_parse(buf, 5, &doc, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "invalid JSON at byte 5: unexpected end of input");
    ks_json_free(&doc);
    /* A number ending the text: its copy is NUL-terminated, the text is not read past len. */
    assert_int_equal(ks_json_parse("123456", 3, &doc, err, sizeof(err)), KS_OK);
    assert_string_equal(doc.root->text, "123");
    ks_json_free(&doc);
}

static void a_large_document_keeps_every_node_valid(void **state)
{
    /* Enough values to take several node blocks: pointers taken early must stay valid. */
    enum { N = 20000 };
    size_t cap = (size_t)N * 40 + 16, o = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    o += (size_t)snprintf(text + o, cap - o, "[");
    for (int i = 0; i < N; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s{\"i\": %d, \"s\": \"v%d\"}", i ? "," : "", i,
                              i);
    o += (size_t)snprintf(text + o, cap - o, "]");
    ks_json_doc_t doc;
    const ks_json_t *r = parse_ok(&doc, text);
    const ks_json_t *first = r->child;
    assert_int_equal(r->count, N);
    int i = 0;
    char want[16];
    for (const ks_json_t *x = r->child; x; x = x->next, i++) {
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(ks_json_get(x, "i")->text, want);
        snprintf(want, sizeof(want), "v%d", i);
        assert_string_equal(ks_json_get(x, "s")->text, want);
    }
    assert_int_equal(i, N);
    assert_string_equal(ks_json_get(first, "s")->text, "v0");
    ks_json_free(&doc);
    free(text);
}

static void reparse_reads_many_documents_into_one(void **state)
{
    ks_json_doc_t doc = KS_JSON_DOC_INIT;
    char err[128], line[128];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof(line), "{\"seq\": %d, \"b\": [[\"%d.5\", \"1\"]]}", i, i);
        assert_int_equal(ks_json_reparse(line, (size_t)n, &doc, err, sizeof(err)), KS_OK);
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(ks_json_get(doc.root, "seq")->text, want);
        snprintf(want, sizeof(want), "%d.5", i);
        assert_string_equal(ks_json_get(doc.root, "b")->child->child->text, want);
    }
    ks_json_free(&doc);
    assert_null(doc.root);
    assert_null(doc.mem);
}

static void reparse_reuses_the_buffers(void **state)
{
    ks_json_doc_t doc = KS_JSON_DOC_INIT;
    char err[128];
    assert_int_equal(ks_json_reparse("{\"a\": \"xyz\"}", (size_t)-1, &doc, err, sizeof(err)),
                     KS_OK);
    const ks_json_t *root = doc.root;
    const char *text = ks_json_get(doc.root, "a")->text;
    const struct ks_json_mem *mem = doc.mem;
    assert_int_equal(ks_json_reparse("{\"b\": \"uvw\"}", (size_t)-1, &doc, err, sizeof(err)),
                     KS_OK);
    /* Same memory, new contents. */
    assert_ptr_equal(doc.mem, mem);
    assert_ptr_equal(doc.root, root);
    assert_ptr_equal(ks_json_get(doc.root, "b")->text, text);
    assert_null(ks_json_get(doc.root, "a"));
    ks_json_free(&doc);
}

static void reparse_grows_for_a_bigger_document_and_survives_a_failure(void **state)
{
    ks_json_doc_t doc = KS_JSON_DOC_INIT;
    char err[128];
    enum { N = 5000 };
    char *big = malloc(N * 4 + 8);
    assert_non_null(big);
    size_t o = 0;
    big[o++] = '[';
    for (int i = 0; i < N; i++) {
        if (i)
            big[o++] = ',';
        big[o++] = '"';
        big[o++] = (char)('a' + i % 26);
        big[o++] = '"';
    }
    big[o++] = ']';
    big[o] = '\0';
    assert_int_equal(ks_json_reparse("[1]", (size_t)-1, &doc, err, sizeof(err)), KS_OK);
    assert_int_equal(ks_json_reparse(big, o, &doc, err, sizeof(err)), KS_OK);
    assert_int_equal(doc.root->count, N);
    int i = 0;
    for (const ks_json_t *x = doc.root->child; x; x = x->next, i++)
        assert_int_equal(x->text[0], 'a' + i % 26);
    assert_int_equal(i, N);
    /* A failed reparse leaves no root; the next one works. */
    assert_int_equal(ks_json_reparse("{\"a\":", (size_t)-1, &doc, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "invalid JSON at byte 5: unexpected end of input");
    assert_null(doc.root);
    assert_int_equal(ks_json_reparse("{\"a\": true}", (size_t)-1, &doc, err, sizeof(err)), KS_OK);
    assert_true(ks_json_get(doc.root, "a")->boolean);
    ks_json_free(&doc);
    free(big);
}

static void free_accepts_an_empty_document_and_null(void **state)
{
    ks_json_doc_t doc = KS_JSON_DOC_INIT;
    ks_json_free(&doc);
    ks_json_free(NULL);
    assert_null(doc.root);
}

static void type_names_are_for_messages(void **state)
{
    assert_string_equal(ks_json_type_name(KS_JSON_NULL), "null");
    assert_string_equal(ks_json_type_name(KS_JSON_BOOL), "bool");
    assert_string_equal(ks_json_type_name(KS_JSON_NUMBER), "number");
    assert_string_equal(ks_json_type_name(KS_JSON_STRING), "string");
    assert_string_equal(ks_json_type_name(KS_JSON_ARRAY), "array");
    assert_string_equal(ks_json_type_name(KS_JSON_OBJECT), "object");
    assert_string_equal(ks_json_type_name(99), "?");
}

static void getters_leave_the_default_for_absent_and_null(void **state)
{
    ks_json_doc_t doc;
    char err[128];
    const ks_json_t *r = parse_ok(&doc, "{\"n\": null}");
    ks_dec_t d = KS_DEC(7, 0);
    int64_t i = 3;
    bool b = true;
    const ks_json_t *o = r;
    assert_int_equal(ks_json_get_dec(r, "", "n", &d, err, sizeof(err)), 0);
    assert_int_equal(ks_json_get_dec(r, "", "missing", &d, err, sizeof(err)), 0);
    assert_int_equal(ks_json_get_int(r, "", "n", 0, 10, &i, err, sizeof(err)), 0);
    assert_int_equal(ks_json_get_bool(r, "", "n", &b, err, sizeof(err)), 0);
    assert_int_equal(ks_json_get_object(r, "", "n", &o, err, sizeof(err)), 0);
    assert_int_equal(ks_json_get_array(NULL, "", "n", &o, err, sizeof(err)), 0);
    assert_int_equal(d.mant, 7);
    assert_int_equal(i, 3);
    assert_true(b);
    assert_ptr_equal(o, r);
    ks_json_free(&doc);
}

static void get_dec_reads_numbers_and_strings_exactly(void **state)
{
    ks_json_doc_t doc;
    char err[128], buf[KS_DEC_STRLEN];
    const ks_json_t *r = parse_ok(&doc, "{\"a\": 0.1, \"b\": \"12.500\", \"c\": 5e-2}");
    ks_dec_t d;
    assert_int_equal(ks_json_get_dec(r, "", "a", &d, err, sizeof(err)), 1);
    ks_dec_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "0.1");
    assert_int_equal(ks_json_get_dec(r, "", "b", &d, err, sizeof(err)), 1);
    ks_dec_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "12.5");
    assert_int_equal(ks_json_get_dec(r, "", "c", &d, err, sizeof(err)), 1);
    ks_dec_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "0.05");
    ks_json_free(&doc);
}

static void getter_errors_name_the_key_with_its_path(void **state)
{
    ks_json_doc_t doc;
    char err[128];
    const ks_json_t *r = parse_ok(
        &doc, "{\"a\": \"ten\", \"b\": [1], \"c\": 1.5, \"d\": 12, \"e\": \"yes\", \"f\": 1, "
              "\"g\": 0.0000000000000000001}");
    ks_dec_t d;
    int64_t i;
    bool b;
    const ks_json_t *o;
    assert_int_equal(ks_json_get_dec(r, "per_strategy.carry.", "a", &d, err, sizeof(err)),
                     KS_EINVAL);
    assert_string_equal(err, "per_strategy.carry.a: expected a decimal number, got \"ten\"");
    assert_int_equal(ks_json_get_dec(r, "", "b", &d, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "b: expected a decimal number, got an array");
    assert_int_equal(ks_json_get_int(r, "", "c", 0, 100, &i, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "c: expected an integer, got 1.5");
    assert_int_equal(ks_json_get_int(r, "", "d", 0, 10, &i, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "d: must be between 0 and 10, got 12");
    assert_int_equal(ks_json_get_bool(r, "", "e", &b, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "e: expected true or false, got \"yes\"");
    assert_int_equal(ks_json_get_object(r, "", "f", &o, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "f: expected an object, got 1");
    assert_int_equal(ks_json_get_array(r, "", "a", &o, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "a: expected an array, got \"ten\"");
    assert_int_equal(ks_json_get_dec(r, "", "g", &d, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "g: 0.0000000000000000001 does not fit an exact decimal (at most 18 "
                             "fraction digits)");
    ks_json_free(&doc);
}

static void get_int_accepts_integral_numbers_and_strings(void **state)
{
    ks_json_doc_t doc;
    char err[128];
    const ks_json_t *r = parse_ok(&doc, "{\"a\": 3.0, \"b\": \"-4\", \"c\": 1e2}");
    int64_t i;
    assert_int_equal(ks_json_get_int(r, "", "a", -10, 1000, &i, err, sizeof(err)), 1);
    assert_int_equal(i, 3);
    assert_int_equal(ks_json_get_int(r, "", "b", -10, 1000, &i, err, sizeof(err)), 1);
    assert_int_equal(i, -4);
    assert_int_equal(ks_json_get_int(r, "", "c", -10, 1000, &i, err, sizeof(err)), 1);
    assert_int_equal(i, 100);
    ks_json_free(&doc);
}

static void get_object_and_get_array_return_the_node(void **state)
{
    ks_json_doc_t doc;
    char err[128];
    const ks_json_t *r = parse_ok(&doc, "{\"o\": {\"k\": 1}, \"a\": [true]}");
    const ks_json_t *o = NULL, *a = NULL;
    assert_int_equal(ks_json_get_object(r, "", "o", &o, err, sizeof(err)), 1);
    assert_ptr_equal(o, ks_json_get(r, "o"));
    assert_int_equal(ks_json_get_array(r, "", "a", &a, err, sizeof(err)), 1);
    assert_true(a->child->boolean);
    ks_json_free(&doc);
}

static void check_keys_names_the_unknown_key(void **state)
{
    ks_json_doc_t doc;
    char err[128];
    static const char *const allowed[] = {"alpha", "beta", NULL};
    const ks_json_t *r = parse_ok(&doc, "{\"alpha\": 1, \"betta\": 2}");
    assert_int_equal(ks_json_check_keys(r, "x.", allowed, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "x.betta: unknown key");
    ks_json_free(&doc);
    r = parse_ok(&doc, "{\"beta\": 1}");
    assert_int_equal(ks_json_check_keys(r, "", allowed, err, sizeof(err)), KS_OK);
    ks_json_free(&doc);
    /* Not an object: nothing to check. */
    r = parse_ok(&doc, "[1]");
    assert_int_equal(ks_json_check_keys(r, "", allowed, err, sizeof(err)), KS_OK);
    assert_int_equal(ks_json_check_keys(NULL, "", allowed, err, sizeof(err)), KS_OK);
    ks_json_free(&doc);
}

static void quote_shortens_and_sanitizes_values(void **state)
{
    ks_json_doc_t doc;
    char q[64];
    const ks_json_t *r = parse_ok(
        &doc,
        "[\"0123456789012345678901234567890123456789abc\", 1.5, null, true, {}, [], \"a\\tb\"]");
    const ks_json_t *x = r->child;
    assert_string_equal(ks_json_quote(x, q, sizeof(q)),
                        "\"0123456789012345678901234567890123456789...\"");
    assert_string_equal(ks_json_quote(x = x->next, q, sizeof(q)), "1.5");
    assert_string_equal(ks_json_quote(x = x->next, q, sizeof(q)), "null");
    assert_string_equal(ks_json_quote(x = x->next, q, sizeof(q)), "true");
    assert_string_equal(ks_json_quote(x = x->next, q, sizeof(q)), "an object");
    assert_string_equal(ks_json_quote(x = x->next, q, sizeof(q)), "an array");
    assert_string_equal(ks_json_quote(x = x->next, q, sizeof(q)), "\"a?b\"");
    assert_string_equal(ks_json_quote(r->child, q, 8), "\"01\"");
    ks_json_free(&doc);
}

static void error_messages_stay_on_one_line(void **state)
{
    ks_json_doc_t doc;
    char err[128];
    static const char *const allowed[] = {NULL};
    const ks_json_t *r = parse_ok(&doc, "{\"a\\nb\": \"x\\ny\"}");
    assert_int_equal(ks_json_check_keys(r, "", allowed, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "a?b: unknown key");
    ks_dec_t d;
    assert_int_equal(ks_json_get_dec(r, "", "a\nb", &d, err, sizeof(err)), KS_EINVAL);
    assert_string_equal(err, "a?b: expected a decimal number, got \"x?y\"");
    ks_json_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_objects_arrays_and_literals),
        cmocka_unit_test(iterates_nested_values_through_child_and_next),
        cmocka_unit_test(get_is_null_safe_and_reads_objects_only),
        cmocka_unit_test(numbers_keep_their_source_text),
        cmocka_unit_test(a_bare_number_or_string_is_a_document),
        cmocka_unit_test(strings_are_unescaped_including_surrogate_pairs),
        cmocka_unit_test(keys_are_unescaped_too),
        cmocka_unit_test(an_escaped_nul_is_kept_and_counted_in_len),
        cmocka_unit_test(malformed_documents_fail_with_the_byte_offset),
        cmocka_unit_test(a_repeated_key_is_refused_in_nested_objects_only_within_one_object),
        cmocka_unit_test(errors_fit_a_small_buffer_and_a_null_one),
        cmocka_unit_test(nesting_deeper_than_64_levels_is_refused),
        cmocka_unit_test(parses_exactly_len_bytes),
        cmocka_unit_test(a_large_document_keeps_every_node_valid),
        cmocka_unit_test(reparse_reads_many_documents_into_one),
        cmocka_unit_test(reparse_reuses_the_buffers),
        cmocka_unit_test(reparse_grows_for_a_bigger_document_and_survives_a_failure),
        cmocka_unit_test(free_accepts_an_empty_document_and_null),
        cmocka_unit_test(type_names_are_for_messages),
        cmocka_unit_test(getters_leave_the_default_for_absent_and_null),
        cmocka_unit_test(get_dec_reads_numbers_and_strings_exactly),
        cmocka_unit_test(getter_errors_name_the_key_with_its_path),
        cmocka_unit_test(get_int_accepts_integral_numbers_and_strings),
        cmocka_unit_test(get_object_and_get_array_return_the_node),
        cmocka_unit_test(check_keys_names_the_unknown_key),
        cmocka_unit_test(quote_shortens_and_sanitizes_values),
        cmocka_unit_test(error_messages_stay_on_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
