#!/usr/bin/env python3
"""TLS on a raw TCP listener (eddy_listener_set_tls, Tornado's TCPServer(ssl_options=...)):
examples/tcp_echo with --certfile/--keyfile against Python's ssl module, with certificates
generated here."""
import argparse
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_certs import make_certs  # noqa: E402
from cmdline_check import (BAD_PORTS, assert_needs_value, assert_refused,  # noqa: E402
                           assert_unknown_refused)

TCP_ECHO = None
CERTS = None


def start_echo(*args):
    """Starts tcp_echo with `args`; returns (process, port) once it listens."""
    proc = subprocess.Popen([TCP_ECHO, "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError("tcp_echo did not start: %r %s" % (line, proc.stderr.read()))
    return proc, int(m.group(1))


def tls_client(port):
    ctx = ssl.create_default_context(cafile=CERTS["ca.crt"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_lines(s, n):
    data = b""
    while data.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class TlsListenerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_echo("--certfile", CERTS["server.crt"],
                                        "--keyfile", CERTS["server.key"])

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        rc = cls.proc.wait(timeout=10)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        assert rc == 0, rc

    def test_lines_come_back_over_tls(self):
        with tls_client(self.port) as s:
            self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
            s.sendall(b"hello\nworld\n")
            self.assertEqual(read_lines(s, 2), b"hello\nworld\n")

    def test_many_lines_in_many_records(self):
        lines = [b"line %d %s\n" % (i, b"x" * (i % 300)) for i in range(2000)]
        with tls_client(self.port) as s:
            for i in range(0, len(lines), 7):  # one TLS record per sendall
                s.sendall(b"".join(lines[i:i + 7]))
            self.assertEqual(read_lines(s, len(lines)), b"".join(lines))

    def test_plain_client_is_closed_and_tls_clients_are_unharmed(self):
        with tls_client(self.port) as good:
            with socket.create_connection(("127.0.0.1", self.port), timeout=20) as plain:
                plain.sendall(b"hello\n")
                # No echo: the handshake fails on the plain bytes, and the stream closes
                # (an alert may come first, never our line).
                data = b""
                while True:
                    try:
                        chunk = plain.recv(4096)
                    except ConnectionResetError:
                        break
                    if not chunk:
                        break
                    data += chunk
                self.assertNotIn(b"hello", data)
            good.sendall(b"still here\n")
            self.assertEqual(read_lines(good, 1), b"still here\n")


class TlsListenerRefusedTest(unittest.TestCase):
    def test_key_not_matching_the_certificate_is_refused(self):
        # eddy_tls_context_load_cert_file refuses the pair: tcp_echo reports it and exits 1.
        p = subprocess.run([TCP_ECHO, "--port", "0", "--certfile", CERTS["server.crt"],
                            "--keyfile", CERTS["client.key"]], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"cannot serve TLS", p.stderr)


class CommandLineTest(unittest.TestCase):
    """tcp_echo --port N: anything but a port number 0-65535 is refused (it was atoi()'d)."""

    def test_malformed_port_refused(self):
        assert_refused(self, "tcp_echo", [TCP_ECHO], "--port", BAD_PORTS)

    def test_trailing_option_without_value_refused(self):
        # "tcp_echo --port" served on the default port 8888.
        assert_needs_value(self, "tcp_echo", [TCP_ECHO, "--port", "0"],
                           ("--port", "--address", "--certfile", "--keyfile"))

    def test_unknown_option_refused(self):
        # "tcp_echo --prot 9000" served on the default port 8888.
        assert_unknown_refused(self, "tcp_echo", [TCP_ECHO, "--port", "0"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp-echo", required=True)
    args, rest = ap.parse_known_args()
    TCP_ECHO = args.tcp_echo
    with tempfile.TemporaryDirectory() as d:
        CERTS = make_certs(d)
        unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
