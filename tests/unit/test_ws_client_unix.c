/* The WebSocket client over a Unix-domain socket (eddy_ws_options_set_unix_socket), against an
 * eddy WebSocket echo route listening on a socket in a temporary directory:
 * - the handshake and an echo go over the socket, the URL giving the Host field and the
 *   request target (as eddy_fetch_set_unix_socket's fetch does); an abstract socket too;
 * - NULL removes the option: the same options connect over TCP again;
 * - a missing path fails on_connect with EDDY_ENOENT and a detail naming the socket, a path
 *   nobody listens on with EDDY_ECONNREFUSED;
 * - the setter refuses what sun_path cannot hold, as eddy_fetch_set_unix_socket does. */
#include "test_common.h"

#include <sys/socket.h>
#include <sys/un.h>

typedef struct {
    char host[64];
    char path[64];
    int opens;
} seen_open;

static void copy_out(char *dst, size_t size, const char *src, size_t len) {
    if (!src) len = 0;
    if (len >= size) len = size - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

/* The route's open: records the handshake's Host and path. */
static void on_open(eddy_ws *ws, void *userdata) {
    seen_open *seen = userdata;
    eddy_request *req = eddy_handler_request(eddy_ws_handler(ws));
    size_t len = 0;
    const char *v = eddy_request_header(req, "Host", EDDY_NTS, &len);
    copy_out(seen->host, sizeof seen->host, v, len);
    v = eddy_request_path(req, &len);
    copy_out(seen->path, sizeof seen->path, v, len);
    seen->opens++;
}

static void echo(eddy_ws *ws, const char *data, size_t len, int binary, void *userdata) {
    (void)userdata;
    eddy_ws_write_message(ws, data, len, binary, NULL);
}

typedef struct {
    eddy_loop *loop;
    int connected, status, closed, frees;
    char echoed[64];
    char detail[256];
} client_result;

static void client_connect(eddy_ws *ws, int status, void *userdata) {
    client_result *r = userdata;
    r->connected = 1;
    r->status = status;
    if (status < 0) {
        size_t len = 0;
        const char *d = eddy_websocket_connect_error_detail(r->loop, &len);
        copy_out(r->detail, sizeof r->detail, d, len);
        return;
    }
    assert_int_equal(eddy_ws_write_message(ws, "over the socket", 15, 0, NULL), 0);
}

static void client_message(eddy_ws *ws, const char *data, size_t len, int binary, void *userdata) {
    client_result *r = userdata;
    (void)binary;
    copy_out(r->echoed, sizeof r->echoed, data, len);
    eddy_ws_close(ws, 1000, NULL, 0);
}

static void client_close(eddy_ws *ws, int code, const char *reason, size_t len, void *userdata) {
    (void)ws, (void)code, (void)reason, (void)len;
    ((client_result *)userdata)->closed = 1;
}

static void client_free(void *userdata) { ((client_result *)userdata)->frees++; }

typedef struct {
    char dir[64];
    char path[128];
    eddy_loop *loop;
    eddy_app *app;
    seen_open seen;
} fixture;

/* An echo route at /ws; listening on `sock` (a file path or "@name"), and on TCP when
 * `tcp_port` is not NULL (it gets the port). */
static void setup(fixture *fx, const char *sock, int *tcp_port) {
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/eddy-ws-unix-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    if (sock)
        snprintf(fx->path, sizeof fx->path, "%s", sock);
    else
        snprintf(fx->path, sizeof fx->path, "%s/ws.sock", fx->dir);
    fx->loop = eddy_loop_new();
    assert_non_null(fx->loop);
    fx->app = eddy_app_new(fx->loop);
    assert_non_null(fx->app);
    eddy_route *r = eddy_app_add_route(fx->app, "/ws", EDDY_NTS, &fx->seen, NULL);
    assert_non_null(r);
    assert_int_equal(eddy_route_set_websocket(r, on_open, echo, NULL, NULL), 0);
    assert_int_equal(eddy_server_listen_unix(eddy_app_server(fx->app), fx->path), 0);
    if (tcp_port) {
        assert_int_equal(eddy_app_listen(fx->app, "127.0.0.1", 0), 0);
        *tcp_port = eddy_server_port(eddy_app_server(fx->app));
        assert_true(*tcp_port > 0);
    }
}

static void teardown(fixture *fx) {
    eddy_app_free(fx->app);
    eddy_loop_free(fx->loop);
    if (fx->path[0] != '@') unlink(fx->path);
    rmdir(fx->dir);
}

/* Connects to `url` with `options` and runs the exchange to its end. */
static void exchange(eddy_loop *loop, const char *url, const eddy_ws_options *options,
                     client_result *r) {
    memset(r, 0, sizeof *r);
    r->loop = loop;
    assert_int_equal(eddy_websocket_connect(loop, url, EDDY_NTS, options, client_connect,
                                            client_message, client_close, r, client_free),
                     0);
    assert_int_equal(run_until_count(loop, &r->frees, 1, TEST_WAIT_SECONDS), 1);
}

static void test_echo_over_a_unix_socket(void **state) {
    (void)state;
    fixture fx;
    int tcp_port = 0;
    setup(&fx, NULL, &tcp_port);
    eddy_ws_options *o = eddy_ws_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, fx.path), 0);
    assert_int_equal(eddy_ws_options_set_connect_timeout(o, TEST_WAIT_SECONDS), 0);
    client_result r;
    /* No server listens on this host and port: only the socket can answer. */
    exchange(fx.loop, "ws://app.example:1/ws?x=1", o, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.echoed, "over the socket");
    assert_true(r.closed);
    assert_int_equal(fx.seen.opens, 1);
    assert_string_equal(fx.seen.host, "app.example:1");
    assert_string_equal(fx.seen.path, "/ws");

    /* NULL removes it: the same options go over TCP to the URL's host and port. */
    assert_int_equal(eddy_ws_options_set_unix_socket(o, NULL), 0);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", tcp_port);
    exchange(fx.loop, url, o, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.echoed, "over the socket");
    assert_int_equal(fx.seen.opens, 2);
    snprintf(url, sizeof url, "127.0.0.1:%d", tcp_port);
    assert_string_equal(fx.seen.host, url);
    eddy_ws_options_free(o);
    teardown(&fx);
}

