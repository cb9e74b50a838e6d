// Unit tests for lib/http/httputil: grammar, Host, URL decoding, forms, media types,
// multipart, dates, reason phrases, gzip and JSON escaping — including hostile inputs.
#include <zlib.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

// Before cmocka.h: its fail() macro clashes with std::basic_ios::fail(), which the standard
// headers these pull in declare (<chrono>, included first, used to hide that).
#include "http/hex.hpp"
#include "http/httputil.hpp"
#include "util/copy_small.hpp"

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

using namespace eddy::http;
using namespace std::string_view_literals;

namespace {

// ---- small helpers of the response path ------------------------------------------------------

// copy_small must equal memcpy for every length and alignment, and touch nothing around dst.
void test_copy_small(void **) {
    std::mt19937 rng(7);
    char src[128], dst[160], want[160];
    for (char &c : src) c = static_cast<char>(rng());
    for (size_t n = 0; n <= 80; n++) {
        for (size_t so = 0; so < 8; so++) {
            for (size_t dof = 0; dof < 8; dof++) {
                memset(dst, 0x5a, sizeof dst);
                memset(want, 0x5a, sizeof want);
                memcpy(want + 16 + dof, src + so, n);
                eddy::copy_small(dst + 16 + dof, src + so, n);
                assert_memory_equal(dst, want, sizeof dst);
            }
        }
    }
}

// hex16 (SSE2 or word-at-a-time) must print what printf prints.
void test_hex16(void **) {
    std::mt19937_64 rng(11);
    std::vector<uint64_t> values = {0, 1, 9, 10, 15, 16, 0xffffffffffffffffull, 0x8000000000000000ull,
                                    0x0123456789abcdefull, 0xfedcba9876543210ull, 0xa0a0a0a0a0a0a0a0ull};
    for (int i = 0; i < 100000; i++) values.push_back(rng());
    for (uint64_t v : values) {
        char got[17] = {0}, want[17];
        hex16(v, got);
        snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
        assert_string_equal(got, want);
    }
}

void test_equals_literal(void **) {
    assert_true(equals_literal("GET", "GET"));
    assert_false(equals_literal("GET ", "GET"));
    assert_false(equals_literal("GE", "GET"));
    assert_false(equals_literal("get", "GET"));
    assert_true(equals_literal("", ""));
    assert_false(equals_literal(std::string_view("HEAD\0", 5), "HEAD"));
    assert_true(equals_literal(std::string("OPTIONS"), "OPTIONS"));
}

// iequals and same_bytes compare words of 4 or 8 bytes (overlapping at the end) before any
// letter: against a byte-by-byte reference, for every length up to 40, a difference (or a case
// difference, or a non-letter that differs by 0x20) at every position.
void test_word_comparisons(void **) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    for (size_t n = 0; n <= 40; n++) {
        std::string base;
        for (size_t i = 0; i < n; i++) base += static_cast<char>('a' + i % 26);
        assert_true(iequals(base, base));
        assert_true(same_bytes(base.data(), base.data(), n));
        for (size_t pos = 0; pos < n; pos++) {
            const char variants[] = {'A', '@', '`', '[', '{', '\xc1', '\xe1', 'z', '\0'};
            for (char v : variants) {
                std::string other = base;
                other[pos] = static_cast<char>(v == 'A' ? base[pos] - 32 : v);  // 'A': upper case
                bool same_case_insensitive = true;
                for (size_t i = 0; i < n; i++)
                    if (lower(base[i]) != lower(other[i])) same_case_insensitive = false;
                assert_int_equal(iequals(base, other), same_case_insensitive);
                assert_int_equal(iequals(other, base), same_case_insensitive);
                assert_int_equal(same_bytes(base.data(), other.data(), n), base == other);
            }
        }
        if (n > 0) assert_false(iequals(base, base.substr(1)));
    }
}

// is_safe_field_value checks eight bytes at a time: every byte value at every position of
// values of 0-24 bytes, against the rule (no control character but HTAB, no DEL).
void test_safe_field_value_words(void **) {
    for (size_t n = 1; n <= 24; n++) {
        for (size_t pos = 0; pos < n; pos++) {
            for (int b = 0; b < 256; b++) {
                std::string v(n, 'x');
                v[pos] = static_cast<char>(b);
                bool safe = (b >= 0x20 || b == '\t') && b != 0x7f;
                assert_int_equal(is_safe_field_value(v), safe);
            }
        }
    }
    assert_true(is_safe_field_value(""));
}

// ---- grammar ---------------------------------------------------------------------------------

