#pragma once
// A count of bytes held in memory by many owners against one limit, shared by whatever set
// the limit and by every owner holding counted bytes: request bodies over a server's
// connections (eddy_server_set_max_body_memory), WebSocket messages being assembled over the
// sessions of one eddy_ws_options (eddy_ws_options_set_max_message_memory). An owner may
// outlive what set the limit (a request the application keeps after its server was freed), so
// the object is reference-counted (one loop thread: no atomics) and the last reference
// deletes it.

#include <cstddef>
#include <cstdint>

namespace eddy {

class MemoryBudget {
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
    unsigned refs_ = 1;  // the creator's
};

// One owner's share: what it took from a budget, given back at reset() or destruction.
class MemoryShare {
public:
    MemoryShare() = default;
    MemoryShare(const MemoryShare &) = delete;
    MemoryShare &operator=(const MemoryShare &) = delete;
    ~MemoryShare() { reset(); }

    // Counts `n` more bytes against `budget` (nullptr: none) and `limit` (0: none); false,
    // counting nothing, when they do not fit. One budget per share.
    bool take(MemoryBudget *budget, size_t limit, size_t n) {
        if (!budget) return true;
        if (!budget->fits(n, limit)) return false;
        if (!budget_) {
            budget_ = budget;
            budget->ref();
        }
        budget->take(n);
        bytes_ += n;
        return true;
    }
    // Gives everything back (the bytes were freed).
    void reset() {
        if (!budget_) return;
        budget_->give_back(bytes_);
        budget_->unref();
        budget_ = nullptr;
        bytes_ = 0;
    }
    size_t bytes() const { return bytes_; }

private:
    MemoryBudget *budget_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace eddy
