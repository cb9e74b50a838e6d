//! Subprocess (Tornado's `process.Subprocess`) over eddy/subprocess.h: a running child, its
//! pipes handed over as [`Stream`]s, its exit delivered to a closure.
//!
//! Ownership: eddy owns the C handle and releases it right after the exit callback returned,
//! or, when the loop is freed first, without calling it. The C userdata is one
//! `Box<ProcData>`, released by eddy's free function exactly once at that moment; it holds an
//! `Rc<Core>` shared with the [`Subprocess`] handles. The free function clears the C pointer
//! in `Core`, so a handle used afterwards gets an error, never a call on freed memory (the
//! scheme of [`Stream`] and [`FetchHandle`](crate::FetchHandle)). An exit callback is always
//! given to eddy, even when the user set none: without one eddy would release the handle
//! silently and the status would be lost.
use std::cell::{Cell, RefCell};
use std::os::raw::{c_char, c_int, c_void};
use std::rc::Rc;

use eddy_sys as sys;

use super::ExitStatus;
use crate::boundary::{guard, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::{Loop, WeakLoop};
use crate::stream::Stream;

/// SIGKILL on Linux (cannot be caught), for [`Subprocess::kill`]; see also
/// [`SIGTERM`](crate::SIGTERM) and [`SIGINT`](crate::SIGINT).
pub const SIGKILL: c_int = 9;

type ExitFn = dyn FnOnce(ExitStatus);

/// What the handles share with the C userdata.
struct Core {
    /// The C handle; null once eddy released it (after the exit callback, or with the loop).
    ptr: Cell<*mut sys::eddy_subprocess>,
    pid: Cell<u32>,
    /// Set just before the exit closure runs; stays.
    status: Cell<Option<ExitStatus>>,
    /// The closure for the exit; taken when it runs, dropped when the handle is released.
    on_exit: RefCell<Option<Box<ExitFn>>>,
    /// To run a closure set after the exit (Tornado runs it then too); does not keep the loop.
    lp: WeakLoop,
}

/// The C userdata: released by eddy (free_data) exactly once.
struct ProcData {
    core: Rc<Core>,
}

/// A child process started by [`Command::spawn`](super::Command::spawn) (Tornado's
/// `process.Subprocess`).
///
/// A handle: clones refer to the same child. What it offers: [`pid`](Self::pid), the parent
/// ends of the pipes asked for with [`Stdio::Pipe`](super::Stdio::Pipe) as [`Stream`]s
/// ([`take_stdin`](Self::take_stdin), [`take_stdout`](Self::take_stdout),
/// [`take_stderr`](Self::take_stderr); Tornado's `proc.stdin` / `stdout` / `stderr`),
/// [`kill`](Self::kill), and the exit ([`set_exit_callback`](Self::set_exit_callback),
/// [`exit_status`](Self::exit_status)).
///
/// Life cycle: eddy watches the child from the moment it is spawned and reaps it when it
/// exits, whether or not a handle is left: dropping every handle neither kills nor detaches
/// the child (as dropping a `std::process::Child`), and an exit closure already set still runs.
/// eddy releases the C handle once the exit closure returned; from then on
/// [`kill`](Self::kill) is `Err(STATE)` (the pid may belong to another process now) and the
/// `take_*` methods give `None` (pipes not taken were closed; streams taken live on, each
/// until it is closed). When the [`Loop`] is freed before the child exits, the handle is
/// released without the exit closure (dropped uncalled) and the child is left running (not
/// signalled, and not reaped by eddy any more: it stays a zombie after it exits, until this
/// process reaps it or ends); [`kill`](Self::kill) is `Err(CLOSED)` then and
/// [`exit_status`](Self::exit_status) stays `None`. A `Subprocess` does not keep its loop
/// alive ([`Loop::close`] is not refused because of one).
///
/// Thread: the loop's (not `Send`); the exit closure runs there:
/// ```compile_fail,E0277
/// fn give_away(p: eddy::process::Subprocess) {
///     std::thread::spawn(move || drop(p)); // error: `Rc<..>` cannot be sent between threads
/// }
/// ```
#[derive(Clone)]
pub struct Subprocess {
    core: Rc<Core>,
}

impl std::fmt::Debug for Subprocess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subprocess")
            .field("pid", &self.core.pid.get())
            .field("exit_status", &self.core.status.get())
            .finish()
    }
}

