/* web_hello_server: the benchmark server through the web layer (Application + handler), to
 * measure what routing and the handler life cycle cost over the raw HTTP server.
 *
 *   web_hello_server [--port N] [--address A] [--json]
 *
 * GET / answers "Hello, World!" (text/plain), or with --json {"message":"Hello, World!"}
 * (application/json) — the demo's /plaintext and /json handlers. Unknown paths get 404.
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void plaintext(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    eddy_handler_set_header(h, "Content-Type", 12, "text/plain", 10);
    eddy_handler_write(h, "Hello, World!", 13);
}

static void json(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    static const char body[] = "{\"message\":\"Hello, World!\"}";
    eddy_handler_set_header(h, "Content-Type", 12, "application/json", 16);
    eddy_handler_write(h, body, sizeof body - 1);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    int port = 8080, use_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--address") == 0 && i + 1 < argc) address = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) use_json = 1;
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_app *app = eddy_app_new(loop);
    eddy_route *root = eddy_app_add_route(app, "/", EDDY_NTS, NULL, NULL);
    eddy_route_on(root, "GET", EDDY_NTS, use_json ? json : plaintext);
    int rc = eddy_app_listen(app, address, port);
    if (rc != 0) {
        fprintf(stderr, "web_hello_server: %s\n", eddy_strerror(rc));
        return 1;
    }
    eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    printf("web_hello_server listening on %s:%d\n", address, port);
    fflush(stdout);
    eddy_loop_run(loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    eddy_app_free(app);
    eddy_loop_free(loop);
    return 0;
}
