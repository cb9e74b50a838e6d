// Unit tests for the read side of lib/tls/tls_stream.cpp (internal API) over a socketpair, with
// a plain OpenSSL client on the other end that writes records of chosen sizes. The server reads
// ahead: one recv takes every record the socket holds, and SSL_read hands them out one at a
// time. Records OpenSSL still holds when the reader's buffer is full never make the socket
// readable again; they must reach the reader anyway, whatever the record and read sizes.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

// Before cmocka.h, whose fail() macro breaks the standard library's headers.
#include "eddy/common.h"
#include "loop/loop.hpp"
#include "tls/context.hpp"
#include "tls/tls_stream.hpp"

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

using eddy::Loop;
using eddy::Stream;
using eddy::tls::Context;
using eddy::tls::TlsStream;

namespace {

std::string pem_of(int (*write)(BIO *, void *), void *obj) {
    BIO *mem = BIO_new(BIO_s_mem());
    assert_int_equal(write(mem, obj), 1);
    char *data = nullptr;
    long len = BIO_get_mem_data(mem, &data);
    std::string pem(data, static_cast<size_t>(len));
    BIO_free(mem);
    return pem;
}

int write_key(BIO *b, void *k) {
    return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY *>(k), nullptr, nullptr, 0, nullptr,
                                    nullptr);
}
int write_cert(BIO *b, void *x) { return PEM_write_bio_X509(b, static_cast<X509 *>(x)); }

// A server context with a fresh self-signed P-256 certificate for "localhost".
Context *server_context() {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    std::string cert = pem_of(write_cert, x), pkey = pem_of(write_key, key);
    X509_free(x);
    EVP_PKEY_free(key);
    Context *ctx = Context::create(true);
    assert_non_null(ctx);
    assert_int_equal(ctx->load_cert_mem(cert.data(), cert.size(), pkey.data(), pkey.size()), 0);
    return ctx;
}

struct Conn {
    Loop *loop = nullptr;
    TlsStream *server = nullptr;
    SSL_CTX *client_ctx = nullptr;
    SSL *client = nullptr;
    int client_fd = -1;
    std::string sent;
    std::string received;
    size_t read_size = 0;
    bool partial = false;
    int close_error = -1;
    int write_status = -1;
};

void on_close(Stream *, int error, void *arg) {
    Conn *c = static_cast<Conn *>(arg);
    c->server = nullptr;
    c->close_error = error;
}

void on_read(Stream *s, const char *data, size_t len, void *arg) {
    Conn *c = static_cast<Conn *>(arg);
    c->received.append(data, len);
    assert_int_equal(s->read_bytes(c->read_size, c->partial, on_read, c), 0);  // and again
}

void open_conn(Conn *c, Context *ctx) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    c->loop = Loop::create();
    assert_non_null(c->loop);
    c->server = TlsStream::create_server(c->loop, sv[0], ctx);
    assert_non_null(c->server);
    c->server->set_close_callback(on_close, c);
    c->client_ctx = SSL_CTX_new(TLS_client_method());
    c->client = SSL_new(c->client_ctx);
    SSL_set_fd(c->client, sv[1]);
    c->client_fd = sv[1];
    SSL_set_connect_state(c->client);
    bool client_done = false;
    for (int i = 0; i < 1000 && !(client_done && c->server->handshake_done()); i++) {
        if (!client_done) client_done = SSL_do_handshake(c->client) == 1;
        c->loop->run_once(1);
    }
    assert_true(client_done);
    assert_true(c->server->handshake_done());
}

void close_conn(Conn *c) {
    if (c->server) c->server->close(0);
    for (int i = 0; i < 10 && c->server; i++) c->loop->run_once(1);
    SSL_free(c->client);
    SSL_CTX_free(c->client_ctx);
    if (c->client_fd >= 0) close(c->client_fd);
    delete c->loop;
}

