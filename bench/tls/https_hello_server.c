/* https_hello_server: the HTTPS benchmark server (bench/tls/run.sh).
 *
 *   https_hello_server --cert C --key K [--port N]
 *
 * Answers every request with 200 "Hello, World!" over TLS, one loop on one thread, until
 * SIGINT/SIGTERM. Prints "listening on 127.0.0.1:PORT" when ready.
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
    const char *cert = NULL, *key = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--cert"))
            cert = argv[i + 1];
        else if (!strcmp(argv[i], "--key"))
            key = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
    }
    eddy_tls_context *ctx = eddy_tls_context_new_server();
    if (!cert || !key || !ctx || eddy_tls_context_load_cert_file(ctx, cert, key) != 0) {
        fprintf(stderr, "usage: %s --cert C --key K [--port N]\n", argv[0]);
        return 2;
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, on_request, NULL, NULL);
    eddy_server_set_tls(server, ctx);
    eddy_tls_context_free(ctx);
    if (eddy_server_listen(server, "127.0.0.1", port, 0) != 0) return 1;
    printf("listening on 127.0.0.1:%d\n", eddy_server_port(server));
    fflush(stdout);
    eddy_signal *s1 = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *s2 = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    eddy_loop_run(loop);
    eddy_signal_free(s1);
    eddy_signal_free(s2);
    eddy_server_free(server);
    eddy_loop_free(loop);
    return 0;
}
