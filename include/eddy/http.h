/* eddy — the HTTP/1.1 server (Tornado's HTTPServer, HTTP1Connection and HTTPServerRequest).
 *
 * A server accepts connections, parses requests strictly (RFC 9110/9112) and calls your
 * request callback once per complete request, in order per connection (pipelined requests are
 * answered one after another; once 64 KiB of answers wait unsent, the next request waits until
 * they have been sent, so a client that does not read cannot make the server buffer without
 * bound). Bad requests never reach you: the server answers them itself
 * with the right status (400, 413, 417, 431, 501, 505, ...) and closes when framing is unsafe.
 *
 * The request handle (eddy_request) is both the request and its response. It is valid from the
 * callback until you call eddy_request_finish() — also when the connection closed earlier
 * (then writes fail with EDDY_ECLOSED and finish just releases it), or until its loop is freed
 * (eddy_loop_free releases a request still held, userdata included, without a callback: the
 * handle is invalid afterwards). You must finish every request exactly once (before its loop
 * is freed); returning from the callback without finishing keeps the request open (deferred and
 * streaming responses, long polls).
 *
 * Strings go in as (pointer, length); pass EDDY_NTS as the length for a NUL-terminated string.
 * Strings coming out are NUL-terminated views, valid until the request is finished.
 *
 * Thread: everything here runs on the thread of the server's loop.
 */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_server eddy_server;
typedef struct eddy_request eddy_request;

/* A complete request (or, for the headers callback, its head). `userdata` is the server's. */
typedef void (*eddy_request_fn)(eddy_request *req, void *userdata);
/* The request's own callbacks get the request's userdata (eddy_request_set_userdata). */
typedef void (*eddy_request_event_fn)(eddy_request *req, void *userdata);
/* Flush completion: `status` is 0 once the data went to the kernel, EDDY_ECLOSED if dropped. */
typedef void (*eddy_request_flush_fn)(eddy_request *req, int status, void *userdata);
/* A piece of a streamed request body. */
typedef void (*eddy_request_data_fn)(eddy_request *req, const char *data, size_t len,
                                     void *userdata);
/* Graceful shutdown finished: every connection is closed. */
typedef void (*eddy_server_done_fn)(eddy_server *server, void *userdata);

/* ==== server ================================================================================ */

/* Creates a server on `loop` that calls `on_request` for each complete request.
 * Userdata: released through `free_userdata` when the server is freed.
 * Returns NULL on bad arguments or out of memory (the caller keeps userdata). */
EDDY_API eddy_server *eddy_server_new(eddy_loop *loop, eddy_request_fn on_request, void *userdata,
                                      eddy_free_fn free_userdata);

/* Listens on `host`:`port` (see eddy_listener_bind: NULL host = every address, port 0 = any
 * free port, EDDY_LISTEN_* flags). May be called several times.
 * Returns 0 or the error of eddy_listener_bind() (EDDY_ENOMEM among them). */
EDDY_API int eddy_server_listen(eddy_server *server, const char *host, int port, int flags);

/* Listens on a Unix socket path ("@name": a Linux abstract socket), the file's permissions
 * left to the umask. Returns as eddy_listener_bind_unix(). */
EDDY_API int eddy_server_listen_unix(eddy_server *server, const char *path);

/* As eddy_server_listen_unix() with the socket file's permission bits `mode` (0..0777; 0600,
 * Tornado's bind_unix_socket default: only this user can connect). See
 * eddy_listener_bind_unix_mode(). Returns as it does. */
EDDY_API int eddy_server_listen_unix_mode(eddy_server *server, const char *path, int mode);

/* Accepts on an already listening socket `fd` (the server takes it). Returns 0, EDDY_EINVAL or
 * EDDY_ENOMEM. */
EDDY_API int eddy_server_add_fd(eddy_server *server, int fd);

/* Serves an already connected socket `fd` (the server takes it), e.g. one accepted elsewhere.
 * `peer_ip` may be NULL. Returns 0; EDDY_EINVAL when `server` is NULL or `fd` is not an open
 * socket, EDDY_ESTATE when the server is shutting down or its loop was freed (`fd` stays the
 * caller's in both); EDDY_ENOMEM (`fd` is closed then). */
