package eddy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// safety bounds every socket operation of the Go peers, so that a broken binding fails a test
// instead of hanging it; no test measures time.
const safety = 20 * time.Second

// startTCP starts a TCPServer with handle on a free port and, when the test ends, stops it and
// checks that every handle handed to C was released (the dial loop's streams included: tests
// close the streams they dial).
func startTCP(t *testing.T, handle func(*Stream)) (*TCPServer, string) {
	t.Helper()
	srv := NewTCPServer(handle)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopTCPAtEnd(t, srv)
	return srv, fmt.Sprintf("127.0.0.1:%d", srv.Port())
}

func stopTCPAtEnd(t *testing.T, srv *TCPServer) {
	t.Cleanup(func() {
		srv.Stop()
		select {
		case <-srv.Done():
		case <-time.After(safety):
			t.Fatalf("the TCPServer's loop did not stop")
		}
		noHandlesLeft(t, "after the TCPServer was freed")
	})
}

// noHandlesLeft checks that every handle handed to C was released. It waits (bounded) for the
// dial loop, which keeps running: the handle of a batch posted to it is released just after
// the batch ran, so a caller woken by that batch may look a moment too early.
func noHandlesLeft(t *testing.T, when string) {
	t.Helper()
	for end := time.Now().Add(safety); liveHandles.Load() != 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if n := liveHandles.Load(); n != 0 {
		t.Errorf("%d cgo handles still alive %s", n, when)
	}
}

// peer dials addr with Go's net package.
func peer(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, safety)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(safety))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// outcome receives what a handler reports, bounded by safety.
func outcome[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(safety):
		t.Fatalf("the handler reported nothing")
		panic("unreachable")
	}
}

// echoLines answers every line with itself and reports the error that ended the loop.
func echoLines(errs chan<- error) func(*Stream) {
	return func(s *Stream) {
		defer s.Close()
		for {
			line, err := s.ReadUntil([]byte("\n"), 0)
			if err != nil {
				errs <- err
				return
			}
			if _, err := s.Write(line); err != nil {
				errs <- err
				return
			}
		}
	}
}

func TestTCPServerEchoReadUntilAndPeerClose(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := startTCP(t, echoLines(errs))
	c := peer(t, addr)
	// A line in pieces, then two lines in one write.
	r := bufio.NewReader(c)
	for _, piece := range []string{"hel", "lo\n"} {
		c.Write([]byte(piece))
	}
	if line, err := r.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	c.Write([]byte("one\ntwo\n"))
	for _, want := range []string{"one\n", "two\n"} {
		if line, err := r.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
	c.Write([]byte("unterminated"))
	c.Close()
	err := outcome(t, errs)
	var sce *StreamClosedError
	if !errors.As(err, &sce) || !errors.Is(err, ErrClosed) || !errors.Is(err, ErrEOF) ||
		!errors.Is(err, io.EOF) {
		t.Fatalf("after the peer closed: %v (%T), want a StreamClosedError wrapping ErrEOF", err, err)
	}
}

func TestTCPServerReadBytesExactAndPartial(t *testing.T) {
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		exact, err := s.ReadBytes(5, false)
		if err != nil {
			return
		}
		partial, err := s.ReadBytes(100, true)
		if err != nil {
			return
		}
		fmt.Fprintf(s, "[%s][%s]", exact, partial)
	})
	c := peer(t, addr)
	c.Write([]byte("abc"))
	c.Write([]byte("dexyz")) // the exact read waits for "de"; "xyz" is what the partial gets
	// (No half-close: eddy, like Tornado, closes a stream once its peer closed and nothing
	// buffered is left to read, so the answer could not be written.)
	got := make([]byte, len("[abcde][xyz]"))
	_, err := io.ReadFull(c, got)
	if err != nil || string(got) != "[abcde][xyz]" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestTCPServerReadUntilClose(t *testing.T) {
	type result struct {
		data   []byte
		err    error
		closed error
	}
	results := make(chan result, 1)
	_, addr := startTCP(t, func(s *Stream) {
		data, err := s.ReadUntilClose()
		<-s.Closed()
		results <- result{data, err, s.Err()}
	})
	c := peer(t, addr)
	payload := bytes.Repeat([]byte("0123456789"), 100000) // 1 MB
	c.Write(payload)
	c.CloseWrite()
	r := outcome(t, results)
	if r.err != nil || !bytes.Equal(r.data, payload) {
		t.Fatalf("got %d bytes, %v", len(r.data), r.err)
	}
	if !errors.Is(r.closed, ErrClosed) || !errors.Is(r.closed, io.EOF) {
		t.Fatalf("Err after ReadUntilClose: %v", r.closed)
	}
}

