/* tls_connect_tool: eddy_connect_tls() through the stream C API, for test_tls.py.
 *
 *   tls_connect_tool HOST PORT [--ca FILE] [--name SERVER_NAME] [--no-verify] [--alpn P]
 *
 * Connects, sends "GET /connect HTTP/1.0", reads until the server closes and prints one line:
 *   connect=<err name> tls=<0|1> alpn=<proto> close=<err name> bytes=<n> body=<last line>
 */
#include <eddy/eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_line[512];
static size_t g_bytes;
static int g_connect_error = 0, g_close_error = 1;
static char g_alpn[64];
static int g_tls;

static void on_data(eddy_stream *s, const char *data, size_t len, void *ud) {
    (void)ud;
    snprintf(g_alpn, sizeof g_alpn, "%s", eddy_stream_tls_alpn(s));
    g_bytes += len;
    const char *last = data;
    for (size_t i = 0; i + 1 < len; i++)
        if (data[i] == '\n') last = data + i + 1;
    snprintf(g_line, sizeof g_line, "%.*s", (int)(len - (size_t)(last - data)), last);
    char *nl = strchr(g_line, '\n');
    if (nl) *nl = 0;
}

static void on_close(eddy_stream *s, int error, void *ud) {
    (void)s;
    g_close_error = error;
    eddy_loop_stop((eddy_loop *)ud);
}

static void on_connect(eddy_loop *loop, eddy_stream *s, int error, void *ud) {
    (void)ud;
    g_connect_error = error;
    if (!s) {
        eddy_loop_stop(loop);
        return;
    }
    g_tls = eddy_stream_is_tls(s);
    eddy_stream_set_userdata(s, loop, NULL);
    eddy_stream_set_close_callback(s, on_close);
    static const char req[] = "GET /connect HTTP/1.0\r\nHost: localhost\r\n\r\n";
    eddy_stream_write(s, req, sizeof req - 1, NULL);
    eddy_stream_read_until_close(s, on_data);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *ca = NULL, *name = NULL, *alpn = NULL;
    int verify = 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--ca") && i + 1 < argc)
            ca = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--alpn") && i + 1 < argc)
            alpn = argv[++i];
        else if (!strcmp(argv[i], "--no-verify"))
            verify = 0;
    }
    eddy_loop *loop = eddy_loop_new();
    eddy_tls_context *ctx = eddy_tls_context_new_client();
    if (ca && eddy_tls_context_load_ca_file(ctx, ca) != 0) return 3;
    if (!verify) eddy_tls_context_set_verify(ctx, EDDY_TLS_VERIFY_NONE);
    if (alpn) eddy_tls_context_set_alpn(ctx, &alpn, 1);
    int rc = eddy_connect_tls(loop, argv[1], atoi(argv[2]), 10, ctx, name, on_connect, NULL, NULL);
    eddy_tls_context_free(ctx); /* the connection keeps its own reference */
    if (rc != 0) {
        printf("start=%s\n", eddy_err_name(rc));
        eddy_loop_free(loop);
        return 0;
    }
    eddy_loop_run(loop);
    printf("connect=%s tls=%d alpn=%s close=%s bytes=%zu body=%s\n",
           g_connect_error ? eddy_err_name(g_connect_error) : "0", g_tls, g_alpn[0] ? g_alpn : "-",
           g_close_error ? eddy_err_name(g_close_error) : "0", g_bytes, g_line);
    eddy_loop_free(loop);
    return 0;
}
