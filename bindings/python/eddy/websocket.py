"""Tornado's WebSocketHandler on eddy's C WebSocket server (RFC 6455, permessage-deflate).

    class EchoHandler(eddy.websocket.WebSocketHandler):
        def open(self, *args, **kwargs): ...
        def on_message(self, message):      # str for text frames, bytes for binary ones
            self.write_message(message, binary=isinstance(message, bytes))
        def on_close(self): ...             # self.close_code, self.close_reason

The handshake checks (Upgrade/Connection tokens, key, version 13 → 426, origin → 403) and every
protocol rule are enforced in C; the default origin check accepts a missing Origin and one
whose host equals the Host header, as Tornado's does."""

import asyncio
import json

from . import lowlevel as _ll
from .web import RequestHandler, app_log

__all__ = ["WebSocketHandler", "WebSocketClosedError", "WebSocketError"]


class WebSocketError(Exception):
    pass


class WebSocketClosedError(WebSocketError):
    """Raised when writing to a closed connection (Tornado's name)."""


class WebSocketHandler(RequestHandler):
    """A route whose requests become WebSocket connections (Tornado's WebSocketHandler)."""

    _eddy_websocket = True  # web.Application makes its routes WebSocket endpoints

    def __init__(self, application, request, **kwargs):
        self.ws_connection = None
        self.close_code = None
        self.close_reason = None
        self._ws = None
        super().__init__(application, request, **kwargs)

    # ---- what subclasses override ----
    def open(self, *args, **kwargs):
        pass

    def on_message(self, message):
        raise NotImplementedError

    def on_close(self):
        pass

    def get_compression_options(self):
        """None (the default) turns permessage-deflate off; a dict (even empty) offers it."""
        return None

    @property
    def max_message_size(self):
        return self.settings.get("websocket_max_message_size", 10 * 1024 * 1024)

    # ---- what handlers call ----
    def write_message(self, message, binary=False):
        """Sends a message (str, bytes, or a dict sent as JSON). Returns a Future that is done
        once the message was queued; raises WebSocketClosedError after the connection closed."""
        if self._ws is None:
            raise WebSocketClosedError()
        if isinstance(message, dict):
            message = json.dumps(message).replace("</", "<\\/")
        if isinstance(message, str):
            data = message.encode("utf-8")
        else:
            data = bytes(message)
        rc = _ll.eddy_py_ws_write(self._ws, data, 1 if binary else 0)
        if rc < 0:
            raise WebSocketClosedError(_ll.eddy_strerror(rc))
        future = self.application._ioloop.asyncio_loop.create_future()
        future.set_result(None)
        return future

    def ping(self, data=b""):
        if self._ws is None:
            raise WebSocketClosedError()
        if isinstance(data, str):
            data = data.encode("utf-8")
        rc = _ll.eddy_ws_ping(self._ws, data)
        if rc < 0:
            raise WebSocketClosedError(_ll.eddy_strerror(rc))

    def close(self, code=None, reason=None):
        """Starts the close handshake; on_close follows when it completes."""
        if self._ws is not None:
            _ll.eddy_ws_close(self._ws, 1000 if code is None else code, reason or "")

    @property
    def selected_subprotocol(self):
        if self._ws is None:
            return None
        name = _ll.eddy_ws_subprotocol(self._ws)
        return name.decode("latin-1") if name else None

    # ---- the C route's events (see web._RouteTarget) ----
    def _ws_open(self, ws, target):
        self._ws = self.ws_connection = ws
        self._load_path_args(target)
        self._run(self.open(*self.path_args, **self.path_kwargs))

    def _ws_message(self, message):
        self._run(self.on_message(message))

    def _ws_close(self, code, reason):
        self.close_code = code or None
        self.close_reason = reason or None
        # The C connection is released when this returns: no call may reach it afterwards.
        self._ws = self.ws_connection = None
        self.on_close()

    def _run(self, result):
        if result is not None and asyncio.iscoroutine(result):
            task = self.application._ioloop.asyncio_loop.create_task(result)
            task.add_done_callback(self._task_done)

    def _task_done(self, task):
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())

    def _fail(self, exc):
        app_log.error("Uncaught exception in %s", type(self).__name__,
                      exc_info=(type(exc), exc, exc.__traceback__))
        if self._ws is not None:
            _ll.eddy_ws_close(self._ws, 1011, "")
