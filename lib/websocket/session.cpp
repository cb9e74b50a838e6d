#include "websocket/session.hpp"

#include <sys/random.h>

#include <cstdint>
#include <cstring>
#include <new>

#include "stream/stream.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"

namespace eddy::ws {

namespace {

// Masking keys must be unpredictable to the page a browser runs (RFC 6455 §10.3); they come
// from the kernel's CSPRNG, fetched 256 bytes at a time.
void random_mask(uint8_t mask[4]) {
    thread_local uint8_t pool[256];
    thread_local size_t left = 0;
    if (left < 4) {
        ssize_t n = getrandom(pool, sizeof pool, 0);
        if (n < static_cast<ssize_t>(sizeof pool)) {
            // Practically never; still never send a constant mask.
            for (size_t i = 0; i < sizeof pool; i++) pool[i] ^= static_cast<uint8_t>(rand());
        }
        left = sizeof pool;
    }
    left -= 4;
    memcpy(mask, pool + left, 4);
}

// A message buffer over this is released after delivery: a connection that goes idle after a
// large message would otherwise hold its size until it closes (it was 64 KiB: an idle
// connection then cost up to 25 times its ~2.6 KB). Allocating anew costs little next to
// reading and copying a message of this size (echoes of 4 KB and 16 KB messages: within 2%,
// bench/README.md).
constexpr size_t kKeepMessageCapacity = 1024;

}  // namespace

Session *Session::create(Stream *stream, bool client, const Options &options,
                         const Callbacks &callbacks, const DeflateParams *deflate,
                         std::string subprotocol) {
    // new (std::nothrow) covers the object's bytes, not the options it copies.
    Session *s = no_throw("websocket: new session", nullptr, [&] {
        return new (std::nothrow) Session(stream, client, options, callbacks);
    });
    if (!s) {
        stream->close(EDDY_ENOMEM);
        return nullptr;
    }
    s->subprotocol_ = std::move(subprotocol);
    if (deflate) {
        // Our direction's parameters: the server compresses with server_*, the client with
        // client_*; each inflates the other's.
        int out_bits = client ? deflate->client_max_window_bits : deflate->server_max_window_bits;
        bool out_reset = client ? deflate->client_no_context_takeover
                                : deflate->server_no_context_takeover;
        int in_bits = client ? deflate->server_max_window_bits : deflate->client_max_window_bits;
        bool in_reset = client ? deflate->server_no_context_takeover
                               : deflate->client_no_context_takeover;
        s->deflater_.reset(new (std::nothrow) MessageDeflater(
            out_bits, out_reset, options.compression_level, options.compression_mem_level));
        s->inflater_.reset(new (std::nothrow) MessageInflater(in_bits, in_reset));
        if (!s->deflater_ || !s->inflater_) {
            s->cb_.open = nullptr, s->cb_.message = nullptr, s->cb_.close = nullptr;
            stream->close(EDDY_ENOMEM);
            // A client's connect then fails with EDDY_ENOMEM, its userdata released by the
            // caller: not a connect reported made whose close never comes.
            if (client) {
                s->cb_.free_userdata = nullptr;
                return nullptr;
            }
            return s;  // released from the stream's close callback
        }
    }
    return s;
}

Session::Session(Stream *stream, bool client, const Options &options, const Callbacks &callbacks)
    : stream_(stream), loop_(stream->loop()), client_(client), options_(options), cb_(callbacks) {
    ping_timer_.fire = on_ping_timer;
    ping_timer_.owner = this;
    pong_timer_.fire = on_pong_timer;
    pong_timer_.owner = this;
    close_timer_.fire = on_close_timer;
    close_timer_.owner = this;
    if (!cb_.pong) cb_.pong = options.on_pong;
    if (!cb_.ping) cb_.ping = options.on_ping;
    stream_->set_close_callback(on_stream_close, this);
    loop_->add_resource(this);
}

Session::~Session() {
    loop_->timer_stop(&ping_timer_);
    loop_->timer_stop(&pong_timer_);
    loop_->timer_stop(&close_timer_);
    loop_->remove_resource(this);
    if (free_userdata_) free_userdata_(userdata_);
    if (cb_.free_userdata) cb_.free_userdata(cb_.userdata);
}

void Session::on_loop_free() {
    // The loop frees resources newest first, so our stream (made before us) is still there: a
    // session still open queues its 1001 in it, and the stream's own on_loop_free hands it to
    // the socket before closing. No callbacks now.
    queue_going_away();
    stream_ = nullptr;
    if (released) released(this, released_arg, true);
    delete this;
}

void Session::set_userdata(void *userdata, eddy_free_fn free_userdata) {
    if (free_userdata_ && userdata_ != userdata) free_userdata_(userdata_);
    userdata_ = userdata;
    free_userdata_ = free_userdata;
}

void Session::start(bool call_open) {
    if (state_ != State::open || !stream_ || stream_->closed()) return;
    // Out of memory here, the application still hears of the open, then of the close (1011):
    // start's callers have handed the session on and cannot undo it.
    bool ok = ran_without_exception("websocket: start", [&] {
        if (options_.ping_interval > 0)
            loop_->timer_start(&ping_timer_, Loop::now() + options_.ping_interval);
    });
    if (call_open && cb_.open) cb_.open(as_c(), cb_.userdata);
    if (!ok || !ran_without_exception("websocket: start reading", [&] { want_read(); }))
        fail_internal();
}

void Session::want_read() {
    if (stream_ && !stream_->closed() && !stream_->reading() && !held_for_output_)
        stream_->read_some(on_stream_data, this);
}

// A peer that sends faster than it reads (an echo it never reads, a flood of pings) would make
// us queue replies without end. Past max_queued_output, the next frame waits until everything
// queued has been sent: its bytes stay in the stream, which stops reading the socket, and TCP
// flow control holds the peer.
bool Session::output_backlogged() {
    if (held_for_output_) return true;
    if (!options_.max_queued_output || stream_->write_buffer_size() <= options_.max_queued_output)
        return false;
    held_for_output_ = stream_->notify_when_sent(on_output_sent, this) == 1;
    return held_for_output_;
}

void Session::on_output_sent(Stream *, void *arg) {
    Session *s = static_cast<Session *>(arg);
    s->held_for_output_ = false;
    if (s->state_ != State::closed) s->want_read();
}

// ---- reading ---------------------------------------------------------------------------------

size_t Session::on_stream_data(Stream *, const char *data, size_t len, void *arg) {
    // The bytes are our stream's buffer: unmasking and inflating work on them in place.
    Session *s = static_cast<Session *>(arg);
    size_t used = len;
    if (!ran_without_exception("websocket: reading",
                               [&] { used = s->consume(const_cast<char *>(data), len); }))
        s->fail_internal();
    return used;
}

// Memory ran out assembling a message (or a control frame, or the close reason): where the
// frame reader stood is lost, so the connection goes, with 1011 if a close frame still fits.
void Session::fail_internal() {
    if (!ran_without_exception("websocket: closing with 1011",
                               [&] { fail(kCloseInternalError, "out of memory"); }))
        drop(EDDY_ENOMEM);
}

size_t Session::consume(char *data, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        if (state_ == State::closed || close_received_) return len;  // nothing more to read
        if (!in_frame_) {
            if (output_backlogged()) return pos;  // the rest waits in the stream
            // Collect the header in our own buffer: it may straddle reads.
            size_t take = len - pos;
            if (take > kMaxFrameHeader - header_len_) take = kMaxFrameHeader - header_len_;
            memcpy(header_buf_ + header_len_, data + pos, take);
            int code = 0;
            ParseResult r = parse_frame_header(header_buf_, header_len_ + take, frame_, code);
            if (r == ParseResult::need_more) {
                header_len_ += take;
                pos += take;
                continue;
            }
            if (r == ParseResult::error) {
                fail(code, "bad frame header");
                return len;
            }
            pos += frame_.header_size - header_len_;
            header_len_ = 0;
            in_frame_ = true;
            frame_got_ = 0;
            if (!begin_frame()) return len;
            if (frame_.length == 0 && !end_frame()) return len;
            continue;
        }
        uint64_t want = frame_.length - frame_got_;
        size_t n = want < len - pos ? static_cast<size_t>(want) : len - pos;
        uint8_t *p = reinterpret_cast<uint8_t *>(data + pos);
        if (frame_.masked) apply_mask(p, n, frame_.mask, static_cast<size_t>(frame_got_));
        frame_got_ += n;
        pos += n;
        if (!take_payload(p, n)) return len;
        if (frame_got_ == frame_.length && !end_frame()) return len;
    }
    if (state_ != State::closed) want_read();
    return len;
}

