//! HttpServer (eddy's HTTP server without the web layer) over real sockets: the request in,
//! the response out, keep-alive and pipelining, bodies and arguments, detached answers finished
//! from other threads, streaming, the C boundary's panic and error handling, shutdown.
mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Client, IO_TIMEOUT};
use eddy::{Error, HttpServer, Loop, Remote, Request, ServerResponse};

/// An HttpServer on its own loop thread (127.0.0.1, port 0): stopped and joined on drop.
struct RawServer {
    port: u16,
    remote: Remote,
    thread: Option<thread::JoinHandle<()>>,
}

impl RawServer {
    fn start<F>(f: F) -> RawServer
    where
        F: Fn(&Request<'_>, &mut ServerResponse<'_>) -> eddy::Result<()> + Send + 'static,
    {
        RawServer::start_with(|_| {}, f)
    }

    /// `setup` configures the server before it listens.
    fn start_with<S, F>(setup: S, f: F) -> RawServer
    where
        S: FnOnce(&mut HttpServer) + Send + 'static,
        F: Fn(&Request<'_>, &mut ServerResponse<'_>) -> eddy::Result<()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let lp = Loop::new().expect("loop");
            let mut server = HttpServer::new(&lp, f).expect("server");
            setup(&mut server);
            server.listen("127.0.0.1", 0).expect("listen");
            tx.send((server.port().expect("port"), lp.remote()))
                .unwrap();
            lp.run().expect("run");
            drop(server);
        });
        let (port, remote) = rx.recv_timeout(IO_TIMEOUT).expect("server start");
        RawServer {
            port,
            remote,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> Client {
        Client::connect(self.port)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.remote.stop();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() && !thread::panicking() {
                panic!("server thread panicked");
            }
        }
    }
}

