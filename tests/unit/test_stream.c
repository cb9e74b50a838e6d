/* Unit tests for buffered streams (eddy/stream.h) over AF_UNIX socketpairs and TCP on
 * 127.0.0.1. Every test runs once per transport. */
#include "test_common.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#define MAX_READS 64

typedef struct {
    eddy_loop *loop;
    eddy_stream *stream;
    int peer; /* the raw other end */
    /* completed reads */
    char *reads[MAX_READS];
    size_t read_lens[MAX_READS];
    int nreads;
    /* what the read callback does next */
    const char *delim;
    size_t delim_len;
    size_t max_bytes;
    int mode; /* 0: stop after each read, 1: keep reading until delim */
    /* close */
    int close_calls;
    int close_error;
    int closed_inside_call; /* the close callback ran inside eddy_stream_close() */
    int in_close_call;
    int reads_before_close;
    int frees;
    /* writes */
    int write_status[MAX_READS];
    int write_order[MAX_READS];
    int nwrites;
    int drains;
    size_t drain_size;
    size_t drain_mark;
    int order_seq; /* monotonically increasing event counter */
    int close_seq;
    int last_write_seq;
} sctx;

static void record_read(sctx *ctx, const char *data, size_t len) {
    assert_true(ctx->nreads < MAX_READS);
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    copy[len] = '\0';
    ctx->reads[ctx->nreads] = copy;
    ctx->read_lens[ctx->nreads] = len;
    ctx->nreads++;
}

static void sctx_free_userdata(void *userdata) { ((sctx *)userdata)->frees++; }

static void on_close(eddy_stream *stream, int error, void *userdata) {
    sctx *ctx = userdata;
    assert_ptr_equal(stream, ctx->stream);
    ctx->close_calls++;
    ctx->close_error = error;
    ctx->reads_before_close = ctx->nreads;
    ctx->close_seq = ++ctx->order_seq;
    if (ctx->in_close_call) ctx->closed_inside_call = 1;
    /* Everything is refused from now on. */
    assert_int_equal(eddy_stream_closed(stream), 1);
    assert_int_equal(eddy_stream_fd(stream), -1);
    assert_int_equal(eddy_stream_write(stream, "x", 1, NULL), EDDY_ECLOSED);
}

static void stream_setup(sctx *ctx, int transport) {
    memset(ctx, 0, sizeof *ctx);
    ctx->loop = eddy_loop_new();
    assert_non_null(ctx->loop);
    int fds[2];
    make_pair(transport, fds);
    ctx->stream = eddy_stream_new(ctx->loop, fds[0]);
    assert_non_null(ctx->stream);
    ctx->peer = fds[1];
    eddy_stream_set_userdata(ctx->stream, ctx, sctx_free_userdata);
    assert_int_equal(eddy_stream_set_close_callback(ctx->stream, on_close), 0);
    assert_ptr_equal(eddy_stream_get_userdata(ctx->stream), ctx);
    assert_ptr_equal(eddy_stream_loop(ctx->stream), ctx->loop);
    assert_int_equal(eddy_stream_fd(ctx->stream), fds[0]);
    /* The stream made its socket non-blocking. */
    assert_true(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
    set_rcv_timeout(ctx->peer, TEST_WAIT_SECONDS);
}

/* Closes the stream if still open, waits for the close callback, frees everything. */
static void stream_teardown(sctx *ctx) {
    if (ctx->close_calls == 0) {
        eddy_stream_close(ctx->stream);
        run_until_count(ctx->loop, &ctx->close_calls, 1, TEST_WAIT_SECONDS);
    }
    assert_int_equal(ctx->close_calls, 1);
    assert_int_equal(ctx->frees, 1);
    /* A few more iterations: nothing fires twice. */
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(ctx->loop, 0), 0);
    assert_int_equal(ctx->close_calls, 1);
    assert_int_equal(ctx->frees, 1);
    if (ctx->peer >= 0) close(ctx->peer);
    eddy_loop_free(ctx->loop);
    for (int i = 0; i < ctx->nreads; i++) free(ctx->reads[i]);
}

/* ---- feeder: writes chunks to the peer fd from timers, a few ms apart --------------------- */

typedef struct {
    int fd;
    const char *const *chunks;
    const size_t *lens; /* NULL: strlen */
    int n;
    int next;
    int then; /* 0 nothing, 1 shutdown(SHUT_WR), 2 close */
    int done;
} feeder;

static void feeder_step(eddy_loop *loop, void *userdata) {
    feeder *f = userdata;
    if (f->next < f->n) {
        const char *c = f->chunks[f->next];
        size_t len = f->lens ? f->lens[f->next] : strlen(c);
        ssize_t n = send(f->fd, c, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            f->done = 1; /* the stream closed its end (e.g. after a limit was exceeded) */
            return;
        }
        assert_int_equal(n, (ssize_t)len); /* small chunks: never short on a blocking socket */
        f->next++;
    }
    if (f->next < f->n) {
        assert_true(eddy_loop_call_later(loop, 0.002, feeder_step, f, NULL) != 0);
        return;
    }
    if (f->then == 1) shutdown(f->fd, SHUT_WR);
    if (f->then == 2) {
        close(f->fd);
        f->fd = -1;
    }
    f->done = 1;
}

static void feeder_start(eddy_loop *loop, feeder *f) {
    assert_true(eddy_loop_call_later(loop, 0.002, feeder_step, f, NULL) != 0);
}

/* ---- read_until --------------------------------------------------------------------------- */

static void on_until(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    assert_int_equal(eddy_stream_reading(stream), 0);
    if (ctx->mode == 1)
        assert_int_equal(
            eddy_stream_read_until(stream, ctx->delim, ctx->delim_len, ctx->max_bytes, on_until),
            0);
}

static void on_regex(eddy_stream *stream, const char *data, size_t len, void *userdata);

/* Feeds `chunks` and checks the reads: read_until with the delimiter `delim`, or with `regex`
 * read_until_regex with it as the pattern, issued again from each callback. */
