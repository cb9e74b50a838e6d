// libFuzzer target: arbitrary client bytes through a real eddy loop and HTTP server.
//
// One loop and one server live for the whole process. Each input is one client connection
// (feed_connection.hpp: a socketpair, the bytes split into writes at h2o's "\n--MARK--\n"
// marker, SHUT_WR, bounded pumping, responses read and discarded).
//
// The request callback varies what it does by request (synchronous answer, chunked flushes,
// deferred finish from eddy_loop_call_soon, reading headers/arguments/files), and the headers
// callback streams some bodies, so that the response paths run against every parser state.
// Nothing may leak per input (run with ASan's leak check, libFuzzer's default).
#include <eddy/eddy.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cstdlib>
#include <string>

#include "feed_connection.hpp"
#include "fuzz_loop.hpp"
#include "touch_request.hpp"

namespace {

eddy_loop *g_loop;
eddy_server *g_server;
size_t g_sink;  // keeps the "read" results alive so nothing is optimised away


// A cheap per-request choice: mixes the target's bytes so every target picks a mode.
unsigned request_mode(eddy_request *req) {
    size_t len = 0;
    const char *uri = eddy_request_uri(req, &len);
    unsigned h = static_cast<unsigned>(len);
    for (size_t i = 0; i < len; i++) h = h * 31 + static_cast<unsigned char>(uri[i]);
    return h;
}

void respond(eddy_request *req, unsigned mode) {
    size_t len = 0;
    const char *path = eddy_request_path(req, &len);
    // "/big…": 24 KiB first, so a few pipelined requests queue past the server's 64 KiB output
    // hold when the client holds its reading ("\n--HOLD--\n").
    if (len >= 4 && memcmp(path, "/big", 4) == 0) {
        static const std::string big(24 * 1024, 'b');
        eddy_request_write(req, big.data(), big.size());
    }
    switch (mode % 4) {
    case 0:  // plain answer with a Content-Length
        eddy_request_set_header(req, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
        eddy_request_write(req, "hello\n", 6);
        break;
    case 1:  // echo the path back, chunked in two flushes
        eddy_request_add_header(req, "X-Mode", EDDY_NTS, "chunked", EDDY_NTS);
        eddy_request_write(req, path, len);
        eddy_request_flush(req, nullptr);
        eddy_request_write(req, "\n", 1);
        eddy_request_flush(req, nullptr);
        break;
    case 2:  // a status without a body, a declared length written short
        if (mode & 4) {
            eddy_request_set_status(req, 204, nullptr, 0);
        } else {
            eddy_request_set_status(req, 299, "Fuzzy", EDDY_NTS);
            eddy_request_set_header(req, "Content-Length", EDDY_NTS, "3", 1);
            eddy_request_write(req, "ab", 2);
        }
        break;
    default:  // echo the body
    {
        const char *body = eddy_request_body(req, &len);
        eddy_request_write(req, body, len);
        break;
    }
    }
}

// Per-request state (request userdata): whether the request callback ran and whether a
// deferred finish is queued. A request whose head reached the headers callback belongs to the
// application from then on: if its connection closes before the body is complete, the request
// callback never runs and the close callback must finish it (else it leaks, by design).
struct ReqState {
    bool reached = false;
    bool deferred = false;
    bool answered_early = false;  // a streamed body's answer started before the body ended
};

void free_state(void *p) { delete static_cast<ReqState *>(p); }

void finish_later(eddy_loop *, void *userdata) {
    auto *req = static_cast<eddy_request *>(userdata);
    if (!eddy_request_connection_closed(req)) respond(req, request_mode(req) >> 3);
    eddy_request_finish(req);
}

bool defer_finish(eddy_request *req) {
    auto *st = static_cast<ReqState *>(eddy_request_get_userdata(req));
    if (eddy_loop_call_soon(g_loop, finish_later, req, nullptr) == 0) return false;
    st->deferred = true;
    return true;
}

void on_close(eddy_request *req, void *userdata) {
    auto *st = static_cast<ReqState *>(userdata);
    g_sink += 1;
    if (st->deferred || st->reached) return;  // a queued finish_later releases it
    // Closed before the request callback: finish it now, or on a later iteration.
    if ((request_mode(req) & 2) && defer_finish(req)) return;
    eddy_request_finish(req);
}

void on_request(eddy_request *req, void *) {
    auto *st = static_cast<ReqState *>(eddy_request_get_userdata(req));
    g_sink += touch_request(req);
    unsigned mode = request_mode(req);
    st->reached = true;
    // Deferred: finish on a later iteration (the connection may close before that).
    if ((mode & 1) && defer_finish(req)) return;
    respond(req, mode >> 1);
    eddy_request_finish(req);
}

void on_data(eddy_request *req, const char *data, size_t len, void *) {
    g_sink += len + (len ? data[0] : 0);
    // Some streamed bodies get their answer's head before the body is in: a body timeout then
    // cuts an answer that started (the connection closes instead of a 408).
    auto *st = static_cast<ReqState *>(eddy_request_get_userdata(req));
    if (st && !st->answered_early && (request_mode(req) & 16)) {
        st->answered_early = true;
        eddy_request_write(req, "early\n", 6);
        eddy_request_flush(req, nullptr);
    }
}

void on_headers(eddy_request *req, void *) {
    eddy_request_set_userdata(req, new ReqState, free_state);
    size_t len = 0;
    const char *method = eddy_request_method(req, &len);
    bool put = len == 3 && memcmp(method, "PUT", 3) == 0;
    // Some streamed bodies go without a close callback: one cut short is then the server's to
    // release (nothing may leak either way).
    if (!put || (request_mode(req) & 8) == 0) eddy_request_set_close_callback(req, on_close);
    if (put) {
        eddy_request_stream_body(req, on_data, nullptr);
    } else if (len == 6 && memcmp(method, "DELETE", 6) == 0) {
        // Answer from the headers callback: the body is not read, the connection closes after.
        eddy_request_set_status(req, 403, nullptr, 0);
        eddy_request_finish(req);
    } else if (request_mode(req) % 7 == 0) {
        eddy_request_set_max_body_size(req, 16);
    } else if (request_mode(req) % 7 == 1) {
        // Shorter than the server's 3 s: a tick and a half of silence ends the body.
        eddy_request_set_body_timeout(req, 1.5);
    }
}

void access_log(eddy_request *req, void *) {
    g_sink += static_cast<size_t>(eddy_request_response_status(req)) + eddy_request_bytes_sent(req);
}

void init() {
    g_loop = fuzz_loop::start();
    g_server = eddy_server_new(g_loop, on_request, nullptr, nullptr);
    if (!g_server) abort();
    eddy_server_set_headers_callback(g_server, on_headers);
    eddy_server_set_access_log(g_server, access_log, nullptr, nullptr);
    eddy_server_set_max_header_size(g_server, 4096);
    eddy_server_set_max_header_fields(g_server, 32);  // reachable within 4096 bytes
    eddy_server_set_max_body_size(g_server, 8192);
    // Under the body limit: a body between the two (or pipelined bodies held together by
    // deferred answers) meets the 503 of the body-memory bound.
    eddy_server_set_max_body_memory(g_server, 6000);
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
    eddy_server_allow_method(g_server, "PROPFIND", EDDY_NTS);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool initialised = (init(), true);
    (void)initialised;

    fuzz_feed::feed_connection(g_loop, g_server, data, size);
    return 0;
}
