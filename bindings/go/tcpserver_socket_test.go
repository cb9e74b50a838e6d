package eddy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// hello answers every connection with "hello from <name>" and closes it.
func hello(name string) func(*Stream) {
	return func(s *Stream) {
		defer s.Close()
		s.WriteString("hello from " + name)
	}
}

func greeting(t *testing.T, addr string) string {
	t.Helper()
	got, err := io.ReadAll(peer(t, addr))
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return string(got)
}

func TestTCPServerAddSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewTCPServer(hello("added"))
	if err := srv.AddSocket(ln.(*net.TCPListener)); err != nil {
		t.Fatal(err)
	}
	ln.Close() // the server holds its own duplicate
	if err := srv.Start(""); err != nil {
		t.Fatal(err)
	}
	stopTCPAtEnd(t, srv)
	if srv.Port() != ln.Addr().(*net.TCPAddr).Port {
		t.Fatalf("Port %d, the socket's %v", srv.Port(), ln.Addr())
	}
	if got := greeting(t, ln.Addr().String()); got != "hello from added" {
		t.Fatalf("got %q", got)
	}
}

func TestTCPServerAddSocketRefusesOtherSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := peer(t, ln.Addr().String()) // a connected socket is not a listening one
	srv := NewTCPServer(hello("x"))
	if err := srv.AddSocket(c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AddSocket(a connection): %v, want ErrInvalid", err)
	}
	if err := srv.Start(""); err == nil {
		srv.Stop()
		t.Fatalf("Start with nothing to listen on succeeded")
	}
}

func TestTCPServerReusePort(t *testing.T) {
	first := NewTCPServer(hello("first"))
	first.SetReusePort(true)
	if err := first.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	stopTCPAtEnd(t, first)
	addr := fmt.Sprintf("127.0.0.1:%d", first.Port())

	// Without SO_REUSEPORT the port is taken.
	plain := NewTCPServer(hello("plain"))
	if err := plain.Start(addr); !errors.Is(err, ErrAddrInUse) {
		plain.Stop()
		t.Fatalf("a second server without SetReusePort: %v, want ErrAddrInUse", err)
	}
	plain.Wait()

	second := NewTCPServer(hello("second"))
	second.SetReusePort(true)
	if err := second.Start(addr); err != nil {
		t.Fatalf("a second server with SetReusePort: %v", err)
	}
	stopTCPAtEnd(t, second)
	// Both accept: the kernel spreads connections over them; once the first stops, every one
	// goes to the second.
	first.Stop()
	first.Wait()
	if got := greeting(t, addr); got != "hello from second" {
		t.Fatalf("got %q", got)
	}
}

func TestTCPServerStartErrors(t *testing.T) {
	for _, addr := range []string{"no-port", "127.0.0.1:70000", "256.1.1.1:0"} {
		srv := NewTCPServer(hello("x"))
		if err := srv.Start(addr); err == nil {
			srv.Stop()
			t.Errorf("Start(%q) succeeded", addr)
		}
		srv.Wait()
	}
	nilHandler := NewTCPServer(nil)
	if err := nilHandler.Start("127.0.0.1:0"); !errors.Is(err, ErrInvalid) {
		nilHandler.Stop()
		t.Errorf("a nil handler: %v, want ErrInvalid", err)
	}
	nilHandler.Wait()
	noHandlesLeft(t, "after failed starts")
}

func TestTCPServerAddSocketUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eddy.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	infos := make(chan string, 1)
	srv := NewTCPServer(func(s *Stream) {
		defer s.Close()
		infos <- fmt.Sprintf("%T %v", s.RemoteAddr(), errors.Is(s.SetNoDelay(true), ErrNotSupported))
		s.WriteString("hello over unix")
	})
	if err := srv.AddSocket(ln.(*net.UnixListener)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(""); err != nil {
		t.Fatal(err)
	}
	stopTCPAtEnd(t, srv)
	if srv.Port() != 0 {
		t.Fatalf("Port %d with a Unix socket alone", srv.Port())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(safety))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello over unix" {
		t.Fatalf("got %q, %v", got, err)
	}
	if info := outcome(t, infos); info != "*net.UnixAddr true" {
		t.Fatalf("RemoteAddr type and SetNoDelay's ErrNotSupported: %s", info)
	}
}
