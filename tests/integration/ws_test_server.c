/* ws_test_server: WebSocket endpoints for test_websocket.py, and a client mode.
 *
 *   ws_test_server [--port N]            serve; prints "listening on PORT"
 *                  [--access-log PATH]   with the Common Log Format lines appended to PATH
 *   ws_test_server --connect URL [--deflate] MSG...
 *                                        connects, sends each MSG as text (a "b:" prefix sends
 *                                        the rest as binary), prints "refused <status> <reason>"
 *                                        when the server answers without a 101, "connect failed
 *                                        <error>[: <detail>]" for a failed connect (the detail:
 *                                        eddy_websocket_connect_error_detail), every message as
 *                                        "text <len> <data>" / "binary <len>", then "close
 *                                        <code>" once the server closed or after all echoes.
 *   ws_test_server --connect-steps URL [--deflate] MSG...
 *                                        the same exchange once per line on stdin (tests/oom),
 *                                        in one loop, each printing "text <len> <data>" (and
 *                                        "binary <len> <data>") per message, then "close <code>"
 *                                        or "connect failed <error>" or "connect error <error>",
 *                                        then "end"; "hung" first when an exchange is still
 *                                        going after 8 s. It raises SIGUSR1 just before
 *                                        eddy_websocket_connect and SIGUSR2 once the exchange
 *                                        ended: failmalloc's window (FAILMALLOC_NTH_FILE) is
 *                                        exactly one exchange. Prints "ready" at start.
 *                                        wss://: WS_TEST_CAFILE as for --connect.
 *
 * Server routes: /ws echoes (same type, permessage-deflate accepted, 32 MiB limit); /small
 * echoes with a 1000-byte limit and a close timeout of 1 s; /budget echoes with 100,000 bytes
 * of messages being received allowed over all its sessions
 * (eddy_ws_options_set_max_message_memory); /deepqueue echoes with 64 MiB of output allowed to
 * queue and a close timeout of 1 s; /proto picks the subprotocol "chat" when offered and adds
 * "X-Extra: yes" from prepare; /closer closes with 4000 "bye" after the first message; /ping sends
 * pings every 0.2 s and reports pongs as text "pong"; /onping reports every ping it received as
 * text "ping:<payload>" (from on_ping, which runs after eddy queued the pong) and closes with 4001
 * when the payload is "close"; /stored compresses at level 0 (stored blocks) with memLevel 1;
 * /lowmem compresses at the default level with memLevel 1 and a 512-byte window
 * (bench/websocket/deflate_memory.py); /authws's prepare detaches and a timer 150 ms later
 * resumes the handshake (open sends "resumes=N", the resumes so far) or, for the query "deny",
 * answers 403; /logclose echoes and logs every on_close as "logclose: on_close <code>" on stderr.
 */
#include <eddy/eddy.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    (void)ud;
    /* Out of memory the echo is not sent: close (1011) rather than leave the client waiting
     * for it (tests/oom). */
    if (eddy_ws_write_message(ws, data, len, binary, NULL) == EDDY_ENOMEM)
        eddy_ws_close(ws, 1011, "out of memory", 13);
}

static void closer_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    (void)data, (void)len, (void)binary, (void)ud;
    eddy_ws_close(ws, 4000, "bye", 3);
}

static void on_pong(eddy_ws *ws, const char *data, size_t len, void *ud) {
    (void)data, (void)len, (void)ud;
    eddy_ws_write_message(ws, "pong", 4, 0, NULL);
}

static void on_ping(eddy_ws *ws, const char *data, size_t len, void *ud) {
    (void)ud;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "ping:%.*s", (int)len, data);
    eddy_ws_write_message(ws, msg, (size_t)n, 0, NULL);
    if (len == 5 && memcmp(data, "close", 5) == 0) eddy_ws_close(ws, 4001, "after ping", 10);
}

/* /logclose: how each session ended, for the test to read from stderr. */
static void logclose_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud) {
    (void)ws, (void)reason, (void)len, (void)ud;
    fprintf(stderr, "logclose: on_close %d\n", code);
    fflush(stderr);
}

static void proto_prepare(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "X-Extra", EDDY_NTS, "yes", EDDY_NTS);
    /* A cookie in the 101 (tests/oom: never sent without it when its storage failed). */
    eddy_handler_set_cookie(h, "ws", EDDY_NTS, "1", EDDY_NTS, NULL, NULL, 0, -1, 0, NULL);
}

/* /authws: an asynchronous prepare (an authentication check that waits): it detaches, and a
 * timer 150 ms later resumes the handshake, or refuses it with 403 when the query has "deny".
 * open() sends "resumes=N", N the resumes so far: the upgrade waits for the resume. */
