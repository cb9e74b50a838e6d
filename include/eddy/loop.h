/* eddy — the event loop (Tornado's IOLoop).
 *
 * One loop per thread. A loop owns fd watches, timers, signal handlers, periodic callbacks and
 * the ready queue of callbacks. Everything here must be called on the loop's own thread, except
 * eddy_loop_call_soon_threadsafe() and eddy_loop_stop() ("Thread: any").
 *
 * Time is the loop's monotonic clock in seconds (eddy_loop_time()), as in Tornado's
 * IOLoop.time(); it does not jump when the wall clock is changed.
 */
#ifndef EDDY_LOOP_H
#define EDDY_LOOP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_loop eddy_loop;
typedef struct eddy_watch eddy_watch;
typedef struct eddy_signal eddy_signal;
typedef struct eddy_periodic eddy_periodic;

/* Identifies a pending call_soon/call_later/call_at callback for eddy_loop_cancel().
 * Ids are never reused within one loop; 0 is never a valid id. */
typedef uint64_t eddy_call_id;

/* A callback run by the loop. */
typedef void (*eddy_loop_fn)(eddy_loop *loop, void *userdata);

/* Readiness bits for fd watches. */
#define EDDY_READABLE 0x1
#define EDDY_WRITABLE 0x2

/* ---- life cycle ------------------------------------------------------------------------- */

/* Creates a loop. The calling thread becomes the loop's thread (the one allowed to use it).
 * Returns: the loop, or NULL when out of memory or when the system refuses an fd. */
EDDY_API eddy_loop *eddy_loop_new(void);

/* Frees the loop. Pending callbacks never run; their userdata is released through their free
 * functions (calls that those free functions schedule or post are released the same way).
 * Watches, signals, periodics, streams and WebSocket connections still open are
 * freed the same way (their handles become invalid); a stream's queued output goes to the socket
 * first, as far as it takes it without waiting (not past a queued file, nor a TLS handshake not
 * yet done; no close_notify), and a WebSocket connection still open queues a close frame with
 * 1001 (Going Away) before it. Servers, apps, HTTP clients and listeners
 * are closed without callbacks (userdata released, fetches in flight dropped) but stay valid
 * handles: free them with their own free function, before or after the loop — both orders are
 * safe (libuv instead refuses to close a loop with open handles). Requests of an eddy_server the
 * application still holds (not finished: detached, long polls, streams; or answered by the
 * server and not yet finished), also those of a server freed before, are released with the
 * loop: their userdata through its free function, without a close callback, and their
 * eddy_request handles become invalid (do not finish them afterwards) — a binding finishes its
 * requests through the loop, so this is where it frees its per-request state. So are requests
 * finished but still waiting for a flush callback (a client that does not read the answer).
 * Write and flush completions still pending (eddy_stream_write, eddy_request_flush,
 * eddy_ws_write_message) are dropped uncalled: they take no state of their own, and the
 * userdata they would get is released once with its stream, request or connection. Web
 * handlers the application detached and has not finished, or finished with a flush callback
 * still pending, and the handlers of WebSocket routes whose connection is still open (or whose
 * handshake has not been answered yet: no 101 is sent then, and `open` never runs), are
 * released the same way (their userdata through its free function, no on_finish or
 * on_connection_close; the eddy_handler handles become invalid), whether their app was freed
 * before or not. Work given to
 * eddy_loop_run_in_executor that has not started is dropped; work running now is waited for.
 * Must not be called from inside a callback of this loop. Passing NULL does nothing. */
EDDY_API void eddy_loop_free(eddy_loop *loop);

/* Runs the loop until eddy_loop_stop() is called. Returns 0 after a stop, EDDY_ESTATE when the
 * loop is already running (re-entrant run), EDDY_EIO when the backend fails, or EDDY_ENOMEM
 * when out of memory where nothing could recover.
 * Note: unlike libuv, an empty loop keeps running (Tornado's IOLoop.start() semantics). */
EDDY_API int eddy_loop_run(eddy_loop *loop);

/* Runs one iteration: waits up to `timeout_ms` (0 = do not wait, -1 = until something is
 * ready) for I/O or a timer, then runs everything that is due, including the ready queue as it
 * was when the iteration started. Used by hosts that drive the loop from their own event loop.
 * A stop requested before or during it is kept for the next eddy_loop_run().
 * Returns: 0, EDDY_EINVAL (NULL loop, timeout_ms below -1), EDDY_ESTATE when called
 * re-entrantly, EDDY_EIO on backend failure, EDDY_ENOMEM as eddy_loop_run(). */
