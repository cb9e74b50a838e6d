// HTTP helpers without I/O: grammar predicates, Host validation, percent-decoding, form and
// media-type parsing, dates, reason phrases and JSON escaping. Multipart parsing lives in
// httputil_multipart.cpp and the gzip decoder in httputil_gzip.cpp.
//
// Every function here takes arbitrary bytes from the network: all indexing is bounds-checked
// against the view's size, and every loop advances by at least one byte so work stays linear.
#include "http/httputil.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include "util/swar.hpp"

namespace eddy::http {
namespace {

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Value of a hex digit, or -1.
int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// ASCII-only lower-casing: locale-independent, and bytes >= 0x80 pass through untouched.
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string to_lower(std::string_view s) {
    std::string r(s);
    for (char &c : r) c = ascii_lower(c);
    return r;
}

}  // namespace

// ---- grammar ---------------------------------------------------------------------------------

bool parse_content_length(std::string_view value, uint64_t *out) {
    if (value.empty()) return false;
    uint64_t n = 0;
    for (char ch : value) {
        if (ch < '0' || ch > '9') return false;
        uint64_t digit = static_cast<uint64_t>(ch - '0');
        if (n > (UINT64_MAX - digit) / 10) return false;  // over 2^64 - 1
        n = n * 10 + digit;
    }
    *out = n;
    return true;
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    // Four table lookups joined per step, one branch for them: every header an application
    // sets is checked here, and a name is nearly always a token (the early exit is not worth
    // a branch per byte).
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size(), i = 0;
    const bool *tchar = detail::kTchar.member;
    for (; i + 4 <= n; i += 4)
        if (!(tchar[p[i]] & tchar[p[i + 1]] & tchar[p[i + 2]] & tchar[p[i + 3]])) return false;
    for (; i < n; i++)
        if (!tchar[p[i]]) return false;
    return true;
}

bool is_safe_field_value(std::string_view s) {
    // RFC 9110 §5.5: field-vchar, SP and HTAB, and obs-text; no other control character (CR,
    // LF and NUL would split or end the field; the rest are refused as Tornado refuses them).
    // Eight bytes at a time: a word with no byte below 0x20 and no DEL is safe — the test is
    // exact in that direction; a word that has one is checked byte by byte (a HTAB among them).
    // (string_view::find_first_of would call memchr once per byte of `s`.)
    auto unsafe_byte = [](char c) {
        unsigned char u = static_cast<unsigned char>(c);
        return (u < 0x20 && u != '\t') || u == 0x7f;
    };
    size_t n = s.size(), i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = load8(s.data() + i);
        if (!has_byte_below(w, 0x20) && !has_byte_equal(w, 0x7f)) continue;
        for (size_t j = i; j < i + 8; j++)
            if (unsafe_byte(s[j])) return false;
    }
    for (; i < n; i++)
        if (unsafe_byte(s[i])) return false;
    return true;
}

bool is_valid_reason(std::string_view s) {
    for (unsigned char c : s) {
        bool ok = c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
        // Tornado refuses '<' so a reason phrase echoed into an HTML error page cannot inject
        // markup.
        if (!ok || c == '<') return false;
    }
    return true;
}

