"""Tornado's tornado.websocket on eddy's C WebSocket (RFC 6455, permessage-deflate).

Server:

    class EchoHandler(eddy.websocket.WebSocketHandler):
        def open(self, *args, **kwargs): ...
        def on_message(self, message):      # str for text frames, bytes for binary ones
            self.write_message(message, binary=isinstance(message, bytes))
        def on_close(self): ...             # self.close_code, self.close_reason

Client:

    conn = await eddy.websocket.websocket_connect("ws://127.0.0.1:8888/ws")
    conn.write_message("hi")
    reply = await conn.read_message()       # None once the connection is closed

The handshake checks (Upgrade/Connection tokens, key, version 13 → 426, origin → 403) and every
protocol rule run in C. What Tornado asks the handler per connection is asked here too, but only
when the class overrides it: `check_origin` (else C applies Tornado's same-host rule),
`select_subprotocol`, `on_ping`, `on_pong`. The per-route settings (`get_compression_options`,
`ping_interval`, `ping_timeout`, `max_message_size`, and eddy's `max_message_memory`) are read
once, when the route is added, from an instance made without a request (they may read
`self.settings`)."""

import asyncio
import collections
import errno
import functools
import inspect
import socket
import ssl
import urllib.parse

from . import _tls
from . import lowlevel as _ll
from .escape import json_encode
from .web import RequestHandler, app_log

__all__ = ["WebSocketHandler", "WebSocketClosedError", "WebSocketError",
           "WebSocketClientConnection", "websocket_connect"]

_default_max_message_size = 10 * 1024 * 1024  # Tornado's default
_default_max_message_memory = 1024 * 1024 * 1024  # eddy's (eddy_ws_options_set_max_message_memory)

# Route events from the C layer (eddy.i: EDDY_PY_HOOK_WS_*).
_OPEN, _MESSAGE, _CLOSE, _PING, _PONG, _CHECK_ORIGIN, _SELECT_SUBPROTOCOL, _WRITTEN = range(8, 16)


class WebSocketError(Exception):
    pass


class WebSocketClosedError(WebSocketError):
    """Raised when writing to a closed connection (Tornado's name)."""


def _compression_level(options, what):
    """(level, mem_level) for eddy_ws_options_set_compression_level from Tornado's
    compression_options: `compression_level` (zlib's -1 to 9; absent: 6, Tornado's
    GZipContentEncoding.GZIP_LEVEL) and `mem_level` (1 to 9; absent: 8). ValueError for other
    values, where Tornado fails inside zlib.compressobj."""
    level = options.get("compression_level", 6)
    mem_level = options.get("mem_level", 8)
    for key, value, low in (("compression_level", level, -1), ("mem_level", mem_level, 1)):
        if not isinstance(value, int) or not low <= value <= 9:
            raise ValueError("%s: compression_options[%r] is %r, not an int from %d to 9"
                             % (what, key, value, low))
    return level, mem_level


def _close_args(code, reason):
    """Tornado's close(): no code and no reason → an empty close frame; a reason alone → 1000."""
    if code is None and reason is not None:
        code = 1000
    return (0 if code is None else int(code)), ("" if reason is None else reason)


def _peer_close(code, reason):
    """(close_code, close_reason) as Tornado reports them: None when the close frame had no code
    (1005) or no close frame came at all (1006), and None for an empty reason."""
    return (None if code in (0, 1005, 1006) else code), (reason or None)


def _payload(message, binary):
    if isinstance(message, dict):
        message = json_encode(message)
    if isinstance(message, str):
        return message.encode("utf-8")
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    raise TypeError("write_message takes str, bytes or dict, not %s" % type(message).__name__)


