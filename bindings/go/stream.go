package eddy

// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import (
	"fmt"
	"net"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// Stream is a connected TCP (or TLS, or Unix) socket with eddy's buffers (Tornado's IOStream
// over eddy_stream): what a TCPServer hands its handler and what DialTCP/DialTLS return.
//
// Its methods are for goroutines (not the stream's loop thread, where no user code of this
// package runs anyway): each one hops to the loop thread, starts the operation there and waits
// for its outcome, so a Stream reads like a net.Conn. It is an io.Reader (Read: a partial
// read), an io.Writer (Write returns once the bytes were handed to the kernel: that is the
// backpressure) and an io.Closer, so it composes with bufio and io.Copy.
//
// One read at a time (Read, ReadUntil, ReadUntilRegex, ReadBytes, ReadUntilClose: another
// read while one is pending returns an error wrapping ErrBusy), and any number of writes,
// which leave in the order their calls reached the loop; a read and writes may run at once
// from different goroutines (full duplex). Close may be called from any goroutine at any
// time: pending calls then return a *StreamClosedError.
//
// Once closed (Close, the peer closed or reset, a limit exceeded, the loop stopped), every
// method returns a *StreamClosedError (errors.Is(err, ErrClosed); its Err says why). Memory:
// the Stream holds one cgo.Handle while eddy holds the C stream; eddy releases it exactly once
// (after the close callback, or when the loop is freed) and Close waits for that.
type Stream struct {
	loop          *eventLoop
	remote, local net.Addr
	tls           bool
	closedCh      chan struct{} // closed once the stream closed; err is set before
	released      chan struct{} // closed once eddy released the C stream (handle deleted)
	err           error         // why it closed (*StreamClosedError): read after closedCh

	// Loop thread only.
	cs      *C.eddy_stream // nil once released
	handle  cgo.Handle
	read    *pendingRead   // the read in progress
	writes  []pendingWrite // pending writes, in write order
	closing bool           // Close was called before the stream closed by itself
	isShut  bool           // the close callback (or the release) ran
}

// newStream wraps cs (a new stream of loop l, now ours) on the loop thread: it takes the
// stream's userdata and close callback. remote may be nil (then asked from the socket).
func newStream(l *eventLoop, cs *C.eddy_stream, remote net.Addr) *Stream {
	s := &Stream{loop: l, cs: cs, remote: remote, closedCh: make(chan struct{}),
		released: make(chan struct{})}
	fd := int(C.eddy_stream_fd(cs))
	if s.remote == nil {
		s.remote = peerAddr(fd)
	}
	s.local = localAddr(fd)
	s.tls = C.eddy_stream_is_tls(cs) != 0
	s.handle = newHandle(s)
	C.eddy_stream_set_userdata(cs, C.eddy_go_handle_ptr(C.uintptr_t(s.handle)),
		C.eddy_free_fn(C.eddy_go_release_stream))
	C.eddy_stream_set_close_callback(cs, C.eddy_stream_close_fn(C.eddy_go_stream_close))
	return s
}

// RemoteAddr returns the peer's address (a *net.TCPAddr; a *net.UnixAddr on a Unix socket),
// as it was when the connection was made. Thread: any goroutine.
func (s *Stream) RemoteAddr() net.Addr { return s.remote }

// LocalAddr returns this side's address, as it was when the connection was made (nil when the
// socket could not tell). Thread: any goroutine.
func (s *Stream) LocalAddr() net.Addr { return s.local }

// IsTLS reports whether the stream speaks TLS (a TCPServer with SetTLS, DialTLS).
// Thread: any goroutine.
func (s *Stream) IsTLS() bool { return s.tls }

// Closed returns a channel closed once the stream closed, for whatever reason (Tornado's
// set_close_callback, as a channel). Thread: any goroutine.
func (s *Stream) Closed() <-chan struct{} { return s.closedCh }

// Err returns why the stream closed (a *StreamClosedError), or nil while it is open
// (Tornado's IOStream.error). Thread: any goroutine.
func (s *Stream) Err() error {
	select {
	case <-s.closedCh:
		return s.err
	default:
		return nil
	}
}

