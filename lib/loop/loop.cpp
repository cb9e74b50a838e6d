// The event loop. libevent supplies readiness (epoll) and signals; eddy keeps its own ready
// queue, timer heap and cross-thread queue on top so that ordering rules are its own:
//  - call_soon is FIFO, and callbacks queued while the queue runs wait for the next iteration
//    (the ready event is a zero-delay libevent timer, processed after the next poll, so I/O is
//    never starved);
//  - timers due at the same time run in start order, and a timer started while timers run waits
//    for the next pass;
//  - deferred tasks (stream flushes) run at the end of the current pass, so a batch of
//    pipelined responses leaves in one write.
#include "loop/loop.hpp"

#include "loop/executor.hpp"

#include <dirent.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <set>
#include <string>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/log.hpp"
#include "util/no_throw.hpp"
#include "util/sanitizer.hpp"
#ifdef EDDY_FUZZ_CLOCK
#include "loop/fuzz_clock.hpp"  // fuzz build only: time moves when the harness says
#endif

namespace eddy {

struct Loop::Call {
    TimerNode timer;
    eddy_call_id id = 0;
    eddy_loop_fn cb = nullptr;
    void *userdata = nullptr;
    eddy_free_fn free_userdata = nullptr;
    Loop *loop = nullptr;
    bool cancelled = false;  // only meaningful while sitting in the ready queue
};

namespace {

// A deadline on CLOCK_MONOTONIC as an absolute timerfd expiry.
itimerspec to_expiry(double deadline) {
    // Far deadlines (call_later(INFINITY), 1e30 s, ...) would overflow time_t; past ones must
    // not become {0, 0}, which disarms. Capped, a deadline fires "early" in some thousand
    // years, and run_timers() finds nothing due.
    constexpr double kMaxDeadline = 1e12;
    if (!(deadline < kMaxDeadline)) deadline = kMaxDeadline;
    itimerspec spec = {};
    if (deadline > 0) {
        spec.it_value.tv_sec = static_cast<time_t>(deadline);
        long nsec = static_cast<long>((deadline - static_cast<double>(spec.it_value.tv_sec)) * 1e9);
        spec.it_value.tv_nsec = nsec < 0 ? 0 : nsec > 999999999 ? 999999999 : nsec;
    }
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    return spec;
}

// The epoll fds ("anon_inode:[eventpoll]") this process has open.
std::set<int> list_epoll_fds() {
    std::set<int> fds;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return fds;
    while (dirent *entry = readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        std::string path = std::string("/proc/self/fd/") + entry->d_name;
        char target[64];
        ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0) fds.insert(atoi(entry->d_name));
    }
    closedir(dir);
    return fds;
}

// True when epoll fd `epfd` has `fd` registered (read from /proc/self/fdinfo).
bool epoll_watches(int epfd, int fd) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[256];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        int tfd;
        if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd) {
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

}  // namespace

double Loop::now() {
#ifdef EDDY_FUZZ_CLOCK
    return fuzz_clock::now();
#else
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
#endif
}

namespace {
// libevent's own warnings go where eddy's log lines go (eddy_set_log_function), not to stderr.
void libevent_log(int severity, const char *message) {
    LogLevel level = severity == EVENT_LOG_DEBUG ? LogLevel::debug
                     : severity == EVENT_LOG_MSG ? LogLevel::info
                     : severity == EVENT_LOG_WARN ? LogLevel::warning
                                                   : LogLevel::error;
    log(level, "libevent: %s", message);
}
}  // namespace

Loop *Loop::create() {
    static std::once_flag log_hooked;
    std::call_once(log_hooked, [] { event_set_log_callback(libevent_log); });
    // libcrypto (WebSocket accept keys, signed cookies, TLS) sets itself up on first use, and
    // a setup that meets a failed allocation leaves it broken for good (seen: a NULL lock in
    // EVP_MD_fetch, a crash, when the first WebSocket handshake ran out of memory). Done here,
    // once, while memory is there.
    // (The default context's algorithm store appears on the first fetch: one fetch makes it.)
    static std::once_flag crypto_ready;
    std::call_once(crypto_ready, [] {
        OPENSSL_init_crypto(0, nullptr);
        EVP_MD_free(EVP_MD_fetch(nullptr, "SHA1", nullptr));
    });
    Loop *loop = new (std::nothrow) Loop();
    if (!loop) return nullptr;
    if (!loop->init()) {
        delete loop;
        return nullptr;
    }
    return loop;
}

