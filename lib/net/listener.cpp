#include "net/listener.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>

#include "net/address.hpp"
#include "tls/context.hpp"
#include "util/errors.hpp"
#include "util/log.hpp"

namespace eddy {

Listener *Listener::create(Loop *loop, AcceptFn cb, void *arg) {
    if (!loop || !cb) return nullptr;
    Listener *l = new (std::nothrow) Listener(loop);
    if (!l) return nullptr;
    l->cb_ = cb;
    l->arg_ = arg;
    l->resume_timer_.fire = on_resume;
    l->resume_timer_.owner = l;
    loop->add_resource(l);
    return l;
}

Listener::~Listener() {
    if (loop_) {
        stop();
        loop_->remove_resource(this);
    }
    if (c_free_userdata) c_free_userdata(c_userdata);
    set_c_tls(nullptr);
}

void Listener::set_c_tls(tls::Context *ctx) {
    if (ctx) ctx->ref();
    if (c_tls) c_tls->unref();
    c_tls = ctx;
}

void Listener::on_loop_free() {
    // Its owner (the C API's caller, or a server) still frees it: it only lets go of the loop.
    stop();
    loop_ = nullptr;
    eddy_free_fn free_userdata = c_free_userdata;
    void *userdata = c_userdata;
    c_free_userdata = nullptr;
    c_userdata = nullptr;
    // Last, with nothing of ours touched after it: the free function may free this listener
    // (a binding whose listener object goes with its userdata), which is then simply deleted.
    if (free_userdata) free_userdata(userdata);
}

int Listener::listen_fd(int fd, const std::string &unix_path) {
    Socket *sock = new (std::nothrow) Socket();
    if (!sock) return EDDY_ENOMEM;
    sock->owner = this;
    sock->fd = fd;
    try {
        sock->unix_path = unix_path;
        sockets_.push_back(sock);
    } catch (...) {
        delete sock;
        return EDDY_ENOMEM;
    }
    event_assign(&sock->ev, loop_->base(), fd, EV_READ | EV_PERSIST, on_accept_event, sock);
    if (!paused_ && event_add(&sock->ev, nullptr) != 0) {
        log(LogLevel::warning, "listen: fd %d cannot be watched", fd);
        sockets_.pop_back();
        delete sock;
        return EDDY_EINVAL;
    }
    return 0;
}

namespace {

// Whether an earlier answer of `res` has the same address as `ai` (Tornado's bind_sockets
// makes a set of getaddrinfo's answers for the same reason: the second bind would fail).
bool listed_before(const addrinfo *res, const addrinfo *ai) {
    for (const addrinfo *p = res; p != ai; p = p->ai_next) {
        if (p->ai_family == ai->ai_family && p->ai_addrlen == ai->ai_addrlen &&
            memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
            return true;
    }
    return false;
}

// An address of a family the host lacks (no IPv6, say) is skipped, not an error.
bool family_unavailable(int err) {
    return err == EAFNOSUPPORT || err == EADDRNOTAVAIL || err == EPROTONOSUPPORT;
}

int set_nonblock_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
    int fdflags = fcntl(fd, F_GETFD);
    if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) return -1;
    return 0;
}

int local_port(int fd) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
    return -1;
}

// Whether a server answers at `addr`. Non-blocking (a blocking connect would hang the loop
// thread while a live server's backlog is full): EAGAIN means a server is there (busy).
bool unix_server_answers(const sockaddr_un &addr) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) return false;
    bool alive = connect(probe, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) == 0 ||
                 errno == EAGAIN || errno == EINPROGRESS;
    ::close(probe);
    return alive;
}

// Removes a Unix socket's file once nobody listens there any more. The listening socket may
// live on in another process (a graceful reload hands it over, eddy_server_listening_fd; or
// the process forked after binding), or the path may by now be another server's: removing the
// file then would leave that server with a socket nobody can reach. Our own socket is closed
// already, so a server still answering at the path is someone else's (the same non-blocking
// probe bind_unix makes).
void remove_unix_file(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path) return;
    memcpy(addr.sun_path, path, len + 1);
    if (!unix_server_answers(addr)) unlink(path);
}

}  // namespace

