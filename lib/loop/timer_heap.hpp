// A binary min-heap of timers ordered by (deadline, sequence number). Every timer knows its
// position, so stopping one is O(log n) and nothing cancelled lingers in the heap — this matters
// when tens of thousands of connections keep re-arming idle timeouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eddy {

struct TimerNode {
    double deadline = 0;
    uint64_t seq = 0;              // tie-break: timers due at the same time run in start order
    size_t heap_index = kNotQueued;
    void (*fire)(TimerNode *node) = nullptr;  // called when due; the node is already unqueued
    void *owner = nullptr;                    // the object the node is embedded in

    static constexpr size_t kNotQueued = static_cast<size_t>(-1);
    bool queued() const { return heap_index != kNotQueued; }
};

class TimerHeap {
public:
    bool empty() const { return nodes_.empty(); }
    size_t size() const { return nodes_.size(); }
    TimerNode *top() const { return nodes_.empty() ? nullptr : nodes_[0]; }

    // Inserts a node that is not queued (the caller sets deadline and seq first). False when
    // out of memory (the node stays unqueued).
    bool push(TimerNode *node) noexcept;
    // Removes a queued node; does nothing when it is not queued.
    void remove(TimerNode *node);
    // Removes and returns the earliest node.
    TimerNode *pop();

private:
    static bool less(const TimerNode *a, const TimerNode *b) {
        return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
    }
    void sift_up(size_t i);
    void sift_down(size_t i);
    void place(size_t i, TimerNode *node) {
        nodes_[i] = node;
        node->heap_index = i;
    }

    static constexpr size_t kHeadroom = 16;
    std::vector<TimerNode *> nodes_;
};

}  // namespace eddy
