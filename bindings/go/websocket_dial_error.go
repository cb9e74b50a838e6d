package eddy

// #include <eddy/eddy.h>
import "C"

// DialError is the error of a failed connect when eddy knows more than its code: the one
// WebSocketClient.OnError gets (eddy_websocket_connect_error_detail) and the one DialTCP,
// DialTLS and Dial wrap (eddy_connect_error_detail). Detail says why: the address that refused
// ("connect to 127.0.0.1:9: Connection refused"), a source address that could not be bound,
// a name that did not resolve, a timeout's stage; for a WebSocket also why the TLS handshake or
// certificate check failed ("certificate verification: hostname mismatch", in the words of a
// FetchError) or what was wrong with the server's handshake answer ("the server answered 403
// Forbidden", "no Upgrade: websocket in the handshake response"). It wraps the code, so
// errors.Is(err, ErrTLS) holds as for a bare Error; errors.As(err, &de) reaches the detail. A
// failure with nothing beyond its code stays a bare Error.
type DialError struct {
	Code   Error  // the EDDY_E* code (ErrTLS, ErrProto, ErrConnRefused, ...)
	Detail string // what eddy knows beyond it, never ""
}

// Error returns the code's description followed by the detail: "eddy: TLS handshake or
// certificate verification failed: certificate verification: self-signed certificate".
func (e *DialError) Error() string { return e.Code.Error() + ": " + e.Detail }

// Unwrap gives the code, for errors.Is.
func (e *DialError) Unwrap() error { return e.Code }

// dialError is the error for a failed connect of loop with code status, read while eddy's
// failed on_connect runs (the only time the detail is there): a *DialError when eddy has a
// detail, else the bare code.
func dialError(loop *C.eddy_loop, status C.int) error {
	var n C.size_t
	if detail := C.eddy_websocket_connect_error_detail(loop, &n); detail != nil && n > 0 {
		return &DialError{Code: Error(status), Detail: C.GoStringN(detail, C.int(n))}
	}
	return Error(status)
}
