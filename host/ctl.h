/* The control socket: a unix stream socket under the state directory (mode 0600, so
 * only the owner can use it) speaking one request line and one JSON reply line per
 * connection. `kestrel ctl` is the client. Commands: status, enable NAME, disable NAME,
 * reload NAME, reload-config, kill. */
#ifndef KS_CTL_H
#define KS_CTL_H

#include <stddef.h>
#include <stdio.h>

#include "loop.h"

typedef struct ks_ctl ks_ctl_t;

/* Handles one request ("enable carry"); writes one JSON line (without newline) into
 * reply. */
typedef void (*ks_ctl_handler)(void *ud, const char *cmd, const char *arg, char *reply, size_t cap);

/* Listens on path (replacing a stale socket). NULL with err on failure. */
ks_ctl_t *ks_ctl_start(ks_loop_t *loop, const char *path, ks_ctl_handler h, void *ud, char *err,
                       size_t err_len);
void ks_ctl_stop(ks_ctl_t *ctl);

/* Client: sends one line, prints the reply to out. Returns 0 when the reply says
 * "ok": true, 1 when it does not, 2 when the host could not be reached. */
int ks_ctl_request(const char *path, const char *line, FILE *out, FILE *errout);

#endif