EDDY_API int eddy_server_add_connection(eddy_server *server, int fd, const char *peer_ip,
                                        int peer_port);

/* Returns the first listening TCP port, or EDDY_ENOENT. */
EDDY_API int eddy_server_port(const eddy_server *server);

/* Returns the file descriptor of the server's `index`th listening socket (0 = the first), e.g.
 * to hand it to a new process during a graceful reload (clear FD_CLOEXEC, exec, and pass it to
 * eddy_server_add_fd there). The server keeps owning it. Returns EDDY_ENOENT when there is no
 * such socket, EDDY_EINVAL for a NULL server. */
EDDY_API int eddy_server_listening_fd(const eddy_server *server, int index);

/* Returns the number of open connections. */
EDDY_API size_t eddy_server_connection_count(const eddy_server *server);

/* Graceful shutdown: stops accepting, closes idle connections at once, lets requests in flight
 * finish (their connections close after the response; an answer still being sent counts as in
 * flight and is sent whole), then calls `done` (may be NULL) on a
 * later iteration. A connection closed after its answer waits up to 2 s for the client to close
 * its side (so that input still arriving does not reset the answer) and counts until then.
 * WebSocket connections left the server at their upgrade and are not waited for (as in
 * Tornado); close them yourself. Userdata is released after `done` ran or when the server is
 * freed.
 * Returns 0, EDDY_EINVAL, EDDY_ENOMEM, or EDDY_ESTATE when a shutdown is already under way. */
EDDY_API int eddy_server_shutdown(eddy_server *server, eddy_server_done_fn done, void *userdata,
                                  eddy_free_fn free_userdata);

/* Frees the server: listening sockets and every connection are closed; open requests get
 * their close callback and stay valid until you finish them. Its userdata is released before
 * this returns, and no callback of the server runs afterwards.
 * Inside one of its own callbacks (a request, headers, close or access-log callback, the
 * shutdown `done`): the server stops listening at once, its connections close after their
 * current answer (requests that arrive meanwhile get 503), and the memory goes when the loop
 * next runs (or when the loop is freed). The request in hand is still answered if you finish it
 * before then; one you keep longer gets its close callback at that point (and stays valid until
 * you finish it), as with a free outside the callbacks. The userdata is released at once there
 * too, while the callback that was handed it still runs: a binding whose userdata is that
 * callback's own closure frees the server from the loop's next turn instead.
 * After its loop was freed (which closed it without callbacks and released the requests still
 * held), free it all the same; calls that need the loop then return EDDY_ESTATE. Requests kept
 * past a free of the server stay valid until finished or until the loop is freed.
 * NULL does nothing. */
EDDY_API void eddy_server_free(eddy_server *server);

/* ---- limits and options (each returns 0 or EDDY_EINVAL) ---------------------------------- */

/* Largest request head (request line + header fields), default 65536 bytes. Over it: 431. */
EDDY_API int eddy_server_set_max_header_size(eddy_server *server, size_t bytes);
/* Most header field lines in a request head, default 1000. Over it: 431 and close. Each
 * field costs the server ~60 bytes however short its line, so this bounds the memory a head
 * takes besides its size (64 KiB of two-byte lines held 830 KiB). At least 1 (else
 * EDDY_EINVAL). */
EDDY_API int eddy_server_set_max_header_fields(eddy_server *server, size_t count);
/* Largest request body, default 100 MiB (after decompression). Over it: 413 and close. */
EDDY_API int eddy_server_set_max_body_size(eddy_server *server, size_t bytes);
/* Most request-body bytes the server holds in memory at once over all its connections,
 * default 1 GiB (ten bodies of the default largest size); 0 means no limit. Counted: the
 * bodies being received and those of requests not yet released (a detached handler keeps
 * its request's); not counted: streamed bodies (eddy_request_stream_body), which the
 * application consumes. A body that does not fit is refused with 503 Service Unavailable and
 * the connection closes, with a warning logged: at once when its Content-Length does not fit
 * (before any 100 Continue), else when the bytes that go over arrive. Without it, clients
 * that each send most of a large body and stall could take the process's memory (nginx
 * spools such bodies to disk). Returns 0 or EDDY_EINVAL (NULL server). */
