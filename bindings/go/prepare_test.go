package eddy

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An asynchronous Prepare (Detach, then Resume or an answer from a goroutine): the method runs
// only after the goroutine's Resume, and a refusal from the goroutine skips it.
func TestAsyncPrepare(t *testing.T) {
	app := New()
	var resumed, methodRan atomic.Int32
	resumeErrs := make(chan error, 4)
	finished := make(chan string, 4)
	app.Route(`/async`).
		Prepare(func(w *ResponseWriter, r *Request) {
			_, deny := r.QueryArgument("deny")
			if err := w.Detach(); err != nil {
				t.Errorf("Detach in Prepare: %v", err)
				return
			}
			go func() {
				time.Sleep(100 * time.Millisecond) // the "lookup"
				if deny {
					w.SendError(403)
					return
				}
				resumed.Store(1)
				resumeErrs <- w.Resume()
			}()
		}).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) {
			methodRan.Add(1)
			fmt.Fprintf(w, "method after resume=%d", resumed.Load())
		}).
		OnFinish(func(r *Request) { finished <- r.URI() })
	// A method that detaches again after the resume answers from its own goroutine.
	app.Route(`/twice`).
		Prepare(func(w *ResponseWriter, r *Request) {
			w.Detach()
			go func() { resumeErrs <- w.Resume() }()
		}).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) {
			if err := w.Detach(); err != nil {
				t.Errorf("Detach in the method after Resume: %v", err)
			}
			go func() {
				if err := w.Resume(); !errors.Is(err, ErrState) {
					t.Errorf("Resume of a method's detach: %v, want ErrState", err)
				}
				w.WriteString("from the method's goroutine")
				w.Finish()
			}()
		})
	// Resume without an asynchronous Prepare is refused.
	app.Get(`/plain`, func(w *ResponseWriter, r *Request) {
		if err := w.Resume(); !errors.Is(err, ErrState) {
			t.Errorf("Resume in a method: %v, want ErrState", err)
		}
		w.WriteString("plain")
	})
	base := start(t, app)

	start := time.Now()
	resp, body := do(t, "GET", base+"/async", nil, nil)
	expect(t, resp, body, 200, "method after resume=1")
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("answered after %v: the method did not wait for the Resume", d)
	}
	if err := <-resumeErrs; err != nil {
		t.Fatalf("Resume: %v", err)
	}
	resp, body = do(t, "GET", base+"/async?deny=1", nil, nil)
	expect(t, resp, body, 403, "")
	if n := methodRan.Load(); n != 1 {
		t.Fatalf("the method ran %d times, want 1 (not for the refused request)", n)
	}
	for _, want := range []string{"/async", "/async?deny=1"} {
		select {
		case got := <-finished:
			if got != want {
				t.Fatalf("on_finish saw %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("on_finish did not run for %q", want)
		}
	}
	resp, body = do(t, "GET", base+"/twice", nil, nil)
	expect(t, resp, body, 200, "from the method's goroutine")
	if err := <-resumeErrs; err != nil {
		t.Fatalf("Resume: %v", err)
	}
	resp, body = do(t, "GET", base+"/plain", nil, nil)
	expect(t, resp, body, 200, "plain")
}

// An asynchronous Prepare on a WebSocket route holds the handshake: a refusal after the wait
// gives the client the 403 and Open never runs; a Resume lets the upgrade go on.
func TestAsyncPrepareWebSocket(t *testing.T) {
	app := New()
	var opened atomic.Int32
	prepare := func(w *ResponseWriter, r *Request) {
		_, deny := r.QueryArgument("deny")
		w.Detach()
		go func() {
			time.Sleep(50 * time.Millisecond)
			if deny {
				w.SendError(403)
			} else if err := w.Resume(); err != nil {
				t.Errorf("Resume: %v", err)
			}
		}()
	}
	app.WebSocket("/authws", WebSocket{
		Open:      func(c *Conn) { opened.Add(1) },
		OnMessage: func(c *Conn, data []byte, binary bool) { c.WriteText("echo: " + string(data)) },
	}).Prepare(prepare)
	base := start(t, app)
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	events := make(chan string, 16)
	if err := app.DialWebSocket(wsBase+"/authws?deny=1", WebSocketClient{
		OnRefused: func(status int, reason string) { events <- fmt.Sprintf("refused %d", status) },
		OnError:   func(err error) { events <- "error" },
		WebSocket: WebSocket{Open: func(c *Conn) { events <- "connected" }},
	}); err != nil {
		t.Fatal(err)
	}
	if got := clientEvents(t, events, 2); got[0] != "refused 403" || got[1] != "error" {
		t.Fatalf("refused: %q", got)
	}
	if n := opened.Load(); n != 0 {
		t.Fatalf("Open ran %d times on a refused upgrade", n)
	}
	if err := app.DialWebSocket(wsBase+"/authws", WebSocketClient{
		OnError: func(err error) { events <- "error " + err.Error() },
		WebSocket: WebSocket{
			Open:      func(c *Conn) { c.WriteText("hi") },
			OnMessage: func(c *Conn, data []byte, binary bool) { events <- string(data); c.Close(1000, "") },
		},
	}); err != nil {
		t.Fatal(err)
	}
	if got := clientEvents(t, events, 1); got[0] != "echo: hi" {
		t.Fatalf("resumed: %q", got)
	}
	if n := opened.Load(); n != 1 {
		t.Fatalf("Open ran %d times, want 1", n)
	}
}

// The client leaves while an asynchronous Prepare waits: Resume reports ErrClosed, eddy
// finishes the request without the method (OnFinish runs) and every handle is released
// (start's cleanup checks it).
func TestAsyncPrepareClientGoesAway(t *testing.T) {
	waiting := make(chan struct{})
	resumeErr := make(chan error, 1)
	finished := make(chan struct{})
	var methodRan atomic.Int32
	app := New()
	app.Route(`/wait`).
		Prepare(func(w *ResponseWriter, r *Request) {
			w.Detach()
			close(waiting)
			go func() {
				<-w.Closed()
				resumeErr <- w.Resume()
			}()
		}).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) { methodRan.Add(1) }).
		OnFinish(func(r *Request) { close(finished) })
	base := start(t, app)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	<-waiting
	conn.Close()
	select {
	case err := <-resumeErr:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Resume after the client left: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine never saw Closed()")
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("OnFinish did not run")
	}
	if n := methodRan.Load(); n != 0 {
		t.Fatalf("the method ran %d times for a client that left", n)
	}
}
