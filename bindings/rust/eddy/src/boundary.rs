//! The C boundary: boxed closures handed to C as userdata, and panics stopped before they
//! unwind into C (which would abort the process).
use std::any::Any;
use std::cell::Cell;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, Result};

thread_local! {
    /// How many eddy callbacks are running on this thread (see App's Drop).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// True while an eddy callback is running on this thread.
pub(crate) fn in_callback() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Runs `f` as a callback from C: counts the depth and turns a panic into Err(message).
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> std::result::Result<R, String> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let out = catch_unwind(AssertUnwindSafe(f)).map_err(panic_message);
    DEPTH.with(|d| d.set(d.get() - 1));
    out
}

/// What a guarded callback's outcome says went wrong, for the log line: None when it returned
/// Ok or Err(CLOSED) (the peer left: nothing to report), else "returned an error: ..." or
/// "panicked: ...".
pub(crate) fn failure_of(outcome: std::result::Result<Result<()>, String>) -> Option<String> {
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) if e == Error::CLOSED => None,
        Ok(Err(e)) => Some(format!("returned an error: {}", e)),
        Err(msg) => Some(format!("panicked: {}", msg)),
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload_text(&*payload)
}

/// The text of a panic's payload (a `&str` or `String` message), without taking it.
pub(crate) fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// One log line in the format of eddy's default sink.
pub(crate) fn log_error(msg: &str) {
    eprintln!("eddy: error: {}", msg);
}

/// A one-shot task as C userdata: `Box<Option<Task>>`, taken when it runs, dropped by `free_task`.
pub(crate) type Task = Box<dyn FnOnce()>;

pub(crate) fn task_into_raw(task: Task) -> *mut c_void {
    Box::into_raw(Box::new(Some(task))) as *mut c_void
}

/// Drops userdata made by `task_into_raw` that C refused (then C does not free it).
///
/// # Safety
/// `ud` comes from `task_into_raw` and C did not take it.
pub(crate) unsafe fn task_reclaim(ud: *mut c_void) {
    free_task(ud);
}

pub(crate) unsafe extern "C" fn run_task(_loop: *mut eddy_sys::eddy_loop, ud: *mut c_void) {
    // SAFETY: ud is the Box<Option<Task>> made by task_into_raw; C frees it only after this.
    let slot = &mut *(ud as *mut Option<Task>);
    if let Some(task) = slot.take() {
        if let Err(msg) = guard(task) {
            log_error(&format!("a loop callback panicked: {}", msg));
        }
    }
}

pub(crate) unsafe extern "C" fn free_task(ud: *mut c_void) {
    // SAFETY: C calls this exactly once per userdata made by task_into_raw.
    let boxed = Box::from_raw(ud as *mut Option<Task>);
    if let Err(msg) = guard(move || drop(boxed)) {
        log_error(&format!("dropping a loop callback panicked: {}", msg));
    }
}
