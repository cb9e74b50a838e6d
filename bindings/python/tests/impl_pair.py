"""Runs the same test code on eddy and on python3-tornado: a server thread per implementation
and a way to run client coroutines on the loop each one expects."""

import asyncio
import logging
import threading

import support

try:
    import tornado.httpclient
    import tornado.web
    import tornado.websocket
except ImportError:  # CI installs python3-tornado (scripts/deps/core.txt)
    tornado = None

import eddy.httpclient
import eddy.web
import eddy.websocket

logging.getLogger("tornado").setLevel(logging.CRITICAL)  # expected failures would be logged

NAMES = ["eddy"] + (["tornado"] if tornado is not None else [])


def modules(name):
    """(web, websocket, httpclient) of the implementation `name`."""
    if name == "eddy":
        return eddy.web, eddy.websocket, eddy.httpclient
    return tornado.web, tornado.websocket, tornado.httpclient


class TornadoServer:
    """python3-tornado serving `make_app()` on 127.0.0.1:<free port> on a plain asyncio loop
    of its own thread; `listen_kwargs` go to Application.listen (ssl_options, ...)."""

    def __init__(self, make_app, **listen_kwargs):
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make_app, listen_kwargs),
                                       daemon=True)
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("tornado did not start")

    def _run(self, make_app, listen_kwargs):
        self.aloop = asyncio.SelectorEventLoop()
        asyncio.set_event_loop(self.aloop)

        async def start():
            self.server = make_app().listen(0, "127.0.0.1", **listen_kwargs)
            self.port = list(self.server._sockets.values())[0].getsockname()[1]

        self.aloop.run_until_complete(start())
        self.ready.set()
        self.aloop.run_forever()
        self.server.stop()
        self.aloop.close()

    def stop(self):
        self.aloop.call_soon_threadsafe(self.aloop.stop)
        self.thread.join(20)


def serve(name, make_app, **listen_kwargs):
    """A started server thread (with .port and .stop()) of implementation `name`."""
    if name == "eddy":
        return support.ServerThread(make_app, **listen_kwargs)
    return TornadoServer(make_app, **listen_kwargs)


def run(name, make_coro, timeout=15):
    """Runs make_coro() on a fresh loop (eddy's loop policy for eddy, a plain asyncio loop for
    tornado) and returns ("ok", result) or ("error", exception)."""
    async def guarded():
        try:
            return "ok", await asyncio.wait_for(make_coro(), timeout)
        except Exception as e:  # what the tests compare
            return "error", e
    if name == "eddy":
        return asyncio.run(guarded())
    loop = asyncio.SelectorEventLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(guarded())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
