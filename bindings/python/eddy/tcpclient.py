"""eddy.tcpclient: Tornado's TCPClient over eddy_connect / eddy_connect_tls (net.h, tls.h).

Names are looked up by eddy on a worker thread (the loop never blocks) and every address is
tried in turn. Thread: the IOLoop's."""

import asyncio
import datetime
import errno
import numbers
import socket
import types

from . import _lowlevel as _ll
from . import _tls
from .gen import TimeoutError
from .iostream import IOStream, SSLIOStream, StreamClosedError, _Outcome


def _connect_error(code, host, port):
    """The exception a failed connect raises, as Tornado's TCPClient.connect raises it."""
    where = "%s:%s" % (host, port)
    if code == _ll.EDDY_ETIMEDOUT:
        return TimeoutError("Timeout connecting to %s" % where)
    if code == _ll.EDDY_ECLOSED:  # the IOLoop was closed while it connected
        return StreamClosedError()
    if code == _ll.EDDY_ERESOLVE:
        # Tornado's resolver lets the getaddrinfo error through.
        return socket.gaierror(socket.EAI_NONAME, "cannot resolve %r" % (host,))
    if code == _ll.EDDY_ECONNREFUSED:
        real = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused: %s" % where)
    elif code == _ll.EDDY_ECONNRESET:
        real = ConnectionResetError(errno.ECONNRESET, "Connection reset: %s" % where)
    elif code == _ll.EDDY_EADDRNOTAVAIL:
        real = OSError(errno.EADDRNOTAVAIL, "Address not available: %s" % where)
    elif code == _ll.EDDY_EACCES:
        real = PermissionError(errno.EACCES, "Permission denied: %s" % where)
    else:
        real = OSError("cannot connect to %s: %s" % (where, _ll.eddy_strerror(code)))
    # Tornado's IOStream.connect fails with StreamClosedError(real_error=the socket error).
    return StreamClosedError(real_error=real)


