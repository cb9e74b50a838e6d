// Fifo: a first-in first-out queue of small values that holds no memory while empty and
// little after it was used — for per-connection queues, where an idle connection must cost
// hundreds of bytes. (std::deque allocates a 512-byte block and its map at construction: that
// was most of an idle WebSocket's memory.)
//
// A vector and the index of its front: pop_front() moves the index, and the vector is reset
// when it runs empty (its room kept up to kKeptRoom values, released beyond) or compacted when
// the popped values are the larger half, so a queue that never runs empty stays bounded by
// what it holds. push_back throws std::bad_alloc when memory runs out (nothing changed then).
#pragma once

#include <cassert>
#include <cstddef>
#include <vector>

namespace eddy {

template <class T>
class Fifo {
public:
    bool empty() const { return head_ == items_.size(); }
    size_t size() const { return items_.size() - head_; }
    T &front() { return items_[head_]; }
    // Values the queue has room for without allocating (what it costs while holding fewer).
    size_t room() const { return items_.capacity(); }

    void push_back(const T &value) {
        if (head_ > 0 && head_ >= items_.size() / 2 && items_.size() == items_.capacity()) {
            // Full, and the popped values are at least half of it: reuse their room.
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
        items_.push_back(value);
    }
    // Takes back the value just pushed (a write that failed after queuing its callback).
    void pop_back() {
        assert(!empty());
        items_.pop_back();
        if (empty()) clear();
    }
    void pop_front() {
        assert(!empty());
        if (++head_ == items_.size()) clear();
    }
    void clear() {
        items_.clear();
        head_ = 0;
        if (items_.capacity() > kKeptRoom) std::vector<T>().swap(items_);
    }

private:
    static constexpr size_t kKeptRoom = 8;

    std::vector<T> items_;
    size_t head_ = 0;
};

}  // namespace eddy
