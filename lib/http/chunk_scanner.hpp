// ChunkScanner: decodes a chunked request body (RFC 9112 §7.1) byte by byte, checking the
// grammar as it goes: chunk-size [chunk-ext] CRLF data CRLF ... last-chunk trailer-section
// CRLF, with CRLF (not a bare LF) ending every framing line, BWS (spaces and tabs) where
// chunk-ext allows it, and trailer field lines that are well-formed (token name, no obs-fold,
// no control characters) and otherwise ignored (RFC 9110 §6.5.1: never merged into the header
// section). Lenient chunk framing is a classic request-smuggling vector, and http-parser's is
// both too lenient (junk after a size, "2;") and too strict (a tab before ';', a trailer
// Content-Length it validates as if it framed the message), so eddy decodes chunks itself.
#pragma once

#include <cstddef>
#include <cstdint>

namespace eddy::http {

class ChunkScanner {
public:
    enum class Result { need_more, done, error };
    // Receives each piece of chunk data as it is scanned; false stops the scan right after it.
    using DataFn = bool (*)(void *ctx, const char *data, size_t len);

    // `max_line_bytes` bounds a chunk-size line (extensions included) and the trailer section.
    void reset(size_t max_line_bytes);
    // Scans data[0..len). `*used` is how many bytes belong to the body (all unless it ends
    // inside, or on_data stopped the scan: then need_more, with `*used` just past that piece).
    // On error `*status` is 400 (or 431 for an oversized trailer section).
    Result scan(const char *data, size_t len, size_t *used, int *status,
                DataFn on_data = nullptr, void *ctx = nullptr);

    // Data bytes the chunk-size lines scanned so far announce (the current chunk's included):
    // a body limit refuses a chunk once its size line is read, before its data.
    uint64_t declared_bytes() const { return declared_; }
    // The fewest bytes that can still complete the body (0 once done): the rest of the chunk
    // being read and the smallest ending after it ("\r\n0\r\n\r\n"); elsewhere at least one.
    // A lower bound, for telling a body that can no longer complete (its sender half-closed).
    uint64_t min_bytes_to_end() const;

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
    uint64_t declared_ = 0;
    bool bws_ = false;  // whitespace was just skipped in a size line: ';' or '=' must follow
    size_t line_bytes_ = 0;     // of the current size line
    size_t trailer_bytes_ = 0;
    size_t max_line_ = 0;
};

}  // namespace eddy::http
