/* The strategy sandbox, issue-2 acceptance: io, os, ffi, debug, package, jit,
 * string.dump, binary chunks (as the strategy file and through load) and
 * setfenv/getfenv are out of a strategy's reach, require only reaches strategies/lib,
 * and the string metatable is protected. Each case is a strategy compiled by the real
 * host (ks_engine_new with the sim venue): either the host refuses it at load with the
 * exact reason, or it runs and stores what it could see in ctx.state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lua_run.h"

/* Compiles `source` as the victim strategy; returns the load error ("" when it loaded).
 * When it loaded, runs it for 2 virtual seconds and copies its stored state. */
static void compile(const char *name, const char *source, size_t len, char *err, size_t err_len,
                    char *state, size_t state_len)
{
    char path[600];
    ks_run_result_t r;
    snprintf(path, sizeof(path), "%s/%s.lua", ks_run_workdir(), name);
    assert_int_equal(ks_run_write(path, source, len), 0);
    ks_run_spec_t spec = {.victim_file = path, .duration_s = 2};
    assert_int_equal(ks_run(&spec, &r), 0);
    snprintf(err, err_len, "%s", r.loaded ? "" : r.load_err);
    if (state)
        snprintf(state, state_len, "%s", r.state ? r.state : "");
    ks_run_result_free(&r);
}

static void expect_refused(const char *name, const char *source, const char *reason)
{
    char err[1024];
    compile(name, source, strlen(source), err, sizeof(err), NULL, 0);
    if (!strstr(err, reason)) {
        print_error("%s: expected the host to refuse it with\n    \"%s\"\n  got\n    \"%s\"\n",
                    name, reason, err[0] ? err : "(it loaded)");
        fail();
    }
}

/* The strategy stores `expr` as ctx.state.v in on_start; the stored JSON must equal. */
static void expect_state(const char *name, const char *expr, const char *json)
{
    char src[2048], err[1024], state[4096];
    snprintf(src, sizeof(src),
             "local v = (function() %s end)()\n"
             "return {on_start = function(ctx) ctx.state.v = v end}\n",
             expr);
    compile(name, src, strlen(src), err, sizeof(err), state, sizeof(state));
    assert_string_equal(err, "");
    char want[1024];
    snprintf(want, sizeof(want), "{\"v\":%s}", json);
    assert_string_equal(state, want);
}

static void test_io_is_unreachable(void **state)
{
    expect_refused("io", "io.write('x')\nreturn {}\n",
                   "attempt to index global 'io' (a nil value)");
    expect_state("io_raw", "return rawget(_G, 'io') == nil and _G.io == nil", "true");
}

static void test_os_is_unreachable(void **state)
{
    expect_refused("os", "os.execute('true')\nreturn {}\n",
                   "attempt to index global 'os' (a nil value)");
}

static void test_ffi_is_unreachable(void **state)
{
    expect_refused("ffi", "ffi.cdef('int x;')\nreturn {}\n",
                   "attempt to index global 'ffi' (a nil value)");
    expect_refused("ffi_require", "local ffi = require('ffi')\nreturn {}\n",
                   "require: module 'ffi' not found in strategies/lib");
}

static void test_debug_is_unreachable(void **state)
{
    expect_refused("debug", "debug.sethook()\nreturn {}\n",
                   "attempt to index global 'debug' (a nil value)");
}

static void test_package_is_unreachable(void **state)
{
    expect_refused("package", "local p = package.path\nreturn {}\n",
                   "attempt to index global 'package' (a nil value)");
}

static void test_jit_is_unreachable(void **state)
{
    expect_refused("jit", "jit.on()\nreturn {}\n", "attempt to index global 'jit' (a nil value)");
    expect_refused("jit_require", "require('jit')\nreturn {}\n",
                   "require: module 'jit' not found in strategies/lib");
}

