package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_ws.h"
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

// WebSocket describes a WebSocket endpoint (Tornado's WebSocketHandler). The callbacks run on
// the loop thread; each may be nil.
type WebSocket struct {
	// Open runs once the handshake succeeded.
	Open func(c *Conn)
	// OnMessage gets each whole message. data is the callback's own copy: it may be kept or
	// sent to another goroutine (a view of eddy's buffer, as before, crashed the process when
	// kept past the call, the common Go idiom `ch <- data`).
	OnMessage func(c *Conn, data []byte, binary bool)
	// OnClose runs once when the connection closed: the peer's close code and reason, or 1006
	// when the TCP connection was lost.
	OnClose func(c *Conn, code int, reason string)
	// OnPing gets the payload (0 to 125 bytes, its own copy) of each ping the
	// peer sends, after eddy has queued the automatic pong (Tornado's on_ping); not called for
	// pings that arrive once closing began.
	OnPing func(c *Conn, data []byte)
	// OnPong gets the payload (its own copy) of each pong the peer sends, e.g.
	// the answer to Conn.Ping or to a keep-alive ping (Tornado's on_pong).
	OnPong func(c *Conn, data []byte)

	// SelectSubprotocol (server routes only) picks one of the subprotocols the client offered
	// (in its order; only called when it offered at least one) and returns it, or "" for none
	// (Tornado's select_subprotocol); an answer that is not one of offered chooses none. nil:
	// no subprotocol is ever chosen. The chosen one is Conn.Subprotocol on both sides.
	SelectSubprotocol func(r *Request, offered []string) string
	// CheckOrigin (server routes only) replaces the origin check (Tornado's check_origin): it
	// gets the handshake request and its Origin header ("" when absent) and says whether to
	// accept; refused handshakes get 403. nil: eddy's default, which accepts a missing Origin
	// and one whose host[:port] is the Host header's.
	CheckOrigin func(r *Request, origin string) bool

	MaxMessageSize int // bytes after decompression (0: eddy's default, 10 MiB)
	// MaxMessageMemory bounds the bytes of messages being received held at once over all the
	// route's connections (0: eddy's default, 1 GiB; negative: no limit). A message whose
	// bytes would go over closes its connection with 1013 (Try Again Later). MaxMessageSize
	// bounds one message, not how many peers hold one half-sent. On a WebSocketClient it
	// bounds that one connection (each DialWebSocket has its own count).
	MaxMessageMemory int
	Compression      bool // accept permessage-deflate
	// CompressionLevel is how this side compresses once permessage-deflate is negotiated
	// (Tornado's compression_options "compression_level"): 0 keeps eddy's default (zlib's 6),
	// 1 (fastest) to 9 (smallest) is that zlib level, and a negative value, e.g.
	// CompressionStored, is zlib's level 0: stored blocks, no compression. Mind that in zlib
	// and compress/flate 0 stores and -1 is the default: here the zero value is the default
	// and -1 stores. Above 9: the route's Start, or the dial (OnError), fails with ErrInvalid.
	CompressionLevel int
	// MemLevel is zlib's memLevel for this side's compressor (Tornado's "mem_level"): 0 keeps
	// the default (8); 1 to 9 trade ratio for memory, a compressor holding about
	// 2^(MemLevel+9) bytes besides its window. Negative or above 9: ErrInvalid, as above.
	MemLevel     int
	PingInterval time.Duration // keep-alive pings (0: none)
	PingTimeout  time.Duration // drop the connection without a pong (0: the interval)
}

// CompressionStored, as WebSocket.CompressionLevel, sends permessage-deflate messages as zlib's
// level 0 makes them: stored blocks, not compressed (any negative level does the same).
const CompressionStored = -1

// WebSocket makes pattern a WebSocket endpoint (GET requests are upgraded). The route's
// Prepare and DefaultHeaders still run first; a Prepare that finishes the response refuses
// the upgrade.
func (a *App) WebSocket(pattern string, ws WebSocket) *Route {
	r := a.Route(pattern)
	r.app.mustNotBeStarted("WebSocket")
	r.ws = &ws
	return r
}

