/* eddy — TLS (OpenSSL): contexts for HTTPS servers and TLS clients.
 *
 * A context holds certificates, keys, trusted CAs and options. Configure it, then hand it to a
 * server (eddy_server_set_tls) or a client (eddy_client_set_tls, eddy_connect_tls); they keep
 * their own reference, so you may free yours right after. TLS 1.2 and 1.3 are enabled, ALPN
 * offers "http/1.1", session resumption (tickets and a server-side cache) is on.
 *
 * Thread: configure a context on one thread before it is used; a configured context may then be
 * shared by servers and clients on several loops (reference counts and the client session
 * store are thread-safe). Nothing here blocks except loading files.
 */
#ifndef EDDY_TLS_H
#define EDDY_TLS_H

#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_tls_context eddy_tls_context;

/* Peer verification modes for eddy_tls_context_set_verify(). */
#define EDDY_TLS_VERIFY_NONE 0     /* do not ask for or check the peer's certificate */
#define EDDY_TLS_VERIFY_OPTIONAL 1 /* server: ask for a client certificate, check it if sent */
#define EDDY_TLS_VERIFY_REQUIRED 2 /* check the peer's certificate; fail the handshake without */

/* Protocol versions for eddy_tls_context_set_min_version(). */
#define EDDY_TLS_1_2 0x0303
#define EDDY_TLS_1_3 0x0304

/* Picks the context for a server name sent by a client (SNI). Return `ctx` (or NULL) to keep
 * the default context, or another server context (borrowed: it must stay alive until the
 * callback returns; the connection takes its own reference). `server_name` is NUL-terminated
 * and valid during the call. Runs on the thread of the loop that accepted the connection.
 * The picked context gives the connection its certificate, its verification mode and its ALPN
 * list; the protocol versions, session tickets and handshake timeout stay the default
 * context's (OpenSSL has settled them before the callback runs). Sessions are resumed only
 * under the context, and (TLS 1.3) the name, they were made for; so connections whose name
 * picks another context than the default make full handshakes. The server also asks it, for a
 * request whose Host is not the SNI name, which context that host would get (another one:
 * 421, see eddy_request_tls_server_name): keep it a lookup without side effects. */
typedef eddy_tls_context *(*eddy_tls_sni_fn)(eddy_tls_context *ctx, const char *server_name,
                                             void *userdata);

/* Creates a server context (no certificate yet: load one before serving).
 * Returns NULL when OpenSSL refuses or out of memory. Free with eddy_tls_context_free(). */
EDDY_API eddy_tls_context *eddy_tls_context_new_server(void);

/* Creates a client context that verifies the server's certificate against the system's
 * trusted CAs and its host name (EDDY_TLS_VERIFY_REQUIRED). Returns NULL on failure. */
EDDY_API eddy_tls_context *eddy_tls_context_new_client(void);

/* Drops the caller's reference; the context goes when its last user (server, client,
 * connection) is done. NULL is ignored. Thread: any. */
EDDY_API void eddy_tls_context_free(eddy_tls_context *ctx);

/* Loads a PEM certificate chain (leaf first) and its private key from files. A server context
 * may load one RSA and one ECDSA pair. Blocks on file I/O.
 * Returns 0, EDDY_EINVAL (NULL argument, unreadable file, bad PEM, key not matching the
 * certificate; the log says which) or EDDY_ENOMEM. */
EDDY_API int eddy_tls_context_load_cert_file(eddy_tls_context *ctx, const char *cert_path,
                                             const char *key_path);

