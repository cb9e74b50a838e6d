package eddy

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsClient is a minimal RFC 6455 client (masked frames out, unmasked in), enough to drive the
// server over a real socket without a third-party package.
type wsClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func wsDial(t *testing.T, base, path string) *wsClient {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, strings.TrimPrefix(base, "http://"), key)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	return &wsClient{conn, r}
}

func (c *wsClient) send(t *testing.T, opcode byte, payload []byte) {
	t.Helper()
	frame := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n < 1<<16:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	mask := []byte{1, 2, 3, 4}
	frame = append(frame, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
}

func (c *wsClient) read(t *testing.T) (byte, []byte) {
	t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(c.r, head[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	n := int(head[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(c.r, ext[:])
		n = int(binary.BigEndian.Uint16(ext[:]))
	} else if n == 127 {
		var ext [8]byte
		io.ReadFull(c.r, ext[:])
		n = int(binary.BigEndian.Uint64(ext[:]))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c.r, payload); err != nil {
		t.Fatal(err)
	}
	return head[0] & 0x0f, payload
}

func TestWebSocket(t *testing.T) {
	closed := make(chan string, 1)
	app, logs := newLoggedApp()
	app.WebSocket(`/ws/(\w+)`, WebSocket{
		Open: func(c *Conn) { c.WriteText("hello " + c.Request().PathArg(0)) },
		OnMessage: func(c *Conn, data []byte, binary bool) {
			msg := string(data) // copied: data is only valid during the call
			if msg == "panic" {
				panic("ws boom")
			}
			go func() { // answered from a goroutine: posted to the loop thread
				if msg == "close" {
					c.Close(1000, "bye")
					return
				}
				c.WriteMessage([]byte("echo:"+msg), binary)
			}()
		},
		OnClose: func(c *Conn, code int, reason string) { closed <- fmt.Sprintf("%d %s", code, reason) },
	})
	base := start(t, app)

	c := wsDial(t, base, "/ws/gopher")
	if op, p := c.read(t); op != 1 || string(p) != "hello gopher" {
		t.Fatalf("open message: %d %q", op, p)
	}
	c.send(t, 1, []byte("ping1"))
	if op, p := c.read(t); op != 1 || string(p) != "echo:ping1" {
		t.Fatalf("text echo: %d %q", op, p)
	}
	big := strings.Repeat("x", 1000)
	c.send(t, 2, []byte(big))
	if op, p := c.read(t); op != 2 || string(p) != "echo:"+big {
		t.Fatalf("binary echo: %d %d bytes", op, len(p))
	}
	c.send(t, 1, []byte("close"))
	op, p := c.read(t)
	if op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 || string(p[2:]) != "bye" {
		t.Fatalf("close frame: %d %q", op, p)
	}
	c.send(t, 8, p[:2]) // answer the close
	// (The server should now close TCP itself; the ws branch waits for its close timeout
	// instead, so the client closes first to keep the test short.)
	c.conn.Close()
	select {
	case got := <-closed:
		if got != "1000 " {
			t.Fatalf("OnClose got %q", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("OnClose did not run")
	}

	// A panic in a callback closes that connection with 1011; the server goes on.
	c = wsDial(t, base, "/ws/again")
	c.read(t)
	c.send(t, 1, []byte("panic"))
	op, p = c.read(t)
	if op != 8 || binary.BigEndian.Uint16(p) != 1011 {
		t.Fatalf("after a panic: %d %q", op, p)
	}
	c.send(t, 8, p[:2])
	c.conn.Close()
	if got := <-closed; got != "1011 " {
		t.Fatalf("OnClose after the panic got %q", got)
	}
	if !strings.Contains(logs.String(), "panic in WebSocket on_message: ws boom") {
		t.Fatalf("log: %q", logs.String())
	}

	// Not an upgrade: the handshake check answers 400.
	resp, body := do(t, "GET", base+"/ws/plain", nil, nil)
	expect(t, resp, body, 400, "")
}

// MaxMessageMemory bounds the bytes of messages being received over all the route's
// connections: a 150,000-byte message does not fit in 100,000 and closes its connection with
// 1013 (Try Again Later), while MaxMessageSize (1 MiB) alone would take it; a 50,000-byte one
// on a new connection is echoed.
func TestWebSocketMaxMessageMemory(t *testing.T) {
	closed := make(chan int, 2)
	app, _ := newLoggedApp()
	app.WebSocket("/budget", WebSocket{
		OnMessage: func(c *Conn, data []byte, binary bool) { c.WriteMessage(data, binary) },
		OnClose:   func(c *Conn, code int, reason string) { closed <- code },

		MaxMessageSize:   1 << 20,
		MaxMessageMemory: 100000,
	})
	base := start(t, app)

	over := wsDial(t, base, "/budget")
	over.send(t, 2, bytes.Repeat([]byte("o"), 150000))
	op, p := over.read(t)
	if op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1013 {
		t.Fatalf("a message over MaxMessageMemory: want close 1013, got opcode %d, %d bytes", op, len(p))
	}
	if _, err := over.r.ReadByte(); err != io.EOF {
		t.Fatalf("after the close frame: want the end of the TCP stream, got %v", err)
	}
	over.conn.Close()
	select {
	case code := <-closed: // its bytes are given back once it is gone
		if code != 1013 {
			t.Fatalf("OnClose got %d, want 1013", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("OnClose did not run")
	}

	fits := wsDial(t, base, "/budget")
	defer fits.conn.Close()
	msg := bytes.Repeat([]byte("f"), 50000)
	fits.send(t, 2, msg)
	if op, p := fits.read(t); op != 2 || !bytes.Equal(p, msg) {
		t.Fatalf("a message that fits: want its binary echo, got opcode %d, %d bytes", op, len(p))
	}
}

func TestWebSocketOnPing(t *testing.T) {
	app := New()
	app.Logger = log.New(io.Discard, "", 0)
	app.WebSocket("/ws", WebSocket{
		// Answers with what it saw, so the client learns the payload and the order.
		OnPing: func(c *Conn, data []byte) {
			if string(data) == "panic" {
				panic("ping boom")
			}
			c.WriteMessage(data, true)
		},
	})
	c := wsDial(t, start(t, app), "/ws")
	for _, payload := range []string{"ping \x00\xff payload", ""} {
		c.send(t, 9, []byte(payload))
		// The automatic pong comes first, with the same payload; then what OnPing sent.
		if op, p := c.read(t); op != 10 || string(p) != payload {
			t.Fatalf("pong: %d %q, want %q", op, p, payload)
		}
		if op, p := c.read(t); op != 2 || string(p) != payload {
			t.Fatalf("OnPing's answer: %d %q, want %q", op, p, payload)
		}
	}
	// A panic in OnPing closes with 1011, after the pong.
	c.send(t, 9, []byte("panic"))
	if op, p := c.read(t); op != 10 || string(p) != "panic" {
		t.Fatalf("pong: %d %q", op, p)
	}
	if op, p := c.read(t); op != 8 || binary.BigEndian.Uint16(p) != 1011 {
		t.Fatalf("after a panic in OnPing: %d %q", op, p)
	}
	c.conn.Close()
}

// What the callbacks get is theirs to keep: sent to another goroutine (`ch <- data`, the Go
// idiom), it must still hold its bytes after later messages, pings and pongs reused or freed
// eddy's buffers. (A view of eddy's buffer turned to other bytes here, or faulted for a large
// message once its memory was unmapped.)
func TestWebSocketCallbackDataIsKept(t *testing.T) {
	app := New()
	kept := make(chan []byte, 16)
	app.WebSocket("/ws", WebSocket{
		OnMessage: func(c *Conn, data []byte, binary bool) { kept <- data },
		OnPing:    func(c *Conn, data []byte) { kept <- data },
	})
	c := wsDial(t, start(t, app), "/ws")
	sent := [][]byte{
		bytes.Repeat([]byte{'A'}, 1000),
		[]byte("ping payload"),
		bytes.Repeat([]byte{'B'}, 1000),
		bytes.Repeat([]byte{'C'}, 1<<20),
		bytes.Repeat([]byte{'D'}, 1000),
	}
	for i, payload := range sent {
		if i == 1 {
			c.send(t, 9, payload)
			if op, _ := c.read(t); op != 10 {
				t.Fatalf("no pong: opcode %d", op)
			}
		} else {
			c.send(t, 2, payload)
		}
	}
	var got [][]byte
	for range sent {
		select {
		case data := <-kept:
			got = append(got, data)
		case <-time.After(15 * time.Second):
			t.Fatalf("%d of %d callbacks ran", len(got), len(sent))
		}
	}
	c.conn.Close()
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			head := got[i]
			if len(head) > 16 {
				head = head[:16]
			}
			t.Errorf("kept data %d changed after the callback: %d bytes, starting %q", i,
				len(got[i]), head)
		}
	}
}

// clientEvents collects what the client callbacks saw (on the loop thread) for the test.
func clientEvents(t *testing.T, events <-chan string, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case e := <-events:
			got = append(got, e)
		case <-time.After(15 * time.Second):
			t.Fatalf("after %q: no more client callbacks", got)
		}
	}
	return got
}

func TestWebSocketClientRefusedAndPings(t *testing.T) {
	app := New()
	// A Prepare that answers refuses the upgrade with its status.
	app.WebSocket("/private", WebSocket{}).Prepare(func(w *ResponseWriter, r *Request) { w.SendError(403) })
	app.Get("/page", func(w *ResponseWriter, r *Request) { w.WriteString("a page, not a WebSocket") })
	app.WebSocket("/ws", WebSocket{
		Open:      func(c *Conn) { c.Ping([]byte("from the server")) },
		OnPing:    func(c *Conn, data []byte) { c.WriteText("server saw ping: " + string(data)) },
		OnMessage: func(c *Conn, data []byte, binary bool) { c.WriteText("echo: " + string(data)) },
	})
	base := start(t, app)
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	events := make(chan string, 16)
	refusing := func() WebSocketClient {
		return WebSocketClient{
			OnRefused: func(status int, reason string) { events <- fmt.Sprintf("refused %d %s", status, reason) },
			OnError: func(err error) {
				var e Error
				errors.As(err, &e) // a *DialError wraps the code
				events <- fmt.Sprintf("error %v", e.Name())
			},
			WebSocket: WebSocket{Open: func(c *Conn) { events <- "connected" }},
		}
	}
	for path, refusal := range map[string]string{
		"/private": "refused 403 Forbidden", "/page": "refused 200 OK", "/nowhere": "refused 404 Not Found",
	} {
		if err := app.DialWebSocket(wsBase+path, refusing()); err != nil {
			t.Fatal(err)
		}
		if got := clientEvents(t, events, 2); got[0] != refusal || got[1] != "error EDDY_EPROTO" {
			t.Fatalf("%s: %q", path, got)
		}
	}
	// Failures that are not an HTTP answer are no refusal: nothing listening, a bad URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := fmt.Sprintf("ws://%s/", ln.Addr())
	ln.Close()
	for u, want := range map[string]string{closedURL: "error EDDY_ECONNREFUSED", "http://127.0.0.1/": "error EDDY_EINVAL"} {
		if err := app.DialWebSocket(u, refusing()); err != nil {
			t.Fatal(err)
		}
		if got := clientEvents(t, events, 1); got[0] != want {
			t.Fatalf("%s: %q, want %q", u, got, want)
		}
	}

	// A client and a server that ping each other: each OnPing sees the other's payload.
	messages := 0
	err = app.DialWebSocket(wsBase+"/ws", WebSocketClient{WebSocket: WebSocket{
		Open: func(c *Conn) {
			if c.Request() != nil {
				events <- "a client connection has no handshake request"
			}
			c.Ping([]byte("from the client"))
			c.WriteText("hello")
		},
		OnPing: func(c *Conn, data []byte) { events <- "client saw ping: " + string(data) },
		OnMessage: func(c *Conn, data []byte, binary bool) {
			events <- string(data)
			if messages++; messages == 2 {
				c.Close(1000, "done")
			}
		},
		OnClose: func(c *Conn, code int, reason string) { events <- fmt.Sprintf("closed %d %s", code, reason) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The server's ping leaves from its Open, before it reads anything from the client; its
	// answers keep the order of the client's frames (ping, then message). OnClose gets the
	// server's close frame: its echo of the code, without a reason.
	want := []string{"client saw ping: from the server", "server saw ping: from the client", "echo: hello", "closed 1000 "}
	if got := clientEvents(t, events, 4); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}

	// A client still open when the App stops: start's cleanup checks that its handles (the
	// dial's and the connection's) were released all the same.
	err = app.DialWebSocket(wsBase+"/ws", WebSocketClient{WebSocket: WebSocket{
		Open:    func(c *Conn) { events <- "open" },
		OnClose: func(c *Conn, code int, reason string) { events <- "closed" },
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := clientEvents(t, events, 1); got[0] != "open" {
		t.Fatalf("got %q", got)
	}
}

// levelText is a repetitive ~20 KB text message: zlib's default level shrinks it more than 4x,
// level 0 (stored blocks) makes it a little longer.
func levelText() []byte {
	var b bytes.Buffer
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "word%d ", i%50)
	}
	return b.Bytes()
}

// inflate decodes a permessage-deflate payload (raw deflate without its 00 00 FF FF tail; an
// empty final stored block is appended so that the reader ends cleanly).
func inflate(t *testing.T, payload []byte) []byte {
	t.Helper()
	data := append(append([]byte(nil), payload...), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatalf("inflating %d bytes: %v", len(payload), err)
	}
	return out
}

// deflateEcho sends text over a raw socket that offered permessage-deflate, as one compressed
// text frame, and returns the echo's first byte and payload as they came.
func deflateEcho(t *testing.T, base, path string, text []byte) (byte, []byte) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", path, host, key)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("%s: handshake %d %v", path, resp.StatusCode, resp.Header)
	}
	var packed bytes.Buffer
	w, _ := flate.NewWriter(&packed, flate.DefaultCompression)
	w.Write(text)
	w.Flush() // ends with the sync flush's 00 00 FF FF, which the frame leaves out
	c := &wsClient{conn, r}
	payload := packed.Bytes()[:packed.Len()-4]
	frame := []byte{0xC1, 0x80 | 127} // FIN, RSV1 (compressed), text; masked, 64-bit length
	frame = binary.BigEndian.AppendUint64(frame, uint64(len(payload)))
	frame = append(frame, 0, 0, 0, 0) // a zero mask
	if _, err := c.conn.Write(append(frame, payload...)); err != nil {
		t.Fatal(err)
	}
	b0, err := r.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	r.UnreadByte()
	_, echoed := c.read(t)
	return b0, echoed
}

// CompressionLevel and MemLevel set the route's compressor: CompressionStored echoes in stored
// blocks (longer than the message), the default level compresses it more than 4x; both
// inflate to the message.
func TestWebSocketCompressionLevel(t *testing.T) {
	app, _ := newLoggedApp()
	echo := func(c *Conn, data []byte, binary bool) { c.WriteMessage(data, binary) }
	app.WebSocket("/stored", WebSocket{OnMessage: echo, Compression: true,
		CompressionLevel: CompressionStored, MemLevel: 1})
	app.WebSocket("/default", WebSocket{OnMessage: echo, Compression: true})
	base := start(t, app)

	text := levelText()
	sizes := map[string]int{}
	for _, path := range []string{"/stored", "/default"} {
		b0, p := deflateEcho(t, base, path, text)
		if b0 != 0xC1 {
			t.Fatalf("%s: want a final compressed (RSV1) text frame, got first byte %#x", path, b0)
		}
		if got := inflate(t, p); !bytes.Equal(got, text) {
			t.Fatalf("%s: the echo inflates to %d bytes, not the message", path, len(got))
		}
		sizes[path] = len(p)
	}
	if !(sizes["/stored"] > len(text) && len(text) > 4*sizes["/default"]) {
		t.Fatalf("echo sizes %v for a %d-byte message: want stored > message > 4 x default", sizes, len(text))
	}
}

// Out-of-range levels fail the route's Start, or the dial with ErrInvalid.
func TestWebSocketCompressionLevelInvalid(t *testing.T) {
	for _, ws := range []WebSocket{{CompressionLevel: 10}, {MemLevel: -1}, {MemLevel: 10},
		{Compression: true, CompressionLevel: 1 << 40}} {
		app, _ := newLoggedApp()
		app.WebSocket("/ws", ws)
		err := app.Start("127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "WebSocket route /ws: "+ErrInvalid.Error()) {
			t.Fatalf("level %d, mem level %d: Start gave %v", ws.CompressionLevel, ws.MemLevel, err)
		}
		<-app.Done()
	}
	app, _ := newLoggedApp()
	base := start(t, app)
	got := dialOutcome(t, app, "ws"+strings.TrimPrefix(base, "http")+"/ws",
		WebSocketClient{WebSocket: WebSocket{Compression: true, CompressionLevel: 10}})
	sameEvents(t, "a dial with CompressionLevel 10", got, "error EDDY_EINVAL")
}

// deflateReporter serves n connections on a raw listener: each accepts permessage-deflate,
// reads the client's first frame and answers (uncompressed) "<RSV1 bit> <payload length>
// <the message it inflates to>", then closes with 1000.
func deflateReporter(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for i := 0; i < n; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReader(conn)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
					base64.StdEncoding.EncodeToString(sum[:]))
				var head [2]byte
				if _, err := io.ReadFull(r, head[:]); err != nil {
					return
				}
				size := uint64(head[1] & 0x7f)
				if size == 126 {
					var ext [2]byte
					io.ReadFull(r, ext[:])
					size = uint64(binary.BigEndian.Uint16(ext[:]))
				} else if size == 127 {
					var ext [8]byte
					io.ReadFull(r, ext[:])
					size = binary.BigEndian.Uint64(ext[:])
				}
				var mask [4]byte
				io.ReadFull(r, mask[:])
				p := make([]byte, size)
				if _, err := io.ReadFull(r, p); err != nil {
					return
				}
				for j := range p {
					p[j] ^= mask[j%4]
				}
				if head[0]&0x40 != 0 {
					data := append(p, 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
					if p, err = io.ReadAll(flate.NewReader(bytes.NewReader(data))); err != nil {
						p = []byte("inflate: " + err.Error())
					}
				}
				report := append([]byte(fmt.Sprintf("%d %d ", head[0]&0x40, size)), p...)
				frame := binary.BigEndian.AppendUint64([]byte{0x81, 127}, uint64(len(report)))
				conn.Write(append(append(frame, report...), 0x88, 2, 0x03, 0xe8))
				io.ReadFull(r, head[:]) // the client's close
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// A WebSocketClient's CompressionLevel and MemLevel set its compressor: the raw server sees
// stored blocks (longer than the message) with CompressionStored and a frame more than 4x
// smaller at the default level; both inflate to the message.
func TestWebSocketClientCompressionLevel(t *testing.T) {
	app, _ := newLoggedApp()
	start(t, app)
	url := deflateReporter(t, 2)
	text := levelText()
	sizes := map[string]int{}
	for _, c := range []struct {
		name  string
		level int
		mem   int
	}{{"stored", CompressionStored, 1}, {"default", 0, 0}} {
		reports := make(chan string, 2)
		err := app.DialWebSocket(url, WebSocketClient{
			WebSocket: WebSocket{
				Open:             func(conn *Conn) { conn.WriteMessage(text, false) },
				OnMessage:        func(conn *Conn, data []byte, binary bool) { reports <- string(data) },
				OnClose:          func(conn *Conn, code int, reason string) { reports <- fmt.Sprint("closed ", code) },
				Compression:      true,
				CompressionLevel: c.level,
				MemLevel:         c.mem,
			},
			OnError: func(err error) { reports <- "error " + err.Error() },
		})
		if err != nil {
			t.Fatal(err)
		}
		got := clientEvents(t, reports, 2)
		var rsv1, size int
		var message string
		if n, _ := fmt.Sscanf(got[0], "%d %d", &rsv1, &size); n == 2 {
			message = strings.SplitN(got[0], " ", 3)[2]
		}
		if rsv1 != 0x40 || message != string(text) || got[1] != "closed 1000" {
			t.Fatalf("%s: the server saw RSV1 %#x, a %d-byte frame inflating to the message: %v; then %q",
				c.name, rsv1, size, message == string(text), got[1])
		}
		sizes[c.name] = size
	}
	if !(sizes["stored"] > len(text) && len(text) > 4*sizes["default"]) {
		t.Fatalf("client frame sizes %v for a %d-byte message: want stored > message > 4 x default", sizes, len(text))
	}
}
