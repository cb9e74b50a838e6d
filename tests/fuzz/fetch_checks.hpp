// fuzz_client_response's invariants: the callbacks of one eddy_fetch, recording what the
// client reported and aborting (a crash libFuzzer keeps) as soon as it breaks a promise of
// include/eddy/client.h or of HTTP framing, whatever the server sent:
//   - `done` runs exactly once, never inside eddy_fetch_start(), and the userdata is freed
//     exactly once, after it;
//   - a 1xx is never the final response: the headers callback and a successful `done` see a
//     status of 200..599, the headers callback at most once (exactly once before a success);
//   - no body for HEAD, 204 and 304; no chunk before the headers callback or after `done` or
//     after the request was cancelled; chunks and buffered body are exclusive;
//   - a successful body is exactly the declared Content-Length (when not decoded) and never
//     over the body limit;
//   - what the client sends stays well-formed whatever the responses said (a Location becomes
//     a request target and a Host field): check_request_head.
// Header-only: one translation unit.
#pragma once

#include <eddy/eddy.h>
#include <stdio.h>
#include <string.h>

#include <cstdlib>
#include <string>

namespace fuzz_checks {

[[noreturn]] inline void fail(const char *what) {
    fprintf(stderr, "fuzz_client_response: invariant broken: %s\n", what);
    abort();
}
inline void check(bool ok, const char *what) {
    if (!ok) fail(what);
}

struct FetchRecord {
    bool used = false;
    bool head = false;          // the method is HEAD (also after redirects: HEAD stays HEAD)
    bool streaming = false;     // a chunk callback is set
    bool want_headers = false;  // a headers callback is set
    int cancel_in = 0;          // 1: cancel from the headers callback, 2: after the first chunk
    size_t max_body = 0;
    eddy_fetch *fetch = nullptr;  // valid until `done`
    bool in_start = false;
    bool cancelled = false;
    int headers_calls = 0;
    int done_calls = 0;
    int frees = 0;
    int error = 1;  // what `done` got (1: not yet)
    size_t chunk_bytes = 0;
    int status = 0;
};

// No body may follow a HEAD request's response or a 204 / 304.
inline bool bodyless(const FetchRecord &r, int status) {
    return r.head || status == 204 || status == 304;
}

inline void on_headers(eddy_fetch *f, void *ud) {
    auto *r = static_cast<FetchRecord *>(ud);
    check(r->done_calls == 0 && !r->in_start, "headers callback after done / inside start");
    check(++r->headers_calls == 1, "headers callback twice");
    int status = eddy_fetch_response_status(f);
    check(status >= 200 && status <= 599, "headers callback for a 1xx or a bad status");
    // Touch what an application reads here.
    size_t n = eddy_fetch_response_header_count(f);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nl, vl;
        check(eddy_fetch_response_header_at(f, i, &name, &nl, &value, &vl) == 0, "header_at");
        check(strlen(name) == nl && strlen(value) <= vl, "header lengths");
    }
    check(eddy_fetch_response_header_at(f, n, nullptr, nullptr, nullptr, nullptr) == EDDY_ENOENT,
          "header_at past the end");
    size_t len;
    eddy_fetch_response_reason(f, &len);
    if (r->cancel_in == 1) {
        check(eddy_fetch_cancel(f) == 0, "cancel from the headers callback");
        r->cancelled = true;
    }
}

inline void on_chunk(eddy_fetch *f, const char *data, size_t len, void *ud) {
    auto *r = static_cast<FetchRecord *>(ud);
    check(r->done_calls == 0 && !r->cancelled, "chunk after done or after cancel");
    check(!r->want_headers || r->headers_calls == 1, "chunk before the headers callback");
    check(len > 0 && data, "empty chunk");
    int status = eddy_fetch_response_status(f);
    check(status >= 200, "chunk of a 1xx");
    check(!bodyless(*r, status), "chunk for HEAD / 204 / 304");
    r->chunk_bytes += len;
    check(r->chunk_bytes <= r->max_body, "streamed body over the limit");
    if (r->cancel_in == 2) {
        check(eddy_fetch_cancel(f) == 0, "cancel from the chunk callback");
        r->cancelled = true;
    }
}

// The declared Content-Length of a response whose body was not decoded, or -1.
inline long long declared_length(eddy_fetch *f) {
    if (eddy_fetch_response_header(f, "X-Consumed-Content-Encoding", nullptr)) return -1;
    size_t len = 0;
    const char *cl = eddy_fetch_response_header(f, "Content-Length", &len);
    if (!cl) return -1;
    check(len > 0 && strspn(cl, "0123456789") == len, "a Content-Length accepted as not digits");
    return len > 18 ? -1 : strtoll(cl, nullptr, 10);
}

inline void on_done(eddy_fetch *f, int error, void *ud) {
    auto *r = static_cast<FetchRecord *>(ud);
    check(!r->in_start, "done inside eddy_fetch_start");
    check(++r->done_calls == 1, "done twice");
    check(r->frees == 0, "done after the userdata was freed");
    r->error = error;
    r->fetch = nullptr;
    if (r->cancelled) check(error == EDDY_ECANCELED, "a cancelled request did not end ECANCELED");
    if (error != 0) return;
    int status = eddy_fetch_response_status(f);
    r->status = status;
    check(status >= 200 && status <= 599, "success with a 1xx or a bad status");
    check(!r->want_headers || r->headers_calls == 1, "success without the headers callback");
    size_t body_len = 0;
    eddy_fetch_response_body(f, &body_len);
    check(!r->streaming || body_len == 0, "a buffered body beside the chunk callback");
    size_t total = r->streaming ? r->chunk_bytes : body_len;
    check(total <= r->max_body, "body over the limit");
    if (bodyless(*r, status)) {
        check(total == 0, "a body for HEAD / 204 / 304");
        return;
    }
    long long cl = declared_length(f);
    check(cl < 0 || static_cast<size_t>(cl) == total, "body length differs from Content-Length");
}

// A request head the client sent: "METHOD SP target SP HTTP/1.1" and field lines, each ended by
// CRLF, with no control character but HTAB in a field value and none at all (nor a space) in
// the method or target. Heads that do not start with one of our methods are not requests: a
// TLS ClientHello after a CONNECT, or a body sent after "100 Continue".
inline void check_request_head(const std::string &head) {
    static const char *const kMethods[] = {"GET ", "HEAD ", "POST ", "PUT ", "CONNECT "};
    bool ours = false;
    for (const char *m : kMethods) ours = ours || head.compare(0, strlen(m), m) == 0;
    if (!ours) return;
    size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    size_t sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1);
    check(sp2 != std::string::npos && sp2 > sp1 + 1 &&
              line.compare(sp2, std::string::npos, " HTTP/1.1") == 0,
          "a malformed request line");
    for (size_t i = 0; i < sp2; i++) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        check(i == sp1 || (c > 0x20 && c < 0x7f), "a control or space in the request target");
    }
    for (size_t i = line_end + 2; i < head.size(); i++) {
        unsigned char c = static_cast<unsigned char>(head[i]);
        if (c == '\r') {
            check(i + 1 < head.size() && head[i + 1] == '\n', "a bare CR in the request head");
            i++;
            continue;
        }
        check(c != '\n', "a bare LF in the request head");
        check(c == '\t' || (c >= 0x20 && c != 0x7f), "a control character in a request field");
    }
}

inline void on_free(void *ud) {
    auto *r = static_cast<FetchRecord *>(ud);
    check(r->done_calls == 1, "userdata freed without done");
    check(++r->frees == 1, "userdata freed twice");
}

}  // namespace fuzz_checks
