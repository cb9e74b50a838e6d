// libFuzzer target: arbitrary client bytes through a real eddy loop, HTTP server and web
// Application (eddy/web.h).
//
// One loop and one application live for the whole process; the application's own server
// (eddy_app_server) takes the connections. Each input is one client connection, as in
// fuzz_http_connection.cpp (feed_connection.hpp: a socketpair, the bytes split into writes at
// h2o's "\n--MARK--\n" marker, SHUT_WR, bounded pumping, responses read and discarded).
//
// The application has literal routes, PCRE2 routes with positional and named captures, a host
// table, a streaming route (data_received), a custom method, a route without the XSRF check,
// a static mount over a temporary directory (files, a .gz twin, a subdirectory, a symlink out
// of the root, an empty file, a compressible file gzipped as it is read), xsrf_cookies, compress_response and a cookie secret. The method
// callbacks pick what to do by a hash of the request target (as fuzz_http_connection's
// request_mode): plain bodies (automatic ETag / If-None-Match), large compressible bodies
// (gzip), chunked flushes with callbacks, detach + finish from eddy_loop_call_soon, detach +
// finish from a flush callback, redirects (also to reverse_url), send_error before and after a
// flush, clear(), set_etag, odd statuses, arguments / files / cookies / signed cookies / XSRF
// token. prepare, on_finish, set_default_headers, write_error and on_connection_close hooks
// vary too. Nothing may leak per input (ASan's leak check, libFuzzer's default).
#include <eddy/eddy.h>
#include <eddy/web.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "feed_connection.hpp"
#include "fuzz_loop.hpp"
#include "touch_request.hpp"

