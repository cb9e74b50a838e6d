// Unit tests for lib/websocket/protocol: the handshake key, frame headers (RFC 6455 §5.7
// examples and every error rule), masking, the incremental UTF-8 validator, close payloads and
// permessage-deflate negotiation and the message inflater — including hostile inputs.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

#include <zlib.h>

#include "eddy/websocket.h"
#include "websocket/deflate.hpp"
#include "websocket/protocol.hpp"

using namespace eddy::ws;
using namespace std::string_view_literals;

namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// Parses a complete header, asserting ok.
FrameHeader parse_ok(const std::vector<uint8_t> &b) {
    FrameHeader h{};
    int code = 0;
    assert_int_equal(static_cast<int>(parse_frame_header(b.data(), b.size(), h, code)),
                     static_cast<int>(ParseResult::ok));
    return h;
}

// Asserts the header is rejected with 1002.
void assert_parse_error(const std::vector<uint8_t> &b) {
    FrameHeader h{};
    int code = 0;
    assert_int_equal(static_cast<int>(parse_frame_header(b.data(), b.size(), h, code)),
                     static_cast<int>(ParseResult::error));
    assert_int_equal(code, 1002);
}

// ---- handshake -------------------------------------------------------------------------------

void test_accept_key(void **) {
    // RFC 6455 §1.3.
    assert_string_equal(accept_key("dGhlIHNhbXBsZSBub25jZQ==").c_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(accept_key("").size(), 28);  // any input: base64 of 20 bytes

    assert_true(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_true(valid_client_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    assert_true(valid_client_key("+/+/+/+/+/+/+/+/+/+/+w=="));
    assert_false(valid_client_key(""));
    assert_false(valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));     // 23 characters
    assert_false(valid_client_key("dGhlIHNhbXBsZSBub25jZQ==="));   // 25
    assert_false(valid_client_key("dGhlIHNhbXBsZSBub25jZQAA"));    // no padding: 18 bytes
    assert_false(valid_client_key("dGhlIHNhbXBsZSBub25jZ==="));    // 15 bytes
    assert_false(valid_client_key("dGhlIHNhbXBsZSBub25jZ-=="));    // base64url
    assert_false(valid_client_key("dGhlIHNhbXBsZSBub25j Q=="));
}

// ---- frame headers: RFC 6455 §5.7 ------------------------------------------------------------

void test_rfc_examples(void **) {
    // A single-frame unmasked text message.
    auto unmasked = bytes("\x81\x05Hello"sv);
    FrameHeader h = parse_ok(unmasked);
    assert_true(h.fin);
    assert_false(h.rsv1 || h.rsv2 || h.rsv3);
    assert_int_equal(h.opcode, kOpText);
    assert_false(h.masked);
    assert_int_equal(h.length, 5);
    assert_int_equal(h.header_size, 2);
    assert_memory_equal(unmasked.data() + h.header_size, "Hello", 5);

    // A single-frame masked text message.
    auto masked = bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"sv);
    h = parse_ok(masked);
    assert_true(h.fin);
    assert_int_equal(h.opcode, kOpText);
    assert_true(h.masked);
    assert_memory_equal(h.mask, "\x37\xfa\x21\x3d", 4);
    assert_int_equal(h.length, 5);
    assert_int_equal(h.header_size, 6);
    apply_mask(masked.data() + 6, 5, h.mask, 0);
    assert_memory_equal(masked.data() + 6, "Hello", 5);

    // A fragmented unmasked text message.
    h = parse_ok(bytes("\x01\x03Hel"sv));
    assert_false(h.fin);
    assert_int_equal(h.opcode, kOpText);
    assert_int_equal(h.length, 3);
    h = parse_ok(bytes("\x80\x02lo"sv));
    assert_true(h.fin);
    assert_int_equal(h.opcode, kOpContinuation);
    assert_int_equal(h.length, 2);

    // Unmasked ping, masked pong.
    h = parse_ok(bytes("\x89\x05Hello"sv));
    assert_int_equal(h.opcode, kOpPing);
    h = parse_ok(bytes("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"sv));
    assert_int_equal(h.opcode, kOpPong);
    assert_true(h.masked);

    // 256 bytes binary: 16-bit length.
    h = parse_ok(bytes("\x82\x7E\x01\x00"sv));
    assert_int_equal(h.opcode, kOpBinary);
    assert_int_equal(h.length, 256);
    assert_int_equal(h.header_size, 4);

    // 64 KiB binary: 64-bit length.
    h = parse_ok(bytes("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"sv));
    assert_int_equal(h.length, 65536);
    assert_int_equal(h.header_size, 10);

    // The encoder produces exactly these headers.
    uint8_t out[kMaxFrameHeader];
    assert_int_equal(encode_frame_header(out, true, false, kOpText, 5, nullptr), 2);
    assert_memory_equal(out, "\x81\x05", 2);
    const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    assert_int_equal(encode_frame_header(out, true, false, kOpText, 5, mask), 6);
    assert_memory_equal(out, "\x81\x85\x37\xfa\x21\x3d", 6);
    assert_int_equal(encode_frame_header(out, false, false, kOpText, 3, nullptr), 2);
    assert_memory_equal(out, "\x01\x03", 2);
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, 256, nullptr), 4);
    assert_memory_equal(out, "\x82\x7E\x01\x00", 4);
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, 65536, nullptr), 10);
    assert_memory_equal(out, "\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(encode_frame_header(out, true, true, kOpBinary, 0, nullptr), 2);
    assert_memory_equal(out, "\xC2\x00", 2);
}