// The list headers this serves (Connection, Transfer-Encoding, Expect) carry tokens, so quoted
// strings containing commas are not a concern here.
std::vector<std::string_view> split_list(std::string_view value) {
    std::vector<std::string_view> out;
    while (true) {
        size_t comma = value.find(',');
        std::string_view member = trim_ows(value.substr(0, comma));
        if (!member.empty()) out.push_back(member);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return out;
}

bool list_contains(std::string_view value, std::string_view token) {
    for (std::string_view member : split_list(value))
        if (iequals(member, token)) return true;
    return false;
}

// ---- Host ------------------------------------------------------------------------------------

namespace {

bool is_unreserved(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool is_sub_delim(unsigned char c) { return c != 0 && std::strchr("!$&'()*+,;=", c) != nullptr; }

// Whether s[at] ('%') starts a pct-encoded octet: two hex digits follow.
bool pct_encoded_at(std::string_view s, size_t at) {
    return at + 2 < s.size() && hex_value(static_cast<unsigned char>(s[at + 1])) >= 0 &&
           hex_value(static_cast<unsigned char>(s[at + 2])) >= 0;
}

// *( `allowed` / pct-encoded ): every byte is in the class or starts a pct-encoded octet.
bool only_class_or_pct(std::string_view s, const detail::CharClass &allowed) {
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '%') {
            if (!pct_encoded_at(s, i)) return false;
            i += 2;
        } else if (!allowed.member[c]) {
            return false;
        }
    }
    return true;
}

// RFC 3986 userinfo's characters besides pct-encoded: a reg-name's (unreserved, sub-delims)
// and ':'.
constexpr detail::CharClass make_userinfo_class() {
    detail::CharClass t = detail::kRegName;
    t.member[static_cast<unsigned char>(':')] = true;
    return t;
}
constexpr detail::CharClass kUserinfo = make_userinfo_class();

// The bytes a request-target's path may hold besides pct-encoded: visible ASCII without the
// ones RFC 3986 has no place for and browsers percent-encode in a path ('"' '<' '>' '\' '`'
// '{' '}'). ('#' never gets here: the target as a whole refuses it.)
constexpr detail::CharClass make_path_class() {
    detail::CharClass t{};
    for (int c = 0x21; c <= 0x7e; c++) t.member[c] = true;
    for (char c : std::string_view("\"<>\\`{}%")) t.member[static_cast<unsigned char>(c)] = false;
    return t;
}
constexpr detail::CharClass kPathByte = make_path_class();

// reg-name: IPv4address is a subset of it, so one check covers both host forms outside brackets.
bool is_reg_name(std::string_view s) { return only_class_or_pct(s, detail::kRegName); }

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
bool is_ipvfuture(std::string_view s) {
    if (s.size() < 4 || (s[0] != 'v' && s[0] != 'V')) return false;
    size_t i = 1;
    while (i < s.size() && hex_value(static_cast<unsigned char>(s[i])) >= 0) ++i;
    if (i == 1 || i >= s.size() || s[i] != '.') return false;
    if (++i == s.size()) return false;
    for (; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (!is_unreserved(c) && !is_sub_delim(c) && c != ':') return false;
    }
    return true;
}

// inet_pton implements exactly the RFC 4291 text forms RFC 3986's IPv6address describes; it
// needs a NUL-terminated copy, and no valid address is longer than 45 characters.
bool is_ipv6(std::string_view s) {
    char buf[64];
    if (s.empty() || s.size() >= sizeof(buf)) return false;
    for (char c : s)
        if (c != ':' && c != '.' && hex_value(static_cast<unsigned char>(c)) < 0) return false;
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    unsigned char addr[16];
    return inet_pton(AF_INET6, buf, addr) == 1;
}

bool is_port(std::string_view s) {
    for (unsigned char c : s)
        if (!is_digit(c)) return false;
    return true;
}

}  // namespace

bool accepts_coding(std::string_view accept_encoding, std::string_view coding) {
    bool star = false;
    for (std::string_view member : split_list(accept_encoding)) {
        size_t semi = member.find(';');
        std::string_view name = member.substr(0, semi);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        bool nonzero = true;
        if (semi != std::string_view::npos) {
            std::string_view params = member.substr(semi + 1);
            size_t q = params.find_first_of("qQ");
            if (q != std::string_view::npos) {
                std::string_view value = params.substr(q + 1);
                while (!value.empty() && (value.front() == ' ' || value.front() == '=' || value.front() == '\t'))
                    value.remove_prefix(1);
                // A weight is 0, 0.0, 0.00 or 0.000 exactly when every digit is zero.
                nonzero = false;
                for (char c : value) {
                    if (c >= '1' && c <= '9') nonzero = true;
                    if (c != '.' && (c < '0' || c > '9')) break;
                }
            }
        }
        if (iequals(name, coding)) return nonzero;
        if (name == "*") star = nonzero;
    }
    return star;
}

bool is_userinfo(std::string_view s) { return only_class_or_pct(s, kUserinfo); }

bool is_valid_target_path(std::string_view path) { return only_class_or_pct(path, kPathByte); }

std::string_view host_without_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
    return host.substr(0, host.find(':'));
}

