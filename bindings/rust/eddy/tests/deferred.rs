//! Responses finished later: from other threads, timers, other requests; abandoned ones;
//! clients that left; and the Loop/Remote rules.
mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::Server;
use eddy::{Deferred, Error, Loop};

#[test]
fn finished_from_another_thread_runs_on_the_loop_thread() {
    let srv = Server::start(|_, app| {
        app.route("/thread").unwrap().get(|_, res| {
            let deferred = res.detach()?;
            let loop_thread = thread::current().id();
            thread::spawn(move || {
                let worker = thread::current().id();
                deferred
                    .finish(move |req, res| {
                        let here = thread::current().id();
                        res.write(format!(
                            "path={} on_loop={} not_worker={}",
                            req.path(),
                            here == loop_thread,
                            here != worker
                        ))
                    })
                    .expect("post");
            });
            Ok(())
        });
    });
    let r = srv.get("/thread");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "path=/thread on_loop=true not_worker=true");
}

#[test]
fn finished_from_a_timer_and_streamed_with_send() {
    let srv = Server::start(|lp, app| {
        let lp = lp.clone();
        app.route("/timer").unwrap().get(move |_, res| {
            res.write("first;")?;
            let deferred = res.detach()?;
            deferred.send(|_, res| {
                res.write("sent;")?;
                res.flush()
            })?;
            lp.call_later(0.01, move || {
                deferred.finish(|_, res| res.write("timer")).expect("post");
            })?;
            Ok(())
        });
    });
    let r = srv.get("/timer");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "first;sent;timer");
}

#[test]
fn a_dropped_deferred_sends_500_and_a_panicking_one_too() {
    let srv = Server::start(|_, app| {
        app.route("/dropped").unwrap().get(|_, res| {
            let deferred = res.detach()?;
            thread::spawn(move || drop(deferred));
            Ok(())
        });
        app.route("/panics").unwrap().get(|_, res| {
            let deferred = res.detach()?;
            deferred.finish(|_, _| panic!("boom in a deferred closure"))
        });
    });
    assert_eq!(srv.get("/dropped").status, 500);
    assert_eq!(srv.get("/panics").status, 500);
}

