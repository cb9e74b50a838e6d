// SWAR (SIMD within a register): questions about the eight bytes of a word at once. Exact when
// they say no; a yes tells the caller to look at the bytes one by one (the bits above the
// first matching byte may be false positives).
#pragma once

#include <cstdint>
#include <cstring>

namespace eddy {

constexpr uint64_t kSwarOnes = 0x0101010101010101ull;
constexpr uint64_t kSwarHighs = 0x8080808080808080ull;

// The eight bytes at p (any alignment).
inline uint64_t load8(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}
// Some byte of w is below n (n <= 128).
inline bool has_byte_below(uint64_t w, uint8_t n) {
    return ((w - kSwarOnes * n) & ~w & kSwarHighs) != 0;
}
// Some byte of w equals b.
inline bool has_byte_equal(uint64_t w, uint8_t b) {
    uint64_t x = w ^ (kSwarOnes * b);
    return ((x - kSwarOnes) & ~x & kSwarHighs) != 0;
}

}  // namespace eddy
