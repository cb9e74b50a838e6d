// extern "C" shims for eddy/tls.h.
#include <openssl/err.h>
#include <unistd.h>

#include <new>
#include <string>

#include "eddy/tls.h"
#include "http/connection.hpp"
#include "http/request.hpp"
#include "http/server.hpp"
#include "net/connect.hpp"
#include "net/connect_error.hpp"
#include "net/listener.hpp"
#include "stream/stream.hpp"
#include "tls/context.hpp"
#include "tls/start_tls.hpp"
#include "tls/tls_stream.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"

using eddy::tls::Context;

namespace {

Context *Ctx(eddy_tls_context *c) { return Context::from_c(c); }

const eddy::tls::TlsStream *tls_of(const eddy_stream *stream) {
    const eddy::Stream *s = reinterpret_cast<const eddy::Stream *>(stream);
    return s && s->is_tls() ? static_cast<const eddy::tls::TlsStream *>(s) : nullptr;
}

// The TLS stream of a request's connection; *closed is set when the connection is gone.
const eddy::tls::TlsStream *tls_of(const eddy_request *r, bool *closed) {
    const eddy::http::Request *req = eddy::http::Request::from_c(r);
    *closed = !req->connected();
    if (*closed) return nullptr;
    return tls_of(reinterpret_cast<const eddy_stream *>(req->conn->stream()));
}

int copy_certificate(X509 *cert, unsigned char *buf, size_t *len) {
    if (!cert) return EDDY_ENOENT;
    int need = i2d_X509(cert, nullptr);
    if (need <= 0) return EDDY_ENOMEM;
    size_t cap = *len;
    *len = static_cast<size_t>(need);
    if (!buf || cap < static_cast<size_t>(need)) return EDDY_ETOOBIG;
    unsigned char *p = buf;
    return i2d_X509(cert, &p) == need ? 0 : EDDY_ENOMEM;
}

// A server context with a certificate and the key that goes with it (a failed key load leaves
// the first without the second, and every handshake would then fail).
bool serving_context(eddy_tls_context *ctx) {
    SSL_CTX *ssl_ctx = Ctx(ctx)->ssl_ctx();
    if (Ctx(ctx)->is_server() && SSL_CTX_get0_certificate(ssl_ctx) &&
        SSL_CTX_check_private_key(ssl_ctx) == 1)
        return true;
    ERR_clear_error();
    return false;
}

// A verifying client context with no name to verify (NULL or ""): it would check the chain but
// not whose it is, so the connect or upgrade is refused.
bool verifies_without_name(eddy_tls_context *ctx, const char *name) {
    return Ctx(ctx)->verify_peer() && (!name || !*name);
}

struct TlsConnectRequest {
    eddy_loop *loop;
    Context *ctx;
    std::string server_name;
    std::string session_key;
    eddy_connect_fn cb;
    void *userdata;
    eddy_free_fn free_userdata;
};

void release_tls_connect(void *arg) {
    TlsConnectRequest *req = static_cast<TlsConnectRequest *>(arg);
    if (req->free_userdata) req->free_userdata(req->userdata);
    req->ctx->unref();
    delete req;
}

void tls_connect_done(eddy::Connector *c, eddy::Stream *stream, int error, void *arg) {
    TlsConnectRequest *req = static_cast<TlsConnectRequest *>(arg);
    // Why, for eddy_connect_error_detail: the connector's failure (an out-of-memory TLS stream
    // has only its code).
    const bool connect_failed = !stream;
    eddy::Stream *out = nullptr;
    if (stream) {
        int fd = stream->take_fd();
        out = eddy::no_throw("eddy_connect_tls", nullptr, [&] {
            return eddy::tls::TlsStream::create_client(eddy::Loop::from_c(req->loop), fd, req->ctx,
                                                       req->server_name, req->session_key);
        });
        if (!out) {
            ::close(fd);
            error = EDDY_ENOMEM;
        }
    }
    {
        eddy::ConnectFailureScope failure(eddy::Loop::from_c(req->loop), *c, connect_failed);
        req->cb(req->loop, reinterpret_cast<eddy_stream *>(out), error, req->userdata);
    }
    release_tls_connect(req);
}

// A C callback and its userdata, for start_tls and wait_for_handshake.
template <typename Fn>
struct CCallback {
    eddy_loop *loop;
    Fn cb;
    void *userdata;
    eddy_free_fn free_userdata;
};

template <typename Fn>
void release_c_callback(void *arg) {
    CCallback<Fn> *c = static_cast<CCallback<Fn> *>(arg);
    if (c->free_userdata) c->free_userdata(c->userdata);
    delete c;
}

void start_tls_done(eddy::tls::TlsStream *stream, int error, void *arg) {
    auto *c = static_cast<CCallback<eddy_start_tls_fn> *>(arg);
    c->cb(c->loop, reinterpret_cast<eddy_stream *>(static_cast<eddy::Stream *>(stream)), error,
          c->userdata);
}

void handshake_waited(eddy::tls::TlsStream *stream, int error, void *arg) {
    auto *c = static_cast<CCallback<eddy_handshake_fn> *>(arg);
    c->cb(reinterpret_cast<eddy_stream *>(static_cast<eddy::Stream *>(stream)), error, c->userdata);
}

}  // namespace

