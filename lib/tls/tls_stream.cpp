#include "tls/tls_stream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "http/httputil.hpp"
#include "tls/context.hpp"
#include "tls/socket_bio.hpp"
#include "util/errors.hpp"
#include "util/log.hpp"

namespace eddy::tls {

namespace {
constexpr size_t kRecordSize = 16384;  // one full TLS record per SSL_write
thread_local char t_file_buf[kRecordSize];

bool set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return false;
    return (flags & O_NONBLOCK) || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

bool attach_bio(SSL *ssl, int fd) {
    BIO *bio = new_socket_bio(fd);
    if (!bio) return false;
    SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO (one reference for both directions)
    // Read ahead: one recv takes whatever the socket holds (up to OpenSSL's ~16 KiB record
    // buffer) instead of a 5-byte record header, then its body, then a last recv that says
    // EAGAIN: a keep-alive request costs one read instead of three. The buffer is still
    // released between records (SSL_MODE_RELEASE_BUFFERS) when nothing is left in it.
    SSL_set_read_ahead(ssl, 1);
    return true;
}

bool is_ip_literal(const std::string &host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}
}  // namespace

TlsStream::TlsStream(Loop *loop, int fd, Context *ctx) : Stream(loop, fd), ctx_(ctx) {
    ctx_->ref();
    tls_ = true;
    hs_timer_.fire = on_handshake_timeout;
    hs_timer_.owner = this;
    pending_task_.run = run_pending;
    pending_task_.owner = this;
}

TlsStream::~TlsStream() {
    loop_->timer_stop(&hs_timer_);
    loop_->undefer(&pending_task_);
    if (hs_waiter_) {  // gone without callbacks (the loop was freed): only the release runs
        loop_->undefer(&hs_waiter_->task);
        if (hs_waiter_->release) hs_waiter_->release(hs_waiter_->arg);
    }
    if (ssl_) {
        // SSL_free drops the session from the server's cache (and marks it not resumable, which
        // also spoils a client's stored session) unless the shutdown state says "sent". After
        // our close_notify, a peer that just closes its socket (Python, many browsers) takes
        // the unexpected-EOF path of SSL_OP_IGNORE_UNEXPECTED_EOF, which leaves the state at
        // "received" only: every session-ID (TLS 1.2) or stateful-ticket (TLS 1.3 without
        // tickets) resumption then failed. A connection that ended without a TLS error is a
        // sound session (RFC 5246 7.2.1 no longer asks to forget it); OpenSSL itself already
        // dropped those that did end in an error.
        if (hs_done_ && !failed_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl_);
    }
    if (sni_ctx_) sni_ctx_->unref();
    ctx_->unref();
}

bool TlsStream::make_server_ssl() {
    ssl_ = SSL_new(ctx_->ssl_ctx());
    if (!ssl_ || !attach_bio(ssl_, fd_)) return false;
    // The callbacks (note_alert, note_message, the context's SNI and new-session ones) find
    // the stream through the app data, which OpenSSL keeps in a stack it allocates on first
    // use: out of memory SSL_set_app_data fails and leaves none, and note_alert dereferenced
    // that null at the peer's close_notify (the wss:// client crashed with SIGSEGV at the
    // server's closing alert). Without it there is no connection.
    if (SSL_set_app_data(ssl_, this) != 1) return false;
    SSL_set_msg_callback(ssl_, note_message);
    SSL_set_accept_state(ssl_);
    return true;
}

void TlsStream::start_handshake_timer() {
    if (ctx_->handshake_timeout > 0)
        loop_->timer_start(&hs_timer_, Loop::now() + ctx_->handshake_timeout);
}

TlsStream *TlsStream::create_server(Loop *loop, int fd, Context *ctx, bool ssl_now) {
    if (!loop || fd < 0 || !ctx || !ctx->is_server() || !set_nonblocking(fd)) return nullptr;
    TlsStream *s = new (std::nothrow) TlsStream(loop, fd, ctx);
    if (!s) return nullptr;
    if (ssl_now && !s->make_server_ssl()) {
        log(LogLevel::error, "tls: cannot set up a connection: %s", openssl_errors().c_str());
        s->fd_ = -1;  // the caller keeps the fd
        s->on_loop_free();
        return nullptr;
    }
    // Otherwise the SSL object (with its BIO and app data: ~8.9 KB of the ~9.7 KB of server
    // memory a silent HTTPS connection cost, 0.8 KB now) waits for the client's first bytes:
    // begin_server_handshake(). The handshake timeout counts from now all the same, so a
    // client that never sends is closed as before.
    s->hs_want_ = EV_READ;
    s->start_handshake_timer();
    s->apply_interest();
    return s;
}

// The socket of a server stream without an SSL object became readable: the ClientHello (or
// whatever the peer sent instead) has begun, or the peer left without a byte (a port scanner,
// a load balancer's TCP health check) — then the connection ends as the handshake would have
// ended it, without making an SSL object and its 16 KB read buffer first.
bool TlsStream::begin_server_handshake() {
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
    if (n <= 0) {
        end_failed_handshake(n == 0 ? "the peer closed the connection" : strerror(errno), true);
        return false;
    }
    if (!make_server_ssl()) {
        // Only out of memory: what the caller of create_server would have been told.
        log(LogLevel::error, "tls fd %d: cannot set up a connection: %s", fd_,
            openssl_errors().c_str());
        failed_ = true;
        close(EDDY_ENOMEM);
        return false;
    }
    return true;
}

// Notes a close_notify from the peer: an EOF without one may be a truncation (RFC 9112 §9.8),
// which SSL_OP_IGNORE_UNEXPECTED_EOF otherwise makes look like a clean close.
void TlsStream::note_alert(const SSL *ssl, int where, int value) {
    // SSL_CB_READ_ALERT is two bits (alert, read): both must be set, not either.
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && (value & 0xff) == SSL3_AD_CLOSE_NOTIFY)
        static_cast<TlsStream *>(SSL_get_app_data(ssl))->close_notify_received_ = true;
}

