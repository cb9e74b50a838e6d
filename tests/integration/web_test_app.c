/* web_test_app: a test application exercising the web layer's C API (include/eddy/web.h),
 * driven by test_web.py over real sockets.
 *
 *   web_test_app [--port N] [--host H] [--static DIR] [--xsrf] [--compress] [--no-secret]
 *                [--default-route] [--second]
 *
 * Prints "listening on HOST:PORT" once ready. --second: a second server of the application
 * (eddy_app_add_server, made before any route so that the routes' methods and streaming reach
 * it), Server "second", request bodies up to 16 bytes, on another port of HOST: printed first,
 * as "second on HOST:PORT"; /remove_server?which=second|default removes one of the two
 * (eddy_app_remove_server; the body is its return code), /listen_default listens with the
 * default server (made anew after its removal; the body is its port), /shutdown_remove?which=
 * shuts one down and removes it from the shutdown's `done`. SIGTERM/SIGINT stop the
 * loop; the program frees
 * the application and the loop and exits 0.
 *
 * Return codes of API calls are reported in response bodies, in headers, or in /stats.
 * Life-cycle events (prepare, method, on_finish, ...) go to a log keyed by the request's `id`
 * query argument, read back with /log?id=X.
 *
 * Routes:
 *   /hello                    GET "hello" (auto-finish), POST "posted"
 *   /a, /r/[0-9]+             anchoring probes
 *   /user/([0-9]+)/post/([a-z]+)(/edit)?   positional captures → JSON
 *   /named/(?P<first>[^/]+)/(?P<second>[^/]+)  named captures → JSON
 *   /decode/(.*)              the percent-decoded capture → JSON
 *   /order/special, /order/(.*)   route order
 *   /host (per host table), /apionly (api.example.com only)
 *   /rev/([^/]+)/item/([0-9]+) (named "rev"), /reverse?name=&a=...&size=
 *   /life                     prepare/GET/on_finish/set_default_headers log; ?finish_in_prepare=1,
 *                             ?error=N
 *   /asyncprep?ms=M&then=T    prepare detaches, a timer M ms later resumes (T=resume) or
 *                             answers 403 (T=error); resume's rcs in the log
 *   /dav                      PROPFIND only
 *   /delayed?ms=M             detached, finished from eddy_loop_call_later
 *   /longpoll                 detached, never answered; close → write/finish rcs in /stats
 *   /twice                    finish twice, write/set_header/... after finish (rcs in /stats)
 *   /flushhdr                 set_header/set_status after a flush (rcs in the body)
 *   /err?code=N               send_error with a write_error hook
 *   /err_plain?code=N         send_error with the default page
 *   /err_after_flush          send_error after a flush (rc in /stats)
 *   /redirect?status=N&url=U  eddy_handler_redirect (rc in the body when it fails)
 *   /require                  require_argument "name" (query and body)
 *   /args                     get_argument "a" from query, body, both
 *   /cookie/get?name=N, /cookie/set, /cookie/clear
 *   /signed/set?v=V, /signed/get
 *   /xsrf                     GET → token; POST/PUT → "posted" (prepare logged)
 *   /big?n=N&type=T[&cl=1]    N bytes of text with Content-Type T (cl: Content-Length set)
 *   /stream?n=N&ms=M          N flushed chunks M ms apart (flush callbacks in /stats)
 *   /upload                   streamed request body (data_received)
 *   /static/...               eddy_app_add_static on --static DIR
 *   /static_url?path=P        eddy_handler_static_url(P) ("(null)" for NULL)
 *   /upload?flush=1           the same, prepare flushes "started" first
 *   /upload?async_ms=M        the same, prepare detaches and a timer resumes it M ms later
 *                             ("resume" logged; on_connection_close, logged, cancels it and
 *                             finishes the handler)
 *   /nobody?code=N            writes "LEAKED-BODY", then set_status(N) (204/205/304)
 *   /err_recursive            write_error hook calls require_argument "lang" (send_error again)
 *   /etag_nts                 set_etag("\"v1\"", EDDY_NTS)
 *   /cookie/twice             set_cookie a=1, then a=2
 *   /ctl_header               set_header with 0x01 and with a tab (rcs in the body)
 *   /log?id=X, /stats
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_buf.h"

/* ---- global state ------------------------------------------------------------------------ */

#define LOG_MAX 4096

static struct {
    eddy_loop *loop;
    eddy_app *app;
    eddy_server *second_server; /* --second */
    const char *host;
    int freeing_app; /* set just before eddy_app_free at exit */
    char *log[LOG_MAX];
    size_t log_len;
    /* setup return codes */
    int rc_static, rc_static_missing, rc_static_badprefix, rc_bad_pattern_null,
        rc_default_foreign, rc_bad_method, rc_reverse_unknown, rc_empty_secret, rc_route_name,
        rc_default_route;
    /* /longpoll */
    long lp_started, lp_close_cb, lp_done, lp_on_finish;
    int lp_detach_rc, lp_finished_in_close, lp_write_rc, lp_flush_rc, lp_finish_rc,
        lp_set_header_rc;
    /* /delayed */
    long delayed_fired;
    int delayed_detach_rc, delayed_finish_rc;
    /* /twice */
    long twice_count;
    int twice_finish1, twice_finish2, twice_write, twice_set_header, twice_set_status,
        twice_send_error, twice_redirect, twice_detach, twice_finished, twice_set_cookie,
        twice_flush;
    /* /err_after_flush */
    long eaf_count;
    int eaf_send_error_rc;
    /* /stream */
    long flush_ok, flush_closed, stream_done;
    /* /upload */
    long upload_close_cb;
    long upload_released;  /* upload handlers' userdata freed: the handler was released */
} g;

/* The request's `id` query argument ("-" when missing). */
static const char *req_id(eddy_handler *h) {
    const char *id = eddy_handler_get_argument(h, EDDY_ARGS_QUERY, "id", EDDY_NTS, NULL);
    return id ? id : "-";
}

static void log_id_event(const char *id, const char *event) {
    if (g.log_len >= LOG_MAX) return;
    size_t n = strlen(id) + strlen(event) + 2;
    char *e = malloc(n);
    if (!e) return;  /* out of memory (tests/oom): the event goes unrecorded */
    snprintf(e, n, "%s\t%s", id, event);
    g.log[g.log_len++] = e;
}

static void log_event(eddy_handler *h, const char *event) { log_id_event(req_id(h), event); }