// The client writes `records` records of `size` bytes at once (all fit in the socket), then
// the server's loop runs until the reader has every byte it can have (everything when reads
// are partial, whole read_size pieces otherwise) or stops making progress for 50 passes.
// Returns whether it got them, and that they are the bytes sent.
bool send_batch(Conn *c, size_t records, size_t size) {
    // The records go to a memory BIO first, then into the socket in one write: the receiver
    // finds them all there at once, and many small writes would not fit in a socketpair.
    BIO *mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(c->client, mem);  // the SSL owns it; the socket BIO stays for reading
    for (size_t i = 0; i < records; i++) {
        std::string rec(size, static_cast<char>('a' + c->sent.size() % 26));
        c->sent += rec;
        assert_int_equal(SSL_write(c->client, rec.data(), static_cast<int>(rec.size())),
                         static_cast<int>(rec.size()));
    }
    char *cipher = nullptr;
    long len = BIO_get_mem_data(mem, &cipher);
    assert_int_equal(write(c->client_fd, cipher, static_cast<size_t>(len)), len);
    size_t want = c->partial ? c->sent.size() : c->sent.size() - c->sent.size() % c->read_size;
    for (int idle = 0; idle < 50 && c->received.size() < want;) {
        size_t had = c->received.size();
        c->loop->run_once(1);
        idle = c->received.size() == had ? idle + 1 : 0;
    }
    return c->received.size() == want && c->sent.compare(0, want, c->received) == 0;
}

void test_records_held_by_openssl_reach_the_reader(void **) {
    Context *ctx = server_context();
    const size_t record_sizes[] = {8, 16, 32, 64, 128, 256, 1000, 4096};
    const size_t read_sizes[] = {1024, 4096, 65536};
    for (size_t size : record_sizes) {
        for (size_t read_size : read_sizes) {
            for (bool partial : {true, false}) {
                Conn c;
                open_conn(&c, ctx);
                c.read_size = read_size;
                c.partial = partial;
                assert_int_equal(c.server->read_bytes(read_size, partial, on_read, &c), 0);
                // About one read-ahead buffer of records (~16.7 KB, with ~22 bytes of framing
                // per record), give or take, so that the reader's buffer fills at many offsets.
                size_t fit = 16000 / (size + 22);
                for (size_t records : {fit / 2 + 1, fit, fit + 3, 3 * fit}) {
                    if (!send_batch(&c, records, size))
                        fail_msg("record size %zu, read size %zu%s, batch of %zu records: the "
                                 "reader has %zu of %zu bytes sent",
                                 size, read_size, partial ? " (partial)" : "", records,
                                 c.received.size(), c.sent.size());
                }
                close_conn(&c);
            }
        }
    }
    ctx->unref();
}

// A peer that answers and then goes, with our output unread (an HTTPS server refusing an
// upload early with 413), makes the stream's SSL_write fail (EPIPE, ECONNRESET) before it read
// the answer its kernel still holds. As for plain TCP (test_stream.c's
// test_reply_before_reset_survives_failed_write), the records already received are decrypted
// and delivered to the pending read before the stream closes with the write's error: OpenSSL's
// read side is untouched by the socket's write failure. The old code closed at once.
void on_reply_line(Stream *s, const char *data, size_t len, void *arg) {
    Conn *c = static_cast<Conn *>(arg);
    c->received.append(data, len);
    assert_true(s->write_failed());  // closing: writes are refused, reads still served
    assert_int_equal(s->write("x", 1), EDDY_ECLOSED);
    assert_int_equal(s->read_until("\n", 1, 0, on_reply_line, c), 0);
}

void on_big_write(Stream *, int status, void *arg) {
    static_cast<Conn *>(arg)->write_status = status;
}

void test_reply_before_reset_survives_failed_write(void **) {
    Context *ctx = server_context();
    for (bool close_notify : {false, true}) {
        Conn c;
        open_conn(&c, ctx);
        assert_int_equal(c.server->read_until("\n", 1, 0, on_reply_line, &c), 0);
        // More than the socket buffers hold, and the peer reads none of it.
        std::string big(32u << 20, 'u');
        assert_int_equal(c.server->write(big.data(), big.size(), on_big_write, &c), 0);
        for (int i = 0; i < 20; i++) c.loop->run_once(1);
        assert_true(c.server->write_buffer_size() > 0);
        // The answer (two records) and, maybe, the peer's close_notify; then it goes with our
        // output unread, before the loop runs again: the write fails before the read.
        for (const char *line : {"413 too large\n", "bye\n"})
            assert_int_equal(SSL_write(c.client, line, static_cast<int>(strlen(line))),
                             static_cast<int>(strlen(line)));
        if (close_notify) assert_true(SSL_shutdown(c.client) >= 0);
        close(c.client_fd);
        c.client_fd = -1;
        for (int i = 0; i < 1000 && c.server; i++) c.loop->run_once(1);
        assert_null(c.server);
        assert_string_equal(c.received.c_str(), "413 too large\nbye\n");
        // The write's error, not the end of the input the last read met.
        assert_true(c.close_error == EDDY_ECONNRESET);
        assert_int_equal(c.write_status, EDDY_ECLOSED);
        close_conn(&c);
    }
    ctx->unref();
}

