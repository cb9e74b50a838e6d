// The PROXY protocol header (HAProxy's spec, versions 1 and 2): a load balancer puts it in
// front of the client's bytes to say who the client really is. A pure parser, no I/O.
#pragma once

#include <cstddef>
#include <string>

namespace eddy::http {

struct ProxyHeader {
    int version = 0;
    // False for v1 "UNKNOWN", v2 LOCAL, and families without IP addresses: then the socket's
    // own peer address stays the client's.
    bool has_address = false;
    std::string src_ip;
    int src_port = 0;
    std::string dst_ip;
    int dst_port = 0;
};

enum class ProxyParse { incomplete, done, invalid };

// The longest header this parser accepts: a v1 line is at most 107 bytes; v2 is 16 bytes plus
// its length field, which we bound (addresses and a few TLVs fit easily).
constexpr size_t kProxyV1MaxLength = 107;
constexpr size_t kProxyV2MaxLength = 16 + 2048;

// Parses the header at the start of `data`. done: `*consumed` is its length and `*out` is
// filled. incomplete: every byte so far may belong to a header; call again with more.
// invalid: `*why` names the problem (a static string).
ProxyParse parse_proxy_header(const char *data, size_t len, ProxyHeader *out, size_t *consumed,
                              const char **why);

}  // namespace eddy::http
