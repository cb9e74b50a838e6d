// HeadScanner: the one pass over a request head (request line + header fields). It finds where
// the head ends (body bytes are never scanned), counts its size against the limit, enforces the
// grammar of RFC 9112 where Debian's http-parser (built without HTTP_PARSER_STRICT) is lenient,
// and hands out the parts as it goes — so the head is walked once, not once here and once more
// by http-parser (which then only counts Content-Length bodies; see Connection):
//  - request-line = method SP request-target SP HTTP-version, with exactly one SP each time, a
//    target of visible ASCII only, and a version of the form "HTTP/" DIGIT "." DIGIT;
//  - field names are tokens directly followed by ':' (no whitespace before the colon);
//  - no obs-fold (a field line starting with whitespace), and lines end with CRLF: a bare CR or
//    a bare LF is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eddy::http {

struct HeaderField;

class HeadScanner {
public:
    enum class Result { need_more, done, error };

    // Starts a new head. `already` bytes of it (the method token) were consumed elsewhere; the
    // next byte scanned is the SP after the method. The request target is appended to `target`
    // and each field line to a new entry of `fields`; values keep their surrounding OWS (the
    // caller trims them once the head is complete: a value may arrive in several pieces).
    // More than `max_fields` field lines is an error (431) like more than `max_bytes` bytes.
    void reset(size_t max_bytes, size_t already, std::string *target,
               std::vector<HeaderField> *fields, size_t max_fields = SIZE_MAX);
    // Scans data[0..len). `*used` is how many bytes belong to the head (all of them unless the
    // head ends inside). On error, `*status` is 400, 414 (request target too long) or 431
    // (too many bytes or field lines).
    Result scan(const char *data, size_t len, size_t *used, int *status);
    size_t bytes() const { return bytes_; }
    // The digits of "HTTP/x.y", valid once the request line was scanned.
    int version_major() const { return version_major_; }
    int version_minor() const { return version_minor_; }

private:
    enum class State { sp1, target, version, field_name, field_value };

    // The common case at the cost of a straight walk: the whole head is in the first piece and
    // in its plainest form (CRLF line ends, no limit reached). True when it was taken whole;
    // false leaves target and fields as they were, and the state machine starts over.
    bool scan_whole(const char *data, size_t len, size_t *used);
    void append_open_part(const char *p, size_t n);

    std::string *target_ = nullptr;
    std::vector<HeaderField> *fields_ = nullptr;
    size_t max_ = 0;
    size_t max_fields_ = SIZE_MAX;
    size_t bytes_ = 0;
    State state_ = State::sp1;
    size_t part_len_ = 0;      // bytes of the current target / version / field name
    bool after_cr_ = false;    // the previous byte was CR: LF must follow
    bool line_start_ = false;  // at the first byte of a field line
    bool part_open_ = false;   // bytes of the target / a name / a value are being collected
    bool value_started_ = false;  // a byte other than OWS of the current value was seen
    bool fresh_ = false;          // nothing of this head was scanned yet
    unsigned char version_major_ = 0;
    unsigned char version_minor_ = 0;
};

}  // namespace eddy::http
