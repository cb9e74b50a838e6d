//! Loop::close (Tornado's IOLoop.close): frees the loop at once when it is the last handle,
//! drops what was pending, and is refused (Err(BUSY), nothing freed) while another handle
//! exists: a clone, an App, a running loop's callback. An App dropped inside a callback and
//! left for the next iteration is freed before the loop when that iteration never comes.
mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use eddy::{App, Error, Loop};

#[test]
fn close_frees_the_loop_and_drops_pending_callbacks() {
    let lp = Loop::new().unwrap();
    let remote = lp.remote();
    let weak = lp.downgrade();
    let ran = Rc::new(Cell::new(false));
    let pending = Arc::new(());
    let (r, held) = (ran.clone(), pending.clone());
    lp.call_later(3600.0, move || {
        drop(held);
        r.set(true);
    })
    .unwrap();
    let posted = pending.clone();
    remote.call_soon(move || drop(posted)).unwrap();
    assert_eq!(Arc::strong_count(&pending), 3);

    lp.close().unwrap();
    assert_eq!(
        Arc::strong_count(&pending),
        1,
        "pending closures are dropped by close"
    );
    assert!(!ran.get());
    assert!(!remote.is_alive());
    assert!(weak.upgrade().is_none());
    assert_eq!(remote.call_soon(|| ()), Err(Error::CLOSED));
    remote.stop(); // harmless
}

#[test]
fn close_is_refused_while_another_handle_exists() {
    let lp = Loop::new().unwrap();
    let remote = lp.remote();
    // A clone.
    let other = lp.clone();
    assert_eq!(other.close(), Err(Error::BUSY));
    assert!(remote.is_alive(), "a refused close frees nothing");

    // An App holds a handle: close once it is dropped. Its listener goes with it.
    let mut app = App::new(&lp).unwrap();
    app.route("/").unwrap().get(|_, res| res.write("x"));
    app.listen("127.0.0.1", 0).unwrap();
    let port = app.port().unwrap();
    let kept = lp.clone();
    assert_eq!(kept.close(), Err(Error::BUSY));
    drop(app);
    assert!(remote.is_alive());
    lp.close().unwrap();
    assert!(!remote.is_alive());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port is closed"
    );
}

#[test]
fn close_inside_a_callback_is_refused_and_the_loop_goes_on() {
    let lp = Loop::new().unwrap();
    let weak = lp.downgrade();
    let outcome = Rc::new(Cell::new(None));
    let out = outcome.clone();
    lp.call_soon(move || {
        // run() holds a handle while it runs, so this one is not the last.
        let inside = weak.upgrade().unwrap();
        out.set(Some(inside.clone().close()));
        inside.stop();
    })
    .unwrap();
    lp.run().unwrap();
    assert_eq!(outcome.get(), Some(Err(Error::BUSY)));
    // Stopped and returned from run: now it can be closed (Tornado's order).
    let remote = lp.remote();
    lp.close().unwrap();
    assert!(!remote.is_alive());
}

/// Counts its drops: held by a route's closure, it tells when eddy released the route's
/// userdata, i.e. when the C app was freed.
struct Token(Rc<Cell<usize>>);
impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn an_app_dropped_in_its_handler_then_its_loop_freed_is_freed_with_the_loop() {
    let drops = Rc::new(Cell::new(0));
    let lp = Loop::new().unwrap();
    let app = Rc::new(RefCell::new(Some(App::new(&lp).unwrap())));
    let (token, me, stop) = (Token(drops.clone()), app.clone(), lp.downgrade());
    {
        let mut guard = app.borrow_mut();
        let a = guard.as_mut().unwrap();
        a.route("/").unwrap().get(move |_, res| {
            let _ = &token;
            // The App drops itself inside its own handler: its C free waits for the next
            // iteration, which never comes: the loop is stopped, then freed.
            drop(me.borrow_mut().take());
            stop.upgrade().unwrap().stop();
            res.write("bye")
        });
        a.listen("127.0.0.1", 0).unwrap();
    }
    let port = app.borrow().as_ref().unwrap().port().unwrap();
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let _ = c.read(&mut buf); // the answer, or the close once the app is freed
    });
    common::run_bounded(&lp);
    assert!(app.borrow().is_none(), "the handler ran");
    assert_eq!(
        drops.get(),
        0,
        "not freed yet: its next iteration has not come"
    );
    let remote = lp.remote();
    lp.close().unwrap();
    assert!(!remote.is_alive());
    // Freed (its routes' closures released) before the loop, not leaked with it.
    assert_eq!(drops.get(), 1);
    client.join().unwrap();
}

