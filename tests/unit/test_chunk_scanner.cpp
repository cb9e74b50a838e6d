// Unit tests for lib/http/chunk_scanner: the chunked body grammar of RFC 9112 §7.1 and the
// data it decodes, fed whole and one byte per call (the state survives between reads).
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

bool collect(void *ctx, const char *data, size_t len) {
    static_cast<std::string *>(ctx)->append(data, len);
    return true;
}

// Scans `body` in pieces of `step` bytes; returns the final result and the bytes it used, and
// appends the decoded data to `decoded` (when given).
ChunkScanner::Result scan(std::string_view body, size_t step, size_t *used_total,
                          std::string *decoded = nullptr, size_t max_line = 1024) {
    ChunkScanner s;
    s.reset(max_line);
    size_t pos = 0;
    ChunkScanner::Result r = ChunkScanner::Result::need_more;
    while (pos < body.size()) {
        size_t n = body.size() - pos < step ? body.size() - pos : step;
        size_t used = 0;
        int status = 0;
        r = s.scan(body.data() + pos, n, &used, &status, decoded ? collect : nullptr, decoded);
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

void expect_data(std::string_view body, std::string_view want) {
    for (size_t step : {body.size(), size_t{1}, size_t{5}}) {
        size_t used = 0;
        std::string decoded;
        assert_int_equal(scan(body, step, &used, &decoded), ChunkScanner::Result::done);
        assert_int_equal(used, body.size());
        assert_true(decoded == want);
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
    // BWS is SP or HTAB (RFC 9110 §5.6.3), before ';' as anywhere else in chunk-ext.
    expect("3\t;a\r\nabc\r\n0\t;b\t=\tc\r\n\r\n", ChunkScanner::Result::done);
    // Trailer fields are not acted on, so a Content-Length there is just a field line.
    expect("3\r\nabc\r\n0\r\nContent-Length: abc\r\nContent-Length: 9\r\n\r\n",
           ChunkScanner::Result::done);
}

void test_decoded_data(void **) {
    expect_data("3\r\nabc\r\n0\r\n\r\n", "abc");
    expect_data("3;x=\"a b\"\r\nabc\r\nA\r\n0123456789\r\n1\r\n\r\r\n0\r\nT: v\r\n\r\n",
                "abc0123456789\r");
    expect_data("0\r\n\r\n", "");
}

bool take_one_piece(void *ctx, const char *data, size_t len) {
    static_cast<std::string *>(ctx)->append(data, len);
    return false;  // stop after each piece
}

void test_stop_after_a_piece(void **) {
    // The consumer pauses after each piece: the scan stops just past it, and the next call
    // carries on from there.
    std::string_view body = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    ChunkScanner s;
    s.reset(1024);
    std::string got;
    size_t pos = 0, calls = 0;
    ChunkScanner::Result r = ChunkScanner::Result::need_more;
    while (r == ChunkScanner::Result::need_more && calls++ < 10) {
        size_t used = 0;
        int status = 0;
        r = s.scan(body.data() + pos, body.size() - pos, &used, &status, take_one_piece, &got);
        pos += used;
        if (got == "abc") assert_int_equal(pos, 6);  // "3\r\nabc"
    }
    assert_int_equal(r, ChunkScanner::Result::done);
    assert_int_equal(pos, body.size());
    assert_string_equal(got.c_str(), "abcde");
}

void test_size_line_is_bounded(void **) {
    size_t used = 0;
    std::string ext(100, 'a');
    std::string body = "3;" + ext + "\r\nabc\r\n0\r\n\r\n";
    assert_int_equal(scan(body, body.size(), &used, nullptr, 64), ChunkScanner::Result::error);
    assert_int_equal(scan(body, 1, &used, nullptr, 64), ChunkScanner::Result::error);
    assert_int_equal(scan(body, body.size(), &used, nullptr, 200), ChunkScanner::Result::done);
}

void test_trailer_section_is_bounded(void **) {
    // Every byte of the trailer section counts against the limit, line ends included (64
    // bytes here: fifteen "t:\r\n" lines and the final CR fit; sixteen do not).
    size_t used = 0;
    for (int lines : {15, 16}) {
        std::string body = "3\r\nabc\r\n0\r\n";
        for (int i = 0; i < lines; i++) body += "t:\r\n";
        body += "\r\n";
        ChunkScanner::Result want =
            lines == 15 ? ChunkScanner::Result::done : ChunkScanner::Result::error;
        assert_int_equal(scan(body, body.size(), &used, nullptr, 64), want);
        assert_int_equal(scan(body, 1, &used, nullptr, 64), want);
    }
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
        cmocka_unit_test(test_decoded_data),
        cmocka_unit_test(test_stop_after_a_piece),
        cmocka_unit_test(test_size_line_is_bounded),
        cmocka_unit_test(test_trailer_section_is_bounded),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
