package eddy

// #include "shim.h"
import "C"

import (
	"runtime"
	"sync"
	"syscall"
)

// eventLoop is one eddy loop on its own locked OS thread, with the binding's way of running Go
// code there from any goroutine (post, onLoop). An App embeds one, and so does a TCPServer;
// DialTCP uses a process-wide one (dialLoop). eddy's thread rule is one loop per thread and
// every call on it from that thread: the loop's goroutine is locked to its thread for the loop's
// whole life.
type eventLoop struct {
	// Set on the loop thread during start, read-only afterwards.
	loop    *C.eddy_loop
	loopTid int
	done    chan struct{} // closed once the loop stopped and was freed

	// onPanic logs a panic of a posted function (the owner's logger).
	onPanic func(what string, p interface{})

	// The queue of work posted from other goroutines (see post). mu also guards stopped: once
	// it is set the loop is being freed and nothing may call into it any more.
	mu      sync.Mutex
	queue   []func()
	posted  bool
	stopped bool
}

// start runs the loop on a new goroutine locked to its OS thread: setup (on the loop thread,
// before the loop runs) configures what the owner serves; start returns its error, or nil once
// the loop runs. teardown (on the loop thread, after the loop stopped — or after setup failed —
// and before the loop is freed) releases what the owner holds. Once teardown ran, the loop is
// freed (releasing every handle eddy still holds) and done is closed.
func (l *eventLoop) start(setup func() error, teardown func()) error {
	ready := make(chan error, 1)
	go l.thread(setup, teardown, ready)
	return <-ready
}

func (l *eventLoop) thread(setup func() error, teardown func(), ready chan<- error) {
	// Never unlocked: the thread ends with this goroutine, so no other goroutine can ever run
	// on a thread whose id is loopTid (see onLoopThread).
	runtime.LockOSThread()
	defer close(l.done)
	l.loopTid = syscall.Gettid()

	loop := C.eddy_loop_new()
	if loop == nil {
		ready <- ErrNoMemory
		return
	}
	l.mu.Lock()
	l.loop = loop
	l.mu.Unlock()

	err := setup()
	if err == nil {
		ready <- nil
		C.eddy_loop_run(loop)
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
}

// stop asks the loop to stop (any goroutine; harmless before start or twice).
func (l *eventLoop) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loop != nil && !l.stopped {
		C.eddy_loop_stop(l.loop)
	}
}

// onLoopThread reports whether the caller runs on the loop's thread. The loop goroutine is
// locked to that thread, so no other goroutine can run there: equal thread ids mean "inside a
// callback of this loop".
func (l *eventLoop) onLoopThread() bool { return syscall.Gettid() == l.loopTid }

// post queues fn for the loop thread. One eddy_loop_call_soon_threadsafe per batch: the first
// post into an empty queue schedules a drain, later ones just append. The queue keeps the
// order of posts from every goroutine (eddy only orders posts per OS thread, and a goroutine
// may change threads between two posts).
func (l *eventLoop) post(fn func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loop == nil || l.stopped {
		return false
	}
	l.queue = append(l.queue, fn)
	if !l.posted {
		h := newHandle(l)
		rc := C.eddy_loop_call_soon_threadsafe(l.loop, C.eddy_loop_fn(C.eddy_go_drain),
			C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handle))
		if rc != 0 {
			deleteHandle(h) // not taken: eddy did not call the free function
			l.queue = l.queue[:len(l.queue)-1]
			return false
		}
		l.posted = true
	}
	return true
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
	defer func() {
		if p := recover(); p != nil {
			l.onPanic("posted function", p)
		}
	}()
	fn()
}

// onLoop runs fn on the loop thread and returns its error: at once on the loop thread,
// otherwise posted (after the work posted before it) while the caller waits. ErrClosed when the
// loop is not running (not started, or stopped before fn ran: then fn never runs).
func (l *eventLoop) onLoop(fn func() error) error {
	if l.onLoopThread() {
		return fn()
	}
	result := make(chan error, 1)
	if !l.post(func() { result <- fn() }) {
		return ErrClosed
	}
	select {
	case err := <-result:
		return err
	case <-l.done:
		select { // it may have run just before the loop ended
		case err := <-result:
			return err
		default:
			return ErrClosed
		}
	}
}