#[test]
fn an_app_dropped_in_a_timer_then_its_loop_freed_is_freed_with_the_loop() {
    let drops = Rc::new(Cell::new(0));
    {
        let lp = Loop::new().unwrap();
        let mut app = App::new(&lp).unwrap();
        let token = Token(drops.clone());
        app.route("/").unwrap().get(move |_, res| {
            let _ = &token;
            res.write("x")
        });
        let (app, stop) = (RefCell::new(Some(app)), lp.downgrade());
        lp.call_soon(move || {
            drop(app.borrow_mut().take()); // freed on the next iteration...
            stop.upgrade().unwrap().stop(); // ...which never comes
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(
            drops.get(),
            0,
            "not freed yet: its next iteration has not come"
        );
    } // the last handle: the loop is freed
    assert_eq!(drops.get(), 1);
}

/// A detached HttpServer answer still held when the loop goes (its ServerDeferred kept, or
/// dropped too late to reach the loop): the request's closures (here an on_close and a
/// flush_then closure, each holding an Arc) are dropped with the loop, not leaked. eddy used
/// to keep such a request for a finish that can no longer come (a ServerDeferred finishes
/// through the loop), so its closures and the request itself were never freed.
#[test]
fn a_detached_http_server_answer_is_released_with_the_loop() {
    use eddy::{HttpServer, ServerDeferred};
    // Kept: a ServerDeferred that outlives the loop. Dropped: one dropped before the loop's
    // free, whose post is then dropped unrun.
    for keep_deferred in [true, false] {
        let state = Arc::new(());
        let kept: Rc<RefCell<Option<ServerDeferred>>> = Rc::new(RefCell::new(None));
        let lp = Loop::new().unwrap();
        let (st, slot, stop) = (state.clone(), kept.clone(), lp.downgrade());
        let mut server = HttpServer::new(&lp, move |_, res| {
            let deferred = res.detach()?;
            let on_close = st.clone();
            res.on_close(move || drop(on_close))?;
            // Big enough that the flush cannot complete while the client does not read: its
            // closure waits in the request's state.
            let on_flush = st.clone();
            res.write(vec![b'x'; 16 << 20])?;
            res.flush_then(move |_, _, _| {
                drop(on_flush);
                Ok(())
            })?;
            *slot.borrow_mut() = Some(deferred);
            stop.upgrade().unwrap().stop();
            Ok(())
        })
        .unwrap();
        server.listen("127.0.0.1", 0).unwrap();
        let port = server.port().unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        common::run_bounded(&lp);
        assert!(kept.borrow().is_some(), "the request arrived");
        // The server's closure holds one, each waiting request closure one.
        assert_eq!(Arc::strong_count(&state), 4, "both closures wait");
        drop(server); // the request is the application's: it stays held
        if !keep_deferred {
            drop(kept.borrow_mut().take());
        }
        let remote = lp.remote();
        lp.close().unwrap();
        assert!(!remote.is_alive());
        assert_eq!(
            Arc::strong_count(&state),
            1,
            "the request's closures are dropped with the loop (keep_deferred: {})",
            keep_deferred
        );
        // A ServerDeferred dropped after the loop: nothing to reach, nothing touched.
        drop(kept.borrow_mut().take());
        assert_eq!(Arc::strong_count(&state), 1);
        drop(c);
    }
}

/// An HttpServer answer finished with a flush_then closure still waiting (the client does not
/// read the answer, so the flush has not reached the kernel) when the loop goes: the closure is
/// dropped with the loop, uncalled. eddy used to keep a finished request until its flush
/// callbacks ran, which never happens once the loop is gone: the request and its state (the
/// closure and what it holds) leaked.
#[test]
fn a_finished_answer_with_a_pending_flush_then_is_released_with_the_loop() {
    use eddy::HttpServer;
    let state = Arc::new(());
    let called = Rc::new(Cell::new(false));
    let lp = Loop::new().unwrap();
    let (st, seen, stop) = (state.clone(), called.clone(), lp.downgrade());
    let mut server = HttpServer::new(&lp, move |_, res| {
        let on_flush = st.clone();
        let seen = seen.clone();
        res.write(vec![b'x'; 16 << 20])?;
        res.flush_then(move |_, _, _| {
            seen.set(true);
            drop(on_flush);
            Ok(())
        })?;
        res.finish()?; // ended now; the closure would still run once the flush completes
        stop.upgrade().unwrap().stop();
        Ok(())
    })
    .unwrap();
    server.listen("127.0.0.1", 0).unwrap();
    let port = server.port().unwrap();
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    common::run_bounded(&lp);
    assert_eq!(Arc::strong_count(&state), 3, "the flush closure waits");
    drop(server);
    let remote = lp.remote();
    lp.close().unwrap();
    assert!(!remote.is_alive());
    assert!(!called.get(), "no callback while the loop is freed");
    assert_eq!(
        Arc::strong_count(&state),
        1,
        "the flush_then closure is dropped with the loop"
    );
    drop(c);
}
