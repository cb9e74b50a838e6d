/* eddy — WebSocket (RFC 6455) with permessage-deflate (RFC 7692): Tornado's WebSocketHandler
 * and websocket_connect.
 *
 * Server: a route of an eddy_app becomes a WebSocket endpoint with eddy_route_set_websocket().
 * The route's prepare and set_default_headers still run first (headers they set go into the
 * 101 response; a prepare that finishes the response refuses the upgrade), then the handshake
 * is checked (Upgrade/Connection tokens, Sec-WebSocket-Key → 400, Sec-WebSocket-Version other
 * than 13 → 426, origin → 403), the subprotocol and compression are negotiated, and `open`
 * runs. Callbacks of a route get the route's userdata.
 *
 * Client: eddy_websocket_connect() opens a ws:// URL from the loop. Its callbacks get the
 * userdata given to it.
 *
 * Both sides then share one eddy_ws API: whole messages after reassembly (and decompression)
 * arrive in `on_message`; eddy_ws_write_message(), eddy_ws_ping(), eddy_ws_close() send.
 *
 * Lifetime of an eddy_ws: valid from `open` (server) or the successful connect callback
 * (client) until its close callback has returned; the close callback runs exactly once per
 * opened connection (except when the loop or the application is freed first: then no callback
 * runs, and userdata is still released; a loop freed first releases a server connection's
 * handshake handler as well, its userdata through its free function, without on_finish or
 * on_connection_close: eddy_loop_free). An application or a loop freed while WebSocket
 * connections are open (server or client side) sends each a close frame with 1001 (Going Away)
 * after what was queued for it, as far as the socket takes it at once, and closes it without
 * waiting for the peer's answer.
 * Once closing has begun (eddy_ws_close(), a protocol error, the peer's close, a lost
 * connection) and inside the close callback, sending calls return EDDY_ECLOSED. Do not use the
 * handle after the close callback returned.
 *
 * Thread: everything here runs on the thread of the loop the connection belongs to.
 */
#ifndef EDDY_WEBSOCKET_H
#define EDDY_WEBSOCKET_H

#include "tls.h"
#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_ws eddy_ws;
typedef struct eddy_ws_options eddy_ws_options;

/* Close codes (RFC 6455 §7.4.1) reported to and accepted by the close functions. */
#define EDDY_WS_CLOSE_NORMAL 1000
#define EDDY_WS_CLOSE_GOING_AWAY 1001
#define EDDY_WS_CLOSE_PROTOCOL_ERROR 1002
#define EDDY_WS_CLOSE_NO_STATUS 1005     /* the peer's close frame carried no code */
#define EDDY_WS_CLOSE_ABNORMAL 1006      /* the TCP connection went without a close frame */
#define EDDY_WS_CLOSE_INVALID_DATA 1007
#define EDDY_WS_CLOSE_TOO_BIG 1009

/* Flags for eddy_ws_options_set_compression(). */
#define EDDY_WS_DEFLATE 0x1                      /* offer (client) / accept (server) compression */
#define EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER 0x2   /* the server resets its compressor per message */
#define EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER 0x4   /* the client resets its compressor per message */

/* open: the connection is established (server side, after the 101 was queued). */
typedef void (*eddy_ws_open_fn)(eddy_ws *ws, void *userdata);
/* on_message: a whole message; `binary` is 0 for text (valid UTF-8) and 1 for binary. `data`
 * is valid until the callback returns (NUL-terminated for convenience). */
typedef void (*eddy_ws_message_fn)(eddy_ws *ws, const char *data, size_t len, int binary,
                                   void *userdata);
/* on_close: the connection is closed. `code` and `reason` are the peer's close frame, the code
 * eddy closed with after a protocol violation (1011: out of memory), or 1006 when the TCP
 * connection was lost. */
typedef void (*eddy_ws_close_fn)(eddy_ws *ws, int code, const char *reason, size_t reason_len,
                                 void *userdata);
/* on_pong / on_ping: a pong (or a ping) arrived with this payload; `data` is valid until the
 * callback returns. */
typedef void (*eddy_ws_pong_fn)(eddy_ws *ws, const char *data, size_t len, void *userdata);
/* Write completion: status 0 once the message was handed to the kernel, EDDY_ECLOSED when the
 * connection closed first. */
