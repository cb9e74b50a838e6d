// Fetch: one client request — getting a connection (pool, connect, proxy tunnel, TLS), sending
// the request, redirects and the end of its life. The response side is fetch_response.cpp.
#include <poll.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <new>

#include "client/client.hpp"
#include "http/httputil.hpp"
#include "net/connect.hpp"
#include "stream/stream.hpp"
#include "tls/context.hpp"
#include "tls/tls_stream.hpp"
#include "util/error_detail.hpp"
#include "util/errors.hpp"
#include "util/log.hpp"
#include "util/printable.hpp"

namespace eddy::client {

namespace {
constexpr double kContinueWait = 1.0;  // seconds to wait for "100 Continue" before sending
}  // namespace

Fetch::Fetch(Client *client, std::string method, std::string text)
    : url_text(std::move(text)),
      client_(client),
      loop_(client->loop()),
      method_(std::move(method)) {
    finish_timer_.fire = on_finish_timer;
    finish_timer_.owner = this;
    tunnel_timer_.fire = run_tunnel_tls;
    tunnel_timer_.owner = this;
    connect_timer_.fire = on_connect_timeout;
    connect_timer_.owner = this;
    request_timer_.fire = on_request_timeout;
    request_timer_.owner = this;
    continue_timer_.fire = on_continue_timer;
    continue_timer_.owner = this;
    read_timer_.fire = on_read_timeout;
    read_timer_.owner = this;
    resume_timer_.fire = on_resume_timer;
    resume_timer_.owner = this;
    flush_timer_.fire = on_flush_timer;
    flush_timer_.owner = this;
}

Fetch::~Fetch() {
    if (started_) {  // a fetch never started has no timer (and its client's loop may be gone)
        loop_->timer_stop(&connect_timer_);
        loop_->timer_stop(&request_timer_);
        loop_->timer_stop(&continue_timer_);
        loop_->timer_stop(&finish_timer_);
        loop_->timer_stop(&tunnel_timer_);
        loop_->timer_stop(&read_timer_);
        loop_->timer_stop(&resume_timer_);
        loop_->timer_stop(&flush_timer_);
    }
    if (alive_) *alive_ = false;
    abandon_connect();
    if (stream_) {
        stream_->set_close_callback(nullptr, nullptr);
        stream_->close();
    }
    if (free_userdata_) free_userdata_(userdata_);
}

void Fetch::loop_freed() {
    stream_ = nullptr;  // the loop frees streams on its own
    if (waiter_) waiter_->fetch = nullptr;
    waiter_ = nullptr;
    delete this;
}

int Fetch::lose(const char *what) {
    log(LogLevel::error, "client: out of memory storing the request's %s; it will not be sent",
        what);
    if (started_)
        finish(EDDY_ENOMEM);
    else
        lost_ = true;
    return EDDY_ENOMEM;
}

int Fetch::start(eddy_fetch_done_fn done, void *userdata, eddy_free_fn free_userdata) {
    if (started_) return EDDY_ESTATE;
    if (!done) return EDDY_EINVAL;
    if (lost_) return EDDY_ENOMEM;
    if (!client_->loop()) return EDDY_ESTATE;  // the client's loop was freed
    // eddy_client_free() is running (this is a `done` it called): the client is going. Once
    // its queued and running fetches were ended, one started from the `done` of a fetch that
    // was already finishing was neither: it outlived the client (its `done` came later, from
    // a loop callback that used the freed client).
    if (client_->destroying()) return EDDY_ESTATE;
    if (!parse_url(url_text, &url)) return EDDY_EINVAL;
    for (char c : method_)
        if (!isupper(static_cast<unsigned char>(c)) && c != '-' && c != '_') return EDDY_EINVAL;
    if (method_.empty()) return EDDY_EINVAL;
    // RFC 9110 §9.3.8: a client MUST NOT send content in a TRACE request.
    if (method_ == "TRACE" && (streamed_body || !body.empty())) return EDDY_EINVAL;
    // A CONNECT's target is an authority (RFC 9112 §3.2.3) and its 2xx opens a tunnel
    // (RFC 9110 §9.3.6): a fetch has neither (it sends an origin-form target and would read
    // the tunnel's bytes as a close-delimited body). Tunnels are made by the client's proxy
    // setting; Tornado's client refuses methods it does not know too.
    if (method_ == "CONNECT") return EDDY_EINVAL;
    // An application's own Host must be one (RFC 9110 §7.2): it is sent as it is.
    for (const Header &h : headers)
        if (http::iequals(h.name, "Host") && (h.value.empty() || !http::is_valid_host(h.value)))
            return EDDY_EINVAL;
    // Where a proxy connects is the proxy's business: the two cannot be combined.
    if (!connect_host.empty() && !client_->proxy_host.empty()) return EDDY_EINVAL;
    // connect_to and a Unix socket both say where to connect: one place only.
    if (!connect_host.empty() && !unix_socket.empty()) return EDDY_EINVAL;
    // What may run out of memory comes before the fetch counts as started: until then a
    // failure is EDDY_ENOMEM from here (the C API stops the exception), after it `done` tells.
    std::string text = url.str();
    // The proxy as it is now, for the fetch's whole life (redirects too): read from the client
    // at each step, a eddy_client_set_proxy() while it ran sent an origin-form request to the
    // proxy, or put a direct connection in the pool under the proxy's key, where a later
    // fetch meant for the proxy reused it and went straight to the origin.
    proxy_host_ = client_->proxy_host;
    proxy_port_ = client_->proxy_port;
    if (!connect_host.empty() || !unix_socket.empty()) {
        connect_origin_.scheme = url.scheme;
        connect_origin_.host = url.host;
        connect_origin_.port = url.port;
    }
    client_->make_room();
    if (!ran_without_exception("eddy_fetch_start", [&] { start_timers(); })) {
        loop_->timer_stop(&connect_timer_);
        loop_->timer_stop(&request_timer_);
        return EDDY_ENOMEM;
    }
    started_ = true;
    done_ = done;
    userdata_ = userdata;
    free_userdata_ = free_userdata;
    url_text.swap(text);
    phase_ = Phase::queued;
    int rc = client_->submit(this);
    if (rc != 0) finish(rc);
    return 0;
}

void Fetch::restart_connect_timer() {
    // A pooled connection stops it at once (attach); a new one once connected (or after its
    // TLS handshake).
    if (connect_timeout > 0) loop_->timer_start(&connect_timer_, Loop::now() + connect_timeout);
}

void Fetch::start_timers() {
    restart_connect_timer();
    if (request_timeout > 0) loop_->timer_start(&request_timer_, Loop::now() + request_timeout);
}

int Fetch::cancel() {
    if (!started_ || finishing_) return EDDY_ESTATE;
    finish(EDDY_ECANCELED);
    return 0;
}

void Fetch::abort(int error) { finish(error, true); }

void Fetch::finish(int error, bool now) {
    if (finishing_) return;
    finishing_ = true;
    error_ = error;
    loop_->timer_stop(&connect_timer_);
    loop_->timer_stop(&request_timer_);
    loop_->timer_stop(&continue_timer_);
    loop_->timer_stop(&tunnel_timer_);
    loop_->timer_stop(&read_timer_);
    loop_->timer_stop(&resume_timer_);
    loop_->timer_stop(&flush_timer_);  // run_finish runs the flush callbacks still pending
    abandon_connect();
    if (stream_) detach_stream(false);
    client_->unqueue(this);
    client_->finished(this);
    phase_ = Phase::done;
    if (now) {
        run_finish(this);
    } else {
        // `done` never runs inside a call of the host's: next iteration.
        client_->add_finishing(this);
        loop_->timer_start(&finish_timer_, Loop::now());
    }
}

void Fetch::on_finish_timer(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    f->client_->remove_finishing(f);
    run_finish(f);
}

void Fetch::finish_now() {
    loop_->timer_stop(&finish_timer_);
    client_->remove_finishing(this);
    run_finish(this);
}

void Fetch::run_finish(Fetch *f) {
    f->fail_flushes();
    f->done_(f->as_c(), f->error_, f->userdata_);
    // eddy_client_free() called from this fetch's headers or chunk callback: the parser (or
    // the decoder) that called it still uses the fetch; it goes once they returned.
    if (f->busy_) {
        f->delete_when_idle_ = true;
        return;
    }
    delete f;
}

bool Fetch::deleted_after() {
    if (busy_ || !delete_when_idle_) return false;
    delete this;
    return true;
}

// The timeouts say which one ended the fetch (the code is EDDY_ETIMEDOUT for all).
void Fetch::time_out(const char *what, double seconds, const char *span) {
    char text[96];
    if (phase_ == Phase::queued) {
        // Either timer may end a fetch that never left the client's queue (Tornado's "Timeout
        // in request queue"): say so, it is not the server's slowness.
        snprintf(text, sizeof text, "still queued after %g s (max_clients %zu fetches running)",
                 seconds, client_->max_clients);
    } else {
        snprintf(text, sizeof text, "%s %s %g s", what, span, seconds);
    }
    set_error_detail(error_detail, {text});
    log(LogLevel::info, "client: %s: %s", url_text.c_str(), text);
    finish(EDDY_ETIMEDOUT);
}

void Fetch::on_connect_timeout(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    // Its timer runs from the start: a wait for a free connection slot counts too.
    f->time_out("no connection", f->connect_timeout);
}

void Fetch::on_request_timeout(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    f->time_out("no complete response", f->request_timeout);
}

void Fetch::arm_read_timer() {
    if (read_timeout <= 0 || paused_ || finishing_ || !stream_) return;
    if (phase_ != Phase::reading && phase_ != Phase::waiting_continue) return;
    read_mark_ = stream_->bytes_sent();
    loop_->timer_start(&read_timer_, Loop::now() + read_timeout);
}

// nginx's proxy_read_timeout: the time between two reads, not the whole response's, so that a
// long download that keeps coming is not cut while a server that stalls is noticed.
void Fetch::on_read_timeout(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    if (f->paused_ || f->finishing_) return;  // (stopped by pause_body; kept as a guard)
    // Not the server's silence yet: the TLS handshake still runs (the connect timeout's), the
    // request waits for "100 Continue" (its own one-second timer sends the body then), or it
    // is still going out and the server takes it (a large body).
    // (A final answer that came instead of the 100 stopped that timer: its body is the
    // server's to send, and the read timeout counts again.)
    bool waiting = f->connect_timer_.queued() ||
                   (f->phase_ == Phase::waiting_continue && f->continue_timer_.queued());
    bool sending =
        f->stream_ && f->stream_->has_output() && f->stream_->bytes_sent() != f->read_mark_;
    // Or the server did send and the loop has not read it yet (it was busy elsewhere longer
    // than the timeout): the bytes are in the stream's buffer or in the socket.
    bool unread = false;
    if (f->stream_ && f->stream_->read_buffer_size() > 0) {
        unread = true;
    } else if (f->stream_ && f->stream_->fd() >= 0) {
        pollfd p{f->stream_->fd(), POLLIN, 0};
        unread = ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
    }
    if (waiting || sending || unread) {
        f->arm_read_timer();
        return;
    }
    f->time_out("no data from the server", f->read_timeout, "for");
}

// ---- flow control ------------------------------------------------------------------------------

int Fetch::pause_body() {
    // Without a chunk callback the body is collected: there is nobody to be slow.
    if (!started_ || finishing_ || !on_chunk) return EDDY_ESTATE;
    paused_ = true;
    resume_due_ = false;
    loop_->timer_stop(&resume_timer_);
    // The consumer is slow, not the server: the read timeout waits for the resume. (The
    // request timeout keeps running: it bounds the whole exchange.)
    loop_->timer_stop(&read_timer_);
    return 0;
}

int Fetch::resume_body() {
    if (!started_ || finishing_ || !on_chunk) return EDDY_ESTATE;
    if (!paused_) return 0;
    paused_ = false;
    // The held bytes are delivered from the loop, never inside this call: it may be made from
    // on_chunk itself, where the parser is running.
    resume_due_ = true;
    loop_->timer_start(&resume_timer_, Loop::now());
    return 0;
}

void Fetch::on_resume_timer(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    f->resume_due_ = false;
    if (f->finishing_ || f->paused_) return;
    f->guarded("client: resuming the body", [&] { f->continue_body(); });
}

// ---- connections -----------------------------------------------------------------------------

std::string Fetch::pool_key() const {
    std::string key = url.origin();
    if (proxied()) key += " via " + proxy_host_ + ":" + std::to_string(proxy_port_);
    if (connects_elsewhere())
        key += " to " + connect_host + ":" + std::to_string(connect_port ? connect_port : url.port);
    // One pool per socket: a connection to the TCP origin, or to another socket, is another
    // server.
    if (via_unix()) key += " to unix:" + unix_socket;
    return key;
}

void Fetch::run() {
    phase_ = Phase::connecting;
    guarded("client: connecting", [&] { get_connection(); });
}

void Fetch::get_connection() {
    phase_ = Phase::connecting;
    if (Stream *s = client_->take_idle(pool_key())) {
        reused = true;
        attach(s);
        send_request();
        return;
    }
    connect_new();
}

void Fetch::connect_new() {
    reused = false;
    const std::string *host = &url.host;
    int port = url.port;
    if (proxied()) {
        host = &proxy_host_;
        port = proxy_port_;
    } else if (connects_elsewhere()) {  // the request itself still names url.host
        host = &connect_host;
        if (connect_port) port = connect_port;
    }
    bool unix_socket_origin = via_unix();
    waiter_ = new (std::nothrow) Waiter{this};
    if (!waiter_) {
        finish(EDDY_ENOMEM);
        return;
    }
    // The fetch's own connect timer bounds the attempt (queue wait included); abandon_connect()
    // stops it when the fetch ends first.
    int rc = unix_socket_origin
                 ? Connector::start_unix(loop_, unix_socket.c_str(), 0, on_connected, waiter_,
                                         release_waiter, &waiter_->connector)
                 : Connector::start(loop_, host->c_str(), port, 0, on_connected, waiter_,
                                    release_waiter, &waiter_->connector);
    if (rc != 0) {
        delete waiter_;
        waiter_ = nullptr;
        finish(rc);
    }
}

void Fetch::abandon_connect() {
    Waiter *w = waiter_;
    if (!w) return;
    waiter_ = nullptr;
    w->fetch = nullptr;
    w->connector->cancel();  // release_waiter deletes w
}

void Fetch::release_waiter(void *arg) {
    Waiter *w = static_cast<Waiter *>(arg);
    if (w->fetch) w->fetch->waiter_ = nullptr;
    delete w;
}

void Fetch::on_connected(Connector *connector, Stream *stream, int error, void *arg) {
    Waiter *w = static_cast<Waiter *>(arg);
    Fetch *f = w->fetch;
    delete w;
    if (!f) {  // cancelled or timed out meanwhile
        if (stream) stream->close();
        return;
    }
    f->waiter_ = nullptr;
    if (!stream) {
        // The address tried and the system's reason, or the resolver's ("connect to
        // 127.0.0.1:9: Connection refused"): the code alone does not say which host failed.
        set_error_detail(f->error_detail, {connector->failure()});
        log(LogLevel::info, "client: %s: connect failed: %s%s%s", f->url_text.c_str(),
            eddy_strerror(error), f->error_detail.empty() ? "" : ": ", f->error_detail.c_str());
        f->finish(error ? error : EDDY_EIO);
        return;
    }
    // Out of memory before attach(), the new stream would be nobody's: closed here.
    f->stream_ = nullptr;
    f->guarded("client: connected", [&] { f->connected(stream); });
    if (!f->stream_ && !stream->closed() && f->finishing_) stream->close();
}

void Fetch::connected(Stream *stream) {
    if (!url.secure()) {
        attach(stream);
        send_request();
    } else if (proxied()) {
        attach(stream, false);  // the connect timeout covers the CONNECT and the TLS handshake
        start_tunnel();
    } else {
        start_tls(stream);
    }
}

void Fetch::start_tunnel() {
    phase_ = Phase::tunnel;
    std::string authority =
        (url.ipv6() ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
    std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    // Credentials for the proxy go to the proxy (RFC 9110 §11.7.2), never into the tunnel.
    for (const Header &h : headers) {
        if (!http::iequals(h.name, "Proxy-Authorization")) continue;
        req += h.name + ": " + h.value + "\r\n";
    }
    req += "\r\n";
    if (stream_->write(req.data(), req.size()) != 0 ||
        stream_->read_until("\r\n\r\n", 4, 16384, on_tunnel_head, this) != 0)
        finish(EDDY_ENOMEM);
}

void Fetch::on_tunnel_head(Stream *, const char *data, size_t len, void *arg) {
    Fetch *f = static_cast<Fetch *>(arg);
    // "HTTP/1.1 200 Connection established": a status line (RFC 9112 §4); any 2xx opens the
    // tunnel (RFC 9110 §9.3.6). "HTTP/1.1 2" and "HTTP/1.1 2000" are no status lines.
    std::string_view head(data, len);
    std::string_view line = head.substr(0, head.find_first_of("\r\n"));
    http::StatusLine parsed;
    bool status_line = http::parse_status_line(line, parsed);
    // An interim answer (100, 103...) comes before the final one and says nothing about the
    // tunnel (RFC 9110 §15.2: a client must accept 1xx before the final response; only a 2xx
    // final one opens the tunnel, §9.3.6): read the next head. Taken as the answer, a proxy
    // sending 103 Early Hints then 200 failed every https fetch, and a 407 after a 100 was
    // reported as "refused: 100 Continue". A 101 is no interim answer to a CONNECT (nothing
    // asked to switch protocols): refused below. Several are fine, endless ones are not.
    if (status_line && parsed.status / 100 == 1 && parsed.status != 101) {
        if (++f->interim_responses_ > kMaxInterimResponses) {
            char text[64];
            snprintf(text, sizeof text, "the proxy sent over %d interim answers to CONNECT",
                     kMaxInterimResponses);
            set_error_detail(f->error_detail, {text});
            log(LogLevel::info, "client: %s: %s", f->url_text.c_str(), f->error_detail.c_str());
            f->finish(EDDY_EPROTO);
        } else if (f->stream_->read_until("\r\n\r\n", 4, 16384, on_tunnel_head, f) != 0) {
            f->finish(EDDY_ENOMEM);
        }
        return;
    }
    if (!status_line || parsed.status / 100 != 2) {
        // What the proxy said goes with the code (a 407 asks for credentials, a 502 is the
        // origin's fault): the first line only, quoted; the rest is the proxy's. Out of
        // memory the detail goes without the quote.
        std::string quoted;
        ran_without_exception("client: quoting the proxy", [&] { quoted = printable(line, 80); });
        set_error_detail(f->error_detail,
                         {status_line ? "the proxy refused the tunnel: "
                                      : "the proxy's answer to CONNECT is no status line: ",
                          quoted});
        log(LogLevel::info, "client: %s: %s", f->url_text.c_str(), f->error_detail.c_str());
        f->finish(EDDY_EPROTO);
        return;
    }
    // The stream drops the head from its buffer after this callback: hand the socket to TLS
    // on the next iteration (finish() stops this timer).
    f->loop_->timer_start(&f->tunnel_timer_, Loop::now());
}

void Fetch::run_tunnel_tls(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    if (f->finishing_ || !f->stream_) return;
    Stream *plain = f->stream_;
    // Nothing may come between the proxy's 2xx and our TLS ClientHello (the origin speaks
    // second); bytes there would be lost or misread: refused, and said why.
    if (plain->read_buffer_size() > 0) {
        set_error_detail(f->error_detail, {"the proxy sent bytes after its answer to CONNECT"});
        log(LogLevel::info, "client: %s: %s", f->url_text.c_str(), f->error_detail.c_str());
        f->finish(EDDY_EPROTO);
        return;
    }
    f->stream_ = nullptr;
    plain->set_close_callback(nullptr, nullptr);
    f->guarded("client: TLS through the tunnel", [&] { f->start_tls(plain); });
    if (!f->stream_ && !plain->closed() && f->finishing_) plain->close();
}

void Fetch::start_tls(Stream *plain) {
    tls::Context *ctx = client_->tls();
    // The session cache's key is made before the socket leaves `plain`: out of memory after
    // take_fd() the exception left the descriptor nobody's (the stream gave it up, nothing
    // closed it) — one socket leaked per such failure.
    // Over a Unix socket the server is the socket's, not the TCP origin's: its sessions are
    // kept apart (the pool key names the socket).
    std::string session_key = via_unix() ? pool_key() : url.origin();
    int fd = plain->take_fd();
    if (fd < 0 || !ctx) {
        if (fd >= 0)
            ::close(fd);
        else
            plain->close();
        finish(fd < 0 ? EDDY_EPROTO : EDDY_ENOMEM);
        return;
    }
    tls::TlsStream *s = tls::TlsStream::create_client(loop_, fd, ctx, url.host, session_key);
    if (!s) {
        ::close(fd);
        finish(EDDY_ENOMEM);
        return;
    }
    // The connect timeout lasts until the handshake is done (Tornado's does too).
    s->on_handshake_done(handshake_done, this);
    attach(s, false);
    send_request();
}

void Fetch::handshake_done(void *fetch) {
    Fetch *f = static_cast<Fetch *>(fetch);
    f->loop_->timer_stop(&f->connect_timer_);
    f->arm_read_timer();  // the time between reads counts from here
}

void Fetch::attach(Stream *s, bool connected) {
    stream_ = s;
    loop_->timer_stop(&read_timer_);  // a new exchange: armed once its request is sent
    if (connected) loop_->timer_stop(&connect_timer_);
    s->set_close_callback(on_stream_close, this);
    s->set_nodelay(true);
    reset_response();
    phase_ = Phase::sending;
}

void Fetch::detach_stream(bool keep) {
    Stream *s = stream_;
    stream_ = nullptr;
    loop_->timer_stop(&read_timer_);  // (a redirect's next connection arms it again)
    if (!s) return;
    s->set_close_callback(nullptr, nullptr);
    if (!flushes_.empty()) {
        // What this stream took of the body is settled now: sent, or never to be (a redirect
        // or a retry does not resend a streamed body; the fetch may be ending).
        uint64_t sent = s->bytes_sent();
        for (BodyFlush &fl : flushes_)
            if (fl.target && !fl.sent) {
                fl.sent = true;
                fl.status = sent >= fl.target ? 0 : finishing_ && error_ ? error_ : EDDY_ECLOSED;
            }
        if (!finishing_ && flushes_.front().sent) loop_->timer_start(&flush_timer_, Loop::now());
        // The mark (set only while a callback waits) is the fetch's, not the pool's.
        s->set_write_mark(0, nullptr, nullptr);
    }
    if (s->is_tls()) static_cast<tls::TlsStream *>(s)->on_handshake_done(nullptr, nullptr);
    std::string key;
    if (keep && !s->closed() &&
        ran_without_exception("client: keep-alive", [&] { key = pool_key(); })) {
        client_->put_idle(key, s);
    } else {
        s->close();
    }
}

// ---- the request -----------------------------------------------------------------------------

void Fetch::send_request() {
    bool proxied_http = proxied() && !url.secure();
    bool tunnelled = proxied() && url.secure();
    std::string head;
    head.reserve(256);
    head += method_;
    head += ' ';
    head += proxied_http ? url.str() : url.target;
    head += " HTTP/1.1\r\nHost: ";
    // The application's own Host (virtual hosts behind an address, as Tornado sends it) names
    // the URL it was given for: a redirect goes to the Location's host.
    const Header *own_host = nullptr;
    if (redirects == 0)
        for (const Header &h : headers)
            if (http::iequals(h.name, "Host")) own_host = &h;
    head += own_host ? own_host->value : url.host_header();
    head += "\r\n";
    bool has_ua = false, has_ae = false, has_auth = false;
    for (const Header &h : headers) {
        if (http::iequals(h.name, "Host") || http::iequals(h.name, "Content-Length") ||
            http::iequals(h.name, "Transfer-Encoding") || http::iequals(h.name, "Expect"))
            continue;
        if (tunnelled && http::iequals(h.name, "Proxy-Authorization")) continue;  // on CONNECT
        if (http::iequals(h.name, "User-Agent")) has_ua = true;
        if (http::iequals(h.name, "Accept-Encoding")) has_ae = true;
        if (http::iequals(h.name, "Authorization")) has_auth = true;
        head += h.name;
        head += ": ";
        head += h.value;
        head += "\r\n";
    }
    if (!has_ua) head += "User-Agent: eddy/" EDDY_VERSION_TEXT "\r\n";
    if (!has_auth && !url.userinfo.empty())
        head += "Authorization: " + basic_credentials(url.userinfo) + "\r\n";
    if (decompress && !has_ae) head += "Accept-Encoding: gzip\r\n";
    bool has_body = streamed_body || !body.empty();
    if (streamed_body && stream_length < 0) {
        head += "Transfer-Encoding: chunked\r\n";
    } else if (streamed_body) {
        head += "Content-Length: " + std::to_string(stream_length) + "\r\n";
    } else if (has_body || method_ == "POST" || method_ == "PUT" || method_ == "PATCH") {
        head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    // RFC 9110 §10.1.1: no 100-continue expectation in a request without content; a stream
    // announced with length 0 has none (it was sent with "Content-Length: 0", then waited
    // for a 100 that had nothing to let go).
    bool wait_continue = expect_continue && has_body && !(streamed_body && stream_length == 0);
    if (wait_continue) head += "Expect: 100-continue\r\n";
    head += "\r\n";
    body_flowing_ = false;
    body_end_sent_ = false;
    body_sent_ = 0;
    if (int rc = stream_->write(head.data(), head.size()); rc != 0) {
        finish(rc);  // EDDY_ENOMEM, or EDDY_ECLOSED
        return;
    }
    phase_ = Phase::reading;
    if (wait_continue) {
        phase_ = Phase::waiting_continue;
        loop_->timer_start(&continue_timer_, Loop::now() + kContinueWait);
    } else {
        send_body();
    }
    arm_read_timer();
    if (stream_ && stream_->read_some(on_stream_data, this) != 0 && !finishing_)
        finish(EDDY_ECLOSED);
}

void Fetch::send_body() {
    if (phase_ == Phase::waiting_continue) phase_ = Phase::reading;
    loop_->timer_stop(&continue_timer_);
    body_flowing_ = true;
    if (!streamed_body) {
        if (!body.empty()) {
            if (int rc = stream_->write(body.data(), body.size()); rc != 0) finish(rc);
        }
        return;
    }
    flush_streamed();
}

void Fetch::flush_streamed() {
    if (!stream_ || !body_flowing_ || !streamed_body) return;
    bool chunked = stream_length < 0;
    // A piece that cannot be queued (out of memory) leaves the body cut: the fetch fails.
    int rc = 0;
    if (!body.empty()) {
        // A redirect may replay nothing of a streamed body: what went out is gone.
        if (chunked) {
            char size[32];
            int n = snprintf(size, sizeof size, "%zx\r\n", body.size());
            rc = stream_->write(size, static_cast<size_t>(n));
        }
        if (rc == 0) rc = stream_->write(body.data(), body.size());
        if (rc == 0 && chunked) rc = stream_->write("\r\n", 2);
        body_sent_ += body.size();
        body.clear();
        // The application is still sending: the server waiting for the rest is not stalled.
        arm_read_timer();
    }
    if (rc == 0 && body_ended && !body_end_sent_) {
        body_end_sent_ = true;
        if (chunked) rc = stream_->write("0\r\n\r\n", 5);
    }
    if (rc == 0 && !flushes_.empty()) place_flushes();
    if (rc != 0) finish(rc);
}

void Fetch::on_continue_timer(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    if (f->phase_ == Phase::waiting_continue && f->stream_)
        f->guarded("client: request body", [&] { f->send_body(); });
}

int Fetch::write_body(const char *data, size_t len) {
    if (!streamed_body || body_ended || finishing_) return EDDY_ESTATE;
    if (len && !data) return EDDY_EINVAL;
    uint64_t total = body_sent_ + body.size() + len;
    if (stream_length >= 0 && total > static_cast<uint64_t>(stream_length)) return EDDY_ETOOBIG;
    try {
        body.append(data, len);
    } catch (...) {
        return lose("body");  // sent without these bytes, the body would be cut
    }
    flush_streamed();
    return 0;
}

int Fetch::end_body() {
    if (!streamed_body || body_ended || finishing_) return EDDY_ESTATE;
    if (stream_length >= 0 && body_sent_ + body.size() != static_cast<uint64_t>(stream_length))
        return EDDY_EINVAL;
    body_ended = true;
    flush_streamed();
    return 0;
}

int Fetch::flush_body(eddy_fetch_flush_fn cb) {
    if (!started_ || !streamed_body || finishing_) return EDDY_ESTATE;
    uint64_t end = body_sent_ + body.size();
    flushes_.push_back(BodyFlush{end, 0, false, 0, cb});  // (a bad_alloc: EDDY_ENOMEM)
    if (end == 0) {  // nothing written yet: nothing to wait for
        flushes_.back().sent = true;
        loop_->timer_start(&flush_timer_, Loop::now());
        return 0;
    }
    place_flushes();
    return 0;
}

size_t Fetch::body_buffered() const {
    if (!streamed_body || finishing_) return 0;
    return body.size() + (stream_ ? static_cast<size_t>(stream_->unsent_bytes()) : 0);
}

void Fetch::place_flushes() {
    if (!stream_ || !body_flowing_) return;
    uint64_t total = stream_->bytes_sent() + stream_->unsent_bytes();  // all queued so far
    for (BodyFlush &fl : flushes_)
        if (!fl.sent && !fl.target && fl.body_end <= body_sent_) fl.target = total;
    check_flushes();
    // The mark: the stream's output drops to it when bytes_sent() reaches the first target
    // (its output is `total` less bytes_sent(); the client queues no files).
    for (const BodyFlush &fl : flushes_) {
        if (fl.sent || !fl.target) continue;
        size_t mark = static_cast<size_t>(total - fl.target);
        if (stream_->set_write_mark(mark, on_flush_drain, this) != 0)
            finish(EDDY_ENOMEM);  // no way to learn when the body went
        return;
    }
    stream_->set_write_mark(0, nullptr, nullptr);
}

void Fetch::check_flushes() {
    if (!stream_) return;
    uint64_t sent = stream_->bytes_sent();
    for (BodyFlush &fl : flushes_)
        if (!fl.sent && fl.target && sent >= fl.target) {
            fl.sent = true;
            fl.status = 0;
        }
    // Never inside the caller's write_body() or flush_body(): from the loop.
    if (!finishing_ && !flushes_.empty() && flushes_.front().sent)
        loop_->timer_start(&flush_timer_, Loop::now());
}

void Fetch::on_flush_drain(Stream *, void *arg) {
    Fetch *f = static_cast<Fetch *>(arg);
    f->guarded("client: request body", [&] { f->place_flushes(); });
}

void Fetch::on_flush_timer(TimerNode *node) {
    Fetch *f = static_cast<Fetch *>(node->owner);
    bool alive = true;
    f->alive_ = &alive;  // a callback may free the client, and with it this fetch
    while (!f->finishing_ && !f->flushes_.empty() && f->flushes_.front().sent) {
        BodyFlush fl = f->flushes_.front();
        f->flushes_.pop_front();
        fl.cb(f->as_c(), fl.status, f->userdata_);
        if (!alive) return;
    }
    f->alive_ = nullptr;
}

void Fetch::fail_flushes() {
    while (!flushes_.empty()) {
        BodyFlush fl = flushes_.front();
        flushes_.pop_front();
        fl.cb(as_c(), fl.sent ? fl.status : error_ ? error_ : EDDY_ECLOSED, userdata_);
    }
}

// ---- redirects -------------------------------------------------------------------------------

void Fetch::follow_redirect() {
    redirects++;
    if (next_url_.origin() != url.origin()) {
        // Credentials for one origin must not leak to another.
        std::vector<Header> kept;
        for (Header &h : headers)
            if (!http::iequals(h.name, "Authorization") && !http::iequals(h.name, "Cookie"))
                kept.push_back(std::move(h));
        headers.swap(kept);
    } else if (next_url_.userinfo.empty()) {
        next_url_.userinfo = url.userinfo;  // the URL's credentials too, within the origin
    }
    if (redirect_becomes_get(status, method_)) {
        method_ = "GET";
        body.clear();
        streamed_body = false;
        // The content went with the body: its fields (Content-Type, -Encoding, -Language,
        // -Location...) describe nothing now (RFC 9110 §15.4).
        std::vector<Header> kept;
        for (Header &h : headers)
            if (!http::iequals(std::string_view(h.name).substr(0, 8), "Content-"))
                kept.push_back(std::move(h));
        headers.swap(kept);
    }
    url = next_url_;
    url_text = url.str();
    EDDY_LOG_DEBUG_IF("client: redirect %d to %s", redirects, url_text.c_str());
    // The new hop may need a new connection: the connect timeout bounds it as it bounded the
    // first (Tornado's redirect is a new fetch with its own; curl's applies per connection).
    // Its timer stopped when the first connection was made, and a Location naming a host that
    // never answers was waited for until the request timeout, or for ever without one.
    restart_connect_timer();
    get_connection();
}

}  // namespace eddy::client
