/* Plugin loader: which files load, the exact one-line refusals for the rest, plugin sets
 * (search path, same file twice, duplicate names), default directories, `plugin info`
 * output, and the example exchange plugin driven through a fake host. Fixture plugins
 * live in KS_FIXTURE_DIR (tests/plugin.cmake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "unit/test_util.h"

#ifndef KS_FIXTURE_DIR
#error "KS_FIXTURE_DIR must name the directory of the fixture plugins"
#endif

/* Path of a fixture plugin; a ring of buffers so one call may use several. */
static const char *fixture(const char *file)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", KS_FIXTURE_DIR, file);
    return buf[i];
}

/* Opens `file` expecting a refusal; checks the exact message. */
static void assert_refused(const char *file, const char *want_fmt)
{
    char err[512] = "", want[512];
    const char *path = fixture(file);
    snprintf(want, sizeof(want), want_fmt, path);
    ks_plugin_t *p = ks_plugin_open(path, err, sizeof(err));
    if (p)
        ks_plugin_close(p);
    assert_null(p);
    assert_string_equal(err, want);
}

/* ---- loading one file ---------------------------------------------------------------- */

static void good_exchange_plugin_loads_and_reads_back(void **state)
{
    char err[512] = "";
    ks_plugin_t *p = ks_plugin_open(fixture("good.so"), err, sizeof(err));
    assert_non_null(p);
    assert_string_equal(err, "");
    assert_string_equal(p->path, fixture("good.so"));
    assert_non_null(p->dl);
    assert_int_equal(p->desc->abi_major, KS_ABI_MAJOR);
    assert_int_equal(p->desc->abi_minor, KS_ABI_MINOR);
    assert_int_equal(p->desc->kind, KS_PLUGIN_EXCHANGE);
    assert_string_equal(p->desc->name, "good");
    assert_string_equal(p->desc->version, "1.2.3");
    assert_string_equal(p->desc->description, "Loader test fixture");
    const ks_exchange_ops_t *ops = p->desc->ops;
    assert_int_equal(ops->struct_size, sizeof(ks_exchange_ops_t));
    assert_int_equal(ops->caps, KS_XCAP_AMEND | KS_XCAP_QUERY_BY_CLOID);
    assert_non_null(ops->place);
    ks_plugin_close(p);
}

static void risk_plugin_loads(void **state)
{
    char err[512] = "";
    ks_plugin_t *p = ks_plugin_open(fixture("limits.so"), err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->desc->kind, KS_PLUGIN_RISK);
    assert_string_equal(p->desc->name, "limits");
    ks_plugin_close(p);
}

static void newer_abi_minor_is_accepted(void **state)
{
    char err[512] = "";
    ks_plugin_t *p = ks_plugin_open(fixture("newer_minor.so"), err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->desc->abi_minor, KS_ABI_MINOR + 3);
    assert_true(p->desc->struct_size > sizeof(ks_plugin_desc_t));
    assert_string_equal(p->desc->name, "newer");
    ks_plugin_close(p);
}

static void other_abi_major_entry_symbol_is_refused(void **state)
{
    assert_refused("abi_v2.so", "%s: plugin built for ABI 2, this host supports ABI 1 (rebuild "
                                "it against kestrel-sdk 1.x)");
}

static void descriptor_with_other_major_is_refused(void **state)
{
    assert_refused("major_mismatch.so", "%s: plugin built for ABI 2, this host supports ABI 1 "
                                        "(rebuild it against kestrel-sdk 1.x)");
}

static void missing_entry_symbol_is_refused(void **state)
{
    assert_refused("no_entry.so", "%s: not a Kestrel plugin: symbol kestrel_plugin_v1 not found");
}

static void bad_name_is_refused(void **state)
{
    assert_refused("bad_name.so", "%s: invalid plugin name \"Bad-Name\" (expected 1-32 "
                                  "characters of a-z, 0-9 and _)");
}

static void name_longer_than_32_is_refused(void **state)
{
    assert_refused("long_name.so",
                   "%s: invalid plugin name \"abcdefghijklmnopqrstuvwxyz0123456\" (expected "
                   "1-32 characters of a-z, 0-9 and _)");
}

static void null_mandatory_op_is_refused(void **state)
{
    assert_refused("null_op.so",
                   "%s: plugin \"null_op\": mandatory exchange operation place is NULL");
}

static void declared_amend_cap_without_amend_is_refused(void **state)
{
    assert_refused(
        "cap_no_amend.so",
        "%s: plugin \"cap_no_amend\": caps has KS_XCAP_AMEND but operation amend is NULL");
}

