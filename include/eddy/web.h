/* eddy — the web layer (Tornado's Application, routing and RequestHandler).
 *
 * An application holds routes. A route is a PCRE2 pattern, matched anchored against the whole
 * request path, plus the callbacks that play the parts of a Tornado RequestHandler subclass:
 * one per HTTP method (get, post, ... and custom methods), prepare, on_finish,
 * on_connection_close, write_error, set_default_headers and data_received.
 *
 * For each request the application creates an eddy_handler and runs Tornado's life cycle:
 * routing → set_default_headers → prepare → the method callback → finish → on_finish.
 * If prepare finishes the response the method is not called. When the method callback returns
 * without finishing, the response is finished for you — unless the callback called
 * eddy_handler_detach(); then you finish it later (timers, long polls). A detached handler stays
 * valid until you finish it, also after its connection closed: on_connection_close tells you,
 * and every later call returns EDDY_ECLOSED without touching freed memory.
 * prepare may go asynchronous too (Tornado's coroutine prepare, e.g. an authentication check
 * that waits for a lookup): a prepare that calls eddy_handler_detach() suspends the request —
 * the method callback (for a WebSocket route, the handshake; for a streamed body, the reading
 * of the body) waits until you call eddy_handler_resume(), or never runs if you finish the
 * handler instead (eddy_handler_send_error(h, 403), say).
 *
 * Strings go in as (pointer, length) with EDDY_NTS for NUL-terminated; strings coming out are
 * NUL-terminated views valid until the handler is finished.
 *
 * Thread: everything here runs on the thread of the application's loop.
 */
#ifndef EDDY_WEB_H
#define EDDY_WEB_H

#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_app eddy_app;
typedef struct eddy_route eddy_route;
typedef struct eddy_handler eddy_handler;

/* A handler callback. `route_userdata` is the route's userdata. */
typedef void (*eddy_handler_fn)(eddy_handler *handler, void *route_userdata);
/* write_error: render the error page for `status`. */
typedef void (*eddy_handler_error_fn)(eddy_handler *handler, int status, void *route_userdata);
/* data_received: a piece of a streamed request body. */
typedef void (*eddy_handler_data_fn)(eddy_handler *handler, const char *data, size_t len,
                                     void *route_userdata);
/* flush completion (status 0, or EDDY_ECLOSED). */
typedef void (*eddy_handler_flush_fn)(eddy_handler *handler, int status, void *route_userdata);

/* ==== application =========================================================================== */

/* Creates an application on `loop`. Returns NULL when out of memory. */
EDDY_API eddy_app *eddy_app_new(eddy_loop *loop);

/* Frees the application, its routes (their userdata is released) and its servers. Handlers still
 * detached stay valid until finished (or until the loop is freed, which releases them without
 * on_finish, as it releases those of WebSocket connections still open: loop.h).
 * Inside one of its handlers' callbacks: the servers close as
 * eddy_server_free() says for that case (the handler in hand still answers), and the app, its
 * routes and their userdata go when the loop next runs (or when the loop is freed). Elsewhere
 * (a timer, say) every connection closes at once, so detached handlers get EDDY_ECLOSED from
 * write and finish. After its loop was freed, free it all the same. NULL does nothing. */
EDDY_API void eddy_app_free(eddy_app *app);

/* Returns the application's default HTTP server (created on first use; eddy_app_listen listens
 * with it), for listening and for the server options of eddy/http.h. Owned by the application.
 * NULL when out of memory, or when none was made before the loop was freed. */
EDDY_API eddy_server *eddy_app_server(eddy_app *app);

/* Makes one more HTTP server for the application (Tornado: another HTTPServer of the same
 * Application): its own options and listeners, the same routes, settings and handlers. For one
 * application on plain HTTP and on HTTPS at once (eddy_server_set_tls applies to a whole
 * server), or on two ports with different limits, proxies trusted or PROXY protocol. It starts
 * with the defaults of eddy_server_new (not the options of eddy_app_server's server), and
 * accepts the application's own methods (eddy_route_on) as that one does. Owned by the
 * application: freed, closing its connections, with it or by eddy_app_remove_server (never
 * eddy_server_free it; to let its requests finish first, eddy_server_shutdown it and remove it
 * from the `done` callback); each call makes a new one. Returns NULL for a NULL app, when out of
 * memory, after the loop was freed, or while the application is being freed. Thread: the
 * loop's. */