// OpenSSL's allocations, counted (main installs these before OpenSSL allocates anything).
size_t g_openssl_allocs = 0;
void *counting_malloc(size_t n, const char *, int) {
    g_openssl_allocs++;
    return malloc(n);
}
void *counting_realloc(void *p, size_t n, const char *, int) {
    if (!p) g_openssl_allocs++;
    return realloc(p, n);
}
void counting_free(void *p, const char *, int) { free(p); }

struct Silent {
    int fds[2] = {-1, -1};
    TlsStream *server = nullptr;
    int close_error = -1;
    std::string failure;
};

void on_silent_close(Stream *s, int error, void *arg) {
    Silent *c = static_cast<Silent *>(arg);
    c->failure = static_cast<TlsStream *>(s)->failure();
    c->server = nullptr;
    c->close_error = error;
}

void open_silent(Silent *c, Loop *loop, Context *ctx) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c->fds), 0);
    c->server = TlsStream::create_server(loop, c->fds[0], ctx);
    assert_non_null(c->server);
    c->server->set_close_callback(on_silent_close, c);
}

// A server stream makes its SSL object when the client's first bytes arrive, not at accept
// (nginx does the same): a connection that sends nothing holds none of OpenSSL's memory (the
// SSL object, its BIO and app data were ~9 KB of the ~10 KB such a connection cost), and one
// that leaves without a byte never makes one. The handshake timeout still counts from the
// accept, and a ClientHello that comes late is served as one that came at once.
void test_server_ssl_waits_for_the_first_byte(void **) {
    Context *ctx = server_context();
    ctx->handshake_timeout = 1;
    Loop *loop = Loop::create();
    assert_non_null(loop);
    Silent quiet, leaving, late;
    size_t allocs = g_openssl_allocs;
    for (Silent *c : {&quiet, &leaving, &late}) open_silent(c, loop, ctx);
    for (int i = 0; i < 5; i++) loop->run_once(10);
    assert_int_equal(g_openssl_allocs - allocs, 0);  // three silent connections: none
    assert_null(quiet.server->server_name());        // asked before the handshake: no SSL, no crash
    assert_null(quiet.server->peer_certificate());

    // Gone without a byte: the failure the handshake would have reported, still no OpenSSL.
    close(leaving.fds[1]);
    leaving.fds[1] = -1;
    for (int i = 0; i < 10 && leaving.server; i++) loop->run_once(10);
    assert_null(leaving.server);
    assert_int_equal(leaving.close_error, EDDY_ETLS);
    assert_string_equal(leaving.failure.c_str(), "the peer closed the connection");
    assert_int_equal(g_openssl_allocs - allocs, 0);

    // A ClientHello 100 ms after the accept: the handshake completes.
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    SSL *client = SSL_new(client_ctx);
    fcntl(late.fds[1], F_SETFL, fcntl(late.fds[1], F_GETFL) | O_NONBLOCK);
    SSL_set_fd(client, late.fds[1]);
    SSL_set_connect_state(client);
    bool client_done = false;
    for (int i = 0; i < 1000 && !(client_done && late.server && late.server->handshake_done());
         i++) {
        if (!client_done) client_done = SSL_do_handshake(client) == 1;
        loop->run_once(1);
    }
    assert_true(client_done);
    assert_non_null(late.server);
    assert_true(late.server->handshake_done());
    assert_true(g_openssl_allocs - allocs > 0);

    // Silent to the end: the handshake timeout (1 s) closes it, as before.
    double start = Loop::now();
    for (int i = 0; i < 300 && quiet.server; i++) loop->run_once(10);
    assert_null(quiet.server);
    assert_int_equal(quiet.close_error, EDDY_ETIMEDOUT);
    assert_true(Loop::now() - start < 3);

    late.server->close(0);
    for (int i = 0; i < 10 && late.server; i++) loop->run_once(1);
    SSL_free(client);
    SSL_CTX_free(client_ctx);
    for (Silent *c : {&quiet, &leaving, &late})
        if (c->fds[1] >= 0) close(c->fds[1]);
    delete loop;
    ctx->unref();
}

}  // namespace

int main(void) {
    // Before OpenSSL allocates anything (it refuses afterwards).
    if (CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) != 1) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_held_by_openssl_reach_the_reader),
        cmocka_unit_test(test_reply_before_reset_survives_failed_write),
        cmocka_unit_test(test_server_ssl_waits_for_the_first_byte),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
