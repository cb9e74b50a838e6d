#!/usr/bin/env python3
"""An outside-in conformance audit of eddy's HTTP/1.1 server (RFC 9110 / RFC 9112).

    test_conformance_audit.py --echo PATH --api PATH --demo PATH [unittest options]

1. The battery of conformance_cases.py, byte for byte over raw sockets (the short cases
   a second time in one-byte writes), against the echo
   server (every case) and against http_api_server (the raw C API server) and the demo
   application (the cases every request gets the same answer for: the errors): the exact
   status of each response, the connection closed or still usable after it, and every
   response well-formed (HTTP/1.1 status line, Date, Server, never both Content-Length and
   Transfer-Encoding, Connection: close when the server closes).
2. 204/304/HEAD framing on the raw API server, and (from its access log) no request
   behind a bad one ever reaches the application; If-Match (412) on the echo server; the
   demo's 405 carries Allow.
3. Crash/hang check with third-party inputs read at run time from ../shared/corpora (never
   copied here): every llhttp request vector and every file of h2o's fuzz corpus, each sent on
   its own connection and half-closed; the server must close within the bound, everything it
   sent must parse as well-formed HTTP/1.1 responses, and it must still serve a request.
"""

import concurrent.futures
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conformance_cases import CASES, CHUNKED, FIXED, post  # noqa: E402
from test_protocol import (CORPORA, IMF_FIXDATE_RE, STATUS_LINE_RE, ConnectionClosed,  # noqa: E402
                           EchoServer, ProtocolError, RawConn, llhttp_cases, run_stream)

SERVERS = {}  # "echo" / "api" / "demo" -> executable path
EOF_BOUND = 10.0  # only bounds how long a broken server can stall the suite


def start(kind):
    path = SERVERS[kind]
    if kind == "api":
        return EchoServer(path, ("--port", "0", "--host", "127.0.0.1"))
    return EchoServer(path, ("--port", "0", "--address", "127.0.0.1"))


# A request each server answers 200 with a fixed body, to show the connection/server is usable.
HEALTH = {
    "echo": (FIXED, b"hello world\n"),
    "api": (b"GET /auto_length HTTP/1.1\r\nHost: a\r\n\r\n", b"hello world"),
    "demo": (b"GET /hello/x HTTP/1.1\r\nHost: a\r\n\r\n", None),
}


class Audit:
    """The battery against one kind of server (mixed into a TestCase per kind)."""

    kind = None
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = start(cls.kind)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def check_well_formed(self, resp, closing):
        where = "%r" % resp.raw_head[:300]
        self.assertEqual(resp.version, "HTTP/1.1", where)
        date = resp.get("Date")
        self.assertIsNotNone(date, "RFC 9110 6.6.1: Date missing: " + where)
        self.assertRegex(date, IMF_FIXDATE_RE, where)
        self.assertIsNotNone(resp.get("Server"), where)
        self.assertFalse(resp.get("Content-Length") is not None and resp.get("Transfer-Encoding"),
                         "RFC 9112 6.2: both Content-Length and Transfer-Encoding: " + where)
        if closing:
            self.assertIn("close", resp.connection_tokens(), "RFC 9112 9.6: " + where)

    def assert_usable(self, conn, what):
        data, body = HEALTH[self.kind]
        try:
            conn.send(data)
            resp = conn.read_response()
        except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
            self.fail("%s: connection closed, expected it to stay usable" % what)
        self.assertEqual(resp.status, 200, what)
        if body is not None:
            self.assertEqual(resp.body, body, what)

    def run_case(self, c, piece_size=None):
        """One case on a new connection; `piece_size`: send it in writes of that many bytes."""
        conn = RawConn(self.server.port)
        try:
            if piece_size is None:
                conn.send(c.data)
            else:
                try:
                    # 0.3 ms apart: the server (woken per segment) reads them one by one;
                    # if some coalesce, only coverage shrinks, never correctness.
                    conn.send_pieces(c.data, piece_size, pause=0.0003)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # answered and closed before the end: the responses are read below
            method = c.method or "GET"
            for i, want in enumerate(c.statuses):
                try:
                    resp = conn.read_response(method)
                except ConnectionClosed:
                    self.fail("closed before response %d (want %d)" % (i + 1, want))
                self.assertEqual(resp.status, want, "response %d: %r" % (i + 1, resp))
                last = i == len(c.statuses) - 1
                self.check_well_formed(resp, last and c.after == "close")
                if last and c.echo and self.kind == "echo":
                    echo = resp.json()
                    for key, value in c.echo.items():
                        self.assertEqual(echo[key], value, key)
            if c.after == "close":
                try:
                    rest = conn.wait_eof(EOF_BOUND)
                except (socket.timeout, TimeoutError):
                    self.fail("connection still open after the last response")
                self.assertEqual(rest, b"", "bytes after the last response (a request after "
                                            "the error was processed?)")
            else:
                self.assert_usable(conn, "after the case")
        finally:
            conn.close()
        self.assertTrue(self.server.alive(), self.server.stderr_text())

    def cases(self):
        return CASES

    def test_battery(self):
        ran = 0
        for c in self.cases():
            with self.subTest(case=c.name, rfc=c.rfc):
                if not self.server.alive():
                    type(self).server = start(self.kind)
                self.run_case(c)
                ran += 1
        self.assertGreater(ran, 10)
        conn = RawConn(self.server.port)
        self.addCleanup(conn.close)
        self.assert_usable(conn, "after the battery")


