//! Processes (Tornado's `tornado.process`, plus `netutil.bind_sockets`).
//!
//! Child processes: [`Command`] describes one (program, arguments, working directory,
//! environment, where its standard streams go) and [`Command::spawn`] starts it on a
//! [`Loop`](crate::Loop) as a [`Subprocess`] (Tornado's `process.Subprocess`, over
//! eddy/subprocess.h): its pipes are [`Stream`](crate::Stream)s, its exit comes to a closure
//! as an [`ExitStatus`].
//!
//! ```
//! use eddy::process::{Command, Stdio};
//! let lp = eddy::Loop::new().unwrap();
//! let child = Command::new("ls").arg("/").stdout(Stdio::Pipe).spawn(&lp).unwrap();
//! let (handle, weak) = (child.clone(), lp.downgrade());
//! let stdout = child.take_stdout().unwrap();
//! stdout
//!     .read_until_close(move |_s, listing| {
//!         print!("{}", String::from_utf8_lossy(listing));
//!         // All the output is in; now the exit (if it came already, the closure runs next).
//!         handle.set_exit_callback(move |status| {
//!             assert!(status.success(), "ls: {}", status);
//!             weak.upgrade().map(|lp| lp.stop());
//!         })
//!     })
//!     .unwrap();
//! lp.run().unwrap();
//! ```
//!
//! Many processes on one port (eddy/process.h; Tornado's `netutil.bind_sockets` and
//! `process.fork_processes`, `task_id`, `cpu_count`, also at the crate's root): [`bind_socket`]
//! first, then [`fork_processes`], then in each child a [`Loop`](crate::Loop) and a server
//! handed the socket ([`TcpServer::add_fd`](crate::TcpServer::add_fd)). The children share one
//! accept queue.
use std::ffi::CString;
use std::os::raw::c_int;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};

use eddy_sys as sys;

use crate::error::{Error, Result};

mod command;
mod exit_status;
mod subprocess;

pub use crate::event_loop::{SIGINT, SIGTERM};
pub use command::{Command, Stdio};
pub use exit_status::ExitStatus;
pub use subprocess::{Subprocess, SIGKILL};

/// Binds and listens on a TCP socket without a loop (Tornado's `bind_sockets`, one socket), to
/// be shared by processes: `host` a numeric address or a name (`""`: every IPv4 address),
/// `port` 0 picks a free one ([`socket_port`] tells which), `backlog` 0 means 128, and
/// `reuse_port` sets SO_REUSEPORT. The socket is non-blocking and close-on-exec.
///
/// Ownership: the returned fd is the caller's: give it to a server
/// ([`TcpServer::add_fd`](crate::TcpServer::add_fd)) or drop it (closes it).
/// Thread: any.
///
/// Errors: `Err(ADDR_IN_USE)`, `Err(INVALID)` (a host with a NUL byte, or one eddy refuses),
/// or another code eddy returns (EADDRNOTAVAIL, EACCES, EMFILE, EIO).
pub fn bind_socket(host: &str, port: u16, backlog: u32, reuse_port: bool) -> Result<OwnedFd> {
    let host = CString::new(host).map_err(|_| Error::INVALID)?;
    let backlog = c_int::try_from(backlog).map_err(|_| Error::INVALID)?;
    let flags = if reuse_port {
        sys::EDDY_LISTEN_REUSEPORT
    } else {
        0
    };
    // SAFETY: eddy copies the host; a returned fd >= 0 is new and ours.
    let fd = unsafe { sys::eddy_bind_socket(host.as_ptr(), c_int::from(port), backlog, flags) };
    if fd < 0 {
        return Err(Error::from_code(fd));
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The local port of the bound socket `fd` (e.g. after [`bind_socket`] on port 0).
/// Thread: any. Errors: `Err(INVALID)` when `fd` is not a bound socket.
pub fn socket_port(fd: &impl AsRawFd) -> Result<u16> {
    // SAFETY: only reads the socket's address.
    let port = unsafe { sys::eddy_socket_port(fd.as_raw_fd()) };
    if port < 0 {
        return Err(Error::from_code(port));
    }
    u16::try_from(port).map_err(|_| Error::INVALID)
}

/// Forks `num_processes` children (0: one per CPU, [`cpu_count`]) and returns in each child its
/// task id, 0 to `num_processes - 1` (Tornado's `fork_processes(num_processes, max_restarts)`).
///
/// The parent never returns: it supervises. A child that dies from a signal or exits with a
/// non-zero status is forked again with the same task id (at most `max_restarts` times in
/// all); one that exits with status 0 is not. SIGTERM, SIGINT and SIGHUP sent to the parent
/// are passed on to every child, and after SIGTERM or SIGINT nothing is restarted. The parent
/// exits with status 0 once every child exited, or 1 after too many restarts (the remaining
/// children get SIGTERM first). Each child gets SIGTERM when the parent dies. In the parent,
/// Rust values alive at the call are never dropped (it ends with `exit`).
///
/// Precondition: call it before any [`Loop`](crate::Loop) or thread exists (Tornado: before
/// the IOLoop is created). A forked child of a process with other threads may only call
/// async-signal-safe functions (POSIX; a lock held by another thread at the fork stays held
/// forever in the child), and children forked from a process with a loop would share its epoll
/// instance and wake each other's objects. Both would be undefined behaviour, so this is
/// checked rather than left to the caller, which is why the function is safe (not an `unsafe
/// fn`): it counts the threads of the process (`/proc/self/task`) and the crate's live loops,
/// and refuses with `Err(STATE)` when there is another thread or a loop. The check cannot be
/// racy: with a single thread nothing can start one meanwhile. (A test binary of
/// `cargo test` has several threads, so it is always refused there: run it in a program of
/// its own.) eddy objects made with `eddy-sys` directly are the caller's to avoid, as
/// everything done through it.
///
/// Errors (nothing was forked): `Err(STATE)` with another thread or a loop alive, or when
/// called in a child of `fork_processes` (already forked); `Err(NOT_SUPPORTED)` when
/// `/proc/self/task` cannot be read (the thread count is unknown); `Err(INVALID)` for counts
/// over `i32::MAX`; another code when the first fork fails.
pub fn fork_processes(num_processes: u32, max_restarts: u32) -> Result<u32> {
    let num = c_int::try_from(num_processes).map_err(|_| Error::INVALID)?;
    let restarts = c_int::try_from(max_restarts).map_err(|_| Error::INVALID)?;
    if crate::event_loop::live_loops() > 0 {
        return Err(Error::STATE);
    }
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(|_| Error::NOT_SUPPORTED)?
        .count();
    if threads != 1 {
        return Err(Error::STATE);
    }
    // SAFETY: a single thread and no loop (checked above), the conditions eddy needs.
    let id = unsafe { sys::eddy_fork_processes(num, restarts) };
    if id < 0 {
        return Err(Error::from_code(id));
    }
    Ok(id as u32)
}

/// This process's task id from [`fork_processes`] (Tornado's `task_id()`), `None` when it was
/// not forked by it. Thread: any.
pub fn task_id() -> Option<u32> {
    // SAFETY: reads a global.
    let id = unsafe { sys::eddy_task_id() };
    u32::try_from(id).ok()
}

/// The number of CPUs this process may run on, at least 1 (Tornado's `cpu_count()`).
/// Thread: any.
pub fn cpu_count() -> usize {
    // SAFETY: no arguments.
    let n = unsafe { sys::eddy_cpu_count() };
    usize::try_from(n).unwrap_or(1).max(1)
}
