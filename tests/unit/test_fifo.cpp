// Fifo (lib/util/fifo.hpp), the WebSocket session's queue of write completions: values come
// out in the order they went in, across the compaction that reuses popped room; pop_back takes
// back the last push; and the queue holds no memory before its first push and little after it
// ran empty (what keeps an idle WebSocket connection small).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}

#include "util/fifo.hpp"

using eddy::Fifo;

namespace {

void test_first_in_first_out(void **) {
    Fifo<int> q;
    assert_true(q.empty());
    assert_int_equal(q.room(), 0);  // nothing held before the first push
    for (int i = 0; i < 5; i++) q.push_back(i);
    assert_int_equal(q.size(), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(q.front(), i);
        q.pop_front();
    }
    assert_true(q.empty());
}

// A queue that never runs empty: pushes and pops interleaved, one more pushed than popped
// each round. Values keep their order through every compaction, and the room stays within a
// small factor of what is held (the popped values do not pile up in front).
void test_order_kept_while_never_empty(void **) {
    Fifo<int> q;
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 2000; round++) {
        q.push_back(next_in++);
        q.push_back(next_in++);
        assert_int_equal(q.front(), next_out++);
        q.pop_front();
        assert_true(q.room() <= 4 * q.size() + 16);
    }
    assert_int_equal(q.size(), next_in - next_out);
    while (!q.empty()) {
        assert_int_equal(q.front(), next_out++);
        q.pop_front();
    }
    assert_int_equal(next_out, next_in);
}

void test_pop_back_takes_back_the_last_push(void **) {
    Fifo<int> q;
    q.push_back(1);
    q.push_back(2);
    q.pop_back();
    assert_int_equal(q.size(), 1);
    assert_int_equal(q.front(), 1);
    q.push_back(3);
    q.pop_front();
    assert_int_equal(q.front(), 3);
}

// Run empty, the queue keeps room for a few values (the next write reuses it) and gives back
// more than that.
void test_room_given_back_when_empty(void **) {
    Fifo<int> q;
    for (int i = 0; i < 1000; i++) q.push_back(i);
    assert_true(q.room() >= 1000);
    for (int i = 0; i < 1000; i++) q.pop_front();
    assert_true(q.empty());
    assert_int_equal(q.room(), 0);
    for (int i = 0; i < 3; i++) q.push_back(i);
    for (int i = 0; i < 3; i++) q.pop_front();
    assert_true(q.room() > 0 && q.room() <= 8);  // a few kept
    q.push_back(7);
    q.clear();
    assert_true(q.empty());
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_in_first_out),
        cmocka_unit_test(test_order_kept_while_never_empty),
        cmocka_unit_test(test_pop_back_takes_back_the_last_push),
        cmocka_unit_test(test_room_given_back_when_empty),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
