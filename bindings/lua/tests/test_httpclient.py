"""Lua binding, HTTP client (eddy.AsyncHTTPClient): tests/httpclient.lua fetches from an eddy
app served from its own loop (plain and HTTPS with a self-signed certificate made by the openssl
command line) and from raw servers run here — one that records each request and answers with
repeated Set-Cookie lines, one that accepts and never answers, and a port nothing listens on —
then reports what it saw as JSON lines that are checked here: header echo, POST/PUT bodies,
repeated and case-insensitive headers, redirects followed or not, 404 as a response with .error
(raised in coroutine mode unless raise_error=false), 599 for a refused port, a timeout, a body
over max_body_size and a failed certificate check, gzip decoding, validate_cert / ca_certs,
close() and cancel() with fetches in flight, max_clients/max_queue, streaming and header
callbacks, streamed request bodies (body_producer: the capture server checks the chunked or
Content-Length framing and the bytes), hostname_mapping (the capture server sees the URL's Host
and an origin-form request line; https checked against the URL's name, a name the certificate
lacks failing with eddy's detail "hostname mismatch" in the error), auth_username / auth_password (the Authorization line
the capture server received), option errors, and a flat Lua registry and descriptor count over
many clients that are closed or garbage-collected."""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

from luatest import HERE, lua_binary, main, named_results

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import tls_certs  # noqa: E402

CAPTURE_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nSet-Cookie: a=1\r\n"
                    b"Set-Cookie: b=2\r\nConnection: close\r\n\r\ncaptured")


class Reader:
    """Reads a request from a socket: lines and exact byte counts over one buffer."""

    def __init__(self, conn):
        self.conn, self.buf = conn, b""

    def fill(self):
        chunk = self.conn.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        out, _, self.buf = self.buf.partition(sep)
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_chunked(reader):
    """A chunked body: returns (the decoded body, how many chunks it came in)."""
    body, chunks = b"", 0
    while True:
        size = int(reader.until(b"\r\n").split(b";")[0], 16)
        if size == 0:
            reader.until(b"\r\n")  # no trailers: the empty line
            return body, chunks
        body += reader.exactly(size)
        chunks += 1
        assert reader.exactly(2) == b"\r\n"


