// libFuzzer target: the HTTP client (lib/client) against a hostile server. The input is what
// the server sends; the harness (loopback_server.hpp) is that server, on 127.0.0.1.
//
// One loop lives for the whole process, with two clients: a direct one, and one whose proxy is
// the harness's own port — the only way redirects can be followed safely, since a fuzzed
// Location names any host: through the proxy every request, wherever it points, connects to
// 127.0.0.1 and nothing is resolved (loopback_only.cpp aborts on any other connect() and on
// any name lookup).
//
// Input: two option bytes, then the server's bytes. Those are split at "\n--NEXT--\n" into up
// to three exchanges, each the answer to one request, and each split again at h2o's
// "\n--MARK--\n" into separate writes with loop turns between. After an exchange the harness
// closes the connection, unless the options keep it open: then a second request follows once
// the first is done, over the pooled connection when the client kept it. A followed redirect
// takes the next exchange too. At the end the harness closes everything; a request still
// running is cancelled (its `done` must come within two turns) or its client freed (`done`
// inside the free). fetch_checks.hpp has the invariants; LeakSanitizer (libFuzzer's default)
// checks that nothing leaks.
#include <eddy/eddy.h>
#include <stdio.h>
#include <string.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "fetch_checks.hpp"
#include "loop/fuzz_clock.hpp"
#include "loopback_server.hpp"

