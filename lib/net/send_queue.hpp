// How much of what was written to a socket its peer has not taken yet, as the kernel counts it.
#pragma once

namespace eddy {

// What of `fd`'s output the peer has not taken: for TCP, the bytes not yet acknowledged (sent
// or not); for a Unix stream socket, the memory its unread messages hold (more than their
// bytes), 0 once read. -1 when the system cannot tell (not a socket, or not Linux).
long socket_unsent_bytes(int fd);

}  // namespace eddy
