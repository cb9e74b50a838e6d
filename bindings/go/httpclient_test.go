package eddy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clientApp serves a few routes for the client to fetch and returns it started, with an
// HTTPClient on its loop (closed by the App's stop at the end of the test).
func clientApp(t *testing.T, opts HTTPClientOptions) (*App, *HTTPClient, string) {
	t.Helper()
	app := New()
	app.Route(`/echo`).
		HandleFunc("GET", echoHandler).
		HandleFunc("POST", echoHandler)
	app.Get(`/redirect`, func(w *ResponseWriter, r *Request) { w.Redirect("/echo?from=redirect", 302) })
	app.Get(`/big/(\d+)`, func(w *ResponseWriter, r *Request) {
		var n int
		fmt.Sscan(r.PathArg(0), &n)
		w.WriteString(strings.Repeat("x", n))
	})
	app.Route(`/head`).HandleFunc("GET", headHandler).HandleFunc("POST", headHandler)
	app.Get(`/pieces`, func(w *ResponseWriter, r *Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "piece %d;", i)
			w.Flush()
		}
	})
	base := start(t, app)
	c, err := app.NewHTTPClient(opts)
	if err != nil {
		t.Fatalf("NewHTTPClient: %v", err)
	}
	return app, c, base
}

// echoHandler answers with the method, the X-Test values, the query and the body, and a
// repeated response header.
func echoHandler(w *ResponseWriter, r *Request) {
	var xs []string
	for _, f := range r.Headers() {
		if strings.EqualFold(f.Name, "X-Test") {
			xs = append(xs, f.Value)
		}
	}
	w.AddHeader("X-Multi", "one")
	w.AddHeader("X-Multi", "two")
	fmt.Fprintf(w, "%s x=%s q=%s body=%s", r.Method(), strings.Join(xs, ","), r.RawQuery(), r.Body())
	if expect, ok := r.LookupHeader("Expect"); ok {
		fmt.Fprintf(w, " expect=%s", expect)
	}
}

// headHandler answers with the request fields the client options decide, and the body.
func headHandler(w *ResponseWriter, r *Request) {
	for _, name := range []string{"Host", "User-Agent", "X-Default", "X-Own", "Transfer-Encoding",
		"Content-Length"} {
		fmt.Fprintf(w, "%s=%s\n", name, r.Header(name))
	}
	fmt.Fprintf(w, "body=%s", r.Body())
}

// fetch runs req through Do with a bound on the wait.
func fetch(t *testing.T, c *HTTPClient, req *HTTPRequest) (*HTTPResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Do(ctx, req)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: no outcome in 20 s", req.URL)
	}
	return resp, err
}

