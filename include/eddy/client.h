/* eddy — the asynchronous HTTP client (Tornado's AsyncHTTPClient), run from inside a loop.
 *
 * A client keeps a keep-alive connection pool per origin (scheme, host, port; and per proxy,
 * connect_to address or Unix socket) and runs at most `max_clients` requests at a time;
 * further requests wait in a queue. A request (eddy_fetch) is made with eddy_fetch_new(),
 * configured with setters, and started with eddy_fetch_start(); from then on eddy owns it
 * and calls its callbacks on the loop's thread:
 *   headers  once the final response's head arrived (optional),
 *   chunk    for each piece of the (decoded) body (optional: when set, the body is not kept),
 *   done     exactly once, with 0 or an error code; the handle is freed after `done` returns.
 * Inside callbacks the eddy_fetch_response_* getters read the response.
 *
 * Supported: http and https URLs (IPv4, IPv6 in brackets, names resolved without blocking),
 * request bodies from memory or streamed, chunked / Content-Length / close-delimited responses,
 * gzip decoding, redirects (at most 5 by default; 303, and 301/302 after POST, become GET;
 * Authorization and Cookie are dropped when the redirect changes origin), Expect:
 * 100-continue, connect, request and read timeouts, flow control of a streamed response body
 * (eddy_fetch_pause_body) and of a streamed request body (eddy_fetch_flush_body), certificate
 * verification (on by default), an HTTP proxy (CONNECT for https), a Unix-domain socket instead
 * of TCP for a request (eddy_fetch_set_unix_socket, curl's --unix-socket).
 *
 * Errors reported to `done`: EDDY_ERESOLVE (name not found), EDDY_ECONNREFUSED and other
 * connect errors (for a Unix socket also EDDY_ENOENT: no such path; see
 * eddy_fetch_set_unix_socket), EDDY_ETIMEDOUT, EDDY_ETLS (handshake, certificate verification or a
 * TLS alert failed it), EDDY_ETOOBIG (response head or body over the limits), EDDY_EPROTO
 * (malformed response, a Transfer-Encoding other than a single "chunked", which eddy cannot decode,
 * or a proxy that refused or garbled the CONNECT tunnel), EDDY_EOF (the connection closed before
 * the response was complete), EDDY_ECANCELED (eddy_fetch_cancel, or the client was freed),
 * EDDY_EBUSY (queue full), EDDY_EINVAL (bad URL).
 *
 * Reuse: a pooled connection the server closed just as a request went out on it (nothing came
 * back but the close or a reset) is a race every keep-alive client meets. An idempotent request
 * (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is then sent once more on a new connection; any
 * other (POST, PATCH...) may already have been carried out, so it is never sent again by eddy
 * (RFC 9112 §9.3.1): `done` gets EDDY_EOF or EDDY_ECONNRESET, and the application decides.
 * A connection is not reused after a response or a request that said "Connection: close".
 *
 * Thread: everything runs on the loop's thread.
 */
#ifndef EDDY_CLIENT_H
#define EDDY_CLIENT_H

#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_client eddy_client;
typedef struct eddy_fetch eddy_fetch;

/* The response head arrived (status and headers readable). */
typedef void (*eddy_fetch_headers_fn)(eddy_fetch *fetch, void *userdata);
/* A piece of the response body, decoded (gzip) when decoding is on; valid during the call. */
typedef void (*eddy_fetch_chunk_fn)(eddy_fetch *fetch, const char *data, size_t len,
                                    void *userdata);
/* The request ended: `error` is 0 (a response arrived, whatever its status) or an EDDY_E* code. */
typedef void (*eddy_fetch_done_fn)(eddy_fetch *fetch, int error, void *userdata);
/* The streamed body written before eddy_fetch_flush_body() reached the kernel (`status` 0), or
 * it never will: the fetch ended first (its error, or EDDY_ECLOSED when it ended without one). */
typedef void (*eddy_fetch_flush_fn)(eddy_fetch *fetch, int status, void *userdata);

