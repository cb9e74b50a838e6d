/* eddy — buffered non-blocking streams (Tornado's IOStream).
 *
 * A stream owns a connected socket and two buffers. Reads are requests: at most one is pending
 * at a time, and its callback runs once the request can be satisfied. Writes are queued and
 * flushed at the end of the current loop pass, so many small writes leave in one system call.
 *
 * Life cycle: a stream lives until its close callback has returned. It closes when you call
 * eddy_stream_close(), when the peer closes or resets, or on an error (a limit exceeded). The
 * close callback always runs exactly once, on a later loop iteration (never inside the call that
 * closed it), and then the stream and its userdata (through its free function) are released.
 *
 * A peer that answers and then resets (an HTTP server that refuses an upload early and closes
 * with it unread) may make a write fail before its answer was read. When a socket write fails
 * with a reset (or EPIPE) while a read is pending, the stream first reads and delivers what the
 * kernel still holds — until nothing more is there, the end, a read error, no read pending, or
 * the max buffer size — and then closes with the write's error (EDDY_ECONNRESET; a read limit
 * exceeded meanwhile still says EDDY_ETOOBIG, and eddy_stream_close() 0). During that
 * last pass the stream counts as closing: writes return EDDY_ECLOSED (their bytes are dropped)
 * and eddy_stream_closed() returns 1; reads may still be issued. TLS streams do the same: the
 * records received before the reset are decrypted and delivered (a failed TLS write leaves the
 * read side intact). Pipes close at once as before.
 *
 * Thread: every function here must be called on the thread of the stream's loop.
 */
#ifndef EDDY_STREAM_H
#define EDDY_STREAM_H

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_stream eddy_stream;

/* A completed read. `data` holds `len` bytes and is valid only during the call; the bytes are
 * consumed when the callback returns. The callback may issue the next read. */
typedef void (*eddy_stream_read_fn)(eddy_stream *stream, const char *data, size_t len,
                                    void *userdata);

/* A write was flushed to the kernel (`status` 0) or dropped because the stream closed first
 * (`status` EDDY_ECLOSED). Called in write order. */
typedef void (*eddy_stream_write_fn)(eddy_stream *stream, int status, void *userdata);

/* The stream closed. `error` is 0 after eddy_stream_close(), EDDY_EOF when the peer closed
 * while data was still wanted or when idle (a pipe's write end: when its reader closed),
 * EDDY_ECONNRESET on a reset (also when a write failed so and the input still queued was
 * delivered first, whether that input then ended or not), EDDY_ETOOBIG when a
 * read limit was exceeded, EDDY_ETIMEDOUT, or another code. The stream is released when this
 * returns. */
typedef void (*eddy_stream_close_fn)(eddy_stream *stream, int error, void *userdata);

/* The write buffer dropped to or below the mark set with eddy_stream_set_write_mark(). */
typedef void (*eddy_stream_drain_fn)(eddy_stream *stream, void *userdata);

/* Wraps a connected socket (a pipe or a terminal works too). The stream takes ownership of `fd`
 * (it is closed with the stream) and makes it non-blocking. A peer that went away never raises
 * SIGPIPE: writes fail and the stream closes. Returns NULL on bad arguments (including fds the
 * loop cannot watch: regular files, directories, /dev/null) or out of memory; then `fd` is
 * still the caller's. */
EDDY_API eddy_stream *eddy_stream_new(eddy_loop *loop, int fd);

/* Attaches userdata, passed to every callback of this stream. A previous userdata is released
 * through its free function first. `free_userdata` runs once, when the stream is released. */
EDDY_API void eddy_stream_set_userdata(eddy_stream *stream, void *userdata,
                                       eddy_free_fn free_userdata);

/* Returns the userdata set with eddy_stream_set_userdata() (NULL when none). */
EDDY_API void *eddy_stream_get_userdata(const eddy_stream *stream);

/* Sets the close callback (NULL removes it). With a close callback set, an idle stream keeps
 * watching the socket so that a peer's close is noticed even without a pending read.
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_stream_set_close_callback(eddy_stream *stream, eddy_stream_close_fn cb);

/* Reads until `delimiter` (`delimiter_len` > 0 bytes, or EDDY_NTS) and delivers the data
 * including it.
 * When `max_bytes` > 0 and no delimiter is found within `max_bytes` bytes, the stream closes
 * with EDDY_ETOOBIG (Tornado's read_until max_bytes).
 * Returns 0, EDDY_EBUSY when a read is already pending, EDDY_ECLOSED, EDDY_EINVAL,
 * EDDY_ENOMEM. */
EDDY_API int eddy_stream_read_until(eddy_stream *stream, const char *delimiter,
                                    size_t delimiter_len, size_t max_bytes,
                                    eddy_stream_read_fn cb);

