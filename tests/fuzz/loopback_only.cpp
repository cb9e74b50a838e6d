// fuzz_client_response's guard: the fuzzed bytes play a hostile server to eddy's HTTP client,
// and some of them (a Location, once redirects are followed) name hosts. The harness routes
// every request through 127.0.0.1, so nothing should ever connect elsewhere; this makes that a
// checked invariant instead of a hope. connect() defined here interposes on libc's for the
// whole process (eddy's objects and libevent alike): an address that is not loopback — or a
// Unix socket — aborts before any packet leaves. glibc's resolver calls its own connect, not
// this one, so getaddrinfo() is guarded too: numeric hosts (AI_NUMERICHOST, which never touches
// the network) go through to libc's, and any real name lookup aborts.
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

bool is_loopback(const struct sockaddr *addr, socklen_t len) {
    if (!addr) return false;
    if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        const auto *in = reinterpret_cast<const sockaddr_in *>(addr);
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;  // 127.0.0.0/8
    }
    if (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(addr);
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;  // ::1
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

}  // namespace

extern "C" int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (!is_loopback(addr, len)) {
        static const char msg[] = "fuzz_client_response: connect() to a non-loopback address\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    // The system call itself: no libc wrapper to find, and nothing else to interpose on.
    return static_cast<int>(syscall(SYS_connect, fd, addr, len));
}

extern "C" int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                           struct addrinfo **res) {
    if (node && !(hints && (hints->ai_flags & AI_NUMERICHOST))) {
        static const char msg[] = "fuzz_client_response: a name lookup (getaddrinfo)\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    using Fn = int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
    if (!real) return EAI_FAIL;
    return real(node, service, hints, res);
}