/// Starts `argv` (NULL-terminated) on `lp` with `options` (a live eddy_spawn_options, or
/// NULL): the body of [`Command::spawn`](super::Command::spawn).
pub(crate) fn spawn(
    lp: &Loop,
    argv: &[*const c_char],
    options: *const sys::eddy_spawn_options,
) -> Result<Subprocess> {
    let core = Rc::new(Core {
        ptr: Cell::new(std::ptr::null_mut()),
        pid: Cell::new(0),
        status: Cell::new(None),
        on_exit: RefCell::new(None),
        lp: lp.downgrade(),
    });
    let ud = Box::into_raw(Box::new(ProcData { core: core.clone() })) as *mut c_void;
    let mut out: *mut sys::eddy_subprocess = std::ptr::null_mut();
    // SAFETY: a live loop on its own thread (a Loop is not Send); argv is NULL-terminated and
    // eddy reads it only during the call. On success eddy owns `ud` and frees it through
    // free_data exactly once; on failure it did not take it.
    let rc = unsafe {
        sys::eddy_subprocess_spawn(
            lp.as_ptr(),
            argv.as_ptr(),
            options,
            Some(on_exit),
            ud,
            Some(free_data),
            &mut out,
        )
    };
    if rc != 0 || out.is_null() {
        // SAFETY: eddy did not take `ud` (nothing started, free_userdata not called).
        drop(unsafe { Box::from_raw(ud as *mut ProcData) });
        return Err(if rc < 0 {
            Error::from_code(rc)
        } else {
            Error::IO
        });
    }
    // The exit callback cannot have run yet: eddy reports exits from the loop, not here.
    core.ptr.set(out);
    // SAFETY: a live handle.
    let pid = unsafe { sys::eddy_subprocess_pid(out) };
    core.pid.set(u32::try_from(pid).unwrap_or(0));
    Ok(Subprocess { core })
}

impl Subprocess {
    /// The child's process id (Tornado's `pid`, std's `Child::id`). It stays readable after
    /// the exit, when the number may already name another process.
    pub fn pid(&self) -> u32 {
        self.core.pid.get()
    }

    /// Hands over the parent end of the child's stdin pipe as a [`Stream`] to write to
    /// (Tornado's `proc.stdin`); closing it ([`Stream::close`]) sends the child end-of-file.
    /// `Stream::close` drops bytes not yet sent: close in the last write's closure.
    ///
    /// Ownership: the stream is the caller's from now on, as one from
    /// [`connect`](crate::connect), and independent of the child (it lives until closed, also
    /// after the exit). `None` when stdin was not [`Stdio::Pipe`](super::Stdio::Pipe), was
    /// taken already, or the handle was released (the child exited and its exit closure
    /// returned, or the loop was freed: untaken pipes were closed then).
    pub fn take_stdin(&self) -> Option<Stream> {
        self.take_stream(0)
    }

    /// Hands over the parent end of the child's stdout pipe as a [`Stream`] to read from
    /// (Tornado's `proc.stdout`): e.g. [`Stream::read_until_close`] for everything. Output the
    /// child wrote before exiting may still arrive after the exit closure ran. `None` as for
    /// [`take_stdin`](Self::take_stdin).
    pub fn take_stdout(&self) -> Option<Stream> {
        self.take_stream(1)
    }

    /// Hands over the parent end of the child's stderr pipe as a [`Stream`] (Tornado's
    /// `proc.stderr`). `None` as for [`take_stdin`](Self::take_stdin), and when stderr went to
    /// stdout ([`Stdio::Stdout`](super::Stdio::Stdout)).
    pub fn take_stderr(&self) -> Option<Stream> {
        self.take_stream(2)
    }

    fn take_stream(&self, child_fd: c_int) -> Option<Stream> {
        let p = self.core.ptr.get();
        if p.is_null() {
            return None;
        }
        // SAFETY: a live handle on the loop's thread.
        let s = unsafe { sys::eddy_subprocess_take_stream(p, child_fd) };
        if s.is_null() {
            return None;
        }
        // SAFETY: a live stream just handed over, with no userdata yet (eddy made it for the
        // pipe and never gave it out before).
        Some(unsafe { Stream::adopt(s) })
    }