static void check_reads(int transport, int regex, const char *delim, const char *const *chunks,
                        int nchunks, const char *const *expect, int nexpect) {
    sctx ctx;
    stream_setup(&ctx, transport);
    ctx.delim = delim;
    ctx.delim_len = strlen(delim);
    ctx.mode = 1;
    if (regex)
        assert_int_equal(eddy_stream_read_until_regex(ctx.stream, delim, EDDY_NTS, 0, on_regex), 0);
    else
        assert_int_equal(eddy_stream_read_until(ctx.stream, delim, ctx.delim_len, 0, on_until), 0);
    assert_int_equal(eddy_stream_reading(ctx.stream), 1);
    feeder f = {ctx.peer, chunks, NULL, nchunks, 0, 0, 0};
    feeder_start(ctx.loop, &f);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, nexpect, TEST_WAIT_SECONDS), nexpect);
    for (int i = 0; i < nexpect; i++) assert_string_equal(ctx.reads[i], expect[i]);
    run_until_flag(ctx.loop, &f.done, TEST_WAIT_SECONDS);
    assert_int_equal(ctx.nreads, nexpect);
    assert_int_equal(ctx.close_calls, 0);
    stream_teardown(&ctx);
    assert_int_equal(ctx.close_error, 0);
}

static void test_read_until_splits(void **state) {
    int transport = *(int *)*state;
    /* one byte at a time, the delimiter split across writes, several delimiters in one write */
    static const char *const chunks[] = {"l", "i", "n", "e", "1", "\r", "\n", "line2\r",
                                         "\nline3\r\nline4\r\n", "\r\n", "x\r", "\r\n"};
    static const char *const expect[] = {"line1\r\n", "line2\r\n", "line3\r\n", "line4\r\n",
                                         "\r\n", "x\r\r\n"};
    check_reads(transport, 0, "\r\n", chunks, 12, expect, 6);
}

static void test_read_until_long_delimiter(void **state) {
    int transport = *(int *)*state;
    /* false starts of the delimiter, and a delimiter sent one byte at a time */
    static const char *const chunks[] = {"a--BOUND", "--BOUNDAR", "Y", "-", "-", "b-", "-", "B",
                                         "O", "U", "N", "D", "A", "R", "Y", "-", "-",
                                         "--BOUNDARY----BOUNDARY--"};
    static const char *const expect[] = {"a--BOUND--BOUNDARY--", "b--BOUNDARY--",
                                         "--BOUNDARY--", "--BOUNDARY--"};
    check_reads(transport, 0, "--BOUNDARY--", chunks, 18, expect, 4);
}

/* EDDY_NTS: a delimiter is text and may be NUL-terminated, as read_until_regex's pattern; a
 * write is bytes and refuses it, as eddy_request_write (both took it as a length of SIZE_MAX:
 * EDDY_ENOMEM). */
static void test_nts_lengths(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_write(ctx.stream, "hello\n", EDDY_NTS, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_write(ctx.stream, "hello\n", (size_t)PTRDIFF_MAX + 1, NULL),
                     EDDY_EINVAL);
    assert_int_equal(eddy_stream_write_buffer_size(ctx.stream), 0);
    assert_int_equal(eddy_stream_read_until(ctx.stream, NULL, EDDY_NTS, 0, on_until), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until(ctx.stream, ";;", EDDY_NTS, 0, on_until), 0);
    write_all(ctx.peer, "a;b;;c", 6);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    assert_string_equal(ctx.reads[0], "a;b;;");
    stream_teardown(&ctx);
}

/* Data already buffered when read_until is issued, and a read issued from a timer. */
static void issue_read(eddy_loop *loop, void *userdata) {
    (void)loop;
    sctx *ctx = userdata;
    assert_int_equal(eddy_stream_read_until(ctx->stream, "\n", 1, 0, on_until), 0);
}

static void test_read_until_buffered(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    ctx.mode = 0;
    write_all(ctx.peer, "one\ntwo\nthree\n", 14);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_until), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    /* mode 0: no further read was issued; the rest stays buffered */
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 0), 0);
    assert_int_equal(ctx.nreads, 1);
    assert_true(eddy_loop_call_soon(ctx.loop, issue_read, &ctx, NULL) != 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 2, TEST_WAIT_SECONDS), 2);
    assert_true(eddy_loop_call_later(ctx.loop, 0.001, issue_read, &ctx, NULL) != 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 3, TEST_WAIT_SECONDS), 3);
    assert_string_equal(ctx.reads[0], "one\n");
    assert_string_equal(ctx.reads[1], "two\n");
    assert_string_equal(ctx.reads[2], "three\n");
    /* Argument checks. */
    assert_int_equal(eddy_stream_read_until(ctx.stream, "", 0, 0, on_until), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until(ctx.stream, NULL, 1, 0, on_until), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until(NULL, "\n", 1, 0, on_until), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 0, 0, on_until), EDDY_EINVAL);
    stream_teardown(&ctx);
}

/* ---- read_bytes --------------------------------------------------------------------------- */

static void on_bytes(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    (void)stream;
    record_read((sctx *)userdata, data, len);
}

static void test_read_bytes(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    /* exact: 10 bytes arriving in pieces of 3 */
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 10, 0, on_bytes), 0);
    static const char *const chunks[] = {"012", "345", "678", "9ab"};
    feeder f = {ctx.peer, chunks, NULL, 4, 0, 0, 0};
    feeder_start(ctx.loop, &f);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    assert_string_equal(ctx.reads[0], "0123456789");
    run_until_flag(ctx.loop, &f.done, TEST_WAIT_SECONDS);
    /* partial: "ab" is buffered, so a partial read of up to 100 delivers just those */
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 100, 1, on_bytes), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 2, TEST_WAIT_SECONDS), 2);
    assert_string_equal(ctx.reads[1], "ab");
    /* partial with nothing buffered waits for data, and never delivers more than n */
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 4, 1, on_bytes), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 0), 0);
    assert_int_equal(ctx.nreads, 2);
    write_all(ctx.peer, "cdefgh", 6);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 3, TEST_WAIT_SECONDS), 3);
    assert_string_equal(ctx.reads[2], "cdef");
    /* exact read of what is left */
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 2, 0, on_bytes), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 4, TEST_WAIT_SECONDS), 4);
    assert_string_equal(ctx.reads[3], "gh");
    stream_teardown(&ctx);
}

