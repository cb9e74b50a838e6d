//! Loop::run_in_executor (Tornado's IOLoop.run_in_executor), cancel_work and
//! set_executor_threads: results computed on worker threads and delivered on the loop's, the
//! thread limit, cancelling queued work, panics in `work` and `done`, and the closures of work
//! queued or running when the loop is closed.
//!
//! No timing thresholds: work that must wait for something waits on a channel or a condition
//! variable, bounded (10 s) so that a broken executor fails the test instead of hanging it.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use eddy::{Error, Loop, WorkError};

mod common;
use common::tcp::{run_strict, stopper};

const BOUND: Duration = Duration::from_secs(10);

/// Records the thread each guard is dropped on, by name: to see that every closure (and
/// result) is dropped, and where.
#[derive(Clone, Default)]
struct Drops(Arc<Mutex<Vec<(&'static str, ThreadId)>>>);

impl Drops {
    fn guard(&self, name: &'static str) -> DropGuard {
        DropGuard(name, self.clone())
    }
    fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.0.lock().unwrap().iter().map(|d| d.0).collect();
        names.sort_unstable();
        names
    }
    fn thread_of(&self, name: &str) -> ThreadId {
        let drops = self.0.lock().unwrap();
        drops.iter().find(|d| d.0 == name).expect(name).1
    }
}

struct DropGuard(&'static str, Drops);

impl Drop for DropGuard {
    fn drop(&mut self) {
        (self.1)
            .0
            .lock()
            .unwrap()
            .push((self.0, thread::current().id()));
    }
}

/// `n` threads meet: each `meet` returns once `n` have called it (then the next `n` meet),
/// or panics after BOUND (so that work that is never joined by another fails its job).
struct Rendezvous {
    n: usize,
    state: Mutex<(usize, u64)>, // (arrived in this round, round)
    cond: Condvar,
}

impl Rendezvous {
    fn new(n: usize) -> Rendezvous {
        Rendezvous {
            n,
            state: Mutex::new((0, 0)),
            cond: Condvar::new(),
        }
    }

    fn meet(&self) {
        let mut state = self.state.lock().unwrap();
        let round = state.1;
        state.0 += 1;
        if state.0 == self.n {
            *state = (0, round + 1);
            self.cond.notify_all();
            return;
        }
        let (state, timeout) = self
            .cond
            .wait_timeout_while(state, BOUND, |s| s.1 == round)
            .unwrap();
        drop(state);
        assert!(!timeout.timed_out(), "no other work joined this one");
    }
}

#[test]
fn results_are_computed_on_workers_and_delivered_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let loop_thread = thread::current().id();
    // Rc: `done` closures need not be Send.
    let got = Rc::new(RefCell::new(Vec::new()));
    let stop = stopper(&lp);
    for n in 1..=3u64 {
        let (got, stop) = (got.clone(), stop.clone());
        lp.run_in_executor(
            move || (thread::current().id(), (1..=n + 9).product::<u64>()),
            move |result| {
                let (worker, value) = result.unwrap();
                got.borrow_mut()
                    .push((n, worker, value, thread::current().id()));
                if got.borrow().len() == 3 {
                    stop();
                }
            },
        )
        .unwrap();
    }
    run_strict(&lp);
    let mut got = got.take();
    got.sort_by_key(|g| g.0);
    let expected = [3_628_800u64, 39_916_800, 479_001_600]; // 10!, 11!, 12!
    for ((n, worker, value, done_thread), want) in got.iter().zip(expected) {
        assert_eq!(*value, want, "work {}", n);
        assert_ne!(*worker, loop_thread, "work {} ran on the loop's thread", n);
        assert_eq!(
            *done_thread, loop_thread,
            "done {} ran off the loop's thread",
            n
        );
    }
    assert_eq!(got.len(), 3);
}

#[test]
fn set_executor_threads_checks_its_range() {
    let lp = Loop::new().unwrap();
    assert_eq!(lp.set_executor_threads(0), Err(Error::INVALID));
    assert_eq!(lp.set_executor_threads(1025), Err(Error::INVALID));
    assert_eq!(lp.set_executor_threads(usize::MAX), Err(Error::INVALID));
    lp.set_executor_threads(1).unwrap();
    lp.set_executor_threads(1024).unwrap();
}

/// Closed until `open`; `wait` returns once it is open, or panics after BOUND.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }

    fn wait(&self) {
        let open = self.open.lock().unwrap();
        let (_open, timeout) = self.cond.wait_timeout_while(open, BOUND, |o| !*o).unwrap();
        assert!(!timeout.timed_out(), "the gate was never opened");
    }
}

