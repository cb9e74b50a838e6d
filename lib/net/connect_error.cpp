#include "net/connect_error.hpp"

#include "net/connect.hpp"

namespace eddy {

namespace {

thread_local DetailSlot failed_connect;

// What a connect that did not fail publishes (made on first use, not at load time).
const std::string &no_failure() {
    static const std::string none;
    return none;
}

}  // namespace

ConnectFailureScope::ConnectFailureScope(const Loop *loop, const Connector &connector, bool failed)
    : published_(failed_connect, loop, failed ? connector.failure() : no_failure()) {}

const char *connect_failure_detail(const Loop *loop, size_t *len) {
    return published_detail(failed_connect, loop, len);
}

}  // namespace eddy
