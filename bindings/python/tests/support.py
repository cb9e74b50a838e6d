"""Shared by the binding's tests: an eddy application served by an IOLoop on its own thread,
and small HTTP client helpers (http.client over loopback)."""

import asyncio
import http.client
import logging
import socket
import threading
import unittest

import eddy.ioloop
import eddy.web

# Access lines for the many expected 4xx answers would bury real failures; test_web checks
# the access log itself with assertLogs (which lowers the level while it runs).
logging.getLogger("eddy.access").setLevel(logging.CRITICAL)


class ServerThread:
    """Runs `make_app()` (called on the loop thread) on port 0 of 127.0.0.1."""

    def __init__(self, make_app, **listen_kwargs):
        self.make_app = make_app
        self.listen_kwargs = listen_kwargs
        self.ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("server did not start")
        if self.error:
            raise self.error

    def _run(self):
        try:
            self.aloop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.aloop)
            self.ioloop = eddy.ioloop.IOLoop.current()
            self.app = self.make_app()
            self.server = self.app.listen(0, "127.0.0.1", **self.listen_kwargs)
            self.port = self.server.port
        except Exception as e:  # reported to the constructor
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.aloop.run_forever()
        self.server.stop()
        self.app.close()
        self.ioloop.close()

    def call(self, fn, timeout=10):
        """Runs fn() on the loop thread and returns its result."""
        done = threading.Event()
        box = {}

        def run():
            try:
                box["value"] = fn()
            except Exception as e:
                box["error"] = e
            done.set()

        self.aloop.call_soon_threadsafe(run)
        if not done.wait(timeout):
            raise TimeoutError("loop thread did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def stop(self):
        self.aloop.call_soon_threadsafe(self.aloop.stop)
        self.thread.join(20)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """Returns (status, reason, headers (HTTPMessage), body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.msg, resp.read()
        finally:
            conn.close()


def free_port():
    """A loopback port that was free a moment ago (nothing listens on it now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServerTestCase(unittest.TestCase):
    """Serves the class attribute `make_app` (a function) on a ServerThread for the whole class;
    `url` is its ws:// base plus `url_path`."""

    make_app = None
    url_path = ""

    @classmethod
    def setUpClass(cls):
        cls.server = ServerThread(cls.make_app)
        cls.url = "ws://127.0.0.1:%d%s" % (cls.server.port, cls.url_path)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