void test_grammar(void **) {
    assert_true(is_token("GET"));
    assert_true(is_token("X-Custom_1!#$%&'*+.^`|~"));
    assert_false(is_token(""));
    assert_false(is_token("a b"));
    assert_false(is_token("a:b"));
    assert_false(is_token("a\x80"));
    // Every byte at every position of names up to 13 bytes long (is_token checks four bytes per
    // step: a refused byte must be found in any lane and in the tail).
    for (size_t len = 1; len <= 13; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int c = 0; c < 256; c++) {
                std::string name(len, 'n');
                name[at] = static_cast<char>(c);
                if (is_token(name) != is_tchar(static_cast<unsigned char>(c)))
                    fail_msg("len %zu at %zu byte 0x%02x", len, at, c);
            }
        }
    }
    assert_false(is_tchar('('));
    assert_false(is_tchar(0));
    assert_true(is_tchar('~'));

    assert_true(is_safe_field_value("text/html; charset=\xe9\t1"));
    assert_false(is_safe_field_value("a\r\nSet-Cookie: x"));
    assert_false(is_safe_field_value("a\nb"));
    assert_false(is_safe_field_value("a\0b"sv));

    assert_true(is_valid_reason("Not Found"));
    assert_true(is_valid_reason(""));
    assert_true(is_valid_reason("Caf\xe9\tok"));
    assert_false(is_valid_reason("<script>"));
    assert_false(is_valid_reason("a\r\nb"));
    assert_false(is_valid_reason("a\x7f"));

    assert_true(iequals("Content-Length", "content-LENGTH"));
    assert_false(iequals("abc", "abd"));
    assert_false(iequals("abc", "ab"));
    assert_false(iequals("\xc9", "\xe9"));  // no Latin-1 case folding
}

void test_content_length(void **) {
    uint64_t n = 99;
    assert_true(parse_content_length("0", &n));
    assert_int_equal(n, 0);
    assert_true(parse_content_length("123456789012345678", &n));  // 18 digits
    assert_int_equal(n, 123456789012345678ULL);
    // Leading zeros are 1*DIGIT too (RFC 9110 8.6) and do not count against the 64 bits.
    assert_true(parse_content_length("0000000000000000000000003", &n));
    assert_int_equal(n, 3);
    assert_true(parse_content_length("00000000000000000000", &n));
    assert_int_equal(n, 0);
    assert_true(parse_content_length("000123456789012345678", &n));
    assert_int_equal(n, 123456789012345678ULL);
    // Every value that fits in 64 bits is a length; the next one up is not (no overflow).
    assert_true(parse_content_length("1234567890123456789", &n));  // 19 digits
    assert_int_equal(n, 1234567890123456789ULL);
    assert_true(parse_content_length("00018446744073709551615", &n));  // 2^64 - 1
    assert_int_equal(n, UINT64_MAX);
    n = 99;
    assert_false(parse_content_length("18446744073709551616", &n));  // 2^64
    assert_false(parse_content_length("18446744073709551620", &n));
    assert_false(parse_content_length("99999999999999999999", &n));
    assert_false(parse_content_length("184467440737095516150", &n));
    assert_int_equal(n, 99);  // untouched when refused
    for (const char *bad : {"", "+3", "-1", "3 ", " 3", "3,3", "0x3", "3.0", "1e3"})
        assert_false(parse_content_length(bad, &n));
}

void test_lists(void **) {
    auto v = split_list(" keep-alive ,, Upgrade\t,");
    assert_int_equal(v.size(), 2);
    assert_true(v[0] == "keep-alive");
    assert_true(v[1] == "Upgrade");
    assert_true(split_list("").empty());
    assert_true(split_list(" , ,").empty());
    assert_true(list_contains("gzip, chunked", "CHUNKED"));
    assert_false(list_contains("gzip, chunkedx", "chunked"));
    assert_false(list_contains("", "close"));
}

// ---- Host ------------------------------------------------------------------------------------

void test_host_valid(void **) {
    const char *good[] = {"",           "example.com", "example.com:8080", "127.0.0.1",
                          "[::1]:80",   "[::1]",       "[v1.x]",           "a-b.c_d~",
                          "%41",        "a!$&'()*+,;=", "example.com:",    "[2001:db8::1]:443",
                          "[::ffff:1.2.3.4]", "[vF.a:b]"};
    for (const char *h : good) {
        if (!is_valid_host(h)) fail_msg("should be valid: %s", h);
    }
}

void test_host_parts(void **) {
    assert_true(host_without_port("example.com:8080") == "example.com");
    assert_true(host_without_port("example.com") == "example.com");
    assert_true(host_without_port("[::1]:443") == "[::1]");
    assert_true(host_without_port("[::1]") == "[::1]");
    assert_true(host_without_port("") == "");
    assert_true(is_userinfo("us%65r:p%40ss:w") && is_userinfo("") && is_userinfo("a!$&'()*+,;=-._~"));
    for (const char *bad : {"a@b", "a b", "%4", "%zz", "a[b", "a/b"})
        if (is_userinfo(bad)) fail_msg("userinfo should be invalid: %s", bad);
    for (const char *good :
         {"", "/", "/a%2Fb%e9", "%41", "/x%00y", "/a|b^c[d]", "/!$&'()*+,;=:@-._~"})
        if (!is_valid_target_path(good)) fail_msg("path should be valid: %s", good);
    for (const char *bad : {"%", "/%zz", "/a%4", "/50%", "/%%41", "/x%g0", "/a\"b", "/a<b", "/a>b",
                            "/a\\b", "/a`b", "/a{b", "/a}b", "/ok%41\\"})
        if (is_valid_target_path(bad)) fail_msg("path should be invalid: %s", bad);
}