EDDY_API int eddy_server_set_max_body_memory(eddy_server *server, size_t bytes);
/* Seconds for the whole request head to arrive once a request started (and for the first
 * request after connecting), default 30. Then: 408 and close. 0 disables. */
EDDY_API int eddy_server_set_header_timeout(eddy_server *server, double seconds);
/* Seconds a kept-alive connection may sit idle between requests, default 75. Then: close.
 * The wait starts once the last answer has been sent: a client slowly reading a long answer
 * is not idle, but one that takes none of its bytes for this long is closed (nginx's
 * send_timeout) — also while the answer is still being streamed (flushed, not finished; the
 * connection is then cut, and pending flush callbacks get EDDY_ECLOSED). An application that
 * flushes nothing for a while (a long poll) is not timed. 0 disables both. */
EDDY_API int eddy_server_set_idle_timeout(eddy_server *server, double seconds);
/* Seconds without any body bytes while a body is being received, default 60. Then: 408 and
 * close. 0 disables. An inactivity timeout only: a client that sends a byte now and then keeps
 * it from firing — the minimum rate below bounds the whole body. It does not run while the
 * application holds the body (eddy_request_pause_body until resume, a web handler's
 * asynchronous prepare): nothing is read then, so the client cannot be late; it starts again
 * at the resume. A held body is bounded by the application alone (as Tornado's flow control;
 * the idle timeout applies only between requests). Loop thread. */
EDDY_API int eddy_server_set_body_timeout(eddy_server *server, double seconds);
/* Least average rate of a request body, default 500 bytes/s after a grace of 20 s (Apache's
 * mod_reqtimeout body=20,MinRate=500). The body may take `grace_seconds` plus one second per
 * `bytes_per_second` bytes received since it began: a client that falls behind (e.g. one
 * that declares a large Content-Length and trickles it, the slow-body or "R-U-Dead-Yet"
 * attack, which the inactivity timeout above does not stop) gets 408 Request Timeout and the
 * connection closes, with a log line (the answer is cut instead when the application already
 * started one). An upload at or above the rate is never cut by it, however long it is. The clock
 * starts when the head has been handled (after the headers callback and any 100 Continue);
 * time while the application holds the body (eddy_request_pause_body until resume, a web
 * handler's asynchronous prepare) does not count. Counted: the body's bytes as its transfer
 * coding frames them (chunked: the data, not the chunk lines) and before any content coding
 * (gzip: the compressed bytes). Checked when the body's timer fires, not on every read.
 * A grace of 0 leaves no time for the first bytes: they must come with the head (or before
 * the loop's next iteration). `bytes_per_second` 0 disables it (the inactivity timeout still
 * applies). Affects requests that start afterwards; eddy_request_set_body_min_rate changes
 * one (also mid-body). Loop thread.
 * Returns 0 or EDDY_EINVAL (NULL server, a negative, NaN or infinite rate, a negative or NaN
 * grace; an infinite grace means the rate never applies). */
EDDY_API int eddy_server_set_body_min_rate(eddy_server *server, double bytes_per_second,
                                           double grace_seconds);
/* Most connections open at once (0 = no limit, the default). At the limit, the oldest idle
 * keep-alive connection is closed to make room for a new one (as nginx does); when none is
 * idle, the new connection is closed at once and a warning is logged. A connection upgraded to
 * a WebSocket leaves the server, and with it this count: limit sessions in the application. */
EDDY_API int eddy_server_set_max_connections(eddy_server *server, size_t count);
/* Non-zero: every response closes its connection (Tornado's no_keep_alive). */
EDDY_API int eddy_server_set_no_keep_alive(eddy_server *server, int on);
/* Non-zero: take the client address and scheme from X-Real-IP / X-Forwarded-For and
 * X-Scheme / X-Forwarded-Proto (Tornado's xheaders). When trusted proxies were added with
 * eddy_server_add_trusted_proxy(), only connections from them are believed, and
 * X-Forwarded-For is read from the right, skipping trusted addresses. */
EDDY_API int eddy_server_set_xheaders(eddy_server *server, int on);
/* Every request's scheme, "http" or "https" (Tornado's HTTPServer `protocol`): for a server
 * behind a proxy that terminates TLS without saying so in X-Forwarded-Proto. NULL (the
 * default): the connection's ("https" over TLS). With xheaders, a scheme the proxy names still
 * wins. Affects requests that start afterwards. Returns 0 or EDDY_EINVAL (another string). */
