//! App::shutdown and ShutdownHandle (eddy_server_shutdown on every server of the app; Tornado's
//! HTTPServer.stop() and waiting for the requests in flight): the listeners close, idle
//! connections close, a response in flight is sent whole, `done` runs once after that; an App
//! dropped first drops `done` uncalled.
mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::{Client, Server, IO_TIMEOUT};
use eddy::{App, Deferred, Error, Loop};

const SLOW_BODY: usize = 256 * 1024;

#[test]
fn shutdown_from_another_thread_lets_the_request_in_flight_finish() {
    let (setup_tx, setup_rx) = mpsc::channel();
    let (inflight_tx, inflight_rx) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let fin = finished.clone();
    let srv = Server::start(move |lp, app| {
        let lp = lp.clone();
        app.route("/fast").unwrap().get(|_, res| res.write("ok"));
        app.route("/slow").unwrap().get(move |_, res| {
            let deferred = res.detach()?;
            let fin = fin.clone();
            // Finished 0.3 s later, well after the shutdown was asked for.
            lp.call_later(0.3, move || {
                deferred
                    .finish(move |_, res| {
                        fin.store(true, Ordering::SeqCst);
                        res.write(vec![b'x'; SLOW_BODY])
                    })
                    .expect("finish");
            })?;
            inflight_tx.send(()).unwrap();
            Ok(())
        });
        // A second server of the app: shut down with the default one.
        let mut second = app.add_server().unwrap();
        second.listen("127.0.0.1", 0).unwrap();
        let second_port = second.port().unwrap();
        setup_tx.send((app.shutdown_handle(), second_port)).unwrap();
    });
    let (handle, second_port) = setup_rx.recv_timeout(IO_TIMEOUT).unwrap();

    // An idle keep-alive connection on each server.
    let mut idle = srv.connect();
    idle.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.response().text(), "ok");
    let mut idle2 = Client::connect(second_port);
    idle2.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle2.response().text(), "ok");
    // A request in flight.
    let mut slow = srv.connect();
    slow.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    inflight_rx.recv_timeout(IO_TIMEOUT).unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let (c, f) = (calls.clone(), finished.clone());
    handle
        .shutdown(move || {
            c.fetch_add(1, Ordering::SeqCst);
            done_tx.send(f.load(Ordering::SeqCst)).unwrap();
        })
        .unwrap();
    // A second request is refused on the loop's thread (STATE); its closure never runs.
    let c2 = calls.clone();
    handle
        .shutdown(move || {
            c2.fetch_add(100, Ordering::SeqCst);
        })
        .unwrap();

    // The idle connections are closed at once.
    assert!(idle.closed(), "an idle keep-alive connection is closed");
    assert!(idle2.closed(), "the second server's idle connection too");
    // New connections are refused: the listeners are closed.
    for port in [srv.port, second_port] {
        let e = TcpStream::connect(("127.0.0.1", port)).err();
        assert_eq!(
            e.map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionRefused),
            "a new connection after shutdown is refused (port {})",
            port
        );
    }
    assert!(done_rx.try_recv().is_err(), "done waits for the request");
    // The request in flight is answered whole, then its connection closes.
    let r = slow.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), SLOW_BODY);
    assert!(r.body.iter().all(|&b| b == b'x'));
    assert!(slow.closed(), "the connection closes after the answer");
    // eddy half-closed it and lingers (up to 2 s) for our close, so as not to reset the answer:
    // the connection counts until then.
    slow.close();
    // done ran after that, once.
    assert!(
        done_rx.recv_timeout(IO_TIMEOUT).unwrap(),
        "done after the response"
    );
    thread::sleep(Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "done runs once");
}

/// Counts its drops, to tell that a closure was released.
struct Token(Rc<Cell<usize>>);
impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Runs the loop for `secs` (bounded).
fn run_for(lp: &Loop, secs: f64) {
    let w = lp.downgrade();
    lp.call_later(secs, move || w.upgrade().unwrap().stop())
        .unwrap();
    lp.run().unwrap();
}

