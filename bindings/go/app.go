package eddy

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

// App is a web application: routes with per-method handlers, served by one eddy loop that runs
// on its own locked OS thread. Configure it and register routes before Start/Run; after that,
// only Stop, Shutdown, Call, Port, Wait and the ResponseWriters of detached requests may be
// used from other goroutines. The server options (SetTLS, SetXHeaders, SetMaxBodySize, ...) apply to
// the server Start listens with; AddServer gives the App more servers, each with its own.
type App struct {
	// Logger receives the binding's own log lines (handler panics). Default: log.Default().
	Logger *log.Logger

	serverConfig // the options of the server Start(addr) listens with

	routes       []*Route
	routeByKey   map[string]*Route
	cookieSecret string
	xsrfCookies  bool
	compress     bool
	statics      [][2]string
	servers      []*Server   // AddServer's, in order
	rawFn        HandlerFunc // ServeAll: eddy's HTTP server without the web layer

	// The loop (eventloop.go): its thread, and posting work to it from other goroutines.
	eventLoop

	// Set on the loop thread during Start, read-only afterwards.
	capp    *C.eddy_app    // the web application, or nil with ServeAll
	srv     *C.eddy_server // the raw server with ServeAll
	port    int
	addrs   []net.Addr
	started bool
	// Every server of the App: Start's (or ServeAll's) and AddServer's, which Shutdown shuts
	// down. Set on the loop thread during Start, read there only.
	cservers []*C.eddy_server
	// Shutdown asked the servers to shut down (loop thread only): a second call waits for
	// the same end instead of asking again (eddy would refuse it with EDDY_ESTATE).
	shuttingDown bool
	// Detached exchanges not yet released (loop thread only): finished at shutdown so that
	// Stop never leaves a request (and its handle) behind.
	detached map[*ResponseWriter]struct{}
	// HTTP clients not yet closed (loop thread only): closed at shutdown, before the loop.
	clients map[*HTTPClient]struct{}
	// HTTP clients made before Start, opened by Start.
	pendingClients []pendingClient
}

// New returns an empty application.
func New() *App {
	a := &App{routeByKey: map[string]*Route{},
		detached: map[*ResponseWriter]struct{}{}, clients: map[*HTTPClient]struct{}{}}
	a.serverConfig.app = a
	a.eventLoop.done = make(chan struct{})
	a.eventLoop.onPanic = a.logPanic
	return a
}

// Server is one more HTTP server of an App (Tornado: another HTTPServer of the same
// Application), made by App.AddServer: its own address and options (SetTLS, SetXHeaders,
// SetMaxBodySize, SetServerHeader, SetProxyProtocol, ... as on the App), the App's routes,
// settings and handlers. The App owns it: Start creates and listens with it on the App's
// loop, and it closes with the App.
type Server struct {
	serverConfig
	addr  string
	port  int        // the port it listens on, set by Start
	addrs []net.Addr // the addresses it listens on, set by Start
	// The C server (loop thread): set by Start, cleared by RemoveServer.
	csrv *C.eddy_server
}

// AddServer gives the App one more HTTP server, listening on addr ("127.0.0.1:8443"; port 0
// picks a free port, see Server.Port; "unix:PATH" a Unix socket, as for Start) when Start
// runs, with the options set on the returned Server before Start and none of the App's own
// (it starts from eddy's defaults). For one App
// on plain HTTP and HTTPS at once (SetTLS applies to a whole server), or on two ports with
// different limits, proxies trusted or PROXY protocol. Start creates the servers in the order
// they were added, after the App's own, and returns an error naming addr when one cannot
// listen (a bad address, a port in use) or refuses an option; nothing is served then. Not
// with ServeAll. Call before Start (it panics after).
func (a *App) AddServer(addr string) *Server {
	a.mustNotBeStarted("AddServer")
	s := &Server{serverConfig: serverConfig{app: a}, addr: addr}
	a.servers = append(a.servers, s)
	return s
}