static const char *qarg(eddy_handler *h, const char *name) {
    return eddy_handler_get_argument(h, EDDY_ARGS_QUERY, name, EDDY_NTS, NULL);
}

static void write_str(eddy_handler *h, const char *s) { eddy_handler_write(h, s, strlen(s)); }

static void write_buf(eddy_handler *h, buf_t *b) {
    if (b->failed) {
        eddy_handler_send_error(h, 500);
    } else {
        eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "application/json", EDDY_NTS);
        eddy_handler_write(h, b->data ? b->data : "", b->len);
    }
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void write_rc_json(eddy_handler *h, const char *key, int rc) {
    buf_t b = {0};
    buf_printf(&b, "{\"%s\":%d}", key, rc);
    write_buf(h, &b);
}

/* ---- simple routes ------------------------------------------------------------------------ */

static void hello_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_str(h, "hello");
}

static void hello_post(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_str(h, "posted");
}

/* Writes the route userdata (a static string) as the body. */
static void say_userdata(eddy_handler *h, void *ud) {
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_str(h, (const char *)ud);
}

static void path_args_json(eddy_handler *h, void *ud) {
    (void)ud;
    buf_t b = {0};
    size_t n = eddy_handler_path_arg_count(h);
    buf_printf(&b, "{\"count\":%zu,\"args\":[", n);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *a = eddy_handler_path_arg(h, i, &len);
        if (i) buf_adds(&b, ",");
        buf_json(&b, a, len);
    }
    buf_adds(&b, "],\"beyond\":");
    buf_json(&b, eddy_handler_path_arg(h, n, NULL), 0);
    const char *names[] = {"first", "second", "nope"};
    for (size_t i = 0; i < 3; i++) {
        size_t len = 0;
        const char *v = eddy_handler_path_kwarg(h, names[i], EDDY_NTS, &len);
        buf_printf(&b, ",\"kw_%s\":", names[i]);
        buf_json(&b, v, len);
    }
    buf_adds(&b, "}");
    write_buf(h, &b);
}

/* GET /word/X: the capture itself as the body (short bodies of any length and content). */
static void word_get(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *word = eddy_handler_path_arg(h, 0, &len);
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_handler_write(h, word, len);
}

static void order_generic(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *a = eddy_handler_path_arg(h, 0, &len);
    write_str(h, "generic:");
    eddy_handler_write(h, a ? a : "", a ? len : 0);
}

static void reverse_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_request *req = eddy_handler_request(h);
    const char *args[8];
    size_t lens[8];
    size_t nargs = 0;
    size_t count = eddy_request_argument_count(req, EDDY_ARGS_QUERY);
    for (size_t i = 0; i < count && nargs < 8; i++) {
        const char *name, *value;
        size_t name_len, value_len;
        if (eddy_request_argument_at(req, EDDY_ARGS_QUERY, i, &name, &name_len, &value,
                                     &value_len) != 0)
            continue;
        if (name_len == 1 && name[0] == 'a') {
            args[nargs] = value;
            lens[nargs] = value_len;
            nargs++;
        }
    }
    const char *name = qarg(h, "name");
    const char *size_s = qarg(h, "size");
    size_t size = size_s ? (size_t)atol(size_s) : 512;
    char out[512];
    if (size > sizeof out) size = sizeof out;
    size_t out_len = 0;
    memset(out, 0, sizeof out);
    int rc = eddy_app_reverse_url(eddy_handler_app(h), name ? name : "rev", EDDY_NTS, args, lens,
                                  nargs, out, size, &out_len);
    buf_t b = {0};
    buf_printf(&b, "{\"rc\":%d,\"len\":%zu,\"url\":", rc, out_len);
    buf_json(&b, rc == 0 ? out : NULL, rc == 0 ? out_len : 0);
    buf_adds(&b, "}");
    write_buf(h, &b);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void life_default_headers(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "X-Default", EDDY_NTS, "yes", EDDY_NTS);
}

static void life_prepare(eddy_handler *h, void *ud) {
    (void)ud;
    log_event(h, "prepare");
    if (qarg(h, "finish_in_prepare")) {
        write_str(h, "finished in prepare");
        int rc = eddy_handler_finish(h);
        char v[48];
        snprintf(v, sizeof v, "prepare_finish_rc=%d", rc);
        log_event(h, v);
    }
}

static void life_get(eddy_handler *h, void *ud) {
    (void)ud;
    log_event(h, "get");
    const char *err = qarg(h, "error");
    if (err) {
        write_str(h, "discarded");
        eddy_handler_send_error(h, atoi(err));
        return;
    }
    write_str(h, "life");
}

static void life_post(eddy_handler *h, void *ud) {
    (void)ud;
    log_event(h, "post");
    write_str(h, "life posted");
}

static void life_on_finish(eddy_handler *h, void *ud) {
    (void)ud;
    char v[32];
    snprintf(v, sizeof v, "on_finish finished=%d", eddy_handler_finished(h));
    log_event(h, v);
}

/* ---- /asyncprep: a prepare that goes asynchronous (detach, then resume from a timer) --------- */

/* The timer that ends prepare's wait: ?then=resume (default) resumes, ?then=error answers 403
 * instead (the refusal of an async authentication check). Events: "fire", then
 * "resume_rc=N" (logged after resume returned, when the handler may be gone). */
static void asyncprep_fire(eddy_loop *loop, void *ud) {
    (void)loop;
    eddy_handler *h = ud;
    char id[64];
    snprintf(id, sizeof id, "%s", req_id(h)); /* resume may release the handler */
    log_event(h, "fire");
    const char *then = qarg(h, "then");
    if (then && strcmp(then, "error") == 0) {
        log_id_event(id, "send_error");
        eddy_handler_send_error(h, 403);
        return;
    }
    int rc = eddy_handler_resume(h);
    char v[32];
    snprintf(v, sizeof v, "resume_rc=%d", rc);
    log_id_event(id, v);
}

static void asyncprep_prepare(eddy_handler *h, void *ud) {
    (void)ud;
    char v[48];
    snprintf(v, sizeof v, "prepare resume_rc=%d", eddy_handler_resume(h)); /* not detached */
    log_event(h, v);
    const char *ms = qarg(h, "ms");
    eddy_handler_detach(h);
    eddy_loop_call_later(g.loop, (ms ? atof(ms) : 50) / 1000.0, asyncprep_fire, h, NULL);
}