bool Loop::init() {
    // libevent does not publish its epoll fd, which embedding hosts need; it is found below as
    // the epoll fd that watches our wake-up eventfd.
    // Fix: libevent calls exit(1) (event_sock_err in evsig_init_) when it cannot create its
    // internal signal socketpair, e.g. when the process is out of fds, so eddy_loop_new() killed
    // the host instead of returning NULL. Check first that the fds the loop needs are free
    // (epoll, the signal socketpair, our eventfd and timerfd).
    {
        int spare[5];
        int got = 0;
        while (got < 5 && (spare[got] = eventfd(0, EFD_CLOEXEC)) >= 0) got++;
        for (int i = 0; i < got; i++) close(spare[i]);
        if (got < 5) {
            log(LogLevel::warning, "loop: out of file descriptors");
            return false;
        }
    }

    event_config *cfg = event_config_new();
    if (!cfg) return false;
    // NOLOCK: a loop is single-threaded; cross-thread calls go through our own eventfd queue.
    // No PRECISE_TIMER: with it libevent keeps a timerfd and calls timerfd_settime on every
    // pass, even when nothing changed (~1% of the CPU per request under keep-alive load).
    // eddy's timers do not need libevent's clock: they sit in our own heap, on our own
    // timerfd (CLOCK_MONOTONIC, absolute deadlines), re-armed only when the earliest deadline
    // moves earlier or fires. libevent's own timers are then left with its coarse clock,
    // which only the zero-delay ready event uses.
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    base_ = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!base_) return false;

    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return false;
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) return false;

    event_assign(&ready_ev_, base_, -1, 0, on_ready_event, this);
    event_assign(&timer_ev_, base_, timer_fd_, EV_READ | EV_PERSIST, on_timer_event, this);
    event_assign(&wake_ev_, base_, wake_fd_, EV_READ | EV_PERSIST, on_wake_event, this);
    event_assign(&defer_ev_, base_, -1, 0, on_defer_event, this);
    events_ready_ = true;
    if (event_add(&wake_ev_, nullptr) != 0 || event_add(&timer_ev_, nullptr) != 0) return false;

    for (int fd : list_epoll_fds()) {
        // Only our base registered our eventfd, so this identifies its epoll fd even while other
        // threads create and free loops (a before/after diff of fd numbers would race with
        // fd numbers being reused).
        if (epoll_watches(fd, wake_fd_)) {
            backend_fd_ = fd;
            break;
        }
    }
    if (backend_fd_ < 0)
        log(LogLevel::debug, "loop: backend fd not found (method %s)", event_base_get_method(base_));
    return true;
}

Loop::~Loop() {
    // The executor first: its work functions still running may post to this loop, and their
    // completions must be among the posts released below.
    freeing_ = true;
    Executor *executor = executor_;
    executor_ = nullptr;  // free functions that run meanwhile get no executor
    delete executor;
    // Held objects next (requests the application keeps): their release still reaches their
    // server and connection, which are resources.
    while (held_) {
        LoopHeld *h = held_;
        remove_held(h);
        h->release(h->owner);
    }
    // Resources next: they may stop timers or hold deferred tasks.
    while (resources_) {
        LoopResource *r = resources_;
        remove_resource(r);
        r->on_loop_free();
    }
    // Free functions may schedule calls or post to this loop: those are released as well (never
    // run), round after round, and no lock is held while a free function runs.
    for (bool released = true; released;) {
        released = false;
        while (!calls_.empty()) {
            released = true;
            std::unordered_map<eddy_call_id, Call *> batch;
            batch.swap(calls_);
            for (auto &entry : batch) {
                Call *call = entry.second;
                eddy_free_fn free_userdata = call->free_userdata;
                void *userdata = call->userdata;
                if (call->timer.queued()) {
                    timers_.remove(&call->timer);
                    delete call;
                } else {
                    call->cancelled = true;  // sits in the ready queue: deleted below
                }
                if (free_userdata) free_userdata(userdata);
            }
        }
        std::vector<ForeignCall> posted;
        ForeignTask *tasks;
        {
            std::lock_guard<std::mutex> guard(foreign_mutex_);
            posted.swap(foreign_);
            tasks = foreign_tasks_;
            foreign_tasks_ = nullptr;
        }
        for (ForeignCall &fc : posted) {
            released = true;
            if (fc.free_userdata) fc.free_userdata(fc.userdata);
        }
        while (tasks) {
            released = true;
            ForeignTask *task = tasks;
            tasks = task->next;
            task->release(task);
        }
    }
    for (ReadyItem &item : ready_) {
        if (item.call) delete item.call;  // every call left in the queue is cancelled by now
    }
    if (events_ready_) {
        event_del(&ready_ev_);
        event_del(&timer_ev_);
        event_del(&wake_ev_);
        event_del(&defer_ev_);
    }
    for (evbuffer *buf : spare_buffers_) evbuffer_free(buf);
    if (wake_fd_ >= 0) close(wake_fd_);
    if (timer_fd_ >= 0) close(timer_fd_);
    if (base_) event_base_free(base_);
}