namespace {
// Post-handshake messages allowed at once, and the seconds that earn one more. Legitimate peers
// send a few (session tickets, a rare KeyUpdate); a peer that sends them without end made one
// SSL_read answer each in turn — every KeyUpdate asking for ours is a write — and held the
// loop for seconds (193,406 sends, two epoll_waits, for 200,000 KeyUpdates).
constexpr double kPostHandshakeBurst = 32;
constexpr double kSecondsPerPostHandshakeMessage = 10;
}  // namespace

namespace {
// A record header (5 bytes) that is printable ASCII: text where a TLS record was due (no TLS
// record's is: its version's first byte is 3). A plain HTTP request in any method or case
// ("DELETE /", "get /"), or a person typing at the port.
bool is_text(const void *data, size_t len) {
    const unsigned char *p = static_cast<const unsigned char *>(data);
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}
}  // namespace

void TlsStream::note_message(int write_p, int, int content_type, const void *buf, size_t len,
                             SSL *ssl, void *) {
    if (write_p) return;
    TlsStream *s = static_cast<TlsStream *>(SSL_get_app_data(ssl));
    if (!s) return;
    if (content_type == SSL3_RT_HEADER) {
        // OpenSSL shows each record's header before it checks it: the first one tells
        // fail_handshake() whether text came instead of TLS.
        if (!s->first_record_seen_) {
            s->first_record_seen_ = true;
            s->first_record_text_ = is_text(buf, len);
        }
        return;
    }
    if (content_type == SSL3_RT_HANDSHAKE && s->hs_done_) s->count_post_handshake_message();
}

void TlsStream::count_post_handshake_message() {
    double now = Loop::now();
    double earned = (now - post_hs_time_) / kSecondsPerPostHandshakeMessage;
    post_hs_budget_ = std::min(kPostHandshakeBurst, post_hs_budget_ + earned);
    post_hs_time_ = now;
    post_hs_budget_ -= 1;
    if (post_hs_budget_ >= 0 || flooded_) return;
    flooded_ = true;
    log(LogLevel::warning, "tls fd %d: too many post-handshake messages (a KeyUpdate or "
        "renegotiation flood); closing", fd_);
    // OpenSSL is inside SSL_read, working through records it already holds: with the socket
    // shut, its next answer fails to be sent and SSL_read returns the error at once.
    ::shutdown(fd_, SHUT_RDWR);
}

