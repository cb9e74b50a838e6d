// eddy_bind_socket: a listening socket made without a loop, to be shared by forked children
// (Tornado's bind_sockets, one socket).
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "eddy/net.h"
#include "eddy/process.h"
#include "net/address.hpp"
#include "util/errors.hpp"
#include "util/log.hpp"

extern "C" int eddy_bind_socket(const char *host, int port, int backlog, int flags) {
    if (port < 0 || port > 65535) return EDDY_EINVAL;
    if (backlog <= 0) backlog = EDDY_DEFAULT_BACKLOG;
    if (host && !*host) host = nullptr;
    std::string host_text;  // "[::1]" is ::1, as eddy_listener_bind takes it
    if (host) {
        try {
            if (!eddy::listen_host(host, &host_text)) return EDDY_EINVAL;
        } catch (...) {  // (no exception may leave the C API)
            return EDDY_ENOMEM;
        }
        host = host_text.c_str();
    }
    addrinfo hints = {};
    hints.ai_family = host ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    addrinfo *res = nullptr;
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) return EDDY_EADDRNOTAVAIL;
    int result = EDDY_EADDRNOTAVAIL;
    for (addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            result = eddy::error_from_errno(errno);
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (flags & EDDY_LISTEN_REUSEPORT) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (ai->ai_family == AF_INET6 && (flags & EDDY_LISTEN_IPV6ONLY))
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, backlog) == 0) {
            result = fd;
            break;
        }
        result = eddy::error_from_errno(errno);
        ::close(fd);
    }
    freeaddrinfo(res);
    if (result < 0)
        eddy::log(eddy::LogLevel::warning, "bind_socket: cannot listen on %s:%d: %s", host ? host : "*",
                  port, eddy_strerror(result));
    return result;
}

extern "C" int eddy_socket_port(int fd) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0) return EDDY_EINVAL;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
    return EDDY_EINVAL;
}
