// Request: one HTTP request and its response (Tornado's HTTPServerRequest plus the response
// half of HTTP1Connection). The object behind eddy_request.
//
// Life: created by the connection when a request line starts; handed to the application when
// the head (headers callback) and then the whole message (request callback) arrived; released
// after finish() once no flush callback is pending — whether or not the connection survived.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <event2/buffer.h>

#include "eddy/http.h"
#include "http/body_buffer.hpp"
#include "http/httputil.hpp"
#include "http/response_fields.hpp"
#include "loop/loop.hpp"
#include "util/memory_budget.hpp"

namespace eddy {
class Stream;
}

namespace eddy::http {

class Connection;
class RequestPool;
class Server;

struct HeaderField {
    std::string name;
    std::string value;
};

// Linked to its loop (LoopHeld, no vtable) once the application holds it (track_held) until
// its release: eddy_loop_free releases one the application still holds (see on_loop_free),
// which nothing else would ever release once the loop is gone.
class Request {
public:
    Request(Connection *conn, Server *server);
    ~Request();
    Request(const Request &) = delete;
    Request &operator=(const Request &) = delete;

    eddy_request *as_c() { return reinterpret_cast<eddy_request *>(this); }
    static Request *from_c(eddy_request *r) { return reinterpret_cast<Request *>(r); }
    static const Request *from_c(const eddy_request *r) {
        return reinterpret_cast<const Request *>(r);
    }

    // ---- what arrived (filled by the connection) ----
    std::string method;
    std::string uri;
    std::string path;
    std::string query;
    std::string host;
    std::string scheme = "http";
    std::string remote_ip;
    int remote_port = 0;
    int version_minor = 1;  // HTTP/1.<minor>; only major 1 is accepted
    std::vector<HeaderField> headers;
    BodyBuffer body;  // the buffered body (not the streamed one)
    double start_time = 0;

    const HeaderField *find_header(std::string_view name) const;
    // Every field line of `name` joined as one list, ", " between lines (RFC 9110 §5.3: a
    // repeated field is its lines' list); how many lines in *lines when not null.
    std::string joined_header(std::string_view name, size_t *lines = nullptr) const;

    // Arguments are parsed on first use (query) or when the body completes (body).
    // query_arguments() throws std::bad_alloc when memory runs out (and keeps no half list).
    const std::vector<Argument> &query_arguments() const;
    std::vector<Argument> body_args;
    std::vector<UploadedFile> files;
    // Most pairs an urlencoded body may hold (a multipart body has MultipartLimits).
    static constexpr size_t kMaxBodyArguments = 10000;
    // Parses urlencoded / multipart bodies. Returns 0; 400 for malformed multipart or a body
    // over its limits (`error` says which, for the log line); 503 out of memory (error "out of
    // memory", no arguments kept): the status to refuse the request with.
    int parse_body_arguments(std::string &error);

    // Stops reading the streamed body (flow control) and notes when, so that the time the
    // application holds it does not count against the client's minimum rate. Resuming is
    // Connection::resume_body after clearing body_paused.
    void pause_body();

    // ---- request state ----
    Connection *conn;  // nullptr once the connection closed
    Server *server;    // nullptr once the server was freed
    void *userdata = nullptr;
    eddy_free_fn free_userdata = nullptr;
    eddy_request_event_fn close_cb = nullptr;
    eddy_request_data_fn on_data = nullptr;
    eddy_request_event_fn on_end = nullptr;
    bool streaming = false;
    bool body_paused = false;        // set through pause_body()
    bool head_delivered = false;     // the headers callback ran
    bool message_complete = false;   // the whole body was read
    bool wants_keep_alive = false;   // what the client asked for
    bool has_preconditions = false;  // an If-Match or If-None-Match field came (check_head)
    size_t max_body = 0;
    double body_timeout = 0;
    // The least average rate of the body (eddy_server_set_body_min_rate; 0: none), counted once
    // body_rate_grace seconds have passed: the body is behind when
    // now > body_clock + body_rate_grace + bytes / body_min_rate (see Connection).
    double body_min_rate = 0;
    double body_rate_grace = 0;
    // When the body's rate clock started (after the headers callback), moved later by the time
    // the application held the body (pause_body until resume): that time is not the client's.
    double body_clock = 0;
    // The body's bytes (as the rate counts them) when its rate clock started: 0, or what had
    // come when the application changed the rate mid-body (Connection::body_limits_changed).
    uint64_t body_rate_from = 0;
    double body_paused_at = 0;       // when the current pause began (while body_paused)
    uint64_t body_received = 0;      // decoded body bytes so far
    // The buffered body's bytes, counted against the server's max_body_memory until this
    // request is released.
    MemoryShare body_memory;
    std::unique_ptr<GzipDecoder> gunzip;

