#include "http/connection.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <exception>
#include <new>
#include <unordered_set>

#include "http/request.hpp"
#include "http/request_pool.hpp"
#include "http/server.hpp"
#include "net/address.hpp"
#include "stream/stream.hpp"
#include "util/log.hpp"
#include "util/memory_budget.hpp"
#include "util/no_throw.hpp"

namespace eddy::http {

namespace {

// An exception thrown in one of http-parser's callbacks waits in feed()'s frame while the
// parser's C frames return, and goes on from there (exceptions do not cross C frames:
// util/no_throw.hpp). The callbacks find that frame's slot through this pointer, one per thread
// (a loop and its parser run on one). A pointer, not a thread_local std::exception_ptr: that
// one's destructor is registered with glibc on its first use in a thread (the thread's first
// request), which allocates, and glibc aborts the process when that allocation fails.
thread_local std::exception_ptr *parser_exception_slot = nullptr;

void keep_parser_exception() noexcept {
    if (parser_exception_slot) *parser_exception_slot = std::current_exception();
}

constexpr size_t kMaxMethodLength = 32;
constexpr size_t kMaxLeadingBlankLines = 8;
// Unsent answers a connection may queue before it stops taking further pipelined requests.
// Enough for a batch of small answers to leave in one write; a client that sends requests
// without reading the answers is held here instead of making us buffer them without bound.
constexpr size_t kMaxQueuedOutput = 64 * 1024;
// Files (send_file answers, e.g. static files) a connection may queue the same way: each holds
// an open descriptor until sent, and a small file weighs little against kMaxQueuedOutput, so
// a client pipelining requests for files it does not read held ~190 of our descriptors. 16
// lets a 16-deep pipeline of static files leave in one batch (8 cost ~10% of its req/s).
constexpr size_t kMaxQueuedFiles = 16;

// The status a request gets for an http-parser error.
int status_for_parser_error(http_errno err) {
    switch (err) {
    case HPE_HEADER_OVERFLOW: return 431;
    default: return 400;
    }
}

}  // namespace

// http-parser counts Content-Length bodies; chunked bodies are decoded by ChunkScanner, and the
// head is parsed by HeadScanner in the same pass that validates it.
const http_parser_settings Connection::kSettings = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
}();

Connection::Connection(Server *server, Stream *stream, std::string peer_ip, int peer_port)
    : server_(server), stream_(stream), peer_ip_(std::move(peer_ip)), peer_port_(peer_port) {
    timer_.fire = on_timer;
    timer_.owner = this;
}

Connection::~Connection() {
    if (server_) server_->loop()->timer_stop(&timer_);
    ParseStatePool::give(parse_state_pool(), parse_);
}

ParseStatePool *Connection::parse_state_pool() const {
    return server_ ? server_->parse_state_pool() : nullptr;
}

bool Connection::take_parse_state() {
    parse_ = ParseStatePool::take(parse_state_pool());
    if (parse_) return true;
    log(LogLevel::error, "http: %s: out of memory for reading a request; closing",
        peer_ip_.c_str());
    phase_ = Phase::closing;
    stream_->close(EDDY_ENOMEM);
    return false;
}

void Connection::give_back_parse_state() {
    if (!parse_ || phase_ == Phase::head || phase_ == Phase::body || !parse_->method.empty())
        return;
    ParseStatePool::give(parse_state_pool(), parse_);
    parse_ = nullptr;
}

void Connection::start() {
    stream_->set_close_callback(on_stream_close, this);
    stream_->set_nodelay(true);
    // A client that half-closes after its last request still gets the answers queued for it.
    stream_->set_flush_on_eof(true);
    // A client that closes while its request is being handled has left, also when it pipelined
    // more behind it (those wait in the stream): the application learns it at once through its
    // close callback (what Tornado's on_connection_close is for: a long poll ends), as it does
    // when nothing was pipelined, and the requests behind it are not run.
    stream_->set_watch_close_with_input(true);
    // A client whose answer could not be written because it reset is gone: the requests it
    // pipelined before that are not run (nobody would get their answers; a POST among them
    // would take effect for a client that saw it fail), as nginx closes on a failed write.
    stream_->set_read_after_write_error(false);
    // The first request must arrive within the header timeout (slowloris on connect).
    set_timer(TimerKind::header);
    want_read();
}

void Connection::want_read() {
    if (stream_ && !stream_->closed() && !stream_->reading()) stream_->read_some(on_stream_data, this);
}

// Before the next request starts: past kMaxQueuedOutput bytes of unsent answers (in memory or
// in files) or kMaxQueuedFiles files it waits until they have left (Tornado reads the next
// request only once the previous answer was written). Input stays in the stream meanwhile,
// which reads no more from the socket than one buffer.
bool Connection::wait_for_output() {
    if (output_wait_) return true;
    if (stream_->unsent_bytes() <= kMaxQueuedOutput && stream_->queued_files() < kMaxQueuedFiles)
        return false;
    int rc = stream_->notify_when_sent(on_output_sent, this);
    if (rc < 0) {  // out of memory: the answers still leave, the connection ends after them
        phase_ = Phase::closing;
        stream_->close_after_flush();
        return true;
    }
    output_wait_ = rc > 0;
    return output_wait_;
}

// Everything queued has been sent: a connection held by wait_for_output() takes its next
// request, and an idle wait that began while an answer was still leaving starts over now.
void Connection::on_output_sent(Stream *, void *arg) {
    Connection *c = static_cast<Connection *>(arg);
    if (c->timer_kind_ == TimerKind::idle) c->wait_started_ = Loop::now();
    if (c->output_wait_) {
        c->output_wait_ = false;
        if (c->phase_ == Phase::idle) c->want_read();
    }
}

// ---- timers ----------------------------------------------------------------------------------

void Connection::set_timer(TimerKind kind) {
    if (kind == TimerKind::body) {
        set_body_timer();
        return;
    }
    double seconds = timeout_of(kind);
    if (seconds <= 0) {  // TimerKind::none, or that timeout is off
        // Left in the heap: when it fires, kind none makes it a no-op. Cheaper than a heap
        // removal on every request, and the next set_timer moves it anyway.
        timer_kind_ = TimerKind::none;
        return;
    }
    timer_kind_ = kind;
    wait_started_ = Loop::now();
    double due = wait_started_ + seconds;
    // Only an earlier deadline moves the queued timer. A later one (the idle timeout renewed
    // after every response) waits for the queued deadline, where on_timer sees the wait is not
    // over and re-queues for the rest: one heap operation per timeout instead of per request.
    if (!timer_.queued() || timer_.deadline > due) server_->loop()->timer_start(&timer_, due);
}

// Called when the body's wait begins (after the headers callback, whose time is not the
// client's): starts the inactivity wait and the rate clock.
void Connection::set_body_timer() {
    Request *req = request_;
    if (!req || (req->body_timeout <= 0 && req->body_min_rate <= 0)) {
        timer_kind_ = TimerKind::none;  // (left queued: see set_timer)
        return;
    }
    timer_kind_ = TimerKind::body;
    wait_started_ = Loop::now();
    req->body_clock = wait_started_;
    // Held from the headers callback on (an asynchronous prepare): the hold counts from here.
    if (req->body_paused) req->body_paused_at = wait_started_;
    queue_body_check();
}