static void asyncprep_get(eddy_handler *h, void *ud) {
    (void)ud;
    char v[48];
    snprintf(v, sizeof v, "get resume_rc=%d", eddy_handler_resume(h)); /* resumed already */
    log_event(h, v);
    write_str(h, "after prepare");
    eddy_handler_finish(h);
    snprintf(v, sizeof v, "finished resume_rc=%d", eddy_handler_resume(h));
    log_event(h, v);
}

static void asyncprep_close(eddy_handler *h, void *ud) {
    (void)ud;
    log_event(h, "on_connection_close");
}

/* ---- /dav ---------------------------------------------------------------------------------- */

static void dav_propfind(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_status(h, 207, NULL, 0);
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_str(h, "propfind reached");
}

/* ---- /delayed ------------------------------------------------------------------------------ */

static void delayed_fire(eddy_loop *loop, void *ud) {
    (void)loop;
    eddy_handler *h = ud;
    log_event(h, "fire");
    write_str(h, "delayed response");
    g.delayed_fired++;
    g.delayed_finish_rc = eddy_handler_finish(h);
}

static void delayed_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *ms = qarg(h, "ms");
    g.delayed_detach_rc = eddy_handler_detach(h);
    log_event(h, "get");
    eddy_loop_call_later(g.loop, (ms ? atof(ms) : 100) / 1000.0, delayed_fire, h, NULL);
}

/* ---- /longpoll ----------------------------------------------------------------------------- */

static void longpoll_after_close(eddy_loop *loop, void *ud) {
    (void)loop;
    eddy_handler *h = ud;
    g.lp_write_rc = eddy_handler_write(h, "late", 4);
    g.lp_set_header_rc = eddy_handler_set_header(h, "X-Late", EDDY_NTS, "1", EDDY_NTS);
    g.lp_flush_rc = eddy_handler_flush(h, NULL);
    g.lp_finish_rc = eddy_handler_finish(h);
    g.lp_done++;
}

static void longpoll_get(eddy_handler *h, void *ud) {
    (void)ud;
    g.lp_detach_rc = eddy_handler_detach(h);
    g.lp_started++;
}

static void longpoll_close(eddy_handler *h, void *ud) {
    (void)ud;
    g.lp_close_cb++;
    g.lp_finished_in_close = eddy_handler_finished(h);
    if (g.freeing_app) { /* the app closes its servers: it makes no new one meanwhile */
        fprintf(stderr, "while freed: eddy_app_add_server %s\n",
                eddy_app_add_server(eddy_handler_app(h)) ? "made one" : "refused");
        eddy_handler_finish(h); /* detached: released once finished (the loop runs no more) */
        return;
    }
    eddy_loop_call_later(g.loop, 0.05, longpoll_after_close, h, NULL);
}

static void longpoll_on_finish(eddy_handler *h, void *ud) {
    (void)h;
    (void)ud;
    g.lp_on_finish++;
}

/* ---- /remove_server, /listen_default (--second) ---------------------------------------------- */

static void remove_server_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *which = qarg(h, "which");
    eddy_server *s =
        which && strcmp(which, "default") == 0 ? eddy_app_server(g.app) : g.second_server;
    char body[32];
    snprintf(body, sizeof body, "%d", eddy_app_remove_server(g.app, s));
    write_str(h, body);
}

/* /shutdown_remove?which=...: shuts the server down, and removes it from its `done` (the body:
 * the shutdown's return code); /shutdown_removed: "done RC RC2" once that ran (RC2: a second
 * removal's), else "waiting". */
static int shutdown_removed, shutdown_remove_rc, shutdown_remove_again_rc;

static void shutdown_remove_done(eddy_server *server, void *ud) {
    (void)ud;
    shutdown_remove_rc = eddy_app_remove_server(g.app, server);
    shutdown_remove_again_rc = eddy_app_remove_server(g.app, server); /* EDDY_EINVAL */
    shutdown_removed = 1;
}

static void shutdown_remove_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *which = qarg(h, "which");
    eddy_server *s =
        which && strcmp(which, "default") == 0 ? eddy_app_server(g.app) : g.second_server;
    char body[32];
    snprintf(body, sizeof body, "%d", eddy_server_shutdown(s, shutdown_remove_done, NULL, NULL));
    write_str(h, body);
}

static void shutdown_removed_get(eddy_handler *h, void *ud) {
    (void)ud;
    char body[32];
    if (shutdown_removed)
        snprintf(body, sizeof body, "done %d %d", shutdown_remove_rc, shutdown_remove_again_rc);
    write_str(h, shutdown_removed ? body : "waiting");
}

static void listen_default_get(eddy_handler *h, void *ud) {
    (void)ud;
    char body[32];
    int rc = eddy_app_listen(g.app, g.host, 0);
    snprintf(body, sizeof body, "%d", rc == 0 ? eddy_server_port(eddy_app_server(g.app)) : rc);
    write_str(h, body);
}

/* ---- finish twice, state errors ------------------------------------------------------------ */

static void twice_get(eddy_handler *h, void *ud) {
    (void)ud;
    write_str(h, "once");
    g.twice_finish1 = eddy_handler_finish(h);
    g.twice_finished = eddy_handler_finished(h);
    g.twice_finish2 = eddy_handler_finish(h);
    g.twice_write = eddy_handler_write(h, "again", 5);
    g.twice_set_header = eddy_handler_set_header(h, "X-After", EDDY_NTS, "1", EDDY_NTS);
    g.twice_set_status = eddy_handler_set_status(h, 500, NULL, 0);
    g.twice_flush = eddy_handler_flush(h, NULL);
    g.twice_send_error = eddy_handler_send_error(h, 500);
    g.twice_redirect = eddy_handler_redirect(h, "/x", EDDY_NTS, 302);
    g.twice_detach = eddy_handler_detach(h);
    g.twice_set_cookie =
        eddy_handler_set_cookie(h, "c", EDDY_NTS, "v", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    g.twice_count++;
}

static void flushhdr_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_str(h, "first;");
    int flush_rc = eddy_handler_flush(h, NULL);
    int hdr_rc = eddy_handler_set_header(h, "X-Late", EDDY_NTS, "1", EDDY_NTS);
    int status_rc = eddy_handler_set_status(h, 201, NULL, 0);
    int cookie_rc =
        eddy_handler_set_cookie(h, "late", EDDY_NTS, "1", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    buf_t b = {0};
    buf_printf(&b, "{\"flush\":%d,\"set_header\":%d,\"set_status\":%d,\"set_cookie\":%d}",
               flush_rc, hdr_rc, status_rc, cookie_rc);
    eddy_handler_write(h, b.data, b.len);
    free(b.data);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void err_write_error(eddy_handler *h, int status, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_handler_set_header(h, "X-Error-Hook", EDDY_NTS, "1", EDDY_NTS);
    char body[64];
    int n = snprintf(body, sizeof body, "custom error %d", status);
    eddy_handler_write(h, body, (size_t)n);
}

static void err_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *code = qarg(h, "code");
    eddy_handler_set_header(h, "X-Before-Error", EDDY_NTS, "1", EDDY_NTS);
    write_str(h, "this must be discarded");
    int rc = eddy_handler_send_error(h, code ? atoi(code) : 500);
    char v[32];
    snprintf(v, sizeof v, "send_error=%d", rc);
    log_event(h, v);
}

static void err_after_flush_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_str(h, "partial");
    eddy_handler_flush(h, NULL);
    g.eaf_send_error_rc = eddy_handler_send_error(h, 500);
    g.eaf_count++;
}