TlsStream *TlsStream::create_client(Loop *loop, int fd, Context *ctx,
                                    const std::string &server_name,
                                    const std::string &session_key) {
    if (!loop || fd < 0 || !ctx || ctx->is_server() || !set_nonblocking(fd)) return nullptr;
    TlsStream *s = new (std::nothrow) TlsStream(loop, fd, ctx);
    if (!s) return nullptr;
    bool ok = true;
    try {
        s->session_key_ = session_key;
    } catch (...) {
        ok = false;
    }
    ok = ok && (s->ssl_ = SSL_new(ctx->ssl_ctx())) != nullptr;
    if (ok && !server_name.empty()) {
        bool ip = is_ip_literal(server_name);
        if (!ip) ok = SSL_set_tlsext_host_name(s->ssl_, server_name.c_str()) == 1;
        if (ok && ctx->verify_peer()) {
            ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl_), server_name.c_str()) ==
                          1
                    : SSL_set1_host(s->ssl_, server_name.c_str()) == 1;
            // RFC 9525 §6.3: names come from subjectAltName only (no fallback to the subject's
            // CN) and a wildcard is a whole left-most label ("*.example.com", not "a*.example.com").
            SSL_set_hostflags(s->ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        }
    }
    if (ok && !session_key.empty()) {
        if (SSL_SESSION *sess = ctx->take_session(session_key)) {
            SSL_set_session(s->ssl_, sess);
            SSL_SESSION_free(sess);
        }
    }
    // The callbacks find the stream through the SSL's app data (see make_server_ssl()).
    ok = ok && attach_bio(s->ssl_, fd) && SSL_set_app_data(s->ssl_, s) == 1;
    if (ok) {
        SSL_set_info_callback(s->ssl_, note_alert);
        SSL_set_msg_callback(s->ssl_, note_message);
        SSL_set_connect_state(s->ssl_);
        s->hs_want_ = EV_WRITE;
        if (ctx->handshake_timeout > 0)
            loop->timer_start(&s->hs_timer_, Loop::now() + ctx->handshake_timeout);
        s->apply_interest();
    }
    if (!ok) {
        log(LogLevel::error, "tls: cannot set up a client connection: %s",
            openssl_errors().c_str());
        s->fd_ = -1;
        s->on_loop_free();
        return nullptr;
    }
    return s;
}

void TlsStream::adopt_context(Context *ctx) {
    ctx->ref();
    if (sni_ctx_) sni_ctx_->unref();
    sni_ctx_ = ctx;
}

// A server stream has no SSL object before its client's first bytes (create_server).
const char *TlsStream::server_name() const {
    return ssl_ ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
}

X509 *TlsStream::peer_certificate() const {
    return ssl_ ? SSL_get0_peer_certificate(ssl_) : nullptr;
}

namespace {
// The name part of a Host value: no port, no IPv6 brackets, no final dot ("Example.com." and
// "example.com" name one host).
std::string_view host_name_part(std::string_view host) {
    host = http::host_without_port(host);
    if (!host.empty() && host.front() == '[') return host.substr(1, host.size() - 2);
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    return host;
}
}  // namespace

// A request on this connection must be for a host the handshake was for (RFC 9110 §7.4: an
// "https" request is served only over a connection secured with a certificate valid for its
// origin, §4.2.2; 421 otherwise). Without SNI there is no claim to compare with (an IP literal,
// a client that sends none). A Host other than the SNI name is served when the certificate in
// use covers it and the SNI callback would pick this same context for it — otherwise a request
// could reach, over a connection made for a name without client certificates, a host whose
// context demands one (nginx answers 421 there too).
bool TlsStream::serves_host(std::string_view host) const {
    if (!ssl_ || !SSL_is_server(ssl_)) return true;
    std::string name(host_name_part(host));
    if (name.empty()) return false;
    for (char &c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    // The context the SNI callback picks for this host must be the one this connection was
    // made with, whatever the client claimed: without SNI, or with a spelling the callback
    // mapped elsewhere, a request could otherwise reach a host whose context demands a client
    // certificate over a connection that was never asked for one.
    Context *in_use = sni_ctx_ ? sni_ctx_ : ctx_;
    if (ctx_->context_for_name(name.c_str()) != in_use) return false;
    const char *sni = server_name();
    if (!sni) return true;  // nothing claimed (an IP literal, a client that sends no SNI)
    std::string_view claimed(sni);
    if (!claimed.empty() && claimed.back() == '.') claimed.remove_suffix(1);
    if (name.size() == claimed.size() && strncasecmp(name.data(), claimed.data(), name.size()) == 0)
        return true;
    X509 *cert = SSL_get_certificate(ssl_);
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, name.c_str(), addr) == 1 ||
                 inet_pton(AF_INET6, name.c_str(), addr) == 1;
    return cert && (is_ip ? X509_check_ip_asc(cert, name.c_str(), 0) == 1
                          : X509_check_host(cert, name.data(), name.size(), 0, nullptr) == 1);
}

