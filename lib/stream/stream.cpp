#include "stream/stream.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "net/send_queue.hpp"
#include "stream/stream_regex.hpp"
#include "util/errors.hpp"
#include "util/log.hpp"
#include "util/no_sigpipe.hpp"
#include "util/no_throw.hpp"

namespace eddy {

namespace {
constexpr size_t kMinReadHint = 4096;
constexpr size_t kMaxReadHint = 256 * 1024;
constexpr int kMaxWriteIovecs = 64;
constexpr size_t kLingerDiscardLimit = 1024 * 1024;
}  // namespace

namespace {

bool epoll_can_watch(int fd) {
    int probe = epoll_create1(EPOLL_CLOEXEC);
    if (probe < 0) return false;
    epoll_event ev = {};
    ev.events = EPOLLIN;
    bool ok = epoll_ctl(probe, EPOLL_CTL_ADD, fd, &ev) == 0;
    ::close(probe);
    return ok;
}

}  // namespace

Stream *Stream::create(Loop *loop, int fd) {
    if (!loop || fd < 0) return nullptr;
    // epoll cannot watch every fd (regular files, directories, /dev/null): such a stream
    // would never read, or close at its first wait. Sockets and pipes always can (and the probe
    // needs an fd of its own, which a process out of fds does not have); anything else is tried.
    struct stat st;
    if (fstat(fd, &st) != 0 ||
        (!S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode) && !epoll_can_watch(fd))) {
        log(LogLevel::warning, "stream: fd %d cannot be watched (not a socket, pipe or terminal)",
            fd);
        return nullptr;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return nullptr;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return nullptr;
    Stream *s = new (std::nothrow) Stream(loop, fd);
    if (!s) return nullptr;
    s->not_socket_ = !S_ISSOCK(st.st_mode);
    s->write_only_ = (flags & O_ACCMODE) == O_WRONLY;
    if (!s->init()) {
        s->fd_ = -1;  // the caller keeps the fd on failure
        delete s;
        return nullptr;
    }
    return s;
}

Stream::Stream(Loop *loop, int fd) : loop_(loop), fd_(fd) {
    flush_task_.run = run_flush;
    flush_task_.owner = this;
    read_task_.run = run_reads;
    read_task_.owner = this;
    loop_->add_resource(this);
}

Stream::Extras *Stream::extras() {
    if (!ext_) {
        ext_.reset(new (std::nothrow) Extras());
        if (!ext_) return nullptr;
        ext_->linger_timer.fire = on_linger_timeout;
        ext_->linger_timer.owner = this;
    }
    return ext_.get();
}

bool Stream::init() { return true; }

evbuffer *Stream::output() {
    if (!out_) out_ = loop_->take_buffer();
    return out_;
}

evbuffer *Stream::in_buf() {
    if (!in_) in_ = evbuffer_new();
    return in_;
}

Stream::~Stream() {
    loop_->remove_resource(this);
    // (A close queued through read_task_ — see queue_close — may still be pending when the
    // loop is freed.)
    loop_->undefer(&flush_task_);
    loop_->undefer(&read_task_);
    if (in_) evbuffer_free(in_);
    if (out_) evbuffer_free(out_);
    if (c_free_userdata) c_free_userdata(c_userdata);
}

void Stream::on_loop_free() {
    if (!closed_ && out_len() > 0 && !has_files()) {
        write_before_close();
        discard_pending_input();
    }
    close_files();
    if (!closed_) {
        closed_ = true;
        if (io_flags_) event_del(&io_ev_);
        io_flags_ = 0;
        if (fd_ >= 0) ::close(fd_);
    }
    stop_linger_timer();
    delete this;
}

// ---- interest in socket readiness -------------------------------------------------------------

void Stream::update_read_interest() {
    reading_socket_ = !closed_ && !eof_ &&
                      (lingering_ || read_kind_ != ReadKind::none ||
                       (close_cb_ != nullptr && !no_peer_close_watch_ && in_len() == 0));
    apply_interest();
}

void Stream::set_write_interest(bool on) {
    if (closed_) return;
    writing_socket_ = on;
    apply_interest();
}

void Stream::apply_interest() {
    short want = static_cast<short>((reading_socket_ ? EV_READ : 0) | (writing_socket_ ? EV_WRITE : 0));
    want = closed_ ? 0 : transport_interest(want);
    // Watching for the peer's close only (not on the hot path: a stream that reads or writes
    // watches the socket already). EV_CLOSED is the FIN (EPOLLRDHUP); EV_READ is there for a
    // reset, which libevent 2.1 reports as EV_READ | EV_WRITE (EPOLLERR), never as EV_CLOSED.
    // Edge-triggered: the input that may come meanwhile, and a reset, would otherwise be
    // reported on every pass (a busy loop) since nothing reads them; so each change is
    // reported once (also what came before the registration), and on_io looks at it.
    if (!want && !closed_ && watch_close_with_input_ && wants_close_with_input())
        want = EV_READ | EV_CLOSED | EV_ET;
    if (want == io_flags_) return;
    if (io_flags_) event_del(&io_ev_);
    io_flags_ = static_cast<uint8_t>(want);  // EV_READ | EV_WRITE | EV_CLOSED | EV_ET: fits
    if (!want) return;
    // Safe inside this event's own callback: libevent calls persistent callbacks last.
    event_assign(&io_ev_, loop_->base(), fd_, static_cast<short>(want | EV_PERSIST), on_io_event, this);
    if (event_add(&io_ev_, nullptr) != 0) {
        // Nothing would ever wake this stream: close it rather than leave it hanging.
        io_flags_ = 0;
        log(LogLevel::warning, "stream: fd %d cannot be watched", fd_);
        close(EDDY_EIO);
    }
}

bool Stream::wants_close_with_input() const {
    // Not reading the socket (the caller's check) though a close callback wants the peer's
    // close noticed: a read is not pending and input waits in the buffer. Not while output is
    // queued (its writes tell), nor for a pipe (no EPOLLRDHUP: its EPOLLHUP would spin). Nor
    // while an owner waits to hear that the output left (notify_when_sent: the HTTP server
    // holding pipelined requests back until its answers are sent): it is told in a moment,
    // and mostly reads then; after_write_progress looks again if it does not.
    return close_cb_ != nullptr && !no_peer_close_watch_ && !closed_ && !eof_ && !closing() &&
           !not_socket_ && read_kind_ == ReadKind::none && in_len() > 0 && !has_output() &&
           !(ext_ && ext_->sent_cb) &&
           (event_base_get_features(loop_->base()) & EV_FEATURE_EARLY_CLOSE) != 0;
}

// Readiness while only the peer's close is watched (set_watch_close_with_input): its input
// waits for the owner. The peer closed (EV_CLOSED: its FIN) or reset (EV_READ with an error
// pending): a server's client that left. The stream ends as when a read finds the end, or
// the reset, with nothing buffered (handle_eof: the close callback gets EDDY_EOF; with
// flush_on_eof what is queued goes first): the input waiting is dropped, the requests in it
// are not for anyone any more. So is what the kernel still holds, as far as it is read at
// once: unread input makes close(2) send a reset, which would destroy answers still on their
// way to a peer that only half-closed. EV_READ alone otherwise is more input: it waits.
void Stream::on_peer_closed_with_input(short what) {
    // A read issued meanwhile reads the socket and meets the end itself; a watch turned off
    // meanwhile (an upgrade being made) leaves the end to the stream's next owner.
    if (closed_ || eof_ || read_kind_ != ReadKind::none || in_len() == 0 || !close_cb_ ||
        no_peer_close_watch_ || !watch_close_with_input_)
        return;
    int error = 0;
    socklen_t len = sizeof error;
    if (!(what & EV_CLOSED)) {
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error == 0) return;
    } else if (ext_ && ext_->fin_check) {
        // Its owner may be holding back a message the input completes (the check): a reset
        // (EPOLLRDHUP comes with it too) is a departure whatever the input, so it is told
        // apart first.
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = 0;
        if (!error && !ext_->fin_check(this, ext_->fin_check_arg)) return;
        if (closed_ || eof_ || in_len() == 0) return;  // (the check must not have; be safe)
    }
    evbuffer_drain(in_, in_len());
    if (error) {
        close(read_end_error(error_from_errno(error)));
        return;
    }
    discard_pending_input();
    handle_eof();
}