EDDY_API eddy_server *eddy_app_add_server(eddy_app *app);

/* Frees one of the application's servers (one of eddy_app_add_server's, or the default one of
 * eddy_app_server, which is then made anew on its next use): as eddy_server_free, its sockets
 * and connections close, open requests get their close callback and their handlers stay valid
 * until finished, its userdata is released, and no callback of it runs afterwards. Inside one
 * of its own callbacks (a handler of one of its requests, its shutdown `done`): it stops
 * listening at once, its connections close after their current answer, and its memory goes
 * once that callback has returned. For a server that a program replaces while the application
 * lives on (a reload that listens anew); otherwise its memory would stay until the application
 * is freed. `server` must not be used afterwards.
 * Returns 0, or EDDY_EINVAL for a NULL argument or a server that is not (or no longer) one of
 * this application's. Thread: the loop's. */
EDDY_API int eddy_app_remove_server(eddy_app *app, eddy_server *server);

/* Listens on `host`:`port` with the default server (eddy_app_server; see eddy_server_listen).
 * Returns 0 or a negative EDDY_E* code (EDDY_ESTATE once the loop was freed). */
EDDY_API int eddy_app_listen(eddy_app *app, const char *host, int port);

/* Adds a route for every host (the default host table). `pattern` is a PCRE2 regular
 * expression matched against the whole, still percent-encoded path; its capture groups become
 * the handler's path arguments (percent-decoded; named groups are reachable by name). A pattern
 * without regex metacharacters takes a fast literal path. Routes are tried in the order added.
 * Userdata: released through `free_userdata` when the application is freed.
 * Returns the route, or NULL on a pattern that does not compile (a log line says why) or out
 * of memory (the caller keeps userdata then). */
EDDY_API eddy_route *eddy_app_add_route(eddy_app *app, const char *pattern, size_t pattern_len,
                                        void *userdata, eddy_free_fn free_userdata);

/* Like eddy_app_add_route for requests whose host name (Host without port) matches the
 * anchored PCRE2 `host_pattern`. Host tables are tried in the order first used, before the
 * default table. */
EDDY_API eddy_route *eddy_app_add_host_route(eddy_app *app, const char *host_pattern,
                                             size_t host_pattern_len, const char *pattern,
                                             size_t pattern_len, void *userdata,
                                             eddy_free_fn free_userdata);

/* Sets the route used when no pattern matches (Tornado's default_handler_class). Without one,
 * unmatched requests get 404. `route` must belong to `app` (made with eddy_app_add_route).
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_app_set_default_route(eddy_app *app, eddy_route *route);

/* Builds the path for the route named `name` with `nargs` arguments (percent-encoded on the
 * way in) into `out` (NUL-terminated, at most `out_size` bytes). `*out_len` gets the length.
 * Returns 0, EDDY_ENOENT (no such name), EDDY_EINVAL (argument count does not fit the
 * pattern's groups), EDDY_ETOOBIG (out too small), EDDY_ENOMEM. */
EDDY_API int eddy_app_reverse_url(eddy_app *app, const char *name, size_t name_len,
                                  const char *const *args, const size_t *arg_lens, size_t nargs,
                                  char *out, size_t out_size, size_t *out_len);

/* Secret for signed cookies (HMAC-SHA256, Tornado version 2 format). Returns 0, EDDY_ENOMEM or
 * EDDY_EINVAL (empty secret). */
EDDY_API int eddy_app_set_cookie_secret(eddy_app *app, const char *secret, size_t len);

/* Non-zero: POST, PUT, DELETE, PATCH and custom methods must carry a valid XSRF token (the
 * `_xsrf` argument or an X-Xsrftoken / X-Csrftoken header matching the `_xsrf` cookie), else
 * 403 before prepare. A request with two `_xsrf` cookies is checked against the first, as
 * eddy_handler_get_cookie() reads it (Tornado takes the last): browsers send the cookie with
 * the longest path first and, among equal paths, the oldest first (RFC 6265 §5.4), so a
 * cookie planted later from a sibling subdomain does not replace the application's own.
 * Returns 0, or EDDY_EINVAL for a NULL app. */
EDDY_API int eddy_app_set_xsrf_cookies(eddy_app *app, int on);