namespace {

using fuzz_checks::check;
using fuzz_checks::FetchRecord;

constexpr char kNext[] = "\n--NEXT--\n";
constexpr size_t kNextLen = sizeof kNext - 1;
constexpr int kMaxExchanges = 3;
constexpr char kPostBody[] = "name=eddy&kind=fuzz";
// Time is the fuzz build's virtual clock (lib/loop/fuzz_clock.hpp): it moves kTickSeconds at
// each "\n--TICK--\n" in the server's bytes, so an input decides when the timers fire: the
// request timeout (when chosen), the 1 s wait for "100 Continue", the pool's idle timeout.
constexpr double kTickSeconds = 1.5;
constexpr double kRequestTimeout = 2.0;  // two ticks
constexpr double kIdleTimeout = 4.0;     // three ticks

eddy_loop *g_loop;
eddy_client *g_direct;
eddy_client *g_proxied;
fuzz_server::LoopbackServer g_server;
size_t g_sink;

void log_sink(int level, const char *msg, void *) {
    g_sink += static_cast<size_t>(level) + strlen(msg);
}

// What the first two bytes choose.
struct Options {
    const char *method = "GET";
    bool post_body = false;
    bool stream_body = false;   // the POST body through eddy_fetch_write_body, after start
    bool known_length = false;  // ... with its length announced (else sent chunked)
    bool expect_continue = false;
    bool decompress = false;
    bool streaming = false;
    bool headers_cb = false;
    bool keep_open = false;
    size_t max_body = 100u * 1024u * 1024u;
    double request_timeout = 0;  // none
    bool follow = false;         // through the proxied client, redirects followed
    int cancel_in = 0;
    bool free_client = false;  // end by freeing the client (done runs inside the free)
};

Options parse_options(uint8_t b0, uint8_t b1) {
    Options o;
    switch (b0 & 3) {
    case 0: o.method = "GET"; break;
    case 1: o.method = "HEAD"; break;
    case 2:
        o.method = "POST";
        o.post_body = true;
        break;
    default:
        o.method = "POST";
        o.post_body = true;
        o.expect_continue = true;
        break;
    }
    o.decompress = b0 & 4;
    o.streaming = b0 & 8;
    o.headers_cb = b0 & 16;
    o.keep_open = b0 & 32;
    static const size_t kLimits[4] = {100u * 1024u * 1024u, 16, 1024, 65536};
    o.max_body = kLimits[(b0 >> 6) & 3];
    // Rarely a request timeout (virtual seconds: it fires after two ticks of the input).
    if ((b1 & 7) == 7) o.request_timeout = kRequestTimeout;
    o.follow = ((b1 >> 3) & 3) == 3;
    int cancel = (b1 >> 5) & 3;  // 1: from the headers callback, 2: after the first chunk
    if (cancel == 1 && o.headers_cb) o.cancel_in = 1;
    if (cancel == 2 && o.streaming) o.cancel_in = 2;
    o.free_client = cancel == 3;
    o.stream_body = o.post_body && (b1 & 128);
    o.known_length = b1 & 1;
    // PUT keeps its method (and body) across 301/302, which a streamed body cannot follow.
    if (o.stream_body && (b1 & 2)) o.method = "PUT";
    return o;
}

FetchRecord g_records[2];

bool start_fetch(const Options &o, FetchRecord *r, int n) {
    *r = FetchRecord{};
    r->used = true;
    r->head = strcmp(o.method, "HEAD") == 0;
    r->streaming = o.streaming;
    r->want_headers = o.headers_cb;
    r->cancel_in = o.cancel_in;
    r->max_body = o.max_body;
    std::string url =
        "http://127.0.0.1:" + std::to_string(g_server.port()) + (n == 0 ? "/first?q=1" : "/second");
    eddy_fetch *f = eddy_fetch_new(o.follow ? g_proxied : g_direct, o.method, url.c_str());
    if (!f) return false;
    constexpr size_t kPostLen = sizeof kPostBody - 1;
    if (o.stream_body)
        eddy_fetch_set_body_stream(f, o.known_length ? static_cast<int64_t>(kPostLen) : -1);
    else if (o.post_body)
        eddy_fetch_set_body(f, kPostBody, kPostLen);
    eddy_fetch_set_expect_continue(f, o.expect_continue);
    eddy_fetch_set_decompress(f, o.decompress);
    eddy_fetch_set_max_body_size(f, o.max_body);
    eddy_fetch_set_request_timeout(f, o.request_timeout);
    eddy_fetch_set_connect_timeout(f, 0);
    eddy_fetch_set_max_redirects(f, o.follow ? 2 : 0);
    eddy_fetch_set_callbacks(f, o.headers_cb ? fuzz_checks::on_headers : nullptr,
                             o.streaming ? fuzz_checks::on_chunk : nullptr);
    r->fetch = f;
    r->in_start = true;
    int rc = eddy_fetch_start(f, fuzz_checks::on_done, r, fuzz_checks::on_free);
    r->in_start = false;
    if (rc != 0) {
        eddy_fetch_free(f);
        r->used = false;
        return false;
    }
    if (o.stream_body) {  // in two writes, after start: the body goes out as it comes
        check(eddy_fetch_write_body(f, kPostBody, 5) == 0 &&
                  eddy_fetch_write_body(f, kPostBody + 5, kPostLen - 5) == 0 &&
                  eddy_fetch_end_body(f) == 0,
              "streaming a request body");
    }
    return true;
}

bool running(const FetchRecord &r) { return r.used && r.done_calls == 0; }
bool any_running() { return running(g_records[0]) || running(g_records[1]); }

// The direct client, or the one whose proxy is the harness (see the top of this file).
eddy_client *new_client(bool proxied) {
    eddy_client *c = eddy_client_new(g_loop);
    if (!c || (proxied && eddy_client_set_proxy(c, "127.0.0.1", g_server.port()) != 0) ||
        eddy_client_set_idle_timeout(c, kIdleTimeout) != 0)
        abort();
    return c;
}

// Ends the input: closes the server's side, lets the client see it, cancels what still runs,
// and checks every request ended exactly once and the pool is empty for the next input.
void finish_input(const Options &o) {
    if (o.free_client) {
        // Freed at once, without a turn of the loop: running requests end inside the free, and
        // so does a `done` still due on the next turn.
        eddy_client_free(o.follow ? g_proxied : g_direct);
        (o.follow ? g_proxied : g_direct) = new_client(o.follow);
        for (FetchRecord &r : g_records) check(!running(r), "a request outlived its client");
    }
    g_server.close_all();
    g_server.pump_until(g_loop, [] { return !any_running(); });
    for (FetchRecord &r : g_records) {
        if (!running(r)) continue;
        check(r.fetch && eddy_fetch_cancel(r.fetch) == 0, "cancel of a running request");
        r.cancelled = true;
    }
    g_server.pump_until(
        g_loop, [] { return !any_running(); }, 2);
    // EDDY_FUZZ_VERBOSE=1: how each request ended, to check that seeds do what they mean to.
    static const bool verbose = getenv("EDDY_FUZZ_VERBOSE") != nullptr;
    for (FetchRecord &r : g_records) {
        if (!r.used) continue;
        if (verbose)
            fprintf(stderr, "fetch: error %d status %d headers %d chunk bytes %zu%s\n", r.error,
                    r.status, r.headers_calls, r.chunk_bytes, r.cancelled ? " (cancelled)" : "");
        check(r.done_calls == 1, "a request whose done never ran");
        check(r.frees == 1, "a request whose userdata was not freed");
    }
    // Pooled connections saw the close (or bytes while idle) and left the pool: a later input
    // must not reuse one, and the client must not keep a dead one.
    g_server.pump_until(g_loop, [] {
        return eddy_client_idle_count(g_direct) == 0 && eddy_client_idle_count(g_proxied) == 0;
    });
    check(eddy_client_idle_count(g_direct) == 0 && eddy_client_idle_count(g_proxied) == 0,
          "a pooled connection outlived the server's close");
    g_server.close_all();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    eddy_set_log_function(log_sink, nullptr, nullptr);
    g_loop = eddy_loop_new();
    if (!g_loop || !g_server.listen_loopback()) abort();
    g_server.on_request(fuzz_checks::check_request_head);
    g_server.on_tick([] { eddy::fuzz_clock::advance(kTickSeconds); });
    g_direct = new_client(false);
    g_proxied = new_client(true);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    Options o = parse_options(data[0], data[1]);
    data += 2;
    size -= 2;

    // The exchanges: the server's answers to successive requests.
    const uint8_t *ex[kMaxExchanges];
    size_t ex_len[kMaxExchanges];
    int n_ex = 0;
    const uint8_t *p = data, *end = data + size;
    while (n_ex < kMaxExchanges) {
        const uint8_t *next = n_ex + 1 < kMaxExchanges
                                  ? static_cast<const uint8_t *>(
                                        memmem(p, static_cast<size_t>(end - p), kNext, kNextLen))
                                  : nullptr;
        ex[n_ex] = p;
        ex_len[n_ex++] = static_cast<size_t>((next ? next : end) - p);
        if (!next) break;
        p = next + kNextLen;
    }

    g_records[0] = FetchRecord{};
    g_records[1] = FetchRecord{};
    if (!start_fetch(o, &g_records[0], 0)) abort();  // a valid request: must start
    int fetches = 1;
    for (int i = 0; i < n_ex; i++) {
        if (!any_running()) {
            // The first is over: a second request, over the pooled connection if it was kept.
            if (!o.keep_open || fetches == 2) break;
            if (!start_fetch(o, &g_records[1], 1)) abort();
            fetches = 2;
        }
        int fd = g_server.await_request(g_loop, [] { return !any_running(); });
        if (fd < 0) break;
        g_server.write_pieces(g_loop, fd, ex[i], ex_len[i]);
        if (!o.keep_open) g_server.close_conn(fd);
        // Until the request is done or asks again (a redirect followed).
        g_server.pump_until(g_loop, [] { return !any_running() || g_server.request_pending(); });
    }
    finish_input(o);
    return 0;
}
