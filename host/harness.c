/* `kestrel test PATH...` (see harness.h): finds *_test.lua files, runs each in its own
 * fresh VM (JIT off, memory capped) with the Lua harness (sdk/lua/harness.lua), which
 * builds the fake ctx and runs the tests. This file only finds files, builds VMs and
 * hands the harness a few privileged primitives (compile into the real sandbox, run
 * under the real instruction budget, JSON like ctx.state persistence, params checks);
 * the API quants use is written in Lua on top of them. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>

#include "config.h"
#include "log.h"
#include "lua_json.h"
#include "lua_runtime.h"

#define TEST_MEMORY_DEFAULT_MB 256 /* the whole test file's VM: tests + strategies */
#define MAX_FILES              4096

static const char *usage =
    "usage: kestrel test [--filter TEXT] [--verbose] PATH...\n"
    "\n"
    "Runs strategy unit tests: every *_test.lua under each PATH (a file runs whatever its\n"
    "name), each file in a fresh Lua VM, against a fake ctx (see docs/strategies.md).\n"
    "Prints ok/FAIL per test and a summary; exits 1 when a test failed, 2 on usage errors.\n"
    "\n"
    "  --filter TEXT  run only tests whose \"file: name\" contains TEXT\n"
    "  --verbose      print every test's strategy log, not only failed tests'\n"
    "\n"
    "Environment: KESTREL_LUA_DIR (where harness.lua lives; default: next to the\n"
    "executable in ../share/kestrel/lua, then the source tree's sdk/lua),\n"
    "KESTREL_TEST_MEMORY_MB (the cap of each test file's VM, default 256).\n";

typedef struct hvm {
    size_t mem, limit;
    bool blown;
} hvm_t;

static void *h_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    hvm_t *v = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        v->mem -= old;
        return NULL;
    }
    if (nsize > old && v->mem + (nsize - old) > v->limit) {
        v->blown = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    v->mem = v->mem - old + nsize;
    return p;
}

static hvm_t *vm_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* ---- primitives for harness.lua (the `native` table) -------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) != NULL) {
            *len = fread(text, 1, (size_t)n, f);
            text[*len] = '\0';
        }
    }
    fclose(f);
    return text;
}

/* native.new_env(file) -> a fresh sandbox environment (the host's), whose require
 * resolves lib/ beside file. */
static int n_new_env(lua_State *L)
{
    luaL_checkstring(L, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "kestrel.file");
    ks_lua_sandbox_push_env(L);
    return 1;
}

/* native.compile(path, env) -> function | nil, err: source text only, like the host. */
static int n_compile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: cannot read: %s", path, strerror(errno));
        return 2;
    }
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        free(text);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: binary chunks are not allowed; load Lua source", path);
        return 2;
    }
    lua_pushfstring(L, "@%s", path);
    int rc = luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t");
    free(text);
    if (rc != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushvalue(L, 2);
    lua_setfenv(L, -2);
    return 1;
}

/* native.run(limit, fn, ...) -> true, results... | false, message, kind: fn under an
 * instruction budget of `limit`, as the host runs a callback. kind is "budget",
 * "memory" or "error"; message carries the traceback. */