/* ==== client ================================================================================ */

/* Creates a client on `loop`. Returns NULL on bad arguments or out of memory. */
EDDY_API eddy_client *eddy_client_new(eddy_loop *loop);

/* Frees the client: requests in flight or queued end with EDDY_ECANCELED (their `done` runs
 * before this returns), pooled connections close. Safe inside any callback of its requests
 * (done, headers, chunk, flush): the request whose callback it is goes once that callback
 * returned. A request started from one of the `done` callbacks this call runs is refused
 * (eddy_fetch_start returns EDDY_ESTATE; the handle stays yours). Also after its loop was
 * freed (which ended its requests without callbacks): free it all the same. NULL is ignored. */
EDDY_API void eddy_client_free(eddy_client *client);

/* At most `n` requests run at once (default 10); the rest wait in the queue. `n` >= 1.
 * Raising it starts queued requests at once (in their order); lowering it stops none of those
 * running. Thread: the loop's. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_client_set_max_clients(eddy_client *client, size_t n);

/* At most `n` requests wait in the queue (default 1000); more end with EDDY_EBUSY.
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_client_set_max_queue(eddy_client *client, size_t n);

/* At most `n` idle keep-alive connections are kept per origin (default 4; 0 disables reuse).
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_client_set_max_idle_per_host(eddy_client *client, size_t n);

/* Seconds an idle pooled connection is kept (default 60). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_client_set_idle_timeout(eddy_client *client, double seconds);

/* Uses `ctx` (a client context; the client keeps a reference) for https. Default: a context
 * that verifies certificates against the system's CAs and the host name. Connections made
 * with an earlier context are not reused (idle ones close now): their certificates were
 * checked by its rules, not by `ctx`'s. Returns 0 or EDDY_EINVAL (NULL or a server context). */
EDDY_API int eddy_client_set_tls(eddy_client *client, eddy_tls_context *ctx);

/* Sends every request through the HTTP proxy at `host`:`port` (http: absolute URIs; https: a
 * CONNECT tunnel, then TLS with the origin), except one to a Unix socket
 * (eddy_fetch_set_unix_socket). NULL host removes the proxy. A request's
 * Proxy-Authorization header goes to the proxy: on the CONNECT for https (never into the
 * tunnel), with the request itself for http. It applies to requests started after the call:
 * one already started keeps the proxy (or none) it started with, redirects included, and
 * pooled connections are kept per proxy.
 * Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_client_set_proxy(eddy_client *client, const char *host, int port);

/* Returns the number of idle pooled connections (all origins). */
EDDY_API size_t eddy_client_idle_count(const eddy_client *client);

/* ==== requests ============================================================================== */

/* Makes a request for `method` ("GET", "POST", ...) and `url` ("http://host[:port]/path?q",
 * "https://[::1]:8443/"). The URL is checked by eddy_fetch_start(): a host RFC 3986 does not
 * allow is refused (EDDY_EINVAL, also for a redirect's Location), and bytes beyond ASCII in the
 * path or query are sent percent-encoded, as browsers do. Credentials in it
 * ("http://user:pass@host/", percent-encoded) are sent as basic authentication unless an
 * Authorization header was added, and never as part of a URL (the effective URL and log lines
 * leave them out); a redirect keeps them within the same origin (as curl does). The handle is
 * yours until started (free it with eddy_fetch_free() if you do not start it). Once the
 * client's loop was freed, or while eddy_client_free() runs (a `done` it called),
 * eddy_fetch_start() refuses it with EDDY_ESTATE.
 * Returns NULL on bad arguments or out of memory. */
EDDY_API eddy_fetch *eddy_fetch_new(eddy_client *client, const char *method, const char *url);

/* Frees a request that was never started. Started requests are freed by eddy after `done`. */
EDDY_API void eddy_fetch_free(eddy_fetch *fetch);