// ---- spare buffers ---------------------------------------------------------------------------

namespace {
constexpr size_t kMaxSpareBuffers = 64;  // ~10 KiB at most; enough for a busy iteration
}

evbuffer *Loop::take_buffer() {
    if (spare_buffers_.empty()) return evbuffer_new();
    evbuffer *buf = spare_buffers_.back();
    spare_buffers_.pop_back();
    return buf;
}

void Loop::give_buffer(evbuffer *buf) {
    if (EDDY_UNDER_ASAN || spare_buffers_.size() >= kMaxSpareBuffers ||
        evbuffer_get_length(buf) != 0) {
        evbuffer_free(buf);
        return;
    }
    if (spare_buffers_.capacity() == 0) spare_buffers_.reserve(kMaxSpareBuffers);
    spare_buffers_.push_back(buf);
}

// ---- running ---------------------------------------------------------------------------------

int Loop::run() {
    if (running_) return EDDY_ESTATE;
    running_ = true;
    ever_ran_ = true;
    running_thread_.store(static_cast<unsigned long>(pthread_self()));
    int rc = 0;
    // A stop requested before run(): one iteration that runs what is ready without waiting.
    const int first_flags = stop_requested_.load() ? EVLOOP_ONCE | EVLOOP_NONBLOCK : EVLOOP_ONCE;
    for (int flags = first_flags;; flags = EVLOOP_ONCE) {
        if (event_base_loop(base_, flags) < 0) {
            rc = EDDY_EIO;
            break;
        }
        if (stop_requested_.exchange(false)) break;
    }
    running_thread_.store(0);
    running_ = false;
    return rc;
}

int Loop::run_once(int timeout_ms) {
    if (running_) return EDDY_ESTATE;
    running_ = true;
    ever_ran_ = true;
    const uint64_t timers_before = timer_seq_;
    running_thread_.store(static_cast<unsigned long>(pthread_self()));
#ifdef EDDY_FUZZ_CLOCK
    // The virtual clock jumped since the timerfd was armed: its real expiry is late now. Arm it
    // from the heap again, so what the jump made due fires in this pass, as a late timer would.
    if (clock_jumps_seen_ != fuzz_clock::jumps) {
        clock_jumps_seen_ = fuzz_clock::jumps;
        timer_armed_for_ = -1;
        rearm_timer();
    }
#endif
    int rc;
    if (timeout_ms == 0) {
        rc = event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    } else if (timeout_ms < 0) {
        rc = event_base_loop(base_, EVLOOP_ONCE);
    } else {
        // libevent has no "wait at most" argument: the timer fd, armed no later than the
        // bound, ends the wait (if it beats the earliest timer, that pass finds nothing due).
        double bound = now() + timeout_ms / 1000.0;
        if (timer_armed_for_ < 0 || bound < timer_armed_for_) arm_timer_fd(bound);
        rc = event_base_loop(base_, EVLOOP_ONCE);
    }
    // A host may call us slightly after our timer's deadline: run what is due now rather than
    // waiting for libevent's own notion of the deadline (timers due microseconds apart then run
    // in one iteration, as asyncio runs them). Not the timers started during this iteration:
    // callbacks queued in it were queued first and run first, in the next one.
    if (rc >= 0 && !timers_.empty() && timers_.top()->deadline <= now()) run_timers(timers_before);
    // A stop requested before or during this iteration is left for the next run(), as
    // eddy_loop_stop() documents: run_once() is one iteration whatever it says.
    running_thread_.store(0);
    running_ = false;
    return rc < 0 ? EDDY_EIO : 0;
}

