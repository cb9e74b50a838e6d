/* eddy — TCP and Unix-socket servers and clients (Tornado's TCPServer, netutil, TCPClient).
 *
 * Thread: every function here must be called on the thread of the loop it was created with.
 */
#ifndef EDDY_NET_H
#define EDDY_NET_H

#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_listener eddy_listener;

/* A new connection. `stream` is yours: set its callbacks or close it. `peer_ip` is the peer's
 * numeric address ("127.0.0.1", "::1"; "" for a Unix socket) and `peer_port` its port (0 for a
 * Unix socket); both are valid during the call only. */
typedef void (*eddy_accept_fn)(eddy_listener *listener, eddy_stream *stream,
                               const char *peer_ip, int peer_port, void *userdata);

/* Flags for eddy_listener_bind(). */
#define EDDY_LISTEN_REUSEPORT 0x1 /* SO_REUSEPORT: several sockets (processes, loops) share a port */
#define EDDY_LISTEN_IPV6ONLY 0x2  /* an IPv6 socket does not also take IPv4 connections */

/* The default backlog (Tornado's). */
#define EDDY_DEFAULT_BACKLOG 128

/* Creates a listener with no sockets yet. `cb` runs for each accepted connection.
 * Returns NULL on bad arguments or out of memory (then the caller keeps userdata). */
EDDY_API eddy_listener *eddy_listener_new(eddy_loop *loop, eddy_accept_fn cb, void *userdata,
                                          eddy_free_fn free_userdata);

/* Binds and listens on `host` ("127.0.0.1", "::1" or "[::1]" as URLs write it, "localhost", a
 * numeric address, or NULL/"" for every local address, one socket per address family) and
 * `port` (0 picks a free port; when several sockets are made they share it). SO_REUSEADDR is
 * always set. `backlog` <= 0 means EDDY_DEFAULT_BACKLOG. May be called more than once to
 * listen on several addresses. Every address `host` names must be bound (an address family the
 * host lacks is skipped): if one fails, the sockets of this call are closed again and its error
 * is returned, as Tornado's bind_sockets raises.
 * Returns 0, EDDY_EADDRINUSE, EDDY_EADDRNOTAVAIL (also a name that does not resolve),
 * EDDY_EACCES, EDDY_EINVAL (a bad port or flag; a host with a bracket that is not a bracketed
 * numeric IPv6 address: "[::1", "::1]", "[zz]", "[127.0.0.1]"), EDDY_EIO, or EDDY_ENOMEM. */
EDDY_API int eddy_listener_bind(eddy_listener *listener, const char *host, int port,
                                int backlog, int flags);

/* Binds and listens on a Unix socket at `path`. An existing socket file at `path` that no
 * server answers on is replaced; any other existing file gives EDDY_EADDRINUSE. The file's
 * permissions are left to the umask, as bind(2), libuv and Go make them (this call predates
 * the mode: a default of 0600 would lock out the group a deployment relies on);
 * eddy_listener_bind_unix_mode() sets them. A `path` starting with '@' names a Linux abstract
 * socket ("@name" is the name NUL "name", as Go and systemd write it; no file, nothing to
 * remove; EDDY_EADDRINUSE while another socket has the name).
 * Returns as eddy_listener_bind(), or EDDY_ENOENT when a directory of `path` does not exist;
 * EDDY_EINVAL for an empty or too long path, or "@" alone. */
EDDY_API int eddy_listener_bind_unix(eddy_listener *listener, const char *path, int backlog);

/* As eddy_listener_bind_unix(), with the socket file's permission bits set to `mode` (0..0777,
 * e.g. 0600 as Tornado's bind_unix_socket: only this user may connect; 0660: its group too)
 * before the socket listens, so no client connects under the umask's permissions meanwhile.
 * Ignored for an abstract socket (it has no file). Ownership and thread as
 * eddy_listener_bind_unix(). Returns as it does; EDDY_EINVAL for a mode outside 0..0777,
 * EDDY_EACCES / EDDY_EIO when the mode cannot be set (nothing is left bound then). */
EDDY_API int eddy_listener_bind_unix_mode(eddy_listener *listener, const char *path, int mode,
                                          int backlog);

