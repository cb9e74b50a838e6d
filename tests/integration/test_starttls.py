#!/usr/bin/env python3
"""STARTTLS (eddy_stream_start_tls) against Python's ssl module: a plaintext line exchange, then
ssl.SSLContext.wrap_socket on the same, already connected socket, then the same protocol over
TLS; an upgrade refused when plaintext follows the command; a client that does not trust the
certificate; and eddy as the STARTTLS client of a Python server. Certificates are made here
(tls_certs.py)."""
import argparse
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_conn import read_line  # noqa: E402
from tls_certs import make_certs  # noqa: E402

TOOL = None
CERTS = None


class Server:
    def __init__(self):
        self.proc = subprocess.Popen([TOOL, "--cert", CERTS["server.crt"], "--key",
                                      CERTS["server.key"]], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("starttls_server did not start: %r" % line)
        self.port = int(m.group(1))
        self.stderr = None

    def stop(self):
        """Stops the server (once; it must exit cleanly); returns its stderr."""
        if self.stderr is None:
            self.proc.terminate()
            _, err = self.proc.communicate(timeout=20)
            self.stderr = err.decode()
            assert self.proc.returncode == 0, (self.proc.returncode, self.stderr)
        return self.stderr


def plain_client(port):
    """Connects and reads the greeting: a socket ready for commands."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    assert read_line(s) == b"220 ready\r\n"
    return s


class StartTlsServerTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()

    def tearDown(self):
        self.server.stop()

    def test_plaintext_then_tls_on_one_connection(self):
        ctx = ssl.create_default_context(cafile=CERTS["ca.crt"])
        s = plain_client(self.server.port)
        s.sendall(b"EHLO client.test\r\n")
        self.assertEqual(read_line(s), b"250 plain EHLO client.test\r\n")
        s.sendall(b"STARTTLS\r\n")
        self.assertEqual(read_line(s), b"220 go ahead\r\n")
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
            for word in (b"hello", b"world"):
                t.sendall(word + b"\r\n")
                self.assertEqual(read_line(t), b"250 tls " + word + b"\r\n")
            t.sendall(b"STARTTLS\r\n")  # already TLS: an ordinary line now
            self.assertEqual(read_line(t), b"250 tls STARTTLS\r\n")
            t.sendall(b"QUIT\r\n")
            self.assertEqual(read_line(t), b"221 bye\r\n")

    def test_plaintext_pipelined_after_the_command_is_refused(self):
        # A command injected behind STARTTLS (CVE-2011-0411) must not survive the upgrade:
        # eddy refuses to upgrade a stream with unread input, and this server then hangs up.
        s = plain_client(self.server.port)
        s.sendall(b"STARTTLS\r\nNOOP injected\r\n")
        self.assertEqual(read_line(s), b"220 go ahead\r\n")
        self.assertEqual(s.recv(100), b"")  # closed, nothing answered to the injected line
        s.close()
        self.assertIn("start_tls: refused: EDDY_ESTATE", self.server.stop())

    def test_client_that_does_not_trust_the_certificate(self):
        ctx = ssl.create_default_context()  # the system's CAs only
        s = plain_client(self.server.port)
        s.sendall(b"STARTTLS\r\n")
        self.assertEqual(read_line(s), b"220 go ahead\r\n")
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="localhost")
        s.close()
        # The server goes on: the next client upgrades.
        good = ssl.create_default_context(cafile=CERTS["ca.crt"])
        s = plain_client(self.server.port)
        s.sendall(b"STARTTLS\r\n")
        self.assertEqual(read_line(s), b"220 go ahead\r\n")
        with good.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(b"again\r\n")
            self.assertEqual(read_line(t), b"250 tls again\r\n")
        self.assertIn("start_tls: upgrade failed: EDDY_ETLS", self.server.stop())


class PythonServer(threading.Thread):
    """One STARTTLS conversation as the server, with Python's ssl on the accepted socket."""

    def __init__(self):
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(CERTS["server.crt"], CERTS["server.key"])
        self.got = None
        self.error = None

    def run(self):
        self.listener.settimeout(20)
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(20)
            conn.sendall(b"220 ready\r\n")
            if read_line(conn) != b"STARTTLS\r\n":
                raise AssertionError("no STARTTLS")
            conn.sendall(b"220 go ahead\r\n")
            with self.ctx.wrap_socket(conn, server_side=True) as t:
                self.got = read_line(t)
                t.sendall(b"250 tls " + self.got)
        except (OSError, AssertionError) as e:
            self.error = e
        finally:
            self.listener.close()


class StartTlsClientTest(unittest.TestCase):
    def run_client(self, hostname):
        server = PythonServer()
        server.start()
        out = subprocess.run([TOOL, "--connect", str(server.port), "--ca", CERTS["ca.crt"],
                              "--hostname", hostname, "--say", "hello"],
                             capture_output=True, timeout=60)
        server.join(30)
        return out, server

    def test_eddy_upgrades_a_client_connection(self):
        out, server = self.run_client("localhost")
        self.assertEqual(out.returncode, 0, out)
        self.assertEqual(out.stdout, b"reply: 250 tls hello\n")
        self.assertEqual(server.got, b"hello\r\n")

    def test_eddy_refuses_a_certificate_for_another_name(self):
        out, server = self.run_client("other.test")
        self.assertEqual(out.returncode, 1, out)
        self.assertEqual(out.stdout, b"error: EDDY_ETLS\n")
        self.assertIsInstance(server.error, ssl.SSLError)  # the client's alert


def main():
    global TOOL, CERTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    args, rest = parser.parse_known_args()
    TOOL = args.tool
    with tempfile.TemporaryDirectory() as d:
        CERTS = make_certs(d)
        prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
