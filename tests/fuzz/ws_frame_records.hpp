// WebSocket frames from fuzz input, shared by fuzz_websocket_session (frames a client sends)
// and fuzz_websocket_client (frames a server sends). The input is a list of records, each three
// header bytes then a payload:
//   A: 0x0f opcode (reserved ones too), 0x10 RSV1, 0x20 RSV2, 0x40 FIN, 0x80 "deflate the
//      payload first" (raw deflate ending in a sync flush, RFC 7692 §7.2.1: its empty final
//      block is left off on a FIN frame, and RSV1 is set on a message's first frame only, so
//      the fragments of one compressed message concatenate into one valid stream)
//   B: 0x7f length code (0-125 literal; 126 and 127: the next two bytes give the length, sent
//      in the 16-bit or the — non-minimal — 64-bit form), 0x80 the other masking than the
//      sender's side should use (a violation)
//   C: 0x01 a write boundary after this frame, 0x02 one inside it, 0x04 the clock moves 100 ms
//      after it (a TICK op), 0x08 the reader pauses after it (a HOLD op), 0xf0 the mask seed
// The harness encodes (and masks, and deflates) them, so the fuzzer reaches a session's states
// without learning to mask or compress. Boundaries, ticks and holds become input_ops.hpp's
// markers in the bytes played.
// Header-only: each target is one translation unit.
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include <string>


namespace ws_records {

constexpr char kBoundary[] = "\n--MARK--\n";
constexpr size_t kBoundaryLen = sizeof kBoundary - 1;
constexpr char kTick[] = "\n--TICK100--\n";
constexpr char kHold[] = "\n--HOLD--\n";

// permessage-deflate's form of a payload: raw deflate ended by a sync flush, whose empty stored
// block (00 00 ff ff) is left off at the end of a message (RFC 7692 §7.2.1). A fresh
// compressor per frame is valid whatever context takeover was agreed: it refers to nothing
// sent before, and sync-flushed pieces concatenate into one stream.
inline std::string deflate_payload(const uint8_t *data, size_t len, bool message_end) {
    z_stream zs{};
    if (deflateInit2(&zs, 6, Z_DEFLATED, -9, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    std::string out(deflateBound(&zs, len) + 16, '\0');
    zs.next_in = const_cast<uint8_t *>(data);
    zs.avail_in = static_cast<uInt>(len);
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_SYNC_FLUSH);
    out.resize(out.size() - zs.avail_out);
    deflateEnd(&zs);
    if (message_end && out.size() >= 4) out.resize(out.size() - 4);
    return out;
}

// Appends one frame for record (a, b, c) with `payload`; `masked` is the sender's rule
// (clients mask, servers do not), which B's 0x80 turns round.
inline void append_frame(std::string &out, uint8_t a, uint8_t b, uint8_t c,
                         const uint8_t *payload, size_t len, bool masked) {
    std::string body(reinterpret_cast<const char *>(payload), len);
    uint8_t first = static_cast<uint8_t>((a & 0x40 ? 0x80 : 0) | (a & 0x10 ? 0x40 : 0) |
                                         (a & 0x20 ? 0x20 : 0) | (a & 0x0f));
    if (a & 0x80) {
        body = deflate_payload(payload, len, a & 0x40);
        if (a & 0x0f) first |= 0x40;  // not on continuation frames
    }
    if (b & 0x80) masked = !masked;
    uint8_t code = b & 0x7f;
    std::string frame(1, static_cast<char>(first));
    uint8_t mask_bit = masked ? 0x80 : 0;
    if (code == 127) {
        frame += static_cast<char>(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            frame += static_cast<char>((static_cast<uint64_t>(body.size()) >> shift) & 0xff);
    } else if (code == 126 || body.size() > 125) {
        frame += static_cast<char>(mask_bit | 126);
        frame += static_cast<char>((body.size() >> 8) & 0xff);
        frame += static_cast<char>(body.size() & 0xff);
    } else {
        frame += static_cast<char>(mask_bit | body.size());
    }
    if (masked) {
        uint8_t key[4] = {static_cast<uint8_t>(c & 0xf0), 0x5a, static_cast<uint8_t>(c * 7), 0xa5};
        frame.append(reinterpret_cast<const char *>(key), 4);
        for (size_t i = 0; i < body.size(); i++) body[i] = static_cast<char>(body[i] ^ key[i % 4]);
    }
    if (c & 0x02) {  // a write boundary inside the frame: after its header, or mid-payload
        size_t at = frame.size() + body.size() / 2;
        frame += body;
        frame.insert(at, kBoundary, kBoundaryLen);
    } else {
        frame += body;
    }
    out += frame;
    if (c & 0x01) out.append(kBoundary, kBoundaryLen);
    if (c & 0x04) out += kTick;
    if (c & 0x08) out += kHold;
}

// Appends the frames of every whole record in [p, end).
inline void append_frames(std::string &out, const uint8_t *p, const uint8_t *end, bool masked) {
    while (end - p >= 3) {
        uint8_t a = p[0], b = p[1], c = p[2];
        p += 3;
        size_t len = b & 0x7f;
        if (len >= 126) {
            if (end - p < 2) break;
            len = static_cast<size_t>(p[0]) << 8 | p[1];
            p += 2;
        }
        if (len > static_cast<size_t>(end - p)) len = static_cast<size_t>(end - p);
        append_frame(out, a, b, c, p, len, masked);
        p += len;
    }
}

}  // namespace ws_records