// Queues the body's timer for its next check (next_body_check), if that is earlier than the
// one it waits for: a later deadline is found when the queued one fires (body_timer_fired), as
// set_timer does for the other waits. Nothing while the body is held.
void Connection::queue_body_check() {
    double due = next_body_check();
    if (due != HUGE_VAL && (!timer_.queued() || timer_.deadline > due))
        server_->loop()->timer_start(&timer_, due);
}

// The body must have come at body_min_rate on average since its clock started, after a grace:
// Apache's mod_reqtimeout MinRate (the deadline grows by 1 s per `rate` bytes). A client that
// trickles a large declared body (slow-body / R-U-Dead-Yet) falls behind and is cut, where the
// inactivity timeout alone would let one byte per timeout hold the connection for ever. The
// bytes are the body as framed by its transfer coding (chunked: the decoded data; the chunk
// lines and trailers do not count) and before its content coding (gzip: the compressed bytes
// the client sent, not what they inflate to).
double Connection::body_rate_deadline() const {
    const Request *req = request_;
    return req->body_clock + req->body_rate_grace +
           static_cast<double>(body_rate_bytes()) / req->body_min_rate;
}

uint64_t Connection::body_rate_bytes() const {
    const Request *req = request_;
    return (req->gunzip ? req->gunzip->bytes_fed() : req->body_received) - req->body_rate_from;
}

double Connection::next_body_check() const {
    const Request *req = request_;
    // While the application holds the body (pause_body, an asynchronous prepare) nothing is
    // read: the client cannot be late, neither idle nor behind its rate. Both are checked again
    // from when reading resumes (resume_body). The hold is the application's to bound.
    if (req->body_paused) return HUGE_VAL;
    double due = HUGE_VAL;
    if (req->body_timeout > 0) due = wait_started_ + req->body_timeout;
    if (req->body_min_rate > 0) due = std::min(due, body_rate_deadline());
    return due;
}

double Connection::timeout_of(TimerKind kind) const {
    switch (kind) {
    case TimerKind::header: return server_->options.header_timeout;
    case TimerKind::idle:
    case TimerKind::send: return server_->options.idle_timeout;
    case TimerKind::body: return request_ ? request_->body_timeout : 0;
    case TimerKind::none: break;
    }
    return 0;
}

void Connection::on_timer(TimerNode *node) {
    Connection *c = static_cast<Connection *>(node->owner);
    // A timeout can end the request an application holds (its close callback may free the
    // server: it then waits until this is over).
    Server::Dispatch dispatch(c->server_);
    // What a timeout runs (an error answer, a close) can run out of memory like a read: this
    // connection ends, as the stream does for its own events (util/no_throw.hpp).
    if (!ran_without_exception("http: timer", [&] { c->timer_fired(); }) && c->stream_)
        c->stream_->close_abruptly(EDDY_ENOMEM);
}

void Connection::timer_fired() {
    Connection *c = this;
    if (!c->stream_) return;
    if (c->timer_kind_ == TimerKind::none) return;
    if (c->timer_kind_ == TimerKind::body) {
        body_timer_fired();
        return;
    }
    double timeout = c->timeout_of(c->timer_kind_);
    if (timeout > 0 && Loop::now() < c->wait_started_ + timeout) {
        // The wait was renewed (or bytes of the body came) since the timer was queued.
        c->server_->loop()->timer_start(&c->timer_, c->wait_started_ + timeout);
        return;
    }
    switch (c->timer_kind_) {
    case TimerKind::none:
        return;
    case TimerKind::idle:
        if (c->stream_->has_output()) {
            // The last answer is still leaving: not idle while the peer keeps taking bytes.
            // The idle wait starts over once it is sent (on_output_sent); a peer that took
            // nothing for a whole wait is closed below. Taken, not handed to the kernel: a
            // steady reader can leave the socket unwritable for longer than the wait.
            uint64_t progress = c->stream_->output_progress();
            if (progress != c->progress_at_check_ &&
                c->stream_->notify_when_sent(on_output_sent, c) >= 0) {
                c->progress_at_check_ = progress;
                c->wait_started_ = Loop::now();
                c->server_->loop()->timer_start(&c->timer_, c->wait_started_ + timeout);
                return;
            }
            log(LogLevel::info, "http: %s: answer not read for %g s, closing", c->peer_ip_.c_str(),
                timeout);
        }
        c->timer_kind_ = TimerKind::none;
        c->phase_ = Phase::closing;
        c->close_stream(EDDY_ETIMEDOUT);
        return;
    case TimerKind::header:
        c->timer_kind_ = TimerKind::none;
        if (c->phase_ == Phase::head || (c->phase_ == Phase::idle && c->method_pending())) {
            log(LogLevel::info, "http: %s: request head timed out", c->peer_ip_.c_str());
            c->send_error(408, false);
        } else {
            c->phase_ = Phase::closing;
            c->stream_->close(EDDY_ETIMEDOUT);
        }
        return;
    case TimerKind::send: {
        c->timer_kind_ = TimerKind::none;
        // Everything flushed has left: the application is slow, not the peer (a deferred
        // answer is no idle connection). Its next flush watches again.
        if (c->phase_ != Phase::handling || !c->stream_->has_output()) return;
        uint64_t progress = c->stream_->output_progress();
        if (progress != c->progress_at_check_) {
            c->progress_at_check_ = progress;
            c->set_timer(TimerKind::send);
            return;
        }
        log(LogLevel::info, "http: %s: answer not read for %g s, closing", c->peer_ip_.c_str(),
            timeout);
        c->phase_ = Phase::closing;
        c->close_stream(EDDY_ETIMEDOUT);  // cut short: abruptly, its flush callbacks get ECLOSED
        return;
    }
    case TimerKind::body:  // (body_timer_fired)
        return;
    }
}

void Connection::body_timer_fired() {
    Request *req = request_;
    if (!req || phase_ != Phase::body) {
        timer_kind_ = TimerKind::none;
        return;
    }
    // Queued before the application held the body: nothing is due while it does (see
    // next_body_check); resume_body queues the timer again.
    if (req->body_paused) return;
    double now = Loop::now();
    if (req->body_timeout > 0 && now >= wait_started_ + req->body_timeout) {
        log(LogLevel::info, "http: %s: request body timed out", peer_ip_.c_str());
    } else if (req->body_min_rate > 0 && now >= body_rate_deadline()) {
        uint64_t bytes = body_rate_bytes();
        log(LogLevel::info,
            "http: %s: request body too slow: %llu bytes in %.1f s, under %g bytes/s after %g s; "
            "closing",
            peer_ip_.c_str(), static_cast<unsigned long long>(bytes), now - req->body_clock,
            req->body_min_rate, req->body_rate_grace);
    } else {
        // Not due yet: bytes came (or the application held the body) since it was queued.
        double due = next_body_check();
        if (due != HUGE_VAL) server_->loop()->timer_start(&timer_, due);
        return;
    }
    // 408 Request Timeout (RFC 9110 §15.5.9: the server did not receive a complete request
    // message within the time it was prepared to wait), and close.
    timer_kind_ = TimerKind::none;
    if (req->headers_sent()) {
        phase_ = Phase::closing;
        close_stream(EDDY_ETIMEDOUT);  // the answer that started ends cut short
    } else {
        send_error(408, false);
    }
}