// Conn is one WebSocket connection, a server's (App.WebSocket) or a client's
// (App.DialWebSocket). Its sending methods may be called from any goroutine:
// off the loop thread they are queued to it (data copied) and report only the errors known
// at once (ErrClosed once closing began; ErrNoMemory when eddy could not queue the call: it
// was not made).
type Conn struct {
	ws     *C.eddy_ws
	app    *App
	hooks  *WebSocket // the route's callbacks, or the client's
	handle cgo.Handle
	view   ResponseWriter // the handshake's handler, for Request() (server side only)
	// onDrain is SetWriteMark's callback (loop thread only).
	onDrain func(c *Conn)

	closing  atomic.Bool // closing began: sends return ErrClosed
	released atomic.Bool // eddy freed the connection
}

// Request returns the handshake request (headers, path arguments, cookies) of a server
// connection, nil for a client connection. Loop thread only, until OnClose returned.
func (c *Conn) Request() *Request {
	if c.view.h == nil {
		return nil
	}
	return &c.view.req
}

// App returns the application of the connection.
func (c *Conn) App() *App { return c.app }

func (c *Conn) direct() bool { return c.app.onLoopThread() }

func (c *Conn) post(op func() error) error {
	if c.closing.Load() || c.released.Load() {
		return ErrClosed
	}
	if err := c.app.post(func() {
		if !c.released.Load() {
			op()
		}
	}); err != nil {
		return err // ErrClosed (the loop stopped), or ErrNoMemory
	}
	return nil
}

