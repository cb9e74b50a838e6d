// Cookie, signed-value and XSRF helpers. Formats follow Tornado 6 (see cookies.hpp); the code
// is our own.
#include "web/cookies.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cmath>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <limits>

#include "http/hex.hpp"
#include "http/httputil.hpp"
#include "util/base64.hpp"

namespace eddy::web {

namespace {

// ---- small helpers ---------------------------------------------------------------------------

bool is_space(unsigned char c) {
    // ASCII whitespace as Python's str.strip() sees it, plus the information separators
    // 0x1c-0x1f which it also strips. (0x85 and 0xa0 are left alone: they can be UTF-8 bytes.)
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && is_space(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// RFC 6265 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
bool is_cookie_octet(unsigned char c) {
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

// Names Python's SimpleCookie accepts: tchar plus ':'.
bool is_legal_cookie_name(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (c != ':' && !http::is_tchar(c)) return false;
    return true;
}

int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// binascii.a2b_hex: even length, hex digits of either case.
bool hex_decode(std::string_view in, std::string &out) {
    if (in.size() % 2 != 0) return false;
    out.clear();
    out.reserve(in.size() / 2);
    for (size_t i = 0; i < in.size(); i += 2) {
        int hi = hex_value(static_cast<unsigned char>(in[i]));
        int lo = hex_value(static_cast<unsigned char>(in[i + 1]));
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return true;
}

// Hex HMAC of the concatenation of `parts`.
std::string hmac_hex(const EVP_MD *md, std::string_view secret,
                     std::initializer_list<std::string_view> parts) {
    std::string data;
    for (auto p : parts) data.append(p);
    static const unsigned char kEmpty[1] = {0};
    const void *key = secret.empty() ? static_cast<const void *>(kEmpty) : secret.data();
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(md, key, static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char *>(data.data()), data.size(), mac, &mac_len))
        return std::string();
    std::string hex;
    http::append_hex(hex, mac, mac_len);
    return hex;
}

bool const_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// A decimal integer with an optional '-', saturating at the int64 range.
bool parse_int(std::string_view s, int64_t &out) {
    bool neg = !s.empty() && s.front() == '-';
    if (neg) s.remove_prefix(1);
    if (!all_digits(s)) return false;
    int64_t v = 0;
    for (char c : s) {
        int d = c - '0';
        if (v > (std::numeric_limits<int64_t>::max() - d) / 10) {
            v = std::numeric_limits<int64_t>::max();
            break;
        }
        v = v * 10 + d;
    }
    out = neg ? -v : v;
    return true;
}

// Tornado's _get_version: "<1-999>|..." is that version; anything else (no prefix, a leading
// zero, a number over 999 which can be v1 base64, or a line break before the end, which its
// regex does not cross) is version 1.
int signed_value_version(std::string_view v) {
    size_t i = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') i++;
    if (i == 0 || i > 3 || v[0] == '0' || i >= v.size() || v[i] != '|') return 1;
    size_t nl = v.find('\n', i);
    if (nl != std::string_view::npos && nl + 1 != v.size()) return 1;
    int version = 0;
    for (size_t j = 0; j < i; j++) version = version * 10 + (v[j] - '0');
    return version;
}

// One "<len>:<bytes>|" field of the v2 format.
bool consume_field(std::string_view &rest, std::string_view &field) {
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view len_str = rest.substr(0, colon);
    if (!all_digits(len_str) || len_str.size() > 9) return false;
    size_t n = 0;
    for (char c : len_str) n = n * 10 + size_t(c - '0');
    rest.remove_prefix(colon + 1);
    if (n >= rest.size() || rest[n] != '|') return false;
    field = rest.substr(0, n);
    rest.remove_prefix(n + 1);
    return true;
}

bool decode_v1(std::string_view secret, std::string_view name, std::string_view value,
               double max_age_days, double now, std::string &out) {
    size_t p1 = value.find('|');
    if (p1 == std::string_view::npos) return false;
    size_t p2 = value.find('|', p1 + 1);
    if (p2 == std::string_view::npos || value.find('|', p2 + 1) != std::string_view::npos)
        return false;
    std::string_view b64 = value.substr(0, p1), ts = value.substr(p1 + 1, p2 - p1 - 1),
                     sig = value.substr(p2 + 1);
    std::string expected = hmac_hex(EVP_sha1(), secret, {name, b64, ts});
    if (expected.empty() || !const_time_equal(sig, expected)) return false;
    int64_t timestamp;
    if (!parse_int(ts, timestamp)) return false;
    if (double(timestamp) < now - max_age_days * 86400) return false;
    // The v1 signature does not delimit its fields, so digits could move from the value into
    // the timestamp unnoticed: refuse far-future and zero-padded timestamps.
    if (double(timestamp) > now + 31 * 86400.0) return false;
    if (ts.front() == '0') return false;
    return base64_decode(b64, out);
}

bool decode_v2(std::string_view secret, std::string_view name, std::string_view value,
               double max_age_days, double now, std::string &out) {
    std::string_view rest = value.substr(2);  // "2|"
    std::string_view key_version, ts, name_field, value_field;
    if (!consume_field(rest, key_version) || !consume_field(rest, ts) ||
        !consume_field(rest, name_field) || !consume_field(rest, value_field))
        return false;
    if (!all_digits(key_version)) return false;
    std::string_view passed_sig = rest;
    std::string_view signed_part = value.substr(0, value.size() - passed_sig.size());
    std::string expected = hmac_hex(EVP_sha256(), secret, {signed_part});
    if (expected.empty() || !const_time_equal(passed_sig, expected)) return false;
    if (name_field != name) return false;
    int64_t timestamp;
    if (!parse_int(ts, timestamp)) return false;
    if (double(timestamp) < now - max_age_days * 86400) return false;
    return base64_decode(value_field, out);
}

void unquote_cookie_value(std::string_view v, std::string &out) {
    out.clear();
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
        out.assign(v);
        return;
    }
    v = v.substr(1, v.size() - 2);
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); i++) {
        char c = v[i];
        if (c != '\\' || i + 1 >= v.size()) {
            out.push_back(c);
            continue;
        }
        char n1 = v[i + 1];
        if (i + 3 < v.size() && n1 >= '0' && n1 <= '3' && v[i + 2] >= '0' && v[i + 2] <= '7' &&
            v[i + 3] >= '0' && v[i + 3] <= '7') {
            out.push_back(static_cast<char>((n1 - '0') << 6 | (v[i + 2] - '0') << 3 |
                                            (v[i + 3] - '0')));
            i += 3;
        } else if (n1 != '\n') {  // Python's '.' does not match a line feed
            out.push_back(n1);
            i += 1;
        } else {
            out.push_back(c);
        }
    }
}

}  // namespace

// ---- Cookie header ---------------------------------------------------------------------------

void parse_cookie_header(std::string_view header, CookieList &out) {
    while (true) {
        size_t semi = header.find(';');
        std::string_view chunk = header.substr(0, semi);
        size_t eq = chunk.find('=');
        if (eq != std::string_view::npos) {
            std::string_view name = trim(chunk.substr(0, eq));
            if (is_legal_cookie_name(name)) {
                std::string value;
                unquote_cookie_value(trim(chunk.substr(eq + 1)), value);
                out.emplace_back(std::string(name), std::move(value));
            }
        }
        if (semi == std::string_view::npos) break;
        header.remove_prefix(semi + 1);
    }
}

const std::string *find_cookie(const CookieList &cookies, std::string_view name) {
    for (const auto &c : cookies)
        if (c.first == name) return &c.second;
    return nullptr;
}

// ---- Set-Cookie ------------------------------------------------------------------------------

bool format_set_cookie(std::string_view name, std::string_view value,
                       const CookieAttributes &attrs, std::string &out) {
    if (!http::is_token(name)) return false;
    std::string_view bare = value;
    if (bare.size() >= 2 && bare.front() == '"' && bare.back() == '"')
        bare = bare.substr(1, bare.size() - 2);
    for (unsigned char c : bare)
        if (!is_cookie_octet(c)) return false;
    for (std::string_view attr : {attrs.domain, attrs.path})
        for (unsigned char c : attr)
            if (c == ';' || is_ctl(c)) return false;
    const char *samesite = nullptr;
    if (!attrs.samesite.empty()) {
        for (const char *word : {"Strict", "Lax", "None"})
            if (http::iequals(attrs.samesite, word)) samesite = word;
        if (!samesite) return false;
    }
    if (std::isnan(attrs.expires)) return false;

    std::string s;
    s.reserve(name.size() + value.size() + 128);
    s.append(name).append("=").append(value);
    if (!attrs.domain.empty()) s.append("; Domain=").append(attrs.domain);
    if (attrs.expires != 0) {
        // Clamp before converting: format_http_date keeps the year within 1970..9999.
        double e = std::floor(attrs.expires);
        if (e < 0) e = 0;
        if (e > 253402300799.0) e = 253402300799.0;
        char date[32];
        size_t n = http::format_http_date(static_cast<time_t>(e), date);
        s.append("; Expires=").append(date, n);
    }
    if (attrs.max_age >= 0) s.append("; Max-Age=").append(std::to_string(attrs.max_age));
    if (!attrs.path.empty()) s.append("; Path=").append(attrs.path);
    if (attrs.secure) s.append("; Secure");
    if (attrs.httponly) s.append("; HttpOnly");
    if (samesite) s.append("; SameSite=").append(samesite);
    out = std::move(s);
    return true;
}

// ---- Signed values ---------------------------------------------------------------------------

std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, int64_t timestamp) {
    std::string ts = std::to_string(timestamp);
    std::string b64;
    base64_append(b64, value);
    std::string s = "2|1:0|";
    for (std::string_view field : {std::string_view(ts), name, std::string_view(b64)})
        s.append(std::to_string(field.size())).append(":").append(field).append("|");
    s.append(hmac_hex(EVP_sha256(), secret, {s}));
    return s;
}

