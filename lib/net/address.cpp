#include "net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

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

}  // namespace eddy