// ---- handshake -------------------------------------------------------------------------------

void TlsStream::handshake() {
    ERR_clear_error();
    BIO *bio = SSL_get_rbio(ssl_);  // the socket BIO (writes go through it too)
    uint64_t written_before = BIO_number_written(bio);
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        // The peer's last flight ended the handshake and we had nothing to answer (a resumed
        // TLS 1.2 handshake; TLS 1.3 without tickets): acknowledge it now. In a resumed TLS 1.2
        // (or older) handshake the client's Finished is always last, even when this same call
        // wrote our flight: a client quick enough (or a server held off the CPU after its
        // write) has its Finished read before the call returns, and "nothing written" missed
        // exactly that case, leaving the ACK to the 40 ms timer on loaded hosts.
        bool peer_spoke_last = BIO_number_written(bio) == written_before ||
                               (SSL_session_reused(ssl_) && SSL_version(ssl_) < TLS1_3_VERSION);
        if (SSL_is_server(ssl_) && peer_spoke_last) push_ack();
        hs_done_ = true;
        hs_want_ = 0;
        post_hs_budget_ = kPostHandshakeBurst;
        post_hs_time_ = Loop::now();
        loop_->timer_stop(&hs_timer_);
        const unsigned char *proto = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(ssl_, &proto, &len);
        if (proto && len) alpn_.assign(reinterpret_cast<const char *>(proto), len);
        EDDY_LOG_DEBUG_IF("tls fd %d: %s handshake done (%s, alpn '%s', %s)", fd_,
                          SSL_is_server(ssl_) ? "server" : "client", SSL_get_version(ssl_),
                          alpn_.c_str(), SSL_session_reused(ssl_) ? "resumed" : "full");
        if (auto fn = hs_done_fn_) {
            hs_done_fn_ = nullptr;
            fn(hs_done_arg_);
        }
        if (hs_waiter_ && !closed()) notify_handshake_waiter(0);
        apply_interest();
        // Whatever waited for the handshake goes now.
        if (has_output()) flush();
        if (wants_socket_read()) read_ready();
        drain_pending();
        return;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
        hs_want_ = EV_READ;
    } else if (err == SSL_ERROR_WANT_WRITE) {
        hs_want_ = EV_WRITE;
    } else {
        fail_handshake(err);
        return;
    }
    apply_interest();
}

void TlsStream::push_ack() {
    // A client with Nagle's algorithm on (Python's ssl and http.client, any client that does
    // not set TCP_NODELAY) holds its first request until the segment with its Finished is
    // acknowledged. The server is in the kernel's interactive mode after sending its own
    // flight, so that ACK waits for the delayed-ACK timer: 40 ms per resumed connection on
    // Linux. TCP_QUICKACK sends the pending ACK at once; with no ACK pending, or unread input
    // (the reply will carry the ACK), it only leaves interactive mode. ENOPROTOOPT on non-TCP
    // sockets is ignored.
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

void TlsStream::fail_handshake(int ssl_error) {
    failed_ = true;
    std::string why;
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
        why = std::string("certificate verification: ") + X509_verify_cert_error_string(verify);
        ERR_clear_error();
    } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        // A clean end of the stream before the handshake completed (a client that connects and
        // leaves, a port scanner): OpenSSL queues no error for it.
        ERR_clear_error();
        why = "the peer closed the connection";
    } else if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        why = errno ? strerror(errno) : "the peer closed the connection";
    } else {
        why = openssl_errors();  // "http request", "wrong version number"
        // Text instead of the first record: OpenSSL knows only "GET ", "POST", "HEAD", "PUT "
        // (and "CONNE", as another reason) by name, and DELETE, OPTIONS, PATCH, a lower-case
        // "get" or a person typing went without an answer. nginx answers every plain request
        // with its 400; binary bytes that are not TLS still get none (nobody reads it).
        // A text record always fails right here (its version byte is not 3): one answer, at
        // most, per connection.
        if (first_record_text_ && answer_plain_http_ && SSL_is_server(ssl_) &&
            send_plain_http_refusal()) {
            linger_after_refusal(std::move(why));
            return;
        }
    }
    end_failed_handshake(std::move(why), SSL_is_server(ssl_));
}

