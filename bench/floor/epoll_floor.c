/* The epoll floor: level-triggered epoll (as eddy's libevent loop), one recv and one send per
 * request, nothing else. FLOOR_ET=1 makes it edge-triggered (as nginx). See README.md. */
#include "floor_common.h"
#include <sys/epoll.h>

int main(int argc, char **argv) {
    int listener = floor_listen(floor_port(argc, argv), SOCK_NONBLOCK);
    unsigned mode = getenv("FLOOR_ET") ? EPOLLET : 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener}, ready[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    static char in[16384], out[16384];
    for (;;) {
        int n = epoll_wait(ep, ready, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int c;
                while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    floor_nodelay(c);
                    struct epoll_event e = {.events = EPOLLIN | mode, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                }
                continue;
            }
            /* Edge-triggered: read until EAGAIN would cost a second recv per request; like
             * nginx, take a short read as "drained". */
            ssize_t got = recv(fd, in, sizeof in, 0);
            if (got <= 0) {
                close(fd);
                continue;
            }
            size_t len = 0;
            for (int k = floor_heads(in, got); k > 0 && len + FLOOR_RESPONSE_LEN <= sizeof out; k--) {
                memcpy(out + len, FLOOR_RESPONSE, FLOOR_RESPONSE_LEN);
                len += FLOOR_RESPONSE_LEN;
            }
            if (len > 0 && send(fd, out, len, 0) != (ssize_t)len) close(fd);
        }
    }
}