bool decode_signed_value(std::string_view secret, std::string_view name,
                         std::string_view signed_value, double max_age_days, double now,
                         std::string &out, int min_version) {
    if (signed_value.empty()) return false;
    int version = signed_value_version(signed_value);
    if (version < min_version) return false;
    std::string decoded;
    bool ok = false;
    if (version == 1)
        ok = decode_v1(secret, name, signed_value, max_age_days, now, decoded);
    else if (version == 2)
        ok = decode_v2(secret, name, signed_value, max_age_days, now, decoded);
    if (ok) out = std::move(decoded);
    return ok;
}

// ---- XSRF ------------------------------------------------------------------------------------

bool xsrf_new_raw_token(std::string &raw) {
    unsigned char buf[kXsrfTokenBytes];
    if (RAND_bytes(buf, sizeof buf) != 1) return false;
    raw.assign(reinterpret_cast<const char *>(buf), sizeof buf);
    return true;
}

bool xsrf_encode_token(std::string_view raw, int64_t timestamp, std::string &out) {
    unsigned char mask[4];
    if (RAND_bytes(mask, sizeof mask) != 1) return false;
    std::string masked(raw);
    for (size_t i = 0; i < masked.size(); i++) masked[i] = static_cast<char>(masked[i] ^ mask[i % 4]);
    std::string s = "2|";
    http::append_hex(s, mask, sizeof mask);
    s.push_back('|');
    http::append_hex(s, reinterpret_cast<const unsigned char *>(masked.data()), masked.size());
    s.push_back('|');
    s.append(std::to_string(timestamp));
    out = std::move(s);
    return true;
}

