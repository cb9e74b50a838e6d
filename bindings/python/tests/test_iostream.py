"""eddy.iostream.IOStream against real `socket` peers (streams from a TCPServer, or
IOStream(sock) / PipeIOStream): the reads (read_until, read_bytes exact and partial, read_into,
read_until_close), many small writes and a large one with their futures, the close callback, a
peer's reset, read_until_regex, read_until's max_bytes, max_buffer_size and max_write_buffer_size, the errors of
reads and writes on closed streams, and that a closed stream's Python object is released (the C
stream let go of it), also when the asyncio loop was closed before the eddy loop; connect()
refused on streams that are connected already; STARTTLS (start_tls, both sides, against Python's
ssl module on the same socket after a plaintext exchange) and wait_for_handshake."""

import asyncio
import gc
import hashlib
import logging
import os
import re
import socket
import ssl
import struct
import sys
import tempfile
import unittest
import weakref

from tcp_support import (AsyncTestCase, StreamClosedError, closed_event, connect, in_thread,
                         read_all_from, recv_all, recv_exactly, serve)

import eddy.ioloop
import eddy.iostream
import eddy.tcpclient
import eddy.tcpserver

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import tls_certs  # noqa: E402
from raw_conn import read_line  # noqa: E402


class Reads(AsyncTestCase):
    def test_read_until_echoes_lines_split_anywhere(self):
        async def echo(stream, address):
            self.assertEqual(address[0], "127.0.0.1")
            lines = []
            while True:
                try:
                    line = await stream.read_until(b"\r\n")
                except StreamClosedError as e:
                    self.assertIsNone(e.real_error)  # a plain close by the peer
                    return lines
                lines.append(line)
                await stream.write(line.upper())

        def client(port):
            with connect(port) as s:
                s.sendall(b"one\r")
                s.sendall(b"\ntw")
                s.sendall(b"o\r\nthree\r\n")
                got = recv_exactly(s, len(b"ONE\r\nTWO\r\nTHREE\r\n"))
            return got

        async def main():
            server = serve(echo)
            got = await in_thread(client, server.port)
            self.assertEqual(got, b"ONE\r\nTWO\r\nTHREE\r\n")
            self.assertEqual(await server.result(), [b"one\r\n", b"two\r\n", b"three\r\n"])
            server.stop()

        self.run_async(main())

    def test_read_bytes_exact_then_partial(self):
        async def handler(stream, address):
            exact = await stream.read_bytes(5)
            await stream.write(b"ok\n")
            partial = await stream.read_bytes(100, partial=True)
            await stream.write(b"ok\n")
            zero = await stream.read_bytes(0)
            return exact, partial, zero

        def client(port):
            with connect(port) as s:
                s.sendall(b"123")
                s.sendall(b"45")
                first = recv_exactly(s, 3)
                s.sendall(b"xyz")  # fewer than 100: partial delivers them
                second = recv_exactly(s, 3)
                return first, second

        async def main():
            server = serve(handler)
            self.assertEqual(await in_thread(client, server.port), (b"ok\n", b"ok\n"))
            self.assertEqual(await server.result(), (b"12345", b"xyz", b""))
            server.stop()

        self.run_async(main())

    def test_read_into_fills_the_buffer(self):
        async def handler(stream, address):
            buf = bytearray(6)
            n = await stream.read_into(buf)
            small = bytearray(10)
            m = await stream.read_into(small, partial=True)
            return n, bytes(buf), m, bytes(small[:m])

        def client(port):
            with connect(port) as s:
                s.sendall(b"abc")
                s.sendall(b"def")
                s.sendall(b"gh")
                recv_all(s)

        async def main():
            server = serve(handler)
            task = asyncio.ensure_future(in_thread(client, server.port))
            result = await server.result()
            server.streams[0].close()
            await task
            self.assertEqual(result, (6, b"abcdef", 2, b"gh"))
            server.stop()

        self.run_async(main())

    def test_read_until_close_then_close_callback(self):
        async def handler(stream, address):
            closed = await closed_event(stream)
            data = await stream.read_until_close()
            await closed.wait()
            return data, closed.calls, stream.closed(), stream.error

        payload = os.urandom(300000)

        def client(port):
            with connect(port) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                return recv_all(s)

        async def main():
            server = serve(handler)
            self.assertEqual(await in_thread(client, server.port), b"")
            data, calls, closed, error = await server.result()
            self.assertEqual(data, payload)
            self.assertEqual((calls, closed, error), (1, True, None))
            server.stop()

        self.run_async(main())

    def test_max_bytes_closes_with_unsatisfiable_read(self):
        async def handler(stream, address):
            try:
                await stream.read_until(b"\n", max_bytes=16)
            except StreamClosedError as e:
                return e.real_error, stream.error, stream.closed()
            return "read completed"

        def client(port):
            with connect(port) as s:
                s.sendall(b"x" * 64)  # no delimiter within 16 bytes
                return recv_all(s)  # the server closes

        async def main():
            server = serve(handler)
            with self.assertLogs("eddy.general", logging.INFO):
                self.assertEqual(await in_thread(client, server.port), b"")
                real, error, closed = await server.result()
            self.assertIsInstance(real, eddy.iostream.UnsatisfiableReadError)
            self.assertIs(error, real)
            self.assertTrue(closed)
            server.stop()

        self.run_async(main())

    def test_read_until_regex(self):
        # Message heads with bare or CRLF line ends, the end split across sends (the match
        # spans reads); a compiled pattern works too; max_bytes as read_until's.
        async def handler(stream, address):
            heads = [await stream.read_until_regex(rb"\r?\n\r?\n"),
                     await stream.read_until_regex(re.compile(rb"\r?\n\r?\n")),
                     await stream.read_until_regex(rb"x+")]  # no empty match: waits for an x
            await stream.write(b"ok\n")
            with self.assertRaises(re.error):
                stream.read_until_regex(b"(")  # Python's error, as Tornado's re.compile
            with self.assertRaises(TypeError):
                stream.read_until_regex("text")
            try:
                await stream.read_until_regex(rb"[0-9]+;", max_bytes=8)
            except StreamClosedError as e:
                heads.append(type(e.real_error).__name__)
            return heads

        def client(port):
            with connect(port) as s:
                for piece in (b"GET / HTTP/1.0\r\nA: b\r", b"\n\r", b"\nB\n", b"\nab", b"cxx"):
                    s.sendall(piece)
                recv_exactly(s, 3)
                s.sendall(b"1234567890;")
                return recv_all(s)

        async def main():
            server = serve(handler)
            with self.assertLogs("eddy.general", logging.INFO):
                self.assertEqual(await in_thread(client, server.port), b"")
                heads = await server.result()
            self.assertEqual(heads, [b"GET / HTTP/1.0\r\nA: b\r\n\r\n", b"B\n\n", b"abcxx",
                                     "UnsatisfiableReadError"])
            server.stop()

        self.run_async(main())

    def test_max_buffer_size_closes_with_buffer_full(self):
        async def handler(stream, address):
            self.assertEqual(stream.max_buffer_size, 4096)
            try:
                await stream.read_bytes(100000)
            except StreamClosedError as e:
                return e.real_error
            return "read completed"

        def client(port):
            with connect(port) as s:
                try:
                    s.sendall(b"y" * 100000)
                except OSError:
                    pass  # the server closed (reset) while we were sending: expected
                try:
                    return recv_all(s)
                except ConnectionResetError:
                    return b""

        async def main():
            server = serve(handler, max_buffer_size=4096)
            with self.assertLogs("eddy.general", logging.WARNING):
                self.assertEqual(await in_thread(client, server.port), b"")
                real = await server.result()
            self.assertIsInstance(real, eddy.iostream.StreamBufferFullError)
            server.stop()

        self.run_async(main())

    def test_peer_reset_fails_the_pending_read(self):
        async def handler(stream, address):
            closed = await closed_event(stream)
            await stream.write(b"ready")
            try:
                await stream.read_until(b"\n")
            except StreamClosedError as e:
                await closed.wait()
                return e.real_error, closed.calls
            return "read completed"

        def client(port):
            s = connect(port)
            recv_exactly(s, 5)
            # SO_LINGER 0: close() sends a reset instead of a FIN.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

        async def main():
            server = serve(handler)
            await in_thread(client, server.port)
            real, calls = await server.result()
            self.assertIsInstance(real, ConnectionResetError)
            self.assertEqual(calls, 1)
            server.stop()

        self.run_async(main())

    def test_second_read_and_reads_after_close_raise(self):
        async def handler(stream, address):
            first = stream.read_bytes(1)
            with self.assertRaises(AssertionError):
                stream.read_bytes(1)
            self.assertTrue(stream.reading())
            stream.close()
            with self.assertRaises(StreamClosedError):
                await first
            self.assertFalse(stream.reading())
            with self.assertRaises(StreamClosedError):
                stream.read_bytes(1)
            with self.assertRaises(StreamClosedError):
                stream.write(b"x")
            with self.assertRaises(TypeError):
                stream.write("text")
            with self.assertRaises(ValueError):
                stream.read_until(b"")
            return "ok"

        async def main():
            server = serve(handler)
            task = asyncio.ensure_future(in_thread(lambda: read_all_from(server.port)))
            self.assertEqual(await server.result(), "ok")
            self.assertEqual(await task, b"")
            server.stop()

        self.run_async(main())


