/* The event loop (see loop.h): epoll + one timerfd + one signalfd in real mode, a
 * clock variable in virtual mode. Everything lives in arrays that grow and are
 * reused, so an iteration allocates nothing once the loop has warmed up. */
#define _GNU_SOURCE
#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <kestrel/error.h>

#define MAX_EVENTS 256
#define MAX_HOOKS  8
/* A timer id is (serial << SLOT_BITS) | slot: the slot finds the timer in O(1) and the
 * serial, which only grows, makes every id unique for the life of the loop. */
#define SLOT_BITS   24
#define SLOT_MASK   ((1u << SLOT_BITS) - 1)
#define NO_DEADLINE INT64_MAX

typedef struct timer {
    uint64_t id; /* 0: slot free */
    int64_t deadline;
    int64_t repeat;
    uint64_t seq; /* arm order, breaks deadline ties */
    uint32_t heap_pos;
    ks_loop_cb cb;
    void *ud;
} timer_slot_t;

typedef struct watcher {
    ks_io_cb cb;
    void *ud;
    uint32_t events;
    uint32_t gen; /* bumped on every add, so events for an older registration are dropped */
    bool active;
} watcher_t;

typedef struct post {
    ks_loop_cb cb;
    void *ud;
} post_t;

typedef struct hook {
    ks_loop_cb cb;
    void *ud;
} hook_t;

typedef struct sig_handler {
    ks_loop_cb cb;
    void *ud;
} sig_handler_t;

struct ks_loop {
    bool virt;
    bool stop;
    bool wake;
    bool running;
    int64_t vnow;          /* virtual clock */
    int64_t start_wall_ns; /* virtual wall-clock origin */
    int64_t until;         /* run_until deadline, NO_DEADLINE for run() */
    uint64_t iterations;

    int epfd, tfd, sfd;
    int64_t tfd_armed; /* deadline the timerfd is armed for, NO_DEADLINE when disarmed */

    timer_slot_t *timers; /* slots */
    uint32_t n_timers_cap;
    uint32_t *free_slots;
    uint32_t n_free;
    uint32_t n_slots_used; /* high-water mark of slots handed out */
    uint32_t *heap;
    uint32_t heap_len;
    uint64_t serial;
    uint64_t arm_seq;

    watcher_t *watchers; /* indexed by fd */
    int n_watchers_cap;

    post_t *posts; /* ring */
    uint32_t posts_cap, posts_head, posts_len;

    hook_t hooks[MAX_HOOKS];
    int n_hooks;
    bool hooks_dirty; /* a hook was removed while hooks ran */
    int hooks_running;

    sig_handler_t sigs[NSIG];
    sigset_t sig_mask;       /* signals routed to the signalfd */
    sigset_t sig_we_blocked; /* signals this loop blocked and unblocks on free */

    struct epoll_event events[MAX_EVENTS];
};

/* --- clocks ---------------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool ks_loop_is_virtual(const ks_loop_t *loop)
{
    return loop->virt;
}

int64_t ks_loop_now_ns(const ks_loop_t *loop)
{
    return loop->virt ? loop->vnow : clock_ns(CLOCK_MONOTONIC);
}

void ks_loop_set_wall_start(ks_loop_t *loop, int64_t start_wall_ns)
{
    if (loop->virt)
        loop->start_wall_ns = start_wall_ns;
}

int64_t ks_loop_wall_ns(const ks_loop_t *loop)
{
    return loop->virt ? loop->start_wall_ns + loop->vnow : clock_ns(CLOCK_REALTIME);
}

/* --- lifecycle ------------------------------------------------------------------- */

ks_loop_t *ks_loop_new(bool virtual_clock, int64_t start_wall_ns)
{
    ks_loop_t *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->virt = virtual_clock;
    loop->start_wall_ns = start_wall_ns;
    loop->until = NO_DEADLINE;
    loop->epfd = loop->tfd = loop->sfd = -1;
    loop->tfd_armed = NO_DEADLINE;
    sigemptyset(&loop->sig_mask);
    sigemptyset(&loop->sig_we_blocked);
    if (virtual_clock)
        return loop;

    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        goto fail;
    loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (loop->tfd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(uint32_t)loop->tfd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->tfd, &ev) != 0)
        goto fail;
    return loop;

fail:
    ks_loop_free(loop);
    return NULL;
}

