// Unit tests for lib/web/cookies: Cookie header parsing, Set-Cookie formatting, Tornado-format
// signed values (v2 written, v1/v2 read), XSRF tokens and reverse_url escaping. Expected strings
// for signed values were produced by Tornado 6.2's create_signed_value (fixed clock); the
// two-way checks against a live Tornado are in tests/integration/test_tornado_cookies.py.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

#include "web/cookies.hpp"

using namespace eddy::web;
using namespace std::string_view_literals;

namespace {

constexpr double kNow = 1700000000.0;
constexpr int64_t kTs = 1700000000;

// ---- Cookie header ---------------------------------------------------------------------------

void test_parse_basic(void **) {
    CookieList c;
    parse_cookie_header("a=1; b=two ;c = 3;d=", c);
    assert_int_equal(c.size(), 4);
    assert_string_equal(c[0].first.c_str(), "a");
    assert_string_equal(c[0].second.c_str(), "1");
    assert_string_equal(c[1].second.c_str(), "two");
    assert_string_equal(c[2].first.c_str(), "c");
    assert_string_equal(c[2].second.c_str(), "3");
    assert_string_equal(c[3].first.c_str(), "d");
    assert_string_equal(c[3].second.c_str(), "");
    // '=' inside the value stays (split at the first one); base64 padding survives.
    c.clear();
    parse_cookie_header("sig=2|1:0|4:AP8=|x; q=a=b", c);
    assert_int_equal(c.size(), 2);
    assert_string_equal(c[0].second.c_str(), "2|1:0|4:AP8=|x");
    assert_string_equal(c[1].second.c_str(), "a=b");
    // Empty and whitespace-only headers.
    c.clear();
    parse_cookie_header("", c);
    parse_cookie_header(" ; ;; \t", c);
    assert_int_equal(c.size(), 0);
}

void test_parse_malformed_and_quotes(void **) {
    CookieList c;
    // "g" (no '='), "=h" (empty name), "b c" (space in name) are skipped; ':' is allowed.
    parse_cookie_header("g; =h; b c=5; d:e=6; f=\"x\\\"y\\054\"; j=\"\"; k=\"open; l=\"", c);
    assert_int_equal(c.size(), 5);
    assert_string_equal(c[0].first.c_str(), "d:e");
    assert_string_equal(c[1].first.c_str(), "f");
    assert_string_equal(c[1].second.c_str(), "x\"y,");  // \" and octal \054
    assert_string_equal(c[2].first.c_str(), "j");
    assert_string_equal(c[2].second.c_str(), "");
    assert_string_equal(c[3].second.c_str(), "\"open");  // not wrapped: kept as is
    assert_string_equal(c[4].second.c_str(), "\"");      // a lone quote is too short to unwrap
    // Escapes: \400 is not octal (first digit 0-3), a trailing backslash stays.
    c.clear();
    parse_cookie_header("a=\"\\400\\\\\\q\\\"", c);
    assert_int_equal(c.size(), 1);
    assert_string_equal(c[0].second.c_str(), "400\\q\\");
    // Octal escapes give raw bytes (Latin-1 code points in Python).
    c.clear();
    parse_cookie_header("a=\"\\377\\000z\"", c);
    assert_int_equal(c[0].second.size(), 3);
    assert_memory_equal(c[0].second.data(), "\xff\0z", 3);
}

void test_find_cookie(void **) {
    CookieList c;
    parse_cookie_header("a=1; b=2; a=3; path=4", c);
    const std::string *v = find_cookie(c, "a");
    assert_non_null(v);
    assert_string_equal(v->c_str(), "1");  // first wins
    assert_string_equal(find_cookie(c, "path")->c_str(), "4");
    assert_null(find_cookie(c, "A"));       // case-sensitive
    assert_null(find_cookie(c, "missing"));
}

// ---- Set-Cookie ------------------------------------------------------------------------------

std::string set_cookie(std::string_view name, std::string_view value,
                       const CookieAttributes &a = CookieAttributes()) {
    std::string out = "unchanged";
    if (!format_set_cookie(name, value, a, out)) return "FAIL(" + out + ")";
    return out;
}

void test_set_cookie_format(void **) {
    assert_string_equal(set_cookie("a", "b").c_str(), "a=b; Path=/");
    CookieAttributes a;
    a.domain = "example.com";
    a.path = "/app";
    a.expires = 1700000000.9;  // floored
    a.max_age = 3600;
    a.secure = true;
    a.httponly = true;
    a.samesite = "lax";
    assert_string_equal(set_cookie("sid", "2|1:0|x", a).c_str(),
                        "sid=2|1:0|x; Domain=example.com; Expires=Tue, 14 Nov 2023 22:13:20 GMT; "
                        "Max-Age=3600; Path=/app; Secure; HttpOnly; SameSite=Lax");
    CookieAttributes b;
    b.path = "";
    b.max_age = 0;
    b.samesite = "NONE";
    b.secure = true;
    assert_string_equal(set_cookie("x", "", b).c_str(), "x=; Max-Age=0; Secure; SameSite=None");
    CookieAttributes c;
    c.samesite = "Strict";
    c.expires = -5;  // in the past: clamped to the epoch
    assert_string_equal(set_cookie("x", "\"quoted\"", c).c_str(),
                        "x=\"quoted\"; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; "
                        "SameSite=Strict");
    CookieAttributes d;
    d.expires = 1e300;
    assert_string_equal(set_cookie("x", "y", d).c_str(),
                        "x=y; Expires=Fri, 31 Dec 9999 23:59:59 GMT; Path=/");
}

void test_set_cookie_refusals(void **) {
    const char *bad_names[] = {"", "a b", "a;b", "a=b", "a\tb", "a,b", "a\"", "a:b", "\xc3\xa9"};
    for (const char *n : bad_names) assert_string_equal(set_cookie(n, "v").c_str(), "FAIL(unchanged)");
    const std::string_view bad_values[] = {"a b", "a;b", "a,b", "a\"b", "\"", "\"a", "a\\b",
                                           "\"a\"b\"", "a\x7f", "a\r\nSet-Cookie: x=y",
                                           "\xc3\xa9", "a\tb", std::string_view("a\0b", 3)};
    for (auto v : bad_values) assert_string_equal(set_cookie("n", v).c_str(), "FAIL(unchanged)");
    // Every printable cookie-octet is fine.
    std::string all;
    for (int ch = 0x21; ch < 0x7f; ch++)
        if (ch != '"' && ch != ',' && ch != ';' && ch != '\\') all.push_back(char(ch));
    assert_string_equal(set_cookie("n", all).c_str(), ("n=" + all + "; Path=/").c_str());
    assert_string_equal(set_cookie("n", "\"\"").c_str(), "n=\"\"; Path=/");

    CookieAttributes a;
    a.domain = "x.com; Secure";
    assert_string_equal(set_cookie("n", "v", a).c_str(), "FAIL(unchanged)");
    a = CookieAttributes();
    a.path = "/a\r\nX: y";
    assert_string_equal(set_cookie("n", "v", a).c_str(), "FAIL(unchanged)");
    a = CookieAttributes();
    a.samesite = "Laxx";
    assert_string_equal(set_cookie("n", "v", a).c_str(), "FAIL(unchanged)");
    a = CookieAttributes();
    a.expires = std::nan("");
    assert_string_equal(set_cookie("n", "v", a).c_str(), "FAIL(unchanged)");
}

// ---- Signed values ---------------------------------------------------------------------------

void test_signed_known_vectors(void **) {
    // From tornado.web.create_signed_value(..., clock=lambda: 1700000000).
    assert_string_equal(
        create_signed_value("secret", "user", "hello world", kTs).c_str(),
        "2|1:0|10:1700000000|4:user|16:aGVsbG8gd29ybGQ=|"
        "72979dd3b3a7eca0249393cce4c76c1b53b72e34f56f4cea2bc3238e14f54cc4");
    assert_string_equal(create_signed_value("", "n", "\x00\xff"sv, kTs).c_str(),
                        "2|1:0|10:1700000000|1:n|4:AP8=|"
                        "473442d83af63239881a8a0738ab17e897350cb8e76ae0ed36e743048160fe6f");
    assert_string_equal(create_signed_value("secret", "user", "", kTs).c_str(),
                        "2|1:0|10:1700000000|4:user|0:|"
                        "c3df5b41ed0adc24093d03374a8c5cff11d0f83daf050c24e206e5c370550e1e");
    std::string out;
    assert_true(decode_signed_value(
        "secret", "user",
        "2|1:0|10:1700000000|4:user|16:aGVsbG8gd29ybGQ=|"
        "72979dd3b3a7eca0249393cce4c76c1b53b72e34f56f4cea2bc3238e14f54cc4",
        31, kNow, out));
    assert_string_equal(out.c_str(), "hello world");
    // Version 1 (HMAC-SHA1), also from Tornado.
    out.clear();
    assert_true(decode_signed_value(
        "secret", "user", "aGVsbG8gd29ybGQ=|1700000000|ed70e50f7af35b59fc6cd89889f26259f50a5e69",
        31, kNow, out));
    assert_string_equal(out.c_str(), "hello world");
    assert_false(decode_signed_value(
        "secret", "user", "aGVsbG8gd29ybGQ=|1700000000|ed70e50f7af35b59fc6cd89889f26259f50a5e69",
        31, kNow, out, /*min_version=*/2));
}

void test_signed_roundtrip_and_expiry(void **) {
    std::string binary("\0\x01|:\xff\xfe", 6);
    for (size_t len = 0; len < 40; len++) {
        std::string v;
        for (size_t i = 0; i < len; i++) v.push_back(char(i * 37 + 11));
        std::string s = create_signed_value("k", "name", v, kTs);
        std::string out = "junk";
        assert_true(decode_signed_value("k", "name", s, 31, kNow, out));
        assert_true(out == v);
    }
    std::string s = create_signed_value("k", "n", binary, kTs);
    std::string out;
    assert_true(decode_signed_value("k", "n", s, 31, kNow, out));
    assert_true(out == binary);
    // Expiry: timestamp < now - max_age_days * 86400 fails; the boundary itself passes.
    assert_true(decode_signed_value("k", "n", s, 1, kNow + 86400, out));
    assert_false(decode_signed_value("k", "n", s, 1, kNow + 86400 + 1, out));
    assert_true(decode_signed_value("k", "n", s, 0.5, kNow + 43200, out));
    assert_false(decode_signed_value("k", "n", s, 0.5, kNow + 43201, out));
    // Version 2 has no future check (Tornado's behaviour).
    std::string future = create_signed_value("k", "n", "v", kTs + 365 * 86400);
    assert_true(decode_signed_value("k", "n", future, 31, kNow, out));
    assert_string_equal(out.c_str(), "v");
}

void test_signed_tampering(void **) {
    std::string s = create_signed_value("k", "n", "value", kTs);
    std::string out = "keep";
    assert_false(decode_signed_value("k2", "n", s, 31, kNow, out));  // wrong secret
    assert_false(decode_signed_value("k", "m", s, 31, kNow, out));   // wrong name
    assert_false(decode_signed_value("k", "n", "", 31, kNow, out));
    assert_string_equal(out.c_str(), "keep");  // untouched on failure
    // Flipping any single byte breaks it.
    for (size_t i = 0; i < s.size(); i++) {
        std::string t = s;
        t[i] = static_cast<char>(t[i] ^ 1);
        assert_false(decode_signed_value("k", "n", t, 31, kNow, out));
    }
    // Truncations and extensions.
    for (size_t n = 0; n < s.size(); n++)
        assert_false(decode_signed_value("k", "n", s.substr(0, n), 31, kNow, out));
    assert_false(decode_signed_value("k", "n", s + "0", 31, kNow, out));
    assert_false(decode_signed_value("k", "n", s + "|", 31, kNow, out));
    // Upper-case hex signature is refused (Tornado compares hex strings byte for byte).
    std::string upper = s;
    for (size_t i = upper.rfind('|') + 1; i < upper.size(); i++)
        upper[i] = static_cast<char>(toupper(static_cast<unsigned char>(upper[i])));
    if (upper != s) assert_false(decode_signed_value("k", "n", upper, 31, kNow, out));
    // Unknown versions and garbage.
    const char *garbage[] = {"3|1:0|x", "2|", "2|1:0", "2|x:0|", "2|1:0|10:1700000000|1:n|",
                             "|||", "a|b|c", "999|", "2|99999999999:0|"};
    for (const char *g : garbage) assert_false(decode_signed_value("k", "n", g, 31, kNow, out));
    assert_string_equal(out.c_str(), "keep");
}

// A v1 value built by hand: b64value|timestamp|hex HMAC-SHA1(name + b64value + timestamp).
std::string make_v1(std::string_view secret, std::string_view name, std::string_view b64,
                    std::string_view ts) {
    std::string data = std::string(name) + std::string(b64) + std::string(ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha1(), secret.data(), int(secret.size()),
         reinterpret_cast<const unsigned char *>(data.data()), data.size(), mac, &len);
    std::string s = std::string(b64) + "|" + std::string(ts) + "|";
    for (unsigned i = 0; i < len; i++) {
        char h[3];
        snprintf(h, sizeof h, "%02x", mac[i]);
        s += h;
    }
    return s;
}

void test_signed_v1(void **) {
    std::string out;
    assert_true(decode_signed_value("k", "n", make_v1("k", "n", "dmFs", "1700000000"), 31, kNow, out));
    assert_string_equal(out.c_str(), "val");
    // Future by more than 31 days, zero-padded timestamp, bad base64, expired.
    assert_false(decode_signed_value("k", "n", make_v1("k", "n", "dmFs", "1702678401"), 31, kNow, out));
    assert_true(decode_signed_value("k", "n", make_v1("k", "n", "dmFs", "1702678400"), 31, kNow, out));
    assert_false(decode_signed_value("k", "n", make_v1("k", "n", "dmFs", "01700000000"), 31, kNow, out));
    assert_false(decode_signed_value("k", "n", make_v1("k", "n", "dmF", "1700000000"), 31, kNow, out));
    assert_false(decode_signed_value("k", "n", make_v1("k", "n", "dmFs", "1600000000"), 31, kNow, out));
    assert_false(decode_signed_value("k", "n", make_v1("k", "n", "dmFs", "17e8"), 31, kNow, out));
    // The name is part of the signature; a different secret fails.
    assert_false(decode_signed_value("k", "m", make_v1("k", "n", "dmFs", "1700000000"), 31, kNow, out));
    assert_false(decode_signed_value("j", "n", make_v1("k", "n", "dmFs", "1700000000"), 31, kNow, out));
    // Four-digit "versions" are v1 base64 ("1234|..." with the v1 layout).
    assert_true(decode_signed_value("k", "n", make_v1("k", "n", "1234", "1700000000"), 31, kNow, out));
    assert_int_equal(out.size(), 3);
}

// ---- XSRF ------------------------------------------------------------------------------------

void test_xsrf_encode_decode(void **) {
    std::string raw;
    assert_true(xsrf_new_raw_token(raw));
    assert_int_equal(raw.size(), kXsrfTokenBytes);
    std::set<std::string> seen;
    for (int i = 0; i < 20; i++) {
        std::string tok;
        assert_true(xsrf_encode_token(raw, kTs, tok));
        // "2|" 8 hex "|" 32 hex "|" timestamp
        assert_int_equal(tok.size(), 2 + 8 + 1 + 32 + 1 + 10);
        assert_memory_equal(tok.data(), "2|", 2);
        assert_true(tok.substr(tok.size() - 11) == "|1700000000");
        seen.insert(tok);
        std::string back;
        int64_t ts = 0;
        assert_true(xsrf_decode_token(tok, back, &ts));
        assert_true(back == raw);
        assert_int_equal(ts, kTs);
    }
    assert_true(seen.size() >= 19);  // a fresh mask each call (4 random bytes)
    std::string other;
    assert_true(xsrf_new_raw_token(other));
    assert_true(other != raw);
}

void test_xsrf_known_and_v1(void **) {
    // mask 01020304, token "abcd" (61626364) masked = 60606060.
    std::string raw;
    int64_t ts = -1;
    assert_true(xsrf_decode_token("2|01020304|60606060|123", raw, &ts));
    assert_string_equal(raw.c_str(), "abcd");
    assert_int_equal(ts, 123);
    assert_true(xsrf_decode_token("2|01020304|60606060|-1", raw, &ts));  // int() takes a sign
    // v1: hex-decoded when possible, else the string itself.
    assert_true(xsrf_decode_token("61626364", raw, &ts));
    assert_string_equal(raw.c_str(), "abcd");
    assert_int_equal(ts, 0);
    assert_true(xsrf_decode_token("6162636", raw));
    assert_string_equal(raw.c_str(), "6162636");
    assert_true(xsrf_decode_token("0|x", raw));  // a leading zero is no version
    assert_string_equal(raw.c_str(), "0|x");
    // Malformed v2 and unknown versions.
    const char *bad[] = {"2|01020304|60606060",  "2|01020304|60606060|1|2", "2|010203|60606060|1",
                         "2|0102030405|6060|1",   "2|0102030g|6060|1",        "2|01020304|606|1",
                         "2|01020304|6060|x",     "2|01020304|6060|",         "3|01020304|6060|1",
                         "1|61626364",            "1000|01020304|6060|1",     "22|01020304|6060|1"};
    for (const char *b : bad) assert_false(xsrf_decode_token(b, raw));
}

void test_check_xsrf(void **) {
    std::string raw, cookie, form1, form2;
    assert_true(xsrf_new_raw_token(raw));
    assert_true(xsrf_encode_token(raw, kTs, cookie));
    assert_true(xsrf_encode_token(raw, kTs + 5, form1));
    assert_true(xsrf_encode_token(raw, kTs, form2));
    assert_true(check_xsrf(form1, cookie));
    assert_true(check_xsrf(form2, cookie));
    assert_true(check_xsrf(cookie, cookie));
    // v1 cookie (plain hex) against a v2 form token and the other way round.
    std::string hex;
    for (unsigned char c : raw) {
        char h[3];
        snprintf(h, sizeof h, "%02x", c);
        hex += h;
    }
    assert_true(check_xsrf(form1, hex));
    assert_true(check_xsrf(hex, cookie));
    // Different tokens, empties, malformed.
    std::string raw2, cookie2;
    assert_true(xsrf_new_raw_token(raw2));
    assert_true(xsrf_encode_token(raw2, kTs, cookie2));
    assert_false(check_xsrf(form1, cookie2));
    assert_false(check_xsrf("", cookie));
    assert_false(check_xsrf(form1, ""));
    assert_false(check_xsrf("2|01020304||1", "2|05060708||1"));  // both decode to empty
    assert_false(check_xsrf("3|x", "3|x"));
    assert_false(check_xsrf(form1.substr(0, form1.size() - 1) + "x", cookie));
    // Tampering with the masked token changes the raw token.
    std::string t = form1;
    t[12] = t[12] == '0' ? '1' : '0';
    assert_false(check_xsrf(t, cookie));
    // Non-hex v1 strings compare as themselves (as in Tornado).
    assert_true(check_xsrf("plain-token", "plain-token"));
    assert_false(check_xsrf("plain-token", "plain-tokem"));
}

// ---- reverse_url -----------------------------------------------------------------------------

void test_percent_encode(void **) {
    // Matches tornado.escape.url_escape(s, plus=False).
    assert_string_equal(percent_encode_path_segment("a/b c?d=e&f%\xc3\xa9~").c_str(),
                        "a/b%20c%3Fd%3De%26f%25%C3%A9~");
    assert_string_equal(percent_encode_path_segment("a/b", true).c_str(), "a%2Fb");
    assert_string_equal(percent_encode_path_segment("AZaz09-._~").c_str(), "AZaz09-._~");
    assert_string_equal(percent_encode_path_segment("!*'();:@+$,#[]").c_str(),
                        "%21%2A%27%28%29%3B%3A%40%2B%24%2C%23%5B%5D");
    assert_string_equal(percent_encode_path_segment("").c_str(), "");
    std::string nul = percent_encode_path_segment(std::string_view("\0\xff", 2));
    assert_string_equal(nul.c_str(), "%00%FF");
}

// ---- robustness ------------------------------------------------------------------------------

void test_random_inputs(void **) {
    std::mt19937 rng(12345);
    const char alphabet[] = "0123456789|:=;\"\\ abcdefABCDEF\t\n\x01\xff";
    std::string out;
    CookieList list;
    for (int i = 0; i < 20000; i++) {
        std::string s;
        size_t len = rng() % 40;
        for (size_t j = 0; j < len; j++) s.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
        if (i % 3 == 0) s = "2|" + s;
        list.clear();
        parse_cookie_header(s, list);
        (void)decode_signed_value("k", "n", s, 31, kNow, out);
        std::string raw;
        (void)xsrf_decode_token(s, raw);
        (void)check_xsrf(s, s);
        std::string sc;
        (void)format_set_cookie("n", s, CookieAttributes(), sc);
        (void)percent_encode_path_segment(s);
    }
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_malformed_and_quotes),
        cmocka_unit_test(test_find_cookie),
        cmocka_unit_test(test_set_cookie_format),
        cmocka_unit_test(test_set_cookie_refusals),
        cmocka_unit_test(test_signed_known_vectors),
        cmocka_unit_test(test_signed_roundtrip_and_expiry),
        cmocka_unit_test(test_signed_tampering),
        cmocka_unit_test(test_signed_v1),
        cmocka_unit_test(test_xsrf_encode_decode),
        cmocka_unit_test(test_xsrf_known_and_v1),
        cmocka_unit_test(test_check_xsrf),
        cmocka_unit_test(test_percent_encode),
        cmocka_unit_test(test_random_inputs),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
