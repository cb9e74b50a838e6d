//! TcpServer (Tornado's TCPServer) and connect (TCPClient.connect) over real sockets: listening
//! (TCP, SO_REUSEPORT, Unix, an inherited socket from bind_socket), stop and drop, a client to
//! server round trip on one loop, refused and timed-out connects.
mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::tcp::{live, run_strict, stopper, Log, Peer, Token};
use common::IO_TIMEOUT;
use eddy::{Error, Loop, Result, Stream, TcpServer};

/// Answers one line per connection with "<tag> <line>" and closes.
fn answer_line(
    tag: &'static str,
) -> impl FnMut(Stream, Option<std::net::SocketAddr>) -> Result<()> {
    move |s, _| {
        s.read_until(b"\n", 1024, move |s, line| {
            let mut out = format!("{} ", tag).into_bytes();
            out.extend_from_slice(line);
            s.write(&out, Some(Box::new(|s, _| s.close())))
        })
    }
}

/// One line sent to 127.0.0.1:`port` from another thread while `lp` runs; the answer.
fn ask(lp: &Loop, port: u16, stop_when_done: bool) -> String {
    let remote = lp.remote();
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        p.send(b"hi\n");
        let got = String::from_utf8(p.rest()).unwrap();
        if stop_when_done {
            remote.stop();
        }
        got
    });
    run_strict(lp);
    peer.join().unwrap()
}

fn refused(port: u16) -> bool {
    matches!(
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionRefused)
    )
}

#[test]
fn stop_closes_the_sockets_but_not_the_connections() {
    let lp = Loop::new().unwrap();
    let kept: Rc<RefCell<Option<Stream>>> = Rc::default();
    let (k, stop) = (kept.clone(), stopper(&lp));
    let mut srv = TcpServer::new(&lp, move |s, _| {
        *k.borrow_mut() = Some(s);
        stop();
        Ok(())
    })
    .unwrap();
    assert_eq!(srv.port(), None);
    srv.listen("127.0.0.1", 0).unwrap();
    let port = srv.port().unwrap();
    assert_eq!(srv.socket_count(), 1);
    let peer = thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut line = [0u8; 6];
        s.read_exact(&mut line).unwrap();
        line
    });
    run_strict(&lp);
    srv.stop();
    assert_eq!(srv.socket_count(), 0);
    assert_eq!(srv.port(), None);
    assert!(refused(port));
    // The accepted connection still works.
    let s = kept.borrow_mut().take().unwrap();
    let stop = stopper(&lp);
    s.write(
        b"after\n",
        Some(Box::new(move |s, _| {
            stop();
            s.close()
        })),
    )
    .unwrap();
    run_strict(&lp);
    assert_eq!(&peer.join().unwrap(), b"after\n");
    // Listening again after stop works.
    srv.listen("127.0.0.1", 0).unwrap();
    assert_eq!(srv.socket_count(), 1);
}

#[test]
fn each_listening_socket_has_its_address() {
    // Two listens with port 0 make two sockets with a port each; port() gives the first's.
    let lp = Loop::new().unwrap();
    let mut srv = TcpServer::new(&lp, |_s, _addr| Ok(())).unwrap();
    assert_eq!(srv.local_addr(0), None);
    srv.listen("127.0.0.1", 0).unwrap();
    srv.listen("::1", 0).unwrap();
    assert_eq!(srv.socket_count(), 2);
    let first = srv.local_addr(0).unwrap();
    let second = srv.local_addr(1).unwrap();
    assert_eq!(first.ip().to_string(), "127.0.0.1");
    assert_eq!(second.ip().to_string(), "::1");
    assert_eq!(srv.port(), Some(first.port()));
    assert_ne!(second.port(), 0);
    assert_eq!(srv.local_addr(2), None);
    // The second socket is a real listener on its own port.
    assert!(TcpStream::connect(second).is_ok());
    srv.stop();
    assert_eq!(srv.local_addr(0), None);
}

