/* The HTTP client over a Unix-domain socket (eddy_fetch_set_unix_socket, curl's --unix-socket),
 * against an eddy server listening on a socket in a temporary directory:
 * - GET and POST with a body reach it, the URL giving the Host field and the request target;
 *   a redirect within the origin stays on the socket;
 * - two requests share one kept-alive connection, pooled per socket path: a TCP fetch to the
 *   same origin does not get it, nor the socket one the TCP connection;
 * - the client's proxy is not used for the socket (curl ignores it too);
 * - a missing path, a file that is no socket and a socket nobody listens on fail with their
 *   code and a detail naming the socket; the setter refuses what sun_path cannot hold. */
#include "test_common.h"

#include <sys/stat.h>
#include <sys/un.h>

#define TCP_PORT 24517 /* this test's loopback port (the suite's range) */

typedef struct {
    int requests;
    char method[16];
    char path[64];
    char host[64];
    char remote_ip[64];
    char body[64];
} seen_request;

static void copy_out(char *dst, size_t size, const char *src, size_t len) {
    if (!src) len = 0;
    if (len >= size) len = size - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Answers "ok <method> <path>"; /redirect answers 302 to /final (a relative Location). */
static void on_request(eddy_request *req, void *userdata) {
    seen_request *seen = userdata;
    size_t len = 0;
    const char *v = eddy_request_method(req, &len);
    copy_out(seen->method, sizeof seen->method, v, len);
    v = eddy_request_path(req, &len);
    copy_out(seen->path, sizeof seen->path, v, len);
    v = eddy_request_header(req, "Host", EDDY_NTS, &len);
    copy_out(seen->host, sizeof seen->host, v, len);
    v = eddy_request_remote_ip(req);
    copy_out(seen->remote_ip, sizeof seen->remote_ip, v, v ? strlen(v) : 0);
    v = eddy_request_body(req, &len);
    copy_out(seen->body, sizeof seen->body, v, len);
    seen->requests++;
    if (!strcmp(seen->path, "/redirect")) {
        eddy_request_set_status(req, 302, NULL, 0);
        eddy_request_set_header(req, "Location", EDDY_NTS, "/final", EDDY_NTS);
        eddy_request_finish(req);
        return;
    }
    char answer[128];
    int n = snprintf(answer, sizeof answer, "ok %s %s", seen->method, seen->path);
    eddy_request_write(req, answer, (size_t)n);
    eddy_request_finish(req);
}

typedef struct {
    int done;
    int error;
    int status;
    int reused;
    int redirects;
    char body[128];
    char detail[256];
} outcome;

static void on_done(eddy_fetch *fetch, int error, void *userdata) {
    outcome *o = userdata;
    size_t len = 0;
    const char *b = eddy_fetch_response_body(fetch, &len);
    copy_out(o->body, sizeof o->body, b, len);
    b = eddy_fetch_error_detail(fetch, &len);
    copy_out(o->detail, sizeof o->detail, b, len);
    o->error = error;
    o->status = eddy_fetch_response_status(fetch);
    o->reused = eddy_fetch_connection_reused(fetch);
    o->redirects = eddy_fetch_redirect_count(fetch);
    o->done = 1;
}

/* Runs `method` `url` over `sock` (NULL: TCP) with `body` (NULL: none) to its end. */
static void fetch_over(eddy_loop *loop, eddy_client *client, const char *method, const char *url,
                       const char *sock, const char *body, outcome *o) {
    memset(o, 0, sizeof *o);
    eddy_fetch *f = eddy_fetch_new(client, method, url);
    assert_non_null(f);
    if (sock) assert_int_equal(eddy_fetch_set_unix_socket(f, sock), 0);
    if (body) assert_int_equal(eddy_fetch_set_body(f, body, strlen(body)), 0);
    assert_int_equal(eddy_fetch_set_connect_timeout(f, TEST_WAIT_SECONDS), 0);
    assert_int_equal(eddy_fetch_start(f, on_done, o, NULL), 0);
    assert_true(run_until_flag(loop, &o->done, TEST_WAIT_SECONDS + 1));
}

typedef struct {
    char dir[64];
    char path[128];
    eddy_loop *loop;
    eddy_server *server;
    eddy_client *client;
    seen_request seen;
} fixture;

static void setup(fixture *fx) {
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/eddy-client-unix-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/app.sock", fx->dir);
    fx->loop = eddy_loop_new();
    assert_non_null(fx->loop);
    fx->server = eddy_server_new(fx->loop, on_request, &fx->seen, NULL);
    assert_non_null(fx->server);
    assert_int_equal(eddy_server_listen_unix(fx->server, fx->path), 0);
    fx->client = eddy_client_new(fx->loop);
    assert_non_null(fx->client);
}

static void teardown(fixture *fx) {
    eddy_client_free(fx->client);
    eddy_server_free(fx->server);
    eddy_loop_free(fx->loop);
    unlink(fx->path);
    rmdir(fx->dir);
}

static void test_get_and_post_over_a_unix_socket(void **state) {
    (void)state;
    fixture fx;
    setup(&fx);
    outcome o;
    /* Port 9 on 127.0.0.1 answers nothing here: only the socket can serve it. */
    fetch_over(fx.loop, fx.client, "GET", "http://app.internal:9/v1/info?x=1", fx.path, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "ok GET /v1/info");
    assert_string_equal(fx.seen.host, "app.internal:9"); /* the URL's authority */
    assert_string_equal(fx.seen.remote_ip, "");          /* it came over the Unix socket */

    fetch_over(fx.loop, fx.client, "POST", "http://app.internal:9/submit", fx.path, "a=1&b=two",
               &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "ok POST /submit");
    assert_string_equal(fx.seen.body, "a=1&b=two");

    /* A Linux abstract socket ("@name", as eddy_server_listen_unix names it). */
    char abstract[64];
    snprintf(abstract, sizeof abstract, "@eddy-test-client-unix-%d", (int)getpid());
    assert_int_equal(eddy_server_listen_unix(fx.server, abstract), 0);
    fetch_over(fx.loop, fx.client, "GET", "http://localhost/abstract", abstract, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_string_equal(o.body, "ok GET /abstract");

    /* A redirect within the origin stays on the socket. */
    fetch_over(fx.loop, fx.client, "GET", "http://app.internal:9/redirect", fx.path, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.redirects, 1);
    assert_string_equal(o.body, "ok GET /final");
    teardown(&fx);
}

/* Two requests, one connection; the pool is keyed by the socket path, not host:port alone. */
static void test_keep_alive_reuses_the_unix_connection(void **state) {
    (void)state;
    fixture fx;
    setup(&fx);
    assert_int_equal(eddy_server_listen(fx.server, "127.0.0.1", TCP_PORT, 0), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", TCP_PORT);
    outcome o;
    fetch_over(fx.loop, fx.client, "GET", url, fx.path, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.reused, 0);
    assert_int_equal(eddy_client_idle_count(fx.client), 1);
    fetch_over(fx.loop, fx.client, "GET", url, fx.path, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.reused, 1); /* the same Unix connection */
    assert_string_equal(fx.seen.remote_ip, "");

    /* The same origin over TCP is another server: a connection of its own. */
    fetch_over(fx.loop, fx.client, "GET", url, NULL, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_int_equal(o.reused, 0);
    assert_string_equal(fx.seen.remote_ip, "127.0.0.1");
    assert_int_equal(eddy_client_idle_count(fx.client), 2);
    /* And the socket's fetch does not take the TCP one. */
    fetch_over(fx.loop, fx.client, "GET", url, fx.path, NULL, &o);
    assert_int_equal(o.reused, 1);
    assert_string_equal(fx.seen.remote_ip, "");
    teardown(&fx);
}

/* The socket is local: a proxy set on the client is not used for it (as curl). */
static void test_client_proxy_is_not_used_for_the_socket(void **state) {
    (void)state;
    fixture fx;
    setup(&fx);
    assert_int_equal(eddy_client_set_proxy(fx.client, "127.0.0.1", 9), 0); /* nobody there */
    outcome o;
    fetch_over(fx.loop, fx.client, "GET", "http://app.internal/p", fx.path, NULL, &o);
    assert_int_equal(o.error, 0);
    assert_string_equal(o.body, "ok GET /p");
    assert_string_equal(fx.seen.host, "app.internal");
    teardown(&fx);
}

static void test_unix_connect_failures(void **state) {
    (void)state;
    fixture fx;
    setup(&fx);
    outcome o;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.sock", fx.dir);
    fetch_over(fx.loop, fx.client, "GET", "http://localhost/", missing, NULL, &o);
    assert_int_equal(o.error, EDDY_ENOENT);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.detail, "connect to unix:"));
    assert_non_null(strstr(o.detail, "missing.sock: No such file or directory"));

    /* A regular file: Linux says "refused"; the detail says why. */
    char file[160];
    snprintf(file, sizeof file, "%s/plain", fx.dir);
    int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    fetch_over(fx.loop, fx.client, "GET", "http://localhost/", file, NULL, &o);
    assert_int_equal(o.error, EDDY_ECONNREFUSED);
    assert_non_null(strstr(o.detail, "not a socket"));
    unlink(file);

    /* A socket file nobody listens on any more. */
    char dead[160];
    snprintf(dead, sizeof dead, "%s/dead.sock", fx.dir);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(dead) < sizeof addr.sun_path);
    memcpy(addr.sun_path, dead, strlen(dead) + 1);
    assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof addr), 0);
    close(s);
    fetch_over(fx.loop, fx.client, "GET", "http://localhost/", dead, NULL, &o);
    assert_int_equal(o.error, EDDY_ECONNREFUSED);
    assert_non_null(strstr(o.detail, "dead.sock: Connection refused"));
    assert_null(strstr(o.detail, "not a socket"));
    unlink(dead);

    /* A listener whose queue is full: Linux fails a non-blocking Unix connect at once with
     * EAGAIN (TCP would wait); refused for now, and said why. */
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(s, 0), 0);
    int fillers[4], filled = 0;
    for (; filled < 4; filled++) {
        fillers[filled] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (connect(fillers[filled], (struct sockaddr *)&addr, sizeof addr) != 0) {
            assert_int_equal(errno, EAGAIN);
            close(fillers[filled]);
            break;
        }
    }
    assert_true(filled < 4); /* the queue is full */
    fetch_over(fx.loop, fx.client, "GET", "http://localhost/", dead, NULL, &o);
    assert_int_equal(o.error, EDDY_ECONNREFUSED);
    assert_non_null(strstr(o.detail, "listen queue is full"));
    for (int i = 0; i < filled; i++) close(fillers[i]);
    close(s);
    unlink(dead);
    teardown(&fx);
}

