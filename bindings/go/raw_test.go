package eddy

import (
	"errors"
	"fmt"
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
	if n := liveHandles.Load(); n != 0 {
		t.Fatalf("%d handles alive", n)
	}
}