/// How many threads of this process are named `name` (Linux: a thread starts with its
/// creator's name, so eddy's workers carry the name of the thread that queued their first
/// work).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// threads_named, read again (for up to 5 s) until it is `want`; returns the last count. For a
/// count taken after the loop's close joined its workers: a joined thread leaves
/// /proc/self/task a moment after `join` returned (the kernel wakes the joiner before it reaps
/// the thread), so one read right after the close could still see a worker (seen on CI). The
/// count must still reach `want` exactly: only the moment of the read is relaxed.
fn threads_named_settled(name: &str, want: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let n = threads_named(name);
        if n == want || Instant::now() >= end {
            return n;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn no_more_work_runs_at_once_than_the_thread_limit() {
    // On a thread of its own, named so that the workers it starts can be counted.
    const NAME: &str = "eddy-exec-limit";
    let body = thread::Builder::new()
        .name(NAME.to_owned())
        .spawn(|| thread_limit_body(NAME))
        .unwrap();
    if let Err(panic) = body.join() {
        std::panic::resume_unwind(panic);
    }
}

fn thread_limit_body(name: &str) {
    const JOBS: usize = 8;
    assert_eq!(threads_named(name), 1);
    let lp = Loop::new().unwrap();
    lp.set_executor_threads(2).unwrap();
    // Every work waits at the gate until all are queued (so no worker is idle meanwhile, and
    // one that ignored the limit would start a thread per work), then for a second one to run
    // beside it (so 2 at once is reached), and counts how many run then.
    let gate = Arc::new(Gate::default());
    let pair = Arc::new(Rendezvous::new(2));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let workers = Arc::new(Mutex::new(Vec::<ThreadId>::new()));
    let finished = Rc::new(Cell::new(0));
    let stop = stopper(&lp);
    for _ in 0..JOBS {
        let (gate, pair, running, peak, workers) = (
            gate.clone(),
            pair.clone(),
            running.clone(),
            peak.clone(),
            workers.clone(),
        );
        let (finished, stop) = (finished.clone(), stop.clone());
        lp.run_in_executor(
            move || {
                gate.wait();
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                workers.lock().unwrap().push(thread::current().id());
                pair.meet();
                peak.fetch_max(running.load(Ordering::SeqCst), Ordering::SeqCst);
                running.fetch_sub(1, Ordering::SeqCst);
            },
            move |result| {
                result.unwrap();
                finished.set(finished.get() + 1);
                if finished.get() == JOBS {
                    stop();
                }
            },
        )
        .unwrap();
    }
    // The workers are started while work is queued: this thread and exactly 2 (counted before
    // the gate opens, asserted after, so that a failure does not leave the work waiting).
    let started = threads_named(name);
    gate.open();
    assert_eq!(started, 1 + 2, "worker threads started");
    run_strict(&lp);
    assert_eq!(finished.get(), JOBS);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    let mut workers = workers.lock().unwrap().clone();
    assert_eq!(workers.len(), JOBS);
    workers.sort_by_key(|id| format!("{:?}", id));
    workers.dedup();
    assert_eq!(workers.len(), 2, "work ran on {:?}", workers);
    // The workers stay until the loop is freed, which joins them.
    assert_eq!(threads_named(name), 1 + 2);
    lp.close().unwrap();
    assert_eq!(
        threads_named_settled(name, 1),
        1,
        "worker threads left after close"
    );
}

#[test]
fn cancelled_work_never_runs_and_done_gets_canceled() {
    let lp = Loop::new().unwrap();
    lp.set_executor_threads(1).unwrap();
    let drops = Drops::default();
    // The only worker is held by `first` until released, so `second` stays queued.
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let outcomes = Rc::new(RefCell::new(Vec::new()));
    let stop = stopper(&lp);
    let (o, s) = (outcomes.clone(), stop.clone());
    let first = lp
        .run_in_executor(
            move || {
                started_tx.send(()).unwrap();
                release_rx.recv_timeout(BOUND).expect("released");
                "first"
            },
            move |result| {
                o.borrow_mut().push(format!("first {:?}", result));
                if o.borrow().len() == 2 {
                    s();
                }
            },
        )
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let (r, work_guard, done_guard) = (
        ran.clone(),
        drops.guard("second work"),
        drops.guard("second done"),
    );
    let o = outcomes.clone();
    let second = lp
        .run_in_executor(
            move || {
                let _held = work_guard;
                r.store(true, Ordering::SeqCst);
            },
            move |result| {
                let _held = done_guard;
                assert!(result.as_ref().unwrap_err().is_canceled());
                o.borrow_mut().push(format!("second {:?}", result));
                if o.borrow().len() == 2 {
                    stop();
                }
            },
        )
        .unwrap();
    started_rx.recv_timeout(BOUND).expect("first started");
    assert_eq!(lp.cancel_work(first), Err(Error::BUSY)); // running
    lp.cancel_work(second).unwrap(); // queued
    assert_eq!(lp.cancel_work(second), Err(Error::BUSY)); // already cancelled
    release_tx.send(()).unwrap();
    run_strict(&lp);
    let mut outcomes = outcomes.take();
    outcomes.sort();
    assert_eq!(outcomes, ["first Ok(\"first\")", "second Err(Canceled)"]);
    assert!(!ran.load(Ordering::SeqCst), "cancelled work ran");
    assert_eq!(drops.names(), ["second done", "second work"]);
    assert_eq!(drops.thread_of("second done"), thread::current().id());
    // Both done: their ids are gone.
    assert_eq!(lp.cancel_work(first), Err(Error::NOT_FOUND));
    assert_eq!(lp.cancel_work(second), Err(Error::NOT_FOUND));
}

#[test]
fn a_panic_in_work_or_done_is_reported_and_the_loop_goes_on() {
    let lp = Loop::new().unwrap();
    // One worker: the work after the panic runs on the same thread, which the panic did not end.
    lp.set_executor_threads(1).unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let threads = Arc::new(Mutex::new(Vec::new()));
    // A chain, each `done` queueing the next work (the order of `done`s is not promised
    // otherwise): a work that panics; a `done` that panics after queueing the last work;
    // the last work, whose `done` stops the loop.
    let last = {
        let (e, t, stop) = (events.clone(), threads.clone(), stopper(&lp));
        move |lp: &Loop| {
            lp.run_in_executor(
                move || {
                    t.lock().unwrap().push(thread::current().id());
                    7
                },
                move |result| {
                    e.borrow_mut().push(format!("after {:?}", result));
                    stop();
                },
            )
            .unwrap();
        }
    };
    let panicking_done = {
        let (e, weak) = (events.clone(), lp.downgrade());
        move |lp: &Loop| {
            lp.run_in_executor(
                || 1,
                move |_| {
                    e.borrow_mut().push("done boom".to_owned());
                    last(&weak.upgrade().unwrap());
                    panic!("done boom (logged; the loop goes on)");
                },
            )
            .unwrap();
        }
    };
    let (e, t, weak) = (events.clone(), threads.clone(), lp.downgrade());
    lp.run_in_executor(
        move || -> u32 {
            t.lock().unwrap().push(thread::current().id());
            panic!("work boom {} (logged; done gets it)", 42)
        },
        move |result: Result<u32, WorkError>| {
            let err = result.unwrap_err();
            assert!(!err.is_canceled());
            assert_eq!(err.error(), None);
            assert!(matches!(err, WorkError::Panicked(_)));
            e.borrow_mut().push(err.panic_message().unwrap());
            panicking_done(&weak.upgrade().unwrap());
        },
    )
    .unwrap();
    run_strict(&lp);
    assert_eq!(
        events.take(),
        [
            "work boom 42 (logged; done gets it)",
            "done boom",
            "after Ok(7)"
        ]
    );
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 2);
    assert_eq!(threads[0], threads[1], "the panic ended its worker thread");
}

#[test]
fn close_drops_the_closures_of_work_running_and_queued() {
    let lp = Loop::new().unwrap();
    lp.set_executor_threads(1).unwrap();
    let drops = Drops::default();
    let remote = lp.remote();
    let (started_tx, started_rx) = mpsc::channel();
    let saw_close = Arc::new(AtomicBool::new(false));
    let done_called = Rc::new(Cell::new(0));
    // Running: returns only once the loop is being freed (the Remote says so first), so that
    // eddy_loop_free has to wait for it; its result, a guard, is never delivered.
    let (work_guard, result_drops, done_guard, seen, called) = (
        drops.guard("running work"),
        drops.clone(),
        drops.guard("running done"),
        saw_close.clone(),
        done_called.clone(),
    );
    lp.run_in_executor(
        move || {
            let _held = work_guard;
            started_tx.send(()).unwrap();
            let deadline = Instant::now() + BOUND;
            while remote.is_alive() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            seen.store(!remote.is_alive(), Ordering::SeqCst);
            result_drops.guard("running result")
        },
        move |_| {
            let _held = done_guard;
            called.set(called.get() + 1);
        },
    )
    .unwrap();
    // Queued behind it: dropped unrun.
    let ran = Arc::new(AtomicBool::new(false));
    let (work_guard, done_guard, r, called) = (
        drops.guard("queued work"),
        drops.guard("queued done"),
        ran.clone(),
        done_called.clone(),
    );
    lp.run_in_executor(
        move || {
            let _held = work_guard;
            r.store(true, Ordering::SeqCst);
        },
        move |_| {
            let _held = done_guard;
            called.set(called.get() + 1);
        },
    )
    .unwrap();
    started_rx
        .recv_timeout(BOUND)
        .expect("the first work started");
    lp.close().unwrap();
    assert!(
        saw_close.load(Ordering::SeqCst),
        "work did not run into the close"
    );
    assert!(!ran.load(Ordering::SeqCst), "queued work ran");
    assert_eq!(done_called.get(), 0, "a done ran while the loop was freed");
    assert_eq!(
        drops.names(),
        [
            "queued done",
            "queued work",
            "running done",
            "running result",
            "running work"
        ]
    );
    // `done` closures (not Send) go on the loop's thread; the running work's closure went with
    // its call on the worker.
    let here = thread::current().id();
    assert_eq!(drops.thread_of("queued done"), here);
    assert_eq!(drops.thread_of("running done"), here);
    assert_eq!(drops.thread_of("running result"), here);
    assert_ne!(drops.thread_of("running work"), here);
}