int Loop::reinit_after_fork() {
    // Only a loop that never ran: one that ran may have posted work to threads (the resolver's)
    // that did not survive the fork, or have I/O half done on fds shared with the parent.
    if (running_ || ever_ran_) return EDDY_ESTATE;
    // Nor one with worker threads (eddy_loop_run_in_executor): they are not in the child, and
    // its work would never complete (or be joined) there.
    if (executor_) return EDDY_ESTATE;
    // New fds first, so their numbers differ from every fd the parent's epoll instances watch
    // (the backend fd is found below as the epoll fd that watches both of them).
    int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (wake < 0 || timer < 0) {
        if (wake >= 0) close(wake);
        if (timer >= 0) close(timer);
        return EDDY_EIO;
    }
    // libevent's own fork support: a new epoll fd and signal socketpair, every added event
    // registered there again. The parent's epoll instance is not touched (it closes its copy).
    if (event_reinit(base_) != 0) {
        close(wake);
        close(timer);
        return EDDY_EIO;
    }
    // Our eventfd and timerfd are shared with the parent (a post in one process would wake the
    // other, timerfd_settime would move the other's deadline): replace them.
    event_del(&wake_ev_);
    event_del(&timer_ev_);
    close(wake_fd_);
    close(timer_fd_);
    wake_fd_ = wake;
    timer_fd_ = timer;
    event_assign(&timer_ev_, base_, timer_fd_, EV_READ | EV_PERSIST, on_timer_event, this);
    event_assign(&wake_ev_, base_, wake_fd_, EV_READ | EV_PERSIST, on_wake_event, this);
    if (event_add(&wake_ev_, nullptr) != 0 || event_add(&timer_ev_, nullptr) != 0) return EDDY_EIO;
    if (wake_pending_.load()) {  // a post or stop before the fork: its wake-up stays due
        uint64_t one = 1;
        ssize_t n = write(wake_fd_, &one, sizeof one);
        (void)n;
    }
    timer_armed_for_ = -1;  // the new timerfd is not armed: arm it for the earliest timer
    rearm_timer();
    backend_fd_ = -1;
    for (int fd : list_epoll_fds()) {
        if (epoll_watches(fd, wake_fd_) && epoll_watches(fd, timer_fd_)) {
            backend_fd_ = fd;
            break;
        }
    }
    return 0;
}

