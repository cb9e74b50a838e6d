// A route that is a WebSocket endpoint (Tornado's WebSocketHandler): the opening handshake on
// top of the handler life cycle, then a ws::Session on the connection's stream.
#pragma once

#include "eddy/websocket.h"
#include "websocket/options.hpp"
#include "websocket/session.hpp"

namespace eddy::web {

class Route;

struct WsEndpoint {
    ws::Callbacks callbacks;  // userdata: the route's, filled in at each upgrade
    ws::Options options;
    eddy_ws_check_origin_fn check_origin = nullptr;
    eddy_ws_select_subprotocol_fn select_subprotocol = nullptr;
    ws::Session *sessions = nullptr;  // live connections, dropped without callbacks with us
    ~WsEndpoint();
};

// Makes `route` a WebSocket endpoint (its GET callback becomes the upgrade).
int make_websocket_route(Route *route, const ws::Callbacks &callbacks, const ws::Options &options);

}  // namespace eddy::web