// ---- input -----------------------------------------------------------------------------------

size_t Connection::on_stream_data(Stream *, const char *data, size_t len, void *arg) {
    Connection *c = static_cast<Connection *>(arg);
    // Callbacks run from here may free the server: it then waits until this read is over.
    Server::Dispatch dispatch(c->server_);
    return c->consume(data, len);
}

size_t Connection::consume(const char *data, size_t len) {
    if (!parse_ && phase_ != Phase::closing && phase_ != Phase::handling && !take_parse_state())
        return len;
    in_consume_ = true;
    size_t pos = 0;
    while (pos < len) {
        if (phase_ == Phase::closing) {
            pos = len;  // discard: the connection is on its way out
            break;
        }
        if (phase_ == Phase::handling) break;
        if (phase_ == Phase::idle) {
            if (wait_for_output() || !begin_request_line(data, len, &pos)) break;
            continue;
        }
        if (phase_ == Phase::head) {
            size_t used = 0;
            int status = 0;
            HeadScanner::Result r = parse_->head.scan(data + pos, len - pos, &used, &status);
            if (r == HeadScanner::Result::error) {
                log(LogLevel::info, "http: %s: malformed request head (%d)", peer_ip_.c_str(), status);
                send_error(status, false);
                pos = len;
                break;
            }
            pos += used;
            last_in_read_ = pos == len;
            bool go_on = r != HeadScanner::Result::done || head_complete();
            last_in_read_ = false;
            if (!go_on) {
                pos = len;
                break;
            }
            continue;
        }
        if (phase_ == Phase::body) {
            if (request_ && request_->body_paused) break;
            wait_started_ = Loop::now();  // the body timeout counts from the last bytes
            size_t avail = len - pos;
            if (chunked_) {
                size_t used = 0;
                int status = 0;
                ChunkScanner::Result r =
                    parse_->chunks.scan(data + pos, avail, &used, &status, on_chunk_data, this);
                pos += used;
                // Bad framing (`status`), or on_chunk_data refused the data (error_status_,
                // silent_abort_: body_failed knows which).
                // A chunk announcing more than the limit is refused at its size line, not after
                // its data (or the body timeout) has come.
                if (r != ChunkScanner::Result::error && !error_status_ && request_ &&
                    parse_->chunks.declared_bytes() > request_->max_body) {
                    log(LogLevel::info, "http: %s: chunked body over %zu bytes", peer_ip_.c_str(),
                        request_->max_body);
                    error_status_ = 413;
                }
                if (r == ChunkScanner::Result::error || error_status_ || silent_abort_) {
                    if (r == ChunkScanner::Result::error)
                        log(LogLevel::info, "http: %s: malformed chunked body", peer_ip_.c_str());
                    body_failed(status);
                    pos = len;
                    break;
                }
                if (r == ChunkScanner::Result::done) body_complete();
                // need_more: all taken, or the delegate paused the body (checked above)
                continue;
            }
            size_t fed = 0;
            if (!feed(data + pos, avail, &fed)) {
                pos = len;
                break;
            }
            pos += fed;
            continue;
        }
    }
    in_consume_ = false;
    if (header_timer_pending_) {
        header_timer_pending_ = false;
        if (phase_ == Phase::head || (phase_ == Phase::idle && method_pending()))
            set_timer(TimerKind::header);
    }
    give_back_parse_state();
    bool held = phase_ == Phase::body && request_ && request_->body_paused;
    if (phase_ != Phase::handling && phase_ != Phase::closing && !held && !output_wait_)
        want_read();
    // The peer's close is watched past buffered input (start()): while a request is handled
    // with requests pipelined behind it, and while the application holds a body (a paused
    // delegate, an asynchronous prepare) with part of it read. A client that leaves then is
    // told to the application at once, through its close callback, which stops the work it
    // holds the body for. A FIN there is asked about first (on_peer_fin): the input may be the
    // rest of the body, sent whole before a half-close (`nc -N`). The check lives with the
    // stream's rarely used parts, made on the first hold (out of memory: a FIN is a departure).
    if (held && stream_) (void)stream_->set_peer_fin_check(on_peer_fin, this);
    return pos;
}

// The client half-closed while input waits in the stream (Stream::set_peer_fin_check): it left,
// unless the application holds the body of a request whose rest came before the FIN (a client
// that sends its request whole and half-closes, `nc -N`): that request can still complete, and
// its answer reaches a client that only half-closed. The rest is counted in what the stream
// holds and what the kernel holds for it; a chunked body's is scanned for the body's end in
// what the stream holds, and otherwise only known to be short by the kernel's count. A body
// that can no longer complete ends the connection now: nothing more can come.
bool Connection::on_peer_fin(Stream *s, void *arg) {
    Connection *c = static_cast<Connection *>(arg);
    const Request *req = c->request_;
    if (c->phase_ != Phase::body || !req || !req->body_paused || !c->parse_) return true;
    size_t in_transport = s->input_in_transport();
    if (in_transport == SIZE_MAX) return false;  // cannot tell: seen once the body is read
    if (!c->chunked_) {  // http-parser counts down what the body still lacks
        return static_cast<uint64_t>(s->unread_input()) + in_transport <
               c->parse_->parser.content_length;
    }
    struct Scan {
        ChunkScanner scanner;
        ChunkScanner::Result result = ChunkScanner::Result::need_more;
    } scan{c->parse_->chunks};  // a copy: the body's own scanner goes on from where it is
    s->scan_input(
        [](void *ctx, const char *data, size_t len) {
            Scan *sc = static_cast<Scan *>(ctx);
            size_t used = 0;
            int status = 0;
            sc->result = sc->scanner.scan(data, len, &used, &status);
            return sc->result == ChunkScanner::Result::need_more;
        },
        &scan);
    if (scan.result == ChunkScanner::Result::done) return false;
    // Bad framing can never complete either (the 400 would go to a client that left).
    if (scan.result == ChunkScanner::Result::error) return true;
    return in_transport < scan.scanner.min_bytes_to_end();
}

