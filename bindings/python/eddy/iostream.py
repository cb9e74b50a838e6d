"""eddy.iostream: Tornado's IOStream over eddy's C stream (include/eddy/stream.h).

An IOStream is a buffered, non-blocking connection: reads are requests (read_until,
read_bytes, read_until_close, read_into; one pending at a time) and writes are queued and sent
at the end of the loop pass. Every read and write returns an awaitable (an asyncio Future, as in
Tornado 6). Streams come from eddy.tcpserver.TCPServer.handle_stream, from
eddy.tcpclient.TCPClient.connect, or from wrapping a connected socket: IOStream(sock).

Thread: a stream belongs to the IOLoop it was made on; every method must be called on that
loop's thread (RuntimeError otherwise; IOLoop.add_callback is the way in from elsewhere).

Lifetime: the C stream holds its Python object (and through it the pending futures and the close
callback) while it is open; when it has closed, the close callback has run and eddy released the
C stream, the Python object is an ordinary closed stream that may be kept or dropped. A stream
nobody closes stays open until its peer closes: close() what you no longer use. Freeing the
IOLoop closes its streams (their pending futures fail with StreamClosedError).

Errors are Tornado's: a read or write pending when the stream closes fails with
StreamClosedError whose `real_error` says why (None for a plain close or EOF,
ConnectionResetError, TimeoutError, ssl.SSLError, UnsatisfiableReadError when read_until's
max_bytes was exceeded, StreamBufferFullError when more than max_buffer_size bytes arrived);
`stream.error` holds the same. Starting a read or a write on a closed stream raises
StreamClosedError at once; a second read while one is pending raises AssertionError("Already
reading"), as Tornado does.

STARTTLS: IOStream.start_tls(server_side, ssl_options, server_hostname) upgrades an idle stream
to TLS on the same connection and resolves to a new SSLIOStream once the handshake completed;
SSLIOStream.wait_for_handshake() tells when a stream's handshake completed.

Not here (see the README's differences): Tornado's transport hooks (read_from_fd, write_to_fd,
close_fd, get_fd_error)."""

import collections
import errno
import fcntl
import logging
import os
import re
import socket as _socket
import ssl
import threading

from . import _lowlevel as _ll

gen_log = logging.getLogger("eddy.general")


class StreamClosedError(IOError):
    """The stream was closed (by the peer, by us, or on an error) before the operation could
    complete; also the failure of RequestHandler.flush() once the client has gone away.
    `real_error` holds the exception that caused the close, when there is one (None otherwise).
    As in Tornado, the close callback runs after the pending futures failed with this."""

    def __init__(self, real_error=None):
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """read_until's max_bytes was exceeded without the delimiter: the stream is closed, the
    read fails with StreamClosedError(real_error=UnsatisfiableReadError(...)) and
    `stream.error` is this exception (Tornado's behaviour)."""


class StreamBufferFullError(Exception):
    """A buffer limit was reached: write() raises it when max_write_buffer_size would be
    exceeded; more than max_buffer_size bytes received closes the stream with it as
    `real_error` / `stream.error`."""


_EV_READ, _EV_WRITTEN, _EV_CLOSED = 0, 1, 2


