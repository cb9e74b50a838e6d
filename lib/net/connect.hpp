// Connector: an asynchronous TCP connect with a timeout, trying each resolved address in turn
// (Tornado's TCPClient, without happy-eyeballs staggering yet). Names are resolved
// asynchronously (net/resolver.hpp).
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "loop/loop.hpp"

namespace eddy {

class Stream;
class Resolution;
struct ResolvedAddresses;

class Connector : public LoopResource {
public:
    // `stream` is nullptr on failure; `error` is 0 or an EDDY_E* code. Called exactly once,
    // never from inside start().
    using DoneFn = void (*)(Connector *c, Stream *stream, int error, void *arg);
    // `release` (may be nullptr) is called with `arg` when the connector is freed without
    // having called `done` (the loop was freed first).
    static int start(Loop *loop, const char *host, int port, double timeout, DoneFn done,
                     void *arg, void (*release)(void *arg));
    void on_loop_free() override;
    // Why the connect failed, for `done` (valid while it runs; "" when nothing more than the
    // code is known): "connect to 127.0.0.1:1: Connection refused", "name resolution:
    // example.invalid: Name or service not known", "no connection to host:443 within 20 s".
    const std::string &failure() const { return failure_; }

private:
    Connector(Loop *loop) : loop_(loop) {}
    ~Connector() override;
    void try_next();
    void finish(Stream *stream, int error);
    void note_attempt_error(size_t index, int err);  // the errno of a failed attempt, as text
    static void on_writable(evutil_socket_t fd, short what, void *arg);
    static void on_timeout(TimerNode *node);
    static void on_start(void *arg);
    static void on_resolved(void *owner, ResolvedAddresses &result);

    Loop *loop_;
    std::string host_;  // as given: for failure_
    int port_ = 0;
    double timeout_seconds_ = 0;
    std::string failure_;
    std::vector<sockaddr_storage> addrs_;
    std::vector<socklen_t> addr_lens_;
    size_t next_ = 0;
    int fd_ = -1;
    int last_error_ = EDDY_EADDRNOTAVAIL;
    struct event ev_;
    bool ev_added_ = false;
    TimerNode timeout_;
    DoneFn done_ = nullptr;
    void *arg_ = nullptr;
    void (*release_)(void *) = nullptr;
    bool finished_ = false;
    bool start_pending_ = false;
    Resolution *resolving_ = nullptr;  // a name lookup in flight
};

}  // namespace eddy
