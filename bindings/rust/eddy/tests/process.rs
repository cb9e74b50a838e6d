//! Process helpers (Tornado's bind_sockets + fork_processes): the `prefork` example run as a
//! program, since a `cargo test` binary has several threads and fork_processes refuses to fork
//! there (the example checks that refusal too). Children answer "task <id> pid <pid>".
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::os::raw::c_int;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

extern "C" {
    fn kill(pid: c_int, sig: c_int) -> c_int;
}
const SIGTERM: c_int = 15;

struct Prefork {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Prefork {
    fn start(args: &[&str]) -> Prefork {
        // target/<profile>/deps/<this test> → target/<profile>/examples/prefork
        let mut path: PathBuf = std::env::current_exe().unwrap();
        path.pop();
        path.pop();
        path.push("examples");
        path.push("prefork");
        let mut child = Command::new(&path)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {}", path.display(), e));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Prefork { child, stdout }
    }

    /// The port of the "listening on A:N" line.
    fn port(&mut self) -> u16 {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {:?}", line))
    }

    /// Waits (at most 10 s, then kills it and fails) for the parent to exit.
    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("prefork did not exit within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Prefork {
    fn drop(&mut self) {
        // The children get SIGTERM when the parent dies (PR_SET_PDEATHSIG).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection's answer: (task id, pid).
fn ask(port: u16) -> (u32, u32) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let words: Vec<&str> = answer.split_whitespace().collect();
    match words[..] {
        ["task", task, "pid", pid] => (task.parse().unwrap(), pid.parse().unwrap()),
        _ => panic!("unexpected answer {:?}", answer),
    }
}

#[test]
fn every_child_serves_the_shared_socket() {
    // Each child serves one connection and exits with 0 (not restarted), so the second
    // connection can only be the other child's.
    let mut p = Prefork::start(&["--port", "0", "--processes", "2", "--serve-once", "0"]);
    let port = p.port();
    let (a, b) = (ask(port), ask(port));
    let tasks: BTreeSet<u32> = [a.0, b.0].into_iter().collect();
    assert_eq!(tasks, [0, 1].into_iter().collect());
    assert_ne!(a.1, b.1);
    assert!(a.1 != p.child.id() && b.1 != p.child.id());
    assert_eq!(p.wait().code(), Some(0));
}

#[test]
fn a_failing_child_is_restarted_up_to_max_restarts() {
    // The child exits with 3 after each connection: restarted once with the same task id in a
    // new process, then the parent gives up with status 1.
    let mut p = Prefork::start(&[
        "--port",
        "0",
        "--processes",
        "1",
        "--max-restarts",
        "1",
        "--serve-once",
        "3",
    ]);
    let port = p.port();
    let (first, second) = (ask(port), ask(port));
    assert_eq!((first.0, second.0), (0, 0));
    assert_ne!(first.1, second.1);
    assert_eq!(p.wait().code(), Some(1));
}

#[test]
fn sigterm_to_the_parent_stops_every_child() {
    let mut p = Prefork::start(&["--port", "0", "--processes", "2"]);
    let port = p.port();
    let (_, child_pid) = ask(port);
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { kill(p.child.id() as c_int, SIGTERM) }, 0);
    // Passed on to the children (whose loops stop; one still starting up dies of it), which
    // are not restarted after SIGTERM: then the parent exits 0. Without the forwarding the
    // children would serve on and the parent would never exit.
    assert_eq!(p.wait().code(), Some(0));
    // SAFETY: signal 0 only checks that the process exists; the parent reaped it.
    assert_eq!(unsafe { kill(child_pid as c_int, 0) }, -1);
}

#[test]
fn refused_with_another_thread_a_loop_or_in_a_child() {
    let mut p = Prefork::start(&["--refusals"]);
    let mut out = String::new();
    p.stdout.read_to_string(&mut out).unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "with a thread: Err(\"EDDY_ESTATE\")",
            "with a loop: Err(\"EDDY_ESTATE\")",
            "child 0: again Err(\"EDDY_ESTATE\")",
        ]
    );
    assert_eq!(p.wait().code(), Some(0));
}

#[test]
fn task_id_and_cpu_count_in_an_unforked_process() {
    assert_eq!(eddy::task_id(), None);
    assert!(eddy::cpu_count() >= 1);
}