/* Non-zero: responses are gzip-compressed when the client accepts gzip, the type is
 * compressible and the body is at least 1024 bytes (or streamed). The automatic ETag names
 * the gzip form apart (a "-gz" suffix); a strong ETag of the handler's own (set_etag or an
 * Etag header) is sent weak (W/) on the gzip form, as a strong validator must change with the
 * content coding (RFC 9110 §8.8.1). Returns 0, or EDDY_EINVAL for a NULL app. */
EDDY_API int eddy_app_set_compress_response(eddy_app *app, int on);

/* Serves files under directory `root` at URL prefix `url_prefix` (e.g. "/static/"), with
 * sendfile, Range, ETag, Last-Modified, HEAD and a precompressed ".gz" twin when accepted.
 * With compress_response, a compressible file of 1024 bytes or more that has no twin is
 * gzipped as it is read, for clients that take gzip (chunked, 32 KiB per write as the client
 * drains; Range is not offered on that form and its ETag is weak).
 * Paths leaving the root (also via symlinks) get 403, missing files 404.
 * Returns 0, EDDY_EINVAL, EDDY_ENOMEM or EDDY_ENOENT (root is not a directory). */
EDDY_API int eddy_app_add_static(eddy_app *app, const char *url_prefix, size_t prefix_len,
                                 const char *root, size_t root_len);

/* ==== routes ================================================================================ */

/* Names the route for eddy_app_reverse_url. Returns 0, EDDY_EINVAL, EDDY_ENOMEM. */
EDDY_API int eddy_route_set_name(eddy_route *route, const char *name, size_t len);

/* `on` 0: requests to this route skip the application's XSRF check (eddy_app_set_xsrf_cookies),
 * e.g. because the host runs its own (Tornado's overridden check_xsrf_cookie) or the route is
 * an API authenticated otherwise. Default 1. Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_route_set_xsrf_check(eddy_route *route, int on);

/* Sets the callback for `method` ("GET", "POST", ... or a custom token). HEAD falls back to
 * GET (body dropped) when no HEAD callback is set. A method without a callback gets 405 with
 * an Allow header. Returns 0, EDDY_EINVAL or EDDY_ENOMEM (the route is unchanged). */
EDDY_API int eddy_route_on(eddy_route *route, const char *method, size_t method_len,
                           eddy_handler_fn cb);

/* prepare: runs before the method callback; if it finishes the response the method is not
 * called. If it calls eddy_handler_detach() and returns unfinished, the request waits: the
 * method callback (a WebSocket route's handshake) runs when eddy_handler_resume() is called,
 * not before; finishing the handler instead (send_error, redirect, finish) ends the request
 * there. On a route with data_received the body is not read (no piece is delivered) until the
 * resume; neither the body timeout nor the minimum body rate runs meanwhile (the client is not
 * late while nothing is read): how long prepare may take is the application's to bound. A
 * client that leaves meanwhile (a reset, or a close before its body's end was sent) is told at
 * once by on_connection_close, so that prepare's pending work can stop; one that sent its
 * whole request and half-closed still gets its answer (see eddy_request_pause_body). A
 * client that sent `Expect: 100-continue` gets its 100 Continue at the resume (as Tornado
 * writes it once prepare is done), and none when prepare answers instead.
 * NULL removes it. Returns 0 or EDDY_EINVAL (and so do the setters below). */
EDDY_API int eddy_route_set_prepare(eddy_route *route, eddy_handler_fn cb);
/* on_finish: runs after the response was finished (the request getters still work in it); for
 * an upgraded WebSocket connection, after its close callback. A handler the loop's free releases
 * (detached, or a WebSocket route's whose connection is open: eddy_loop_free) gets none. */
EDDY_API int eddy_route_set_on_finish(eddy_route *route, eddy_handler_fn cb);
/* on_connection_close: the client went away while the handler was still running. */
EDDY_API int eddy_route_set_on_connection_close(eddy_route *route, eddy_handler_fn cb);
/* set_default_headers: runs first for every request of the route and again before an error
 * page, to set headers every response carries. */
EDDY_API int eddy_route_set_default_headers(eddy_route *route, eddy_handler_fn cb);
/* write_error: writes the body of an error page (send_error); without it a small HTML page is
 * used. */