namespace {

constexpr char kSecret[] = "fuzz-cookie-secret";

eddy_loop *g_loop;
eddy_app *g_app;
eddy_server *g_server;
size_t g_sink;  // keeps the "read" results alive so nothing is optimised away
char g_static_root[64];


// Per-route userdata: which route a callback runs for.
enum RouteKind { kRoot, kIndex, kItems, kUser, kStream, kOnlyGet, kApi, kCustom, kReproxy, kHost };
struct RouteInfo {
    RouteKind kind;
};
RouteInfo g_routes[] = {{kRoot}, {kIndex}, {kItems}, {kUser}, {kStream},
                        {kOnlyGet}, {kApi}, {kCustom}, {kReproxy}, {kHost}};

// A cheap per-request choice: mixes the target's bytes so every target picks a mode.
unsigned target_hash(eddy_handler *h) {
    size_t len = 0;
    const char *uri = eddy_request_uri(eddy_handler_request(h), &len);
    unsigned x = static_cast<unsigned>(len);
    for (size_t i = 0; i < len; i++) x = x * 31 + static_cast<unsigned char>(uri[i]);
    return x ^ (x >> 13);
}

// Touches what a handler might read: the request (touch_request.hpp), and the route's captures.
void read_request(eddy_handler *h) {
    g_sink += touch_request(eddy_handler_request(h));
    size_t len = 0;
    size_t n = eddy_handler_path_arg_count(h);
    for (size_t i = 0; i <= n; i++) {  // one past the end: NULL
        const char *a = eddy_handler_path_arg(h, i, &len);
        if (a) g_sink += len + strlen(a);
    }
    for (const char *name : {"name", "rest", "id", "nope"}) {
        const char *a = eddy_handler_path_kwarg(h, name, EDDY_NTS, &len);
        if (a) g_sink += len;
    }
    // static_url of the "rest" capture (any bytes, NUL and ".." included) under /static/.
    const char *rest = eddy_handler_path_kwarg(h, "rest", EDDY_NTS, &len);
    if (rest) {
        size_t url_len = 0;
        const char *url = eddy_handler_static_url(h, rest, len, &url_len);
        if (!url || strlen(url) != url_len || strncmp(url, "/static/", 8) != 0) abort();
        g_sink += url_len;
    }
}

// ---- per-handler state ---------------------------------------------------------------------------

// Every routed handler gets one (in set_default_headers, the first callback of a started
// handler): it counts live handlers, because the application keeps a list of them — a handler
// that is never released stays reachable and LeakSanitizer would not report it: an input that
// leaves a started handler behind (its connection gone) aborts.
size_t g_live_handlers;

struct HandlerState {
    HandlerState() { g_live_handlers++; }
    ~HandlerState() { g_live_handlers--; }
    size_t bytes = 0;   // streaming route: body bytes and pieces received
    size_t pieces = 0;
};

void free_state(void *p) { delete static_cast<HandlerState *>(p); }

HandlerState *state(eddy_handler *h) {
    auto *st = static_cast<HandlerState *>(eddy_handler_get_userdata(h));
    if (!st) {
        st = new HandlerState;
        eddy_handler_set_userdata(h, st, free_state);
    }
    return st;
}

// ---- hooks -------------------------------------------------------------------------------------

void set_default_headers(eddy_handler *h, void *) {
    state(h);
    unsigned m = target_hash(h);
    if (m & 0x10) eddy_handler_set_header(h, "X-Frame-Options", EDDY_NTS, "DENY", EDDY_NTS);
    if (m & 0x20) eddy_handler_set_header(h, "Bad Name", EDDY_NTS, "x", EDDY_NTS);  // EINVAL
    if (m & 0x40) eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
}

void prepare(eddy_handler *h, void *) {
    unsigned m = target_hash(h);
    switch ((m >> 8) % 16) {
    case 0:  // refuse in prepare: the method is not called
        eddy_handler_send_error(h, 403);
        break;
    case 1:  // answer in prepare
        eddy_handler_write(h, "from prepare\n", 13);
        eddy_handler_finish(h);
        break;
    case 2:
        eddy_handler_add_header(h, "X-Prepared", EDDY_NTS, "1", 1);
        break;
    default:
        break;
    }
}

void on_finish(eddy_handler *h, void *) {
    eddy_request *req = eddy_handler_request(h);
    size_t len = 0;
    g_sink += static_cast<size_t>(eddy_request_response_status(req)) + eddy_request_bytes_sent(req);
    g_sink += strlen(eddy_request_path(req, &len)) + static_cast<size_t>(eddy_handler_finished(h));
    // Calls after finish are refused (EDDY_ESTATE), never crash.
    if (target_hash(h) % 5 == 0) eddy_handler_write(h, "late", 4);
}

void write_error(eddy_handler *h, int status, void *) {
    unsigned m = target_hash(h);
    if (m & 1) return;  // an empty error body
    char buf[64];
    int n = snprintf(buf, sizeof buf, "custom error %d\n", status);
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_handler_write(h, buf, static_cast<size_t>(n));
}

void on_connection_close(eddy_handler *h, void *) { g_sink += target_hash(h) & 1; }

// ---- the method callback ------------------------------------------------------------------------

void finish_later(eddy_loop *, void *userdata) {
    auto *h = static_cast<eddy_handler *>(userdata);
    if (eddy_handler_finished(h)) return;  // cannot happen: only this call finishes it
    eddy_handler_write(h, "later\n", 6);
    eddy_handler_finish(h);  // EDDY_ECLOSED when the client left: released anyway
}

void flushed_noop(eddy_handler *h, int status, void *) { g_sink += static_cast<size_t>(status) + (h ? 1 : 0); }

void flushed_then_finish(eddy_handler *h, int status, void *) {
    if (status == 0) eddy_handler_write(h, "tail\n", 5);
    eddy_handler_finish(h);
}

std::string big_text(char fill, size_t n) {
    std::string s;
    s.reserve(n);
    for (size_t i = 0; i < n; i++) s.push_back(static_cast<char>(fill + (i % 7 == 6 ? 1 : 0)));
    return s;
}

void cookies_and_arguments(eddy_handler *h, unsigned m) {
    size_t len = 0;
    const char *a = eddy_handler_get_argument(h, EDDY_ARGS_QUERY, "a", 1, &len);
    if (a) g_sink += len;
    a = eddy_handler_get_argument(h, EDDY_ARGS_BODY, "b", 1, &len);
    if (a) g_sink += len;
    size_t c_len = 0;
    const char *c = eddy_handler_get_cookie(h, "c", 1, &c_len);
    if (c) g_sink += c_len;
    const char *s = eddy_handler_get_signed_cookie(h, "s", 1, 1e6, &len);
    if (s) {
        eddy_handler_write(h, "signed:", 7);
        eddy_handler_write(h, s, len);
    }
    const char *t = eddy_handler_xsrf_token(h, &len);
    if (t) g_sink += len;
    if (m & 0x100) eddy_handler_set_signed_cookie(h, "s", 1, c ? c : "v", c ? c_len : 1, 0);
    // A cookie value from the request: invalid ones are refused (EDDY_EINVAL).
    if (c) eddy_handler_set_cookie(h, "echo", 4, c, c_len, nullptr, "/p", 1e9, 60,
                                   EDDY_COOKIE_SECURE | EDDY_COOKIE_HTTPONLY, "Lax");
    if (m & 0x200) eddy_handler_clear_cookie(h, "c", 1, nullptr, nullptr);
    if (m & 0x400) {  // a missing argument: 400 and the callback returns
        const char *r = eddy_handler_require_argument(h, EDDY_ARGS_ALL, "need", 4, &len);
        if (!r) return;
    }
    eddy_handler_write(h, "args\n", 5);
}

void on_method(eddy_handler *h, void *ud) {
    auto *ri = static_cast<RouteInfo *>(ud);
    read_request(h);
    unsigned m = target_hash(h);
    g_sink += ri->kind;
    switch (m % 15) {
    case 0:  // a small body: automatic ETag (If-None-Match → 304)
        eddy_handler_write(h, "hello\n", 6);
        break;
    case 1:  // a large compressible body: gzip when accepted
    {
        std::string body = big_text('a', 1500 + (m >> 4) % 1000);
        eddy_handler_set_header(h, "Content-Type", EDDY_NTS, (m & 0x10) ? "text/plain" : "application/json",
                                EDDY_NTS);
        eddy_handler_write(h, body.data(), body.size());
        break;
    }
    case 2:  // chunked flushes (streaming gzip when accepted), with a callback
        eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
        eddy_handler_write(h, "part one\n", 9);
        eddy_handler_flush(h, flushed_noop);
        eddy_handler_write(h, "part two\n", 9);
        eddy_handler_flush(h, nullptr);
        eddy_handler_set_header(h, "X-Too-Late", EDDY_NTS, "1", 1);  // after the head: refused
        eddy_handler_write(h, "end\n", 4);
        break;
    case 3:  // detach: finished on a later loop iteration
        if (eddy_handler_detach(h) != 0) break;
        if (eddy_loop_call_soon(g_loop, finish_later, h, nullptr) == 0) eddy_handler_finish(h);
        break;
    case 4:  // detach: finished from a flush callback
        if (eddy_handler_detach(h) != 0) break;
        eddy_handler_write(h, "first\n", 6);
        if (eddy_handler_flush(h, flushed_then_finish) != 0) eddy_handler_finish(h);
        break;
    case 5:  // redirects, one to a reversed URL built from the path argument
    {
        static const int kStatus[] = {0, 301, 302, 303, 307, 308, 399};
        int status = kStatus[(m >> 4) % 7];
        char url[256];
        size_t url_len = 0;
        size_t alen = 0;
        const char *arg = eddy_handler_path_arg(h, 0, &alen);
        const char *args[1] = {arg ? arg : "7"};
        size_t lens[1] = {arg ? alen : 1};
        if (eddy_app_reverse_url(g_app, "item", 4, args, lens, 1, url, sizeof url, &url_len) != 0) {
            memcpy(url, "/elsewhere?x=1", 15);
            url_len = 14;
        }
        if (eddy_handler_redirect(h, url, url_len, status) != 0) eddy_handler_write(h, "no redirect", 11);
        break;
    }
    case 6:  // send_error with assorted statuses
    {
        static const int kStatus[] = {400, 401, 404, 418, 500, 503, 299, 1000};
        eddy_handler_write(h, "dropped", 7);
        eddy_handler_send_error(h, kStatus[(m >> 4) % 8]);
        break;
    }
    case 7:
        cookies_and_arguments(h, m);
        break;
    case 8:  // an ETag of the handler's own, or none
        if (m & 0x10) {
            eddy_handler_set_etag(h, "\"v1\"", 4);
        } else if (m & 0x20) {
            eddy_handler_set_etag(h, nullptr, 0);
        } else {
            eddy_handler_set_etag(h, "\"a\r\n\"", 5);  // EINVAL
        }
        eddy_handler_write(h, "tagged\n", 7);
        break;
    case 9:  // clear() drops what was written
        eddy_handler_write(h, "gone", 4);
        eddy_handler_set_header(h, "X-Gone", EDDY_NTS, "1", 1);
        eddy_handler_clear(h);
        eddy_handler_write(h, "kept\n", 5);
        break;
    case 10:  // an error after the head went out: the connection is closed instead
        eddy_handler_write(h, "partial", 7);
        eddy_handler_flush(h, (m & 0x10) ? flushed_noop : nullptr);
        eddy_handler_send_error(h, 500);
        break;
    case 11:  // odd statuses
    {
        static const int kStatus[] = {204, 304, 299, 201, 999, 100, 451};
        int status = kStatus[(m >> 4) % 7];
        eddy_handler_set_status(h, status, (m & 0x80) ? "Fuzzy" : nullptr, EDDY_NTS);
        eddy_handler_set_header(h, "Content-Language", EDDY_NTS, "en", EDDY_NTS);
        eddy_handler_write(h, "body?", 5);
        break;
    }
    case 12:  // a large body flushed: streaming gzip, then more
    {
        std::string body = big_text('x', 3000);
        eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/html", EDDY_NTS);
        eddy_handler_write(h, body.data(), body.size());
        eddy_handler_flush(h, flushed_noop);
        eddy_handler_write(h, body.data(), 100);
        break;
    }
    case 13:  // echo the request body
    {
        size_t len = 0;
        const char *body = eddy_request_body(eddy_handler_request(h), &len);
        eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "application/octet-stream", EDDY_NTS);
        eddy_handler_write(h, body, len);
        break;
    }
    default:  // finish explicitly, then try again (EDDY_ESTATE)
        eddy_handler_write(h, "done\n", 5);
        eddy_handler_finish(h);
        eddy_handler_finish(h);
        break;
    }
}