/* A large exact read (1 MiB, more than one socket read). */
static void test_read_bytes_large(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    size_t n = 1 << 20;
    char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (char)(i * 7 + 3);
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, n, 0, on_bytes), 0);
    set_nonblock(ctx.peer);
    size_t off = 0;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.nreads == 0 && mono_now() < deadline) {
        if (off < n) {
            ssize_t w = write(ctx.peer, buf + off, n - off);
            if (w > 0) off += (size_t)w;
        }
        assert_int_equal(eddy_loop_run_once(ctx.loop, 10), 0);
    }
    assert_int_equal(ctx.nreads, 1);
    assert_int_equal(ctx.read_lens[0], n);
    assert_memory_equal(ctx.reads[0], buf, n);
    free(buf);
    stream_teardown(&ctx);
}

/* ---- read_until_close --------------------------------------------------------------------- */

static void on_until_close(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    /* delivered just before the close callback */
    assert_int_equal(ctx->close_calls, 0);
    (void)stream;
}

static void test_read_until_close(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    size_t n = 300000;
    char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + i % 26);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, on_until_close), 0);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, on_until_close), EDDY_EBUSY);
    set_nonblock(ctx.peer);
    size_t off = 0;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.close_calls == 0 && mono_now() < deadline) {
        if (off < n) {
            ssize_t w = write(ctx.peer, buf + off, n - off);
            if (w > 0) off += (size_t)w;
            if (off == n) {
                close(ctx.peer);
                ctx.peer = -1;
            }
        }
        assert_int_equal(eddy_loop_run_once(ctx.loop, 10), 0);
    }
    assert_int_equal(ctx.close_calls, 1);
    assert_int_equal(ctx.close_error, 0);
    assert_int_equal(ctx.nreads, 1);
    assert_int_equal(ctx.reads_before_close, 1);
    assert_int_equal(ctx.read_lens[0], n);
    assert_memory_equal(ctx.reads[0], buf, n);
    free(buf);
    stream_teardown(&ctx);
}

/* The peer closes without sending anything: 0 bytes, then close with error 0. */
static void test_read_until_close_empty(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, on_until_close), 0);
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.nreads, 1);
    assert_int_equal(ctx.read_lens[0], 0);
    assert_int_equal(ctx.close_error, 0);
    stream_teardown(&ctx);
}

/* A reset after data: the bytes that arrived are still delivered, then the close callback
 * gets the reset (as Tornado's read_until_close). They were dropped with the error. */
static void test_read_until_close_reset(void **state) {
    int transport = *(int *)*state;
    if (transport != TRANSPORT_TCP) skip();
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, on_until_close), 0);
    char buf[5000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)('a' + i % 26);
    write_all(ctx.peer, buf, sizeof buf);
    /* Until the stream has read it all (nothing left in the socket), then the reset. */
    int unread = 1;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (unread > 0 && mono_now() < deadline) {
        assert_int_equal(eddy_loop_run_once(ctx.loop, 10), 0);
        assert_int_equal(ioctl(eddy_stream_fd(ctx.stream), FIONREAD, &unread), 0);
    }
    assert_int_equal(unread, 0);
    assert_int_equal(ctx.nreads, 0);
    struct linger lg = {1, 0};
    assert_int_equal(setsockopt(ctx.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ECONNRESET);
    assert_int_equal(ctx.nreads, 1);
    assert_int_equal(ctx.reads_before_close, 1);
    assert_int_equal(ctx.read_lens[0], sizeof buf);
    assert_memory_equal(ctx.reads[0], buf, sizeof buf);
    stream_teardown(&ctx);
}

/* ---- EBUSY -------------------------------------------------------------------------------- */

static void test_second_read_busy(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_reading(ctx.stream), 0);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_bytes), 0);
    assert_int_equal(eddy_stream_reading(ctx.stream), 1);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_bytes), EDDY_EBUSY);
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 4, 0, on_bytes), EDDY_EBUSY);
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 4, 1, on_bytes), EDDY_EBUSY);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, on_bytes), EDDY_EBUSY);
    write_all(ctx.peer, "ok\n", 3);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    assert_string_equal(ctx.reads[0], "ok\n");
    assert_int_equal(eddy_stream_reading(ctx.stream), 0);
    /* After completion a new read is accepted. */
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 1, 0, on_bytes), 0);
    stream_teardown(&ctx);
}

/* ---- read_until_regex ----------------------------------------------------------------------- */

static void never_read(eddy_stream *stream, const char *data, size_t len, void *userdata);

static void on_regex(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    if (ctx->mode == 1)
        assert_int_equal(
            eddy_stream_read_until_regex(stream, ctx->delim, EDDY_NTS, ctx->max_bytes, on_regex),
            0);
}

static void test_read_until_regex(void **state) {
    int transport = *(int *)*state;
    /* The end of a message head, with bare or CRLF line ends, split across writes: the match
     * spans reads (the buffer is searched from its start each time). */
    static const char *const chunks[] = {
        "GET / HTTP/1.0\r\nA: b\r", "\n\r", "\n", "x\n\nrest\r\n", "\r\n", "tail\n", "\r\n"};
    static const char *const expect[] = {"GET / HTTP/1.0\r\nA: b\r\n\r\n", "x\n\n", "rest\r\n\r\n",
                                         "tail\n\r\n"};
    check_reads(transport, 1, "\r?\n\r?\n", chunks, 7, expect, 4);
    /* An empty match does not count: "x*" waits for an x, and the match ends with the x's
     * that have arrived. */
    static const char *const xs[] = {"ab", "cxx", "y", "zx"};
    static const char *const xs_expect[] = {"abcxx", "yzx"};
    check_reads(transport, 1, "x*", xs, 4, xs_expect, 2);
}

