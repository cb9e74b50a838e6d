package eddy

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"
)

// The HTTP server's limits and options (eddy/http.h; Tornado's HTTPServer keywords). They are
// methods of serverConfig, which App and Server embed: on an App they apply to the server that
// Start creates for addr (the App's default one, or ServeAll's), on a Server (App.AddServer)
// to that server alone. Each setter is called before Start; a value eddy refuses makes Start
// return an error that names the setter and wraps ErrInvalid. Setters may be called more than
// once: the last value wins
// (AddTrustedProxy and AllowMethods add to the list).

// serverConfig is the options of one HTTP server, applied by Start in the order given.
type serverConfig struct {
	app     *App // whose Start applies them
	options []func(*C.eddy_server) error
	// SetUnixSocketMode's, for a "unix:PATH" address.
	unixMode    os.FileMode
	unixModeSet bool
}

// SetUnixSocketMode sets the permission bits of the socket file when the server listens on a
// "unix:PATH" address (Tornado's bind_unix_socket mode). Default 0600: only this user can
// connect; 0660 lets its group in too (a proxy running as another user of the group). The
// mode is set before the socket listens, so no client connects under the umask's
// permissions. Bits other than os.ModePerm make Start fail with ErrInvalid. Ignored for a
// TCP address and an abstract socket ("unix:@NAME"). Call before Start (it panics after).
func (c *serverConfig) SetUnixSocketMode(mode os.FileMode) {
	c.app.mustNotBeStarted("SetUnixSocketMode")
	c.unixMode = mode
	c.unixModeSet = true
}

// serverOption queues apply for Start; its error is returned by Start, naming the setter.
func (c *serverConfig) serverOption(what string, apply func(*C.eddy_server) C.int) {
	c.app.mustNotBeStarted(what)
	c.options = append(c.options, func(s *C.eddy_server) error {
		if err := check(apply(s)); err != nil {
			return fmt.Errorf("eddy: %s: %w", what, err)
		}
		return nil
	})
}

// apply sets the options on s, stopping at the first refused one.
func (c *serverConfig) apply(s *C.eddy_server) error {
	for _, opt := range c.options {
		if err := opt(s); err != nil {
			return err
		}
	}
	return nil
}

// sizeOption is serverOption for a size_t limit: a negative value is refused (in C it would
// wrap to a huge limit).
func (c *serverConfig) sizeOption(what string, n int, apply func(*C.eddy_server, C.size_t) C.int) {
	c.serverOption(what, func(s *C.eddy_server) C.int {
		if n < 0 {
			return C.EDDY_EINVAL
		}
		return apply(s, C.size_t(n))
	})
}

func cBool(on bool) C.int {
	if on {
		return 1
	}
	return 0
}

// SetXHeaders takes the client's address and scheme from X-Real-IP / X-Forwarded-For and
// X-Scheme / X-Forwarded-Proto (Tornado's xheaders; default off): Request.RemoteIP and
// Request.Scheme report them. Only turn it on behind a proxy that sets these headers; with
// AddTrustedProxy, only connections from those addresses are believed.
func (c *serverConfig) SetXHeaders(on bool) {
	c.serverOption(fmt.Sprintf("SetXHeaders(%v)", on), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_xheaders(s, cBool(on))
	})
}

// AddTrustedProxy adds downstream proxy addresses (numeric IPv4 or IPv6, as the connection's
// peer address reads; Tornado's trusted_downstream). Once any is added, SetXHeaders believes
// only connections from them, and X-Forwarded-For is read from the right, skipping these
// addresses. Default: none (every peer is believed). A value that is not a numeric address
// makes Start fail.
func (c *serverConfig) AddTrustedProxy(ips ...string) {
	for _, ip := range ips {
		ip := ip
		c.serverOption(fmt.Sprintf("AddTrustedProxy(%q)", ip), func(s *C.eddy_server) C.int {
			if strings.IndexByte(ip, 0) >= 0 { // C would read up to the NUL only
				return C.EDDY_EINVAL
			}
			cs := C.CString(ip)
			defer C.free(unsafe.Pointer(cs))
			return C.eddy_server_add_trusted_proxy(s, cs)
		})
	}
}

// SetNoKeepAlive closes every connection after its response (Tornado's no_keep_alive;
// default off: HTTP/1.1 connections are kept alive). Responses then say Connection: close.
func (c *serverConfig) SetNoKeepAlive(on bool) {
	c.serverOption(fmt.Sprintf("SetNoKeepAlive(%v)", on), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_no_keep_alive(s, cBool(on))
	})
}

