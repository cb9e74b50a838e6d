package eddy

// #include "shim_client.h"
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// The exports below are called by the trampolines of shim_client.c, on the loop thread.

func fetchOf(ud unsafe.Pointer) *Fetch { return cgo.Handle(uintptr(ud)).Value().(*Fetch) }

// response reads what eddy holds for cf (valid during its callbacks only).
func (f *Fetch) response(cf *C.eddy_fetch, withBody bool) *HTTPResponse {
	var n C.size_t
	resp := &HTTPResponse{Request: f.orig, Code: int(C.eddy_fetch_response_status(cf))}
	reason := C.eddy_fetch_response_reason(cf, &n)
	resp.Reason = goStr(reason, n)
	count := int(C.eddy_fetch_response_header_count(cf))
	resp.Header = make(HTTPHeader, 0, count)
	for i := 0; i < count; i++ {
		var name, value *C.char
		var nn, vn C.size_t
		if C.eddy_fetch_response_header_at(cf, C.size_t(i), &name, &nn, &value, &vn) == 0 {
			resp.Header = append(resp.Header, Field{goStr(name, nn), goStr(value, vn)})
		}
	}
	if withBody {
		body := C.eddy_fetch_response_body(cf, &n)
		resp.Body = goBytes(body, n)
	}
	url := C.eddy_fetch_effective_url(cf, &n)
	resp.EffectiveURL = goStr(url, n)
	resp.Redirects = int(C.eddy_fetch_redirect_count(cf))
	resp.Reused = C.eddy_fetch_connection_reused(cf) != 0
	return resp
}

// deliver runs the user's done callback; a panic there is logged.
func (f *Fetch) deliver(resp *HTTPResponse, err error) {
	f.phase = fetchEnded
	f.failFlushes(err)
	if f.done == nil {
		return
	}
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			f.client.app.logPanic("HTTPClient fetch callback of "+f.req.URL, panicked(p))
		}
	}()
	f.done(resp, err)
	returned = true
}

// streaming runs OnHeaders or OnChunk; a panic there is logged and cancels the fetch.
func (f *Fetch) streaming(what string, fn func()) {
	returned := false
	defer func() {
		if p := recover(); p != nil || !returned {
			f.client.app.logPanic("HTTPClient "+what+" of "+f.req.URL, panicked(p))
			if f.cf != nil {
				C.eddy_fetch_cancel(f.cf)
			}
		}
	}()
	fn()
	returned = true
}

//export goFetchHeaders
func goFetchHeaders(cf *C.eddy_fetch, ud unsafe.Pointer) {
	f := fetchOf(ud)
	f.client.callbackDepth++
	defer func() { f.client.callbackDepth-- }()
	head := f.response(cf, false)
	f.streaming("OnHeaders", func() { f.req.OnHeaders(head) })
}

//export goFetchChunk
func goFetchChunk(cf *C.eddy_fetch, data *C.char, n C.size_t, ud unsafe.Pointer) {
	f := fetchOf(ud)
	f.client.callbackDepth++
	defer func() { f.client.callbackDepth-- }()
	chunk := goBytes(data, n)
	f.streaming("OnChunk", func() { f.req.OnChunk(chunk) })
}

// goFetchFlushed: eddy_fetch_flush_body's completion (status 0, or the fetch's error when it
// ended first), in the order of the calls.
//
//export goFetchFlushed
func goFetchFlushed(cf *C.eddy_fetch, status C.int, ud unsafe.Pointer) {
	f := fetchOf(ud)
	if len(f.flushes) == 0 {
		return
	}
	fn := f.flushes[0]
	f.flushes[0] = nil
	f.flushes = f.flushes[1:]
	f.client.callbackDepth++
	defer func() { f.client.callbackDepth-- }()
	fn(check(status))
}

// goFetchDone: eddy frees cf once this returns, then releases the handle (free_userdata).
//
//export goFetchDone
func goFetchDone(cf *C.eddy_fetch, code C.int, ud unsafe.Pointer) {
	f := fetchOf(ud)
	f.cf = nil
	f.client.callbackDepth++
	defer func() { f.client.callbackDepth-- }()
	if code != 0 {
		f.deliver(nil, fetchError(cf, code))
		return
	}
	f.deliver(f.response(cf, f.req.OnChunk == nil), nil)
}
