// websocket_connect: a ws:// URL → TCP connect (net/connect) → the opening handshake as a
// client (RFC 6455 §4.1) → a client-side Session.
#include "websocket/client.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "client/url.hpp"
#include "http/httputil.hpp"
#include "net/connect.hpp"
#include "stream/stream.hpp"
#include "tls/tls_stream.hpp"
#include "util/base64.hpp"
#include "util/log.hpp"
#include "websocket/protocol.hpp"
#include "websocket/session.hpp"

namespace eddy::ws {

namespace {

constexpr size_t kMaxResponseHead = 64 * 1024;

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
    Stream *stream = nullptr;
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
    // Reports a failure once and goes away.
    void fail(int status) {
        if (stream) {
            stream->set_close_callback(nullptr, nullptr);
            stream->close(status);
            stream = nullptr;
        }
        if (on_connect) on_connect(nullptr, status, callbacks.userdata);
        release_userdata();
        delete this;
    }

    static void on_timeout(TimerNode *node) {
        static_cast<ClientHandshake *>(node->owner)->fail(EDDY_ETIMEDOUT);
    }
    static void on_release(void *arg) {  // the loop was freed while connecting
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->release_userdata();
        delete h;
    }
    static void on_connected(Connector *, Stream *s, int error, void *arg) {
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->loop->add_resource(h);
        h->registered = true;
        if (!s) return h->fail(error ? error : EDDY_EIO);
        if (h->secure) {
            // wss://: TLS on the connected socket; the request below waits in the stream until
            // the handshake is done, and a failed handshake closes it with EDDY_ETLS.
            tls::Context *ctx = h->options.tls.get();
            int fd = s->take_fd();
            s = fd >= 0 ? tls::TlsStream::create_client(h->loop, fd, ctx, h->tls_host,
                                                       h->host_header)
                        : nullptr;
            if (!s) {
                if (fd >= 0) ::close(fd);
                return h->fail(EDDY_ENOMEM);
            }
        }
        h->stream = s;
        s->set_close_callback(on_stream_close, h);
        s->set_nodelay(true);
        double left = h->deadline - Loop::now();
        h->loop->timer_start(&h->timer, Loop::now() + (left > 0.05 ? left : 0.05));
        h->send_request();
    }
    static void on_stream_close(Stream *, int error, void *arg) {
        ClientHandshake *h = static_cast<ClientHandshake *>(arg);
        h->stream = nullptr;  // being freed by the stream itself
        h->fail(error ? error : EDDY_EOF);
    }

    void send_request() {
        uint8_t raw[16];
        if (getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
            for (uint8_t &b : raw) b = static_cast<uint8_t>(rand());
        key.clear();
        base64_append(key, raw, sizeof raw);
        std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + host_header +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                          key + "\r\nSec-WebSocket-Version: 13\r\n";
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
            req += name + ": " + value + "\r\n";
            if (http::iequals(name, "Authorization")) has_auth = true;
        }
        if (!has_auth && !userinfo.empty())
            req += "Authorization: " + client::basic_credentials(userinfo) + "\r\n";
        req += "\r\n";
        stream->write(req.data(), req.size());
        stream->read_until("\r\n\r\n", 4, kMaxResponseHead, on_head, this);
    }

    static void on_head(Stream *, const char *data, size_t len, void *arg) {
        static_cast<ClientHandshake *>(arg)->check_response(std::string_view(data, len));
    }

    // An HTTP answer other than 101 ("HTTP/1.x NNN reason"): the application may want the
    // status (Tornado raises HTTPClientError(403) for a refused origin, for instance).
    void report_refusal(std::string_view line) {
        if (!options.on_refused || line.size() < 12 || line.substr(0, 7) != "HTTP/1." ||
            line[8] != ' ')
            return;
        int status = 0;
        for (size_t i = 9; i < 12; i++) {
            if (line[i] < '0' || line[i] > '9') return;
            status = status * 10 + (line[i] - '0');
        }
        if (status < 100 || (line.size() > 12 && line[12] != ' ')) return;
        std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view();
        options.on_refused(status, reason.data(), reason.size(), callbacks.userdata);
    }