// The 400 went out, but the request may be longer than what was read before it was decided
// (a POST's body, pipelined requests: OpenSSL's read-ahead takes at most ~16 KB). Closing with
// that input unread makes the kernel answer with a reset, and a client still sending (or a
// network that reorders) loses the 400 under it. So, as the plain HTTP server does for its
// own 400s (and nginx for this one: a lingering close), the socket is half-closed and its
// input read and discarded, raw, for up to the stream's linger time and byte budget
// (Stream::close_after_flush), then closed. The close callback gets 0 then, not EDDY_ETLS:
// only the HTTP server answers plain HTTP, and its connections do not look at the error.
void TlsStream::linger_after_refusal(std::string why) {
    failed_ = true;
    log(LogLevel::info, "tls fd %d: server handshake failed: %s", fd_, why.c_str());
    failure_ = std::move(why);
    loop_->timer_stop(&hs_timer_);  // the linger has its own bound
    refused_plain_http_ = true;
    // No TLS any more on this connection: its SSL object and read buffer (most of a
    // connection's memory) need not wait out the linger. (Outside any OpenSSL call here:
    // handshake() returns once this did.)
    SSL_free(ssl_);
    ssl_ = nullptr;
    close_after_flush();
}

void TlsStream::end_failed_handshake(std::string why, bool server) {
    failed_ = true;
    log(LogLevel::info, "tls fd %d: %s handshake failed: %s", fd_, server ? "server" : "client",
        why.c_str());
    failure_ = std::move(why);
    close(EDDY_ETLS);
}

bool TlsStream::send_plain_http_refusal() {
    static constexpr char kBody[] = "This port needs HTTPS: a plain HTTP request was sent.\n";
    char answer[256];
    int len = snprintf(answer, sizeof answer,
                       "HTTP/1.1 400 Bad Request\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Length: %zu\r\n"
                       "Connection: close\r\n"
                       "\r\n%s",
                       sizeof kBody - 1, kBody);
    if (len <= 0 || static_cast<size_t>(len) >= sizeof answer) return false;
    // One non-blocking send into an empty socket buffer: it fits, and if it does not, the
    // close is all the client gets, as before (nothing to linger for then).
    ssize_t sent = send(fd_, answer, static_cast<size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT);
    return sent == len;
}

void TlsStream::on_handshake_timeout(TimerNode *node) {
    TlsStream *s = static_cast<TlsStream *>(node->owner);
    if (s->closed() || s->hs_done_) return;
    log(LogLevel::info, "tls fd %d: handshake timed out", s->fd_);
    s->failed_ = true;
    s->close(EDDY_ETIMEDOUT);
}

int TlsStream::wait_for_handshake(HandshakeWaitFn fn, void *arg, void (*release)(void *)) {
    if (!fn) return EDDY_EINVAL;
    if (closed()) return EDDY_ECLOSED;
    if (hs_waiter_) return EDDY_EBUSY;
    hs_waiter_.reset(new (std::nothrow) HandshakeWaiter{fn, arg, release, DeferredTask{}});
    if (!hs_waiter_) return EDDY_ENOMEM;
    hs_waiter_->task.run = run_handshake_waiter;
    hs_waiter_->task.owner = this;
    // Already done: told at the end of this pass, never inside this call.
    if (hs_done_) loop_->defer(&hs_waiter_->task);
    return 0;
}

void TlsStream::run_handshake_waiter(DeferredTask *task) {
    static_cast<TlsStream *>(task->owner)->notify_handshake_waiter(0);
}

void TlsStream::notify_handshake_waiter(int error) {
    std::unique_ptr<HandshakeWaiter> w = std::move(hs_waiter_);
    if (!w) return;
    loop_->undefer(&w->task);
    w->fn(this, error, w->arg);
    if (w->release) w->release(w->arg);
}

void TlsStream::before_close_callback(int error) {
    // A handshake that completed stays completed, whatever ended the stream since.
    if (hs_waiter_) notify_handshake_waiter(hs_done_ ? 0 : (error ? error : EDDY_ECLOSED));
}

