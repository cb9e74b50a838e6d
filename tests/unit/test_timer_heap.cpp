// TimerHeap (lib/loop/timer_heap.cpp), the loop's timers: nodes come out in (deadline, start
// order), a stopped node never comes out, and — the point of these tests — starting a timer
// cannot fail: when the heap's array cannot grow (every allocation failing, through the
// operator new below), the node waits in the overflow list, is still found first when it is
// the earliest, can be stopped there, and moves into the array once slots free up.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}

#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#include "loop/timer_heap.hpp"

namespace {
bool g_fail_allocations = false;  // operator new throws while set
}

// Every form of the replaceable allocation functions, so that each new and delete pair up
// (malloc and free) under the sanitizers too; GCC cannot see that they match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void *operator new(std::size_t n) {
    if (g_fail_allocations) throw std::bad_alloc();
    if (void *p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void *operator new[](std::size_t n) { return operator new(n); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
    return g_fail_allocations ? nullptr : std::malloc(n ? n : 1);
}
void *operator new[](std::size_t n, const std::nothrow_t &t) noexcept { return operator new(n, t); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
#pragma GCC diagnostic pop

using eddy::TimerHeap;
using eddy::TimerNode;

namespace {

struct Rng {
    uint64_t state;
    uint32_t next() {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<uint32_t>(state >> 33);
    }
};

bool before(const TimerNode *a, const TimerNode *b) {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

// Pops everything; checks the order and that exactly the nodes in `live` came out.
void drain_and_check(TimerHeap &heap, std::vector<TimerNode> &nodes, std::vector<bool> &live) {
    std::vector<bool> seen(nodes.size(), false);
    const TimerNode *prev = nullptr;
    while (TimerNode *n = heap.top()) {
        assert_ptr_equal(heap.pop(), n);
        assert_false(n->queued());
        size_t i = static_cast<size_t>(n - nodes.data());
        assert_true(i < nodes.size());
        assert_true(live[i]);
        assert_false(seen[i]);
        seen[i] = true;
        if (prev) assert_true(before(prev, n));
        prev = n;
    }
    assert_true(heap.empty());
    for (size_t i = 0; i < nodes.size(); i++) assert_int_equal(seen[i], live[i]);
}

void test_order_and_stop(void **) {
    std::vector<TimerNode> nodes(3000);
    std::vector<bool> live(nodes.size(), true);
    TimerHeap heap;
    Rng rng{7};
    uint64_t seq = 0;
    for (TimerNode &n : nodes) {
        n.deadline = rng.next() % 50;  // many equal deadlines: start order breaks the ties
        n.seq = seq++;
        assert_true(heap.push(&n));
    }
    for (size_t k = 0; k < nodes.size(); k++) {
        size_t i = rng.next() % nodes.size();
        if (live[i] && rng.next() % 3 == 0) {
            heap.remove(&nodes[i]);
            live[i] = false;
            heap.remove(&nodes[i]);  // not queued: nothing happens
        }
    }
    drain_and_check(heap, nodes, live);
}

void test_starting_cannot_fail(void **) {
    std::vector<TimerNode> nodes(4000);
    std::vector<bool> live(nodes.size(), false);
    TimerHeap heap;
    Rng rng{99};
    uint64_t seq = 0;
    size_t overflowed = 0;
    // Pushes and stops at random while allocations fail in stretches: every pushed node is
    // queued (in the array or the overflow list) and comes out once, in order.
    for (size_t k = 0; k < nodes.size(); k++) {
        if (k % 500 == 0) g_fail_allocations = (k / 500) % 2 == 1;
        TimerNode &n = nodes[k];
        n.deadline = rng.next() % 200;
        n.seq = seq++;
        if (!heap.push(&n)) overflowed++;
        assert_true(n.queued());
        live[k] = true;
        if (rng.next() % 4 == 0) {
            size_t i = rng.next() % (k + 1);
            if (live[i]) {
                heap.remove(&nodes[i]);
                assert_false(nodes[i].queued());
                live[i] = false;
            }
        }
        // The earliest node is found wherever it waits.
        const TimerNode *top = heap.top();
        for (size_t i = 0; i <= k; i++)
            if (live[i]) assert_false(before(&nodes[i], top));
    }
    g_fail_allocations = false;
    assert_true(overflowed > 0);  // the overflow list was used
    drain_and_check(heap, nodes, live);
}

void test_overflow_node_first_and_stopped(void **) {
    TimerHeap heap;
    std::vector<TimerNode> nodes(200);
    uint64_t seq = 0;
    // Fill the array to its capacity with late timers, then fail every growth.
    g_fail_allocations = false;
    for (int i = 0; i < 100; i++) {
        nodes[i].deadline = 1000 + i;
        nodes[i].seq = seq++;
        heap.push(&nodes[i]);
    }
    g_fail_allocations = true;
    size_t pushed = 100;  // earlier and earlier timers, until one finds the array full
    for (;; pushed++) {
        assert_true(pushed < nodes.size());
        nodes[pushed].deadline = 500.0 - static_cast<double>(pushed);
        nodes[pushed].seq = seq++;
        if (!heap.push(&nodes[pushed])) break;
    }
    TimerNode *early = &nodes[pushed];
    assert_true(early->in_overflow());
    assert_ptr_equal(heap.top(), early);  // the earliest, though not in the array
    // Three more in the list; stop the middle one and the first.
    TimerNode *a = &nodes[pushed + 1], *b = &nodes[pushed + 2], *c = &nodes[pushed + 3];
    a->deadline = 2000, b->deadline = 1, c->deadline = 3000;
    a->seq = seq++, b->seq = seq++, c->seq = seq++;
    assert_false(heap.push(a));
    assert_false(heap.push(b));
    assert_false(heap.push(c));
    assert_ptr_equal(heap.top(), b);
    heap.remove(a);
    heap.remove(b);
    assert_false(a->queued());
    assert_false(b->queued());
    assert_ptr_equal(heap.top(), early);
    g_fail_allocations = false;
    // Popping frees slots: the overflow nodes move into the array and come out in order.
    std::vector<bool> live(nodes.size(), false);
    for (size_t i = 0; i <= pushed; i++) live[i] = true;
    live[c - nodes.data()] = true;
    assert_ptr_equal(heap.pop(), early);  // from the list: no array slot freed
    live[early - nodes.data()] = false;
    assert_true(c->in_overflow());
    TimerNode *second = heap.pop();  // from the array: c takes the slot
    assert_false(second->in_overflow());
    live[second - nodes.data()] = false;
    assert_false(c->in_overflow());
    assert_true(c->queued());
    drain_and_check(heap, nodes, live);
}

// Far more nodes parked than the array held: once memory is back, the next start makes room
// for all of them at once (no second allocation inside push, which must not throw).
void test_many_parked_then_memory_back(void **) {
    std::vector<TimerNode> nodes(600);
    std::vector<bool> live(nodes.size(), true);
    TimerHeap heap;
    uint64_t seq = 0;
    size_t parked = 0;
    for (size_t i = 0; i < nodes.size(); i++) {
        if (i == 17) g_fail_allocations = true;
        nodes[i].deadline = static_cast<double>((i * 7919) % 600);
        nodes[i].seq = seq++;
        if (!heap.push(&nodes[i])) parked++;
        if (i == nodes.size() - 2) g_fail_allocations = false;  // the last one finds memory
    }
    assert_true(parked > 400);
    for (const TimerNode &n : nodes) assert_false(n.in_overflow());  // all moved in at once
    drain_and_check(heap, nodes, live);
}

// Before each test: a failed assertion may have left allocations failing.
int allocations_work(void **) {
    g_fail_allocations = false;
    return 0;
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_order_and_stop, allocations_work),
        cmocka_unit_test_setup(test_starting_cannot_fail, allocations_work),
        cmocka_unit_test_setup(test_overflow_node_first_and_stopped, allocations_work),
        cmocka_unit_test_setup(test_many_parked_then_memory_back, allocations_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