def _close_reason(code, stream):
    """The exception a C close code stands for (None for a plain close or EOF)."""
    if code == _ll.EDDY_EOF and getattr(stream, "_write_only", False):
        # A pipe's write end (a child's stdin) ends when its reader goes: Tornado reports the
        # write's EPIPE.
        return BrokenPipeError(errno.EPIPE, "Broken pipe")
    if code in (0, _ll.EDDY_EOF):
        return None
    if code == _ll.EDDY_ECONNRESET:
        return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    if code == _ll.EDDY_ETIMEDOUT:
        return TimeoutError(errno.ETIMEDOUT, "Connection timed out")
    if code == _ll.EDDY_ETLS:
        return ssl.SSLError("TLS failed (handshake, certificate verification or an alert; "
                            "eddy's log says which)")
    if code == _ll.EDDY_ETOOBIG:
        # The C stream says only "a limit": read_until's max_bytes when that read was pending
        # with a limit not above max_buffer_size (it is reached first), else the buffer limit.
        if (stream._read_kind == "until" and stream._read_max_bytes
                and stream._read_max_bytes <= stream._max_buffer_size):
            err = UnsatisfiableReadError("delimiter or pattern not found within %d bytes"
                                         % stream._read_max_bytes)
            gen_log.info("Unsatisfiable read, closing connection: %s", err)
            return err
        err = StreamBufferFullError("Reached maximum read buffer size")
        gen_log.warning("error on read: %s", err)
        return err
    if code == _ll.EDDY_ENOMEM:
        return MemoryError("eddy: out of memory on the stream")
    return OSError("eddy stream closed: %s" % _ll.eddy_strerror(code))


def _retrieve(future):
    # As Tornado: a future failed by a close must not log "exception never retrieved" when
    # nobody awaits it (a write whose result the caller ignored).
    if not future.cancelled():
        future.exception()


class _Link:
    """The C stream's userdata: forwards its events to the stream object. Holding the stream
    strongly is what keeps an open stream's Python object, futures and close callback alive;
    eddy drops this link once the C stream is released (see eddy_py_stream_bind)."""

    __slots__ = ("stream",)

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, event, arg):
        stream = self.stream
        if stream is not None:
            stream._on_event(event, arg)

    def _eddy_release(self):
        stream, self.stream = self.stream, None
        if stream is not None:
            stream._on_release()


class _Outcome:
    """A one-shot C callback (connect, start_tls, wait_for_handshake) that eddy may release
    without calling: when the IOLoop is freed first, eddy drops it uncalled, and `on_release`
    then settles the future that waited for it (which would otherwise never complete). Released
    through eddy_py_handler_release, which calls `_eddy_release()` (see
    EDDY_PY_CALLBACK_RELEASED in eddy.i)."""

    __slots__ = ("fn", "on_release")

    def __init__(self, fn, on_release):
        self.fn = fn
        self.on_release = on_release

    def __call__(self, *args):
        self.on_release = None  # called: nothing left to settle at the release
        fn, self.fn = self.fn, None
        if fn is not None:
            fn(*args)

    def _eddy_release(self):
        on_release, self.on_release = self.on_release, None
        self.fn = None
        if on_release is not None:
            on_release()


def _fail_unsettled(future, real_error=None):
    """Fails `future` with StreamClosedError unless it is done; its asyncio loop may be closed
    already (the future is done all the same then)."""
    if future.done():
        return
    try:
        future.set_exception(StreamClosedError(real_error=real_error))
    except RuntimeError:
        pass  # the loop is closed: set, but its callbacks cannot be scheduled
    _retrieve(future)


