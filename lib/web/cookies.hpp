// Cookies, signed values and XSRF tokens for the web layer: pure helpers (no I/O) whose formats
// match Tornado 6 (tornado/web.py, tornado/httputil.py), so cookies can be shared with a Tornado
// deployment during a migration. Unit tests: tests/unit/test_cookies.cpp; cross-checked against
// the real Tornado by tests/integration/test_tornado_cookies.py.
//
// Byte strings throughout: secrets, names and values are taken as given (Tornado encodes its
// str arguments as UTF-8 first, so pass UTF-8 to get the same bytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::web {

// ---- Cookie request header -------------------------------------------------------------------

using CookieList = std::vector<std::pair<std::string, std::string>>;

// Parses a Cookie request header the lenient way Tornado does (httputil.parse_cookie, i.e.
// browser/Django behaviour rather than the RFCs): split on ';', split each piece at its first
// '=', trim ASCII whitespace around name and value, and unquote a value that is wrapped in
// double quotes (backslash escapes: \ooo octal and \c resolved, as Python's http.cookies does).
// Pieces are appended to `out` in header order. Skipped, as Tornado's request.cookies skips
// them: pieces without '=' or with an empty name, and names with characters outside tchar
// plus ':' (what Python's SimpleCookie accepts). Unlike Python, names that are cookie attribute
// words ("path", "expires", ...) are kept.
void parse_cookie_header(std::string_view header, CookieList &out);

// The value of the FIRST cookie called `name` in `cookies`, or nullptr. Browsers send the most
// specific cookie (longest path) first. Note: Tornado's dict keeps the LAST duplicate instead.
const std::string *find_cookie(const CookieList &cookies, std::string_view name);

// ---- Set-Cookie response header --------------------------------------------------------------

struct CookieAttributes {
    std::string_view domain;      // "" = no Domain attribute
    std::string_view path = "/";  // "" = no Path attribute (Tornado's default is "/")
    double expires = 0;           // Unix time for Expires (IMF-fixdate); 0 = none
    long max_age = -1;            // seconds for Max-Age; < 0 = none
    bool secure = false;
    bool httponly = false;
    std::string_view samesite;    // "" or Strict / Lax / None (any case; emitted canonically)
};

// Builds a Set-Cookie header value:
//   name=value; Domain=d; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=n; Path=/; Secure;
//   HttpOnly; SameSite=Lax
// (absent attributes left out). Returns false, leaving `out` untouched, when `name` is not an
// RFC 9110 token, `value` is not an RFC 6265 cookie-value (cookie-octets — no CTLs, space, '"',
// ',', ';', '\\' or non-ASCII — optionally wrapped in one pair of double quotes), domain or path
// contain ';' or control characters, samesite is not one of the three words, or expires is NaN.
// Tornado refuses [\x00-\x20] in name and value and quotes the rest Python-style; we refuse
// everything that would need quoting (signed values and XSRF tokens never do). Expires is
// floored to whole seconds and clamped to years 1970..9999.
bool format_set_cookie(std::string_view name, std::string_view value,
                       const CookieAttributes &attrs, std::string &out);

// ---- Signed values (set_secure_cookie / get_secure_cookie) -----------------------------------

// Tornado's create_signed_value(secret, name, value, version=2) at `timestamp` (Unix seconds):
//   2|1:0|<n>:<timestamp>|<n>:<name>|<n>:<base64(value)>|<hex HMAC-SHA256 of all before it>
// Key version 0 (Tornado's single-secret form).
std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, int64_t timestamp);

// Tornado's decode_signed_value: verifies `signed_value` for cookie `name` and stores the
// decoded value in `out`. Reads version 2 (any key version; the signature is checked with
// `secret`) and version 1 ("b64value|timestamp|hex HMAC-SHA1(name+b64value+timestamp)"),
// unless `min_version` is 2. Fails on a bad signature (compared in constant time), a different
// name, a timestamp older than now - max_age_days * 86400, a malformed value or bad base64.
// Like Tornado, version 2 accepts future timestamps while version 1 refuses timestamps more
// than 31 days ahead or with leading zeros (its signature does not delimit the fields).
bool decode_signed_value(std::string_view secret, std::string_view name,
                         std::string_view signed_value, double max_age_days, double now,
                         std::string &out, int min_version = 1);

// ---- XSRF tokens -----------------------------------------------------------------------------

inline constexpr size_t kXsrfTokenBytes = 16;

// A new raw token: 16 random bytes (OpenSSL RAND_bytes). False if the RNG fails.
bool xsrf_new_raw_token(std::string &raw);

// Encodes `raw` in Tornado's version-2 form "2|<mask hex>|<masked token hex>|<timestamp>" with
// a fresh random 4-byte mask (token XOR repeated mask). This is both the _xsrf cookie value and
// the per-request form/header token: each call gives a different string (BREACH mitigation)
// that decodes to the same raw token. False if the RNG fails.
bool xsrf_encode_token(std::string_view raw, int64_t timestamp, std::string &out);

// Decodes a token or cookie as Tornado's _decode_xsrf_token does. Version 2 as above (mask must
// be 4 bytes, timestamp a decimal integer); any other "<n>|..." version is refused; anything
// else is version 1: the hex-decoded bytes, or the string itself if it is not valid hex.
// `timestamp` (optional) gets the v2 timestamp, or 0 for v1. Returns false when malformed.
bool xsrf_decode_token(std::string_view token, std::string &raw, int64_t *timestamp = nullptr);

// Tornado's check_xsrf_cookie comparison: true when `submitted` (form field _xsrf or the
// X-XSRFToken / X-CSRFToken header) and `cookie_value` (the _xsrf cookie) both decode to the
// same non-empty raw token (compared in constant time).
bool check_xsrf(std::string_view submitted, std::string_view cookie_value);

// ---- reverse_url -----------------------------------------------------------------------------

// Percent-encodes one reverse_url argument as Tornado does (url_escape(arg, plus=False), i.e.
// urllib.parse.quote with its default safe="/"): every byte except ALPHA DIGIT "-._~" and '/'
// becomes %XX (upper-case hex). With `encode_slash`, '/' is encoded too (a strict path segment).
std::string percent_encode_path_segment(std::string_view s, bool encode_slash = false);

}  // namespace eddy::web