// ---- readiness -------------------------------------------------------------------------------

void TlsStream::on_io(short what) {
    if (refused_plain_http_) {  // lingering after the 400: the plain stream's reads discard
        Stream::on_io(what);
        return;
    }
    if (!hs_done_) {
        if (!ssl_ && !begin_server_handshake()) return;
        handshake();
        return;
    }
    if (watching_close_only()) {  // (its input waits decrypted in the stream's buffer)
        on_peer_closed_with_input(what);
        return;
    }
    // A renegotiation-like exchange may make a write wait for input or a read wait for output.
    if ((what & EV_WRITE) || write_wants_read_) flush();
    if (closed()) return;
    if (((what & EV_READ) || read_wants_write_) && wants_socket_read()) read_ready();
    drain_pending();
}

short TlsStream::transport_interest(short want) {
    if (refused_plain_http_) return want;  // (the linger's reads)
    if (!hs_done_) return hs_want_;
    if (write_wants_read_ && (want & EV_WRITE))
        want = static_cast<short>((want & ~EV_WRITE) | EV_READ);
    if (read_wants_write_ && (want & EV_READ)) want = static_cast<short>(want | EV_WRITE);
    // Bytes OpenSSL already took from the socket never make it readable again: hand them over.
    if ((want & EV_READ) && has_buffered_input()) loop_->defer(&pending_task_);
    return want;
}

size_t TlsStream::input_in_transport() const {
    if (ssl_ && (SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_))) return SIZE_MAX;
    return Stream::input_in_transport();
}

bool TlsStream::has_buffered_input() const {
    // Decrypted bytes, or (read ahead) raw records not yet looked at. Raw bytes that OpenSSL
    // already found to be an incomplete record wait for the socket (need_socket_), otherwise
    // the pending task would spin on them.
    return SSL_pending(ssl_) > 0 || (!need_socket_ && SSL_has_pending(ssl_)) || eof_pending_ ||
           error_pending_ != 0;
}

void TlsStream::drain_pending() {
    // Bounded: each round consumes buffered bytes, finds them incomplete (need_socket_) or
    // stops because nobody reads.
    for (int rounds = 0; rounds < 64 && !closed() && wants_socket_read() && has_buffered_input();
         rounds++)
        read_ready();
}

void TlsStream::run_pending(DeferredTask *task) {
    TlsStream *s = static_cast<TlsStream *>(task->owner);
    if (!s->closed() && s->hs_done_) s->drain_pending();
}

// ---- transport -------------------------------------------------------------------------------

ssize_t TlsStream::map_error(int ret, bool reading) {
    int err = SSL_get_error(ssl_, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        if (!reading) write_wants_read_ = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading) read_wants_write_ = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading) return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (errno == 0) {  // EOF without close_notify
                if (reading) return 0;
                errno = EPIPE;
            }
            return -1;
        }
        [[fallthrough]];
    default:
        failed_ = true;
        failure_ = openssl_errors();
        log(LogLevel::info, "tls fd %d: %s", fd_, failure_.c_str());
        errno = kTlsFailureErrno;  // EDDY_ETLS, not a malformed HTTP message
        return -1;
    }
}

ssize_t TlsStream::transport_recv(char *buf, size_t len) {
    // Lingering after the 400: what the client still sends is plain text, read raw to be
    // thrown away (only the linger reads now: close_after_flush ended every other read).
    if (refused_plain_http_) return ::recv(fd_, buf, len, 0);
    if (!hs_done_) {
        errno = EAGAIN;
        return -1;
    }
    if (error_pending_) {
        errno = error_pending_;
        return -1;
    }
    read_wants_write_ = false;
    size_t total = 0;
    while (total < len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        if (SSL_read_ex(ssl_, buf + total, len - total, &n) == 1) {
            total += n;
            need_socket_ = false;
            // Nothing left in OpenSSL: another SSL_read would only ask the socket, which the
            // read-ahead recv just emptied (or, if more arrived, level-triggered readiness
            // brings us back). Saves a recv that says EAGAIN per read.
            if (!SSL_has_pending(ssl_)) break;
            continue;
        }
        int err = SSL_get_error(ssl_, 0);
        if (err == SSL_ERROR_WANT_READ) need_socket_ = true;
        if (total > 0) {
            // The error (or EOF) comes back on the next call. A close_notify read with the
            // data must bring that call about itself: the socket may never be readable again
            // (a peer that waits for our close_notify before it closes). So must a failure:
            // OpenSSL does not report one twice — after a fatal error (a bad record, its own
            // allocation failing) the next SSL_read says SSL_ERROR_SYSCALL with nothing
            // queued, which reads as an EOF without close_notify.
            if (err == SSL_ERROR_ZERO_RETURN) {
                eof_pending_ = true;
            } else if ((err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) &&
                       map_error(0, true) < 0) {
                error_pending_ = errno;  // map_error logged it and kept OpenSSL's reason
            }
            ERR_clear_error();
            break;
        }
        return map_error(0, true);
    }
    if (read_wants_write_) apply_interest();
    return static_cast<ssize_t>(total);
}

