package eddy

// #include "shim.h"
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// loopIDs numbers the eventLoops of the process (from 1; never reused): the mark a loop's
// thread carries (see onLoopThread).
var loopIDs atomic.Uint64

// eventLoop is one eddy loop on its own locked OS thread, with the binding's way of running Go
// code there from any goroutine (post, onLoop). An App embeds one, and so does a TCPServer;
// DialTCP uses a process-wide one (dialLoop). eddy's thread rule is one loop per thread and
// every call on it from that thread: the loop's goroutine is locked to its thread for the loop's
// whole life.
type eventLoop struct {
	// id is set by start before the loop's goroutine exists, read-only afterwards; loop is set
	// on the loop thread during start, read-only afterwards.
	id   uint64
	loop *C.eddy_loop
	done chan struct{} // closed once the loop stopped and was freed

	// runErr is eddy_loop_run's error when the loop ended by itself (EDDY_EIO, EDDY_ENOMEM)
	// rather than by stop: written on the loop thread before done is closed, read after.
	runErr error

	// onPanic logs a panic of a posted function (the owner's logger).
	onPanic func(what string, p interface{})

	// The queue of work posted from other goroutines (see post). mu also guards stopped: once
	// it is set the loop is being freed and nothing may call into it any more.
	mu      sync.Mutex
	queue   []func()
	posted  bool
	stopped bool
	// postFault, when not 0, is the code post gets instead of calling
	// eddy_loop_call_soon_threadsafe (tests: its EDDY_ENOMEM cannot be provoked otherwise).
	postFault Error
}

// start runs the loop on a new goroutine locked to its OS thread: setup (on the loop thread,
// before the loop runs) configures what the owner serves; start returns its error, or nil once
// the loop runs. teardown (on the loop thread, after the loop stopped — or after setup failed —
// and before the loop is freed) releases what the owner holds. Once teardown ran, the loop is
// freed (releasing every handle eddy still holds) and done is closed.
func (l *eventLoop) start(setup func() error, teardown func()) error {
	l.id = loopIDs.Add(1)
	ready := make(chan error, 1)
	go l.thread(setup, teardown, ready)
	return <-ready
}

func (l *eventLoop) thread(setup func() error, teardown func(), ready chan<- error) {
	// Never unlocked: the thread ends with this goroutine, so no other goroutine ever runs on
	// the thread that carries the loop's mark (see onLoopThread).
	runtime.LockOSThread()
	// A callback that calls runtime.Goexit (t.Fatal, t.FailNow or t.SkipNow in a handler, the
	// usual way) ends this goroutine from inside eddy_loop_run: recover cannot stop a Goexit,
	// so it unwinds through eddy's and libevent's C frames, which never return, and the loop is
	// left half way through a callback on a dead thread. That used to be silent: Done closed
	// as if the loop had stopped, the listening socket stayed open and its clients hung. There
	// is nothing left to stop or free safely, so say what happened and crash, as Go does when
	// the main goroutine calls Goexit — before done is closed, so that nothing takes the
	// abandoned loop for a stopped one meanwhile.
	returned := false
	defer func() {
		if !returned {
			if p := recover(); p != nil {
				panic(p) // a panic of the binding's own setup or teardown: let it go on
			}
			panic("eddy: runtime.Goexit called in a callback on the loop thread " +
				"(t.Fatal, t.FailNow or t.SkipNow in a handler?): the loop was abandoned inside " +
				"eddy's C code and cannot go on; report failures from callbacks with t.Error " +
				"or a channel instead")
		}
		close(l.done)
	}()
	C.eddy_go_set_thread_loop(C.uint64_t(l.id))

	loop := C.eddy_loop_new()
	if loop == nil {
		returned = true
		ready <- ErrNoMemory
		return
	}
	l.mu.Lock()
	l.loop = loop
	l.mu.Unlock()

	err := setup()
	if err == nil {
		ready <- nil
		if rerr := check(C.eddy_loop_run(loop)); rerr != nil {
			l.runErr = rerr // the backend failed: the loop cannot go on
		}
	}
	// From here on no goroutine may post or stop: the loop is going away.
	l.mu.Lock()
	l.stopped = true
	l.queue = nil
	l.mu.Unlock()
	teardown()
	C.eddy_loop_free(loop) // releases the handle of a post that never ran
	if err != nil {
		ready <- err
	}
	returned = true
}

