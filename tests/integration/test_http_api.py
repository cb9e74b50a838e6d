#!/usr/bin/env python3
"""End-to-end tests of the HTTP server's C API (include/eddy/http.h) over real sockets.

Drives http_api_server (http_api_server.c), started with different options per test class:

    test_http_api.py --server PATH/TO/http_api_server [unittest options]

Standard library only (http.client, socket, gzip, json, zlib) plus the curl binary for the
Unix-socket test.
"""
import gzip
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_log import read_log  # noqa: E402
from raw_conn import RawConnection  # noqa: E402
from cmdline_check import (BAD_PORTS, BAD_SECONDS, BAD_SIZES, assert_needs_value,  # noqa: E402
                           assert_refused, assert_unknown_refused)
from tcp_state import wait_server_closed, wait_server_read  # noqa: E402

SERVER = None  # path of http_api_server, from --server

# Seconds a test waits for something the server must do (close a connection, answer, log a
# line) before it calls the server hung. Only a broken or hung server ever reaches it: a passing
# run goes on as soon as the event happened, however slow the machine. Tests never bound how
# fast the server was; where a wait must be short, the test checks an ordering instead.
# Under the server's default timeouts (header 30 s, body 60 s, idle 75 s), so that a timeout
# test whose configured timeout the server ignored fails rather than sees the default one.
HANG_GUARD = 20

EINVAL, ECLOSED, ETOOBIG, ESTATE, ENOENT = -1, -4, -11, -13, -5

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


# ---- the server process ------------------------------------------------------------------------

class ServerProcess:
    """One http_api_server instance on a free 127.0.0.1 port (or the host given)."""

    def __init__(self, *args, host="127.0.0.1", unix_path=None):
        self.args = list(args)
        self.host = host
        self.unix_path = unix_path
        self.stderr_file = tempfile.TemporaryFile()
        cmd = [SERVER, "--port", "0", "--host", host] + self.args
        if unix_path:
            cmd += ["--unix", unix_path]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr_file)
        self.port = None
        self.stdout_lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            self.stdout_lines.append(line)
            m = re.match(r"listening on (.*):(\d+)$", line.strip())
            if m and not line.startswith("listening on unix:"):
                self.port = int(m.group(2))
                break
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not start: %r %s" % (self.stdout_lines, self.stderr()))

    def stderr(self):
        return read_log(self.stderr_file).decode("utf-8", "replace")

    def read_stdout_rest(self, timeout):
        """Reads stdout until EOF (the process exits) or timeout; returns the lines."""
        out = []
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            out.append(line.decode("utf-8", "replace"))
        self.stdout_lines += out
        return out

    def stop(self):
        """Stops with SIGTERM; returns (exit code, stderr)."""
        if self.stderr_file.closed:
            return self.proc.returncode, ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "hung (killed)", self.stderr()
        self.proc.stdout.close()
        err = self.stderr()
        self.stderr_file.close()
        return code, err


def check_clean_exit(testcase, server):
    code, err = server.stop()
    findings = [m for m in SANITIZER_MARKERS if m in err]
    if findings or code != 0:
        raise AssertionError("server exit %r; stderr:\n%s" % (code, err[-8000:]))


