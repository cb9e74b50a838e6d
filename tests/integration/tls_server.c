/* tls_server: an HTTPS test server for test_tls.py.
 *
 *   tls_server --cert C --key K [--mem] [--ca CA --verify optional|required]
 *              [--sni NAME,CERT,KEY]... [--handshake-timeout S] [--no-tickets] [--tls13]
 *              [--big N] [--proxy-protocol] [--debug]
 *
 * Prints "listening on 127.0.0.1:PORT" once ready; SIGTERM/SIGINT stop it (exit 0).
 * Every request is answered with "scheme=<scheme> path=<path>\n", or, when it has a body,
 * "scheme=<scheme> path=<path> body=<length> fnv=<FNV-1a 32 of the body, hex>\n"; /big
 * answers N bytes (--big) written in pieces, to exercise large TLS writes. --mem loads the
 * pair from memory. /peer answers "remote=<ip> port=<port> scheme=<scheme>\n" (with
 * --proxy-protocol, every connection starts with a PROXY header before its TLS handshake).
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SNI 4

typedef struct {
    const char *name;
    eddy_tls_context *ctx;
} sni_entry;

static sni_entry g_sni[MAX_SNI];
static int g_sni_count;
static size_t g_big = 1 << 20;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

static eddy_tls_context *pick(eddy_tls_context *ctx, const char *name, void *userdata) {
    (void)userdata;
    for (int i = 0; i < g_sni_count; i++)
        if (strcmp(g_sni[i].name, name) == 0) return g_sni[i].ctx;
    return ctx;
}

static void on_request(eddy_request *req, void *userdata) {
    (void)userdata;
    size_t plen;
    const char *path = eddy_request_path(req, &plen);
    if (plen == 4 && memcmp(path, "/big", 4) == 0) {
        static char block[65536];
        memset(block, 'x', sizeof block);
        eddy_request_set_header(req, "Content-Type", EDDY_NTS, "application/octet-stream",
                                EDDY_NTS);
        for (size_t sent = 0; sent < g_big; sent += sizeof block) {
            size_t n = g_big - sent < sizeof block ? g_big - sent : sizeof block;
            eddy_request_write(req, block, n);
        }
        eddy_request_finish(req);
        return;
    }
    if (plen == 8 && memcmp(path, "/tlsinfo", 8) == 0) {
        /* sni=<name or -> peer=<rc> der=<hex of the client's certificate> */
        const char *sni = eddy_request_tls_server_name(req);
        size_t need = 0;
        int probe = eddy_request_tls_peer_certificate(req, NULL, &need);
        unsigned char *der = need ? malloc(need) : NULL;
        size_t len = need;
        int rc = der ? eddy_request_tls_peer_certificate(req, der, &len) : probe;
        char head[300];
        int n = snprintf(head, sizeof head, "sni=%s probe=%d peer=%d der=", sni ? sni : "-",
                         probe, rc);
        eddy_request_write(req, head, (size_t)n);
        for (size_t i = 0; rc == 0 && i < len; i++) {
            char hex[3];
            snprintf(hex, sizeof hex, "%02x", der[i]);
            eddy_request_write(req, hex, 2);
        }
        free(der);
        eddy_request_write(req, "\n", 1);
        eddy_request_finish(req);
        return;
    }
    if (plen == 5 && memcmp(path, "/peer", 5) == 0) {
        char line[200];
        int n = snprintf(line, sizeof line, "remote=%s port=%d scheme=%s\n",
                         eddy_request_remote_ip(req), eddy_request_remote_port(req),
                         eddy_request_scheme(req));
        eddy_request_write(req, line, (size_t)n);
        eddy_request_finish(req);
        return;
    }
    size_t blen;
    const unsigned char *in = (const unsigned char *)eddy_request_body(req, &blen);
    char body[512];
    int n;
    if (blen) {
        uint32_t fnv = 2166136261u;
        for (size_t i = 0; i < blen; i++) fnv = (fnv ^ in[i]) * 16777619u;
        n = snprintf(body, sizeof body, "scheme=%s path=%.*s body=%zu fnv=%08x\n",
                     eddy_request_scheme(req), (int)plen, path, blen, (unsigned)fnv);
    } else {
        n = snprintf(body, sizeof body, "scheme=%s path=%.*s\n", eddy_request_scheme(req),
                     (int)plen, path);
    }
    eddy_request_write(req, body, (size_t)n);
    eddy_request_finish(req);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop((eddy_loop *)userdata);
}