/* Adds a request header (copied; EDDY_NTS lengths allowed). Content-Length and
 * Transfer-Encoding are set by eddy. A Host header replaces the URL's authority in the request
 * sent for the URL as given (as Tornado's client); after a redirect, the Location's is sent.
 * Returns 0, EDDY_EINVAL (a control character in the value, or a bad name), EDDY_ESTATE
 * (already started) or EDDY_ENOMEM (not stored: the request will not go without it,
 * eddy_fetch_start() refuses it with EDDY_ENOMEM). */
EDDY_API int eddy_fetch_add_header(eddy_fetch *fetch, const char *name, size_t name_len,
                                   const char *value, size_t value_len);

/* Sets the request body (copied). Returns 0, EDDY_EINVAL, EDDY_ESTATE or EDDY_ENOMEM (not
 * stored: eddy_fetch_start() refuses the request with EDDY_ENOMEM). */
EDDY_API int eddy_fetch_set_body(eddy_fetch *fetch, const void *data, size_t len);

/* Announces a streamed body: `length` bytes (or -1: unknown, sent chunked) given later with
 * eddy_fetch_write_body() and ended with eddy_fetch_end_body(). Redirects that would resend
 * the body are not followed. Returns 0, EDDY_EINVAL or EDDY_ESTATE. */
EDDY_API int eddy_fetch_set_body_stream(eddy_fetch *fetch, int64_t length);

/* Appends to a streamed body (copied; buffered until the connection takes it, without limit:
 * pace the writes with eddy_fetch_flush_body() or eddy_fetch_body_buffered()). May be called
 * before or after eddy_fetch_start(), never after eddy_fetch_end_body().
 * Returns 0, EDDY_EINVAL, EDDY_ESTATE, EDDY_ETOOBIG (more than the announced length) or
 * EDDY_ENOMEM (the bytes were not taken and the body cannot be complete: a started request
 * ends with EDDY_ENOMEM, one not started yet is refused by eddy_fetch_start()). */
EDDY_API int eddy_fetch_write_body(eddy_fetch *fetch, const void *data, size_t len);

/* Ends a streamed body. Returns 0, EDDY_ESTATE, EDDY_EINVAL when fewer bytes than the
 * announced length were written, or EDDY_ENOMEM.
 * EDDY_EINVAL changes nothing: the body is still open and the fetch runs on, the server
 * waiting for the missing bytes. Write them and end the body again, or give up with
 * eddy_fetch_cancel(); left alone, the fetch ends only at its request or read timeout
 * (never without either). Tornado's client fails the request at once there; here, as for
 * every EDDY_EINVAL, the call had no effect and the caller decides. */
EDDY_API int eddy_fetch_end_body(eddy_fetch *fetch);

/* Backpressure for a streamed body (as eddy_request_flush() on the server side, Tornado's
 * body_producer awaiting write()): eddy_fetch_write_body() never refuses bytes, it keeps them
 * in memory until the connection takes them, so a writer faster than the server must wait.
 * `cb` runs once everything written with eddy_fetch_write_body() before this call (its chunk
 * framing included) was handed to the kernel, with status 0; write the next piece from there.
 * If the fetch ends first, it runs with the fetch's error (EDDY_ECANCELED, EDDY_ECONNRESET...)
 * or EDDY_ECLOSED when it ended without one (a response came before the body went: the rest
 * is not sent), before `done`. It never runs inside this call; callbacks run in the order
 * of their calls, with the fetch's userdata. Several may be pending. Callable after
 * eddy_fetch_end_body() (to learn that the whole body went), not inside or after `done`.
 * Thread: the loop's. Returns 0, EDDY_EINVAL (NULL fetch or `cb`), EDDY_ESTATE (not started,
 * no streamed body, or already done) or EDDY_ENOMEM (`cb` will not run). */
EDDY_API int eddy_fetch_flush_body(eddy_fetch *fetch, eddy_fetch_flush_fn cb);

