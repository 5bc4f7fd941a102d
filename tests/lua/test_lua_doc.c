/* The strategy API's reference (sdk/lua/kestrel.lua) and the runtime agree:
 * - every function the runtime puts on ctx is documented as `function ctx.<name>`, and
 *   every documented one exists (read from a real strategy VM, in the real host);
 * - the same for ctx's fields (`---@field` of kestrel.Ctx);
 * - the callbacks the runtime calls (ks_strategy_callbacks, and every callback name the
 *   host's sources pass to it) are exactly the documented `Strategy.on_*`;
 * - the fake ctx of `kestrel test` (sdk/lua/harness.lua) implements every documented
 *   function and knows every documented callback. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "lua_run.h"
#include "lua_runtime.h"

#define MAX_NAMES 128

typedef struct names {
    char *v[MAX_NAMES];
    int n;
} names_t;

static void names_add(names_t *s, const char *name, size_t len)
{
    for (int i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && strncmp(s->v[i], name, len) == 0)
            return;
    assert_true(s->n < MAX_NAMES);
    s->v[s->n] = strndup(name, len);
    assert_non_null(s->v[s->n]);
    s->n++;
}

static bool names_has(const names_t *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

static void names_free(names_t *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

/* Every match of group 1 of `pattern` in text (from start up to end, or all). */
static void scan(names_t *out, const char *text, const char *pattern, const char *start,
                 const char *end)
{
    regex_t re;
    regmatch_t m[2];
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    const char *p = start ? strstr(text, start) : text;
    const char *stop = end && p ? strstr(p, end) : NULL;
    assert_non_null(p);
    while (regexec(&re, p, 2, m, 0) == 0) {
        if (stop && p + m[0].rm_so >= stop)
            break;
        names_add(out, p + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        p += m[0].rm_eo;
    }
    regfree(&re);
}

static char *read_source(const char *rel)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", ks_run_source_dir(), rel);
    char *text = ks_run_slurp(path);
    if (!text)
        fail_msg("cannot read %s", path);
    return text;
}

/* Both directions, naming what is missing where. */
static void expect_same(const names_t *runtime, const char *runtime_what, const names_t *doc,
                        const char *doc_what)
{
    int bad = 0;
    for (int i = 0; i < runtime->n; i++)
        if (!names_has(doc, runtime->v[i])) {
            print_error("%s has %s, but %s does not document it\n", runtime_what, runtime->v[i],
                        doc_what);
            bad++;
        }
    for (int i = 0; i < doc->n; i++)
        if (!names_has(runtime, doc->v[i])) {
            print_error("%s documents %s, but %s has no such thing\n", doc_what, doc->v[i],
                        runtime_what);
            bad++;
        }
    assert_int_equal(bad, 0);
}

/* ctx as a real strategy VM sees it: on_start stores the name of each function and
 * field in ctx.state (every config key that makes a field appear is set). */
static void runtime_ctx(names_t *fns, names_t *fields)
{
    static const char probe[] =
        "return {on_start = function(ctx)\n"
        "  local f, v = {}, {}\n"
        "  for k, x in pairs(ctx) do\n"
        "    if type(x) == 'function' then f[#f + 1] = k else v[#v + 1] = k end\n"
        "  end\n"
        "  ctx.state.functions, ctx.state.fields = f, v\n"
        "end}\n";
    char path[600];
    ks_run_result_t r;
    snprintf(path, sizeof(path), "%s/ctx_probe.lua", ks_run_workdir());
    assert_int_equal(ks_run_write(path, probe, sizeof(probe) - 1), 0);
    ks_run_spec_t spec = {.victim_file = path, .duration_s = 1};
    assert_int_equal(ks_run(&spec, &r), 0);
    if (!r.loaded)
        fail_msg("the probe did not load: %s", r.load_err);
    assert_non_null(r.state);
    cJSON *j = cJSON_Parse(r.state);
    assert_non_null(j);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "functions"))
        names_add(fns, e->valuestring, strlen(e->valuestring));
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "fields"))
        names_add(fields, e->valuestring, strlen(e->valuestring));
    cJSON_Delete(j);
    ks_run_result_free(&r);
    assert_true(fns->n > 10);
}

