// Socket addresses as text, for accept callbacks and logs.
#pragma once

#include <sys/socket.h>

#include <cstddef>

namespace eddy {

// Writes the numeric address of `peer` into `ip` (at least INET6_ADDRSTRLEN bytes; "" for
// non-IP families) and returns its port (0 for non-IP families). IPv4-mapped IPv6 peers of a
// dual-stack socket are shown as plain IPv4.
int format_peer(const sockaddr *peer, char *ip, size_t ip_len);

}  // namespace eddy
