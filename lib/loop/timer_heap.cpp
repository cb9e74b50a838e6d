#include "loop/timer_heap.hpp"

#include <algorithm>

namespace eddy {

bool TimerHeap::push(TimerNode *node) noexcept {
    // The array grows while kHeadroom slots are still free, so a node is parked only after that
    // many growths in a row failed (out of memory), not at the first. While nodes are parked
    // the array is full, so every push tries again.
    if (nodes_.capacity() - nodes_.size() <= kHeadroom && grow(overflow_count_ + 1))
        refill_from_overflow();
    if (nodes_.size() == nodes_.capacity()) {
        park(node);
        return false;
    }
    heap_insert(node);
    return true;
}

bool TimerHeap::grow(size_t need) noexcept {
    // Room for the parked nodes and this one at least, so nothing below allocates again.
    size_t least = nodes_.size() + need + kHeadroom;
    try {
        nodes_.reserve(std::max(nodes_.capacity() * 2 + kHeadroom + 1, least));
        return true;
    } catch (...) {}
    try {  // a smaller block may still be there (a large array, fragmented memory)
        nodes_.reserve(least);
        return true;
    } catch (...) {}
    return false;
}

void TimerHeap::remove(TimerNode *node) noexcept {
    if (!node->queued()) return;
    if (!node->in_overflow()) {
        heap_remove(node);
        refill_from_overflow();  // the slot just freed
        return;
    }
    // Parked (memory ran out): unlink it.
    if (overflow_ == node) {
        overflow_ = overflow_next(node);
    } else {
        TimerNode *prev = overflow_;
        while (overflow_next(prev) != node) prev = overflow_next(prev);
        set_overflow_next(prev, overflow_next(node));
    }
    overflow_count_--;
    node->heap_index = TimerNode::kNotQueued;
}

TimerNode *TimerHeap::pop() noexcept {
    TimerNode *first = top();
    if (first) remove(first);
    return first;
}

TimerNode *TimerHeap::earliest_with_overflow() const {
    TimerNode *best = heap_top();
    for (TimerNode *n = overflow_; n; n = overflow_next(n))
        if (!best || less(n, best)) best = n;
    return best;
}

void TimerHeap::park(TimerNode *node) {
    set_overflow_next(node, overflow_);
    overflow_ = node;
    overflow_count_++;
}

void TimerHeap::refill_from_overflow() {
    while (overflow_ && nodes_.size() < nodes_.capacity()) {
        TimerNode *node = overflow_;
        overflow_ = overflow_next(node);
        overflow_count_--;
        heap_insert(node);
    }
}

void TimerHeap::heap_insert(TimerNode *node) {
    nodes_.push_back(node);  // within capacity: does not allocate
    sift_up(nodes_.size() - 1);
}

void TimerHeap::heap_remove(TimerNode *node) {
    size_t i = index_of(node);
    TimerNode *last = nodes_.back();
    nodes_.pop_back();
    node->heap_index = TimerNode::kNotQueued;
    if (last == node) return;
    place(i, last);
    sift_up(i);
    sift_down(index_of(last));
}

void TimerHeap::sift_up(size_t i) {
    TimerNode *node = nodes_[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!less(node, nodes_[parent])) break;
        place(i, nodes_[parent]);
        i = parent;
    }
    place(i, node);
}

void TimerHeap::sift_down(size_t i) {
    TimerNode *node = nodes_[i];
    size_t n = nodes_.size();
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && less(nodes_[child + 1], nodes_[child])) child++;
        if (!less(nodes_[child], node)) break;
        place(i, nodes_[child]);
        i = child;
    }
    place(i, node);
}

}  // namespace eddy
