/* The host's single-threaded event loop.
 *
 * Real mode: epoll with fd watchers, timers (one timerfd armed for the earliest
 * deadline), signals (signalfd) and deferred callbacks. libcurl multi (http.c) and
 * libwebsockets (ws.c) are driven from it. Virtual mode (backtests): no I/O, a virtual
 * clock that jumps to the next timer deadline, so a 3-day simulation runs as fast as
 * the callbacks allow and is deterministic (timers with equal deadlines fire in the
 * order they were armed). */
#ifndef KS_LOOP_H
#define KS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ks_loop ks_loop_t;

typedef void (*ks_loop_cb)(ks_loop_t *loop, void *ud);
typedef void (*ks_io_cb)(ks_loop_t *loop, int fd, uint32_t events, void *ud);

enum {
    KS_IO_READ = 1u << 0,
    KS_IO_WRITE = 1u << 1,
    KS_IO_ERROR = 1u << 2, /* reported only: hang-up or error on the fd */
};

/* Creates a loop. virtual_clock: backtest mode; start_wall_ns is then the virtual
 * wall-clock start (epoch ns) and the monotonic clock starts at 0. Caller owns the
 * result; free with ks_loop_free(). NULL on failure. */
ks_loop_t *ks_loop_new(bool virtual_clock, int64_t start_wall_ns);
/* Frees the loop. Watchers, timers and signal handlers still registered are dropped
 * without being called. */
void ks_loop_free(ks_loop_t *loop);

bool ks_loop_is_virtual(const ks_loop_t *loop);
/* Monotonic ns (CLOCK_MONOTONIC, or the virtual clock). */
int64_t ks_loop_now_ns(const ks_loop_t *loop);
/* Virtual mode: moves the wall-clock origin (a replay starts where its data starts).
 * Ignored in real mode. */
void ks_loop_set_wall_start(ks_loop_t *loop, int64_t start_wall_ns);
/* Wall clock ns since the epoch (CLOCK_REALTIME, or virtual start + virtual now). */
int64_t ks_loop_wall_ns(const ks_loop_t *loop);

/* Arms a timer firing after after_ns, then every repeat_ns if repeat_ns > 0. Repeats
 * follow the original schedule (no drift); in real mode periods missed while the loop
 * was busy are skipped, not fired in a burst. Returns an id > 0 (never reused), or 0 on
 * failure. */
uint64_t ks_loop_timer_start(ks_loop_t *loop, int64_t after_ns, int64_t repeat_ns, ks_loop_cb cb,
                             void *ud);
/* Stops a timer; unknown or already-fired ids are ignored. Safe inside callbacks. */
void ks_loop_timer_stop(ks_loop_t *loop, uint64_t id);
/* ns until the earliest timer, or -1 when none. */
int64_t ks_loop_next_timer_ns(const ks_loop_t *loop);

/* fd watchers (real mode only). events: KS_IO_READ | KS_IO_WRITE. Level-triggered.
 * One watcher per fd; KS_EEXIST if already watched. */
int ks_loop_io_add(ks_loop_t *loop, int fd, uint32_t events, ks_io_cb cb, void *ud);
int ks_loop_io_mod(ks_loop_t *loop, int fd, uint32_t events);
int ks_loop_io_del(ks_loop_t *loop, int fd);

/* Handles a signal on the loop (via signalfd; the signal is blocked for the process).
 * A later call for the same signal replaces the handler. Real mode only. */
int ks_loop_signal(ks_loop_t *loop, int signo, ks_loop_cb cb, void *ud);

/* Runs cb once, on this loop iteration before it waits again (and, in virtual mode,
 * before the clock advances). Deferred callbacks run in posting order; one posted
 * from a deferred callback runs in the same drain. */
int ks_loop_post(ks_loop_t *loop, ks_loop_cb cb, void *ud);

/* A hook run at the end of every iteration, after I/O, timers and deferred callbacks,
 * before waiting (the ws/http drivers use this to flush work). At most 8 hooks. */
int ks_loop_add_hook(ks_loop_t *loop, ks_loop_cb cb, void *ud);
void ks_loop_remove_hook(ks_loop_t *loop, ks_loop_cb cb, void *ud);
/* Asks the loop not to block in its next wait (a driver has more work pending). */
void ks_loop_wake(ks_loop_t *loop);

/* Runs until ks_loop_stop() or, in virtual mode, until no timer is left. Returns 0,
 * or a negative KS_E* on a fatal loop error. */
int ks_loop_run(ks_loop_t *loop);
/* Runs until now >= deadline_ns (monotonic/virtual), stop, or nothing left to do in
 * virtual mode. */
int ks_loop_run_until(ks_loop_t *loop, int64_t deadline_ns);
/* Makes run() return after the current callback; work not yet dispatched in this
 * iteration (events, due timers, deferred callbacks, hooks) stays for the next run. */
void ks_loop_stop(ks_loop_t *loop);
bool ks_loop_stopped(const ks_loop_t *loop);

/* Number of iterations so far (the dead-man switch watches progress). */
uint64_t ks_loop_iterations(const ks_loop_t *loop);

#endif