static void test_set_unix_socket_refusals(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_client *client = eddy_client_new(loop);
    eddy_fetch *f = eddy_fetch_new(client, "GET", "http://localhost/");
    assert_non_null(f);
    assert_int_equal(eddy_fetch_set_unix_socket(NULL, "/tmp/x.sock"), EDDY_EINVAL);
    assert_int_equal(eddy_fetch_set_unix_socket(f, ""), EDDY_EINVAL);
    assert_int_equal(eddy_fetch_set_unix_socket(f, "@"), EDDY_EINVAL);
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[sizeof path - 2] = '\0'; /* 108 bytes: no room for the NUL */
    assert_int_equal(eddy_fetch_set_unix_socket(f, path), EDDY_EINVAL);
    path[sizeof path - 3] = '\0'; /* 107: fits */
    assert_int_equal(eddy_fetch_set_unix_socket(f, path), 0);
    path[0] = '@';
    path[sizeof path - 3] = 'a'; /* an abstract name of 107 after '@' fits, 108 does not */
    assert_int_equal(eddy_fetch_set_unix_socket(f, path), 0);
    path[sizeof path - 2] = 'a';
    path[sizeof path - 1] = '\0';
    assert_int_equal(eddy_fetch_set_unix_socket(f, path), EDDY_EINVAL);
    assert_int_equal(eddy_fetch_set_unix_socket(f, NULL), 0); /* removed */

    /* Not with connect_to: both say where to connect. */
    assert_int_equal(eddy_fetch_set_unix_socket(f, "/tmp/x.sock"), 0);
    assert_int_equal(eddy_fetch_set_connect_to(f, "127.0.0.1", 80), 0);
    outcome o = {0};
    assert_int_equal(eddy_fetch_start(f, on_done, &o, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_fetch_set_connect_to(f, NULL, 0), 0);
    assert_int_equal(eddy_fetch_start(f, on_done, &o, NULL), 0);
    assert_int_equal(eddy_fetch_set_unix_socket(f, "/tmp/y.sock"), EDDY_ESTATE);
    assert_int_equal(eddy_fetch_cancel(f), 0);
    assert_true(run_until_flag(loop, &o.done, TEST_WAIT_SECONDS));
    assert_int_equal(o.error, EDDY_ECANCELED);
    eddy_client_free(client);
    eddy_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_post_over_a_unix_socket),
        cmocka_unit_test(test_keep_alive_reuses_the_unix_connection),
        cmocka_unit_test(test_client_proxy_is_not_used_for_the_socket),
        cmocka_unit_test(test_unix_connect_failures),
        cmocka_unit_test(test_set_unix_socket_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