void test_host_invalid(void **) {
    const char *bad[] = {"exa mple.com", " example.com", "example.com ", "a\tb", "user@host",
                         "a/b",          "a?b",          "a#b",          "[::1",  "host:port:x",
                         "host:8o",      "a\x01",        "caf\xc3\xa9",  "%4",    "%G1",
                         "[::1]x",       "[::1]:8o",     "[1.2.3.4]",    "[v.x]", "[v1.]",
                         "[]",           "[::1]]",       "a[b",          "a\"b",  "[::1]:80:1",
                         ":80",          ":",            ":x"};
    for (const char *h : bad) {
        if (is_valid_host(h)) fail_msg("should be invalid: %s", h);
    }
    assert_false(is_valid_host("a\0b"sv));
    // Every byte that is neither unreserved, sub-delim, '%' nor ':' is refused in a reg-name.
    for (int c = 0; c < 256; ++c) {
        std::string h = "a";
        h.push_back(static_cast<char>(c));
        bool expected = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || std::strchr("-._~!$&'()*+,;=:", c) != nullptr;
        if (c == 0) expected = false;
        if (is_valid_host(h) != expected) fail_msg("byte 0x%02x", c);
    }
    // The same at every position of names and ports of every length up to 13 (the fast path
    // takes reg-name bytes four at a time: a refused byte must be found in any lane).
    static const int kBytes[] = {' ', '/', '@', '[', 0x80, 0xff, 0x7f, 0x01, 'Z', '~'};
    for (size_t len = 1; len <= 13; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int c : kBytes) {
                std::string name(len, 'h');
                name[at] = static_cast<char>(c);
                bool ok = c == 'Z' || c == '~';
                if (is_valid_host(name) != ok || is_valid_host(name + ":8080") != ok)
                    fail_msg("name len %zu at %zu byte 0x%02x", len, at, c);
                std::string port(len, '1');
                port[at] = static_cast<char>(c);
                if (is_valid_host("host:" + port))
                    fail_msg("port len %zu at %zu byte 0x%02x", len, at, c);
            }
        }
    }
}

// ---- URL pieces ------------------------------------------------------------------------------

void test_percent_decode(void **) {
    std::string out = "stale";
    assert_true(percent_decode("a%20b+c%2B%e9", out, true));
    assert_true(out == "a b c+\xe9");
    assert_true(percent_decode("a+b", out, false));
    assert_true(out == "a+b");
    assert_true(percent_decode("%00", out, false));
    assert_int_equal(out.size(), 1);
    assert_false(percent_decode("%", out, false));
    assert_true(out == "%");
    assert_false(percent_decode("100%G1", out, false));
    assert_true(out == "100%G1");
    assert_false(percent_decode("x%4", out, false));
    assert_true(out == "x%4");
    assert_true(percent_decode("", out, true));
    assert_true(out.empty());
}