EDDY_API int eddy_route_set_write_error(eddy_route *route, eddy_handler_error_fn cb);
/* Streams request bodies of this route to `cb` instead of buffering them (Tornado's
 * stream_request_body + data_received); prepare runs before the first piece (and an
 * asynchronous prepare, see eddy_route_set_prepare, before it is read). */
EDDY_API int eddy_route_set_data_received(eddy_route *route, eddy_handler_data_fn cb);

/* ==== handlers: the request ================================================================= */

/* The underlying request, for every getter of eddy/http.h (method, path, headers, body, ...).
 * Valid until the handler is finished. */
EDDY_API eddy_request *eddy_handler_request(eddy_handler *handler);
/* The handler's application. */
EDDY_API eddy_app *eddy_handler_app(eddy_handler *handler);

/* Positional path arguments (the route's capture groups, percent-decoded, valid UTF-8). */
EDDY_API size_t eddy_handler_path_arg_count(const eddy_handler *handler);
/* The `index`th path argument or NULL. An unmatched optional group gives "". */
EDDY_API const char *eddy_handler_path_arg(const eddy_handler *handler, size_t index,
                                           size_t *len);
/* The named path argument `name` or NULL. */
EDDY_API const char *eddy_handler_path_kwarg(const eddy_handler *handler, const char *name,
                                             size_t name_len, size_t *len);

/* The first value of argument `name` from `sources` (EDDY_ARGS_*), or NULL when missing. */
EDDY_API const char *eddy_handler_get_argument(eddy_handler *handler, int sources,
                                               const char *name, size_t name_len, size_t *len);
/* Like eddy_handler_get_argument, but a missing argument sends 400 ("Missing argument x") and
 * returns NULL; the callback should then return. */
EDDY_API const char *eddy_handler_require_argument(eddy_handler *handler, int sources,
                                                   const char *name, size_t name_len,
                                                   size_t *len);

/* The value of request cookie `name` or NULL (also out of memory). A name sent twice gives
 * the first value: the most specific (longest path), then the oldest (RFC 6265 §5.4).
 * Tornado's dict keeps the last; eddy's Python binding does as Tornado. */
EDDY_API const char *eddy_handler_get_cookie(eddy_handler *handler, const char *name,
                                             size_t name_len, size_t *len);
/* The verified value of a signed cookie (set with eddy_handler_set_signed_cookie, or by
 * Tornado's set_signed_cookie with the same secret) not older than `max_age_days` (<= 0 means
 * 31), or NULL when missing, forged, expired, no secret is set, or out of memory. */
EDDY_API const char *eddy_handler_get_signed_cookie(eddy_handler *handler, const char *name,
                                                    size_t name_len, double max_age_days,
                                                    size_t *len);
/* Tornado's static_url: the URL of `path` (relative to a static directory, e.g.
 * "css/site.css") under the first eddy_app_add_static mount that has the file, percent-encoded
 * as reverse_url's arguments are (all but ALPHA DIGIT "-._~/"), with "?v=" and the MD5 of the
 * file's content (32 hex digits; computed once and again when the file changes: its size,
 * modification time, inode or status change time). A static answer to a request with a `v`
 * argument may be cached for 10 years (Cache-Control: max-age=315360000, and Expires), so a
 * page that links its files this way has them cached until they change. A file in no mount
 * gets the first mount's URL without a version, and a warning in the log. Returns
 * NUL-terminated text (length in *len when len is not NULL) valid until the next call on this
 * handler or its finish; NULL when the application has no static directory, for a NULL
 * argument, or out of memory. Reads the file on the loop thread the first time. */
EDDY_API const char *eddy_handler_static_url(eddy_handler *handler, const char *path,
                                             size_t path_len, size_t *len);
/* The XSRF token for forms (sets the `_xsrf` cookie when needed); NULL when out of memory. */
EDDY_API const char *eddy_handler_xsrf_token(eddy_handler *handler, size_t *len);

/* ==== handlers: state and life cycle ======================================================== */

/* Per-request state: released through `free_userdata` when the handler is released. */
EDDY_API void eddy_handler_set_userdata(eddy_handler *handler, void *userdata,
                                        eddy_free_fn free_userdata);
