// websocket_connect: a ws:// URL → TCP connect (net/connect) → the opening handshake as a
// client (RFC 6455 §4.1) → a client-side Session.
#include "websocket/client.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "client/url.hpp"
#include "http/httputil.hpp"
#include "net/connect.hpp"
#include "stream/stream.hpp"
#include "tls/tls_stream.hpp"
#include "util/base64.hpp"
#include "util/error_detail.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"
#include "util/printable.hpp"
#include "websocket/connect_error.hpp"
#include "websocket/protocol.hpp"
#include "websocket/session.hpp"

namespace eddy::ws {

namespace {

constexpr size_t kMaxResponseHead = 64 * 1024;
constexpr int kMaxInterimResponses = 100;
constexpr size_t kMaxQuoted = 120;  // bytes of a server's line or value quoted in a detail

}  // namespace

// One handshake in flight. Owned by the connector until it connected, then by itself (as a
// loop resource) until the session takes over or it fails.
class ClientHandshake : public LoopResource {
public:
    Loop *loop;
    Options options;
    Callbacks callbacks;
    eddy_ws_connect_fn on_connect = nullptr;
    std::string host_header, target, key;
    std::string userinfo;  // of the URL: sent as basic credentials, as the HTTP client does
    std::string tls_host;  // wss://: the name for SNI and certificate verification
    bool secure = false;
    int interim_responses = 0;  // 1xx heads skipped before the 101
    Stream *stream = nullptr;
    // Why the connect failed beyond the code, published to on_connect (connect_error.hpp).
    std::string detail;
    TimerNode timer;
    double deadline = 0;
    bool registered = false;

    explicit ClientHandshake(Loop *l) : loop(l) {
        timer.fire = on_timeout;
        timer.owner = this;
    }
    ~ClientHandshake() override {
        loop->timer_stop(&timer);
        if (registered) loop->remove_resource(this);
    }
    void on_loop_free() override {
        stream = nullptr;  // freed by the loop
        release_userdata();
        delete this;
    }
    void release_userdata() {
        if (callbacks.free_userdata) callbacks.free_userdata(callbacks.userdata);
        callbacks.free_userdata = nullptr;
    }
    // Reports a failure once, with `why` as its detail ("" when there is nothing more to say
    // than the code), and goes away.
    void fail(int status, std::string_view why = {}) {
        if (stream) {
            stream->set_close_callback(nullptr, nullptr);
            stream->close(status);
            stream = nullptr;
        }
        set_error_detail(detail, {why});
        if (on_connect) {
            ConnectErrorScope scope(loop, detail);
            on_connect(nullptr, status, callbacks.userdata);
        }
        release_userdata();
        delete this;
    }
    // Runs a step of the handshake from a loop callback: memory running out on the way fails
    // the connect with EDDY_ENOMEM through on_connect, as any other failure. A step that throws
    // has not handed the stream on yet (check_response builds everything first).
    template <class Fn>
    void guarded(const char *where, Fn &&step) {
        if (!ran_without_exception(where, step)) fail(EDDY_ENOMEM);
    }
    // A handshake response eddy does not accept: logged, reported as EDDY_EPROTO.
    void fail_handshake(const std::string &why) {
        log(LogLevel::info, "websocket client: %s", why.c_str());
        fail(EDDY_EPROTO, why);
    }

