/* The host configuration: one JSON file, parsed with cJSON and validated as a whole.
 *
 * A validation error is one line naming the key path and what was expected, e.g.
 * "strategies.carry.params.notional: expected number, got string". Unknown keys are
 * errors too (a typo must not silently disable a setting). Relative paths in the file
 * resolve against the file's directory. See docs/config.md for every key. */
#ifndef KS_CONFIG_H
#define KS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ks_strategy_mode {
    KS_MODE_LIVE = 0,
    KS_MODE_PAPER = 1,    /* orders go to the built-in sim matcher, not the venue */
    KS_MODE_OBSERVER = 2, /* never sends an order */
} ks_strategy_mode_t;

typedef enum ks_on_disable {
    KS_ON_DISABLE_HOLD = 0,    /* leave orders and positions as they are */
    KS_ON_DISABLE_CANCEL = 1,  /* cancel the strategy's open orders */
    KS_ON_DISABLE_FLATTEN = 2, /* cancel, then close positions with reduce-only market orders */
} ks_on_disable_t;

/* A sliding rate-limit window: `requests` weight units per `window_ms`. */
typedef struct ks_rl_cfg {
    int requests; /* 0: none */
    int64_t window_ms;
} ks_rl_cfg_t;

typedef struct ks_venue_cfg {
    char *name;        /* key in "venues" */
    char *plugin;      /* plugin name; defaults to the venue name */
    char *config_json; /* the "config" object as JSON text ("{}" when absent) */
    /* "rate_limit": {"requests": N, "per_s": W, "shared": G}: at most N request weight
     * units per W seconds leave for this venue (0: no own limit; the venue's 429s still
     * pause new orders), and every request also counts against the shared window G */
    ks_rl_cfg_t rl;
    char *rl_shared; /* a name in rate_limit_groups, or NULL */
} ks_venue_cfg_t;

/* "rate_limit_groups": {"G": {"requests": N, "per_s": W}}: one window several venues
 * count against, for venues that limit per IP or per account rather than per
 * connection (e.g. two venue entries on one Bybit account). */
typedef struct ks_rl_group_cfg {
    char *name;
    ks_rl_cfg_t rl;
} ks_rl_group_cfg_t;

typedef struct ks_risk_cfg {
    char *name; /* "name", defaults to the plugin name */
    char *plugin;
    char *config_json;
} ks_risk_cfg_t;

typedef struct ks_strategy_cfg {
    char *name;
    bool enabled;
    char *file;     /* absolute or relative to the current directory, resolved */
    char *venue;    /* venue name */
    char **symbols; /* unified symbols */
    int n_symbols;
    char *params_json; /* the "params" object as JSON text ("{}" when absent) */
    char *capital;     /* decimal text, quote currency ("10000"); NULL when not given */
    ks_strategy_mode_t mode;
    ks_on_disable_t on_disable;
    bool jit;                   /* refused by validation for now (see docs) */
    int64_t memory_limit;       /* bytes; default 64 MiB */
    int64_t instruction_budget; /* VM instructions per callback; default 10,000,000 */
    int max_errors;             /* errors within error_window_s that disable; default 10 */
    int error_window_s;         /* default 60 */
} ks_strategy_cfg_t;

typedef struct ks_config {
    char *path;      /* the file as given */
    char *base_dir;  /* directory of the file; relative paths resolve against it */
    char *state_dir; /* may be NULL: the CLI default applies */
    char **plugin_path;
    int n_plugin_path;
    int log_level;  /* KS_LOG_*; default info */
    int log_format; /* ks_log_format_t; -1: text on a terminal, JSON otherwise */
    ks_venue_cfg_t *venues;
    int n_venues;
    ks_rl_group_cfg_t *rl_groups;
    int n_rl_groups;
    ks_risk_cfg_t *risk;
    int n_risk;
    ks_strategy_cfg_t *strategies;
    int n_strategies;
    int64_t status_interval_ms; /* run: status line period; default 5000 */
    /* safety */
    int64_t deadman_ms;       /* no loop progress for this long: kill; default 30 s, 0 off */
    int64_t venue_silence_ms; /* no event from a venue for this long: kill; default 0 (off) */
    char *kill_file;          /* its existence triggers the kill switch; default "KILL" in
                               * the state directory */
    int64_t kill_timeout_ms;  /* how long the kill switch waits for flattening; 30 s */
    /* recovery */
    bool recovery_adopt_orders;    /* venue orders we do not know: adopt (else cancel) */
    bool recovery_adopt_positions; /* venue positions we do not hold: adopt (else flatten) */
    int64_t reconcile_timeout_ms;  /* default 30 s */
    int backtest_days;             /* default 3 */
    int64_t backtest_start_ns;     /* wall clock start of a backtest; default 2026-01-01Z */
} ks_config_t;

/* Reads and validates a config file. On failure writes one line into err and returns
 * NULL. Caller owns the result; ks_config_free(). */
ks_config_t *ks_config_load(const char *path, char *err, size_t err_len);
/* Same from a JSON text; base_dir resolves relative paths (NULL: current directory). */
ks_config_t *ks_config_parse(const char *json, const char *base_dir, char *err, size_t err_len);
void ks_config_free(ks_config_t *cfg);

const ks_strategy_cfg_t *ks_config_strategy(const ks_config_t *cfg, const char *name);
const ks_venue_cfg_t *ks_config_venue(const ks_config_t *cfg, const char *name);

/* Checks a strategy's params against the defaults its script declares (a JSON object
 * text): a key present in both must have the same JSON type, recursively into objects
 * (a null default accepts anything; keys only in params are allowed). On a mismatch
 * writes one line like "strategies.carry.params.notional: expected number, got string"
 * into err and returns KS_EINVAL. */
int ks_config_check_params(const ks_strategy_cfg_t *s, const char *defaults_json, char *err,
                           size_t err_len);

const char *ks_strategy_mode_name(ks_strategy_mode_t m);
const char *ks_on_disable_name(ks_on_disable_t p);

#endif
