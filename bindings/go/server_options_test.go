package eddy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// rawConn is a loopback connection to base with a generous deadline on every read and write:
// the tests wait for events (a response, the close), never for an amount of time.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

func (c *rawConn) send(t *testing.T, raw string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
}

// response reads one response and its body.
func (c *rawConn) response(t *testing.T) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a body: %v", err)
	}
	return resp, string(b)
}

// closed waits until the server closed the connection (EOF or a reset; a timeout fails).
func (c *rawConn) closed(t *testing.T) {
	t.Helper()
	b, err := c.r.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the server did not close the connection: byte %q, %v", b, err)
	}
}

// exchange sends one raw request on a fresh connection and reads the response.
func exchange(t *testing.T, base, raw string) (*http.Response, string) {
	t.Helper()
	c := dialRaw(t, base)
	c.send(t, raw)
	return c.response(t)
}

func ipApp() *App {
	app := New()
	app.Get(`/ip`, func(w *ResponseWriter, r *Request) { w.WriteString(r.RemoteIP() + " " + r.Scheme()) })
	return app
}

func TestServerXHeadersTrustedProxy(t *testing.T) {
	t.Run("trusted", func(t *testing.T) { xheadersTrusted(t) })
	t.Run("untrusted", func(t *testing.T) {
		// The peer (127.0.0.1) is not one of the trusted proxies: its headers are ignored.
		untrusted := ipApp()
		untrusted.SetXHeaders(true)
		untrusted.AddTrustedProxy("192.0.2.1")
		base := start(t, untrusted)
		resp, body := do(t, "GET", base+"/ip", nil, map[string]string{
			"X-Real-IP": "203.0.113.7", "X-Forwarded-Proto": "https"})
		expect(t, resp, body, 200, "127.0.0.1 http")
	})
	t.Run("off", func(t *testing.T) {
		// Without xheaders (the default) nobody is believed.
		base := start(t, ipApp())
		resp, body := do(t, "GET", base+"/ip", nil, map[string]string{"X-Real-IP": "203.0.113.7"})
		expect(t, resp, body, 200, "127.0.0.1 http")
	})
}

func TestServerProtocol(t *testing.T) {
	// Every request's scheme (a proxy terminating TLS in front); a scheme the proxy names
	// (xheaders) still wins.
	app := ipApp()
	app.SetProtocol("https")
	app.SetXHeaders(true)
	base := start(t, app)
	resp, body := do(t, "GET", base+"/ip", nil, nil)
	expect(t, resp, body, 200, "127.0.0.1 https")
	resp, body = do(t, "GET", base+"/ip", nil, map[string]string{"X-Forwarded-Proto": "http"})
	expect(t, resp, body, 200, "127.0.0.1 http")
}

func xheadersTrusted(t *testing.T) {
	trusting := ipApp()
	trusting.SetXHeaders(true)
	trusting.AddTrustedProxy("192.0.2.1", "127.0.0.1")
	base := start(t, trusting)
	resp, body := do(t, "GET", base+"/ip", nil, map[string]string{"X-Real-IP": "203.0.113.7"})
	expect(t, resp, body, 200, "203.0.113.7 http")
	// X-Forwarded-For is read from the right, skipping the trusted proxies.
	resp, body = do(t, "GET", base+"/ip", nil, map[string]string{
		"X-Forwarded-For": "198.51.100.1, 127.0.0.1", "X-Forwarded-Proto": "https"})
	expect(t, resp, body, 200, "198.51.100.1 https")
	resp, body = do(t, "GET", base+"/ip", nil, nil)
	expect(t, resp, body, 200, "127.0.0.1 http")
}