class ServerTestCase(unittest.TestCase):
    SERVER_ARGS = ()
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(*cls.SERVER_ARGS)
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        check_clean_exit(cls, cls.server)

    # ---- helpers ----

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, url, body=None, headers=None):
        c = self.conn()
        try:
            c.request(method, url, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r, data
        finally:
            c.close()

    def assert_held_upload_answered(self, raw, size):
        """Reads the answer of an /upload the server held once (pause_ms, hold_ms) on `raw`:
        200, with all `size` bytes received, one pause, one resume, no refused call."""
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        j = json.loads(resp.body)
        self.assertEqual((j["bytes"], j["pauses"], j["resumes"], j["bad_rc"]), (size, 1, 1, 0))

    def get_json(self, url, method="GET", body=None, headers=None):
        r, data = self.request(method, url, body, headers)
        self.assertEqual(r.status, 200, data)
        return json.loads(data.decode("latin-1"))

    def stats(self):
        return self.get_json("/stats")

    def wait_stats(self, pred, timeout=HANG_GUARD):
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if pred(st) or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    def raw(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return Raw(s)


# ---- a raw HTTP/1.1 client over a socket ---------------------------------------------------------

class Response:
    def __init__(self, version, status, reason, headers, body, chunks, head_raw):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body, self.chunks, self.head_raw = headers, body, chunks, head_raw

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def get_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Raw(RawConnection):

    def read_to_eof(self):
        while True:
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            self.buf += d
        out, self.buf = self.buf, b""
        return out

    def closed_within(self, timeout):
        """True when the peer closes (EOF or reset) within `timeout` with no more data."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(10)
        if d:
            self.buf += d
            return False
        return True

    def read_response(self, method="GET"):
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"(HTTP/1\.[01]) (\d{3}) (.*)$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        version, status, reason = m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        resp = Response(version, status, reason, headers, b"", None, head)
        te = resp.get("Transfer-Encoding")
        cl = resp.get("Content-Length")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        if te is not None:
            assert te.lower() == "chunked", te
            chunks = []
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line[:-2].split(b";")[0], 16)
                if size == 0:
                    # no trailers expected: the next line must be the empty line
                    trailer = self.read_until(b"\r\n")
                    assert trailer == b"\r\n", trailer
                    break
                data = self.read_exact(size)
                crlf = self.read_exact(2)
                assert crlf == b"\r\n", crlf
                chunks.append(data)
            resp.chunks = chunks
            resp.body = b"".join(chunks)
        elif cl is not None:
            resp.body = self.read_exact(int(cl))
        else:
            resp.body = self.read_to_eof()
        return resp


def small_window_raw(port):
    """A raw connection whose receive buffer is 64 KiB, set before connecting so that the
    advertised window stays small: a long answer backs up in the server's buffers at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return Raw(s)


def read_slowly(raw, path, size):
    """GETs `path` (a `size`-byte answer) on `raw` and reads it in 64 KiB pieces, 8 ms apart;
    returns the count of body bytes that arrived before the end or a close."""
    raw.send(get_req(path))
    head = raw.read_until(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % size in head, head
    got = len(raw.buf)
    raw.buf = b""
    while got < size:
        time.sleep(0.008)
        d = raw.sock.recv(65536)
        if not d:
            break
        got += len(d)
    return got


def get_req(path, version="HTTP/1.1", extra=b"", method="GET"):
    return (("%s %s %s\r\nHost: 127.0.0.1\r\n" % (method, path, version)).encode() + extra +
            b"\r\n")


# ---- the default server ----------------------------------------------------------------------

class DefaultServerTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.log_dir = tempfile.mkdtemp(prefix="eddy-api-")
        cls.log_path = os.path.join(cls.log_dir, "access.log")
        cls.SERVER_ARGS = ("--access-log", cls.log_path)
        super().setUpClass()

    def access_log_text_once(self, needle):
        """The Common Log Format file's text once it holds `needle` (lines of one loop pass are
        written at its end), or as it is after HANG_GUARD seconds."""
        deadline = time.monotonic() + HANG_GUARD
        while True:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("latin-1")
            if needle in text or time.monotonic() >= deadline:
                return text
            time.sleep(0.02)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.log_dir, ignore_errors=True)

    # -- status and reason --

    def test_status_with_custom_reason(self):
        r, data = self.request("GET", "/status?code=418&reason=I%27m+a+teapot")
        self.assertEqual((r.status, r.reason), (418, "I'm a teapot"))
        self.assertEqual(json.loads(data), {"rc": 0})
        r, data = self.request("GET", "/status?code=404")
        self.assertEqual((r.status, r.reason), (404, "Not Found"))
        r, data = self.request("GET", "/status?code=599")
        self.assertEqual(r.status, 599)

    def test_205_has_no_content_and_a_zero_length(self):
        # RFC 9110 15.3.6: no content in a 205; and since 205 is not body-less by definition
        # (RFC 9112 6.3), Content-Length: 0 keeps the connection in step.
        raw = self.raw()
        raw.send(get_req("/status?code=205") + get_req("/status?code=200"))
        first = raw.read_response()
        self.assertEqual((first.status, first.get("Content-Length"), first.body), (205, "0", b""))
        second = raw.read_response()
        self.assertEqual((second.status, json.loads(second.body)), (200, {"rc": 0}))

    def test_status_reason_validation(self):
        r, data = self.request("GET", "/reason_check")
        # "<", CR, LF, NUL in the reason; 101, 100, 103, 199 (1xx are interim, never final), 99,
        # 600 as codes: EINVAL; then 299 "Custom OK"
        self.assertEqual(json.loads(data)["rcs"], [EINVAL] * 10 + [0])
        self.assertEqual((r.status, r.reason), (299, "Custom OK"))
        for reason in ("a%3Cb", "a%0Db", "a%0Ab"):
            r, data = self.request("GET", "/status?code=202&reason=" + reason)
            self.assertEqual(json.loads(data), {"rc": EINVAL})
            self.assertEqual((r.status, r.reason), (200, "OK"))  # unchanged

    # -- headers --

    def test_set_add_clear_header_and_injection(self):
        raw = self.raw()
        raw.send(get_req("/headers"))
        resp = raw.read_response()
        rcs = json.loads(resp.body)["rcs"]
        self.assertEqual(rcs[:7], [0] * 7, rcs)
        self.assertEqual(rcs[7:18], [EINVAL] * 11, rcs)
        self.assertEqual(rcs[18:], [0, 0], rcs)
        self.assertEqual(resp.get_all("X-A"), ["2"])
        self.assertEqual(resp.get_all("X-B"), ["b1", "b2"])
        self.assertEqual(resp.get_all("X-C"), [])
        self.assertEqual(resp.get_all("X-Len"), ["abc"])
        self.assertEqual(resp.get_all("X-Empty"), [""])
        self.assertEqual(resp.get_all("Content-Length"), [str(len(resp.body))])
        head = resp.head_raw.lower()
        for bad in (b"x-injected", b"x-bad", b"x bad"):
            self.assertNotIn(bad, head)
        # every header line is "name: value" with a token name; no bare CR or LF
        for line in resp.head_raw[:-4].split(b"\r\n")[1:]:
            self.assertRegex(line, rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n\x00]*$")
        raw.close()

    def test_own_server_date_and_replace(self):
        # The application's Server and Date replace the server's own (whatever their case);
        # set_header on a repeated name keeps the first place with the new value and drops
        # the later ones; the fields around it keep their order.
        raw = self.raw()
        raw.send(get_req("/own_fields"))
        resp = raw.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get_all("Server"), ["own-server/2"])
        self.assertEqual(resp.get_all("Date"), ["Tue, 01 Jan 2030 00:00:00 GMT"])
        self.assertEqual(resp.get_all("X-Grow"),
                         ["a value much longer than the one it replaces, to move the rest"])
        names = [line.split(b":", 1)[0].lower()
                 for line in resp.head_raw[:-4].split(b"\r\n")[1:]]
        order = [n for n in names if n in (b"x-first", b"server", b"x-grow", b"x-middle", b"date")]
        self.assertEqual(order, [b"x-first", b"server", b"x-grow", b"x-middle", b"date"])
        self.assertEqual(resp.body, b"own")
        raw.close()

    def test_headers_refused_after_first_flush(self):
        raw = self.raw()
        raw.send(get_req("/after_flush"))
        resp = raw.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.chunks[0], b"first\n")
        self.assertEqual(resp.body, b"first\nflush=0 status=%d set=%d add=%d clear=%d\n" %
                         (ESTATE, ESTATE, ESTATE, ESTATE))
        self.assertIsNone(resp.get("X-Late"))
        raw.close()

    def test_repeated_set_cookie(self):
        r, data = self.request("GET", "/cookies")
        self.assertEqual(r.msg.get_all("Set-Cookie"), ["a=1; Path=/", "b=2"])

    # -- body framing --

    def test_content_length_automatic(self):
        raw = self.raw()
        raw.send(get_req("/auto_length"))
        resp = raw.read_response()
        self.assertEqual(resp.get("Content-Length"), "11")
        self.assertIsNone(resp.get("Transfer-Encoding"))
        self.assertEqual(resp.body, b"hello world")
        # declared Content-Length, exactly met: keep-alive continues
        raw.send(get_req("/cl_exact"))
        resp = raw.read_response()
        self.assertEqual((resp.get("Content-Length"), resp.body), ("5", b"hello"))
        raw.send(get_req("/auto_length"))
        self.assertEqual(raw.read_response().body, b"hello world")
        raw.close()

    def assert_overrun_closed(self, st):
        # EDDY_ETOOBIG closed the connection: the request must report it as gone
        # (eddy_request_connection_closed: "1 when the connection is gone (writes would fail)"),
        # later writes/flushes fail with EDDY_ECLOSED and finish returns EDDY_ECLOSED.
        self.assertEqual(st["cl_over_rc1"], 0)
        self.assertEqual(st["cl_over_rc2"], ETOOBIG)
        got = {k: st[k] for k in ("cl_over_closed", "cl_over_rc3", "cl_over_flush_rc",
                                  "cl_over_finish_rc")}
        self.assertEqual(got, {"cl_over_closed": 1, "cl_over_rc3": ECLOSED,
                               "cl_over_flush_rc": ECLOSED, "cl_over_finish_rc": ECLOSED})

    def test_declared_content_length_overrun(self):
        before = self.stats()["cl_over_count"]
        raw = self.raw()
        raw.send(get_req("/cl_over"))
        data = raw.read_to_eof()  # the connection closes; no complete response
        raw.close()
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertLess(len(body), 5, data)
        st = self.wait_stats(lambda s: s["cl_over_count"] > before)
        self.assertEqual(st["cl_over_rc2"], ETOOBIG)
        self.assert_overrun_closed(st)

    def test_declared_content_length_overrun_after_flush(self):
        st0 = self.stats()
        raw = self.raw()
        raw.send(get_req("/cl_over?flush=1"))
        data = raw.read_to_eof()
        raw.close()
        st = self.wait_stats(lambda s: s["cl_over_count"] > st0["cl_over_count"] and
                             s["flush_ok"] + s["flush_closed"] >
                             st0["flush_ok"] + st0["flush_closed"])
        self.assertEqual(st["cl_over_rc2"], ETOOBIG)
        if data:
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), data)
            self.assertIn(b"\r\nContent-Length: 5", head)
            self.assertEqual(body, b"hel")  # the overrunning write sent nothing
            self.assertEqual(st["flush_ok"], st0["flush_ok"] + 1)
        else:
            # the flushed bytes were dropped by the close: the flush callback must say so
            self.assertEqual(st["flush_closed"], st0["flush_closed"] + 1,
                             "flushed data dropped but flush callback reported success")
        self.assert_overrun_closed(st)

    def test_declared_content_length_short(self):
        raw = self.raw()
        raw.send(get_req("/cl_short"))
        data = raw.read_to_eof()  # must end: the server closes after finish
        raw.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nContent-Length: 10", head)
        self.assertEqual(body, b"hello")

    def test_abort_leaves_the_response_visibly_incomplete(self):
        # eddy_request_abort: what was written goes out, then the connection closes without
        # the response's end, so that no client takes a broken answer for a whole one
        # (finish would have sent the last chunk). A request behind it is not answered.
        raw = self.raw()
        raw.send(get_req("/abort?mode=chunks") + get_req("/auto_length"))
        data = raw.read_to_eof()
        raw.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nTransfer-Encoding: chunked", head)
        self.assertEqual(body, b"7\r\npart-1\n\r\n7\r\npart-2\n\r\n")
        self.assertEqual(self.stats()["abort_rc"], 0)
        # http.client sees the truncation.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/abort?mode=chunks")
        resp = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead):
            resp.read()
        conn.close()
        # A declared length is left short.
        raw = self.raw()
        raw.send(get_req("/abort?mode=length"))
        data = raw.read_to_eof()
        raw.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nContent-Length: 20", head)
        self.assertEqual(body, b"part")
        # Before the head went out nothing is sent at all (not a head that the close would
        # complete).
        raw = self.raw()
        raw.send(get_req("/abort?mode=nohead"))
        self.assertEqual(raw.read_to_eof(), b"")
        raw.close()
        self.assertEqual(self.stats()["abort_rc"], 0)
        # Logged: status 0 and no bytes to the hook, 444 in the CLF file (nginx's "closed
        # without response"); the chunked one with its status and what it sent.
        entries = {e["uri"]: e for e in self.get_json("/accesslog")}
        self.assertEqual((entries["/abort?mode=nohead"]["status"],
                          entries["/abort?mode=nohead"]["bytes"]), (0, 0))
        self.assertEqual((entries["/abort?mode=length"]["status"],
                          entries["/abort?mode=length"]["bytes"]), (200, 4))
        text = self.access_log_text_once("mode=nohead")
        self.assertIn('"GET /abort?mode=nohead HTTP/1.1" 444 0\n', text)

    def test_204_and_304_have_no_body(self):
        raw = self.raw()
        for code in (204, 304):
            raw.send(get_req("/nobody?code=%d" % code))
            resp = raw.read_response()
            self.assertEqual(resp.status, code)
            self.assertIsNone(resp.get("Content-Length"), resp.head_raw)
            self.assertIsNone(resp.get("Transfer-Encoding"), resp.head_raw)
            self.assertEqual(resp.get("X-Write-RC"), str(ESTATE))
            # the connection carries on and the next response starts right after the head
            raw.send(get_req("/auto_length"))
            resp = raw.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"hello world"))
        raw.close()

    def test_head_gets_content_length_without_body(self):
        raw = self.raw()
        raw.send(get_req("/auto_length", method="HEAD"))
        resp = raw.read_response(method="HEAD")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get("Content-Length"), "11")
        raw.send(get_req("/cl_exact"))
        resp = raw.read_response()
        self.assertEqual(resp.body, b"hello")  # no stray HEAD body in between
        raw.close()

    # -- streaming output --

    def test_chunked_stream_http11(self):
        before = self.stats()["flush_ok"]
        raw = self.raw()
        raw.send(get_req("/stream?n=4&ms=20"))
        resp = raw.read_response()
        self.assertEqual(resp.get("Transfer-Encoding"), "chunked")
        self.assertIsNone(resp.get("Content-Length"))
        self.assertEqual(resp.chunks, [b"chunk-%d\n" % i for i in range(4)])
        self.assertIsNone(resp.get("Connection"))
        # keep-alive continues after the terminating chunk
        raw.send(get_req("/cl_exact"))
        self.assertEqual(raw.read_response().body, b"hello")
        raw.close()
        st = self.wait_stats(lambda s: s["flush_ok"] >= before + 4)
        self.assertEqual(st["flush_ok"] - before, 4)

    def test_chunked_stream_http10_is_close_delimited(self):
        before = self.stats()["flush_ok"]
        raw = self.raw()
        raw.send(get_req("/stream?n=3&ms=10", version="HTTP/1.0"))
        resp = raw.read_response()
        self.assertEqual(resp.get("Connection"), "close")
        self.assertIsNone(resp.get("Transfer-Encoding"))
        self.assertIsNone(resp.get("Content-Length"))
        self.assertEqual(resp.body, b"chunk-0\nchunk-1\nchunk-2\n")
        raw.close()
        st = self.wait_stats(lambda s: s["flush_ok"] >= before + 3)
        self.assertEqual(st["flush_ok"] - before, 3)

    def test_http10_keep_alive_fixed_response(self):
        raw = self.raw()
        raw.send(get_req("/auto_length", "HTTP/1.0", b"Connection: keep-alive\r\n"))
        resp = raw.read_response()
        self.assertEqual(resp.get("Connection").lower(), "keep-alive")
        self.assertEqual(resp.body, b"hello world")
        raw.send(get_req("/auto_length", "HTTP/1.0"))
        resp = raw.read_response()
        self.assertEqual(resp.get("Connection"), "close")
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    # -- deferred responses --

    def test_deferred_response(self):
        t0 = time.monotonic()
        r, data = self.request("GET", "/deferred?ms=100&id=x1")
        elapsed = time.monotonic() - t0
        self.assertEqual((r.status, data), (200, b"deferred id=x1"))
        self.assertGreaterEqual(elapsed, 0.095)

    def test_keep_alive_across_deferred_responses(self):
        c = self.conn()
        ports = set()
        for i in range(3):
            c.request("GET", "/deferred?ms=30&id=%d" % i)
            r = c.getresponse()
            self.assertEqual(r.read(), b"deferred id=%d" % i)
            ports.add(c.sock.getsockname()[1])
        self.assertEqual(len(ports), 1)
        c.close()

    def test_pipelined_deferred_in_order(self):
        raw = self.raw()
        raw.send(get_req("/deferred?ms=150&id=a") + get_req("/deferred?ms=50&id=b") +
                 get_req("/deferred?ms=0&id=c") + get_req("/cl_exact"))
        bodies = [raw.read_response().body for _ in range(4)]
        self.assertEqual(bodies, [b"deferred id=a", b"deferred id=b", b"deferred id=c", b"hello"])
        raw.close()

    def test_long_poll_client_disconnect(self):
        st0 = self.stats()
        raw = self.raw()
        raw.send(get_req("/longpoll?tag=lp1"))
        self.wait_stats(lambda s: s["longpoll_started"] > st0["longpoll_started"])
        time.sleep(0.1)
        raw.close()
        st = self.wait_stats(lambda s: s["longpoll_done"] > st0["longpoll_done"])
        self.assertEqual(st["longpoll_close_cb"], st0["longpoll_close_cb"] + 1)
        self.assertEqual(st["longpoll_done"], st0["longpoll_done"] + 1)
        self.assertEqual(st["longpoll_conn_closed"], 1)
        self.assertEqual(st["longpoll_write_rc"], ECLOSED)
        self.assertEqual(st["longpoll_flush_rc"], ECLOSED)
        self.assertEqual(st["longpoll_finish_rc"], ECLOSED)
        # Finished after its client left, it is still logged (Tornado logs it; it was not):
        # status 0 to the hook (nothing was sent), 499 in the Common Log Format file (nginx).
        entries = [e for e in self.get_json("/accesslog") if e["uri"] == "/longpoll?tag=lp1"]
        self.assertEqual([(e["status"], e["bytes"]) for e in entries], [(0, 0)])
        text = self.access_log_text_once("tag=lp1")
        self.assertIn('"GET /longpoll?tag=lp1 HTTP/1.1" 499 0\n', text)

    # -- arguments --

    def test_query_arguments(self):
        j = self.get_json("/echo?a=1&a=2&b=&c&d=x%20y+z&e=%2B&%C3%A9=%E2%82%AC&&f=a%3Db")
        self.assertEqual(j["query"], "a=1&a=2&b=&c&d=x%20y+z&e=%2B&%C3%A9=%E2%82%AC&&f=a%3Db")
        self.assertEqual(j["path"], "/echo")
        utf8 = lambda s: s.encode("utf-8").decode("latin-1")
        expected = [["a", "1"], ["a", "2"], ["b", ""], ["c", ""], ["d", "x y z"], ["e", "+"],
                    [utf8("é"), utf8("€")], ["f", "a=b"]]
        self.assertEqual(j["args_query"], expected)
        self.assertEqual(j["args_all"], expected)
        self.assertEqual(j["args_body"], [])
        self.assertEqual(j["first_a"], "1")
        self.assertIsNone(j["missing"])
        self.assertEqual(j["files"], [])
        self.assertEqual(j["file_at_out_of_range"], ENOENT)

    def test_urlencoded_body_arguments(self):
        body = "a=body1&x=%41%42&y=p+q&z="
        j = self.get_json("/echo?a=q1", "POST", body,
                          {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(j["args_query"], [["a", "q1"]])
        self.assertEqual(j["args_body"], [["a", "body1"], ["x", "AB"], ["y", "p q"], ["z", ""]])
        self.assertEqual(j["args_all"], [["a", "q1"], ["a", "body1"], ["x", "AB"], ["y", "p q"],
                                         ["z", ""]])
        self.assertEqual(j["first_a"], "q1")
        self.assertEqual(j["body"], body)
        self.assertIsNone(j["missing"])

    def test_urlencoded_body_argument_limit(self):
        # Each argument costs ~64 bytes of server memory however short: 20 MiB of "a&a&..."
        # took the server to 1.1 GB (the default 100 MiB body: ~5 GB). 10,000 are parsed (Go's
        # net/url limit); a body with more is refused with 400 and never reaches the handler.
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        body = "&".join("k%d=v" % i for i in range(10000)) + "&&&"  # empty pairs do not count
        j = self.get_json("/echo", "POST", body, form)
        self.assertEqual(len(j["args_body"]), 10000)
        self.assertEqual(j["args_body"][-1], ["k9999", "v"])
        for body in (body + "k=v", "a&" * (10 << 20)):
            c = self.conn()
            try:
                c.request("POST", "/echo", body=body, headers=form)
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 400)
                # The body was read whole: the connection goes on.
                c.request("GET", "/echo?after=1")
                r = c.getresponse()
                self.assertEqual(json.loads(r.read())["args_query"], [["after", "1"]])
            finally:
                c.close()

    def test_multipart_form_data(self):
        boundary = "----eddyBoundary7MA4YWxk"
        parts = [
            b'Content-Disposition: form-data; name="title"\r\n\r\nHello world',
            b'Content-Disposition: form-data; name="a"\r\n\r\nfirst',
            (b'Content-Disposition: form-data; name="upload"; filename="notes.txt"\r\n'
             b'Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n--not-a-boundary'),
            (b'Content-Disposition: form-data; name="bin"; filename="b.dat"\r\n'
             b'Content-Type: application/octet-stream\r\n\r\n\x00\x01\xff\r\n'),
            b'Content-Disposition: form-data; name="empty"\r\n\r\n',
        ]
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        body += b"--" + boundary.encode() + b"--\r\n"
        j = self.get_json("/echo", "POST", body,
                          {"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(j["args_body"], [["title", "Hello world"], ["a", "first"], ["empty", ""]])
        self.assertEqual(j["first_a"], "first")
        self.assertIsNone(j["missing"])
        self.assertEqual(j["files"], [
            {"field": "upload", "filename": "notes.txt", "content_type": "text/plain",
             "body": "line one\r\nline two\r\n--not-a-boundary"},
            {"field": "bin", "filename": "b.dat", "content_type": "application/octet-stream",
             "body": "\x00\x01\xff\r\n"},
        ])
        self.assertEqual(j["file_at_out_of_range"], ENOENT)

    # -- streamed request bodies --

    def _chunked_upload(self, path, total, chunk=65536, content_length=False, seed=1):
        rnd = random.Random(seed)
        data = rnd.randbytes(total)
        raw = self.raw(timeout=60)
        if content_length:
            raw.send(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" %
                      (path, total)).encode())
            for i in range(0, total, chunk):
                raw.send(data[i:i + chunk])
        else:
            raw.send(("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" %
                      path).encode())
            for i in range(0, total, chunk):
                piece = data[i:i + chunk]
                raw.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
            raw.send(b"0\r\n\r\n")
        resp = raw.read_response()
        raw.close()
        self.assertEqual(resp.status, 200, resp.body)
        j = json.loads(resp.body)
        self.assertEqual(j["bytes"], total)
        self.assertEqual(j["adler32"], zlib.adler32(data))
        self.assertEqual(j["ended"], 1)
        self.assertEqual(j["bad_rc"], 0)
        self.assertEqual(j["body_len"], 0)  # streamed: eddy_request_body() is empty
        return j

    def test_streamed_chunked_upload_5mb(self):
        j = self._chunked_upload("/upload", 5 * 1024 * 1024)
        self.assertGreater(j["chunks"], 1)

    def test_streamed_upload_pause_resume(self):
        j = self._chunked_upload("/upload?pause=1", 5 * 1024 * 1024, seed=2)
        self.assertEqual(j["pauses"], j["chunks"])
        self.assertEqual(j["resumes"], j["pauses"])

    def test_streamed_upload_pause_resume_content_length(self):
        j = self._chunked_upload("/upload?pause=1", 1024 * 1024, content_length=True, seed=3)
        self.assertEqual(j["pauses"], j["chunks"])

    def test_streamed_upload_pause_resume_small_content_length(self):
        # the whole body arrives in one read; pausing on the last piece must not stall the end
        raw = self.raw()
        raw.send(b"POST /upload?pause=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        resp = raw.read_response()
        raw.close()
        j = json.loads(resp.body)
        self.assertEqual((j["bytes"], j["adler32"], j["ended"]), (5, zlib.adler32(b"hello"), 1))

    def test_streamed_body_without_close_callback(self):
        def released(n):
            st = self.wait_stats(lambda s: s["sink_released"] >= st0["sink_released"] + n)
            self.assertEqual(st["sink_released"], st0["sink_released"] + n)
            return st

        # Complete: the callbacks see every byte and the end, and the request is released
        # after the response like any other.
        st0 = self.stats()
        raw = self.raw()
        raw.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        self.assertEqual(json.loads(raw.read_response().body), {"bytes": 5, "ended": 1})
        raw.close()
        released(1)
        # Cut short by the client (mid-body) and by the server (a bad chunk: 400): the
        # application took no close callback, so the server releases the request (and its
        # userdata) itself instead of keeping it for an on_end that never comes.
        raw = self.raw()
        raw.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
        st = self.wait_stats(lambda s: s["sink_started"] == st0["sink_started"] + 2)
        self.assertEqual(st["sink_released"], st0["sink_released"] + 1)  # still in use
        raw.close()
        released(2)
        raw = self.raw()
        raw.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\nzz\r\n")
        self.assertEqual(raw.read_response().status, 400)
        raw.close()
        self.assertEqual(released(3)["sink_started"], st0["sink_started"] + 3)

    def test_per_request_max_body_size(self):
        r, data = self.request("POST", "/limited", b"x" * 500)
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(data), {"body_len": 500, "rc": 0})
        r, data = self.request("POST", "/limited", b"x" * 2000)
        self.assertEqual(r.status, 413)
        # chunked bodies too (no Content-Length to check up front)
        raw = self.raw()
        raw.send(b"POST /limited HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                 b"400\r\n" + b"y" * 1024 + b"\r\n" + b"10\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n")
        resp = raw.read_response()
        self.assertEqual(resp.status, 413)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_early_response_from_headers_callback(self):
        raw = self.raw()
        raw.send(b"POST /forbidden HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                 b"a" * 1000)
        resp = raw.read_response()
        self.assertEqual((resp.status, resp.body), (403, b"forbidden"))
        self.assertEqual(resp.get("Connection"), "close")
        self.assertTrue(raw.closed_within(HANG_GUARD),
                        "connection not closed after an early response")
        raw.close()
        # the server is still fine
        self.assertEqual(self.request("GET", "/auto_length")[1], b"hello world")

    def test_gzip_body_passes_through_without_decompress(self):
        payload = b"compressed payload " * 10
        gz = gzip.compress(payload)
        j = self.get_json("/echo", "POST", gz, {"Content-Encoding": "gzip"})
        self.assertEqual(j["body"].encode("latin-1"), gz)
        names = [h[0].lower() for h in j["headers"]]
        self.assertIn("content-encoding", names)
        self.assertNotIn("x-consumed-content-encoding", names)

    # -- access log --

    def test_access_log_callback(self):
        t0 = time.monotonic()
        self.request("GET", "/auto_length?tag=cb1")
        self.request("GET", "/status?code=404&tag=cb2")
        self.request("GET", "/deferred?ms=50&tag=cb3")
        entries = self.get_json("/accesslog")
        # The entries were made (their durations measured, on the same monotonic clock) within
        # this client's window: an upper bound that holds however slow the machine is.
        window = time.monotonic() - t0
        by_uri = {e["uri"]: e for e in entries}
        e = by_uri["/auto_length?tag=cb1"]
        self.assertEqual((e["method"], e["status"], e["bytes"]), ("GET", 200, 11))
        self.assertGreaterEqual(e["duration"], 0)
        e = by_uri["/status?code=404&tag=cb2"]
        self.assertEqual(e["status"], 404)
        self.assertEqual(e["bytes"], len(b'{"rc":0}'))
        e = by_uri["/deferred?ms=50&tag=cb3"]
        self.assertGreaterEqual(e["duration"], 0.045)
        self.assertLessEqual(e["duration"], window)

    def test_access_log_bytes_of_head_response(self):
        # eddy_request_bytes_sent(): "body bytes sent"; a HEAD response sends none
        self.request("HEAD", "/auto_length?tag=head1")
        entries = self.get_json("/accesslog")
        e = [e for e in entries if e["uri"] == "/auto_length?tag=head1"][0]
        self.assertEqual((e["method"], e["status"]), ("HEAD", 200))
        self.assertEqual(e["bytes"], 0, "HEAD response logged with body bytes it never sent")

    def test_access_log_fd_common_log_format(self):
        self.request("GET", "/auto_length?tag=clf")
        # A quote in the target (visible ASCII, which the parser lets through) must not end the
        # quoted request field early, nor a backslash start an escape: both are written as \xHH
        # (nginx's escaping), so the line keeps its fields.
        raw = self.raw()
        raw.send(b'GET /auto_length?tag=clf3"x\\y HTTP/1.1\r\nHost: a\r\n\r\n')
        raw.read_response()
        raw.close()
        self.request("POST", "/status?code=201&tag=clf2", b"")
        text = self.access_log_text_once("tag=clf2")
        clf = (r'^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
               r'"%s" %d %d$')
        self.assertRegex(text, re.compile(clf % (re.escape("GET /auto_length?tag=clf HTTP/1.1"),
                                                 200, 11), re.M))
        self.assertRegex(text, re.compile(clf % (re.escape("POST /status?code=201&tag=clf2 HTTP/1.1"),
                                                 201, 8), re.M))
        self.assertIn('"GET /auto_length?tag=clf3\\x22x\\x5Cy HTTP/1.1"', text)
        for line in text.splitlines():
            self.assertRegex(line, r'^\S+ - - \[[^\]]+\] "[^"]*" \d{3} \d+$')


# ---- answers queued for clients that do not read them ------------------------------------------

def server_rss_kib(server):
    with open("/proc/%d/status" % server.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class QueuedOutputTest(ServerTestCase):
    """A client that pipelines requests without reading the answers must not make the server
    queue answers without bound (RFC 9112 9.3.2 asks for the answers in order, not for a
    server to hold any number of them): once 64 KiB of answers wait, the server stops taking
    requests until they were sent, and TCP flow control stops the client."""

    def test_pipelining_client_that_does_not_read_is_held(self):
        request = get_req("/auto_length")
        batch = request * 512
        raw = self.raw()
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        rss_before = server_rss_kib(self.server)
        raw.sock.settimeout(0.5)
        sent = 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and sent < (256 << 20):
            try:
                n = raw.sock.send(batch)
            except socket.timeout:
                break  # held: the server reads no more
            sent += n
            if n < len(batch):
                break
        # Held after the socket buffers filled (~4 MiB here); without the hold the server reads
        # on, and queues ~700 MiB of answers within the 4 s.
        self.assertLess(sent, 32 << 20, "the server kept reading requests it could not answer")
        growth = server_rss_kib(self.server) - rss_before
        # (Under ASan, freed memory waits in its quarantine: ~75 MiB for the ~130,000 requests.)
        self.assertLess(growth, 160 * 1024, "server RSS grew by %d KiB" % growth)
        # Other connections are served meanwhile.
        self.assertEqual(self.request("GET", "/auto_length")[1], b"hello world")
        # Every request sent is answered, in order, once the client reads: complete the last
        # one (it may have been cut), then ask to close.
        partial = sent % len(request)
        count = sent // len(request) + (1 if partial else 0)
        raw.sock.settimeout(30)
        tail = (request[partial:] if partial else b"") + get_req(
            "/auto_length", extra=b"Connection: close\r\n")
        sender = threading.Thread(target=raw.sock.sendall, args=(tail,))
        sender.start()
        data = raw.read_to_eof()
        sender.join()
        self.assertEqual(data.count(b"HTTP/1.1 200 OK\r\n"), count + 1)
        self.assertEqual(data.count(b"hello world"), count + 1)
        self.assertTrue(data.endswith(b"hello world"))
        raw.close()

    def test_half_closing_client_gets_every_answer(self):
        # A client that sends its requests and then half-closes (shutdown(SHUT_WR)) still
        # reads: the answers queued when its FIN arrives are sent whole before the close.
        for requests, count, size in ((get_req("/big?kb=8192"), 1, 8 << 20),
                                      (get_req("/big?kb=1024") * 12, 12, 1 << 20)):
            raw = small_window_raw(self.port)
            raw.send(requests)
            raw.sock.shutdown(socket.SHUT_WR)
            for _ in range(count):
                self.assertEqual(len(raw.read_response().body), size)
            self.assertEqual(raw.read_to_eof(), b"")
            raw.close()


# ---- the access log on a pipe nobody reads ------------------------------------------------------

class PipeLogServerCase(ServerTestCase):
    """A server whose CLF log goes to stdout, a pipe the test reads only when it wants to."""
    SERVER_ARGS = ("--access-log", "stdout")
    LINE = re.compile(r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /auto_length\?i=\d+ HTTP/1\.1" 200 11$')

    def pipelined(self, count, batch=500):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            for start in range(0, count, batch):
                n = min(batch, count - start)
                s.sendall(b"".join(get_req("/auto_length?i=%d" % (start + i)) for i in range(n)))
                data = b""
                while data.count(b"hello world") < n:
                    chunk = s.recv(65536)  # a server stuck on its log times out here
                    self.assertTrue(chunk, "connection closed after %d responses" % start)
                    data += chunk
        finally:
            s.close()

    def read_stdout_until(self, done, timeout=HANG_GUARD):
        """Reads the server's stdout (its log) until done(the text read) is true; returns the
        text. The deadline only ends the wait for a server that never writes what is awaited
        (the test fails on the text then)."""
        fd = self.server.proc.stdout.fileno()
        out = b""
        deadline = time.monotonic() + timeout
        while not done(out.decode("latin-1")) and time.monotonic() < deadline:
            # short waits: `done` may also be waiting for something on stderr
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                out += chunk
        return out.decode("latin-1")

    def dropped_count(self):
        """The count in the server's "lines dropped" line (on stderr), or None before it."""
        m = re.search(r"access log fd 1: (\d+) lines dropped while it had no room",
                      self.server.stderr())
        return int(m.group(1)) if m else None


class AccessLogPipeTest(PipeLogServerCase):
    """The log's pipe left unread (as many process runners do once they saw the "listening"
    line): the server must keep answering, keep at most 1 MiB of lines waiting, count what it
    drops, and say so once the pipe has room again."""

    def test_unread_pipe_neither_stalls_nor_loses_lines_silently(self):
        total = 30000  # ~2 MiB of lines: past the pipe's 64 KiB and the 1 MiB kept waiting
        self.pipelined(total)
        # Read until every line is either in the log or in the count of dropped lines (which
        # the server writes to stderr once all it kept went into the pipe).
        logged = self.read_stdout_until(
            lambda text: self.dropped_count() is not None and
            text.count("\n") + self.dropped_count() >= total)
        lines = logged.splitlines()
        for line in lines:
            self.assertRegex(line, self.LINE)
        self.assertLess(len(lines), total)  # some were dropped...
        dropped = self.dropped_count()
        self.assertIsNotNone(dropped, self.server.stderr()[-2000:])
        # ...and every line is either in the log or in the count.
        self.assertEqual(len(lines) + dropped, total)
        # Logging goes on once the pipe has room.
        r, data = self.request("GET", "/auto_length?i=after")
        self.assertEqual(data, b"hello world")
        after = '"GET /auto_length?i=after HTTP/1.1" 200 11'
        self.assertIn(after, self.read_stdout_until(lambda text: after in text))


class AccessLogReaderGoneTest(PipeLogServerCase):
    def test_reader_gone_turns_the_log_off_without_sigpipe(self):
        self.pipelined(100)
        logged = self.read_stdout_until(lambda text: text.count("\n") >= 100)
        self.assertEqual(len(logged.splitlines()), 100)
        self.server.proc.stdout.close()  # no reader left: a write would raise SIGPIPE
        self.pipelined(3000)  # a server killed by SIGPIPE fails here
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline and "access log turned off" not in self.server.stderr():
            time.sleep(0.05)
        self.assertIn("its reader is gone; access log turned off", self.server.stderr())
        r, data = self.request("GET", "/auto_length?i=after")
        self.assertEqual(data, b"hello world")
        self.assertIsNone(self.server.proc.poll())


class StderrReaderGoneTest(unittest.TestCase):
    """The access log and eddy's own log lines both on stderr (as the demo has them), and the
    reader of stderr gone: neither may raise SIGPIPE in the server."""

    def test_server_survives_its_stderr_reader(self):
        proc = subprocess.Popen([SERVER, "--port", "0", "--access-log", "-"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            port = None
            deadline = time.monotonic() + 30
            while port is None and time.monotonic() < deadline:
                line = proc.stdout.readline().decode()
                if not line:
                    break
                m = re.match(r"listening on (.*):(\d+)$", line.strip())
                port = int(m.group(2)) if m else None
            self.assertIsNotNone(port, "server did not start")
            proc.stderr.close()  # nobody reads stderr any more
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                for start in range(0, 3000, 500):
                    s.sendall(b"".join(get_req("/auto_length?i=%d" % i) for i in range(500)))
                    data = b""
                    while data.count(b"hello world") < 500:
                        chunk = s.recv(65536)
                        self.assertTrue(chunk, "server gone after %d responses" % start)
                        data += chunk
            finally:
                s.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/auto_length")
            self.assertEqual(c.getresponse().read(), b"hello world")
            c.close()
            self.assertIsNone(proc.poll())
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=20), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


# ---- decompress_request ------------------------------------------------------------------------

class DecompressTest(ServerTestCase):
    SERVER_ARGS = ("--decompress", "--max-body-size", "65536")

    def test_gzip_body_decoded(self):
        payload = b"hello gzip " * 100
        j = self.get_json("/echo", "POST", gzip.compress(payload),
                          {"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        self.assertEqual(j["body"].encode("latin-1"), payload)
        self.assertEqual(j["body_len"], len(payload))
        headers = {h[0].lower(): h[1] for h in j["headers"]}
        self.assertEqual(headers.get("x-consumed-content-encoding"), "gzip")
        self.assertNotIn("content-encoding", headers)

    def test_x_gzip_is_gzip(self):
        # RFC 9110 8.4.1.3: a recipient SHOULD treat "x-gzip" as "gzip".
        payload = b"hello x-gzip " * 50
        j = self.get_json("/echo", "POST", gzip.compress(payload), {"Content-Encoding": "x-gzip"})
        self.assertEqual(j["body"].encode("latin-1"), payload)

    def test_gzip_form_body_arguments(self):
        j = self.get_json("/echo", "POST", gzip.compress(b"a=1&b=two"),
                          {"Content-Encoding": "gzip",
                           "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(j["args_body"], [["a", "1"], ["b", "two"]])

    def test_gzip_streamed_upload_decoded(self):
        payload = random.Random(5).randbytes(30000)
        r, data = self.request("POST", "/upload", gzip.compress(payload),
                               {"Content-Encoding": "gzip"})
        j = json.loads(data)
        self.assertEqual((j["bytes"], j["adler32"]), (len(payload), zlib.adler32(payload)))

    def test_gzip_streamed_in_pieces_as_inflated(self):
        # 60,000 zero bytes are ~100 bytes of gzip, one read: the streaming delegate gets them
        # in pieces of at most 16 KiB as they are inflated (they were inflated into one string
        # first: a small body could make the server hold max_body_size bytes at once).
        payload = b"\0" * 60000
        z = gzip.compress(payload)
        raw = self.raw()
        raw.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(z))
        time.sleep(0.2)  # the delegate is in place: the body goes to it as it is read
        raw.send(z)
        resp = raw.read_response()
        raw.close()
        self.assertEqual(resp.status, 200, resp.body[:200])
        j = json.loads(resp.body)
        self.assertEqual((j["bytes"], j["adler32"]), (len(payload), zlib.adler32(payload)))
        self.assertLessEqual(j["max_chunk"], 16384)
        self.assertGreaterEqual(j["chunks"], 4)

    def test_gzip_bomb_over_limit(self):
        bomb = gzip.compress(b"\0" * (10 * 1024 * 1024), 9)
        self.assertLess(len(bomb), 65536)
        raw = self.raw()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(bomb))
        try:
            raw.send(bomb)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = raw.read_response()
        self.assertEqual(resp.status, 413)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_gzip_body_near_the_limit_in_many_pieces(self):
        # 60,000 decoded bytes under the 65,536 limit, sent chunk by chunk so that the decoder
        # runs many times: the limit counts decoded bytes once (it was counted twice, so a body
        # over about half the limit got 413).
        payload = random.Random(7).randbytes(60000)
        z = gzip.compress(payload)
        raw = self.raw()
        raw.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(z), 4096):
            piece = z[i:i + 4096]
            raw.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            time.sleep(0.002)  # separate reads on the server
        raw.send(b"0\r\n\r\n")
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body[:200])
        j = json.loads(resp.body)
        self.assertEqual((j["bytes"], j["adler32"]), (len(payload), zlib.adler32(payload)))
        raw.close()

    def test_bad_gzip_is_400(self):
        r, data = self.request("POST", "/echo", b"not gzip at all", {"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 400)

    def test_empty_body_labelled_gzip_is_empty(self):
        j = self.get_json("/echo", "POST", b"", {"Content-Encoding": "gzip"})
        self.assertEqual(j["body_len"], 0)

    def test_chunk_over_the_limit_refused_at_its_size_line(self):
        # 0x20000 bytes announced against a 65,536-byte limit: 413 at once, not after the data
        # or the body timeout (60 s here; the read below gives up after 10 s).
        raw = self.raw()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"20000\r\nabc")
        resp = raw.read_response()
        self.assertEqual(resp.status, 413)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_compressed_bytes_count_against_the_limit(self):
        # Empty gzip members decode to nothing: 80 KB of them still pass the 64 KiB limit.
        member = gzip.compress(b"")
        raw = self.raw()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(20):
                piece = member * 200
                raw.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            raw.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(raw.read_response().status, 413)
        raw.close()

    def test_repeated_content_encoding_is_left_coded(self):
        # Two field lines are the list "gzip, gzip" (RFC 9110 5.3): the body is not decoded
        # once and then called decoded; it is left as it came, with its fields.
        twice = gzip.compress(gzip.compress(b"hello"))
        raw = self.raw()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(twice), twice))
        resp = raw.read_response()
        self.assertEqual(resp.status, 200)
        j = json.loads(resp.body.decode("latin-1"))
        self.assertEqual(j["body"].encode("latin-1"), twice)
        names = [h[0].lower() for h in j["headers"]]
        self.assertEqual(names.count("content-encoding"), 2)
        self.assertNotIn("x-consumed-content-encoding", names)
        raw.close()


# ---- protocol (Tornado's HTTPServer `protocol`) -------------------------------------------------

class BodyMemoryTest(ServerTestCase):
    """eddy_server_set_max_body_memory: request bodies held in memory over all connections."""
    SERVER_ARGS = ("--max-body-memory", "100000")

    def post_head(self, raw, length=None, extra=b""):
        framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\n%s\r\n%s\r\n" % (framing, extra))

    def held_by_server(self, raw):
        wait_server_read(self.port, [raw.sock.getsockname()[1]])

    def refused(self, raw):
        resp = raw.read_response("POST")
        self.assertEqual(resp.status, 503)
        self.assertTrue(raw.closed_within(HANG_GUARD))

    def test_bodies_over_the_budget_get_503_and_the_budget_comes_back(self):
        slow = self.raw()  # 50,000 of its 60,000 bytes, then it stalls
        self.post_head(slow, 60000)
        slow.send(b"a" * 50000)
        self.held_by_server(slow)
        # An announced length that does not fit now: 503 before the body, no 100 Continue.
        announced = self.raw()
        self.post_head(announced, 60000, b"Expect: 100-continue\r\n")
        resp = announced.read_response("POST")
        self.assertEqual(resp.status, 503)
        self.assertNotIn(b"100 Continue", resp.head_raw)
        self.assertTrue(announced.closed_within(HANG_GUARD))
        announced.close()
        # One that fits is served meanwhile.
        self.assertEqual(self.get_json("/echo", "POST", b"b" * 40000)["body_len"], 40000)
        # A chunked body is refused when its bytes go over.
        chunked = self.raw()
        self.post_head(chunked)
        chunked.send(b"9c40\r\n" + b"c" * 40000 + b"\r\n")  # 90,000 held: fits
        self.held_by_server(chunked)
        try:
            chunked.send(b"4e20\r\n" + b"c" * 20000 + b"\r\n0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.refused(chunked)
        chunked.close()
        # The stalled body completes: its bytes were counted, not refused.
        slow.send(b"a" * 10000)
        resp = slow.read_response("POST")
        self.assertEqual((resp.status, json.loads(resp.body)["body_len"]), (200, 60000))
        slow.close()
        # Released requests gave their bytes back: nearly the whole budget fits again.
        self.assertEqual(self.get_json("/echo", "POST", b"d" * 99000)["body_len"], 99000)
        r, _ = self.request("POST", "/echo", b"e" * 100001)
        self.assertEqual(r.status, 503)
        log = self.server.stderr()
        self.assertIn("request body refused (60000 bytes): the server holds 50000 bytes", log)
        self.assertIn("its max_body_memory is 100000", log)

    def test_streamed_bodies_are_not_counted(self):
        # /upload streams its body to the application (eddy_request_stream_body).
        payload = random.Random(7).randbytes(300000)
        r, data = self.request("POST", "/upload", payload)
        j = json.loads(data)
        self.assertEqual((r.status, j["bytes"], j["adler32"]), (200, len(payload), zlib.adler32(payload)))


class ProtocolTest(ServerTestCase):
    """eddy_server_set_protocol: every request's scheme, for a server behind a proxy that
    terminates TLS without saying so; a scheme named by a trusted proxy (xheaders) still wins."""
    SERVER_ARGS = ("--protocol", "https", "--xheaders")

    def test_every_request_gets_the_servers_protocol(self):
        self.assertEqual(self.get_json("/echo")["scheme"], "https")
        j = self.get_json("/echo", headers={"X-Forwarded-Proto": "http"})
        self.assertEqual(j["scheme"], "http")

    def test_other_values_are_refused(self):
        proc = subprocess.run([SERVER, "--port", "0", "--protocol", "ftp"], capture_output=True,
                              timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(b"--protocol", proc.stderr)


# ---- xheaders ----------------------------------------------------------------------------------

class XHeadersTest(ServerTestCase):
    SERVER_ARGS = ("--xheaders",)

    def test_x_real_ip_and_proto(self):
        j = self.get_json("/echo", headers={"X-Real-IP": "1.2.3.4", "X-Forwarded-Proto": "https"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("1.2.3.4", "https"))

    def test_x_forwarded_for_rightmost(self):
        j = self.get_json("/echo", headers={"X-Forwarded-For": "5.6.7.8, 9.9.9.9"})
        self.assertEqual(j["remote_ip"], "9.9.9.9")
        self.assertEqual(j["scheme"], "http")

    def test_x_scheme_and_ipv6(self):
        j = self.get_json("/echo", headers={"X-Real-IP": "2001:db8::1", "X-Scheme": "HTTPS"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("2001:db8::1", "https"))

    def test_invalid_values_ignored(self):
        j = self.get_json("/echo", headers={"X-Real-IP": "not-an-ip", "X-Forwarded-Proto": "gopher"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("127.0.0.1", "http"))

    def test_no_headers(self):
        j = self.get_json("/echo")
        self.assertEqual((j["remote_ip"], j["scheme"]), ("127.0.0.1", "http"))

    def test_not_used_without_xheaders(self):
        pass  # see DefaultXHeadersOffTest


class DefaultXHeadersOffTest(ServerTestCase):
    def test_headers_ignored_without_xheaders(self):
        j = self.get_json("/echo", headers={"X-Real-IP": "1.2.3.4", "X-Forwarded-Proto": "https"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("127.0.0.1", "http"))
        self.assertGreater(j["remote_port"], 0)


class UntrustedPeerTest(ServerTestCase):
    SERVER_ARGS = ("--xheaders", "--trusted-proxy", "10.9.9.9")

    def test_untrusted_peer_not_believed(self):
        j = self.get_json("/echo", headers={"X-Real-IP": "1.2.3.4", "X-Forwarded-Proto": "https",
                                            "X-Forwarded-For": "5.6.7.8"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("127.0.0.1", "http"))


class TrustedPeerSpelledOtherwiseTest(ServerTestCase):
    """A trusted proxy is an address, not a string: 127.0.0.1 given as its IPv4-mapped form,
    2001:db8::2 in capitals with a zero group, still match the peer (which the listener writes
    as "127.0.0.1") and X-Forwarded-For's members, however those spell them."""
    SERVER_ARGS = ("--xheaders", "--trusted-proxy", "::FFFF:127.0.0.1",
                   "--trusted-proxy", "2001:DB8:0::2")

    def test_any_spelling_of_a_trusted_address_matches(self):
        j = self.get_json("/echo", headers={"X-Real-IP": "4.3.2.1", "X-Forwarded-Proto": "https"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("4.3.2.1", "https"))
        for hop in ("2001:db8::2", "2001:DB8::2", "2001:db8:0:0::2"):
            j = self.get_json("/echo", headers={"X-Forwarded-For": "1.2.3.4, " + hop})
            self.assertEqual(j["remote_ip"], "1.2.3.4", hop)
        j = self.get_json("/echo", headers={"X-Forwarded-For": "1.2.3.4, ::ffff:127.0.0.1"})
        self.assertEqual(j["remote_ip"], "1.2.3.4")


class TrustedPeerTest(ServerTestCase):
    SERVER_ARGS = ("--xheaders", "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.2")

    def test_trusted_peer_believed(self):
        j = self.get_json("/echo", headers={"X-Forwarded-For": "6.6.6.6, 1.2.3.4, 10.0.0.2",
                                            "X-Forwarded-Proto": "https"})
        self.assertEqual((j["remote_ip"], j["scheme"]), ("1.2.3.4", "https"))
        j = self.get_json("/echo", headers={"X-Real-IP": "4.3.2.1"})
        self.assertEqual(j["remote_ip"], "4.3.2.1")

    def test_repeated_lines_form_one_list(self):
        # A client's own line before the proxy's does not win (RFC 9110 5.3): the last member
        # of X-Forwarded-Proto counts, and two X-Real-IP lines leave X-Forwarded-For to decide.
        raw = self.raw()
        raw.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n"
                 b"X-Forwarded-Proto: http\r\nX-Real-IP: 6.6.6.6\r\nX-Real-IP: 7.7.7.7\r\n"
                 b"X-Forwarded-For: 1.2.3.4\r\n\r\n")
        resp = raw.read_response()
        j = json.loads(resp.body.decode("latin-1"))
        self.assertEqual((j["remote_ip"], j["scheme"]), ("1.2.3.4", "http"))
        raw.close()


# ---- body arguments left undecoded ---------------------------------------------------------------

class NoBodyArgumentsTest(ServerTestCase):
    """eddy_server_set_body_arguments(server, 0): form bodies reach the callback as bytes."""
    SERVER_ARGS = ("--no-body-arguments",)

    def test_form_bodies_are_not_decoded(self):
        for ctype, body in (("application/x-www-form-urlencoded", b"a=1&b=2"),
                            ("multipart/form-data; boundary=xyz",
                             b'--xyz\r\nContent-Disposition: form-data; name="a"; filename="f"\r\n'
                             b"\r\nhi\r\n--xyz--\r\n"),
                            ("multipart/form-data", b"not multipart at all")):
            with self.subTest(ctype=ctype):
                j = self.get_json("/echo?q=1", "POST", body, {"Content-Type": ctype})
                self.assertEqual(j["body"], body.decode("latin-1"))
                self.assertEqual(j["args_body"], [])
                self.assertEqual(j["files"], [])
                self.assertEqual(j["args_query"], [["q", "1"]])

    def test_default_decodes_and_refuses_malformed(self):
        # The same bodies on a default server: decoded, and the malformed one answered 400.
        default = ServerProcess()
        try:
            c = http.client.HTTPConnection("127.0.0.1", default.port, timeout=10)
            try:
                c.request("POST", "/echo", b"a=1&b=2",
                          {"Content-Type": "application/x-www-form-urlencoded"})
                r = c.getresponse()
                self.assertEqual(json.loads(r.read())["args_body"], [["a", "1"], ["b", "2"]])
                c.request("POST", "/echo", b"not multipart", {"Content-Type": "multipart/form-data"})
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 400)
            finally:
                c.close()
        finally:
            check_clean_exit(self, default)


# ---- no_keep_alive --------------------------------------------------------------------------------

class NoKeepAliveTest(ServerTestCase):
    SERVER_ARGS = ("--no-keep-alive",)

    def test_every_connection_closes(self):
        for req in (get_req("/auto_length"),
                    get_req("/auto_length", "HTTP/1.0", b"Connection: keep-alive\r\n"),
                    get_req("/deferred?ms=10"), get_req("/stream?n=2&ms=5")):
            raw = self.raw()
            raw.send(req + get_req("/auto_length"))
            resp = raw.read_response()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.get("Connection"), "close")
            self.assertTrue(raw.closed_within(HANG_GUARD), req)
            raw.close()

    def test_http_client_sees_close(self):
        c = self.conn()
        c.request("GET", "/auto_length")
        r = c.getresponse()
        self.assertEqual(r.read(), b"hello world")
        self.assertTrue(r.will_close)
        c.close()


class LiftedBodyLimitTest(ServerTestCase):
    """A body limit raised past anything a connection can carry: a Content-Length beyond what
    http-parser counts (about 1.8 * 10^18) still gets 413 and a close, not a 500 or a wait."""
    SERVER_ARGS = ("--max-body-size", "9000000000000000000")

    def test_uncountable_length_gets_413(self):
        for length in (b"2000000000000000000", b"18446744073709551615"):
            raw = self.raw()
            raw.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + length +
                     b"\r\n\r\nabc")
            resp = raw.read_response()
            self.assertEqual(resp.status, 413, length)
            self.assertTrue(raw.closed_within(HANG_GUARD), length)
            raw.close()

    def test_length_over_2_64_is_invalid(self):
        raw = self.raw()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616"
                 b"\r\n\r\nabc")
        self.assertEqual(raw.read_response().status, 400)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()


# ---- timeouts ----------------------------------------------------------------------------------

class HeaderTimeoutShorterThanIdleTest(ServerTestCase):
    # The idle timer queued after a response is renewed lazily; a head that starts on a kept-alive
    # connection must still get the (shorter) header timeout, answered with 408 — the idle
    # timeout would close silently.
    SERVER_ARGS = ("--idle-timeout", "30", "--header-timeout", "0.3")

    def test_partial_head_after_keep_alive_gets_408(self):
        raw = self.raw(timeout=20)
        for _ in range(3):
            raw.send(get_req("/auto_length"))
            self.assertEqual(raw.read_response().body, b"hello world")
        raw.send(b"GET /auto_length HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
        resp = raw.read_response()
        self.assertEqual(resp.status, 408)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_partial_method_after_keep_alive_gets_408(self):
        # Between requests a connection gives its request-reading state back; the first bytes
        # of a method take it again and must start the header timeout as a whole head does.
        raw = self.raw(timeout=20)
        for _ in range(2):
            raw.send(get_req("/auto_length"))
            self.assertEqual(raw.read_response().body, b"hello world")
        raw.send(b"\r\n")  # a blank line alone: no request yet (RFC 9112 section 2.2)
        time.sleep(0.05)
        raw.send(b"GE")  # the rest of the method never comes
        resp = raw.read_response()
        self.assertEqual(resp.status, 408)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()


class IdleTimeoutAfterRenewalsTest(ServerTestCase):
    # The idle timer is renewed lazily: a renewal moves the deadline only, and the queued timer,
    # when it fires, queues itself again for the later deadline. Requests 0.1 s apart (well
    # under the 1 s idle timeout: a loaded machine can run this client or the server late by a
    # good part of a second) and together over it (the pauses alone take 1.3 s), so the timer
    # fires and re-queues while the connection is busy; the close must still come once the
    # client goes quiet.
    SERVER_ARGS = ("--idle-timeout", "1", "--header-timeout", "5")

    def test_idle_close_still_comes_after_many_renewals(self):
        raw = self.raw(timeout=HANG_GUARD)
        for _ in range(13):
            raw.send(get_req("/auto_length"))
            self.assertEqual(raw.read_response().body, b"hello world")
            time.sleep(0.1)
        self.assertTrue(raw.closed_within(HANG_GUARD), "no idle close after the renewals")
        raw.close()


class TimeoutsTest(ServerTestCase):
    # Short timeouts (0.3 s) so that each test sees one fire. What a test asserts is that the
    # timeout fired (the 408, the close) and did not fire too early; how soon after its time it
    # fired is the machine's business: the waits for it end at HANG_GUARD, which only a server
    # that never times out reaches.
    SERVER_ARGS = ("--idle-timeout", "0.3", "--header-timeout", "0.3", "--body-timeout", "0.3")

    def test_idle_timeout_closes_kept_alive_connection(self):
        raw = self.raw()
        # Timed from before the request: the server's idle wait starts after it, so the close
        # cannot come sooner than the timeout, however late this client reads the answer.
        t0 = time.monotonic()
        raw.send(get_req("/auto_length"))
        self.assertEqual(raw.read_response().body, b"hello world")
        self.assertTrue(raw.closed_within(HANG_GUARD), "kept-alive connection never closed")
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)  # not before its time
        raw.close()

    def test_deferred_response_longer_than_timeouts(self):
        # a response the application takes its time over is not an idle connection
        raw = self.raw()
        raw.send(get_req("/deferred?ms=700&id=slow"))
        self.assertEqual(raw.read_response().body, b"deferred id=slow")
        raw.close()

    def unread_answer(self, extra=b""):
        """Asks for 16 MiB and reads nothing until the server closed its socket (after an idle
        timeout without progress), then reads to the end: returns what arrived."""
        size = 16 << 20
        raw = small_window_raw(self.port)
        raw.send(get_req("/big?kb=%d" % (size >> 10), extra=extra))
        self.assertTrue(wait_server_closed(self.port, raw.sock.getsockname()[1], HANG_GUARD),
                        "a client that takes nothing of its answer was never closed")
        data = raw.read_to_eof()
        raw.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
        return len(data), size

    def test_unread_answer_closes_after_idle_timeout(self):
        # A client that takes nothing of a long answer for a whole idle timeout is closed
        # (it got what the socket buffers held, a few MiB).
        got, size = self.unread_answer()
        self.assertLess(got, size)
        self.assertEqual(self.request("GET", "/auto_length")[1], b"hello world")

    def test_unread_last_answer_closes_after_idle_timeout(self):
        # The same for an answer after which the connection closes (Connection: close): it is
        # not kept open for ever while the client reads nothing (a slow-read attack).
        got, size = self.unread_answer(extra=b"Connection: close\r\n")
        self.assertLess(got, size)

    def test_unread_streamed_answer_closes_after_idle_timeout(self):
        # An answer the application streams with backpressure (/bigflow writes its next piece
        # only once the last reached the kernel) is never finished while its client reads
        # nothing, so no idle wait starts after it: the server must still close a client that
        # takes none of it for an idle timeout (nginx's send_timeout; the idle timeout's
        # contract in http.h), or each such client holds a connection and the application's
        # request for ever. Timed from before the request: no close before its time.
        size = 16 << 20
        t0 = time.monotonic()
        raw = small_window_raw(self.port)
        raw.send(get_req("/bigflow?kb=%d" % (size >> 10)))
        self.assertTrue(wait_server_closed(self.port, raw.sock.getsockname()[1], HANG_GUARD),
                        "a client that takes nothing of a streamed answer was never closed")
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)  # not before its time
        data = raw.read_to_eof()
        raw.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertLess(len(data), size)
        self.assertEqual(self.request("GET", "/auto_length")[1], b"hello world")

    def test_header_timeout_slowloris(self):
        # A head sent a byte at a time, each byte well within the header timeout of the one
        # before: the header timeout counts from the head's start, so the 408 comes while the
        # head is still incomplete. The head takes this client over 24 s to send (0.1 s a
        # byte), so a server that renewed the wait per byte lets it complete however slow the
        # machine, and one that times out answers long before its end.
        raw = self.raw()
        request = get_req("/auto_length", extra=b"X-Slow: " + b"a" * 200 + b"\r\n")
        sent = 0
        got = b""
        raw.sock.settimeout(0.1)
        while sent < len(request):
            try:
                raw.sock.send(request[sent:sent + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                d = raw.sock.recv(65536)
                if not d:
                    break
                got += d
                if b"\r\n\r\n" in got:
                    break
            except socket.timeout:
                pass
        raw.sock.settimeout(HANG_GUARD)
        raw.buf = got
        resp = raw.read_response()
        self.assertEqual(resp.status, 408)
        self.assertEqual(resp.get("Connection"), "close")
        self.assertLess(sent, len(request), "the whole head went through: no header timeout")
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_header_timeout_after_connect(self):
        raw = self.raw(timeout=HANG_GUARD)
        try:
            data = raw.read_to_eof()  # no request at all: closed (no 408 needed)
        except socket.timeout:
            self.fail("a connection that sent nothing was never closed")
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data)
        raw.close()

    def test_body_timeout(self):
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"0123456789")
        t0 = time.monotonic()
        try:
            resp = raw.read_response()
        except socket.timeout:
            self.fail("no 408 for a body that stopped coming")
        self.assertEqual(resp.status, 408)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)  # not before its time
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_body_timeout_does_not_run_while_paused(self):
        # The application holds the body 1 s after its first piece (flow control), three body
        # timeouts: nothing is read meanwhile, so the client cannot be idle. Before, the timeout
        # ran on during the hold and the client got 408 for the server's own pause.
        size = 20000
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?pause_ms=1000 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % size + b"p" * 1000)
        time.sleep(0.1)  # the first piece is small: the hold begins with 1000 bytes read
        raw.send(b"p" * (size - 1000))
        self.assert_held_upload_answered(raw, size)
        raw.close()

    def test_body_timeout_does_not_run_while_held_from_the_head(self):
        # Held from the headers callback on (what a web handler's asynchronous prepare does),
        # the whole body already sent: not the client's delay either.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?hold_ms=1000 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                 b"hello")
        self.assert_held_upload_answered(raw, 5)
        raw.close()

    def test_body_timeout_runs_again_after_resume(self):
        # The hold ends, the client then sends nothing more: the body timeout counts from the
        # resume, and cuts the body as before.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?hold_ms=500 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                 b"0123456789")
        t0 = time.monotonic()
        resp = raw.read_response()
        self.assertEqual(resp.status, 408)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5 + 0.2)  # the hold, then the timeout
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()


class BodyMinRateTest(ServerTestCase):
    # The minimum body rate (eddy_server_set_body_min_rate), here 20000 bytes/s after 0.5 s:
    # the body may take 0.5 s plus 1 s per 20000 bytes. The inactivity timeout keeps its default
    # (60 s), so that only the rate can cut a body that keeps coming.
    SERVER_ARGS = ("--body-min-rate", "20000,0.5")

    def _trickle(self, raw, piece, gap, limit):
        """Sends `piece` every `gap` s until the server answers (or `limit` s); returns the
        seconds it took and the bytes sent."""
        t0 = time.monotonic()
        sent = 0
        while time.monotonic() - t0 < limit:
            readable, _, _ = select.select([raw.sock], [], [], gap)
            if readable:
                break
            try:
                raw.send(piece)
            except OSError:  # cut while sending: the answer may still be read
                break
            sent += len(piece)
        return time.monotonic() - t0, sent

    def test_trickled_body_is_cut(self):
        # The slow-body (R-U-Dead-Yet) attack: a large declared body, 50 bytes every 50 ms
        # (~1000 bytes/s, a twentieth of the rate). No gap comes near the inactivity timeout:
        # before the minimum rate, this held the connection as long as the client liked.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        took, sent = self._trickle(raw, b"x" * 50, 0.05, HANG_GUARD)
        self.assertLess(took, HANG_GUARD, "a body trickled under the minimum rate was never cut")
        # Not before its time: 0.5 s plus what the bytes sent earn (a little more than 0.5 s).
        self.assertGreaterEqual(took, 0.5 + sent / 20000.0 - 0.1)
        resp = raw.read_response()
        self.assertEqual(resp.status, 408)
        self.assertEqual(resp.get("Connection"), "close")
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_trickled_chunked_body_is_cut(self):
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        took, _ = self._trickle(raw, b"32\r\n" + b"y" * 50 + b"\r\n", 0.05, HANG_GUARD)
        self.assertLess(took, HANG_GUARD, "a chunked body trickled under the rate was never cut")
        self.assertEqual(raw.read_response().status, 408)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_slow_body_above_rate_completes(self):
        # 4000 bytes every 0.1 s (40000 bytes/s, twice the rate) for 3 s, six times the grace:
        # an upload that keeps to the rate is never cut, however long it takes.
        pieces, piece = 30, b"z" * 4000
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % (pieces * len(piece)))
        for _ in range(pieces):
            time.sleep(0.1)
            raw.send(piece)
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["bytes"], pieces * len(piece))
        raw.close()

    def test_paused_delegate_is_not_cut(self):
        # The application holds the body for 1.5 s after its first piece (flow control): no byte
        # is read meanwhile, and that time is not the client's. Counted against it, the body
        # would be behind from 0.55 s on (0.5 s + 1000 bytes / 20000), well before the resume.
        size = 200000
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?pause_ms=1500 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % size + b"p" * 1000)
        time.sleep(0.2)  # the first piece is small: the hold begins with 1000 bytes read
        raw.send(b"p" * (size - 1000))
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        j = json.loads(resp.body)
        self.assertEqual((j["bytes"], j["pauses"], j["resumes"]), (size, 1, 1))
        raw.close()

    def test_request_can_lift_the_rate(self):
        # eddy_request_set_body_min_rate(req, 0, 0) from the headers callback: this body may
        # trickle (it still has the inactivity timeout).
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?min_rate=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n")
        for _ in range(20):  # 20 bytes in 1 s: far under the server's rate, past its grace
            time.sleep(0.05)
            raw.send(b"q")
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["bad_rc"], 0)
        raw.close()

    def test_rate_lifted_mid_body(self):
        # eddy_request_set_body_min_rate(req, 0, 0) from the data callback, at the first piece
        # (a delegate that decided after it, e.g. once it knew who sends): the rest may trickle.
        # Before, the call was refused (EDDY_ESTATE) once body bytes had come, and the body cut.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?rate_after=0,0 HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n"
                 b"\r\n" + b"q" * 20)
        for _ in range(20):  # 20 bytes in 1 s: far under the server's rate, past its grace
            time.sleep(0.05)
            raw.send(b"q")
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        j = json.loads(resp.body)
        self.assertEqual((j["bytes"], j["bad_rc"]), (40, 0))
        self.assertEqual(j["late_rc"], ESTATE)  # once the body is complete: refused, as before
        raw.close()

    def test_rate_set_mid_body_starts_its_clock_there(self):
        # No rate for the first piece (lifted in the headers callback), then 20000 bytes/s
        # after 0.5 s set at the first piece: a trickle after it is cut, not before the new
        # grace has passed since the call (the clock starts at the call; the 1000 bytes before
        # it earn nothing). Before, the call was refused and the trickle went on.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?min_rate=0&rate_after=20000,0.5 HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100000000\r\n\r\n" + b"r" * 1000)
        took, sent = self._trickle(raw, b"r" * 50, 0.05, HANG_GUARD)
        self.assertLess(took, HANG_GUARD, "a rate set mid-body was never applied")
        self.assertGreaterEqual(took, 0.5 + sent / 20000.0 - 0.1)
        resp = raw.read_response()
        self.assertEqual(resp.status, 408)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_each_request_has_its_own_clock(self):
        # Keep-alive and pipelining: a body's rate clock starts with its own head. A second
        # body sent 1 s (twice the grace) after the first request, at twice the rate, is not
        # behind because of the time before it; nor are requests pipelined after a body.
        raw = self.raw(timeout=HANG_GUARD)
        body = b"b" * 100
        post = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        raw.send(post + body + get_req("/auto_length") + post + body)
        self.assertEqual(json.loads(raw.read_response().body)["bytes"], len(body))
        self.assertEqual(raw.read_response().body, b"hello world")
        self.assertEqual(json.loads(raw.read_response().body)["bytes"], len(body))
        time.sleep(1.0)
        raw.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n")
        for _ in range(10):
            time.sleep(0.1)
            raw.send(b"c" * 4000)
        resp = raw.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["bytes"], 40000)
        raw.send(get_req("/auto_length"))
        self.assertEqual(raw.read_response().body, b"hello world")
        raw.close()


