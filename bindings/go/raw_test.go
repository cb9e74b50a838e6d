package eddy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// ServeAll: eddy's HTTP server without the web layer, same Request/ResponseWriter types.
func TestServeAll(t *testing.T) {
	app, logs := newLoggedApp()
	waiting := make(chan struct{}, 1)
	finishErr := make(chan error, 1)
	app.ServeAll(func(w *ResponseWriter, r *Request) {
		switch r.Path() {
		case "/panic":
			panic("raw boom")
		case "/later":
			w.Detach()
			go func() {
				w.SetHeader("X-Later", "yes")
				w.WriteString("from a goroutine")
				w.Finish()
			}()
		case "/wait":
			w.Detach()
			waiting <- struct{}{}
			go func() {
				<-w.Closed()
				finishErr <- w.Finish()
			}()
		case "/redirect":
			w.Redirect("/elsewhere", 0)
		default:
			arg, _ := r.Argument("a")
			cookieErr := w.SetCookie("c", "v", nil)
			w.SetStatus(201)
			w.SetHeader("Content-Type", "text/plain")
			fmt.Fprintf(w, "%s %s a=%s h=%s body=%s patharg=%q cookie=%v", r.Method(), r.Path(),
				arg, r.Header("X-H"), r.Body(), r.PathArg(0), errors.Is(cookieErr, ErrNotSupported))
		}
	})
	base := start(t, app)

	resp, body := do(t, "POST", base+"/x?a=1", strings.NewReader("data"), map[string]string{"X-H": "hv"})
	expect(t, resp, body, 201, `POST /x a=1 h=hv body=data patharg="" cookie=true`)
	resp, body = do(t, "GET", base+"/later", nil, nil)
	expect(t, resp, body, 200, "from a goroutine")
	if resp.Header.Get("X-Later") != "yes" {
		t.Fatalf("headers %v", resp.Header)
	}
	resp, body = do(t, "GET", base+"/panic", nil, nil)
	expect(t, resp, body, 500, "")
	if !strings.Contains(logs.String(), "panic in handler of GET /panic: raw boom") {
		t.Fatalf("log: %q", logs.String())
	}
	resp, body = do(t, "GET", base+"/redirect", nil, nil)
	expect(t, resp, body, 302, "")
	if resp.Header.Get("Location") != "/elsewhere" {
		t.Fatalf("Location %q", resp.Header.Get("Location"))
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-waiting
	conn.Close()
	select {
	case err := <-finishErr:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Finish after the client left: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Closed() never fired for the raw request")
	}
	resp, body = do(t, "GET", base+"/after", nil, nil)
	expect(t, resp, body, 201, "")
}

func TestServeAllWithRoutesIsRefused(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) {})
	app.ServeAll(func(w *ResponseWriter, r *Request) {})
	if err := app.Start("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("Start: %v", err)
	}
	<-app.Done()
	noHandlesLeft(t, "after the refused App was released")
}

// Abort (eddy_request_abort): the client sees an incomplete response — a chunked body without
// its last chunk, a declared length left short, or, before the head, just the close — and the
// server goes on serving other connections. In the web layer it is not supported.
func TestServeAllAbort(t *testing.T) {
	app, _ := newLoggedApp()
	abortErr := make(chan error, 3)
	app.ServeAll(func(w *ResponseWriter, r *Request) {
		switch r.Path() {
		case "/chunked":
			w.WriteString("first")
			w.Flush()
			w.WriteString("second")
			abortErr <- w.Abort()
		case "/short":
			w.SetHeader("Content-Length", "10")
			w.WriteString("12345")
			w.Flush()
			abortErr <- w.Abort()
		case "/nohead":
			w.WriteString("never sent")
			abortErr <- w.Abort()
		default:
			w.WriteString("fine")
		}
	})
	base := start(t, app)
	addr := strings.TrimPrefix(base, "http://")

	for _, c := range []struct{ path, want string }{{"/chunked", "firstsecond"}, {"/short", "12345"}} {
		resp, err := client.Get(base + c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != c.want || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s: %d %q %v, want 200 %q and an unexpected EOF", c.path, resp.StatusCode,
				got, err, c.want)
		}
		if err := <-abortErr; err != nil {
			t.Fatalf("%s: Abort: %v", c.path, err)
		}
	}

	// Before the head: nothing at all, the connection closes.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /nohead HTTP/1.1\r\nHost: x\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if len(got) != 0 || err != nil {
		t.Fatalf("before the head: read %q, %v; want nothing and EOF", got, err)
	}
	if err := <-abortErr; err != nil {
		t.Fatalf("/nohead: Abort: %v", err)
	}

	resp, body := do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
}

func TestAbortNotSupportedInTheWebLayer(t *testing.T) {
	app, _ := newLoggedApp()
	got := make(chan error, 1)
	app.Get(`/`, func(w *ResponseWriter, r *Request) {
		got <- w.Abort()
		w.WriteString("still open")
	})
	base := start(t, app)
	resp, body := do(t, "GET", base+"/", nil, nil)
	expect(t, resp, body, 200, "still open")
	if err := <-got; !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Abort in a web handler: %v, want ErrNotSupported", err)
	}
}
