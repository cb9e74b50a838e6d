#!/usr/bin/env python3
"""HTTPS server tests: openssl s_client, curl --cacert and Python's ssl module against
tls_server (an eddy server with a TLS context) using certificates generated here."""
import argparse
import os
import random
import re
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_certs import make_certs  # noqa: E402
from tls_server_process import TlsServerProcess, read_to_eof  # noqa: E402

SERVER = None
CONNECT = None
KEYUPDATE = None
CERTS = None


class TlsServer(TlsServerProcess):
    def __init__(self, *args):
        super().__init__(SERVER, *args)


def s_client(port, *args, data=b"", timeout=20):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", CERTS["ca.crt"],
           "-verify_return_error", *args]
    return subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)


def curl(port, path="/", *args, host="localhost", more=()):
    cmd = ["curl", "-sS", "--max-time", "20", "--cacert", CERTS["ca.crt"],
           "--resolve", "%s:%d:127.0.0.1" % (host, port), *args,
           "https://%s:%d%s" % (host, port, path), *more]
    return subprocess.run(cmd, capture_output=True, timeout=30)


def client_context(**kw):
    ctx = ssl.create_default_context(cafile=CERTS["ca.crt"])
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def https_get(port, path, ctx=None, host="localhost"):
    ctx = ctx or client_context()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host.encode()))
            return read_to_eof(s)


def tls_pipeline(port, n, cut, deadline=60):
    """Sends n pipelined GET /p<i> over one TLS connection as TLS records cut from the byte
    stream by cut(stream) (a list of record sizes), reading answers whenever the socket allows
    (non-blocking, so neither side waits on the other). Returns the paths answered, in order."""
    rng = random.Random(n)
    stream = b"".join(b"GET /p%d HTTP/1.1\r\nHost: localhost\r\nX-Pad: %s\r\n\r\n"
                      % (i, b"x" * rng.randrange(0, 80)) for i in range(n))
    records, at = [], 0
    for size in cut(stream):
        records.append(stream[at:at + size])
        at += size
    assert b"".join(records) == stream
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = client_context().wrap_socket(raw, server_hostname="localhost")
    s.setblocking(False)
    got = b""
    end = time.monotonic() + deadline
    try:
        while got.count(b"scheme=") < n and time.monotonic() < end:
            readable, writable, _ = select.select([s], [s] if records else [], [], 1)
            if writable and records:
                try:
                    sent = s.send(records[0])  # one record (a retry sends the same bytes)
                    records[0] = records[0][sent:]
                    if not records[0]:
                        records.pop(0)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
            while readable or s.pending():
                readable = False
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not chunk:
                    end = 0  # closed
                    break
                got += chunk
    finally:
        s.close()
    return re.findall(rb"scheme=https path=(\S+)\n", got)


def record_sizes(total, pick):
    sizes = []
    while total > 0:
        sizes.append(min(total, pick()))
        total -= sizes[-1]
    return sizes


