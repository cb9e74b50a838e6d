"""WebSocketHandler's per-connection questions and hooks (Tornado's check_origin,
select_subprotocol, on_ping, on_pong, close_code/close_reason, the websocket_* settings and
eddy's websocket_max_message_memory, the order of async open/on_message), over real sockets with python3-websockets as the client."""

import asyncio
import base64
import gc
import os
import socket
import struct
import sys
import time
import unittest

import support

try:
    import websockets
except ImportError:  # a Python that does not see Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

import eddy.web
from eddy.websocket import WebSocketClosedError, WebSocketHandler

calls = []  # what the handlers saw, appended on the server's loop thread


class Hooks(WebSocketHandler):
    def check_origin(self, origin):
        calls.append(("origin", origin))
        if origin == "http://boom.example":
            raise RuntimeError("check_origin failed")
        return origin == "http://good.example"

    def select_subprotocol(self, subprotocols):
        calls.append(("select", list(subprotocols)))
        if "bogus" in subprotocols:
            return "never-offered"
        return "chat" if "chat" in subprotocols else None

    def open(self):
        self.set_nodelay(True)
        self.write_message("open proto=%s" % self.selected_subprotocol)

    def on_message(self, message):
        if message == "ping-me":
            self.ping(b"srv")
        elif message == "close-then-write":
            self.close(4005, "then write")
            try:
                self.write_message("late")
            except WebSocketClosedError:
                calls.append("WebSocketClosedError")
        elif message == "close-no-code":
            self.close()
        else:
            self.write_message(message)

    def on_ping(self, data):
        self.write_message("on_ping:" + data.decode())

    def on_pong(self, data):
        self.write_message("on_pong:" + data.decode())

    def on_close(self):
        calls.append(("close", self.close_code, self.close_reason))


class KeepAlive(WebSocketHandler):
    def open(self):
        self.ponged = False

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))

    def on_pong(self, data):
        if not self.ponged:  # the first keep-alive pong the client answered
            self.ponged = True
            self.write_message("pong seen, interval=%s" % self.ping_interval)


class Ordered(WebSocketHandler):
    async def open(self):
        self.log = []
        await asyncio.sleep(0.05)
        self.log.append("open done")

    async def on_message(self, message):
        self.log.append("start " + message)
        await asyncio.sleep(0.01)
        self.log.append("end " + message)
        if message == "3":
            self.write_message(" | ".join(self.log))


class Lifecycle(WebSocketHandler):
    """Notes Tornado's per-connection hooks in the order they run."""

    def open(self):
        calls.append(("lifecycle", "open"))
        self.write_message("opened")

    def on_message(self, message):
        self.close(4001, "bye")

    def on_finish(self):  # Tornado: the handshake's finish(), before open()
        calls.append(("lifecycle", "on_finish"))

    def on_connection_close(self):
        calls.append(("lifecycle", "on_connection_close"))
        super().on_connection_close()  # Tornado's runs on_close

    def on_close(self):
        calls.append(("lifecycle", "on_close", self.close_code))


class Guarded(WebSocketHandler):
    """Refuses the handshake from prepare(), with a reason and its own error page."""

    def prepare(self):
        raise eddy.web.HTTPError(401, reason="Go away")

    def write_error(self, status_code, **kwargs):
        self.finish("guarded %d %s" % (status_code, self._reason))

    def on_finish(self):  # Tornado: the refusal's send_error ends in finish()
        calls.append(("guarded", "on_finish", self.get_status()))


class AsyncGuarded(WebSocketHandler):
    """A coroutine prepare (an async authorisation check): Tornado awaits it before the
    upgrade. ?deny refuses with HTTPError(403) after the wait."""

    async def prepare(self):
        calls.append(("async", "prepare start"))
        await asyncio.sleep(0.1)
        if self.get_argument("deny", None) is not None:
            calls.append(("async", "prepare refuses"))
            raise eddy.web.HTTPError(403)
        calls.append(("async", "prepare done"))

    def open(self):
        calls.append(("async", "open"))
        self.write_message("opened")

    def on_finish(self):
        calls.append(("async", "on_finish", self.get_status()))


