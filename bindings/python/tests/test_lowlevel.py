"""The SWIG module: callables as callbacks, references released through eddy's free callbacks."""

import gc
import os
import socket
import sys
import threading
import unittest

from eddy import _lowlevel as ll


class LowLevelLoopTest(unittest.TestCase):
    def setUp(self):
        self.loop = ll.eddy_loop_new()
        self.assertIsNotNone(self.loop)

    def tearDown(self):
        ll.eddy_loop_free(self.loop)

    def run_until(self, predicate, rounds=200):
        for _ in range(rounds):
            if predicate():
                return
            ll.eddy_loop_run_once(self.loop, 10)
        self.fail("condition not reached")

    def test_call_soon_runs_once_and_releases_the_callable(self):
        calls = []
        fn = lambda: calls.append(1)  # noqa: E731
        base = sys.getrefcount(fn)
        self.assertNotEqual(ll.eddy_loop_call_soon(self.loop, fn), 0)
        self.assertEqual(sys.getrefcount(fn), base + 1)
        self.run_until(lambda: calls)
        self.assertEqual(calls, [1])
        self.assertEqual(sys.getrefcount(fn), base)

    def test_cancel_releases_at_once(self):
        fn = lambda: None  # noqa: E731
        base = sys.getrefcount(fn)
        call_id = ll.eddy_loop_call_later(self.loop, 60.0, fn)
        self.assertEqual(sys.getrefcount(fn), base + 1)
        self.assertEqual(ll.eddy_loop_cancel(self.loop, call_id), 0)
        self.assertEqual(sys.getrefcount(fn), base)
        self.assertEqual(ll.eddy_loop_cancel(self.loop, call_id), ll.EDDY_ENOENT)

    def test_loop_free_releases_pending_callables(self):
        loop = ll.eddy_loop_new()
        fn = lambda: None  # noqa: E731
        base = sys.getrefcount(fn)
        ll.eddy_loop_call_at(loop, ll.eddy_loop_time(loop) + 60, fn)
        ll.eddy_loop_call_soon(loop, fn)
        self.assertEqual(sys.getrefcount(fn), base + 2)
        ll.eddy_loop_free(loop)
        self.assertEqual(sys.getrefcount(fn), base)

    def test_failed_registration_keeps_no_reference(self):
        fn = lambda: None  # noqa: E731
        base = sys.getrefcount(fn)
        self.assertIsNone(ll.eddy_periodic_new(self.loop, -1.0, fn))
        self.assertEqual(sys.getrefcount(fn), base)
        with self.assertRaises(TypeError):
            ll.eddy_loop_call_soon(self.loop, "not callable")

    def test_call_later_order_and_exceptions_do_not_stop_the_loop(self):
        order = []

        def boom():
            order.append("boom")
            raise ValueError("expected in this test")

        ll.eddy_loop_call_later(self.loop, 0.02, lambda: order.append("late"))
        ll.eddy_loop_call_later(self.loop, 0.0, boom)
        stderr = sys.stderr
        sys.stderr = open(os.devnull, "w")  # PyErr_WriteUnraisable's report
        try:
            self.run_until(lambda: "late" in order)
        finally:
            sys.stderr.close()
            sys.stderr = stderr
        self.assertEqual(order, ["boom", "late"])

    def test_call_soon_threadsafe_from_another_thread(self):
        got = []
        fn = lambda: got.append(threading.get_ident())  # noqa: E731
        t = threading.Thread(target=lambda: ll.eddy_py_call_soon_threadsafe(self.loop, fn))
        t.start()
        t.join()
        self.run_until(lambda: got)
        self.assertEqual(got, [threading.get_ident()])

    def test_periodic_ticks_until_freed(self):
        ticks = []
        fn = lambda: ticks.append(1)  # noqa: E731
        base = sys.getrefcount(fn)
        p = ll.eddy_periodic_new(self.loop, 0.005, fn)
        self.assertEqual(ll.eddy_periodic_start(p), 0)
        self.assertEqual(ll.eddy_periodic_is_running(p), 1)
        self.run_until(lambda: len(ticks) >= 3)
        ll.eddy_periodic_free(p)
        self.assertEqual(sys.getrefcount(fn), base)

    def test_watch_sees_readable_socket(self):
        a, b = socket.socketpair()
        seen = []
        w = ll.eddy_watch_new(self.loop, a.fileno(), ll.EDDY_READABLE,
                              lambda fd, ev: seen.append((fd, ev)))
        b.send(b"x")
        self.run_until(lambda: seen)
        self.assertEqual(seen[0], (a.fileno(), ll.EDDY_READABLE))
        ll.eddy_watch_free(w)
        a.close()
        b.close()

    def test_backend_fd_and_next_timeout(self):
        self.assertGreaterEqual(ll.eddy_loop_backend_fd(self.loop), 0)
        self.assertEqual(ll.eddy_loop_next_timeout(self.loop), -1)
        call_id = ll.eddy_loop_call_later(self.loop, 5.0, lambda: None)
        self.assertGreater(ll.eddy_loop_next_timeout(self.loop), 0)
        ll.eddy_loop_cancel(self.loop, call_id)
        ll.eddy_loop_call_soon(self.loop, lambda: None)
        self.assertEqual(ll.eddy_loop_next_timeout(self.loop), 0)

    def test_low_level_http_server(self):
        import http.client

        def on_request(req):
            path = ll.eddy_request_path(req)
            ll.eddy_request_set_header(req, "Content-Type", "text/plain")
            ll.eddy_request_write(req, b"path=" + path)
            ll.eddy_request_finish(req)

        server = ll.eddy_server_new(self.loop, on_request)
        self.assertEqual(ll.eddy_server_listen(server, "127.0.0.1", 0, 0), 0)
        port = ll.eddy_server_port(server)
        result = {}

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/abc")
            r = conn.getresponse()
            result["body"] = r.read()
            conn.close()

        t = threading.Thread(target=client)
        t.start()
        self.run_until(lambda: not t.is_alive(), rounds=1000)
        t.join()
        self.assertEqual(result["body"], b"path=/abc")
        base = sys.getrefcount(on_request)
        ll.eddy_server_free(server)
        self.assertEqual(sys.getrefcount(on_request), base - 1)

    def test_low_level_request_abort(self):
        # eddy_request_abort: the client sees the response is incomplete (a chunked body
        # without its last chunk, a declared length left short; before the head, only the
        # close), and the server goes on serving other connections.
        import http.client

        aborts = []

        def on_request(req):
            path = ll.eddy_request_path(req)
            if path == b"/chunked":
                ll.eddy_request_write(req, b"first")
                ll.eddy_request_flush(req)
                ll.eddy_request_write(req, b"second")
                aborts.append(ll.eddy_request_abort(req))
            elif path == b"/short":
                ll.eddy_request_set_header(req, "Content-Length", "10")
                ll.eddy_request_write(req, b"12345")
                ll.eddy_request_flush(req)
                aborts.append(ll.eddy_request_abort(req))
            elif path == b"/nohead":
                ll.eddy_request_write(req, b"never sent")
                aborts.append(ll.eddy_request_abort(req))
            else:
                ll.eddy_request_write(req, b"fine")
                ll.eddy_request_finish(req)

        server = ll.eddy_server_new(self.loop, on_request)
        self.assertEqual(ll.eddy_server_listen(server, "127.0.0.1", 0, 0), 0)
        port = ll.eddy_server_port(server)
        result = {}

        def client():
            try:
                for path in ("/chunked", "/short"):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", path)
                    r = conn.getresponse()
                    try:
                        r.read()
                        result[path] = "complete"
                    except http.client.IncompleteRead as e:
                        result[path] = (r.status, e.partial)
                    conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/nohead")
                try:
                    conn.getresponse()
                    result["/nohead"] = "answered"
                except http.client.RemoteDisconnected:
                    result["/nohead"] = "closed"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/ok")
                result["/ok"] = conn.getresponse().read()
                conn.close()
            except Exception as e:  # reported by the assertions below
                result["error"] = repr(e)

        t = threading.Thread(target=client)
        t.start()
        self.run_until(lambda: not t.is_alive(), rounds=2000)
        t.join()
        self.assertEqual(result, {"/chunked": (200, b"firstsecond"), "/short": (200, b"12345"),
                                  "/nohead": "closed", "/ok": b"fine"})
        self.assertEqual(aborts, [0, 0, 0])
        ll.eddy_server_free(server)

    def test_run_releases_the_gil(self):
        # Another Python thread computes while eddy_loop_run waits, then stops the loop from
        # its thread; with the GIL held by run() it could not, and the test would time out.
        done = []

        def worker():
            done.append(sum(range(100000)))
            ll.eddy_py_call_soon_threadsafe(self.loop, lambda: ll.eddy_loop_stop(self.loop))

        t = threading.Thread(target=worker)
        t.start()
        self.assertEqual(ll.eddy_loop_run(self.loop), 0)
        t.join()
        self.assertEqual(done, [sum(range(100000))])

    def test_errors_and_version(self):
        self.assertEqual(ll.eddy_err_name(ll.EDDY_EINVAL), "EDDY_EINVAL")
        self.assertTrue(ll.eddy_version_string())
        gc.collect()


if __name__ == "__main__":
    unittest.main()