// Collects the method token (skipping blank lines before a request, RFC 9112 §2.2) and starts
// a request once the SP after it arrives. Returns false when more input is needed or on error.
bool Connection::begin_request_line(const char *data, size_t len, size_t *pos) {
    std::string &method = parse_->method;
    size_t i = *pos;
    for (; i < len; i++) {
        char c = data[i];
        // The blank lines are CRLF or a bare LF (RFC 9112 §2.2); a bare CR is an error.
        bool bare_cr = leading_cr_ && c != '\n';
        if (!bare_cr && method.empty() && (c == '\r' || c == '\n')) {
            leading_cr_ = c == '\r';
            if (c == '\n' && ++leading_blank_lines_ > kMaxLeadingBlankLines) {
                send_error(400, false);
                *pos = len;
                return false;
            }
            continue;
        }
        if (bare_cr) {
            log(LogLevel::info, "http: %s: bare CR before the request line", peer_ip_.c_str());
            send_error(400, false);
            *pos = len;
            return false;
        }
        // First byte of a new request: the head must now arrive within header_timeout. The
        // timer is set at the end of this read, and only if the head is still incomplete then
        // (most heads arrive whole: no timer work for them).
        if (method.empty() && timer_kind_ != TimerKind::header) header_timer_pending_ = true;
        if (c == ' ') break;
        if (!is_tchar(static_cast<unsigned char>(c)) || method.size() >= kMaxMethodLength) {
            if (c == '\0' && !requests_served_ && leading_blank_lines_ == 2 && method.empty())
                log(LogLevel::warning, "http: %s: PROXY protocol v2 header, but the server is not "
                    "configured for it (eddy_server_set_proxy_protocol); closing", peer_ip_.c_str());
            log(LogLevel::info, "http: %s: malformed request line", peer_ip_.c_str());
            send_error(method.size() >= kMaxMethodLength ? 501 : 400, false);
            *pos = len;
            return false;
        }
        method += c;
    }
    *pos = i;
    if (i == len) return false;  // the method continues in the next read
    if (method.empty()) {        // a request line starting with SP
        send_error(400, false);
        *pos = len;
        return false;
    }
    if (!requests_served_ && method == "PROXY")  // the head scanner answers 400 below
        log(LogLevel::warning, "http: %s: request starts with PROXY (a PROXY protocol header?), "
            "but the server is not configured for it (eddy_server_set_proxy_protocol)", peer_ip_.c_str());

    Request *req = RequestPool::make(server_->request_pool(), this, server_);
    if (!req) {
        stream_->close(EDDY_ENOMEM);
        *pos = len;
        return false;
    }
    request_ = req;
    req->method.swap(method);
    method.clear();
    req->remote_ip = peer_ip_;
    req->remote_port = peer_port_;
    req->start_time = Loop::now();
    req->max_body = server_->options.max_body_size;
    req->body_timeout = server_->options.body_timeout;
    req->body_min_rate = server_->options.body_min_rate;
    req->body_rate_grace = server_->options.body_rate_grace;
    leading_blank_lines_ = 0;
    leading_cr_ = false;
    expect_continue_ = false;
    error_status_ = 0;
    silent_abort_ = false;

    phase_ = Phase::head;
    new (&parse_->head) HeadScanner();  // (re)activate the union member
    parse_->head.reset(server_->options.max_header_size, req->method.size(), &req->uri,
                       &req->headers, server_->options.max_header_fields);
    if (req->method.size() > server_->options.max_header_size) {
        send_error(431, false);
        *pos = len;
        return false;
    }
    return true;
}

// Feeds bytes to http-parser and handles what it reports. Returns false when the connection
// is finished with this input (error answered, or closing).
bool Connection::feed(const char *data, size_t len, size_t *used) {
    std::exception_ptr callback_exception;
    std::exception_ptr *outer_slot = parser_exception_slot;  // (a feed inside a callback's)
    parser_exception_slot = &callback_exception;
    size_t n = http_parser_execute(&parse_->parser, &kSettings, data, len);
    parser_exception_slot = outer_slot;
    if (callback_exception) [[unlikely]]
        std::rethrow_exception(callback_exception);  // to the stream's event: closes this one
    *used = n;
    http_errno err = HTTP_PARSER_ERRNO(&parse_->parser);
    if (err == HPE_OK || err == HPE_PAUSED) {
        if (err == HPE_PAUSED && phase_ == Phase::body) http_parser_pause(&parse_->parser, 0);
        if (n < len && err == HPE_OK && phase_ == Phase::body) {
            // http-parser stopped early without an error: only an upgrade does that. We do not
            // switch protocols here; the rest is treated as the next request.
            *used = len;
        }
        return phase_ != Phase::closing;
    }
    if (!error_status_ && !silent_abort_)
        log(LogLevel::info, "http: %s: bad request (%s)", peer_ip_.c_str(), http_errno_name(err));
    body_failed(status_for_parser_error(err));
    return false;
}

// The body cannot go on: the application already answered (silent_abort_), a body callback
// refused it (error_status_), or its framing is bad (`status`). Answers the error unless an
// answer has begun, and closes.
void Connection::body_failed(int status) {
    if (silent_abort_) {  // the application already answered (early response)
        phase_ = Phase::closing;
        if (stream_) stream_->close_after_flush();
        return;
    }
    if (error_status_) status = error_status_;
    send_error(status, false);  // (which cuts short an answer that has begun)
}

// ---- body callbacks (http-parser for Content-Length, ChunkScanner for chunked) ---------------

namespace {

// path-abempty [ "?" query ] of a target, after its authority if any; an empty path is "/"
// (RFC 9112 §3.2.1). False when the path has a malformed percent-escape: "/%zz" or "/50%" is
// not a request-target, and RFC 9112 §3 asks for 400 rather than a guess (nginx answers 400
// too; a query is passed on as it came, as nginx does, for applications to parse leniently).
bool set_path_and_query(Request *req, std::string_view target) {
    size_t q = target.find('?');
    std::string_view path = target.substr(0, q);
    // Built, then moved in: cheaper per request than assign() into the old strings, which goes
    // through basic_string's general _M_replace (callgrind: ~90 instructions per request).
    req->path = path.empty() ? std::string("/") : std::string(path);
    req->query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
    // RFC 9112 §3: an invalid request-line SHOULD get 400, not be corrected and processed.
    return is_valid_target_path(path);
}

// RFC 9110 §5.5: leading and trailing whitespace is not part of a field value.
void trim_ows(std::string &s) {
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) e--;
    if (b || e != s.size()) s = s.substr(b, e - b);
}

}  // namespace

constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

// The longest body http-parser counts (its Content-Length overflow guard, (2^64 - 11) / 10):
// a longer one, valid as a number, is too large even when the body limit is lifted.
constexpr uint64_t kMaxCountedBody = (UINT64_MAX - 10) / 10;

// The interim 100 (Continue). False when it could not be queued (out of memory): the client
// would wait for it, so the connection closes instead.
bool Connection::send_continue() {
    if (stream_->write(kContinue, sizeof kContinue - 1) == 0) return true;
    log(LogLevel::error, "http: %s: out of memory for a 100 (Continue); closing", peer_ip_.c_str());
    phase_ = Phase::closing;
    stream_->close(EDDY_ENOMEM);
    return false;
}

// The 100 an `Expect: 100-continue` request is owed, once: not after the final answer's head
// (RFC 9110 §15.2: no 1xx after the final response), which the application may have started
// from the headers callback. False when the connection closes instead (send_continue).
bool Connection::send_owed_continue() {
    expect_continue_ = false;
    if (request_->headers_sent()) return true;
    return send_continue();
}