func TestServerHeaderLimits(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("ok") })
	app.SetMaxHeaderSize(1024)
	app.SetMaxHeaderFields(5)
	base := start(t, app)

	resp, body := exchange(t, base, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2000)+"\r\n\r\n")
	expect(t, resp, body, 431, "")
	resp, body = exchange(t, base, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 900)+"\r\n\r\n")
	expect(t, resp, body, 200, "ok")

	fields := func(n int) string { // n field lines, Host among them
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "X-%d: v\r\n", i)
		}
		b.WriteString("\r\n")
		return b.String()
	}
	resp, body = exchange(t, base, fields(5))
	expect(t, resp, body, 200, "ok")
	c := dialRaw(t, base)
	c.send(t, fields(6))
	resp, body = c.response(t)
	expect(t, resp, body, 431, "")
	c.closed(t)
}

// Request bodies held in memory over all connections: one whose Content-Length does not fit
// in the budget gets 503 and close before its body is sent; one that fits is served.
func TestServerMaxBodyMemory(t *testing.T) {
	app := New()
	app.Post(`/echo`, func(w *ResponseWriter, r *Request) { fmt.Fprint(w, len(r.Body())) })
	app.SetMaxBodyMemory(100000)
	base := start(t, app)

	c := dialRaw(t, base)
	c.send(t, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 150000\r\nExpect: 100-continue\r\n\r\n")
	resp, body := c.response(t) // a 100 Continue first would be read here instead
	expect(t, resp, body, 503, "")
	c.closed(t)
	resp, body = do(t, "POST", base+"/echo", strings.NewReader(strings.Repeat("a", 50000)), nil)
	expect(t, resp, body, 200, "50000")
}

func TestServerHeaderTimeout(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("ok") })
	app.SetHeaderTimeout(0.2)
	base := start(t, app)

	c := dialRaw(t, base)
	c.send(t, "GET / HTTP/1.1\r\nHost: x\r\n") // the head never ends
	resp, body := c.response(t)
	expect(t, resp, body, 408, "")
	c.closed(t)
	// A whole head is answered as usual.
	resp, body = exchange(t, base, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	expect(t, resp, body, 200, "ok")
}

func TestServerNoKeepAlive(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("ok") })
	app.SetNoKeepAlive(true)
	base := start(t, app)
	c := dialRaw(t, base)
	c.send(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response(t)
	expect(t, resp, body, 200, "ok")
	if !resp.Close { // net/http reports "Connection: close" here (and drops the field)
		t.Fatalf("no Connection: close (headers %v)", resp.Header)
	}
	c.closed(t)
}

// One connection at most: a new one closes the idle keep-alive one.
func TestServerMaxConnections(t *testing.T) {
	limited := New()
	limited.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("ok") })
	limited.SetMaxConnections(1)
	base := start(t, limited)
	first := dialRaw(t, base)
	first.send(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := first.response(t)
	expect(t, resp, body, 200, "ok")
	resp, body = exchange(t, base, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	expect(t, resp, body, 200, "ok")
	first.closed(t)
}

func TestServerDecompressAndServerHeader(t *testing.T) {
	app := ipApp()
	app.Post(`/echo`, func(w *ResponseWriter, r *Request) {
		w.WriteString(r.Header("X-Consumed-Content-Encoding") + ":" + string(r.Body()))
	})
	app.SetDecompressRequest(true)
	app.SetServerHeader("test-server/1")
	base := start(t, app)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello, decompressed"))
	zw.Close()
	resp, body := do(t, "POST", base+"/echo", bytes.NewReader(gz.Bytes()),
		map[string]string{"Content-Encoding": "gzip"})
	expect(t, resp, body, 200, "gzip:hello, decompressed")
	if got := resp.Header.Get("Server"); got != "test-server/1" {
		t.Fatalf("Server: %q", got)
	}
}

// SetBodyArguments(false): form bodies reach the handler undecoded; by default a malformed
// one gets 400.
func TestServerBodyArguments(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("on=", on), func(t *testing.T) {
			app := New()
			app.Post(`/form`, func(w *ResponseWriter, r *Request) {
				a, ok := r.BodyArgument("a")
				if !ok {
					a = "-"
				}
				w.WriteString(a + ":" + string(r.Body()))
			})
			if !on {
				app.SetBodyArguments(false)
			}
			base := start(t, app)
			resp, body := do(t, "POST", base+"/form", strings.NewReader("not multipart"),
				map[string]string{"Content-Type": "multipart/form-data"})
			if on {
				expect(t, resp, body, 400, "")
			} else {
				expect(t, resp, body, 200, "-:not multipart")
			}
			resp, body = do(t, "POST", base+"/form", strings.NewReader("a=1"),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			if on {
				expect(t, resp, body, 200, "1:a=1")
			} else {
				expect(t, resp, body, 200, "-:a=1")
			}
		})
	}
}

