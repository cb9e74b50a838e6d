/* reverse_proxy: a small reverse proxy built from eddy's HTTP server and HTTP client.
 *
 *   reverse_proxy --upstream http://127.0.0.1:8080 [--port N] [--cert C --key K]
 *                 [--upstream-ca CA] [--upstream-read-timeout S]
 *   reverse_proxy --upstream unix:/run/app.sock ...
 *
 * A "unix:PATH" upstream (gunicorn/uWSGI --bind unix:..., the Docker API) is reached over that
 * Unix socket (eddy_fetch_set_unix_socket) as http://localhost: the upstream sees
 * "Host: localhost", as nginx's proxy_pass http://unix:PATH sends it.
 * Every request goes to the upstream with the same method, path, query, headers (minus the
 * hop-by-hop ones: the fixed list and those named in Connection, RFC 9110 §7.6.1) and body,
 * plus X-Forwarded-For, X-Forwarded-Proto (ours replaces the client's) and Via. The response
 * streams back as it arrives (status, headers, body chunks), with the upstream's
 * Content-Length when it gave one. An upstream that cannot be reached, or whose answer is
 * broken before any of its body arrived, gives 502, one that is too slow 504; one that breaks
 * off mid-body leaves the answer visibly truncated (eddy_request_abort).
 *
 * Flow control: a client that reads slowly (or not at all) does not make the proxy hold the
 * upstream's body: once more than HIGH_WATER bytes wait to reach the client's socket, the
 * upstream fetch is paused (eddy_fetch_pause_body: TCP then holds the upstream back) and
 * resumed when they drained to LOW_WATER. A long body is bounded by the time between upstream
 * reads (60 s, nginx's proxy_read_timeout; --upstream-read-timeout), not by a time for the
 * whole answer; a client that takes nothing for the server's idle timeout (75 s, nginx's
 * send_timeout) is closed, which cancels the fetch.
 *
 * With --cert/--key the proxy itself serves HTTPS.
 * Prints "listening on 127.0.0.1:PORT" when ready; SIGINT/SIGTERM stop it.
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cmdline.h"

static const char *g_upstream;
static const char *g_upstream_socket; /* --upstream unix:PATH: the socket; NULL: TCP */
static eddy_client *g_client;

/* Body bytes written downstream but not yet in the client's socket buffer: over HIGH_WATER the
 * upstream is paused, at LOW_WATER or less it resumes (nginx's proxy_buffers are of this
 * order: a few hundred KiB to a few MiB per request). */
#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (256 * 1024)
static double g_read_timeout = 60; /* --upstream-read-timeout */

/* One request in flight: the downstream request and the upstream fetch. */
typedef struct {
    eddy_request *req;
    eddy_fetch *fetch;
    int head_copied;               /* the upstream's status and headers are on the response */
    unsigned long long written;    /* body bytes written to the response */
    unsigned long long flushed;    /* of those, bytes known to have reached the kernel */
    unsigned long long flush_mark; /* `written` when the pending flush was made */
    int flushing;                  /* a flush is pending (one at a time) */
    int paused;                    /* the upstream body is paused */
} exchange;

/* Fields that belong to one connection (RFC 9110 §7.6.1), the framing ones the server and
 * the client write themselves, and Host (the upstream's own authority is sent). */
static int hop_by_hop(const char *name) {
    static const char *const names[] = {"Connection",
                                        "Keep-Alive",
                                        "Proxy-Connection",
                                        "Proxy-Authorization",
                                        "Proxy-Authenticate",
                                        "Proxy-Authentication-Info",
                                        "TE",
                                        "Trailer",
                                        "Transfer-Encoding",
                                        "Upgrade",
                                        "Host",
                                        "Content-Length",
                                        "Expect",
                                        NULL};
    for (int i = 0; names[i]; i++)
        if (strcasecmp(name, names[i]) == 0) return 1;
    return 0;
}

/* Whether the Connection field value `list` (comma-separated, OWS around members) names
 * `name`: such a field is hop-by-hop too and must not be forwarded (RFC 9110 §7.6.1). */
static int list_names(const char *list, size_t len, const char *name) {
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) i++;
        size_t start = i;
        while (i < len && list[i] != ',') i++;
        size_t end = i;
        while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t')) end--;
        if (end - start == nl && strncasecmp(list + start, name, nl) == 0) return 1;
    }
    return 0;
}

