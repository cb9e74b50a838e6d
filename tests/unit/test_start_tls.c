/* Unit tests for STARTTLS (eddy_stream_start_tls) and eddy_stream_wait_for_handshake over real
 * loopback TCP connections, eddy on both ends: a line protocol in plaintext, the upgrade, the
 * same protocol over TLS; what the upgrade refuses; certificate and host name failures; the
 * handshake timeout; a peer that leaves mid-handshake. Certificates (a CA and a "localhost"
 * leaf it signs) are made here with OpenSSL. */
#include "test_common.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- certificates -----------------------------------------------------------------------------
 */

static char *g_ca_pem, *g_leaf_pem, *g_leaf_key_pem;

static char *pem_of_bio(BIO *b) {
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)len + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)len);
    out[len] = 0;
    BIO_free(b);
    return out;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       int serial) {
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"basicConstraints", issuer ? "CA:FALSE" : "critical,CA:TRUE"},
                             {"subjectAltName", "DNS:localhost,IP:127.0.0.1"}};
    for (int i = 0; i < (issuer ? 2 : 1); i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static int group_setup(void **state) {
    (void)state;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *leaf_key = EVP_EC_gen("P-256");
    X509 *ca = make_cert(ca_key, "eddy test CA", NULL, NULL, 1);
    X509 *leaf = make_cert(leaf_key, "localhost", ca, ca_key, 2);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, ca);
    g_ca_pem = pem_of_bio(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, leaf);
    g_leaf_pem = pem_of_bio(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, leaf_key, NULL, NULL, 0, NULL, NULL);
    g_leaf_key_pem = pem_of_bio(b);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    free(g_ca_pem);
    free(g_leaf_pem);
    free(g_leaf_key_pem);
    return 0;
}

static eddy_tls_context *server_context(double handshake_timeout) {
    eddy_tls_context *ctx = eddy_tls_context_new_server();
    assert_non_null(ctx);
    assert_int_equal(
        eddy_tls_context_load_cert_mem(ctx, g_leaf_pem, EDDY_NTS, g_leaf_key_pem, EDDY_NTS), 0);
    assert_int_equal(eddy_tls_context_set_handshake_timeout(ctx, handshake_timeout), 0);
    return ctx;
}

/* A client context that trusts the test CA (`trust` 0: only the system's CAs). */
static eddy_tls_context *client_context(int trust) {
    eddy_tls_context *ctx = eddy_tls_context_new_client();
    assert_non_null(ctx);
    if (trust) assert_int_equal(eddy_tls_context_load_ca_mem(ctx, g_ca_pem, EDDY_NTS), 0);
    return ctx;
}

/* ---- one end of a STARTTLS conversation ---------------------------------------------------- */

typedef struct end {
    eddy_loop *loop;
    eddy_tls_context *ctx;
    int server;
    const char *hostname;
    eddy_stream *plain;
    eddy_stream *tls;  /* the upgraded stream, once cb ran */
    int upgrade_calls; /* how often the start_tls callback ran */
    int upgrade_error; /* its error */
    int upgrade_frees; /* the start_tls userdata's free function */
    int plain_frees;   /* the plain stream's userdata free function */
    int plain_closes;  /* the plain stream's close callback (must stay 0) */
    int start_rc;      /* what eddy_stream_start_tls returned */
    char line[256];    /* the last line read over TLS */
    int lines;
    int tls_closes;
    int tls_close_error;
} end;

static void free_upgrade(void *p) { ((end *)p)->upgrade_frees++; }
static void free_plain(void *p) { ((end *)p)->plain_frees++; }

static void on_plain_close(eddy_stream *s, int error, void *userdata) {
    (void)s;
    (void)error;
    ((end *)userdata)->plain_closes++;
}

static void on_tls_close(eddy_stream *s, int error, void *userdata) {
    (void)s;
    end *e = userdata;
    e->tls_closes++;
    e->tls_close_error = error;
}

static void on_tls_line(eddy_stream *s, const char *data, size_t len, void *userdata) {
    end *e = userdata;
    assert_true(len < sizeof e->line);
    memcpy(e->line, data, len);
    e->line[len] = 0;
    e->lines++;
    if (e->server) { /* echo it back, over TLS */
        char reply[300];
        int n = snprintf(reply, sizeof reply, "echo: %s", e->line);
        assert_int_equal(eddy_stream_write(s, reply, (size_t)n, NULL), 0);
    }
}

