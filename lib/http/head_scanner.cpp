#include "http/head_scanner.hpp"

#include <cstdint>
#include <cstring>

#include "http/httputil.hpp"
#include "http/request.hpp"
#include "util/swar.hpp"

namespace eddy::http {

namespace {

// Bytes that may appear inside a field value: field-vchar, SP, HTAB and obs-text
// (RFC 9110 §5.5) — every byte but the other controls, DEL, and CR/LF which end the line.
struct ValueByteTable {
    bool member[256];
    constexpr ValueByteTable() : member() {
        for (int c = 0; c < 256; c++) member[c] = (c >= 0x20 && c != 0x7f) || c == '\t';
    }
};
constexpr ValueByteTable kValueByte;

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Eight bytes at a time (util/swar.hpp): whether a word may hold a byte that ends a run. Exact
// when they say no; a yes only sends the scan back to the byte loop, which decides.
// A target byte is visible ASCII, 0x21..0x7e.
inline bool maybe_ends_target(uint64_t w) {
    return has_byte_below(w, 0x21) || (((w + kSwarOnes) | w) & kSwarHighs) != 0;
}

// Where a run of target bytes starting at data[j] ends (at most len).
inline size_t target_run_end(const char *data, size_t j, size_t len) {
    while (j + 8 <= len && !maybe_ends_target(load8(data + j))) j += 8;
    while (j < len && static_cast<unsigned char>(data[j]) >= 0x21 &&
           static_cast<unsigned char>(data[j]) <= 0x7e)
        j++;
    return j;
}

// A value byte is anything but the controls (HTAB included: the byte loop admits it) and DEL.
// The bytes of a word that may end a value run, as the high bit of each: those below 0x20 and
// DEL. The lowest one flagged is exact: SWAR's false positives come from a borrow, which only
// a real match below them makes.
inline uint64_t value_end_bytes(uint64_t w) {
    uint64_t del = w ^ (kSwarOnes * 0x7f);
    return ((w - kSwarOnes * 0x20) & ~w & kSwarHighs) | ((del - kSwarOnes) & ~del & kSwarHighs);
}

// Where a run of field-value bytes starting at data[j] ends (at most len).
inline size_t value_run_end(const char *data, size_t j, size_t len) {
    while (j + 8 <= len) {
        uint64_t flagged = value_end_bytes(load8(data + j));
        if (flagged) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            // Straight to the first flagged byte (the ones before it are value bytes) rather
            // than byte by byte: the value's last word is nearly always a partial one (the CR).
            j += static_cast<size_t>(__builtin_ctzll(flagged)) / 8;
#endif
            break;
        }
        j += 8;
    }
    while (j < len && kValueByte.member[static_cast<unsigned char>(data[j])]) j++;
    return j;
}

}  // namespace

void HeadScanner::reset(size_t max_bytes, size_t already, std::string *target,
                        std::vector<HeaderField> *fields, size_t max_fields) {
    target_ = target;
    fields_ = fields;
    version_major_ = version_minor_ = 0;
    max_ = max_bytes;
    max_fields_ = max_fields;
    bytes_ = already;
    state_ = State::sp1;
    part_len_ = 0;
    after_cr_ = false;
    line_start_ = false;
    part_open_ = false;
    value_started_ = false;
    fresh_ = true;
}

bool HeadScanner::scan_whole(const char *data, size_t len, size_t *used) {
    // SP request-target SP: the target is visible ASCII, at least one byte.
    if (len < 12 || data[0] != ' ') return false;
    size_t j = target_run_end(data, 1, len);
    if (j == 1 || len - j < 11 || data[j] != ' ') return false;
    const char *v = data + j + 1;  // "HTTP/" DIGIT "." DIGIT CRLF
    if (memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]) ||
        v[8] != '\r' || v[9] != '\n')
        return false;
    size_t target_at = target_->size(), fields_at = fields_->size();
    target_->append(data + 1, j - 1);
    size_t p = j + 11;
    // Field lines: token ":" OWS value CRLF, until the empty line.
    for (;;) {
        if (len - p < 2) break;
        if (data[p] == '\r') {
            if (data[p + 1] != '\n' || bytes_ + p + 2 > max_) break;
            *used = p + 2;
            bytes_ += p + 2;
            version_major_ = static_cast<unsigned char>(v[5] - '0');
            version_minor_ = static_cast<unsigned char>(v[7] - '0');
            return true;
        }
        size_t q = p;
        while (q < len && is_tchar(static_cast<unsigned char>(data[q]))) q++;
        if (q == p || q == len || data[q] != ':') break;
        size_t value = q + 1;
        while (value < len && (data[value] == ' ' || data[value] == '\t')) value++;
        size_t end = value_run_end(data, value, len);
        if (len - end < 2 || data[end] != '\r' || data[end + 1] != '\n') break;
        if (fields_->size() == max_fields_) break;  // the state machine says 431
        if (fields_->empty()) fields_->reserve(8);  // room for a typical head at once
        HeaderField &field = fields_->emplace_back();
        field.name.assign(data + p, q - p);
        field.value.assign(data + value, end - value);
        p = end + 2;
    }
    // Not the plain case (or not all here): undo, and let the state machine decide.
    target_->resize(target_at);
    fields_->resize(fields_at);
    return false;
}

void HeadScanner::append_open_part(const char *p, size_t n) {
    if (n == 0) return;
    switch (state_) {
    case State::target: target_->append(p, n); break;
    case State::field_name: fields_->back().name.append(p, n); break;
    case State::field_value: fields_->back().value.append(p, n); break;
    default: break;
    }
}

