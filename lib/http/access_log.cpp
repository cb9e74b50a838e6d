#include "http/access_log.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>

#include "http/request.hpp"
#include "util/copy_small.hpp"
#include "util/log.hpp"
#include "util/no_sigpipe.hpp"

namespace eddy::http {

namespace {
constexpr size_t kFlushBytes = 64 * 1024;
constexpr size_t kMaxPendingBytes = 1024 * 1024;  // beyond this, new lines are dropped (counted)
constexpr double kRetrySeconds = 0.05;
constexpr size_t kMaxUriBytes = 1500;   // a longer target is cut in the log line
constexpr size_t kMaxWordBytes = 64;    // so are a longer method or client address
// The longest line: address, method and target at their caps, each byte of method and target
// possibly escaped to four ("\x22"), plus the fixed parts (date, version, status, a 20-digit
// byte count, separators: under 100 bytes).
constexpr size_t kMaxLineBytes = kMaxWordBytes + 4 * (kMaxWordBytes + kMaxUriBytes) + 128;

// Copies `s` (at most `max` bytes) to `out` and moves `out` past it.
inline void put(char *&out, std::string_view s, size_t max = SIZE_MAX) {
    size_t n = std::min(s.size(), max);
    copy_small(out, s.data(), n);
    out += n;
}
// Whether byte `c` cannot go into a quoted CLF field as it is: the quote that would end the
// field early, the backslash that starts an escape, control bytes and non-ASCII.
inline bool needs_escape(unsigned char c) { return c == '"' || c == '\\' || c < 0x20 || c > 0x7e; }

// As put(), for a field inside the quoted request: a byte that needs it is written as \xHH (as
// nginx does), so that a target such as /a"b cannot end the quoted field early and make log
// parsers read the line's fields wrongly (the request parser lets '"' and '\' through in a
// target: visible ASCII). Nearly every field has none and is copied at once.
inline void put_escaped(char *&out, std::string_view s, size_t max) {
    size_t n = std::min(s.size(), max);
    size_t i = 0;
    while (i < n && !needs_escape(static_cast<unsigned char>(s[i]))) i++;
    if (i == n) {
        put(out, s, n);
        return;
    }
    static const char hex[] = "0123456789ABCDEF";
    put(out, s, i);
    for (; i < n; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (!needs_escape(c)) {
            *out++ = static_cast<char>(c);
            continue;
        }
        out[0] = '\\';
        out[1] = 'x';
        out[2] = hex[c >> 4];
        out[3] = hex[c & 15];
        out += 4;
    }
}
template <size_t N>
inline void put_literal(char *&out, const char (&literal)[N]) {
    memcpy(out, literal, N - 1);  // constant size: a few moves
    out += N - 1;
}
}  // namespace

AccessLog::AccessLog(Loop *loop) : loop_(loop) {
    flush_task_.run = run_flush;
    flush_task_.owner = this;
    retry_timer_.fire = on_retry;
    retry_timer_.owner = this;
}

AccessLog::~AccessLog() {
    write_pending(1000);
    if (pending_len_ != 0) drop_pending("still not writable when the server was freed");
    loop_->undefer(&flush_task_);
    loop_->timer_stop(&retry_timer_);
}

void AccessLog::set_fd(int fd) {
    if (fd_ >= 0) {
        write_pending(1000);
        if (pending_len_ != 0) drop_pending("still not writable when the log fd was replaced");
    }
    loop_->timer_stop(&retry_timer_);
    pending_len_ = 0;
    dropped_lines_ = 0;
    fd_ = fd;
    // Regular files (and block devices) always take a write; anything else may make it wait.
    struct stat st;
    may_block_ = fd >= 0 && !(fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)));
}

// At the end of a pass, unless the fd is known to be full (then the retry timer writes).
void AccessLog::run_flush(DeferredTask *task) {
    AccessLog *self = static_cast<AccessLog *>(task->owner);
    if (!self->retry_timer_.queued()) self->flush();
}

void AccessLog::on_retry(TimerNode *node) { static_cast<AccessLog *>(node->owner)->flush(); }

void AccessLog::drop_pending(const char *why) {
    size_t lines =
        static_cast<size_t>(std::count(pending_.data(), pending_.data() + pending_len_, '\n'));
    log(LogLevel::warning, "http: access log fd %d: %s; %zu lines dropped", fd_, why,
        lines + dropped_lines_);
    pending_len_ = 0;
    dropped_lines_ = 0;
}

// Forgets the first `n` pending bytes (written); after a burst, gives the space back.
void AccessLog::consume(size_t n) {
    memmove(pending_.data(), pending_.data() + n, pending_len_ - n);
    pending_len_ -= n;
    if (pending_len_ == 0 && pending_.size() > 2 * kFlushBytes) std::string().swap(pending_);
}