// Checks a frame's header against the connection's state; false when the connection failed.
bool Session::begin_frame() {
    const FrameHeader &h = frame_;
    // Clients mask, servers don't (RFC 6455 §5.1): both directions are enforced.
    if (h.masked == client_) {
        fail(kCloseProtocolError, client_ ? "masked frame from the server" : "unmasked frame");
        return false;
    }
    if (!rsv_allowed(h, inflater_ != nullptr)) {
        fail(kCloseProtocolError, "reserved bits set");
        return false;
    }
    if (h.opcode >= 0x8) {  // control: the parser already checked FIN and the 125-byte limit
        control_.clear();
        return true;
    }
    if (h.opcode == kOpContinuation) {
        if (!in_message_) {
            fail(kCloseProtocolError, "continuation without a message");
            return false;
        }
    } else {
        if (in_message_) {
            fail(kCloseProtocolError, "new message inside a fragmented one");
            return false;
        }
        in_message_ = true;
        message_binary_ = h.opcode == kOpBinary;
        message_compressed_ = h.rsv1;
        message_.clear();
        utf8_.reset();
    }
    if (!message_compressed_ && message_.size() + h.length > options_.max_message_size) {
        fail(kCloseTooBig, "message too big");
        return false;
    }
    return true;
}

// A piece of the current frame's (unmasked) payload; false when the connection failed.
bool Session::take_payload(uint8_t *p, size_t n) {
    if (frame_.opcode >= 0x8) {
        control_.append(reinterpret_cast<char *>(p), n);
        return true;
    }
    size_t before = message_.size();
    if (message_compressed_) {
        MessageInflater::Result r = inflater_->feed(p, n, message_, options_.max_message_size);
        if (r == MessageInflater::Result::too_big) {
            fail(kCloseTooBig, "message too big");
            return false;
        }
        if (r == MessageInflater::Result::error) {
            fail(kCloseInvalidData, "bad compressed data");
            return false;
        }
        if (r == MessageInflater::Result::out_of_memory) {
            fail(kCloseInternalError, "out of memory inflating a message");
            return false;
        }
        if (!count_message_bytes(message_.size() - before)) return false;
    } else {
        if (!count_message_bytes(n)) return false;
        message_.append(reinterpret_cast<char *>(p), n);
    }
    if (!message_binary_ &&
        !utf8_.feed(reinterpret_cast<const uint8_t *>(message_.data()) + before,
                    message_.size() - before)) {
        fail(kCloseInvalidData, "invalid UTF-8 in a text message");
        return false;
    }
    return true;
}

