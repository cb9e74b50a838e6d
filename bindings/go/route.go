package eddy

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"unsafe"
)

// HandlerFunc handles one request. Unless it calls w.Detach, the response is finished when it
// returns. w and r belong to the loop thread: see ResponseWriter.Detach for finishing the
// response from another goroutine.
type HandlerFunc func(w *ResponseWriter, r *Request)

// Route is one URL pattern (a PCRE2 regular expression matched against the whole,
// still percent-encoded path; its groups are the request's path arguments) with a handler per
// method and optional hooks, as the parts of a Tornado RequestHandler subclass. Its setters
// belong before App.Start, which registers the routes with eddy: after it they panic, as
// HandleFunc does (a hook set then would never run, and would race the loop reading it).
type Route struct {
	app      *App
	pattern  string
	host     string
	name     string
	methods  [methodOther]HandlerFunc // the common methods, by index (see shim.c)
	other    map[string]HandlerFunc   // custom methods
	prepare  HandlerFunc
	onFinish func(r *Request)
	onClose  func(r *Request)
	defaults func(w *ResponseWriter)
	writeErr func(w *ResponseWriter, r *Request, status int)
	onData   func(r *Request, data []byte)
	isDef    bool
	noXSRF   bool // XSRFCheck(false)
	hooked   bool // set by register: see stateful
	ws       *WebSocket
}

// Method indexes, the same as the enum of shim.c.
const (
	methodGet = iota
	methodHead
	methodPost
	methodPut
	methodDelete
	methodPatch
	methodOptions
	methodOther
)

var methodNames = [methodOther]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}

var methodTrampolines = [methodOther]C.eddy_handler_fn{
	C.eddy_handler_fn(C.eddy_go_method_get), C.eddy_handler_fn(C.eddy_go_method_head),
	C.eddy_handler_fn(C.eddy_go_method_post), C.eddy_handler_fn(C.eddy_go_method_put),
	C.eddy_handler_fn(C.eddy_go_method_delete), C.eddy_handler_fn(C.eddy_go_method_patch),
	C.eddy_handler_fn(C.eddy_go_method_options),
}

// Route returns the route for pattern, creating it (routes are tried in the order created).
func (a *App) Route(pattern string) *Route { return a.hostRoute("", pattern) }

// HostRoute is Route for requests whose host name matches the anchored PCRE2 hostPattern.
func (a *App) HostRoute(hostPattern, pattern string) *Route { return a.hostRoute(hostPattern, pattern) }

func (a *App) hostRoute(host, pattern string) *Route {
	a.mustNotBeStarted("adding a route")
	key := host + "\x00" + pattern
	if r := a.routeByKey[key]; r != nil {
		return r
	}
	r := &Route{app: a, pattern: pattern, host: host}
	a.routes = append(a.routes, r)
	a.routeByKey[key] = r
	return r
}

// HandleFunc registers fn for method ("GET", "POST", ... or a custom token) on pattern.
// HEAD falls back to GET; methods without a handler get 405 with an Allow header.
func (a *App) HandleFunc(method, pattern string, fn HandlerFunc) *Route {
	return a.Route(pattern).HandleFunc(method, fn)
}

// Get, Post, Put, Delete and Patch are HandleFunc for that method.
func (a *App) Get(pattern string, fn HandlerFunc) *Route  { return a.HandleFunc("GET", pattern, fn) }
func (a *App) Post(pattern string, fn HandlerFunc) *Route { return a.HandleFunc("POST", pattern, fn) }
func (a *App) Put(pattern string, fn HandlerFunc) *Route  { return a.HandleFunc("PUT", pattern, fn) }
func (a *App) Delete(pattern string, fn HandlerFunc) *Route {
	return a.HandleFunc("DELETE", pattern, fn)
}
func (a *App) Patch(pattern string, fn HandlerFunc) *Route { return a.HandleFunc("PATCH", pattern, fn) }

// HandleFunc sets the handler of method on this route; a nil fn removes it (the method then
// gets 405, a custom method as a standard one).
func (r *Route) HandleFunc(method string, fn HandlerFunc) *Route {
	r.app.mustNotBeStarted("HandleFunc")
	for i, m := range methodNames {
		if m == method {
			r.methods[i] = fn
			return r
		}
	}
	if fn == nil {
		// Not registered with eddy at all: a nil entry would be routed here and answered
		// with an empty 200 by no handler.
		delete(r.other, method)
		return r
	}
	if r.other == nil {
		r.other = map[string]HandlerFunc{}
	}
	r.other[method] = fn
	return r
}

// Name names the route, for App.ReverseURL (Tornado's reverse_url).
func (r *Route) Name(name string) *Route { r.app.mustNotBeStarted("Name"); r.name = name; return r }

// Default makes this route answer requests that match no pattern (instead of 404).
func (r *Route) Default() *Route { r.app.mustNotBeStarted("Default"); r.isDef = true; return r }

// XSRFCheck(false) makes requests to this route skip the app's XSRF check
// (App.SetXSRFCookies), as overriding check_xsrf_cookie to do nothing on one Tornado handler
// does: e.g. an API authenticated otherwise, or a host that checks the token itself. The
// default is true (checked when the app turns XSRF cookies on).
func (r *Route) XSRFCheck(on bool) *Route {
	r.app.mustNotBeStarted("XSRFCheck")
	r.noXSRF = !on
	return r
}