// The head is complete and scanned: validate it as a whole, pick the body framing, and either
// hand the request over (no body) or prime http-parser to decode the body. Returns false when
// the connection is done with the current input (error answered, or closing).
bool Connection::head_complete() {
    Request *req = request_;
    for (HeaderField &h : req->headers) trim_ows(h.value);
    uint64_t content_length = 0;
    int status = check_head(&content_length);
    if (status) {
        send_error(status, false);
        return false;
    }
    phase_ = Phase::body;
    if (chunked_) {
        new (&parse_->chunks) ChunkScanner();  // the head scanner is done: switch members
        parse_->chunks.reset(server_->options.max_header_size);
    }
    bool has_body = chunked_ || content_length > 0;
    if (has_body) {
        set_timer(TimerKind::body);
    } else {
        set_timer(TimerKind::none);
    }

    if (server_->has_headers_callback() && server_->method_allowed(req->method)) {
        req->head_delivered = true;
        server_->call_on_headers(req);
        if (request_ == req && req->close_cb) req->track_held();  // the application's now
        if (request_ != req || phase_ == Phase::closing) {
            // Answered (or closed) before the body was read: stop reading this connection.
            phase_ = Phase::closing;
            if (stream_) stream_->close_after_flush();
            return false;
        }
        if (has_body) set_timer(TimerKind::body);
    }
    if (!chunked_ && (content_length > req->max_body || content_length > kMaxCountedBody)) {
        log(LogLevel::info, "http: %s: body of %llu bytes over the limit", peer_ip_.c_str(),
            static_cast<unsigned long long>(content_length));
        // (Checked after the headers callback, which may raise the limit; it may also have
        // started the answer, which then ends cut short rather than with a 413 inside it.)
        body_failed(413);
        return false;
    }
    // A body whose announced length does not fit in what bodies may hold now is refused
    // before it is asked for (no 100 Continue).
    if (!chunked_ && !req->streaming && content_length > 0 && server_->body_budget() &&
        !server_->body_budget()->fits(content_length, server_->options.max_body_memory)) {
        refuse_body_memory(content_length);
        body_failed(503);
        return false;
    }
    if (!has_body) {
        // RFC 9110 §7.8: a server that switches protocols on a request with 100-continue MUST
        // send the 100 before the 101 — even with no content to ask for (which the client
        // should not have announced then, §10.1.1). Other requests without content get their
        // final answer at once.
        if (expect_continue_ && req->find_header("Upgrade") && !send_continue()) [[unlikely]]
            return false;
        req->message_complete = true;
        phase_ = Phase::handling;
        deliver_request();
        return phase_ != Phase::closing;
    }
    // Expect: 100-continue (RFC 9110 §10.1.1): tell the client to send the body we will read,
    // unless the method is one we will refuse anyway: then the 501 goes at once, the body is
    // not asked for, and the connection closes (the client may still send it).
    if (expect_continue_ && !server_->method_allowed(req->method)) {
        refuse_method(false);
        return false;
    }
    // While the application holds the body (paused in the headers callback, a web handler's
    // asynchronous prepare) the 100 waits for resume_body: it asks the client for a body that
    // is about to be read, and is never sent when the application answers first (§10.1.1: a
    // server MAY omit it then; the unread body closes the connection after the answer).
    // Tornado writes its 100 once prepare is done, when it reads the body.
    if (expect_continue_ && !req->body_paused && !send_owed_continue()) return false;
    if (chunked_) return true;  // ChunkScanner decodes it
    // http-parser has no entry point for "a body of N bytes follows": it is given the canonical
    // head of that framing (validated already, so it cannot fail) and from then on counts the
    // real body bytes.
    char head[80];
    int head_len = snprintf(head, sizeof head, "PUT / HTTP/1.1\r\nContent-Length: %llu\r\n\r\n",
                            static_cast<unsigned long long>(content_length));
    http_parser *parser = &parse_->parser;
    http_parser_init(parser, HTTP_REQUEST);
    parser->data = this;
    static const http_parser_settings kNoCallbacks = [] {
        http_parser_settings none;
        http_parser_settings_init(&none);
        return none;
    }();
    http_parser_execute(parser, &kNoCallbacks, head, static_cast<size_t>(head_len));
    if (HTTP_PARSER_ERRNO(parser) != HPE_OK) {  // cannot happen; never decode blind
        send_error(500, false);
        return false;
    }
    return true;
}

int Connection::on_body(http_parser *p, const char *at, size_t len) {
    Connection *c = static_cast<Connection *>(p->data);
    try {
        if (!c->body_data(at, len)) return -1;
    } catch (...) {
        keep_parser_exception();
        return -1;
    }
    if (c->request_->body_paused) http_parser_pause(p, 1);
    return 0;
}

bool Connection::on_chunk_data(void *ctx, const char *at, size_t len) {
    Connection *c = static_cast<Connection *>(ctx);
    return c->body_data(at, len) && !c->request_->body_paused;  // false stops the scan
}

// A piece of the body (decoded from its framing): inflated if it is gzip, then counted,
// kept or handed on (body_piece). False when the body cannot go on (error_status_ or
// silent_abort_ says why).
bool Connection::body_data(const char *at, size_t len) {
    Request *req = request_;
    if (!req->gunzip) return body_piece(at, len);
    // Inflated output goes on in pieces of at most GzipDecoder::kPiece as it is made: a few
    // kilobytes of gzip can inflate to max_body bytes, which collected first were held at once
    // before the memory budget or a streaming delegate had a say. The decoder counts its whole
    // output against the limit itself.
    auto sink = [](void *arg, const char *data, size_t n) {
        return static_cast<Connection *>(arg)->body_piece(data, n);
    };
    GzipDecoder::Result r = req->gunzip->feed(at, len, req->max_body, sink, this);
    switch (r) {
    case GzipDecoder::Result::ok: return true;
    case GzipDecoder::Result::stopped: return false;  // body_piece said why
    case GzipDecoder::Result::paused: return false;   // never: body_piece does not hold()
    case GzipDecoder::Result::too_big: error_status_ = 413; return false;
    case GzipDecoder::Result::out_of_memory:
        log(LogLevel::error, "http: %s: out of memory inflating a request body", peer_ip_.c_str());
        error_status_ = 503;
        return false;
    case GzipDecoder::Result::error: break;
    }
    log(LogLevel::info, "http: %s: bad gzip request body", peer_ip_.c_str());
    error_status_ = 400;
    return false;
}

// Body bytes as the application sees them: counted against the limit, then kept (within the
// server's body memory) or handed to the streaming delegate.
bool Connection::body_piece(const char *data, size_t n) {
    Request *req = request_;
    if (req->body_received + n > req->max_body) {
        log(LogLevel::info, "http: %s: request body over %zu bytes", peer_ip_.c_str(), req->max_body);
        error_status_ = 413;
        return false;
    }
    req->body_received += n;
    if (!req->streaming) {
        if (server_ && !req->body_memory.take(server_->body_budget(),
                                              server_->options.max_body_memory, n)) {
            refuse_body_memory(req->body_received);
            return false;
        }
        if (!req->body.append(data, n)) {
            log(LogLevel::error, "http: %s: out of memory for a request body of %llu bytes",
                peer_ip_.c_str(), static_cast<unsigned long long>(req->body_received));
            error_status_ = 503;
            return false;
        }
        return true;
    }
    if (n && req->on_data) req->on_data(req->as_c(), data, n, req->userdata);
    if (request_ != req || phase_ == Phase::closing) {
        silent_abort_ = true;
        return false;
    }
    return true;
}