/* Each search starts where the last one showed a match could still begin, yet matches that
 * look at bytes before that point are found as a search of the whole buffer finds them. */
static void test_read_until_regex_resumes(void **state) {
    int transport = *(int *)*state;
    /* A lookbehind reaching back over earlier reads. */
    static const char *const behind[] = {"A1234", "5", "Z", "A12", "345Z"};
    static const char *const behind_expect[] = {"A12345Z", "A12345Z"};
    check_reads(transport, 1, "(?<=A.....)Z", behind, 5, behind_expect, 2);
    /* \B at the end of what has arrived: the next byte decides. */
    static const char *const nb[] = {"za", "b", "ya", "cab"};
    static const char *const nb_expect[] = {"zab", "yacab"};
    check_reads(transport, 1, "a\\Bb", nb, 4, nb_expect, 2);
    /* \b needs the byte before the resume point; "foo" inside a word does not count. */
    static const char *const words[] = {"xfo", "o", " fo", "o;"};
    static const char *const words_expect[] = {"xfoo foo"};
    check_reads(transport, 1, "\\bfoo\\b", words, 4, words_expect, 1);
}

static void test_read_until_regex_bytes_and_limits(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    /* Raw bytes, NUL and 0xff included (no UTF-8 check). */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "\\x00\\xff", EDDY_NTS, 0, on_bytes),
                     0);
    write_all(ctx.peer,
              "ab\0\xff"
              "cd",
              6);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.read_lens[0], 4);
    assert_memory_equal(ctx.reads[0], "ab\0\xff", 4);
    /* A bad pattern is refused (the stream stays usable); so are missing arguments. */
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "(", EDDY_NTS, 0, on_bytes),
                     EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, NULL, 0, 0, on_bytes), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "c", 1, 0, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_read_until_regex(NULL, "c", 1, 0, on_bytes), EDDY_EINVAL);
    /* A pattern given with its length (not NUL-terminated): "cd" of "cdX". */
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "cdX", 2, 0, on_bytes), 0);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "cd", 2, 0, on_bytes), EDDY_EBUSY);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 2, TEST_WAIT_SECONDS), 2);
    assert_string_equal(ctx.reads[1], "cd");
    stream_teardown(&ctx);

    /* A backtracking pattern over 64 KiB (beyond the JIT's default stack: the interpreter
     * takes over) and a lookahead match ending at max_bytes (delivered, as in Tornado). */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "(a|b)*c", EDDY_NTS, 0, on_bytes), 0);
    static char ab[65537];
    for (size_t i = 0; i < 65536; i++) ab[i] = i % 2 ? 'b' : 'a';
    ab[65536] = 'c';
    write_all(ctx.peer, ab, sizeof ab);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.read_lens[0], sizeof ab);
    assert_int_equal(ctx.close_calls, 0);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "[0-9]+(?=;)", EDDY_NTS, 3, on_bytes),
                     0);
    write_all(ctx.peer, "123", 3);
    for (int i = 0; i < 5; i++) eddy_loop_run_once(ctx.loop, 10); /* "123" read: no match yet */
    write_all(ctx.peer, ";", 1);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 2, TEST_WAIT_SECONDS), 2);
    assert_string_equal(ctx.reads[1], "123");
    assert_int_equal(ctx.close_calls, 0);
    stream_teardown(&ctx);

    /* No match within max_bytes, and a match ending beyond it: EDDY_ETOOBIG. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "\n", EDDY_NTS, 16, never_read), 0);
    write_all(ctx.peer, "0123456789abcdefghijklmnop", 26);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    stream_teardown(&ctx);
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until_regex(ctx.stream, "[0-9]+;", EDDY_NTS, 8, never_read),
                     0);
    write_all(ctx.peer, "1234567890;", 11);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    stream_teardown(&ctx);
}

/* ---- limits ------------------------------------------------------------------------------- */

static void never_read(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    (void)stream;
    (void)data;
    (void)len;
    (void)userdata;
    fail_msg("read callback must not run");
}

static void test_max_bytes(void **state) {
    int transport = *(int *)*state;
    /* No delimiter within max_bytes. */
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 16, never_read), 0);
    write_all(ctx.peer, "0123456789abcdefghijklmnop", 26);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    stream_teardown(&ctx);

    /* The delimiter is there, but beyond max_bytes. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 16, never_read), 0);
    write_all(ctx.peer, "0123456789abcdefghij\n", 21);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    stream_teardown(&ctx);

    /* Slowly, one byte at a time, without a delimiter: closes once over the limit. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\r\n", 2, 8, never_read), 0);
    static const char *const chunks[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"};
    feeder f = {ctx.peer, chunks, NULL, 11, 0, 0, 0};
    feeder_start(ctx.loop, &f);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    run_until_flag(ctx.loop, &f.done, TEST_WAIT_SECONDS); /* feeder writes to a closed peer */
    stream_teardown(&ctx);

    /* Exactly max_bytes including the delimiter is fine. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 16, on_bytes), 0);
    write_all(ctx.peer, "0123456789abcde\n", 16);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 1, TEST_WAIT_SECONDS), 1);
    assert_string_equal(ctx.reads[0], "0123456789abcde\n");
    assert_int_equal(ctx.close_calls, 0);
    stream_teardown(&ctx);
}

static void test_max_buffer_size(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_set_max_buffer_size(ctx.stream, 0), EDDY_EINVAL);
    assert_int_equal(eddy_stream_set_max_buffer_size(NULL, 10), EDDY_EINVAL);
    assert_int_equal(eddy_stream_set_max_buffer_size(ctx.stream, 1024), 0);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, never_read), 0);
    char buf[8192];
    memset(buf, 'x', sizeof buf);
    write_all(ctx.peer, buf, sizeof buf);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    stream_teardown(&ctx);

    /* read_until_close is bounded by it too. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_set_max_buffer_size(ctx.stream, 4096), 0);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, never_read), 0);
    set_nonblock(ctx.peer);
    char big[65536];
    memset(big, 'y', sizeof big);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.close_calls == 0 && mono_now() < deadline) {
        ssize_t w = send(ctx.peer, big, sizeof big, MSG_NOSIGNAL);
        (void)w;
        assert_int_equal(eddy_loop_run_once(ctx.loop, 10), 0);
    }
    assert_int_equal(ctx.close_calls, 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    stream_teardown(&ctx);
}

/* The limit is on what the stream must hold, not on how much the peer sent in one burst: lines
 * that each fit, arriving together past the limit, are all delivered (Tornado reads at most
 * max_buffer_size / 2 at a time for this reason). A read of a whole hint used to pass the limit
 * and close the stream with EDDY_ETOOBIG before the first line was delivered. */
