/* Host logging: one line per record, JSON lines or plain text, to stderr or a file.
 * Secrets never reach a log: callers pass redacted text, and ks_log_redact() masks
 * registered secret values wherever they would appear. */
#ifndef KS_LOG_H
#define KS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <kestrel/abi.h>
#include <kestrel/host.h>

typedef enum ks_log_format {
    KS_LOGF_TEXT = 0,
    KS_LOGF_JSON = 1,
} ks_log_format_t;

/* Configures the process-wide logger. `out` is borrowed (stderr by default). */
void ks_log_setup(FILE *out, int min_level, ks_log_format_t fmt);
int ks_log_level_parse(const char *name); /* "debug".."error", -1 if unknown */
int ks_log_min_level(void);

/* Time source for log records (the loop's wall clock, virtual in a backtest). */
void ks_log_set_clock(int64_t (*wall_ns)(void *ud), void *ud);

/* Registers a secret value that must never be printed; copied. */
void ks_log_add_secret(const char *value);
void ks_log_clear_secrets(void);

/* One record from `component` ("host", "plugin.sim", "strategy.carry"). */
void ks_log(int level, const char *component, const char *fmt, ...) KS_PRINTF(3, 4);
void ks_logv(int level, const char *component, const char *fmt, va_list ap);

#define ks_log_debug(comp, ...) ks_log(KS_LOG_DEBUG, comp, __VA_ARGS__)
#define ks_log_info(comp, ...)  ks_log(KS_LOG_INFO, comp, __VA_ARGS__)
#define ks_log_warn(comp, ...)  ks_log(KS_LOG_WARN, comp, __VA_ARGS__)
#define ks_log_error(comp, ...) ks_log(KS_LOG_ERROR, comp, __VA_ARGS__)

#endif
