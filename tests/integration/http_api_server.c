/* http_api_server: a test server exercising the HTTP server's C API (driven by
 * test_http_api.py over real sockets).
 *
 *   http_api_server [--port N] [--host H] [--unix PATH] [--idle-timeout S]
 *                   [--header-timeout S] [--body-timeout S] [--max-connections N]
 *                   [--xheaders] [--trusted-proxy IP]... [--decompress] [--no-keep-alive]
 *                   [--no-body-arguments]
 *                   [--max-body-size N] [--max-body-memory N] [--access-log PATH|-|stdout]
 *                   [--body-min-rate R[,G]] [--protocol P]
 *
 * An unknown option, or one given last without its value, exits 2 (examples/cmdline.h).
 * Prints "listening on unix:PATH" (with --unix) and then "listening on HOST:PORT" once ready.
 * SIGTERM/SIGINT stop the loop; the program frees everything and exits 0. SIGUSR1 answers the
 * requests /held holds.
 *
 * Routes (return codes of API calls are reported in the body or in /stats):
 *   /status?code=N[&reason=R]  set_status(N, R); body {"rc":rc}
 *   /reason_check              invalid set_status calls; body {"rcs":[...]}, then 299 Custom OK
 *   /headers                   set/add/clear header and header-injection return codes
 *   /after_flush               set_status/set_header after the first flush (chunk = rcs)
 *   /cookies                   two Set-Cookie via add_header
 *   /own_fields                the application's own Server and Date (any case), and a
 *                              replace that grows a value between other fields
 *   /auto_length               "hello world" with the automatic Content-Length
 *   /cl_exact                  declared Content-Length 5, "hello"
 *   /cl_over[?flush=1]         declared Content-Length 5, writes 6 bytes (rcs in /stats)
 *   /cl_short                  declared Content-Length 10, writes 5 bytes
 *   /abort?mode=M              eddy_request_abort after: "chunks" two chunks (the first
 *                              flushed), "length" 4 of a declared 20 bytes flushed, "nohead"
 *                              a write and no flush (abort_rc in /stats)
 *   /nobody?code=N             status N (204/304); X-Write-RC: rc of a write
 *   /stream?n=N&ms=M           N chunks "chunk-i\n", each flushed, M ms apart
 *   /deferred?ms=M&id=X        finished from eddy_loop_call_later after M ms
 *   /held?id=X                 "held id=X", answered only when the process gets SIGUSR1 (a
 *                              request in flight for as long as a test needs; "held" in /stats)
 *   /big?kb=N                  N KiB of 'x' (declared length), written at once and finished
 *   /bigflow?kb=N              N KiB of 'x' (declared length) in 64 KiB pieces, each written
 *                              once the last reached the kernel (flush-callback backpressure:
 *                              the request stays unfinished while a client does not read)
 *   /longpoll                  never answered; close callback, later write/finish (in /stats)
 *   /echo                      JSON: request line, headers, body, arguments, files, peer
 *   /upload[?pause=1]          streamed body (headers callback): bytes, adler32, chunks,
 *                              max_chunk; pause_ms=M holds the body M ms after its first
 *                              piece; hold_ms=M holds it M ms from the headers callback on
 *                              (before its first byte), then resumes, or with answer=N
 *                              answers status N instead (the body unread); the holds that
 *                              ended are counted (upload_hold_ends in /stats); flush_head=1
 *                              flushes the answer's head from the headers callback;
 *                              min_rate=R,G sets the request's minimum body rate;
 *                              rate_after=R,G and timeout_after=S set the rate or the body
 *                              timeout at the first piece (mid-body); late_rc is what
 *                              set_body_min_rate returns once the body is complete
 *   /sink                      streamed body without a close callback: {"bytes":N,"ended":E};
 *                              its userdata's release is counted (sink_released in /stats)
 *   /limited                   per-request max body size 1024
 *   /forbidden                 403 answered from the headers callback
 *   /shutdown                  eddy_server_shutdown(); "shutdown done" printed from done
 *   /stats                     counters
 *   /accesslog                 recent access-log callback entries
 */
#include <eddy/eddy.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmdline.h"

#include "json_buf.h"

/* ---- global state ------------------------------------------------------------------------ */

#define LOG_ENTRIES 64

typedef struct {
    char method[16];
    char uri[256];
    int status;
    unsigned long long bytes;
    double duration;
} access_entry;

static struct {
    eddy_loop *loop;
    eddy_server *server;
    long flush_ok, flush_closed;
    long longpoll_started, longpoll_close_cb, longpoll_done;
    int longpoll_conn_closed, longpoll_write_rc, longpoll_flush_rc, longpoll_finish_rc;
    long cl_over_count;
    int cl_over_rc1, cl_over_rc2, cl_over_rc3, cl_over_closed, cl_over_flush_rc, cl_over_finish_rc;
    int abort_rc;
    long headers_cb;
    int limited_rc;
    long upload_close_cb;
    long
        upload_hold_ends; /* holds (pause_ms, hold_ms) that ended: the server resumed or answered */
    long sink_started, sink_released;
    long access_count;
    access_entry access[LOG_ENTRIES];
    int shutdown_started;
    eddy_request *held[16];
    int held_count;
} g;

static void reply(eddy_request *req, int status, const char *ctype, const char *body, size_t len) {
    if (status) eddy_request_set_status(req, status, NULL, 0);
    if (ctype) eddy_request_set_header(req, "Content-Type", EDDY_NTS, ctype, EDDY_NTS);
    eddy_request_write(req, body, len);
    eddy_request_finish(req);
}

static void reply_buf(eddy_request *req, buf_t *b) {
    reply(req, 0, "application/json", b->data ? b->data : "", b->len);
    free(b->data);
}

