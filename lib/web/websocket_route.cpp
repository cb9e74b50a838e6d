#include "web/websocket_route.hpp"

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "http/connection.hpp"
#include "http/httputil.hpp"
#include "http/request.hpp"
#include "http/server.hpp"
#include "stream/stream.hpp"
#include "util/log.hpp"
#include "web/handler.hpp"
#include "web/route.hpp"
#include "websocket/protocol.hpp"

namespace eddy::web {

namespace {

// What the handshake check decided, carried to the deferred upgrade.
struct Upgrade {
    Handler *handler;
    std::string accept;
    std::string subprotocol;
    bool deflate = false;
    ws::DeflateParams params;
    std::string extensions;  // the Sec-WebSocket-Extensions response value
};

// Tornado's default: no Origin (not a browser) is fine; otherwise the origin's host[:port]
// must be the Host the request was sent to.
bool same_origin(const http::Request *req, std::string_view origin) {
    size_t scheme_end = origin.find("://");
    if (scheme_end == std::string_view::npos) return false;
    std::string_view netloc = origin.substr(scheme_end + 3);
    netloc = netloc.substr(0, netloc.find('/'));
    return !netloc.empty() && http::iequals(netloc, req->host);
}

void refuse(Handler *h, int status, std::string_view why) {
    log(LogLevel::info, "websocket: %s %s: handshake refused (%d): %.*s", h->req->remote_ip.c_str(),
        h->req->path.c_str(), status, static_cast<int>(why.size()), why.data());
    h->send_error(status);
}

// Adds the server's own compression preferences to an accepted offer (RFC 7692 §7.1: a server
// may add the no_context_takeover parameters and a smaller server window unasked).
void apply_preferences(const ws::Options &o, ws::DeflateParams &p, std::string &response) {
    if ((o.compression_flags & EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER) && !p.server_no_context_takeover) {
        p.server_no_context_takeover = true;
        response += "; server_no_context_takeover";
    }
    if ((o.compression_flags & EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER) && !p.client_no_context_takeover) {
        p.client_no_context_takeover = true;
        response += "; client_no_context_takeover";
    }
    if (o.max_window_bits >= 15) return;
    // Our window limit holds whatever the offer allows: eddy_ws_options_set_compression promises
    // that max_window_bits limits this side's window (the compressor's memory), and a smaller
    // value than the offer's server_max_window_bits is a valid answer (RFC 7692 §7.1.2.1: "the
    // same or smaller value"). Without this, any client could make the server keep 2^15-byte
    // windows by offering server_max_window_bits=15.
    static constexpr std::string_view kParam = "; server_max_window_bits=";
    size_t at = response.find(kParam);
    if (at != std::string::npos) {
        // The value accept_offer wrote (8..15), up to the next parameter or the end.
        const size_t value_at = at + kParam.size();
        size_t end = response.find(';', value_at);
        if (end == std::string::npos) end = response.size();
        int answered = 0;
        for (size_t i = value_at; i < end; i++) answered = answered * 10 + (response[i] - '0');
        if (answered <= o.max_window_bits) return;  // the client asked for no more: honoured
        response.erase(at, end - at);
    }
    // zlib cannot compress raw deflate with an 8-bit window: 9 is used, which stays within
    // 256 bytes' distance (see accept_offer in websocket/protocol.cpp).
    p.server_max_window_bits = o.max_window_bits < 9 ? 9 : o.max_window_bits;
    response += kParam;
    response += std::to_string(o.max_window_bits);
}

// The session is released: after its close callback its handler finishes (on_finish runs);
// while the loop is freed it goes without callbacks, as every handler the loop releases.
void session_released(ws::Session *s, void *arg, bool loop_freed) {
    WsEndpoint *ep = static_cast<WsEndpoint *>(arg);
    if (ep) {
        if (s->prev) {
            s->prev->next = s->next;
        } else if (ep->sessions == s) {
            ep->sessions = s->next;
        }
        if (s->next) s->next->prev = s->prev;
        s->prev = s->next = nullptr;
    }
    if (s->handler) {
        Handler *h = Handler::from_c(s->handler);
        s->handler = nullptr;
        if (loop_freed) {
            h->release_handed_over_at_loop_free();
        } else {
            h->finish();
        }
    }
}

std::string switching_head(const Upgrade &up, const http::Request *req);
void start_session(Handler *h, Route *route, Stream *stream, Upgrade *up);

// Runs from the loop after the GET callback returned (the HTTP connection is then outside its
// input processing and can hand its stream over). `up` is release_upgrade's to delete.
void complete_upgrade(eddy_loop *, void *arg) {
    Upgrade *up = static_cast<Upgrade *>(arg);
    Handler *h = up->handler;
    Route *route = h->route;
    http::Request *req = h->req;
    Stream *stream = nullptr;
    if (!h->closed && route && route->websocket && req->conn)
        stream = req->conn->release_stream(req);
    if (!stream) {  // the client left meanwhile, or the application went away
        h->finish();
        return;
    }
    h->closed = true;  // the handler's response calls now give EDDY_ECLOSED
    std::string head;
    try {
        // A header or cookie set for the 101 (prepare, set_default_headers) that could not be
        // stored: no 101 without it (Request::lose_response), as for any other answer.
        if (req->response_lost()) throw std::bad_alloc();
        head = switching_head(*up, req);
        if (stream->write(head.data(), head.size()) == EDDY_ENOMEM) throw std::bad_alloc();
    } catch (const std::bad_alloc &) {
        // The stream is ours now (the HTTP connection let go of it): closed without an answer.
        log(LogLevel::error, "websocket: %s: out of memory; closing the connection",
            req->path.c_str());
        stream->close_abruptly(EDDY_ENOMEM);
        h->finish();
        return;
    }
    // Logged now, with its 101: the connection's own finish will not (it left the server).
    req->log_switching_protocols();
    // The handshake request stays as long as the session (eddy_ws_handler reads it): the room
    // its field list kept for a next request on the connection would be paid per connection.
    req->headers.shrink_to_fit();
    start_session(h, route, stream, up);
}

// The queued upgrade's free function: after complete_upgrade ran, or when the loop is freed
// before it could (eddy_loop_free releases its pending calls' userdata). Only the record is
// ours then: the handler, detached and unfinished, is still its request's, which the loop
// released before its pending calls (held objects go first), with the handler, without
// callbacks (Request::on_loop_free, Handler::release_at_loop_free).
void release_upgrade(void *arg) { delete static_cast<Upgrade *>(arg); }

// The 101 answer (may throw std::bad_alloc).
std::string switching_head(const Upgrade &up, const http::Request *req) {
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: " + up.accept + "\r\n";
    if (!up.subprotocol.empty()) head += "Sec-WebSocket-Protocol: " + up.subprotocol + "\r\n";
    if (up.deflate) head += "Sec-WebSocket-Extensions: " + up.extensions + "\r\n";
    if (req->server && req->server->options.send_server_header)
        head += "Server: " + req->server->options.server_header + "\r\n";
    // Headers the application set in set_default_headers / prepare (Tornado sends them too),
    // minus those that would contradict a 101.
    for (const http::FieldView &f : req->response_headers()) {
        if (http::iequals(f.name, "Content-Type") || http::iequals(f.name, "Content-Length") ||
            http::iequals(f.name, "Transfer-Encoding") || http::iequals(f.name, "Connection") ||
            http::iequals(f.name, "Upgrade"))
            continue;
        head.append(f.name).append(": ").append(f.value).append("\r\n");
    }
    head += "\r\n";
    return head;
}

// The session on the upgraded stream; it finishes the handler when it is released (or, at
// loop free, releases it without callbacks: session_released).
void start_session(Handler *h, Route *route, Stream *stream, Upgrade *up) {
    WsEndpoint *ep = route->websocket;
    ws::Callbacks cbs = ep->callbacks;
    cbs.userdata = route->userdata;
    ws::Session *s =
        ws::Session::create(stream, false, ep->options, cbs, up->deflate ? &up->params : nullptr,
                            std::move(up->subprotocol));
    if (!s) {
        h->finish();
        return;
    }
    s->handler = h->as_c();
    // The session ends the handler when it is released, the loop's free included
    // (Session::on_loop_free, which releases the handler and its request without callbacks):
    // the request's own release at loop free must leave it alone, or the handler would be
    // released twice.
    h->handed_over();
    s->released = session_released;
    s->released_arg = ep;
    s->next = ep->sessions;
    if (ep->sessions) ep->sessions->prev = s;
    ep->sessions = s;
    s->start(true);
}

// The route's GET callback: checks the opening handshake (RFC 6455 §4.2.1).
void websocket_get(eddy_handler *handle, void *route_userdata) {
    Handler *h = Handler::from_c(handle);
    WsEndpoint *ep = h->route ? h->route->websocket : nullptr;
    http::Request *req = h->req;
    if (!ep) return;
    // The web layer runs GET callbacks for HEAD too; a handshake is a GET only (§4.2.1).
    // HEAD gets what a GET without a valid handshake gets (RFC 9110 §9.3.2); it cannot upgrade.
    if (req->method == "HEAD") return refuse(h, 400, "HEAD cannot open a WebSocket");
    if (req->method != "GET") return refuse(h, 405, "the opening handshake is a GET");
    if (req->version_minor < 1) return refuse(h, 400, "HTTP/1.1 required");
    // Upgrade and Connection are lists, which may come as several field lines (RFC 9110 5.3).
    if (!http::list_contains(req->joined_header("Upgrade"), "websocket"))
        return refuse(h, 400, "no Upgrade: websocket");
    if (!http::list_contains(req->joined_header("Connection"), "upgrade"))
        return refuse(h, 400, "no Connection: upgrade");
    // Exactly one version, 13: repeated lines read as the list "13, 8", which is not 13.
    if (req->joined_header("Sec-WebSocket-Version") != "13") {
        // §4.4: tell the client which version we speak.
        log(LogLevel::info, "websocket: %s: unsupported version", req->remote_ip.c_str());
        h->set_status(426, {});
        // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to (the HTTP layer then lists
        // "upgrade" in Connection, §7.8).
        h->set_header("Upgrade", "websocket", true);
        h->set_header("Content-Type", "text/plain; charset=UTF-8", true);
        h->set_header("Sec-WebSocket-Version", "13", true);
        static const char kBody[] = "Upgrade Required: Sec-WebSocket-Version 13\n";
        h->write(kBody, sizeof kBody - 1);
        h->finish();
        return;
    }
    const http::HeaderField *key = req->find_header("Sec-WebSocket-Key");
    if (!key || !ws::valid_client_key(key->value)) return refuse(h, 400, "bad Sec-WebSocket-Key");
    // §11.3.1: the key MUST NOT appear more than once (which one would the accept answer?).
    size_t keys = 0;
    for (const http::HeaderField &f : req->headers) keys += http::iequals(f.name, "Sec-WebSocket-Key");
    if (keys != 1) return refuse(h, 400, "more than one Sec-WebSocket-Key");

    const http::HeaderField *origin = req->find_header("Origin");
    if (!origin) origin = req->find_header("Sec-WebSocket-Origin");
    bool origin_ok = ep->check_origin
                         ? ep->check_origin(handle, origin ? origin->value.c_str() : nullptr,
                                            origin ? origin->value.size() : 0, route_userdata) != 0
                         : (!origin || same_origin(req, origin->value));
    if (h->finished) return;  // the hook answered itself
    if (!origin_ok) return refuse(h, 403, "cross-origin");

    // Owned here until it is posted (out of memory on the way: 500, from here or the handler's
    // guard).
    std::unique_ptr<Upgrade> up(new (std::nothrow) Upgrade());
    if (!up) return refuse(h, 500, "out of memory");
    up->handler = h;
    up->accept = ws::accept_key(key->value);
    if (up->accept.empty()) return refuse(h, 500, "out of memory");  // no SHA-1 to be had

    std::string offered = req->joined_header("Sec-WebSocket-Protocol");
    if (ep->select_subprotocol && !offered.empty()) {
        std::vector<std::string_view> names = http::split_list(offered);
        std::vector<std::string> copies(names.begin(), names.end());
        std::vector<const char *> ptrs;
        std::vector<size_t> lens;
        for (const std::string &n : copies) ptrs.push_back(n.c_str()), lens.push_back(n.size());
        int pick = ptrs.empty() ? -1
                                : ep->select_subprotocol(handle, ptrs.data(), lens.data(),
                                                         ptrs.size(), route_userdata);
        if (h->finished) return;
        if (pick >= 0 && static_cast<size_t>(pick) < copies.size()) up->subprotocol = copies[pick];
    }

    if (ep->options.compression_flags & EDDY_WS_DEFLATE) {
        std::string extensions = req->joined_header("Sec-WebSocket-Extensions");
        if (!extensions.empty() && ws::negotiate_deflate(extensions, up->params, up->extensions)) {
            up->deflate = true;
            apply_preferences(ep->options, up->params, up->extensions);
        }
    }

    // A call with a free function, not a bare post: a loop freed before it runs drops posts
    // without a word, and the record would leak.
    if (!req->server->loop()->call_soon(complete_upgrade, up.get(), release_upgrade))
        return refuse(h, 500, "out of memory");
    up.release();  // release_upgrade's now
    h->detach();
    // A client that half-closed right after its handshake still gets its 101, as any request
    // followed by a half-close gets its answer (Tornado sends the 101, then on_close runs with
    // no close code): the FIN is read by the session, as a connection closed without a close
    // frame (RFC 6455 §7.1.5: 1006), instead of closing the connection before
    // complete_upgrade could answer.
    if (req->conn) req->conn->hold_for_upgrade(req);
}

}  // namespace

WsEndpoint::~WsEndpoint() {
    for (ws::Session *s = sessions; s;) {
        ws::Session *next = s->next;
        s->prev = s->next = nullptr;
        s->released_arg = nullptr;  // we are gone: the release hook must not unlink
        s->abandon();
        s = next;
    }
    sessions = nullptr;
}

int make_websocket_route(Route *route, const ws::Callbacks &callbacks, const ws::Options &options) {
    if (!route->websocket) {
        route->websocket = new (std::nothrow) WsEndpoint();
        if (!route->websocket) return EDDY_ENOMEM;
    }
    route->websocket->callbacks = callbacks;
    route->websocket->options = options;
    route->set_method_callback("GET", websocket_get);
    return 0;
}

}  // namespace eddy::web
