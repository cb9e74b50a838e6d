"""Lua binding, WebSocket handshake hooks and options on the server side: check_origin (default
same-origin rule, a Lua rule extending it, errors → 403 / an HTTPError's status),
select_subprotocol (errors → 500), on_pong (errors → 1011), keep-alive pings, permessage-deflate
max message size from routes and application settings, and max_message_memory. python3-websockets is the client,
over real sockets, against tests/ws_server.lua."""
import asyncio
import os
import sys
import time
import unittest
import zlib

from luatest import HERE, LuaServer, main, websockets

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import ws_wire  # noqa: E402  (raw frames, shared with the C server's tests)

class Handshake(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LuaServer(os.path.join(HERE, "ws_server.lua"))
        cls.url = f"ws://127.0.0.1:{cls.server.port}"

    @classmethod
    def tearDownClass(cls):
        err = cls.server.stop()
        # Every hook failure left its log line with a traceback (and nothing else crashed).
        for needle in ("error in check_origin (refused with 403)", "origin boom",
                       "subprotocol boom", "pong boom", "select_subprotocol returned \"not-offered\""):
            assert needle in err, (needle, err)

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 20))

    async def status_of(self, path, **kwargs):
        """The HTTP status a refused handshake got (None when it was accepted)."""
        try:
            async with websockets.connect(self.url + path, **kwargs) as ws:
                await ws.recv()
                return None
        except websockets.InvalidStatusCode as e:
            return e.status_code

    async def greeting(self, path, **kwargs):
        async with websockets.connect(self.url + path, **kwargs) as ws:
            return await ws.recv(), ws

    def test_default_origin_rule(self):
        host = f"127.0.0.1:{self.server.port}"
        async def go():
            return [await self.status_of("/ws/plain"),  # no Origin: accepted
                    await self.status_of("/ws/plain", origin=f"http://{host}"),
                    await self.status_of("/ws/plain", origin=f"HTTP://{host.upper()}"),
                    await self.status_of("/ws/plain", origin="http://evil.example"),
                    await self.status_of("/ws/plain", origin="http://127.0.0.1:1")]
        self.assertEqual(self.run_async(go()), [None, None, None, 403, 403])

    def test_lua_check_origin_extends_the_default(self):
        host = f"127.0.0.1:{self.server.port}"
        async def go():
            return [await self.status_of("/ws/origin", origin="http://trusted.example"),
                    await self.status_of("/ws/origin", origin=f"http://{host}"),
                    await self.status_of("/ws/origin", origin="http://evil.example"),
                    await self.status_of("/ws/origin")]  # no Origin: not asked, accepted
        self.assertEqual(self.run_async(go()), [None, None, 403, None])

    def test_check_origin_errors(self):
        async def go():
            return [await self.status_of("/ws/origin_error", origin="http://x.example"),
                    await self.status_of("/ws/origin_httperror", origin="http://x.example")]
        self.assertEqual(self.run_async(go()), [403, 401])
        self.assertEqual(self.server.request("GET", "/stats")[0], 200)  # the server lives on

    def test_subprotocol_selection(self):
        async def go():
            out = []
            for path, offered in (("/ws/sub", ["a", "chat", "b"]), ("/ws/sub", ["superchat"]),
                                  ("/ws/sub", ["x", "y"]), ("/ws/sub", None),
                                  ("/ws/plain", ["chat"]), ("/ws/sub_bogus", ["chat"])):
                msg, ws = await self.greeting(path, subprotocols=offered)
                out.append((msg.split("=", 1)[1], ws.subprotocol))
            return out
        self.assertEqual(self.run_async(go()), [("chat", "chat"), ("superchat", "superchat"),
                                                ("", None), ("", None), ("", None), ("", None)])

    def test_select_subprotocol_error_is_500(self):
        async def go():
            return await self.status_of("/ws/sub_error", subprotocols=["chat"])
        self.assertEqual(self.run_async(go()), 500)

    def test_on_pong_and_its_error(self):
        async def go():
            async with websockets.connect(self.url + "/ws/pong") as ws:
                await ws.recv()
                await ws.send("ping:abc")  # the server pings, the client answers, on_pong runs
                got = await ws.recv()
                await ws.send("ping:fail")
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return got, ws.close_code
        self.assertEqual(self.run_async(go()), ("pong:abc", 1011))

    def test_keepalive_ping_interval_from_route_options(self):
        async def go():
            async with websockets.connect(self.url + "/ws/keepalive") as ws:
                await ws.recv()
                return await ws.recv()  # sent from on_pong after the server's own ping
        self.assertEqual(self.run_async(go()), "keepalive pong")

    def test_compression_negotiated(self):
        async def go():
            out = {}
            for path in ("/ws/plain", "/ws/deflate", "/ws/nodeflate"):
                async with websockets.connect(self.url + path) as ws:
                    await ws.recv()
                    ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                    await ws.send("z" * 1500)  # compressed both ways when negotiated
                    self.assertEqual(await ws.recv(), "z" * 1500)
                    out[path] = ext
            return out
        ext = self.run_async(go())
        self.assertIn("permessage-deflate", ext["/ws/plain"])  # application setting
        self.assertIn("permessage-deflate", ext["/ws/deflate"])
        self.assertIn("server_no_context_takeover", ext["/ws/deflate"])
        self.assertNotIn("server_no_context_takeover", ext["/ws/plain"])
        self.assertEqual(ext["/ws/nodeflate"], "")  # the route turns it off

    def test_compression_level_and_mem_level(self):
        """compression = { compression_level = 0, mem_level = 1 } (/ws/stored) echoes in stored
        blocks, longer than the message; the default level (/ws/deflate_big) compresses it to
        under a quarter; both inflate to the message. Out-of-range values (or non-integers)
        are refused when the route is added."""
        text = b"".join(b"word%d " % (i % 50) for i in range(3000))
        sizes = {}
        for path in ("/ws/stored", "/ws/deflate_big"):
            fin, rsv, opcode, payload = ws_wire.compressed_echo(self.server.port, path, text)
            self.assertEqual((fin, rsv, opcode), (True, 4, 1),
                             f"{path}: a final compressed (RSV1) text frame")
            self.assertEqual(zlib.decompressobj(wbits=-15).decompress(payload + b"\0\0\xff\xff"),
                             text, path)
            sizes[path] = len(payload)
        self.assertGreater(sizes["/ws/stored"], len(text), sizes)
        self.assertGreater(len(text), 4 * sizes["/ws/deflate_big"], sizes)
        bad = self.server.get_json("/stats")["bad_levels"]
        self.assertEqual(len(bad), 6, bad)
        for i, err in enumerate(bad, 1):
            self.assertIn(f"/ws/badlevel{i}: websocket: invalid argument", err.lower())

    def test_options_that_would_be_ignored_are_refused(self):
        bad = self.server.get_json("/stats")["bad_options"]
        self.assertEqual(len(bad), 6, bad)
        self.assertIn("/ws/badopt1: websocket: unsupported option max_mesage_size", bad[0])
        self.assertIn("/ws/badopt2: websocket: option ping_interval must be a number, not string", bad[1])
        for i in (3, 4, 5):
            self.assertIn(f"/ws/badopt{i}: websocket: invalid argument", bad[i - 1])
        self.assertIn("/ws/badsetting: websocket: invalid argument", bad[5])

    def test_max_message_size_from_app_settings_and_route(self):
        async def size_result(path, n):
            async with websockets.connect(self.url + path, compression=None) as ws:
                await ws.recv()
                await ws.send("x" * n)
                try:
                    return len(await ws.recv())
                except websockets.ConnectionClosed:
                    return ws.close_code
        async def go():
            return [await size_result("/ws/plain", 1900), await size_result("/ws/plain", 3000),
                    await size_result("/ws/big", 3000), await size_result("/ws/big", 6000)]
        self.assertEqual(self.run_async(go()), [1900, 1009, 3000, 1009])

    def test_max_message_memory_closes_with_1013(self):
        """/ws/budget: 100,000 bytes of messages being received over the route's connections;
        a 150,000-byte message (under its 1 MiB max_message_size) closes with 1013, Try Again
        Later; once that connection is gone a 50,000-byte one is echoed."""
        closes = self.server.get_json("/stats")["budget_closes"]
        async def over():
            async with websockets.connect(self.url + "/ws/budget", compression=None) as ws:
                await ws.recv()
                await ws.send(b"o" * 150000)
                try:
                    return await ws.recv()
                except websockets.ConnectionClosed:
                    return ws.close_code
        self.assertEqual(self.run_async(over()), 1013)
        # Its bytes are given back when the connection is gone: wait (bounded) for its on_close.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats = self.server.get_json("/stats")
            if stats["budget_closes"] > closes:
                break
            time.sleep(0.01)
        self.assertEqual((stats["budget_closes"], stats.get("budget_last_code")), (closes + 1, 1013))
        async def fits():
            async with websockets.connect(self.url + "/ws/budget", compression=None) as ws:
                await ws.recv()
                await ws.send(b"f" * 50000)
                return await ws.recv()
        self.assertEqual(self.run_async(fits()), b"f" * 50000)
        self.assertIn("/ws/bad: websocket: invalid argument",
                      self.server.get_json("/stats")["negative_memory"].lower())

if __name__ == "__main__":
    main()