static const char *arg(eddy_request *req, const char *name) {
    return eddy_request_argument(req, EDDY_ARGS_QUERY, name, EDDY_NTS, NULL);
}

static int path_is(eddy_request *req, const char *p) {
    return strcmp(eddy_request_path(req, NULL), p) == 0;
}

/* ---- adler32 (zlib's definition) ----------------------------------------------------------- */

static void adler_update(uint32_t *a, uint32_t *b, const unsigned char *p, size_t n) {
    uint32_t s1 = *a, s2 = *b;
    while (n > 0) {
        size_t k = n < 5552 ? n : 5552;
        n -= k;
        while (k--) {
            s1 += *p++;
            s2 += s1;
        }
        s1 %= 65521;
        s2 %= 65521;
    }
    *a = s1;
    *b = s2;
}

/* ---- /stream ------------------------------------------------------------------------------ */

typedef struct {
    eddy_request *req;
    int i, n;
    double delay;
} stream_state;

static void on_flushed(eddy_request *req, int status, void *userdata) {
    (void)req;
    (void)userdata;
    if (status == 0) g.flush_ok++;
    else g.flush_closed++;
}

static void stream_step(eddy_loop *loop, void *userdata) {
    stream_state *st = userdata;
    eddy_request *req = st->req;
    if (st->i >= st->n) {
        eddy_request_finish(req); /* frees st (request userdata) */
        return;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "chunk-%d\n", st->i);
    st->i++;
    int rc = eddy_request_write(req, line, (size_t)len);
    if (rc == 0) rc = eddy_request_flush(req, on_flushed);
    if (rc != 0) {
        eddy_request_finish(req);
        return;
    }
    eddy_loop_call_later(loop, st->delay, stream_step, st, NULL);
}

/* ---- /deferred ---------------------------------------------------------------------------- */

