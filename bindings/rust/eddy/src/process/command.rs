//! Command: what to start as a [`Subprocess`] (a builder shaped like `std::process::Command`,
//! for Tornado's `Subprocess(args, stdin=..., cwd=..., env=...)` keywords), turned into eddy's
//! argv and eddy_spawn_options at spawn.
use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::io::RawFd;
use std::path::{Path, PathBuf};

use eddy_sys as sys;

use super::subprocess::{self, Subprocess};
use crate::error::{check, Error, Result};
use crate::event_loop::Loop;

/// Where one of the child's standard streams goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// The parent's own stdin, stdout or stderr (the default; std's `Stdio::inherit`).
    Inherit,
    /// A pipe whose parent end becomes a [`Stream`](crate::Stream)
    /// ([`Subprocess::take_stdin`] and the others; Tornado's `Subprocess.STREAM`).
    Pipe,
    /// `/dev/null` (std's `Stdio::null`, Python's `subprocess.DEVNULL`).
    Null,
    /// For stderr only: the same as the child's stdout (`2>&1`, Python's `subprocess.STDOUT`);
    /// given for stdin or stdout, [`Command::spawn`] is `Err(INVALID)`.
    Stdout,
    /// A copy (dup2) of one of the caller's open file descriptors: a file, a socket, a pipe.
    /// The fd stays the caller's, and must stay open until [`Command::spawn`] returned; one
    /// that is not open then makes it `Err(INVALID)`, a negative one too.
    Fd(RawFd),
}

/// A child process to start (std's `std::process::Command`; Tornado passes the same as
/// `Subprocess` keywords): the program and its arguments, then the options, then
/// [`spawn`](Self::spawn) on a loop. A `Command` can spawn several children.
///
/// Defaults: standard streams inherited, the parent's working directory and environment (as
/// they are at spawn), every fd above 2 closed in the child ([`close_fds`](Self::close_fds)),
/// the parent's process group. The child always starts with an empty signal mask and every
/// signal at its default disposition (eddy/subprocess.h).
///
/// ```no_run
/// use eddy::process::{Command, Stdio};
/// let lp = eddy::Loop::new().unwrap();
/// let child = Command::new("grep")
///     .arg("-c")
///     .arg("x")
///     .current_dir("/tmp")
///     .env("LC_ALL", "C")
///     .stdin(Stdio::Pipe)
///     .stdout(Stdio::Pipe)
///     .stderr(Stdio::Null)
///     .spawn(&lp)
///     .unwrap();
/// # drop(child);
/// ```
///
/// Thread: a `Command` is plain data (any thread); [`spawn`](Self::spawn) runs on the loop's.
#[derive(Clone, Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    /// Changes to the environment: `Some(value)` sets, `None` removes.
    env: BTreeMap<OsString, Option<OsString>>,
    /// Start from an empty environment instead of the parent's.
    env_clear: bool,
    stdio: [Stdio; 3],
    close_fds: bool,
    new_process_group: bool,
}

