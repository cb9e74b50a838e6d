package eddy

// #include "shim.h"
// #include "shim_client.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// fetchPhase is where a Fetch is in its life (loop thread).
type fetchPhase int

const (
	fetchQueued  fetchPhase = iota // Fetch posted its start, which did not run yet
	fetchRunning                   // eddy runs it (cf set)
	fetchEnded                     // done ran or is running
)

// WriteBody appends p to the body announced with HTTPRequest.BodyStream (copied; sent as the
// connection allows). Thread: any goroutine; off the loop thread it waits until the loop took
// the bytes, so its error is the real one. Errors: ErrTooBig past BodyStreamLength, ErrState
// without BodyStream, after EndBody or once the fetch ended, ErrClosed once the loop stopped.
func (f *Fetch) WriteBody(p []byte) error {
	return f.onLoop(func() error { return f.writeBody(p) })
}

// EndBody ends a streamed body. Thread: any goroutine (as WriteBody). Errors: ErrInvalid when
// fewer than BodyStreamLength bytes were written, ErrState without BodyStream, after EndBody
// or once the fetch ended, ErrClosed once the loop stopped.
func (f *Fetch) EndBody() error { return f.onLoop(f.endBody) }

// FlushBody waits until every byte WriteBody took before this call (with its chunk framing)
// was handed to the kernel (eddy_fetch_flush_body), and returns nil; the backpressure of a
// streamed request body. WriteBody never refuses bytes: it keeps them in memory until the
// connection takes them, so a producer faster than the server (a 200 MiB upload to a server
// that reads slowly) must wait, as Tornado's body_producer awaits write():
//
//	for each piece {
//		if err := f.WriteBody(piece); err != nil { ... }
//		if err := f.FlushBody(); err != nil { ... } // the fetch ended: done says why
//	}
//	f.EndBody()
//
// Flushing after each piece keeps at most one piece and the socket buffers in memory; flushing
// every few pieces lets the kernel's buffer never run dry. Called after EndBody it says that
// the whole body went. Thread: any goroutine but the loop's (there it returns an error
// wrapping ErrState at once: the loop would wait for itself; use OnBodyFlushed). Errors:
// ErrState without BodyStream or once the fetch ended; when the fetch ends before the bytes
// went, its error (ErrCanceled, ErrConnReset, ...) or ErrClosed when it ended without one (a
// response came before the body was sent); ErrClosed once the loop stopped; ErrNoMemory.
func (f *Fetch) FlushBody() error {
	a := f.client.app
	if a.onLoopThread() {
		return fmt.Errorf("eddy: Fetch.FlushBody on the loop thread would block it "+
			"(use OnBodyFlushed): %w", ErrState)
	}
	ch := make(chan error, 1)
	if err := f.onLoop(func() error { return f.flushBody(func(err error) { ch <- err }) }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-a.done: // the App's stop ends every fetch, and the waiters with it: a safety net
		select {
		case err := <-ch:
			return err
		default:
			return ErrClosed
		}
	}
}

// OnBodyFlushed is FlushBody for code on the loop thread (a done, OnChunk or posted
// function): fn runs once on the loop thread, never inside this call, with nil once every
// byte WriteBody took before this call was handed to the kernel, or with FlushBody's errors
// when the fetch ended first (then before the fetch's done). Writing the next piece from fn
// paces the body by the server. Several may wait; they run in call order. A panic in fn is
// logged and cancels the fetch. Thread: any goroutine (off the loop thread it waits for the
// loop to take the call, not for the flush). Errors (fn never runs then): ErrState without
// BodyStream or once the fetch ended, ErrClosed once the loop stopped, ErrNoMemory.
func (f *Fetch) OnBodyFlushed(fn func(err error)) error {
	if fn == nil {
		return ErrInvalid
	}
	return f.onLoop(func() error {
		return f.flushBody(func(err error) {
			f.streaming("OnBodyFlushed", func() { fn(err) })
		})
	})
}

// flushBody (loop thread) queues fn for eddy_fetch_flush_body's completion. Before the start
// ran there is no eddy_fetch: fn waits in f.earlyFlushes, and the start asks eddy for it.
func (f *Fetch) flushBody(fn func(error)) error {
	if !f.req.BodyStream {
		return ErrState
	}
	switch f.phase {
	case fetchQueued:
		f.earlyFlushes = append(f.earlyFlushes, fn)
		return nil
	case fetchRunning:
		if err := check(C.eddy_fetch_flush_body(f.cf,
			C.eddy_fetch_flush_fn(C.eddy_go_fetch_flushed))); err != nil {
			return err
		}
		f.flushes = append(f.flushes, fn)
		return nil
	}
	return ErrState
}

