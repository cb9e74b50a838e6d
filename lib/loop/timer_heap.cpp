#include "loop/timer_heap.hpp"

namespace eddy {

bool TimerHeap::push(TimerNode *node) noexcept {
    // The heap grows while kHeadroom slots are still free, so a timer is left out only after
    // that many allocations in a row failed (out of memory), not at the first.
    if (nodes_.capacity() - nodes_.size() <= kHeadroom) {
        try {
            nodes_.reserve(nodes_.capacity() * 2 + kHeadroom + 1);
        } catch (...) {
            if (nodes_.size() == nodes_.capacity()) return false;
        }
    }
    nodes_.push_back(node);  // within capacity: does not allocate
    node->heap_index = nodes_.size() - 1;
    sift_up(node->heap_index);
    return true;
}

void TimerHeap::remove(TimerNode *node) {
    if (!node->queued()) return;
    size_t i = node->heap_index;
    TimerNode *last = nodes_.back();
    nodes_.pop_back();
    node->heap_index = TimerNode::kNotQueued;
    if (last == node) return;
    place(i, last);
    sift_up(i);
    sift_down(last->heap_index);
}

TimerNode *TimerHeap::pop() {
    if (nodes_.empty()) return nullptr;
    TimerNode *first = nodes_[0];
    remove(first);
    return first;
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