bool is_valid_host(std::string_view host) {
    if (host.empty()) return true;
    // Fast path for the usual "name-or-IPv4[:port]": reg-name characters, then digits.
    {
        size_t i = 0;
        // (':' and '%' are not reg-name characters: the table stops there too.)
        const char *p = host.data();
        size_t n = host.size();
        const bool *reg = detail::kRegName.member;
        const unsigned char *u = reinterpret_cast<const unsigned char *>(p);
        // Four bytes per step while all four are reg-name bytes, then one at a time to the end.
        while (i + 4 <= n && (reg[u[i]] & reg[u[i + 1]] & reg[u[i + 2]] & reg[u[i + 3]])) i += 4;
        while (i < n && reg[u[i]]) i++;
        if (i == host.size()) return true;
        if (host[i] == ':' && i > 0) {
            size_t j = i + 1;
            while (j < host.size() && host[j] >= '0' && host[j] <= '9') j++;
            if (j == host.size()) return true;
        }
    }
    std::string_view port;
    if (host.front() == '[') {
        size_t close = host.find(']');
        if (close == std::string_view::npos) return false;
        std::string_view literal = host.substr(1, close - 1);
        if (!is_ipv6(literal) && !is_ipvfuture(literal)) return false;
        std::string_view rest = host.substr(close + 1);
        if (rest.empty()) return true;
        if (rest.front() != ':') return false;
        port = rest.substr(1);
    } else {
        size_t colon = host.find(':');
        if (colon != std::string_view::npos) {
            port = host.substr(colon + 1);
            host = host.substr(0, colon);
            // ":80" names no host: the URI it makes ("http://:80/") must be rejected as
            // invalid (RFC 9110 §4.2.1), as the same authority in absolute-form is. (A Host
            // that is wholly empty stays valid: RFC 9112 §3.2, a URI without authority.)
            if (host.empty()) return false;
        }
        if (!is_reg_name(host)) return false;
    }
    return is_port(port);  // a second ':' fails here, as any non-digit does
}

// ---- URL pieces ------------------------------------------------------------------------------

namespace {

// Decodes `in` into `out`; malformed escapes are copied literally. Returns false if any was.
bool decode_lenient(std::string_view in, std::string &out, bool plus_as_space) {
    out.clear();
    out.reserve(in.size());
    bool ok = true;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 1 < in.size() ? hex_value(static_cast<unsigned char>(in[i + 1])) : -1;
            int lo = i + 2 < in.size() ? hex_value(static_cast<unsigned char>(in[i + 2])) : -1;
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
            ok = false;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        out.push_back(c);
    }
    return ok;
}

}  // namespace

bool percent_decode(std::string_view in, std::string &out, bool plus_as_space) {
    return decode_lenient(in, out, plus_as_space);
}

bool is_valid_utf8(std::string_view s) {
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        // The allowed range of the second byte excludes overlongs (E0, F0), surrogates (ED) and
        // code points above U+10FFFF (F4) — the table of RFC 3629 §4.
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return false;
        }
        if (n - i < len) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < len; ++k)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf) return false;
        i += len;
    }
    return true;
}

// Like Python's parse_qsl(keep_blank_values=True), which Tornado uses: only '&' separates
// pairs, empty pairs ("a&&b") are dropped, and a pair without '=' has an empty value.
bool parse_urlencoded(std::string_view data, std::vector<Argument> &out, size_t max_pairs) {
    size_t pairs = 0;
    while (!data.empty()) {
        size_t amp = data.find('&');
        std::string_view pair = data.substr(0, amp);
        data.remove_prefix(amp == std::string_view::npos ? data.size() : amp + 1);
        if (pair.empty()) continue;
        if (pairs++ == max_pairs) return false;
        size_t eq = pair.find('=');
        Argument arg;
        decode_lenient(pair.substr(0, eq), arg.name, true);
        if (eq != std::string_view::npos) decode_lenient(pair.substr(eq + 1), arg.value, true);
        out.push_back(std::move(arg));
    }
    return true;
}

// ---- Content-Type ----------------------------------------------------------------------------

const std::string *MediaType::param(std::string_view name) const {
    // Last one wins, as with the dict Tornado builds.
    for (auto it = params.rbegin(); it != params.rend(); ++it)
        if (it->first == name) return &it->second;
    return nullptr;
}

namespace {

// Reads a quoted-string starting at s[i] == '"'; advances i past the closing quote (or to the
// end when unterminated, which we tolerate). Only \\ and \" are unescaped, as Tornado does:
// browsers send Windows paths such as filename="C:\dir\f.txt" without escaping backslashes,
// and resolving every quoted-pair would silently eat them.
std::string read_quoted(std::string_view s, size_t &i) {
    std::string v;
    ++i;  // opening quote
    while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == '"')) ++i;
        v.push_back(s[i++]);
    }
    if (i < s.size()) ++i;  // closing quote
    return v;
}

// Finds the next ';' at or after i that is not inside a quoted string.
size_t find_param_end(std::string_view s, size_t i) {
    while (i < s.size() && s[i] != ';') {
        if (s[i] == '"') {
            read_quoted(s, i);
        } else {
            ++i;
        }
    }
    return i;
}