class EchoAudit(Audit, unittest.TestCase):
    kind = "echo"

    def test_battery_byte_by_byte(self):
        # The scanners keep their state between reads (a CR at the end of one read, the LF in
        # the next): the short cases again, one byte per write.
        ran = 0
        for c in CASES:
            if len(c.data) > 160:
                continue
            with self.subTest(case=c.name, rfc=c.rfc):
                if not self.server.alive():
                    type(self).server = start(self.kind)
                self.run_case(c, piece_size=1)
                ran += 1
        self.assertGreater(ran, 50)

    def _conditional(self, method, fields, path=b"/fixed", body=b""):
        conn = RawConn(self.server.port)
        self.addCleanup(conn.close)
        if body:
            fields += b"Content-Length: %d\r\n" % len(body)
        conn.send(b"%s %s HTTP/1.1\r\nHost: a\r\n%s\r\n%s" % (method, path, fields, body))
        resp = conn.read_response(method.decode())
        self.check_well_formed(resp, False)
        self.assert_usable(conn, "after a conditional request")
        return resp

    def test_head_gets_the_header_fields_of_get(self):
        # RFC 9110 9.3.2: the fields GET would get; 8.6: a Content-Length on HEAD is the GET's.
        # The echo body names the method, so HEAD renders the GET echo to measure it.
        fields = {}
        for method in (b"GET", b"HEAD"):
            resp = self._conditional(method, b"X-Probe: 1\r\n", b"/echo?x=1")
            fields[method] = (resp.status, resp.get("Content-Length"), resp.get("Etag"))
        self.assertEqual(fields[b"GET"][0], 200)
        self.assertEqual(fields[b"HEAD"], fields[b"GET"])

    def test_if_match(self):
        # RFC 9110 13.1.1: strong comparison; false -> 412 (13.2.2 step 1, before If-None-Match).
        etag = self._conditional(b"GET", b"").get("Etag").encode()
        self.assertTrue(etag.startswith(b'"'), etag)
        for method in (b"GET", b"HEAD"):
            for fields, status in ((b"If-Match: " + etag + b"\r\n", 200),
                                   (b"If-Match: \"x\", " + etag + b"\r\n", 200),
                                   (b"If-Match: \"x\"\r\nIf-Match: " + etag + b"\r\n", 200),
                                   (b"If-Match: *\r\n", 200),
                                   (b"If-Match: \"x\"\r\n", 412),
                                   (b"If-Match: W/" + etag + b"\r\n", 412),
                                   (b"If-Match: \"x\"\r\nIf-None-Match: " + etag + b"\r\n", 412),
                                   (b"If-Match: " + etag + b"\r\nIf-None-Match: " + etag + b"\r\n", 304)):
                with self.subTest(method=method, fields=fields):
                    resp = self._conditional(method, fields)
                    self.assertEqual(resp.status, status, resp)
                    if status == 200 and method == b"GET":
                        self.assertEqual(resp.body, b"hello world\n")

    def test_revalidating_an_echo(self):
        # RFC 9110 13.2.1: preconditions are evaluated against the representation selected
        # without them. The echo's ETag leaves its conditional fields out, so repeating a
        # request with If-None-Match set to the ETag it got is answered 304 (the 200 body
        # would echo that field too); any other change to the request changes the ETag.
        first = self._conditional(b"GET", b"X-A: 1\r\n", b"/thing?q=1")
        etag = first.get("Etag").encode()
        self.assertEqual(first.status, 200)
        for method in (b"GET", b"HEAD"):
            with self.subTest(method=method):
                again = self._conditional(method, b"X-A: 1\r\nIf-None-Match: " + etag + b"\r\n",
                                          b"/thing?q=1")
                self.assertEqual(again.status, 304, again)
                self.assertEqual(again.get("Etag"), etag.decode())
        for fields, target in ((b"X-A: 2\r\n", b"/thing?q=1"), (b"X-A: 1\r\n", b"/thing?q=2")):
            with self.subTest(fields=fields, target=target):
                changed = self._conditional(b"GET", fields + b"If-None-Match: " + etag + b"\r\n",
                                            target)
                self.assertEqual(changed.status, 200)
                self.assertIn(["If-None-Match", etag.decode()], changed.json()["headers"])
        # If-Match with the current tag holds; a stale one is 412.
        self.assertEqual(self._conditional(b"GET", b"X-A: 1\r\nIf-Match: " + etag + b"\r\n",
                                           b"/thing?q=1").status, 200)
        self.assertEqual(self._conditional(b"GET", b"X-A: 2\r\nIf-Match: " + etag + b"\r\n",
                                           b"/thing?q=1").status, 412)

    def test_preconditions_on_methods_that_change_a_resource(self):
        # RFC 9110 13.1.1 / 13.1.2: the method MUST NOT be performed when the condition is
        # false, and a method other than GET/HEAD gets 412. Every echo resource exists, and no
        # tag a client sends is its current one (the echo of the request itself): If-Match "*"
        # holds, a tag list fails; If-None-Match "*" fails, a tag list holds. 13.2.1: OPTIONS
        # selects no representation, so its preconditions are ignored.
        for method in (b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"):
            for fields, status in ((b"If-Match: \"zz\"\r\n", 412),
                                   (b"If-Match: *\r\n", 200),
                                   (b"If-None-Match: *\r\n", 412),
                                   (b"If-None-Match: \"a\", \"b\"\r\n", 200),
                                   (b"If-Match: *\r\nIf-None-Match: *\r\n", 412),
                                   (b"If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", 200)):
                if method == b"OPTIONS":
                    status = 200
                with self.subTest(method=method, fields=fields):
                    resp = self._conditional(method, fields, b"/thing", b"hi")
                    self.assertEqual(resp.status, status, resp)
                    if status == 200:
                        self.assertEqual(resp.json()["body"], "hi")

    def test_options_lists_the_methods(self):
        # RFC 9110 9.3.7: a successful OPTIONS response SHOULD describe the options (Allow).
        for target in (b"/thing", b"*"):
            with self.subTest(target=target):
                resp = self._conditional(b"OPTIONS", b"", target)
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.get("Allow"), "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS")

    def test_form_bodies_are_echoed_as_bytes(self):
        # The echo contract: every body comes back as it came. Form bodies are not decoded
        # (eddy_server_set_body_arguments off), so a multipart label on bytes that are not
        # multipart is no reason for a 400.
        for ctype, body in ((b"multipart/form-data", b"hello"),
                            (b"multipart/form-data; boundary=xyz", b"--xyz\r\njunk"),
                            (b"application/x-www-form-urlencoded", b"a=%zz&&=b")):
            with self.subTest(ctype=ctype):
                resp = self._conditional(b"POST", b"Content-Type: %s\r\n" % ctype, b"/form", body)
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.json()["body"], body.decode("latin-1"))