    static void on_timeout(TimerNode *node) {
        // The connector's own timeout covered the TCP connect; this one runs from then on.
        ClientHandshake *h = static_cast<ClientHandshake *>(node->owner);
        bool in_tls = h->stream && h->stream->is_tls() &&
                      !static_cast<tls::TlsStream *>(h->stream)->handshake_done();
        char why[96];
        snprintf(why, sizeof why, "%s within %g s",
                 in_tls ? "TLS handshake not done" : "no answer to the WebSocket handshake",
                 h->options.connect_timeout);
        h->fail(EDDY_ETIMEDOUT, why);
    }
    static void on_release(void *arg) {  // the loop was freed while connecting
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->release_userdata();
        delete h;
    }
    static void on_connected(Connector *c, Stream *s, int error, void *arg) {
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->loop->add_resource(h);
        h->registered = true;
        if (!s) return h->fail(error ? error : EDDY_EIO, c->failure());
        h->guarded("websocket client: connected", [&] { h->connected(s); });
    }
    // The TCP connection is up: TLS for wss://, then the opening handshake's request.
    void connected(Stream *s) {
        if (secure) {
            // wss://: TLS on the connected socket; the request below waits in the stream until
            // the handshake is done, and a failed handshake closes it with EDDY_ETLS.
            tls::Context *ctx = options.tls.get();
            int fd = s->take_fd();
            s = fd >= 0 ? tls::TlsStream::create_client(loop, fd, ctx, tls_host, host_header)
                        : nullptr;
            if (!s) {
                if (fd >= 0) ::close(fd);
                return fail(EDDY_ENOMEM);
            }
        }
        stream = s;
        s->set_close_callback(on_stream_close, this);
        s->set_nodelay(true);
        double left = deadline - Loop::now();
        loop->timer_start(&timer, Loop::now() + (left > 0.05 ? left : 0.05));
        if (int rc = send_request(); rc != 0) fail(rc);
    }
    static void on_stream_close(Stream *s, int error, void *arg) {
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->stream = nullptr;  // being freed by the stream itself (still readable here)
        if (!error) error = EDDY_EOF;
        std::string why;
        // Without memory for the words, the code alone still tells what failed.
        ran_without_exception("websocket client: closed", [&] { why = closed_why(s, error); });
        h->fail(error, why);
    }
    // Why the connection ended before the handshake response was read. A TLS stream knows
    // why its handshake failed (the words eddy_fetch_error_detail gives).
    static std::string closed_why(Stream *s, int error) {
        if (s->is_tls()) {
            auto *tls = static_cast<tls::TlsStream *>(s);
            if (!tls->failure().empty()) return tls->failure();
            if (error == EDDY_ETIMEDOUT && !tls->handshake_done()) return "TLS handshake timed out";
        }
        switch (error) {
        case EDDY_EOF: return "the server closed the connection before answering the handshake";
        case EDDY_ETOOBIG: return "handshake response head over 64 KiB";
        default:
            return std::string("connection lost before the handshake response: ") +
                   eddy_strerror(error);
        }
    }

