package eddy

// #include "shim.h"
import "C"

import (
	"bytes"
	"io"
	"net/url"
	"regexp"
	"strings"
	"unsafe"
)

// Request is what arrived (Tornado's RequestHandler input side). Its methods read eddy's
// request on the loop thread: call them in the handler, in a route hook, or inside
// ResponseWriter.Do — copy what a goroutine needs before handing work off. They panic once
// eddy released the request (after the response finished and OnFinish ran), and when called
// from another goroutine's thread.
type Request struct {
	w    *ResponseWriter
	creq *C.eddy_request // eddy_handler_request(w.h), asked once
}

// Field is one header or argument (repeats are kept, in arrival order).
type Field struct {
	Name, Value string
}

// File is one uploaded file of a multipart/form-data body.
type File struct {
	Field, Filename, ContentType string
	Body                         []byte
}

// Argument sources.
const (
	FromQuery = C.EDDY_ARGS_QUERY
	FromBody  = C.EDDY_ARGS_BODY
	FromAll   = C.EDDY_ARGS_ALL
)

func (r *Request) c() *C.eddy_request {
	if r.w.released.Load() {
		panic("eddy: Request used after eddy released it (after the response finished)")
	}
	// Off the loop thread the read would race the loop (which may finish and free the
	// request meanwhile): a clear panic instead of a use after free now and then.
	if !r.w.app.onLoopThread() {
		panic("eddy: Request used off the loop thread (copy what a goroutine needs in the " +
			"handler, or read it inside ResponseWriter.Do)")
	}
	if r.w.h == nil {
		return r.w.rq
	}
	if r.creq == nil {
		r.creq = C.eddy_handler_request(r.w.h)
	}
	return r.creq
}

// web reports whether the request came through the web layer (routes): the path arguments,
// cookies and XSRF getters need it and give zero values for raw requests (App.ServeAll).
func (r *Request) web() bool {
	r.c()
	return r.w.h != nil
}

