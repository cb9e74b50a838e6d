package eddy

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The loop-thread protocol of eventloop.go (onLoop, post, onLoopThread) and its users' life
// cycles (App.Start/Wait, the dial loop) in the cases where something goes wrong.

// setPostFault makes the loop's posts fail with code (0: work again), as eddy's
// eddy_loop_call_soon_threadsafe does when out of memory, until the test ends.
func (l *eventLoop) setPostFault(t *testing.T, code Error) {
	l.mu.Lock()
	l.postFault = code
	l.mu.Unlock()
	t.Cleanup(func() {
		l.mu.Lock()
		l.postFault = 0
		l.mu.Unlock()
	})
}

// within runs fn in a goroutine and fails the test when it does not return within safety.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(safety):
		t.Fatalf("%s did not return", what)
	}
}

func TestOnLoopPanicReachesTheCaller(t *testing.T) {
	app, logs := newLoggedApp()
	start(t, app)
	var got interface{}
	returned := false
	within(t, "onLoop with a panicking function", func() {
		defer func() { got = recover() }()
		app.onLoop(func() error { panic("boom") })
		returned = true
	})
	if returned || got != "boom" {
		t.Fatalf("onLoop returned %v and the caller recovered %v, want a panic \"boom\"",
			returned, got)
	}
	// The loop went on, and the panic was the caller's to handle: not logged.
	if err := app.onLoop(func() error { return ErrNotFound }); err != ErrNotFound {
		t.Fatalf("onLoop after the panic: %v", err)
	}
	if logs.String() != "" {
		t.Fatalf("logged: %q", logs.String())
	}
}

func TestPostOutOfMemoryOnAStream(t *testing.T) {
	// A stream of the dial loop, to a Go peer.
	t.Cleanup(func() { noHandlesLeft(t, "after the stream closed") })
	ln := goListener(t)
	s := dialed(t, ln.Addr().String())
	conn := accepted(t, ln)
	l := s.loop
	l.setPostFault(t, ErrNoMemory)

	// Before, each of these read the failed post as "the loop stopped" and waited for the
	// stream's close (which never came: a hang) or said ErrClosed.
	within(t, "calls while posts fail", func() {
		if err := s.SetNoDelay(true); !errors.Is(err, ErrNoMemory) {
			t.Errorf("SetNoDelay: %v, want ErrNoMemory", err)
		}
		if n, err := s.Write([]byte("lost")); n != 0 || !errors.Is(err, ErrNoMemory) {
			t.Errorf("Write: %d, %v, want 0, ErrNoMemory", n, err)
		}
		if _, err := s.ReadBytes(1, true); !errors.Is(err, ErrNoMemory) {
			t.Errorf("ReadBytes: %v, want ErrNoMemory", err)
		}
		if err := s.Close(); !errors.Is(err, ErrNoMemory) {
			t.Errorf("Close: %v, want ErrNoMemory", err)
		}
	})
	if s.Err() != nil {
		t.Fatalf("the stream closed: %v", s.Err())
	}

	// Once posts work again, the stream goes on where it was.
	l.setPostFault(t, 0)
	if _, err := s.WriteString("kept\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := conn.Read(buf); err != nil || string(buf) != "kept\n" {
		t.Fatalf("the peer read %q, %v", buf, err)
	}
}

// The App's ways of posting report eddy's out of memory, and its loop still runs.
func TestPostOutOfMemoryOnAnApp(t *testing.T) {
	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) {})
	start(t, app)
	app.setPostFault(t, ErrNoMemory)
	if app.Call(func() {}) {
		t.Error("Call accepted work eddy could not queue")
	}
	if err := app.DialWebSocket("ws://127.0.0.1:1/", WebSocketClient{}); !errors.Is(err, ErrNoMemory) {
		t.Errorf("DialWebSocket: %v, want ErrNoMemory", err)
	}
	if _, err := app.ReverseURL("none"); !errors.Is(err, ErrNoMemory) {
		t.Errorf("ReverseURL: %v, want ErrNoMemory", err)
	}
	select {
	case <-app.Done():
		t.Fatal("the App's loop ended")
	default:
	}
	app.setPostFault(t, 0)
	if !app.Call(func() {}) {
		t.Fatal("Call refused once posts work again")
	}
}

// goListener and accepted: a Go peer for the dial loop's streams.
func goListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// accepted returns the next connection of ln (one DialTCP already made), closed at the end.
func accepted(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(safety))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(safety))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestOnLoopThread(t *testing.T) {
	app := New()
	start(t, app)
	var inside bool
	if err := app.onLoop(func() error { inside = app.onLoopThread(); return nil }); err != nil {
		t.Fatal(err)
	}
	if !inside || app.onLoopThread() {
		t.Fatalf("onLoopThread: %v inside a posted function, %v on the test's goroutine",
			inside, app.onLoopThread())
	}
	other := New()
	if other.onLoopThread() {
		t.Fatal("onLoopThread of an App not started")
	}
	// Not start(t, other): its check for handles left would see app's still running.
	if err := other.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		other.Stop()
		within(t, "the other App's Wait", other.Wait)
	})
	app.onLoop(func() error { inside = other.onLoopThread(); return nil })
	if inside {
		t.Fatal("onLoopThread true on another App's loop thread")
	}
}

