#include "http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <new>

#include "http/connection.hpp"
#include "http/proxy_handshake.hpp"
#include "http/request_pool.hpp"
#include "net/address.hpp"
#include "net/listener.hpp"
#include "stream/stream.hpp"
#include "tls/context.hpp"
#include "tls/tls_stream.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"

namespace eddy::http {

Server *Server::create(Loop *loop, eddy_request_fn on_request, void *userdata,
                       eddy_free_fn free_userdata) {
    if (!loop || !on_request) return nullptr;
    Server *s = new (std::nothrow) Server(loop);
    if (!s) return nullptr;
    s->on_request_ = on_request;
    s->userdata_ = userdata;
    s->free_userdata_ = free_userdata;
    s->done_timer_.fire = run_shutdown_done;
    s->done_timer_.owner = s;
    s->request_pool_ = new (std::nothrow) RequestPool();  // without it: plain allocation
    loop->add_resource(s);
    return s;
}

Server::~Server() {
    shutting_down_ = false;  // no shutdown completion while tearing down
    if (listener_) listener_->destroy();
    if (loop_) {
        loop_->remove_resource(this);
        while (handshakes_) handshakes_->close_now();    // unlinks itself
        while (connections_) connections_->close_now();  // unlinks itself
        loop_->timer_stop(&done_timer_);
    }
    while (orphans_) drop_orphan(orphans_);  // (their finish then logs nothing)
    release_userdata();
    if (request_pool_) request_pool_->close();  // after the connections: they release requests
}

void Server::adopt_orphan(Request *req) {
    if (req->orphan_) return;
    req->orphan_ = true;
    req->orphan_prev_ = nullptr;
    req->orphan_next_ = orphans_;
    if (orphans_) orphans_->orphan_prev_ = req;
    orphans_ = req;
}

void Server::drop_orphan(Request *req) {
    if (!req->orphan_) return;
    if (req->orphan_prev_) {
        req->orphan_prev_->orphan_next_ = req->orphan_next_;
    } else {
        orphans_ = req->orphan_next_;
    }
    if (req->orphan_next_) req->orphan_next_->orphan_prev_ = req->orphan_prev_;
    req->orphan_ = false;
    req->orphan_prev_ = req->orphan_next_ = nullptr;
    req->server = nullptr;
}

void Server::release_userdata() {
    if (done_free_) done_free_(done_userdata_);
    if (access_free_) access_free_(access_userdata_);
    if (free_userdata_) free_userdata_(userdata_);
    done_free_ = access_free_ = free_userdata_ = nullptr;
    done_cb_ = nullptr;
    access_cb_ = nullptr;
    if (tls_) tls_->unref();
    tls_ = nullptr;
}

void Server::set_tls(tls::Context *ctx) {
    if (ctx) ctx->ref();
    if (tls_) tls_->unref();
    tls_ = ctx;
}

void Server::on_loop_free() {
    // The loop frees the streams (without callbacks); here the connection objects go, and
    // requests the application still holds are detached so that finishing them later just
    // releases them. The server itself stays until its owner frees it (eddy_server_free or
    // its app), inert: the listener lets go of the loop on its own.
    while (handshakes_) {
        ProxyHandshake *h = handshakes_;
        handshakes_ = h->next;
        h->detach_for_loop_free();
    }
    while (connections_) {
        Connection *c = connections_;
        connections_ = c->next;
        c->detach_for_loop_free();
    }
    connection_count_ = 0;
    shutting_down_ = false;
    loop_->timer_stop(&done_timer_);
    release_userdata();
    loop_ = nullptr;
}

void Server::destroy() {
    if (!dispatching_ || !loop_) {
        delete this;
        return;
    }
    retire();
    if (!loop_->delete_soon(this))
        log(LogLevel::error, "http: out of memory: a server freed inside its callback is leaked");
}

void Server::retire() {
    if (retired_ || !loop_) return;
    retired_ = true;
    release_userdata();
    on_request_ = answer_unavailable;
    on_headers_ = nullptr;
    for (ProxyHandshake *h = handshakes_; h;) {
        ProxyHandshake *next = h->next;
        h->close_now();
        h = next;
    }
    stop_accepting();
}

void Server::stop_accepting() {
    if (listener_) listener_->stop();
    // A PROXY-protocol connection that has sent nothing yet is as idle as a kept-alive one.
    for (ProxyHandshake *h = handshakes_; h;) {
        ProxyHandshake *next = h->next;
        if (h->nothing_received()) h->close_now();
        h = next;
    }
    for (Connection *c = connections_; c;) {
        Connection *next = c->next;
        c->shutdown();  // closes it when idle, else after its current answer
        c = next;
    }
}

void Server::answer_unavailable(eddy_request *creq, void *) {
    Request *req = Request::from_c(creq);
    // One the application took from its headers callback with a close callback stays its own
    // to finish, as http.h promises: releasing it here would leave the application a dangling
    // handle (the connection's close tells it instead).
    if (req->head_delivered && req->close_cb) return;
    req->set_status(503, {});
    req->finish();
}

Listener *Server::ensure_listener() {
    if (!listener_ && loop_) listener_ = Listener::create(loop_, on_accept, this);
    return listener_;
}

int Server::listen(const char *host, int port, int flags) {
    if (shutting_down_ || !loop_) return EDDY_ESTATE;
    Listener *l = ensure_listener();
    return l ? l->bind_tcp(host, port, 0, flags) : EDDY_ENOMEM;
}

int Server::listen_unix(const char *path, int mode) {
    if (shutting_down_ || !loop_) return EDDY_ESTATE;
    Listener *l = ensure_listener();
    return l ? l->bind_unix(path, 0, mode) : EDDY_ENOMEM;
}

int Server::add_listening_fd(int fd) {
    if (shutting_down_ || !loop_) return EDDY_ESTATE;
    Listener *l = ensure_listener();
    return l ? l->add_fd(fd) : EDDY_ENOMEM;
}

int Server::port() const { return listener_ ? listener_->port() : EDDY_ENOENT; }

void Server::on_accept(Listener *, int fd, const sockaddr *peer, socklen_t, void *arg) {
    Server *s = static_cast<Server *>(arg);
    char ip[INET6_ADDRSTRLEN];
    int port = format_peer(peer, ip, sizeof ip);
    if (s->options.max_connections && s->connection_count_ >= s->options.max_connections &&
        !s->reclaim_idle_connection()) {
        log(LogLevel::warning, "http: %zu connections open (the limit), none idle; refusing %s",
            s->connection_count_, ip);
        ::close(fd);
        return;
    }
    // Refused without taking it (a shutdown under way, the loop gone): the fd is ours to close.
    int rc = s->add_connection(fd, ip, port);
    if (rc != 0 && rc != EDDY_ENOMEM) ::close(fd);
}

// At the connection limit, the oldest idle keep-alive connection makes room for a new one (as
// nginx does when it runs out of connections): clients holding idle connections cannot lock
// everyone else out. Its close is under way when this returns (the count drops once it ran).
bool Server::reclaim_idle_connection() {
    Connection *oldest = nullptr;
    for (Connection *c = connections_; c; c = c->next)  // newest first
        if (c->reclaimable()) oldest = c;
    if (!oldest) return false;
    log(LogLevel::info, "http: %zu connections open (the limit); closing an idle one",
        connection_count_);
    oldest->shutdown();
    return true;
}

Stream *Server::make_stream(int fd) {
    Stream *stream = no_throw("http: new connection", nullptr, [&]() -> Stream * {
        if (tls_) {
            tls::TlsStream *tls_stream = tls::TlsStream::create_server(loop_, fd, tls_);
            if (tls_stream) tls_stream->answer_plain_http(true);
            return tls_stream;
        }
        return Stream::create(loop_, fd);
    });
    if (!stream) {
        log(LogLevel::error, "http: out of memory: dropping a new connection");
        ::close(fd);
    }
    return stream;
}

int Server::add_connection(int fd, std::string_view peer_ip, int peer_port) {
    if (!loop_) return EDDY_ESTATE;  // its loop was freed
    if (shutting_down_) return EDDY_ESTATE;  // it takes no new connections, as with listen
    if (options.proxy_protocol) {
        // The header is read off the socket first; the stream (plain or TLS) comes after it.
        // (Out of memory, the constructor's copies throw, with new(nothrow) as without.)
        ProxyHandshake *h = no_throw("http: new connection", nullptr, [&] {
            return new ProxyHandshake(this, fd, std::string(peer_ip), peer_port);
        });
        if (!h) {
            ::close(fd);  // taken from here on: the caller (accept, say) has let go of it
            return EDDY_ENOMEM;
        }
        if (!h->start()) {
            delete h;  // closes the fd
            return EDDY_ENOMEM;
        }
        h->next = handshakes_;
        if (handshakes_) handshakes_->prev = h;
        handshakes_ = h;
        connection_count_++;
        return 0;
    }
    Stream *stream = make_stream(fd);  // taken from here on, as above
    if (!stream) return EDDY_ENOMEM;
    return start_connection(stream, peer_ip, peer_port);
}

int Server::listening_fd(int index) const { return listener_ ? listener_->socket_fd(index) : -1; }

void Server::handshake_ended(ProxyHandshake *h) {
    if (h->prev) {
        h->prev->next = h->next;
    } else if (handshakes_ == h) {
        handshakes_ = h->next;
    }
    if (h->next) h->next->prev = h->prev;
    h->prev = h->next = nullptr;
    connection_count_--;
    maybe_finish_shutdown();
}

int Server::start_connection(Stream *stream, std::string_view peer_ip, int peer_port,
                             bool request_waiting) {
    Connection *conn = no_throw("http: new connection", nullptr, [&] {
        return new Connection(this, stream, std::string(peer_ip), peer_port);
    });
    if (!conn) {
        stream->close();
        return EDDY_ENOMEM;
    }
    conn->next = connections_;
    if (connections_) connections_->prev = conn;
    connections_ = conn;
    connection_count_++;
    // One whose PROXY header completed during a graceful shutdown was accepted before it: a
    // request that came with the header is answered (with Connection: close) rather than
    // dropped; without one it is idle, and closed as the shutdown closes idle connections.
    // Marked before start(), which takes over the bytes that came with the header.
    if (shutting_down_ && request_waiting) conn->serve_last_request();
    conn->start();
    if (shutting_down_ && !request_waiting) conn->shutdown();
    return 0;
}

void Server::connection_closed(Connection *conn) {
    if (conn->prev) {
        conn->prev->next = conn->next;
    } else if (connections_ == conn) {
        connections_ = conn->next;
    }
    if (conn->next) conn->next->prev = conn->prev;
    conn->prev = conn->next = nullptr;
    connection_count_--;
    maybe_finish_shutdown();
}

bool Server::method_allowed(const std::string &method) const {
    // GET and HEAD are always in the list (it only grows): nearly every request stops here.
    if (equals_literal(method, "GET") || equals_literal(method, "HEAD")) return true;
    if (equals_literal(method, "CONNECT")) return false;
    if (options.allow_any_method) return true;
    for (const std::string &m : options.allowed_methods)
        if (m == method) return true;
    return false;
}

int Server::shutdown(eddy_server_done_fn done, void *userdata, eddy_free_fn free_userdata) {
    if (shutting_down_ || !loop_) return EDDY_ESTATE;
    shutting_down_ = true;
    done_cb_ = done;
    done_userdata_ = userdata;
    done_free_ = free_userdata;
    stop_accepting();
    maybe_finish_shutdown();
    return 0;
}

void Server::maybe_finish_shutdown() {
    if (!shutting_down_ || connection_count_ > 0 || shutdown_done_posted_) return;
    shutdown_done_posted_ = true;
    loop_->timer_start(&done_timer_, Loop::now());  // on a later iteration
}

void Server::run_shutdown_done(TimerNode *node) {
    Server *s = static_cast<Server *>(node->owner);
    eddy_server_done_fn cb = s->done_cb_;
    void *userdata = s->done_userdata_;
    eddy_free_fn free_userdata = s->done_free_;
    s->done_cb_ = nullptr;
    s->done_free_ = nullptr;
    s->done_userdata_ = nullptr;
    {
        Dispatch dispatch(s);  // the callback may free the server (the usual end of a shutdown)
        if (cb) cb(s->as_c(), userdata);
    }
    if (free_userdata) free_userdata(userdata);
}

void Server::set_access_log(eddy_request_fn cb, void *userdata, eddy_free_fn free_userdata) {
    if (access_free_) access_free_(access_userdata_);
    // Removing the hook with userdata: nothing will use it, so it is released now (every free
    // function eddy is given runs exactly once).
    if (!cb && free_userdata) free_userdata(userdata);
    access_cb_ = cb;
    access_userdata_ = cb ? userdata : nullptr;
    access_free_ = cb ? free_userdata : nullptr;
}

void Server::log_access(Request *req) {
    // The callback may free the server (also when the request was finished from a timer, not
    // from one of the server's reads): it then waits until this entry is written.
    Dispatch dispatch(this);
    if (access_cb_) access_cb_(req->as_c(), access_userdata_);
    access_log.add(req);
}

}  // namespace eddy::http
