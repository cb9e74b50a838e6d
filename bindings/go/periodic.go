package eddy

// #include "shim.h"
// #include "shim_timer.h"
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

// PeriodicCallback runs a function every interval on an App's loop thread once started
// (Tornado's PeriodicCallback, over eddy_periodic_*). As in Tornado, ticks missed because the
// loop was busy (or fn ran past them) are skipped, not run in a burst, and a panic in fn is
// logged (App.Logger) without stopping it. Make one with App.NewPeriodicCallback.
//
// Memory: a started PeriodicCallback holds one eddy periodic and one cgo.Handle, released by
// Stop or when the loop stops; a stopped one holds nothing and may be started again.
type PeriodicCallback struct {
	app      *App
	fn       func()
	interval time.Duration
	running  atomic.Bool   // IsRunning, readable from any goroutine
	cur      *periodicCell // the started eddy periodic (loop thread only)
}

// periodicCell is the userdata of one eddy periodic: a new one for each Start after a Stop, so
// that releasing an old one never touches the current one.
type periodicCell struct {
	pc *PeriodicCallback
	c  *C.eddy_periodic
}

// NewPeriodicCallback returns a stopped PeriodicCallback that calls fn every interval once
// started (Tornado's PeriodicCallback(callback, callback_time)). It may be made before Start;
// it runs only while the loop runs. Thread: any goroutine. Errors: ErrInvalid for a nil fn or
// an interval that is not > 0.
func (a *App) NewPeriodicCallback(fn func(), interval time.Duration) (*PeriodicCallback, error) {
	if fn == nil || interval <= 0 {
		return nil, ErrInvalid
	}
	return &PeriodicCallback{app: a, fn: fn, interval: interval}, nil
}

// Start starts the calls; the first one comes one interval from now. Starting a running
// PeriodicCallback does nothing. Thread: any goroutine; off the loop thread it waits for the
// loop. Errors: ErrClosed when the loop is not running (before App.Start, after it stopped),
// ErrNoMemory.
func (p *PeriodicCallback) Start() error {
	return p.app.onLoop(func() error {
		if p.cur != nil {
			return nil
		}
		cell := &periodicCell{pc: p}
		h := newHandle(cell)
		cell.c = C.eddy_periodic_new(p.app.loop, C.double(p.interval.Seconds()),
			C.eddy_periodic_fn(C.eddy_go_periodic), C.eddy_go_handle_ptr(C.uintptr_t(h)),
			C.eddy_free_fn(C.eddy_go_release_periodic))
		if cell.c == nil {
			deleteHandle(h) // not taken: eddy did not call the free function
			return ErrNoMemory
		}
		if err := check(C.eddy_periodic_start(cell.c)); err != nil {
			C.eddy_periodic_free(cell.c)
			return err
		}
		p.cur = cell
		p.running.Store(true)
		return nil
	})
}

// Stop stops the calls and releases the eddy periodic (Start again to resume). It may be
// called from fn itself; stopping a stopped PeriodicCallback does nothing. Thread: any
// goroutine; off the loop thread it waits for the loop, so no call starts after Stop returned
// (one running on the loop thread at that moment finishes). Errors: ErrClosed when the loop is
// not running (then no call runs anyway).
func (p *PeriodicCallback) Stop() error {
	return p.app.onLoop(func() error {
		if cell := p.cur; cell != nil {
			p.cur = nil // at once: a Start right after (even inside fn) makes a new one
			p.running.Store(false)
			C.eddy_periodic_free(cell.c) // releases the cell (goReleasePeriodic)
		}
		return nil
	})
}

// IsRunning reports whether the PeriodicCallback is started (Tornado's is_running): true from
// Start until Stop or the loop's stop. Thread: any goroutine.
func (p *PeriodicCallback) IsRunning() bool { return p.running.Load() }

//export goPeriodic
func goPeriodic(ud unsafe.Pointer) {
	p := cgo.Handle(uintptr(ud)).Value().(*periodicCell).pc
	p.app.guardLoop("periodic callback", p.fn)
}

//export goReleasePeriodic
func goReleasePeriodic(ud unsafe.Pointer) {
	h := cgo.Handle(uintptr(ud))
	cell := h.Value().(*periodicCell)
	if cell.pc.cur == cell { // freed with the loop, not by Stop
		cell.pc.cur = nil
		cell.pc.running.Store(false)
	}
	deleteHandle(h)
}
