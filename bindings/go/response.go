package eddy

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

// ResponseWriter builds the response of one request (Tornado's RequestHandler output side).
// For raw requests (App.ServeAll) the cookie methods return ErrNotSupported, SendError sends
// the status with an empty body and Redirect sets Location itself.
//
// Thread rule: until Detach is called, use it only inside the callback that received it (the
// loop thread; from another goroutine its methods return ErrState). After Detach, every method
// may be called from any goroutine: calls made off the loop thread are posted to it in order
// (eddy_loop_call_soon_threadsafe) and report only the errors that are already known
// (ErrState after Finish, ErrClosed once the client left, ErrNoMemory when eddy could not
// queue the call: it was not made, and may be made again).
// A detached response must be finished (Finish, Redirect or SendError) exactly once.
type ResponseWriter struct {
	h      *C.eddy_handler // the web layer's handler, or nil for a raw request (App.ServeAll)
	rq     *C.eddy_request // the raw request when h is nil
	app    *App
	route  *Route
	req    Request    // the request side of the same exchange (one allocation for both)
	handle cgo.Handle // non-zero once the exchange is the eddy handler's userdata

	detached atomic.Bool
	finished atomic.Bool // no response call may reach C any more
	released atomic.Bool // eddy freed the handler: not even the request getters may run
	closed   atomic.Bool
	closedCh chan struct{} // closed on the loop thread when the client goes away
	status   atomic.Int32  // the status set so far (Status); 0 means 200

	// suspended: Detach was called in Prepare, and Resume not yet (eddy holds the method).
	suspended atomic.Bool
	inPrepare bool // the Prepare hook is running (loop thread only)
}

func newExchange(r *Route, h *C.eddy_handler) *ResponseWriter {
	w := &ResponseWriter{h: h, app: r.app, route: r}
	w.req.w = w
	return w
}

// attach stores the exchange as the handler's userdata; eddy releases the handle through
// eddy_go_release_exchange when it frees the handler, which is how a detached writer learns
// that the C handler is gone.
func (w *ResponseWriter) attach() {
	if w.handle != 0 {
		return
	}
	w.handle = newHandle(w)
	ud := C.eddy_go_handle_ptr(C.uintptr_t(w.handle))
	if w.h == nil {
		C.eddy_request_set_userdata(w.rq, ud, C.eddy_free_fn(C.eddy_go_release_exchange))
		C.eddy_request_set_close_callback(w.rq, C.eddy_request_event_fn(C.eddy_go_raw_close))
		return
	}
	C.eddy_handler_set_userdata(w.h, ud, C.eddy_free_fn(C.eddy_go_release_exchange))
}

// direct reports whether a call may go straight to C: only on the loop thread. (A writer
// handed to another goroutine without Detach used to be trusted to be on it, and raced the
// loop into a crash: the thread is checked, at the cost of one gettid.)
func (w *ResponseWriter) direct() bool { return w.app.onLoopThread() }