/* Returns the userdata set with eddy_handler_set_userdata() (NULL when none). */
EDDY_API void *eddy_handler_get_userdata(const eddy_handler *handler);
/* Keeps the response open after the current callback returns: finish it later with
 * eddy_handler_finish(). Called in prepare, it also suspends the request before its method
 * callback: then either resume it (eddy_handler_resume) or finish it. Returns 0 or
 * EDDY_ESTATE (already finished). */
EDDY_API int eddy_handler_detach(eddy_handler *handler);
/* Resumes a request whose prepare detached (Tornado: the coroutine prepare is done): the
 * method callback runs now, inside this call (for a WebSocket route: the handshake; for a
 * streamed body: reading resumes and the pieces go to data_received), and the response is
 * finished for you when it returns, as after a synchronous prepare, unless it detaches again.
 * Called inside prepare itself, the method runs once prepare returns. The handler stays
 * yours until this call; afterwards as after any method callback (it may be released before
 * this returns: do not use it again unless the method detached it).
 * Returns 0; EDDY_ESTATE when the handler is not waiting in prepare (prepare did not detach,
 * already resumed, or finished); EDDY_EINVAL for NULL; EDDY_ECLOSED when the client left
 * while prepare was pending (on_connection_close has run): nothing is sent, the handler is
 * finished here (on_finish runs) and released, and must not be used again. If the
 * application was freed meanwhile the handler is finished and released the same way (the
 * route's callbacks are gone). Thread: the loop's (the application's loop thread only). */
EDDY_API int eddy_handler_resume(eddy_handler *handler);
/* Returns 1 once finished (also inside on_finish), else 0. */
EDDY_API int eddy_handler_finished(const eddy_handler *handler);

/* ==== handlers: the response ================================================================ */

/* As the eddy_request_* functions of the same names, plus the checks of this layer. After
 * finish: EDDY_ESTATE and a log line; after the connection closed: EDDY_ECLOSED. Out of memory:
 * EDDY_ENOMEM as there (a write or flush that fails so closes the connection; a status, header,
 * cookie or ETag that cannot be stored makes the response one that is never sent — a WebSocket
 * upgrade's 101 included: the connection is closed at finish instead, unless
 * eddy_handler_send_error or eddy_handler_clear starts it afresh, which they do not after a
 * lost cookie). */
EDDY_API int eddy_handler_set_status(eddy_handler *handler, int status, const char *reason,
                                     size_t reason_len);
/* Sets a response header (replacing); a control character other than tab in the value (CR, LF,
 * NUL, ...) or a non-token name → EDDY_EINVAL. */
EDDY_API int eddy_handler_set_header(eddy_handler *handler, const char *name, size_t name_len,
                                     const char *value, size_t value_len);
/* Adds a response header (repeats allowed). */
EDDY_API int eddy_handler_add_header(eddy_handler *handler, const char *name, size_t name_len,
                                     const char *value, size_t value_len);
/* Removes a response header. */
EDDY_API int eddy_handler_clear_header(eddy_handler *handler, const char *name, size_t name_len);
/* Appends to the response body. */
EDDY_API int eddy_handler_write(eddy_handler *handler, const void *data, size_t len);
/* Sends what was written so far (chunked on HTTP/1.1); `cb` (may be NULL) runs when it
 * reached the kernel (EDDY_ECLOSED: the connection went first). Headers can no longer change
 * afterwards. If the loop is freed first, `cb` never runs and the handler is released with the
 * loop, finished or not (eddy_loop_free). Loop thread. Returns 0, EDDY_ESTATE (finished),
 * EDDY_ECLOSED or EDDY_ENOMEM. */
EDDY_API int eddy_handler_flush(eddy_handler *handler, eddy_handler_flush_fn cb);
/* Finishes the response (ETag/304, Content-Length, gzip, cookies), then on_finish runs and the
 * handler is released: called outside one of its callbacks (a detached handler, from a timer),
 * the handler is freed before this returns and must not be used again. Returns 0, EDDY_ESTATE
 * (second finish, within the callback that finished it), EDDY_ECLOSED (connection gone;
 * released anyway), EDDY_ENOMEM (the response could not be completed: the connection is closed
 * abruptly; on_finish runs and the handler is released anyway). When the handler's method
 * returns and the web layer finishes for it, that failure is logged the same way. */