EDDY_API int eddy_loop_run_once(eddy_loop *loop, int timeout_ms);

/* After fork(), in the child: gives a loop that never ran fds of its own (libevent's
 * event_reinit: a new epoll fd and signal socketpair; a new wake-up eventfd and timerfd), so the
 * child no longer shares them with the parent — sharing an epoll fd would let one process take
 * the other's events. Everything made on the loop (watches, timers, callbacks, servers, apps)
 * stays valid and is registered again; eddy_loop_backend_fd() changes. The parent's loop is not
 * touched: it may go on, or be freed, in the parent. For Tornado's bind/start(n) pattern, where
 * the loop was created before the fork but is only run after it.
 * Thread: the loop's (the thread that forked). Call it before any other use of the loop in the
 * child, and at most once per fork.
 * Returns: 0; EDDY_EINVAL for NULL; EDDY_ESTATE when the loop is running or has ever run
 * (eddy_loop_run / eddy_loop_run_once: work may be half done or posted to threads that the fork
 * did not copy; make the loop after forking instead), or has worker threads
 * (eddy_loop_run_in_executor, eddy_loop_set_executor_threads); EDDY_EIO when the system refuses
 * an fd (the loop is then unusable: free it). A name lookup started before the fork (a connect
 * to a host name) never completes in the child. */
EDDY_API int eddy_loop_reinit(eddy_loop *loop);

/* Asks the loop to return from eddy_loop_run() after the current iteration. A stop requested
 * while the loop is not running makes the next eddy_loop_run() return after one iteration.
 * Thread: any. Safe from a signal handler only through eddy_signal, not directly. */
EDDY_API void eddy_loop_stop(eddy_loop *loop);

/* Returns the loop's monotonic time in seconds (CLOCK_MONOTONIC: the clock the loop's
 * timers and eddy_loop_call_at use). Thread: any (it reads the clock, not the loop's state:
 * `loop` may be NULL, or a loop already freed). */
EDDY_API double eddy_loop_time(const eddy_loop *loop);

/* ---- embedding -------------------------------------------------------------------------- */

/* Returns an fd that becomes readable whenever the loop has I/O, a cross-thread call or a
 * stop request to process, or -1 when the backend has no such fd. A host poll()s it for
 * readability together with its own fds, with the timeout eddy_loop_next_timeout() gives,
 * and then calls eddy_loop_run_once(loop, 0). The fd stays owned by the loop. */
EDDY_API int eddy_loop_backend_fd(const eddy_loop *loop);

/* Returns how many milliseconds the host may sleep before eddy_loop_run_once() has work to do:
 * 0 when callbacks are ready now, -1 when nothing is scheduled (wait for the backend fd only),
 * otherwise the time until the earliest timer, rounded up. */
EDDY_API int eddy_loop_next_timeout(const eddy_loop *loop);

/* ---- callbacks and timers --------------------------------------------------------------- */

/* Queues `cb(loop, userdata)` to run on the loop's next iteration, after the callbacks already
 * queued (FIFO). Callbacks queued while the ready queue runs wait for the following iteration,
 * so I/O is never starved.
 * Userdata: handed to `free_userdata` (when not NULL) exactly once — after `cb` ran, when the
 *           call is cancelled, or when the loop is freed first.
 * Returns:  an id for eddy_loop_cancel(), or 0 on failure (NULL loop or cb, out of memory);
 *           on failure `free_userdata` is NOT called — the caller still owns userdata. */
EDDY_API eddy_call_id eddy_loop_call_soon(eddy_loop *loop, eddy_loop_fn cb, void *userdata,
                                          eddy_free_fn free_userdata);

/* Runs `cb` once, `delay` seconds from now (negative or NaN delays count as 0). Callbacks due at
 * the same time run in the order they were scheduled, after the eddy_loop_call_soon()
 * callbacks queued before they came due. Userdata and return value as for
 * eddy_loop_call_soon(). */
EDDY_API eddy_call_id eddy_loop_call_later(eddy_loop *loop, double delay, eddy_loop_fn cb,
                                           void *userdata, eddy_free_fn free_userdata);

