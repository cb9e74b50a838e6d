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

static int gs_set_status(eddy_handler *h, int code, _GoString_ reason) {
	return eddy_handler_set_status(h, code, GS(reason));
}
static int gs_set_header(eddy_handler *h, _GoString_ n, _GoString_ v) {
	return eddy_handler_set_header(h, GS(n), GS(v));
}
static int gs_add_header(eddy_handler *h, _GoString_ n, _GoString_ v) {
	return eddy_handler_add_header(h, GS(n), GS(v));
}
static int gs_clear_header(eddy_handler *h, _GoString_ n) {
	return eddy_handler_clear_header(h, GS(n));
}
static int gs_write(eddy_handler *h, _GoString_ s) {
	return eddy_handler_write(h, _GoStringPtr(s), _GoStringLen(s));
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

func cSetStatus(h *C.eddy_handler, code int, reason string) C.int {
	return C.gs_set_status(h, C.int(code), reason)
}
func cSetHeader(h *C.eddy_handler, n, v string) C.int { return C.gs_set_header(h, n, v) }
func cAddHeader(h *C.eddy_handler, n, v string) C.int { return C.gs_add_header(h, n, v) }
func cClearHeader(h *C.eddy_handler, n string) C.int  { return C.gs_clear_header(h, n) }
func cWrite(h *C.eddy_handler, s string) C.int        { return C.gs_write(h, s) }
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
