"""Host references go back through eddy's free callbacks: apps and routes created and destroyed
in a loop, each serving requests, leave no Python objects and no traced memory behind."""

import asyncio
import gc
import os
import http.client
import sys
import tracemalloc
import unittest
import weakref

import support  # noqa: F401  (quiet access log)

import eddy.gen
import eddy.httpclient
import eddy.ioloop
import eddy.web

live_handlers = weakref.WeakSet()


class SyncHandler(eddy.web.RequestHandler):
    def initialize(self, n=0):
        live_handlers.add(self)
        self.n = n

    def get(self, arg=None):
        self.set_cookie("c", "v")
        self.write({"n": self.n, "arg": arg, "q": self.get_argument("q", None)})


class AsyncHandler(eddy.web.RequestHandler):
    def initialize(self):
        live_handlers.add(self)

    async def get(self):
        await eddy.gen.sleep(0)
        await asyncio.sleep(0)
        self.write("async")


class CrashHandler(eddy.web.RequestHandler):
    def initialize(self):
        live_handlers.add(self)

    def get(self):
        raise eddy.web.HTTPError(409)


def client(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = []
    for path in ("/", "/x/7?q=1", "/async", "/crash", "/missing"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
    conn.close()
    return statuses


class LeakTest(unittest.TestCase):
    def setUp(self):
        self.aloop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.aloop)
        self.ioloop = eddy.ioloop.IOLoop.current()

    def tearDown(self):
        self.ioloop.close()
        asyncio.set_event_loop(None)

    def cycle(self, i, close=True):
        app = eddy.web.Application([
            (r"/", SyncHandler, {"n": i}),
            (r"/x/(\d+)", SyncHandler),
            (r"/async", AsyncHandler),
            eddy.web.url(r"/crash", CrashHandler, name="crash"),
        ], cookie_secret="s")
        server = app.listen(0, "127.0.0.1")
        statuses = self.aloop.run_until_complete(asyncio.to_thread(client, server.port))
        self.assertEqual(statuses, [200, 200, 200, 409, 404])
        server.stop()
        if close:
            app.close()

    def test_apps_routes_and_requests_leave_nothing_behind(self):
        base_refs = [sys.getrefcount(c) for c in (SyncHandler, AsyncHandler, CrashHandler)]
        for i in range(10):  # warm-up: caches, interned strings, the thread pool
            self.cycle(i)
            self.cycle(i, close=False)  # dropped without close(): __del__ frees the C app
        gc.collect()
        objects_before = len(gc.get_objects())
        for i in range(30):
            self.cycle(i, close=i % 2 == 0)
        gc.collect()
        objects_after = len(gc.get_objects())
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(30):
            self.cycle(i, close=i % 2 == 0)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        self.assertEqual(len(live_handlers), 0)
        self.assertEqual([sys.getrefcount(c) for c in (SyncHandler, AsyncHandler, CrashHandler)],
                         base_refs)
        # A leaked handler, request or route would show up 30 times (150 requests); what is
        # left is the executor's threads and the allocator's free lists, not per-cycle growth.
        self.assertLess(objects_after - objects_before, 60)
        growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        self.assertLess(growth, 32 * 1024, [str(s) for s in after.compare_to(before, "lineno")[:8]])

class AsyncioRunTest(unittest.TestCase):
    def test_each_asyncio_run_frees_its_eddy_loop(self):
        """asyncio.run() closes its loop; the eddy loop, its fd and its apps go with it."""

        async def serve_once():
            app = eddy.web.Application([(r"/", SyncHandler)])
            server = app.listen(0, "127.0.0.1")
            statuses = await asyncio.to_thread(client, server.port)
            self.assertEqual(statuses[0], 200)
            return eddy.ioloop.IOLoop.current()

        def open_fds():
            return len(os.listdir("/proc/self/fd"))

        asyncio.run(serve_once())
        gc.collect()
        before = open_fds()
        loops = [weakref.ref(asyncio.run(serve_once())) for _ in range(10)]
        gc.collect()
        self.assertEqual(open_fds(), before)
        self.assertEqual([ref() for ref in loops if ref() is not None], [])
        self.assertEqual(len(live_handlers), 0)

    def test_the_shared_http_client_goes_with_its_loop(self):
        """AsyncHTTPClient() (the loop's shared client, never closed by the program) held its
        loop, which the cache keyed by that loop then kept alive for good."""

        async def fetch_once():
            app = eddy.web.Application([(r"/", SyncHandler)])
            server = app.listen(0, "127.0.0.1")
            response = await eddy.httpclient.AsyncHTTPClient().fetch(
                "http://127.0.0.1:%d/" % server.port)
            self.assertEqual(response.code, 200)
            return eddy.ioloop.IOLoop.current()

        asyncio.run(fetch_once())
        loops = [weakref.ref(asyncio.run(fetch_once())) for _ in range(5)]
        gc.collect()
        self.assertEqual([ref() for ref in loops if ref() is not None], [])
        self.assertEqual(len(eddy.httpclient.AsyncHTTPClient._by_loop), 0)


if __name__ == "__main__":
    unittest.main()
