#!/usr/bin/env python3
"""End-to-end tests of the web layer (include/eddy/web.h) over real sockets.

Drives web_test_app (web_test_app.c), started with different options per test class:

    test_web.py --server PATH/TO/web_test_app [unittest options]

Covers routing, the RequestHandler life cycle, the response API, cookies and signed cookies,
XSRF, ETag/304, gzip and static files. Standard library only (http.client, socket, gzip, json).
"""
import email.utils
import gzip
import hashlib
import http.client
import json
import os
import re
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_log import read_log  # noqa: E402
from raw_conn import RawConnection  # noqa: E402

SERVER = None  # path of web_test_app, from --server

# Seconds a test waits for something the server must do (a close, a counter, a log event)
# before it calls the server hung: a passing run goes on as soon as it happened, however slow
# the machine.
HANG_GUARD = 20

EINVAL, ECLOSED, ENOENT, ETOOBIG, ESTATE = -1, -4, -5, -11, -13

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

STATIC = {}  # filled by setUpModule: paths and contents of the static tree
SECRET = b"TOP-SECRET-CONTENT-outside-the-static-root\n"
HELLO_MTIME = 1600000000  # Sun, 13 Sep 2020 12:26:40 GMT


# ---- the server process ------------------------------------------------------------------------

class ServerProcess:
    """One web_test_app instance on a free 127.0.0.1 port."""

    def __init__(self, *args):
        self.stderr_file = tempfile.TemporaryFile()
        cmd = [SERVER, "--port", "0", "--host", "127.0.0.1"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr_file)
        self.port = None
        self.lines = lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            lines.append(line)
            m = re.match(r"listening on (.*):(\d+)$", line.strip())
            if m:
                self.port = int(m.group(2))
                break
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not start: %r %s" % (lines, self.stderr()))

    def stderr(self):
        return read_log(self.stderr_file).decode("utf-8", "replace")

    def stop(self):
        """Stops with SIGTERM; returns (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "hung (killed)", self.stderr()
        self.proc.stdout.close()
        err = self.stderr_text = self.stderr()
        self.stderr_file.close()
        return code, err


# ---- a raw HTTP/1.1 client over a socket ---------------------------------------------------------

class Response:
    def __init__(self, version, status, reason, headers, head_raw):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.head_raw = headers, head_raw
        self.body, self.chunks, self.complete = b"", None, True

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def get_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Raw(RawConnection):
    def __init__(self, port, timeout=10):
        super().__init__(socket.create_connection(("127.0.0.1", port), timeout=timeout))

    def read_to_eof(self):
        while True:
            try:
                d = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            self.buf += d
        out, self.buf = self.buf, b""
        return out

    def closed_within(self, timeout):
        """True when the peer closes (EOF or reset) within `timeout` (data before EOF is kept)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
            return False
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(10)

    def read_response(self, method="GET"):
        """Reads one response. A chunked body cut short by a close gives complete=False."""
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"(HTTP/1\.[01]) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        resp = Response(m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1"),
                        headers, head)
        te, cl = resp.get("Transfer-Encoding"), resp.get("Content-Length")
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        if te is not None:
            assert te.lower() == "chunked", te
            chunks = []
            try:
                while True:
                    size_line = self.read_until(b"\r\n")
                    size = int(size_line[:-2].split(b";")[0], 16)
                    if size == 0:
                        assert self.read_until(b"\r\n") == b"\r\n"
                        break
                    chunks.append(self.read_exact(size))
                    assert self.read_exact(2) == b"\r\n"
            except EOFError:
                resp.complete = False
                if self.buf:
                    chunks.append(self.buf)
                    self.buf = b""
            resp.chunks = chunks
            resp.body = b"".join(chunks)
        elif cl is not None:
            resp.body = self.read_exact(int(cl))
        else:
            resp.body = self.read_to_eof()
        return resp


def req_bytes(method, path, headers=None, body=b"", host="127.0.0.1"):
    """`headers`: a dict, or a list of (name, value) pairs (a name may repeat)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    pairs = headers.items() if isinstance(headers, dict) else (headers or [])
    for k, v in pairs:
        lines.append("%s: %s" % (k, v))
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---- test case base ----------------------------------------------------------------------------

class WebTestCase(unittest.TestCase):
    SERVER_ARGS = ()
    WITH_STATIC = True

    @classmethod
    def setUpClass(cls):
        args = list(cls.SERVER_ARGS)
        if cls.WITH_STATIC:
            args += ["--static", STATIC["root"]]
        cls.server = ServerProcess(*args)
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        code, err = cls.server.stop()
        findings = [m for m in SANITIZER_MARKERS if m in err]
        if findings or code != 0:
            raise AssertionError("server exit %r; stderr:\n%s" % (code, err[-12000:]))

    # ---- helpers ----

    def request(self, method, url, body=None, headers=None, host=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            hdrs = dict(headers or {})
            if host is not None:
                hdrs["Host"] = host
            c.request(method, url, body=body, headers=hdrs)
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()

    def get_json(self, url, method="GET", body=None, headers=None, status=200):
        r, data = self.request(method, url, body, headers)
        self.assertEqual(r.status, status, data)
        return json.loads(data.decode("latin-1"))

    def raw(self, timeout=10):
        return Raw(self.port, timeout)

    def raw_exchange(self, data, method="GET"):
        """Sends the bytes `data` on a new connection and reads one response."""
        raw = self.raw()
        try:
            raw.send(data)
            return raw.read_response(method)
        finally:
            raw.close()

    def raw_request(self, method, path, headers=None, body=b"", host="127.0.0.1"):
        return self.raw_exchange(req_bytes(method, path, headers, body, host), method)

    def stats(self):
        return self.get_json("/stats")

    def wait_stats(self, pred, timeout=HANG_GUARD):
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if pred(st) or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    def log(self, rid, wait_for=None, timeout=HANG_GUARD):
        """The life-cycle events recorded for request id `rid` (waiting for `wait_for`)."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.get_json("/log?id=" + urllib.parse.quote(rid))
            if wait_for is None or any(e.startswith(wait_for) for e in events) or \
                    time.monotonic() > deadline:
                return events
            time.sleep(0.02)

    def assert_allow(self, value, expected):
        self.assertIsNotNone(value, "405 without an Allow header")
        got = {m.strip() for m in value.split(",") if m.strip()}
        self.assertEqual(got, set(expected), value)


