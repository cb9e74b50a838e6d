//! ExitStatus: how a [`Subprocess`](super::Subprocess) ended (std's `ExitStatus`, Tornado's
//! `returncode`).
use std::fmt;
use std::os::raw::c_int;

/// How a child ended, given to the exit closure of
/// [`Subprocess::set_exit_callback`](super::Subprocess::set_exit_callback) and kept by
/// [`Subprocess::exit_status`](super::Subprocess::exit_status). As `std::process::ExitStatus`
/// on Unix: [`code`](Self::code) when the child exited, [`signal`](Self::signal) when a signal
/// killed it (Tornado folds both into one `returncode`, negative for a signal).
///
/// Neither is set when the status was lost: another part of the program reaped the child
/// (a process-wide `SIGCHLD` set to `SIG_IGN`, a `waitpid(-1)`; see eddy/subprocess.h); then
/// [`is_unknown`](Self::is_unknown) is true and [`success`](Self::success) false.
///
/// ```
/// # use eddy::process::ExitStatus;
/// fn describe(status: ExitStatus) -> String {
///     match (status.code(), status.signal()) {
///         (Some(code), _) => format!("exited with {}", code),
///         (None, Some(signal)) => format!("killed by signal {}", signal),
///         (None, None) => "status lost".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ExitStatus {
    code: Option<i32>,
    signal: Option<i32>,
}

impl ExitStatus {
    /// From the two numbers of eddy's exit callback: `exit_status` 0-255 with `term_signal` 0
    /// (exited), `term_signal` > 0 (killed), `exit_status` -1 (lost).
    pub(crate) fn from_c(exit_status: c_int, term_signal: c_int) -> ExitStatus {
        if term_signal > 0 {
            ExitStatus {
                code: None,
                signal: Some(term_signal),
            }
        } else if exit_status >= 0 {
            ExitStatus {
                code: Some(exit_status),
                signal: None,
            }
        } else {
            ExitStatus {
                code: None,
                signal: None,
            }
        }
    }

    /// True when the child exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The exit code (0-255) when the child exited by itself; `None` when a signal killed it or
    /// the status was lost.
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// The number of the signal that killed the child (e.g. [`SIGKILL`](super::SIGKILL));
    /// `None` when it exited by itself or the status was lost.
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// True when eddy could not learn how the child ended (someone else reaped it).
    pub fn is_unknown(&self) -> bool {
        self.code.is_none() && self.signal.is_none()
    }
}

impl fmt::Display for ExitStatus {
    /// `exit status: 3`, `signal: 9`, or `unknown exit status` (std's wording).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status: {}", code),
            (None, Some(signal)) => write!(f, "signal: {}", signal),
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}