static void deferred_fire(eddy_loop *loop, void *userdata) {
    (void)loop;
    eddy_request *req = userdata;
    const char *id = arg(req, "id");
    buf_t b = {0};
    buf_printf(&b, "deferred id=%s", id ? id : "-");
    eddy_request_set_header(req, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_request_write(req, b.data, b.len);
    eddy_request_finish(req);
    free(b.data);
}

/* ---- /longpoll ---------------------------------------------------------------------------- */

static void longpoll_after_close(eddy_loop *loop, void *userdata) {
    (void)loop;
    eddy_request *req = userdata;
    g.longpoll_conn_closed = eddy_request_connection_closed(req);
    g.longpoll_write_rc = eddy_request_write(req, "late", 4);
    g.longpoll_flush_rc = eddy_request_flush(req, NULL);
    g.longpoll_finish_rc = eddy_request_finish(req);
    g.longpoll_done++;
}

static void longpoll_closed(eddy_request *req, void *userdata) {
    (void)userdata;
    g.longpoll_close_cb++;
    eddy_loop_call_later(g.loop, 0.01, longpoll_after_close, req, NULL);
}

/* ---- /upload (streamed request body) ---------------------------------------------------- */

typedef struct {
    eddy_request *req;
    uint32_t a, b;
    unsigned long long bytes;
    size_t max_chunk; /* the largest piece one call got */
    long chunks, pauses, resumes;
    int pause, ended, bad_rc;
    double pause_ms; /* pause_ms=M: hold the body M ms after its first piece (once) */
    int answer;      /* hold_ms=M&answer=N: answer N when the hold ends, instead of resuming */
    double rate_after, grace_after, timeout_after; /* set at the first piece (if >= 0) */
    int late_rc;                                   /* set_body_min_rate after the body */
    eddy_call_id resume_id;
} upload_state;

static void upload_resume(eddy_loop *loop, void *userdata) {
    (void)loop;
    upload_state *u = userdata;
    u->resume_id = 0;
    if (!u->pause) g.upload_hold_ends++; /* (pause=1's 1 ms holds are not counted) */
    int rc = eddy_request_resume_body(u->req);
    if (rc != 0) u->bad_rc = rc;
    u->resumes++;
}

/* hold_ms: the hold from the headers callback ends: read the body, or answer without it. */
static void upload_hold_end(eddy_loop *loop, void *userdata) {
    upload_state *u = userdata;
    if (!u->answer) {
        upload_resume(loop, userdata);
        return;
    }
    u->resume_id = 0;
    g.upload_hold_ends++;
    eddy_request *req = u->req;
    eddy_request_set_status(req, u->answer, NULL, 0);
    eddy_request_write(req, "refused", 7);
    eddy_request_finish(req); /* releases the request, and u with it */
}

static void upload_data(eddy_request *req, const char *data, size_t len, void *userdata) {
    upload_state *u = userdata;
    (void)req;
    adler_update(&u->a, &u->b, (const unsigned char *)data, len);
    u->bytes += len;
    if (len > u->max_chunk) u->max_chunk = len;
    u->chunks++;
    if (u->chunks == 1 && u->rate_after >= 0) {
        int rc = eddy_request_set_body_min_rate(u->req, u->rate_after, u->grace_after);
        if (rc != 0) u->bad_rc = rc;
    }
    if (u->chunks == 1 && u->timeout_after >= 0) {
        int rc = eddy_request_set_body_timeout(u->req, u->timeout_after);
        if (rc != 0) u->bad_rc = rc;
    }
    if (u->pause || (u->pause_ms > 0 && u->chunks == 1)) {
        int rc = eddy_request_pause_body(u->req);
        if (rc != 0) {
            u->bad_rc = rc;
            return;
        }
        u->pauses++;
        double delay = u->pause ? 0.001 : u->pause_ms / 1000.0;
        u->resume_id = eddy_loop_call_later(g.loop, delay, upload_resume, u, NULL);
    }
}

static void upload_end(eddy_request *req, void *userdata) {
    upload_state *u = userdata;
    u->ended++;
    u->late_rc = eddy_request_set_body_min_rate(req, 100, 1); /* the body is complete */
}

static void upload_closed(eddy_request *req, void *userdata) {
    upload_state *u = userdata;
    g.upload_close_cb++;
    if (u->resume_id) eddy_loop_cancel(g.loop, u->resume_id);
    u->resume_id = 0;
    eddy_request_finish(req);
}

static void upload_reply(eddy_request *req) {
    upload_state *u = eddy_request_get_userdata(req);
    buf_t b = {0};
    size_t body_len = 0;
    eddy_request_body(req, &body_len);
    buf_printf(&b,
               "{\"bytes\":%llu,\"adler32\":%lu,\"chunks\":%ld,\"pauses\":%ld,\"resumes\":%ld,"
               "\"ended\":%d,\"bad_rc\":%d,\"body_len\":%zu,\"max_chunk\":%zu,\"late_rc\":%d}",
               u ? u->bytes : 0ULL, u ? (unsigned long)((u->b << 16) | u->a) : 0UL,
               u ? u->chunks : 0L, u ? u->pauses : 0L, u ? u->resumes : 0L, u ? u->ended : 0,
               u ? u->bad_rc : 0, body_len, u ? u->max_chunk : 0, u ? u->late_rc : 0);
    reply_buf(req, &b);
}

/* A streamed body without a close callback: the request is ours only inside the callbacks, and
 * when the body is cut short the server releases it (and this userdata) without a call. */
typedef struct {
    unsigned long long bytes;
    int ended;
} sink_state;

static void sink_release(void *userdata) {
    g.sink_released++;
    free(userdata);
}

static void sink_data(eddy_request *req, const char *data, size_t len, void *userdata) {
    (void)req;
    (void)data;
    ((sink_state *)userdata)->bytes += len;
}

static void sink_end(eddy_request *req, void *userdata) {
    (void)req;
    ((sink_state *)userdata)->ended++;
}

static void sink_reply(eddy_request *req) {
    sink_state *s = eddy_request_get_userdata(req);
    buf_t b = {0};
    buf_printf(&b, "{\"bytes\":%llu,\"ended\":%d}", s ? s->bytes : 0ULL, s ? s->ended : 0);
    reply_buf(req, &b);
}

/* ---- headers callback ---------------------------------------------------------------------- */

static void on_headers(eddy_request *req, void *userdata) {
    (void)userdata;
    g.headers_cb++;
    if (path_is(req, "/upload")) {
        upload_state *u = calloc(1, sizeof *u);
        u->req = req;
        u->a = 1;
        const char *p = arg(req, "pause");
        u->pause = p && strcmp(p, "1") == 0;
        const char *pm = arg(req, "pause_ms");
        u->pause_ms = pm ? atof(pm) : 0;
        const char *mr = arg(req, "min_rate"); /* min_rate=R,G: this request's minimum rate */
        if (mr) {
            char *end = NULL;
            double rate = strtod(mr, &end);
            double grace = end && *end == ',' ? atof(end + 1) : 0;
            int rc = eddy_request_set_body_min_rate(req, rate, grace);
            if (rc != 0) u->bad_rc = rc;
        }
        const char *ra = arg(req, "rate_after"); /* rate_after=R,G: at the first piece */
        u->rate_after = u->timeout_after = -1;
        if (ra) {
            char *end = NULL;
            u->rate_after = strtod(ra, &end);
            u->grace_after = end && *end == ',' ? atof(end + 1) : 0;
        }
        const char *ta = arg(req, "timeout_after"); /* timeout_after=S: at the first piece */
        if (ta) u->timeout_after = atof(ta);
        eddy_request_set_userdata(req, u, free);
        eddy_request_set_close_callback(req, upload_closed);
        int rc = eddy_request_stream_body(req, upload_data, upload_end);
        if (rc != 0) u->bad_rc = rc;
        const char *fh = arg(req, "flush_head"); /* the answer's head before the body */
        if (fh && strcmp(fh, "1") == 0 && rc == 0) {
            rc = eddy_request_flush(req, NULL);
            if (rc != 0) u->bad_rc = rc;
        }
        const char *hm = arg(req, "hold_ms"); /* hold_ms=M: hold the body from here on */
        if (hm && rc == 0) {
            const char *an = arg(req, "answer");
            u->answer = an ? atoi(an) : 0;
            rc = eddy_request_pause_body(req);
            if (rc != 0) {
                u->bad_rc = rc;
            } else {
                u->pauses++;
                u->resume_id =
                    eddy_loop_call_later(g.loop, atof(hm) / 1000.0, upload_hold_end, u, NULL);
            }
        }
    } else if (path_is(req, "/sink")) {
        g.sink_started++;
        eddy_request_set_userdata(req, calloc(1, sizeof(sink_state)), sink_release);
        eddy_request_stream_body(req, sink_data, sink_end);
    } else if (path_is(req, "/limited")) {
        g.limited_rc = eddy_request_set_max_body_size(req, 1024);
    } else if (path_is(req, "/forbidden")) {
        eddy_request_set_status(req, 403, NULL, 0);
        eddy_request_write(req, "forbidden", 9);
        eddy_request_finish(req);
    }
}

/* ---- access log ------------------------------------------------------------------------------ */

static void on_access(eddy_request *req, void *userdata) {
    (void)userdata;
    access_entry *e = &g.access[g.access_count % LOG_ENTRIES];
    g.access_count++;
    snprintf(e->method, sizeof e->method, "%s", eddy_request_method(req, NULL));
    snprintf(e->uri, sizeof e->uri, "%s", eddy_request_uri(req, NULL));
    e->status = eddy_request_response_status(req);
    e->bytes = (unsigned long long)eddy_request_bytes_sent(req);
    e->duration = eddy_request_duration(req);
}

/* ---- /held --------------------------------------------------------------------------------- */

/* SIGUSR1: every held request is answered (or, its client gone, released). */
static void release_held(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    (void)userdata;
    for (int i = 0; i < g.held_count; i++) {
        eddy_request *req = g.held[i];
        const char *id = arg(req, "id");
        buf_t b = {0};
        buf_printf(&b, "held id=%s", id ? id : "-");
        reply(req, 0, "text/plain", b.data, b.len);
        free(b.data);
    }
    g.held_count = 0;
}

/* ---- shutdown ------------------------------------------------------------------------------- */

static void on_shutdown_done(eddy_server *server, void *userdata) {
    (void)server;
    (void)userdata;
    printf("shutdown done\n");
    fflush(stdout);
    eddy_loop_stop(g.loop);
}

/* ---- routes ---------------------------------------------------------------------------------- */

static void add_args(buf_t *b, eddy_request *req, int sources) {
    buf_add(b, "[", 1);
    size_t n = eddy_request_argument_count(req, sources);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nl, vl;
        if (eddy_request_argument_at(req, sources, i, &name, &nl, &value, &vl) != 0) break;
        if (i) buf_add(b, ",", 1);
        buf_add(b, "[", 1);
        buf_json(b, name, nl);
        buf_add(b, ",", 1);
        buf_json(b, value, vl);
        buf_add(b, "]", 1);
    }
    buf_add(b, "]", 1);
}