// Counts `n` more bytes of the message being received against what every session of these
// options may hold together; over it, the session closes with 1013 (Try Again Later).
bool Session::count_message_bytes(size_t n) {
    if (message_memory_.take(options_.message_budget.get(), options_.max_message_memory, n))
        return true;
    log(LogLevel::warning,
        "websocket: fd %d: message refused: the sessions hold %zu bytes of messages being "
        "received, max_message_memory is %zu",
        stream_ ? stream_->fd() : -1, options_.message_budget.get()->held(),
        options_.max_message_memory);
    fail(kCloseTryAgainLater, "over max_message_memory");
    return false;
}

bool Session::end_frame() {
    in_frame_ = false;
    switch (frame_.opcode) {
    case kOpClose:
        handle_close_frame();
        return false;  // nothing after a close frame is read
    case kOpPing:
        // RFC 6455 §5.5.2: a ping gets its pong unless the peer's close came first (nothing is
        // read after it) — after our own close too, while we wait for the peer's; but not
        // once we failed the connection (§7.1.7: its bytes are no longer processed).
        if (!failed_code_)
            send_frame(kOpPong, false, reinterpret_cast<const uint8_t *>(control_.data()),
                       control_.size(), nullptr);
        // The application hears of the ping after its pong is queued (Tornado's order), and
        // only while the connection is open, as with on_pong.
        if (cb_.ping && state_ == State::open)
            cb_.ping(as_c(), control_.data(), control_.size(), cb_.userdata);
        return state_ != State::closed;
    case kOpPong:
        loop_->timer_stop(&pong_timer_);
        if (cb_.pong && state_ == State::open)
            cb_.pong(as_c(), control_.data(), control_.size(), cb_.userdata);
        return state_ != State::closed;
    default:
        break;
    }
    if (!frame_.fin) return true;
    return end_message();
}