int Stream::set_peer_fin_check(PeerFinFn fn, void *arg) {
    if (!fn) {
        if (ext_) ext_->fin_check = nullptr;
        return 0;
    }
    Extras *ext = extras();
    if (!ext) return EDDY_ENOMEM;
    ext->fin_check = fn;
    ext->fin_check_arg = arg;
    return 0;
}

size_t Stream::input_in_transport() const {
    int n = 0;
    if (closed_ || ioctl(fd_, FIONREAD, &n) != 0 || n < 0) return SIZE_MAX;
    return static_cast<size_t>(n);
}

void Stream::scan_input(InputPieceFn fn, void *ctx) const {
    size_t total = in_len();
    evbuffer_ptr at;
    if (total == 0 || evbuffer_ptr_set(in_, &at, 0, EVBUFFER_PTR_SET) != 0) return;
    // One extent at a time from `at`: the buffer's chains, without copying them together.
    for (size_t done = 0; done < total;) {
        evbuffer_iovec piece;
        if (evbuffer_peek(in_, -1, &at, &piece, 1) < 1 || piece.iov_len == 0) return;
        size_t n = std::min(piece.iov_len, total - done);
        if (!fn(ctx, static_cast<const char *>(piece.iov_base), n)) return;
        done += n;
        if (done < total && evbuffer_ptr_set(in_, &at, n, EVBUFFER_PTR_ADD) != 0) return;
    }
}

void Stream::on_io_event(evutil_socket_t, short what, void *arg) {
    Stream *s = static_cast<Stream *>(arg);
    if (!ran_without_exception("stream: socket event", [&] { s->on_io(what); }))
        s->close_after_exception();
}

// What a stream's event ran (its consumer's parser, an answer being built) let an exception
// out: out of memory, most likely (util/no_throw.hpp). This connection ends, abruptly (a TLS
// peer must not take what it got for the whole); the others go on.
void Stream::close_after_exception() noexcept {
    in_read_event_ = false;
    flush_after_read_ = false;
    close_abruptly(EDDY_ENOMEM);
}

void Stream::on_io(short what) {
    if (io_flags_ & EV_CLOSED) {  // only the peer's close is watched
        on_peer_closed_with_input(what);
        return;
    }
    if (what & EV_WRITE) flush();
    if ((what & EV_READ) && !closed_ && reading_socket_) {
        if (write_only_) {
            // A pipe's write end is never readable: epoll reports it so (EPOLLERR) once the
            // reader has gone. That ends the stream as a peer's close ends a socket's (a read
            // would fail with EBADF, which said "system error").
            close(EDDY_EOF);
            return;
        }
        // Writing the answers now rather than after every other ready connection keeps one
        // output buffer in use at a time: it is reused while still in the cache, and the
        // loop's spare buffers suffice however many connections are ready at once.
        in_read_event_ = true;
        read_ready();
        in_read_event_ = false;
        if (flush_after_read_) {
            flush_after_read_ = false;
            if (!closed_) flush();
        }
    }
}