def parse_set_cookie(value):
    """'n=v; A=b; Flag' → (name, value, {attr-lower: value-or-True})."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name, val, attrs


def cookies_by_name(resp_headers):
    out = {}
    for v in resp_headers:
        name, val, attrs = parse_set_cookie(v)
        out[name] = (val, attrs)
    return out


def default_page(code, reason):
    text = "%d: %s" % (code, reason)
    return ("<html><title>%s</title><body>%s</body></html>" % (text, text)).encode()


# ---- routing -----------------------------------------------------------------------------------

class RoutingTest(WebTestCase):
    def test_setup_return_codes(self):
        st = self.stats()
        self.assertEqual(st["rc_static"], 0)
        self.assertEqual(st["rc_static_missing"], ENOENT)
        self.assertEqual(st["rc_static_badprefix"], EINVAL)
        self.assertEqual(st["rc_bad_pattern_null"], 1)
        self.assertEqual(st["rc_default_foreign"], EINVAL)
        self.assertEqual(st["rc_bad_method"], EINVAL)
        self.assertEqual(st["rc_reverse_unknown"], ENOENT)
        self.assertEqual(st["rc_empty_secret"], EINVAL)
        self.assertEqual(st["rc_route_name"], 0)

    def test_literal_route(self):
        r, data = self.request("GET", "/hello")
        self.assertEqual((r.status, data), (200, b"hello"))
        r, data = self.request("GET", "/hello?x=1&y=2")
        self.assertEqual((r.status, data), (200, b"hello"))

    def test_positional_captures(self):
        j = self.get_json("/user/42/post/abc")
        self.assertEqual(j["count"], 3)
        self.assertEqual(j["args"], ["42", "abc", ""])  # unmatched optional group: ""
        self.assertIsNone(j["beyond"])
        self.assertIsNone(j["kw_first"])
        j = self.get_json("/user/7/post/xyz/edit")
        self.assertEqual(j["args"], ["7", "xyz", "/edit"])
        r, _ = self.request("GET", "/user/x/post/abc")
        self.assertEqual(r.status, 404)

    def test_named_captures(self):
        j = self.get_json("/named/x%20y/z%C3%A9")
        self.assertEqual(j["kw_first"], "x y")
        self.assertEqual(j["kw_second"].encode("latin-1").decode("utf-8"), "z\u00e9")
        self.assertIsNone(j["kw_nope"])
        self.assertEqual(j["count"], 2)
        self.assertEqual(j["args"][0], "x y")

    def test_percent_decoded_captures(self):
        j = self.get_json("/decode/a%20b%2Fc+d%3F%25")
        self.assertEqual(j["args"], ["a b/c+d?%"])  # '+' stays '+' in paths
        j = self.get_json("/decode/%C3%A9t%C3%A9")
        self.assertEqual(j["args"][0].encode("latin-1").decode("utf-8"), "\u00e9t\u00e9")
        j = self.get_json("/decode/")
        self.assertEqual(j["args"], [""])

    def test_invalid_utf8_capture_is_400(self):
        for path in ("/decode/%FF", "/decode/abc%C3", "/decode/%C0%AF", "/named/%ED%A0%80/x"):
            r, data = self.request("GET", path)
            self.assertEqual(r.status, 400, path)
            self.assertEqual(data, default_page(400, "Bad Request"), path)

    def test_anchoring(self):
        self.assertEqual(self.request("GET", "/a")[1], b"a")
        for path in ("/ab", "/a/", "/aa", "/xa", "/r/12x", "/q/r/12", "/r/", "/hello/", "/hellox"):
            r, _ = self.request("GET", path)
            self.assertEqual(r.status, 404, path)
        r, data = self.request("GET", "/r/12")
        self.assertEqual((r.status, data), (200, b"r"))

    def test_route_order(self):
        self.assertEqual(self.request("GET", "/order/special")[1], b"special")
        self.assertEqual(self.request("GET", "/order/other")[1], b"generic:other")
        self.assertEqual(self.request("GET", "/order/special2")[1], b"generic:special2")

    def test_404_default_page(self):
        r, data = self.request("GET", "/no/such/page")
        self.assertEqual(r.status, 404)
        self.assertEqual(data, default_page(404, "Not Found"))
        self.assertTrue(r.getheader("Content-Type", "").startswith("text/html"))
        # a POST to nowhere is a 404 too, not a 405
        r, data = self.request("POST", "/no/such/page", body=b"x=1")
        self.assertEqual(r.status, 404)

    def test_host_routes(self):
        cases = [
            ("api.example.com", "/host", 200, b"api"),
            ("API.Example.COM:8080", "/host", 200, b"api"),
            ("foo.wild.test", "/host", 200, b"wild"),
            ("localhost", "/host", 200, b"default"),
            ("127.0.0.1:1234", "/host", 200, b"default"),
            ("evilapi.example.com", "/host", 200, b"default"),  # host patterns are anchored
            ("api.example.com.evil", "/host", 200, b"default"),
            ("api.example.com", "/apionly", 200, b"apionly"),
            ("localhost", "/apionly", 404, None),
            # a host table without the path falls back to the default table
            ("api.example.com", "/hello", 200, b"hello"),
        ]
        for host, path, status, body in cases:
            resp = self.raw_request("GET", path, host=host)
            self.assertEqual(resp.status, status, (host, path))
            if body is not None:
                self.assertEqual(resp.body, body, (host, path))

    def test_reverse_url(self):
        original = "a b?c#d%e&f\u00e9"
        q = urllib.parse.urlencode([("name", "rev"), ("a", original), ("a", "12")])
        j = self.get_json("/reverse?" + q)
        self.assertEqual(j["rc"], 0, j)
        url = j["url"]
        self.assertEqual(j["len"], len(url))
        self.assertTrue(url.startswith("/rev/"), url)
        self.assertTrue(url.endswith("/item/12"), url)
        for c in " ?#\u00e9":
            self.assertNotIn(c, url)
        # the reversed URL routes back to the same arguments
        j2 = self.get_json(url)
        self.assertEqual(j2["args"][0].encode("latin-1").decode("utf-8"), original)
        self.assertEqual(j2["args"][1], "12")

    def test_reverse_url_errors(self):
        j = self.get_json("/reverse?name=rev&a=onlyone")
        self.assertEqual(j["rc"], EINVAL)
        j = self.get_json("/reverse?name=nope&a=x&a=1")
        self.assertEqual(j["rc"], ENOENT)
        j = self.get_json("/reverse?name=rev&a=xyz&a=1&size=5")
        self.assertEqual(j["rc"], ETOOBIG)
        self.assertEqual(j["len"], len("/rev/xyz/item/1"))
        j = self.get_json("/reverse?name=rev&a=xyz&a=1&size=%d" % (len("/rev/xyz/item/1") + 1))
        self.assertEqual((j["rc"], j["url"]), (0, "/rev/xyz/item/1"))
        j = self.get_json("/reverse?name=lit")
        self.assertEqual((j["rc"], j["url"]), (0, "/lit/reverse"))


class DefaultRouteTest(WebTestCase):
    SERVER_ARGS = ("--default-route",)
    WITH_STATIC = False

    def test_default_route(self):
        self.assertEqual(self.stats()["rc_default_route"], 0)
        r, data = self.request("GET", "/anything/at/all?x=1")
        self.assertEqual(r.status, 404)  # the default route's own choice
        self.assertEqual(data, b"default route: /anything/at/all args=0")
        # matching routes still win
        self.assertEqual(self.request("GET", "/hello")[1], b"hello")
        # and its method table applies: POST is not registered there
        r, _ = self.request("POST", "/anything", body=b"")
        self.assertEqual(r.status, 405)


# ---- life cycle and methods --------------------------------------------------------------------

class LifeCycleTest(WebTestCase):
    WITH_STATIC = False

    def test_order_prepare_method_on_finish(self):
        r, data = self.request("GET", "/life?id=L1")
        self.assertEqual((r.status, data), (200, b"life"))
        self.assertEqual(r.getheader("X-Default"), "yes")
        events = self.log("L1", wait_for="on_finish")
        self.assertEqual(events, ["prepare", "get", "on_finish finished=1"])

    def test_prepare_that_finishes_skips_method(self):
        r, data = self.request("GET", "/life?id=L2&finish_in_prepare=1")
        self.assertEqual((r.status, data), (200, b"finished in prepare"))
        events = self.log("L2", wait_for="prepare_finish_rc")
        self.assertNotIn("get", events)
        self.assertEqual(events[0], "prepare")
        self.assertIn("on_finish finished=1", events)
        self.assertIn("prepare_finish_rc=0", events)

    def test_default_headers_on_error_page(self):
        r, data = self.request("GET", "/life?id=L3&error=503")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.getheader("X-Default"), "yes")
        self.assertEqual(data, default_page(503, "Service Unavailable"))
        events = self.log("L3", wait_for="on_finish")
        self.assertEqual(events, ["prepare", "get", "on_finish finished=1"])

    def test_head_falls_back_to_get(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/hello")
            g = c.getresponse()
            gbody = g.read()
            c.request("HEAD", "/hello")
            h = c.getresponse()
            hbody = h.read()
            # the same connection still works: no stray body bytes were sent after HEAD
            c.request("GET", "/hello")
            g2 = c.getresponse()
            self.assertEqual(g2.read(), b"hello")
        finally:
            c.close()
        self.assertEqual(h.status, 200)
        self.assertEqual(hbody, b"")
        self.assertEqual(h.getheader("Content-Length"), str(len(gbody)))
        self.assertEqual(h.getheader("Etag"), g.getheader("Etag"))
        self.assertIsNone(h.getheader("Transfer-Encoding"))
        # the GET callback is what runs
        r, data = self.request("HEAD", "/life?id=L4")
        self.assertEqual((r.status, data), (200, b""))
        self.assertEqual(r.getheader("Content-Length"), "4")
        self.assertIn("get", self.log("L4", wait_for="on_finish"))

    def test_unsupported_method_405_with_allow(self):
        r, data = self.request("DELETE", "/hello")
        self.assertEqual(r.status, 405)
        self.assert_allow(r.getheader("Allow"), ["GET", "HEAD", "POST"])
        r, data = self.request("PUT", "/life?id=L5", body=b"x")
        self.assertEqual(r.status, 405)
        self.assert_allow(r.getheader("Allow"), ["GET", "HEAD", "POST"])
        self.assertEqual(r.getheader("X-Default"), "yes")  # set_default_headers on error pages
        # prepare never ran (on_finish does: the 405 is finished like any response)
        events = self.log("L5", wait_for="on_finish")
        self.assertNotIn("prepare", events)
        self.assertNotIn("get", events)

    def test_custom_methods(self):
        resp = self.raw_request("PROPFIND", "/dav")
        self.assertEqual((resp.status, resp.body), (207, b"propfind reached"))
        # a custom method nobody registered: 501 from the server
        resp = self.raw_request("BREW", "/dav")
        self.assertEqual(resp.status, 501)
        # registered on some route but not on this one: 405
        resp = self.raw_request("PROPFIND", "/hello")
        self.assertEqual(resp.status, 405)
        self.assert_allow(resp.get("Allow"), ["GET", "HEAD", "POST"])
        resp = self.raw_request("GET", "/dav")
        self.assertEqual(resp.status, 405)
        self.assert_allow(resp.get("Allow"), ["PROPFIND"])

    def test_detached_delayed_response(self):
        t0 = time.monotonic()
        r, data = self.request("GET", "/delayed?ms=300&id=D1")
        elapsed = time.monotonic() - t0
        self.assertEqual((r.status, data), (200, b"delayed response"))
        self.assertGreaterEqual(elapsed, 0.25)
        st = self.stats()
        self.assertEqual(st["delayed_detach_rc"], 0)
        self.assertEqual(st["delayed_finish_rc"], 0)
        self.assertEqual(self.log("D1"), ["get", "fire"])

    def test_longpoll_client_disconnect(self):
        before = self.stats()
        raw = self.raw()
        raw.send(req_bytes("GET", "/longpoll"))
        st = self.wait_stats(lambda s: s["lp_started"] > before["lp_started"])
        self.assertEqual(st["lp_started"], before["lp_started"] + 1)
        self.assertEqual(st["lp_detach_rc"], 0)
        self.assertEqual(st["lp_close_cb"], before["lp_close_cb"])  # still open
        raw.close()
        st = self.wait_stats(lambda s: s["lp_done"] > before["lp_done"])
        self.assertEqual(st["lp_close_cb"], before["lp_close_cb"] + 1)
        self.assertEqual(st["lp_done"], before["lp_done"] + 1)
        self.assertEqual(st["lp_finished_in_close"], 0)
        self.assertEqual(st["lp_write_rc"], ECLOSED)
        self.assertEqual(st["lp_set_header_rc"], ECLOSED)
        self.assertEqual(st["lp_flush_rc"], ECLOSED)
        self.assertEqual(st["lp_finish_rc"], ECLOSED)

    def test_longpoll_client_disconnect_with_pipelined_request(self):
        """A request pipelined behind the long poll waits unread in the connection; the client's
        close must still end the long poll at once (on_connection_close), and the request
        behind it is not run. The close used to go unnoticed while input waited: the long poll
        was only told once it ended by itself (this one: never)."""
        before = self.stats()
        raw = self.raw()
        raw.send(req_bytes("GET", "/longpoll") + req_bytes("GET", "/life?id=LPP"))
        st = self.wait_stats(lambda s: s["lp_started"] > before["lp_started"])
        self.assertEqual(st["lp_close_cb"], before["lp_close_cb"])  # still open
        raw.close()
        st = self.wait_stats(lambda s: s["lp_done"] > before["lp_done"])
        self.assertEqual(st["lp_close_cb"], before["lp_close_cb"] + 1)
        self.assertEqual(st["lp_finished_in_close"], 0)
        self.assertEqual(st["lp_write_rc"], ECLOSED)
        self.assertEqual(st["lp_finish_rc"], ECLOSED)
        self.assertEqual(self.log("LPP"), [])

    def test_state_errors_after_finish(self):
        r, data = self.request("GET", "/twice")
        self.assertEqual((r.status, data), (200, b"once"))
        self.assertIsNone(r.getheader("X-After"))
        st = self.wait_stats(lambda s: s["twice_count"] > 0)
        self.assertEqual(st["twice_finish1"], 0)
        self.assertEqual(st["twice_finished"], 1)
        for key in ("twice_finish2", "twice_write", "twice_set_header", "twice_set_status",
                    "twice_flush", "twice_send_error", "twice_redirect", "twice_detach",
                    "twice_set_cookie"):
            self.assertEqual(st[key], ESTATE, key)

    def test_set_header_after_flush(self):
        resp = self.raw_request("GET", "/flushhdr")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get("Transfer-Encoding"), "chunked")
        self.assertIsNone(resp.get("X-Late"))
        self.assertEqual(resp.get_all("Set-Cookie"), [])
        self.assertTrue(resp.complete)
        self.assertTrue(resp.body.startswith(b"first;"), resp.body)
        j = json.loads(resp.body[len(b"first;"):])
        self.assertEqual(j, {"flush": 0, "set_header": ESTATE, "set_status": ESTATE,
                             "set_cookie": ESTATE})
        # no automatic ETag on a flushed response
        self.assertIsNone(resp.get("Etag"))
        # and the dropped header is named in the log
        self.assertIn("header X-Late set after the response head went out", self.server.stderr())


class AsyncPrepareTest(WebTestCase):
    """A prepare that detaches suspends the request until eddy_handler_resume (Tornado awaits a
    coroutine prepare before the method). It used to run the method at once."""
    WITH_STATIC = False

    def test_method_runs_only_after_resume(self):
        t0 = time.monotonic()
        r, data = self.request("GET", "/asyncprep?id=AP1&ms=200")
        self.assertEqual((r.status, data), (200, b"after prepare"))
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)
        events = self.log("AP1", wait_for="resume_rc")
        self.assertEqual(events, [
            "prepare resume_rc=%d" % ESTATE,  # not detached yet
            "fire",
            "get resume_rc=%d" % ESTATE,  # resumed already
            "on_finish finished=1",
            "finished resume_rc=%d" % ESTATE,
            "resume_rc=0",
        ])

    def test_refused_after_the_wait(self):
        r, data = self.request("GET", "/asyncprep?id=AP2&then=error")
        self.assertEqual(r.status, 403)
        events = self.log("AP2", wait_for="on_finish")
        self.assertNotIn("get resume_rc=%d" % ESTATE, events)
        self.assertEqual(events, ["prepare resume_rc=%d" % ESTATE, "fire", "send_error",
                                  "on_finish finished=1"])

    def test_resume_with_null(self):
        self.assertEqual(self.log("null"), ["resume EINVAL"])

    def test_client_leaves_while_prepare_is_pending(self):
        raw = self.raw()
        raw.send(req_bytes("GET", "/asyncprep?id=AP3&ms=400"))
        self.assertEqual(self.log("AP3", wait_for="prepare"), ["prepare resume_rc=%d" % ESTATE])
        raw.close()
        events = self.log("AP3", wait_for="resume_rc")
        # The method never runs; resume says why and finishes the handler (on_finish runs;
        # ASan's leak check at server exit sees a handler left behind).
        self.assertEqual(events, ["prepare resume_rc=%d" % ESTATE, "on_connection_close", "fire",
                                  "on_finish finished=1", "resume_rc=%d" % ECLOSED])

    def test_client_leaves_while_prepare_is_pending_with_pipelined_request(self):
        # As above with a second request pipelined behind: it waits unread in the connection,
        # and the close used to be seen only after the prepare resumed and the method ran.
        raw = self.raw()
        raw.send(req_bytes("GET", "/asyncprep?id=AP4&ms=400") + req_bytes("GET", "/life?id=AP4b"))
        self.assertEqual(self.log("AP4", wait_for="prepare"), ["prepare resume_rc=%d" % ESTATE])
        raw.close()
        events = self.log("AP4", wait_for="resume_rc")
        self.assertEqual(events, ["prepare resume_rc=%d" % ESTATE, "on_connection_close", "fire",
                                  "on_finish finished=1", "resume_rc=%d" % ECLOSED])
        self.assertEqual(self.log("AP4b"), [])  # the pipelined request never ran

    def test_streamed_body_held_until_resume(self):
        body = os.urandom(100000)
        r, data = self.request("POST", "/upload?id=UA1&async_ms=150", body=body)
        self.assertEqual(r.status, 200, data)
        j = json.loads(data)
        self.assertEqual(j["order"], "prepare,resume,data,method")
        self.assertEqual(j["bytes"], len(body))
        # an empty body: the method waits for the resume too
        j = self.get_json("/upload?async_ms=100", "POST", b"")
        self.assertEqual((j["order"], j["bytes"]), ("prepare,resume,method", 0))

    def test_half_closed_upload_held_until_resume_is_answered(self):
        # The whole body, then the client's FIN (`nc -N`, a shutdown(SHUT_WR)), while prepare
        # holds the body: the body is the client's and is read whole after the resume, and the
        # answer goes out before the end of the input is seen: a FIN behind a whole body is a
        # half-close, not a client that left (see the next test).
        body = os.urandom(100000)
        raw = self.raw()
        raw.send(req_bytes("POST", "/upload?async_ms=300", body=body))
        raw.sock.shutdown(socket.SHUT_WR)
        r = raw.read_response("POST")
        raw.close()
        self.assertEqual(r.status, 200, r.body)
        j = json.loads(r.body)
        self.assertEqual((j["order"], j["bytes"]), ("prepare,resume,data,method", len(body)))


    def test_client_leaving_while_prepare_holds_the_body_is_told(self):
        # Part of the body read and held by an asynchronous prepare (30 s, longer than any wait
        # here), then the client closes: on_connection_close runs at once, so that prepare's
        # work can stop (the test app then cancels its resume and finishes). Before, nothing
        # watched the socket while body bytes waited in the server: the close was seen only
        # at the resume, which the log would show first.
        for rid, close in (("UG1", "fin"), ("UG2", "reset")):
            raw = self.raw()
            raw.send(req_bytes("POST", "/upload?id=%s&async_ms=30000" % rid,
                               headers={"Content-Length": "100000"}) + b"x" * 1000)
            self.assertEqual(self.log(rid, wait_for="prepare"), ["prepare"])
            if close == "reset":
                raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
            self.assertEqual(self.log(rid, wait_for="on_connection_close"),
                             ["prepare", "on_connection_close"], close)


class ResponseTest(WebTestCase):
    WITH_STATIC = False

    def test_send_error_with_write_error_hook(self):
        r, data = self.request("GET", "/err?code=418&id=E1")
        self.assertEqual(r.status, 418)
        self.assertEqual(data, b"custom error 418")
        self.assertEqual(r.getheader("X-Error-Hook"), "1")
        self.assertEqual(r.getheader("X-Default"), "yes")
        self.assertIsNone(r.getheader("X-Before-Error"))  # send_error clears the response
        self.assertEqual(r.getheader("Content-Length"), str(len(data)))
        self.assertEqual(self.log("E1", wait_for="send_error"), ["send_error=0"])

    def test_send_error_default_page(self):
        for code, reason in ((404, "Not Found"), (500, "Internal Server Error"),
                             (403, "Forbidden"), (418, "I'm a Teapot")):
            r, data = self.request("GET", "/err_plain?code=%d" % code)
            self.assertEqual(r.status, code)
            self.assertEqual(r.getheader("X-Default"), "yes")
            self.assertIsNone(r.getheader("X-Before-Error"))
            self.assertNotIn(b"discarded", data)
            if code != 418:  # the reason phrase spelling of 418 varies
                self.assertEqual(data, default_page(code, reason))
            else:
                self.assertTrue(data.startswith(b"<html><title>418: "), data)

    def test_send_error_bad_status_becomes_500(self):
        # 42 is no status; a 1xx is an interim answer and can never be the final one.
        for code in (42, 100, 103, 199):
            r, data = self.request("GET", "/err_plain?code=%d" % code)
            self.assertEqual(r.status, 500, code)
            self.assertEqual(data, default_page(500, "Internal Server Error"))

    def test_send_error_205_has_no_content(self):
        # RFC 9110 15.3.6: no default page in a 205, and the length says so.
        r, data = self.request("GET", "/err_plain?code=205")
        self.assertEqual((r.status, r.getheader("Content-Length"), data), (205, "0", b""))
        r, data = self.request("GET", "/err_plain?code=404")  # the connection is still in step
        self.assertEqual(r.status, 404)

    def test_redirects(self):
        for status in (301, 302, 303, 307, 308):
            r, data = self.request("GET", "/redirect?status=%d&url=/target%%3Fa%%3D1" % status)
            self.assertEqual(r.status, status)
            self.assertEqual(r.getheader("Location"), "/target?a=1")
        r, _ = self.request("GET", "/redirect?status=0&url=http://example.com/x")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.getheader("Location"), "http://example.com/x")

    def test_redirect_invalid(self):
        for status in (200, 300, 304, 305, 400):
            r, data = self.request("GET", "/redirect?status=%d&url=/x" % status)
            self.assertEqual(r.status, 200, status)
            self.assertEqual(json.loads(data), {"rc": EINVAL}, status)
            self.assertIsNone(r.getheader("Location"))
        resp = self.raw_request("GET", "/redirect?status=302&url=/x%0D%0ASet-Cookie:%20evil=1")
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.body), {"rc": EINVAL})
        self.assertEqual(resp.get_all("Set-Cookie"), [])
        self.assertIsNone(resp.get("Location"))

    def test_require_argument(self):
        r, data = self.request("GET", "/require?id=R1")
        self.assertEqual(r.status, 400)
        self.assertEqual(data, default_page(400, "Bad Request"))
        self.assertEqual(self.log("R1"), ["require_missing"])
        r, data = self.request("GET", "/require?name=bob")
        self.assertEqual((r.status, data), (200, b"name=bob"))
        r, data = self.request("POST", "/require", body=b"name=alice",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((r.status, data), (200, b"name=alice"))
        r, data = self.request("GET", "/require?name=")  # blank values count as present
        self.assertEqual((r.status, data), (200, b"name="))

    def test_get_argument_sources(self):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        j = self.get_json("/args?a=q%20v")
        self.assertEqual(j, {"query": "q v", "body": None, "all": "q v"})
        j = self.get_json("/args?a=q", "POST", b"a=b", form)
        self.assertEqual(j, {"query": "q", "body": "b", "all": "q"})
        j = self.get_json("/args", "POST", b"a=b+c", form)
        self.assertEqual(j, {"query": None, "body": "b c", "all": "b c"})
        j = self.get_json("/args?x=1", "POST", b"y=2", form)
        self.assertEqual(j, {"query": None, "body": None, "all": None})


class SendErrorAfterFlushTest(WebTestCase):
    """Its own server instance: an abort path, kept apart from the other response tests."""
    WITH_STATIC = False

    def test_send_error_after_flush_closes(self):
        before = self.stats()["eaf_count"]
        raw = self.raw()
        try:
            raw.send(req_bytes("GET", "/err_after_flush"))
            # The connection is closed instead of an error page: either before anything
            # arrived, or after the flushed part; never with a complete response.
            try:
                resp = raw.read_response()
            except EOFError:
                resp = None
            if resp is not None:
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.get("Transfer-Encoding"), "chunked")
                self.assertFalse(resp.complete, "the chunked body must not be terminated")
                self.assertEqual(resp.body, b"partial")
                self.assertTrue(raw.closed_within(HANG_GUARD))
        finally:
            raw.close()
        st = self.wait_stats(lambda s: s["eaf_count"] > before)
        self.assertEqual(st["eaf_send_error_rc"], ESTATE)


# ---- cookies -----------------------------------------------------------------------------------

class CookieTest(WebTestCase):
    WITH_STATIC = False

    def test_get_cookie(self):
        j = self.get_json("/cookie/get?name=foo", headers={"Cookie": "foo=bar; baz=qux"})
        self.assertEqual(j["value"], "bar")
        j = self.get_json("/cookie/get?name=baz", headers={"Cookie": "foo=bar; baz=qux"})
        self.assertEqual(j["value"], "qux")
        j = self.get_json("/cookie/get?name=nope", headers={"Cookie": "foo=bar"})
        self.assertIsNone(j["value"])
        j = self.get_json("/cookie/get?name=foo")
        self.assertIsNone(j["value"])

    def test_set_cookie_attributes(self):
        r, data = self.request("GET", "/cookie/set")
        rcs = json.loads(data)
        self.assertEqual(rcs, {"full": 0, "plain": 0, "lax": 0, "bad_name": EINVAL,
                               "bad_value": EINVAL, "bad_value2": EINVAL,
                               "bad_samesite": EINVAL})
        headers = r.msg.get_all("Set-Cookie")
        by_name = cookies_by_name(headers)
        self.assertEqual(set(by_name), {"full", "plain", "lax"}, headers)
        val, attrs = by_name["full"]
        self.assertEqual(val, "v1")
        self.assertEqual(attrs.get("domain"), "example.com")
        self.assertEqual(attrs.get("path"), "/p")
        self.assertEqual(attrs.get("expires"), email.utils.formatdate(1700000000, usegmt=True))
        self.assertEqual(attrs.get("max-age"), "3600")
        self.assertIs(attrs.get("secure"), True)
        self.assertIs(attrs.get("httponly"), True)
        self.assertEqual(attrs.get("samesite"), "Strict")
        val, attrs = by_name["plain"]
        self.assertEqual((val, attrs), ("v2", {"path": "/"}))
        val, attrs = by_name["lax"]
        self.assertEqual(val, "v3")
        self.assertEqual(attrs.get("samesite"), "Lax")
        self.assertEqual(attrs.get("max-age"), "0")

    def test_clear_cookie(self):
        r, data = self.request("GET", "/cookie/clear")
        self.assertEqual(json.loads(data), {"rc1": 0, "rc2": 0})
        by_name = cookies_by_name(r.msg.get_all("Set-Cookie"))
        now = time.time()
        for name, path, domain in (("gone", "/p", None), ("gone2", "/", "example.com")):
            val, attrs = by_name[name]
            self.assertEqual(val, "", name)
            self.assertEqual(attrs.get("path"), path, name)
            self.assertEqual(attrs.get("domain"), domain, name)
            self.assertEqual(attrs.get("max-age"), "0", name)
            exp = email.utils.parsedate_to_datetime(attrs["expires"]).timestamp()
            self.assertLess(exp, now - 86400, name)

    def test_signed_cookie_round_trip(self):
        r, data = self.request("GET", "/signed/set?v=hello%20world%3B%E2%9C%93")
        self.assertEqual(json.loads(data), {"rc": 0})
        by_name = cookies_by_name(r.msg.get_all("Set-Cookie"))
        value, attrs = by_name["sig"]
        self.assertTrue(value.startswith("2|1:0|"), value)
        exp = email.utils.parsedate_to_datetime(attrs["expires"]).timestamp()
        self.assertAlmostEqual(exp, time.time() + 30 * 86400, delta=120)
        j = self.get_json("/signed/get", headers={"Cookie": "sig=" + value})
        self.assertEqual(j["value"].encode("latin-1").decode("utf-8"), "hello world;\u2713")
        # tampering with the signature, the value or the name: NULL
        forged_sig = value[:-1] + ("0" if value[-1] != "0" else "1")
        j = self.get_json("/signed/get", headers={"Cookie": "sig=" + forged_sig})
        self.assertIsNone(j["value"])
        parts = value.split("|")
        b64 = parts[4].split(":", 1)[1]
        other = "aGVsbG8gd29ybGQ="  # "hello world"
        parts[4] = "%d:%s" % (len(other), other)
        forged_value = "|".join(parts)
        self.assertNotEqual(b64, other)
        j = self.get_json("/signed/get", headers={"Cookie": "sig=" + forged_value})
        self.assertIsNone(j["value"])
        j = self.get_json("/signed/get", headers={"Cookie": "sig=garbage"})
        self.assertIsNone(j["value"])
        j = self.get_json("/signed/get")
        self.assertIsNone(j["value"])


class NoSecretTest(WebTestCase):
    SERVER_ARGS = ("--no-secret",)
    WITH_STATIC = False

    def test_signed_cookie_without_secret(self):
        r, data = self.request("GET", "/signed/set?v=x")
        self.assertEqual(json.loads(data), {"rc": ESTATE})
        self.assertIsNone(r.getheader("Set-Cookie"))
        j = self.get_json("/signed/get", headers={"Cookie": "sig=2|1:0|10:1700000000|3:sig|4:eA==|"
                                                          + "0" * 64})
        self.assertIsNone(j["value"])


# ---- XSRF --------------------------------------------------------------------------------------

class ResponseIntegrityTest(WebTestCase):
    """What a handler writes or sets cannot corrupt the connection's response stream, and its
    hooks cannot take the server down (fixes of the 2026-11-29 web audit)."""
    WITH_STATIC = False

    def test_body_written_before_a_status_without_content_is_dropped(self):
        # RFC 9110 §15: 204, 205 and 304 carry no content. The bytes used to follow the head,
        # where the client read them as the start of the next response.
        for code in (204, 205, 304):
            raw = self.raw()
            try:
                raw.send(req_bytes("GET", "/nobody?code=%d" % code) + req_bytes("GET", "/hello"))
                first = raw.read_response()
                self.assertEqual(first.status, code)
                second = raw.read_response()
                self.assertEqual((second.status, second.body), (200, b"hello"), code)
            finally:
                raw.close()
        self.assertIn("has no content; dropping", self.server.stderr())

    def test_send_error_inside_write_error_does_not_recurse(self):
        # The hook's require_argument sends a 400 from inside the hook: that used to call the
        # hook again, without end, until the stack overflowed (SIGSEGV).
        r, data = self.request("GET", "/err_recursive")
        self.assertEqual(r.status, 400)
        self.assertNotIn(b"hook body", data)
        r, data = self.request("GET", "/hello")
        self.assertEqual(data, b"hello")
        self.assertIn("inside write_error", self.server.stderr())

    def test_412_does_not_keep_the_handlers_content_length(self):
        raw = self.raw()
        try:
            raw.send(req_bytes("GET", "/big?n=2000&type=text/plain&cl=1",
                               {"If-Match": '"nope"'}) + req_bytes("GET", "/hello"))
            first = raw.read_response()
            self.assertEqual(first.status, 412)
            self.assertEqual(first.get("Content-Length"), "0")
            second = raw.read_response()
            self.assertEqual((second.status, second.body), (200, b"hello"))
        finally:
            raw.close()

    def test_body_over_the_limit_after_the_answer_started_cuts_it_short(self):
        # prepare flushed "started"; the declared body is over the 100 MiB default limit. A 413
        # page used to be sent as part of the 200's chunked body, which then ended cleanly.
        raw = self.raw()
        try:
            raw.send(b"POST /upload?flush=1 HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 200000000\r\n\r\n")
            r = raw.read_response("POST")
            self.assertEqual(r.status, 200)
            self.assertFalse(r.complete)
            self.assertNotIn(b"413", r.body)
            self.assertEqual(r.body, b"started\n")
        finally:
            raw.close()

    def test_set_etag_takes_a_nul_terminated_string(self):
        r, data = self.request("GET", "/etag_nts")
        self.assertEqual(data, b"set_etag=0")
        self.assertEqual(r.getheader("Etag"), '"v1"')

    def test_setting_a_cookie_again_replaces_it(self):
        r, _ = self.request("GET", "/cookie/twice")
        self.assertEqual(sorted(r.msg.get_all("Set-Cookie")), ["a=2; Path=/", "b=x; Path=/"])

    def test_header_values_refuse_control_characters_but_tab(self):
        r, data = self.request("GET", "/ctl_header")
        self.assertEqual(json.loads(data), {"ctl": EINVAL, "del": EINVAL, "tab": 0})
        self.assertIsNone(r.getheader("X-Ctl"))
        self.assertEqual(r.getheader("X-Tab"), "a\tb")


class XsrfTest(WebTestCase):
    SERVER_ARGS = ("--xsrf",)
    WITH_STATIC = False
    FORM = {"Content-Type": "application/x-www-form-urlencoded"}

    def get_token(self, cookie=None):
        r, data = self.request("GET", "/xsrf", headers={"Cookie": cookie} if cookie else None)
        self.assertEqual(r.status, 200, data)
        j = json.loads(data)
        by_name = cookies_by_name(r.msg.get_all("Set-Cookie") or [])
        return j, by_name

    def test_get_needs_no_token_and_sets_cookie(self):
        j, by_name = self.get_token()
        self.assertIn("_xsrf", by_name)
        cookie, attrs = by_name["_xsrf"]
        self.assertTrue(cookie)
        self.assertEqual(attrs.get("path"), "/")
        self.assertTrue(j["token"])
        self.assertEqual(j["same_again"], 1)
        # with a valid cookie, no new cookie is set and the token still matches it
        j2, by_name2 = self.get_token("_xsrf=" + cookie)
        self.assertNotIn("_xsrf", by_name2)
        r, data = self.request("POST", "/xsrf?id=X0", body=urllib.parse.urlencode(
            {"_xsrf": j2["token"]}), headers=dict(self.FORM, Cookie="_xsrf=" + cookie))
        self.assertEqual((r.status, data), (200, b"posted"))

    def test_empty_token_sources_fall_through_to_the_next(self):
        # Tornado: `get_argument("_xsrf") or X-Xsrftoken or X-Csrftoken`: empty ones are skipped.
        j, by_name = self.get_token()
        cookie, token = by_name["_xsrf"][0], j["token"]
        r, _ = self.request("POST", "/xsrf?id=XE", body=b"_xsrf=",
                            headers=dict(self.FORM, Cookie="_xsrf=" + cookie,
                                         **{"X-Xsrftoken": token}))
        self.assertEqual(r.status, 200)
        r, _ = self.request("POST", "/xsrf?id=XE2", body=b"",
                            headers={"Cookie": "_xsrf=" + cookie, "X-Xsrftoken": "",
                                     "X-Csrftoken": token})
        self.assertEqual(r.status, 200)

    def test_post_without_token_is_403_before_prepare(self):
        r, data = self.request("POST", "/xsrf?id=X1", body=b"a=1", headers=self.FORM)
        self.assertEqual(r.status, 403)
        j, by_name = self.get_token()
        cookie = by_name["_xsrf"][0]
        # a cookie but no token
        r, data = self.request("POST", "/xsrf?id=X1", body=b"a=1",
                               headers=dict(self.FORM, Cookie="_xsrf=" + cookie))
        self.assertEqual(r.status, 403)
        # a token but no cookie
        r, data = self.request("POST", "/xsrf?id=X1",
                               body=urllib.parse.urlencode({"_xsrf": j["token"]}),
                               headers=self.FORM)
        self.assertEqual(r.status, 403)
        # DELETE and custom methods need one too
        r, data = self.request("DELETE", "/xsrf?id=X1")
        self.assertEqual(r.status, 403)
        resp = self.raw_request("PROPFIND", "/dav")
        self.assertEqual(resp.status, 403)
        time.sleep(0.1)
        self.assertEqual(self.log("X1"), [])  # prepare never ran

    def test_form_field_token(self):
        j, by_name = self.get_token()
        cookie = by_name["_xsrf"][0]
        r, data = self.request("POST", "/xsrf?id=X2",
                               body=urllib.parse.urlencode({"_xsrf": j["token"], "a": "1"}),
                               headers=dict(self.FORM, Cookie="_xsrf=" + cookie))
        self.assertEqual((r.status, data), (200, b"posted"))
        self.assertEqual(self.log("X2"), ["prepare", "method"])
        # the token in the query string counts as an argument as well
        r, data = self.request("POST", "/xsrf?_xsrf=" + urllib.parse.quote(j["token"], safe=""),
                               body=b"", headers={"Cookie": "_xsrf=" + cookie})
        self.assertEqual((r.status, data), (200, b"posted"))

    def test_header_token(self):
        j, by_name = self.get_token()
        cookie = by_name["_xsrf"][0]
        for header in ("X-Xsrftoken", "X-Csrftoken"):
            r, data = self.request("POST", "/xsrf?id=X3", body=b"",
                                   headers={header: j["token"], "Cookie": "_xsrf=" + cookie})
            self.assertEqual((r.status, data), (200, b"posted"), header)
        r, data = self.request("PUT", "/xsrf", body=b"x",
                               headers={"X-Xsrftoken": j["token"], "Cookie": "_xsrf=" + cookie})
        self.assertEqual((r.status, data), (200, b"posted"))

    def test_mismatched_token(self):
        j1, c1 = self.get_token()
        j2, c2 = self.get_token()
        self.assertNotEqual(c1["_xsrf"][0], c2["_xsrf"][0])
        r, data = self.request("POST", "/xsrf?id=X4", body=b"",
                               headers={"X-Xsrftoken": j1["token"],
                                        "Cookie": "_xsrf=" + c2["_xsrf"][0]})
        self.assertEqual(r.status, 403)
        r, data = self.request("POST", "/xsrf?id=X4", body=b"",
                               headers={"X-Xsrftoken": "garbage",
                                        "Cookie": "_xsrf=" + c2["_xsrf"][0]})
        self.assertEqual(r.status, 403)
        time.sleep(0.1)
        self.assertEqual(self.log("X4"), [])

    def test_route_without_check(self):
        # eddy_route_set_xsrf_check(route, 0): no token needed there, still needed elsewhere
        r, data = self.request("POST", "/xsrf_exempt", body=b"a=1", headers=self.FORM)
        self.assertEqual((r.status, data), (200, b"exempt"))
        r, data = self.request("POST", "/xsrf", body=b"a=1", headers=self.FORM)
        self.assertEqual(r.status, 403)


# ---- ETag --------------------------------------------------------------------------------------

class ETagTest(WebTestCase):
    WITH_STATIC = False
    # eddy's automatic ETag is a 52-bit hash of the body (Tornado uses SHA-1; the value only
    # has to change with the body), so the tests learn it from a first response.
    ETAG = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conn = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
        try:
            conn.request("GET", "/hello")
            resp = conn.getresponse()
            resp.read()
            cls.ETAG = resp.getheader("Etag")
        finally:
            conn.close()

    def test_automatic_etag(self):
        self.assertRegex(self.ETAG or "", r'^"[0-9a-f]{13}"$')  # a strong validator
        r, data = self.request("GET", "/hello")
        self.assertEqual((data, r.getheader("Etag")), (b"hello", self.ETAG))  # stable

    def test_if_none_match(self):
        for inm in (self.ETAG, "W/" + self.ETAG, '"abc", %s, "def"' % self.ETAG, "*",
                    '"abc",W/%s' % self.ETAG):
            resp = self.raw_request("GET", "/hello", headers={"If-None-Match": inm})
            self.assertEqual(resp.status, 304, inm)
            self.assertEqual(resp.get("Etag"), self.ETAG, inm)
            self.assertIn(resp.get("Content-Length"), (None, "5"), inm)
            self.assertIsNone(resp.get("Transfer-Encoding"), inm)
        # nothing may follow the 304's head on the connection
        raw = self.raw()
        try:
            raw.send(req_bytes("GET", "/hello", {"If-None-Match": self.ETAG}) +
                     req_bytes("GET", "/hello"))
            first = raw.read_response()
            second = raw.read_response()
        finally:
            raw.close()
        self.assertEqual((first.status, first.body), (304, b""))
        self.assertEqual((second.status, second.body), (200, b"hello"))
        r, data = self.request("GET", "/hello", headers={"If-None-Match": '"abc"'})
        self.assertEqual((r.status, data), (200, b"hello"))
        r, data = self.request("HEAD", "/hello", headers={"If-None-Match": self.ETAG})
        self.assertEqual(r.status, 304)

    def test_etag_follows_every_byte(self):
        # Bodies of every length around the hash's word sizes (0-36 bytes), and bodies that
        # differ in one byte at each position: distinct bodies get distinct ETags, the same
        # body the same one. (/word/X answers with X.)
        seen = {}
        words = ["a" * n for n in range(0, 37)]
        for n in (1, 2, 3, 5, 7, 11, 12, 13, 17, 25):
            for pos in range(n):
                words.append("a" * pos + "b" + "a" * (n - pos - 1))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for word in words + words[:5]:
                conn.request("GET", "/word/" + word)
                resp = conn.getresponse()
                body = resp.read()
                etag = resp.getheader("Etag")
                self.assertEqual(body, word.encode())
                self.assertEqual(seen.setdefault(etag, body), body, (word, etag))
        finally:
            conn.close()
        self.assertEqual(len(seen), len(set(words)))

    def test_post_gets_no_etag(self):
        r, data = self.request("POST", "/hello", body=b"")
        self.assertEqual((r.status, data), (200, b"posted"))
        self.assertIsNone(r.getheader("Etag"))
        r, data = self.request("POST", "/hello", body=b"", headers={"If-None-Match": "*"})
        self.assertEqual((r.status, data), (200, b"posted"))

    def test_replaced_etag(self):
        # eddy_handler_set_etag: the given value instead of the hash, and 304 against it
        r, data = self.request("GET", "/etag_custom?v=%22v1%22")
        self.assertEqual((r.status, r.getheader("Etag")), (200, '"v1"'))
        self.assertEqual(json.loads(data), {"bad": -1})  # EDDY_EINVAL: CR/LF refused
        for inm in ('"v1"', 'W/"v1"', '"x", "v1"', "*"):
            r, data = self.request("GET", "/etag_custom?v=%22v1%22",
                                   headers={"If-None-Match": inm})
            self.assertEqual((r.status, data, r.getheader("Etag")), (304, b"", '"v1"'), inm)
            self.assertIsNone(r.getheader("Content-Type"))  # no representation headers
        r, data = self.request("GET", "/etag_custom?v=%22v2%22", headers={"If-None-Match": '"v1"'})
        self.assertEqual((r.status, r.getheader("Etag")), (200, '"v2"'))
        # If-Match against the handler's ETag too (RFC 9110 13.1.1: strong comparison)
        for im, status in (('"v1"', 200), ('"x", "v1"', 200), ("*", 200), ('"other"', 412),
                           ('W/"v1"', 412)):
            r, data = self.request("GET", "/etag_custom?v=%22v1%22", headers={"If-Match": im})
            self.assertEqual(r.status, status, im)
        # NULL: no ETag, and no 304 even for "*"
        r, data = self.request("GET", "/etag_custom?none=1", headers={"If-None-Match": "*"})
        self.assertEqual((r.status, r.getheader("Etag")), (200, None))

    def test_automatic_304_drops_representation_headers(self):
        r, data = self.request("GET", "/hello", headers={"If-None-Match": self.ETAG})
        self.assertEqual((r.status, r.getheader("Content-Type")), (304, None))

    def test_no_body_statuses_drop_representation_headers(self):
        r, data = self.request("GET", "/no_content")
        self.assertEqual((r.status, data, r.getheader("X-Kept")), (204, b"", "1"))
        self.assertIsNone(r.getheader("Content-Type"))
        self.assertIsNone(r.getheader("Content-Language"))

    def test_clear(self):
        # eddy_handler_clear: headers, status and body written so far are gone
        r, data = self.request("GET", "/clear")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.getheader("X-Before"))
        self.assertEqual(json.loads(data), {"clear": 0, "null": -1})  # NULL: EDDY_EINVAL
        r, data = self.request("GET", "/clear_after_flush")
        self.assertEqual(r.status, 200)
        self.assertTrue(data.startswith(b"flushed;"), data)
        self.assertEqual(json.loads(data[len(b"flushed;"):]), {"clear": -13})  # EDDY_ESTATE

    def test_non_200_gets_no_etag(self):
        r, data = self.request("GET", "/err_plain?code=404")
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.getheader("Etag"))


# ---- gzip --------------------------------------------------------------------------------------

def big_body(n):
    text = b"The quick brown fox jumps over the lazy dog. "
    return (text * (n // len(text) + 1))[:n]


class GzipTest(WebTestCase):
    SERVER_ARGS = ("--compress",)
    WITH_STATIC = False
    GZ = {"Accept-Encoding": "gzip"}

    def assert_vary(self, r):
        vary = r.getheader("Vary") or ""
        self.assertIn("accept-encoding", [v.strip().lower() for v in vary.split(",")], vary)

    def test_large_text_is_compressed(self):
        r, data = self.request("GET", "/big?n=5000", headers=self.GZ)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(r.getheader("Content-Length"), str(len(data)))
        self.assertLess(len(data), 5000)
        self.assertEqual(gzip.decompress(data), big_body(5000))
        self.assert_vary(r)
        r, data = self.request("GET", "/big?n=5000&type=application/json",
                               headers={"Accept-Encoding": "deflate, GZIP, br"})
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(data), big_body(5000))

    def test_declared_content_length_is_replaced(self):
        # The application's Content-Length counts the uncompressed bytes: the compressed
        # answer carries its own (Tornado's GZipContentEncoding does the same).
        r, data = self.request("GET", "/big?n=5000&cl=1", headers=self.GZ)
        self.assertEqual((r.status, r.getheader("Content-Encoding")), (200, "gzip"))
        self.assertEqual(r.getheader("Content-Length"), str(len(data)))
        self.assertEqual(gzip.decompress(data), big_body(5000))
        r, data = self.request("GET", "/big?n=5000&cl=1")
        self.assertEqual((r.getheader("Content-Length"), data), ("5000", big_body(5000)))

    def test_accept_encoding_with_qvalue(self):
        # RFC 9110 §12.5.3: codings may carry weights; "gzip;q=0.8" accepts gzip.
        r, data = self.request("GET", "/big?n=5000",
                               headers={"Accept-Encoding": "deflate, gzip;q=0.8, br;q=0.1"})
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(data), big_body(5000))

    def test_threshold(self):
        r, data = self.request("GET", "/big?n=500", headers=self.GZ)
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(data, big_body(500))
        self.assert_vary(r)
        r, data = self.request("GET", "/big?n=1023", headers=self.GZ)
        self.assertIsNone(r.getheader("Content-Encoding"))
        r, data = self.request("GET", "/big?n=1024", headers=self.GZ)
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(data), big_body(1024))

    def test_not_for_png(self):
        r, data = self.request("GET", "/big?n=5000&type=image/png", headers=self.GZ)
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(data, big_body(5000))

    def test_not_without_accept_encoding(self):
        r, data = self.request("GET", "/big?n=5000")
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(data, big_body(5000))
        self.assert_vary(r)
        r, data = self.request("GET", "/big?n=5000", headers={"Accept-Encoding": "deflate, br"})
        self.assertIsNone(r.getheader("Content-Encoding"))
        self.assertEqual(data, big_body(5000))

    def test_etag_and_304_with_gzip(self):
        r, data = self.request("GET", "/big?n=5000", headers=self.GZ)
        etag = r.getheader("Etag")
        self.assertIsNotNone(etag)
        r2, _ = self.request("GET", "/big?n=5000")
        self.assertNotEqual(r2.getheader("Etag"), etag)  # different representations
        r3, data3 = self.request("GET", "/big?n=5000", headers=dict(self.GZ,
                                                                     **{"If-None-Match": etag}))
        self.assertEqual((r3.status, data3), (304, b""))

    def test_own_strong_etag_is_weak_on_gzip_form(self):
        # RFC 9110 §8.8.1: a strong validator changes with the content coding. The handler's
        # strong ETag names the identity bytes, so the gzip form carries it weak (as nginx).
        for how in ("etag", "etag_header"):
            with self.subTest(how=how):
                path = "/big?n=5000&%s=%%22v1%%22" % how
                r, data = self.request("GET", path, headers=self.GZ)
                self.assertEqual(r.getheader("Content-Encoding"), "gzip")
                self.assertEqual(r.getheader("Etag"), 'W/"v1"')
                self.assertEqual(gzip.decompress(data), big_body(5000))
                r, data = self.request("GET", path)
                self.assertIsNone(r.getheader("Content-Encoding"))
                self.assertEqual(r.getheader("Etag"), '"v1"')
                h, _ = self.request("HEAD", path, headers=self.GZ)
                self.assertEqual(h.getheader("Etag"), 'W/"v1"')
                # An already weak one is left as it is.
                r, _ = self.request("GET", "/big?n=5000&%s=W/%%22v2%%22" % how, headers=self.GZ)
                self.assertEqual(r.getheader("Etag"), 'W/"v2"')
        # If-None-Match compares weakly: either form of the tag revalidates the gzip answer.
        for inm in ('"v1"', 'W/"v1"'):
            r, data = self.request("GET", '/big?n=5000&etag=%22v1%22',
                                   headers=dict(self.GZ, **{"If-None-Match": inm}))
            self.assertEqual((r.status, data), (304, b""), inm)
        # If-Match compares strongly: the strong tag does not name the gzip bytes.
        r, _ = self.request("GET", '/big?n=5000&etag=%22v1%22',
                            headers=dict(self.GZ, **{"If-Match": '"v1"'}))
        self.assertEqual(r.status, 412)
        r, _ = self.request("GET", '/big?n=5000&etag=%22v1%22', headers={"If-Match": '"v1"'})
        self.assertEqual(r.status, 200)

    def test_head_matches_get(self):
        r, data = self.request("GET", "/big?n=5000", headers=self.GZ)
        h, hdata = self.request("HEAD", "/big?n=5000", headers=self.GZ)
        self.assertEqual(hdata, b"")
        self.assertEqual(h.getheader("Content-Encoding"), "gzip")
        self.assertEqual(h.getheader("Content-Length"), r.getheader("Content-Length"))

    def test_streamed_response_has_vary(self):
        # Tornado adds Vary: Accept-Encoding to every response when compress_response is on.
        resp = self.raw_request("GET", "/stream?n=2&ms=10")
        self.assertEqual(resp.status, 200)
        vary = resp.get("Vary") or ""
        self.assertIn("accept-encoding", vary.lower(), resp.headers)

    def test_streamed_response_is_compressed(self):
        # web.h: "...and the body is at least 1024 bytes (or streamed)"; Tornado compresses
        # chunked responses too.
        resp = self.raw_request("GET", "/stream?n=3&ms=10", headers=self.GZ)
        self.assertEqual(resp.status, 200)
        expected = b"".join(b"chunk-%d: The quick brown fox.\n" % i for i in range(3))
        self.assertEqual(resp.get("Content-Encoding"), "gzip",
                         "streamed response not compressed; headers %r" % resp.headers)
        self.assertEqual(gzip.decompress(resp.body), expected)

    def test_head_of_a_streamed_response_says_gzip_as_get_does(self):
        # RFC 9110 §9.3.2: HEAD's header fields are GET's.
        get = self.raw_request("GET", "/stream?n=2&ms=10", headers=self.GZ)
        head = self.raw_request("HEAD", "/stream?n=2&ms=10", headers=self.GZ)
        self.assertEqual(get.get("Content-Encoding"), "gzip")
        self.assertEqual(head.get("Content-Encoding"), "gzip", head.headers)


# ---- streaming ---------------------------------------------------------------------------------

class GzipStaticTest(WebTestCase):
    SERVER_ARGS = ("--compress",)

    def test_304_of_a_precompressed_twin_says_vary_once(self):
        gz = {"Accept-Encoding": "gzip"}
        etag = self.raw_request("GET", "/static/app.js", gz).get("Etag")
        resp = self.raw_request("GET", "/static/app.js", dict(gz, **{"If-None-Match": etag}))
        self.assertEqual(resp.status, 304)
        varies = [v for n, v in resp.headers if n.lower() == "vary"]
        self.assertEqual(varies, ["Accept-Encoding"])

    def test_a_precompressed_twin_makes_the_plain_answer_vary_too(self):
        # RFC 9110 §12.5.5: a cache must not give this identity answer to a gzip client (or
        # the other way round) when the request had no Accept-Encoding at all.
        resp = self.raw_request("GET", "/static/app.js")
        self.assertEqual(resp.status, 200)
        self.assertIsNone(resp.get("Content-Encoding"))
        self.assertEqual(resp.get("Vary"), "Accept-Encoding")


class GzipStaticOnTheFlyTest(WebTestCase):
    """compress_response and a compressible static file without a .gz twin: gzipped as read."""
    SERVER_ARGS = ("--compress",)
    GZ = {"Accept-Encoding": "gzip"}

    def test_gzipped_as_it_is_read(self):
        resp = self.raw_request("GET", "/static/style.css", self.GZ)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get("Content-Encoding"), "gzip")
        self.assertEqual(resp.get("Transfer-Encoding"), "chunked")
        self.assertEqual(resp.get("Vary"), "Accept-Encoding")
        self.assertIsNone(resp.get("Accept-Ranges"))  # no Range on the gzip form
        self.assertTrue(resp.get("Etag").startswith('W/"'), resp.get("Etag"))
        self.assertTrue(resp.complete)
        self.assertEqual(gzip.decompress(resp.body), STATIC["css"])
        self.assertLess(len(resp.body), len(STATIC["css"]) // 3)

    def test_identity_for_a_client_without_gzip(self):
        resp = self.raw_request("GET", "/static/style.css")
        self.assertEqual(resp.status, 200)
        self.assertIsNone(resp.get("Content-Encoding"))
        self.assertEqual(resp.get("Content-Length"), str(len(STATIC["css"])))
        self.assertEqual(resp.get("Vary"), "Accept-Encoding")  # the answer varies with it
        self.assertEqual(resp.get("Accept-Ranges"), "bytes")
        self.assertEqual(resp.body, STATIC["css"])
        gz = self.raw_request("GET", "/static/style.css", self.GZ)
        self.assertNotEqual(gz.get("Etag").lstrip("W/"), resp.get("Etag"))

    def test_validators_range_and_head(self):
        etag = self.raw_request("GET", "/static/style.css", self.GZ).get("Etag")
        resp = self.raw_request("GET", "/static/style.css", dict(self.GZ, **{"If-None-Match": etag}))
        self.assertEqual((resp.status, resp.body), (304, b""))
        # Range is ignored on the gzip form (the offsets would name no stable bytes): 200.
        resp = self.raw_request("GET", "/static/style.css", dict(self.GZ, Range="bytes=0-9"))
        self.assertEqual(resp.status, 200)
        self.assertEqual(gzip.decompress(resp.body), STATIC["css"])
        # ... and honoured on the identity form.
        resp = self.raw_request("GET", "/static/style.css", {"Range": "bytes=0-9"})
        self.assertEqual((resp.status, resp.body), (206, STATIC["css"][:10]))
        head = self.raw_request("HEAD", "/static/style.css", self.GZ)
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(head.get("Content-Encoding"), "gzip")
        self.assertEqual(head.get("Etag"), etag)

    def test_small_and_binary_files_are_sent_as_they_are(self):
        for path, body in (("/static/hello.txt", STATIC["hello"]), ("/static/image.png", STATIC["png"])):
            with self.subTest(path=path):
                resp = self.raw_request("GET", path, self.GZ)
                self.assertIsNone(resp.get("Content-Encoding"))
                self.assertEqual(resp.body, body)

    def test_many_clients_at_once(self):
        # Each answer is read piece by piece as its client drains it; all complete and equal.
        conns = [Raw(self.port, timeout=15) for _ in range(8)]
        try:
            for c in conns:
                c.send(req_bytes("GET", "/static/style.css", dict(self.GZ, Connection="close")))
            for c in conns:
                resp = c.read_response()
                self.assertEqual(resp.get("Content-Encoding"), "gzip")
                self.assertTrue(resp.complete)
                self.assertEqual(gzip.decompress(resp.body), STATIC["css"])
        finally:
            for c in conns:
                c.close()


class StreamingTest(WebTestCase):
    WITH_STATIC = False

    def test_streamed_response(self):
        before = self.stats()
        resp = self.raw_request("GET", "/stream?n=4&ms=30")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get("Transfer-Encoding"), "chunked")
        self.assertIsNone(resp.get("Content-Length"))
        self.assertTrue(resp.complete)
        expected = b"".join(b"chunk-%d: The quick brown fox.\n" % i for i in range(4))
        self.assertEqual(resp.body, expected)
        self.assertGreaterEqual(len(resp.chunks), 4)
        st = self.wait_stats(lambda s: s["flush_ok"] >= before["flush_ok"] + 4)
        self.assertEqual(st["flush_ok"], before["flush_ok"] + 4)
        self.assertEqual(st["stream_done"], before["stream_done"] + 1)

    def test_streamed_response_http10(self):
        raw = self.raw()
        try:
            raw.send(b"GET /stream?n=2&ms=10 HTTP/1.0\r\n\r\n")
            data = raw.read_to_eof()
        finally:
            raw.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head)
        self.assertNotIn(b"chunked", head.lower())
        self.assertEqual(body, b"chunk-0: The quick brown fox.\nchunk-1: The quick brown fox.\n")

    def test_streaming_request_body(self):
        body = os.urandom(300000)
        r, data = self.request("POST", "/upload?id=U1", body=body,
                               headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, data)
        j = json.loads(data)
        self.assertEqual(j["order"], "prepare,data,method")
        self.assertEqual(j["bytes"], len(body))
        self.assertGreaterEqual(j["chunks"], 1)
        self.assertEqual(j["body_len"], 0)
        self.assertEqual(self.log("U1"), ["prepare"])

    def test_streaming_request_body_chunked(self):
        raw = self.raw()
        try:
            pieces = [b"a" * 1000, b"b" * 7, b"c" * 65536]
            head = (b"PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            raw.send(head)
            for p in pieces:
                raw.send(b"%x\r\n%s\r\n" % (len(p), p))
                time.sleep(0.02)
            raw.send(b"0\r\n\r\n")
            resp = raw.read_response()
        finally:
            raw.close()
        self.assertEqual(resp.status, 200, resp.body)
        j = json.loads(resp.body)
        self.assertEqual(j["order"], "prepare,data,method")
        self.assertEqual(j["bytes"], sum(len(p) for p in pieces))

    def test_streaming_handler_released_when_client_leaves_mid_body(self):
        # prepare ran, the method never will: the handler is released after
        # on_connection_close (it used to wait for a finish nobody would call).
        before = self.stats()
        raw = self.raw()
        raw.send(b"PUT /upload?id=UL HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        # The client leaves once prepare ran (with the head alone, the server may see the end
        # of the connection first and never start the handler).
        self.assertEqual(self.log("UL", wait_for="prepare"), ["prepare"])
        raw.close()
        st = self.wait_stats(lambda s: s["upload_released"] >= before["upload_released"] + 1)
        self.assertEqual(st["upload_close_cb"], before["upload_close_cb"] + 1)
        self.assertEqual(st["upload_released"], before["upload_released"] + 1)

    def test_bad_body_after_head_releases_handlers(self):
        # The server answers a bad chunked body itself (400) after the application took the
        # request at head time: a streaming handler hears on_connection_close and is released;
        # a handler for an ordinary route is released too (ASan's leak check at server exit
        # sees it otherwise). The connection closes; the server keeps serving.
        before = self.stats()
        for path in (b"/upload", b"/hello", b"/static/hello.txt"):
            resp = self.raw_exchange(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
            self.assertEqual(resp.status, 400, path)
        st = self.wait_stats(lambda s: s["upload_released"] >= before["upload_released"] + 1)
        self.assertEqual(st["upload_close_cb"], before["upload_close_cb"] + 1)
        self.assertEqual(st["upload_released"], before["upload_released"] + 1)
        # and an oversized body (413) for the streaming route
        resp = self.raw_exchange(
            b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        self.assertEqual(resp.status, 413)
        st = self.wait_stats(lambda s: s["upload_released"] >= before["upload_released"] + 2)
        self.assertEqual(st["upload_close_cb"], before["upload_close_cb"] + 2)
        self.assertEqual(st["upload_released"], before["upload_released"] + 2)

    def test_streaming_request_empty_body(self):
        j = self.get_json("/upload", "POST", b"")
        self.assertEqual(j["bytes"], 0)
        self.assertTrue(j["order"].startswith("prepare"), j)
        self.assertTrue(j["order"].endswith("method"), j)


# ---- static files ------------------------------------------------------------------------------

class SecondServerTest(WebTestCase):
    """eddy_app_add_server: one application on two servers, each with its own options (the
    second: Server "second", bodies up to 16 bytes), the same routes, methods and streaming."""
    SERVER_ARGS = ("--second",)
    WITH_STATIC = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for line in cls.server.lines:
            m = re.match(r"second on .*:(\d+)$", line.strip())
            if m:
                cls.second = int(m.group(1))
        assert cls.second != cls.port, cls.server.lines

    @classmethod
    def tearDownClass(cls):
        # A long poll still open when the app is freed: its on_connection_close runs while the
        # app closes its servers, and asks for one more server (web_test_app logs the answer).
        raw = Raw(cls.port)
        raw.send(req_bytes("GET", "/longpoll"))
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=15)
            c.request("GET", "/stats")
            started = json.loads(c.getresponse().read())["lp_started"]
            c.close()
            if started:
                break
            time.sleep(0.02)
        try:
            super().tearDownClass()  # also fails on a sanitizer report
        finally:
            raw.close()
        err = getattr(cls.server, "stderr_text", "")
        assert "while freed: eddy_app_add_server refused" in err, err[-2000:]

    def on_second(self, method, url, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.second, timeout=15)
        try:
            c.request(method, url, body=body, headers=headers or {})
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()

    def test_own_options_same_routes(self):
        r, data = self.on_second("GET", "/hello")
        self.assertEqual((r.status, data, r.getheader("Server")), (200, b"hello", "second"))
        r, data = self.request("GET", "/hello")
        self.assertEqual((r.status, data), (200, b"hello"))
        self.assertTrue(r.getheader("Server").startswith("eddy/"), r.getheader("Server"))
        r, data = self.on_second("POST", "/hello", body=b"x" * 17)
        self.assertEqual(r.status, 413, data)
        r, data = self.request("POST", "/hello", body=b"x" * 17)
        self.assertEqual((r.status, data), (200, b"posted"))
        j = json.loads(self.on_second("GET", "/user/7/post/abc")[1])
        self.assertEqual(j, json.loads(self.request("GET", "/user/7/post/abc")[1]))

    def test_methods_and_streaming_added_after_it(self):
        # The server was made before any route: the routes' own method (PROPFIND) and the
        # streamed request body of /upload reached it all the same.
        r, data = self.on_second("PROPFIND", "/dav")
        self.assertEqual((r.status, data), (207, b"propfind reached"))
        r, data = self.on_second("BREW", "/dav")
        self.assertEqual(r.status, 501, data)
        r, data = self.on_second("POST", "/upload?id=S1", body=b"0123456789",
                                 headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, data)
        j = json.loads(data)
        self.assertEqual((j["order"], j["bytes"], j["body_len"]), ("prepare,data,method", 10, 0))


class RemoveServerBase(WebTestCase):
    """web_test_app --second, for eddy_app_remove_server."""
    SERVER_ARGS = ("--second",)
    WITH_STATIC = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ports = [re.match(r"second on .*:(\d+)$", line.strip()) for line in cls.server.lines]
        cls.second = [int(m.group(1)) for m in ports if m][0]

    @staticmethod
    def get(conn, url):
        conn.request("GET", url)
        r = conn.getresponse()
        return r, r.read()

    def refused(self, port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            return True
        return False

    def wait_long_poll_done(self, port):
        """Until the long poll's handler, whose connection closed, finished (web_test_app
        finishes it 50 ms later; one still detached at exit would be reported as a leak)."""
        deadline = time.monotonic() + HANG_GUARD
        while True:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            stats = json.loads(self.get(c, "/stats")[1])
            c.close()
            if stats["lp_done"] or time.monotonic() > deadline:
                return stats["lp_done"]
            time.sleep(0.02)


class RemoveServerTest(RemoveServerBase):
    """eddy_app_remove_server: a server of the application freed while the application lives
    on, from a handler of another server (at once) and from a handler of its own (after the
    answer in hand); the default server is made anew on its next use."""

    def test_remove_servers_while_the_application_lives(self):
        # A long poll on the default server, detached and never answered.
        poll = Raw(self.port)
        poll.send(req_bytes("GET", "/longpoll"))
        self.wait_stats(lambda st: st["lp_started"] == 1)
        on_second = http.client.HTTPConnection("127.0.0.1", self.second, timeout=15)
        try:
            # From a handler of the second server: the default server goes at once, its
            # listener and its long poll (whose close callback runs) with it.
            self.assertEqual(self.get(on_second, "/remove_server?which=default")[1], b"0")
            self.assertTrue(poll.closed_within(HANG_GUARD))
            self.assertTrue(self.refused(self.port))
            stats = json.loads(self.get(on_second, "/stats")[1])
            self.assertEqual(stats["lp_close_cb"], 1, stats)
            # The default server is made anew on its next use, with the same routes.
            r, data = self.get(on_second, "/listen_default")
            third = int(data)
            self.assertGreater(third, 0, data)
            on_third = http.client.HTTPConnection("127.0.0.1", third, timeout=15)
            self.assertEqual(self.get(on_third, "/hello")[1], b"hello")
            # From a handler of its own: the answer in hand is sent, then the connection
            # closes, and no new one is accepted.
            r, data = self.get(on_second, "/remove_server?which=second")
            self.assertEqual((r.status, data), (200, b"0"))
            self.assertEqual(r.getheader("Connection"), "close")
            self.assertTrue(self.refused(self.second))
            # Removed already: refused, and the application serves on.
            r, data = self.get(on_third, "/remove_server?which=second")
            self.assertEqual(int(data), -1, data)  # EDDY_EINVAL
            self.assertEqual(self.get(on_third, "/hello")[1], b"hello")
            on_third.close()
            self.assertEqual(self.wait_long_poll_done(third), 1)
        finally:
            on_second.close()
            poll.close()


class RemoveServerAfterShutdownTest(RemoveServerBase):
    """The recipe of docs/deployment.md: shut a server down, remove it from the shutdown's
    `done` callback (inside a callback of its own)."""

    def test_removed_from_its_shutdown_done(self):
        poll = Raw(self.port)
        poll.send(req_bytes("GET", "/longpoll"))
        self.wait_stats(lambda st: st["lp_started"] == 1)
        on_second = http.client.HTTPConnection("127.0.0.1", self.second, timeout=15)
        try:
            self.assertEqual(self.get(on_second, "/shutdown_remove?which=default")[1], b"0")
            # The detached long poll is in flight: the shutdown waits for it.
            self.assertEqual(self.get(on_second, "/shutdown_removed")[1], b"waiting")
            self.assertTrue(self.refused(self.port))  # no longer listening
            poll.close()  # the long poll is finished once its connection closed
            deadline = time.monotonic() + HANG_GUARD
            while True:
                data = self.get(on_second, "/shutdown_removed")[1]
                if data != b"waiting" or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual(data, b"done 0 -1")  # removed, then refused (EDDY_EINVAL)
            self.assertEqual(self.get(on_second, "/hello")[1], b"hello")
            self.assertEqual(self.wait_long_poll_done(self.second), 1)
        finally:
            on_second.close()
            poll.close()


class StaticTest(WebTestCase):
    def get(self, path, headers=None, method="GET"):
        return self.raw_request(method, path, headers)

    def test_basic_file(self):
        resp = self.get("/static/hello.txt")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, STATIC["hello"])
        self.assertTrue(resp.get("Content-Type").startswith("text/plain"), resp.get("Content-Type"))
        self.assertEqual(resp.get("Content-Length"), str(len(STATIC["hello"])))
        self.assertEqual(resp.get("Last-Modified"), email.utils.formatdate(HELLO_MTIME,
                                                                           usegmt=True))
        etag = resp.get("Etag")
        self.assertIsNotNone(etag)
        self.assertRegex(etag, r'^"[^"]+"$')
        resp = self.get("/static/image.png")
        self.assertEqual(resp.get("Content-Type"), "image/png")
        self.assertEqual(resp.body, STATIC["png"])
        resp = self.get("/static/sub/inner.txt")
        self.assertEqual((resp.status, resp.body), (200, b"inner\n"))
        # a symlink that stays inside the root is fine
        resp = self.get("/static/link.txt")
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))
        # percent-encoded names
        resp = self.get("/static/with%20space.txt")
        self.assertEqual((resp.status, resp.body), (200, b"space\n"))

    def test_content_types_of_web_media(self):
        # Media, fonts and the like a page links get their types (as Tornado's mimetypes gives
        # them), not application/octet-stream: a WebVTT <track> served so does not load, and
        # media and fonts depend on the browser's sniffing.
        types = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg",
                 "flac": "audio/flac", "wav": "audio/wav", "mov": "video/quicktime",
                 "m4v": "video/mp4", "ttf": "font/ttf", "otf": "font/otf",
                 "avif": "image/avif", "vtt": "text/vtt; charset=UTF-8",
                 "webmanifest": "application/manifest+json", "TTF": "font/ttf"}
        for ext, ctype in types.items():
            path = os.path.join(STATIC["root"], "media." + ext)
            with open(path, "wb") as f:
                f.write(b"x")
            self.addCleanup(os.unlink, path)
            resp = self.get("/static/media." + ext)
            self.assertEqual((resp.status, resp.get("Content-Type")), (200, ctype), ext)

    def static_url(self, path):
        r, data = self.request("GET", "/static_url?path=" + urllib.parse.quote(path, safe=""))
        self.assertEqual(r.status, 200)
        return data.decode()

    def test_static_url_names_the_content_and_is_cached_for_good(self):
        # Tornado's static_url: ?v= the MD5 of the content; such a URL is cached 10 years.
        md5 = hashlib.md5(STATIC["hello"]).hexdigest()
        url = self.static_url("hello.txt")
        self.assertEqual(url, "/static/hello.txt?v=" + md5)
        self.assertEqual(self.static_url("/hello.txt"), url)  # a leading slash changes nothing
        resp = self.get(url)
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))
        self.assertEqual(resp.get("Cache-Control"), "max-age=315360000")
        expires = email.utils.parsedate_to_datetime(resp.get("Expires")).timestamp()
        self.assertAlmostEqual(expires, time.time() + 315360000, delta=3600)
        # The same file without a version is not cached for long.
        resp = self.get("/static/hello.txt")
        self.assertEqual(resp.status, 200)
        self.assertIsNone(resp.get("Cache-Control"))
        self.assertIsNone(resp.get("Expires"))
        # Revalidation of a versioned URL keeps its caching headers (RFC 9110 15.4.5).
        resp = self.get(url, {"If-None-Match": resp.get("Etag")})
        self.assertEqual(resp.status, 304)
        self.assertEqual(resp.get("Cache-Control"), "max-age=315360000")
        # A failed precondition is no answer to keep for ten years: a shared cache would serve
        # the empty 412 for the file.
        for cond in ({"If-Match": '"other"'},
                     {"If-Unmodified-Since": email.utils.formatdate(HELLO_MTIME - 3600, usegmt=True)}):
            resp = self.get(url, cond)
            self.assertEqual(resp.status, 412, cond)
            self.assertIsNone(resp.get("Cache-Control"), cond)
            self.assertIsNone(resp.get("Expires"), cond)

    def test_static_url_encodes_and_follows_subdirectories(self):
        url = self.static_url("with space.txt")
        self.assertEqual(url, "/static/with%20space.txt?v=" + hashlib.md5(b"space\n").hexdigest())
        self.assertEqual(self.get(url).body, b"space\n")
        self.assertEqual(self.static_url("sub/inner.txt"),
                         "/static/sub/inner.txt?v=" + hashlib.md5(b"inner\n").hexdigest())

    def test_static_url_without_a_file_has_no_version(self):
        # A missing file, a directory, and a symlink leaving the root (whose target's content
        # must not leak as a hash) get the plain URL, and the missing one a log line.
        self.assertEqual(self.static_url("nope.css"), "/static/nope.css")
        self.assertEqual(self.static_url("sub"), "/static/sub")
        self.assertEqual(self.static_url("escape.txt"), "/static/escape.txt")
        # A NUL in the name (explicit length) names no file, not the name before it.
        r, data = self.request("GET", "/static_url?nul=1&path=hello.txt")
        self.assertEqual(data, b"/static/hello.txt%00x")
        self.assertIn("static_url: no static directory has nope.css", self.server.stderr())

    def test_static_url_follows_a_file_replaced_with_the_same_size_and_time(self):
        # A deploy that keeps modification times (a reproducible build's fixed mtime, cp -p,
        # rsync -t) can replace a file with one of the same size: the version used to be kept
        # for the old content, and its URL is cached for ten years.
        path = os.path.join(STATIC["root"], "same.txt")
        self.addCleanup(os.unlink, path)
        for content in (b"release 1.2.3\n", b"release 1.2.4\n"):
            with open(path + ".tmp", "wb") as f:
                f.write(content)
            os.utime(path + ".tmp", (HELLO_MTIME, HELLO_MTIME))
            os.rename(path + ".tmp", path)  # a new inode
            self.assertEqual(self.static_url("same.txt"),
                             "/static/same.txt?v=" + hashlib.md5(content).hexdigest())
        # Rewritten in place, size and time put back: the change time still tells.
        content = b"release 1.2.5\n"
        with open(path, "r+b") as f:
            f.write(content)
        os.utime(path, (HELLO_MTIME, HELLO_MTIME))
        self.assertEqual(self.static_url("same.txt"),
                         "/static/same.txt?v=" + hashlib.md5(content).hexdigest())

    def test_static_url_of_a_fifo_does_not_block(self):
        # A named pipe in a static directory is no file to version: static_url used to open it
        # without O_NONBLOCK and so waited on the loop thread for a writer that never came,
        # hanging the whole server (SIGTERM included).
        path = os.path.join(STATIC["root"], "pipe.txt")
        os.mkfifo(path)

        def release():
            # On a hung server: a writer ends the blocked open, so the server can stop.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            os.unlink(path)
        self.addCleanup(release)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/static_url?path=pipe.txt")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"/static/pipe.txt"))
        finally:
            c.close()
        self.assertEqual(self.get("/static/pipe.txt").status, 404)
        self.assertEqual(self.get("/static/hello.txt").body, STATIC["hello"])

    def test_static_url_follows_a_changed_file(self):
        path = os.path.join(STATIC["root"], "versioned.txt")
        self.addCleanup(os.unlink, path)
        for i, content in enumerate((b"first version\n", b"second version!\n")):
            with open(path, "wb") as f:
                f.write(content)
            os.utime(path, (HELLO_MTIME + i, HELLO_MTIME + i))
            self.assertEqual(self.static_url("versioned.txt"),
                             "/static/versioned.txt?v=" + hashlib.md5(content).hexdigest())

    def static_files_open(self):
        fd_dir = "/proc/%d/fd" % self.server.proc.pid
        root = os.path.realpath(STATIC["root"])
        count = 0
        for fd in os.listdir(fd_dir):
            try:
                count += os.readlink(os.path.join(fd_dir, fd)).startswith(root + "/")
            except FileNotFoundError:  # closed meanwhile
                pass
        return count

    def test_pipelining_client_that_does_not_read_holds_few_files(self):
        # Each file answer waiting to be sent holds the file open. A client that pipelines
        # requests for a small file and reads nothing used to hold ~100 of the server's
        # descriptors per connection (only answer bytes in memory counted towards the 64 KiB
        # hold, and a small file's answer has few); now a few files held stop the reading too.
        request = req_bytes("GET", "/static/hello.txt")
        raw = self.raw()
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sock.settimeout(0.5)
        # Up to 2 MB of requests (~50,000: their answers are ~12 MB, far more than the socket
        # buffers take, so the server must hold answers) or until the server reads no more.
        # (Unbounded, a loaded machine's buffers took tens of MB, and reading their answers
        # back took minutes.)
        sent = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sent < 2 << 20:
            try:
                sent += raw.sock.send(request * 256)
            except socket.timeout:
                break  # held: the server reads no more
        held = self.static_files_open()
        self.assertLessEqual(held, 16, "files held open for %d unsent answers" % (sent // len(request)))
        # Every request sent is answered, in order, once the client reads (with room now: the
        # small buffer was there to make the server hold, not to slow the reading down).
        partial = sent % len(request)
        count = sent // len(request) + (1 if partial else 0)
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        raw.sock.settimeout(30)
        tail = (request[partial:] if partial else b"") + req_bytes(
            "GET", "/static/hello.txt", {"Connection": "close"})
        sender = threading.Thread(target=raw.sock.sendall, args=(tail,))
        sender.start()
        status_line, answers, last = b"HTTP/1.1 200 OK\r\n", 0, b""
        while True:  # tens of MB: counted as they come, not gathered
            d = raw.sock.recv(1 << 20)
            if not d:
                break
            seen = last + d
            answers += seen.count(status_line)
            last = seen[-len(status_line) + 1:]
            end = seen[-64:]
        sender.join()
        raw.close()
        self.assertEqual(answers, count + 1)
        self.assertTrue(end.endswith(STATIC["hello"]))
        self.assertEqual(self.static_files_open(), 0)

    def test_head(self):
        g = self.get("/static/hello.txt")
        raw = self.raw()
        try:
            raw.send(req_bytes("HEAD", "/static/hello.txt") + req_bytes("GET", "/static/sub/inner.txt"))
            h = raw.read_response("HEAD")
            nxt = raw.read_response()
        finally:
            raw.close()
        self.assertEqual(h.status, 200)
        self.assertEqual(h.get("Content-Length"), str(len(STATIC["hello"])))
        self.assertEqual(h.get("Etag"), g.get("Etag"))
        self.assertEqual(h.get("Last-Modified"), g.get("Last-Modified"))
        self.assertEqual((nxt.status, nxt.body), (200, b"inner\n"))  # no stray body after HEAD

    def test_ranges(self):
        data = STATIC["hello"]
        n = len(data)
        resp = self.get("/static/hello.txt", {"Range": "bytes=0-4"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(resp.body, data[:5])
        self.assertEqual(resp.get("Content-Range"), "bytes 0-4/%d" % n)
        self.assertEqual(resp.get("Content-Length"), "5")
        resp = self.get("/static/hello.txt", {"Range": "bytes=-6"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(resp.body, data[-6:])
        self.assertEqual(resp.get("Content-Range"), "bytes %d-%d/%d" % (n - 6, n - 1, n))
        resp = self.get("/static/hello.txt", {"Range": "bytes=7-"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(resp.body, data[7:])
        self.assertEqual(resp.get("Content-Range"), "bytes 7-%d/%d" % (n - 1, n))
        resp = self.get("/static/hello.txt", {"Range": "bytes=3-100000"})
        self.assertEqual((resp.status, resp.body), (206, data[3:]))
        resp = self.get("/static/hello.txt", {"Range": "bytes=-100000"})
        self.assertEqual((resp.status, resp.body), (206, data))

    def test_unsatisfiable_range(self):
        n = len(STATIC["hello"])
        for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 10, n + 20), "bytes=-0"):
            resp = self.get("/static/hello.txt", {"Range": rng})
            self.assertEqual(resp.status, 416, rng)
            self.assertEqual(resp.get("Content-Range"), "bytes */%d" % n, rng)
            self.assertNotIn(STATIC["hello"], resp.body)

    def test_head_ignores_range(self):
        # RFC 9110 14.2: Range is defined for GET only and MUST be ignored on other methods.
        n = len(STATIC["hello"])
        for rng in ("bytes=0-4", "bytes=%d-" % (n + 10)):
            raw = self.raw()
            try:
                raw.send(req_bytes("HEAD", "/static/hello.txt", {"Range": rng}) +
                         req_bytes("GET", "/static/sub/inner.txt"))
                head = raw.read_response("HEAD")
                nxt = raw.read_response()
            finally:
                raw.close()
            self.assertEqual((head.status, head.body), (200, b""), rng)
            self.assertEqual(head.get("Content-Length"), str(n), rng)
            self.assertIsNone(head.get("Content-Range"), rng)
            self.assertEqual((nxt.status, nxt.body), (200, b"inner\n"), rng)

    def test_ranges_of_an_empty_file(self):
        # RFC 9110 14.1.2: on an empty representation only a suffix range is satisfiable, and it
        # names no byte: ignored (200, empty). Any other range is not satisfiable: 416.
        for rng in ("bytes=-5", "bytes=-1"):
            resp = self.get("/static/empty.txt", {"Range": rng})
            self.assertEqual((resp.status, resp.body), (200, b""), rng)
            self.assertEqual(resp.get("Content-Length"), "0", rng)
        for rng in ("bytes=0-", "bytes=0-0", "bytes=-0"):
            resp = self.get("/static/empty.txt", {"Range": rng})
            self.assertEqual(resp.status, 416, rng)
            self.assertEqual(resp.get("Content-Range"), "bytes */0", rng)

    def test_multiple_ranges_give_full_file(self):
        resp = self.get("/static/hello.txt", {"Range": "bytes=0-1,3-4"})
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))
        self.assertIsNone(resp.get("Content-Range"))
        # not a bytes range, or malformed: ignored
        for rng in ("items=0-1", "bytes=abc", "bytes=5-2"):
            resp = self.get("/static/hello.txt", {"Range": rng})
            self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]), rng)

    def test_conditional(self):
        g = self.get("/static/hello.txt")
        etag, lm = g.get("Etag"), g.get("Last-Modified")
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            resp = self.get("/static/hello.txt", {"If-None-Match": inm})
            self.assertEqual((resp.status, resp.body), (304, b""), inm)
            self.assertEqual(resp.get("Etag"), etag)
        resp = self.get("/static/hello.txt", {"If-None-Match": '"nope"'})
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))
        resp = self.get("/static/hello.txt", {"If-Modified-Since": lm})
        self.assertEqual((resp.status, resp.body), (304, b""))
        later = email.utils.formatdate(HELLO_MTIME + 3600, usegmt=True)
        resp = self.get("/static/hello.txt", {"If-Modified-Since": later})
        self.assertEqual(resp.status, 304)
        earlier = email.utils.formatdate(HELLO_MTIME - 3600, usegmt=True)
        resp = self.get("/static/hello.txt", {"If-Modified-Since": earlier})
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))
        # If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2)
        resp = self.get("/static/hello.txt", {"If-None-Match": '"nope"', "If-Modified-Since": lm})
        self.assertEqual(resp.status, 200)

    def test_etag_changes_when_a_file_is_rewritten_keeping_size_and_time(self):
        # RFC 9110 8.8.1: a strong ETag changes with the content. The ETag named the
        # modification time, size and inode, which a rewrite in place that puts the time back
        # (rsync --inplace --times, touch -r) all keep: the old ETag got 304 for new content.
        path = os.path.join(STATIC["root"], "inplace.txt")
        self.addCleanup(os.unlink, path)
        with open(path, "wb") as f:
            f.write(b"version one\n")
        os.utime(path, (HELLO_MTIME, HELLO_MTIME))
        old = self.get("/static/inplace.txt").get("Etag")
        time.sleep(0.01)
        with open(path, "r+b") as f:
            f.write(b"version two\n")
        os.utime(path, (HELLO_MTIME, HELLO_MTIME))
        resp = self.get("/static/inplace.txt", {"If-None-Match": old})
        self.assertEqual((resp.status, resp.body), (200, b"version two\n"))
        self.assertNotEqual(resp.get("Etag"), old)
        resp = self.get("/static/inplace.txt", {"Range": "bytes=8-", "If-Range": old})
        self.assertEqual((resp.status, resp.body), (200, b"version two\n"))

    def test_if_match(self):
        # RFC 9110 13.1.1: strong comparison, "*" for any; false: 412, checked before
        # If-None-Match (13.2.2).
        etag = self.get("/static/hello.txt").get("Etag")
        for im, status in ((etag, 200), ('"nope", ' + etag, 200), ("*", 200), ('"nope"', 412),
                           ("W/" + etag, 412)):
            resp = self.get("/static/hello.txt", {"If-Match": im})
            self.assertEqual(resp.status, status, im)
        resp = self.get("/static/hello.txt", {"If-Match": '"nope"', "If-None-Match": etag})
        self.assertEqual(resp.status, 412)

    def test_if_unmodified_since(self):
        # RFC 9110 13.1.4: modified after the date: 412; ignored when If-Match is present.
        earlier = email.utils.formatdate(HELLO_MTIME - 3600, usegmt=True)
        later = email.utils.formatdate(HELLO_MTIME + 3600, usegmt=True)
        self.assertEqual(self.get("/static/hello.txt", {"If-Unmodified-Since": earlier}).status, 412)
        self.assertEqual(self.get("/static/hello.txt", {"If-Unmodified-Since": later}).status, 200)
        self.assertEqual(self.get("/static/hello.txt", {"If-Unmodified-Since": earlier,
                                                        "If-Match": "*"}).status, 200)

    def test_range_details(self):
        g = self.get("/static/hello.txt")
        # range units are case-insensitive (RFC 9110 14.1)
        resp = self.get("/static/hello.txt", {"Range": "Bytes=0-4"})
        self.assertEqual((resp.status, resp.body), (206, STATIC["hello"][:5]))
        # If-Range with the exact Last-Modified date (a strong validator here): the range
        resp = self.get("/static/hello.txt", {"Range": "bytes=0-4",
                                              "If-Range": g.get("Last-Modified")})
        self.assertEqual((resp.status, resp.body), (206, STATIC["hello"][:5]))
        other = email.utils.formatdate(HELLO_MTIME - 1, usegmt=True)
        resp = self.get("/static/hello.txt", {"Range": "bytes=0-4", "If-Range": other})
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))

    def test_ranges_with_huge_numbers(self):
        # RFC 9110 14.1.1: positions are 1*DIGIT, of any length. Numbers of more than 18
        # digits used to make the Range ignored (200); they are positions past the end.
        data = STATIC["hello"]
        n = len(data)
        huge = "9" * 30
        resp = self.get("/static/hello.txt", {"Range": "bytes=%s-" % huge})
        self.assertEqual((resp.status, resp.get("Content-Range")), (416, "bytes */%d" % n))
        for rng in ("bytes=0-" + huge, "bytes=-" + huge):
            resp = self.get("/static/hello.txt", {"Range": rng})
            self.assertEqual((resp.status, resp.body), (206, data), rng)
            self.assertEqual(resp.get("Content-Range"), "bytes 0-%d/%d" % (n - 1, n), rng)
        resp = self.get("/static/hello.txt", {"Range": "bytes=%s2-%s4" % ("0" * 20, "0" * 20)})
        self.assertEqual((resp.status, resp.body), (206, data[2:5]))
        resp = self.get("/static/hello.txt", {"Range": "bytes=%s-0" % huge})  # last < first
        self.assertEqual((resp.status, resp.body), (200, data))

    def test_name_too_long_is_404(self):
        self.assertEqual(self.get("/static/" + "a" * 300).status, 404)

    def test_repeated_if_none_match_fields(self):
        # RFC 9110 5.3: field lines of a list combine; the second line's tag matches.
        etag = self.get("/static/hello.txt").get("Etag")
        resp = self.get("/static/hello.txt", [("If-None-Match", '"x"'), ("If-None-Match", etag)])
        self.assertEqual((resp.status, resp.body), (304, b""))

    def test_last_modified_never_after_date(self):
        # RFC 9110 8.8.2.1: a modification time in the future is sent as the Date.
        resp = self.get("/static/future.txt")
        self.assertEqual(resp.status, 200)
        last_modified = email.utils.parsedate_to_datetime(resp.get("Last-Modified"))
        date = email.utils.parsedate_to_datetime(resp.get("Date"))
        self.assertLessEqual(last_modified, date)
        resp = self.get("/static/future.txt", {"If-Modified-Since": resp.get("Last-Modified")})
        self.assertEqual(resp.status, 304)

    def test_precompressed_twin(self):
        js = STATIC["js"]
        resp = self.get("/static/app.js", {"Accept-Encoding": "gzip, deflate"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.get("Content-Encoding"), "gzip")
        self.assertEqual(resp.body, STATIC["js_gz"])
        self.assertEqual(gzip.decompress(resp.body), js)
        self.assertIn("javascript", resp.get("Content-Type"))
        self.assertIn("accept-encoding", (resp.get("Vary") or "").lower())
        gz_etag = resp.get("Etag")
        resp = self.get("/static/app.js")
        self.assertEqual(resp.status, 200)
        self.assertIsNone(resp.get("Content-Encoding"))
        self.assertEqual(resp.body, js)
        self.assertIn("javascript", resp.get("Content-Type"))
        self.assertNotEqual(resp.get("Etag"), gz_etag)
        resp = self.get("/static/app.js", {"Accept-Encoding": "br"})
        self.assertEqual((resp.get("Content-Encoding"), resp.body), (None, js))
        # a file without a twin is sent as is even when gzip is accepted
        resp = self.get("/static/hello.txt", {"Accept-Encoding": "gzip"})
        self.assertEqual((resp.get("Content-Encoding"), resp.body), (None, STATIC["hello"]))

    def test_precompressed_twin_weighted_accept(self):
        # RFC 9110 §12.5.3: a weighted coding is still accepted
        resp = self.get("/static/app.js", {"Accept-Encoding": "gzip;q=0.9, identity;q=0.5"})
        self.assertEqual(resp.get("Content-Encoding"), "gzip",
                         "gzip;q=0.9 not taken as accepting gzip")
        self.assertEqual(resp.body, STATIC["js_gz"])

    def test_traversal(self):
        paths = ["/static/../secret.txt", "/static/%2e%2e/secret.txt",
                 "/static/%2E%2E%2Fsecret.txt", "/static/..%2fsecret.txt",
                 "/static/sub/../../secret.txt", "/static/sub/%2e%2e/%2e%2e/secret.txt",
                 "/static/escape.txt", "/static/escape_dir/secret.txt",
                 "/static/%2fetc%2fpasswd", "/static//etc/passwd"]
        for path in paths:
            resp = self.get(path)
            self.assertIn(resp.status, (403, 404), path)
            self.assertNotIn(b"TOP-SECRET", resp.body, path)
            self.assertNotIn(b"root:", resp.body, path)

    def test_leaving_the_root_is_403_whether_or_not_the_file_exists(self):
        # The answer must not tell which files exist outside the root.
        for name in ("secret.txt", "no-such-file.txt"):
            for path in ("/static/../" + name, "/static/%2e%2e/" + name, "/static/..%2f" + name,
                         "/static/sub/../../" + name, "/static/./sub/%2e%2e/../" + name):
                resp = self.get(path)
                self.assertEqual(resp.status, 403, path)
                self.assertNotIn(b"TOP-SECRET", resp.body, path)
        # ".." that stays inside the root is just a path.
        resp = self.get("/static/sub/../hello.txt")
        self.assertEqual((resp.status, resp.body), (200, STATIC["hello"]))
        resp = self.get("/static/sub/%2e%2e/sub/inner.txt")
        self.assertEqual((resp.status, resp.body), (200, b"inner\n"))

    def test_directories_and_missing(self):
        for path in ("/static/sub", "/static/sub/", "/static/"):
            resp = self.get(path)
            self.assertIn(resp.status, (403, 404), path)
        resp = self.get("/static/nope.txt")
        self.assertEqual(resp.status, 404)
        resp = self.get("/static/sub/nope/deeper.txt")
        self.assertEqual(resp.status, 404)
        resp = self.get("/static/hello.txt/x")  # a file used as a directory
        self.assertEqual(resp.status, 404)

    def test_big_file_byte_exact(self):
        data = STATIC["big"]
        r, body = self.request("GET", "/static/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Length"), str(len(data)))
        self.assertEqual(r.getheader("Content-Type"), "application/octet-stream")
        self.assertEqual(len(body), len(data))
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest())
        resp = self.get("/static/big.bin", {"Range": "bytes=1000000-2999999"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(resp.body, data[1000000:3000000])
        # keep-alive after a sendfile response
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            for _ in range(2):
                c.request("GET", "/static/big.bin")
                r = c.getresponse()
                self.assertEqual(hashlib.sha256(r.read()).digest(), hashlib.sha256(data).digest())
        finally:
            c.close()

    def test_file_replaced_while_served_is_one_version(self):
        # A deploy replaces files by rename. Size and ETag used to come from a stat() before
        # the open(), so a file replaced in between was answered with the old file's length and
        # ETag around the new file's first bytes (or cut short). Each answer must be one
        # version whole. (A race: the old code failed here within about two seconds.)
        path = os.path.join(STATIC["root"], "swap.bin")
        tmp = os.path.join(STATIC["root"], ".swap.tmp")
        versions = (b"a" * 1000, b"b" * 20000)
        with open(path, "wb") as f:
            f.write(versions[0])
        stop = threading.Event()

        def swap():
            i = 1
            while not stop.is_set():
                with open(tmp, "wb") as f:
                    f.write(versions[i % 2])
                os.rename(tmp, path)
                i += 1
        swapper = threading.Thread(target=swap)
        swapper.start()

        def cleanup():
            stop.set()
            swapper.join()
            for name in (path, tmp):
                if os.path.exists(name):
                    os.unlink(name)
        self.addCleanup(cleanup)
        seen = {}
        deadline = time.monotonic() + 5
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            while time.monotonic() < deadline:
                c.request("GET", "/static/swap.bin")
                r = c.getresponse()
                body = r.read()  # IncompleteRead when the answer is cut short
                self.assertTrue(body in versions, "a mix of versions: %d bytes, %r first, %s"
                                % (len(body), body[:1], r.getheader("Etag")))
                self.assertTrue(seen.setdefault(r.getheader("Etag"), body) == body,
                                "one ETag for two versions")
        finally:
            c.close()

    def test_post_is_405(self):
        resp = self.raw_request("POST", "/static/hello.txt", body=b"x=1")
        self.assertEqual(resp.status, 405)
        self.assertNotIn(STATIC["hello"], resp.body)
        self.assert_allow(resp.get("Allow"), ["GET", "HEAD"])

    def test_routes_still_work(self):
        self.assertEqual(self.request("GET", "/hello")[1], b"hello")
        r, _ = self.request("GET", "/staticx/hello.txt")
        self.assertEqual(r.status, 404)


# ---- module setup ------------------------------------------------------------------------------

class StaticUrlWithoutStaticTest(WebTestCase):
    WITH_STATIC = False

    def test_no_static_directory_gives_null(self):
        r, data = self.request("GET", "/static_url?path=hello.txt")
        self.assertEqual((r.status, data), (200, b"(null)"))


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="eddy-web-")
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "sub"))
    STATIC["tmp"] = tmp
    STATIC["root"] = root
    with open(os.path.join(tmp, "secret.txt"), "wb") as f:
        f.write(SECRET)
    STATIC["hello"] = b"Hello, static world! 0123456789\n"
    with open(os.path.join(root, "hello.txt"), "wb") as f:
        f.write(STATIC["hello"])
    os.utime(os.path.join(root, "hello.txt"), (HELLO_MTIME, HELLO_MTIME))
    with open(os.path.join(root, "future.txt"), "wb") as f:
        f.write(b"from the future\n")
    future = time.time() + 10 * 365 * 86400
    os.utime(os.path.join(root, "future.txt"), (future, future))
    STATIC["png"] = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with open(os.path.join(root, "image.png"), "wb") as f:
        f.write(STATIC["png"])
    STATIC["js"] = b"".join(b"function f%d() { return %d; }\n" % (i, i) for i in range(200))
    STATIC["js_gz"] = gzip.compress(STATIC["js"], mtime=0)
    with open(os.path.join(root, "app.js"), "wb") as f:
        f.write(STATIC["js"])
    with open(os.path.join(root, "app.js.gz"), "wb") as f:
        f.write(STATIC["js_gz"])
    STATIC["css"] = b"".join(b".c%d { color: #%06x; }\n" % (i, i * 997 % 0xFFFFFF)
                             for i in range(4000))  # ~100 KB: several pieces when gzipped
    with open(os.path.join(root, "style.css"), "wb") as f:
        f.write(STATIC["css"])
    STATIC["big"] = os.urandom(5 * 1024 * 1024)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(STATIC["big"])
    with open(os.path.join(root, "sub", "inner.txt"), "wb") as f:
        f.write(b"inner\n")
    with open(os.path.join(root, "with space.txt"), "wb") as f:
        f.write(b"space\n")
    open(os.path.join(root, "empty.txt"), "wb").close()
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "escape.txt"))
    os.symlink(tmp, os.path.join(root, "escape_dir"))
    os.symlink("hello.txt", os.path.join(root, "link.txt"))


def tearDownModule():
    if "tmp" in STATIC:
        shutil.rmtree(STATIC["tmp"], ignore_errors=True)


def main():
    global SERVER
    argv = list(sys.argv)
    if "--server" in argv:
        i = argv.index("--server")
        SERVER = argv[i + 1]
        del argv[i:i + 2]
    SERVER = SERVER or os.environ.get("EDDY_WEB_TEST_APP")
    if not SERVER or not os.path.exists(SERVER):
        sys.stderr.write("usage: test_web.py --server PATH [unittest args]\n")
        sys.exit(2)
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
