// ProxyHandshake: the first stage of a connection on a server with the PROXY protocol on. It
// reads the PROXY header (and nothing more) from the stream, then hands the stream to a
// Connection whose client address is the one the proxy sent. A missing, malformed or late
// header closes the connection with a log line.
#pragma once

#include <string>

#include "loop/timer_heap.hpp"

namespace eddy {
class Stream;
}

namespace eddy::http {

class Server;

class ProxyHandshake {
public:
    // Starts reading the header; the server must have linked it into its list.
    ProxyHandshake(Server *server, Stream *stream, std::string peer_ip, int peer_port);
    void start();
    // The server is being freed: close the stream without callbacks and delete this.
    void close_now();
    // The loop is being freed (it frees the stream): delete this.
    void detach_for_loop_free();

    ProxyHandshake *prev = nullptr;  // the server's list
    ProxyHandshake *next = nullptr;

private:
    ~ProxyHandshake() = default;
    void reject(const char *why);
    void leave_server();
    static size_t on_data(Stream *s, const char *data, size_t len, void *arg);
    static void on_close(Stream *s, int error, void *arg);
    static void on_timer(TimerNode *node);

    Server *server_;
    Stream *stream_;
    std::string peer_ip_;
    int peer_port_;
    std::string buf_;  // header bytes seen so far (only when it came in pieces)
    TimerNode timer_;
    bool rejected_ = false;
};

}  // namespace eddy::http