HeadScanner::Result HeadScanner::scan(const char *data, size_t len, size_t *used, int *status) {
    static const char kVersion[] = "HTTP/d.d";  // 'd' stands for a digit
    if (fresh_) {
        fresh_ = false;
        if (scan_whole(data, len, used)) return Result::done;
    }
    size_t mark = 0;  // where the open part's bytes start in this piece
    for (size_t i = 0; i < len; i++) {
        auto fail = [&](int code) {
            *used = i;
            *status = code;
            return Result::error;
        };
        // Fast path: skip a run of ordinary bytes of the current part in a tight loop; the
        // byte that ends the run goes through the state machine below.
        if (!after_cr_) {
            size_t j = i;
            if (state_ == State::target) {
                j = target_run_end(data, j, len);
            } else if (state_ == State::field_value) {
                if (!value_started_) {
                    // Leading OWS is not part of the value (RFC 9112 §5): leaving it out here
                    // keeps short values (a Host with its port) in the string's inline buffer.
                    while (j < len && (data[j] == ' ' || data[j] == '\t')) j++;
                    mark = j;
                    value_started_ = j < len;
                }
                j = value_run_end(data, j, len);
            } else if (state_ == State::version && part_len_ == 0 && len - i >= 8 &&
                       memcmp(data + i, "HTTP/", 5) == 0 && is_digit(data[i + 5]) &&
                       data[i + 6] == '.' && is_digit(data[i + 7])) {
                // The whole version in one piece (nearly always): no byte-by-byte walk.
                version_major_ = static_cast<unsigned char>(data[i + 5] - '0');
                version_minor_ = static_cast<unsigned char>(data[i + 7] - '0');
                j = i + 8;
            } else if (state_ == State::field_name) {
                while (j < len && is_tchar(static_cast<unsigned char>(data[j]))) j++;
                if (j > i && line_start_) {  // a new field line
                    // Each field costs ~60 bytes of strings however short its line: 64 KiB
                    // of "a:" lines took 830 KiB per connection before this limit.
                    if (fields_->size() == max_fields_) return fail(431);
                    line_start_ = false;
                    // Room for a typical head at once, instead of growing 1, 2, 4, 8.
                    if (fields_->empty()) fields_->reserve(8);
                    fields_->emplace_back();
                    part_open_ = true;
                    mark = i;
                }
            }
            if (j > i) {
                size_t run = j - i;
                if (bytes_ + run > max_) {
                    i += max_ - bytes_;
                    return fail(state_ == State::target ? 414 : 431);
                }
                bytes_ += run;
                if (state_ != State::field_value) part_len_ += run;
                i = j;
                if (i == len) break;
            }
        }
        unsigned char c = static_cast<unsigned char>(data[i]);
        bytes_++;
        if (bytes_ > max_) {
            // A target that alone overflows the limit is "URI Too Long" (RFC 9112 §3).
            return fail(state_ == State::target || state_ == State::sp1 ? 414 : 431);
        }
        if (after_cr_) {  // a CR must end a line
            after_cr_ = false;
            if (c != '\n') return fail(400);
        } else if (c == '\r') {
            if (state_ == State::target || state_ == State::sp1) return fail(400);
            if (state_ == State::version && part_len_ != 8) return fail(400);
            if (state_ == State::field_name && !line_start_) return fail(400);
            if (state_ == State::field_value) {
                append_open_part(data + mark, i - mark);
                part_open_ = false;
            }
            after_cr_ = true;
            continue;
        } else if (c == '\n') {
            // A bare LF. RFC 9112 §2.2 lets a recipient take it as a line end (a MAY), but a
            // proxy in front that does not would read these bytes as other fields than we do:
            // the ambiguity request smuggling lives on. Refused (llhttp does too).
            return fail(400);
        }
        switch (state_) {
        case State::sp1:
            if (c != ' ') return fail(400);
            state_ = State::target;
            part_len_ = 0;
            part_open_ = true;
            mark = i + 1;
            continue;
        case State::target:
            if (c == ' ') {
                if (part_len_ == 0) return fail(400);  // two SPs after the method
                append_open_part(data + mark, i - mark);
                part_open_ = false;
                state_ = State::version;
                part_len_ = 0;
                continue;
            }
            return fail(400);  // the target is visible ASCII (the fast path took the rest)
        case State::version:
            if (c == '\n') {
                if (part_len_ != 8) return fail(400);
                state_ = State::field_name;
                line_start_ = true;
                part_len_ = 0;
                continue;
            }
            if (part_len_ >= 8) return fail(400);
            if (kVersion[part_len_] == 'd') {
                if (c < '0' || c > '9') return fail(400);
                (part_len_ == 5 ? version_major_ : version_minor_) = static_cast<unsigned char>(c - '0');
            } else if (c != static_cast<unsigned char>(kVersion[part_len_])) {
                return fail(400);
            }
            part_len_++;
            continue;
        case State::field_value:
            if (c == '\n') {  // after CR (a bare LF was refused above)
                if (part_open_) append_open_part(data + mark, i - mark);
                part_open_ = false;
                state_ = State::field_name;
                line_start_ = true;
                part_len_ = 0;
                continue;
            }
            return fail(400);  // a control character in the value
        case State::field_name:
            if (c == '\n') {
                if (line_start_) {  // an empty line: the head ends here
                    *used = i + 1;
                    return Result::done;
                }
                return fail(400);  // a field line without a colon
            }
            if (line_start_) return fail(400);  // obs-fold, or a line starting with a non-token
            if (c == ':') {
                if (part_len_ == 0) return fail(400);
                append_open_part(data + mark, i - mark);
                state_ = State::field_value;
                value_started_ = false;
                mark = i + 1;
                continue;
            }
            return fail(400);  // not a tchar: also refuses whitespace before the colon
        }
    }
    if (part_open_) append_open_part(data + mark, len - mark);
    *used = len;
    return Result::need_more;
}

}  // namespace eddy::http