/* As eddy_tls_context_load_cert_file() from PEM text in memory (copied; lengths may be
 * EDDY_NTS for NUL-terminated text). Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_tls_context_load_cert_mem(eddy_tls_context *ctx, const char *cert_pem,
                                            size_t cert_len, const char *key_pem, size_t key_len);

/* Adds trusted CA certificates from a PEM file (clients: in addition to the system's; servers:
 * for client certificates, and their names to those the server sends when it asks for one).
 * Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_tls_context_load_ca_file(eddy_tls_context *ctx, const char *path);

/* As eddy_tls_context_load_ca_file() from PEM text in memory (length may be EDDY_NTS).
 * Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_tls_context_load_ca_mem(eddy_tls_context *ctx, const char *pem, size_t len);

/* Sets peer verification: EDDY_TLS_VERIFY_NONE, _OPTIONAL (servers only) or _REQUIRED.
 * Client default REQUIRED (certificate chain and host name); server default NONE. A server with
 * OPTIONAL or REQUIRED asks clients for a certificate signed by the CAs loaded with
 * eddy_tls_context_load_ca_*; eddy_request_tls_peer_certificate() tells a request which one its
 * client presented (none is possible with OPTIONAL). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_verify(eddy_tls_context *ctx, int mode);

/* Sets the ALPN protocols, most preferred first (e.g. {"http/1.1"}; a client of another
 * protocol may offer {"h2", "http/1.1"}, but an eddy HTTP server speaks HTTP/1.1 only: list no
 * other protocol on its context); names of 1-255 bytes. A server picks the first of its list
 * the client offers; when the client offers ALPN and none of its names is on the list, the
 * handshake fails with the no_application_protocol alert (RFC 7301 §3.2; a client that offers
 * no ALPN at all is served). A client offers them. count 0 turns ALPN off (a server then
 * ignores what clients offer). Default {"http/1.1"}.
 * Returns 0, EDDY_EINVAL (a name of 0 or over 255 bytes, more than fit ALPN's 65,535-byte
 * list: over 32,767 names) or EDDY_ENOMEM. */
EDDY_API int eddy_tls_context_set_alpn(eddy_tls_context *ctx, const char *const *protocols,
                                       size_t count);

/* Sets the lowest protocol version accepted: EDDY_TLS_1_2 (default) or EDDY_TLS_1_3.
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_min_version(eddy_tls_context *ctx, int version);

/* Server: enables (default) or disables session tickets; the server-side session cache stays
 * on either way. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_session_tickets(eddy_tls_context *ctx, int enabled);

/* Seconds a connection may spend in the TLS handshake before it is closed (default 10; <= 0
 * means no limit). A pending handshake holds ~10-45 KB: a public server also sets
 * eddy_server_set_max_connections(). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_handshake_timeout(eddy_tls_context *ctx, double seconds);

/* Server: sets the SNI callback that picks a context per server name (replacing any previous
 * one, whose userdata is released). Userdata: released through `free_userdata` when replaced
 * or when the context is freed. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_sni_callback(eddy_tls_context *ctx, eddy_tls_sni_fn cb,
                                               void *userdata, eddy_free_fn free_userdata);

/* Serves HTTPS: every connection the server accepts from now on speaks TLS with `ctx` (a
 * server context with a certificate; the server keeps a reference). NULL turns TLS off for
 * later connections. Requests on TLS connections report the scheme "https". Handshake
 * failures (including plain HTTP sent to the port) are logged and close only that connection;
 * so is a peer that floods post-handshake messages (TLS 1.3 KeyUpdates, renegotiation
 * attempts: 32 at once, then one per 10 s). Returns 0, EDDY_EINVAL (not a server context, or
 * no certificate with its matching key loaded). With eddy_server_set_proxy_protocol on, each
 * connection's PROXY header is read before its handshake. */
EDDY_API int eddy_server_set_tls(eddy_server *server, eddy_tls_context *ctx);