#[test]
fn request_in_response_out_on_one_kept_alive_connection() {
    let srv = RawServer::start(|req, res| {
        if req.path() == "/status" {
            res.set_status_reason(418, "Short And Stout")?;
        }
        res.set_header("Content-Type", "text/plain")?;
        res.add_header("X-Multi", "1")?;
        res.add_header("X-Multi", "2")?;
        res.write(format!(
            "{} {} path={} query={} a={:?} h={:?} v={} ip={} body={} pa={:?} c={:?}",
            req.method(),
            req.uri(),
            req.path(),
            req.query(),
            req.argument("a"),
            req.header("x-h"),
            req.version(),
            req.remote_ip(),
            String::from_utf8_lossy(req.body()),
            req.path_arg(0),
            req.cookie("c"),
        ))
    });
    let mut c = srv.connect();
    c.send("GET /x?a=1 HTTP/1.1\r\nHost: t\r\nX-H: hv\r\nCookie: c=1\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(
        r.text(),
        "GET /x?a=1 path=/x query=a=1 a=Some(\"1\") h=Some(\"hv\") v=11 ip=127.0.0.1 body= \
         pa=None c=None"
    );
    // The same connection again (keep-alive), with a body; then two pipelined requests, answered
    // in order.
    c.send("POST /y HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\ndata");
    let r = c.response();
    assert!(r.text().starts_with("POST /y "), "{}", r.text());
    assert!(r.text().contains("body=data"), "{}", r.text());
    c.send(
        "GET /status HTTP/1.1\r\nHost: t\r\n\r\nPUT /z HTTP/1.1\r\nHost: t\r\n\
         Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 418);
    let r = c.response();
    assert!(r.text().starts_with("PUT /z "), "{}", r.text());
    assert!(r.text().contains("body=abc"), "{}", r.text());
    // HEAD: the head of the GET answer (its length), no body; the connection goes on.
    c.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut head = String::new();
    loop {
        let mut byte = [0u8; 1];
        c.read_exact(&mut byte);
        head.push(byte[0] as char);
        if head.ends_with("\r\n\r\n") {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200 "), "{}", head);
    assert!(head.contains("Content-Length: "), "{}", head);
    assert_eq!(c.response().status, 200);
}

#[test]
fn form_bodies_become_arguments_unless_turned_off() {
    let echo = |req: &Request<'_>, res: &mut ServerResponse<'_>| {
        res.write(format!(
            "{:?} {}",
            req.body_argument("k"),
            String::from_utf8_lossy(req.body())
        ))
    };
    let form = "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 6\r\n\r\nk=v%21";
    let srv = RawServer::start(echo);
    let mut c = srv.connect();
    c.send(form);
    assert_eq!(c.response().text(), "Some(\"v!\") k=v%21");
    let raw = RawServer::start_with(|s| s.set_body_arguments(false).unwrap(), echo);
    let mut c = raw.connect();
    c.send(form);
    assert_eq!(c.response().text(), "None k=v%21");
}

#[test]
fn errors_and_panics_become_500_or_a_cut_answer() {
    let srv = RawServer::start(|req, res| match req.path() {
        "/err" => {
            res.set_header("Content-Length", "100")?;
            Err(Error::INVALID)
        }
        "/panic" => panic!("raw boom"),
        "/late-panic" => {
            res.write("partial")?;
            panic!("after a write")
        }
        "/bad-header" => res.set_header("X-Bad", "a\r\nInjected: yes"),
        _ => res.write("fine"),
    });
    for path in ["/err", "/panic"] {
        let mut c = srv.connect();
        c.send(&format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", path));
        let r = c.response();
        assert_eq!((r.status, r.text()), (500, String::new()), "{}", path);
        // The connection is still usable.
        c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().text(), "fine");
    }
    // Once body bytes were written, a 500 is no longer possible: the connection is cut.
    let mut c = srv.connect();
    c.send("GET /late-panic HTTP/1.1\r\nHost: t\r\n\r\n");
    let got = c.rest();
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    // A header with CR LF is refused (Err(INVALID), so a 500), never sent.
    let mut c = srv.connect();
    c.send("GET /bad-header HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 500);
    assert_eq!(r.header("injected"), None);
}

#[test]
fn detached_answers_finish_from_other_threads_and_stream() {
    let srv = RawServer::start(|req, res| {
        match req.path() {
            "/later" => {
                res.set_header("X-Early", "yes")?;
                let d = res.detach()?;
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(50));
                    d.finish(|req, res| {
                        res.set_status(201)?;
                        res.write(format!("later for {}", req.path()))
                    })
                    .unwrap();
                });
            }
            "/stream" => {
                res.write("first;")?;
                res.flush()?;
                let d = res.detach()?;
                thread::spawn(move || {
                    for i in 0..3 {
                        d.send(move |_, res| {
                            res.write(format!("piece{};", i))?;
                            res.flush()
                        })
                        .unwrap();
                        thread::sleep(Duration::from_millis(20));
                    }
                    d.finish(|_, res| res.write("end")).unwrap();
                });
            }
            "/dropped" => {
                let d = res.detach()?;
                thread::spawn(move || drop(d));
            }
            _ => res.write("plain")?,
        }
        Ok(())
    });
    let mut c = srv.connect();
    c.send("GET /later HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text()), (201, "later for /later".to_owned()));
    assert_eq!(r.header("x-early"), Some("yes"));
    c.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "first;piece0;piece1;piece2;end");
    // A ServerDeferred dropped unfinished: 500, and the connection goes on.
    c.send("GET /dropped HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 500);
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "plain");
}

#[test]
fn a_client_that_left_leaves_the_deferred_answer_closed() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |_, res| {
        let d = res.detach()?;
        tx.lock().unwrap().send(d).unwrap();
        Ok(())
    });
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let d = rx.recv_timeout(IO_TIMEOUT).unwrap();
    c.close();
    thread::sleep(Duration::from_millis(100));
    let (seen_tx, seen_rx) = mpsc::channel();
    d.finish(move |_, res| {
        seen_tx
            .send((res.connection_closed(), res.write("x")))
            .unwrap();
        Ok(())
    })
    .unwrap();
    let (closed, write) = seen_rx.recv_timeout(IO_TIMEOUT).unwrap();
    assert!(closed);
    assert_eq!(write, Err(Error::CLOSED));
}

