// The event loop: libevent's event_base plus eddy's own ready queue, timer heap, cross-thread
// queue and end-of-pass work list. Every timer of every layer lives in this loop's heap so a host
// that drives the loop itself (eddy_loop_next_timeout) sees all of them.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "eddy/loop.h"
#include "loop/timer_heap.hpp"

namespace eddy {

class Loop;
class Executor;

// Something owned by a loop that must be released if the loop is freed first (watches, signals,
// periodics, streams, listeners). The loop keeps them in an intrusive list.
class LoopResource {
public:
    virtual ~LoopResource() = default;
    // The loop is being freed: release everything (userdata included) and delete yourself,
    // without running user callbacks.
    virtual void on_loop_free() = 0;

private:
    friend class Loop;
    LoopResource *res_prev_ = nullptr;
    LoopResource *res_next_ = nullptr;
};

// An object the loop releases when it is freed, linked without a vtable: for the many
// short-lived objects (HTTP requests the application holds) that must not become
// polymorphic. A vtable would cost every request a pointer and a virtual destructor, and
// UBSan's vptr check validates a vtable it meets first with a pipe(2): in a process out of
// file descriptors (the fd-exhaustion test) that check fails and aborts the sanitizer build.
// `release` runs once, after the link was unlinked, and must free `owner` without callbacks.
struct LoopHeld {
    LoopHeld *prev = nullptr;
    LoopHeld *next = nullptr;
    void *owner = nullptr;
    void (*release)(void *owner) = nullptr;
};

// Work that must run later in the same libevent pass (after the I/O callbacks already active),
// e.g. a stream's batched socket write. Embed one in the owning object.
struct DeferredTask {
    // nullptr while not queued; the queue's last task points at an end mark. (The task alone
    // says whether it is queued, even when its loop is gone, and needs no flag: 8 bytes less
    // in every stream.)
    DeferredTask *next = nullptr;
    void (*run)(DeferredTask *task) = nullptr;
    void *owner = nullptr;  // the object the task is embedded in
};

// A post from another thread that needs no memory: the node is the poster's (embedded in it),
// so that a worker thread can always hand its result back — a failed post would leave the
// loop side waiting for an answer that never comes.
struct ForeignTask {
    ForeignTask *next = nullptr;
    void (*run)(ForeignTask *task) = nullptr;      // on the loop's thread
    void (*release)(ForeignTask *task) = nullptr;  // after run, or instead when the loop goes
    void *owner = nullptr;                         // the object the task is embedded in
};

class Loop {
public:
    // Returns nullptr when libevent or the system refuses.
    static Loop *create();
    ~Loop();
    Loop(const Loop &) = delete;
    Loop &operator=(const Loop &) = delete;

    event_base *base() const { return base_; }
    eddy_loop *as_c() { return reinterpret_cast<eddy_loop *>(this); }
    static Loop *from_c(eddy_loop *l) { return reinterpret_cast<Loop *>(l); }
    static const Loop *from_c(const eddy_loop *l) { return reinterpret_cast<const Loop *>(l); }

    static double now();  // the monotonic clock in seconds
    double time() const { return now(); }

    int run();
    int run_once(int timeout_ms);
    // In a forked child: fds of the loop's own instead of the parent's (eddy_loop_reinit).
    int reinit_after_fork();
    void stop();  // any thread
    bool running() const { return running_; }

    int backend_fd() const { return backend_fd_; }
    int next_timeout() const;

    // Public calls (with ids).
    eddy_call_id call_soon(eddy_loop_fn cb, void *userdata, eddy_free_fn free_userdata);
    eddy_call_id call_at(double when, eddy_loop_fn cb, void *userdata, eddy_free_fn free_userdata);
    int cancel(eddy_call_id id);
    int call_soon_threadsafe(eddy_loop_fn cb, void *userdata, eddy_free_fn free_userdata);
    // Internal, any thread: runs task->run on the loop's thread (with the posts of
    // call_soon_threadsafe), then task->release; only task->release if the loop is freed
    // first. Cannot fail. A task is posted once at a time.
    void post_threadsafe(ForeignTask *task) noexcept;

    // A new id from the calls' count (the executor's work ids: never equal to a call's).
    eddy_call_id new_id() { return next_id_++; }
    // eddy_loop_run_in_executor's worker threads, made on first use (throws std::bad_alloc);
    // nullptr while the loop is being freed (a free function there gets none).
    Executor *executor();
    Executor *executor_if_made() const { return executor_; }

    // Deletes `object` on the next iteration, or when the loop is freed first (the call's free
    // function does it either way): for an object freed inside its own callback, whose callers
    // still use it. False when out of memory (then it is not deleted).
    template <class T>
    bool delete_soon(T *object) {
        auto noop = [](eddy_loop *, void *) {};
        auto free_object = [](void *p) { delete static_cast<T *>(p); };
        return call_soon(noop, object, free_object) != 0;
    }

