// Client URL handling (lib/client/url.cpp): absolute URLs, IPv6, ports, and Location
// resolution for redirects.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}

#include <string>

#include "client/url.hpp"

using eddy::client::basic_credentials;
using eddy::client::parse_url;
using eddy::client::parse_ws_url;
using eddy::client::resolve_location;
using eddy::client::Url;

static void test_parse(void **) {
    Url u;
    assert_true(parse_url("http://example.com", &u));
    assert_string_equal(u.scheme.c_str(), "http");
    assert_string_equal(u.host.c_str(), "example.com");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.target.c_str(), "/");
    assert_true(parse_url("HTTPS://Example.COM:8443/a/b?x=1#frag", &u));
    assert_string_equal(u.scheme.c_str(), "https");
    assert_string_equal(u.host.c_str(), "example.com");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.target.c_str(), "/a/b?x=1");
    assert_string_equal(u.host_header().c_str(), "example.com:8443");
    assert_true(parse_url("https://h/?q", &u));
    assert_string_equal(u.host_header().c_str(), "h");
    assert_string_equal(u.target.c_str(), "/?q");
    assert_true(parse_url("http://[::1]:8080/p", &u));
    assert_string_equal(u.host.c_str(), "::1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.host_header().c_str(), "[::1]:8080");
    assert_string_equal(u.origin().c_str(), "http://[::1]:8080");
    assert_true(parse_url("http://h?x", &u));
    assert_string_equal(u.target.c_str(), "/?x");
    // Userinfo is kept apart (for basic credentials) and never part of the URL text.
    assert_true(parse_url("http://us%65r:p%40ss:w@h:81/p", &u));
    assert_string_equal(u.userinfo.c_str(), "us%65r:p%40ss:w");
    assert_string_equal(u.host.c_str(), "h");
    assert_int_equal(u.port, 81);
    assert_string_equal(u.str().c_str(), "http://h:81/p");
}

static void test_reject(void **) {
    Url u;
    const char *bad[] = {"",
                         "example.com",
                         "ftp://h/",
                         "http://",
                         "http:///p",
                         "http://h:0/",
                         "http://h:65536/",
                         "http://h:12a/",
                         "http://u[@h/",
                         "http://u%zz@h/",
                         "http://u:p@/",
                         "http://u:p@ss@h/",
                         "http://h/a b",
                         "http://h/\r\nX: y",
                         "http://[::1/",
                         "http://[::1]x/",
                         "http://a:b:c/",
                         "http://[127.0.0.1]/",
                         // Not a host RFC 3986 allows (it went into Host, CONNECT, lookups).
                         "http://exm\xff\xff/",
                         "http://caf\xc3\xa9.example/",
                         "http://a<b/",
                         "http://h\"/"};
    for (const char *s : bad) {
        if (parse_url(s, &u)) fail_msg("accepted %s", s);
    }
}

// ws and wss share http's authority grammar (RFC 6455 §3) and differ in the default port.
static void test_ws(void **) {
    Url u;
    assert_true(parse_ws_url("WSS://Example.com/chat?room=1#frag", &u));
    assert_string_equal(u.scheme.c_str(), "wss");
    assert_true(u.secure());
    assert_int_equal(u.port, 443);
    assert_string_equal(u.target.c_str(), "/chat?room=1");
    assert_string_equal(u.host_header().c_str(), "example.com");
    assert_true(parse_ws_url("ws://u:p@[::1]:9000?x", &u));
    assert_false(u.secure());
    assert_string_equal(u.host.c_str(), "::1");
    assert_int_equal(u.port, 9000);
    assert_string_equal(u.target.c_str(), "/?x");
    assert_string_equal(u.userinfo.c_str(), "u:p");
    assert_string_equal(u.host_header().c_str(), "[::1]:9000");
    assert_true(parse_ws_url("ws://h:80/", &u));
    assert_string_equal(u.host_header().c_str(), "h");
    const char *bad[] = {"http://h/", "wss:/h/", "ws://", "ws://h:70000/", "ws://h/a b",
                         "ws://[::1/", "ws://u%zz@h/"};
    for (const char *s : bad) {
        if (parse_ws_url(s, &u)) fail_msg("accepted %s", s);
    }
    // And the http parser does not take ws URLs.
    assert_false(parse_url("ws://h/", &u));
}