static void on_upgraded(eddy_loop *loop, eddy_stream *tls, int error, void *userdata) {
    end *e = userdata;
    assert_ptr_equal(loop, e->loop);
    e->upgrade_calls++;
    e->upgrade_error = error;
    e->tls = tls;
    if (error) {
        assert_null(tls);
        return;
    }
    assert_non_null(tls);
    assert_int_equal(eddy_stream_is_tls(tls), 1);
    assert_null(eddy_stream_get_userdata(tls)); /* a fresh stream: nothing carried over */
    eddy_stream_set_userdata(tls, e, NULL);
    assert_int_equal(eddy_stream_set_close_callback(tls, on_tls_close), 0);
    assert_int_equal(eddy_stream_read_until(tls, "\r\n", 2, 1024, on_tls_line), 0);
}

static void start(end *e) {
    e->start_rc = eddy_stream_start_tls(e->plain, e->ctx, e->server, e->hostname, on_upgraded, e,
                                        free_upgrade);
}

/* Server: the reply to STARTTLS is out; upgrade now, before the client's hello can arrive. */
static void on_ready_sent(eddy_stream *s, int status, void *userdata) {
    (void)s;
    assert_int_equal(status, 0);
    start(userdata);
}

static void on_server_command(eddy_stream *s, const char *data, size_t len, void *userdata) {
    assert_int_equal(len, 10);
    assert_memory_equal(data, "STARTTLS\r\n", 10);
    assert_int_equal(eddy_stream_write(s, "220 go ahead\r\n", 14, on_ready_sent), 0);
    (void)userdata;
}

/* Client: upgrade from inside the read callback of the server's answer (the line is taken). */
static void on_client_ready(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)s;
    assert_int_equal(len, 14);
    assert_memory_equal(data, "220 go ahead\r\n", 14);
    start(userdata);
}

static void make_ends(eddy_loop *loop, end *srv, end *cli, eddy_tls_context *sctx,
                      eddy_tls_context *cctx, const char *hostname) {
    int fds[2];
    make_pair(TRANSPORT_TCP, fds);
    memset(srv, 0, sizeof *srv);
    memset(cli, 0, sizeof *cli);
    srv->loop = cli->loop = loop;
    srv->server = 1;
    srv->ctx = sctx;
    cli->ctx = cctx;
    cli->hostname = hostname;
    srv->plain = eddy_stream_new(loop, fds[0]);
    cli->plain = eddy_stream_new(loop, fds[1]);
    assert_non_null(srv->plain);
    assert_non_null(cli->plain);
    eddy_stream_set_userdata(srv->plain, srv, free_plain);
    eddy_stream_set_userdata(cli->plain, cli, free_plain);
    /* Close callbacks make idle plain streams read ahead: the upgrade must cope. */
    eddy_stream_set_close_callback(srv->plain, on_plain_close);
    eddy_stream_set_close_callback(cli->plain, on_plain_close);
}

/* One end whose peer is the test itself: `e` on fds[0] of a new TCP pair, fds[1] the test's
 * (no userdata, no close callback). */
static void lone_end(eddy_loop *loop, end *e, int server, eddy_tls_context *ctx,
                     const char *hostname, int fds[2]) {
    make_pair(TRANSPORT_TCP, fds);
    memset(e, 0, sizeof *e);
    e->loop = loop;
    e->server = server;
    e->ctx = ctx;
    e->hostname = hostname;
    e->plain = eddy_stream_new(loop, fds[0]);
    assert_non_null(e->plain);
}

/* Runs the plaintext part: the client sends STARTTLS, the server answers and both upgrade. */
static void converse(eddy_loop *loop, end *srv, end *cli) {
    assert_int_equal(eddy_stream_read_until(srv->plain, "\r\n", 2, 1024, on_server_command), 0);
    assert_int_equal(eddy_stream_write(cli->plain, "STARTTLS\r\n", 10, NULL), 0);
    assert_int_equal(eddy_stream_read_until(cli->plain, "\r\n", 2, 1024, on_client_ready), 0);
    int done = 0;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!(srv->upgrade_calls && cli->upgrade_calls) && mono_now() < deadline) {
        assert_int_equal(eddy_loop_run_once(loop, 50), 0);
    }
    done = srv->upgrade_calls && cli->upgrade_calls;
    assert_true(done);
    assert_int_equal(srv->start_rc, 0);
    assert_int_equal(cli->start_rc, 0);
}

