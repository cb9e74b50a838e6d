//! Blocking work on the loop's worker threads ([`Loop::run_in_executor`], over
//! `eddy_loop_run_in_executor`): the job handed to C as userdata, the two callbacks that run it
//! (one on a worker thread, one on the loop's), and what its `done` closure is told.
//!
//! One job is a `Box<Job>` with three parts that two threads touch in turn, never at once:
//! the worker thread takes `work` and writes `outcome`; the loop's thread later reads
//! `outcome` and takes `done`, and drops the box. C orders the two (the worker posts the job
//! back to the loop, under a mutex, only after `work` returned; a cancelled or dropped job was
//! never handed to a worker), which is the happens-before the fields rely on.
//!
//! [`Loop::run_in_executor`]: crate::Loop::run_in_executor
use std::any::Any;
use std::fmt;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use eddy_sys as sys;

use crate::boundary::{guard, log_error, payload_text};
use crate::error::{Error, Result};

/// The id of work queued by [`Loop::run_in_executor`](crate::Loop::run_in_executor), for
/// [`Loop::cancel_work`](crate::Loop::cancel_work). Ids are never reused within one loop
/// (they are not [`CallId`](crate::CallId)s: the two cancel through different functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkId(pub(crate) u64);

/// Why the `done` closure of [`Loop::run_in_executor`](crate::Loop::run_in_executor) got no
/// value.
pub enum WorkError {
    /// [`Loop::cancel_work`](crate::Loop::cancel_work) came before a worker took the work: it
    /// never ran (Tornado: the future is cancelled).
    Canceled,
    /// The work function panicked on its worker thread; this is the panic's payload, as
    /// [`std::thread::JoinHandle::join`] gives it (`std::panic::resume_unwind` re-raises it;
    /// Tornado re-raises the function's exception where the future is awaited). The panic was
    /// also logged when it happened (`eddy: error: a work function panicked: ...`).
    Panicked(Box<dyn Any + Send + 'static>),
}

impl WorkError {
    /// True for [`WorkError::Canceled`].
    pub fn is_canceled(&self) -> bool {
        matches!(self, WorkError::Canceled)
    }

    /// The panic's message (a `&str` or `String` payload) for [`WorkError::Panicked`]; `None`
    /// for [`WorkError::Canceled`].
    pub fn panic_message(&self) -> Option<String> {
        match self {
            WorkError::Canceled => None,
            WorkError::Panicked(payload) => Some(payload_text(&**payload)),
        }
    }

    /// The code for this error where one exists: `Some(Error::CANCELED)` for
    /// [`WorkError::Canceled`], `None` for a panic (no `EDDY_E*` code means that).
    pub fn error(&self) -> Option<Error> {
        match self {
            WorkError::Canceled => Some(Error::CANCELED),
            WorkError::Panicked(_) => None,
        }
    }
}

impl fmt::Display for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkError::Canceled => write!(f, "{}", Error::CANCELED),
            WorkError::Panicked(payload) => {
                write!(
                    f,
                    "the work function panicked: {}",
                    payload_text(&**payload)
                )
            }
        }
    }
}

impl fmt::Debug for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkError::Canceled => f.write_str("Canceled"),
            WorkError::Panicked(payload) => write!(f, "Panicked({:?})", payload_text(&**payload)),
        }
    }
}

impl std::error::Error for WorkError {}

/// The userdata of one `eddy_loop_run_in_executor` call (see the module's comment for which
/// thread touches which field, and when).
struct Job<W, T, D> {
    /// Taken and run by the worker thread; dropped unrun on the loop's thread when the work is
    /// cancelled or dropped by the loop's free (W is Send, so either thread may drop it).
    work: Option<W>,
    /// Written by the worker thread once `work` returned or panicked; `None` when it never ran.
    outcome: Option<std::thread::Result<T>>,
    /// Only ever touched on the loop's thread (D need not be Send).
    done: Option<D>,
}