// SetDecompressRequest decodes gzip request bodies (Content-Encoding: gzip) before handlers
// see them; the header is renamed X-Consumed-Content-Encoding (Tornado's decompress_request;
// default off: such bodies pass through as they came). SetMaxBodySize counts the decoded size.
func (c *serverConfig) SetDecompressRequest(on bool) {
	c.serverOption(fmt.Sprintf("SetDecompressRequest(%v)", on), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_decompress_request(s, cBool(on))
	})
}

// SetBodyArguments decides whether form bodies are decoded before handlers run (default on,
// as Tornado): a body labelled application/x-www-form-urlencoded or multipart/form-data
// becomes body arguments (Request.BodyArgument, FromBody) and files, and one that cannot be
// decoded gets 400 without the handler running. Off: form bodies are not decoded (arguments
// come from the query alone, there are no files) and every request reaches its handler with
// Request.Body as it came: for proxies, echo servers and handlers that read their own forms.
func (c *serverConfig) SetBodyArguments(on bool) {
	c.serverOption(fmt.Sprintf("SetBodyArguments(%v)", on), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_body_arguments(s, cBool(on))
	})
}

// SetMaxHeaderSize limits a request head (request line and header fields) to this many bytes
// (Tornado's max_header_size; default 65536). Over it: 431 and close. At least 64.
func (c *serverConfig) SetMaxHeaderSize(bytes int) {
	c.sizeOption(fmt.Sprintf("SetMaxHeaderSize(%d)", bytes), bytes, func(s *C.eddy_server, n C.size_t) C.int {
		return C.eddy_server_set_max_header_size(s, n)
	})
}

// SetMaxHeaderFields limits the header field lines of a request head (default 1000). Over it:
// 431 and close. Each field costs the server memory however short its line, so this bounds
// what a head of many tiny lines takes. At least 1.
func (c *serverConfig) SetMaxHeaderFields(n int) {
	c.sizeOption(fmt.Sprintf("SetMaxHeaderFields(%d)", n), n, func(s *C.eddy_server, c C.size_t) C.int {
		return C.eddy_server_set_max_header_fields(s, c)
	})
}

// SetMaxBodySize limits request bodies to this many bytes, counted after decompression
// (Tornado's max_body_size; default 100 MiB). Over it: 413 and close.
func (c *serverConfig) SetMaxBodySize(bytes int) {
	c.sizeOption(fmt.Sprintf("SetMaxBodySize(%d)", bytes), bytes, func(s *C.eddy_server, n C.size_t) C.int {
		return C.eddy_server_set_max_body_size(s, n)
	})
}

// SetMaxBodyMemory limits the request-body bytes the server holds in memory at once over all
// its connections (default 1 GiB; 0: no limit). Counted: the bodies being received and those
// of requests not yet finished; not counted: the bodies of routes with DataReceived, which
// are streamed to the handler. A body that does not fit gets 503 and close, with a warning
// logged: at once when its Content-Length does not fit (before any 100 Continue), else when
// the bytes that go over arrive. It keeps clients that each send most of a large body and
// stall from taking the process's memory.
func (c *serverConfig) SetMaxBodyMemory(bytes int) {
	c.sizeOption(fmt.Sprintf("SetMaxBodyMemory(%d)", bytes), bytes, func(s *C.eddy_server, n C.size_t) C.int {
		return C.eddy_server_set_max_body_memory(s, n)
	})
}

// SetHeaderTimeout gives a request's head this many seconds to arrive once it started (and
// the first request this long after connecting); default 30. Then: 408 and close. 0 disables;
// a negative value is refused.
func (c *serverConfig) SetHeaderTimeout(seconds float64) {
	c.serverOption(fmt.Sprintf("SetHeaderTimeout(%v)", seconds), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_header_timeout(s, C.double(seconds))
	})
}

// SetIdleTimeout closes keep-alive connections idle for this many seconds between requests
// (Tornado's idle_connection_timeout; default 75). The wait starts once the last answer was
// sent, so a client that takes none of an answer's bytes for this long is closed as well. 0
// disables both; a negative value is refused.
func (c *serverConfig) SetIdleTimeout(seconds float64) {
	c.serverOption(fmt.Sprintf("SetIdleTimeout(%v)", seconds), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_idle_timeout(s, C.double(seconds))
	})
}

// SetBodyTimeout gives a request body this many seconds without any bytes before the server
// gives up (Tornado's body_timeout; default 60). Then: 408 and close. 0 disables; a negative
// value is refused.
func (c *serverConfig) SetBodyTimeout(seconds float64) {
	c.serverOption(fmt.Sprintf("SetBodyTimeout(%v)", seconds), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_body_timeout(s, C.double(seconds))
	})
}

