package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects log lines written on the loop thread and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLoggedApp returns a new App whose log lines go to the returned buffer, for tests that
// check what the binding logged.
func newLoggedApp() (*App, *lockedBuffer) {
	logs := &lockedBuffer{}
	app := New()
	app.Logger = log.New(logs, "", 0)
	return app, logs
}

// start runs app on a free port and, when the test ends, stops it and checks that every
// handle handed to C was released.
func start(t *testing.T, app *App) string {
	t.Helper()
	if err := app.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		app.Stop()
		select {
		case <-app.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("the loop did not stop")
		}
		noHandlesLeft(t, "after the app was freed")
	})
	return fmt.Sprintf("http://127.0.0.1:%d", app.Port())
}

var client = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t *testing.T, method, u string, body io.Reader, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp, string(b)
}

func expect(t *testing.T, resp *http.Response, body string, status int, wantBody string) {
	t.Helper()
	if resp.StatusCode != status || (wantBody != "" && body != wantBody) {
		t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, status, wantBody)
	}
}

func TestHelloRoutingAndMethods(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("Hello, World!") })
	app.Route(`/thing`).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { w.WriteString("got") }).
		HandleFunc("PUT", func(w *ResponseWriter, r *Request) { w.WriteString("put") }).
		HandleFunc("PURGE", func(w *ResponseWriter, r *Request) { w.WriteString("purged " + r.Method()) })
	base := start(t, app)

	resp, body := do(t, "GET", base+"/", nil, nil)
	expect(t, resp, body, 200, "Hello, World!")
	resp, body = do(t, "PUT", base+"/thing", nil, nil)
	expect(t, resp, body, 200, "put")
	resp, body = do(t, "PURGE", base+"/thing", nil, nil)
	expect(t, resp, body, 200, "purged PURGE")
	resp, body = do(t, "HEAD", base+"/thing", nil, nil)
	expect(t, resp, body, 200, "")
	if body != "" || resp.ContentLength != 3 {
		t.Fatalf("HEAD: body %q, Content-Length %d", body, resp.ContentLength)
	}
	resp, body = do(t, "DELETE", base+"/thing", nil, nil)
	expect(t, resp, body, 405, "")
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PURGE") {
		t.Fatalf("405 Allow header %q", allow)
	}
	resp, body = do(t, "GET", base+"/nowhere", nil, nil)
	expect(t, resp, body, 404, "")
}

func TestRequestAccessors(t *testing.T) {
	app := New()
	app.HandleFunc("POST", `/items/(?<kind>[a-z]+)/([0-9]+)`, func(w *ResponseWriter, r *Request) {
		color, hasColor := r.QueryArgument("color")
		size, _ := r.BodyArgument("size")
		_, hasMissing := r.Argument("missing")
		sid, _ := r.Cookie("sid")
		out := map[string]interface{}{
			"method": r.Method(), "path": r.Path(), "query": r.RawQuery(), "args": r.PathArgs(),
			"kind": r.PathVar("kind"), "id": r.PathArg(1), "color": color, "hasColor": hasColor,
			"size": size, "hasMissing": hasMissing, "all": r.Arguments(FromAll),
			"header": r.Header("X-Test"), "sid": sid, "ip": r.RemoteIP(),
			"headerCount": len(r.Headers()), "body": string(r.Body()),
		}
		b, _ := json.Marshal(out)
		w.SetHeader("Content-Type", "application/json")
		w.Write(b)
	})
	base := start(t, app)

	form := url.Values{"size": {"XL"}, "tag": {"a b"}}.Encode()
	resp, body := do(t, "POST", base+"/items/shoe/42?color=r%C3%A9d&tag=q", strings.NewReader(form),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Test": "yes",
			"Cookie": "sid=abc; other=1"})
	expect(t, resp, body, 200, "")
	var got struct {
		Method, Path, Query, Kind, ID, Color, Size, Header, Sid, IP, Body string
		Args                                                              []string
		HasColor, HasMissing                                              bool
		All                                                               []Field
		HeaderCount                                                       int
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Method != "POST" || got.Path != "/items/shoe/42" || got.Query != "color=r%C3%A9d&tag=q" ||
		got.Kind != "shoe" || got.ID != "42" || len(got.Args) != 2 || got.Args[0] != "shoe" ||
		got.Color != "réd" || !got.HasColor || got.Size != "XL" || got.HasMissing ||
		got.Header != "yes" || got.Sid != "abc" || got.IP != "127.0.0.1" || got.Body != form ||
		got.HeaderCount < 4 {
		t.Fatalf("unexpected request view: %+v", got)
	}
	// Query first, then body; repeats kept.
	want := []Field{{"color", "réd"}, {"tag", "q"}, {"size", "XL"}, {"tag", "a b"}}
	if fmt.Sprint(got.All) != fmt.Sprint(want) {
		t.Fatalf("arguments %v, want %v", got.All, want)
	}
}

