#include "tls/start_tls.hpp"

#include <sys/socket.h>

#include <netinet/in.h>

#include <new>

#include "eddy/common.h"
#include "net/address.hpp"
#include "stream/stream.hpp"
#include "tls/context.hpp"
#include "tls/tls_stream.hpp"
#include "util/log.hpp"

namespace eddy::tls {

namespace {

// The upgrade in progress. The TLS stream owns it (as its userdata, until it is handed over),
// so whichever way the stream goes — handshake done, closed, loop freed — it is released once.
struct Upgrade {
    StartTlsFn done;
    void *arg;
    void (*release)(void *arg);
};

void release_upgrade(void *p) {
    Upgrade *u = static_cast<Upgrade *>(p);
    if (u->release) u->release(u->arg);
    delete u;
}

// Takes the upgrade back from the stream (which then owns nothing of ours).
Upgrade *take_upgrade(Stream *s) {
    Upgrade *u = static_cast<Upgrade *>(s->c_userdata);
    s->c_userdata = nullptr;
    s->c_free_userdata = nullptr;
    s->set_close_callback(nullptr, nullptr);
    return u;
}

void on_handshake_done(void *arg) {
    TlsStream *s = static_cast<TlsStream *>(arg);
    s->on_handshake_done(nullptr, nullptr);
    Upgrade *u = take_upgrade(s);
    u->done(s, 0, u->arg);  // the stream is the receiver's from here on
    release_upgrade(u);
}

// The stream closed before its handshake completed; it is freed when this returns.
void on_close_before_handshake(Stream *s, int error, void *) {
    Upgrade *u = take_upgrade(s);
    u->done(nullptr, error ? error : EDDY_ECLOSED, u->arg);
    release_upgrade(u);
}

// Where a client keeps the sessions it may resume: per peer and name, apart from the
// "host:port" keys of eddy_connect_tls.
std::string session_key_for(int fd, const std::string &server_name) {
    sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len) != 0) return {};
    if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return {};
    char ip[64];
    int port = format_peer(reinterpret_cast<const sockaddr *>(&peer), ip, sizeof ip);
    return "starttls " + std::string(ip) + " " + std::to_string(port) + " " + server_name;
}

}  // namespace

int start_tls_refusal(const Stream *s) {
    if (s->closed() || s->closing()) return EDDY_ECLOSED;
    if (s->is_tls()) return EDDY_ESTATE;
    // Plaintext the peer sent after its command: the handshake would take it for TLS (and a
    // man in the middle could inject commands that way, CVE-2011-0411). Refused, not dropped.
    if (s->unread_input() > 0) return EDDY_ESTATE;
    if (s->reading() || s->unsent_bytes() > 0 || s->write_callbacks_pending()) return EDDY_EBUSY;
    return 0;
}

int start_tls(Stream *stream, Context *ctx, bool server, const std::string &server_name,
              StartTlsFn done, void *arg, void (*release)(void *)) {
    if (!stream || !ctx || !done || ctx->is_server() != server) return EDDY_EINVAL;
    if (int refused = start_tls_refusal(stream)) return refused;
    Upgrade *u = new (std::nothrow) Upgrade{done, arg, release};
    if (!u) return EDDY_ENOMEM;
    int fd = stream->fd();
    TlsStream *tls = nullptr;
    try {
        // The SSL object at once, not at the client's first bytes: running out of memory for
        // it stays this call's EDDY_ENOMEM (a STARTTLS client sends its hello right away).
        tls = server ? TlsStream::create_server(stream->loop(), fd, ctx, /*ssl_now=*/true)
                     : TlsStream::create_client(stream->loop(), fd, ctx, server_name,
                                                session_key_for(fd, server_name));
    } catch (...) {  // the session key's string
        tls = nullptr;
    }
    if (!tls) {
        delete u;  // the caller keeps `arg`; the plain stream is untouched
        return EDDY_ENOMEM;
    }
    // From here nothing can fail: the socket is the TLS stream's (the checks above are
    // take_fd's own).
    stream->take_fd();
    tls->set_max_buffer_size(stream->max_buffer_size());
    tls->c_userdata = u;
    tls->c_free_userdata = release_upgrade;
    tls->set_close_callback(on_close_before_handshake, nullptr);
    tls->on_handshake_done(on_handshake_done, tls);
    return 0;
}

}  // namespace eddy::tls
