"""SystemExit / KeyboardInterrupt raised by Python code that one of eddy's C trampolines called
(a request handler's method and hooks, a WebSocket handler's open / on_message, a WebSocket
client's message callback, an HTTP client's streaming / header callback) reaches the loop:
IOLoop.run_sync() / start() raise it, as asyncio's loop raises it from a callback. Before, the
trampoline reported it as "unraisable" and the loop went on. Over real sockets on 127.0.0.1."""

import asyncio
import socket
import sys
import unittest

import support  # noqa: F401  (quiet access log)

import eddy.httpclient
import eddy.ioloop
import eddy.web
import eddy.websocket

WAIT = 10  # only a bound: without the fix the loop would go on until then and the test fail


class Interrupts(unittest.TestCase):
    def setUp(self):
        self.loop = eddy.ioloop.IOLoop()
        self.unraisable = []
        self.hook, sys.unraisablehook = sys.unraisablehook, self.unraisable.append

    def tearDown(self):
        sys.unraisablehook = self.hook
        self.loop.close()
        asyncio.set_event_loop(None)
        self.assertEqual(self.unraisable, [])  # nothing swallowed as unraisable

    def serve(self, handlers):
        app = eddy.web.Application(handlers)
        server = app.listen(0, "127.0.0.1")
        self.addCleanup(server.stop)
        return server.port

    def assert_stops_loop(self, exc_class, coro_fn=None):
        """run_sync(coro_fn or a long sleep) ends with exc_class("stop now")."""
        with self.assertRaisesRegex(exc_class, "stop now"):
            self.loop.run_sync(coro_fn or (lambda: asyncio.sleep(WAIT)))

    def raw_get(self, port, path="/"):
        """Sends a GET on a plain socket (the kernel queues it until the loop runs)."""
        client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.addCleanup(client.close)
        client.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        return client

    # ---- request handlers (the route trampoline) -------------------------------------------
    def test_handler_method(self):
        for exc_class in (KeyboardInterrupt, SystemExit):

            class Raise(eddy.web.RequestHandler):
                def get(self):
                    raise exc_class("stop now")

            port = self.serve([("/", Raise)])
            self.raw_get(port)
            self.assert_stops_loop(exc_class)

    def test_handler_hook_run_from_python(self):
        """on_finish runs from the C hook while a coroutine handler's finish() (Python code on
        asyncio, outside the pump) is in eddy: the interrupt is parked and raised by the pump."""

        class Finish(eddy.web.RequestHandler):
            async def get(self):
                await asyncio.sleep(0)
                self.finish("done")

            def on_finish(self):
                raise KeyboardInterrupt("stop now")

        port = self.serve([("/", Finish)])
        self.raw_get(port)
        self.assert_stops_loop(KeyboardInterrupt)

    # ---- WebSocket handlers -----------------------------------------------------------------
    def test_websocket_handler_on_message(self):
        class Raise(eddy.websocket.WebSocketHandler):
            def on_message(self, message):
                raise KeyboardInterrupt("stop now")

        port = self.serve([("/ws", Raise)])

        async def talk():
            conn = await eddy.websocket.websocket_connect("ws://127.0.0.1:%d/ws" % port)
            self.addCleanup(conn.close)
            await conn.write_message("hi")
            await asyncio.sleep(WAIT)

        self.assert_stops_loop(KeyboardInterrupt, talk)

    def test_websocket_handler_open(self):
        class Raise(eddy.websocket.WebSocketHandler):
            def open(self):
                raise SystemExit("stop now")

        port = self.serve([("/ws", Raise)])

        async def talk():
            conn = await eddy.websocket.websocket_connect("ws://127.0.0.1:%d/ws" % port)
            self.addCleanup(conn.close)
            await asyncio.sleep(WAIT)

        self.assert_stops_loop(SystemExit, talk)

    # ---- WebSocket client -------------------------------------------------------------------
    def test_websocket_client_message_callback(self):
        class Greet(eddy.websocket.WebSocketHandler):
            def open(self):
                self.write_message("hello")

        port = self.serve([("/ws", Greet)])

        def on_message(message):
            if message is not None:
                raise KeyboardInterrupt("stop now")

        async def talk():
            conn = await eddy.websocket.websocket_connect("ws://127.0.0.1:%d/ws" % port,
                                                          on_message_callback=on_message)
            self.addCleanup(conn.close)
            await asyncio.sleep(WAIT)

        self.assert_stops_loop(KeyboardInterrupt, talk)

    # ---- HTTP client --------------------------------------------------------------------------
    def test_http_client_streaming_and_header_callbacks(self):
        class Body(eddy.web.RequestHandler):
            def get(self):
                self.write("some body")

        port = self.serve([("/", Body)])
        url = "http://127.0.0.1:%d/" % port
        client = eddy.httpclient.AsyncHTTPClient()

        def interrupt(_):
            raise KeyboardInterrupt("stop now")

        for option in ("streaming_callback", "header_callback"):
            async def fetch():
                await client.fetch(url, **{option: interrupt})
                await asyncio.sleep(WAIT)

            self.assert_stops_loop(KeyboardInterrupt, fetch)


if __name__ == "__main__":
    unittest.main()