/* ---- wait_for_handshake probes ------------------------------------------------------------- */

typedef struct {
    int calls;
    int error;
    int frees;
    int closes_before; /* the stream's close callbacks seen when it ran */
    int *close_counter;
    int inside_call; /* set while eddy_stream_wait_for_handshake runs */
} hs_wait;

static void on_hs(eddy_stream *s, int error, void *userdata) {
    (void)s;
    hs_wait *w = userdata;
    assert_false(w->inside_call);
    w->calls++;
    w->error = error;
    w->closes_before = w->close_counter ? *w->close_counter : 0;
}

static void free_hs(void *p) { ((hs_wait *)p)->frees++; }

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_starttls_line_protocol(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, "localhost");
    converse(loop, &srv, &cli);
    assert_int_equal(srv.upgrade_error, 0);
    assert_int_equal(cli.upgrade_error, 0);
    /* The callback's userdata is released once, after it ran. */
    assert_int_equal(srv.upgrade_frees, 1);
    assert_int_equal(cli.upgrade_frees, 1);
    assert_string_equal(eddy_stream_tls_server_name(srv.tls), "localhost"); /* the SNI sent */

    /* Over TLS: the client says hello, the server echoes it. */
    assert_int_equal(eddy_stream_write(cli.tls, "hello\r\n", 7, NULL), 0);
    run_until_count(loop, &cli.lines, 1, TEST_WAIT_SECONDS);
    assert_string_equal(srv.line, "hello\r\n");
    assert_string_equal(cli.line, "echo: hello\r\n");

    /* The plain streams went without their close callbacks; their userdata was released. */
    assert_int_equal(srv.plain_frees, 1);
    assert_int_equal(cli.plain_frees, 1);
    assert_int_equal(srv.plain_closes, 0);
    assert_int_equal(cli.plain_closes, 0);

    /* Upgraded streams have completed their handshake: told at once, but never inside. */
    hs_wait w = {0};
    w.inside_call = 1;
    assert_int_equal(eddy_stream_wait_for_handshake(srv.tls, on_hs, &w, free_hs), 0);
    assert_int_equal(eddy_stream_wait_for_handshake(srv.tls, on_hs, &w, free_hs), EDDY_EBUSY);
    w.inside_call = 0;
    assert_int_equal(w.calls, 0);
    run_until_count(loop, &w.calls, 1, TEST_WAIT_SECONDS);
    assert_int_equal(w.error, 0);
    assert_int_equal(w.frees, 1);

    /* Already TLS: no second upgrade. */
    assert_int_equal(eddy_stream_start_tls(cli.tls, cctx, 0, "localhost", on_upgraded, &cli, NULL),
                     EDDY_ESTATE);

    /* A clean end: the client closes, the server's TLS stream sees the close. */
    eddy_stream_close(cli.tls);
    run_until_count(loop, &srv.tls_closes, 1, TEST_WAIT_SECONDS);
    run_until_count(loop, &cli.tls_closes, 1, TEST_WAIT_SECONDS);
    assert_int_equal(cli.tls_close_error, 0);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

/* max_buffer_size over TLS: a record of eight 200-byte lines arriving at once, past the
 * 1024-byte limit, is read in pieces within it (the rest waits decrypted in OpenSSL), and
 * every line is delivered. The TLS read took whatever libevent reserved, beyond the stream's
 * bound: the whole record, and the stream closed with EDDY_ETOOBIG after the first line. */