/// Queues `work` on `lp`'s executor with `done` for the loop's thread.
pub(crate) fn submit<W, T, D>(lp: *mut sys::eddy_loop, work: W, done: D) -> Result<WorkId>
where
    W: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    D: FnOnce(std::result::Result<T, WorkError>) + 'static,
{
    let job: Box<Job<W, T, D>> = Box::new(Job {
        work: Some(work),
        outcome: None,
        done: Some(done),
    });
    let ud = Box::into_raw(job) as *mut c_void;
    // SAFETY: `lp` is a live loop on this thread (the caller holds a Loop). C owns `ud` from
    // here: it calls run_work at most once on a worker thread, then deliver (at most once) and
    // free_job (exactly once) on this thread, or free_job alone when the loop is freed first —
    // unless it returns 0, when it never took `ud`.
    let id = unsafe {
        sys::eddy_loop_run_in_executor(
            lp,
            Some(run_work::<W, T, D>),
            Some(deliver::<W, T, D>),
            ud,
            Some(free_job::<W, T, D>),
        )
    };
    if id == 0 {
        // SAFETY: C refused `ud` and will not free it; we are on the loop's thread.
        unsafe { free_job::<W, T, D>(ud) };
        return Err(Error::NO_MEMORY);
    }
    Ok(WorkId(id))
}

/// Runs on a worker thread (C's `work`).
unsafe extern "C" fn run_work<W, T, D>(ud: *mut c_void)
where
    W: FnOnce() -> T + Send,
    T: Send,
{
    let job = ud as *mut Job<W, T, D>;
    // SAFETY: a panic must never unwind into C. `work`'s own panic is caught (and kept for
    // `done`) by the inner catch_unwind; the outer one stops whatever else could unwind (the
    // log line's eprintln! failing): there is no way to report it, so the process aborts, as
    // a panic escaping an `extern "C"` function does in newer Rust. Its payload is forgotten,
    // not dropped, since its drop could panic in turn.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ud` is the Job made by `submit`, alive until free_job, which C calls only
        // after this returned. Only the fields `work` and `outcome` are touched here, through
        // the raw pointer (no reference to the whole Job, whose `done` is not Send); the
        // loop's thread does not touch them before C posts the job back, after this returned.
        let work = (*job).work.take();
        if let Some(work) = work {
            let outcome = catch_unwind(AssertUnwindSafe(work));
            if let Err(payload) = &outcome {
                log_error(&format!(
                    "a work function panicked: {}",
                    payload_text(&**payload)
                ));
            }
            // The old value is None (run_work runs once): nothing is dropped here.
            (*job).outcome = Some(outcome);
        }
    }));
    if let Err(payload) = caught {
        std::mem::forget(payload);
        std::process::abort();
    }
}

/// Runs on the loop's thread once the work returned or was cancelled (C's `done`).
unsafe extern "C" fn deliver<W, T, D>(_lp: *mut sys::eddy_loop, _status: c_int, ud: *mut c_void)
where
    D: FnOnce(std::result::Result<T, WorkError>),
{
    // SAFETY: `ud` is the Job made by `submit`; C calls this on the loop's thread (where `done`
    // was made), after the worker thread is through with the Job (or never had it), and frees
    // it only after this returned.
    let job = &mut *(ud as *mut Job<W, T, D>);
    // The outcome, not `status`, says what happened: no outcome means `work` never ran, which
    // is what EDDY_ECANCELED (the only other status) says.
    let outcome = match job.outcome.take() {
        Some(Ok(value)) => Ok(value),
        Some(Err(payload)) => Err(WorkError::Panicked(payload)),
        None => Err(WorkError::Canceled),
    };
    let work = job.work.take();
    let done = job.done.take();
    // SAFETY: a panic in `done` (or in dropping an unrun `work`) is caught here and logged like
    // every loop callback's; the loop goes on.
    let ran = guard(move || {
        drop(work);
        match done {
            Some(done) => done(outcome),
            None => drop(outcome),
        }
    });
    if let Err(msg) = ran {
        log_error(&format!("a loop callback panicked: {}", msg));
    }
}

/// Releases the Job on the loop's thread (C's `free_userdata`): after `deliver`, or when the
/// loop is freed first (its closures, and a result nobody got, are dropped there).
unsafe extern "C" fn free_job<W, T, D>(ud: *mut c_void) {
    // SAFETY: C calls this exactly once per Job, on the loop's thread, after the worker thread
    // is through with it (eddy_loop_free waits for running work); `submit` calls it instead
    // when C refused the Job.
    let job = Box::from_raw(ud as *mut Job<W, T, D>);
    if let Err(msg) = guard(move || drop(job)) {
        log_error(&format!("dropping a loop callback panicked: {}", msg));
    }
}