func TestServerProxyProtocolWithoutServerHeader(t *testing.T) {
	quiet := ipApp()
	quiet.SetServerHeader("")
	quiet.SetProxyProtocol(true)
	base := start(t, quiet)
	resp, body := exchange(t, base, "PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\nGET /ip HTTP/1.1\r\nHost: x\r\n\r\n")
	expect(t, resp, body, 200, "203.0.113.9 http")
	if got, ok := resp.Header["Server"]; ok {
		t.Fatalf("Server header %q sent, want none", got)
	}
	// Without the PROXY header the connection is closed unanswered.
	c := dialRaw(t, base)
	c.send(t, "GET /ip HTTP/1.1\r\nHost: x\r\n\r\n")
	c.closed(t)
}

// SetProxyProtocol with SetTLS: a proxy passing TLS through sends the PROXY header, then the
// client's handshake, on one connection; the header's address is the request's.
func TestServerProxyProtocolInFrontOfTLS(t *testing.T) {
	file := makeCerts(t)
	app := ipApp()
	app.SetTLS(ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	app.SetProxyProtocol(true)
	base := start(t, app)
	pem, err := os.ReadFile(file("server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	raw, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := raw.Write([]byte("PROXY TCP4 203.0.113.9 127.0.0.1 40000 443\r\n")); err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if _, err := conn.Write([]byte("GET /ip HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatalf("TLS after the PROXY header: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "203.0.113.9 https" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// ServeAll: a method beyond the standard ones needs AllowMethods.
func TestServerAllowMethods(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			raw := New()
			raw.ServeAll(func(w *ResponseWriter, r *Request) { w.WriteString(r.Method()) })
			if allow {
				raw.AllowMethods("PROPFIND", "PURGE")
			}
			base := start(t, raw)
			resp, body := exchange(t, base, "PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n")
			if allow {
				expect(t, resp, body, 200, "PROPFIND")
			} else {
				expect(t, resp, body, 501, "")
			}
		})
	}
}

func TestServerOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*App)
		want  error
		names string
	}{
		{"header size", func(a *App) { a.SetMaxHeaderSize(10) }, ErrInvalid, "SetMaxHeaderSize(10)"},
		{"header fields", func(a *App) { a.SetMaxHeaderFields(0) }, ErrInvalid, "SetMaxHeaderFields(0)"},
		{"negative fields", func(a *App) { a.SetMaxHeaderFields(-1) }, ErrInvalid, "SetMaxHeaderFields(-1)"},
		{"negative body", func(a *App) { a.SetMaxBodySize(-1) }, ErrInvalid, "SetMaxBodySize(-1)"},
		{"negative body memory", func(a *App) { a.SetMaxBodyMemory(-1) }, ErrInvalid, "SetMaxBodyMemory(-1)"},
		{"negative connections", func(a *App) { a.SetMaxConnections(-2) }, ErrInvalid, "SetMaxConnections(-2)"},
		{"header timeout", func(a *App) { a.SetHeaderTimeout(-1) }, ErrInvalid, "SetHeaderTimeout(-1)"},
		{"body timeout", func(a *App) { a.SetBodyTimeout(-0.5) }, ErrInvalid, "SetBodyTimeout(-0.5)"},
		{"body min rate", func(a *App) { a.SetBodyMinRate(-1, 20) }, ErrInvalid, "SetBodyMinRate(-1, 20)"},
		{"idle timeout", func(a *App) { a.SetIdleTimeout(-1) }, ErrInvalid, "SetIdleTimeout(-1)"},
		{"proxy", func(a *App) { a.AddTrustedProxy("127.0.0.1", "not-an-ip") }, ErrInvalid, `AddTrustedProxy("not-an-ip")`},
		{"proxy with NUL", func(a *App) { a.AddTrustedProxy("127.0.0.1\x00x") }, ErrInvalid, "AddTrustedProxy"},
		{"server header", func(a *App) { a.SetServerHeader("a\r\nX-Evil: 1") }, ErrInvalid, "SetServerHeader"},
		{"method", func(a *App) { a.AllowMethods("CONNECT") }, ErrInvalid, `AllowMethods("CONNECT")`},
		{"protocol", func(a *App) { a.SetProtocol("ftp") }, ErrInvalid, `SetProtocol("ftp")`},
	} {
		for _, raw := range []bool{false, true} {
			app := New()
			if raw {
				app.ServeAll(func(w *ResponseWriter, r *Request) {})
			} else {
				app.Get(`/`, func(w *ResponseWriter, r *Request) {})
			}
			app.SetXHeaders(true) // valid options around the refused one do not hide it
			tc.set(app)
			err := app.Start("127.0.0.1:0")
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.names) {
				t.Errorf("%s (ServeAll %v): Start gave %v, want %v naming %s", tc.name, raw, err, tc.want, tc.names)
			}
			select {
			case <-app.Done():
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: the failed App was not released", tc.name)
			}
		}
	}
	noHandlesLeft(t, "after failed starts")
}

