#include "websocket/connect_error.hpp"

namespace eddy::ws {

namespace {

thread_local DetailSlot failed_connect;

}  // namespace

ConnectErrorScope::ConnectErrorScope(const Loop *loop, const std::string &detail)
    : published_(failed_connect, loop, detail) {}

const char *connect_error_detail(const Loop *loop, size_t *len) {
    return published_detail(failed_connect, loop, len);
}

}  // namespace eddy::ws
