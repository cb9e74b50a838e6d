// Package eddy embeds the eddy web server (Tornado's architecture as a C library) in Go
// programs through cgo.
//
// An App holds routes (PCRE2 patterns whose groups become path arguments) with a handler per
// HTTP method and Tornado's hooks (Prepare, OnFinish, OnConnectionClose, ...). Start runs
// eddy's event loop on a dedicated, locked OS thread; every handler runs there. A handler that
// answers later calls ResponseWriter.Detach and may then finish the response from any
// goroutine: the binding posts those calls to the loop thread. A panic in a handler becomes a
// 500 and a log line.
//
// App.CallLater, App.CallAt and App.RemoveTimeout are Tornado's IOLoop timers (App.Time is its
// clock) and App.NewPeriodicCallback its PeriodicCallback; the functions run on the loop thread.
//
// App.WebSocket makes a route a WebSocket endpoint and App.DialWebSocket opens a client
// connection on the App's loop; both take Open, OnMessage, OnPing (a ping's payload, after the
// automatic pong), OnPong and OnClose callbacks; a route also SelectSubprotocol and
// CheckOrigin, a client also Subprotocols, TLS (wss://), OnError (a *DialError when eddy
// knows why beyond the code) and OnRefused (the HTTP status of a handshake the server refused). Conn.SetWriteMark and Conn.WriteBufferSize are the
// backpressure of a producer. App.SetTLS serves HTTPS and wss://.
//
// App.NewHTTPClient makes Tornado's AsyncHTTPClient on the App's loop: HTTPClient.Fetch runs
// its callback on the loop thread, HTTPClient.Do waits for the response from another
// goroutine; HTTPRequest and HTTPResponse carry Tornado's fields, Fetch.Cancel and
// HTTPClient.Close end fetches with ErrCanceled, Fetch.WriteBody and Fetch.EndBody stream a
// request body (HTTPRequest.BodyStream), paced by the server with Fetch.FlushBody (or
// Fetch.OnBodyFlushed on the loop thread). HTTPClientOptions.Defaults and HostnameMapping are
// Tornado's defaults and hostname_mapping.
//
// NewTCPServer is Tornado's TCPServer: each accepted connection is a *Stream (Tornado's
// IOStream) handed to a handler goroutine; DialTCP and DialTLS are TCPClient.connect. Stream's
// methods block the calling goroutine while the loop does the work (io.Reader, io.Writer,
// io.Closer); a closed stream returns a *StreamClosedError. Go cannot fork: processes share a
// port with TCPServer.SetReusePort instead of Tornado's fork_processes.
//
// Building: the C headers and libeddy come from CGO_CFLAGS/CGO_LDFLAGS (as eddy's CMake build
// sets them), or from pkg-config with `-tags eddy_pkgconfig`. See README.md.
package eddy
