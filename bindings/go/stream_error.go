package eddy

import (
	"errors"
	"io"
)

// StreamClosedError is what a Stream's methods return once the stream is closed (Tornado's
// StreamClosedError): errors.Is(err, ErrClosed) always holds, and Err (Tornado's real_error)
// says why, when the stream did not close through Close:
//
//   - ErrEOF: the peer closed its side (then errors.Is(err, io.EOF) holds too, so loops that
//     stop at io.EOF work unchanged; Read itself returns io.EOF);
//   - ErrConnReset: the peer reset the connection;
//   - ErrTooBig: a read's maxBytes or the max buffer size was exceeded (the stream closes, as
//     Tornado's UnsatisfiableReadError closes it);
//   - ErrTLS, ErrTimedOut: a TLS handshake failed or timed out;
//   - nil: Close was called, or the stream's loop stopped (TCPServer.Stop).
type StreamClosedError struct {
	Err error
}

// Error says the stream closed, and why when Err is set ("eddy: stream closed: eddy: connection
// reset by peer").
func (e *StreamClosedError) Error() string {
	if e.Err == nil {
		return "eddy: stream closed"
	}
	return "eddy: stream closed: " + e.Err.Error()
}

// Unwrap returns the cause (Err), for errors.Is(err, ErrTooBig) and the like.
func (e *StreamClosedError) Unwrap() error { return e.Err }

// Is makes every StreamClosedError match ErrClosed, and one the peer's close caused io.EOF.
func (e *StreamClosedError) Is(target error) bool {
	return target == ErrClosed || (target == io.EOF && errors.Is(e.Err, ErrEOF))
}

// closeCause turns a close callback's code into StreamClosedError.Err: 0 is our Close (nil) or
// the end of a ReadUntilClose (the peer closed: ErrEOF).
func closeCause(code int, closedByUs bool) error {
	switch {
	case code != 0:
		return Error(code)
	case closedByUs:
		return nil
	default:
		return ErrEOF
	}
}
