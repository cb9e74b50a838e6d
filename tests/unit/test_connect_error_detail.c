/* eddy_connect_error_detail's contract, through the public C API over loopback: inside a failed
 * callback of eddy_connect, eddy_connect_with_options and eddy_connect_tls it says why (a
 * refused address, a source that cannot be bound, a name that does not resolve), only for
 * that callback's loop; it is "" before, after, inside a successful callback, for another
 * loop, for NULL, and inside a failed WebSocket connect's callback (that one has its own). */
#include "test_common.h"

typedef struct {
    eddy_loop *loop, *other;
    int calls, error, frees;
    int had_stream;
    char detail[512];
    size_t detail_len;
    int terminated;   /* the text ends with a NUL at detail_len */
    size_t other_len; /* what another loop's key gave meanwhile */
    size_t null_len;  /* ... and NULL's */
    int same_without_len;
} connect_result;

static void on_connect(eddy_loop *loop, eddy_stream *stream, int error, void *userdata) {
    connect_result *r = userdata;
    assert_ptr_equal(loop, r->loop);
    r->calls++;
    r->error = error;
    r->had_stream = stream != NULL;
    size_t len = 99;
    const char *d = eddy_connect_error_detail(loop, &len);
    assert_non_null(d);
    r->detail_len = len;
    r->terminated = d[len] == '\0';
    snprintf(r->detail, sizeof r->detail, "%.*s", (int)len, d);
    r->other_len = 99;
    assert_string_equal(eddy_connect_error_detail(r->other, &r->other_len), "");
    r->null_len = 99;
    assert_string_equal(eddy_connect_error_detail(NULL, &r->null_len), "");
    r->same_without_len = eddy_connect_error_detail(loop, NULL) == d; /* len may be NULL */
    if (stream) eddy_stream_close(stream);
}

static void count_frees(void *userdata) { ((connect_result *)userdata)->frees++; }

static void result_init(connect_result *r) {
    memset(r, 0, sizeof *r);
    r->loop = eddy_loop_new();
    r->other = eddy_loop_new();
    assert_non_null(r->loop);
    assert_non_null(r->other);
}

/* Runs r's loop until its callback ran, then checks what every failure shares: the callback
 * ran once with no stream, the detail was terminated, nothing was published for another loop
 * or NULL, and nothing is published any more. */