impl Command {
    /// A command that runs `program` (looked up in the parent's `PATH` when it has no `/`)
    /// with no arguments, and the defaults above.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            cwd: None,
            env: BTreeMap::new(),
            env_clear: false,
            stdio: [Stdio::Inherit; 3],
            close_fds: true,
            new_process_group: false,
        }
    }

    /// Adds one argument (the program is `argv[0]`; this is the next one).
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments in order.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Runs the child in `dir` (Tornado's `cwd`). A relative `dir` is relative to the parent's
    /// working directory; one that does not exist makes [`spawn`](Self::spawn)
    /// `Err(NOT_FOUND)`. The program is looked up before the change: give a path to a program
    /// relative to `dir` as an absolute one.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Sets the variable `key` to `value` in the child's environment (the others as they are).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Sets several variables, as [`env`](Self::env) one by one.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes the variable `key` from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// The child starts from an empty environment instead of the parent's, plus what
    /// [`env`](Self::env) sets after this call (changes made before it are forgotten, as in
    /// std). The program is still looked up in the
    /// parent's `PATH` (eddy's `posix_spawnp`; std would use the child's `PATH`).
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Where the child's stdin comes from (default [`Stdio::Inherit`]).
    pub fn stdin(&mut self, cfg: Stdio) -> &mut Command {
        self.stdio[0] = cfg;
        self
    }

    /// Where the child's stdout goes (default [`Stdio::Inherit`]).
    pub fn stdout(&mut self, cfg: Stdio) -> &mut Command {
        self.stdio[1] = cfg;
        self
    }

    /// Where the child's stderr goes (default [`Stdio::Inherit`]; [`Stdio::Stdout`]: with its
    /// stdout).
    pub fn stderr(&mut self, cfg: Stdio) -> &mut Command {
        self.stdio[2] = cfg;
        self
    }

    /// `true` (the default; Python's `close_fds=True`): every fd above 2 is closed in the
    /// child, whether or not it is close-on-exec. `false`: the parent's fds without
    /// `FD_CLOEXEC` are inherited (to hand the child a socket on fd 3 or above; Rust opens
    /// everything close-on-exec, so such an fd was made so on purpose).
    pub fn close_fds(&mut self, on: bool) -> &mut Command {
        self.close_fds = on;
        self
    }

    /// `true`: the child leads a new process group (its pgid is its pid), so a terminal's
    /// Ctrl-C does not reach it, and `kill(-pid, sig)` reaches it and every process it starts
    /// (Python's `process_group=0`, std's `CommandExt::process_group(0)`).
    /// Default `false`: the parent's group.
    pub fn new_process_group(&mut self, on: bool) -> &mut Command {
        self.new_process_group = on;
        self
    }

    /// Starts the child on `lp` (Tornado's `Subprocess(...)`): it runs from now on, and `lp`
    /// watches for its exit ([`Subprocess::set_exit_callback`]). Nothing waits: pipes become
    /// [`Stream`](crate::Stream)s of `lp`.
    ///
    /// Errors (nothing was started): `Err(NOT_FOUND)` (no such program, or the working
    /// directory does not exist), `Err(PERMISSION_DENIED)` (not executable), `Err(INVALID)` (an
    /// empty program; a NUL byte in the program, an argument, the directory or the
    /// environment; an environment variable name that is empty or holds `=`;
    /// [`Stdio::Stdout`] for stdin or stdout; a [`Stdio::Fd`] that is not open),
    /// `Err(TOO_MANY_FILES)` (no fds left for the pipes), `Err(NO_MEMORY)`, `Err(IO)`
    /// (another failure; eddy's log names it). [`Error::kind`] gives the `std::io::ErrorKind`.
    ///
    /// Thread: `lp`'s (a [`Loop`] is not `Send`).
    pub fn spawn(&self, lp: &Loop) -> Result<Subprocess> {
        let mut owned = Vec::with_capacity(self.args.len() + 1);
        owned.push(c_string(self.program.as_bytes())?);
        for a in &self.args {
            owned.push(c_string(a.as_bytes())?);
        }
        let argv = null_terminated(&owned);
        let options = Options::new()?;
        for (child_fd, cfg) in (0..).zip(self.stdio.iter()) {
            options.set_stdio(child_fd, *cfg)?;
        }
        if let Some(dir) = &self.cwd {
            let dir = c_string(dir.as_os_str().as_bytes())?;
            // SAFETY: live options; eddy copies the string.
            check(unsafe { sys::eddy_spawn_options_set_cwd(options.0, dir.as_ptr()) })?;
        }
        if let Some(entries) = self.environment()? {
            let envp = null_terminated(&entries);
            // SAFETY: live options; eddy copies the strings.
            check(unsafe { sys::eddy_spawn_options_set_env(options.0, envp.as_ptr()) })?;
        }
        // SAFETY: live options.
        check(unsafe {
            sys::eddy_spawn_options_set_close_fds(options.0, c_int::from(self.close_fds))
        })?;
        // SAFETY: live options.
        check(unsafe {
            sys::eddy_spawn_options_set_new_process_group(
                options.0,
                c_int::from(self.new_process_group),
            )
        })?;
        subprocess::spawn(lp, &argv, options.0)
    }

    /// The child's whole environment as "NAME=value" strings, computed now as std does (the
    /// parent's, or nothing after `env_clear`, with the changes applied); `None` when nothing
    /// changes it (eddy then passes the parent's own at spawn).
    fn environment(&self) -> Result<Option<Vec<CString>>> {
        if !self.env_clear && self.env.is_empty() {
            return Ok(None);
        }
        let mut vars: BTreeMap<OsString, OsString> = if self.env_clear {
            BTreeMap::new()
        } else {
            std::env::vars_os().collect()
        };
        for (key, value) in &self.env {
            let k = key.as_bytes();
            if k.is_empty() || k.contains(&b'=') {
                return Err(Error::INVALID);
            }
            match value {
                Some(v) => vars.insert(key.clone(), v.clone()),
                None => vars.remove(key),
            };
        }
        vars.into_iter()
            .map(|(k, v)| {
                let mut entry = k.into_vec();
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                c_string(&entry)
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// An owned eddy_spawn_options, freed on drop (eddy_subprocess_spawn does not keep it).
struct Options(*mut sys::eddy_spawn_options);

impl Options {
    fn new() -> Result<Options> {
        // SAFETY: no preconditions.
        let p = unsafe { sys::eddy_spawn_options_new() };
        if p.is_null() {
            return Err(Error::NO_MEMORY);
        }
        Ok(Options(p))
    }

    fn set_stdio(&self, child_fd: c_int, cfg: Stdio) -> Result<()> {
        let mode = match cfg {
            Stdio::Inherit => sys::EDDY_STDIO_INHERIT,
            Stdio::Pipe => sys::EDDY_STDIO_PIPE,
            Stdio::Null => sys::EDDY_STDIO_DEVNULL,
            Stdio::Stdout => sys::EDDY_STDIO_STDOUT,
            Stdio::Fd(fd) => {
                // SAFETY: live options; eddy only records the number (it dups it at spawn).
                return check(unsafe {
                    sys::eddy_spawn_options_set_stdio_fd(self.0, child_fd, fd)
                });
            }
        };
        // SAFETY: live options; eddy refuses Stdout for child fds other than 2.
        check(unsafe { sys::eddy_spawn_options_set_stdio(self.0, child_fd, mode) })
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: made by eddy_spawn_options_new, freed once.
        unsafe { sys::eddy_spawn_options_free(self.0) }
    }
}

/// `bytes` as a C string; Err(INVALID) with a NUL byte inside.
fn c_string(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::INVALID)
}

/// Pointers to `strings` followed by NULL (valid while `strings` is).
fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}