typedef void (*eddy_ws_write_fn)(eddy_ws *ws, int status, void *userdata);
/* Backpressure: the write buffer dropped to the mark (eddy_ws_set_write_mark). */
typedef void (*eddy_ws_drain_fn)(eddy_ws *ws, void *userdata);
/* check_origin: return non-zero to accept the handshake's Origin (`origin` is NULL when the
 * request had none). The handler gives access to the request (Host, cookies, ...). */
typedef int (*eddy_ws_check_origin_fn)(eddy_handler *handler, const char *origin,
                                       size_t origin_len, void *userdata);
/* select_subprotocol: pick one of the client's `count` offered subprotocols by returning its
 * index, or -1 for none. Only called when the client offered at least one. */
typedef int (*eddy_ws_select_subprotocol_fn)(eddy_handler *handler,
                                             const char *const *protocols, const size_t *lens,
                                             size_t count, void *userdata);
/* Client handshake refused: the server answered with HTTP `status` (not 101) and this reason
 * phrase (NUL-terminated, `reason_len` bytes; valid until the callback returns). There is no
 * connection handle: `userdata` is the connect's. */
typedef void (*eddy_ws_refused_fn)(int status, const char *reason, size_t reason_len,
                                   void *userdata);
/* Client connect result: status 0 and the new connection, or a negative EDDY_E* code and NULL
 * (EDDY_EPROTO: the server refused or broke the handshake; EDDY_ENOMEM). During a failed one,
 * eddy_websocket_connect_error_detail() says why. */
typedef void (*eddy_ws_connect_fn)(eddy_ws *ws, int status, void *userdata);

/* ==== options (server routes and clients) =================================================== */

/* Creates an options object with the defaults: max message size 10 MiB, no compression, no
 * keep-alive pings, close timeout 5 s, connect timeout 20 s. Free it with
 * eddy_ws_options_free(); routes and connects copy what they need. NULL when out of memory. */
EDDY_API eddy_ws_options *eddy_ws_options_new(void);

/* Frees an options object. NULL does nothing. */
EDDY_API void eddy_ws_options_free(eddy_ws_options *options);

/* Largest message accepted, counted after decompression; bigger ones close the connection
 * with 1009. Returns 0 or EDDY_EINVAL (0 bytes). */
EDDY_API int eddy_ws_options_set_max_message_size(eddy_ws_options *options, size_t bytes);

/* Most bytes of messages being received held at once over every connection made with these
 * options (a route's sessions, or the clients connected with them), default 1 GiB; 0 means no
 * limit. A message whose bytes would go over closes its connection with 1013 (Try Again
 * Later, IANA's registry), with a warning logged. Without it, peers that each send most of a
 * large message and stall could take the process's memory (max_message_size bounds one
 * message, not how many are held). The count is shared by copies of the options: a route or
 * client connect that takes them shares this object's count. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_max_message_memory(eddy_ws_options *options, size_t bytes);

/* Backpressure: while more than `bytes` of this connection's output waits to be sent, eddy
 * reads no further frames from the peer; TCP flow control then holds it back, and reading
 * resumes once everything queued has been sent. This bounds what a peer that sends but does
 * not read (echoes it never collects, a flood of pings) makes the server queue. Default 4 MiB;
 * 0 turns the bound off (Tornado's behaviour: output queues without limit). An application
 * that deliberately keeps more than this queued for a slow peer (see eddy_ws_set_write_mark)
 * reads that peer's messages only as its output drains. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_max_queued_output(eddy_ws_options *options, size_t bytes);

/* permessage-deflate: `flags` is 0 (off) or EDDY_WS_DEFLATE plus any *_NO_CONTEXT_TAKEOVER
 * flags; `max_window_bits` (8..15, 0 = 15) limits this side's compression window. A server
 * accepts the client's offer and adds these preferences; a client offers them.
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_compression(eddy_ws_options *options, int flags,
                                             int max_window_bits);
/* How this side compresses when permessage-deflate is on (Tornado's compression_options):
 * `level` is zlib's compression level, 0 (stored) to 9 (smallest), or -1 for the default (6, as
 * Tornado); `mem_level` is zlib's memLevel, 1 to 9, or 0 for the default (8). A compressor
 * holds about 2^(max_window_bits+2) + 2^(mem_level+9) bytes while context takeover keeps it
 * (256 KiB with the defaults): a lower mem_level and window trade ratio for memory per
 * connection. Not negotiated: the peer's messages are inflated whatever it used.
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_compression_level(eddy_ws_options *options, int level,
                                                   int mem_level);

/* Keep-alive: every `interval` seconds (0 = off) a ping is sent; when no pong arrives within
 * `timeout` seconds after it (0 = the interval) the TCP connection is dropped (close code 1006).
 * Returns 0 or EDDY_EINVAL (negative values). */
