// A binary min-heap of timers ordered by (deadline, sequence number). Every timer knows its
// position, so stopping one is O(log n) and nothing cancelled lingers in the heap — this matters
// when tens of thousands of connections keep re-arming idle timeouts.
//
// Starting a timer never fails: when the heap's array cannot grow (out of memory), the node
// waits in an overflow list linked through the nodes themselves, is found there by top() and
// pop() (a linear scan, only while the list is not empty: memory ran out, and the list is as
// long as the timers started since), and moves into the array as soon as a slot frees up or the
// array can grow. So no owner of a timer has a failure to handle: a timeout that would not fire
// would leave a connection, a fetch or a handshake waiting for ever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eddy {

struct TimerNode {
    double deadline = 0;
    uint64_t seq = 0;  // tie-break: timers due at the same time run in start order
    // Where the node is: kNotQueued; its index into the heap's array, times two (even); or, in
    // the overflow list, the address of the next node there (nullptr for the last) plus one
    // (odd: nodes are at least 2-aligned, and kNotQueued is no node's address plus one).
    size_t heap_index = kNotQueued;
    void (*fire)(TimerNode *node) = nullptr;  // called when due; the node is already unqueued
    void *owner = nullptr;                    // the object the node is embedded in

    static constexpr size_t kNotQueued = static_cast<size_t>(-1);
    bool queued() const { return heap_index != kNotQueued; }
    bool in_overflow() const { return (heap_index & 1) && heap_index != kNotQueued; }
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
    static_assert(alignof(TimerNode) >= 2, "the overflow link needs the low bit");
    static TimerNode *overflow_next(const TimerNode *node) {
        return reinterpret_cast<TimerNode *>(node->heap_index - 1);
    }
    static void set_overflow_next(TimerNode *node, TimerNode *next) {
        node->heap_index = reinterpret_cast<uintptr_t>(next) + 1;
    }
    static size_t index_of(const TimerNode *node) { return node->heap_index >> 1; }
    bool grow(size_t need) noexcept;    // room for `need` more nodes in the array, or false
    void heap_insert(TimerNode *node);  // the caller made sure of a free slot: no allocation
    void heap_remove(TimerNode *node);
    void park(TimerNode *node);   // into the overflow list
    void refill_from_overflow();  // moves overflow nodes into free slots of the array
    void sift_up(size_t i);
    void sift_down(size_t i);
    void place(size_t i, TimerNode *node) {
        nodes_[i] = node;
        node->heap_index = i << 1;
    }

    static constexpr size_t kHeadroom = 16;
    std::vector<TimerNode *> nodes_;
    TimerNode *overflow_ = nullptr;  // nodes the array had no room for (out of memory)
    size_t overflow_count_ = 0;
};

}  // namespace eddy