// AddServer: one App on plain HTTP (its own server, every default) and HTTPS (a Server of its
// own with its own Server header and body limit) at once, and a third server with xheaders.
// Each serves the App's routes with only its own options: nothing carried from one to another.
func TestAddServerKeepsItsOwnOptions(t *testing.T) {
	file := makeCerts(t)
	app := ipApp()
	app.Post(`/echo`, func(w *ResponseWriter, r *Request) { w.WriteString(string(r.Body())) })
	https := app.AddServer("127.0.0.1:0")
	https.SetTLS(ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	https.SetServerHeader("tls/1")
	https.SetMaxBodySize(10)
	trusting := app.AddServer("127.0.0.1:0")
	trusting.SetXHeaders(true)
	if https.Port() != 0 {
		t.Fatalf("Port before Start: %d", https.Port())
	}
	plain := start(t, app)
	if https.Port() == 0 || trusting.Port() == 0 || https.Port() == app.Port() || trusting.Port() == https.Port() {
		t.Fatalf("ports: app %d, https %d, trusting %d", app.Port(), https.Port(), trusting.Port())
	}
	trustingBase := fmt.Sprintf("http://127.0.0.1:%d", trusting.Port())

	// The HTTPS server: its Server header, 413 over 10 bytes, X-Real-IP ignored.
	pem, err := os.ReadFile(file("server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tlsClient := &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	httpsDo := func(method, path, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", https.Port(), path),
			strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Real-IP", "203.0.113.7")
		resp, err := tlsClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s over TLS: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := httpsDo("GET", "/ip", "")
	expect(t, resp, body, 200, "127.0.0.1 https")
	if got := resp.Header.Get("Server"); got != "tls/1" {
		t.Fatalf("HTTPS Server header %q, want tls/1", got)
	}
	resp, body = httpsDo("POST", "/echo", "0123456789")
	expect(t, resp, body, 200, "0123456789")
	resp, body = httpsDo("POST", "/echo", "0123456789a")
	expect(t, resp, body, 413, "")

	// The App's own server and the third one: plain HTTP, the default Server header, an
	// 11-byte body; X-Real-IP believed on the third only.
	for _, base := range []string{plain, trustingBase} {
		resp, body = do(t, "POST", base+"/echo", strings.NewReader("0123456789a"), nil)
		expect(t, resp, body, 200, "0123456789a")
		if got := resp.Header.Get("Server"); !strings.HasPrefix(got, "eddy/") {
			t.Fatalf("%s: Server header %q, want the default", base, got)
		}
	}
	realIP := map[string]string{"X-Real-IP": "203.0.113.7"}
	resp, body = do(t, "GET", plain+"/ip", nil, realIP)
	expect(t, resp, body, 200, "127.0.0.1 http")
	resp, body = do(t, "GET", trustingBase+"/ip", nil, realIP)
	expect(t, resp, body, 200, "203.0.113.7 http")
}

// RemoveServer frees one AddServer server while the App and its other servers go on (as Rust's
// App::remove_server over eddy_app_remove_server); a second removal, nil, or another App's
// server is ErrInvalid; before Start the server is just not made.
func TestRemoveServer(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("hi") })
	extra := app.AddServer("127.0.0.1:0")
	never := app.AddServer("127.0.0.1:0")
	if err := app.RemoveServer(never); err != nil {
		t.Fatalf("RemoveServer before Start: %v", err)
	}
	wantError(t, "RemoveServer twice before Start", app.RemoveServer(never), ErrInvalid)
	base := start(t, app)
	if never.Port() != 0 {
		t.Fatalf("a server removed before Start listens on %d", never.Port())
	}
	extraBase := fmt.Sprintf("http://127.0.0.1:%d", extra.Port())
	resp, body := do(t, "GET", extraBase+"/", nil, nil)
	expect(t, resp, body, 200, "hi")

	if err := app.RemoveServer(extra); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	if c, err := net.DialTimeout("tcp", extraBase[len("http://"):], 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("the removed server still accepts connections")
	}
	resp, body = do(t, "GET", base+"/", nil, nil)
	expect(t, resp, body, 200, "hi") // the App's own server goes on
	wantError(t, "RemoveServer twice", app.RemoveServer(extra), ErrInvalid)
	wantError(t, "RemoveServer(nil)", app.RemoveServer(nil), ErrInvalid)
	other := New()
	wantError(t, "another App's server", app.RemoveServer(other.AddServer("127.0.0.1:0")), ErrInvalid)
	// Shutdown no longer waits for the removed server.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// AddServer's errors: Start names the server's address and wraps eddy's error; nothing is
// served then.
func TestAddServerErrors(t *testing.T) {
	used, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	for _, tc := range []struct {
		name, addr string
		set        func(*Server)
		want       string
	}{
		{"bad option", "127.0.0.1:0", func(s *Server) { s.SetMaxHeaderSize(10) }, `AddServer("127.0.0.1:0"): eddy: SetMaxHeaderSize(10)`},
		{"bad port", "127.0.0.1:70000", func(*Server) {}, `AddServer("127.0.0.1:70000"): eddy: bad port`},
		{"no port", "127.0.0.1", func(*Server) {}, `AddServer("127.0.0.1")`},
		{"port in use", used.Addr().String(), func(*Server) {}, fmt.Sprintf("AddServer(%q)", used.Addr())},
	} {
		app := ipApp()
		tc.set(app.AddServer(tc.addr))
		err := app.Start("127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: Start: %v, want %q", tc.name, err, tc.want)
		}
		if tc.name == "port in use" && !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("port in use: %v, want ErrAddrInUse", err)
		}
		<-app.Done()
	}
	raw := New()
	raw.ServeAll(func(w *ResponseWriter, r *Request) {})
	raw.AddServer("127.0.0.1:0")
	if err := raw.Start("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "not ServeAll") {
		t.Fatalf("ServeAll with AddServer: Start: %v", err)
	}
	<-raw.Done()
}