class TlsServerTest(unittest.TestCase):
    # The default handshake timeout (10 s): every client here completes its handshake, and a
    # loaded machine can take more than a second for one (curl, openssl, 8 parallel clients
    # against a sanitizer build). The timeout's own test has its own server.
    @classmethod
    def setUpClass(cls):
        cls.server = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"],
                               "--sni", "other.test,%s,%s" % (CERTS["other.crt"], CERTS["other.key"]))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(unittest.TestCase())

    def test_curl_cacert_scheme_https(self):
        r = curl(self.server.port, "/hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"scheme=https path=/hello\n")

    def test_curl_keepalive_several_requests(self):
        url2 = "https://localhost:%d/second" % self.server.port
        r = curl(self.server.port, "/first", "-v", more=[url2])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"scheme=https path=/first\nscheme=https path=/second\n")
        self.assertIn(b"Re-using existing connection", r.stderr)

    def test_s_client_tls12_and_tls13_with_alpn(self):
        for version, name in (("-tls1_2", b"TLSv1.2"), ("-tls1_3", b"TLSv1.3")):
            r = s_client(self.server.port, version, "-alpn", "h2,http/1.1",
                         "-servername", "localhost", "-ign_eof",
                         data=b"GET /v HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            out = r.stdout
            self.assertIn(b"Verify return code: 0 (ok)", out)
            self.assertIn(b"Protocol  : " + name if version == "-tls1_2" else name, out)
            self.assertIn(b"ALPN protocol: http/1.1", out)
            self.assertIn(b"scheme=https path=/v", out)

    def test_alpn_no_overlap_is_refused_with_alert(self):
        # RFC 7301 §3.2: no protocol in common -> fatal no_application_protocol alert.
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                ctx = client_context()
                ctx.maximum_version = version
                ctx.set_alpn_protocols(["h2"])
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
                    with self.assertRaises(ssl.SSLError) as caught:
                        ctx.wrap_socket(raw, server_hostname="localhost")
                self.assertIn("NO APPLICATION PROTOCOL", str(caught.exception).upper())
        # A client that offers no ALPN at all is served, and so is one offering http/1.1 among
        # others; the server is still up for both after the refusals.
        for alpn in (None, ["h2", "http/1.1"]):
            ctx = client_context()
            if alpn:
                ctx.set_alpn_protocols(alpn)
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    self.assertEqual(tls.selected_alpn_protocol(), "http/1.1" if alpn else None)
            self.assertIn(b"scheme=https path=/x", https_get(self.server.port, b"/x", ctx))

    def raw_exchange(self, request, server_hostname="localhost"):
        """Sends `request` over a new TLS connection (SNI `server_hostname`, None: no SNI, not
        verified) and reads until the server closes; returns the bytes."""
        ctx = client_context()
        if server_hostname is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif server_hostname != server_hostname.lower().rstrip("."):
            ctx.check_hostname = False  # the chain is still verified; the spelling is the test
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
                s.sendall(request)
                return read_to_eof(s)

    def test_misdirected_request_421(self):
        # RFC 9110 §7.4, §15.5.20: a request for a host the connection's certificate (picked by
        # SNI) is not valid for is answered 421, and the connection closes.
        def get(host, sni="localhost", version=b"1.1"):
            head = b"GET /tlsinfo HTTP/" + version + b"\r\n"
            if host is not None:
                head += b"Host: " + host + b"\r\n"
            return self.raw_exchange(head + b"Connection: close\r\n\r\n", sni)
        # Without SNI, or with a spelling of it the callback would not have matched before
        # (final dot, capitals), a Host whose context is not the connection's is refused too:
        # that context may ask for client certificates this connection never asked for.
        for host, sni in ((b"other.test", "localhost"), (b"localhost", "other.test"),
                          (b"evil.example:443", "localhost"), (b"other.test", None),
                          (b"OTHER.test.", None), (b"other.test", "localhost.")):
            with self.subTest(host=host, sni=sni):
                out = get(host, sni)
                self.assertTrue(out.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), out[:200])
        # The name the handshake was for, in any case, with a port or a final dot; a host the
        # same certificate covers and the SNI callback maps to the same context (the IP SAN);
        # no SNI at all (nothing claimed); HTTP/1.0 without Host.
        for host, sni, version in ((b"localhost", "localhost", b"1.1"),
                                   (b"LocalHost.:8443", "localhost", b"1.1"),
                                   (b"127.0.0.1", "localhost", b"1.1"),
                                   (b"other.test", "other.test", b"1.1"),
                                   (b"localhost", None, b"1.1"),
                                   (b"127.0.0.1", None, b"1.1"),
                                   (None, "localhost", b"1.0")):
            with self.subTest(host=host, sni=sni, version=version):
                out = get(host, sni, version)
                self.assertIn(b" 200 OK\r\n", out[:20], out[:200])
                want = b"sni=%s probe=-5 peer=-5 der=" % (sni.encode() if sni else b"-")
                self.assertIn(want, out)

    def test_sni_spelling_picks_the_same_context(self):
        # RFC 6066 3: no final dot; names are case-insensitive. The callback sees "other.test"
        # for "OTHER.test." too, so the connection gets other.test's certificate (and its
        # settings), and its requests for other.test are served.
        for sni in ("other.test.", "OTHER.Test"):
            with self.subTest(sni=sni):
                r = s_client(self.server.port, "-servername", sni)
                self.assertIn(b"subject=CN = other.test", r.stdout)
                out = self.raw_exchange(b"GET /tlsinfo HTTP/1.1\r\nHost: other.test\r\n"
                                        b"Connection: close\r\n\r\n", sni)
                self.assertIn(b" 200 OK\r\n", out[:20], out[:200])

    def test_sni_picks_certificate(self):
        r = s_client(self.server.port, "-servername", "other.test", "-verify_hostname", "other.test",
                     data=b"")
        self.assertIn(b"subject=CN = other.test", r.stdout)
        self.assertIn(b"Verify return code: 0 (ok)", r.stdout)
        body = https_get(self.server.port, b"/sni", host="other.test")
        self.assertIn(b"scheme=https path=/sni", body)
        r = s_client(self.server.port, "-servername", "localhost", data=b"")
        self.assertIn(b"subject=CN = localhost", r.stdout)

    def test_session_resumption_ticket_tls12(self):
        with tempfile.TemporaryDirectory() as d:
            sess = os.path.join(d, "sess.pem")
            r1 = s_client(self.server.port, "-tls1_2", "-sess_out", sess, "-servername", "localhost")
            self.assertIn(b"New, TLSv1.2", r1.stdout)
            r2 = s_client(self.server.port, "-tls1_2", "-sess_in", sess, "-servername", "localhost")
            self.assertIn(b"Reused, TLSv1.2", r2.stdout)

    def test_session_resumption_tls13_python(self):
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n")
                s.recv(4096)  # tickets arrive after the handshake in TLS 1.3
                session = s.session
        self.assertIsNotNone(session)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                self.assertTrue(s.session_reused)
                s.sendall(b"GET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                self.assertIn(b"path=/b", s.recv(4096))

    def test_large_response(self):
        body = https_get(self.server.port, b"/big")
        head, _, payload = body.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head)
        self.assertEqual(len(payload), 1 << 20)
        self.assertEqual(payload, b"x" * (1 << 20))

    def test_pipelined_requests_in_many_records(self):
        # The server reads ahead: one recv takes many records, which OpenSSL then holds while
        # the connection works through them (and while it waits for its answers to leave).
        # Every request must be answered, in order, whether each is a record of its own or
        # records carry many requests, and with the answers read only while sending.
        rng = random.Random(7)
        cuts = {
            "a request per record": lambda b: [m.end() - m.start() for m in
                                               re.finditer(rb"GET .*?\r\n\r\n", b, re.S)],
            "records of 1-600 bytes, cut anywhere": lambda b: record_sizes(
                len(b), lambda: rng.randrange(1, 601)),
            "16 KiB records": lambda b: record_sizes(len(b), lambda: 16384),
        }
        for name, cut in cuts.items():
            paths = tls_pipeline(self.server.port, 3000, cut)
            self.assertEqual(paths, [b"/p%d" % i for i in range(3000)], name)

    def test_large_upload(self):
        # 5 MiB of body in 16 KiB records, and in one sendall: read ahead must lose nothing.
        body = bytes(range(256)) * (5 * 4096)
        fnv = 2166136261
        for b in body:
            fnv = ((fnv ^ b) * 16777619) & 0xFFFFFFFF
        expect = b"path=/up body=%d fnv=%08x\n" % (len(body), fnv)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as raw:
            with client_context().wrap_socket(raw, server_hostname="localhost") as s:
                for _ in range(2):
                    s.sendall(b"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                              % len(body) + body)
                    got = b""
                    while not got.endswith(b"\n") or b"\r\n\r\n" not in got:
                        chunk = s.recv(4096)
                        self.assertTrue(chunk, "closed early: %r" % got)
                        got += chunk
                    self.assertIn(expect, got)

    def test_plain_http_to_tls_port_gets_400_others_unharmed(self):
        # http:// typed for an https:// port: a plain-text 400 saying why, then the close (as
        # nginx), never the application's answer. A TLS connection open meanwhile keeps working.
        ctx = client_context()
        raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
        keep = ctx.wrap_socket(raw, server_hostname="localhost")
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = plain.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            self.assertNotIn(b"scheme=", data)
            self.assertTrue(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data)
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertIn(b"\r\nConnection: close", head)
            self.assertIn(b"HTTPS", body)
            self.assertIn(b"Content-Length: %d\r\n" % len(body), head)
        # curl sees the same (a status, not "Empty reply from server").
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            "http://127.0.0.1:%d/" % self.server.port],
                           capture_output=True, timeout=20)
        self.assertEqual(r.stdout, b"400")
        # Bytes that are not HTTP get no plain-text answer (at most a TLS alert).
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as junk:
            junk.sendall(b"\x00\x01\x02\x03\x04 hello\r\n\r\n")
            try:
                self.assertNotIn(b"HTTP/", read_to_eof(junk))
            except ConnectionResetError:
                pass
        keep.sendall(b"GET /still HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        self.assertIn(b"path=/still", keep.recv(4096))
        keep.close()
        self.assertIn("handshake failed", self.server.log())

    def test_any_plain_text_request_gets_400_binary_gets_nothing(self):
        # OpenSSL names only "GET ", "POST", "HEAD", "PUT " (and "CONNE") as plain HTTP: a
        # DELETE, OPTIONS or PATCH sent to the HTTPS port, a lower-case method, or a person
        # typing at it got no answer at all, where nginx answers its 400. Text in place of the
        # first TLS record now gets the same 400 as a GET; binary bytes that are not TLS (random
        # ones, a record of another kind) still get none. One log line per connection either way.
        def exchange(data):
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as s:
                s.sendall(data)
                try:
                    return read_to_eof(s)
                except ConnectionResetError:
                    return b"<reset>"
        before = self.server.log().count("handshake failed")
        texts = [b"DELETE /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"PATCH /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
                 b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n",
                 b"get / HTTP/1.0\r\n\r\n",
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                 b"hello, anyone there?\r\n"]
        for data in texts:
            with self.subTest(data=data[:10]):
                out = exchange(data)
                self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out)
                self.assertIn(b"HTTPS", out)
                self.assertNotIn(b"scheme=", out)
        rng = random.Random(512)
        binary = [bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),  # an alert, not a hello
                  b"\x00\x01\x02\x03\x04 hello\r\n\r\n"]
        while len(binary) < 10:
            data = bytes(rng.randrange(256) for _ in range(512))
            if data[0] != 0x16:
                binary.append(data)
        for data in binary:
            with self.subTest(data=data[:5]):
                self.assertNotIn(b"HTTP/", exchange(data))
        deadline = time.time() + 10
        want = before + len(texts) + len(binary)
        while self.server.log().count("handshake failed") < want:
            self.assertLess(time.time(), deadline, self.server.log()[-2000:])
            time.sleep(0.05)
        time.sleep(0.2)
        self.assertEqual(self.server.log().count("handshake failed"), want)
        self.assertIn(b"scheme=https path=/after", https_get(self.server.port, b"/after"))

    def test_plain_http_400_survives_a_request_longer_than_what_was_read(self):
        # The 400 is decided on the first record's header, with at most what OpenSSL read
        # ahead (~16 KB) taken from the socket: a POST's body or pipelined requests leave more
        # unread. A close with unread input is a reset, and a client that sends its whole
        # request before it reads (most do) saw its send fail (ECONNRESET, EPIPE) or its read
        # end in a reset instead of the 400. As for the plain server's own 400s (and nginx's
        # lingering close), the server half-closes after the 400 and reads and discards what
        # still comes, for a bounded time, before the close.
        body = b"x" * (512 * 1024)
        requests = [b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                    % len(body) + body,
                    b"GET /p HTTP/1.1\r\nHost: localhost\r\n\r\n" * 5000]
        for data in requests:
            with self.subTest(data=data[:4]):
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as s:
                    s.sendall(data)
                    out = read_to_eof(s)
                self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out[:200])
                self.assertIn(b"HTTPS", out)
        self.assertIn(b"scheme=https path=/after", https_get(self.server.port, b"/after"))

    def test_client_leaving_mid_handshake_is_logged_plainly(self):
        # Connect and leave, or leave in the middle of the ClientHello: the log says what
        # happened (OpenSSL queues no error for a clean end of stream).
        for cut in (0, 40):
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
                if cut:
                    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(cut - 11))
        deadline = time.time() + 10
        while self.server.log().count("handshake failed: the peer closed the connection") < 2:
            self.assertLess(time.time(), deadline, self.server.log()[-2000:])
            time.sleep(0.05)
        self.assertNotIn("no OpenSSL error queued", self.server.log())

    def test_untrusted_client_side_fails(self):
        ctx = ssl.create_default_context()  # system CAs only: our CA is unknown
        with self.assertRaises(ssl.SSLCertVerificationError):
            https_get(self.server.port, b"/", ctx=ctx)
        self.assertIn(b"scheme=https", https_get(self.server.port, b"/after"))

    def test_clients_vanishing_mid_response(self):
        # Resets while the server writes a large response: EPIPE/ECONNRESET on that
        # connection only (never SIGPIPE for the process).
        import struct
        for _ in range(10):
            raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
            s = client_context().wrap_socket(raw, server_hostname="localhost")
            s.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.recv(100)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        self.assertIn(b"path=/alive", https_get(self.server.port, b"/alive"))
        self.assertIsNone(self.server.proc.poll())

    def test_handshake_timeout_closes_silent_client(self):
        server = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"],
                           "--handshake-timeout", "1")
        try:
            # A ClientHello that comes late (the server makes its TLS state only then) is
            # served as one that came at once.
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw:
                time.sleep(0.4)
                with client_context().wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET /late HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    self.assertIn(b"scheme=https path=/late", read_to_eof(s))
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
                s.settimeout(20)  # a hang guard: the close comes after 1 s
                # Say nothing: the server's 1 s handshake timeout must close us.
                self.assertEqual(s.recv(100), b"")
            self.assertGreater(time.monotonic() - start, 0.8)
            self.assertIn("handshake timed out", server.log())
        finally:
            server.stop(self)

    def test_parallel_clients(self):
        results = []

        def worker(i):
            try:
                results.append(https_get(self.server.port, b"/p%d" % i))
            except Exception as e:  # noqa: BLE001
                results.append(repr(e).encode())

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 16)
        for r in results:
            self.assertIn(b"scheme=https", r)