bool xsrf_decode_token(std::string_view token, std::string &raw, int64_t *timestamp) {
    // Version detection as for signed values, but a number over 999 is still a version here
    // (Tornado's xsrf code uses the same regex without the 999 rule) — and then unknown.
    size_t i = 0;
    while (i < token.size() && token[i] >= '0' && token[i] <= '9') i++;
    bool versioned = i > 0 && token[0] != '0' && i < token.size() && token[i] == '|';
    if (versioned) {
        size_t nl = token.find('\n', i);
        if (nl != std::string_view::npos && nl + 1 != token.size()) versioned = false;
    }
    if (!versioned) {  // version 1: hex, or the string itself
        if (!hex_decode(token, raw)) raw.assign(token);
        if (timestamp) *timestamp = 0;
        return true;
    }
    if (token.substr(0, i) != "2") return false;
    std::string_view parts[4];
    std::string_view rest = token;
    for (int k = 0; k < 4; k++) {
        size_t bar = rest.find('|');
        if (k == 3) {
            if (bar != std::string_view::npos) return false;
            parts[k] = rest;
        } else {
            if (bar == std::string_view::npos) return false;
            parts[k] = rest.substr(0, bar);
            rest.remove_prefix(bar + 1);
        }
    }
    std::string mask, masked;
    int64_t ts;
    if (!hex_decode(parts[1], mask) || mask.size() != 4 || !hex_decode(parts[2], masked) ||
        !parse_int(parts[3], ts))
        return false;
    for (size_t k = 0; k < masked.size(); k++) masked[k] = static_cast<char>(masked[k] ^ mask[k % 4]);
    raw = std::move(masked);
    if (timestamp) *timestamp = ts;
    return true;
}

bool check_xsrf(std::string_view submitted, std::string_view cookie_value) {
    if (submitted.empty() || cookie_value.empty()) return false;
    std::string a, b;
    if (!xsrf_decode_token(submitted, a) || !xsrf_decode_token(cookie_value, b)) return false;
    if (a.empty() || b.empty()) return false;
    return const_time_equal(a, b);
}

// ---- reverse_url -----------------------------------------------------------------------------

std::string percent_encode_path_segment(std::string_view s, bool encode_slash) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash);
        if (keep) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

}  // namespace eddy::web
