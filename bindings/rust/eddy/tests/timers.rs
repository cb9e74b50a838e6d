//! Timers: Loop::call_at (Tornado's IOLoop.call_at) against call_later and cancel, and
//! PeriodicCallback (Tornado's PeriodicCallback): ticks, stop, restart, drop while running,
//! stopping or dropping itself from inside its closure, and no closure leaked or kept.
//!
//! Every closure handed to the loop captures a clone of a `Token` (an `Rc<()>`): its strong
//! count says how many of them eddy still holds. Every `run` is bounded by a watchdog timer.
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use eddy::{Error, Loop, PeriodicCallback, PeriodicHandle};

mod common;
use common::tcp::run_strict;

/// Counts the closures alive that hold a clone.
type Token = Rc<()>;

fn live(token: &Token) -> usize {
    Rc::strong_count(token) - 1
}

/// Runs the loop for `seconds`.
fn run_for(lp: &Loop, seconds: f64) {
    let weak = lp.downgrade();
    lp.call_later(seconds, move || weak.upgrade().unwrap().stop())
        .unwrap();
    run_strict(lp);
}

/// A closure that stops the loop (through a WeakLoop, so it does not keep it).
fn stopper(lp: &Loop) -> impl Fn() {
    let weak = lp.downgrade();
    move || weak.upgrade().unwrap().stop()
}

#[test]
fn call_at_runs_in_deadline_order_with_call_later() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let order = Rc::new(RefCell::new(Vec::<&'static str>::new()));
    let add = |name: &'static str| {
        let (o, t) = (order.clone(), token.clone());
        move || {
            let _held = t;
            o.borrow_mut().push(name);
        }
    };
    let now = lp.time();
    assert!(now > 0.0);
    lp.call_later(0.3, add("later-300ms")).unwrap();
    lp.call_at(now + 0.03, add("at+30ms")).unwrap();
    lp.call_later(0.01, || panic!("timer boom (logged; the loop goes on)"))
        .unwrap();
    lp.call_later(-1.0, add("later-negative")).unwrap();
    // A time already past runs on the next iteration; its deadline is earlier than the
    // negative call_later's (which counts as now), so it runs first though scheduled after.
    lp.call_at(now - 1.0, add("at-past")).unwrap();
    // Same deadline: the order scheduled, whichever of call_at / call_later made them.
    let same = now + 0.1;
    lp.call_at(same, add("at+100ms-a")).unwrap();
    lp.call_at(same, add("at+100ms-b")).unwrap();
    // call_at is exact: a deadline measured on lp.time() is kept.
    let seen = Rc::new(Cell::new(0.0));
    let (s, weak) = (seen.clone(), lp.downgrade());
    lp.call_at(now + 0.05, move || s.set(weak.upgrade().unwrap().time()))
        .unwrap();
    // Cancelled from inside an earlier callback: never runs.
    let victim = lp.call_at(now + 0.2, add("victim")).unwrap();
    let weak = lp.downgrade();
    let cancelled = Rc::new(Cell::new(None));
    let c = cancelled.clone();
    lp.call_at(now + 0.15, move || {
        c.set(Some(weak.upgrade().unwrap().cancel(victim)))
    })
    .unwrap();
    let o = order.clone();
    let stop = stopper(&lp);
    lp.call_at(now + 0.35, move || {
        o.borrow_mut().push("last");
        stop();
    })
    .unwrap();
    run_strict(&lp);

    assert_eq!(
        *order.borrow(),
        [
            "at-past",
            "later-negative",
            "at+30ms",
            "at+100ms-a",
            "at+100ms-b",
            "later-300ms",
            "last"
        ]
    );
    assert_eq!(cancelled.get(), Some(Ok(())));
    assert!(
        seen.get() >= now + 0.05,
        "call_at ran early: {} < {}",
        seen.get(),
        now + 0.05
    );
    assert_eq!(
        live(&token),
        0,
        "every closure was dropped once it ran or was cancelled"
    );
}

