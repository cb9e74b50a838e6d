//! PeriodicCallback (Tornado's `tornado.ioloop.PeriodicCallback`) over eddy_periodic_*, and
//! PeriodicHandle, the non-owning handle its own closure (or others) can stop it with.
//!
//! Ownership: the closure is one `Box` given to eddy_periodic_new as userdata and released
//! by eddy's free callback exactly once, when eddy_periodic_free runs (the PeriodicCallback's
//! Drop). Freed inside its own callback, eddy releases it only after the callback returned,
//! so a closure is never dropped while it runs. The PeriodicCallback holds a `Loop` handle,
//! so the loop (which would free the periodic with it) outlives the C pointer.
use std::cell::RefCell;
use std::os::raw::c_void;
use std::rc::{Rc, Weak};

use eddy_sys as sys;

use crate::boundary::{guard, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::Loop;

/// The userdata of one eddy periodic: the closure. A RefCell because the closure is FnMut;
/// the loop never runs a periodic re-entrantly, so the borrow always succeeds.
type Tick = RefCell<Box<dyn FnMut()>>;

unsafe extern "C" fn run_periodic(_p: *mut sys::eddy_periodic, ud: *mut c_void) {
    // SAFETY: ud is the Box<Tick> made in PeriodicCallback::new; eddy frees it only after
    // this callback returned (also when the closure freed its own periodic).
    let tick = &*(ud as *const Tick);
    let out = guard(|| match tick.try_borrow_mut() {
        Ok(mut f) => f(),
        Err(_) => log_error("a periodic callback was called again while it ran (skipped)"),
    });
    if let Err(msg) = out {
        log_error(&format!("a periodic callback panicked: {}", msg));
    }
}

unsafe extern "C" fn free_periodic(ud: *mut c_void) {
    // SAFETY: eddy calls this exactly once per userdata made in PeriodicCallback::new.
    let tick = Box::from_raw(ud as *mut Tick);
    if let Err(msg) = guard(move || drop(tick)) {
        log_error(&format!("dropping a periodic callback panicked: {}", msg));
    }
}

/// The eddy periodic, freed (with its closure) when the last strong reference goes: the
/// PeriodicCallback, or a PeriodicHandle method running at that moment.
struct Inner {
    ptr: *mut sys::eddy_periodic,
    interval: f64,
    // Keeps the loop alive: eddy_loop_free would free the periodic behind our back. Dropped
    // after the periodic is freed (fields drop after Drop::drop).
    _lp: Loop,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: a live periodic (its loop is alive through _lp), freed once. Inside its own
        // callback eddy defers releasing the closure until the callback returned.
        unsafe { sys::eddy_periodic_free(self.ptr) }
    }
}

impl Inner {
    fn start(&self) -> Result<()> {
        // SAFETY: a live periodic, on its loop's thread (Inner is not Send).
        check(unsafe { sys::eddy_periodic_start(self.ptr) })
    }
    fn stop(&self) {
        // SAFETY: as above; safe inside its own callback. It cannot fail for a live periodic.
        unsafe { sys::eddy_periodic_stop(self.ptr) };
    }
    fn is_running(&self) -> bool {
        // SAFETY: as above.
        unsafe { sys::eddy_periodic_is_running(self.ptr) != 0 }
    }
}

