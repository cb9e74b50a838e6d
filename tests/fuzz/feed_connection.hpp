// The client side shared by the fuzz targets that drive a whole server (fuzz_http_connection,
// fuzz_web_app): one input becomes one connection. A socketpair's one end is handed to the
// server with eddy_server_add_connection; the input is written on the other as the client's
// bytes, split into separate writes at the op markers of input_ops.hpp (h2o's "\n--MARK--\n",
// and "\n--TICK--\n" / "\n--HOLD--\n", which also move the virtual clock or stop the client
// reading for a while) with loop turns between; then the client half-closes (SHUT_WR), the loop
// is pumped a bounded number of times until the server closes its end, responses are read and
// discarded, and the connection is given back. Header-only: each target is one translation unit.
#pragma once

#include <eddy/eddy.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "input_ops.hpp"
#include "loop/fuzz_clock.hpp"

namespace fuzz_feed {

constexpr int kMaxIterations = 200;  // loop turns per input: bounded, never a hang
// With a hold: the smallest buffers the kernel allows (it rounds up to ~4.5 KiB), so a few
// answers fill the socket and the rest queue in the server's stream, past its 64 KiB hold.
constexpr int kSmallBuffer = 4096;

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

struct Client {
    eddy_loop *loop;
    int fd;
    int iterations = 0;
    unsigned hold = 0;  // loop turns left during which the answers are not read
    bool open = true;   // false once the server closed its end (as far as we read)
};

// One loop turn, then the answers are read unless held. False: the server closed its end.
inline bool turn(Client *c, int wait_ms) {
    eddy_loop_run_once(c->loop, wait_ms);
    ++c->iterations;
    if (c->hold > 0) {
        --c->hold;
        return true;
    }
    return !drain(c->fd);
}

// Sends one piece, pumping the loop while the socket buffer is full. False: server closed.
inline bool send_piece(Client *c, const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && c->iterations < kMaxIterations) {
            if (!turn(c, 0)) return false;
            continue;
        }
        return false;
    }
    return true;
}

// Writes each piece of [p, end) before an op marker (and the tail) as its own write; after each
// marker, does what it says and turns the loop twice: the first turn runs the timers the clock
// made due (run_once runs what is due after its pass), the second sends what they wrote.
// Stops early once the peer closed (c->open false).
inline void play_pieces(Client *c, const uint8_t *p, const uint8_t *end) {
    while (c->open) {
        Op op;
        bool more = next_op(p, end, &op);
        const uint8_t *stop = more ? op.at : end;
        c->open = send_piece(c, p, static_cast<size_t>(stop - p));
        if (!more) break;
        p = op.at + op.len;
        if (op.kind == OpKind::tick) eddy::fuzz_clock::advance(op.value / 1000.0);
        if (op.kind == OpKind::hold) c->hold = op.value;
        c->open = c->open && turn(c, 0);
        c->open = c->open && turn(c, 0);
    }
}

// Plays `data` as one client connection to `server`, as described above. On return the server
// had the chance to release the connection and to run what the requests queued (deferred
// finishes, flush callbacks). With EDDY_FUZZ_STRICT set, a connection still open aborts (off
// by default: slow paths may legitimately outlast the bounded pumping).
inline void feed_connection(eddy_loop *loop, eddy_server *server, const uint8_t *data,
                            size_t size) {
    const uint8_t *end = data + size;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    int client = sv[0];
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    if (has_hold(data, end)) {
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &kSmallBuffer, sizeof kSmallBuffer);
        setsockopt(client, SOL_SOCKET, SO_RCVBUF, &kSmallBuffer, sizeof kSmallBuffer);
    }
    if (eddy_server_add_connection(server, sv[1], "127.0.0.1", 40000) != 0) {
        close(sv[1]);
        close(client);
        return;
    }

    Client c{loop, client};
    play_pieces(&c, data, end);
    shutdown(client, SHUT_WR);

    // Pump until the server closes its end (it got our EOF) or the bound is reached. A hold
    // still running goes on here: the answers are read once it is over. (Also after a send
    // that gave up at the turn bound: the server may still be answering.)
    bool closed = false;
    // (Held turns do not wait: nothing is read then, and the server's socket is full anyway.)
    for (int i = 0; i < kMaxIterations && !closed; i++)
        closed = !turn(&c, c.hold > 0 || i < 20 ? 0 : 10);
    close(client);
    // Let the server see the close and release the connection (and finish deferred requests).
    for (int i = 0; i < 50 && eddy_server_connection_count(server) > 0; i++)
        eddy_loop_run_once(loop, i < 10 ? 0 : 1);
    for (int i = 0; i < 3; i++) eddy_loop_run_once(loop, 0);
    static const bool strict = getenv("EDDY_FUZZ_STRICT") != nullptr;
    if (strict && eddy_server_connection_count(server) > 0) abort();
}

}  // namespace fuzz_feed