/* Runs `cb` once at loop time `when` (see eddy_loop_time()). Same rules as call_later (a NaN
 * `when` counts as now). */
EDDY_API eddy_call_id eddy_loop_call_at(eddy_loop *loop, double when, eddy_loop_fn cb,
                                        void *userdata, eddy_free_fn free_userdata);

/* Cancels a pending call_soon/call_later/call_at. Its userdata is released at once.
 * Returns: 0, or EDDY_ENOENT when the call already ran, is running now, or was cancelled. */
EDDY_API int eddy_loop_cancel(eddy_loop *loop, eddy_call_id id);

/* Queues `cb` like eddy_loop_call_soon(), from any thread, and wakes the loop. Wake-ups
 * coalesce: many posts before the loop wakes cost one wake-up. Callbacks posted from one thread
 * run in the order posted. Posted from the loop's own thread while eddy_loop_run() or
 * eddy_loop_run_once() runs, `cb` joins the ready queue at once, in order with
 * eddy_loop_call_soon() (unless an earlier post of that thread still waits); posted from
 * elsewhere (or before the loop runs), it runs when the loop wakes up, in that iteration, after
 * the callbacks queued before it, so a post followed by eddy_loop_stop() runs before
 * eddy_loop_run() returns. If the loop is freed first, userdata is released (on the thread that
 * frees the loop) and `cb` never runs.
 * Thread: any (this and eddy_loop_stop are the only such functions).
 * Returns: 0, EDDY_EINVAL, or EDDY_ENOMEM (then `free_userdata` is not called). */
EDDY_API int eddy_loop_call_soon_threadsafe(eddy_loop *loop, eddy_loop_fn cb, void *userdata,
                                            eddy_free_fn free_userdata);

/* ---- blocking work on worker threads ------------------------------------------------------ */

/* Work run on a worker thread. It must not call eddy functions other than the "Thread: any"
 * ones (eddy_loop_call_soon_threadsafe, eddy_loop_stop, eddy_loop_time). */
typedef void (*eddy_work_fn)(void *userdata);
/* Called on the loop's thread when the work is over: `status` is 0 after `work` returned, or
 * EDDY_ECANCELED when eddy_loop_cancel_work came first (then `work` never ran). */
typedef void (*eddy_work_done_fn)(eddy_loop *loop, int status, void *userdata);

/* Runs `work(userdata)` on one of the loop's worker threads, then `done(loop, status, userdata)`
 * (may be NULL) on the loop's thread, in a later iteration (Tornado's IOLoop.run_in_executor
 * with the default executor; libuv's uv_queue_work): for blocking calls — a password hash, a
 * synchronous database driver, file system work — that would otherwise stall every connection.
 * The workers are made on first use and stay until the loop is freed, at most
 * eddy_loop_set_executor_threads() of them (4 by default); work items start in the order
 * queued and run concurrently, so `work` must not assume it runs alone; the `done` callbacks
 * run in the order the work finished. The workers block all signals (eddy_signal handlers stay
 * on the loop's thread).
 * Userdata: handed to `free_userdata` (when not NULL) exactly once, on the loop's thread, after
 *           `done` ran — or, when the loop is freed first, then without `done`: eddy_loop_free
 *           drops the work not started yet and waits for the work functions running at that
 *           moment to return (a work function that never returns hangs eddy_loop_free).
 * Returns:  an id for eddy_loop_cancel_work(), or 0 on failure (NULL loop or work, out of
 *           memory, called from a free function while the loop is being freed, or no worker
 *           thread exists and none could be started — a log line says why); on failure
 *           `free_userdata` is NOT called. Thread: the loop's. */
EDDY_API eddy_call_id eddy_loop_run_in_executor(eddy_loop *loop, eddy_work_fn work,
                                                eddy_work_done_fn done, void *userdata,
                                                eddy_free_fn free_userdata);

/* Cancels work queued by eddy_loop_run_in_executor that has not started: it never runs, and its
 * `done` gets EDDY_ECANCELED in a later iteration (then its userdata is released).
 * Returns: 0, EDDY_EBUSY when the work is running, has run or was cancelled already (its `done`
 * is still to come, with 0 or EDDY_ECANCELED), EDDY_ENOENT when the id is unknown (a call id of
 * eddy_loop_call_soon is never a work id) or its `done` already ran, EDDY_EINVAL for a NULL
 * loop.
 * Thread: the loop's. */
