/* Argument contracts of the HTTP server's C API (include/eddy/http.h), through real sockets:
 * - eddy_server_add_connection takes a connected socket and serves it; an fd that is not open,
 *   or is not a socket, is EDDY_EINVAL and stays the caller's;
 * - options refuse what they cannot mean (an access-log fd below -1, an unknown listen flag);
 * - after the loop was freed, what needs it answers EDDY_ESTATE (the fd stays the caller's);
 * - a graceful shutdown takes no new connection, and answers the request of one whose PROXY
 *   header completes during it before it reports done;
 * - eddy_request_header_at and eddy_request_argument_at fill a length without its pointer. */
#include "test_common.h"

#include <fcntl.h>
#include <math.h>

static int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* Out-parameters of the request callback, read by the test once the answer arrived. */
typedef struct {
    int got;
    size_t header_name_len, header_value_len;
    size_t argument_name_len, argument_value_len;
    int header_rc, argument_rc;
} lengths_seen;

static void answer_with_lengths(eddy_request *req, void *userdata) {
    lengths_seen *seen = userdata;
    seen->header_name_len = seen->header_value_len = 99;
    seen->argument_name_len = seen->argument_value_len = 99;
    /* Only the lengths are asked for: the pointers are NULL. */
    seen->header_rc =
        eddy_request_header_at(req, 1, NULL, &seen->header_name_len, NULL, &seen->header_value_len);
    seen->argument_rc = eddy_request_argument_at(
        req, EDDY_ARGS_QUERY, 0, NULL, &seen->argument_name_len, NULL, &seen->argument_value_len);
    seen->got = 1;
    eddy_request_write(req, "ok", 2);
    eddy_request_finish(req);
}

/* Sends `request` on `fd` and runs the loop until `seen->got`, then reads the answer's first
 * bytes into `answer` (NUL-terminated). */
static void exchange(eddy_loop *loop, int fd, const char *request, lengths_seen *seen, char *answer,
                     size_t answer_size) {
    write_all(fd, request, strlen(request));
    assert_true(run_until_flag(loop, &seen->got, TEST_WAIT_SECONDS));
    for (int i = 0; i < 5; i++) eddy_loop_run_once(loop, 10); /* the answer is written */
    set_rcv_timeout(fd, TEST_WAIT_SECONDS);
    ssize_t n = read(fd, answer, answer_size - 1);
    assert_true(n > 0);
    answer[n] = '\0';
}

static void test_add_connection_serves_a_socket(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    lengths_seen seen = {0};
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, &seen, NULL);
    assert_non_null(server);

    int pair[2];
    make_pair(TRANSPORT_TCP, pair);
    assert_int_equal(eddy_server_add_connection(server, pair[0], "127.0.0.1", 1234), 0);
    char answer[256];
    exchange(loop, pair[1], "GET /?ab=cde HTTP/1.1\r\nHost: t\r\nX-Four: 12345\r\n\r\n", &seen,
             answer, sizeof answer);
    assert_non_null(strstr(answer, "HTTP/1.1 200 OK\r\n"));

    /* header 1 is "X-Four: 12345"; argument 0 is ab=cde. */
    assert_int_equal(seen.header_rc, 0);
    assert_int_equal(seen.header_name_len, 6);
    assert_int_equal(seen.header_value_len, 5);
    assert_int_equal(seen.argument_rc, 0);
    assert_int_equal(seen.argument_name_len, 2);
    assert_int_equal(seen.argument_value_len, 3);

    close(pair[1]);
    eddy_server_free(server); /* closes pair[0], the server's */
    eddy_loop_free(loop);
}

static void test_add_connection_refuses_what_is_not_a_socket(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, NULL, NULL);

    assert_int_equal(eddy_server_add_connection(NULL, 0, NULL, 0), EDDY_EINVAL);
    assert_int_equal(eddy_server_add_connection(server, -1, NULL, 0), EDDY_EINVAL);

    /* An fd number that is not open (was ENOMEM: "cannot be watched"). */
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    int closed_fd = pipe_fds[1];
    close(closed_fd);
    assert_int_equal(eddy_server_add_connection(server, closed_fd, NULL, 0), EDDY_EINVAL);

    /* A pipe is open but no connection: refused, and still the caller's. */
    assert_int_equal(eddy_server_add_connection(server, pipe_fds[0], NULL, 0), EDDY_EINVAL);
    assert_true(fd_is_open(pipe_fds[0]));
    assert_int_equal(eddy_server_connection_count(server), 0);
    close(pipe_fds[0]);

    eddy_server_free(server);
    eddy_loop_free(loop);
}