class Writes(AsyncTestCase):
    def test_many_small_writes_arrive_in_order(self):
        async def handler(stream, address):
            futures = [stream.write(b"%d," % i) for i in range(5000)]
            self.assertTrue(stream.writing())
            await futures[-1]
            # Completions come in write order: every earlier one is done too.
            self.assertTrue(all(f.done() and f.result() is None for f in futures))
            stream.close()
            return "ok"

        expected = b"".join(b"%d," % i for i in range(5000))

        async def main():
            server = serve(handler)
            got = await in_thread(lambda: read_all_from(server.port))
            self.assertEqual(got, expected)
            self.assertEqual(await server.result(), "ok")
            server.stop()

        self.run_async(main())

    def test_large_write_future_resolves_once_sent(self):
        payload = os.urandom(16 * 1024 * 1024)

        async def handler(stream, address):
            future = stream.write(payload)
            self.assertFalse(future.done())  # nothing is sent before the loop runs
            await future
            self.assertFalse(stream.writing())
            stream.close()
            return "sent"

        async def main():
            server = serve(handler)
            got = await in_thread(lambda: read_all_from(server.port))
            self.assertEqual(hashlib.sha256(got).hexdigest(),
                             hashlib.sha256(payload).hexdigest())
            self.assertEqual(await server.result(), "sent")
            server.stop()

        self.run_async(main())

    def test_pending_write_fails_when_the_peer_goes(self):
        async def handler(stream, address):
            await stream.write(b"ready")
            # More than the kernel buffers hold while the peer reads nothing: it stays pending
            # until the peer resets.
            future = stream.write(b"z" * (32 * 1024 * 1024))
            try:
                await future
            except StreamClosedError:
                return "failed", stream.closed()
            return "written", stream.closed()

        def client(port):
            s = connect(port)
            recv_exactly(s, 5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

        async def main():
            server = serve(handler)
            await in_thread(client, server.port)
            self.assertEqual(await server.result(), ("failed", True))
            server.stop()

        self.run_async(main())

    def test_max_write_buffer_size(self):
        async def main():
            a, b = socket.socketpair()
            stream = eddy.iostream.IOStream(a, max_write_buffer_size=10)
            stream.write(b"12345678")
            with self.assertRaises(eddy.iostream.StreamBufferFullError):
                stream.write(b"abc")
            stream.close()
            b.close()

        self.run_async(main())


class Lifetime(AsyncTestCase):
    def test_closed_streams_are_released(self):
        """The C stream holds its Python object only while open: after the close callback ran
        (exactly once), eddy's free of the userdata lets the object go."""
        refs = []

        async def handler(stream, address):
            refs.append(weakref.ref(stream))
            closed = await closed_event(stream)
            data = await stream.read_until_close()
            await closed.wait()
            return data, closed.calls

        def clients(port):
            for i in range(20):
                with connect(port) as s:
                    s.sendall(b"%d" % i)

        async def main():
            server = serve(handler)
            await in_thread(clients, server.port)
            results = [await server.result() for _ in range(20)]
            self.assertEqual(sorted(results), sorted((b"%d" % i, 1) for i in range(20)))
            server.streams.clear()
            server.stop()
            await asyncio.sleep(0)
            gc.collect()
            self.assertEqual([r for r in refs if r() is not None], [])

        self.run_async(main())

    def test_connect_echo_close_cycles_leave_nothing_behind(self):
        """Client and server streams, their futures and their fds all go with each closed
        connection: after 60 connect / echo / close cycles the fd count is back and the object
        count has not grown by what a leaked stream pair per cycle would leave."""
        import eddy.tcpclient

        async def echo(stream, address):
            try:
                while True:
                    await stream.write(await stream.read_until(b"\n"))
            except StreamClosedError:
                return None

        async def cycle(server):
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            await stream.write(b"x\n")
            self.assertEqual(await stream.read_until(b"\n"), b"x\n")
            stream.close()
            self.assertIsNone(await server.result())  # the server side saw the close
            server.streams.clear()

        async def main():
            server = serve(echo)
            for _ in range(10):  # warm-up: caches, interned strings
                await cycle(server)
            await asyncio.sleep(0)
            gc.collect()
            fds = len(os.listdir("/proc/self/fd"))
            objects = len(gc.get_objects())
            for _ in range(60):
                await cycle(server)
            await asyncio.sleep(0)
            gc.collect()
            self.assertEqual(len(os.listdir("/proc/self/fd")), fds)
            self.assertLess(len(gc.get_objects()) - objects, 60)
            server.stop()

        self.run_async(main())

    def test_streams_of_a_freed_loop_fail_their_futures(self):
        box = {}

        async def main():
            a, b = socket.socketpair()
            stream = eddy.iostream.IOStream(a)
            box["read"] = stream.read_bytes(10)
            box["stream"] = weakref.ref(stream)
            box["peer"] = b

        asyncio.run(main())  # closes its loop: the eddy loop and its streams go
        self.assertTrue(box["read"].done())
        self.assertIsInstance(box["read"].exception(), StreamClosedError)
        gc.collect()
        self.assertIsNone(box["stream"]())
        box["peer"].settimeout(20)
        self.assertEqual(box["peer"].recv(10), b"")  # the fd was closed
        box["peer"].close()

    def test_release_after_the_asyncio_loop_closed_fails_every_future(self):
        """An IOLoop on a foreign asyncio loop closed first: when eddy then releases the stream,
        failing the first future raises RuntimeError (its callback cannot be scheduled); the
        other futures must be failed all the same, not left pending for good."""
        aloop = asyncio.SelectorEventLoop()
        ioloop = eddy.ioloop.IOLoop(aloop)
        box = {}

        async def start():
            a, b = socket.socketpair()
            stream = eddy.iostream.IOStream(a)
            box["peer"] = b  # never reads: the big write stays pending
            box["futures"] = [stream.read_bytes(10), stream.write(b"x" * (16 << 20)),
                              stream.write(b"y")]
            for future in box["futures"]:
                future.add_done_callback(lambda f: None)  # needs the asyncio loop

        try:
            ioloop.run_sync(start)
            aloop.close()
        finally:
            ioloop.close()  # frees the eddy loop: the stream is released now
            asyncio.set_event_loop(None)
        self.assertEqual([f.done() for f in box["futures"]], [True, True, True])
        for future in box["futures"]:
            self.assertIsInstance(future.exception(), StreamClosedError)
        box["peer"].close()


class OtherStreams(AsyncTestCase):
    def test_iostream_over_a_connected_socket_and_socket_info(self):
        async def main():
            a, b = socket.socketpair()
            stream = eddy.iostream.IOStream(a)
            self.assertEqual(stream.socket.family, socket.AF_UNIX)
            stream.set_nodelay(True)  # a no-op on a Unix socket, as in Tornado
            b.sendall(b"hello\n")
            self.assertEqual(await stream.read_until(b"\n"), b"hello\n")
            await stream.write(b"back")
            self.assertEqual(b.recv(4), b"back")
            b.close()
            self.assertEqual(await stream.read_until_close(), b"")
            self.assertTrue(stream.closed())
            self.assertEqual(stream.fileno(), -1)

        self.run_async(main())

    def test_iostream_connect(self):
        async def echo(stream, address):
            await stream.write(await stream.read_until(b"\n"))

        async def main():
            server = serve(echo)
            stream = eddy.iostream.IOStream(socket.socket())
            with self.assertRaises(StreamClosedError):
                stream.write(b"early")  # not connected yet
            self.assertIs(await stream.connect(("127.0.0.1", server.port)), stream)
            self.assertEqual(stream.socket.getpeername(), ("127.0.0.1", server.port))
            stream.set_nodelay(True)
            self.assertEqual(stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
            await stream.write(b"x\n")
            self.assertEqual(await stream.read_until(b"\n"), b"x\n")
            stream.close()
            # Streams eddy made (accepted, or TCPClient's) are connected: connect() refuses.
            accepted = server.streams[0]
            with self.assertRaisesRegex(RuntimeError, "already connected"):
                await accepted.connect(("127.0.0.1", server.port))
            client = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            with self.assertRaisesRegex(RuntimeError, "already connected"):
                await client.connect(("127.0.0.1", server.port))
            client.close()
            refused = eddy.iostream.IOStream(socket.socket())
            with self.assertRaises(StreamClosedError) as cm:
                await refused.connect(("127.0.0.1", free_port()))
            self.assertIsInstance(cm.exception.real_error, ConnectionRefusedError)
            server.stop()

        from support import free_port

        self.run_async(main())

    def test_pipe_iostream(self):
        async def main():
            r, w = os.pipe()
            reader = eddy.iostream.PipeIOStream(r)
            writer = eddy.iostream.PipeIOStream(w)
            await writer.write(b"through a pipe")
            writer.close()
            self.assertEqual(await reader.read_until_close(), b"through a pipe")

        self.run_async(main())

    def test_an_error_in_a_release_hook_is_reported(self):
        # eddy calls _eddy_release() on a callback object it lets go of; an exception there
        # would leave futures waiting with no trace, so it goes to sys.unraisablehook.
        seen = []
        old_hook, old_release = sys.unraisablehook, eddy.iostream._Link._eddy_release

        def broken_release(link):
            old_release(link)
            raise ValueError("release hook failed")

        async def main():
            r, w = os.pipe()
            os.close(w)
            stream = eddy.iostream.PipeIOStream(r)
            stream.close()
            for _ in range(50):
                if seen:
                    break
                await asyncio.sleep(0.01)

        sys.unraisablehook = seen.append
        eddy.iostream._Link._eddy_release = broken_release
        try:
            self.run_async(main())
        finally:
            sys.unraisablehook = old_hook
            eddy.iostream._Link._eddy_release = old_release
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0].exc_value, ValueError)

    def test_use_from_another_thread_is_refused(self):
        async def main():
            a, b = socket.socketpair()
            stream = eddy.iostream.IOStream(a)
            with self.assertRaises(RuntimeError):
                await asyncio.to_thread(stream.write, b"x")
            stream.close()
            b.close()
            server = serve(lambda s, a: None)
            with self.assertRaises(RuntimeError):
                await asyncio.to_thread(server.stop)
            with self.assertRaises(RuntimeError):
                await asyncio.to_thread(server.listen, 0, "127.0.0.1")
            server.stop()

        self.run_async(main())


