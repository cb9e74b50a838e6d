#include "http/head_scanner.hpp"

#include "http/httputil.hpp"

namespace eddy::http {

void HeadScanner::reset(size_t max_bytes, size_t already) {
    max_ = max_bytes;
    bytes_ = already;
    state_ = State::sp1;
    part_len_ = 0;
    after_cr_ = false;
    line_start_ = false;
}

HeadScanner::Result HeadScanner::scan(char *data, size_t len, size_t *used, int *status) {
    static const char kVersion[] = "HTTP/d.d";  // 'd' stands for a digit
    size_t trailing_ws = len;  // start (in this piece) of the value's current run of OWS
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
                while (j < len && static_cast<unsigned char>(data[j]) >= 0x21 &&
                       static_cast<unsigned char>(data[j]) <= 0x7e)
                    j++;
            } else if (state_ == State::field_value && value_started_) {
                while (j < len && data[j] != '\r' && data[j] != '\n' && data[j] != ' ' &&
                       data[j] != '\t')
                    j++;
                if (j > i) trailing_ws = len;
            } else if (state_ == State::field_name) {
                while (j < len && is_tchar(static_cast<unsigned char>(data[j]))) j++;
                if (j > i) line_start_ = false;
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
                for (size_t j = trailing_ws; j < i; j++)
                    if (data[j] == '\t') data[j] = ' ';
            }
            after_cr_ = true;
            continue;
        }
        switch (state_) {
        case State::sp1:
            if (c != ' ') return fail(400);
            state_ = State::target;
            part_len_ = 0;
            continue;
        case State::target:
            if (c == ' ') {
                if (part_len_ == 0) return fail(400);  // two SPs after the method
                state_ = State::version;
                part_len_ = 0;
                continue;
            }
            if (c < 0x21 || c > 0x7e) return fail(400);  // the target is visible ASCII
            part_len_++;
            continue;
        case State::version:
            if (c == '\n') {
                if (part_len_ != 8) return fail(400);
                state_ = State::field_name;
                line_start_ = true;
                part_len_ = 0;
                continue;
            }
            if (part_len_ >= 8) return fail(400);
            if (kVersion[part_len_] == 'd' ? (c < '0' || c > '9') : c != static_cast<unsigned char>(kVersion[part_len_]))
                return fail(400);
            part_len_++;
            continue;
        case State::line_end:
        case State::field_value:
            if (c == '\n') {
                for (size_t j = trailing_ws; j < i; j++)
                    if (data[j] == '\t') data[j] = ' ';
                state_ = State::field_name;
                line_start_ = true;
                part_len_ = 0;
                trailing_ws = len;
                continue;
            }
            if (c == ' ' || c == '\t') {
                if (!value_started_) {
                    data[i] = ' ';  // leading OWS
                } else if (trailing_ws == len) {
                    trailing_ws = i;
                }
            } else {
                value_started_ = true;
                trailing_ws = len;
            }
            continue;
        case State::field_name:
            if (c == '\n') {
                if (line_start_) {  // an empty line: the head ends here
                    *used = i + 1;
                    return Result::done;
                }
                return fail(400);  // a field line without a colon
            }
            if (line_start_ && (c == ' ' || c == '\t')) return fail(400);  // obs-fold
            line_start_ = false;
            if (c == ':') {
                if (part_len_ == 0) return fail(400);
                state_ = State::field_value;
                value_started_ = false;
                trailing_ws = len;
                continue;
            }
            if (!is_tchar(c)) return fail(400);  // also refuses whitespace before the colon
            part_len_++;
            continue;
        }
    }
    *used = len;
    return Result::need_more;
}

}  // namespace eddy::http