bool Session::end_message() {
    in_message_ = false;
    if (message_compressed_) {
        size_t before = message_.size();
        MessageInflater::Result r = inflater_->finish(message_, options_.max_message_size);
        if (r == MessageInflater::Result::out_of_memory) {
            fail(kCloseInternalError, "out of memory inflating a message");
            return false;
        }
        if (r != MessageInflater::Result::ok) {
            fail(r == MessageInflater::Result::too_big ? kCloseTooBig : kCloseInvalidData,
                 "bad compressed message");
            return false;
        }
        if (!message_binary_ &&
            !utf8_.feed(reinterpret_cast<const uint8_t *>(message_.data()) + before,
                        message_.size() - before)) {
            fail(kCloseInvalidData, "invalid UTF-8 in a text message");
            return false;
        }
    }
    if (!message_binary_ && !utf8_.complete()) {
        fail(kCloseInvalidData, "text message ends inside a character");
        return false;
    }
    // Messages that arrive after we started closing are dropped (Tornado does the same).
    if (state_ == State::open && cb_.message) {
        cb_.message(as_c(), message_.c_str(), message_.size(), message_binary_ ? 1 : 0,
                    cb_.userdata);
    }
    if (message_.capacity() > kKeepMessageCapacity) {
        std::string().swap(message_);
    } else {
        message_.clear();
    }
    message_memory_.reset();
    return state_ != State::closed && !close_received_;
}

void Session::handle_close_frame() {
    int code = 0;
    std::string reason;
    if (!parse_close_payload(reinterpret_cast<const uint8_t *>(control_.data()), control_.size(),
                             code, reason)) {
        fail(code, "bad close frame");
        return;
    }
    close_received_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (!close_sent_) {
        // Echo the code (RFC 6455 §5.5.1); "no status" is echoed as an empty close frame.
        send_close_frame(code, {});
        close_sent_ = true;
    }
    state_ = State::closing;
    loop_->timer_stop(&ping_timer_);
    loop_->timer_stop(&pong_timer_);
    if (!stream_ || stream_->closed()) return;
    if (client_) {
        // The server closes TCP first (§7.1.1); we wait for that, but not forever.
        start_close_timer();
        want_read();
    } else {
        stream_->close_after_flush(options_.close_timeout);
        // The linger above starts once our close frame is out; a peer that stops reading
        // would hold it (and what is queued) forever. The close timeout bounds the flush too.
        start_close_timer();
    }
}

// _Fail the WebSocket Connection_ (§7.1.7): a close frame with the reason code if we can still
// send one, then the TCP connection goes.
void Session::fail(int code, std::string_view why) {
    if (state_ == State::closed) return;
    log(LogLevel::info, "websocket: fd %d: closing with %d: %.*s", stream_ ? stream_->fd() : -1,
        code, static_cast<int>(why.size()), why.data());
    if (!close_sent_ && stream_ && !stream_->closed()) {
        send_close_frame(code, {});
        close_sent_ = true;
    }
    failed_code_ = code;
    state_ = State::closing;
    // No message is delivered after a failure: its bytes go now, not when the close handshake
    // ends (a session refused over max_message_memory would keep holding what it counted).
    std::string().swap(message_);
    message_memory_.reset();
    loop_->timer_stop(&ping_timer_);
    loop_->timer_stop(&pong_timer_);
    if (stream_) stream_->close_after_flush(options_.close_timeout);
    start_close_timer();  // the flush as well: see handle_close_frame()
}

void Session::start_close_timer() {
    if (options_.close_timeout > 0)
        loop_->timer_start(&close_timer_, Loop::now() + options_.close_timeout);
}

void Session::drop(int error) {
    state_ = State::closing;
    if (stream_ && !stream_->closed()) stream_->close(error);
}

void Session::on_close_timer(TimerNode *node) {
    Session *s = static_cast<Session *>(node->owner);
    if (s->close_received_)  // we answered the peer's close: it did not take it, or leave, in time
        log(LogLevel::info, "websocket: the peer did not take our close or end TCP in time; "
            "dropping the connection");
    else
        log(LogLevel::info, "websocket: close handshake timed out; dropping the connection");
    s->drop(EDDY_ETIMEDOUT);
}