static void test_echo_over_an_abstract_socket(void **state) {
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@eddy-ws-unix-test-%d", (int)getpid());
    fixture fx;
    setup(&fx, name, NULL);
    eddy_ws_options *o = eddy_ws_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, name), 0);
    client_result r;
    exchange(fx.loop, "ws://localhost/ws", o, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.echoed, "over the socket");
    assert_string_equal(fx.seen.host, "localhost");
    eddy_ws_options_free(o);
    teardown(&fx);
}

static void test_missing_and_dead_sockets(void **state) {
    (void)state;
    fixture fx;
    setup(&fx, NULL, NULL);
    eddy_ws_options *o = eddy_ws_options_new();
    assert_non_null(o);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.sock", fx.dir);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, missing), 0);
    client_result r;
    exchange(fx.loop, "ws://localhost/ws", o, &r);
    assert_int_equal(r.status, EDDY_ENOENT);
    char want[256];
    snprintf(want, sizeof want, "connect to unix:%s: No such file or directory", missing);
    assert_string_equal(r.detail, want);
    assert_int_equal(fx.seen.opens, 0);

    /* A socket file whose server is gone. */
    char dead[160];
    snprintf(dead, sizeof dead, "%s/dead.sock", fx.dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", dead);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, dead), 0);
    exchange(fx.loop, "ws://localhost/ws", o, &r);
    assert_int_equal(r.status, EDDY_ECONNREFUSED);
    unlink(dead);
    eddy_ws_options_free(o);
    teardown(&fx);
}

static void test_set_unix_socket_refusals(void **state) {
    (void)state;
    eddy_ws_options *o = eddy_ws_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_ws_options_set_unix_socket(NULL, "/tmp/x.sock"), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, ""), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, "@"), EDDY_EINVAL);
    char path[200];
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[108] = '\0'; /* 108 bytes and its NUL: more than sun_path holds */
    assert_int_equal(eddy_ws_options_set_unix_socket(o, path), EDDY_EINVAL);
    path[107] = '\0'; /* 107 and the NUL: it fits */
    assert_int_equal(eddy_ws_options_set_unix_socket(o, path), 0);
    path[0] = '@';
    path[107] = 'a';
    path[108] = '\0'; /* "@" and 107: the abstract name's 108 bytes, no NUL needed */
    assert_int_equal(eddy_ws_options_set_unix_socket(o, path), 0);
    path[108] = 'a';
    path[109] = '\0';
    assert_int_equal(eddy_ws_options_set_unix_socket(o, path), EDDY_EINVAL);
    assert_int_equal(eddy_ws_options_set_unix_socket(o, NULL), 0);
    eddy_ws_options_free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_over_a_unix_socket),
        cmocka_unit_test(test_echo_over_an_abstract_socket),
        cmocka_unit_test(test_missing_and_dead_sockets),
        cmocka_unit_test(test_set_unix_socket_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
