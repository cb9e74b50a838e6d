// base64 (lib/util/base64.cpp): RFC 4648's vectors both ways, the strict decoder's refusals,
// and every byte value through a round trip.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}

#include <string>

#include "util/base64.hpp"

using eddy::base64_append;
using eddy::base64_decode;

namespace {

// RFC 4648 §10.
const char *const kVectors[][2] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

std::string encoded(std::string_view in) {
    std::string out;
    base64_append(out, in);
    return out;
}

}  // namespace

static void test_rfc4648_vectors(void **) {
    for (const auto &v : kVectors) {
        assert_string_equal(encoded(v[0]).c_str(), v[1]);
        std::string back = "stale";
        assert_true(base64_decode(v[1], back));
        assert_string_equal(back.c_str(), v[0]);
    }
    // Appends: what was there stays (the Authorization value is built this way).
    std::string s = "Basic ";
    base64_append(s, "Aladdin:open sesame");  // RFC 7617 §2's example
    assert_string_equal(s.c_str(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

static void test_every_byte_round_trips(void **) {
    std::string bytes;
    for (int i = 0; i < 256; i++) bytes.push_back(static_cast<char>(i));
    for (size_t len = 0; len <= bytes.size(); len += 37) {
        std::string in = bytes.substr(bytes.size() - len), out;
        std::string text = encoded(in);
        assert_int_equal(text.size(), (len + 2) / 3 * 4);
        assert_true(base64_decode(text, out));
        assert_true(out == in);
    }
}

static void test_strict_decoding_refuses(void **) {
    const char *const bad[] = {
        "Zg",        // no padding
        "Zg=",       // length not a multiple of 4
        "Z===",      // three pads
        "Zg==Zg==",  // padding inside
        "Zm9v\n",    // line break
        " Zm9v",     // leading space (EVP_DecodeBlock would trim it)
        "Zm9-",      // base64url
        "Zm9_",      // base64url
        "Zm\x80v",   // not ASCII
        "=Zm9",      // pad first
    };
    for (const char *b : bad) {
        std::string out = "stale";
        assert_false(base64_decode(b, out));
        assert_true(out.empty());
    }
    std::string out;
    assert_false(base64_decode(std::string_view("Zm\0v", 4), out));  // NUL inside
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_every_byte_round_trips),
        cmocka_unit_test(test_strict_decoding_refuses),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