#[test]
fn call_at_cancel_and_invalid_times() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let ran = Rc::new(Cell::new(0));

    // Cancelled before it runs: dropped at once, never run; a second cancel is NOT_FOUND.
    let (r, t) = (ran.clone(), token.clone());
    let id = lp
        .call_at(lp.time() + 0.01, move || {
            let _held = t;
            r.set(r.get() + 1);
        })
        .unwrap();
    assert_eq!(live(&token), 1);
    lp.cancel(id).unwrap();
    assert_eq!(live(&token), 0, "cancel drops the closure now");
    assert_eq!(lp.cancel(id), Err(Error::NOT_FOUND));

    // One that ran can no longer be cancelled.
    let (r, t) = (ran.clone(), token.clone());
    let stop = stopper(&lp);
    let done = lp
        .call_at(lp.time() + 0.02, move || {
            let _held = t;
            r.set(r.get() + 10);
            stop();
        })
        .unwrap();
    run_strict(&lp);
    assert_eq!(ran.get(), 10, "only the second one ran");
    assert_eq!(lp.cancel(done), Err(Error::NOT_FOUND));

    // NaN is refused (Go's CallAt does the same); the closure is dropped, not kept.
    let t = token.clone();
    assert_eq!(lp.call_at(f64::NAN, move || drop(t)), Err(Error::INVALID));
    // Infinity is a time that never comes: pending (cancelable) until the loop goes.
    let t = token.clone();
    let never = lp.call_at(f64::INFINITY, move || drop(t)).unwrap();
    assert_eq!(live(&token), 1);
    lp.cancel(never).unwrap();

    // A call_at pending when the loop is closed is dropped unrun.
    let (r, t) = (ran.clone(), token.clone());
    lp.call_at(lp.time() + 3600.0, move || {
        let _held = t;
        r.set(-1);
    })
    .unwrap();
    assert_eq!(live(&token), 1);
    lp.close().unwrap();
    assert_eq!(live(&token), 0);
    assert_eq!(ran.get(), 10);
}

#[test]
fn periodic_ticks_stops_and_restarts() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let ticks = Rc::new(Cell::new(0));
    let times = Rc::new(RefCell::new(Vec::new()));
    let (n, tm, t, weak) = (ticks.clone(), times.clone(), token.clone(), lp.downgrade());
    let interval = 0.01;
    let pc = PeriodicCallback::new(&lp, interval, move || {
        let _held = &t;
        let lp = weak.upgrade().unwrap();
        n.set(n.get() + 1);
        tm.borrow_mut().push(lp.time());
        if n.get() == 2 {
            panic!("tick boom (logged; the ticks go on)");
        }
        if n.get() % 3 == 0 {
            lp.stop();
        }
    })
    .unwrap();
    assert!(!pc.is_running(), "made stopped");
    assert_eq!(pc.interval(), interval);
    assert_eq!(live(&token), 1);

    let started = lp.time();
    pc.start().unwrap();
    assert!(pc.is_running());
    pc.start().unwrap(); // running already: nothing changes
    assert!(pc.is_running());
    run_strict(&lp);
    assert_eq!(
        ticks.get(),
        3,
        "the ticks went on after the panic in the second"
    );
    {
        // Never early: the k-th tick comes k intervals after start at the soonest (a late tick
        // does not make the next one late, so only this bound holds under load).
        for (k, &at) in times.borrow().iter().enumerate() {
            let due = started + (k + 1) as f64 * interval;
            assert!(at >= due - 1e-3, "tick {} at {}, due {}", k + 1, at, due);
        }
    }

    pc.stop();
    assert!(!pc.is_running());
    pc.stop(); // stopped already: nothing happens
    run_for(&lp, 0.1);
    assert_eq!(ticks.get(), 3, "no tick after stop");
    assert_eq!(
        live(&token),
        1,
        "stop keeps the closure (it may start again)"
    );

    // Restarted: ticks again, the first one an interval after the restart.
    times.borrow_mut().clear();
    let restarted = lp.time();
    pc.start().unwrap();
    assert!(pc.is_running());
    run_strict(&lp);
    assert_eq!(ticks.get(), 6);
    assert!(times.borrow()[0] >= restarted + interval - 1e-3);

    drop(pc);
    assert_eq!(live(&token), 0, "drop releases the closure");
}

