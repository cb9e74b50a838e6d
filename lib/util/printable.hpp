// Bytes a peer sent (a status line, a header value), made fit to quote in an error detail or a
// log line: the client and the WebSocket client both quote what a server or proxy answered.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eddy {

// At most `max` bytes of `text`, printable ASCII as is, control bytes and bytes beyond ASCII
// as "\xNN", and "..." after a cut.
std::string printable(std::string_view text, size_t max);

}  // namespace eddy