/* Returns the bytes of a streamed request written but not yet handed to the kernel: the body
 * eddy_fetch_write_body() took, its chunk framing, and the part of the request head the
 * connection has not taken yet; for a writer that polls instead of using
 * eddy_fetch_flush_body(). 0 for NULL, for a fetch with no streamed body, and once it ended.
 * Thread: the loop's. */
EDDY_API size_t eddy_fetch_body_buffered(const eddy_fetch *fetch);

/* Seconds to get a connection (queue wait, name lookup, connect, TLS handshake); default 20,
 * <= 0 for none. A redirect that needs a new connection, and the one retry on a new
 * connection (see Reuse above), get as long again. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_fetch_set_connect_timeout(eddy_fetch *fetch, double seconds);

/* Seconds for the whole request from eddy_fetch_start() to the end of the response; default
 * 20, <= 0 for none (then only the read timeout, if set, bounds a response: a long download
 * through a proxy). It keeps running while the body is paused. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_fetch_set_request_timeout(eddy_fetch *fetch, double seconds);

/* Seconds the server may stay silent once the request went out (nginx's proxy_read_timeout):
 * the longest eddy waits for response bytes, counted from the request's head being handed over
 * (after the TLS handshake) and again after each read's bytes were handled (a slow chunk
 * callback is not the server's time). It does not count while the request is still being
 * taken by the server (a body going out, the wait for 100 Continue) or while the application
 * writes a streamed body, nor while the body is paused (eddy_fetch_pause_body: the consumer is
 * slow, not the server). Over it the fetch ends with EDDY_ETIMEDOUT, eddy_fetch_error_detail saying
 * "no data from the server for N s". Default <= 0: none (the request timeout alone). May be
 * changed while the fetch runs: it applies from the next read.
 * Thread: the loop's. Returns 0 or EDDY_EINVAL (NULL, NaN). */
EDDY_API int eddy_fetch_set_read_timeout(eddy_fetch *fetch, double seconds);

/* Follows at most `max` redirects (default 5; 0: none). After `max` the last redirect response
 * is delivered as it is. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_fetch_set_max_redirects(eddy_fetch *fetch, int max);

/* Largest response body accepted, after decoding (default 100 MiB); more ends the request with
 * EDDY_ETOOBIG. Also bounds the response head (64 KiB). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_fetch_set_max_body_size(eddy_fetch *fetch, size_t bytes);

/* Non-zero (default): ask for gzip and decode it. A decoded response's Content-Encoding field
 * is renamed X-Consumed-Content-Encoding (as Tornado does), so the headers describe the body
 * the callbacks get. Only a body coded once, with gzip ("gzip" or "x-gzip"), is decoded; one
 * with other or several codings (one list over all Content-Encoding lines) is delivered as it
 * came, with its field. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_fetch_set_decompress(eddy_fetch *fetch, int on);

/* Non-zero: send "Expect: 100-continue" and the body only after the server's 100 (or after one
 * second without an answer). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_fetch_set_expect_continue(eddy_fetch *fetch, int on);

/* Connects to `host` (a name or an address; IPv6 with or without brackets) and `port` (0: the
 * URL's) instead of the URL's host and port, while the request still names the URL: its Host
 * field, request target, TLS server name and certificate check are the URL's (curl's
 * --connect-to, Tornado's hostname_mapping). It applies to the URL's origin only: a redirect to
 * another origin connects there. Pooled connections are kept apart from direct ones. `host`
 * NULL removes it. Not with a client proxy: eddy_fetch_start() then returns EDDY_EINVAL.
 * Returns 0, EDDY_EINVAL (bad host or port), EDDY_ESTATE (already started) or EDDY_ENOMEM
 * (not stored: eddy_fetch_start() refuses the request with EDDY_ENOMEM). */
EDDY_API int eddy_fetch_set_connect_to(eddy_fetch *fetch, const char *host, int port);