#[test]
fn dropping_a_running_periodic_stops_it() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let ticks = Rc::new(Cell::new(0));
    let make = |lp: &Loop| {
        let (n, t, stop) = (ticks.clone(), token.clone(), stopper(lp));
        PeriodicCallback::new(lp, 0.005, move || {
            let _held = &t;
            n.set(n.get() + 1);
            stop();
        })
        .unwrap()
    };

    // Dropped between runs of the loop, while started.
    let pc = make(&lp);
    let handle = pc.handle();
    pc.start().unwrap();
    run_strict(&lp);
    assert_eq!(ticks.get(), 1);
    assert!(handle.is_alive() && handle.is_running());
    drop(pc);
    assert_eq!(live(&token), 0);
    assert!(!handle.is_alive() && !handle.is_running());
    handle.stop(); // nothing to stop
    assert_eq!(handle.start(), Err(Error::CLOSED));
    run_for(&lp, 0.05);
    assert_eq!(ticks.get(), 1, "no tick after drop");

    // Dropped from another callback (a call_later closure that owned it).
    let pc = make(&lp);
    pc.start().unwrap();
    let slot = Rc::new(RefCell::new(Some(pc)));
    let s = slot.clone();
    lp.call_later(0.0, move || drop(s.borrow_mut().take()))
        .unwrap();
    run_for(&lp, 0.05);
    assert!(slot.borrow().is_none());
    assert_eq!(live(&token), 0);
    assert_eq!(ticks.get(), 1, "dropped before its first tick");
}

#[test]
fn a_periodic_stops_itself_inside_its_closure_and_restarts() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let ticks = Rc::new(Cell::new(0));
    let seen_running = Rc::new(RefCell::new(Vec::new()));
    let (n, seen, t, stop) = (
        ticks.clone(),
        seen_running.clone(),
        token.clone(),
        stopper(&lp),
    );
    let pc = PeriodicCallback::new_cyclic(&lp, 0.005, move |me: &PeriodicHandle| {
        // Not usable until new_cyclic returned.
        assert!(!me.is_alive());
        let me = me.clone();
        move || {
            let _held = &t;
            n.set(n.get() + 1);
            if n.get() % 2 == 0 {
                seen.borrow_mut().push(me.is_running());
                me.stop();
                seen.borrow_mut().push(me.is_running());
                stop();
            }
        }
    })
    .unwrap();
    for round in 1..=3 {
        pc.start().unwrap();
        run_strict(&lp);
        assert!(
            !pc.is_running(),
            "round {}: still running after stopping itself",
            round
        );
        run_for(&lp, 0.03);
        assert_eq!(
            ticks.get(),
            2 * round,
            "round {}: a tick after it stopped itself",
            round
        );
    }
    assert_eq!(
        *seen_running.borrow(),
        [true, false, true, false, true, false]
    );
    // The closure holds only a PeriodicHandle: dropping the periodic releases it (no cycle).
    assert_eq!(live(&token), 1);
    drop(pc);
    assert_eq!(live(&token), 0);
}