#[test]
fn finishing_after_the_client_left_is_harmless() {
    let parked: Arc<Mutex<Vec<Deferred>>> = Arc::new(Mutex::new(Vec::new()));
    let closes = Arc::new(Mutex::new(0));
    let (p1, p2, c1, c2) = (
        parked.clone(),
        parked.clone(),
        closes.clone(),
        closes.clone(),
    );
    let srv = Server::start(move |_, app| {
        app.route("/park")
            .unwrap()
            .on_connection_close(move |_, _| {
                *c1.lock().unwrap() += 1;
                Ok(())
            })
            .get(move |_, res| {
                p1.lock().unwrap().push(res.detach()?);
                Ok(())
            });
        app.route("/release").unwrap().get(move |_, res| {
            let waiting: Vec<Deferred> = p2.lock().unwrap().drain(..).collect();
            let n = waiting.len();
            for d in waiting {
                d.finish(|_, res| res.write("late"))?;
            }
            res.write(format!("released {}", n))
        });
        app.route("/closes")
            .unwrap()
            .get(move |_, res| res.write(c2.lock().unwrap().to_string()));
    });
    let mut gone = srv.connect();
    gone.send("GET /park HTTP/1.1\r\nHost: t\r\n\r\n");
    // Wait (bounded) until the handler parked the request, then leave.
    for _ in 0..500 {
        if parked.lock().unwrap().len() == 1 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(parked.lock().unwrap().len(), 1);
    gone.close();
    // The close callback ran once the server saw the FIN (bounded wait).
    for _ in 0..500 {
        if srv.get("/closes").text() == "1" {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.get("/closes").text(), "1");
    assert_eq!(srv.get("/release").text(), "released 1");
    // Another parked request answered by the release of a second client.
    let mut waiting = srv.connect();
    waiting.send("GET /park HTTP/1.1\r\nHost: t\r\n\r\n");
    for _ in 0..500 {
        if parked.lock().unwrap().len() == 1 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.get("/release").text(), "released 1");
    assert_eq!(waiting.response().text(), "late");
}

#[test]
fn loop_callbacks_run_in_order_and_cancel_works() {
    let lp = Loop::new().unwrap();
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        lp.call_soon(move || log.borrow_mut().push(i)).unwrap();
    }
    let l = log.clone();
    let cancelled = lp.call_later(0.0, move || l.borrow_mut().push(99)).unwrap();
    lp.cancel(cancelled).unwrap();
    assert_eq!(lp.cancel(cancelled), Err(Error::NOT_FOUND));
    let l = log.clone();
    lp.call_soon(|| panic!("a panicking callback is logged, not fatal"))
        .unwrap();
    let stopper = lp.clone();
    lp.call_later(0.02, move || {
        l.borrow_mut().push(3);
        stopper.stop();
    })
    .unwrap();
    lp.run().unwrap();
    assert_eq!(*log.borrow(), vec![0, 1, 2, 3]);
}

#[test]
fn remote_posts_from_threads_and_fails_once_the_loop_is_gone() {
    let lp = Loop::new().unwrap();
    let remote = lp.remote();
    let count = Arc::new(Mutex::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (r, c) = (remote.clone(), count.clone());
            thread::spawn(move || {
                for _ in 0..100 {
                    let c = c.clone();
                    r.call_soon(move || *c.lock().unwrap() += 1).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let r = remote.clone();
    remote.call_soon(move || r.stop()).unwrap();
    lp.run().unwrap();
    assert_eq!(*count.lock().unwrap(), 400);
    // A post that never runs is dropped when the loop is freed.
    let dropped = Arc::new(());
    let held = dropped.clone();
    remote.call_soon(move || drop(held)).unwrap();
    drop(lp);
    assert_eq!(Arc::strong_count(&dropped), 1);
    assert!(!remote.is_alive());
    assert_eq!(remote.call_soon(|| ()), Err(Error::CLOSED));
    remote.stop(); // harmless
}

#[test]
fn a_weak_loop_in_a_pending_callback_does_not_keep_the_loop() {
    // A pending closure holding a Loop clone would keep the loop (and its fds) alive until it
    // ran; one holding a WeakLoop lets the loop go with its last handle.
    let lp = Loop::new().unwrap();
    let weak = lp.downgrade();
    let inside = weak.clone();
    lp.call_later(3600.0, move || {
        if let Some(lp) = inside.upgrade() {
            lp.stop();
        }
    })
    .unwrap();
    let remote = lp.remote();
    assert!(weak.upgrade().is_some());
    drop(lp);
    assert!(weak.upgrade().is_none());
    assert!(
        !remote.is_alive(),
        "the loop was freed with its last handle"
    );
}

/// An asynchronous prepare: detached there, the request waits; the method runs only after the
/// Deferred is resumed (from a timer or a thread), and a refusal from the timer skips it.
#[test]
fn a_prepare_that_detaches_waits_for_resume() {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let (ran_m, ran_f) = (ran.clone(), ran.clone());
    let srv = Server::start(move |lp, app| {
        let lp = lp.clone();
        app.route("/async")
            .unwrap()
            .prepare(move |req, res| {
                let deny = req.query_argument("deny").is_some();
                let deferred = res.detach()?;
                lp.call_later(0.1, move || {
                    if deny {
                        deferred.finish(|_, res| res.send_error(403)).expect("post");
                    } else {
                        deferred.resume().expect("post");
                    }
                })?;
                Ok(())
            })
            .on_finish(move |req, _| {
                ran_f.lock().unwrap().push(format!("finish {}", req.uri()));
                Ok(())
            })
            .get(move |_, res| {
                ran_m.lock().unwrap().push("method".to_owned());
                res.write("after resume")
            });
        app.route("/thread")
            .unwrap()
            .prepare(|_, res| {
                let deferred = res.detach()?;
                thread::spawn(move || deferred.resume().expect("post"));
                Ok(())
            })
            .get(|_, res| {
                // The method may detach again after the resume and answer later.
                let deferred = res.detach()?;
                deferred.finish(|_, res| res.write("method detached again"))
            });
        // A Deferred from the method cannot be resumed: logged, answered with a 500.
        app.route("/misuse")
            .unwrap()
            .get(|_, res| res.detach()?.resume());
    });
    let t0 = std::time::Instant::now();
    let r = srv.get("/async");
    assert_eq!((r.status, r.text().as_str()), (200, "after resume"));
    assert!(
        t0.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t0.elapsed()
    );
    let r = srv.get("/async?deny=1");
    assert_eq!(r.status, 403);
    let r = srv.get("/thread");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "method detached again")
    );
    assert_eq!(srv.get("/misuse").status, 500);
    drop(srv);
    assert_eq!(
        *ran.lock().unwrap(),
        ["method", "finish /async", "finish /async?deny=1"]
    );
}