int Connection::on_message_complete(http_parser *p) {
    // Always stop at a message end: the next request's head goes through the scanner first.
    http_parser_pause(p, 1);
    try {
        static_cast<Connection *>(p->data)->body_complete();
    } catch (...) {
        keep_parser_exception();
    }
    return 0;
}

// Request bodies held in memory over all connections reached max_body_memory: 503 (RFC 9110
// §15.6.4, a temporary overload) and close; the body's bytes are not waited for.
void Connection::refuse_body_memory(uint64_t body_bytes) {
    log(LogLevel::warning,
        "http: %s: request body refused (%llu bytes): the server holds %zu bytes of request "
        "bodies, its max_body_memory is %zu",
        peer_ip_.c_str(), static_cast<unsigned long long>(body_bytes),
        server_->body_budget()->held(), server_->options.max_body_memory);
    error_status_ = 503;
}

void Connection::body_complete() {
    request_->message_complete = true;
    phase_ = Phase::handling;
    set_timer(TimerKind::none);
    deliver_request();
}

// A well-formed method not implemented here (RFC 9110 §9.1): 501.
void Connection::refuse_method(bool keep_alive) {
    log(LogLevel::info, "http: %s: method %s not implemented", peer_ip_.c_str(),
        request_->method.c_str());
    send_error(501, keep_alive);
}

void Connection::deliver_request() {
    Request *req = request_;
    if (!server_->method_allowed(req->method)) {
        refuse_method(true);  // the body was read: the connection stays usable
        return;
    }
    // An empty body labelled gzip is just empty (Tornado decodes it to nothing too).
    if (req->gunzip && !req->gunzip->finished() && req->gunzip->bytes_fed() > 0) {
        send_error(400, true);
        return;
    }
    if (!req->streaming && server_->options.parse_body_arguments) {
        std::string error;
        if (int status = req->parse_body_arguments(error)) {
            log(status == 400 ? LogLevel::info : LogLevel::error, "http: %s: form body refused: %s",
                peer_ip_.c_str(), error.c_str());
            send_error(status, status == 400);
            return;
        }
    }
    requests_served_ = true;
    if (req->streaming && req->on_end) {
        req->on_end(req->as_c(), req->userdata);
        if (request_ != req) return;  // finished (and maybe released) by on_end
    }
    server_->call_on_request(req);
    if (request_ == req) req->track_held();  // left unfinished: the application holds it
}

// ---- validation of the head (RFC 9110/9112) --------------------------------------------------

int Connection::check_head(uint64_t *content_length) {
    Request *req = request_;
    if (parse_->head.version_major() != 1) return 505;
    // CONNECT asks us to be a tunnel; we are an origin server (RFC 9110 §9.3.6).
    if (equals_literal(req->method, "CONNECT")) return 501;
    req->version_minor = parse_->head.version_minor() >= 1 ? 1 : 0;

    // Request target: origin-form, absolute-form, or "*" for OPTIONS (RFC 9112 §3.2).
    const std::string &uri = req->uri;
    if (uri.empty() || uri.find('#') != std::string::npos) return 400;
    std::string authority;
    if (uri[0] == '/') {
        if (!set_path_and_query(req, uri)) return 400;
    } else if (uri == "*") {
        if (!equals_literal(req->method, "OPTIONS")) return 400;
        req->path = "*";
    } else {
        // absolute-form (RFC 9112 §3.2.2): "http" or "https" "://" authority path-abempty
        // [ "?" query ]. The authority is checked below with the Host rules (is_valid_host), so
        // that a host is accepted in the target exactly when it is accepted in Host; userinfo
        // is refused (RFC 9110 §4.2.4), and so is an empty host (§4.2.1).
        size_t colon = uri.find("://");
        if (colon == std::string::npos) return 400;
        std::string_view scheme(uri.data(), colon);
        if (!iequals(scheme, "http") && !iequals(scheme, "https")) return 400;
        size_t start = colon + 3;
        size_t end = uri.find_first_of("/?", start);
        if (end == std::string::npos) end = uri.size();
        authority = uri.substr(start, end - start);
        if (authority.empty() || authority[0] == ':' || authority.find('@') != std::string::npos)
            return 400;
        if (!set_path_and_query(req, std::string_view(uri).substr(end))) return 400;
    }

    // One pass over the fields picks out the ones the server itself acts on (dispatching on the
    // name's length first keeps this cheap for the common few-header request).
    const HeaderField *host = nullptr, *te = nullptr, *ce = nullptr, *cl = nullptr;
    bool expect_continue = false, expect_other = false;
    size_t hosts = 0, tes = 0, cls = 0, ces = 0;
    bool close_token = false, keep_alive_token = false;
    for (const HeaderField &h : req->headers) {
        switch (h.name.size()) {
        case 4:
            if (iequals(h.name, "Host")) hosts++, host = host ? host : &h;
            break;
        case 6:
            if (iequals(h.name, "Expect")) {
                // Repeated fields form one list (RFC 9110 §5.3): every member counts.
                for (std::string_view member : split_list(h.value))
                    (iequals(member, "100-continue") ? expect_continue : expect_other) = true;
            }
            break;
        case 10:
            if (iequals(h.name, "Connection")) {
                if (list_contains(h.value, "close")) close_token = true;
                if (list_contains(h.value, "keep-alive")) keep_alive_token = true;
            }
            break;
        case 8:
        case 13:  // If-Match, If-None-Match: noted, so that responses without them skip lookups
            if (iequals(h.name, "If-Match") || iequals(h.name, "If-None-Match"))
                req->has_preconditions = true;
            break;
        case 14:
            if (iequals(h.name, "Content-Length")) cls++, cl = &h;
            break;
        case 16:
            if (iequals(h.name, "Content-Encoding")) ces++, ce = &h;
            break;
        case 17:
            if (iequals(h.name, "Transfer-Encoding")) tes++, te = &h;
            break;
        default:
            break;
        }
    }

    // Host (RFC 9112 §3.2): exactly one on HTTP/1.1, valid syntax; absolute-form wins.
    if (hosts > 1) return 400;
    if (req->version_minor == 1 && hosts == 0) return 400;
    if (host && !is_valid_host(host->value)) return 400;
    // An empty Host names no host: the target URI it makes ("http:///") has an empty host,
    // which a recipient MUST reject as invalid (RFC 9110 §4.2.1; RFC 9112 §3.3 lets a server
    // reject it). Only absolute-form carries its own authority (§3.2.2: Host is ignored).
    if (host && host->value.empty() && authority.empty()) return 400;
    if (!authority.empty()) {
        if (!is_valid_host(authority)) return 400;
        req->host = authority;
    } else if (host) {
        req->host = host->value;
    }
    if (stream_ && stream_->is_tls() && !req->host.empty() && !stream_->serves_host(req->host))
        [[unlikely]] {
        log(LogLevel::info, "http: %s: request for %s on a TLS connection made for another host",
            peer_ip_.c_str(), req->host.c_str());
        return 421;
    }

    // Framing (RFC 9112 §6). Content-Length is one field of digits: a list ("5, 5"), a repeated
    // field, a sign or anything else is refused, as is Content-Length with Transfer-Encoding —
    // the ambiguities request smuggling lives on.
    if (cls > 1 || (cls && tes)) return 400;
    if (cl && !parse_content_length(cl->value, content_length)) return 400;
    int te_status = apply_transfer_encoding(te, tes);
    if (te_status) return te_status;
    chunked_ = tes != 0;

    // Keep-alive as the client asked for it (Connection tokens; HTTP/1.0 needs keep-alive).
    req->wants_keep_alive = req->version_minor == 1 ? !close_token : (keep_alive_token && !close_token);

    // Expect (RFC 9110 §10.1.1): 100-continue is the only expectation we know; HTTP/1.0
    // requests' expectations are ignored (a 1.0 client cannot handle an interim response).
    if (req->version_minor == 1) {
        if (expect_other) return 417;
        expect_continue_ = expect_continue;
    }

    // Content-Encoding of the body (decompress_request, gzip only). Several field lines form
    // one list (RFC 9110 §5.3): a body coded twice is left as it came, as Tornado does.
    if (ces == 1 && server_->options.decompress_request && is_gzip_coding(ce->value)) {
        req->gunzip.reset(new (std::nothrow) GzipDecoder());
        if (!req->gunzip) return 500;
        for (HeaderField &h : req->headers)
            if (iequals(h.name, "Content-Encoding")) h.name = "X-Consumed-Content-Encoding";
    }

    if (server_->options.xheaders) apply_xheaders();
    return 0;
}