// startFlushes hands the flushes asked for before the start to the started cf (loop thread).
// One eddy cannot take hears its error at once.
func (f *Fetch) startFlushes(cf *C.eddy_fetch) {
	early := f.earlyFlushes
	f.earlyFlushes = nil
	for _, fn := range early {
		err := check(C.eddy_fetch_flush_body(cf, C.eddy_fetch_flush_fn(C.eddy_go_fetch_flushed)))
		if err != nil {
			fn(err)
			continue
		}
		f.flushes = append(f.flushes, fn)
	}
}

// failFlushes answers the flushes still waiting when the fetch ends without eddy having
// answered them (it never started: cancelled in the queue, or its start failed). Loop thread.
func (f *Fetch) failFlushes(err error) {
	if err == nil {
		err = ErrClosed
	}
	waiting := append(f.earlyFlushes, f.flushes...)
	f.earlyFlushes, f.flushes = nil, nil
	for _, fn := range waiting {
		fn(err)
	}
}

// PauseBody stops a streamed response body (HTTPRequest.OnChunk set): no OnChunk runs and the
// connection is not read until ResumeBody, so TCP holds the server back (eddy_fetch_pause_body;
// at most one read of the socket, 256 KiB, stays in memory). Called inside OnChunk, the pieces
// after the current one wait. The read timeout waits too; the request timeout does not.
// Pausing a paused fetch does nothing. Thread: any goroutine (off the loop thread it waits for
// the loop). Errors: ErrState without OnChunk, before the fetch started on the loop (Fetch
// called off the loop thread starts it on a later iteration) or once it ended; ErrClosed once
// the loop stopped.
func (f *Fetch) PauseBody() error { return f.onLoop(func() error { return f.flow(true) }) }

// ResumeBody resumes a paused body: the pieces held go to OnChunk on a later loop iteration,
// never inside this call (it may be made from OnChunk). Resuming a fetch not paused does
// nothing. Thread and errors: as PauseBody.
func (f *Fetch) ResumeBody() error { return f.onLoop(func() error { return f.flow(false) }) }

// flow (loop thread): eddy_fetch_pause_body / eddy_fetch_resume_body while eddy runs the fetch.
func (f *Fetch) flow(pause bool) error {
	if f.req.OnChunk == nil || f.cf == nil {
		return ErrState
	}
	if pause {
		return check(C.eddy_fetch_pause_body(f.cf))
	}
	return check(C.eddy_fetch_resume_body(f.cf))
}

// onLoop runs fn on the loop thread and returns its error (App.onLoop).
func (f *Fetch) onLoop(fn func() error) error { return f.client.app.onLoop(fn) }

// writeBody (loop thread). Before the start ran (Fetch then WriteBody on the loop thread)
// there is no eddy_fetch yet: the bytes wait in f.early, checked as eddy would check them.
func (f *Fetch) writeBody(p []byte) error {
	if !f.req.BodyStream {
		return ErrState
	}
	switch f.phase {
	case fetchQueued:
		n := f.req.BodyStreamLength
		if f.earlyEnd {
			return ErrState
		}
		if n > 0 && f.earlyBytes+int64(len(p)) > n {
			return ErrTooBig
		}
		f.early = append(f.early, append([]byte(nil), p...))
		f.earlyBytes += int64(len(p))
		return nil
	case fetchRunning:
		return writeFetchBody(f.cf, p)
	}
	return ErrState
}

func (f *Fetch) endBody() error {
	if !f.req.BodyStream {
		return ErrState
	}
	switch f.phase {
	case fetchQueued:
		if f.earlyEnd {
			return ErrState
		}
		if n := f.req.BodyStreamLength; n > 0 && f.earlyBytes != n {
			return ErrInvalid
		}
		f.earlyEnd = true
		return nil
	case fetchRunning:
		return check(C.eddy_fetch_end_body(f.cf))
	}
	return ErrState
}

// flushEarlyBody hands what WriteBody/EndBody kept before the start to the new eddy_fetch
// (eddy accepts body writes before eddy_fetch_start).
func (f *Fetch) flushEarlyBody(cf *C.eddy_fetch) error {
	for _, p := range f.early {
		if err := writeFetchBody(cf, p); err != nil {
			return err
		}
	}
	f.early = nil
	if f.earlyEnd {
		return check(C.eddy_fetch_end_body(cf))
	}
	return nil
}

func writeFetchBody(cf *C.eddy_fetch, p []byte) error {
	var data unsafe.Pointer
	if len(p) > 0 {
		data = unsafe.Pointer(&p[0]) // eddy copies the bytes, which hold no Go pointers
	}
	return check(C.eddy_fetch_write_body(cf, data, C.size_t(len(p))))
}
