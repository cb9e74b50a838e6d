//! eddy::process::Subprocess (Tornado's process.Subprocess) started from a Command: pipes as
//! Streams (cat echoing its stdin), exit codes and signals, Stdio::Null / Stdout / Fd, the
//! working directory and environment, close_fds and process groups, spawn errors, the exit
//! closure (replaced, set after the exit, kill and take_* inside it), handles dropped before
//! the exit, the loop freed before it, and many children at once.
//!
//! Real children (sh, cat, sleep) on a real loop; no timing thresholds: every wait is bounded
//! (run_strict: 10 s) so that a broken feature fails the test instead of hanging it.
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::raw::c_int;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::rc::Rc;

use eddy::process::{Command, ExitStatus, Stdio, Subprocess, SIGKILL, SIGTERM};
use eddy::{Error, Loop, Stream};

mod common;
use common::tcp::{live, run_strict, stopper, Token};

extern "C" {
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
}
const F_SETFD: c_int = 2;

/// Stops the loop once `n` events (`done()` calls) happened.
#[derive(Clone)]
struct Countdown {
    left: Rc<Cell<usize>>,
    stop: Rc<dyn Fn()>,
}

impl Countdown {
    fn new(lp: &Loop, n: usize) -> Countdown {
        Countdown {
            left: Rc::new(Cell::new(n)),
            stop: Rc::new(stopper(lp)),
        }
    }
    fn done(&self) {
        self.left.set(self.left.get() - 1);
        if self.left.get() == 0 {
            (self.stop)();
        }
    }
}

/// Reads `s` to its close into the returned buffer; `countdown.done()` then.
fn collect(s: &Stream, countdown: &Countdown) -> Rc<RefCell<Vec<u8>>> {
    let out = Rc::new(RefCell::new(Vec::new()));
    let (o, c) = (out.clone(), countdown.clone());
    s.read_until_close(move |_s, data| {
        o.borrow_mut().extend_from_slice(data);
        c.done();
        Ok(())
    })
    .unwrap();
    out
}

/// Records the exit status; `countdown.done()` then.
fn on_exit(p: &Subprocess, countdown: &Countdown) -> Rc<Cell<Option<ExitStatus>>> {
    let status = Rc::new(Cell::new(None));
    let (s, c) = (status.clone(), countdown.clone());
    p.set_exit_callback(move |st| {
        assert!(s.replace(Some(st)).is_none(), "exit callback ran twice");
        c.done();
    })
    .unwrap();
    status
}

/// Runs `sh -c script` with stdout piped (stderr as `stderr` says) until it exited and its
/// output closed: (output, status).
fn run_sh(lp: &Loop, cmd: &mut Command) -> (String, ExitStatus) {
    let p = cmd.stdout(Stdio::Pipe).spawn(lp).unwrap();
    let countdown = Countdown::new(lp, 2);
    let out = collect(&p.take_stdout().unwrap(), &countdown);
    let status = on_exit(&p, &countdown);
    run_strict(lp);
    let out = String::from_utf8(out.take()).unwrap();
    (out, status.get().unwrap())
}

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd
}

/// A fresh empty directory under the temp directory (removed by the caller).
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-rust-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// Field `n` (1-based, after the command name) of /proc/<pid>/stat.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(n - 3).map(str::to_owned)
}

#[test]
fn cat_echoes_its_stdin_through_pipes() {
    let lp = Loop::new().unwrap();
    let p = Command::new("cat")
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .spawn(&lp)
        .unwrap();
    assert!(p.pid() > 0);
    assert_eq!(p.exit_status(), None);
    let stdin = p.take_stdin().unwrap();
    let stdout = p.take_stdout().unwrap();
    // Each pipe is handed over once; stderr was not piped.
    assert!(p.take_stdin().is_none());
    assert!(p.take_stdout().is_none());
    assert!(p.take_stderr().is_none());
    let input: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    // Close stdin (cat's EOF) once everything was handed to the kernel.
    stdin
        .write(
            &input,
            Some(Box::new(|s, sent| sent.and_then(|_| s.close()))),
        )
        .unwrap();
    let countdown = Countdown::new(&lp, 2);
    let out = collect(&stdout, &countdown);
    let status = on_exit(&p, &countdown);
    run_strict(&lp);
    assert_eq!(out.take(), input);
    let status = status.get().unwrap();
    assert!(status.success());
    assert_eq!(p.exit_status(), Some(status));
}

