// The client side shared by the fuzz targets that drive a whole server (fuzz_http_connection,
// fuzz_web_app): one input becomes one connection. A socketpair's one end is handed to the
// server with eddy_server_add_connection; the input is written on the other as the client's
// bytes, split into separate writes at h2o's write-boundary marker "\n--MARK--\n" (the marker is
// not sent; unlike h2o's harness the bytes after the last marker are sent too) with loop turns
// between; then the client half-closes (SHUT_WR), the loop is pumped a bounded number of times
// until the server closes its end, responses are read and discarded, and the connection is
// given back. Header-only: each target is one translation unit.
#pragma once

#include <eddy/eddy.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace fuzz_feed {

constexpr char kMarker[] = "\n--MARK--\n";
constexpr size_t kMarkerLen = sizeof kMarker - 1;
constexpr int kMaxIterations = 200;  // loop turns per input: bounded, never a hang

// Reads and discards what the server sent. Returns true once the server closed its end.
inline bool drain(int fd) {
    char buf[16384];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0) return true;
        if (errno == EINTR) continue;
        return errno != EAGAIN && errno != EWOULDBLOCK;  // ECONNRESET etc.: closed too
    }
}

// Sends one piece, pumping the loop while the socket buffer is full. False: server closed.
inline bool send_piece(eddy_loop *loop, int fd, const uint8_t *data, size_t len, int *iterations) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && *iterations < kMaxIterations) {
            eddy_loop_run_once(loop, 0);
            ++*iterations;
            if (drain(fd)) return false;
            continue;
        }
        return false;
    }
    return true;
}

// Plays `data` as one client connection to `server`, as described above. On return the server
// had the chance to release the connection and to run what the requests queued (deferred
// finishes, flush callbacks). With EDDY_FUZZ_STRICT set, a connection still open aborts (off
// by default: slow paths may legitimately outlast the bounded pumping).
inline void feed_connection(eddy_loop *loop, eddy_server *server, const uint8_t *data,
                            size_t size) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    int client = sv[0];
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    if (eddy_server_add_connection(server, sv[1], "127.0.0.1", 40000) != 0) {
        close(sv[1]);
        close(client);
        return;
    }

    // Write each piece before a marker (and the tail) as its own write, with loop turns between.
    int iterations = 0;
    bool open = true;
    const uint8_t *p = data, *end = data + size;
    while (open) {
        const uint8_t *mark = static_cast<const uint8_t *>(
            memmem(p, static_cast<size_t>(end - p), kMarker, kMarkerLen));
        const uint8_t *stop = mark ? mark : end;
        open = send_piece(loop, client, p, static_cast<size_t>(stop - p), &iterations);
        if (!mark) break;
        p = mark + kMarkerLen;
        eddy_loop_run_once(loop, 0);
        eddy_loop_run_once(loop, 0);
        iterations += 2;
        if (open && drain(client)) open = false;
    }
    shutdown(client, SHUT_WR);

    // Pump until the server closes its end (it got our EOF) or the bound is reached.
    bool closed = false;
    for (int i = 0; i < kMaxIterations && !closed; i++) {
        eddy_loop_run_once(loop, i < 20 ? 0 : 10);
        closed = drain(client);
    }
    close(client);
    // Let the server see the close and release the connection (and finish deferred requests).
    for (int i = 0; i < 50 && eddy_server_connection_count(server) > 0; i++)
        eddy_loop_run_once(loop, i < 10 ? 0 : 1);
    for (int i = 0; i < 3; i++) eddy_loop_run_once(loop, 0);
    static const bool strict = getenv("EDDY_FUZZ_STRICT") != nullptr;
    if (strict && eddy_server_connection_count(server) > 0) abort();
}

}  // namespace fuzz_feed