void Loop::stop() {
    stop_requested_.store(true);
    if (!wake_pending_.exchange(true)) {
        uint64_t one = 1;
        ssize_t n = write(wake_fd_, &one, sizeof one);
        (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
    }
}

int Loop::next_timeout() const {
    if (!ready_.empty() || defer_head_ != nullptr || wake_pending_.load()) return 0;
    if (timers_.empty()) return -1;
    double wait = timers_.top()->deadline - now();
    if (wait <= 0) return 0;
    double ms = std::ceil(wait * 1000.0);
    return ms > 2147483647.0 ? 2147483647 : static_cast<int>(ms);
}

// ---- ready queue -----------------------------------------------------------------------------

void Loop::schedule_ready() {
    if (ready_scheduled_) return;
    static const timeval zero = {0, 0};
    event_add(&ready_ev_, &zero);
    ready_scheduled_ = true;
}

eddy_call_id Loop::new_call(Call *call) {
    call->id = next_id_++;
    call->loop = this;
    try {
        calls_.emplace(call->id, call);
    } catch (...) {
        return 0;
    }
    return call->id;
}

eddy_call_id Loop::call_soon(eddy_loop_fn cb, void *userdata, eddy_free_fn free_userdata) {
    Call *call = new (std::nothrow) Call();
    if (!call) return 0;
    call->cb = cb;
    call->userdata = userdata;
    call->free_userdata = free_userdata;
    eddy_call_id id = new_call(call);
    if (!id) {
        delete call;
        return 0;
    }
    try {
        ready_.push_back(ReadyItem{call, nullptr, nullptr});
    } catch (...) {
        calls_.erase(id);
        delete call;
        return 0;
    }
    schedule_ready();
    return id;
}

bool Loop::post(void (*fn)(void *), void *arg) noexcept {
    try {
        ready_.push_back(ReadyItem{nullptr, fn, arg});
    } catch (...) {
        return false;
    }
    schedule_ready();
    return true;
}

void Loop::on_ready_event(evutil_socket_t, short, void *arg) {
    static_cast<Loop *>(arg)->run_ready();
}

void Loop::run_ready() {
    ready_scheduled_ = false;
    std::vector<ReadyItem> batch;
    batch.swap(ready_);
    for (ReadyItem &item : batch) {
        if (!item.call) {
            // Internal work (a stream's close): an exception it lets out stops here, not in
            // libevent's C frames (util/no_throw.hpp).
            ran_without_exception("loop: queued callback", [&] { item.fn(item.arg); });
            continue;
        }
        Call *call = item.call;
        if (call->cancelled) {  // userdata was released by cancel()
            delete call;
            continue;
        }
        calls_.erase(call->id);
        call->cb(as_c(), call->userdata);
        if (call->free_userdata) call->free_userdata(call->userdata);
        delete call;
    }
    // Reuse the batch's storage when nothing new was queued meanwhile.
    batch.clear();
    if (ready_.empty()) ready_.swap(batch);
}

// ---- timers ----------------------------------------------------------------------------------

eddy_call_id Loop::call_at(double when, eddy_loop_fn cb, void *userdata,
                           eddy_free_fn free_userdata) {
    if (std::isnan(when)) when = now();
    Call *call = new (std::nothrow) Call();
    if (!call) return 0;
    call->cb = cb;
    call->userdata = userdata;
    call->free_userdata = free_userdata;
    call->timer.fire = on_call_timer;
    call->timer.owner = call;
    eddy_call_id id = new_call(call);
    if (!id) {
        delete call;
        return 0;
    }
    timer_start(&call->timer, when);
    return id;
}

void Loop::on_call_timer(TimerNode *node) {
    Call *call = static_cast<Call *>(node->owner);
    Loop *loop = call->loop;
    loop->calls_.erase(call->id);
    call->cb(loop->as_c(), call->userdata);
    if (call->free_userdata) call->free_userdata(call->userdata);
    delete call;
}

int Loop::cancel(eddy_call_id id) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return EDDY_ENOENT;
    Call *call = it->second;
    calls_.erase(it);
    eddy_free_fn free_userdata = call->free_userdata;
    void *userdata = call->userdata;
    if (call->timer.queued()) {
        timer_stop(&call->timer);
        delete call;
    } else {
        call->cancelled = true;  // still in the ready queue; deleted when the queue reaches it
    }
    if (free_userdata) free_userdata(userdata);
    return 0;
}

void Loop::timer_start(TimerNode *node, double deadline) noexcept {
    if (node->queued()) timers_.remove(node);
    node->deadline = deadline;
    node->seq = timer_seq_++;
    if (!timers_.push(node) && !timer_overflow_logged_) {
        timer_overflow_logged_ = true;  // once: it is logged under memory pressure
        log(LogLevel::warning,
            "loop: out of memory growing the timer heap; timers wait in a "
            "slower list until it has room (they still fire)");
    }
    rearm_timer();
}

void Loop::timer_stop(TimerNode *node) {
    if (!node->queued()) return;
    timers_.remove(node);
    rearm_timer();
}

void Loop::rearm_timer() {
    if (in_timers_) return;  // run_timers() re-arms once at the end
    if (timers_.empty()) return;  // an armed event just fires with nothing due
    double deadline = timers_.top()->deadline;
    // Only an earlier deadline needs the libevent timer moved. A later one (the common case:
    // idle timeouts pushed forward on every request) is found when the armed event fires a bit
    // early and run_timers() re-arms; this saves an event_add per timer restart.
    if (timer_armed_for_ >= 0 && deadline >= timer_armed_for_) return;
    arm_timer_fd(deadline);
}

void Loop::arm_timer_fd(double deadline) {
#ifdef EDDY_FUZZ_CLOCK
    itimerspec spec = to_expiry(fuzz_clock::to_real(deadline));  // the timerfd keeps real time
#else
    itimerspec spec = to_expiry(deadline);
#endif
    if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
        log(LogLevel::error, "loop: timerfd_settime: %s", strerror(errno));
        return;
    }
    timer_armed_for_ = deadline;
}

