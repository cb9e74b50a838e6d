/* tcp_echo: Tornado's TCPServer echo example in C.
 *
 * Every line a client sends comes back to it. Run it and try:
 *     ./tcp_echo --port 8888 &
 *     printf 'hello\nworld\n' | nc -q1 127.0.0.1 8888
 * With --certfile F --keyfile K it speaks TLS (Tornado's TCPServer(ssl_options=...)):
 *     openssl s_client -quiet -connect 127.0.0.1:8888
 * Stop it with Ctrl-C (SIGINT) or SIGTERM.
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmdline.h"

#define MAX_LINE 65536

static void on_line(eddy_stream *stream, const char *data, size_t len, void *userdata);

static void read_next_line(eddy_stream *stream) {
    eddy_stream_read_until(stream, "\n", 1, MAX_LINE, on_line);
}

static void on_line(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    (void)userdata;
    eddy_stream_write(stream, data, len, NULL);
    read_next_line(stream);
}

static void on_close(eddy_stream *stream, int error, void *userdata) {
    (void)stream;
    (void)userdata;
    if (error != 0 && error != EDDY_EOF) fprintf(stderr, "connection closed: %s\n", eddy_strerror(error));
}

static void on_accept(eddy_listener *listener, eddy_stream *stream, const char *ip, int port,
                      void *userdata) {
    (void)listener;
    (void)ip;
    (void)port;
    (void)userdata;
    eddy_stream_set_nodelay(stream, 1);
    eddy_stream_set_close_callback(stream, on_close);
    read_next_line(stream);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

static const char usage[] = "usage: tcp_echo [--port N] [--address A] [--certfile F [--keyfile K]]";

int main(int argc, char **argv) {
    const char *address = "127.0.0.1", *certfile = NULL, *keyfile = NULL;
    int port = 8888;
    for (int i = 1; i < argc; i += 2) {
        const char *option = argv[i];
        if (strcmp(option, "--port") == 0)
            port = cmdline_port("tcp_echo", option, cmdline_value("tcp_echo", argc, argv, i));
        else if (strcmp(option, "--address") == 0)
            address = cmdline_value("tcp_echo", argc, argv, i);
        else if (strcmp(option, "--certfile") == 0)
            certfile = cmdline_value("tcp_echo", argc, argv, i);
        else if (strcmp(option, "--keyfile") == 0)
            keyfile = cmdline_value("tcp_echo", argc, argv, i);
        else
            cmdline_unknown("tcp_echo", option, usage);
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_listener *listener = eddy_listener_new(loop, on_accept, NULL, NULL);
    if (certfile) {
        eddy_tls_context *tls = eddy_tls_context_new_server();
        int tls_rc =
            tls ? eddy_tls_context_load_cert_file(tls, certfile, keyfile ? keyfile : certfile)
                : EDDY_ENOMEM;
        if (tls_rc == 0) tls_rc = eddy_listener_set_tls(listener, tls);
        eddy_tls_context_free(tls); /* the listener keeps its own reference */
        if (tls_rc != 0) {
            fprintf(stderr, "cannot serve TLS with %s: %s\n", certfile, eddy_strerror(tls_rc));
            return 1;
        }
    }
    int rc = eddy_listener_bind(listener, address, port, 0, 0);
    if (rc != 0) {
        fprintf(stderr, "cannot listen on %s:%d: %s\n", address, port, eddy_strerror(rc));
        return 1;
    }
    eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    printf("tcp_echo listening on %s:%d%s\n", address, eddy_listener_port(listener),
           certfile ? " (TLS)" : "");
    fflush(stdout);
    eddy_loop_run(loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    eddy_listener_free(listener);
    eddy_loop_free(loop);
    return 0;
}
