"""Lua binding, asynchronous handlers: detach + finish from a timer, coroutine handlers that
sleep or wait on a Future (resumed by the loop), long polls whose client goes away, periodic
callbacks — over real sockets against tests/server.lua."""
import http.client
import os
import socket
import sys
import threading
import time
import unittest

from luatest import HERE, LuaServer, main

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
from tcp_state import wait_server_read  # noqa: E402

class Async(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LuaServer(os.path.join(HERE, "server.lua"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_finish_from_timer(self):
        status, _, body = self.server.request("GET", "/later")
        self.assertEqual((status, body), (200, b"later done"))

    def test_coroutine_sleeps_are_resumed_by_the_loop(self):
        status, _, body = self.server.request("GET", "/sleep")
        self.assertEqual((status, body), (200, b"abc"))

    def test_concurrent_coroutines_do_not_block_each_other(self):
        # Ten sleeping handlers at once, then a plain request still answers: the loop is free.
        results = []
        def fetch():
            results.append(self.server.request("GET", "/sleep")[2])
        threads = [threading.Thread(target=fetch) for _ in range(10)]
        for t in threads:
            t.start()
        self.assertEqual(self.server.request("GET", "/")[2], b"Hello, world")
        for t in threads:
            t.join(20)
        self.assertEqual(results, [b"abc"] * 10)

    def test_future_wakes_waiting_handlers(self):
        results = []
        def wait():
            results.append(self.server.request("GET", "/wait")[2])
        waiters = [threading.Thread(target=wait) for _ in range(3)]
        for t in waiters:
            t.start()
        # Notify until every waiter got a message (a waiter may connect after a notify).
        deadline = time.monotonic() + 15
        while len(results) < 3 and time.monotonic() < deadline:
            self.assertEqual(self.server.request("POST", "/notify", body="m1")[2], b"notified")
            time.sleep(0.05)
        for t in waiters:
            t.join(5)
        self.assertEqual(results, [b"got m1"] * 3)

    def test_client_leaving_a_long_poll(self):
        before = self.server.get_json("/stats")["closed"]
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        sock.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        # The request reaches the handler before the client goes away (read with its end, it
        # might not): the server has read it once its bytes left the socket's queue.
        wait_server_read(self.server.port, [sock.getsockname()[1]])
        sock.close()
        deadline = time.monotonic() + 10
        while self.server.get_json("/stats")["closed"] == before and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.server.get_json("/stats")["closed"], before + 1)
        self.assertEqual(self.server.request("GET", "/")[2], b"Hello, world")

    def test_client_leaving_a_sleeping_coroutine(self):
        # The coroutine wakes after its client left: its writes fail quietly, it is released.
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", self.server.port))
            sock.sendall(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.close()
        time.sleep(0.1)
        self.assertEqual(self.server.request("GET", "/sleep")[2], b"abc")
        self.assertEqual(self.server.request("GET", "/")[2], b"Hello, world")

    def test_client_leaving_then_an_error_send_error_or_redirect_still_finishes(self):
        # Each handler waits until its client left, then fails / send_error / redirect: eddy
        # answers EDDY_ECLOSED and leaves a detached handler to the application, so the binding
        # must finish it — else on_finish never runs and the handler and its state leak.
        before = self.server.get_json("/stats")
        for how in ("error", "send_error", "redirect"):
            sock = socket.create_connection(("127.0.0.1", self.server.port))
            sock.sendall(b"GET /gone/%s HTTP/1.1\r\nHost: x\r\n\r\n" % how.encode())
            wait_server_read(self.server.port, [sock.getsockname()[1]])
            sock.close()
        deadline = time.monotonic() + 10
        while (self.server.get_json("/stats")["gone_finished"] < before["gone_finished"] + 3
               and time.monotonic() < deadline):
            time.sleep(0.02)
        after = self.server.get_json("/stats")
        self.assertEqual(after["gone_finished"], before["gone_finished"] + 3)
        self.assertEqual(after["registry"], before["registry"])
        self.assertEqual(self.server.request("GET", "/")[2], b"Hello, world")

    def test_periodic_callback_ticks(self):
        first = self.server.get_json("/stats")["ticks"]
        deadline = time.monotonic() + 10
        while self.server.get_json("/stats")["ticks"] < first + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertGreaterEqual(self.server.get_json("/stats")["ticks"], first + 3)

    def test_pipelined_requests_keep_their_order_across_async_handlers(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        sock.sendall(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /later HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        bodies = [part.split(b"\r\n\r\n", 1)[1][:12] for part in data.split(b"HTTP/1.1 200 OK")[1:]]
        self.assertEqual(bodies, [b"abc", b"Hello, world", b"later done"])

    def test_a_prepare_that_yields_holds_the_method_until_it_returns(self):
        before = self.server.get_json("/stats")["prep_methods"]
        t0 = time.monotonic()
        status, _, body = self.server.request("GET", "/async_prepare")
        self.assertEqual((status, body), (200, b"method after prepare: true"))
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)
        # A detached prepare resumed from a timer.
        status, _, body = self.server.request("GET", "/async_prepare/detach")
        self.assertEqual((status, body), (200, b"method after prepare: /async_prepare/detach"))
        # Refusals after the wait: send_error, or an HTTPError raised: the method never runs.
        for query in ("deny=1", "fail=1"):
            status, _, _ = self.server.request("GET", "/async_prepare?" + query)
            self.assertEqual(status, 403, query)
        self.assertEqual(self.server.get_json("/stats")["prep_methods"], before + 2)

    def test_client_leaving_a_waiting_prepare(self):
        # The prepare wakes after its client left: the resume finds the client gone, eddy finishes
        # the handler (no method), and nothing is kept. The prepares wait until the test releases
        # them, once the server has seen every client leave: a timer would race a busy machine,
        # where the server may notice a close only after the wait ended (then the method runs,
        # rightly, for a client it does not yet know has gone).
        before = self.server.get_json("/stats")
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", self.server.port))
            sock.sendall(b"GET /async_prepare?hold=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_server_read(self.server.port, [sock.getsockname()[1]])
            sock.close()
        deadline = time.monotonic() + 30
        while (self.server.get_json("/stats")["prep_left"] < before["prep_left"] + 3
               and time.monotonic() < deadline):
            time.sleep(0.02)
        self.assertEqual(self.server.get_json("/stats")["prep_left"], before["prep_left"] + 3)
        self.assertEqual(self.server.request("GET", "/async_prepare/release")[2], b"released")
        # The resumed prepares end their handlers; wait (bounded) for them to go.
        deadline = time.monotonic() + 30
        while True:
            after = self.server.get_json("/stats")
            if after["registry"] == before["registry"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(self.server.request("GET", "/")[2], b"Hello, world")
        self.assertEqual(after["prep_methods"], before["prep_methods"])
        self.assertEqual(after["registry"], before["registry"])

if __name__ == "__main__":
    main()
