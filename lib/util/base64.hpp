// base64: the standard alphabet with '=' padding and no line breaks (RFC 4648 §4), as HTTP
// uses it — Basic credentials (RFC 7617), Sec-WebSocket-Key/-Accept (RFC 6455), Tornado's
// signed cookie values. One encoder and one strict decoder for all of them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eddy {

// Appends the encoding of `in` to `out`. Throws std::bad_alloc like any string append.
void base64_append(std::string &out, const void *in, size_t len);
inline void base64_append(std::string &out, std::string_view in) {
    base64_append(out, in.data(), in.size());
}

// Whether `c` is one of the 64 characters (not '=').
bool is_base64_char(char c);

// Strict decoding into `out` (replaced): length a multiple of 4, only alphabet characters, '='
// only as the last one or two. False on anything else — whitespace, base64url, a missing pad.
// (Python's non-validating b64decode skips stray characters; what we decode is either
// protected by a signature or must be exact.)
bool base64_decode(std::string_view in, std::string &out);

}  // namespace eddy
