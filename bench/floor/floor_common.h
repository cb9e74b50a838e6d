/* Shared by the two floor servers (bench/floor/README.md): measuring instruments, not servers.
 * They answer every "\r\n\r\n" they read with one fixed hello response of the same size as
 * bench/hello_server's, and do nothing else: no parsing, no timers, no error handling beyond
 * closing. Their CPU time per request is what the kernel interface alone costs. */
#ifndef EDDY_BENCH_FLOOR_COMMON_H
#define EDDY_BENCH_FLOOR_COMMON_H
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char FLOOR_RESPONSE[] =
    "HTTP/1.1 200 OK\r\nServer: eddy/0.1.0\r\nDate: Sun, 29 Nov 2026 10:20:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
#define FLOOR_RESPONSE_LEN (sizeof FLOOR_RESPONSE - 1)

/* --port N (the only option, as the bench scripts pass it); 18190 otherwise. */
static int floor_port(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--port") == 0) return atoi(argv[i + 1]);
    return 18190;
}

/* A listening socket on 127.0.0.1 with nginx's backlog (4096). */
static int floor_listen(int port, int flags) {
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0), one = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
        perror("floor: listen");
        exit(1);
    }
    return fd;
}

static void floor_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* How many request heads end in these bytes (a head split over two reads is not counted: wrk
 * sends each request in one segment). */
static int floor_heads(const char *p, long n) {
    int heads = 0;
    for (long i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') heads++;
    return heads;
}
#endif