static void test_max_buffer_size_burst(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_set_max_buffer_size(ctx.stream, 1024), 0);
    ctx.delim = "\n";
    ctx.delim_len = 1;
    ctx.mode = 1;
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_until), 0);
    char burst[8 * 200];
    for (int i = 0; i < 8; i++) {
        memset(burst + i * 200, 'a' + i, 199);
        burst[i * 200 + 199] = '\n';
    }
    write_all(ctx.peer, burst, sizeof burst);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 8, TEST_WAIT_SECONDS), 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ctx.read_lens[i], 200);
        assert_int_equal(ctx.reads[i][0], 'a' + i);
    }
    assert_int_equal(ctx.close_calls, 0);
    /* A line longer than the limit still closes it. */
    char longline[1100];
    memset(longline, 'z', sizeof longline);
    longline[sizeof longline - 1] = '\n';
    write_all(ctx.peer, longline, sizeof longline);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ETOOBIG);
    assert_int_equal(ctx.nreads, 8);
    stream_teardown(&ctx);

    /* The burst arrives while no read is pending (the idle stream watches for a close): what
     * it reads stays within the limit, and reads issued later get every line. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_set_max_buffer_size(ctx.stream, 1024), 0);
    write_all(ctx.peer, burst, sizeof burst);
    for (int i = 0; i < 5; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 10), 0);
    assert_int_equal(ctx.close_calls, 0);
    ctx.delim = "\n";
    ctx.delim_len = 1;
    ctx.mode = 1;
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_until), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nreads, 8, TEST_WAIT_SECONDS), 8);
    for (int i = 0; i < 8; i++) assert_int_equal(ctx.reads[i][0], 'a' + i);
    assert_int_equal(ctx.close_calls, 0);
    stream_teardown(&ctx);
}

/* ---- writes ------------------------------------------------------------------------------- */

static size_t peer_available(int fd) {
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 ? (size_t)n : 0;
}

static size_t g_expected_flushed[8];

static void on_write(eddy_stream *stream, int status, void *userdata) {
    (void)stream;
    sctx *ctx = userdata;
    int i = ctx->nwrites++;
    ctx->write_status[i] = status;
    ctx->write_order[i] = ++ctx->order_seq;
    ctx->last_write_seq = ctx->order_seq;
    if (status == 0 && i < 8 && g_expected_flushed[i]) {
        /* The bytes of this write (and all earlier ones) have reached the kernel. */
        size_t avail = 0;
        double deadline = mono_now() + TEST_WAIT_SECONDS;
        do {
            avail = peer_available(ctx->peer);
        } while (avail < g_expected_flushed[i] && mono_now() < deadline);
        assert_true(avail >= g_expected_flushed[i]);
    }
}

static void test_write_callbacks_in_order(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    memset(g_expected_flushed, 0, sizeof g_expected_flushed);
    g_expected_flushed[0] = 5;
    g_expected_flushed[1] = 5;  /* a write with no data completes in order too */
    g_expected_flushed[2] = 11;
    g_expected_flushed[3] = 11 + 3;
    assert_int_equal(eddy_stream_write(ctx.stream, "hello", 5, on_write), 0);
    assert_int_equal(eddy_stream_write(ctx.stream, NULL, 0, on_write), 0);
    assert_int_equal(eddy_stream_write(ctx.stream, " world", 6, on_write), 0);
    assert_int_equal(eddy_stream_write(ctx.stream, "abc", 3, NULL), 0);
    assert_int_equal(eddy_stream_write(ctx.stream, "", 0, on_write), 0);
    /* Writes are flushed at the end of the loop pass, not inside write(). */
    assert_int_equal(ctx.nwrites, 0);
    assert_int_equal(eddy_stream_write_buffer_size(ctx.stream), 14);
    assert_int_equal(run_until_count(ctx.loop, &ctx.nwrites, 4, TEST_WAIT_SECONDS), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ctx.write_status[i], 0);
        if (i) assert_true(ctx.write_order[i] > ctx.write_order[i - 1]);
    }
    assert_int_equal(eddy_stream_write_buffer_size(ctx.stream), 0);
    char buf[32];
    assert_int_equal(read_full(ctx.peer, buf, 14), 14);
    assert_memory_equal(buf, "hello worldabc", 14);
    assert_int_equal(eddy_stream_write(ctx.stream, NULL, 3, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_stream_write(NULL, "x", 1, NULL), EDDY_EINVAL);
    memset(g_expected_flushed, 0, sizeof g_expected_flushed);
    stream_teardown(&ctx);
}

/* 8 MiB to a peer that does not read: the write buffer holds the rest; when the peer drains,
 * the drain callback fires and every byte arrives intact. */
typedef struct {
    sctx *ctx;
    char *got;
    size_t got_len;
    size_t want;
    int reading;
} drain_peer;

static void drain_cb(eddy_stream *stream, void *userdata) {
    sctx *ctx = userdata;
    ctx->drains++;
    ctx->drain_size = eddy_stream_write_buffer_size(stream);
}

static void peer_reader(eddy_watch *w, int fd, int events, void *userdata) {
    (void)events;
    drain_peer *p = userdata;
    for (;;) {
        ssize_t n = read(fd, p->got + p->got_len, p->want - p->got_len);
        if (n > 0) {
            p->got_len += (size_t)n;
            if (p->got_len == p->want) {
                eddy_watch_free(w);
                return;
            }
            continue;
        }
        break;
    }
}