// Parses one "name=value" parameter; returns false for one without '=' or without a name
// (skipped, as Tornado does).
bool parse_param(std::string_view p, std::pair<std::string, std::string> &out) {
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view name = trim_ows(p.substr(0, eq));
    std::string_view raw = trim_ows(p.substr(eq + 1));
    if (name.empty()) return false;
    out.first = to_lower(name);
    if (!raw.empty() && raw.front() == '"') {
        size_t i = 0;
        out.second = read_quoted(raw, i);
    } else {
        out.second = std::string(raw);
    }
    return true;
}

}  // namespace

bool parse_header_params(std::string_view value, MediaType &out) {
    out.type.clear();
    out.params.clear();
    size_t semi = find_param_end(value, 0);
    out.type = to_lower(trim_ows(value.substr(0, semi)));
    size_t i = semi;
    while (i < value.size()) {
        size_t start = i + 1;  // past ';'
        size_t end = find_param_end(value, start);
        std::pair<std::string, std::string> param;
        if (parse_param(value.substr(start, end - start), param)) out.params.push_back(std::move(param));
        i = end;
    }
    return !out.type.empty();
}

bool parse_media_type(std::string_view value, MediaType &out) {
    if (!parse_header_params(value, out)) return false;
    size_t slash = out.type.find('/');
    if (slash == std::string::npos) return false;
    std::string_view t(out.type);
    return is_token(t.substr(0, slash)) && is_token(t.substr(slash + 1));
}

// ---- dates -----------------------------------------------------------------------------------

