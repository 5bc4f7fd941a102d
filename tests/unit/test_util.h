/* Helpers shared by the C tests: reading files and locating ../shared. */
#ifndef KS_TEST_UTIL_H
#define KS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole file; caller frees. NULL when missing. */
static inline char *ks_test_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len_out)
            *len_out = (size_t)n;
    }
    return buf;
}

/* Path of a file under the shared directory (KS_SHARED_DIR, else ../shared next to the
 * source tree). Returns NULL, after printing why, when it does not exist. */
static inline const char *ks_test_shared_path(const char *rel, char *buf, size_t cap)
{
    const char *dir = getenv("KS_SHARED_DIR");
    if (!dir || !*dir)
        dir = "../shared";
    snprintf(buf, cap, "%s/%s", dir, rel);
    if (access(buf, R_OK) != 0) {
        printf("SKIP: %s is absent (shared data not available here)\n", buf);
        return NULL;
    }
    return buf;
}

#endif
