/* tls_keyupdate_tool PORT N: a TLS 1.3 client (plain OpenSSL, not eddy) that sends N
 * KeyUpdate(update_requested) messages in a row, as a flooding peer would, then one request.
 * Prints "sent K" (K < N when the server closed the connection first), then "answer <status
 * line>" or "closed". For test_tls.py: eddy must close such a peer instead of answering every
 * KeyUpdate while other connections wait. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tls_keyupdate_tool PORT N\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    long wanted = atol(argv[2]);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);  /* KeyUpdate is TLS 1.3's */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!ctx || fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 1;
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) return 1;
    long sent = 0;
    /* Each SSL_do_handshake after SSL_key_update writes one KeyUpdate record. */
    while (sent < wanted && SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 &&
           SSL_do_handshake(ssl) == 1)
        sent++;
    printf("sent %ld\n", sent);
    fflush(stdout);
    static const char request[] = "GET /after HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    char answer[256];
    int n = 0;
    if (SSL_write(ssl, request, (int)sizeof request - 1) > 0)
        n = SSL_read(ssl, answer, (int)sizeof answer - 1);
    if (n > 0) {
        answer[n] = '\0';
        answer[strcspn(answer, "\r\n")] = '\0';
        printf("answer %s\n", answer);
    } else {
        printf("closed\n");
    }
    fflush(stdout);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return 0;
}
