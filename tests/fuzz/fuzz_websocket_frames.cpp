// libFuzzer target: WebSocket frame parsing (lib/websocket/protocol): frame headers, masking,
// close payloads and the streaming UTF-8 validator. Checks: a parsed header re-encodes to a
// header of the same meaning; masking twice is the identity; the validator fed in pieces agrees
// with the one-shot check.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "websocket/protocol.hpp"

using namespace eddy::ws;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FrameHeader h;
    int code = 0;
    ParseResult r = parse_frame_header(data, size, h, code);
    if (r == ParseResult::ok) {
        if (h.header_size < 2 || h.header_size > 14 || h.header_size > size) abort();
        rsv_allowed(h, true);
        rsv_allowed(h, false);
        uint8_t enc[14];
        size_t n = encode_frame_header(enc, h.fin, h.rsv1, h.opcode, h.length, h.masked ? h.mask : nullptr);
        FrameHeader again;
        int code2 = 0;
        if (parse_frame_header(enc, n, again, code2) != ParseResult::ok) abort();
        if (again.length != h.length || again.opcode != h.opcode || again.fin != h.fin ||
            again.masked != h.masked || again.header_size > h.header_size)
            abort();
        size_t plen = size - h.header_size;
        if (plen > h.length) plen = static_cast<size_t>(h.length);
        std::vector<uint8_t> payload(data + h.header_size, data + h.header_size + plen);
        if (h.masked) {
            std::vector<uint8_t> copy = payload;
            size_t half = copy.size() / 2;
            apply_mask(copy.data(), half, h.mask, 0);  // in two pieces, as reads deliver them
            apply_mask(copy.data() + half, copy.size() - half, h.mask, half);
            apply_mask(copy.data(), copy.size(), h.mask, 0);
            if (copy != payload) abort();
        }
        if (h.opcode == 8) {
            std::string reason;
            parse_close_payload(payload.data(), payload.size(), code, reason);
        }
    } else if (r == ParseResult::error) {
        if (code != 1002) abort();
    }

    bool whole = is_valid_utf8(data, size);
    Utf8Validator v;
    size_t split = size ? data[0] % size : 0;
    bool ok = v.feed(data, split) && v.feed(data + split, size - split);
    if (whole != (ok && v.complete())) abort();
    return 0;
}