EDDY_API int eddy_server_set_protocol(eddy_server *server, const char *scheme);
/* Adds a trusted downstream proxy address (numeric IPv4/IPv6). It is matched as an address,
 * not as text: "::ffff:10.0.0.1" matches a peer 10.0.0.1, "2001:DB8::1" an X-Forwarded-For
 * member "2001:db8:0::1". "unix:" (as nginx's set_real_ip_from) trusts every connection that
 * came in on a Unix socket (eddy_server_listen_unix: a proxy on the same machine).
 * Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_server_add_trusted_proxy(eddy_server *server, const char *ip);
/* Non-zero: every connection must start with a PROXY protocol header, version 1 (text) or 2
 * (binary), as HAProxy's send-proxy / send-proxy-v2 and nginx's proxy_protocol send it. The
 * address it carries becomes the request's remote ip and port (the header's LOCAL and UNKNOWN
 * forms keep the socket's peer). A connection whose header is missing, malformed or not
 * complete within the header timeout is closed with a log line. Off (the default): a PROXY
 * header is not recognized and gets 400 like any malformed request. Only turn it on behind a
 * proxy that always sends it: anyone who can reach the port can claim any address.
 * With eddy_server_set_tls the header comes first, then the TLS handshake (a proxy passing TLS
 * through, as HAProxy's `mode tcp` with send-proxy, or nginx's stream module with
 * proxy_protocol); only the header's bytes are read before the handshake starts.
 * Affects connections accepted afterwards. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_server_set_proxy_protocol(eddy_server *server, int on);
/* Non-zero: gzip request bodies (Content-Encoding: gzip) are decoded before the callback
 * (the header is renamed X-Consumed-Content-Encoding). Off: such bodies pass through as is. */
EDDY_API int eddy_server_set_decompress_request(eddy_server *server, int on);
/* Non-zero (the default, as Tornado): a body that is not streamed and is labelled
 * application/x-www-form-urlencoded or multipart/form-data is decoded into arguments and files
 * before the request callback, and one that cannot be (see eddy_request_argument_count) is
 * answered 400 without calling it. Zero: bodies are not decoded — arguments come from the query
 * alone, there are no files — and every such request reaches the callback with its body as
 * bytes: for proxies, echo servers and applications that read their own forms. Affects
 * requests whose body completes afterwards. Returns 0 or EDDY_EINVAL (NULL server). */
EDDY_API int eddy_server_set_body_arguments(eddy_server *server, int on);
/* Sets the Server header value (EDDY_NTS-terminated or with length); NULL sends none.
 * Default "eddy/<version>". Returns 0, EDDY_EINVAL or EDDY_ENOMEM (the old value stays). */
EDDY_API int eddy_server_set_server_header(eddy_server *server, const char *value, size_t len);
/* Lets `method` (a token) through to the callback. By default GET, HEAD, POST, PUT, DELETE,
 * PATCH and OPTIONS pass; any other well-formed method gets 501 from the server.
 * Returns 0, EDDY_ENOMEM, or EDDY_EINVAL (not a token; CONNECT, which always gets 501: eddy is
 * no tunnel). */
EDDY_API int eddy_server_allow_method(eddy_server *server, const char *method, size_t len);
/* Non-zero: every well-formed method reaches the callback (CONNECT excepted: always 501). */
EDDY_API int eddy_server_allow_any_method(eddy_server *server, int on);

/* Calls `on_headers` once a request's head is parsed and valid, before its body is read. In it
 * you may switch the request to streaming (eddy_request_stream_body), change its body limits,
 * or answer at once (then the body is not read and the connection closes after the response).
 * `on_request` still runs when the body is complete, unless the request was finished.
 * If the connection closes before the body is complete, a request without a close callback
 * (streamed or not) is released by the server; one with a close callback gets that call and
 * stays yours to finish.
 * Uses the server's userdata. NULL removes it. */
EDDY_API int eddy_server_set_headers_callback(eddy_server *server, eddy_request_fn on_headers);

