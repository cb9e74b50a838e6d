// The I/O-free core of RFC 6455 WebSocket (see protocol.hpp).
//
// Every function here takes bytes from the network: all indexing is bounds-checked against the
// given length, and every loop advances by at least one byte so work stays linear.
#include "websocket/protocol.hpp"

#include <openssl/evp.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "http/httputil.hpp"
#include "util/base64.hpp"

namespace eddy::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_control(uint8_t opcode) { return opcode >= 8; }

bool is_reserved_opcode(uint8_t opcode) { return (opcode >= 3 && opcode <= 7) || opcode >= 11; }

uint64_t load_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

}  // namespace

// ---- handshake -------------------------------------------------------------------------------

namespace {

// SHA-1, fetched once: EVP_MD_fetch does a provider lookup under a lock, and the handshake is
// on every connection's path. Never freed: it lives as long as the process. A fetch that failed
// (out of memory) is not kept: the next handshake tries again, instead of every later one
// failing for good.
const EVP_MD *sha1() {
    static std::atomic<EVP_MD *> fetched{nullptr};
    EVP_MD *md = fetched.load(std::memory_order_acquire);
    if (md) return md;
    md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    if (!md) return nullptr;
    EVP_MD *other = nullptr;
    if (!fetched.compare_exchange_strong(other, md, std::memory_order_acq_rel)) {
        EVP_MD_free(md);  // another thread's loop fetched it first
        return other;
    }
    return md;
}

}  // namespace

std::string accept_key(std::string_view sec_websocket_key) {
    const EVP_MD *md = sha1();
    if (!md) return {};
    std::string input;
    input.reserve(sec_websocket_key.size() + kGuid.size());
    input.append(sec_websocket_key).append(kGuid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (!EVP_Digest(input.data(), input.size(), digest, &digest_len, md, nullptr)) return {};
    std::string accept;
    base64_append(accept, digest, digest_len);
    return accept;
}

bool valid_client_key(std::string_view key) {
    // 16 bytes = 5 groups of 3 plus 1 byte: 22 base64 characters and "==". (The last character's
    // unused low bits are not checked: a non-canonical encoding still decodes to 16 bytes.)
    if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char(key[i])) return false;
    return true;
}

// ---- frame headers ---------------------------------------------------------------------------

ParseResult parse_frame_header(const uint8_t *data, size_t len, FrameHeader &out, int &close_code) {
    if (len < 1) return ParseResult::need_more;
    const uint8_t b0 = data[0];
    out.fin = b0 & 0x80;
    out.rsv1 = b0 & 0x40;
    out.rsv2 = b0 & 0x20;
    out.rsv3 = b0 & 0x10;
    out.opcode = b0 & 0x0F;
    // Decide everything the bytes seen so far allow, so a bad frame fails without waiting for
    // more input that may never come.
    if (is_reserved_opcode(out.opcode) || (is_control(out.opcode) && !out.fin)) {
        close_code = kCloseProtocolError;
        return ParseResult::error;
    }
    if (len < 2) return ParseResult::need_more;
    const uint8_t b1 = data[1];
    out.masked = b1 & 0x80;
    const uint8_t len7 = b1 & 0x7F;
    if (is_control(out.opcode) && len7 > kMaxControlPayload) {
        close_code = kCloseProtocolError;
        return ParseResult::error;
    }
    const size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    const size_t size = 2 + ext + (out.masked ? 4 : 0);
    if (len < 2 + ext) return ParseResult::need_more;
    out.length = ext ? load_be(data + 2, ext) : len7;
    if (out.length >> 63) {  // RFC 6455 §5.2: the most significant bit MUST be 0
        close_code = kCloseProtocolError;
        return ParseResult::error;
    }
    if (len < size) return ParseResult::need_more;
    if (out.masked)
        std::memcpy(out.mask, data + 2 + ext, 4);
    else
        std::memset(out.mask, 0, 4);
    out.header_size = size;
    return ParseResult::ok;
}

bool rsv_allowed(const FrameHeader &h, bool permessage_deflate) {
    if (h.rsv2 || h.rsv3) return false;
    if (!h.rsv1) return true;
    return permessage_deflate && (h.opcode == kOpText || h.opcode == kOpBinary);
}

size_t encode_frame_header(uint8_t *out, bool fin, bool rsv1, uint8_t opcode, uint64_t length,
                           const uint8_t *mask_or_null) {
    out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
    const uint8_t mask_bit = mask_or_null ? 0x80 : 0;
    size_t n;
    if (length <= 125) {
        out[1] = static_cast<uint8_t>(mask_bit | length);
        n = 2;
    } else if (length <= 0xFFFF) {
        out[1] = mask_bit | 126;
        out[2] = static_cast<uint8_t>(length >> 8);
        out[3] = static_cast<uint8_t>(length);
        n = 4;
    } else {
        out[1] = mask_bit | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = static_cast<uint8_t>(length >> (56 - 8 * i));
        n = 10;
    }
    if (mask_or_null) {
        std::memcpy(out + n, mask_or_null, 4);
        n += 4;
    }
    return n;
}

