package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_ws.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"time"
	"unsafe"
)

// WebSocketClient describes a client connection opened with App.DialWebSocket (Tornado's
// websocket_connect). The callbacks run on the App's loop thread; each may be nil.
type WebSocketClient struct {
	// Open (the connection is established), OnMessage, OnPing, OnClose and the limits, as for
	// a route. PingInterval/PingTimeout are the client's keep-alive pings.
	WebSocket
	// OnError runs instead of Open when the connection could not be opened: ErrProto when the
	// server refused or broke the handshake, ErrTLS when the TLS handshake or certificate check
	// failed, ErrTimedOut, ErrConnRefused, ErrInvalid for a bad URL, header or TLS file, ...
	// When eddy knows why beyond the code, err is a *DialError carrying it (its Error() ends
	// with the detail): compare with errors.Is(err, ErrTLS), not ==.
	OnError func(err error)
	// OnRefused runs when the server answered the handshake with an HTTP status other than 101
	// (403 from an origin check, 404, a plain page, ...): that status and its reason phrase,
	// just before OnError gets ErrProto (Tornado raises HTTPClientError(status) there). Not
	// called for other handshake failures.
	OnRefused func(status int, reason string)
	// Headers are added to the handshake request (Origin, Cookie, Authorization, ...).
	Headers [][2]string
	// Subprotocols are offered in this order (Tornado's subprotocols); the server's choice is
	// Conn.Subprotocol once open.
	Subprotocols []string
	// TLS configures wss:// URLs (the zero value: system CAs, certificate and host name
	// verified). A failed TLS handshake or certificate check gives OnError(ErrTLS); an
	// unreadable file gives OnError with an error wrapping ErrInvalid.
	TLS ClientTLS
	// ConnectTimeout bounds the TCP connect plus the handshake (0: eddy's default, 20 s).
	ConnectTimeout time.Duration
	// UnixSocket, when set, is the path of a Unix-domain socket ("@name": a Linux abstract
	// one) to connect to instead of the URL's host and port (eddy_ws_options_set_unix_socket,
	// as HTTPRequest.UnixSocket): the URL still gives Host, the target and the name wss://
	// checks. A missing path gives OnError(ErrNotFound), one nobody listens on
	// ErrConnRefused; a path too long for a socket address (107 bytes) wraps ErrInvalid.
	UnixSocket string
}

// dial is the userdata of one eddy_websocket_connect: released by eddy after the close
// callback or after a failed connect.
type dial struct {
	app *App
	cl  *WebSocketClient
}

// DialWebSocket connects to url ("ws://host[:port][/path][?query]", or "wss://" over TLS, see
// WebSocketClient.TLS) from the App's loop. The
// outcome comes later, on the loop thread: Open with the Conn, or OnError. Thread: any
// goroutine once the App started; it returns ErrClosed (and no callback runs) when the loop
// has stopped or was not started, ErrNoMemory (no callback runs either) when eddy could not
// queue the dial.
func (a *App) DialWebSocket(url string, ws WebSocketClient) error {
	return a.post(func() { a.dialWebSocket(url, &ws) })
}

func (a *App) dialWebSocket(url string, cl *WebSocketClient) {
	if err := a.startDial(url, cl); err != nil && cl.OnError != nil {
		a.guardClient("on_error", func() { cl.OnError(err) })
	}
}

func (a *App) startDial(url string, cl *WebSocketClient) error {
	opts := C.eddy_ws_options_new()
	if opts == nil {
		return ErrNoMemory
	}
	defer C.eddy_ws_options_free(opts)
	if err := cl.fill(opts); err != nil {
		return err
	}
	cu := C.CString(url)
	defer C.free(unsafe.Pointer(cu))
	h := newHandle(&dial{app: a, cl: cl})
	rc := C.eddy_websocket_connect(a.loop, cu, C.size_t(len(url)), opts,
		C.eddy_ws_connect_fn(C.eddy_go_ws_connect), C.eddy_ws_message_fn(C.eddy_go_ws_message),
		C.eddy_ws_close_fn(C.eddy_go_ws_close), C.eddy_go_handle_ptr(C.uintptr_t(h)),
		C.eddy_free_fn(C.eddy_go_release_handle))
	if rc < 0 {
		deleteHandle(h) // not taken: eddy did not call the free function
	}
	return check(rc)
}

