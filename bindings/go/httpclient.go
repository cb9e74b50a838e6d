package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_client.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// HTTPClientOptions configures an HTTPClient (the arguments of Tornado's
// AsyncHTTPClient.configure). Zero fields keep eddy's defaults.
type HTTPClientOptions struct {
	// MaxClients requests run at once (Tornado's max_clients; 0: 10); the others wait in a
	// queue, and their ConnectTimeout runs meanwhile.
	MaxClients int
	// MaxQueue requests wait at most (0: 1000); a fetch beyond that ends with ErrBusy.
	MaxQueue int
	// MaxIdlePerHost idle keep-alive connections are kept per origin (0: 4; negative: none,
	// so every request opens its own connection).
	MaxIdlePerHost int
	// IdleTimeout is how long an idle pooled connection is kept (0: 60 s).
	IdleTimeout time.Duration
	// Proxy is the "host:port" of an HTTP proxy every request goes through (absolute URIs for
	// http, a CONNECT tunnel for https); "" for none.
	Proxy string
	// TLS configures https:// URLs (Tornado's validate_cert, ca_certs, client_cert and
	// client_key; the zero value verifies against the system's CAs). A failed handshake or
	// certificate check ends a fetch with ErrTLS.
	TLS ClientTLS
	// Defaults fills what a fetched HTTPRequest leaves at its zero value (Tornado's
	// defaults): Header fields whose name the request lacks are added, and UserAgent,
	// ConnectTimeout, RequestTimeout, NoFollowRedirects, MaxRedirects, NoDecompressResponse,
	// MaxBodySize and Expect100Continue apply when the request's are zero/false. URL, Method,
	// Body, BodyStream and the callbacks belong to one request: setting them here is ErrInvalid.
	Defaults HTTPRequest
	// HostnameMapping maps "host" or "host:port" (as in the URL; without one, the scheme's:
	// 80 or 443) to the "host" or "host:port" to connect to instead (Tornado's
	// hostname_mapping; a target without a port keeps the URL's; IPv6 in brackets). The
	// request still names the URL: Host field, request line, EffectiveURL and, for https, the
	// TLS server name and certificate check. Redirects on the URL's origin stay mapped; one to
	// another origin connects there (unlike Tornado, it is not looked up again). Not together
	// with Proxy (ErrInvalid).
	HostnameMapping map[string]string
}

// HTTPClient is Tornado's AsyncHTTPClient on an App's loop: a keep-alive connection pool per
// origin and a queue of requests. Its callbacks run on the loop thread. Every method may be
// called from any goroutine; Close (or the App's stop) frees it.
type HTTPClient struct {
	app *App
	c   *C.eddy_client // loop thread; nil once freed
	// callbackDepth > 0 while one of its fetch callbacks runs (loop thread): eddy must not
	// free the client from inside them, so Close waits for the next loop iteration.
	callbackDepth int

	mu     sync.Mutex
	closed bool // no new fetches
	// queued holds the fetches whose start is posted to the loop and did not run yet (the
	// value: Cancel was called meanwhile). Whoever removes a fetch from it, the start or Close,
	// owns its completion, so done runs exactly once even when the loop stops first.
	queued map[*Fetch]bool
	freed  chan struct{} // closed once the C client is freed

	// Loop thread, set by open: the options (Defaults merged into each fetch) and the parsed
	// HostnameMapping.
	opts    HTTPClientOptions
	mapping map[hostPort]hostPort
}

// Fetch is one request started by HTTPClient.Fetch; Cancel ends it early, WriteBody and
// EndBody give its streamed body.
type Fetch struct {
	client *HTTPClient
	req    HTTPRequest // the caller's request, copied when Fetch was called
	orig   *HTTPRequest
	done   func(*HTTPResponse, error)
	cf     *C.eddy_fetch // loop thread: set while eddy runs the request
	phase  fetchPhase    // loop thread
	// Loop thread: a streamed body written before the posted start ran (see WriteBody).
	early      [][]byte
	earlyBytes int64
	earlyEnd   bool
	// Loop thread: FlushBody / OnBodyFlushed waiters. earlyFlushes were asked for before the
	// start ran (eddy_fetch_flush_body needs a started fetch): the start hands them to eddy.
	// flushes wait for eddy's completions, which come in call order, all before done.
	earlyFlushes []func(error)
	flushes      []func(error)
}

