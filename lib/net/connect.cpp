#include "net/connect.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
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

int Connector::start(Loop *loop, const char *host, int port, double timeout, DoneFn done,
                     void *arg, void (*release)(void *)) {
    if (!loop || !host || !*host || port <= 0 || port > 65535 || !done) return EDDY_EINVAL;
    Connector *c = new (std::nothrow) Connector(loop);
    if (!c) return EDDY_ENOMEM;
    c->done_ = done;
    c->arg_ = arg;
    c->release_ = release;
    c->timeout_.fire = on_timeout;
    c->timeout_.owner = c;
    try {
        c->host_ = host;
    } catch (...) {
        delete c;
        return EDDY_ENOMEM;
    }
    c->port_ = port;
    c->timeout_seconds_ = timeout;

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
    loop->add_resource(c);
    if (timeout > 0) loop->timer_start(&c->timeout_, Loop::now() + timeout);
    if (c->resolving_) return 0;
    // Start on the next iteration so `done` never runs inside this call.
    c->start_pending_ = true;
    if (!loop->post(on_start, c)) {
        delete c;  // out of memory: the caller learns it from the result, as above
        return EDDY_ENOMEM;
    }
    return 0;
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
    c->try_next();
}

Connector::~Connector() {
    if (resolving_) resolve_cancel(resolving_);
    loop_->remove_resource(this);
    loop_->timer_stop(&timeout_);
    if (ev_added_) event_del(&ev_);
    if (fd_ >= 0) ::close(fd_);
}

void Connector::on_loop_free() {
    if (!finished_ && release_) release_(arg_);
    delete this;
}

void Connector::on_start(void *arg) {
    Connector *c = static_cast<Connector *>(arg);
    c->start_pending_ = false;
    if (c->finished_) {  // timed out before the first attempt
        delete c;
        return;
    }
    c->try_next();
}

void Connector::try_next() {
    while (next_ < addrs_.size()) {
        size_t i = next_++;
        int fd = socket(addrs_[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_error_ = error_from_errno(errno);
            note_attempt_error(i, errno);
            continue;
        }
        if (connect(fd, reinterpret_cast<sockaddr *>(&addrs_[i]), addr_lens_[i]) == 0 ||
            errno == EINPROGRESS) {
            fd_ = fd;
            event_assign(&ev_, loop_->base(), fd, EV_WRITE, on_writable, this);
            event_add(&ev_, nullptr);
            ev_added_ = true;
            return;
        }
        int err = errno;
        last_error_ = error_from_errno(err);
        note_attempt_error(i, err);
        ::close(fd);
    }
    finish(nullptr, last_error_);
}

void Connector::on_writable(evutil_socket_t fd, short, void *arg) {
    Connector *c = static_cast<Connector *>(arg);
    c->ev_added_ = false;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        ::close(c->fd_);
        c->fd_ = -1;
        c->last_error_ = error_from_errno(err);
        c->note_attempt_error(c->next_ - 1, err);
        c->try_next();
        return;
    }
    Stream *stream = Stream::create(c->loop_, c->fd_);
    if (!stream) {
        c->finish(nullptr, EDDY_ENOMEM);
        return;
    }
    c->fd_ = -1;  // owned by the stream now
    c->finish(stream, 0);
}

void Connector::note_attempt_error(size_t index, int err) {
    // Only the last attempt's is kept, as its code is (last_error_).
    char ip[INET6_ADDRSTRLEN + 2];
    int port = format_peer(reinterpret_cast<const sockaddr *>(&addrs_[index]), ip, sizeof ip);
    char where[128];
    format_host_port(where, sizeof where, ip, port);
    set_error_detail(failure_, {"connect to ", where, ": ", strerror(err)});
}

void Connector::on_timeout(TimerNode *node) {
    Connector *c = static_cast<Connector *>(node->owner);
    char buf[256];
    if (c->resolving_) {
        snprintf(buf, sizeof buf, "name resolution of %.100s not done within %g s",
                 c->host_.c_str(), c->timeout_seconds_);
    } else {
        char where[128];
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
    if (ev_added_) {
        event_del(&ev_);
        ev_added_ = false;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    done_(this, stream, error, arg_);
    // A timeout can fire while on_start is still queued; on_start then deletes us.
    if (start_pending_) return;
    delete this;
}

}  // namespace eddy
