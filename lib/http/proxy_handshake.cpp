#include "http/proxy_handshake.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "http/proxy_protocol.hpp"
#include "http/server.hpp"
#include "stream/stream.hpp"
#include "util/log.hpp"

namespace eddy::http {

ProxyHandshake::ProxyHandshake(Server *server, int fd, std::string peer_ip, int peer_port)
    : server_(server), fd_(fd), peer_ip_(std::move(peer_ip)), peer_port_(peer_port) {
    timer_.fire = on_timer;
    timer_.owner = this;
}

ProxyHandshake::~ProxyHandshake() {
    if (watching_) event_del(&ev_);
    if (fd_ >= 0) ::close(fd_);
}

bool ProxyHandshake::start() {
    event_assign(&ev_, server_->loop()->base(), fd_, EV_READ | EV_PERSIST, on_event, this);
    if (event_add(&ev_, nullptr) != 0) {
        log(LogLevel::error, "http: %s: cannot watch a new connection; closing", peer_ip_.c_str());
        return false;
    }
    watching_ = true;
    double timeout = server_->options.header_timeout;
    if (timeout > 0) server_->loop()->timer_start(&timer_, Loop::now() + timeout);
    return true;
}

void ProxyHandshake::leave_server() {
    if (!server_) return;
    server_->loop()->timer_stop(&timer_);
    Server *server = server_;
    server_ = nullptr;
    server->handshake_ended(this);
}

void ProxyHandshake::end() {
    leave_server();
    delete this;  // stops watching, closes the socket
}

void ProxyHandshake::reject(const char *why) {
    log(LogLevel::warning, "http: %s: PROXY protocol header rejected (%s); closing",
        peer_ip_.c_str(), why);
    end();
}

void ProxyHandshake::on_event(int, short, void *arg) {
    ProxyHandshake *h = static_cast<ProxyHandshake *>(arg);
    try {
        h->on_readable();
    } catch (const std::bad_alloc &) {
        // Gathering a header that came in pieces, or copying its address, before the socket
        // was handed on (nothing throws after that): this connection only.
        log(LogLevel::error, "http: %s: out of memory reading a PROXY header; closing",
            h->peer_ip_.c_str());
        h->end();
    }
}

void ProxyHandshake::on_readable() {
    // Peek at what has arrived: at most what a header may still need, so a long header's
    // bound is kept. Only header bytes are then taken off the socket.
    char peek[kProxyV2MaxLength];
    size_t room = sizeof peek - buf_.size();
    ssize_t n = ::recv(fd_, peek, room, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {  // the peer left (or reset) before its header was complete: nothing to say
        end();
        return;
    }
    size_t got = static_cast<size_t>(n);
    const char *scan = peek;
    size_t scan_len = got;
    std::string joined;
    if (!buf_.empty()) {  // a header that came in pieces (rare): parse it whole
        joined.reserve(buf_.size() + got);
        joined.append(buf_).append(peek, got);
        scan = joined.data();
        scan_len = joined.size();
    }
    ProxyHeader header;
    size_t consumed = 0;
    const char *why = "";
    switch (parse_proxy_header(scan, scan_len, &header, &consumed, &why)) {
    case ProxyParse::invalid: reject(why); return;
    case ProxyParse::incomplete:
        // Every byte so far belongs to the header: take them off the socket, so the next
        // readiness means new bytes.
        if (scan_len >= kProxyV2MaxLength) {
            reject("longer than any header");
            return;
        }
        if (::recv(fd_, peek, got, 0) != n) {
            end();
            return;
        }
        buf_.append(peek, got);
        return;
    case ProxyParse::done:
        break;
    }
    size_t left = consumed - buf_.size();  // header bytes still on the socket
    finish(header, left, got > left);
}

void ProxyHandshake::finish(const ProxyHeader &header, size_t header_bytes_left,
                            bool more_waiting) {
    char sink[kProxyV2MaxLength];
    if (header_bytes_left &&
        ::recv(fd_, sink, header_bytes_left, 0) != static_cast<ssize_t>(header_bytes_left)) {
        end();  // the kernel gave back less than it had shown: the peer reset meanwhile
        return;
    }
    std::string ip = header.has_address ? header.src_ip : peer_ip_;
    int port = header.has_address ? header.src_port : peer_port_;
    Server *server = server_;
    event_del(&ev_);
    watching_ = false;
    int fd = fd_;
    fd_ = -1;  // the stream's from here on (or closed by make_stream)
    // The connection counts before the handshake stops counting, so a graceful shutdown never
    // sees the server empty (and reports done) in between.
    Stream *stream = server->make_stream(fd);
    if (stream) server->start_connection(stream, ip, port, more_waiting);
    end();
}

void ProxyHandshake::on_timer(TimerNode *node) {
    static_cast<ProxyHandshake *>(node->owner)->reject("timed out");
}

void ProxyHandshake::close_now() { end(); }

bool ProxyHandshake::nothing_received() const {
    if (!buf_.empty()) return false;
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void ProxyHandshake::detach_for_loop_free() {
    server_ = nullptr;  // the loop's timers go with it; the server empties its list itself
    delete this;        // the event is removed while the base still exists
}

}  // namespace eddy::http