    /// Sends signal `signum` to the child (Tornado: `proc.proc.send_signal`; std's
    /// `Child::kill` is `kill(SIGKILL)`); 0 only checks that it could be signalled. eddy signals
    /// through a pidfd where it has one, so a recycled pid is never hit.
    ///
    /// Errors: `Err(STATE)` once the child has exited (inside the exit closure, after it, or
    /// when it exited and eddy has not noticed yet), `Err(CLOSED)` once the loop was freed
    /// before the exit (the child may still run, but eddy no longer knows whether the pid is
    /// its), `Err(INVALID)` for a bad signal number, `Err(PERMISSION_DENIED)`, `Err(IO)`.
    /// Thread: the loop's.
    pub fn kill(&self, signum: c_int) -> Result<()> {
        let p = self.core.ptr.get();
        if p.is_null() {
            return Err(if self.core.status.get().is_some() {
                Error::STATE
            } else {
                Error::CLOSED
            });
        }
        // SAFETY: a live handle on the loop's thread.
        check(unsafe { sys::eddy_subprocess_kill(p, signum) })
    }

    /// Runs `f` once, on the loop's thread, with the child's [`ExitStatus`] when it has exited
    /// (Tornado's `set_exit_callback`). Replaces a closure set before (which is dropped). Set
    /// after the exit (inside the exit closure too), `f` runs on the next iteration of the loop
    /// with the status eddy reported. The pipes are independent of the exit: output the child
    /// wrote may still be arriving on a stdout stream when `f` runs (read it to its close,
    /// [`Stream::read_until_close`], to have all of it).
    ///
    /// Ownership: the closure is kept (also when every handle is dropped) until it ran, or is
    /// dropped uncalled when the loop is freed before the child exits. A [`Loop`] clone inside
    /// it keeps the loop alive until the child exits: capture a [`WeakLoop`]. A panic in `f`
    /// is logged (`eddy: error: a subprocess exit callback panicked: ...`); the loop goes on.
    ///
    /// Errors (then `f` is dropped uncalled): `Err(CLOSED)` once the loop is gone (freed before
    /// the exit, or after it); `Err(NO_MEMORY)`.
    pub fn set_exit_callback(&self, f: impl FnOnce(ExitStatus) + 'static) -> Result<()> {
        if let Some(status) = self.core.status.get() {
            let lp = self.core.lp.upgrade().ok_or(Error::CLOSED)?;
            lp.call_soon(move || f(status))?;
            return Ok(());
        }
        if self.core.ptr.get().is_null() {
            return Err(Error::CLOSED);
        }
        let old = self.core.on_exit.borrow_mut().replace(Box::new(f));
        drop(old);
        Ok(())
    }

    /// The child's [`ExitStatus`] once eddy noticed the exit (from just before the exit
    /// closure runs), else `None` (Tornado's `returncode`, std's `Child::try_wait`; this never
    /// waits or reaps: eddy does, on the loop). `None` for good when the loop was freed first.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.core.status.get()
    }
}

/// eddy's exit callback: records the status and runs the user's closure.
unsafe extern "C" fn on_exit(
    _p: *mut sys::eddy_subprocess,
    exit_status: c_int,
    term_signal: c_int,
    ud: *mut c_void,
) {
    // SAFETY: `ud` is our ProcData, which eddy frees only after this returned.
    let data = &*(ud as *const ProcData);
    let status = ExitStatus::from_c(exit_status, term_signal);
    data.core.status.set(Some(status));
    // Taken out before it runs: it may set another closure (which then runs on the next
    // iteration, since the status is known) or drop the handles.
    let f = data.core.on_exit.borrow_mut().take();
    if let Some(f) = f {
        if let Err(msg) = guard(move || f(status)) {
            log_error(&format!("a subprocess exit callback panicked: {}", msg));
        }
    }
}

/// eddy's free function: the handle is released (after on_exit, or with the loop).
unsafe extern "C" fn free_data(ud: *mut c_void) {
    // SAFETY: the Box made in spawn; eddy frees it exactly once.
    let data = Box::from_raw(ud as *mut ProcData);
    // From here on the handles must not reach the C handle.
    data.core.ptr.set(std::ptr::null_mut());
    // A closure never called (the loop freed first) is dropped here, on the loop's thread.
    let f = data.core.on_exit.borrow_mut().take();
    if guard(move || {
        drop(f);
        drop(data);
    })
    .is_err()
    {
        log_error("dropping a subprocess's exit callback panicked");
    }
}