// WriteMessage sends a text (binary false; must be valid UTF-8) or binary message.
func (c *Conn) WriteMessage(data []byte, binary bool) error {
	if !c.direct() {
		cp := append([]byte(nil), data...)
		return c.post(func() error { return c.WriteMessage(cp, binary) })
	}
	if c.released.Load() {
		return ErrClosed
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	bin := C.int(0)
	if binary {
		bin = 1
	}
	return check(C.eddy_ws_write_message(c.ws, p, C.size_t(len(data)), bin, nil))
}

// WriteText sends a text message.
func (c *Conn) WriteText(s string) error { return c.WriteMessage([]byte(s), false) }

// Ping sends a ping with up to 125 bytes of payload.
func (c *Conn) Ping(data []byte) error {
	if !c.direct() {
		cp := append([]byte(nil), data...)
		return c.post(func() error { return c.Ping(cp) })
	}
	if c.released.Load() {
		return ErrClosed
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return check(C.eddy_ws_ping(c.ws, p, C.size_t(len(data))))
}

// Close starts the close handshake with code (1000, 1001, 1003, 1007-1014, 3000-4999, or 0 for
// none) and a reason of at most 123 bytes; OnClose follows.
func (c *Conn) Close(code int, reason string) error {
	if !c.direct() {
		return c.post(func() error { return c.Close(code, reason) })
	}
	if c.released.Load() {
		return ErrClosed
	}
	cr := C.CString(reason)
	defer C.free(unsafe.Pointer(cr))
	err := check(C.eddy_ws_close(c.ws, C.int(code), cr, C.size_t(len(reason))))
	if err == nil {
		c.closing.Store(true)
	}
	return err
}

// Subprotocol returns the negotiated subprotocol ("" when none). Loop thread only.
func (c *Conn) Subprotocol() string {
	if c.released.Load() {
		return ""
	}
	var n C.size_t
	return goStr(C.eddy_ws_subprotocol(c.ws, &n), n)
}

// setMaxMessageMemory applies WebSocket.MaxMessageMemory: 0 keeps eddy's default, a negative
// value means no limit.
func setMaxMessageMemory(opts *C.eddy_ws_options, bytes int) {
	if bytes < 0 {
		bytes = 0
	} else if bytes == 0 {
		return
	}
	C.eddy_ws_options_set_max_message_memory(opts, C.size_t(bytes))
}

// setCompressionLevel applies WebSocket.CompressionLevel and MemLevel: both 0 keep eddy's
// defaults; a negative level is zlib's 0 (stored), 0 is C's -1 (zlib's default, 6).
func setCompressionLevel(opts *C.eddy_ws_options, level, memLevel int) error {
	if level == 0 && memLevel == 0 {
		return nil
	}
	if level > 9 || memLevel < 0 || memLevel > 9 { // checked here: a C int could wrap them
		return ErrInvalid
	}
	if level == 0 {
		level = -1
	} else if level < 0 {
		level = 0
	}
	return check(C.eddy_ws_options_set_compression_level(opts, C.int(level), C.int(memLevel)))
}

// registerWebSocket turns the C route into a WebSocket endpoint.
func (r *Route) registerWebSocket(cr *C.eddy_route) error {
	opts := C.eddy_ws_options_new()
	if opts == nil {
		return ErrNoMemory
	}
	defer C.eddy_ws_options_free(opts)
	if r.ws.MaxMessageSize > 0 {
		C.eddy_ws_options_set_max_message_size(opts, C.size_t(r.ws.MaxMessageSize))
	}
	setMaxMessageMemory(opts, r.ws.MaxMessageMemory)
	if r.ws.Compression {
		C.eddy_ws_options_set_compression(opts, C.EDDY_WS_DEFLATE, 0)
	}
	if err := setCompressionLevel(opts, r.ws.CompressionLevel, r.ws.MemLevel); err != nil {
		return err
	}
	if r.ws.PingInterval > 0 {
		C.eddy_ws_options_set_ping(opts, C.double(r.ws.PingInterval.Seconds()),
			C.double(r.ws.PingTimeout.Seconds()))
	}
	if r.ws.OnPing != nil {
		C.eddy_ws_options_set_on_ping(opts, C.eddy_ws_pong_fn(C.eddy_go_ws_ping))
	}
	if r.ws.OnPong != nil {
		C.eddy_ws_options_set_on_pong(opts, C.eddy_ws_pong_fn(C.eddy_go_ws_pong))
	}
	err := check(C.eddy_route_set_websocket(cr, C.eddy_ws_open_fn(C.eddy_go_ws_open),
		C.eddy_ws_message_fn(C.eddy_go_ws_message), C.eddy_ws_close_fn(C.eddy_go_ws_close), opts))
	if err == nil && r.ws.SelectSubprotocol != nil {
		err = check(C.eddy_route_set_ws_select_subprotocol(cr,
			C.eddy_ws_select_subprotocol_fn(C.eddy_go_ws_select_subprotocol)))
	}
	if err == nil && r.ws.CheckOrigin != nil {
		err = check(C.eddy_route_set_ws_check_origin(cr, C.eddy_ws_check_origin_fn(C.eddy_go_ws_check_origin)))
	}
	return err
}

// handshakeHook runs a route's check_origin or select_subprotocol hook with a view of the
// handshake request, valid during the call only; a panic is logged and gives the zero value.
func handshakeHook[T any](route *Route, h *C.eddy_handler, what string, fn func(r *Request) T) (result T) {
	view := &ResponseWriter{h: h, app: route.app, route: route}
	view.req.w = view
	view.finished.Store(true) // no response calls: eddy answers the handshake
	returned := false
	defer func() {
		view.released.Store(true)
		if p := recover(); p != nil || !returned {
			route.app.logPanic("WebSocket "+what, panicked(p))
		}
	}()
	result = fn(&view.req)
	returned = true
	return result
}

//export goWSCheckOrigin
func goWSCheckOrigin(h *C.eddy_handler, origin *C.char, n C.size_t, ud unsafe.Pointer) C.int {
	route := routeOf(ud)
	text := goStr(origin, n)
	if handshakeHook(route, h, "CheckOrigin", func(r *Request) bool { return route.ws.CheckOrigin(r, text) }) {
		return 1
	}
	return 0
}

//export goWSSelectSubprotocol
func goWSSelectSubprotocol(h *C.eddy_handler, protocols **C.char, lens *C.size_t, count C.size_t,
	ud unsafe.Pointer) C.int {
	route := routeOf(ud)
	names := unsafe.Slice(protocols, int(count))
	sizes := unsafe.Slice(lens, int(count))
	offered := make([]string, count)
	for i := range offered {
		offered[i] = goStr(names[i], sizes[i])
	}
	chosen := handshakeHook(route, h, "SelectSubprotocol", func(r *Request) string {
		return route.ws.SelectSubprotocol(r, offered)
	})
	for i, name := range offered {
		if chosen != "" && name == chosen {
			return C.int(i)
		}
	}
	if chosen != "" {
		route.app.logger().Printf("eddy: WebSocket SelectSubprotocol chose %q, which was not offered: none chosen", chosen)
	}
	return -1
}

func connOf(ws *C.eddy_ws) *Conn {
	ud := C.eddy_ws_get_userdata(ws)
	if ud == nil {
		return nil
	}
	return cgo.Handle(uintptr(ud)).Value().(*Conn)
}

// wsGuard runs a user callback of a connection: a panic is logged and closes the connection
// with 1011 (internal error); the loop goes on.
func (c *Conn) wsGuard(what string, fn func()) {
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			c.app.logPanic("WebSocket "+what, panicked(p))
			if !c.released.Load() {
				C.eddy_ws_close(c.ws, 1011, nil, 0)
				c.closing.Store(true)
			}
		}
	}()
	fn()
	returned = true
}

