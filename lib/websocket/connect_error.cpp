#include "websocket/connect_error.hpp"

#include <cstdio>

namespace eddy::ws {

namespace {

// The innermost scope's: trivially destructible, so no thread-exit work.
thread_local const Loop *current_loop = nullptr;
thread_local const std::string *current_detail = nullptr;

}  // namespace

ConnectErrorScope::ConnectErrorScope(const Loop *loop, const std::string &detail)
    : prev_loop_(current_loop), prev_detail_(current_detail) {
    current_loop = loop;
    current_detail = &detail;
}

ConnectErrorScope::~ConnectErrorScope() {
    current_loop = prev_loop_;
    current_detail = prev_detail_;
}

const char *connect_error_detail(const Loop *loop, size_t *len) {
    bool published = loop && loop == current_loop && current_detail;
    *len = published ? current_detail->size() : 0;
    return published ? current_detail->c_str() : "";
}

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

}  // namespace eddy::ws