void test_utf8(void **) {
    assert_true(is_valid_utf8(""));
    assert_true(is_valid_utf8("plain"));
    assert_true(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_true(is_valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
    assert_true(is_valid_utf8("\xed\x9f\xbf"));          // U+D7FF
    assert_false(is_valid_utf8("\xc0\xaf"));             // overlong '/'
    assert_false(is_valid_utf8("\xe0\x80\xaf"));         // overlong
    assert_false(is_valid_utf8("\xf0\x80\x80\xaf"));     // overlong
    assert_false(is_valid_utf8("\xed\xa0\x80"));         // surrogate
    assert_false(is_valid_utf8("\xf4\x90\x80\x80"));     // > U+10FFFF
    assert_false(is_valid_utf8("\xf5\x80\x80\x80"));
    assert_false(is_valid_utf8("\xc3"));                 // truncated
    assert_false(is_valid_utf8("\xe2\x82"));
    assert_false(is_valid_utf8("\x80"));
    assert_false(is_valid_utf8("\xc3\x28"));
    assert_false(is_valid_utf8("\xff"));
}

void test_urlencoded(void **) {
    std::vector<Argument> a;
    parse_urlencoded("a=1&b=&c&&d=x%20y+z&a=2&=v&e=%zz", a);
    assert_int_equal(a.size(), 7);
    assert_true(a[0].name == "a" && a[0].value == "1");
    assert_true(a[1].name == "b" && a[1].value.empty());
    assert_true(a[2].name == "c" && a[2].value.empty());
    assert_true(a[3].name == "d" && a[3].value == "x y z");
    assert_true(a[4].name == "a" && a[4].value == "2");
    assert_true(a[5].name.empty() && a[5].value == "v");
    assert_true(a[6].name == "e" && a[6].value == "%zz");
    a.clear();
    parse_urlencoded("", a);
    assert_true(a.empty());
    parse_urlencoded("&&&", a);
    assert_true(a.empty());
    parse_urlencoded("k=a=b", a);  // only the first '=' splits
    assert_int_equal(a.size(), 1);
    assert_true(a[0].value == "a=b");
}

// ---- Content-Type ----------------------------------------------------------------------------

void test_media_type(void **) {
    MediaType m;
    assert_true(parse_media_type(" Multipart/Form-Data ; Boundary=\"a;b\\\"c\" ; charset=UTF-8", m));
    assert_true(m.type == "multipart/form-data");
    assert_non_null(m.param("boundary"));
    assert_true(*m.param("boundary") == "a;b\"c");
    assert_true(*m.param("charset") == "UTF-8");
    assert_null(m.param("missing"));

    assert_true(parse_media_type("text/plain;noequals;x=1;x=2;=bad", m));
    assert_int_equal(m.params.size(), 2);
    assert_true(*m.param("x") == "2");  // last wins

    assert_true(parse_media_type("text/plain; q=\"unterminated", m));
    assert_true(*m.param("q") == "unterminated");

    assert_false(parse_media_type("", m));
    assert_false(parse_media_type("text", m));
    assert_false(parse_media_type("text/", m));
    assert_false(parse_media_type("/plain", m));
    assert_false(parse_media_type("te xt/plain", m));
    assert_false(parse_media_type("; a=b", m));
}

void test_header_params(void **) {
    MediaType d;
    assert_true(parse_header_params(
        "form-data; name=\"file\"; filename=\"C:\\dir\\a \\\"b\\\".txt\"", d));
    assert_true(d.type == "form-data");
    assert_true(*d.param("name") == "file");
    // Unescaped backslashes (as browsers send Windows paths) survive; \" becomes ".
    assert_true(*d.param("filename") == "C:\\dir\\a \"b\".txt");
    assert_true(parse_header_params("FORM-DATA;NAME=x", d));
    assert_true(d.type == "form-data");
    assert_true(*d.param("name") == "x");
    assert_false(parse_header_params("  ", d));
}

// ---- multipart -------------------------------------------------------------------------------

void test_multipart_basic(void **) {
    std::string body =
        "This is the preamble.\r\n"
        "--AaB03x\r\n"
        "Content-Disposition: form-data; name=\"field1\"\r\n"
        "\r\n"
        "Joe Blow\r\nalmost tricky\r\n"
        "--AaB03x  \r\n"  // transport padding
        "content-disposition: form-data; name=\"pics\"; filename=\"file1.txt\"\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "...contents of file1.txt...\r\n"
        "--AaB03x\r\n"
        "Content-Disposition: form-data; name=\"empty\"\r\n"
        "\r\n"
        "\r\n"
        "--AaB03x\r\n"
        "Content-Disposition: form-data; name=\"upload\"; filename=\"x.bin\"\r\n"
        "\r\n"
        "@\x01--AaB03\r\n--AaB03xx\r\n"
        "--AaB03x--\r\n"
        "epilogue --AaB03x garbage";
    body[body.find('@')] = '\0';  // a NUL cannot sit inside the literal above
    std::vector<Argument> fields;
    std::vector<UploadedFile> files;
    std::string err;
    assert_true(parse_multipart(body, "AaB03x", fields, files, err));
    assert_int_equal(fields.size(), 2);
    assert_true(fields[0].name == "field1");
    assert_true(fields[0].value == "Joe Blow\r\nalmost tricky");
    assert_true(fields[1].name == "empty" && fields[1].value.empty());
    assert_int_equal(files.size(), 2);
    assert_true(files[0].field == "pics");
    assert_true(files[0].filename == "file1.txt");
    assert_true(files[0].content_type == "text/plain");
    assert_true(files[0].body == "...contents of file1.txt...");
    assert_true(files[1].content_type == "application/octet-stream");
    // A delimiter-like line with more characters after it is content, not a delimiter.
    assert_true(files[1].body == std::string("\0\x01--AaB03\r\n--AaB03xx", 20));
}

void test_multipart_quoted_boundary_and_skips(void **) {
    std::string body =
        "--b\r\n"
        "\r\n"
        "no headers: skipped\r\n"
        "--b\r\n"
        "Content-Disposition: attachment; name=\"a\"\r\n\r\nnot form-data\r\n"
        "--b\r\n"
        "Content-Disposition: form-data\r\n\r\nno name\r\n"
        "--b\r\n"
        "Content-Disposition: form-data; name=\"\"\r\n\r\nempty name\r\n"
        "--b\r\n"
        "X-Other: 1\r\n\r\nno disposition\r\n"
        "--b\r\n"
        "no separator at all\r\n"
        "--b\r\n"
        "Content-Disposition: form-data;\r\n name=\"folded\"; filename=\"\"\r\n"
        "\r\nvalue\r\n"
        "--b--";
    std::vector<Argument> fields;
    std::vector<UploadedFile> files;
    std::string err;
    assert_true(parse_multipart(body, "\"b\"", fields, files, err));
    // Only the folded one survives; its empty filename makes it a plain field (as Tornado).
    assert_int_equal(fields.size(), 1);
    assert_true(fields[0].name == "folded");
    assert_true(fields[0].value == "value");
    assert_int_equal(files.size(), 0);

    // A body holding only the close delimiter is an empty form.
    fields.clear();
    assert_true(parse_multipart("--b--\r\n", "b", fields, files, err));
    assert_true(fields.empty());
}

bool multipart_fails(std::string_view body, std::string_view boundary,
                     const MultipartLimits &limits = MultipartLimits()) {
    std::vector<Argument> fields;
    std::vector<UploadedFile> files;
    std::string err;
    bool ok = parse_multipart(body, boundary, fields, files, err, limits);
    if (!ok && err.empty()) fail_msg("failure without an error message");
    return !ok;
}

void test_multipart_errors(void **) {
    const char *part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n";
    std::string good = std::string("--b\r\n") + part + "--b--";
    assert_false(multipart_fails(good, "b"));
    assert_true(multipart_fails(good, ""));
    assert_true(multipart_fails(good, "\"\""));
    assert_true(multipart_fails(good, "b\r\n"));
    assert_true(multipart_fails(good, "c"));                             // no boundary
    assert_true(multipart_fails(std::string("--b\r\n") + part, "b"));    // no final boundary
    assert_true(multipart_fails(std::string("--b\r\n") + part + "--b", "b"));
    assert_true(multipart_fails("", "b"));
    assert_true(multipart_fails("--b", "b"));
    assert_true(multipart_fails("--b\r\n", "b"));
    assert_true(multipart_fails("--b\r\nBad Header\r\n\r\nv\r\n--b--", "b"));
    assert_true(multipart_fails("--b\r\n folded first\r\n\r\nv\r\n--b--", "b"));
    assert_true(multipart_fails("--b\r\nA: 1\nB: 2\r\n\r\nv\r\n--b--", "b"));
    assert_true(multipart_fails(
        "--b\r\nContent-Disposition: form-data; name=a\r\n"
        "Content-Disposition: form-data; name=b\r\n\r\nv\r\n--b--",
        "b"));

    // Part limit: exactly max_parts is fine, one more fails.
    MultipartLimits lim;
    lim.max_parts = 3;
    std::string body;
    for (int i = 0; i < 3; ++i) body += std::string("--b\r\n") + part;
    assert_false(multipart_fails(body + "--b--", "b", lim));
    assert_true(multipart_fails(body + "--b\r\n" + part + "--b--", "b", lim));
    // The default is 100.
    body.clear();
    for (int i = 0; i < 101; ++i) body += std::string("--b\r\n") + part;
    assert_true(multipart_fails(body + "--b--", "b"));

    // Header limit: 10 KiB of headers per part.
    std::string hdr = "Content-Disposition: form-data; name=\"a\"\r\nX-Pad: ";
    std::string big = "--b\r\n" + hdr + std::string(10 * 1024 - hdr.size(), 'p') + "\r\n\r\nv\r\n--b--";
    assert_false(multipart_fails(big, "b"));
    big = "--b\r\n" + hdr + std::string(10 * 1024 - hdr.size() + 1, 'p') + "\r\n\r\nv\r\n--b--";
    assert_true(multipart_fails(big, "b"));
}

void test_multipart_large_linear(void **) {
    // 8 MiB of near-misses ("\r\n--bounda" repeated) inside one file part: a quadratic scan
    // would not finish within the test timeout (ctest's TIMEOUT is the bound: a time
    // measured here would only fail a slow or loaded machine).
    std::string boundary = "boundary-0123456789";
    std::string filler;
    while (filler.size() < 8u * 1024 * 1024) filler += "\r\n--bounda";
    std::string body = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n" +
                       filler + "\r\n--" + boundary + "--\r\n";
    std::vector<Argument> fields;
    std::vector<UploadedFile> files;
    std::string err;
    assert_true(parse_multipart(body, boundary, fields, files, err));
    assert_int_equal(files.size(), 1);
    assert_true(files[0].body == filler);

    // A huge part without a header end is refused after scanning only the header window.
    std::string nohdr = "--b\r\n" + std::string(4u * 1024 * 1024, 'x') + "\r\n--b--";
    assert_true(multipart_fails(nohdr, "b"));
}

void test_multipart_fuzz(void **) {
    // Random mutations of a valid body: the parser must neither crash nor read out of bounds
    // (run under ASan) and must always either succeed or explain why not.
    const std::string base =
        "pre\r\n--xyz\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n"
        "Content-Type: text/plain\r\n\r\nhello\r\n--xyz\r\n"
        "Content-Disposition: form-data; name=\"b\"\r\n\r\nworld\r\n--xyz--\r\n";
    const char alphabet[] = "\r\n-xyz\"; =:\t\0abc";
    std::mt19937 rng(12345);
    for (int iter = 0; iter < 20000; ++iter) {
        std::string s = base;
        int edits = 1 + static_cast<int>(rng() % 6);
        for (int e = 0; e < edits; ++e) {
            size_t pos = rng() % (s.size() + 1);
            switch (rng() % 4) {
            case 0:
                if (pos < s.size()) s.erase(pos, 1 + rng() % 8);
                break;
            case 1: s.insert(pos, 1, alphabet[rng() % (sizeof(alphabet) - 1)]); break;
            case 2:
                if (pos < s.size()) s[pos] = static_cast<char>(rng() & 0xff);
                break;
            default: s = s.substr(0, pos); break;
            }
        }
        multipart_fails(s, "xyz");
    }
}

void test_random_bytes(void **) {
    // Every parser over arbitrary short byte strings drawn from an alphabet rich in syntax:
    // nothing may crash or trip the sanitizers.
    const char alphabet[] = "[]:%@/?#;=\"\\ \t\r\n,+&-.v0159aAfFgG\x80\xff\0";
    std::mt19937 rng(4242);
    std::string out;
    std::vector<Argument> args;
    MediaType m;
    for (int i = 0; i < 50000; ++i) {
        std::string s;
        size_t n = rng() % 40;
        for (size_t k = 0; k < n; ++k) s.push_back(alphabet[rng() % (sizeof(alphabet) - 1)]);
        is_valid_host(s);
        percent_decode(s, out, true);
        is_valid_utf8(s);
        args.clear();
        parse_urlencoded(s, args);
        parse_media_type(s, m);
        parse_header_params(s, m);
        split_list(s);
        time_t t;
        parse_http_date(s, t);
        out.clear();
        append_json_latin1(out, s);
    }
}

// ---- dates -----------------------------------------------------------------------------------

void test_dates(void **) {
    char buf[32];
    assert_int_equal(format_http_date(784111777, buf), 29);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    format_http_date(0, buf);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    format_http_date(951782400, buf);  // leap day
    assert_string_equal(buf, "Tue, 29 Feb 2000 00:00:00 GMT");

    time_t t = 0;
    assert_true(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", t));
    assert_int_equal(t, 784111777);
    t = 0;
    assert_true(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", t));
    assert_int_equal(t, 784111777);
    t = 0;
    assert_true(parse_http_date("Sun Nov  6 08:49:37 1994", t));
    assert_int_equal(t, 784111777);
    assert_true(parse_http_date("Sun Nov 16 08:49:37 1994", t));
    assert_true(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", t));
    assert_int_equal(t, 951782400);

    // RFC 850's two-digit year: never more than 50 years ahead.
    assert_true(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", t));
    assert_int_equal(t, 946684800);

    const char *bad[] = {"",
                         "garbage",
                         "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sun, 06 Nov 1994 08:49:37 GMT ",
                         " Sun, 06 Nov 1994 08:49:37 GMT",
                         "sun, 06 Nov 1994 08:49:37 GMT",
                         "Sun, 06 nov 1994 08:49:37 GMT",
                         "Sun, 6 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 94 08:49:37 GMT",
                         "Sun, 32 Jan 1994 08:49:37 GMT",
                         "Sun, 00 Jan 1994 08:49:37 GMT",
                         "Sun, 29 Feb 1900 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:00:00 GMT",
                         "Sun, 06 Nov 1994 08:60:00 GMT",
                         "Sun, 06 Nov 1994 08:49:61 GMT",
                         "Sun, 06 Nov 1994 08-49-37 GMT",
                         "Sun, 06 Xyz 1994 08:49:37 GMT",
                         "Foo, 06 Nov 1994 08:49:37 GMT",
                         "Sun, 0x Nov 1994 08:49:37 GMT",
                         "Sun, -6 Nov 1994 08:49:37 GMT",
                         "Sundae, 06-Nov-94 08:49:37 GMT",
                         "Sunday, 06-Nov-1994 08:49:37 GMT",
                         "Sunday, 06 Nov 94 08:49:37 GMT",
                         ", 06-Nov-94 08:49:37 GMT",
                         "Sun Nov 6 08:49:37 1994",
                         "Sun Nov  6 08:49:37 94",
                         "Sun Nov  6 08:49:37 1994 GMT",
                         "Sun Nov x6 08:49:37 1994"};
    for (const char *s : bad) {
        if (parse_http_date(s, t)) fail_msg("should not parse: '%s'", s);
    }
    assert_false(parse_http_date("Sun, 06 Nov 1994 08:49:37 G\0T"sv, t));

    // Round trip over a range of times.
    for (time_t x = 0; x < 4102444800; x += 86400 * 37 + 3607) {
        format_http_date(x, buf);
        time_t back = -1;
        assert_true(parse_http_date(buf, back));
        assert_int_equal(back, x);
    }
}

void test_date_now(void **) {
    std::string_view a = http_date_now();
    assert_int_equal(a.size(), 29);
    time_t t = 0;
    assert_true(parse_http_date(a, t));
    time_t now = time(nullptr);
    assert_true(t <= now && now - t <= 2);
    std::string_view b = http_date_now();
    assert_int_equal(b.size(), 29);
}

void test_status_line(void **) {
    StatusLine l;
    assert_true(parse_status_line("HTTP/1.1 200 Connection established", l));
    assert_int_equal(l.minor_version, 1);
    assert_int_equal(l.status, 200);
    assert_true(l.reason == "Connection established");
    assert_true(parse_status_line("HTTP/1.0 407 ", l) && l.status == 407 && l.reason.empty());
    assert_true(parse_status_line("HTTP/1.1 101", l) && l.status == 101 && l.reason.empty());
    assert_true(parse_status_line("HTTP/1.1 099 x", l) && l.status == 99);  // the caller judges
    // Three digits, then SP or the end (RFC 9112 §4); HTTP/1.x only.
    for (const char *bad : {"HTTP/1.1 2", "HTTP/1.1 2000 OK", "HTTP/1.1 20x OK", "HTTP/1.1  200",
                            "HTTP/1.x 200 OK", "HTTP/2.0 200 OK", "http/1.1 200 OK",
                            "HTTP/1.1\t200 OK", "HTTP/1.1 1010", "SSH-2.0-OpenSSH", ""})
        assert_false(parse_status_line(bad, l));
}

void test_reason_phrase(void **) {
    assert_string_equal(reason_phrase(200), "OK");
    assert_string_equal(reason_phrase(404), "Not Found");
    assert_string_equal(reason_phrase(100), "Continue");
    assert_string_equal(reason_phrase(413), "Content Too Large");
    assert_string_equal(reason_phrase(421), "Misdirected Request");
    assert_string_equal(reason_phrase(422), "Unprocessable Content");
    assert_string_equal(reason_phrase(425), "Too Early");
    assert_string_equal(reason_phrase(426), "Upgrade Required");
    assert_string_equal(reason_phrase(428), "Precondition Required");
    assert_string_equal(reason_phrase(429), "Too Many Requests");
    assert_string_equal(reason_phrase(431), "Request Header Fields Too Large");
    assert_string_equal(reason_phrase(451), "Unavailable For Legal Reasons");
    assert_string_equal(reason_phrase(506), "Variant Also Negotiates");
    assert_string_equal(reason_phrase(511), "Network Authentication Required");
    assert_string_equal(reason_phrase(306), "Unknown");
    assert_string_equal(reason_phrase(509), "Unknown");
    assert_string_equal(reason_phrase(0), "Unknown");
    assert_string_equal(reason_phrase(-1), "Unknown");
    assert_string_equal(reason_phrase(999), "Unknown");
    for (int s = 100; s < 600; ++s) assert_true(is_valid_reason(reason_phrase(s)));
}

// ---- gzip ------------------------------------------------------------------------------------

std::string gzip(const std::string &in) {
    z_stream zs{};
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, in.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::string sample(size_t n) {
    std::string s;
    std::mt19937 rng(7);
    while (s.size() < n) s += "line " + std::to_string(rng() % 1000) + "\n";
    s.resize(n);
    return s;
}

// Feeds through the sink form (the only one the library has) and collects the pieces,
// checking the documented bound on each.
bool append_piece(void *arg, const char *data, size_t len) {
    assert_true(len <= GzipDecoder::kPiece);
    static_cast<std::string *>(arg)->append(data, len);
    return true;
}

GzipDecoder::Result inflate_into(GzipDecoder &d, const char *data, size_t len, std::string &out,
                                 size_t max_output) {
    return d.feed(data, len, max_output, append_piece, &out);
}

void test_gzip_roundtrip(void **) {
    std::string plain = sample(300000);
    std::string z = gzip(plain);
    {
        GzipDecoder d;
        std::string out;
        assert_int_equal(static_cast<int>(inflate_into(d, z.data(), z.size(), out, 1 << 20)),
                         static_cast<int>(GzipDecoder::Result::ok));
        assert_true(d.finished());
        assert_true(out == plain);
    }
    {
        // One byte at a time.
        GzipDecoder d;
        std::string out;
        for (size_t i = 0; i < z.size(); ++i) {
            if (i + 1 < z.size()) assert_false(d.finished());
            assert_true(inflate_into(d, z.data() + i, 1, out, plain.size()) ==
                        GzipDecoder::Result::ok);
        }
        assert_true(d.finished());
        assert_true(out == plain);
    }
    {
        // Truncated: fine so far, but never finished.
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, z.data(), z.size() - 5, out, 1 << 20) ==
                    GzipDecoder::Result::ok);
        assert_false(d.finished());
    }
    {
        // Empty input and empty payload.
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, nullptr, 0, out, 10) == GzipDecoder::Result::ok);
        std::string e = gzip("");
        assert_true(inflate_into(d, e.data(), e.size(), out, e.size()) == GzipDecoder::Result::ok);
        assert_true(d.finished());
        assert_true(out.empty());
        assert_int_equal(d.bytes_fed(), e.size());
    }
    {
        // The compressed bytes count against the limit too: a series of empty members makes
        // no output, and would otherwise never end.
        GzipDecoder d;
        std::string out, e = gzip("");
        size_t fed = 0;
        GzipDecoder::Result r = GzipDecoder::Result::ok;
        while (r == GzipDecoder::Result::ok && fed < 10000) {
            r = inflate_into(d, e.data(), e.size(), out, 1000);
            fed += e.size();
        }
        assert_true(r == GzipDecoder::Result::too_big);
        assert_true(fed > 1000 && fed <= 1000 + e.size());
        assert_true(out.empty());
    }
}

// A sink that pauses after each piece (the HTTP client's eddy_fetch_pause_body).
struct Pausing {
    GzipDecoder *d;
    std::string out;
    int pieces = 0;
};

bool pause_each_piece(void *arg, const char *data, size_t len) {
    auto *p = static_cast<Pausing *>(arg);
    p->out.append(data, len);
    p->pieces++;
    p->d->hold();
    return false;
}

void test_gzip_hold_and_resume(void **) {
    // Two members (`cat a.gz b.gz`), each of several pieces: a pause on a member's last piece
    // must still go on into the next member, and nothing may be lost or repeated.
    std::string a = sample(100000), b = sample(70000) + "end";
    std::string z = gzip(a) + gzip(b);
    GzipDecoder d;
    Pausing p;
    p.d = &d;
    GzipDecoder::Result r = d.feed(z.data(), z.size(), 1 << 20, pause_each_piece, &p);
    int resumes = 0;
    while (r == GzipDecoder::Result::paused) {
        assert_true(d.holding());
        assert_int_equal(p.pieces, resumes + 1);  // nothing more before the resume
        resumes++;
        r = d.resume(1 << 20, pause_each_piece, &p);
    }
    assert_true(r == GzipDecoder::Result::ok);
    assert_false(d.holding());
    assert_true(d.finished());
    assert_true(p.out == a + b);
    assert_true(resumes >= 10);
    assert_int_equal(d.bytes_fed(), z.size());  // the kept input is not counted twice
    // A sink that returns false without hold() still stops the decoder for good.
    GzipDecoder d2;
    auto refuse = [](void *, const char *, size_t) { return false; };
    assert_true(d2.feed(z.data(), z.size(), 1 << 20, refuse, nullptr) ==
                GzipDecoder::Result::stopped);
    assert_false(d2.holding());
}

void test_gzip_limits_and_errors(void **) {
    std::string plain(1 << 20, 'a');  // compresses ~1000:1
    std::string z = gzip(plain);
    {
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, z.data(), z.size(), out, plain.size()) ==
                    GzipDecoder::Result::ok);
        assert_int_equal(out.size(), plain.size());
    }
    {
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, z.data(), z.size(), out, plain.size() - 1) ==
                    GzipDecoder::Result::too_big);
        assert_true(out.size() < plain.size());
        // Sticky.
        assert_true(inflate_into(d, z.data(), 1, out, 1 << 30) == GzipDecoder::Result::too_big);
    }
    {
        // Limit counted across feeds.
        GzipDecoder d;
        std::string out;
        size_t half = z.size() / 2;
        GzipDecoder::Result r1 = inflate_into(d, z.data(), half, out, 1000);
        GzipDecoder::Result r2 = r1 == GzipDecoder::Result::ok
                                     ? inflate_into(d, z.data() + half, z.size() - half, out, 1000)
                                     : r1;
        assert_true(r2 == GzipDecoder::Result::too_big);
        assert_true(out.size() <= 1000);
    }
    {
        GzipDecoder d;
        std::string out;
        const char junk[] = "this is not gzip at all";
        assert_true(inflate_into(d, junk, sizeof(junk), out, 1 << 20) ==
                    GzipDecoder::Result::error);
        assert_true(inflate_into(d, z.data(), z.size(), out, 1 << 20) ==
                    GzipDecoder::Result::error);
    }
    {
        // A zlib (not gzip) stream is refused.
        std::string zl(compressBound(5), '\0');
        uLongf n = zl.size();
        compress(reinterpret_cast<Bytef *>(zl.data()), &n,
                 reinterpret_cast<const Bytef *>("hello"), 5);
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, zl.data(), n, out, 100) == GzipDecoder::Result::error);
    }
    {
        // Corrupted CRC.
        std::string bad = gzip("hello world");
        bad[bad.size() - 6] ^= 0x55;
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, bad.data(), bad.size(), out, 100) ==
                    GzipDecoder::Result::error);
    }
    {
        // Trailing garbage after a complete member.
        std::string t = gzip("hello") + "garbage!!!";
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, t.data(), t.size(), out, 100) == GzipDecoder::Result::error);
    }
    {
        // Concatenated members decode to the concatenation, fed in one go or split.
        std::string t = gzip("hello ") + gzip("world");
        GzipDecoder d;
        std::string out;
        assert_true(inflate_into(d, t.data(), t.size(), out, 100) == GzipDecoder::Result::ok);
        assert_true(d.finished());
        assert_true(out == "hello world");
        GzipDecoder d2;
        out.clear();
        for (char c : t) assert_true(inflate_into(d2, &c, 1, out, 100) == GzipDecoder::Result::ok);
        assert_true(d2.finished());
        assert_true(out == "hello world");
    }
    {
        // Random bytes after a valid gzip header: error or ok, never a crash.
        std::mt19937 rng(99);
        for (int i = 0; i < 2000; ++i) {
            std::string s = gzip(sample(200));
            for (int k = 0; k < 3; ++k) s[10 + rng() % (s.size() - 10)] = static_cast<char>(rng());
            GzipDecoder d;
            std::string out;
            inflate_into(d, s.data(), s.size(), out, 1000);
            assert_true(out.size() <= 1000);
        }
    }
}

