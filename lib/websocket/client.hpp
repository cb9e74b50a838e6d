// websocket_connect (Tornado's): connects to a ws:// URL and hands a client Session to
// `on_connect`.
#pragma once

#include <string_view>

#include "eddy/websocket.h"
#include "loop/loop.hpp"
#include "websocket/options.hpp"
#include "websocket/session.hpp"

namespace eddy::ws {

// Returns 0 (on_connect follows from the loop) or EDDY_EINVAL / EDDY_ENOTSUP / EDDY_ENOMEM
// (callbacks.userdata is then still the caller's).
int websocket_connect(Loop *loop, std::string_view url, const Options &options,
                      eddy_ws_connect_fn on_connect, const Callbacks &callbacks);

}  // namespace eddy::ws