// Transfer-Encoding on a request (RFC 9112 §6.1): "chunked" must be present exactly once, as the
// final coding; any other coding before it is one we cannot decode (501); a repeated header
// field, an obfuscated value or chunked not last is unsafe framing (400).
int Connection::apply_transfer_encoding(const HeaderField *te, size_t fields) {
    Request *req = request_;
    if (fields == 0) return 0;
    if (fields > 1) return 400;
    if (req->version_minor == 0) return 400;  // HTTP/1.0 has no transfer codings
    std::vector<std::string_view> codings = split_list(te->value);
    if (codings.empty()) return 400;
    size_t chunked = 0;
    bool unknown = false;
    for (size_t i = 0; i < codings.size(); i++) {
        std::string_view coding = codings[i];
        size_t semi = coding.find(';');  // transfer-parameters
        std::string_view name = coding.substr(0, semi);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (!is_token(name)) return 400;
        if (iequals(name, "chunked")) {
            if (semi != std::string_view::npos) return 400;
            chunked++;
            if (i + 1 != codings.size()) return 400;
        } else {
            unknown = true;
        }
    }
    if (chunked != 1) return 400;
    if (unknown) return 501;
    return 0;
}

void Connection::apply_xheaders() {
    Request *req = request_;
    const auto &trusted = server_->options.trusted_proxies;
    if (!trusted.empty() && !trusted.count(peer_ip_)) return;
    std::string ip;
    size_t lines = 0;
    std::string real = req->joined_header("X-Real-IP", &lines);
    if (lines == 1) {
        ip = real;
    } else {  // none, or several (one of them the client's): X-Forwarded-For decides
        // X-Forwarded-For: the right-most address that is not one of our trusted proxies.
        std::string all = req->joined_header("X-Forwarded-For");
        std::vector<std::string_view> hops = split_list(all);
        for (size_t i = hops.size(); i-- > 0;) {
            std::string hop(hops[i]);
            // A trusted proxy is known by its address, however a hop spells it
            // ("2001:DB8::1", "::ffff:10.0.0.2"): the list holds each one's canonical form.
            std::string canonical;
            if (i > 0 && canonical_ip(hop, &canonical) && trusted.count(canonical)) continue;
            ip = hop;
            break;
        }
    }
    if (!ip.empty()) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1)
            req->remote_ip = ip;
    }
    // The scheme: the last member (the nearest proxy's) of X-Scheme, else of X-Forwarded-Proto
    // (each line counts: a client's own line before the proxy's must not win).
    std::string scheme = req->joined_header("X-Scheme", &lines);
    if (!lines) scheme = req->joined_header("X-Forwarded-Proto");
    std::vector<std::string_view> values = split_list(scheme);
    std::string proto = values.empty() ? std::string() : std::string(values.back());
    for (char &ch : proto) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    if (proto == "http" || proto == "https") req->scheme = proto;
}

// ---- responses and life cycle ----------------------------------------------------------------

bool Connection::keep_alive_allowed() const {
    return server_ && !server_->options.no_keep_alive && !shutting_down_ &&
           !server_->shutting_down();
}

// Answers with a short error page. `keep_alive`: the request was framed correctly (fully read)
// so the connection may carry on if the client wants that.
void Connection::send_error(int status, bool keep_alive) {
    Request *req = request_;
    if (req && req->headers_sent()) {
        // An answer already started: an error page now would become part of its body. Cut
        // the answer short instead (the client sees it incomplete).
        log(LogLevel::info, "http: %s: error %d after the answer started; closing",
            peer_ip_.c_str(), status);
        phase_ = Phase::closing;
        stream_->end_abruptly();  // no TLS close_notify: the answer must not look complete
        stream_->close_after_flush();
        return;
    }
    if (!req) {
        req = RequestPool::make(server_ ? server_->request_pool() : nullptr, this, server_);
        if (!req) {
            stream_->close(EDDY_ENOMEM);
            return;
        }
        req->method = method_pending() ? parse_->method : "-";
        req->remote_ip = peer_ip_;
        req->remote_port = peer_port_;
        req->start_time = Loop::now();
        request_ = req;
    }
    if (!keep_alive) {
        req->wants_keep_alive = false;
        req->message_complete = false;  // forces Connection: close
    }
    set_timer(TimerKind::none);
    req->set_status(status, {});
    req->set_header("Content-Type", "text/html; charset=UTF-8", true);
    const char *reason = reason_phrase(status);
    std::string body = "<html><title>" + std::to_string(status) + ": " + reason +
                       "</title><body>" + std::to_string(status) + ": " + reason;
    // RFC 9110 §15.6.6: a 505 SHOULD say why and what the server speaks instead.
    if (status == 505) body += ". This server speaks HTTP/1.1 and HTTP/1.0.";
    body += "</body></html>";
    req->write(body.data(), body.size());
    // A request the application took from the headers callback with a close callback (the web
    // layer's handlers do) must not vanish under it: it is kept until the application finishes
    // it, and the close callback tells it (Tornado's on_connection_close).
    bool held_by_application = req->head_delivered && req->close_cb != nullptr;
    if (held_by_application) req->hold();
    req->finish();
    if (held_by_application) req->finished_by_server();
}

