package eddy

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// ReadUntilRegex: a match whose end is split across writes (the peer waits for nothing, so a
// pause between the pieces makes separate reads), bytes after a match kept for the next read,
// bad patterns refused without harming the stream, maxBytes as ReadUntil's.
func TestStreamReadUntilRegex(t *testing.T) {
	type result struct {
		reads []string
		errs  []error
	}
	results := make(chan result, 1)
	_, addr := startTCP(t, func(s *Stream) {
		defer s.Close()
		var res result
		read := func(pattern string, maxBytes int) {
			data, err := s.ReadUntilRegex(pattern, maxBytes)
			if err == nil {
				res.reads = append(res.reads, string(data))
				_, err = s.Write([]byte(fmt.Sprintf("<%s>", data)))
			}
			res.errs = append(res.errs, err)
		}
		read(`\r?\n\r?\n`, 0)
		read(`(`, 0) // PCRE2 refuses it
		read(``, 0)
		read(`x+`, -1)
		read(`x+`, 0)
		read(`[0-9]+;`, 8)
		results <- res
	})
	c := peer(t, addr)
	readN := func(n int) string {
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("reading %d bytes: %q, %v", n, buf, err)
		}
		return string(buf)
	}
	for _, piece := range []string{"GET / HTTP/1.0\r\nA: b\r", "\n\r", "\nab"} {
		c.Write([]byte(piece))
		time.Sleep(100 * time.Millisecond)
	}
	head := "<GET / HTTP/1.0\r\nA: b\r\n\r\n>"
	if got := readN(len(head)); got != head {
		t.Fatalf("the head: %q", got)
	}
	c.Write([]byte("cxx")) // "x+" waits for an x, then takes the whole run
	if got := readN(7); got != "<abcxx>" {
		t.Fatalf("x+: %q", got)
	}
	c.Write([]byte("1234567890;")) // no match within 8 bytes
	res := outcome(t, results)
	want := []string{"GET / HTTP/1.0\r\nA: b\r\n\r\n", "abcxx"}
	if fmt.Sprint(res.reads) != fmt.Sprint(want) {
		t.Errorf("reads %q, want %q", res.reads, want)
	}
	for i, err := range res.errs[1:4] {
		var sce *StreamClosedError
		if !errors.Is(err, ErrInvalid) || errors.As(err, &sce) {
			t.Errorf("bad call %d: %v, want ErrInvalid (the stream open)", i, err)
		}
	}
	if err := res.errs[5]; !errors.Is(err, ErrTooBig) || !errors.Is(err, ErrClosed) {
		t.Errorf("over maxBytes: %v, want a StreamClosedError wrapping ErrTooBig", err)
	}
}
