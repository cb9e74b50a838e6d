// Executor: the worker threads of eddy_loop_run_in_executor (Tornado's IOLoop.run_in_executor,
// libuv's uv_queue_work): blocking work runs off the loop's thread, its completion callback on
// it. One per loop, made on first use; its threads start as work arrives (up to the limit) and
// stay until the loop is freed.
//
// Threads: submit/cancel/set_max_threads and the delivery run on the loop's thread; workers
// touch only the queue and the items' states, under `mutex_`. A finished item reaches the loop
// through Loop::post_threadsafe, which needs no memory, so a completion is never lost.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "eddy/loop.h"
#include "loop/loop.hpp"

namespace eddy {

class Executor {
public:
    explicit Executor(Loop *loop) : loop_(loop) {}
    // Drops the work not started (its userdata released, `done` not called) and waits for the
    // work functions running now to return; their completions are then released by the loop
    // (Loop::~Loop deletes the executor before it releases posted tasks).
    ~Executor();
    Executor(const Executor &) = delete;
    Executor &operator=(const Executor &) = delete;

    // An id, or 0 when no worker thread exists and none could be started. Throws
    // std::bad_alloc when out of memory (nothing queued then).
    eddy_call_id submit(eddy_work_fn work, eddy_work_done_fn done, void *userdata,
                        eddy_free_fn free_userdata);
    // 0 (queued work dropped; `done` gets EDDY_ECANCELED later), EDDY_EBUSY (running or
    // finished, `done` not called yet), EDDY_ENOENT (unknown, or `done` already ran).
    int cancel(eddy_call_id id);
    void set_max_threads(size_t n) { max_threads_ = n; }

private:
    enum class State { queued, running, finished };
    struct Item {
        eddy_call_id id;
        eddy_work_fn work;
        eddy_work_done_fn done;
        void *userdata;
        eddy_free_fn free_userdata;
        int status = 0;
        State state = State::queued;  // under mutex_
        ForeignTask delivery;
        Executor *executor;
    };

    // False when the system refuses one (`*why` says why: logged by the caller, after the
    // lock: a log sink may call back into eddy).
    bool start_thread(char *why, size_t why_size);
    void worker();
    static void deliver(ForeignTask *task);  // loop thread: `done`
    static void release(ForeignTask *task);  // userdata, then the item (touches no executor)

    Loop *loop_;
    size_t max_threads_ = 4;
    std::unordered_map<eddy_call_id, Item *> items_;  // loop thread: not yet delivered

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Item *> queue_;  // not started, oldest first
    size_t idle_ = 0;           // workers waiting for work
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace eddy
