"""eddy.httpclient.AsyncHTTPClient against an eddy application in the same loop (and a refused
port), as a Tornado program would use it."""

import asyncio
import errno
import json
import os
import re
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import unittest

import support  # noqa: F401  (quiet access log)

import eddy.httpclient
import eddy.httpserver
import eddy.netutil
import eddy.web
import eddy.websocket
from eddy.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPTimeoutError
from eddy.web import RequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import tls_certs  # noqa: E402
from tunnel import read_head, serve_connect  # noqa: E402


class Hello(RequestHandler):
    def get(self):
        self.set_header("X-Seen", self.request.headers.get("X-Test", "-"))
        self.write("hello")


class Echo(RequestHandler):
    def post(self):
        self.write({"got": self.request.body.decode(), "type": self.request.headers.get("Content-Type")})


class Redirect(RequestHandler):
    def get(self):
        self.redirect("/hello")


class Missing(RequestHandler):
    def get(self):
        self.send_error(404)


class Big(RequestHandler):
    def get(self):
        self.write("z" * 200000)


class Who(RequestHandler):
    """The User-Agent and Authorization the server received."""

    def get(self):
        self.write({"agent": self.request.headers.get("User-Agent"),
                    "auth": self.request.headers.get("Authorization")})


class Seen(RequestHandler):
    """What the server received: the Host header, the request target and the scheme."""

    def get(self):
        self.write({"host": self.request.headers.get("Host"), "uri": self.request.uri,
                    "protocol": self.request.protocol})


class WsEcho(eddy.websocket.WebSocketHandler):
    """Echoes each message after the handshake's Host and target (UnixSocketTest)."""

    def open(self):
        self.write_message("%s %s" % (self.request.host, self.request.uri))

    def on_message(self, message):
        self.write_message(message)


class ProxySeen(RequestHandler):
    """What the origin received behind a proxy: the request target, Host and any
    Proxy-Authorization (which must never reach it)."""

    def get(self):
        self.write({"uri": self.request.uri, "host": self.request.headers.get("Host"),
                    "proxy_auth": self.request.headers.get("Proxy-Authorization")})


class Pieces(RequestHandler):
    """Three flushed pieces, 50 ms apart."""

    async def get(self):
        for i in range(3):
            self.write("piece%d;" % i)
            await self.flush()
            await asyncio.sleep(0.05)


class Stall(RequestHandler):
    """A piece, then silence for 1.5 s (a stalled server), then the rest."""

    async def get(self):
        self.write("first;")
        await self.flush()
        await asyncio.sleep(1.5)
        self.write("late")