/* Connects to the Unix-domain stream socket at `path` (copied; "@name": a Linux abstract
 * socket, as eddy_listener_bind_unix names one) instead of the URL's host and port, as curl's
 * --unix-socket: the URL still gives the scheme, the Host field and the request target
 * ("http://localhost/v1.43/info" for the Docker API at /var/run/docker.sock). https:// runs
 * TLS over the socket, the server name (SNI) and the certificate check being the URL's host.
 * It applies to the URL's origin (scheme, host, port) only, as eddy_fetch_set_connect_to: a
 * redirect within it stays on the socket, one to another origin connects there over TCP
 * (curl keeps the socket for every redirect). The client's proxy is not used for it (the
 * socket is local; as curl, the proxy is ignored, not refused). Pooled connections are kept
 * per socket path, apart from TCP ones to the same origin, and reused as those are. Failures
 * reach `done` as a connect's: EDDY_ENOENT (no such file), EDDY_EACCES (no permission),
 * EDDY_ECONNREFUSED (nobody listens there, the file is not a socket, or the server's listen
 * queue is full: Linux fails that connect at once, where TCP would wait), with
 * eddy_fetch_error_detail naming the socket ("connect to unix:/run/app.sock: No such file or
 * directory"). `path` NULL removes it. Not with eddy_fetch_set_connect_to: eddy_fetch_start()
 * then returns EDDY_EINVAL. Thread: the loop's (before the fetch starts).
 * Returns 0, EDDY_EINVAL (NULL fetch, an empty path, one longer than sun_path holds: 107 bytes,
 * 108 for "@name"), EDDY_ESTATE (already started) or EDDY_ENOMEM (not stored:
 * eddy_fetch_start() refuses the request with EDDY_ENOMEM). */
EDDY_API int eddy_fetch_set_unix_socket(eddy_fetch *fetch, const char *path);

/* Sets the optional headers and chunk callbacks (NULL: none). Returns 0 or EDDY_ESTATE. */
EDDY_API int eddy_fetch_set_callbacks(eddy_fetch *fetch, eddy_fetch_headers_fn on_headers,
                                      eddy_fetch_chunk_fn on_chunk);

/* Starts the request. `done` is called exactly once, never inside this call; the userdata is
 * shared by all the request's callbacks and released after `done`; memory running out later
 * ends the request there with EDDY_ENOMEM.
 * Returns 0, or EDDY_EINVAL / EDDY_ESTATE / EDDY_ENOMEM (then nothing is called, the handle
 * stays yours and the caller keeps userdata). EDDY_EINVAL also for a body on a TRACE (RFC 9110
 * §9.3.8), for a Host header that is no host (§7.2) and for the method CONNECT (a fetch cannot
 * be a tunnel, §9.3.6: eddy_client_set_proxy() makes those for https). EDDY_ENOMEM also when a
 * header, the body, the connect_to address or the Unix socket path given earlier could not be
 * stored (their setter returned EDDY_ENOMEM): such a request is never sent; free it. */
EDDY_API int eddy_fetch_start(eddy_fetch *fetch, eddy_fetch_done_fn done, void *userdata,
                              eddy_free_fn free_userdata);

/* Cancels a started request: `done` runs with EDDY_ECANCELED on the next loop iteration unless
 * it already ran or is running. A running request frees its slot at once: the next queued one
 * (max_clients) starts within this call, as eddy_fetch_start() starts one, and no callback of
 * it (nor of any request) runs inside the call: a connect that fails, a pooled connection, a
 * redirect all report from the loop. Returns 0, EDDY_ESTATE (not started or already done) or
 * EDDY_ENOMEM. */
EDDY_API int eddy_fetch_cancel(eddy_fetch *fetch);