void ks_loop_free(ks_loop_t *loop)
{
    if (!loop)
        return;
    assert(!loop->running && "ks_loop_free from inside ks_loop_run");
    if (loop->sfd >= 0) {
        /* Consume what is pending so unblocking below does not deliver it with the
         * default action (which for SIGTERM/SIGHUP kills the process). */
        struct signalfd_siginfo si;
        while (read(loop->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            ;
        close(loop->sfd);
        pthread_sigmask(SIG_UNBLOCK, &loop->sig_we_blocked, NULL);
    }
    if (loop->tfd >= 0)
        close(loop->tfd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    free(loop->timers);
    free(loop->free_slots);
    free(loop->heap);
    free(loop->watchers);
    free(loop->posts);
    free(loop);
}

/* --- timers: a binary min-heap of slot indices keyed by (deadline, seq) ----------- */

static bool timer_before(const ks_loop_t *loop, uint32_t a, uint32_t b)
{
    const timer_slot_t *ta = &loop->timers[a], *tb = &loop->timers[b];
    return ta->deadline < tb->deadline || (ta->deadline == tb->deadline && ta->seq < tb->seq);
}

static void heap_set(ks_loop_t *loop, uint32_t pos, uint32_t slot)
{
    loop->heap[pos] = slot;
    loop->timers[slot].heap_pos = pos;
}

static void heap_up(ks_loop_t *loop, uint32_t pos)
{
    uint32_t slot = loop->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!timer_before(loop, slot, loop->heap[parent]))
            break;
        heap_set(loop, pos, loop->heap[parent]);
        pos = parent;
    }
    heap_set(loop, pos, slot);
}

static void heap_down(ks_loop_t *loop, uint32_t pos)
{
    uint32_t slot = loop->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len &&
            timer_before(loop, loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop, loop->heap[child], slot))
            break;
        heap_set(loop, pos, loop->heap[child]);
        pos = child;
    }
    heap_set(loop, pos, slot);
}

static void heap_remove(ks_loop_t *loop, uint32_t pos)
{
    uint32_t last = loop->heap[--loop->heap_len];
    if (pos == loop->heap_len)
        return;
    heap_set(loop, pos, last);
    if (pos > 0 && timer_before(loop, last, loop->heap[(pos - 1) / 2]))
        heap_up(loop, pos);
    else
        heap_down(loop, pos);
}

static int timers_grow(ks_loop_t *loop)
{
    uint32_t cap = loop->n_timers_cap ? loop->n_timers_cap * 2 : 64;
    if (cap > SLOT_MASK + 1)
        return KS_ENOMEM;
    timer_slot_t *t = realloc(loop->timers, cap * sizeof(*t));
    if (!t)
        return KS_ENOMEM;
    loop->timers = t;
    uint32_t *fs = realloc(loop->free_slots, cap * sizeof(*fs));
    if (!fs)
        return KS_ENOMEM;
    loop->free_slots = fs;
    uint32_t *h = realloc(loop->heap, cap * sizeof(*h));
    if (!h)
        return KS_ENOMEM;
    loop->heap = h;
    loop->n_timers_cap = cap;
    return KS_OK;
}

uint64_t ks_loop_timer_start(ks_loop_t *loop, int64_t after_ns, int64_t repeat_ns, ks_loop_cb cb,
                             void *ud)
{
    if (!loop || !cb)
        return 0;
    uint32_t slot;
    if (loop->n_free > 0) {
        slot = loop->free_slots[--loop->n_free];
    } else {
        if (loop->n_slots_used == loop->n_timers_cap && timers_grow(loop) != KS_OK)
            return 0;
        slot = loop->n_slots_used++;
    }
    if (after_ns < 0)
        after_ns = 0;
    int64_t now = ks_loop_now_ns(loop);
    timer_slot_t *t = &loop->timers[slot];
    t->id = (++loop->serial << SLOT_BITS) | slot;
    t->deadline = after_ns > NO_DEADLINE - now ? NO_DEADLINE - 1 : now + after_ns;
    t->repeat = repeat_ns > 0 ? repeat_ns : 0;
    t->seq = ++loop->arm_seq;
    t->cb = cb;
    t->ud = ud;
    loop->heap[loop->heap_len] = slot;
    heap_up(loop, loop->heap_len++);
    return t->id;
}

static timer_slot_t *timer_lookup(ks_loop_t *loop, uint64_t id)
{
    uint32_t slot = (uint32_t)(id & SLOT_MASK);
    if (id == 0 || slot >= loop->n_slots_used || loop->timers[slot].id != id)
        return NULL;
    return &loop->timers[slot];
}

static void timer_release(ks_loop_t *loop, timer_slot_t *t)
{
    heap_remove(loop, t->heap_pos);
    t->id = 0;
    loop->free_slots[loop->n_free++] = (uint32_t)(t - loop->timers);
}

