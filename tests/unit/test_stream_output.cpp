// Unit tests for the output side of lib/stream (internal API, over a real socketpair):
// write_now (straight to the socket when nothing is queued, the rest queued in order),
// notify_when_sent (once, when everything queued has left) and set_flush_on_eof (a peer that
// half-closes still gets what was queued; without it the stream closes at once) and
// output_progress (moves when the peer takes bytes, though the stream wrote none),
// set_read_after_write_error (the last read pass after a failed write, or none) and
// set_watch_close_with_input (the peer's close noticed while its input waits unread) and
// set_peer_fin_check (whether a FIN there means the peer left).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

// Before cmocka.h, whose fail() macro breaks the standard library's headers.
#include "eddy/common.h"
#include "loop/loop.hpp"
#include "stream/stream.hpp"

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

using eddy::Loop;
using eddy::Stream;

namespace {

struct Pair {
    Loop *loop = nullptr;
    Stream *stream = nullptr;
    int peer = -1;  // the other end, non-blocking, read by the test
    int closes = 0;
    int close_error = 1;
    int sent_calls = 0;
};

void on_close(Stream *, int error, void *arg) {
    Pair *p = static_cast<Pair *>(arg);
    p->closes++;
    p->close_error = error;
    p->stream = nullptr;  // released when this returns
}

void on_sent(Stream *, void *arg) { static_cast<Pair *>(arg)->sent_calls++; }

// A stream on one end of a socketpair whose send buffer is `sndbuf` bytes (0: the default).
void open_pair(Pair *p, int sndbuf) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sndbuf) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    p->loop = Loop::create();
    assert_non_null(p->loop);
    p->stream = Stream::create(p->loop, sv[0]);
    assert_non_null(p->stream);
    p->stream->set_close_callback(on_close, p);
    p->peer = sv[1];
}

void close_pair(Pair *p) {
    if (p->stream) p->stream->close(0);
    for (int i = 0; i < 10 && p->stream; i++) p->loop->run_once(10);
    delete p->loop;
    if (p->peer >= 0) close(p->peer);
}

