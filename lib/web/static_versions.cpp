#include "web/static_versions.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "http/hex.hpp"
#include "util/log.hpp"

namespace eddy::web {

namespace {

// MD5 of what `fd` reads to its end, as lower-case hex; "" on a read or digest failure.
std::string md5_hex(int fd) {
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX *)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1) return {};
    unsigned char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return {};
        if (n == 0) break;
        if (EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n)) != 1) return {};
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) return {};
    std::string out;
    http::append_hex(out, digest, len);
    return out;
}

bool same_time(const struct timespec &a, const struct timespec &b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

std::string StaticVersions::version(const std::string &path) {
    // O_NONBLOCK: a named pipe (or a device) in a static directory must not block the loop
    // thread in open() waiting for a writer; fstat below turns it away. Reads of a regular
    // file are not affected by the flag.
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return {};
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return {};
    }
    auto it = cache_.find(path);
    if (it != cache_.end() && it->second.size == st.st_size && it->second.dev == st.st_dev &&
        it->second.ino == st.st_ino && same_time(it->second.ctime, st.st_ctim)) {
        close(fd);
        return it->second.hash;
    }
    std::string hash = md5_hex(fd);
    close(fd);
    if (hash.empty()) {
        log(LogLevel::warning, "static_url: could not read %s for its version", path.c_str());
        return {};
    }
    try {
        cache_[path] = Entry{st.st_size, st.st_dev, st.st_ino, st.st_ctim, hash};
    } catch (...) {
        // Not cached: computed again next time.
    }
    return hash;
}

}  // namespace eddy::web
