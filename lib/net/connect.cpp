#include "net/connect.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <new>

#include "net/address.hpp"
#include "net/resolver.hpp"
#include "stream/stream.hpp"
#include "util/error_detail.hpp"
#include "util/errors.hpp"

namespace eddy {

namespace {

// "host:port" for a detail, as in a URL: an IPv6 address in brackets; a long name is cut.
void format_host_port(char *out, size_t len, const char *host, int port) {
    bool v6 = strchr(host, ':') != nullptr && host[0] != '[';
    snprintf(out, len, "%s%.100s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

}  // namespace

int Connector::start(Loop *loop, const char *host, int port, double timeout, DoneFn done, void *arg,
                     void (*release)(void *), Connector **out, const ConnectOptions *options) {
    if (!loop || !host || !*host || port <= 0 || port > 65535 || !done) return EDDY_EINVAL;
    Connector *c = new (std::nothrow) Connector(loop);
    if (!c) return EDDY_ENOMEM;
    c->done_ = done;
    c->arg_ = arg;
    c->release_ = release;
    try {
        c->host_ = host;
    } catch (...) {
        delete c;
        return EDDY_ENOMEM;
    }
    c->port_ = port;
    if (options) c->options_ = *options;

    ResolvedAddresses numeric;
    if (resolve_numeric(host, port, &numeric)) {
        c->addrs_ = std::move(numeric.addrs);
        c->addr_lens_ = std::move(numeric.lens);
    } else {
        // A name: looked up on a worker thread; the attempt starts when the answer arrives.
        c->resolving_ = resolve_start(loop, host, port, on_resolved, c);
        if (!c->resolving_) {
            delete c;
            return EDDY_ENOMEM;
        }
    }
    return launch(c, loop, timeout, out);
}

bool Connector::unix_path_fits(const char *path) {
    if (!path || !*path) return false;
    size_t len = strlen(path);
    // "@name": the '@' becomes the kernel's leading NUL, the name is not NUL-terminated (as
    // Listener::bind_unix binds it); a file path needs its NUL.
    if (path[0] == '@') return len >= 2 && len <= sizeof(sockaddr_un::sun_path);
    return len < sizeof(sockaddr_un::sun_path);
}

int Connector::start_unix(Loop *loop, const char *path, double timeout, DoneFn done, void *arg,
                          void (*release)(void *), Connector **out) {
    if (!loop || !done || !unix_path_fits(path)) return EDDY_EINVAL;
    Connector *c = new (std::nothrow) Connector(loop);
    if (!c) return EDDY_ENOMEM;
    c->done_ = done;
    c->arg_ = arg;
    c->release_ = release;
    sockaddr_storage ss = {};
    sockaddr_un *un = reinterpret_cast<sockaddr_un *>(&ss);
    un->sun_family = AF_UNIX;
    size_t len = strlen(path);
    socklen_t addr_len;
    if (path[0] == '@') {
        memcpy(un->sun_path + 1, path + 1, len - 1);
        addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    } else {
        memcpy(un->sun_path, path, len + 1);
        addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + 1);
    }
    try {
        c->host_ = std::string("unix:") + path;
        c->addrs_.push_back(ss);
        c->addr_lens_.push_back(addr_len);
    } catch (...) {
        delete c;
        return EDDY_ENOMEM;
    }
    return launch(c, loop, timeout, out);
}

int Connector::launch(Connector *c, Loop *loop, double timeout, Connector **out) {
    c->timeout_seconds_ = timeout;
    loop->add_resource(c);
    if (timeout > 0) loop->timer_start(&c->timeout_, Loop::now() + timeout);
    if (!c->resolving_) {
        // Start on the next iteration so `done` never runs inside this call.
        c->start_pending_ = true;
        if (!loop->post(on_start, c)) {
            delete c;  // out of memory: the caller learns it from the result, as above
            return EDDY_ENOMEM;
        }
    }
    if (out) *out = c;
    return 0;
}

void Connector::cancel() {
    if (finished_) return;
    finished_ = true;  // a queued on_start only deletes us now
    void (*release)(void *) = release_;
    release_ = nullptr;
    loop_->timer_stop(&timeout_);
    loop_->timer_stop(&attempt_delay_);
    close_attempts();
    if (resolving_) {
        resolve_cancel(resolving_);
        resolving_ = nullptr;
    }
    if (release) release(arg_);
    if (start_pending_) return;  // on_start deletes us
    delete this;
}

void Connector::on_resolved(void *owner, ResolvedAddresses &result) {
    Connector *c = static_cast<Connector *>(owner);
    c->resolving_ = nullptr;
    if (result.error) {
        if (!result.detail.empty())
            set_error_detail(c->failure_, {"name resolution: ", result.detail});
        c->finish(nullptr, result.error);
        return;
    }
    c->addrs_ = std::move(result.addrs);
    c->addr_lens_ = std::move(result.lens);
    c->begin();
}

Connector::~Connector() {
    if (resolving_) resolve_cancel(resolving_);
    loop_->remove_resource(this);
    loop_->timer_stop(&timeout_);
    loop_->timer_stop(&attempt_delay_);
    close_attempts();
    delete[] attempts_;
}

void Connector::close_attempts() {
    if (!attempts_) return;
    for (size_t i = 0; i < next_; i++) {
        Attempt &a = attempts_[i];
        if (a.ev_added) event_del(&a.ev);
        a.ev_added = false;
        if (a.fd >= 0) ::close(a.fd);  // a losing (or abandoned) attempt
        a.fd = -1;
    }
    in_flight_ = 0;
}

void Connector::on_loop_free() {
    if (!finished_ && release_) release_(arg_);
    delete this;
}

void Connector::on_start(void *arg) {
    Connector *c = static_cast<Connector *>(arg);
    c->start_pending_ = false;
    if (c->finished_) {  // timed out or cancelled before the first attempt
        delete c;
        return;
    }
    c->begin();
}

bool Connector::filter_addresses() {
    // A family asked for (af=) or implied by the source address keeps only that family's
    // addresses, in their order; the rest of the connect is unchanged.
    int want = options_.family;
    if (options_.source_has_ip) want = options_.source.ss_family;
    if (want == AF_UNSPEC) return true;
    size_t kept = 0;
    for (size_t i = 0; i < addrs_.size(); i++) {
        if (addrs_[i].ss_family != want) continue;
        addrs_[kept] = addrs_[i];
        addr_lens_[kept] = addr_lens_[i];
        kept++;
    }
    addrs_.resize(kept);
    addr_lens_.resize(kept);
    if (kept) return true;
    const char *what = want == AF_INET6 ? "IPv6" : "IPv4";
    if (options_.family != AF_UNSPEC && options_.family == want) {
        // As getaddrinfo() asked for one family answers for a host without one (Tornado's
        // TCPClient lets that gaierror through).
        set_error_detail(failure_, {"name resolution: ", host_, ": no ", what, " address"});
        finish(nullptr, EDDY_ERESOLVE);
    } else {
        set_error_detail(failure_, {"no ", what, " address of ", host_, " for the source address"});
        finish(nullptr, EDDY_EADDRNOTAVAIL);
    }
    return false;
}

int Connector::bind_source(int fd, sa_family_t family, sockaddr_storage &local) {
    local = {};
    socklen_t len;
    uint16_t port = htons(static_cast<uint16_t>(options_.source_port));
    if (options_.source_has_ip) {
        local = options_.source;  // its family is `family`: filter_addresses() saw to that
        len = options_.source_len;
    } else if (family == AF_INET6) {
        auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&local);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_any;
        len = sizeof *sin6;
    } else {
        auto *sin = reinterpret_cast<sockaddr_in *>(&local);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof *sin;
    }
    if (family == AF_INET6)
        reinterpret_cast<sockaddr_in6 *>(&local)->sin6_port = port;
    else
        reinterpret_cast<sockaddr_in *>(&local)->sin_port = port;
#ifdef IP_BIND_ADDRESS_NO_PORT
    // Only an address: the port is picked at connect() time for the whole 4-tuple, so binding
    // does not use up an ephemeral port per local address (Linux 4.2+; ignored elsewhere).
    if (options_.source_port == 0) {
        int on = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
    }
#endif
    if (::bind(fd, reinterpret_cast<sockaddr *>(&local), len) != 0) return errno;
    return 0;
}

void Connector::begin() {
    if (!filter_addresses()) return;
    // RFC 8305 section 4: the families interleaved, the first address's (the system's
    // preference, RFC 6724) first, each family's addresses in their order. A name with both
    // families then reaches the second one after one attempt delay whatever the first has.
    size_t n = addrs_.size();
    attempts_ = new (std::nothrow) Attempt[n];
    if (!attempts_) {
        finish(nullptr, EDDY_ENOMEM);
        return;
    }
    try {
        std::vector<sockaddr_storage> addrs;
        std::vector<socklen_t> lens;
        addrs.reserve(n);
        lens.reserve(n);
        sa_family_t first = n ? addrs_[0].ss_family : AF_UNSPEC;
        size_t same = 0, other = 0;  // the next unused address of each kind
        for (bool want_first = true; addrs.size() < n; want_first = !want_first) {
            size_t &k = want_first ? same : other;
            while (k < n && (addrs_[k].ss_family == first) != want_first) k++;
            if (k == n) continue;  // that kind is used up: the other one's turn again
            addrs.push_back(addrs_[k]);
            lens.push_back(addr_lens_[k]);
            k++;
        }
        addrs_ = std::move(addrs);
        addr_lens_ = std::move(lens);
    } catch (...) {
        finish(nullptr, EDDY_ENOMEM);
        return;
    }
    start_next();
}

void Connector::start_next() {
    loop_->timer_stop(&attempt_delay_);
    while (next_ < addrs_.size()) {
        size_t i = next_++;
        Attempt &a = attempts_[i];
        a.owner = this;
        a.index = i;
        int fd = socket(addrs_[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            int err = errno;
            last_error_ = error_from_errno(err);
            note_attempt_error(i, err);
            continue;
        }
        if (options_.bind_source) {
            sockaddr_storage local;
            if (int err = bind_source(fd, addrs_[i].ss_family, local)) {
                // A failed bind fails this attempt as a failed connect does; the detail says
                // it was the bind (EADDRNOTAVAIL alone reads as if the peer were the problem).
                last_error_ = error_from_errno(err);
                note_attempt_error(i, err, &local);
                ::close(fd);
                continue;
            }
        }
        if (connect(fd, reinterpret_cast<sockaddr *>(&addrs_[i]), addr_lens_[i]) == 0 ||
            errno == EINPROGRESS) {
            a.fd = fd;
            event_assign(&a.ev, loop_->base(), fd, EV_WRITE, on_writable, &a);
            event_add(&a.ev, nullptr);
            a.ev_added = true;
            in_flight_++;
            // The next address gets its turn when this one is slow (or as soon as it fails).
            if (next_ < addrs_.size())
                loop_->timer_start(&attempt_delay_, Loop::now() + kConnectAttemptDelay);
            return;
        }
        int err = errno;
        last_error_ = error_from_errno(err);
        // A Unix socket whose listen queue is full fails the connect at once with EAGAIN
        // (TCP would queue the SYN): the server refuses it for now, as nginx counts it.
        if (err == EAGAIN && addrs_[i].ss_family == AF_UNIX) last_error_ = EDDY_ECONNREFUSED;
        note_attempt_error(i, err);
        ::close(fd);
    }
    // Every address has been tried: done when no attempt is still going on.
    if (in_flight_ == 0) finish(nullptr, last_error_);
}

void Connector::on_attempt_delay(TimerNode *node) {
    static_cast<Connector *>(node->owner)->start_next();
}

void Connector::on_writable(evutil_socket_t fd, short, void *arg) {
    Attempt *a = static_cast<Attempt *>(arg);
    Connector *c = a->owner;
    a->ev_added = false;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        ::close(a->fd);
        a->fd = -1;
        c->in_flight_--;
        c->last_error_ = error_from_errno(err);
        c->note_attempt_error(a->index, err);
        // A failure does not wait out the attempt delay: the next address starts now (RFC
        // 8305 section 5; Tornado's secondary family starts at once when the primary fails).
        c->start_next();
        return;
    }
    Stream *stream = Stream::create(c->loop_, a->fd);
    if (!stream) {
        c->finish(nullptr, EDDY_ENOMEM);  // closes a->fd with the others
        return;
    }
    a->fd = -1;  // owned by the stream now
    c->in_flight_--;
    c->finish(stream, 0);  // the other attempts lost: their sockets are closed there
}

void Connector::note_attempt_error(size_t index, int err, const sockaddr_storage *source) {
    // Every failed attempt is named, in the order they failed; the code is the last one's
    // (last_error_).
    char ip[INET6_ADDRSTRLEN + 2];
    char where[128];
    const char *reason = strerror(err);
    char bind_reason[INET6_ADDRSTRLEN + 160];
    if (source) {
        // "bind source 10.9.9.9: Cannot assign requested address" ("[::]:5000" for a port
        // alone): the local end could not be bound, the peer was never tried.
        char src[INET6_ADDRSTRLEN + 2];
        char src_where[INET6_ADDRSTRLEN + 16];
        int src_port = format_peer(reinterpret_cast<const sockaddr *>(source), src, sizeof src);
        if (src_port)
            format_host_port(src_where, sizeof src_where, src, src_port);
        else
            snprintf(src_where, sizeof src_where, "%s", src);
        snprintf(bind_reason, sizeof bind_reason, "bind source %s: %s", src_where, reason);
        reason = bind_reason;
    }
    if (addrs_[index].ss_family == AF_UNIX) {
        // "unix:/run/app.sock", the path as given (the only address of a Unix connect).
        snprintf(where, sizeof where, "%.120s", host_.c_str());
        // Linux refuses a connect to a file that is no socket with ECONNREFUSED, as it refuses
        // a socket nobody listens on: say which, the fix differs (a wrong path, a dead server).
        struct stat st;
        const char *path = host_.c_str() + 5;  // after "unix:"
        if (err == ECONNREFUSED && path[0] != '@' && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
            reason = "Connection refused (not a socket)";
        else if (err == EAGAIN)
            reason = "Resource temporarily unavailable (the server's listen queue is full)";
    } else {
        int port = format_peer(reinterpret_cast<const sockaddr *>(&addrs_[index]), ip, sizeof ip);
        format_host_port(where, sizeof where, ip, port);
    }
    if (failed_++ == 0) {
        set_error_detail(failure_, {"connect to ", where, ": ", reason});
        return;
    }
    try {
        failure_.append("; connect to ").append(where).append(": ").append(reason);
    } catch (...) {
        failure_.clear();  // as set_error_detail: no detail rather than a wrong one
    }
}

void Connector::on_timeout(TimerNode *node) {
    Connector *c = static_cast<Connector *>(node->owner);
    char buf[256];
    if (c->resolving_) {
        snprintf(buf, sizeof buf, "name resolution of %.100s not done within %g s",
                 c->host_.c_str(), c->timeout_seconds_);
    } else {
        char where[128];
        if (c->port_ == 0)  // a Unix socket: "unix:PATH"
            snprintf(where, sizeof where, "%.120s", c->host_.c_str());
        else
            format_host_port(where, sizeof where, c->host_.c_str(), c->port_);
        snprintf(buf, sizeof buf, "no connection to %s within %g s", where, c->timeout_seconds_);
    }
    set_error_detail(c->failure_, {buf});
    c->finish(nullptr, EDDY_ETIMEDOUT);
}

void Connector::finish(Stream *stream, int error) {
    if (finished_) return;
    finished_ = true;
    loop_->timer_stop(&timeout_);
    loop_->timer_stop(&attempt_delay_);
    close_attempts();  // the losers and anything still in flight
    done_(this, stream, error, arg_);
    // A timeout can fire while on_start is still queued; on_start then deletes us.
    if (start_pending_) return;
    delete this;
}

}  // namespace eddy
