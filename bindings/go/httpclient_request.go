package eddy

import (
	"strings"
	"time"
)

// HTTPRequest is what HTTPClient.Fetch sends (Tornado's HTTPRequest, Go-style names). The zero
// value of every field is Tornado's default, so only URL is required; fields whose Tornado
// default is true are negated (NoFollowRedirects for follow_redirects, NoDecompressResponse
// for decompress_response). The request must not be changed until its fetch ended.
type HTTPRequest struct {
	// Method: "GET" when empty (upper-case token: "POST", "PUT", "PROPFIND", ...).
	Method string
	// URL: "http://host[:port]/path?query" or "https://...", IPv6 hosts in brackets.
	URL string
	// Header fields are sent in this order, repeated names included. Host, Content-Length and
	// Transfer-Encoding are eddy's; Accept-Encoding: gzip is added unless NoDecompressResponse.
	Header HTTPHeader
	// Body is sent with a Content-Length (copied when the fetch starts).
	Body []byte
	// BodyStream announces a body given after Fetch with Fetch.WriteBody and ended with
	// Fetch.EndBody (Tornado's body_producer) instead of Body: BodyStreamLength bytes sent
	// with that Content-Length, or, when BodyStreamLength is 0, of unknown length sent
	// chunked. Redirects that would resend the body are not followed. With Do there is no
	// Fetch to write to: use Fetch.
	BodyStream       bool
	BodyStreamLength int64
	// UserAgent is sent as User-Agent, replacing such a Header field (Tornado's user_agent;
	// "" and no field: eddy's own "eddy/<version>").
	UserAgent string
	// ConnectTimeout bounds getting a connection: queue wait, name lookup, connect and TLS
	// handshake (0: 20 s; negative: none). Exceeded: ErrTimedOut.
	ConnectTimeout time.Duration
	// RequestTimeout bounds the whole fetch (0: 20 s; negative: none). Exceeded: ErrTimedOut.
	// It keeps running while the body is paused (Fetch.PauseBody).
	RequestTimeout time.Duration
	// ReadTimeout bounds the time between two reads from the server once the request went
	// out (nginx's proxy_read_timeout), not while the body is paused (0: none, or the
	// client's Defaults value; negative: none). A long download that keeps coming is not cut
	// by it, a stalled server is noticed: ErrTimedOut. With RequestTimeout negative, it alone
	// bounds a response.
	ReadTimeout time.Duration
	// UnixSocket, when set, is the path of a Unix-domain socket ("@name": a Linux abstract
	// socket) the fetch connects to instead of the URL's host and port, as curl's
	// --unix-socket (eddy_fetch_set_unix_socket; not Tornado's): the URL still gives the
	// scheme, Host field and target ("http://localhost/v1.43/info" with
	// "/var/run/docker.sock"); https runs TLS over the socket, checked against the URL's host.
	// It applies to the URL's origin (a redirect elsewhere goes over TCP), wins over the
	// client's HostnameMapping, and no Proxy is used for it. Connections are pooled per socket.
	// A missing path fails with ErrNotFound, nobody listening (or not a socket) with
	// ErrConnRefused; a path longer than sun_path holds (107 bytes) is ErrInvalid.
	UnixSocket string
	// NoFollowRedirects delivers a 3xx response as it is (Tornado's follow_redirects=False).
	NoFollowRedirects bool
	// MaxRedirects followed at most (0: 5); the next redirect response is delivered as it is.
	// 303, and 301/302 after POST, become GET; Authorization and Cookie are not sent to
	// another origin.
	MaxRedirects int
	// NoDecompressResponse neither asks for gzip nor decodes it (decompress_response=False).
	NoDecompressResponse bool
	// MaxBodySize is the largest response body accepted, after decoding (0: 100 MiB); a larger
	// one ends the fetch with ErrTooBig.
	MaxBodySize int64
	// Expect100Continue sends "Expect: 100-continue" and the body after the server's 100
	// (or after one second without an answer).
	Expect100Continue bool
	// OnHeaders, when set, runs on the loop thread once the final response's head arrived
	// (Tornado's header_callback, with the whole head): Code, Reason, Header, EffectiveURL.
	OnHeaders func(head *HTTPResponse)
	// OnChunk, when set, gets each piece of the (decoded) body on the loop thread (Tornado's
	// streaming_callback); the body is then not kept (HTTPResponse.Body is empty). The slice
	// is the callback's own copy. A panic in OnHeaders or OnChunk is logged and cancels the
	// fetch (ErrCanceled).
	OnChunk func(chunk []byte)
}

// HTTPResponse is what a fetch got (Tornado's HTTPResponse): any status, 404 and 500 included;
// network failures are errors instead.
type HTTPResponse struct {
	// Request is the request given to Fetch or Do.
	Request *HTTPRequest
	// Code is the status (200, 404, ...), Reason its reason phrase ("OK").
	Code   int
	Reason string
	// Header holds the response's fields in arrival order, repeated names included.
	Header HTTPHeader
	// Body is the (decoded) body; empty when HTTPRequest.OnChunk took it.
	Body []byte
	// EffectiveURL is the URL of the last request made, after redirects.
	EffectiveURL string
	// Redirects is how many redirects were followed.
	Redirects int
	// Reused is true when the last request went over a pooled keep-alive connection.
	Reused bool
}

// HTTPHeader is an ordered list of header fields; repeated names are kept.
type HTTPHeader []Field

// Add appends a field.
func (h *HTTPHeader) Add(name, value string) { *h = append(*h, Field{name, value}) }

// Get returns the first value of name (case-insensitive), "" when absent.
func (h HTTPHeader) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup returns the first value of name (case-insensitive) and whether it is present.
func (h HTTPHeader) Lookup(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Values returns every value of name (case-insensitive), in order.
func (h HTTPHeader) Values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}
