// The detail of a failed websocket_connect (eddy_websocket_connect_error_detail): what eddy
// knows beyond the code, published while the failed `on_connect` runs.
//
// Published per thread, keyed by the loop (util/published_detail.hpp), in a slot of its own:
// a plain connect's failure (eddy_connect_error_detail) is not a WebSocket connect's. The text
// itself stays owned by the failing handshake; only a pointer is published.
#pragma once

#include <cstddef>
#include <string>

#include "loop/loop.hpp"
#include "util/published_detail.hpp"

namespace eddy::ws {

// Publishes `detail` as `loop`'s failed connect's for the scope's life (the on_connect call).
// Scopes nest: a connect failing inside another's callback (a nested run of a loop) restores
// the outer one on return.
class ConnectErrorScope {
public:
    ConnectErrorScope(const Loop *loop, const std::string &detail);
    ConnectErrorScope(const ConnectErrorScope &) = delete;
    ConnectErrorScope &operator=(const ConnectErrorScope &) = delete;

private:
    PublishedDetail published_;
};

// The detail published for `loop` on this thread (NUL-terminated, its length in *len); ""
// outside a failed on_connect of that loop.
const char *connect_error_detail(const Loop *loop, size_t *len);

}  // namespace eddy::ws