// RemoveServer frees s, one of the App's AddServer servers (eddy_app_remove_server; Rust's
// App::remove_server): its listening sockets and connections close, requests in flight get
// their OnConnectionClose, and it serves no more, while the App and its other servers go on.
// For a program that replaces a server while the App lives on (a reload that listens anew);
// otherwise its memory stays until the App ends. Called in a handler of one of s's own
// requests, s stops listening at once and its connections close after their current answer.
// Before Start it only drops s from the servers Start would make. Thread: any goroutine (off
// the loop thread it waits for the loop). Errors: ErrInvalid for nil, a server of another App,
// or one already removed; ErrState while a Shutdown is under way (it waits for s: removing it
// would leave that wait unended); ErrClosed once the loop stopped.
func (a *App) RemoveServer(s *Server) error {
	if s == nil || s.app != a {
		return ErrInvalid
	}
	if !a.started {
		for i, have := range a.servers {
			if have == s {
				a.servers = append(a.servers[:i:i], a.servers[i+1:]...)
				return nil
			}
		}
		return ErrInvalid
	}
	return a.onLoop(func() error {
		if a.shuttingDown {
			return ErrState
		}
		if s.csrv == nil || a.capp == nil {
			return ErrInvalid
		}
		for i, srv := range a.cservers {
			if srv == s.csrv {
				// Out of cservers first: Shutdown must never ask the freed server.
				a.cservers = append(a.cservers[:i:i], a.cservers[i+1:]...)
				break
			}
		}
		srv := s.csrv
		s.csrv = nil
		return check(C.eddy_app_remove_server(a.capp, srv))
	})
}

// Port returns the port the server listens on, once Start returned without an error (useful
// with port 0); 0 before. Thread: any goroutine that saw Start return (Start sets it).
func (s *Server) Port() int { return s.port }

// Addrs returns the local address of every socket the server listens on (*net.TCPAddr, or
// *net.UnixAddr for a Unix socket), once Start returned without an error; nil before. Port
// gives the first TCP socket's only. Thread: any goroutine that saw Start return.
func (s *Server) Addrs() []net.Addr { return append([]net.Addr(nil), s.addrs...) }

// listenAddr is where a server of an App listens: host and port, or a Unix socket's path.
type listenAddr struct {
	host string
	port int
	unix string // the path of a "unix:PATH" address ("@name": a Linux abstract socket)
}

// unixAddrPrefix marks a Unix socket address, as nginx's listen and gunicorn's --bind write it.
const unixAddrPrefix = "unix:"

// parseListenAddr parses an App's or a Server's address: "host:port", or "unix:PATH".
func parseListenAddr(addr string) (listenAddr, error) {
	if strings.HasPrefix(addr, unixAddrPrefix) {
		path := addr[len(unixAddrPrefix):]
		if path == "" || strings.IndexByte(path, 0) >= 0 {
			return listenAddr{}, fmt.Errorf("eddy: no Unix socket path in %q: %w", addr, ErrInvalid)
		}
		return listenAddr{unix: path}, nil
	}
	host, port, err := splitAddr(addr)
	return listenAddr{host: host, port: port}, err
}

// splitAddr parses "host:port" for listening (port 0 to 65535).
func splitAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("eddy: bad port in " + strconv.Quote(addr))
	}
	return host, port, nil
}

func (a *App) logger() *log.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return log.Default()
}

func (a *App) mustNotBeStarted(what string) {
	if a.started {
		panic("eddy: " + what + " after Start")
	}
}

// SetCookieSecret sets the secret for signed cookies (Tornado's cookie_secret).
func (a *App) SetCookieSecret(secret string) {
	a.mustNotBeStarted("SetCookieSecret")
	a.cookieSecret = secret
}

// SetXSRFCookies turns on Tornado's XSRF check for POST, PUT, DELETE, PATCH and custom methods.
func (a *App) SetXSRFCookies(on bool) { a.mustNotBeStarted("SetXSRFCookies"); a.xsrfCookies = on }

// SetCompressResponse turns on gzip for compressible responses of clients that accept it.
func (a *App) SetCompressResponse(on bool) {
	a.mustNotBeStarted("SetCompressResponse")
	a.compress = on
}

// Static serves the files under directory root at URL prefix urlPrefix (e.g. "/static/").
func (a *App) Static(urlPrefix, root string) {
	a.mustNotBeStarted("Static")
	a.statics = append(a.statics, [2]string{urlPrefix, root})
}

