"""eddy.tcpserver: Tornado's TCPServer over eddy's listener (include/eddy/net.h).

Subclass TCPServer and override handle_stream(stream, address); each accepted connection
arrives there as an eddy.iostream.IOStream (SSLIOStream with ssl_options). The listener is made
on the current IOLoop the first time the server gets sockets (listen, add_sockets, start), so
the multi-process pattern works as in Tornado 6:

    sockets = eddy.netutil.bind_sockets(8888)
    eddy.process.fork_processes(0)
    async def main():
        server = MyServer()
        server.add_sockets(sockets)
        await asyncio.Event().wait()
    asyncio.run(main())

Thread: every method on the thread of the IOLoop the server listens on."""

import asyncio
import inspect
import logging
import os
import socket
import threading
import weakref

from . import _errors
from . import _lowlevel as _ll
from . import _tls
from . import netutil as _netutil
from . import process as _process
from .iostream import IOStream, SSLIOStream

app_log = logging.getLogger("eddy.application")


class _AcceptRelay:
    """The C listener's userdata: hands accepted streams to the server through a weak
    reference. The listener must not keep the server alive itself: eddy releases this userdata
    from inside eddy_loop_free, and a server dying there would free its listener (__del__)
    while the loop is still tearing it down. What keeps a listening server alive is its
    IOLoop (IOLoop._servers, as for HTTPServer) until stop() or IOLoop.close()."""

    __slots__ = ("server",)

    def __init__(self, server):
        self.server = weakref.ref(server)

    def __call__(self, c_stream, ip, port):
        server = self.server()
        if server is not None:  # else the C trampoline closes the unadopted stream
            server._on_accept(c_stream, ip, port)