static void unknown_kind_is_refused(void **state)
{
    assert_refused("bad_kind.so", "%s: unknown plugin kind 9 (expected 1 exchange or 2 risk)");
}

static void ops_table_smaller_than_abi_1_0_is_refused(void **state)
{
    char want[160];
    snprintf(want, sizeof(want),
             "%%s: plugin \"small_ops\": exchange operations table too small (struct_size 16, "
             "ABI 1.0 needs at least %zu)",
             sizeof(ks_exchange_ops_t));
    assert_refused("small_ops.so", want);
}

static void missing_file_is_refused(void **state)
{
    assert_refused("absent.so", "%s: cannot load plugin: No such file or directory");
}

static void file_that_is_not_a_shared_object_reports_dlerror(void **state)
{
    char path[] = "/tmp/ks_test_plugin_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
    close(fd);

    char err[512] = "", prefix[600];
    ks_plugin_t *p = ks_plugin_open(path, err, sizeof(err));
    unlink(path);
    assert_null(p);
    snprintf(prefix, sizeof(prefix), "%s: cannot load plugin: ", path);
    assert_memory_equal(err, prefix, strlen(prefix));
    /* glibc: "invalid ELF header" or "file too short"; the path is not repeated. */
    const char *why = err + strlen(prefix);
    if (!strstr(why, "ELF") && !strstr(why, "too short"))
        fail_msg("dlerror text missing: %s", err);
    assert_null(strstr(why, path));
}

/* ---- plugin sets --------------------------------------------------------------------- */

static void same_file_twice_is_the_same_plugin(void **state)
{
    char err[512] = "", alias[PATH_MAX];
    ks_plugin_set_t *set = ks_plugin_set_new();
    const ks_plugin_t *a = ks_plugin_set_load(set, fixture("good.so"), NULL, 0, err, sizeof(err));
    assert_non_null(a);
    const ks_plugin_t *b = ks_plugin_set_load(set, fixture("good.so"), NULL, 0, err, sizeof(err));
    snprintf(alias, sizeof(alias), "%s/./good.so", KS_FIXTURE_DIR);
    const ks_plugin_t *c = ks_plugin_set_load(set, alias, NULL, 0, err, sizeof(err));
    const char *dirs[] = {KS_FIXTURE_DIR};
    const ks_plugin_t *d = ks_plugin_set_load(set, "good", dirs, 1, err, sizeof(err));
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_ptr_equal(a, d);
    assert_int_equal(ks_plugin_set_count(set), 1);
    assert_ptr_equal(ks_plugin_set_find(set, "good"), a);
    ks_plugin_set_free(set);
}

