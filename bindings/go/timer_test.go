package eddy

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor fails the test unless ch delivers within 10 s.
func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestTimersBeforeStartAndAfterStop(t *testing.T) {
	app := New()
	if _, err := app.CallLater(0, func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("CallLater before Start: %v", err)
	}
	if t0, t1 := app.Time(), app.Time(); t0 <= 0 || t1 < t0 {
		t.Fatalf("Time before Start: %v then %v", t0, t1)
	}
	p, err := app.NewPeriodicCallback(func() {}, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); !errors.Is(err, ErrClosed) || p.IsRunning() {
		t.Fatalf("PeriodicCallback.Start before Start: %v", err)
	}
	for what, interval := range map[string]time.Duration{"zero": 0, "negative": -time.Second} {
		if _, err := app.NewPeriodicCallback(func() {}, interval); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s interval: %v", what, err)
		}
	}
	if _, err := app.NewPeriodicCallback(nil, time.Second); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil fn: %v", err)
	}
	start(t, app)
	if _, err := app.CallLater(0, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil fn: %v", err)
	}
	if err := app.RemoveTimeout(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("RemoveTimeout(nil): %v", err)
	}
	other, err := New().CallLater(0, func() {})
	if other != nil || !errors.Is(err, ErrClosed) {
		t.Fatalf("another App's CallLater: %v %v", other, err)
	}
	app.Stop()
	app.Wait()
	if _, err := app.CallLater(0, func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("CallLater after Stop: %v", err)
	}
	if _, err := app.CallAt(0, func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("CallAt after Stop: %v", err)
	}
}

func TestCallLaterCallAtOrderAndRemoveTimeout(t *testing.T) {
	app, logs := newLoggedApp()
	start(t, app)

	var order []string // appended on the loop thread only; read after done
	done := make(chan struct{})
	add := func(s string) func() { return func() { order = append(order, s) } }

	// From the test's goroutine (off the loop thread: each call waits for the loop).
	now := app.Time()
	if now <= 0 {
		t.Fatalf("Time: %v", now)
	}
	mustSchedule := func(tm *Timeout, err error) *Timeout {
		t.Helper()
		if err != nil || tm == nil {
			t.Fatalf("scheduling: %v", err)
		}
		return tm
	}
	// Generous gaps: each call off the loop thread waits for a round trip to the loop.
	mustSchedule(app.CallLater(300*time.Millisecond, add("300ms")))
	mustSchedule(app.CallAt(now+0.03, add("at+30ms")))
	mustSchedule(app.CallLater(10*time.Millisecond, func() { panic("timer boom") }))
	mustSchedule(app.CallLater(-time.Second, add("negative")))
	removed := mustSchedule(app.CallLater(20*time.Millisecond, add("removed")))
	mustSchedule(app.CallLater(400*time.Millisecond, func() { order = append(order, "last"); close(done) }))
	// Left pending when the App stops: released then (start's leak check), never run.
	mustSchedule(app.CallLater(time.Hour, func() { t.Error("a call an hour away ran") }))
	if err := app.RemoveTimeout(removed); err != nil {
		t.Fatalf("RemoveTimeout: %v", err)
	}
	if err := app.RemoveTimeout(removed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveTimeout twice: %v", err)
	}
	// On the loop thread: scheduled at once; same-time calls run in scheduling order, and a
	// call removed from inside another callback never runs. (t.Errorf only: FailNow is for the
	// test's goroutine.)
	app.Call(func() {
		later := func(d time.Duration, fn func()) *Timeout {
			tm, err := app.CallLater(d, fn)
			if err != nil {
				t.Errorf("CallLater on the loop thread: %v", err)
			}
			return tm
		}
		later(100*time.Millisecond, add("100ms-a"))
		later(100*time.Millisecond, add("100ms-b"))
		victim := later(150*time.Millisecond, add("victim"))
		later(120*time.Millisecond, func() {
			if err := app.RemoveTimeout(victim); err != nil {
				t.Errorf("RemoveTimeout on the loop thread: %v", err)
			}
		})
	})
	waitFor(t, "the last timer", done)
	want := "negative at+30ms 100ms-a 100ms-b 300ms last"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "panic in timer: timer boom") {
		t.Fatalf("the timer's panic was not logged: %q", logs.String())
	}
	// A call that already ran cannot be removed.
	ran := make(chan struct{})
	tm := mustSchedule(app.CallLater(0, func() { close(ran) }))
	waitFor(t, "a zero-delay timer", ran)
	if err := app.RemoveTimeout(tm); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveTimeout after it ran: %v", err)
	}
}

func TestPeriodicCallbackTicksStopsAndRestarts(t *testing.T) {
	app, logs := newLoggedApp()
	start(t, app)

	var ticks atomic.Int64
	third := make(chan struct{})
	var once sync.Once
	p, err := app.NewPeriodicCallback(func() {
		if ticks.Add(1) == 3 {
			once.Do(func() { close(third) })
		}
		if ticks.Load() == 2 {
			panic("tick boom") // logged; the ticks go on
		}
	}, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil || !p.IsRunning() {
		t.Fatalf("Start: %v running=%v", err, p.IsRunning())
	}
	if err := p.Start(); err != nil { // already running: nothing happens
		t.Fatalf("Start twice: %v", err)
	}
	waitFor(t, "three ticks", third)
	if err := p.Stop(); err != nil || p.IsRunning() {
		t.Fatalf("Stop: %v running=%v", err, p.IsRunning())
	}
	if !strings.Contains(logs.String(), "panic in periodic callback: tick boom") {
		t.Fatalf("the tick's panic was not logged: %q", logs.String())
	}
	// Stop waited for the loop: no tick starts afterwards.
	after := ticks.Load()
	time.Sleep(50 * time.Millisecond)
	if n := ticks.Load(); n != after {
		t.Fatalf("%d ticks after Stop", n-after)
	}
	if err := p.Stop(); err != nil { // stopped already: nothing happens
		t.Fatalf("Stop twice: %v", err)
	}

	// Restarted, it stops itself from inside its own callback.
	selfStopped := make(chan struct{})
	var q *PeriodicCallback
	var qTicks int // loop thread only
	q, err = app.NewPeriodicCallback(func() {
		qTicks++
		if qTicks == 2 {
			if err := q.Stop(); err != nil {
				t.Errorf("Stop inside the callback: %v", err)
			}
			close(selfStopped)
		}
	}, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		qTicks = 0
		selfStopped = make(chan struct{})
		if err := q.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the self-stopping periodic callback", selfStopped)
		if q.IsRunning() {
			t.Fatalf("round %d: still running after stopping itself", round)
		}
	}

	// One left running when the App stops is released with the loop (start's leak check).
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	app.Stop()
	app.Wait()
	if p.IsRunning() {
		t.Fatal("running after the App stopped")
	}
	if err := p.Stop(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stop after the App stopped: %v", err)
	}
}
