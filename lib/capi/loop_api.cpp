// extern "C" shims for eddy/loop.h: argument checks, then the C++ loop.
#include <cmath>

#include "eddy/loop.h"
#include "loop/executor.hpp"
#include "loop/handles.hpp"
#include "loop/loop.hpp"
#include "util/no_throw.hpp"

using eddy::Loop;

namespace {
Loop *L(eddy_loop *loop) { return Loop::from_c(loop); }
}  // namespace

extern "C" {

EDDY_API eddy_loop *eddy_loop_new(void) {
    Loop *loop = eddy::no_throw("eddy_loop_new", nullptr, [] { return Loop::create(); });
    return loop ? loop->as_c() : nullptr;
}

EDDY_API void eddy_loop_free(eddy_loop *loop) {
    if (!loop) return;
    eddy::ran_without_exception("eddy_loop_free", [&] { delete L(loop); });
}

// The loop's callbacks stop their own exceptions; these catch only what slipped past them,
// so that it ends the run with EDDY_ENOMEM instead of the process.
EDDY_API int eddy_loop_run(eddy_loop *loop) {
    if (!loop) return EDDY_EINVAL;
    return eddy::no_throw("eddy_loop_run", EDDY_ENOMEM, [&] { return L(loop)->run(); });
}

EDDY_API int eddy_loop_run_once(eddy_loop *loop, int timeout_ms) {
    if (!loop || timeout_ms < -1) return EDDY_EINVAL;
    return eddy::no_throw("eddy_loop_run_once", EDDY_ENOMEM,
                          [&] { return L(loop)->run_once(timeout_ms); });
}

EDDY_API int eddy_loop_reinit(eddy_loop *loop) {
    if (!loop) return EDDY_EINVAL;
    return eddy::no_throw("eddy_loop_reinit", EDDY_ENOMEM,
                          [&] { return L(loop)->reinit_after_fork(); });
}

EDDY_API void eddy_loop_stop(eddy_loop *loop) {
    if (loop) L(loop)->stop();
}

EDDY_API double eddy_loop_time(const eddy_loop *loop) {
    (void)loop;
    return Loop::now();
}

EDDY_API int eddy_loop_backend_fd(const eddy_loop *loop) {
    return loop ? Loop::from_c(loop)->backend_fd() : -1;
}

EDDY_API int eddy_loop_next_timeout(const eddy_loop *loop) {
    return loop ? Loop::from_c(loop)->next_timeout() : -1;
}

EDDY_API eddy_call_id eddy_loop_call_soon(eddy_loop *loop, eddy_loop_fn cb, void *userdata,
                                          eddy_free_fn free_userdata) {
    if (!loop || !cb) return 0;
    return eddy::no_throw("eddy_loop_call_soon", 0,
                          [&] { return L(loop)->call_soon(cb, userdata, free_userdata); });
}

EDDY_API eddy_call_id eddy_loop_call_later(eddy_loop *loop, double delay, eddy_loop_fn cb,
                                           void *userdata, eddy_free_fn free_userdata) {
    if (!loop || !cb) return 0;
    if (!(delay > 0)) delay = 0;  // negative and NaN count as 0
    return eddy::no_throw("eddy_loop_call_later", 0, [&] {
        return L(loop)->call_at(Loop::now() + delay, cb, userdata, free_userdata);
    });
}

EDDY_API eddy_call_id eddy_loop_call_at(eddy_loop *loop, double when, eddy_loop_fn cb,
                                        void *userdata, eddy_free_fn free_userdata) {
    if (!loop || !cb) return 0;
    return eddy::no_throw("eddy_loop_call_at", 0,
                          [&] { return L(loop)->call_at(when, cb, userdata, free_userdata); });
}

EDDY_API int eddy_loop_cancel(eddy_loop *loop, eddy_call_id id) {
    if (!loop) return EDDY_EINVAL;
    return L(loop)->cancel(id);
}

EDDY_API int eddy_loop_call_soon_threadsafe(eddy_loop *loop, eddy_loop_fn cb, void *userdata,
                                            eddy_free_fn free_userdata) {
    if (!loop || !cb) return EDDY_EINVAL;
    return eddy::no_throw("eddy_loop_call_soon_threadsafe", EDDY_ENOMEM, [&] {
        return L(loop)->call_soon_threadsafe(cb, userdata, free_userdata);
    });
}

// ---- worker threads --------------------------------------------------------------------------

EDDY_API eddy_call_id eddy_loop_run_in_executor(eddy_loop *loop, eddy_work_fn work,
                                                eddy_work_done_fn done, void *userdata,
                                                eddy_free_fn free_userdata) {
    if (!loop || !work) return 0;
    return eddy::no_throw("eddy_loop_run_in_executor", eddy_call_id{0}, [&] {
        eddy::Executor *executor = L(loop)->executor();
        return executor ? executor->submit(work, done, userdata, free_userdata) : 0;
    });
}

EDDY_API int eddy_loop_cancel_work(eddy_loop *loop, eddy_call_id id) {
    if (!loop) return EDDY_EINVAL;
    eddy::Executor *executor = L(loop)->executor_if_made();
    return executor ? executor->cancel(id) : EDDY_ENOENT;
}

EDDY_API int eddy_loop_set_executor_threads(eddy_loop *loop, int threads) {
    if (!loop || threads < 1 || threads > 1024) return EDDY_EINVAL;
    return eddy::no_throw("eddy_loop_set_executor_threads", EDDY_ENOMEM, [&]() -> int {
        eddy::Executor *executor = L(loop)->executor();
        if (!executor) return EDDY_ESTATE;
        executor->set_max_threads(static_cast<size_t>(threads));
        return 0;
    });
}

// ---- watches ---------------------------------------------------------------------------------

EDDY_API eddy_watch *eddy_watch_new(eddy_loop *loop, int fd, int events, eddy_watch_fn cb,
                                    void *userdata, eddy_free_fn free_userdata) {
    eddy::Watch *w = eddy::no_throw("eddy_watch_new", nullptr, [&] {
        return eddy::Watch::create(L(loop), fd, events, cb, userdata, free_userdata);
    });
    return reinterpret_cast<eddy_watch *>(w);
}

EDDY_API int eddy_watch_set_events(eddy_watch *watch, int events) {
    if (!watch) return EDDY_EINVAL;
    return reinterpret_cast<eddy::Watch *>(watch)->set_events(events);
}

EDDY_API int eddy_watch_events(const eddy_watch *watch) {
    return watch ? reinterpret_cast<const eddy::Watch *>(watch)->events() : 0;
}

EDDY_API void eddy_watch_free(eddy_watch *watch) {
    if (watch) reinterpret_cast<eddy::Watch *>(watch)->destroy();
}

// ---- signals ---------------------------------------------------------------------------------

EDDY_API eddy_signal *eddy_signal_new(eddy_loop *loop, int signum, eddy_signal_fn cb,
                                      void *userdata, eddy_free_fn free_userdata) {
    eddy::Signal *s = eddy::no_throw("eddy_signal_new", nullptr, [&] {
        return eddy::Signal::create(L(loop), signum, cb, userdata, free_userdata);
    });
    return reinterpret_cast<eddy_signal *>(s);
}

EDDY_API void eddy_signal_free(eddy_signal *sig) {
    if (sig) reinterpret_cast<eddy::Signal *>(sig)->destroy();
}

// ---- periodics -------------------------------------------------------------------------------

EDDY_API eddy_periodic *eddy_periodic_new(eddy_loop *loop, double interval, eddy_periodic_fn cb,
                                          void *userdata, eddy_free_fn free_userdata) {
    eddy::Periodic *p = eddy::no_throw("eddy_periodic_new", nullptr, [&] {
        return eddy::Periodic::create(L(loop), interval, cb, userdata, free_userdata);
    });
    return reinterpret_cast<eddy_periodic *>(p);
}

EDDY_API int eddy_periodic_start(eddy_periodic *periodic) {
    if (!periodic) return EDDY_EINVAL;
    reinterpret_cast<eddy::Periodic *>(periodic)->start();  // a timer start cannot fail
    return 0;
}

EDDY_API int eddy_periodic_stop(eddy_periodic *periodic) {
    if (!periodic) return EDDY_EINVAL;
    reinterpret_cast<eddy::Periodic *>(periodic)->stop();
    return 0;
}

EDDY_API int eddy_periodic_is_running(const eddy_periodic *periodic) {
    return periodic && reinterpret_cast<const eddy::Periodic *>(periodic)->running() ? 1 : 0;
}

EDDY_API void eddy_periodic_free(eddy_periodic *periodic) {
    if (periodic) reinterpret_cast<eddy::Periodic *>(periodic)->destroy();
}

}  // extern "C"
