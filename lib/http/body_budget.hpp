#pragma once
// The request-body bytes a server holds in memory over all its connections, against
// eddy_server_set_max_body_memory(). Each request counts the bytes it buffered until it is
// released; a request the application keeps may outlive its server, so the server and every
// request holding counted bytes share this object and the last of them deletes it.

#include <cstddef>
#include <cstdint>

namespace eddy::http {

class BodyBudget {
public:
    // Whether `n` more bytes fit under `limit` (0: no limit).
    bool fits(uint64_t n, size_t limit) const {
        return limit == 0 || (held_ <= limit && n <= limit - held_);
    }
    size_t held() const { return held_; }
    void take(size_t n) { held_ += n; }
    void give_back(size_t n) { held_ -= n; }

    void ref() { refs_++; }
    void unref() {
        if (--refs_ == 0) delete this;
    }

private:
    size_t held_ = 0;
    unsigned refs_ = 1;  // the server's
};

}  // namespace eddy::http
