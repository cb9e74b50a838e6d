#include "loop/handles.hpp"

#include <cmath>
#include <mutex>
#include <new>

#include "util/log.hpp"

namespace eddy {

// ---- Watch -----------------------------------------------------------------------------------

namespace {
short to_libevent(int events) {
    short what = EV_PERSIST;
    if (events & EDDY_READABLE) what |= EV_READ;
    if (events & EDDY_WRITABLE) what |= EV_WRITE;
    return what;
}
}  // namespace

Watch *Watch::create(Loop *loop, int fd, int events, eddy_watch_fn cb, void *userdata,
                     eddy_free_fn free_userdata) {
    if (!loop || fd < 0 || !cb || (events & ~(EDDY_READABLE | EDDY_WRITABLE))) return nullptr;
    Watch *w = new (std::nothrow) Watch();
    if (!w) return nullptr;
    w->loop_ = loop;
    w->fd_ = fd;
    w->cb_ = cb;
    w->userdata_ = userdata;
    w->free_userdata_ = free_userdata;
    event_assign(&w->ev_, loop->base(), fd, to_libevent(events), on_event, w);
    if (events && event_add(&w->ev_, nullptr) != 0) {
        delete w;
        return nullptr;
    }
    w->events_ = events;
    loop->add_resource(w);
    return w;
}

int Watch::set_events(int events) {
    if (events & ~(EDDY_READABLE | EDDY_WRITABLE)) return EDDY_EINVAL;
    if (events == events_) return 0;
    event_del(&ev_);
    event_assign(&ev_, loop_->base(), fd_, to_libevent(events), on_event, this);
    events_ = events;
    if (events && event_add(&ev_, nullptr) != 0) {
        events_ = 0;
        return EDDY_EIO;
    }
    return 0;
}

void Watch::on_event(evutil_socket_t fd, short what, void *arg) {
    Watch *w = static_cast<Watch *>(arg);
    int events = 0;
    if (what & EV_READ) events |= EDDY_READABLE;
    if (what & EV_WRITE) events |= EDDY_WRITABLE;
    w->cb_(reinterpret_cast<eddy_watch *>(w), static_cast<int>(fd), events, w->userdata_);
}

void Watch::release() {
    event_del(&ev_);
    if (free_userdata_) free_userdata_(userdata_);
    delete this;
}

void Watch::destroy() {
    loop_->remove_resource(this);
    release();
}

// ---- Signal ----------------------------------------------------------------------------------

namespace {
// Fix: libevent delivers every signal to one event_base only (the one that last added a signal
// or started a loop pass), so handlers on a second loop silently lost their signals. Only one
// loop may hold signal handlers at a time; eddy_signal_new on another loop now fails instead.
std::mutex signal_owner_mutex;
Loop *signal_owner = nullptr;  // the loop holding every live Signal, or nullptr
int signal_owner_count = 0;
}  // namespace

Signal *Signal::create(Loop *loop, int signum, eddy_signal_fn cb, void *userdata,
                       eddy_free_fn free_userdata) {
    if (!loop || signum <= 0 || signum >= 65 || !cb) return nullptr;
    std::lock_guard<std::mutex> guard(signal_owner_mutex);
    if (signal_owner && signal_owner != loop) {
        log(LogLevel::warning, "signal %d: another loop already handles signals", signum);
        return nullptr;
    }
    Signal *s = new (std::nothrow) Signal();
    if (!s) return nullptr;
    s->loop_ = loop;
    s->signum_ = signum;
    s->cb_ = cb;
    s->userdata_ = userdata;
    s->free_userdata_ = free_userdata;
    event_assign(&s->ev_, loop->base(), signum, EV_SIGNAL | EV_PERSIST, on_event, s);
    if (event_add(&s->ev_, nullptr) != 0) {
        delete s;
        return nullptr;
    }
    loop->add_resource(s);
    signal_owner = loop;
    signal_owner_count++;
    return s;
}

void Signal::on_event(evutil_socket_t signum, short, void *arg) {
    Signal *s = static_cast<Signal *>(arg);
    s->cb_(reinterpret_cast<eddy_signal *>(s), static_cast<int>(signum), s->userdata_);
}

void Signal::release() {
    event_del(&ev_);
    {
        std::lock_guard<std::mutex> guard(signal_owner_mutex);
        if (--signal_owner_count == 0) signal_owner = nullptr;
    }
    if (free_userdata_) free_userdata_(userdata_);
    delete this;
}

void Signal::destroy() {
    loop_->remove_resource(this);
    release();
}

// ---- Periodic --------------------------------------------------------------------------------

Periodic *Periodic::create(Loop *loop, double interval, eddy_periodic_fn cb, void *userdata,
                           eddy_free_fn free_userdata) {
    if (!loop || !cb || !(interval > 0) || std::isinf(interval)) return nullptr;
    Periodic *p = new (std::nothrow) Periodic();
    if (!p) return nullptr;
    p->loop_ = loop;
    p->interval_ = interval;
    p->cb_ = cb;
    p->userdata_ = userdata;
    p->free_userdata_ = free_userdata;
    p->timer_.fire = on_timer;
    p->timer_.owner = p;
    loop->add_resource(p);
    return p;
}

void Periodic::start() {
    if (running_) return;
    loop_->timer_start(&timer_, Loop::now() + interval_);
    running_ = true;
}

void Periodic::stop() {
    running_ = false;
    loop_->timer_stop(&timer_);
}

void Periodic::on_timer(TimerNode *node) {
    Periodic *p = static_cast<Periodic *>(node->owner);
    // Schedule the next tick before the callback (which may stop or free us). Ticks missed
    // while the loop was busy are skipped, as Tornado's PeriodicCallback does.
    double now = Loop::now();
    double next = p->timer_.deadline + p->interval_;
    if (next <= now) next += (std::floor((now - next) / p->interval_) + 1) * p->interval_;
    p->loop_->timer_start(&p->timer_, next);
    p->in_callback_ = true;
    p->cb_(reinterpret_cast<eddy_periodic *>(p), p->userdata_);
    p->in_callback_ = false;
    if (p->destroy_pending_) {
        p->loop_->timer_stop(&p->timer_);
        if (p->free_userdata_) p->free_userdata_(p->userdata_);
        delete p;
        return;
    }
    // A callback that ran past the next tick skips it too (Tornado schedules after the
    // callback): unless the callback restarted us, move a deadline it overran.
    if (p->running_ && p->timer_.queued() && p->timer_.deadline == next) {
        double after = Loop::now();
        if (next <= after) {
            next += (std::floor((after - next) / p->interval_) + 1) * p->interval_;
            p->loop_->timer_start(&p->timer_, next);
        }
    }
}

void Periodic::destroy() {
    stop();
    loop_->remove_resource(this);
    if (in_callback_) {
        destroy_pending_ = true;  // on_timer finishes the job after the callback returns
        return;
    }
    if (free_userdata_) free_userdata_(userdata_);
    delete this;
}

void Periodic::on_loop_free() {
    loop_->timer_stop(&timer_);
    if (free_userdata_) free_userdata_(userdata_);
    delete this;
}

}  // namespace eddy