func TestTCPServerManyConcurrentConnections(t *testing.T) {
	errs := make(chan error, 64)
	_, addr := startTCP(t, echoLines(errs))
	const conns, lines = 40, 20
	var wg sync.WaitGroup
	failures := make(chan string, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, safety)
			if err != nil {
				failures <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(safety))
			r := bufio.NewReader(c)
			for j := 0; j < lines; j++ {
				want := fmt.Sprintf("conn %d line %d\n", i, j)
				c.Write([]byte(want))
				if got, err := r.ReadString('\n'); got != want {
					failures <- fmt.Sprintf("conn %d: got %q, %v; want %q", i, got, err, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	for i := 0; i < conns; i++ { // every handler saw its peer close
		if err := outcome(t, errs); !errors.Is(err, io.EOF) {
			t.Errorf("handler ended with %v", err)
		}
	}
}

// pattern returns n bytes that differ with their offset, so reordered or lost chunks show.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestTCPServerLargeWritesAndIOCopy(t *testing.T) {
	big := pattern(16 << 20)
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		cmd, err := s.ReadUntil([]byte("\n"), 100)
		if err != nil {
			return
		}
		switch string(cmd) {
		case "big\n": // one Write of 16 MiB: returns once the kernel took it all
			if n, err := s.Write(big); err != nil || n != len(big) {
				s.WriteString(fmt.Sprintf("write: %d %v", n, err))
			}
		case "copy\n": // Stream as io.Reader and io.Writer
			io.Copy(s, s)
		}
	})
	c := peer(t, addr)
	c.Write([]byte("big\n"))
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read the big write: %v (equal %v)", err, bytes.Equal(got, big))
	}

	c2 := peer(t, addr)
	c2.Write([]byte("copy\n"))
	upload := pattern(3 << 20)
	go c2.Write(upload)
	echoed := make([]byte, len(upload))
	_, err := io.ReadFull(c2, echoed)
	if err != nil || !bytes.Equal(echoed, upload) {
		t.Fatalf("io.Copy echo: %d bytes, %v", len(echoed), err)
	}
}

func TestTCPServerPeerReset(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := startTCP(t, echoLines(errs))
	c := peer(t, addr)
	c.Write([]byte("x\n"))
	bufio.NewReader(c).ReadString('\n') // the handler is in its next ReadUntil
	c.SetLinger(0)                      // close sends RST
	c.Close()
	err := outcome(t, errs)
	if !errors.Is(err, ErrConnReset) || !errors.Is(err, ErrClosed) || errors.Is(err, io.EOF) {
		t.Fatalf("after a reset: %v", err)
	}
}

func TestTCPServerMaxBytesAndMaxBufferSize(t *testing.T) {
	errs := make(chan error, 1)
	srv := NewTCPServer(func(s *Stream) {
		cmd, err := s.ReadBytes(1, false)
		if err != nil {
			errs <- err
			return
		}
		if cmd[0] == 'u' {
			_, err = s.ReadUntil([]byte("\n"), 10)
		} else {
			_, err = s.ReadUntilClose() // over the server's max buffer size
		}
		errs <- err
		s.Close()
	})
	srv.SetMaxBufferSize(1000)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	stopTCPAtEnd(t, srv)
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Port())
	for _, cmd := range []string{"u" + strings.Repeat("a", 30), "c" + strings.Repeat("b", 5000)} {
		c := peer(t, addr)
		c.Write([]byte(cmd))
		err := outcome(t, errs)
		var sce *StreamClosedError
		if !errors.As(err, &sce) || !errors.Is(err, ErrTooBig) || !errors.Is(err, ErrClosed) {
			t.Fatalf("%c: %v, want a StreamClosedError wrapping ErrTooBig", cmd[0], err)
		}
		// The stream was closed: the peer reads the end (or a reset, with unread input).
		if n, err := c.Read(make([]byte, 10)); err == nil {
			t.Fatalf("%c: the peer could still read %d bytes", cmd[0], n)
		}
	}
}

func TestTCPServerPanicInHandlerClosesTheStream(t *testing.T) {
	logs := &lockedBuffer{}
	srv := NewTCPServer(func(s *Stream) { panic("boom") })
	srv.Logger = log.New(logs, "", 0)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	stopTCPAtEnd(t, srv)
	c := peer(t, fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the peer read %d, %v; want EOF", n, err)
	}
	if !strings.Contains(logs.String(), "panic in TCPServer handler") ||
		!strings.Contains(logs.String(), "boom") {
		t.Fatalf("log: %q", logs.String())
	}
}