class _WriteFutures:
    """The futures write_message returned, oldest first. eddy reports each message's
    completion in write order (eddy.i: eddy_py_ws_written): 0 once the message left eddy's
    write buffer for the kernel, an error when the connection closed first. So a producer that
    awaits them never has more than what it wrote since in eddy's buffer (Tornado's semantics:
    the future of IOStream.write)."""

    __slots__ = ("futures",)

    def __init__(self):
        self.futures = collections.deque()

    def add(self, aloop):
        future = aloop.create_future()
        self.futures.append(future)
        return future

    def written(self, status):
        if not self.futures:
            return
        future = self.futures.popleft()
        if future.done():  # cancelled by its awaiter
            return
        if status == 0:
            future.set_result(None)
        else:
            future.set_exception(WebSocketClosedError(
                "connection closed before the message was written (%s)"
                % _ll.eddy_strerror(status)))
            _retrieved(future)

    def fail_all(self):
        """The connection is gone: whatever eddy did not report fails (it reports all first)."""
        while self.futures:
            self.written(_ll.EDDY_ECLOSED)


def _retrieved(future):
    # Nobody has to await a write's future: an unread failure must not be logged as
    # "Future exception was never retrieved" (Tornado does not log those either).
    future.exception()


class _Sequencer:
    """Tornado's order of events: on_message is not called before `open` returned, nor before
    the coroutine of the previous message finished. Messages that arrive meanwhile wait here.
    The handler is passed in, not kept, so no reference cycle holds it after the close."""

    __slots__ = ("busy", "pending")

    def __init__(self):
        self.busy = False
        self.pending = collections.deque()

    def run(self, owner, fn, *args, **kwargs):
        """Calls fn(*args, **kwargs); an awaitable it returns runs as a task and holds the next
        messages back. Exceptions go to owner._fail."""
        try:
            result = fn(*args, **kwargs)
        except Exception as e:
            owner._fail(e)
            return
        if result is not None and inspect.isawaitable(result):
            self.busy = True
            task = asyncio.ensure_future(result, loop=owner._aloop())
            task.add_done_callback(functools.partial(self._finished, owner))

    def message(self, owner, message):
        if self.busy:
            self.pending.append(message)
        else:
            self.run(owner, owner.on_message, message)

    def _finished(self, owner, task):
        self.busy = False
        if not task.cancelled() and task.exception() is not None:
            owner._fail(task.exception())
        while self.pending and not self.busy and not owner._ws_gone():
            self.run(owner, owner.on_message, self.pending.popleft())

    def drop(self):
        self.pending.clear()