/* Calls `cb` after each response was finished (use eddy_request_response_status(),
 * eddy_request_bytes_sent(), eddy_request_duration() and the request getters in it); for a
 * WebSocket handshake (eddy/websocket.h), once its 101 was written, as the connection leaves
 * the server. A request the application finishes after its client left is logged at that
 * finish too (eddy_request_connection_closed() says 1; the status is 0 if not even the head
 * went out), unless the server was freed first.
 * Userdata is released when replaced or when the server is freed. NULL removes it (userdata
 * given with NULL is released at once). */
EDDY_API int eddy_server_set_access_log(eddy_server *server, eddy_request_fn cb, void *userdata,
                                        eddy_free_fn free_userdata);
/* Writes a Common Log Format line per response to `fd` (not owned; -1 turns it off). A request
 * that got no answer at all is logged as nginx does: 499 when its client left first, 444 when
 * the application aborted it before the head (eddy_request_abort). In the
 * quoted request field, a '"', '\', control or non-ASCII byte of the method or target is written
 * as \xHH (as nginx does), so that no request can end the field early. The lines
 * of one loop pass are written together at its end (or every 64 KiB), so that a busy server makes
 * one write(2) per pass rather than per request. The loop never waits for the log: a pipe, socket
 * or terminal without room keeps the lines waiting (retried every 50 ms, up to 1 MiB); lines past
 * that are dropped and their number is logged as a warning once `fd` takes lines again. Pending
 * lines are written before `fd` is replaced and when the server is freed (waiting at most about a
 * second for room). If `fd` fails (a closed file, a disk error), the pending lines are dropped and
 * a warning is logged; if it is a pipe or socket whose reader went away, the log also turns
 * itself off (writing on would raise SIGPIPE). Returns 0, EDDY_EINVAL (NULL server, fd below -1),
 * EDDY_ESTATE (the server's loop was freed) or EDDY_ENOMEM. */
EDDY_API int eddy_server_set_access_log_fd(eddy_server *server, int fd);

/* ==== request: what arrived ================================================================= */

/* The method ("GET"). `len` (may be NULL) receives the length; the others below work the same
 * way. NULL only for a NULL req. */
EDDY_API const char *eddy_request_method(const eddy_request *req, size_t *len);
/* The request target as sent ("/a%20b?x=1"). */
EDDY_API const char *eddy_request_uri(const eddy_request *req, size_t *len);
/* The path ("/a%20b", still percent-encoded; an absolute-form target gives its path; "*" for
 * OPTIONS *). */
EDDY_API const char *eddy_request_path(const eddy_request *req, size_t *len);
/* The query without the '?' ("x=1"; "" when none). */
EDDY_API const char *eddy_request_query(const eddy_request *req, size_t *len);
/* The HTTP version as 10 or 11. */
EDDY_API int eddy_request_version(const eddy_request *req);
/* "http" or "https" (or what X-Scheme/X-Forwarded-Proto said, with xheaders). */
EDDY_API const char *eddy_request_scheme(const eddy_request *req);
/* The Host header (or an absolute-form target's authority); "" for HTTP/1.0 without one. */
EDDY_API const char *eddy_request_host(const eddy_request *req, size_t *len);
/* The client's address ("127.0.0.1"; with xheaders the forwarded one); "" for Unix sockets. */
EDDY_API const char *eddy_request_remote_ip(const eddy_request *req);
/* The client's TCP port (0 for Unix sockets or a NULL req). */
EDDY_API int eddy_request_remote_port(const eddy_request *req);

/* The first value of header `name` (case-insensitive), or NULL. */
EDDY_API const char *eddy_request_header(const eddy_request *req, const char *name,
                                         size_t name_len, size_t *value_len);
/* The number of header fields, in arrival order, repeated fields kept. */
EDDY_API size_t eddy_request_header_count(const eddy_request *req);
/* The `index`th header field. Returns 0 or EDDY_ENOENT. Out-pointers may be NULL. */
EDDY_API int eddy_request_header_at(const eddy_request *req, size_t index, const char **name,
                                    size_t *name_len, const char **value, size_t *value_len);

/* The request body (not for streamed bodies), valid until the request is finished; "" when
 * empty, NULL only for a NULL req. */
EDDY_API const char *eddy_request_body(const eddy_request *req, size_t *len);