void Session::on_ping_timer(TimerNode *node) {
    Session *s = static_cast<Session *>(node->owner);
    if (s->state_ != State::open) return;
    s->send_frame(kOpPing, false, nullptr, 0, nullptr);
    if (!s->pong_timer_.queued()) {
        double timeout = s->options_.ping_timeout > 0 ? s->options_.ping_timeout
                                                      : s->options_.ping_interval;
        s->loop_->timer_start(&s->pong_timer_, Loop::now() + timeout);
    }
    s->loop_->timer_start(&s->ping_timer_, Loop::now() + s->options_.ping_interval);
}

void Session::on_pong_timer(TimerNode *node) {
    Session *s = static_cast<Session *>(node->owner);
    log(LogLevel::info, "websocket: no pong within the ping timeout; dropping the connection");
    s->drop(EDDY_ETIMEDOUT);
}

// ---- writing ---------------------------------------------------------------------------------

// A frame is queued whole or not at all: a header without its payload would corrupt the
// stream for good. So the completion's slots come first and the frame is built in one reserved
// piece of the output buffer; when memory runs out nothing was queued and the session goes on.
int Session::send_frame(uint8_t opcode, bool rsv1, const uint8_t *data, size_t len,
                        eddy_ws_write_fn cb) {
    // (write_failed(): the stream only delivers its last input before it closes, and would drop
    // the frame without calling back.)
    if (!stream_ || stream_->closed() || stream_->write_failed()) return EDDY_ECLOSED;
    evbuffer *out = stream_->output();
    if (!out) return EDDY_ENOMEM;
    if (cb) {
        // Both completion slots first, the stream's and ours: nothing queued if either fails.
        if (!stream_->room_for_completion()) return EDDY_ENOMEM;
        try {
            write_cbs_.push_back(cb);
        } catch (...) {
            return EDDY_ENOMEM;
        }
    }
    uint8_t header[kMaxFrameHeader];
    uint8_t mask[4];
    if (client_) random_mask(mask);
    size_t hlen = encode_frame_header(header, true, rsv1, opcode, len, client_ ? mask : nullptr);
    evbuffer_iovec vec;
    if (len > SIZE_MAX / 2 ||
        evbuffer_reserve_space(out, static_cast<ev_ssize_t>(hlen + len), &vec, 1) != 1) {
        if (cb) write_cbs_.pop_back();
        return EDDY_ENOMEM;
    }
    uint8_t *p = static_cast<uint8_t *>(vec.iov_base);
    memcpy(p, header, hlen);
    if (len) {
        memcpy(p + hlen, data, len);
        if (client_) apply_mask(p + hlen, len, mask, 0);
    }
    vec.iov_len = hlen + len;
    if (evbuffer_commit_space(out, &vec, 1) != 0) {  // only for a vector we did not reserve
        if (cb) write_cbs_.pop_back();
        return EDDY_ENOMEM;
    }
    stream_->commit_output(cb ? on_write_done : nullptr, cb ? this : nullptr);  // room made above
    return 0;
}

// A close frame with `code` (kCloseNoStatus: an empty one) and `reason`. Returns what
// send_frame returns; throws std::bad_alloc when its payload cannot be built.
int Session::send_close_frame(int code, std::string_view reason) {
    std::string payload = make_close_payload(code, reason);
    return send_frame(kOpClose, false, reinterpret_cast<const uint8_t *>(payload.data()),
                      payload.size(), nullptr);
}

void Session::on_write_done(Stream *, int status, void *arg) {
    Session *s = static_cast<Session *>(arg);
    if (s->write_cbs_.empty()) return;
    eddy_ws_write_fn cb = s->write_cbs_.front();
    s->write_cbs_.pop_front();
    cb(s->as_c(), status, s->cb_.userdata);
}

int Session::send_message(const void *data, size_t len, bool binary, eddy_ws_write_fn cb) {
    if (state_ != State::open) return EDDY_ECLOSED;
    if (len && !data) return EDDY_EINVAL;
    const uint8_t *bytes = static_cast<const uint8_t *>(data);
    if (!binary && !is_valid_utf8(bytes, len)) return EDDY_EINVAL;
    uint8_t opcode = binary ? kOpBinary : kOpText;
    if (deflater_) {
        std::string packed;
        if (!deflater_->compress(bytes, len, packed)) return EDDY_ENOMEM;
        return send_frame(opcode, true, reinterpret_cast<const uint8_t *>(packed.data()),
                          packed.size(), cb);
    }
    return send_frame(opcode, false, bytes, len, cb);
}

