/* The host configuration (see config.h and docs/config.md): JSON in, validated structs
 * out, and the first problem as one line naming the key path.
 *
 * Every object is walked child by child against a table of known keys, so an unknown
 * or duplicated key is caught where it is (cJSON itself keeps duplicates silently and
 * looks keys up case-insensitively). Validation runs in two passes: the first checks
 * each key in document order, the second the references between sections (a
 * strategy's venue), which may appear in either order in the file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <kestrel/kestrel.h>

#include "log.h"

#define MAX_CONFIG_BYTES  (16 << 20)
#define MIB               (INT64_C(1) << 20)
#define MAX_EXACT_INT     INT64_C(9007199254740992) /* 2^53: larger JSON numbers are inexact */
#define STRATEGY_NAME_MAX 24
#define GOT_MAX           48 /* longest value quoted back in an error */

typedef struct parser {
    char *err;
    size_t err_len;
    bool failed;
    const char *base_dir;
    ks_config_t *cfg;
    char path[512]; /* key path of the value being checked */
    size_t path_len;
} parser_t;

/* ---- errors and key paths ----------------------------------------------------------- */

static bool fail(parser_t *p, const char *fmt, ...) KS_PRINTF(2, 3);

/* Records the first error as "<key path>: <message>"; always returns false. */
static bool fail(parser_t *p, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (p->failed)
        return false;
    p->failed = true;
    n = snprintf(p->err, p->err_len, "%s: ", p->path);
    if (n >= 0 && (size_t)n < p->err_len) {
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static size_t path_push_key(parser_t *p, const char *key)
{
    size_t saved = p->path_len;
    int n = snprintf(p->path + saved, sizeof(p->path) - saved, "%s%s", saved ? "." : "", key);
    p->path_len = n < 0 ? saved : strnlen(p->path, sizeof(p->path) - 1);
    return saved;
}

static size_t path_push_index(parser_t *p, int i)
{
    size_t saved = p->path_len;
    snprintf(p->path + saved, sizeof(p->path) - saved, "[%d]", i);
    p->path_len = strnlen(p->path, sizeof(p->path) - 1);
    return saved;
}

static void path_pop(parser_t *p, size_t saved)
{
    p->path_len = saved;
    p->path[saved] = '\0';
}

static const char *type_name(const cJSON *it)
{
    if (cJSON_IsString(it))
        return "string";
    if (cJSON_IsNumber(it))
        return "number";
    if (cJSON_IsBool(it))
        return "boolean";
    if (cJSON_IsNull(it))
        return "null";
    if (cJSON_IsArray(it))
        return "array";
    if (cJSON_IsObject(it))
        return "object";
    return "invalid";
}

/* The value as compact JSON for "got ...", shortened when long: always one line. */
static const char *got_value(const cJSON *it, char *buf, size_t cap)
{
    char *text = cJSON_PrintUnformatted(it);
    if (!text) {
        ks_strlcpy(buf, type_name(it), cap);
        return buf;
    }
    if (strlen(text) > GOT_MAX)
        snprintf(buf, cap, "%.*s...", GOT_MAX, text);
    else
        ks_strlcpy(buf, text, cap);
    cJSON_free(text);
    return buf;
}

/* Keeps an error on one line whatever a key, value or path contained. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static bool fail_value(parser_t *p, const cJSON *it, const char *expected)
{
    char got[GOT_MAX + 8];
    return fail(p, "expected %s, got %s", expected, got_value(it, got, sizeof(got)));
}

static bool fail_type(parser_t *p, const cJSON *it, const char *expected)
{
    return fail(p, "expected %s, got %s", expected, type_name(it));
}

/* ---- value readers ------------------------------------------------------------------- */

static char *dup_or_fail(parser_t *p, const char *s)
{
    char *d = strdup(s);
    if (!d)
        fail(p, "out of memory");
    return d;
}

static bool read_bool(parser_t *p, const cJSON *it, bool *out)
{
    if (!cJSON_IsBool(it))
        return fail_type(p, it, "boolean");
    *out = cJSON_IsTrue(it);
    return true;
}

static bool read_string(parser_t *p, const cJSON *it, char **out)
{
    if (!cJSON_IsString(it))
        return fail_type(p, it, "string");
    free(*out);
    *out = dup_or_fail(p, it->valuestring);
    return *out != NULL;
}

/* An integer in [1, max]; JSON has only doubles, so it must be integral as well. */
static bool read_positive_int(parser_t *p, const cJSON *it, int64_t max, int64_t *out)
{
    char what[64];
    if (!cJSON_IsNumber(it))
        return fail_type(p, it, "a positive integer");
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < 1)
        return fail_value(p, it, "a positive integer");
    if (v > (double)max) {
        snprintf(what, sizeof(what), "an integer no greater than %lld", (long long)max);
        return fail_value(p, it, what);
    }
    *out = (int64_t)v;
    return true;
}

/* Matches a string against a list of names; the list is also the error message. */
static bool read_choice(parser_t *p, const cJSON *it, const char *const *names, int n, int *out)
{
    char expected[128] = "one of ";
    for (int i = 0; i < n; i++) {
        strncat(expected, names[i], sizeof(expected) - strlen(expected) - 1);
        if (i + 1 < n)
            strncat(expected, ", ", sizeof(expected) - strlen(expected) - 1);
    }
    if (!cJSON_IsString(it))
        return fail_type(p, it, expected);
    for (int i = 0; i < n; i++) {
        if (strcmp(it->valuestring, names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return fail_value(p, it, expected);
}

/* An opaque object handed to a plugin or strategy as compact JSON text. */
static bool read_opaque_object(parser_t *p, const cJSON *it, char **out)
{
    if (!cJSON_IsObject(it))
        return fail_type(p, it, "object");
    char *text = cJSON_PrintUnformatted(it);
    if (!text)
        return fail(p, "out of memory");
    free(*out);
    *out = dup_or_fail(p, text);
    cJSON_free(text);
    return *out != NULL;
}

/* [A-Za-z0-9_] plus the characters in extra. */
static bool is_name_char(char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (c && strchr(extra, c));
}

static bool name_chars_ok(const char *s, const char *extra, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (!is_name_char(*s, extra))
            return false;
    return true;
}

/* Venue and plugin names become file names (<plugin>.so on the plugin path) and metric
 * labels: no slashes, dots or spaces. */
#define PLUGIN_NAME_RULE "a name of 1 to 63 letters, digits, '_' or '-'"
static bool plugin_name_ok(const char *s)
{
    return name_chars_ok(s, "-", KS_NAME_LEN - 1);
}

/* BASE/QUOTE or BASE/QUOTE:SETTLE, each part [A-Za-z0-9._-]+ ("XYZ-TSLA/USDC:USDC"). */
static bool symbol_ok(const char *s)
{
    int part = 0;
    size_t part_len = 0;
    if (strlen(s) >= KS_SYMBOL_LEN)
        return false;
    for (; *s; s++) {
        if (*s == '/' || *s == ':') {
            if (part_len == 0 || (*s == '/' && part != 0) || (*s == ':' && part != 1))
                return false;
            part++;
            part_len = 0;
        } else if (is_name_char(*s, ".-")) {
            part_len++;
        } else {
            return false;
        }
    }
    return part >= 1 && part_len > 0;
}

/* ---- paths ------------------------------------------------------------------------- */

/* Joins rel to base (unless rel is absolute) and removes ".", ".." and repeated
 * slashes lexically. base must be absolute. Caller frees. */
static char *path_resolve(const char *base, const char *rel)
{
    size_t cap = strlen(base) + strlen(rel) + 3;
    char *joined = malloc(cap), *out = malloc(cap);
    size_t n = 0;

    if (!joined || !out) {
        free(joined);
        free(out);
        return NULL;
    }
    if (rel[0] == '/')
        snprintf(joined, cap, "%s", rel);
    else
        snprintf(joined, cap, "%s/%s", base, rel);
    for (char *seg = joined; *seg;) {
        char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) {
            /* nothing */
        } else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the slash before the dropped segment */
        } else {
            out[n++] = '/';
            memcpy(out + n, seg, len);
            n += len;
        }
        seg += len;
        while (*seg == '/')
            seg++;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

static bool read_path(parser_t *p, const cJSON *it, char **out)
{
    if (!cJSON_IsString(it))
        return fail_type(p, it, "string");
    if (!it->valuestring[0])
        return fail_value(p, it, "a non-empty path");
    free(*out);
    *out = path_resolve(p->base_dir, it->valuestring);
    return *out ? true : fail(p, "out of memory");
}

/* The current directory joined with dir (which may be relative, or NULL). */
static char *absolute_dir(const char *dir)
{
    char cwd[PATH_MAX];
    if (dir && dir[0] == '/')
        return path_resolve("/", dir);
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    return path_resolve(cwd, dir ? dir : ".");
}

/* ---- time -------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "2026-01-01", "2026-01-01T00:00:00Z", "2026-01-01T08:00:00.5+08:00". */
static bool parse_time(const char *s, int64_t *ns_out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
    int64_t frac_ns = 0;

    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    s += 10;
    if (*s) {
        if (*s != 'T' || !digits(s + 1, 2, &h) || s[3] != ':' || !digits(s + 4, 2, &mi) ||
            s[6] != ':' || !digits(s + 7, 2, &sec) || h > 23 || mi > 59 || sec > 59)
            return false;
        s += 9;
        if (*s == '.') {
            int64_t scale = 100000000;
            if (!(s[1] >= '0' && s[1] <= '9'))
                return false;
            for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
                frac_ns += (*s - '0') * scale;
        }
        if (*s == 'Z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int oh, om;
            if (!digits(s + 1, 2, &oh) || s[3] != ':' || !digits(s + 4, 2, &om) || oh > 23 ||
                om > 59)
                return false;
            off = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
            s += 6;
        } else {
            return false;
        }
        if (*s)
            return false;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (secs <= INT64_MIN / 1000000000 || secs >= INT64_MAX / 1000000000)
        return false; /* int64 nanoseconds span 1677..2262 */
    *ns_out = secs * 1000000000 + frac_ns;
    return true;
}

/* ---- object walking ------------------------------------------------------------------ */

typedef bool (*field_fn)(parser_t *p, const cJSON *it, void *target);

typedef struct field {
    const char *key;
    field_fn read;
    bool required;
} field_t;

static bool duplicate_key(const cJSON *obj, const cJSON *child)
{
    for (const cJSON *c = obj->child; c != child; c = c->next)
        if (strcmp(c->string, child->string) == 0)
            return true;
    return false;
}

/* Checks every key of obj against fields, reads the known ones in document order, then
 * reports the first required field (in table order) that was absent. */
static bool walk_object(parser_t *p, const cJSON *obj, const field_t *fields, int n, void *target)
{
    uint32_t seen = 0;

    if (!cJSON_IsObject(obj))
        return fail_type(p, obj, "object");
    for (const cJSON *c = obj->child; c; c = c->next) {
        size_t saved = path_push_key(p, c->string);
        int i = 0;
        while (i < n && strcmp(fields[i].key, c->string) != 0)
            i++;
        if (duplicate_key(obj, c))
            return fail(p, "duplicate key");
        if (i == n)
            return fail(p, "unknown key");
        if (!fields[i].read(p, c, target))
            return false;
        seen |= UINT32_C(1) << i;
        path_pop(p, saved);
    }
    for (int i = 0; i < n; i++) {
        if (fields[i].required && !(seen & (UINT32_C(1) << i))) {
            path_push_key(p, fields[i].key);
            return fail(p, "required key missing");
        }
    }
    return true;
}

#define N_FIELDS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- log, run, backtest ------------------------------------------------------------- */

static bool log_level(parser_t *p, const cJSON *it, void *t)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    int v = 0;
    if (!read_choice(p, it, names, 4, &v))
        return false;
    p->cfg->log_level = ks_log_level_parse(names[v]);
    return true;
}

static bool log_format(parser_t *p, const cJSON *it, void *t)
{
    static const char *const names[] = {"text", "json"};
    int v = 0;
    if (!read_choice(p, it, names, 2, &v))
        return false;
    p->cfg->log_format = v == 0 ? KS_LOGF_TEXT : KS_LOGF_JSON;
    return true;
}

static const field_t log_fields[] = {{"level", log_level, false}, {"format", log_format, false}};

static bool run_status_interval(parser_t *p, const cJSON *it, void *t)
{
#define INTERVAL_RULE "a number of seconds from 0.001 to 86400"
    if (!cJSON_IsNumber(it))
        return fail_type(p, it, INTERVAL_RULE);
    double v = it->valuedouble;
    if (!isfinite(v) || v < 0.001 || v > 86400)
        return fail_value(p, it, INTERVAL_RULE);
    p->cfg->status_interval_ms = llround(v * 1000);
    return true;
}

static const field_t run_fields[] = {{"status_interval_s", run_status_interval, false}};

static bool backtest_days(parser_t *p, const cJSON *it, void *t)
{
    int64_t v = 0;
    if (!read_positive_int(p, it, 36500, &v))
        return false;
    p->cfg->backtest_days = (int)v;
    return true;
}

#define TIME_RULE "an RFC 3339 time like 2026-01-01T00:00:00Z"
static bool backtest_start(parser_t *p, const cJSON *it, void *t)
{
    if (!cJSON_IsString(it))
        return fail_type(p, it, TIME_RULE);
    if (!parse_time(it->valuestring, &p->cfg->backtest_start_ns))
        return fail_value(p, it, TIME_RULE);
    return true;
}

static const field_t backtest_fields[] = {{"days", backtest_days, false},
                                          {"start", backtest_start, false}};

/* ---- safety and recovery ------------------------------------------------------------ */

static bool safety_seconds(parser_t *p, const cJSON *it, int64_t *out_ms)
{
#define SECONDS_RULE "a number of seconds from 0 (off) to 86400"
    if (!cJSON_IsNumber(it))
        return fail_type(p, it, SECONDS_RULE);
    double v = it->valuedouble;
    if (!isfinite(v) || v < 0 || v > 86400)
        return fail_value(p, it, SECONDS_RULE);
    *out_ms = llround(v * 1000);
    return true;
}

static bool safety_deadman(parser_t *p, const cJSON *it, void *t)
{
    return safety_seconds(p, it, &p->cfg->deadman_ms);
}

static bool safety_venue_silence(parser_t *p, const cJSON *it, void *t)
{
    return safety_seconds(p, it, &p->cfg->venue_silence_ms);
}

static bool safety_kill_file(parser_t *p, const cJSON *it, void *t)
{
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return fail_type(p, it, "a file name (relative to the state directory) or path");
    free(p->cfg->kill_file);
    p->cfg->kill_file = strdup(it->valuestring);
    return p->cfg->kill_file != NULL;
}

static bool safety_flatten_timeout(parser_t *p, const cJSON *it, void *t)
{
    return safety_seconds(p, it, &p->cfg->kill_timeout_ms);
}

static const field_t safety_fields[] = {{"deadman_s", safety_deadman, false},
                                        {"venue_silence_s", safety_venue_silence, false},
                                        {"kill_file", safety_kill_file, false},
                                        {"kill_timeout_s", safety_flatten_timeout, false}};

static bool recovery_orders(parser_t *p, const cJSON *it, void *t)
{
    static const char *const names[] = {"cancel", "adopt"};
    int v = 0;
    if (!read_choice(p, it, names, 2, &v))
        return false;
    p->cfg->recovery_adopt_orders = v == 1;
    return true;
}

static bool recovery_positions(parser_t *p, const cJSON *it, void *t)
{
    static const char *const names[] = {"flatten", "adopt"};
    int v = 0;
    if (!read_choice(p, it, names, 2, &v))
        return false;
    p->cfg->recovery_adopt_positions = v == 1;
    return true;
}

static bool recovery_timeout(parser_t *p, const cJSON *it, void *t)
{
    return safety_seconds(p, it, &p->cfg->reconcile_timeout_ms);
}

static const field_t recovery_fields[] = {{"unknown_orders", recovery_orders, false},
                                          {"position_mismatch", recovery_positions, false},
                                          {"timeout_s", recovery_timeout, false}};

/* ---- venues and risk --------------------------------------------------------------- */

static bool plugin_name(parser_t *p, const cJSON *it, char **out)
{
    if (!cJSON_IsString(it))
        return fail_type(p, it, "string");
    if (!plugin_name_ok(it->valuestring))
        return fail_value(p, it, PLUGIN_NAME_RULE);
    return read_string(p, it, out);
}

static bool venue_plugin(parser_t *p, const cJSON *it, void *t)
{
    return plugin_name(p, it, &((ks_venue_cfg_t *)t)->plugin);
}

static bool venue_config(parser_t *p, const cJSON *it, void *t)
{
    return read_opaque_object(p, it, &((ks_venue_cfg_t *)t)->config_json);
}

static bool rl_requests(parser_t *p, const cJSON *it, void *t)
{
    int64_t v = 0;
    if (!read_positive_int(p, it, 1000000, &v))
        return false;
    ((ks_rl_cfg_t *)t)->requests = (int)v;
    return true;
}

static bool rl_window(parser_t *p, const cJSON *it, void *t)
{
#define WINDOW_RULE "a number of seconds from 0.001 to 3600"
    if (!cJSON_IsNumber(it))
        return fail_type(p, it, WINDOW_RULE);
    double v = it->valuedouble;
    if (!isfinite(v) || v < 0.001 || v > 3600)
        return fail_value(p, it, WINDOW_RULE);
    ((ks_rl_cfg_t *)t)->window_ms = llround(v * 1000);
    return true;
}

static const field_t rl_fields[] = {{"requests", rl_requests, true}, {"per_s", rl_window, false}};

static bool venue_rl_requests(parser_t *p, const cJSON *it, void *t)
{
    return rl_requests(p, it, &((ks_venue_cfg_t *)t)->rl);
}

static bool venue_rl_window(parser_t *p, const cJSON *it, void *t)
{
    return rl_window(p, it, &((ks_venue_cfg_t *)t)->rl);
}

static bool venue_rl_shared(parser_t *p, const cJSON *it, void *t)
{
    if (!cJSON_IsString(it))
        return fail_type(p, it, "string");
    return read_string(p, it, &((ks_venue_cfg_t *)t)->rl_shared);
}

static const field_t venue_rl_fields[] = {{"requests", venue_rl_requests, false},
                                          {"per_s", venue_rl_window, false},
                                          {"shared", venue_rl_shared, false}};

static bool venue_rate_limit(parser_t *p, const cJSON *it, void *t)
{
    ks_venue_cfg_t *v = t;
    v->rl.window_ms = 1000;
    if (!walk_object(p, it, venue_rl_fields, N_FIELDS(venue_rl_fields), v))
        return false;
    if (!v->rl.requests && !v->rl_shared)
        return fail(p, "expected \"requests\" or \"shared\"");
    return true;
}

static const field_t venue_fields[] = {{"plugin", venue_plugin, false},
                                       {"config", venue_config, false},
                                       {"rate_limit", venue_rate_limit, false}};

static bool read_venues(parser_t *p, const cJSON *it, void *t)
{
    ks_config_t *cfg = p->cfg;
    int n = cJSON_GetArraySize(it);

    if (!cJSON_IsObject(it))
        return fail_type(p, it, "object");
    if (n == 0)
        return fail(p, "expected at least one venue, got an empty object");
    if (!(cfg->venues = calloc((size_t)n, sizeof(*cfg->venues))))
        return fail(p, "out of memory");
    for (const cJSON *c = it->child; c; c = c->next) {
        ks_venue_cfg_t *v = &cfg->venues[cfg->n_venues++];
        size_t saved = path_push_key(p, c->string);
        if (duplicate_key(it, c))
            return fail(p, "duplicate key");
        if (!plugin_name_ok(c->string))
            return fail(p, "expected a venue name of 1 to 63 letters, digits, '_' or '-'");
        if (!(v->name = dup_or_fail(p, c->string)) ||
            !walk_object(p, c, venue_fields, N_FIELDS(venue_fields), v))
            return false;
        if ((!v->plugin && !(v->plugin = dup_or_fail(p, v->name))) ||
            (!v->config_json && !(v->config_json = dup_or_fail(p, "{}"))))
            return false;
        path_pop(p, saved);
    }
    return true;
}

static bool read_rl_groups(parser_t *p, const cJSON *it, void *t)
{
    ks_config_t *cfg = p->cfg;
    int n = cJSON_GetArraySize(it);

    if (!cJSON_IsObject(it))
        return fail_type(p, it, "object");
    if (n && !(cfg->rl_groups = calloc((size_t)n, sizeof(*cfg->rl_groups))))
        return fail(p, "out of memory");
    for (const cJSON *c = it->child; c; c = c->next) {
        ks_rl_group_cfg_t *g = &cfg->rl_groups[cfg->n_rl_groups++];
        size_t saved = path_push_key(p, c->string);
        if (duplicate_key(it, c))
            return fail(p, "duplicate key");
        if (!plugin_name_ok(c->string))
            return fail(p, "expected a group name of 1 to 63 letters, digits, '_' or '-'");
        g->rl.window_ms = 1000;
        if (!(g->name = dup_or_fail(p, c->string)) ||
            !walk_object(p, c, rl_fields, N_FIELDS(rl_fields), &g->rl))
            return false;
        path_pop(p, saved);
    }
    return true;
}

static bool risk_plugin(parser_t *p, const cJSON *it, void *t)
{
    return plugin_name(p, it, &((ks_risk_cfg_t *)t)->plugin);
}

static bool risk_name(parser_t *p, const cJSON *it, void *t)
{
    return plugin_name(p, it, &((ks_risk_cfg_t *)t)->name);
}

static bool risk_config(parser_t *p, const cJSON *it, void *t)
{
    return read_opaque_object(p, it, &((ks_risk_cfg_t *)t)->config_json);
}

static const field_t risk_fields[] = {
    {"plugin", risk_plugin, true}, {"name", risk_name, false}, {"config", risk_config, false}};

static bool read_risk(parser_t *p, const cJSON *it, void *t)
{
    ks_config_t *cfg = p->cfg;
    int n = cJSON_GetArraySize(it);

    if (!cJSON_IsArray(it))
        return fail_type(p, it, "array");
    if (n && !(cfg->risk = calloc((size_t)n, sizeof(*cfg->risk))))
        return fail(p, "out of memory");
    for (const cJSON *c = it->child; c; c = c->next) {
        ks_risk_cfg_t *r = &cfg->risk[cfg->n_risk];
        size_t saved = path_push_index(p, cfg->n_risk++);
        if (!walk_object(p, c, risk_fields, N_FIELDS(risk_fields), r))
            return false;
        if ((!r->name && !(r->name = dup_or_fail(p, r->plugin))) ||
            (!r->config_json && !(r->config_json = dup_or_fail(p, "{}"))))
            return false;
        for (int i = 0; i < cfg->n_risk - 1; i++) {
            if (strcmp(cfg->risk[i].name, r->name) == 0) {
                path_push_key(p, "name");
                return fail(p, "duplicate risk module name \"%s\" (also risk[%d])", r->name, i);
            }
        }
        path_pop(p, saved);
    }
    return true;
}

/* ---- strategies --------------------------------------------------------------------- */

#define S(t) ((ks_strategy_cfg_t *)(t))

static bool st_enabled(parser_t *p, const cJSON *it, void *t)
{
    return read_bool(p, it, &S(t)->enabled);
}

static bool st_file(parser_t *p, const cJSON *it, void *t)
{
    struct stat sb;
    int fd;

    if (!read_path(p, it, &S(t)->file))
        return false;
    fd = open(S(t)->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(p, "cannot read %s: %s", S(t)->file, strerror(errno));
    int rc = fstat(fd, &sb);
    int e = errno;
    close(fd);
    if (rc != 0)
        return fail(p, "cannot read %s: %s", S(t)->file, strerror(e));
    if (S_ISDIR(sb.st_mode))
        return fail(p, "cannot read %s: %s", S(t)->file, strerror(EISDIR));
    if (!S_ISREG(sb.st_mode))
        return fail(p, "cannot read %s: not a regular file", S(t)->file);
    return true;
}

static bool st_venue(parser_t *p, const cJSON *it, void *t)
{
    return read_string(p, it, &S(t)->venue);
}

#define SYMBOL_RULE "a symbol like BTC/USDT or BTC/USDT:USDT"
static bool st_symbols(parser_t *p, const cJSON *it, void *t)
{
    ks_strategy_cfg_t *s = S(t);
    int n = cJSON_GetArraySize(it);

    if (!cJSON_IsArray(it))
        return fail_type(p, it, "array of strings");
    if (n && !(s->symbols = calloc((size_t)n, sizeof(*s->symbols))))
        return fail(p, "out of memory");
    for (const cJSON *c = it->child; c; c = c->next) {
        size_t saved = path_push_index(p, s->n_symbols);
        if (!cJSON_IsString(c))
            return fail_type(p, c, SYMBOL_RULE);
        if (!symbol_ok(c->valuestring))
            return fail_value(p, c, SYMBOL_RULE);
        for (int i = 0; i < s->n_symbols; i++)
            if (strcmp(s->symbols[i], c->valuestring) == 0)
                return fail(p, "duplicate symbol \"%s\"", c->valuestring);
        if (!(s->symbols[s->n_symbols] = dup_or_fail(p, c->valuestring)))
            return false;
        s->n_symbols++;
        path_pop(p, saved);
    }
    return true;
}

static bool st_params(parser_t *p, const cJSON *it, void *t)
{
    return read_opaque_object(p, it, &S(t)->params_json);
}

#define CAPITAL_RULE "a non-negative decimal amount"
static bool st_capital(parser_t *p, const cJSON *it, void *t)
{
    char buf[KS_DEC_STRLEN];
    ks_dec_t d;
    int rc;

    if (cJSON_IsString(it))
        rc = ks_dec_parse(it->valuestring, (size_t)-1, &d);
    else if (cJSON_IsNumber(it))
        rc = ks_dec_from_double(it->valuedouble, KS_DEC_MAX_SCALE, KS_ROUND_HALF_EVEN, &d);
    else
        return fail_type(p, it, CAPITAL_RULE);
    if (rc != KS_OK || ks_dec_sign(d) < 0 || ks_dec_format(d, buf, sizeof(buf)) < 0)
        return fail_value(p, it, CAPITAL_RULE);
    free(S(t)->capital);
    S(t)->capital = dup_or_fail(p, buf);
    return S(t)->capital != NULL;
}

static bool st_mode(parser_t *p, const cJSON *it, void *t)
{
    static const char *const names[] = {"live", "paper", "observer"};
    static const ks_strategy_mode_t values[] = {KS_MODE_LIVE, KS_MODE_PAPER, KS_MODE_OBSERVER};
    int v = 0;
    if (!read_choice(p, it, names, 3, &v))
        return false;
    S(t)->mode = values[v];
    return true;
}

static bool st_on_disable(parser_t *p, const cJSON *it, void *t)
{
    static const char *const names[] = {"hold", "cancel", "flatten"};
    static const ks_on_disable_t values[] = {KS_ON_DISABLE_HOLD, KS_ON_DISABLE_CANCEL,
                                             KS_ON_DISABLE_FLATTEN};
    int v = 0;
    if (!read_choice(p, it, names, 3, &v))
        return false;
    S(t)->on_disable = values[v];
    return true;
}

static bool st_jit(parser_t *p, const cJSON *it, void *t)
{
    if (!read_bool(p, it, &S(t)->jit))
        return false;
    if (S(t)->jit)
        return fail(p, "JIT is refused for now: the instruction-budget hook never fires inside "
                       "JIT-compiled traces, so a runaway loop could not be stopped (see "
                       "docs/strategies.md)");
    return true;
}

static bool st_memory_mb(parser_t *p, const cJSON *it, void *t)
{
    int64_t v = 0;
    if (!read_positive_int(p, it, 1 << 20, &v))
        return false;
    S(t)->memory_limit = v * MIB;
    return true;
}

static bool st_instruction_budget(parser_t *p, const cJSON *it, void *t)
{
    return read_positive_int(p, it, MAX_EXACT_INT, &S(t)->instruction_budget);
}

static bool st_max_errors(parser_t *p, const cJSON *it, void *t)
{
    int64_t v = 0;
    if (!read_positive_int(p, it, INT_MAX, &v))
        return false;
    S(t)->max_errors = (int)v;
    return true;
}

static bool st_error_window(parser_t *p, const cJSON *it, void *t)
{
    int64_t v = 0;
    if (!read_positive_int(p, it, INT_MAX, &v))
        return false;
    S(t)->error_window_s = (int)v;
    return true;
}

#undef S

static const field_t strategy_fields[] = {
    {"enabled", st_enabled, false},
    {"file", st_file, true},
    {"venue", st_venue, true},
    {"symbols", st_symbols, false},
    {"params", st_params, false},
    {"capital", st_capital, false},
    {"mode", st_mode, false},
    {"on_disable", st_on_disable, false},
    {"jit", st_jit, false},
    {"memory_mb", st_memory_mb, false},
    {"instruction_budget", st_instruction_budget, false},
    {"max_errors", st_max_errors, false},
    {"error_window_s", st_error_window, false},
};

static void strategy_defaults(ks_strategy_cfg_t *s)
{
    s->enabled = true;
    s->mode = KS_MODE_LIVE;
    s->on_disable = KS_ON_DISABLE_CANCEL;
    s->jit = false;
    s->memory_limit = 64 * MIB;
    s->instruction_budget = 10000000;
    s->max_errors = 10;
    s->error_window_s = 60;
}

static bool read_strategies(parser_t *p, const cJSON *it, void *t)
{
    ks_config_t *cfg = p->cfg;
    int n = cJSON_GetArraySize(it);

    if (!cJSON_IsObject(it))
        return fail_type(p, it, "object");
    if (!(cfg->strategies = calloc(n ? (size_t)n : 1, sizeof(*cfg->strategies))))
        return fail(p, "out of memory");
    for (const cJSON *c = it->child; c; c = c->next) {
        ks_strategy_cfg_t *s = &cfg->strategies[cfg->n_strategies++];
        size_t saved = path_push_key(p, c->string);
        strategy_defaults(s);
        if (duplicate_key(it, c))
            return fail(p, "duplicate key");
        if (!name_chars_ok(c->string, "", STRATEGY_NAME_MAX))
            return fail(p, "expected a strategy name of 1 to 24 letters, digits or '_' "
                           "(it prefixes client order ids)");
        if (!(s->name = dup_or_fail(p, c->string)) ||
            !walk_object(p, c, strategy_fields, N_FIELDS(strategy_fields), s))
            return false;
        if (!s->params_json && !(s->params_json = dup_or_fail(p, "{}")))
            return false;
        path_pop(p, saved);
    }
    return true;
}

/* Second pass: every strategy names a configured venue, every shared rate limit a
 * configured group. */
static bool check_venue_refs(parser_t *p)
{
    ks_config_t *cfg = p->cfg;
    for (int i = 0; i < cfg->n_venues; i++) {
        const ks_venue_cfg_t *v = &cfg->venues[i];
        int j = 0;
        if (!v->rl_shared)
            continue;
        while (j < cfg->n_rl_groups && strcmp(cfg->rl_groups[j].name, v->rl_shared) != 0)
            j++;
        if (j < cfg->n_rl_groups)
            continue;
        char list[256] = "";
        for (j = 0; j < cfg->n_rl_groups; j++) {
            if (j)
                strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            strncat(list, cfg->rl_groups[j].name, sizeof(list) - strlen(list) - 1);
        }
        path_push_key(p, "venues");
        path_push_key(p, v->name);
        path_push_key(p, "rate_limit");
        path_push_key(p, "shared");
        return fail(p, "unknown rate-limit group \"%s\" (rate_limit_groups: %s)", v->rl_shared,
                    list[0] ? list : "none");
    }
    for (int i = 0; i < cfg->n_strategies; i++) {
        const ks_strategy_cfg_t *s = &cfg->strategies[i];
        if (ks_config_venue(cfg, s->venue))
            continue;
        char list[256] = "";
        for (int j = 0; j < cfg->n_venues; j++) {
            if (j)
                strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            strncat(list, cfg->venues[j].name, sizeof(list) - strlen(list) - 1);
        }
        path_push_key(p, "strategies");
        path_push_key(p, s->name);
        path_push_key(p, "venue");
        return fail(p, "unknown venue \"%s\" (configured: %s)", s->venue, list);
    }
    return true;
}

/* ---- top level ---------------------------------------------------------------------- */

static bool read_state_dir(parser_t *p, const cJSON *it, void *t)
{
    return read_path(p, it, &p->cfg->state_dir);
}

static bool read_plugin_path(parser_t *p, const cJSON *it, void *t)
{
    ks_config_t *cfg = p->cfg;
    int n = cJSON_GetArraySize(it);

    if (!cJSON_IsArray(it))
        return fail_type(p, it, "array of strings");
    if (n && !(cfg->plugin_path = calloc((size_t)n, sizeof(*cfg->plugin_path))))
        return fail(p, "out of memory");
    for (const cJSON *c = it->child; c; c = c->next) {
        size_t saved = path_push_index(p, cfg->n_plugin_path);
        if (!read_path(p, c, &cfg->plugin_path[cfg->n_plugin_path]))
            return false;
        cfg->n_plugin_path++;
        path_pop(p, saved);
    }
    return true;
}

static bool read_log(parser_t *p, const cJSON *it, void *t)
{
    return walk_object(p, it, log_fields, N_FIELDS(log_fields), NULL);
}

static bool read_run(parser_t *p, const cJSON *it, void *t)
{
    return walk_object(p, it, run_fields, N_FIELDS(run_fields), NULL);
}

static bool read_backtest(parser_t *p, const cJSON *it, void *t)
{
    return walk_object(p, it, backtest_fields, N_FIELDS(backtest_fields), NULL);
}

static bool read_safety(parser_t *p, const cJSON *it, void *t)
{
    return walk_object(p, it, safety_fields, N_FIELDS(safety_fields), NULL);
}

static bool read_recovery(parser_t *p, const cJSON *it, void *t)
{
    return walk_object(p, it, recovery_fields, N_FIELDS(recovery_fields), NULL);
}

static const field_t top_fields[] = {
    {"state_dir", read_state_dir, false},
    {"plugin_path", read_plugin_path, false},
    {"log", read_log, false},
    {"venues", read_venues, true},
    {"rate_limit_groups", read_rl_groups, false},
    {"risk", read_risk, false},
    {"strategies", read_strategies, true},
    {"run", read_run, false},
    {"backtest", read_backtest, false},
    {"safety", read_safety, false},
    {"recovery", read_recovery, false},
};

/* Line and column (1-based, in bytes) of pos in text. cJSON sometimes reports the
 * position just past the offending token; when that lands on white space or the end,
 * step back to the last token. */
static void line_col(const char *text, const char *pos, int *line, int *col)
{
    while (pos > text && (!*pos || strchr(" \t\r\n", *pos)))
        pos--;
    *line = 1;
    *col = 1;
    for (const char *s = text; s < pos && *s; s++) {
        if (*s == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static ks_config_t *parse(const char *json, const char *label, const char *path,
                          const char *base_dir, char *err, size_t err_len)
{
    parser_t p = {.err = err, .err_len = err_len};
    const char *end = NULL;
    cJSON *root = NULL;
    ks_config_t *cfg;

    if (!(cfg = calloc(1, sizeof(*cfg)))) {
        snprintf(err, err_len, "%s: out of memory", label);
        return NULL;
    }
    cfg->log_level = KS_LOG_INFO;
    cfg->log_format = -1;
    cfg->status_interval_ms = 5000;
    cfg->deadman_ms = 30000;
    cfg->venue_silence_ms = 0;
    cfg->kill_timeout_ms = 30000;
    cfg->reconcile_timeout_ms = 30000;
    cfg->backtest_days = 3;
    cfg->backtest_start_ns = INT64_C(1767225600) * 1000000000; /* 2026-01-01T00:00:00Z */
    p.cfg = cfg;
    if ((path && !(cfg->path = strdup(path))) || !(cfg->base_dir = absolute_dir(base_dir))) {
        snprintf(err, err_len, "%s: cannot resolve the config directory: %s", label,
                 strerror(errno));
        goto fail;
    }
    p.base_dir = cfg->base_dir;

    if (strncmp(json, "\xEF\xBB\xBF", 3) == 0)
        json += 3; /* a UTF-8 byte order mark some editors write */
    root = cJSON_ParseWithOpts(json, &end, true);
    if (!root) {
        int line, col;
        line_col(json, end ? end : json, &line, &col);
        snprintf(err, err_len, "%s: invalid JSON near line %d column %d", label, line, col);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_len, "%s: expected object, got %s", label, type_name(root));
        goto fail;
    }
    if (!walk_object(&p, root, top_fields, N_FIELDS(top_fields), NULL) || !check_venue_refs(&p))
        goto fail;
    cJSON_Delete(root);
    return cfg;

fail:
    one_line(err);
    cJSON_Delete(root);
    ks_config_free(cfg);
    return NULL;
}

/* ---- public ------------------------------------------------------------------------- */

static char *read_file(const char *path, int *err_no)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        *err_no = errno;
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 16384;
            char *nb = cap <= MAX_CONFIG_BYTES ? realloc(buf, cap + 1) : NULL;
            if (!nb) {
                *err_no = cap > MAX_CONFIG_BYTES ? EFBIG : ENOMEM;
                goto fail;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        *err_no = errno ? errno : EIO;
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;

fail:
    fclose(f);
    free(buf);
    return NULL;
}

ks_config_t *ks_config_load(const char *path, char *err, size_t err_len)
{
    char dummy[1];
    int err_no = 0;

    if (!err || !err_len) {
        err = dummy;
        err_len = sizeof(dummy);
    }
    err[0] = '\0';
    if (!path || !*path) {
        snprintf(err, err_len, "config: no file given");
        return NULL;
    }
    char *text = read_file(path, &err_no);
    if (!text) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(err_no));
        one_line(err);
        return NULL;
    }
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    ks_config_t *cfg = NULL;
    if (!dir) {
        snprintf(err, err_len, "%s: out of memory", path);
    } else {
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
        cfg = parse(text, path, path, slash ? dir : ".", err, err_len);
    }
    free(dir);
    free(text);
    return cfg;
}

ks_config_t *ks_config_parse(const char *json, const char *base_dir, char *err, size_t err_len)
{
    char dummy[1];
    if (!err || !err_len) {
        err = dummy;
        err_len = sizeof(dummy);
    }
    err[0] = '\0';
    if (!json) {
        snprintf(err, err_len, "config: no text given");
        return NULL;
    }
    return parse(json, "config", NULL, base_dir, err, err_len);
}

void ks_config_free(ks_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->kill_file);
    for (int i = 0; i < cfg->n_venues; i++) {
        free(cfg->venues[i].name);
        free(cfg->venues[i].plugin);
        free(cfg->venues[i].config_json);
        free(cfg->venues[i].rl_shared);
    }
    free(cfg->venues);
    for (int i = 0; i < cfg->n_rl_groups; i++)
        free(cfg->rl_groups[i].name);
    free(cfg->rl_groups);
    for (int i = 0; i < cfg->n_risk; i++) {
        free(cfg->risk[i].name);
        free(cfg->risk[i].plugin);
        free(cfg->risk[i].config_json);
    }
    free(cfg->risk);
    for (int i = 0; i < cfg->n_strategies; i++) {
        ks_strategy_cfg_t *s = &cfg->strategies[i];
        free(s->name);
        free(s->file);
        free(s->venue);
        for (int j = 0; j < s->n_symbols; j++)
            free(s->symbols[j]);
        free(s->symbols);
        free(s->params_json);
        free(s->capital);
    }
    free(cfg->strategies);
    for (int i = 0; i < cfg->n_plugin_path; i++)
        free(cfg->plugin_path[i]);
    free(cfg->plugin_path);
    free(cfg->state_dir);
    free(cfg->base_dir);
    free(cfg->path);
    free(cfg);
}

const ks_strategy_cfg_t *ks_config_strategy(const ks_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (int i = 0; i < cfg->n_strategies; i++)
        if (strcmp(cfg->strategies[i].name, name) == 0)
            return &cfg->strategies[i];
    return NULL;
}

const ks_venue_cfg_t *ks_config_venue(const ks_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (int i = 0; i < cfg->n_venues; i++)
        if (strcmp(cfg->venues[i].name, name) == 0)
            return &cfg->venues[i];
    return NULL;
}

const char *ks_strategy_mode_name(ks_strategy_mode_t m)
{
    switch (m) {
    case KS_MODE_LIVE:
        return "live";
    case KS_MODE_PAPER:
        return "paper";
    case KS_MODE_OBSERVER:
        return "observer";
    }
    return "unknown";
}

const char *ks_on_disable_name(ks_on_disable_t p)
{
    switch (p) {
    case KS_ON_DISABLE_HOLD:
        return "hold";
    case KS_ON_DISABLE_CANCEL:
        return "cancel";
    case KS_ON_DISABLE_FLATTEN:
        return "flatten";
    }
    return "unknown";
}

/* ---- params against declared defaults ---------------------------------------------- */

static bool check_params(parser_t *p, const cJSON *params, const cJSON *defaults)
{
    for (const cJSON *c = params->child; c; c = c->next) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(defaults, c->string);
        if (!d)
            continue;
        size_t saved = path_push_key(p, c->string);
        bool same = (c->type & 0xFF) == (d->type & 0xFF) || (cJSON_IsBool(c) && cJSON_IsBool(d));
        if (!same && !cJSON_IsNull(d))
            return fail_type(p, c, type_name(d));
        if (cJSON_IsObject(c) && cJSON_IsObject(d) && !check_params(p, c, d))
            return false;
        path_pop(p, saved);
    }
    return true;
}

int ks_config_check_params(const ks_strategy_cfg_t *s, const char *defaults_json, char *err,
                           size_t err_len)
{
    parser_t p = {.err = err, .err_len = err_len};
    cJSON *params, *defaults;
    int rc;

    if (!s || !s->name || !defaults_json || !err || !err_len)
        return KS_EINVAL;
    err[0] = '\0';
    params = cJSON_Parse(s->params_json ? s->params_json : "{}");
    defaults = cJSON_Parse(defaults_json);
    path_push_key(&p, "strategies");
    path_push_key(&p, s->name);
    path_push_key(&p, "params");
    if (!cJSON_IsObject(params))
        rc = fail(&p, "expected object, got %s", params ? type_name(params) : "invalid JSON");
    else if (!cJSON_IsObject(defaults))
        rc = fail(&p, "the strategy's declared defaults are not a JSON object");
    else
        rc = check_params(&p, params, defaults);
    one_line(err);
    rc = rc ? KS_OK : KS_EINVAL;
    cJSON_Delete(params);
    cJSON_Delete(defaults);
    return rc;
}
