#include "websocket/deflate.hpp"

#include <zlib.h>

#include <new>

namespace eddy::ws {

namespace {
constexpr uint8_t kTail[4] = {0x00, 0x00, 0xFF, 0xFF};

// Frees a codec's zlib state (deflateEnd or inflateEnd first); nothing when there is none.
void release(z_stream *&z, int (*end)(z_streamp)) {
    if (!z) return;
    end(z);
    delete z;
    z = nullptr;
}
}  // namespace

MessageDeflater::~MessageDeflater() { release(z_, deflateEnd); }

// Once deflate() took some of a message that is then not sent, the peer's inflater would miss
// those bytes from its window, and later messages could refer to them: the context goes, and
// the next message starts a fresh one (what no_context_takeover does each time; valid for any
// peer, which then keeps a window we no longer refer to).
bool MessageDeflater::failed() {
    release(z_, deflateEnd);
    return false;
}

bool MessageDeflater::compress(const uint8_t *data, size_t len, std::string &out) {
    if (!z_) {
        z_ = new (std::nothrow) z_stream{};
        if (!z_) return false;
        // Raw deflate (negative window bits), as RFC 7692 wants.
        if (deflateInit2(z_, level_, Z_DEFLATED, -window_bits_, mem_level_, Z_DEFAULT_STRATEGY) !=
            Z_OK) {
            delete z_;
            z_ = nullptr;
            return false;
        }
    }
    out.clear();
    z_->next_in = const_cast<Bytef *>(data);
    z_->avail_in = static_cast<uInt>(len);
    size_t bound = deflateBound(z_, static_cast<uLong>(len)) + 16;
    try {
        out.resize(bound);
    } catch (...) {
        return false;
    }
    size_t produced = 0;
    for (;;) {
        z_->next_out = reinterpret_cast<Bytef *>(&out[produced]);
        z_->avail_out = static_cast<uInt>(out.size() - produced);
        int rc = deflate(z_, Z_SYNC_FLUSH);
        produced = out.size() - z_->avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) return failed();
        if (z_->avail_in == 0 && z_->avail_out > 0) break;
        try {
            out.resize(out.size() * 2);
        } catch (...) {
            return failed();
        }
    }
    out.resize(produced);
    if (out.size() >= 4 && out.compare(out.size() - 4, 4, reinterpret_cast<const char *>(kTail), 4) == 0)
        out.resize(out.size() - 4);
    if (out.empty()) out.push_back('\0');  // an empty deflate block (§7.2.3.6)
    if (reset_each_) release(z_, deflateEnd);
    return true;
}

MessageInflater::~MessageInflater() { release(z_, inflateEnd); }

MessageInflater::Result MessageInflater::feed(const uint8_t *data, size_t len, std::string &out,
                                              size_t limit) {
    if (!z_) {
        z_ = new (std::nothrow) z_stream{};
        if (!z_) return Result::out_of_memory;
        if (inflateInit2(z_, -window_bits_) != Z_OK) {  // Z_MEM_ERROR: nothing else can fail
            delete z_;
            z_ = nullptr;
            return Result::out_of_memory;
        }
    }
    z_->next_in = const_cast<Bytef *>(data);
    z_->avail_in = static_cast<uInt>(len);
    if (len == 0) return Result::ok;
    fed_ = true;
    // Inflated into a small buffer and appended: growing `out` before each inflate call would
    // zero-fill a whole chunk every time, which costs more than the data when frames are small
    // (a compressed message in 256-byte fragments).
    unsigned char chunk[16384];
    for (;;) {
        z_->next_out = chunk;
        z_->avail_out = sizeof chunk;
        at_stream_end_ = false;
        int rc = inflate(z_, Z_SYNC_FLUSH);
        size_t produced = sizeof chunk - z_->avail_out;
        size_t used = out.size() + restart_charge_;
        size_t room = limit >= used ? limit - used : 0;
        if (produced > room) return Result::too_big;
        try {
            out.append(reinterpret_cast<const char *>(chunk), produced);
        } catch (...) {
            return Result::out_of_memory;
        }
        if (rc == Z_STREAM_END) {
            if (!restart_after_final_block()) return Result::out_of_memory;
            if (restart_charge_ > limit) return Result::too_big;
            if (z_->avail_in == 0) break;
            continue;
        }
        if (rc == Z_MEM_ERROR) return Result::out_of_memory;
        if (rc != Z_OK && rc != Z_BUF_ERROR) return Result::error;
        // inflate stops when the input is used up or the output is full: room left means the
        // former.
        if (z_->avail_out > 0) break;
    }
    return Result::ok;
}

bool MessageInflater::restart_after_final_block() {
    // The sender began a new stream; without no_context_takeover it may keep its window
    // (deflateSetDictionary), so the new stream starts with ours. A sender that did not
    // keep it never refers back, and the dictionary is then unused.
    unsigned char *window = nullptr;
    uInt window_len = 0;
    if (!reset_each_) {
        window = new (std::nothrow) unsigned char[1u << window_bits_];
        if (!window || inflateGetDictionary(z_, window, &window_len) != Z_OK) {
            delete[] window;
            return false;
        }
    }
    bool ok = inflateReset(z_) == Z_OK &&
              (window_len == 0 || inflateSetDictionary(z_, window, window_len) == Z_OK);
    delete[] window;
    at_stream_end_ = true;
    // The bytes copied twice, plus the reset: what this restart cost (see restart_charge_).
    restart_charge_ += 2 * static_cast<size_t>(window_len) + 64;
    return ok;
}

MessageInflater::Result MessageInflater::finish(std::string &out, size_t limit) {
    // After a final block the 4 tail bytes would start a bogus stored block in the next
    // stream: they are not fed.
    bool had_data = fed_;
    // An empty payload is an empty message: feeding the tail alone would leave the inflater
    // inside a stored block's header and break the next message of the context.
    Result r = at_stream_end_ || !had_data ? Result::ok : feed(kTail, sizeof kTail, out, limit);
    // The tail is the empty stored block of the sender's sync flush (RFC 7692 7.2.2): after it
    // a whole message leaves the inflater between blocks (zlib's data_type bit 128). A message
    // cut short, or padded with bytes that are not deflate data, leaves it inside a block: its
    // last bytes would otherwise vanish silently, and the next message would not inflate.
    // (An empty payload is an empty message, which some senders produce for "".)
    if (r == Result::ok && had_data && !at_stream_end_ && !(z_->data_type & 128))
        r = Result::error;
    at_stream_end_ = false;
    fed_ = false;
    restart_charge_ = 0;
    if (r == Result::ok && reset_each_) release(z_, inflateEnd);
    return r;
}

}  // namespace eddy::ws