int Session::ping(const void *data, size_t len) {
    if (state_ != State::open) return EDDY_ECLOSED;
    if (len > kMaxControlPayload || (len && !data)) return EDDY_EINVAL;
    return send_frame(kOpPing, false, static_cast<const uint8_t *>(data), len, nullptr);
}

int Session::close(int code, std::string_view reason) {
    if (state_ != State::open) return EDDY_ECLOSED;
    if (code == 0) {
        if (!reason.empty()) return EDDY_EINVAL;  // a reason needs a code (§5.5.1)
        code = kCloseNoStatus;
    } else if (!valid_close_code(code)) {
        return EDDY_EINVAL;
    }
    if (reason.size() > kMaxControlPayload - 2 ||
        !is_valid_utf8(reinterpret_cast<const uint8_t *>(reason.data()), reason.size()))
        return EDDY_EINVAL;
    int rc =
        no_throw("websocket: close", EDDY_ENOMEM, [&] { return send_close_frame(code, reason); });
    if (rc == EDDY_ENOMEM) {
        // No memory for the close frame: the connection goes without one (the peer sees
        // 1006), which is what closing asked for, rather than staying open.
        log(LogLevel::error, "websocket: out of memory for a close frame; dropping the connection");
        drop(EDDY_ENOMEM);
        return EDDY_ENOMEM;
    }
    if (rc != 0) return rc;
    close_sent_ = true;
    state_ = State::closing;
    loop_->timer_stop(&ping_timer_);
    loop_->timer_stop(&pong_timer_);
    start_close_timer();  // the peer's close frame (and the TCP close) must come in time
    want_read();
    return 0;
}

size_t Session::write_buffer_size() const {
    return stream_ && !stream_->closed() ? stream_->write_buffer_size() : 0;
}

int Session::set_write_mark(size_t mark, eddy_ws_drain_fn cb) {
    if (!stream_ || stream_->closed() || state_ == State::closed) return EDDY_ECLOSED;
    int rc = stream_->set_write_mark(mark, cb ? on_drain : nullptr, this);
    if (rc == 0) drain_cb_ = cb;
    return rc;
}

void Session::on_drain(Stream *, void *arg) {
    Session *s = static_cast<Session *>(arg);
    if (s->drain_cb_ && s->state_ != State::closed) s->drain_cb_(s->as_c(), s->cb_.userdata);
}

// ---- the end ---------------------------------------------------------------------------------

void Session::abandon() {
    cb_.open = nullptr, cb_.message = nullptr, cb_.close = nullptr, cb_.pong = nullptr;
    cb_.ping = nullptr;
    drain_cb_ = nullptr;
    write_cbs_.clear();
    if (!queue_going_away()) return;
    // Handed to the socket now, since nobody will run the loop for us. No waiting for the
    // answer: we are going away.
    stream_->close_after_last_write(0);
}

// The peer learns why (1001, RFC 6455 §7.4.1: "a server going down") instead of seeing the
// connection vanish (1006): a close frame after what is queued. A session already closing (our
// close frame queued, or failed) gets no second one. False when the stream is gone.
bool Session::queue_going_away() {
    bool was_open = state_ == State::open;
    if (was_open) state_ = State::closing;
    if (!stream_ || stream_->closed()) return false;
    if (was_open && !close_sent_) {
        close_sent_ = no_throw("websocket: going away", EDDY_ENOMEM,
                               [&] { return send_close_frame(kCloseGoingAway, {}); }) == 0;
    }
    return true;
}

void Session::on_stream_close(Stream *, int, void *arg) {
    static_cast<Session *>(arg)->stream_closed();
}

void Session::stream_closed() {
    // Pending write completions already ran (the stream fails them before this callback).
    stream_ = nullptr;
    state_ = State::closed;
    // The peer's close frame; else the code we failed the connection with; else the TCP
    // connection went without a close handshake (1006).
    if (!close_received_) {
        close_code_ = failed_code_ ? failed_code_ : kCloseAbnormal;
        close_reason_.clear();
    }
    if (cb_.close)
        cb_.close(as_c(), close_code_, close_reason_.c_str(), close_reason_.size(), cb_.userdata);
    if (released) released(this, released_arg, false);
    delete this;
}

}  // namespace eddy::ws
