#include "http/request.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "http/connection.hpp"
#include "http/hex.hpp"
#include "http/request_pool.hpp"
#include "http/server.hpp"
#include "loop/loop.hpp"
#include "stream/stream.hpp"
#include "util/copy_small.hpp"
#include "util/log.hpp"

namespace eddy::http {

struct Request::FlushWaiter {
    Request *req;
    eddy_request_flush_fn cb;
    FlushWaiter *next;  // the next newer one; the newest points at the oldest (flush_tail_)
};

Request::Request(Connection *c, Server *s) : conn(c), server(s) {
    // Tornado's order: the server's `protocol` (a TLS proxy in front), else the connection's;
    // xheaders may still replace it (apply_xheaders).
    if (s && !s->options.protocol.empty()) {
        scheme = s->options.protocol;
    } else if (c && c->stream() && c->stream()->is_tls()) {
        scheme = "https";
    }
}

Request::~Request() {
    if (loop_) loop_->remove_held(&held_link_);
    drop_flush_waiters();  // none but after a loop free: the request waits for them
    if (pending_) evbuffer_free(pending_);
    if (free_userdata) free_userdata(userdata);
}

const HeaderField *Request::find_header(std::string_view name) const {
    for (const HeaderField &h : headers)
        if (iequals(h.name, name)) return &h;
    return nullptr;
}

std::string Request::joined_header(std::string_view name, size_t *lines) const {
    std::string all;
    size_t count = 0;
    for (const HeaderField &h : headers) {
        if (!iequals(h.name, name)) continue;
        count++;
        if (!all.empty()) all += ", ";  // empty list elements are ignored (RFC 9110 §5.6.1)
        all += h.value;
    }
    if (lines) *lines = count;
    return all;
}

const std::vector<Argument> &Request::query_arguments() const {
    if (!query_parsed_) {
        try {
            parse_urlencoded(query, query_args_);
        } catch (...) {
            // Out of memory: no half list stays behind (the next call parses again).
            query_args_.clear();
            throw;
        }
        query_parsed_ = true;
    }
    return query_args_;
}

int Request::parse_body_arguments(std::string &error) {
    if (body.empty()) return 0;  // most requests: no try block entered, no call made
    try {
        return parse_body_arguments_or_throw(error) ? 0 : 400;
    } catch (const std::bad_alloc &) {
        // The request cannot be handled without its arguments: refused (RFC 9110 §15.6.4, a
        // temporary condition), with no half list left behind.
        body_args.clear();
        files.clear();
        error.assign("out of memory");  // short: fits the string's own bytes, no allocation
        return 503;
    }
}

bool Request::parse_body_arguments_or_throw(std::string &error) {
    const HeaderField *ct = find_header("Content-Type");
    if (!ct || body.empty()) return true;
    if (find_header("Content-Encoding")) return true;  // not ours to decode; left as bytes
    MediaType media;
    if (!parse_media_type(ct->value, media)) return true;
    if (media.type == "application/x-www-form-urlencoded") {
        // Each pair costs ~64 bytes however short: 100 MiB of "a&a&..." (the default body
        // limit) would take over 3 GiB. Go's net/url stops at the same count.
        if (parse_urlencoded(body, body_args, kMaxBodyArguments)) return true;
        error = "over " + std::to_string(kMaxBodyArguments) + " urlencoded arguments";
        return false;
    }
    if (media.type == "multipart/form-data") {
        const std::string *boundary = media.param("boundary");
        if (!boundary || boundary->empty()) {
            error = "multipart body without a boundary";
            return false;
        }
        return parse_multipart(body, *boundary, body_args, files, error);
    }
    return true;
}

// ---- response --------------------------------------------------------------------------------

bool Request::body_allowed() const {
    // 205 too: RFC 9110 §15.3.6 forbids content in it (send_head declares an empty one).
    return !(status_ < 200 || status_ == 204 || status_ == 205 || status_ == 304);
}

int Request::set_status(int code, std::string_view reason) {
    if (finished_ || headers_sent_) return EDDY_ESTATE;
    // 1xx are interim answers (RFC 9110 §15.2): one as the final status would leave the
    // client waiting for the real answer, and then read the next one as this one's.
    if (code < 200 || code > 599) return EDDY_EINVAL;
    if (!reason.empty() && !is_valid_reason(reason)) return EDDY_EINVAL;
    try {
        reason_.assign(reason);
    } catch (const std::bad_alloc &) {
        return lose_response("status");
    }
    status_ = code;
    return 0;
}

// Out of line and cold, so that set_header needs no frame for a variadic call.
int Request::late_header(std::string_view name) const {
    log(LogLevel::warning, "http: header %.*s set after the response head went out; not sent",
        static_cast<int>(name.size()), name.data());
    return EDDY_ESTATE;
}

int Request::set_header(std::string_view name, std::string_view value, bool replace) {
    if (finished_ || headers_sent_) [[unlikely]] return late_header(name);
    if (!is_token(name) || !is_safe_field_value(value)) return EDDY_EINVAL;
    // Framing headers belong to the server: it writes them itself. (Dispatch on the length
    // first: this runs for every header of every response.)
    if (name.size() == 17 && iequals(name, "Transfer-Encoding")) return EDDY_EINVAL;
    if (name.size() == 14 && iequals(name, "Content-Length")) {
        uint64_t n = 0;
        // (No response can be 2^63 bytes long: such a length is a mistake, refused here.)
        if (!parse_content_length(value, &n) || n > static_cast<uint64_t>(INT64_MAX))
            return EDDY_EINVAL;
        declared_length_ = static_cast<int64_t>(n);
        return 0;
    }
    if (name.size() == 10 && iequals(name, "Connection")) {
        app_wants_close_ = list_contains(value, "close");
        return 0;
    }
    if (name.size() == 4 && iequals(name, "Etag")) etag_field_set_ = true;
    if (name.size() == 7 && iequals(name, "Upgrade")) upgrade_offered_ = true;
    if (replace && !out_headers_.empty()) {
        ResponseFields::Replaced r = out_headers_.replace(name, value);
        if (r == ResponseFields::Replaced::yes) return 0;
        if (r == ResponseFields::Replaced::out_of_memory) return lose_response(name);
    }
    return out_headers_.add(name, value) ? 0 : lose_response(name);
}

int Request::lose_response(std::string_view what) {
    if (lost_ == Lost::nothing)  // (once: the line says the whole response goes)
        log(LogLevel::error, "http: out of memory setting the response's %.*s; it will not be sent",
            static_cast<int>(what.size()), what.data());
    if (lost_ != Lost::cookie) lost_ = iequals(what, "Set-Cookie") ? Lost::cookie : Lost::field;
    return EDDY_ENOMEM;
}

void Request::add_trusted_header(std::string_view name, std::string_view value) {
    if (finished_ || headers_sent_) return;
    // The fields' invariant (and the wire) wants no CR/LF/NUL; a computed value is checked.
    if (!is_safe_field_value(value)) return;
    if (name.size() == 4 && iequals(name, "Etag")) etag_field_set_ = true;
    if (!out_headers_.add(name, value)) lose_response(name);
}

void Request::set_automatic_etag(std::string_view etag) {
    if (finished_ || headers_sent_) return;
    if (etag.size() > sizeof etag_line_ - kEtagPrefix - 2) {
        add_trusted_header("Etag", etag);
        return;
    }
    memcpy(etag_line_, "Etag: ", kEtagPrefix);
    memcpy(etag_line_ + kEtagPrefix, etag.data(), etag.size());
    memcpy(etag_line_ + kEtagPrefix + etag.size(), "\r\n", 2);
    etag_line_len_ = static_cast<unsigned char>(kEtagPrefix + etag.size() + 2);
}

void Request::set_automatic_etag_hash(uint64_t hash, bool gzip_suffix) {
    if (finished_ || headers_sent_) return;
    // The 16 digits land at offset 4, then `Etag: "` (7 bytes) covers the top three: what
    // remains after the quote is the low 52 bits. Every copy has a constant size.
    hex16(hash, etag_line_ + 4);
    memcpy(etag_line_, "Etag: \"", 7);
    size_t n = 20;
    if (gzip_suffix) {
        memcpy(etag_line_ + n, "-gz", 3);
        n += 3;
    }
    memcpy(etag_line_ + n, "\"\r\n", 3);
    etag_line_len_ = static_cast<unsigned char>(n + 3);
}

std::string_view Request::automatic_etag() const {
    if (etag_line_len_ == 0) return {};
    return std::string_view(etag_line_ + kEtagPrefix, etag_line_len_ - kEtagPrefix - 2);
}

int Request::clear_header(std::string_view name) {
    if (finished_ || headers_sent_) return EDDY_ESTATE;
    if (iequals(name, "Content-Length")) declared_length_ = -1;
    if (iequals(name, "Connection")) app_wants_close_ = false;
    if (iequals(name, "Etag")) etag_field_set_ = false;
    if (iequals(name, "Upgrade")) upgrade_offered_ = false;
    out_headers_.remove(name);
    return 0;
}

int Request::write(const void *data, size_t len) {
    if (finished_) return EDDY_ESTATE;
    if (!connected()) return EDDY_ECLOSED;
    if (len == 0) return 0;
    // No buffer is longer than PTRDIFF_MAX: such a length is EDDY_NTS or a negative one cast,
    // and the sums below would wrap.
    if (!data || len > static_cast<size_t>(PTRDIFF_MAX)) return EDDY_EINVAL;
    if (!body_allowed()) return EDDY_ESTATE;
    if (declared_length_ >= 0 && body_written_ + len > static_cast<uint64_t>(declared_length_)) {
        log(LogLevel::error, "http: response body longer than its Content-Length (%lld); closing",
            static_cast<long long>(declared_length_));
        conn->abort();
        return EDDY_ETOOBIG;
    }
    // HEAD bodies are kept too (the web layer hashes them for ETag) but never sent.
    // Small bodies stay in a string (one allocation at most); larger ones move to an evbuffer
    // whose chains later pass to the socket's buffer without copying.
    // Out of memory the bytes are not taken, and the response would go out without them,
    // complete to the client's eyes (an application that ignores the error then finishes): the
    // connection is cut instead, so that no wrong answer is ever sent.
    if (!pending_ && small_body_.size() + len <= kSmallBody) {
        try {
            small_body_.append(static_cast<const char *>(data), len);
        } catch (const std::bad_alloc &) {
            return cut_connection("write");
        }
    } else if (!pending_body() || evbuffer_add(pending_, data, len) != 0) {
        return cut_connection("write");
    }
    body_written_ += len;
    return 0;
}

std::string_view Request::pending_evbuffer_bytes() {
    if (evbuffer_get_length(pending_) == 0) return small_body_;
    evbuffer *buf = pending_body();
    if (!buf) throw std::bad_alloc();
    size_t len = evbuffer_get_length(buf);
    if (!len) return {};
    const unsigned char *bytes = evbuffer_pullup(buf, -1);
    if (!bytes) throw std::bad_alloc();  // not contiguous and no memory to make it so
    return std::string_view(reinterpret_cast<const char *>(bytes), len);
}

evbuffer *Request::pending_body() {
    if (!pending_ && !(pending_ = evbuffer_new())) return nullptr;
    if (!small_body_.empty()) {
        // Out of memory the bytes stay where they are (nothing written is lost).
        if (evbuffer_add(pending_, small_body_.data(), small_body_.size()) != 0) return nullptr;
        small_body_.clear();
    }
    return pending_;
}

namespace {

// Builds a response head in a stack buffer (spilling to the heap only for huge heads), so the
// common response costs no allocation here. Literal pieces are copied with a constant size,
// which the compiler turns into a few moves instead of a call to memcpy.
class HeadBuilder {
public:
    template <size_t N>
    void add(const char (&literal)[N]) {
        add_bytes(literal, N - 1);
    }
    void add(std::string_view s) { add_bytes(s.data(), s.size()); }
    // The first `used` bytes of a fixed-size buffer, copied whole when there is room (a
    // constant-size copy) and then counted as `used`.
    template <size_t N>
    void add_prefix(const char (&buf)[N], size_t used) {
        if (static_cast<size_t>(end_ - p_) >= N) [[likely]] {
            memcpy(p_, buf, N);
            p_ += used;
            return;
        }
        spill(buf, used);
    }
    [[gnu::always_inline]] void add_bytes(const char *s, size_t n) {
        if (static_cast<size_t>(end_ - p_) >= n) [[likely]] {
            copy_small(p_, s, n);
            p_ += n;
            return;
        }
        spill(s, n);
    }
    [[gnu::noinline]] void spill(const char *s, size_t n) {
        if (spill_.empty()) spill_.assign(buf_, static_cast<size_t>(p_ - buf_));
        spill_.append(s, n);
        end_ = p_;  // from now on every piece goes to spill_
    }
    [[gnu::always_inline]] void add_uint(uint64_t v) {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        size_t n = static_cast<size_t>(r.ptr - tmp);
        // Tells the compiler that copy_small's n > 32 path is dead (no overread warning).
        if (n > sizeof tmp) __builtin_unreachable();
        add_bytes(tmp, n);
    }
    // A field line of the server's own (`name` a literal): one room check for the whole line
    // instead of one per piece (callgrind: the checks were ~100 instructions per response).
    template <size_t N>
    void add_field(const char (&name)[N], std::string_view value) {
        if (static_cast<size_t>(end_ - p_) >= N - 1 + 2 + value.size() + 2) [[likely]] {
            put(name, N - 1);
            put(": ", 2);
            copy_small(p_, value.data(), value.size());
            p_ += value.size();
            put("\r\n", 2);
            return;
        }
        add(name);
        add(": ");
        add(value);
        add("\r\n");
    }
    // "Content-Length: <n>\r\n", with one room check.
    void add_content_length(uint64_t v) {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        size_t n = static_cast<size_t>(r.ptr - tmp);
        if (n > sizeof tmp) __builtin_unreachable();  // (as in add_uint)
        if (static_cast<size_t>(end_ - p_) >= 16 + sizeof tmp + 2) [[likely]] {
            put("Content-Length: ", 16);
            copy_small(p_, tmp, n);
            p_ += n;
            put("\r\n", 2);
            return;
        }
        add("Content-Length: ");
        add_bytes(tmp, n);
        add("\r\n");
    }
    const char *data() const { return spill_.empty() ? buf_ : spill_.data(); }
    size_t size() const { return spill_.empty() ? static_cast<size_t>(p_ - buf_) : spill_.size(); }

private:
    // A constant-size piece where room was checked already.
    [[gnu::always_inline]] void put(const char *s, size_t n) {
        memcpy(p_, s, n);
        p_ += n;
    }
    char buf_[1024];
    char *p_ = buf_;
    char *end_ = buf_ + sizeof buf_;
    std::string spill_;
};

}  // namespace

bool Request::send_head(bool final) {
    if (response_lost()) [[unlikely]]
        throw std::bad_alloc();
    bool keep = wants_keep_alive && message_complete && !app_wants_close_ &&
                conn->keep_alive_allowed();
    bool with_body = body_allowed();
    if (!final && with_body && declared_length_ < 0 && !is_head()) {
        if (version_minor >= 1) {
            chunked_ = true;
        } else {
            keep = false;  // HTTP/1.0: the body ends when the connection does
        }
    }
    keep_alive_ = keep;
    if (!with_body) drop_unsendable_body();

    HeadBuilder head;
    if (status_ == 200 && reason_.empty()) {
        head.add("HTTP/1.1 200 OK\r\n");
    } else {
        head.add("HTTP/1.1 ");
        head.add_uint(static_cast<uint64_t>(status_));
        head.add(" ");
        head.add(reason_.empty() ? std::string_view(reason_phrase(status_)) : std::string_view(reason_));
        head.add("\r\n");
    }
    if (!out_headers_.names_server() && server && server->options.send_server_header)
        head.add_field("Server", server->options.server_header);
    if (!out_headers_.names_date()) head.add_field("Date", http_date_now());
    head.add(out_headers_.lines());
    if (etag_line_len_) head.add_prefix(etag_line_, etag_line_len_);
    if (with_body) {
        if (chunked_) {
            head.add("Transfer-Encoding: chunked\r\n");
        } else if (declared_length_ >= 0 || final) {
            head.add_content_length(declared_length_ >= 0 ? static_cast<uint64_t>(declared_length_)
                                                          : body_written_);
        }
    } else if (status_ == 304 && declared_length_ >= 0) {
        head.add_content_length(static_cast<uint64_t>(declared_length_));
    } else if (status_ == 205) {
        // Unlike 204 and 304, a 205 is not body-less by definition (RFC 9112 §6.3): without a
        // length the client would read until the connection closes.
        head.add("Content-Length: 0\r\n");
    }
    // The Connection field is ours: close or keep-alive as decided above, and "upgrade" when
    // the answer carries Upgrade (a 426, or 101 written by hand), which RFC 9110 §7.8 asks of
    // every sender of Upgrade.
    if (upgrade_offered_) {
        head.add(!keep ? "Connection: upgrade, close\r\n"
                       : version_minor == 0 ? "Connection: upgrade, keep-alive\r\n"
                                            : "Connection: upgrade\r\n");
    } else if (!keep) {
        head.add("Connection: close\r\n");
    } else if (version_minor == 0) {
        head.add("Connection: keep-alive\r\n");
    }
    head.add("\r\n");
    // A whole small response leaves in one piece: its body joins the head here, so the output
    // buffer takes one copy instead of two.
    if (final && with_body && !chunked_ && !pending_ && !is_head() && !small_body_.empty()) {
        head.add(small_body_);
        small_body_.clear();
    }
    headers_sent_ = true;
    bool whole = final && small_body_.empty() && (!pending_ || evbuffer_get_length(pending_) == 0);
    if (whole && conn->may_answer_now()) {
        if (conn->stream()->write_now(head.data(), head.size()) == EDDY_ENOMEM) throw std::bad_alloc();
        return true;
    }
    evbuffer *out = conn->stream()->output();
    if (!out || evbuffer_add(out, head.data(), head.size()) != 0) throw std::bad_alloc();
    return false;
}

size_t Request::held_body_length() const {
    return small_body_.size() + (pending_ ? evbuffer_get_length(pending_) : 0);
}

void Request::discard_held_body() {
    small_body_.clear();
    if (pending_) evbuffer_drain(pending_, evbuffer_get_length(pending_));
}

void Request::drop_unsendable_body() {
    // Written before the status became one without content (204, 205, 304: RFC 9110 §15):
    // sent after the head, these bytes would be read as the start of the next response. (Once
    // the head is out the status is fixed, and write() refuses bytes such a status cannot carry.)
    size_t len = held_body_length();
    if (len == 0) return;
    log(LogLevel::warning, "http: a %d response has no content; dropping the %zu bytes written",
        status_, len);
    discard_held_body();
}

// Out of memory, the evbuffer calls fail: that is thrown as std::bad_alloc, like the head's
// own allocation, for queue_output / queue_end to cut the connection (a part silently missing
// would leave the client waiting for it, or reading a wrong answer as complete).
void Request::move_body_out(bool final) {
    evbuffer *out = conn->stream()->output();
    auto added = [](int rc) {
        if (rc != 0) throw std::bad_alloc();
    };
    if (!out) throw std::bad_alloc();
    size_t len = held_body_length();
    if (len > 0 && is_head()) {
        discard_held_body();
        len = 0;
    }
    if (len > 0) {
        if (chunked_) {
            char size_line[32];
            int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
            added(evbuffer_add(out, size_line, static_cast<size_t>(n)));
        }
        if (!small_body_.empty()) {
            added(evbuffer_add(out, small_body_.data(), small_body_.size()));
            small_body_.clear();
        }
        if (pending_) added(evbuffer_add_buffer(out, pending_));
        if (chunked_) added(evbuffer_add(out, "\r\n", 2));
    }
    if (final && chunked_) added(evbuffer_add(out, "0\r\n\r\n", 5));
}

// Out of memory half-way through a response (a head too large for the stack buffer spills to
// the heap; the stream's bookkeeping grows): what went out so far cannot be completed, so the
// connection is cut, as for a response that broke its Content-Length. The application sees a
// closed connection from here on (its close callback comes as for any other).
int Request::cut_connection(const char *where) {
    log(LogLevel::error, "http: %s: out of memory; closing the connection", where);
    if (conn) conn->abort();
    return EDDY_ENOMEM;
}

// The head (if not yet sent) and the body written so far, into the stream's output.
bool Request::queue_output() noexcept {
    try {
        if (!headers_sent_) send_head(false);
        move_body_out(false);
        return true;
    } catch (const std::bad_alloc &) {
        return false;
    }
}

int Request::flush(eddy_request_flush_fn cb) {
    if (finished_) return EDDY_ESTATE;
    // A stream that closed in this pass (a reset read just now) still belongs to its connection
    // until its close callback runs; it takes no more output, and would drop the callback.
    if (!connected() || conn->stream()->closed()) return EDDY_ECLOSED;
    FlushWaiter *waiter = nullptr;
    if (cb) {
        waiter = new (std::nothrow) FlushWaiter{this, cb, nullptr};
        if (!waiter) return EDDY_ENOMEM;
    }
    if (!queue_output()) {
        delete waiter;
        return cut_connection("flush");
    }
    int rc = conn->stream()->commit_output(waiter ? on_flushed : nullptr, waiter);
    if (rc != 0) {
        // The stream did not record the waiter (its list did not grow, or it closed under the
        // output just queued): it never calls back.
        delete waiter;
        return rc == EDDY_ENOMEM ? cut_connection("flush") : EDDY_ECLOSED;
    }
    if (waiter) {
        if (flush_tail_) {
            waiter->next = flush_tail_->next;
            flush_tail_->next = waiter;
        } else {
            waiter->next = waiter;
        }
        flush_tail_ = waiter;
        // A completion pending keeps the request past its finish; should the loop be freed
        // first, the completion never comes and only the loop's free can release it (and the
        // state behind the callback: its userdata). Once per request, only for flushes with a
        // callback: the hello path never comes here.
        track_held();
    }
    if (conn) conn->answer_flushed();  // a peer that takes none of it is closed in time
    return 0;
}

int Request::send_file(int file_fd, off_t offset, size_t len) {
    if (finished_ || !body_allowed()) {
        ::close(file_fd);
        return EDDY_ESTATE;
    }
    if (!connected()) {
        ::close(file_fd);
        return EDDY_ECLOSED;
    }
    if (declared_length_ >= 0 && body_written_ + len > static_cast<uint64_t>(declared_length_)) {
        ::close(file_fd);
        return EDDY_ETOOBIG;
    }
    if (!queue_output()) {
        ::close(file_fd);
        return cut_connection("sending a file");
    }
    body_written_ += len;
    if (is_head() || chunked_) {  // the web layer never streams files chunked; HEAD sends none
        ::close(file_fd);
        conn->stream()->commit_output();
        return is_head() ? 0 : EDDY_ESTATE;
    }
    return conn->stream()->send_file(file_fd, offset, len);
}

// The whole response into the stream's output (the head with it if not sent yet); false when
// memory ran out.
bool Request::queue_end() noexcept {
    try {
        if (headers_sent_ || !send_head(true)) {
            move_body_out(true);
            conn->stream()->commit_output();
        }
        return true;
    } catch (const std::bad_alloc &) {
        return false;
    }
}

void Request::on_flushed(Stream *, int status, void *arg) {
    FlushWaiter *waiter = static_cast<FlushWaiter *>(arg);
    Request *req = waiter->req;
    eddy_request_flush_fn cb = waiter->cb;
    // Still pending while the callback runs, so that nothing it does (a finish, a web
    // handler's unhold) releases the request under us; flushes it adds go behind it. Then
    // unlinked: it is the oldest, as the stream reports in write order.
    cb(req->as_c(), status, req->userdata);
    if (waiter->next == waiter) {
        req->flush_tail_ = nullptr;
    } else {
        req->flush_tail_->next = waiter->next;
    }
    delete waiter;
    req->maybe_release();
}

void Request::drop_flush_waiters() {
    if (!flush_tail_) return;
    FlushWaiter *w = flush_tail_->next;
    flush_tail_->next = nullptr;  // ends the ring
    flush_tail_ = nullptr;
    while (w) {
        FlushWaiter *next = w->next;
        delete w;
        w = next;
    }
}

bool Request::queue_unfinished() noexcept {
    // Without its head nothing goes: a head followed by the close would be a complete-looking
    // response where the end of the body is only told by the close (HTTP/1.0, no length).
    if (!headers_sent_) return true;
    try {
        move_body_out(false);
        conn->stream()->commit_output();
        return true;
    } catch (const std::bad_alloc &) {
        return false;
    }
}

int Request::finish() { return end_response(true); }

int Request::abort() { return end_response(false); }

int Request::end_response(bool complete) {
    if (finished_) [[unlikely]] {
        if (server_hold_) {  // the server answered it; the application is done with it now
            server_hold_ = false;
            unhold();
        }
        return EDDY_ESTATE;
    }
    finished_ = true;
    int rc = 0;
    // Out of memory the connection is cut (and the request ends as on a closed one).
    if (connected() && !(complete ? queue_end() : queue_unfinished()))
        rc = cut_connection("finishing a response");
    if (connected()) {
        if (!complete) {
            // No last chunk, the declared length not reached, or no response at all: the
            // close after what was sent tells the client the answer broke off.
            log(LogLevel::info, "http: response aborted by the application; closing");
            keep_alive_ = false;
        } else if (declared_length_ >= 0 &&
                   body_written_ < static_cast<uint64_t>(declared_length_) && body_allowed() &&
                   !is_head()) {
            log(LogLevel::error, "http: response shorter than its Content-Length; closing");
            keep_alive_ = false;
        }
        log_access_once();
        Connection *c = conn;
        try {
            c->request_finished(this);
        } catch (const std::bad_alloc &) {
            // The connection could not take its next request: it ends (it already let go of
            // this one).
            rc = cut_connection("after a response");
            conn = nullptr;
        }
    } else {
        if (rc == 0) rc = EDDY_ECLOSED;
        // The client left before the answer (Tornado logs these too; nginx with 499): the
        // entry says what was sent, status 0 when not even the head went out.
        log_access_once();
        if (server) server->drop_orphan(this);
        // The connection object may still exist (aborted, its close not yet delivered): it
        // must not keep pointing at a request that is about to be released.
        if (conn) conn->forget_request(this);
        conn = nullptr;
    }
    maybe_release();
    return rc;
}

void Request::connection_lost() {
    conn = nullptr;
    if (!finished_ && close_cb) close_cb(as_c(), userdata);
}

void Request::track_held() {
    if (loop_ || !server || !server->loop()) return;
    loop_ = server->loop();
    held_link_.owner = this;
    held_link_.release = [](void *owner) { static_cast<Request *>(owner)->on_loop_free(); };
    loop_->add_held(&held_link_);
}

void Request::on_loop_free() {
    loop_ = nullptr;  // the loop took it off its held list already
    // Its stream goes with the loop without calling back (no callbacks while a loop is freed):
    // the flush completions still pending are released here, never run.
    drop_flush_waiters();
    if (finished_ && !server_hold_ && holds_ == 0) {
        // Finished, and only its flushes kept it (the client was not reading the answer): its
        // connection and server let go of it at the finish, so nothing else refers to it.
        RequestPool::release(this);  // ~Request releases the userdata
        return;
    }
    // A holder goes first: a web handler the application detached and has not finished, or
    // one that finished but waited for its flush completions (dropped above). It gives its
    // hold back; a finished request is released by that (maybe_release), so nothing below may
    // touch it then (and nothing below would apply to a finished one).
    if (holder_release && holds_ > (server_hold_ ? 1 : 0)) {
        void (*release)(void *) = holder_release;
        bool was_finished = finished_;
        holder_release = nullptr;
        release(holder);
        if (was_finished) return;
    }
    bool held = (!finished_ && owned_by_application()) || server_hold_;
    if (!held || holds_ != (server_hold_ ? 1 : 0)) return;
    // Nothing may reach it any more: the server's list of orphans, the connection (when the
    // server has not let go of the loop yet; it deletes the connection without looking).
    if (server) server->drop_orphan(this);
    if (conn) conn->forget_request(this);
    conn = nullptr;
    server = nullptr;
    close_cb = nullptr;          // no callbacks while the loop is freed
    RequestPool::release(this);  // ~Request releases the userdata
}

void Request::finished_by_server() {
    // The connection moves on without this request: nothing may reach it through conn.
    conn = nullptr;
    server_hold_ = true;  // before the callback: it may call finish() and release the request
    close_cb(as_c(), userdata);
}

void Request::log_switching_protocols() {
    status_ = 101;
    headers_sent_ = true;  // the head went out (on the stream the web layer took)
    log_access_once();
    // Nothing reaches the server through this request any more: the session may outlive it.
    server = nullptr;
}

void Request::log_access_once() {
    if (access_logged_ || !server) return;
    access_logged_ = true;
    server->log_access(this);
}

void Request::maybe_release() {
    if (finished_ && !flush_tail_ && holds_ == 0) RequestPool::release(this);
}

int Request::replace_body(const void *data, size_t len) {
    if (finished_) return EDDY_ESTATE;
    size_t old_len = held_body_length();
    discard_held_body();
    // An empty body (304, 412) needs no buffer: it cannot fail.
    if (len && (!pending_body() || evbuffer_add(pending_, data, len) != 0)) return EDDY_ENOMEM;
    body_written_ = body_written_ - old_len + len;
    return 0;
}

void Request::unhold() {
    holds_--;
    maybe_release();
}

void Request::pause_body() {
    if (body_paused) return;  // the pause that is running began earlier
    body_paused = true;
    body_paused_at = Loop::now();
}

void Request::reset_response() {
    if (headers_sent_ || finished_) return;
    status_ = 200;
    reason_.clear();
    // Cookies survive an error page, as in Tornado (its clear() keeps _new_cookie).
    out_headers_.keep_only("Set-Cookie");
    etag_field_set_ = false;
    etag_line_len_ = 0;
    declared_length_ = -1;
    body_written_ = 0;
    app_wants_close_ = false;
    upgrade_offered_ = false;
    if (lost_ == Lost::field) lost_ = Lost::nothing;  // a lost cookie would be missing still
    discard_held_body();
}

}  // namespace eddy::http
