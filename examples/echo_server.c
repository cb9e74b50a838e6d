/* echo_server: the conformance echo server.
 *
 *   echo_server --port N [--address A]
 *
 * N is a decimal port, 0 for any free one (the line "listening on" says which); anything else
 * is refused (exit 2).
 *
 * GET|HEAD /fixed answers "hello world\n" (text/plain). Every other request is echoed back as
 * JSON: method, uri, path, version, host, the header fields in arrival order, and the body
 * (its bytes as Latin-1 code points); a HEAD gets the header fields of the GET echo. /ws is the
 * WebSocket echo: every message comes back with the same type; permessage-deflate is accepted when
 * the client offers it; messages up to 32 MiB; any Origin is accepted (see any_origin).
 *
 * The HTTP echo is the application's default route (a handler per method), so that /ws can be
 * a WebSocket route of the same application on the same port. Form bodies are not decoded
 * (eddy_server_set_body_arguments off): every body is echoed as it came, a malformed multipart
 * one included. OPTIONS answers list the methods in Allow. Conditional requests: GET and HEAD
 * are compared with the echo's ETag by the web layer (304, 412) — an ETag of the echo without
 * the conditional fields, so that a repeated request revalidates; the methods that change a
 * resource are refused with 412 when their precondition fails (see precondition_fails).
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cmdline.h"

/* A growable byte buffer for building the JSON reply; `failed` once an append found no memory
 * (the reply is then a 503, not a truncated echo). */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} buf_t;

