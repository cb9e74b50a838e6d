/* command_stream: a web route that runs a program and streams its output to the client
 * (eddy_subprocess_spawn with the web layer; Tornado's Subprocess in a RequestHandler).
 *
 *     ./command_stream --port 8888 &
 *     curl http://127.0.0.1:8888/seq/5        # 1 2 3 4 5, one per line, from seq(1)
 *
 * Each request starts `seq N`; its stdout is read in pieces and each piece is written and
 * flushed to the client (chunked), the next read starting only when the piece reached the
 * kernel: a slow client slows the child down instead of filling the server's memory. A client
 * that leaves early gets the child killed (SIGTERM; or SIGPIPE, when a write to the gone client
 * failed first and closed the child's pipe). The response finishes once the output ended and
 * the child exited; a line per child on stdout says how it ended.
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmdline.h"

#define PIECE 65536

/* One request: its handler, the child and its stdout stream (NULL once closed). */
typedef struct job {
    eddy_handler *handler;
    eddy_subprocess *proc; /* NULL once exited */
    eddy_stream *out;      /* NULL once closed */
    int client_gone;
} job;

static void finish_when_done(job *j) {
    /* Both ends over: nothing refers to the job any more, and the handler (which owns it)
     * may go. */
    if (!j->proc && !j->out) eddy_handler_finish(j->handler);
}

static void read_piece(job *j);

static void on_flushed(eddy_handler *handler, int status, void *route_userdata) {
    (void)route_userdata;
    job *j = eddy_handler_get_userdata(handler);
    if (status == 0 && j->out) read_piece(j);
}

static void on_piece(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    (void)stream;
    job *j = userdata;
    if (eddy_handler_write(j->handler, data, len) != 0 ||
        eddy_handler_flush(j->handler, on_flushed) != 0)
        eddy_stream_close(j->out); /* the client is gone; on_out_closed follows */
}

static void read_piece(job *j) {
    if (eddy_stream_read_bytes(j->out, PIECE, 1, on_piece) != 0) eddy_stream_close(j->out);
}

static void on_out_closed(eddy_stream *stream, int error, void *userdata) {
    (void)stream;
    (void)error; /* EDDY_EOF: the child closed its stdout (it exited, usually) */
    job *j = userdata;
    j->out = NULL;
    finish_when_done(j);
}

static void on_child_exit(eddy_subprocess *proc, int exit_status, int term_signal, void *userdata) {
    job *j = userdata;
    if (term_signal)
        printf("child %d killed by signal %d\n", eddy_subprocess_pid(proc), term_signal);
    else
        printf("child %d exited with status %d\n", eddy_subprocess_pid(proc), exit_status);
    fflush(stdout);
    j->proc = NULL;
    finish_when_done(j);
}

static void on_connection_close(eddy_handler *handler, void *route_userdata) {
    (void)route_userdata;
    job *j = eddy_handler_get_userdata(handler);
    if (!j) return;
    j->client_gone = 1;
    if (j->proc) eddy_subprocess_kill(j->proc, SIGTERM);
    if (j->out) eddy_stream_close(j->out);
}

/* The route's userdata is the loop. */
static void get_seq(eddy_handler *handler, void *route_userdata) {
    eddy_loop *loop = route_userdata;
    size_t len = 0;
    const char *count = eddy_handler_path_arg(handler, 0, &len);
    job *j = calloc(1, sizeof *j);
    if (!j) {
        eddy_handler_send_error(handler, 500);
        return;
    }
    j->handler = handler;
    eddy_handler_set_userdata(handler, j, free);
    eddy_spawn_options *options = eddy_spawn_options_new();
    if (!options) {
        eddy_handler_send_error(handler, 500);
        return;
    }
    eddy_spawn_options_set_stdio(options, 0, EDDY_STDIO_DEVNULL);
    eddy_spawn_options_set_stdio(options, 1, EDDY_STDIO_PIPE);
    const char *argv[] = {"seq", count, NULL};
    int rc = eddy_subprocess_spawn(loop, argv, options, on_child_exit, j, NULL, &j->proc);
    eddy_spawn_options_free(options);
    if (rc != 0) {
        fprintf(stderr, "cannot run seq: %s\n", eddy_strerror(rc));
        eddy_handler_send_error(handler, 500);
        return;
    }
    j->out = eddy_subprocess_take_stream(j->proc, 1);
    eddy_stream_set_userdata(j->out, j, NULL);
    eddy_stream_set_close_callback(j->out, on_out_closed);
    eddy_handler_set_header(handler, "Content-Type", EDDY_NTS, "text/plain", EDDY_NTS);
    eddy_handler_detach(handler);
    read_piece(j);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop(userdata);
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    int port = 8888;
    for (int i = 1; i < argc; i += 2) {
        const char *option = argv[i];
        if (strcmp(option, "--port") == 0)
            port = cmdline_port("command_stream", option,
                                cmdline_value("command_stream", argc, argv, i));
        else if (strcmp(option, "--address") == 0)
            address = cmdline_value("command_stream", argc, argv, i);
        else
            cmdline_unknown("command_stream", option,
                            "usage: command_stream [--port N] [--address A]");
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_app *app = loop ? eddy_app_new(loop) : NULL;
    eddy_route *route =
        app ? eddy_app_add_route(app, "/seq/([0-9]{1,9})", EDDY_NTS, loop, NULL) : NULL;
    if (!route || eddy_route_on(route, "GET", EDDY_NTS, get_seq) != 0 ||
        eddy_route_set_on_connection_close(route, on_connection_close) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int rc = eddy_app_listen(app, address, port);
    if (rc != 0) {
        fprintf(stderr, "cannot listen on %s:%d: %s\n", address, port, eddy_strerror(rc));
        return 1;
    }
    eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    printf("listening on http://%s:%d/seq/N\n", address, eddy_server_port(eddy_app_server(app)));
    fflush(stdout);
    eddy_loop_run(loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    eddy_app_free(app);
    eddy_loop_free(loop);
    return 0;
}