class BaseIOStream:
    """Tornado's BaseIOStream: the reads, writes and life cycle shared by IOStream,
    SSLIOStream and PipeIOStream. Not made directly.

    max_buffer_size: most bytes held unread (default 100 MiB; more closes the stream with
    StreamBufferFullError); read_chunk_size: accepted for Tornado's signature (eddy reads what
    the socket has, up to 64 KiB a call); max_write_buffer_size: most bytes waiting to be sent
    (default no limit; a write that would exceed it raises StreamBufferFullError)."""

    def __init__(self, max_buffer_size=None, read_chunk_size=None, max_write_buffer_size=None):
        from .ioloop import IOLoop

        self.io_loop = IOLoop.current()
        self._c = None
        self._closed = False
        self.error = None
        self._max_buffer_size = int(max_buffer_size or 104857600)
        if self._max_buffer_size <= 0:
            raise ValueError("max_buffer_size must be positive")
        self.read_chunk_size = read_chunk_size
        self.max_write_buffer_size = max_write_buffer_size
        self._read_future = None
        self._read_kind = None
        self._read_max_bytes = None
        self._read_into = None
        self._write_futures = collections.deque()  # in write order, as eddy completes them
        self._failed_writes = []  # dropped by the close: fail once its reason is known
        self._close_callback = None
        self._connect_future = None

    # ---- attaching the C stream ------------------------------------------------------------
    def _attach(self, c_stream):
        """Adopts `c_stream` (eddy's, already ours to own): events now come to this object."""
        rc = _ll.eddy_py_stream_bind(c_stream, _Link(self))
        if rc < 0:
            raise RuntimeError("eddy_py_stream_bind: %s" % _ll.eddy_strerror(rc))
        self._c = c_stream
        if self._max_buffer_size != 104857600:
            _ll.eddy_stream_set_max_buffer_size(c_stream, self._max_buffer_size)

    @classmethod
    def _adopt(cls, c_stream, max_buffer_size=None, read_chunk_size=None):
        """A stream object for a C stream eddy handed over (accepted or connected)."""
        stream = cls.__new__(cls)
        BaseIOStream.__init__(stream, max_buffer_size, read_chunk_size)
        stream._attach(c_stream)
        return stream

    @property
    def max_buffer_size(self):
        """Most bytes held unread; assigning applies it to the open stream."""
        return self._max_buffer_size

    @max_buffer_size.setter
    def max_buffer_size(self, value):
        value = int(value)
        if value <= 0:
            raise ValueError("max_buffer_size must be positive")
        self._max_buffer_size = value
        if self._c is not None and not self._closed:
            _ll.eddy_stream_set_max_buffer_size(self._c, value)

    # ---- reads -------------------------------------------------------------------------------
    def read_until(self, delimiter, max_bytes=None):
        """Reads up to and including `delimiter` (non-empty bytes); returns a Future of the
        bytes. With max_bytes, the stream closes when that many bytes arrived without the
        delimiter (the Future fails with StreamClosedError, real_error UnsatisfiableReadError)."""
        if not isinstance(delimiter, (bytes, bytearray, memoryview)) or not len(delimiter):
            raise ValueError("read_until: the delimiter must be non-empty bytes")
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("read_until: max_bytes must be positive")
        future = self._start_read("until")
        self._read_max_bytes = max_bytes
        return self._issue(future, _ll.eddy_py_stream_read_until(self._c, bytes(delimiter),
                                                                 int(max_bytes or 0)))

    def read_until_regex(self, regex, max_bytes=None):
        """Reads up to and including the first match of `regex` (bytes, or a compiled bytes
        pattern); returns a Future of the bytes. eddy matches with PCRE2 over the raw bytes,
        which reads Python's re syntax for the usual patterns (a pattern Python's re refuses
        raises re.error, as in Tornado; one PCRE2 refuses, ValueError). An empty match does not
        count. max_bytes as read_until's."""
        pattern = regex.pattern if isinstance(regex, re.Pattern) else regex
        if not isinstance(pattern, (bytes, bytearray)):
            raise TypeError("read_until_regex: the pattern must be bytes")
        re.compile(bytes(pattern))  # Python's own error for a bad pattern, before anything
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("read_until_regex: max_bytes must be positive")
        future = self._start_read("until")
        self._read_max_bytes = max_bytes
        rc = _ll.eddy_py_stream_read_until_regex(self._c, bytes(pattern), int(max_bytes or 0))
        if rc == _ll.EDDY_EINVAL:
            self._read_future = self._read_kind = None
            raise ValueError("read_until_regex: PCRE2 refuses the pattern %r (eddy's log says "
                             "why)" % (bytes(pattern),))
        return self._issue(future, rc)

    def read_bytes(self, num_bytes, partial=False):
        """Reads `num_bytes` bytes; with partial=True, as soon as 1..num_bytes are there.
        Returns a Future of the bytes (b"" for num_bytes 0)."""
        if not isinstance(num_bytes, int) or num_bytes < 0:
            raise ValueError("read_bytes: num_bytes must be an int >= 0")
        future = self._start_read("bytes")
        if num_bytes == 0:  # nothing to wait for (eddy refuses n == 0)
            self._read_future = self._read_kind = None
            future.set_result(b"")
            return future
        return self._issue(future, _ll.eddy_py_stream_read_bytes(self._c, num_bytes,
                                                                 int(bool(partial))))

    def read_into(self, buf, partial=False):
        """Reads into the writable buffer `buf` until it is full (partial=True: as soon as any
        bytes came); returns a Future of the count. The bytes are copied in once they arrived
        (eddy buffers them first)."""
        view = memoryview(buf).cast("B")
        if view.readonly:
            raise TypeError("read_into: the buffer must be writable")
        future = self._start_read("bytes")
        if len(view) == 0:
            self._read_future = self._read_kind = None
            future.set_result(0)
            return future
        self._read_into = view
        return self._issue(future, _ll.eddy_py_stream_read_bytes(self._c, len(view),
                                                                 int(bool(partial))))

    def read_until_close(self):
        """Reads everything until the peer closes; returns a Future of the bytes (the close
        callback then runs; the stream's error stays None). Limited by max_buffer_size."""
        future = self._start_read("close")
        return self._issue(future, _ll.eddy_py_stream_read_until_close(self._c))

    def _start_read(self, kind):
        self._check_thread()
        if self._read_future is not None:
            self._check_closed()
            raise AssertionError("Already reading")
        self._check_closed()
        future = self.io_loop.asyncio_loop.create_future()
        self._read_future = future
        self._read_kind = kind
        self._read_max_bytes = None
        self._read_into = None
        return future

    def _issue(self, future, rc):
        if rc < 0:
            self._read_future = self._read_kind = self._read_into = None
            if rc == _ll.EDDY_ECLOSED:
                raise StreamClosedError(real_error=self.error)
            if rc == _ll.EDDY_ENOMEM:
                raise MemoryError("eddy: out of memory for the read")
            raise ValueError("read refused: %s" % _ll.eddy_strerror(rc))
        self.io_loop._pump.kick()
        return future

    # ---- writes ------------------------------------------------------------------------------
    def write(self, data):
        """Queues `data` (bytes-like) and returns a Future that resolves once these bytes (and
        all written before them) were handed to the kernel, or fails with StreamClosedError.
        Raises StreamClosedError at once on a closed stream, StreamBufferFullError when
        max_write_buffer_size would be exceeded."""
        self._check_thread()
        if isinstance(data, str):
            raise TypeError("write: bytes expected, not str (encode it first)")
        self._check_closed()
        limit = self.max_write_buffer_size
        if limit is not None and _ll.eddy_stream_write_buffer_size(self._c) + len(data) > limit:
            raise StreamBufferFullError("Reached maximum write buffer size")
        future = self.io_loop.asyncio_loop.create_future()
        future.add_done_callback(_retrieve)
        rc = _ll.eddy_py_stream_write(self._c, data)
        if rc == _ll.EDDY_ECLOSED and self.error is None:
            # Closed in C during this pass (a reset, a pipe's reader gone), the close callback
            # still to come: it fails the future with the reason, which is not known yet.
            self._failed_writes.append(future)
            return future
        if rc < 0:
            future.cancel()
            if rc == _ll.EDDY_ECLOSED:
                raise StreamClosedError(real_error=self.error)
            if rc == _ll.EDDY_ENOMEM:
                raise MemoryError("eddy: out of memory for the write")
            raise ValueError("write refused: %s" % _ll.eddy_strerror(rc))
        self._write_futures.append(future)
        self.io_loop._pump.kick()
        return future

    # ---- state -------------------------------------------------------------------------------
    def reading(self):
        """True while a read is pending."""
        return self._read_future is not None

    def writing(self):
        """True while written bytes wait to be sent."""
        return bool(self._write_futures)

    def closed(self):
        """True once the stream is closed or closing."""
        return self._closed

    def fileno(self):
        """The socket's fd (owned by the stream), or -1 once closed."""
        if self._c is None or self._closed:
            return -1
        return _ll.eddy_stream_fd(self._c)

    def set_close_callback(self, callback):
        """Calls `callback()` once the stream closed (after pending futures failed), from the
        loop. None removes it. Exceptions it raises are logged."""
        self._close_callback = callback

    def set_nodelay(self, value):
        """Sets TCP_NODELAY; a no-op on a closed stream or a non-TCP socket, as in Tornado."""
        self._check_thread()
        if self._c is not None and not self._closed:
            rc = _ll.eddy_stream_set_nodelay(self._c, int(bool(value)))
            if rc < 0 and rc not in (_ll.EDDY_ENOTSUP, _ll.EDDY_ECLOSED):
                raise OSError("set_nodelay: %s" % _ll.eddy_strerror(rc))

    def close(self, exc_info=False):
        """Closes the stream now: unsent and unread bytes are dropped, pending futures fail
        with StreamClosedError (real_error: the exception given by exc_info — True for the one
        being handled, an exception, or an exc_info tuple — which also becomes `error`), and the
        close callback runs on a later loop iteration. Closing twice does nothing."""
        self._check_thread()
        if self._closed:
            return
        if exc_info:
            if isinstance(exc_info, tuple):
                self.error = exc_info[1]
            elif isinstance(exc_info, BaseException):
                self.error = exc_info
            else:
                import sys

                self.error = sys.exc_info()[1]
        self._closed = True
        if self._c is not None:
            _ll.eddy_stream_close(self._c)
            self.io_loop._pump.kick()
        self._fail_pending()

    # ---- events from the C stream --------------------------------------------------------
    def _on_event(self, event, arg):
        if event == _EV_READ:
            future, into = self._read_future, self._read_into
            self._read_future = self._read_kind = self._read_into = None
            if future is None or future.done():
                return  # cancelled by its awaiter: as in Tornado, the bytes are dropped
            if into is not None:
                into[:len(arg)] = arg
                future.set_result(len(arg))
            else:
                future.set_result(arg)
        elif event == _EV_WRITTEN:
            if not self._write_futures:
                return  # failed already by close()
            future = self._write_futures.popleft()
            if arg == 0:
                if not future.done():
                    future.set_result(None)
            else:
                self._failed_writes.append(future)
        elif event == _EV_CLOSED:
            if not self._closed:
                self._closed = True
                if self.error is None:
                    self.error = _close_reason(arg, self)
            self._fail_pending()
            self._c = None  # released by eddy when this returns
            callback, self._close_callback = self._close_callback, None
            if callback is not None:
                # After the futures' callbacks (queued just now), as Tornado orders it.
                self.io_loop.asyncio_loop.call_soon(self.io_loop._run_callback, callback, (), {})

    def _on_release(self):
        """eddy released the C stream (normally right after the close event; first when the
        loop is freed)."""
        self._c = None
        if not self._closed:
            self._closed = True
            self._fail_pending(loop_may_be_closed=True)

    def _fail_pending(self, loop_may_be_closed=False):
        futures = []
        if self._read_future is not None:
            futures.append(self._read_future)
        self._read_future = self._read_kind = self._read_into = None
        futures.extend(self._write_futures)
        self._write_futures.clear()
        futures.extend(self._failed_writes)
        self._failed_writes = []
        if self._connect_future is not None:
            futures.append(self._connect_future)
            self._connect_future = None
        for future in futures:
            if not future.done():
                try:
                    future.set_exception(StreamClosedError(real_error=self.error))
                    future.add_done_callback(_retrieve)
                except RuntimeError:
                    # The asyncio loop is closed already, so the future's callbacks cannot be
                    # scheduled (it is done all the same): go on with the others.
                    if not loop_may_be_closed:
                        raise
                    _retrieve(future)

    # ---- checks --------------------------------------------------------------------------------
    def _check_closed(self):
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if self._c is None:
            raise StreamClosedError(real_error=self.error)

    def _check_thread(self):
        if threading.get_ident() != self.io_loop._ident:
            raise RuntimeError("IOStream used from another thread than its IOLoop's; use "
                               "IOLoop.add_callback to get onto the loop's thread")

    def __repr__(self):
        return "<%s fd=%d%s>" % (type(self).__name__, self.fileno(),
                                 " closed" if self._closed else "")