static void test_max_buffer_size_burst_over_tls(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, "localhost");
    converse(loop, &srv, &cli);
    assert_int_equal(eddy_stream_set_max_buffer_size(srv.tls, 1024), 0);
    char burst[8 * 200];
    for (int i = 0; i < 8; i++) {
        memset(burst + i * 200, 'a' + i, 198);
        memcpy(burst + i * 200 + 198, "\r\n", 2);
    }
    assert_int_equal(eddy_stream_write(cli.tls, burst, sizeof burst, NULL), 0);
    for (int i = 0; i < 8; i++) {
        if (i > 0)
            assert_int_equal(eddy_stream_read_until(srv.tls, "\r\n", 2, 1024, on_tls_line), 0);
        assert_int_equal(run_until_count(loop, &srv.lines, i + 1, TEST_WAIT_SECONDS), i + 1);
        assert_int_equal(strlen(srv.line), 200);
        assert_int_equal(srv.line[0], 'a' + i);
        assert_int_equal(srv.tls_closes, 0);
    }
    eddy_stream_close(cli.tls);
    eddy_stream_close(srv.tls);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

static void on_one_byte(eddy_stream *s, const char *data, size_t len, void *userdata) {
    end *e = userdata;
    (void)data;
    (void)len;
    /* One byte taken, the other still buffered: the upgrade would lose or misread it. */
    e->start_rc =
        eddy_stream_start_tls(s, e->ctx, e->server, e->hostname, on_upgraded, e, free_upgrade);
    e->lines++;
}

static void on_any(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)s;
    (void)data;
    (void)len;
    ((end *)userdata)->lines++;
}