ssize_t TlsStream::transport_read(evbuffer *in, size_t hint) {
    evbuffer_iovec vec[2];
    int nvec = evbuffer_reserve_space(in, static_cast<ev_ssize_t>(hint), vec, 2);
    if (nvec <= 0) {
        errno = ENOMEM;
        return -1;
    }
    // libevent may reserve more than asked: decrypt no more than `hint` (read_ready's bound,
    // which keeps max_buffer_size; what a record holds beyond it waits in OpenSSL's buffer).
    size_t total = 0;
    ssize_t last = 0;
    int used = 0;
    for (int i = 0; i < nvec && total < hint; i++) {
        size_t want = std::min(vec[i].iov_len, hint - total);
        last = transport_recv(static_cast<char *>(vec[i].iov_base), want);
        if (last <= 0) {
            vec[i].iov_len = 0;
            break;
        }
        total += static_cast<size_t>(last);
        used = i + 1;
        bool full = static_cast<size_t>(last) == want;
        vec[i].iov_len = static_cast<size_t>(last);
        if (!full) break;
    }
    int saved = errno;
    evbuffer_commit_space(in, vec, used);
    if (total > 0) return static_cast<ssize_t>(total);
    errno = saved;
    return last;
}

ssize_t TlsStream::transport_write(evbuffer *out, size_t limit) {
    if (!hs_done_) {
        errno = EAGAIN;
        return -1;
    }
    write_wants_read_ = false;
    size_t total = 0;
    while (total < limit) {
        size_t avail = std::min(evbuffer_get_length(out), limit - total);
        if (avail == 0) break;
        size_t chunk = std::min(avail, kRecordSize);
        // One contiguous record's worth (a no-op when the first extent already holds it).
        unsigned char *p = evbuffer_pullup(out, static_cast<ev_ssize_t>(chunk));
        if (!p) {
            errno = ENOMEM;
            return total ? static_cast<ssize_t>(total) : -1;
        }
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        if (SSL_write_ex(ssl_, p, chunk, &n) != 1) {
            ssize_t r = map_error(0, false);
            if (write_wants_read_) apply_interest();
            if (total > 0) return static_cast<ssize_t>(total);
            return r;
        }
        evbuffer_drain(out, n);
        total += n;
    }
    return static_cast<ssize_t>(total);
}

ssize_t TlsStream::transport_sendfile(int file_fd, off_t *offset, size_t len) {
    if (!hs_done_) {
        errno = EAGAIN;
        return -1;
    }
    // No sendfile through userspace TLS: read a record's worth and encrypt it. A retry after
    // WANT_WRITE reads the same bytes again from the same offset, as OpenSSL requires.
    write_wants_read_ = false;
    size_t want = std::min(len, kRecordSize);
    ssize_t got = pread(file_fd, t_file_buf, want, *offset);
    if (got <= 0) return got;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(ssl_, t_file_buf, static_cast<size_t>(got), &n) != 1) {
        ssize_t r = map_error(0, false);
        if (write_wants_read_) apply_interest();
        return r;
    }
    *offset += static_cast<off_t>(n);
    return static_cast<ssize_t>(n);
}

void TlsStream::transport_closing() {
    if (shutdown_sent_ || !hs_done_ || failed_ || !ssl_ || closing_abruptly()) return;
    shutdown_sent_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_);  // best effort: queue close_notify, never wait for the peer's
    ERR_clear_error();
}

}  // namespace eddy::tls