// ---- the streaming route --------------------------------------------------------------------------

void stream_prepare(eddy_handler *h, void *ud) {
    state(h);
    prepare(h, ud);
}

void stream_data(eddy_handler *h, const char *data, size_t len, void *) {
    HandlerState *st = state(h);
    st->bytes += len;
    st->pieces++;
    g_sink += len ? static_cast<unsigned char>(data[0]) : 0;
    unsigned m = target_hash(h);
    // Answer while the body is still arriving: later pieces are not delivered.
    if ((m & 3) == 1 && st->bytes > 64) eddy_handler_send_error(h, 413);
    if ((m & 3) == 2 && st->pieces == 2) {
        eddy_handler_write(h, "enough\n", 7);
        eddy_handler_finish(h);
    }
}

void stream_done(eddy_handler *h, void *ud) {
    HandlerState *st = state(h);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%zu bytes in %zu pieces\n", st->bytes, st->pieces);
    eddy_handler_write(h, buf, static_cast<size_t>(n));
    if ((target_hash(h) & 12) == 4) on_method(h, ud);
}

// ---- set-up ---------------------------------------------------------------------------------------

void write_file(const std::string &path, const std::string &content) {
    FILE *f = fopen(path.c_str(), "wb");
    if (!f) abort();
    fwrite(content.data(), 1, content.size(), f);
    fclose(f);
}