#[test]
fn a_periodic_restarts_itself_and_one_drops_itself_inside_its_closure() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());

    // Stop and start again inside the closure: it goes on ticking (start inside works).
    let ticks = Rc::new(Cell::new(0));
    let (n, t, stop) = (ticks.clone(), token.clone(), stopper(&lp));
    let restarting = PeriodicCallback::new_cyclic(&lp, 0.005, move |me| {
        let me = me.clone();
        move || {
            let _held = &t;
            n.set(n.get() + 1);
            me.stop();
            me.start().unwrap();
            if n.get() == 3 {
                stop();
            }
        }
    })
    .unwrap();
    restarting.start().unwrap();
    run_strict(&lp);
    assert_eq!(ticks.get(), 3);
    assert!(restarting.is_running());

    // Owned by a slot its own closure empties: the periodic is dropped during its own call;
    // eddy releases the closure once that call returned (it is never dropped while running).
    let ticks = Rc::new(Cell::new(0));
    let slot: Rc<RefCell<Option<PeriodicCallback>>> = Rc::new(RefCell::new(None));
    let after_drop = Rc::new(Cell::new(None));
    let (n, t, s, a) = (
        ticks.clone(),
        token.clone(),
        slot.clone(),
        after_drop.clone(),
    );
    let stop = stopper(&lp);
    let own = PeriodicCallback::new(&lp, 0.005, move || {
        n.set(n.get() + 1);
        if n.get() == 2 {
            let me = s.borrow_mut().take().expect("the slot holds the periodic");
            drop(me);
            // Still running its own closure: captured state is intact.
            a.set(Some(Rc::strong_count(&t)));
            stop();
        }
    })
    .unwrap();
    own.start().unwrap();
    *slot.borrow_mut() = Some(own);
    assert_eq!(live(&token), 2);
    run_strict(&lp);
    assert_eq!(
        after_drop.get(),
        Some(3),
        "the closure was alive after dropping its periodic"
    );
    assert_eq!(live(&token), 1, "released once its call returned");
    restarting.stop();
    run_for(&lp, 0.03);
    assert_eq!(ticks.get(), 2);

    drop(restarting);
    assert_eq!(live(&token), 0);
}

#[test]
fn a_periodic_drops_another_due_in_the_same_iteration() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let b_ticks = Rc::new(Cell::new(0));
    let (bt, t) = (b_ticks.clone(), token.clone());
    let b = PeriodicCallback::new(&lp, 0.01, move || {
        let _held = &t;
        bt.set(bt.get() + 1);
    })
    .unwrap();
    let slot = Rc::new(RefCell::new(Some(b)));
    let (s, t, stop) = (slot.clone(), token.clone(), stopper(&lp));
    let a = PeriodicCallback::new(&lp, 0.01, move || {
        let _held = &t;
        drop(s.borrow_mut().take());
        stop();
    })
    .unwrap();
    a.start().unwrap();
    slot.borrow().as_ref().unwrap().start().unwrap();
    // Both come due while the loop is busy: they fire in the same timer pass, a first.
    lp.call_soon(|| std::thread::sleep(std::time::Duration::from_millis(30)))
        .unwrap();
    run_strict(&lp);
    assert!(slot.borrow().is_none());
    assert_eq!(
        b_ticks.get(),
        0,
        "b was dropped by a, ahead of it in the same pass"
    );
    assert_eq!(live(&token), 1);
    drop(a);
    assert_eq!(live(&token), 0);
}

#[test]
fn periodic_invalid_intervals_and_loop_ownership() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let t = token.clone();
        let made = PeriodicCallback::new(&lp, bad, move || {
            let _held = &t;
        });
        assert!(matches!(made, Err(Error::INVALID)), "interval {}", bad);
        let called = Rc::new(Cell::new(false));
        let c = called.clone();
        let made = PeriodicCallback::new_cyclic(&lp, bad, move |_| {
            c.set(true);
            || ()
        });
        assert!(matches!(made, Err(Error::INVALID)));
        assert!(!called.get(), "make is not called for an invalid interval");
    }
    assert_eq!(live(&token), 0, "a refused closure is dropped");

    // A PeriodicCallback holds the loop, like an App: close is refused while it exists.
    let remote = lp.remote();
    let t = token.clone();
    let pc = PeriodicCallback::new(&lp, 0.01, move || {
        let _held = &t;
    })
    .unwrap();
    pc.start().unwrap();
    assert!(format!("{:?}", pc).contains("running: true"));
    let other = lp.clone();
    assert_eq!(other.close(), Err(Error::BUSY));
    // Dropping the last user handle does not free the loop under the periodic either.
    let weak = lp.downgrade();
    drop(lp);
    assert!(remote.is_alive() && pc.is_running());
    drop(pc);
    assert!(!remote.is_alive(), "the periodic held the last handle");
    assert!(weak.upgrade().is_none());
    assert_eq!(live(&token), 0);
}