// Close closes the stream now (Tornado's IOStream.close): the socket is closed, unread input
// and unsent output are dropped (a Write that returned has handed its bytes to the kernel
// already) and every pending call returns a *StreamClosedError. It returns once eddy released
// the stream. Closing again, or a stream the peer closed, is harmless: nil. Thread: any
// goroutine (on the loop thread it does not wait).
func (s *Stream) Close() error {
	err := s.loop.onLoop(func() error {
		if s.cs == nil {
			return nil
		}
		if C.eddy_stream_closed(s.cs) == 0 {
			s.closing = true
		}
		return check(C.eddy_stream_close(s.cs))
	})
	if err == ErrClosed { // the loop stopped: it releases every stream as it goes
		err = nil
	}
	if err != nil || s.loop.onLoopThread() {
		return err
	}
	select {
	case <-s.released:
	case <-s.loop.done:
	}
	return nil
}

// SetNoDelay turns TCP_NODELAY on or off (Tornado's set_nodelay): on sends small writes at
// once instead of letting the kernel gather them (Nagle). Thread: any goroutine.
// Errors: ErrNotSupported (not a TCP socket), a *StreamClosedError.
func (s *Stream) SetNoDelay(on bool) error {
	flag := C.int(0)
	if on {
		flag = 1
	}
	return s.call(func(cs *C.eddy_stream) C.int { return C.eddy_stream_set_nodelay(cs, flag) })
}

// SetMaxBufferSize limits the bytes a read may buffer (Tornado's max_buffer_size; eddy's
// default is 100 MiB): a read that would need more closes the stream with ErrTooBig
// (ReadUntilClose of a longer stream, ReadUntil without maxBytes). Thread: any goroutine.
// Errors: ErrInvalid (n <= 0), a *StreamClosedError.
func (s *Stream) SetMaxBufferSize(n int) error {
	if n <= 0 {
		return fmt.Errorf("eddy: Stream.SetMaxBufferSize(%d): %w", n, ErrInvalid)
	}
	return s.call(func(cs *C.eddy_stream) C.int {
		return C.eddy_stream_set_max_buffer_size(cs, C.size_t(n))
	})
}

// call runs a short C call on the loop thread with the live stream.
func (s *Stream) call(fn func(cs *C.eddy_stream) C.int) error {
	err := s.loop.onLoop(func() error {
		if s.cs == nil {
			return ErrClosed
		}
		return check(fn(s.cs))
	})
	if err == ErrClosed {
		return s.closedErr()
	}
	return err
}

// closedErr waits until the stream is closed and returns why. Called when eddy answered
// EDDY_ECLOSED: the close callback (or the release, when the loop stops) is then on its way,
// and it says why, which the bare code does not (a reset, a limit, ...).
func (s *Stream) closedErr() error {
	if s.loop.onLoopThread() {
		if s.isShut {
			return s.err
		}
		return &StreamClosedError{}
	}
	select {
	case <-s.closedCh:
		return s.err
	case <-s.loop.done:
		<-s.closedCh // freeing the loop released the stream: closedCh is closed
		return s.err
	}
}

// onLoopErr is the error of a blocking method called on the loop thread, where waiting would
// stop the loop that has to do the work.
func onLoopErr(method string) error {
	return fmt.Errorf("eddy: Stream.%s on the stream's loop thread would block it: %w", method,
		ErrState)
}

// shut records that the stream closed (loop thread, once): the pending read gets the error.
func (s *Stream) shut(cause error) {
	if s.isShut {
		return
	}
	s.isShut = true
	s.err = &StreamClosedError{Err: cause}
	if r := s.read; r != nil {
		s.read = nil
		r.ch <- readResult{err: s.err}
	}
	close(s.closedCh)
}

func streamOf(ud unsafe.Pointer) *Stream { return cgo.Handle(uintptr(ud)).Value().(*Stream) }

//export goStreamClose
func goStreamClose(code C.int, ud unsafe.Pointer) {
	s := streamOf(ud)
	s.shut(closeCause(int(code), s.closing))
}

//export goReleaseStream
func goReleaseStream(ud unsafe.Pointer) {
	s := streamOf(ud)
	// Without a close callback first, the loop is being freed (its owner stopped): nil cause.
	s.shut(nil)
	for _, w := range s.writes {
		w.done(ErrClosed)
	}
	s.writes = nil
	s.cs = nil
	deleteHandle(s.handle)
	close(s.released)
}

// peerAddr and localAddr read a socket's addresses (nil when it cannot tell).
func peerAddr(fd int) net.Addr {
	sa, err := syscall.Getpeername(fd)
	if err != nil {
		return nil
	}
	return sockaddrToAddr(sa)
}

func localAddr(fd int) net.Addr {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil
	}
	return sockaddrToAddr(sa)
}

func sockaddrToAddr(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *syscall.SockaddrInet6:
		addr := &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
		if a.ZoneId != 0 {
			if ifc, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				addr.Zone = ifc.Name
			}
		}
		return addr
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}
