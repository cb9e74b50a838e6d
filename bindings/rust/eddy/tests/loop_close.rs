//! Loop::close (Tornado's IOLoop.close): frees the loop at once when it is the last handle,
//! drops what was pending, and is refused (Err(BUSY), nothing freed) while another handle
//! exists: a clone, an App, a running loop's callback.
use std::cell::Cell;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;

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
