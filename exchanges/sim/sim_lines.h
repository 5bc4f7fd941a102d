/* sim_lines: reads a text file line by line, gzip-compressed or plain (zlib detects
 * which), with lines of any length. For the replay readers. */
#ifndef KS_SIM_LINES_H
#define KS_SIM_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_lines {
    void *gz; /* gzFile */
    char *buf;
    size_t cap, len, pos;
    bool eof;
    uint64_t lineno;
} ks_lines_t;

/* Opens path; on failure writes a reason into err and returns < 0. */
int ks_lines_open(ks_lines_t *l, const char *path, char *err, size_t err_len);
/* The next line without its newline (and without a trailing '\r'), NUL-terminated and
 * writable; borrowed until the next call. Returns 1 for a line, 0 at the end, < 0 on a
 * read error (reason in err). */
int ks_lines_next(ks_lines_t *l, char **line, size_t *len, char *err, size_t err_len);
void ks_lines_close(ks_lines_t *l);

/* Reads the first cap - 1 bytes of a file (decompressed) into buf, NUL-terminated;
 * returns how many (0 when unreadable or empty). */
size_t ks_lines_peek(const char *path, char *buf, size_t cap);

#endif
