// Unit tests for lib/http/chunk_scanner: the chunked body grammar of RFC 9112 §7.1, fed whole
// and one byte per call (the state survives between reads).
#include <string>
#include <string_view>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

#include "http/chunk_scanner.hpp"

using eddy::http::ChunkScanner;

namespace {

// Scans `body` in pieces of `step` bytes; returns the final result and the bytes it used.
ChunkScanner::Result scan(std::string_view body, size_t step, size_t *used_total) {
    ChunkScanner s;
    s.reset(1024);
    size_t pos = 0;
    ChunkScanner::Result r = ChunkScanner::Result::need_more;
    while (pos < body.size()) {
        size_t n = body.size() - pos < step ? body.size() - pos : step;
        size_t used = 0;
        int status = 0;
        r = s.scan(body.data() + pos, n, &used, &status);
        pos += used;
        if (r != ChunkScanner::Result::need_more) break;
    }
    *used_total = pos;
    return r;
}

void expect(std::string_view body, ChunkScanner::Result want) {
    for (size_t step : {body.size(), size_t{1}}) {
        size_t used = 0;
        ChunkScanner::Result r = scan(body, step, &used);
        if (r != want) fail_msg("%.*s (step %zu): got %d, want %d", static_cast<int>(body.size()),
                                body.data(), step, static_cast<int>(r), static_cast<int>(want));
        if (want == ChunkScanner::Result::done) assert_int_equal(used, body.size());
    }
}

void test_valid_bodies(void **) {
    expect("3\r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::done);
    expect("0003\r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::done);
    // Leading zeros do not count towards the 16 hex digits that fit in 64 bits.
    expect("00000000000000000000003\r\nabc\r\n0000000000000000000\r\n\r\n",
           ChunkScanner::Result::done);
    expect("3;a\r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::done);
    expect("3 ; a = b\r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::done);
    expect("3;a=\"b;c\\\"d\"\r\nabc\r\n0;e\r\n\r\n", ChunkScanner::Result::done);
    expect("3;a=\"b\" ;c\r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::done);
    expect("3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", ChunkScanner::Result::done);
}

void test_whitespace_only_before_separators(void **) {
    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): BWS never ends the line.
    expect("3 \r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::error);
    expect("3\t\r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::error);
    expect("3;a \r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::error);
    expect("3;a=b \r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::error);
    expect("3;a=\"b\" \r\nabc\r\n0\r\n\r\n", ChunkScanner::Result::error);
    expect("3\r\nabc\r\n0 \r\n\r\n", ChunkScanner::Result::error);
}

void test_bad_framing(void **) {
    for (std::string_view bad : {"x\r\n", "0x3\r\nabc\r\n", "+3\r\nabc\r\n", " 3\r\nabc\r\n",
                                 "3\nabc\r\n", "3\r\nabcX\r\n", "3\r\nabc\n", "3;\r\nabc\r\n",
                                 "3;a=\"b\r\nabc\r\n", "10000000000000003\r\n",
                                 "00010000000000000003\r\n",
                                 "3\r\nabc\r\n0\r\nX : 1\r\n\r\n", "3\r\nabc\r\n0\r\nX: \x01\r\n\r\n"})
        expect(bad, ChunkScanner::Result::error);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_bodies),
        cmocka_unit_test(test_whitespace_only_before_separators),
        cmocka_unit_test(test_bad_framing),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
