// Unit tests for lib/http/body_buffer: a request body's bytes survive every growth (heap, then
// mapping), stay NUL-terminated, and a body grown piece by piece is not held twice on the way.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

#include "http/body_buffer.hpp"
#include "util/sanitizer.hpp"

using eddy::http::BodyBuffer;

namespace {

// Byte i of a test body: not periodic over any power of two, so a misplaced piece shows.
char pattern_byte(size_t i) { return static_cast<char>((i * 131 + i / 4093) % 251); }

std::string pattern(size_t from, size_t n) {
    std::string s(n, '\0');
    for (size_t k = 0; k < n; ++k) s[k] = pattern_byte(from + k);
    return s;
}

bool holds_pattern(const BodyBuffer &b) {
    for (size_t i = 0; i < b.size(); ++i)
        if (b.data()[i] != pattern_byte(i)) return false;
    return b.data()[b.size()] == '\0';
}

long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') kib = atol(line + len + 1);
    fclose(f);
    return kib;
}

void test_empty(void **) {
    BodyBuffer b;
    assert_true(b.empty());
    assert_int_equal(b.size(), 0);
    assert_string_equal(b.c_str(), "");
    assert_true(b.append("", 0));
    assert_true(b.empty());
    assert_true(b.view().empty());
}

// Pieces of awkward sizes (1 byte to 100,000) through the heap block, the switch to a mapping
// and several remaps: every byte in place and a NUL after the last one, after each append.
void test_bytes_survive_every_growth(void **) {
    BodyBuffer b;
    const size_t steps[] = {1, 7, 4096, 100000, 3, 65536, 12345};
    size_t total = 0, k = 0;
    bool was_heap = false;
    while (total < 6 * BodyBuffer::kMapThreshold + 17) {
        size_t n = steps[k++ % (sizeof steps / sizeof steps[0])];
        std::string piece = pattern(total, n);
        assert_true(b.append(piece.data(), n));
        total += n;
        assert_int_equal(b.size(), total);
        assert_true(b.capacity() >= total);
        assert_int_equal(b.c_str()[total], '\0');
        if (!b.mapped()) was_heap = true;
        if (k % 5 == 0) assert_true(holds_pattern(b));
    }
    assert_true(was_heap);
    assert_true(b.mapped());
    assert_true(holds_pattern(b));
    assert_true(b.view() == std::string_view(pattern(0, total)));
}

void test_reserve_keeps_contents(void **) {
    BodyBuffer b;
    std::string head = pattern(0, 1000);
    assert_true(b.append(head.data(), head.size()));
    assert_true(b.reserve(3 * BodyBuffer::kMapThreshold));
    assert_true(b.capacity() >= 3 * BodyBuffer::kMapThreshold);
    assert_true(b.mapped());
    std::string tail = pattern(1000, 2 * BodyBuffer::kMapThreshold);
    assert_true(b.append(tail.data(), tail.size()));
    assert_true(holds_pattern(b));
    assert_true(b.reserve(10));  // already there: a no-op
    assert_true(holds_pattern(b));
}

// A size no memory can hold is refused and leaves the body as it was.
void test_impossible_sizes_are_refused(void **) {
    BodyBuffer b;
    assert_true(b.append("abc", 3));
    char byte = 'x';
    assert_false(b.append(&byte, static_cast<size_t>(-1) - 1));
    assert_false(b.append(&byte, static_cast<size_t>(-1) / 2));
    assert_false(b.reserve(static_cast<size_t>(-1)));
    assert_int_equal(b.size(), 3);
    assert_string_equal(b.c_str(), "abc");
}

// The capacity not yet written is never resident: mincore() over the whole mapping finds only
// the pages the body's bytes are on.
void test_unwritten_capacity_is_not_resident(void **) {
    BodyBuffer b;
    assert_true(b.reserve(64 * BodyBuffer::kMapThreshold));  // 16 MiB of room
    std::string piece = pattern(0, 3 * BodyBuffer::kMapThreshold + 5);
    assert_true(b.append(piece.data(), piece.size()));
    assert_true(b.mapped());
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t pages = (b.capacity() + 1 + page - 1) / page;
    std::vector<unsigned char> resident(pages);
    void *start = const_cast<char *>(b.data());
    assert_int_equal(mincore(start, pages * page, resident.data()), 0);
    size_t count = 0;
    for (unsigned char r : resident) count += r & 1;
    assert_int_equal(count, (b.size() + 1 + page - 1) / page);
}

// 41 MiB grown 64 KiB at a time, as a chunked upload arrives: the process's peak resident
// memory grows by about the body's size. Growing a std::string the same way copies it into a
// block twice as large each time and holds both during the copy: 2 x 32 MiB at the last
// growth, 1.56x the body (just past a power of two is the worst case; at one it is 1x).
void test_growth_is_not_held_twice(void **) {
    if (EDDY_UNDER_ASAN) {
        // AddressSanitizer writes shadow memory for the mapping (an eighth of its size) and
        // keeps freed blocks in quarantine: the peak then measures the sanitizer, not the
        // buffer (1.13x seen). The normal build asserts it.
        skip();
        return;
    }
    const size_t total = 41u << 20, piece_size = 64u << 10;
    std::string piece = pattern(0, piece_size);
    long before = status_kib("VmHWM");
    if (before < 0) {
        skip();  // no /proc
        return;
    }
    BodyBuffer b;
    for (size_t n = 0; n < total; n += piece_size) assert_true(b.append(piece.data(), piece_size));
    long grown_kib = status_kib("VmHWM") - before;
    print_message("peak RSS grew by %ld KiB for a %zu KiB body\n", grown_kib, total >> 10);
    assert_true(grown_kib >= static_cast<long>(total >> 10) * 9 / 10);  // it was measured
    assert_true(grown_kib <= static_cast<long>(total >> 10) * 11 / 10);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_is_not_held_twice),  // first: a clean baseline
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bytes_survive_every_growth),
        cmocka_unit_test(test_reserve_keeps_contents),
        cmocka_unit_test(test_impossible_sizes_are_refused),
        cmocka_unit_test(test_unwritten_capacity_is_not_resident),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
