/* Command-line interface (see cli.h). Each command parses its own options and prints
 * --help; errors are one line on stderr and a non-zero exit. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libwebsockets.h>
#include <luajit.h>
#include <sqlite3.h>

#include "config.h"
#include "ctl.h"
#include "decode.h"
#include "engine.h"
#include "harness.h"
#include "log.h"
#include "plugin.h"
#include "report.h"
#include "summary.h"

#define NS_PER_S 1000000000LL

static const char *usage_main =
    "usage: kestrel <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG        run the host (live or on the built-in sim venue) until Ctrl-C\n"
    "  backtest CONFIG   simulate on a virtual clock and print a summary\n"
    "  check CONFIG      validate the config, load plugins, compile strategies\n"
    "  ctl COMMAND       talk to a running host: status, enable, disable, reload, kill\n"
    "  test PATH...      run strategy unit tests (*_test.lua) against a fake ctx\n"
    "  decode --venue V  raw venue messages (stdin) -> normalized events (stdout)\n"
    "  plugin info FILE  describe a plugin shared object\n"
    "  version           print versions\n"
    "\n"
    "Run `kestrel <command> --help` for the options of a command.\n";

static const char *usage_run =
    "usage: kestrel run CONFIG [--duration SECONDS] [--state-dir DIR]\n"
    "\n"
    "Runs the host with the strategies and venues of CONFIG until SIGINT/SIGTERM (or for\n"
    "--duration seconds), printing a status line every few seconds and a per-strategy\n"
    "summary at the end. State (orders, fills, positions, strategy state) goes to\n"
    "DIR/kestrel.db; DIR defaults to the config's state_dir, else ./state.\n"
    "SIGHUP re-reads the config.\n";

static const char *usage_backtest =
    "usage: kestrel backtest CONFIG [--days N] [--state-dir DIR] [--summary-json FILE]\n"
    "                        [--data PATH]... [--report DIR]\n"
    "\n"
    "Simulates N days (default: the config's backtest.days, else 3) on a virtual clock\n"
    "with every funding settlement applied, then prints the per-strategy summary.\n"
    "--summary-json writes the same as JSON (byte-identical for identical inputs).\n"
    "DIR defaults to <state_dir>/backtest; its database is recreated on each run.\n"
    "--data replays recorded market data (a file or a directory; repeatable) through\n"
    "the sim venue instead of its synthetic market; the span of the data sets the\n"
    "duration unless --days is given. --report writes DIR/summary.json and a\n"
    "self-contained DIR/report.html.\n";

static const char *usage_check =
    "usage: kestrel check CONFIG\n"
    "\n"
    "Validates CONFIG, loads every plugin, opens every venue and risk module with its\n"
    "config and compiles every strategy, without connecting or trading. Exits 0 when\n"
    "everything is usable, else prints one line naming the key path or file.\n";

static const char *usage_plugin =
    "usage: kestrel plugin info FILE.so\n"
    "\n"
    "Loads FILE.so and prints its descriptor: name, kind, version, ABI, operations.\n";

static const char *usage_ctl =
    "usage: kestrel ctl [--state-dir DIR | --config CONFIG] COMMAND [NAME]\n"
    "\n"
    "Talks to the host running on a state directory (its control socket DIR/kestrel.sock).\n"
    "DIR defaults to the config's state_dir with --config, else ./state.\n"
    "\n"
    "commands:\n"
    "  status          strategies, modes, orders, errors, reloads (JSON)\n"
    "  enable NAME     enable a strategy (fresh VM, stored ctx.state, on_start)\n"
    "  disable NAME    on_stop, then the strategy's on_disable policy (hold|cancel|flatten)\n"
    "  reload NAME     hot-reload a strategy's file now\n"
    "  reload-config   re-read the config file (same as SIGHUP)\n"
    "  kill            the kill switch: cancel all, flatten all, exit non-zero\n";

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

static void setup_logging(const ks_config_t *cfg)
{
    int level = cfg ? cfg->log_level : KS_LOG_INFO;
    int fmt = cfg ? cfg->log_format : -1;
    if (fmt < 0)
        fmt = isatty(STDERR_FILENO) ? KS_LOGF_TEXT : KS_LOGF_JSON;
    const char *env = getenv("KESTREL_LOG_LEVEL");
    if (env && ks_log_level_parse(env) >= 0)
        level = ks_log_level_parse(env);
    ks_log_setup(stderr, level, (ks_log_format_t)fmt);
}

#define MAX_DATA 64

typedef struct run_opts {
    const char *config;
    const char *state_dir;
    const char *summary_json;
    const char *report_dir;
    const char *data[MAX_DATA];
    int n_data;
    double duration_s;
    int days;
} run_opts_t;

/* Parses "CONFIG [--opt value]..." for run/backtest. */
static int parse_run_opts(int argc, char **argv, bool backtest, run_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->days = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--state-dir") == 0 && val) {
            o->state_dir = val;
            i++;
        } else if (!backtest && strcmp(a, "--duration") == 0 && val) {
            char *end;
            o->duration_s = strtod(val, &end);
            if (*end || !(o->duration_s > 0)) {
                fprintf(stderr,
                        "kestrel run: --duration: expected a positive number of "
                        "seconds, got \"%s\"\n",
                        val);
                return -1;
            }
            i++;
        } else if (backtest && strcmp(a, "--days") == 0 && val) {
            char *end;
            long d = strtol(val, &end, 10);
            if (*end || d <= 0 || d > 3650) {
                fprintf(stderr,
                        "kestrel backtest: --days: expected a whole number of days "
                        "(1..3650), got \"%s\"\n",
                        val);
                return -1;
            }
            o->days = (int)d;
            i++;
        } else if (backtest && strcmp(a, "--summary-json") == 0 && val) {
            o->summary_json = val;
            i++;
        } else if (backtest && strcmp(a, "--report") == 0 && val) {
            o->report_dir = val;
            i++;
        } else if (backtest && strcmp(a, "--data") == 0 && val) {
            if (o->n_data == MAX_DATA) {
                fprintf(stderr, "kestrel backtest: at most %d --data arguments\n", MAX_DATA);
                return -1;
            }
            o->data[o->n_data++] = val;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kestrel %s: unknown option %s (see --help)\n",
                    backtest ? "backtest" : "run", a);
            return -1;
        } else if (!o->config) {
            o->config = a;
        } else {
            fprintf(stderr, "kestrel %s: unexpected argument %s\n", backtest ? "backtest" : "run",
                    a);
            return -1;
        }
    }
    if (!o->config) {
        fputs(backtest ? usage_backtest : usage_run, stderr);
        return -1;
    }
    return 0;
}

