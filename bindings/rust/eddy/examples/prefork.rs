//! Several processes on one port (Tornado's `bind_sockets` + `fork_processes` + `TCPServer`):
//! the socket is bound first, then the process forks, and each child serves it on its own loop,
//! answering every connection with "task <id> pid <pid>" and closing it.
//!
//!     prefork [--port N] [--address A] [--processes N] [--max-restarts N] [--serve-once STATUS]
//!     prefork --refusals
//!
//! Prints "listening on A:N" before forking. SIGINT/SIGTERM to the parent stop every child, and
//! then the parent. `--serve-once STATUS`: each child serves one connection, then exits with
//! STATUS (0: not restarted; another: restarted, up to --max-restarts, default 0).
//! `--refusals`: shows fork_processes refusing while a loop or a second thread exists (one
//! line each), then forks one child, which shows that forking again there is refused too.
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use eddy::{Loop, TcpServer, SIGINT, SIGTERM};

fn main() {
    let mut address = String::from("127.0.0.1");
    let (mut port, mut processes, mut max_restarts) = (8888u16, 0u32, 0u32);
    let mut serve_once: Option<i32> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--refusals" {
            refusals();
            return;
        }
        match (arg.as_str(), args.next()) {
            ("--port", Some(v)) => port = v.parse().expect("--port takes a number"),
            ("--address", Some(v)) => address = v,
            ("--processes", Some(v)) => processes = v.parse().expect("--processes takes a number"),
            ("--max-restarts", Some(v)) => {
                max_restarts = v.parse().expect("--max-restarts takes a number")
            }
            ("--serve-once", Some(v)) => {
                serve_once = Some(v.parse().expect("--serve-once takes a status"))
            }
            _ => {
                eprintln!(
                    "usage: prefork [--port N] [--address A] [--processes N] [--max-restarts N] \
                     [--serve-once STATUS] | --refusals"
                );
                std::process::exit(2);
            }
        }
    }
    // Bound before forking: the children share this socket and its accept queue.
    let socket = match eddy::bind_socket(&address, port, 0, false) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("prefork: cannot listen on {}:{}: {}", address, port, e);
            std::process::exit(1);
        }
    };
    let port = eddy::socket_port(&socket).expect("port");
    println!("listening on {}:{}", address, port);
    // The parent stays in fork_processes until every child is done, then exits.
    let task = eddy::fork_processes(processes, max_restarts).expect("fork_processes");
    assert_eq!(eddy::task_id(), Some(task));

    let lp = Loop::new().expect("loop");
    let weak = lp.downgrade();
    // With --serve-once the accept closure stops its own server at the first connection (so
    // that a second one goes to another process), hence the shared slot.
    let slot: Rc<RefCell<Option<TcpServer>>> = Rc::default();
    let me = slot.clone();
    let mut server = TcpServer::new(&lp, move |stream, _peer| {
        if serve_once.is_some() {
            if let Some(server) = me.borrow().as_ref() {
                server.stop();
            }
        }
        let answer = format!("task {} pid {}\n", task, std::process::id());
        let weak = weak.clone();
        stream.write(
            answer.as_bytes(),
            Some(Box::new(move |s, _| {
                if serve_once.is_some() {
                    if let Some(lp) = weak.upgrade() {
                        lp.stop();
                    }
                }
                s.close()
            })),
        )
    })
    .expect("server");
    server.add_fd(socket).expect("add_fd");
    *slot.borrow_mut() = Some(server);
    lp.stop_on_signals(&[SIGINT, SIGTERM]).expect("signals");
    lp.run().expect("run");
    drop(slot.borrow_mut().take());
    drop(lp);
    std::process::exit(serve_once.unwrap_or(0));
}

/// fork_processes refuses while another thread or a loop exists, and in a forked child.
fn refusals() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || rx.recv());
    println!(
        "with a thread: {:?}",
        eddy::fork_processes(2, 0).map_err(|e| e.name())
    );
    drop(tx);
    let _ = other.join();
    wait_single_threaded();

    let lp = Loop::new().expect("loop");
    println!(
        "with a loop: {:?}",
        eddy::fork_processes(2, 0).map_err(|e| e.name())
    );
    drop(lp);

    std::io::stdout().flush().unwrap();
    // Alone again: this forks (the parent waits for the child, then exits 0).
    let task = eddy::fork_processes(1, 0).expect("fork_processes");
    println!(
        "child {}: again {:?}",
        task,
        eddy::fork_processes(1, 0).map_err(|e| e.name())
    );
}

/// A joined thread leaves /proc/self/task a moment after `join` returned (the kernel wakes the
/// joiner before it has reaped the thread): wait for that, at most about 10 s.
fn wait_single_threaded() {
    for _ in 0..10_000 {
        if std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count()) == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("another thread is still listed in /proc/self/task");
}