static int request_connection_names(eddy_request *req, const char *name) {
    for (size_t i = 0; i < eddy_request_header_count(req); i++) {
        const char *n, *v;
        size_t nl, vl;
        eddy_request_header_at(req, i, &n, &nl, &v, &vl);
        if (strcasecmp(n, "Connection") == 0 && list_names(v, vl, name)) return 1;
    }
    return 0;
}

static int response_connection_names(eddy_fetch *f, const char *name) {
    for (size_t i = 0; i < eddy_fetch_response_header_count(f); i++) {
        const char *n, *v;
        size_t nl, vl;
        eddy_fetch_response_header_at(f, i, &n, &nl, &v, &vl);
        if (strcasecmp(n, "Connection") == 0 && list_names(v, vl, name)) return 1;
    }
    return 0;
}

/* Puts the upstream's status and headers on the response. Done at the first body piece or at
 * the end, not when the head arrives: until the response head goes out, an upstream that
 * fails (a broken chunk, a close, a timeout) can still be answered with 502/504 instead of its
 * status with an empty body that looks complete. */
static void copy_head(exchange *x, eddy_fetch *f) {
    if (x->head_copied) return;
    x->head_copied = 1;
    size_t rlen;
    const char *reason = eddy_fetch_response_reason(f, &rlen);
    int status = eddy_fetch_response_status(f);
    /* A reason the server will not send (a control character, '<') must not cost the status:
     * a 404 would go out as 200. The standard phrase then; the reason carries no meaning
     * (RFC 9112 §4). */
    if (eddy_request_set_status(x->req, status, reason, rlen) == EDDY_EINVAL)
        eddy_request_set_status(x->req, status, NULL, 0);
    for (size_t i = 0; i < eddy_fetch_response_header_count(f); i++) {
        const char *name, *value;
        size_t nl, vl;
        eddy_fetch_response_header_at(f, i, &name, &nl, &value, &vl);
        /* The upstream's length, declared downstream: a HEAD answer keeps its length (not 0),
         * and a body cut short upstream ends the connection short instead of looking whole. */
        if (strcasecmp(name, "Content-Length") == 0) {
            eddy_request_set_header(x->req, name, nl, value, vl);
            continue;
        }
        if (hop_by_hop(name) || strcasecmp(name, "Date") == 0 || strcasecmp(name, "Server") == 0 ||
            response_connection_names(f, name))
            continue;
        eddy_request_add_header(x->req, name, nl, value, vl);
    }
}

static void flush_downstream(exchange *x);

/* A flush reached the kernel: what it carried is no longer ours to hold. */
static void on_flushed(eddy_request *req, int status, void *userdata) {
    (void)req;
    exchange *x = userdata;
    if (!x) return; /* the exchange ended meanwhile (its userdata was cleared) */
    x->flushing = 0;
    if (status != 0) return; /* the client is gone: its close callback cancels the fetch */
    x->flushed = x->flush_mark;
    if (x->written > x->flushed) flush_downstream(x); /* what came while this one was out */
    if (x->paused && x->written - x->flushed <= LOW_WATER) {
        x->paused = 0;
        eddy_fetch_resume_body(x->fetch);
    }
}

/* One flush at a time, with a completion: the bytes between `flushed` and `written` are what
 * the proxy holds for this client (in the response's buffer or the flush in progress). */
static void flush_downstream(exchange *x) {
    x->flush_mark = x->written;
    x->flushing = 1;
    if (eddy_request_flush(x->req, on_flushed) != 0) x->flushing = 0;
}

static void on_upstream_chunk(eddy_fetch *f, const char *data, size_t len, void *userdata) {
    exchange *x = userdata;
    copy_head(x, f);
    if (eddy_request_write(x->req, data, len) != 0) return; /* closed: the fetch is cancelled */
    x->written += len;
    if (!x->flushing) flush_downstream(x);
    /* The client does not keep up: stop reading the upstream until it does (the upstream's
     * TCP window closes; nothing piles up here). */
    if (!x->paused && x->written - x->flushed > HIGH_WATER && eddy_fetch_pause_body(f) == 0)
        x->paused = 1;
}