void ks_loop_timer_stop(ks_loop_t *loop, uint64_t id)
{
    timer_slot_t *t = loop ? timer_lookup(loop, id) : NULL;
    if (t)
        timer_release(loop, t);
}

int64_t ks_loop_next_timer_ns(const ks_loop_t *loop)
{
    if (loop->heap_len == 0)
        return -1;
    int64_t d = loop->timers[loop->heap[0]].deadline - ks_loop_now_ns(loop);
    return d > 0 ? d : 0;
}

/* Fires the earliest timer. The next deadline of a repeating timer is computed from
 * the scheduled one, so the period does not drift; in real mode periods missed while
 * the loop was busy are skipped (phase kept) rather than fired in a burst. */
static void timer_fire_top(ks_loop_t *loop, int64_t now)
{
    timer_slot_t *t = &loop->timers[loop->heap[0]];
    ks_loop_cb cb = t->cb;
    void *ud = t->ud;
    if (t->repeat > 0) {
        int64_t next = t->deadline + t->repeat;
        if (next <= now)
            next += ((now - next) / t->repeat + 1) * t->repeat;
        t->deadline = next;
        t->seq = ++loop->arm_seq;
        heap_down(loop, 0);
    } else {
        timer_release(loop, t);
    }
    cb(loop, ud);
}

/* Real mode: fires every timer due at `now` that was armed before this pass began, so
 * a callback re-arming a zero-delay timer cannot keep the loop here forever. */
static void timers_run_due(ks_loop_t *loop)
{
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    uint64_t seq_limit = loop->arm_seq;
    while (loop->heap_len > 0 && !loop->stop) {
        const timer_slot_t *t = &loop->timers[loop->heap[0]];
        if (t->deadline > now || t->seq > seq_limit)
            break;
        timer_fire_top(loop, now);
    }
}

/* --- deferred callbacks and hooks ------------------------------------------------ */

int ks_loop_post(ks_loop_t *loop, ks_loop_cb cb, void *ud)
{
    if (!loop || !cb)
        return KS_EINVAL;
    if (loop->posts_len == loop->posts_cap) {
        uint32_t cap = loop->posts_cap ? loop->posts_cap * 2 : 64;
        post_t *p = malloc(cap * sizeof(*p));
        if (!p)
            return KS_ENOMEM;
        for (uint32_t i = 0; i < loop->posts_len; i++)
            p[i] = loop->posts[(loop->posts_head + i) % loop->posts_cap];
        free(loop->posts);
        loop->posts = p;
        loop->posts_cap = cap;
        loop->posts_head = 0;
    }
    loop->posts[(loop->posts_head + loop->posts_len) % loop->posts_cap] = (post_t){cb, ud};
    loop->posts_len++;
    return KS_OK;
}

static void posts_drain(ks_loop_t *loop)
{
    while (loop->posts_len > 0 && !loop->stop) {
        post_t p = loop->posts[loop->posts_head];
        loop->posts_head = (loop->posts_head + 1) % loop->posts_cap;
        loop->posts_len--;
        p.cb(loop, p.ud);
    }
}

int ks_loop_add_hook(ks_loop_t *loop, ks_loop_cb cb, void *ud)
{
    if (!loop || !cb)
        return KS_EINVAL;
    for (int i = 0; i < loop->n_hooks; i++)
        if (loop->hooks[i].cb == cb && loop->hooks[i].ud == ud)
            return KS_EEXIST;
    if (loop->n_hooks == MAX_HOOKS)
        return KS_ERANGE;
    loop->hooks[loop->n_hooks++] = (hook_t){cb, ud};
    return KS_OK;
}

static void hooks_compact(ks_loop_t *loop)
{
    int n = 0;
    for (int i = 0; i < loop->n_hooks; i++)
        if (loop->hooks[i].cb)
            loop->hooks[n++] = loop->hooks[i];
    loop->n_hooks = n;
    loop->hooks_dirty = false;
}

void ks_loop_remove_hook(ks_loop_t *loop, ks_loop_cb cb, void *ud)
{
    for (int i = 0; i < loop->n_hooks; i++) {
        if (loop->hooks[i].cb == cb && loop->hooks[i].ud == ud) {
            loop->hooks[i].cb = NULL;
            loop->hooks_dirty = true;
        }
    }
    if (!loop->hooks_running)
        hooks_compact(loop);
}

static void hooks_run(ks_loop_t *loop)
{
    loop->hooks_running++;
    for (int i = 0; i < loop->n_hooks && !loop->stop; i++) {
        hook_t h = loop->hooks[i];
        if (h.cb)
            h.cb(loop, h.ud);
    }
    if (--loop->hooks_running == 0 && loop->hooks_dirty)
        hooks_compact(loop);
}