    // ---- response ----
    int set_status(int code, std::string_view reason);
    // EDDY_ESTATE (and a log line) once the head went out or the response finished.
    // EDDY_ENOMEM when it cannot be stored: the response is lost (lose_response).
    int set_header(std::string_view name, std::string_view value, bool replace);
    int clear_header(std::string_view name);
    // Part of the response could not be stored (out of memory): a status, a header (a
    // Location, a Set-Cookie, the Content-Encoding of a gzipped body...). The response must not
    // go out without it, even when the application ignores the EDDY_ENOMEM it got: the head is
    // refused, which cuts the connection as any out-of-memory answer does. An error page
    // (reset_response) starts afresh, unless a Set-Cookie was lost: the page keeps the
    // cookies, so it would go without that one. Logs `what`; returns EDDY_ENOMEM.
    [[gnu::noinline, gnu::cold]] int lose_response(std::string_view what);
    bool response_lost() const { return lost_ != Lost::nothing; }
    // Drops the Set-Cookie fields for cookie `name` set so far (a new value replaces them).
    void forget_set_cookie(std::string_view name) {
        if (!headers_sent_ && !finished_) out_headers_.remove_set_cookie(name);
    }
    // For the server's own headers (ETag, default Content-Type, Vary): no validation, appended
    // (out of memory: the response is lost, as with set_header).
    void add_trusted_header(std::string_view name, std::string_view value);
    // The automatic ETag (web layer): kept as its whole header line in a fixed slot, not in the
    // header list, because it is computed for nearly every GET response. The _hash form is the
    // web layer's body hash: `"` + its low 52 bits as 13 hex digits (+ `-gz`) + `"`.
    void set_automatic_etag(std::string_view etag);
    void set_automatic_etag_hash(uint64_t hash, bool gzip_suffix);
    std::string_view automatic_etag() const;  // the value set above ("" if none)
    // An ETag field was set by the application (set_header / add_trusted_header).
    bool has_etag_field() const { return etag_field_set_; }
    int write(const void *data, size_t len);
    int flush(eddy_request_flush_fn cb);
    // Sends the headers (if not yet sent), then `len` bytes of `file_fd` from `offset` with
    // sendfile; takes ownership of `file_fd` in every case.
    int send_file(int file_fd, off_t offset, size_t len);
    int finish();
    // eddy_request_abort: ends the request as finish() does, but the response is left
    // incomplete on purpose and the connection closes once what was sent leaves.
    int abort();
    bool finished() const { return finished_; }
    bool headers_sent() const { return headers_sent_; }
    int status() const { return status_; }
    int sent_status() const { return headers_sent_ ? status_ : 0; }
    // (Nothing when the head never went out: an aborted answer, a client that left first.)
    uint64_t bytes_sent() const { return headers_sent_ && !is_head() ? body_written_ : 0; }
    bool keep_alive_response() const { return keep_alive_; }
    // The connection is still there to write to. Inline, defined in connection.hpp (it reads
    // the Connection): every response call checks it.
    inline bool connected() const;

    // Called by the connection when it goes away before finish().
    void connection_lost();
    // The loop is being freed with this request not yet released. One the application holds
    // (unfinished and its own, or answered by the server and waiting for its finish) is
    // released now: its userdata through its free function, no callback, and the handle is
    // invalid from here on (loop.h). A binding finishes held requests through the loop, which
    // is gone: without this, the request and the binding's per-request state (closures,
    // handles) would never be released. So is a finished one that only waited for its flush
    // completions: its stream goes with the loop without them. The completions still pending
    // are freed uncalled in every case. One a web handler holds (detached, or finished and
    // waiting for its flushes) is released after that handler (holder_release), unless a
    // WebSocket session took the handler (then the session, released later with the loop's
    // resources, releases the handler and the request with it); one still the server's is
    // released by its connection (Server).
    void on_loop_free();
    // Set by the holder that took this request with hold() (a web handler): how to release
    // that holder when the loop is freed with it still holding an unfinished request (no
    // callbacks; the holder gives its hold back). Without it the holder, its userdata and this
    // request would never be released.
    void (*holder_release)(void *holder) = nullptr;
    void *holder = nullptr;
    // The application kept it past the callback that handed it over (the request callback
    // returned with it unfinished, or the headers callback took it with a close callback), or
    // asked for a flush callback: from now on the loop's free releases it (on_loop_free). Only
    // then, not at its making: a request answered inside its callback, the common case, never
    // pays for the list.
    void track_held();
    // Called by the connection after it answered a request with an error of its own (a bad or
    // oversized body) while the application holds it (its close callback is set): the
    // application is told through that callback, and the request stays valid until the
    // application's finish() (which then returns EDDY_ESTATE and releases it).
    void finished_by_server();
    // The web layer took the stream over and wrote a 101 on it (a WebSocket handshake): the
    // request goes to the access log now, with that status, as Tornado logs its 101 at the
    // handshake. The finish() that follows when the session ends has no connection and logs
    // nothing more.
    void log_switching_protocols();
    // The access log's entry for this request, at most once (a finish after the client left,
    // a WebSocket's 101 then its session's end), and only while the server exists.
    void log_access_once();
    // Whether the application must finish this request itself when the connection goes away:
    // once the request callback ran, or when it took the request from the headers callback
    // with a close callback (the call that tells it). Otherwise the server releases it — a
    // streamed body without a close callback too: kept, it would wait forever for an on_end
    // nobody sends (a client hanging up mid-body would leak one request each time), and it
    // matches what send_error() does when the server answers such a body itself.
    bool owned_by_application() const {
        return message_complete || (head_delivered && close_cb != nullptr);
    }