func TestResponseAPI(t *testing.T) {
	app := New()
	app.SetCookieSecret("0123456789abcdef0123456789abcdef")
	app.Get(`/made`, func(w *ResponseWriter, r *Request) {
		w.SetStatusReason(201, "Made It")
		w.SetHeader("X-One", "1")
		w.AddHeader("X-Many", "a")
		w.AddHeader("X-Many", "b")
		w.SetHeader("X-Gone", "x")
		w.ClearHeader("X-Gone")
		w.SetCookie("plain", "v1", &CookieOptions{Path: "/made", HTTPOnly: true, MaxAge: 60})
		w.SetSignedCookie("signed", "secret-value", 1)
		w.WriteString("made")
		if err := w.Finish(); err != nil {
			t.Errorf("Finish: %v", err)
		}
		if _, err := w.WriteString("late"); !errors.Is(err, ErrState) {
			t.Errorf("write after Finish: %v, want ErrState", err)
		}
	})
	app.Get(`/signed`, func(w *ResponseWriter, r *Request) {
		v, ok := r.SignedCookie("signed", 0)
		fmt.Fprintf(w, "%v %s", ok, v)
	})
	app.Get(`/away`, func(w *ResponseWriter, r *Request) { w.Redirect("/made?from=away", 303) })
	app.Route(`/broken`).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { w.WriteString("discarded"); w.SendError(418) }).
		WriteError(func(w *ResponseWriter, r *Request, status int) { fmt.Fprintf(w, "custom %d", status) })
	base := start(t, app)

	resp, body := do(t, "GET", base+"/made", nil, nil)
	expect(t, resp, body, 201, "made")
	if resp.Status != "201 Made It" || resp.Header.Get("X-One") != "1" ||
		strings.Join(resp.Header.Values("X-Many"), ",") != "a,b" || resp.Header.Get("X-Gone") != "" {
		t.Fatalf("status/headers: %q %v", resp.Status, resp.Header)
	}
	var plain, signed string
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "plain":
			if c.Value != "v1" || c.Path != "/made" || !c.HttpOnly || c.MaxAge != 60 {
				t.Fatalf("cookie %+v", c)
			}
			plain = c.Value
		case "signed":
			signed = c.Value
		}
	}
	if plain == "" || signed == "" || signed == "secret-value" {
		t.Fatalf("cookies %v", resp.Header.Values("Set-Cookie"))
	}
	resp, body = do(t, "GET", base+"/signed", nil, map[string]string{"Cookie": "signed=" + signed})
	expect(t, resp, body, 200, "true secret-value")
	resp, body = do(t, "GET", base+"/signed", nil, map[string]string{"Cookie": "signed=" + signed + "x"})
	expect(t, resp, body, 200, "false ")

	resp, body = do(t, "GET", base+"/away", nil, nil)
	expect(t, resp, body, 303, "")
	if resp.Header.Get("Location") != "/made?from=away" {
		t.Fatalf("Location %q", resp.Header.Get("Location"))
	}
	resp, body = do(t, "GET", base+"/broken", nil, nil)
	expect(t, resp, body, 418, "custom 418")
}

