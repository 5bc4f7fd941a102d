/* File watching with inotify on the loop, debounced: editors write a file in several
 * steps (truncate, write, rename), so a change is reported once the file has been quiet
 * for the debounce period. Real mode only. */
#ifndef KS_WATCH_H
#define KS_WATCH_H

#include <stdint.h>

#include "loop.h"

typedef struct ks_watch ks_watch_t;

/* Called once per quiet period with the path that changed (borrowed). */
typedef void (*ks_watch_cb)(void *ud, const char *path);

/* Caller owns the result; ks_watch_free(). NULL when inotify is unavailable. */
ks_watch_t *ks_watch_new(ks_loop_t *loop, int64_t debounce_ns);
void ks_watch_free(ks_watch_t *w);

/* Watches one file (through its directory, so replacing the file by rename is seen). */
int ks_watch_file(ks_watch_t *w, const char *path, ks_watch_cb cb, void *ud);
/* Watches every file in a directory whose name ends with suffix ("" for any). */
int ks_watch_dir(ks_watch_t *w, const char *dir, const char *suffix, ks_watch_cb cb, void *ud);

#endif
