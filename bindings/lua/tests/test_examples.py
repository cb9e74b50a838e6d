"""Lua binding, the examples: hello world, the JSON API (captures, status codes, an async
route), the long-polling chat and the TCP line echo, each run with lua5.4 and spoken to over
real sockets."""
import asyncio
import http.client
import json
import sys
import os
import socket
import threading
import time
import unittest

from luatest import LUA_DIR, LuaServer, main, websockets

EXAMPLES = os.path.join(LUA_DIR, "examples")

class Examples(unittest.TestCase):
    def test_hello(self):
        server = LuaServer(os.path.join(EXAMPLES, "hello.lua"))
        try:
            self.assertEqual(server.request("GET", "/")[:3:2], (200, b"Hello, world"))
        finally:
            server.stop()

    def test_tcp_echo(self):
        server = LuaServer(os.path.join(EXAMPLES, "tcp_echo.lua"))
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(b"one\ntwo\nquit\n")
                data = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            self.assertEqual(data, b"> one\n> two\nbye 127.0.0.1\n")
        finally:
            server.stop()

    def test_json_api(self):
        server = LuaServer(os.path.join(EXAMPLES, "json_api.lua"))
        try:
            self.assertEqual(json.loads(server.request("GET", "/notes")[2]), {"notes": []})
            status, resp, body = server.request("POST", "/notes", body=json.dumps({"text": "one"}))
            self.assertEqual((status, resp.getheader("Location")), (201, "/notes/1"))
            self.assertEqual(json.loads(body), {"id": 1, "text": "one"})
            server.request("POST", "/notes", body=json.dumps({"text": "two"}))
            self.assertEqual(json.loads(server.request("GET", "/notes/2")[2]), {"id": 2, "text": "two"})
            self.assertEqual(json.loads(server.request("GET", "/notes/2/slow")[2]), {"id": 2, "text": "two"})
            status, _, body = server.request("GET", "/notes/9")
            self.assertEqual((status, json.loads(body)), (404, {"error": 404}))
            self.assertEqual(server.request("GET", "/notes/9/slow")[0], 404)
            self.assertEqual(server.request("POST", "/notes", body="[1")[0], 400)
            self.assertEqual(server.request("POST", "/notes", body='{"text": 5}')[0], 400)
            self.assertEqual(server.request("DELETE", "/notes/1")[0], 204)
            self.assertEqual(json.loads(server.request("GET", "/notes")[2]),
                             {"notes": [{"id": 2, "text": "two"}]})
        finally:
            server.stop()

    def test_chat_long_polling(self):
        server = LuaServer(os.path.join(EXAMPLES, "chat.lua"))
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            self.assertIn(b"/a/message/updates", server.request("GET", "/")[2])
            # A client that leaves its poll must not disturb the others.
            gone = socket.create_connection(("127.0.0.1", server.port))
            gone.sendall(b"POST /a/message/updates HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\ncursor=0")
            time.sleep(0.1)
            gone.close()
            got = []
            def poll():
                got.append(json.loads(server.request("POST", "/a/message/updates", body="cursor=0",
                                                     headers=form)[2]))
            pollers = [threading.Thread(target=poll) for _ in range(3)]
            for t in pollers:
                t.start()
            time.sleep(0.2)  # let the polls park (a late one still answers at once)
            status, _, body = server.request("POST", "/a/message/new", body="body=hi%20there", headers=form)
            self.assertEqual((status, json.loads(body)), (200, {"id": 1, "body": "hi there"}))
            for t in pollers:
                t.join(10)
            self.assertEqual(got, [{"messages": [{"id": 1, "body": "hi there"}]}] * 3)
            # Polling with the latest cursor waits for the next message only.
            later = []
            t = threading.Thread(target=lambda: later.append(json.loads(server.request(
                "POST", "/a/message/updates", body="cursor=1", headers=form)[2])))
            t.start()
            time.sleep(0.1)
            server.request("POST", "/a/message/new", body="body=second", headers=form)
            t.join(10)
            self.assertEqual(later, [{"messages": [{"id": 2, "body": "second"}]}])
            # The WebSocket side: it hears HTTP posts, and what it sends reaches long polls.
            async def socket_side():
                async with websockets.connect(f"ws://127.0.0.1:{server.port}/chatsocket") as ws:
                    t = threading.Thread(target=lambda: server.request(
                        "POST", "/a/message/new", body="body=third", headers=form))
                    t.start()
                    heard = json.loads(await ws.recv())
                    t.join(10)
                    await ws.send("from socket")
                    echoed = json.loads(await ws.recv())
                    return heard, echoed
            heard, echoed = asyncio.run(asyncio.wait_for(socket_side(), 20))
            self.assertEqual(heard, {"id": 3, "body": "third"})
            self.assertEqual(echoed, {"id": 4, "body": "from socket"})
            status, _, body = server.request("POST", "/a/message/updates", body="cursor=3", headers=form)
            self.assertEqual(json.loads(body), {"messages": [{"id": 4, "body": "from socket"}]})
        finally:
            err = server.stop()
        self.assertNotIn("error", err)

if __name__ == "__main__":
    main()
