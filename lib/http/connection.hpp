// Connection: HTTP/1.1 on one stream (Tornado's HTTP1ServerConnection + HTTP1Connection).
//
// Input flows stream → consume() → (method token, head scanner; then ChunkScanner for chunked
// bodies, http-parser for Content-Length ones) → Request.
// Requests are handled one at a time: the parser pauses at every message end and only resumes
// when the response is finished, so pipelined requests are answered in order; when handlers
// answer synchronously a whole pipelined batch is answered within one read and leaves in one
// write.
#pragma once

#include <http_parser.h>

#include <cstdint>
#include <string>

#include "http/parse_state.hpp"
#include "http/request.hpp"
#include "loop/timer_heap.hpp"

namespace eddy {
class Stream;
}

namespace eddy::http {

class Request;
class Server;
struct HeaderField;

class Connection {
public:
    Connection(Server *server, Stream *stream, std::string peer_ip, int peer_port);
    ~Connection();
    void start();

    Server *server() const { return server_; }
    Stream *stream() const { return stream_; }
    bool idle() const { return phase_ == Phase::idle && !request_; }
    // Idle between requests with nothing of the next one read: shutdown() closes it at once.
    bool reclaimable() const {
        return phase_ == Phase::idle && !request_ && !method_pending() && !shutting_down_;
    }

    // Called by Request::finish() after the response went into the stream.
    void request_finished(Request *req);
    // Called by Request::finish() when the connection was already aborted.
    void forget_request(Request *req) {
        if (request_ == req) request_ = nullptr;
    }
    // Called by Request::flush() once output went into the stream: an answer still being
    // streamed is watched as a finished one is (see TimerKind::send).
    void answer_flushed();
    // A fatal problem with the response (e.g. more output than Content-Length): close now.
    void abort();
    // Graceful shutdown: close when idle, else after the current response.
    void shutdown();
    // A connection started during a graceful shutdown with its request already arriving (after
    // a PROXY header): it is not closed as idle, but its next answer is its last.
    void serve_last_request();
    // The server is being freed: close the stream now.
    void close_now();
    // The loop is being freed: forget the stream (the loop frees it) and delete this.
    void detach_for_loop_free();
    // Flow control for streamed bodies.
    void resume_body();
    // The application changed `req`'s body timeout or (`rate_changed`) its minimum rate while
    // its body is arriving: the new limits apply from now on (see body_limits_changed).
    void body_limits_changed(Request *req, bool rate_changed);
    // Protocol switch (WebSocket after its 101): gives the stream, with any bytes read past the
    // request, to the caller; the connection lets go of `req` and deletes itself. Call it from
    // the loop, not from inside a request callback. nullptr when the stream is gone or `req`
    // is not this connection's current request.
    Stream *release_stream(Request *req);
    // The answer to `req` will be a protocol switch made by release_stream's caller from the
    // loop: until then the peer's half-close is not watched for (Stream::set_watch_peer_close),
    // so that a client that sent its handshake and then FIN still gets the 101 (a request
    // followed by a half-close is answered, as for any other request). A reset or a close
    // is seen by the new owner instead. No-op when `req` is not the current request.
    void hold_for_upgrade(Request *req);
    // Whether keep-alive is possible at all (server options, shutdown).
    bool keep_alive_allowed() const;
    // Whether a whole answer finished now may go to the socket at once (Stream::write_now):
    // not while this read still holds pipelined requests, whose answers must join it.
    bool may_answer_now() const { return !in_consume_ || last_in_read_; }

    Connection *prev = nullptr;  // the server's list
    Connection *next = nullptr;

private:
    enum class Phase : uint8_t { idle, head, body, handling, closing };
    // send: an answer the application is still streaming (flushed, not finished) waits in the
    // stream; as for a finished one (idle), a peer that takes none of it for the idle timeout
    // is closed (nginx's send_timeout). Without it, an application that writes its next piece
    // only once the last was sent (backpressure) would keep such a peer for ever.
    enum class TimerKind : uint8_t { none, header, idle, body, send };

