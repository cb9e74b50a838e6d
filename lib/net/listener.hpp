// Listener: listening sockets and the accept loop (Tornado's TCPServer + bind_sockets).
// Hands each accepted fd to a C++ callback; the C API wraps it in a Stream, the HTTP server
// wraps it in its connection.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "eddy/net.h"
#include "loop/loop.hpp"

namespace eddy {

namespace tls {
class Context;
}

class Listener : public LoopResource {
public:
    // Takes ownership of `fd` (non-blocking, close-on-exec). `peer` is valid during the call.
    using AcceptFn = void (*)(Listener *l, int fd, const sockaddr *peer, socklen_t peer_len,
                              void *arg);

    static constexpr int kAcceptBatch = 128;         // accepts per wake-up, as Tornado
    static constexpr double kFdExhaustedPause = 0.1;  // seconds to stop accepting on EMFILE

    static Listener *create(Loop *loop, AcceptFn cb, void *arg);
    ~Listener() override;

    int bind_tcp(const char *host, int port, int backlog, int flags);
    // `mode`: the socket file's permission bits, or -1 to leave them to the umask.
    int bind_unix(const char *path, int backlog, int mode = -1);
    int add_fd(int fd);
    int port() const;
    int socket_count() const { return static_cast<int>(sockets_.size()); }
    int socket_fd(int index) const {
        return index >= 0 && index < socket_count() ? sockets_[static_cast<size_t>(index)]->fd : -1;
    }
    void stop();
    // Calls stop() and deletes the listener (deferred when inside the accept callback).
    void destroy();
    void on_loop_free() override;
    Loop *loop_for_capi() const { return loop_; }

    // Number of times accepting paused because fds ran out (for logs and tests).
    unsigned long fd_exhausted_pauses() const { return fd_exhausted_pauses_; }

    void *c_userdata = nullptr;
    eddy_free_fn c_free_userdata = nullptr;
    eddy_accept_fn c_accept_cb = nullptr;
    // eddy_listener_set_tls: accepted connections become server TLS streams (a reference held).
    tls::Context *c_tls = nullptr;
    void set_c_tls(tls::Context *ctx);

private:
    struct Socket {
        Listener *owner;
        int fd;
        struct event ev;
        std::string unix_path;  // removed on stop
        bool dead = false;      // accept() failed for good (no longer listening): not watched
    };

    explicit Listener(Loop *loop) : loop_(loop) {}
    int listen_fd(int fd, const std::string &unix_path);
    void close_socket(Socket *sock);  // stops watching, closes, removes a Unix socket's file
    void accept_ready(Socket *sock);
    void pause_accepting();
    static void on_accept_event(evutil_socket_t fd, short what, void *arg);
    static void on_resume(TimerNode *node);

    Loop *loop_;
    AcceptFn cb_ = nullptr;
    void *arg_ = nullptr;
    std::vector<Socket *> sockets_;
    TimerNode resume_timer_;
    bool paused_ = false;
    int in_callback_ = 0;
    bool destroy_pending_ = false;
    unsigned long fd_exhausted_pauses_ = 0;
};

}  // namespace eddy