// With SetXSRFCookies, a POST needs the _xsrf cookie plus a matching _xsrf field (else 403
// before the handler); a route with XSRFCheck(false) accepts it without either.
func TestXSRFCookiesAndARouteOptsOut(t *testing.T) {
	app := New()
	app.SetCookieSecret("0123456789abcdef0123456789abcdef")
	app.SetXSRFCookies(true)
	posted := func(w *ResponseWriter, r *Request) { w.WriteString("posted " + r.Path()) }
	app.Route(`/form`).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { w.WriteString(r.XSRFToken()) }).
		HandleFunc("POST", posted)
	app.Post(`/api`, posted).XSRFCheck(false)
	base := start(t, app)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	resp, body := do(t, "POST", base+"/form", strings.NewReader("a=1"), form)
	expect(t, resp, body, 403, "")
	resp, body = do(t, "POST", base+"/api", strings.NewReader("a=1"), form)
	expect(t, resp, body, 200, "posted /api")

	resp, token := do(t, "GET", base+"/form", nil, nil)
	expect(t, resp, token, 200, "")
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "_xsrf" {
			cookie = c.Value
		}
	}
	if token == "" || cookie == "" {
		t.Fatalf("token %q, _xsrf cookie %q", token, cookie)
	}
	withToken := map[string]string{"Content-Type": form["Content-Type"], "Cookie": "_xsrf=" + cookie}
	resp, body = do(t, "POST", base+"/form", strings.NewReader("a=1&_xsrf="+url.QueryEscape(token)), withToken)
	expect(t, resp, body, 200, "posted /form")
}

func TestHooks(t *testing.T) {
	finished := make(chan string, 10)
	app := New()
	app.Route(`/guarded`).
		DefaultHeaders(func(w *ResponseWriter) { w.SetHeader("X-Default", "on") }).
		Prepare(func(w *ResponseWriter, r *Request) {
			if _, deny := r.QueryArgument("deny"); deny {
				w.SendError(403)
			}
		}).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { w.WriteString("allowed") }).
		OnFinish(func(r *Request) { finished <- r.Method() + " " + r.URI() })
	base := start(t, app)

	resp, body := do(t, "GET", base+"/guarded", nil, nil)
	expect(t, resp, body, 200, "allowed")
	if resp.Header.Get("X-Default") != "on" {
		t.Fatalf("default header missing: %v", resp.Header)
	}
	resp, body = do(t, "GET", base+"/guarded?deny=1", nil, nil)
	expect(t, resp, body, 403, "")
	for _, want := range []string{"GET /guarded", "GET /guarded?deny=1"} {
		select {
		case got := <-finished:
			if got != want {
				t.Fatalf("on_finish saw %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("on_finish did not run for %q", want)
		}
	}
}

func TestStreamedRequestBody(t *testing.T) {
	app := New()
	var pieces, total int // touched on the loop thread only
	app.Route(`/upload`).
		DataReceived(func(r *Request, data []byte) { pieces++; total += len(data) }).
		HandleFunc("PUT", func(w *ResponseWriter, r *Request) { fmt.Fprintf(w, "%d", total) })
	base := start(t, app)
	payload := strings.Repeat("0123456789", 100000) // 1 MB: arrives in several pieces
	resp, body := do(t, "PUT", base+"/upload", strings.NewReader(payload), nil)
	expect(t, resp, body, 200, fmt.Sprint(len(payload)))
}

// Detached responses finished by goroutines, many at once, each with its own answer.
func TestDetachedFromGoroutines(t *testing.T) {
	app := New()
	app.Get(`/later/([0-9]+)`, func(w *ResponseWriter, r *Request) {
		id := r.PathArg(0) // copied: r stays on the loop thread
		if err := w.Detach(); err != nil {
			t.Errorf("Detach: %v", err)
			return
		}
		go func() {
			w.SetHeader("X-Id", id)
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "%s.%d;", id, i)
			}
			if err := w.Finish(); err != nil {
				t.Errorf("Finish from a goroutine: %v", err)
			}
		}()
	})
	base := start(t, app)

	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := client.Get(fmt.Sprintf("%s/later/%d", base, i))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			want := fmt.Sprintf("%d.0;%d.1;%d.2;", i, i, i)
			if resp.StatusCode != 200 || string(b) != want || resp.Header.Get("X-Id") != fmt.Sprint(i) {
				errs <- fmt.Errorf("request %d: %d %q %v", i, resp.StatusCode, b, resp.Header)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Flush from a goroutine reaches the client before the response is finished.
func TestFlushFromGoroutine(t *testing.T) {
	proceed := make(chan struct{})
	app := New()
	app.Get(`/stream`, func(w *ResponseWriter, r *Request) {
		w.Detach()
		go func() {
			w.WriteString("first;")
			w.Flush()
			<-proceed // the client has read "first;"
			w.WriteString("second")
			w.Finish()
		}()
	})
	base := start(t, app)
	resp, err := client.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		close(proceed)
		t.Fatalf("first chunk %q, %v", first, err)
	}
	close(proceed)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("rest %q, %v, %v", rest, err, resp.TransferEncoding)
	}
}

