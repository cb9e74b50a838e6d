// The loop's small handles: fd watches, signal handlers and periodic callbacks. Each is the
// object behind its opaque C handle (eddy_watch, eddy_signal, eddy_periodic).
#pragma once

#include "loop/loop.hpp"

namespace eddy {

class Watch : public LoopResource {
public:
    static Watch *create(Loop *loop, int fd, int events, eddy_watch_fn cb, void *userdata,
                         eddy_free_fn free_userdata);
    int set_events(int events);
    int events() const { return events_; }
    void destroy();  // stop, release userdata, delete (safe inside the callback)
    void on_loop_free() override { release(); }

private:
    Watch() = default;
    void release();
    static void on_event(evutil_socket_t fd, short what, void *arg);

    Loop *loop_ = nullptr;
    int fd_ = -1;
    int events_ = 0;
    struct event ev_;
    eddy_watch_fn cb_ = nullptr;
    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;
};

class Signal : public LoopResource {
public:
    static Signal *create(Loop *loop, int signum, eddy_signal_fn cb, void *userdata,
                          eddy_free_fn free_userdata);
    void destroy();
    void on_loop_free() override { release(); }

private:
    Signal() = default;
    void release();
    static void on_event(evutil_socket_t signum, short what, void *arg);

    Loop *loop_ = nullptr;
    int signum_ = 0;
    struct event ev_;
    eddy_signal_fn cb_ = nullptr;
    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;
};

class Periodic : public LoopResource {
public:
    static Periodic *create(Loop *loop, double interval, eddy_periodic_fn cb, void *userdata,
                            eddy_free_fn free_userdata);
    void start();
    void stop();
    bool running() const { return running_; }
    void destroy();
    void on_loop_free() override;

private:
    Periodic() = default;
    static void on_timer(TimerNode *node);

    TimerNode timer_;
    Loop *loop_ = nullptr;
    double interval_ = 0;
    bool running_ = false;
    bool in_callback_ = false;
    bool destroy_pending_ = false;
    eddy_periodic_fn cb_ = nullptr;
    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;
};

}  // namespace eddy