void remove_static_root() {
    if (!g_static_root[0]) return;
    std::string root = g_static_root;
    for (const char *f : {"/index.html", "/big.txt", "/big.txt.gz", "/empty.txt", "/sub/a.css",
                          "/sub/data.json", "/sub/wide.css", "/escape"})
        unlink((root + f).c_str());
    rmdir((root + "/sub").c_str());
    rmdir(root.c_str());
}

void make_static_root() {
    strcpy(g_static_root, "/tmp/eddy-fuzz-web.XXXXXX");
    if (!mkdtemp(g_static_root)) abort();
    atexit(remove_static_root);
    std::string root = g_static_root;
    write_file(root + "/index.html", "<html><body>static index</body></html>\n");
    write_file(root + "/big.txt", big_text('s', 2000));
    // The .gz twin is served as is (never decompressed by the server); real gzip bytes anyway.
    static const unsigned char kGz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03,
                                        0x2b, 0xce, 0xc8, 0x2f, 0x2a, 0xe1, 0x02, 0x00, 0xc7, 0xec,
                                        0x80, 0x0a, 0x06, 0x00, 0x00, 0x00};  // "short\n"
    write_file(root + "/big.txt.gz", std::string(reinterpret_cast<const char *>(kGz), sizeof kGz));
    write_file(root + "/empty.txt", "");
    if (mkdir((root + "/sub").c_str(), 0700) != 0) abort();
    write_file(root + "/sub/a.css", "body { color: red }\n");
    write_file(root + "/sub/data.json", "{\"k\": [1, 2, 3]}\n");
    // Compressible, no twin, over a 32 KiB piece: gzipped as it is read, in two flushes.
    write_file(root + "/sub/wide.css", big_text('c', 40000));
    if (symlink("/etc", (root + "/escape").c_str()) != 0) abort();  // leaves the root: 403
}