static void duplicate_name_from_another_file_is_refused(void **state)
{
    char err[512] = "", want[1200];
    ks_plugin_set_t *set = ks_plugin_set_new();
    assert_non_null(ks_plugin_set_load(set, fixture("dup_a.so"), NULL, 0, err, sizeof(err)));
    assert_null(ks_plugin_set_load(set, fixture("dup_b.so"), NULL, 0, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: duplicate plugin name \"dup\" (already loaded from %s)",
             fixture("dup_b.so"), fixture("dup_a.so"));
    assert_string_equal(err, want);
    assert_int_equal(ks_plugin_set_count(set), 1);
    ks_plugin_set_free(set);
}

static void name_is_searched_in_directory_order(void **state)
{
    char err[512] = "";
    const char *dirs[] = {"/nonexistent/kestrel", KS_FIXTURE_DIR};
    ks_plugin_set_t *set = ks_plugin_set_new();
    const ks_plugin_t *p = ks_plugin_set_load(set, "limits", dirs, 2, err, sizeof(err));
    assert_non_null(p);
    assert_string_equal(p->path, fixture("limits.so"));
    assert_ptr_equal(ks_plugin_set_get(set, 0), p);
    assert_null(ks_plugin_set_get(set, 1));
    ks_plugin_set_free(set);
}

static void name_not_found_lists_every_candidate(void **state)
{
    char err[512] = "", want[1024];
    const char *dirs[] = {"/nonexistent/kestrel", KS_FIXTURE_DIR};
    ks_plugin_set_t *set = ks_plugin_set_new();
    assert_null(ks_plugin_set_load(set, "nosuch", dirs, 2, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "plugin \"nosuch\" not found (searched: /nonexistent/kestrel/nosuch.so, %s)",
             fixture("nosuch.so"));
    assert_string_equal(err, want);
    assert_null(ks_plugin_set_load(set, "nosuch", NULL, 0, err, sizeof(err)));
    assert_string_equal(err, "plugin \"nosuch\" not found (searched: no plugin directories)");
    ks_plugin_set_free(set);
}

static void file_found_by_name_must_declare_that_name(void **state)
{
    char err[512] = "", want[1024];
    const char *dirs[] = {KS_FIXTURE_DIR};
    ks_plugin_set_t *set = ks_plugin_set_new();
    assert_null(ks_plugin_set_load(set, "dup_a", dirs, 1, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s: plugin declares the name \"dup\", expected \"dup_a\" (a plugin found by "
             "name must be named like its file)",
             fixture("dup_a.so"));
    assert_string_equal(err, want);
    assert_int_equal(ks_plugin_set_count(set), 0);
    ks_plugin_set_free(set);
}

static void requested_name_must_be_a_plugin_name_or_path(void **state)
{
    char err[512] = "";
    ks_plugin_set_t *set = ks_plugin_set_new();
    assert_null(ks_plugin_set_load(set, "Sim", NULL, 0, err, sizeof(err)));
    assert_string_equal(err, "invalid plugin name \"Sim\" (expected 1-32 characters of a-z, 0-9 "
                             "and _, or a path to a .so file)");
    assert_null(ks_plugin_set_load(set, "", NULL, 0, err, sizeof(err)));
    assert_string_equal(err, "cannot load plugin: empty name");
    ks_plugin_set_free(set);
}

static void bare_file_name_ending_in_so_is_relative_to_cwd(void **state)
{
    char err[512] = "", cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(KS_FIXTURE_DIR), 0);
    ks_plugin_set_t *set = ks_plugin_set_new();
    const ks_plugin_t *p = ks_plugin_set_load(set, "good.so", NULL, 0, err, sizeof(err));
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(p);
    assert_string_equal(p->path, "good.so");
    ks_plugin_set_free(set);
}

/* ---- default directories and plugin info --------------------------------------------- */

static void default_dirs_are_exe_dir_plugins_then_install_dir(void **state)
{
    char exe[PATH_MAX], want[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(want, sizeof(want), "%s/plugins", exe);

    const char *dirs[4] = {0};
    assert_int_equal(ks_plugin_default_dirs(dirs, 4), 2);
    assert_string_equal(dirs[0], want);
    assert_string_equal(dirs[1], KS_PLUGIN_INSTALL_DIR);
    assert_int_equal(ks_plugin_default_dirs(dirs, 1), 1);
    assert_string_equal(dirs[0], want);
}

/* Runs print_info with stdout and stderr captured into malloc'ed strings. */
static int capture_info(const char *path, char **out, char **err)
{
    FILE *o = tmpfile(), *e = tmpfile();
    assert_non_null(o);
    assert_non_null(e);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(e), STDERR_FILENO);
    int rc = ks_plugin_print_info(path, o);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    FILE *fs[2] = {o, e};
    char **dst[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        fflush(fs[i]);
        long len = lseek(fileno(fs[i]), 0, SEEK_END);
        *dst[i] = calloc(1, (size_t)len + 1);
        assert_int_equal(pread(fileno(fs[i]), *dst[i], (size_t)len, 0), len);
        fclose(fs[i]);
    }
    return rc;
}

static void plugin_info_prints_descriptor_and_caps(void **state)
{
    char *out, *err, want[PATH_MAX + 32];
    assert_int_equal(capture_info(fixture("good.so"), &out, &err), 0);
    assert_string_equal(err, "");
    snprintf(want, sizeof(want), "file:        %s\n", fixture("good.so"));
    const char *lines[] = {
        want,
        "name:        good\n",
        "kind:        exchange\n",
        "version:     1.2.3\n",
        "description: Loader test fixture\n",
        "abi:         1.0 (host 1.0)\n",
        "caps:        amend query_by_cloid\n",
        "optional:    amend=yes transfer=no set_leverage=no request_weight=no\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!strstr(out, lines[i]))
            fail_msg("missing line %s in:\n%s", lines[i], out);
    }
    snprintf(want, sizeof(want), "ops size:    %zu bytes\n", sizeof(ks_exchange_ops_t));
    assert_non_null(strstr(out, want));
    free(out);
    free(err);
}

static void plugin_info_of_risk_plugin_has_no_caps(void **state)
{
    char *out, *err;
    assert_int_equal(capture_info(fixture("limits.so"), &out, &err), 0);
    assert_non_null(strstr(out, "kind:        risk\n"));
    assert_null(strstr(out, "caps:"));
    free(out);
    free(err);
}

static void plugin_info_of_bad_plugin_fails_with_one_line(void **state)
{
    char *out, *err, want[PATH_MAX + 128];
    assert_int_equal(capture_info(fixture("abi_v2.so"), &out, &err), KS_EABI);
    snprintf(want, sizeof(want),
             "%s: plugin built for ABI 2, this host supports ABI 1 (rebuild it against "
             "kestrel-sdk 1.x)\n",
             fixture("abi_v2.so"));
    assert_string_equal(err, want);
    assert_string_equal(out, "");
    free(out);
    free(err);
    assert_int_equal(capture_info(fixture("absent.so"), &out, &err), KS_ENOENT);
    free(out);
    free(err);
}

/* ---- the example exchange plugin, through a fake host -------------------------------- */

#define MAX_EVENTS 16

static struct fake_host {
    union {
        ks_event_t hdr;
        ks_bbo_t bbo;
        ks_conn_t conn;
        ks_order_update_t order;
        ks_fill_t fill;
        ks_position_t position;
        ks_sync_done_t sync;
    } ev[MAX_EVENTS];
    int n_ev;
    char symbol[KS_SYMBOL_LEN];
    ks_instrument_t inst;
    ks_timer_cb timer_cb;
    void *timer_ud;
    int64_t timer_after, timer_repeat;
    int timers_stopped;
} fh;

static void fh_log(ks_host_t *h, int level, const char *fmt, ...)
{
}

static int64_t fh_now(ks_host_t *h)
{
    return 1000;
}

static int64_t fh_wall(ks_host_t *h)
{
    return 1700000000000000000LL;
}

static uint64_t fh_timer_start(ks_host_t *h, int64_t after, int64_t repeat, ks_timer_cb cb,
                               void *ud)
{
    fh.timer_cb = cb;
    fh.timer_ud = ud;
    fh.timer_after = after;
    fh.timer_repeat = repeat;
    return 77;
}

static void fh_timer_stop(ks_host_t *h, uint64_t id)
{
    assert_int_equal(id, 77);
    fh.timers_stopped++;
}

static int fh_upsert(ks_host_t *h, const ks_instrument_t *inst, int32_t *id)
{
    ks_strlcpy(fh.symbol, inst->symbol, sizeof(fh.symbol));
    fh.inst = *inst;
    fh.inst.symbol = fh.symbol;
    *id = 5;
    return KS_OK;
}

static int fh_emit(ks_host_t *h, const ks_event_t *ev)
{
    assert_true(fh.n_ev < MAX_EVENTS);
    assert_true(ev->struct_size <= sizeof(fh.ev[0]));
    memcpy(&fh.ev[fh.n_ev++], ev, ev->struct_size);
    return KS_OK;
}

static const char *dec(ks_dec_t d)
{
    static char buf[4][KS_DEC_STRLEN];
    static int i;
    i = (i + 1) % 4;
    ks_dec_format(d, buf[i], sizeof(buf[i]));
    return buf[i];
}

static void example_plugin_quotes_and_fills_through_the_host_api(void **state)
{
    char err[512] = "";
    ks_plugin_t *p = ks_plugin_open(fixture("myvenue.so"), err, sizeof(err));
    if (!p)
        fail_msg("%s", err);
    assert_string_equal(p->desc->name, "myvenue");
    const ks_exchange_ops_t *ops = p->desc->ops;

    ks_host_api_t api;
    KS_INIT(&api);
    api.abi_major = KS_ABI_MAJOR;
    api.abi_minor = KS_ABI_MINOR;
    api.log = fh_log;
    api.now_ns = fh_now;
    api.wall_ns = fh_wall;
    api.timer_start = fh_timer_start;
    api.timer_stop = fh_timer_stop;
    api.instrument_upsert = fh_upsert;
    api.emit = fh_emit;
    memset(&fh, 0, sizeof(fh));

    void *self = NULL;
    assert_int_equal(ops->open(&api, NULL, "toy", "{}", &self, err, sizeof(err)), KS_OK);
    assert_int_equal(ops->start(self), KS_OK);
    assert_string_equal(fh.symbol, "TOY/USDT:USDT");
    assert_string_equal(dec(fh.inst.tick_size), "0.01");
    assert_int_equal(fh.timer_after, 1000000000LL);
    assert_int_equal(fh.timer_repeat, 1000000000LL);
    assert_int_equal(fh.n_ev, 1);
    assert_int_equal(fh.ev[0].hdr.type, KS_EV_CONN);
    assert_int_equal(fh.ev[0].conn.state, KS_CONN_UP);
    assert_int_equal(ops->subscribe(self, 5, KS_CH_BBO), KS_OK);

    fh.timer_cb(fh.timer_ud);
    assert_int_equal(fh.n_ev, 2);
    const ks_bbo_t *bbo = &fh.ev[1].bbo;
    assert_int_equal(bbo->hdr.type, KS_EV_BBO);
    assert_int_equal(bbo->hdr.inst, 5);
    assert_int_equal(bbo->hdr.struct_size, sizeof(ks_bbo_t));
    assert_true(ks_dec_cmp(bbo->bid_px, bbo->ask_px) < 0);

    ks_order_cmd_t cmd;
    KS_INIT(&cmd);
    cmd.inst = 5;
    ks_strlcpy(cmd.cloid, "c-1", sizeof(cmd.cloid));
    cmd.side = KS_SIDE_BUY;
    cmd.type = KS_ORD_LIMIT;
    cmd.tif = KS_TIF_GTC;
    cmd.price = KS_DEC(10125, 2);
    cmd.qty = KS_DEC(2, 0);
    assert_int_equal(ops->place(self, &cmd), KS_OK);
    assert_int_equal(fh.n_ev, 5);
    assert_int_equal(fh.ev[2].hdr.type, KS_EV_ORDER);
    assert_int_equal(fh.ev[2].order.status, KS_OS_ACKED);
    assert_string_equal(fh.ev[2].order.cloid, "c-1");
    assert_int_equal(fh.ev[3].hdr.type, KS_EV_FILL);
    assert_string_equal(dec(fh.ev[3].fill.px), "101.25");
    assert_string_equal(dec(fh.ev[3].fill.qty), "2");
    assert_string_equal(dec(fh.ev[3].fill.fee), "0.10125"); /* 202.5 * 0.0005 */
    assert_string_equal(fh.ev[3].fill.fee_asset, "USDT");
    assert_int_equal(fh.ev[4].hdr.type, KS_EV_ORDER);
    assert_int_equal(fh.ev[4].order.status, KS_OS_FILLED);
    assert_string_equal(dec(fh.ev[4].order.filled), "2");
    assert_string_equal(fh.ev[4].order.venue_id, fh.ev[3].fill.venue_id);

    assert_int_equal(ops->fetch(self, KS_FETCH_POSITIONS, -1, NULL, 9), KS_OK);
    assert_int_equal(fh.n_ev, 7);
    assert_int_equal(fh.ev[5].hdr.type, KS_EV_POSITION);
    assert_int_equal(fh.ev[5].hdr.flags, KS_EVF_SNAPSHOT);
    assert_string_equal(dec(fh.ev[5].position.qty), "2");
    assert_int_equal(fh.ev[6].hdr.type, KS_EV_SYNC_DONE);
    assert_int_equal(fh.ev[6].sync.req_id, 9);
    assert_int_equal(fh.ev[6].sync.rc, KS_OK);

    ops->close(self);
    assert_int_equal(fh.timers_stopped, 1);
    ks_plugin_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_exchange_plugin_loads_and_reads_back),
        cmocka_unit_test(risk_plugin_loads),
        cmocka_unit_test(newer_abi_minor_is_accepted),
        cmocka_unit_test(other_abi_major_entry_symbol_is_refused),
        cmocka_unit_test(descriptor_with_other_major_is_refused),
        cmocka_unit_test(missing_entry_symbol_is_refused),
        cmocka_unit_test(bad_name_is_refused),
        cmocka_unit_test(name_longer_than_32_is_refused),
        cmocka_unit_test(null_mandatory_op_is_refused),
        cmocka_unit_test(declared_amend_cap_without_amend_is_refused),
        cmocka_unit_test(unknown_kind_is_refused),
        cmocka_unit_test(ops_table_smaller_than_abi_1_0_is_refused),
        cmocka_unit_test(missing_file_is_refused),
        cmocka_unit_test(file_that_is_not_a_shared_object_reports_dlerror),
        cmocka_unit_test(same_file_twice_is_the_same_plugin),
        cmocka_unit_test(duplicate_name_from_another_file_is_refused),
        cmocka_unit_test(name_is_searched_in_directory_order),
        cmocka_unit_test(name_not_found_lists_every_candidate),
        cmocka_unit_test(file_found_by_name_must_declare_that_name),
        cmocka_unit_test(requested_name_must_be_a_plugin_name_or_path),
        cmocka_unit_test(bare_file_name_ending_in_so_is_relative_to_cwd),
        cmocka_unit_test(default_dirs_are_exe_dir_plugins_then_install_dir),
        cmocka_unit_test(plugin_info_prints_descriptor_and_caps),
        cmocka_unit_test(plugin_info_of_risk_plugin_has_no_caps),
        cmocka_unit_test(plugin_info_of_bad_plugin_fails_with_one_line),
        cmocka_unit_test(example_plugin_quotes_and_fills_through_the_host_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
