// A binary min-heap of timers ordered by (deadline, sequence number). Every timer knows its
// position, so stopping one is O(log n) and nothing cancelled lingers in the heap — this matters
// when tens of thousands of connections keep re-arming idle timeouts.
//
// Starting a timer never fails: when the heap's array cannot grow (out of memory), the node
// waits in a short overflow list linked through the nodes themselves, is found there by top()
// and pop() (a linear scan, only while the list is not empty), and moves into the heap as soon
// as a slot frees up. So no owner of a timer has a failure to handle: a timeout that would not
// fire would leave a connection, a fetch or a handshake waiting for ever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eddy {

struct TimerNode {
    double deadline = 0;
    uint64_t seq = 0;  // tie-break: timers due at the same time run in start order
    // Where the node is: kNotQueued; an index into the heap's array; or, in the overflow list,
    // kOverflowTag | the address of the next node there (0 for the last one): user-space
    // addresses leave the top bit clear, and no heap reaches 2^63 entries.
    size_t heap_index = kNotQueued;
    void (*fire)(TimerNode *node) = nullptr;  // called when due; the node is already unqueued
    void *owner = nullptr;                    // the object the node is embedded in

    static constexpr size_t kNotQueued = static_cast<size_t>(-1);
    static constexpr size_t kOverflowTag = static_cast<size_t>(1) << 63;
    bool queued() const { return heap_index != kNotQueued; }
    bool in_overflow() const { return (heap_index & kOverflowTag) && heap_index != kNotQueued; }
};

class TimerHeap {
public:
    bool empty() const { return nodes_.empty() && !overflow_; }
    // The earliest node, or nullptr.
    TimerNode *top() const { return overflow_ ? earliest_with_overflow() : heap_top(); }

    // Inserts a node that is not queued (the caller sets deadline and seq first). Does not
    // fail; false tells that the heap could not grow (out of memory) and the node waits in the
    // overflow list (it fires all the same).
    bool push(TimerNode *node) noexcept;
    // Removes a queued node; does nothing when it is not queued.
    void remove(TimerNode *node) noexcept;
    // Removes and returns the earliest node.
    TimerNode *pop() noexcept;

private:
    static bool less(const TimerNode *a, const TimerNode *b) {
        return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
    }
    TimerNode *heap_top() const { return nodes_.empty() ? nullptr : nodes_[0]; }
    TimerNode *earliest_with_overflow() const;
    static TimerNode *overflow_next(const TimerNode *node) {
        return reinterpret_cast<TimerNode *>(node->heap_index & ~TimerNode::kOverflowTag);
    }
    static void set_overflow_next(TimerNode *node, TimerNode *next) {
        node->heap_index = TimerNode::kOverflowTag | reinterpret_cast<uintptr_t>(next);
    }
    void heap_insert(TimerNode *node);  // within capacity: does not allocate
    void heap_remove(TimerNode *node);
    void refill_from_overflow();  // moves overflow nodes into free slots of the array
    void sift_up(size_t i);
    void sift_down(size_t i);
    void place(size_t i, TimerNode *node) {
        nodes_[i] = node;
        node->heap_index = i;
    }

    static constexpr size_t kHeadroom = 16;
    std::vector<TimerNode *> nodes_;
    TimerNode *overflow_ = nullptr;  // nodes the array had no room for (out of memory)
};

}  // namespace eddy