    // 0, or why the request could not be queued (EDDY_ENOMEM, EDDY_ECLOSED).
    int send_request() {
        uint8_t raw[16];
        if (getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
            for (uint8_t &b : raw) b = static_cast<uint8_t>(rand());
        key.clear();
        base64_append(key, raw, sizeof raw);
        // The application's own Host (a virtual host behind an address), as Tornado sends it.
        std::string_view host = host_header;
        for (const auto &[name, value] : options.headers)
            if (http::iequals(name, "Host")) host = value;
        std::string req =
            "GET " + target + " HTTP/1.1\r\nHost: " + std::string(host) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
            "\r\nSec-WebSocket-Version: 13\r\n";
        if (!options.subprotocols.empty()) {
            req += "Sec-WebSocket-Protocol: ";
            for (size_t i = 0; i < options.subprotocols.size(); i++)
                req += (i ? ", " : "") + options.subprotocols[i];
            req += "\r\n";
        }
        if (options.compression_flags & EDDY_WS_DEFLATE) {
            req += "Sec-WebSocket-Extensions: permessage-deflate";
            if (options.compression_flags & EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER)
                req += "; server_no_context_takeover";
            if (options.compression_flags & EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER)
                req += "; client_no_context_takeover";
            req += options.max_window_bits < 15
                       ? "; client_max_window_bits=" + std::to_string(options.max_window_bits)
                       : std::string("; client_max_window_bits");
            req += "\r\n";
        }
        bool has_auth = false;
        for (const auto &[name, value] : options.headers) {
            if (http::iequals(name, "Host")) continue;  // sent above
            req += name + ": " + value + "\r\n";
            if (http::iequals(name, "Authorization")) has_auth = true;
        }
        if (!has_auth && !userinfo.empty())
            req += "Authorization: " + client::basic_credentials(userinfo) + "\r\n";
        req += "\r\n";
        if (int rc = stream->write(req.data(), req.size()); rc != 0) return rc;
        return stream->read_until("\r\n\r\n", 4, kMaxResponseHead, on_head, this);
    }

    static void on_head(Stream *, const char *data, size_t len, void *arg) {
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->guarded("websocket client: handshake response",
                   [&] { h->check_response(std::string_view(data, len)); });
    }

    // An HTTP answer other than 101 ("HTTP/1.x NNN reason"): the application may want the
    // status (Tornado raises HTTPClientError(403) for a refused origin, for instance).
    void report_refusal(std::string_view line) {
        http::StatusLine parsed;
        // 101 over another version is a failed handshake, not a refusal (the callback's doc).
        if (!options.on_refused || !http::parse_status_line(line, parsed) || parsed.status < 100 ||
            parsed.status == 101)
            return;
        // A copy: the line is a view into the read buffer, and the reason is handed out
        // NUL-terminated as every string eddy gives (the fuzzer's strlen() read past it).
        std::string reason(parsed.reason);
        options.on_refused(parsed.status, reason.c_str(), reason.size(), callbacks.userdata);
    }

    // The detail of a status line other than "HTTP/1.1 101 ...".
    static std::string refusal_why(std::string_view line) {
        http::StatusLine parsed;
        if (!http::parse_status_line(line, parsed))  // "1010" is no 101: quoted whole
            return "not an HTTP response: " + printable(line, kMaxQuoted);
        if (parsed.status == 101)  // Switching Protocols, but not over HTTP/1.1
            return "the server answered 101 over " + printable(line.substr(0, 8), 8);
        return "the server answered " + printable(line.substr(9), kMaxQuoted);
    }

    void check_response(std::string_view head) {
        std::vector<std::pair<std::string_view, std::string_view>> fields;
        size_t eol = head.find("\r\n");
        std::string_view status_line = head.substr(0, eol);
        // The status is three digits and a space (RFC 9112 §4): "1010" or "101x" is no 101.
        http::StatusLine parsed;
        bool http11 = http::parse_status_line(status_line, parsed) && parsed.minor_version == 1;
        // An interim answer before the 101 (100 Continue, 102, 103) is read past, as every
        // HTTP client must (RFC 9110 §15.2), a bounded number of times.
        if (http11 && parsed.status / 100 == 1 && parsed.status != 101) {
            if (++interim_responses > kMaxInterimResponses)
                return fail_handshake("over " + std::to_string(kMaxInterimResponses) +
                                      " interim responses before the handshake's");
            if (int rc = stream->read_until("\r\n\r\n", 4, kMaxResponseHead, on_head, this);
                rc != 0)
                return fail(rc);
            return;
        }
        if (!http11 || parsed.status != 101) {
            report_refusal(status_line);
            return fail_handshake(refusal_why(status_line));
        }
        std::string connection, upgrade, accept, protocol, extensions;
        size_t pos = eol + 2;
        while (pos < head.size()) {
            size_t end = head.find("\r\n", pos);
            if (end == std::string_view::npos || end == pos) break;
            std::string_view line = head.substr(pos, end - pos);
            pos = end + 2;
            size_t colon = line.find(':');
            if (colon == std::string_view::npos)
                return fail_handshake("malformed header line in the handshake response: " +
                                      printable(line, kMaxQuoted));
            std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
            auto add = [&](std::string &to) {
                if (!to.empty()) to += ", ";
                to.append(value);
            };
            if (http::iequals(name, "Connection")) add(connection);
            else if (http::iequals(name, "Upgrade")) add(upgrade);
            else if (http::iequals(name, "Sec-WebSocket-Accept")) add(accept);
            else if (http::iequals(name, "Sec-WebSocket-Protocol")) add(protocol);
            else if (http::iequals(name, "Sec-WebSocket-Extensions")) add(extensions);
        }
        if (!http::list_contains(upgrade, "websocket"))
            return fail_handshake("no Upgrade: websocket in the handshake response");
        if (!http::list_contains(connection, "upgrade"))
            return fail_handshake("no Connection: upgrade in the handshake response");
        if (accept.empty())
            return fail_handshake("no Sec-WebSocket-Accept in the handshake response");
        // An empty expected key: no SHA-1 to be had (out of memory), not the server's fault.
        std::string expected = accept_key(key);
        if (expected.empty()) return fail(EDDY_ENOMEM);
        if (accept != expected)
            return fail_handshake("Sec-WebSocket-Accept does not match the key sent");
        if (!protocol.empty()) {
            bool offered = false;
            for (const std::string &p : options.subprotocols) offered |= p == protocol;
            if (!offered)
                return fail_handshake("the server chose subprotocol \"" +
                                      printable(protocol, kMaxQuoted) + "\", which was not offered");
        }
        DeflateParams params;
        bool deflate = false;
        if (!extensions.empty()) {
            std::string ignored;
            // The server's answer has the offer's syntax: the same parser reads it.
            if (!(options.compression_flags & EDDY_WS_DEFLATE))
                return fail_handshake("the server answered with extensions, none offered: " +
                                      printable(extensions, kMaxQuoted));
            if (!negotiate_deflate(extensions, params, ignored, true) ||
                http::split_list(extensions).size() != 1)
                return fail_handshake("unacceptable Sec-WebSocket-Extensions: " +
                                      printable(extensions, kMaxQuoted));
            // RFC 7692 §7.1.2.2: an answer without client_max_window_bits is valid even when the
            // offer gave a value (the server "may either ignore this value or use" it): the
            // server then takes any window up to 15 bits, and ours (max_window_bits) stays the
            // limit we compress with, as eddy_ws_options_set_compression promises.
            if (!params.client_max_window_bits_valued)
                params.client_max_window_bits = options.max_window_bits;
            // The answer's client window is at most the one offered; a larger one is a
            // configuration this client did not offer (§7: fail).
            if (params.client_max_window_bits > options.max_window_bits)
                return fail_handshake("the server asked for a client window of " +
                                      std::to_string(params.client_max_window_bits) +
                                      " bits, more than offered");
            // Offering client_no_context_takeover commits the client to it whatever the answer
            // says (RFC 7692 §7.1.1.2): the server may reset its inflater per message.
            if (options.compression_flags & EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER)
                params.client_no_context_takeover = true;
            deflate = true;
        }
        loop->timer_stop(&timer);
        Stream *s = stream;
        stream = nullptr;
        s->set_close_callback(nullptr, nullptr);
        Callbacks cbs = callbacks;
        callbacks.free_userdata = nullptr;  // the session releases it from now on
        eddy_ws_connect_fn connect_cb = on_connect;
        // Nothing from here on throws (the handshake goes away): Session::create and start
        // stop memory failures themselves, and the subprotocol is moved, not copied.
        Session *session = Session::create(s, true, options, cbs, deflate ? &params : nullptr,
                                           std::move(protocol));
        delete this;
        if (!session) {
            connect_cb(nullptr, EDDY_ENOMEM, cbs.userdata);  // no detail: none published
            if (cbs.free_userdata) cbs.free_userdata(cbs.userdata);
            return;
        }
        connect_cb(session->as_c(), 0, cbs.userdata);
        session->start(false);
    }
};

int websocket_connect(Loop *loop, std::string_view url, const Options &options,
                      eddy_ws_connect_fn on_connect, const Callbacks &callbacks) {
    client::Url parsed;
    if (!client::parse_ws_url(std::string(url), &parsed)) return EDDY_EINVAL;
    // Owned here until the connector takes it: a copy below that runs out of memory throws
    // (the C API returns EDDY_ENOMEM) without leaking it; userdata stays the caller's.
    std::unique_ptr<ClientHandshake> owned(new (std::nothrow) ClientHandshake(loop));
    ClientHandshake *h = owned.get();
    if (!h) return EDDY_ENOMEM;
    h->options = options;
    h->secure = parsed.secure();
    h->tls_host = parsed.host;
    if (h->secure && !h->options.tls.get()) {
        // No context given: a default client context (system CAs, verification required).
        tls::Context *ctx = tls::Context::create(false);
        if (!ctx) return EDDY_ENOMEM;
        h->options.tls.reset(ctx);
        ctx->unref();  // the options hold the only reference now
    }
    h->callbacks = callbacks;
    h->on_connect = on_connect;
    h->target = parsed.target;
    h->host_header = parsed.host_header();
    h->userinfo = parsed.userinfo;
    h->deadline = Loop::now() + (options.connect_timeout > 0 ? options.connect_timeout : 1e9);
    // A Unix socket replaces the URL's host and port only: the handshake still names the URL
    // (Host, target; wss://'s SNI and certificate check), as eddy_fetch_set_unix_socket does.
    int rc =
        options.unix_socket.empty()
            ? Connector::start(loop, parsed.host.c_str(), parsed.port, options.connect_timeout,
                               ClientHandshake::on_connected, h, ClientHandshake::on_release)
            : Connector::start_unix(loop, options.unix_socket.c_str(), options.connect_timeout,
                                    ClientHandshake::on_connected, h, ClientHandshake::on_release);
    if (rc == 0) owned.release();  // the connector's now
    // On a synchronous error userdata stays the caller's: ~ClientHandshake does not release it.
    return rc;
}

}  // namespace eddy::ws