static void test_ctx_functions_match_the_reference(void **state)
{
    names_t rt = {0}, rt_fields = {0}, doc = {0};
    char *meta = read_source("sdk/lua/kestrel.lua");
    runtime_ctx(&rt, &rt_fields);
    scan(&doc, meta, "^function ctx\\.([a-z_]+)\\(", NULL, NULL);
    expect_same(&rt, "the runtime's ctx", &doc, "sdk/lua/kestrel.lua");
    free(meta);
    names_free(&rt);
    names_free(&rt_fields);
    names_free(&doc);
}

static void test_ctx_fields_match_the_reference(void **state)
{
    names_t rt = {0}, rt_fields = {0}, doc = {0};
    char *meta = read_source("sdk/lua/kestrel.lua");
    runtime_ctx(&rt, &rt_fields);
    scan(&doc, meta, "^---@field ([a-z_]+)", "---@class kestrel.Ctx", "local ctx = {}");
    expect_same(&rt_fields, "the runtime's ctx fields", &doc, "kestrel.Ctx in sdk/lua/kestrel.lua");
    free(meta);
    names_free(&rt);
    names_free(&rt_fields);
    names_free(&doc);
}

static void test_callbacks_match_the_reference(void **state)
{
    names_t rt = {0}, doc = {0}, used = {0};
    char *meta = read_source("sdk/lua/kestrel.lua");
    for (const char *const *c = ks_strategy_callbacks; *c; c++)
        names_add(&rt, *c, strlen(*c));
    scan(&doc, meta, "^function Strategy\\.(on_[a-z_]+)\\(", NULL, NULL);
    expect_same(&rt, "ks_strategy_callbacks", &doc, "sdk/lua/kestrel.lua");

    /* Whatever the sources dispatch must be in the list (the Debug build also asserts it
     * at run time): callback literals in lua_runtime.c, and ks_strategy_call's argument
     * anywhere in the host. */
    static const char *const files[] = {"host/engine.c", "host/legs.c", "host/lua_api.c",
                                        "host/lua_runtime.c"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *src = read_source(files[i]);
        if (strstr(files[i], "lua_runtime.c"))
            scan(&used, src, "\"(on_[a-z_]+)\"", NULL, NULL);
        scan(&used, src, "ks_strategy_call\\([^,]+, *\"(on_[a-z_]+)\"", NULL, NULL);
        free(src);
    }
    for (int i = 0; i < used.n; i++)
        if (!names_has(&rt, used.v[i]))
            fail_msg("the host dispatches %s, which is not in ks_strategy_callbacks", used.v[i]);
    free(meta);
    names_free(&rt);
    names_free(&doc);
    names_free(&used);
}

static void test_fake_ctx_matches_the_reference(void **state)
{
    names_t fake = {0}, doc = {0}, fake_cbs = {0}, doc_cbs = {0};
    char *meta = read_source("sdk/lua/kestrel.lua");
    char *harness = read_source("sdk/lua/harness.lua");
    scan(&doc, meta, "^function ctx\\.([a-z_]+)\\(", NULL, NULL);
    scan(&fake, harness, "^function api\\.([a-z_]+)\\(", NULL, NULL);
    expect_same(&fake, "the fake ctx (sdk/lua/harness.lua)", &doc, "sdk/lua/kestrel.lua");
    scan(&doc_cbs, meta, "^function Strategy\\.(on_[a-z_]+)\\(", NULL, NULL);
    scan(&fake_cbs, harness, "\"(on_[a-z_]+)\"", "M.CALLBACKS = {", "}");
    expect_same(&fake_cbs, "harness.CALLBACKS", &doc_cbs, "sdk/lua/kestrel.lua");
    free(meta);
    free(harness);
    names_free(&fake);
    names_free(&doc);
    names_free(&fake_cbs);
    names_free(&doc_cbs);
}

static int teardown(void **state)
{
    ks_run_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_functions_match_the_reference),
        cmocka_unit_test(test_ctx_fields_match_the_reference),
        cmocka_unit_test(test_callbacks_match_the_reference),
        cmocka_unit_test(test_fake_ctx_matches_the_reference),
    };
    return cmocka_run_group_tests_name("lua_doc", tests, NULL, teardown);
}
