// ProxyHandshake: the first stage of a connection on a server with the PROXY protocol on. It
// reads the PROXY header (and nothing more) off the socket before any stream exists, then
// makes the connection's stream — plain or TLS, since the header comes before the ClientHello
// — and hands it to a Connection whose client address is the one the proxy sent. A missing,
// malformed or late header closes the socket with a log line.
//
// Nothing after the header is read: the socket is peeked at, and only header bytes are taken
// off it, so the bytes that follow (a request, a ClientHello) stay in the kernel for the stream.
#pragma once

#include <event2/event_struct.h>

#include <string>

#include "loop/timer_heap.hpp"

namespace eddy::http {

class Server;
struct ProxyHeader;

class ProxyHandshake {
public:
    // Takes ownership of `fd` (a connected, non-blocking socket). The server must link it into
    // its list before start().
    ProxyHandshake(Server *server, int fd, std::string peer_ip, int peer_port);
    // Starts watching the socket; false (the fd closed, the caller deletes this) when libevent
    // refuses.
    bool start();
    // The server is being freed or retired: close the socket and delete this.
    void close_now();
    // The loop is being freed: stop watching, close the socket and delete this.
    void detach_for_loop_free();
    // Nothing has come from the peer yet (a graceful shutdown closes such a connection at once,
    // as it does an idle one; one whose header has started is left to finish).
    bool nothing_received() const;
    ~ProxyHandshake();

    ProxyHandshake *prev = nullptr;  // the server's list
    ProxyHandshake *next = nullptr;

private:
    void end();                    // closes the socket, leaves the server, deletes this
    void reject(const char *why);  // a log line, then end()
    void leave_server();
    void on_readable();
    void finish(const ProxyHeader &header, size_t header_bytes_left, bool more_waiting);
    static void on_event(int fd, short what, void *arg);
    static void on_timer(TimerNode *node);

    Server *server_;
    int fd_;
    std::string peer_ip_;
    int peer_port_;
    std::string buf_;  // header bytes taken off the socket so far (when it came in pieces)
    struct event ev_;
    bool watching_ = false;
    TimerNode timer_;
};

}  // namespace eddy::http