static int buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static void buf_add(buf_t *b, const char *s, size_t n) {
    if (b->failed) return;
    if (buf_reserve(b, n) != 0) {
        b->failed = 1;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void buf_adds(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

/* A JSON string whose characters are the bytes of `s` taken as Latin-1. */
static void buf_add_json(buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_add(b, esc, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            buf_add(b, (const char *)&c, 1);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_add(b, esc, 6);
        }
    }
    buf_add(b, "\"", 1);
}

/* Response calls go through the handler (the web layer), request getters through its request. */
static void respond(eddy_handler *h, const char *type, const char *body, size_t len) {
    /* Out of memory: 503 (RFC 9110 §15.6.4, temporary) rather than an answer missing a part. */
    if (eddy_handler_set_header(h, "Content-Type", EDDY_NTS, type, EDDY_NTS) != 0 ||
        eddy_handler_write(h, body, len) != 0)
        eddy_handler_send_error(h, 503);
}

/* Whether a field's name (`len` bytes) is `want`, in any case. */
static int is_field(const char *name, size_t len, const char *want) {
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
static const char allow[] = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

/* RFC 9110 §13.1.1, §13.1.2 and §13.2.2 for a method that changes a resource (POST, PUT,
 * DELETE, PATCH): an origin server MUST NOT perform it when a precondition is false, and
 * answers 412. Every echo resource exists (GET answers 200 on any path), and no entity tag a
 * client sends can be its current one (the representation echoes the request asking for it, its
 * conditional fields included). So If-Match "*" holds and a list of tags fails; If-None-Match
 * "*" fails and a list of tags holds. The echo has no Last-Modified: If-Unmodified-Since is
 * ignored (§13.1.4). */
static int precondition_fails(const eddy_request *req) {
    int if_match = 0, if_match_star = 0, if_none_match_star = 0;
    size_t count = eddy_request_header_count(req);
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;
        size_t name_len, value_len;
        if (eddy_request_header_at(req, i, &name, &name_len, &value, &value_len) != 0) continue;
        int star = value_len == 1 && value[0] == '*';
        if (is_field(name, name_len, "If-Match")) {
            if_match = 1;
            if_match_star |= star;
        } else if (is_field(name, name_len, "If-None-Match")) {
            if_none_match_star |= star;
        }
    }
    return (if_match && !if_match_star) || if_none_match_star;
}

/* RFC 9110 §13.1: the fields that make a request conditional. */
static int is_conditional_field(const char *name, size_t len) {
    static const char *const names[] = {"If-Match", "If-None-Match", "If-Modified-Since",
                                        "If-Unmodified-Since", "If-Range"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (is_field(name, len, names[i])) return 1;
    return 0;
}

/* FNV-1a, 64 bits: an entity tag only has to change when the bytes do. */
static uint64_t fnv1a(const char *data, size_t len) {
    uint64_t hash = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) hash = (hash ^ (unsigned char)data[i]) * 1099511628211ull;
    return hash;
}

/* The JSON echo of `req` into `b`; the header list leaves out the conditional fields unless
 * `with_conditional_fields`. Returns whether the request has any. */
static int build_echo(buf_t *b, const eddy_request *req, int with_conditional_fields) {
    size_t len, method_len, path_len;
    const char *method = eddy_request_method(req, &method_len);
    const char *path = eddy_request_path(req, &path_len);
    buf_adds(b, "{\"method\":");
    /* HEAD answers with the header fields GET would get (RFC 9110 §9.3.2), Content-Length and
     * ETag included: the body it does not send is the GET one. */
    if (strcmp(method, "HEAD") == 0)
        buf_add_json(b, "GET", 3);
    else
        buf_add_json(b, method, method_len);
    buf_adds(b, ",\"uri\":");
    const char *s = eddy_request_uri(req, &len);
    buf_add_json(b, s, len);
    buf_adds(b, ",\"path\":");
    buf_add_json(b, path, path_len);
    buf_adds(b, eddy_request_version(req) == 10 ? ",\"version\":\"HTTP/1.0\""
                                                : ",\"version\":\"HTTP/1.1\"");
    buf_adds(b, ",\"host\":");
    s = eddy_request_host(req, &len);
    buf_add_json(b, s, len);
    buf_adds(b, ",\"headers\":[");
    int conditional = 0;
    size_t count = eddy_request_header_count(req), listed = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;
        size_t name_len, value_len;
        eddy_request_header_at(req, i, &name, &name_len, &value, &value_len);
        if (is_conditional_field(name, name_len)) {
            conditional = 1;
            if (!with_conditional_fields) continue;
        }
        if (listed++) buf_add(b, ",", 1);
        buf_add(b, "[", 1);
        buf_add_json(b, name, name_len);
        buf_add(b, ",", 1);
        buf_add_json(b, value, value_len);
        buf_add(b, "]", 1);
    }
    buf_adds(b, "],\"body\":");
    s = eddy_request_body(req, &len);
    buf_add_json(b, s, len);
    buf_adds(b, "}");
    return conditional;
}

static void on_request(eddy_handler *h, void *userdata) {
    (void)userdata;
    eddy_request *req = eddy_handler_request(h);
    size_t method_len, path_len;
    const char *method = eddy_request_method(req, &method_len);
    const char *path = eddy_request_path(req, &path_len);
    int is_get_or_head = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int is_options = strcmp(method, "OPTIONS") == 0;
    if (is_get_or_head && strcmp(path, "/fixed") == 0) {
        respond(h, "text/plain", "hello world\n", 12);
        return;
    }
    /* OPTIONS (and CONNECT, TRACE) select no representation: preconditions are ignored
     * (RFC 9110 §13.2.1). */
    if (!is_get_or_head && !is_options && precondition_fails(req)) {
        eddy_handler_send_error(h, 412);
        return;
    }
    /* RFC 9110 §9.3.7: a server generating a successful response to OPTIONS SHOULD send the
     * header fields that describe optional features, such as Allow. */
    if (is_options && eddy_handler_set_header(h, "Allow", EDDY_NTS, allow, EDDY_NTS) != 0) {
        eddy_handler_send_error(h, 503);
        return;
    }
    buf_t b = {0};
    int conditional = build_echo(&b, req, 1);
    /* The ETag names the representation selected without the conditional fields (RFC 9110
     * §13.2.1 evaluates them against that one): a client that repeats a request with
     * If-None-Match set to the ETag it got gets 304, although the 200 body would also echo the
     * If-None-Match field itself. The web layer compares it (304, 412) for GET and HEAD. */
    if (is_get_or_head && !b.failed) {
        uint64_t hash = 0;
        if (conditional) {
            buf_t without = {0};
            build_echo(&without, req, 0);
            hash = without.failed ? 0 : fnv1a(without.data, without.len);
            b.failed |= without.failed;
            free(without.data);
        } else {
            hash = fnv1a(b.data, b.len);
        }
        char etag[24];
        int n = snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)hash);
        if (!b.failed && eddy_handler_set_etag(h, etag, (size_t)n) != 0) b.failed = 1;
    }
    if (b.failed)
        eddy_handler_send_error(h, 503);
    else
        respond(h, "application/json", b.data, b.len);
    free(b.data);
}