class WebSocketHandler(RequestHandler):
    """A route whose requests become WebSocket connections (Tornado's WebSocketHandler)."""

    _eddy_websocket = True  # web.Application makes its routes WebSocket endpoints

    def __init__(self, application, request, **kwargs):
        self.ws_connection = None
        self.close_code = None
        self.close_reason = None
        self._ws = None
        self._selected_subprotocol = None
        self._subprotocol_asked = False
        self._on_close_called = False
        self._events = _Sequencer()
        self._writes = _WriteFutures()
        super().__init__(application, request, **kwargs)

    # ---- what subclasses override ----
    def open(self, *args, **kwargs):
        pass

    def on_message(self, message):
        raise NotImplementedError

    def on_ping(self, data):
        """Invoked with the payload when a ping frame arrived (the pong is already queued)."""

    def on_pong(self, data):
        """Invoked with the payload when a pong frame arrived."""

    def on_close(self):
        pass

    def check_origin(self, origin):
        """True to accept a handshake whose Origin header is `origin` (not called when there is
        none). Tornado's default: the origin's host[:port] must equal the Host header.
        Returning False answers 403."""
        netloc = urllib.parse.urlparse(origin).netloc.lower()
        return netloc == self.request.headers.get("Host")

    def select_subprotocol(self, subprotocols):
        """Return one of the client's `subprotocols` to select it, or None. Called exactly once
        per connection, with an empty list when none was offered."""
        return None

    def get_compression_options(self):
        """None (the default) turns permessage-deflate off; a dict (even empty) offers it.
        Its keys `compression_level` (zlib's level: 0 stores, 9 is smallest, -1 zlib's
        default; default 6) and `mem_level` (zlib's memLevel, 1 to 9, default 8) set how this
        side compresses, as in Tornado; another value raises ValueError when the route is
        added (Tornado's zlib.compressobj fails on it)."""
        return None

    @property
    def ping_interval(self):
        """Seconds between keep-alive pings (setting `websocket_ping_interval`; None/0: off)."""
        return self.settings.get("websocket_ping_interval", None)

    @property
    def ping_timeout(self):
        """Seconds without a pong before the connection is dropped (setting
        `websocket_ping_timeout`; default max(3 pings, 30 s))."""
        return self.settings.get("websocket_ping_timeout", None)

    @property
    def max_message_size(self):
        """Largest message accepted (setting `websocket_max_message_size`, default 10 MiB);
        a bigger one closes the connection with 1009."""
        return self.settings.get("websocket_max_message_size", _default_max_message_size)

    @property
    def max_message_memory(self):
        """Most bytes of messages being received held at once over all of this route's
        connections (setting `websocket_max_message_memory`, an eddy extension: Tornado has no
        such bound; default 1 GiB, 0: no limit); a message whose bytes would go over closes its
        connection with 1013 (Try Again Later). `max_message_size` bounds one message, not how
        many peers hold one half-sent: this keeps peers that each send most of a large message
        and stall from taking the process's memory. A negative value raises ValueError when
        the route is added."""
        return self.settings.get("websocket_max_message_memory", _default_max_message_memory)

    # ---- what handlers call ----
    def write_message(self, message, binary=False):
        """Sends a message (str, bytes, or a dict sent as JSON). Returns a Future that resolves
        once the message left eddy's write buffer for the kernel (await it to apply
        backpressure), or fails with WebSocketClosedError when the connection closes first;
        raises WebSocketClosedError once closing has begun."""
        ws = self._ws
        if ws is None or self.ws_connection is None or _ll.eddy_ws_closing(ws):
            raise WebSocketClosedError()
        rc = _ll.eddy_py_ws_write(ws, _payload(message, binary), 1 if binary else 0, 1)
        if rc == _ll.EDDY_ECLOSED:
            raise WebSocketClosedError()
        if rc < 0:
            raise ValueError("write_message: %s" % _ll.eddy_strerror(rc))
        self.application._ioloop._pump.kick()
        return self._writes.add(self._aloop())

    def ping(self, data=b""):
        """Sends a ping with up to 125 bytes of payload (str is sent as UTF-8)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._ws is None or self.ws_connection is None:
            raise WebSocketClosedError()
        rc = _ll.eddy_ws_ping(self._ws, data)
        if rc == _ll.EDDY_ECLOSED:
            raise WebSocketClosedError()
        if rc < 0:
            raise ValueError("ping payload: %s" % _ll.eddy_strerror(rc))
        self.application._ioloop._pump.kick()

    def close(self, code=None, reason=None):
        """Starts the close handshake (`code` and `reason` go into the close frame); on_close
        follows once the peer answered (or after 5 s)."""
        if self._ws is not None and self.ws_connection is not None:
            self.ws_connection = None
            code, reason = _close_args(code, reason)
            rc = _ll.eddy_ws_close(self._ws, code, reason)
            if rc == _ll.EDDY_EINVAL:
                raise ValueError("close(%r, %r): invalid code or reason" % (code, reason))
            self.application._ioloop._pump.kick()

    @property
    def selected_subprotocol(self):
        """The subprotocol returned by select_subprotocol (None when none was chosen)."""
        return self._selected_subprotocol

    def set_nodelay(self, value):
        """Accepted for Tornado compatibility: eddy always sets TCP_NODELAY on its connections."""

    def on_connection_close(self):
        # As Tornado's: the connection is gone, and on_close runs (once) from here, so an
        # override that calls super() runs before on_close, as it does there.
        if not self._on_close_called:
            self._on_close_called = True
            self.on_close()

    # ---- the C route's events (see web._RouteTarget) ----
    @classmethod
    def _eddy_route_setup(cls, app, route):
        """Makes `route` this class's WebSocket endpoint. Returns 0 or a negative EDDY_E*."""
        def overrides(name):
            return int(getattr(cls, name) is not getattr(WebSocketHandler, name))

        probe = cls.__new__(cls)  # for the per-route settings, without a request
        probe.application = app
        memory = int(probe.max_message_memory)
        if memory < 0:  # size_t in C: a negative would wrap
            raise ValueError("websocket_max_message_memory: %r is negative" % (memory,))
        compression = probe.get_compression_options()
        if compression is not None:
            level, mem_level = _compression_level(compression, "%s.get_compression_options()"
                                                  % cls.__name__)
        options = _ll.eddy_ws_options_new()
        try:
            _ll.eddy_ws_options_set_max_message_size(options, int(probe.max_message_size))
            _ll.eddy_ws_options_set_max_message_memory(options, memory)
            if compression is not None:
                _ll.eddy_ws_options_set_compression(options, _ll.EDDY_WS_DEFLATE, 0)
                _ll.eddy_ws_options_set_compression_level(options, level, mem_level)
            interval = probe.ping_interval or 0
            if interval > 0:
                timeout = probe.ping_timeout
                if timeout is None:
                    timeout = max(3 * interval, 30)
                _ll.eddy_ws_options_set_ping(options, float(interval), float(timeout))
            _ll.eddy_py_ws_options_route_hooks(options, overrides("on_ping"), overrides("on_pong"))
            rc = _ll.eddy_py_route_websocket(route, options)
        finally:
            _ll.eddy_ws_options_free(options)
        if rc == 0:
            rc = _ll.eddy_py_route_ws_questions(route, overrides("check_origin"),
                                                overrides("select_subprotocol"))
        return rc

    def _ws_event(self, kind, arg, target):
        if kind == _MESSAGE:
            if self._ws is not None:
                self._events.message(self, arg[1])
        elif kind == _WRITTEN:
            self._writes.written(arg[1])
        elif kind == _OPEN:
            self._ws_open(arg[0], target)
        elif kind == _CLOSE:
            self._ws_close(*arg[1])
        elif kind == _PING:
            self.on_ping(arg[1])
        elif kind == _PONG:
            self.on_pong(arg[1])
        elif kind == _CHECK_ORIGIN:
            return bool(self.check_origin(arg))
        elif kind == _SELECT_SUBPROTOCOL:
            self._subprotocol_asked = True
            chosen = self.select_subprotocol(list(arg))
            if chosen is None:
                return -1
            if chosen not in arg:
                raise ValueError("select_subprotocol returned %r, which was not offered: %r"
                                 % (chosen, arg))
            return arg.index(chosen)
        return None

    def _ws_open(self, ws, target):
        self._ws = self.ws_connection = ws
        name = _ll.eddy_ws_subprotocol(ws)
        self._selected_subprotocol = name.decode("latin-1") if name else None
        if (not self._subprotocol_asked and
                type(self).select_subprotocol is not WebSocketHandler.select_subprotocol):
            # Tornado calls it even when nothing was offered (C asks only about offers).
            self._subprotocol_asked = True
            self.select_subprotocol([])
        self._load_path_args(target)
        if type(self).on_finish is not RequestHandler.on_finish:
            # Tornado's handshake ends the HTTP request with finish() (the 101 answer) before
            # open(), so on_finish runs there, once per connection; eddy never called it. Its
            # exception is logged, as on_finish's is for other requests.
            self._finish_reported = True  # not again when eddy finishes the session
            try:
                self.on_finish()
            except Exception:
                app_log.error("Uncaught exception in %s.on_finish", type(self).__name__,
                              exc_info=True)
        self._events.run(self, self.open, *self.path_args, **self.path_kwargs)

    def _ws_close(self, code, reason):
        self.close_code, self.close_reason = _peer_close(code, reason)
        # The C connection is released when this returns: no call may reach it afterwards.
        self._ws = self.ws_connection = None
        self._events.drop()
        self._writes.fail_all()
        self.on_connection_close()  # calls on_close() unless an override leaves it out

    def _ws_gone(self):
        return self._ws is None

    def _aloop(self):
        return self.application._ioloop.asyncio_loop

    def _fail(self, exc):
        app_log.error("Uncaught exception in %s", type(self).__name__,
                      exc_info=(type(exc), exc, exc.__traceback__))
        if self._ws is not None and not _ll.eddy_ws_closing(self._ws):
            self.ws_connection = None
            _ll.eddy_ws_close(self._ws, 1011, "")
            self.application._ioloop._pump.kick()


