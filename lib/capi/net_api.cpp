// extern "C" shims for eddy/net.h.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <new>

#include "eddy/net.h"
#include "net/address.hpp"
#include "net/connect.hpp"
#include "net/connect_error.hpp"
#include "net/listener.hpp"
#include "stream/stream.hpp"
#include "tls/tls_stream.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"

using eddy::Listener;

namespace {

Listener *Lst(eddy_listener *l) { return reinterpret_cast<Listener *>(l); }
const Listener *Lst(const eddy_listener *l) { return reinterpret_cast<const Listener *>(l); }

void accept_trampoline(Listener *l, int fd, const sockaddr *peer, socklen_t, void *) {
    eddy::Stream *stream = eddy::no_throw("accept", nullptr, [&]() -> eddy::Stream * {
        if (l->c_tls) return eddy::tls::TlsStream::create_server(l->loop_for_capi(), fd, l->c_tls);
        return eddy::Stream::create(l->loop_for_capi(), fd);
    });
    if (!stream) {
        eddy::log(eddy::LogLevel::error, "accept: out of memory, dropping a connection");
        ::close(fd);
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    int port = eddy::format_peer(peer, ip, sizeof ip);
    l->c_accept_cb(reinterpret_cast<eddy_listener *>(l), reinterpret_cast<eddy_stream *>(stream),
                   ip, port, l->c_userdata);
}

struct ConnectRequest {
    eddy_loop *loop;
    eddy_connect_fn cb;
    void *userdata;
    eddy_free_fn free_userdata;
};

void release_connect(void *arg) {
    ConnectRequest *req = static_cast<ConnectRequest *>(arg);
    if (req->free_userdata) req->free_userdata(req->userdata);
    delete req;
}

void connect_done(eddy::Connector *c, eddy::Stream *stream, int error, void *arg) {
    ConnectRequest *req = static_cast<ConnectRequest *>(arg);
    {
        // Why, for eddy_connect_error_detail, while the callback runs (c's text lives until
        // this returns).
        eddy::ConnectFailureScope failure(eddy::Loop::from_c(req->loop), *c, !stream);
        req->cb(req->loop, reinterpret_cast<eddy_stream *>(stream), error, req->userdata);
    }
    release_connect(req);
}

}  // namespace

extern "C" {

EDDY_API eddy_listener *eddy_listener_new(eddy_loop *loop, eddy_accept_fn cb, void *userdata,
                                          eddy_free_fn free_userdata) {
    if (!loop || !cb) return nullptr;
    Listener *l = eddy::no_throw("eddy_listener_new", nullptr, [&] {
        return Listener::create(eddy::Loop::from_c(loop), accept_trampoline, nullptr);
    });
    if (!l) return nullptr;
    l->c_accept_cb = cb;
    l->c_userdata = userdata;
    l->c_free_userdata = free_userdata;
    return reinterpret_cast<eddy_listener *>(l);
}

EDDY_API int eddy_listener_bind(eddy_listener *listener, const char *host, int port, int backlog,
                                int flags) {
    if (!listener) return EDDY_EINVAL;
    return eddy::no_throw("eddy_listener_bind", EDDY_ENOMEM,
                          [&] { return Lst(listener)->bind_tcp(host, port, backlog, flags); });
}

EDDY_API int eddy_listener_bind_unix(eddy_listener *listener, const char *path, int backlog) {
    if (!listener) return EDDY_EINVAL;
    return eddy::no_throw("eddy_listener_bind_unix", EDDY_ENOMEM,
                          [&] { return Lst(listener)->bind_unix(path, backlog); });
}

EDDY_API int eddy_listener_bind_unix_mode(eddy_listener *listener, const char *path, int mode,
                                          int backlog) {
    if (!listener || mode < 0 || mode > 0777) return EDDY_EINVAL;
    return eddy::no_throw("eddy_listener_bind_unix_mode", EDDY_ENOMEM,
                          [&] { return Lst(listener)->bind_unix(path, backlog, mode); });
}

EDDY_API int eddy_listener_add_fd(eddy_listener *listener, int fd) {
    if (!listener) return EDDY_EINVAL;
    return eddy::no_throw("eddy_listener_add_fd", EDDY_ENOMEM,
                          [&] { return Lst(listener)->add_fd(fd); });
}

EDDY_API int eddy_listener_port(const eddy_listener *listener) {
    if (!listener) return EDDY_EINVAL;
    return Lst(listener)->port();
}

EDDY_API int eddy_listener_socket_count(const eddy_listener *listener) {
    return listener ? Lst(listener)->socket_count() : 0;
}

EDDY_API int eddy_listener_socket_fd(const eddy_listener *listener, int index) {
    if (!listener) return EDDY_EINVAL;
    int fd = Lst(listener)->socket_fd(index);
    return fd >= 0 ? fd : EDDY_ENOENT;
}

EDDY_API int eddy_listener_stop(eddy_listener *listener) {
    if (!listener) return EDDY_EINVAL;
    Lst(listener)->stop();
    return 0;
}

EDDY_API void eddy_listener_free(eddy_listener *listener) {
    if (listener) Lst(listener)->destroy();
}

EDDY_API int eddy_connect(eddy_loop *loop, const char *host, int port, double timeout,
                          eddy_connect_fn cb, void *userdata, eddy_free_fn free_userdata) {
    return eddy_connect_with_options(loop, host, port, timeout, nullptr, cb, userdata,
                                     free_userdata);
}

EDDY_API eddy_connect_options *eddy_connect_options_new(void) {
    return reinterpret_cast<eddy_connect_options *>(new (std::nothrow) eddy::ConnectOptions());
}

EDDY_API void eddy_connect_options_free(eddy_connect_options *options) {
    delete reinterpret_cast<eddy::ConnectOptions *>(options);
}

EDDY_API int eddy_connect_options_set_family(eddy_connect_options *options, int family) {
    if (!options) return EDDY_EINVAL;
    int af;
    switch (family) {
    case EDDY_FAMILY_ANY: af = AF_UNSPEC; break;
    case EDDY_FAMILY_IPV4: af = AF_INET; break;
    case EDDY_FAMILY_IPV6: af = AF_INET6; break;
    default: return EDDY_EINVAL;
    }
    reinterpret_cast<eddy::ConnectOptions *>(options)->family = af;
    return 0;
}

EDDY_API int eddy_connect_options_set_source(eddy_connect_options *options, const char *ip,
                                             int port) {
    if (!options || port < 0 || port > 65535) return EDDY_EINVAL;
    eddy::ConnectOptions o = *reinterpret_cast<eddy::ConnectOptions *>(options);
    o.source = {};
    o.source_len = 0;
    o.source_has_ip = ip != nullptr;
    if (ip) {
        // Numeric only: a name would need a lookup, and which of its addresses is meant?
        auto *sin = reinterpret_cast<sockaddr_in *>(&o.source);
        auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&o.source);
        if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            o.source_len = sizeof *sin;
        } else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
            sin6->sin6_family = AF_INET6;
            o.source_len = sizeof *sin6;
        } else {
            return EDDY_EINVAL;
        }
    }
    o.source_port = port;
    o.bind_source = ip != nullptr || port != 0;
    *reinterpret_cast<eddy::ConnectOptions *>(options) = o;
    return 0;
}

EDDY_API int eddy_connect_with_options(eddy_loop *loop, const char *host, int port, double timeout,
                                       const eddy_connect_options *options, eddy_connect_fn cb,
                                       void *userdata, eddy_free_fn free_userdata) {
    if (!loop || !cb) return EDDY_EINVAL;
    ConnectRequest *req = new (std::nothrow) ConnectRequest{loop, cb, userdata, free_userdata};
    if (!req) return EDDY_ENOMEM;
    int rc = eddy::no_throw("eddy_connect", EDDY_ENOMEM, [&] {
        return eddy::Connector::start(eddy::Loop::from_c(loop), host, port, timeout, connect_done,
                                      req, release_connect, nullptr,
                                      reinterpret_cast<const eddy::ConnectOptions *>(options));
    });
    if (rc != 0) delete req;  // the caller keeps userdata
    return rc;
}

EDDY_API const char *eddy_connect_error_detail(const eddy_loop *loop, size_t *len) {
    size_t n = 0;
    const char *d = eddy::connect_failure_detail(eddy::Loop::from_c(loop), &n);
    if (len) *len = n;
    return d;
}

}  // extern "C"
