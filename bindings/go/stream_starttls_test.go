package eddy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// STARTTLS against Go's crypto/tls on the same connection after a plaintext exchange: eddy as
// the server (StartTLSServer, with its reply) and as the client (StartTLSClient); the spent
// plain stream; WaitForHandshake; the refusals.

func TestStartTLSServerWithAGoClient(t *testing.T) {
	file := makeCerts(t)
	cfg := ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")}
	type result struct {
		line          string
		err           error
		spent, waited error
		again         error
	}
	results := make(chan result, 1)
	_, addr := startTCP(t, func(s *Stream) {
		var r result
		defer func() { results <- r }()
		if line, err := s.ReadUntil([]byte("\r\n"), 100); err != nil || string(line) != "STARTTLS\r\n" {
			r.err = errors.New("no STARTTLS: " + string(line))
			return
		}
		tlsStream, err := s.StartTLSServer(cfg, []byte("220 go ahead\r\n"))
		if err != nil {
			r.err = err
			return
		}
		defer tlsStream.Close()
		_, r.spent = s.WriteString("plain again\r\n")
		r.waited = tlsStream.WaitForHandshake()
		_, r.again = tlsStream.StartTLSServer(cfg, nil)
		line, err := tlsStream.ReadUntil([]byte("\r\n"), 100)
		r.line, r.err = string(line), err
		if err == nil {
			_, r.err = tlsStream.WriteString("250 tls " + r.line)
		}
	})
	c := peer(t, addr)
	c.Write([]byte("STARTTLS\r\n"))
	br := bufio.NewReader(c)
	if answer, err := br.ReadString('\n'); err != nil || answer != "220 go ahead\r\n" {
		t.Fatalf("answer %q, %v", answer, err)
	}
	if br.Buffered() != 0 {
		t.Fatalf("bytes after the answer")
	}
	tc := tls.Client(c, &tls.Config{RootCAs: rootsOf(t, file("server.crt")), ServerName: "localhost"})
	tc.Write([]byte("hello\r\n"))
	reply, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || reply != "250 tls hello\r\n" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	r := outcome(t, results)
	if r.err != nil || r.line != "hello\r\n" {
		t.Fatalf("server: %q, %v", r.line, r.err)
	}
	if !errors.Is(r.spent, ErrClosed) {
		t.Fatalf("the spent plain stream wrote: %v", r.spent)
	}
	if r.waited != nil {
		t.Fatalf("WaitForHandshake: %v", r.waited)
	}
	if !errors.Is(r.again, ErrState) {
		t.Fatalf("a second upgrade: %v, want ErrState", r.again)
	}
	tc.Close()
}

func TestStartTLSClientWithAGoServer(t *testing.T) {
	file := makeCerts(t)
	cert, err := tls.LoadX509KeyPair(file("server.crt"), file("server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(safety))
		br := bufio.NewReader(c)
		if line, _ := br.ReadString('\n'); line != "STARTTLS\r\n" {
			got <- "no STARTTLS: " + line
			return
		}
		c.Write([]byte("220 go ahead\r\n"))
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil {
			got <- err.Error()
			return
		}
		tc.Write([]byte("250 tls " + line))
		got <- line
	}()
	s, err := DialTCP(ln.Addr().String(), safety)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.WriteString("STARTTLS\r\n")
	if answer, err := s.ReadUntil([]byte("\r\n"), 100); err != nil || string(answer) != "220 go ahead\r\n" {
		t.Fatalf("answer %q, %v", answer, err)
	}
	// A verifying client must name the server.
	if _, err := s.StartTLSClient(ClientTLS{CAFile: file("server.crt")}, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no server name: %v, want ErrInvalid", err)
	}
	tlsStream, err := s.StartTLSClient(ClientTLS{CAFile: file("server.crt")}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer tlsStream.Close()
	if !tlsStream.IsTLS() {
		t.Fatalf("not TLS")
	}
	tlsStream.WriteString("hello\r\n")
	if reply, err := tlsStream.ReadUntil([]byte("\r\n"), 100); err != nil || string(reply) != "250 tls hello\r\n" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if line := outcome(t, got); line != "hello\r\n" {
		t.Fatalf("server: %q", line)
	}
	select {
	case <-s.Closed(): // the plain stream is spent
	case <-time.After(safety):
		t.Fatalf("the plain stream did not close")
	}
}