#[test]
fn an_app_dropped_before_done_drops_it_uncalled() {
    let lp = Loop::new().unwrap();
    let parked: Rc<RefCell<Vec<Deferred>>> = Rc::new(RefCell::new(Vec::new()));
    let mut app = App::new(&lp).unwrap();
    let p = parked.clone();
    app.route("/park").unwrap().get(move |_, res| {
        p.borrow_mut().push(res.detach()?);
        Ok(())
    });
    app.listen("127.0.0.1", 0).unwrap();
    let port = app.port().unwrap();
    let client = thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        c.write_all(b"GET /park HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf); // until the App's drop closes it
    });
    for _ in 0..500 {
        if !parked.borrow().is_empty() {
            break;
        }
        run_for(&lp, 0.01);
    }
    assert_eq!(parked.borrow().len(), 1, "the request is in flight");

    let (called, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (c, token) = (called.clone(), Token(drops.clone()));
    app.shutdown(move || {
        let _ = &token;
        c.set(c.get() + 1);
    })
    .unwrap();
    assert_eq!(
        app.shutdown(|| panic!("a second shutdown's done never runs")),
        Err(Error::STATE)
    );
    run_for(&lp, 0.2);
    assert_eq!(called.get(), 0, "the request in flight holds done back");
    assert_eq!(drops.get(), 0);
    drop(app);
    assert_eq!(called.get(), 0, "dropping the App calls nothing");
    assert_eq!(drops.get(), 1, "and releases done");
    parked.borrow_mut().clear();
    run_for(&lp, 0.05);
    client.join().unwrap();
}

#[test]
fn an_idle_app_shuts_down_on_a_later_iteration_or_drops_done_with_the_app() {
    // Nothing in flight: done comes on a later iteration, not within shutdown.
    let lp = Loop::new().unwrap();
    let mut app = App::new(&lp).unwrap();
    app.listen("127.0.0.1", 0).unwrap();
    let port = app.port().unwrap();
    let (called, w) = (Rc::new(Cell::new(0)), lp.downgrade());
    let c = called.clone();
    app.shutdown(move || {
        c.set(c.get() + 1);
        w.upgrade().unwrap().stop();
    })
    .unwrap();
    assert_eq!(called.get(), 0, "not within the call");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "refused");
    assert_eq!(
        app.listen("127.0.0.1", 0),
        Err(Error::STATE),
        "a shut down server listens no more"
    );
    common::run_bounded(&lp);
    assert_eq!(called.get(), 1);

    // Dropped before the loop ran again: done dropped uncalled, nothing leaked.
    let mut app = App::new(&lp).unwrap();
    app.listen("127.0.0.1", 0).unwrap();
    let (called, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (c, token) = (called.clone(), Token(drops.clone()));
    app.shutdown(move || {
        let _ = &token;
        c.set(c.get() + 1);
    })
    .unwrap();
    drop(app);
    assert_eq!((called.get(), drops.get()), (0, 1));
    run_for(&lp, 0.02);
    assert_eq!(called.get(), 0);
}

#[test]
fn a_handle_does_nothing_once_the_app_or_loop_is_gone() {
    let lp = Loop::new().unwrap();
    let app = App::new(&lp).unwrap();
    let handle = app.shutdown_handle();
    drop(app);
    let dropped = Arc::new(());
    let d = dropped.clone();
    handle
        .shutdown(move || panic!("no App: never runs {:?}", d))
        .unwrap();
    run_for(&lp, 0.02);
    assert_eq!(Arc::strong_count(&dropped), 1, "the closure was dropped");
    let app = App::new(&lp).unwrap();
    let handle = app.shutdown_handle();
    drop(app);
    lp.close().unwrap();
    assert_eq!(handle.shutdown(|| ()), Err(Error::CLOSED));
}

#[test]
fn a_panicking_done_is_logged_and_done_may_drop_the_app() {
    let lp = Loop::new().unwrap();
    let app = App::new(&lp).unwrap();
    app.shutdown(|| panic!("a panicking done is logged, not fatal"))
        .unwrap();
    run_for(&lp, 0.05);
    drop(app);

    // The usual end: done drops the App (inside eddy's callback: freed once it returned).
    let mut app = App::new(&lp).unwrap();
    app.listen("127.0.0.1", 0).unwrap();
    let drops = Rc::new(Cell::new(0));
    let token = Token(drops.clone());
    app.route("/").unwrap().get(move |_, res| {
        let _ = &token;
        res.write("x")
    });
    let slot = Rc::new(RefCell::new(None::<App>));
    let (me, w) = (slot.clone(), lp.downgrade());
    app.shutdown(move || {
        drop(me.borrow_mut().take());
        w.upgrade().unwrap().stop();
    })
    .unwrap();
    *slot.borrow_mut() = Some(app);
    common::run_bounded(&lp);
    assert!(slot.borrow().is_none(), "done ran");
    run_for(&lp, 0.02);
    assert_eq!(drops.get(), 1, "the App was freed");
}