static long authws_resumes;
static eddy_loop *authws_loop;

static void authws_fire(eddy_loop *loop, void *ud) {
    (void)loop;
    eddy_handler *h = ud;
    size_t qlen = 0;
    const char *q = eddy_request_query(eddy_handler_request(h), &qlen);
    if (q && qlen == 4 && memcmp(q, "deny", 4) == 0) {
        eddy_handler_send_error(h, 403);
        return;
    }
    authws_resumes++;
    eddy_handler_resume(h); /* the handshake runs now; the handler may be gone after it */
}

static void authws_prepare(eddy_handler *h, void *ud) {
    (void)ud;
    eddy_handler_set_header(h, "X-Prepared", EDDY_NTS, "yes", EDDY_NTS);
    eddy_handler_detach(h);
    eddy_loop_call_later(authws_loop, 0.15, authws_fire, h, NULL);
}

static void authws_open(eddy_ws *ws, void *ud) {
    (void)ud;
    char msg[32];
    int n = snprintf(msg, sizeof msg, "resumes=%ld", authws_resumes);
    eddy_ws_write_message(ws, msg, (size_t)n, 0, NULL);
}

static int pick_chat(eddy_handler *h, const char *const *protocols, const size_t *lens,
                     size_t count, void *ud) {
    (void)h, (void)ud;
    for (size_t i = 0; i < count; i++)
        if (lens[i] == 4 && memcmp(protocols[i], "chat", 4) == 0) return (int)i;
    return -1;
}

static void proto_open(eddy_ws *ws, void *ud) {
    (void)ud;
    size_t len;
    const char *p = eddy_ws_subprotocol(ws, &len);
    char msg[64];
    int n = snprintf(msg, sizeof msg, "proto=%s deflate=%d", p, eddy_ws_compressed(ws));
    eddy_ws_write_message(ws, msg, (size_t)n, 0, NULL);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig, (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

/* ---- client mode ---- */

struct client {
    eddy_loop *loop;
    int expected, received;
    char **messages;
    int count;
    int full_binary; /* print binary messages' data too (--connect-steps) */
};

static void client_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    struct client *c = ud;
    if (binary && c->full_binary) {
        printf("binary %zu %.*s\n", len, (int)len, data);
    } else if (binary) {
        printf("binary %zu\n", len);
    } else {
        printf("text %zu %.*s\n", len, (int)len, data);
    }
    if (++c->received == c->expected) eddy_ws_close(ws, 1000, "done", 4);
}

static void client_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud) {
    (void)ws;
    struct client *c = ud;
    printf("close %d %.*s\n", code, (int)len, reason);
    eddy_loop_stop(c->loop);
}

static void client_refused(int status, const char *reason, size_t len, void *ud) {
    (void)ud;
    printf("refused %d %.*s\n", status, (int)len, reason);
}

static void client_connected(eddy_ws *ws, int status, void *ud) {
    struct client *c = ud;
    if (status != 0) {
        size_t len = 0;
        const char *detail = eddy_websocket_connect_error_detail(c->loop, &len);
        printf("connect failed %s%s%.*s\n", eddy_strerror(status), len ? ": " : "", (int)len,
               detail);
        eddy_loop_stop(c->loop);
        return;
    }
    printf("connected deflate=%d\n", eddy_ws_compressed(ws));
    for (int i = 0; i < c->count; i++) {
        const char *m = c->messages[i];
        int rc;
        if (strncmp(m, "b:", 2) == 0) {
            rc = eddy_ws_write_message(ws, m + 2, strlen(m + 2), 1, NULL);
        } else {
            rc = eddy_ws_write_message(ws, m, strlen(m), 0, NULL);
        }
        /* --connect-steps: a message not sent gets no echo; close (1011) rather than wait. */
        if (rc != 0 && c->full_binary) {
            printf("write failed %s\n", eddy_strerror(rc));
            eddy_ws_close(ws, 1011, "out of memory", 13);
            return;
        }
    }
}

/* wss:// against the test CA in WS_TEST_CAFILE (test_wss.py, the stepped client); without it
 * the system's CAs are used. 0 (and a line saying why) when the file cannot be used. */
static int use_test_ca(eddy_ws_options *o) {
    const char *cafile = getenv("WS_TEST_CAFILE");
    if (!cafile) return 1;
    eddy_tls_context *tls = eddy_tls_context_new_client();
    int ok = tls && eddy_tls_context_load_ca_file(tls, cafile) == 0 &&
             eddy_ws_options_set_tls(o, tls) == 0;
    if (!ok) printf("bad CA file %s\n", cafile);
    eddy_tls_context_free(tls); /* the options keep their own reference */
    return ok;
}