    // For the web layer: keep the object alive past finish() until unhold() (e.g. so that
    // on_finish can still read the request), reset the response before an error page, and
    // reach the body written so far (ETag, gzip) before anything was flushed.
    void hold() { holds_++; }
    void unhold();
    void reset_response();
    // The body written so far as one evbuffer (created on demand; nullptr when out of memory).
    evbuffer *pending_body();
    // The body written since the last flush as one contiguous view, valid until the next
    // write (small bodies are viewed in place, without an evbuffer). Throws std::bad_alloc
    // when it cannot be made contiguous.
    std::string_view pending_bytes() {
        if (!pending_) return small_body_;  // the common case, without a call
        return pending_evbuffer_bytes();
    }
    // Replaces the body written since the last flush (gzip, 304).
    int replace_body(const void *data, size_t len);
    const ResponseFields &response_headers() const { return out_headers_; }
    int64_t declared_length() const { return declared_length_; }
    // Whether the status allows content (not 1xx, 204, 205 or 304).
    bool body_allowed() const;

private:
    [[gnu::noinline, gnu::cold]] int late_header(std::string_view name) const;
    std::string_view pending_evbuffer_bytes();
    bool is_head() const { return equals_literal(method, "HEAD"); }
    // Writes the head (with the whole body when `final` and it fits); true when that was the
    // whole answer and it went to the socket at once.
    bool send_head(bool final);
    // send_head and move_body_out for flush/send_file (queue_output) and finish (queue_end):
    // false when memory ran out on the way.
    bool queue_output() noexcept;
    bool queue_end() noexcept;
    // For abort(): the body written since the head went out, never the response's end.
    bool queue_unfinished() noexcept;
    int end_response(bool complete);
    // Out of memory mid-response: logs, closes the connection abruptly, returns EDDY_ENOMEM.
    [[gnu::cold]] int cut_connection(const char *where);
    // The body written and not yet moved to the stream (small_body_, then pending_).
    size_t held_body_length() const;
    void discard_held_body();
    void drop_unsendable_body();
    void move_body_out(bool final);
    void maybe_release();
    static void on_flushed(Stream *s, int status, void *arg);
    // Frees the flush completions still pending without running them (the loop is freed and
    // its stream with them, which never calls back then).
    void drop_flush_waiters();

    bool parse_body_arguments_or_throw(std::string &error);

    mutable std::vector<Argument> query_args_;
    mutable bool query_parsed_ = false;

    int status_ = 200;
    std::string reason_;
    ResponseFields out_headers_;
    int64_t declared_length_ = -1;  // Content-Length set by the application
    uint64_t body_written_ = 0;
    static constexpr size_t kSmallBody = 4096;
    std::string small_body_;         // written but not yet flushed, while small...
    evbuffer *pending_ = nullptr;    // ...and beyond that (after small_body_'s bytes)
    static constexpr size_t kEtagPrefix = 6;  // "Etag: "
    char etag_line_[48];  // "Etag: <value>\r\n" (etag_line_len_ bytes of it; 0: none)
    unsigned char etag_line_len_ = 0;
    bool etag_field_set_ = false;
    bool headers_sent_ = false;
    bool finished_ = false;
    bool chunked_ = false;
    bool keep_alive_ = false;
    bool app_wants_close_ = false;
    bool upgrade_offered_ = false;  // the application set Upgrade: Connection names it
    struct FlushWaiter;
    // Flush completions the stream has yet to report, oldest first (they come in write order):
    // a ring linked through FlushWaiter::next, this pointing at the newest (nullptr: none).
    // Kept here, not only in the stream, so that the request can free them when they never
    // come (on_loop_free) and is not kept by them (maybe_release).
    FlushWaiter *flush_tail_ = nullptr;
    int holds_ = 0;
    bool server_hold_ = false;  // finished_by_server(): a hold the application's finish() ends
    bool access_logged_ = false;  // log_access_once() ran
    // In the server's list of held requests whose connection closed (Server::adopt_orphan).
    bool orphan_ = false;
    Request *orphan_prev_ = nullptr, *orphan_next_ = nullptr;
    friend class Server;
    enum class Lost : uint8_t { nothing, field, cookie };
    Lost lost_ = Lost::nothing;    // see lose_response: this response must not go out
    RequestPool *pool_ = nullptr;  // where its memory goes when released (nullptr: the heap)
    Loop *loop_ = nullptr;         // whose held list it is in (nullptr: none)
    LoopHeld held_link_;           // its link in that list (track_held)

    friend class RequestPool;
};

}  // namespace eddy::http
