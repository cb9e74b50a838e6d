// Connector: an asynchronous TCP connect with a timeout over every resolved address, staggered
// as Happy Eyeballs (RFC 8305; Tornado's TCPClient does the same with two families): the
// addresses are ordered with the families interleaved, the first address's family first
// (RFC 8305 section 4); an attempt starts when the previous one failed or kConnectAttemptDelay
// after it started, whichever comes first, earlier attempts going on (section 5). The first
// connection wins; every other attempt's socket is closed then. So an address that swallows
// SYNs (an unreachable family, a filtered host) costs 250 ms, not the whole timeout. The
// timeout bounds it all. Names are resolved asynchronously (net/resolver.hpp).
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "loop/loop.hpp"

namespace eddy {

class Stream;
class Resolution;
struct ResolvedAddresses;

// What eddy_connect_options carries (the C handle is one of these). Plain data, copied into
// each Connector.
struct ConnectOptions {
    int family = AF_UNSPEC;    // AF_INET / AF_INET6: only that family's addresses are tried
    bool bind_source = false;  // bind each attempt's socket to source (its port 0: any)
    bool source_has_ip = false;
    sockaddr_storage source{};  // the numeric source address (family AF_INET/AF_INET6)
    socklen_t source_len = 0;
    int source_port = 0;
};

class Connector : public LoopResource {
public:
    // `stream` is nullptr on failure; `error` is 0 or an EDDY_E* code. Called exactly once,
    // never from inside start().
    using DoneFn = void (*)(Connector *c, Stream *stream, int error, void *arg);
    // `release` (may be nullptr) is called with `arg` when the connector is freed without
    // having called `done` (the loop was freed first, or cancel()). `out` (may be nullptr)
    // gets the connector when it returns 0, for cancel(); it is gone once `done` or `release`
    // ran.
    static int start(Loop *loop, const char *host, int port, double timeout, DoneFn done, void *arg,
                     void (*release)(void *arg), Connector **out = nullptr,
                     const ConnectOptions *options = nullptr);
    // The same for a Unix-domain stream socket at `path` ("@name": a Linux abstract socket, as
    // eddy_listener_bind_unix names one): one address, no lookup. EDDY_EINVAL for an empty
    // path or one longer than sun_path holds. The failure names it "unix:PATH" ("connect to
    // unix:/run/app.sock: No such file or directory").
    static int start_unix(Loop *loop, const char *path, double timeout, DoneFn done, void *arg,
                          void (*release)(void *arg), Connector **out = nullptr);
    // Whether `path` fits a sockaddr_un as start_unix() writes it (non-empty; a file path's
    // NUL included, an abstract name's '@' becoming the leading NUL).
    static bool unix_path_fits(const char *path);
    // Gives up a connect whose `done` has not run (not from inside `done`): every attempt's
    // socket is closed now, `done` never runs, `release` runs before this returns. For a caller
    // whose own timer or cancel ended the wait (an HTTP fetch): the connect would otherwise go
    // on until the kernel gives up (SYN retries: about two minutes) holding its sockets.
    void cancel();
    void on_loop_free() override;
    // Why the connect failed, for `done` (valid while it runs; "" when nothing more than the
    // code is known): "connect to 127.0.0.1:1: Connection refused" (every failed attempt's, in
    // the order they failed, joined by "; ": "connect to [::1]:1: Connection refused; connect
    // to 127.0.0.1:1: Connection refused"), "name resolution: example.invalid: Name or service
    // not known", "no connection to host:443 within 20 s"; a source address that could not be
    // bound (ConnectOptions) is named: "connect to 127.0.0.1:80: bind source 10.9.9.9: Cannot
    // assign requested address".
    const std::string &failure() const { return failure_; }

    // RFC 8305's Connection Attempt Delay (section 8: 250 ms recommended; Tornado's is 0.3 s).
    static constexpr double kConnectAttemptDelay = 0.25;

private:
    // One address's connect; at most one per address, several may be in flight at once.
    struct Attempt {
        Connector *owner = nullptr;
        size_t index = 0;  // into addrs_
        int fd = -1;       // open while the connect is in flight
        struct event ev;
        bool ev_added = false;
    };

    Connector(Loop *loop) : loop_(loop) {
        timeout_.fire = on_timeout;
        timeout_.owner = this;
        attempt_delay_.fire = on_attempt_delay;
        attempt_delay_.owner = this;
    }
    // start()'s and start_unix()'s common part: `c` has its addresses (or a lookup running).
    static int launch(Connector *c, Loop *loop, double timeout, Connector **out);
    ~Connector() override;
    void begin();       // the addresses are known: order them, start the first attempt
    void start_next();  // starts the next address's attempt (finishes when none is left)
    void close_attempts();
    void finish(Stream *stream, int error);
    // The errno of a failed attempt, as text; `source`: the local address whose bind failed
    // (bind_source), named in it.
    void note_attempt_error(size_t index, int err, const sockaddr_storage *source = nullptr);
    bool filter_addresses();  // drops what options_ exclude; false (and finished) when none is left
    // Binds the source options_ ask for; 0 or an errno. `local` gets the address it bound.
    int bind_source(int fd, sa_family_t family, sockaddr_storage &local);
    static void on_writable(evutil_socket_t fd, short what, void *arg);
    static void on_timeout(TimerNode *node);
    static void on_attempt_delay(TimerNode *node);
    static void on_start(void *arg);
    static void on_resolved(void *owner, ResolvedAddresses &result);

    Loop *loop_;
    std::string host_;  // as given: for failure_ ("unix:PATH" for a Unix socket)
    int port_ = 0;      // 0 for a Unix socket
    double timeout_seconds_ = 0;
    std::string failure_;
    std::vector<sockaddr_storage> addrs_;
    std::vector<socklen_t> addr_lens_;
    Attempt *attempts_ = nullptr;  // one per address (never reallocated: events point in)
    size_t next_ = 0;              // the next address to try
    size_t in_flight_ = 0;         // attempts whose connect has not completed
    size_t failed_ = 0;            // attempts noted in failure_
    int last_error_ = EDDY_EADDRNOTAVAIL;
    TimerNode timeout_;
    TimerNode attempt_delay_;  // starts the next attempt when the current one is slow
    DoneFn done_ = nullptr;
    void *arg_ = nullptr;
    void (*release_)(void *) = nullptr;
    bool finished_ = false;
    bool start_pending_ = false;
    Resolution *resolving_ = nullptr;  // a name lookup in flight
    ConnectOptions options_;
};

}  // namespace eddy
