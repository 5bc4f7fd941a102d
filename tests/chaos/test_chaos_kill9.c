/* kill -9 test: the host trades leg groups (spot long + perp short, three bases) against
 * the Bybit emulator, a separate process that outlives it, and is SIGKILLed at a random
 * moment of the leg lifecycle, again and again. Each trial:
 *
 *   1. `kestrel run` with the hedging strategy opening and closing groups continuously;
 *      SIGKILL after a random delay (the database is then inspected to see where the kill
 *      landed: groups OPENING / ACTIVE / CLOSING, an order written ahead but never sent);
 *   2. `kestrel run` again on the same state directory with the strategy quiet (it opens
 *      nothing and closes most of what it holds): recovery and reconciliation run on
 *      start; once no group is opening or closing and no order is open, SIGTERM;
 *   3. checks: the venue's position equals the host's recorded position per instrument
 *      (nothing untracked), equals the sum of the host's fills, and equals the sum of the
 *      host's active leg groups; the venue's spot holding matches its perp short for
 *      every base and every group is balanced (nothing unhedged); the venue never saw a
 *      client order id twice; the host exited cleanly (no sanitizer report).
 *
 * CHAOS_SEED (kill schedule, printed), CHAOS_TRIALS (50) and CHAOS_KEEP (keep the work
 * directory) in the environment. The emulator and the host run over real sockets and
 * real time, so a seed replays the schedule, not every interleaving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <kestrel/kestrel.h>

#define MAX_SYMS 8

static char work[64], state_dir[128];
static int emu_port;
static pid_t emu_pid = -1;
static uint64_t rng;

static uint64_t next_rand(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    if (b)
        b[got] = '\0';
    return b;
}

/* GET http://127.0.0.1:emu_port<path>; caller frees the body. */
static char *http_get(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)emu_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
}

static pid_t spawn(const char *const argv[], const char *out, const char *err)
{
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits until `needle` appears in the file, the process exits, or the timeout. */
static bool wait_for_text(const char *path, const char *needle, pid_t pid, double timeout_s)
{
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        char *t = slurp(path);
        bool found = t && strstr(t, needle);
        free(t);
        if (found)
            return true;
        int st;
        if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid)
            return false;
        sleep_s(0.02);
    }
    return false;
}

/* ---- the host's database ---------------------------------------------------------------- */

typedef struct sym_tot {
    char symbol[KS_SYMBOL_LEN];
    ks_dec_t pos, fills, legs, venue;
} sym_tot_t;

typedef struct db_view {
    int groups[6];   /* by state */
    int open_orders; /* NEW, SENT, ACKED, PARTIAL, UNKNOWN */
    int new_orders;  /* NEW: written ahead, not (known to be) sent */
    char new_cloids[16][KS_CLOID_LEN];
    int n_new_cloids;
    int unbalanced;
    char why[512];
    sym_tot_t s[MAX_SYMS];
    int n;
} db_view_t;

static sym_tot_t *sym(db_view_t *v, const char *symbol)
{
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->s[i].symbol, symbol) == 0)
            return &v->s[i];
    assert_true(v->n < MAX_SYMS);
    sym_tot_t *t = &v->s[v->n++];
    memset(t, 0, sizeof(*t));
    ks_strlcpy(t->symbol, symbol, sizeof(t->symbol));
    return t;
}

static ks_dec_t dec(const char *s)
{
    ks_dec_t d = KS_DEC_ZERO;
    if (s)
        ks_dec_parse(s, (size_t)-1, &d);
    return d;
}