// RFC 7617's example, and percent-decoded userinfo with an empty password.
static void test_basic_credentials(void **) {
    assert_string_equal(basic_credentials("Aladdin:open%20sesame").c_str(),
                        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    assert_string_equal(basic_credentials("us%65r").c_str(), "Basic dXNlcjo=");
}

static void test_location(void **) {
    Url base, out;
    assert_true(parse_url("https://h:444/dir/page?x=1", &base));
    assert_true(resolve_location(base, "/abs", &out));
    assert_string_equal(out.str().c_str(), "https://h:444/abs");
    assert_true(resolve_location(base, "rel?y", &out));
    assert_string_equal(out.str().c_str(), "https://h:444/dir/rel?y");
    assert_true(resolve_location(base, "?only", &out));
    assert_string_equal(out.str().c_str(), "https://h:444/dir/page?only");
    assert_true(resolve_location(base, "//other/x", &out));
    assert_string_equal(out.str().c_str(), "https://other/x");
    assert_true(resolve_location(base, "http://else:81/y#f", &out));
    assert_string_equal(out.str().c_str(), "http://else:81/y");
    assert_false(resolve_location(base, "", &out));
    // A reference with another scheme is absolute, not a path to follow (RFC 3986 4.3).
    assert_false(resolve_location(base, "mailto:x@y", &out));
    assert_false(resolve_location(base, "javascript:alert(1)", &out));
    assert_false(resolve_location(base, "ftp://h/x", &out));
    assert_true(resolve_location(base, "HTTPS://else/z", &out));
    assert_string_equal(out.target.c_str(), "/z");
    // The base's scheme without an authority: the rest is relative (RFC 3986 5.2.2, not
    // strict; browsers, urljoin). It went to "/dir/https:rel". Another scheme names an
    // http(s) URI without a host (RFC 9110 4.2): not followed.
    assert_true(resolve_location(base, "https:rel", &out));
    assert_string_equal(out.str().c_str(), "https://h:444/dir/rel");
    assert_true(resolve_location(base, "HTTPS:/p?q", &out));
    assert_string_equal(out.str().c_str(), "https://h:444/p?q");
    assert_false(resolve_location(base, "http:rel", &out));
    assert_false(resolve_location(base, "https:", &out));
    assert_true(resolve_location(base, "a/b:c", &out));  // the colon after a slash: a path
    assert_true(resolve_location(base, "1a:b", &out));   // no scheme starts with a digit
    assert_false(resolve_location(base, "/a\nb", &out));
    // A request target is ASCII: raw UTF-8 in a Location or a URL is percent-encoded.
    assert_true(resolve_location(base, "/caf\xc3\xa9?q=\xff", &out));
    assert_string_equal(out.target.c_str(), "/caf%C3%A9?q=%FF");
    assert_true(resolve_location(base, "r\xe9l", &out));
    assert_string_equal(out.target.c_str(), "/dir/r%E9l");
    assert_true(parse_url("http://h/\xc3\xa9", &out));
    assert_string_equal(out.target.c_str(), "/%C3%A9");
    assert_false(resolve_location(base, "https://exm\xff/", &out));
    // RFC 3986 5.2.4 / 5.4: dot segments are removed, never above the root; the query stays.
    Url deep;
    assert_true(parse_url("http://h/x/y/a", &deep));
    const char *const cases[][2] = {
        {"../../../b", "http://h/b"},      {"../b?q=../x", "http://h/x/b?q=../x"},
        {"./c", "http://h/x/y/c"},          {".", "http://h/x/y/"},
        {"..", "http://h/x/"},              {"/p/./q/../r", "http://h/p/r"},
        {"g/..", "http://h/x/y/"},          {"/..", "http://h/"},
    };
    for (const auto &c : cases) {
        assert_true(resolve_location(deep, c[0], &out));
        if (out.str() != c[1]) fail_msg("%s -> %s, want %s", c[0], out.str().c_str(), c[1]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_ws),
        cmocka_unit_test(test_basic_credentials),
        cmocka_unit_test(test_location),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
