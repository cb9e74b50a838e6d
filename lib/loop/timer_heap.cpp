#include "loop/timer_heap.hpp"

namespace eddy {

bool TimerHeap::push(TimerNode *node) noexcept {
    // The heap grows while kHeadroom slots are still free, so a node goes to the overflow list
    // only after that many allocations in a row failed (out of memory), not at the first.
    if (nodes_.capacity() - nodes_.size() <= kHeadroom) {
        try {
            nodes_.reserve(nodes_.capacity() * 2 + kHeadroom + 1);
            refill_from_overflow();
        } catch (...) {
            if (nodes_.size() == nodes_.capacity()) {
                set_overflow_next(node, overflow_);
                overflow_ = node;
                return false;
            }
        }
    }
    heap_insert(node);
    return true;
}

void TimerHeap::remove(TimerNode *node) noexcept {
    if (!node->queued()) return;
    if (!node->in_overflow()) {
        heap_remove(node);
        refill_from_overflow();  // the slot just freed
        return;
    }
    // In the overflow list (short, and only while memory ran out): unlink it.
    if (overflow_ == node) {
        overflow_ = overflow_next(node);
    } else {
        TimerNode *prev = overflow_;
        while (prev && overflow_next(prev) != node) prev = overflow_next(prev);
        if (prev) set_overflow_next(prev, overflow_next(node));
    }
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

void TimerHeap::refill_from_overflow() {
    while (overflow_ && nodes_.size() < nodes_.capacity()) {
        TimerNode *node = overflow_;
        overflow_ = overflow_next(node);
        heap_insert(node);
    }
}

void TimerHeap::heap_insert(TimerNode *node) {
    nodes_.push_back(node);  // within capacity: does not allocate
    node->heap_index = nodes_.size() - 1;
    sift_up(node->heap_index);
}

void TimerHeap::heap_remove(TimerNode *node) {
    size_t i = node->heap_index;
    TimerNode *last = nodes_.back();
    nodes_.pop_back();
    node->heap_index = TimerNode::kNotQueued;
    if (last == node) return;
    place(i, last);
    sift_up(i);
    sift_down(last->heap_index);
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