static bool read_db(db_view_t *v)
{
    char path[256];
    sqlite3 *db;
    sqlite3_stmt *st;
    memset(v, 0, sizeof(*v));
    snprintf(path, sizeof(path), "%s/kestrel.db", state_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return false;
    }
    sqlite3_busy_timeout(db, 2000);
    bool ok = true;
    if (sqlite3_prepare_v2(db, "SELECT state, data FROM leg_groups", -1, &st, NULL) != SQLITE_OK) {
        ok = false;
        goto done;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0);
        v->groups[s >= 0 && s < 6 ? s : 0]++;
        if (s == 4 || s == 5)
            continue;
        cJSON *d = cJSON_Parse((const char *)sqlite3_column_text(st, 1));
        const cJSON *l;
        ks_dec_t first = KS_DEC_ZERO;
        int k = 0;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(d, "legs"))
        {
            ks_dec_t p = dec(cJSON_GetStringValue(cJSON_GetObjectItem(l, "pos")));
            const char *side = cJSON_GetStringValue(cJSON_GetObjectItem(l, "side"));
            sym_tot_t *t = sym(v, cJSON_GetStringValue(cJSON_GetObjectItem(l, "symbol")));
            ks_dec_add(t->legs, side && strcmp(side, "sell") == 0 ? ks_dec_neg(p) : p, &t->legs);
            if (k++ == 0)
                first = p;
            else if (ks_dec_cmp(first, p) != 0 && s == 2) {
                v->unbalanced++;
                char *legs = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "legs"));
                snprintf(v->why, sizeof(v->why), "an active group has legs %s", legs);
                free(legs);
            }
        }
        cJSON_Delete(d);
    }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT cloid, status FROM orders WHERE status IN (0, 1, 2, 3, 8)", -1,
                       &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        v->open_orders++;
        if (sqlite3_column_int(st, 1) == 0) {
            v->new_orders++;
            if (v->n_new_cloids < 16)
                ks_strlcpy(v->new_cloids[v->n_new_cloids++],
                           (const char *)sqlite3_column_text(st, 0), KS_CLOID_LEN);
        }
    }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT symbol, qty FROM positions", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        sym_tot_t *t = sym(v, (const char *)sqlite3_column_text(st, 0));
        ks_dec_add(t->pos, dec((const char *)sqlite3_column_text(st, 1)), &t->pos);
    }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT symbol, side, qty FROM fills", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        sym_tot_t *t = sym(v, (const char *)sqlite3_column_text(st, 0));
        ks_dec_t q = dec((const char *)sqlite3_column_text(st, 2));
        ks_dec_add(t->fills, sqlite3_column_int(st, 1) > 0 ? q : ks_dec_neg(q), &t->fills);
    }
    sqlite3_finalize(st);
done:
    sqlite3_close(db);
    return ok;
}

/* The venue's positions (and duplicate count) into v. */
static int read_venue(db_view_t *v, int *dups)
{
    char *body = http_get("/emu/state");
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    free(body);
    if (!j)
        return -1;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(j, "instruments"))
        sym(v, cJSON_GetStringValue(cJSON_GetObjectItem(x, "symbol")))
            ->venue = dec(cJSON_GetStringValue(cJSON_GetObjectItem(x, "qty")));
    *dups = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "duplicate_cloids"));
    cJSON_Delete(j);
    return 0;
}

static bool venue_knows(const char *record, const char *cloid)
{
    char needle[KS_CLOID_LEN + 16];
    snprintf(needle, sizeof(needle), "\"cloid\":\"%s\"", cloid);
    return record && strstr(record, needle);
}

static void write_config(const char *path, bool quiet, unsigned long long seed)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(
        f,
        "{\"state_dir\": \"%s\", \"log\": {\"level\": \"info\"},\n"
        " \"venues\": {\"bybit\": {\"plugin\": \"bybit\", \"rate_limit\": {\"requests\": 8, "
        "\"per_s\": 1},\n"
        "   \"config\": {\"network\": \"custom\", \"rest_url\": \"http://127.0.0.1:%d\",\n"
        "     \"ws_public_linear\": \"ws://127.0.0.1:%d/v5/public/linear\",\n"
        "     \"ws_public_spot\": \"ws://127.0.0.1:%d/v5/public/spot\",\n"
        "     \"ws_private\": \"ws://127.0.0.1:%d/v5/private\",\n"
        "     \"symbols\": [\"BTCUSDT\", \"ETHUSDT\", \"SOLUSDT\"], \"categories\": "
        "[\"linear\", \"spot\"],\n"
        "     \"ping_interval_ms\": 3000, \"pong_timeout_ms\": 3000, \"reconnect_min_ms\": 100,\n"
        "     \"reconnect_max_ms\": 1000, \"order_timeout_ms\": 3000}}},\n"
        " \"recovery\": {\"timeout_s\": 15},\n"
        " \"strategies\": {\"hedger\": {\"file\": \"%s/hedger.lua\", \"venue\": \"bybit\",\n"
        "   \"symbols\": [\"BTC/USDT\", \"BTC/USDT:USDT\", \"ETH/USDT\", \"ETH/USDT:USDT\", "
        "\"SOL/USDT\", \"SOL/USDT:USDT\"],\n"
        "   \"capital\": \"100000\", \"params\": {\"every_s\": 0.4, \"hold_min_s\": 0.2, "
        "\"hold_max_s\": 1.5, \"tick_s\": 0.1, \"open_timeout_ms\": 3000, \"max_open\": 2,\n"
        "   \"close_quantum_s\": 1, \"keep_p\": 0.3, \"quiet\": %s, \"seed\": %llu}}}}\n",
        state_dir, emu_port, emu_port, emu_port, emu_port, KS_CHAOS_DIR, quiet ? "true" : "false",
        seed % 1000000 + 1);
    fclose(f);
}

