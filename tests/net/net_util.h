/* Helpers shared by the loop/HTTP/WebSocket tests: clocks, a run-with-timeout and a
 * port nobody listens on. */
#ifndef KS_TEST_NET_UTIL_H
#define KS_TEST_NET_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define MS  1000000LL
#define SEC 1000000000LL

static inline int64_t net_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Runs the loop until *done becomes true or `timeout_ns` passes. True if done. */
static inline bool net_run_until(ks_loop_t *loop, const bool *done, int64_t timeout_ns)
{
    int64_t end = ks_loop_now_ns(loop) + timeout_ns;
    while (!*done && ks_loop_now_ns(loop) < end)
        ks_loop_run_until(loop, ks_loop_now_ns(loop) + 5 * MS < end ? ks_loop_now_ns(loop) + 5 * MS
                                                                    : end);
    return *done;
}

/* A loopback port that was free a moment ago and has no listener now. */
static inline int net_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return 1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* A loopback socket that completes TCP handshakes (backlog) but never reads or
 * answers: a server that hangs. Returns the fd; the port goes to *port. */
static inline int net_silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Open file descriptors of this process. */
static inline int net_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the directory stream itself */
}

#endif
