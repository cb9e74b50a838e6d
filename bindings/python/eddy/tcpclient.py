"""eddy.tcpclient: Tornado's TCPClient over eddy_connect_with_options /
eddy_connect_tls_with_options (net.h, tls.h).

Names are looked up by eddy on a worker thread (the loop never blocks) and the addresses are
tried as Happy Eyeballs (RFC 8305, as Tornado's _Connector): the next one starts when the
previous failed or 250 ms after it started. Thread: the IOLoop's."""

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
from .netutil import _is_inet_address


def _connect_error(code, host, port, detail=""):
    """The exception a failed connect raises, as Tornado's TCPClient.connect raises it.
    `detail` is what eddy knows beyond the code (eddy_connect_error_detail: "connect to
    127.0.0.1:9: Connection refused", "connect to 127.0.0.1:80: bind source 192.0.2.1: Cannot
    assign requested address", "name resolution: HOST: Name or service not known"), put in the
    message; for an OSError it replaces the generic text, which it names more precisely."""
    where = "%s:%s" % (host, port)
    if code == _ll.EDDY_ETIMEDOUT:
        text = "Timeout connecting to %s" % where
        return TimeoutError("%s: %s" % (text, detail) if detail else text)
    if code == _ll.EDDY_ECLOSED:  # the IOLoop was closed while it connected
        return StreamClosedError()
    if code == _ll.EDDY_ERESOLVE:
        # Tornado's resolver lets the getaddrinfo error through.
        return socket.gaierror(socket.EAI_NONAME, detail or "cannot resolve %r" % (host,))
    if code == _ll.EDDY_ECONNREFUSED:
        real = ConnectionRefusedError(errno.ECONNREFUSED,
                                      detail or "Connection refused: %s" % where)
    elif code == _ll.EDDY_ECONNRESET:
        real = ConnectionResetError(errno.ECONNRESET, detail or "Connection reset: %s" % where)
    elif code == _ll.EDDY_EADDRNOTAVAIL:
        real = OSError(errno.EADDRNOTAVAIL, detail or "Address not available: %s" % where)
    elif code == _ll.EDDY_EACCES:
        real = PermissionError(errno.EACCES, detail or "Permission denied: %s" % where)
    else:
        real = OSError("cannot connect to %s: %s%s" % (where, _ll.eddy_strerror(code),
                                                       ": " + detail if detail else ""))
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
        af: socket.AF_INET / AF_INET6 restricts the addresses tried to that family (still
        staggered: an address that does not answer delays the next by 250 ms, not until the
        timeout). source_ip (a numeric IPv4/IPv6 address; then only addresses of its family
        are tried) / source_port: the local end each attempt binds before it connects; a
        source_port alone binds the wildcard address (Tornado binds the loopback address then,
        which cannot reach another host). timeout: seconds (a number or a timedelta) for the
        whole attempt, name lookup included.
        Raises, as Tornado: StreamClosedError with real_error ConnectionRefusedError (or the
        OSError) when no address accepted; TimeoutError (eddy.gen's, asyncio's) on timeout;
        socket.gaierror when the name does not resolve, or has no address of the family af
        asks for (as getaddrinfo then); StreamClosedError (real_error None) when the IOLoop is
        closed while it connects. A source address that cannot be bound fails each
        attempt: StreamClosedError(real_error=OSError(EADDRNOTAVAIL / EADDRINUSE / EACCES))
        (Tornado raises that OSError itself). A TLS handshake runs after this returns: its
        failure fails the first read or write with StreamClosedError(real_error=
        ssl.SSLError)."""
        from .ioloop import IOLoop

        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        if timeout is not None and (not isinstance(timeout, numbers.Real) or timeout <= 0):
            raise ValueError("timeout must be a positive number of seconds or a timedelta")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("port must be an int in 1..65535, not %r" % (port,))
        families = {socket.AF_UNSPEC: _ll.EDDY_FAMILY_ANY, socket.AF_INET: _ll.EDDY_FAMILY_IPV4,
                    socket.AF_INET6: _ll.EDDY_FAMILY_IPV6}
        if af not in families:
            raise ValueError("af must be AF_UNSPEC, AF_INET or AF_INET6")
        if source_port is not None and (not isinstance(source_port, int)
                                        or not 0 <= source_port < 65536):
            raise ValueError("source_port must be an int in 0..65535, not %r" % (source_port,))
        if source_ip is not None and not (isinstance(source_ip, str) and _is_inet_address(source_ip)):
            raise ValueError("source_ip must be a numeric IPv4 or IPv6 address, not %r"
                             % (source_ip,))
        ioloop = IOLoop.current()
        # Everything goes through eddy's connector, af and the source address included, so
        # every connect is staggered the same way (it used to resolve here for af and try the
        # addresses strictly in turn: a silent first address held it until the timeout).
        options = _ll.eddy_connect_options_new()
        if options is None:
            raise MemoryError("eddy: out of memory for the connect options")
        tls = None
        try:
            if _ll.eddy_connect_options_set_family(options, families[af]) < 0:
                raise ValueError("af: refused by eddy")
            if source_ip is not None or source_port:
                if _ll.eddy_connect_options_set_source(options, source_ip, source_port or 0) < 0:
                    raise ValueError("source_ip %r / source_port %r refused by eddy"
                                     % (source_ip, source_port))
            tls = self._tls_context(ssl_options) if ssl_options is not None else None
            cls = SSLIOStream if tls is not None else IOStream
            stream, code, detail = await self._attempt(
                ioloop, host, port, 0.0 if timeout is None else float(timeout), tls, host,
                options, lambda c: cls._adopt(c, max_buffer_size))
            if stream is not None:
                return stream
            raise _connect_error(code, host, port, detail)
        finally:
            _ll.eddy_connect_options_free(options)
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
    async def _attempt(ioloop, target, port, timeout, tls, server_name, options, adopt):
        """One eddy connect; (stream, 0, "") or (None, error code, eddy's detail)."""
        future = ioloop.asyncio_loop.create_future()

        def done(c_stream, code):
            # Called exactly once by eddy. The stream is adopted here, inside the callback: one
            # not taken (the awaiting task was cancelled, or adopting failed) is closed by the C
            # trampoline when this returns.
            if future.done():
                return
            if c_stream is None:
                # Only readable now, inside eddy's failed callback.
                detail = _ll.eddy_connect_error_detail(ioloop._eddy)
                detail = detail.decode("utf-8", "replace") if detail else ""
                future.set_result((None, code if code < 0 else _ll.EDDY_EIO, detail))
                return
            try:
                future.set_result((adopt(c_stream), 0, ""))
            except Exception as e:
                future.set_exception(e)

        def loop_closed():
            # eddy released `done` uncalled: the IOLoop was closed while it connected.
            if not future.done():
                try:
                    future.set_result((None, _ll.EDDY_ECLOSED, ""))
                except RuntimeError:
                    pass  # the asyncio loop is closed too: nobody can await it

        outcome = _Outcome(done, loop_closed)
        if tls is None:
            rc = _ll.eddy_connect_with_options(ioloop._eddy, target, port, float(timeout),
                                               options, outcome)
        else:
            rc = _ll.eddy_connect_tls_with_options(ioloop._eddy, target, port, float(timeout),
                                                   options, tls, server_name, outcome)
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
