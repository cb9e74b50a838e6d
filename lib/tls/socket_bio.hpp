// A socket BIO whose writes use send(MSG_NOSIGNAL): OpenSSL's own socket BIO calls write(),
// and a peer that went away would kill the host process with SIGPIPE.
#pragma once

#include <openssl/bio.h>

namespace eddy::tls {

// A BIO over `fd` (not closed by the BIO), or nullptr when out of memory.
BIO *new_socket_bio(int fd);

}  // namespace eddy::tls
