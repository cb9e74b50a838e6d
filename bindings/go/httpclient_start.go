package eddy

// #include <stdlib.h>
// #include "shim.h"
// #include "shim_client.h"
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// start makes the eddy_fetch of f and starts it (loop thread). On error nothing was started
// and the handle made for it is already released.
func (f *Fetch) start() error {
	c := f.client
	if c.c == nil {
		return ErrCanceled
	}
	r := &f.req
	r.withDefaults(&c.opts.Defaults) // r is the fetch's copy: the caller's request stays as it was
	method := r.Method
	if method == "" {
		method = "GET"
	}
	if strings.IndexByte(method, 0) >= 0 || strings.IndexByte(r.URL, 0) >= 0 {
		return fmt.Errorf("eddy: NUL byte in the method or URL: %w", ErrInvalid)
	}
	cm, cu := C.CString(method), C.CString(r.URL)
	cf := C.eddy_fetch_new(c.c, cm, cu)
	C.free(unsafe.Pointer(cm))
	C.free(unsafe.Pointer(cu))
	if cf == nil {
		return ErrInvalid
	}
	if r.UnixSocket != "" {
		// The request's own socket wins over HostnameMapping (both say where to connect;
		// eddy refuses the two together).
		if strings.IndexByte(r.UnixSocket, 0) >= 0 {
			C.eddy_fetch_free(cf)
			return fmt.Errorf("eddy: NUL byte in UnixSocket: %w", ErrInvalid)
		}
		cp := C.CString(r.UnixSocket)
		rc := C.eddy_fetch_set_unix_socket(cf, cp)
		C.free(unsafe.Pointer(cp))
		if err := check(rc); err != nil {
			C.eddy_fetch_free(cf)
			return fmt.Errorf("eddy: UnixSocket %q: %w", r.UnixSocket, err)
		}
	} else if err := c.connectTo(cf, r.URL); err != nil {
		C.eddy_fetch_free(cf)
		return err
	}
	if err := r.configure(cf); err != nil {
		C.eddy_fetch_free(cf)
		return err
	}
	if err := f.flushEarlyBody(cf); err != nil {
		C.eddy_fetch_free(cf)
		return fmt.Errorf("eddy: streamed body of %s: %w", r.URL, err)
	}
	h := newHandle(f)
	rc := C.eddy_fetch_start(cf, C.eddy_fetch_done_fn(C.eddy_go_fetch_done),
		C.eddy_go_handle_ptr(C.uintptr_t(h)), C.eddy_free_fn(C.eddy_go_release_handle))
	if rc != 0 {
		deleteHandle(h) // not taken: the handle (and fetch) stay ours
		C.eddy_fetch_free(cf)
		return fmt.Errorf("eddy: fetch %s %s: %w", method, r.URL, Error(rc))
	}
	f.cf, f.phase = cf, fetchRunning
	f.startFlushes(cf)
	return nil
}

// seconds converts a timeout: 0 keeps eddy's default (ok false), negative means none (0).
func seconds(d time.Duration) (C.double, bool) {
	if d == 0 {
		return 0, false
	}
	if d < 0 {
		return 0, true
	}
	return C.double(d.Seconds()), true
}

// configure applies r to a fetch that is not started yet.
func (r *HTTPRequest) configure(cf *C.eddy_fetch) error {
	for _, hf := range r.Header {
		if r.UserAgent != "" && strings.EqualFold(hf.Name, "User-Agent") {
			continue // replaced by UserAgent below
		}
		if err := addFetchHeader(cf, hf.Name, hf.Value); err != nil {
			return err
		}
	}
	if r.UserAgent != "" {
		if err := addFetchHeader(cf, "User-Agent", r.UserAgent); err != nil {
			return err
		}
	}
	rc := C.int(0)
	if len(r.Body) > 0 {
		// eddy copies the body during the call; the bytes hold no Go pointers.
		rc = C.eddy_fetch_set_body(cf, unsafe.Pointer(&r.Body[0]), C.size_t(len(r.Body)))
	}
	if r.BodyStream {
		if len(r.Body) > 0 || r.BodyStreamLength < 0 {
			return fmt.Errorf("eddy: HTTPRequest: Body with BodyStream, or BodyStreamLength < 0: %w",
				ErrInvalid)
		}
		length := C.int64_t(-1) // eddy's "unknown: chunked"
		if r.BodyStreamLength > 0 {
			length = C.int64_t(r.BodyStreamLength)
		}
		if rc == 0 {
			rc = C.eddy_fetch_set_body_stream(cf, length)
		}
	}
	if s, ok := seconds(r.ConnectTimeout); ok && rc == 0 {
		rc = C.eddy_fetch_set_connect_timeout(cf, s)
	}
	if s, ok := seconds(r.RequestTimeout); ok && rc == 0 {
		rc = C.eddy_fetch_set_request_timeout(cf, s)
	}
	if r.ReadTimeout > 0 && rc == 0 {
		rc = C.eddy_fetch_set_read_timeout(cf, C.double(r.ReadTimeout.Seconds()))
	}
	if r.NoFollowRedirects && rc == 0 {
		rc = C.eddy_fetch_set_max_redirects(cf, 0)
	} else if r.MaxRedirects > 0 && rc == 0 {
		rc = C.eddy_fetch_set_max_redirects(cf, C.int(r.MaxRedirects))
	}
	if r.MaxBodySize > 0 && rc == 0 {
		rc = C.eddy_fetch_set_max_body_size(cf, C.size_t(r.MaxBodySize))
	}
	if r.NoDecompressResponse && rc == 0 {
		rc = C.eddy_fetch_set_decompress(cf, 0)
	}
	if r.Expect100Continue && rc == 0 {
		rc = C.eddy_fetch_set_expect_continue(cf, 1)
	}
	if (r.OnHeaders != nil || r.OnChunk != nil) && rc == 0 {
		var onHeaders C.eddy_fetch_headers_fn
		var onChunk C.eddy_fetch_chunk_fn
		if r.OnHeaders != nil {
			onHeaders = C.eddy_fetch_headers_fn(C.eddy_go_fetch_headers)
		}
		if r.OnChunk != nil {
			onChunk = C.eddy_fetch_chunk_fn(C.eddy_go_fetch_chunk)
		}
		rc = C.eddy_fetch_set_callbacks(cf, onHeaders, onChunk)
	}
	if err := check(rc); err != nil {
		return fmt.Errorf("eddy: HTTPRequest: %w", err)
	}
	return nil
}

func addFetchHeader(cf *C.eddy_fetch, name, value string) error {
	n, v := C.CString(name), C.CString(value)
	rc := C.eddy_fetch_add_header(cf, n, C.size_t(len(name)), v, C.size_t(len(value)))
	C.free(unsafe.Pointer(n))
	C.free(unsafe.Pointer(v))
	if err := check(rc); err != nil {
		return fmt.Errorf("eddy: request header %q: %w", name, err)
	}
	return nil
}