static void test_options_refuse_what_they_cannot_mean(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, NULL, NULL);

    assert_int_equal(eddy_server_set_access_log_fd(server, -2), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_access_log_fd(server, -1), 0); /* off */
    /* A flag bit eddy does not know is refused, not ignored (nothing is bound). */
    assert_int_equal(eddy_server_listen(server, "127.0.0.1", 0, 1 << 30), EDDY_EINVAL);
    assert_int_equal(eddy_server_port(server), EDDY_ENOENT);
    /* The minimum body rate: a finite rate >= 0, a grace >= 0 (infinite: never applies). */
    assert_int_equal(eddy_server_set_body_min_rate(NULL, 500, 20), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_body_min_rate(server, -1, 20), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_body_min_rate(server, NAN, 20), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_body_min_rate(server, INFINITY, 20), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_body_min_rate(server, 500, -1), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_body_min_rate(server, 500, NAN), EDDY_EINVAL);
    assert_int_equal(eddy_server_set_body_min_rate(server, 500, INFINITY), 0);
    assert_int_equal(eddy_server_set_body_min_rate(server, 0, 0), 0); /* off */
    assert_int_equal(eddy_request_set_body_min_rate(NULL, 0, 0), EDDY_EINVAL);

    eddy_server_free(server);
    eddy_loop_free(loop);
}

static void test_after_the_loop_was_freed(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, NULL, NULL);
    eddy_loop_free(loop);

    assert_int_equal(eddy_server_set_access_log_fd(server, 2), EDDY_ESTATE);
    int pair[2];
    make_pair(TRANSPORT_UNIX, pair);
    assert_int_equal(eddy_server_add_connection(server, pair[0], NULL, 0), EDDY_ESTATE);
    assert_true(fd_is_open(pair[0])); /* not taken */
    close(pair[0]);
    close(pair[1]);

    eddy_server_free(server);
}

/* ---- a graceful shutdown takes no new connections, and loses none it had -------------------- */

typedef struct {
    eddy_server *server;
    int done;
    size_t connections_at_done; /* what the server still had open when it said done */
} shutdown_seen;

static void on_shutdown_done(eddy_server *server, void *userdata) {
    shutdown_seen *seen = userdata;
    seen->done = 1;
    seen->connections_at_done = eddy_server_connection_count(server);
}

static void test_add_connection_during_shutdown(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, NULL, NULL);
    shutdown_seen seen = {0};
    assert_int_equal(eddy_server_shutdown(server, on_shutdown_done, &seen, NULL), 0);
    int pair[2];
    make_pair(TRANSPORT_TCP, pair);
    assert_int_equal(eddy_server_add_connection(server, pair[0], NULL, 0), EDDY_ESTATE);
    assert_true(fd_is_open(pair[0])); /* not taken */
    close(pair[0]);
    close(pair[1]);
    assert_true(run_until_flag(loop, &seen.done, TEST_WAIT_SECONDS));
    eddy_server_free(server);
    eddy_loop_free(loop);
}

/* A client behind a PROXY-protocol proxy was accepted, but its header had not all arrived when
 * the shutdown began: its request is still answered, as the last on its connection, and the
 * shutdown reports done only once that connection closed. (It was answered keep-alive, and
 * done came while it was still open: between the handshake and the connection the server
 * counted none.) */
/* A PROXY-protocol server with one client accepted whose header has begun, then a graceful
 * shutdown begun. Returns the client's fd. */
static int shutdown_during_proxy_header(eddy_loop *loop, eddy_server *server, shutdown_seen *seen) {
    assert_int_equal(eddy_server_set_proxy_protocol(server, 1), 0);
    assert_int_equal(eddy_server_listen(server, "127.0.0.1", 0, 0), 0);
    int fd = tcp_connect_v4(eddy_server_port(server));
    assert_true(fd >= 0);
    write_all(fd, "PROXY TCP4 192.0.2.1 ", 21);
    double deadline = mono_now() + TEST_WAIT_SECONDS; /* accepted: its handshake counts */
    while (eddy_server_connection_count(server) < 1 && mono_now() < deadline)
        assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    assert_int_equal(eddy_server_connection_count(server), 1);
    assert_int_equal(eddy_server_shutdown(server, on_shutdown_done, seen, NULL), 0);
    return fd;
}

static void test_proxy_handshake_completing_during_shutdown(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    lengths_seen seen_request = {0};
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, &seen_request, NULL);
    shutdown_seen seen = {0};
    int fd = shutdown_during_proxy_header(loop, server, &seen);
    char answer[512];
    exchange(loop, fd,
             "127.0.0.1 5555 80\r\nGET /?ab=cde HTTP/1.1\r\nHost: t\r\nX-Four: 12345\r\n\r\n",
             &seen_request, answer, sizeof answer);
    assert_non_null(strstr(answer, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(answer, "Connection: close\r\n"));
    close(fd); /* (the server's close need not linger for it) */
    assert_true(run_until_flag(loop, &seen.done, TEST_WAIT_SECONDS));
    assert_int_equal(seen.connections_at_done, 0);
    eddy_server_free(server);
    eddy_loop_free(loop);
}

