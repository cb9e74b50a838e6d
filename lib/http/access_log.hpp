// AccessLog: the server's built-in access logger (eddy_server_set_access_log_fd), one Common
// Log Format line per finished response.
//
// Lines are collected and written once per loop pass (or when 64 KiB gathered), not once per
// response: a busy server answers many requests per pass, and a write(2) per request would cost
// more than answering it. A line is on its way before the loop next waits for events.
//
// The loop never waits for the log: a pipe, socket or terminal is written only as far as it
// has room (poll(2) first, then at most PIPE_BUF bytes per write, which a pipe with room takes
// without blocking). What does not fit waits, retried every 50 ms, up to 1 MiB; lines beyond
// that are dropped and counted, and the count is logged once the fd takes lines again; a pipe
// or socket whose reader is gone turns the log off (a write would raise SIGPIPE). (A
// server started with its stderr on a pipe nobody reads would otherwise stop answering once
// the pipe's 64 KiB are full.)
#pragma once

#include <ctime>
#include <string>

#include "loop/loop.hpp"

namespace eddy::http {

class Request;

class AccessLog {
public:
    explicit AccessLog(Loop *loop);
    ~AccessLog();  // writes what is pending (waiting at most about a second for a full pipe)
    AccessLog(const AccessLog &) = delete;
    AccessLog &operator=(const AccessLog &) = delete;

    // The fd the lines go to (not owned); -1 turns the log off. Pending lines go to the old fd
    // first (as for the destructor).
    void set_fd(int fd);
    bool enabled() const { return fd_ >= 0; }
    void add(const Request *req);
    // Writes the pending lines as far as the fd has room; what is left is retried later.
    void flush() { write_pending(0); }

private:
    static void run_flush(DeferredTask *task);
    static void on_retry(TimerNode *node);
    // Writes pending lines; for a fd that may block, waits at most `wait_ms` in all for room.
    void write_pending(int wait_ms);
    void drop_pending(const char *why);
    void append_date(char *&out);

    Loop *loop_;
    int fd_ = -1;
    bool may_block_ = false;  // fd_ is a pipe, socket or terminal: written only when it has room
    void consume(size_t n);
    // Lines not yet written: the first pending_len_ bytes of pending_ (its size is the room).
    std::string pending_;
    size_t pending_len_ = 0;
    size_t dropped_lines_ = 0;  // lines not kept while pending_ was full
    DeferredTask flush_task_;
    TimerNode retry_timer_;
    time_t date_second_ = -1;  // the second date_ was formatted for
    char date_[32] = {};
    size_t date_len_ = 0;
};

}  // namespace eddy::http
