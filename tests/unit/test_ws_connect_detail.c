/* eddy_websocket_connect_error_detail's contract, through the public C API over loopback:
 * the detail is there during a failed on_connect and only for that connect's loop; it is ""
 * before, after, for another loop and for NULL. (What the details say for TLS and handshake
 * failures: tests/integration/test_ws_connect_detail.py.) */
#include "test_common.h"

typedef struct {
    eddy_loop *loop, *other;
    int calls, status, frees;
    char detail[256];
    size_t detail_len;
    int terminated;   /* the text ends with a NUL at detail_len */
    size_t other_len; /* what another loop's key gave meanwhile */
    size_t null_len;  /* ... and NULL's */
} connect_result;

static void on_connect(eddy_ws *ws, int status, void *userdata) {
    connect_result *r = userdata;
    r->calls++;
    r->status = status;
    assert_null(ws);
    size_t len = 99;
    const char *d = eddy_websocket_connect_error_detail(r->loop, &len);
    assert_non_null(d);
    r->detail_len = len;
    r->terminated = d[len] == '\0';
    snprintf(r->detail, sizeof r->detail, "%.*s", (int)len, d);
    r->other_len = 99;
    assert_string_equal(eddy_websocket_connect_error_detail(r->other, &r->other_len), "");
    r->null_len = 99;
    assert_string_equal(eddy_websocket_connect_error_detail(NULL, &r->null_len), "");
    /* len may be NULL */
    assert_ptr_equal(eddy_websocket_connect_error_detail(r->loop, NULL), d);
}

static void count_frees(void *userdata) { ((connect_result *)userdata)->frees++; }

static void test_refused_connect_has_a_detail_during_the_callback(void **state) {
    (void)state;
    connect_result r;
    memset(&r, 0, sizeof r);
    r.loop = eddy_loop_new();
    r.other = eddy_loop_new();
    int port = unused_tcp_port();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", port);
    size_t len = 99;
    assert_string_equal(eddy_websocket_connect_error_detail(r.loop, &len), "");
    assert_int_equal(len, 0);
    assert_int_equal(eddy_websocket_connect(r.loop, url, EDDY_NTS, NULL, on_connect, NULL, NULL, &r,
                                            count_frees),
                     0);
    assert_int_equal(run_until_count(r.loop, &r.calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(r.status, EDDY_ECONNREFUSED);
    char want[96];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: Connection refused", port);
    assert_string_equal(r.detail, want);
    assert_int_equal(r.detail_len, strlen(want));
    assert_true(r.terminated);
    assert_int_equal(r.other_len, 0);
    assert_int_equal(r.null_len, 0);
    assert_int_equal(r.frees, 1);
    /* Once the callback returned, nothing is published any more. */
    len = 99;
    assert_string_equal(eddy_websocket_connect_error_detail(r.loop, &len), "");
    assert_int_equal(len, 0);
    eddy_loop_free(r.other);
    eddy_loop_free(r.loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_connect_has_a_detail_during_the_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