/* Accepts on `fd`, a socket already bound and listening (e.g. inherited from a parent or a
 * service manager). The listener takes ownership of `fd` on success.
 * Returns 0, EDDY_EINVAL (not a listening socket), EDDY_ENOMEM. */
EDDY_API int eddy_listener_add_fd(eddy_listener *listener, int fd);

/* Returns the local port of the listener's first TCP socket, or EDDY_ENOENT when it has none.
 * Use it after binding to port 0. */
EDDY_API int eddy_listener_port(const eddy_listener *listener);

/* Returns how many listening sockets the listener holds. */
EDDY_API int eddy_listener_socket_count(const eddy_listener *listener);

/* Returns the file descriptor of the listener's `index`th listening socket (0 = the first, in
 * the order they were bound or added; eddy_listener_socket_count() of them), e.g. to learn each
 * socket's address with getsockname(): two eddy_listener_bind() calls with port 0 (127.0.0.1,
 * then ::1) get a port each, and eddy_listener_port() reports only the first. Or to hand it to
 * a new process during a graceful reload (clear FD_CLOEXEC, exec, eddy_listener_add_fd there).
 * The listener keeps owning it: do not close it. Returns EDDY_ENOENT when there is no such
 * socket (also after eddy_listener_stop() or once the loop was freed), EDDY_EINVAL for a NULL
 * listener. */
EDDY_API int eddy_listener_socket_fd(const eddy_listener *listener, int index);

/* Stops accepting and closes every listening socket. A Unix socket's file is removed unless a
 * server still answers there (the socket handed to another process for a graceful reload, or
 * shared with a forked child; a new server's socket at the same path).
 * Connections already accepted are not affected. Safe inside the accept callback.
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_listener_stop(eddy_listener *listener);

/* Stops the listener and frees it with its userdata. Safe inside the accept callback. Also
 * after its loop was freed (which closed its sockets and released its userdata; binding then
 * returns EDDY_ESTATE): free it all the same. NULL does nothing. */
EDDY_API void eddy_listener_free(eddy_listener *listener);

/* The result of eddy_connect(): `stream` is a connected stream that is now yours (NULL on
 * failure), `error` is 0 or EDDY_ECONNREFUSED, EDDY_ETIMEDOUT, EDDY_EADDRNOTAVAIL, ... */
typedef void (*eddy_connect_fn)(eddy_loop *loop, eddy_stream *stream, int error, void *userdata);

/* Connects to `host`:`port` without blocking the loop and calls `cb` exactly once, never before
 * this function returns. `host` may be a numeric IPv4/IPv6 address or a name; names are looked
 * up with the system resolver on a worker thread (the loop never blocks; a name that does not
 * resolve gives EDDY_ERESOLVE). Every address is tried, as Happy Eyeballs (RFC 8305; Tornado's
 * TCPClient): in the resolver's order with IPv6 and IPv4 interleaved, the first address's family
 * first; the next attempt starts when the previous one failed or 250 ms after it started,
 * earlier attempts going on, so an address that never answers (a family without a route, a
 * filtered host) delays the connection by 250 ms instead of holding it until `timeout`. The
 * first connection wins and every other attempt's socket is closed. On failure `error` is the
 * last failed attempt's. `timeout` (seconds, <= 0 for none: the system's own connect timeout
 * then ends each attempt) bounds the whole attempt, name lookup included. Userdata is released
 * after `cb` ran, or when the loop is freed first (every attempt's socket is closed then).
 * Inside a failed `cb`, eddy_connect_error_detail() tells why beyond the code ("connect to
 * 127.0.0.1:9: Connection refused").
 * Returns 0 or EDDY_EINVAL / EDDY_ENOMEM (then `cb` is never called and the caller keeps
 * userdata). */
EDDY_API int eddy_connect(eddy_loop *loop, const char *host, int port, double timeout,
                          eddy_connect_fn cb, void *userdata, eddy_free_fn free_userdata);

/* ---- connect options (eddy_connect_with_options, eddy_connect_tls_with_options) ---------- */

/* Options for a connect; plain data: any thread, one at a time. */
typedef struct eddy_connect_options eddy_connect_options;

/* Returns new options (every address family, the local end left to the system, as
 * eddy_connect()), or NULL when out of memory. Free them with eddy_connect_options_free();
 * a connect copies what it needs, so they may be freed or reused once it has returned. */
