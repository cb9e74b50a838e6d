//! Loop (the thread's event loop) and Remote (its Send + Sync handle for other threads).
use std::cell::{Cell, RefCell};
use std::os::raw::c_int;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use eddy_sys as sys;

use crate::boundary::{free_task, run_task, task_into_raw, task_reclaim, Task};
use crate::error::{check, Error, Result};
use crate::executor::{self, WorkError, WorkId};

/// SIGINT and SIGTERM on Linux, for [`Loop::stop_on_signals`].
pub const SIGINT: c_int = 2;
pub const SIGTERM: c_int = 15;

/// How many loops this crate made are alive in the process (for
/// [`fork_processes`](crate::fork_processes), which must come before any).
static LIVE_LOOPS: AtomicUsize = AtomicUsize::new(0);

/// The number of [`Loop`]s alive in the process (any thread).
pub(crate) fn live_loops() -> usize {
    LIVE_LOOPS.load(Ordering::SeqCst)
}

/// The loop pointer as other threads see it: `None` once the loop is freed.
struct Shared {
    ptr: Mutex<Option<LoopPtr>>,
}

struct LoopPtr(*mut sys::eddy_loop);
// SAFETY: other threads only pass the pointer to the two thread-safe functions
// (eddy_loop_call_soon_threadsafe, eddy_loop_stop), under the mutex that Drop takes before
// freeing the loop.
unsafe impl Send for LoopPtr {}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<LoopPtr>> {
        self.ptr
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A free put off by [`Loop::defer_free`]: taken by whoever runs it first, the loop's next
/// iteration or the loop's Drop.
type DeferredFree = Cell<Option<Box<dyn FnOnce()>>>;

struct Inner {
    ptr: *mut sys::eddy_loop,
    shared: Arc<Shared>,
    /// The frees put off by [`Loop::defer_free`] whose call has not run yet (the call holds the
    /// only strong reference; a dead Weak is one that ran). Drop runs what is left: those of
    /// `deferred_frees` before `eddy_loop_free`, those of `deferred_frees_after` after it.
    deferred_frees: RefCell<Vec<Weak<DeferredFree>>>,
    deferred_frees_after: RefCell<Vec<Weak<DeferredFree>>>,
}

impl Inner {
    /// Runs the deferred frees of `list` whose iteration never came. A free may defer another
    /// (a C free whose userdata drop drops an object on this loop...), so this repeats until
    /// none is left.
    fn run_deferred_frees(list: &RefCell<Vec<Weak<DeferredFree>>>) {
        loop {
            let pending = std::mem::take(&mut *list.borrow_mut());
            if pending.is_empty() {
                return;
            }
            for free in pending.iter().filter_map(Weak::upgrade) {
                if let Some(f) = free.take() {
                    f();
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // What was dropped inside a callback and left for the next iteration (an App) is freed
        // now, before the loop, as when dropped outside the callbacks: freeing the loop would
        // drop those calls unrun and leak the C objects. Not inside a callback of this loop
        // (see below), so the C frees take effect at once.
        Inner::run_deferred_frees(&self.deferred_frees);
        // An HttpClient dropped inside a callback: freed after the loop, which closes it without
        // calling its fetches back (as for every client the loop outlives). Taken out now: the
        // loop's free drops the pending calls that hold them.
        let after: Vec<_> = std::mem::take(&mut *self.deferred_frees_after.borrow_mut())
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|free| free.take())
            .collect();
        // Other threads see the loop gone before it is freed; the lock is released before the
        // free so that closures dropped by it may still try (and fail) to post.
        *self.shared.lock() = None;
        // SAFETY: the last Loop handle is gone; a handle is alive outside any callback while the
        // loop runs (run borrows it), so this is never inside one of this loop's callbacks.
        unsafe { sys::eddy_loop_free(self.ptr) };
        LIVE_LOOPS.fetch_sub(1, Ordering::SeqCst);
        for free in after {
            free();
        }
    }
}

/// An event loop: one per thread, used only on the thread that created it (the type is not
/// `Send`). Clones are handles to the same loop, which is freed with the last one (or by
/// [`Loop::close`] on the last one). Callbacks still pending then never run (their closures are
/// dropped).
///
/// A pending callback owns its closure, so a closure that holds a `Loop` clone keeps the loop
/// alive until it has run: a `call_later(3600.0, ...)` holding one keeps the loop (and its fds)
/// for an hour after every other handle is gone. Capture [`Loop::downgrade`] instead and
/// upgrade inside the closure.
#[derive(Clone)]
pub struct Loop {
    inner: Rc<Inner>,
}

/// The id of a pending [`Loop::call_soon`] / [`Loop::call_later`] / [`Loop::call_at`], for
/// [`Loop::cancel`] (Tornado's timeout handle for `remove_timeout`). Ids are never reused
/// within one loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallId(u64);

impl Loop {
    /// Creates a loop owned by the calling thread.
    pub fn new() -> Result<Loop> {
        // SAFETY: no preconditions.
        let ptr = unsafe { sys::eddy_loop_new() };
        if ptr.is_null() {
            return Err(Error::NO_MEMORY);
        }
        LIVE_LOOPS.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::new(Shared {
            ptr: Mutex::new(Some(LoopPtr(ptr))),
        });
        Ok(Loop {
            inner: Rc::new(Inner {
                ptr,
                shared,
                deferred_frees: RefCell::new(Vec::new()),
                deferred_frees_after: RefCell::new(Vec::new()),
            }),
        })
    }

    /// Runs `free` (a C object's free) on the next iteration, for an object dropped inside a
    /// callback that may be its own: no eddy frame above sees it vanish. If the loop is freed
    /// before that iteration (stopped in the same one, say), `free` runs then, just before
    /// `eddy_loop_free`, instead of being dropped unrun with the pending calls. Err(NO_MEMORY)
    /// when the call cannot be scheduled (`free` is dropped unrun: free at once then).
    pub(crate) fn defer_free(&self, free: impl FnOnce() + 'static) -> Result<()> {
        self.defer_free_into(&self.inner.deferred_frees, Box::new(free))
    }

    /// As [`Loop::defer_free`], but a free the loop's Drop has to run comes just after
    /// `eddy_loop_free` (an HTTP client: freed before the loop, it would call its fetches back
    /// with CANCELED while the loop goes; after it, they were dropped uncalled, as for every
    /// client the loop outlives).
    pub(crate) fn defer_free_after_loop(&self, free: impl FnOnce() + 'static) -> Result<()> {
        self.defer_free_into(&self.inner.deferred_frees_after, Box::new(free))
    }

    fn defer_free_into(
        &self,
        list: &RefCell<Vec<Weak<DeferredFree>>>,
        free: Box<dyn FnOnce()>,
    ) -> Result<()> {
        let slot: Rc<DeferredFree> = Rc::new(Cell::new(Some(free)));
        let weak = Rc::downgrade(&slot);
        self.call_soon(move || {
            if let Some(f) = slot.take() {
                f();
            }
        })?;
        let mut pending = list.borrow_mut();
        // Forget those that ran, so that the list stays as short as what is pending.
        pending.retain(|w| w.strong_count() > 0);
        pending.push(weak);
        Ok(())
    }

    /// Frees the loop now (Tornado's `IOLoop.close()`), where dropping a handle frees it only
    /// when it is the last one.
    ///
    /// Ownership: consumes this handle. The loop is freed only if this is its last `Loop`
    /// handle: other clones, every [`App`](crate::App), [`HttpClient`](crate::HttpClient),
    /// [`TcpServer`](crate::TcpServer) and [`PeriodicCallback`](crate::PeriodicCallback)
    /// made on it, and pending closures that captured a clone each hold one (drop those first;
    /// give closures a [`WeakLoop`]). Otherwise nothing is freed, this handle is dropped and the
    /// loop lives on with the others (freed with the last one, as without `close`).
    ///
    /// What goes with the loop (`eddy_loop_free`): an [`App`](crate::App) dropped inside a
    /// callback, whose free waited for the next iteration, is freed first (before the loop, as
    /// if dropped outside the callbacks), an [`HttpClient`](crate::HttpClient) so dropped just
    /// after it (its fetches in flight dropped uncalled); pending `call_soon` / `call_later`
    /// closures are dropped without running, and so are closures posted through a [`Remote`]
    /// that have not run; [`run_in_executor`](Loop::run_in_executor) work not started is
    /// dropped unrun, work running is waited for, and their `done` closures are dropped
    /// uncalled; WebSocket connections still open are freed without `on_close`, their
    /// peers sent a close frame with 1001 (a [`WsSender`](crate::WsSender) then does nothing);
    /// open [`Stream`](crate::Stream)s are closed and freed without their close closures (their
    /// closures dropped, their handles then `Err(CLOSED)`), a pending [`connect`](crate::connect)'s
    /// closure dropped uncalled; a [`Subprocess`](crate::process::Subprocess) whose child still
    /// runs is let go: its exit closure dropped uncalled, the child left running (and no longer
    /// reaped), its `kill` then `Err(CLOSED)`; [`Remote::call_soon`] returns
    /// `Err(CLOSED)`, [`Remote::is_alive`] is false and [`WeakLoop::upgrade`] gives `None`
    /// from then on.
    ///
    /// Thread: the loop's (a `Loop` is not `Send`), and neither inside one of its callbacks nor
    /// while [`Loop::run`] runs (Tornado: stop, let `start` return, then close): both hold
    /// another handle, so `close` is refused there.
    ///
    /// Errors: `Err(BUSY)` when another handle exists (the cases above); the loop is not freed.
    ///
    /// ```
    /// let lp = eddy::Loop::new().unwrap();
    /// let remote = lp.remote();
    /// lp.call_later(3600.0, || unreachable!()).unwrap(); // dropped, never run
    /// lp.close().unwrap();
    /// assert!(!remote.is_alive());
    /// ```
    pub fn close(self) -> Result<()> {
        match Rc::try_unwrap(self.inner) {
            // Inner's Drop frees the loop (and tells the Remotes first).
            Ok(inner) => {
                drop(inner);
                Ok(())
            }
            Err(_shared) => Err(Error::BUSY),
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::eddy_loop {
        self.inner.ptr
    }

    /// Runs until [`Loop::stop`] or [`Remote::stop`]. Err(STATE) when already running.
    pub fn run(&self) -> Result<()> {
        // SAFETY: a live loop on its own thread.
        check(unsafe { sys::eddy_loop_run(self.inner.ptr) })
    }

    /// Makes [`Loop::run`] return after the current iteration.
    pub fn stop(&self) {
        // SAFETY: a live loop.
        unsafe { sys::eddy_loop_stop(self.inner.ptr) }
    }

    /// The loop's monotonic time in seconds (Tornado's `IOLoop.time()`): the clock
    /// [`Loop::call_at`] takes and timers run on. It does not jump when the wall clock is
    /// changed; its zero is arbitrary (compare it only with itself).
    pub fn time(&self) -> f64 {
        // SAFETY: a live loop.
        unsafe { sys::eddy_loop_time(self.inner.ptr) }
    }

    /// Runs `f` on the next iteration (FIFO). A panic in `f` is logged; the loop goes on.
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Result<CallId> {
        self.schedule(When::Soon, Box::new(f))
    }

    /// Runs `f` once, `seconds` from now (Tornado's `IOLoop.call_later`; a negative or NaN
    /// delay counts as 0). Calls due at the same time run in the order they were scheduled.
    pub fn call_later(&self, seconds: f64, f: impl FnOnce() + 'static) -> Result<CallId> {
        self.schedule(When::Later(seconds), Box::new(f))
    }

    /// Runs `f` once when the loop's clock ([`Loop::time`]) reaches `when` (Tornado's
    /// `IOLoop.call_at`, over `eddy_loop_call_at`); a time already past runs on the next
    /// iteration. Calls due at the same time run in the order they were scheduled, whether
    /// by `call_at` or [`Loop::call_later`] (`call_later(d, f)` is `call_at(lp.time() + d, f)`).
    ///
    /// Ownership: `f` is owned by the loop until it ran, was [`cancel`](Loop::cancel)led, or
    /// the loop was freed (then it is dropped unrun); a clone of the `Loop` inside `f` keeps
    /// the loop alive until then (capture a [`WeakLoop`]). Thread: the loop's; `f` runs there.
    /// A panic in `f` is logged (`eddy: error: a loop callback panicked: ...`) and the loop
    /// goes on.
    ///
    /// Errors: `Err(INVALID)` when `when` is NaN (`f` is dropped); `Err(NO_MEMORY)`.
    ///
    /// ```
    /// let lp = eddy::Loop::new().unwrap();
    /// let weak = lp.downgrade();
    /// let id = lp.call_at(lp.time() + 0.01, move || weak.upgrade().unwrap().stop()).unwrap();
    /// # let w = lp.downgrade(); lp.call_later(10.0, move || w.upgrade().unwrap().stop()).unwrap();
    /// lp.run().unwrap();
    /// assert_eq!(lp.cancel(id), Err(eddy::Error::NOT_FOUND)); // it ran
    /// ```
    pub fn call_at(&self, when: f64, f: impl FnOnce() + 'static) -> Result<CallId> {
        if when.is_nan() {
            return Err(Error::INVALID);
        }
        self.schedule(When::At(when), Box::new(f))
    }

    fn schedule(&self, when: When, task: Task) -> Result<CallId> {
        let ud = task_into_raw(task);
        let lp = self.inner.ptr;
        let (cb, free): (sys::eddy_loop_fn, sys::eddy_free_fn) = (Some(run_task), Some(free_task));
        // SAFETY: a live loop; ud is released by free_task exactly once, unless C refuses it.
        let id = unsafe {
            match when {
                When::Soon => sys::eddy_loop_call_soon(lp, cb, ud, free),
                When::Later(d) => sys::eddy_loop_call_later(lp, d, cb, ud, free),
                When::At(t) => sys::eddy_loop_call_at(lp, t, cb, ud, free),
            }
        };
        if id == 0 {
            // SAFETY: C did not take ud.
            unsafe { task_reclaim(ud) };
            return Err(Error::NO_MEMORY);
        }
        Ok(CallId(id))
    }

    /// Cancels a pending [`call_soon`](Loop::call_soon), [`call_later`](Loop::call_later) or
    /// [`call_at`](Loop::call_at) (Tornado's `remove_timeout`); its closure is dropped now.
    /// Err(NOT_FOUND) when it already ran, is running, or was cancelled.
    pub fn cancel(&self, id: CallId) -> Result<()> {
        // SAFETY: a live loop.
        check(unsafe { sys::eddy_loop_cancel(self.inner.ptr, id.0) })
    }

    /// Runs `work` on one of the loop's worker threads, then `done` with its result on the
    /// loop's thread, in a later iteration (Tornado's `IOLoop.run_in_executor` with the default
    /// executor; `eddy_loop_run_in_executor`): for blocking calls (a password hash, a
    /// synchronous database driver, file system work) that would otherwise stall every
    /// connection. The workers are made on first use and stay until the loop is freed, at most
    /// [`set_executor_threads`](Loop::set_executor_threads) of them (4 by default); work starts
    /// in the order queued and runs concurrently with other work, so `work` must not assume it
    /// runs alone.
    ///
    /// `done` gets `Ok(value)` with what `work` returned, `Err(WorkError::Canceled)` when
    /// [`cancel_work`](Loop::cancel_work) came first (then `work` never ran), or
    /// `Err(WorkError::Panicked(payload))` when `work` panicked (the panic is caught on the
    /// worker thread, logged there as `eddy: error: a work function panicked: ...`, and never
    /// reaches C; the worker goes on with the next work).
    ///
    /// Threads: `work` and its result `T` cross to a worker thread and back, hence `Send`;
    /// `work` may use a [`Remote`] but nothing else of eddy. `done` is never sent: it is
    /// called and dropped on the loop's thread only. A panic in `done` is logged
    /// (`eddy: error: a loop callback panicked: ...`) and the loop goes on.
    ///
    /// Ownership: the loop owns both closures until `done` ran. When the loop is freed first
    /// (its last handle dropped, [`Loop::close`]), work not started is dropped unrun and work
    /// running then is waited for (a `work` that never returns hangs the free; it may check
    /// [`Remote::is_alive`]), and `done` is dropped uncalled, with any result. A clone of the
    /// `Loop` inside `done` keeps the loop alive until then (capture a [`WeakLoop`]).
    ///
    /// Errors: `Err(NO_MEMORY)` when the work cannot be queued (out of memory, or no worker
    /// thread exists and none could be started; a log line says why); both closures are then
    /// dropped unrun.
    ///
    /// ```
    /// let lp = eddy::Loop::new().unwrap();
    /// let weak = lp.downgrade();
    /// lp.run_in_executor(
    ///     || (1..=10u64).product::<u64>(), // on a worker thread
    ///     move |result| {
    ///         // on the loop's thread
    ///         assert_eq!(result.unwrap(), 3_628_800);
    ///         weak.upgrade().unwrap().stop();
    ///     },
    /// )
    /// .unwrap();
    /// lp.run().unwrap();
    /// ```
    ///
    /// `work` goes to another thread, so what it captures must be `Send` (`done` may hold an
    /// `Rc`, it stays on the loop's thread):
    /// ```compile_fail,E0277
    /// let lp = eddy::Loop::new().unwrap();
    /// let shared = std::rc::Rc::new(5);
    /// lp.run_in_executor(move || *shared * 2, |_| {}); // error: Rc cannot be sent between threads
    /// ```
    pub fn run_in_executor<T, W, D>(&self, work: W, done: D) -> Result<WorkId>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(std::result::Result<T, WorkError>) + 'static,
    {
        executor::submit(self.inner.ptr, work, done)
    }

    /// Cancels work queued by [`run_in_executor`](Loop::run_in_executor) that no worker has
    /// started: it never runs (its closure is dropped), and its `done` gets
    /// `Err(WorkError::Canceled)` in a later iteration. Work already running cannot be stopped
    /// (Tornado's `Future.cancel()` on an executor future, which is False then too).
    ///
    /// Errors: `Err(BUSY)` when the work is running or has run (its `done` still comes, with
    /// the result); `Err(NOT_FOUND)` when its `done` already ran. Thread: the loop's.
    pub fn cancel_work(&self, id: WorkId) -> Result<()> {
        // SAFETY: a live loop on its own thread.
        check(unsafe { sys::eddy_loop_cancel_work(self.inner.ptr, id.0) })
    }

    /// Sets how many worker threads [`run_in_executor`](Loop::run_in_executor) may use (1 to
    /// 1024; 4 by default), like the `max_workers` of the executor Tornado's
    /// `IOLoop.set_default_executor` takes. A lower limit does not end threads already started;
    /// it stops new ones.
    ///
    /// Errors: `Err(INVALID)` when `threads` is 0 or over 1024; `Err(NO_MEMORY)`. Thread: the
    /// loop's.
    ///
    /// ```
    /// let lp = eddy::Loop::new().unwrap();
    /// lp.set_executor_threads(2).unwrap();
    /// assert_eq!(lp.set_executor_threads(0), Err(eddy::Error::INVALID));
    /// ```
    pub fn set_executor_threads(&self, threads: usize) -> Result<()> {
        let threads = c_int::try_from(threads).map_err(|_| Error::INVALID)?;
        // SAFETY: a live loop on its own thread.
        check(unsafe { sys::eddy_loop_set_executor_threads(self.inner.ptr, threads) })
    }

    /// A handle that does not keep the loop alive (for closures the loop itself holds, see
    /// above): [`WeakLoop::upgrade`] gives the loop back while it exists.
    pub fn downgrade(&self) -> WeakLoop {
        WeakLoop {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// A handle that other threads use to post work to this loop or stop it.
    pub fn remote(&self) -> Remote {
        Remote {
            shared: self.inner.shared.clone(),
        }
    }

    /// Stops the loop when one of `signals` (e.g. [`SIGINT`], [`SIGTERM`]) arrives. The
    /// handlers live as long as the loop. Only one loop per process can handle signals.
    pub fn stop_on_signals(&self, signals: &[c_int]) -> Result<()> {
        unsafe extern "C" fn on_signal(
            _sig: *mut sys::eddy_signal,
            _num: c_int,
            ud: *mut std::os::raw::c_void,
        ) {
            // SAFETY: ud is the loop, which outlives its signal handles (it frees them).
            sys::eddy_loop_stop(ud as *mut sys::eddy_loop);
        }
        for &signum in signals {
            // SAFETY: a live loop; no userdata to free (the loop pointer is borrowed).
            let sig = unsafe {
                sys::eddy_signal_new(
                    self.inner.ptr,
                    signum,
                    Some(on_signal),
                    self.inner.ptr as *mut _,
                    None,
                )
            };
            if sig.is_null() {
                return Err(Error::INVALID);
            }
        }
        Ok(())
    }
}

/// When a scheduled closure runs.
enum When {
    Soon,
    Later(f64),
    At(f64),
}

/// A [`Loop`] handle that does not keep the loop alive (from [`Loop::downgrade`]).
#[derive(Clone)]
pub struct WeakLoop {
    inner: Weak<Inner>,
}

impl WeakLoop {
    /// The loop, while some [`Loop`] handle still exists.
    pub fn upgrade(&self) -> Option<Loop> {
        self.inner.upgrade().map(|inner| Loop { inner })
    }
}

/// A handle to a [`Loop`] for other threads: `Send + Sync + Clone`. Posting after the loop
/// was freed fails with Err(CLOSED) (the closure is dropped).
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    /// Runs `f` on the loop's thread soon (eddy_loop_call_soon_threadsafe). Posts from one
    /// thread run in the order posted.
    pub fn call_soon(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let guard = self.shared.lock();
        let lp = match guard.as_ref() {
            Some(p) => p.0,
            None => {
                drop(guard);
                return Err(Error::CLOSED);
            }
        };
        let ud = task_into_raw(Box::new(f));
        // SAFETY: the loop is alive while we hold the lock; ud is freed by C once, or by us.
        let rc =
            unsafe { sys::eddy_loop_call_soon_threadsafe(lp, Some(run_task), ud, Some(free_task)) };
        drop(guard);
        if rc != 0 {
            // SAFETY: C did not take ud (dropped outside the lock: the closure may post again).
            unsafe { task_reclaim(ud) };
            return Err(Error::from_code(rc));
        }
        Ok(())
    }

    /// Asks the loop to stop (thread-safe). Does nothing once the loop is freed.
    pub fn stop(&self) {
        if let Some(p) = self.shared.lock().as_ref() {
            // SAFETY: alive under the lock; eddy_loop_stop is thread-safe.
            unsafe { sys::eddy_loop_stop(p.0) }
        }
    }

    /// True while the loop exists.
    pub fn is_alive(&self) -> bool {
        self.shared.lock().is_some()
    }
}

#[allow(dead_code)]
fn _assert_remote_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Remote>();
}