    // Internal: queue fn(arg) for the next iteration (no id, cannot be cancelled; `arg` must
    // stay valid until it runs — used for deferred close callbacks). False when out of
    // memory: fn will not run.
    bool post(void (*fn)(void *arg), void *arg) noexcept;

    // Internal timers (node embedded in the owner). Starting one cannot fail: out of memory,
    // it waits in the heap's overflow list and fires all the same (see TimerHeap).
    void timer_start(TimerNode *node, double deadline) noexcept;
    void timer_stop(TimerNode *node);

    // Internal: run `task` later in this pass; a task queued while the deferred tasks run
    // waits for the next pass (so a write callback that writes again cannot hold one pass
    // forever). Queuing an already queued task does nothing.
    void defer(DeferredTask *task);
    // Internal: unqueue a task whose owner is going away (O(queued tasks); rare).
    void undefer(DeferredTask *task);

    void add_resource(LoopResource *r);
    void remove_resource(LoopResource *r);
    // The same for a LoopHeld; held objects are released before the resources (a request's
    // release still reaches its server and connection).
    void add_held(LoopHeld *h);
    void remove_held(LoopHeld *h);

    // Internal: an empty evbuffer (a spare one when there is one), or nullptr when out of
    // memory. Streams take one per response and give it back once flushed, so a busy server
    // does not allocate and free a buffer per request while idle connections still hold none.
    evbuffer *take_buffer();
    // Internal: returns an empty buffer taken with take_buffer() (or frees it: the spare list is
    // short).
    void give_buffer(evbuffer *buf);

private:
    struct Call;
    struct ReadyItem {
        Call *call;  // a public call, or nullptr for an internal post
        void (*fn)(void *);
        void *arg;
    };
    struct ForeignCall {
        eddy_loop_fn cb;
        void *userdata;
        eddy_free_fn free_userdata;
    };

    Loop() = default;
    bool init();
    void schedule_ready();
    void rearm_timer();
    void arm_timer_fd(double deadline);
    void run_ready();
    void run_ready_first();  // the waiting ready queue, ahead of the fd event that runs it
    // Runs the timers due now, except those started from sequence number `started_before` on
    // (and those started while it runs: they wait for the next pass).
    void run_timers(uint64_t started_before = UINT64_MAX);
    void run_deferred();
    void drain_foreign();
    void wake_for_posts();         // any thread: the eventfd, once per drain
    void finish_call(Call *call);  // release userdata, unregister, delete
    eddy_call_id new_call(Call *call);

    static void on_ready_event(evutil_socket_t, short, void *arg);
    static void on_timer_event(evutil_socket_t, short, void *arg);
    static void on_wake_event(evutil_socket_t, short, void *arg);
    static void on_defer_event(evutil_socket_t, short, void *arg);
    static void on_call_timer(TimerNode *node);

    event_base *base_ = nullptr;
    int backend_fd_ = -1;
    int wake_fd_ = -1;   // eventfd: cross-thread posts and stop()
    int timer_fd_ = -1;  // timerfd (CLOCK_MONOTONIC): the earliest deadline of timers_
    struct event ready_ev_;
    struct event timer_ev_;
    struct event wake_ev_;
    struct event defer_ev_;
    bool events_ready_ = false;  // the four events above are assigned

    std::vector<ReadyItem> ready_;
    std::vector<evbuffer *> spare_buffers_;  // empty, for take_buffer()
    bool ready_scheduled_ = false;
    TimerHeap timers_;
    uint64_t timer_seq_ = 0;
    bool timer_overflow_logged_ = false;  // the timer heap could not grow, said once
    double timer_armed_for_ = -1;  // deadline timer_fd_ is armed for, or -1
    bool in_timers_ = false;
#ifdef EDDY_FUZZ_CLOCK
    unsigned long clock_jumps_seen_ = 0;  // fuzz build only: see run_once and fuzz_clock.hpp
#endif

    std::unordered_map<eddy_call_id, Call *> calls_;
    eddy_call_id next_id_ = 1;
    Executor *executor_ = nullptr;
    bool freeing_ = false;  // in ~Loop

    DeferredTask *defer_head_ = nullptr;
    DeferredTask *defer_tail_ = nullptr;
    DeferredTask *defer_batch_end_ = nullptr;  // while run_deferred(): the last task of its pass
    bool defer_active_ = false;
    bool in_deferred_ = false;

    std::mutex foreign_mutex_;
    std::vector<ForeignCall> foreign_;
    ForeignTask *foreign_tasks_ = nullptr;  // post_threadsafe's, newest first (run oldest first)
    std::atomic<bool> wake_pending_{false};
    std::atomic<bool> stop_requested_{false};

    bool running_ = false;
    bool ever_ran_ = false;  // run() or run_once() was called once: eddy_loop_reinit refuses
    // The thread inside run()/run_once(), or 0: call_soon_threadsafe() from it joins the ready
    // queue directly, in order with call_soon(). Atomic: other threads read it.
    std::atomic<unsigned long> running_thread_{0};
    LoopResource *resources_ = nullptr;
    LoopHeld *held_ = nullptr;
};

}  // namespace eddy
