// Unit tests for lib/http/head_scanner: the request head grammar of RFC 9112 §2-5 that eddy
// enforces itself, and the parts it hands out (target, field names, values), fed whole and in
// every smaller piece size (the state, including a value's leading whitespace, survives reads).
#include <random>
#include <string>
#include <string_view>
#include <vector>

// The project's headers first: cmocka's macros must not reach the C++ library's headers.
#include "http/head_scanner.hpp"
#include "http/request.hpp"

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

using eddy::http::HeadScanner;
using eddy::http::HeaderField;

namespace {

struct Scanned {
    HeadScanner::Result result = HeadScanner::Result::need_more;
    int status = 0;
    size_t used = 0;
    std::string target;
    std::vector<HeaderField> fields;
};

// Scans `head` (which starts after the method: " /x HTTP/1.1\r\n...") in pieces of `step`.
Scanned scan(std::string_view head, size_t step, size_t max = 1024, size_t max_fields = SIZE_MAX) {
    Scanned out;
    HeadScanner s;
    s.reset(max, 3, &out.target, &out.fields, max_fields);
    size_t pos = 0;
    while (pos < head.size()) {
        size_t n = head.size() - pos < step ? head.size() - pos : step;
        size_t used = 0;
        out.result = s.scan(head.data() + pos, n, &used, &out.status);
        pos += used;
        if (out.result != HeadScanner::Result::need_more) break;
    }
    out.used = pos;
    return out;
}

// Every piece size from 1 to the whole head gives the same parts.
void expect_fields(std::string_view head, std::string_view target,
                   const std::vector<std::pair<std::string, std::string>> &want) {
    for (size_t step = 1; step <= head.size(); step++) {
        Scanned got = scan(head, step);
        if (got.result != HeadScanner::Result::done)
            fail_msg("step %zu: result %d status %d", step, static_cast<int>(got.result), got.status);
        assert_int_equal(got.used, head.size());
        assert_string_equal(got.target.c_str(), std::string(target).c_str());
        assert_int_equal(got.fields.size(), want.size());
        for (size_t i = 0; i < want.size(); i++) {
            assert_string_equal(got.fields[i].name.c_str(), want[i].first.c_str());
            // Leading OWS is left out by the scanner; trailing OWS is the caller's to trim.
            assert_string_equal(got.fields[i].value.c_str(), want[i].second.c_str());
        }
    }
}

void expect_error(std::string_view head, int status) {
    for (size_t step = 1; step <= head.size(); step++) {
        Scanned got = scan(head, step);
        if (got.result != HeadScanner::Result::error || got.status != status)
            fail_msg("step %zu: result %d status %d, want error %d", step,
                     static_cast<int>(got.result), got.status, status);
    }
}

void test_parts(void **) {
    expect_fields(" / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", "/", {{"Host", "127.0.0.1:8080"}});
    expect_fields(" /a?b=c HTTP/1.0\r\nA:1\r\nB: \t 2 \r\nC:\r\nD:   \r\n\r\n", "/a?b=c",
                  {{"A", "1"}, {"B", "2 "}, {"C", ""}, {"D", ""}});
    // Whitespace inside a value stays; obs-text is a value byte.
    expect_fields(" * HTTP/1.1\r\nX:  a \t b\xff\r\n\r\n", "*", {{"X", "a \t b\xff"}});
    // More than the 8 fields reserved at once.
    std::string many = " / HTTP/1.1\r\n";
    std::vector<std::pair<std::string, std::string>> want;
    for (int i = 0; i < 20; i++) {
        many += "F" + std::to_string(i) + ": value number " + std::to_string(i) + "\r\n";
        want.emplace_back("F" + std::to_string(i), "value number " + std::to_string(i));
    }
    many += "\r\n";
    expect_fields(many, "/", want);
}

void test_errors(void **) {
    expect_error("  / HTTP/1.1\r\n\r\n", 400);           // two SPs after the method
    expect_error(" / HTTP/1.1\r\n Host: x\r\n\r\n", 400);  // obs-fold
    expect_error(" / HTTP/1.1\r\nHost : x\r\n\r\n", 400);  // whitespace before the colon
    expect_error(" / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400);   // bare CR in a value
    expect_error(" / HTTP/1.1\nX: 1\r\n\r\n", 400);        // bare LF ending the request line
    expect_error(" / HTTP/1.1\r\nX: 1\nY: 2\r\n\r\n", 400);  // ... a field line
    expect_error(" / HTTP/1.1\r\nX: 1\r\n\n", 400);          // ... the empty line
    expect_error(" / HTTP/1.1\r\nX\n: 1\r\n\r\n", 400);      // ... inside a name
    expect_error(" / HTTP/1.1\r\nX: \x01\r\n\r\n", 400);   // a control character
    expect_error(" / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400);  // DEL
    expect_error(" / HTTP/x.1\r\n\r\n", 400);
    expect_error(" /\x01 HTTP/1.1\r\n\r\n", 400);
}

// Long runs are scanned eight bytes at a time: a bad byte must be found at every position of
// a word, and the bytes the word test is unsure of (HTAB, obs-text) must still be admitted.
void test_long_runs(void **) {
    std::string base(40, 'v');
    for (size_t pos = 0; pos < base.size(); pos++) {
        for (char bad : {'\x00', '\x01', '\x08', '\x0b', '\x1f', '\x7f'}) {
            std::string value = base;
            value[pos] = bad;
            expect_error(" / HTTP/1.1\r\nX: " + value + "\r\n\r\n", 400);
        }
        for (char good : {'\t', '\x80', '\xff', ' ', '~', '!'}) {
            std::string value = base;
            value[pos] = good;
            std::string want = value;
            if (pos == 0 && (good == '\t' || good == ' ')) want.erase(0, 1);  // leading OWS
            expect_fields(" / HTTP/1.1\r\nX: " + value + "\r\n\r\n", "/", {{"X", want}});
        }
        for (char bad : {'\x7f', '\x80', '\xff', '\x01', '\t'}) {
            std::string target = "/" + base;
            target[pos + 1] = bad;
            expect_error(" " + target + " HTTP/1.1\r\n\r\n", 400);
        }
        std::string target = "/" + base;
        target[pos + 1] = '~';
        expect_fields(" " + target + " HTTP/1.1\r\n\r\n", target, {});
    }
}

void test_limits(void **) {
    std::string long_value = " / HTTP/1.1\r\nX: " + std::string(100, 'v') + "\r\n\r\n";
    Scanned got = scan(long_value, long_value.size(), 64);
    assert_int_equal(static_cast<int>(got.result), static_cast<int>(HeadScanner::Result::error));
    assert_int_equal(got.status, 431);
    // Leading whitespace counts towards the limit even though it is not kept.
    std::string spaces = " / HTTP/1.1\r\nX:" + std::string(100, ' ') + "v\r\n\r\n";
    for (size_t step : {size_t{1}, size_t{7}, spaces.size()}) {
        got = scan(spaces, step, 64);
        assert_int_equal(got.status, 431);
    }
    std::string long_target = " /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n";
    got = scan(long_target, long_target.size(), 64);
    assert_int_equal(got.status, 414);
    // Field lines: three fit a limit of three, a fourth is 431 — whole (the straight walk) and
    // in every piece size (the state machine).
    std::string three = " / HTTP/1.1\r\nA: 1\r\nB:\r\nC: 3\r\n\r\n";
    std::string four = " / HTTP/1.1\r\nA: 1\r\nB:\r\nC: 3\r\nD: 4\r\n\r\n";
    for (size_t step = 1; step <= four.size(); step++) {
        got = scan(three, step, 1024, 3);
        assert_int_equal(static_cast<int>(got.result), static_cast<int>(HeadScanner::Result::done));
        assert_int_equal(got.fields.size(), 3);
        got = scan(four, step, 1024, 3);
        assert_int_equal(static_cast<int>(got.result), static_cast<int>(HeadScanner::Result::error));
        assert_int_equal(got.status, 431);
    }
}

// Scans `data` whole, then one byte per call, with a given limit; every outcome must agree.
// Whole, a plain head is taken by the scanner's straight walk (scan_whole); byte by byte it
// goes through the state machine, so this compares the two on every input.
struct Full {
    Scanned parts;
    int major = -1, minor = -1;
};
Full scan_full(std::string_view data, size_t step, size_t max) {
    Full out;
    HeadScanner s;
    s.reset(max, 3, &out.parts.target, &out.parts.fields);
    size_t pos = 0;
    while (pos < data.size()) {
        size_t n = data.size() - pos < step ? data.size() - pos : step;
        size_t used = 0;
        out.parts.result = s.scan(data.data() + pos, n, &used, &out.parts.status);
        pos += used;
        if (out.parts.result != HeadScanner::Result::need_more) break;
    }
    out.parts.used = pos;
    if (out.parts.result == HeadScanner::Result::done) {
        out.major = s.version_major();
        out.minor = s.version_minor();
    }
    return out;
}

void test_whole_walk_agrees_with_state_machine(void **) {
    std::mt19937 rng(20261128);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    // Pieces of heads, mostly plain, some of them each way wrong.
    const char *const targets[] = {"/", "/plaintext", "/a/b?c=d&e=f", "*", "/\x7f", "/x\x80y", ""};
    const char *const versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.x", "HTTP/11",
                                    "http/1.1"};
    const char *const names[] = {"Host", "Accept", "X-Long-Header-Name", "Content-Length",
                                 "Bad Name", "", "A"};
    const char *const values[] = {"127.0.0.1:8080", "", "  spaced  ", "\ttab", "text/html, */*",
                                  "a\rb", "ctl\x01", "obs\xff-text", "del\x7f",
                                  "a value long enough to take several words of eight bytes"};
    const char *const ends[] = {"\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n"};
    int done_count = 0, error_count = 0;
    for (int round = 0; round < 20000; round++) {
        std::string head = " ";
        head += targets[pick(5) ? pick(4) : pick(std::size(targets))];
        head += pick(20) ? " " : "  ";
        head += versions[pick(10) ? pick(2) : pick(std::size(versions))];
        head += ends[pick(8) ? 0 : pick(std::size(ends))];
        size_t fields = pick(6);
        for (size_t f = 0; f < fields; f++) {
            if (pick(30) == 0) head += " ";  // obs-fold
            head += names[pick(8) ? pick(4) : pick(std::size(names))];
            head += pick(30) ? ":" : " :";
            if (pick(2)) head += " ";
            head += values[pick(3) ? pick(5) : pick(std::size(values))];
            head += ends[pick(10) ? 0 : pick(std::size(ends))];
        }
        head += ends[pick(10) ? 0 : pick(std::size(ends))];
        if (pick(2)) head += "body bytes after the head";
        if (pick(4) == 0) head.resize(pick(head.size() + 1));  // cut short
        size_t max = pick(4) ? 1024 : 8 + pick(80);
        Full whole = scan_full(head, head.size() ? head.size() : 1, max);
        Full bytes = scan_full(head, 1, max);
        // (The parts are compared when the head is done: after an error or mid-way they are
        // whatever the pieces happened to deliver, and nobody reads them.)
        bool done = whole.parts.result == HeadScanner::Result::done;
        done_count += done;
        error_count += whole.parts.result == HeadScanner::Result::error;
        if (whole.parts.result != bytes.parts.result || whole.parts.status != bytes.parts.status ||
            whole.parts.used != bytes.parts.used ||
            (done && (whole.parts.target != bytes.parts.target || whole.major != bytes.major ||
                      whole.minor != bytes.minor ||
                      whole.parts.fields.size() != bytes.parts.fields.size())))
            fail_msg("round %d: whole and byte-wise scans differ on \"%s\" (max %zu): "
                     "result %d/%d status %d/%d used %zu/%zu fields %zu/%zu", round, head.c_str(),
                     max, static_cast<int>(whole.parts.result),
                     static_cast<int>(bytes.parts.result),
                     whole.parts.status, bytes.parts.status, whole.parts.used, bytes.parts.used,
                     whole.parts.fields.size(), bytes.parts.fields.size());
        for (size_t i = 0; done && i < whole.parts.fields.size(); i++) {
            assert_true(whole.parts.fields[i].name == bytes.parts.fields[i].name);
            assert_true(whole.parts.fields[i].value == bytes.parts.fields[i].value);
        }
    }
    // Both kinds of outcome were compared often (the mix above gives about a third done).
    assert_true(done_count > 3000);
    assert_true(error_count > 3000);
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_runs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_whole_walk_agrees_with_state_machine),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
