#include "http/access_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "http/request.hpp"
#include "util/log.hpp"

namespace eddy::http {

namespace {
constexpr size_t kFlushBytes = 64 * 1024;
constexpr size_t kMaxUriBytes = 1500;  // a longer target is cut in the log line
}  // namespace

AccessLog::AccessLog(Loop *loop) : loop_(loop) {
    flush_task_.run = run_flush;
    flush_task_.owner = this;
}

AccessLog::~AccessLog() {
    flush();
    loop_->undefer(&flush_task_);
}

void AccessLog::set_fd(int fd) {
    flush();
    fd_ = fd;
}

void AccessLog::run_flush(DeferredTask *task) { static_cast<AccessLog *>(task->owner)->flush(); }

void AccessLog::flush() {
    size_t done = 0;
    while (done < pending_.size() && fd_ >= 0) {
        ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            // A full non-blocking pipe or a closed file: the lines cannot wait without bound.
            log(LogLevel::warning, "http: access log fd %d: %s; %zu bytes of log lines dropped", fd_,
                n < 0 ? strerror(errno) : "nothing written", pending_.size() - done);
            break;
        }
    }
    pending_.clear();
}

// "[10/Oct/2000:13:55:36 +0000]" is the same for every line of a second: formatted once.
void AccessLog::append_date() {
    time_t now = time(nullptr);
    if (now != date_second_) {
        struct tm tm;
        gmtime_r(&now, &tm);
        date_len_ = strftime(date_, sizeof date_, "%d/%b/%Y:%H:%M:%S +0000", &tm);
        date_second_ = now;
    }
    pending_.append(date_, date_len_);
}

// Common Log Format: host ident authuser [date] "request" status bytes
void AccessLog::add(const Request *req) {
    if (fd_ < 0) return;
    char number[24];
    auto append_number = [&](uint64_t v) {
        auto r = std::to_chars(number, number + sizeof number, v);
        pending_.append(number, static_cast<size_t>(r.ptr - number));
    };
    try {
        pending_.append(req->remote_ip.empty() ? std::string_view("-") : std::string_view(req->remote_ip));
        pending_.append(" - - [");
        append_date();
        pending_.append("] \"");
        pending_.append(req->method);
        pending_.push_back(' ');
        pending_.append(req->uri, 0, kMaxUriBytes);
        pending_.append(req->version_minor ? " HTTP/1.1\" " : " HTTP/1.0\" ");
        append_number(static_cast<uint64_t>(req->sent_status()));
        pending_.push_back(' ');
        append_number(req->bytes_sent());
        pending_.push_back('\n');
    } catch (...) {
        flush();  // out of memory: what is complete goes out; the rest of this line is lost
        return;
    }
    if (pending_.size() >= kFlushBytes) {
        flush();
    } else {
        loop_->defer(&flush_task_);
    }
}

}  // namespace eddy::http
