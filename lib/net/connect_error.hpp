// The detail of a failed eddy_connect / eddy_connect_tls (eddy_connect_error_detail): the
// Connector's failure() ("connect to 127.0.0.1:9: Connection refused"), published while the
// connect callback that reports the failure runs.
//
// Published per thread, keyed by the loop (util/published_detail.hpp), in a slot of its own:
// only the C API's connects publish here, not the HTTP or WebSocket clients that use a
// Connector inside (they say why through their own error details).
#pragma once

#include <cstddef>
#include <string>

#include "loop/loop.hpp"
#include "util/published_detail.hpp"

namespace eddy {

class Connector;

// Publishes why `connector` failed (Connector::failure()) as `loop`'s failed connect's for the
// scope's life (the callback's call); when it did not fail, "": a success may follow refused
// addresses, which failure() lists. Scopes nest as PublishedDetail's.
class ConnectFailureScope {
public:
    ConnectFailureScope(const Loop *loop, const Connector &connector, bool failed);
    ConnectFailureScope(const ConnectFailureScope &) = delete;
    ConnectFailureScope &operator=(const ConnectFailureScope &) = delete;

private:
    PublishedDetail published_;
};

// The detail published for `loop` on this thread (NUL-terminated, its length in *len); ""
// outside a failed connect callback of that loop.
const char *connect_failure_detail(const Loop *loop, size_t *len);

}  // namespace eddy