/* Serves TLS on a raw TCP listener (Tornado's TCPServer(ssl_options=...)): every connection
 * `listener` accepts from now on is a server TLS stream with `ctx` (eddy_stream_is_tls() is 1).
 * The accept callback gets the stream at once; its handshake is under way, and reads and writes
 * issued before it completes wait for it. A failed or timed-out handshake (the context's
 * handshake timeout) is logged and closes the stream with EDDY_ETLS or EDDY_ETIMEDOUT, which its
 * close callback reports. The listener keeps its own reference to `ctx` (free yours when you
 * like); NULL serves plain TCP again. Connections already accepted keep what they had.
 * Returns 0, or EDDY_EINVAL (NULL listener; `ctx` not a server context with a certificate and
 * its matching key). Thread: the listener's loop. */
EDDY_API int eddy_listener_set_tls(eddy_listener *listener, eddy_tls_context *ctx);

/* Connects like eddy_connect() and then performs a TLS handshake with `ctx` (a client context;
 * the connection keeps a reference). `server_name` (NULL: `host`) is sent as SNI (unless it is
 * an IP address) and checked against the certificate when the context verifies. `cb` gets the
 * stream once connected; the handshake completes before the first bytes are delivered. A
 * failing handshake closes the stream with EDDY_ETLS (the close callback reports it).
 * Returns 0 or EDDY_EINVAL / EDDY_ENOMEM (then `cb` is never called and the caller keeps
 * userdata). Thread: the loop's. */
EDDY_API int eddy_connect_tls(eddy_loop *loop, const char *host, int port, double timeout,
                              eddy_tls_context *ctx, const char *server_name, eddy_connect_fn cb,
                              void *userdata, eddy_free_fn free_userdata);

/* Returns 1 when `stream` speaks TLS, else 0. */
EDDY_API int eddy_stream_is_tls(const eddy_stream *stream);

/* Returns the ALPN protocol agreed on `stream` (NUL-terminated, valid while the stream lives)
 * or "" when none (or not TLS, or the handshake is not done). */
EDDY_API const char *eddy_stream_tls_alpn(const eddy_stream *stream);

/* Returns the server name the client sent (SNI) in the handshake of a server-side `stream`, or
 * the name a client-side stream asked for; NUL-terminated, valid while the stream lives. NULL
 * when none was sent, or not TLS. Thread: the stream's loop. */
EDDY_API const char *eddy_stream_tls_server_name(const eddy_stream *stream);

/* Copies the peer's certificate (DER; parse it with OpenSSL's d2i_X509) into `buf`. `*len` is
 * the room in `buf` on entry and the certificate's size on return. On a server stream the peer
 * is the client: it presents one only when its context asks (EDDY_TLS_VERIFY_OPTIONAL or
 * REQUIRED), and a presented one has passed verification (else the handshake failed). Returns
 * 0, EDDY_ETOOBIG (`buf` NULL or too small: nothing copied, `*len` says how much is needed),
 * EDDY_ENOENT (no certificate, or not TLS), EDDY_EINVAL (NULL stream or len). Thread: the
 * stream's loop. */
EDDY_API int eddy_stream_tls_peer_certificate(const eddy_stream *stream, unsigned char *buf,
                                              size_t *len);

/* eddy_stream_tls_server_name() for the connection `req` arrived on: NULL also once that
 * connection is gone (or for a NULL req). A server answers 421 (Misdirected Request) by itself
 * to a request for a host other than the SNI name unless the certificate in use covers that
 * host and the SNI callback would pick the same context for it (RFC 9110 §7.4). Thread: the
 * request's loop. */
EDDY_API const char *eddy_request_tls_server_name(const eddy_request *req);
/* eddy_stream_tls_peer_certificate() for the connection `req` arrived on: the certificate its
 * client presented (DER, copied into `buf`; `*len` in: room, out: size). Returns 0,
 * EDDY_ETOOBIG (`*len` says how much is needed), EDDY_ENOENT (none presented, or not TLS),
 * EDDY_ECLOSED (the connection is gone), EDDY_EINVAL (NULL req or len). Thread: the request's
 * loop. */
EDDY_API int eddy_request_tls_peer_certificate(const eddy_request *req, unsigned char *buf,
                                               size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_TLS_H */