class ExpectHeldBodyTest(ServerTestCase):
    # Expect: 100-continue (RFC 9110 §10.1.1) while the application holds the body from the
    # headers callback (eddy_request_pause_body there; a web handler's asynchronous prepare):
    # the 100 asks the client for a body the server is about to read, so it goes out when the
    # application lets the body be read, and not at all when it answers first (a server MAY
    # omit it when it has decided on a final status). Tornado writes its 100 once prepare()
    # is done. Before, the 100 went out right after the headers callback.

    def head(self, query):
        return (b"PUT /upload?%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n" % query)

    def test_continue_waits_for_the_hold(self):
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(self.head(b"hold_ms=1000"))
        t0 = time.monotonic()
        readable, _, _ = select.select([raw.sock], [], [], 0.7)
        self.assertEqual(readable, [], "bytes arrived while the application held the body")
        self.assertEqual(raw.read_until(b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        raw.send(b"hello")
        self.assert_held_upload_answered(raw, 5)
        raw.send(get_req("/auto_length"))  # the connection goes on
        self.assertEqual(raw.read_response().body, b"hello world")
        raw.close()

    def test_final_answer_during_the_hold_omits_continue(self):
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(self.head(b"hold_ms=300&answer=403"))
        resp = raw.read_response()  # a 100 first would be read here
        self.assertEqual((resp.status, resp.body), (403, b"refused"))
        self.assertEqual(resp.get("Connection"), "close")
        # The body was never asked for: the connection ends instead of reading it (bytes the
        # client sends now are not taken for a next request).
        try:
            raw.send(b"GET /auto_length HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_final_answer_during_the_hold_with_the_body_sent(self):
        # The client did not wait for the 100 and sent its body: the answer is still read whole
        # and the connection closes (the body is not parsed as a request).
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(self.head(b"hold_ms=300&answer=403") + b"GET /")
        resp = raw.read_response()  # a 100 first would be read here
        self.assertEqual((resp.status, resp.body), (403, b"refused"))
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_no_continue_after_the_final_head(self):
        # The headers callback flushed the answer's head: a 100 after it would be an interim
        # response after the final one (RFC 9110 §15.2). The client has its answer and sends.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(self.head(b"flush_head=1"))
        head = raw.read_until(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        raw.send(b"hello")
        chunks = b""
        while b"0\r\n\r\n" not in chunks:
            readable, _, _ = select.select([raw.sock], [], [], HANG_GUARD)
            self.assertTrue(readable, "the answer never ended")
            d = raw.sock.recv(65536)
            self.assertTrue(d, "closed before the answer ended: %r" % chunks)
            chunks += d
        chunks = raw.buf + chunks
        self.assertNotIn(b"100 Continue", chunks)
        self.assertIn(b'"bytes":5', chunks)
        raw.close()


class HeldBodyClientGoneTest(ServerTestCase):
    # A client that leaves while the application holds its body (eddy_request_pause_body; a
    # web handler's asynchronous prepare), part of the body read and waiting in the server: the
    # application hears of it at once through its close callback, so that it can stop the work
    # it holds the body for. Before, the server watched nothing while bytes of the body waited,
    # and the close was seen only when the hold ended. The holds here are 30 s, longer than any
    # wait of these tests (HANG_GUARD): a close reported only once the hold ended never arrives
    # in time, and upload_hold_ends (the server's count of holds that ended) says it did not.

    HOLD = b"hold_ms=30000"

    def send_held(self, head, body):
        """Sends `head` + `body` on a new connection and returns it once the server holds the
        request (its headers callback ran, which begins the hold): counts before, and the raw."""
        before = self.stats()
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(head + body)
        st = self.wait_stats(lambda st: st["headers_cb"] > before["headers_cb"])
        self.assertGreater(st["headers_cb"], before["headers_cb"], "the request never came")
        return before, raw

    def assert_told_before_the_hold_ended(self, before):
        st = self.wait_stats(lambda st: st["upload_close_cb"] > before["upload_close_cb"])
        self.assertGreater(st["upload_close_cb"], before["upload_close_cb"],
                           "the application was not told the client left (within %d s of a "
                           "30 s hold)" % HANG_GUARD)
        self.assertEqual(st["upload_hold_ends"], before["upload_hold_ends"],
                         "the close was told only after the hold ended")

    def cl_head(self, length):
        return (b"POST /upload?%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % (self.HOLD, length))

    def chunked_head(self):
        return (b"POST /upload?%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                % self.HOLD)

    def test_fin_with_part_of_the_body_read(self):
        # The client half-closes (FIN) with 1000 of its 100000 bytes sent: the rest can never
        # come, so the request can never complete: the client has left.
        before, raw = self.send_held(self.cl_head(100000), b"x" * 1000)
        raw.sock.shutdown(socket.SHUT_WR)
        self.assert_told_before_the_hold_ended(before)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_close_with_part_of_the_body_read(self):
        before, raw = self.send_held(self.cl_head(100000), b"x" * 1000)
        raw.close()
        self.assert_told_before_the_hold_ended(before)

    def test_reset_with_part_of_the_body_read(self):
        before, raw = self.send_held(self.cl_head(100000), b"x" * 1000)
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()  # linger 0: a reset
        self.assert_told_before_the_hold_ended(before)

    def test_fin_with_part_of_a_chunked_body_read(self):
        # Two chunks whole, the third cut in its data: the body's end cannot come any more.
        body = b"3e8\r\n" + b"x" * 1000 + b"\r\n"
        before, raw = self.send_held(self.chunked_head(), body * 2 + b"3e8\r\n" + b"x" * 10)
        raw.sock.shutdown(socket.SHUT_WR)
        self.assert_told_before_the_hold_ended(before)
        raw.close()

    def test_fin_after_a_whole_body_is_a_half_close(self):
        # The request sent whole, then a half-close (`nc -N`): it can complete, and its answer
        # reaches the client, which still reads. Held 0.5 s from the headers callback, the FIN
        # coming during the hold: not taken for a client that left. 100000 bytes: part of them
        # wait in the kernel when the FIN comes (the server read one buffer), which the server
        # counts too, not only what it read.
        size = 100000
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?hold_ms=500 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % size + b"y" * size)
        raw.sock.shutdown(socket.SHUT_WR)
        self.assert_held_upload_answered(raw, size)
        raw.close()

    def test_fin_after_a_whole_chunked_body_is_a_half_close(self):
        raw = self.raw(timeout=HANG_GUARD)
        chunk = b"3e8\r\n" + b"z" * 1000 + b"\r\n"
        raw.send(b"POST /upload?hold_ms=500 HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")
        raw.sock.shutdown(socket.SHUT_WR)
        self.assert_held_upload_answered(raw, 3000)
        raw.close()

    def test_fin_after_the_body_with_a_hold_after_its_first_piece(self):
        # Held after its first piece (flow control, pause_ms), the rest sent and a half-close:
        # the answer still comes, with every byte.
        size = 50000
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?pause_ms=500 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                 % size + b"p" * 1000)
        time.sleep(0.1)  # the first piece is small: the hold begins with 1000 bytes read
        raw.send(b"p" * (size - 1000))
        raw.sock.shutdown(socket.SHUT_WR)
        self.assert_held_upload_answered(raw, size)
        raw.close()


class MidBodyLimitsTest(ServerTestCase):
    # No minimum rate and the default 60 s body timeout: the body's timer waits for 60 s, so
    # a limit the application sets mid-body must move it to apply.
    SERVER_ARGS = ("--body-min-rate", "0,0")

    def test_body_timeout_shortened_mid_body(self):
        # eddy_request_set_body_timeout(req, 0.3) at the first piece, the server's being 60 s:
        # it applies at once. Before, the body's timer stayed queued for the 60 s deadline
        # (past HANG_GUARD).
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?timeout_after=0.3 HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100\r\n\r\n0123456789")
        try:
            resp = raw.read_response()
        except socket.timeout:
            self.fail("the body timeout set mid-body did not apply")
        self.assertEqual(resp.status, 408)
        self.assertTrue(raw.closed_within(HANG_GUARD))
        raw.close()

    def test_rate_set_mid_body_applies(self):
        # A rate where the server has none, set at the first piece: a trickle is cut by it.
        raw = self.raw(timeout=HANG_GUARD)
        raw.send(b"POST /upload?rate_after=20000,0.5 HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100000000\r\n\r\n" + b"r" * 1000)
        took, _ = BodyMinRateTest._trickle(self, raw, b"r" * 50, 0.05, HANG_GUARD)
        self.assertLess(took, HANG_GUARD, "a rate set mid-body was never applied")
        self.assertGreaterEqual(took, 0.5 - 0.1)
        self.assertEqual(raw.read_response().status, 408)
        raw.close()


class SteadyActivityTest(ServerTestCase):
    # Activity that renews the waits: each pause is well under the timeout (a loaded machine
    # can run this client or the server late by a good part of a second), and all of them
    # together well over it, so only renewal can keep the connection.
    SERVER_ARGS = ("--idle-timeout", "1", "--header-timeout", "5", "--body-timeout", "1")

    def test_activity_within_idle_timeout_keeps_connection(self):
        raw = self.raw()
        for _ in range(5):
            raw.send(get_req("/auto_length"))
            self.assertEqual(raw.read_response().body, b"hello world")
            time.sleep(0.35)
        raw.send(get_req("/auto_length"))
        self.assertEqual(raw.read_response().body, b"hello world")
        raw.close()

    def test_slow_but_steady_body_is_fine(self):
        raw = self.raw()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        for i in range(10):
            time.sleep(0.25)
            raw.send(b"%d" % i)
        resp = raw.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.body)["body"], "0123456789")
        raw.close()

    def test_slow_reader_of_long_answer_is_not_idle(self):
        # 16 MiB read in 64 KiB pieces, 8 ms apart: over 2 s, twice the idle timeout. An answer
        # the client keeps taking is not an idle connection; it is sent whole, then the idle
        # wait begins. (The server must count what the client took, not what it wrote: with a
        # send buffer of MiBs the socket can stay unwritable for a long while as the client
        # reads, and a loaded machine that runs the server late must not cut it either.)
        size = 16 << 20
        raw = small_window_raw(self.port)
        got = read_slowly(raw, "/big?kb=%d" % (size >> 10), size)
        self.assertEqual(got, size, "answer cut before its end")
        self.assertTrue(raw.closed_within(HANG_GUARD), "idle timeout after the answer")
        raw.close()

    def test_slow_reader_of_streamed_answer_is_not_cut(self):
        # The same pace as above on an answer the application streams with backpressure
        # (/bigflow): still being sent, it is watched for a peer that takes nothing, and a
        # peer that keeps taking it gets it whole.
        size = 16 << 20
        raw = small_window_raw(self.port)
        got = read_slowly(raw, "/bigflow?kb=%d" % (size >> 10), size)
        self.assertEqual(got, size, "streamed answer cut before its end")
        raw.close()


# ---- max_connections ------------------------------------------------------------------------------

class MaxConnectionsTest(ServerTestCase):
    SERVER_ARGS = ("--max-connections", "5")

    def test_oldest_idle_connection_makes_room(self):
        # Five idle keep-alive connections fill the limit: a sixth client is served, and the
        # oldest idle connection is closed for it (clients holding idle connections cannot
        # lock everyone out).
        raws = []
        for i in range(5):
            raw = self.raw()
            raw.send(get_req("/auto_length"))
            self.assertEqual(raw.read_response().body, b"hello world")
            raws.append(raw)
        sixth = self.raw()
        sixth.send(get_req("/auto_length"))
        self.assertEqual(sixth.read_response().body, b"hello world")
        self.assertEqual(raws[0].read_to_eof(), b"", "the oldest idle connection closed")
        for raw in raws[1:]:  # the other four still work
            raw.send(get_req("/cl_exact"))
            self.assertEqual(raw.read_response().body, b"hello")
        for raw in raws + [sixth]:
            raw.close()

    def test_sixth_connection_closed_when_none_is_idle(self):
        # Five connections each in the middle of a request head: none can be reclaimed, so a
        # sixth is closed at once; the five are answered when their heads complete.
        raws = []
        for i in range(5):
            raw = self.raw()
            raw.send(b"GET /auto_length HTTP/1.1\r\n")
            raws.append(raw)
        # A connection whose bytes the server has not read yet is idle to it, and would make
        # room for the sixth: wait until the kernel holds none of them for the server.
        wait_server_read(self.port, [r.sock.getsockname()[1] for r in raws])
        sixth = self.raw()
        try:
            sixth.send(get_req("/auto_length"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            data = sixth.read_to_eof()
        except OSError:
            pass
        self.assertEqual(data, b"", "6th connection was served")
        sixth.close()
        for raw in raws:
            raw.send(b"Host: x\r\n\r\n")
            self.assertEqual(raw.read_response().body, b"hello world")
            raw.close()


# ---- graceful shutdown ----------------------------------------------------------------------------

class ShutdownTest(unittest.TestCase):
    def test_graceful_shutdown(self):
        server = ServerProcess()
        port = server.port
        try:
            # In flight: a request the server holds until this test sends SIGUSR1, so it is
            # still in flight at every step below, however slow the machine.
            inflight = Raw(socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD))
            inflight.send(get_req("/held?id=inflight"))
            # Idle: kept alive after its answers; they tell when the held request is held.
            idle = Raw(socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD))
            deadline = time.monotonic() + HANG_GUARD
            while True:
                idle.send(get_req("/stats"))
                held = json.loads(idle.read_response().body)["held"]
                if held or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual(held, 1, "the in-flight request never reached its handler")
            trigger = Raw(socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD))
            trigger.send(get_req("/shutdown"))
            resp = trigger.read_response()
            self.assertEqual(json.loads(resp.body), {"rc": 0, "again": ESTATE})
            self.assertEqual(resp.get("Connection"), "close")
            self.assertTrue(trigger.closed_within(HANG_GUARD))
            self.assertTrue(idle.closed_within(HANG_GUARD),
                            "idle connection not closed at shutdown")
            # new connections are refused
            with self.assertRaises(OSError):
                s = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD)
                try:
                    s.sendall(get_req("/auto_length"))
                    if s.recv(100) == b"":
                        raise ConnectionRefusedError("closed")
                finally:
                    s.close()
            self.assertIsNone(server.proc.poll(), "exited before the in-flight request finished")
            # the in-flight request completes, then its connection closes
            server.proc.send_signal(signal.SIGUSR1)
            resp = inflight.read_response()
            self.assertEqual(resp.body, b"held id=inflight")
            self.assertEqual(resp.get("Connection"), "close")
            self.assertTrue(inflight.closed_within(HANG_GUARD))
            for r in (inflight, idle, trigger):
                r.close()
            code = server.proc.wait(timeout=HANG_GUARD)
            rest = server.read_stdout_rest(HANG_GUARD)
            self.assertIn("shutdown done\n", server.stdout_lines + rest)
            self.assertEqual(code, 0)
        finally:
            code, err = server.stop()
        self.assertFalse([m for m in SANITIZER_MARKERS if m in err], err)

    def test_shutdown_lets_an_answer_still_leaving_finish(self):
        # A finished answer whose bytes are still being sent is in flight: shutdown sends it
        # whole before closing the connection.
        server = ServerProcess()
        try:
            size = 32 << 20
            big = small_window_raw(server.port)
            big.send(get_req("/big?kb=%d" % (size >> 10)))
            big.read_until(b"\r\n\r\n")
            trigger = Raw(socket.create_connection(("127.0.0.1", server.port), timeout=10))
            trigger.send(get_req("/shutdown"))
            self.assertEqual(trigger.read_response().status, 200)
            body = big.read_to_eof()
            self.assertEqual(len(body), size)
            for r in (big, trigger):
                r.close()
            self.assertEqual(server.proc.wait(timeout=10), 0)
        finally:
            code, err = server.stop()
        self.assertFalse([m for m in SANITIZER_MARKERS if m in err], err)