static void test_string_dump_is_gone(void **state)
{
    expect_refused("dump", "local b = string.dump(print)\nreturn {}\n",
                   "attempt to call field 'dump' (a nil value)");
    expect_refused("dump_method", "local b = ('').dump(function() end)\nreturn {}\n",
                   "attempt to call field 'dump' (a nil value)");
}

static void test_binary_strategy_file_is_refused(void **state)
{
    static const char bytecode[] = "\033LJ\002\012\000\011@bytecode\000\000\000";
    char err[1024];
    compile("binary_file", bytecode, sizeof(bytecode) - 1, err, sizeof(err), NULL, 0);
    if (!strstr(err, "binary chunks are not allowed; load Lua source")) {
        print_error("got \"%s\"\n", err);
        fail();
    }
}

static void test_binary_chunk_through_load_is_refused(void **state)
{
    expect_refused("load_binary", "local f = assert(load('\\27LJ\\2\\10\\0'))\nreturn {}\n",
                   "binary chunks are not allowed");
    expect_refused("loadstring_binary",
                   "local f = assert(loadstring('\\27LJ\\2\\10\\0'))\nreturn {}\n",
                   "binary chunks are not allowed");
    /* Behind a '#' line LuaJIT would skip, or with mode "b": still text only. */
    expect_state("load_binary_header",
                 "return load('#!x\\n\\27LJ\\2\\10\\0') == nil and "
                 "load('\\27LJ\\2\\10\\0', 'x', 'b') == nil",
                 "true");
}

static void test_setfenv_and_getfenv_are_gone(void **state)
{
    expect_refused("setfenv", "setfenv(1, {})\nreturn {}\n",
                   "attempt to call global 'setfenv' (a nil value)");
    expect_refused("getfenv", "local g = getfenv(0)\nreturn {}\n",
                   "attempt to call global 'getfenv' (a nil value)");
}

static void test_require_reaches_strategies_lib_only(void **state)
{
    expect_refused("require_dotdot", "require('../../etc/passwd')\nreturn {}\n",
                   "require: invalid module name '../../etc/passwd'");
    expect_refused("require_absolute", "require('/etc/passwd')\nreturn {}\n",
                   "require: invalid module name '/etc/passwd'");
    expect_refused("require_missing", "require('no_such_module')\nreturn {}\n",
                   "require: module 'no_such_module' not found in strategies/lib");
}

static void test_string_metatable_is_protected(void **state)
{
    expect_state("string_mt",
                 "return getmetatable('') == 'protected' and "
                 "not pcall(setmetatable, '', {}) and "
                 "not pcall(function() getmetatable('').__index = {} end) and "
                 "('ab'):upper() == 'AB'",
                 "true");
}

static void test_dofile_loadfile_newproxy_are_gone(void **state)
{
    expect_state("others",
                 "return dofile == nil and loadfile == nil and newproxy == nil and "
                 "module == nil and gcinfo == nil",
                 "true");
}

static int teardown(void **state)
{
    ks_run_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_is_unreachable),
        cmocka_unit_test(test_os_is_unreachable),
        cmocka_unit_test(test_ffi_is_unreachable),
        cmocka_unit_test(test_debug_is_unreachable),
        cmocka_unit_test(test_package_is_unreachable),
        cmocka_unit_test(test_jit_is_unreachable),
        cmocka_unit_test(test_string_dump_is_gone),
        cmocka_unit_test(test_binary_strategy_file_is_refused),
        cmocka_unit_test(test_binary_chunk_through_load_is_refused),
        cmocka_unit_test(test_setfenv_and_getfenv_are_gone),
        cmocka_unit_test(test_require_reaches_strategies_lib_only),
        cmocka_unit_test(test_string_metatable_is_protected),
        cmocka_unit_test(test_dofile_loadfile_newproxy_are_gone),
    };
    return cmocka_run_group_tests_name("lua_sandbox", tests, NULL, teardown);
}