class TlsConnectTest(unittest.TestCase):
    """eddy_connect_tls() (the stream C API over TLS) against eddy's HTTPS server."""

    @classmethod
    def setUpClass(cls):
        cls.server = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(unittest.TestCase())

    def run_tool(self, *args, host="localhost"):
        p = subprocess.run([CONNECT, host, str(self.server.port), *args], capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode().strip()

    def test_verified_connect_alpn_and_body(self):
        out = self.run_tool("--ca", CERTS["ca.crt"])
        self.assertEqual(out, "connect=0 tls=1 alpn=http/1.1 close=0 bytes=%s body=scheme=https path=/connect"
                         % re.search(r"bytes=(\d+)", out).group(1))
        out = self.run_tool("--ca", CERTS["ca.crt"], host="127.0.0.1")  # IP SAN
        self.assertIn("body=scheme=https path=/connect", out)

    def test_untrusted_and_wrong_name_fail(self):
        self.assertIn("close=EDDY_ETLS bytes=0", self.run_tool())
        self.assertIn("close=EDDY_ETLS bytes=0", self.run_tool("--ca", CERTS["ca.crt"], "--name", "other.test"))
        self.assertIn("body=scheme=https", self.run_tool("--no-verify"))

    def test_alpn_h2_only_is_refused(self):
        # eddy's own client sees the server's no_application_protocol alert as a TLS failure.
        self.assertIn("close=EDDY_ETLS bytes=0", self.run_tool("--ca", CERTS["ca.crt"], "--alpn", "h2"))


class TlsServerVariantsTest(unittest.TestCase):
    def test_cert_from_memory_and_tls13_only(self):
        srv = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"], "--mem",
                        "--tls13")
        try:
            r = curl(srv.port, "/m")
            self.assertEqual(r.stdout, b"scheme=https path=/m\n", r.stderr)
            r = s_client(srv.port, "-tls1_2", "-servername", "localhost")
            self.assertNotEqual(r.returncode, 0)
        finally:
            srv.stop(self)

    def test_client_certificate_required(self):
        srv = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"],
                        "--ca", CERTS["ca.crt"], "--verify", "required")
        try:
            r = curl(srv.port, "/nocert")
            self.assertNotEqual(r.returncode, 0)
            r = curl(srv.port, "/withcert", "--cert", CERTS["client.crt"], "--key", CERTS["client.key"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"scheme=https path=/withcert\n")
            # The request sees the certificate its client presented (DER, byte for byte).
            with open(CERTS["client.crt"]) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            r = curl(srv.port, "/tlsinfo", "--cert", CERTS["client.crt"], "--key", CERTS["client.key"])
            self.assertEqual(r.stdout, b"sni=localhost probe=-11 peer=0 der=%s\n" % der.hex().encode())
            r = curl(srv.port, "/selfcert", "--cert", CERTS["self.crt"], "--key", CERTS["self.key"])
            self.assertNotEqual(r.returncode, 0)
            # eddy's own stream client without a certificate: under TLS 1.3 its handshake ends
            # before the server's verdict, which arrives as the "certificate required" alert
            # where data was awaited: EDDY_ETLS, not a reset.
            p = subprocess.run([CONNECT, "localhost", str(srv.port), "--ca", CERTS["ca.crt"]],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout.decode(), r"^connect=0 tls=1 alpn=\S+ close=EDDY_ETLS bytes=0 ")
        finally:
            srv.stop(self)

    def test_client_certificate_optional(self):
        srv = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"],
                        "--ca", CERTS["ca.crt"], "--verify", "optional")
        try:
            r = curl(srv.port, "/nocert")
            self.assertEqual(r.stdout, b"scheme=https path=/nocert\n", r.stderr)
            r = curl(srv.port, "/tlsinfo")  # OPTIONAL and none presented: ENOENT (-5)
            self.assertEqual(r.stdout, b"sni=localhost probe=-5 peer=-5 der=\n", r.stderr)
            r = curl(srv.port, "/selfcert", "--cert", CERTS["self.crt"], "--key", CERTS["self.key"])
            self.assertNotEqual(r.returncode, 0)
        finally:
            srv.stop(self)

    def test_bad_key_rejected(self):
        proc = subprocess.run([SERVER, "--cert", CERTS["server.crt"], "--key", CERTS["other.key"]],
                              capture_output=True, timeout=20)
        self.assertEqual(proc.returncode, 3)
        self.assertIn(b"cannot load", proc.stderr)


