"""eddy.tcpclient.TCPClient against an eddy TCPServer and against a plain `socket` server;
refused and timed-out connects (the name lookup included), a connect pending when the IOLoop
is closed, the arguments eddy does not support;
TLS: a TCPServer with ssl_options and TCPClient.connect(ssl_options=...) with the test CA
(tests/integration/tls_certs.py), Python's ssl module as the other side of each, and a client
that does not trust the server's certificate."""

import asyncio
import datetime
import errno
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import unittest.mock

from support import free_port
from tcp_support import (TIMEOUT, AsyncTestCase, HandlerServer, StreamClosedError, in_thread,
                         recv_all, recv_exactly)

import eddy.gen
import eddy.ioloop
import eddy.iostream
import eddy.tcpclient
import eddy.tcpserver

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import tls_certs  # noqa: E402


async def echo_lines(stream, address):
    lines = 0
    try:
        while True:
            await stream.write(await stream.read_until(b"\n"))
            lines += 1
    except StreamClosedError:
        return lines



def full_listener():
    """A listening socket whose accept queue is full, so that the kernel drops new SYNs (a
    connect to it hangs): (listener, port, the sockets that fill the queue)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the queue (its length is backlog + 1 on Linux)
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    return listener, port, fillers

class PlainServer:
    """A blocking socket server on a thread: sends `greeting`, then echoes until EOF."""

    def __init__(self, greeting=b""):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.received = b""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(TIMEOUT)
        conn, _ = self.sock.accept()
        with conn:
            conn.sendall(self.greeting)
            self.received = recv_all(conn)
            conn.sendall(b"bye")
        self.sock.close()


class Connect(AsyncTestCase):
    def test_connect_to_a_tcpserver(self):
        async def main():
            server = HandlerServer(echo_lines)
            server.listen(0, "127.0.0.1")
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            self.assertIsInstance(stream, eddy.iostream.IOStream)
            for i in range(3):
                await stream.write(b"line %d\n" % i)
                self.assertEqual(await stream.read_until(b"\n"), b"line %d\n" % i)
            stream.close()
            self.assertEqual(await server.result(), 3)
            # A name, looked up by eddy, and af restricting it to IPv4.
            stream = await eddy.tcpclient.TCPClient().connect("localhost", server.port,
                                                              af=socket.AF_INET)
            await stream.write(b"by name\n")
            self.assertEqual(await stream.read_until(b"\n"), b"by name\n")
            stream.close()
            server.stop()

        self.run_async(main())

    def test_connect_to_a_plain_socket_server(self):
        async def main():
            peer = PlainServer(greeting=b"hello\n")
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", peer.port,
                                                              timeout=TIMEOUT)
            self.assertEqual(await stream.read_until(b"\n"), b"hello\n")
            self.assertEqual(stream.socket.getpeername(), ("127.0.0.1", peer.port))
            await stream.write(b"payload")  # resolved: handed to the kernel before the close
            stream.close()
            await in_thread(peer.thread.join, TIMEOUT)
            self.assertEqual(peer.received, b"payload")

        self.run_async(main())

    def test_read_until_close_from_a_plain_server(self):
        async def main():
            listener = socket.create_server(("127.0.0.1", 0))
            port = listener.getsockname()[1]

            def serve():
                listener.settimeout(TIMEOUT)
                conn, _ = listener.accept()
                conn.sendall(b"a" * 100000)
                conn.close()
                listener.close()

            task = asyncio.ensure_future(in_thread(serve))
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", port)
            self.assertEqual(await stream.read_until_close(), b"a" * 100000)
            await task

        self.run_async(main())

    def test_refused(self):
        async def main():
            with self.assertRaises(StreamClosedError) as cm:
                await eddy.tcpclient.TCPClient().connect("127.0.0.1", free_port())
            self.assertIsInstance(cm.exception.real_error, ConnectionRefusedError)

        self.run_async(main())

    def test_failure_says_why(self):
        """eddy's detail (eddy_connect_error_detail) is in the error's text: the address that
        refused, the source address that could not be bound, the name that did not resolve
        (the message said "Connection refused: HOST:PORT" whatever the address tried)."""

        async def main():
            client = eddy.tcpclient.TCPClient()
            port = free_port()
            with self.assertRaises(StreamClosedError) as cm:
                await client.connect("127.0.0.1", port)
            self.assertEqual(cm.exception.real_error.errno, errno.ECONNREFUSED)
            self.assertEqual(str(cm.exception.real_error),
                             "[Errno %d] connect to 127.0.0.1:%d: Connection refused"
                             % (errno.ECONNREFUSED, port))
            with self.assertRaises(StreamClosedError) as cm:
                await client.connect("127.0.0.1", port, source_ip="192.0.2.1", timeout=5)
            self.assertEqual(cm.exception.real_error.errno, errno.EADDRNOTAVAIL)
            self.assertIn("bind source 192.0.2.1: Cannot assign requested address",
                          str(cm.exception.real_error))
            # '!' is no host-name character: refused by the resolver without asking DNS.
            with self.assertRaises(socket.gaierror) as cm:
                await client.connect("no-such-host!", port, timeout=5)
            self.assertIn("name resolution: no-such-host!: ", str(cm.exception))

        self.run_async(main())

    def test_timeout(self):
        """A listener whose accept queue is full drops SYNs: the connect hangs, the timeout
        ends it."""

        async def main():
            listener, port, fillers = full_listener()
            with self.assertRaises(eddy.gen.TimeoutError):
                await eddy.tcpclient.TCPClient().connect("127.0.0.1", port, timeout=0.5)
            with self.assertRaises(eddy.gen.TimeoutError):
                await eddy.tcpclient.TCPClient().connect(
                    "127.0.0.1", port, timeout=datetime.timedelta(seconds=0.5))
            for s in fillers:
                s.close()
            listener.close()

        self.run_async(main())

    def test_af_goes_through_eddy_s_connector(self):
        """af=AF_INET / AF_INET6 no longer resolve in Python (asyncio's getaddrinfo is not
        consulted: eddy looks the name up) and restrict the addresses tried: "localhost" with
        af=AF_INET6 where /etc/hosts gives it 127.0.0.1 only fails as getaddrinfo for AF_INET6
        does; a numeric address of the other family too."""

        async def no_getaddrinfo(*args, **kwargs):
            raise AssertionError("resolved in Python")

        async def main():
            server = HandlerServer(lambda stream, address: stream.read_until_close())
            server.listen(0, "127.0.0.1")
            loop = asyncio.get_running_loop()
            client = eddy.tcpclient.TCPClient()
            with unittest.mock.patch.object(loop, "getaddrinfo", no_getaddrinfo):
                stream = await client.connect("127.0.0.1", server.port, af=socket.AF_INET,
                                              timeout=5)
                stream.close()
                with self.assertRaises(socket.gaierror):
                    await client.connect("127.0.0.1", server.port, af=socket.AF_INET6, timeout=5)
            server.stop()

        self.run_async(main())

    def test_af_staggers_past_a_silent_first_address(self):
        """A name whose first IPv4 address never answers (a full accept queue drops SYNs), the
        second one serving; ::1 comes first. With af=AF_INET the connect reaches the second
        address after eddy's 250 ms attempt delay. It used to resolve in Python and try each
        address in turn with the whole timeout: 10 s here. Run in a child with a getaddrinfo
        shim preloaded (fake_resolver.c): eddy resolves in C."""
        shim = os.environ.get("EDDY_TEST_FAKE_RESOLVER")
        if not shim:
            self.skipTest("EDDY_TEST_FAKE_RESOLVER not set (run through ctest)")
        listener, port, fillers = full_listener()  # 127.0.0.1: silent
        serving = socket.socket()
        try:
            serving.bind(("127.0.0.2", port))
        except OSError:
            serving.close()
            listener.close()
            self.skipTest("127.0.0.2:%d not bindable here" % port)
        serving.listen(8)
        child = """if 1:
            import asyncio, socket, sys, time
            import eddy.tcpclient

            async def main():
                client = eddy.tcpclient.TCPClient()
                for af, name in ((socket.AF_INET, "v4-twice.eddy-test"),
                                 (socket.AF_INET, "v6-then-v4-twice.eddy-test"),
                                 (socket.AF_UNSPEC, "v4-twice.eddy-test")):
                    start = time.monotonic()
                    stream = await client.connect(name, %d, af=af, timeout=10)
                    took = time.monotonic() - start
                    peer = stream.socket.getpeername()[0]
                    stream.close()
                    print(af == socket.AF_INET, peer, "%%.2f" %% took, flush=True)

            asyncio.run(main())
        """ % port
        try:
            env = dict(os.environ, LD_PRELOAD=shim)
            proc = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True,
                                  text=True, timeout=TIMEOUT * 2)
        finally:
            for s in fillers:
                s.close()
            listener.close()
            serving.close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = [line.split() for line in proc.stdout.splitlines()]
        self.assertEqual(len(lines), 3, proc.stdout)
        for _af_set, peer, took in lines:
            self.assertEqual(peer, "127.0.0.2")
            self.assertLess(float(took), 5.0, proc.stdout)  # 0.25 s (plus a slow machine)

    def test_source_ip_and_port(self):
        """source_ip / source_port bind the local end (Tornado's TCPClient.connect options):
        the server sees the connection come from them (127.0.0.0/8 is all local on Linux). A
        source of the other family, or not an address of this host, fails the connect."""

        async def main():
            peers = []

            async def record(stream, address):
                peers.append(address)
                await stream.read_until_close()

            server = HandlerServer(record)
            server.listen(0, "127.0.0.1")
            client = eddy.tcpclient.TCPClient()
            stream = await client.connect("127.0.0.1", server.port, source_ip="127.0.0.2",
                                          timeout=5)
            stream.close()
            source_port = free_port()
            stream = await client.connect("127.0.0.1", server.port, source_port=source_port,
                                          timeout=5)
            stream.close()
            stream = await client.connect("127.0.0.1", server.port, source_ip="127.0.0.3",
                                          source_port=source_port, timeout=5)
            stream.close()
            for _ in range(3):
                await server.result()
            self.assertEqual(peers, [("127.0.0.2", peers[0][1]), ("127.0.0.1", source_port),
                                     ("127.0.0.3", source_port)])
            for source in ("::1", "192.0.2.1"):  # another family; TEST-NET-1, not local
                with self.assertRaises(StreamClosedError) as cm:
                    await client.connect("127.0.0.1", server.port, source_ip=source, timeout=5)
                self.assertEqual(cm.exception.real_error.errno, errno.EADDRNOTAVAIL)
            server.stop()

        self.run_async(main())

    def test_a_cancelled_connect_closes_the_stream_it_gets(self):
        """The C connect goes on after the awaiting task was cancelled; the stream it then
        delivers is closed by the trampoline (the server's read sees EOF) instead of leaking."""

        async def main():
            server = HandlerServer(lambda stream, address: stream.read_until_close())
            server.listen(0, "127.0.0.1")
            task = asyncio.ensure_future(eddy.tcpclient.TCPClient().connect("127.0.0.1",
                                                                            server.port))
            await asyncio.sleep(0)  # the task issued eddy_connect and waits for it
            task.cancel()
            [outcome] = await asyncio.gather(task, return_exceptions=True)
            self.assertIsInstance(outcome, asyncio.CancelledError)
            self.assertEqual(await server.result(), b"")
            server.stop()

        self.run_async(main())

    def test_closing_the_ioloop_fails_a_pending_connect(self):
        """IOLoop.close() from a coroutine while a connect hangs (a full accept queue drops its
        SYN): eddy releases the connect's callback uncalled, and the awaiting task gets
        StreamClosedError instead of waiting for good (the asyncio loop runs on)."""

        async def main():
            listener, port, fillers = full_listener()
            task = asyncio.ensure_future(eddy.tcpclient.TCPClient().connect("127.0.0.1", port))
            await asyncio.sleep(0)  # the task issued eddy_connect and waits for it
            eddy.ioloop.IOLoop.current().close()
            with self.assertRaises(StreamClosedError) as cm:
                await asyncio.wait_for(task, TIMEOUT)
            self.assertIsNone(cm.exception.real_error)
            for s in fillers:
                s.close()
            listener.close()

        self.run_async(main())

    def test_unsupported_arguments_raise(self):
        async def main():
            client = eddy.tcpclient.TCPClient()
            with self.assertRaises(ValueError):  # a numeric address only
                await client.connect("127.0.0.1", 1, source_ip="localhost")
            with self.assertRaises(ValueError):
                await client.connect("127.0.0.1", 1, source_port=65536)
            with self.assertRaises(ValueError):
                await client.connect("127.0.0.1", 0)
            with self.assertRaises(ValueError):
                await client.connect("127.0.0.1", 80, timeout=-1)
            with self.assertRaises(ValueError):
                await client.connect("127.0.0.1", 80, af=socket.AF_UNIX)
            with self.assertRaises(TypeError):
                await client.connect("127.0.0.1", 80, ssl_options=ssl.create_default_context())
            with self.assertRaises(ValueError):
                await client.connect("127.0.0.1", 80, ssl_options={"ciphers": "ALL"})
            with self.assertRaises(NotImplementedError):
                eddy.tcpclient.TCPClient(resolver=object())

        self.run_async(main())


class TLS(AsyncTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.tmp.name)
        cls.server_options = {"certfile": cls.certs["server.crt"],
                              "keyfile": cls.certs["server.key"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_tls_server_and_tls_client(self):
        async def main():
            server = HandlerServer(echo_lines, ssl_options=self.server_options)
            server.listen(0, "127.0.0.1")
            stream = await eddy.tcpclient.TCPClient().connect(
                "127.0.0.1", server.port, ssl_options={"ca_certs": self.certs["ca.crt"]})
            self.assertIsInstance(stream, eddy.iostream.SSLIOStream)
            await stream.write(b"secret\n")
            self.assertEqual(await stream.read_until(b"\n"), b"secret\n")
            cert = stream.getpeercert()
            self.assertIn((("commonName", "localhost"),), cert["subject"])
            self.assertIsInstance(server.streams[0], eddy.iostream.SSLIOStream)
            self.assertIsNone(server.streams[0].getpeercert())  # no client certificate asked
            stream.close()
            self.assertEqual(await server.result(), 1)
            server.stop()

        self.run_async(main())

    def test_tls_server_with_python_ssl_client(self):
        def client(port):
            ctx = ssl.create_default_context(cafile=self.certs["ca.crt"])
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"over python ssl\n")
                    return recv_exactly(s, len(b"over python ssl\n"))

        async def main():
            server = HandlerServer(echo_lines, ssl_options=self.server_options)
            server.listen(0, "127.0.0.1")
            self.assertEqual(await in_thread(client, server.port), b"over python ssl\n")
            server.stop()

        self.run_async(main())

    def test_tls_client_with_python_ssl_server(self):
        async def main():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certs["server.crt"], self.certs["server.key"])
            listener = socket.create_server(("127.0.0.1", 0))
            port = listener.getsockname()[1]

            def serve():
                listener.settimeout(TIMEOUT)
                conn, _ = listener.accept()
                with ctx.wrap_socket(conn, server_side=True) as s:
                    s.sendall(b"from python ssl\n")
                    line = b""
                    while not line.endswith(b"\n"):
                        line += s.recv(100)
                    return line

            task = asyncio.ensure_future(in_thread(serve))
            stream = await eddy.tcpclient.TCPClient().connect(
                "localhost", port, ssl_options={"ca_certs": self.certs["ca.crt"]})
            self.assertEqual(await stream.read_until(b"\n"), b"from python ssl\n")
            await stream.write(b"answer\n")
            self.assertEqual(await task, b"answer\n")
            stream.close()
            listener.close()

        self.run_async(main())

    def test_untrusted_certificate_fails_the_first_read(self):
        async def main():
            server = HandlerServer(echo_lines, ssl_options=self.server_options)
            server.listen(0, "127.0.0.1")
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port,
                                                              ssl_options={})
            with self.assertRaises(StreamClosedError) as cm:
                await stream.read_until(b"\n")
            self.assertIsInstance(cm.exception.real_error, ssl.SSLError)
            self.assertIs(stream.error, cm.exception.real_error)
            server.stop()

        self.run_async(main())

    def test_mutual_tls(self):
        async def peer_subject(stream, address):
            line = await stream.read_until(b"\n")
            cert = stream.getpeercert()
            await stream.write(line)
            return cert["subject"], len(stream.getpeercert(binary_form=True)) > 0

        async def main():
            options = dict(self.server_options, ca_certs=self.certs["ca.crt"],
                           cert_reqs=ssl.CERT_REQUIRED)
            server = HandlerServer(peer_subject, ssl_options=options)
            server.listen(0, "127.0.0.1")
            stream = await eddy.tcpclient.TCPClient().connect(
                "127.0.0.1", server.port,
                ssl_options={"ca_certs": self.certs["ca.crt"],
                             "certfile": self.certs["client.crt"],
                             "keyfile": self.certs["client.key"]})
            await stream.write(b"me\n")
            self.assertEqual(await stream.read_until(b"\n"), b"me\n")
            subject, has_der = await server.result()
            self.assertIn((("commonName", "eddy test client"),), subject)
            self.assertTrue(has_der)
            stream.close()
            # Without a client certificate the server's handshake fails: its read reports it.
            stream = await eddy.tcpclient.TCPClient().connect(
                "127.0.0.1", server.port, ssl_options={"ca_certs": self.certs["ca.crt"]})
            stream.write(b"me\n")
            error = await server.result()
            self.assertIsInstance(error, StreamClosedError)
            self.assertIsInstance(error.real_error, ssl.SSLError)
            stream.close()
            server.stop()

        self.run_async(main())

    def test_plain_client_to_a_tls_server(self):
        async def read_line(stream, address):
            return await stream.read_until(b"\n")

        async def main():
            server = HandlerServer(read_line, ssl_options=self.server_options)
            server.listen(0, "127.0.0.1")
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            await stream.write(b"GET / HTTP/1.0\r\n\r\n")
            error = await server.result()
            self.assertIsInstance(error, StreamClosedError)
            self.assertIsInstance(error.real_error, ssl.SSLError)
            stream.close()
            server.stop()

        self.run_async(main())

    def test_bad_server_ssl_options_raise_at_once(self):
        with self.assertRaises(TypeError):
            eddy.tcpserver.TCPServer(ssl_options=ssl.create_default_context())
        with self.assertRaises(ValueError):
            eddy.tcpserver.TCPServer(ssl_options={"certfile": "/nonexistent.pem"})
        with self.assertRaises(ValueError):
            eddy.tcpserver.TCPServer(ssl_options={"certfile": self.certs["server.crt"],
                                                  "keyfile": self.certs["server.key"],
                                                  "ciphers": "ALL"})


if __name__ == "__main__":
    unittest.main()