// Whatever the peer can read now.
std::string drain_peer(Pair *p) {
    std::string got;
    char buf[65536];
    for (;;) {
        ssize_t n = read(p->peer, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

// Runs the loop and reads the peer until `want` bytes arrived (or 2000 passes).
std::string read_peer(Pair *p, size_t want) {
    std::string got;
    for (int i = 0; i < 2000 && got.size() < want; i++) {
        got += drain_peer(p);
        if (got.size() < want) p->loop->run_once(5);
    }
    return got;
}

std::string pattern(size_t n, char seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(seed + i % 23);
    return s;
}

void test_write_now_sends_at_once(void **) {
    Pair p;
    open_pair(&p, 0);
    assert_int_equal(p.stream->notify_when_sent(on_sent, &p), 0);  // nothing pending
    assert_int_equal(p.stream->write_now("hello", 5), 0);
    // No loop pass needed: the bytes are in the socket already.
    assert_false(p.stream->has_output());
    assert_int_equal(p.stream->bytes_sent(), 5);
    assert_string_equal(drain_peer(&p).c_str(), "hello");
    close_pair(&p);
    assert_int_equal(p.sent_calls, 0);
}

void test_write_now_queues_what_the_socket_refuses(void **) {
    Pair p;
    open_pair(&p, 4096);
    std::string first = pattern(1 << 20, 'a');
    assert_int_equal(p.stream->write_now(first.data(), first.size()), 0);
    assert_true(p.stream->has_output());  // a 4 KiB socket buffer took only a part
    // Queued output goes first: these go after it, in order, not to the socket directly.
    assert_int_equal(p.stream->write_now("tail-1", 6), 0);
    assert_int_equal(p.stream->write("tail-2", 6), 0);
    assert_int_equal(p.stream->notify_when_sent(on_sent, &p), 1);
    std::string want = first + "tail-1tail-2";
    std::string got = read_peer(&p, want.size());
    for (int i = 0; i < 5; i++) p.loop->run_once(1);
    assert_int_equal(got.size(), want.size());
    assert_true(got == want);
    assert_false(p.stream->has_output());
    assert_int_equal(p.stream->bytes_sent(), want.size());
    assert_int_equal(p.sent_calls, 1);  // once, when the last byte left
    close_pair(&p);
    assert_int_equal(p.sent_calls, 1);  // not again on close
}

void test_notify_cancelled(void **) {
    Pair p;
    open_pair(&p, 4096);
    std::string big = pattern(256 << 10, 'k');
    assert_int_equal(p.stream->write(big.data(), big.size()), 0);
    assert_int_equal(p.stream->notify_when_sent(on_sent, &p), 1);
    assert_int_equal(p.stream->notify_when_sent(nullptr, nullptr), 0);
    assert_int_equal(read_peer(&p, big.size()).size(), big.size());
    for (int i = 0; i < 5; i++) p.loop->run_once(1);
    assert_int_equal(p.sent_calls, 0);
    close_pair(&p);
}

// The peer half-closes while 1 MiB is queued, then reads: with flush_on_eof it gets all of it
// and the close reports EDDY_EOF; without, the stream closes at once and the rest is lost.
void half_close_with_queued_output(bool flush_on_eof, size_t *received, int *close_error) {
    Pair p;
    open_pair(&p, 4096);
    p.stream->set_flush_on_eof(flush_on_eof);
    std::string big = pattern(1 << 20, 'q');
    assert_int_equal(p.stream->write(big.data(), big.size()), 0);
    p.loop->run_once(1);  // a first flush fills the socket buffer
    shutdown(p.peer, SHUT_WR);
    std::string got;
    for (int i = 0; i < 4000 && p.closes == 0; i++) {
        got += drain_peer(&p);
        p.loop->run_once(2);
    }
    got += drain_peer(&p);
    assert_int_equal(p.closes, 1);
    if (got.size() == big.size()) assert_true(got == big);
    *received = got.size();
    *close_error = p.close_error;
    close_pair(&p);
}

void test_flush_on_eof(void **) {
    size_t received = 0;
    int error = 0;
    half_close_with_queued_output(true, &received, &error);
    assert_int_equal(received, 1 << 20);
    assert_int_equal(error, EDDY_EOF);
    half_close_with_queued_output(false, &received, &error);
    assert_true(received < (1u << 20));
    assert_int_equal(error, EDDY_EOF);
}

// The peer answers a line and closes with 32 MiB of ours unread while our read waits: the
// write fails (EPIPE) before the answer was read. By default the stream delivers the answer
// first (close_after_write_error); with set_read_after_write_error(false), as the HTTP server
// sets it (a gone client's pipelined requests must not run), it closes at once.
int lines_read = 0;

void on_line(Stream *, const char *, size_t, void *) { lines_read++; }

void reply_then_close_while_writing(bool read_after, int *lines, int *closes) {
    Pair p;
    open_pair(&p, 4096);
    p.stream->set_read_after_write_error(read_after);
    lines_read = 0;
    assert_int_equal(p.stream->read_until("\n", 1, 0, on_line, nullptr), 0);
    std::string big = pattern(32u << 20, 'w');
    assert_int_equal(p.stream->write(big.data(), big.size()), 0);
    for (int i = 0; i < 5; i++) p.loop->run_once(1);  // the socket buffer is full: it waits
    assert_true(p.stream->has_output());
    assert_int_equal(write(p.peer, "reply\n", 6), 6);
    close(p.peer);
    p.peer = -1;
    for (int i = 0; i < 200 && p.closes == 0; i++) p.loop->run_once(5);
    *lines = lines_read;
    *closes = p.closes;
    close_pair(&p);
}

void test_read_after_write_error(void **) {
    int lines = 0, closes = 0;
    reply_then_close_while_writing(true, &lines, &closes);
    assert_int_equal(closes, 1);
    assert_int_equal(lines, 1);
    reply_then_close_while_writing(false, &lines, &closes);
    assert_int_equal(closes, 1);
    assert_int_equal(lines, 0);
}

// A stream on the accepted end of a loopback TCP connection whose peer has a small receive
// buffer (set before connecting, so that the window it offers stays small).
void open_tcp_pair(Pair *p) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    assert_int_equal(bind(lfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, reinterpret_cast<sockaddr *>(&addr), &len), 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    int rcvbuf = 4096;
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(connect(cfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    int sfd = accept(lfd, nullptr, nullptr);
    assert_true(sfd >= 0);
    close(lfd);
    fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
    p->loop = Loop::create();
    assert_non_null(p->loop);
    p->stream = Stream::create(p->loop, sfd);
    assert_non_null(p->stream);
    p->stream->set_close_callback(on_close, p);
    p->peer = cfd;
}

// The HTTP server's idle check asks whether a peer took any of a long answer. bytes_sent()
// cannot tell while the socket stays unwritable, which the kernel keeps it until the peer
// drained a good part of the send buffer; output_progress() moves as soon as the peer takes
// bytes (TCP: acknowledges them), with no write by the stream.
void test_output_progress_moves_without_writes(void **) {
    Pair p;
    open_tcp_pair(&p);
    std::string big = pattern(8 << 20, 'p');
    assert_int_equal(p.stream->write(big.data(), big.size()), 0);
    // Flush until the socket takes no more.
    uint64_t sent = 0;
    for (int i = 0; i < 100 && (i < 3 || p.stream->bytes_sent() != sent); i++) {
        sent = p.stream->bytes_sent();
        p.loop->run_once(1);
    }
    sent = p.stream->bytes_sent();
    assert_true(sent > 0 && p.stream->has_output());
    uint64_t mark = p.stream->output_progress();
    assert_true(mark < sent);  // most of it waits in the kernel for the peer's window
    // The peer reads; the stream's loop does not run, so the stream writes nothing.
    uint64_t now = mark;
    size_t got = 0;
    for (int i = 0; i < 2000 && now == mark; i++) {
        got += drain_peer(&p).size();
        usleep(1000);
        now = p.stream->output_progress();
    }
    assert_true(got > 0);
    assert_int_equal(p.stream->bytes_sent(), sent);
    assert_true(now > mark && now <= sent);
    close_pair(&p);
}

// ---- set_watch_close_with_input --------------------------------------------------------------

// A server's connection: it read one request ("a\n") and handles it, a second ("b\n") waits
// in the stream behind it, and no read is pending. The client then closes.
std::string lines_got;

void on_request_line(Stream *, const char *data, size_t len, void *) {
    lines_got.append(data, len);
}

// Opens `p` (TCP when `tcp`, else a socketpair), lets the stream read "a\n" of "a\nb\n" and
// stop with "b\n" buffered. With `fin_first` the peer's FIN arrives together with the input.
void buffered_request_behind(Pair *p, bool tcp, bool watch, bool fin_first) {
    if (tcp) {
        open_tcp_pair(p);
    } else {
        open_pair(p, 0);
    }
    p->stream->set_watch_close_with_input(watch);
    lines_got.clear();
    assert_int_equal(p->stream->read_until("\n", 1, 0, on_request_line, nullptr), 0);
    assert_int_equal(write(p->peer, "a\nb\n", 4), 4);
    if (fin_first) shutdown(p->peer, SHUT_WR);
    for (int i = 0; i < 200 && lines_got.empty(); i++) p->loop->run_once(5);
    assert_string_equal(lines_got.c_str(), "a\n");
    assert_int_equal(p->stream->read_buffer_size(), 2);  // "b\n", which nobody reads yet
}

double clock_seconds(clockid_t id) {
    timespec ts;
    clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs the loop for 0.2 s with nothing to do; returns the share of that time spent on the CPU
// (about 0 when it waits; a busy loop takes all the CPU it gets).
double cpu_share_while_idle(Loop *loop) {
    double wall0 = clock_seconds(CLOCK_MONOTONIC);
    double cpu0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    while (clock_seconds(CLOCK_MONOTONIC) - wall0 < 0.2) loop->run_once(20);
    return (clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0) /
           (clock_seconds(CLOCK_MONOTONIC) - wall0);
}

// The close callback tells the owner at once, with EDDY_EOF as for an idle stream, and the
// input behind is dropped (nobody is there for its answer). It used to come only once the
// owner read again, after the first request's answer (a long poll: whenever that ended).
void test_close_with_input_watched(void **) {
    for (int tcp = 0; tcp < 2; tcp++) {
        for (int fin_first = 0; fin_first < 2; fin_first++) {
            Pair p;
            buffered_request_behind(&p, tcp != 0, true, fin_first != 0);
            if (!fin_first) {
                for (int i = 0; i < 3; i++) p.loop->run_once(1);
                assert_int_equal(p.closes, 0);  // still there: nothing happens
                shutdown(p.peer, SHUT_WR);
            }
            for (int i = 0; i < 200 && p.closes == 0; i++) p.loop->run_once(5);
            assert_int_equal(p.closes, 1);
            assert_int_equal(p.close_error, EDDY_EOF);
            assert_string_equal(lines_got.c_str(), "a\n");  // "b\n" never delivered
            char c;
            assert_int_equal(read(p.peer, &c, 1), 0);  // our FIN, no reset
            close_pair(&p);
        }
    }
}

// Off (the default, a client's reading): the buffered input still reaches the next read, and
// the end after it (idle with nothing buffered, the stream sees it).
void test_close_with_input_default_off(void **) {
    Pair p;
    buffered_request_behind(&p, true, false, true);
    for (int i = 0; i < 5; i++) p.loop->run_once(2);
    assert_int_equal(p.closes, 0);
    assert_int_equal(p.stream->read_until("\n", 1, 0, on_request_line, nullptr), 0);
    for (int i = 0; i < 200 && p.closes == 0; i++) p.loop->run_once(5);
    assert_string_equal(lines_got.c_str(), "a\nb\n");
    assert_int_equal(p.closes, 1);
    assert_int_equal(p.close_error, EDDY_EOF);
    close_pair(&p);
}

// With flush_on_eof (the HTTP server's), an answer queued when the FIN comes is sent first: a
// client that only half-closed still gets it.
void test_close_with_input_flushes_answers(void **) {
    Pair p;
    buffered_request_behind(&p, true, true, false);
    p.stream->set_flush_on_eof(true);
    std::string big = pattern(4u << 20, 'h');
    assert_int_equal(p.stream->write(big.data(), big.size()), 0);
    for (int i = 0; i < 5; i++) p.loop->run_once(1);
    assert_true(p.stream->has_output());  // the peer's small window holds it back
    shutdown(p.peer, SHUT_WR);
    std::string got;
    for (int i = 0; i < 20000 && p.closes == 0; i++) {
        got += drain_peer(&p);
        p.loop->run_once(1);
    }
    assert_int_equal(p.closes, 1);
    assert_int_equal(p.close_error, EDDY_EOF);
    // The rest of it still in the kernel's queue, then our FIN (no reset: that would lose it).
    char buf[65536];
    for (int i = 0; i < 20000; i++) {
        ssize_t n = read(p.peer, buf, sizeof buf);
        if (n == 0) break;
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            usleep(1000);
        }
    }
    assert_int_equal(got.size(), big.size());
    assert_true(got == big);
    assert_string_equal(lines_got.c_str(), "a\n");
    close_pair(&p);
}

// The peer resets the connection (closed with linger 0); the loop runs until the stream's close
// callback came (or a bound of ~1 s passed).
void reset_peer(Pair *p) {
    linger lg = {1, 0};
    assert_int_equal(setsockopt(p->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(p->peer);
    p->peer = -1;
    for (int i = 0; i < 200 && p->closes == 0; i++) p->loop->run_once(5);
}

// More input while the close is watched waits for the owner, and neither it nor a reset (which
// epoll reports on every wait as long as nobody reads) makes the loop spin. The reset ends the
// stream at once, as a read finding it does (EDDY_ECONNRESET); libevent reports it as
// EV_READ | EV_WRITE, not EV_CLOSED. (A TLS client closing with session tickets unread
// resets.)
void test_close_with_input_more_input_then_reset(void **) {
    Pair p;
    buffered_request_behind(&p, true, true, false);
    assert_int_equal(write(p.peer, "c\n", 2), 2);
    assert_true(cpu_share_while_idle(p.loop) < 0.2);
    assert_int_equal(p.closes, 0);
    reset_peer(&p);
    assert_int_equal(p.closes, 1);
    assert_int_equal(p.close_error, EDDY_ECONNRESET);
    assert_string_equal(lines_got.c_str(), "a\n");
    close_pair(&p);
}

// A pipe has no EPOLLRDHUP (its writer's close is an EPOLLHUP, which would spin): it is not
// watched, and keeps the behaviour without the watch.
void test_close_with_input_not_on_pipes(void **) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    Pair p;
    p.loop = Loop::create();
    assert_non_null(p.loop);
    p.stream = Stream::create(p.loop, fds[0]);
    assert_non_null(p.stream);
    p.stream->set_close_callback(on_close, &p);
    p.stream->set_watch_close_with_input(true);
    lines_got.clear();
    assert_int_equal(p.stream->read_until("\n", 1, 0, on_request_line, nullptr), 0);
    assert_int_equal(write(fds[1], "a\nb\n", 4), 4);
    close(fds[1]);
    for (int i = 0; i < 200 && lines_got.empty(); i++) p.loop->run_once(5);
    assert_true(cpu_share_while_idle(p.loop) < 0.2);
    assert_int_equal(p.closes, 0);
    assert_int_equal(p.stream->read_until("\n", 1, 0, on_request_line, nullptr), 0);
    for (int i = 0; i < 200 && lines_got.size() < 4; i++) p.loop->run_once(5);
    assert_string_equal(lines_got.c_str(), "a\nb\n");
    close_pair(&p);
}

// set_peer_fin_check: the owner is asked about a FIN (not a reset) and tells whether the
// peer left. What it sees: the input buffered and what the kernel still holds behind it.
struct FinCheck {
    bool verdict = true;
    int calls = 0;
    size_t unread = 0;
    size_t in_transport = 0;
    std::string scanned;
};

bool fin_check(Stream *s, void *arg) {
    FinCheck *f = static_cast<FinCheck *>(arg);
    f->calls++;
    f->unread = s->unread_input();
    f->in_transport = s->input_in_transport();
    s->scan_input(
        [](void *ctx, const char *data, size_t len) {
            static_cast<std::string *>(ctx)->append(data, len);
            return true;
        },
        &f->scanned);
    return f->verdict;
}

// true: the peer left (the stream ends with EDDY_EOF, as without a check). false: a half-close
// after input its owner holds back: the input stays, nothing spins, and the owner's reads get
// all of it (what the kernel held too), then the end.
void test_close_with_input_fin_check(void **) {
    for (int verdict = 0; verdict < 2; verdict++) {
        Pair p;
        FinCheck f;
        f.verdict = verdict != 0;
        buffered_request_behind(&p, true, true, false);
        assert_int_equal(p.stream->set_peer_fin_check(fin_check, &f), 0);
        assert_int_equal(write(p.peer, "c\n", 2), 2);  // stays in the kernel: nobody reads
        for (int i = 0; i < 3; i++) p.loop->run_once(1);
        shutdown(p.peer, SHUT_WR);
        for (int i = 0; i < 200 && f.calls == 0; i++) p.loop->run_once(5);
        assert_int_equal(f.calls, 1);
        assert_int_equal(f.unread, 2);
        assert_int_equal(f.in_transport, 2);
        assert_string_equal(f.scanned.c_str(), "b\n");
        if (verdict) {
            for (int i = 0; i < 200 && p.closes == 0; i++) p.loop->run_once(5);
            assert_int_equal(p.closes, 1);
            assert_int_equal(p.close_error, EDDY_EOF);
            assert_string_equal(lines_got.c_str(), "a\n");
        } else {
            assert_true(cpu_share_while_idle(p.loop) < 0.2);
            assert_int_equal(p.closes, 0);
            assert_int_equal(f.calls, 1);
            for (int i = 0; i < 2; i++) {
                assert_int_equal(p.stream->read_until("\n", 1, 0, on_request_line, nullptr), 0);
                for (int k = 0; k < 200 && lines_got.size() < static_cast<size_t>(4 + 2 * i); k++)
                    p.loop->run_once(5);
            }
            assert_string_equal(lines_got.c_str(), "a\nb\nc\n");
            // Then the end, with nothing left to read (an idle stream meets it).
            for (int i = 0; i < 200 && p.closes == 0; i++) p.loop->run_once(5);
            assert_int_equal(p.closes, 1);
            assert_int_equal(p.close_error, EDDY_EOF);
        }
        close_pair(&p);
    }
}

// A reset is a departure whatever the owner would say of a FIN: it is not asked.
void test_close_with_input_fin_check_not_for_resets(void **) {
    Pair p;
    FinCheck f;
    f.verdict = false;
    buffered_request_behind(&p, true, true, false);
    assert_int_equal(p.stream->set_peer_fin_check(fin_check, &f), 0);
    reset_peer(&p);
    assert_int_equal(p.closes, 1);
    assert_int_equal(p.close_error, EDDY_ECONNRESET);
    assert_int_equal(f.calls, 0);
    close_pair(&p);
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_now_sends_at_once),
        cmocka_unit_test(test_write_now_queues_what_the_socket_refuses),
        cmocka_unit_test(test_notify_cancelled),
        cmocka_unit_test(test_flush_on_eof),
        cmocka_unit_test(test_read_after_write_error),
        cmocka_unit_test(test_output_progress_moves_without_writes),
        cmocka_unit_test(test_close_with_input_watched),
        cmocka_unit_test(test_close_with_input_default_off),
        cmocka_unit_test(test_close_with_input_flushes_answers),
        cmocka_unit_test(test_close_with_input_more_input_then_reset),
        cmocka_unit_test(test_close_with_input_not_on_pipes),
        cmocka_unit_test(test_close_with_input_fin_check),
        cmocka_unit_test(test_close_with_input_fin_check_not_for_resets),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