static int n_run(lua_State *L)
{
    ks_lua_budget_t b = {.limit = (int64_t)luaL_checknumber(L, 1)};
    luaL_checktype(L, 2, LUA_TFUNCTION);
    hvm_t *v = vm_of(L);
    int nargs = lua_gettop(L) - 2;
    bool was_blown = v->blown;
    v->blown = false;
    int rc = ks_lua_run_budgeted(L, &b, nargs, LUA_MULTRET);
    bool mem = v->blown || rc == LUA_ERRMEM;
    v->blown = was_blown || v->blown;
    if (rc == 0) {
        lua_pushboolean(L, 1);
        lua_replace(L, 1); /* true where the limit was */
        return lua_gettop(L);
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    lua_pushstring(L, b.blown ? "budget" : mem ? "memory" : "error");
    return 3;
}

/* native.free_call(fn, ...) -> fn(...) without charging the running budget: the fake
 * ctx is Lua, the host's ctx is C, and a strategy must not pay for the difference.
 * Errors propagate with their message (no traceback). */
static int n_free_call(lua_State *L)
{
    ks_lua_budget_t b = {.limit = INT64_MAX / 2};
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int rc = ks_lua_run_budgeted(L, &b, lua_gettop(L) - 1, LUA_MULTRET);
    if (rc != 0) {
        const char *m = lua_tostring(L, -1);
        const char *tb = m ? strstr(m, "\nstack traceback:") : NULL;
        if (tb)
            lua_pushlstring(L, m, (size_t)(tb - m));
        else
            lua_pushvalue(L, -1);
        return lua_error(L);
    }
    return lua_gettop(L);
}

/* native.to_json(value, root) -> text | nil, err (what the host stores for ctx.state). */
static int n_to_json(lua_State *L)
{
    char err[512], *out = NULL;
    const char *root = luaL_optstring(L, 2, "value");
    lua_settop(L, 1);
    if (ks_lua_to_json(L, 1, root, &out, err, sizeof(err)) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushstring(L, out);
    free(out);
    return 1;
}

/* native.from_json(text) -> value | nil. */
static int n_from_json(lua_State *L)
{
    if (ks_lua_push_json(L, luaL_checkstring(L, 1)) != 0)
        return 1; /* nil */
    return 1;
}

/* native.check_params(name, defaults_json, params_json) -> true | nil, err: the host's
 * type check of a config's params against a strategy's declared defaults. */
static int n_check_params(lua_State *L)
{
    ks_strategy_cfg_t cfg;
    char err[512];
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = (char *)luaL_checkstring(L, 1);
    cfg.params_json = (char *)luaL_checkstring(L, 3);
    if (ks_config_check_params(&cfg, luaL_checkstring(L, 2), err, sizeof(err)) != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int n_write(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    fwrite(s, 1, len, stdout);
    return 0;
}

static int n_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 1;
}

static int n_readable(lua_State *L)
{
    struct stat sb;
    const char *p = luaL_checkstring(L, 1);
    lua_pushboolean(L, stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, R_OK) == 0);
    return 1;
}

static int n_mem(lua_State *L)
{
    lua_pushnumber(L, (double)vm_of(L)->mem);
    return 1;
}

/* ---- files ---------------------------------------------------------------------------- */

typedef struct files {
    char *v[MAX_FILES];
    int n;
} files_t;

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(files_t *f, const char *path)
{
    if (f->n < MAX_FILES) {
        char *c = strdup(path);
        if (c)
            f->v[f->n++] = c;
    }
}

/* Every *_test.lua under dir, recursively (hidden directories skipped). */
static void walk(files_t *f, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d || depth > 32) {
        if (d)
            closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            walk(f, path, depth + 1);
        else if (S_ISREG(sb.st_mode) && ends_with(e->d_name, "_test.lua"))
            add_file(f, path);
    }
    closedir(d);
}

/* harness.lua: KESTREL_LUA_DIR, <exe>/../share/kestrel/lua, the source tree's sdk/lua. */
static bool find_harness(char *out, size_t len)
{
    const char *env = getenv("KESTREL_LUA_DIR");
    char exe[2048];
    struct stat sb;
    if (env && *env) {
        snprintf(out, len, "%s/harness.lua", env);
        if (stat(out, &sb) == 0)
            return true;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%s/../share/kestrel/lua/harness.lua", exe);
            if (stat(out, &sb) == 0)
                return true;
        }
    }
    snprintf(out, len, "%s/sdk/lua/harness.lua", KS_SOURCE_DIR);
    return stat(out, &sb) == 0;
}

/* ---- running one file ------------------------------------------------------------------ */

typedef struct run_opts {
    const char *filter;
    bool verbose;
    const char *harness;
    size_t memory;
} run_opts_t;

static int open_test_libs(lua_State *L)
{
    static const lua_CFunction libs[] = {luaopen_base, luaopen_table, luaopen_string,
                                         luaopen_math, luaopen_bit,   luaopen_debug};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        lua_pushcfunction(L, libs[i]);
        lua_call(L, 0, 0);
    }
    static const luaL_Reg native[] = {
        {"new_env", n_new_env},           {"compile", n_compile}, {"run", n_run},
        {"free_call", n_free_call},       {"to_json", n_to_json}, {"from_json", n_from_json},
        {"check_params", n_check_params}, {"write", n_write},     {"clock", n_clock},
        {"readable", n_readable},         {"mem", n_mem},         {NULL, NULL},
    };
    lua_newtable(L);
    for (const luaL_Reg *r = native; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "kestrel.native");
    return 0;
}

