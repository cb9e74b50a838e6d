"""eddy.websocket.WebSocketHandler over real sockets, with python3-websockets as the client."""

import asyncio
import gc
import http.client
import logging
import os
import sys
import time
import unittest
import zlib

import support

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import ws_wire  # noqa: E402  (raw frames, shared with the C server's tests)

try:
    import websockets
except ImportError:  # a Python that does not see Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

import eddy.gen
import eddy.websocket
from eddy.web import RequestHandler

events = []  # notes made by handlers on the loop thread


class EchoSocket(eddy.websocket.WebSocketHandler):
    def open(self, room):
        self.room = room
        events.append(("open", room, self.request.path))

    def on_message(self, message):
        if message == "close-me":
            self.close(4001, "asked")
        elif message == "boom":
            raise ValueError("boom in on_message")
        elif isinstance(message, bytes):
            self.write_message(message, binary=True)
        else:
            self.write_message("%s:%s" % (self.room, message))

    def on_close(self):
        events.append(("close", self.close_code, self.close_reason))


class AsyncSocket(eddy.websocket.WebSocketHandler):
    def get_compression_options(self):
        return {}

    async def on_message(self, message):
        await eddy.gen.sleep(0.01)
        self.write_message({"echo": message})


class DeflateEcho(eddy.websocket.WebSocketHandler):
    """Echoes with permessage-deflate at zlib's default level (6) and memLevel (8)."""
    def get_compression_options(self):
        return {}

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class StoredEcho(DeflateEcho):
    """Tornado's compression_options keys: level 0 stores (deflate's stored blocks)."""
    def get_compression_options(self):
        return {"compression_level": 0, "mem_level": 1}


class Plain(RequestHandler):
    def get(self):
        self.write("plain")


def make_app():
    return eddy.web.Application([
        (r"/ws/(\w+)", EchoSocket),
        (r"/async", AsyncSocket),
        (r"/deflate", DeflateEcho),
        (r"/stored", StoredEcho),
        (r"/plain", Plain),
    ])


class WebSocketTest(support.AppServerTestCase):
    make_app = make_app

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 20))

    def test_echo_text_binary_and_captures(self):
        async def go():
            async with websockets.connect(self.url + "/ws/lobby") as ws:
                await ws.send("hi")
                text = await ws.recv()
                await ws.send(b"\x00\xff" * 50000)
                data = await ws.recv()
            return text, data
        text, data = self.run_async(go())
        self.assertEqual(text, "lobby:hi")
        self.assertEqual(data, b"\x00\xff" * 50000)
        self.assertIn(("open", "lobby", "/ws/lobby"), self.server.call(lambda: list(events)))

    def test_server_close_code_reaches_client_and_on_close(self):
        async def go():
            async with websockets.connect(self.url + "/ws/a") as ws:
                await ws.send("close-me")
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code, ws.close_reason
        self.assertEqual(self.run_async(go()), (4001, "asked"))

    def test_client_close_code_reaches_on_close(self):
        async def go():
            async with websockets.connect(self.url + "/ws/b") as ws:
                await ws.close(code=4002, reason="bye")
        self.run_async(go())
        deadline = time.monotonic() + 20  # a hang guard: a passing run returns at the event
        while time.monotonic() < deadline:
            if ("close", 4002, "bye") in self.server.call(lambda: list(events)):
                break
            self.run_async(asyncio.sleep(0.05))
        self.assertIn(("close", 4002, "bye"), self.server.call(lambda: list(events)))

    def test_exception_closes_with_1011_and_server_goes_on(self):
        async def go():
            async with websockets.connect(self.url + "/ws/c") as ws:
                await ws.send("boom")
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code
        with _quiet():
            self.assertEqual(self.run_async(go()), 1011)
        status, _, _, body = self.server.request("GET", "/plain")
        self.assertEqual((status, body), (200, b"plain"))

    def test_async_on_message_json_and_compression(self):
        async def go():
            async with websockets.connect(self.url + "/async", compression="deflate") as ws:
                await ws.send("x" * 1000)
                reply = await ws.recv()
                return reply, ws.extensions
        reply, extensions = self.run_async(go())
        self.assertEqual(reply, '{"echo": "%s"}' % ("x" * 1000))
        self.assertTrue(extensions, "permessage-deflate negotiated")

    def test_compression_level_and_mem_level(self):
        """get_compression_options()'s compression_level 0 makes the route's echo stored
        blocks (longer than the message); the default level compresses it to under a quarter.
        Both decode to the message."""
        text = b"".join(b"word%d " % (i % 50) for i in range(3000))
        sizes = {}
        for path in ("/stored", "/deflate"):
            fin, rsv, opcode, payload = ws_wire.compressed_echo(self.server.port, path, text)
            self.assertEqual((fin, rsv, opcode), (True, 4, 1),
                             "%s: a final compressed (RSV1) text frame" % path)
            self.assertEqual(zlib.decompressobj(wbits=-15).decompress(payload + b"\0\0\xff\xff"),
                             text, path)
            sizes[path] = len(payload)
        self.assertGreater(sizes["/stored"], len(text), sizes)
        self.assertGreater(len(text), 4 * sizes["/deflate"], sizes)

    def test_bad_compression_level_or_mem_level_is_refused(self):
        for options in ({"compression_level": 10}, {"compression_level": -2},
                        {"mem_level": 0}, {"mem_level": 10}, {"compression_level": "9"}):
            bad = type("Bad", (DeflateEcho,), {"get_compression_options": lambda self, o=options: o})
            with self.assertRaisesRegex(ValueError, "Bad.get_compression_options.*%s"
                                        % next(iter(options))):
                eddy.web.Application([(r"/bad", bad)])
        for options in ({"compression_level": -1}, {"compression_level": 9, "mem_level": 9}):
            good = type("Good", (DeflateEcho,), {"get_compression_options": lambda self, o=options: o})
            eddy.web.Application([(r"/good", good)])

    def test_handshake_refusals(self):
        status, _, _, _ = self.server.request("GET", "/ws/x")  # no Upgrade
        self.assertEqual(status, 400)
        status, _, _, _ = self.server.request(
            "GET", "/ws/x", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                     "Sec-WebSocket-Version": "13",
                                     "Origin": "http://evil.example"})
        self.assertEqual(status, 403)

    def test_no_leak_over_many_connections(self):
        async def one(i):
            async with websockets.connect(self.url + "/ws/n%d" % i) as ws:
                await ws.send("m")
                await ws.recv()

        async def many(n):
            for i in range(n):
                await one(i)

        def live():
            gc.collect()
            return sum(1 for o in gc.get_objects() if isinstance(o, EchoSocket))
        self.run_async(many(20))
        before = self.server.call(live)
        self.run_async(many(100))
        after = self.server.call(live)
        self.assertLessEqual(after, before + 2, "WebSocketHandler instances are released")


class _quiet:
    """Silences the expected traceback of test_exception_closes_with_1011."""
    def __enter__(self):
        self.level = logging.getLogger().level
        logging.disable(logging.CRITICAL)

    def __exit__(self, *exc):
        logging.disable(logging.NOTSET)


if __name__ == "__main__":
    unittest.main()