static void test_large_write_and_drain(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    size_t n = 8u << 20;
    char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (char)(i ^ (i >> 11));
    const size_t mark = 64 * 1024;
    assert_int_equal(eddy_stream_set_write_mark(ctx.stream, mark, drain_cb), 0);
    assert_int_equal(eddy_stream_write(ctx.stream, buf, n, on_write), 0);
    assert_int_equal(eddy_stream_write_buffer_size(ctx.stream), n);
    /* Let the loop flush what the kernel takes. */
    for (int i = 0; i < 5; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 0), 0);
    size_t pending = eddy_stream_write_buffer_size(ctx.stream);
    assert_true(pending > 0 && pending < n);
    assert_int_equal(ctx.drains, 0);
    assert_int_equal(ctx.nwrites, 0);
    /* More writes while above the mark queue up behind. */
    assert_int_equal(eddy_stream_write(ctx.stream, "tail", 4, on_write), 0);
    assert_int_equal(eddy_stream_write_buffer_size(ctx.stream), pending + 4);

    drain_peer p = {&ctx, malloc(n + 4), 0, n + 4, 1};
    set_nonblock(ctx.peer);
    eddy_watch *w = eddy_watch_new(ctx.loop, ctx.peer, EDDY_READABLE, peer_reader, &p, NULL);
    assert_non_null(w);
    double deadline = mono_now() + 30;
    while ((p.got_len < p.want || ctx.nwrites < 2) && mono_now() < deadline)
        assert_int_equal(eddy_loop_run_once(ctx.loop, 50), 0);
    assert_int_equal(p.got_len, p.want);
    assert_memory_equal(p.got, buf, n);
    assert_memory_equal(p.got + n, "tail", 4);
    assert_true(ctx.drains >= 1);
    assert_true(ctx.drain_size <= mark);
    assert_int_equal(ctx.nwrites, 2);
    assert_int_equal(ctx.write_status[0], 0);
    assert_int_equal(ctx.write_status[1], 0);
    assert_int_equal(eddy_stream_write_buffer_size(ctx.stream), 0);
    free(p.got);
    free(buf);
    stream_teardown(&ctx);
}

/* ---- closing ------------------------------------------------------------------------------ */

static void test_peer_close_eof(void **state) {
    int transport = *(int *)*state;
    /* Idle stream with a close callback notices the peer's close. */
    sctx ctx;
    stream_setup(&ctx, transport);
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_EOF);
    stream_teardown(&ctx);

    /* A pending read that cannot be satisfied: EOF. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 10, 0, never_read), 0);
    write_all(ctx.peer, "abc", 3);
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_EOF);
    stream_teardown(&ctx);
}

static void test_close_once_and_deferred(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    ctx.in_close_call = 1;
    assert_int_equal(eddy_stream_close(ctx.stream), 0);
    ctx.in_close_call = 0;
    assert_int_equal(ctx.close_calls, 0); /* never inside the call that closed it */
    assert_int_equal(eddy_stream_closed(ctx.stream), 1);
    assert_int_equal(eddy_stream_fd(ctx.stream), -1);
    assert_int_equal(eddy_stream_close(ctx.stream), 0); /* harmless */
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 1, 0, never_read), EDDY_ECLOSED);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, never_read), EDDY_ECLOSED);
    assert_int_equal(eddy_stream_read_until_close(ctx.stream, never_read), EDDY_ECLOSED);
    assert_int_equal(eddy_stream_write(ctx.stream, "x", 1, NULL), EDDY_ECLOSED);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.closed_inside_call, 0);
    assert_int_equal(ctx.close_error, 0);
    /* The peer sees the close. */
    char c;
    assert_int_equal(read(ctx.peer, &c, 1), 0);
    stream_teardown(&ctx);
    assert_int_equal(eddy_stream_close(NULL), EDDY_EINVAL);
}

/* Replacing userdata releases the old one; the last one is released once with the stream. */
static void test_userdata_replace(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    int other_frees = 0;
    eddy_stream_set_userdata(ctx.stream, &other_frees, count_free);
    assert_int_equal(ctx.frees, 1); /* the previous userdata */
    eddy_stream_set_userdata(ctx.stream, ctx.stream, NULL);
    assert_int_equal(other_frees, 1);
    ctx.frees = 0;
    eddy_stream_set_userdata(ctx.stream, &ctx, sctx_free_userdata);
    assert_int_equal(ctx.frees, 0);
    stream_teardown(&ctx);
    assert_int_equal(other_frees, 1);
}

static void test_pending_writes_get_eclosed(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    size_t n = 8u << 20;
    char *buf = calloc(1, n);
    assert_int_equal(eddy_stream_write(ctx.stream, buf, n, on_write), 0);
    assert_int_equal(eddy_stream_write(ctx.stream, "more", 4, on_write), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 0), 0);
    assert_int_equal(ctx.nwrites, 0);
    assert_true(eddy_stream_write_buffer_size(ctx.stream) > 0);
    assert_int_equal(eddy_stream_close(ctx.stream), 0);
    assert_int_equal(ctx.nwrites, 0); /* not inside close() */
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.nwrites, 2);
    assert_int_equal(ctx.write_status[0], EDDY_ECLOSED);
    assert_int_equal(ctx.write_status[1], EDDY_ECLOSED);
    assert_true(ctx.write_order[0] < ctx.write_order[1]);
    assert_true(ctx.write_order[1] < ctx.close_seq); /* write callbacks before the close one */
    free(buf);
    stream_teardown(&ctx);
}

static void close_in_read(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    assert_int_equal(eddy_stream_close(stream), 0);
    /* Everything after the close inside the callback is refused, nothing crashes. */
    assert_int_equal(eddy_stream_read_until(stream, "\n", 1, 0, never_read), EDDY_ECLOSED);
    assert_int_equal(eddy_stream_write(stream, "x", 1, NULL), EDDY_ECLOSED);
    assert_int_equal(eddy_stream_close(stream), 0);
    /* `data` is still valid until we return. */
    assert_memory_equal(data, "first\n", len);
}

