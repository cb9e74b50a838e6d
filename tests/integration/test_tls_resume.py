#!/usr/bin/env python3
"""TLS session resumption against tls_server, with Python's ssl module as the client (it closes
its socket without sending close_notify, like many browsers).

ResumptionTest: chains of connections, each offering the session of the one before, for TLS 1.2
and 1.3, with session tickets (stateless) and without (the server's session cache). Every
connection after the first must be resumed: a cleanly ended connection keeps its session.

QuickAckTest: after a resumed TLS 1.2 handshake the client's Finished is the last handshake
message and the server has nothing to answer. A client with Nagle's algorithm on holds its
request until that Finished is acknowledged; if the server leaves the ACK to the kernel's
delayed-ACK timer, every resumed connection stalls for 40 ms. Asserted without timing: the test
runs in a private network namespace (unshare -rn), where /proc/net/netstat's TcpExt
DelayedACKs counts the delayed-ACK timer firings of this test's connections only, and checks
that the timer is not needed to let the request out. Exits 77 (skipped) when no namespace can
be made.
"""
import argparse
import fcntl
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_certs import make_certs  # noqa: E402
from tls_server_process import TlsServerProcess, read_to_eof  # noqa: E402

SERVER = None
CERTS = None
REQUEST = b"GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


class TlsServer(TlsServerProcess):
    def __init__(self, *args):
        super().__init__(SERVER, "--cert", CERTS["server.crt"], "--key", CERTS["server.key"], *args)


def client_context(version):
    ctx = ssl.create_default_context(cafile=CERTS["ca.crt"])
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def delayed_acks():
    """TcpExt DelayedACKs of this network namespace: delayed-ACK timer firings."""
    with open("/proc/net/netstat") as f:
        lines = [line.split() for line in f if line.startswith("TcpExt:")]
    names, values = lines[0], lines[1]
    return int(values[names.index("DelayedACKs")])


def wait_acked(sock, deadline):
    """Waits until the peer acknowledged everything sent (SIOCOUTQ: bytes not yet acked)."""
    while time.monotonic() < deadline:
        left = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        if left == 0:
            return True
        time.sleep(0.0005)
    return False


class ResumptionTest(unittest.TestCase):
    def chain(self, version, *server_args, count=4):
        server = TlsServer(*server_args)
        try:
            ctx = client_context(version)
            session, reused = None, []
            for i in range(count):
                with socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw:
                    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
                    s.sendall(REQUEST)
                    self.assertIn(b"path=/r", read_to_eof(s))  # TLS 1.3 tickets come first
                    reused.append(s.session_reused)
                    session = s.session
                    s.close()  # no close_notify from this side, as browsers often do
            self.assertEqual(reused, [False] + [True] * (count - 1), server.log())
        finally:
            server.stop(self)

    def test_tls12_tickets(self):
        self.chain(ssl.TLSVersion.TLSv1_2)

    def test_tls12_session_cache(self):
        self.chain(ssl.TLSVersion.TLSv1_2, "--no-tickets")

    def test_tls13_tickets(self):
        self.chain(ssl.TLSVersion.TLSv1_3)

    def test_tls13_session_cache(self):
        self.chain(ssl.TLSVersion.TLSv1_3, "--no-tickets")

    def test_s_client_session_cache_tls12(self):
        # openssl s_client, another client: a session ID (no ticket) saved and offered again.
        server = TlsServer("--no-tickets")
        try:
            with tempfile.TemporaryDirectory() as d:
                sess = os.path.join(d, "sess.pem")
                outs = []
                for flag in ("-sess_out", "-sess_in", "-sess_in"):
                    r = subprocess.run(["openssl", "s_client", "-connect",
                                        "127.0.0.1:%d" % server.port, "-tls1_2",
                                        "-CAfile", CERTS["ca.crt"], "-servername", "localhost",
                                        "-ign_eof", flag, sess],
                                       input=REQUEST, capture_output=True, timeout=20)
                    self.assertIn(b"path=/r", r.stdout)
                    outs.append(r.stdout)
                self.assertIn(b"New, TLSv1.2", outs[0])
                self.assertIn(b"Reused, TLSv1.2", outs[1])
                self.assertIn(b"Reused, TLSv1.2", outs[2])
        finally:
            server.stop(self)


class QuickAckTest(unittest.TestCase):
    RESUMED = 8

    def test_resumed_tls12_request_needs_no_delayed_ack(self):
        server = TlsServer()
        try:
            ctx = client_context(ssl.TLSVersion.TLSv1_2)
            session, stalled, reused = None, 0, 0
            for i in range(self.RESUMED + 1):
                # Nagle's algorithm stays on (no TCP_NODELAY), as in Python's http.client.
                with socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw:
                    before = delayed_acks()
                    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
                    s.sendall(REQUEST)
                    self.assertTrue(wait_acked(s, time.monotonic() + 10),
                                    "the request was never acknowledged")
                    after = delayed_acks()
                    self.assertIn(b"path=/r", read_to_eof(s))
                    if s.session_reused:
                        reused += 1
                        stalled += after > before
                    session = s.session
                    s.close()
            self.assertEqual(reused, self.RESUMED)
            # Without the server's immediate ACK, every resumed connection needs the timer
            # (stalled == RESUMED, every time: checked with the TCP_QUICKACK call removed).
            # With it, none does, unless a loaded host kept a process off the CPU for the
            # timer's 40 ms at the wrong moment, which any number of them can meet on a busy
            # machine: the test asks for one connection that went without the timer.
            self.assertLess(stalled, self.RESUMED,
                            "%d of %d resumed connections waited for a delayed ACK"
                            % (stalled, self.RESUMED))
        finally:
            server.stop(self)


def bring_loopback_up():
    # SIOCGIFFLAGS / SIOCSIFFLAGS on "lo": a new network namespace starts with it down.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), 0x8913, req))[1]
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sh", b"lo", flags | 1))


def enter_private_netns(argv):
    """Re-runs this script in a new user + network namespace; exits 77 if none can be made."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        print("SKIP: cannot create a network namespace (unshare -rn): %s"
              % probe.stderr.decode(errors="replace").strip())
        sys.exit(77)
    os.execvp("unshare", ["unshare", "-rn", sys.executable, os.path.abspath(__file__),
                          "--in-netns", *argv])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--netns", action="store_true", help="run in a private network namespace")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.netns and not args.in_netns:
        enter_private_netns(["--server", args.server, *rest])
    if args.in_netns:
        bring_loopback_up()
    SERVER = args.server
    with tempfile.TemporaryDirectory() as d:
        CERTS = make_certs(d)
        unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