// TestOnLoopThreadAfterTheThreadIdIsReused: once a loop's thread ended, the kernel gives its
// thread id to a later thread. Such a thread is not the loop's. Thread ids are handed out in
// turn up to pid_max, so the test makes (and ends) threads until one gets the loop thread's
// id; it skips when that takes more than one round (another process holds the id).
func TestOnLoopThreadAfterTheThreadIdIsReused(t *testing.T) {
	pidMax := 32768
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pidMax = n
		}
	}
	if pidMax > 1<<16 {
		t.Skipf("pid_max %d: too many threads to make before a thread id comes round", pidMax)
	}
	app := New()
	if err := app.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	var loopTid int
	app.onLoop(func() error { loopTid = syscall.Gettid(); return nil })
	app.Stop()
	within(t, "Wait", app.Wait)

	deadline := time.Now().Add(2 * safety) // a bound on the search, not a measurement
	for i := 0; i < pidMax+1000 && time.Now().Before(deadline); i++ {
		type seen struct{ reused, onLoop bool }
		ch := make(chan seen)
		go func() {
			// Never unlocked: the thread ends with this goroutine, so the next one needs a new
			// thread, with the next thread id.
			runtime.LockOSThread()
			if syscall.Gettid() != loopTid {
				ch <- seen{}
				return
			}
			ch <- seen{true, app.onLoopThread()}
		}()
		if s := <-ch; s.reused {
			t.Logf("thread id %d came round after %d threads", loopTid, i+1)
			if s.onLoop {
				t.Fatalf("a new thread with the ended loop thread's id %d counts as the loop's",
					loopTid)
			}
			return
		}
	}
	t.Skipf("no thread got the id %d again (another process holds it)", loopTid)
}

func TestDialLoopComesBackAfterItEnded(t *testing.T) {
	t.Cleanup(func() { noHandlesLeft(t, "after the streams closed") })
	ln := goListener(t)
	s := dialed(t, ln.Addr().String())
	accepted(t, ln)
	// End the dial loop as a failing eddy_loop_run would: its streams close.
	old := s.loop
	old.stop()
	within(t, "the dial loop's end", func() { <-old.done })
	if _, err := s.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write on a stream of the ended loop: %v", err)
	}
	// The next dial gets a new loop and works.
	s2 := dialed(t, ln.Addr().String())
	conn := accepted(t, ln)
	if s2.loop == old {
		t.Fatal("the ended loop was reused")
	}
	if _, err := s2.WriteString("again"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := conn.Read(buf); err != nil || string(buf) != "again" {
		t.Fatalf("the peer read %q, %v", buf, err)
	}
}

func TestWaitAfterAStartThatMadeNoLoop(t *testing.T) {
	app := New()
	if err := app.Start("no port"); err == nil {
		t.Fatal("Start accepted an address without a port")
	}
	within(t, "Wait after a failed Start", app.Wait)
	select {
	case <-app.Done():
	default:
		t.Fatal("Done is open after a failed Start")
	}
	if app.Call(func() {}) {
		t.Fatal("Call accepted after a failed Start")
	}
}

// runtime.Goexit in a handler (t.Fatal / t.FailNow there, the usual way) cannot be recovered:
// it ends the loop's goroutine from inside eddy's C frames. It used to do that silently — Done
// closed as if the loop had stopped, the socket stayed open, clients hung, nothing was freed.
// Now the process ends with a panic that says what happened. Run in a child process.
func TestGoexitInAHandlerCrashesWithAMessage(t *testing.T) {
	if os.Getenv("EDDY_GO_GOEXIT_CHILD") == "1" {
		app := New()
		app.Get(`/exit`, func(w *ResponseWriter, r *Request) { runtime.Goexit() })
		if err := app.Start("127.0.0.1:0"); err != nil {
			os.Exit(3)
		}
		go func() {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(app.Port()))
			if err == nil {
				c.Write([]byte("GET /exit HTTP/1.1\r\nHost: x\r\n\r\n"))
			}
		}()
		select {
		case <-app.Done():
			os.Exit(4) // the loop "stopped" silently: the old behaviour
		case <-time.After(10 * time.Second):
			os.Exit(5)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoexitInAHandlerCrashesWithAMessage$")
	cmd.Env = append(os.Environ(), "EDDY_GO_GOEXIT_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 ||
		!strings.Contains(string(out), "eddy: runtime.Goexit called in a callback on the loop thread") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