//export goWSOpen
func goWSOpen(ws *C.eddy_ws, ud unsafe.Pointer) {
	route := routeOf(ud)
	c := newConn(ws, route.app, route.ws)
	c.view = ResponseWriter{h: C.eddy_ws_handler(ws), app: route.app, route: route}
	c.view.req.w = &c.view
	c.view.finished.Store(true) // the 101 is sent: no response calls through the view
	c.opened()
}

// newConn makes the Go side of an opened connection; the connection's own userdata (released
// by goReleaseWS) finds it from every later callback, on both sides.
func newConn(ws *C.eddy_ws, app *App, hooks *WebSocket) *Conn {
	c := &Conn{ws: ws, app: app, hooks: hooks}
	c.handle = newHandle(c)
	C.eddy_ws_set_userdata(ws, C.eddy_go_handle_ptr(C.uintptr_t(c.handle)),
		C.eddy_free_fn(C.eddy_go_release_ws))
	return c
}

func (c *Conn) opened() {
	if c.hooks.Open != nil {
		c.wsGuard("open", func() { c.hooks.Open(c) })
	}
}

//export goWSMessage
func goWSMessage(ws *C.eddy_ws, data *C.char, n C.size_t, binary C.int, ud unsafe.Pointer) {
	c := connOf(ws)
	if c == nil || c.hooks.OnMessage == nil {
		return
	}
	msg := goBytes(data, n)
	c.wsGuard("on_message", func() { c.hooks.OnMessage(c, msg, binary != 0) })
}

//export goWSPing
func goWSPing(ws *C.eddy_ws, data *C.char, n C.size_t, ud unsafe.Pointer) {
	c := connOf(ws)
	if c == nil || c.hooks.OnPing == nil {
		return
	}
	payload := goBytes(data, n)
	c.wsGuard("on_ping", func() { c.hooks.OnPing(c, payload) })
}

//export goWSPong
func goWSPong(ws *C.eddy_ws, data *C.char, n C.size_t, ud unsafe.Pointer) {
	c := connOf(ws)
	if c == nil || c.hooks.OnPong == nil {
		return
	}
	payload := goBytes(data, n)
	c.wsGuard("on_pong", func() { c.hooks.OnPong(c, payload) })
}

//export goWSClose
func goWSClose(ws *C.eddy_ws, code C.int, reason *C.char, n C.size_t, ud unsafe.Pointer) {
	c := connOf(ws)
	if c == nil {
		return
	}
	c.closing.Store(true)
	if c.hooks.OnClose != nil {
		text := goStr(reason, n)
		c.wsGuard("on_close", func() { c.hooks.OnClose(c, int(code), text) })
	}
	c.view.released.Store(true) // the handler goes with the connection
}

//export goReleaseWS
func goReleaseWS(ud unsafe.Pointer) {
	h := cgo.Handle(uintptr(ud))
	c := h.Value().(*Conn)
	c.closing.Store(true)
	c.released.Store(true)
	c.view.released.Store(true)
	deleteHandle(h)
}