class StartTls(AsyncTestCase):
    """IOStream.start_tls: a line protocol in plaintext, STARTTLS, the same protocol over TLS on
    the same connection; Python's ssl module (wrap_socket on the connected socket) on the other
    side."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.tmp.name)
        cls.server_options = {"certfile": cls.certs["server.crt"],
                              "keyfile": cls.certs["server.key"]}
        cls.client_options = {"ca_certs": cls.certs["ca.crt"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def python_client(self, port, cafile=None):
        """The client side of one conversation: EHLO in plaintext, STARTTLS, hello over TLS.
        Returns what the server answered, or the exception the TLS handshake raised."""
        ctx = ssl.create_default_context(cafile=cafile or self.certs["ca.crt"])
        with connect(port) as s:
            s.sendall(b"EHLO me\r\n")
            answers = [read_line(s)]
            s.sendall(b"STARTTLS\r\n")
            answers.append(read_line(s))
            try:
                t = ctx.wrap_socket(s, server_hostname="localhost")
            except ssl.SSLError as e:
                return e
            with t:
                t.sendall(b"hello\r\n")
                answers.append(read_line(t))
                answers.append(t.version())
            return answers

    async def serve_starttls(self, stream, options):
        """The server side: answers EHLO, upgrades on STARTTLS, echoes one line over TLS."""
        line = await stream.read_until(b"\r\n")
        await stream.write(b"250 plain " + line)
        self.assertEqual(await stream.read_until(b"\r\n"), b"STARTTLS\r\n")
        await stream.write(b"220 go ahead\r\n")  # out before the upgrade: it must be idle
        tls = await stream.start_tls(True, options)
        self.assertIsInstance(tls, eddy.iostream.SSLIOStream)
        # The plain stream is spent: closed, every use refused.
        self.assertTrue(stream.closed())
        with self.assertRaises(StreamClosedError):
            stream.read_until(b"\n")
        self.assertIs(await tls.wait_for_handshake(), tls)  # done already
        line = await tls.read_until(b"\r\n")
        await tls.write(b"250 tls " + line)
        tls.close()
        return line

    def test_eddy_server_python_client(self):
        async def main():
            server = serve(lambda stream, address: self.serve_starttls(stream,
                                                                       self.server_options))
            answers = await in_thread(self.python_client, server.port)
            self.assertEqual(answers[:3], [b"250 plain EHLO me\r\n", b"220 go ahead\r\n",
                                           b"250 tls hello\r\n"])
            self.assertIn(answers[3], ("TLSv1.2", "TLSv1.3"))
            self.assertEqual(await server.result(), b"hello\r\n")
            server.stop()

        self.run_async(main())

    def test_eddy_client_python_server(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.certs["server.crt"], self.certs["server.key"])
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def python_server():
            listener.settimeout(20)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(20)
                conn.sendall(b"220 ready\r\n")
                assert read_line(conn) == b"STARTTLS\r\n"
                conn.sendall(b"220 go ahead\r\n")
                with ctx.wrap_socket(conn, server_side=True) as t:
                    line = read_line(t)
                    t.sendall(b"250 tls " + line)
                    # Open until the client closes: an EOF from here would race the check
                    # that the upgrade itself did not run the close callback.
                    try:
                        t.recv(1)
                    except (OSError, ssl.SSLError):
                        pass
                    return line

        async def main():
            task = asyncio.ensure_future(in_thread(python_server))
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", port)
            closes = await closed_event(stream)
            self.assertEqual(await stream.read_until(b"\r\n"), b"220 ready\r\n")
            await stream.write(b"STARTTLS\r\n")
            self.assertEqual(await stream.read_until(b"\r\n"), b"220 go ahead\r\n")
            tls = await stream.start_tls(False, self.client_options, server_hostname="localhost")
            self.assertIn((("commonName", "localhost"),), tls.getpeercert()["subject"])
            await tls.write(b"hello\r\n")
            self.assertEqual(await tls.read_until(b"\r\n"), b"250 tls hello\r\n")
            # The close callback moved to the TLS stream, as in Tornado.
            self.assertEqual(closes.calls, 0)
            tls.close()
            await asyncio.wait_for(closes.wait(), 20)
            self.assertEqual(closes.calls, 1)
            self.assertEqual(await task, b"hello\r\n")
            listener.close()

        self.run_async(main())

    def test_eddy_on_both_ends(self):
        async def main():
            server = serve(lambda stream, address: self.serve_starttls(stream,
                                                                       self.server_options))
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            await stream.write(b"EHLO eddy\r\n")
            self.assertEqual(await stream.read_until(b"\r\n"), b"250 plain EHLO eddy\r\n")
            await stream.write(b"STARTTLS\r\n")
            self.assertEqual(await stream.read_until(b"\r\n"), b"220 go ahead\r\n")
            tls = await stream.start_tls(False, self.client_options, "localhost")
            await tls.write(b"both\r\n")
            self.assertEqual(await tls.read_until(b"\r\n"), b"250 tls both\r\n")
            self.assertEqual(await server.result(), b"both\r\n")
            tls.close()
            server.stop()

        self.run_async(main())

    def test_refusals_leave_the_stream_usable(self):
        async def echo(stream, address):
            while True:
                try:
                    await stream.write(await stream.read_until(b"\n"))
                except StreamClosedError:
                    return

        async def main():
            server = serve(echo)
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            with self.assertRaisesRegex(ValueError, "check_hostname requires server_hostname"):
                stream.start_tls(False)
            with self.assertRaises(TypeError):
                stream.start_tls(False, ssl.create_default_context(), "localhost")
            with self.assertRaisesRegex(ValueError, "certfile"):
                stream.start_tls(True)
            with self.assertRaisesRegex(ValueError, "not supported|does not support"):
                stream.start_tls(False, {"ciphers": "ALL"}, "localhost")
            read = stream.read_until(b"\n")
            with self.assertRaisesRegex(ValueError, "not idle"):
                stream.start_tls(True, self.server_options)  # a read is pending
            await stream.write(b"one\n")
            self.assertEqual(await read, b"one\n")
            write = stream.write(b"two\n")
            with self.assertRaisesRegex(ValueError, "not idle"):
                stream.start_tls(True, self.server_options)  # a write is not sent yet
            await write
            # Input that arrived behind what was read: refused, not lost.
            await stream.write(b"three\nfour\n")
            self.assertEqual(await stream.read_bytes(6), b"two\nth")
            self.assertEqual(await stream.read_until(b"\n"), b"ree\n")
            self.assertEqual(await stream.read_bytes(1), b"f")
            with self.assertRaisesRegex(ValueError, "unread input"):
                stream.start_tls(True, self.server_options)
            self.assertEqual(await stream.read_until(b"\n"), b"our\n")
            stream.close()
            with self.assertRaises(StreamClosedError):
                stream.start_tls(True, self.server_options)
            server.stop()

        self.run_async(main())

    def test_untrusted_certificate_fails_the_upgrade(self):
        async def main():
            server = serve(lambda stream, address: self.serve_starttls(stream,
                                                                       self.server_options))
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            closes = await closed_event(stream)
            await stream.write(b"EHLO eddy\r\n")
            await stream.read_until(b"\r\n")
            await stream.write(b"STARTTLS\r\n")
            await stream.read_until(b"\r\n")
            with self.assertRaises(StreamClosedError) as cm:
                await stream.start_tls(False, {}, "localhost")  # the system's CAs only
            self.assertIsInstance(cm.exception.real_error, ssl.SSLError)
            await asyncio.wait_for(closes.wait(), 20)  # the connection is gone
            # The server's upgrade failed too.
            err = await server.result()
            self.assertIsInstance(err, StreamClosedError)
            self.assertIsInstance(err.real_error, ssl.SSLError)
            server.stop()

        self.run_async(main())

    def test_wait_for_handshake_on_a_tls_server_stream(self):
        async def handler(stream, address):
            waiting = stream.wait_for_handshake()
            with self.assertRaisesRegex(RuntimeError, "Already waiting"):
                stream.wait_for_handshake()
            self.assertIs(await waiting, stream)
            await stream.write(await stream.read_until(b"\n"))
            return True

        def client(port):
            ctx = ssl.create_default_context(cafile=self.certs["ca.crt"])
            with connect(port) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"hi\n")
                return read_line_n(s)

        def read_line_n(s):
            data = b""
            while not data.endswith(b"\n"):
                data += s.recv(1)
            return data

        def plain_client(port):
            with connect(port) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS
                return s.recv(100)

        async def main():
            server = serve(handler, ssl_options=self.server_options)
            self.assertEqual(await in_thread(client, server.port), b"hi\n")
            self.assertIs(await server.result(), True)
            await in_thread(plain_client, server.port)
            err = await server.result()
            self.assertIsInstance(err, StreamClosedError)
            self.assertIsInstance(err.real_error, ssl.SSLError)
            server.stop()

        self.run_async(main())

    def test_closing_the_loop_mid_handshake_fails_the_futures(self):
        """IOLoop.close() while handshakes wait for silent peers: start_tls's future (eddy
        releases its callback uncalled) and wait_for_handshake's fail with StreamClosedError
        instead of staying pending for good."""
        silent = socket.create_server(("127.0.0.1", 0))  # in its backlog; never answers
        aloop = asyncio.new_event_loop()
        asyncio.set_event_loop(aloop)
        io_loop = eddy.ioloop.IOLoop.current()
        accepted = asyncio.Event()
        waits = []

        class TlsServer(eddy.tcpserver.TCPServer):
            def handle_stream(self, stream, address):  # the handshake is under way here
                waits.append(stream.wait_for_handshake())
                accepted.set()

        async def start():
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1",
                                                              silent.getsockname()[1])
            upgrade = stream.start_tls(False, self.client_options, "localhost")
            server = TlsServer(ssl_options=self.server_options)
            server.listen(0, "127.0.0.1")
            quiet_client = connect(server.port)  # a plain client that never says hello
            await asyncio.wait_for(accepted.wait(), 20)
            await asyncio.sleep(0.05)  # a few passes: nothing comes from either peer
            self.assertFalse(upgrade.done())
            self.assertFalse(waits[0].done())
            return upgrade, quiet_client

        try:
            upgrade, quiet_client = aloop.run_until_complete(start())
            io_loop.close()
        finally:
            asyncio.set_event_loop(None)
            silent.close()
        quiet_client.close()
        for future in (upgrade, waits[0]):
            self.assertTrue(future.done())
            self.assertIsInstance(future.exception(), StreamClosedError)


if __name__ == "__main__":
    unittest.main()