/* Reads until the regular expression `pattern` (PCRE2 syntax, `pattern_len` bytes or EDDY_NTS;
 * matched against the raw bytes, not as UTF-8) matches, and delivers the data up to the end of
 * the first match (Tornado's read_until_regex). A match may span several arrivals, and an
 * empty match does not count. Each arrival resumes the search where a match could still begin
 * (PCRE2's partial matching tells where), so a stream growing by small reads is searched in
 * linear time; the match found is the one a search of the whole buffer from its start finds
 * (lookbehinds, \b and ^ see the earlier bytes) — except for \G, which matches at the resume
 * point, and backtracking verbs such as (*COMMIT), whose effect does not carry over from one
 * arrival to the next. The stream keeps the compiled pattern, so reading again with the same one
 * compiles nothing. `max_bytes` as in eddy_stream_read_until(): a match ending beyond it, or
 * more bytes than that without one, closes the stream with EDDY_ETOOBIG (set it: without it a
 * peer that never sends a match makes the stream buffer up to its max buffer size). Matching
 * uses PCRE2's JIT, and its interpreter where the JIT's stack runs out;
 * should PCRE2 give up (its match limit, on a pathological pattern) the stream closes with
 * EDDY_EINVAL and a log line.
 * Returns 0, EDDY_EINVAL (NULL arguments, or a pattern PCRE2 refuses: the log says why),
 * EDDY_EBUSY, EDDY_ECLOSED, EDDY_ENOMEM. */
EDDY_API int eddy_stream_read_until_regex(eddy_stream *stream, const char *pattern,
                                          size_t pattern_len, size_t max_bytes,
                                          eddy_stream_read_fn cb);

/* Reads exactly `n` (> 0) bytes, or with `partial` non-zero delivers as soon as 1..n bytes are
 * buffered. Returns as eddy_stream_read_until(). */
EDDY_API int eddy_stream_read_bytes(eddy_stream *stream, size_t n, int partial,
                                    eddy_stream_read_fn cb);

/* Reads everything until the peer closes, then delivers it (possibly 0 bytes) just before the
 * close callback, which then gets error 0. Should the connection fail instead (a reset:
 * EDDY_ECONNRESET), what arrived before is still delivered, and the close callback then gets
 * the error. The max buffer size applies (over it the stream closes with EDDY_ETOOBIG and
 * nothing is delivered). Returns as above. */
EDDY_API int eddy_stream_read_until_close(eddy_stream *stream, eddy_stream_read_fn cb);

/* Returns 1 while a read is pending, else 0. */
EDDY_API int eddy_stream_reading(const eddy_stream *stream);

/* Copies `len` bytes into the write buffer; they are sent at the end of this loop pass.
 * `cb` (may be NULL) runs once they have been handed to the kernel, or with EDDY_ECLOSED when
 * the stream closed first; it gets the stream's userdata. If the loop is freed first, `cb`
 * never runs; the userdata is released with the stream (eddy_loop_free). Bytes written from inside
 * a write callback may wait for the next pass, so a writer that keeps up cannot starve the
 * loop.
 * Returns 0, EDDY_ECLOSED (cb is not called), EDDY_EINVAL (NULL data with a length, or a length
 * no buffer has: over PTRDIFF_MAX, as EDDY_NTS) or EDDY_ENOMEM. */
EDDY_API int eddy_stream_write(eddy_stream *stream, const void *data, size_t len,
                               eddy_stream_write_fn cb);

/* Returns the number of bytes waiting in the write buffer. */
EDDY_API size_t eddy_stream_write_buffer_size(const eddy_stream *stream);

/* Backpressure: `cb` runs each time the write buffer drops to `mark` bytes or fewer after it
 * held more. A producer stops writing while eddy_stream_write_buffer_size() > mark and resumes
 * in `cb`. NULL `cb` removes it. Returns 0, EDDY_EINVAL or EDDY_ENOMEM (the mark is not set). */
EDDY_API int eddy_stream_set_write_mark(eddy_stream *stream, size_t mark,
                                        eddy_stream_drain_fn cb);

/* Limits the read buffer (default 100 MiB, as Tornado's max_buffer_size): the bytes received
 * and not yet taken by a read. More than that closes the stream with EDDY_ETOOBIG — a read that
 * needs more (a delimiter not within the limit, read_bytes beyond it), or input that nobody
 * reads. Input that pending reads take as it arrives never counts at once (no more than the
 * room left is read from the socket at a time), so a burst of short lines is not refused.
 * Returns 0 or EDDY_EINVAL (0 is invalid). */
EDDY_API int eddy_stream_set_max_buffer_size(eddy_stream *stream, size_t bytes);

/* Turns TCP_NODELAY on (non-zero) or off. Returns 0, EDDY_ENOTSUP (not a TCP socket),
 * EDDY_ECLOSED. */
EDDY_API int eddy_stream_set_nodelay(eddy_stream *stream, int on);

/* Closes the stream now: the socket is closed, pending data in both buffers is dropped,
 * pending write callbacks get EDDY_ECLOSED and the close callback gets error 0 — all on a later
 * iteration. Closing twice is harmless. Returns 0, EDDY_EINVAL or EDDY_ENOMEM. */
EDDY_API int eddy_stream_close(eddy_stream *stream);

/* Returns 1 once the stream is closed or closing (including the last read pass after a failed
 * write: see the life cycle above), else 0. */
EDDY_API int eddy_stream_closed(const eddy_stream *stream);

/* Returns the socket fd, or -1 once closed. The fd stays owned by the stream. */
EDDY_API int eddy_stream_fd(const eddy_stream *stream);

/* Returns the stream's loop. */
EDDY_API eddy_loop *eddy_stream_loop(const eddy_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_STREAM_H */
