"""Lua binding, WebSocket handlers (open, on_message, on_close, write_message, close) driven by
python3-websockets over real sockets against tests/server.lua."""
import asyncio
import os
import sys
import time
import unittest

from luatest import HERE, LuaServer, main, websockets

class WebSocket(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LuaServer(os.path.join(HERE, "server.lua"))
        cls.url = f"ws://127.0.0.1:{cls.server.port}"

    @classmethod
    def tearDownClass(cls):
        cls.err = cls.server.stop()

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 20))

    def test_echo_text_binary_json_and_coroutine(self):
        async def go():
            async with websockets.connect(self.url + "/ws/echo?greet=hi") as ws:
                self.assertEqual(await ws.recv(), "hi /ws/echo")
                await ws.send("héllo")
                self.assertEqual(await ws.recv(), "héllo")
                await ws.send(b"\x00\x01\xff")
                self.assertEqual(await ws.recv(), b"\x00\x01\xff")
                await ws.send("json")
                self.assertEqual(await ws.recv(), '{"kind":"json","n":1}')
                await ws.send("slow")
                await ws.send("after")
                self.assertEqual({await ws.recv(), await ws.recv()}, {"slept", "after"})
        self.run_async(go())

    def test_server_close_and_client_close_reach_on_close(self):
        before = self.server.get_json("/stats")["ws_closed"]
        async def go():
            async with websockets.connect(self.url + "/ws/echo") as ws:
                await ws.recv()
                await ws.send("close")
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                self.assertEqual((ws.close_code, ws.close_reason), (4000, "asked to"))
            async with websockets.connect(self.url + "/ws/echo") as ws:
                await ws.recv()
                await ws.close(1000, "done")
        self.run_async(go())
        deadline = time.monotonic() + 10
        while self.server.get_json("/stats")["ws_closed"] < before + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = self.server.get_json("/stats")
        self.assertEqual(stats["ws_closed"], before + 2)
        self.assertEqual(stats["last_code"], 1000)

    def test_lua_error_closes_with_1011_and_server_survives(self):
        async def go():
            async with websockets.connect(self.url + "/ws/echo") as ws:
                await ws.recv()
                await ws.send("boom")
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code
        self.assertEqual(self.run_async(go()), 1011)
        self.assertEqual(self.server.request("GET", "/")[2], b"Hello, world")

    def test_too_big_message_closes_with_1009(self):
        async def go():
            async with websockets.connect(self.url + "/ws/echo") as ws:
                await ws.recv()
                await ws.send("x" * 5000)
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code
        self.assertEqual(self.run_async(go()), 1009)

    def test_broadcast_room(self):
        async def go():
            a = await websockets.connect(self.url + "/ws/room")
            b = await websockets.connect(self.url + "/ws/room")
            deadline = time.monotonic() + 10
            while self.server.get_json("/stats")["room"] < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await a.send("to all")
            self.assertEqual(await a.recv(), "to all")
            self.assertEqual(await b.recv(), "to all")
            await a.close()
            await b.close()
        self.run_async(go())
        deadline = time.monotonic() + 10
        while self.server.get_json("/stats")["room"] != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.server.get_json("/stats")["room"], 0)

    def test_plain_http_to_a_websocket_route_is_refused(self):
        self.assertEqual(self.server.request("GET", "/ws/echo")[0], 400)

    def test_an_async_prepare_holds_the_handshake(self):
        # A prepare that sleeps, then refuses: the client's handshake gets the 403 and open never
        # runs; without ?deny the upgrade goes on after the wait.
        before = self.server.get_json("/stats")["auth_opened"]
        async def go():
            with self.assertRaises(websockets.InvalidStatusCode) as refused:
                async with websockets.connect(self.url + "/ws/authws?deny=1"):
                    pass
            self.assertEqual(refused.exception.status_code, 403)
            async with websockets.connect(self.url + "/ws/authws") as ws:
                self.assertEqual(await ws.recv(), "opened")
                await ws.send("hi")
                self.assertEqual(await ws.recv(), "echo: hi")
        self.run_async(go())
        self.assertEqual(self.server.get_json("/stats")["auth_opened"], before + 1)

if __name__ == "__main__":
    main()