class AsyncHTTPClientTest(unittest.TestCase):
    def run_app(self, body):
        async def main():
            app = eddy.web.Application([(r"/hello", Hello), (r"/echo", Echo),
                                        (r"/redirect", Redirect), (r"/missing", Missing),
                                        (r"/big", Big), (r"/seen", Seen), (r"/who", Who),
                                        (r"/pieces", Pieces), (r"/stall", Stall)],
                                       compress_response=True)
            server = app.listen(0, "127.0.0.1")
            try:
                return await asyncio.wait_for(body("http://127.0.0.1:%d" % server.port), 20)
            finally:
                AsyncHTTPClient().close()
                server.stop()
        return asyncio.run(main())

    def test_get_headers_and_keep_alive(self):
        async def body(base):
            client = AsyncHTTPClient()
            self.assertIs(client, AsyncHTTPClient())  # one per IOLoop, as in Tornado
            r1 = await client.fetch(base + "/hello", headers={"X-Test": "yes"})
            r2 = await client.fetch(base + "/hello")
            return r1, r2
        r1, r2 = self.run_app(body)
        self.assertEqual((r1.code, r1.body, r1.headers["X-Seen"]), (200, b"hello", "yes"))
        self.assertEqual(r2.headers["X-Seen"], "-")
        self.assertTrue(r2.connection_reused, "the second fetch reused the pooled connection")

    def test_post_body_and_json(self):
        async def body(base):
            req = HTTPRequest(base + "/echo", method="POST", body="a=1",
                              headers={"Content-Type": "text/plain"})
            return await AsyncHTTPClient().fetch(req)
        r = self.run_app(body)
        self.assertEqual(r.code, 200)
        self.assertEqual(r.body, b'{"got": "a=1", "type": "text/plain"}')

    def test_allow_nonstandard_methods(self):
        # Tornado's keyword, both ways: True sends what eddy always sends; False refuses what
        # Tornado's client refuses, with its exceptions.
        async def body(base):
            client = AsyncHTTPClient()
            sent = await client.fetch(base + "/echo", method="POST",
                                      allow_nonstandard_methods=True, raise_error=False)
            refused = []
            for method, data in (("POST", None), ("GET", "x"), ("FOO", None)):
                try:
                    await client.fetch(base + "/echo", method=method, body=data,
                                       allow_nonstandard_methods=False)
                except (KeyError, ValueError) as e:
                    refused.append(type(e).__name__)
            return sent, refused
        sent, refused = self.run_app(body)
        self.assertEqual((sent.code, sent.body), (200, b'{"got": "", "type": null}'))
        self.assertEqual(refused, ["ValueError", "ValueError", "KeyError"])

    def test_redirect_followed_or_not(self):
        async def body(base):
            followed = await AsyncHTTPClient().fetch(base + "/redirect")
            kept = await AsyncHTTPClient().fetch(base + "/redirect", follow_redirects=False,
                                                 raise_error=False)
            return followed, kept
        followed, kept = self.run_app(body)
        self.assertEqual((followed.code, followed.body, followed.redirects), (200, b"hello", 1))
        self.assertTrue(followed.effective_url.endswith("/hello"))
        self.assertEqual((kept.code, kept.headers["Location"]), (302, "/hello"))

    def test_errors(self):
        async def body(base):
            client = AsyncHTTPClient()
            with self.assertRaises(HTTPClientError) as not_found:
                await client.fetch(base + "/missing")
            quiet = await client.fetch(base + "/missing", raise_error=False)
            with self.assertRaises(ConnectionRefusedError) as refused:  # as Tornado
                await client.fetch("http://127.0.0.1:%d/" % support.free_port(), connect_timeout=5,
                                   raise_error=False)
            with self.assertRaises(socket.gaierror) as unknown:  # '!': no DNS query is sent
                await client.fetch("http://eddy-test!/")
            self.assertTrue(unknown.exception.strerror.startswith("name resolution: eddy-test!: "))
            with self.assertRaises(ValueError):
                await client.fetch("htp://127.0.0.1/")
            # A server that takes the connection and never answers: Tornado's words for the
            # timeout that ran out.
            silent = socket.socket()
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            self.addCleanup(silent.close)
            with self.assertRaises(HTTPTimeoutError) as late:
                await client.fetch("http://127.0.0.1:%d/" % silent.getsockname()[1],
                                   request_timeout=0.3)
            self.assertEqual(str(late.exception), "Timeout during request")
            self.assertEqual(late.exception.code, 599)
            # With max_clients 1 and the slot held by a fetch the silent server never answers,
            # a second one times out without leaving the queue: Tornado's third wording.
            one_slot = AsyncHTTPClient(force_instance=True, max_clients=1)
            silent_url = "http://127.0.0.1:%d/" % silent.getsockname()[1]
            holder = asyncio.ensure_future(one_slot.fetch(silent_url, request_timeout=3))
            with self.assertRaises(HTTPTimeoutError) as queued:
                await one_slot.fetch(silent_url, connect_timeout=0.3, request_timeout=0.3)
            self.assertEqual(str(queued.exception), "Timeout in request queue")
            self.assertFalse(holder.done())  # it held the only slot throughout
            with self.assertRaises(HTTPTimeoutError) as held:
                await holder
            self.assertEqual(str(held.exception), "Timeout during request")
            one_slot.close()
            with self.assertRaises(HTTPClientError) as too_big:
                await client.fetch(base + "/big", max_body_size=1000)
            return not_found.exception, quiet, refused.exception, too_big.exception
        not_found, quiet, refused, too_big = self.run_app(body)
        self.assertEqual(not_found.code, 404)
        self.assertEqual(not_found.response.code, 404)
        self.assertEqual((quiet.code, type(quiet.error)), (404, HTTPClientError))
        self.assertEqual(refused.errno, errno.ECONNREFUSED)
        self.assertRegex(refused.strerror, r"^connect to 127\.0\.0\.1:\d+: Connection refused$")
        self.assertEqual(too_big.code, 599)

    def test_an_awaitable_streaming_callback_pauses_the_body(self):
        # The first piece's callback waits 0.3 s: the pieces the server sends meanwhile are held
        # (eddy_fetch_pause_body) and come after it, in order, and the body arrives whole.
        async def body(base):
            events = []

            async def slow(chunk):
                events.append(chunk)
                if len(events) == 1:
                    await asyncio.sleep(0.3)
                    events.append("resumed")
            r = await AsyncHTTPClient().fetch(base + "/pieces", streaming_callback=slow)

            async def fails(chunk):
                await asyncio.sleep(0)
                raise KeyError("stop after a wait")
            with self.assertRaises(KeyError):  # as a callback's own exception
                await AsyncHTTPClient().fetch(base + "/pieces", streaming_callback=fails)
            return r, events
        r, events = self.run_app(body)
        self.assertEqual((r.code, r.body), (200, b""))
        self.assertEqual(events[1], "resumed")
        self.assertEqual(b"".join(e for e in events if e != "resumed"), b"piece0;piece1;piece2;")

    def test_read_timeout(self):
        # A server silent for 1.5 s after the first piece: read_timeout=0.3 ends the fetch; the
        # request timeout alone (5 s) would have let it finish.
        async def body(base):
            with self.assertRaises(HTTPTimeoutError) as stalled:
                await AsyncHTTPClient().fetch(base + "/stall", read_timeout=0.3, request_timeout=5)
            # Not while paused: a consumer slower than the read timeout is not the server's.
            chunks = []

            async def slow(chunk):
                chunks.append(chunk)
                await asyncio.sleep(0.5)
            r = await AsyncHTTPClient().fetch(base + "/pieces", read_timeout=0.3,
                                              streaming_callback=slow)
            return stalled.exception, r, chunks
        stalled, r, chunks = self.run_app(body)
        # The read timeout's words (the request timeout's are "Timeout during request"; with
        # neither firing the fetch would have completed after the server's 1.5 s).
        self.assertEqual((stalled.code, str(stalled)), (599, "Timeout while reading"))
        self.assertEqual((r.code, b"".join(chunks)), (200, b"piece0;piece1;piece2;"))

    def test_streaming_and_header_callbacks(self):
        async def body(base):
            chunks, lines = [], []
            r = await AsyncHTTPClient().fetch(base + "/big", streaming_callback=chunks.append,
                                              header_callback=lines.append)

            def fail(chunk):
                raise KeyError("stop here")
            with self.assertRaises(KeyError):  # as Tornado: the callback's exception ends it
                await AsyncHTTPClient().fetch(base + "/big", streaming_callback=fail)
            return r, chunks, lines
        r, chunks, lines = self.run_app(body)
        self.assertEqual((r.code, r.body), (200, b""))
        self.assertEqual(b"".join(chunks), b"z" * 200000)
        self.assertEqual(lines[0], "HTTP/1.1 200 OK\r\n")
        self.assertEqual(lines[-1], "\r\n")
        self.assertIn("Content-Type: text/html; charset=UTF-8\r\n", lines)

    def test_body_producer(self):
        async def body(base):
            async def produce(write):
                for part in ("a=", "1", "23"):
                    await write(part)
                    await asyncio.sleep(0)

            chunked = await AsyncHTTPClient().fetch(base + "/echo", method="POST",
                                                    headers={"Content-Type": "text/plain"},
                                                    body_producer=produce)
            sized = await AsyncHTTPClient().fetch(base + "/echo", method="POST",
                                                  headers={"Content-Length": "5"},
                                                  body_producer=produce)

            async def broken(write):
                await write("x")
                raise KeyError("producer failed")
            with self.assertRaises(KeyError):
                await AsyncHTTPClient().fetch(base + "/echo", method="POST", body_producer=broken)
            return json.loads(chunked.body), json.loads(sized.body)
        chunked, sized = self.run_app(body)
        self.assertEqual(chunked, {"got": "a=123", "type": "text/plain"})
        self.assertEqual(sized["got"], "a=123")

    def test_body_producer_write_waits_for_the_flush(self):
        # As Tornado's, write() resolves once its bytes were flushed: a producer awaiting each
        # write goes no faster than the server reads. It resolved at once, and 64 MiB went into
        # memory before the server had read a byte.
        import threading
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.addCleanup(srv.close)
        piece, pieces = 1 << 20, 64
        got = {}

        def serve():
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(20)
                started.wait(10)
                while not stalled.wait(0.05):
                    pass  # reads nothing until the producer has waited a while
                got["written_before_reading"] = len(written)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                body = bytearray(body)  # appending to bytes would copy 64 MiB per recv
                while len(body) < piece * pieces:
                    more = conn.recv(1 << 20)
                    if not more:
                        break
                    body += more
                got["body"] = len(body)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        written = []
        started, stalled = threading.Event(), threading.Event()
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()

        async def body(base):
            async def produce(write):
                started.set()
                for i in range(pieces):
                    pending = write(bytes([65 + i % 26]) * piece)
                    written.append(i)
                    try:
                        await asyncio.wait_for(asyncio.shield(pending), 1.0)
                    except asyncio.TimeoutError:
                        stalled.set()  # the server takes nothing: it reads from now on
                        await pending
                stalled.set()  # (never stalled: all of it went into memory)

            return await AsyncHTTPClient().fetch(
                "http://127.0.0.1:%d/" % srv.getsockname()[1], method="POST",
                headers={"Content-Length": str(piece * pieces)}, body_producer=produce,
                request_timeout=30)
        response = self.run_app(body)
        thread.join(10)
        self.assertEqual(response.code, 200)
        self.assertEqual(got["body"], piece * pieces)
        # The socket buffers and the piece in flight, not the whole 64 MiB.
        self.assertLess(got["written_before_reading"], pieces // 2, got)

    def test_user_agent_and_basic_auth(self):
        async def body(base):
            plain = await AsyncHTTPClient().fetch(base + "/who")
            named = await AsyncHTTPClient().fetch(base + "/who", user_agent="tester/1",
                                                  auth_username="ann", auth_password="pw")
            return json.loads(plain.body), json.loads(named.body)
        plain, named = self.run_app(body)
        self.assertTrue(plain["agent"].startswith("eddy/"))
        self.assertIsNone(plain["auth"])
        self.assertEqual(named, {"agent": "tester/1", "auth": "Basic YW5uOnB3"})
        with self.assertRaises(ValueError):
            eddy.httpclient.HTTPRequest("http://x/", auth_mode="digest")

    def test_gzip_decoded(self):
        async def body(base):
            return await AsyncHTTPClient().fetch(base + "/big")
        r = self.run_app(body)
        # The app compresses (compress_response) and the client asks for gzip by default: the
        # body arrives decoded, and smaller on the wire than the 200,000 bytes it decodes to.
        self.assertEqual(r.body, b"z" * 200000)

    def test_hostname_mapping(self):
        """Tornado's hostname_mapping: the server (reached at the mapped address) sees the URL's
        Host and an origin-form request target; effective_url stays the URL."""
        async def body(base):
            port = int(base.rsplit(":", 1)[1])
            mapped = AsyncHTTPClient(force_instance=True,
                                     hostname_mapping={"eddy.invalid": "127.0.0.1"})
            by_pair = AsyncHTTPClient(force_instance=True,
                                      hostname_mapping={("eddy.invalid", 80): ("127.0.0.1", port)})
            try:
                r1 = await mapped.fetch("http://eddy.invalid:%d/seen?x=1" % port)
                r2 = await by_pair.fetch("http://eddy.invalid/seen")
                moved = await mapped.fetch("http://eddy.invalid:%d/redirect" % port)
                direct = await mapped.fetch(base + "/seen")  # an unmapped host as usual
            finally:
                for c in (mapped, by_pair):
                    c.close()
            return port, r1, r2, moved, direct
        port, r1, r2, moved, direct = self.run_app(body)
        self.assertEqual(json.loads(r1.body),
                         {"host": "eddy.invalid:%d" % port, "uri": "/seen?x=1", "protocol": "http"})
        self.assertEqual(r1.effective_url, "http://eddy.invalid:%d/seen?x=1" % port)
        self.assertEqual(json.loads(r2.body),
                         {"host": "eddy.invalid", "uri": "/seen", "protocol": "http"})
        self.assertEqual(r2.effective_url, "http://eddy.invalid/seen")
        # A redirect on the same origin stays mapped.
        self.assertEqual((moved.code, moved.body, moved.effective_url),
                         (200, b"hello", "http://eddy.invalid:%d/hello" % port))
        self.assertEqual(json.loads(direct.body)["host"], "127.0.0.1:%d" % port)

    def test_client_arguments(self):
        """Tornado's client arguments: max_body_size / max_buffer_size, max_clients; the ones
        eddy cannot honour are refused, not ignored."""
        async def body(base):
            small = AsyncHTTPClient(force_instance=True, max_buffer_size=1000)
            smaller = AsyncHTTPClient(force_instance=True, max_buffer_size=10**6, max_body_size=1000)
            try:
                with self.assertRaises(HTTPClientError) as too_big:
                    await small.fetch(base + "/big")
                with self.assertRaises(HTTPClientError) as too_big2:
                    await smaller.fetch(base + "/big")
                fits = await small.fetch(base + "/big", max_body_size=300000)  # the request's wins
            finally:
                for c in (small, smaller):
                    c.close()
            return too_big.exception, too_big2.exception, fits
        too_big, too_big2, fits = self.run_app(body)
        self.assertEqual((too_big.code, too_big2.code), (599, 599))
        self.assertEqual(len(fits.body), 200000)

    def test_unsupported_client_arguments_refused(self):
        async def body(base):
            for kwargs in ({"resolver": object()}, {"max_header_size": 100}, {"bogus": 1}):
                with self.assertRaises(TypeError):
                    AsyncHTTPClient(force_instance=True, **kwargs)
            shared = AsyncHTTPClient(max_clients=3)
            with self.assertLogs("eddy.general", "WARNING") as logs:
                again = AsyncHTTPClient(max_clients=7)  # as Tornado: the shared one, unchanged
            return shared, again, logs.output
        shared, again, output = self.run_app(body)
        self.assertIs(shared, again)
        self.assertEqual(shared._max_clients, 3)
        self.assertIn("max_clients ignored", output[0])


class RecordingProxy(socketserver.ThreadingTCPServer):
    """A small HTTP proxy on a thread, as tests/integration/test_client.py's: CONNECT tunnels
    (tunnel.serve_connect) and absolute-form requests, which it passes on in origin-form without
    Proxy-Authorization (the proxy's own credentials) and with Connection: close. `heads` keeps
    each request line with its header lines."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.heads = []  # (request line, header block as text)
        super().__init__(("127.0.0.1", 0), RecordingProxyHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def lines(self):
        return [line for line, _ in self.heads]

    def stop(self):
        self.shutdown()
        self.server_close()


class RecordingProxyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.connection.settimeout(20)
        line, head = read_head(self.rfile)
        if not line:
            return
        self.server.heads.append((line.strip(), b"".join(head).decode()))
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            serve_connect(self, target)
            return
        m = re.match(r"http://([^/:]+):(\d+)(/.*)", target)
        upstream = socket.create_connection((m.group(1), int(m.group(2))), timeout=20)
        kept = [h for h in head
                if not h.lower().startswith((b"connection", b"proxy-authorization"))]
        upstream.sendall(("%s %s HTTP/1.1\r\n" % (method, m.group(3))).encode() + b"".join(kept)
                         + b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = upstream.recv(65536)
            if not chunk:
                break
            data += chunk
        upstream.close()
        self.wfile.write(data.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))


class UnixSocketTest(unittest.TestCase):
    """eddy's unix_socket extension (curl's --unix-socket): the fetch connects to an eddy
    server listening on a Unix socket while the URL gives Host, target and scheme."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_on_socket(self, body, tls=False):
        c = self.certs
        path = os.path.join(self.tmp.name, "tls.sock" if tls else "app.sock")

        async def main():
            app = eddy.web.Application([(r"/seen", Seen), (r"/echo", Echo),
                                        (r"/redirect", Redirect), (r"/hello", Hello),
                                        (r"/ws", WsEcho)])
            kwargs = {"ssl_options": {"certfile": c["server.crt"], "keyfile": c["server.key"]}} \
                if tls else {}
            server = eddy.httpserver.HTTPServer(app, **kwargs)
            sock = eddy.netutil.bind_unix_socket(path)
            server.add_socket(sock)
            sock.close()
            client = AsyncHTTPClient(force_instance=True)
            try:
                return await asyncio.wait_for(body(client, path), 20)
            finally:
                client.close()
                server.stop()
        return asyncio.run(main())

    def test_get_post_redirect_and_keep_alive(self):
        async def body(client, path):
            r1 = await client.fetch("http://app.invalid/seen?x=1", unix_socket=path)
            r2 = await client.fetch(HTTPRequest("http://app.invalid/echo", method="POST",
                                                body="a=1", unix_socket=path))
            moved = await client.fetch("http://app.invalid/redirect", unix_socket=path)
            return r1, r2, moved
        r1, r2, moved = self.run_on_socket(body)
        self.assertEqual(json.loads(r1.body),
                         {"host": "app.invalid", "uri": "/seen?x=1", "protocol": "http"})
        self.assertEqual(r1.effective_url, "http://app.invalid/seen?x=1")
        self.assertEqual(json.loads(r2.body)["got"], "a=1")
        self.assertTrue(r2.connection_reused, "the second fetch reused the Unix connection")
        # A redirect within the origin stays on the socket (app.invalid resolves nowhere).
        self.assertEqual((moved.code, moved.body), (200, b"hello"))

    def test_https_over_the_socket_checks_the_url_host(self):
        c = self.certs

        async def body(client, path):
            ok = await client.fetch("https://localhost/seen", unix_socket=path,
                                    ca_certs=c["ca.crt"])
            with self.assertRaises(ssl.SSLError) as bad_name:
                await client.fetch("https://other.invalid/seen", unix_socket=path,
                                   ca_certs=c["ca.crt"])
            return ok, bad_name.exception
        ok, bad_name = self.run_on_socket(body, tls=True)
        self.assertEqual(json.loads(ok.body),
                         {"host": "localhost", "uri": "/seen", "protocol": "https"})
        self.assertIn("hostname mismatch", str(bad_name))

    def test_failures_and_refusals(self):
        async def body(client, path):
            missing = path + ".missing"
            with self.assertRaises(FileNotFoundError) as gone:
                await client.fetch("http://localhost/", unix_socket=missing)
            not_socket = os.path.join(self.tmp.name, "plain")
            open(not_socket, "w").close()
            with self.assertRaises(ConnectionRefusedError) as refused:
                await client.fetch("http://localhost/", unix_socket=not_socket)
            with self.assertRaises(ValueError):
                await client.fetch("http://localhost/", unix_socket="/" + "a" * 200)
            return missing, gone.exception, refused.exception
        missing, gone, refused = self.run_on_socket(body)
        self.assertEqual(gone.errno, errno.ENOENT)
        self.assertIn("unix:" + missing, str(gone))
        self.assertIn("not a socket", str(refused))
        with self.assertRaises(ValueError):
            HTTPRequest("http://localhost/", unix_socket="")

    def test_websocket_over_the_socket(self):
        """websocket_connect with an HTTPRequest's unix_socket (eddy_ws_options_set_unix_socket):
        the handshake and messages go over the socket, the URL giving Host and target."""
        async def body(client, path):
            conn = await eddy.websocket.websocket_connect(
                HTTPRequest("ws://app.invalid/ws?x=1", unix_socket=path))
            first = await conn.read_message()
            conn.write_message("over the socket")
            echoed = await conn.read_message()
            conn.close()
            with self.assertRaises(FileNotFoundError) as gone:
                await eddy.websocket.websocket_connect(
                    HTTPRequest("ws://localhost/ws", unix_socket=path + ".missing"))
            with self.assertRaises(ValueError):
                await eddy.websocket.websocket_connect(
                    HTTPRequest("ws://localhost/ws", unix_socket="/" + "a" * 200))
            return first, echoed, gone.exception
        first, echoed, gone = self.run_on_socket(body)
        self.assertEqual((first, echoed), ("app.invalid /ws?x=1", "over the socket"))
        self.assertEqual(gone.errno, errno.ENOENT)
        self.assertIn("unix:", str(gone))

    def test_wss_over_the_socket_checks_the_url_host(self):
        c = self.certs

        async def body(client, path):
            conn = await eddy.websocket.websocket_connect(
                HTTPRequest("wss://localhost/ws", unix_socket=path, ca_certs=c["ca.crt"]))
            first = await conn.read_message()
            conn.close()
            with self.assertRaises(ssl.SSLError) as bad_name:
                await eddy.websocket.websocket_connect(
                    HTTPRequest("wss://other.invalid/ws", unix_socket=path,
                                ca_certs=c["ca.crt"]))
            return first, bad_name.exception
        first, bad_name = self.run_on_socket(body, tls=True)
        self.assertEqual(first, "localhost /ws")
        self.assertIn("hostname mismatch", str(bad_name))


