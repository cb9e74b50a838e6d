package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_tcp.h"
import "C"

import (
	"errors"
	"fmt"
	"log"
	"net"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// TCPServer is a raw TCP server (Tornado's TCPServer): every accepted connection becomes a
// *Stream handed to the handler, which runs as its own goroutine (Tornado's handle_stream).
//
// A TCPServer owns its loop, as an App does: Start creates it on a new locked OS thread, Stop
// ends it. That loop runs no user code (handlers are goroutines), so nothing the handler does
// can block it. Configure it (SetReusePort, SetTLS, SetMaxBufferSize, AddSocket) before Start;
// after Start only Port, Stop, Wait and Done may be used, from any goroutine.
type TCPServer struct {
	// Logger receives the binding's own log lines (handler panics). Default: log.Default().
	Logger *log.Logger

	eventLoop

	handler   func(*Stream)
	reusePort bool
	tlsConfig *ServerTLS
	maxBuffer int
	fds       []int // AddSocket's duplicates; -1 once the listener took one

	// Set on the loop thread during Start, read-only afterwards.
	listener *C.eddy_listener
	port     int
	addrs    []net.Addr
	started  bool
}

// NewTCPServer returns a stopped server whose connections go to handle, each in its own
// goroutine. The handler owns its stream: the stream is not closed when handle returns (it may
// hand it to another goroutine, as Tornado's handle_stream may keep it), so close it when done
// (defer s.Close()); a stream the peer closes is released either way, and Stop closes them
// all. A panic in handle is logged (Logger) and closes that stream.
func NewTCPServer(handle func(s *Stream)) *TCPServer {
	srv := &TCPServer{handler: handle}
	srv.eventLoop.done = make(chan struct{})
	srv.eventLoop.onPanic = srv.logPanic
	return srv
}

func (srv *TCPServer) logger() *log.Logger {
	if srv.Logger != nil {
		return srv.Logger
	}
	return log.Default()
}

func (srv *TCPServer) logPanic(what string, p interface{}) {
	srv.logger().Printf("eddy: panic in TCPServer %s: %v", what, p)
}

func (srv *TCPServer) mustNotBeStarted(what string) {
	if srv.started {
		panic("eddy: TCPServer." + what + " after Start")
	}
}

// SetReusePort makes Start bind with SO_REUSEPORT (eddy's EDDY_LISTEN_REUSEPORT): several
// processes (or several TCPServers of one process) listen on the same port and the kernel
// spreads the connections over them. It is how Go programs share a port, as they cannot fork
// (see the README). Call before Start.
func (srv *TCPServer) SetReusePort(on bool) {
	srv.mustNotBeStarted("SetReusePort")
	srv.reusePort = on
}

// SetMaxBufferSize sets every accepted stream's max buffer size (Tornado's TCPServer
// max_buffer_size; see Stream.SetMaxBufferSize). n <= 0 keeps eddy's default (100 MiB).
// Call before Start.
func (srv *TCPServer) SetMaxBufferSize(n int) {
	srv.mustNotBeStarted("SetMaxBufferSize")
	srv.maxBuffer = n
}

// AddSocket makes the server accept on sock, a socket already bound and listening (Tornado's
// add_socket): a *net.TCPListener, a *net.UnixListener, or an *os.File of an inherited
// descriptor (a service manager's, os.NewFile(3, "listener")). The server takes a duplicate of
// its descriptor, so the caller still owns sock and may close it (it must not Accept on it
// meanwhile: the connections would go to whichever accepts first). Call before Start; then
// Start("") serves the added sockets alone. Errors: ErrInvalid when sock is not a listening
// socket, the dup's error.
func (srv *TCPServer) AddSocket(sock syscall.Conn) error {
	srv.mustNotBeStarted("AddSocket")
	raw, err := sock.SyscallConn()
	if err != nil {
		return err
	}
	dup, derr := -1, error(nil)
	err = raw.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		dup = int(r)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("eddy: TCPServer.AddSocket: %w", err)
	}
	listening, err := syscall.GetsockoptInt(dup, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil || listening == 0 {
		syscall.Close(dup)
		return fmt.Errorf("eddy: TCPServer.AddSocket: not a listening socket: %w", ErrInvalid)
	}
	srv.fds = append(srv.fds, dup)
	return nil
}

// Start creates the loop on a new locked OS thread, listens on addr ("127.0.0.1:9000",
// "[::1]:0", ":9000" for every local address; port 0 picks a free port, see Port) and on the
// sockets of AddSocket, and returns once the server accepts connections, or with the error that
// prevented it (ErrAddrInUse, ErrInvalid for a TLS file, ...; nothing is served then). addr ""
// listens on AddSocket's sockets alone; a nil handler is ErrInvalid. A TCPServer can be started
// once.
func (srv *TCPServer) Start(addr string) error {
	srv.mustNotBeStarted("Start")
	srv.started = true
	host, port := "", -1
	var err error
	if addr != "" {
		host, port, err = splitAddr(addr)
	} else if len(srv.fds) == 0 {
		err = errors.New("eddy: TCPServer.Start: no address and no AddSocket")
	}
	if srv.handler == nil {
		err = fmt.Errorf("eddy: TCPServer.Start: NewTCPServer(nil): no handler: %w", ErrInvalid)
	}
	if err != nil { // no loop was made: done at once (Wait returns)
		srv.closeFds()
		close(srv.done)
		return err
	}
	err = srv.eventLoop.start(func() error { return srv.setup(host, port) }, srv.teardown)
	if err != nil && addr != "" {
		err = fmt.Errorf("eddy: TCPServer.Start(%q): %w", addr, err)
	}
	return err
}

// Port returns the port the server listens on (its first TCP socket's; useful after Start with
// port 0), once Start returned without an error; 0 before, or with Unix sockets alone.
// Thread: any goroutine that saw Start return.
func (srv *TCPServer) Port() int { return srv.port }

// Addrs returns the local address of every socket the server listens on (a *net.TCPAddr, or a
// *net.UnixAddr for an added Unix socket), in the order they were added and bound (AddSocket's
// first, then Start's address), once Start returned without an error; nil before. Port gives
// only the first TCP socket's port: a host name with several addresses, or AddSocket's sockets
// with port 0, have one each (Tornado's TCPServer keeps them in _sockets). Thread: any
// goroutine that saw Start return.
func (srv *TCPServer) Addrs() []net.Addr { return append([]net.Addr(nil), srv.addrs...) }

// Stop stops accepting and ends the loop: every stream still open is closed (output already
// queued goes to the socket as far as it takes it without waiting) and its pending calls
// return a *StreamClosedError (Err nil), so handler goroutines blocked on a stream return.
// Unlike Tornado's stop, which only stops listening, open connections do not outlive it: the
// server owns their loop. Thread: any goroutine; calling it more than once, or before Start,
// is harmless.
func (srv *TCPServer) Stop() { srv.eventLoop.stop() }

// Wait blocks until the loop stopped and every stream was released. It does not wait for
// handler goroutines (they see their streams closed).
func (srv *TCPServer) Wait() { <-srv.done }

// Done is closed once the loop stopped and every stream was released.
func (srv *TCPServer) Done() <-chan struct{} { return srv.done }

func (srv *TCPServer) setup(host string, port int) error {
	h := newHandle(srv)
	srv.listener = C.eddy_listener_new(srv.loop, C.eddy_accept_fn(C.eddy_go_tcp_accept),
		C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handle))
	if srv.listener == nil {
		deleteHandle(h) // not taken: eddy did not call the free function
		return ErrNoMemory
	}
	if err := srv.setTLS(); err != nil {
		return err
	}
	for i, fd := range srv.fds {
		if err := check(C.eddy_listener_add_fd(srv.listener, C.int(fd))); err != nil {
			return fmt.Errorf("eddy: TCPServer.AddSocket's socket: %w", err)
		}
		srv.fds[i] = -1 // the listener's now
	}
	if port >= 0 {
		ch := C.CString(host)
		defer C.free(unsafe.Pointer(ch))
		flags := C.int(0)
		if srv.reusePort {
			flags |= C.EDDY_LISTEN_REUSEPORT
		}
		if err := check(C.eddy_listener_bind(srv.listener, ch, C.int(port), 0, flags)); err != nil {
			return err
		}
	}
	if p := int(C.eddy_listener_port(srv.listener)); p > 0 {
		srv.port = p
	}
	srv.addrs = listenerAddrs(srv.listener)
	return nil
}

