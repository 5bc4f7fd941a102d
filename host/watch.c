/* inotify watcher (see watch.h). */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <kestrel/kestrel.h>

#include "log.h"

typedef struct entry {
    int wd;
    char dir[PATH_MAX];
    char name[256];  /* file name, or "" for the whole directory */
    char suffix[32]; /* directory entries: name suffix filter */
    char changed[PATH_MAX];
    bool pending;
    ks_watch_cb cb;
    void *ud;
} entry_t;

struct ks_watch {
    ks_loop_t *loop;
    int fd;
    int64_t debounce_ns;
    uint64_t timer;
    entry_t *e;
    int n, cap;
};

static void fire(ks_loop_t *loop, void *ud)
{
    ks_watch_t *w = ud;
    w->timer = 0;
    for (int i = 0; i < w->n; i++) {
        if (!w->e[i].pending)
            continue;
        w->e[i].pending = false;
        char path[PATH_MAX];
        ks_strlcpy(path, w->e[i].changed, sizeof(path));
        w->e[i].cb(w->e[i].ud, path);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void on_readable(ks_loop_t *loop, int fd, uint32_t events, void *ud)
{
    ks_watch_t *w = ud;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (!ev->len)
                continue;
            for (int i = 0; i < w->n; i++) {
                entry_t *e = &w->e[i];
                if (e->wd != ev->wd)
                    continue;
                if (e->name[0] ? strcmp(e->name, ev->name) != 0 : !ends_with(ev->name, e->suffix))
                    continue;
                e->pending = true;
                size_t dl = strlen(e->dir);
                if (dl + 1 + strlen(ev->name) < sizeof(e->changed)) {
                    memcpy(e->changed, e->dir, dl);
                    e->changed[dl] = '/';
                    strcpy(e->changed + dl + 1, ev->name);
                }
                any = true;
            }
        }
    }
    if (any) {
        if (w->timer)
            ks_loop_timer_stop(loop, w->timer);
        w->timer = ks_loop_timer_start(loop, w->debounce_ns, 0, fire, w);
    }
}

ks_watch_t *ks_watch_new(ks_loop_t *loop, int64_t debounce_ns)
{
    ks_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->debounce_ns = debounce_ns;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0 || ks_loop_io_add(loop, w->fd, KS_IO_READ, on_readable, w) != KS_OK) {
        if (w->fd >= 0)
            close(w->fd);
        free(w);
        return NULL;
    }
    return w;
}

void ks_watch_free(ks_watch_t *w)
{
    if (!w)
        return;
    if (w->timer)
        ks_loop_timer_stop(w->loop, w->timer);
    ks_loop_io_del(w->loop, w->fd);
    close(w->fd);
    free(w->e);
    free(w);
}

static int add(ks_watch_t *w, const char *dir, const char *name, const char *suffix, ks_watch_cb cb,
               void *ud)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return KS_ENOENT;
    int wd = inotify_add_watch(w->fd, real, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
    if (wd < 0) {
        ks_log_warn("watch", "cannot watch %s: %s", real, strerror(errno));
        return KS_EIO;
    }
    if (w->n == w->cap) {
        int nc = w->cap ? w->cap * 2 : 8;
        entry_t *ne = realloc(w->e, (size_t)nc * sizeof(*ne));
        if (!ne)
            return KS_ENOMEM;
        w->e = ne;
        w->cap = nc;
    }
    entry_t *e = &w->e[w->n++];
    memset(e, 0, sizeof(*e));
    e->wd = wd;
    ks_strlcpy(e->dir, real, sizeof(e->dir));
    ks_strlcpy(e->name, name ? name : "", sizeof(e->name));
    ks_strlcpy(e->suffix, suffix ? suffix : "", sizeof(e->suffix));
    e->cb = cb;
    e->ud = ud;
    return KS_OK;
}

int ks_watch_file(ks_watch_t *w, const char *path, ks_watch_cb cb, void *ud)
{
    char dir[PATH_MAX];
    ks_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    const char *name = path;
    if (slash) {
        *slash = '\0';
        name = path + (slash - dir) + 1;
        if (!dir[0])
            strcpy(dir, "/");
    } else {
        strcpy(dir, ".");
    }
    return add(w, dir, name, NULL, cb, ud);
}

int ks_watch_dir(ks_watch_t *w, const char *dir, const char *suffix, ks_watch_cb cb, void *ud)
{
    return add(w, dir, NULL, suffix, cb, ud);
}
