// Socket addresses as text, for accept callbacks and logs.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace eddy {

// Writes the numeric address of `peer` into `ip` (at least INET6_ADDRSTRLEN bytes; "" for
// non-IP families) and returns its port (0 for non-IP families). IPv4-mapped IPv6 peers of a
// dual-stack socket are shown as plain IPv4.
int format_peer(const sockaddr *peer, char *ip, size_t ip_len);

// Parses `text` as a numeric IPv4 or IPv6 address and writes it to `out` as format_peer()
// writes a peer: one spelling per address ("2001:DB8:0::1" -> "2001:db8::1", "::ffff:10.0.0.1"
// -> "10.0.0.1"), so that addresses compare as text. False (and `out` untouched) when it is
// not one (a NUL inside, a port, brackets, a zone).
bool canonical_ip(std::string_view text, std::string *out);

// The host a listener binds, as getaddrinfo takes it. An IPv6 address in brackets ("[::1]",
// RFC 3986's IP-literal: the form URLs, Host headers and nginx's listen use) is unbracketed;
// anything else with a bracket ("[::1", "::1]", "[zz]", "[127.0.0.1]") is not an address nor a
// name: false. Other hosts are copied as they are.
bool listen_host(const char *host, std::string *out);

}  // namespace eddy