/* Where arguments come from. */
#define EDDY_ARGS_QUERY 0x1
#define EDDY_ARGS_BODY 0x2
#define EDDY_ARGS_ALL 0x3
/* The number of decoded arguments from `sources` (query first, then body: urlencoded and
 * multipart/form-data fields). A body that is not streamed is parsed when it has arrived
 * (unless eddy_server_set_body_arguments turned that off), and one the server will not parse
 * is answered 400 and never reaches the request callback: over
 * 10,000 urlencoded arguments, or multipart with over 100 parts or a part head over 10 KiB
 * (Tornado's limits), or malformed multipart. The query is parsed on first use: 0 when memory
 * ran out for it. */
EDDY_API size_t eddy_request_argument_count(const eddy_request *req, int sources);
/* The `index`th argument from `sources`. Returns 0, EDDY_ENOENT or EDDY_ENOMEM. Out-pointers may
 * be NULL (a length is filled without its pointer). */
EDDY_API int eddy_request_argument_at(const eddy_request *req, int sources, size_t index,
                                      const char **name, size_t *name_len, const char **value,
                                      size_t *value_len);
/* The first value of argument `name` from `sources`, or NULL when missing (or out of memory). */
EDDY_API const char *eddy_request_argument(const eddy_request *req, int sources, const char *name,
                                           size_t name_len, size_t *value_len);
/* Uploaded files (multipart/form-data parts with a filename). */
EDDY_API size_t eddy_request_file_count(const eddy_request *req);
/* The `index`th file. Returns 0 or EDDY_ENOENT. Out-pointers may be NULL. field, filename and
 * content_type are NUL-terminated; body is not (use body_len): it points into the request
 * body, so an upload is held once. All are valid until the request is finished. */
EDDY_API int eddy_request_file_at(const eddy_request *req, size_t index, const char **field,
                                  const char **filename, const char **content_type,
                                  const char **body, size_t *body_len);

/* ==== request: per-request state and callbacks ============================================= */

/* Attaches userdata for this request's callbacks; released (free_userdata) when the request is
 * released after finish (once its pending flush callbacks ran), or by eddy_loop_free when the
 * request is still held then, or finished with a flush callback still pending (the only notice
 * a binding gets that the request is gone: state its flush callbacks need lives here, since
 * they take none of their own). A previous userdata is released first. */
EDDY_API void eddy_request_set_userdata(eddy_request *req, void *userdata,
                                        eddy_free_fn free_userdata);
/* Returns the userdata set with eddy_request_set_userdata() (NULL when none). */
EDDY_API void *eddy_request_get_userdata(const eddy_request *req);
/* `cb` runs once if the connection closes before the request is finished (Tornado's
 * on_connection_close), or when the server itself answers a request taken in the headers
 * callback with an error (a malformed, oversized or late body: 400/408/413). The request stays
 * valid; finish it to release it (after a server's answer, finish returns EDDY_ESTATE). */
EDDY_API int eddy_request_set_close_callback(eddy_request *req, eddy_request_event_fn cb);
/* Returns 1 when the connection is gone (writes would fail), else 0. */
EDDY_API int eddy_request_connection_closed(const eddy_request *req);

/* Streams this request's body: `on_data` gets each piece as it arrives (already de-chunked,
 * decompressed when decompress_request is on), `on_end` (may be NULL) runs after the last one,
 * then the server's request callback runs as usual with an empty eddy_request_body().
 * Without a close callback the request is yours only inside these callbacks: if the body is
 * cut short (the connection is lost, or the server answers 400/408/413 itself), the request is
 * released without a call. To keep the pointer past a callback (e.g. to resume a paused body
 * later), set a close callback first (eddy_request_set_close_callback).
 * Only from the headers callback. Returns 0, EDDY_ESTATE, EDDY_EINVAL. */
EDDY_API int eddy_request_stream_body(eddy_request *req, eddy_request_data_fn on_data,
                                      eddy_request_event_fn on_end);