/* The same, but nothing follows the header: the connection is idle, and closed at once as the
 * shutdown closes idle connections (it stayed open until the header timeout, holding `done`). */
static void test_proxy_handshake_without_request_during_shutdown(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, answer_with_lengths, NULL, NULL);
    assert_int_equal(eddy_server_set_header_timeout(server, 60), 0);
    shutdown_seen seen = {0};
    int fd = shutdown_during_proxy_header(loop, server, &seen);
    write_all(fd, "127.0.0.1 5555 80\r\n", 19);
    assert_true(run_until_flag(loop, &seen.done, TEST_WAIT_SECONDS));
    assert_int_equal(seen.connections_at_done, 0);
    set_rcv_timeout(fd, TEST_WAIT_SECONDS);
    char byte;
    assert_int_equal(read(fd, &byte, 1), 0); /* closed without an answer */
    close(fd);
    eddy_server_free(server);
    eddy_loop_free(loop);
}

/* A flush in the same loop pass as the peer's reset, after the connection's stream closed but
 * before its close callback ran (here: a watch ready in the same epoll batch): it must say
 * EDDY_ECLOSED, or call back. It used to return 0 with a callback that never came, so the
 * request, held for that callback, was never released (ASan: a leak). */
typedef struct {
    eddy_request *req;
    int flush_rc, flush_cb_calls, flush_cb_status, closed;
} reset_flush;

static void keep_request(eddy_request *req, void *userdata) {
    reset_flush *rf = userdata;
    rf->req = req;
    eddy_request_set_status(req, 200, NULL, 0);
}

static void on_reset_flushed(eddy_request *req, int status, void *userdata) {
    (void)req;
    reset_flush *rf = userdata;
    rf->flush_cb_calls++;
    rf->flush_cb_status = status;
}

static void on_reset_closed(eddy_request *req, void *userdata) {
    (void)req;
    ((reset_flush *)userdata)->closed = 1;
}

static void flush_from_watch(eddy_watch *watch, int fd, int events, void *userdata) {
    (void)events;
    reset_flush *rf = userdata;
    char byte;
    assert_int_equal(read(fd, &byte, 1), 1);
    eddy_request_write(rf->req, "x", 1);
    rf->flush_rc = eddy_request_flush(rf->req, on_reset_flushed);
    eddy_watch_free(watch);
}

static void test_flush_after_reset_in_the_same_pass(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    reset_flush rf = {NULL, 1, 0, 0, 0};
    eddy_server *server = eddy_server_new(loop, keep_request, &rf, NULL);
    int pair[2];
    make_pair(TRANSPORT_TCP, pair);
    assert_int_equal(eddy_server_add_connection(server, pair[0], "127.0.0.1", 1234), 0);
    write_all(pair[1], "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 27);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!rf.req && mono_now() < deadline) eddy_loop_run_once(loop, 50);
    assert_non_null(rf.req);
    eddy_request_set_userdata(rf.req, &rf, NULL);
    assert_int_equal(eddy_request_set_close_callback(rf.req, on_reset_closed), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_non_null(eddy_watch_new(loop, p[0], EDDY_READABLE, flush_from_watch, &rf, NULL));
    /* The reset first, then the pipe: one epoll batch, in that order. */
    struct linger lg = {1, 0};
    assert_int_equal(setsockopt(pair[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(pair[1]);
    sleep_ms(20);
    assert_int_equal(write(p[1], "!", 1), 1);
    deadline = mono_now() + TEST_WAIT_SECONDS;
    while (rf.flush_rc == 1 && mono_now() < deadline) eddy_loop_run_once(loop, 50);
    run_until_flag(loop, &rf.closed, TEST_WAIT_SECONDS);
    for (int i = 0; i < 5; i++) eddy_loop_run_once(loop, 0);
    assert_true(rf.closed);
    if (rf.flush_rc == 0) {
        assert_int_equal(rf.flush_cb_calls, 1);
        assert_int_equal(rf.flush_cb_status, EDDY_ECLOSED);
    } else {
        assert_int_equal(rf.flush_rc, EDDY_ECLOSED);
        assert_int_equal(rf.flush_cb_calls, 0);
    }
    assert_int_equal(eddy_request_finish(rf.req), EDDY_ECLOSED); /* released */
    close(p[0]);
    close(p[1]);
    eddy_server_free(server);
    eddy_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_connection_serves_a_socket),
        cmocka_unit_test(test_add_connection_refuses_what_is_not_a_socket),
        cmocka_unit_test(test_options_refuse_what_they_cannot_mean),
        cmocka_unit_test(test_after_the_loop_was_freed),
        cmocka_unit_test(test_add_connection_during_shutdown),
        cmocka_unit_test(test_proxy_handshake_completing_during_shutdown),
        cmocka_unit_test(test_proxy_handshake_without_request_during_shutdown),
        cmocka_unit_test(test_flush_after_reset_in_the_same_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
