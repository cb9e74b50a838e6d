#include "http/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace eddy::http {

namespace {

constexpr char kV1Prefix[] = "PROXY ";
constexpr size_t kV1PrefixLength = sizeof kV1Prefix - 1;
constexpr unsigned char kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// A decimal port: 1 to 5 digits, no leading zero (except "0"), at most 65535.
bool parse_port(const char *s, size_t len, int *port) {
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0')) return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 65535) return false;
    *port = v;
    return true;
}

void format_v6(const unsigned char *bin, std::string *out);

// The address is kept as version 2's are written (and the listener writes a peer): one
// spelling per address, "2001:DB8:0::1" as "2001:db8::1" and an IPv4-mapped one as IPv4. It
// is then compared as text with the trusted proxies (xheaders), and logged.
bool parse_ip(int family, const char *s, size_t len, std::string *out) {
    if (len == 0 || len >= INET6_ADDRSTRLEN) return false;
    // inet_pton stops at a NUL: "1.2.3.4\0<anything>" would pass, and the bytes after it
    // reach the logs as part of the address. A field is the address and nothing else.
    if (memchr(s, '\0', len)) return false;
    char buf[INET6_ADDRSTRLEN];
    memcpy(buf, s, len);
    buf[len] = '\0';
    unsigned char bin[sizeof(in6_addr)];
    if (inet_pton(family, buf, bin) != 1) return false;
    if (family == AF_INET6) {
        format_v6(bin, out);
    } else {
        inet_ntop(AF_INET, bin, buf, sizeof buf);
        out->assign(buf);
    }
    return true;
}

// "PROXY TCP4 src dst sport dport\r\n", "PROXY TCP6 ...", or "PROXY UNKNOWN ...\r\n".
ProxyParse parse_v1(const char *data, size_t len, ProxyHeader *out, size_t *consumed,
                    const char **why) {
    const char *end = static_cast<const char *>(memchr(data, '\n', len));
    if (!end) {
        if (len >= kProxyV1MaxLength) {
            *why = "v1 line too long";
            return ProxyParse::invalid;
        }
        return ProxyParse::incomplete;
    }
    size_t line_len = static_cast<size_t>(end - data) + 1;
    if (line_len > kProxyV1MaxLength || line_len < kV1PrefixLength + 2 || end[-1] != '\r') {
        *why = "v1 line not ended by CRLF within 107 bytes";
        return ProxyParse::invalid;
    }
    // Split the part after "PROXY " into single-space separated fields.
    const char *p = data + kV1PrefixLength;
    const char *stop = end - 1;  // the '\r'
    const char *field[5];
    size_t field_len[5];
    size_t n = 0;
    bool trailing_space = false;
    while (p < stop && n < 5) {
        const char *sp = static_cast<const char *>(memchr(p, ' ', static_cast<size_t>(stop - p)));
        const char *fe = sp ? sp : stop;
        field[n] = p;
        field_len[n] = static_cast<size_t>(fe - p);
        n++;
        p = sp ? sp + 1 : stop;
        if (sp && p == stop) {
            trailing_space = true;
            break;
        }
    }
    // UNKNOWN: the receiver ignores whatever follows it up to the CRLF (the spec, §2.1), a
    // trailing space included.
    if (n >= 1 && field_len[0] == 7 && memcmp(field[0], "UNKNOWN", 7) == 0) {
        out->version = 1;
        out->has_address = false;
        *consumed = line_len;
        return ProxyParse::done;
    }
    if (trailing_space || n != 5 || p != stop || field_len[0] != 4 ||
        memcmp(field[0], "TCP", 3) != 0 || (field[0][3] != '4' && field[0][3] != '6')) {
        *why = "v1 line malformed";
        return ProxyParse::invalid;
    }
    int family = field[0][3] == '4' ? AF_INET : AF_INET6;
    if (!parse_ip(family, field[1], field_len[1], &out->src_ip) ||
        !parse_ip(family, field[2], field_len[2], &out->dst_ip) ||
        !parse_port(field[3], field_len[3], &out->src_port) ||
        !parse_port(field[4], field_len[4], &out->dst_port)) {
        *why = "v1 address or port invalid";
        return ProxyParse::invalid;
    }
    out->version = 1;
    out->has_address = true;
    *consumed = line_len;
    return ProxyParse::done;
}

void format_v6(const unsigned char *bin, std::string *out) {
    char buf[INET6_ADDRSTRLEN];
    static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(bin, mapped_prefix, 12) == 0) {
        inet_ntop(AF_INET, bin + 12, buf, sizeof buf);  // shown as IPv4, like the listener does
    } else {
        inet_ntop(AF_INET6, bin, buf, sizeof buf);
    }
    out->assign(buf);
}

