package eddy

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dialFailure dials url with cl and returns the error OnError got (failing the test when the
// connection opens or nothing comes within 20 s).
func dialFailure(t *testing.T, app *App, url string, cl WebSocketClient) error {
	t.Helper()
	failed := make(chan error, 1)
	cl.OnError = func(err error) { failed <- err }
	cl.Open = func(c *Conn) {
		c.Close(1000, "")
		failed <- nil
	}
	if err := app.DialWebSocket(url, cl); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		if err == nil {
			t.Fatalf("%s: connected", url)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no outcome", url)
		return nil
	}
}

// wantDialError checks that err is a *DialError with code and detail (and that errors.Is
// still sees the code through it).
func wantDialError(t *testing.T, what string, err error, code Error, detail string) {
	t.Helper()
	var de *DialError
	if !errors.As(err, &de) || !errors.Is(err, code) {
		t.Fatalf("%s: %T %v, want a *DialError with %v", what, err, err, code)
	}
	if de.Code != code || de.Detail != detail || err.Error() != code.Error()+": "+detail {
		t.Fatalf("%s: code %v, detail %q, text %q; want the detail %q", what, de.Code, de.Detail,
			err.Error(), detail)
	}
}

func TestDialWebSocketErrorDetail(t *testing.T) {
	file := makeCerts(t)
	app := New()
	app.SetTLS(ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	app.WebSocket("/ws", WebSocket{})
	// A Prepare that answers refuses the upgrade with its status.
	app.WebSocket("/private", WebSocket{}).Prepare(func(w *ResponseWriter, r *Request) { w.SendError(403) })
	wss := "wss" + strings.TrimPrefix(start(t, app), "http")
	// wss:// to a certificate nobody trusts: ErrTLS, and OpenSSL's reason through
	// eddy_websocket_connect_error_detail (the words of a FetchError's detail).
	wantDialError(t, "untrusted", dialFailure(t, app, wss+"/ws", WebSocketClient{}), ErrTLS,
		"certificate verification: self-signed certificate")
	// A handshake the server refuses: ErrProto, with the server's answer.
	wantDialError(t, "refused", dialFailure(t, app, wss+"/private",
		WebSocketClient{TLS: ClientTLS{CAFile: file("server.crt")}}), ErrProto, "the server answered 403 Forbidden")
	// Nothing listening: the address that refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	wantDialError(t, "closed port", dialFailure(t, app, "ws://"+addr+"/", WebSocketClient{}),
		ErrConnRefused, "connect to "+addr+": Connection refused")
	// Refused by DialWebSocket itself (a bad URL): nothing beyond the code, a bare Error.
	if err := dialFailure(t, app, "http://127.0.0.1/", WebSocketClient{}); err != ErrInvalid {
		t.Fatalf("bad URL: %T %v, want the bare ErrInvalid", err, err)
	}
}

// WebSocketClient.UnixSocket (eddy_ws_options_set_unix_socket): the handshake and messages go
// over the App's Unix socket, the URL giving Host and target; a missing path is ErrNotFound
// with the socket named, a path no socket address holds ErrInvalid.
func TestDialWebSocketOverUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ws.sock")
	app := New()
	app.WebSocket("/ws", WebSocket{
		Open:      func(c *Conn) { c.WriteText(c.Request().Host() + " " + c.Request().URI()) },
		OnMessage: func(c *Conn, data []byte, binary bool) { c.WriteMessage(data, binary) },
	})
	app.AddServer("unix:" + path)
	start(t, app)
	got := make(chan string, 4)
	cl := WebSocketClient{UnixSocket: path, ConnectTimeout: 10 * time.Second,
		OnError: func(err error) { got <- "error " + err.Error() }}
	n := 0
	cl.Open = func(c *Conn) { c.WriteText("over the socket") }
	cl.OnMessage = func(c *Conn, data []byte, binary bool) {
		got <- string(data)
		if n++; n == 2 {
			c.Close(1000, "")
		}
	}
	if err := app.DialWebSocket("ws://app.invalid/ws?x=1", cl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"app.invalid /ws?x=1", "over the socket"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	missing := path + ".missing"
	wantDialError(t, "missing socket", dialFailure(t, app, "ws://localhost/ws",
		WebSocketClient{UnixSocket: missing}), ErrNotFound,
		"connect to unix:"+missing+": No such file or directory")
	err := dialFailure(t, app, "ws://localhost/ws", WebSocketClient{UnixSocket: "/" + strings.Repeat("a", 200)})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "UnixSocket") {
		t.Fatalf("too long: %v, want ErrInvalid naming UnixSocket", err)
	}
}