int Listener::bind_tcp(const char *host, int port, int backlog, int flags) {
    if (!loop_) return EDDY_ESTATE;  // its loop was freed
    if (port < 0 || port > 65535) return EDDY_EINVAL;
    // A flag eddy does not know is refused rather than ignored (a later version's flag, or a
    // stray value, must not bind as if it had not been asked for).
    if (flags & ~(EDDY_LISTEN_REUSEPORT | EDDY_LISTEN_IPV6ONLY)) return EDDY_EINVAL;
    if (backlog <= 0) backlog = EDDY_DEFAULT_BACKLOG;
    addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG;
    if (host && !*host) host = nullptr;
    // "[::1]" as URLs write it is ::1 (nginx's listen takes it too); a stray bracket is refused
    // as no address rather than looked up as a name (EADDRNOTAVAIL would blame the host).
    std::string host_text;
    if (host) {
        if (!listen_host(host, &host_text)) {
            log(LogLevel::warning, "listen: %s is neither an address nor a name", host);
            return EDDY_EINVAL;
        }
        host = host_text.c_str();
    }
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    addrinfo *res = nullptr;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        // AI_ADDRCONFIG hides ::1 on hosts with only loopback IPv6; try once more without it.
        hints.ai_flags &= ~AI_ADDRCONFIG;
        gai = getaddrinfo(host, service, &hints, &res);
    }
    if (gai != 0) {
        log(LogLevel::warning, "listen: cannot resolve %s: %s", host ? host : "*", gai_strerror(gai));
        return EDDY_EADDRNOTAVAIL;
    }
    // Every address must be bound, as Tornado's bind_sockets requires (a server listening on
    // one family of two would refuse the other's clients with no sign of it), except an address
    // family this host does not have.
    const size_t sockets_before = sockets_.size();
    int bound = 0;
    int first_error = 0;
    int fatal_errno = 0;
    int chosen_port = port;
    for (addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        if (listed_before(res, ai)) continue;  // /etc/hosts may list an address twice
        // With port 0, every family's socket uses the port the first one got.
        if (chosen_port != 0) {
            if (ai->ai_family == AF_INET)
                reinterpret_cast<sockaddr_in *>(ai->ai_addr)->sin_port = htons(static_cast<uint16_t>(chosen_port));
            else
                reinterpret_cast<sockaddr_in6 *>(ai->ai_addr)->sin6_port = htons(static_cast<uint16_t>(chosen_port));
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            if (!first_error) first_error = error_from_errno(errno);
            if (!family_unavailable(errno)) fatal_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (flags & EDDY_LISTEN_REUSEPORT) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (ai->ai_family == AF_INET6) {
            // Tornado sets IPV6_V6ONLY whenever it binds both families; we do the same when no
            // host was given (one socket per family), and when asked.
            int v6only = (flags & EDDY_LISTEN_IPV6ONLY) || host == nullptr ? 1 : 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
            int err = errno;
            ::close(fd);
            if (!first_error) first_error = error_from_errno(err);
            if (!family_unavailable(err)) fatal_errno = err;
            continue;
        }
        int rc = listen_fd(fd, std::string());
        if (rc != 0) {
            ::close(fd);
            if (!first_error) first_error = rc;
            fatal_errno = EINVAL;
            continue;
        }
        if (chosen_port == 0) chosen_port = local_port(fd);
        bound++;
    }
    freeaddrinfo(res);
    if (bound > 0 && fatal_errno) {
        // Undo this call's sockets only: earlier calls may have added others.
        while (sockets_.size() > sockets_before) {
            close_socket(sockets_.back());
            sockets_.pop_back();
        }
        first_error = error_from_errno(fatal_errno);
        bound = 0;
    }
    if (bound == 0) {
        if (!first_error) first_error = EDDY_EADDRNOTAVAIL;
        // An IPv6 address in brackets, as in a URL ("[::]:80", not ":::80").
        bool v6 = host && strchr(host, ':');
        log(LogLevel::warning, "listen: cannot listen on %s%s%s:%d: %s", v6 ? "[" : "",
            host ? host : "*", v6 ? "]" : "", port, eddy_strerror(first_error));
        return first_error;
    }
    return 0;
}

int Listener::bind_unix(const char *path, int backlog, int mode) {
    if (!loop_) return EDDY_ESTATE;
    if (!path || !*path) return EDDY_EINVAL;
    if (mode < -1 || mode > 0777) return EDDY_EINVAL;
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (path[0] == '@') {
        // A Linux abstract socket (as Go's net package, systemd and socat spell it: "@name";
        // the kernel's name starts with a NUL). No file: nothing to replace, chmod or remove;
        // a name in use is EADDRINUSE from bind itself.
        if (len < 2 || len > sizeof addr.sun_path) return EDDY_EINVAL;
        memcpy(addr.sun_path + 1, path + 1, len - 1);
        socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
        if (backlog <= 0) backlog = EDDY_DEFAULT_BACKLOG;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return error_from_errno(errno);
        if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), addr_len) != 0 ||
            ::listen(fd, backlog) != 0) {
            int err = errno;
            ::close(fd);
            return error_from_errno(err);
        }
        int rc = listen_fd(fd, std::string());
        if (rc != 0) ::close(fd);
        return rc;
    }
    if (len >= sizeof addr.sun_path) return EDDY_EINVAL;
    memcpy(addr.sun_path, path, len + 1);
    if (backlog <= 0) backlog = EDDY_DEFAULT_BACKLOG;

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return EDDY_EADDRINUSE;
        // A leftover socket file: replace it unless a server still answers there.
        if (unix_server_answers(addr)) return EDDY_EADDRINUSE;
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return error_from_errno(errno);
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        return error_from_errno(err);
    }
    // The mode is set between bind and listen, as Tornado's bind_unix_socket does: until
    // listen a connect is refused, so no client gets in under the umask's permissions.
    if ((mode >= 0 && chmod(path, static_cast<mode_t>(mode)) != 0) || ::listen(fd, backlog) != 0) {
        int err = errno;
        ::close(fd);
        unlink(path);  // ours: made by the bind above
        return error_from_errno(err);
    }
    int rc = listen_fd(fd, path);
    if (rc != 0) {
        ::close(fd);
        unlink(path);
    }
    return rc;
}

