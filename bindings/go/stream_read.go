package eddy

// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import (
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// pendingRead is the read in progress on a stream (loop thread): the waiting goroutine's
// channel (buffered: the loop thread never blocks on it) and, for Read, the caller's buffer.
type pendingRead struct {
	dst []byte
	ch  chan readResult
}

type readResult struct {
	data []byte // a copy of the bytes (dst == nil)
	n    int    // the bytes copied into dst
	err  error
}

// ReadUntil reads until delim and returns the data including it (Tornado's read_until). With
// maxBytes > 0, a delimiter not found within maxBytes bytes closes the stream and the error
// wraps ErrTooBig; 0 means no limit but the max buffer size. Thread: any goroutine but the
// loop's; it waits for the data. Errors: a *StreamClosedError (errors.Is(err, io.EOF) when the
// peer closed first; the bytes read before are dropped), ErrInvalid (empty delim, negative
// maxBytes), ErrBusy (another read is pending).
func (s *Stream) ReadUntil(delim []byte, maxBytes int) ([]byte, error) {
	if len(delim) == 0 || maxBytes < 0 {
		return nil, fmt.Errorf("eddy: Stream.ReadUntil(%q, %d): %w", delim, maxBytes, ErrInvalid)
	}
	r := s.readOp("ReadUntil", nil, func(cs *C.eddy_stream) C.int {
		return C.eddy_stream_read_until(cs, (*C.char)(unsafe.Pointer(&delim[0])),
			C.size_t(len(delim)), C.size_t(maxBytes), C.eddy_stream_read_fn(C.eddy_go_stream_read))
	})
	return r.data, r.err
}

// ReadUntilRegex reads up to and including the first match of pattern and returns it
// (Tornado's read_until_regex). pattern is PCRE2 syntax, not Go's regexp (RE2) syntax: the
// usual patterns read the same, but PCRE2 has backreferences and lookaround, and \z, \Z or
// (?s) behave as in Perl. It is matched over the raw bytes; an empty match does not count.
// The stream keeps the compiled pattern, so reading again with the same one compiles nothing.
// maxBytes as ReadUntil's: a match ending beyond it, or maxBytes bytes without one, closes
// the stream and the error wraps ErrTooBig. Thread as ReadUntil. Errors as ReadUntil's, and
// an error wrapping ErrInvalid for an empty pattern, a negative maxBytes or a pattern PCRE2
// refuses (eddy's log says why).
func (s *Stream) ReadUntilRegex(pattern string, maxBytes int) ([]byte, error) {
	if pattern == "" || maxBytes < 0 {
		return nil, fmt.Errorf("eddy: Stream.ReadUntilRegex(%q, %d): %w", pattern, maxBytes,
			ErrInvalid)
	}
	p := []byte(pattern) // eddy compiles it during the call and keeps no pointer to it
	r := s.readOp("ReadUntilRegex", nil, func(cs *C.eddy_stream) C.int {
		return C.eddy_stream_read_until_regex(cs, (*C.char)(unsafe.Pointer(&p[0])),
			C.size_t(len(p)), C.size_t(maxBytes), C.eddy_stream_read_fn(C.eddy_go_stream_read))
	})
	if r.err == ErrInvalid { // refused when the read started: the stream is fine
		return nil, fmt.Errorf("eddy: Stream.ReadUntilRegex: PCRE2 refuses the pattern %q "+
			"(eddy's log says why): %w", pattern, ErrInvalid)
	}
	return r.data, r.err
}

// ReadBytes reads exactly n bytes (Tornado's read_bytes), or with partial as soon as 1 to n
// bytes are there. Thread and errors as ReadUntil; ErrInvalid for n <= 0.
func (s *Stream) ReadBytes(n int, partial bool) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("eddy: Stream.ReadBytes(%d): %w", n, ErrInvalid)
	}
	r := s.readOp("ReadBytes", nil, readBytes(n, partial))
	return r.data, r.err
}

// ReadUntilClose reads until the peer closes and returns everything (Tornado's
// read_until_close; possibly nothing); the stream is closed afterwards (Err wraps ErrEOF).
// More than the max buffer size closes the stream with ErrTooBig. Thread and errors as
// ReadUntil.
func (s *Stream) ReadUntilClose() ([]byte, error) {
	r := s.readOp("ReadUntilClose", nil, func(cs *C.eddy_stream) C.int {
		return C.eddy_stream_read_until_close(cs, C.eddy_stream_read_fn(C.eddy_go_stream_read))
	})
	if r.err == nil {
		// eddy delivers the data just before the close callback: wait for it, so that the
		// stream is closed (Closed, Err) when this returns.
		s.closedErr()
	}
	return r.data, r.err
}

// Read reads what is there, up to len(p) bytes, waiting for at least one (io.Reader; a
// partial ReadBytes into p). It returns io.EOF once the peer closed; the other errors are as
// ReadUntil's.
func (s *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r := s.readOp("Read", p, readBytes(len(p), true))
	if r.err != nil && errors.Is(r.err, io.EOF) {
		return r.n, io.EOF
	}
	return r.n, r.err
}

func readBytes(n int, partial bool) func(cs *C.eddy_stream) C.int {
	p := C.int(0)
	if partial {
		p = 1
	}
	return func(cs *C.eddy_stream) C.int {
		return C.eddy_stream_read_bytes(cs, C.size_t(n), p,
			C.eddy_stream_read_fn(C.eddy_go_stream_read))
	}
}

// readOp starts a read on the loop thread and waits for its result. eddy never delivers a read
// inside the call that starts it, so the pending read is recorded after the call succeeded.
func (s *Stream) readOp(method string, dst []byte, start func(cs *C.eddy_stream) C.int) readResult {
	if s.loop.onLoopThread() {
		return readResult{err: onLoopErr(method)}
	}
	ch := make(chan readResult, 1)
	err := s.loop.onLoop(func() error {
		if s.cs == nil {
			return ErrClosed
		}
		if s.read != nil {
			return ErrBusy
		}
		if err := check(start(s.cs)); err != nil {
			return err
		}
		s.read = &pendingRead{dst: dst, ch: ch}
		return nil
	})
	switch err {
	case nil:
		return <-ch // the read callback, the close callback or the release sends it
	case ErrClosed:
		return readResult{err: s.closedErr()}
	case ErrBusy:
		return readResult{err: fmt.Errorf("eddy: Stream.%s while another read is pending: %w",
			method, ErrBusy)}
	}
	return readResult{err: err}
}

//export goStreamRead
func goStreamRead(data *C.char, n C.size_t, ud unsafe.Pointer) {
	s := streamOf(ud)
	r := s.read
	if r == nil {
		return
	}
	s.read = nil
	if r.dst != nil {
		r.ch <- readResult{n: copy(r.dst, unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))}
		return
	}
	r.ch <- readResult{data: goBytes(data, n)}
}
