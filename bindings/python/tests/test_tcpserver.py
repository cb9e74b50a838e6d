"""eddy.tcpserver.TCPServer against real `socket` clients: handle_stream raising (sync and
async, and KeyboardInterrupt / SystemExit) and an accepted stream Python could not adopt,
stop(), listen failures (with errno, also HTTPServer's), add_sockets with bind_sockets /
bind_unix_socket sockets, bind + start, and HTTPServer.add_sockets with bind_sockets (the
multi-process pattern's hand-over)."""

import asyncio
import errno
import logging
import os
import socket
import sys
import tempfile
import unittest
import unittest.mock

from tcp_support import (AsyncTestCase, HandlerServer, connect, in_thread, read_all_from,
                         recv_all, send_and_read_all, serve)

import eddy.httpserver
import eddy.ioloop
import eddy.iostream
import eddy.netutil
import eddy.tcpserver
import eddy.web

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
from loopback import has_ipv6_loopback  # noqa: E402


class Server(AsyncTestCase):
    def test_handle_stream_raising_is_logged_and_closes(self):
        class Sync(eddy.tcpserver.TCPServer):
            def handle_stream(self, stream, address):
                raise ValueError("sync boom")

        class Async(eddy.tcpserver.TCPServer):
            async def handle_stream(self, stream, address):
                await stream.write(b"hi")
                raise ValueError("async boom")

        async def main():
            for cls, expected, message in ((Sync, b"", "sync boom"), (Async, b"hi", "async boom")):
                server = cls()
                server.listen(0, "127.0.0.1")
                with self.assertLogs("eddy.application", logging.ERROR) as logs:
                    got = await in_thread(lambda: read_all_from(server.port))
                    while not any(str(r.exc_info[1]) == message for r in logs.records
                                  if r.exc_info):
                        await asyncio.sleep(0.01)
                self.assertEqual(got, expected)  # and the connection was closed
                server.stop()

        self.run_async(main())

    def test_handle_stream_raising_keyboard_interrupt_closes_and_stops_the_loop(self):
        """SystemExit / KeyboardInterrupt from a synchronous handle_stream is not swallowed (the
        C trampoline used to report it as unraisable, and the stream stayed open): the stream
        is closed and the exception stops the loop, as from an asyncio callback."""

        class Sync(eddy.tcpserver.TCPServer):
            def handle_stream(self, stream, address):
                self.stream = stream
                raise self.exc_class("stop now")

        for exc_class in (KeyboardInterrupt, SystemExit):
            loop = eddy.ioloop.IOLoop()
            try:
                server = Sync()
                server.exc_class = exc_class
                server.listen(0, "127.0.0.1")
                client = connect(server.port)  # the kernel completes it from the backlog
                with self.assertRaisesRegex(exc_class, "stop now"):
                    loop.run_sync(lambda: asyncio.sleep(10))  # ends early only by the exception
                self.assertTrue(server.stream.closed())
                server.stop()
            finally:
                loop.close()
                asyncio.set_event_loop(None)
            self.assertEqual(client.recv(1), b"")
            client.close()

    def test_a_connection_python_could_not_adopt_is_closed(self):
        """When wrapping the accepted C stream fails, the accept trampoline closes it (and
        reports the exception as unraisable): the client sees EOF instead of a hang."""

        async def main():
            server = serve(lambda s, a: None)
            unraisable = []
            hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
            try:
                with unittest.mock.patch.object(eddy.iostream.IOStream, "_adopt",
                                                side_effect=RuntimeError("cannot adopt")):
                    got = await in_thread(read_all_from, server.port)
            finally:
                sys.unraisablehook = hook
            self.assertEqual(got, b"")
            self.assertEqual([str(u.exc_value) for u in unraisable], ["cannot adopt"])
            server.stop()

        self.run_async(main())

    def test_local_addresses_after_port_zero(self):
        """local_addresses() names every listening socket: two sockets bound to port 0 apart
        get a port each (`port` shows the first only), a Unix socket its path; each one is
        connected to through the address reported."""
        async def hello(stream, address):
            await stream.write(b"hi")
            stream.close()

        async def main():
            server = HandlerServer(hello)
            self.assertEqual(server.local_addresses(), [])
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "s")
                socks = [eddy.netutil.bind_sockets(0, "127.0.0.1")[0],
                         eddy.netutil.bind_sockets(0, "127.0.0.1")[0],
                         eddy.netutil.bind_unix_socket(path)]
                server.add_sockets(socks)
                for sock in socks:
                    sock.close()  # the listener holds its own
                addresses = server.local_addresses()
                self.assertEqual(len(addresses), 3, addresses)
                (ip0, port0), (ip1, port1), unix = addresses
                self.assertEqual((ip0, ip1, unix), ("127.0.0.1", "127.0.0.1", path))
                self.assertNotEqual(port0, port1)
                self.assertEqual(server.port, port0)
                for port in (port0, port1):
                    self.assertEqual(await in_thread(read_all_from, port), b"hi")

                def unix_read():
                    with socket.socket(socket.AF_UNIX) as c:
                        c.settimeout(20)
                        c.connect(unix)
                        return recv_all(c)

                self.assertEqual(await in_thread(unix_read), b"hi")
                server.stop()
            self.assertEqual(server.local_addresses(), [])

        self.run_async(main())

    def test_base_handle_stream_is_abstract(self):
        async def main():
            server = eddy.tcpserver.TCPServer()
            server.listen(0, "127.0.0.1")
            with self.assertLogs("eddy.application", logging.ERROR) as logs:
                got = await in_thread(lambda: read_all_from(server.port))
            self.assertEqual(got, b"")
            self.assertIsInstance(logs.records[0].exc_info[1], NotImplementedError)
            server.stop()

        self.run_async(main())

    def test_stop_refuses_new_connections_and_keeps_accepted_ones(self):
        async def echo(stream, address):
            line = await stream.read_until(b"\n")
            await stream.write(line)
            stream.close()
            return line

        def client_before_and_after(port, stopped):
            s = connect(port)  # accepted before stop()
            stopped.wait()
            s.sendall(b"still here\n")
            got = recv_all(s)
            s.close()
            try:
                connect(port).close()
                refused = False
            except ConnectionRefusedError:
                refused = True
            return got, refused

        async def main():
            import threading

            server = serve(echo)
            port = server.port
            stopped = threading.Event()
            task = asyncio.ensure_future(in_thread(client_before_and_after, port, stopped))
            while not server.streams:
                await asyncio.sleep(0.01)
            server.stop()
            server.stop()  # twice is harmless
            self.assertIsNone(server.port)
            stopped.set()
            self.assertEqual(await task, (b"still here\n", True))
            self.assertEqual(await server.result(), b"still here\n")

        self.run_async(main())

    def test_servers_left_listening_go_with_their_loop(self):
        """Servers never stopped go when asyncio.run() frees the loop: one nobody holds, one
        held only by a stream's close callback. The listener's userdata holds its server
        weakly: when it held it strongly, the loop's release of that userdata freed the server
        and so (TCPServer.__del__) the listener while eddy_loop_free was still tearing it down
        (valgrind: invalid writes in Listener::on_loop_free). Run this under valgrind to see
        that it stays clean."""
        import gc
        import weakref

        refs, conns = [], []

        async def keep(stream, address):
            server = holder.pop()
            stream.set_close_callback(lambda: server)  # only the stream holds the server now
            return "accepted"

        holder = []

        async def main():
            dropped = HandlerServer(keep)
            dropped.listen(0, "127.0.0.1")
            refs.append(weakref.ref(dropped))
            del dropped
            held = HandlerServer(keep)
            held.listen(0, "127.0.0.1")
            refs.append(weakref.ref(held))
            holder.append(held)
            conns.append(await in_thread(connect, held.port))  # open until the loop goes
            self.assertEqual(await held.result(), "accepted")
            del held

        self.run_async(main())
        for conn in conns:
            self.assertEqual(conn.recv(10), b"")  # the freed loop closed the stream
            conn.close()
        gc.collect()
        self.assertEqual([r for r in refs if r() is not None], [])

    def test_listen_failure_raises_with_errno(self):
        """As Tornado's (the socket module's), the OSError carries errno: callers test
        EADDRINUSE. Same for HTTPServer.listen, on both of its paths (eddy_server_listen, and
        bind_sockets when a backlog is given)."""

        async def main():
            first = serve(lambda s, a: None)
            second = HandlerServer(None)
            with self.assertRaises(OSError) as cm:
                second.listen(first.port, "127.0.0.1")
            self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
            app = eddy.web.Application([])
            for kwargs in ({}, {"backlog": 16}):
                with self.assertRaises(OSError) as cm:
                    eddy.httpserver.HTTPServer(app).listen(first.port, "127.0.0.1", **kwargs)
                self.assertEqual(cm.exception.errno, errno.EADDRINUSE, kwargs)
            app.close()
            first.stop()

        self.run_async(main())

    @unittest.skipUnless(has_ipv6_loopback(), "no ::1 on this host")
    def test_listen_v4_and_v6_any_on_one_port_as_tornado(self):
        """As Tornado's listen (bind_sockets), an IPv6 socket is IPv6-only: "0.0.0.0" and "::"
        can both be listened on with one port (each family's clients reach its own socket).
        It was dual-stack, so the second listen failed with EADDRINUSE. HTTPServer.listen with
        a backlog binds every address as Tornado does (it bound the first one only: IPv4 alone
        for every address), and takes `family`."""

        async def peer(stream, address):
            stream.close()
            return address[0]

        async def main():
            tcp = HandlerServer(peer)
            tcp.listen(0, "0.0.0.0")
            tcp.listen(tcp.port, "::")
            for host in ("127.0.0.1", "::1"):
                await in_thread(lambda: connect(tcp.port, host).close())
                self.assertEqual(await tcp.result(), host)
            tcp.stop()
            app = eddy.web.Application([])
            for kwargs in ({}, {"backlog": 16}):
                v4 = eddy.httpserver.HTTPServer(app)
                v4.listen(0, "0.0.0.0", **kwargs)
                v6 = eddy.httpserver.HTTPServer(app)
                v6.listen(v4.port, "::", **kwargs)
                v4.stop()
                v6.stop()
            everywhere = eddy.httpserver.HTTPServer(app)
            everywhere.listen(0, None, backlog=16)
            for host in ("127.0.0.1", "::1"):
                await in_thread(lambda: connect(everywhere.port, host).close())
            everywhere.stop()
            only_v4 = eddy.httpserver.HTTPServer(app)
            only_v4.listen(0, None, family=socket.AF_INET)
            with self.assertRaises(OSError):
                await in_thread(lambda: connect(only_v4.port, "::1").close())
            only_v4.stop()
            app.close()

        self.run_async(main())

    def test_add_sockets_bind_sockets_and_unix(self):
        async def echo(stream, address):
            data = await stream.read_until(b"\n")
            await stream.write(data)
            stream.close()
            return address

        def client(family, addr):
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(20)
                s.connect(addr)
                s.sendall(b"ping\n")
                return recv_all(s)

        async def main():
            sockets = eddy.netutil.bind_sockets(0, "127.0.0.1")
            port = sockets[0].getsockname()[1]
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "sock")
                unix = eddy.netutil.bind_unix_socket(path)
                server = HandlerServer(echo)
                server.add_sockets(sockets + [unix])
                for s in sockets + [unix]:
                    s.close()  # the server serves duplicates
                self.assertEqual(server.port, port)
                self.assertEqual(await in_thread(client, socket.AF_INET, ("127.0.0.1", port)),
                                 b"ping\n")
                address = await server.result()
                self.assertEqual((len(address), address[0]), (2, "127.0.0.1"))
                self.assertIsInstance(address[1], int)
                self.assertEqual(await in_thread(client, socket.AF_UNIX, path), b"ping\n")
                self.assertEqual(await server.result(), "")
                server.stop()

        self.run_async(main())

    def test_bind_then_start(self):
        async def echo(stream, address):
            await stream.write(await stream.read_until(b"\n"))
            stream.close()

        async def main():
            server = HandlerServer(echo)
            server.bind(0, "127.0.0.1")
            server.start()
            got = await in_thread(send_and_read_all, server.port, b"a\n")
            self.assertEqual(got, b"a\n")
            server.stop()

        self.run_async(main())

    def test_http_server_add_sockets_takes_bind_sockets(self):
        class Hello(eddy.web.RequestHandler):
            def get(self):
                self.write("hello from add_sockets")

        def fetch(port):
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            conn.request("GET", "/")
            body = conn.getresponse().read()
            conn.close()
            return body

        async def main():
            sockets = eddy.netutil.bind_sockets(0, "127.0.0.1")
            app = eddy.web.Application([("/", Hello)])
            server = eddy.httpserver.HTTPServer(app)
            server.add_sockets(sockets)
            self.assertEqual(await in_thread(fetch, sockets[0].getsockname()[1]),
                             b"hello from add_sockets")
            with self.assertRaisesRegex(RuntimeError, "running event loop"):
                server.start(2)  # inside a running loop: refused before forking
            server.stop()
            for s in sockets:
                s.close()

        self.run_async(main())

    def test_http_server_over_unix_sockets(self):
        # HTTPServer.add_socket(bind_unix_socket(...)), Tornado's way to serve HTTP on a Unix
        # socket, with a file (mode 0600) and an abstract name ("\0name": bind_unix_socket
        # raised ValueError from os.stat, as Tornado's does).
        class Hello(eddy.web.RequestHandler):
            def get(self):
                self.write("hello over unix")

        def fetch(address):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(20)
                s.connect(address)
                s.sendall(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
                return recv_all(s)

        async def main():
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "http.sock")
                abstract = "\0eddy-py-test-%d" % os.getpid()
                unix = [eddy.netutil.bind_unix_socket(path), eddy.netutil.bind_unix_socket(abstract)]
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
                self.assertFalse(os.path.exists(abstract[1:]))
                server = eddy.httpserver.HTTPServer(eddy.web.Application([("/", Hello)]))
                server.add_sockets(unix)
                for s in unix:
                    s.close()  # the server serves duplicates
                for address in (path, abstract):
                    reply = await in_thread(fetch, address)
                    self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply)
                    self.assertTrue(reply.endswith(b"\r\n\r\nhello over unix"), reply)
                with self.assertRaises(OSError):  # the name is taken while served
                    eddy.netutil.bind_unix_socket(abstract)
                server.stop()

        self.run_async(main())


if __name__ == "__main__":
    unittest.main()
