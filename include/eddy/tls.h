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
 * and valid during the call, in lower case and without a final dot (as the client's SNI or a
 * request's Host named it). Runs on the thread of the loop that accepted the connection.
 * The picked context gives the connection its certificate, its verification mode and its ALPN
 * list; the protocol versions, session tickets and handshake timeout stay the default
 * context's (OpenSSL has settled them before the callback runs). Sessions are resumed only
 * under the context, and (TLS 1.3) the name, they were made for; so connections whose name
 * picks another context than the default make full handshakes. The server also asks it, for
 * each request's Host, which context that host would get (another one than the connection's:
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
 * means no limit; a server counts from the accept, whether the client sends or not). A server
 * connection makes its TLS state only when its client's first bytes arrive (one that sends
 * nothing costs ~1 KB, as a plain one does); a handshake under way holds ~10-45 KB: a public
 * server also sets eddy_server_set_max_connections(). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_handshake_timeout(eddy_tls_context *ctx, double seconds);

/* Server: sets the SNI callback that picks a context per server name (replacing any previous
 * one, whose userdata is released). Userdata: released through `free_userdata` when replaced
 * or when the context is freed. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_tls_context_set_sni_callback(eddy_tls_context *ctx, eddy_tls_sni_fn cb,
                                               void *userdata, eddy_free_fn free_userdata);

/* Serves HTTPS: every connection the server accepts from now on speaks TLS with `ctx` (a
 * server context with a certificate; the server keeps a reference). NULL turns TLS off for
 * later connections. Requests on TLS connections report the scheme "https". Handshake
 * failures are logged and close only that connection; a plain HTTP request sent to the port
 * (http:// typed for https://; any method, any text where the ClientHello was due) first gets
 * a plain-text "400 Bad Request" saying so, as from nginx; binary bytes that are not TLS get no
 * answer. A peer that floods post-handshake messages (TLS 1.3 KeyUpdates, renegotiation
 * attempts: 32 at once, then one per 10 s) is closed too. Returns 0, EDDY_EINVAL (not a server
 * context, or no certificate with its matching key loaded). With eddy_server_set_proxy_protocol on,
 * each connection's PROXY header is read before its handshake. */
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
 * failing handshake closes the stream with EDDY_ETLS (the close callback reports it). A
 * failed connect (`cb` with a NULL stream) says why through eddy_connect_error_detail() (net.h).
 * Returns 0 or EDDY_EINVAL (also for an empty name to verify with a verifying context: the
 * chain would be checked but not whose it is) / EDDY_ENOMEM (then `cb` is never called and the
 * caller keeps userdata). Thread: the loop's. */
EDDY_API int eddy_connect_tls(eddy_loop *loop, const char *host, int port, double timeout,
                              eddy_tls_context *ctx, const char *server_name, eddy_connect_fn cb,
                              void *userdata, eddy_free_fn free_userdata);

/* As eddy_connect_tls() with connect `options` (net.h: an address family, a local address to
 * bind; NULL: the defaults). The options are copied: the caller keeps them. Returns as
 * eddy_connect_tls(). Thread: the loop's. */
EDDY_API int eddy_connect_tls_with_options(eddy_loop *loop, const char *host, int port,
                                           double timeout, const eddy_connect_options *options,
                                           eddy_tls_context *ctx, const char *server_name,
                                           eddy_connect_fn cb, void *userdata,
                                           eddy_free_fn free_userdata);

/* The end of eddy_stream_start_tls(): `tls_stream` is the new TLS stream with its handshake
 * completed and `error` is 0; or `tls_stream` is NULL and `error` says why the upgrade failed
 * (the socket is then closed). From this call on the TLS stream is the receiver's, exactly as
 * one that eddy_connect_tls() delivered: it has no userdata and no close callback yet, and
 * closes as any stream does (eddy_stream_close, or the peer). */
typedef void (*eddy_start_tls_fn)(eddy_loop *loop, eddy_stream *tls_stream, int error,
                                  void *userdata);

