//! Deferred: a detached response, finished later from any thread.
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;

use eddy_sys as sys;

use crate::boundary::log_error;
use crate::dispatch::dispatch;
use crate::error::Result;
use crate::event_loop::Remote;
use crate::request::Request;
use crate::response::Response;

/// Set when eddy releases the handler (through the handler userdata's free function), so that
/// a late post never touches freed memory. Read and written on the loop thread only.
/// For a handler it also keeps the response status set so far (Tornado's get_status), which
/// outlives the per-callback [`Response`].
pub(crate) struct Life {
    released: AtomicBool,
    status: AtomicU16,
}

impl Life {
    pub(crate) fn new() -> Arc<Life> {
        Arc::new(Life {
            released: AtomicBool::new(false),
            status: AtomicU16::new(200),
        })
    }
    pub(crate) fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

/// The Life of handler `h`, kept in its userdata (made on first use).
///
/// # Safety
/// `h` is a live handler on its loop's thread.
pub(crate) unsafe fn handler_life(h: *mut sys::eddy_handler) -> Arc<Life> {
    let ud = sys::eddy_handler_get_userdata(h);
    if ud.is_null() {
        let life = Life::new();
        let boxed = Box::into_raw(Box::new(life.clone()));
        sys::eddy_handler_set_userdata(h, boxed as *mut c_void, Some(release_life));
        life
    } else {
        // Only this crate sets handler userdata: it is our Box<Arc<Life>>.
        (*(ud as *const Arc<Life>)).clone()
    }
}

/// Records the status of handler `h`'s response (200 until changed).
///
/// # Safety
/// As [`handler_life`].
pub(crate) unsafe fn set_handler_status(h: *mut sys::eddy_handler, status: u16) {
    let ud = sys::eddy_handler_get_userdata(h);
    if ud.is_null() && status == 200 {
        return; // the default: no allocation needed
    }
    handler_life(h).status.store(status, Ordering::Relaxed);
}

/// The status recorded for handler `h` (200 when none was set).
///
/// # Safety
/// As [`handler_life`].
pub(crate) unsafe fn handler_status(h: *mut sys::eddy_handler) -> u16 {
    let ud = sys::eddy_handler_get_userdata(h);
    if ud.is_null() {
        200
    } else {
        let life: &Arc<Life> = &*(ud as *const Arc<Life>);
        life.status.load(Ordering::Relaxed)
    }
}

/// The free function of a `Box<Arc<Life>>` userdata: marks the object released.
pub(crate) unsafe extern "C" fn release_life(ud: *mut c_void) {
    // SAFETY: ud is the Box<Arc<Life>> set in Deferred::new; eddy frees it exactly once.
    let life = Box::from_raw(ud as *mut Arc<Life>);
    life.released.store(true, Ordering::Release);
}

#[derive(Clone, Copy)]
struct HandlerPtr(*mut sys::eddy_handler);
// SAFETY: the pointer only travels; it is dereferenced on the loop thread, after checking Life.
unsafe impl Send for HandlerPtr {}
impl HandlerPtr {
    // A method (not `.0`) so that closures capture the Send wrapper, not the raw field.
    fn get(self) -> *mut sys::eddy_handler {
        self.0
    }
}

/// A response kept open after its callback returned ([`Response::detach`]). It is `Send`:
/// finish it from a worker thread, a timer, another request's handler... Each use posts a
/// closure to the loop thread (eddy_loop_call_soon_threadsafe), which runs it with the
/// request and response unless the response was finished or released meanwhile (then the
/// closure is dropped unrun). Dropping a Deferred without finishing it sends a 500.
pub struct Deferred {
    h: HandlerPtr,
    life: Arc<Life>,
    remote: Remote,
    open: bool,
}

impl Deferred {
    /// # Safety
    /// `h` is a live, detached handler, on its loop's thread.
    pub(crate) unsafe fn new(h: *mut sys::eddy_handler, remote: Remote) -> Deferred {
        let life = handler_life(h);
        Deferred {
            h: HandlerPtr(h),
            life,
            remote,
            open: true,
        }
    }