class _SocketView:
    """What Tornado's `stream.socket` is used for, read from the stream's fd: getpeername,
    getsockname, getsockopt/setsockopt, fileno, family, type. The fd stays the stream's."""

    def __init__(self, stream):
        self._stream = stream

    def _sock(self):
        fd = self._stream.fileno()
        if fd < 0:
            raise OSError(errno.EBADF, "the stream is closed")
        return _socket.socket(fileno=fd)

    def _with(self, fn):
        sock = self._sock()
        try:
            return fn(sock)
        finally:
            sock.detach()  # the fd is the stream's: never close it here

    def fileno(self):
        return self._stream.fileno()

    def getpeername(self):
        return self._with(lambda s: s.getpeername())

    def getsockname(self):
        return self._with(lambda s: s.getsockname())

    def getsockopt(self, *args):
        return self._with(lambda s: s.getsockopt(*args))

    def setsockopt(self, *args):
        return self._with(lambda s: s.setsockopt(*args))

    @property
    def family(self):
        return self._with(lambda s: s.family)

    @property
    def type(self):
        return self._with(lambda s: s.type)


class IOStream(BaseIOStream):
    """Tornado's IOStream over a socket. IOStream(sock) takes over `sock` (the socket object is
    detached: the stream owns the fd now): a connected socket is wrapped at once; an
    unconnected one is connected with `await stream.connect(address)` (reads and writes before
    that raise StreamClosedError). Streams from TCPServer and TCPClient are IOStreams already.
    `socket` gives getpeername() / getsockname() / getsockopt() / setsockopt() / fileno()."""

    # The unconnected socket connect() is to connect; None for a stream that is connected
    # (also one made by _adopt, which skips __init__: connect() on it raises RuntimeError).
    _pending_socket = None

    def __init__(self, socket, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending_socket = None
        try:
            socket.getpeername()
        except OSError:
            self._pending_socket = socket  # not connected yet: connect() does it
            return
        self._wrap(socket)

    def _wrap(self, sock):
        c_stream = _ll.eddy_stream_new(self.io_loop._eddy, sock.fileno())
        if c_stream is None:
            raise ValueError("eddy cannot make a stream of %r" % (sock,))
        sock.detach()  # eddy owns the fd from here on
        self._attach(c_stream)

    @property
    def socket(self):
        """A view of the stream's socket (see _SocketView); None once closed."""
        return None if self.fileno() < 0 else _SocketView(self)

    async def connect(self, address, server_hostname=None):
        """Connects the socket given to IOStream() to `address` (what socket.connect takes) and
        returns this stream. Raises StreamClosedError (real_error: the OSError) on failure.
        server_hostname (TLS) is not supported: use TCPClient.connect(ssl_options=...)."""
        if server_hostname is not None:
            raise NotImplementedError("eddy: IOStream.connect cannot start TLS; use "
                                      "TCPClient().connect(host, port, ssl_options=...)")
        sock = self._pending_socket
        if sock is None:
            raise RuntimeError("IOStream.connect: already connected (or closed)")
        self._check_thread()
        sock.setblocking(False)
        try:
            await self.io_loop.asyncio_loop.sock_connect(sock, address)
        except OSError as e:
            self._pending_socket = None
            sock.close()
            self.error = e
            self._closed = True
            raise StreamClosedError(real_error=e) from e
        self._pending_socket = None
        self._wrap(sock)
        return self

    def start_tls(self, server_side, ssl_options=None, server_hostname=None):
        """Upgrades this connection to TLS (STARTTLS: SMTP, IMAP, POP3...) and returns a Future
        that resolves to a new SSLIOStream once the TLS handshake has completed, on both sides
        (as Tornado's). From this call on this stream is no longer usable: it reports closed()
        and its methods raise StreamClosedError; its close callback moves to the new stream.

        server_side=True: ssl_options must be a dict with a 'certfile' (as TCPServer's);
        False: ssl_options is a client dict ('ca_certs', 'cert_reqs', 'certfile', 'keyfile') or
        None for the default client context (the system's CAs), and server_hostname is the name
        sent as SNI and verified against the certificate; a verifying client needs it
        (ValueError "check_hostname requires server_hostname", as Python's ssl). An
        ssl.SSLContext raises TypeError, as everywhere in eddy (its settings cannot be read
        back).

        The stream must be idle, as Tornado requires: no read pending, no write not yet sent
        (await the write of your last plaintext answer first), and no unread input — bytes the
        peer sent behind its command would be lost or taken for TLS (CVE-2011-0411): such a
        stream raises ValueError("IOStream is not idle; cannot convert to SSL") and stays as it
        was. A failed handshake (certificate, host name, the peer leaving, the context's
        handshake timeout) fails the Future with StreamClosedError, real_error an ssl.SSLError
        or TimeoutError, and runs the close callback. Closing the IOLoop before the handshake
        ended fails it with StreamClosedError (real_error None; the close callback does not
        run then, as for any stream the loop's close closes)."""
        from . import _tls

        self._check_thread()
        if (self._read_future is not None or self._write_futures or self._failed_writes
                or self._closed or self._c is None):
            if self._closed:
                raise StreamClosedError(real_error=self.error)
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        if server_side:
            if ssl_options is None:
                raise ValueError("start_tls(server_side=True) needs ssl_options with a "
                                 "'certfile' (and 'keyfile')")
            ctx, verifies = _tls.server_context(ssl_options), False
        else:
            ctx, verifies = _tls.client_context_for_options(ssl_options)
        try:
            if verifies and not server_side and not server_hostname:
                raise ValueError("check_hostname requires server_hostname")
            return self._start_tls(ctx, bool(server_side), server_hostname)
        finally:
            _ll.eddy_tls_context_free(ctx)  # the TLS stream keeps its own reference

    def _start_tls(self, ctx, server_side, server_hostname):
        future = self.io_loop.asyncio_loop.create_future()
        future.add_done_callback(_retrieve)
        max_buffer_size, read_chunk_size = self._max_buffer_size, self.read_chunk_size
        close_callback = self._close_callback
        io_loop = self.io_loop

        def done(c_stream, code):
            # Called once by eddy: with the handshaken stream (adopted here; one not adopted is
            # closed by the C trampoline), or None and why the upgrade failed.
            if c_stream is None:
                if not future.done():
                    future.set_exception(StreamClosedError(real_error=_close_reason(code, None)))
                if close_callback is not None:  # Tornado's SSLIOStream had it: it closed
                    io_loop.asyncio_loop.call_soon(io_loop._run_callback, close_callback, (), {})
                return
            stream = SSLIOStream._adopt(c_stream, max_buffer_size, read_chunk_size)
            stream.set_close_callback(close_callback)
            if future.done():  # cancelled by its awaiter: nobody will use the stream
                stream.close()
            else:
                future.set_result(stream)

        # The IOLoop closed mid-handshake: eddy releases `done` uncalled; fail the future then.
        rc = _ll.eddy_stream_start_tls(self._c, ctx, int(server_side), server_hostname,
                                       _Outcome(done, lambda: _fail_unsettled(future)))
        if rc < 0:
            future.cancel()
            if rc in (_ll.EDDY_EBUSY, _ll.EDDY_ESTATE):
                raise ValueError("IOStream is not idle; cannot convert to SSL (%s)"
                                 % ("unread input buffered" if rc == _ll.EDDY_ESTATE
                                    else _ll.eddy_strerror(rc)))
            if rc == _ll.EDDY_ECLOSED:
                raise StreamClosedError(real_error=self.error)
            if rc == _ll.EDDY_ENOMEM:
                raise MemoryError("eddy: out of memory for start_tls")
            raise ValueError("start_tls: %s (eddy's log may say more)" % _ll.eddy_strerror(rc))
        # eddy consumed the C stream: it releases it later without a close event.
        self._c = None
        self._closed = True
        self._close_callback = None
        self.io_loop._pump.kick()
        return future


class SSLIOStream(IOStream):
    """A TLS stream: what TCPServer(ssl_options=...), TCPClient.connect(ssl_options=...) and
    IOStream.start_tls give. The handshake runs inside eddy as soon as the connection exists; reads and writes
    issued before it completes wait for it; a failed handshake closes the stream (pending
    futures fail with StreamClosedError, real_error an ssl.SSLError or TimeoutError).
    IOStream's methods, plus wait_for_handshake() and getpeercert()."""

    def __init__(self, *args, **kwargs):
        raise TypeError("eddy: SSLIOStream objects come from TCPServer(ssl_options=...) and "
                        "TCPClient().connect(..., ssl_options=...), not from wrapping a socket")

    def wait_for_handshake(self):
        """Returns a Future that resolves to this stream once its TLS handshake has completed
        (at once, from the loop, when it had: always for a stream from start_tls), or fails
        with StreamClosedError (real_error an ssl.SSLError, TimeoutError...) when the stream
        closes first; for a server stream from TCPServer(ssl_options=...) before looking at
        getpeercert(). Reads and writes need no waiting. A second call while one waits raises
        RuntimeError("Already waiting"), as Tornado's. Closing the IOLoop while it waits fails
        it with StreamClosedError."""
        self._check_thread()
        self._check_closed()
        future = self.io_loop.asyncio_loop.create_future()
        future.add_done_callback(_retrieve)

        def done(code):
            if future.done():
                return
            if code == 0:
                future.set_result(self)
            else:
                future.set_exception(StreamClosedError(real_error=_close_reason(code, self)))

        rc = _ll.eddy_stream_wait_for_handshake(
            self._c, _Outcome(done, lambda: _fail_unsettled(future, self.error)))
        if rc < 0:
            future.cancel()
            if rc == _ll.EDDY_EBUSY:
                raise RuntimeError("Already waiting")
            if rc == _ll.EDDY_ECLOSED:
                raise StreamClosedError(real_error=self.error)
            if rc == _ll.EDDY_ENOMEM:
                raise MemoryError("eddy: out of memory for wait_for_handshake")
            raise ValueError("wait_for_handshake: %s" % _ll.eddy_strerror(rc))
        self.io_loop._pump.kick()
        return future

    def getpeercert(self, binary_form=False):
        """The peer's certificate as ssl.SSLSocket.getpeercert() gives it (a dict, or DER bytes
        with binary_form=True), or None when the peer presented none (a client the server
        did not ask for one) or the stream is closed."""
        self._check_thread()
        if self._c is None or self._closed:
            return None
        der = _ll.eddy_py_stream_tls_peer_certificate(self._c)
        if der is None or binary_form:
            return der
        return _ll.eddy_py_decode_certificate(der)


class PipeIOStream(BaseIOStream):
    """A stream over a pipe fd (or a terminal), which it takes ownership of (closed with the
    stream), as Tornado's PipeIOStream."""

    _write_only = False

    def __init__(self, fd, *args, **kwargs):
        super().__init__(*args, **kwargs)
        c_stream = _ll.eddy_stream_new(self.io_loop._eddy, int(fd))
        if c_stream is None:
            raise ValueError("eddy cannot make a stream of fd %r" % (fd,))
        self._attach(c_stream)

    def _attach(self, c_stream):
        super()._attach(c_stream)
        fd = _ll.eddy_stream_fd(c_stream)
        self._write_only = fd >= 0 and (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE) == os.O_WRONLY


__all__ = ["BaseIOStream", "IOStream", "SSLIOStream", "PipeIOStream", "StreamClosedError",
           "UnsatisfiableReadError", "StreamBufferFullError"]
