// HTTP helpers with no I/O: grammar checks (RFC 9110/9112), percent-decoding, query and form
// parsing, multipart/form-data, Host validation, token lists, dates, reason phrases, gzip
// request-body decoding, JSON string escaping. Everything here is pure and unit-tested on its
// own (tests/unit/test_httputil.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::http {

// ---- grammar ---------------------------------------------------------------------------------

namespace detail {
// 256-entry character classes, built at compile time: the parsers test a class per byte, so
// this is a table lookup rather than a strchr.
struct CharClass {
    bool member[256];
};
constexpr CharClass make_class(std::string_view extra, bool alnum) {
    CharClass t{};
    for (int c = 0; c < 256; c++)
        t.member[c] = alnum && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    for (char c : extra) t.member[static_cast<unsigned char>(c)] = true;
    return t;
}
inline constexpr CharClass kTchar = make_class("!#$%&'*+-.^_`|~", true);
// RFC 3986 unreserved / sub-delims (a reg-name's characters besides pct-encoded).
inline constexpr CharClass kRegName = make_class("-._~!$&'()*+,;=", true);
}  // namespace detail

// tchar per RFC 9110 §5.6.2: "!#$%&'*+-.^_`|~" DIGIT ALPHA.
inline bool is_tchar(unsigned char c) { return detail::kTchar.member[c]; }
// A non-empty token (header names, methods, transfer codings).
bool is_token(std::string_view s);
// A Content-Length value (RFC 9110 §8.6): 1*DIGIT and nothing else — no sign, list or
// whitespace; leading zeros allowed. False also for a value over 2^64 - 1, which no integer
// here can hold (§8.6: such numerals must not overflow into a wrong length). A value that fits
// may still be far beyond what can be counted or sent: callers bound it (body limits).
bool parse_content_length(std::string_view value, uint64_t *out);
// A field value a server may emit: no control character but HTAB, no DEL (obs-text passes).
// Used to refuse header injection.
bool is_safe_field_value(std::string_view s);
// A reason phrase per RFC 9112: HTAB / SP / VCHAR / obs-text, and (like Tornado) no '<'.
bool is_valid_reason(std::string_view s);

// a == `literal` (case-sensitive, e.g. a method): the constant-length comparison is expanded
// inline by the compiler, where std::string's operator== calls memcmp.
template <size_t N>
inline bool equals_literal(std::string_view a, const char (&literal)[N]) {
    return a.size() == N - 1 && memcmp(a.data(), literal, N - 1) == 0;
}

