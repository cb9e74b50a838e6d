/* failmalloc: an LD_PRELOAD allocator that fails allocations on demand, for the out-of-memory
 * tests (tests/oom/). It forwards to glibc's own functions (__libc_malloc, ...) and, while
 * armed, fails about one allocation in FAILMALLOC_EVERY (default 50; pseudo-random, seeded by
 * FAILMALLOC_SEED) as malloc does when memory runs out: NULL and errno ENOMEM.
 *
 *   SIGUSR1  arms it (a server is started unarmed, so that it can start);
 *   SIGUSR2  disarms it and writes "failmalloc: N allocations failed" to stderr.
 *
 * With FAILMALLOC_NTH_FILE set, it fails one chosen allocation instead: SIGUSR1 reads N from
 * that file and fails the Nth allocation from then on (only that one); SIGUSR2 disarms and
 * writes "done F" to the file, F being 1 when the Nth allocation came (and failed), else 0.
 * Stepping N through 1, 2, 3... fails every allocation of one request in turn.
 *
 * glibc only (the __libc_* entry points). Not for sanitizer builds, which bring their own
 * allocator. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile sig_atomic_t armed;
static uint64_t every = 50;
static uint64_t state = 0x9e3779b97f4a7c15ull;
static volatile uint64_t failed;
static const char *nth_file;       /* FAILMALLOC_NTH_FILE: one chosen allocation fails */
static volatile uint64_t nth_left; /* allocations until the chosen one (1: the next) */

/* Reads a decimal number from nth_file (async-signal-safe calls only); 0 when unreadable. */
static uint64_t read_nth(void) {
    char buf[32];
    int fd = open(nth_file, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    uint64_t v = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(buf[i] - '0');
    return v;
}

static void report_nth(void) {
    int fd = open(nth_file, O_WRONLY | O_TRUNC);
    if (fd < 0) return;
    ssize_t w = write(fd, failed ? "done 1\n" : "done 0\n", 7);
    (void)w;
    close(fd);
}

static void on_signal(int sig) {
    if (sig == SIGUSR1) {
        if (nth_file) {
            failed = 0;
            nth_left = read_nth();
            armed = nth_left > 0;
        } else {
            armed = 1;
        }
        return;
    }
    armed = 0;
    if (nth_file) {
        report_nth();
        return;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "failmalloc: %llu allocations failed\n",
                     (unsigned long long)failed);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n);
        (void)w;
    }
}

__attribute__((constructor)) static void failmalloc_init(void) {
    const char *e = getenv("FAILMALLOC_EVERY");
    const char *s = getenv("FAILMALLOC_SEED");
    if (e && strtoull(e, NULL, 10) > 0) every = strtoull(e, NULL, 10);
    if (s) state ^= strtoull(s, NULL, 10) * 0x2545f4914f6cdd1dull;
    nth_file = getenv("FAILMALLOC_NTH_FILE");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
}

/* Only the loop thread allocates in the servers under test; a lost update between threads
 * would only change which allocation fails. */
static int should_fail(void) {
    if (!armed) return 0;
    if (nth_file) {
        if (--nth_left) return 0;
        armed = 0;
        failed = 1;
        errno = ENOMEM;
        return 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    if (state % every) return 0;
    failed++;
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t n) { return should_fail() ? NULL : __libc_malloc(n); }
void *calloc(size_t count, size_t size) { return should_fail() ? NULL : __libc_calloc(count, size); }
void *realloc(void *p, size_t n) { return (n && should_fail()) ? NULL : __libc_realloc(p, n); }
void *memalign(size_t align, size_t n) { return should_fail() ? NULL : __libc_memalign(align, n); }
void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }
int posix_memalign(void **out, size_t align, size_t n) {
    if (should_fail()) return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
