// base64 through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock; the strictness (padding, alphabet)
// is ours, since EVP_DecodeBlock trims whitespace and counts padding as zero bytes.
#include "util/base64.hpp"

#include <openssl/evp.h>

#include <climits>

namespace eddy {

void base64_append(std::string &out, const void *in, size_t len) {
    size_t at = out.size();
    // EVP_EncodeBlock takes an int length: encode in pieces of a multiple of 3 bytes.
    constexpr size_t kPiece = 3 * (INT_MAX / 8);
    const auto *p = static_cast<const unsigned char *>(in);
    out.resize(at + 4 * ((len + 2) / 3) + 1);  // + the NUL EVP_EncodeBlock writes
    while (len > 0) {
        size_t n = len < kPiece ? len : kPiece;
        int written = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(&out[at]), p,
                                      static_cast<int>(n));
        at += static_cast<size_t>(written);
        p += n;
        len -= n;
    }
    out.resize(at);
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

bool base64_decode(std::string_view in, std::string &out) {
    out.clear();
    if (in.size() % 4 != 0) return false;
    size_t pad = 0;
    if (!in.empty() && in.back() == '=') pad = in[in.size() - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < in.size() - pad; i++)
        if (!is_base64_char(in[i])) return false;
    if (in.empty()) return true;
    if (in.size() > static_cast<size_t>(INT_MAX)) return false;
    out.resize(in.size() / 4 * 3);
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0 || static_cast<size_t>(n) != out.size()) {
        out.clear();
        return false;
    }
    out.resize(out.size() - pad);
    return true;
}

}  // namespace eddy