#[test]
fn exit_codes() {
    let lp = Loop::new().unwrap();
    for code in [0, 1, 3, 255] {
        let (out, status) = run_sh(&lp, &mut sh(&format!("echo bye; exit {}", code)));
        assert_eq!(out, "bye\n");
        assert_eq!(status.code(), Some(code));
        assert_eq!(status.signal(), None);
        assert_eq!(status.success(), code == 0);
        assert!(!status.is_unknown());
        assert_eq!(status.to_string(), format!("exit status: {}", code));
    }
}

#[test]
fn kill_with_a_signal() {
    let lp = Loop::new().unwrap();
    for signum in [SIGTERM, SIGKILL] {
        let p = Command::new("sleep").arg("30").spawn(&lp).unwrap();
        assert_eq!(p.kill(0), Ok(())); // it can be signalled
        assert_eq!(p.kill(-1), Err(Error::INVALID));
        assert_eq!(p.kill(100_000), Err(Error::INVALID));
        let countdown = Countdown::new(&lp, 1);
        let status = on_exit(&p, &countdown);
        p.kill(signum).unwrap();
        run_strict(&lp);
        let status = status.get().unwrap();
        assert_eq!(status.signal(), Some(signum));
        assert_eq!(status.code(), None);
        assert!(!status.success());
        assert_eq!(status.to_string(), format!("signal: {}", signum));
        // Released: the pid may be another process's now.
        assert_eq!(p.kill(SIGKILL), Err(Error::STATE));
        assert_eq!(p.kill(0), Err(Error::STATE));
    }
}

#[test]
fn null_and_stderr_to_stdout() {
    let lp = Loop::new().unwrap();
    let mut cmd = sh("cat; echo out; echo err >&2");
    // cat reads /dev/null: nothing, at once.
    cmd.stdin(Stdio::Null).stderr(Stdio::Stdout);
    let (out, status) = run_sh(&lp, &mut cmd);
    assert_eq!(out, "out\nerr\n");
    assert!(status.success());
    // Null: fds 0 and 1 (3 is a copy of it) are /dev/null (cargo test's own stdout is not, under ctest or a
    // terminal), and no stream is handed over for them.
    let p = sh("exec 3>&1; readlink /proc/self/fd/0 /proc/self/fd/3 >&2")
        .stdin(Stdio::Null)
        .stdout(Stdio::Null)
        .stderr(Stdio::Pipe)
        .spawn(&lp)
        .unwrap();
    assert!(p.take_stdin().is_none());
    assert!(p.take_stdout().is_none());
    let countdown = Countdown::new(&lp, 2);
    let err = collect(&p.take_stderr().unwrap(), &countdown);
    let status = on_exit(&p, &countdown);
    run_strict(&lp);
    assert!(status.get().unwrap().success());
    assert_eq!(&*err.borrow(), b"/dev/null\n/dev/null\n");
}

#[test]
fn stdio_fd_is_a_copy_of_the_callers() {
    let lp = Loop::new().unwrap();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let p = sh("read line; echo \"got $line\"; echo to-err >&2")
        .stdin(Stdio::Fd(theirs.as_raw_fd()))
        .stdout(Stdio::Fd(theirs.as_raw_fd()))
        .stderr(Stdio::Pipe)
        .spawn(&lp)
        .unwrap();
    // The fd is still the caller's (open; the child has its own copy).
    drop(theirs);
    ours.write_all(b"ping\n").unwrap();
    let countdown = Countdown::new(&lp, 2);
    let err = collect(&p.take_stderr().unwrap(), &countdown);
    let status = on_exit(&p, &countdown);
    run_strict(&lp);
    assert!(status.get().unwrap().success());
    assert_eq!(&*err.borrow(), b"to-err\n");
    let mut answer = String::new();
    ours.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    ours.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "got ping\n");
}

