// Logging: one process-wide sink guarded by a mutex, so loops on several threads can log.
#include "util/log.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <mutex>

#include "eddy/common.h"
#include "util/no_sigpipe.hpp"
#include "util/no_throw.hpp"

namespace eddy {
namespace {

std::mutex sink_mutex;
eddy_log_fn sink_fn = nullptr;
void *sink_userdata = nullptr;
eddy_free_fn sink_free = nullptr;
std::atomic<int> min_level{EDDY_LOG_WARNING};

const char *level_name(int level) {
    switch (level) {
    case EDDY_LOG_DEBUG: return "debug";
    case EDDY_LOG_INFO: return "info";
    case EDDY_LOG_WARNING: return "warning";
    default: return "error";
    }
}

size_t stderr_lines_dropped = 0;  // under sink_mutex

// The default sink. A loop thread must not wait for stderr, nor die of it: when stderr is a
// pipe or terminal without room the line is dropped (and counted in the next line that gets
// out), and when its reader is gone (a write would raise SIGPIPE) nothing is written.
void write_to_stderr(const char *level, const char *line) {
    pollfd p = {STDERR_FILENO, POLLOUT, 0};
    if (poll(&p, 1, 0) != 1 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) ||
        !(p.revents & POLLOUT)) {
        stderr_lines_dropped++;
        return;
    }
    char text[1200];
    int n;
    if (stderr_lines_dropped > 0) {
        n = snprintf(text, sizeof text, "eddy: %s: %s (and %zu earlier log lines dropped: stderr "
                     "had no room)\n", level, line, stderr_lines_dropped);
    } else {
        n = snprintf(text, sizeof text, "eddy: %s: %s\n", level, line);
    }
    if (n < 0) return;
    size_t len = std::min(static_cast<size_t>(n), sizeof text - 1);
    // One write of at most PIPE_BUF bytes: a pipe with room takes it whole, without blocking.
    // (Its reader may go between poll and write: no SIGPIPE for the host then either.)
    size_t out = std::min<size_t>(len, PIPE_BUF);
    if (without_sigpipe([&] { return ::write(STDERR_FILENO, text, out); }) > 0)
        stderr_lines_dropped = 0;
}

}  // namespace

bool log_enabled(LogLevel level) { return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed); }

void log(LogLevel level, const char *fmt, ...) {
    if (!log_enabled(level)) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> guard(sink_mutex);
    if (sink_fn) {
        sink_fn(static_cast<int>(level), line, sink_userdata);
    } else {
        write_to_stderr(level_name(static_cast<int>(level)), line);
    }
}

}  // namespace eddy

extern "C" {

EDDY_API void eddy_set_log_function(eddy_log_fn fn, void *userdata, eddy_free_fn free_userdata) {
    eddy_free_fn old_free;
    void *old_userdata;
    {
        std::lock_guard<std::mutex> guard(eddy::sink_mutex);
        old_free = eddy::sink_free;
        old_userdata = eddy::sink_userdata;
        eddy::sink_fn = fn;
        eddy::sink_userdata = fn ? userdata : nullptr;
        eddy::sink_free = fn ? free_userdata : nullptr;
    }
    if (old_free) old_free(old_userdata);
    if (!fn && free_userdata) free_userdata(userdata);
}

EDDY_API void eddy_set_log_level(int level) {
    if (level < EDDY_LOG_DEBUG) level = EDDY_LOG_DEBUG;
    if (level > EDDY_LOG_ERROR + 1) level = EDDY_LOG_ERROR + 1;
    eddy::min_level.store(level, std::memory_order_relaxed);
}

}  // extern "C"

namespace eddy {

void log_stopped_exception(const char *where, const std::exception *e) noexcept {
    if (e && dynamic_cast<const std::bad_alloc *>(e)) {
        log(LogLevel::error, "%s: out of memory", where);
    } else {
        log(LogLevel::error, "%s: unexpected exception (%s), a bug in eddy", where,
            e ? e->what() : "not a std::exception");
    }
}

}  // namespace eddy
