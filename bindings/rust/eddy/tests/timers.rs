//! Timers: Loop::call_at (Tornado's IOLoop.call_at) against call_later and cancel, and no
//! closure leaked or kept.
//!
//! Every closure handed to the loop captures a clone of a `Token` (an `Rc<()>`): its strong
//! count says how many of them eddy still holds. Every `run` is bounded by a watchdog timer.
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use eddy::{Error, Loop};

/// Counts the closures alive that hold a clone.
type Token = Rc<()>;

fn live(token: &Token) -> usize {
    Rc::strong_count(token) - 1
}

/// Runs the loop until something stops it; fails the test if that takes over 10 s.
fn run_bounded(lp: &Loop) {
    let fired = Rc::new(Cell::new(false));
    let (f, weak) = (fired.clone(), lp.downgrade());
    let watchdog = lp
        .call_later(10.0, move || {
            f.set(true);
            weak.upgrade().unwrap().stop();
        })
        .unwrap();
    lp.run().unwrap();
    assert!(!fired.get(), "the loop was not stopped within 10 s");
    lp.cancel(watchdog).unwrap();
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
    lp.call_later(0.01, || panic!("timer boom (logged; the loop goes on)")).unwrap();
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
    lp.call_at(now + 0.05, move || s.set(weak.upgrade().unwrap().time())).unwrap();
    // Cancelled from inside an earlier callback: never runs.
    let victim = lp.call_at(now + 0.2, add("victim")).unwrap();
    let weak = lp.downgrade();
    let cancelled = Rc::new(Cell::new(None));
    let c = cancelled.clone();
    lp.call_at(now + 0.15, move || c.set(Some(weak.upgrade().unwrap().cancel(victim)))).unwrap();
    let o = order.clone();
    let stop = stopper(&lp);
    lp.call_at(now + 0.35, move || {
        o.borrow_mut().push("last");
        stop();
    })
    .unwrap();
    run_bounded(&lp);

    assert_eq!(
        *order.borrow(),
        ["at-past", "later-negative", "at+30ms", "at+100ms-a", "at+100ms-b", "later-300ms", "last"]
    );
    assert_eq!(cancelled.get(), Some(Ok(())));
    assert!(seen.get() >= now + 0.05, "call_at ran early: {} < {}", seen.get(), now + 0.05);
    assert_eq!(live(&token), 0, "every closure was dropped once it ran or was cancelled");
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
    run_bounded(&lp);
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