/// Runs a closure every `interval` seconds on the loop's thread once started (Tornado's
/// `PeriodicCallback(callback, callback_time)`, over `eddy_periodic_*`; the interval is in
/// seconds, as everywhere in this crate, where Tornado's is in milliseconds).
///
/// As in Tornado, the first call comes one interval after [`start`](Self::start), and ticks
/// missed because the loop was busy (or the closure itself ran past them) are skipped, not run
/// in a burst. A panic in the closure is caught, logged (`eddy: error: a periodic callback
/// panicked: ...`) and the ticks go on.
///
/// Ownership: the value owns the timer and its closure. Dropping it stops the timer and drops
/// the closure (at once, or — when dropped inside its own closure — as soon as that call
/// returned). It holds a [`Loop`] handle, like an [`App`](crate::App): [`Loop::close`] is
/// `Err(BUSY)` while it exists. Its own closure can stop it through a [`PeriodicHandle`]
/// (made with [`new_cyclic`](Self::new_cyclic)), other closures through
/// [`handle`](Self::handle): handles do not keep it alive, where a pending closure that
/// captured the `PeriodicCallback` itself would keep it (and the loop) alive.
///
/// Thread: the loop's (the type is not `Send`); the closure runs there, so it need not be
/// `Send` either.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let lp = eddy::Loop::new().unwrap();
/// let ticks = Rc::new(Cell::new(0));
/// let (t, weak) = (ticks.clone(), lp.downgrade());
/// let pc = eddy::PeriodicCallback::new(&lp, 0.01, move || {
///     t.set(t.get() + 1);
///     if t.get() == 3 {
///         weak.upgrade().unwrap().stop();
///     }
/// })
/// .unwrap();
/// pc.start().unwrap();
/// # let w = lp.downgrade(); lp.call_later(10.0, move || w.upgrade().unwrap().stop()).unwrap();
/// lp.run().unwrap();
/// assert_eq!(ticks.get(), 3);
/// drop(pc); // stops it and drops the closure
/// ```
pub struct PeriodicCallback {
    inner: Rc<Inner>,
}

impl PeriodicCallback {
    /// Creates a stopped periodic callback on `lp` that calls `f` every `interval` seconds
    /// once [`start`](Self::start)ed. To let `f` stop or query its own periodic, use
    /// [`new_cyclic`](Self::new_cyclic).
    ///
    /// Ownership: `f` is kept until the `PeriodicCallback` is dropped (not when it stops: it
    /// may be started again). The value keeps a handle to `lp`.
    ///
    /// Thread: `lp`'s.
    ///
    /// Errors: `Err(INVALID)` when `interval` is not a finite number > 0 (`f` is dropped);
    /// `Err(NO_MEMORY)`.
    pub fn new(lp: &Loop, interval: f64, f: impl FnMut() + 'static) -> Result<PeriodicCallback> {
        Self::new_cyclic(lp, interval, move |_| f)
    }

