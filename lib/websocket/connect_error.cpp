#include "websocket/connect_error.hpp"

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

}  // namespace eddy::ws
