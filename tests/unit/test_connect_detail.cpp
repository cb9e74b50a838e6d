// Connector::failure() (lib/net/connect.cpp, internal API) for a source address that cannot be
// bound (ConnectOptions: eddy_connect_options_set_source): the detail says it was the bind of
// the source, not the connect to the peer — EADDRNOTAVAIL's "Cannot assign requested address"
// alone reads as if the peer's address were wrong. Over loopback, nothing listening needed:
// the bind fails before any connect.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

// Before cmocka.h, whose fail() macro breaks the standard library's headers.
#include "eddy/common.h"
#include "loop/loop.hpp"
#include "net/connect.hpp"

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

using eddy::ConnectOptions;
using eddy::Connector;
using eddy::Loop;

namespace {

struct Outcome {
    bool done = false;
    int error = 0;
    std::string failure;
};

void on_done(Connector *c, eddy::Stream *stream, int error, void *arg) {
    auto *o = static_cast<Outcome *>(arg);
    assert_null(stream);
    o->done = true;
    o->error = error;
    o->failure = c->failure();
}

// A loopback port nothing listens on now (bound, then closed).
int unused_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    assert_int_equal(bind(fd, reinterpret_cast<sockaddr *>(&sin), sizeof sin), 0);
    assert_int_equal(getsockname(fd, reinterpret_cast<sockaddr *>(&sin), &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

// Connects to host:port with `options` and returns what the connector said.
Outcome run(const char *host, int port, const ConnectOptions &options) {
    Loop *loop = Loop::create();
    assert_non_null(loop);
    Outcome o;
    assert_int_equal(Connector::start(loop, host, port, 5, on_done, &o, nullptr, nullptr, &options),
                     0);
    for (int i = 0; i < 500 && !o.done; i++) loop->run_once(10);
    delete loop;
    assert_true(o.done);
    return o;
}

ConnectOptions source(const char *ip, int port) {
    ConnectOptions o;
    o.bind_source = true;
    o.source_port = port;
    if (ip) {
        o.source_has_ip = true;
        auto *sin = reinterpret_cast<sockaddr_in *>(&o.source);
        auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&o.source);
        if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            o.source_len = sizeof *sin;
        } else {
            assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
            sin6->sin6_family = AF_INET6;
            o.source_len = sizeof *sin6;
        }
    }
    return o;
}

void test_a_source_address_that_is_not_local(void **) {
    // TEST-NET-1: no address of this host.
    // The bind fails before any connect: the port (this suite's range) is never reached.
    Outcome o = run("127.0.0.1", 24519, source("192.0.2.1", 0));
    assert_int_equal(o.error, EDDY_EADDRNOTAVAIL);
    assert_string_equal(o.failure.c_str(),
                        "connect to 127.0.0.1:24519: bind source 192.0.2.1: Cannot assign "
                        "requested address");
}

void test_a_source_address_and_port(void **) {
    Outcome o = run("127.0.0.1", 24519, source("192.0.2.1", 5000));
    assert_int_equal(o.error, EDDY_EADDRNOTAVAIL);
    assert_string_equal(o.failure.c_str(),
                        "connect to 127.0.0.1:24519: bind source 192.0.2.1:5000: Cannot assign "
                        "requested address");
}

void test_a_connect_refused_is_still_a_connect(void **) {
    // The bind works (127.0.0.2 is local on Linux); the peer refuses: no "bind source".
    int port = unused_port();
    Outcome o = run("127.0.0.1", port, source("127.0.0.2", 0));
    assert_int_equal(o.error, EDDY_ECONNREFUSED);
    assert_string_equal(
        o.failure.c_str(),
        ("connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused").c_str());
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_source_address_that_is_not_local),
        cmocka_unit_test(test_a_source_address_and_port),
        cmocka_unit_test(test_a_connect_refused_is_still_a_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