def error_cases():
    """The cases answered by the connection layer alone (before any application code)."""
    return [c for c in CASES if all(s >= 400 for s in c.statuses)]


class ApiServerAudit(Audit, unittest.TestCase):
    kind = "api"

    def cases(self):
        return error_cases()

    def _nobody(self, method, code):
        conn = RawConn(self.server.port)
        self.addCleanup(conn.close)
        conn.send(b"%s /nobody?code=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (method, code))
        resp = conn.read_response(method.decode())
        self.assertEqual(resp.status, code)
        self.check_well_formed(resp, False)
        # RFC 9110 8.6 / 15.3.5 / 15.4.5: no body; no Content-Length on 204; no chunking on
        # either. A body byte would show up as the start of the next response below.
        self.assertIsNone(resp.get("Transfer-Encoding"), resp)
        if code == 204:
            self.assertIsNone(resp.get("Content-Length"), resp)
        self.assert_usable(conn, "after %d" % code)

    def test_204_and_304_have_no_body(self):
        for method in (b"GET", b"HEAD", b"POST"):
            for code in (204, 304):
                with self.subTest(method=method, code=code):
                    self._nobody(method, code)

    def access_log(self):
        conn = RawConn(self.server.port)
        try:
            conn.send(b"GET /accesslog HTTP/1.1\r\nHost: a\r\n\r\n")
            return [(e["uri"], e["status"]) for e in conn.read_response().json()]
        finally:
            conn.close()

    def test_nothing_after_an_error_reaches_the_application(self):
        # RFC 9112 9.3.2 / 6.3: after a framing or head error the rest of the bytes cannot be
        # trusted; a request smuggled behind the bad one must never be processed. The access
        # log hook (called for every response, errors included) shows what was.
        bad_inputs = [
            b"GET / HTTP/1.1\r\n\r\n",  # no Host
            b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n",
            b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            post(b"Content-Length: 6\r\n" + CHUNKED, b"0\r\n\r\nG"),  # CL.TE
            post(CHUNKED + b"Content-Length: 3\r\n", b"8\r\nSMUGGLED\r\n0\r\n\r\n"),  # TE.CL
            post(CHUNKED + b"Transfer-Encoding: identity\r\n", b"0\r\n\r\n"),
            post(CHUNKED, b"3 \r\nabc\r\n0\r\n\r\n"),
            post(CHUNKED, b"3\r\nabc\n0\r\n\r\n"),
            post(b"Expect: foo\r\nContent-Length: 0\r\n", b""),
        ]
        for i, bad in enumerate(bad_inputs):
            with self.subTest(bad=bad):
                marker = "/auto_length?after-error-%d" % i
                out, closed = run_stream(self.server.port, [bad + b"GET " + marker.encode() +
                                                            b" HTTP/1.1\r\nHost: a\r\n\r\n"],
                                         EOF_BOUND)
                self.assertTrue(closed)
                self.assertEqual(len(parse_all(out)), 1, out)
                log = self.access_log()
                self.assertNotIn(marker, [uri for uri, _ in log], log[-5:])
                self.assertGreaterEqual(log[-1][1], 400, log[-5:])  # the error was logged

    def test_head_has_no_body(self):
        conn = RawConn(self.server.port)
        self.addCleanup(conn.close)
        conn.send(b"HEAD /auto_length HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = conn.read_response("HEAD")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get("Content-Length"), "11")  # as for GET (RFC 9110 9.3.2)
        self.assert_usable(conn, "after HEAD")


class DemoAudit(Audit, unittest.TestCase):
    kind = "demo"

    def cases(self):
        return error_cases()

    def test_405_lists_allowed_methods(self):
        # RFC 9110 15.5.6: a 405 MUST carry Allow. The body was framed, so the connection
        # stays usable.
        conn = RawConn(self.server.port)
        self.addCleanup(conn.close)
        conn.send(b"POST /hello/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        resp = conn.read_response()
        self.assertEqual(resp.status, 405)
        self.check_well_formed(resp, False)
        allow = [m.strip() for m in (resp.get("Allow") or "").split(",")]
        self.assertIn("GET", allow, resp)
        self.assertNotIn("POST", allow, resp)
        self.assert_usable(conn, "after 405")


# ---- third-party inputs: crash / hang / well-formedness ------------------------------------

def parse_all(out):
    """Parses everything a server sent as HTTP/1.1 responses; returns the statuses. A response
    directly followed by another status line is taken as bodiless (a HEAD answer in the
    corpus: the request methods are not tracked)."""
    conn = RawConn.__new__(RawConn)
    conn.buf, conn.eof, conn.reset = out, True, False
    statuses = []
    while conn.buf:
        resp = conn._read_head()
        head_only = STATUS_LINE_RE.match(conn.buf) is not None or not conn.buf
        if not head_only:
            conn.buf = resp.raw_head + conn.buf
            resp = conn.read_response("GET")
        statuses.append(resp.status)
    return statuses


class CorpusAudit(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = start("echo")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def feed(self, inputs, label):
        """Each input on its own connection, half-closed: a close within the bound, well-formed
        responses only; then the server still answers."""
        problems = []

        def one(item):
            name, pieces = item
            out, closed = run_stream(self.server.port, pieces, EOF_BOUND)
            if not closed:
                problems.append((name, "no close within %gs after EOF" % EOF_BOUND))
            try:
                parse_all(out)
            except (ProtocolError, ConnectionClosed, ValueError) as e:
                problems.append((name, "malformed output %s: %r" % (e, out[:200])))

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(one, inputs))
        self.assertTrue(self.server.alive(), "server died on %s; stderr:\n%s"
                        % (label, self.server.stderr_text()))
        self.assertEqual(problems, [])
        conn = RawConn(self.server.port)
        self.addCleanup(conn.close)
        conn.send(FIXED)
        self.assertEqual(conn.read_response().body, b"hello world\n")

    @unittest.skipUnless((CORPORA / "llhttp-request").is_dir(), "llhttp vectors not present")
    def test_every_llhttp_vector(self):
        inputs = [("%s / %s" % (f, n), [raw]) for f, n, _, raw, _ in
                  llhttp_cases(CORPORA / "llhttp-request")]
        self.assertGreater(len(inputs), 100)
        self.feed(inputs, "llhttp vectors")

    @unittest.skipUnless((CORPORA / "h2o-http1-corpus").is_dir(), "h2o corpus not present")
    def test_h2o_corpus_whole(self):
        # Every file, twice: in h2o's write pieces (nothing after the last marker; files
        # without one whole) and as one write (the marker is then just more bytes).
        files = sorted(p for p in (CORPORA / "h2o-http1-corpus").iterdir() if p.is_file())
        self.assertGreater(len(files), 1000)
        mark = b"\n--MARK--\n"
        inputs = []
        for p in files:
            data = p.read_bytes()
            inputs.append((p.name, data.split(mark)[:-1] if mark in data else [data]))
            inputs.append((p.name + " (one write)", [data]))
        self.feed(inputs, "h2o corpus")


def main():
    argv = list(sys.argv)
    for opt, kind in (("--echo", "echo"), ("--api", "api"), ("--demo", "demo")):
        if opt in argv:
            i = argv.index(opt)
            SERVERS[kind] = argv[i + 1]
            del argv[i:i + 2]
    missing = [k for k in ("echo", "api", "demo") if not SERVERS.get(k)]
    if missing:
        sys.exit("usage: test_conformance_audit.py --echo PATH --api PATH --demo PATH")
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
