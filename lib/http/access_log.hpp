// AccessLog: the server's built-in access logger (eddy_server_set_access_log_fd), one Common
// Log Format line per finished response.
//
// Lines are collected and written once per loop pass (or when 64 KiB gathered), not once per
// response: a busy server answers many requests per pass, and a write(2) per request would cost
// more than answering it. A line is on its way before the loop next waits for events.
#pragma once

#include <ctime>
#include <string>

#include "loop/loop.hpp"

namespace eddy::http {

class Request;

class AccessLog {
public:
    explicit AccessLog(Loop *loop);
    ~AccessLog();  // writes what is pending
    AccessLog(const AccessLog &) = delete;
    AccessLog &operator=(const AccessLog &) = delete;

    // The fd the lines go to (not owned); -1 turns the log off. Pending lines go to the old fd.
    void set_fd(int fd);
    bool enabled() const { return fd_ >= 0; }
    void add(const Request *req);
    // Writes the pending lines now.
    void flush();

private:
    static void run_flush(DeferredTask *task);
    void append_date();

    Loop *loop_;
    int fd_ = -1;
    std::string pending_;
    DeferredTask flush_task_;
    time_t date_second_ = -1;  // the second date_ was formatted for
    char date_[32] = {};
    size_t date_len_ = 0;
};

}  // namespace eddy::http