EDDY_API int eddy_loop_cancel_work(eddy_loop *loop, eddy_call_id id);

/* Sets how many worker threads eddy_loop_run_in_executor may use (1 to 1024; default 4). A
 * lower limit does not end threads already started; it stops new ones. Returns 0, or
 * EDDY_EINVAL (NULL loop, `threads` out of range), EDDY_ENOMEM, EDDY_ESTATE (while the loop is
 * being freed). Thread: the loop's. */
EDDY_API int eddy_loop_set_executor_threads(eddy_loop *loop, int threads);

/* ---- fd watches ------------------------------------------------------------------------- */

/* Called when `fd` is ready; `events` holds the EDDY_READABLE/EDDY_WRITABLE bits that are.
 * Level-triggered: called again on the next iteration while the condition lasts. */
typedef void (*eddy_watch_fn)(eddy_watch *watch, int fd, int events, void *userdata);

/* Watches `fd` (not owned; never closed by eddy) for the readiness bits in `events` (0 is
 * allowed: the watch exists but is idle). One watch per fd and direction is the caller's duty.
 * Returns: the watch, or NULL (bad arguments, out of memory); on NULL the caller keeps
 * userdata. */
EDDY_API eddy_watch *eddy_watch_new(eddy_loop *loop, int fd, int events, eddy_watch_fn cb,
                                    void *userdata, eddy_free_fn free_userdata);

/* Changes the watched readiness bits. Returns 0 or EDDY_EINVAL / EDDY_EIO. */
EDDY_API int eddy_watch_set_events(eddy_watch *watch, int events);

/* Returns the watched readiness bits. */
EDDY_API int eddy_watch_events(const eddy_watch *watch);

/* Stops and frees the watch, releasing its userdata. Safe inside the watch's own callback.
 * Passing NULL does nothing. */
EDDY_API void eddy_watch_free(eddy_watch *watch);

/* ---- signals ---------------------------------------------------------------------------- */

/* Called on the loop thread after `signum` was delivered (deliveries may coalesce). */
typedef void (*eddy_signal_fn)(eddy_signal *sig, int signum, void *userdata);

/* Handles `signum` on this loop until eddy_signal_free(). Only one loop in a process can handle
 * signals at a time (the backend delivers every signal to a single loop): while signal handlers
 * are registered on one loop, eddy_signal_new() on another loop fails.
 * Returns NULL on bad arguments or failure (caller keeps userdata). */
EDDY_API eddy_signal *eddy_signal_new(eddy_loop *loop, int signum, eddy_signal_fn cb,
                                      void *userdata, eddy_free_fn free_userdata);

/* Stops handling the signal (the default disposition returns) and frees the handle with its
 * userdata. Safe inside its own callback. NULL does nothing. */
EDDY_API void eddy_signal_free(eddy_signal *sig);

/* ---- periodic callbacks (Tornado's PeriodicCallback) ------------------------------------ */

typedef void (*eddy_periodic_fn)(eddy_periodic *periodic, void *userdata);

/* Creates a stopped periodic callback that runs every `interval` seconds once started. As in
 * Tornado, ticks missed because the loop was busy (or the callback itself ran past them) are
 * skipped, not run in a burst.
 * Returns NULL when `interval` is not a finite number > 0 or on failure (caller keeps
 * userdata). */
EDDY_API eddy_periodic *eddy_periodic_new(eddy_loop *loop, double interval, eddy_periodic_fn cb,
                                          void *userdata, eddy_free_fn free_userdata);

/* Starts the periodic callback; the first run is one interval from now. Returns 0, or
 * EDDY_EINVAL for NULL (starting a timer cannot fail, not even out of memory). */
EDDY_API int eddy_periodic_start(eddy_periodic *periodic);

/* Stops it; start again later to resume. Safe inside its own callback. 0 or EDDY_EINVAL. */
EDDY_API int eddy_periodic_stop(eddy_periodic *periodic);

/* Returns 1 while started, 0 otherwise. */
EDDY_API int eddy_periodic_is_running(const eddy_periodic *periodic);

/* Stops and frees it with its userdata. Safe inside its own callback. NULL does nothing. */
EDDY_API void eddy_periodic_free(eddy_periodic *periodic);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_LOOP_H */