/* ---- redirect, arguments ------------------------------------------------------------------- */

static void redirect_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *status = qarg(h, "status");
    const char *url = qarg(h, "url");
    int rc = eddy_handler_redirect(h, url ? url : "/hello", EDDY_NTS, status ? atoi(status) : 0);
    if (rc != 0) write_rc_json(h, "rc", rc);
}

static void require_any(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *v = eddy_handler_require_argument(h, EDDY_ARGS_ALL, "name", EDDY_NTS, &len);
    if (!v) {
        log_event(h, "require_missing");
        return;
    }
    write_str(h, "name=");
    eddy_handler_write(h, v, len);
}

static void args_any(eddy_handler *h, void *ud) {
    (void)ud;
    static const int sources[] = {EDDY_ARGS_QUERY, EDDY_ARGS_BODY, EDDY_ARGS_ALL};
    static const char *const keys[] = {"query", "body", "all"};
    buf_t b = {0};
    buf_adds(&b, "{");
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        const char *v = eddy_handler_get_argument(h, sources[i], "a", EDDY_NTS, &len);
        buf_printf(&b, "%s\"%s\":", i ? "," : "", keys[i]);
        buf_json(&b, v, len);
    }
    buf_adds(&b, "}");
    write_buf(h, &b);
}

/* ---- cookies ------------------------------------------------------------------------------- */

static void cookie_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *name = qarg(h, "name");
    size_t len = 0;
    const char *v = eddy_handler_get_cookie(h, name ? name : "", EDDY_NTS, &len);
    buf_t b = {0};
    buf_adds(&b, "{\"value\":");
    buf_json(&b, v, len);
    buf_adds(&b, "}");
    write_buf(h, &b);
}

static void cookie_set(eddy_handler *h, void *ud) {
    (void)ud;
    int full = eddy_handler_set_cookie(h, "full", EDDY_NTS, "v1", EDDY_NTS, "example.com", "/p",
                                       1700000000.0, 3600,
                                       EDDY_COOKIE_SECURE | EDDY_COOKIE_HTTPONLY, "Strict");
    int plain =
        eddy_handler_set_cookie(h, "plain", EDDY_NTS, "v2", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    int lax = eddy_handler_set_cookie(h, "lax", EDDY_NTS, "v3", EDDY_NTS, NULL, "/", 0, 0, 0,
                                      "Lax");
    int bad_name =
        eddy_handler_set_cookie(h, "a b", EDDY_NTS, "v", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    int bad_value =
        eddy_handler_set_cookie(h, "x", EDDY_NTS, "a;b", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    int bad_value2 =
        eddy_handler_set_cookie(h, "x", EDDY_NTS, "a\r\nb", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    int bad_samesite =
        eddy_handler_set_cookie(h, "y", EDDY_NTS, "v", EDDY_NTS, NULL, NULL, 0, -1, 0, "Bogus");
    buf_t b = {0};
    buf_printf(&b,
               "{\"full\":%d,\"plain\":%d,\"lax\":%d,\"bad_name\":%d,\"bad_value\":%d,"
               "\"bad_value2\":%d,\"bad_samesite\":%d}",
               full, plain, lax, bad_name, bad_value, bad_value2, bad_samesite);
    write_buf(h, &b);
}

static void cookie_clear(eddy_handler *h, void *ud) {
    (void)ud;
    int rc1 = eddy_handler_clear_cookie(h, "gone", EDDY_NTS, "/p", NULL);
    int rc2 = eddy_handler_clear_cookie(h, "gone2", EDDY_NTS, NULL, "example.com");
    buf_t b = {0};
    buf_printf(&b, "{\"rc1\":%d,\"rc2\":%d}", rc1, rc2);
    write_buf(h, &b);
}

static void signed_set(eddy_handler *h, void *ud) {
    (void)ud;
    const char *v = qarg(h, "v");
    int rc = eddy_handler_set_signed_cookie(h, "sig", EDDY_NTS, v ? v : "", EDDY_NTS, 0);
    write_rc_json(h, "rc", rc);
}

static void signed_get(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *v = eddy_handler_get_signed_cookie(h, "sig", EDDY_NTS, 0, &len);
    buf_t b = {0};
    buf_adds(&b, "{\"value\":");
    buf_json(&b, v, len);
    buf_adds(&b, "}");
    write_buf(h, &b);
}

/* ---- XSRF ---------------------------------------------------------------------------------- */

static void xsrf_prepare(eddy_handler *h, void *ud) {
    (void)ud;
    log_event(h, "prepare");
}

/* /static_url?path=P: eddy_handler_static_url(P), or "(null)"; with &nul=1, P followed by a
 * NUL byte and "x" (an explicit length). */
static void static_url_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *path = qarg(h, "path");
    char with_nul[256];
    size_t len = 0;
    const char *url;
    if (path && qarg(h, "nul") && strlen(path) + 2 < sizeof with_nul) {
        size_t n = strlen(path);
        memcpy(with_nul, path, n);
        memcpy(with_nul + n, "\0x", 2);
        url = eddy_handler_static_url(h, with_nul, n + 2, &len);
    } else {
        url = eddy_handler_static_url(h, path ? path : "", EDDY_NTS, &len);
    }
    if (url && strlen(url) != len) url = "(length mismatch)";
    write_str(h, url ? url : "(null)");
}

static void xsrf_get(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *token = eddy_handler_xsrf_token(h, &len);
    size_t len2 = 0;
    const char *again = eddy_handler_xsrf_token(h, &len2);
    buf_t b = {0};
    buf_adds(&b, "{\"token\":");
    buf_json(&b, token, len);
    buf_printf(&b, ",\"same_again\":%d}",
               token && again && len == len2 && memcmp(token, again, len) == 0);
    write_buf(h, &b);
}

static void xsrf_post(eddy_handler *h, void *ud) {
    (void)ud;
    log_event(h, "method");
    write_str(h, "posted");
}

/* ---- clear, replaced ETags ------------------------------------------------------------------ */

static void clear_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "X-Before", EDDY_NTS, "1", EDDY_NTS);
    eddy_handler_set_status(h, 404, NULL, 0);
    write_str(h, "junk");
    int rc = eddy_handler_clear(h);
    buf_t b = {0};
    buf_printf(&b, "{\"clear\":%d,\"null\":%d}", rc, eddy_handler_clear(NULL));
    write_buf(h, &b);
}

/* A cookie survives clear() (Tornado): the answer carries it (tests/oom: also when memory ran out
 * while it was set, the answer then being cut, not sent without it). */
static void cookie_kept_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_cookie(h, "kept", EDDY_NTS, "v", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    eddy_handler_set_header(h, "X-Before", EDDY_NTS, "1", EDDY_NTS);
    eddy_handler_clear(h);
    write_str(h, "cleared");
}

static void clear_after_flush_get(eddy_handler *h, void *ud) {
    (void)ud;
    write_str(h, "flushed;");
    eddy_handler_flush(h, NULL);
    write_rc_json(h, "clear", eddy_handler_clear(h));
}

/* ?v=<etag> replaces the body hash; ?none=1 turns ETags off; ?bad=1 tries a CR. */
static void etag_custom_get(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *v = eddy_handler_get_argument(h, EDDY_ARGS_QUERY, "v", EDDY_NTS, &len);
    int rc_bad = eddy_handler_set_etag(h, "\"a\r\nb\"", EDDY_NTS);
    if (eddy_handler_get_argument(h, EDDY_ARGS_QUERY, "none", EDDY_NTS, NULL)) eddy_handler_set_etag(h, NULL, 0);
    else if (v) eddy_handler_set_etag(h, v, len);
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    write_rc_json(h, "bad", rc_bad);
}

static void no_content_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "Content-Language", EDDY_NTS, "en", EDDY_NTS);
    eddy_handler_set_header(h, "X-Kept", EDDY_NTS, "1", EDDY_NTS);
    eddy_handler_set_status(h, 204, NULL, 0);
}