void test_length_boundaries(void **) {
    uint8_t out[kMaxFrameHeader];
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, 125, nullptr), 2);
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, 126, nullptr), 4);
    assert_memory_equal(out, "\x82\x7E\x00\x7E", 4);
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, 65535, nullptr), 4);
    assert_memory_equal(out, "\x82\x7E\xFF\xFF", 4);
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, 65536, nullptr), 10);
    const uint64_t big = 0x7FFFFFFFFFFFFFFFull;
    const uint8_t mask[4] = {1, 2, 3, 4};
    assert_int_equal(encode_frame_header(out, true, false, kOpBinary, big, mask), 14);
    FrameHeader h{};
    int code = 0;
    assert_int_equal(static_cast<int>(parse_frame_header(out, 14, h, code)), static_cast<int>(ParseResult::ok));
    assert_true(h.length == big);
    assert_int_equal(h.header_size, 14);
    assert_memory_equal(h.mask, mask, 4);
}

void test_need_more(void **) {
    // Every proper prefix of a valid header needs more; the full header parses.
    const std::vector<std::vector<uint8_t>> headers = {
        bytes("\x81\x05"sv),
        bytes("\x81\x85\x37\xfa\x21\x3d"sv),
        bytes("\x82\x7E\x01\x00"sv),
        bytes("\x82\xFE\x01\x00\x01\x02\x03\x04"sv),
        bytes("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"sv),
        bytes("\x82\xFF\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04"sv),
    };
    for (const auto &hdr : headers) {
        for (size_t n = 0; n < hdr.size(); n++) {
            FrameHeader h{};
            int code = 0;
            assert_int_equal(static_cast<int>(parse_frame_header(hdr.data(), n, h, code)),
                             static_cast<int>(ParseResult::need_more));
        }
        FrameHeader h = parse_ok(hdr);
        assert_int_equal(h.header_size, hdr.size());
    }
    // Trailing payload bytes don't change the header.
    FrameHeader h = parse_ok(bytes("\x82\x7E\x01\x00payload"sv));
    assert_int_equal(h.header_size, 4);
    assert_int_equal(h.length, 256);
}

