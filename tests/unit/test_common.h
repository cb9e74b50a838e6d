/* Helpers shared by the foundation-layer unit tests (loop, stream, net).
 *
 * Rules every test follows: only the public C API, real sockets, no timing thresholds, and every
 * wait is bounded (run_until() gives up after a deadline and the test then fails instead of
 * hanging). */
#ifndef EDDY_TEST_COMMON_H
#define EDDY_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <eddy/eddy.h>

/* Upper bound for any single wait in a test. Generous: tests must not depend on speed. */
#define TEST_WAIT_SECONDS 10.0

static inline double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Runs loop iterations until *flag becomes non-zero or `seconds` pass. Returns the flag. */
static inline int run_until_flag(eddy_loop *loop, volatile int *flag, double seconds) {
    double deadline = mono_now() + seconds;
    while (!*flag && mono_now() < deadline) {
        int rc = eddy_loop_run_once(loop, 50);
        assert_int_equal(rc, 0);
    }
    return *flag;
}

/* Runs loop iterations until counter >= target or `seconds` pass. Returns the counter. */
static inline int run_until_count(eddy_loop *loop, volatile int *counter, int target,
                                  double seconds) {
    double deadline = mono_now() + seconds;
    while (*counter < target && mono_now() < deadline) {
        int rc = eddy_loop_run_once(loop, 50);
        assert_int_equal(rc, 0);
    }
    return *counter;
}

/* Guard for tests that use eddy_loop_run(): after `seconds` it records the timeout and stops
 * the loop, so the test fails instead of hanging. */
typedef struct {
    int fired;
} test_guard;

static void test_guard_cb(eddy_loop *loop, void *userdata) {
    ((test_guard *)userdata)->fired = 1;
    eddy_loop_stop(loop);
}

static inline eddy_call_id arm_guard(eddy_loop *loop, test_guard *guard, double seconds) {
    guard->fired = 0;
    eddy_call_id id = eddy_loop_call_later(loop, seconds, test_guard_cb, guard, NULL);
    assert_true(id != 0);
    return id;
}

/* A free function that counts how often it ran: userdata points at an int counter. */
static void count_free(void *userdata) { (*(int *)userdata)++; }

static inline void set_nonblock(int fd) {
    int flags = fcntl(fd, F_GETFL);
    assert_true(flags >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

static inline void set_rcv_timeout(int fd, double seconds) {
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A connected pair of sockets: AF_UNIX socketpair or TCP over 127.0.0.1. */
enum { TRANSPORT_UNIX = 0, TRANSPORT_TCP = 1 };

static inline void make_pair(int transport, int fds[2]) {
    if (transport == TRANSPORT_UNIX) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        return;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(lfd, 1), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    assert_int_equal(connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
    int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(s >= 0);
    close(lfd);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fds[0] = s;
    fds[1] = c;
}

/* Writes all of buf to a blocking fd. */
static inline void write_all(int fd, const void *buf, size_t len) {
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Reads until `len` bytes arrived or the fd's receive timeout/EOF; returns bytes read. */
static inline size_t read_full(int fd, void *buf, size_t len) {
    char *p = (char *)buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
static inline int unused_tcp_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* Blocking connect to 127.0.0.1:port; returns the fd or -errno. */
static inline int tcp_connect_v4(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

#endif /* EDDY_TEST_COMMON_H */