static void xsrf_exempt_post(eddy_handler *h, void *ud) {
    (void)ud;
    write_str(h, "exempt");
}

/* ---- gzip, streaming ----------------------------------------------------------------------- */

static void big_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *n_s = qarg(h, "n");
    const char *type = qarg(h, "type");
    size_t n = n_s ? (size_t)atol(n_s) : 5000;
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, type ? type : "text/plain", EDDY_NTS);
    if (qarg(h, "cl")) { /* the application declares the length itself */
        char cl[32];
        snprintf(cl, sizeof cl, "%zu", n);
        eddy_handler_set_header(h, "Content-Length", EDDY_NTS, cl, EDDY_NTS);
    }
    const char *etag = qarg(h, "etag"), *etag_header = qarg(h, "etag_header");
    if (etag) eddy_handler_set_etag(h, etag, EDDY_NTS);
    if (etag_header) eddy_handler_set_header(h, "Etag", EDDY_NTS, etag_header, EDDY_NTS);
    char *body = malloc(n + 1);
    if (!body) { /* out of memory (tests/oom): this request fails alone */
        eddy_handler_send_error(h, 500);
        return;
    }
    static const char text[] = "The quick brown fox jumps over the lazy dog. ";
    for (size_t i = 0; i < n; i++) body[i] = text[i % (sizeof text - 1)];
    eddy_handler_write(h, body, n);
    free(body);
}

typedef struct {
    eddy_handler *h;
    int i, n;
    double delay;
} stream_state;

static void stream_flushed(eddy_handler *h, int status, void *ud) {
    (void)h;
    (void)ud;
    if (status == 0) g.flush_ok++;
    else g.flush_closed++;
}

static void stream_step(eddy_loop *loop, void *ud) {
    stream_state *st = ud;
    eddy_handler *h = st->h;
    if (st->i >= st->n) {
        g.stream_done++;
        eddy_handler_finish(h); /* frees st (handler userdata) */
        return;
    }
    char line[64];
    int len = snprintf(line, sizeof line, "chunk-%d: The quick brown fox.\n", st->i);
    st->i++;
    int rc = eddy_handler_write(h, line, (size_t)len);
    if (rc == 0) rc = eddy_handler_flush(h, stream_flushed);
    if (rc != 0) {
        eddy_handler_finish(h);
        return;
    }
    if (eddy_loop_call_later(loop, st->delay, stream_step, st, NULL) == 0)
        eddy_handler_finish(h); /* out of memory: no next step; the answer ends here */
}

static void stream_get(eddy_handler *h, void *ud) {
    (void)ud;
    stream_state *st = calloc(1, sizeof *st);
    if (!st) { /* out of memory (tests/oom) */
        eddy_handler_send_error(h, 500);
        return;
    }
    const char *s;
    st->h = h;
    st->n = (s = qarg(h, "n")) ? atoi(s) : 3;
    st->delay = ((s = qarg(h, "ms")) ? atoi(s) : 10) / 1000.0;
    eddy_handler_set_userdata(h, st, free);
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_handler_detach(h);
    stream_step(g.loop, st);
}

/* ---- streamed request body ----------------------------------------------------------------- */

typedef struct {
    buf_t order;
    size_t bytes;
    long chunks;
    eddy_call_id resume_id; /* async_ms: the timer that resumes prepare (0 once it ran) */
} upload_state;

static void upload_state_free(void *p) {
    upload_state *st = p;
    g.upload_released++;
    free(st->order.data);
    free(st);
}

static void upload_resume(eddy_loop *loop, void *ud) {
    (void)loop;
    eddy_handler *h = ud;
    upload_state *st = eddy_handler_get_userdata(h);
    st->resume_id = 0;
    buf_adds(&st->order, ",resume");
    log_event(h, "resume");
    eddy_handler_resume(h);
}