void test_header_errors(void **) {
    // 64-bit length with the most significant bit set, masked or not.
    assert_parse_error(bytes("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00"sv));
    assert_parse_error(bytes("\x82\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01\x02\x03\x04"sv));
    // ... detected before the mask arrives.
    assert_parse_error(bytes("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00"sv));

    // Fragmented control frames, decided from the first byte alone.
    for (uint8_t op : {kOpClose, kOpPing, kOpPong}) {
        const uint8_t b0 = op;  // fin = 0
        assert_parse_error({b0});
        assert_parse_error({b0, 0x00});
        // Control frames longer than 125 bytes, decided from the second byte.
        const uint8_t fin = static_cast<uint8_t>(0x80 | op);
        assert_parse_error({fin, 126});
        assert_parse_error({fin, 127});
        assert_parse_error({fin, 0x80 | 126});
        assert_parse_error({fin, 126, 0x00, 0x05});  // even when the value would be small
        assert_int_equal(parse_ok({fin, 125}).length, 125);
        assert_int_equal(parse_ok({fin, 0}).length, 0);
    }

    // Reserved opcodes, with and without fin.
    for (uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        assert_parse_error({op});
        assert_parse_error({static_cast<uint8_t>(0x80 | op), 0x00});
    }

    // Non-minimal length encodings are accepted.
    assert_int_equal(parse_ok(bytes("\x82\x7E\x00\x05"sv)).length, 5);
    assert_int_equal(parse_ok(bytes("\x82\x7F\x00\x00\x00\x00\x00\x00\x00\x05"sv)).length, 5);
    assert_int_equal(parse_ok(bytes("\x82\x7F\x00\x00\x00\x00\x00\x00\x01\x00"sv)).length, 256);

    // RSV bits parse; policy is rsv_allowed's.
    FrameHeader h = parse_ok(bytes("\xF1\x00"sv));
    assert_true(h.rsv1 && h.rsv2 && h.rsv3);
}

void test_rsv_allowed(void **) {
    FrameHeader h = parse_ok(bytes("\x81\x00"sv));
    assert_true(rsv_allowed(h, false));
    assert_true(rsv_allowed(h, true));

    h = parse_ok(bytes("\xC1\x00"sv));  // RSV1 text
    assert_false(rsv_allowed(h, false));
    assert_true(rsv_allowed(h, true));
    h = parse_ok(bytes("\x42\x00"sv));  // RSV1 binary, first fragment
    assert_true(rsv_allowed(h, true));
    h = parse_ok(bytes("\xC0\x00"sv));  // RSV1 on a continuation frame
    assert_false(rsv_allowed(h, true));
    h = parse_ok(bytes("\xC9\x00"sv));  // RSV1 on a ping
    assert_false(rsv_allowed(h, true));
    h = parse_ok(bytes("\xC8\x00"sv));  // RSV1 on a close
    assert_false(rsv_allowed(h, true));

    h = parse_ok(bytes("\xA1\x00"sv));  // RSV2
    assert_false(rsv_allowed(h, true));
    h = parse_ok(bytes("\x91\x00"sv));  // RSV3
    assert_false(rsv_allowed(h, true));
}

void test_random_roundtrip(void **) {
    std::mt19937_64 rng(12345);
    const uint64_t lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 0x7FFFFFFFFFFFFFFFull};
    for (int iter = 0; iter < 20000; iter++) {
        const bool fin_bit = rng() & 1;
        const bool rsv1 = rng() & 1;
        const uint8_t ops[] = {0, 1, 2, 8, 9, 10};
        const uint8_t op = ops[rng() % 6];
        const bool control = op >= 8;
        const bool fin = control || fin_bit;
        uint64_t length;
        switch (rng() % 4) {
            case 0: length = lengths[rng() % 8]; break;
            case 1: length = rng() % 126; break;
            case 2: length = rng() % 70000; break;
            default: length = rng() >> 1; break;
        }
        if (control) length %= 126;
        uint8_t mask[4];
        for (auto &m : mask) m = static_cast<uint8_t>(rng());
        const bool use_mask = rng() & 1;

        uint8_t out[kMaxFrameHeader + 1];
        const size_t n = encode_frame_header(out, fin, rsv1, op, length, use_mask ? mask : nullptr);
        assert_true(n >= 2 && n <= kMaxFrameHeader);
        FrameHeader h{};
        int code = 0;
        for (size_t k = 0; k < n; k++)
            assert_int_equal(static_cast<int>(parse_frame_header(out, k, h, code)),
                             static_cast<int>(ParseResult::need_more));
        assert_int_equal(static_cast<int>(parse_frame_header(out, n, h, code)), static_cast<int>(ParseResult::ok));
        assert_int_equal(h.fin, fin);
        assert_int_equal(h.rsv1, rsv1);
        assert_false(h.rsv2 || h.rsv3);
        assert_int_equal(h.opcode, op);
        assert_int_equal(h.masked, use_mask);
        if (use_mask) assert_memory_equal(h.mask, mask, 4);
        assert_true(h.length == length);
        assert_int_equal(h.header_size, n);
        // Minimal encoding.
        assert_int_equal(n, (length <= 125 ? 2 : length <= 65535 ? 4 : 10) + (use_mask ? 4 : 0));
    }
}