static void finish_failure(connect_result *r, int want_error) {
    assert_int_equal(run_until_count(r->loop, &r->calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(r->error, want_error);
    assert_false(r->had_stream);
    assert_true(r->terminated);
    assert_int_equal(r->detail_len, strlen(r->detail));
    assert_int_equal(r->other_len, 0);
    assert_int_equal(r->null_len, 0);
    assert_true(r->same_without_len);
    assert_int_equal(r->frees, 1);
    size_t len = 99;
    assert_string_equal(eddy_connect_error_detail(r->loop, &len), "");
    assert_int_equal(len, 0);
}

static void result_done(connect_result *r) {
    eddy_loop_free(r->other);
    eddy_loop_free(r->loop);
}

static void test_refused(void **state) {
    (void)state;
    connect_result r;
    result_init(&r);
    int port = unused_tcp_port();
    size_t len = 99;
    assert_string_equal(eddy_connect_error_detail(r.loop, &len), "");
    assert_int_equal(len, 0);
    assert_int_equal(eddy_connect(r.loop, "127.0.0.1", port, 5, on_connect, &r, count_frees), 0);
    finish_failure(&r, EDDY_ECONNREFUSED);
    char want[96];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: Connection refused", port);
    assert_string_equal(r.detail, want);
    result_done(&r);
}

/* A source address that is not this host's (TEST-NET-1): the bind, not the peer, failed. */
static void test_source_that_cannot_be_bound(void **state) {
    (void)state;
    connect_result r;
    result_init(&r);
    int port = unused_tcp_port();
    eddy_connect_options *o = eddy_connect_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_connect_options_set_source(o, "192.0.2.1", 0), 0);
    assert_int_equal(
        eddy_connect_with_options(r.loop, "127.0.0.1", port, 5, o, on_connect, &r, count_frees), 0);
    eddy_connect_options_free(o);
    finish_failure(&r, EDDY_EADDRNOTAVAIL);
    char want[128];
    snprintf(want, sizeof want,
             "connect to 127.0.0.1:%d: bind source 192.0.2.1: Cannot assign requested address",
             port);
    assert_string_equal(r.detail, want);
    result_done(&r);
}

/* A name that does not resolve. '!' is no host-name character, so the resolver refuses it
 * without asking DNS (a ".invalid" name goes to the configured name server: off loopback). */
static void test_name_that_does_not_resolve(void **state) {
    (void)state;
    connect_result r;
    result_init(&r);
    assert_int_equal(eddy_connect(r.loop, "no-such-host!", 80, 5, on_connect, &r, count_frees), 0);
    finish_failure(&r, EDDY_ERESOLVE);
    const char *want = "name resolution: no-such-host!: ";
    assert_memory_equal(r.detail, want, strlen(want));
    assert_true(r.detail_len > strlen(want)); /* and the resolver's reason */
    result_done(&r);
}

/* eddy_connect_tls's connect goes through the same connector: a refused one says so too. */
static void test_tls_connect_refused(void **state) {
    (void)state;
    connect_result r;
    result_init(&r);
    int port = unused_tcp_port();
    eddy_tls_context *ctx = eddy_tls_context_new_client();
    assert_non_null(ctx);
    assert_int_equal(
        eddy_connect_tls(r.loop, "127.0.0.1", port, 5, ctx, NULL, on_connect, &r, count_frees), 0);
    eddy_tls_context_free(ctx); /* the connect keeps its own reference */
    finish_failure(&r, EDDY_ECONNREFUSED);
    char want[96];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: Connection refused", port);
    assert_string_equal(r.detail, want);
    result_done(&r);
}

/* A successful connect publishes nothing (after a refused address too: test_net's
 * test_connect_success_after_a_refusal_has_no_detail, whose getaddrinfo gives ::1 first). */
static void test_success_has_no_detail(void **state) {
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(lfd, 8), 0);
    socklen_t alen = sizeof addr;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
    int port = ntohs(addr.sin_port);
    const char *hosts[] = {"127.0.0.1", "localhost"}; /* a number, a name */
    for (int i = 0; i < 2; i++) {
        connect_result r;
        result_init(&r);
        assert_int_equal(eddy_connect(r.loop, hosts[i], port, 5, on_connect, &r, count_frees), 0);
        assert_int_equal(run_until_count(r.loop, &r.calls, 1, TEST_WAIT_SECONDS), 1);
        assert_int_equal(r.error, 0);
        assert_true(r.had_stream);
        assert_string_equal(r.detail, "");
        assert_int_equal(r.detail_len, 0);
        result_done(&r);
    }
    close(lfd);
}

/* Each API reports its own connects: a failed WebSocket connect publishes nothing here. */
static int ws_calls, ws_status;
static size_t ws_plain_len = 99, ws_own_len;
static void on_ws_connect(eddy_ws *ws, int status, void *userdata) {
    eddy_loop *loop = userdata;
    assert_null(ws);
    ws_calls++;
    ws_status = status;
    assert_string_equal(eddy_connect_error_detail(loop, &ws_plain_len), "");
    eddy_websocket_connect_error_detail(loop, &ws_own_len);
}

static void test_websocket_failure_is_not_published_here(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", unused_tcp_port());
    assert_int_equal(
        eddy_websocket_connect(loop, url, EDDY_NTS, NULL, on_ws_connect, NULL, NULL, loop, NULL),
        0);
    assert_int_equal(run_until_count(loop, &ws_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ws_status, EDDY_ECONNREFUSED);
    assert_int_equal(ws_plain_len, 0);
    assert_true(ws_own_len > 0); /* the WebSocket's own detail was there */
    eddy_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_source_that_cannot_be_bound),
        cmocka_unit_test(test_name_that_does_not_resolve),
        cmocka_unit_test(test_tls_connect_refused),
        cmocka_unit_test(test_success_has_no_detail),
        cmocka_unit_test(test_websocket_failure_is_not_published_here),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