class ProxyTest(unittest.TestCase):
    """Tornado's proxy_* request arguments (curl_httpclient's): http through the proxy in
    absolute-form, https through a CONNECT tunnel; proxy_username/proxy_password as Basic
    Proxy-Authorization for the proxy only."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.proxy = RecordingProxy()
        self.addCleanup(self.proxy.stop)

    def run_origin(self, body, tls=False):
        c = self.certs

        async def main():
            app = eddy.web.Application([(r"/seen", ProxySeen), (r"/redirect", Redirect),
                                        (r"/hello", Hello)])
            kwargs = {"ssl_options": {"certfile": c["server.crt"], "keyfile": c["server.key"]}} \
                if tls else {}
            server = app.listen(0, "127.0.0.1", **kwargs)
            try:
                return await asyncio.wait_for(body(server.port), 20)
            finally:
                AsyncHTTPClient().close()
                server.stop()
        return asyncio.run(main())

    def test_http_goes_to_the_proxy_in_absolute_form(self):
        async def body(port):
            client = AsyncHTTPClient()
            proxied = await client.fetch("http://127.0.0.1:%d/seen?x=1" % port,
                                         proxy_host="127.0.0.1", proxy_port=self.proxy.port,
                                         proxy_username="ann", proxy_password="pw")
            direct = await client.fetch("http://127.0.0.1:%d/seen" % port)
            # A redirect keeps the proxy (eddy_client_set_proxy: a started fetch keeps its own).
            moved = await client.fetch(HTTPRequest("http://127.0.0.1:%d/redirect" % port,
                                                   proxy_host="http://127.0.0.1/",  # as curl's
                                                   proxy_port=self.proxy.port))
            return port, proxied, direct, moved
        port, proxied, direct, moved = self.run_origin(body)
        self.assertEqual(json.loads(proxied.body),
                         {"uri": "/seen?x=1", "host": "127.0.0.1:%d" % port, "proxy_auth": None})
        self.assertEqual(proxied.effective_url, "http://127.0.0.1:%d/seen?x=1" % port)
        self.assertEqual(json.loads(direct.body)["proxy_auth"], None)
        self.assertEqual((moved.code, moved.body), (200, b"hello"))
        origin = "http://127.0.0.1:%d" % port
        self.assertEqual(self.proxy.lines(), ["GET %s/seen?x=1 HTTP/1.1" % origin,
                                              "GET %s/redirect HTTP/1.1" % origin,
                                              "GET %s/hello HTTP/1.1" % origin])
        # RFC 7617 Basic, for the proxy: "ann:pw".
        self.assertIn("Proxy-Authorization: Basic YW5uOnB3\r\n", self.proxy.heads[0][1])
        self.assertNotIn("Proxy-Authorization", self.proxy.heads[1][1])

    def test_https_goes_through_a_connect_tunnel(self):
        c = self.certs

        async def body(port):
            return await AsyncHTTPClient().fetch(
                "https://localhost:%d/seen" % port, ca_certs=c["ca.crt"],
                proxy_host="127.0.0.1", proxy_port=self.proxy.port,
                proxy_username="ann", proxy_password="pw")
        r = self.run_origin(body, tls=True)
        port = json.loads(r.body)["host"].rsplit(":", 1)[1]
        # TLS with the origin inside the tunnel: its certificate checked against "localhost";
        # the credentials went on the CONNECT only, never into the tunnel.
        self.assertEqual(json.loads(r.body),
                         {"uri": "/seen", "host": "localhost:%s" % port, "proxy_auth": None})
        line, head = self.proxy.heads[0]
        self.assertEqual(line, "CONNECT localhost:%s HTTP/1.1" % port)
        self.assertIn("Proxy-Authorization: Basic YW5uOnB3\r\n", head)
        self.assertEqual(len(self.proxy.heads), 1)

    def test_client_defaults_and_one_inner_client_per_proxy(self):
        other = RecordingProxy()
        self.addCleanup(other.stop)

        async def body(port):
            client = AsyncHTTPClient(force_instance=True, defaults={
                "proxy_host": "127.0.0.1", "proxy_port": self.proxy.port})
            try:
                url = "http://127.0.0.1:%d/hello" % port
                await client.fetch(url)
                await client.fetch(HTTPRequest(url))  # defaults fill an HTTPRequest's Nones
                await client.fetch(url, proxy_port=other.port)  # the request's own wins
                inner = len(client._tls_clients)
            finally:
                client.close()
            closed = len(client._tls_clients)
            with self.assertRaises(HTTPClientError):
                await client.fetch(url)
            return inner, closed
        inner, closed = self.run_origin(body)
        self.assertEqual(len(self.proxy.lines()), 2)
        self.assertEqual(len(other.lines()), 1)
        self.assertEqual((inner, closed), (2, 0))  # made on demand, freed by close()

    def test_refused_arguments_and_a_dead_proxy(self):
        for kwargs in ({"proxy_host": "127.0.0.1", "proxy_port": 1, "proxy_auth_mode": "digest"},
                       {"proxy_host": "127.0.0.1"}, {"proxy_port": 3128},
                       {"proxy_host": "127.0.0.1", "proxy_port": 0},
                       {"proxy_host": "a b", "proxy_port": 3128},
                       {"proxy_host": "socks5://127.0.0.1", "proxy_port": 1080},
                       {"proxy_host": "user@127.0.0.1", "proxy_port": 3128}):
            with self.assertRaises(ValueError, msg=kwargs):
                HTTPRequest("http://127.0.0.1/", **kwargs)

        async def body(port):
            client = AsyncHTTPClient()
            with self.assertRaises(ValueError):  # the mode merged from defaults is checked too
                mapped = AsyncHTTPClient(force_instance=True, defaults={"proxy_auth_mode": "ntlm"})
                try:
                    await mapped.fetch("http://127.0.0.1:%d/hello" % port)
                finally:
                    mapped.close()
            mapped = AsyncHTTPClient(force_instance=True,
                                     hostname_mapping={"eddy.invalid": "127.0.0.1"})
            try:
                with self.assertRaises(ValueError) as mapping:  # the proxy connects, not eddy
                    await mapped.fetch("http://eddy.invalid:%d/hello" % port,
                                       proxy_host="127.0.0.1", proxy_port=self.proxy.port)
            finally:
                mapped.close()
            dead = socket.socket()
            dead.bind(("127.0.0.1", 0))
            dead_port = dead.getsockname()[1]
            dead.close()
            with self.assertRaises(ConnectionRefusedError):
                await client.fetch("http://127.0.0.1:%d/hello" % port,
                                   proxy_host="127.0.0.1", proxy_port=dead_port)
            # A proxy that refuses the tunnel: 599, with the proxy's status line in the message.
            refusing = socket.socket()
            refusing.bind(("127.0.0.1", 0))
            refusing.listen()

            def refuse():
                conn, _ = refusing.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
            threading.Thread(target=refuse, daemon=True).start()
            try:
                with self.assertRaises(HTTPClientError) as refused:
                    await client.fetch("https://localhost:%d/hello" % port,
                                       proxy_host="127.0.0.1",
                                       proxy_port=refusing.getsockname()[1])
            finally:
                refusing.close()
            return str(mapping.exception), refused.exception
        mapping, refused = self.run_origin(body)
        self.assertIn("hostname_mapping", mapping)
        self.assertEqual(refused.code, 599)
        self.assertIn("the proxy refused the tunnel: HTTP/1.1 407", str(refused))
        self.assertEqual(self.proxy.heads, [])


class ConcurrencyCounter(socketserver.ThreadingTCPServer):
    """An origin (and, for absolute-form requests, a stand-in proxy) on a thread that holds each
    request `hold` seconds before its answer and counts how many it holds at once (`most`):
    what max_clients must bound. `lines` keeps each request line in arrival order."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hold):
        self.hold = hold
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.lines = []
        super().__init__(("127.0.0.1", 0), ConcurrencyCounterHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


class ConcurrencyCounterHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.connection.settimeout(20)
        server = self.server
        line, _ = read_head(self.rfile)
        if not line:
            return
        with server.lock:
            server.lines.append(line.strip())
            server.now += 1
            server.most = max(server.most, server.now)
        threading.Event().wait(server.hold)
        with server.lock:  # before the answer, which may let the client's next request come
            server.now -= 1
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


class MaxClientsTest(unittest.TestCase):
    """Tornado's max_clients bounds all the fetches of one AsyncHTTPClient, the rest waiting in
    its queue. eddy runs a request with TLS arguments or a proxy on an inner eddy client of its
    own (one per setting), each with its own max_clients: the bound must hold across them."""

    def setUp(self):
        self.server = ConcurrencyCounter(hold=0.3)
        self.addCleanup(self.server.stop)

    def run_client(self, body, **kwargs):
        async def main():
            client = AsyncHTTPClient(force_instance=True, **kwargs)
            try:
                return await asyncio.wait_for(body(client), 30)
            finally:
                client.close()
        return asyncio.run(main())

    def kinds(self, path):
        """A fetch's arguments for each of three inner clients: the main one, one for
        validate_cert=False, one for the proxy (the counter answers absolute-form too)."""
        url = "http://127.0.0.1:%d/%s" % (self.server.port, path)
        return [(url, {}), (url, {"validate_cert": False}),
                ("http://origin.invalid/%s" % path,
                 {"proxy_host": "127.0.0.1", "proxy_port": self.server.port})]

    def test_max_clients_bounds_fetches_across_tls_settings_and_proxies(self):
        async def body(client):
            fetches = [client.fetch(url, **kw) for i in range(3) for url, kw in self.kinds(i)]
            responses = await asyncio.gather(*fetches)
            return [r.code for r in responses], len(client._tls_clients)
        codes, inner = self.run_client(body, max_clients=2)
        self.assertEqual(codes, [200] * 9)
        self.assertEqual(inner, 2)
        # Two at a time, whichever inner client each went through (it was six: two each).
        self.assertEqual(self.server.most, 2)

    def test_the_queue_keeps_tornados_timeouts_cancel_and_close(self):
        self.server.hold = 1.0

        async def body(client):
            (url, _), (_, tls_kw), (proxied, proxy_kw) = self.kinds("held")
            holder = asyncio.ensure_future(client.fetch(url))
            # Queued behind it on another inner client: the queue's timeout (the shorter of
            # connect_timeout and request_timeout) ends it there, in Tornado's words.
            with self.assertRaises(HTTPTimeoutError) as queued:
                await client.fetch(url, request_timeout=0.2, **tls_kw)
            # The request timeout counts from fetch(): 0.8 s of it go in the queue, so the
            # 1 s answer is too late for a 1.4 s request_timeout.
            with self.assertRaises(HTTPTimeoutError) as late:
                await client.fetch(proxied, request_timeout=1.4, connect_timeout=5, **proxy_kw)
            await holder
            # A queued fetch whose future is cancelled never starts; close() ends the others
            # still queued as it ends those running (599), and none of them reaches the server.
            seen = len(self.server.lines)
            running = asyncio.ensure_future(client.fetch(url))
            cancelled = asyncio.ensure_future(client.fetch(url + "?cancelled", **tls_kw))
            closed = asyncio.ensure_future(client.fetch(url + "?closed", **proxy_kw))
            await asyncio.sleep(0.3)
            cancelled.cancel()
            await asyncio.sleep(0.1)
            client.close()
            for f in (running, closed):
                with self.assertRaises(HTTPClientError) as ended:
                    await f
                self.assertEqual(ended.exception.code, 599)
            return str(queued.exception), str(late.exception), self.server.lines[seen:]
        queued, late, lines = self.run_client(body, max_clients=1)
        self.assertEqual(queued, "Timeout in request queue")
        self.assertEqual(late, "Timeout during request")
        self.assertEqual(lines, ["GET /held HTTP/1.1"])  # the running one only


class HostnameMappingTLSTest(unittest.TestCase):
    """hostname_mapping of an https URL: eddy connects to 127.0.0.1, and the certificate (made
    for other.test by tls_certs' CA) is checked against the URL's name, as in Tornado."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_https_mapping_checks_the_urls_name(self):
        c = self.certs

        async def main():
            app = eddy.web.Application([(r"/seen", Seen)])
            server = app.listen(0, "127.0.0.1", ssl_options={"certfile": c["other.crt"],
                                                             "keyfile": c["other.key"]})
            port = server.port
            client = AsyncHTTPClient(force_instance=True, hostname_mapping={
                "other.test": "127.0.0.1", "wrong.test": "127.0.0.1"})
            try:
                url = "https://other.test:%d/seen" % port
                good = await client.fetch(url, ca_certs=c["ca.crt"])
                with self.assertRaises(ssl.SSLError) as wrong:  # not the certificate's name
                    await client.fetch("https://wrong.test:%d/seen" % port, ca_certs=c["ca.crt"])
            finally:
                client.close()
                server.stop()
            return port, url, good, wrong.exception
        port, url, good, wrong = asyncio.run(asyncio.wait_for(main(), 20))
        self.assertEqual(json.loads(good.body),
                         {"host": "other.test:%d" % port, "uri": "/seen", "protocol": "https"})
        self.assertEqual(good.effective_url, url)
        self.assertIn("certificate verification failed", str(wrong))
        self.assertIn("hostname mismatch", str(wrong))  # eddy_fetch_error_detail


if __name__ == "__main__":
    unittest.main()
