package eddy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// getOn sends one keep-alive GET on conn and reads the response (bounded by a deadline).
func getOn(t *testing.T, conn net.Conn, br *bufio.Reader, path string) (*http.Response, string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp, string(b)
}

// expectClosedByServer waits (bounded) for the server to close conn: EOF with nothing read.
func expectClosedByServer(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b [1]byte
	if n, err := conn.Read(b[:]); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("%s: read %d bytes, %v; want the server to close it (EOF)", what, n, err)
	}
}

// Shutdown as net/http's: with a request in flight (a detached response not yet finished), the
// idle keep-alive connections of every server (Start's and AddServer's) are closed at once,
// new connections are refused, Shutdown waits, and the request in flight gets its whole answer;
// then Shutdown returns nil and the App has ended (Done closed, every handle released).
func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	slowBody := strings.Repeat("slow answer ", 20000) // several writes' worth
	parked := make(chan struct{}, 1)
	release := make(chan struct{})
	app := New()
	app.Get(`/fast`, func(w *ResponseWriter, r *Request) { w.WriteString("fast") })
	app.Get(`/slow`, func(w *ResponseWriter, r *Request) {
		w.Detach()
		parked <- struct{}{}
		go func() {
			<-release
			w.WriteString(slowBody)
			w.Finish()
		}()
	})
	second := app.AddServer("127.0.0.1:0")
	start(t, app)
	ports := []int{app.Port(), second.Port()}

	// An idle keep-alive connection on each server, after one answered request.
	var idle []net.Conn
	for _, port := range ports {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, body := getOn(t, conn, bufio.NewReader(conn), "/fast")
		expect(t, resp, body, 200, "fast")
		idle = append(idle, conn)
	}
	// The request in flight.
	slow, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slowBR := bufio.NewReader(slow)
	slow.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(slow, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-parked

	result := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		result <- app.Shutdown(ctx)
	}()

	// Idle connections close at once (so the shutdown has begun)...
	for i, conn := range idle {
		expectClosedByServer(t, conn, fmt.Sprintf("idle keep-alive connection to server %d", i))
	}
	// ... no new connection is accepted on any server...
	for _, port := range ports {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
			t.Fatalf("a new connection to port %d was accepted during the shutdown", port)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("a new connection to port %d during the shutdown: %v, want refused", port, err)
		}
	}
	// ... and Shutdown waits for the request in flight.
	select {
	case err := <-result:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-app.Done():
		t.Fatalf("the App ended with a request in flight")
	default:
	}

	close(release)
	resp, err := http.ReadResponse(slowBR, nil)
	if err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(b) != slowBody {
		t.Fatalf("the request in flight got %d, %d bytes, %v; want 200 and %d bytes",
			resp.StatusCode, len(b), err, len(slowBody))
	}
	expectClosedByServer(t, slow, "the connection of the request in flight, once answered")
	// Our side too: the server lingers on a closed connection (up to 2 s, discarding input)
	// until the client closes, and the shutdown is done once the last connection has gone.
	slow.Close()

	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Shutdown: %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Shutdown did not return")
	}
	select {
	case <-app.Done(): // closed before Shutdown returned nil
	default:
		t.Fatalf("Shutdown returned nil but Done is not closed")
	}
	// Again, and Stop after it: harmless.
	if err := app.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	app.Stop()
}

// A request that does not finish before ctx ends: Shutdown returns ctx.Err() and falls back to
// Stop, so the App ends all the same (the detached response is finished by the binding).
func TestShutdownDeadlineFallsBackToStop(t *testing.T) {
	parked := make(chan *ResponseWriter, 1)
	app := New()
	app.Get(`/stuck`, func(w *ResponseWriter, r *Request) {
		w.Detach()
		w.WriteString("partial")
		parked <- w
	})
	base := start(t, app)
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/stuck")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	w := <-parked // never finished by the test: stuck for good

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := app.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck request: %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-app.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the App did not end after Shutdown's deadline")
	}
	if err := w.Finish(); !errors.Is(err, ErrState) {
		t.Fatalf("Finish after the App ended: %v, want ErrState", err)
	}
	if b := <-got; b != "partial" && !strings.HasPrefix(b, "error: ") {
		t.Fatalf("client got %q", b)
	}
	// After the App ended, Shutdown returns nil at once, even with an expired context.
	if err := app.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after the end: %v", err)
	}
}

// Shutdown before Start does nothing (as Stop); on the loop thread it panics as Wait does
// (answered with 500 and logged); after Stop it returns nil once the App ended; ServeAll's
// server is shut down as well.
func TestShutdownBeforeStartOnTheLoopAndServeAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := New().Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}

	app, logs := newLoggedApp()
	app.Get(`/shutdown`, func(w *ResponseWriter, r *Request) { r.App().Shutdown(ctx) })
	app.Get(`/ok`, func(w *ResponseWriter, r *Request) { w.WriteString("fine") })
	base := start(t, app)
	resp, body := do(t, "GET", base+"/shutdown", nil, nil)
	expect(t, resp, body, 500, "")
	resp, body = do(t, "GET", base+"/ok", nil, nil)
	expect(t, resp, body, 200, "fine")
	if !strings.Contains(logs.String(), "App.Shutdown called on the App's own loop thread") {
		t.Fatalf("no log line:\n%s", logs.String())
	}
	app.Stop()
	if err := app.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after Stop: %v", err)
	}
	select {
	case <-app.Done():
	default:
		t.Fatalf("Shutdown after Stop returned before the App ended")
	}

	raw := New()
	raw.ServeAll(func(w *ResponseWriter, r *Request) { w.WriteString("raw") })
	rawBase := start(t, raw)
	resp, body = do(t, "GET", rawBase+"/", nil, nil)
	expect(t, resp, body, 200, "raw")
	if err := raw.Shutdown(ctx); err != nil {
		t.Fatalf("ServeAll's Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(rawBase, "http://")); err == nil {
		t.Fatalf("ServeAll's server still accepts after Shutdown")
	}
}

// When eddy cannot queue the shutdown on the loop (out of memory), Shutdown says so and falls
// back to Stop: the App ends all the same.
func TestShutdownThatCannotBeQueuedStops(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) {})
	start(t, app)
	app.setPostFault(t, ErrNoMemory)
	if err := app.Shutdown(context.Background()); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("Shutdown with posts failing: %v, want ErrNoMemory", err)
	}
	select {
	case <-app.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the App did not end")
	}
}