void AccessLog::write_pending(int wait_ms) {
    size_t done = 0;
    double give_up = wait_ms > 0 ? Loop::now() + wait_ms / 1000.0 : 0;
    while (done < pending_len_ && fd_ >= 0) {
        size_t chunk = pending_len_ - done;
        if (may_block_) {
            pollfd p = {fd_, POLLOUT, 0};
            int left_ms = wait_ms > 0 ? static_cast<int>((give_up - Loop::now()) * 1000) : 0;
            int ready = poll(&p, 1, std::max(left_ms, 0));
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) break;  // no room now: kept for the retry
            if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
                // A pipe whose reader is gone (a write would raise SIGPIPE and end the host
                // process), a closed socket: nothing will take lines again. The log stops.
                consume(done);
                drop_pending("its reader is gone; access log turned off");
                fd_ = -1;
                loop_->timer_stop(&retry_timer_);
                return;
            }
            chunk = std::min<size_t>(chunk, PIPE_BUF);
        }
        // (The reader may go between poll and write: no SIGPIPE for the host then either.)
        ssize_t n = without_sigpipe([&] { return ::write(fd_, pending_.data() + done, chunk); });
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;  // a non-blocking fd without room: kept for the retry
        } else {
            consume(done);
            drop_pending(n < 0 ? strerror(errno) : "nothing written");
            return;
        }
    }
    consume(done);
    if (pending_len_ != 0) {
        if (!retry_timer_.queued()) loop_->timer_start(&retry_timer_, Loop::now() + kRetrySeconds);
        return;
    }
    loop_->timer_stop(&retry_timer_);
    if (dropped_lines_ > 0) {
        log(LogLevel::warning,
            "http: access log fd %d: %zu lines dropped while it had no room (over %zu KiB waiting)",
            fd_, dropped_lines_, kMaxPendingBytes / 1024);
        dropped_lines_ = 0;
    }
}

// "10/Oct/2000:13:55:36 +0000" is the same for every line of a second: formatted once.
void AccessLog::append_date(char *&out) {
    time_t now = time(nullptr);
    if (now != date_second_) {
        struct tm tm;
        gmtime_r(&now, &tm);
        date_len_ = strftime(date_, sizeof date_, "%d/%b/%Y:%H:%M:%S +0000", &tm);
        date_second_ = now;
    }
    memcpy(out, date_, sizeof date_);  // constant size (date_len_ of it count)
    out += date_len_;
}

// Common Log Format: host ident authuser [date] "request" status bytes
void AccessLog::add(const Request *req) {
    if (fd_ < 0) return;
    if (pending_len_ >= kMaxPendingBytes) {
        dropped_lines_++;
        return;
    }
    // The line is built in place at the end of the pending bytes: room for the longest one first
    // (the buffer only grows while lines wait, so this is rarely more than a compare).
    if (pending_.size() - pending_len_ < kMaxLineBytes) {
        try {
            pending_.resize(std::max(2 * pending_.size(), pending_len_ + kMaxLineBytes));
        } catch (...) {
            dropped_lines_++;  // out of memory: counted, reported with the next successful write
            return;
        }
    }
    char *start = pending_.data() + pending_len_;
    char *out = start;
    put(out, req->remote_ip.empty() ? std::string_view("-") : std::string_view(req->remote_ip),
        kMaxWordBytes);
    put_literal(out, " - - [");
    append_date(out);
    put_literal(out, "] \"");
    put_escaped(out, req->method, kMaxWordBytes);
    *out++ = ' ';
    put_escaped(out, req->uri, kMaxUriBytes);
    if (req->version_minor) {
        put_literal(out, " HTTP/1.1\" ");
    } else {
        put_literal(out, " HTTP/1.0\" ");
    }
    unsigned status = static_cast<unsigned>(req->sent_status());
    // No answer went out, as nginx logs it (log readers know these) rather than a 0: 499
    // "client closed request" when the client had left first, 444 "connection closed without
    // response" when the application aborted it (eddy_request_abort) before the head.
    if (status == 0) status = req->conn ? 444 : 499;
    if (status >= 100 && status <= 999) {  // every status a response can have: three digits
        out[0] = static_cast<char>('0' + status / 100);
        out[1] = static_cast<char>('0' + status / 10 % 10);
        out[2] = static_cast<char>('0' + status % 10);
        out += 3;
    } else {
        out = std::to_chars(out, out + 12, status).ptr;
    }
    *out++ = ' ';
    out = std::to_chars(out, out + 24, req->bytes_sent()).ptr;
    *out++ = '\n';
    pending_len_ += static_cast<size_t>(out - start);
    if (pending_len_ >= kFlushBytes && !retry_timer_.queued()) {
        flush();
    } else {
        loop_->defer(&flush_task_);
    }
}

}  // namespace eddy::http