static int cmd_run_or_backtest(int argc, char **argv, bool backtest)
{
    run_opts_t o;
    char err[1024], state[1100];
    if (argc > 0 && is_help(argv[0])) {
        fputs(backtest ? usage_backtest : usage_run, stdout);
        return 0;
    }
    if (parse_run_opts(argc, argv, backtest, &o) != 0)
        return 2;
    ks_config_t *cfg = ks_config_load(o.config, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    setup_logging(cfg);
    const char *base_state = cfg->state_dir ? cfg->state_dir : "state";
    if (o.state_dir)
        ks_strlcpy(state, o.state_dir, sizeof(state));
    else if (backtest)
        snprintf(state, sizeof(state), "%s/backtest", base_state);
    else
        ks_strlcpy(state, base_state, sizeof(state));

    ks_engine_opts_t eo = {
        .cfg = cfg,
        .state_dir = state,
        .backtest = backtest,
        .start_wall_ns = cfg->backtest_start_ns,
        .data_paths = o.data,
        .n_data = o.n_data,
    };
    ks_engine_t *eng = ks_engine_new(&eo, err, sizeof(err));
    if (!eng) {
        fprintf(stderr, "%s\n", err);
        ks_config_free(cfg);
        return 1;
    }
    ks_report_t *report = NULL;
    int rc = 0;
    if (ks_engine_start(eng, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = 1;
    } else {
        int64_t duration = 0;
        if (backtest) {
            int days = o.days > 0 ? o.days : cfg->backtest_days;
            int64_t span = ks_engine_data_span_ns(eng);
            duration = (int64_t)days * 86400 * NS_PER_S;
            if (o.days <= 0 && span > 0) {
                /* recorded data sets the length of the run */
                duration = span + 1;
                ks_log_info("cli", "backtest: the recorded data's span, %.2f day(s)",
                            (double)span / (86400.0 * NS_PER_S));
            } else {
                ks_log_info("cli", "backtest: %d day(s) from the virtual start", days);
            }
        } else if (o.duration_s > 0) {
            duration = (int64_t)(o.duration_s * (double)NS_PER_S);
        }
        if (o.report_dir)
            report = ks_report_start(eng, 3600LL * NS_PER_S);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = ks_engine_run(eng, duration);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ks_summary_print(eng, stdout);
        if (backtest) {
            double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            printf("simulated in %.2f s (%.0f events/s)\n", secs,
                   (double)ks_engine_event_count(eng) / (secs > 0 ? secs : 1));
        }
        if (o.summary_json && ks_summary_write_json(eng, o.summary_json, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            rc = 1;
        }
        if (report && ks_report_write(report, o.report_dir, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            rc = 1;
        } else if (report) {
            printf("report: %s/report.html\n", o.report_dir);
        }
    }
    ks_report_free(report);
    ks_engine_free(eng);
    ks_config_free(cfg);
    ks_log_clear_secrets();
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    char err[1024];
    if (argc < 1 || is_help(argv[0])) {
        fputs(usage_check, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    ks_config_t *cfg = ks_config_load(argv[0], err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    setup_logging(cfg);
    ks_engine_opts_t eo = {
        .cfg = cfg, .check_only = true, .backtest = true, .start_wall_ns = cfg->backtest_start_ns};
    ks_engine_t *eng = ks_engine_new(&eo, err, sizeof(err));
    if (!eng) {
        fprintf(stderr, "%s\n", err);
        ks_config_free(cfg);
        return 1;
    }
    printf("%s: ok (%d venue(s), %d risk module(s), %d strateg%s)\n", argv[0], cfg->n_venues,
           cfg->n_risk, cfg->n_strategies, cfg->n_strategies == 1 ? "y" : "ies");
    ks_engine_free(eng);
    ks_config_free(cfg);
    return 0;
}

static int cmd_ctl(int argc, char **argv)
{
    const char *state = NULL, *config = NULL, *cmd = NULL, *name = NULL;
    char path[1200], line[512], err[1024];
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_ctl, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            state = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (!cmd)
            cmd = argv[i];
        else if (!name)
            name = argv[i];
        else {
            fprintf(stderr, "kestrel ctl: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!cmd) {
        fputs(usage_ctl, stderr);
        return 2;
    }
    ks_config_t *cfg = NULL;
    if (!state && config) {
        cfg = ks_config_load(config, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        state = cfg->state_dir;
    }
    snprintf(path, sizeof(path), "%s/kestrel.sock", state ? state : "state");
    snprintf(line, sizeof(line), "%s%s%s", cmd, name ? " " : "", name ? name : "");
    int rc = ks_ctl_request(path, line, stdout, stderr);
    ks_config_free(cfg);
    return rc;
}

static int cmd_plugin(int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0]) || strcmp(argv[0], "info") != 0 || argc < 2 ||
        is_help(argv[1])) {
        bool help = argc >= 1 && (is_help(argv[0]) || (argc >= 2 && is_help(argv[1])));
        fputs(usage_plugin, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    return ks_plugin_print_info(argv[1], stdout) == 0 ? 0 : 1;
}

static int cmd_version(void)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("kestrel %s (plugin ABI %d.%d)\n", KS_VERSION, KS_ABI_MAJOR, KS_ABI_MINOR);
    printf("  %s, libcurl %s, libwebsockets %s, SQLite %s\n", LUAJIT_VERSION, cv->version,
           lws_get_library_version(), sqlite3_libversion());
    return 0;
}

int ks_cli_main(int argc, char **argv)
{
    if (argc < 2 || is_help(argv[1])) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run_or_backtest(argc - 2, argv + 2, false);
    if (strcmp(cmd, "backtest") == 0)
        return cmd_run_or_backtest(argc - 2, argv + 2, true);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "test") == 0)
        return ks_harness_main(argc - 2, argv + 2);
    if (strcmp(cmd, "ctl") == 0)
        return cmd_ctl(argc - 2, argv + 2);
    if (strcmp(cmd, "decode") == 0)
        return ks_decode_main(argc - 2, argv + 2);
    if (strcmp(cmd, "plugin") == 0)
        return cmd_plugin(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version();
    fprintf(stderr, "kestrel: unknown command \"%s\" (see kestrel --help)\n", cmd);
    return 2;
}
