"""eddy.netutil: bind_sockets (port 0 shared across families, IPV6_V6ONLY, family,
reuse_port), bind_unix_socket, is_valid_ip, add_accept_handler with IOStream(connection)."""

import asyncio
import os
import socket
import tempfile
import unittest

from tcp_support import AsyncTestCase, connect, in_thread, recv_all

import eddy.iostream
import eddy.netutil


class NetUtil(unittest.TestCase):
    def test_bind_sockets_shares_port_zero_across_families(self):
        sockets = eddy.netutil.bind_sockets(0, None)
        try:
            ports = {s.getsockname()[1] for s in sockets}
            self.assertEqual(len(ports), 1)
            self.assertTrue(all(not s.getblocking() for s in sockets))
            if socket.has_ipv6 and any(s.family == socket.AF_INET6 for s in sockets):
                v6 = [s for s in sockets if s.family == socket.AF_INET6][0]
                self.assertEqual(v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), 1)
        finally:
            for s in sockets:
                s.close()

    def test_bind_sockets_family_and_reuse_port(self):
        sockets = eddy.netutil.bind_sockets(0, "localhost", family=socket.AF_INET,
                                            reuse_port=True)
        try:
            self.assertEqual([s.family for s in sockets], [socket.AF_INET])
            self.assertEqual(sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT), 1)
            with self.assertRaises(OSError):  # taken, without SO_REUSEPORT on the second
                eddy.netutil.bind_sockets(sockets[0].getsockname()[1], "127.0.0.1")
        finally:
            for s in sockets:
                s.close()

    def test_bind_unix_socket_refuses_a_regular_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "file")
            with open(path, "w") as f:
                f.write("x")
            with self.assertRaises(ValueError):
                eddy.netutil.bind_unix_socket(path)
            sock_path = os.path.join(d, "sock")
            s = eddy.netutil.bind_unix_socket(sock_path, mode=0o640)
            self.assertEqual(os.stat(sock_path).st_mode & 0o777, 0o640)
            s.close()
            eddy.netutil.bind_unix_socket(sock_path).close()  # a stale socket is replaced

    def test_is_valid_ip(self):
        for ip in ("127.0.0.1", "::1", "2001:db8::1", "10.0.0.255"):
            self.assertTrue(eddy.netutil.is_valid_ip(ip), ip)
        for ip in ("", "localhost", "example.com", "1.2.3.4\x00", "::1\x00", "a" * 300):
            self.assertFalse(eddy.netutil.is_valid_ip(ip), ip)



class AcceptHandler(AsyncTestCase):
    def test_add_accept_handler_with_iostream(self):
        async def main():
            [listener] = eddy.netutil.bind_sockets(0, "127.0.0.1")
            addresses = asyncio.Queue()
            tasks = []

            async def serve(stream):
                await stream.write(await stream.read_until(b"\n"))
                stream.close()

            def on_connection(connection, address):
                tasks.append(asyncio.ensure_future(serve(eddy.iostream.IOStream(connection))))
                addresses.put_nowait(address)

            remove = eddy.netutil.add_accept_handler(listener, on_connection)

            def client(port):
                with connect(port) as s:
                    s.sendall(b"hi\n")
                    return recv_all(s)

            self.assertEqual(await in_thread(client, listener.getsockname()[1]), b"hi\n")
            self.assertEqual((await addresses.get())[0], "127.0.0.1")
            remove()
            listener.close()

        self.run_async(main())

if __name__ == "__main__":
    unittest.main()