static bool sanitizer_report(const char *path)
{
    char *t = slurp(path);
    bool bad = t && (strstr(t, "ERROR: AddressSanitizer") || strstr(t, "ERROR: LeakSanitizer") ||
                     strstr(t, "runtime error:"));
    free(t);
    return bad;
}

static void fmt2(ks_dec_t d, char *b)
{
    ks_dec_format(d, b, KS_DEC_STRLEN);
}

static void kill9_trials_leave_nothing_untracked_unhedged_or_duplicated(void **state)
{
    const char *es = getenv("CHAOS_SEED"), *et = getenv("CHAOS_TRIALS");
    unsigned long long seed =
        es ? strtoull(es, NULL, 10) : (unsigned long long)time(NULL) * 1000003ULL % 1000000007ULL;
    int trials = et ? atoi(et) : 50;
    rng = seed;
    double t_start = now_s();
    print_message("kill -9 chaos: seed %llu, %d trials (replay the kill schedule with "
                  "CHAOS_SEED=%llu)\n",
                  seed, trials, seed);
    snprintf(work, sizeof(work), "/tmp/ks_kill9_XXXXXX");
    assert_non_null(mkdtemp(work));
    snprintf(state_dir, sizeof(state_dir), "%s/state", work);
    setenv("BYBIT_API_KEY", "emu-key", 1);
    setenv("BYBIT_API_SECRET", "emu-secret", 1);
    /* Leaks are checked on the graceful runs; a SIGKILLed process reports nothing. */
    setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0", 0);

    /* The venue: one emulator process for every trial. */
    char p_out[256], p_err[256], emu_seed[32];
    snprintf(p_out, sizeof(p_out), "%s/emu.out", work);
    snprintf(p_err, sizeof(p_err), "%s/emu.err", work);
    snprintf(emu_seed, sizeof(emu_seed), "%llu", seed % 100000);
    const char *emu_argv[] = {KS_BYBIT_EMU, "--port", "0",       "--seed",      emu_seed,
                              "--step-ms",  "100",    "--bases", "BTC,ETH,SOL", NULL};
    emu_pid = spawn(emu_argv, p_out, p_err);
    assert_true(wait_for_text(p_out, "port ", emu_pid, 20));
    char *eo = slurp(p_out);
    emu_port = atoi(strstr(eo, "port ") + 5);
    free(eo);
    assert_true(emu_port > 0);

    char cfg_a[256], cfg_b[256];
    snprintf(cfg_a, sizeof(cfg_a), "%s/trade.json", work);
    snprintf(cfg_b, sizeof(cfg_b), "%s/settle.json", work);
    write_config(cfg_a, false, seed);
    write_config(cfg_b, true, seed);

    int hits[4] = {0}; /* kills that landed with groups opening, active, closing; an order
                          written ahead and never sent */
    static const char *const hit_names[4] = {"opening", "active", "closing",
                                             "write-ahead, not sent"};
    int failures = 0, t;
    double kill_sum = 0;
    for (t = 1; t <= trials && !failures; t++) {
        char out_a[256], err_a[256], out_b[256], err_b[256];
        snprintf(out_a, sizeof(out_a), "%s/trade.out", work);
        snprintf(err_a, sizeof(err_a), "%s/trade.%d.err", work, t);
        snprintf(out_b, sizeof(out_b), "%s/settle.out", work);
        snprintf(err_b, sizeof(err_b), "%s/settle.%d.err", work, t);

        /* 1. trade, then SIGKILL at a random moment */
        const char *argv_a[] = {KS_KESTREL, "run", cfg_a, NULL};
        pid_t pid = spawn(argv_a, out_a, err_a);
        if (!wait_for_text(err_a, "strategy hedger started", pid, 30)) {
            print_message("trial %d: the trading host did not start (see %s)\n", t, err_a);
            failures++;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        double delay = 0.05 + (double)(next_rand() % 1500) / 1000.0;
        kill_sum += delay;
        sleep_s(delay);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        db_view_t at_kill;
        read_db(&at_kill);
        char *record = http_get("/emu/record");
        int landed[4] = {at_kill.groups[1] > 0, at_kill.groups[2] > 0, at_kill.groups[3] > 0, 0};
        for (int i = 0; i < at_kill.n_new_cloids; i++)
            if (!venue_knows(record, at_kill.new_cloids[i]))
                landed[3] = 1;
        free(record);
        for (int i = 0; i < 4; i++)
            hits[i] += landed[i];

        /* 2. restart: recovery, reconciliation, settle, graceful stop */
        const char *argv_b[] = {KS_KESTREL, "run", cfg_b, NULL};
        pid = spawn(argv_b, out_b, err_b);
        if (!wait_for_text(err_b, "strategy hedger started", pid, 30)) {
            print_message("trial %d: the restarted host did not start (see %s)\n", t, err_b);
            failures++;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        db_view_t v;
        int quiet_polls = 0;
        double t0 = now_s();
        while (now_s() - t0 < 20 && quiet_polls < 3) {
            sleep_s(0.1);
            if (read_db(&v) && !v.groups[1] && !v.groups[3] && !v.open_orders)
                quiet_polls++;
            else
                quiet_polls = 0;
        }
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            print_message("trial %d: the restarted host exited with status %d (see %s)\n", t,
                          status, err_b);
            failures++;
        }
        if (sanitizer_report(err_a) || sanitizer_report(err_b)) {
            print_message("trial %d: sanitizer report (see %s, %s)\n", t, err_a, err_b);
            failures++;
        }

        /* 3. the checks */
        int dups = 0;
        read_db(&v);
        assert_int_equal(read_venue(&v, &dups), 0);
        char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], c[KS_DEC_STRLEN], d[KS_DEC_STRLEN];
        if (v.groups[1] || v.groups[3] || v.open_orders || v.unbalanced) {
            print_message("trial %d: not settled: %d opening, %d closing, %d open orders, %d "
                          "unbalanced %s\n",
                          t, v.groups[1], v.groups[3], v.open_orders, v.unbalanced, v.why);
            failures++;
        }
        for (int i = 0; i < v.n; i++) {
            sym_tot_t *s = &v.s[i];
            if (ks_dec_cmp(s->pos, s->venue) || ks_dec_cmp(s->pos, s->fills) ||
                ks_dec_cmp(s->pos, s->legs)) {
                fmt2(s->pos, a);
                fmt2(s->venue, b);
                fmt2(s->fills, c);
                fmt2(s->legs, d);
                print_message("trial %d: %s: host position %s, venue %s, sum of fills %s, "
                              "active groups %s\n",
                              t, s->symbol, a, b, c, d);
                failures++;
            }
        }
        static const char *const bases[3] = {"BTC", "ETH", "SOL"};
        for (int k = 0; k < 3; k++) {
            char sp[KS_SYMBOL_LEN], pp[KS_SYMBOL_LEN];
            snprintf(sp, sizeof(sp), "%s/USDT", bases[k]);
            snprintf(pp, sizeof(pp), "%s/USDT:USDT", bases[k]);
            ks_dec_t sum;
            ks_dec_add(sym(&v, sp)->venue, sym(&v, pp)->venue, &sum);
            if (!ks_dec_is_zero(sum)) {
                fmt2(sum, a);
                print_message("trial %d: %s unhedged at the venue: spot + perp = %s\n", t, bases[k],
                              a);
                failures++;
            }
        }
        if (dups) {
            print_message("trial %d: the venue saw %d client order id(s) twice\n", t, dups);
            failures++;
        }
        if (failures)
            print_message("trial %d failed: kill after %.2f s (groups at the kill: %d opening, "
                          "%d active, %d closing; %d orders open, %d written ahead); logs %s\n",
                          t, delay, at_kill.groups[1], at_kill.groups[2], at_kill.groups[3],
                          at_kill.open_orders, at_kill.new_orders, work);
    }
    int done = t - 1;
    db_view_t fin;
    read_db(&fin);
    print_message("%d trials in %.1f s (mean kill delay %.2f s); %d groups (%d closed, %d "
                  "failed, %d active)\n",
                  done, now_s() - t_start, done ? kill_sum / done : 0,
                  fin.groups[1] + fin.groups[2] + fin.groups[3] + fin.groups[4] + fin.groups[5],
                  fin.groups[4], fin.groups[5], fin.groups[2]);
    print_message("kills landed with: %s %d, %s %d, %s %d, %s %d\n", hit_names[0], hits[0],
                  hit_names[1], hits[1], hit_names[2], hits[2], hit_names[3], hits[3]);
    kill(emu_pid, SIGTERM);
    waitpid(emu_pid, NULL, 0);
    emu_pid = -1;
    if (failures) {
        print_message("FAILED with seed %llu; work directory kept: %s\n", seed, work);
        fail();
    }
    /* Each phase of the lifecycle was hit at least once. */
    for (int i = 0; i < 3; i++)
        if (trials >= 20 && !hits[i])
            fail_msg("no kill landed while a group was %s", hit_names[i]);
    if (getenv("CHAOS_KEEP")) {
        print_message("kept %s\n", work);
    } else {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", work);
        assert_int_equal(system(cmd), 0);
    }
}

static int teardown(void **state)
{
    if (emu_pid > 0) {
        kill(emu_pid, SIGTERM);
        waitpid(emu_pid, NULL, 0);
    }
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(kill9_trials_leave_nothing_untracked_unhedged_or_duplicated,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