// Start creates the loop on a new locked OS thread, registers the routes, listens on addr
// ("127.0.0.1:8080"; port 0 picks a free port, see Port) and returns once the server accepts
// connections, or with the error that prevented it. An App can be started once, even when
// Start failed: Done is closed then (Wait returns at once).
//
// addr "unix:PATH" listens on a Unix socket at PATH instead (Tornado's bind_unix_socket; a
// proxy on the same machine, e.g. nginx's proxy_pass http://unix:PATH): the file gets mode
// 0600 unless SetUnixSocketMode says otherwise, a stale socket file nobody answers on is
// replaced (any other file there is ErrAddrInUse), and the file is removed when the App ends.
// "unix:@NAME" is a Linux abstract socket (no file). Port is 0 then.
func (a *App) Start(addr string) error {
	a.mustNotBeStarted("Start")
	a.started = true
	la, err := parseListenAddr(addr)
	if err != nil { // no loop was made: done at once (Wait returns)
		close(a.done)
		return err
	}
	return a.eventLoop.start(func() error { return a.setup(la) }, a.teardown)
}

// Run is Start followed by Wait.
func (a *App) Run(addr string) error {
	if err := a.Start(addr); err != nil {
		return err
	}
	a.Wait()
	return nil
}

// Port returns the port the App's server listens on (useful after Start with port 0); a
// Server of AddServer has its own Port.
func (a *App) Port() int { return a.port }

// Addrs returns the local address of every socket the App's server listens on (*net.TCPAddr,
// or *net.UnixAddr for a Unix socket), once Start returned without an error; nil before. Port
// gives the first TCP socket's only; a Server of AddServer has its own Addrs.
func (a *App) Addrs() []net.Addr { return append([]net.Addr(nil), a.addrs...) }

// Stop asks the loop to stop; Wait returns once it did and everything was released.
// Thread: any goroutine; calling it more than once, or before Start, is harmless.
func (a *App) Stop() { a.eventLoop.stop() }

// Shutdown ends the App gracefully, as net/http's Server.Shutdown does (Tornado: stop() on
// every HTTPServer, then waiting for the requests in flight before stopping the IOLoop). Every
// server of the App (Start's, or ServeAll's, and AddServer's) stops accepting — new
// connections are refused — and closes its idle keep-alive connections at once; requests in
// flight are answered whole, their connections closing after the response
// (eddy_server_shutdown). Once no server has a connection left, the loop stops as with Stop:
// HTTP clients still open are closed, Done is closed and Wait returns. A detached request
// (Detach) is in flight until it is finished: Shutdown waits for its Finish (or SendError,
// Redirect), as it does for a handler that has not returned; its connection keeps the server
// from finishing until then. A connection closed after its answer lingers until the client
// closes its side too (at most 2 seconds, input discarded), so that the client reads the whole
// answer rather than a reset. WebSocket connections are not waited for (Tornado's
// close_all_connections does not wait for them either): they are closed when the App ends
// (close code 1001, going away), as with Stop. Shutdown returns nil once the App has ended.
//
// When ctx ends first, Shutdown calls Stop and returns ctx.Err() without waiting for the loop
// to end (Wait or Done tell when it did): Stop cuts off the requests still in flight, and
// finishes the detached ones with what was written so far. As with net/http, a
// request that never finishes keeps Shutdown waiting for ctx: give it a deadline
// (context.WithTimeout). If eddy cannot queue the shutdown on the loop (ErrNoMemory),
// Shutdown calls Stop and returns that error.
//
// Thread: any goroutine except the App's own loop thread (a handler, hook or callback), where
// it panics as Wait does (the loop would wait for itself); to shut down from a handler, call
// Shutdown from a goroutine it starts. Calling it again, from several goroutines at once, or
// after Stop is harmless: each call waits for the same end and returns nil once the App ended
// (even when Stop, called meanwhile, ended it and cut requests off). Before Start it does
// nothing and returns nil, as Stop does.
func (a *App) Shutdown(ctx context.Context) error {
	if a.onLoopThread() {
		panic("eddy: App.Shutdown called on the App's own loop thread (in a handler or " +
			"callback): it would wait for itself forever; call it from another goroutine")
	}
	select {
	case <-a.done:
		return nil // already ended (or Start failed)
	default:
	}
	if err := a.post(a.beginShutdown); err != nil {
		if !a.loopMade() {
			return nil // not started: nothing to shut down (as Stop)
		}
		if !errors.Is(err, ErrClosed) { // eddy could not queue it; the loop still runs
			a.Stop()
			return err
		}
		// ErrClosed: the loop is already ending (Stop); wait for its end below.
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		select {
		case <-a.done: // both: the App did end
			return nil
		default:
		}
		a.Stop() // the App must end all the same: cut off what is still in flight
		return ctx.Err()
	}
}