#[test]
fn dropping_the_server_frees_its_closure_and_sockets() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let t = token.clone();
    let mut srv = TcpServer::new(&lp, move |_, _| {
        let _t = &t;
        Ok(())
    })
    .unwrap();
    srv.listen("127.0.0.1", 0).unwrap();
    let port = srv.port().unwrap();
    assert_eq!(live(&token), 1);
    // The server holds a loop handle: the loop cannot be closed under it.
    let other = lp.clone();
    assert_eq!(other.close(), Err(Error::BUSY));
    drop(srv);
    assert_eq!(live(&token), 0);
    assert!(refused(port));
    lp.close().unwrap();
}

#[test]
fn a_server_dropped_inside_its_own_accept_closure() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let slot: Rc<RefCell<Option<TcpServer>>> = Rc::default();
    let (sl, t, stop) = (slot.clone(), token.clone(), stopper(&lp));
    let mut srv = TcpServer::new(&lp, move |s, _| {
        let _t = &t;
        // Its own last owner: eddy frees it (and this closure) once the call returned.
        let me = sl.borrow_mut().take();
        drop(me);
        let stop = stop.clone();
        s.set_close_callback(move |_| {
            stop();
            Ok(())
        })?;
        s.write(b"last\n", Some(Box::new(|s, _| s.close())))
    })
    .unwrap();
    srv.listen("127.0.0.1", 0).unwrap();
    let port = srv.port().unwrap();
    *slot.borrow_mut() = Some(srv);
    let peer = thread::spawn(move || Peer::connect(port).line());
    // The stream outlives the server: its write and close still happen.
    run_strict(&lp);
    assert_eq!(live(&token), 0);
    assert!(refused(port));
    assert_eq!(peer.join().unwrap(), "last\n");
}

#[test]
fn listen_errors_and_reuse_port() {
    let lp = Loop::new().unwrap();
    let mut a = TcpServer::new(&lp, answer_line("a")).unwrap();
    a.listen("127.0.0.1", 0).unwrap();
    let port = a.port().unwrap();
    let mut b = TcpServer::new(&lp, answer_line("b")).unwrap();
    assert_eq!(b.listen("127.0.0.1", port), Err(Error::ADDR_IN_USE));
    assert_eq!(b.listen("127.0.0.1\0", 0), Err(Error::INVALID));
    assert_eq!(b.socket_count(), 0);
    // SO_REUSEPORT on both sides: two servers on one port.
    let mut c = TcpServer::new(&lp, answer_line("c")).unwrap();
    c.listen_reuse_port("127.0.0.1", 0).unwrap();
    let shared = c.port().unwrap();
    let mut d = TcpServer::new(&lp, answer_line("d")).unwrap();
    d.listen_reuse_port("127.0.0.1", shared).unwrap();
    assert_eq!(d.port(), Some(shared));
    let got = ask(&lp, shared, true);
    assert!(got == "c hi\n" || got == "d hi\n", "{:?}", got);
}

