/* sim_lines: buffered line reader over zlib's gzread, which also reads plain files. */
#include "sim_lines.h"

#include <kestrel/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK (256 * 1024)

int ks_lines_open(ks_lines_t *l, const char *path, char *err, size_t err_len)
{
    memset(l, 0, sizeof(*l));
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
        return KS_EIO;
    }
    gzbuffer(gz, CHUNK);
    l->gz = gz;
    l->cap = CHUNK;
    l->buf = malloc(l->cap + 1);
    if (!l->buf) {
        gzclose(gz);
        l->gz = NULL;
        snprintf(err, err_len, "%s: out of memory", path);
        return KS_ENOMEM;
    }
    return KS_OK;
}

/* Makes room after the unread data and reads more; returns bytes read, 0 at EOF. */
static int fill(ks_lines_t *l, char *err, size_t err_len)
{
    if (l->pos > 0) {
        memmove(l->buf, l->buf + l->pos, l->len - l->pos);
        l->len -= l->pos;
        l->pos = 0;
    }
    if (l->cap - l->len < CHUNK / 2) {
        size_t cap = l->cap * 2;
        char *b = realloc(l->buf, cap + 1);
        if (!b) {
            snprintf(err, err_len, "out of memory (line longer than %zu bytes)", l->cap);
            return KS_ENOMEM;
        }
        l->buf = b;
        l->cap = cap;
    }
    int n = gzread((gzFile)l->gz, l->buf + l->len, (unsigned)(l->cap - l->len));
    if (n < 0) {
        int zerr;
        const char *m = gzerror((gzFile)l->gz, &zerr);
        snprintf(err, err_len, "read error: %s", m ? m : "unknown");
        return KS_EIO;
    }
    l->len += (size_t)n;
    if (n == 0)
        l->eof = true;
    return n;
}

int ks_lines_next(ks_lines_t *l, char **line, size_t *len, char *err, size_t err_len)
{
    size_t scan = l->pos;
    for (;;) {
        char *nl = memchr(l->buf + scan, '\n', l->len - scan);
        if (nl) {
            char *s = l->buf + l->pos;
            size_t n = (size_t)(nl - s);
            l->pos = (size_t)(nl - l->buf) + 1;
            if (n && s[n - 1] == '\r')
                n--;
            s[n] = '\0';
            *line = s;
            *len = n;
            l->lineno++;
            return 1;
        }
        if (l->eof) {
            if (l->pos >= l->len)
                return 0;
            char *s = l->buf + l->pos;
            size_t n = l->len - l->pos;
            if (n && s[n - 1] == '\r')
                n--;
            s[n] = '\0'; /* buf has cap + 1 bytes */
            l->pos = l->len;
            *line = s;
            *len = n;
            l->lineno++;
            return 1;
        }
        size_t done = l->len - l->pos;
        int rc = fill(l, err, err_len);
        if (rc < 0)
            return rc;
        scan = l->pos + done;
    }
}

void ks_lines_close(ks_lines_t *l)
{
    if (l->gz)
        gzclose((gzFile)l->gz);
    free(l->buf);
    memset(l, 0, sizeof(*l));
}

size_t ks_lines_peek(const char *path, char *buf, size_t cap)
{
    if (!cap)
        return 0;
    buf[0] = '\0';
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return 0;
    int n = gzread(gz, buf, (unsigned)(cap - 1));
    gzclose(gz);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return (size_t)n;
}