// Prepare runs before the method handler; if it finishes the response the handler is skipped.
// It may go asynchronous (Tornado's coroutine prepare, e.g. an authorisation check that waits
// for a lookup): a Prepare that calls w.Detach() suspends the request, and the method handler
// (a WebSocket route's handshake) runs when a goroutine calls w.Resume(); or never, if it
// finishes the response instead (w.SendError(403)).
func (r *Route) Prepare(fn HandlerFunc) *Route {
	r.app.mustNotBeStarted("Prepare")
	r.prepare = fn
	return r
}

// OnFinish runs on the loop thread after the response was finished (r's getters still work).
func (r *Route) OnFinish(fn func(r *Request)) *Route {
	r.app.mustNotBeStarted("OnFinish")
	r.onFinish = fn
	return r
}

// OnConnectionClose runs when the client went away before the response was finished.
func (r *Route) OnConnectionClose(fn func(r *Request)) *Route {
	r.app.mustNotBeStarted("OnConnectionClose")
	r.onClose = fn
	return r
}

// DefaultHeaders runs first for every request of the route and again before an error page.
func (r *Route) DefaultHeaders(fn func(w *ResponseWriter)) *Route {
	r.app.mustNotBeStarted("DefaultHeaders")
	r.defaults = fn
	return r
}

// WriteError writes the body of error pages (404 from this route, 500 after a panic, ...).
func (r *Route) WriteError(fn func(w *ResponseWriter, req *Request, status int)) *Route {
	r.app.mustNotBeStarted("WriteError")
	r.writeErr = fn
	return r
}

// DataReceived streams request bodies of this route to fn (piece by piece, on the loop thread;
// each piece is fn's own copy, which it may keep) instead of buffering them; the method handler
// runs once the body is complete.
func (r *Route) DataReceived(fn func(r *Request, data []byte)) *Route {
	r.app.mustNotBeStarted("DataReceived")
	r.onData = fn
	return r
}

// stateful: the hooks share the request's state with the method handler, so the state lives
// in the eddy handler's userdata from the first callback on.
func (r *Route) stateful() bool { return r.hooked }

func (r *Route) hasHooks() bool {
	return r.prepare != nil || r.onFinish != nil || r.onData != nil || r.writeErr != nil ||
		r.defaults != nil
}

func (r *Route) handler(method int, h *C.eddy_handler) HandlerFunc {
	if method < methodOther {
		return r.methods[method]
	}
	var n C.size_t
	m := C.eddy_request_method(C.eddy_handler_request(h), &n)
	return r.other[C.GoStringN(m, C.int(n))]
}

// register creates the C route on the loop thread. The route's cgo.Handle is released by
// eddy_app_free through the free callback.
func (r *Route) register(capp *C.eddy_app) error {
	r.hooked = r.hasHooks()
	h := newHandle(r)
	ud := C.eddy_go_handle_ptr(C.uintptr_t(h))
	cp := C.CString(r.pattern)
	defer C.free(unsafe.Pointer(cp))
	var cr *C.eddy_route
	if r.host == "" {
		cr = C.eddy_app_add_route(capp, cp, C.size_t(len(r.pattern)), ud,
			C.eddy_free_fn(C.eddy_go_release_handle))
	} else {
		ch := C.CString(r.host)
		defer C.free(unsafe.Pointer(ch))
		cr = C.eddy_app_add_host_route(capp, ch, C.size_t(len(r.host)), cp,
			C.size_t(len(r.pattern)), ud, C.eddy_free_fn(C.eddy_go_release_handle))
	}
	if cr == nil {
		deleteHandle(h)
		return errors.New("eddy: route pattern does not compile: " + r.pattern)
	}
	for i, fn := range r.methods {
		if fn != nil {
			on(cr, methodNames[i], methodTrampolines[i])
		}
	}
	for m := range r.other {
		on(cr, m, C.eddy_handler_fn(C.eddy_go_method_other))
	}
	if r.name != "" {
		cn := C.CString(r.name)
		C.eddy_route_set_name(cr, cn, C.size_t(len(r.name)))
		C.free(unsafe.Pointer(cn))
	}
	if r.isDef {
		C.eddy_app_set_default_route(capp, cr)
	}
	if r.noXSRF {
		C.eddy_route_set_xsrf_check(cr, 0)
	}
	if r.prepare != nil {
		C.eddy_route_set_prepare(cr, C.eddy_handler_fn(C.eddy_go_prepare))
	}
	if r.onFinish != nil {
		C.eddy_route_set_on_finish(cr, C.eddy_handler_fn(C.eddy_go_on_finish))
	}
	if r.defaults != nil {
		C.eddy_route_set_default_headers(cr, C.eddy_handler_fn(C.eddy_go_default_headers))
	}
	if r.writeErr != nil {
		C.eddy_route_set_write_error(cr, C.eddy_handler_error_fn(C.eddy_go_write_error))
	}
	if r.onData != nil {
		C.eddy_route_set_data_received(cr, C.eddy_handler_data_fn(C.eddy_go_data_received))
	}
	if r.ws != nil {
		if err := r.registerWebSocket(cr); err != nil {
			return errors.New("eddy: WebSocket route " + r.pattern + ": " + err.Error())
		}
	}
	// Always: a detached ResponseWriter learns through it that its client went away.
	C.eddy_route_set_on_connection_close(cr, C.eddy_handler_fn(C.eddy_go_on_connection_close))
	return nil
}

func on(cr *C.eddy_route, method string, fn C.eddy_handler_fn) {
	cm := C.CString(method)
	C.eddy_route_on(cr, cm, C.size_t(len(method)), fn)
	C.free(unsafe.Pointer(cm))
}