static void ws_echo(eddy_ws *ws, const char *data, size_t len, int binary, void *userdata) {
    (void)userdata;
    eddy_ws_write_message(ws, data, len, binary, NULL);
}

/* The echo accepts a handshake from any Origin. The default check (Tornado's same-origin rule)
 * protects state that a browser's cookies unlock; the echo keeps none, and a conformance client
 * or a test page served from another host or port may well send an Origin of its own. */
static int any_origin(eddy_handler *h, const char *origin, size_t origin_len, void *userdata) {
    (void)h;
    (void)origin;
    (void)origin_len;
    (void)userdata;
    return 1;
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    int port = 8080;
    for (int i = 1; i < argc; i += 2) {
        const char *option = argv[i];
        if (strcmp(option, "--port") == 0) {
            /* atoi() took "abc" as 0 and "8080x" as 8080: a mistyped port then served on a
             * random or a different port instead of saying so. */
            port = cmdline_port("echo_server", option, cmdline_value("echo_server", argc, argv, i));
        } else if (strcmp(option, "--address") == 0) {
            address = cmdline_value("echo_server", argc, argv, i);
        } else {
            cmdline_unknown("echo_server", option, "usage: echo_server [--port N] [--address A]");
        }
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_app *app = eddy_app_new(loop);
    eddy_server *server = eddy_app_server(app);
    eddy_server_set_body_arguments(server, 0);
    eddy_ws_options *wo = eddy_ws_options_new();
    eddy_ws_options_set_compression(wo, EDDY_WS_DEFLATE, 0);
    eddy_ws_options_set_max_message_size(wo, 32u * 1024u * 1024u);
    eddy_route *ws = eddy_app_add_route(app, "/ws", EDDY_NTS, NULL, NULL);
    /* Added first: routes are tried in order and the echo route matches /ws too. */
    eddy_route_set_websocket(ws, NULL, ws_echo, NULL, wo);
    eddy_route_set_ws_check_origin(ws, any_origin);
    eddy_ws_options_free(wo);
    eddy_route *echo = eddy_app_add_route(app, "/.*", EDDY_NTS, NULL, NULL);
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        eddy_route_on(echo, methods[i], EDDY_NTS, on_request);
    eddy_app_set_default_route(app, echo);
    /* host:port as in a URL's authority: an IPv6 address in brackets ("[::1]:8080", not the
     * ambiguous "::1:8080"); "*" for every address. */
    int v6 = strchr(address, ':') != NULL;
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "", *shown = *address ? address : "*";
    int rc = eddy_server_listen(server, address, port, 0);
    if (rc != 0) {
        fprintf(stderr, "echo_server: cannot listen on %s%s%s:%d: %s\n", lb, shown, rb, port,
                eddy_strerror(rc));
        return 1;
    }
    eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    printf("echo_server listening on %s%s%s:%d\n", lb, shown, rb, eddy_server_port(server));
    fflush(stdout);
    eddy_loop_run(loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    eddy_app_free(app);
    eddy_loop_free(loop);
    return 0;
}
