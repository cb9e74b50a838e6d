// Absolute http/https URLs for the client: parsing, origin keys and relative redirects.
#pragma once

#include <string>

namespace eddy::client {

struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;    // without brackets for IPv6
    int port = 0;
    std::string target;  // path and query, at least "/"; no fragment
    // "user[:password]" of the authority, still percent-encoded ("" when none): sent as basic
    // credentials (Authorization), never on the wire as part of a URL.
    std::string userinfo;

    bool https() const { return scheme == "https"; }
    bool ipv6() const { return host.find(':') != std::string::npos; }
    // "host[:port]" for the Host header (port only when not the scheme's default).
    std::string host_header() const;
    // "scheme://host:port": connections are pooled per origin.
    std::string origin() const;
    std::string str() const;  // the whole URL again, without userinfo
};

// Parses an absolute http(s) URL; false when it is not one (or has bad characters).
bool parse_url(const std::string &text, Url *out);
// Resolves a Location header against `base` (absolute, scheme-relative, absolute-path or
// relative-path references).
bool resolve_location(const Url &base, const std::string &location, Url *out);

}  // namespace eddy::client
