"""eddy.websocket.websocket_connect (Tornado's client API) against an eddy Python WebSocket
server, the C conformance echo server (examples/echo_server.c, /ws) and sockets that refuse,
stall or speak TLS with a certificate nobody trusts; host references are released."""

import asyncio
import contextlib
import gc
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

import support

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import ws_wire  # noqa: E402  (raw frames, shared with the C server's tests)

import eddy.web
from eddy.httpclient import HTTPClientError, HTTPRequest
from eddy.web import RequestHandler
from eddy.websocket import (WebSocketClientConnection, WebSocketClosedError, WebSocketError,
                            WebSocketHandler, websocket_connect)


@contextlib.contextmanager
def one_connection_server(handle):
    """A loopback listener whose first connection `handle(conn)` serves on a thread (socket
    errors ignored: the client may have given up); yields its port. Bounded: the accept waits
    20 s, the connection 10 s per read."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)

    def serve_one():
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                handle(conn)
        except (OSError, EOFError):
            pass
    t = threading.Thread(target=serve_one, daemon=True)
    t.start()
    try:
        yield listener.getsockname()[1]
    finally:
        t.join(20)
        listener.close()


class Echo(WebSocketHandler):
    def select_subprotocol(self, subprotocols):
        return "chat" if "chat" in subprotocols else None

    def open(self):
        token = self.request.headers.get("X-Token")
        if token:
            self.write_message("token=" + token)

    def on_message(self, message):
        if message == "close-me":
            self.close(4001, "asked")
        elif message == "big":
            self.write_message("x" * 2000)
        else:
            self.write_message(message, binary=isinstance(message, bytes))

    def on_ping(self, data):
        self.write_message("server saw ping " + data.decode())


class Plain(RequestHandler):
    def get(self):
        self.write("not a websocket")


def make_app():
    return eddy.web.Application([(r"/echo", Echo), (r"/plain", Plain)])


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


class ClientTest(support.AppServerTestCase):
    make_app = make_app

    def test_echo_text_binary_json_then_client_close(self):
        async def go():
            conn = await websocket_connect(self.url + "/echo")
            self.assertIsInstance(conn, WebSocketClientConnection)
            got = []
            for message in ("héllo", "", b"\x00\xff" * 40000, {"a": [1, 2]}):
                conn.write_message(message, binary=isinstance(message, bytes))
                got.append(await conn.read_message())
            conn.close(1000, "done")
            after = [await conn.read_message(), await conn.read_message()]
            with self.assertRaises(WebSocketClosedError):
                conn.write_message("too late")
            return got, after, conn.close_code, conn.selected_subprotocol
        got, after, code, proto = run(go())
        self.assertEqual(got, ["héllo", "", b"\x00\xff" * 40000, '{"a": [1, 2]}'])
        self.assertEqual(after, [None, None])  # None once closed, every time
        self.assertEqual(code, 1000)  # the server echoed our code
        self.assertIsNone(proto)

    def test_server_close_code_and_reason(self):
        async def go():
            conn = await websocket_connect(self.url + "/echo")
            conn.write_message("close-me")
            return await conn.read_message(), conn.close_code, conn.close_reason
        self.assertEqual(run(go()), (None, 4001, "asked"))

    def test_subprotocols(self):
        async def go(protocols):
            conn = await websocket_connect(self.url + "/echo", subprotocols=protocols)
            conn.close()
            return conn.selected_subprotocol
        self.assertEqual(run(go(["x", "chat"])), "chat")
        self.assertIsNone(run(go(["x"])))

    def test_on_message_callback_and_callback(self):
        async def go():
            messages, connected = [], asyncio.get_running_loop().create_future()
            done = asyncio.get_running_loop().create_future()

            def on_message(m):
                messages.append(m)
                if m is None:
                    done.set_result(None)
            conn = await websocket_connect(self.url + "/echo", on_message_callback=on_message,
                                           callback=connected.set_result)
            conn.write_message("one")
            conn.write_message("close-me")
            await done
            fut = await connected  # callback got the (done) future
            return messages, fut.result() is conn
        self.assertEqual(run(go()), (["one", None], True))

    def test_http_request_headers_and_refusals(self):
        async def go():
            req = HTTPRequest(self.url + "/echo", headers={"X-Token": "abc"})
            conn = await websocket_connect(req)
            first = await conn.read_message()
            conn.close()
            errors = []
            for request in (HTTPRequest(self.url + "/echo", headers={"Origin": "http://evil.example"}),
                            self.url + "/missing", self.url + "/plain"):
                try:
                    await websocket_connect(request)
                except (HTTPClientError, WebSocketError) as e:
                    errors.append((type(e), getattr(e, "code", None), str(e)))
            return first, errors
        # As Tornado: HTTPClientError for a non-2xx answer, WebSocketError for a 2xx page (with
        # eddy's detail of what the server answered).
        self.assertEqual(run(go()), ("token=abc", [
            (HTTPClientError, 403, "HTTP 403: Forbidden"),
            (HTTPClientError, 404, "HTTP 404: Not Found"),
            (WebSocketError, None, "Non-websocket response: the server answered 200 OK")]))

    def test_ping_reaches_on_ping_and_pong_comes_back(self):
        async def go():
            conn = await websocket_connect(self.url + "/echo")
            pongs = []
            conn.on_pong = pongs.append
            conn.ping(b"hi")
            seen = await conn.read_message()
            with self.assertRaises(ValueError):
                conn.ping(b"x" * 126)  # a control frame holds at most 125 bytes
            conn.close()
            await conn.read_message()
            return seen, pongs
        self.assertEqual(run(go()), ("server saw ping hi", [b"hi"]))

    def test_max_message_size(self):
        async def go():
            conn = await websocket_connect(self.url + "/echo", max_message_size=1000)
            conn.write_message("big")
            return await conn.read_message(), conn.close_code
        self.assertEqual(run(go()), (None, 1009))

    def test_connection_refused(self):
        port = support.free_port()

        async def go():
            await websocket_connect("ws://127.0.0.1:%d/echo" % port)
        with self.assertRaises(ConnectionRefusedError) as cm:
            run(go())
        self.assertEqual(str(cm.exception),
                         "[Errno 111] connect to 127.0.0.1:%d: Connection refused" % port)

    def test_connect_timeout(self):
        # A listening socket that never answers the handshake.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            async def go():
                await websocket_connect("ws://127.0.0.1:%d/" % s.getsockname()[1],
                                        connect_timeout=0.3)
            with self.assertRaises(HTTPClientError) as cm:
                run(go())
            self.assertEqual(cm.exception.code, 599)
            self.assertIn("Timeout while connecting: no answer to the WebSocket handshake within "
                          "0.3 s", str(cm.exception))
        finally:
            s.close()

    def test_broken_handshake_says_what_was_wrong(self):
        # A server answering 101 without "Upgrade: websocket": WebSocketError, as Tornado's,
        # whose message says which check failed (eddy_websocket_connect_error_detail).
        def answer_without_upgrade(conn):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")

        with one_connection_server(answer_without_upgrade) as port:
            async def go():
                await websocket_connect("ws://127.0.0.1:%d/" % port)
            with self.assertRaises(WebSocketError) as cm:
                run(go())
            self.assertEqual(str(cm.exception), "Non-websocket response: no Upgrade: websocket "
                             "in the handshake response")

    def test_compression_options_level_and_mem_level(self):
        """Tornado's compression_options keys set the client's compressor: level 0 sends stored
        blocks (longer than the message), the default compresses it to under a quarter; both
        inflate to the message. Out-of-range values fail the connect with ValueError."""
        text = "".join("word%d " % (i % 50) for i in range(3000))

        async def go(port, options):
            conn = await websocket_connect("ws://127.0.0.1:%d/" % port,
                                           compression_options=options)
            conn.write_message(text)
            report = await conn.read_message()
            await conn.read_message()  # None: the server closed
            return report

        sizes = {}
        for name, options in (("stored", {"compression_level": 0, "mem_level": 1}),
                              ("default", {})):
            with one_connection_server(ws_wire.report_first_deflate_frame) as port:
                rsv1, size, message = run(go(port, options)).split(" ", 2)
            self.assertEqual((rsv1, message), ("64", text), name)
            sizes[name] = int(size)
        self.assertGreater(sizes["stored"], len(text), sizes)
        self.assertGreater(len(text), 4 * sizes["default"], sizes)

        for options in ({"compression_level": 10}, {"compression_level": -2},
                        {"mem_level": 0}, {"mem_level": 10}):
            async def bad():
                await websocket_connect(self.url + "/echo", compression_options=options)
            with self.assertRaisesRegex(ValueError, next(iter(options))):
                run(bad())

    def test_bad_url(self):
        async def go():
            await websocket_connect("http://127.0.0.1:1/")
        with self.assertRaises(ValueError):
            run(go())

    def test_wss_verifies_the_certificate(self):
        with tempfile.TemporaryDirectory() as d:
            key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                            "-keyout", key, "-out", crt], check=True, timeout=30,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)

            # A TLS server whose self-signed certificate nobody trusts.
            def handshake_and_wait(conn):
                try:
                    ctx.wrap_socket(conn, server_side=True).recv(10)
                except (ssl.SSLError, OSError):
                    pass

            with one_connection_server(handshake_and_wait) as port:
                async def go():
                    await websocket_connect("wss://127.0.0.1:%d/" % port)
                with self.assertRaises(ssl.SSLError) as cm:
                    run(go())
                # eddy's reason is in the message (eddy_websocket_connect_error_detail), in
                # the words of a fetch's ssl.SSLError.
                self.assertIn("certificate verification: self-signed certificate",
                              str(cm.exception))

    def test_references_released_over_repeated_connect_close(self):
        def on_message(m):
            pass

        async def cycles(n):
            for _ in range(n):
                conn = await websocket_connect(self.url + "/echo",
                                               on_message_callback=on_message)
                conn.write_message("x")
                conn.close(1000)
                while conn.close_code is None:  # set when the close handshake completed
                    await asyncio.sleep(0.005)
            try:
                await websocket_connect("ws://127.0.0.1:%d/" % support.free_port(),
                                        on_message_callback=on_message)
            except ConnectionRefusedError:
                pass

        def live():
            gc.collect()
            return sum(1 for o in gc.get_objects() if isinstance(o, WebSocketClientConnection))
        run(cycles(5))
        base_live = live()
        base_refs = sys.getrefcount(on_message)
        run(cycles(60))
        self.assertEqual(live(), base_live)
        self.assertEqual(sys.getrefcount(on_message), base_refs)
        self.assertEqual(base_live, 0)


class EchoServerTest(unittest.TestCase):
    """The C conformance echo server's /ws (its path comes from ctest: EDDY_ECHO_SERVER)."""

    @classmethod
    def setUpClass(cls):
        path = os.environ.get("EDDY_ECHO_SERVER")
        if not path:
            raise unittest.SkipTest("EDDY_ECHO_SERVER not set (examples not built)")
        cls.proc = subprocess.Popen([path, "--port", "0"], stdout=subprocess.PIPE, text=True)
        port = int(cls.proc.stdout.readline().rsplit(":", 1)[1])
        cls.url = "ws://127.0.0.1:%d/ws" % port

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(20)
        cls.proc.stdout.close()

    def test_echo_with_and_without_compression(self):
        async def go(compression):
            conn = await websocket_connect(self.url, compression_options=compression)
            got = []
            for message in ("héllo", b"\x01\x02" * 50000, "z" * 70000):
                conn.write_message(message, binary=isinstance(message, bytes))
                got.append(await conn.read_message())
            conn.close(4000, "bye")
            return got, await conn.read_message(), conn.close_code
        for compression in (None, {}):
            got, last, code = run(go(compression))
            self.assertEqual(got, ["héllo", b"\x01\x02" * 50000, "z" * 70000])
            self.assertIsNone(last)
            self.assertEqual(code, 4000)


if __name__ == "__main__":
    unittest.main()
