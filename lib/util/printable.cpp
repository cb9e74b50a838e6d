#include "util/printable.hpp"

#include <cstdio>

namespace eddy {

std::string printable(std::string_view text, size_t max) {
    std::string out;
    bool cut = text.size() > max;
    if (cut) text = text.substr(0, max);
    for (unsigned char c : text) {
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char esc[5];
            snprintf(esc, sizeof esc, "\\x%02x", c);
            out += esc;
        }
    }
    if (cut) out += "...";
    return out;
}

}  // namespace eddy
