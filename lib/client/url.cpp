#include "client/url.hpp"

#include <cctype>
#include <cstdlib>

#include "http/httputil.hpp"
#include "util/base64.hpp"

namespace eddy::client {

namespace {
bool bad_char(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
}

// A request target is ASCII (RFC 9112 §3.2, RFC 3986): bytes beyond it — a Location with raw
// UTF-8 ("/café"), as servers do send — went on the wire as they were. They are
// percent-encoded, as browsers do (WHATWG URL).
std::string encode_non_ascii(const std::string &target) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(target.size());
    for (char c : target) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x80) {
            out += c;
        } else {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out;
}

}  // namespace

std::string Url::host_header() const {
    std::string h = ipv6() ? "[" + host + "]" : host;
    if (port != (secure() ? 443 : 80)) h += ":" + std::to_string(port);
    return h;
}

std::string Url::origin() const {
    return scheme + "://" + (ipv6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Url::str() const { return scheme + "://" + host_header() + target; }

namespace {

// An absolute URL whose scheme is `plain` or `secure` (compared without case): the two share
// one authority grammar and differ in the default port only.
bool parse_absolute_url(const std::string &text, const char *plain, const char *secure,
                        Url *out) {
    for (char c : text)
        if (bad_char(c)) return false;
    size_t colon = text.find("://");
    if (colon == std::string::npos) return false;
    std::string scheme = text.substr(0, colon);
    for (char &c : scheme) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (scheme != plain && scheme != secure) return false;
    size_t start = colon + 3;
    size_t end = text.find_first_of("/?#", start);
    std::string authority =
        text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    Url u;
    size_t at = authority.rfind('@');
    if (at != std::string::npos) {
        u.userinfo = authority.substr(0, at);
        if (!http::is_userinfo(u.userinfo)) return false;
        authority.erase(0, at + 1);
    }
    u.scheme = scheme;
    u.port = u.secure() ? 443 : 80;
    std::string port_text;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) return false;
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return false;
            port_text = authority.substr(close + 2);
        }
        if (u.host.find(':') == std::string::npos) return false;
    } else {
        size_t pc = authority.rfind(':');
        if (pc != std::string::npos) {
            port_text = authority.substr(pc + 1);
            authority.resize(pc);
        }
        u.host = authority;
        if (u.host.find(':') != std::string::npos) return false;
    }
    if (u.host.empty()) return false;
    for (char &c : u.host) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (!port_text.empty()) {
        if (port_text.size() > 5) return false;
        for (char c : port_text)
            if (!isdigit(static_cast<unsigned char>(c))) return false;
        u.port = atoi(port_text.c_str());
        if (u.port <= 0 || u.port > 65535) return false;
    }
    std::string rest = end == std::string::npos ? "" : text.substr(end);
    size_t hash = rest.find('#');
    if (hash != std::string::npos) rest.resize(hash);
    if (rest.empty() || rest[0] != '/') rest = "/" + rest;
    u.target = encode_non_ascii(rest);
    // The host goes into the Host field, a CONNECT and a name lookup: only what RFC 3986
    // allows there (a redirect's Location with "exm\xff" in its host was sent as it was).
    if (!http::is_valid_host(u.host_header())) return false;
    *out = u;
    return true;
}

}  // namespace

bool parse_url(const std::string &text, Url *out) {
    return parse_absolute_url(text, "http", "https", out);
}

bool parse_ws_url(const std::string &text, Url *out) {
    return parse_absolute_url(text, "ws", "wss", out);
}

std::string basic_credentials(const std::string &userinfo) {
    size_t colon = userinfo.find(':');
    std::string user, password;
    http::percent_decode(std::string_view(userinfo).substr(0, colon), user, false);
    if (colon != std::string::npos)
        http::percent_decode(std::string_view(userinfo).substr(colon + 1), password, false);
    std::string credentials = "Basic ";
    base64_append(credentials, user + ":" + password);
    return credentials;
}

namespace {

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
bool is_scheme(std::string_view s) {
    if (s.empty() || !isalpha(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
        if (!isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
            return false;
    return true;
}

// RFC 3986 §5.2.4: "." and ".." segments of a path (no query) removed, as a resolved
// reference must be ("/a/b/../c" is "/a/c"; ".." never climbs above the root).
std::string remove_dot_segments(std::string_view in) {
    std::string out;
    while (!in.empty()) {
        if (in.substr(0, 3) == "../") {
            in.remove_prefix(3);
        } else if (in.substr(0, 2) == "./") {
            in.remove_prefix(2);
        } else if (in.substr(0, 3) == "/./") {
            in.remove_prefix(2);
        } else if (in == "/.") {
            in = "/";
        } else if (in.substr(0, 4) == "/../" || in == "/..") {
            in = in.size() == 3 ? std::string_view("/") : in.substr(3);
            size_t slash = out.rfind('/');
            out.resize(slash == std::string::npos ? 0 : slash);
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            size_t next = in.find('/', 1);
            if (next == std::string_view::npos) next = in.size();
            out.append(in.substr(0, next));
            in.remove_prefix(next);
        }
    }
    return out;
}

// The target with its path's dot segments removed (the query is left as it is).
std::string normalized_target(const std::string &target) {
    size_t q = target.find('?');
    std::string path = remove_dot_segments(std::string_view(target).substr(0, q));
    if (path.empty() || path[0] != '/') path.insert(0, "/");
    return q == std::string::npos ? path : path + target.substr(q);
}

}  // namespace

bool resolve_location(const Url &base, const std::string &reference, Url *out) {
    if (reference.empty()) return false;
    std::string_view location = reference;
    // A reference that starts with a scheme is absolute (RFC 3986 §3.1, §4.3): one other than
    // http or https ("mailto:", "javascript:") is no place to follow, not a relative path.
    size_t colon = location.find(':');
    if (colon != std::string::npos && colon > 0 && colon < location.find_first_of("/?#") &&
        is_scheme(location.substr(0, colon))) {
        std::string_view scheme = location.substr(0, colon);
        if (!http::iequals(scheme, "http") && !http::iequals(scheme, "https")) return false;
        // "http:rel" or "http:/p", without an authority: went on as a relative path, to
        // "/dir/http:rel". The base's own scheme is dropped and the rest resolved against the
        // base, as RFC 3986 §5.2.2 allows parsers for backward compatibility and as browsers
        // and Tornado (urljoin) do; with the other scheme it names an http(s) URI without a
        // host, which RFC 9110 §4.2 says to reject.
        if (location.substr(colon + 1, 2) != "//") {
            if (!http::iequals(scheme, base.scheme)) return false;
            location.remove_prefix(colon + 1);
            if (location.empty()) return false;
        }
    }
    if (location.find("://") != std::string::npos &&
        location.find("://") < location.find_first_of("/?#"))
        return parse_url(std::string(location), out);
    if (location.substr(0, 2) == "//")
        return parse_url(base.scheme + ":" + std::string(location), out);
    for (char c : location)
        if (bad_char(c)) return false;
    Url u = base;
    std::string loc = encode_non_ascii(std::string(location));
    size_t hash = loc.find('#');
    if (hash != std::string::npos) loc.resize(hash);
    if (loc.empty()) return false;
    if (loc[0] == '/') {
        u.target = loc;
    } else if (loc[0] == '?') {
        u.target = base.target.substr(0, base.target.find('?')) + loc;
    } else {
        std::string path = base.target.substr(0, base.target.find('?'));
        u.target = path.substr(0, path.rfind('/') + 1) + loc;
    }
    u.target = normalized_target(u.target);
    *out = u;
    return true;
}

}  // namespace eddy::client
