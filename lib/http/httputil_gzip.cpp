// Incremental gzip decoding of request bodies (Content-Encoding: gzip) with an output cap, so
// a small compressed body cannot expand into unbounded memory ("zip bomb").
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <string>

#include "http/httputil.hpp"

namespace eddy::http {

struct GzipDecoder::State {
    z_stream zs{};
    bool initialised = false;
    bool init_out_of_memory = false;  // inflateInit2 said Z_MEM_ERROR
    bool finished = false;     // the last member's trailer was read
    bool failed = false;       // sticky: a broken stream stays broken
    Result failure = Result::error;
    size_t total_out = 0;      // bytes produced over all feeds
    size_t total_in = 0;       // bytes fed
    bool hold_requested = false;
    bool paused = false;  // stopped by the sink's hold(): resume() goes on  // the sink called
                          // hold() before returning false
    std::string held;     // input not inflated yet when the sink paused (resume())
};

GzipDecoder::GzipDecoder() : state_(std::make_unique<State>()) {
    // 16 + MAX_WBITS: gzip wrapper only. Raw deflate and zlib streams are not "gzip".
    int rc = inflateInit2(&state_->zs, 16 + MAX_WBITS);
    state_->initialised = rc == Z_OK;
    state_->init_out_of_memory = rc == Z_MEM_ERROR;
}

GzipDecoder::~GzipDecoder() {
    if (state_->initialised) inflateEnd(&state_->zs);
}

bool GzipDecoder::finished() const { return state_->finished; }

size_t GzipDecoder::bytes_fed() const { return state_->total_in; }

void GzipDecoder::hold() { state_->hold_requested = true; }

bool GzipDecoder::holding() const { return state_->paused; }

GzipDecoder::Result GzipDecoder::resume(size_t max_output, Sink sink, void *arg) {
    State &s = *state_;
    s.paused = false;
    std::string in;
    in.swap(s.held);
    // These bytes were counted when they were first fed.
    s.total_in -= in.size();
    return feed(in.data(), in.size(), max_output, sink, arg);
}

GzipDecoder::Result GzipDecoder::feed(const char *data, size_t len, size_t max_output, Sink sink,
                                      void *arg) {
    State &s = *state_;
    if (!s.initialised) return s.init_out_of_memory ? Result::out_of_memory : Result::error;
    if (s.failed) return s.failure;
    auto fail = [&s](Result r) {
        s.failed = true;
        s.failure = r;
        return r;
    };
    // The compressed bytes count too: a series of empty gzip members produces nothing and
    // would otherwise be an endless body.
    s.total_in += len;
    if (s.total_in > max_output) return fail(Result::too_big);

    unsigned char buf[kPiece];
    while (true) {
        // zlib counts input in uInt; hand it over in slices.
        if (s.zs.avail_in == 0 && len > 0) {
            uInt slice = static_cast<uInt>(std::min<size_t>(len, UINT_MAX));
            s.zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data));
            s.zs.avail_in = slice;
            data += slice;
            len -= slice;
        }
        if (s.finished) {
            if (s.zs.avail_in == 0) break;
            // More bytes after a complete member: RFC 1952 allows a series of members (what
            // `cat a.gz b.gz` makes). Start the next one; if these bytes are not a gzip
            // header, inflate reports a data error below.
            if (inflateReset(&s.zs) != Z_OK) return fail(Result::error);
            s.finished = false;
        }
        // Offer at most one byte more than the remaining allowance, so exceeding the cap is
        // detected without ever inflating (or appending) much past it.
        size_t allowance = max_output - std::min(max_output, s.total_out);
        size_t room = allowance < sizeof(buf) ? allowance + 1 : sizeof(buf);
        s.zs.next_out = buf;
        s.zs.avail_out = static_cast<uInt>(room);
        int rc = inflate(&s.zs, Z_NO_FLUSH);
        size_t produced = room - s.zs.avail_out;
        if (produced > allowance) return fail(Result::too_big);
        s.total_out += produced;
        // The member's end is recorded before the sink runs: a sink that pauses returns here
        // only through resume(), which must know the member ended.
        if (rc == Z_STREAM_END) s.finished = true;
        if (produced && !sink(arg, reinterpret_cast<const char *>(buf), produced)) {
            if (!s.hold_requested) return fail(Result::stopped);
            // Paused: the input zlib has not taken yet is kept (it belongs to the caller's
            // buffer, gone after this call); output zlib still holds stays in its state.
            s.hold_requested = false;
            s.paused = true;
            s.held.clear();
            if (s.zs.avail_in)
                s.held.append(reinterpret_cast<const char *>(s.zs.next_in), s.zs.avail_in);
            if (len) s.held.append(data, len);
            s.zs.avail_in = 0;
            return Result::paused;
        }
        if (rc == Z_STREAM_END) continue;
        bool input_done = s.zs.avail_in == 0 && len == 0;
        if (rc == Z_BUF_ERROR) {
            // No progress possible. With all input consumed that just means "feed me more";
            // we always offer output space, so anything else is a broken stream.
            if (input_done) break;
            if (s.zs.avail_in == 0) continue;
            return fail(Result::error);
        }
        if (rc == Z_MEM_ERROR) return fail(Result::out_of_memory);
        if (rc != Z_OK) return fail(Result::error);  // data or dictionary errors
        // With input used up and output not filled, zlib holds nothing more for us; a full
        // output buffer may hide pending output, so go round again.
        if (input_done && s.zs.avail_out != 0) break;
    }
    return Result::ok;
}

}  // namespace eddy::http
