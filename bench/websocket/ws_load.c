/* ws_load: a WebSocket echo load generator on eddy's own loop and client.
 *
 *   ws_load URL CONNECTIONS WINDOW SECONDS [MESSAGE_BYTES]
 *
 * Every connection keeps WINDOW text messages in flight (a reply triggers the next send) for
 * SECONDS, then closes. Prints "messages/s N" (echoes received per second). One thread, so
 * pin it to its own core (taskset) and compare servers in the same run.
 */
#include <eddy/eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static eddy_loop *loop;
static double deadline, started;
static long received, open_conns;
static char *payload;
static size_t payload_len;
static int window;

static void on_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    (void)data, (void)len, (void)binary, (void)ud;
    received++;
    long *inflight = eddy_ws_get_userdata(ws);
    (*inflight)--;
    if (eddy_loop_time(loop) < deadline) {
        if (eddy_ws_write_message(ws, payload, payload_len, 0, NULL) == 0) (*inflight)++;
    } else if (*inflight == 0) {
        eddy_ws_close(ws, 1000, NULL, 0);
    }
}

static void on_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud) {
    (void)ws, (void)code, (void)reason, (void)len, (void)ud;
    if (--open_conns == 0) eddy_loop_stop(loop);
}

static void on_connect(eddy_ws *ws, int status, void *ud) {
    (void)ud;
    if (status != 0) {
        fprintf(stderr, "ws_load: connect failed: %s\n", eddy_strerror(status));
        if (--open_conns == 0) eddy_loop_stop(loop);
        return;
    }
    long *inflight = calloc(1, sizeof *inflight);
    eddy_ws_set_userdata(ws, inflight, free);
    for (int i = 0; i < window; i++)
        if (eddy_ws_write_message(ws, payload, payload_len, 0, NULL) == 0) (*inflight)++;
}

static void give_up(eddy_loop *l, void *ud) {
    (void)ud;
    eddy_loop_stop(l);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ws_load URL CONNECTIONS WINDOW SECONDS [MESSAGE_BYTES]\n");
        return 2;
    }
    int conns = atoi(argv[2]);
    window = atoi(argv[3]);
    double seconds = atof(argv[4]);
    payload_len = argc > 5 ? (size_t)atol(argv[5]) : 32;
    payload = malloc(payload_len + 1);
    memset(payload, 'x', payload_len);
    loop = eddy_loop_new();
    started = eddy_loop_time(loop);
    deadline = started + seconds;
    for (int i = 0; i < conns; i++) {
        if (eddy_websocket_connect(loop, argv[1], EDDY_NTS, NULL, on_connect, on_message, on_close,
                                   NULL, NULL) == 0)
            open_conns++;
    }
    eddy_loop_call_later(loop, seconds + 10, give_up, NULL, NULL);
    eddy_loop_run(loop);
    double elapsed = eddy_loop_time(loop) - started;
    printf("messages/s %.0f\n", received / (elapsed < seconds ? seconds : elapsed));
    eddy_loop_free(loop);
    free(payload);
    return 0;
}
