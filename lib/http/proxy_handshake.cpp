#include "http/proxy_handshake.hpp"

#include "http/proxy_protocol.hpp"
#include "http/server.hpp"
#include "stream/stream.hpp"
#include "util/log.hpp"

namespace eddy::http {

ProxyHandshake::ProxyHandshake(Server *server, Stream *stream, std::string peer_ip, int peer_port)
    : server_(server), stream_(stream), peer_ip_(std::move(peer_ip)), peer_port_(peer_port) {
    timer_.fire = on_timer;
    timer_.owner = this;
}

void ProxyHandshake::start() {
    stream_->set_close_callback(on_close, this);
    double timeout = server_->options.header_timeout;
    if (timeout > 0) server_->loop()->timer_start(&timer_, Loop::now() + timeout);
    stream_->read_some(on_data, this);
}

void ProxyHandshake::leave_server() {
    if (!server_) return;
    server_->loop()->timer_stop(&timer_);
    server_->handshake_ended(this);
    server_ = nullptr;
}

void ProxyHandshake::reject(const char *why) {
    log(LogLevel::warning, "http: %s: PROXY protocol header rejected (%s); closing",
        peer_ip_.c_str(), why);
    rejected_ = true;
    stream_->close(EDDY_EPROTO);  // on_close (posted) deletes us
}

size_t ProxyHandshake::on_data(Stream *, const char *data, size_t len, void *arg) {
    ProxyHandshake *h = static_cast<ProxyHandshake *>(arg);
    if (h->rejected_) return len;
    // Usually the whole header arrives in one piece; otherwise gather it (it is tiny and
    // bounded, and every byte before its end belongs to it).
    const char *scan = data;
    size_t scan_len = len;
    size_t before = h->buf_.size();
    if (before) {
        h->buf_.append(data, len);
        scan = h->buf_.data();
        scan_len = h->buf_.size();
    }
    ProxyHeader header;
    size_t consumed = 0;
    const char *why = "";
    switch (parse_proxy_header(scan, scan_len, &header, &consumed, &why)) {
    case ProxyParse::invalid:
        h->reject(why);
        return len;
    case ProxyParse::incomplete:
        if (!before) h->buf_.assign(data, len);
        h->stream_->read_some(on_data, h);
        return len;
    case ProxyParse::done:
        break;
    }
    size_t used_here = consumed - before;  // bytes of this piece that were header
    std::string ip = header.has_address ? header.src_ip : h->peer_ip_;
    int port = header.has_address ? header.src_port : h->peer_port_;
    Server *server = h->server_;
    Stream *stream = h->stream_;
    // The stream is no longer ours: a connection that cannot be made closes it without
    // calling back into this handshake.
    stream->set_close_callback(nullptr, nullptr);
    // The connection issues its own read; the rest of this piece goes to it. It counts before
    // the handshake stops counting, so a graceful shutdown never sees the server empty (and
    // reports done) in between.
    server->start_connection(stream, ip, port, used_here < len);
    h->leave_server();
    delete h;
    return used_here;
}

void ProxyHandshake::on_close(Stream *, int, void *arg) {
    ProxyHandshake *h = static_cast<ProxyHandshake *>(arg);
    h->stream_ = nullptr;
    h->leave_server();
    delete h;
}

void ProxyHandshake::on_timer(TimerNode *node) {
    ProxyHandshake *h = static_cast<ProxyHandshake *>(node->owner);
    if (!h->rejected_ && h->stream_) h->reject("timed out");
}

void ProxyHandshake::close_now() {
    leave_server();
    if (stream_) {
        stream_->set_close_callback(nullptr, nullptr);
        stream_->close(0);
    }
    delete this;
}

void ProxyHandshake::detach_for_loop_free() {
    server_ = nullptr;  // the loop's timers go with it
    delete this;
}

}  // namespace eddy::http