    /// Like [`new`](Self::new), for a closure that needs its own periodic (as `Rc::new_cyclic`
    /// gives a value its own `Weak`): `make` receives a [`PeriodicHandle`] to the periodic
    /// being made and returns the closure, which may keep the handle to call
    /// [`stop`](PeriodicHandle::stop), [`is_running`](PeriodicHandle::is_running) or
    /// [`start`](PeriodicHandle::start) from inside a tick. The handle starts working when
    /// `new_cyclic` returns (inside `make` it acts as if the periodic were dropped).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = eddy::Loop::new().unwrap();
    /// let ticks = Rc::new(Cell::new(0));
    /// let (t, weak) = (ticks.clone(), lp.downgrade());
    /// let pc = eddy::PeriodicCallback::new_cyclic(&lp, 0.01, move |me| {
    ///     let me = me.clone();
    ///     move || {
    ///         t.set(t.get() + 1);
    ///         if t.get() == 2 {
    ///             me.stop(); // no third tick, until started again
    ///             weak.upgrade().unwrap().stop();
    ///         }
    ///     }
    /// })
    /// .unwrap();
    /// pc.start().unwrap();
    /// # let w = lp.downgrade(); lp.call_later(10.0, move || w.upgrade().unwrap().stop()).unwrap();
    /// lp.run().unwrap();
    /// assert_eq!(ticks.get(), 2);
    /// assert!(!pc.is_running());
    /// ```
    ///
    /// Ownership, thread and errors as for [`new`](Self::new) (`make` is not called when
    /// `interval` is invalid).
    pub fn new_cyclic<F, M>(lp: &Loop, interval: f64, make: M) -> Result<PeriodicCallback>
    where
        F: FnMut() + 'static,
        M: FnOnce(&PeriodicHandle) -> F,
    {
        if !(interval > 0.0 && interval.is_finite()) {
            return Err(Error::INVALID);
        }
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let f = make(&PeriodicHandle {
                inner: weak.clone(),
            });
            let tick: Box<Tick> = Box::new(RefCell::new(Box::new(f)));
            let ud = Box::into_raw(tick) as *mut c_void;
            // SAFETY: a live loop on its thread; ud is released by free_periodic exactly once,
            // unless eddy refuses it (NULL), when it stays ours.
            let ptr = unsafe {
                sys::eddy_periodic_new(
                    lp.as_ptr(),
                    interval,
                    Some(run_periodic),
                    ud,
                    Some(free_periodic),
                )
            };
            if ptr.is_null() {
                // SAFETY: eddy did not take ud.
                unsafe { free_periodic(ud) };
            }
            Inner {
                ptr,
                interval,
                _lp: lp.clone(),
            }
        });
        if inner.ptr.is_null() {
            return Err(Error::NO_MEMORY); // Inner's Drop: eddy_periodic_free(NULL) does nothing
        }
        Ok(PeriodicCallback { inner })
    }

    /// Starts the calls (Tornado's `start`): the first one comes one interval from now.
    /// Starting a running one does nothing (its schedule is kept). May be called inside its own
    /// closure or any other callback, and before [`Loop::run`] (the calls come while it runs).
    ///
    /// Thread: the loop's. Errors: none from eddy for a live periodic (the `Result` carries
    /// eddy's return code).
    pub fn start(&self) -> Result<()> {
        self.inner.start()
    }

    /// Stops the calls (Tornado's `stop`); [`start`](Self::start) resumes them, one interval
    /// after that start. The closure is kept. Stopping a stopped one does nothing; inside its
    /// own closure the current call finishes and no other follows.
    ///
    /// Thread: the loop's.
    pub fn stop(&self) {
        self.inner.stop()
    }

    /// True from [`start`](Self::start) until [`stop`](Self::stop) (Tornado's `is_running`).
    ///
    /// Thread: the loop's.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// The interval in seconds, as given to [`new`](Self::new) (Tornado's `callback_time`,
    /// which is in milliseconds).
    pub fn interval(&self) -> f64 {
        self.inner.interval
    }

    /// A handle that can start, stop and query this periodic callback without owning it, for
    /// other callbacks (e.g. a `call_later` closure that stops it; its own closure gets one
    /// from [`new_cyclic`](Self::new_cyclic)). A closure owning the `PeriodicCallback` itself
    /// would keep it, and the loop, alive: give closures handles. Once the `PeriodicCallback`
    /// is dropped the handle's methods do nothing (see [`PeriodicHandle`]).
    ///
    /// Thread: the loop's (the handle is not `Send`).
    pub fn handle(&self) -> PeriodicHandle {
        PeriodicHandle {
            inner: Rc::downgrade(&self.inner),
        }
    }
}

impl std::fmt::Debug for PeriodicCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicCallback")
            .field("interval", &self.inner.interval)
            .field("running", &self.is_running())
            .finish()
    }
}

/// A non-owning handle to a [`PeriodicCallback`] (from [`PeriodicCallback::handle`], or given
/// to the closure maker of [`PeriodicCallback::new_cyclic`], to stop a periodic from inside
/// its own closure).
///
/// Clones are handles to the same periodic. The handle keeps nothing alive: once the
/// `PeriodicCallback` is dropped, [`stop`](Self::stop) does nothing, [`is_running`](Self::is_running)
/// and [`is_alive`](Self::is_alive) are false and [`start`](Self::start) is `Err(CLOSED)`.
///
/// Thread: the loop's (not `Send`).
#[derive(Clone)]
pub struct PeriodicHandle {
    inner: Weak<Inner>,
}

impl PeriodicHandle {
    /// [`PeriodicCallback::start`]. Errors: `Err(CLOSED)` once the `PeriodicCallback` was
    /// dropped.
    pub fn start(&self) -> Result<()> {
        match self.inner.upgrade() {
            Some(inner) => inner.start(),
            None => Err(Error::CLOSED),
        }
    }

    /// [`PeriodicCallback::stop`]; does nothing once the `PeriodicCallback` was dropped.
    pub fn stop(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.stop()
        }
    }

    /// [`PeriodicCallback::is_running`]; false once the `PeriodicCallback` was dropped.
    pub fn is_running(&self) -> bool {
        self.inner
            .upgrade()
            .map_or(false, |inner| inner.is_running())
    }

    /// True while the `PeriodicCallback` exists (it has not been dropped).
    pub fn is_alive(&self) -> bool {
        self.inner.strong_count() > 0
    }
}

impl std::fmt::Debug for PeriodicHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicHandle")
            .field("alive", &self.is_alive())
            .finish()
    }
}