/* Flow control for a streamed response body (a chunk callback is set), as
 * eddy_request_pause_body() on the server side: after eddy_fetch_pause_body() no chunk
 * callback runs and the connection is not read, so TCP stops the server once the socket
 * buffers are full. Callable from the chunk callback (the pieces after the current one are
 * held) or from anywhere on the loop's thread while the fetch runs (paused before the head
 * arrived, the head waits too). What was already read stays in memory, bounded by one read of
 * the socket (at most 256 KiB; with gzip decoding, the undecoded rest of one such read, and
 * at most one 16 KiB piece zlib keeps). Pausing a paused fetch does nothing.
 * While paused the read timeout does not run; the request timeout does (it bounds the whole
 * exchange: set it <= 0 to let a consumer stay paused indefinitely). A close by the server while
 * paused is reported after the held body is delivered; a connection error (a reset) at once.
 * Returns 0, EDDY_EINVAL (NULL) or EDDY_ESTATE: not started, no chunk callback (the body is
 * collected: nothing to pause), or already done (also inside `done`). */
EDDY_API int eddy_fetch_pause_body(eddy_fetch *fetch);

/* Resumes a paused body: the held pieces go to the chunk callback from the loop on a later
 * iteration, never inside this call (so it may be made from the chunk callback), then the
 * connection is read again and the read timeout restarts. Resuming a fetch not paused does
 * nothing. Returns 0, EDDY_EINVAL or EDDY_ESTATE (as eddy_fetch_pause_body). */
EDDY_API int eddy_fetch_resume_body(eddy_fetch *fetch);

/* ---- the response (valid in callbacks) ---------------------------------------------------- */

/* Returns the response status (0 when none arrived). */
EDDY_API int eddy_fetch_response_status(const eddy_fetch *fetch);

/* Returns the reason phrase (NUL-terminated; "" when none), its length in *len if not NULL. */
EDDY_API const char *eddy_fetch_response_reason(const eddy_fetch *fetch, size_t *len);

/* Returns the first value of response header `name` (case-insensitive, NUL-terminated) or NULL;
 * its length in *len if not NULL. */
EDDY_API const char *eddy_fetch_response_header(const eddy_fetch *fetch, const char *name,
                                                size_t *len);

/* Returns the number of response header lines. */
EDDY_API size_t eddy_fetch_response_header_count(const eddy_fetch *fetch);

/* Reads response header line `index` (name and value NUL-terminated; lengths optional).
 * Returns 0 or EDDY_ENOENT. */
EDDY_API int eddy_fetch_response_header_at(const eddy_fetch *fetch, size_t index, const char **name,
                                           size_t *name_len, const char **value, size_t *value_len);

/* Returns the body collected so far (empty when a chunk callback is set); its length in *len. */
EDDY_API const char *eddy_fetch_response_body(const eddy_fetch *fetch, size_t *len);

/* Returns what eddy knows of the error `done` got beyond its code (NUL-terminated; "" when
 * nothing): for EDDY_ETLS, why the handshake or the certificate check failed ("certificate
 * verification: certificate has expired", "...: hostname mismatch", a TLS alert); for a failed
 * connect, the address and the system's reason ("connect to 127.0.0.1:9: Connection refused")
 * or the resolver's ("name resolution: HOST: Name or service not known"); for a proxy that
 * refused the tunnel, its status line ("the proxy refused the tunnel: HTTP/1.1 407 Proxy
 * Authentication Required"); for EDDY_ETIMEDOUT
 * which timeout ended it ("no connection within 20 s", "no complete response within 20 s",
 * "no data from the server for 60 s" for the read timeout, or "still queued after 20 s
 * (max_clients 10 fetches running)" for a fetch that never left the client's queue).
 * The wording is for people and logs: test the code, not the text. Valid, as the other getters
 * here, until `done` returns; its length in *len if not NULL. */
EDDY_API const char *eddy_fetch_error_detail(const eddy_fetch *fetch, size_t *len);

/* Returns the URL of the last request made (after redirects), NUL-terminated. */
EDDY_API const char *eddy_fetch_effective_url(const eddy_fetch *fetch, size_t *len);

/* Returns how many redirects were followed. */
EDDY_API int eddy_fetch_redirect_count(const eddy_fetch *fetch);

/* Returns 1 when the last request went over a pooled (reused) connection, else 0. */
EDDY_API int eddy_fetch_connection_reused(const eddy_fetch *fetch);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_CLIENT_H */