void Loop::on_timer_event(evutil_socket_t, short, void *arg) {
    Loop *loop = static_cast<Loop *>(arg);
    uint64_t expirations;
    ssize_t n = read(loop->timer_fd_, &expirations, sizeof expirations);  // clears readiness
    (void)n;  // EAGAIN: re-armed since it expired; run_timers() finds what is due either way
    loop->timer_armed_for_ = -1;  // one-shot: it expired
    // Callbacks queued before these timers came due run first, as in asyncio.
    loop->run_ready_first();
    loop->run_timers();
}

void Loop::run_ready_first() {
    // libevent runs fd events (the timerfd, the wake-up eventfd) before the ready queue's zero
    // timeout in a pass: run the queue that was waiting now, ahead of them. What the callbacks
    // queue waits for the next pass (call_soon schedules it, run_ready having cleared the flag).
    if (!ready_scheduled_) return;
    event_del(&ready_ev_);
    run_ready();
}

void Loop::run_timers(uint64_t started_before) {
    bool armed = timer_armed_for_ >= 0;
    in_timers_ = true;
    double t = now();
    // Timers started from now on wait for the next pass.
    uint64_t limit = std::min(timer_seq_, started_before);
    while (TimerNode *top = timers_.top()) {
        if (top->deadline > t || top->seq >= limit) break;
        timers_.pop();
        ran_without_exception("loop: timer", [&] { top->fire(top); });
    }
    in_timers_ = false;
    timer_armed_for_ = -1;
    if (!timers_.empty()) {
        rearm_timer();
    } else if (armed) {
        itimerspec off = {};
        timerfd_settime(timer_fd_, 0, &off, nullptr);
    }
}

// ---- cross-thread calls ----------------------------------------------------------------------

int Loop::call_soon_threadsafe(eddy_loop_fn cb, void *userdata, eddy_free_fn free_userdata) {
    const bool on_loop_thread =
        running_thread_.load() == static_cast<unsigned long>(pthread_self());
    try {
        std::lock_guard<std::mutex> guard(foreign_mutex_);
        // From inside the loop, with no earlier post of ours still waiting for the wake-up:
        // the ready queue, in order with call_soon() (Tornado's add_callback is one queue).
        // (An earlier post that waits — made before run_once, say — keeps its place ahead.)
        if (on_loop_thread && foreign_.empty()) {
            // (call_soon takes no lock; ours only orders this against other posts.)
            return call_soon(cb, userdata, free_userdata) ? 0 : EDDY_ENOMEM;
        }
        foreign_.push_back(ForeignCall{cb, userdata, free_userdata});
    } catch (...) {
        return EDDY_ENOMEM;
    }
    wake_for_posts();
    return 0;
}

Executor *Loop::executor() {
    if (!executor_ && !freeing_) executor_ = new Executor(this);
    return executor_;
}

void Loop::post_threadsafe(ForeignTask *task) noexcept {
    {
        std::lock_guard<std::mutex> guard(foreign_mutex_);
        task->next = foreign_tasks_;
        foreign_tasks_ = task;
    }
    wake_for_posts();
}

void Loop::wake_for_posts() {
    // Only the first post since the loop last drained the queue writes to the eventfd.
    if (!wake_pending_.exchange(true)) {
        uint64_t one = 1;
        ssize_t n = write(wake_fd_, &one, sizeof one);
        (void)n;
    }
}

void Loop::on_wake_event(evutil_socket_t fd, short, void *arg) {
    Loop *loop = static_cast<Loop *>(arg);
    uint64_t count;
    ssize_t n = read(fd, &count, sizeof count);
    (void)n;
    // Clear the flag before taking the queue: a post that lands after the swap must wake us.
    loop->wake_pending_.store(false);
    // Callbacks queued before the posts arrived run first; the posts then run now, in this
    // iteration, so that a post followed by eddy_loop_stop() still runs before run() returns.
    loop->run_ready_first();
    loop->drain_foreign();
}