extern "C" {

EDDY_API eddy_tls_context *eddy_tls_context_new_server(void) {
    Context *c = eddy::no_throw("eddy_tls_context_new_server", nullptr,
                                [] { return Context::create(true); });
    return c ? c->as_c() : nullptr;
}

EDDY_API eddy_tls_context *eddy_tls_context_new_client(void) {
    Context *c = eddy::no_throw("eddy_tls_context_new_client", nullptr,
                                [] { return Context::create(false); });
    return c ? c->as_c() : nullptr;
}

EDDY_API void eddy_tls_context_free(eddy_tls_context *ctx) {
    if (ctx) Ctx(ctx)->unref();
}

EDDY_API int eddy_tls_context_load_cert_file(eddy_tls_context *ctx, const char *cert_path,
                                             const char *key_path) {
    if (!ctx) return EDDY_EINVAL;
    return eddy::no_throw("eddy_tls_context_load_cert_file", EDDY_ENOMEM,
                          [&] { return Ctx(ctx)->load_cert_file(cert_path, key_path); });
}

EDDY_API int eddy_tls_context_load_cert_mem(eddy_tls_context *ctx, const char *cert_pem,
                                            size_t cert_len, const char *key_pem, size_t key_len) {
    if (!ctx) return EDDY_EINVAL;
    return eddy::no_throw("eddy_tls_context_load_cert_mem", EDDY_ENOMEM, [&] {
        return Ctx(ctx)->load_cert_mem(cert_pem, cert_len, key_pem, key_len);
    });
}

EDDY_API int eddy_tls_context_load_ca_file(eddy_tls_context *ctx, const char *path) {
    if (!ctx) return EDDY_EINVAL;
    return eddy::no_throw("eddy_tls_context_load_ca_file", EDDY_ENOMEM,
                          [&] { return Ctx(ctx)->load_ca_file(path); });
}

EDDY_API int eddy_tls_context_load_ca_mem(eddy_tls_context *ctx, const char *pem, size_t len) {
    if (!ctx) return EDDY_EINVAL;
    return eddy::no_throw("eddy_tls_context_load_ca_mem", EDDY_ENOMEM,
                          [&] { return Ctx(ctx)->load_ca_mem(pem, len); });
}

EDDY_API int eddy_tls_context_set_verify(eddy_tls_context *ctx, int mode) {
    return ctx ? Ctx(ctx)->set_verify(mode) : EDDY_EINVAL;
}

EDDY_API int eddy_tls_context_set_alpn(eddy_tls_context *ctx, const char *const *protocols,
                                       size_t count) {
    if (!ctx) return EDDY_EINVAL;
    return eddy::no_throw("eddy_tls_context_set_alpn", EDDY_ENOMEM,
                          [&] { return Ctx(ctx)->set_alpn(protocols, count); });
}

EDDY_API int eddy_tls_context_set_min_version(eddy_tls_context *ctx, int version) {
    return ctx ? Ctx(ctx)->set_min_version(version) : EDDY_EINVAL;
}

EDDY_API int eddy_tls_context_set_session_tickets(eddy_tls_context *ctx, int enabled) {
    if (!ctx || !Ctx(ctx)->is_server()) return EDDY_EINVAL;
    return Ctx(ctx)->set_session_tickets(enabled != 0);
}

EDDY_API int eddy_tls_context_set_handshake_timeout(eddy_tls_context *ctx, double seconds) {
    if (!ctx || seconds != seconds) return EDDY_EINVAL;
    Ctx(ctx)->handshake_timeout = seconds;
    return 0;
}

EDDY_API int eddy_tls_context_set_sni_callback(eddy_tls_context *ctx, eddy_tls_sni_fn cb,
                                               void *userdata, eddy_free_fn free_userdata) {
    if (!ctx || !Ctx(ctx)->is_server()) return EDDY_EINVAL;
    Ctx(ctx)->set_sni_callback(cb, userdata, free_userdata);
    return 0;
}

EDDY_API int eddy_server_set_tls(eddy_server *server, eddy_tls_context *ctx) {
    if (!server) return EDDY_EINVAL;
    if (ctx) {
        if (!serving_context(ctx)) return EDDY_EINVAL;
    }
    eddy::http::Server::from_c(server)->set_tls(ctx ? Ctx(ctx) : nullptr);
    return 0;
}

EDDY_API int eddy_listener_set_tls(eddy_listener *listener, eddy_tls_context *ctx) {
    if (!listener || (ctx && !serving_context(ctx))) return EDDY_EINVAL;
    reinterpret_cast<eddy::Listener *>(listener)->set_c_tls(ctx ? Ctx(ctx) : nullptr);
    return 0;
}

EDDY_API int eddy_connect_tls(eddy_loop *loop, const char *host, int port, double timeout,
                              eddy_tls_context *ctx, const char *server_name, eddy_connect_fn cb,
                              void *userdata, eddy_free_fn free_userdata) {
    return eddy_connect_tls_with_options(loop, host, port, timeout, nullptr, ctx, server_name, cb,
                                         userdata, free_userdata);
}

EDDY_API int eddy_connect_tls_with_options(eddy_loop *loop, const char *host, int port,
                                           double timeout, const eddy_connect_options *options,
                                           eddy_tls_context *ctx, const char *server_name,
                                           eddy_connect_fn cb, void *userdata,
                                           eddy_free_fn free_userdata) {
    if (!loop || !host || !ctx || !cb || Ctx(ctx)->is_server()) return EDDY_EINVAL;
    if (verifies_without_name(ctx, server_name ? server_name : host)) return EDDY_EINVAL;
    TlsConnectRequest *req = new (std::nothrow) TlsConnectRequest();
    if (!req) return EDDY_ENOMEM;
    try {
        req->server_name = server_name ? server_name : host;
        req->session_key = std::string(host) + ":" + std::to_string(port);
    } catch (...) {
        delete req;
        return EDDY_ENOMEM;
    }
    req->loop = loop;
    req->ctx = Ctx(ctx);
    req->cb = cb;
    req->userdata = userdata;
    req->free_userdata = free_userdata;
    int rc = eddy::no_throw("eddy_connect_tls", EDDY_ENOMEM, [&] {
        return eddy::Connector::start(eddy::Loop::from_c(loop), host, port, timeout,
                                      tls_connect_done, req, release_tls_connect, nullptr,
                                      reinterpret_cast<const eddy::ConnectOptions *>(options));
    });
    if (rc != 0) {
        delete req;
        return rc;
    }
    req->ctx->ref();
    return 0;
}

EDDY_API int eddy_stream_start_tls(eddy_stream *stream, eddy_tls_context *ctx, int server_side,
                                   const char *server_hostname, eddy_start_tls_fn cb,
                                   void *userdata, eddy_free_fn free_userdata) {
    if (!stream || !ctx || !cb) return EDDY_EINVAL;
    if (server_side ? !serving_context(ctx) : Ctx(ctx)->is_server()) return EDDY_EINVAL;
    if (!server_side && verifies_without_name(ctx, server_hostname)) return EDDY_EINVAL;
    eddy::Stream *s = reinterpret_cast<eddy::Stream *>(stream);
    auto *c = new (std::nothrow)
        CCallback<eddy_start_tls_fn>{s->loop()->as_c(), cb, userdata, free_userdata};
    if (!c) return EDDY_ENOMEM;
    int rc = eddy::no_throw("eddy_stream_start_tls", EDDY_ENOMEM, [&] {
        std::string name = !server_side && server_hostname ? server_hostname : "";
        return eddy::tls::start_tls(s, Ctx(ctx), server_side != 0, name, start_tls_done, c,
                                    release_c_callback<eddy_start_tls_fn>);
    });
    if (rc != 0) delete c;  // the caller keeps userdata
    return rc;
}

EDDY_API int eddy_stream_wait_for_handshake(eddy_stream *stream, eddy_handshake_fn cb,
                                            void *userdata, eddy_free_fn free_userdata) {
    eddy::Stream *s = reinterpret_cast<eddy::Stream *>(stream);
    if (!s || !cb || !s->is_tls()) return EDDY_EINVAL;
    auto *c = new (std::nothrow)
        CCallback<eddy_handshake_fn>{s->loop()->as_c(), cb, userdata, free_userdata};
    if (!c) return EDDY_ENOMEM;
    int rc = static_cast<eddy::tls::TlsStream *>(s)->wait_for_handshake(
        handshake_waited, c, release_c_callback<eddy_handshake_fn>);
    if (rc != 0) delete c;
    return rc;
}

EDDY_API int eddy_stream_is_tls(const eddy_stream *stream) {
    return stream && reinterpret_cast<const eddy::Stream *>(stream)->is_tls() ? 1 : 0;
}

EDDY_API const char *eddy_stream_tls_alpn(const eddy_stream *stream) {
    const eddy::Stream *s = reinterpret_cast<const eddy::Stream *>(stream);
    if (!s || !s->is_tls()) return "";
    return static_cast<const eddy::tls::TlsStream *>(s)->alpn();
}

EDDY_API const char *eddy_stream_tls_server_name(const eddy_stream *stream) {
    const eddy::tls::TlsStream *tls = tls_of(stream);
    return tls ? tls->server_name() : nullptr;
}

EDDY_API int eddy_stream_tls_peer_certificate(const eddy_stream *stream, unsigned char *buf,
                                              size_t *len) {
    if (!stream || !len) return EDDY_EINVAL;
    const eddy::tls::TlsStream *tls = tls_of(stream);
    return copy_certificate(tls ? tls->peer_certificate() : nullptr, buf, len);
}

EDDY_API const char *eddy_request_tls_server_name(const eddy_request *req) {
    if (!req) return nullptr;
    bool closed;
    const eddy::tls::TlsStream *tls = tls_of(req, &closed);
    return tls ? tls->server_name() : nullptr;
}

EDDY_API int eddy_request_tls_peer_certificate(const eddy_request *req, unsigned char *buf,
                                               size_t *len) {
    if (!req || !len) return EDDY_EINVAL;
    bool closed;
    const eddy::tls::TlsStream *tls = tls_of(req, &closed);
    if (closed) return EDDY_ECLOSED;
    return copy_certificate(tls ? tls->peer_certificate() : nullptr, buf, len);
}

}  // extern "C"