static void on_upstream_done(eddy_fetch *f, int error, void *userdata) {
    exchange *x = userdata;
    if (!error) copy_head(x, f);
    if (error && error != EDDY_ECANCELED) { /* cancelled: the client left, our doing */
        /* The operator's line (nginx's error log: "upstream timed out ... while reading
         * response header from upstream"): which URL failed and why, with the client's detail
         * that tells the timeouts apart ("no data from the server for 60 s" is the read
         * timeout, "no complete response within 20 s" the whole request's) and names the
         * address a connect failed on. Not in the body: that is the client's, and the
         * upstream's address is none of its business. */
        size_t ulen, dlen;
        const char *url = eddy_fetch_effective_url(f, &ulen);
        const char *detail = eddy_fetch_error_detail(f, &dlen);
        fprintf(stderr, "upstream %.*s: %s%s%.*s%s\n", (int)ulen, url, eddy_strerror(error),
                dlen ? " (" : "", (int)dlen, detail, dlen ? ")" : "");
    }
    if (error && !x->head_copied) {
        int status = error == EDDY_ETIMEDOUT ? 504 : 502;
        char body[128];
        int n = snprintf(body, sizeof body, "upstream error: %s\n", eddy_strerror(error));
        eddy_request_set_status(x->req, status, NULL, 0);
        eddy_request_set_header(x->req, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
        eddy_request_write(x->req, body, (size_t)n);
    }
    /* A response cut short upstream after its body began is aborted: the connection closes
     * without the last chunk (or short of the declared length), so the client sees it
     * truncated instead of whole. */
    eddy_request_set_userdata(x->req, NULL, NULL);
    if (error && x->head_copied)
        eddy_request_abort(x->req);
    else
        eddy_request_finish(x->req);
    free(x);
}

static void on_downstream_closed(eddy_request *req, void *userdata) {
    (void)req;
    exchange *x = userdata;
    if (x) eddy_fetch_cancel(x->fetch); /* done still runs and finishes the request */
}

static void on_request(eddy_request *req, void *userdata) {
    (void)userdata;
    size_t plen, qlen, mlen;
    /* The path and query, not the request target as sent: an absolute-form target
     * ("GET http://host/x", which a server must accept, RFC 9112 §3.2.2) names the same. */
    const char *path = eddy_request_path(req, &plen);
    const char *query = eddy_request_query(req, &qlen);
    const char *method = eddy_request_method(req, &mlen);
    /* Sized to fit: a fixed buffer cut long targets, and the upstream got another URL. */
    size_t url_size = strlen(g_upstream) + plen + 1 + qlen + 1;
    char *url = malloc(url_size), m[32];
    if (!url || mlen >= sizeof m) {
        free(url);
        eddy_request_set_status(req, url ? 501 : 500, NULL, 0);
        eddy_request_finish(req);
        return;
    }
    snprintf(url, url_size, "%s%.*s%s%.*s", g_upstream, (int)plen, path, qlen ? "?" : "", (int)qlen,
             query);
    snprintf(m, sizeof m, "%.*s", (int)mlen, method);
    exchange *x = calloc(1, sizeof *x);
    eddy_fetch *f = x ? eddy_fetch_new(g_client, m, url) : NULL;
    free(url);
    if (!f) {
        free(x);
        eddy_request_set_status(req, 500, NULL, 0);
        eddy_request_finish(req);
        return;
    }
    x->req = req;
    x->fetch = f;
    for (size_t i = 0; i < eddy_request_header_count(req); i++) {
        const char *name, *value;
        size_t nl, vl;
        eddy_request_header_at(req, i, &name, &nl, &value, &vl);
        /* X-Forwarded-Proto is ours to say: a client's own would claim https over http. */
        if (hop_by_hop(name) || strcasecmp(name, "X-Forwarded-Proto") == 0 ||
            request_connection_names(req, name))
            continue;
        eddy_fetch_add_header(f, name, nl, value, vl);
    }
    eddy_fetch_add_header(f, "X-Forwarded-For", EDDY_NTS, eddy_request_remote_ip(req), EDDY_NTS);
    eddy_fetch_add_header(f, "X-Forwarded-Proto", EDDY_NTS, eddy_request_scheme(req), EDDY_NTS);
    /* A gateway must add itself to Via on the requests it forwards (RFC 9110 §7.6.3). */
    eddy_fetch_add_header(
        f, "Via", EDDY_NTS,
        eddy_request_version(req) == 10 ? "1.0 eddy-reverse-proxy" : "1.1 eddy-reverse-proxy",
        EDDY_NTS);
    size_t blen;
    const char *body = eddy_request_body(req, &blen);
    if (blen) eddy_fetch_set_body(f, body, blen);
    if (g_upstream_socket) eddy_fetch_set_unix_socket(f, g_upstream_socket); /* checked in main */
    eddy_fetch_set_decompress(f, 0); /* pass encodings through untouched */
    eddy_fetch_set_max_redirects(f, 0);
    /* A long answer is fine as long as the upstream keeps sending: no time for the whole
     * response (it counted while the client was slow to read, too), a time between reads. */
    eddy_fetch_set_request_timeout(f, 0);
    eddy_fetch_set_read_timeout(f, g_read_timeout);
    eddy_fetch_set_callbacks(f, NULL, on_upstream_chunk);
    eddy_request_set_userdata(req, x, NULL);
    eddy_request_set_close_callback(req, on_downstream_closed);
    if (eddy_fetch_start(f, on_upstream_done, x, NULL) != 0) {
        eddy_fetch_free(f);
        free(x);
        eddy_request_set_userdata(req, NULL, NULL);
        eddy_request_set_status(req, 400, NULL, 0);
        eddy_request_finish(req);
    }
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

static const char usage[] =
    "usage: reverse_proxy --upstream URL|unix:PATH [--port N] "
    "[--cert C --key K] [--upstream-ca F] "
    "[--upstream-read-timeout SECONDS]";

int main(int argc, char **argv) {
    const char *cert = NULL, *key = NULL, *upstream_ca = NULL;
    int port = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *option = argv[i];
        const char *p = "reverse_proxy";
        if (!strcmp(option, "--upstream"))
            g_upstream = cmdline_value(p, argc, argv, i);
        else if (!strcmp(option, "--port"))
            port = cmdline_port(p, option, cmdline_value(p, argc, argv, i));
        else if (!strcmp(option, "--cert"))
            cert = cmdline_value(p, argc, argv, i);
        else if (!strcmp(option, "--key"))
            key = cmdline_value(p, argc, argv, i);
        else if (!strcmp(option, "--upstream-ca"))
            upstream_ca = cmdline_value(p, argc, argv, i);
        else if (!strcmp(option, "--upstream-read-timeout"))
            g_read_timeout = cmdline_seconds(p, option, cmdline_value(p, argc, argv, i));
        else
            cmdline_unknown(p, option, usage);
    }
    if (!g_upstream) {
        fprintf(stderr, "%s\n", usage);
        return 2;
    }
    if (!strncmp(g_upstream, "unix:", 5)) {
        g_upstream_socket = g_upstream + 5;
        g_upstream = "http://localhost";
    }
    eddy_loop *loop = eddy_loop_new();
    g_client = eddy_client_new(loop);
    /* The client's defaults suit an application making a few calls, not a proxy: 10 fetches
     * at a time queued every other request behind 10 slow upstream answers (a long poll), into
     * 504s; and 4 idle connections kept made every burst connect anew. */
    eddy_client_set_max_clients(g_client, 1000);
    eddy_client_set_max_idle_per_host(g_client, 64);
    if (g_upstream_socket) {
        /* A path the client cannot take (empty, longer than sun_path) fails here, not as an
         * error on every request. */
        eddy_fetch *probe = eddy_fetch_new(g_client, "GET", g_upstream);
        int bad = !probe || eddy_fetch_set_unix_socket(probe, g_upstream_socket) != 0;
        eddy_fetch_free(probe);
        if (bad) {
            fprintf(stderr, "--upstream unix:%s: not a usable socket path\n", g_upstream_socket);
            return 2;
        }
    }
    if (upstream_ca) {
        eddy_tls_context *ctx = eddy_tls_context_new_client();
        if (eddy_tls_context_load_ca_file(ctx, upstream_ca) != 0) return 1;
        eddy_client_set_tls(g_client, ctx);
        eddy_tls_context_free(ctx);
    }
    eddy_server *server = eddy_server_new(loop, on_request, NULL, NULL);
    if (cert && key) {
        eddy_tls_context *ctx = eddy_tls_context_new_server();
        if (eddy_tls_context_load_cert_file(ctx, cert, key) != 0 ||
            eddy_server_set_tls(server, ctx) != 0)
            return 1;
        eddy_tls_context_free(ctx);
    }
    int rc = eddy_server_listen(server, "127.0.0.1", port, 0);
    if (rc != 0) {
        fprintf(stderr, "listen: %s\n", eddy_strerror(rc));
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", eddy_server_port(server));
    fflush(stdout);
    eddy_signal *s1 = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *s2 = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    eddy_loop_run(loop);
    eddy_signal_free(s1);
    eddy_signal_free(s2);
    eddy_client_free(g_client); /* finishes requests still waiting for the upstream */
    eddy_server_free(server);
    eddy_loop_free(loop);
    return 0;
}
