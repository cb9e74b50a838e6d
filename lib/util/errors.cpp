// Error names and version queries of the C API.
#include <cerrno>

#include "eddy/common.h"
#include "util/errors.hpp"

namespace eddy {

int error_from_errno(int err) {
    switch (err) {
    case 0: return EDDY_OK;
    case ENOMEM: return EDDY_ENOMEM;
    case EINVAL: return EDDY_EINVAL;
    case ETIMEDOUT: return EDDY_ETIMEDOUT;
    case ECONNREFUSED: return EDDY_ECONNREFUSED;
    case ECONNRESET:
    case EPIPE: return EDDY_ECONNRESET;
    case EADDRINUSE: return EDDY_EADDRINUSE;
    case EADDRNOTAVAIL:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EAFNOSUPPORT: return EDDY_EADDRNOTAVAIL;
    case EMFILE:
    case ENFILE: return EDDY_EMFILE;
    case EACCES:
    case EPERM: return EDDY_EACCES;
    case ECANCELED: return EDDY_ECANCELED;
    case ENOENT: return EDDY_ENOENT;
    case EPROTO: return EDDY_EPROTO;
    case kTlsFailureErrno: return EDDY_ETLS;
    default: return EDDY_EIO;
    }
}

}  // namespace eddy

extern "C" {

EDDY_API const char *eddy_strerror(int code) {
    switch (code) {
    case EDDY_OK: return "success";
    case EDDY_EINVAL: return "invalid argument";
    case EDDY_ENOMEM: return "out of memory";
    case EDDY_EBUSY: return "operation already pending";
    case EDDY_ECLOSED: return "object is closed";
    // A missing Unix socket file (a fetch's, a WebSocket's; reverse_proxy's 502 body shows it)
    // as much as a call id or a listener without a TCP socket: "item" read oddly for a file.
    case EDDY_ENOENT: return "no such file or entry";
    case EDDY_ETIMEDOUT: return "timed out";
    case EDDY_ECONNREFUSED: return "connection refused";
    case EDDY_ECONNRESET: return "connection reset by peer";
    case EDDY_EADDRINUSE: return "address already in use";
    case EDDY_EADDRNOTAVAIL: return "address not available";
    case EDDY_ETOOBIG: return "size limit exceeded";
    case EDDY_EOF: return "end of stream";
    case EDDY_ESTATE: return "not allowed in the current state";
    case EDDY_EMFILE: return "too many open files";
    case EDDY_ENOTSUP: return "not supported";
    case EDDY_EIO: return "system error";
    case EDDY_EACCES: return "permission denied";
    case EDDY_ECANCELED: return "operation cancelled";
    case EDDY_EPROTO: return "protocol error";
    case EDDY_ETLS: return "TLS handshake or certificate verification failed";
    case EDDY_ERESOLVE: return "host name could not be resolved";
    default: return "unknown error";
    }
}

EDDY_API const char *eddy_err_name(int code) {
    switch (code) {
    case EDDY_OK: return "EDDY_OK";
    case EDDY_EINVAL: return "EDDY_EINVAL";
    case EDDY_ENOMEM: return "EDDY_ENOMEM";
    case EDDY_EBUSY: return "EDDY_EBUSY";
    case EDDY_ECLOSED: return "EDDY_ECLOSED";
    case EDDY_ENOENT: return "EDDY_ENOENT";
    case EDDY_ETIMEDOUT: return "EDDY_ETIMEDOUT";
    case EDDY_ECONNREFUSED: return "EDDY_ECONNREFUSED";
    case EDDY_ECONNRESET: return "EDDY_ECONNRESET";
    case EDDY_EADDRINUSE: return "EDDY_EADDRINUSE";
    case EDDY_EADDRNOTAVAIL: return "EDDY_EADDRNOTAVAIL";
    case EDDY_ETOOBIG: return "EDDY_ETOOBIG";
    case EDDY_EOF: return "EDDY_EOF";
    case EDDY_ESTATE: return "EDDY_ESTATE";
    case EDDY_EMFILE: return "EDDY_EMFILE";
    case EDDY_ENOTSUP: return "EDDY_ENOTSUP";
    case EDDY_EIO: return "EDDY_EIO";
    case EDDY_EACCES: return "EDDY_EACCES";
    case EDDY_ECANCELED: return "EDDY_ECANCELED";
    case EDDY_EPROTO: return "EDDY_EPROTO";
    case EDDY_ETLS: return "EDDY_ETLS";
    case EDDY_ERESOLVE: return "EDDY_ERESOLVE";
    default: return "EDDY_EUNKNOWN";
    }
}

EDDY_API unsigned eddy_version(void) { return EDDY_VERSION_HEX; }

EDDY_API const char *eddy_version_string(void) { return EDDY_VERSION_TEXT; }

}  // extern "C"