// queue posts op to the loop thread; errors known now are returned at once. Off the loop
// thread only a detached writer may be used: any other gets ErrState (and a log line), since
// its request may be finished and freed by the time a posted call would run.
func (w *ResponseWriter) queue(op func()) error {
	if w.finished.Load() {
		return ErrState
	}
	if !w.detached.Load() {
		w.app.logger().Printf("eddy: ResponseWriter used outside its handler without Detach\n")
		return ErrState
	}
	// Posted even when the client already left: a Finish must still reach eddy to release
	// the request (eddy answers it with EDDY_ECLOSED).
	if err := w.app.post(func() {
		if !w.finished.Load() {
			op()
		}
	}); err != nil {
		return err // ErrClosed (the loop stopped), or ErrNoMemory
	}
	if w.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (w *ResponseWriter) live() error {
	if w.finished.Load() {
		return ErrState
	}
	return nil
}

// Request returns the request this writer answers.
func (w *ResponseWriter) Request() *Request { return &w.req }

// Detach keeps the response open after the handler returns, so that another goroutine can
// finish it (Tornado's asynchronous handlers). Call it in the handler, before handing w to the
// goroutine. Returns ErrState when the response is already finished, or when called off the
// loop thread on a writer not yet detached (e.g. first thing in the goroutine the handler
// started): it would race the loop, which finishes the response when the handler returns.
func (w *ResponseWriter) Detach() error {
	if w.detached.Load() {
		return nil
	}
	if !w.direct() {
		w.app.logger().Printf("eddy: ResponseWriter.Detach called off the loop thread: " +
			"call it in the handler, before handing the writer to a goroutine\n")
		return ErrState
	}
	if err := w.live(); err != nil {
		return err
	}
	if w.h != nil {
		if err := check(C.eddy_handler_detach(w.h)); err != nil {
			return err
		}
	}
	w.attach()
	if w.closedCh == nil {
		w.closedCh = make(chan struct{})
	}
	w.app.detached[w] = struct{}{}
	w.detached.Store(true)
	if w.inPrepare {
		w.suspended.Store(true) // eddy now holds the method until Resume
	}
	return nil
}

// Resume ends an asynchronous Prepare (Tornado's coroutine prepare): a Prepare that calls
// Detach suspends the request before its method handler (for a WebSocket route, before the
// handshake; for a DataReceived route, before the body is read); Resume lets the method run
// now, on the loop thread, after which the response is finished as after a synchronous
// Prepare unless the method detaches it again. Finishing the response instead (SendError(403),
// Redirect, Finish) refuses the request: the method never runs. Thread: any goroutine, like
// the other methods of a detached writer (off the loop thread it is posted there; called in
// Prepare itself, the method runs once Prepare returns). eddy_handler_resume.
// Returns ErrState when the request is not waiting in Prepare (Prepare did not detach, already
// resumed, or finished); ErrClosed when the client left while Prepare was pending (the
// response is then finished without the method, and OnFinish runs); ErrNotSupported for a raw
// request (App.ServeAll has no Prepare); ErrNoMemory as the other posted calls (not made).
func (w *ResponseWriter) Resume() error {
	if w.h == nil {
		return ErrNotSupported
	}
	if w.finished.Load() || !w.suspended.Swap(false) {
		return ErrState // known at once, on any goroutine (a second Resume included)
	}
	if w.direct() {
		return w.resumeOnLoop()
	}
	err := w.queue(func() { w.resumeOnLoop() })
	if err == ErrNoMemory {
		w.suspended.Store(true) // not posted: it may be made again
	}
	return err
}

// resumeOnLoop resumes the C handler. The method handler runs inside eddy_handler_resume
// (goMethod): from there on the writer is an undetached one again, finished when the method
// returns unless the method detaches it itself; so the detached state is dropped first, and
// restored if eddy refuses.
func (w *ResponseWriter) resumeOnLoop() error {
	w.detached.Store(false)
	delete(w.app.detached, w)
	rc := C.eddy_handler_resume(w.h)
	if rc == C.EDDY_ESTATE && !w.finished.Load() && !w.released.Load() {
		w.detached.Store(true)
		w.app.detached[w] = struct{}{}
	}
	return check(rc)
}

// Closed returns a channel closed when the client goes away before the response is finished.
// Call it in the handler or after Detach.
func (w *ResponseWriter) Closed() <-chan struct{} {
	if w.closedCh == nil {
		w.closedCh = make(chan struct{})
	}
	return w.closedCh
}

// Finished reports whether the response was finished. Thread: any goroutine.
func (w *ResponseWriter) Finished() bool { return w.finished.Load() }

// Do runs fn on the loop thread while the request is still alive (there w and its Request may
// be used directly). Returns false when the response is already finished or the loop stopped.
// Thread: any goroutine, after Detach.
func (w *ResponseWriter) Do(fn func()) bool {
	run := func() { w.guard("ResponseWriter.Do", fn) }
	if w.direct() {
		if w.finished.Load() {
			return false
		}
		run()
		return true
	}
	return w.queue(run) == nil
}

// SetStatus sets the status code (the reason phrase is the standard one).
func (w *ResponseWriter) SetStatus(code int) error { return w.SetStatusReason(code, "") }

// SetStatusReason sets the status code and reason phrase.
func (w *ResponseWriter) SetStatusReason(code int, reason string) error {
	if !w.direct() {
		return w.queue(func() { w.SetStatusReason(code, reason) })
	}
	if err := w.live(); err != nil {
		return err
	}
	if err := check(cSetStatus(w, code, reason)); err != nil {
		return err
	}
	w.status.Store(int32(code))
	return nil
}

// Status returns the response status set so far (Tornado's get_status): 200 until SetStatus,
// Redirect, SendError or Clear changes it; in WriteError, the error's status. Routes with
// hooks keep it from Prepare to OnFinish. Thread: any goroutine.
func (w *ResponseWriter) Status() int {
	if s := w.status.Load(); s != 0 {
		return int(s)
	}
	return 200
}

// Clear is Tornado's clear(): it drops the headers set so far (Set-Cookie excepted) and the
// body written, sets status 200 and runs the route's DefaultHeaders again. ErrState once the
// headers were flushed; ErrNotSupported for raw requests (App.ServeAll).
func (w *ResponseWriter) Clear() error {
	if w.h == nil {
		return ErrNotSupported
	}
	if !w.direct() {
		return w.queue(func() { w.Clear() })
	}
	if err := w.live(); err != nil {
		return err
	}
	before := w.status.Swap(200) // first: DefaultHeaders, run inside, may set another
	if err := check(C.eddy_handler_clear(w.h)); err != nil {
		w.status.Store(before)
		return err
	}
	return nil
}

// SetEtag replaces the automatic ETag of this response (Tornado's compute_etag /
// set_etag_header): at finish, a 200 answer to GET or HEAD without an Etag header gets etag
// (sent as given, e.g. `"v1"` with its quotes) and a matching If-None-Match turns it into 304.
// "" means no ETag and no 304 at all (compute_etag returning None). ErrInvalid for a control
// character; ErrNotSupported for raw requests.
func (w *ResponseWriter) SetEtag(etag string) error {
	if w.h == nil {
		return ErrNotSupported
	}
	if !w.direct() {
		return w.queue(func() { w.SetEtag(etag) })
	}
	if err := w.live(); err != nil {
		return err
	}
	return check(cSetEtag(w.h, etag))
}

// SetHeader sets a response header, replacing earlier values.
func (w *ResponseWriter) SetHeader(name, value string) error {
	if !w.direct() {
		return w.queue(func() { w.SetHeader(name, value) })
	}
	if err := w.live(); err != nil {
		return err
	}
	return check(cSetHeader(w, name, value))
}

// AddHeader adds a response header (repeats allowed).
func (w *ResponseWriter) AddHeader(name, value string) error {
	if !w.direct() {
		return w.queue(func() { w.AddHeader(name, value) })
	}
	if err := w.live(); err != nil {
		return err
	}
	return check(cAddHeader(w, name, value))
}

// ClearHeader removes a response header.
func (w *ResponseWriter) ClearHeader(name string) error {
	if !w.direct() {
		return w.queue(func() { w.ClearHeader(name) })
	}
	if err := w.live(); err != nil {
		return err
	}
	return check(cClearHeader(w, name))
}

// Write appends p to the response body (io.Writer). Off the loop thread p is copied first.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if !w.direct() {
		cp := append([]byte(nil), p...)
		if err := w.queue(func() { w.Write(cp) }); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if err := w.live(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := check(cWriteBytes(w, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString appends s to the response body.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	if !w.direct() {
		return w.Write([]byte(s))
	}
	if err := w.live(); err != nil {
		return 0, err
	}
	if len(s) == 0 {
		return 0, nil
	}
	if err := check(cWrite(w, s)); err != nil {
		return 0, err
	}
	return len(s), nil
}

// Flush sends what was written so far (chunked on HTTP/1.1); headers are fixed afterwards.
func (w *ResponseWriter) Flush() error {
	if !w.direct() {
		return w.queue(func() { w.Flush() })
	}
	if err := w.live(); err != nil {
		return err
	}
	return check(cFlush(w))
}

// Finish completes the response (then OnFinish runs). A second Finish returns ErrState.
func (w *ResponseWriter) Finish() error {
	if !w.direct() {
		return w.queue(func() { w.Finish() })
	}
	if err := w.live(); err != nil {
		return err
	}
	w.finished.Store(true)
	return check(cFinish(w))
}

// Abort ends a raw request (App.ServeAll) with its response left incomplete, for an answer
// that cannot be completed (a proxy whose upstream broke off mid-body): what was flushed stays
// sent, what was written since goes out too, and then the connection closes without the
// response's end — no last chunk, the declared Content-Length not reached — so that the client
// knows the answer is truncated, where Finish would make it look complete. Before the head went
// out (no Flush yet) nothing is sent: the connection just closes. An HTTP/1.0 answer without
// Content-Length ends at the close either way, so its client cannot tell. The C core's
// eddy_request_abort; errors as Finish's.
//
// A web-layer response (routes) returns ErrNotSupported: the C web layer has no abort of its
// own (its handler keeps the request). There, as in Tornado, SendError after a Flush closes
// the connection without completing the response.
func (w *ResponseWriter) Abort() error {
	if !w.direct() {
		return w.queue(func() { w.Abort() })
	}
	if err := w.live(); err != nil {
		return err
	}
	if w.h != nil {
		return ErrNotSupported
	}
	w.finished.Store(true)
	return check(C.eddy_request_abort(w.rq))
}

// Redirect sends a redirect to url (status 301, 302, 303, 307 or 308; 0 means 302) and
// finishes the response.
func (w *ResponseWriter) Redirect(url string, status int) error {
	if !w.direct() {
		return w.queue(func() { w.Redirect(url, status) })
	}
	if err := w.live(); err != nil {
		return err
	}
	if w.h == nil {
		if status == 0 {
			status = 302
		}
		w.SetStatus(status)
		if err := w.SetHeader("Location", url); err != nil {
			return err
		}
		return w.Finish()
	}
	err := check(cRedirect(w.h, url, status))
	if err == nil {
		if status == 0 {
			status = 302
		}
		w.status.Store(int32(status))
	}
	w.markIfFinished()
	return err
}

// SendError discards what was written and finishes with an error page for status (the
// route's WriteError, or eddy's small HTML page).
func (w *ResponseWriter) SendError(status int) error {
	if !w.direct() {
		return w.queue(func() { w.SendError(status) })
	}
	if err := w.live(); err != nil {
		return err
	}
	if w.h == nil { // a raw request: the status and an empty body
		w.SetStatus(status)
		return w.Finish()
	}
	if status < 200 || status > 599 {
		status = 500 // as eddy sends it
	}
	w.status.Store(int32(status))
	err := check(C.eddy_handler_send_error(w.h, C.int(status)))
	w.markIfFinished()
	return err
}

func (w *ResponseWriter) markIfFinished() {
	if C.eddy_handler_finished(w.h) != 0 {
		w.finished.Store(true)
	}
}

// CookieOptions are the attributes of SetCookie. The zero value gives a session cookie for
// path "/".
type CookieOptions struct {
	Domain   string
	Path     string
	Expires  time.Time // zero: none
	MaxAge   int       // 0: none; < 0: "Max-Age=0" (delete now); > 0: seconds
	Secure   bool
	HTTPOnly bool
	SameSite string // "Strict", "Lax", "None" or ""
}

// SetCookie sets a cookie. opts may be nil.
func (w *ResponseWriter) SetCookie(name, value string, opts *CookieOptions) error {
	if w.h == nil {
		return ErrNotSupported
	}
	if !w.direct() {
		return w.queue(func() { w.SetCookie(name, value, opts) })
	}
	if err := w.live(); err != nil {
		return err
	}
	if opts == nil {
		opts = &CookieOptions{}
	}
	var domain, path, samesite *C.char
	if opts.Domain != "" {
		domain = C.CString(opts.Domain)
		defer C.free(unsafe.Pointer(domain))
	}
	if opts.Path != "" {
		path = C.CString(opts.Path)
		defer C.free(unsafe.Pointer(path))
	}
	if opts.SameSite != "" {
		samesite = C.CString(opts.SameSite)
		defer C.free(unsafe.Pointer(samesite))
	}
	var expires float64
	if !opts.Expires.IsZero() {
		expires = float64(opts.Expires.UnixNano()) / 1e9
	}
	maxAge := C.long(-1)
	if opts.MaxAge > 0 {
		maxAge = C.long(opts.MaxAge)
	} else if opts.MaxAge < 0 {
		maxAge = 0
	}
	flags := C.int(0)
	if opts.Secure {
		flags |= C.EDDY_COOKIE_SECURE
	}
	if opts.HTTPOnly {
		flags |= C.EDDY_COOKIE_HTTPONLY
	}
	return check(cSetCookie(w.h, name, value, domain, path, expires, maxAge, flags, samesite))
}

// ClearCookie deletes a cookie (path "" means "/", domain "" means none).
func (w *ResponseWriter) ClearCookie(name, path, domain string) error {
	if w.h == nil {
		return ErrNotSupported
	}
	if !w.direct() {
		return w.queue(func() { w.ClearCookie(name, path, domain) })
	}
	if err := w.live(); err != nil {
		return err
	}
	var cpath, cdomain *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	if domain != "" {
		cdomain = C.CString(domain)
		defer C.free(unsafe.Pointer(cdomain))
	}
	return check(cClearCookie(w.h, name, cpath, cdomain))
}

// ClearAllCookies deletes every cookie the request sent (Tornado's clear_all_cookies), with
// ClearCookie's path and domain.
func (w *ResponseWriter) ClearAllCookies(path, domain string) error {
	if w.h == nil {
		return ErrNotSupported
	}
	if !w.direct() {
		return w.queue(func() { w.ClearAllCookies(path, domain) })
	}
	if err := w.live(); err != nil {
		return err
	}
	for name := range w.req.Cookies() {
		if err := w.ClearCookie(name, path, domain); err != nil {
			return err
		}
	}
	return nil
}

// SetSignedCookie sets a cookie signed with the app's cookie secret (Tornado version 2),
// valid for expiresDays (<= 0 means 30).
func (w *ResponseWriter) SetSignedCookie(name, value string, expiresDays float64) error {
	if w.h == nil {
		return ErrNotSupported
	}
	if !w.direct() {
		return w.queue(func() { w.SetSignedCookie(name, value, expiresDays) })
	}
	if err := w.live(); err != nil {
		return err
	}
	return check(cSetSignedCookie(w.h, name, value, expiresDays))
}