static int run_client(const char *url, int deflate, char **messages, int count) {
    eddy_loop *loop = eddy_loop_new();
    struct client c = {loop, count, 0, messages, count, 0};
    eddy_ws_options *o = eddy_ws_options_new();
    if (deflate)
        eddy_ws_options_set_compression(
            o,
            EDDY_WS_DEFLATE |
                (getenv("WS_TEST_CLIENT_NO_TAKEOVER") ? EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER : 0),
            getenv("WS_TEST_CLIENT_WINDOW") ? atoi(getenv("WS_TEST_CLIENT_WINDOW")) : 0);
    /* WS_TEST_CONNECT_TIMEOUT: a short one for a server that never answers (test_ws_connect_detail.py). */
    const char *timeout = getenv("WS_TEST_CONNECT_TIMEOUT");
    eddy_ws_options_set_connect_timeout(o, timeout ? atof(timeout) : 10);
    eddy_ws_options_set_on_refused(o, client_refused);
    /* WS_TEST_HEADERS: "Name: value" lines added to the handshake, each add's result printed
     * (test_ws_connect_detail.py). */
    const char *extra = getenv("WS_TEST_HEADERS");
    while (extra && *extra) {
        const char *nl = strchr(extra, '\n');
        size_t len = nl ? (size_t)(nl - extra) : strlen(extra);
        const char *colon = memchr(extra, ':', len);
        if (colon) {
            const char *v = colon + 1;
            while (v < extra + len && *v == ' ') v++;
            printf("header %.*s rc=%d\n", (int)(colon - extra), extra,
                   eddy_ws_options_add_header(o, extra, (size_t)(colon - extra), v,
                                              (size_t)(extra + len - v)));
        }
        extra = nl ? nl + 1 : NULL;
    }
    if (!use_test_ca(o)) {
        eddy_ws_options_free(o);
        eddy_loop_free(loop);
        return 1;
    }
    int rc = eddy_websocket_connect(loop, url, EDDY_NTS, o, client_connected, client_message,
                                    client_close, &c, NULL);
    eddy_ws_options_free(o);
    if (rc != 0) {
        printf("connect error %s\n", eddy_strerror(rc));
        eddy_loop_free(loop);
        return 1;
    }
    eddy_loop_run(loop);
    eddy_loop_free(loop);
    fflush(stdout);
    return 0;
}

/* --connect-steps: eddy_loop_stop from a timer when an exchange goes on too long. */
static void steps_watchdog(eddy_loop *loop, void *ud) {
    *(int *)ud = 1;
    printf("hung\n");
    eddy_loop_stop(loop);
}

static int run_client_steps(const char *url, int deflate, char **messages, int count) {
    eddy_loop *loop = eddy_loop_new();
    eddy_ws_options *o = eddy_ws_options_new();
    if (!loop || !o) return 1;
    if (deflate) eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE, 0);
    eddy_ws_options_set_connect_timeout(o, 5);
    eddy_ws_options_set_close_timeout(o, 2);
    if (!use_test_ca(o)) return 1; /* made before any exchange (not stepped) */
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        struct client c = {loop, count, 0, messages, count, 1};
        int hung = 0;
        /* Scheduled before the window opens: not one of the exchange's allocations. */
        eddy_call_id watchdog = eddy_loop_call_later(loop, 8, steps_watchdog, &hung, NULL);
        raise(SIGUSR1);
        int rc = eddy_websocket_connect(loop, url, EDDY_NTS, o, client_connected, client_message,
                                        client_close, &c, NULL);
        if (rc != 0) {
            raise(SIGUSR2);
            printf("connect error %s\n", eddy_strerror(rc));
        } else {
            eddy_loop_run(loop);
            raise(SIGUSR2);
        }
        if (!hung) eddy_loop_cancel(loop, watchdog);
        printf("end\n");
        fflush(stdout);
        if (hung) break; /* the connection may still use `c` */
    }
    eddy_ws_options_free(o);
    eddy_loop_free(loop);
    return 0;
}

