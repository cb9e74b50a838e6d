// The detail of a failed websocket_connect (eddy_websocket_connect_error_detail): what eddy
// knows beyond the code, published while the failed `on_connect` runs.
//
// Kept per thread, keyed by the loop, rather than in the Loop: the loop knows nothing of
// WebSocket, and a loop's callbacks run on the thread that runs it, which is the thread that
// asks. The text itself stays owned by the failing handshake; only a pointer is published.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "loop/loop.hpp"

namespace eddy::ws {

// Publishes `detail` as `loop`'s failed connect's for the scope's life (the on_connect call).
// Scopes nest: a connect failing inside another's callback (a nested run of a loop) restores
// the outer one on return.
class ConnectErrorScope {
public:
    ConnectErrorScope(const Loop *loop, const std::string &detail);
    ~ConnectErrorScope();
    ConnectErrorScope(const ConnectErrorScope &) = delete;
    ConnectErrorScope &operator=(const ConnectErrorScope &) = delete;

private:
    const Loop *prev_loop_;
    const std::string *prev_detail_;
};

// The detail published for `loop` on this thread (NUL-terminated, its length in *len); ""
// outside a failed on_connect of that loop.
const char *connect_error_detail(const Loop *loop, size_t *len);

}  // namespace eddy::ws