EDDY_API int eddy_handler_finish(eddy_handler *handler);
/* Sends a redirect (301, 302, 303, 307 or 308; 0 means 302) to `url` and finishes.
 * Returns 0, EDDY_EINVAL (bad status or URL with CR/LF), EDDY_ESTATE, or as
 * eddy_handler_finish(). */
EDDY_API int eddy_handler_redirect(eddy_handler *handler, const char *url, size_t url_len,
                                   int status);
/* Tornado's clear(): drops the headers (Set-Cookie excepted) and the body written so far, sets
 * status 200 and runs the route's set_default_headers callback again. Only before the first
 * flush. A response lost to out of memory (see above) is whole again after it, unless what was
 * lost was a cookie (the cookies stay, so the answer would still lack that one). Returns 0,
 * EDDY_EINVAL (NULL handler), EDDY_ESTATE (headers already sent, or finished), EDDY_ECLOSED. */
EDDY_API int eddy_handler_clear(eddy_handler *handler);
/* Replaces this response's automatic ETag (the host's compute_etag()). At finish, a 200 answer
 * to GET/HEAD without an Etag header gets `value` (sent as given, e.g. "\"v1\"") and a matching
 * If-None-Match turns it into 304 without a body. `value` NULL: no ETag and no 304 at all.
 * The string is copied. Preconditions are evaluated for GET and HEAD only (If-Match: 412,
 * If-None-Match: 304, at finish); on other methods (PUT, DELETE, ...) they are the handler's
 * to evaluate before it acts, as RFC 9110 §13.1.1 asks of an origin server (answer a false
 * one with eddy_handler_send_error(handler, 412)), as in Tornado.
 * Returns 0, EDDY_EINVAL (a control character in value; NULL handler), EDDY_ESTATE (finished),
 * EDDY_ECLOSED, EDDY_ENOMEM (the response is lost, as for a header). */
EDDY_API int eddy_handler_set_etag(eddy_handler *handler, const char *value, size_t len);
/* Discards what was written, sets `status`, lets write_error (or the default HTML page) write
 * the body, and finishes. A `status` that cannot be a final status (outside 200-599) is sent
 * as 500, as Tornado does. Returns 0, EDDY_EINVAL (NULL handler), EDDY_ESTATE (headers already
 * flushed: the connection is closed instead; or already finished), EDDY_ECLOSED (the connection
 * is gone: nothing is sent, and a detached handler is still yours to finish), EDDY_ENOMEM (the
 * page could not be made: the connection is closed and the handler finished instead). */
EDDY_API int eddy_handler_send_error(eddy_handler *handler, int status);

/* Flags for eddy_handler_set_cookie. */
#define EDDY_COOKIE_SECURE 0x1
#define EDDY_COOKIE_HTTPONLY 0x2

/* Sets a cookie. `domain`, `path` (NULL = "/"), and `samesite` ("Strict", "Lax", "None" or
 * NULL) are NUL-terminated; `expires` is a Unix time (0 = none); `max_age` in seconds (< 0 =
 * none). Names must be tokens and values must not contain control characters, spaces, ';' or
 * ','. Setting a name again in the same response replaces the earlier Set-Cookie (as Tornado).
 * Returns 0, EDDY_EINVAL, EDDY_ESTATE, EDDY_ENOMEM (no cookie set, and the response will not be
 * sent without it: see the response functions above). */
EDDY_API int eddy_handler_set_cookie(eddy_handler *handler, const char *name, size_t name_len,
                                     const char *value, size_t value_len, const char *domain,
                                     const char *path, double expires, long max_age, int flags,
                                     const char *samesite);
/* Deletes a cookie (an expired Set-Cookie with the same path and domain). */
EDDY_API int eddy_handler_clear_cookie(eddy_handler *handler, const char *name, size_t name_len,
                                       const char *path, const char *domain);
/* Sets a signed cookie (Tornado version 2) valid for `expires_days` (<= 0 means 30).
 * Returns 0, EDDY_ESTATE (no cookie secret), EDDY_EINVAL, EDDY_ENOMEM (as eddy_handler_set_cookie:
 * the response will not be sent without it). */
EDDY_API int eddy_handler_set_signed_cookie(eddy_handler *handler, const char *name,
                                            size_t name_len, const char *value, size_t value_len,
                                            double expires_days);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_WEB_H */