# ---- freeing the server with connections open ----------------------------------------------

class FreeWithOpenConnectionsTest(unittest.TestCase):
    """eddy_server_free() then eddy_loop_free() with connections still open (SIGTERM while
    clients are connected) must release everything: the server must exit 0 with no sanitizer
    report (under ASan: no leaked Connection)."""

    def test_free_with_idle_and_partial_connections(self):
        server = ServerProcess()
        raws = []
        try:
            for i in range(3):  # idle kept-alive connections
                raw = Raw(socket.create_connection(("127.0.0.1", server.port), timeout=10))
                raw.send(get_req("/auto_length"))
                self.assertEqual(raw.read_response().body, b"hello world")
                raws.append(raw)
            raw = Raw(socket.create_connection(("127.0.0.1", server.port), timeout=10))
            raw.send(b"GET /auto_length HTTP/1.1\r\nHost: x\r\n")  # head not complete
            raws.append(raw)
            # The server holds all four (the partial head read) when SIGTERM comes.
            wait_server_read(server.port, [r.sock.getsockname()[1] for r in raws])
        finally:
            code, err = server.stop()
            for raw in raws:
                raw.close()
        self.assertEqual(code, 0, err)
        self.assertFalse([m for m in SANITIZER_MARKERS if m in err], err)


