// Session: one WebSocket connection on a stream after the opening handshake (Tornado's
// WebSocketProtocol13), the same for both sides. The object behind eddy_ws.
//
// Reading: frames are parsed as bytes arrive (a header may straddle reads; a payload is taken
// piece by piece, unmasked and, when compressed, inflated as it comes), data frames are
// reassembled into whole messages with control frames allowed in between, and every protocol
// rule fails the connection with its close code.
//
// Life: created by the server upgrade or the client handshake; released right after the close
// callback, which runs from the stream's close callback — so never inside a call of ours.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "eddy/websocket.h"
#include "loop/loop.hpp"
#include "util/fifo.hpp"
#include "websocket/deflate.hpp"
#include "websocket/options.hpp"
#include "websocket/protocol.hpp"

namespace eddy {
class Stream;
}

namespace eddy::ws {

struct Callbacks {
    eddy_ws_open_fn open = nullptr;
    eddy_ws_message_fn message = nullptr;
    eddy_ws_close_fn close = nullptr;
    eddy_ws_pong_fn pong = nullptr;
    eddy_ws_pong_fn ping = nullptr;
    void *userdata = nullptr;  // the route's or the connect's
    eddy_free_fn free_userdata = nullptr;  // the connect's: released with the session
};

class Session : public LoopResource {
public:
    // `deflate` is nullptr when permessage-deflate was not negotiated. Takes the stream (its
    // close callback becomes ours). Returns nullptr when out of memory (the stream is closed;
    // a session made already is released from its close callback, without callbacks). A
    // server's session whose compressor could not be made is returned, without callbacks.
    static Session *create(Stream *stream, bool client, const Options &options,
                           const Callbacks &callbacks, const DeflateParams *deflate,
                           std::string subprotocol);

    eddy_ws *as_c() { return reinterpret_cast<eddy_ws *>(this); }
    static Session *from_c(eddy_ws *w) { return reinterpret_cast<Session *>(w); }
    static const Session *from_c(const eddy_ws *w) { return reinterpret_cast<const Session *>(w); }

    // Starts the keep-alive timer, runs `open` (server side) and starts reading (bytes that
    // arrived right after the handshake are still in the stream's buffer).
    void start(bool call_open);

    int send_message(const void *data, size_t len, bool binary, eddy_ws_write_fn cb);
    int ping(const void *data, size_t len);
    int close(int code, std::string_view reason);
    size_t write_buffer_size() const;
    int set_write_mark(size_t mark, eddy_ws_drain_fn cb);
    bool closing() const { return state_ != State::open; }
    bool client() const { return client_; }
    bool compressed() const { return deflater_ != nullptr; }
    const std::string &subprotocol() const { return subprotocol_; }

    // Closes the connection without the application's callbacks (the owner goes away): a
    // close frame with 1001 follows what is queued, written as far as the socket takes it now;
    // the release hook still runs and userdata is released. A loop freed first does the same
    // (on_loop_free).
    void abandon();

    void set_userdata(void *userdata, eddy_free_fn free_userdata);
    void *userdata() const { return userdata_; }

    // Owner hooks: the server's handler; `released` runs after the close callback so the owner
    // can let go of its own state, or while the loop is freed (`loop_freed`: then without
    // running any callback of the application's, as nothing runs while a loop is freed).
    eddy_handler *handler = nullptr;
    void (*released)(Session *s, void *arg, bool loop_freed) = nullptr;
    void *released_arg = nullptr;
    Session *prev = nullptr;  // the owner's list
    Session *next = nullptr;

    void on_loop_free() override;

private:
    enum class State : uint8_t { open, closing, closed };

    Session(Stream *stream, bool client, const Options &options, const Callbacks &callbacks);
    ~Session() override;

    size_t consume(char *data, size_t len);
    bool begin_frame();
    bool take_payload(uint8_t *p, size_t n);
    bool count_message_bytes(size_t n);
    bool end_frame();
    bool end_message();
    void handle_close_frame();
    void fail(int code, std::string_view why);
    void fail_internal();
    bool queue_going_away();
    int send_frame(uint8_t opcode, bool rsv1, const uint8_t *data, size_t len,
                   eddy_ws_write_fn cb);
    int send_close_frame(int code, std::string_view reason);
    void want_read();
    bool output_backlogged();
    void start_close_timer();
    void drop(int error);
    void stream_closed();

    static size_t on_stream_data(Stream *s, const char *data, size_t len, void *arg);
    static void on_stream_close(Stream *s, int error, void *arg);
    static void on_write_done(Stream *s, int status, void *arg);
    static void on_drain(Stream *s, void *arg);
    static void on_output_sent(Stream *s, void *arg);
    static void on_ping_timer(TimerNode *node);
    static void on_pong_timer(TimerNode *node);
    static void on_close_timer(TimerNode *node);

    Stream *stream_;
    Loop *loop_;
    bool client_;
    SessionOptions options_;
    Callbacks cb_;
    std::string subprotocol_;
    std::unique_ptr<MessageDeflater> deflater_;
    std::unique_ptr<MessageInflater> inflater_;
    State state_ = State::open;

    // frame reader
    uint8_t header_buf_[kMaxFrameHeader];
    size_t header_len_ = 0;
    bool in_frame_ = false;
    bool held_for_output_ = false;  // reading waits until our queued output has been sent
    FrameHeader frame_{};
    uint64_t frame_got_ = 0;
    std::string control_;  // the current control frame's payload
    bool in_message_ = false;
    bool message_binary_ = false;
    bool message_compressed_ = false;
    std::string message_;
    MemoryShare message_memory_;  // message_'s bytes, against options_.max_message_memory
    Utf8Validator utf8_;

    // close handshake
    bool close_sent_ = false;
    bool close_received_ = false;
    int close_code_ = 0;     // the peer's close frame (when close_received_)
    int failed_code_ = 0;    // the code we failed the connection with
    std::string close_reason_;

    // writes
    Fifo<eddy_ws_write_fn> write_cbs_;  // completions in write order
    eddy_ws_drain_fn drain_cb_ = nullptr;

    TimerNode ping_timer_;
    TimerNode pong_timer_;
    TimerNode close_timer_;

    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;
    static constexpr int kCloseAbnormal = 1006;
};

}  // namespace eddy::ws
