"""Lua binding, leaks: create an application, serve requests on it (sync, coroutine, timer and
failing handlers, a WebSocket), free it — many times over. The Lua registry (where every Lua callback is
pinned) must come back to the same size and Lua's heap must stay flat, which shows that the
C API's free callbacks release every reference."""
import os
import socket
import unittest

from luatest import HERE, LuaServer, main

import http.client

def cycle(server, n):
    for i in range(n):
        status, _, body = server.request("POST", "/inner/new")
        assert status == 200, body
        port = int(body.split(b":")[1].rstrip(b"}"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path, want in ((f"/?n={i}", 200), ("/sleep", 200), ("/later", 200), ("/boom", 500),
                           ("/nothing", 404)):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == want, (path, resp.status)
        conn.close()
        # A WebSocket that opens, gets its greeting and is dropped (on_close with 1006 or,
        # when the app is freed first, no callback: its references must go either way).
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while not data.endswith(b"\x81\x02hi"):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.1 101"), data
        sock.close()
        status, _, _ = server.request("POST", f"/inner/free?port={port}")
        assert status == 200

class Leak(unittest.TestCase):
    def test_registry_and_heap_stay_flat(self):
        server = LuaServer(os.path.join(HERE, "server.lua"))
        try:
            cycle(server, 20)  # warm-up: registry free lists, string interning, caches
            before = server.get_json("/stats")
            cycle(server, 80)
            after = server.get_json("/stats")
            # One more app that is kept: the check must see references that stay alive.
            status, _, body = server.request("POST", "/inner/new")
            kept = server.get_json("/stats")
        finally:
            err = server.stop()
        self.assertEqual(after["registry"], before["registry"], (before, after))
        # 80 cycles serve 400 requests; a leak of even one small table per request or app
        # would add far more than this.
        self.assertLess(after["memory_kb"] - before["memory_kb"], 24, (before, after))
        self.assertGreater(kept["registry"], after["registry"])  # the measure does see refs
        self.assertEqual(err.count("inner boom"), 100)

if __name__ == "__main__":
    main()