void Connection::request_finished(Request *req) {
    if (req != request_) return;
    request_ = nullptr;
    if (!stream_) {
        phase_ = Phase::closing;
        set_timer(TimerKind::none);
        return;
    }
    // An upgrade that did not happen (hold_for_upgrade): the connection watches again.
    stream_->set_watch_peer_close(true);
    // The idle wait also watches the answer still leaving (see on_timer): a peer that takes
    // none of it for a whole idle timeout is closed, with or without keep-alive.
    set_timer(TimerKind::idle);
    // Measured at the first check, not here: output_progress() is a system call, too dear for
    // every answer. The first check thus always waits once more (as it did when it counted the
    // answer's own flush as progress); a peer that takes nothing is closed at the second.
    progress_at_check_ = kProgressUnmeasured;
    if (!req->keep_alive_response() || shutting_down_) {
        phase_ = Phase::closing;
        stream_->close_after_flush();
        return;
    }
    phase_ = Phase::idle;
    if (!in_consume_ && !wait_for_output()) want_read();
}

void Connection::answer_flushed() {
    // Only while the request is being handled with no other wait running: a body still
    // arriving has its body timeout, a finished answer the idle wait.
    if (phase_ != Phase::handling || timer_kind_ != TimerKind::none || !stream_ ||
        !stream_->has_output())
        return;
    // Measured once per wait (a system call), so that a peer that takes nothing of the answer
    // from now on is closed when the wait is over, not a wait later.
    progress_at_check_ = stream_->output_progress();
    set_timer(TimerKind::send);
}

// eddy_request_set_body_timeout / _set_body_min_rate while the body arrives (after the
// headers callback, e.g. once a first piece told the application who sends it). A new rate
// holds from now on: its clock and grace start at the call, and the bytes come so far are not
// counted (they were measured against the old rate, which the client kept to: a rate tightened
// later must not make it behind at once). A new inactivity timeout counts from the last bytes,
// as the old one did. Either way the body's timer is queued for the new earliest deadline: a
// shorter limit than the one the timer waits for would otherwise act late, and one set where
// no limit was (no timer at all) never.
void Connection::body_limits_changed(Request *req, bool rate_changed) {
    // (From the headers callback this is redone by set_body_timer once it returns: no harm.)
    if (req != request_ || phase_ != Phase::body || !stream_) return;
    if (rate_changed) {
        double now = Loop::now();
        req->body_clock = now;
        req->body_rate_from += body_rate_bytes();         // every byte so far: counted from here on
        if (req->body_paused) req->body_paused_at = now;  // the hold before the call is past
    }
    if (req->body_timeout <= 0 && req->body_min_rate <= 0) return;  // (a queued timer idles)
    timer_kind_ = TimerKind::body;
    queue_body_check();
}

void Connection::resume_body() {
    if (phase_ != Phase::body || !stream_) return;
    // Held from the headers callback: the 100 the client waits for goes out now (head_complete).
    if (expect_continue_ && request_ && !send_owed_continue()) return;
    double now = Loop::now();
    wait_started_ = now;  // the inactivity wait starts again: the hold was not the client's
    if (request_ && timer_kind_ == TimerKind::body) {
        // The time the application held the body is not the client's: the rate clock moves
        // on by it, and the timer (maybe not queued while held) is queued for the next check.
        request_->body_clock += now - request_->body_paused_at;
        queue_body_check();
    }
    if (!in_consume_) want_read();
}

void Connection::abort() {
    phase_ = Phase::closing;
    set_timer(TimerKind::none);
    if (!stream_) return;
    Stream *stream = stream_;
    // From now on the request sees a closed connection (writes give EDDY_ECLOSED); the close
    // callback still arrives through on_stream_close.
    stream_ = nullptr;
    stream->close_abruptly(EDDY_EPROTO);
}

void Connection::serve_last_request() { shutting_down_ = true; }

void Connection::shutdown() {
    shutting_down_ = true;
    if (phase_ == Phase::idle && !request_ && !method_pending()) {
        phase_ = Phase::closing;
        // An answer still leaving is in flight: it is sent before the connection closes.
        if (stream_->has_output()) {
            stream_->close_after_flush();
        } else {
            stream_->close(0);
        }
    }
}

// Synchronous teardown for a server that is being freed: the stream is closed without calling
// us back, the application learns of the loss now, and the connection object goes at once (the
// loop may be freed right after, before any posted callback could run).
// Closes the stream; abruptly (no TLS close_notify) when an answer is cut short: its head went
// out but not all of it.
void Connection::close_stream(int error) {
    bool cut_short = (request_ && request_->headers_sent() && !request_->finished()) ||
                     stream_->has_output();
    if (cut_short) {
        stream_->close_abruptly(error);
    } else {
        stream_->close(error);
    }
}

void Connection::close_now() {
    if (server_) {
        server_->loop()->timer_stop(&timer_);
        server_->connection_closed(this);
        server_ = nullptr;
    }
    if (stream_) {
        stream_->set_close_callback(nullptr, nullptr);
        stream_->notify_when_sent(nullptr, nullptr);
        close_stream(0);
        stream_ = nullptr;
    }
    drop_request(true, true);
    delete this;
}

// The connection is going away: a request the application owns stays with it (told through
// its close callback when `notify`); any other never reached it and is released here.
void Connection::drop_request(bool notify, bool server_gone) {
    Request *req = request_;
    if (!req) return;
    request_ = nullptr;
    if (server_gone) req->server = nullptr;
    if (!req->owned_by_application()) {
        RequestPool::release(req);
    } else if (notify) {
        // The application finishes it later: the server keeps track, so that the finish can
        // still reach the access log (or know the server is gone).
        if (req->server) req->server->adopt_orphan(req);
        req->connection_lost();
    } else {
        req->conn = nullptr;
    }
}

void Connection::detach_for_loop_free() {
    if (server_) server_->loop()->timer_stop(&timer_);
    server_ = nullptr;
    stream_ = nullptr;
    drop_request(false, true);  // no callbacks while the loop is being freed
    delete this;
}

void Connection::hold_for_upgrade(Request *req) {
    if (req == request_ && stream_) stream_->set_watch_peer_close(false);
}

Stream *Connection::release_stream(Request *req) {
    if (req != request_ || !stream_ || stream_->closed() || in_consume_) return nullptr;
    Stream *stream = stream_;
    stream->set_watch_peer_close(true);  // the new owner's, as any stream (hold_for_upgrade)
    stream->set_watch_close_with_input(false);
    stream->set_peer_fin_check(nullptr, nullptr);
    stream->set_close_callback(nullptr, nullptr);
    stream->notify_when_sent(nullptr, nullptr);
    stream_ = nullptr;
    request_ = nullptr;
    req->conn = nullptr;
    if (server_) {
        server_->loop()->timer_stop(&timer_);
        server_->connection_closed(this);
        server_ = nullptr;
    }
    delete this;
    return stream;
}

void Connection::on_stream_close(Stream *, int, void *arg) {
    Connection *c = static_cast<Connection *>(arg);
    c->stream_ = nullptr;
    // The request's close callback may free the server: it then waits until this is over
    // (else its teardown would close, and delete, this very connection under us).
    Server::Dispatch dispatch(c->server_);
    c->drop_request(true, false);
    if (c->server_) {
        c->server_->loop()->timer_stop(&c->timer_);
        c->server_->connection_closed(c);
        c->server_ = nullptr;
    }
    delete c;
}

}  // namespace eddy::http