int main(int argc, char **argv) {
    const char *cert = NULL, *key = NULL, *ca = NULL;
    int verify = EDDY_TLS_VERIFY_NONE, mem = 0, tickets = 1, tls13 = 0, proxy_protocol = 0;
    double hs_timeout = -1;
    eddy_set_log_level(EDDY_LOG_INFO); /* the tests look for handshake failures in the log */
    eddy_tls_context *ctx = eddy_tls_context_new_server();
    if (!ctx) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--cert") && v)
            cert = argv[++i];
        else if (!strcmp(a, "--key") && v)
            key = argv[++i];
        else if (!strcmp(a, "--ca") && v)
            ca = argv[++i];
        else if (!strcmp(a, "--mem"))
            mem = 1;
        else if (!strcmp(a, "--no-tickets"))
            tickets = 0;
        else if (!strcmp(a, "--tls13"))
            tls13 = 1;
        else if (!strcmp(a, "--proxy-protocol"))
            proxy_protocol = 1;
        else if (!strcmp(a, "--debug"))
            eddy_set_log_level(EDDY_LOG_DEBUG);
        else if (!strcmp(a, "--big") && v)
            g_big = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--handshake-timeout") && v)
            hs_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--verify") && v) {
            i++;
            verify = !strcmp(v, "required") ? EDDY_TLS_VERIFY_REQUIRED : EDDY_TLS_VERIFY_OPTIONAL;
        } else if (!strcmp(a, "--sni") && v && g_sni_count < MAX_SNI) {
            char *spec = strdup(argv[++i]);
            char *c1 = strchr(spec, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            if (!c2) return 2;
            *c1 = *c2 = 0;
            eddy_tls_context *other = eddy_tls_context_new_server();
            if (eddy_tls_context_load_cert_file(other, c1 + 1, c2 + 1) != 0) return 3;
            g_sni[g_sni_count].name = spec;
            g_sni[g_sni_count].ctx = other;
            g_sni_count++;
        } else {
            fprintf(stderr, "bad argument %s\n", a);
            return 2;
        }
    }
    int rc;
    if (mem) {
        size_t clen, klen;
        char *c = read_file(cert, &clen), *k = read_file(key, &klen);
        rc = eddy_tls_context_load_cert_mem(ctx, c, clen, k, EDDY_NTS);
        free(c);
        free(k);
    } else {
        rc = eddy_tls_context_load_cert_file(ctx, cert, key);
    }
    if (rc != 0) {
        fprintf(stderr, "load cert: %s\n", eddy_strerror(rc));
        eddy_tls_context_free(ctx); /* leak-free exit under ASan too */
        return 3;
    }
    if (ca && eddy_tls_context_load_ca_file(ctx, ca) != 0) return 3;
    if (eddy_tls_context_set_verify(ctx, verify) != 0) return 3;
    if (!tickets) eddy_tls_context_set_session_tickets(ctx, 0);
    if (tls13) eddy_tls_context_set_min_version(ctx, EDDY_TLS_1_3);
    if (hs_timeout >= 0) eddy_tls_context_set_handshake_timeout(ctx, hs_timeout);
    if (g_sni_count) eddy_tls_context_set_sni_callback(ctx, pick, NULL, NULL);

    eddy_loop *loop = eddy_loop_new();
    eddy_server *server = eddy_server_new(loop, on_request, NULL, NULL);
    if (eddy_server_set_tls(server, ctx) != 0) return 4;
    if (proxy_protocol && eddy_server_set_proxy_protocol(server, 1) != 0) return 4;
    eddy_tls_context_free(ctx); /* the server keeps its own reference */
    if (eddy_server_listen(server, "127.0.0.1", 0, 0) != 0) return 4;
    printf("listening on 127.0.0.1:%d\n", eddy_server_port(server));
    fflush(stdout);
    eddy_signal *s1 = eddy_signal_new(loop, SIGINT, on_signal, loop, NULL);
    eddy_signal *s2 = eddy_signal_new(loop, SIGTERM, on_signal, loop, NULL);
    eddy_loop_run(loop);
    eddy_signal_free(s1);
    eddy_signal_free(s2);
    eddy_server_free(server);
    eddy_loop_free(loop);
    for (int i = 0; i < g_sni_count; i++) {
        eddy_tls_context_free(g_sni[i].ctx);
        free((char *)g_sni[i].name);
    }
    return 0;
}