#[test]
fn unix_socket_server() {
    let lp = Loop::new().unwrap();
    let path = std::env::temp_dir().join(format!("eddy-rust-tcp-{}.sock", std::process::id()));
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let mut srv = TcpServer::new(&lp, move |s, peer| {
        l.push(format!("peer {:?}", peer));
        assert_eq!(s.set_nodelay(true), Err(Error::NOT_SUPPORTED));
        let stop = stop.clone();
        s.set_close_callback(move |_| {
            stop();
            Ok(())
        })?;
        s.read_until(b"\n", 0, move |s, line| {
            s.write(line, Some(Box::new(|s, _| s.close())))
        })
    })
    .unwrap();
    srv.bind_unix(&path).unwrap();
    assert_eq!(srv.port(), None);
    assert_eq!(srv.socket_count(), 1);
    let p = path.clone();
    let peer = thread::spawn(move || {
        let mut s = UnixStream::connect(&p).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"over unix\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    run_strict(&lp);
    assert_eq!(peer.join().unwrap(), "over unix\n");
    assert_eq!(log.take(), ["peer None"]);
    srv.stop();
    assert!(!path.exists(), "the socket file is removed on stop");
}

/// bind_unix_mode sets the socket file's mode (Tornado's bind_unix_socket(file, mode)); an
/// "@name" is an abstract socket with no file.
#[test]
fn unix_socket_mode_and_abstract_name() {
    use std::os::unix::fs::PermissionsExt;
    let lp = Loop::new().unwrap();
    let path = std::env::temp_dir().join(format!("eddy-rust-mode-{}.sock", std::process::id()));
    let mut srv = TcpServer::new(&lp, |s, _| s.close()).unwrap();
    srv.bind_unix_mode(&path, 0o640).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    let name = format!("@eddy-rust-abstract-{}", std::process::id());
    srv.bind_unix_mode(&name, 0o600).unwrap();
    assert!(
        std::fs::symlink_metadata(&name).is_err(),
        "no file for an abstract socket"
    );
    let mut other = TcpServer::new(&lp, |_, _| Ok(())).unwrap();
    assert_eq!(other.bind_unix(&name), Err(Error::ADDR_IN_USE));
    assert_eq!(
        other.bind_unix_mode(path.with_extension("x"), 0o1000),
        Err(Error::INVALID)
    );
    assert_eq!(srv.socket_count(), 2);
    srv.stop();
    assert!(!path.exists());
    // Stopped: the name is free again.
    other.bind_unix(&name).unwrap();
}

#[test]
fn add_fd_takes_a_socket_from_bind_socket_or_std() {
    let lp = Loop::new().unwrap();
    let fd = eddy::bind_socket("127.0.0.1", 0, 0, false).unwrap();
    let port = eddy::socket_port(&fd).unwrap();
    let mut srv = TcpServer::new(&lp, answer_line("inherited")).unwrap();
    srv.add_fd(fd).unwrap();
    assert_eq!(srv.port(), Some(port));
    assert_eq!(ask(&lp, port, true), "inherited hi\n");

    // A std listener handed over.
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let std_port = std_listener.local_addr().unwrap().port();
    let mut other = TcpServer::new(&lp, answer_line("std")).unwrap();
    other.add_fd(std_listener.into()).unwrap();
    assert_eq!(ask(&lp, std_port, true), "std hi\n");

    // Not a listening socket: refused (and closed).
    let connected = TcpStream::connect(("127.0.0.1", std_port)).unwrap();
    assert_eq!(other.add_fd(connected.into()), Err(Error::INVALID));
    assert_eq!(other.socket_count(), 1);

    // bind_socket's own errors.
    assert_eq!(
        eddy::bind_socket("127.0.0.1", port, 0, false).err(),
        Some(Error::ADDR_IN_USE)
    );
    assert_eq!(
        eddy::bind_socket("127.0.0.1\0", 0, 0, false).err(),
        Some(Error::INVALID)
    );
    let std_fd = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(eddy::socket_port(&std_fd), Err(Error::INVALID));
}

/// Stops the loop on its `n`th call.
fn stop_after(lp: &Loop, n: usize) -> impl Fn() + Clone {
    let (count, stop) = (Rc::new(RefCell::new(0)), stopper(lp));
    move || {
        *count.borrow_mut() += 1;
        if *count.borrow() == n {
            stop();
        }
    }
}

#[test]
fn client_to_server_round_trip_on_one_loop() {
    let lp = Loop::new().unwrap();
    let (server_log, client_log) = (Log::default(), Log::default());
    let both_closed = stop_after(&lp, 2);
    let (l, done) = (server_log.clone(), both_closed.clone());
    let mut srv = TcpServer::new(&lp, move |s, peer| {
        l.push(format!("peer {}", peer.unwrap().ip()));
        let (l, done) = (l.clone(), done.clone());
        s.set_close_callback(move |why| {
            l.push(format!("closed {:?}", why));
            done();
            Ok(())
        })?;
        fn echo(s: &Stream) -> Result<()> {
            s.read_until(b"\n", 1024, |s, line| {
                s.write(&line.to_ascii_uppercase(), None)?;
                echo(s)
            })
        }
        echo(&s)
    })
    .unwrap();
    srv.listen("127.0.0.1", 0).unwrap();
    let port = srv.port().unwrap();
    let (l, done) = (client_log.clone(), both_closed);
    eddy::connect(&lp, "127.0.0.1", port, 5.0, move |outcome| {
        let s = outcome?;
        l.push("connected");
        s.set_nodelay(true)?;
        let l2 = l.clone();
        s.set_close_callback(move |why| {
            l2.push(format!("closed {:?}", why));
            done();
            Ok(())
        })?;
        s.write(b"ping\n", None)?;
        s.read_until(b"\n", 1024, move |s, line| {
            l.push(String::from_utf8_lossy(line).trim_end().to_owned());
            s.close()
        })
    })
    .unwrap();
    run_strict(&lp);
    assert_eq!(client_log.take(), ["connected", "PING", "closed None"]);
    assert_eq!(
        server_log.take(),
        ["peer 127.0.0.1", "closed Some(Error(EDDY_EOF))"]
    );
}

#[test]
fn connect_refused_timed_out_and_bad_arguments() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let record = |lp: &Loop, log: &Log| {
        let (l, stop) = (log.clone(), stopper(lp));
        move |r: Result<Stream>| {
            l.push(format!("{:?}", r.map(|_| ())));
            stop();
            Ok(())
        }
    };

    // Nobody listens: refused.
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    eddy::connect(&lp, "127.0.0.1", port, 5.0, record(&lp, &log)).unwrap();
    run_strict(&lp);
    assert_eq!(log.take(), ["Err(Error(EDDY_ECONNREFUSED))"]);

    // A timeout that expires before the first attempt even started.
    eddy::connect(&lp, "127.0.0.1", port, 1e-9, record(&lp, &log)).unwrap();
    run_strict(&lp);
    assert_eq!(log.take(), ["Err(Error(EDDY_ETIMEDOUT))"]);

    // A listener whose accept queue is full drops further SYNs (Linux): the connect hangs
    // until its timeout. Fill the queue (backlog 1) with connections nobody accepts.
    let full = eddy::bind_socket("127.0.0.1", 0, 1, false).unwrap();
    let full_port = eddy::socket_port(&full).unwrap();
    let addr = ([127, 0, 0, 1], full_port).into();
    let mut fillers = Vec::new();
    let mut queue_full = false;
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => {
                queue_full = true;
                break;
            }
        }
    }
    assert!(queue_full, "the accept queue never filled up");
    eddy::connect(&lp, "127.0.0.1", full_port, 0.3, record(&lp, &log)).unwrap();
    run_strict(&lp);
    assert_eq!(log.take(), ["Err(Error(EDDY_ETIMEDOUT))"]);

    // Refused at once: no closure runs.
    let token = Token::new(());
    let t = token.clone();
    let never = move |_: Result<Stream>| -> Result<()> {
        let _t = &t;
        panic!("not called")
    };
    assert_eq!(
        eddy::connect(&lp, "127.0.0.1", port, f64::NAN, never.clone()),
        Err(Error::INVALID)
    );
    assert_eq!(
        eddy::connect(&lp, "127.0.0.1\0", port, 1.0, never),
        Err(Error::INVALID)
    );
    assert_eq!(live(&token), 0);
}

#[test]
fn a_pending_connect_is_dropped_uncalled_with_the_loop() {
    let lp = Loop::new().unwrap();
    let full = eddy::bind_socket("127.0.0.1", 0, 1, false).unwrap();
    let port = eddy::socket_port(&full).unwrap();
    let token = Token::new(());
    let t = token.clone();
    eddy::connect(&lp, "127.0.0.1", port, 60.0, move |_| {
        let _t = &t;
        panic!("not called: the loop is freed first")
    })
    .unwrap();
    assert_eq!(live(&token), 1);
    drop(lp);
    assert_eq!(live(&token), 0);
}