ProxyParse parse_v2(const unsigned char *data, size_t len, ProxyHeader *out, size_t *consumed,
                    const char **why) {
    if (len < 16) return ProxyParse::incomplete;
    unsigned version = data[12] >> 4, command = data[12] & 0x0F;
    unsigned family = data[13] >> 4, transport = data[13] & 0x0F;
    size_t body = (static_cast<size_t>(data[14]) << 8) | data[15];
    if (version != 2) {
        *why = "v2 version nibble is not 2";
        return ProxyParse::invalid;
    }
    if (command > 1) {
        *why = "v2 command unknown";
        return ProxyParse::invalid;
    }
    if (family > 3 || transport > 2) {
        *why = "v2 family or transport unknown";
        return ProxyParse::invalid;
    }
    if (16 + body > kProxyV2MaxLength) {
        *why = "v2 header too long";
        return ProxyParse::invalid;
    }
    if (len < 16 + body) return ProxyParse::incomplete;
    const unsigned char *addr = data + 16;
    out->version = 2;
    out->has_address = false;
    *consumed = 16 + body;
    if (command == 0) return ProxyParse::done;  // LOCAL: a health check from the proxy itself
    if (family == 1 || family == 2) {
        if (transport != 1) {
            *why = "v2 transport is not STREAM";
            return ProxyParse::invalid;
        }
        size_t need = family == 1 ? 12 : 36;
        if (body < need) {
            *why = "v2 address block too short";
            return ProxyParse::invalid;
        }
        size_t alen = family == 1 ? 4 : 16;
        if (family == 1) {
            char buf[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, addr, buf, sizeof buf);
            out->src_ip = buf;
            inet_ntop(AF_INET, addr + 4, buf, sizeof buf);
            out->dst_ip = buf;
        } else {
            format_v6(addr, &out->src_ip);
            format_v6(addr + 16, &out->dst_ip);
        }
        const unsigned char *ports = addr + 2 * alen;
        out->src_port = (ports[0] << 8) | ports[1];
        out->dst_port = (ports[2] << 8) | ports[3];
        out->has_address = true;
    }
    // UNSPEC and UNIX: keep the socket's peer (the spec's rule for addresses we cannot use).
    return ProxyParse::done;
}

}  // namespace

ProxyParse parse_proxy_header(const char *data, size_t len, ProxyHeader *out, size_t *consumed,
                              const char **why) {
    *why = "";
    if (len == 0) return ProxyParse::incomplete;
    if (data[0] == 'P') {
        size_t n = len < kV1PrefixLength ? len : kV1PrefixLength;
        if (memcmp(data, kV1Prefix, n) != 0) {
            *why = "not a PROXY protocol header";
            return ProxyParse::invalid;
        }
        if (len < kV1PrefixLength) return ProxyParse::incomplete;
        return parse_v1(data, len, out, consumed, why);
    }
    size_t n = len < sizeof kV2Signature ? len : sizeof kV2Signature;
    if (memcmp(data, kV2Signature, n) != 0) {
        *why = "not a PROXY protocol header";
        return ProxyParse::invalid;
    }
    return parse_v2(reinterpret_cast<const unsigned char *>(data), len, out, consumed, why);
}

}  // namespace eddy::http
