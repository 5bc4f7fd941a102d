/* Control socket (see ctl.h). Requests are tiny and replies are built synchronously, so
 * each connection is: readable -> read a line -> reply -> close. */
#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <kestrel/kestrel.h>

#include "log.h"

#define MAX_LINE  1024
#define MAX_REPLY 65536

typedef struct conn {
    ks_ctl_t *ctl;
    int fd;
    char buf[MAX_LINE];
    size_t n;
    struct conn *next;
} conn_t;

struct ks_ctl {
    ks_loop_t *loop;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    ks_ctl_handler handler;
    void *ud;
    conn_t *conns;
};

static void conn_close(conn_t *c)
{
    ks_ctl_t *ctl = c->ctl;
    for (conn_t **p = &ctl->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    ks_loop_io_del(ctl->loop, c->fd);
    close(c->fd);
    free(c);
}

static void on_conn(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    conn_t *c = ud;
    ssize_t n = read(fd, c->buf + c->n, sizeof(c->buf) - 1 - c->n);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 && c->n == 0) {
        conn_close(c);
        return;
    }
    if (n > 0)
        c->n += (size_t)n;
    c->buf[c->n] = '\0';
    char *nl = strchr(c->buf, '\n');
    if (!nl && n > 0 && c->n < sizeof(c->buf) - 1)
        return; /* wait for the rest of the line */
    if (nl)
        *nl = '\0';
    char *cmd = c->buf, *arg = strchr(c->buf, ' ');
    if (arg) {
        *arg++ = '\0';
        while (*arg == ' ')
            arg++;
    } else {
        arg = "";
    }
    char *reply = malloc(MAX_REPLY);
    if (reply) {
        reply[0] = '\0';
        c->ctl->handler(c->ctl->ud, cmd, arg, reply, MAX_REPLY - 2);
        size_t len = strlen(reply);
        reply[len++] = '\n';
        /* The client waits for the reply; a short blocking write is fine here. */
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        for (size_t off = 0; off < len;) {
            ssize_t w = write(fd, reply + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        free(reply);
    }
    conn_close(c);
}

static void on_accept(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    ks_ctl_t *ctl = ud;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        conn_t *c = calloc(1, sizeof(*c));
        if (!c || ks_loop_io_add(loop, cfd, KS_IO_READ, on_conn, c) != KS_OK) {
            free(c);
            close(cfd);
            continue;
        }
        c->ctl = ctl;
        c->fd = cfd;
        c->next = ctl->conns;
        ctl->conns = c;
    }
}

ks_ctl_t *ks_ctl_start(ks_loop_t *loop, const char *path, ks_ctl_handler h, void *ud, char *err,
                       size_t err_len)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, err_len, "%s: path too long for a unix socket (%zu bytes max)", path,
                 sizeof(sa.sun_path) - 1);
        return NULL;
    }
    ks_ctl_t *ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return NULL;
    ctl->loop = loop;
    ctl->handler = h;
    ctl->ud = ud;
    ks_strlcpy(ctl->path, path, sizeof(ctl->path));
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    unlink(path); /* the state dir lock guarantees no other host owns it */
    mode_t old = umask(077);
    int rc = ctl->fd < 0 ? -1 : bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || listen(ctl->fd, 16) != 0 ||
        ks_loop_io_add(loop, ctl->fd, KS_IO_READ, on_accept, ctl) != KS_OK) {
        snprintf(err, err_len, "%s: cannot listen: %s", path, strerror(errno));
        if (ctl->fd >= 0)
            close(ctl->fd);
        free(ctl);
        return NULL;
    }
    return ctl;
}

void ks_ctl_stop(ks_ctl_t *ctl)
{
    if (!ctl)
        return;
    while (ctl->conns)
        conn_close(ctl->conns);
    ks_loop_io_del(ctl->loop, ctl->fd);
    close(ctl->fd);
    unlink(ctl->path);
    free(ctl);
}

int ks_ctl_request(const char *path, const char *line, FILE *out, FILE *errout)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(errout, "kestrel ctl: %s: path too long for a unix socket\n", path);
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(errout, "kestrel ctl: cannot reach a running host at %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        fprintf(errout, "kestrel ctl: write failed: %s\n", strerror(errno));
        close(fd);
        return 2;
    }
    char *reply = malloc(MAX_REPLY);
    size_t n = 0;
    ssize_t r;
    while (reply && n < MAX_REPLY - 1 && (r = read(fd, reply + n, MAX_REPLY - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!reply || n == 0) {
        fprintf(errout, "kestrel ctl: no reply from the host\n");
        free(reply);
        return 2;
    }
    reply[n] = '\0';
    fputs(reply, out);
    int rc = strstr(reply, "\"ok\":true") ? 0 : 1;
    free(reply);
    return rc;
}