EDDY_API int eddy_ws_options_set_ping(eddy_ws_options *options, double interval, double timeout);

/* How long to wait for the peer's close frame (and, on the client, for the server to close
 * TCP) after a close was sent, before the TCP connection is dropped. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_close_timeout(eddy_ws_options *options, double seconds);

/* Client: how long the TCP connect plus the handshake may take. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_connect_timeout(eddy_ws_options *options, double seconds);

/* Client: connects to the Unix-domain stream socket at `path` (copied; "@name": a Linux abstract
 * socket, as eddy_listener_bind_unix names one) instead of the URL's host and port, as
 * eddy_fetch_set_unix_socket does for a fetch: the URL still gives the scheme, the Host field
 * and the request target ("ws://localhost/socket"). wss:// runs TLS over the socket, the server
 * name (SNI) and the certificate check being the URL's host. The connect timeout applies as
 * over TCP. Failures reach `on_connect` as a connect's: EDDY_ENOENT (no such file), EDDY_EACCES
 * (no permission), EDDY_ECONNREFUSED (nobody listens there, the file is not a socket, or the
 * server's listen queue is full), with eddy_websocket_connect_error_detail() naming the socket
 * ("connect to unix:/run/app.sock: No such file or directory"). Server routes ignore it. `path`
 * NULL removes it (the URL's host and port again). Thread: any, one at a time, as every option.
 * Returns 0, EDDY_EINVAL (NULL options, an empty path, one longer than sun_path holds: 107
 * bytes, 108 for "@name") or EDDY_ENOMEM (the option is unchanged then). */
EDDY_API int eddy_ws_options_set_unix_socket(eddy_ws_options *options, const char *path);

/* Client: the TLS context for wss:// URLs (a client context from eddy/tls.h; the options keep a
 * reference, so the caller may free its own). Without one, wss:// uses a default client context:
 * the system's CA store, certificate and host-name verification required. NULL restores the
 * default. Returns 0 or EDDY_EINVAL (a server context). */
EDDY_API int eddy_ws_options_set_tls(eddy_ws_options *options, eddy_tls_context *ctx);

/* Sets the on_pong callback (server routes and clients). NULL removes it. Returns 0 or
 * EDDY_EINVAL. */
EDDY_API int eddy_ws_options_set_on_pong(eddy_ws_options *options, eddy_ws_pong_fn cb);

/* Sets the on_ping callback (server routes and clients): called with the ping's payload (0 to
 * 125 bytes) after eddy has queued the automatic pong, while the connection is open (a ping
 * that arrives after closing began is neither answered nor reported). It gets the same
 * userdata as on_message. NULL removes it. Returns 0 or EDDY_EINVAL (NULL options). */
EDDY_API int eddy_ws_options_set_on_ping(eddy_ws_options *options, eddy_ws_pong_fn cb);

/* Client: sets the refusal callback, run once, just before `on_connect` reports EDDY_EPROTO,
 * when the server answered the opening handshake with an HTTP status other than 101 (403 from
 * an origin check, 404, a plain 200 page, ...). Not called for other handshake failures. NULL
 * removes it. Returns 0 or EDDY_EINVAL (NULL options). */
EDDY_API int eddy_ws_options_set_on_refused(eddy_ws_options *options, eddy_ws_refused_fn cb);