# ---- client ------------------------------------------------------------------------------------

(_CONNECTED, _CLIENT_MESSAGE, _CLIENT_CLOSE, _CLIENT_PING, _CLIENT_PONG, _REFUSED,
 _CLIENT_WRITTEN) = range(7)


def _connect_error(status, refused=None, detail=""):
    """The exception Tornado's websocket_connect raises for a failed connect. `refused` is the
    (HTTP status, reason) of a handshake answered without a 101; `detail` is what eddy knows
    beyond the code (eddy_websocket_connect_error_detail: "certificate verification: hostname
    mismatch", "connect to 127.0.0.1:1: Connection refused", "no Upgrade: websocket in the
    handshake response", ...), put in the exception's message."""
    from .httpclient import HTTPClientError

    def said(text):
        return "%s: %s" % (text, detail) if detail else text

    if status == _ll.EDDY_EPROTO and refused is not None and not 200 <= refused[0] < 300:
        return HTTPClientError(refused[0], refused[1] or None)  # Tornado's; the status says it
    name = _ll.eddy_strerror(status)
    # OSError subclasses: the detail replaces the strerror text, which it repeats.
    if status == _ll.EDDY_ECONNREFUSED:
        return ConnectionRefusedError(errno.ECONNREFUSED, detail or "Connection refused")
    # A Unix socket's path (HTTPRequest's unix_socket): what socket.connect(AF_UNIX) raises,
    # as a fetch over one does (httpclient._network_error).
    if status == _ll.EDDY_ENOENT:
        return FileNotFoundError(errno.ENOENT, detail or "No such file or directory")
    if status == _ll.EDDY_EACCES:
        return PermissionError(errno.EACCES, detail or "Permission denied")
    if status == _ll.EDDY_ECONNRESET:
        return ConnectionResetError(errno.ECONNRESET, said("Connection reset by peer"))
    if status == _ll.EDDY_ETIMEDOUT:
        return HTTPClientError(599, said("Timeout while connecting"))
    if status == _ll.EDDY_ERESOLVE:
        return socket.gaierror(socket.EAI_NONAME, detail or "Name or service not known")
    if status == _ll.EDDY_ETLS:
        return ssl.SSLError(said(name))  # as a fetch's (httpclient._network_error)
    if status == _ll.EDDY_EPROTO:
        return WebSocketError(said("Non-websocket response"))
    if status in (_ll.EDDY_EOF, _ll.EDDY_ECLOSED):
        return HTTPClientError(599, said("Stream closed"))
    return HTTPClientError(599, said(name))