// SetBodyMinRate sets the least average rate of a request body, in bytes per second, counted
// once graceSeconds have passed (default 500 after 20 s, as Apache's mod_reqtimeout): a body
// that falls behind (one trickled a byte at a time, which SetBodyTimeout does not end) gets
// 408 and close. Time the application holds the body (a paused body) does not count. 0
// disables; a negative, NaN or infinite rate, or a negative or NaN grace, is refused.
func (c *serverConfig) SetBodyMinRate(bytesPerSecond, graceSeconds float64) {
	c.serverOption(fmt.Sprintf("SetBodyMinRate(%v, %v)", bytesPerSecond, graceSeconds), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_body_min_rate(s, C.double(bytesPerSecond), C.double(graceSeconds))
	})
}

// SetMaxConnections limits the connections open at once (default 0: no limit). At the limit
// the oldest idle keep-alive connection is closed to make room for a new one (as nginx does);
// when none is idle, the new connection is closed at once and a warning is logged. A
// connection upgraded to a WebSocket no longer counts.
func (c *serverConfig) SetMaxConnections(n int) {
	c.sizeOption(fmt.Sprintf("SetMaxConnections(%d)", n), n, func(s *C.eddy_server, c C.size_t) C.int {
		return C.eddy_server_set_max_connections(s, c)
	})
}

// SetServerHeader sets the Server header of every response (default "eddy/<version>"); ""
// sends none. A handler's own Server header wins. A value with control characters (CR, LF,
// NUL, ...) is refused.
func (c *serverConfig) SetServerHeader(value string) {
	c.serverOption(fmt.Sprintf("SetServerHeader(%q)", value), func(s *C.eddy_server) C.int {
		if value == "" {
			return C.eddy_server_set_server_header(s, nil, 0)
		}
		cs := C.CString(value)
		defer C.free(unsafe.Pointer(cs))
		return C.eddy_server_set_server_header(s, cs, C.size_t(len(value)))
	})
}

// SetProtocol gives every request the scheme "http" or "https" (Tornado's HTTPServer
// protocol), for a server behind a proxy that terminates TLS without saying so in
// X-Forwarded-Proto: Request.Scheme reports it. "" (the default): the connection's ("https"
// over TLS). With SetXHeaders, a scheme the proxy names still wins. Another value makes Start
// fail.
func (c *serverConfig) SetProtocol(scheme string) {
	c.serverOption(fmt.Sprintf("SetProtocol(%q)", scheme), func(s *C.eddy_server) C.int {
		if scheme == "" {
			return C.eddy_server_set_protocol(s, nil)
		}
		if strings.IndexByte(scheme, 0) >= 0 { // C would read up to the NUL only
			return C.EDDY_EINVAL
		}
		cs := C.CString(scheme)
		defer C.free(unsafe.Pointer(cs))
		return C.eddy_server_set_protocol(s, cs)
	})
}

// SetProxyProtocol requires every connection to start with a PROXY protocol header (version 1
// or 2, as HAProxy's send-proxy / send-proxy-v2 and nginx's proxy_protocol send it); the
// address it carries becomes Request.RemoteIP. A connection whose header is missing, malformed
// or late (SetHeaderTimeout) is closed. Default off. Only behind a proxy that always sends
// it: anyone who can reach the port can claim any address. With SetTLS the header comes first,
// then the TLS handshake (a proxy passing TLS through, as HAProxy's mode tcp).
func (c *serverConfig) SetProxyProtocol(on bool) {
	c.serverOption(fmt.Sprintf("SetProxyProtocol(%v)", on), func(s *C.eddy_server) C.int {
		return C.eddy_server_set_proxy_protocol(s, cBool(on))
	})
}

// AllowMethods lets requests with these methods (tokens) through to ServeAll's handler; by
// default GET, HEAD, POST, PUT, DELETE, PATCH and OPTIONS pass and other methods get 501. An
// App with routes needs none: HandleFunc with a custom method allows it. A method that is not
// a token, or CONNECT (always 501: eddy is no tunnel), makes Start fail.
func (c *serverConfig) AllowMethods(methods ...string) {
	for _, m := range methods {
		m := m
		c.serverOption(fmt.Sprintf("AllowMethods(%q)", m), func(s *C.eddy_server) C.int {
			cs := C.CString(m)
			defer C.free(unsafe.Pointer(cs))
			return C.eddy_server_allow_method(s, cs, C.size_t(len(m)))
		})
	}
}
