package eddy

// #include "shim.h"
// #include "shim_timer.h"
import "C"

import (
	"math"
	"runtime/cgo"
	"time"
	"unsafe"
)

// Timeout is a call scheduled with App.CallLater or App.CallAt (the handle Tornado's
// call_later returns), for App.RemoveTimeout. It holds no resources of its own: the scheduled
// function is released by eddy after it ran, when it is removed, or when the loop stops.
type Timeout struct {
	app *App
	id  C.eddy_call_id // eddy's id; never reused within one loop
}

// timer is the userdata of one scheduled call (a cgo.Handle, deleted by eddy's free callback).
type timer struct {
	app *App
	fn  func()
}

// Time returns the loop's monotonic clock in seconds (Tornado's IOLoop.time(), eddy_loop_time):
// the clock App.CallAt takes. It does not jump when the wall clock is changed. Thread: any
// goroutine, whether the loop runs or not (it reads the clock, not the loop).
func (a *App) Time() float64 {
	return float64(C.eddy_loop_time(nil))
}

// CallLater runs fn once on the loop thread, delay from now (Tornado's IOLoop.call_later; a
// negative delay counts as 0). Calls due at the same time run in the order they were
// scheduled. A panic in fn is logged (App.Logger) and the loop goes on.
//
// Thread: any goroutine; off the loop thread it waits until the loop scheduled the call, so
// the Timeout is real and the error the loop's. Memory: fn is held (through one cgo.Handle)
// until it ran, was removed, or the loop stopped — pending calls never run after Stop.
// Errors: ErrInvalid for a nil fn, ErrClosed when the loop is not running (before Start,
// after it stopped), ErrNoMemory.
func (a *App) CallLater(delay time.Duration, fn func()) (*Timeout, error) {
	return a.schedule(fn, func(cb C.eddy_loop_fn, ud unsafe.Pointer, free C.eddy_free_fn) C.eddy_call_id {
		return C.eddy_loop_call_later(a.loop, C.double(delay.Seconds()), cb, ud, free)
	})
}

// CallAt runs fn once on the loop thread when the loop's clock (App.Time) reaches when
// (Tornado's IOLoop.call_at; a time already past runs on the next iteration). Thread, memory,
// panics and errors as for CallLater; a NaN when is ErrInvalid.
func (a *App) CallAt(when float64, fn func()) (*Timeout, error) {
	if math.IsNaN(when) {
		return nil, ErrInvalid
	}
	return a.schedule(fn, func(cb C.eddy_loop_fn, ud unsafe.Pointer, free C.eddy_free_fn) C.eddy_call_id {
		return C.eddy_loop_call_at(a.loop, C.double(when), cb, ud, free)
	})
}

// schedule hands fn to eddy through call (on the loop thread).
func (a *App) schedule(fn func(), call func(C.eddy_loop_fn, unsafe.Pointer, C.eddy_free_fn) C.eddy_call_id) (*Timeout, error) {
	if fn == nil {
		return nil, ErrInvalid
	}
	var t *Timeout
	err := a.onLoop(func() error {
		h := newHandle(&timer{app: a, fn: fn})
		id := call(C.eddy_loop_fn(C.eddy_go_timer), C.eddy_go_handle_ptr(C.uintptr_t(h)),
			C.eddy_free_fn(C.eddy_go_release_handle))
		if id == 0 {
			deleteHandle(h) // not taken: eddy did not call the free function
			return ErrNoMemory
		}
		t = &Timeout{app: a, id: id}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// RemoveTimeout cancels a call scheduled with CallLater or CallAt (Tornado's
// IOLoop.remove_timeout); its fn is released at once and never runs. Thread: any goroutine;
// off the loop thread it waits for the loop (a call that comes due meanwhile runs first).
// Errors: ErrNotFound when the call already ran, is running, or was removed (Tornado ignores
// that case: so may the caller); ErrInvalid for a nil Timeout or another App's; ErrClosed when
// the loop is not running (its pending calls were dropped with it).
func (a *App) RemoveTimeout(t *Timeout) error {
	if t == nil || t.app != a {
		return ErrInvalid
	}
	return a.onLoop(func() error { return check(C.eddy_loop_cancel(a.loop, t.id)) })
}

//export goTimer
func goTimer(ud unsafe.Pointer) {
	t := cgo.Handle(uintptr(ud)).Value().(*timer)
	t.app.guardLoop("timer", t.fn)
}

// guardLoop runs a loop callback (timer, periodic callback): a panic is logged and the loop
// goes on.
func (a *App) guardLoop(what string, fn func()) {
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			a.logPanic(what, panicked(p))
		}
	}()
	fn()
	returned = true
}