class WebSocketClientConnection:
    """A client connection (Tornado's WebSocketClientConnection); made by websocket_connect."""

    def __init__(self, io_loop, on_message_callback=None):
        self.io_loop = io_loop
        self.connect_future = io_loop.asyncio_loop.create_future()
        self.close_code = None
        self.close_reason = None
        self._on_message_callback = on_message_callback
        self._ws = None
        self._closed = False
        self._selected_subprotocol = None
        self._refused = None  # (status, reason) of a handshake answered without a 101
        self._messages = collections.deque()  # read_message's queue (no on_message_callback)
        self._readers = collections.deque()   # futures of read_message calls waiting
        self._writes = _WriteFutures()

    # ---- Tornado's API ----
    def write_message(self, message, binary=False):
        """Sends a message (str, bytes, or a dict as JSON); returns a Future that resolves once
        the message left eddy's write buffer for the kernel, or fails with
        WebSocketClosedError when the connection closes first. Raises WebSocketClosedError once
        closing has begun."""
        if self._ws is None or _ll.eddy_ws_closing(self._ws):
            raise WebSocketClosedError("Client connection has been closed")
        rc = _ll.eddy_py_ws_write(self._ws, _payload(message, binary), 1 if binary else 0, 1)
        if rc == _ll.EDDY_ECLOSED:
            raise WebSocketClosedError("Client connection has been closed")
        if rc < 0:
            raise ValueError("write_message: %s" % _ll.eddy_strerror(rc))
        self.io_loop._pump.kick()
        return self._writes.add(self.io_loop.asyncio_loop)

    def read_message(self, callback=None):
        """A Future for the next message (str or bytes), or None once the connection is closed.
        Messages are never lost: they wait in a queue until read. With an on_message_callback,
        messages go to the callback instead and this never resolves before the close."""
        aloop = self.io_loop.asyncio_loop
        future = aloop.create_future()
        if self._messages:
            future.set_result(self._messages.popleft())
        elif self._closed:
            future.set_result(None)
        else:
            self._readers.append(future)
        if callback is not None:
            self.io_loop.add_future(future, callback)
        return future

    def ping(self, data=b""):
        """Sends a ping with up to 125 bytes of payload."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._ws is None or _ll.eddy_ws_closing(self._ws):
            raise WebSocketClosedError()
        rc = _ll.eddy_ws_ping(self._ws, data)
        if rc < 0:
            raise (WebSocketClosedError() if rc == _ll.EDDY_ECLOSED
                   else ValueError("ping payload: %s" % _ll.eddy_strerror(rc)))
        self.io_loop._pump.kick()

    def close(self, code=None, reason=None):
        """Starts the close handshake; read_message gives None once it completed."""
        if self._ws is not None and not _ll.eddy_ws_closing(self._ws):
            code, reason = _close_args(code, reason)
            rc = _ll.eddy_ws_close(self._ws, code, reason)
            if rc == _ll.EDDY_EINVAL:
                raise ValueError("close(%r, %r): invalid code or reason" % (code, reason))
            self.io_loop._pump.kick()

    @property
    def selected_subprotocol(self):
        """The subprotocol the server selected, or None."""
        return self._selected_subprotocol

    def on_message(self, message):
        self._on_message(message)

    def on_ping(self, data):
        pass

    def on_pong(self, data):
        pass

    # ---- events from the C client (eddy.i: eddy_py_websocket_connect) ----
    def _event(self, event, arg):
        try:
            if event == _CLIENT_MESSAGE:
                self.on_message(arg)
            elif event == _CLIENT_WRITTEN:
                self._writes.written(arg)
            elif event == _CONNECTED:
                self._connected(*arg)
            elif event == _CLIENT_CLOSE:
                self._closed_by(*arg)
            elif event == _CLIENT_PING:
                self.on_ping(arg)
            elif event == _CLIENT_PONG:
                self.on_pong(arg)
            elif event == _REFUSED:
                self._refused = arg
        except (SystemExit, KeyboardInterrupt) as e:  # stops the loop, as in asyncio
            self.io_loop._interrupt(e, from_c=True)
        except Exception:
            app_log.error("Uncaught exception in a WebSocket client callback", exc_info=True)

    def _connected(self, ws, status):
        if status != 0:
            self._closed = True
            # Only readable now, inside eddy's failed on_connect.
            detail = _ll.eddy_websocket_connect_error_detail(self.io_loop._eddy)
            detail = detail.decode("utf-8", "replace") if detail else ""
            if not self.connect_future.done():
                self.connect_future.set_exception(_connect_error(status, self._refused, detail))
            return
        self._ws = ws
        name = _ll.eddy_ws_subprotocol(ws)
        self._selected_subprotocol = name.decode("latin-1") if name else None
        if self.connect_future.done():  # cancelled meanwhile: nobody will use it
            _ll.eddy_ws_close(ws, 1001, "")
            return
        self.connect_future.set_result(self)

    def _closed_by(self, code, reason):
        self.close_code, self.close_reason = _peer_close(code, reason)
        self._ws = None  # released by eddy when this returns
        self._closed = True
        self._writes.fail_all()
        self._on_message(None)

    def _on_message(self, message):
        if message is None:  # closed: every waiting read_message gets None
            readers, self._readers = self._readers, collections.deque()
            for reader in readers:
                if not reader.done():
                    reader.set_result(None)
        if self._on_message_callback is not None:
            self._on_message_callback(message)
            return
        if message is None:
            return
        while self._readers:
            reader = self._readers.popleft()
            if not reader.done():  # a cancelled read_message does not eat the message
                reader.set_result(message)
                return
        self._messages.append(message)


# The handshake's own fields, which eddy writes (a Host given goes along: it replaces the
# URL's, as Tornado sends it).
_HANDSHAKE_FIELDS = frozenset(("upgrade", "connection", "sec-websocket-key",
                               "sec-websocket-version", "sec-websocket-protocol",
                               "sec-websocket-extensions", "content-length",
                               "transfer-encoding"))


def websocket_connect(url, callback=None, connect_timeout=None, on_message_callback=None,
                      compression_options=None, ping_interval=None, ping_timeout=None,
                      max_message_size=_default_max_message_size, subprotocols=None,
                      max_message_memory=None):
    """Opens a client connection (Tornado's websocket_connect). `url` is a ws:// or wss:// URL
    or an eddy.httpclient.HTTPRequest (its url, headers, connect_timeout and TLS arguments —
    validate_cert, ca_certs, client_cert, client_key, ssl_options — are used; so is eddy's
    unix_socket extension: the connection goes to that Unix socket, the URL still giving Host,
    target and the name a wss:// certificate is checked for; a missing path fails with
    FileNotFoundError, one nobody listens on with ConnectionRefusedError). Returns a
    Future resolving to a WebSocketClientConnection, or failing with the connect's error
    (ConnectionRefusedError, HTTPClientError 599 on a timeout, HTTPClientError(status) when the
    server answered with a non-2xx status instead of upgrading, WebSocketError("Non-websocket
    response") for a 2xx answer, ssl.SSLError, ...). wss:// verifies the server's certificate against the
    system's CAs (plus the request's ca_certs) unless validate_cert=False. `callback` (if
    given) is called with the Future when it is done. `compression_options` (None: no
    permessage-deflate; a dict, even empty, offers it) may set how this side compresses, as
    Tornado's: `compression_level` (-1 to 9, default 6) and `mem_level` (1 to 9, default 8);
    other values fail the Future with ValueError. `max_message_memory` (an eddy extension)
    bounds the bytes of the message being received (default 1 GiB, 0: no limit); over it the
    connection closes with 1013."""
    from .httpclient import HTTPRequest
    from .ioloop import IOLoop

    headers = ()
    tls_key = None
    unix_socket = None
    if isinstance(url, HTTPRequest):
        assert connect_timeout is None, "connect_timeout goes into the HTTPRequest"
        request = url
        # eddy's extension, as for a fetch: the connection goes to that Unix socket while the
        # URL still gives Host, target and (wss://) the name the certificate is checked for.
        unix_socket = getattr(request, "unix_socket", None)
        url = request.url
        connect_timeout = request.connect_timeout
        # eddy writes the handshake's own fields; the others (Origin, Cookie, ...) go along.
        headers = [(k, v) for k, v in request.headers.get_all()
                   if k.lower() not in _HANDSHAKE_FIELDS]
        tls_key = _tls.client_key(request)
    io_loop = IOLoop.current()
    conn = WebSocketClientConnection(io_loop, on_message_callback)
    future = conn.connect_future
    if callback is not None:
        io_loop.add_future(future, callback)
    options = _ll.eddy_ws_options_new()
    try:
        _client_options(options, connect_timeout, compression_options, ping_interval,
                        ping_timeout, max_message_size, subprotocols, headers,
                        max_message_memory)
        if unix_socket is not None:
            rc = _ll.eddy_ws_options_set_unix_socket(options, unix_socket)
            if rc < 0:
                raise ValueError("websocket_connect: unix_socket %r: %s (at most 107 bytes)"
                                 % (unix_socket, _ll.eddy_strerror(rc)))
        if tls_key is not None:
            ctx = _tls.client_context(tls_key)
            try:
                rc = _ll.eddy_ws_options_set_tls(options, ctx)
            finally:
                _ll.eddy_tls_context_free(ctx)  # the options (and connection) keep their own
            if rc < 0:
                raise ValueError("websocket_connect: TLS options (%s)" % _ll.eddy_strerror(rc))
        rc = _ll.eddy_py_websocket_connect(io_loop._eddy, url, options, conn._event)
    except (ValueError, TypeError, RuntimeError) as e:
        future.set_exception(e)
        return future
    finally:
        _ll.eddy_ws_options_free(options)
    if rc < 0:
        conn._closed = True
        future.set_exception(ValueError("websocket_connect(%r): %s" % (url, _ll.eddy_strerror(rc)))
                             if rc == _ll.EDDY_EINVAL else _connect_error(rc))
    else:
        io_loop._pump.kick()
    return future


def _client_options(options, connect_timeout, compression_options, ping_interval, ping_timeout,
                    max_message_size, subprotocols, headers, max_message_memory):
    def check(rc, what):
        if rc < 0:
            raise ValueError("websocket_connect: bad %s (%s)" % (what, _ll.eddy_strerror(rc)))

    # Tornado's HTTPRequest default connect_timeout is 20 s, as eddy's.
    if connect_timeout is not None:
        check(_ll.eddy_ws_options_set_connect_timeout(options, float(connect_timeout)),
              "connect_timeout")
    if max_message_size is not None:
        check(_ll.eddy_ws_options_set_max_message_size(options, int(max_message_size)),
              "max_message_size")
    if max_message_memory is not None:
        if int(max_message_memory) < 0:  # size_t in C: a negative would wrap
            check(_ll.EDDY_EINVAL, "max_message_memory")
        check(_ll.eddy_ws_options_set_max_message_memory(options, int(max_message_memory)),
              "max_message_memory")
    if compression_options is not None:
        level, mem_level = _compression_level(compression_options, "websocket_connect")
        check(_ll.eddy_ws_options_set_compression(options, _ll.EDDY_WS_DEFLATE, 0),
              "compression_options")
        check(_ll.eddy_ws_options_set_compression_level(options, level, mem_level),
              "compression_options")
    if ping_interval:
        timeout = ping_timeout if ping_timeout is not None else max(3 * ping_interval, 30)
        check(_ll.eddy_ws_options_set_ping(options, float(ping_interval), float(timeout)),
              "ping_interval/ping_timeout")
    for name in subprotocols or ():
        check(_ll.eddy_ws_options_add_subprotocol(options, name), "subprotocol %r" % (name,))
    for name, value in headers:
        check(_ll.eddy_ws_options_add_header(options, name, str(value)), "header %r" % (name,))