void ks_loop_wake(ks_loop_t *loop)
{
    loop->wake = true;
}

/* --- fd watchers ----------------------------------------------------------------- */

static uint32_t to_epoll(uint32_t events)
{
    return ((events & KS_IO_READ) ? (uint32_t)EPOLLIN : 0) |
           ((events & KS_IO_WRITE) ? (uint32_t)EPOLLOUT : 0);
}

static watcher_t *watcher_get(ks_loop_t *loop, int fd)
{
    if (fd < 0 || fd >= loop->n_watchers_cap || !loop->watchers[fd].active)
        return NULL;
    return &loop->watchers[fd];
}

int ks_loop_io_add(ks_loop_t *loop, int fd, uint32_t events, ks_io_cb cb, void *ud)
{
    if (!loop || !cb || fd < 0)
        return KS_EINVAL;
    if (loop->virt)
        return KS_ENOTSUP;
    if (fd == loop->tfd || fd == loop->sfd || fd == loop->epfd)
        return KS_EEXIST;
    if (fd >= loop->n_watchers_cap) {
        int cap = loop->n_watchers_cap ? loop->n_watchers_cap : 64;
        while (cap <= fd)
            cap *= 2;
        watcher_t *w = realloc(loop->watchers, (size_t)cap * sizeof(*w));
        if (!w)
            return KS_ENOMEM;
        memset(w + loop->n_watchers_cap, 0, (size_t)(cap - loop->n_watchers_cap) * sizeof(*w));
        loop->watchers = w;
        loop->n_watchers_cap = cap;
    }
    watcher_t *w = &loop->watchers[fd];
    if (w->active)
        return KS_EEXIST;
    uint32_t gen = w->gen + 1;
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return errno == ENOMEM ? KS_ENOMEM : errno == EEXIST ? KS_EEXIST : KS_EINVAL;
    *w = (watcher_t){.cb = cb, .ud = ud, .events = events, .gen = gen, .active = true};
    return KS_OK;
}

int ks_loop_io_mod(ks_loop_t *loop, int fd, uint32_t events)
{
    if (loop->virt)
        return KS_ENOTSUP;
    watcher_t *w = watcher_get(loop, fd);
    if (!w)
        return KS_ENOENT;
    if (w->events == events)
        return KS_OK;
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = ((uint64_t)w->gen << 32) | (uint32_t)fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        return KS_EIO;
    w->events = events;
    return KS_OK;
}

