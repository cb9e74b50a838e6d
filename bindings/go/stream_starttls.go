package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// STARTTLS (Tornado's IOStream.start_tls) over eddy_stream_start_tls, and WaitForHandshake
// over eddy_stream_wait_for_handshake (eddy/tls.h).
//
// The upgrade consumes the C stream: the plain *Stream is spent from then on (its methods
// return a *StreamClosedError, its Closed channel closes once eddy let go of it) and the new
// TLS *Stream is returned once its handshake has completed. The upgrade's outcome travels as a
// connect's does (dialing, goTCPConnect, goReleaseDial): eddy_start_tls_fn has the shape of
// eddy_connect_fn.

// StartTLSServer upgrades this connection to TLS as its server (STARTTLS: SMTP, IMAP, ...) and
// returns the TLS stream once the handshake has completed. reply (may be nil) is the last
// plaintext answer ("220 Ready to start TLS\r\n"): it is written and the upgrade starts on the
// loop thread from its write callback, so that the client's hello, which follows the reply, is
// never read ahead as plaintext (a Write, then StartTLSServer, would leave the loop that
// window). The stream must be otherwise idle: no read pending, no other write unsent, no unread
// input (bytes the peer sent behind its command are refused, not dropped: CVE-2011-0411).
// Thread: any goroutine but the loop's. Errors (compare with errors.Is): ErrBusy (a read
// pending, output unsent), ErrState (already TLS, unread input; the stream is unchanged),
// ErrInvalid (cfg: no certificate, unreadable files), ErrTLS / ErrTimedOut (the handshake
// failed: the connection is closed), a *StreamClosedError.
func (s *Stream) StartTLSServer(cfg ServerTLS, reply []byte) (*Stream, error) {
	if s.loop.onLoopThread() {
		return nil, onLoopErr("StartTLSServer")
	}
	ctx, err := cfg.context()
	if err != nil {
		return nil, fmt.Errorf("eddy: Stream.StartTLSServer: %w", err)
	}
	// Freed once the upgrade started or failed (finishUpgrade waits for that): the TLS stream
	// keeps its own reference. A write that completes after the loop ended can only fail, and
	// then never touches ctx.
	defer C.eddy_tls_context_free(ctx)
	u, started := s.newUpgrade()
	err = s.loop.onLoop(func() error {
		if s.cs == nil {
			return ErrClosed
		}
		upgrade := func(sent error) {
			if sent == nil {
				sent = s.beginUpgrade(u, ctx, true, "")
			}
			started <- sent
		}
		if len(reply) == 0 {
			upgrade(nil)
			return nil
		}
		return s.queueWrite(reply, pendingWrite{then: upgrade})
	})
	return s.finishUpgrade("StartTLSServer", u, started, err)
}

// StartTLSClient upgrades this connection to TLS as its client and returns the TLS stream once
// the handshake has completed. cfg as DialTLS's (the zero value verifies against the system's
// CAs); serverName is sent as SNI and verified against the certificate (needed unless
// cfg.InsecureSkipVerify). Call it once the server's answer to the STARTTLS command was read.
// Thread and errors as StartTLSServer's; ErrInvalid also for a missing serverName.
func (s *Stream) StartTLSClient(cfg ClientTLS, serverName string) (*Stream, error) {
	if s.loop.onLoopThread() {
		return nil, onLoopErr("StartTLSClient")
	}
	ctx, err := cfg.newContext()
	if err != nil {
		return nil, fmt.Errorf("eddy: Stream.StartTLSClient: %w", err)
	}
	defer C.eddy_tls_context_free(ctx) // the TLS stream keeps its own reference
	u, started := s.newUpgrade()
	err = s.loop.onLoop(func() error {
		err := s.beginUpgrade(u, ctx, false, serverName)
		started <- err
		return nil
	})
	return s.finishUpgrade("StartTLSClient", u, started, err)
}

