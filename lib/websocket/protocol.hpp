// The I/O-free core of RFC 6455 WebSocket: the opening handshake's key, frame headers, masking,
// incremental UTF-8 validation, close frames and permessage-deflate negotiation (RFC 7692).
// Everything here is pure and unit-tested on its own (tests/unit/test_websocket_protocol.cpp);
// the connection layer owns the buffers, the policy (which side masks, which extensions are on)
// and the I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace eddy::ws {

// ---- opcodes and close codes -----------------------------------------------------------------

inline constexpr uint8_t kOpContinuation = 0x0;
inline constexpr uint8_t kOpText = 0x1;
inline constexpr uint8_t kOpBinary = 0x2;
inline constexpr uint8_t kOpClose = 0x8;
inline constexpr uint8_t kOpPing = 0x9;
inline constexpr uint8_t kOpPong = 0xA;

inline constexpr int kCloseNormal = 1000;
inline constexpr int kCloseGoingAway = 1001;  // the application is going away (app freed)
inline constexpr int kCloseProtocolError = 1002;
inline constexpr int kCloseNoStatus = 1005;  // never on the wire: "the close frame had no code"
inline constexpr int kCloseInvalidData = 1007;
inline constexpr int kCloseTooBig = 1009;
inline constexpr int kCloseInternalError = 1011;  // we could not go on: out of memory
inline constexpr int kCloseTryAgainLater = 1013;  // IANA's registry: the server is overloaded

// Control frames carry at most this much payload (RFC 6455 §5.5).
inline constexpr size_t kMaxControlPayload = 125;
// The largest frame header: 2 bytes + 8-byte extended length + 4-byte mask.
inline constexpr size_t kMaxFrameHeader = 14;

// ---- handshake -------------------------------------------------------------------------------

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455 GUID)).
std::string accept_key(std::string_view sec_websocket_key);  // empty: out of memory
// True when the key is base64 of exactly 16 bytes (24 characters ending in "=="), as RFC 6455
// §4.2.1 requires of a client's Sec-WebSocket-Key.
bool valid_client_key(std::string_view key);

// ---- frame headers ---------------------------------------------------------------------------

struct FrameHeader {
    bool fin, rsv1, rsv2, rsv3;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];  // meaningful only when masked
    uint64_t length;  // payload length
    size_t header_size;  // bytes of header before the payload (2..14)
};

enum class ParseResult { need_more, ok, error };

// Parses the frame header at data[0..len). need_more: the header is incomplete (out is
// unspecified); error: close_code says why (1002). Enforces what the header alone decides:
// reserved opcodes, 64-bit lengths with the top bit set, and control frames that are fragmented
// or longer than 125 bytes. Non-minimal length encodings are accepted (RFC 6455 does not
// require rejecting them). RSV bits and masking are the caller's policy: see rsv_allowed.
ParseResult parse_frame_header(const uint8_t *data, size_t len, FrameHeader &out, int &close_code);

// RSV2/RSV3 are never allowed (no extension here defines them); RSV1 only with
// permessage-deflate, and then only on the first frame of a data message (RFC 7692 §6.1).
bool rsv_allowed(const FrameHeader &h, bool permessage_deflate);

// Writes a frame header into out (at least kMaxFrameHeader bytes) using the minimal length
// encoding; mask_or_null adds the mask (clients mask, servers don't). Returns the header size.
size_t encode_frame_header(uint8_t *out, bool fin, bool rsv1, uint8_t opcode, uint64_t length,
                           const uint8_t *mask_or_null);

// XORs data[0..len) with the mask in place (masking and unmasking are the same operation).
// offset is the position of data[0] within the payload, so a payload can be unmasked piece by
// piece as it arrives.
void apply_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

// ---- UTF-8 -----------------------------------------------------------------------------------

// Validates UTF-8 fed in arbitrary pieces (a text message split across frames and reads, a code
// point split across pieces). Rejects overlongs, surrogates and code points above U+10FFFF as
// soon as the offending byte arrives, so a connection can fail fast (RFC 6455 §8.1).
class Utf8Validator {
public:
    // False once the input so far cannot be a prefix of valid UTF-8 (and from then on).
    bool feed(const uint8_t *data, size_t len);
    // True when everything fed is valid and ends on a code point boundary: a message may end.
    bool complete() const { return !failed_ && remaining_ == 0; }
    void reset() { remaining_ = 0, lo_ = 0x80, hi_ = 0xBF, failed_ = false; }

private:
    uint8_t remaining_ = 0;  // continuation bytes still expected
    uint8_t lo_ = 0x80, hi_ = 0xBF;  // the range of the next continuation byte
    bool failed_ = false;
};

// One-shot form.
bool is_valid_utf8(const uint8_t *data, size_t len);

// ---- close frames ----------------------------------------------------------------------------

// True for codes allowed in a close frame on the wire (RFC 6455 §7.4 and the IANA registry):
// 1000-1003, 1007-1014 and 3000-4999. 1004-1006 and 1015 are reserved or local-only.
bool valid_close_code(int code);

// Parses a close frame's payload. Empty → code 1005 ("no status") and an empty reason. Returns
// false for a 1-byte payload, an invalid code or a reason that isn't UTF-8; code is then the
// code to close with (1002, or 1007 for bad UTF-8).
bool parse_close_payload(const uint8_t *data, size_t len, int &code, std::string &reason);

// A close payload: the code big-endian and the reason truncated on a code point boundary so the
// payload fits a control frame (123 bytes of reason). Code 1005 means "no status": an empty
// payload.
std::string make_close_payload(int code, std::string_view reason);

// ---- permessage-deflate (RFC 7692) -----------------------------------------------------------

struct DeflateParams {
    bool server_no_context_takeover = false, client_no_context_takeover = false;
    // Window bits for deflateInit2 / inflateInit2 (negated there for raw deflate).
    int server_max_window_bits = 15, client_max_window_bits = 15;
    // Whether client_max_window_bits came with a value (in a server's answer: whether the
    // answer names the client's window at all; absent, the server takes up to 15 bits).
    bool client_max_window_bits_valued = false;
};

// Picks the first acceptable permessage-deflate offer in a Sec-WebSocket-Extensions value (the
// client's offers in preference order). An offer with an unknown, duplicate or malformed
// parameter is skipped. On success fills accepted and the response's extension value, e.g.
// "permessage-deflate; server_no_context_takeover; client_max_window_bits=15". With `answer`
// the value is a server's answer, read by the client with the same rules except that its
// client_max_window_bits must carry a value (RFC 7692 §7.1.2.2).
bool negotiate_deflate(std::string_view sec_websocket_extensions, DeflateParams &accepted,
                       std::string &response_header_value, bool answer = false);

}  // namespace eddy::ws
