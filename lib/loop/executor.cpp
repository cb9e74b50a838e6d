#include "loop/executor.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <system_error>

#include "util/log.hpp"

namespace eddy {

Executor::~Executor() {
    std::deque<Item *> dropped;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        dropped.swap(queue_);
    }
    wake_.notify_all();
    // Work already running may use its userdata: it finishes before anything is released.
    for (std::thread &t : threads_) t.join();
    for (Item *item : dropped) release(&item->delivery);
}

eddy_call_id Executor::submit(eddy_work_fn work, eddy_work_done_fn done, void *userdata,
                              eddy_free_fn free_userdata) {
    auto item = std::make_unique<Item>();
    item->work = work;
    item->done = done;
    item->userdata = userdata;
    item->free_userdata = free_userdata;
    item->executor = this;
    item->delivery.run = deliver;
    item->delivery.release = release;
    item->delivery.owner = item.get();
    char why[160] = "";  // why a worker thread was refused
    bool no_thread = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        // A thread more while the queue outgrows the idle workers, up to the limit.
        if (queue_.size() + 1 > idle_ && threads_.size() < max_threads_ &&
            !start_thread(why, sizeof why))
            no_thread = threads_.empty();
        if (!no_thread) {
            item->id = loop_->new_id();  // from the loop's calls' count: never one of theirs
            items_.emplace(item->id, item.get());  // bad_alloc: nothing queued
            try {
                queue_.push_back(item.get());
            } catch (...) {
                items_.erase(item->id);
                throw;
            }
        }
    }
    if (why[0])
        log(LogLevel::warning, "executor: cannot start a worker thread (%s); %s", why,
            no_thread ? "the work is refused" : "the running ones take the work");
    if (no_thread) return 0;
    wake_.notify_one();
    return item.release()->id;
}

bool Executor::start_thread(char *why, size_t why_size) {
    // Workers take no signals: the process's signal handlers (eddy_signal) stay with the loop.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    bool started = true;
    try {
        threads_.reserve(threads_.size() + 1);
        threads_.emplace_back([this] { worker(); });
    } catch (const std::system_error &e) {
        snprintf(why, why_size, "%s", e.what());
        started = false;
    } catch (const std::bad_alloc &) {
        snprintf(why, why_size, "out of memory");
        started = false;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return started;
}

void Executor::worker() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        while (queue_.empty() && !stopping_) {
            idle_++;
            wake_.wait(lock);
            idle_--;
        }
        if (stopping_) return;  // what is still queued is dropped by the destructor
        Item *item = queue_.front();
        queue_.pop_front();
        item->state = State::running;
        lock.unlock();
        item->work(item->userdata);
        lock.lock();
        item->state = State::finished;
        loop_->post_threadsafe(&item->delivery);  // the item is the loop's from here on
    }
}

int Executor::cancel(eddy_call_id id) {
    auto found = items_.find(id);
    if (found == items_.end()) return EDDY_ENOENT;
    Item *item = found->second;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (item->state != State::queued) return EDDY_EBUSY;
        queue_.erase(std::find(queue_.begin(), queue_.end(), item));
        item->state = State::finished;
        item->status = EDDY_ECANCELED;
    }
    loop_->post_threadsafe(&item->delivery);  // `done` runs later, as after work
    return 0;
}

void Executor::deliver(ForeignTask *task) {
    Item *item = static_cast<Item *>(task->owner);
    item->executor->items_.erase(item->id);
    if (item->done) item->done(item->executor->loop_->as_c(), item->status, item->userdata);
}

void Executor::release(ForeignTask *task) {
    Item *item = static_cast<Item *>(task->owner);
    if (item->free_userdata) item->free_userdata(item->userdata);
    delete item;
}

}  // namespace eddy