#[test]
fn abort_cuts_a_flushed_answer() {
    let srv = RawServer::start(|_, res| {
        res.set_header("Content-Length", "10")?;
        res.write("12345")?;
        res.flush()?;
        res.abort()
    });
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let got = c.rest();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 "), "{}", got);
    assert!(got.ends_with("\r\n\r\n12345"), "{}", got);
}

#[test]
fn methods_and_options() {
    let srv = RawServer::start_with(
        |s| {
            s.allow_method("PURGE").unwrap();
            assert_eq!(s.allow_method("CONNECT"), Err(Error::INVALID));
            s.set_server_header(Some("raw/1")).unwrap();
            s.set_no_keep_alive(true).unwrap();
        },
        |req, res| res.write(req.method()),
    );
    let mut c = srv.connect();
    c.send("PURGE / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text()), (200, "PURGE".to_owned()));
    assert_eq!(r.header("server"), Some("raw/1"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
    let mut c = srv.connect();
    c.send("BREW / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 501); // not allowed: the server answers, not the closure
}

#[test]
fn shutdown_waits_for_the_request_in_flight_then_done_runs() {
    let lp = Loop::new().unwrap();
    let kept = std::rc::Rc::new(std::cell::RefCell::new(None));
    let k = kept.clone();
    let mut server = HttpServer::new(&lp, move |_, res| {
        *k.borrow_mut() = Some(res.detach()?);
        Ok(())
    })
    .unwrap();
    server.listen("127.0.0.1", 0).unwrap();
    let port = server.port().unwrap();
    let client = thread::spawn(move || {
        let mut c = Client::connect(port);
        c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        (r.status, r.text(), c.closed())
    });
    // Wait (bounded) for the request to arrive, then shut down with it in flight.
    let started = std::time::Instant::now();
    while kept.borrow().is_none() {
        assert!(started.elapsed() < IO_TIMEOUT, "no request");
        let stopper = lp.clone();
        lp.call_later(0.01, move || stopper.stop()).unwrap();
        lp.run().unwrap();
    }
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    let d = done.clone();
    let stopper = lp.clone();
    server
        .shutdown(move || {
            d.set(true);
            stopper.stop();
        })
        .unwrap();
    assert_eq!(server.shutdown(|| {}), Err(Error::STATE));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    kept.borrow_mut()
        .take()
        .unwrap()
        .finish(|_, res| res.write("last"))
        .unwrap();
    common::run_bounded(&lp);
    assert!(done.get());
    assert_eq!(
        client.join().unwrap(),
        (200, "last".to_owned(), true),
        "answered whole, then closed"
    );
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn dropped_inside_its_own_callback() {
    let lp = Loop::new().unwrap();
    let slot: std::rc::Rc<std::cell::RefCell<Option<HttpServer>>> = Default::default();
    let s = slot.clone();
    let weak = lp.downgrade();
    let server = HttpServer::new(&lp, move |_, res| {
        res.write("bye")?;
        // The server (and this closure) go once this returned; the answer still goes out.
        drop(s.borrow_mut().take());
        if let Some(lp) = weak.upgrade() {
            let stopper = lp.clone();
            lp.call_later(0.2, move || stopper.stop())?;
        }
        Ok(())
    })
    .unwrap();
    *slot.borrow_mut() = Some(server);
    slot.borrow_mut()
        .as_mut()
        .unwrap()
        .listen("127.0.0.1", 0)
        .unwrap();
    let port = slot.borrow().as_ref().unwrap().port().unwrap();
    let client = thread::spawn(move || {
        let mut c = Client::connect(port);
        c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        (r.status, r.text(), c.closed())
    });
    common::run_bounded(&lp);
    assert!(slot.borrow().is_none());
    assert_eq!(client.join().unwrap(), (200, "bye".to_owned(), true));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