func TestPanicGives500AndTheLoopSurvives(t *testing.T) {
	app, logs := newLoggedApp()
	app.Get(`/panic`, func(w *ResponseWriter, r *Request) { panic("boom") })
	app.Get(`/panic-later`, func(w *ResponseWriter, r *Request) {
		w.Detach()
		go w.Do(func() { panic("boom later") })
	})
	app.Get(`/ok`, func(w *ResponseWriter, r *Request) { w.WriteString("fine") })
	base := start(t, app)

	resp, body := do(t, "GET", base+"/panic", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/panic-later", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
	out := logs.String()
	if !strings.Contains(out, "panic in handler of GET /panic: boom") ||
		!strings.Contains(out, "panic in ResponseWriter.Do of GET /panic-later: boom later") {
		t.Fatalf("log lines missing:\n%s", out)
	}
}

// A panic in the WriteError hook is logged once and the response still ends (it used to send
// the error page again, run the hook again, and recurse until the stack ran out).
func TestPanicInWriteErrorHook(t *testing.T) {
	app, logs := newLoggedApp()
	app.Route(`/missing`).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { w.SendError(404) }).
		WriteError(func(w *ResponseWriter, r *Request, status int) { panic("bug in error page") })
	app.Get(`/ok`, func(w *ResponseWriter, r *Request) { w.WriteString("fine") })
	base := start(t, app)
	resp, _ := do(t, "GET", base+"/missing", nil, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp, body := do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
	if n := strings.Count(logs.String(), "panic in write_error(404)"); n != 1 {
		t.Fatalf("%d panic log lines:\n%s", n, logs.String())
	}
}

// A writer handed to a goroutine without Detach is refused there (ErrState), not used from
// the wrong thread (that raced the loop into a crash).
func TestWriterOffTheLoopWithoutDetach(t *testing.T) {
	errs := make(chan error, 1)
	app := New()
	app.Logger = log.New(&lockedBuffer{}, "", 0)
	app.Get(`/leak`, func(w *ResponseWriter, r *Request) {
		done := make(chan struct{})
		go func() {
			errs <- func() error { _, err := w.WriteString("x"); return err }()
			close(done)
		}()
		<-done // still inside the handler: the request is alive, only the thread is wrong
		w.WriteString("ok")
	})
	base := start(t, app)
	resp, body := do(t, "GET", base+"/leak", nil, nil)
	expect(t, resp, body, 200, "ok")
	if err := <-errs; err != ErrState {
		t.Fatalf("off-loop write without Detach: %v", err)
	}
}

// Detach called from the goroutine the handler started (instead of in the handler) is refused
// with ErrState: it used to detach from the wrong thread, racing the loop, which finishes the
// response when the handler returns (and writes the App's map of detached writers).
func TestDetachOffTheLoopIsRefused(t *testing.T) {
	errs := make(chan error, 1)
	app, logs := newLoggedApp()
	app.Get(`/late-detach`, func(w *ResponseWriter, r *Request) {
		done := make(chan struct{})
		go func() {
			errs <- w.Detach()
			close(done)
		}()
		<-done // still inside the handler: only the thread is wrong
		w.WriteString("answered by the handler")
	})
	base := start(t, app)
	resp, body := do(t, "GET", base+"/late-detach", nil, nil)
	expect(t, resp, body, 200, "answered by the handler")
	if err := <-errs; err != ErrState {
		t.Fatalf("Detach off the loop thread: %v, want ErrState", err)
	}
	if !strings.Contains(logs.String(), "Detach called off the loop thread") {
		t.Fatalf("no log line:\n%s", logs.String())
	}
}

// Wait on the App's own loop thread panics (a 500 and a log line) instead of waiting for
// itself: that hung the loop for good, Stop could not end it, and every client timed out.
func TestWaitOnTheLoopThreadPanics(t *testing.T) {
	app, logs := newLoggedApp()
	app.Get(`/wait`, func(w *ResponseWriter, r *Request) { r.App().Wait() })
	app.Get(`/ok`, func(w *ResponseWriter, r *Request) { w.WriteString("fine") })
	base := start(t, app)
	resp, body := do(t, "GET", base+"/wait", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
	if !strings.Contains(logs.String(), "App.Wait called on the App's own loop thread") {
		t.Fatalf("no log line:\n%s", logs.String())
	}
}

// A nil handler removes a custom method as it does a standard one (405, or 501 when no route
// has the method; the custom method used to be routed to no handler: an empty 200), and
// a route's hooks set after Start panic as HandleFunc does (they were silently never run).
func TestNilHandlersAndRouteSettersAfterStart(t *testing.T) {
	app := New()
	app.HandleFunc("PURGE", `/n`, func(w *ResponseWriter, r *Request) { w.WriteString("purged") })
	app.HandleFunc("PURGE", `/n`, nil)
	app.HandleFunc("GET", `/n`, func(w *ResponseWriter, r *Request) { w.WriteString("got") })
	app.HandleFunc("MOVE", `/n`, nil)
	app.HandleFunc("PURGE", `/p`, func(w *ResponseWriter, r *Request) { w.WriteString("purged") })
	rt := app.Get(`/h`, func(w *ResponseWriter, r *Request) { w.WriteString("h") })
	base := start(t, app)
	// PURGE is another route's method: 405 here; MOVE is no route's: 501 (RFC 9110 §15.6.2).
	for m, want := range map[string]int{"PURGE": 405, "MOVE": 501} {
		resp, body := do(t, m, base+"/n", nil, nil)
		if resp.StatusCode != want {
			t.Fatalf("%s with a nil handler: %d %q, want %d", m, resp.StatusCode, body, want)
		}
	}
	resp, body := do(t, "GET", base+"/n", nil, nil)
	expect(t, resp, body, 200, "got")
	for name, set := range map[string]func(){
		"Prepare":  func() { rt.Prepare(func(w *ResponseWriter, r *Request) {}) },
		"OnFinish": func() { rt.OnFinish(func(r *Request) {}) },
		"WriteError": func() {
			rt.WriteError(func(w *ResponseWriter, r *Request, status int) {})
		},
		"DataReceived": func() { rt.DataReceived(func(r *Request, data []byte) {}) },
		"Name":         func() { rt.Name("late") },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), name+" after Start") {
					t.Errorf("%s after Start: recovered %v", name, p)
				}
			}()
			set()
		}()
	}
}

