package eddy

// #include "shim.h"
import "C"

import "unsafe"

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