/* Flow control for streamed bodies: while paused, no more data is read from the client (TCP
 * then slows the sender). Call it inside the data callback (or in the headers callback, after
 * eddy_request_stream_body, to hold the body before its first byte). Returns 0 or EDDY_ESTATE.
 * While paused neither the body timeout nor the minimum body rate runs against the client
 * (the server is not reading); the body timeout starts again at the resume. No server timeout
 * bounds the pause: resuming, or finishing the request, is the application's to do. Paused
 * from the headers callback, the 100 Continue an `Expect: 100-continue` client waits for goes
 * out at the resume (RFC 9110 §10.1.1), not before, and never when the answer starts first
 * (the connection then closes after the answer, the body unread). A client that leaves while
 * the body is held is noticed at once, though nothing is read: the close callback runs
 * (eddy_request_set_close_callback), so the work the body is held for can stop. Leaving is a
 * reset or a close (FIN) before the body's end was sent: a body that lacks bytes can never
 * complete. A client that sent its whole request and then half-closed (`nc -N`) has not left:
 * its body is read at the resume and it gets its answer. (Where the server cannot tell a
 * chunked body's end from the bytes that wait, or on a TLS connection whose library holds
 * input, such a FIN is seen at the resume instead.) */
EDDY_API int eddy_request_pause_body(eddy_request *req);
/* Resumes reading a paused streamed body; pieces may arrive on a later iteration.
 * Returns 0, EDDY_ESTATE (not a streamed body) or EDDY_ENOMEM. */
EDDY_API int eddy_request_resume_body(eddy_request *req);
/* Per-request body limit, from the headers callback (Tornado's set_max_body_size).
 * Returns 0 or EDDY_ESTATE (body already started). */
EDDY_API int eddy_request_set_max_body_size(eddy_request *req, size_t bytes);
/* Per-request body inactivity timeout in seconds (0 = none; see
 * eddy_server_set_body_timeout), from the headers callback (Tornado's set_body_timeout) or
 * later while the body arrives (a data callback): then it applies at once, counted from the
 * body's last bytes (or the resume of a held body). Loop thread. Returns 0, EDDY_EINVAL (NULL,
 * a negative or NaN value), or EDDY_ESTATE (the body is complete). */
EDDY_API int eddy_request_set_body_timeout(eddy_request *req, double seconds);
/* Per-request minimum body rate (see eddy_server_set_body_min_rate; 0 = none): e.g. lifted
 * for a route whose clients are known to be slow, or tightened for one that takes large
 * uploads. From the headers callback it replaces the server's for the whole body. Later, while
 * the body arrives (a data callback that learnt who sends it, e.g. after an auth check on its
 * first piece), the new rate applies from the call on: its clock and grace start again at the
 * call and count only the bytes that come after it (the bytes so far were owed at the old
 * rate, which the client kept to; time the body is held still does not count). Loop thread.
 * Returns 0, EDDY_EINVAL (as the server's setter, or NULL), or EDDY_ESTATE (the body is
 * complete). */
EDDY_API int eddy_request_set_body_min_rate(eddy_request *req, double bytes_per_second,
                                            double grace_seconds);

/* ==== request: the response ================================================================= */

/* Sets the status (200..599: a 1xx is an interim answer, never the final one) and reason
 * (NULL = the standard phrase; a reason with CR, LF, NUL or '<' is refused). Only before the
 * first flush. 204, 205 and 304 carry no body (writes are refused; a 205 says Content-Length: 0).
 * Returns 0, EDDY_EINVAL, EDDY_ESTATE (headers already sent or finished), EDDY_ENOMEM (the
 * response is lost, as for eddy_request_set_header). */
EDDY_API int eddy_request_set_status(eddy_request *req, int status, const char *reason,
                                     size_t reason_len);
/* Sets a response header, replacing earlier values of the same name (case-insensitive).
 * The name must be a token and the value free of control characters other than tab (CR, LF,
 * NUL, ...; RFC 9110 §5.5): else EDDY_EINVAL (nothing is
 * sent). Only before the first flush: else EDDY_ESTATE. Setting Content-Length declares the
 * body length: writing more is an error that closes the connection; finishing short closes it
 * too. EDDY_ENOMEM: the header could not be stored, and the response will not go out without
 * it, even if the caller goes on: the connection is closed at the next flush or finish instead
 * (an error page made with eddy_handler_send_error starts afresh and is sent, unless the lost
 * header was a Set-Cookie, which such a page keeps). */
