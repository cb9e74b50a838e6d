#include "http/chunk_scanner.hpp"

#include "http/httputil.hpp"

namespace eddy::http {

namespace {
int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
bool is_ws(unsigned char c) { return c == ' ' || c == '\t'; }
// qdtext and the escapable octets of quoted-pair (RFC 9110 §5.6.4), obs-text included.
bool is_qdtext(unsigned char c) {
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}
}  // namespace

void ChunkScanner::reset(size_t max_line_bytes) {
    state_ = State::size;
    size_ = 0;
    has_digit_ = false;
    remaining_ = 0;
    declared_ = 0;
    bws_ = false;
    line_bytes_ = 0;
    trailer_bytes_ = 0;
    max_line_ = max_line_bytes;
}

ChunkScanner::Result ChunkScanner::scan(const char *data, size_t len, size_t *used, int *status,
                                        DataFn on_data, void *ctx) {
    size_t i = 0;
    auto fail = [&](int code) {
        *used = i;
        *status = code;
        return Result::error;
    };
    // The end of a size line: CR then LF, then data (or trailers after the last chunk).
    auto end_size_line = [&]() {
        after_lf_ = size_ == 0 ? State::trailer_start : State::data;
        remaining_ = size_;
        declared_ = size_ > UINT64_MAX - declared_ ? UINT64_MAX : declared_ + size_;  // saturates
        state_ = State::line_lf;
    };
    for (; i < len; i++) {
        unsigned char c = static_cast<unsigned char>(data[i]);
        // A size line, extensions included, is bounded like a header section: an endless one
        // would otherwise hold the connection for nothing.
        if (state_ < State::line_lf && ++line_bytes_ > max_line_) return fail(400);
        switch (state_) {
        case State::size: {
            int v = hex_value(c);
            if (v < 0) {
                if (!has_digit_) return fail(400);
                state_ = State::after_size;
                bws_ = false;
                i--;  // look at this byte again
                continue;
            }
            // A 17th significant digit would overflow 64 bits; leading zeros are just 1*HEXDIG.
            if (size_ >> 60) return fail(400);
            size_ = size_ * 16 + static_cast<uint64_t>(v);
            has_digit_ = true;
            continue;
        }
        case State::after_size:
        case State::ext_after_name:
        case State::ext_after_value:
            // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ) (RFC 9112 §7.1.1):
            // whitespace only before ';' or '=', never at the end of the line.
            if (is_ws(c)) {
                bws_ = true;
                continue;
            }
            if (c == ';') {
                state_ = State::ext_name_start;
            } else if (c == '\r' && !bws_) {
                end_size_line();
            } else if (c == '=' && state_ == State::ext_after_name) {
                state_ = State::ext_value_start;
            } else {
                return fail(400);
            }
            continue;
        case State::ext_name_start:
            if (is_ws(c)) continue;
            if (!is_tchar(c)) return fail(400);
            state_ = State::ext_name;
            continue;
        case State::ext_name:
            if (is_tchar(c)) continue;
            if (c == '=') {
                state_ = State::ext_value_start;
            } else if (is_ws(c)) {
                state_ = State::ext_after_name;
                bws_ = true;
            } else if (c == ';') {
                state_ = State::ext_name_start;
            } else if (c == '\r') {
                end_size_line();
            } else {
                return fail(400);
            }
            continue;
        case State::ext_value_start:
            if (is_ws(c)) continue;
            if (c == '"') {
                state_ = State::ext_quoted;
            } else if (is_tchar(c)) {
                state_ = State::ext_token;
            } else {
                return fail(400);
            }
            continue;
        case State::ext_token:
            if (is_tchar(c)) continue;
            if (is_ws(c)) {
                state_ = State::ext_after_value;
                bws_ = true;
            } else if (c == ';') {
                state_ = State::ext_name_start;
            } else if (c == '\r') {
                end_size_line();
            } else {
                return fail(400);
            }
            continue;
        case State::ext_quoted:
            if (c == '"') {
                state_ = State::ext_after_value;
                bws_ = false;
            } else if (c == '\\') {
                state_ = State::ext_quoted_escape;
            } else if (!is_qdtext(c)) {
                return fail(400);
            }
            continue;
        case State::ext_quoted_escape:
            if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) return fail(400);
            state_ = State::ext_quoted;
            continue;
        case State::line_lf:
            if (c != '\n') return fail(400);
            state_ = after_lf_;
            line_bytes_ = 0;
            continue;
        case State::data: {
            uint64_t take = len - i;
            if (take > remaining_) take = remaining_;
            remaining_ -= take;
            if (remaining_ == 0) state_ = State::data_cr;
            if (on_data && !on_data(ctx, data + i, static_cast<size_t>(take))) {
                *used = i + static_cast<size_t>(take);
                return Result::need_more;
            }
            i += static_cast<size_t>(take) - 1;
            continue;
        }
        case State::data_cr:
            if (c != '\r') return fail(400);
            state_ = State::data_lf;
            continue;
        case State::data_lf:
            if (c != '\n') return fail(400);
            state_ = State::size;
            size_ = 0;
            has_digit_ = false;
            continue;
        case State::trailer_start:
            if (++trailer_bytes_ > max_line_) return fail(431);
            if (c == '\r') {
                state_ = State::end_lf;
            } else if (is_tchar(c)) {
                state_ = State::trailer_name;
            } else {
                return fail(400);  // obs-fold, a bare LF, or junk
            }
            continue;
        case State::trailer_name:
            if (++trailer_bytes_ > max_line_) return fail(431);
            if (c == ':') {
                state_ = State::trailer_value;
            } else if (!is_tchar(c)) {
                return fail(400);
            }
            continue;
        case State::trailer_value:
            if (++trailer_bytes_ > max_line_) return fail(431);
            if (c == '\r') {
                state_ = State::trailer_lf;
            } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return fail(400);
            }
            continue;
        case State::trailer_lf:
            if (c != '\n') return fail(400);
            if (++trailer_bytes_ > max_line_) return fail(431);  // every byte of the section
            state_ = State::trailer_start;
            continue;
        case State::end_lf:
            if (c != '\n') return fail(400);
            state_ = State::done;
            *used = i + 1;
            return Result::done;
        case State::done:
            *used = i;
            return Result::done;
        }
    }
    *used = len;
    return state_ == State::done ? Result::done : Result::need_more;
}

uint64_t ChunkScanner::min_bytes_to_end() const {
    constexpr uint64_t kLastChunk = 5;  // "0\r\n\r\n"
    switch (state_) {
    case State::done: return 0;
    case State::data: return remaining_ > UINT64_MAX - 7 ? UINT64_MAX : remaining_ + 2 + kLastChunk;
    case State::data_cr: return 1 + 1 + kLastChunk;
    case State::data_lf: return 1 + kLastChunk;
    default: return 1;
    }
}

}  // namespace eddy::http