// stop asks the loop to stop (any goroutine; harmless before start or twice).
func (l *eventLoop) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loop != nil && !l.stopped {
		C.eddy_loop_stop(l.loop)
	}
}

// loopMade reports whether start made the loop (false before start, or when its making
// failed). Any goroutine.
func (l *eventLoop) loopMade() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loop != nil
}

// onLoopThread reports whether the caller runs on the loop's thread, i.e. inside a callback of
// this loop: the loop goroutine is locked to that thread, so no other goroutine runs there.
// The loop's thread carries the loop's id in a C thread-local (set by thread, never cleared:
// the thread ends with the loop goroutine). Unlike a thread id, which the kernel may hand to a
// new thread once the loop's has ended, no other thread can ever carry that id.
func (l *eventLoop) onLoopThread() bool {
	return l.id != 0 && uint64(C.eddy_go_thread_loop()) == l.id
}

// post queues fn for the loop thread. One eddy_loop_call_soon_threadsafe per batch: the first
// post into an empty queue schedules a drain, later ones just append. The queue keeps the
// order of posts from every goroutine (eddy only orders posts per OS thread, and a goroutine
// may change threads between two posts). Errors (fn will never run then): ErrClosed when the
// loop is not running (not started, or stopped), eddy's code when it could not queue the
// drain (ErrNoMemory) — the loop still runs then, so callers must not wait for it to end.
func (l *eventLoop) post(fn func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loop == nil || l.stopped {
		return ErrClosed
	}
	l.queue = append(l.queue, fn)
	if !l.posted {
		var rc C.int
		h := newHandle(l)
		if l.postFault != 0 {
			rc = C.int(l.postFault)
		} else {
			rc = C.eddy_loop_call_soon_threadsafe(l.loop, C.eddy_loop_fn(C.eddy_go_drain),
				C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handle))
		}
		if rc != 0 {
			deleteHandle(h) // not taken: eddy did not call the free function
			l.queue = l.queue[:len(l.queue)-1]
			if err := check(rc); err != nil {
				return err
			}
			return ErrInvalid
		}
		l.posted = true
	}
	return nil
}

// drain runs the posted work on the loop thread.
func (l *eventLoop) drain() {
	l.mu.Lock()
	work := l.queue
	l.queue = nil
	l.posted = false
	l.mu.Unlock()
	for _, fn := range work {
		l.runPosted(fn)
	}
}

func (l *eventLoop) runPosted(fn func()) {
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			l.onPanic("posted function", panicked(p))
		}
	}()
	fn()
	returned = true
}

// onLoop runs fn on the loop thread and returns its error: at once on the loop thread,
// otherwise posted (after the work posted before it) while the caller waits. ErrClosed when the
// loop is not running (not started, or stopped before fn ran: then fn never runs); post's
// error when it could not queue fn (ErrNoMemory). A panic in fn comes back to the caller: it
// panics again with the same value in the caller's goroutine, as if fn had run there (fn is
// the caller's own code, so its bug is the caller's; the loop goes on either way).
func (l *eventLoop) onLoop(fn func() error) error {
	if l.onLoopThread() {
		return fn()
	}
	result := make(chan loopResult, 1)
	if err := l.post(func() { result <- runCaught(fn) }); err != nil {
		return err
	}
	var r loopResult
	select {
	case r = <-result:
	case <-l.done:
		select { // it may have run just before the loop ended
		case r = <-result:
		default:
			return ErrClosed
		}
	}
	if r.panicked {
		panic(r.panicValue)
	}
	return r.err
}

// loopResult is the outcome of a function onLoop ran on the loop thread.
type loopResult struct {
	err        error
	panicked   bool
	panicValue interface{} // what fn panicked with (may be nil: panic(nil))
}

// runCaught runs fn and returns its error, or the panic it raised.
func runCaught(fn func() error) (r loopResult) {
	r.panicked = true // until fn returns: set even by panic(nil), which recover cannot tell
	defer func() {
		if r.panicked {
			r.panicValue = recover()
		}
	}()
	r.err = fn()
	r.panicked = false
	return r
}