class AsyncLeft(WebSocketHandler):
    """A coroutine prepare that waits long enough for its client to leave."""

    async def prepare(self):
        calls.append(("left", "prepare start"))
        await asyncio.sleep(0.5)
        calls.append(("left", "prepare done"))

    def open(self):
        calls.append(("left", "open"))

    def on_connection_close(self):
        calls.append(("left", "on_connection_close"))
        super().on_connection_close()  # Tornado's runs on_close

    def on_close(self):
        calls.append(("left", "on_close", self.close_code))


def make_app():
    return eddy.web.Application([(r"/hooks", Hooks), (r"/ordered", Ordered),
                                 (r"/guarded", Guarded), (r"/lifecycle", Lifecycle),
                                 (r"/asyncguard", AsyncGuarded), (r"/asyncleft", AsyncLeft)])


class Budget(WebSocketHandler):
    """Echoes; its route's messages being received may hold 100,000 bytes together."""
    closes = []  # close codes, appended on the server's loop thread

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self):
        Budget.closes.append(self.close_code)


def make_budget_app():
    # Each message may be 1 MiB: only websocket_max_message_memory refuses 150,000 bytes.
    return eddy.web.Application([(r"/budget", Budget)], websocket_max_message_size=1 << 20,
                                websocket_max_message_memory=100000)


def make_settings_app():
    return eddy.web.Application([(r"/keepalive", KeepAlive)], websocket_ping_interval=0.1,
                                websocket_ping_timeout=0.5, websocket_max_message_size=1000)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


