// extern "C" shims for eddy/websocket.h.
#include <new>
#include <string_view>

#include "eddy/websocket.h"
#include "http/httputil.hpp"
#include "net/connect.hpp"
#include "util/no_throw.hpp"
#include "web/route.hpp"
#include "web/websocket_route.hpp"
#include "websocket/client.hpp"
#include "websocket/connect_error.hpp"
#include "websocket/options.hpp"
#include "websocket/protocol.hpp"
#include "websocket/session.hpp"

using eddy::web::Route;
using eddy::ws::Options;
using eddy::ws::Session;

namespace {

std::string_view view(const char *p, size_t len) {
    if (!p) return {};
    return len == EDDY_NTS ? std::string_view(p) : std::string_view(p, len);
}

Options *O(eddy_ws_options *o) { return Options::from_c(o); }

}  // namespace

extern "C" {

// ---- options ---------------------------------------------------------------------------------

EDDY_API eddy_ws_options *eddy_ws_options_new(void) {
    Options *o = new (std::nothrow) Options();
    return o ? o->as_c() : nullptr;
}

EDDY_API void eddy_ws_options_free(eddy_ws_options *options) { delete O(options); }

EDDY_API int eddy_ws_options_set_max_message_size(eddy_ws_options *options, size_t bytes) {
    if (!options || bytes == 0) return EDDY_EINVAL;
    O(options)->max_message_size = bytes;
    return 0;
}

EDDY_API int eddy_ws_options_set_max_queued_output(eddy_ws_options *options, size_t bytes) {
    if (!options) return EDDY_EINVAL;
    O(options)->max_queued_output = bytes;
    return 0;
}

EDDY_API int eddy_ws_options_set_compression(eddy_ws_options *options, int flags,
                                             int max_window_bits) {
    const int known = EDDY_WS_DEFLATE | EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER |
                      EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER;
    if (!options || (flags & ~known)) return EDDY_EINVAL;
    if (max_window_bits == 0) max_window_bits = 15;
    if (max_window_bits < 8 || max_window_bits > 15) return EDDY_EINVAL;
    O(options)->compression_flags = flags;
    O(options)->max_window_bits = max_window_bits;
    return 0;
}

EDDY_API int eddy_ws_options_set_compression_level(eddy_ws_options *options, int level,
                                                   int mem_level) {
    if (mem_level == 0) mem_level = 8;
    if (!options || level < -1 || level > 9 || mem_level < 1 || mem_level > 9) return EDDY_EINVAL;
    O(options)->compression_level = level;
    O(options)->compression_mem_level = mem_level;
    return 0;
}

EDDY_API int eddy_ws_options_set_ping(eddy_ws_options *options, double interval, double timeout) {
    if (!options || !(interval >= 0) || !(timeout >= 0)) return EDDY_EINVAL;
    O(options)->ping_interval = interval;
    O(options)->ping_timeout = timeout;
    return 0;
}

EDDY_API int eddy_ws_options_set_close_timeout(eddy_ws_options *options, double seconds) {
    if (!options || !(seconds >= 0)) return EDDY_EINVAL;
    O(options)->close_timeout = seconds;
    return 0;
}

EDDY_API int eddy_ws_options_set_connect_timeout(eddy_ws_options *options, double seconds) {
    if (!options || !(seconds >= 0)) return EDDY_EINVAL;
    O(options)->connect_timeout = seconds;
    return 0;
}

EDDY_API int eddy_ws_options_set_unix_socket(eddy_ws_options *options, const char *path) {
    if (!options) return EDDY_EINVAL;
    if (!path) {
        O(options)->unix_socket.clear();
        return 0;
    }
    // Checked here, not at connect, as eddy_fetch_set_unix_socket: a path sun_path cannot hold
    // would otherwise fail only when the connect runs (or be cut and reach another socket).
    if (!eddy::Connector::unix_path_fits(path)) return EDDY_EINVAL;
    try {
        O(options)->unix_socket.assign(path);
    } catch (...) {
        return EDDY_ENOMEM;
    }
    return 0;
}

EDDY_API int eddy_ws_options_set_tls(eddy_ws_options *options, eddy_tls_context *ctx) {
    if (!options) return EDDY_EINVAL;
    eddy::tls::Context *c = reinterpret_cast<eddy::tls::Context *>(ctx);
    if (c && c->is_server()) return EDDY_EINVAL;
    O(options)->tls.reset(c);
    return 0;
}

EDDY_API int eddy_ws_options_set_on_pong(eddy_ws_options *options, eddy_ws_pong_fn cb) {
    if (!options) return EDDY_EINVAL;
    O(options)->on_pong = cb;
    return 0;
}

EDDY_API int eddy_ws_options_set_on_ping(eddy_ws_options *options, eddy_ws_pong_fn cb) {
    if (!options) return EDDY_EINVAL;
    O(options)->on_ping = cb;
    return 0;
}

EDDY_API int eddy_ws_options_set_on_refused(eddy_ws_options *options, eddy_ws_refused_fn cb) {
    if (!options) return EDDY_EINVAL;
    O(options)->on_refused = cb;
    return 0;
}

EDDY_API int eddy_ws_options_set_max_message_memory(eddy_ws_options *options, size_t bytes) {
    if (!options) return EDDY_EINVAL;
    O(options)->max_message_memory = bytes;
    return 0;
}

EDDY_API int eddy_ws_options_add_subprotocol(eddy_ws_options *options, const char *name,
                                             size_t len) {
    std::string_view n = view(name, len);
    if (!options || !eddy::http::is_token(n)) return EDDY_EINVAL;
    try {
        O(options)->subprotocols.emplace_back(n);
    } catch (...) {
        return EDDY_ENOMEM;
    }
    return 0;
}

EDDY_API int eddy_ws_options_add_header(eddy_ws_options *options, const char *name,
                                        size_t name_len, const char *value, size_t value_len) {
    std::string_view n = view(name, name_len), v = view(value, value_len);
    if (!options || !eddy::http::is_token(n) || !eddy::http::is_safe_field_value(v))
        return EDDY_EINVAL;
    // The handshake's own fields are eddy's to send (a second Sec-WebSocket-Key or Upgrade
    // would get the request refused); the subprotocols and deflate have their setters. Host
    // replaces the URL's (once: a later one wins), as Tornado sends it.
    using eddy::http::iequals;
    for (const char *own : {"Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                            "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Content-Length",
                            "Transfer-Encoding"})
        if (iequals(n, own)) return EDDY_EINVAL;
    if (iequals(n, "Host") && (v.empty() || !eddy::http::is_valid_host(v))) return EDDY_EINVAL;
    try {
        auto &headers = O(options)->headers;
        if (iequals(n, "Host"))
            for (auto it = headers.begin(); it != headers.end(); ++it)
                if (iequals(it->first, "Host")) {
                    headers.erase(it);
                    break;
                }
        headers.emplace_back(std::string(n), std::string(v));
    } catch (...) {
        return EDDY_ENOMEM;
    }
    return 0;
}

// ---- server routes ---------------------------------------------------------------------------

EDDY_API int eddy_route_set_websocket(eddy_route *route, eddy_ws_open_fn open,
                                      eddy_ws_message_fn on_message, eddy_ws_close_fn on_close,
                                      const eddy_ws_options *options) {
    if (!route) return EDDY_EINVAL;
    eddy::ws::Callbacks cbs;
    cbs.open = open;
    cbs.message = on_message;
    cbs.close = on_close;
    try {
        Options copy = options ? *Options::from_c(options) : Options();
        return eddy::web::make_websocket_route(Route::from_c(route), cbs, copy);
    } catch (...) {
        return EDDY_ENOMEM;
    }
}

EDDY_API int eddy_route_set_ws_check_origin(eddy_route *route, eddy_ws_check_origin_fn cb) {
    if (!route || !Route::from_c(route)->websocket) return EDDY_EINVAL;
    Route::from_c(route)->websocket->check_origin = cb;
    return 0;
}

EDDY_API int eddy_route_set_ws_select_subprotocol(eddy_route *route,
                                                  eddy_ws_select_subprotocol_fn cb) {
    if (!route || !Route::from_c(route)->websocket) return EDDY_EINVAL;
    Route::from_c(route)->websocket->select_subprotocol = cb;
    return 0;
}

// ---- client ----------------------------------------------------------------------------------

EDDY_API int eddy_websocket_connect(eddy_loop *loop, const char *url, size_t url_len,
                                    const eddy_ws_options *options, eddy_ws_connect_fn on_connect,
                                    eddy_ws_message_fn on_message, eddy_ws_close_fn on_close,
                                    void *userdata, eddy_free_fn free_userdata) {
    if (!loop || !url || !on_connect) return EDDY_EINVAL;
    eddy::ws::Callbacks cbs;
    cbs.message = on_message;
    cbs.close = on_close;
    cbs.userdata = userdata;
    cbs.free_userdata = free_userdata;
    try {
        Options copy = options ? *Options::from_c(options) : Options();
        return eddy::ws::websocket_connect(eddy::Loop::from_c(loop), view(url, url_len), copy,
                                           on_connect, cbs);
    } catch (...) {
        return EDDY_ENOMEM;
    }
}

EDDY_API const char *eddy_websocket_connect_error_detail(const eddy_loop *loop, size_t *len) {
    size_t n = 0;
    const char *d = eddy::ws::connect_error_detail(eddy::Loop::from_c(loop), &n);
    if (len) *len = n;
    return d;
}

// ---- connections -----------------------------------------------------------------------------

// A send that runs out of memory queues nothing (Session::send_frame): the session stays usable.
EDDY_API int eddy_ws_write_message(eddy_ws *ws, const void *data, size_t len, int binary,
                                   eddy_ws_write_fn cb) {
    if (!ws) return EDDY_EINVAL;
    return eddy::no_throw("eddy_ws_write_message", EDDY_ENOMEM, [&] {
        return Session::from_c(ws)->send_message(data, len, binary != 0, cb);
    });
}

EDDY_API int eddy_ws_ping(eddy_ws *ws, const void *data, size_t len) {
    if (!ws) return EDDY_EINVAL;
    return eddy::no_throw("eddy_ws_ping", EDDY_ENOMEM,
                          [&] { return Session::from_c(ws)->ping(data, len); });
}

EDDY_API int eddy_ws_close(eddy_ws *ws, int code, const char *reason, size_t reason_len) {
    if (!ws) return EDDY_EINVAL;
    // The close payload is built before anything changes: out of memory, the session stays open.
    return eddy::no_throw("eddy_ws_close", EDDY_ENOMEM, [&] {
        return Session::from_c(ws)->close(code, view(reason, reason_len));
    });
}

EDDY_API size_t eddy_ws_write_buffer_size(const eddy_ws *ws) {
    return ws ? Session::from_c(ws)->write_buffer_size() : 0;
}

EDDY_API int eddy_ws_set_write_mark(eddy_ws *ws, size_t mark, eddy_ws_drain_fn cb) {
    if (!ws) return EDDY_EINVAL;
    return eddy::no_throw("eddy_ws_set_write_mark", EDDY_ENOMEM,
                          [&] { return Session::from_c(ws)->set_write_mark(mark, cb); });
}

EDDY_API void eddy_ws_set_userdata(eddy_ws *ws, void *userdata, eddy_free_fn free_userdata) {
    if (ws) Session::from_c(ws)->set_userdata(userdata, free_userdata);
}

EDDY_API void *eddy_ws_get_userdata(const eddy_ws *ws) {
    return ws ? Session::from_c(ws)->userdata() : nullptr;
}

EDDY_API eddy_handler *eddy_ws_handler(eddy_ws *ws) { return ws ? Session::from_c(ws)->handler : nullptr; }

EDDY_API const char *eddy_ws_subprotocol(const eddy_ws *ws, size_t *len) {
    if (!ws) {
        if (len) *len = 0;
        return nullptr;
    }
    const std::string &p = Session::from_c(ws)->subprotocol();
    if (len) *len = p.size();
    return p.c_str();
}

EDDY_API int eddy_ws_compressed(const eddy_ws *ws) {
    return ws && Session::from_c(ws)->compressed() ? 1 : 0;
}

EDDY_API int eddy_ws_is_client(const eddy_ws *ws) {
    return ws && Session::from_c(ws)->client() ? 1 : 0;
}

EDDY_API int eddy_ws_closing(const eddy_ws *ws) {
    return ws && Session::from_c(ws)->closing() ? 1 : 0;
}

}  // extern "C"