/* Upgrades an established plain stream to TLS on the same connection (STARTTLS: SMTP, IMAP,
 * POP3, PostgreSQL's SSLRequest...; Tornado's IOStream.start_tls). Plaintext exchanged so far
 * stays plaintext; every byte after this call is TLS.
 *
 * `server_side` non-zero: this end is the TLS server and `ctx` must be a server context with a
 * certificate and its matching key (as eddy_listener_set_tls requires). Zero: this end is the
 * client, `ctx` a client context, and `server_hostname` is sent as SNI (unless an IP address)
 * and verified against the peer's certificate exactly as eddy_connect_tls() does; a context
 * that verifies (the default) needs it, one with EDDY_TLS_VERIFY_NONE may pass NULL. A server
 * ignores `server_hostname`. The TLS stream keeps its own reference to `ctx`.
 *
 * The stream must be idle, as Tornado requires: no read pending, nothing written that is not
 * yet sent (or whose callback has not run yet: call this from the write callback of your last
 * plaintext message, e.g. "220 Ready to start TLS"), and no unread input buffered. Input that
 * arrived after the command but before the upgrade is refused rather than dropped or fed to the
 * handshake: a well-behaved peer waits for the answer to its command, and plaintext taken for
 * TLS is how commands were injected into STARTTLS sessions (CVE-2011-0411). Note that a plain
 * stream with a close callback reads ahead while idle: upgrade from that write callback, or
 * remove the close callback first.
 *
 * On success (0) `stream` is consumed at once: the handle must not be used again, not even
 * closed. eddy releases it on a later loop iteration without calling its close callback, and
 * releases its userdata through its free function then (as Tornado's old IOStream is left
 * behind). The stream's max buffer size carries over to the TLS stream. `cb` runs once, on a
 * later iteration, when the handshake has completed (both sides: as Tornado's future, so that
 * nobody writes into, or reads from, a connection whose peer is not verified yet), or when it
 * failed: EDDY_ETLS (a handshake or certificate verification failure, a wrong host name, also
 * a peer that closed or reset the connection during the handshake), EDDY_ETIMEDOUT (the
 * context's handshake timeout, eddy_tls_context_set_handshake_timeout), EDDY_ECLOSED. Then
 * `free_userdata(userdata)` runs (also when the loop is freed first, without `cb`).
 *
 * Returns 0, or (then `stream` is unchanged, `cb` never runs and the caller keeps userdata):
 * EDDY_EINVAL (NULL stream, ctx or cb; a context of the wrong kind for `server_side`, or a
 * server context without a certificate and key; a verifying client context without
 * `server_hostname`), EDDY_ECLOSED (the stream is closed or closing), EDDY_ESTATE (the stream
 * already speaks TLS, or unread input is buffered), EDDY_EBUSY (a read is pending, or output
 * is not sent yet), EDDY_ENOMEM. Thread: the stream's loop. */
EDDY_API int eddy_stream_start_tls(eddy_stream *stream, eddy_tls_context *ctx, int server_side,
                                   const char *server_hostname, eddy_start_tls_fn cb,
                                   void *userdata, eddy_free_fn free_userdata);

/* The end of a TLS stream's handshake for eddy_stream_wait_for_handshake(): `error` is 0 when
 * it completed, else the error the stream closed with. */
typedef void (*eddy_handshake_fn)(eddy_stream *stream, int error, void *userdata);

/* Tells when the handshake of a TLS stream has completed (Tornado's
 * SSLIOStream.wait_for_handshake): useful on a server stream from eddy_listener_set_tls, whose
 * accept callback gets it while the handshake is under way, before looking at its peer
 * certificate, SNI name or ALPN protocol. `cb` runs once, on the loop and never inside this
 * call: with 0 once the handshake has completed (soon after the current callback when it
 * already had: a stream from eddy_stream_start_tls always has); or, when the stream closes
 * before that, with the error its close callback gets (EDDY_ETLS — also for a peer that left
 * during the handshake —, EDDY_ETIMEDOUT; EDDY_ECLOSED for eddy_stream_close), just before
 * that close callback. Then
 * `free_userdata(userdata)` runs (alone when the loop is freed first). Reads and writes need
 * no waiting: they wait for the handshake by themselves.
 * Returns 0, or (then `cb` never runs and the caller keeps userdata) EDDY_EINVAL (NULL stream
 * or cb, or not a TLS stream), EDDY_ECLOSED, EDDY_EBUSY (a wait is already registered on this
 * stream; Tornado raises "Already waiting"), EDDY_ENOMEM. Thread: the stream's loop. */
EDDY_API int eddy_stream_wait_for_handshake(eddy_stream *stream, eddy_handshake_fn cb,
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
 * to a request whose Host the SNI callback maps to another context than the connection's
 * (with SNI or without), and to one for a host other than the SNI name that the certificate
 * in use does not cover (RFC 9110 §7.4). Thread: the request's loop. */
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
