// Error details: the text a failure carries beyond its EDDY_E* code ("connect to 127.0.0.1:9:
// Connection refused"). Setting one must not fail the failure being reported: out of memory,
// the detail is left empty, as the code alone still tells what failed.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace eddy {

// Replaces `detail` with the concatenation of `parts`; "" when memory runs out.
inline void set_error_detail(std::string &detail,
                             std::initializer_list<std::string_view> parts) noexcept {
    try {
        detail.clear();
        for (std::string_view part : parts) detail.append(part);
    } catch (...) {
        detail.clear();
    }
}

}  // namespace eddy