    /// Runs `f` with the request and response on the loop thread, then finishes the response
    /// (unless `f` did, or sent an error). Err(CLOSED) when the loop no longer exists.
    pub fn finish<F>(mut self, f: F) -> Result<()>
    where
        F: FnOnce(&Request<'_>, &mut Response<'_>) -> Result<()> + Send + 'static,
    {
        self.open = false;
        self.post(f, true)
    }

    /// Runs `f` with the request and response on the loop thread without finishing (e.g. to
    /// write and flush a piece of a streamed answer).
    pub fn send<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Request<'_>, &mut Response<'_>) -> Result<()> + Send + 'static,
    {
        self.post(f, false)
    }

    /// Ends an asynchronous `prepare` (Tornado's coroutine prepare): a `prepare` that
    /// detaches suspends the request before its method (a WebSocket route's handshake, a
    /// `data_received` route's body); `resume` lets the method closure run, on the loop thread
    /// (eddy_handler_resume), and the response is then finished as after a synchronous
    /// `prepare`, unless the method detaches again. To refuse instead, finish this Deferred
    /// (`finish(|_, res| res.send_error(403))`): the method never runs. Consumes the handle:
    /// the response is the method's afterwards. Err(CLOSED) when the loop no longer exists.
    /// If the client left while `prepare` was pending, eddy finishes the response without the
    /// method (on_finish runs). A Deferred that did not come from `prepare` cannot be resumed:
    /// the misuse is logged and answered with a 500 (as a dropped Deferred is).
    pub fn resume(mut self) -> Result<()> {
        self.open = false;
        let h = self.h;
        let life = self.life.clone();
        self.remote.call_soon(move || {
            let h = h.get();
            // SAFETY: on the loop thread; `released` says whether h was freed.
            if life.released.load(Ordering::Acquire)
                || unsafe { sys::eddy_handler_finished(h) } != 0
            {
                return;
            }
            // SAFETY: h is alive and unfinished; it may be released inside this call (not
            // used afterwards unless eddy refused the resume, leaving it untouched).
            let rc = unsafe { sys::eddy_handler_resume(h) };
            if rc == sys::EDDY_ESTATE {
                log_error("Deferred::resume on a response whose prepare did not detach: 500");
                // SAFETY: ESTATE leaves the handler as it was: alive and unfinished.
                unsafe { sys::eddy_handler_send_error(h, 500) };
            }
        })
    }

    fn post<F>(&self, f: F, finish: bool) -> Result<()>
    where
        F: FnOnce(&Request<'_>, &mut Response<'_>) -> Result<()> + Send + 'static,
    {
        let h = self.h;
        let life = self.life.clone();
        let remote = self.remote.clone();
        self.remote.call_soon(move || {
            let h = h.get();
            // SAFETY: on the loop thread; `released` says whether h was freed.
            if life.released.load(Ordering::Acquire)
                || unsafe { sys::eddy_handler_finished(h) } != 0
            {
                return;
            }
            // SAFETY: h is alive and unfinished, on its loop thread.
            unsafe { dispatch(h, &remote, "deferred response", true, finish, f) }
        })
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let h = self.h;
        let life = self.life.clone();
        // Err: the loop is gone, nothing can be answered any more.
        let _ = self.remote.call_soon(move || {
            let h = h.get();
            // SAFETY: on the loop thread, checked as in post.
            if life.released.load(Ordering::Acquire)
                || unsafe { sys::eddy_handler_finished(h) } != 0
            {
                return;
            }
            log_error("a Deferred response was dropped without being finished: 500");
            // SAFETY: h is alive and unfinished.
            unsafe { sys::eddy_handler_send_error(h, 500) };
        });
    }
}