class TCPClient:
    """A non-blocking TCP connection factory (Tornado's). `resolver` is not supported (eddy
    resolves with the system resolver on a worker thread): passing one raises
    NotImplementedError."""

    def __init__(self, resolver=None):
        if resolver is not None:
            raise NotImplementedError("eddy.tcpclient: a custom resolver is not supported "
                                      "(eddy resolves names itself, without blocking the loop)")

    def close(self):
        """Nothing to release (kept for Tornado's API)."""

    async def connect(self, host, port, af=socket.AF_UNSPEC, ssl_options=None,
                      max_buffer_size=None, source_ip=None, source_port=None, timeout=None):
        """Connects to host:port and returns an IOStream (an SSLIOStream with ssl_options: a
        dict with ca_certs, certfile, keyfile, cert_reqs — {} verifies against the system's
        CAs and the host name; an ssl.SSLContext raises TypeError, see eddy._tls).
        af: socket.AF_INET / AF_INET6 restricts the addresses tried (the name is then resolved
        in Python's default executor). timeout: seconds (a number or a timedelta) for the whole
        attempt, name lookup included.
        Raises, as Tornado: StreamClosedError with real_error ConnectionRefusedError (or the
        OSError) when no address accepted; TimeoutError (eddy.gen's, asyncio's) on timeout;
        socket.gaierror when the name does not resolve; StreamClosedError (real_error None)
        when the IOLoop is closed while it connects. source_ip / source_port raise
        NotImplementedError (eddy cannot bind the local end). A TLS handshake runs after this
        returns: its failure fails the first read or write with StreamClosedError(real_error=
        ssl.SSLError)."""
        from .ioloop import IOLoop

        if source_ip is not None or source_port is not None:
            raise NotImplementedError("eddy.tcpclient: source_ip / source_port are not "
                                      "supported (eddy_connect cannot bind the local end)")
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        if timeout is not None and (not isinstance(timeout, numbers.Real) or timeout <= 0):
            raise ValueError("timeout must be a positive number of seconds or a timedelta")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("port must be an int in 1..65535, not %r" % (port,))
        if af not in (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6):
            raise ValueError("af must be AF_UNSPEC, AF_INET or AF_INET6")
        ioloop = IOLoop.current()
        tls = self._tls_context(ssl_options) if ssl_options is not None else None
        # Taken before the lookup: the timeout bounds the whole attempt, lookup included.
        deadline = None if timeout is None else ioloop.time() + timeout
        try:
            if af == socket.AF_UNSPEC:
                targets = [host]
            elif deadline is None:
                targets = await self._addresses(ioloop, host, port, af)
            else:
                try:
                    targets = await asyncio.wait_for(self._addresses(ioloop, host, port, af),
                                                     max(0.0, deadline - ioloop.time()))
                except asyncio.TimeoutError:
                    raise _connect_error(_ll.EDDY_ETIMEDOUT, host, port) from None
            error = None
            for target in targets:
                left = 0.0 if deadline is None else deadline - ioloop.time()
                if deadline is not None and left <= 0:
                    raise _connect_error(_ll.EDDY_ETIMEDOUT, host, port)
                cls = SSLIOStream if tls is not None else IOStream
                stream, code = await self._attempt(ioloop, target, port, left, tls, host,
                                                   lambda c: cls._adopt(c, max_buffer_size))
                if stream is not None:
                    return stream
                error = _connect_error(code, host, port)
                if code in (_ll.EDDY_ETIMEDOUT, _ll.EDDY_ERESOLVE, _ll.EDDY_ECLOSED):
                    break
            raise error
        finally:
            if tls is not None:
                _ll.eddy_tls_context_free(tls)  # each connection keeps its own reference

    @staticmethod
    def _tls_context(ssl_options):
        key = _tls.client_key(types.SimpleNamespace(ssl_options=ssl_options))
        if key is None:
            ctx = _ll.eddy_tls_context_new_client()
            if ctx is None:
                raise RuntimeError("eddy: cannot create a TLS context")
            return ctx
        return _tls.client_context(key)

    @staticmethod
    async def _addresses(ioloop, host, port, af):
        infos = await ioloop.asyncio_loop.getaddrinfo(host, port, family=af,
                                                      type=socket.SOCK_STREAM)
        addresses = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            if sockaddr[0] not in addresses:
                addresses.append(sockaddr[0])
        return addresses

    @staticmethod
    async def _attempt(ioloop, target, port, timeout, tls, server_name, adopt):
        """One eddy connect; (stream, 0) or (None, error code)."""
        future = ioloop.asyncio_loop.create_future()

        def done(c_stream, code):
            # Called exactly once by eddy. The stream is adopted here, inside the callback: one
            # not taken (the awaiting task was cancelled, or adopting failed) is closed by the C
            # trampoline when this returns.
            if future.done():
                return
            if c_stream is None:
                future.set_result((None, code if code < 0 else _ll.EDDY_EIO))
                return
            try:
                future.set_result((adopt(c_stream), 0))
            except Exception as e:
                future.set_exception(e)

        def loop_closed():
            # eddy released `done` uncalled: the IOLoop was closed while it connected.
            if not future.done():
                try:
                    future.set_result((None, _ll.EDDY_ECLOSED))
                except RuntimeError:
                    pass  # the asyncio loop is closed too: nobody can await it

        outcome = _Outcome(done, loop_closed)
        if tls is None:
            rc = _ll.eddy_connect(ioloop._eddy, target, port, float(timeout), outcome)
        else:
            rc = _ll.eddy_connect_tls(ioloop._eddy, target, port, float(timeout), tls,
                                      server_name, outcome)
        if rc < 0:
            if rc == _ll.EDDY_EINVAL:
                raise ValueError("cannot connect to %r port %r: %s"
                                 % (target, port, _ll.eddy_strerror(rc)))
            raise MemoryError("eddy: out of memory for the connect")
        ioloop._pump.kick()
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled after eddy had connected (and this adopted the stream): close it, nobody
            # else will.
            if future.done() and not future.cancelled() and future.exception() is None:
                stream = future.result()[0]
                if stream is not None:
                    stream.close()
            raise