// NewHTTPClient makes an HTTP client on the App's loop. Before Start it only records the
// options: Start opens the client and returns its error (an error wrapping ErrInvalid for a
// bad proxy address or TLS file). After Start it opens it at once, from any goroutine (off the
// loop thread it waits for the loop), and returns that error itself, or ErrClosed when the
// loop has stopped.
func (a *App) NewHTTPClient(opts HTTPClientOptions) (*HTTPClient, error) {
	c := &HTTPClient{app: a, queued: map[*Fetch]bool{}, freed: make(chan struct{})}
	if !a.started {
		a.pendingClients = append(a.pendingClients, pendingClient{c, opts})
		return c, nil
	}
	if err := a.onLoop(func() error { return c.open(opts) }); err != nil {
		return nil, err
	}
	return c, nil
}

// pendingClient is an HTTPClient made before Start.
type pendingClient struct {
	c    *HTTPClient
	opts HTTPClientOptions
}

// openClients opens the clients made before Start (loop thread, during Start).
func (a *App) openClients() error {
	for _, p := range a.pendingClients {
		p.c.mu.Lock()
		closed := p.c.closed
		p.c.mu.Unlock()
		if closed {
			continue
		}
		if err := p.c.open(p.opts); err != nil {
			return err
		}
	}
	a.pendingClients = nil
	return nil
}

// open creates and configures the C client (loop thread).
func (c *HTTPClient) open(opts HTTPClientOptions) error {
	if err := checkDefaults(&opts.Defaults); err != nil {
		return err
	}
	mapping, err := parseMapping(opts.HostnameMapping)
	if err == nil && len(mapping) > 0 && opts.Proxy != "" {
		// Where a proxy connects is the proxy's business (eddy would refuse each fetch).
		err = fmt.Errorf("eddy: HTTPClientOptions: HostnameMapping cannot be combined with a Proxy: %w",
			ErrInvalid)
	}
	if err != nil {
		return err
	}
	cc := C.eddy_client_new(c.app.loop)
	if cc == nil {
		return ErrNoMemory
	}
	if err := configureClient(cc, &opts); err != nil {
		C.eddy_client_free(cc)
		return err
	}
	// The caller may reuse its slice and map: keep copies.
	opts.Defaults.Header = append(HTTPHeader(nil), opts.Defaults.Header...)
	opts.HostnameMapping = nil
	c.opts, c.mapping = opts, mapping
	c.c = cc
	c.app.clients[c] = struct{}{}
	return nil
}

func configureClient(cc *C.eddy_client, o *HTTPClientOptions) error {
	var rc C.int
	if o.MaxClients > 0 {
		rc = C.eddy_client_set_max_clients(cc, C.size_t(o.MaxClients))
	}
	if o.MaxQueue > 0 && rc == 0 {
		rc = C.eddy_client_set_max_queue(cc, C.size_t(o.MaxQueue))
	}
	if o.MaxIdlePerHost != 0 && rc == 0 {
		idle := o.MaxIdlePerHost
		if idle < 0 {
			idle = 0
		}
		rc = C.eddy_client_set_max_idle_per_host(cc, C.size_t(idle))
	}
	if o.IdleTimeout > 0 && rc == 0 {
		rc = C.eddy_client_set_idle_timeout(cc, C.double(o.IdleTimeout.Seconds()))
	}
	if err := check(rc); err != nil {
		return fmt.Errorf("eddy: HTTPClientOptions: %w", err)
	}
	if o.Proxy != "" {
		host, portText, err := net.SplitHostPort(o.Proxy)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil || host == "" {
			return fmt.Errorf("eddy: HTTPClientOptions.Proxy %q is not host:port: %w", o.Proxy,
				ErrInvalid)
		}
		ch := C.CString(host)
		rc = C.eddy_client_set_proxy(cc, ch, C.int(port))
		C.free(unsafe.Pointer(ch))
		if err := check(rc); err != nil {
			return fmt.Errorf("eddy: HTTPClientOptions.Proxy %q: %w", o.Proxy, err)
		}
	}
	ctx, err := o.TLS.context()
	if ctx == nil || err != nil {
		return err
	}
	defer C.eddy_tls_context_free(ctx) // the client keeps its own reference
	return check(C.eddy_client_set_tls(cc, ctx))
}

// Close frees the client: fetches in flight or queued end with ErrCanceled, pooled
// connections close, later Fetch calls return ErrClosed. Off the loop thread it returns once
// that is done; on the loop thread inside a fetch callback the fetches end on the next loop
// iteration. Calling it again is harmless; the App's stop closes every client.
func (c *HTTPClient) Close() {
	if !c.app.started { // made before Start: never opened
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		return
	}
	if c.app.onLoopThread() {
		c.closeOnLoop()
		return
	}
	// When eddy cannot queue the close (out of memory), the client stays open until the App
	// stops, which closes it.
	if c.app.post(c.closeOnLoop) == nil {
		select {
		case <-c.freed:
		case <-c.app.done:
		}
	}
}