// ---- transport -------------------------------------------------------------------------------

ssize_t Stream::transport_read(evbuffer *in, size_t hint) {
    evbuffer_iovec vec[2];
    int nvec = evbuffer_reserve_space(in, static_cast<ev_ssize_t>(hint), vec, 2);
    if (nvec <= 0) {
        errno = ENOMEM;
        return -1;
    }
    // libevent may reserve more than asked: read no more than `hint` (read_ready's bound).
    iovec iov[2];
    size_t room = hint;
    for (int i = 0; i < nvec; i++) {
        if (vec[i].iov_len > room) vec[i].iov_len = room;
        room -= vec[i].iov_len;
        iov[i].iov_base = vec[i].iov_base;
        iov[i].iov_len = vec[i].iov_len;
    }
    ssize_t n = readv(fd_, iov, nvec);
    if (n <= 0) {
        int saved = errno;
        evbuffer_commit_space(in, vec, 0);
        errno = saved;
        return n;
    }
    size_t left = static_cast<size_t>(n);
    for (int i = 0; i < nvec; i++) {
        if (vec[i].iov_len > left) vec[i].iov_len = left;
        left -= vec[i].iov_len;
    }
    evbuffer_commit_space(in, vec, nvec);
    return n;
}

ssize_t Stream::transport_recv(char *buf, size_t len) {
    return not_socket_ ? ::read(fd_, buf, len) : recv(fd_, buf, len, 0);
}

ssize_t Stream::transport_sendfile(int file_fd, off_t *offset, size_t len) {
    // sendfile(2) has no MSG_NOSIGNAL, and a reset peer makes it raise SIGPIPE.
    return without_sigpipe([&] { return sendfile(fd_, file_fd, offset, len); });
}