// beginShutdown runs on the loop thread: eddy_server_shutdown on every server of the App, and
// the loop stops once the last one has reported done. A second call does nothing (the first
// one's end is awaited). Should eddy refuse a shutdown (out of memory), the loop stops at
// once, as Stop would: the App must end either way.
func (a *App) beginShutdown() {
	if a.shuttingDown {
		return
	}
	a.shuttingDown = true
	pending := 0
	serverDone := func() { // eddy calls it on a later iteration, never inside the loop below
		pending--
		if pending == 0 {
			C.eddy_loop_stop(a.loop)
		}
	}
	for _, srv := range a.cservers {
		h := newHandle(serverDone)
		// The handle is released after done ran, or when the server is freed first (Stop
		// during the shutdown: teardown frees the servers and done never runs).
		rc := C.eddy_server_shutdown(srv, C.eddy_server_done_fn(C.eddy_go_server_done),
			C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handle))
		if rc != 0 {
			deleteHandle(h) // not taken
			a.logger().Printf("eddy: App.Shutdown: eddy_server_shutdown: %v; stopping at once\n",
				Error(rc))
			C.eddy_loop_stop(a.loop)
			return
		}
		pending++
	}
	if pending == 0 {
		C.eddy_loop_stop(a.loop)
	}
}

// Wait blocks until the loop stopped and the application was freed; after a Start that
// failed, it returns at once. On the App's own loop thread (in a handler, hook or callback)
// it panics instead: the loop would wait for itself, and not even Stop could end it (the
// panic is logged and, in a handler, answered with 500). Stop and return there instead.
func (a *App) Wait() {
	if a.onLoopThread() {
		panic("eddy: App.Wait called on the App's own loop thread (in a handler or callback): " +
			"it would wait for itself forever; call Stop and return instead")
	}
	<-a.done
}

// Done is closed once the loop stopped and the application was freed, or once Start failed.
func (a *App) Done() <-chan struct{} { return a.done }

// Call runs fn on the loop thread, after the work posted before it (FIFO across goroutines).
// Returns false when fn will never run: the loop is not running (before Start, or stopped;
// then Done is closed or Start was not called), or eddy could not queue it (out of memory;
// the loop goes on). A panic in fn is logged (Logger) and the loop goes on. Thread: any
// goroutine.
func (a *App) Call(fn func()) bool { return a.post(fn) == nil }

// setup runs on the loop thread before the loop runs: it creates the application (or the raw
// server of ServeAll), listens and opens the HTTP clients made before Start.
func (a *App) setup(la listenAddr) error {
	if a.rawFn == nil {
		a.capp = C.eddy_app_new(a.loop)
		if a.capp == nil {
			return ErrNoMemory
		}
		if err := a.configure(la); err != nil {
			return err
		}
	} else if err := a.configureRaw(la); err != nil {
		return err
	}
	return a.openClients()
}

// teardown runs on the loop thread once the loop stopped (or setup failed), before the loop is
// freed.
func (a *App) teardown() {
	// Requests still detached are finished now (their clients get what was written so far);
	// later calls from their goroutines return ErrState or ErrClosed.
	for w := range a.detached {
		if !w.finished.Swap(true) {
			cFinish(w)
		}
	}
	// HTTP clients still open end their fetches (ErrCanceled; a done callback may even open
	// another client, hence the outer loop).
	for len(a.clients) > 0 {
		for c := range a.clients {
			c.closeOnLoop()
		}
	}
	C.eddy_app_free(a.capp)   // releases the routes' handles
	C.eddy_server_free(a.srv) // releases the App's handle (ServeAll)
}

// ServeAll answers every request with fn through eddy's HTTP server directly, without the web
// layer: no routes, no Tornado life cycle (no ETag, default headers, error pages, cookie or
// path-argument getters), the fastest path (bench/bindings.sh's hello server uses it).
// An App serves either routes or ServeAll.
func (a *App) ServeAll(fn HandlerFunc) {
	a.mustNotBeStarted("ServeAll")
	a.rawFn = fn
}

