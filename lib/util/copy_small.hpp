// copy_small: memcpy for the short pieces of response heads and log lines (names, values,
// dates, addresses: nearly all under 32 bytes). Two overlapping fixed-size moves copy them
// without a call into libc's memcpy; a constant `n` folds to one branch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace eddy {

[[gnu::always_inline]] inline void copy_small(char *dst, const char *src, size_t n) {
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n > 16 && n <= 32) {
        char a[16], b[16];
        memcpy(a, src, 16);
        memcpy(b, src + n - 16, 16);
        memcpy(dst, a, 16);
        memcpy(dst + n - 16, b, 16);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n > 0 && n < 4) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    } else if (n > 32) {
        memcpy(dst, src, n);
    }
}

}  // namespace eddy