static void upload_prepare(eddy_handler *h, void *ud) {
    (void)ud;
    upload_state *st = calloc(1, sizeof *st);
    if (!st) { /* out of memory (tests/oom) */
        eddy_handler_send_error(h, 500);
        return;
    }
    buf_adds(&st->order, "prepare");
    eddy_handler_set_userdata(h, st, upload_state_free);
    log_event(h, "prepare");
    const char *async_ms = qarg(h, "async_ms");
    if (async_ms) { /* prepare goes asynchronous: nothing of the body before the resume */
        eddy_handler_detach(h);
        st->resume_id =
            eddy_loop_call_later(g.loop, atof(async_ms) / 1000.0, upload_resume, h, NULL);
        return;
    }
    const char *flush = qarg(h, "flush");
    if (flush && atoi(flush)) {  /* the answer starts before the body is read */
        write_str(h, "started\n");
        eddy_handler_flush(h, NULL);
    }
}

static void upload_data(eddy_handler *h, const char *data, size_t len, void *ud) {
    (void)data;
    (void)ud;
    upload_state *st = eddy_handler_get_userdata(h);
    if (!st) return;
    if (st->chunks == 0) buf_adds(&st->order, ",data");
    st->chunks++;
    st->bytes += len;
}

static void upload_method(eddy_handler *h, void *ud) {
    (void)ud;
    upload_state *st = eddy_handler_get_userdata(h);
    size_t body_len = 0;
    eddy_request_body(eddy_handler_request(h), &body_len);
    buf_t b = {0};
    if (!st) {
        buf_adds(&b, "{\"error\":\"no state\"}");
    } else {
        buf_adds(&st->order, ",method");
        buf_printf(&b, "{\"order\":\"%s\",\"bytes\":%zu,\"chunks\":%ld,\"body_len\":%zu}",
                   st->order.data, st->bytes, st->chunks, body_len);
    }
    write_buf(h, &b);
}

static void upload_close(eddy_handler *h, void *ud) {
    (void)ud;
    g.upload_close_cb++;
    log_event(h, "on_connection_close");
    upload_state *st = eddy_handler_get_userdata(h);
    if (st && st->resume_id) { /* the client left while prepare held the body: stop waiting */
        eddy_loop_cancel(g.loop, st->resume_id);
        st->resume_id = 0;
        eddy_handler_finish(h);
    }
}

/* ---- probes of the 2026-11-29 audit fixes ---------------------------------------------------- */

static void nobody_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *code = qarg(h, "code");
    write_str(h, "LEAKED-BODY");
    eddy_handler_set_status(h, code ? atoi(code) : 304, NULL, EDDY_NTS);
}

static void recursive_write_error(eddy_handler *h, int status, void *ud) {
    (void)status;
    (void)ud;
    /* A missing argument: require_argument sends a 400 from inside this hook. */
    eddy_handler_require_argument(h, EDDY_ARGS_ALL, "lang", EDDY_NTS, NULL);
    write_str(h, "hook body");
}

static void err_recursive_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_send_error(h, 503);
}

static void etag_nts_get(eddy_handler *h, void *ud) {
    (void)ud;
    char body[32];
    int n = snprintf(body, sizeof body, "set_etag=%d", eddy_handler_set_etag(h, "\"v1\"", EDDY_NTS));
    eddy_handler_write(h, body, (size_t)n);
}

