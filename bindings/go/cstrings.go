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

// The response calls take either a web-layer handler (h) or a raw request (r, when h is NULL).
static int gs_set_status(eddy_handler *h, eddy_request *r, int code, _GoString_ reason) {
	if (h) return eddy_handler_set_status(h, code, GS(reason));
	return eddy_request_set_status(r, code, _GoStringLen(reason) ? gs_ptr(reason) : NULL,
	                               _GoStringLen(reason));
}
static int gs_set_header(eddy_handler *h, eddy_request *r, _GoString_ n, _GoString_ v) {
	return h ? eddy_handler_set_header(h, GS(n), GS(v)) : eddy_request_set_header(r, GS(n), GS(v));
}
static int gs_add_header(eddy_handler *h, eddy_request *r, _GoString_ n, _GoString_ v) {
	return h ? eddy_handler_add_header(h, GS(n), GS(v)) : eddy_request_add_header(r, GS(n), GS(v));
}
static int gs_clear_header(eddy_handler *h, eddy_request *r, _GoString_ n) {
	return h ? eddy_handler_clear_header(h, GS(n)) : eddy_request_clear_header(r, GS(n));
}
static int gs_write(eddy_handler *h, eddy_request *r, _GoString_ s) {
	return eddy_go_write(h, r, _GoStringPtr(s), _GoStringLen(s));
}
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
static const char *gs_signed_cookie(eddy_handler *h, _GoString_ n, double max_age_days,
                                    size_t *len) {
	return eddy_handler_get_signed_cookie(h, GS(n), max_age_days, len);
}
*/
import "C"

func cSetStatus(w *ResponseWriter, code int, reason string) C.int {
	return C.gs_set_status(w.h, w.rq, C.int(code), reason)
}
func cSetHeader(w *ResponseWriter, n, v string) C.int { return C.gs_set_header(w.h, w.rq, n, v) }
func cAddHeader(w *ResponseWriter, n, v string) C.int { return C.gs_add_header(w.h, w.rq, n, v) }
func cClearHeader(w *ResponseWriter, n string) C.int  { return C.gs_clear_header(w.h, w.rq, n) }
func cWrite(w *ResponseWriter, s string) C.int        { return C.gs_write(w.h, w.rq, s) }
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
func cSignedCookie(h *C.eddy_handler, n string, maxAgeDays float64, l *C.size_t) *C.char {
	return C.gs_signed_cookie(h, n, C.double(maxAgeDays), l)
}