# The KeyUpdate tool is a plain OpenSSL client: in the sanitizer build, OpenSSL's own globals
# would fail it at exit; only the server's leaks matter (TlsServer.stop checks its exit code).
TOOL_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")


class TlsAbuseTest(unittest.TestCase):
    """Peers that abuse TLS itself (fixes of the 2026-11-29 TLS server audit)."""

    def test_keyupdate_flood_is_cut_off_and_others_are_served(self):
        # Every KeyUpdate(update_requested) makes the server send one of its own; one
        # SSL_read answered them all in turn, and 200,000 of them held the loop for seconds.
        srv = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"])
        try:
            p = subprocess.run([KEYUPDATE, str(srv.port), "20000"], capture_output=True,
                               timeout=60, env=TOOL_ENV)
            out = p.stdout.decode().split("\n")
            sent = int(out[0].split()[1])
            self.assertEqual(out[1], "closed", p.stdout)
            self.assertLess(sent, 20000, p.stdout)
            self.assertIn("too many post-handshake messages", srv.log())
            self.assertTrue(https_get(srv.port, b"/other").endswith(b"scheme=https path=/other\n"))
        finally:
            srv.stop(self)

    def test_a_few_keyupdates_are_fine(self):
        srv = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"])
        try:
            p = subprocess.run([KEYUPDATE, str(srv.port), "5"], capture_output=True, timeout=60,
                               env=TOOL_ENV)
            self.assertEqual(p.stdout.decode().split("\n")[:2], ["sent 5", "answer HTTP/1.1 200 OK"])
        finally:
            srv.stop(self)

    def test_no_resumption_across_sni_contexts(self):
        # A session made under other.test (no client certificate asked) resumed with the SNI
        # of the default context, which requires one: it used to get 200 without a certificate
        # (the same as nginx's CVE-2025-23419, in TLS 1.3 and TLS 1.2).
        srv = TlsServer("--cert", CERTS["server.crt"], "--key", CERTS["server.key"],
                        "--ca", CERTS["ca.crt"], "--verify", "required",
                        "--sni", "other.test,%s,%s" % (CERTS["other.crt"], CERTS["other.key"]))
        try:
            for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ctx.minimum_version = ctx.maximum_version = version

                def get(name, session=None):
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as raw:
                        with ctx.wrap_socket(raw, server_hostname=name, session=session) as s:
                            s.sendall(b"GET /x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                      % name.encode())
                            data = b""
                            try:
                                while True:
                                    chunk = s.recv(4096)
                                    if not chunk:
                                        break
                                    data += chunk
                            except (ssl.SSLError, OSError):
                                pass
                            return data, s.session, s.session_reused

                data, session, _ = get("other.test")
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), (version, data))
                try:
                    data, _, reused = get("localhost", session)
                except (ssl.SSLError, OSError):
                    data, reused = b"", False
                self.assertFalse(data.startswith(b"HTTP/1.1 200"), (version, data, reused))
        finally:
            srv.stop(self)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--connect", required=True)
    ap.add_argument("--keyupdate", required=True)
    args, rest = ap.parse_known_args()
    SERVER, CONNECT, KEYUPDATE = args.server, args.connect, args.keyupdate
    with tempfile.TemporaryDirectory() as d:
        CERTS = make_certs(d)
        unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