static void cookie_twice_get(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_cookie(h, "a", EDDY_NTS, "1", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    eddy_handler_set_cookie(h, "b", EDDY_NTS, "x", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    eddy_handler_set_cookie(h, "a", EDDY_NTS, "2", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
    write_str(h, "ok");
}

static void ctl_header_get(eddy_handler *h, void *ud) {
    (void)ud;
    char body[64];
    int ctl = eddy_handler_set_header(h, "X-Ctl", EDDY_NTS, "a\x01b", EDDY_NTS);
    int del = eddy_handler_set_header(h, "X-Del", EDDY_NTS, "a\x7f", EDDY_NTS);
    int tab = eddy_handler_set_header(h, "X-Tab", EDDY_NTS, "a\tb", EDDY_NTS);
    int n = snprintf(body, sizeof body, "{\"ctl\":%d,\"del\":%d,\"tab\":%d}", ctl, del, tab);
    eddy_handler_write(h, body, (size_t)n);
}

/* ---- /log, /stats -------------------------------------------------------------------------- */

static void log_get(eddy_handler *h, void *ud) {
    (void)ud;
    const char *id = qarg(h, "id");
    size_t idlen = id ? strlen(id) : 0;
    buf_t b = {0};
    buf_adds(&b, "[");
    int first = 1;
    for (size_t i = 0; i < g.log_len; i++) {
        const char *e = g.log[i];
        if (id && !(strncmp(e, id, idlen) == 0 && e[idlen] == '\t')) continue;
        const char *ev = strchr(e, '\t') + 1;
        if (!first) buf_adds(&b, ",");
        first = 0;
        buf_json(&b, ev, strlen(ev));
    }
    buf_adds(&b, "]");
    write_buf(h, &b);
}

static void stats_get(eddy_handler *h, void *ud) {
    (void)ud;
    buf_t b = {0};
    buf_printf(&b,
               "{\"rc_static\":%d,\"rc_static_missing\":%d,\"rc_static_badprefix\":%d,"
               "\"rc_bad_pattern_null\":%d,\"rc_default_foreign\":%d,\"rc_bad_method\":%d,"
               "\"rc_reverse_unknown\":%d,\"rc_empty_secret\":%d,\"rc_route_name\":%d,"
               "\"rc_default_route\":%d,",
               g.rc_static, g.rc_static_missing, g.rc_static_badprefix, g.rc_bad_pattern_null,
               g.rc_default_foreign, g.rc_bad_method, g.rc_reverse_unknown, g.rc_empty_secret,
               g.rc_route_name, g.rc_default_route);
    buf_printf(&b,
               "\"lp_started\":%ld,\"lp_close_cb\":%ld,\"lp_done\":%ld,\"lp_on_finish\":%ld,"
               "\"lp_detach_rc\":%d,\"lp_finished_in_close\":%d,\"lp_write_rc\":%d,"
               "\"lp_flush_rc\":%d,\"lp_finish_rc\":%d,\"lp_set_header_rc\":%d,",
               g.lp_started, g.lp_close_cb, g.lp_done, g.lp_on_finish, g.lp_detach_rc,
               g.lp_finished_in_close, g.lp_write_rc, g.lp_flush_rc, g.lp_finish_rc,
               g.lp_set_header_rc);
    buf_printf(&b, "\"delayed_fired\":%ld,\"delayed_detach_rc\":%d,\"delayed_finish_rc\":%d,",
               g.delayed_fired, g.delayed_detach_rc, g.delayed_finish_rc);
    buf_printf(&b,
               "\"twice_count\":%ld,\"twice_finish1\":%d,\"twice_finish2\":%d,"
               "\"twice_write\":%d,\"twice_set_header\":%d,\"twice_set_status\":%d,"
               "\"twice_send_error\":%d,\"twice_redirect\":%d,\"twice_detach\":%d,"
               "\"twice_finished\":%d,\"twice_set_cookie\":%d,\"twice_flush\":%d,",
               g.twice_count, g.twice_finish1, g.twice_finish2, g.twice_write, g.twice_set_header,
               g.twice_set_status, g.twice_send_error, g.twice_redirect, g.twice_detach,
               g.twice_finished, g.twice_set_cookie, g.twice_flush);
    buf_printf(&b,
               "\"eaf_count\":%ld,\"eaf_send_error_rc\":%d,\"flush_ok\":%ld,\"flush_closed\":%ld,"
               "\"stream_done\":%ld,\"upload_close_cb\":%ld,\"upload_released\":%ld}",
               g.eaf_count, g.eaf_send_error_rc, g.flush_ok, g.flush_closed, g.stream_done,
               g.upload_close_cb, g.upload_released);
    write_buf(h, &b);
}

static void default_route_get(eddy_handler *h, void *ud) {
    (void)ud;
    size_t len = 0;
    const char *path = eddy_request_path(eddy_handler_request(h), &len);
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_handler_set_status(h, 404, NULL, 0);
    write_str(h, "default route: ");
    eddy_handler_write(h, path, len);
    buf_t b = {0};
    buf_printf(&b, " args=%zu", eddy_handler_path_arg_count(h));
    eddy_handler_write(h, b.data, b.len);
    free(b.data);
}

/* ---- setup --------------------------------------------------------------------------------- */

static void die(const char *what) {
    fprintf(stderr, "web_test_app: setup failed: %s\n", what);
    exit(2);
}

static eddy_route *route(const char *pattern, const char *ud) {
    eddy_route *r = eddy_app_add_route(g.app, pattern, EDDY_NTS, (void *)ud, NULL);
    if (!r) die(pattern);
    return r;
}

static void on(eddy_route *r, const char *method, eddy_handler_fn cb) {
    if (eddy_route_on(r, method, EDDY_NTS, cb) != 0) die(method);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    const char *static_dir = NULL;
    int port = 0, xsrf = 0, compress = 0, no_secret = 0, default_route = 0, second = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--xsrf") == 0) xsrf = 1;
        else if (strcmp(a, "--compress") == 0) compress = 1;
        else if (strcmp(a, "--no-secret") == 0) no_secret = 1;
        else if (strcmp(a, "--default-route") == 0) default_route = 1;
        else if (strcmp(a, "--second") == 0)
            second = 1;
        else if (v && strcmp(a, "--port") == 0) port = atoi(argv[++i]);
        else if (v && strcmp(a, "--host") == 0) host = argv[++i];
        else if (v && strcmp(a, "--static") == 0) static_dir = argv[++i];
        else {
            fprintf(stderr, "web_test_app: bad option %s\n", a);
            return 2;
        }
    }
    g.host = host;
    g.loop = eddy_loop_new();
    if (!g.loop) die("loop");
    g.app = eddy_app_new(g.loop);
    if (!g.app) die("app");
    eddy_server *second_server = NULL;
    if (second) {
        second_server = g.second_server = eddy_app_add_server(g.app);
        if (!second_server ||
            eddy_server_set_server_header(second_server, "second", EDDY_NTS) != 0 ||
            eddy_server_set_max_body_size(second_server, 16) != 0 ||
            eddy_server_listen(second_server, host, 0, 0) != 0)
            die("second server");
        if (eddy_app_add_server(g.app) == second_server) die("second server made twice");
    }

    if (!no_secret && eddy_app_set_cookie_secret(g.app, "test-secret-0123456789", EDDY_NTS) != 0)
        die("cookie secret");
    g.rc_empty_secret = eddy_app_set_cookie_secret(g.app, "", 0);
    if (eddy_app_set_xsrf_cookies(g.app, xsrf) != 0) die("xsrf");
    if (eddy_app_set_compress_response(g.app, compress) != 0) die("compress");
    if (static_dir) {
        g.rc_static = eddy_app_add_static(g.app, "/static/", EDDY_NTS, static_dir, EDDY_NTS);
        if (g.rc_static != 0) die("static");
    }
    g.rc_static_missing =
        eddy_app_add_static(g.app, "/missing/", EDDY_NTS, "/nonexistent-eddy-dir", EDDY_NTS);
    g.rc_static_badprefix = eddy_app_add_static(g.app, "nostartslash", EDDY_NTS, "/", EDDY_NTS);

    eddy_route *r;
    r = route("/hello", NULL);
    on(r, "GET", hello_get);
    on(r, "POST", hello_post);

    on(route("/a", "a"), "GET", say_userdata);
    on(route("/r/[0-9]+", "r"), "GET", say_userdata);
    on(route("/user/([0-9]+)/post/([a-z]+)(/edit)?", NULL), "GET", path_args_json);
    on(route("/named/(?P<first>[^/]+)/(?P<second>[^/]+)", NULL), "GET", path_args_json);
    on(route("/decode/(.*)", NULL), "GET", path_args_json);
    on(route("/word/(.*)", NULL), "GET", word_get);
    on(route("/order/special", "special"), "GET", say_userdata);
    on(route("/order/(.*)", NULL), "GET", order_generic);

    /* host tables: tried in the order first used, before the default table */
    r = eddy_app_add_host_route(g.app, "api\\.example\\.com", EDDY_NTS, "/host", EDDY_NTS,
                                (void *)"api", NULL);
    if (!r) die("host route");
    on(r, "GET", say_userdata);
    r = eddy_app_add_host_route(g.app, "api\\.example\\.com", EDDY_NTS, "/apionly", EDDY_NTS,
                                (void *)"apionly", NULL);
    if (!r) die("host route 2");
    on(r, "GET", say_userdata);
    r = eddy_app_add_host_route(g.app, "[a-z]+\\.wild\\.test", EDDY_NTS, "/host", EDDY_NTS,
                                (void *)"wild", NULL);
    if (!r) die("host route 3");
    on(r, "GET", say_userdata);
    on(route("/host", "default"), "GET", say_userdata);

    r = route("/rev/([^/]+)/item/([0-9]+)", NULL);
    g.rc_route_name = eddy_route_set_name(r, "rev", EDDY_NTS);
    on(r, "GET", path_args_json);
    r = route("/lit/reverse", NULL);
    eddy_route_set_name(r, "lit", EDDY_NTS);
    on(r, "GET", path_args_json);
    on(route("/reverse", NULL), "GET", reverse_get);
    {
        char out[64];
        size_t out_len = 0;
        g.rc_reverse_unknown =
            eddy_app_reverse_url(g.app, "nope", EDDY_NTS, NULL, NULL, 0, out, sizeof out, &out_len);
    }

    r = route("/life", NULL);
    eddy_route_set_default_headers(r, life_default_headers);
    eddy_route_set_prepare(r, life_prepare);
    eddy_route_set_on_finish(r, life_on_finish);
    on(r, "GET", life_get);
    on(r, "POST", life_post);

    r = route("/asyncprep", NULL);
    eddy_route_set_prepare(r, asyncprep_prepare);
    eddy_route_set_on_finish(r, life_on_finish);
    eddy_route_set_on_connection_close(r, asyncprep_close);
    on(r, "GET", asyncprep_get);
    log_id_event("null", eddy_handler_resume(NULL) == EDDY_EINVAL ? "resume EINVAL" : "resume ?");

    r = route("/dav", NULL);
    on(r, "PROPFIND", dav_propfind);
    g.rc_bad_method = eddy_route_on(r, "BAD METHOD", EDDY_NTS, dav_propfind);

    on(route("/delayed", NULL), "GET", delayed_get);
    r = route("/longpoll", NULL);
    on(r, "GET", longpoll_get);
    eddy_route_set_on_connection_close(r, longpoll_close);
    eddy_route_set_on_finish(r, longpoll_on_finish);
    on(route("/twice", NULL), "GET", twice_get);
    on(route("/flushhdr", NULL), "GET", flushhdr_get);

    r = route("/err", NULL);
    eddy_route_set_write_error(r, err_write_error);
    eddy_route_set_default_headers(r, life_default_headers);
    on(r, "GET", err_get);
    r = route("/err_plain", NULL);
    eddy_route_set_default_headers(r, life_default_headers);
    on(r, "GET", err_get);
    on(route("/err_after_flush", NULL), "GET", err_after_flush_get);

    on(route("/redirect", NULL), "GET", redirect_get);
    r = route("/require", NULL);
    on(r, "GET", require_any);
    on(r, "POST", require_any);
    r = route("/args", NULL);
    on(r, "GET", args_any);
    on(r, "POST", args_any);

    on(route("/cookie/get", NULL), "GET", cookie_get);
    on(route("/cookie/set", NULL), "GET", cookie_set);
    on(route("/cookie/clear", NULL), "GET", cookie_clear);
    on(route("/signed/set", NULL), "GET", signed_set);
    on(route("/signed/get", NULL), "GET", signed_get);

    on(route("/static_url", NULL), "GET", static_url_get);
    r = route("/xsrf", NULL);
    eddy_route_set_prepare(r, xsrf_prepare);
    on(r, "GET", xsrf_get);
    on(r, "POST", xsrf_post);
    on(r, "PUT", xsrf_post);
    on(r, "DELETE", xsrf_post);

    r = route("/xsrf_exempt", NULL);
    if (eddy_route_set_xsrf_check(r, 0) != 0 || eddy_route_set_xsrf_check(NULL, 0) != EDDY_EINVAL)
        die("xsrf check");
    on(r, "POST", xsrf_exempt_post);
    on(route("/clear", NULL), "GET", clear_get);
    on(route("/cookie/kept", NULL), "GET", cookie_kept_get);
    on(route("/no_content", NULL), "GET", no_content_get);
    on(route("/clear_after_flush", NULL), "GET", clear_after_flush_get);
    on(route("/etag_custom", NULL), "GET", etag_custom_get);

    on(route("/big", NULL), "GET", big_get);
    on(route("/stream", NULL), "GET", stream_get);

    r = route("/upload", NULL);
    eddy_route_set_prepare(r, upload_prepare);
    eddy_route_set_data_received(r, upload_data);
    eddy_route_set_on_connection_close(r, upload_close);
    on(r, "POST", upload_method);
    on(r, "PUT", upload_method);

    on(route("/nobody", NULL), "GET", nobody_get);
    r = route("/err_recursive", NULL);
    eddy_route_set_write_error(r, recursive_write_error);
    on(r, "GET", err_recursive_get);
    on(route("/etag_nts", NULL), "GET", etag_nts_get);
    on(route("/cookie/twice", NULL), "GET", cookie_twice_get);
    on(route("/ctl_header", NULL), "GET", ctl_header_get);

    on(route("/log", NULL), "GET", log_get);
    on(route("/stats", NULL), "GET", stats_get);
    on(route("/remove_server", NULL), "GET", remove_server_get);
    on(route("/listen_default", NULL), "GET", listen_default_get);
    on(route("/shutdown_remove", NULL), "GET", shutdown_remove_get);
    on(route("/shutdown_removed", NULL), "GET", shutdown_removed_get);

    g.rc_bad_pattern_null = eddy_app_add_route(g.app, "/bad/(", EDDY_NTS, NULL, NULL) == NULL;
    {
        /* a route of another application is refused */
        eddy_app *other = eddy_app_new(g.loop);
        if (!other) die("other app");
        eddy_route *foreign = eddy_app_add_route(other, "/foreign", EDDY_NTS, NULL, NULL);
        g.rc_default_foreign = eddy_app_set_default_route(g.app, foreign);
        eddy_app_free(other);
    }
    if (default_route) {
        r = route("/__default__", NULL);
        on(r, "GET", default_route_get);
        g.rc_default_route = eddy_app_set_default_route(g.app, r);
    }

    int rc = eddy_app_listen(g.app, host, port);
    if (rc != 0) {
        fprintf(stderr, "web_test_app: listen: %s\n", eddy_strerror(rc));
        return 2;
    }
    eddy_signal *sigint = eddy_signal_new(g.loop, SIGINT, on_signal, g.loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(g.loop, SIGTERM, on_signal, g.loop, NULL);
    if (second_server) printf("second on %s:%d\n", host, eddy_server_port(second_server));
    printf("listening on %s:%d\n", host, eddy_server_port(eddy_app_server(g.app)));
    fflush(stdout);
    rc = eddy_loop_run(g.loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    g.freeing_app = 1;
    eddy_app_free(g.app);
    eddy_loop_free(g.loop);
    for (size_t i = 0; i < g.log_len; i++) free(g.log[i]);
    return rc == 0 ? 0 : 1;
}
