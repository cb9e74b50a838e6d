// libFuzzer target: WebSocket frame parsing (lib/websocket/protocol): frame headers, masking,
// close payloads and the streaming UTF-8 validator. Checks: a parsed header re-encodes to a
// header of the same meaning; masking twice is the identity; the validator fed in pieces agrees
// with the one-shot check; a Sec-WebSocket-Extensions offer the server accepts gives an answer
// that the client side reads back to the same parameters (the handshakes in
// fuzz_websocket_session use four fixed offers, so the offer parser is reached only here).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
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

    // The input as a client's permessage-deflate offer: the accepted parameters are in range
    // (RFC 7692 §7.1.2), and the answer the server would send reads back (as the client reads
    // it) to the same parameters.
    {
        std::string_view offer(reinterpret_cast<const char *>(data), size);
        DeflateParams p;
        std::string answer;
        if (negotiate_deflate(offer, p, answer)) {
            if (p.server_max_window_bits < 9 || p.server_max_window_bits > 15 ||
                p.client_max_window_bits < 8 || p.client_max_window_bits > 15)
                abort();
            DeflateParams back;
            std::string again;
            if (!negotiate_deflate(answer, back, again, /*answer=*/true) || again != answer ||
                back.server_max_window_bits != p.server_max_window_bits ||
                back.client_max_window_bits != p.client_max_window_bits ||
                back.server_no_context_takeover != p.server_no_context_takeover ||
                back.client_no_context_takeover != p.client_no_context_takeover)
                abort();
        }
        valid_client_key(offer);
    }

    bool whole = is_valid_utf8(data, size);
    Utf8Validator v;
    size_t split = size ? data[0] % size : 0;
    bool ok = v.feed(data, split) && v.feed(data + split, size - split);
    if (whole != (ok && v.complete())) abort();
    return 0;
}