#[test]
fn working_directory_and_environment() {
    let lp = Loop::new().unwrap();
    let dir = temp_dir("cwd");
    let resolved = std::fs::canonicalize(&dir).unwrap();
    let (out, status) = run_sh(&lp, sh("pwd -P").current_dir(&dir));
    assert!(status.success());
    assert_eq!(out, format!("{}\n", resolved.display()));
    std::fs::remove_dir(&dir).unwrap();

    // `env` prints the environment it got, one "NAME=value" a line.
    let lines = |out: String| -> Vec<String> {
        let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    // The parent's environment with one variable added and one removed.
    let (out, _) = run_sh(
        &lp,
        Command::new("env")
            .env("EDDY_TEST_VAR", "from eddy")
            .env_remove("PATH"),
    );
    let mut want: Vec<String> = std::env::vars()
        .filter(|(k, _)| k != "PATH")
        .map(|(k, v)| format!("{}={}", k, v))
        .chain(["EDDY_TEST_VAR=from eddy".to_owned()])
        .collect();
    want.sort();
    assert_eq!(lines(out), want);

    // A cleared environment: only what was set after env_clear.
    let (out, _) = run_sh(
        &lp,
        Command::new("env")
            .env("HOME", "/forgotten")
            .env_clear()
            .envs([("EDDY_TEST_VAR", "only me"), ("EDDY_OTHER", "x=y")]),
    );
    assert_eq!(lines(out), ["EDDY_OTHER=x=y", "EDDY_TEST_VAR=only me"]);
}

#[test]
fn close_fds_and_process_group() {
    let lp = Loop::new().unwrap();
    // An fd made inheritable on purpose reaches the child only with close_fds(false).
    let (a, _b) = UnixStream::pair().unwrap();
    // SAFETY: clears FD_CLOEXEC on our own open fd.
    assert_eq!(unsafe { fcntl(a.as_raw_fd(), F_SETFD, 0) }, 0);
    let script = format!(
        "if [ -e /proc/self/fd/{} ]; then echo open; else echo closed; fi",
        a.as_raw_fd()
    );
    let (out, _) = run_sh(&lp, &mut sh(&script));
    assert_eq!(out, "closed\n");
    let (out, _) = run_sh(&lp, sh(&script).close_fds(false));
    assert_eq!(out, "open\n");

    // The child's process group: ours by default, its own with new_process_group(true).
    let our_group = stat_field(std::process::id(), 5).unwrap();
    for new_group in [false, true] {
        let p = Command::new("cat")
            .stdin(Stdio::Pipe)
            .new_process_group(new_group)
            .spawn(&lp)
            .unwrap();
        let group = stat_field(p.pid(), 5).unwrap();
        let want = if new_group {
            p.pid().to_string()
        } else {
            our_group.clone()
        };
        assert_eq!(group, want, "new_process_group({})", new_group);
        p.take_stdin().unwrap().close().unwrap(); // cat's EOF
        let countdown = Countdown::new(&lp, 1);
        let status = on_exit(&p, &countdown);
        run_strict(&lp);
        assert!(status.get().unwrap().success());
    }
}

#[test]
fn spawn_errors() {
    let lp = Loop::new().unwrap();
    let err = |cmd: &mut Command| cmd.spawn(&lp).unwrap_err();
    let missing = err(&mut Command::new("/nonexistent/eddy-test-program"));
    assert_eq!(missing, Error::NOT_FOUND);
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    let io: std::io::Error = missing.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        err(&mut Command::new("eddy-test-no-such-program")),
        Error::NOT_FOUND
    );
    assert_eq!(
        err(sh("exit 0").current_dir("/nonexistent/eddy-dir")),
        Error::NOT_FOUND
    );

    // A file that is not executable (root too: execve wants an execute bit).
    let dir = temp_dir("noexec");
    let file = dir.join("script");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let denied = err(&mut Command::new(&file));
    assert_eq!(denied, Error::PERMISSION_DENIED);
    assert_eq!(denied.kind(), std::io::ErrorKind::PermissionDenied);
    std::fs::remove_dir_all(&dir).unwrap();

    // Bad input.
    assert_eq!(err(&mut Command::new("")), Error::INVALID);
    assert_eq!(err(&mut Command::new("s\0h")), Error::INVALID);
    assert_eq!(err(sh("exit 0").arg("a\0b")), Error::INVALID);
    assert_eq!(err(sh("exit 0").current_dir("a\0b")), Error::INVALID);
    assert_eq!(err(sh("exit 0").env("A=B", "c")), Error::INVALID);
    assert_eq!(err(sh("exit 0").env("", "c")), Error::INVALID);
    assert_eq!(err(sh("exit 0").env("A", "c\0d")), Error::INVALID);
    assert_eq!(err(sh("exit 0").stdin(Stdio::Stdout)), Error::INVALID);
    assert_eq!(err(sh("exit 0").stdout(Stdio::Stdout)), Error::INVALID);
    assert_eq!(err(sh("exit 0").stdout(Stdio::Fd(-1))), Error::INVALID);
    assert_eq!(
        err(sh("exit 0").stdout(Stdio::Fd(1_000_000))),
        Error::INVALID
    );
}