static void route_echo(eddy_request *req) {
    buf_t b = {0};
    size_t len;
    const char *s;
    buf_adds(&b, "{\"method\":");
    s = eddy_request_method(req, &len);
    buf_json(&b, s, len);
    buf_adds(&b, ",\"uri\":");
    s = eddy_request_uri(req, &len);
    buf_json(&b, s, len);
    buf_adds(&b, ",\"path\":");
    s = eddy_request_path(req, &len);
    buf_json(&b, s, len);
    buf_adds(&b, ",\"query\":");
    s = eddy_request_query(req, &len);
    buf_json(&b, s, len);
    buf_printf(&b, ",\"version\":%d", eddy_request_version(req));
    buf_adds(&b, ",\"host\":");
    s = eddy_request_host(req, &len);
    buf_json(&b, s, len);
    buf_adds(&b, ",\"scheme\":");
    buf_jsons(&b, eddy_request_scheme(req));
    buf_adds(&b, ",\"remote_ip\":");
    buf_jsons(&b, eddy_request_remote_ip(req));
    buf_printf(&b, ",\"remote_port\":%d", eddy_request_remote_port(req));
    buf_adds(&b, ",\"headers\":[");
    size_t count = eddy_request_header_count(req);
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;
        size_t nl, vl;
        eddy_request_header_at(req, i, &name, &nl, &value, &vl);
        if (i) buf_add(&b, ",", 1);
        buf_add(&b, "[", 1);
        buf_json(&b, name, nl);
        buf_add(&b, ",", 1);
        buf_json(&b, value, vl);
        buf_add(&b, "]", 1);
    }
    buf_adds(&b, "],\"body\":");
    s = eddy_request_body(req, &len);
    buf_json(&b, s, len);
    buf_printf(&b, ",\"body_len\":%zu", len);
    buf_adds(&b, ",\"args_query\":");
    add_args(&b, req, EDDY_ARGS_QUERY);
    buf_adds(&b, ",\"args_body\":");
    add_args(&b, req, EDDY_ARGS_BODY);
    buf_adds(&b, ",\"args_all\":");
    add_args(&b, req, EDDY_ARGS_ALL);
    buf_adds(&b, ",\"first_a\":");
    s = eddy_request_argument(req, EDDY_ARGS_ALL, "a", EDDY_NTS, &len);
    buf_json(&b, s, s ? len : 0);
    buf_adds(&b, ",\"missing\":");
    s = eddy_request_argument(req, EDDY_ARGS_ALL, "no-such-argument", EDDY_NTS, &len);
    buf_json(&b, s, s ? len : 0);
    buf_adds(&b, ",\"files\":[");
    size_t files = eddy_request_file_count(req);
    for (size_t i = 0; i < files; i++) {
        const char *field, *filename, *ctype, *body;
        size_t blen;
        if (eddy_request_file_at(req, i, &field, &filename, &ctype, &body, &blen) != 0) break;
        if (i) buf_add(&b, ",", 1);
        buf_adds(&b, "{\"field\":");
        buf_jsons(&b, field);
        buf_adds(&b, ",\"filename\":");
        buf_jsons(&b, filename);
        buf_adds(&b, ",\"content_type\":");
        buf_jsons(&b, ctype);
        buf_adds(&b, ",\"body\":");
        buf_json(&b, body, blen);
        buf_adds(&b, "}");
    }
    buf_printf(&b, "],\"file_at_out_of_range\":%d}",
               eddy_request_file_at(req, files, NULL, NULL, NULL, NULL, NULL));
    reply_buf(req, &b);
}

