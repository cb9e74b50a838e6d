"""Lua binding, leaks: create an application, serve requests on it (sync, coroutine, timer and
failing handlers, a WebSocket), free it — many times over. The Lua registry (where every Lua callback is
pinned) must come back to the same size and Lua's heap must stay flat, which shows that the
C API's free callbacks release every reference.

The loop's life cycle (tests/loop_close.lua, under valgrind): a script that attaches an
application, a raw server, timers, HTTP clients with a fetch in flight, WebSockets, a TCPServer
and TCP streams (open, with pending read / write / close callbacks) to the loop
and then ends normally must leave no lost block (lua_close frees the loop, after everything that
uses it); after eddy.close() the loop's functions raise a Lua error, without touching freed
memory."""
import os
import re
import shutil
import socket
import subprocess
import unittest

from luatest import HERE, LuaServer, lua_binary, main, named_results

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

VALGRIND = shutil.which("valgrind")
LOOP_SCRIPT = os.path.join(HERE, "loop_close.lua")


def run_loop_script(mode, valgrind):
    """Runs loop_close.lua (under valgrind when asked); returns its JSON lines by name and the
    valgrind report (stderr)."""
    cmd = [lua_binary(), LOOP_SCRIPT, "--mode", mode]
    if valgrind:
        # --keep-debuginfo: lua_close unloads eddy/core.so; without it the stacks of what it
        # allocated are unreadable.
        cmd = [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite,indirect",
               "--keep-debuginfo=yes", "--num-callers=30",
               "--suppressions=" + os.path.join(HERE, "valgrind.supp"), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-4000:])
    return named_results(proc.stdout.splitlines()), proc.stderr


def lost_bytes(report, kind):
    """Bytes valgrind reports as `kind` ("definitely", "indirectly") lost."""
    if "All heap blocks were freed" in report:
        return 0
    m = re.search(kind + r" lost: ([\d,]+) bytes", report)
    assert m, report[-4000:]
    return int(m.group(1).replace(",", ""))


class LoopLifeCycle(unittest.TestCase):
    def check_ran(self, lines):
        ran = lines["ran"]
        self.assertEqual((ran["hello"], ran["raw"], ran["ws"], ran["tcp"]),
                         ("hello", "raw", "hi", "written"), ran)
        # Tornado's rule: close() only once start() returned.
        self.assertIn("close() inside a loop callback", ran["close_in_callback"])
        self.assertEqual(lines["end"], {"ok": True})

    def check_clean(self, report):
        # Nothing lost — in particular not the loop (eddy_loop_new), nor what hangs off it
        # (the application's server, the clients' pools, the pinned Lua callbacks) — and no
        # invalid access while freeing in the right order.
        tail = report[-6000:]
        self.assertTrue("ERROR SUMMARY: 0 errors" in report, tail)
        self.assertEqual(lost_bytes(report, "definitely"), 0, tail)
        self.assertEqual(lost_bytes(report, "indirectly"), 0, tail)
        self.assertFalse("eddy_loop_new" in report, tail)

    @unittest.skipUnless(VALGRIND, "valgrind is not installed")
    def test_exit_frees_the_loop_last(self):
        lines, report = run_loop_script("exit", valgrind=True)
        self.check_clean(report)
        self.check_ran(lines)

    def test_close_then_use_raises(self):
        lines, report = run_loop_script("close", valgrind=VALGRIND is not None)
        self.check_ran(lines)
        a = lines["after_close"]
        closed = "eddy: the event loop is closed"
        for name in ("call_later", "start", "time", "cancel", "new_client", "fetch", "new_app"):
            self.assertIn(closed, a[name], (name, a))
        self.assertIn("periodic callback is closed", a["periodic_start"])
        self.assertFalse(a["periodic_running"])
        self.assertIn("application closed", a["listen"])
        self.assertIn("server closed", a["raw_listen"])
        self.assertIn("the TCP server is stopped", a["tcp_listen"])
        # TCP streams are freed by the loop: the Lua objects say closed, no callback ran.
        self.assertEqual((a["tcp_write"], a["tcp_closed"], a["tcp_callbacks_ran"]),
                         (a["eclosed"], True, False), a)
        # WebSocket client connections are freed by the loop: the Lua object says closed.
        self.assertEqual((a["ws_client_write"], a["ws_client_closed"]), (a["eclosed"], True))
        self.assertIn("the WebSocket is closed", a["ws_server_write"])
        # The fetch in flight was cancelled by close(): its callback ran (as client:close()).
        self.assertTrue(a["slow_callback_ran"])
        self.assertEqual(a["close_again"], "no error")
        # Every Lua function eddy held (routes, timers, the periodic, fetch and WebSocket
        # dispatchers, request state) was released.
        self.assertTrue(a["registry_released"], a)
        if VALGRIND:
            self.check_clean(report)


if __name__ == "__main__":
    main()