// Named routes give their path back, with the groups filled and percent-encoded (Tornado's
// reverse_url), from a handler and from any goroutine.
func TestReverseURL(t *testing.T) {
	app := New()
	app.Route(`/user/([a-z ]+)/(\d+)`).Name("user").
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { w.WriteString("user") })
	app.Get(`/where`, func(w *ResponseWriter, r *Request) {
		url, err := app.ReverseURL("user", "ann", "7")
		if err != nil {
			w.SendError(500)
			return
		}
		w.WriteString(url)
	})
	base := start(t, app)
	resp, body := do(t, "GET", base+"/where", nil, nil)
	expect(t, resp, body, 200, "/user/ann/7")
	if url, err := app.ReverseURL("user", "a b", "1"); err != nil || url != "/user/a%20b/1" {
		t.Fatalf("from a goroutine: %q, %v", url, err)
	}
	if _, err := app.ReverseURL("nobody"); err != ErrNotFound {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := app.ReverseURL("user", "only-one"); err != ErrInvalid {
		t.Fatalf("wrong count: %v", err)
	}
}

// Reading the Request from another goroutine's thread panics with a clear message instead of
// racing the loop.
func TestRequestOffTheLoopPanics(t *testing.T) {
	got := make(chan interface{}, 1)
	app := New()
	app.Get(`/peek`, func(w *ResponseWriter, r *Request) {
		done := make(chan struct{})
		go func() {
			defer func() { got <- recover(); close(done) }()
			_ = r.Path()
		}()
		<-done
		w.WriteString("ok")
	})
	base := start(t, app)
	resp, body := do(t, "GET", base+"/peek", nil, nil)
	expect(t, resp, body, 200, "ok")
	if p, _ := (<-got).(string); !strings.Contains(p, "off the loop thread") {
		t.Fatalf("recovered %v", p)
	}
}

