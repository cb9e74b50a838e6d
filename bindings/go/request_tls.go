package eddy

// #include "shim.h"
import "C"

import "unsafe"

// TLSServerName returns the server name (SNI) the client sent in the TLS handshake of the
// connection the request arrived on (crypto/tls's ConnectionState.ServerName;
// eddy_request_tls_server_name): "" over plain HTTP, when the client sent none (it connected
// to an IP address), or once the connection is gone. Loop thread only, as every Request
// method (it panics elsewhere or after eddy released the request).
func (r *Request) TLSServerName() string {
	return C.GoString(C.eddy_request_tls_server_name(r.c())) // "" for NULL
}

// TLSPeerCertificate returns the certificate the client presented in the TLS handshake, DER
// encoded (parse it with crypto/x509.ParseCertificate; Tornado's
// get_ssl_certificate(binary_form=True); eddy_request_tls_peer_certificate). A server asks for
// one only when ServerTLS.ClientAuth says so, and a presented one has passed verification. The
// bytes are a copy the caller owns. Loop thread only, as every Request method.
// Errors: ErrNotFound when there is none (plain HTTP, or the client sent none), ErrClosed
// once the connection is gone.
func (r *Request) TLSPeerCertificate() ([]byte, error) {
	req := r.c()
	var n C.size_t
	// The size first (no buffer: EDDY_ETOOBIG with the size), then the copy.
	rc := C.eddy_request_tls_peer_certificate(req, nil, &n)
	for try := 0; rc == C.EDDY_ETOOBIG && try < 3; try++ {
		buf := make([]byte, int(n)+1) // +1: never empty; eddy copies bytes only
		n = C.size_t(len(buf))
		rc = C.eddy_request_tls_peer_certificate(req, (*C.uchar)(unsafe.Pointer(&buf[0])), &n)
		if rc == 0 {
			return buf[:int(n)], nil
		}
	}
	return nil, check(rc)
}
