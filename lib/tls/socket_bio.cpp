#include "tls/socket_bio.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace eddy::tls {

namespace {

BIO_METHOD *g_method = nullptr;
std::once_flag g_once;

int nosignal_write(BIO *b, const char *data, int len) {
    int fd = -1;
    BIO_get_fd(b, &fd);
    errno = 0;
    ssize_t n = send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(b);
    return static_cast<int>(n);
}

int nosignal_puts(BIO *b, const char *str) {
    return nosignal_write(b, str, static_cast<int>(strlen(str)));
}

void make_method() {
    const BIO_METHOD *base = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "eddy socket");
    if (!m) return;
    // Everything but writing is the stock socket BIO's.
    BIO_meth_set_write(m, nosignal_write);
    BIO_meth_set_puts(m, nosignal_puts);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    g_method = m;
}

}  // namespace

BIO *new_socket_bio(int fd) {
    std::call_once(g_once, make_method);
    if (!g_method) return nullptr;
    BIO *b = BIO_new(g_method);
    if (b) BIO_set_fd(b, fd, BIO_NOCLOSE);
    return b;
}

}  // namespace eddy::tls