func mustFetch(t *testing.T, c *HTTPClient, req *HTTPRequest) *HTTPResponse {
	t.Helper()
	resp, err := fetch(t, c, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp
}

func wantError(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// silentServer accepts connections and never answers; they close when the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// rawServer runs answer on each connection after reading the request head.
func rawServer(t *testing.T, answer func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				buf := make([]byte, 4096)
				var head []byte
				for !bytes.Contains(head, []byte("\r\n\r\n")) {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					head = append(head, buf[:n]...)
				}
				answer(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestHTTPClientGetPostAndHeaders(t *testing.T) {
	_, c, base := clientApp(t, HTTPClientOptions{})
	req := &HTTPRequest{URL: base + "/echo?a=1"}
	req.Header.Add("X-Test", "first")
	req.Header.Add("x-test", "second")
	resp := mustFetch(t, c, req)
	if resp.Code != 200 || resp.Reason != "OK" || string(resp.Body) != "GET x=first,second q=a=1 body=" {
		t.Fatalf("GET: %d %q %q", resp.Code, resp.Reason, resp.Body)
	}
	if got := resp.Header.Values("x-multi"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("repeated response header: %q in %v", got, resp.Header)
	}
	if resp.Header.Get("CONTENT-LENGTH") != fmt.Sprint(len(resp.Body)) || resp.Request != req {
		t.Fatalf("Content-Length %q for %d bytes; Request %p", resp.Header.Get("Content-Length"), len(resp.Body), resp.Request)
	}
	if resp.EffectiveURL != req.URL || resp.Redirects != 0 || resp.Reused {
		t.Fatalf("first GET: effective %q, %d redirects, reused %v", resp.EffectiveURL, resp.Redirects, resp.Reused)
	}

	post := &HTTPRequest{Method: "POST", URL: base + "/echo", Body: []byte("payload \x00 bytes")}
	resp = mustFetch(t, c, post)
	if resp.Code != 200 || string(resp.Body) != "POST x= q= body=payload \x00 bytes" {
		t.Fatalf("POST: %d %q", resp.Code, resp.Body)
	}
	if !resp.Reused {
		t.Fatalf("the second request did not reuse the pooled connection")
	}
	// With Expect: 100-continue the body still arrives.
	post.Expect100Continue = true
	if resp = mustFetch(t, c, post); string(resp.Body) != "POST x= q= body=payload \x00 bytes expect=100-continue" {
		t.Fatalf("POST with Expect: 100-continue: %q", resp.Body)
	}

	// 404 is a response, not an error.
	resp = mustFetch(t, c, &HTTPRequest{URL: base + "/missing"})
	if resp.Code != 404 || resp.Reason != "Not Found" {
		t.Fatalf("404: %d %q", resp.Code, resp.Reason)
	}

	// Refused at once: a bad URL, a bad header.
	_, err := fetch(t, c, &HTTPRequest{URL: "ftp://127.0.0.1/"})
	wantError(t, "ftp URL", err, ErrInvalid)
	bad := &HTTPRequest{URL: base + "/echo"}
	bad.Header.Add("X-Bad", "line\r\nInjected: yes")
	_, err = fetch(t, c, bad)
	wantError(t, "CR/LF in a header", err, ErrInvalid)
}

func TestHTTPClientRedirects(t *testing.T) {
	_, c, base := clientApp(t, HTTPClientOptions{})
	resp := mustFetch(t, c, &HTTPRequest{URL: base + "/redirect"})
	if resp.Code != 200 || string(resp.Body) != "GET x= q=from=redirect body=" || resp.Redirects != 1 ||
		resp.EffectiveURL != base+"/echo?from=redirect" {
		t.Fatalf("followed: %d %q, %d redirects, effective %q", resp.Code, resp.Body, resp.Redirects, resp.EffectiveURL)
	}
	resp = mustFetch(t, c, &HTTPRequest{URL: base + "/redirect", NoFollowRedirects: true})
	if resp.Code != 302 || resp.Header.Get("Location") != "/echo?from=redirect" || resp.Redirects != 0 {
		t.Fatalf("not followed: %d Location %q, %d redirects", resp.Code, resp.Header.Get("Location"), resp.Redirects)
	}
}

func TestHTTPClientNetworkErrors(t *testing.T) {
	_, c, base := clientApp(t, HTTPClientOptions{})
	// A port nobody listens on: bind one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	_, err = fetch(t, c, &HTTPRequest{URL: closed})
	wantError(t, "closed port", err, ErrConnRefused)

	silent := silentServer(t)
	_, err = fetch(t, c, &HTTPRequest{URL: silent + "/", RequestTimeout: 300 * time.Millisecond})
	wantError(t, "server that never answers", err, ErrTimedOut)

	garbage := rawServer(t, func(c net.Conn) { c.Write([]byte("NOT HTTP AT ALL\r\n\r\n")) })
	_, err = fetch(t, c, &HTTPRequest{URL: garbage + "/"})
	wantError(t, "malformed response", err, ErrProto)
	cut := rawServer(t, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"))
	})
	_, err = fetch(t, c, &HTTPRequest{URL: cut + "/"})
	wantError(t, "connection closed mid-body", err, ErrEOF)

	_, err = fetch(t, c, &HTTPRequest{URL: base + "/big/5000", MaxBodySize: 4096})
	wantError(t, "body over MaxBodySize", err, ErrTooBig)
	if resp := mustFetch(t, c, &HTTPRequest{URL: base + "/big/4096", MaxBodySize: 4096}); len(resp.Body) != 4096 {
		t.Fatalf("body at MaxBodySize: %d bytes", len(resp.Body))
	}
}

func TestHTTPClientGzip(t *testing.T) {
	text := strings.Repeat("compressible text ", 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Write([]byte("plain"))
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write([]byte(text))
		gz.Close()
	}))
	defer srv.Close()
	_, c, _ := clientApp(t, HTTPClientOptions{})
	resp := mustFetch(t, c, &HTTPRequest{URL: srv.URL + "/"})
	if string(resp.Body) != text {
		t.Fatalf("decoded body: %d bytes %.40q", len(resp.Body), resp.Body)
	}
	resp = mustFetch(t, c, &HTTPRequest{URL: srv.URL + "/", NoDecompressResponse: true})
	if string(resp.Body) != "plain" {
		t.Fatalf("without decompression: %.40q", resp.Body)
	}
}

func TestHTTPClientHTTPS(t *testing.T) {
	file := makeCerts(t)
	// The client runs on the loop of the HTTPS app it fetches from (one App per test: start's
	// check of live handles counts every App's).
	app, https, _ := tlsApp(t, ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	for what, cfg := range map[string]ClientTLS{
		"no verification": {InsecureSkipVerify: true},
		"CAFile":          {CAFile: file("server.crt")},
	} {
		c, err := app.NewHTTPClient(HTTPClientOptions{TLS: cfg})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		resp := mustFetch(t, c, &HTTPRequest{URL: https + "/page?x=1"})
		if resp.Code != 200 || string(resp.Body) != "https /page?x=1" {
			t.Fatalf("%s: %d %q", what, resp.Code, resp.Body)
		}
		c.Close()
	}
	c, err := app.NewHTTPClient(HTTPClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetch(t, c, &HTTPRequest{URL: https + "/page"})
	wantError(t, "self-signed certificate, verification on", err, ErrTLS)
	_, err = app.NewHTTPClient(HTTPClientOptions{TLS: ClientTLS{CAFile: file("missing.crt")}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "missing.crt") {
		t.Fatalf("missing CA file: %v", err)
	}
	_, err = app.NewHTTPClient(HTTPClientOptions{Proxy: "no-port"})
	wantError(t, "proxy without a port", err, ErrInvalid)
}

func TestHTTPClientStreaming(t *testing.T) {
	app, c, base := clientApp(t, HTTPClientOptions{})
	var mu sync.Mutex
	var events []string
	var streamed bytes.Buffer
	onLoop := true
	req := &HTTPRequest{
		URL: base + "/pieces",
		OnHeaders: func(head *HTTPResponse) {
			mu.Lock()
			defer mu.Unlock()
			onLoop = onLoop && app.onLoopThread()
			events = append(events, fmt.Sprintf("headers %d %s", head.Code, head.Header.Get("Transfer-Encoding")))
		},
		OnChunk: func(chunk []byte) {
			mu.Lock()
			defer mu.Unlock()
			onLoop = onLoop && app.onLoopThread()
			if len(events) == 1 {
				events = append(events, "chunk")
			}
			streamed.Write(chunk)
		},
	}
	resp := mustFetch(t, c, req)
	mu.Lock()
	defer mu.Unlock()
	if resp.Code != 200 || len(resp.Body) != 0 || streamed.String() != "piece 0;piece 1;piece 2;" {
		t.Fatalf("streamed: %d, body %q, chunks %q", resp.Code, resp.Body, streamed.String())
	}
	if len(events) != 2 || events[0] != "headers 200 chunked" || !onLoop {
		t.Fatalf("events %q, on the loop thread: %v", events, onLoop)
	}

	// A panic in OnChunk is logged and cancels the fetch; one in done is logged; the loop
	// goes on.
	logs := &lockedBuffer{}
	app.Call(func() { app.Logger = log.New(logs, "", 0) })
	_, err := fetch(t, c, &HTTPRequest{URL: base + "/pieces", OnChunk: func([]byte) { panic("chunk boom") }})
	wantError(t, "panic in OnChunk", err, ErrCanceled)
	after := make(chan string, 1)
	if _, err := c.Fetch(&HTTPRequest{URL: base + "/echo"}, func(*HTTPResponse, error) {
		defer func() { after <- "panicked" }()
		panic("done boom")
	}); err != nil {
		t.Fatal(err)
	}
	<-after
	c.Fetch(&HTTPRequest{URL: base + "/echo"}, func(resp *HTTPResponse, err error) { after <- fmt.Sprint(resp.Code, err) })
	if got := <-after; got != "200 <nil>" {
		t.Fatalf("after a panic in done: %s", got)
	}
	if l := logs.String(); !strings.Contains(l, "chunk boom") || !strings.Contains(l, "done boom") {
		t.Fatalf("log: %q", l)
	}
}

func TestHTTPClientFetchCallbackAndCancel(t *testing.T) {
	app, c, base := clientApp(t, HTTPClientOptions{})
	silent := silentServer(t)
	type outcome struct {
		code   int
		err    error
		onLoop bool
	}
	results := make(chan outcome, 4)
	done := func(resp *HTTPResponse, err error) {
		o := outcome{err: err, onLoop: app.onLoopThread()}
		if resp != nil {
			o.code = resp.Code
		}
		results <- o
	}
	wait := func(what string) outcome {
		select {
		case o := <-results:
			if !o.onLoop {
				t.Fatalf("%s: done ran off the loop thread", what)
			}
			return o
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no outcome", what)
		}
		return outcome{}
	}
	if _, err := c.Fetch(&HTTPRequest{URL: base + "/echo"}, done); err != nil {
		t.Fatal(err)
	}
	if o := wait("GET"); o.code != 200 || o.err != nil {
		t.Fatalf("GET: %+v", o)
	}
	// Cancel from another goroutine, a request in flight that would never end by itself.
	f, err := c.Fetch(&HTTPRequest{URL: silent + "/", RequestTimeout: -1, ConnectTimeout: -1}, done)
	if err != nil {
		t.Fatal(err)
	}
	f.Cancel()
	wantError(t, "cancelled fetch", wait("cancel").err, ErrCanceled)
	// Cancel from the loop thread, inside the headers callback of a streamed response.
	var fs *Fetch
	started := make(chan struct{})
	fs, err = c.Fetch(&HTTPRequest{URL: base + "/pieces", OnHeaders: func(*HTTPResponse) { <-started; fs.Cancel() },
		OnChunk: func([]byte) {}}, done)
	if err != nil {
		t.Fatal(err)
	}
	close(started)
	wantError(t, "cancelled in OnHeaders", wait("cancel in OnHeaders").err, ErrCanceled)
	// Do's context cancels too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err = c.Do(ctx, &HTTPRequest{URL: silent + "/", RequestTimeout: -1})
	wantError(t, "Do with a cancelled context", err, context.Canceled)
}

func TestHTTPClientCloseWithFetchesInFlight(t *testing.T) {
	app, c, _ := clientApp(t, HTTPClientOptions{MaxClients: 1, MaxQueue: 1})
	silent := silentServer(t)
	errs := make(chan error, 4)
	for i := 0; i < 3; i++ {
		if _, err := c.Fetch(&HTTPRequest{URL: silent + "/", RequestTimeout: -1, ConnectTimeout: -1},
			func(_ *HTTPResponse, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	// One runs, one waits in the queue, the third finds the queue full.
	select {
	case err := <-errs:
		wantError(t, "third fetch", err, ErrBusy)
	case <-time.After(20 * time.Second):
		t.Fatal("the queue did not refuse the third fetch")
	}
	c.Close()
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			wantError(t, "fetch in flight at Close", err, ErrCanceled)
		default:
			t.Fatalf("Close returned before fetch %d ended", i)
		}
	}
	if _, err := c.Fetch(&HTTPRequest{URL: silent + "/"}, nil); err != ErrClosed {
		t.Fatalf("Fetch after Close: %v", err)
	}
	c.Close() // harmless

	// Closed on the loop thread before a fetch's posted start ran.
	c1, err := app.NewHTTPClient(HTTPClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	app.Call(func() {
		if _, err := c1.Fetch(&HTTPRequest{URL: silent + "/"}, func(_ *HTTPResponse, err error) { errs <- err }); err != nil {
			errs <- fmt.Errorf("Fetch: %w", err)
		}
		c1.Close()
	})
	select {
	case err := <-errs:
		wantError(t, "fetch not started yet at Close", err, ErrCanceled)
	case <-time.After(20 * time.Second):
		t.Fatal("a fetch closed before its start never ended")
	}

	// The App's stop closes the clients still open: their fetches end with ErrCanceled.
	c2, err := app.NewHTTPClient(HTTPClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := c2.Do(context.Background(), &HTTPRequest{URL: silent + "/", RequestTimeout: -1})
		result <- err
	}()
	time.Sleep(50 * time.Millisecond) // usually in flight by now; queued also ends canceled
	app.Stop()
	select {
	case err := <-result:
		wantError(t, "fetch in flight at the App's stop", err, ErrCanceled)
	case <-time.After(20 * time.Second):
		t.Fatal("Do did not return after the App stopped")
	}
	if _, err := app.NewHTTPClient(HTTPClientOptions{}); err != ErrClosed {
		t.Fatalf("NewHTTPClient after Stop: %v", err)
	}
}

func TestHTTPClientProxyAndPoolOptions(t *testing.T) {
	// An HTTP proxy gets absolute URIs; this one answers itself.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proxied %s %s", r.Method, r.RequestURI)
	}))
	defer proxy.Close()
	app, _, base := clientApp(t, HTTPClientOptions{})
	pc, err := app.NewHTTPClient(HTTPClientOptions{Proxy: strings.TrimPrefix(proxy.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	resp := mustFetch(t, pc, &HTTPRequest{URL: "http://origin.test:8080/path?q=1"})
	if string(resp.Body) != "proxied GET http://origin.test:8080/path?q=1" {
		t.Fatalf("through the proxy: %d %q", resp.Code, resp.Body)
	}
	// No idle connections kept: the second request opens a new one.
	nc, err := app.NewHTTPClient(HTTPClientOptions{MaxIdlePerHost: -1, IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if resp := mustFetch(t, nc, &HTTPRequest{URL: base + "/echo"}); resp.Code != 200 || resp.Reused {
			t.Fatalf("request %d without a pool: %d, reused %v", i, resp.Code, resp.Reused)
		}
	}
}

func TestHTTPClientMadeBeforeStart(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("root") })
	c, err := app.NewHTTPClient(HTTPClientOptions{MaxClients: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(&HTTPRequest{URL: "http://127.0.0.1:1/"}, nil); err != ErrClosed {
		t.Fatalf("Fetch before Start: %v", err)
	}
	base := start(t, app)
	if resp := mustFetch(t, c, &HTTPRequest{URL: base + "/"}); string(resp.Body) != "root" {
		t.Fatalf("client made before Start: %d %q", resp.Code, resp.Body)
	}
	// Do on the loop thread would wait for itself.
	inLoop := make(chan error, 1)
	app.Call(func() { _, err := c.Do(context.Background(), &HTTPRequest{URL: base + "/"}); inLoop <- err })
	wantError(t, "Do on the loop thread", <-inLoop, ErrState)

	// A bad option of a client made before Start fails Start.
	bad := New()
	bad.Get(`/`, func(w *ResponseWriter, r *Request) {})
	if _, err := bad.NewHTTPClient(HTTPClientOptions{Proxy: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "Start with a bad client proxy", bad.Start("127.0.0.1:0"), ErrInvalid)
	<-bad.Done()
}

func TestHTTPClientDefaults(t *testing.T) {
	defaults := HTTPRequest{UserAgent: "default-agent/1", MaxBodySize: 4096,
		RequestTimeout: 300 * time.Millisecond, NoFollowRedirects: true}
	defaults.Header.Add("X-Default", "from defaults")
	defaults.Header.Add("X-Own", "default value")
	app, c, base := clientApp(t, HTTPClientOptions{Defaults: defaults})
	// Applied where the request leaves them unset; the request's own values win.
	resp := mustFetch(t, c, &HTTPRequest{URL: base + "/head"})
	for _, want := range []string{"User-Agent=default-agent/1\n", "X-Default=from defaults\n",
		"X-Own=default value\n"} {
		if !strings.Contains(string(resp.Body), want) {
			t.Fatalf("defaults not applied: %q lacks %q", resp.Body, want)
		}
	}
	own := &HTTPRequest{URL: base + "/head", UserAgent: "own-agent/2"}
	own.Header.Add("X-Own", "request value")
	resp = mustFetch(t, c, own)
	if b := string(resp.Body); !strings.Contains(b, "User-Agent=own-agent/2\n") ||
		!strings.Contains(b, "X-Own=request value\n") || !strings.Contains(b, "X-Default=from defaults\n") {
		t.Fatalf("the request's own values: %q", b)
	}
	if len(own.Header) != 1 {
		t.Fatalf("the caller's Header was changed: %v", own.Header)
	}
	asHeader := &HTTPRequest{URL: base + "/head"}
	asHeader.Header.Add("user-agent", "header-agent/3") // a field beats the default UserAgent
	if b := string(mustFetch(t, c, asHeader).Body); !strings.Contains(b, "User-Agent=header-agent/3\n") {
		t.Fatalf("User-Agent field: %q", b)
	}
	// The default timeout ends a fetch that would otherwise wait 20 s; a request's own wins.
	// The error's detail names the timeout that ended it (0.3 s, not the 20 s one), however
	// long a loaded machine took to get there.
	silent := silentServer(t)
	_, err := fetch(t, c, &HTTPRequest{URL: silent + "/"})
	wantError(t, "default RequestTimeout", err, ErrTimedOut)
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Detail != "no complete response within 0.3 s" {
		t.Fatalf("default RequestTimeout: %v, want the 0.3 s request timeout's detail", err)
	}
	began := time.Now()
	_, err = fetch(t, c, &HTTPRequest{URL: silent + "/", RequestTimeout: time.Second})
	wantError(t, "own RequestTimeout", err, ErrTimedOut)
	if d := time.Since(began); d < time.Second {
		t.Fatalf("own RequestTimeout of 1 s: ended after %v", d)
	}
	// NoFollowRedirects and MaxBodySize.
	if resp = mustFetch(t, c, &HTTPRequest{URL: base + "/redirect"}); resp.Code != 302 {
		t.Fatalf("default NoFollowRedirects: %d", resp.Code)
	}
	_, err = fetch(t, c, &HTTPRequest{URL: base + "/big/5000"})
	wantError(t, "default MaxBodySize", err, ErrTooBig)
	if resp = mustFetch(t, c, &HTTPRequest{URL: base + "/big/5000", MaxBodySize: 5000}); len(resp.Body) != 5000 {
		t.Fatalf("own MaxBodySize: %d bytes", len(resp.Body))
	}
	// What belongs to one request is refused as a default.
	_, err = app.NewHTTPClient(HTTPClientOptions{Defaults: HTTPRequest{URL: base}})
	wantError(t, "URL as a default", err, ErrInvalid)
}

func TestHTTPClientHostnameMapping(t *testing.T) {
	// net/http reports the request target as received (RequestURI) and the Host field.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/landed?from=redirect", http.StatusFound)
			return
		}
		fmt.Fprintf(w, "%s %s %s host=%s", r.Method, r.RequestURI, r.Proto, r.Host)
	}))
	defer target.Close()
	tport := target.URL[strings.LastIndexByte(target.URL, ':')+1:]
	app, _, base := clientApp(t, HTTPClientOptions{})
	c, err := app.NewHTTPClient(HTTPClientOptions{HostnameMapping: map[string]string{
		"example.invalid": "127.0.0.1", "EXAMPLE.invalid:80": "127.0.0.1:" + tport}})
	if err != nil {
		t.Fatal(err)
	}
	// The mapped name reaches the local server with an origin-form request line and itself as
	// the Host, with the URL's port (host form) or the default one (host:port form); the
	// same-origin redirect stays mapped.
	for u, want := range map[string]string{
		"http://example.invalid:" + tport + "/path?q=1": "GET /path?q=1 HTTP/1.1 host=example.invalid:" + tport,
		"http://example.invalid/path":                   "GET /path HTTP/1.1 host=example.invalid",
		"http://example.invalid/redirect":               "GET /landed?from=redirect HTTP/1.1 host=example.invalid",
	} {
		resp := mustFetch(t, c, &HTTPRequest{URL: u})
		effective := strings.Replace(u, "/redirect", "/landed?from=redirect", 1)
		if resp.Code != 200 || string(resp.Body) != want || resp.EffectiveURL != effective {
			t.Fatalf("%s: %d %q, effective %q", u, resp.Code, resp.Body, resp.EffectiveURL)
		}
	}
	// Unmapped hosts are fetched as usual.
	if resp := mustFetch(t, c, &HTTPRequest{URL: base + "/head"}); !strings.Contains(string(resp.Body), "Host="+strings.TrimPrefix(base, "http://")+"\n") {
		t.Fatalf("unmapped: %q", resp.Body)
	}
	for what, opts := range map[string]HTTPClientOptions{
		"bad target": {HostnameMapping: map[string]string{"a.invalid": "b:port"}},
		"with Proxy": {HostnameMapping: map[string]string{"a.invalid": "b"}, Proxy: "127.0.0.1:1"},
	} {
		_, err = app.NewHTTPClient(opts)
		wantError(t, what, err, ErrInvalid)
	}
}

func TestHTTPClientUnixSocket(t *testing.T) {
	// net/http serving on a Unix socket reports the request target and the Host field.
	path := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s host=%s body=%s", r.Method, r.RequestURI, r.Host, body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, c, _ := clientApp(t, HTTPClientOptions{})
	resp := mustFetch(t, c, &HTTPRequest{URL: "http://docker.invalid/v1.43/info?all=1", UnixSocket: path})
	if want := "GET /v1.43/info?all=1 host=docker.invalid body="; resp.Code != 200 || string(resp.Body) != want {
		t.Fatalf("GET: %d %q", resp.Code, resp.Body)
	}
	resp = mustFetch(t, c, &HTTPRequest{URL: "http://docker.invalid/post", Method: "POST", Body: []byte("a=1"),
		UnixSocket: path})
	if want := "POST /post host=docker.invalid body=a=1"; string(resp.Body) != want || !resp.Reused {
		t.Fatalf("POST: %q, reused %v", resp.Body, resp.Reused)
	}
	_, err = fetch(t, c, &HTTPRequest{URL: "http://docker.invalid/", UnixSocket: path + ".missing"})
	wantError(t, "missing socket", err, ErrNotFound)
	_, err = fetch(t, c, &HTTPRequest{URL: "http://docker.invalid/", UnixSocket: "/" + strings.Repeat("a", 200)})
	wantError(t, "too long", err, ErrInvalid)
}

func TestHTTPClientHostnameMappingHTTPS(t *testing.T) {
	file := makeCerts(t)
	// named.crt carries example.invalid only: neither 127.0.0.1 (where the client connects) nor
	// other.invalid. The URL's name is the one checked, as in Tornado.
	app, https, _ := tlsApp(t, ServerTLS{CertFile: file("named.crt"), KeyFile: file("named.key")})
	port := https[strings.LastIndexByte(https, ':')+1:]
	c, err := app.NewHTTPClient(HTTPClientOptions{TLS: ClientTLS{CAFile: file("named.crt")},
		HostnameMapping: map[string]string{"example.invalid": "127.0.0.1", "other.invalid": "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	u := "https://example.invalid:" + port + "/page?x=1"
	resp := mustFetch(t, c, &HTTPRequest{URL: u})
	if resp.Code != 200 || string(resp.Body) != "https /page?x=1" || resp.EffectiveURL != u {
		t.Fatalf("%s: %d %q, effective %q", u, resp.Code, resp.Body, resp.EffectiveURL)
	}
	_, err = fetch(t, c, &HTTPRequest{URL: "https://other.invalid:" + port + "/page"})
	wantError(t, "a mapped name the certificate lacks", err, ErrTLS)
	_, err = fetch(t, c, &HTTPRequest{URL: https + "/page"})
	wantError(t, "the address itself, unmapped", err, ErrTLS)
}

func TestHTTPClientStreamedBody(t *testing.T) {
	app, c, base := clientApp(t, HTTPClientOptions{})
	type outcome struct {
		resp *HTTPResponse
		err  error
	}
	results := make(chan outcome, 1)
	done := func(resp *HTTPResponse, err error) { results <- outcome{resp, err} }
	wait := func(what, want string) {
		t.Helper()
		select {
		case o := <-results:
			if o.err != nil || o.resp.Code != 200 || !strings.HasSuffix(string(o.resp.Body), want) {
				var body []byte
				if o.resp != nil {
					body = o.resp.Body
				}
				t.Fatalf("%s: %v, %d bytes %.120q", what, o.err, len(body), body)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no outcome", what)
		}
	}
	var payload bytes.Buffer
	for i := 0; payload.Len() < 150000; i++ {
		fmt.Fprintf(&payload, "line %d;", i)
	}
	data := payload.Bytes()

	// Unknown length, written from this goroutine: chunked.
	f, err := c.Fetch(&HTTPRequest{Method: "POST", URL: base + "/head", BodyStream: true}, done)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		piece := rest
		if len(piece) > 10000 {
			piece = piece[:10000]
		}
		rest = rest[len(piece):]
		if err := f.WriteBody(piece); err != nil {
			t.Fatalf("WriteBody: %v", err)
		}
	}
	if err := f.EndBody(); err != nil {
		t.Fatal(err)
	}
	wantError(t, "WriteBody after EndBody", f.WriteBody([]byte("late")), ErrState)
	wait("chunked", "Transfer-Encoding=chunked\nContent-Length=\nbody="+string(data))
	wantError(t, "WriteBody after the end", f.WriteBody([]byte("x")), ErrState)

	// A known length, written on the loop thread before the fetch started, then after.
	n := int64(len(data))
	errs := make(chan error, 8)
	app.Call(func() {
		f, err := c.Fetch(&HTTPRequest{Method: "POST", URL: base + "/head", BodyStream: true,
			BodyStreamLength: n}, done)
		if err != nil {
			errs <- err
			return
		}
		errs <- f.WriteBody(make([]byte, n+1)) // ErrTooBig
		errs <- f.WriteBody(data[:1000])
		errs <- f.EndBody() // ErrInvalid: short
		app.Call(func() { errs <- f.WriteBody(data[1000:]); errs <- f.EndBody() })
	})
	for i, want := range []error{ErrTooBig, nil, ErrInvalid, nil, nil} {
		if err := <-errs; err != want {
			t.Fatalf("fixed length, call %d: %v, want %v", i, err, want)
		}
	}
	wait("fixed length", fmt.Sprintf("Transfer-Encoding=\nContent-Length=%d\nbody=%s", n, data))

	// Without BodyStream there is nothing to write.
	f, err = c.Fetch(&HTTPRequest{URL: base + "/head"}, done)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "WriteBody without BodyStream", f.WriteBody([]byte("x")), ErrState)
	wait("no stream", "body=")
}

// stallingServer takes one request with a Content-Length body but reads nothing of it until
// stall is closed; then it reads the whole body, sends its length and CRC-32 on got, and
// answers 200 once answer is closed (the writer still ends and flushes the body).
type stalledBody struct {
	n   int64
	crc uint32
}

func stallingServer(t *testing.T, stall, answer <-chan struct{}, got chan<- stalledBody) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		select { // reads nothing, not even the head, until the writer had to wait
		case <-stall:
		case <-time.After(30 * time.Second):
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			got <- stalledBody{n: -1}
			return
		}
		h := crc32.NewIEEE()
		n, _ := io.Copy(h, req.Body)
		got <- stalledBody{n, h.Sum32()}
		select {
		case <-answer:
		case <-time.After(30 * time.Second):
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}()
	return "http://" + ln.Addr().String()
}

// FlushBody paces a streamed request body by the server, as Python's body_producer awaiting
// write(): WriteBody keeps what the connection did not take in memory, without limit, so a
// writer that never waited put all 64 MiB there before the server read a byte.
func TestHTTPClientFlushBody(t *testing.T) {
	app, c, base := clientApp(t, HTTPClientOptions{})
	const piece, pieces = 1 << 20, 64
	stall, answer := make(chan struct{}), make(chan struct{})
	got := make(chan stalledBody, 1)
	url := stallingServer(t, stall, answer, got)
	results := make(chan error, 1)
	f, err := c.Fetch(&HTTPRequest{Method: "POST", URL: url, BodyStream: true,
		BodyStreamLength: piece * pieces, RequestTimeout: time.Minute},
		func(resp *HTTPResponse, err error) {
			if err == nil && (resp.Code != 200 || string(resp.Body) != "ok") {
				err = fmt.Errorf("answer %d %q", resp.Code, resp.Body)
			}
			results <- err
		})
	if err != nil {
		t.Fatal(err)
	}
	want := crc32.NewIEEE()
	buf := make([]byte, piece)
	written, writtenWhenStalled := 0, -1
	var once sync.Once
	for i := 0; i < pieces; i++ {
		for j := range buf {
			buf[j] = byte(i*7 + j%251)
		}
		want.Write(buf)
		if err := f.WriteBody(buf); err != nil {
			t.Fatalf("WriteBody %d: %v", i, err)
		}
		written++
		// Once a flush has waited a second the server is stalled for sure: it reads from then.
		n := written
		timer := time.AfterFunc(time.Second, func() {
			once.Do(func() { writtenWhenStalled = n; close(stall) })
		})
		if err := f.FlushBody(); err != nil {
			t.Fatalf("FlushBody after piece %d: %v", i, err)
		}
		timer.Stop()
	}
	once.Do(func() { close(stall) }) // never stalled: everything went into memory
	if err := f.EndBody(); err != nil {
		t.Fatal(err)
	}
	if err := f.FlushBody(); err != nil { // after EndBody: the whole body went
		t.Fatalf("FlushBody after EndBody: %v", err)
	}
	close(answer)
	select {
	case err := <-results:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no outcome")
	}
	if b := <-got; b.n != piece*pieces || b.crc != want.Sum32() {
		t.Fatalf("server got %d bytes, CRC %08x; want %d, %08x", b.n, b.crc, piece*pieces,
			want.Sum32())
	}
	// The socket buffers and the piece in flight, not the whole body.
	if writtenWhenStalled < 0 || writtenWhenStalled >= pieces/2 {
		t.Fatalf("%d of %d pieces written before the first flush waited a second",
			writtenWhenStalled, pieces)
	}
	wantError(t, "FlushBody once ended", f.FlushBody(), ErrState)

	// On the loop thread: FlushBody would block it; OnBodyFlushed paces a writer there, also
	// when asked for before the posted start ran.
	errs := make(chan error, 4)
	app.Call(func() {
		errs <- f.FlushBody()
		var g *Fetch
		left := 5
		var next func(err error)
		next = func(err error) {
			if err != nil {
				errs <- err
				return
			}
			if left == 0 {
				errs <- g.EndBody()
				return
			}
			left--
			if err := g.WriteBody([]byte("0123456789")); err != nil {
				errs <- err
				return
			}
			if err := g.OnBodyFlushed(next); err != nil {
				errs <- err
			}
		}
		var gerr error
		g, gerr = c.Fetch(&HTTPRequest{Method: "POST", URL: base + "/head", BodyStream: true},
			func(resp *HTTPResponse, err error) {
				if err == nil && !strings.HasSuffix(string(resp.Body), "body="+
					strings.Repeat("0123456789", 5)) {
					err = fmt.Errorf("body %q", resp.Body)
				}
				errs <- err
			})
		if gerr != nil {
			errs <- gerr
			return
		}
		next(nil) // g has not started yet: its first flush waits for the start
	})
	wantError(t, "FlushBody on the loop thread", <-errs, ErrState)
	for i, what := range []string{"EndBody", "done"} {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("loop-thread writer, %s (%d): %v", what, i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("loop-thread writer: no %s", what)
		}
	}

	// A fetch that ends before its body went: the waiting flush gets its error.
	h, err := c.Fetch(&HTTPRequest{Method: "POST", URL: silentServer(t), BodyStream: true},
		func(*HTTPResponse, error) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.WriteBody(make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(200 * time.Millisecond); h.Cancel() }()
	wantError(t, "FlushBody of a cancelled fetch", h.FlushBody(), ErrCanceled)
	// Without BodyStream there is nothing to flush.
	k, err := c.Fetch(&HTTPRequest{URL: base + "/head"}, func(*HTTPResponse, error) {})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "FlushBody without BodyStream", k.FlushBody(), ErrState)
}

// countingServer answers every request with a Content-Length body written in 64 KiB pieces,
// counting in *sent what the kernel took: a client that stops reading stops the count.
func countingServer(t *testing.T, body []byte, sent *atomic.Int64) string {
	return rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
		for off := 0; off < len(body); {
			end := off + 65536
			if end > len(body) {
				end = len(body)
			}
			n, err := c.Write(body[off:end])
			sent.Add(int64(n))
			off += n
			if err != nil {
				return
			}
		}
	})
}

func TestHTTPClientPauseBodyAndReadTimeout(t *testing.T) {
	_, c, _ := clientApp(t, HTTPClientOptions{})
	body := make([]byte, 32<<20)
	for i := range body {
		body[i] = byte(i*7 + i>>13)
	}
	var sent atomic.Int64
	url := countingServer(t, body, &sent)
	// Paused inside the first OnChunk, resumed from this goroutine once the server stalled.
	var f *Fetch
	ready := make(chan struct{})
	var got []byte
	var paused, chunksWhilePaused atomic.Int32
	pausedOnce := false // loop thread
	pauseErr := make(chan error, 1)
	results := make(chan error, 1)
	f, err := c.Fetch(&HTTPRequest{URL: url, RequestTimeout: -1, ReadTimeout: 300 * time.Millisecond,
		OnChunk: func(chunk []byte) {
			<-ready
			if paused.Load() == 1 {
				chunksWhilePaused.Add(1)
			}
			got = append(got, chunk...)
			if !pausedOnce && len(got) < len(body) {
				pausedOnce = true
				paused.Store(1)
				pauseErr <- f.PauseBody()
			}
		}}, func(resp *HTTPResponse, err error) { results <- err })
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	if err := <-pauseErr; err != nil {
		t.Fatalf("PauseBody in OnChunk: %v", err)
	}
	// The server's writes stop (TCP) well short of the body; the read timeout does not fire
	// while paused (this wait is longer than it).
	last, since := int64(-1), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := sent.Load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > time.Second {
			break
		}
	}
	if last >= int64(len(body)/2) {
		t.Fatalf("paused, yet the server wrote %d of %d bytes", last, len(body))
	}
	paused.Store(0)
	if err := f.ResumeBody(); err != nil {
		t.Fatalf("ResumeBody: %v", err)
	}
	select {
	case err := <-results:
		if err != nil {
			t.Fatalf("paused fetch: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("paused fetch: no outcome")
	}
	if n := chunksWhilePaused.Load(); n != 0 {
		t.Fatalf("%d chunks delivered while paused", n)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("body after the resume: %d bytes, want %d (or different bytes)", len(got), len(body))
	}
	// A server that sends its head and stalls: the read timeout, not the (absent) request one.
	stall := rawServer(t, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
		time.Sleep(5 * time.Second)
	})
	_, err = fetch(t, c, &HTTPRequest{URL: stall, RequestTimeout: -1, ReadTimeout: 300 * time.Millisecond})
	wantError(t, "stalled server", err, ErrTimedOut)
	// Misuse: no OnChunk (the body is collected), then after the end.
	silent := silentServer(t)
	f, err = c.Fetch(&HTTPRequest{URL: silent, RequestTimeout: -1}, func(*HTTPResponse, error) { results <- nil })
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "PauseBody without OnChunk", f.PauseBody(), ErrState)
	f.Cancel()
	<-results
	wantError(t, "ResumeBody after the end", f.ResumeBody(), ErrState)
}