/* Runs one test file; adds to *passed and *failed. */
static void run_file(const char *path, const run_opts_t *o, int *passed, int *failed)
{
    hvm_t v = {0, o->memory, false};
    lua_State *L = lua_newstate(h_alloc, &v);
    if (!L) {
        printf("%s\n  FAIL  (cannot create a Lua VM)\n", path);
        (*failed)++;
        return;
    }
    /* The JIT stays off, as in the host: budgets are only enforced by the interpreter. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    size_t len = 0;
    char *text = slurp(o->harness, &len);
    bool have_text = text != NULL;
    int rc = lua_cpcall(L, open_test_libs, NULL);
    if (rc == 0 && have_text) {
        char chunk[2500];
        snprintf(chunk, sizeof(chunk), "@%s", o->harness);
        rc = luaL_loadbufferx(L, text, len, chunk, "t");
    }
    free(text);
    if (rc == 0 && have_text) {
        /* harness(native) -> module; module._run_file(path, filter, verbose) -> passed, failed */
        lua_getfield(L, LUA_REGISTRYINDEX, "kestrel.native");
        rc = lua_pcall(L, 1, 1, 0);
        if (rc == 0) {
            lua_getfield(L, -1, "_run_file");
            lua_pushstring(L, path);
            if (o->filter)
                lua_pushstring(L, o->filter);
            else
                lua_pushnil(L);
            lua_pushboolean(L, o->verbose);
            rc = lua_pcall(L, 3, 2, 0);
            if (rc == 0) {
                *passed += (int)lua_tointeger(L, -2);
                *failed += (int)lua_tointeger(L, -1);
            }
        }
    }
    if (rc != 0 || !have_text) {
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        printf("%s\n  FAIL  (harness) %s\n", path,
               m            ? m
               : !have_text ? "cannot read harness.lua"
                            : "error");
        (*failed)++;
    }
    fflush(stdout);
    lua_close(L);
}

int ks_harness_main(int argc, char **argv)
{
    run_opts_t o = {.memory = (size_t)TEST_MEMORY_DEFAULT_MB << 20};
    char harness[2400];
    files_t *files = calloc(1, sizeof(*files));
    int passed = 0, failed = 0, rc = 2;
    if (!files)
        return 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        struct stat sb;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            o.filter = argv[++i];
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            o.verbose = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kestrel test: unknown option %s (see --help)\n", a);
            goto out;
        } else if (stat(a, &sb) != 0) {
            fprintf(stderr, "kestrel test: %s: %s\n", a, strerror(errno));
            goto out;
        } else if (S_ISDIR(sb.st_mode)) {
            int before = files->n;
            char dir[4096];
            ks_strlcpy(dir, a, sizeof(dir));
            while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
                dir[strlen(dir) - 1] = '\0';
            walk(files, dir, 0);
            qsort(files->v + before, (size_t)(files->n - before), sizeof(char *), cmp_str);
        } else {
            add_file(files, a);
        }
    }
    if (argc == 0) {
        fputs(usage, stderr);
        goto out;
    }
    if (files->n == 0) {
        fprintf(stderr, "kestrel test: no *_test.lua files found\n");
        goto out;
    }
    if (!find_harness(harness, sizeof(harness))) {
        fprintf(stderr, "kestrel test: cannot find harness.lua (set KESTREL_LUA_DIR)\n");
        goto out;
    }
    const char *mem = getenv("KESTREL_TEST_MEMORY_MB");
    if (mem && atoi(mem) > 0)
        o.memory = (size_t)atoi(mem) << 20;
    o.harness = harness;
    /* Strategy logs are captured by the fake ctx; the host logger only speaks when
     * something outside a strategy goes wrong. */
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    for (int i = 0; i < files->n; i++)
        run_file(files->v[i], &o, &passed, &failed);
    printf("\n%d passed, %d failed (%d test file%s)\n", passed, failed, files->n,
           files->n == 1 ? "" : "s");
    rc = failed ? 1 : 0;
out:
    for (int i = 0; i < files->n; i++)
        free(files->v[i]);
    free(files);
    return rc;
}
