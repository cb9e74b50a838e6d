/* STARTTLS over a line protocol shaped like SMTP's, for test_starttls.py.
 *
 * Server: starttls_server --cert C --key K [--port N]
 *   prints "listening on 127.0.0.1:PORT"; greets each connection with "220 ready"; answers
 *   STARTTLS with "220 go ahead" and upgrades (eddy_stream_start_tls) once that answer is out;
 *   QUIT with "221 bye"; any other line L with "250 plain L" before the upgrade, "250 tls L"
 *   after it. An upgrade that fails or is refused is reported on stderr ("start_tls: ...").
 * Client: starttls_server --connect PORT --ca CA --hostname NAME --say TEXT
 *   reads the greeting, sends STARTTLS, reads the answer, upgrades (verifying NAME), sends TEXT
 *   over TLS and prints "reply: <line>"; exit 0, or 1 with "error: <code name>".
 * SIGINT/SIGTERM stop the server (exit 0). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eddy/eddy.h>

static eddy_tls_context *g_ctx;
static const char *g_hostname, *g_say;
static int g_exit = 1;

/* ---- server ------------------------------------------------------------------------------- */

static void on_line(eddy_stream *s, const char *data, size_t len, void *userdata);

/* Writes; a write eddy refuses (out of memory) ends the connection rather than leave the
 * client waiting for an answer that will never come. */
static int put(eddy_stream *s, const char *data, size_t len, eddy_stream_write_fn cb) {
    int rc = eddy_stream_write(s, data, len, cb);
    if (rc != 0) eddy_stream_close(s);
    return rc;
}

static void next_line(eddy_stream *s) {
    if (eddy_stream_read_until(s, "\r\n", 2, 4096, on_line) != 0) eddy_stream_close(s);
}

static void on_upgraded(eddy_loop *loop, eddy_stream *tls, int error, void *userdata) {
    (void)loop;
    (void)userdata;
    if (error) {
        fprintf(stderr, "start_tls: upgrade failed: %s\n", eddy_err_name(error));
        return;
    }
    next_line(tls);
}

static void on_go_ahead_sent(eddy_stream *s, int status, void *userdata) {
    (void)userdata;
    if (status != 0) return;
    int rc = eddy_stream_start_tls(s, g_ctx, 1, NULL, on_upgraded, NULL, NULL);
    if (rc != 0) {
        /* Refused (e.g. plaintext pipelined after STARTTLS): the stream is still ours. */
        fprintf(stderr, "start_tls: refused: %s\n", eddy_err_name(rc));
        eddy_stream_close(s);
    }
}

static void on_line(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)userdata;
    if (len == 10 && !memcmp(data, "STARTTLS\r\n", 10) && !eddy_stream_is_tls(s)) {
        put(s, "220 go ahead\r\n", 14, on_go_ahead_sent);
        return; /* no read now: the stream must be idle when it is upgraded */
    }
    if (len == 6 && !memcmp(data, "QUIT\r\n", 6)) {
        put(s, "221 bye\r\n", 9, NULL);
        return; /* the client closes */
    }
    const char *prefix = eddy_stream_is_tls(s) ? "250 tls " : "250 plain ";
    if (put(s, prefix, strlen(prefix), NULL) == 0 && put(s, data, len, NULL) == 0) next_line(s);
}

static void on_accept(eddy_listener *l, eddy_stream *s, const char *ip, int port, void *ud) {
    (void)l;
    (void)ip;
    (void)port;
    (void)ud;
    if (put(s, "220 ready\r\n", 11, NULL) == 0) next_line(s);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    g_exit = 0;
    eddy_loop_stop((eddy_loop *)userdata);
}

/* ---- client ------------------------------------------------------------------------------- */

static void fail(eddy_loop *loop, int error) {
    printf("error: %s\n", eddy_err_name(error));
    fflush(stdout);
    eddy_loop_stop(loop);
}

static void on_tls_reply(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)userdata;
    printf("reply: %.*s\n", (int)(len - 2), data);
    fflush(stdout);
    g_exit = 0;
    eddy_stream_close(s);
    eddy_loop_stop(eddy_stream_loop(s));
}

static void on_client_upgraded(eddy_loop *loop, eddy_stream *tls, int error, void *userdata) {
    (void)userdata;
    if (error) {
        fail(loop, error);
        return;
    }
    eddy_stream_write(tls, g_say, strlen(g_say), NULL);
    eddy_stream_write(tls, "\r\n", 2, NULL);
    eddy_stream_read_until(tls, "\r\n", 2, 4096, on_tls_reply);
}

static void on_go_ahead(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)userdata;
    if (len < 3 || memcmp(data, "220", 3) != 0) {
        fail(eddy_stream_loop(s), EDDY_EPROTO);
        return;
    }
    /* The answer is taken (inside its read callback): upgrade now. */
    int rc = eddy_stream_start_tls(s, g_ctx, 0, g_hostname, on_client_upgraded, NULL, NULL);
    if (rc != 0) fail(eddy_stream_loop(s), rc);
}

static void on_greeting(eddy_stream *s, const char *data, size_t len, void *userdata) {
    (void)data;
    (void)len;
    (void)userdata;
    eddy_stream_write(s, "STARTTLS\r\n", 10, NULL);
    eddy_stream_read_until(s, "\r\n", 2, 4096, on_go_ahead);
}

static void on_connected(eddy_loop *loop, eddy_stream *s, int error, void *userdata) {
    (void)userdata;
    if (error) {
        fail(loop, error);
        return;
    }
    eddy_stream_read_until(s, "\r\n", 2, 4096, on_greeting);
}

int main(int argc, char **argv) {
    const char *cert = NULL, *key = NULL, *ca = NULL;
    int port = 0, connect_port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--cert"))
            cert = v;
        else if (!strcmp(a, "--key"))
            key = v;
        else if (!strcmp(a, "--ca"))
            ca = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--connect"))
            connect_port = atoi(v);
        else if (!strcmp(a, "--hostname"))
            g_hostname = v;
        else if (!strcmp(a, "--say"))
            g_say = v;
        else {
            fprintf(stderr, "bad argument %s\n", a);
            return 2;
        }
    }
    eddy_loop *loop = eddy_loop_new();
    if (!loop) return 3;
    if (connect_port) {
        g_ctx = eddy_tls_context_new_client();
        if (!g_ctx || !g_say || (ca && eddy_tls_context_load_ca_file(g_ctx, ca) != 0)) return 3;
        if (eddy_connect(loop, "127.0.0.1", connect_port, 10, on_connected, NULL, NULL) != 0)
            return 3;
        eddy_loop_run(loop);
    } else {
        g_ctx = eddy_tls_context_new_server();
        if (!g_ctx || eddy_tls_context_load_cert_file(g_ctx, cert, key) != 0) return 3;
        eddy_listener *l = eddy_listener_new(loop, on_accept, NULL, NULL);
        if (!l || eddy_listener_bind(l, "127.0.0.1", port, 128, 0) != 0) return 4;
        eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
        eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
        printf("listening on 127.0.0.1:%d\n", eddy_listener_port(l));
        fflush(stdout);
        eddy_loop_run(loop);
        eddy_signal_free(sigint);
        eddy_signal_free(sigterm);
        eddy_listener_free(l);
    }
    eddy_loop_free(loop);
    eddy_tls_context_free(g_ctx);
    return g_exit;
}
