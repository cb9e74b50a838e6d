#include "http/head_scanner.hpp"

namespace eddy::http {

void HeadScanner::reset(size_t max_bytes, size_t already) {
    max_ = max_bytes;
    bytes_ = already;
    method_len_ = already;
    line_start_ = false;
    after_cr_ = false;
    in_request_line_ = true;
}

HeadScanner::Result HeadScanner::scan(const char *data, size_t len, size_t *used, int *status) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = static_cast<unsigned char>(data[i]);
        bytes_++;
        if (bytes_ > max_) {
            *used = i;
            *status = 431;
            return Result::error;
        }
        if (after_cr_) {
            after_cr_ = false;
            if (c != '\n') {  // a CR must end a line
                *used = i;
                *status = 400;
                return Result::error;
            }
        } else if (c == '\r') {
            after_cr_ = true;
            continue;
        }
        if (c == '\n') {
            if (line_start_) {  // an empty line: the head ends here
                *used = i + 1;
                return Result::done;
            }
            line_start_ = true;
            in_request_line_ = false;
            continue;
        }
        // The request line has exactly one SP after the method (RFC 9112 §3): the byte after
        // it (our second byte) starts the target.
        if (in_request_line_ && bytes_ == method_len_ + 2 && (c == ' ' || c == '\t')) {
            *used = i;
            *status = 400;
            return Result::error;
        }
        if (line_start_) {
            line_start_ = false;
            // obs-fold (RFC 9112 §5.2): a server must reject it or replace it; we reject.
            if (c == ' ' || c == '\t') {
                *used = i;
                *status = 400;
                return Result::error;
            }
        }
    }
    *used = len;
    return Result::need_more;
}

}  // namespace eddy::http