func TestTCPServerStopClosesStreams(t *testing.T) {
	errs := make(chan error, 1)
	reading := make(chan struct{})
	srv := NewTCPServer(func(s *Stream) {
		close(reading)
		_, err := s.ReadUntil([]byte("\n"), 0)
		errs <- err
		// Calls after the loop ended return the same error, at once.
		if _, err := s.Write([]byte("late")); !errors.Is(err, ErrClosed) {
			errs <- fmt.Errorf("Write after Stop: %v", err)
			return
		}
		errs <- s.Close()
	})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Port())
	c := peer(t, addr)
	outcome(t, reading)
	srv.Stop()
	err := outcome(t, errs)
	var sce *StreamClosedError
	if !errors.As(err, &sce) || sce.Err != nil {
		t.Fatalf("a read pending at Stop: %v, want a StreamClosedError without cause", err)
	}
	if err := outcome(t, errs); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	noHandlesLeft(t, "after Stop")
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the peer read %d, %v; want EOF", n, err)
	}
	if _, err := net.DialTimeout("tcp", addr, safety); err == nil {
		t.Fatalf("the stopped server still accepts")
	}
	srv.Stop() // again: harmless
}

func TestTCPServerCloseFromAnotherGoroutine(t *testing.T) {
	type result struct{ read, write, again error }
	results := make(chan result, 1)
	_, addr := startTCP(t, func(s *Stream) {
		done := make(chan error, 1)
		go func() { _, err := s.ReadBytes(10, false); done <- err }()
		// Close whether or not the read reached the loop yet: either way it ends.
		closeErr := s.Close()
		readErr := <-done
		_, writeErr := s.Write([]byte("x"))
		if closeErr != nil {
			readErr = closeErr
		}
		results <- result{readErr, writeErr, s.Close()}
	})
	peer(t, addr)
	r := outcome(t, results)
	var sce *StreamClosedError
	if !errors.As(r.read, &sce) || sce.Err != nil || errors.Is(r.read, io.EOF) {
		t.Fatalf("read: %v", r.read)
	}
	if !errors.As(r.write, &sce) || sce.Err != nil {
		t.Fatalf("write after Close: %v", r.write)
	}
	if r.again != nil {
		t.Fatalf("second Close: %v", r.again)
	}
}

func TestStreamOneReadAtATime(t *testing.T) {
	results := make(chan error, 2)
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		first := make(chan error, 1)
		go func() { _, err := s.ReadUntil([]byte("\n"), 0); first <- err }()
		for end := time.Now().Add(safety); time.Now().Before(end); { // the first read is pending
			pending := false
			s.loop.onLoop(func() error { pending = s.read != nil; return nil })
			if pending {
				break
			}
			time.Sleep(time.Millisecond)
		}
		_, err := s.ReadBytes(1, true)
		results <- err
		s.WriteString("go\n")
		results <- <-first
	})
	c := peer(t, addr)
	if err := outcome(t, results); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second read: %v, want ErrBusy", err)
	}
	bufio.NewReader(c).ReadString('\n')
	c.Write([]byte("line\n"))
	if err := outcome(t, results); err != nil {
		t.Fatalf("the first read: %v", err)
	}
}

func TestStreamBadArgumentsAndLoopThread(t *testing.T) {
	results := make(chan []error, 1)
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		var errs []error
		_, err := s.ReadUntil(nil, 0)
		errs = append(errs, err)
		_, err = s.ReadUntil([]byte("x"), -1)
		errs = append(errs, err)
		_, err = s.ReadBytes(0, false)
		errs = append(errs, err)
		errs = append(errs, s.SetMaxBufferSize(0))
		// A blocking call on the loop thread would stop the loop it waits for: refused.
		s.loop.onLoop(func() error {
			_, err := s.ReadBytes(1, true)
			errs = append(errs, err)
			_, err = s.Write([]byte("x"))
			errs = append(errs, err)
			return nil
		})
		results <- errs
	})
	peer(t, addr)
	errs := outcome(t, results)
	for i, err := range errs {
		want := ErrInvalid
		if i >= 4 {
			want = ErrState
		}
		if !errors.Is(err, want) {
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
	}
}

func TestStreamComposesWithBufio(t *testing.T) {
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		w := bufio.NewWriter(s)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			w.WriteString(strings.ToUpper(line))
			w.Flush()
		}
	})
	c := peer(t, addr)
	r := bufio.NewReader(c)
	for _, line := range []string{"abc\n", "def\n"} {
		c.Write([]byte(line))
		if got, err := r.ReadString('\n'); err != nil || got != strings.ToUpper(line) {
			t.Fatalf("got %q, %v", got, err)
		}
	}
}

func TestStreamAddresses(t *testing.T) {
	addrs := make(chan [2]net.Addr, 1)
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		addrs <- [2]net.Addr{s.RemoteAddr(), s.LocalAddr()}
		s.ReadUntilClose()
	})
	c := peer(t, addr)
	got := outcome(t, addrs)
	if got[0].String() != c.LocalAddr().String() || got[1].String() != c.RemoteAddr().String() {
		t.Fatalf("RemoteAddr %v LocalAddr %v; the peer is %v -> %v", got[0], got[1],
			c.LocalAddr(), c.RemoteAddr())
	}
}