EDDY_API eddy_connect_options *eddy_connect_options_new(void);

/* Frees options. NULL does nothing. */
EDDY_API void eddy_connect_options_free(eddy_connect_options *options);

/* Address families for eddy_connect_options_set_family(). */
#define EDDY_FAMILY_ANY 0  /* IPv4 and IPv6 (the default) */
#define EDDY_FAMILY_IPV4 4 /* IPv4 addresses only (Tornado's af=socket.AF_INET) */
#define EDDY_FAMILY_IPV6 6 /* IPv6 addresses only (af=socket.AF_INET6) */

/* Tries only the host's addresses of `family` (Tornado's TCPClient.connect(af=...)), in the
 * resolver's order and staggered as eddy_connect() staggers them. A host with no address of
 * that family (a name, or a numeric address of the other family) fails the connect with
 * EDDY_ERESOLVE, as getaddrinfo() asked for that family fails (Tornado raises its gaierror).
 * Returns 0, or EDDY_EINVAL (NULL options, `family` not one of EDDY_FAMILY_*). */
EDDY_API int eddy_connect_options_set_family(eddy_connect_options *options, int family);

/* Binds the local end of every attempt's socket before it connects (Tornado's source_ip /
 * source_port), e.g. to leave by one interface of a multihomed host. `ip`: a numeric IPv4 or
 * IPv6 address (copied), or NULL for the attempt's family's wildcard address; `port`: 0 (the
 * system picks one when it connects) to 65535. With an `ip`, only the host's addresses of its
 * family are tried; none left fails the connect with EDDY_EADDRNOTAVAIL. A bind that fails
 * (EDDY_EADDRNOTAVAIL: not a local address; EDDY_EADDRINUSE: the port is taken, also by
 * another attempt of the same connect; EDDY_EACCES: a privileged port) fails that attempt as
 * a refused connect does: the next address is tried. NULL `ip` with port 0 binds nothing
 * (the default). Returns 0, or EDDY_EINVAL (NULL options, `ip` not a numeric address, `port`
 * out of range). */
EDDY_API int eddy_connect_options_set_source(eddy_connect_options *options, const char *ip,
                                             int port);

/* As eddy_connect() with `options` (NULL: the defaults, exactly eddy_connect()). The options
 * are copied: the caller keeps them and may free them once this returns. Returns as
 * eddy_connect(). Thread: the loop's. */
EDDY_API int eddy_connect_with_options(eddy_loop *loop, const char *host, int port, double timeout,
                                       const eddy_connect_options *options, eddy_connect_fn cb,
                                       void *userdata, eddy_free_fn free_userdata);

/* Returns what eddy knows of the failure an eddy_connect_fn of `loop` is reporting beyond its
 * code (NUL-terminated, never NULL; its length in *len if not NULL), as
 * eddy_websocket_connect_error_detail does for a WebSocket connect. Call it from inside a
 * failed connect callback (`stream` NULL, `error` < 0) of eddy_connect(),
 * eddy_connect_with_options(), eddy_connect_tls() or eddy_connect_tls_with_options(), with the
 * loop the callback got; the text is eddy's and stays valid until that callback returns (copy
 * it to keep it). It is "" (length 0) when eddy has nothing more to say than the code
 * (EDDY_ENOMEM), outside such a callback (also inside a successful one), for another loop, or
 * for NULL. Examples: "connect to 127.0.0.1:9: Connection refused" (each failed address's
 * reason, in the order they failed, joined by "; "); "name resolution: HOST: Name or service
 * not known" (EDDY_ERESOLVE); "no connection to HOST:PORT within 20 s" (EDDY_ETIMEDOUT);
 * "connect to 127.0.0.1:80: bind source 192.0.2.1: Cannot assign requested address" (a source
 * address of eddy_connect_options_set_source that is not local). A TLS connect's handshake runs
 * after its callback, so its failure is not here (the stream closes with EDDY_ETLS). The
 * wording is for people and logs, not a stable format: test the code, not the text. Keyed by
 * the loop because a failed callback has no other handle to ask with (its stream is NULL).
 * Thread: the loop's (the one running the callback). */
EDDY_API const char *eddy_connect_error_detail(const eddy_loop *loop, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_NET_H */
