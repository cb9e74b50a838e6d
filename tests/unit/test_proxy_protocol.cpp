// Unit tests for lib/http/proxy_protocol: PROXY v1 and v2 headers, complete, partial, hostile.
#include <cstring>
#include <string>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

#include "http/proxy_protocol.hpp"

using namespace eddy::http;

namespace {

ProxyParse parse(const std::string &s, ProxyHeader *h, size_t *used) {
    const char *why = nullptr;
    ProxyParse r = parse_proxy_header(s.data(), s.size(), h, used, &why);
    assert_non_null(why);
    return r;
}

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string v2(unsigned char cmd, unsigned char fam, const std::string &addr) {
    std::string s = kSig;
    s += static_cast<char>(0x20 | cmd);
    s += static_cast<char>(fam);
    s += static_cast<char>(addr.size() >> 8);
    s += static_cast<char>(addr.size() & 0xff);
    return s + addr;
}

void test_v1(void **) {
    ProxyHeader h;
    size_t used = 0;
    std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    assert_int_equal(static_cast<int>(parse(line + "GET /", &h, &used)), static_cast<int>(ProxyParse::done));
    assert_int_equal(used, line.size());
    assert_string_equal(h.src_ip.c_str(), "192.0.2.1");
    assert_int_equal(h.src_port, 56324);
    assert_string_equal(h.dst_ip.c_str(), "198.51.100.2");
    assert_int_equal(h.dst_port, 443);
    assert_true(h.has_address);
    assert_int_equal(h.version, 1);
    // Every prefix of the line is incomplete, never invalid.
    for (size_t n = 1; n < line.size(); n++) {
        ProxyHeader p;
        assert_int_equal(static_cast<int>(parse(line.substr(0, n), &p, &used)),
                         static_cast<int>(ProxyParse::incomplete));
    }
    h = ProxyHeader();
    assert_int_equal(static_cast<int>(parse("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", &h, &used)),
                     static_cast<int>(ProxyParse::done));
    assert_string_equal(h.src_ip.c_str(), "2001:db8::1");
    assert_int_equal(h.src_port, 65535);
    // One spelling per address, as version 2 writes them: capitals, zero groups and the
    // IPv4-mapped form are the addresses the listener would write.
    h = ProxyHeader();
    assert_int_equal(
        static_cast<int>(parse("PROXY TCP6 2001:DB8:0:0::1 ::FFFF:192.0.2.9 1 2\r\n", &h, &used)),
        static_cast<int>(ProxyParse::done));
    assert_string_equal(h.src_ip.c_str(), "2001:db8::1");
    assert_string_equal(h.dst_ip.c_str(), "192.0.2.9");
    h = ProxyHeader();
    assert_int_equal(static_cast<int>(parse("PROXY UNKNOWN ffff::1 ::1 1 2\r\nX", &h, &used)),
                     static_cast<int>(ProxyParse::done));
    assert_false(h.has_address);
    assert_int_equal(used, 31);
    // UNKNOWN ignores what follows it up to the CRLF, a lone trailing space too (spec 2.1).
    h = ProxyHeader();
    assert_int_equal(static_cast<int>(parse("PROXY UNKNOWN \r\nX", &h, &used)),
                     static_cast<int>(ProxyParse::done));
    assert_false(h.has_address);
    assert_int_equal(used, 16);
}

void test_v1_invalid(void **) {
    const char *bad[] = {
        "GET / HTTP/1.1\r\n",
        "PROXX TCP4",
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",          // no CR
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n",       // trailing space
        "PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",       // double space
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",            // missing port
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 9\r\n",      // extra field
        "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",            // family mismatch
        "PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
        "PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.2 007 2\r\n",
        "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
        "PROXY \r\n",
    };
    for (const char *b : bad) {
        ProxyHeader h;
        size_t used = 0;
        if (parse(b, &h, &used) != ProxyParse::invalid) fail_msg("accepted: %s", b);
    }
    ProxyHeader h;
    size_t used = 0;
    assert_int_equal(static_cast<int>(parse("PROXY " + std::string(200, 'A'), &h, &used)),
                     static_cast<int>(ProxyParse::invalid));
    // A NUL inside an address: inet_pton would stop there and the rest would ride along into
    // the logs (an escape sequence, another address).
    const std::string with_nul[] = {
        std::string("PROXY TCP4 1.2.3.4\0\x1b[2K\r9.9.9.9 192.0.2.1 4444 443\r\n", 52),
        std::string("PROXY TCP6 ::1\0<evil> ::1 1 2\r\n", 31),
        std::string("PROXY TCP4 192.0.2.1 198.51.100.2\0 1 2\r\n", 40),
    };
    for (const std::string &b : with_nul) {
        if (parse(b, &h, &used) != ProxyParse::invalid)
            fail_msg("accepted a NUL: %zu bytes", b.size());
    }
}

void test_v2(void **) {
    std::string a4("\xc6\x33\x64\x09\x7f\x00\x00\x01\xea\x60\x00\x50", 12);
    std::string hdr = v2(1, 0x11, a4);
    ProxyHeader h;
    size_t used = 0;
    assert_int_equal(static_cast<int>(parse(hdr + "GET", &h, &used)), static_cast<int>(ProxyParse::done));
    assert_int_equal(used, 28);
    assert_string_equal(h.src_ip.c_str(), "198.51.100.9");
    assert_int_equal(h.src_port, 60000);
    assert_int_equal(h.dst_port, 80);
    for (size_t n = 1; n < hdr.size(); n++) {
        ProxyHeader p;
        assert_int_equal(static_cast<int>(parse(hdr.substr(0, n), &p, &used)),
                         static_cast<int>(ProxyParse::incomplete));
    }
    // IPv6, a v4-mapped source shown as IPv4, TLVs after the addresses skipped.
    std::string a6(16, '\0');
    a6[10] = a6[11] = '\xff';
    a6[12] = 10, a6[13] = 0, a6[14] = 0, a6[15] = 1;
    a6 += std::string(15, '\0') + "\x01" + std::string("\x00\x01\x00\x02", 4) + std::string("\x04\x00\x01Z", 4);
    h = ProxyHeader();
    assert_int_equal(static_cast<int>(parse(v2(1, 0x21, a6), &h, &used)), static_cast<int>(ProxyParse::done));
    assert_string_equal(h.src_ip.c_str(), "10.0.0.1");
    assert_string_equal(h.dst_ip.c_str(), "::1");
    assert_int_equal(h.src_port, 1);
    // LOCAL, UNSPEC and UNIX keep the socket's address.
    for (auto [cmd, fam] : {std::pair<int, int>{0, 0x11}, {1, 0x00}, {1, 0x31}}) {
        h = ProxyHeader();
        std::string addr = fam == 0x31 ? std::string(216, '\0') : (fam == 0x11 ? a4 : "");
        assert_int_equal(static_cast<int>(parse(v2(cmd, fam, addr), &h, &used)),
                         static_cast<int>(ProxyParse::done));
        assert_false(h.has_address);
    }
}

void test_v2_invalid(void **) {
    std::string a4(12, '\x01');
    std::string cases[] = {
        kSig + "\x31\x11\x00\x0c" + a4,  // version 3
        v2(2, 0x11, a4),                   // command 2
        v2(1, 0x41, a4),                   // family 4
        v2(1, 0x13, a4),                   // transport 3
        v2(1, 0x12, a4),                   // DGRAM
        v2(1, 0x11, a4.substr(0, 11)),     // short IPv4 block
        v2(1, 0x21, std::string(35, '\0')),
        kSig + "\x21\x11\xff\xff",         // longer than we accept
        std::string("\r\n\r\n\0\r\nQUIT\r", 12),
    };
    for (const std::string &c : cases) {
        ProxyHeader h;
        size_t used = 0;
        assert_int_equal(static_cast<int>(parse(c, &h, &used)), static_cast<int>(ProxyParse::invalid));
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v1_invalid),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_v2_invalid),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