int main(int argc, char **argv) {
    int port = 0;
    if (argc >= 3 && strcmp(argv[1], "--connect-steps") == 0) {
        int deflate = argc >= 4 && strcmp(argv[3], "--deflate") == 0;
        int first = deflate ? 4 : 3;
        return run_client_steps(argv[2], deflate, argv + first, argc - first);
    }
    if (argc >= 3 && strcmp(argv[1], "--connect") == 0) {
        int deflate = argc >= 4 && strcmp(argv[3], "--deflate") == 0;
        int first = deflate ? 4 : 3;
        return run_client(argv[2], deflate, argv + first, argc - first);
    }
    const char *cert = NULL, *key = NULL, *access_log = NULL;
    int loop_first = 0; /* --free loop-first: free the loop, then the app (both orders are legal) */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--free") == 0) loop_first = strcmp(argv[i + 1], "loop-first") == 0;
        if (strcmp(argv[i], "--tls-cert") == 0) cert = argv[i + 1];
        if (strcmp(argv[i], "--tls-key") == 0) key = argv[i + 1];
        if (strcmp(argv[i], "--access-log") == 0) access_log = argv[i + 1];
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_app *app = eddy_app_new(loop);
    if (access_log) {
        int fd = open(access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || eddy_server_set_access_log_fd(eddy_app_server(app), fd) != 0) return 1;
    }
    if (cert && key) { /* wss:// (test_wss.py) */
        eddy_tls_context *tls = eddy_tls_context_new_server();
        if (!tls || eddy_tls_context_load_cert_file(tls, cert, key) != 0 ||
            eddy_server_set_tls(eddy_app_server(app), tls) != 0)
            return 1;
        eddy_tls_context_free(tls); /* the server keeps its own reference */
    }

    eddy_ws_options *o = eddy_ws_options_new();
    eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE, 0);
    eddy_ws_options_set_max_message_size(o, 32u * 1024u * 1024u);
    eddy_route *r = eddy_app_add_route(app, "/ws", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    /* Compression level 0 (stored blocks) with the least memory: what the level changes shows
     * on the wire. */
    o = eddy_ws_options_new();
    eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE, 0);
    eddy_ws_options_set_compression_level(o, 0, 1);
    r = eddy_app_add_route(app, "/stored", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    /* A compressor that holds little between messages: memLevel 1, a 2^9-byte window. */
    o = eddy_ws_options_new();
    eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE, 9);
    eddy_ws_options_set_compression_level(o, -1, 1);
    r = eddy_app_add_route(app, "/lowmem", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    /* Messages being received may hold 100,000 bytes over all of this route's sessions. */
    o = eddy_ws_options_new();
    eddy_ws_options_set_max_message_size(o, 1u << 20);
    eddy_ws_options_set_max_message_memory(o, 100000);
    r = eddy_app_add_route(app, "/budget", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    o = eddy_ws_options_new();
    eddy_ws_options_set_max_message_size(o, 1000);
    eddy_ws_options_set_close_timeout(o, 1);
    r = eddy_app_add_route(app, "/small", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    /* Room for 64 MiB of queued echoes (more than the kernel's socket buffers hold) and a 1 s
     * close timeout: for a client that stops reading, then closes. */
    o = eddy_ws_options_new();
    eddy_ws_options_set_max_queued_output(o, 64u * 1024u * 1024u);
    eddy_ws_options_set_close_timeout(o, 1);
    r = eddy_app_add_route(app, "/deepqueue", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    o = eddy_ws_options_new();
    eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE | EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER, 0);
    r = eddy_app_add_route(app, "/proto", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, proto_open, echo_message, NULL, o);
    eddy_route_set_ws_select_subprotocol(r, pick_chat);
    eddy_route_set_prepare(r, proto_prepare);
    eddy_ws_options_free(o);

    authws_loop = loop;
    r = eddy_app_add_route(app, "/authws", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, authws_open, echo_message, NULL, NULL);
    eddy_route_set_prepare(r, authws_prepare);

    r = eddy_app_add_route(app, "/logclose", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, logclose_close, NULL);

    r = eddy_app_add_route(app, "/closer", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, closer_message, NULL, NULL);

    o = eddy_ws_options_new();
    eddy_ws_options_set_ping(o, 0.2, 1);
    eddy_ws_options_set_on_pong(o, on_pong);
    r = eddy_app_add_route(app, "/ping", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    o = eddy_ws_options_new();
    eddy_ws_options_set_on_ping(o, on_ping);
    r = eddy_app_add_route(app, "/onping", EDDY_NTS, NULL, NULL);
    eddy_route_set_websocket(r, NULL, echo_message, NULL, o);
    eddy_ws_options_free(o);

    if (eddy_app_listen(app, "127.0.0.1", port) != 0) return 1;
    eddy_signal *sigint = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    printf("listening on %d\n", eddy_server_port(eddy_app_server(app)));
    fflush(stdout);
    eddy_loop_run(loop);
    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    if (loop_first) {
        eddy_loop_free(loop);
        eddy_app_free(app);
    } else {
        eddy_app_free(app);
        eddy_loop_free(loop);
    }
    return 0;
}