func (a *App) configureRaw(la listenAddr) error {
	if len(a.routes) > 0 || len(a.statics) > 0 {
		return errors.New("eddy: an App serves either routes or ServeAll, not both")
	}
	if len(a.servers) > 0 {
		return errors.New("eddy: AddServer is for an App with routes, not ServeAll")
	}
	h := newHandle(a)
	a.srv = C.eddy_server_new(a.loop, C.eddy_request_fn(C.eddy_go_raw_request),
		C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handle))
	if a.srv == nil {
		deleteHandle(h)
		return ErrNoMemory
	}
	a.cservers = append(a.cservers, a.srv)
	if err := a.serverConfig.apply(a.srv); err != nil {
		return err
	}
	if err := a.serverConfig.listen(a.srv, la); err != nil {
		return err
	}
	a.port = serverPort(a.srv)
	a.addrs = serverAddrs(a.srv)
	return nil
}

func (a *App) configure(la listenAddr) error {
	capp := a.capp
	if a.cookieSecret != "" {
		cs := C.CString(a.cookieSecret)
		rc := C.eddy_app_set_cookie_secret(capp, cs, C.size_t(len(a.cookieSecret)))
		C.free(unsafe.Pointer(cs))
		if err := check(rc); err != nil {
			return err
		}
	}
	if a.xsrfCookies {
		C.eddy_app_set_xsrf_cookies(capp, 1)
	}
	if a.compress {
		C.eddy_app_set_compress_response(capp, 1)
	}
	for _, st := range a.statics {
		p, r := C.CString(st[0]), C.CString(st[1])
		rc := C.eddy_app_add_static(capp, p, C.size_t(len(st[0])), r, C.size_t(len(st[1])))
		C.free(unsafe.Pointer(p))
		C.free(unsafe.Pointer(r))
		if err := check(rc); err != nil {
			return errors.New("eddy: static " + st[0] + " -> " + st[1] + ": " + err.Error())
		}
	}
	for _, r := range a.routes {
		if err := r.register(capp); err != nil {
			return err
		}
	}
	srv := C.eddy_app_server(capp)
	if srv == nil {
		return ErrNoMemory
	}
	a.cservers = append(a.cservers, srv)
	if err := a.serverConfig.apply(srv); err != nil {
		return err
	}
	if err := a.serverConfig.listen(srv, la); err != nil {
		return err
	}
	a.port = serverPort(srv)
	a.addrs = serverAddrs(srv)
	for _, s := range a.servers {
		if err := s.start(capp); err != nil {
			return fmt.Errorf("eddy: AddServer(%q): %w", s.addr, err)
		}
	}
	return nil
}

// start creates the server on capp, applies its options and listens.
func (s *Server) start(capp *C.eddy_app) error {
	la, err := parseListenAddr(s.addr)
	if err != nil {
		return err
	}
	srv := C.eddy_app_add_server(capp)
	if srv == nil {
		return ErrNoMemory
	}
	s.app.cservers = append(s.app.cservers, srv)
	s.csrv = srv
	if err := s.apply(srv); err != nil {
		return err
	}
	if err := s.serverConfig.listen(srv, la); err != nil {
		return err
	}
	s.port = serverPort(srv)
	s.addrs = serverAddrs(srv)
	return nil
}

// listen makes srv listen on la, a Unix socket with the mode of SetUnixSocketMode.
func (c *serverConfig) listen(srv *C.eddy_server, la listenAddr) error {
	if la.unix != "" {
		cp := C.CString(la.unix)
		defer C.free(unsafe.Pointer(cp))
		mode := os.FileMode(0o600) // Tornado's bind_unix_socket default: this user alone
		if c.unixModeSet {
			mode = c.unixMode
		}
		if mode&^os.ModePerm != 0 {
			return fmt.Errorf("eddy: SetUnixSocketMode(%v): permission bits only: %w", mode, ErrInvalid)
		}
		return check(C.eddy_server_listen_unix_mode(srv, cp, C.int(mode)))
	}
	ch := C.CString(la.host)
	defer C.free(unsafe.Pointer(ch))
	return check(C.eddy_server_listen(srv, ch, C.int(la.port), 0))
}

// serverPort is srv's first TCP port, or 0 when it has none (a Unix socket).
func serverPort(srv *C.eddy_server) int {
	if p := int(C.eddy_server_port(srv)); p > 0 {
		return p
	}
	return 0
}