/* Client: offers subprotocol `name` (a token), in the order added. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_ws_options_add_subprotocol(eddy_ws_options *options, const char *name,
                                             size_t len);

/* Client: adds a header to the handshake request (e.g. Origin, Cookie, Authorization). A Host
 * replaces the URL's authority in the request (the last one given wins). The handshake's own
 * fields (Upgrade, Connection, Sec-WebSocket-Key/-Version/-Protocol/-Extensions) and
 * Content-Length / Transfer-Encoding are refused: eddy sends them (subprotocols and deflate
 * have their setters). Returns 0 or EDDY_EINVAL (bad name, a control character other than tab
 * in the value, a reserved name, a Host that is no host) or EDDY_ENOMEM. */
EDDY_API int eddy_ws_options_add_header(eddy_ws_options *options, const char *name,
                                        size_t name_len, const char *value, size_t value_len);

/* ==== server routes ========================================================================= */

/* Makes `route` a WebSocket endpoint: GET requests are upgraded, and `open`, `on_message` and
 * `on_close` (each may be NULL) run with the route's userdata. `options` (may be NULL for the
 * defaults) is copied. Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_route_set_websocket(eddy_route *route, eddy_ws_open_fn open,
                                      eddy_ws_message_fn on_message, eddy_ws_close_fn on_close,
                                      const eddy_ws_options *options);

/* Replaces the origin check (the default accepts a missing Origin and an Origin whose host[:port]
 * equals the Host header, case-insensitively). Rejected handshakes get 403. NULL restores the
 * default. Returns 0 or EDDY_EINVAL (not a WebSocket route). */
EDDY_API int eddy_route_set_ws_check_origin(eddy_route *route, eddy_ws_check_origin_fn cb);

/* Sets the subprotocol selection (without one, no subprotocol is chosen). Returns 0 or
 * EDDY_EINVAL (not a WebSocket route). */
EDDY_API int eddy_route_set_ws_select_subprotocol(eddy_route *route,
                                                  eddy_ws_select_subprotocol_fn cb);

/* ==== client ================================================================================ */

/* Connects to `url` ("ws://host[:port][/path][?query]", or "wss://" for WebSocket over TLS:
 * port 443 by default, SNI and verification against the URL's host with the options' TLS context
 * — see eddy_ws_options_set_tls) and runs the opening handshake. DNS is resolved off the loop.
 * Credentials in the URL ("ws://user:password@host/") are sent as "Authorization: Basic" (not
 * in the request target), unless the options' headers carry an Authorization of their own.
 * `on_connect` runs exactly once, later from the loop; after a
 * successful one `on_message` and `on_close` (may be NULL) follow. `options` may be NULL.
 * Userdata: released through `free_userdata` exactly once — after the close callback, or
 * after a failed `on_connect`, or when the loop is freed first.
 * Returns 0 (the callback will tell the outcome), EDDY_EINVAL (bad URL or arguments; userdata
 * stays the caller's), EDDY_ENOMEM. A TLS handshake or certificate failure is reported through
 * `on_connect` with EDDY_ETLS; eddy_websocket_connect_error_detail() tells why a connect
 * failed. */
EDDY_API int eddy_websocket_connect(eddy_loop *loop, const char *url, size_t url_len,
                                    const eddy_ws_options *options, eddy_ws_connect_fn on_connect,
                                    eddy_ws_message_fn on_message, eddy_ws_close_fn on_close,
                                    void *userdata, eddy_free_fn free_userdata);

/* Returns what eddy knows of the failure an `on_connect` of `loop` is reporting beyond its code
 * (NUL-terminated, never NULL; its length in *len if not NULL), the counterpart of
 * eddy_fetch_error_detail. Call it from inside a failed `on_connect` (status < 0) with the
 * loop given to eddy_websocket_connect(); the text is eddy's and stays valid until that
 * callback returns (copy it to keep it). It is "" (length 0) when eddy has nothing more to say
 * than the code (EDDY_ENOMEM), outside such a callback, for another loop, or for NULL.
 * Examples: for EDDY_ETLS the TLS stream's reason, in the words of eddy_fetch_error_detail
 * ("certificate verification: self-signed certificate", "...: hostname mismatch", a TLS
 * alert); "name resolution: HOST: Name or service not known" (EDDY_ERESOLVE); "connect to
 * 127.0.0.1:9: Connection refused"; "no connection to HOST:PORT within 20 s" or "no answer to
 * the WebSocket handshake within 20 s" (EDDY_ETIMEDOUT); for EDDY_EPROTO "the server answered
 * 403 Forbidden", "no Upgrade: websocket in the handshake response", "Sec-WebSocket-Accept does
 * not match the key sent". The wording is for people and logs, not a stable format: test the
 * code, not the text. Keyed by the loop because the callback has no other handle to ask with
 * (its connection is NULL). Thread: the loop's (the one running the callback). */
