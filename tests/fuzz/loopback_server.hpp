// fuzz_client_response's server side: a listening socket on 127.0.0.1 that lives for the whole
// process and the connections the client made to it. The harness is the server here, so it
// plays by hand what a server does: accept, read a request, write the (fuzzed) response in
// pieces with loop turns between, maybe close. Everything is non-blocking and every wait is a
// bounded number of loop turns (eddy_loop_run_once with timeout 0: loopback delivers a send()
// into the peer's buffer at once, so no turn has to sleep). Header-only: one translation unit.
#pragma once

#include <eddy/eddy.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "input_ops.hpp"

namespace fuzz_server {

constexpr int kTurns = 12;  // loop turns a wait may take before giving up

class LoopbackServer {
public:
    // Listens on 127.0.0.1 on a port the kernel picks. Returns false when it cannot.
    bool listen_loopback() {
        lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (lfd_ < 0) return false;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (bind(lfd_, reinterpret_cast<sockaddr *>(&a), len) != 0 || listen(lfd_, 64) != 0 ||
            getsockname(lfd_, reinterpret_cast<sockaddr *>(&a), &len) != 0)
            return false;
        port_ = ntohs(a.sin_port);
        return true;
    }
    int port() const { return port_; }
    // Called with each complete request head read.
    void on_request(std::function<void(const std::string &)> fn) { on_request_ = std::move(fn); }
    // Called at each "\n--TICK--\n" (the harness moves the fuzz build's virtual clock there).
    void on_tick(std::function<void()> fn) { on_tick_ = std::move(fn); }

    // Runs the loop until `ready()` or kTurns turns went by. Returns ready().
    bool pump_until(eddy_loop *loop, const std::function<bool()> &ready, int turns = kTurns) {
        for (int i = 0; i < turns && !ready(); i++) eddy_loop_run_once(loop, 0);
        return ready();
    }

    // Whether a connection is waiting to be accepted or one of ours has bytes to read.
    bool request_pending() {
        pollfd p{lfd_, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) return true;
        for (int fd : conns_) {
            char c;
            if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) return true;
        }
        return false;
    }

    // Pumps until the client sent something on a connection (a new one is accepted) and reads
    // the request head. Returns that connection, or -1 when none came within the bound or
    // `give_up()` says nothing will come.
    int await_request(eddy_loop *loop, const std::function<bool()> &give_up) {
        for (int i = 0; i < kTurns * 2; i++) {
            accept_pending();
            for (size_t k = 0; k < conns_.size(); k++) {
                char c;
                ssize_t n = recv(conns_[k], &c, 1, MSG_PEEK | MSG_DONTWAIT);
                if (n > 0) {
                    read_head(loop, conns_[k]);
                    return conns_[k];
                }
                if (n == 0) {  // the client closed it (a pooled connection dropped): gone
                    close_conn(conns_[k], false);
                    k--;
                }
            }
            if (give_up()) return -1;
            eddy_loop_run_once(loop, 0);
        }
        return -1;
    }

    // Writes `data` on `fd`, split at input_ops.hpp's op markers into separate writes with
    // loop turns between (a marker itself is not sent). At a TICK time passes first, by what
    // on_tick() does (the marker's own milliseconds are not used); a HOLD is only a boundary
    // here, since this side reads nothing while it writes. Stops early when the client
    // stopped reading.
    void write_pieces(eddy_loop *loop, int fd, const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size;
        for (;;) {
            fuzz_feed::Op op;
            bool more = fuzz_feed::next_op(p, end, &op);
            const uint8_t *stop = more ? op.at : end;
            if (!send_all(loop, fd, p, static_cast<size_t>(stop - p)) || !more) return;
            p = op.at + op.len;
            if (op.kind == fuzz_feed::OpKind::tick && on_tick_) on_tick_();
            eddy_loop_run_once(loop, 0);
            eddy_loop_run_once(loop, 0);
        }
    }

    // Closes one connection: what the client sent is read first, since closing a socket with
    // unread bytes sends a reset, not the FIN a close-delimited body ends with.
    void close_conn(int fd, bool drain_first = true) {
        if (drain_first) drain(fd);
        ::close(fd);
        for (size_t k = 0; k < conns_.size(); k++)
            if (conns_[k] == fd) conns_.erase(conns_.begin() + static_cast<long>(k));
    }

    // Closes every connection, accepted or still in the backlog (a request cancelled while
    // connecting leaves one there).
    void close_all() {
        accept_pending();
        while (!conns_.empty()) close_conn(conns_.back());
    }

private:
    void accept_pending() {
        for (;;) {
            int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            conns_.push_back(fd);
        }
    }

    static void drain(int fd) {
        char buf[4096];
        while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {}
    }

    // Reads the request up to its blank line (the rest of that read, a body, is dropped; a body
    // sent later is read as the next "request"), pumping while the client is still writing it,
    // and hands the head to the request check.
    void read_head(eddy_loop *loop, int fd) {
        char buf[4096];
        std::string head;
        for (int turn = 0; turn < kTurns; turn++) {
            ssize_t n;
            while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
                head.append(buf, static_cast<size_t>(n));
                size_t end = head.find("\r\n\r\n");
                if (end != std::string::npos) {
                    head.resize(end + 4);
                    if (on_request_) on_request_(head);
                    return;
                }
            }
            if (n == 0) return;
            eddy_loop_run_once(loop, 0);
        }
    }

    static bool send_all(eddy_loop *loop, int fd, const uint8_t *data, size_t len) {
        int turns = 0;
        while (len > 0) {
            ssize_t n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                data += n;
                len -= static_cast<size_t>(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && turns++ < kTurns) {
                eddy_loop_run_once(loop, 0);
            } else {
                return false;
            }
        }
        return true;
    }

    int lfd_ = -1;
    int port_ = 0;
    std::vector<int> conns_;
    std::function<void(const std::string &)> on_request_;
    std::function<void()> on_tick_;
};

}  // namespace fuzz_server