static void test_refusals(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    eddy_tls_context *no_cert = eddy_tls_context_new_server();
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, "localhost");
    eddy_stream *s = srv.plain;

    /* Bad arguments and contexts of the wrong kind. */
    assert_int_equal(eddy_stream_start_tls(NULL, sctx, 1, NULL, on_upgraded, &srv, NULL),
                     EDDY_EINVAL);
    assert_int_equal(eddy_stream_start_tls(s, NULL, 1, NULL, on_upgraded, &srv, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_start_tls(s, sctx, 1, NULL, NULL, &srv, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_start_tls(s, cctx, 1, NULL, on_upgraded, &srv, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_start_tls(s, no_cert, 1, NULL, on_upgraded, &srv, NULL),
                     EDDY_EINVAL);
    assert_int_equal(eddy_stream_start_tls(s, sctx, 0, "localhost", on_upgraded, &srv, NULL),
                     EDDY_EINVAL);
    /* A verifying client must say whom it expects. */
    assert_int_equal(eddy_stream_start_tls(s, cctx, 0, NULL, on_upgraded, &srv, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_start_tls(s, cctx, 0, "", on_upgraded, &srv, NULL), EDDY_EINVAL);
    /* Not TLS: nothing to wait for. */
    assert_int_equal(eddy_stream_wait_for_handshake(s, on_hs, NULL, NULL), EDDY_EINVAL);

    /* A pending read. */
    assert_int_equal(eddy_stream_read_until(s, "\r\n", 2, 1024, on_any), 0);
    assert_int_equal(eddy_stream_start_tls(s, sctx, 1, NULL, on_upgraded, &srv, NULL), EDDY_EBUSY);
    /* The refused stream is unchanged: the read still completes. */
    assert_int_equal(eddy_stream_write(cli.plain, "one\r\n", 5, NULL), 0);
    run_until_count(loop, &srv.lines, 1, TEST_WAIT_SECONDS);

    /* Output not sent yet (no loop pass since the write). */
    assert_int_equal(eddy_stream_write(s, "x", 1, NULL), 0);
    assert_int_equal(eddy_stream_start_tls(s, sctx, 1, NULL, on_upgraded, &srv, NULL), EDDY_EBUSY);
    assert_int_equal(eddy_stream_read_bytes(cli.plain, 1, 0, on_any), 0);
    run_until_count(loop, &cli.lines, 1, TEST_WAIT_SECONDS);

    /* Input buffered beyond what a read callback is handed. */
    srv.lines = 0;
    assert_int_equal(eddy_stream_write(cli.plain, "ab", 2, NULL), 0);
    /* Both bytes arrive before the read is issued (a blocking peek on a dup of the fd). */
    {
        int fd = dup(eddy_stream_fd(s));
        char buf[2];
        set_rcv_timeout(fd, TEST_WAIT_SECONDS);
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        for (int i = 0; i < 100; i++) {
            assert_int_equal(eddy_loop_run_once(loop, 10), 0);
            if (recv(fd, buf, 2, MSG_PEEK | MSG_DONTWAIT) == 2) break;
        }
        fcntl(fd, F_SETFL, flags);
        close(fd);
    }
    assert_int_equal(eddy_stream_read_bytes(s, 1, 0, on_one_byte), 0);
    run_until_count(loop, &srv.lines, 1, TEST_WAIT_SECONDS);
    assert_int_equal(srv.start_rc, EDDY_ESTATE);
    /* ... and outside a callback too, while "b" waits. */
    assert_int_equal(eddy_stream_start_tls(s, sctx, 1, NULL, on_upgraded, &srv, NULL), EDDY_ESTATE);
    srv.lines = 0;
    assert_int_equal(eddy_stream_read_bytes(s, 1, 0, on_any), 0);
    run_until_count(loop, &srv.lines, 1, TEST_WAIT_SECONDS);

    /* Closed. */
    eddy_stream_close(s);
    assert_int_equal(eddy_stream_start_tls(s, sctx, 1, NULL, on_upgraded, &srv, free_upgrade),
                     EDDY_ECLOSED);
    run_until_count(loop, &srv.plain_closes, 1, TEST_WAIT_SECONDS);
    assert_int_equal(srv.upgrade_calls, 0);
    assert_int_equal(srv.upgrade_frees, 0); /* refused: the caller kept its userdata */

    /* The peer sees the close (its stream is gone after that: not closed again here). */
    run_until_count(loop, &cli.plain_closes, 1, TEST_WAIT_SECONDS);
    assert_int_equal(cli.plain_closes, 1);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_tls_context_free(no_cert);
    eddy_loop_free(loop);
}

/* The client does not trust the server's certificate, or expects another name: both ends fail,
 * nobody gets a stream, every userdata is released once. */
static void failed_verification(int trust, const char *hostname) {
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(trust);
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, hostname);
    converse(loop, &srv, &cli);
    assert_int_equal(cli.upgrade_error, EDDY_ETLS);
    assert_null(cli.tls);
    /* The server learns of it from the client's alert, or the close. */
    assert_int_equal(srv.upgrade_error, EDDY_ETLS);
    assert_null(srv.tls);
    assert_int_equal(srv.upgrade_frees, 1);
    assert_int_equal(cli.upgrade_frees, 1);
    run_until_count(loop, &cli.plain_frees, 1, TEST_WAIT_SECONDS);
    run_until_count(loop, &srv.plain_frees, 1, TEST_WAIT_SECONDS);
    assert_int_equal(srv.plain_closes + cli.plain_closes, 0);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

static void test_untrusted_certificate(void **state) {
    (void)state;
    failed_verification(0, "localhost");
}

static void test_host_name_mismatch(void **state) {
    (void)state;
    failed_verification(1, "other.example");
}

/* The server upgrades, the peer never starts its handshake: the context's timeout ends it. */
static void test_handshake_timeout(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(0.2);
    int fds[2];
    end srv;
    lone_end(loop, &srv, 1, sctx, NULL, fds);
    start(&srv);
    assert_int_equal(srv.start_rc, 0);
    run_until_count(loop, &srv.upgrade_calls, 1, TEST_WAIT_SECONDS);
    assert_int_equal(srv.upgrade_error, EDDY_ETIMEDOUT);
    assert_int_equal(srv.upgrade_frees, 1);
    close(fds[1]);
    eddy_tls_context_free(sctx);
    eddy_loop_free(loop);
}

/* The peer closes during the handshake: the client's, then the server's upgrade fails. */
static void test_peer_closes_mid_handshake(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(0);
    /* A client that verifies nothing may name no host (its hello then carries no SNI). */
    assert_int_equal(eddy_tls_context_set_verify(cctx, EDDY_TLS_VERIFY_NONE), 0);
    for (int server = 0; server <= 1; server++) {
        int fds[2];
        end e;
        lone_end(loop, &e, server, server ? sctx : cctx, NULL, fds);
        start(&e);
        assert_int_equal(e.start_rc, 0);
        if (!server) { /* the ClientHello is out: the "server" reads it and leaves */
            char buf[16];
            set_rcv_timeout(fds[1], TEST_WAIT_SECONDS);
            for (int i = 0; i < 100; i++) {
                assert_int_equal(eddy_loop_run_once(loop, 10), 0);
                if (recv(fds[1], buf, sizeof buf, MSG_DONTWAIT) > 0) break;
            }
        }
        close(fds[1]);
        run_until_count(loop, &e.upgrade_calls, 1, TEST_WAIT_SECONDS);
        assert_int_equal(e.upgrade_error, EDDY_ETLS);
        assert_null(e.tls);
        assert_int_equal(e.upgrade_frees, 1);
    }
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

/* The loop goes while a handshake is under way: no callback, but the userdata is released. */
static void test_loop_freed_mid_handshake(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10);
    int fds[2];
    end srv;
    lone_end(loop, &srv, 1, sctx, NULL, fds);
    start(&srv);
    assert_int_equal(srv.start_rc, 0);
    assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    eddy_loop_free(loop);
    assert_int_equal(srv.upgrade_calls, 0);
    assert_int_equal(srv.upgrade_frees, 1);
    close(fds[1]);
    eddy_tls_context_free(sctx);
}

/* ---- wait_for_handshake on a listener's TLS streams ---------------------------------------- */

typedef struct {
    eddy_loop *loop;
    eddy_listener *listener;
    hs_wait wait;
    int closes;
    int close_error;
} hs_server;

static void on_hs_server_close(eddy_stream *s, int error, void *userdata) {
    (void)s;
    hs_server *h = userdata;
    h->closes++;
    h->close_error = error;
}

static void on_hs_accept(eddy_listener *l, eddy_stream *s, const char *ip, int port, void *ud) {
    (void)l;
    (void)ip;
    (void)port;
    hs_server *h = ud;
    eddy_stream_set_userdata(s, h, NULL);
    eddy_stream_set_close_callback(s, on_hs_server_close);
    h->wait.close_counter = &h->closes;
    h->wait.inside_call = 1;
    assert_int_equal(eddy_stream_wait_for_handshake(s, on_hs, &h->wait, free_hs), 0);
    assert_int_equal(eddy_stream_wait_for_handshake(s, on_hs, &h->wait, free_hs), EDDY_EBUSY);
    h->wait.inside_call = 0;
}

static void on_tls_connected(eddy_loop *loop, eddy_stream *s, int error, void *userdata) {
    (void)loop;
    assert_int_equal(error, 0);
    *(eddy_stream **)userdata = s;
}

static void test_wait_for_handshake(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    hs_server h;
    memset(&h, 0, sizeof h);
    h.loop = loop;
    h.listener = eddy_listener_new(loop, on_hs_accept, &h, NULL);
    assert_non_null(h.listener);
    assert_int_equal(eddy_listener_bind(h.listener, "127.0.0.1", 0, 16, 0), 0);
    assert_int_equal(eddy_listener_set_tls(h.listener, sctx), 0);
    int port = eddy_listener_port(h.listener);

    /* A TLS client: the wait ends with 0 once the handshake is done. */
    eddy_stream *client = NULL;
    assert_int_equal(eddy_connect_tls(loop, "127.0.0.1", port, 10, cctx, "localhost",
                                      on_tls_connected, &client, NULL),
                     0);
    run_until_count(loop, &h.wait.calls, 1, TEST_WAIT_SECONDS);
    assert_int_equal(h.wait.error, 0);
    assert_int_equal(h.wait.frees, 1);
    assert_int_equal(h.wait.closes_before, 0);
    assert_non_null(client);
    eddy_stream_close(client);
    run_until_count(loop, &h.closes, 1, TEST_WAIT_SECONDS);

    /* A plain client that says something else and leaves: the wait gets the failure, before
     * the close callback. */
    memset(&h.wait, 0, sizeof h.wait);
    h.closes = 0;
    int fd = tcp_connect_v4(port);
    assert_true(fd >= 0);
    write_all(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    run_until_count(loop, &h.wait.calls, 1, TEST_WAIT_SECONDS);
    assert_int_equal(h.wait.error, EDDY_ETLS);
    assert_int_equal(h.wait.closes_before, 0);
    assert_int_equal(h.wait.frees, 1);
    run_until_count(loop, &h.closes, 1, TEST_WAIT_SECONDS);
    assert_int_equal(h.close_error, EDDY_ETLS);
    close(fd);

    eddy_listener_free(h.listener);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

/* ---- ownership probes (from the review) ------------------------------------------------- */

/* A: the loop goes right after start_tls, before any pass (the plain stream's release is still
 * posted, the TLS stream has not said hello yet). */
static void test_loop_freed_at_once(void **state) {
    (void)state;
    for (int server = 0; server <= 1; server++) {
        eddy_loop *loop = eddy_loop_new();
        eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
        int fds[2];
        end e;
        lone_end(loop, &e, server, server ? sctx : cctx, "localhost", fds);
        eddy_stream_set_userdata(e.plain, &e, free_plain);
        eddy_stream_set_close_callback(e.plain, on_plain_close);
        start(&e);
        assert_int_equal(e.start_rc, 0);
        eddy_loop_free(loop);
        assert_int_equal(e.upgrade_calls, 0);
        assert_int_equal(e.upgrade_frees, 1);
        assert_int_equal(e.plain_frees, 1);
        assert_int_equal(e.plain_closes, 0);
        close(fds[1]);
        eddy_tls_context_free(sctx);
        eddy_tls_context_free(cctx);
    }
}

/* B: the receiver closes the TLS stream inside the start_tls callback, after registering a
 * handshake wait: the wait says 0 (never inside), the close callback runs once. */
static hs_wait g_b_wait;
static int g_b_closes;
static void on_b_close(eddy_stream *s, int error, void *ud) {
    (void)s;
    (void)error;
    (void)ud;
    g_b_closes++;
}
static void on_upgraded_close_at_once(eddy_loop *loop, eddy_stream *tls, int error,
                                      void *userdata) {
    (void)loop;
    end *e = userdata;
    e->upgrade_calls++;
    e->upgrade_error = error;
    if (error) return;
    g_b_wait.inside_call = 1;
    assert_int_equal(eddy_stream_wait_for_handshake(tls, on_hs, &g_b_wait, free_hs), 0);
    g_b_wait.inside_call = 0;
    eddy_stream_set_close_callback(tls, on_b_close);
    assert_int_equal(eddy_stream_write(tls, "bye\r\n", 5, NULL), 0);
    eddy_stream_close(tls);
}
static void on_ready_sent_b(eddy_stream *s, int status, void *userdata) {
    end *e = userdata;
    assert_int_equal(status, 0);
    e->start_rc =
        eddy_stream_start_tls(s, e->ctx, 1, NULL, on_upgraded_close_at_once, e, free_upgrade);
}
static void on_server_command_b(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)data;
    (void)len;
    (void)userdata;
    assert_int_equal(eddy_stream_write(s, "220 go ahead\r\n", 14, on_ready_sent_b), 0);
}
static void test_close_inside_done(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, "localhost");
    memset(&g_b_wait, 0, sizeof g_b_wait);
    assert_int_equal(eddy_stream_read_until(srv.plain, "\r\n", 2, 1024, on_server_command_b), 0);
    assert_int_equal(eddy_stream_write(cli.plain, "STARTTLS\r\n", 10, NULL), 0);
    assert_int_equal(eddy_stream_read_until(cli.plain, "\r\n", 2, 1024, on_client_ready), 0);
    /* the client uses the normal callback; the server closes at once */
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!(srv.upgrade_calls && cli.upgrade_calls) && mono_now() < deadline)
        assert_int_equal(eddy_loop_run_once(loop, 50), 0);
    for (int i = 0; i < 20; i++) assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    assert_int_equal(srv.upgrade_error, 0);
    assert_int_equal(g_b_wait.calls, 1);
    assert_int_equal(g_b_wait.error, 0);
    assert_int_equal(g_b_wait.frees, 1);
    assert_int_equal(g_b_closes, 1);
    assert_int_equal(srv.upgrade_frees, 1);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

/* C: a wait registered on a handshaken stream, then the loop freed before the pass ends:
 * only the release runs. */
static void test_wait_then_loop_freed(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, "localhost");
    converse(loop, &srv, &cli);
    hs_wait w = {0};
    assert_int_equal(eddy_stream_wait_for_handshake(srv.tls, on_hs, &w, free_hs), 0);
    hs_wait w2 = {0};
    assert_int_equal(eddy_stream_wait_for_handshake(cli.tls, on_hs, &w2, free_hs), 0);
    eddy_stream_close(cli.tls);
    eddy_loop_free(loop);
    assert_int_equal(w.calls, 0);
    assert_int_equal(w.frees, 1);
    assert_int_equal(w2.frees, 1);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
}

/* D: injection on the client side: the "server" answers 220 and appends plaintext in the same
 * segment: the client's upgrade (from the read callback) must be refused. */
static void test_client_injection(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *cctx = client_context(1);
    int fds[2];
    end e;
    lone_end(loop, &e, 0, cctx, "localhost", fds);
    eddy_stream_set_userdata(e.plain, &e, NULL);
    write_all(fds[1], "220 go ahead\r\n250 injected\r\n", 28);
    assert_int_equal(eddy_stream_read_until(e.plain, "\r\n", 2, 1024, on_client_ready), 0);
    for (int i = 0; i < 50 && !e.start_rc && !e.upgrade_calls; i++)
        assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    assert_int_equal(e.start_rc, EDDY_ESTATE);
    eddy_stream_close(e.plain);
    close(fds[1]);
    eddy_loop_run_once(loop, 10);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

/* E: two plaintext writes flushed together; the first one's callback upgrades. The header says
 * the stream must have nothing "written ... whose callback has not run yet": the second write's
 * callback has not run, so EDDY_EBUSY is expected; the second callback then runs on the spent
 * stream. */
static int g_e_second_status = -999, g_e_second_calls, g_e_second_write_rc = -999;
static void on_e_first(eddy_stream *s, int status, void *userdata) {
    end *e = userdata;
    assert_int_equal(status, 0);
    e->start_rc = eddy_stream_start_tls(s, e->ctx, 1, NULL, on_upgraded, e, free_upgrade);
}
static void on_e_second(eddy_stream *s, int status, void *userdata) {
    (void)userdata;
    g_e_second_calls++;
    g_e_second_status = status;
    g_e_second_write_rc = eddy_stream_write(s, "late\r\n", 6, NULL);
}
static void test_first_of_two_write_callbacks(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *sctx = server_context(10), *cctx = client_context(1);
    end srv, cli;
    make_ends(loop, &srv, &cli, sctx, cctx, "localhost");
    srv.start_rc = -999;
    assert_int_equal(eddy_stream_write(srv.plain, "250 a\r\n", 7, on_e_first), 0);
    assert_int_equal(eddy_stream_write(srv.plain, "220 b\r\n", 7, on_e_second), 0);
    for (int i = 0; i < 20 && !g_e_second_calls; i++)
        assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    for (int i = 0; i < 5; i++) eddy_loop_run_once(loop, 10);
    eddy_tls_context_free(sctx);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
    assert_int_equal(srv.start_rc, EDDY_EBUSY);
    assert_int_equal(g_e_second_calls, 1);
    assert_int_equal(g_e_second_status, 0);
    assert_int_equal(g_e_second_write_rc, 0); /* the stream was not spent */
}

/* eddy_connect_tls verifies the name it is given: an empty one (which would verify the chain
 * but not whose it is) is refused with a verifying context, as eddy_stream_start_tls does. */
static void never_connected(eddy_loop *loop, eddy_stream *stream, int error, void *userdata) {
    (void)loop;
    (void)stream;
    (void)error;
    (void)userdata;
    fail();
}

static void test_connect_tls_refuses_an_empty_name(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *cctx = client_context(1);
    assert_int_equal(
        eddy_connect_tls(loop, "127.0.0.1", 9, 1.0, cctx, "", never_connected, NULL, NULL),
        EDDY_EINVAL);
    assert_int_equal(eddy_connect_tls(loop, "", 9, 1.0, cctx, NULL, never_connected, NULL, NULL),
                     EDDY_EINVAL);
    eddy_tls_context_free(cctx);
    eddy_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starttls_line_protocol),
        cmocka_unit_test(test_max_buffer_size_burst_over_tls),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_untrusted_certificate),
        cmocka_unit_test(test_host_name_mismatch),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_peer_closes_mid_handshake),
        cmocka_unit_test(test_loop_freed_mid_handshake),
        cmocka_unit_test(test_wait_for_handshake),
        cmocka_unit_test(test_loop_freed_at_once),
        cmocka_unit_test(test_close_inside_done),
        cmocka_unit_test(test_wait_then_loop_freed),
        cmocka_unit_test(test_client_injection),
        cmocka_unit_test(test_first_of_two_write_callbacks),
        cmocka_unit_test(test_connect_tls_refuses_an_empty_name),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