// ---- masking ---------------------------------------------------------------------------------

void naive_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset) {
    for (size_t i = 0; i < len; i++) data[i] ^= mask[(offset + i) % 4];
}

void test_mask(void **) {
    std::mt19937 rng(7);
    for (int iter = 0; iter < 2000; iter++) {
        const size_t len = rng() % 200;
        std::vector<uint8_t> buf(len + 16), ref;
        for (auto &b : buf) b = static_cast<uint8_t>(rng());
        uint8_t mask[4];
        for (auto &m : mask) m = static_cast<uint8_t>(rng());
        const size_t start = rng() % 16;  // unaligned buffers
        const size_t offset = rng() % 1000;
        ref = buf;
        apply_mask(buf.data() + start, len, mask, offset);
        naive_mask(ref.data() + start, len, mask, offset);
        assert_memory_equal(buf.data(), ref.data(), buf.size());
    }

    // A payload unmasked in odd-sized pieces equals unmasking it at once; twice is identity.
    std::vector<uint8_t> payload(1000);
    for (auto &b : payload) b = static_cast<uint8_t>(rng());
    const std::vector<uint8_t> original = payload;
    const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::vector<uint8_t> whole = payload;
    apply_mask(whole.data(), whole.size(), mask, 0);
    size_t pos = 0;
    for (size_t piece = 1; pos < payload.size(); piece = piece * 3 % 17 + 1) {
        const size_t n = std::min(piece, payload.size() - pos);
        apply_mask(payload.data() + pos, n, mask, pos);
        pos += n;
    }
    assert_memory_equal(payload.data(), whole.data(), whole.size());
    apply_mask(payload.data(), payload.size(), mask, 0);
    assert_memory_equal(payload.data(), original.data(), original.size());

    apply_mask(nullptr, 0, mask, 3);  // empty is fine
}

// ---- UTF-8 -----------------------------------------------------------------------------------

bool utf8(std::string_view s) {
    return is_valid_utf8(reinterpret_cast<const uint8_t *>(s.data()), s.size());
}

void test_utf8_valid(void **) {
    assert_true(utf8(""));
    assert_true(utf8("Hello, world! 0123456789 abcdefghijklmnop"));
    assert_true(utf8("\x00\x7f"sv));
    assert_true(utf8("\xc2\x80"));              // U+0080
    assert_true(utf8("\xdf\xbf"));              // U+07FF
    assert_true(utf8("\xe0\xa0\x80"));          // U+0800
    assert_true(utf8("\xed\x9f\xbf"));          // U+D7FF
    assert_true(utf8("\xee\x80\x80"));          // U+E000
    assert_true(utf8("\xef\xbf\xbf"));          // U+FFFF
    assert_true(utf8("\xf0\x90\x80\x80"));      // U+10000
    assert_true(utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
    assert_true(utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));  // κόσμε
    assert_true(utf8("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"));
}

void test_utf8_invalid(void **) {
    assert_false(utf8("\xc0\xaf"));                  // overlong '/'
    assert_false(utf8("\xc1\xbf"));                  // overlong
    assert_false(utf8("\xe0\x80\xaf"));              // overlong
    assert_false(utf8("\xe0\x9f\xbf"));              // overlong U+07FF
    assert_false(utf8("\xf0\x80\x80\xaf"));          // overlong
    assert_false(utf8("\xf0\x8f\xbf\xbf"));          // overlong U+FFFF
    assert_false(utf8("\xed\xa0\x80"));              // U+D800 surrogate
    assert_false(utf8("\xed\xbf\xbf"));              // U+DFFF surrogate
    assert_false(utf8("\xed\xa0\x80\xed\xb0\x80"));  // surrogate pair
    assert_false(utf8("\xf4\x90\x80\x80"));          // U+110000
    assert_false(utf8("\xf5\x80\x80\x80"));
    assert_false(utf8("\xf8\x88\x80\x80\x80"));      // 5-byte form
    assert_false(utf8("\xfe"));
    assert_false(utf8("\xff"));
    assert_false(utf8("\x80"));                      // lone continuation
    assert_false(utf8("a\xbf" "b"));
    assert_false(utf8("\xc2"));                      // truncated
    assert_false(utf8("\xe0\xa0"));
    assert_false(utf8("\xf0\x90\x80"));
    assert_false(utf8("\xc2\x41"));                  // lead followed by ASCII
    assert_false(utf8("\xe1\x80\xc2\x80"));          // lead inside a sequence
    assert_false(utf8("01234567\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80xxxxxxxx"));
}