func goStr(p *C.char, n C.size_t) string {
	if p == nil {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

// goBytes copies the n bytes at p into a new slice. (C.GoBytes takes a C.int length, which
// wraps beyond 2 GiB; eddy's bodies and stream reads may be longer.)
func goBytes(p *C.char, n C.size_t) []byte {
	out := make([]byte, int(n))
	if p != nil && n > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
	return out
}

// Writer returns the ResponseWriter of the same request.
func (r *Request) Writer() *ResponseWriter { return r.w }

// App returns the application serving the request.
func (r *Request) App() *App { return r.w.app }

// Method returns the request method ("GET").
func (r *Request) Method() string {
	var n C.size_t
	return goStr(C.eddy_request_method(r.c(), &n), n)
}

// URI returns the request target as sent ("/a%20b?x=1").
func (r *Request) URI() string {
	var n C.size_t
	return goStr(C.eddy_request_uri(r.c(), &n), n)
}

// Path returns the path, still percent-encoded ("/a%20b").
func (r *Request) Path() string {
	var n C.size_t
	return goStr(C.eddy_request_path(r.c(), &n), n)
}

// RawQuery returns the query string without '?' ("" when none).
func (r *Request) RawQuery() string {
	var n C.size_t
	return goStr(C.eddy_request_query(r.c(), &n), n)
}

// Host returns the Host header ("" for HTTP/1.0 without one).
func (r *Request) Host() string {
	var n C.size_t
	return goStr(C.eddy_request_host(r.c(), &n), n)
}

// Scheme returns "http" or "https".
func (r *Request) Scheme() string { return C.GoString(C.eddy_request_scheme(r.c())) }

// RemoteIP returns the client's address.
func (r *Request) RemoteIP() string { return C.GoString(C.eddy_request_remote_ip(r.c())) }

// ProtoMinor returns 1 for HTTP/1.1 and 0 for HTTP/1.0.
func (r *Request) ProtoMinor() int { return int(C.eddy_request_version(r.c())) % 10 }

// Version returns "HTTP/1.1" or "HTTP/1.0" (Tornado's request.version).
func (r *Request) Version() string {
	if C.eddy_request_version(r.c()) == 11 {
		return "HTTP/1.1"
	}
	return "HTTP/1.0"
}

var hostWithPort = regexp.MustCompile(`^(.+):\d+$`)

// HostName returns the host without its port, lower-cased (Tornado's request.host_name):
// "example.com" for Host "Example.COM:8080", "[::1]" for "[::1]:8080".
func (r *Request) HostName() string {
	host := strings.ToLower(r.Host())
	if m := hostWithPort.FindStringSubmatch(host); m != nil {
		return m[1]
	}
	return host
}

// FullURL returns scheme://host/uri (Tornado's request.full_url()).
func (r *Request) FullURL() string { return r.Scheme() + "://" + r.Host() + r.URI() }

// RequestTime returns the seconds since the request line started to arrive (Tornado's
// request.request_time()).
func (r *Request) RequestTime() float64 { return float64(C.eddy_request_duration(r.c())) }

// Header returns the first value of header name (case-insensitive), "" when missing.
func (r *Request) Header(name string) string {
	v, _ := r.LookupHeader(name)
	return v
}

// LookupHeader returns the first value of header name and whether it was present.
func (r *Request) LookupHeader(name string) (string, bool) {
	var n C.size_t
	v := cHeader(r.c(), name, &n)
	return goStr(v, n), v != nil
}

// Headers returns every header field in arrival order.
func (r *Request) Headers() []Field {
	req := r.c()
	count := int(C.eddy_request_header_count(req))
	out := make([]Field, 0, count)
	for i := 0; i < count; i++ {
		var name, value *C.char
		var nn, vn C.size_t
		if C.eddy_request_header_at(req, C.size_t(i), &name, &nn, &value, &vn) == 0 {
			out = append(out, Field{goStr(name, nn), goStr(value, vn)})
		}
	}
	return out
}

// PathArg returns the index-th capture group of the route pattern (percent-decoded), "" when
// there is no such group.
func (r *Request) PathArg(index int) string {
	if !r.web() {
		return ""
	}
	var n C.size_t
	return goStr(C.eddy_handler_path_arg(r.w.h, C.size_t(index), &n), n)
}

// PathArgs returns every capture group, in order.
func (r *Request) PathArgs() []string {
	if !r.web() {
		return nil
	}
	count := int(C.eddy_handler_path_arg_count(r.w.h))
	out := make([]string, count)
	for i := range out {
		out[i] = r.PathArg(i)
	}
	return out
}

// PathVar returns the named capture group name ((?<name>...) in the pattern), "" when missing.
func (r *Request) PathVar(name string) string {
	if !r.web() {
		return ""
	}
	var n C.size_t
	return goStr(cPathKwarg(r.w.h, name, &n), n)
}

// Argument returns the first value of query or body argument name and whether it exists.
func (r *Request) Argument(name string) (string, bool) { return r.ArgumentFrom(FromAll, name) }

// QueryArgument is Argument for the query string only.
func (r *Request) QueryArgument(name string) (string, bool) {
	return r.ArgumentFrom(FromQuery, name)
}

// BodyArgument is Argument for the body (urlencoded or multipart fields) only.
func (r *Request) BodyArgument(name string) (string, bool) { return r.ArgumentFrom(FromBody, name) }

// ArgumentFrom returns the first value of argument name from sources (FromQuery|FromBody).
func (r *Request) ArgumentFrom(sources int, name string) (string, bool) {
	var n C.size_t
	v := cArgument(r.c(), sources, name, &n)
	return goStr(v, n), v != nil
}

// Arguments returns every argument from sources, query first, repeats kept.
func (r *Request) Arguments(sources int) []Field {
	req := r.c()
	count := int(C.eddy_request_argument_count(req, C.int(sources)))
	out := make([]Field, 0, count)
	for i := 0; i < count; i++ {
		var name, value *C.char
		var nn, vn C.size_t
		if C.eddy_request_argument_at(req, C.int(sources), C.size_t(i), &name, &nn, &value, &vn) == 0 {
			out = append(out, Field{goStr(name, nn), goStr(value, vn)})
		}
	}
	return out
}

// ArgumentValues returns every value of argument name from sources, query first (Tornado's
// get_arguments, get_query_arguments and get_body_arguments); nil when there is none.
func (r *Request) ArgumentValues(sources int, name string) []string {
	var out []string
	for _, f := range r.Arguments(sources) {
		if f.Name == name {
			out = append(out, f.Value)
		}
	}
	return out
}

// ArgumentMap returns the arguments from sources as name → values in arrival order, query
// first (Tornado's request.arguments, query_arguments and body_arguments dicts).
func (r *Request) ArgumentMap(sources int) url.Values {
	out := url.Values{}
	for _, f := range r.Arguments(sources) {
		out[f.Name] = append(out[f.Name], f.Value)
	}
	return out
}

// Files returns the uploaded files of a multipart/form-data body.
func (r *Request) Files() []File {
	req := r.c()
	count := int(C.eddy_request_file_count(req))
	out := make([]File, 0, count)
	for i := 0; i < count; i++ {
		var field, filename, ctype, body *C.char
		var bn C.size_t
		if C.eddy_request_file_at(req, C.size_t(i), &field, &filename, &ctype, &body, &bn) == 0 {
			out = append(out, File{C.GoString(field), C.GoString(filename), C.GoString(ctype),
				goBytes(body, bn)})
		}
	}
	return out
}

// Body returns a copy of the request body (empty for routes with DataReceived).
func (r *Request) Body() []byte {
	var n C.size_t
	p := C.eddy_request_body(r.c(), &n)
	return goBytes(p, n)
}

// BodyReader returns a reader over a copy of the body; it stays usable from any goroutine.
func (r *Request) BodyReader() io.Reader { return bytes.NewReader(r.Body()) }

// Cookie returns the value of request cookie name and whether it was sent.
func (r *Request) Cookie(name string) (string, bool) {
	if !r.web() {
		return "", false
	}
	var n C.size_t
	v := cCookie(r.w.h, name, &n)
	return goStr(v, n), v != nil
}

// cookieNames returns the cookie names of the request's Cookie header(s), in order, repeats
// dropped (Cookie and ClearCookie then skip the names eddy's parser does not accept).
func (r *Request) cookieNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, f := range r.Headers() {
		if !strings.EqualFold(f.Name, "Cookie") {
			continue
		}
		for _, chunk := range strings.Split(f.Value, ";") {
			eq := strings.IndexByte(chunk, '=')
			if eq < 0 {
				continue
			}
			name := strings.Trim(chunk[:eq], " \t")
			if name != "" && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	return names
}

// Cookies returns every request cookie as name → value (Tornado's request.cookies): the
// values Cookie gives (unquoted; the first of a repeated name; illegal names left out).
// Empty for raw requests (App.ServeAll).
func (r *Request) Cookies() map[string]string {
	out := map[string]string{}
	if !r.web() {
		return out
	}
	for _, name := range r.cookieNames() {
		if v, ok := r.Cookie(name); ok {
			out[name] = v
		}
	}
	return out
}

// SignedCookie returns the verified value of a signed cookie not older than maxAgeDays (<= 0
// means 31); false when missing, forged, expired, or without a cookie secret.
func (r *Request) SignedCookie(name string, maxAgeDays float64) (string, bool) {
	if !r.web() {
		return "", false
	}
	var n C.size_t
	v := cSignedCookie(r.w.h, name, maxAgeDays, &n)
	return goStr(v, n), v != nil
}

// StaticURL returns Tornado's static_url of path (relative to a static directory, e.g.
// "css/site.css"): its URL under the first App.Static mount that has the file, with "?v=" and
// the MD5 of the file's content; a request for such a URL is answered with
// Cache-Control: max-age=315360000. A file in no mount gets the plain URL (and a warning in
// the log). ErrNotSupported: the app serves no static directory, or a raw request
// (App.ServeAll). The string is a Go copy.
func (r *Request) StaticURL(path string) (string, error) {
	if !r.web() {
		return "", ErrNotSupported
	}
	var n C.size_t
	u := cStaticURL(r.w.h, path, &n)
	if u == nil {
		return "", ErrNotSupported
	}
	return goStr(u, n), nil
}

// XSRFToken returns the XSRF token for forms (and sets the _xsrf cookie when needed).
func (r *Request) XSRFToken() string {
	if !r.web() {
		return ""
	}
	var n C.size_t
	return goStr(C.eddy_handler_xsrf_token(r.w.h, &n), n)
}
