/* Host logging (see log.h). Single-threaded like the rest of the host. */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SECRETS 32

static FILE *log_out;
static int log_min = KS_LOG_INFO;
static ks_log_format_t log_fmt = KS_LOGF_TEXT;
static int64_t (*log_clock)(void *ud);
static void *log_clock_ud;
static char *secrets[MAX_SECRETS];
static int n_secrets;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void ks_log_setup(FILE *out, int min_level, ks_log_format_t fmt)
{
    log_out = out;
    log_min = min_level;
    log_fmt = fmt;
}

int ks_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int ks_log_min_level(void)
{
    return log_min;
}

void ks_log_set_clock(int64_t (*wall_ns)(void *ud), void *ud)
{
    log_clock = wall_ns;
    log_clock_ud = ud;
}

void ks_log_add_secret(const char *value)
{
    if (!value || strlen(value) < 4 || n_secrets == MAX_SECRETS)
        return;
    for (int i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], value) == 0)
            return;
    secrets[n_secrets] = strdup(value);
    if (secrets[n_secrets])
        n_secrets++;
}

void ks_log_clear_secrets(void)
{
    for (int i = 0; i < n_secrets; i++) {
        memset(secrets[i], 0, strlen(secrets[i]));
        free(secrets[i]);
    }
    n_secrets = 0;
}

/* Masks every registered secret in place with '*'. */
static void redact(char *s)
{
    for (int i = 0; i < n_secrets; i++) {
        size_t n = strlen(secrets[i]);
        char *p = s;
        while ((p = strstr(p, secrets[i])) != NULL) {
            memset(p, '*', n);
            p += n;
        }
    }
}

/* Appends s JSON-escaped to buf at *pos (bounded by cap). */
static void json_escape(char *buf, size_t cap, size_t *pos, const char *s)
{
    for (; *s && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c == '\n') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
        } else if (c < 0x20) {
            *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", c);
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
}

static void append(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= cap)
        n = cap - *pos - 1;
    memcpy(buf + *pos, s, n);
    *pos += n;
}

void ks_logv(int level, const char *component, const char *fmt, va_list ap)
{
    char msg[2048];
    FILE *f = log_out ? log_out : stderr;
    int64_t ns;

    if (level < log_min)
        return;
    if (level < 0 || level > KS_LOG_ERROR)
        level = KS_LOG_ERROR;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    redact(msg);
    if (log_clock) {
        ns = log_clock(log_clock_ud);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char tbuf[40];
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
    int ms = (int)((ns / 1000000) % 1000);
    /* One write per record: stderr is unbuffered. */
    char line[4600];
    size_t pos = 0;
    if (log_fmt == KS_LOGF_JSON) {
        char head[96];
        snprintf(head, sizeof(head), "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"component\":\"", tbuf,
                 ms, level_names[level]);
        append(line, sizeof(line), &pos, head);
        json_escape(line, sizeof(line), &pos, component);
        append(line, sizeof(line), &pos, "\",\"msg\":\"");
        json_escape(line, sizeof(line), &pos, msg);
        append(line, sizeof(line), &pos, "\"}\n");
    } else {
        int n = snprintf(line, sizeof(line), "%s.%03dZ %-5s %s: %s\n", tbuf, ms, level_names[level],
                         component, msg);
        pos = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    }
    fwrite(line, 1, pos, f);
    fflush(f);
}

void ks_log(int level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ks_logv(level, component, fmt, ap);
    va_end(ap);
}