class RawServers:
    """The capture server, the silent server and a refused port (bound, never listening).
    The capture server records (head, body, chunks) for each request: chunks is None for a
    Content-Length body, else the number of chunks of a chunked one."""

    def __init__(self):
        self.captured = []
        self.held = []
        self.capture = socket.create_server(("127.0.0.1", 0))
        self.stall = socket.create_server(("127.0.0.1", 0))
        self.stalled = {}  # what the stall server read: length, CRC-32
        self.silent = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.refused = socket.socket()
        self.refused.bind(("127.0.0.1", 0))
        self.stopping = False
        for target in (self._serve_capture, self._serve_silent, self._serve_stall):
            threading.Thread(target=target, daemon=True).start()

    def port(self, sock):
        return str(sock.getsockname()[1])

    def _serve_capture(self):
        while not self.stopping:
            try:
                conn, _ = self.capture.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    self.captured.append(self._read_request(Reader(conn)))
                    conn.sendall(CAPTURE_RESPONSE)
                except (EOFError, OSError, ValueError, AssertionError):
                    pass  # a request the client gave up on

    @staticmethod
    def _read_request(reader):
        head = reader.until(b"\r\n\r\n")
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            body, chunks = read_chunked(reader)
        else:
            body, chunks = reader.exactly(int(fields.get(b"content-length", b"0"))), None
        return head.decode("latin-1"), body, chunks

    def request(self, target):
        """The captured request whose request line targets `target`: head lines and body."""
        for head, body, chunks in self.captured:
            lines = head.split("\r\n")
            if lines[0].split(" ")[1] == target:
                return lines, body, chunks
        raise AssertionError(f"no captured request for {target}: {[c[0][:40] for c in self.captured]}")

    def _serve_stall(self):
        """One request with a Content-Length body: nothing read for 2 s, then all of it."""
        try:
            conn, _ = self.stall.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(20)
            time.sleep(2)
            try:
                reader = Reader(conn)
                head = reader.until(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")][0]
                n, crc = len(reader.buf), zlib.crc32(reader.buf)
                while n < length:
                    more = conn.recv(1 << 20)
                    if not more:
                        break
                    n, crc = n + len(more), zlib.crc32(more, crc)
                self.stalled.update(length=n, crc=crc)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (OSError, ValueError, IndexError):
                pass

    def _serve_silent(self):
        while not self.stopping:
            try:
                conn, _ = self.silent.accept()
            except OSError:
                return
            self.held.append(conn)  # never answered, closed at the end

    def close(self):
        self.stopping = True
        for s in [self.capture, self.silent, self.refused, self.stall, *self.held]:
            s.close()


class HTTPClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tls_certs.make_certs(cls.tmp.name)
        cls.raw = RawServers()
        cls.unix_path = os.path.join(cls.tmp.name, "raw.sock")
        cls.unix_seen = []
        cls.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cls.unix.bind(cls.unix_path)
        cls.unix.listen(8)
        threading.Thread(target=cls._serve_unix, daemon=True).start()
        proc = subprocess.run([lua_binary(), os.path.join(HERE, "httpclient.lua"),
                               "--unix", cls.unix_path,
                               "--capture", cls.raw.port(cls.raw.capture),
                               "--silent", cls.raw.port(cls.raw.silent),
                               "--refused", cls.raw.port(cls.raw.refused),
                               "--stall", cls.raw.port(cls.raw.stall),
                               "--certs", cls.tmp.name],
                              capture_output=True, text=True, timeout=45)
        cls.stderr = proc.stderr
        lines = proc.stdout.splitlines()
        assert proc.returncode == 0 and lines and lines[-1] == "done", \
            (proc.returncode, proc.stdout, proc.stderr)
        cls.r = named_results(lines[:-1])
        cls.codes = cls.r["failures"]["codes"]

    @classmethod
    def _serve_unix(cls):
        """unix_socket's server: records each request head, answers "unix"."""
        while True:
            try:
                conn, _ = cls.unix.accept()
            except OSError:
                return
            with conn:
                try:
                    head = Reader(conn).until(b"\r\n\r\n")
                    cls.unix_seen.append(head.decode())
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
                                 b"Connection: close\r\n\r\nunix")
                except (OSError, EOFError):
                    pass

    @classmethod
    def tearDownClass(cls):
        cls.unix.shutdown(socket.SHUT_RDWR)  # wakes the accept
        cls.unix.close()
        cls.raw.close()
        cls.tmp.cleanup()

    def failed(self, facts, code):
        """A 599 raised in coroutine mode with the EDDY_E* `code`."""
        self.assertTrue(facts.get("raised"), facts)
        self.assertEqual((facts["code"], facts["eddy_code"]), (599, self.codes[code]), facts)
        self.assertTrue(facts["text"].startswith("HTTP 599: "), facts)

    def test_get_post_and_headers(self):
        b = self.r["basics"]
        self.assertEqual((b["code"], b["reason"], b["error_code"]), (200, "OK", None))
        self.assertEqual(b["json"], {"method": "GET", "x_test": "hdr-1", "user_agent": "lua-test/1"})
        self.assertTrue(b["effective_url"].endswith("/echo"), b)
        self.assertEqual(b["multi"], "one,two")
        self.assertEqual(b["multi_list"], ["one", "two"])
        self.assertTrue(b["index"].startswith("application/json"), b)
        self.assertEqual(b["missing"], "dflt")
        self.assertEqual([n.lower() for n in b["names"]].count("x-multi"), 2)
        self.assertEqual(b["post"], {"method": "POST", "body": "a=1&b=2",
                                     "type": "application/x-www-form-urlencoded", "expect": None})
        self.assertEqual((b["expect"]["body"], b["expect"]["expect"]), ("e", "100-continue"))
        self.assertTrue(b["post_reused"])  # the keep-alive pool served the second request
        self.assertEqual(b["put"], {"method": "PUT", "body": "put body"})
        # A handler that fetches while it handles a request (coroutine handler method).
        self.assertEqual(b["proxy"]["x_test"], "via proxy")
        self.assertEqual(b["headers_object"], "from HTTPHeaders")
        self.assertTrue(b["shared_same"])
        self.assertTrue(b["forced_differs"])

    def test_raw_server_sees_the_request(self):
        c = self.r["capture"]
        self.assertEqual((c["code"], c["body"]), (200, "captured"))
        self.assertEqual(c["cookies"], ["a=1", "b=2"])
        self.assertEqual(c["joined"], "a=1,b=2")
        lines, body, _ = self.raw.request("/cap?q=1")
        self.assertEqual(lines[0], "POST /cap?q=1 HTTP/1.1")
        fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        self.assertEqual(fields["host"], "127.0.0.1:" + self.raw.port(self.raw.capture))
        self.assertEqual(fields["x-cap"], "c1")
        self.assertEqual(fields["content-length"], "16")
        self.assertEqual(body, b"raw body \0 bytes")

    def test_redirects(self):
        r = self.r["redirects"]
        f = r["followed"]
        self.assertEqual((f["code"], f["redirects"], f["error_code"]), (200, 1, None), f)
        self.assertTrue(f["effective_url"].endswith("/echo"), f)
        self.assertEqual(json.loads(f["body"])["method"], "GET")
        self.assertEqual(json.loads(r["post_303"]["body"])["method"], "GET")  # 303 → GET
        n = r["not_followed"]
        self.assertEqual((n["code"], n["error_code"], n["location"]), (302, 302, "/echo"), n)
        self.assertTrue(n["effective_url"].endswith("/redirect"), n)
        self.assertEqual((r["not_followed_raises"]["raised"], r["not_followed_raises"]["code"]), (True, 302))
        t = r["too_many"]
        self.assertEqual((t["code"], t["redirects"], t["error_code"]), (302, 2, 302), t)

    def test_404_is_a_response_with_error(self):
        n = self.r["not_found"]
        self.assertEqual((n["raised"]["raised"], n["raised"]["code"], n["raised"]["response_code"]),
                         (True, 404, 404))
        self.assertEqual(n["raised"]["text"], "HTTP 404: Not Found")
        for facts in (n["response"], n["callback"]):
            self.assertEqual((facts["code"], facts["error_code"], facts["error_eddy_code"]), (404, 404, None))
            self.assertIn("404", facts["body"])
        self.assertEqual(n["callback_rethrow"], 404)

    def test_network_failures_are_599(self):
        f = self.r["failures"]
        self.failed(f["refused"], "ECONNREFUSED")
        # The address tried and the system's reason (eddy_fetch_error_detail).
        self.assertRegex(f["refused"]["detail"], r"^connect to 127\.0\.0\.1:\d+: Connection refused$")
        cb = f["refused_callback"]
        self.assertEqual((cb["code"], cb["error_code"], cb["error_eddy_code"]),
                         (599, 599, self.codes["ECONNREFUSED"]))
        self.failed(f["timeout"], "ETIMEDOUT")
        self.failed(f["connect_timeout"], "ETIMEDOUT")  # waiting for a slot of max_clients=1
        self.failed(f["too_big"], "ETOOBIG")
        self.assertEqual(f["big_ok"], 10000)
        self.failed(f["client_limit"], "ETOOBIG")  # the client's max_body_size as the default
        self.failed(f["bad_url"], "EINVAL")

    def test_gzip_decoded(self):
        g = self.r["gzip"]
        self.assertTrue(g["decoded_ok"], g)
        self.assertEqual(g["decoded_len"], g["text_len"])
        # ...and it did arrive compressed: decoded, the field is renamed as Tornado does.
        self.assertEqual((g["decoded_encoding"], g["decoded_consumed"]), (None, "gzip"))
        # The server really compressed: undecoded, the body is gzip and much shorter.
        self.assertEqual((g["raw_magic"], g["raw_encoding"]), ("1f8b", "gzip"))
        self.assertLess(g["raw_len"], g["text_len"] // 4)
        self.assertEqual((g["plain_ok"], g["plain_encoding"]), (True, None))

    def test_https(self):
        h = self.r["https"]
        for case in ("no_validate", "ca_certs"):
            self.assertEqual((h[case]["code"], h[case]["body"]), (200, "https"), (case, h[case]))
        self.failed(h["default"], "ETLS")  # a self-signed certificate is not trusted by default
        self.failed(h["validate_true"], "ETLS")
        self.assertIn("ca_certs " + os.path.join(self.tmp.name, "missing.pem"), h["missing_ca"])
        self.assertIn("client_key", h["key_without_cert"])

    def test_close_and_cancel_in_flight(self):
        c = self.r["cancel"]
        self.assertEqual((c["active_before"], c["active_after"]), (2, 0))
        cb = c["during_close"]["callback"]
        self.assertEqual((cb["code"], cb["error_eddy_code"]), (599, self.codes["ECANCELED"]))
        self.failed(c["during_close"]["coroutine"], "ECANCELED")
        self.assertEqual(c["after_close"]["text"], "HTTP 599: client closed")
        self.assertTrue(c["cancel_rc"])
        self.assertEqual((c["cancelled"]["code"], c["cancelled"]["error_eddy_code"]),
                         (599, self.codes["ECANCELED"]))
        self.assertFalse(c["cancel_again"])
        self.assertTrue(c["handle_done"])
        codes = sorted((x["code"], x["error_eddy_code"]) for x in c["limited"])
        self.assertEqual(codes, [(200, None), (599, self.codes["EBUSY"])])

    def test_flow_control_and_read_timeout(self):
        f = self.r["flow"]
        # A yielding streaming_callback held the pieces sent meanwhile; they came after it.
        self.assertEqual(f["yielding"]["code"], 200)
        self.assertEqual(f["yielding"]["events"][:2], ["piece0;", "resumed"])
        self.assertEqual("".join(e for e in f["yielding"]["events"] if e != "resumed"),
                         "piece0;piece1;piece2;")
        # The handle's pause_body / resume_body, resumed from a timer.
        self.assertEqual((f["pause_rc"], f["resume_rc"]), (0, 0))
        self.assertEqual(f["handle"]["code"], 200)
        self.assertEqual(f["handle"]["events"][:2], ["piece0;", "resumed"])
        self.assertEqual("".join(e for e in f["handle"]["events"] if e != "resumed"),
                         "piece0;piece1;piece2;")
        self.assertLess(f["handle"]["after_pause"], 0)  # EDDY_ESTATE once ended
        # read_timeout: 599 ETIMEDOUT with eddy's detail (the read timeout's, not the request
        # timeout's: without it the fetch would have completed after the server's 1.5 s).
        st = f["stalled"]
        self.assertEqual((st["raised"], st["code"]), (True, 599))
        self.assertTrue(st["detail"].startswith("no data from the server"), st)
        # A consumer slower than the read timeout is not the server's fault.
        self.assertEqual(f["slow"], {"code": 200, "body": "piece0;piece1;piece2;"})

    def test_streaming_and_header_callbacks(self):
        s = self.r["streaming"]
        self.assertEqual(s["body"], "")  # not kept when streamed
        self.assertTrue(s["streamed_ok"], s)
        self.assertGreaterEqual(s["chunks"], 1)
        self.assertEqual(s["first_line"], "HTTP/1.1 200 OK\r\n")
        self.assertEqual(s["last_line"], "\r\n")
        self.assertTrue(s["has_length"])
        self.assertEqual(s["failing"]["code"], 599)
        self.assertIn("streaming_callback", s["failing"]["message"])
        self.assertIn("stop here", s["failing"]["message"])

    def test_body_producer(self):
        p = self.r["producer"]
        self.assertEqual((p["chunked"]["code"], p["fixed"]["code"]), (200, 200), p)
        pieces = [b"first piece|", b"0123456789" * 7000, b"|binary \0 bytes|", b"last"]
        want = b"".join(pieces)
        self.assertEqual(p["produced_len"], len(want))
        # Without Content-Length: chunked, one chunk per write (the producer pauses between
        # them), the bytes intact.
        lines, body, chunks = self.raw.request("/produce/chunked")
        fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        self.assertEqual(lines[0], "POST /produce/chunked HTTP/1.1")
        self.assertEqual(fields.get("transfer-encoding"), "chunked")
        self.assertNotIn("content-length", fields)
        self.assertEqual(body, want)
        self.assertEqual(chunks, len(pieces))
        # With a Content-Length header: that framing, sent once, and the same bytes.
        lines, body, chunks = self.raw.request("/produce/fixed")
        self.assertEqual(lines[0], "PUT /produce/fixed HTTP/1.1")
        lengths = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("content-length:")]
        self.assertEqual(lengths, [str(len(want))])
        self.assertFalse(any(l.lower().startswith("transfer-encoding:") for l in lines[1:]), lines)
        self.assertEqual((body, chunks), (want, None))
        # Callback mode and a reused HTTPRequest, echoed by the Lua app.
        self.assertEqual((p["echo"], p["echo_again"]), ("abc", "abc"))
        # The producer's failures end the request with 599 and say why.
        for case, text in (("too_much", "more than the Content-Length"), ("too_few", "fewer bytes"),
                           ("raising", "producer broke")):
            self.assertEqual(p[case]["code"], 599, (case, p[case]))
            self.assertIn("body_producer", p[case]["message"], (case, p[case]))
            self.assertIn(text, p[case]["message"], (case, p[case]))
        self.failed(p["timeout"], "ETIMEDOUT")
        self.assertEqual(p["writes_after_end"], [True, False])  # write after the end → false
        self.assertIn("body or body_producer, not both", p["both"])
        self.assertIn("Content-Length many is not a byte count", p["bad_length"])

    def test_flush_body_paces_the_producer(self):
        # flush_body suspends a body_producer until its bytes reached the kernel (Tornado's
        # producer awaiting write()): at one second, while the server reads nothing, the socket
        # buffers and the piece in flight were written, not the whole 32 MiB.
        f = self.r["flush"]
        self.assertEqual((f["code"], f["written"], f["flushes"]), (200, 32, 32), f)
        self.assertLess(f["written_at_one_second"], 16, f)
        piece = 1 << 20
        crc = 0
        for i in range(32):
            crc = zlib.crc32(bytes([65 + i % 26]) * piece, crc)
        self.assertEqual(self.raw.stalled, {"length": 32 * piece, "crc": crc})
        # The request ended while the producer waited: flush_body returns false, again after.
        self.assertEqual(f["ended_code"], 599, f)
        self.assertEqual(f["flush_after_end"], [False, False], f)

    def test_hostname_mapping(self):
        m = self.r["mapping"]
        port = self.raw.port(self.raw.capture)
        # The capture server, reached for mapped.invalid, got an origin-form request line and
        # the URL's Host; effective_url is the URL.
        c = m["capture"]
        self.assertEqual((c["code"], c["body"], c["effective_url"]), (200, "captured", m["capture_url"]))
        lines, _, _ = self.raw.request("/map/target?q=1")
        self.assertEqual(lines[0], "GET /map/target?q=1 HTTP/1.1")
        fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        self.assertEqual(fields["host"], "mapped.invalid:" + port)
        # A "host:port" key for the URL's default port; a same-origin redirect stays mapped.
        p = m["paired"]
        self.assertEqual((p["code"], p["effective_url"]), (200, "http://paired.invalid/seen"), p)
        self.assertEqual(p["seen"], {"host": "paired.invalid", "uri": "/seen", "scheme": "http"})
        self.assertEqual((m["redirected"]["code"], m["redirected"]["effective_url"]),
                         (200, "http://paired.invalid/echo"), m["redirected"])
        # https: the certificate (other.test's) is checked against the URL's name, not the
        # address connected to; a name it does not carry fails.
        h = m["https"]
        self.assertEqual((h["code"], h["effective_url"]), (200, m["https_url"]), h)
        self.assertEqual(h["seen"], {"host": m["https_url"].split("/")[2], "uri": "/seen", "scheme": "https"})
        self.failed(m["wrong_name"], "ETLS")
        # Why, from eddy_fetch_error_detail: in the message (and tostring) and on its own.
        w = m["wrong_name"]
        self.assertEqual(w["detail"], "certificate verification: hostname mismatch", w)
        self.assertTrue(w["message"].endswith(": certificate verification: hostname mismatch"), w)
        self.assertIn("hostname mismatch", w["text"])
        self.assertIn("hostname_mapping a = b:port", m["bad"])

    def test_unix_socket(self):
        u = self.r["unix"]
        self.assertEqual((u["ok"]["code"], u["ok"]["body"]), (200, "unix"), u)
        lines = self.unix_seen[0].split("\r\n")
        self.assertEqual(lines[0], "GET /v1.43/info?all=1 HTTP/1.1")
        self.assertIn("Host: docker.invalid", lines)
        self.failed(u["missing"], "ENOENT")
        self.assertIn("connect to unix:" + self.unix_path + ".missing: No such file",
                      u["missing"]["detail"])
        self.assertIn("unix_socket", u["too_long"])

    def test_basic_auth(self):
        a = self.r["auth"]
        self.assertEqual((a["basic"], a["replaces"], a["no_password"]), (200, 200, 200), a)

        def authorization(target):
            lines, _, _ = self.raw.request(target)
            return [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("authorization:")]

        # RFC 7617's example, then UTF-8 and a colon in the password; the header given in
        # `headers` is replaced (one Authorization line only); no password means "".
        self.assertEqual(authorization("/auth/basic"), ["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="])
        self.assertEqual(authorization("/auth/replaces"),
                         ["Basic " + base64.b64encode("user:pä:ss".encode()).decode()])
        self.assertEqual(authorization("/auth/no_password"), ["Basic " + base64.b64encode(b"only:").decode()])
        self.assertEqual(authorization("/cap?q=1"), [])
        for case in ("digest", "digest_request"):
            self.assertIn("unsupported auth_mode", a[case], a)
        self.assertIn("auth_mode digest", a["digest"])
        self.assertNotIn("/auth/digest", [c[0].split(" ")[1] for c in self.raw.captured])

    def test_option_errors(self):
        e = self.r["errors"]
        self.assertIn("only works inside a coroutine", e["outside"])
        self.assertIn("unsupported HTTPRequest option methd", e["unknown_option"])
        self.assertIn("request_timeout must be a number", e["bad_type"])
        self.assertIn("headers", e["bad_header"])
        self.assertIn("NUL byte", e["nul_url"])
        self.assertIn("unsupported AsyncHTTPClient option max_client", e["unknown_client_option"])
        self.assertEqual((e["defaults"], e["defaults_overridden"]), ("from defaults", "own"))

    def test_no_leak(self):
        leak = self.r["leak"]
        # 30 more cycles leave the registry as it was and no more descriptors (a leak in a
        # cycle would show 30 times over; fewer can happen when "before" caught one closing).
        self.assertEqual(leak["after"]["registry"], leak["before"]["registry"], leak)
        self.assertLessEqual(leak["after"]["fds"], leak["before"]["fds"], leak)
        self.assertNotIn("eddy-lua: error", self.stderr)


if __name__ == "__main__":
    main()