// teardown (loop thread, loop stopped): the listener goes first, the loop then releases the
// streams.
func (srv *TCPServer) teardown() {
	C.eddy_listener_free(srv.listener) // releases the server's handle
	srv.closeFds()
}

// closeFds closes the duplicates of AddSocket the listener did not take.
func (srv *TCPServer) closeFds() {
	for i, fd := range srv.fds {
		if fd >= 0 {
			syscall.Close(fd)
			srv.fds[i] = -1
		}
	}
}

// serve is the goroutine of one connection.
func (srv *TCPServer) serve(s *Stream) {
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			srv.logPanic(fmt.Sprintf("handler (peer %v)", s.RemoteAddr()), panicked(p))
			s.Close()
		}
	}()
	srv.handler(s)
	returned = true
}

//export goTCPAccept
func goTCPAccept(cs *C.eddy_stream, peerIP *C.char, peerPort C.int, ud unsafe.Pointer) {
	srv := cgo.Handle(uintptr(ud)).Value().(*TCPServer)
	var remote net.Addr
	if ip := C.GoString(peerIP); ip != "" {
		remote = &net.TCPAddr{IP: net.ParseIP(ip), Port: int(peerPort)}
	} else {
		remote = &net.UnixAddr{Net: "unix"}
	}
	s := newStream(&srv.eventLoop, cs, remote)
	if srv.maxBuffer > 0 {
		C.eddy_stream_set_max_buffer_size(cs, C.size_t(srv.maxBuffer))
	}
	go srv.serve(s)
}
