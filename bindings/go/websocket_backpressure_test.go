package eddy

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Backpressure (Conn.SetWriteMark, Conn.WriteBufferSize), as bindings/lua/tests/
// test_ws_write_mark.py checks it for Lua: 16 MiB in 16 KiB binary messages, far more than the
// socket buffers hold, sent to a peer that reads nothing until the producer had to pause, with
// the producer pausing whenever the buffer is over a 64 KiB mark and resuming in onDrain. Every
// message must arrive whole and in order, the buffer never grow past the mark plus one message,
// and onDrain run (only once the buffer is at or under the mark).
const (
	bpMark  = 64 << 10
	bpSize  = 16 << 10
	bpCount = 1024
	bpFrame = 14 // the largest frame header (with a mask)
)

// producer runs on the loop thread (its fields are read there too, see stats).
type producer struct {
	conn          *Conn
	sent, drains  int
	maxBuffer     int
	wokeAboveMark bool
	closed        bool
	err           error
	above         chan struct{} // closed the first time it pauses: the peer starts reading then
	gone          chan struct{} // closed by OnClose
}

func newProducer() *producer {
	return &producer{above: make(chan struct{}), gone: make(chan struct{})}
}

// callbacks are the connection's: Open produces, OnClose reports the end.
func (p *producer) callbacks() WebSocket {
	return WebSocket{Open: p.open, OnClose: func(*Conn, int, string) { close(p.gone) }}
}

// open is the connection's Open callback (server route or client).
func (p *producer) open(c *Conn) {
	p.conn = c
	if err := c.SetWriteMark(bpMark, func(c *Conn) {
		p.drains++
		if c.WriteBufferSize() > bpMark {
			p.wokeAboveMark = true
		}
		p.produce(c)
	}); err != nil {
		p.err = err
		return
	}
	p.produce(c)
}

func (p *producer) produce(c *Conn) {
	filler := bytes.Repeat([]byte("m"), bpSize-8)
	for p.sent < bpCount {
		msg := append([]byte(fmt.Sprintf("%08d", p.sent+1)), filler...)
		if err := c.WriteMessage(msg, true); err != nil {
			p.err = err
			return
		}
		p.sent++
		size := c.WriteBufferSize()
		if size > p.maxBuffer {
			p.maxBuffer = size
		}
		if size > bpMark {
			select {
			case <-p.above:
			default:
				close(p.above)
			}
			return // onDrain resumes
		}
	}
	if !p.closed { // onDrain may run again while the last messages leave
		p.closed = true
		c.Close(1000, "all sent")
	}
}

// stats copies the producer's fields on the loop thread.
func (p *producer) stats(t *testing.T, app *App) producer {
	t.Helper()
	var s producer
	if err := app.onLoop(func() error { s = *p; return nil }); err != nil {
		t.Fatalf("reading the producer's stats: %v", err)
	}
	return s
}

// check runs once the connection closed.
func (p *producer) check(t *testing.T, app *App) {
	t.Helper()
	waitFor(t, "OnClose", p.gone)
	s := p.stats(t, app)
	if s.err != nil || s.sent != bpCount {
		t.Fatalf("sent %d of %d: %v", s.sent, bpCount, s.err)
	}
	if s.drains == 0 || s.wokeAboveMark {
		t.Fatalf("onDrain ran %d times (woke above the mark: %v)", s.drains, s.wokeAboveMark)
	}
	if s.maxBuffer <= bpMark || s.maxBuffer > bpMark+bpSize+bpFrame {
		t.Fatalf("largest write buffer %d, want over the mark %d and at most one message more", s.maxBuffer, bpMark)
	}
	// Misuse and late use are refused.
	if err := s.conn.SetWriteMark(-1, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative mark: %v", err)
	}
	if err := s.conn.SetWriteMark(bpMark, func(*Conn) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetWriteMark after the close: %v", err)
	}
	if n := s.conn.WriteBufferSize(); n != 0 {
		t.Fatalf("WriteBufferSize after the close: %d", n)
	}
}

// readFrame reads one frame (masked or not, any length).
func readFrame(r *bufio.Reader) (opcode byte, payload []byte, err error) {
	var head [2]byte
	if _, err = io.ReadFull(r, head[:]); err != nil {
		return
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		_, err = io.ReadFull(r, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, err = io.ReadFull(r, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	var mask [4]byte
	if err == nil && head[1]&0x80 != 0 {
		_, err = io.ReadFull(r, mask[:])
	}
	if err != nil || n > 1<<20 {
		return 0, nil, fmt.Errorf("frame header: %v (length %d)", err, n)
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	if head[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return head[0] & 0x0f, payload, nil
}

// readFlood waits until the producer paused, then reads every message and the close frame.
func readFlood(t *testing.T, p *producer, r *bufio.Reader) {
	t.Helper()
	waitFor(t, "the write buffer to pass the mark", p.above)
	for i := 1; i <= bpCount; i++ {
		op, data, err := readFrame(r)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if op != 2 || len(data) != bpSize || string(data[:8]) != fmt.Sprintf("%08d", i) {
			t.Fatalf("message %d: opcode %d, %d bytes starting %q", i, op, len(data), data[:8])
		}
	}
	if op, data, err := readFrame(r); err != nil || op != 8 || binary.BigEndian.Uint16(data) != 1000 {
		t.Fatalf("close frame: opcode %d %q %v", op, data, err)
	}
}

func TestWebSocketWriteMarkServer(t *testing.T) {
	p := newProducer()
	app := New()
	app.WebSocket("/flood", p.callbacks())
	base := start(t, app)
	c := wsDial(t, base, "/flood")
	defer c.conn.Close()
	readFlood(t, p, c.r)
	c.send(t, 8, []byte{0x03, 0xe8}) // the close handshake's answer
	// The server would close TCP only after its close timeout (see TestWebSocket): close first.
	c.conn.Close()
	p.check(t, app)
}

func TestWebSocketWriteMarkClient(t *testing.T) {
	// The peer is a raw WebSocket server on a Go listener that reads slowly as above.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newProducer()
	app := New()
	start(t, app)
	failed := make(chan error, 1)
	if err := app.DialWebSocket("ws://"+ln.Addr().String()+"/", WebSocketClient{
		WebSocket: p.callbacks(),
		OnError:   func(err error) { failed <- err },
	}); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	req, err := http.ReadRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	select {
	case err := <-failed:
		t.Fatalf("connect: %v", err)
	case <-p.above:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the write buffer to pass the mark")
	}
	readFlood(t, p, r)
	conn.Write([]byte{0x88, 0x02, 0x03, 0xe8}) // the close handshake's answer (unmasked)
	conn.Close()                               // a server closes TCP first (RFC 6455 7.1.1)
	p.check(t, app)
}