// ---- JSON ------------------------------------------------------------------------------------

void test_json(void **) {
    std::string out = "x:";
    append_json_latin1(out, std::string_view("a\"b\\c\n\x01\x7f\xe9/ ~\0", 13));
    assert_string_equal(out.c_str(), "x:\"a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00e9/ ~\\u0000\"");
    out.clear();
    append_json_latin1(out, "");
    assert_string_equal(out.c_str(), "\"\"");
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_host_valid),
        cmocka_unit_test(test_host_invalid),
        cmocka_unit_test(test_host_parts),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_urlencoded),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_header_params),
        cmocka_unit_test(test_multipart_basic),
        cmocka_unit_test(test_multipart_quoted_boundary_and_skips),
        cmocka_unit_test(test_multipart_errors),
        cmocka_unit_test(test_multipart_large_linear),
        cmocka_unit_test(test_multipart_fuzz),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_date_now),
        cmocka_unit_test(test_reason_phrase),
        cmocka_unit_test(test_status_line),
        cmocka_unit_test(test_gzip_roundtrip),
        cmocka_unit_test(test_gzip_hold_and_resume),
        cmocka_unit_test(test_gzip_limits_and_errors),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_copy_small),
        cmocka_unit_test(test_hex16),
        cmocka_unit_test(test_equals_literal),
        cmocka_unit_test(test_word_comparisons),
        cmocka_unit_test(test_safe_field_value_words),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