class TCPServer:
    """A non-blocking TCP server (Tornado's). ssl_options: a dict with certfile, keyfile and
    optionally ca_certs / cert_reqs (client certificates) makes every accepted connection a TLS
    stream; an ssl.SSLContext raises TypeError (eddy's TLS is OpenSSL in C; see eddy._tls).
    max_buffer_size: each stream's read limit (default 100 MiB); read_chunk_size: accepted as
    in Tornado, nothing to set (eddy reads what the socket has).

    Lifetime: a server with sockets is kept alive by its IOLoop until stop() (or until the
    IOLoop is closed, which also closes its sockets); connections already accepted are
    independent of it."""

    def __init__(self, ssl_options=None, max_buffer_size=None, read_chunk_size=None):
        self.ssl_options = ssl_options
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        # Checked (certificates loaded) now, so a bad ssl_options fails here, as in Tornado.
        self._tls = _tls.server_context(ssl_options) if ssl_options is not None else None
        self._listener = None
        self._ioloop = None
        self._pending_sockets = []
        self._tasks = set()

    # ---- sockets -----------------------------------------------------------------------------
    def listen(self, port, address=None, family=socket.AF_UNSPEC, backlog=128, flags=None,
               reuse_port=False):
        """Listens on address:port now (every address when None or ""; port 0 picks a free
        one, see `port`). As bind_sockets + add_sockets; raises OSError when it cannot bind."""
        if family == socket.AF_UNSPEC and flags is None:
            listener = self._ensure_listener()
            # IPv6-only, as bind_sockets (Tornado) makes it: "::" and "0.0.0.0" can both be
            # listened on, and "::" alone does not take IPv4.
            listen_flags = _ll.EDDY_LISTEN_IPV6ONLY
            if reuse_port:
                listen_flags |= _ll.EDDY_LISTEN_REUSEPORT
            rc = _ll.eddy_listener_bind(listener, address or None, int(port), int(backlog),
                                        listen_flags)
            if rc < 0:
                raise _errors.os_error(rc, "cannot listen on %s:%s" % (address or "*", port))
            return
        sockets = _netutil.bind_sockets(port, address, family, backlog, flags, reuse_port)
        try:
            self.add_sockets(sockets)
        finally:
            for sock in sockets:
                sock.close()  # the listener serves duplicates

    def add_sockets(self, sockets):
        """Serves already listening sockets (from bind_sockets / bind_unix_socket). Each
        socket object stays the caller's: eddy serves a duplicate of its fd, so closing the
        object later does not stop the server (stop() does)."""
        for sock in sockets:
            self.add_socket(sock)

    def add_socket(self, socket):
        """Serves one listening socket; see add_sockets. Raises OSError when it is not a
        listening socket."""
        listener = self._ensure_listener()
        fd = os.dup(socket.fileno())
        rc = _ll.eddy_listener_add_fd(listener, fd)
        if rc < 0:
            os.close(fd)
            raise _errors.os_error(rc, "cannot serve %r" % (socket,))

    def bind(self, port, address=None, family=socket.AF_UNSPEC, backlog=128, flags=None,
             reuse_port=False):
        """Binds sockets now (bind_sockets); start() serves them. Tornado's (deprecated)
        bind/start pair: call bind, then start(num_processes), before the IOLoop runs when
        num_processes != 1."""
        self._pending_sockets.extend(_netutil.bind_sockets(port, address, family, backlog,
                                                           flags, reuse_port))

    def start(self, num_processes=1, max_restarts=None):
        """Serves the sockets given to bind(). num_processes != 1 first forks that many
        processes (0 or None: one per CPU; a child that fails is forked again, at most
        max_restarts times) with eddy.process.fork_processes, which refuses (RuntimeError)
        once an IOLoop ran; an IOLoop made but not run yet gets fds of its own in each child.
        The parent never returns from a fork (it supervises); each child serves, and runs
        IOLoop.current().start() next."""
        if num_processes != 1:
            _process.fork_processes(num_processes, max_restarts)
        sockets, self._pending_sockets = self._pending_sockets, []
        try:
            self.add_sockets(sockets)
        finally:
            for sock in sockets:
                sock.close()

    def stop(self):
        """Stops accepting and closes the listening sockets (a Unix socket's file is removed).
        Connections already accepted go on. Safe to call twice, and from handle_stream."""
        self._check_thread()
        listener, self._listener = self._listener, None
        for sock in self._pending_sockets:
            sock.close()
        self._pending_sockets = []
        if listener is not None:
            self._ioloop._servers.discard(self)
            _ll.eddy_listener_free(listener)

    @property
    def port(self):
        """The first listening TCP port (eddy's addition, handy with port 0), or None."""
        if self._listener is None:
            return None
        port = _ll.eddy_listener_port(self._listener)
        return port if port >= 0 else None

    def local_addresses(self):
        """The local address of every listening socket, in the order they were added: (ip,
        port) for IPv4, (ip, port, flowinfo, scope_id) for IPv6, the path for a Unix socket
        (eddy's addition: Tornado keeps the socket objects in the private _sockets dict,
        [s.getsockname() for s in server._sockets.values()]). `port` gives the first TCP
        socket's port only; add_sockets() with sockets bound to port 0 separately, or listen()
        on a name and on another address, make sockets with ports of their own. [] before
        listening and after stop(). Thread: the IOLoop's."""
        if self._listener is None:
            return []
        self._check_thread()
        addresses = []
        for i in range(_ll.eddy_listener_socket_count(self._listener)):
            fd = _ll.eddy_listener_socket_fd(self._listener, i)
            address = _netutil._socket_address(fd) if fd >= 0 else None
            if address is not None:
                addresses.append(address)
        return addresses

    # ---- connections ---------------------------------------------------------------------------
    def handle_stream(self, stream, address):
        """Override: called for each new connection with its IOStream and the peer's address
        ((ip, port) for IPv4, (ip, port, 0, 0) for IPv6, "" for a Unix socket). May be a
        coroutine. An exception it raises (or its coroutine raises) is logged on
        eddy.application and the stream is closed (Tornado would leave it open); a SystemExit /
        KeyboardInterrupt it raises closes the stream and then stops the loop (start() /
        run_sync() / asyncio.run() raise it), as from an asyncio callback."""
        raise NotImplementedError()

    def _check_thread(self):
        # The C listener belongs to its loop's thread (as every eddy object).
        if self._listener is not None and threading.get_ident() != self._ioloop._ident:
            raise RuntimeError("TCPServer used from another thread than its IOLoop's; use "
                               "IOLoop.add_callback to get onto the loop's thread")

    def _ensure_listener(self):
        self._check_thread()
        if self._listener is None:
            from .ioloop import IOLoop

            ioloop = IOLoop.current()
            listener = _ll.eddy_listener_new(ioloop._eddy, _AcceptRelay(self))
            if listener is None:
                raise RuntimeError("eddy_listener_new failed (out of memory, or the loop is gone)")
            if self._tls is not None:
                # Every accepted connection is a server TLS stream from then on; the listener
                # keeps its own reference to the context.
                rc = _ll.eddy_listener_set_tls(listener, self._tls)
                if rc < 0:
                    _ll.eddy_listener_free(listener)
                    raise ValueError("ssl_options: the listener refused TLS (%s)"
                                     % _ll.eddy_strerror(rc))
            self._ioloop = ioloop
            self._listener = listener
            ioloop._servers.add(self)  # listening keeps the server alive until stop()
        return self._listener

    def _on_accept(self, c_stream, ip, port):
        # Runs inside eddy's accept callback; a stream not adopted here is closed by the C
        # trampoline, so a failure cannot leak a connection.
        cls = SSLIOStream if self._tls is not None else IOStream
        stream = cls._adopt(c_stream, self.max_buffer_size, self.read_chunk_size)
        if not ip and not port:
            address = ""
        elif ":" in ip:
            address = (ip, port, 0, 0)
        else:
            address = (ip, port)
        try:
            result = self.handle_stream(stream, address)
        except Exception:
            app_log.error("Exception in handle_stream for %r", address, exc_info=True)
            stream.close()
            return
        except BaseException as e:
            # SystemExit / KeyboardInterrupt: the stream is ours already, so close it, then let
            # the exception stop the loop as asyncio does (not logged, not swallowed).
            stream.close()
            self._ioloop._interrupt(e)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result, loop=self._ioloop.asyncio_loop)
            self._tasks.add(task)  # asyncio keeps only weak references to tasks
            task.add_done_callback(lambda t: self._stream_handled(t, stream, address))
            self._ioloop._pump.kick()

    def _stream_handled(self, task, stream, address):
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            app_log.error("Exception in handle_stream for %r", address,
                          exc_info=(type(exc), exc, exc.__traceback__))
            if not stream.closed():
                stream.close()

    def __del__(self):
        tls, self._tls = getattr(self, "_tls", None), None
        if tls is not None:
            _ll.eddy_tls_context_free(tls)
        listener, self._listener = getattr(self, "_listener", None), None
        if listener is not None:
            # Unreachable while listening (the IOLoop holds the server) until IOLoop.close()
            # let go of it; then freeing is allowed before, during (from another object's
            # release: the loop has unlinked what it tears down) and after eddy_loop_free —
            # never from the listener's own userdata release, which holds the server weakly.
            _ll.eddy_listener_free(listener)
