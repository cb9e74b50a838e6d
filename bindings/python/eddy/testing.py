"""eddy.testing: tornado.testing's test cases, so an application's Tornado test suite runs on
eddy with its imports changed.

AsyncTestCase gives each test a fresh IOLoop (self.io_loop); @gen_test runs an `async def`
test on it. AsyncHTTPTestCase also serves get_app() on a free port of 127.0.0.1 and offers
self.fetch(path, **kwargs), which returns the HTTPResponse (eddy.httpclient) synchronously."""

import asyncio
import atexit
import functools
import inspect
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from . import httpclient, ioloop


def get_async_test_timeout():
    """Seconds a test may take: $ASYNC_TEST_TIMEOUT, else 5."""
    try:
        return float(os.environ.get("ASYNC_TEST_TIMEOUT", 5))
    except ValueError:
        return 5


def bind_unused_port(reuse_port=False, address="127.0.0.1"):
    """A listening socket on a free port of `address`, and that port."""
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


class AsyncTestCase(unittest.TestCase):
    """A TestCase with its own IOLoop (self.io_loop), made current for the test."""

    def __init__(self, methodName="runTest"):
        super().__init__(methodName)
        self._stopped = False
        self._stop_args = None
        self._failure = None

    def setUp(self):
        super().setUp()
        self.io_loop = self.get_new_ioloop()
        self.io_loop.make_current()

    def tearDown(self):
        self.io_loop.close(all_fds=True)
        asyncio.set_event_loop(None)
        super().tearDown()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def get_new_ioloop(self):
        """The IOLoop for one test (a new one; override to share one)."""
        return ioloop.IOLoop(make_current=False)

    def stop(self, _arg=None, **kwargs):
        """Ends the current wait(); its result is _arg (or the kwargs)."""
        self._stop_args = kwargs or _arg
        self._stopped = True
        self.io_loop.stop()

    def wait(self, condition=None, timeout=None):
        """Runs the loop until stop() (and `condition()` if given) or `timeout` seconds
        (then raises AssertionError)."""
        if timeout is None:
            timeout = get_async_test_timeout()
        if not self._stopped:
            def timed_out():
                self._failure = self.failureException(
                    "Async operation timed out after %s seconds" % timeout)
                self.io_loop.stop()

            handle = self.io_loop.call_later(timeout, timed_out)
            while True:
                self.io_loop.start()
                if self._failure is not None or condition is None or condition():
                    break
            self.io_loop.remove_timeout(handle)
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        self._stopped = False
        result, self._stop_args = self._stop_args, None
        return result


class AsyncHTTPTestCase(AsyncTestCase):
    """Serves get_app() for each test; self.fetch("/path") requests it."""

    def setUp(self):
        super().setUp()
        sock, port = bind_unused_port()
        self.__port = port
        self.http_client = self.get_http_client()
        self._app = self.get_app()
        self.http_server = self.get_http_server()
        self.http_server.add_sockets([sock])
        sock.close()  # the server serves a duplicate

    def get_app(self):
        raise NotImplementedError()

    def get_http_client(self):
        return httpclient.AsyncHTTPClient()

    def get_http_server(self):
        from .httpserver import HTTPServer

        return HTTPServer(self._app, **self.get_httpserver_options())

    def get_httpserver_options(self):
        return {}

    def get_http_port(self):
        return self.__port

    def get_protocol(self):
        return "http"

    def get_url(self, path):
        return "%s://127.0.0.1:%s%s" % (self.get_protocol(), self.get_http_port(), path)

    def fetch(self, path, raise_error=False, **kwargs):
        """The HTTPResponse for `path` (or a full URL); errors are responses unless
        raise_error."""
        url = path if path.lower().startswith(("http://", "https://")) else self.get_url(path)
        return self.io_loop.run_sync(
            lambda: self.http_client.fetch(url, raise_error=raise_error, **kwargs),
            timeout=get_async_test_timeout())

    def tearDown(self):
        self.http_server.stop()
        self.io_loop.run_sync(self.http_server.close_all_connections,
                              timeout=get_async_test_timeout())
        self.http_client.close()
        del self.http_server
        del self._app
        super().tearDown()


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """AsyncHTTPTestCase over HTTPS. Tornado ships a test certificate; eddy makes one (ECDSA,
    for localhost and 127.0.0.1) with the openssl command once per process. fetch() does not
    validate it (the client's defaults say validate_cert=False)."""

    def get_http_client(self):
        return httpclient.AsyncHTTPClient(force_instance=True, defaults=dict(validate_cert=False))

    def get_httpserver_options(self):
        return dict(ssl_options=self.get_ssl_options())

    def get_ssl_options(self):
        return AsyncHTTPSTestCase.default_ssl_options()

    @staticmethod
    def default_ssl_options():
        return dict(_test_certificate())

    def get_protocol(self):
        return "https"


_certificate = None


def _test_certificate():
    global _certificate
    if _certificate is None:
        directory = tempfile.mkdtemp(prefix="eddy-test-certificate-")
        atexit.register(shutil.rmtree, directory, True)
        certfile = os.path.join(directory, "test.crt")
        keyfile = os.path.join(directory, "test.key")
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyfile, "-out", certfile,
                   "-days", "365", "-subj", "/CN=localhost",
                   "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            raise RuntimeError("AsyncHTTPSTestCase makes its certificate with the openssl "
                               "command: %s" % e) from e
        _certificate = dict(certfile=certfile, keyfile=keyfile)
    return _certificate


def gen_test(func=None, timeout=None):
    """Runs an `async def` (or gen.coroutine) test method on self.io_loop, failing after
    `timeout` seconds (default get_async_test_timeout())."""
    if timeout is None:
        timeout = get_async_test_timeout()

    def wrap(f):
        @functools.wraps(f)
        def wrapper(self, *args, **kwargs):
            async def run():
                result = f(self, *args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                return result

            # A timeout raises TimeoutError("Operation timed out after N seconds"), as in
            # Tornado.
            return self.io_loop.run_sync(run, timeout=timeout)

        wrapper.__test__ = True
        return wrapper

    return wrap(func) if func is not None else wrap


class ExpectLog(logging.Filter):
    """`with ExpectLog(logger, regex):` swallows matching log records and fails when none came
    (unless required=False)."""

    def __init__(self, logger, regex, required=True, level=None):
        super().__init__()
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.regex = re.compile(regex)
        self.required = required
        self.level = level
        self.matched = False
        self.logged_stack = False

    def filter(self, record):
        if record.exc_info:
            self.logged_stack = True
        if (self.level is None or record.levelno == self.level) and self.regex.match(
                record.getMessage()):
            self.matched = True
            return False
        return True

    def __enter__(self):
        self.logger.addFilter(self)
        return self

    def __exit__(self, typ, value, tb):
        self.logger.removeFilter(self)
        if not typ and self.required and not self.matched:
            raise Exception("did not get expected log message")


def main(**kwargs):
    """unittest.main() (Tornado's also parses its options first)."""
    unittest.main(module="__main__", **kwargs)
