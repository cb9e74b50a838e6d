package eddy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// startTLSEcho starts a TCPServer over TLS (cfg) echoing lines; it reports each stream's
// IsTLS and the error that ended it.
func startTLSEcho(t *testing.T, cfg ServerTLS) (string, chan bool, chan error) {
	t.Helper()
	tlsSeen := make(chan bool, 4)
	errs := make(chan error, 4)
	echo := echoLines(errs)
	srv := NewTCPServer(func(s *Stream) {
		tlsSeen <- s.IsTLS()
		echo(s)
	})
	srv.SetTLS(cfg)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopTCPAtEnd(t, srv)
	return fmt.Sprintf("127.0.0.1:%d", srv.Port()), tlsSeen, errs
}

func rootsOf(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return roots
}

// roundTrip writes a line on s and reads it back.
func roundTrip(t *testing.T, s *Stream, line string) {
	t.Helper()
	if _, err := s.WriteString(line); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got, err := s.ReadUntil([]byte("\n"), 1000); err != nil || string(got) != line {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestTCPServerTLSWithAGoClient(t *testing.T) {
	file := makeCerts(t)
	addr, tlsSeen, _ := startTLSEcho(t, ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: safety}, "tcp", addr,
		&tls.Config{RootCAs: rootsOf(t, file("server.crt")), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(safety))
	if !outcome(t, tlsSeen) {
		t.Fatalf("the handler's stream is not TLS")
	}
	r := bufio.NewReader(c)
	for _, line := range []string{"secret\n", "more\n"} {
		c.Write([]byte(line))
		if got, err := r.ReadString('\n'); err != nil || got != line {
			t.Fatalf("got %q, %v", got, err)
		}
	}
}

func TestDialTLSToATLSServer(t *testing.T) {
	file := makeCerts(t)
	addr, tlsSeen, errs := startTLSEcho(t, ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})

	// Trusted through its own file.
	s, err := DialTLS(addr, ClientTLS{CAFile: file("server.crt")}, safety)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // before the server's cleanup (LIFO): no handle left
	if !s.IsTLS() || !outcome(t, tlsSeen) {
		t.Fatalf("IsTLS: client %v", s.IsTLS())
	}
	roundTrip(t, s, "over tls\n")
	s.Close()
	outcome(t, errs)

	// The default: the system's CAs, which do not know this certificate. The stream comes
	// back connected; its handshake fails and the first call says so.
	s, err = DialTLS(addr, ClientTLS{}, safety)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	outcome(t, tlsSeen)
	_, err = s.WriteString("never\n")
	if !errors.Is(err, ErrTLS) || !errors.Is(err, ErrClosed) {
		t.Fatalf("an untrusted certificate: %v, want ErrTLS", err)
	}
	if err := s.Err(); !errors.Is(err, ErrTLS) {
		t.Fatalf("Err: %v", err)
	}
	s.Close()
	outcome(t, errs) // the server's side of it ended too
}

func TestTCPServerTLSClientCertificates(t *testing.T) {
	file := makeCerts(t)
	type seen struct {
		subject, serverName string
		err                 error
	}
	certs := make(chan seen, 2)
	tlsSeen := make(chan bool, 2)
	errs := make(chan error, 2)
	echo := echoLines(errs)
	srv := NewTCPServer(func(s *Stream) {
		tlsSeen <- s.IsTLS()
		line, err := s.ReadUntil([]byte("\n"), 1000) // the handshake is done after a read
		if err != nil {
			errs <- err
			return
		}
		der, err := s.TLSPeerCertificate()
		var subject string
		if err == nil {
			c, perr := x509.ParseCertificate(der)
			if perr != nil {
				err = perr
			} else {
				subject = c.Subject.CommonName
			}
		}
		certs <- seen{subject, s.TLSServerName(), err}
		s.Write(line)
		echo(s)
	})
	srv.SetTLS(ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key"),
		ClientCAFile: file("client.crt"), ClientAuth: RequireAndVerifyClientCert})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	stopTCPAtEnd(t, srv)
	addr := fmt.Sprintf("localhost:%d", srv.Port()) // a name: sent as SNI
	s, err := DialTLS(addr, ClientTLS{CAFile: file("server.crt"), CertFile: file("client.crt"),
		KeyFile: file("client.key")}, safety)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	outcome(t, tlsSeen)
	roundTrip(t, s, "with a certificate\n")
	if got := outcome(t, certs); got != (seen{"client", "localhost", nil}) {
		t.Fatalf("the server saw %+v", got)
	}
	if der, err := s.TLSPeerCertificate(); err != nil || len(der) == 0 || s.TLSServerName() != "localhost" {
		t.Fatalf("the client's view: %d bytes, %v, server name %q", len(der), err, s.TLSServerName())
	}
	s.Close()
	outcome(t, errs)
	if _, err := s.TLSPeerCertificate(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TLSPeerCertificate after Close: %v", err)
	}

	// Without one, the server refuses the handshake: its handler's read says ErrTLS.
	s, err = DialTLS(addr, ClientTLS{CAFile: file("server.crt")}, safety)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	outcome(t, tlsSeen)
	if err := outcome(t, errs); !errors.Is(err, ErrTLS) {
		t.Fatalf("the server without a client certificate: %v, want ErrTLS", err)
	}
}

func TestTCPServerTLSRefusesPlainTCP(t *testing.T) {
	file := makeCerts(t)
	addr, _, errs := startTLSEcho(t, ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	c := peer(t, addr)
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	if err := outcome(t, errs); !errors.Is(err, ErrTLS) {
		t.Fatalf("plain text on a TLS port: %v, want ErrTLS", err)
	}
}

func TestDialTLSToAGoTLSServer(t *testing.T) {
	file := makeCerts(t)
	cert, err := tls.LoadX509KeyPair(file("server.crt"), file("server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
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
		c.Write([]byte("go says " + line))
	}()
	s, err := DialTLS(ln.Addr().String(), ClientTLS{CAFile: file("server.crt")}, safety)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.WriteString("hi\n")
	if got, err := s.ReadUntil([]byte("\n"), 100); err != nil || string(got) != "go says hi\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestTCPServerTLSBadFiles(t *testing.T) {
	file := makeCerts(t)
	for _, cfg := range []ServerTLS{
		{CertFile: file("missing.crt"), KeyFile: file("server.key")},
		{CertFile: file("server.crt"), KeyFile: file("client.key")}, // not its key
		{CertFile: file("server.crt"), KeyFile: file("server.key"), ClientAuth: VerifyClientCertIfGiven},
	} {
		srv := NewTCPServer(hello("x"))
		srv.SetTLS(cfg)
		if err := srv.Start("127.0.0.1:0"); !errors.Is(err, ErrInvalid) {
			srv.Stop()
			t.Errorf("%+v: %v, want ErrInvalid", cfg, err)
		}
		srv.Wait()
	}
	if _, err := DialTLS("127.0.0.1:1", ClientTLS{CAFile: file("missing.crt")}, safety); !errors.Is(err, ErrInvalid) {
		t.Errorf("DialTLS with a missing CA file: %v, want ErrInvalid", err)
	}
	noHandlesLeft(t, "after failed TLS starts and dials")
}
