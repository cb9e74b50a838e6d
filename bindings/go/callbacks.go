package eddy

// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"runtime/debug"
	"unsafe"
)

// The exported functions below are called by the trampolines of shim.c, on the loop thread.

func routeOf(ud unsafe.Pointer) *Route { return cgo.Handle(uintptr(ud)).Value().(*Route) }

// exchange returns the request state kept in the handler's userdata, creating and attaching it
// on the first callback of a request.
func (r *Route) exchange(h *C.eddy_handler) *ResponseWriter {
	if ud := C.eddy_handler_get_userdata(h); ud != nil {
		return cgo.Handle(uintptr(ud)).Value().(*ResponseWriter)
	}
	w := newExchange(r, h)
	w.attach()
	return w
}

//export goMethod
func goMethod(h *C.eddy_handler, ud unsafe.Pointer, method C.int) {
	route := routeOf(ud)
	var w *ResponseWriter
	if route.stateful() {
		w = route.exchange(h)
	} else {
		w = newExchange(route, h)
	}
	if fn := route.handler(int(method), h); fn != nil {
		w.callHandler(fn)
	}
	if !w.detached.Load() {
		// eddy finishes the response now that the callback returned (Tornado's rule).
		w.finished.Store(true)
		if w.handle == 0 {
			w.released.Store(true)
		}
	}
}

// callHandler runs the method handler (the hot path: no closure, an open-coded defer).
func (w *ResponseWriter) callHandler(fn HandlerFunc) {
	returned := false
	defer w.recoverPanic("handler", &returned)
	fn(w, &w.req)
	returned = true
}

// guard runs another user callback the same way.
func (w *ResponseWriter) guard(what string, fn func()) {
	returned := false
	defer w.recoverPanic(what, &returned)
	fn()
	returned = true
}

// recoverPanic, deferred around every user callback: a panic becomes a log line and a 500 (if
// the response is still open), and the loop goes on. *returned says whether the callback
// returned: recover() alone cannot tell panic(nil) from no panic (see panicked).
func (w *ResponseWriter) recoverPanic(what string, returned *bool) {
	if *returned {
		return
	}
	p := panicked(recover())
	if !w.released.Load() {
		what += " of " + w.req.Method() + " " + w.req.Path()
	}
	w.app.logPanic(what, p)
	if !w.finished.Load() && !w.released.Load() && w.h == nil {
		C.eddy_request_set_status(w.rq, 500, nil, 0)
		C.eddy_request_finish(w.rq)
		w.finished.Store(true)
	} else if !w.finished.Load() && !w.released.Load() {
		rc := C.eddy_handler_send_error(w.h, 500)
		if rc != 0 && C.eddy_handler_finished(w.h) == 0 {
			C.eddy_handler_finish(w.h)
		}
		w.finished.Store(true)
	}
}

// panicNil is what a callback that did not return panicked with when recover() gives nil:
// panic(nil) before Go 1.21 (or with GODEBUG=panicnil=1 since), whose recover() value cannot be
// told from "no panic" — it used to be swallowed, the response finished as it stood (a 200).
// Go 1.21 gives a *runtime.PanicNilError instead, with the same message. (A runtime.Goexit
// unwinds the same way, and is reported the same: it cannot be stopped, but the response
// still gets its 500.)
type panicNil struct{}

func (panicNil) Error() string { return "panic called with nil argument" }

// panicked returns the value to report for a callback that did not return: what recover()
// gave, or panicNil when that was nil.
func panicked(p interface{}) interface{} {
	if p == nil {
		return panicNil{}
	}
	return p
}

func (a *App) logPanic(what string, p interface{}) {
	a.logger().Printf("eddy: panic in %s: %v\n%s", what, p, debug.Stack())
}

// Hook kinds, the same as the enum of shim.c.
const (
	hookPrepare = iota
	hookOnFinish
	hookConnectionClose
	hookDefaultHeaders
)

//export goHook
func goHook(h *C.eddy_handler, ud unsafe.Pointer, kind C.int) {
	route := routeOf(ud)
	w := route.exchange(h)
	switch kind {
	case hookPrepare:
		if route.prepare != nil {
			w.inPrepare = true
			w.guard("prepare", func() { route.prepare(w, &w.req) })
			w.inPrepare = false
		}
	case hookOnFinish:
		w.finished.Store(true)
		if route.onFinish != nil {
			w.guard("on_finish", func() { route.onFinish(&w.req) })
		}
	case hookConnectionClose:
		if !w.closed.Swap(true) && w.closedCh != nil {
			close(w.closedCh)
		}
		if route.onClose != nil {
			w.guard("on_connection_close", func() { route.onClose(&w.req) })
		}
	case hookDefaultHeaders:
		if route.defaults != nil {
			w.guard("default_headers", func() { route.defaults(w) })
		}
	}
}

//export goWriteError
func goWriteError(h *C.eddy_handler, status C.int, ud unsafe.Pointer) {
	route := routeOf(ud)
	w := route.exchange(h)
	w.status.Store(int32(status))
	if route.writeErr != nil {
		// A panic here is logged and no error page is sent for it: that would run this hook
		// again (and panic again) until the stack ran out. eddy finishes the response.
		returned := false
		defer func() {
			if p := recover(); p != nil || !returned {
				w.app.logPanic(fmt.Sprintf("write_error(%d)", int(status)), panicked(p))
			}
		}()
		route.writeErr(w, &w.req, int(status))
		returned = true
	}
}

//export goDataReceived
func goDataReceived(h *C.eddy_handler, data *C.char, n C.size_t, ud unsafe.Pointer) {
	route := routeOf(ud)
	w := route.exchange(h)
	if route.onData != nil {
		piece := goBytes(data, n) // the callback's own: it may keep it
		w.guard("data_received", func() { route.onData(&w.req, piece) })
	}
}

//export goDrain
func goDrain(ud unsafe.Pointer) {
	cgo.Handle(uintptr(ud)).Value().(*eventLoop).drain()
}

//export goServerDone
func goServerDone(ud unsafe.Pointer) {
	cgo.Handle(uintptr(ud)).Value().(func())()
}

//export goReleaseHandle
func goReleaseHandle(ud unsafe.Pointer) {
	deleteHandle(cgo.Handle(uintptr(ud)))
}

//export goReleaseExchange
func goReleaseExchange(ud unsafe.Pointer) {
	h := cgo.Handle(uintptr(ud))
	w := h.Value().(*ResponseWriter)
	delete(w.app.detached, w)
	w.finished.Store(true)
	w.released.Store(true)
	deleteHandle(h)
}

//export goRawRequest
func goRawRequest(req *C.eddy_request, ud unsafe.Pointer) {
	a := cgo.Handle(uintptr(ud)).Value().(*App)
	w := &ResponseWriter{rq: req, app: a}
	w.req.w = w
	w.callHandler(a.rawFn)
	if !w.detached.Load() {
		if !w.finished.Load() {
			w.finished.Store(true)
			cFinish(w) // the raw server leaves that to us
		}
		if w.handle == 0 {
			w.released.Store(true)
		}
	}
}

//export goRawClose
func goRawClose(req *C.eddy_request, ud unsafe.Pointer) {
	w := cgo.Handle(uintptr(ud)).Value().(*ResponseWriter)
	if !w.closed.Swap(true) && w.closedCh != nil {
		close(w.closedCh)
	}
}