void test_utf8_incremental(void **) {
    // Every split of a valid multi-byte text validates; complete() only on code point
    // boundaries.
    const std::string_view text = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 abcdefghij \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf!";
    const auto *p = reinterpret_cast<const uint8_t *>(text.data());
    for (size_t split = 0; split <= text.size(); split++) {
        Utf8Validator v;
        assert_true(v.feed(p, split));
        const bool boundary = split == text.size() || (p[split] & 0xC0) != 0x80;
        assert_int_equal(v.complete(), boundary);
        assert_true(v.feed(p + split, text.size() - split));
        assert_true(v.complete());
    }
    // One byte at a time.
    Utf8Validator v;
    for (size_t i = 0; i < text.size(); i++) assert_true(v.feed(p + i, 1));
    assert_true(v.complete());

    // Invalid sequences fail at the offending byte however they are split, and stay failed.
    for (std::string_view bad : {"\xc0\xaf"sv, "\xed\xa0\x80"sv, "\xf4\x90\x80\x80"sv, "\xe0\x80\xaf"sv}) {
        for (size_t split = 0; split <= bad.size(); split++) {
            v.reset();
            const auto *b = reinterpret_cast<const uint8_t *>(bad.data());
            const bool first = v.feed(b, split);
            const bool second = v.feed(b + split, bad.size() - split);
            assert_false(first && second);
            assert_false(v.complete());
            assert_false(v.feed(reinterpret_cast<const uint8_t *>("a"), 1));
        }
    }
    // reset() clears failure and a pending sequence.
    v.reset();
    assert_true(v.feed(reinterpret_cast<const uint8_t *>("\xe2\x82"), 2));
    assert_false(v.complete());
    v.reset();
    assert_true(v.complete());
    assert_true(v.feed(reinterpret_cast<const uint8_t *>("ok"), 2));
    assert_true(v.complete());
}

// ---- close frames ----------------------------------------------------------------------------

