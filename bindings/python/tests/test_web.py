"""eddy.web over real sockets: Tornado's RequestHandler behaviour, checked with http.client."""

import asyncio
import contextlib
import gc
import gzip
import http.client
import http.cookies
import json
import logging
import os
import select
import socket
import tempfile
import threading
import time
import unittest
import urllib.parse
import weakref

import support

import eddy.gen
import eddy.ioloop
import eddy.web
from eddy.web import HTTPError, RequestHandler

events = []  # life-cycle notes made by handlers on the loop thread


class HelloHandler(RequestHandler):
    def get(self):
        self.write("Hello, world")


class EchoHandler(RequestHandler):
    def initialize(self, tag="none"):
        self.tag = tag

    def post(self, *args):
        r = self.request
        self.write({
            "tag": self.tag, "method": r.method, "uri": r.uri, "path": r.path, "query": r.query,
            "body": r.body.decode(), "remote_ip": r.remote_ip, "version": r.version,
            "x_test": r.headers.get("X-Test"), "x_multi": r.headers.get_list("X-Multi"),
            "a": self.get_argument("a", None), "all_a": self.get_arguments("a"),
            "q": self.get_query_argument("a", None), "b": self.get_body_argument("b", None),
            "files": {k: [(f.filename, f.body.decode(), f.content_type) for f in v]
                      for k, v in r.files.items()},
            "args": list(args),
        })

    get = post


class RequiredHandler(RequestHandler):
    def get(self):
        self.write("x=" + self.get_argument("x"))


class HeadersHandler(RequestHandler):
    def set_default_headers(self):
        self.set_header("X-Default", "yes")

    def get(self):
        self.set_status(201, "Made")
        self.set_header("X-One", "1")
        self.add_header("X-Two", "a")
        self.add_header("X-Two", "b")
        self.set_header("X-Gone", "soon")
        self.clear_header("X-Gone")
        self.write(b"bytes ")
        self.write("str")


class AfterFinishHandler(RequestHandler):
    def get(self):
        self.finish("done")
        try:
            self.redirect("/")
        except Exception as e:  # as Tornado: the answer is gone
            events.append(("after_finish_redirect", str(e)))
        self.send_error(500)  # logged, no effect
        events.append(("after_finish_send_error", "returned"))


class EchoHeaderHandler(RequestHandler):
    def get(self):
        self.set_header("X-Echo", self.request.headers.get("X-Raw", ""))


class ErrorsHandler(RequestHandler):
    def get(self, kind):
        if kind == "http":
            raise HTTPError(418, "teapot %s", "log", reason="I Am A Teapot")
        if kind == "send":
            self.send_error(503)
            return
        if kind == "crash":
            raise RuntimeError("crash on purpose")
        if kind == "after_write":
            self.write("partial")
            raise HTTPError(400)

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info")
        self.finish({"code": status_code, "reason": self._reason,
                     "exc": type(exc[1]).__name__ if exc else None})


class CookieHandler(RequestHandler):
    def get(self):
        action = self.get_argument("do")
        if action == "set":
            self.set_cookie("plain", "v1", httponly=True)
            self.set_signed_cookie("signed", "secret-value")
        elif action == "read":
            self.write({"plain": self.get_cookie("plain"),
                        "signed": (self.get_signed_cookie("signed") or b"").decode(),
                        "missing": self.get_cookie("nope", "dflt")})
        elif action == "clear":
            self.clear_cookie("plain")
        elif action == "attributes":
            refused = []
            for attribute in ({"path": "/a\0b"}, {"domain": "a.test\0b.test"},
                              {"samesite": "Lax\0x"}):
                try:
                    self.set_cookie("nul", "v", **attribute)
                except ValueError:
                    refused.append(sorted(attribute)[0])
            try:
                self.clear_cookie("nul", path="/a\0b")
            except ValueError:
                refused.append("clear")
            for attribute in ({"http_only": True}, {"partitioned": True}, {"expire": 5}):
                try:
                    self.set_cookie("bad", "v", **attribute)
                except http.cookies.CookieError:
                    refused.append(sorted(attribute)[0])
            # Spelled as Tornado lets them be (any case, max-age or max_age); RFC 2109's
            # comment and version are accepted and left out, as RFC 6265 has no such fields.
            self.set_cookie("good", "v", Secure=True, HTTPONLY=True, **{"max-age": 9},
                            comment="c", version=1)
            self.write({"refused": refused})


class FinishFutureHandler(RequestHandler):
    seen = []  # appended on the server's loop thread

    def get(self):
        # Tornado's finish() returns a Future: chaining on it must work here too.
        self.finish("done").add_done_callback(
            lambda f: FinishFutureHandler.seen.append((f.done(), f.result(), f.exception(),
                                                       f.cancelled())))


class RedirectMe(RequestHandler):
    def get(self):
        self.redirect("/target", permanent=self.get_argument("p", None) is not None)


class PathArgsHandler(RequestHandler):
    def get(self, first, second):
        self.write("%s|%s" % (first, second))