static void route_headers(eddy_request *req) {
    int rc[24];
    int i = 0;
    rc[i++] = eddy_request_set_header(req, "X-A", EDDY_NTS, "1", EDDY_NTS);
    rc[i++] = eddy_request_set_header(req, "x-a", EDDY_NTS, "2", EDDY_NTS); /* replaces */
    rc[i++] = eddy_request_add_header(req, "X-B", EDDY_NTS, "b1", EDDY_NTS);
    rc[i++] = eddy_request_add_header(req, "X-B", EDDY_NTS, "b2", EDDY_NTS);
    rc[i++] = eddy_request_set_header(req, "X-C", EDDY_NTS, "gone", EDDY_NTS);
    rc[i++] = eddy_request_clear_header(req, "x-c", EDDY_NTS);
    rc[i++] = eddy_request_clear_header(req, "X-Never-Set", EDDY_NTS);
    /* injection attempts: all must be EDDY_EINVAL and send nothing */
    rc[i++] = eddy_request_set_header(req, "X-Bad1", EDDY_NTS, "a\r\nX-Injected: 1", EDDY_NTS);
    rc[i++] = eddy_request_set_header(req, "X-Bad2", EDDY_NTS, "a\nX-Injected: 2", EDDY_NTS);
    rc[i++] = eddy_request_set_header(req, "X-Bad3", EDDY_NTS, "a\rb", EDDY_NTS);
    rc[i++] = eddy_request_add_header(req, "X-Bad4", EDDY_NTS, "a\0X-Injected: 4", 15);
    rc[i++] = eddy_request_set_header(req, "X Bad5", EDDY_NTS, "v", EDDY_NTS);
    rc[i++] = eddy_request_add_header(req, "X-Bad6:", EDDY_NTS, "v", EDDY_NTS);
    rc[i++] = eddy_request_set_header(req, "", EDDY_NTS, "v", EDDY_NTS);
    rc[i++] = eddy_request_add_header(req, "X-Bad7\r\nX-Injected", EDDY_NTS, "7", EDDY_NTS);
    /* a Content-Length no response can have (2^63, over 2^64) or that is no number */
    rc[i++] =
        eddy_request_set_header(req, "Content-Length", EDDY_NTS, "9223372036854775808", EDDY_NTS);
    rc[i++] =
        eddy_request_set_header(req, "Content-Length", EDDY_NTS, "18446744073709551616", EDDY_NTS);
    rc[i++] = eddy_request_set_header(req, "Content-Length", EDDY_NTS, "+5", EDDY_NTS);
    /* a value with length (not NUL-terminated use) and an empty value are fine */
    rc[i++] = eddy_request_set_header(req, "X-Len", EDDY_NTS, "abcdef", 3);
    rc[i++] = eddy_request_set_header(req, "X-Empty", EDDY_NTS, "", EDDY_NTS);
    buf_t b = {0};
    buf_adds(&b, "{\"rcs\":[");
    for (int k = 0; k < i; k++) buf_printf(&b, "%s%d", k ? "," : "", rc[k]);
    buf_adds(&b, "]}");
    reply_buf(req, &b);
}

