// permessage-deflate codecs (RFC 7692) on zlib raw deflate: one compressor for the messages we
// send and one decompressor for those we receive, created on first use (an idle connection
// that never compresses pays nothing). Without context takeover nothing is kept between
// messages, so each is freed after its message (as Tornado makes a compressor per message):
// a deflate state is ~256 KiB, which 10,000 idle connections would otherwise hold for good.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct z_stream_s;

namespace eddy::ws {

class MessageDeflater {
public:
    // `level` and `mem_level` as zlib's deflateInit2 takes them.
    MessageDeflater(int window_bits, bool no_context_takeover, int level, int mem_level)
        : window_bits_(window_bits < 9 ? 9 : window_bits), reset_each_(no_context_takeover),
          level_(level), mem_level_(mem_level) {}
    ~MessageDeflater();
    MessageDeflater(const MessageDeflater &) = delete;
    MessageDeflater &operator=(const MessageDeflater &) = delete;
    // Compresses one whole message into `out` (without the 00 00 FF FF tail, §7.2.1). False
    // when memory ran out; the context then starts afresh with the next message, since the
    // failed one's bytes, never sent, are in its window.
    bool compress(const uint8_t *data, size_t len, std::string &out);
    // Whether zlib state is allocated now (between messages: only with context takeover).
    bool holds_state() const { return z_ != nullptr; }

private:
    bool failed();  // drops the context (see compress)

    z_stream_s *z_ = nullptr;
    int window_bits_;
    bool reset_each_;
    int level_;
    int mem_level_;
};

class MessageInflater {
public:
    MessageInflater(int window_bits, bool no_context_takeover)
        : window_bits_(window_bits), reset_each_(no_context_takeover) {}
    ~MessageInflater();
    MessageInflater(const MessageInflater &) = delete;
    MessageInflater &operator=(const MessageInflater &) = delete;
    // out_of_memory: the message cannot be decoded here (the connection must go: the stream
    // position is lost).
    enum class Result { ok, too_big, error, out_of_memory };
    // Appends the decompression of a piece of a message to `out`, refusing to let `out` grow
    // past `limit` bytes (the size limit applies after decompression).
    Result feed(const uint8_t *data, size_t len, std::string &out, size_t limit);
    // The message ended: feeds the 00 00 FF FF tail the sender stripped (unless the message
    // ended with a final block, after which the tail is no deflate data).
    Result finish(std::string &out, size_t limit);
    // Whether zlib state is allocated now (between messages: only with context takeover).
    bool holds_state() const { return z_ != nullptr; }

private:
    // A final block (BFINAL, RFC 7692 §7.2.3.4) ended the deflate stream: the next data is a
    // new stream, which with context takeover may still refer to the bytes before it.
    bool restart_after_final_block();

    z_stream_s *z_ = nullptr;
    int window_bits_;
    bool reset_each_;
    bool at_stream_end_ = false;  // nothing was fed since a final block ended the stream
    bool fed_ = false;            // the current message had compressed bytes
    // What the current message's final-block restarts cost, counted against its size limit:
    // each copies the window (up to 32 KiB) out and back in, so a message of tiny final blocks
    // would otherwise buy that much copying per 2 bytes of input, without limit.
    size_t restart_charge_ = 0;
};

}  // namespace eddy::ws
