// C API shims for running behind proxies and across processes: the PROXY protocol switch and
// access to the listening sockets.
#include "eddy/http.h"
#include "http/server.hpp"

using eddy::http::Server;

EDDY_API int eddy_server_set_proxy_protocol(eddy_server *server, int on) {
    if (!server) return EDDY_EINVAL;
    Server::from_c(server)->options.proxy_protocol = on != 0;
    return 0;
}

EDDY_API int eddy_server_listening_fd(const eddy_server *server, int index) {
    if (!server) return EDDY_EINVAL;
    int fd = Server::from_c(server)->listening_fd(index);
    return fd >= 0 ? fd : EDDY_ENOENT;
}
