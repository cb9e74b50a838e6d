#include "net/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <utility>

namespace eddy {

int format_peer(const sockaddr *peer, char *ip, size_t ip_len) {
    ip[0] = '\0';
    socklen_t len = static_cast<socklen_t>(ip_len);
    if (peer->sa_family == AF_INET) {
        auto *in = reinterpret_cast<const sockaddr_in *>(peer);
        inet_ntop(AF_INET, &in->sin_addr, ip, len);
        return ntohs(in->sin_port);
    }
    if (peer->sa_family == AF_INET6) {
        auto *in6 = reinterpret_cast<const sockaddr_in6 *>(peer);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, len);
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, len);
        }
        return ntohs(in6->sin6_port);
    }
    return 0;
}

bool canonical_ip(std::string_view text, std::string *out) {
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf || memchr(text.data(), '\0', text.size()))
        return false;
    memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    sockaddr_storage ss = {};
    auto *in = reinterpret_cast<sockaddr_in *>(&ss);
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
    } else {
        return false;
    }
    format_peer(reinterpret_cast<const sockaddr *>(&ss), buf, sizeof buf);
    out->assign(buf);
    return true;
}

bool listen_host(const char *host, std::string *out) {
    size_t len = strlen(host);
    bool has_bracket = strpbrk(host, "[]") != nullptr;
    if (!has_bracket) {
        out->assign(host, len);
        return true;
    }
    if (len < 3 || host[0] != '[' || host[len - 1] != ']') return false;
    std::string inner(host + 1, len - 2);
    if (strpbrk(inner.c_str(), "[]")) return false;
    // Numeric IPv6 only (a zone as getaddrinfo takes it, "fe80::1%lo", included): a name or an
    // IPv4 address in brackets is no IP-literal.
    addrinfo hints = {};
    hints.ai_family = AF_INET6;
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo *res = nullptr;
    if (getaddrinfo(inner.c_str(), nullptr, &hints, &res) != 0) return false;
    freeaddrinfo(res);
    *out = std::move(inner);
    return true;
}

}  // namespace eddy
