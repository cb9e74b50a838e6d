package eddy

// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import "unsafe"

// TLS details of a stream (server streams of a TCPServer with SetTLS, DialTLS's streams). The
// handshake runs in the background while the first read or write waits for it, so these are
// known once a read or write returned: before, they say "none".

// TLSServerName returns the server name of the TLS handshake (eddy_stream_tls_server_name):
// on a server stream the SNI name the client sent, on a DialTLS stream the one it asked for;
// "" over plain TCP, when none was sent (an IP address), before the handshake completed, or
// once the stream was released. Thread: any goroutine (off the loop thread it waits for it).
func (s *Stream) TLSServerName() string {
	name := ""
	s.loop.onLoop(func() error {
		if s.cs != nil {
			name = C.GoString(C.eddy_stream_tls_server_name(s.cs)) // "" for NULL
		}
		return nil
	})
	return name
}

// TLSPeerCertificate returns the certificate the peer presented in the TLS handshake, DER
// encoded, for crypto/x509.ParseCertificate (eddy_stream_tls_peer_certificate; Tornado's
// IOStream socket's getpeercert(binary_form=True)). A server stream has one only when
// ServerTLS.ClientAuth asks for it (and it passed verification then). The bytes are a copy
// the caller owns. Thread: any goroutine. Errors: ErrNotFound (none: plain TCP, none sent,
// or the handshake is not done yet), a *StreamClosedError once the stream was released.
func (s *Stream) TLSPeerCertificate() ([]byte, error) {
	var cert []byte
	err := s.loop.onLoop(func() error {
		if s.cs == nil {
			return ErrClosed
		}
		var n C.size_t
		// The size first (no buffer: EDDY_ETOOBIG with the size), then the copy.
		rc := C.eddy_stream_tls_peer_certificate(s.cs, nil, &n)
		if rc == C.EDDY_ETOOBIG {
			buf := make([]byte, int(n)+1) // +1: never empty; eddy copies bytes only
			n = C.size_t(len(buf))
			rc = C.eddy_stream_tls_peer_certificate(s.cs, (*C.uchar)(unsafe.Pointer(&buf[0])), &n)
			cert = buf[:int(n)]
		}
		return check(rc)
	})
	if err == ErrClosed {
		return nil, s.closedErr()
	}
	if err != nil {
		return nil, err
	}
	return cert, nil
}
