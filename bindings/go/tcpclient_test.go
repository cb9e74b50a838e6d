package eddy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialed is DialTCP that fails the test on an error and closes the stream when it ends (Close
// waits for eddy to release it, so the handle checks of later cleanups see it gone).
func dialed(t *testing.T, addr string) *Stream {
	t.Helper()
	s, err := DialTCP(addr, safety)
	if err != nil {
		t.Fatalf("DialTCP(%s): %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDialTCPRoundTripWithTCPServer(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := startTCP(t, echoLines(errs))
	s := dialed(t, addr)
	if s.RemoteAddr().String() != addr || s.IsTLS() {
		t.Fatalf("RemoteAddr %v, IsTLS %v", s.RemoteAddr(), s.IsTLS())
	}
	if err := s.SetNoDelay(true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TLSPeerCertificate(); !errors.Is(err, ErrNotFound) || s.TLSServerName() != "" {
		t.Fatalf("TLS details of a plain stream: %v, %q", err, s.TLSServerName())
	}
	for _, line := range []string{"ping\n", "pong\n"} {
		if _, err := s.WriteString(line); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ReadUntil([]byte("\n"), 100); err != nil || string(got) != line {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := outcome(t, errs); !errors.Is(err, io.EOF) {
		t.Fatalf("the server's handler: %v", err)
	}
	if _, err := s.ReadBytes(1, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("a read after Close: %v", err)
	}
}

func TestDialTCPToAGoListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(safety))
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "hello %s", line) // then close: the client reads until close
	}()
	s := dialed(t, ln.Addr().String())
	s.WriteString("eddy\n")
	got, err := s.ReadUntilClose()
	if err != nil || string(got) != "hello eddy\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The stream closed by itself: its error says the peer closed.
	if err := s.Err(); !errors.Is(err, io.EOF) {
		t.Fatalf("Err: %v", err)
	}
}

func TestDialTCPRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := DialTCP(addr, safety)
	if !errors.Is(err, ErrConnRefused) || s != nil {
		t.Fatalf("got %v, %v; want ErrConnRefused", s, err)
	}
	// Why, beyond the code (eddy_connect_error_detail): the address that refused.
	var de *DialError
	want := "connect to " + addr + ": Connection refused"
	if !errors.As(err, &de) || de.Detail != want || !strings.HasSuffix(err.Error(), ": "+want) {
		t.Fatalf("got %v (%#v); want a *DialError with %q", err, de, want)
	}
	noHandlesLeft(t, "after a refused dial")
}

func TestDialTCPBadAddresses(t *testing.T) {
	for _, addr := range []string{"no-port", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x"} {
		if _, err := DialTCP(addr, safety); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", addr, err)
		}
	}
	if _, err := DialTCP("no-such-host.invalid:80", safety); !errors.Is(err, ErrResolve) {
		t.Errorf("an unknown name: %v, want ErrResolve", err)
	}
}

// TestDialTCPTimeout connects to a socket whose accept queue is full: Linux drops further SYNs,
// so the connect never completes and the timeout ends it (the C suite's test_connect_timeout).
func TestDialTCPTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 4; i++ { // fill the accept queue (never accepted)
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			defer c.Close()
		}
	}
	type result struct {
		s   *Stream
		err error
	}
	results := make(chan result, 1)
	go func() { s, err := DialTCP(addr, 300*time.Millisecond); results <- result{s, err} }()
	r := outcome(t, results) // bounded: a timeout that never fires fails here
	s, err := r.s, r.err
	if err == nil {
		s.Close()
		t.Skip("the kernel accepted a connection over a full backlog: no timeout to test here")
	}
	if !errors.Is(err, ErrTimedOut) {
		t.Fatalf("got %v, want ErrTimedOut", err)
	}
}

// peerOf accepts one connection on ln and sends its remote address ("" on an error).
func peerOf(ln net.Listener) <-chan string {
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- ""
			return
		}
		peer <- c.RemoteAddr().String()
		c.Close()
	}()
	return peer
}

// freePort is a port nothing on host uses right now (bound and released).
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDialSourceAddress binds the local end (Tornado's source_ip / source_port): the server
// sees it as the peer (Linux's loopback answers on all of 127.0.0.0/8).
func TestDialSourceAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcPort := freePort(t, "127.0.0.2")
	for _, c := range []struct {
		opts DialOptions
		want string // the peer the server sees; a trailing ":" means any port
	}{
		{DialOptions{Timeout: safety, SourceIP: "127.0.0.2"}, "127.0.0.2:"},
		{DialOptions{Timeout: safety, SourceIP: "127.0.0.2", SourcePort: srcPort},
			fmt.Sprintf("127.0.0.2:%d", srcPort)},
		{DialOptions{Timeout: safety, Family: FamilyIPv4}, "127.0.0.1:"},
	} {
		peer := peerOf(ln)
		s, err := Dial(ln.Addr().String(), c.opts)
		if err != nil {
			t.Fatalf("%+v: %v", c.opts, err)
		}
		got := <-peer
		s.Close()
		if got != c.want && !(strings.HasSuffix(c.want, ":") && strings.HasPrefix(got, c.want)) {
			t.Errorf("%+v: the server saw %q, want %q", c.opts, got, c.want)
		}
	}
	noHandlesLeft(t, "after the dials")
}

func TestDialOptionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, c := range []struct {
		opts DialOptions
		want error
		says string // in the message
	}{
		{DialOptions{SourceIP: "localhost"}, ErrInvalid, `SourceIP "localhost"`},
		{DialOptions{SourceIP: "127.0.0.1\x00x"}, ErrInvalid, "SourceIP"},
		{DialOptions{SourcePort: 65536}, ErrInvalid, "SourcePort 65536"},
		{DialOptions{SourcePort: -1}, ErrInvalid, "SourcePort -1"},
		{DialOptions{Family: 5}, ErrInvalid, "Family 5"},
		{DialOptions{SourceIP: "10.255.255.1"}, ErrAddrNotAvail, ""}, // not a local address
		{DialOptions{SourceIP: "::1"}, ErrAddrNotAvail, ""},          // no IPv6 address to reach
		{DialOptions{Family: FamilyIPv6}, ErrResolve, ""},            // an IPv4 host
	} {
		c.opts.Timeout = safety
		s, err := Dial(addr, c.opts)
		if s != nil || !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.says) {
			t.Errorf("%+v: %v, %v; want %v saying %q", c.opts, s, err, c.want, c.says)
		}
	}
	noHandlesLeft(t, "after the failed dials")
}

func TestDialIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no ::1 on this host: %v", err)
	}
	defer ln.Close()
	peer := peerOf(ln)
	s, err := Dial(ln.Addr().String(), DialOptions{Timeout: safety, Family: FamilyIPv6,
		SourceIP: "::1"})
	if err != nil {
		t.Fatal(err)
	}
	got := <-peer
	s.Close()
	if !strings.HasPrefix(got, "[::1]:") {
		t.Fatalf("the server saw %q", got)
	}
	if _, err := Dial(ln.Addr().String(), DialOptions{Timeout: safety, Family: FamilyIPv4}); !errors.Is(err, ErrResolve) {
		t.Fatalf("FamilyIPv4 to ::1: %v, want ErrResolve", err)
	}
}
