package eddy

// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import (
	"unsafe"
)

// Write writes p and returns once all of it was handed to the kernel (eddy's write callback):
// a writer can never get ahead of the peer by more than the socket buffers, which is the
// backpressure (no write mark to watch). The bytes are copied into the stream's write buffer
// on the loop thread, so p may be reused as soon as Write returns. Writes from several
// goroutines leave in the order they reached the loop, each whole. Thread: any goroutine but
// the loop's. Errors (then n is 0: how much of p left is unknown): a *StreamClosedError.
func (s *Stream) Write(p []byte) (int, error) {
	if s.loop.onLoopThread() {
		return 0, onLoopErr("Write")
	}
	if len(p) == 0 {
		return 0, s.Err()
	}
	ch := make(chan error, 1)
	err := s.loop.onLoop(func() error {
		if s.cs == nil {
			return ErrClosed
		}
		return s.queueWrite(p, pendingWrite{ch: ch})
	})
	if err == nil {
		err = <-ch // the write callback or the release sends it
	}
	if err == ErrClosed {
		return 0, s.closedErr()
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write for a string (io.StringWriter).
func (s *Stream) WriteString(str string) (int, error) { return s.Write([]byte(str)) }

//export goStreamWrite
func goStreamWrite(status C.int, ud unsafe.Pointer) {
	s := streamOf(ud)
	if len(s.writes) == 0 {
		return
	}
	w := s.writes[0]
	s.writes[0] = pendingWrite{}
	s.writes = s.writes[1:]
	w.done(check(status))
}

// pendingWrite is a write whose outcome is awaited: by a goroutine (ch), or by code on the loop
// thread that must run in the write callback itself (then: StartTLSServer's upgrade).
// queueWrite copies p (not empty) into the stream's output with `w` to learn the outcome from
// the write callback (loop thread; s.cs open). Errors: eddy's code (then w never hears).
func (s *Stream) queueWrite(p []byte, w pendingWrite) error {
	rc := C.eddy_stream_write(s.cs, unsafe.Pointer(&p[0]), C.size_t(len(p)),
		C.eddy_stream_write_fn(C.eddy_go_stream_write))
	if rc != 0 {
		return Error(rc)
	}
	s.writes = append(s.writes, w)
	return nil
}

type pendingWrite struct {
	ch   chan error
	then func(err error)
}

// done hands the write's outcome over (loop thread).
func (w pendingWrite) done(err error) {
	if w.then != nil {
		w.then(err)
		return
	}
	w.ch <- err
}