static void test_close_inside_read_callback(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    /* Several lines buffered: the close must stop delivery after the first. */
    write_all(ctx.peer, "first\nsecond\nthird\n", 19);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, close_in_read), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.nreads, 1);
    assert_int_equal(ctx.close_error, 0);
    stream_teardown(&ctx);
}

/* Half-close: the peer sends, then shuts its write side; the data still reaches pending reads,
 * and we can still answer. */
static void half_close_second(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    assert_int_equal(eddy_stream_write(stream, "bye\n", 4, NULL), 0);
    assert_int_equal(eddy_stream_read_until(stream, "\n", 1, 0, never_read), 0);
}

static void half_close_first(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    assert_int_equal(eddy_stream_read_bytes(stream, 3, 0, half_close_second), 0);
}

static void test_half_close(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, half_close_first), 0);
    write_all(ctx.peer, "hello\nwor", 9);
    assert_int_equal(shutdown(ctx.peer, SHUT_WR), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.nreads, 2);
    assert_string_equal(ctx.reads[0], "hello\n");
    assert_string_equal(ctx.reads[1], "wor");
    assert_int_equal(ctx.close_error, EDDY_EOF);
    char buf[8];
    assert_int_equal(read_full(ctx.peer, buf, 4), 4);
    assert_memory_equal(buf, "bye\n", 4);
    stream_teardown(&ctx);

    /* The read is issued only after the data and the FIN arrived. */
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_set_close_callback(ctx.stream, NULL), 0);
    write_all(ctx.peer, "late\n", 5);
    assert_int_equal(shutdown(ctx.peer, SHUT_WR), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 0), 0);
    assert_int_equal(eddy_stream_set_close_callback(ctx.stream, on_close), 0);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_bytes), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.nreads, 1);
    assert_string_equal(ctx.reads[0], "late\n");
    assert_int_equal(ctx.close_error, EDDY_EOF);
    stream_teardown(&ctx);
}

/* A write queued in the pass in which the peer's FIN is read (here by a watch on another fd
 * that became ready first): the stream sends it before closing with EDDY_EOF, and its callback
 * says so with 0. It used to get EDDY_ECLOSED ("dropped") although the peer got every byte. */
static sctx *g_eof_ctx;

static void write_from_watch(eddy_watch *w, int fd, int events, void *userdata) {
    (void)events;
    (void)userdata;
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    assert_int_equal(eddy_stream_write(g_eof_ctx->stream, "reply\n", 6, on_write), 0);
    eddy_watch_free(w);
}

static void test_write_sent_before_eof_close(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    g_eof_ctx = &ctx;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_non_null(eddy_watch_new(ctx.loop, p[0], EDDY_READABLE, write_from_watch, NULL, NULL));
    /* Ready in this order: the pipe, then the stream's socket (epoll reports them so). */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(shutdown(ctx.peer, SHUT_WR), 0);
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_EOF);
    char buf[8];
    assert_int_equal(read_full(ctx.peer, buf, 6), 6);
    assert_memory_equal(buf, "reply\n", 6);
    assert_int_equal(ctx.nwrites, 1);
    assert_int_equal(ctx.write_status[0], 0);
    close(p[0]);
    close(p[1]);
    stream_teardown(&ctx);
}

/* TCP reset: a pending read sees ECONNRESET. */
static void test_peer_reset(void **state) {
    int transport = *(int *)*state;
    if (transport != TRANSPORT_TCP) skip();
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_bytes(ctx.stream, 10, 0, never_read), 0);
    struct linger lg = {1, 0};
    assert_int_equal(setsockopt(ctx.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.close_error, EDDY_ECONNRESET);
    stream_teardown(&ctx);
}

/* Writing to a peer that went away closes the stream instead of raising SIGPIPE. */
static void test_write_to_closed_peer(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_set_close_callback(ctx.stream, NULL), 0);
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(eddy_stream_set_close_callback(ctx.stream, on_close), 0);
    /* Default SIGPIPE disposition: a write without MSG_NOSIGNAL would kill the test. */
    signal(SIGPIPE, SIG_DFL);
    char buf[4096];
    memset(buf, 'z', sizeof buf);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.close_calls == 0 && mono_now() < deadline) {
        if (!eddy_stream_closed(ctx.stream)) eddy_stream_write(ctx.stream, buf, sizeof buf, NULL);
        assert_int_equal(eddy_loop_run_once(ctx.loop, 10), 0);
    }
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(ctx.close_calls, 1);
    assert_true(ctx.close_error == EDDY_ECONNRESET || ctx.close_error == EDDY_EOF);
    stream_teardown(&ctx);
}

/* A peer that answers and then resets (an HTTP server refusing an upload early with 413, closing
 * with the upload unread) makes the stream's write fail before it read the answer, though the
 * kernel still holds it: the stream delivers it to its pending reads first, then closes with the
 * write's error (as curl reports the 413; Tornado's IOStream reads before it writes). */
static void on_reply_line(eddy_stream *stream, const char *data, size_t len, void *userdata) {
    sctx *ctx = userdata;
    record_read(ctx, data, len);
    /* The stream is closing: writes are refused, reads are still served. */
    assert_int_equal(eddy_stream_closed(stream), 1);
    assert_int_equal(eddy_stream_write(stream, "x", 1, NULL), EDDY_ECLOSED);
    assert_int_equal(eddy_stream_read_until(stream, "\n", 1, 0, on_reply_line), 0);
}

static void on_big_write(eddy_stream *stream, int status, void *userdata) {
    (void)stream;
    sctx *ctx = userdata;
    ctx->write_status[ctx->nwrites++] = status;
}

