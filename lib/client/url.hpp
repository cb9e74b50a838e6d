// Absolute http/https URLs for the HTTP client and ws/wss URLs for the WebSocket client (RFC 6455
// §3 gives them http's authority and defaults): parsing, origin keys, relative redirects, and
// the basic credentials of a URL's userinfo.
#pragma once

#include <string>

namespace eddy::client {

struct Url {
    std::string scheme;  // "http" or "https" (parse_url), "ws" or "wss" (parse_ws_url)
    std::string host;    // without brackets for IPv6
    int port = 0;
    std::string target;  // path and query, at least "/"; no fragment
    // "user[:password]" of the authority, still percent-encoded ("" when none): sent as basic
    // credentials (Authorization), never on the wire as part of a URL.
    std::string userinfo;

    // Over TLS: https or wss (port 443 by default).
    bool secure() const { return scheme == "https" || scheme == "wss"; }
    bool ipv6() const { return host.find(':') != std::string::npos; }
    // "host[:port]" for the Host header (port only when not the scheme's default).
    std::string host_header() const;
    // "scheme://host:port": connections are pooled per origin.
    std::string origin() const;
    std::string str() const;  // the whole URL again, without userinfo
};

// Parses an absolute http(s) URL; false when it is not one (or has bad characters).
bool parse_url(const std::string &text, Url *out);
// The same for a ws(s) URL (a fragment is dropped, as it means nothing there).
bool parse_ws_url(const std::string &text, Url *out);
// The value of "Authorization" for a URL's userinfo ("user[:password]", percent-encoded):
// "Basic " + base64(user ":" password), RFC 7617, as Tornado's client and curl send it.
std::string basic_credentials(const std::string &userinfo);
// Resolves a Location header against `base` (absolute, scheme-relative, absolute-path or
// relative-path references).
bool resolve_location(const Url &base, const std::string &location, Url *out);

}  // namespace eddy::client