EDDY_API const char *eddy_websocket_connect_error_detail(const eddy_loop *loop, size_t *len);

/* ==== connections =========================================================================== */

/* Sends a text (`binary` 0; must be valid UTF-8, else EDDY_EINVAL) or binary message, compressed
 * when permessage-deflate was negotiated. `cb` (may be NULL) runs once it was handed to the
 * kernel or the connection closed. Returns 0, EDDY_EINVAL, EDDY_ECLOSED (cb is not called),
 * EDDY_ENOMEM (nothing was sent, cb is not called; the connection stays usable). */
EDDY_API int eddy_ws_write_message(eddy_ws *ws, const void *data, size_t len, int binary,
                                   eddy_ws_write_fn cb);

/* Sends a ping with up to 125 bytes of payload. Returns 0, EDDY_EINVAL (longer payload),
 * EDDY_ECLOSED, EDDY_ENOMEM (no ping sent). */
EDDY_API int eddy_ws_ping(eddy_ws *ws, const void *data, size_t len);

/* Starts the close handshake with `code` (1000-1003, 1007-1014, 3000-4999, or 0 for no
 * code) and a UTF-8 `reason` of at most 123 bytes. The close callback follows once the peer
 * answered, or after the close timeout. Returns 0, EDDY_EINVAL, EDDY_ECLOSED, EDDY_ENOMEM (no
 * memory for the close frame: the connection is dropped without one, the close callback
 * follows as for a peer that vanished). */
EDDY_API int eddy_ws_close(eddy_ws *ws, int code, const char *reason, size_t reason_len);

/* Bytes queued for sending and not yet handed to the kernel. 0 for NULL. */
EDDY_API size_t eddy_ws_write_buffer_size(const eddy_ws *ws);

/* Backpressure: `cb` runs each time the write buffer drops to `mark` bytes or fewer after it
 * held more; a producer pauses while eddy_ws_write_buffer_size() > mark. NULL removes it.
 * A connection in its close handshake still takes a mark (its queued output still drains).
 * Returns 0, EDDY_EINVAL, EDDY_ECLOSED (the connection has closed) or EDDY_ENOMEM (the mark
 * is not set). */
EDDY_API int eddy_ws_set_write_mark(eddy_ws *ws, size_t mark, eddy_ws_drain_fn cb);

/* Per-connection state, released through `free_userdata` when the connection is released
 * (after the close callback). Replacing it releases the previous one. */
EDDY_API void eddy_ws_set_userdata(eddy_ws *ws, void *userdata, eddy_free_fn free_userdata);

/* Returns the per-connection userdata (NULL when none). */
EDDY_API void *eddy_ws_get_userdata(const eddy_ws *ws);

/* The handshake's handler (request headers, path arguments, cookies) on the server side, valid
 * until the close callback returned; NULL on the client side. */
EDDY_API eddy_handler *eddy_ws_handler(eddy_ws *ws);

/* The negotiated subprotocol, NUL-terminated, "" when none; valid while the handle is. */
EDDY_API const char *eddy_ws_subprotocol(const eddy_ws *ws, size_t *len);

/* Returns 1 when permessage-deflate was negotiated, else 0. */
EDDY_API int eddy_ws_compressed(const eddy_ws *ws);

/* Returns 1 for a client connection, 0 for a server one. */
EDDY_API int eddy_ws_is_client(const eddy_ws *ws);

/* Returns 1 once closing has begun (the sending calls then give EDDY_ECLOSED), else 0. */
EDDY_API int eddy_ws_closing(const eddy_ws *ws);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_WEBSOCKET_H */