static void test_reply_before_reset_survives_failed_write(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    assert_int_equal(eddy_stream_read_until(ctx.stream, "\n", 1, 0, on_reply_line), 0);
    /* More than the socket buffers hold, and the peer reads none of it: the stream keeps output
     * queued and waits to write. */
    size_t big = 32u << 20;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, 'u', big);
    assert_int_equal(eddy_stream_write(ctx.stream, buf, big, on_big_write), 0);
    free(buf);
    for (int i = 0; i < 20; i++) assert_int_equal(eddy_loop_run_once(ctx.loop, 5), 0);
    assert_true(eddy_stream_write_buffer_size(ctx.stream) > 0);
    assert_int_equal(ctx.nreads, 0);
    /* The peer answers and goes, resetting (TCP: SO_LINGER {1, 0}; its unread input alone
     * would do); nothing ran the loop in between, so the write fails before the read. */
    const char reply[] = "413 too large\nbye\n";
    write_all(ctx.peer, reply, sizeof reply - 1);
    if (transport == TRANSPORT_TCP) {
        struct linger lg = {1, 0};
        assert_int_equal(setsockopt(ctx.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    }
    close(ctx.peer);
    ctx.peer = -1;
    assert_int_equal(run_until_count(ctx.loop, &ctx.close_calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.reads_before_close, 2);
    assert_string_equal(ctx.reads[0], "413 too large\n");
    assert_string_equal(ctx.reads[1], "bye\n");
    /* The write's error, not the end of the input the last read met. */
    assert_int_equal(ctx.close_error, EDDY_ECONNRESET);
    assert_int_equal(ctx.nwrites, 1);
    assert_int_equal(ctx.write_status[0], EDDY_ECLOSED);
    stream_teardown(&ctx);
}

static void test_nodelay(void **state) {
    int transport = *(int *)*state;
    sctx ctx;
    stream_setup(&ctx, transport);
    int rc = eddy_stream_set_nodelay(ctx.stream, 1);
    if (transport == TRANSPORT_TCP) {
        assert_int_equal(rc, 0);
        int v = 0;
        socklen_t len = sizeof v;
        assert_int_equal(
            getsockopt(eddy_stream_fd(ctx.stream), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
        assert_int_equal(v != 0, 1);
        assert_int_equal(eddy_stream_set_nodelay(ctx.stream, 0), 0);
    } else {
        assert_int_equal(rc, EDDY_ENOTSUP);
    }
    eddy_stream_close(ctx.stream);
    assert_int_equal(eddy_stream_set_nodelay(ctx.stream, 1), EDDY_ECLOSED);
    stream_teardown(&ctx);
}

/* Freeing the loop with open streams releases them (userdata once, fd closed), without
 * running their callbacks; what was queued goes to the socket first, as far as it takes it. */
static void test_loop_free_with_streams(void **state) {
    int transport = *(int *)*state;
    eddy_loop *loop = eddy_loop_new();
    int frees_open = 0, frees_closing = 0;
    int a[2], b[2];
    make_pair(transport, a);
    make_pair(transport, b);
    eddy_stream *open_s = eddy_stream_new(loop, a[0]);
    eddy_stream *closing_s = eddy_stream_new(loop, b[0]);
    eddy_stream_set_userdata(open_s, &frees_open, count_free);
    eddy_stream_set_userdata(closing_s, &frees_closing, count_free);
    assert_int_equal(eddy_stream_read_until(open_s, "\n", 1, 0, never_read), 0);
    assert_int_equal(eddy_stream_write(open_s, "pending", 7, NULL), 0);
    eddy_stream_close(closing_s); /* close callback still queued */
    eddy_loop_free(loop);
    assert_int_equal(frees_open, 1);
    assert_int_equal(frees_closing, 1);
    set_rcv_timeout(a[1], TEST_WAIT_SECONDS);
    char got[16];
    size_t n = 0;
    ssize_t r;
    while ((r = read(a[1], got + n, sizeof got - n)) > 0) n += (size_t)r;
    assert_int_equal(r, 0); /* the stream's fd was closed... */
    assert_int_equal(n, 7); /* ...after its queued bytes */
    assert_memory_equal(got, "pending", 7);
    close(a[1]);
    close(b[1]);
    assert_null(eddy_stream_new(NULL, 0));
    assert_null(eddy_stream_new(loop = eddy_loop_new(), -1));
    eddy_loop_free(loop);
}

static const int k_unix = TRANSPORT_UNIX;
static const int k_tcp = TRANSPORT_TCP;

#define BOTH(fn)                                                                                   \
    {#fn "/unix", fn, NULL, NULL, (void *)&k_unix}, { #fn "/tcp", fn, NULL, NULL, (void *)&k_tcp }

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* the raw peer sockets are ours; the streams use MSG_NOSIGNAL */
    const struct CMUnitTest tests[] = {
        BOTH(test_read_until_splits),
        BOTH(test_read_until_long_delimiter),
        BOTH(test_read_until_buffered),
        BOTH(test_read_until_regex),
        BOTH(test_read_until_regex_resumes),
        BOTH(test_read_until_regex_bytes_and_limits),
        BOTH(test_read_bytes),
        BOTH(test_read_bytes_large),
        BOTH(test_read_until_close),
        BOTH(test_read_until_close_empty),
        BOTH(test_read_until_close_reset),
        BOTH(test_second_read_busy),
        BOTH(test_max_bytes),
        BOTH(test_max_buffer_size),
        BOTH(test_max_buffer_size_burst),
        BOTH(test_nts_lengths),
        BOTH(test_write_callbacks_in_order),
        BOTH(test_large_write_and_drain),
        BOTH(test_peer_close_eof),
        BOTH(test_close_once_and_deferred),
        BOTH(test_userdata_replace),
        BOTH(test_pending_writes_get_eclosed),
        BOTH(test_close_inside_read_callback),
        BOTH(test_half_close),
        BOTH(test_write_sent_before_eof_close),
        BOTH(test_peer_reset),
        BOTH(test_write_to_closed_peer),
        BOTH(test_reply_before_reset_survives_failed_write),
        BOTH(test_nodelay),
        BOTH(test_loop_free_with_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
