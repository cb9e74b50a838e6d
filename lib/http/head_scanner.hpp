// HeadScanner: a byte-level pass over a request head (request line + header fields) that runs
// before http-parser sees the bytes. It finds where the head ends (so the parser is fed the head
// alone and body bytes are never scanned), counts its size against the limit, and rejects what
// http-parser tolerates but RFC 9112 forbids a server to accept: obs-fold (a field line starting
// with whitespace) and a bare CR.
#pragma once

#include <cstddef>

namespace eddy::http {

class HeadScanner {
public:
    enum class Result { need_more, done, error };

    // Starts a new head. `already` bytes of it (the method token) were consumed elsewhere.
    void reset(size_t max_bytes, size_t already);
    // Scans data[0..len). `*used` is how many bytes belong to the head (all of them unless the
    // head ends inside). On error, `*status` is 400 or 431.
    Result scan(const char *data, size_t len, size_t *used, int *status);
    size_t bytes() const { return bytes_; }

private:
    size_t max_ = 0;
    size_t bytes_ = 0;
    size_t method_len_ = 0;
    bool line_start_ = false;    // the previous byte ended a line
    bool after_cr_ = false;      // the previous byte was CR
    bool in_request_line_ = true;
};

}  // namespace eddy::http
