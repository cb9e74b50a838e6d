package eddy

// #include <eddy/eddy.h>
import "C"

// Error is a negative EDDY_E* code returned by the C library.
type Error int

// The C library's error codes that callers of this package may want to compare with.
const (
	ErrInvalid      Error = C.EDDY_EINVAL
	ErrNoMemory     Error = C.EDDY_ENOMEM
	ErrClosed       Error = C.EDDY_ECLOSED // the client went away; every *StreamClosedError is one
	ErrNotFound     Error = C.EDDY_ENOENT
	ErrAddrInUse    Error = C.EDDY_EADDRINUSE
	ErrAddrNotAvail Error = C.EDDY_EADDRNOTAVAIL
	ErrState        Error = C.EDDY_ESTATE // e.g. a write after the response was finished
	ErrNotSupported Error = C.EDDY_ENOTSUP
	ErrTimedOut     Error = C.EDDY_ETIMEDOUT
	ErrConnRefused  Error = C.EDDY_ECONNREFUSED
	ErrConnReset    Error = C.EDDY_ECONNRESET // the peer reset the connection (a Stream's cause)
	ErrProto        Error = C.EDDY_EPROTO     // e.g. a WebSocket handshake the server refused
	ErrTLS          Error = C.EDDY_ETLS       // a TLS handshake or certificate check failed
	ErrBusy         Error = C.EDDY_EBUSY      // e.g. the HTTPClient's queue is full
	ErrTooBig       Error = C.EDDY_ETOOBIG    // a size limit was exceeded (HTTPRequest.MaxBodySize)
	ErrEOF          Error = C.EDDY_EOF        // the peer closed before the operation completed
	ErrCanceled     Error = C.EDDY_ECANCELED  // Fetch.Cancel, or the HTTPClient was closed
	ErrResolve      Error = C.EDDY_ERESOLVE   // a host name could not be resolved
)

// Error returns eddy's description of the code ("connection closed", ...).
func (e Error) Error() string {
	return "eddy: " + C.GoString(C.eddy_strerror(C.int(e)))
}

// Name returns the symbolic name ("EDDY_ECLOSED").
func (e Error) Name() string { return C.GoString(C.eddy_err_name(C.int(e))) }

// check turns a C return code into an error (nil for 0 and positive values).
func check(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return Error(rc)
}

// Version returns the version string of the libeddy that is loaded ("0.1.0").
func Version() string { return C.GoString(C.eddy_version_string()) }