// A detached request whose client leaves: Closed() fires, OnConnectionClose runs, and the
// late Finish reports ErrClosed (and still releases the request).
func TestClientGoesAway(t *testing.T) {
	hookRan := make(chan struct{})
	waiting := make(chan struct{})
	finishErr := make(chan error, 1)
	app := New()
	app.Route(`/wait`).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) {
			w.Detach()
			close(waiting)
			go func() {
				<-w.Closed()
				w.WriteString("too late")
				finishErr <- w.Finish()
			}()
		}).
		OnConnectionClose(func(r *Request) { close(hookRan) })
	base := start(t, app)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-waiting // the handler detached: closing now makes eddy see EOF while it waits
	conn.Close()
	select {
	case <-hookRan:
	case <-time.After(10 * time.Second):
		t.Fatal("OnConnectionClose did not run")
	}
	select {
	case err := <-finishErr:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Finish after the client left: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine never saw Closed()")
	}
}

func TestCallAndStartErrors(t *testing.T) {
	app := New()
	var hits int // loop thread only
	app.Get(`/hits`, func(w *ResponseWriter, r *Request) { fmt.Fprint(w, hits) })
	base := start(t, app)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 5; i++ {
			if !app.Call(func() { hits++ }) {
				t.Error("Call refused while running")
			}
		}
		app.Call(func() { close(done) })
	}()
	<-done
	resp, body := do(t, "GET", base+"/hits", nil, nil)
	expect(t, resp, body, 200, "5")

	// The same port again: the second app fails to listen and releases everything.
	other := New()
	other.Get(`/`, func(w *ResponseWriter, r *Request) {})
	err := other.Start(fmt.Sprintf("127.0.0.1:%d", app.Port()))
	if !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("Start on a used port: %v, want ErrAddrInUse", err)
	}
	<-other.Done()
	bad := New()
	bad.Get(`/(unclosed`, func(w *ResponseWriter, r *Request) {})
	if err := bad.Start("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "does not compile") {
		t.Fatalf("bad pattern: %v", err)
	}
	<-bad.Done()
	if other.Call(func() {}) {
		t.Fatal("Call accepted by a stopped app")
	}
}

func TestVersion(t *testing.T) {
	if v := Version(); !strings.Contains(v, ".") {
		t.Fatalf("Version() = %q", v)
	}
	if ErrClosed.Name() != "EDDY_ECLOSED" || !strings.HasPrefix(ErrClosed.Error(), "eddy: ") {
		t.Fatalf("%q %q", ErrClosed.Name(), ErrClosed.Error())
	}
}