void test_close_codes(void **) {
    for (int c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999})
        assert_true(valid_close_code(c));
    for (int c : {-1, 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
        assert_false(valid_close_code(c));
}

bool close_payload(std::string_view p, int &code, std::string &reason) {
    return parse_close_payload(reinterpret_cast<const uint8_t *>(p.data()), p.size(), code, reason);
}

void test_close_payload(void **) {
    int code = 0;
    std::string reason = "stale";
    assert_true(close_payload("", code, reason));
    assert_int_equal(code, 1005);
    assert_true(reason.empty());

    assert_false(close_payload("\x03", code, reason));  // 1 byte
    assert_int_equal(code, 1002);

    assert_true(close_payload("\x03\xe8", code, reason));
    assert_int_equal(code, 1000);
    assert_true(reason.empty());
    assert_true(close_payload("\x03\xe9going away \xce\xba", code, reason));
    assert_int_equal(code, 1001);
    assert_string_equal(reason.c_str(), "going away \xce\xba");
    assert_true(close_payload("\x0f\xa0", code, reason));  // 4000
    assert_int_equal(code, 4000);

    assert_false(close_payload("\x03\xed", code, reason));  // 1005 on the wire
    assert_int_equal(code, 1002);
    assert_false(close_payload("\x03\xee", code, reason));  // 1006
    assert_false(close_payload("\x00\x00"sv, code, reason));
    assert_false(close_payload("\x13\x88", code, reason));  // 5000
    assert_false(close_payload("\x03\xe8\xed\xa0\x80", code, reason));  // bad UTF-8 reason
    assert_int_equal(code, 1007);
    assert_false(close_payload("\x03\xe8\xce", code, reason));  // truncated code point
    assert_int_equal(code, 1007);

    // make_close_payload round-trips.
    std::string p = make_close_payload(1000, "bye");
    assert_int_equal(p.size(), 5);
    assert_memory_equal(p.data(), "\x03\xe8" "bye", 5);
    assert_true(close_payload(p, code, reason));
    assert_int_equal(code, 1000);
    assert_string_equal(reason.c_str(), "bye");
    assert_true(make_close_payload(1005, "ignored").empty());
    assert_int_equal(make_close_payload(4999, "").size(), 2);

    // Truncation to 123 bytes of reason, on a code point boundary.
    p = make_close_payload(1001, std::string(200, 'x'));
    assert_int_equal(p.size(), 125);
    std::string two_byte;
    for (int i = 0; i < 100; i++) two_byte += "\xce\xba";  // 200 bytes
    p = make_close_payload(1001, two_byte);
    assert_int_equal(p.size(), 2 + 122);  // 123 would split a code point
    assert_true(close_payload(p, code, reason));
    std::string three = "x";
    for (int i = 0; i < 60; i++) three += "\xe2\x82\xac";  // 1 + 180 bytes
    for (size_t extra = 0; extra < 4; extra++) {
        const std::string r = std::string(extra, 'a') + three;
        p = make_close_payload(1000, r);
        assert_true(p.size() <= 125 && p.size() >= 123);
        assert_true(close_payload(p, code, reason));
        assert_memory_equal(reason.data(), r.data(), reason.size());
    }
    const std::string exact(123, 'y');
    assert_int_equal(make_close_payload(1000, exact).size(), 125);
}

// ---- permessage-deflate ----------------------------------------------------------------------

struct Negotiated {
    bool ok;
    DeflateParams params;
    std::string response;
};

Negotiated negotiate(std::string_view offer) {
    Negotiated n{};
    n.ok = negotiate_deflate(offer, n.params, n.response);
    return n;
}

void test_deflate_basic(void **) {
    Negotiated n = negotiate("permessage-deflate");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate");
    assert_false(n.params.server_no_context_takeover || n.params.client_no_context_takeover);
    assert_int_equal(n.params.server_max_window_bits, 15);
    assert_int_equal(n.params.client_max_window_bits, 15);

    // What browsers send: client_max_window_bits without a value.
    n = negotiate("permessage-deflate; client_max_window_bits");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate; client_max_window_bits=15");
    assert_int_equal(n.params.client_max_window_bits, 15);
    // ... but a server's answer must name the window (RFC 7692 7.1.2.2).
    {
        DeflateParams p;
        std::string response;
        assert_false(
            negotiate_deflate("permessage-deflate; client_max_window_bits", p, response, true));
        assert_true(
            negotiate_deflate("permessage-deflate; client_max_window_bits=12", p, response, true));
        assert_int_equal(p.client_max_window_bits, 12);
        assert_true(p.client_max_window_bits_valued);
        // An answer without the parameter: the client keeps its own limit (client.cpp).
        DeflateParams q;
        assert_true(negotiate_deflate("permessage-deflate", q, response, true));
        assert_false(q.client_max_window_bits_valued);
    }

    n = negotiate("permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
    assert_true(n.params.server_no_context_takeover);
    assert_int_equal(n.params.client_max_window_bits, 10);

    n = negotiate("PerMessage-Deflate ;client_no_context_takeover ; server_max_window_bits=\"12\"");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate; client_no_context_takeover; server_max_window_bits=12");
    assert_true(n.params.client_no_context_takeover);
    assert_int_equal(n.params.server_max_window_bits, 12);

    // server_max_window_bits=8: echoed, but zlib compresses with 9.
    n = negotiate("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8");
    assert_int_equal(n.params.server_max_window_bits, 9);
    assert_int_equal(n.params.client_max_window_bits, 8);
}

void test_deflate_offers(void **) {
    // The first acceptable offer wins; unacceptable ones are skipped.
    Negotiated n = negotiate("permessage-deflate; server_max_window_bits=10, permessage-deflate");
    assert_true(n.ok);
    assert_int_equal(n.params.server_max_window_bits, 10);

    n = negotiate("x-webkit-deflate-frame, permessage-deflate; bogus=1, permessage-deflate; client_no_context_takeover, permessage-deflate");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate; client_no_context_takeover");

    n = negotiate("permessage-deflate; server_max_window_bits=16,, permessage-deflate; server_max_window_bits=9");
    assert_true(n.ok);
    assert_int_equal(n.params.server_max_window_bits, 9);

    // A quoted comma doesn't split offers.
    n = negotiate("foo; bar=\"a,b\", permessage-deflate");
    assert_true(n.ok);
    assert_string_equal(n.response.c_str(), "permessage-deflate");

    // Nothing acceptable.
    const std::string_view refused[] = {
        "",
        " , ",
        "x-webkit-deflate-frame",
        "permessage-deflatex",
        "permessage-deflate; unknown",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1x",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate;",
        "permessage-deflate;; server_no_context_takeover",
        "permessage-deflate; =10",
    };
    for (std::string_view offer : refused) {
        n = negotiate(offer);
        if (n.ok) fail_msg("accepted: %.*s", static_cast<int>(offer.size()), offer.data());
    }
}

// Raw deflate of `text` as a sender would put it in a message: flushed (tail stripped) or
// ended with a final block; `dict` presets the window (a new stream that keeps the old one).
std::string raw_deflate(const std::string &text, bool final_block, const std::string &dict = {}) {
    z_stream z{};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    if (!dict.empty())
        deflateSetDictionary(&z, reinterpret_cast<const Bytef *>(dict.data()),
                             static_cast<uInt>(dict.size()));
    std::string out(deflateBound(&z, text.size()) + 16, '\0');
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef *>(&out[0]);
    z.avail_out = static_cast<uInt>(out.size());
    assert_true(deflate(&z, final_block ? Z_FINISH : Z_SYNC_FLUSH) >= Z_OK);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    if (!final_block) out.resize(out.size() - 4);  // the 00 00 FF FF tail
    return out;
}

// Inflates one message fed in pieces of `piece` bytes.
MessageInflater::Result inflate_message(MessageInflater &inf, const std::string &packed,
                                        size_t piece, size_t limit, std::string &out) {
    out.clear();
    for (size_t i = 0; i < packed.size(); i += piece) {
        size_t n = std::min(piece, packed.size() - i);
        MessageInflater::Result r =
            inf.feed(reinterpret_cast<const uint8_t *>(packed.data()) + i, n, out, limit);
        if (r != MessageInflater::Result::ok) return r;
    }
    return inf.finish(out, limit);
}

std::string sample_text(size_t n) {
    std::string s;
    std::mt19937 rng(7);
    while (s.size() < n) s += "word" + std::to_string(rng() % 500) + (rng() % 7 ? " " : "\n");
    s.resize(n);
    return s;
}

void test_inflater_limit(void **) {
    // The size limit applies to the inflated bytes: exactly at it is fine, one more is not,
    // whatever the pieces the compressed bytes arrive in.
    const std::string text = sample_text(100000);
    const std::string packed = raw_deflate(text, false);
    for (size_t piece : {size_t{1}, size_t{7}, size_t{256}, packed.size()}) {
        std::string out;
        MessageInflater at(15, false);
        assert_int_equal(static_cast<int>(inflate_message(at, packed, piece, text.size(), out)),
                         static_cast<int>(MessageInflater::Result::ok));
        assert_true(out == text);
        MessageInflater below(15, false);
        assert_int_equal(static_cast<int>(inflate_message(below, packed, piece, text.size() - 1, out)),
                         static_cast<int>(MessageInflater::Result::too_big));
    }
}

void test_inflater_final_block(void **) {
    // RFC 7692 §7.2.3.4: a message may end with a final block. The tail must not be fed to a
    // new stream (it would start a bogus stored block), and with context takeover the next
    // stream may use the previous window as its dictionary.
    const std::string first = sample_text(5000), second = first.substr(0, 3000) + " new";
    for (bool takeover : {true, false}) {
        MessageInflater inf(15, !takeover);
        std::string out;
        assert_int_equal(static_cast<int>(inflate_message(inf, raw_deflate(first, true), 100,
                                                          1 << 20, out)),
                         static_cast<int>(MessageInflater::Result::ok));
        assert_true(out == first);
        const std::string next = raw_deflate(second, false, takeover ? first : std::string());
        assert_int_equal(static_cast<int>(inflate_message(inf, next, 100, 1 << 20, out)),
                         static_cast<int>(MessageInflater::Result::ok));
        assert_true(out == second);
        // and a plain flushed message after that
        const std::string third = raw_deflate("plain", false);
        MessageInflater fresh(15, true);
        assert_int_equal(static_cast<int>(inflate_message(fresh, third, 1, 100, out)),
                         static_cast<int>(MessageInflater::Result::ok));
        assert_true(out == "plain");
    }
}

void test_codecs_keep_state_only_with_context_takeover(void **) {
    // Without context takeover nothing carries over between messages: each codec frees its
    // zlib state (~256 KiB for deflate) after a message instead of keeping it reset, so an
    // idle connection holds none. With takeover the state is the context and stays.
    for (bool takeover : {true, false}) {
        MessageDeflater deflater(15, !takeover, Z_DEFAULT_COMPRESSION, 8);
        MessageInflater inflater(15, !takeover);
        assert_false(deflater.holds_state());
        for (int round = 0; round < 3; round++) {
            const std::string text = sample_text(2000 + 100 * static_cast<size_t>(round));
            std::string packed, out;
            assert_true(deflater.compress(reinterpret_cast<const uint8_t *>(text.data()),
                                          text.size(), packed));
            assert_int_equal(deflater.holds_state(), takeover);
            assert_int_equal(static_cast<int>(inflate_message(inflater, packed, 64, 1 << 20, out)),
                             static_cast<int>(MessageInflater::Result::ok));
            assert_true(out == text);
            assert_int_equal(inflater.holds_state(), takeover);
        }
    }
}

void test_compression_level_and_mem_level(void **) {
    // Tornado's compression_options: level 0 stores (output over the input), 9 packs hardest,
    // and memLevel 1 (the least memory) still makes a stream any inflater reads.
    const std::string text = sample_text(20000);
    size_t sizes[3] = {0, 0, 0};
    const int settings[3][2] = {{0, 8}, {9, 1}, {9, 9}};
    for (int i = 0; i < 3; i++) {
        MessageDeflater deflater(15, false, settings[i][0], settings[i][1]);
        MessageInflater inflater(15, false);
        std::string packed, out;
        for (int round = 0; round < 2; round++) {  // the second message uses the context
            assert_true(deflater.compress(reinterpret_cast<const uint8_t *>(text.data()),
                                          text.size(), packed));
            out.clear();
            assert_int_equal(static_cast<int>(inflate_message(inflater, packed, 1000, 1 << 20, out)),
                             static_cast<int>(MessageInflater::Result::ok));
            assert_true(out == text);
            if (round == 0) sizes[i] = packed.size();
        }
    }
    assert_true(sizes[0] > text.size());      // stored blocks
    assert_true(sizes[1] < text.size() / 2);  // compressed even with the smallest memLevel
    assert_true(sizes[2] < text.size() / 2);
}

void test_compression_level_arguments(void **) {
    eddy_ws_options *o = eddy_ws_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_ws_options_set_compression_level(o, -1, 0), 0);  // the defaults
    assert_int_equal(eddy_ws_options_set_compression_level(o, 0, 1), 0);
    assert_int_equal(eddy_ws_options_set_compression_level(o, 9, 9), 0);
    assert_int_equal(eddy_ws_options_set_compression_level(o, 10, 8), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_compression_level(o, -2, 8), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_compression_level(o, 6, 10), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_compression_level(o, 6, -1), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_compression_level(nullptr, 6, 8), EDDY_EINVAL);
    eddy_ws_options_free(o);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_length_boundaries),
        cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_rsv_allowed),
        cmocka_unit_test(test_random_roundtrip),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_utf8_incremental),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_payload),
        cmocka_unit_test(test_deflate_basic),
        cmocka_unit_test(test_deflate_offers),
        cmocka_unit_test(test_inflater_limit),
        cmocka_unit_test(test_inflater_final_block),
        cmocka_unit_test(test_codecs_keep_state_only_with_context_takeover),
        cmocka_unit_test(test_compression_level_and_mem_level),
        cmocka_unit_test(test_compression_level_arguments),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
