// HeadScanner: a byte-level pass over a request head (request line + header fields) that runs
// before http-parser sees the bytes. It finds where the head ends (so the parser is fed the head
// alone and body bytes are never scanned), counts its size against the limit, and enforces the
// grammar of RFC 9112 where Debian's http-parser (built without HTTP_PARSER_STRICT) is lenient:
//  - request-line = method SP request-target SP HTTP-version, with exactly one SP each time, a
//    target of visible ASCII only, and a version of the form "HTTP/" DIGIT "." DIGIT;
//  - field names are tokens directly followed by ':' (no whitespace before the colon);
//  - no obs-fold (a field line starting with whitespace) and no bare CR.
#pragma once

#include <cstddef>

namespace eddy::http {

class HeadScanner {
public:
    enum class Result { need_more, done, error };

    // Starts a new head. `already` bytes of it (the method token) were consumed elsewhere; the
    // next byte scanned is the SP after the method.
    void reset(size_t max_bytes, size_t already);
    // Scans data[0..len). `*used` is how many bytes belong to the head (all of them unless the
    // head ends inside). On error, `*status` is 400, 414 (request target too long) or 431.
    // HTABs in the optional whitespace around a field value are rewritten to SP in place:
    // RFC 9112 §5 makes them insignificant, and http-parser would refuse "Content-Length: 3\t".
    Result scan(char *data, size_t len, size_t *used, int *status);
    size_t bytes() const { return bytes_; }

private:
    enum class State { sp1, target, version, line_end, field_name, field_value };

    size_t max_ = 0;
    size_t bytes_ = 0;
    State state_ = State::sp1;
    size_t part_len_ = 0;      // bytes of the current target / version / field name
    bool after_cr_ = false;    // the previous byte was CR: LF must follow
    bool line_start_ = false;  // at the first byte of a field line
    bool value_started_ = false;  // a non-whitespace byte of the current value was seen
};

}  // namespace eddy::http
