package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import (
	"errors"
	"fmt"
	"log"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// The dial loop: the loop of every stream DialTCP and DialTLS return (Tornado's TCPClient uses
// the current IOLoop; a Go program has none). One process-wide loop on its own locked OS
// thread, started by the first dial and kept for the life of the process: a stream's calls need
// a running loop for as long as the caller holds the stream, which no owner's Stop could know.
// It runs no user code, so streams of it may be used from any goroutine, also from App
// handlers and TCPServer handlers (other loops). Nothing stops it, but its eddy_loop_run may
// fail (the backend's EDDY_EIO, EDDY_ENOMEM): then its streams close (as at a Stop: Err nil)
// and the next dial starts a new loop.
var dialLoopState struct {
	mu   sync.Mutex
	loop *eventLoop
}

func dialLoop() (*eventLoop, error) {
	dialLoopState.mu.Lock()
	defer dialLoopState.mu.Unlock()
	if l := dialLoopState.loop; l != nil {
		select {
		case <-l.done: // it ended: a new one below
			dialLoopState.loop = nil
			if l.runErr != nil {
				log.Printf("eddy: the dial loop failed (%v); a new one takes the next dials",
					l.runErr)
			}
		default:
			return l, nil
		}
	}
	l := &eventLoop{done: make(chan struct{}), onPanic: func(what string, p interface{}) {
		log.Printf("eddy: panic in the dial loop's %s: %v", what, p)
	}}
	if err := l.start(func() error { return nil }, func() {}); err != nil {
		return nil, err // a later dial tries again
	}
	dialLoopState.loop = l
	return l, nil
}

// dialing is the userdata of one eddy_connect: eddy releases it after the connect callback
// (or when the loop is freed first), and the release hands the outcome to the waiting dial, so
// that its handle is gone when DialTCP returns.
type dialing struct {
	loop   *eventLoop
	handle cgo.Handle
	out    dialResult
	result chan dialResult
}

type dialResult struct {
	s   *Stream
	err error
}

// DialTCP connects to addr ("127.0.0.1:9000", "[::1]:9000", "localhost:9000": names are looked
// up without blocking any loop; every address is tried in turn) and returns the connected
// stream (Tornado's TCPClient.connect), on the dial loop. timeout bounds the whole attempt
// (<= 0: none). Thread: any goroutine; it waits for the outcome. Errors (compare with
// errors.Is): ErrConnRefused, ErrTimedOut, ErrResolve (a name that does not resolve),
// ErrAddrNotAvail, ErrInvalid (a bad address or port), each wrapped with addr; a failed
// connect's is a *DialError when eddy knows why (errors.As reaches it; its text ends the
// message: "... connection refused: connect to 127.0.0.1:9: Connection refused").
func DialTCP(addr string, timeout time.Duration) (*Stream, error) {
	return dialStream("DialTCP", addr, DialOptions{Timeout: timeout})
}

// DialTLS is DialTCP followed by a TLS handshake with cfg (the ClientTLS of the WebSocket and
// HTTP clients; the zero value verifies the server's certificate against the system's CAs and
// addr's host name, which is also sent as SNI unless it is an IP address). The stream is
// returned once connected, as eddy_connect_tls hands it over: the handshake completes before
// its first bytes move, and a failed handshake or certificate check closes it, so the first
// read or write returns a *StreamClosedError wrapping ErrTLS. Errors as DialTCP's, and an
// error wrapping ErrInvalid for an unreadable TLS file.
func DialTLS(addr string, cfg ClientTLS, timeout time.Duration) (*Stream, error) {
	return dialStream("DialTLS", addr, DialOptions{Timeout: timeout, TLS: &cfg})
}

// Family restricts the addresses a dial tries (DialOptions.Family; eddy's EDDY_FAMILY_*).
type Family int

const (
	FamilyAny  Family = C.EDDY_FAMILY_ANY  // IPv4 and IPv6, staggered (the default)
	FamilyIPv4 Family = C.EDDY_FAMILY_IPV4 // IPv4 addresses only (Tornado's af=AF_INET)
	FamilyIPv6 Family = C.EDDY_FAMILY_IPV6 // IPv6 addresses only (af=AF_INET6)
)

// DialOptions are Dial's (eddy_connect_with_options; Tornado's TCPClient.connect arguments).
// The zero value dials as DialTCP with no timeout.
type DialOptions struct {
	// Timeout bounds the whole attempt, name lookup included (<= 0: none).
	Timeout time.Duration
	// Family tries only the host's addresses of that family, still staggered as Happy
	// Eyeballs; a host without one fails with ErrResolve (as getaddrinfo asked for that family).
	Family Family
	// SourceIP ("": none) is the numeric IPv4 or IPv6 address each attempt's socket binds
	// before it connects (Tornado's source_ip), e.g. to leave by one interface; only the
	// host's addresses of its family are tried then (none: ErrAddrNotAvail). A name is
	// ErrInvalid: it would need a lookup, and which of its addresses would be meant?
	SourceIP string
	// SourcePort (0: the system picks one; up to 65535) is the local port each attempt binds
	// (Tornado's source_port); alone, it binds the family's wildcard address. A port in use
	// fails that attempt with ErrAddrInUse.
	SourcePort int
	// TLS, when not nil, runs a TLS handshake with it after the connect, as DialTLS does.
	TLS *ClientTLS
}

// Dial is DialTCP (or DialTLS with opts.TLS) with every option of eddy's connect: a family, a
// local address and port to bind (DialOptions). Thread: any goroutine; it waits for the
// outcome. Errors as DialTCP's (ErrAddrNotAvail also for a SourceIP that is not a local
// address), and an error wrapping ErrInvalid that names the option eddy refused (a SourceIP
// that is not a numeric address, a SourcePort out of range, an unknown Family).
func Dial(addr string, opts DialOptions) (*Stream, error) {
	return dialStream("Dial", addr, opts)
}

// connectOptions makes eddy_connect_options for opts (nil: the defaults, exactly eddy_connect);
// the caller frees them. The error names the option eddy refused.
func connectOptions(opts *DialOptions) (*C.eddy_connect_options, error) {
	if opts.Family == FamilyAny && opts.SourceIP == "" && opts.SourcePort == 0 {
		return nil, nil
	}
	o := C.eddy_connect_options_new()
	if o == nil {
		return nil, ErrNoMemory
	}
	if rc := C.eddy_connect_options_set_family(o, C.int(opts.Family)); rc != 0 {
		C.eddy_connect_options_free(o)
		return nil, fmt.Errorf("Family %d: %w", opts.Family, Error(rc))
	}
	if opts.SourceIP != "" || opts.SourcePort != 0 {
		if opts.SourcePort < 0 || opts.SourcePort > 65535 {
			C.eddy_connect_options_free(o)
			return nil, fmt.Errorf("SourcePort %d: %w", opts.SourcePort, ErrInvalid)
		}
		var cip *C.char
		if opts.SourceIP != "" {
			if strings.IndexByte(opts.SourceIP, 0) >= 0 {
				C.eddy_connect_options_free(o)
				return nil, fmt.Errorf("SourceIP %q: %w", opts.SourceIP, ErrInvalid)
			}
			cip = C.CString(opts.SourceIP)
			defer C.free(unsafe.Pointer(cip))
		}
		if rc := C.eddy_connect_options_set_source(o, cip, C.int(opts.SourcePort)); rc != 0 {
			C.eddy_connect_options_free(o)
			return nil, fmt.Errorf("SourceIP %q (not a numeric address): %w", opts.SourceIP,
				Error(rc))
		}
	}
	return o, nil
}

func dialStream(what, addr string, opts DialOptions) (*Stream, error) {
	timeout, tlsCfg := opts.Timeout, opts.TLS
	host, port, err := splitAddr(addr)
	if err == nil && port == 0 {
		err = errors.New("port 0")
	}
	if err != nil {
		return nil, fmt.Errorf("eddy: %s(%q): %v: %w", what, addr, err, ErrInvalid)
	}
	copts, err := connectOptions(&opts)
	if err != nil {
		return nil, fmt.Errorf("eddy: %s(%q): %w", what, addr, err)
	}
	defer C.eddy_connect_options_free(copts) // the connect copies them; NULL does nothing
	l, err := dialLoop()
	if err != nil {
		return nil, fmt.Errorf("eddy: %s(%q): %w", what, addr, err)
	}
	var ctx *C.eddy_tls_context
	if tlsCfg != nil {
		// Made here, not on the loop: loading files blocks (eddy's tls.h allows any thread
		// before the context is used).
		if ctx, err = tlsCfg.newContext(); err != nil {
			return nil, fmt.Errorf("eddy: %s(%q): %w", what, addr, err)
		}
		defer C.eddy_tls_context_free(ctx) // the connection keeps its own reference
	}
	d := &dialing{loop: l, result: make(chan dialResult, 1), out: dialResult{err: ErrClosed}}
	err = l.onLoop(func() error {
		chost := C.CString(host)
		defer C.free(unsafe.Pointer(chost))
		h := newHandle(d)
		d.handle = h
		ud := C.eddy_go_handle_ptr(C.uintptr_t(h))
		cb := C.eddy_connect_fn(C.eddy_go_tcp_connect)
		free := C.eddy_free_fn(C.eddy_go_release_dial)
		var rc C.int
		if ctx != nil {
			// NULL server name: the host's, as DialTLS documents.
			rc = C.eddy_connect_tls_with_options(l.loop, chost, C.int(port),
				C.double(timeout.Seconds()), copts, ctx, nil, cb, ud, free)
		} else {
			rc = C.eddy_connect_with_options(l.loop, chost, C.int(port),
				C.double(timeout.Seconds()), copts, cb, ud, free)
		}
		if rc != 0 {
			deleteHandle(h) // not taken: eddy did not call the free function
		}
		return check(rc)
	})
	if err == nil {
		// The release always runs: after the connect callback, or when the loop ends (its
		// eddy_loop_run failed) and frees the pending connect (ErrClosed).
		r := <-d.result
		err = r.err
		if err == nil {
			return r.s, nil
		}
	}
	return nil, fmt.Errorf("eddy: %s(%q): %w", what, addr, err)
}

//export goTCPConnect
func goTCPConnect(cs *C.eddy_stream, code C.int, ud unsafe.Pointer) {
	d := cgo.Handle(uintptr(ud)).Value().(*dialing)
	if cs == nil || code != 0 {
		if code == 0 {
			code = C.EDDY_EIO
		}
		// Why, beyond the code: only readable now, inside eddy's failed callback.
		d.out = dialResult{err: connectError(d.loop.loop, code)}
		return
	}
	d.out = dialResult{s: newStream(d.loop, cs, nil)}
}

// connectError is the error of a failed eddy_connect on loop with code status: a *DialError
// when eddy knows why (eddy_connect_error_detail: "connect to 127.0.0.1:9: Connection
// refused"), else the bare code.
func connectError(loop *C.eddy_loop, status C.int) error {
	var n C.size_t
	if detail := C.eddy_connect_error_detail(loop, &n); detail != nil && n > 0 {
		return &DialError{Code: Error(status), Detail: C.GoStringN(detail, C.int(n))}
	}
	return Error(status)
}

//export goReleaseDial
func goReleaseDial(ud unsafe.Pointer) {
	d := cgo.Handle(uintptr(ud)).Value().(*dialing)
	deleteHandle(d.handle)
	d.result <- d.out
}