class HooksTest(support.AppServerTestCase):
    make_app = make_app

    def seen(self):
        return self.server.call(lambda: list(calls))

    def wait_seen(self, item):
        # 20 s: only a server that never does it waits this out; a passing run returns at once.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if item in self.seen():
                return True
            run(asyncio.sleep(0.02))
        return False

    def test_check_origin_accepts_and_refuses_with_403(self):
        async def go(origin):
            async with websockets.connect(self.url + "/hooks", origin=origin) as ws:
                return await ws.recv()
        self.assertEqual(run(go("http://good.example")), "open proto=None")
        self.assertIn(("origin", "http://good.example"), self.seen())
        with self.assertRaises(websockets.InvalidStatusCode) as cm:
            run(go("http://evil.example"))
        self.assertEqual(cm.exception.status_code, 403)
        self.assertIn(("origin", "http://evil.example"), self.seen())
        # Without an Origin header check_origin is not asked (Tornado's rule) and it connects.
        before = [c for c in self.seen() if c[0] == "origin"]
        self.assertEqual(run(go(None)), "open proto=None")
        self.assertEqual([c for c in self.seen() if c[0] == "origin"], before)

    def test_error_before_the_upgrade_goes_through_write_error(self):
        # As for any RequestHandler in Tornado: HTTPError's reason is the status line's, and an
        # overridden write_error() writes the page.
        key = base64.b64encode(os.urandom(16)).decode()
        status, reason, _, body = self.server.request("GET", "/guarded", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13"})
        self.assertEqual((status, reason, body), (401, "Go away", b"guarded 401 Go away"))
        self.assertTrue(self.wait_seen(("guarded", "on_finish", 401)))

    def test_async_prepare_is_awaited_before_the_upgrade(self):
        # Tornado 6.2: an async prepare() is awaited before get(): an HTTPError it raises
        # after an await refuses the handshake, and open() runs only once it returned. eddy
        # used to upgrade at once (open first, the 403 lost).
        def mine():
            return [c[1:] for c in self.seen() if c[0] == "async"]

        async def go(query):
            async with websockets.connect(self.url + "/asyncguard" + query) as ws:
                return await ws.recv()
        with self.assertRaises(websockets.InvalidStatusCode) as cm:
            run(go("?deny=1"))
        self.assertEqual(cm.exception.status_code, 403)
        self.assertTrue(self.wait_seen(("async", "on_finish", 403)))
        self.assertEqual(mine(), [("prepare start",), ("prepare refuses",), ("on_finish", 403)])
        self.server.call(calls.clear)
        self.assertEqual(run(go("")), "opened")
        self.assertEqual([c[0] for c in mine()],
                         ["prepare start", "prepare done", "on_finish", "open"])

    def test_client_leaving_during_async_prepare_is_told_at_once(self):
        # Tornado 6.2: a client that leaves while a coroutine prepare waits is noticed at once:
        # on_connection_close, whose WebSocketHandler version runs on_close (no close code);
        # open() never runs. eddy told the handler nothing at all (the resume after prepare
        # found the client gone and finished the request quietly).
        def mine():
            return [c[1:] for c in self.seen() if c[0] == "left"]

        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(b"GET /asyncleft HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        self.assertTrue(self.wait_seen(("left", "prepare start")))
        s.close()
        self.assertTrue(self.wait_seen(("left", "on_close", None)))
        self.assertEqual(mine(), [("prepare start",), ("on_connection_close",),
                                  ("on_close", None)])
        self.assertTrue(self.wait_seen(("left", "prepare done")))
        run(asyncio.sleep(0.05))  # after the resume: still no open, no second on_close
        self.assertEqual(mine(), [("prepare start",), ("on_connection_close",),
                                  ("on_close", None), ("prepare done",)])

    def test_check_origin_exception_is_500(self):
        async def go():
            async with websockets.connect(self.url + "/hooks", origin="http://boom.example"):
                pass
        with self.assertRaises(websockets.InvalidStatusCode) as cm, self.assertLogs(
                "eddy.application", "ERROR"):
            run(go())
        self.assertEqual(cm.exception.status_code, 500)

    def test_select_subprotocol(self):
        async def go(protocols):
            async with websockets.connect(self.url + "/hooks", subprotocols=protocols) as ws:
                return ws.subprotocol, await ws.recv()
        self.assertEqual(run(go(["x", "chat", "y"])), ("chat", "open proto=chat"))
        self.assertIn(("select", ["x", "chat", "y"]), self.seen())
        self.assertEqual(run(go(["x"])), (None, "open proto=None"))
        # Called exactly once even when nothing was offered, with an empty list.
        n = self.seen().count(("select", []))
        self.assertEqual(run(go(None)), (None, "open proto=None"))
        self.assertEqual(self.seen().count(("select", [])), n + 1)

    def test_select_subprotocol_returning_unoffered_value_is_500(self):
        async def go():
            async with websockets.connect(self.url + "/hooks", subprotocols=["bogus"]):
                pass
        with self.assertRaises(websockets.InvalidStatusCode) as cm, self.assertLogs(
                "eddy.application", "ERROR"):
            run(go())
        self.assertEqual(cm.exception.status_code, 500)

    def test_on_ping_and_on_pong(self):
        async def go():
            async with websockets.connect(self.url + "/hooks") as ws:
                await ws.recv()  # open
                pong = await ws.ping(b"cli")
                await pong  # eddy's automatic pong came back...
                got = [await ws.recv()]  # ...and then on_ping ran with the payload
                await ws.send("ping-me")  # the handler pings; the client's pong → on_pong
                got.append(await ws.recv())
                return got
        self.assertEqual(run(go()), ["on_ping:cli", "on_pong:srv"])

    def test_close_codes_and_write_after_close(self):
        async def go(message):
            async with websockets.connect(self.url + "/hooks") as ws:
                await ws.recv()
                await ws.send(message)
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code, ws.close_reason
        self.assertEqual(run(go("close-then-write")), (4005, "then write"))
        self.assertTrue(self.wait_seen("WebSocketClosedError"))
        # close_code / close_reason are the peer's close frame (python3-websockets echoes both)
        self.assertTrue(self.wait_seen(("close", 4005, "then write")))
        # close() without arguments sends an empty close frame: the peer sees 1005 (no status)
        self.assertEqual(run(go("close-no-code")), (1005, ""))
        self.assertTrue(self.wait_seen(("close", None, None)))

        async def client_closes():
            async with websockets.connect(self.url + "/hooks") as ws:
                await ws.recv()
                await ws.close(4010, "client says")
        run(client_closes())
        self.assertTrue(self.wait_seen(("close", 4010, "client says")))

    def test_on_finish_and_on_connection_close_in_tornado_order(self):
        # Tornado 6.2, per connection: on_finish once the 101 went out, then open; at the close
        # on_connection_close, whose WebSocketHandler version runs on_close.
        async def go():
            async with websockets.connect(self.url + "/lifecycle") as ws:
                await ws.recv()
                await ws.send("close please")
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
        run(go())
        self.assertTrue(self.wait_seen(("lifecycle", "on_close", 4001)))
        run(asyncio.sleep(0.05))  # the session's end is past too: no second on_finish
        self.assertEqual([c[1:] for c in self.seen() if c[0] == "lifecycle"],
                         [("on_finish",), ("open",), ("on_connection_close",),
                          ("on_close", 4001)])

    def test_compression_off_when_get_compression_options_is_none(self):
        async def go():
            async with websockets.connect(self.url + "/hooks", compression="deflate") as ws:
                await ws.recv()
                return ws.response_headers.get("Sec-WebSocket-Extensions")
        self.assertIsNone(run(go()))

    def test_async_open_and_on_message_run_in_order(self):
        async def go():
            async with websockets.connect(self.url + "/ordered") as ws:
                for m in ("1", "2", "3"):  # sent at once, while open() still sleeps
                    await ws.send(m)
                return await ws.recv()
        self.assertEqual(run(go()), "open done | start 1 | end 1 | start 2 | end 2 | "
                                    "start 3 | end 3")

    def test_no_handler_left_after_accepted_and_refused_handshakes(self):
        async def go(n):
            for i in range(n):
                for origin in ("http://good.example", "http://evil.example", "http://boom.example"):
                    try:
                        async with websockets.connect(self.url + "/hooks", origin=origin,
                                                      subprotocols=["chat", "bogus"][i % 2:]) as ws:
                            await ws.recv()
                            await ws.send("ping-me")
                            await ws.recv()
                    except websockets.InvalidStatusCode:
                        pass

        def live():
            gc.collect()
            return sum(1 for o in gc.get_objects() if isinstance(o, Hooks))
        with self.assertLogs("eddy.application", "ERROR"):  # the 500s log their tracebacks
            run(go(20))
        # The server may still be finishing the last close handshakes (20 s: a hang guard).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.server.call(live) == 0:
                break
            run(asyncio.sleep(0.02))
        self.assertEqual(self.server.call(live), 0, "every Hooks instance was released")


class SettingsTest(support.AppServerTestCase):
    """websocket_ping_interval, websocket_ping_timeout, websocket_max_message_size."""

    make_app = make_settings_app
    url_path = "/keepalive"

    def test_ping_interval_pings_and_on_pong_hears_the_answer(self):
        async def go():
            async with websockets.connect(self.url, ping_interval=None) as ws:
                return await ws.recv()
        self.assertEqual(run(go()), "pong seen, interval=0.1")

    def test_ping_timeout_drops_a_silent_peer(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        key = base64.b64encode(os.urandom(16))
        s.sendall(b"GET /keepalive HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                  b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        try:
            while True:  # the 101, then pings we never answer, then EOF
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 101"))
        self.assertIn(b"\x89\x00", data, "a ping was sent before the connection was dropped")

    def test_max_message_size_closes_with_1009(self):
        async def go():
            async with websockets.connect(self.url) as ws:
                await ws.send(b"y" * 1000)
                echoed = await ws.recv()
                await ws.send(b"y" * 1001)
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return len(echoed), ws.close_code
        self.assertEqual(run(go()), (1000, 1009))


class MessageMemoryTest(support.AppServerTestCase):
    """websocket_max_message_memory (an eddy extension): the bytes of messages being received
    over all of a route's connections."""

    make_app = make_budget_app
    url_path = "/budget"

    def test_a_message_over_the_bound_closes_with_1013(self):
        async def over():
            async with websockets.connect(self.url, compression=None) as ws:
                await ws.send(b"o" * 150000)
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code
        self.assertEqual(run(over()), 1013)
        # Its bytes are given back when that connection is gone: wait (bounded) for on_close.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.server.call(lambda: list(Budget.closes)):
            run(asyncio.sleep(0.02))
        self.assertEqual(self.server.call(lambda: list(Budget.closes)), [1013])

        async def fits():
            async with websockets.connect(self.url, compression=None) as ws:
                await ws.send(b"f" * 50000)
                return await ws.recv()
        self.assertEqual(run(fits()), b"f" * 50000)

    def test_negative_is_refused(self):
        with self.assertRaisesRegex(ValueError, "websocket_max_message_memory: -1 is negative"):
            eddy.web.Application([(r"/budget", Budget)], websocket_max_message_memory=-1)


if __name__ == "__main__":
    unittest.main()