static void route_after_flush(eddy_request *req) {
    eddy_request_set_header(req, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_request_write(req, "first\n", 6);
    int f = eddy_request_flush(req, NULL);
    int s = eddy_request_set_status(req, 500, NULL, 0);
    int h = eddy_request_set_header(req, "X-Late", EDDY_NTS, "1", EDDY_NTS);
    int a = eddy_request_add_header(req, "X-Late", EDDY_NTS, "1", EDDY_NTS);
    int c = eddy_request_clear_header(req, "Content-Type", EDDY_NTS);
    char line[128];
    int n = snprintf(line, sizeof line, "flush=%d status=%d set=%d add=%d clear=%d\n", f, s, h, a, c);
    eddy_request_write(req, line, (size_t)n);
    int fin = eddy_request_finish(req);
    (void)fin;
}

static void route_reason_check(eddy_request *req) {
    int rc[12];
    int i = 0;
    rc[i++] = eddy_request_set_status(req, 200, "bad<reason", EDDY_NTS);
    rc[i++] = eddy_request_set_status(req, 200, "bad\rreason", EDDY_NTS);
    rc[i++] = eddy_request_set_status(req, 200, "bad\nreason", EDDY_NTS);
    rc[i++] = eddy_request_set_status(req, 200, "bad\0reason", 10);
    rc[i++] = eddy_request_set_status(req, 101, NULL, 0);
    rc[i++] = eddy_request_set_status(req, 100, NULL, 0);
    rc[i++] = eddy_request_set_status(req, 103, NULL, 0);
    rc[i++] = eddy_request_set_status(req, 199, NULL, 0);
    rc[i++] = eddy_request_set_status(req, 99, NULL, 0);
    rc[i++] = eddy_request_set_status(req, 600, NULL, 0);
    rc[i++] = eddy_request_set_status(req, 299, "Custom OK", EDDY_NTS);
    buf_t b = {0};
    buf_adds(&b, "{\"rcs\":[");
    for (int k = 0; k < i; k++) buf_printf(&b, "%s%d", k ? "," : "", rc[k]);
    buf_adds(&b, "]}");
    reply_buf(req, &b);
}

static void route_stats(eddy_request *req) {
    buf_t b = {0};
    buf_printf(&b, "{\"flush_ok\":%ld,\"flush_closed\":%ld", g.flush_ok, g.flush_closed);
    buf_printf(&b, ",\"longpoll_started\":%ld,\"longpoll_close_cb\":%ld,\"longpoll_done\":%ld",
               g.longpoll_started, g.longpoll_close_cb, g.longpoll_done);
    buf_printf(&b, ",\"longpoll_conn_closed\":%d,\"longpoll_write_rc\":%d", g.longpoll_conn_closed,
               g.longpoll_write_rc);
    buf_printf(&b, ",\"longpoll_flush_rc\":%d,\"longpoll_finish_rc\":%d", g.longpoll_flush_rc,
               g.longpoll_finish_rc);
    buf_printf(&b, ",\"cl_over_count\":%ld,\"cl_over_rc1\":%d,\"cl_over_rc2\":%d", g.cl_over_count,
               g.cl_over_rc1, g.cl_over_rc2);
    buf_printf(&b, ",\"cl_over_rc3\":%d,\"cl_over_closed\":%d,\"cl_over_flush_rc\":%d",
               g.cl_over_rc3, g.cl_over_closed, g.cl_over_flush_rc);
    buf_printf(&b, ",\"cl_over_finish_rc\":%d,\"headers_cb\":%ld,\"limited_rc\":%d",
               g.cl_over_finish_rc, g.headers_cb, g.limited_rc);
    buf_printf(&b, ",\"abort_rc\":%d", g.abort_rc);
    buf_printf(&b, ",\"upload_hold_ends\":%ld", g.upload_hold_ends);
    buf_printf(&b, ",\"upload_close_cb\":%ld,\"access_count\":%ld", g.upload_close_cb,
               g.access_count);
    buf_printf(&b, ",\"sink_started\":%ld,\"sink_released\":%ld", g.sink_started,
               g.sink_released);
    buf_printf(&b, ",\"held\":%d", g.held_count);
    buf_printf(&b, ",\"connections\":%zu}", eddy_server_connection_count(g.server));
    reply_buf(req, &b);
}

static void route_accesslog(eddy_request *req) {
    buf_t b = {0};
    buf_adds(&b, "[");
    long first = g.access_count > LOG_ENTRIES ? g.access_count - LOG_ENTRIES : 0;
    for (long k = first; k < g.access_count; k++) {
        access_entry *e = &g.access[k % LOG_ENTRIES];
        if (k != first) buf_add(&b, ",", 1);
        buf_adds(&b, "{\"method\":");
        buf_jsons(&b, e->method);
        buf_adds(&b, ",\"uri\":");
        buf_jsons(&b, e->uri);
        buf_printf(&b, ",\"status\":%d,\"bytes\":%llu,\"duration\":%.6f}", e->status, e->bytes,
                   e->duration);
    }
    buf_adds(&b, "]");
    reply_buf(req, &b);
}

/* A large answer queued whole: what a slow or absent reader leaves in the server's buffers. */
static void route_big(eddy_request *req, size_t kb) {
    static char block[1024];
    if (!block[0]) memset(block, 'x', sizeof block);
    char len[32];
    snprintf(len, sizeof len, "%zu", kb * sizeof block);
    eddy_request_set_header(req, "Content-Type", EDDY_NTS, "application/octet-stream", EDDY_NTS);
    eddy_request_set_header(req, "Content-Length", EDDY_NTS, len, EDDY_NTS);
    for (size_t i = 0; i < kb; i++) eddy_request_write(req, block, sizeof block);
    eddy_request_finish(req);
}

/* /bigflow: the next 64 KiB only once the previous piece reached the kernel, as a proxy or a
 * file streamer writes; `left` counts the pieces still to send. */
typedef struct {
    size_t left;
} flow_state;

static void flow_next(eddy_request *req, int status, void *userdata) {
    static char piece[65536];
    flow_state *f = userdata;
    if (!piece[0]) memset(piece, 'x', sizeof piece);
    if (status != 0 || f->left == 0 || eddy_request_write(req, piece, sizeof piece) != 0) {
        eddy_request_finish(req); /* frees f (request userdata) */
        return;
    }
    f->left--;
    if (eddy_request_flush(req, flow_next) != 0) eddy_request_finish(req);
}

static void route_bigflow(eddy_request *req, size_t kb) {
    flow_state *f = calloc(1, sizeof *f);
    if (!f) {
        reply(req, 503, "text/plain", "no memory", 9);
        return;
    }
    f->left = kb / 64;
    char len[32];
    snprintf(len, sizeof len, "%zu", f->left * 65536);
    eddy_request_set_userdata(req, f, free);
    eddy_request_set_header(req, "Content-Type", EDDY_NTS, "application/octet-stream", EDDY_NTS);
    eddy_request_set_header(req, "Content-Length", EDDY_NTS, len, EDDY_NTS);
    flow_next(req, 0, f);
}

static void on_request(eddy_request *req, void *userdata) {
    (void)userdata;
    const char *s;
    if (path_is(req, "/status")) {
        s = arg(req, "code");
        const char *reason = arg(req, "reason");
        int rc = eddy_request_set_status(req, s ? atoi(s) : 200, reason, EDDY_NTS);
        char body[64];
        int n = snprintf(body, sizeof body, "{\"rc\":%d}", rc);
        reply(req, 0, "application/json", body, (size_t)n);
    } else if (path_is(req, "/reason_check")) {
        route_reason_check(req);
    } else if (path_is(req, "/headers")) {
        route_headers(req);
    } else if (path_is(req, "/after_flush")) {
        route_after_flush(req);
    } else if (path_is(req, "/cookies")) {
        eddy_request_add_header(req, "Set-Cookie", EDDY_NTS, "a=1; Path=/", EDDY_NTS);
        eddy_request_add_header(req, "Set-Cookie", EDDY_NTS, "b=2", EDDY_NTS);
        reply(req, 0, "text/plain", "cookies", 7);
    } else if (path_is(req, "/own_fields")) {
        eddy_request_set_header(req, "X-First", EDDY_NTS, "1", EDDY_NTS);
        eddy_request_set_header(req, "server", EDDY_NTS, "own-server/2", EDDY_NTS);
        eddy_request_add_header(req, "X-Grow", EDDY_NTS, "short", EDDY_NTS);
        eddy_request_add_header(req, "X-Middle", EDDY_NTS, "m", EDDY_NTS);
        eddy_request_add_header(req, "x-grow", EDDY_NTS, "second", EDDY_NTS);
        eddy_request_set_header(req, "DATE", EDDY_NTS, "Tue, 01 Jan 2030 00:00:00 GMT", EDDY_NTS);
        eddy_request_set_header(req, "X-Grow", EDDY_NTS,
                                "a value much longer than the one it replaces, to move the rest",
                                EDDY_NTS);
        reply(req, 0, "text/plain", "own", 3);
    } else if (path_is(req, "/auto_length")) {
        eddy_request_set_header(req, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
        eddy_request_write(req, "hello", 5);
        eddy_request_write(req, " world", 6);
        eddy_request_finish(req);
    } else if (path_is(req, "/cl_exact")) {
        eddy_request_set_header(req, "Content-Length", EDDY_NTS, "5", EDDY_NTS);
        eddy_request_write(req, "hello", 5);
        eddy_request_finish(req);
    } else if (path_is(req, "/cl_over")) {
        int flush = (s = arg(req, "flush")) && strcmp(s, "1") == 0;
        eddy_request_set_header(req, "Content-Length", EDDY_NTS, "5", EDDY_NTS);
        if (flush) {
            g.cl_over_rc1 = eddy_request_write(req, "hel", 3);
            eddy_request_flush(req, on_flushed);
            g.cl_over_rc2 = eddy_request_write(req, "lo!", 3);
        } else {
            g.cl_over_rc1 = eddy_request_write(req, "hello", 5);
            g.cl_over_rc2 = eddy_request_write(req, "!", 1);
        }
        /* the connection is closed now: everything after must say so */
        g.cl_over_closed = eddy_request_connection_closed(req);
        g.cl_over_rc3 = eddy_request_write(req, "?", 1);
        g.cl_over_flush_rc = eddy_request_flush(req, NULL);
        g.cl_over_finish_rc = eddy_request_finish(req);
        g.cl_over_count++;
    } else if (path_is(req, "/cl_short")) {
        eddy_request_set_header(req, "Content-Length", EDDY_NTS, "10", EDDY_NTS);
        eddy_request_write(req, "hello", 5);
        eddy_request_finish(req);
    } else if (path_is(req, "/abort")) {
        s = arg(req, "mode");
        if (s && strcmp(s, "length") == 0) {
            eddy_request_set_header(req, "Content-Length", EDDY_NTS, "20", EDDY_NTS);
            eddy_request_write(req, "part", 4);
            eddy_request_flush(req, NULL);
        } else if (s && strcmp(s, "nohead") == 0) {
            eddy_request_write(req, "never sent", 10);
        } else {
            eddy_request_write(req, "part-1\n", 7);
            eddy_request_flush(req, NULL);
            eddy_request_write(req, "part-2\n", 7); /* written, not flushed: goes out too */
        }
        g.abort_rc = eddy_request_abort(req);
    } else if (path_is(req, "/nobody")) {
        s = arg(req, "code");
        eddy_request_set_status(req, s ? atoi(s) : 204, NULL, 0);
        int rc = eddy_request_write(req, "x", 1);
        char v[16];
        snprintf(v, sizeof v, "%d", rc);
        eddy_request_set_header(req, "X-Write-RC", EDDY_NTS, v, EDDY_NTS);
        eddy_request_finish(req);
    } else if (path_is(req, "/stream")) {
        stream_state *st = calloc(1, sizeof *st);
        st->req = req;
        st->n = (s = arg(req, "n")) ? atoi(s) : 3;
        st->delay = ((s = arg(req, "ms")) ? atoi(s) : 10) / 1000.0;
        eddy_request_set_userdata(req, st, free);
        eddy_request_set_header(req, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
        stream_step(g.loop, st);
    } else if (path_is(req, "/deferred")) {
        double ms = (s = arg(req, "ms")) ? atof(s) : 100;
        eddy_loop_call_later(g.loop, ms / 1000.0, deferred_fire, req, NULL);
    } else if (path_is(req, "/held")) {
        if (g.held_count == (int)(sizeof g.held / sizeof g.held[0]))
            reply(req, 503, "text/plain", "too many held", 13);
        else
            g.held[g.held_count++] = req;
    } else if (path_is(req, "/big")) {
        route_big(req, (s = arg(req, "kb")) ? (size_t)atol(s) : 1024);
    } else if (path_is(req, "/bigflow")) {
        route_bigflow(req, (s = arg(req, "kb")) ? (size_t)atol(s) : 1024);
    } else if (path_is(req, "/longpoll")) {
        g.longpoll_started++;
        eddy_request_set_close_callback(req, longpoll_closed);
    } else if (path_is(req, "/echo")) {
        route_echo(req);
    } else if (path_is(req, "/upload")) {
        upload_reply(req);
    } else if (path_is(req, "/sink")) {
        sink_reply(req);
    } else if (path_is(req, "/limited")) {
        size_t len = 0;
        eddy_request_body(req, &len);
        char body[64];
        int n = snprintf(body, sizeof body, "{\"body_len\":%zu,\"rc\":%d}", len, g.limited_rc);
        reply(req, 0, "application/json", body, (size_t)n);
    } else if (path_is(req, "/shutdown")) {
        int rc1 = eddy_server_shutdown(g.server, on_shutdown_done, NULL, NULL);
        int rc2 = eddy_server_shutdown(g.server, NULL, NULL, NULL);
        g.shutdown_started = 1;
        char body[64];
        int n = snprintf(body, sizeof body, "{\"rc\":%d,\"again\":%d}", rc1, rc2);
        reply(req, 0, "application/json", body, (size_t)n);
    } else if (path_is(req, "/stats")) {
        route_stats(req);
    } else if (path_is(req, "/accesslog")) {
        route_accesslog(req);
    } else {
        reply(req, 404, "text/plain", "not found", 9);
    }
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

static void die(const char *what, int rc) {
    fprintf(stderr, "http_api_server: %s: %s\n", what, eddy_strerror(rc));
    exit(2);
}

static const char usage[] =
    "usage: http_api_server [--port N] [--host H] [--unix PATH] [--idle-timeout S] "
    "[--header-timeout S] [--body-timeout S] [--body-min-rate R[,G]] [--max-connections N] "
    "[--xheaders] [--trusted-proxy IP]... [--decompress] [--no-keep-alive] "
    "[--no-body-arguments] [--max-body-size N] [--max-body-memory N] "
    "[--access-log PATH|-|stdout] [--protocol P]";

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    const char *unix_path = NULL;
    const char *access_log = NULL;
    int port = 0;
    g.loop = eddy_loop_new();
    g.server = eddy_server_new(g.loop, on_request, NULL, NULL);
    if (!g.loop || !g.server) die("setup", EDDY_ENOMEM);
    eddy_server *srv = g.server;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (strcmp(a, "--xheaders") == 0) rc = eddy_server_set_xheaders(srv, 1);
        else if (strcmp(a, "--decompress") == 0) rc = eddy_server_set_decompress_request(srv, 1);
        else if (strcmp(a, "--no-keep-alive") == 0) rc = eddy_server_set_no_keep_alive(srv, 1);
        else if (strcmp(a, "--no-body-arguments") == 0)
            rc = eddy_server_set_body_arguments(srv, 0);
        else {
            /* Every other option takes a value: one given last without it says so, as the
             * examples do (cmdline.h), rather than a bare "bad option". */
            const char *v = cmdline_value("http_api_server", argc, argv, i);
            i++;
            if (strcmp(a, "--port") == 0)
                port = cmdline_port("http_api_server", a, v);
            else if (strcmp(a, "--host") == 0) host = v;
            else if (strcmp(a, "--unix") == 0) unix_path = v;
            else if (strcmp(a, "--access-log") == 0) access_log = v;
            else if (strcmp(a, "--idle-timeout") == 0)
                rc = eddy_server_set_idle_timeout(srv, cmdline_seconds("http_api_server", a, v));
            else if (strcmp(a, "--header-timeout") == 0)
                rc = eddy_server_set_header_timeout(srv, cmdline_seconds("http_api_server", a, v));
            else if (strcmp(a, "--body-timeout") == 0)
                rc = eddy_server_set_body_timeout(srv, cmdline_seconds("http_api_server", a, v));
            else if (strcmp(a, "--body-min-rate") == 0) {
                /* "R,G": R bytes/s after a grace of G s (",G" left out: no grace) */
                char rate[64];
                const char *comma = strchr(v, ',');
                size_t n = comma ? (size_t)(comma - v) : strlen(v);
                if (n >= sizeof rate) n = 0; /* too long to be a number: refused below */
                memcpy(rate, v, n);
                rate[n] = '\0';
                rc = eddy_server_set_body_min_rate(
                    srv, cmdline_seconds("http_api_server", a, rate),
                    comma ? cmdline_seconds("http_api_server", a, comma + 1) : 0);
            } else if (strcmp(a, "--max-connections") == 0)
                rc = eddy_server_set_max_connections(srv, cmdline_size("http_api_server", a, v));
            else if (strcmp(a, "--max-body-size") == 0)
                rc = eddy_server_set_max_body_size(srv, cmdline_size("http_api_server", a, v));
            else if (strcmp(a, "--max-body-memory") == 0)
                rc = eddy_server_set_max_body_memory(srv, cmdline_size("http_api_server", a, v));
            else if (strcmp(a, "--trusted-proxy") == 0) rc = eddy_server_add_trusted_proxy(srv, v);
            else if (strcmp(a, "--protocol") == 0) rc = eddy_server_set_protocol(srv, v);
            else
                cmdline_unknown("http_api_server", a, usage);
        }
        if (rc != 0) die(a, rc);
    }
    int rc = eddy_server_set_headers_callback(srv, on_headers);
    if (rc != 0) die("headers callback", rc);
    rc = eddy_server_set_access_log(srv, on_access, NULL, NULL);
    if (rc != 0) die("access log", rc);
    int log_fd = -1;
    if (access_log) {
        log_fd = strcmp(access_log, "-") == 0        ? 2
                 : strcmp(access_log, "stdout") == 0 ? 1
                 : open(access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) die("access log file", EDDY_EIO);
        rc = eddy_server_set_access_log_fd(srv, log_fd);
        if (rc != 0) die("access log fd", rc);
    }
    if (unix_path) {
        rc = eddy_server_listen_unix(srv, unix_path);
        if (rc != 0) die("listen unix", rc);
        printf("listening on unix:%s\n", unix_path);
    }
    rc = eddy_server_listen(srv, host, port, 0);
    if (rc != 0) die("listen", rc);
    eddy_signal *sigint = eddy_signal_new(g.loop, SIGINT, on_signal, g.loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(g.loop, SIGTERM, on_signal, g.loop, NULL);
    eddy_signal *sigusr1 = eddy_signal_new(g.loop, SIGUSR1, release_held, NULL, NULL);
    printf("listening on %s:%d\n", host, eddy_server_port(srv));
    fflush(stdout);
    rc = eddy_loop_run(g.loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    eddy_signal_free(sigusr1);
    eddy_server_free(srv);
    eddy_loop_free(g.loop);
    if (log_fd > 2) close(log_fd);
    return rc == 0 ? 0 : 1;
}
