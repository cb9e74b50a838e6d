/* hello_server: the benchmark server.
 *
 *   hello_server [--port N] [--address A] [--backlog N]
 *
 * --backlog N binds the listening socket with eddy_bind_socket(address, port, N) and hands it to
 * the server (eddy_server_add_fd); without it eddy_server_listen() uses EDDY_DEFAULT_BACKLOG (128).
 * bench/run.sh passes --backlog 4096, as the nginx peer's `listen ... backlog=4096`.
 *
 * GET / (and every other path) answers 200 "Hello, World!" (text/plain), one loop on one
 * thread, in the foreground until SIGINT/SIGTERM. No access log; the Server header is left at
 * eddy's default, as the peers send theirs.
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char body[] = "Hello, World!";

static void on_request(eddy_request *req, void *userdata) {
    (void)userdata;
    eddy_request_set_header(req, "Content-Type", 12, "text/plain", 10);
    eddy_request_write(req, body, sizeof body - 1);
    eddy_request_finish(req);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    int port = 18090;
    int backlog = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--address") == 0) address = argv[i + 1];
        else if (strcmp(argv[i], "--backlog") == 0) backlog = atoi(argv[i + 1]);
    }
    eddy_loop *loop = eddy_loop_new();
    if (!loop) {
        fprintf(stderr, "hello_server: cannot create the loop\n");
        return 1;
    }
    eddy_server *server = eddy_server_new(loop, on_request, NULL, NULL);
    /* Idle keep-alive connections are held by the benchmarks for a while: like nginx.conf's
     * keepalive_timeout 120s. */
    eddy_server_set_idle_timeout(server, 120);
    int rc;
    if (backlog > 0) {
        int fd = eddy_bind_socket(address, port, backlog, 0);
        rc = fd < 0 ? fd : eddy_server_add_fd(server, fd);
    } else {
        rc = eddy_server_listen(server, address, port, 0);
    }
    if (rc != 0) {
        fprintf(stderr, "hello_server: cannot listen on %s:%d: %s\n", address, port,
                eddy_strerror(rc));
        return 1;
    }
    eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    printf("hello_server listening on %s:%d\n", address, eddy_server_port(server));
    fflush(stdout);
    eddy_loop_run(loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    eddy_server_free(server);
    eddy_loop_free(loop);
    return 0;
}