class NamedArgsHandler(RequestHandler):
    def get(self, year=None, slug=None):
        self.write("%s|%s|%s" % (year, slug, self.reverse_url("named", "2024", "a b")))


class AsyncHandler(RequestHandler):
    async def get(self):
        await eddy.gen.sleep(0.01)
        await asyncio.sleep(0.01)
        loop = eddy.ioloop.IOLoop.current()
        value = await loop.run_in_executor(None, lambda: threading.get_ident())
        self.write({"executor_thread_differs": value != threading.get_ident()})


class AsyncCrashHandler(RequestHandler):
    async def get(self):
        await asyncio.sleep(0.001)
        raise KeyError("async crash on purpose")


class AsyncConnectHandler(RequestHandler):
    """Uses an asyncio stream (open_connection) to another local server from a handler."""

    async def get(self):
        port = int(self.get_argument("port"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        await writer.drain()
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        self.write(line)


class PrepareHandler(RequestHandler):
    def prepare(self):
        if self.get_argument("stop", None):
            self.finish("stopped in prepare")

    def get(self):
        self.write("method ran")

    def on_finish(self):
        events.append(("on_finish", self.request.path, self.get_status()))


class AsyncPrepareHandler(RequestHandler):
    async def prepare(self):
        await asyncio.sleep(0.001)
        self.prepared = True

    def get(self):
        self.write("prepared=%s" % self.prepared)


class LongPollHandler(RequestHandler):
    async def get(self):
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        except asyncio.CancelledError:
            events.append(("cancelled", self.request.path))
            return
        self.write("woken")

    def on_connection_close(self):
        events.append(("on_connection_close", self.request.path))
        self.waiter.cancel()


class LoginHandler(RequestHandler):
    def get_current_user(self):
        return self.get_cookie("user")

    @eddy.web.authenticated
    def get(self):
        self.write("hello " + self.current_user)

    @eddy.web.authenticated
    def post(self):
        self.write("posted")


class XsrfHandler(RequestHandler):
    def get(self):
        self.write(self.xsrf_form_html())

    def post(self):
        self.write("accepted")


class ManualXsrfHandler(RequestHandler):
    def get(self):
        self.check_xsrf_cookie()  # GET is not checked by the C layer; this is Python's check
        self.write("token ok")


class BigHandler(RequestHandler):
    def get(self):
        self.write("x" * 5000)


class EndlessStreamHandler(RequestHandler):
    # Tornado's streaming loop: it ends when flush() fails because the client went away.
    async def get(self):
        n = 0
        try:
            while n < 1_000_000:
                self.write("chunk %d\n" % n)
                await self.flush()
                n += 1
            events.append(("endless", "never closed"))
        except eddy.iostream.StreamClosedError:
            events.append(("endless", "StreamClosedError"))


class FlushHandler(RequestHandler):
    async def get(self):
        self.write("part1,")
        await self.flush()
        await eddy.gen.sleep(0.01)
        self.write("part2")


class CallbacksHandler(RequestHandler):
    """IOLoop.add_callback / call_later / call_at / PeriodicCallback from a handler."""

    async def get(self):
        loop = eddy.ioloop.IOLoop.current()
        fut = asyncio.get_running_loop().create_future()
        seen = []
        loop.add_callback(seen.append, "soon")
        loop.call_later(0.01, seen.append, "later")
        loop.call_at(loop.time() + 0.02, lambda: fut.set_result(None))
        cancelled = loop.call_later(0.005, seen.append, "cancelled")
        loop.remove_timeout(cancelled)
        ticks = []
        pc = eddy.ioloop.PeriodicCallback(lambda: ticks.append(1), 2)
        pc.start()
        await fut
        while len(ticks) < 2:
            await eddy.gen.sleep(0.005)
        pc.stop()
        threading.Thread(target=lambda: loop.add_callback_from_signal(seen.append, "thread")).start()
        while "thread" not in seen:
            await eddy.gen.sleep(0.005)
        self.write({"seen": seen, "ticked": len(ticks) >= 2, "running": pc.is_running()})


@eddy.web.stream_request_body
class StreamHandler(RequestHandler):
    def prepare(self):
        self.pieces = []

    def data_received(self, chunk):
        self.pieces.append(chunk)

    def put(self):
        self.write({"total": len(b"".join(self.pieces)), "body_buffered": len(self.request.body),
                    "pieces": len(self.pieces) > 0})


@eddy.web.stream_request_body
class AsyncStreamHandler(RequestHandler):
    """Async prepare and data_received: each is awaited before the next and before put(), as
    Tornado does; an HTTPError from the async prepare is the answer."""

    async def prepare(self):
        self.pieces = []
        await asyncio.sleep(0.02)
        if self.get_argument("deny", None):
            raise HTTPError(403)
        self.pieces.append("prepared")

    async def data_received(self, chunk):
        n = len(self.pieces)
        self.pieces.append(None)
        await asyncio.sleep(0.01 if n == 1 else 0)  # the first piece is the slowest
        self.pieces[n] = len(chunk)

    def put(self):
        self.write({"first": self.pieces[0], "total": sum(self.pieces[1:]),
                    "all_done": None not in self.pieces})


@eddy.web.stream_request_body
class SlowSinkHandler(RequestHandler):
    """A data_received that awaits (a slow disk or upstream): the body must not be read on
    meanwhile (Tornado's flow control), or the pieces pile up in memory."""

    async def prepare(self):
        self.total = 0
        if self.get_argument("wait") == "prepare":
            await asyncio.sleep(1.5)

    async def data_received(self, chunk):
        self.total += len(chunk)
        if self.total == len(chunk) and self.get_argument("wait") == "data":
            await asyncio.sleep(1.5)  # the first piece waits long

    def put(self):
        self.write({"total": self.total})


@eddy.web.stream_request_body
class HeldBodyHandler(RequestHandler):
    """A data_received that awaits until its client leaves (work the body is held for, which
    on_connection_close stops): nothing else ends the await."""

    async def data_received(self, chunk):
        events.append(("held_body_data", len(chunk)))
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter

    def put(self):
        self.write("never")

    def on_connection_close(self):
        events.append(("held_body_close",))
        waiter = self.__dict__.get("waiter")
        if waiter is not None and not waiter.done():
            waiter.cancel()


class LegacyCoroutineHandler(RequestHandler):
    @eddy.gen.coroutine
    def get(self):
        yield eddy.gen.sleep(0.001)
        a, b = yield [self.double(1), self.double(2)]
        self.write("%d,%d" % (a, b))

    @eddy.gen.coroutine
    def double(self, x):
        yield asyncio.sleep(0.001)
        raise eddy.gen.Return(2 * x)


class FdHandler(RequestHandler):
    """IOLoop.add_handler on a socketpair, from a handler."""

    async def get(self):
        loop = eddy.ioloop.IOLoop.current()
        a, b = socket.socketpair()
        got = asyncio.get_running_loop().create_future()

        def readable(fd, events):
            loop.remove_handler(fd)
            got.set_result((events & loop.READ, a.recv(10)))

        loop.add_handler(a.fileno(), readable, loop.READ)
        loop.call_later(0.005, b.send, b"data")
        events, data = await got
        a.close()
        b.close()
        self.write("%d %s" % (events, data.decode()))


class CustomMethodHandler(RequestHandler):
    SUPPORTED_METHODS = RequestHandler.SUPPORTED_METHODS + ("PROPFIND",)

    def propfind(self):
        self.write("propfind ok")


class FinishAndPrepareErrorHandler(RequestHandler):
    def prepare(self):
        if self.get_argument("deny", None):
            raise HTTPError(401)

    def get(self):
        self.write("early ")
        raise eddy.web.Finish("done")


class LeftHandler(RequestHandler):
    """Answers only after its client has gone (/left/<how>): the request must still end, so
    on_finish runs and the handler is released (Tornado's send_error/redirect end in finish())."""

    live = weakref.WeakSet()

    async def get(self, how):
        LeftHandler.live.add(self)
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter  # on_connection_close cancels it for "cancel" (a long poll that does
        # not catch the CancelledError), sets it for the others
        if how == "send_error":
            self.send_error(503)
        elif how == "raise":
            raise ValueError("too late")
        elif how == "http_error":
            raise HTTPError(404)
        elif how == "redirect":
            self.redirect("/elsewhere")

    def on_connection_close(self):
        if self.path_args[0] == "cancel":
            self.waiter.cancel()
        else:
            self.waiter.set_result(None)

    def on_finish(self):
        events.append(("left_on_finish", self.path_args[0], self.get_status()))


class CancelledHandler(RequestHandler):
    """A CancelledError escaping the method while the client still waits: an uncaught exception
    (500), not a request left hanging with its handler for good."""

    async def get(self, how):
        if how == "async":
            await asyncio.sleep(0)
        raise asyncio.CancelledError()

    def on_finish(self):
        events.append(("cancelled_on_finish", self.path_args[0], self.get_status()))


class Default404(RequestHandler):
    def prepare(self):
        self.set_status(404)
        self.finish("custom not found")


def make_app(static_dir):
    return eddy.web.Application([
        (r"/", HelloHandler),
        (r"/echo", EchoHandler, {"tag": "kw"}),
        (r"/echo/(\w+)", EchoHandler),
        (r"/required", RequiredHandler),
        (r"/headers", HeadersHandler),
        (r"/echo-header", EchoHeaderHandler),
        (r"/after-finish", AfterFinishHandler),
        (r"/errors/(\w+)", ErrorsHandler),
        (r"/cookie", CookieHandler),
        (r"/redirect", RedirectMe),
        (r"/old/(\w+)", eddy.web.RedirectHandler, {"url": "/new/{0}"}),
        (r"/path/([^/]+)/(\d+)", PathArgsHandler),
        eddy.web.url(r"/named/(?P<year>\d+)/(?P<slug>[^/]+)", NamedArgsHandler, name="named"),
        (r"/async", AsyncHandler),
        (r"/async_crash", AsyncCrashHandler),
        (r"/async_connect", AsyncConnectHandler),
        (r"/prepare", PrepareHandler),
        (r"/async_prepare", AsyncPrepareHandler),
        (r"/longpoll", LongPollHandler),
        (r"/left/(\w+)", LeftHandler),
        (r"/cancelled/(\w+)", CancelledHandler),
        (r"/login_required", LoginHandler),
        (r"/big", BigHandler),
        (r"/flush", FlushHandler),
        (r"/endless", EndlessStreamHandler),
        (r"/callbacks", CallbacksHandler),
        (r"/stream", StreamHandler),
        (r"/async_stream", AsyncStreamHandler),
        (r"/slow_sink", SlowSinkHandler),
        (r"/held_body", HeldBodyHandler),
        (r"/legacy", LegacyCoroutineHandler),
        (r"/fd", FdHandler),
        (r"/custom", CustomMethodHandler),
        (r"/finish_future", FinishFutureHandler),
        (r"/finish", FinishAndPrepareErrorHandler),
        (r"/files/(.*)", eddy.web.StaticFileHandler, {"path": static_dir}),
    ], cookie_secret="test-secret", login_url="/login", compress_response=True,
        static_path=static_dir, default_handler_class=Default404)


def make_debug_app():
    return eddy.web.Application([(r"/crash", CrashForDebug)],
                                debug=True)


class CrashForDebug(RequestHandler):
    def get(self):
        raise ZeroDivisionError("shown in debug mode")


def make_xsrf_app():
    return eddy.web.Application([(r"/form", XsrfHandler), (r"/manual", ManualXsrfHandler)],
                                xsrf_cookies=True)


class WebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.static = tempfile.TemporaryDirectory()
        with open(os.path.join(cls.static.name, "hello.txt"), "w") as f:
            f.write("static hello\n")
        cls.server = support.ServerThread(lambda: make_app(cls.static.name))
        cls.xsrf = support.ServerThread(make_xsrf_app)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.xsrf.stop()
        cls.static.cleanup()

    def get(self, path, **kw):
        return self.server.request("GET", path, **kw)

    def test_hello(self):
        status, _, headers, body = self.get("/")
        self.assertEqual((status, body), (200, b"Hello, world"))
        self.assertEqual(headers["Content-Type"], "text/html; charset=UTF-8")

    def test_head_without_head_method_is_405_like_tornado(self):
        self.assertEqual(self.server.request("HEAD", "/")[0], 405)

    def test_405_allow_lists_the_methods_the_handler_implements(self):
        # RFC 9110 15.5.6: a 405's Allow lists the target resource's supported methods, so not
        # the method just refused, nor HEAD when HEAD is refused too (no head() method).
        for method in ("POST", "HEAD", "OPTIONS", "PROPFIND"):
            status, _, headers, _ = self.server.request(method, "/")
            self.assertEqual((status, headers["Allow"]), (405, "GET"), method)
        status, _, headers, _ = self.server.request("PUT", "/custom")
        self.assertEqual((status, headers["Allow"]), (405, "PROPFIND"))

    def test_request_attributes_and_arguments(self):
        body = urllib.parse.urlencode({"b": "  body-b  ", "a": "second"})
        status, _, headers, raw = self.server.request(
            "POST", "/echo?a=first&x=1", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Test": "t",
                     "X-Multi": "1"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json; charset=UTF-8")
        data = json.loads(raw)
        self.assertEqual(data["tag"], "kw")
        self.assertEqual((data["method"], data["path"], data["query"]), ("POST", "/echo", "a=first&x=1"))
        self.assertEqual(data["uri"], "/echo?a=first&x=1")
        self.assertEqual(data["remote_ip"], "127.0.0.1")
        self.assertEqual(data["version"], "HTTP/1.1")
        self.assertEqual(data["x_test"], "t")
        self.assertEqual(data["all_a"], ["first", "second"])
        self.assertEqual(data["a"], "second")  # Tornado: the last value wins
        self.assertEqual(data["q"], "first")
        self.assertEqual(data["b"], "body-b")  # stripped

    def test_multipart_files_and_path_args(self):
        boundary = "XyZzY"
        body = ("--%s\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\n"
                "Content-Type: text/plain\r\n\r\nfile body\r\n--%s--\r\n" % (boundary, boundary))
        status, _, _, raw = self.server.request(
            "POST", "/echo/abc", body=body,
            headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        data = json.loads(raw)
        self.assertEqual(status, 200)
        self.assertEqual(data["files"], {"up": [["a.txt", "file body", "text/plain"]]})
        self.assertEqual(data["args"], ["abc"])
        self.assertEqual(data["tag"], "none")

    def test_missing_argument_is_400(self):
        self.assertEqual(self.get("/required")[0], 400)
        self.assertEqual(self.get("/required?x=%20y%20")[3], b"x=y")

    def test_status_and_headers(self):
        status, reason, headers, body = self.get("/headers")
        self.assertEqual((status, reason), (201, "Made"))
        self.assertEqual(headers["X-Default"], "yes")
        self.assertEqual(headers["X-One"], "1")
        self.assertEqual(headers.get_all("X-Two"), ["a", "b"])
        self.assertIsNone(headers["X-Gone"])
        self.assertEqual(body, b"bytes str")

    def test_http_error_reason_and_write_error(self):
        with self.assertLogs("eddy.general", logging.WARNING) as logs:
            status, reason, _, body = self.get("/errors/http")
        self.assertEqual((status, reason), (418, "I Am A Teapot"))
        self.assertEqual(json.loads(body), {"code": 418, "reason": "I Am A Teapot", "exc": "HTTPError"})
        self.assertIn("teapot log", logs.output[0])
        status, _, _, body = self.get("/errors/send")
        self.assertEqual(status, 503)
        self.assertEqual(json.loads(body)["exc"], None)
        # Written data is discarded by an error page.
        status, _, _, body = self.get("/errors/after_write")
        self.assertEqual(status, 400)
        self.assertNotIn(b"partial", body)

    def test_exception_is_500_with_logged_traceback_and_loop_survives(self):
        with self.assertLogs("eddy.application", logging.ERROR) as logs:
            status, _, _, body = self.get("/errors/crash")
            status2 = self.get("/async_crash")[0]
        self.assertEqual((status, status2), (500, 500))
        self.assertEqual(json.loads(body)["exc"], "RuntimeError")
        self.assertTrue(any("crash on purpose" in line and "Traceback" in line for line in logs.output))
        self.assertTrue(any("async crash on purpose" in line for line in logs.output))
        self.assertEqual(self.get("/")[0], 200)

    def test_cookies_and_signed_cookies(self):
        status, _, headers, _ = self.get("/cookie?do=set")
        self.assertEqual(status, 200)
        cookies = headers.get_all("Set-Cookie")
        plain = [c for c in cookies if c.startswith("plain=")][0]
        signed = [c for c in cookies if c.startswith("signed=")][0]
        self.assertIn("HttpOnly", plain)
        jar = "; ".join(c.split(";")[0] for c in cookies)
        data = json.loads(self.get("/cookie?do=read", headers={"Cookie": jar})[3])
        self.assertEqual(data, {"plain": "v1", "signed": "secret-value", "missing": "dflt"})
        value = signed.split(";")[0].split("=", 1)[1]
        forged = "signed=" + value[:-2] + ("00" if not value.endswith("00") else "11")
        data = json.loads(self.get("/cookie?do=read", headers={"Cookie": forged})[3])
        self.assertEqual(data["signed"], "")
        headers = self.get("/cookie?do=clear")[2]
        self.assertTrue(any(c.startswith("plain=;") or "expires" in c.lower()
                            for c in headers.get_all("Set-Cookie")))

    def test_set_cookie_refuses_unknown_attributes_and_nul(self):
        # Tornado's set_cookie raises CookieError for an attribute it does not know; a typo such
        # as http_only=True must not quietly send the cookie without HttpOnly.
        status, _, headers, body = self.get("/cookie?do=attributes")
        self.assertEqual((status, json.loads(body)),
                         (200, {"refused": ["path", "domain", "samesite", "clear",
                                            "http_only", "partitioned", "expire"]}))
        self.assertEqual(headers.get_all("Set-Cookie"),
                         ["good=v; Max-Age=9; Path=/; Secure; HttpOnly"])

    def test_redirects(self):
        status, _, headers, _ = self.get("/redirect")
        self.assertEqual((status, headers["Location"]), (302, "/target"))
        self.assertEqual(self.get("/redirect?p=1")[0], 301)
        status, _, headers, _ = self.get("/old/thing?k=v")
        self.assertEqual((status, headers["Location"]), (301, "/new/thing?k=v"))

    def test_path_arguments_named_groups_and_reverse_url(self):
        self.assertEqual(self.get("/path/a%20b/42")[3], b"a b|42")
        self.assertEqual(self.get("/named/1999/slug")[3], b"1999|slug|/named/2024/a%20b")

    def test_async_handlers_with_eddy_and_asyncio_awaitables(self):
        status, _, _, body = self.get("/async")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"executor_thread_differs": True})

    def test_legacy_gen_coroutine(self):
        self.assertEqual(self.get("/legacy")[3], b"2,4")

    def test_asyncio_open_connection_in_a_handler(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                data = conn.recv(100)
                conn.sendall(b"pong:" + data)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        status, _, _, body = self.get("/async_connect?port=%d" % port)
        t.join(10)
        listener.close()
        self.assertEqual((status, body), (200, b"pong:ping\n"))

    def test_prepare_and_on_finish(self):
        self.assertEqual(self.get("/prepare")[3], b"method ran")
        self.assertEqual(self.get("/prepare?stop=1")[3], b"stopped in prepare")
        self.server.call(lambda: None)  # on_finish ran before the loop answers this
        self.assertIn(("on_finish", "/prepare", 200), events)
        self.assertEqual(self.get("/async_prepare")[3], b"prepared=True")

    def test_on_connection_close_cancels_long_poll(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("GET", "/longpoll")
        # Wait until the handler is parked, then hang up.
        for _ in range(200):
            if self.server.call(lambda: len(asyncio.all_tasks())) > 0:
                break
        conn.close()
        for _ in range(500):
            if ("cancelled", "/longpoll") in self.server.call(lambda: list(events)):
                break
            threading.Event().wait(0.01)
        self.assertIn(("on_connection_close", "/longpoll"), events)
        self.assertIn(("cancelled", "/longpoll"), events)
        self.assertEqual(self.get("/")[0], 200)

    def test_request_ended_after_the_client_left_runs_on_finish(self):
        # send_error/redirect/an exception once the client has gone: eddy sends nothing, and
        # the detached handler must still be finished (on_finish, released), as Tornado's
        # send_error() and redirect() end in finish(). So must a long poll whose
        # on_connection_close cancelled the await without catching the CancelledError.
        cases = {"send_error": 503, "raise": 500, "http_error": 404, "redirect": 302,
                 "cancel": 200}
        for how, status in cases.items():
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            conn.request("GET", "/left/" + how)
            for _ in range(500):  # until the handler awaits
                if self.server.call(lambda: len(LeftHandler.live)) > 0:
                    break
                threading.Event().wait(0.01)
            with self.assertLogs("eddy.application", "ERROR") if how == "raise" \
                    else contextlib.nullcontext():
                conn.close()
                note = ("left_on_finish", how, status)
                for _ in range(500):
                    if note in self.server.call(lambda: list(events)):
                        break
                    threading.Event().wait(0.01)
            self.assertIn(note, events)
            self.server.call(gc.collect)
            self.assertEqual(self.server.call(lambda: len(LeftHandler.live)), 0, how)

    def test_cancelled_error_while_the_client_waits_is_a_500(self):
        for how in ("sync", "async"):
            with self.assertLogs("eddy.application", "ERROR"):
                status, _, _, _ = self.get("/cancelled/" + how, timeout=5)
            self.assertEqual(status, 500, how)
            self.server.call(lambda: None)
            self.assertIn(("cancelled_on_finish", how, 500), events)

    def test_redirect_and_send_error_after_finish(self):
        status, _, _, body = self.get("/after-finish")
        self.assertEqual((status, body), (200, b"done"))
        got = self.server.call(lambda: list(events))
        self.assertIn(("after_finish_redirect", "Cannot redirect after headers have been written"),
                      got)
        self.assertIn(("after_finish_send_error", "returned"), got)

    def test_header_bytes_round_trip_as_latin1(self):
        # Request headers are read as Latin-1 (as Tornado): written back, the bytes are the same.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET /echo-header HTTP/1.1\r\nHost: x\r\nX-Raw: \xff\xe9t\xe9\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertIn(b"\r\nX-Echo: \xff\xe9t\xe9\r\n", data)

    def test_flush_fails_once_the_client_is_gone(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("GET", "/endless")
        r = conn.getresponse()
        self.assertTrue(r.read(100).startswith(b"chunk 0"))
        conn.close()
        for _ in range(1000):
            if any(e[0] == "endless" for e in self.server.call(lambda: list(events))):
                break
            threading.Event().wait(0.01)
        self.assertIn(("endless", "StreamClosedError"), events)

    def test_authenticated(self):
        status, _, headers, _ = self.get("/login_required")
        self.assertEqual(status, 302)
        self.assertEqual(headers["Location"], "/login?next=%2Flogin_required")
        self.assertEqual(self.server.request("POST", "/login_required", body="")[0], 403)
        self.assertEqual(self.get("/login_required", headers={"Cookie": "user=ann"})[3], b"hello ann")

    def test_xsrf(self):
        status, _, headers, body = self.xsrf.request("GET", "/form")
        self.assertEqual(status, 200)
        self.assertIn(b'name="_xsrf"', body)
        cookie = headers["Set-Cookie"].split(";")[0]
        token = body.split(b'value="')[1].split(b'"')[0].decode()
        self.assertEqual(self.xsrf.request("POST", "/form", body="")[0], 403)
        status, _, _, body = self.xsrf.request(
            "POST", "/form", body="_xsrf=" + urllib.parse.quote(token),
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, body), (200, b"accepted"))
        # check_xsrf_cookie() in Python accepts the C layer's masked tokens and the raw cookie.
        manual = "/manual?_xsrf=" + urllib.parse.quote(token)
        self.assertEqual(self.xsrf.request("GET", manual, headers={"Cookie": cookie})[3], b"token ok")
        raw = "/manual?_xsrf=" + urllib.parse.quote(cookie.split("=", 1)[1])
        self.assertEqual(self.xsrf.request("GET", raw, headers={"Cookie": cookie})[0], 200)
        other = self.xsrf.request("GET", "/form")[2]["Set-Cookie"].split(";")[0]
        self.assertEqual(self.xsrf.request("GET", manual, headers={"Cookie": other})[0], 403)
        self.assertEqual(self.xsrf.request("GET", "/manual", headers={"Cookie": cookie})[0], 403)

    def test_compress_response(self):
        status, _, headers, body = self.get("/big", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(headers["Content-Encoding"], "gzip")
        self.assertEqual(gzip.decompress(body), b"x" * 5000)
        self.assertEqual(self.get("/big")[3], b"x" * 5000)

    def test_static_files(self):
        self.assertEqual(self.get("/files/hello.txt")[3], b"static hello\n")
        self.assertEqual(self.get("/static/hello.txt")[3], b"static hello\n")
        self.assertEqual(self.get("/files/nope.txt")[0], 404)

    def test_default_handler_class(self):
        status, _, _, body = self.get("/no/such/page")
        self.assertEqual((status, body), (404, b"custom not found"))

    def test_flush_then_finish_when_coroutine_returns(self):
        status, _, headers, body = self.get("/flush")
        self.assertEqual((status, body), (200, b"part1,part2"))
        self.assertEqual(headers["Transfer-Encoding"], "chunked")

    def test_finish_returns_a_future_to_chain_on(self):
        self.assertEqual(self.get("/finish_future")[3], b"done")
        # The callback runs soon after finish(), on the loop: by the next request it has run.
        self.get("/finish_future")
        self.assertEqual(self.server.call(lambda: FinishFutureHandler.seen[:1]),
                         [(True, None, None, False)])

    def test_ioloop_callbacks(self):
        status, _, _, body = self.get("/callbacks")
        data = json.loads(body)
        self.assertEqual(status, 200)
        self.assertEqual(data["seen"], ["soon", "later", "thread"])
        self.assertTrue(data["ticked"])
        self.assertFalse(data["running"])

    def test_stream_request_body(self):
        def chunks():
            for _ in range(50):
                yield b"y" * 1000

        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("PUT", "/stream", body=chunks(), encode_chunked=True)
        resp = conn.getresponse()
        data = json.loads(resp.read())
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(data, {"total": 50000, "body_buffered": 0, "pieces": True})

    def test_stream_request_body_awaits_async_prepare_and_data_received(self):
        def chunks():
            for _ in range(5):
                threading.Event().wait(0.005)
                yield b"z" * 1000

        for query, status in (("", 200), ("?deny=1", 403)):
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            conn.request("PUT", "/async_stream" + query, body=chunks(), encode_chunked=True)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            self.assertEqual(resp.status, status, body)
        self.assertEqual(json.loads(self.server.request("PUT", "/async_stream", body=b"q" * 700)[3]),
                         {"first": "prepared", "total": 700, "all_done": True})

    def test_stream_request_body_holds_reading_while_a_step_awaits(self):
        # 64 MB sent as fast as the socket takes it: while the first data_received (or an
        # async prepare) sleeps 1.5 s, only what the kernel's buffers hold (a few MB on loopback) may leave the
        # client. Before, the C layer read on and the whole body queued up in Python.
        for wait in ("data", "prepare"):
            with self.subTest(wait=wait):
                self.check_body_held_while_awaiting(wait)

    def test_stream_request_body_100_continue_waits_for_async_prepare(self):
        # Expect: 100-continue (RFC 9110 10.1.1) and a coroutine prepare: as Tornado, the 100
        # goes out once prepare is done (the body is read from then on), and never when
        # prepare answers instead. Before, it went out with the head, before prepare ran.
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            sock.sendall(b"PUT /slow_sink?wait=prepare HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            readable, _, _ = select.select([sock], [], [], 1.0)  # prepare sleeps 1.5 s
            self.assertEqual(readable, [], "an answer before prepare was done")
            reply = b""
            while b"\r\n\r\n" not in reply:
                piece = sock.recv(65536)
                self.assertTrue(piece, reply)
                reply += piece
            self.assertTrue(reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), reply)
            sock.sendall(b"hello")
            reply = reply.split(b"\r\n\r\n", 1)[1]
            while b"}" not in reply:
                piece = sock.recv(65536)
                self.assertTrue(piece, reply)
                reply += piece
            self.assertIn(b"200 OK", reply)
            self.assertEqual(json.loads(reply.split(b"\r\n\r\n", 1)[1]), {"total": 5})
        finally:
            sock.close()
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            sock.sendall(b"PUT /async_stream?deny=1 HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            reply = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                reply += piece
        finally:
            sock.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 403 "), reply)  # no 100 first

    def test_client_leaving_while_data_received_awaits_is_told(self):
        # data_received awaits (the body is held: C's eddy_request_pause_body) while more of
        # the body waits in the server, and the client closes: on_connection_close runs at
        # once. Before, nothing watched the socket while body bytes waited unread, and the
        # close was seen only once the await ended (here: never).
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            sock.sendall(b"PUT /held_body HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                         b"\r\n" + b"h" * 1000)
            for _ in range(2000):
                if any(e[0] == "held_body_data" for e in self.server.call(lambda: list(events))):
                    break
                threading.Event().wait(0.01)
            sock.sendall(b"h" * 2000)  # read by the server, and held there
        finally:
            sock.close()
        for _ in range(2000):
            if ("held_body_close",) in self.server.call(lambda: list(events)):
                break
            threading.Event().wait(0.01)
        self.assertIn(("held_body_close",), events)

    def check_body_held_while_awaiting(self, wait):
        size = 64 << 20
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            sock.sendall(b"PUT /slow_sink?wait=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                         b"\r\n" % (wait.encode(), size))
            sock.setblocking(False)
            block = b"s" * (1 << 16)
            sent, deadline = 0, time.monotonic() + 1.0
            while sent < size and time.monotonic() < deadline:
                try:
                    sent += sock.send(block[:size - sent])
                except BlockingIOError:
                    time.sleep(0.005)
            self.assertLess(sent, size // 2, "the server read on while a step awaited")
            sock.settimeout(20)
            while sent < size:  # reading resumes once the step is done: the rest goes in
                sent += sock.send(block[:size - sent])
            reply = b""
            while b"}" not in reply:
                piece = sock.recv(65536)
                self.assertTrue(piece, reply)
                reply += piece
        finally:
            sock.close()
        self.assertIn(b"200 OK", reply)
        self.assertEqual(json.loads(reply.split(b"\r\n\r\n", 1)[1]), {"total": size})

    def test_finish_exception_and_http_error_in_prepare(self):
        self.assertEqual(self.get("/finish")[3], b"early done")
        self.assertEqual(self.get("/finish?deny=1")[0], 401)

    def test_debug_serves_traceback(self):
        server = support.ServerThread(make_debug_app)
        try:
            with self.assertLogs("eddy.application", logging.ERROR):
                status, _, headers, body = server.request("GET", "/crash")
        finally:
            server.stop()
        self.assertEqual(status, 500)
        self.assertEqual(headers["Content-Type"], "text/plain")
        self.assertIn(b"Traceback", body)
        self.assertIn(b"ZeroDivisionError: shown in debug mode", body)

    def test_add_handler_and_custom_method(self):
        self.assertEqual(self.get("/fd")[3], b"1 data")
        status, _, _, body = self.server.request("PROPFIND", "/custom")
        self.assertEqual((status, body), (200, b"propfind ok"))

    def test_access_log(self):
        with self.assertLogs("eddy.access", logging.INFO) as logs:
            self.get("/?x=1")
            self.get("/required")
            self.server.call(lambda: None)
        self.assertTrue(any(line.startswith("INFO:eddy.access:200 GET /?x=1 (127.0.0.1) ")
                            for line in logs.output), logs.output)
        self.assertTrue(any(line.startswith("WARNING:eddy.access:400 GET /required ")
                            for line in logs.output), logs.output)

    def test_keep_alive_many_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        for i in range(20):
            conn.request("GET", "/path/x/%d" % i)
            self.assertEqual(conn.getresponse().read(), b"x|%d" % i)
        conn.close()


class LocalAddressesTest(unittest.TestCase):
    def test_port_zero_on_two_addresses(self):
        """HTTPServer.local_addresses(): listen(0) on two addresses apart gives two ports,
        `port` the first's only; each serves."""
        async def main():
            app = eddy.web.Application([(r"/", HelloHandler)])
            server = app.listen(0, "127.0.0.1")
            server.listen(0, "127.0.0.1")
            addresses = server.local_addresses()
            self.assertEqual(len(addresses), 2, addresses)
            self.assertEqual(addresses[0][1], server.port)
            self.assertNotEqual(addresses[0][1], addresses[1][1])

            def fetch(port):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/")
                body = conn.getresponse().read()
                conn.close()
                return body

            for ip, port in addresses:
                self.assertEqual(ip, "127.0.0.1")
                self.assertEqual(await asyncio.to_thread(fetch, port), b"Hello, world")
            server.stop()
            app.close()

        asyncio.run(asyncio.wait_for(main(), 30))


class IOLoopStartStopTest(unittest.TestCase):
    def test_start_runs_until_stop(self):
        result = {}

        def run():
            aloop = asyncio.new_event_loop()
            asyncio.set_event_loop(aloop)
            loop = eddy.ioloop.IOLoop.current()
            self.assertIs(eddy.ioloop.IOLoop.current(), loop)
            app = eddy.web.Application([(r"/", HelloHandler)])
            server = app.listen(0, "127.0.0.1")

            def fetch():
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                conn.request("GET", "/")
                result["body"] = conn.getresponse().read()
                conn.close()
                loop.add_callback(loop.stop)  # from the client thread

            loop.call_later(0.01, lambda: threading.Thread(target=fetch).start())
            loop.start()
            result["stopped"] = True
            server.stop()
            app.close()
            loop.close()

        t = threading.Thread(target=run)
        t.start()
        t.join(30)
        self.assertEqual(result, {"body": b"Hello, world", "stopped": True})


if __name__ == "__main__":
    unittest.main()