void Loop::drain_foreign() {
    std::vector<ForeignCall> batch;
    ForeignTask *tasks;
    {
        std::lock_guard<std::mutex> guard(foreign_mutex_);
        batch.swap(foreign_);
        tasks = foreign_tasks_;
        foreign_tasks_ = nullptr;
    }
    for (ForeignCall &fc : batch) {
        ran_without_exception("loop: posted callback", [&] { fc.cb(as_c(), fc.userdata); });
        if (fc.free_userdata) fc.free_userdata(fc.userdata);
    }
    // Internal ones: a name lookup's answer starts its connection attempt, a worker's finished
    // work its done callback. The list is newest first: run them in the order posted (work that
    // finished first is done first, as Tornado resolves its futures).
    ForeignTask *oldest_first = nullptr;
    while (tasks) {
        ForeignTask *task = tasks;
        tasks = task->next;
        task->next = oldest_first;
        oldest_first = task;
    }
    tasks = oldest_first;
    while (tasks) {
        ForeignTask *task = tasks;
        tasks = task->next;
        ran_without_exception("loop: posted task", [&] { task->run(task); });
        task->release(task);
    }
}

// ---- deferred tasks --------------------------------------------------------------------------

namespace {
DeferredTask queue_end;  // what the last queued task's `next` points at (never run)

DeferredTask *after(const DeferredTask *task) {
    return task->next == &queue_end ? nullptr : task->next;
}
}  // namespace

void Loop::defer(DeferredTask *task) {
    if (task->next) return;  // queued already
    task->next = &queue_end;
    if (defer_tail_) {
        defer_tail_->next = task;
    } else {
        defer_head_ = task;
    }
    defer_tail_ = task;
    if (!defer_active_) {
        defer_active_ = true;
        if (in_deferred_) {
            // Queued by a deferred task: the next pass (a zero timeout, like the ready queue).
            static const timeval zero = {0, 0};
            event_add(&defer_ev_, &zero);
        } else {
            // Activated (not added): runs in this pass, after the events already active.
            event_active(&defer_ev_, 0, 0);
        }
    }
}

void Loop::undefer(DeferredTask *task) {
    if (!task->next) return;  // not queued
    DeferredTask *prev = nullptr;
    for (DeferredTask *t = defer_head_; t; prev = t, t = after(t)) {
        if (t != task) continue;
        if (prev) {
            prev->next = t->next;  // (the end mark when t was last)
        } else {
            defer_head_ = after(t);
        }
        if (defer_tail_ == t) defer_tail_ = prev;
        if (defer_batch_end_ == t) defer_batch_end_ = prev;  // nullptr: the pass has no more
        break;
    }
    task->next = nullptr;
}

void Loop::on_defer_event(evutil_socket_t, short, void *arg) {
    static_cast<Loop *>(arg)->run_deferred();
}

void Loop::run_deferred() {
    defer_active_ = false;
    in_deferred_ = true;
    // Only the tasks queued when this started: the ones they queue are appended after
    // defer_batch_end_ and wait for the next pass (defer() schedules it).
    defer_batch_end_ = defer_tail_;
    while (defer_batch_end_) {
        DeferredTask *task = defer_head_;
        if (task == defer_batch_end_) defer_batch_end_ = nullptr;
        defer_head_ = after(task);
        if (!defer_head_) defer_tail_ = nullptr;
        task->next = nullptr;
        ran_without_exception("loop: deferred task", [&] { task->run(task); });
    }
    in_deferred_ = false;
}

// ---- resources -------------------------------------------------------------------------------

void Loop::add_resource(LoopResource *r) {
    r->res_prev_ = nullptr;
    r->res_next_ = resources_;
    if (resources_) resources_->res_prev_ = r;
    resources_ = r;
}

void Loop::remove_resource(LoopResource *r) {
    if (r->res_prev_) {
        r->res_prev_->res_next_ = r->res_next_;
    } else if (resources_ == r) {
        resources_ = r->res_next_;
    }
    if (r->res_next_) r->res_next_->res_prev_ = r->res_prev_;
    r->res_prev_ = r->res_next_ = nullptr;
}

void Loop::add_held(LoopHeld *h) {
    h->prev = nullptr;
    h->next = held_;
    if (held_) held_->prev = h;
    held_ = h;
}

void Loop::remove_held(LoopHeld *h) {
    if (h->prev) {
        h->prev->next = h->next;
    } else if (held_ == h) {
        held_ = h->next;
    }
    if (h->next) h->next->prev = h->prev;
    h->prev = h->next = nullptr;
}

}  // namespace eddy