func (s *Stream) newUpgrade() (*dialing, chan error) {
	return &dialing{loop: s.loop, result: make(chan dialResult, 1), out: dialResult{err: ErrClosed}},
		make(chan error, 1)
}

// beginUpgrade calls eddy_stream_start_tls (loop thread). On nil the plain stream is spent
// and u's outcome arrives through goReleaseDial.
func (s *Stream) beginUpgrade(u *dialing, ctx *C.eddy_tls_context, server bool, name string) error {
	if s.cs == nil {
		return ErrClosed
	}
	var cname *C.char
	if name != "" {
		cname = C.CString(name)
		defer C.free(unsafe.Pointer(cname))
	}
	side := C.int(0)
	if server {
		side = 1
	}
	h := newHandle(u)
	u.handle = h
	rc := C.eddy_stream_start_tls(s.cs, ctx, side, cname,
		C.eddy_start_tls_fn(C.eddy_go_tcp_connect), C.eddy_go_handle_ptr(C.uintptr_t(h)),
		C.eddy_free_fn(C.eddy_go_release_dial))
	if rc != 0 {
		deleteHandle(h) // not taken: eddy did not call the free function
		return Error(rc)
	}
	s.cs = nil // spent: eddy releases it later (goReleaseStream), without a close callback
	return nil
}

// finishUpgrade waits for whether the upgrade started, then for its outcome.
func (s *Stream) finishUpgrade(what string, u *dialing, started chan error, err error) (*Stream, error) {
	if err == nil {
		err = <-started
	}
	if err == ErrClosed {
		return nil, s.closedErr()
	}
	if err == nil {
		r := <-u.result // the release always runs (after the callback, or with the loop)
		if r.err == nil {
			return r.s, nil
		}
		err = r.err
	}
	return nil, fmt.Errorf("eddy: Stream.%s: %w", what, err)
}

// handshakeWait is the userdata of one eddy_stream_wait_for_handshake.
type handshakeWait struct {
	handle cgo.Handle
	out    error
	result chan error
}

// WaitForHandshake returns once this TLS stream's handshake has completed (Tornado's
// SSLIOStream.wait_for_handshake): at once for a stream StartTLSServer/StartTLSClient returned;
// for a stream a TCPServer with SetTLS accepted, before looking at TLSPeerCertificate or
// TLSServerName. Reads and writes need no waiting. Thread: any goroutine but the loop's.
// Errors: ErrInvalid (not a TLS stream), ErrBusy (another WaitForHandshake is waiting), a
// *StreamClosedError (the stream closed first; its Err says why: ErrTLS, ErrTimedOut, ...).
func (s *Stream) WaitForHandshake() error {
	if s.loop.onLoopThread() {
		return onLoopErr("WaitForHandshake")
	}
	w := &handshakeWait{out: ErrClosed, result: make(chan error, 1)}
	err := s.loop.onLoop(func() error {
		if s.cs == nil {
			return ErrClosed
		}
		h := newHandle(w)
		w.handle = h
		rc := C.eddy_stream_wait_for_handshake(s.cs, C.eddy_handshake_fn(C.eddy_go_handshake),
			C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handshake))
		if rc != 0 {
			deleteHandle(h)
		}
		return check(rc)
	})
	if err == nil {
		err = <-w.result
	}
	if err == ErrClosed {
		return s.closedErr()
	}
	if err != nil {
		return fmt.Errorf("eddy: Stream.WaitForHandshake: %w", err)
	}
	return nil
}

//export goHandshake
func goHandshake(code C.int, ud unsafe.Pointer) {
	w := cgo.Handle(uintptr(ud)).Value().(*handshakeWait)
	if code == 0 {
		w.out = nil
	} else {
		w.out = ErrClosed // the stream closed first: closedErr says why
	}
}

//export goReleaseHandshake
func goReleaseHandshake(ud unsafe.Pointer) {
	w := cgo.Handle(uintptr(ud)).Value().(*handshakeWait)
	deleteHandle(w.handle)
	w.result <- w.out
}
