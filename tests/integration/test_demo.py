#!/usr/bin/env python3
"""The demo program's routes over plain HTTP (examples/demo/demo.c).

    test_demo.py --server PATH/TO/demo [unittest options]

Standard library only. Every test class starts its own demo on a free port and stops it with
SIGTERM at the end, checking a clean exit (exit status 0, no sanitizer report).
"""
import hashlib
import html
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_log import read_log  # noqa: E402
from tcp_state import wait_server_closed, wait_server_read  # noqa: E402
from cmdline_check import (BAD_PORTS, BAD_SECONDS, assert_needs_value,  # noqa: E402
                           assert_refused, assert_unknown_refused)

SERVER = None  # path of the demo binary, from --server
# The files the demo serves (compiled into it as its default --static directory).
DEMO_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                           "demo", "static")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


class DemoProcess:
    """One demo on 127.0.0.1 with a free port."""

    def __init__(self, *args):
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([SERVER, "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=self.stderr_file)
        self.port = None
        deadline = time.monotonic() + 30
        lines = []
        while self.port is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            lines.append(line)
            m = re.search(r"listening on http://[^ ]*:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("demo did not start: %r %s" % (lines, self.stderr()))

    def stderr(self):
        return read_log(self.stderr_file).decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; returns (exit status, rest of stdout, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            self.proc.returncode = None  # report "did not stop" rather than the kill's status
        err = self.stderr()
        self.stderr_file.close()
        return self.proc.returncode, out.decode("utf-8", "replace"), err


class Client:
    """http.client plus a cookie jar of one host, enough for the demo's cookies."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, fields=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            body = None
            if fields is not None:
                body = urllib.parse.urlencode(fields)
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            if self.cookies:
                hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
            conn.request(method, path, body, hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value, _, attributes = rest.partition(";")
            # A cleared cookie expires in 1970; look there only (a token's random hex may hold
            # "1970" too).
            if value and "1970" not in attributes:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)  # a cleared cookie
        return resp, data

    def xsrf(self):
        """The token the chat page's script sends: the _xsrf cookie GET / sets."""
        if "_xsrf" not in self.cookies:
            resp, _ = self.request("GET", "/")
            assert resp.status == 200, resp.status
        return self.cookies["_xsrf"]

    def post(self, path, fields, timeout=10):
        return self.request("POST", path, dict(fields, _xsrf=self.xsrf()), timeout=timeout)

    def new_message(self, body):
        resp, data = self.post("/a/message/new", {"body": body})
        assert resp.status == 200, (resp.status, data)
        return json.loads(data)

    def poll_socket(self, cursor):
        """A socket whose long poll for messages after `cursor` was sent (not answered)."""
        token = self.xsrf()
        body = urllib.parse.urlencode({"cursor": cursor, "_xsrf": token}).encode()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        s.sendall(b"POST /a/message/updates HTTP/1.1\r\nHost: x\r\nCookie: _xsrf=" +
                  token.encode() + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return s

    def updates(self, cursor, timeout=10):
        resp, data = self.post("/a/message/updates", {"cursor": str(cursor)}, timeout=timeout)
        assert resp.status == 200, (resp.status, data)
        return json.loads(data)["messages"]


class DemoTestCase(unittest.TestCase):
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.server = DemoProcess(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        status, out, err = cls.server.stop()
        if status != 0 or "demo stopped" not in out or any(m in err for m in SANITIZER_MARKERS):
            raise AssertionError("unclean exit %r\nstdout:\n%s\nstderr:\n%s" % (status, out, err))

    def client(self):
        return Client(self.server.port)


class SimpleRoutes(DemoTestCase):
    def test_plaintext(self):
        resp, body = self.client().request("GET", "/plaintext")
        self.assertEqual(resp.status, 200)
        self.assertEqual(body, b"Hello, World!")
        self.assertEqual(resp.getheader("Content-Type"), "text/plain")

    def test_json(self):
        resp, body = self.client().request("GET", "/json")
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(body), {"message": "Hello, World!"})
        self.assertEqual(resp.getheader("Content-Type"), "application/json")

    def test_favicon_is_no_content(self):
        # Browsers ask for /favicon.ico with every page; a 404 would show in their console.
        resp, body = self.client().request("GET", "/favicon.ico")
        self.assertEqual((resp.status, body), (204, b""))

    def test_hello(self):
        resp, body = self.client().request("GET", "/hello/x")
        self.assertEqual((resp.status, body), (200, b"Hello, x!"))
        # The capture is percent-decoded, then HTML-escaped.
        resp, body = self.client().request("GET", "/hello/%3Cb%3E%20%26%C3%A9")
        self.assertEqual(body.decode(), "Hello, &lt;b&gt; &amp;\u00e9!")
        self.assertTrue(resp.getheader("Content-Type").startswith("text/html"))
        resp, _ = self.client().request("GET", "/hello/a/b")
        self.assertEqual(resp.status, 404)

    def test_chat_page_and_static_files(self):
        c = self.client()
        resp, body = c.request("GET", "/")
        self.assertEqual(resp.status, 200)
        self.assertIn("_xsrf", c.cookies)
        # The page links its files with static_url: the URL carries the content's MD5, and such
        # a URL may be cached for 10 years.
        self.assertNotIn(b"static_url", body)
        for name, ctype in (("chat.js", "javascript"), ("chat.css", "text/css")):
            with open(os.path.join(DEMO_STATIC, name), "rb") as f:
                url = "/static/%s?v=%s" % (name, hashlib.md5(f.read()).hexdigest())
            self.assertIn(url.encode(), body)
            resp, data = c.request("GET", url)
            self.assertEqual(resp.status, 200, url)
            self.assertIn(ctype, resp.getheader("Content-Type"))
            self.assertEqual(resp.getheader("Cache-Control"), "max-age=315360000")
            self.assertGreater(len(data), 100)
        resp, _ = c.request("GET", "/static/../demo.c")
        self.assertIn(resp.status, (403, 404))

    def test_template_is_not_a_static_file(self):
        # The page's template is in templates/ (Tornado's template_path), apart from the static
        # path: its source, template syntax and all, is not a file the server hands out.
        c = self.client()
        for path in ("/static/index.html", "/static/../templates/index.html",
                     "/static/%2e%2e/templates/index.html", "/static/%2E%2E%2Ftemplates%2Findex.html"):
            resp, body = c.request("GET", path)
            self.assertIn(resp.status, (403, 404), path)
            self.assertNotIn(b"static_url", body, path)

    def test_delay_answers(self):
        resp, body = self.client().request("GET", "/delay?seconds=0.2")
        self.assertEqual(resp.status, 200)
        self.assertIn(b"Waited 0.2 seconds", body)
        resp, body = self.client().request("GET", "/delay?seconds=0")
        self.assertEqual(resp.status, 200)

    def test_delay_bounds(self):
        # "1%002": the decoded NUL ends the C string strtod reads, not the value.
        for bad in ("11", "-1", "abc", "nan", "1e9", "1%002", "0%00x"):
            resp, _ = self.client().request("GET", "/delay?seconds=" + bad)
            self.assertEqual(resp.status, 400, bad)

    def test_delay_client_leaves(self):
        # The timer is cancelled and the handler released; the server keeps serving.
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        s.sendall(b"GET /delay?seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        port = s.getsockname()[1]
        wait_server_read(self.server.port, [port])  # the handler waits on its timer
        s.close()
        self.assertTrue(wait_server_closed(self.server.port, port),
                        "the server kept the connection of a client that left")
        resp, _ = self.client().request("GET", "/plaintext")
        self.assertEqual(resp.status, 200)

    def test_stream_is_five_chunks(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            raw += piece
        s.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        chunks = []
        while True:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            chunks.append(body[:size])
            self.assertEqual(body[size:size + 2], b"\r\n")
            body = body[size + 2:]
        self.assertEqual(len(chunks), 5, chunks)
        self.assertEqual(chunks[0], b"chunk 1 of 5\n")
        self.assertEqual(chunks[4], b"chunk 5 of 5\n")

    def test_stream_client_leaves(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        port = s.getsockname()[1]
        s.close()
        self.assertTrue(wait_server_closed(self.server.port, port),
                        "the server kept the connection of a client that left")
        resp, _ = self.client().request("GET", "/plaintext")
        self.assertEqual(resp.status, 200)


class FormAndCookies(DemoTestCase):
    ARGS = ("--cookie-secret", "test secret")

    def test_form_flow(self):
        c = self.client()
        resp, body = c.request("GET", "/form")
        self.assertEqual(resp.status, 200)
        self.assertIn(b"What is your name?", body)
        self.assertIn(b'<html lang="en">', body)
        self.assertIn(b'<label for="name">', body)
        token = re.search(rb'name="_xsrf" value="([^"]+)"', body).group(1).decode()

        # The hidden field's token (masked differently from the cookie) is accepted.
        resp, _ = c.request("POST", "/form", {"name": "<Ann>", "_xsrf": token})
        self.assertEqual(resp.status, 303)
        self.assertEqual(resp.getheader("Location"), "/form")
        self.assertIn("name", c.cookies)
        self.assertNotIn("Ann", c.cookies["name"])  # signed and base64-encoded, not plain

        resp, body = c.request("GET", "/form")
        self.assertIn(b"Welcome back, &lt;Ann&gt;!", body)

    def test_forged_cookie_is_ignored(self):
        c = self.client()
        c.request("POST", "/form", {"name": "Ann", "_xsrf": c.xsrf()})
        c.cookies["name"] = c.cookies["name"].replace("QW5u", "Qm9i")  # base64 "Ann" -> "Bob"
        resp, body = c.request("GET", "/form")
        self.assertIn(b"What is your name?", body)
        self.assertNotIn(b"Bob", body)

    def test_form_needs_xsrf(self):
        c = self.client()
        c.xsrf()
        resp, _ = c.request("POST", "/form", {"name": "Ann"})
        self.assertEqual(resp.status, 403)
        self.assertNotIn("name", c.cookies)

    def test_form_limits(self):
        c = self.client()
        resp, _ = c.post("/form", {"name": "x" * 101})
        self.assertEqual(resp.status, 400)
        resp, _ = c.post("/form", {})
        self.assertEqual(resp.status, 400)

    def test_form_limit_counts_characters(self):
        # The input says maxlength="100", which browsers count in characters (UTF-16 units):
        # 100 of "\u00e9" are 200 bytes and must be accepted.
        c = self.client()
        resp, _ = c.post("/form", {"name": "\u00e9" * 100})
        self.assertEqual(resp.status, 303)
        resp, body = c.request("GET", "/form")
        self.assertIn(("Welcome back, " + "\u00e9" * 100 + "!").encode(), body)
        resp, _ = c.post("/form", {"name": "\u00e9" * 101})
        self.assertEqual(resp.status, 400)


class Chat(DemoTestCase):
    def test_xsrf_required(self):
        c = self.client()
        for path, fields in (("/a/message/new", {"body": "x"}),
                             ("/a/message/updates", {"cursor": "0"})):
            resp, _ = c.request("POST", path, fields)  # no cookie, no token
            self.assertEqual(resp.status, 403, path)
            c.xsrf()
            resp, _ = c.request("POST", path, fields)  # cookie but no token
            self.assertEqual(resp.status, 403, path)
            resp, _ = c.request("POST", path, dict(fields, _xsrf="2|00|11|22"))
            self.assertEqual(resp.status, 403, path)
        # The header form works too (as with Tornado).
        resp, _ = c.request("POST", "/a/message/new", {"body": "via header"},
                            headers={"X-Xsrftoken": c.cookies["_xsrf"]})
        self.assertEqual(resp.status, 200)

    @staticmethod
    def form_fields(page):
        """The hidden fields of the chat page's message form, as a browser would send them."""
        form = re.search(rb'<form id="message-form"(.*?)</form>', page, re.S).group(1)
        return {m.group(1).decode(): m.group(2).decode() for m in
                re.finditer(rb'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)}

    def test_form_posts_without_javascript(self):
        # A browser without JavaScript submits the form itself: it must carry the XSRF field
        # (Tornado's chat: xsrf_form_html()) and come back to the page (its "next": a 303).
        c = self.client()
        resp, page = c.request("GET", "/")
        fields = self.form_fields(page)
        self.assertIn("_xsrf", fields)
        resp, body = c.request("POST", "/a/message/new", dict(fields, body="no script"))
        self.assertEqual(resp.status, 303, body)
        self.assertEqual(resp.getheader("Location"), "/")
        self.assertEqual(c.updates(0)[-1]["body"], "no script")

    @staticmethod
    def page_messages(page):
        """The messages rendered into the chat page: [(id, body)], bodies unescaped."""
        found = re.findall(rb'<div class="message" id="m(\d+)">(.*?)</div>', page, re.S)
        for _, body in found:  # escaped: no markup of the message's own
            assert b"<" not in body and b">" not in body, body
        return [(int(i), html.unescape(body.decode())) for i, body in found]

    def test_page_shows_messages_without_javascript(self):
        # Tornado's chat renders its message cache into the page: a browser without JavaScript
        # posts with the form, follows the 303 and reads its message there (it came back to a
        # page without any), its markup as text.
        c = self.client()
        resp, page = c.request("GET", "/")
        text = '<script>alert("x")</script> & \u00e9 \'no script\''
        resp, _ = c.request("POST", "/a/message/new", dict(self.form_fields(page), body=text))
        self.assertEqual(resp.status, 303)
        resp, page = c.request("GET", resp.getheader("Location"))
        self.assertEqual(resp.status, 200)
        newest = c.updates(0)[-1]
        self.assertEqual(newest["body"], text)
        self.assertEqual(self.page_messages(page)[-1], (newest["id"], text))
        self.assertNotIn(b"<script>alert", page)
        self.assertIn(b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \xc3\xa9 &#39;", page)

    def test_page_messages_are_bounded(self):
        # The newest 50, in order: the page stays small whatever the history holds (200).
        c = self.client()
        for i in range(60):
            c.new_message("bounded %d" % i)
        newest = [(m["id"], m["body"]) for m in c.updates(0)][-50:]
        _, page = c.request("GET", "/")
        self.assertEqual(self.page_messages(page), newest)
        self.assertEqual(newest[-1][1], "bounded 59")

    def test_page_etag_covers_the_messages(self):
        # A reload after a new message must show it: the ETag changes with the messages.
        c = self.client()
        c.xsrf()  # a browser's second visit: it has the cookie (see test_no_304_for_a_new_token)
        resp, _ = c.request("GET", "/")
        etag = resp.getheader("Etag")
        resp, _ = c.request("GET", "/", headers={"If-None-Match": etag})
        self.assertEqual(resp.status, 304)
        m = c.new_message("a reload shows me")
        resp, page = c.request("GET", "/", headers={"If-None-Match": etag})
        self.assertEqual(resp.status, 200)
        self.assertNotEqual(resp.getheader("Etag"), etag)
        self.assertEqual(self.page_messages(page)[-1], (m["id"], m["body"]))
        resp, _ = c.request("GET", "/", headers={"If-None-Match": resp.getheader("Etag")})
        self.assertEqual(resp.status, 304)

    def test_no_304_for_a_new_token(self):
        # A request without a valid _xsrf cookie gets a page made for the new token (and the
        # cookie): no page it may hold is that one, so no "If-None-Match: *" 304 either,
        # which would have it keep a page whose form fails against the new cookie (403).
        for cookie in (None, "2|zz|zz|0"):  # none, and one that is no token (replaced)
            c = self.client()
            if cookie:
                c.cookies["_xsrf"] = cookie
            resp, page = c.request("GET", "/", headers={"If-None-Match": "*"})
            self.assertEqual(resp.status, 200, cookie)
            self.assertIsNone(resp.getheader("Etag"), cookie)
            self.assertNotEqual(c.cookies["_xsrf"], cookie)  # a new cookie came with it
            resp, _ = c.request("POST", "/a/message/new",
                                dict(self.form_fields(page), body="from a fresh page"))
            self.assertEqual(resp.status, 303, cookie)
            # With its cookie, any page it stored is a current one (RFC 9110 13.1.2): 304.
            resp, body = c.request("GET", "/", headers={"If-None-Match": "*"})
            self.assertEqual((resp.status, body), (304, b""), cookie)

    def test_next_is_a_local_path(self):
        # The redirect goes back to this server only: "//host" and "/\\host" are other hosts
        # to a browser. A bad one posts nothing.
        c = self.client()
        before = c.new_message("before")
        for bad in ("//example.com/", "/\\example.com", "http://example.com/", "", "/a b"):
            resp, _ = c.post("/a/message/new", {"body": "redirected", "next": bad})
            self.assertEqual(resp.status, 400, bad)
        self.assertEqual(c.updates(before["id"] - 1), [before])

    def test_page_etag_covers_the_token(self):
        # The form's token is masked afresh for every page (against BREACH), yet a reload with
        # the same cookie gets 304: the ETag covers the raw token, which is the cookie's.
        c = self.client()
        c.xsrf()  # the first visit, which sets the cookie, has no ETag (a token made for it)
        resp, page = c.request("GET", "/")
        etag = resp.getheader("Etag")
        self.assertTrue(etag)
        resp, page2 = c.request("GET", "/")
        self.assertEqual(resp.getheader("Etag"), etag)
        self.assertNotEqual(self.form_fields(page)["_xsrf"], self.form_fields(page2)["_xsrf"])
        resp, body = c.request("GET", "/", headers={"If-None-Match": etag})
        self.assertEqual((resp.status, body), (304, b""))
        # The page holds this browser's token: no shared cache keeps it, and the browser asks
        # before showing a stored copy (the messages change); a 304 says so too (RFC 9110
        # 15.4.5).
        self.assertEqual(resp.getheader("Cache-Control"), "private, no-cache")
        resp, _ = c.request("GET", "/")
        self.assertEqual((resp.status, resp.getheader("Cache-Control")), (200, "private, no-cache"))
        # Another browser (another cookie, so another token in its page) never gets a 304 for
        # a page it cached under the first one's.
        other = self.client()
        resp, _ = other.request("GET", "/", headers={"If-None-Match": etag})
        self.assertEqual(resp.status, 200)
        self.assertNotEqual(resp.getheader("Etag"), etag)
        resp, _ = other.request("GET", "/", headers={"If-None-Match": etag})
        self.assertEqual(resp.status, 200)

    def test_new_message_and_immediate_updates(self):
        c = self.client()
        m = c.new_message('<b>"hi"</b> \u00e9')
        self.assertEqual(m["body"], '<b>"hi"</b> \u00e9')  # stored as is; the page escapes
        messages = c.updates(m["id"] - 1)
        self.assertEqual(messages, [m])

    def test_cursor_out_of_range(self):
        # A cursor past the newest message waits like an up-to-date one; one past LONG_MAX is
        # a 400. (LONG_MAX itself used to overflow cursor + 1: a UBSan abort.)
        c = self.client()
        for cursor in ("99999999999999999999", "-1", "1x", "1\x002", "\x00"):
            resp, _ = c.post("/a/message/updates", {"cursor": cursor})
            self.assertEqual(resp.status, 400, cursor)
        # The poll must be waiting before the message is posted (one that came later would
        # wait for the message after it): the server has read it once its bytes left the
        # socket's queue.
        s = c.poll_socket(9223372036854775807)
        wait_server_read(self.server.port, [s.getsockname()[1]])
        m = self.client().new_message("after a far cursor")
        resp = http.client.HTTPResponse(s)
        resp.begin()
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.read())["messages"], [m])
        s.close()

    def test_long_poll_wakes_on_new_message(self):
        a, b = self.client(), self.client()
        cursor = a.new_message("before")["id"]
        result = {}

        def poll():
            start = time.monotonic()
            result["messages"] = b.updates(cursor, timeout=20)
            result["elapsed"] = time.monotonic() - start

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        self.assertNotIn("messages", result)  # still waiting: nothing new yet
        m = a.new_message("wake up")
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["messages"], [m])

    def test_many_waiters_all_wake(self):
        c = self.client()
        cursor = c.new_message("start")["id"]
        results = []

        def poll():
            results.append(self.client().updates(cursor, timeout=20))

        threads = [threading.Thread(target=poll) for _ in range(5)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        m = c.new_message("everyone")
        for t in threads:
            t.join(10)
        self.assertEqual(results, [[m]] * 5)

    def test_waiter_that_leaves_is_dropped(self):
        c = self.client()
        cursor = c.new_message("x")["id"]
        s = c.poll_socket(cursor)
        port = s.getsockname()[1]
        wait_server_read(self.server.port, [port])  # waiting
        s.close()
        # gone, as far as the server knows
        self.assertTrue(wait_server_closed(self.server.port, port),
                        "the server kept the connection of a waiter that left")
        # Waking the waiters must not touch the one that left (ASan would tell).
        m = c.new_message("after the leave")
        self.assertEqual(c.updates(cursor), [m])

    def test_message_limit_counts_characters(self):
        # The page's input says maxlength="1000" (characters, as browsers count): a message of
        # 1000 two-, three- or four-byte characters is one the page lets a person type.
        c = self.client()
        for ch in ("\u00e9", "\u65e5", "\U0001f600"):
            m = c.new_message(ch * 1000)
            self.assertEqual(m["body"], ch * 1000)
            resp, _ = c.post("/a/message/new", {"body": ch * 1001})
            self.assertEqual(resp.status, 400, ch)

    def test_bad_messages(self):
        c = self.client()
        for fields in ({"body": ""}, {"body": "x" * 1001}, {}):
            resp, _ = c.post("/a/message/new", fields)
            self.assertEqual(resp.status, 400, fields)
        resp, _ = c.request("POST", "/a/message/new",
                            headers={"Content-Type": "application/x-www-form-urlencoded",
                                     "X-Xsrftoken": c.cookies["_xsrf"]})
        self.assertEqual(resp.status, 400)
        resp, _ = c.post("/a/message/updates", {"cursor": "abc"})
        self.assertEqual(resp.status, 400)
        # Not UTF-8: rejected, so the JSON stays valid.
        body = b"body=%FF%FE&_xsrf=" + urllib.parse.quote(c.cookies["_xsrf"]).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("POST", "/a/message/new", body, {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "_xsrf=" + c.cookies["_xsrf"]})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 400)


class ChatSocket(DemoTestCase):
    """/chatsocket, the chat over a WebSocket (the page's default; /?mode=poll polls instead)."""

    def socket(self, rcvbuf=None, path="/chatsocket"):
        """A WebSocket to `path`, handshake sent (the 101 is not read)."""
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before the window
        s.settimeout(20)
        s.connect(("127.0.0.1", self.server.port))
        host = "127.0.0.1:%d" % self.server.port
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, host)).encode())
        return s

    @staticmethod
    def frames(s):
        """The frames (opcode, payload) the server sends, after its 101, until it closes."""
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                piece = s.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, data = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            while True:
                while True:  # a whole frame in `data`?
                    if len(data) >= 2:
                        n, at = data[1] & 0x7F, 2
                        if n >= 126:
                            at += 2 if n == 126 else 8
                            n = int.from_bytes(data[2:at], "big") if len(data) >= at else None
                        if n is not None and len(data) >= at + n:
                            break
                    piece = s.recv(1 << 20)
                    if not piece:
                        return
                    data += piece
                yield data[0] & 0x0F, data[at:at + n]
                data = data[at + n:]
        except ConnectionResetError:
            return

    def test_history_then_new_messages(self):
        c = self.client()
        first = c.new_message("before the socket")
        s = self.socket()
        frames = self.frames(s)
        opcode, payload = next(frames)
        self.assertEqual(opcode, 1)
        self.assertIn(first, json.loads(payload)["messages"])
        m = c.new_message("after")
        opcode, payload = next(frames)
        self.assertEqual((opcode, json.loads(payload)), (1, {"messages": [m]}))
        s.close()

    def test_history_after_the_cursor(self):
        # The page comes with the newest messages and connects with the last one's id: the
        # socket's history is what came after, not the 200 the page would drop (it did send
        # them all, up to 1.2 MB, for every page load and every reconnect).
        c = self.client()
        first = c.new_message("the page has this one")
        second = c.new_message("and not this one")
        s = self.socket(path="/chatsocket?cursor=%d" % first["id"])
        frames = self.frames(s)
        opcode, payload = next(frames)
        self.assertEqual((opcode, json.loads(payload)), (1, {"messages": [second]}))
        m = c.new_message("then the new ones")
        self.assertEqual(json.loads(next(frames)[1]), {"messages": [m]})
        s.close()
        # A cursor from the future (a made-up one) gets nothing old; one that is no id, a close.
        for cursor, expected in (("99999999999999999999", None), ("9223372036854775807", []),
                                 ("1x", None), ("-1", None)):
            s = self.socket(path="/chatsocket?cursor=" + cursor)
            opcode, payload = next(self.frames(s))
            if expected is None:
                self.assertEqual((opcode, int.from_bytes(payload[:2], "big")), (8, 1008), cursor)
            else:
                self.assertEqual((opcode, json.loads(payload)), (1, {"messages": expected}))
            s.close()

    def test_tab_that_does_not_read_is_closed(self):
        # A page that stops reading must not make the demo keep a copy of every message posted
        # for it (it did, until its pings timed out 40 s later: 20 such sockets and one poster
        # took 1 GB). Past its backlog limit (4 MiB) it is closed with 1013 and gets no more.
        c = self.client()
        stuck = self.socket(rcvbuf=4096)
        live = self.socket()
        live.recv(1 << 20)  # the 101 and the history: both sockets are open
        # 12 MB for the stuck tab, beyond what the kernel's buffers take: 3000 posts of 1000
        # four-byte characters, pipelined on one connection (the server reads on as it answers).
        body = urllib.parse.urlencode({"body": "\U0001f600" * 1000, "_xsrf": c.xsrf()}).encode()
        request = (b"POST /a/message/new HTTP/1.1\r\nHost: x\r\nCookie: _xsrf=" +
                   c.xsrf().encode() + b"\r\nContent-Type: application/x-www-form-urlencoded"
                   b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        count = 3000
        poster = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
        # The live tab reads as it goes, as a browser does: on a thread of its own.
        live_bytes = [0]

        def read_live():
            live.settimeout(60)
            try:
                while live_bytes[0] <= count * 4000:
                    piece = live.recv(1 << 20)
                    if not piece:
                        break
                    live_bytes[0] += len(piece)
            except OSError:
                pass  # the assertion below says what was missed

        reader = threading.Thread(target=read_live)
        reader.start()
        # In batches of 250 posts (~1 MB of messages per tab), the next one sent once the live
        # tab has the last: on a loaded machine (ASan, other jobs) a reader thread left behind
        # by a single 12 MB burst could fall 4 MiB back and be closed too, rightly. The stuck
        # tab reads nothing whatever the pace.
        batch, answers = 250, 0
        for sent in range(batch, count + 1, batch):
            sender = threading.Thread(target=poster.sendall, args=(request * batch,))
            sender.start()
            while answers < sent:
                piece = poster.recv(1 << 20)
                self.assertTrue(piece, "the server closed the posting connection")
                answers += piece.count(b"HTTP/1.1 200 OK")
            sender.join()
            deadline = time.monotonic() + 60
            while live_bytes[0] <= sent * 4000 and reader.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
        poster.close()
        reader.join()
        # The stuck tab: some of the messages, then the close frame (or, after the close
        # timeout, the end of the connection) -- not all of them.
        got, close = 0, None  # text frames: the history, then one per message
        for opcode, payload in self.frames(stuck):
            if opcode == 8:
                close = int.from_bytes(payload[:2], "big")
                break
            got += opcode == 1
            if got == 1 + count:
                break  # all of them: nothing was dropped
        stuck.close()
        self.assertLess(got, 1 + count)
        self.assertIn(close, (1013, None))
        # The live tab got every message (frames of more than 4000 bytes each).
        self.assertGreater(live_bytes[0], count * 4000)
        live.close()
        m = c.new_message("still serving")
        self.assertEqual(c.updates(m["id"] - 1), [m])


class ChatHistoryAndTimeout(DemoTestCase):
    ARGS = ("--poll-timeout", "1")

    def test_poll_times_out_empty(self):
        c = self.client()
        cursor = c.new_message("x")["id"]
        start = time.monotonic()
        self.assertEqual(c.updates(cursor), [])
        self.assertGreater(time.monotonic() - start, 0.5)

    def test_history_is_capped(self):
        c = self.client()
        first = c.new_message("m0")["id"]
        for i in range(1, 210):
            c.new_message("m%d" % i)
        messages = c.updates(0)
        self.assertEqual(len(messages), 200)
        self.assertEqual(messages[-1], {"id": first + 209, "body": "m209"})
        self.assertEqual([m["id"] for m in messages], list(range(first + 10, first + 210)))


class ChatAcrossRestart(unittest.TestCase):
    """A page left open while the demo restarts keeps polling with its old cursor; it must get
    the new run's messages (Tornado's demo: an unknown cursor gets the whole cache)."""

    def run_demo(self):
        server = DemoProcess("--poll-timeout", "1")
        self.addCleanup(lambda: server.proc.poll() is not None or server.stop())
        return server

    def test_old_cursor_gets_new_messages(self):
        first = self.run_demo()
        old = Client(first.port)
        for i in range(3):
            cursor = old.new_message("before %d" % i)["id"]
        status, _, err = first.stop()
        self.assertEqual(status, 0, err)

        second = self.run_demo()
        page = Client(second.port)  # the open page: old cursor, the new run's _xsrf cookie
        # Nothing new yet: the poll waits (no answer at once, which would make it spin).
        start = time.monotonic()
        self.assertEqual(page.updates(cursor), [])
        self.assertGreater(time.monotonic() - start, 0.5)
        m = Client(second.port).new_message("after the restart")
        self.assertEqual(page.updates(cursor), [m])
        self.assertGreater(m["id"], cursor)


class AccessLog(unittest.TestCase):
    """Request lines on stderr: on with --access-log; off by default when stderr is not a
    terminal (here a file), and with --no-access-log."""

    def run_demo(self, *args):
        server = DemoProcess(*args)
        try:
            for path in ("/plaintext", "/json", "/missing"):
                Client(server.port).request("GET", path)
        finally:
            status, out, err = server.stop()
        self.assertEqual(status, 0, err)
        return err

    def test_on_when_asked(self):
        err = self.run_demo("--access-log")
        for path, status, size in (("/plaintext", 200, 13), ("/json", 200, 27), ("/missing", 404, None)):
            pattern = r'^127\.0\.0\.1 - - \[[^\]]+\] "GET %s HTTP/1\.1" %d %s$' % (
                re.escape(path), status, size if size is not None else r"\d+")
            self.assertRegex(err, re.compile(pattern, re.M))

    def test_off_by_default_without_a_terminal_and_when_asked(self):
        for args in ((), ("--no-access-log",)):
            with self.subTest(args=args):
                self.assertNotIn('"GET /plaintext', self.run_demo(*args))


class ShutdownWithWaiters(unittest.TestCase):
    def test_sigterm_while_requests_wait(self):
        server = DemoProcess()
        c = Client(server.port)
        cursor = c.new_message("x")["id"]
        socks = [c.poll_socket(cursor)]
        for request in (b"GET /delay?seconds=9 HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(request)
            socks.append(s)
        # every request is waiting in the server when SIGTERM comes
        wait_server_read(server.port, [s.getsockname()[1] for s in socks])
        status, out, err = server.stop()
        for s in socks:
            s.close()
        self.assertEqual(status, 0, err)
        self.assertIn("demo stopped", out)
        for marker in SANITIZER_MARKERS:
            self.assertNotIn(marker, err)


class CommandLineTest(unittest.TestCase):
    """--port and --poll-timeout: anything but a port 0-65535 / a number of seconds is refused
    (atoi took "abc" as port 0, a random one, and "8080x" as 8080)."""

    def test_malformed_numbers_refused(self):
        assert_refused(self, "demo", [SERVER], "--port", BAD_PORTS)
        assert_refused(self, "demo", [SERVER, "--port", "0"], "--poll-timeout", BAD_SECONDS)
        assert_needs_value(self, "demo", [SERVER, "--port", "0"],
                           ("--port", "--address", "--static", "--templates", "--cookie-secret",
                            "--poll-timeout"))

    def test_unknown_option_refused(self):
        # It printed the usage line alone, and "demo --prot" said "--prot wants a value".
        assert_unknown_refused(self, "demo", [SERVER, "--port", "0"])


def main():
    global SERVER
    argv = list(sys.argv)
    if "--server" not in argv:
        sys.exit("usage: test_demo.py --server PATH [unittest options]")
    i = argv.index("--server")
    SERVER = argv[i + 1]
    del argv[i:i + 2]
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