    void check_response(std::string_view head) {
        std::vector<std::pair<std::string_view, std::string_view>> fields;
        size_t eol = head.find("\r\n");
        std::string_view status_line = head.substr(0, eol);
        if (status_line.size() < 12 || status_line.substr(0, 9) != "HTTP/1.1 " ||
            status_line.substr(9, 3) != "101") {
            log(LogLevel::info, "websocket client: handshake refused: %.*s",
                static_cast<int>(status_line.size()), status_line.data());
            report_refusal(status_line);
            return fail(EDDY_EPROTO);
        }
        std::string connection, upgrade, accept, protocol, extensions;
        size_t pos = eol + 2;
        while (pos < head.size()) {
            size_t end = head.find("\r\n", pos);
            if (end == std::string_view::npos || end == pos) break;
            std::string_view line = head.substr(pos, end - pos);
            pos = end + 2;
            size_t colon = line.find(':');
            if (colon == std::string_view::npos) return fail(EDDY_EPROTO);
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
        if (!http::list_contains(upgrade, "websocket") || !http::list_contains(connection, "upgrade") ||
            accept != accept_key(key)) {
            log(LogLevel::info, "websocket client: bad handshake response");
            return fail(EDDY_EPROTO);
        }
        if (!protocol.empty()) {
            bool offered = false;
            for (const std::string &p : options.subprotocols) offered |= p == protocol;
            if (!offered) return fail(EDDY_EPROTO);
        }
        DeflateParams params;
        bool deflate = false;
        if (!extensions.empty()) {
            std::string ignored;
            // The server's answer has the offer's syntax: the same parser reads it.
            if (!(options.compression_flags & EDDY_WS_DEFLATE) ||
                !negotiate_deflate(extensions, params, ignored) ||
                http::split_list(extensions).size() != 1)
                return fail(EDDY_EPROTO);
            if (params.client_max_window_bits > options.max_window_bits)
                params.client_max_window_bits = options.max_window_bits;
            deflate = true;
        }
        loop->timer_stop(&timer);
        Stream *s = stream;
        stream = nullptr;
        s->set_close_callback(nullptr, nullptr);
        Callbacks cbs = callbacks;
        callbacks.free_userdata = nullptr;  // the session releases it from now on
        eddy_ws_connect_fn connect_cb = on_connect;
        Session *session =
            Session::create(s, true, options, cbs, deflate ? &params : nullptr, protocol);
        delete this;
        if (!session) {
            connect_cb(nullptr, EDDY_ENOMEM, cbs.userdata);
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
    ClientHandshake *h = new (std::nothrow) ClientHandshake(loop);
    if (!h) return EDDY_ENOMEM;
    h->options = options;
    h->secure = parsed.secure();
    h->tls_host = parsed.host;
    if (h->secure && !h->options.tls.get()) {
        // No context given: a default client context (system CAs, verification required).
        tls::Context *ctx = tls::Context::create(false);
        if (!ctx) {
            delete h;
            return EDDY_ENOMEM;
        }
        h->options.tls.reset(ctx);
        ctx->unref();  // the options hold the only reference now
    }
    h->callbacks = callbacks;
    h->on_connect = on_connect;
    h->target = parsed.target;
    h->host_header = parsed.host_header();
    h->userinfo = parsed.userinfo;
    h->deadline = Loop::now() + (options.connect_timeout > 0 ? options.connect_timeout : 1e9);
    int rc = Connector::start(loop, parsed.host.c_str(), parsed.port, options.connect_timeout,
                              ClientHandshake::on_connected, h, ClientHandshake::on_release);
    if (rc != 0) {
        h->callbacks.free_userdata = nullptr;  // stays the caller's on a synchronous error
        delete h;
    }
    return rc;
}

}  // namespace eddy::ws
