#!/usr/bin/env python3
"""The PROXY protocol in front of TLS (eddy_server_set_proxy_protocol with eddy_server_set_tls):
a load balancer that passes TLS through sends the PROXY header first, then the client's
handshake. tls_server --proxy-protocol against Python's ssl module, with certificates
generated here; /peer answers the address the request is credited to."""
import argparse
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_certs import make_certs  # noqa: E402
from tls_server_process import TlsServerProcess, read_to_eof  # noqa: E402

SERVER = None
CERTS = None
GET_PEER = b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def client_context():
    return ssl.create_default_context(cafile=CERTS["ca.crt"])


def v2_header(src, dst, sport, dport):
    """A PROXY v2 PROXY command for TCP over IPv4."""
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


def get_peer_after(port, header):
    """Sends `header`, then a TLS handshake and GET /peer over the same socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        raw.sendall(header)
        with client_context().wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(GET_PEER)
            return read_to_eof(s).split(b"\r\n\r\n", 1)[1]


def get_peer_with_hello(port, header):
    """As get_peer_after, with the header and the ClientHello in one send (one segment): the
    server must take the header off the socket and leave the hello to the handshake."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        raw.sendall(header + outgoing.read())
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = raw.recv(65536)
                if not data:
                    raise ConnectionError("closed during the handshake")
                incoming.write(data)
            finally:
                pending = outgoing.read()
                if pending:
                    raw.sendall(pending)
        tls.write(GET_PEER)
        raw.sendall(outgoing.read())
        answer = b""
        while True:
            try:
                chunk = tls.read(65536)
                if not chunk:  # the server's close_notify
                    break
                answer += chunk
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                break
            data = raw.recv(65536)
            if not data:
                break
            incoming.write(data)
        return answer.split(b"\r\n\r\n", 1)[1]


class ProxyProtocolTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = TlsServerProcess(SERVER, "--cert", CERTS["server.crt"], "--key",
                                      CERTS["server.key"], "--proxy-protocol")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(unittest.TestCase())

    def test_v1_header_then_handshake(self):
        self.assertEqual(get_peer_after(self.server.port,
                                        b"PROXY TCP4 203.0.113.7 192.0.2.1 4444 443\r\n"),
                         b"remote=203.0.113.7 port=4444 scheme=https\n")

    def test_v2_header_and_client_hello_in_one_segment(self):
        self.assertEqual(get_peer_with_hello(self.server.port,
                                             v2_header("198.51.100.9", "192.0.2.1", 5555, 443)),
                         b"remote=198.51.100.9 port=5555 scheme=https\n")
        self.assertEqual(get_peer_with_hello(self.server.port,
                                             b"PROXY TCP6 2001:db8::5 2001:db8::1 6666 443\r\n"),
                         b"remote=2001:db8::5 port=6666 scheme=https\n")

    def test_header_in_pieces(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in (b"PROXY TC", b"P4 203.0.113.8 192.0.2", b".1 7777 443\r", b"\n"):
                raw.sendall(piece)
                time.sleep(0.05)  # separate reads on the server (the test holds either way)
            with client_context().wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(GET_PEER)
                body = read_to_eof(s).split(b"\r\n\r\n", 1)[1]
        self.assertEqual(body, b"remote=203.0.113.8 port=7777 scheme=https\n")

    def test_unknown_keeps_the_socket_peer(self):
        self.assertTrue(get_peer_after(self.server.port, b"PROXY UNKNOWN\r\n")
                        .startswith(b"remote=127.0.0.1 port="))

    def test_handshake_without_header_is_refused_and_others_served(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                client_context().wrap_socket(raw, server_hostname="localhost")
        self.assertIn("PROXY protocol header rejected", self.server.log())
        self.assertEqual(get_peer_after(self.server.port,
                                        b"PROXY TCP4 203.0.113.9 192.0.2.1 8888 443\r\n"),
                         b"remote=203.0.113.9 port=8888 scheme=https\n")

    def test_malformed_header_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            raw.sendall(b"PROXY TCP4 300.1.1.1 192.0.2.1 1 443\r\n")
            try:  # closed: a FIN, or a reset (the header was looked at, never read)
                self.assertEqual(read_to_eof(raw), b"")
            except ConnectionResetError:
                pass
        self.assertIn("PROXY protocol header rejected", self.server.log())

    def test_peer_leaving_mid_header_is_quiet(self):
        before = self.server.log().count("rejected")
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            raw.sendall(b"PROXY TCP4 203.0")
        self.assertEqual(get_peer_after(self.server.port,
                                        b"PROXY TCP4 203.0.113.10 192.0.2.1 9999 443\r\n"),
                         b"remote=203.0.113.10 port=9999 scheme=https\n")
        self.assertEqual(self.server.log().count("rejected"), before)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args, rest = ap.parse_known_args()
    SERVER = args.server
    with tempfile.TemporaryDirectory() as d:
        CERTS = make_certs(d)
        unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