ssize_t Stream::transport_write(evbuffer *out, size_t limit) {
    evbuffer_iovec vec[kMaxWriteIovecs];
    ev_ssize_t want = limit >= static_cast<size_t>(EV_SSIZE_MAX) ? -1 : static_cast<ev_ssize_t>(limit);
    int nvec = evbuffer_peek(out, want, nullptr, vec, kMaxWriteIovecs);
    if (nvec <= 0) return 0;
    if (nvec > kMaxWriteIovecs) nvec = kMaxWriteIovecs;
    iovec iov[kMaxWriteIovecs];
    size_t total = 0;
    for (int i = 0; i < nvec; i++) {
        iov[i].iov_base = vec[i].iov_base;
        iov[i].iov_len = vec[i].iov_len;
        if (total + iov[i].iov_len > limit) iov[i].iov_len = limit - total;  // peek rounds up
        total += iov[i].iov_len;
    }
    // MSG_NOSIGNAL: a peer that went away must give EPIPE, not kill the host with SIGPIPE.
    ssize_t n;
    if (not_socket_) {
        // A pipe or terminal, which send(2) refuses. A pipe without a reader raises SIGPIPE on
        // write, hence without_sigpipe; its EPIPE is the reader's end of the stream.
        n = without_sigpipe([&] { return writev(fd_, iov, nvec); });
    } else if (nvec == 1) {
        // The common case (one response, or a batch of them, in one chunk): send(2) spares
        // the kernel the msghdr and iovec copies of sendmsg(2).
        n = send(fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        msghdr msg = {};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<size_t>(nvec);
        n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    if (n > 0) evbuffer_drain(out, static_cast<size_t>(n));
    return n;
}

int Stream::write_error(int err) const {
    return not_socket_ && err == EPIPE ? EDDY_EOF : error_from_errno(err);
}

// ---- reads -----------------------------------------------------------------------------------

void Stream::begin_read(ReadKind kind, size_t n, ReadFn cb, void *arg) {
    read_kind_ = kind;
    read_n_ = n;
    read_fn_ = cb;
    read_arg_ = arg;
    // Issued from a delivery (process_reads, deliver_direct): that loop delivers what is
    // buffered and then sets the socket interest once for the read it leaves pending.
    if (delivering_) return;
    loop_->defer(&read_task_);  // data already buffered is delivered soon
    update_read_interest();
}

int Stream::read_until(const char *delim, size_t delim_len, size_t max_bytes, ReadFn cb,
                       void *arg) {
    if (!delim || delim_len == 0 || !cb) return EDDY_EINVAL;
    if (closed_) return EDDY_ECLOSED;
    if (read_kind_ != ReadKind::none) return EDDY_EBUSY;
    Extras *ext = extras();
    if (!ext) return EDDY_ENOMEM;
    try {
        ext->delim.assign(delim, delim_len);
    } catch (...) {
        return EDDY_ENOMEM;
    }
    ext->scan_from = 0;
    begin_read(ReadKind::until, max_bytes, cb, arg);
    return 0;
}

int Stream::read_until_regex(std::string_view pattern, size_t max_bytes, ReadFn cb, void *arg) {
    if (!cb) return EDDY_EINVAL;
    if (closed_) return EDDY_ECLOSED;
    if (read_kind_ != ReadKind::none) return EDDY_EBUSY;
    Extras *ext = extras();
    if (!ext) return EDDY_ENOMEM;
    if (!ext->regex || !ext->regex->same_pattern(pattern)) {
        std::string error;
        StreamRegex *re = StreamRegex::compile(pattern, &error);  // bad_alloc: the caller's
        if (!re) {
            log(LogLevel::warning, "stream fd %d: read_until_regex: bad pattern: %s", fd_,
                error.c_str());
            return EDDY_EINVAL;
        }
        ext->regex.reset(re);
    }
    ext->scan_from = 0;
    begin_read(ReadKind::until_regex, max_bytes, cb, arg);
    return 0;
}

int Stream::read_bytes(size_t n, bool partial, ReadFn cb, void *arg) {
    if (n == 0 || !cb) return EDDY_EINVAL;
    if (closed_) return EDDY_ECLOSED;
    if (read_kind_ != ReadKind::none) return EDDY_EBUSY;
    read_partial_ = partial;
    begin_read(ReadKind::bytes, n, cb, arg);
    return 0;
}

int Stream::read_until_close(ReadFn cb, void *arg) {
    if (!cb) return EDDY_EINVAL;
    if (closed_) return EDDY_ECLOSED;
    if (read_kind_ != ReadKind::none) return EDDY_EBUSY;
    begin_read(ReadKind::until_close, 0, cb, arg);
    return 0;
}

int Stream::read_some(ConsumeFn cb, void *arg) {
    if (!cb) return EDDY_EINVAL;
    if (closed_) return EDDY_ECLOSED;
    if (read_kind_ != ReadKind::none) return EDDY_EBUSY;
    read_kind_ = ReadKind::some;
    consume_fn_ = cb;
    read_arg_ = arg;
    // From a delivery (a consumer asking for more, as the HTTP server does after every
    // request): the delivering loop sets the interest once it is over (see begin_read).
    if (delivering_) return 0;
    loop_->defer(&read_task_);
    update_read_interest();
    return 0;
}

void Stream::run_reads(DeferredTask *task) {
    Stream *s = static_cast<Stream *>(task->owner);
    if (!ran_without_exception("stream: read", [&] { s->process_reads(); }))
        s->close_after_exception();
}

void Stream::deliver(size_t n, ReadFn cb, void *arg) {
    const char *data =
        n ? reinterpret_cast<const char *>(evbuffer_pullup(in_, static_cast<ev_ssize_t>(n))) : "";
    if (!data) {  // making the bytes contiguous needed memory there was not
        log(LogLevel::error, "stream fd %d: out of memory for a read of %zu bytes", fd_, n);
        close(EDDY_ENOMEM);
        return;
    }
    read_kind_ = ReadKind::none;
    if (ext_) ext_->scan_from = 0;
    read_n_ = n;  // what unread_input() leaves out while the callback runs
    bool outer = in_deliver_;
    in_deliver_ = true;
    try {
        cb(this, data, n, arg);
    } catch (...) {  // (a C++ consumer's bad_alloc: the stream closes after it)
        in_deliver_ = outer;
        throw;
    }
    in_deliver_ = outer;
    if (n) evbuffer_drain(in_, n);
}

bool Stream::try_deliver() {
    size_t len = in_len();
    switch (read_kind_) {
    case ReadKind::none:
    case ReadKind::until_close:
        return false;
    case ReadKind::some: {
        if (len == 0) return false;
        // Hand over the first contiguous extent without copying; the loop comes back for more.
        evbuffer_iovec vec;
        if (evbuffer_peek(in_, -1, nullptr, &vec, 1) < 1) return false;
        ConsumeFn cb = consume_fn_;
        void *arg = read_arg_;
        read_kind_ = ReadKind::none;
        size_t used = cb(this, static_cast<const char *>(vec.iov_base), vec.iov_len, arg);
        if (used > vec.iov_len) used = vec.iov_len;
        if (in_) evbuffer_drain(in_, used);
        return used > 0;  // no progress: wait for more bytes instead of spinning
    }
    case ReadKind::bytes: {
        if (len >= read_n_) {
            deliver(read_n_, read_fn_, read_arg_);
            return true;
        }
        if (read_partial_ && len > 0) {
            deliver(len, read_fn_, read_arg_);
            return true;
        }
        return false;
    }
    case ReadKind::until_regex: {
        if (len == 0) return false;
        // The whole buffer, contiguous: a match may span what arrived in several reads, and
        // lookbehinds may look back before the resume point. (Pulling up a growing buffer is
        // amortised linear: libevent doubles the chain it gathers into.)
        const char *data = reinterpret_cast<const char *>(evbuffer_pullup(in_, -1));
        if (!data) {
            log(LogLevel::error, "stream fd %d: out of memory for read_until_regex", fd_);
            close(EDDY_ENOMEM);
            return false;
        }
        size_t end = 0;
        size_t resume = ext_->scan_from;
        int found = ext_->regex->search(data, len, ext_->scan_from, &end, &resume);
        if (found < 0) {
            log(LogLevel::warning, "stream fd %d: read_until_regex: matching failed (PCRE2 %d)",
                fd_, found);
            close(EDDY_EINVAL);
            return false;
        }
        if (found > 0) {
            if (read_n_ && end > read_n_) {
                close(EDDY_ETOOBIG);
                return false;
            }
            deliver(end, read_fn_, read_arg_);
            return true;
        }
        ext_->scan_from = resume;
        // Over max_bytes without a match (as Tornado: a pattern with a lookahead may still end
        // its match at max_bytes once the next byte comes).
        if (read_n_ && len > read_n_) close(EDDY_ETOOBIG);
        return false;
    }
    case ReadKind::until: {
        const std::string &delim = ext_->delim;  // set by read_until
        size_t dlen = delim.size();
        if (len < dlen) return false;
        evbuffer_ptr start;
        evbuffer_ptr_set(in_, &start, ext_->scan_from, EVBUFFER_PTR_SET);
        evbuffer_ptr found = evbuffer_search(in_, delim.data(), dlen, &start);
        if (found.pos >= 0) {
            size_t total = static_cast<size_t>(found.pos) + dlen;
            if (read_n_ && total > read_n_) {
                close(EDDY_ETOOBIG);
                return false;
            }
            deliver(total, read_fn_, read_arg_);
            return true;
        }
        ext_->scan_from = len - (dlen - 1);
        if (read_n_ && len >= read_n_) close(EDDY_ETOOBIG);
        return false;
    }
    }
    return false;
}

void Stream::process_reads() {
    if (delivering_) return;  // a callback issued a read: the outer loop picks it up
    delivering_ = true;
    while (!closed_ && try_deliver()) {
    }
    delivering_ = false;
    if (closed_) return;
    if (eof_) {
        if (read_kind_ == ReadKind::until_close) {
            deliver(in_len(), read_fn_, read_arg_);
            close(read_end_error(0));
            return;
        }
        // The peer is gone and nothing buffered can satisfy the pending read (or, idle, there
        // is nothing left to read at all).
        if (read_kind_ != ReadKind::none || in_len() == 0) {
            if (flush_on_eof_ && has_output()) {
                // The rest goes out first, then the stream closes with EDDY_EOF (see
                // after_write_progress); no linger: the peer sends nothing more.
                close_after_flush(0);
                return;
            }
            close(read_end_error(EDDY_EOF));
            return;
        }
    }
    update_read_interest();
}

namespace {
// One read buffer per thread for the zero-copy path and for discarding while lingering: bytes
// a consumer takes straight from here never touch an evbuffer (no allocation per read).
thread_local char t_read_buf[65536];
}  // namespace

ssize_t Stream::read_ready() {
    if (lingering_) {
        ssize_t n = transport_recv(t_read_buf, sizeof t_read_buf);
        if (n > 0) {
            ext_->linger_discarded += static_cast<size_t>(n);  // lingering implies ext_
            if (ext_->linger_discarded > kLingerDiscardLimit) close(0);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            close(0);
        }
        return n;
    }
    ssize_t n;
    bool direct = read_kind_ == ReadKind::some && in_len() == 0;
    // Never more than the buffer still has room for, plus one byte to tell "more than the
    // limit": a read of a whole hint could pass max_buffer_size with bytes the pending read
    // does not even need (a burst of short lines behind the one being read), and the stream
    // closed with EDDY_ETOOBIG where Tornado reads at most max_buffer_size / 2 at a time
    // (read_chunk_size) and delivers them all.
    // With no read pending (an idle stream watching for the peer's close) nothing needs more
    // than the limit: read at most up to it, as Tornado reads one chunk then.
    size_t want = read_hint_;
    if (!direct) {
        size_t buffered = in_len();
        size_t extra = read_kind_ == ReadKind::none ? 0 : 1;
        if (buffered >= max_buffer_) {
            want = 1;
        } else if (max_buffer_ - buffered < want) {
            want = max_buffer_ - buffered + extra;
        }
    }
    // The buffer's address is looked up once: each lookup of a thread_local in a shared
    // library is a call to __tls_get_addr, and GCC looks it up again after any call (here
    // the recv) unless the value is made opaque to it.
    char *direct_buf = nullptr;
    if (direct) {
        direct_buf = t_read_buf;
        asm("" : "+r"(direct_buf));
        n = transport_recv(direct_buf, sizeof t_read_buf);
    } else {
        evbuffer *in = in_buf();
        if (!in) {
            close(EDDY_ENOMEM);
            return -1;
        }
        n = transport_read(in, want);
    }
    if (n > 0) {
        size_t got = static_cast<size_t>(n);
        if (direct) {
            deliver_direct(direct_buf, got);
            return n;
        }
        if (want == read_hint_) {  // (a read cut short by the limit says nothing of the rate)
            if (got >= read_hint_ && read_hint_ < kMaxReadHint) {
                read_hint_ *= 2;
            } else if (got < read_hint_ / 8 && read_hint_ > kMinReadHint) {
                read_hint_ /= 2;
            }
        }
        process_reads();
        // The limit is on what stays buffered once the pending reads took their bytes.
        if (!closed_ && in_len() > max_buffer_) {
            log(LogLevel::info, "stream fd %d: read buffer over %zu bytes, closing", fd_, max_buffer_);
            close(EDDY_ETOOBIG);
        }
        return n;
    }
    if (n == 0) {
        handle_eof();
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -1;
    int error = read_end_error(error_from_errno(errno));
    // A reset after the peer sent its bytes must not take them with it: read_until_close
    // still gets what arrived, then the close callback the error (as Tornado's close()
    // finishes a read_until_close with the buffer before reporting the error).
    if (read_kind_ == ReadKind::until_close && !delivering_) {
        deliver(in_len(), read_fn_, read_arg_);
        if (closed_) return -1;
    }
    close(error);
    return -1;
}

// Hands freshly read bytes to a read_some consumer without buffering them; what it does not take
// is kept in the input buffer for later.
void Stream::deliver_direct(const char *buf, size_t n) {
    delivering_ = true;
    size_t off = 0;
    while (!closed_ && off < n && read_kind_ == ReadKind::some) {
        ConsumeFn cb = consume_fn_;
        read_kind_ = ReadKind::none;
        size_t used = cb(this, buf + off, n - off, read_arg_);
        if (used > n - off) used = n - off;
        off += used;
        if (used == 0) break;
    }
    delivering_ = false;
    if (closed_) return;
    if (off < n) {
        evbuffer *in = in_buf();
        if (!in || evbuffer_add(in, buf + off, n - off) != 0) {
            log(LogLevel::error, "stream fd %d: out of memory for %zu bytes read", fd_, n - off);
            close(EDDY_ENOMEM);
            return;
        }
        if (in_len() > max_buffer_) {
            close(EDDY_ETOOBIG);
            return;
        }
    }
    process_reads();
}

void Stream::handle_eof() {
    eof_ = true;
    update_read_interest();
    process_reads();
}

// ---- writes ----------------------------------------------------------------------------------

int Stream::write(const void *data, size_t len, WriteFn cb, void *arg) {
    if (closed_ || write_failed_) return EDDY_ECLOSED;
    if (len && !data) return EDDY_EINVAL;
    // The completion's room first: a write either queues its bytes and its callback, or neither.
    if (cb && !room_for_completion()) return EDDY_ENOMEM;
    if (len && (!output() || evbuffer_add(out_, data, len) != 0)) return EDDY_ENOMEM;
    bytes_queued_ += len;
    commit_output(cb, arg);
    return 0;
}

int Stream::write_now(const void *data, size_t len) {
    if (closed_ || write_failed_ || tls_ || not_socket_ || len == 0 || has_output() ||
        close_when_flushed_)
        return write(data, len);
    ssize_t n = send(fd_, data, len, MSG_NOSIGNAL);
    if (n < 0) {
        // Anything but a full socket buffer (a reset) is left to the flush, which closes on
        // errors.
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return write(data, len);
        n = 0;
    }
    bytes_written_ += static_cast<uint64_t>(n);
    size_t sent = static_cast<size_t>(n);
    if (sent < len) return write(static_cast<const char *>(data) + sent, len - sent);
    if (bytes_queued_ < bytes_written_) bytes_queued_ = bytes_written_;
    after_write_progress();
    return 0;
}

int Stream::commit_output(WriteFn cb, void *arg) noexcept {
    if (closed_) return EDDY_ECLOSED;
    if (write_failed_) {  // what the producer put in output() cannot be sent any more
        if (out_) evbuffer_drain(out_, out_len());
        return EDDY_ECLOSED;
    }
    // Producers that appended to output() directly are accounted for here.
    uint64_t total = bytes_written_ + out_len() + file_bytes_pending();
    if (total > bytes_queued_) bytes_queued_ = total;
    int rc = 0;
    if (cb) {
        if (room_for_completion())
            pending_writes_.push_back(PendingWrite{bytes_queued_, cb, arg});  // room is there
        else
            rc = EDDY_ENOMEM;
    }
    if (ext_ && ext_->drain_cb && out_len() > ext_->write_mark) ext_->above_mark = true;
    schedule_flush();
    return rc;
}

bool Stream::room_for_completion() noexcept {
    if (pending_writes_.size() < pending_writes_.capacity()) return true;
    try {
        pending_writes_.reserve(pending_writes_.size() * 2 + 4);
    } catch (...) {
        log(LogLevel::error, "stream fd %d: out of memory for a write callback", fd_);
        return false;
    }
    return true;
}

void Stream::run_flush(DeferredTask *task) {
    Stream *s = static_cast<Stream *>(task->owner);
    if (!ran_without_exception("stream: write", [&] { s->flush(); })) s->close_after_exception();
}

void Stream::flush() {
    if (closed_ || write_failed_) return;
    for (;;) {
        // Inside a file segment once every byte before it went out (its `offset` and
        // `remaining` track the progress within it).
        if (has_files() && bytes_written_ >= ext_->files.front().position) {
            FileSegment &f = ext_->files.front();
            ssize_t n = transport_sendfile(f.fd, &f.offset, f.remaining);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
                close_after_write_error(errno);
                return;
            }
            if (n == 0) {  // the file shrank under us: the promised bytes cannot be sent
                log(LogLevel::error, "stream fd %d: file ended before the bytes to send", fd_);
                close(EDDY_EIO);
                return;
            }
            bytes_written_ += static_cast<uint64_t>(n);
            ext_->file_bytes_pending -= static_cast<uint64_t>(n);
            f.remaining -= static_cast<size_t>(n);
            if (f.remaining == 0) {
                ::close(f.fd);
                ext_->files.erase(ext_->files.begin());
            }
            continue;
        }
        // Memory bytes may only go out up to the next file segment.
        size_t limit = !has_files() ? SIZE_MAX
                                    : static_cast<size_t>(ext_->files.front().position - bytes_written_);
        if (out_len() == 0 || limit == 0) break;
        ssize_t n = transport_write(out_, limit);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            close_after_write_error(errno);
            return;
        }
        bytes_written_ += static_cast<uint64_t>(n);
        if (n == 0) break;
    }
    set_write_interest(out_len() > 0 || has_files());
    if (out_ && out_len() == 0) {
        // Idle connections should not keep an output buffer around (memory per connection).
        loop_->give_buffer(out_);
        out_ = nullptr;
    }
    after_write_progress();
}

int Stream::send_file(int file_fd, off_t offset, size_t len, WriteFn cb, void *arg) {
    if (closed_) return EDDY_ECLOSED;
    if (file_fd < 0 || offset < 0) return EDDY_EINVAL;
    if (write_failed_) {  // taken, as once queued: the close would have closed it
        ::close(file_fd);
        return EDDY_ECLOSED;
    }
    // Taken in every case from here (out of memory: closed, as it would be once sent).
    if (cb && !room_for_completion()) {
        ::close(file_fd);
        return EDDY_ENOMEM;
    }
    if (len == 0) {
        ::close(file_fd);
        commit_output(cb, arg);
        return 0;
    }
    uint64_t position = bytes_written_ + out_len() + file_bytes_pending();
    Extras *ext = extras();
    try {
        if (ext) ext->files.push_back(FileSegment{position, file_fd, offset, len});
    } catch (...) {
        ext = nullptr;
    }
    if (!ext) {
        ::close(file_fd);
        return EDDY_ENOMEM;
    }
    ext->file_bytes_pending += len;
    commit_output(cb, arg);
    return 0;
}

void Stream::close_files() {
    if (!ext_) return;
    for (FileSegment &f : ext_->files) ::close(f.fd);
    ext_->files.clear();
    ext_->file_bytes_pending = 0;
}

void Stream::after_write_progress() {
    if (!pending_writes_.empty() && pending_writes_.front().until <= bytes_written_) {
        size_t done = 0;
        while (done < pending_writes_.size() && pending_writes_[done].until <= bytes_written_)
            done++;
        std::vector<PendingWrite> ready(pending_writes_.begin(),
                                        pending_writes_.begin() + static_cast<long>(done));
        pending_writes_.erase(pending_writes_.begin(),
                              pending_writes_.begin() + static_cast<long>(done));
        bool outer = more_write_callbacks_;  // (a callback's own flush may run a batch)
        for (size_t i = 0; i < ready.size(); i++) {
            more_write_callbacks_ = outer || i + 1 < ready.size();
            ready[i].cb(this, 0, ready[i].arg);
        }
        more_write_callbacks_ = outer;
        if (closed_) return;
    }
    if (ext_ && ext_->above_mark && out_len() <= ext_->write_mark) {
        ext_->above_mark = false;
        if (ext_->drain_cb) ext_->drain_cb(this, ext_->drain_arg);
        if (closed_) return;
    }
    if (ext_ && ext_->sent_cb && !has_output()) {
        DrainFn cb = ext_->sent_cb;
        ext_->sent_cb = nullptr;
        cb(this, ext_->sent_arg);
        if (closed_) return;
        if (watch_close_with_input_) apply_interest();  // (held back while it waited)
    }
    if (close_when_flushed_ && out_len() == 0 && !has_files() && !lingering_) {
        // close_after_flush() created ext_ for a linger; without one (or out of memory) the
        // connection closes at once.
        if (!ext_ || ext_->linger_seconds <= 0) {
            close(eof_ ? EDDY_EOF : 0);
            return;
        }
        // Half-close and keep reading (discarding) for a while, so that input still in flight
        // does not make the kernel answer with a reset that destroys our last response.
        transport_closing();
        shutdown(fd_, SHUT_WR);
        lingering_ = true;
        eof_ = false;
        loop_->timer_start(&ext_->linger_timer, Loop::now() + ext_->linger_seconds);
        ext_->linger_seconds = 0;
        if (in_) evbuffer_drain(in_, evbuffer_get_length(in_));
        update_read_interest();
    }
}

void Stream::fail_writes(int status) {
    std::vector<PendingWrite> failed;
    failed.swap(pending_writes_);
    // Writes whose bytes reached the kernel before the close (write_before_close) did complete.
    for (PendingWrite &w : failed) w.cb(this, w.until <= bytes_written_ ? 0 : status, w.arg);
}

int Stream::set_write_mark(size_t mark, DrainFn cb, void *arg) {
    Extras *ext = cb ? extras() : ext_.get();
    if (!ext) return cb ? EDDY_ENOMEM : 0;  // nothing to remember without a callback
    ext->write_mark = mark;
    ext->drain_cb = cb;
    ext->drain_arg = arg;
    ext->above_mark = cb && out_len() > mark;
    return 0;
}

uint64_t Stream::output_progress() const {
    long unsent = closed_ ? -1 : socket_unsent_bytes(fd_);
    return bytes_written_ - static_cast<uint64_t>(unsent > 0 ? unsent : 0);
}

int Stream::notify_when_sent(DrainFn cb, void *arg) {
    if (!cb) {
        if (ext_) ext_->sent_cb = nullptr;
        return 0;
    }
    if (closed_ || !has_output()) return 0;
    Extras *ext = extras();
    if (!ext) return EDDY_ENOMEM;
    ext->sent_cb = cb;
    ext->sent_arg = arg;
    return 1;
}

// ---- options ---------------------------------------------------------------------------------

void Stream::set_close_callback(CloseFn cb, void *arg) {
    close_cb_ = cb;
    close_arg_ = arg;
    update_read_interest();
}

int Stream::set_nodelay(bool on) {
    if (closed_) return EDDY_ECLOSED;
    int value = on ? 1 : 0;
    if (setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0) {
        if (errno == EOPNOTSUPP || errno == ENOPROTOOPT || errno == ENOTSOCK) return EDDY_ENOTSUP;
        return error_from_errno(errno);
    }
    return 0;
}

// ---- closing ---------------------------------------------------------------------------------

// A write to a socket failed because the peer is gone (EPIPE, ECONNRESET). Its last words may
// still wait in our kernel's receive queue: an HTTP server that answers an upload early (413)
// and closes with the upload unread makes its kernel send a reset, and our next write fails
// before we read the answer; Linux still hands out the queued bytes after the failed send.
// curl reports such an answer, and Tornado's IOStream reads before it writes. So when the owner
// is reading (a read pending, or the read_some consumer set: what read_ready serves), the
// stream first reads and delivers what is there, then closes with the write's error. During
// that pass nothing reaches the socket any more (write_failed_: writes are refused with
// EDDY_ECLOSED, the output is dropped), and it ends at EAGAIN, the end of the input, a read
// error, when nobody reads any more, or after max_buffer_size bytes (after a reset nothing
// more can arrive, but a peer that only shut its reading side could keep sending).
// TLS too: a failed SSL_write leaves OpenSSL's read side as it was. The socket BIO's write
// failing is not a TLS error (OpenSSL 3 keeps the unsent record for a retry and puts the
// connection in no error state; only SSL_ERROR_SSL does), and the records the peer sent
// before its reset decrypt as ever: an https upload refused early reports the 413, as curl
// does over TLS. Should a record need an answer (a KeyUpdate asking for ours), that answer
// fails and ends the pass like any read error. Not for pipes (a pipe's write end is never
// read from), nor owners that turned it off (set_read_after_write_error: the HTTP server).
void Stream::close_after_write_error(int err) {
    int error = write_error(err);
    if (not_socket_ || write_failed_ || lingering_ || no_read_after_write_error_ ||
        (err != EPIPE && err != ECONNRESET) || read_kind_ == ReadKind::none) {
        close(error);
        return;
    }
    write_failed_ = true;
    close_error_ = error;  // what the pass's own ends report (read_end_error)
    if (out_) evbuffer_drain(out_, out_len());
    close_files();
    set_write_interest(false);
    size_t budget = max_buffer_;
    while (!closed_ && read_kind_ != ReadKind::none && budget > 0) {
        ssize_t n = read_ready();
        if (n <= 0) break;
        budget -= std::min(budget, static_cast<size_t>(n));
    }
    close(error);  // (a no-op when the pass closed it already)
}

// What is queued, handed to the socket as far as it takes it without waiting: the last write
// before a close. Not past a file segment (the memory bytes behind it would overtake the file's).
void Stream::write_before_close() {
    if (has_files() || write_failed_) return;
    ssize_t n;
    // Counted: a write whose bytes all left here completes with 0 in fail_writes, not with
    // EDDY_ECLOSED ("dropped"), which would tell its producer the peer never got them.
    while (out_len() > 0 && (n = transport_write(out_, SIZE_MAX)) > 0)
        bytes_written_ += static_cast<uint64_t>(n);
}

void Stream::close_after_last_write(int error) {
    if (closed_) return;
    write_before_close();
    discard_pending_input();
    close(error);
}

// Unread input makes close(2) send a reset, which discards what we just wrote before the peer
// reads it: read it away first (bounded: a peer still sending may leave more, whose arrival
// after the close then meets a reset, after our last words and FIN).
void Stream::discard_pending_input() {
    char discard[4096];
    for (int i = 0; i < 16 && ::recv(fd_, discard, sizeof discard, MSG_DONTWAIT) > 0; i++) {}
}

void Stream::close(int error) {
    if (closed_) return;
    // The peer only closed its sending side as far as we know: give it what we have.
    if (error == EDDY_EOF) write_before_close();
    closed_ = true;
    close_files();
    close_error_ = error;
    if (io_flags_) event_del(&io_ev_);
    io_flags_ = 0;
    reading_socket_ = writing_socket_ = false;
    loop_->undefer(&flush_task_);
    loop_->undefer(&read_task_);
    stop_linger_timer();
    if (!lingering_) transport_closing();
    ::close(fd_);
    queue_close();
}

int Stream::take_fd() {
    if (closed_ || unread_input() > 0 || out_len() > 0 || has_files()) return -1;
    int fd = fd_;
    close_cb_ = nullptr;
    closed_ = true;
    if (io_flags_) event_del(&io_ev_);
    io_flags_ = 0;
    reading_socket_ = writing_socket_ = false;
    loop_->undefer(&flush_task_);
    loop_->undefer(&read_task_);
    stop_linger_timer();
    fd_ = -1;
    queue_close();  // fails pending write callbacks, then deletes
    return fd;
}

void Stream::close_after_flush(double linger) {
    if (closed_ || close_when_flushed_) return;
    if (write_failed_) {  // nothing will be sent any more: end now, as the failed write said
        close(close_error_);
        return;
    }
    close_when_flushed_ = true;
    if (linger > 0) {
        if (Extras *ext = extras()) ext->linger_seconds = linger;
    } else if (ext_) {
        ext_->linger_seconds = 0;
    }
    read_kind_ = ReadKind::none;
    if (out_len() == 0 && !has_files()) {
        after_write_progress();
    } else {
        schedule_flush();
    }
}

void Stream::on_linger_timeout(TimerNode *node) {
    static_cast<Stream *>(node->owner)->close(0);
}

void Stream::run_close(void *arg) {
    Stream *s = static_cast<Stream *>(arg);
    // The stream goes whatever its owner's close handling lets out.
    ran_without_exception("stream: close", [&] {
        s->fail_writes(EDDY_ECLOSED);
        s->read_kind_ = ReadKind::none;
        s->before_close_callback(s->close_error_);
        if (s->close_cb_) s->close_cb_(s, s->close_error_, s->close_arg_);
    });
    delete s;
}

// The close callback and deletion are queued with Loop::post; when that queue cannot grow (out
// of memory) they go through the stream's own deferred task instead, which needs no memory
// (its read task: a closed stream reads no more).
void Stream::queue_close() noexcept {
    if (loop_->post(run_close, this)) return;
    read_task_.run = [](DeferredTask *task) { run_close(task->owner); };
    loop_->defer(&read_task_);
}

}  // namespace eddy
