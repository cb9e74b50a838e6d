#include "net/connect_error.hpp"

namespace eddy {

namespace {

thread_local DetailSlot failed_connect;

}  // namespace

ConnectFailureScope::ConnectFailureScope(const Loop *loop, const std::string &detail)
    : published_(failed_connect, loop, detail) {}

const char *connect_failure_detail(const Loop *loop, size_t *len) {
    return published_detail(failed_connect, loop, len);
}

}  // namespace eddy
