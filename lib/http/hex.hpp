// Lowercase hex: hex16 formats a 64-bit value, most significant first, without a loop or a
// table (the automatic ETag formats one per response); append_hex formats bytes (digests).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace eddy::http {

#if defined(__SSE2__) && defined(__x86_64__)
// SSE2 (every x86-64): the 16 nibbles side by side in one register, all turned into digits at
// once.
inline void hex16(uint64_t v, char out[16]) {
    __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(__builtin_bswap64(v)));
    const __m128i low4 = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(bytes, low4);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
    __m128i nibbles = _mm_unpacklo_epi8(hi, lo);  // high nibble of each byte first
    __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)),
                                    _mm_set1_epi8('a' - '0' - 10));
    __m128i digits = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')), letters);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(out), digits);
}
#else
// Elsewhere eight at a time in a 64-bit word: each nibble spread into a byte of its own.
inline void hex16(uint64_t v, char out[16]) {
    for (int half = 0; half < 2; half++) {
        uint64_t x = half == 0 ? v >> 32 : v & 0xffffffffu;
        x = ((x & 0xffff0000u) << 16) | (x & 0xffffu);
        x = ((x & 0x0000ff000000ff00ull) << 8) | (x & 0x000000ff000000ffull);
        x = ((x & 0x00f000f000f000f0ull) << 4) | (x & 0x000f000f000f000full);
        // Byte k now holds nibble k (counting from the least significant); 'a'-'9'-1 = 39
        // is added to the bytes of 10..15, which are those where nibble + 6 carries into bit 4.
        uint64_t ascii = x + 0x3030303030303030ull +
                         (((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull) * 39;
        // The most significant digit goes first: byte 7 of `ascii` to out[0].
        if constexpr (std::endian::native == std::endian::little) ascii = __builtin_bswap64(ascii);
        memcpy(out + 8 * half, &ascii, 8);
    }
}
#endif

// Appends the two lowercase hex digits of each of the `n` bytes at `p` (binascii.hexlify).
inline void append_hex(std::string &out, const unsigned char *p, size_t n) {
    static const char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out.push_back(kHex[p[i] >> 4]);
        out.push_back(kHex[p[i] & 15]);
    }
}

}  // namespace eddy::http