func (cl *WebSocketClient) fill(opts *C.eddy_ws_options) error {
	if cl.MaxMessageSize > 0 {
		C.eddy_ws_options_set_max_message_size(opts, C.size_t(cl.MaxMessageSize))
	}
	setMaxMessageMemory(opts, cl.MaxMessageMemory)
	if cl.Compression {
		C.eddy_ws_options_set_compression(opts, C.EDDY_WS_DEFLATE, 0)
	}
	if err := setCompressionLevel(opts, cl.CompressionLevel, cl.MemLevel); err != nil {
		return err
	}
	if cl.PingInterval > 0 {
		C.eddy_ws_options_set_ping(opts, C.double(cl.PingInterval.Seconds()),
			C.double(cl.PingTimeout.Seconds()))
	}
	if cl.ConnectTimeout > 0 {
		C.eddy_ws_options_set_connect_timeout(opts, C.double(cl.ConnectTimeout.Seconds()))
	}
	if cl.UnixSocket != "" {
		if strings.IndexByte(cl.UnixSocket, 0) >= 0 {
			return fmt.Errorf("eddy: NUL byte in UnixSocket: %w", ErrInvalid)
		}
		cp := C.CString(cl.UnixSocket)
		rc := C.eddy_ws_options_set_unix_socket(opts, cp)
		C.free(unsafe.Pointer(cp))
		if err := check(rc); err != nil {
			return fmt.Errorf("eddy: UnixSocket %q: %w", cl.UnixSocket, err)
		}
	}
	for _, hv := range cl.Headers {
		n, v := C.CString(hv[0]), C.CString(hv[1])
		rc := C.eddy_ws_options_add_header(opts, n, C.size_t(len(hv[0])), v, C.size_t(len(hv[1])))
		C.free(unsafe.Pointer(n))
		C.free(unsafe.Pointer(v))
		if err := check(rc); err != nil {
			return err
		}
	}
	for _, name := range cl.Subprotocols {
		cn := C.CString(name)
		rc := C.eddy_ws_options_add_subprotocol(opts, cn, C.size_t(len(name)))
		C.free(unsafe.Pointer(cn))
		if err := check(rc); err != nil {
			return err
		}
	}
	if cl.OnPing != nil {
		C.eddy_ws_options_set_on_ping(opts, C.eddy_ws_pong_fn(C.eddy_go_ws_ping))
	}
	if cl.OnPong != nil {
		C.eddy_ws_options_set_on_pong(opts, C.eddy_ws_pong_fn(C.eddy_go_ws_pong))
	}
	if err := cl.TLS.apply(opts); err != nil {
		return err
	}
	if cl.OnRefused != nil {
		C.eddy_ws_options_set_on_refused(opts, C.eddy_ws_refused_fn(C.eddy_go_ws_refused))
	}
	return nil
}

// guardClient runs a client callback that has no connection: a panic is logged.
func (a *App) guardClient(what string, fn func()) {
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			a.logPanic("WebSocket client "+what, panicked(p))
		}
	}()
	fn()
	returned = true
}

func dialOf(ud unsafe.Pointer) *dial { return cgo.Handle(uintptr(ud)).Value().(*dial) }

//export goWSConnect
func goWSConnect(ws *C.eddy_ws, status C.int, ud unsafe.Pointer) {
	d := dialOf(ud)
	if status != 0 || ws == nil {
		if d.cl.OnError != nil {
			err := dialError(d.app.loop, status) // now: the detail is gone once this returns
			d.app.guardClient("on_error", func() { d.cl.OnError(err) })
		}
		return
	}
	newConn(ws, d.app, &d.cl.WebSocket).opened()
}

//export goWSRefused
func goWSRefused(status C.int, reason *C.char, n C.size_t, ud unsafe.Pointer) {
	d := dialOf(ud)
	if d.cl.OnRefused != nil {
		text := goStr(reason, n)
		d.app.guardClient("on_refused", func() { d.cl.OnRefused(int(status), text) })
	}
}