    size_t consume(const char *data, size_t len);
    bool feed(const char *data, size_t len, size_t *used);
    bool begin_request_line(const char *data, size_t len, size_t *pos);
    bool head_complete();
    int check_head(uint64_t *content_length);  // returns 0 or an error status
    int apply_transfer_encoding(const HeaderField *te, size_t fields);
    void apply_xheaders();
    void send_error(int status, bool keep_alive);
    void refuse_method(bool keep_alive);
    void want_read();
    bool wait_for_output();  // true: the next request waits until the queued answers left
    void drop_request(bool notify, bool server_gone);
    void set_timer(TimerKind kind);  // starts (or renews) the wait of that kind
    void close_stream(int error);    // abruptly when an answer is cut short (no close_notify)
    double timeout_of(TimerKind kind) const;  // the configured length of that wait
    // The body's wait (TimerKind::body): its inactivity timeout and its minimum rate share the
    // one timer, queued at the earlier of their deadlines and re-queued lazily when it fires
    // early (bytes came, or the application held the body), so reads do no timer work.
    void set_body_timer();
    void body_timer_fired();
    double next_body_check() const;     // the earliest deadline of the body's limits (or +inf)
    double body_rate_deadline() const;  // when the body falls behind its minimum rate
    uint64_t body_rate_bytes() const;   // what the rate counts (see body_rate_deadline)
    void queue_body_check();            // the body timer, for next_body_check's deadline
    // Bytes of a method token came, its request not begun yet.
    bool method_pending() const { return parse_ && !parse_->method.empty(); }
    // The parse state for input that arrived (see ParseState); false when out of memory (the
    // stream is closed then).
    bool take_parse_state();
    // The server's pool of parse states; nullptr once the server is gone (then states are
    // allocated and freed one by one).
    ParseStatePool *parse_state_pool() const;
    // Gives the parse state back unless a head or body is being read (or a method token).
    // Called at the end of consume() only: nothing uses the state outside it.
    void give_back_parse_state();
    void deliver_request();

    static size_t on_stream_data(Stream *s, const char *data, size_t len, void *arg);
    static void on_stream_close(Stream *s, int error, void *arg);
    // Stream::PeerFinFn: whether the client's FIN, past input held back, means it left.
    static bool on_peer_fin(Stream *s, void *arg);
    static void on_timer(TimerNode *node);
    void timer_fired();
    bool send_continue();
    bool send_owed_continue();
    static void on_output_sent(Stream *s, void *arg);

    bool body_data(const char *at, size_t len);
    bool body_piece(const char *data, size_t n);  // after decoding (see body_data)
    void body_complete();
    void refuse_body_memory(uint64_t body_bytes);
    void body_failed(int status);
    static bool on_chunk_data(void *ctx, const char *at, size_t len);
    static int on_body(http_parser *p, const char *at, size_t len);
    static int on_message_complete(http_parser *p);
    static const http_parser_settings kSettings;

    // Fields are ordered to leave no padding (memory per idle connection matters).
    Server *server_;
    Stream *stream_;
    std::string peer_ip_;
    ParseState *parse_ = nullptr;  // while a request comes in (see ParseState)
    Request *request_ = nullptr;
    TimerNode timer_;
    double wait_started_ = 0;  // when the current timed wait began (body: the last bytes)
    // The stream's output_progress() at the last idle check.
    static constexpr uint64_t kProgressUnmeasured = UINT64_MAX;
    uint64_t progress_at_check_ = kProgressUnmeasured;
    int peer_port_;
    int16_t error_status_ = 0;  // an HTTP status, set by a callback that aborts parsing
    Phase phase_ = Phase::idle;
    TimerKind timer_kind_ = TimerKind::none;
    uint8_t leading_blank_lines_ = 0;
    // The flags set or read on every request stay whole bytes; the rare ones share one, so that
    // the object is 152 bytes, a 160-byte malloc chunk instead of 176 (idle memory).
    bool chunked_ = false;          // the current request body is chunked
    // The request expects 100-continue (found by check_head) and has not had its 100 yet.
    bool expect_continue_ = false;
    bool in_consume_ = false;
    bool last_in_read_ = false;  // the head being handled ends the bytes consume() was given
    bool header_timer_pending_ = false;  // a head began in this read (see consume)
    bool requests_served_ = false;
    bool leading_cr_ : 1 = false;    // a CR among the blank lines before a request: LF must follow
    bool silent_abort_ : 1 = false;  // abort without an error response (already answered)
    bool shutting_down_ : 1 = false;
    bool output_wait_ : 1 = false;  // reading stopped until the queued answers are sent
};

inline bool Request::connected() const { return conn && conn->stream(); }

}  // namespace eddy::http
