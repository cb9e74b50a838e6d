//! Running one Rust callback for a handler: catch panics and errors, then apply the end the
//! callback asked for (finish or error page) once nothing borrows the handler any more.
use eddy_sys as sys;

use crate::boundary::{failure_of, guard, log_error};
use crate::error::Result;
use crate::event_loop::Remote;
use crate::request::Request;
use crate::response::{End, Response};

/// Runs `f` for handler `h`. A panic or an Err (other than CLOSED: the client left) is logged
/// and, when `apply_end` and the response is still open, answered with a 500. With
/// `finish_after`, a response that `f` left open is finished.
///
/// # Safety
/// `h` is a live handler on its loop's thread, not released before this returns.
pub(crate) unsafe fn dispatch<F>(
    h: *mut sys::eddy_handler,
    remote: &Remote,
    kind: &str,
    apply_end: bool,
    finish_after: bool,
    f: F,
) where
    F: FnOnce(&Request<'_>, &mut Response<'_>) -> Result<()>,
{
    let req = Request::new(h);
    let mut res = Response::new(h, remote);
    let outcome = guard(|| f(&req, &mut res));
    let mut end = res.take_end();
    let failure = failure_of(outcome);
    if let Some(why) = failure {
        log_error(&format!(
            "rust {} for {} {} {}",
            kind,
            req.method(),
            req.path(),
            why
        ));
        end = Some(End::Error(500));
    }
    if !apply_end {
        return;
    }
    if end.is_none() && finish_after {
        end = Some(End::Finish);
    }
    if sys::eddy_handler_finished(h) != 0 {
        return;
    }
    match end {
        Some(End::Finish) => {
            sys::eddy_handler_finish(h);
        }
        Some(End::Error(status)) => {
            sys::eddy_handler_send_error(h, status);
        }
        None => {}
    }
}
