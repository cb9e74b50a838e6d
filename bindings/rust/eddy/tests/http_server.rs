//! HttpServer (eddy's HTTP server without the web layer) over real sockets: the request in,
//! the response out, keep-alive and pipelining, bodies and arguments, detached answers finished
//! from other threads, streaming, the C boundary's panic and error handling, shutdown.
mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Client, RawServer, IO_TIMEOUT};
use eddy::{Error, HttpServer, Loop, Request, ServerResponse};

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

/// Events seen on the loop thread, in order, shared with the test.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn push(log: &Log, what: impl Into<String>) {
    log.lock().unwrap().push(what.into());
}

#[test]
fn streamed_bodies_reach_a_closure_piece_by_piece_with_flow_control() {
    let log: Log = Default::default();
    let (l, l2) = (log.clone(), log.clone());
    let srv = RawServer::start_with(
        move |s| {
            s.on_headers(move |req, res| {
                match req.path() {
                    "/deny" => {
                        // Answered from the head: the body is not read, the closure not run.
                        res.set_status(401)?;
                        res.write("no")?;
                        return res.finish();
                    }
                    "/small" => return res.set_max_body_size(5),
                    "/plain" => return Ok(()), // held in memory as usual
                    _ => {}
                }
                let path = req.path().to_owned();
                let log = l.clone();
                let mut seen = 0usize;
                res.stream_body(move |_, res, chunk| {
                    seen += chunk.len();
                    push(&log, format!("data {}", chunk.len()));
                    match path.as_str() {
                        "/upload" => {
                            // Every piece is consumed on another thread; reading waits for it.
                            let paused = res.pause_body()?;
                            push(&log, "pause");
                            let log = log.clone();
                            thread::spawn(move || {
                                thread::sleep(Duration::from_millis(5));
                                push(&log, "resume");
                                paused.resume().unwrap();
                            });
                            Ok(())
                        }
                        "/early" if seen > 10 => {
                            res.set_status(413)?;
                            res.finish()
                        }
                        "/err" => Err(Error::INVALID),
                        _ => Ok(()),
                    }
                })
            })
            .unwrap();
        },
        move |req, res| {
            push(
                &l2,
                format!("request {} body={}", req.path(), req.body().len()),
            );
            res.write(format!("{} {}", req.path(), req.body().len()))
        },
    );
    // 256 KiB in pieces of 16 KiB, some of them chunked: every byte arrives, in pieces, and
    // no piece is delivered while the one before is being consumed.
    let mut c = srv.connect();
    let total = 256 * 1024;
    c.send(&format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        total
    ));
    let piece = vec![b'x'; 16 * 1024];
    for _ in 0..16 {
        c.send_bytes(&piece);
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(c.response().text(), "/upload 0");
    {
        let events = log.lock().unwrap();
        let mut received = 0;
        let mut paused = false;
        for e in events.iter() {
            if let Some(n) = e.strip_prefix("data ") {
                assert!(!paused, "a piece while paused: {:?}", events);
                received += n.parse::<usize>().unwrap();
            } else if e == "pause" {
                paused = true;
            } else if e == "resume" {
                paused = false;
            }
        }
        assert_eq!(received, total);
        assert!(events.iter().filter(|e| *e == "pause").count() > 1);
        assert_eq!(events.last().unwrap(), "request /upload body=0");
    }
    log.lock().unwrap().clear();
    // Chunked, on the same connection; then a body held in memory, as without a stream.
    c.send(
        "POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\nPOST /plain HTTP/1.1\r\nHost: t\r\n\
         Content-Length: 3\r\n\r\nxyz",
    );
    assert_eq!(c.response().text(), "/count 0");
    assert_eq!(c.response().text(), "/plain 3");
    // Answered in the headers callback: the body is never read, the connection closes.
    let mut c = srv.connect();
    c.send("POST /deny HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text()), (401, "no".to_owned()));
    assert!(c.closed());
    // Answered from the body closure, after 11 bytes of 100.
    let mut c = srv.connect();
    c.send("POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789AB");
    assert_eq!(c.response().status, 413);
    // An Err from the body closure: 500.
    let mut c = srv.connect();
    c.send("POST /err HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(c.response().status, 500);
    // The per-request limit of the headers callback: the server's 413.
    let mut c = srv.connect();
    c.send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabcdef");
    assert_eq!(c.response().status, 413);
    let events = log.lock().unwrap();
    for path in ["/deny", "/early", "/err", "/small"] {
        let seen = format!("request {} ", path);
        assert!(
            !events.iter().any(|e| e.starts_with(&seen)),
            "{}: {:?}",
            path,
            events
        );
    }
}

#[test]
fn a_body_cut_short_calls_on_close_and_the_request_is_released() {
    let log: Log = Default::default();
    let (l, l2) = (log.clone(), log.clone());
    let (paused_tx, paused_rx) = mpsc::channel();
    let paused_tx = std::sync::Mutex::new(paused_tx);
    let srv = RawServer::start_with(
        move |s| {
            s.on_headers(move |req, res| {
                let log = l.clone();
                res.on_close(move || push(&log, "closed"))?;
                if req.path() == "/big" {
                    res.set_max_body_size(2)?;
                }
                let pause = req.path() == "/pause";
                let log = l.clone();
                let mut paused_once = false;
                let tx = paused_tx.lock().unwrap().clone();
                res.stream_body(move |_, res, chunk| {
                    push(&log, format!("data {}", chunk.len()));
                    if pause && !paused_once {
                        paused_once = true;
                        tx.send(res.pause_body()?).unwrap();
                    }
                    Ok(())
                })
            })
            .unwrap();
        },
        move |req, res| {
            push(&l2, "request");
            // stream_body outside the headers callback is refused.
            assert_eq!(res.stream_body(|_, _, _| Ok(())).unwrap_err(), Error::STATE);
            res.write(req.path())
        },
    );
    let mut c = srv.connect();
    c.send("POST /cut HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
    thread::sleep(Duration::from_millis(50));
    c.close();
    // Waits (bounded) until on_close has run `n` times in all.
    let wait_closes = |n: usize| {
        let started = std::time::Instant::now();
        while log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| *e == "closed")
            .count()
            < n
        {
            assert!(started.elapsed() < IO_TIMEOUT, "{:?}", log.lock().unwrap());
            thread::sleep(Duration::from_millis(5));
        }
    };
    wait_closes(1);
    assert!(!log.lock().unwrap().iter().any(|e| e == "request"));
    // A body paused when its client leaves: the PausedBody outlives the request (released
    // by the body timeout's 408 or the close), and resuming it then does nothing.
    let mut c = srv.connect();
    c.send("POST /pause HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
    let paused = paused_rx.recv_timeout(IO_TIMEOUT).unwrap();
    c.close();
    thread::sleep(Duration::from_millis(50));
    paused.resume().unwrap(); // resumes reading: the close is seen, on_close runs
    wait_closes(2);
    // The server's own 413 for a body over the request's limit: on_close tells it, and the
    // request (taken by the close closure) is released by the binding, not left dangling.
    let mut c = srv.connect();
    c.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n");
    assert_eq!(c.response().status, 413);
    wait_closes(3);
    // The server goes on; a complete body reaches the request closure.
    let mut c = srv.connect();
    c.send("POST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(c.response().text(), "/whole");
    let closes = log
        .lock()
        .unwrap()
        .iter()
        .filter(|e| *e == "closed")
        .count();
    assert_eq!(
        closes, 3,
        "a finished request's close closure is never called"
    );
}

/// Counts how often it was dropped, to see closures released.
struct DropCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn on_close_tells_a_detached_request_that_its_client_left() {
    let (tx, rx) = mpsc::channel::<(&'static str, Option<eddy::ServerDeferred>)>();
    let tx = std::sync::Mutex::new(tx);
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let d2 = drops.clone();
    let srv = RawServer::start(move |req, res| {
        let tx = tx.lock().unwrap().clone();
        match req.path() {
            "/poll" => {
                let t = tx.clone();
                res.on_close(move || t.send(("closed", None)).unwrap())?;
                tx.send(("detached", Some(res.detach()?))).unwrap();
            }
            "/panic" => {
                res.on_close(|| panic!("close boom"))?;
                tx.send(("detached", Some(res.detach()?))).unwrap();
            }
            _ => {
                // Finished before the client leaves: the closure is dropped, never called.
                let guard = DropCount(d2.clone());
                res.on_close(move || {
                    let _g = guard;
                    panic!("never called");
                })?;
                res.write("done")?;
            }
        }
        Ok(())
    });
    let mut c = srv.connect();
    c.send("GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "done");
    c.close();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
    for path in ["/poll", "/panic"] {
        let mut c = srv.connect();
        c.send(&format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", path));
        let (what, d) = rx.recv_timeout(IO_TIMEOUT).unwrap();
        assert_eq!(what, "detached");
        c.close();
        if path == "/poll" {
            let (what, _) = rx.recv_timeout(IO_TIMEOUT).unwrap();
            assert_eq!(what, "closed");
        } else {
            thread::sleep(Duration::from_millis(100)); // the panic is logged, the loop goes on
        }
        // The request stays valid until finished: its writes are Err(CLOSED).
        let (seen_tx, seen_rx) = mpsc::channel();
        d.unwrap()
            .finish(move |_, res| {
                seen_tx.send(res.write("late")).unwrap();
                Ok(())
            })
            .unwrap();
        assert_eq!(
            seen_rx.recv_timeout(IO_TIMEOUT).unwrap(),
            Err(Error::CLOSED)
        );
    }
    // on_close once the client is gone: Err(CLOSED).
    let mut c = srv.connect();
    c.send("GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "done");
}

#[test]
fn flush_then_paces_a_streamed_answer() {
    const PIECE: usize = 64 * 1024;
    const PIECES: usize = 64;
    fn pump(
        res: &mut ServerResponse<'_>,
        left: usize,
        in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        open: eddy::ServerDeferred,
    ) -> eddy::Result<()> {
        if left == 0 {
            drop(open); // the answer ends with this callback: nothing left to keep open
            return res.finish();
        }
        res.write(vec![b'a' + (left % 26) as u8; PIECE])?;
        // One flush at a time: the next piece is written once this one reached the kernel.
        assert_eq!(
            in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            0
        );
        res.flush_then(move |_, res, sent| {
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            sent?;
            pump(res, left - 1, in_flight, open)
        })
    }
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |req, res| {
        let tx = tx.lock().unwrap().clone();
        match req.path() {
            "/stream" => {
                // Kept open while the pump runs: it carries the deferred along.
                let open = res.detach()?;
                pump(res, PIECES, Default::default(), open)
            }
            "/left" => {
                let d = res.detach()?;
                res.write(vec![b'x'; 8 << 20])?;
                res.flush_then(move |_, res, sent| {
                    tx.send(sent).unwrap();
                    drop(d);
                    res.finish()
                })
            }
            "/ended" => {
                // On an answer ended in the same callback: it runs, to learn the outcome.
                res.write("ended")?;
                res.flush_then(move |_, res, sent| {
                    tx.send(sent.and(match res.write("x") {
                        Err(e) if e == Error::STATE => Ok(()),
                        other => other,
                    }))
                    .unwrap();
                    Ok(())
                })?;
                res.finish()
            }
            "/deferred" => {
                // A ServerDeferred::finish closure is continued the same way.
                let d = res.detach()?;
                d.finish(|_, res| {
                    res.write("a")?;
                    res.flush_then(|_, res, sent| {
                        sent?;
                        res.write("b")
                    })
                })
            }
            _ => {
                // Not detached: the flush continues the answer (Tornado's `await
                // self.flush()`), which stays open for the closure and is finished after it,
                // or after the one it chains.
                res.write("sync")?;
                res.flush_then(move |_, res, sent| {
                    sent?;
                    res.write("-more")?;
                    res.flush_then(move |_, res, sent| {
                        sent?;
                        tx.send(Ok(())).unwrap();
                        res.write("-last")
                    })
                })
            }
        }
    });
    let mut c = srv.connect();
    c.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body.len(), PIECE * PIECES);
    assert_eq!(r.body[0], b'a' + (PIECES % 26) as u8);
    assert_eq!(r.body[r.body.len() - 1], b'a' + 1);
    c.send("GET /sync HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "sync-more-last");
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), Ok(()));
    c.send("GET /deferred HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "ab");
    c.send("GET /ended HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "ended");
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), Ok(()));
    // 8 MiB for a client that reads none of it and leaves: the flush completes with CLOSED.
    let mut c = srv.connect();
    c.send("GET /left HTTP/1.1\r\nHost: t\r\n\r\n");
    thread::sleep(Duration::from_millis(100));
    c.close();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), Err(Error::CLOSED));
}

#[test]
fn the_access_log_closure_sees_every_answer() {
    let log: Log = Default::default();
    let l = log.clone();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start_with(
        move |s| {
            s.set_access_log(move |req, e| {
                push(
                    &l,
                    format!(
                        "{} {} {} {} {} left={} {}",
                        req.method(),
                        req.uri(),
                        e.status,
                        e.bytes_sent,
                        req.remote_ip(),
                        e.client_left,
                        e.duration < Duration::from_secs(5)
                    ),
                );
                if req.path() == "/log-panic" {
                    panic!("access boom");
                }
            })
            .unwrap();
        },
        move |req, res| match req.path() {
            "/kept" => {
                tx.lock().unwrap().send(res.detach()?).unwrap();
                Ok(())
            }
            _ => {
                res.set_status(201)?;
                res.write("12345")
            }
        },
    );
    let mut c = srv.connect();
    c.send("GET /a?b=1 HTTP/1.1\r\nHost: t\r\n\r\nHEAD /log-panic HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 201);
    // The HEAD answer: its head only (the panic in the access log changes nothing).
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let mut b = [0u8; 1];
        c.read_exact(&mut b);
        head.push(b[0] as char);
    }
    assert!(head.starts_with("HTTP/1.1 201 "), "{}", head);
    // A detached request finished after its client left.
    let mut c2 = srv.connect();
    c2.send("GET /kept HTTP/1.1\r\nHost: t\r\n\r\n");
    let d = rx.recv_timeout(IO_TIMEOUT).unwrap();
    c2.close();
    thread::sleep(Duration::from_millis(50));
    d.finish(|_, _| Ok(())).unwrap();
    let started = std::time::Instant::now();
    while log.lock().unwrap().len() < 3 {
        assert!(started.elapsed() < IO_TIMEOUT, "{:?}", log.lock().unwrap());
        thread::sleep(Duration::from_millis(5));
    }
    // The server is alive after the panic.
    c.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "12345");
    // The entry is made as the answer ends, which may be after its bytes left.
    let started = std::time::Instant::now();
    while log.lock().unwrap().len() < 4 {
        assert!(started.elapsed() < IO_TIMEOUT, "{:?}", log.lock().unwrap());
        thread::sleep(Duration::from_millis(5));
    }
    let entries = log.lock().unwrap().clone();
    assert_eq!(
        entries,
        vec![
            "GET /a?b=1 201 5 127.0.0.1 left=false true",
            "HEAD /log-panic 201 0 127.0.0.1 left=false true",
            "GET /kept 0 0 127.0.0.1 left=true true",
            "GET /b 201 5 127.0.0.1 left=false true",
        ]
    );
}

#[test]
fn add_fd_serves_an_inherited_listening_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let remote_thread = thread::spawn(move || {
        let lp = Loop::new().unwrap();
        let mut server = HttpServer::new(&lp, |req, res| res.write(req.path())).unwrap();
        assert!(server.listening_fd(0).is_none());
        // A socket that is not listening is refused (and closed).
        let stream_fd: std::os::unix::io::OwnedFd =
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap().into();
        assert_eq!(server.add_fd(stream_fd), Err(Error::INVALID));
        server.add_fd(listener.into()).unwrap();
        assert!(server.listening_fd(0).is_some());
        assert!(server.listening_fd(1).is_none());
        assert_eq!(server.port(), Some(port));
        tx.send(lp.remote()).unwrap();
        lp.run().unwrap();
        drop(server);
    });
    let remote = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let mut c = Client::connect(port);
    c.send("GET /inherited HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "/inherited");
    remote.stop();
    remote_thread.join().unwrap();
    // The server closed the socket it took.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn the_setters_shared_with_the_app_servers() {
    let dir = std::env::temp_dir().join(format!("eddy-rust-raw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("raw.sock");
    let sock2 = sock.clone();
    let srv = RawServer::start_with(
        move |s| {
            assert_eq!(s.set_max_header_fields(0), Err(Error::INVALID));
            s.set_max_header_fields(3).unwrap();
            s.set_max_body_memory(1 << 20).unwrap();
            assert_eq!(s.set_protocol(Some("ftp")), Err(Error::INVALID));
            s.set_protocol(Some("https")).unwrap();
            assert_eq!(s.add_trusted_proxy("not-an-ip"), Err(Error::INVALID));
            s.add_trusted_proxy("127.0.0.1").unwrap();
            s.set_xheaders(true).unwrap();
            assert_eq!(s.listen_unix_mode(&sock2, 0o1777), Err(Error::INVALID));
            s.listen_unix_mode(&sock2, 0o600).unwrap();
        },
        |req, res| res.write(format!("{} {}", req.scheme(), req.remote_ip())),
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Real-IP: 10.1.2.3\r\n\r\n");
    assert_eq!(c.response().text(), "https 10.1.2.3");
    c.send("GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    assert_eq!(c.response().status, 431);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn add_connection_and_the_access_log_file() {
    use std::io::{Read, Write};
    let path =
        std::env::temp_dir().join(format!("eddy-rust-raw-access-{}.log", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let lp = Loop::new().unwrap();
        let mut server = HttpServer::new(&lp, |req, res| {
            res.write(format!("{} {}", req.path(), req.remote_ip()))
        })
        .unwrap();
        server.set_access_log_fd(Some(file.into())).unwrap();
        // Not a socket: refused (and closed).
        let not_socket = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(
            server.add_connection(not_socket.into(), None),
            Err(Error::INVALID)
        );
        server
            .add_connection(theirs.into(), Some("10.9.8.7:1234".parse().unwrap()))
            .unwrap();
        tx.send(lp.remote()).unwrap();
        lp.run().unwrap();
        drop(server); // writes the pending lines, then closes the file
    });
    let remote = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let mut s = mine;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"GET /handed-over HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 "), "{}", got);
    assert!(got.ends_with("/handed-over 10.9.8.7"), "{}", got);
    remote.stop();
    t.join().unwrap();
    let log = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(log.starts_with("10.9.8.7 - - ["), "{}", log);
    assert!(
        log.contains("\"GET /handed-over HTTP/1.1\" 200 "),
        "{}",
        log
    );
}
