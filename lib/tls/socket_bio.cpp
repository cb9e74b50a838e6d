#include "tls/socket_bio.hpp"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace eddy::tls {

namespace {

// Made on first use and kept for the process's life. Not with std::call_once: a first attempt
// that ran out of memory would leave every later TLS connection without a BIO; a failed one is
// tried again next time instead.
std::atomic<BIO_METHOD *> g_method{nullptr};
std::mutex g_method_mutex;

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

BIO_METHOD *make_method() {
    const BIO_METHOD *base = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "eddy socket");
    if (!m) return nullptr;
    // Everything but writing is the stock socket BIO's.
    BIO_meth_set_write(m, nosignal_write);
    BIO_meth_set_puts(m, nosignal_puts);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
}

const BIO_METHOD *socket_method() {
    BIO_METHOD *m = g_method.load(std::memory_order_acquire);
    if (m) return m;
    std::lock_guard<std::mutex> lock(g_method_mutex);
    m = g_method.load(std::memory_order_relaxed);
    if (!m && (m = make_method())) g_method.store(m, std::memory_order_release);
    return m;
}

}  // namespace

BIO *new_socket_bio(int fd) {
    const BIO_METHOD *method = socket_method();
    if (!method) return nullptr;
    BIO *b = BIO_new(method);
    if (b) BIO_set_fd(b, fd, BIO_NOCLOSE);
    return b;
}

}  // namespace eddy::tls