#[test]
fn exit_callback_replaced_set_late_and_what_works_inside_it() {
    let lp = Loop::new().unwrap();
    let p = sh("echo late; exit 4")
        .stdout(Stdio::Pipe)
        .spawn(&lp)
        .unwrap();
    let replaced: Token = Rc::new(());
    let r = replaced.clone();
    p.set_exit_callback(move |_| drop(r)).unwrap();
    assert_eq!(live(&replaced), 1);
    let countdown = Countdown::new(&lp, 3);
    let inside = Rc::new(RefCell::new(Vec::new()));
    let out = Rc::new(RefCell::new(None));
    let (handle, log, o, c) = (p.clone(), inside.clone(), out.clone(), countdown.clone());
    p.set_exit_callback(move |status| {
        // Still the handle's: the stdout pipe can be taken, kill is refused, and a closure set
        // now runs on the next iteration with the same status.
        log.borrow_mut().push(format!("{:?}", handle.kill(SIGKILL)));
        log.borrow_mut().push(format!("{:?}", handle.exit_status()));
        *o.borrow_mut() = Some(collect(&handle.take_stdout().unwrap(), &c));
        let (l, c2) = (log.clone(), c.clone());
        handle
            .set_exit_callback(move |again| {
                assert_eq!(again, status);
                l.borrow_mut().push("late callback".to_owned());
                c2.done();
            })
            .unwrap();
        c.done();
    })
    .unwrap();
    assert_eq!(live(&replaced), 0, "the replaced closure is dropped");
    run_strict(&lp);
    let status = p.exit_status().unwrap();
    assert_eq!(status.code(), Some(4));
    assert_eq!(
        *inside.borrow(),
        [
            "Err(Error(EDDY_ESTATE))".to_owned(),
            format!("{:?}", Some(status)),
            "late callback".to_owned(),
        ]
    );
    let out = out.take().unwrap();
    assert_eq!(&*out.borrow(), b"late\n");
    // Released: nothing left to take, kill refused, a new closure still runs (next iteration).
    assert!(p.take_stdout().is_none());
    assert_eq!(p.kill(0), Err(Error::STATE));
    let countdown = Countdown::new(&lp, 1);
    let late = on_exit(&p, &countdown);
    run_strict(&lp);
    assert_eq!(late.get(), Some(status));
}

#[test]
fn dropping_the_handles_before_the_exit() {
    let lp = Loop::new().unwrap();
    // With an exit closure: it still runs, then it is dropped.
    let p = sh("read line; exit 7")
        .stdin(Stdio::Pipe)
        .spawn(&lp)
        .unwrap();
    let stdin = p.take_stdin().unwrap();
    let countdown = Countdown::new(&lp, 1);
    let status = Rc::new(Cell::new(None));
    let token: Token = Rc::new(());
    let t = token.clone();
    p.set_exit_callback({
        let (status, c) = (status.clone(), countdown.clone());
        move |st| {
            let _keep = &t;
            status.set(Some(st));
            c.done();
        }
    })
    .unwrap();
    drop(p);
    assert_eq!(live(&token), 1, "the closure outlives the handles");
    stdin.write(b"go\n", None).unwrap();
    run_strict(&lp);
    assert_eq!(status.get().unwrap().code(), Some(7));
    assert_eq!(live(&token), 0);

    // Without one: eddy still reaps the child (no zombie is left).
    let p = sh("exit 0").stdout(Stdio::Pipe).spawn(&lp).unwrap();
    let pid = p.pid();
    let stdout = p.take_stdout().unwrap();
    drop(p);
    let countdown = Countdown::new(&lp, 1);
    collect(&stdout, &countdown);
    run_strict(&lp); // the child closed its stdout: it is exiting
    let gone = Rc::new(Cell::new(false));
    let (g, weak) = (gone.clone(), lp.downgrade());
    fn poll(pid: u32, gone: Rc<Cell<bool>>, weak: eddy::WeakLoop) {
        let lp = weak.upgrade().unwrap();
        if stat_field(pid, 3).is_none() {
            gone.set(true);
            lp.stop();
        } else {
            let w = weak.clone();
            lp.call_later(0.01, move || poll(pid, gone, w)).unwrap();
        }
    }
    lp.call_soon(move || poll(pid, g, weak)).unwrap();
    run_strict(&lp);
    assert!(gone.get(), "child {} was not reaped", pid);
}