// The first and the last sizeof(Word) bytes of a and b (n >= sizeof(Word); they overlap when
// n < 2 * sizeof(Word)) are the same.
template <typename Word>
inline bool same_end_words(const char *a, const char *b, size_t n) {
    Word a0, a1, b0, b1;
    memcpy(&a0, a, sizeof a0);
    memcpy(&a1, a + n - sizeof a1, sizeof a1);
    memcpy(&b0, b, sizeof b0);
    memcpy(&b1, b + n - sizeof b1, sizeof b1);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

// a == b for strings of the same length `n`: up to 16 bytes as two overlapping words (no
// memcmp call for the short keys routes and header names are), longer ones with memcmp.
inline bool same_bytes(const char *a, const char *b, size_t n) {
    if (n > 16) return memcmp(a, b, n) == 0;
    if (n >= 8) return same_end_words<uint64_t>(a, b, n);
    if (n >= 4) return same_end_words<uint32_t>(a, b, n);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

// Case-insensitive ASCII comparison.
// (Inline: header lookups call it for every field of every request. Eight bytes are compared
// at a time first — names usually arrive in the case they are looked up with — the last word
// overlapping the one before it, and only a differing word is compared letter by letter, so
// the result stays exact for any bytes.)
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    auto same_letters = [&](size_t from, size_t to) {
        for (size_t j = from; j < to; j++)
            if (lower(a[j]) != lower(b[j])) return false;
        return true;
    };
    size_t n = a.size();
    if (n < 8) {
        if (n >= 4 && same_end_words<uint32_t>(a.data(), b.data(), n)) return true;
        return same_letters(0, n);
    }
    for (size_t i = 0;; i += 8) {
        size_t at = i + 8 <= n ? i : n - 8;  // the last word may overlap the one before
        uint64_t x, y;
        memcpy(&x, a.data() + at, 8);
        memcpy(&y, b.data() + at, 8);
        if (x != y && !same_letters(at, at + 8)) return false;
        if (at + 8 == n) return true;
    }
}

// Splits a comma-separated list header value (Connection, Transfer-Encoding, Expect) into its
// members, trimming SP/HTAB and dropping empty members; members keep their case.
std::vector<std::string_view> split_list(std::string_view value);
// True when the comma-separated list `value` contains `token` (case-insensitive).
bool list_contains(std::string_view value, std::string_view token);

// True when an Accept-Encoding value accepts `coding` (RFC 9110 §12.5.3): listed with a
// non-zero weight ("gzip", "gzip;q=0.5"), or covered by "*" with a non-zero weight; "q=0"
// refuses it.
bool accepts_coding(std::string_view accept_encoding, std::string_view coding);
// True when a Content-Encoding value is gzip: "gzip" or, equivalently, "x-gzip" (RFC 9110
// §8.4.1.3), in any case.
inline bool is_gzip_coding(std::string_view coding) {
    return iequals(coding, "gzip") || iequals(coding, "x-gzip");
}

// ---- Host ------------------------------------------------------------------------------------

// Validates a Host header value per RFC 9110 §7.2 / RFC 3986 authority without userinfo:
// uri-host [ ":" port ] where uri-host is IP-literal ("[" IPv6 "]"), IPv4, or reg-name
// (unreserved / pct-encoded / sub-delims), and port is digits (may be empty). An empty value is
// valid syntax (RFC allows it when the URI has no authority). Returns true if valid.
bool is_valid_host(std::string_view host);
// The uri-host of a valid Host value: without its port; an IP-literal keeps its brackets.
std::string_view host_without_port(std::string_view host);
// RFC 3986 userinfo: *( unreserved / pct-encoded / sub-delims / ":" ).
bool is_userinfo(std::string_view s);
// The path of an origin-form request-target (its bytes already visible ASCII, no '#'):
// false when a '%' does not start a pct-encoded octet (RFC 3986 §2.1: "%zz", "50%") or a byte
// RFC 3986 has no place for appears: '"' '<' '>' '\' '`' '{' '}'. (Browsers percent-encode
// all of these in a path; '|' '^' '[' ']', which some send as they are, pass.) The query is
// not held to RFC 3986 this way: it carries data that programs and users put in as typed
// (http.client and curl send '"' or '{' raw, "?q=100%" is common), and decoding keeps what is
// malformed as it is.
bool is_valid_target_path(std::string_view path);

// ---- URL pieces ------------------------------------------------------------------------------

// Percent-decodes `in`. With `plus_as_space`, '+' becomes ' ' (form encoding). Returns false
// on a malformed escape ("%", "%G1") — Tornado leaves those as they are; we report them so the
// caller can answer 400 where it matters. `out` is cleared first.
bool percent_decode(std::string_view in, std::string &out, bool plus_as_space);

// True when `s` is valid UTF-8 (no overlongs, no surrogates, max U+10FFFF).
bool is_valid_utf8(std::string_view s);

// One name/value argument, decoded.
struct Argument {
    std::string name;
    std::string value;
};

// Parses application/x-www-form-urlencoded data (a query string or a body) into `out`,
// appending in order and keeping blank values ("a=&b" → a="", b=""). Pairs whose escapes are
// malformed are decoded leniently (the bad '%' kept literally), as browsers and Tornado do.
// Returns false, having appended `max_pairs`, when `data` holds more pairs than that.
bool parse_urlencoded(std::string_view data, std::vector<Argument> &out,
                      size_t max_pairs = SIZE_MAX);

// ---- Content-Type ----------------------------------------------------------------------------

// Splits "type/subtype; a=b; c=\"d\"" into the lower-cased media type and parameters (names
// lower-cased, quoted values unquoted with backslash escapes resolved).
struct MediaType {
    std::string type;  // e.g. "multipart/form-data"
    std::vector<std::pair<std::string, std::string>> params;
    // Returns the value of parameter `name` (lower-case) or nullptr.
    const std::string *param(std::string_view name) const;
};
bool parse_media_type(std::string_view value, MediaType &out);
// The same split for any "value; k=v" header (Content-Disposition: form-data; name="x"): the
// leading value is lower-cased and trimmed but need not contain '/'. Parameters without '='
// are skipped; only \\ and \" are unescaped in quoted values (see the .cpp). Returns false
// when the leading value is empty.
bool parse_header_params(std::string_view value, MediaType &out);

// ---- multipart/form-data ---------------------------------------------------------------------

struct UploadedFile {
    std::string field;         // the form field name
    std::string filename;      // as sent by the client (not sanitised)
    std::string content_type;  // "application/octet-stream" when absent
    // A view into the multipart body that was parsed (Request::body, which outlives it): an
    // upload is held once, not twice.
    std::string_view body;
};

struct MultipartLimits {
    size_t max_parts = 100;             // Tornado 6.5's limits
    size_t max_part_header_bytes = 10 * 1024;
};

// Parses a complete multipart/form-data body with `boundary`. Parts with a filename go to
// `files` (their bodies are views into `body`), the others to `fields`. Returns false (leaving
// partial results) on malformed input or a limit exceeded; `error` then says why (for the log
// line).
bool parse_multipart(std::string_view body, std::string_view boundary,
                     std::vector<Argument> &fields, std::vector<UploadedFile> &files,
                     std::string &error, const MultipartLimits &limits = MultipartLimits());

// ---- dates and status ------------------------------------------------------------------------

// Formats `t` as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), 29 characters, into `buf`
// (at least 30 bytes, NUL-terminated). Returns 29.
size_t format_http_date(time_t t, char *buf);
// The current time as an IMF-fixdate, cached per second and per thread.
std::string_view http_date_now();
// Parses IMF-fixdate (and RFC 850 / asctime, as RFC 9110 requires recipients to). Returns false
// on anything else.
bool parse_http_date(std::string_view s, time_t &out);

// The standard reason phrase for `status` ("OK", "Not Found"), or "Unknown".
const char *reason_phrase(int status);

// A response's status line (RFC 9112 §4): "HTTP/1." DIGIT SP 3DIGIT, then SP and a reason or
// the line's end (a missing SP before an empty reason is common and harmless).
struct StatusLine {
    int minor_version;
    int status;               // 000-999: the caller decides which classes it takes
    std::string_view reason;  // a view into the line
};
// Parses `line` (without its CRLF) into `out`; false when it is no HTTP/1.x status line
// ("HTTP/1.1 2", "HTTP/1.1 2000", "SSH-2.0-...").
bool parse_status_line(std::string_view line, StatusLine &out);

// ---- gzip request bodies ---------------------------------------------------------------------

// Incremental gzip decoder with an output limit (decompress_request).
class GzipDecoder {
public:
    GzipDecoder();
    ~GzipDecoder();
    GzipDecoder(const GzipDecoder &) = delete;
    GzipDecoder &operator=(const GzipDecoder &) = delete;
    enum class Result { ok, error, too_big, out_of_memory, stopped, paused };
    // Inflates `data`, handing the output to `sink` in pieces of at most kPiece bytes as it is
    // made: however large the ratio, no more than a piece is held at a time. Fails with too_big
    // once the total output, or the total input, would exceed `max_output`; with out_of_memory
    // when zlib could not allocate (not the peer's fault: not `error`); with stopped when the
    // sink returned false. A failure is final.
    static constexpr size_t kPiece = 16384;
    using Sink = bool (*)(void *arg, const char *data, size_t len);
    Result feed(const char *data, size_t len, size_t max_output, Sink sink, void *arg);
    // Pausing (the HTTP client's eddy_fetch_pause_body): a sink that calls hold() and then
    // returns false makes feed() return `paused` instead of failing. The input not inflated
    // yet is copied and kept (at most the `len` of that feed() call), output zlib still holds
    // stays in its state; resume() goes on from there with the same arguments as feed() (and
    // may pause again). holding() is true from the pause until resume().
    void hold();
    bool holding() const;
    Result resume(size_t max_output, Sink sink, void *arg);
    // True once the gzip stream's end was seen.
    bool finished() const;
    // Compressed bytes fed so far.
    size_t bytes_fed() const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

// ---- JSON ------------------------------------------------------------------------------------

// Appends `s` as a JSON string literal (with quotes) to `out`, taking each byte as a Latin-1
// code point: printable ASCII stays, '"' and '\\' are escaped, control characters and bytes
// >= 0x7f become \u00XX.
void append_json_latin1(std::string &out, std::string_view s);

}  // namespace eddy::http