eddy_route *add_route(const char *pattern, RouteInfo *ri) {
    eddy_route *r = eddy_app_add_route(g_app, pattern, EDDY_NTS, ri, nullptr);
    if (!r) abort();
    return r;
}

void hooks(eddy_route *r, bool all) {
    if (all) {
        eddy_route_set_prepare(r, prepare);
        eddy_route_set_on_finish(r, on_finish);
    }
    eddy_route_set_default_headers(r, set_default_headers);
    eddy_route_set_write_error(r, write_error);
    eddy_route_set_on_connection_close(r, on_connection_close);
}

void on_methods(eddy_route *r, std::initializer_list<const char *> methods) {
    for (const char *m : methods)
        if (eddy_route_on(r, m, EDDY_NTS, on_method) != 0) abort();
}

void init() {
    g_loop = fuzz_loop::start();
    g_app = eddy_app_new(g_loop);
    if (!g_app) abort();
    make_static_root();

    if (eddy_app_set_cookie_secret(g_app, kSecret, EDDY_NTS) != 0) abort();
    eddy_app_set_xsrf_cookies(g_app, 1);
    eddy_app_set_compress_response(g_app, 1);
    if (eddy_app_add_static(g_app, "/static/", EDDY_NTS, g_static_root, EDDY_NTS) != 0) abort();

    // Host table first (tried before the default table for matching hosts).
    eddy_route *r = eddy_app_add_host_route(g_app, "(www\\.)?example\\.(com|org)", EDDY_NTS, "/",
                                            EDDY_NTS, &g_routes[kHost], nullptr);
    if (!r) abort();
    on_methods(r, {"GET", "POST"});
    hooks(r, true);
    r = eddy_app_add_host_route(g_app, "(www\\.)?example\\.(com|org)", EDDY_NTS, "/h/([a-z]+)",
                                EDDY_NTS, &g_routes[kHost], nullptr);
    if (!r) abort();
    on_methods(r, {"GET"});
    hooks(r, false);

    // Literal routes (the fast path), then patterns.
    r = add_route("/", &g_routes[kRoot]);
    on_methods(r, {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"});
    hooks(r, true);
    r = add_route("/index.txt", &g_routes[kIndex]);
    on_methods(r, {"GET", "POST"});
    hooks(r, false);
    r = add_route("/only-get", &g_routes[kOnlyGet]);  // HEAD falls back to GET, others 405
    on_methods(r, {"GET"});
    hooks(r, true);
    r = add_route("/items/([0-9]+)", &g_routes[kItems]);
    on_methods(r, {"GET", "POST", "DELETE"});
    hooks(r, true);
    eddy_route_set_name(r, "item", EDDY_NTS);
    r = add_route("/user/(?P<name>[^/]+)/(?P<rest>.*)", &g_routes[kUser]);
    on_methods(r, {"GET", "HEAD", "POST", "PUT"});
    hooks(r, true);
    r = add_route("/api/(?P<id>[^/]*)", &g_routes[kApi]);  // no XSRF check
    on_methods(r, {"GET", "POST", "PUT", "PATCH", "DELETE"});
    eddy_route_set_xsrf_check(r, 0);
    hooks(r, true);
    r = add_route("/x/(.*)", &g_routes[kCustom]);  // a custom method
    on_methods(r, {"GET", "PROPFIND"});
    hooks(r, true);
    r = add_route("/reproxy-test(?:/(.*))?", &g_routes[kReproxy]);  // h2o's corpus paths
    on_methods(r, {"GET", "POST"});
    hooks(r, true);
    r = add_route("/stream/(.*)", &g_routes[kStream]);
    if (eddy_route_on(r, "PUT", EDDY_NTS, stream_done) != 0 ||
        eddy_route_on(r, "POST", EDDY_NTS, stream_done) != 0)
        abort();
    eddy_route_set_data_received(r, stream_data);
    eddy_route_set_xsrf_check(r, 0);
    hooks(r, false);
    eddy_route_set_prepare(r, stream_prepare);
    eddy_route_set_on_finish(r, on_finish);
    // A pattern that does not compile: NULL, nothing added.
    if (eddy_app_add_route(g_app, "/bad/(", EDDY_NTS, nullptr, nullptr)) abort();

    g_server = eddy_app_server(g_app);
    if (!g_server) abort();
    eddy_server_set_max_header_size(g_server, 4096);
    eddy_server_set_max_body_size(g_server, 8192);
    eddy_server_set_decompress_request(g_server, 1);
    // Timeouts a few "\n--TICK--\n" (1 s of virtual time each) reach; the clock moves only
    // on ticks, so they never fire on their own.
    eddy_server_set_header_timeout(g_server, 2);
    eddy_server_set_body_timeout(g_server, 3);
    eddy_server_set_idle_timeout(g_server, 4);
    eddy_server_set_xheaders(g_server, 1);
    // The fed connections come from 127.0.0.1 (feed_connection.hpp): trusting it is what
    // makes xheaders run (X-Real-IP, the X-Forwarded-For walk past 10.0.0.1, X-Scheme).
    eddy_server_add_trusted_proxy(g_server, "10.0.0.1");
    eddy_server_add_trusted_proxy(g_server, "127.0.0.1");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool initialised = (init(), true);
    (void)initialised;

    size_t live_before = g_live_handlers;
    fuzz_feed::feed_connection(g_loop, g_server, data, size);
    if (g_live_handlers > live_before && eddy_server_connection_count(g_server) == 0) {
        fprintf(stderr, "fuzz_web_app: %zu handler(s) never released\n", g_live_handlers - live_before);
        abort();
    }
    return 0;
}