// Stop with a request still detached: the binding finishes it, so nothing is left behind (the
// cleanup of start() checks that every handle was released).
func TestStopFinishesDetachedRequests(t *testing.T) {
	parked := make(chan *ResponseWriter, 1)
	app := New()
	app.Get(`/park`, func(w *ResponseWriter, r *Request) {
		w.Detach()
		w.WriteString("partial")
		parked <- w
	})
	base := start(t, app)
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/park")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	w := <-parked
	app.Stop()
	<-app.Done()
	if err := w.Finish(); !errors.Is(err, ErrState) {
		t.Fatalf("Finish after Stop: %v, want ErrState", err)
	}
	if b := <-got; b != "partial" && !strings.HasPrefix(b, "error: ") {
		t.Fatalf("client got %q", b)
	}
}

// Detached responses finished by goroutines while half of their clients hang up: the others
// get their answers, nothing crashes, and every request is released (start's cleanup checks
// that no handle is left).
func TestDetachedWhileClientsLeave(t *testing.T) {
	const n = 30
	parked := make(chan struct{}, n)
	release := make(chan struct{})
	app := New()
	app.Get(`/slow/([0-9]+)`, func(w *ResponseWriter, r *Request) {
		id := r.PathArg(0)
		w.Detach()
		parked <- struct{}{}
		go func() {
			<-release
			w.WriteString("done " + id)
			w.Finish()
		}()
	})
	base := start(t, app)

	type result struct {
		i    int
		body string
		err  error
	}
	results := make(chan result, n)
	cancels := make([]context.CancelFunc, n)
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/slow/%d", base, i), nil)
		go func(i int) {
			resp, err := client.Do(req)
			if err != nil {
				results <- result{i, "", err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{i, string(b), err}
		}(i)
	}
	for i := 0; i < n; i++ {
		<-parked
	}
	for i := 0; i < n; i += 2 {
		cancels[i]() // the even clients leave while their requests are detached
	}
	close(release)
	for k := 0; k < n; k++ {
		r := <-results
		if r.i%2 == 1 && (r.err != nil || r.body != fmt.Sprintf("done %d", r.i)) {
			t.Errorf("request %d: %q %v", r.i, r.body, r.err)
		}
	}
	for _, cancel := range cancels {
		cancel()
	}
}

// panic(nil) is a panic like any other: a 500 and a log line. Before Go 1.21 recover() returns
// nil for it (and with GODEBUG=panicnil=1 after), so a check of recover's value alone took the
// handler for one that returned: the panic was swallowed and the response finished as it stood
// (a 200 with whatever had been written).
func TestPanicNilGives500(t *testing.T) {
	app, logs := newLoggedApp()
	app.Get(`/panic-nil`, func(w *ResponseWriter, r *Request) {
		w.WriteString("half")
		panic(nil)
	})
	app.Get(`/panic-nil-later`, func(w *ResponseWriter, r *Request) {
		w.Detach()
		go w.Do(func() { panic(nil) })
	})
	app.Get(`/ok`, func(w *ResponseWriter, r *Request) { w.WriteString("fine") })
	base := start(t, app)

	resp, body := do(t, "GET", base+"/panic-nil", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/panic-nil-later", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
	out := logs.String()
	if !strings.Contains(out, "panic in handler of GET /panic-nil: panic called with nil argument") ||
		!strings.Contains(out, "panic in ResponseWriter.Do of GET /panic-nil-later: panic called with nil") {
		t.Fatalf("log lines missing:\n%s", out)
	}
}

// The same on the raw server (ServeAll).
func TestPanicNilGives500Raw(t *testing.T) {
	app, logs := newLoggedApp()
	app.ServeAll(func(w *ResponseWriter, r *Request) {
		if r.Path() == "/panic-nil" {
			panic(nil)
		}
		w.WriteString("fine")
	})
	base := start(t, app)
	resp, body := do(t, "GET", base+"/panic-nil", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
	if !strings.Contains(logs.String(), "panic in handler of GET /panic-nil: panic called with nil") {
		t.Fatalf("raw log: %q", logs.String())
	}
}