void apply_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset) {
    // The mask rotated so that key[0] applies to data[0]; repeated twice it is the 8-byte key
    // for whole words (the pattern has period 4, so any 8 consecutive bytes use it in order).
    uint8_t key[8];
    for (size_t i = 0; i < 8; i++) key[i] = mask[(offset + i) & 3];
    uint64_t word_key;
    std::memcpy(&word_key, key, 8);
    size_t i = 0;
    // memcpy in and out: unaligned-safe, and compilers turn it into plain 8-byte loads/stores.
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        std::memcpy(&w, data + i, 8);
        w ^= word_key;
        std::memcpy(data + i, &w, 8);
    }
    for (; i < len; i++) data[i] ^= key[i & 7];
}

// ---- UTF-8 -----------------------------------------------------------------------------------

bool Utf8Validator::feed(const uint8_t *data, size_t len) {
    if (failed_) return false;
    size_t i = 0;
    while (i < len) {
        if (remaining_ == 0) {
            // ASCII fast path: text messages are mostly ASCII, so skip 8 bytes at a time.
            while (i + 8 <= len) {
                uint64_t w;
                std::memcpy(&w, data + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
            if (i >= len) break;
            const uint8_t c = data[i++];
            if (c < 0x80) continue;
            // The lead byte fixes the sequence length and the range of the first continuation
            // byte; those ranges exclude overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4)
            // (RFC 3629 §4).
            lo_ = 0x80, hi_ = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                remaining_ = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                remaining_ = 2;
                if (c == 0xE0) lo_ = 0xA0;
                if (c == 0xED) hi_ = 0x9F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                remaining_ = 3;
                if (c == 0xF0) lo_ = 0x90;
                if (c == 0xF4) hi_ = 0x8F;
            } else {  // continuation byte without a lead, C0/C1 (overlong), F5..FF
                failed_ = true;
                return false;
            }
        } else {
            const uint8_t c = data[i++];
            if (c < lo_ || c > hi_) {
                failed_ = true;
                return false;
            }
            remaining_--;
            lo_ = 0x80, hi_ = 0xBF;
        }
    }
    return true;
}

bool is_valid_utf8(const uint8_t *data, size_t len) {
    Utf8Validator v;
    return v.feed(data, len) && v.complete();
}

// ---- close frames ----------------------------------------------------------------------------

bool valid_close_code(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

bool parse_close_payload(const uint8_t *data, size_t len, int &code, std::string &reason) {
    reason.clear();
    if (len == 0) {
        code = kCloseNoStatus;
        return true;
    }
    if (len == 1) {  // half a status code
        code = kCloseProtocolError;
        return false;
    }
    const int received = static_cast<int>(load_be(data, 2));
    if (!valid_close_code(received)) {
        code = kCloseProtocolError;
        return false;
    }
    if (!is_valid_utf8(data + 2, len - 2)) {
        code = kCloseInvalidData;
        return false;
    }
    code = received;
    reason.assign(reinterpret_cast<const char *>(data + 2), len - 2);
    return true;
}

std::string make_close_payload(int code, std::string_view reason) {
    if (code == kCloseNoStatus) return {};
    constexpr size_t kMaxReason = kMaxControlPayload - 2;
    if (reason.size() > kMaxReason) {
        // Cut before the code point that straddles the limit: back off while the first byte
        // dropped is a continuation byte.
        size_t cut = kMaxReason;
        while (cut > 0 && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80) cut--;
        reason = reason.substr(0, cut);
    }
    std::string out;
    out.reserve(2 + reason.size());
    out.push_back(static_cast<char>((code >> 8) & 0xFF));
    out.push_back(static_cast<char>(code & 0xFF));
    out.append(reason);
    return out;
}

// ---- permessage-deflate ----------------------------------------------------------------------

namespace {

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Splits s at sep outside quoted-strings (a quoted value may hold ',' or ';'). False when a
// quoted-string is unterminated.
bool split_unquoted(std::string_view s, char sep, std::vector<std::string_view> &parts) {
    parts.clear();
    size_t start = 0;
    bool quoted = false;
    for (size_t i = 0; i < s.size(); i++) {
        const char c = s[i];
        if (quoted) {
            if (c == '\\')
                i++;  // quoted-pair: skip the escaped character
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == sep) {
            parts.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    if (quoted) return false;
    parts.push_back(s.substr(start));
    return true;
}

// An extension parameter's value: a token, or a quoted-string whose content is a token
// (RFC 6455 §9.1). False when malformed.
bool param_value(std::string_view raw, std::string &value) {
    value.clear();
    if (!raw.empty() && raw.front() == '"') {
        if (raw.size() < 2 || raw.back() != '"') return false;
        raw = raw.substr(1, raw.size() - 2);
        for (size_t i = 0; i < raw.size(); i++) {
            if (raw[i] == '\\') {
                if (++i == raw.size()) return false;
            }
            value.push_back(raw[i]);
        }
    } else {
        value.assign(raw);
    }
    return http::is_token(value);
}

// Window bits per RFC 7692 §7.1.2: "8".."15", no leading zeros. -1 when invalid.
int window_bits(std::string_view v) {
    if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
    return -1;
}

// One offer "permessage-deflate; a; b=c" (already split at ';'). False when it isn't
// permessage-deflate or a parameter is unknown, duplicated or invalid; otherwise fills the
// accepted parameters and the response value. `answer`: these are a server's answer, read by
// the client.
bool accept_offer(const std::vector<std::string_view> &parts, DeflateParams &accepted,
                  std::string &response, bool answer) {
    if (!http::iequals(trim_ows(parts[0]), "permessage-deflate")) return false;
    DeflateParams p;
    bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
    int offered_smwb = 0, offered_cmwb = 0;  // 0: client_max_window_bits without a value
    std::string value;
    for (size_t i = 1; i < parts.size(); i++) {
        const std::string_view param = trim_ows(parts[i]);
        const size_t eq = param.find('=');
        const std::string_view name = trim_ows(param.substr(0, eq));
        const bool has_value = eq != std::string_view::npos;
        if (has_value && !param_value(trim_ows(param.substr(eq + 1)), value)) return false;
        if (http::iequals(name, "server_no_context_takeover")) {
            if (seen_snct || has_value) return false;
            seen_snct = p.server_no_context_takeover = true;
        } else if (http::iequals(name, "client_no_context_takeover")) {
            if (seen_cnct || has_value) return false;
            seen_cnct = p.client_no_context_takeover = true;
        } else if (http::iequals(name, "server_max_window_bits")) {
            if (seen_smwb || !has_value || (offered_smwb = window_bits(value)) < 0) return false;
            seen_smwb = true;
        } else if (http::iequals(name, "client_max_window_bits")) {
            // Valueless means "I can limit my window if you tell me to" (§7.1.2.2): an offer
            // only; a server's answer names the window.
            if (seen_cmwb || (answer && !has_value) ||
                (has_value && (offered_cmwb = window_bits(value)) < 0))
                return false;
            seen_cmwb = true;
        } else {
            return false;  // unknown parameter (or an empty one, from "a;;b")
        }
    }
    response = "permessage-deflate";
    if (p.server_no_context_takeover) response += "; server_no_context_takeover";
    if (p.client_no_context_takeover) response += "; client_no_context_takeover";
    if (seen_smwb) {
        // We honour the limit and echo it. zlib can't deflate raw streams with an 8-bit window
        // (deflateInit2 rejects windowBits -8), so for 8 we compress with 9, as many servers
        // do. That stays within a 256-byte window: zlib never emits match distances beyond
        // w_size - 262 (MAX_DIST), i.e. 250 bytes for a 512-byte window.
        p.server_max_window_bits = offered_smwb == 8 ? 9 : offered_smwb;
        response += "; server_max_window_bits=" + std::to_string(offered_smwb);
    }
    if (seen_cmwb) {
        // Inflating with the client's window (raw inflate accepts 8..15); echoing the value
        // (15 when valueless) is allowed and tells the client exactly what we assumed.
        p.client_max_window_bits = offered_cmwb ? offered_cmwb : 15;
        p.client_max_window_bits_valued = offered_cmwb != 0;
        response += "; client_max_window_bits=" + std::to_string(p.client_max_window_bits);
    }
    accepted = p;
    return true;
}

}  // namespace

bool negotiate_deflate(std::string_view sec_websocket_extensions, DeflateParams &accepted,
                       std::string &response_header_value, bool answer) {
    std::vector<std::string_view> offers, parts;
    if (!split_unquoted(sec_websocket_extensions, ',', offers)) return false;
    for (std::string_view offer : offers) {
        if (trim_ows(offer).empty()) continue;  // "a, , b": empty list members are allowed
        if (!split_unquoted(offer, ';', parts)) continue;
        if (accept_offer(parts, accepted, response_header_value, answer)) return true;
    }
    return false;
}

}  // namespace eddy::ws