int ks_loop_io_del(ks_loop_t *loop, int fd)
{
    if (loop->virt)
        return KS_ENOTSUP;
    watcher_t *w = watcher_get(loop, fd);
    if (!w)
        return KS_ENOENT;
    /* EBADF/ENOENT: the fd was already closed, which removed it from the epoll set. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->active = false;
    w->cb = NULL;
    w->ud = NULL;
    return KS_OK;
}

/* --- signals --------------------------------------------------------------------- */

int ks_loop_signal(ks_loop_t *loop, int signo, ks_loop_cb cb, void *ud)
{
    if (!loop || !cb || signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
        return KS_EINVAL;
    if (loop->virt)
        return KS_ENOTSUP;
    if (!sigismember(&loop->sig_mask, signo)) {
        sigset_t one, old;
        sigemptyset(&one);
        sigaddset(&one, signo);
        if (pthread_sigmask(SIG_BLOCK, &one, &old) != 0)
            return KS_EINVAL;
        if (!sigismember(&old, signo))
            sigaddset(&loop->sig_we_blocked, signo);
        sigaddset(&loop->sig_mask, signo);
        int fd = signalfd(loop->sfd, &loop->sig_mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
            return KS_EIO;
        if (loop->sfd < 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(uint32_t)fd};
            if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
                close(fd);
                return KS_EIO;
            }
            loop->sfd = fd;
        }
    }
    loop->sigs[signo] = (sig_handler_t){cb, ud};
    return KS_OK;
}

static void signals_read(ks_loop_t *loop)
{
    struct signalfd_siginfo si;
    while (!loop->stop && read(loop->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int signo = (int)si.ssi_signo;
        if (signo > 0 && signo < NSIG && loop->sigs[signo].cb)
            loop->sigs[signo].cb(loop, loop->sigs[signo].ud);
    }
}

/* --- running --------------------------------------------------------------------- */

/* Arms the timerfd for the earlier of the next timer and the run_until deadline. */
static void timerfd_update(ks_loop_t *loop)
{
    int64_t want = loop->heap_len ? loop->timers[loop->heap[0]].deadline : NO_DEADLINE;
    if (loop->until < want)
        want = loop->until;
    if (want == loop->tfd_armed)
        return;
    struct itimerspec its = {0};
    if (want != NO_DEADLINE) {
        if (want <= 0)
            want = 1; /* it_value 0 would disarm */
        its.it_value.tv_sec = want / 1000000000;
        its.it_value.tv_nsec = want % 1000000000;
    }
    timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    loop->tfd_armed = want;
}

static int iterate_real(ks_loop_t *loop)
{
    timerfd_update(loop);
    int timeout = (loop->posts_len > 0 || loop->wake) ? 0 : -1;
    int n = epoll_wait(loop->epfd, loop->events, MAX_EVENTS, timeout);
    loop->wake = false;
    if (n < 0) {
        if (errno != EINTR)
            return KS_EIO;
        n = 0;
    }
    bool timer_ready = false, signal_ready = false;
    for (int i = 0; i < n && !loop->stop; i++) {
        uint64_t data = loop->events[i].data.u64;
        int fd = (int)(uint32_t)data;
        if (fd == loop->tfd) {
            timer_ready = true;
            continue;
        }
        if (fd == loop->sfd) {
            signal_ready = true;
            continue;
        }
        watcher_t *w = watcher_get(loop, fd);
        if (!w || w->gen != (uint32_t)(data >> 32))
            continue; /* removed, or re-added, by an earlier callback */
        uint32_t e = loop->events[i].events, ev = 0;
        if (e & EPOLLIN)
            ev |= KS_IO_READ;
        if (e & EPOLLOUT)
            ev |= KS_IO_WRITE;
        if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            ev |= KS_IO_ERROR;
        w->cb(loop, fd, ev, w->ud);
    }
    if (timer_ready) {
        uint64_t expirations;
        if (read(loop->tfd, &expirations, sizeof(expirations)) < 0) {
            /* EAGAIN: re-armed since it fired; nothing to consume. */
        }
        loop->tfd_armed = NO_DEADLINE; /* an absolute timer is disarmed once it fired */
    }
    if (signal_ready && !loop->stop)
        signals_read(loop);
    if (!loop->stop)
        timers_run_due(loop);
    posts_drain(loop);
    if (!loop->stop)
        hooks_run(loop);
    loop->iterations++;
    return KS_OK;
}

/* Virtual mode: drain posts, fire the earliest timer (advancing the clock to it),
 * drain posts, run hooks. Returns false when nothing is left to do. */
static bool iterate_virtual(ks_loop_t *loop)
{
    posts_drain(loop);
    if (loop->stop)
        return false;
    bool fired = false;
    if (loop->heap_len > 0) {
        timer_slot_t *t = &loop->timers[loop->heap[0]];
        if (t->deadline <= loop->until) {
            if (t->deadline > loop->vnow)
                loop->vnow = t->deadline;
            timer_fire_top(loop, loop->vnow);
            fired = true;
            posts_drain(loop);
        }
    }
    if (!loop->stop)
        hooks_run(loop);
    loop->iterations++;
    if (loop->stop)
        return false;
    if (fired || loop->posts_len > 0)
        return true;
    /* No timer fired: either none is left or the next one lies beyond the deadline. */
    return false;
}

static int run(ks_loop_t *loop, int64_t until)
{
    assert(!loop->running && "ks_loop_run is not reentrant");
    loop->running = true;
    loop->stop = false;
    loop->until = until;
    int rc = KS_OK;
    if (loop->virt) {
        while (iterate_virtual(loop))
            ;
        if (!loop->stop && until != NO_DEADLINE && loop->vnow < until)
            loop->vnow = until;
    } else {
        while (!loop->stop) {
            if (until != NO_DEADLINE && clock_ns(CLOCK_MONOTONIC) >= until)
                break;
            rc = iterate_real(loop);
            if (rc != KS_OK)
                break;
        }
    }
    loop->until = NO_DEADLINE;
    loop->running = false;
    return rc;
}

int ks_loop_run(ks_loop_t *loop)
{
    return run(loop, NO_DEADLINE);
}

int ks_loop_run_until(ks_loop_t *loop, int64_t deadline_ns)
{
    return run(loop, deadline_ns);
}

void ks_loop_stop(ks_loop_t *loop)
{
    loop->stop = true;
}

bool ks_loop_stopped(const ks_loop_t *loop)
{
    return loop->stop;
}

uint64_t ks_loop_iterations(const ks_loop_t *loop)
{
    return loop->iterations;
}