int Listener::add_fd(int fd) {
    if (!loop_) return EDDY_ESTATE;
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting)
        return EDDY_EINVAL;
    if (set_nonblock_cloexec(fd) != 0) return error_from_errno(errno);
    return listen_fd(fd, std::string());
}

int Listener::port() const {
    for (const Socket *sock : sockets_) {
        int p = local_port(sock->fd);
        if (p >= 0) return p;
    }
    return EDDY_ENOENT;
}

void Listener::close_socket(Socket *sock) {
    event_del(&sock->ev);  // (harmless when paused: not added)
    ::close(sock->fd);
    if (!sock->unix_path.empty()) remove_unix_file(sock->unix_path.c_str());
    delete sock;
}

void Listener::stop() {
    for (Socket *sock : sockets_) close_socket(sock);
    sockets_.clear();
    if (loop_) loop_->timer_stop(&resume_timer_);
    paused_ = false;
}

void Listener::destroy() {
    stop();
    if (in_callback_) {
        destroy_pending_ = true;  // accept_ready deletes us once the callback returns
        return;
    }
    delete this;
}

void Listener::on_accept_event(evutil_socket_t, short, void *arg) {
    Socket *sock = static_cast<Socket *>(arg);
    sock->owner->accept_ready(sock);
}

void Listener::accept_ready(Socket *sock) {
    int listen_fd = sock->fd;  // `sock` may be deleted by a callback that stops the listener
    for (int i = 0; i < kAcceptBatch; i++) {
        sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept4(listen_fd, reinterpret_cast<sockaddr *>(&peer), &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                // Out of fds: the pending connection stays in the backlog. Stop watching for a
                // moment instead of spinning on a socket that stays readable.
                pause_accepting();
                return;
            }
            if (err == EINVAL || err == EBADF || err == ENOTSOCK) {
                // The socket no longer listens: shut down by a process that shares it (an
                // inherited fd, eddy_listener_add_fd; shutdown(2) is how a supervisor wakes and
                // stops its workers). epoll reports it readable for ever, so watching it would
                // spin the loop with a log line per pass: stop watching it, say so once.
                // (`sock` is still ours: checked after every callback.)
                log(LogLevel::error, "accept on fd %d: %s; no longer accepting there", listen_fd,
                    strerror(err));
                if (!sock->dead) {
                    sock->dead = true;
                    event_del(&sock->ev);
                }
                return;
            }
            log(LogLevel::error, "accept: %s", strerror(err));
            return;
        }
        in_callback_++;
        cb_(this, fd, reinterpret_cast<sockaddr *>(&peer), peer_len, arg_);
        in_callback_--;
        if (destroy_pending_ && in_callback_ == 0) {
            delete this;
            return;
        }
        // Stopped from the callback (and maybe bound again: then `sock` is gone though
        // sockets_ is not empty).
        if (std::find(sockets_.begin(), sockets_.end(), sock) == sockets_.end()) return;
    }
}

void Listener::pause_accepting() {
    if (paused_) return;
    paused_ = true;
    fd_exhausted_pauses_++;
    log(LogLevel::warning, "accept: out of file descriptors; pausing accepts for %.0f ms",
        kFdExhaustedPause * 1000);
    for (Socket *sock : sockets_) event_del(&sock->ev);
    loop_->timer_start(&resume_timer_, Loop::now() + kFdExhaustedPause);
}

void Listener::on_resume(TimerNode *node) {
    Listener *l = static_cast<Listener *>(node->owner);
    l->paused_ = false;
    for (Socket *sock : l->sockets_)
        if (!sock->dead) event_add(&sock->ev, nullptr);
}

}  // namespace eddy
