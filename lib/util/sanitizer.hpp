// Whether this translation unit is built with AddressSanitizer. Caches of freed memory (handler
// blocks, spare buffers) are skipped under it, so that a use after free is still caught.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define EDDY_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDDY_UNDER_ASAN 1
#endif
#endif
#ifndef EDDY_UNDER_ASAN
#define EDDY_UNDER_ASAN 0
#endif