namespace {

const char *const kDays[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char *const kLongDays[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                  "Thursday", "Friday", "Saturday"};
const char *const kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void put2(char *p, int v) {
    p[0] = static_cast<char>('0' + v / 10 % 10);
    p[1] = static_cast<char>('0' + v % 10);
}

// Index of `s` in `names` (exact, case-sensitive as RFC 9110 §5.6.7 specifies), or -1.
int find_name(std::string_view s, const char *const *names, int count) {
    for (int i = 0; i < count; ++i)
        if (s == names[i]) return i;
    return -1;
}

// Parses exactly `width` digits (width <= 4).
bool digits(std::string_view s, size_t pos, size_t width, int &v) {
    if (pos + width > s.size()) return false;
    v = 0;
    for (size_t i = pos; i < pos + width; ++i) {
        if (!is_digit(static_cast<unsigned char>(s[i]))) return false;
        v = v * 10 + (s[i] - '0');
    }
    return true;
}

// "HH:MM:SS" at pos.
bool parse_time(std::string_view s, size_t pos, struct tm &tm) {
    if (pos + 8 > s.size() || s[pos + 2] != ':' || s[pos + 5] != ':') return false;
    return digits(s, pos, 2, tm.tm_hour) && digits(s, pos + 3, 2, tm.tm_min) &&
           digits(s, pos + 6, 2, tm.tm_sec);
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Range-checks the fields (timegm would silently normalise "Feb 31") and converts.
bool finish_date(struct tm &tm, int year, time_t &out) {
    static const int kMonthDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int mdays = kMonthDays[tm.tm_mon] + (tm.tm_mon == 1 && is_leap(year) ? 1 : 0);
    // Second 60 is a leap second; timegm folds it into the next minute.
    if (tm.tm_mday < 1 || tm.tm_mday > mdays || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_isdst = 0;
    out = timegm(&tm);
    return true;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
bool parse_imf_fixdate(std::string_view s, time_t &out) {
    struct tm tm {};
    int year;
    if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s.substr(25) != " GMT")
        return false;
    if (find_name(s.substr(0, 3), kDays, 7) < 0) return false;
    tm.tm_mon = find_name(s.substr(8, 3), kMonths, 12);
    if (tm.tm_mon < 0 || !digits(s, 5, 2, tm.tm_mday) || !digits(s, 12, 4, year) ||
        !parse_time(s, 17, tm))
        return false;
    return finish_date(tm, year, out);
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". The two-digit year is read per RFC 9110 §5.6.7:
// one that would be more than 50 years in the future means the most recent past such year.
bool parse_rfc850(std::string_view s, time_t &out) {
    size_t comma = s.find(',');
    if (comma == std::string_view::npos || find_name(s.substr(0, comma), kLongDays, 7) < 0)
        return false;
    std::string_view r = s.substr(comma + 1);  // " 06-Nov-94 08:49:37 GMT"
    struct tm tm {};
    int yy;
    if (r.size() != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' ||
        r.substr(19) != " GMT")
        return false;
    tm.tm_mon = find_name(r.substr(4, 3), kMonths, 12);
    if (tm.tm_mon < 0 || !digits(r, 1, 2, tm.tm_mday) || !digits(r, 8, 2, yy) ||
        !parse_time(r, 11, tm))
        return false;
    struct tm now {};
    time_t t = time(nullptr);
    gmtime_r(&t, &now);
    int this_year = now.tm_year + 1900;
    int year = this_year - this_year % 100 + yy;
    if (year > this_year + 50) year -= 100;
    return finish_date(tm, year, out);
}

// asctime: "Sun Nov  6 08:49:37 1994" (day is 2DIGIT or SP DIGIT)
bool parse_asctime(std::string_view s, time_t &out) {
    struct tm tm {};
    int year;
    if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
        return false;
    if (find_name(s.substr(0, 3), kDays, 7) < 0) return false;
    tm.tm_mon = find_name(s.substr(4, 3), kMonths, 12);
    if (tm.tm_mon < 0) return false;
    if (s[8] == ' ') {
        if (!digits(s, 9, 1, tm.tm_mday)) return false;
    } else if (!digits(s, 8, 2, tm.tm_mday)) {
        return false;
    }
    if (!parse_time(s, 11, tm) || !digits(s, 20, 4, year)) return false;
    return finish_date(tm, year, out);
}

}  // namespace

size_t format_http_date(time_t t, char *buf) {
    // Keep the year within four digits so the result is always exactly 29 characters.
    constexpr long long kMax = 253402300799LL;  // 9999-12-31 23:59:59
    long long v = static_cast<long long>(t);
    if (v < 0) v = 0;
    if (v > kMax) v = kMax;
    time_t clamped = static_cast<time_t>(v);
    struct tm tm {};
    gmtime_r(&clamped, &tm);
    int year = tm.tm_year + 1900;
    std::memcpy(buf, kDays[tm.tm_wday % 7], 3);
    std::memcpy(buf + 3, ", ", 2);
    put2(buf + 5, tm.tm_mday);
    buf[7] = ' ';
    std::memcpy(buf + 8, kMonths[tm.tm_mon % 12], 3);
    buf[11] = ' ';
    put2(buf + 12, year / 100);
    put2(buf + 14, year % 100);
    buf[16] = ' ';
    put2(buf + 17, tm.tm_hour);
    buf[19] = ':';
    put2(buf + 20, tm.tm_min);
    buf[22] = ':';
    put2(buf + 23, tm.tm_sec);
    std::memcpy(buf + 25, " GMT", 5);  // includes the NUL
    return 29;
}

std::string_view http_date_now() {
    // Formatting on every response is measurable at high request rates; a response within the
    // same second reuses the string. The view stays valid until this thread's next call in a
    // later second.
    // One thread_local object, not two, looked up once: each lookup is a call to
    // __tls_get_addr in a shared library, and GCC looks the address up again after any call
    // unless the value is made opaque to it (the empty asm).
    struct Cache {
        time_t time = static_cast<time_t>(-1);
        char text[32] = {};
    };
    thread_local Cache cache;
    time_t now = time(nullptr);
    Cache *c = &cache;
    asm("" : "+r"(c));
    if (now != c->time) {
        format_http_date(now, c->text);
        c->time = now;
    }
    return std::string_view(c->text, 29);
}

bool parse_http_date(std::string_view s, time_t &out) {
    // The formats have distinct shapes, so trying each in turn is unambiguous.
    return parse_imf_fixdate(s, out) || parse_rfc850(s, out) || parse_asctime(s, out);
}

// ---- status ----------------------------------------------------------------------------------

bool parse_status_line(std::string_view line, StatusLine &out) {
    auto digit = [&line](size_t i) { return line[i] >= '0' && line[i] <= '9'; };
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !digit(7) || line[8] != ' ' ||
        !digit(9) || !digit(10) || !digit(11) || (line.size() > 12 && line[12] != ' '))
        return false;
    out.minor_version = line[7] - '0';
    out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    out.reason = line.size() > 13 ? line.substr(13) : std::string_view();
    return true;
}

const char *reason_phrase(int status) {
    // RFC 9110 §15 plus the other codes in the IANA HTTP Status Code Registry. 306 and 418 are
    // registered as "(Unused)" and so get "Unknown".
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
}

// ---- JSON ------------------------------------------------------------------------------------

void append_json_latin1(std::string &out, std::string_view s) {
    static const char kHex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c >= 0x7f) {
            // Byte XX is Latin-1 code point U+00XX, so \u00XX keeps the output pure ASCII and
            // valid JSON whatever the input bytes were.
            char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
            out.append(esc, sizeof(esc));
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

}  // namespace eddy::http