#[test]
fn the_loop_freed_before_the_exit() {
    let lp = Loop::new().unwrap();
    let p = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::Pipe)
        .stdout(Stdio::Pipe)
        .spawn(&lp)
        .unwrap();
    let stdin = p.take_stdin().unwrap(); // one taken, one not
    let token: Token = Rc::new(());
    let t = token.clone();
    let called = Rc::new(Cell::new(false));
    let cl = called.clone();
    p.set_exit_callback(move |_| {
        let _keep = &t;
        cl.set(true);
    })
    .unwrap();
    let pid = p.pid();
    // The Subprocess does not hold the loop: close is not refused.
    lp.close().unwrap();
    assert_eq!(live(&token), 0, "the exit closure is dropped with the loop");
    assert!(!called.get());
    assert_eq!(p.kill(SIGKILL), Err(Error::CLOSED));
    assert_eq!(p.exit_status(), None);
    assert!(p.take_stdout().is_none());
    assert_eq!(p.set_exit_callback(|_| {}), Err(Error::CLOSED));
    assert!(stdin.is_closed());
    assert_eq!(stdin.write(b"x", None), Err(Error::CLOSED));
    // The child was left running; it is ours to end and reap now.
    let pid = pid as c_int;
    // SAFETY: plain system calls on our own child.
    unsafe {
        assert_eq!(kill(pid, 0), 0, "the child was left running");
        assert_eq!(kill(pid, SIGKILL), 0);
        let mut status: c_int = 0;
        assert_eq!(waitpid(pid, &mut status, 0), pid);
        assert_eq!(status & 0x7f, SIGKILL); // WTERMSIG
    }
}

#[test]
fn many_children_at_once() {
    let lp = Loop::new().unwrap();
    const N: usize = 40;
    let countdown = Countdown::new(&lp, 2 * N);
    let mut children = Vec::new();
    for i in 0..N {
        let p = sh(&format!("echo child {}; exit {}", i, i))
            .stdout(Stdio::Pipe)
            .spawn(&lp)
            .unwrap();
        let out = collect(&p.take_stdout().unwrap(), &countdown);
        let status = on_exit(&p, &countdown);
        children.push((p, out, status));
    }
    run_strict(&lp);
    for (i, (p, out, status)) in children.iter().enumerate() {
        assert_eq!(*out.borrow(), format!("child {}\n", i).into_bytes());
        assert_eq!(status.get().unwrap().code(), Some(i as i32));
        assert_eq!(p.exit_status(), status.get());
    }
}

#[test]
fn a_panicking_exit_callback_is_logged_and_the_loop_goes_on() {
    let lp = Loop::new().unwrap();
    let p = sh("exit 0").spawn(&lp).unwrap();
    p.set_exit_callback(|_| panic!("boom")).unwrap();
    let q = Command::new("cat").stdin(Stdio::Pipe).spawn(&lp).unwrap();
    let q_stdin = q.take_stdin().unwrap();
    let countdown = Countdown::new(&lp, 1);
    let status = on_exit(&q, &countdown);
    // Once the panicking closure ran (p's status is known), end q: its exit closure must come.
    fn poll(p: Subprocess, q_stdin: Stream, weak: eddy::WeakLoop) {
        if p.exit_status().is_some() {
            q_stdin.close().unwrap();
        } else {
            let w = weak.clone();
            let lp = weak.upgrade().unwrap();
            lp.call_later(0.01, move || poll(p, q_stdin, w)).unwrap();
        }
    }
    let (pc, weak) = (p.clone(), lp.downgrade());
    lp.call_soon(move || poll(pc, q_stdin, weak)).unwrap();
    run_strict(&lp);
    assert!(p.exit_status().unwrap().success());
    assert!(status.get().unwrap().success());
}