// closeOnLoop refuses new fetches, ends the queued ones and frees the C client (which ends
// those in flight): loop thread.
func (c *HTTPClient) closeOnLoop() {
	c.mu.Lock()
	c.closed = true
	queued := c.queued
	c.queued = map[*Fetch]bool{}
	c.mu.Unlock()
	for f := range queued {
		f.deliver(nil, ErrCanceled)
	}
	if c.c == nil {
		return
	}
	if c.callbackDepth > 0 {
		// Not from inside eddy's callback: next iteration (or the App's stop, which frees
		// every client still open, also when this post fails for lack of memory).
		c.app.post(c.closeOnLoop)
		return
	}
	cc := c.c
	c.c = nil
	C.eddy_client_free(cc) // the done callbacks of the fetches in flight run in here
	delete(c.app.clients, c)
	close(c.freed)
}

// Fetch starts req and calls done exactly once on the loop thread, never inside Fetch: with
// the response (whatever its status; err nil) or an error and a nil response — ErrConnRefused,
// ErrTimedOut, ErrResolve, ErrTLS, ErrTooBig, ErrProto (malformed response), ErrEOF (closed
// before the response was complete), ErrCanceled (Cancel, Close, the App stopped), ErrBusy
// (queue full), ErrInvalid (bad URL, method or header); compare with errors.Is, as a failure
// eddy can say more about is a *FetchError with that code and its Detail. req is copied, not
// its Header and Body slices: leave those alone until done; the client's Defaults fill the
// copy. With req.BodyStream the returned Fetch takes the body (WriteBody, EndBody). Thread:
// any goroutine. Returns ErrClosed (and done never runs) when the client was closed or the loop
// is not running (before Start, or stopped).
func (c *HTTPClient) Fetch(req *HTTPRequest, done func(resp *HTTPResponse, err error)) (*Fetch, error) {
	f := &Fetch{client: c, req: *req, orig: req, done: done}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.queued[f] = false
	c.mu.Unlock()
	// Started from the loop's queue even on the loop thread, so done never runs inside Fetch.
	if err := c.app.post(func() { c.startQueued(f) }); err != nil {
		c.mu.Lock()
		_, mine := c.queued[f]
		delete(c.queued, f)
		c.mu.Unlock()
		if mine {
			return nil, err // ErrClosed, or ErrNoMemory (eddy could not queue it)
		}
		// The App's stop closed the client meanwhile and ended this fetch already.
	}
	return f, nil
}

// Do fetches req and waits for the outcome (Fetch's response and errors). When ctx ends
// first, the fetch is cancelled and Do returns ctx.Err(). Thread: any goroutine but the
// loop's (there it returns ErrState at once: the loop would wait for itself).
func (c *HTTPClient) Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	if c.app.onLoopThread() {
		return nil, ErrState
	}
	type outcome struct {
		resp *HTTPResponse
		err  error
	}
	ch := make(chan outcome, 1)
	f, err := c.Fetch(req, func(resp *HTTPResponse, err error) { ch <- outcome{resp, err} })
	if err != nil {
		return nil, err
	}
	select {
	case o := <-ch:
		return o.resp, o.err
	case <-ctx.Done():
		f.Cancel()
		o := <-ch // done runs exactly once, ErrCanceled at the latest when the App stops
		if errors.Is(o.err, ErrCanceled) {
			return nil, ctx.Err()
		}
		return o.resp, o.err
	}
}

// Cancel ends the fetch with ErrCanceled unless its done already ran or is about to run.
// Thread: any goroutine.
func (f *Fetch) Cancel() {
	a := f.client.app
	if a.onLoopThread() {
		f.cancelOnLoop()
		return
	}
	a.post(f.cancelOnLoop) // if the loop stopped, the App's stop ended the fetch
}

func (f *Fetch) cancelOnLoop() {
	c := f.client
	c.mu.Lock()
	if _, queued := c.queued[f]; queued {
		c.queued[f] = true // its start delivers ErrCanceled instead
	}
	c.mu.Unlock()
	if f.cf != nil {
		C.eddy_fetch_cancel(f.cf) // done runs on the next loop iteration
	}
}

// startQueued runs Fetch's posted start on the loop thread.
func (c *HTTPClient) startQueued(f *Fetch) {
	c.mu.Lock()
	canceled, mine := c.queued[f]
	delete(c.queued, f)
	c.mu.Unlock()
	if !mine {
		return // Close ended it
	}
	if canceled {
		f.deliver(nil, ErrCanceled)
	} else if err := f.start(); err != nil {
		f.deliver(nil, err)
	}
}