# ---- unix socket and IPv6 ---------------------------------------------------------------------

class UnixSocketTest(unittest.TestCase):
    def test_curl_unix_socket(self):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        d = tempfile.mkdtemp(prefix="eddy-unix-")
        path = os.path.join(d, "s.sock")
        server = ServerProcess(unix_path=path)
        try:
            self.assertIn("listening on unix:%s\n" % path, server.stdout_lines)
            out = subprocess.run(["curl", "-s", "-S", "--max-time", "10", "--unix-socket", path,
                                  "-H", "X-Real-IP: 9.9.9.9",
                                  "http://localhost/echo?a=unix"],
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            j = json.loads(out.stdout)
            self.assertEqual(j["args_query"], [["a", "unix"]])
            self.assertEqual(j["host"], "localhost")
            self.assertEqual(j["remote_port"], 0)
            out = subprocess.run(["curl", "-s", "-S", "-i", "--max-time", "10", "--unix-socket",
                                  path, "http://localhost/cookies"],
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(b"Set-Cookie: b=2", out.stdout)
        finally:
            code, err = server.stop()
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(code, 0, err)
        self.assertFalse([m for m in SANITIZER_MARKERS if m in err], err)


    def test_trusted_unix_proxy(self):
        # A proxy in front on a Unix socket has no address to name: "unix:" trusts such peers
        # (nginx's set_real_ip_from unix:); a TCP address alone does not.
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        d = tempfile.mkdtemp(prefix="eddy-unix-")
        path = os.path.join(d, "s.sock")
        try:
            for trusted, expected in ((["10.9.9.9", "unix:"], ("9.9.9.9", "https")),
                                      (["10.9.9.9"], ("", "http"))):
                args = ["--xheaders"]
                for t in trusted:
                    args += ["--trusted-proxy", t]
                server = ServerProcess(*args, unix_path=path)
                try:
                    out = subprocess.run(
                        ["curl", "-s", "-S", "--max-time", "10", "--unix-socket", path,
                         "-H", "X-Real-IP: 9.9.9.9", "-H", "X-Forwarded-Proto: https",
                         "http://localhost/echo"], capture_output=True, timeout=30)
                    self.assertEqual(out.returncode, 0, out.stderr)
                    j = json.loads(out.stdout)
                    self.assertEqual((j["remote_ip"], j["scheme"]), expected, trusted)
                finally:
                    code, err = server.stop()
                self.assertEqual(code, 0, err)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class IPv6Test(unittest.TestCase):
    def test_ipv6_loopback(self):
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        server = ServerProcess(host="::1")
        try:
            c = http.client.HTTPConnection("::1", server.port, timeout=10)
            c.request("GET", "/echo?v=6")
            r = c.getresponse()
            j = json.loads(r.read())
            c.close()
            self.assertEqual(j["remote_ip"], "::1")
            self.assertEqual(j["host"], "[::1]:%d" % server.port)
        finally:
            code, err = server.stop()
        self.assertEqual(code, 0, err)


class CommandLineTest(unittest.TestCase):
    """Numeric options: anything but a whole number in range is refused with exit status 2.
    atoi / atof / atol took "abc" as 0 (port 0: a random one; timeout 0: none) and "-1" as a
    size of SIZE_MAX (no limit)."""

    def test_malformed_numbers_refused(self):
        assert_refused(self, "http_api_server", [SERVER], "--port", BAD_PORTS)
        for option in ("--idle-timeout", "--header-timeout", "--body-timeout"):
            assert_refused(self, "http_api_server", [SERVER, "--port", "0"], option,
                           BAD_SECONDS)
        for option in ("--max-connections", "--max-body-size", "--max-body-memory"):
            assert_refused(self, "http_api_server", [SERVER, "--port", "0"], option, BAD_SIZES)

    def test_trailing_option_without_value_refused(self):
        # It said "bad option --port", as for an option it did not know.
        assert_needs_value(self, "http_api_server", [SERVER, "--port", "0"],
                           ("--port", "--host", "--unix", "--access-log", "--idle-timeout",
                            "--header-timeout", "--body-timeout", "--body-min-rate",
                            "--max-connections", "--max-body-size", "--max-body-memory",
                            "--trusted-proxy", "--protocol"))

    def test_unknown_option_refused(self):
        # Given last, an unknown option says it wants a value (exit 2 all the same): every
        # option that is no flag takes one, and this server looks at the value first. A test
        # server, it has no --help.
        assert_unknown_refused(self, "http_api_server", [SERVER, "--port", "0"], ("--prot",),
                               trailing=False, help_option=False)


def main():
    global SERVER
    argv = list(sys.argv)
    if "--server" in argv:
        i = argv.index("--server")
        SERVER = argv[i + 1]
        del argv[i:i + 2]
    SERVER = SERVER or os.environ.get("EDDY_HTTP_API_SERVER")
    if not SERVER or not os.path.exists(SERVER):
        sys.stderr.write("usage: test_http_api.py --server PATH [unittest args]\n")
        sys.exit(2)
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
