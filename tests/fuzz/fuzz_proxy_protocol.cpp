// libFuzzer target: the PROXY protocol header parser (lib/http/proxy_protocol). Checks: a
// header is never longer than the input or the limits; every strict prefix of an accepted
// header is "incomplete" (the handshake gathers pieces on that promise); addresses are set
// exactly when the header carries them.
#include <cstdint>
#include <cstdlib>

#include "http/proxy_protocol.hpp"

using namespace eddy::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *in = reinterpret_cast<const char *>(data);
    ProxyHeader h;
    size_t used = 0;
    const char *why = nullptr;
    ProxyParse r = parse_proxy_header(in, size, &h, &used, &why);
    if (!why) abort();
    if (r != ProxyParse::done) return 0;
    if (used == 0 || used > size || used > kProxyV2MaxLength) abort();
    if (h.version == 1 && used > kProxyV1MaxLength) abort();
    if (h.has_address && (h.src_ip.empty() || h.dst_ip.empty() || h.src_port > 65535)) abort();
    for (size_t n = 0; n < used; n++) {
        ProxyHeader p;
        size_t u = 0;
        if (parse_proxy_header(in, n, &p, &u, &why) != ProxyParse::incomplete) abort();
    }
    return 0;
}
