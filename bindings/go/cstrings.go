package eddy

// Calls that pass Go strings to eddy. cgo hands a Go string to C as _GoString_ without a copy
// and without the run-time pointer check (string bytes hold no pointers); eddy only reads the
// bytes during the call and copies what it keeps.

/*
#include "shim.h"

static inline const char *gs_ptr(_GoString_ s) {
	const char *p = _GoStringPtr(s);
	return p ? p : "";
}
#define GS(s) gs_ptr(s), _GoStringLen(s)

// An empty etag is NULL: no ETag and no 304.
static int gs_set_etag(eddy_handler *h, _GoString_ etag) {
	return eddy_handler_set_etag(h, _GoStringLen(etag) ? gs_ptr(etag) : NULL, _GoStringLen(etag));
}

// The response calls take either a web-layer handler (h) or a raw request (r, when h is 0).
// They come as integers: C pointers passed as pointers would cost cgo's run-time pointer check
// (and an allocation) on every call of the hot path.
#define GH(h) ((eddy_handler *)(h))
#define GR(r) ((eddy_request *)(r))
static int gs_set_status(uintptr_t h, uintptr_t r, int code, _GoString_ reason) {
	if (h) return eddy_handler_set_status(GH(h), code, GS(reason));
	return eddy_request_set_status(GR(r), code, _GoStringLen(reason) ? gs_ptr(reason) : NULL,
	                               _GoStringLen(reason));
}
static int gs_set_header(uintptr_t h, uintptr_t r, _GoString_ n, _GoString_ v) {
	return h ? eddy_handler_set_header(GH(h), GS(n), GS(v))
	         : eddy_request_set_header(GR(r), GS(n), GS(v));
}
static int gs_add_header(uintptr_t h, uintptr_t r, _GoString_ n, _GoString_ v) {
	return h ? eddy_handler_add_header(GH(h), GS(n), GS(v))
	         : eddy_request_add_header(GR(r), GS(n), GS(v));
}
static int gs_clear_header(uintptr_t h, uintptr_t r, _GoString_ n) {
	return h ? eddy_handler_clear_header(GH(h), GS(n)) : eddy_request_clear_header(GR(r), GS(n));
}
static int gs_write(uintptr_t h, uintptr_t r, _GoString_ s) {
	return eddy_go_write(GH(h), GR(r), _GoStringPtr(s), _GoStringLen(s));
}
static int gs_write_bytes(uintptr_t h, uintptr_t r, uintptr_t p, size_t n) {
	return eddy_go_write(GH(h), GR(r), (const void *)p, n);
}
static int gs_flush(uintptr_t h, uintptr_t r) { return eddy_go_flush(GH(h), GR(r)); }
static int gs_finish(uintptr_t h, uintptr_t r) { return eddy_go_finish(GH(h), GR(r)); }
static int gs_redirect(eddy_handler *h, _GoString_ url, int status) {
	return eddy_handler_redirect(h, GS(url), status);
}
static int gs_set_cookie(eddy_handler *h, _GoString_ n, _GoString_ v, const char *domain,
                         const char *path, double expires, long max_age, int flags,
                         const char *samesite) {
	return eddy_handler_set_cookie(h, GS(n), GS(v), domain, path, expires, max_age, flags,
	                               samesite);
}
static int gs_clear_cookie(eddy_handler *h, _GoString_ n, const char *path, const char *domain) {
	return eddy_handler_clear_cookie(h, GS(n), path, domain);
}
static int gs_set_signed_cookie(eddy_handler *h, _GoString_ n, _GoString_ v, double days) {
	return eddy_handler_set_signed_cookie(h, GS(n), GS(v), days);
}
static const char *gs_header(eddy_request *r, _GoString_ n, size_t *len) {
	return eddy_request_header(r, GS(n), len);
}
static const char *gs_argument(eddy_request *r, int sources, _GoString_ n, size_t *len) {
	return eddy_request_argument(r, sources, GS(n), len);
}
static const char *gs_path_kwarg(eddy_handler *h, _GoString_ n, size_t *len) {
	return eddy_handler_path_kwarg(h, GS(n), len);
}
static const char *gs_cookie(eddy_handler *h, _GoString_ n, size_t *len) {
	return eddy_handler_get_cookie(h, GS(n), len);
}
static const char *gs_static_url(eddy_handler *h, _GoString_ p, size_t *len) {
	return eddy_handler_static_url(h, GS(p), len);
}
static const char *gs_signed_cookie(eddy_handler *h, _GoString_ n, double max_age_days,
                                    size_t *len) {
	return eddy_handler_get_signed_cookie(h, GS(n), max_age_days, len);
}
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// hr returns the exchange's handler and request as the integers the wrappers take.
func (w *ResponseWriter) hr() (C.uintptr_t, C.uintptr_t) {
	return C.uintptr_t(uintptr(unsafe.Pointer(w.h))), C.uintptr_t(uintptr(unsafe.Pointer(w.rq)))
}

func cSetStatus(w *ResponseWriter, code int, reason string) C.int {
	h, r := w.hr()
	return C.gs_set_status(h, r, C.int(code), reason)
}
func cSetEtag(h *C.eddy_handler, etag string) C.int { return C.gs_set_etag(h, etag) }
func cSetHeader(w *ResponseWriter, n, v string) C.int {
	h, r := w.hr()
	return C.gs_set_header(h, r, n, v)
}
func cAddHeader(w *ResponseWriter, n, v string) C.int {
	h, r := w.hr()
	return C.gs_add_header(h, r, n, v)
}
func cClearHeader(w *ResponseWriter, n string) C.int {
	h, r := w.hr()
	return C.gs_clear_header(h, r, n)
}
func cWrite(w *ResponseWriter, s string) C.int {
	h, r := w.hr()
	return C.gs_write(h, r, s)
}

// cWriteBytes passes p's address as an integer: p is only read during the call and holds no
// pointers, which is what cgo's check would verify. KeepAlive keeps p's array alive (and a
// goroutine's stack does not move while it is in a C call).
func cWriteBytes(w *ResponseWriter, p []byte) C.int {
	h, r := w.hr()
	rc := C.gs_write_bytes(h, r, C.uintptr_t(uintptr(unsafe.Pointer(&p[0]))), C.size_t(len(p)))
	runtime.KeepAlive(p)
	return rc
}
func cFlush(w *ResponseWriter) C.int {
	h, r := w.hr()
	return C.gs_flush(h, r)
}
func cFinish(w *ResponseWriter) C.int {
	h, r := w.hr()
	return C.gs_finish(h, r)
}
func cRedirect(h *C.eddy_handler, url string, status int) C.int {
	return C.gs_redirect(h, url, C.int(status))
}
func cSetCookie(h *C.eddy_handler, n, v string, domain, path *C.char, expires float64,
	maxAge C.long, flags C.int, samesite *C.char) C.int {
	return C.gs_set_cookie(h, n, v, domain, path, C.double(expires), maxAge, flags, samesite)
}
func cClearCookie(h *C.eddy_handler, n string, path, domain *C.char) C.int {
	return C.gs_clear_cookie(h, n, path, domain)
}
func cSetSignedCookie(h *C.eddy_handler, n, v string, days float64) C.int {
	return C.gs_set_signed_cookie(h, n, v, C.double(days))
}
func cHeader(r *C.eddy_request, n string, l *C.size_t) *C.char { return C.gs_header(r, n, l) }
func cArgument(r *C.eddy_request, sources int, n string, l *C.size_t) *C.char {
	return C.gs_argument(r, C.int(sources), n, l)
}
func cPathKwarg(h *C.eddy_handler, n string, l *C.size_t) *C.char {
	return C.gs_path_kwarg(h, n, l)
}
func cCookie(h *C.eddy_handler, n string, l *C.size_t) *C.char { return C.gs_cookie(h, n, l) }
func cStaticURL(h *C.eddy_handler, p string, l *C.size_t) *C.char {
	return C.gs_static_url(h, p, l)
}
func cSignedCookie(h *C.eddy_handler, n string, maxAgeDays float64, l *C.size_t) *C.char {
	return C.gs_signed_cookie(h, n, C.double(maxAgeDays), l)
}