EDDY_API int eddy_request_set_header(eddy_request *req, const char *name, size_t name_len,
                                     const char *value, size_t value_len);
/* Adds a response header (repeats allowed, e.g. Set-Cookie). Same rules. */
EDDY_API int eddy_request_add_header(eddy_request *req, const char *name, size_t name_len,
                                     const char *value, size_t value_len);
/* Removes every value of a response header. Returns 0 (also when absent) or EDDY_ESTATE. */
EDDY_API int eddy_request_clear_header(eddy_request *req, const char *name, size_t name_len);

/* Appends body bytes (buffered until flush or finish). HEAD responses count but never send
 * them. Returns 0, EDDY_EINVAL (NULL data with a length, or a length no buffer has: over
 * PTRDIFF_MAX, as EDDY_NTS), EDDY_ESTATE (finished; or a status that has no body: 1xx, 204, 304),
 * EDDY_ECLOSED (connection gone), EDDY_ETOOBIG (beyond the declared Content-Length: the
 * connection is closed), EDDY_ENOMEM (the bytes were not taken and the connection is closed:
 * the answer cannot be complete; finish the request as after a close). */
EDDY_API int eddy_request_write(eddy_request *req, const void *data, size_t len);
/* Sends the headers (first time) and what was written so far: on HTTP/1.1 without a declared
 * Content-Length as a chunk (Transfer-Encoding: chunked); on HTTP/1.0 close-delimited (the
 * response says Connection: close). `cb` (may be NULL) runs when it reached the kernel — use
 * it for backpressure — or with EDDY_ECLOSED when it was dropped; it gets the request's
 * userdata. If the loop is freed first, `cb` never runs and the request is released with the
 * loop, its userdata through its free function (eddy_loop_free), finished or not.
 * Returns 0, EDDY_ESTATE, EDDY_ECLOSED, EDDY_ENOMEM (the connection is
 * closed, as for EDDY_ETOOBIG; `cb` will not run). */
EDDY_API int eddy_request_flush(eddy_request *req, eddy_request_flush_fn cb);
/* Completes the response (adding Content-Length when nothing was flushed yet) and releases the
 * request once pending flush callbacks ran. Always releases, also after a close: once released,
 * `req` is gone, and any further call with it (a second finish included) uses freed memory, as
 * with libuv's handles after their close. Until then (a flush callback still pending, or
 * inside the access-log callback) a second finish returns EDDY_ESTATE.
 * Returns 0, EDDY_ECLOSED (connection was gone; released anyway), EDDY_ENOMEM (the response
 * could not be completed: the connection is closed abruptly; released anyway), EDDY_ESTATE
 * (already finished, and not yet released: nothing happens). */
EDDY_API int eddy_request_finish(eddy_request *req);
/* Ends the request with its response left incomplete, for an answer that cannot be completed
 * (a reverse proxy whose upstream broke off mid-body): what was flushed stays sent, the body
 * written since goes out too, and then the connection closes without the response's end — no
 * last chunk, the declared Content-Length not reached — so the client knows the answer is
 * truncated, where eddy_request_finish() would make it look complete. If the head has not
 * gone out, nothing is sent: the connection just closes (to send an error status instead, set
 * it and finish). An HTTP/1.0 answer without Content-Length ends at the close either way, so
 * its client cannot tell. Logged (info) and in the access log as finish() is.
 * Releases `req` as eddy_request_finish() does; returns as it does (0, EDDY_ECLOSED, EDDY_ENOMEM,
 * EDDY_ESTATE) and EDDY_EINVAL for NULL. Loop thread only. */
EDDY_API int eddy_request_abort(eddy_request *req);
/* Returns 1 after eddy_request_finish(), else 0 (valid only while you may still use req, i.e.
 * inside flush/access-log callbacks). */
EDDY_API int eddy_request_finished(const eddy_request *req);

/* For access logs: the status sent, or 0 before the headers went out. */
EDDY_API int eddy_request_response_status(const eddy_request *req);
/* For access logs: body bytes sent (0 for HEAD, and when the head never went out). */
EDDY_API uint64_t eddy_request_bytes_sent(const eddy_request *req);
/* For access logs: seconds since the request line started to arrive. */
EDDY_API double eddy_request_duration(const eddy_request *req);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_HTTP_H */
