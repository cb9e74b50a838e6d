// ChunkScanner: validates a chunked request body (RFC 9112 §7.1) byte by byte before
// http-parser decodes it. Debian's http-parser is built without HTTP_PARSER_STRICT and accepts
// junk after a chunk size ("3 x"), extensions without a name ("2;") and control characters in
// extensions; lenient chunk framing is a classic request-smuggling vector, so eddy checks the
// grammar itself: chunk-size [chunk-ext] CRLF data CRLF ... last-chunk trailer-section CRLF,
// with CRLF (not a bare LF) ending every framing line, and trailer field lines that are
// well-formed (token name, no obs-fold, no control characters).
#pragma once

#include <cstddef>
#include <cstdint>

namespace eddy::http {

class ChunkScanner {
public:
    enum class Result { need_more, done, error };

    void reset(size_t max_trailer_bytes);
    // Scans data[0..len). `*used` is how many bytes belong to the body (all unless it ends
    // inside). On error `*status` is 400 (or 431 for an oversized trailer section).
    Result scan(const char *data, size_t len, size_t *used, int *status);

private:
    enum class State {
        size, after_size, ext_name_start, ext_name, ext_after_name, ext_value_start, ext_token,
        ext_quoted, ext_quoted_escape, ext_after_value, line_lf, data, data_cr, data_lf,
        trailer_start, trailer_name, trailer_value, trailer_lf, end_lf, done
    };

    State state_ = State::size;
    State after_lf_ = State::data;  // where a size line's LF leads
    uint64_t size_ = 0;
    bool has_digit_ = false;  // the size line has a hex digit so far
    uint64_t remaining_ = 0;
    bool bws_ = false;  // whitespace was just skipped in a size line: ';' or '=' must follow
    size_t trailer_bytes_ = 0;
    size_t max_trailer_ = 0;
};

}  // namespace eddy::http
