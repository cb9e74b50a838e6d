#!/usr/bin/env python3
"""The reverse proxy example (server + client) in front of http_api_server: requests, bodies,
streamed chunked responses, forwarded headers, HTTPS on the proxy, 502 when the upstream is
down, and a client that leaves mid-response; then in front of a raw upstream that answers
badly (broken framing, odd reasons, hop-by-hop fields, bodies cut short)."""
import argparse
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from counting_server import CountingServer  # noqa: E402
from tls_certs import make_certs  # noqa: E402
from cmdline_check import (BAD_PORTS, BAD_SECONDS, assert_needs_value,  # noqa: E402
                           assert_refused, assert_unknown_refused)

PROXY = API = None
CERTS = None


class Proc:
    def __init__(self, cmd):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on \S+:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("did not start: %s %r" % (cmd, line))
        self.port = int(m.group(1))

    def stop(self, tc=None):
        """SIGTERM; returns what the process wrote to stderr (with `tc`, a clean exit asserted)."""
        self.proc.terminate()
        rc = self.proc.wait(timeout=10)
        self.err.seek(0)
        log = self.err.read().decode(errors="replace")
        self.err.close()
        if tc:
            tc.assertEqual(rc, 0, log)
        return log


class ReverseProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = Proc([API, "--port", "0", "--host", "127.0.0.1"])
        cls.proxy = Proc([PROXY, "--upstream", "http://127.0.0.1:%d" % cls.api.port])

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop(unittest.TestCase())
        cls.api.stop()

    def request(self, method, path, body=None, headers=None, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.proxy.port, timeout=20)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def test_get_with_query_and_forwarded_headers(self):
        r, data = self.request("GET", "/echo?a=1&b=two", headers={"X-Custom": "yes"})
        self.assertEqual(r.status, 200)
        echo = json.loads(data)
        self.assertEqual(echo["path"], "/echo")
        self.assertEqual(echo["query"], "a=1&b=two")
        headers = {n.lower(): v for n, v in echo["headers"]}
        self.assertEqual(headers["x-custom"], "yes")
        self.assertEqual(headers["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(headers["x-forwarded-proto"], "http")

    def test_post_body(self):
        r, data = self.request("POST", "/echo", body=b"x" * 100000,
                               headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(data)["body"], "x" * 100000)

    def test_status_and_streamed_response(self):
        r, data = self.request("GET", "/status?code=418&reason=Teapot")
        self.assertEqual((r.status, r.reason), (418, "Teapot"))
        r, data = self.request("GET", "/stream?n=5&ms=20")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(data, b"".join(b"chunk-%d\n" % i for i in range(5)))

    def test_keepalive_many_requests(self):
        c = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=20)
        for i in range(20):
            c.request("GET", "/echo?i=%d" % i)
            self.assertEqual(json.loads(c.getresponse().read())["query"], "i=%d" % i)
        c.close()

    def test_client_leaves_mid_response(self):
        s = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=20)
        s.sendall(b"GET /longpoll HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
        r, data = self.request("GET", "/echo?after=1")
        self.assertEqual(json.loads(data)["query"], "after=1")

    def test_upstream_down_gives_502(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
            p = Proc([PROXY, "--upstream", "http://127.0.0.1:%d" % dead])
            try:
                r, data = self.request("GET", "/", port=p.port)
                self.assertEqual(r.status, 502)
                self.assertIn(b"connection refused", data)
            finally:
                p.stop(self)

    def test_https_front(self):
        p = Proc([PROXY, "--upstream", "http://127.0.0.1:%d" % self.api.port,
                  "--cert", CERTS["server.crt"], "--key", CERTS["server.key"]])
        try:
            ctx = ssl.create_default_context(cafile=CERTS["ca.crt"])
            c = http.client.HTTPSConnection("localhost", p.port, context=ctx, timeout=20)
            c.request("GET", "/echo?tls=1")
            echo = json.loads(c.getresponse().read())
            headers = {n.lower(): v for n, v in echo["headers"]}
            self.assertEqual(headers["x-forwarded-proto"], "https")
            c.close()
        finally:
            p.stop(self)


class RawUpstream:
    """Reads one request per connection and answers with `replies[path]` (bytes, or a list of
    bytes sent 0.3 s apart; None: no answer until the proxy leaves), then closes. Keeps each
    request head it read in `seen`."""

    def __init__(self, replies):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.replies, self.seen = replies, []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(c,), daemon=True).start()

    def answer(self, c):
        with c:
            c.settimeout(10)
            buf = b""
            try:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head = buf.split(b"\r\n\r\n", 1)[0]
                self.seen.append(head)
                path = head.split(b" ")[1].decode().split("?")[0]
                reply = self.replies[path]
                if reply is None:
                    c.settimeout(60)
                    c.recv(1)
                    return
                for i, part in enumerate(reply if isinstance(reply, list) else [reply]):
                    if i:
                        time.sleep(0.3)
                    c.sendall(part)
            except OSError:
                pass

    def stop(self):
        self.sock.close()


class UnixUpstreamTest(unittest.TestCase):
    """--upstream unix:PATH (gunicorn's --bind unix:, the Docker API): the proxy reaches the
    upstream over that Unix socket, as http://localhost (nginx's Host for such upstreams)."""

    def test_unix_upstream(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "up.sock")
            seen = []
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(8)

            def serve():
                while True:
                    try:
                        c, _ = listener.accept()
                    except OSError:
                        return
                    with c:
                        c.settimeout(10)
                        buf = b""
                        while b"\r\n\r\n" not in buf:
                            d = c.recv(65536)
                            if not d:
                                break
                            buf += d
                        seen.append(buf.split(b"\r\n\r\n", 1)[0])
                        c.sendall(OK + b"Content-Length: 4\r\nConnection: close\r\n\r\nunix")
            threading.Thread(target=serve, daemon=True).start()
            p = Proc([PROXY, "--upstream", "unix:" + path])
            try:
                c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=20)
                c.request("GET", "/v1/info?all=1")
                r = c.getresponse()
                self.assertEqual((r.status, r.read()), (200, b"unix"))
                c.close()
                lines = seen[0].decode().split("\r\n")
                self.assertEqual(lines[0], "GET /v1/info?all=1 HTTP/1.1")
                self.assertIn("Host: localhost", lines)
            finally:
                p.stop(self)
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
                listener.close()
                os.unlink(path)
            # The socket is gone: 502, the log naming the socket.
            p = Proc([PROXY, "--upstream", "unix:" + path])
            try:
                c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=20)
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read()
                self.assertEqual(r.status, 502)
                # eddy_strerror(EDDY_ENOENT) in the body: it read "no such item".
                self.assertEqual(body, b"upstream error: no such file or entry\n")
                c.close()
            finally:
                log = p.stop(self)
            self.assertIn("connect to unix:%s: No such file or directory" % path, log)
        # A path no sockaddr_un holds is refused at start.
        r = subprocess.run([PROXY, "--upstream", "unix:/" + "a" * 200], capture_output=True,
                           timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"not a usable socket path", r.stderr)


OK = b"HTTP/1.1 200 OK\r\n"


class HostileUpstreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = RawUpstream({
            "/bad-chunk": OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            "/head-then-close": OK + b"Content-Length: 100\r\n\r\n",
            "/reason": b"HTTP/1.1 404 <Not Found>\r\nContent-Length: 4\r\n\r\ngone",
            "/length": OK + b"Content-Length: 1234\r\nContent-Type: text/plain\r\n\r\n",
            "/cut": [OK + b"Content-Length: 100\r\n\r\nhello", b""],
            "/cut-chunked": [OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"5\r\nwo"],
            "/hop": OK + b"Connection: X-Secret, close\r\nX-Secret: s\r\nX-Keep: k\r\n"
                    b"Proxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok",
            "/echo": OK + b"Content-Length: 2\r\n\r\nok",  # `seen` keeps what it got
            "/hang": None,
        })
        cls.proxy = Proc([PROXY, "--upstream", "http://127.0.0.1:%d" % cls.up.port])

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop(unittest.TestCase())
        cls.up.stop()

    def request(self, method, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=20)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        try:
            return r, r.read()
        finally:
            c.close()

    def test_broken_upstream_before_its_body_is_a_502(self):
        # The head came, then broken framing or a close: nothing of it went out yet, so the
        # client gets 502, not the upstream's 200 with an empty body that looks complete.
        for path in ("/bad-chunk", "/head-then-close"):
            r, data = self.request("GET", path)
            self.assertEqual(r.status, 502, (path, data))

    def test_status_kept_when_its_reason_cannot_be_sent(self):
        # The server refuses a reason with '<'; the status must not fall back to 200.
        r, data = self.request("GET", "/reason")
        self.assertEqual((r.status, r.reason, data), (404, "Not Found", b"gone"))

    def test_head_keeps_the_upstreams_length(self):
        r, data = self.request("HEAD", "/length")
        self.assertEqual((r.status, r.getheader("Content-Length"), data), (200, "1234", b""))

    def test_body_cut_upstream_is_not_complete_downstream(self):
        # 5 of 100 bytes went out before the upstream closed: the client must see a cut answer.
        with self.assertRaises(http.client.IncompleteRead):
            self.request("GET", "/cut")

    def test_chunked_body_cut_upstream_is_not_complete_downstream(self):
        # A chunked upstream breaking off mid-body: without a length to fall short of, only the
        # missing last chunk tells the client (eddy_request_abort); finish sent it.
        with self.assertRaises(http.client.IncompleteRead):
            self.request("GET", "/cut-chunked")

    def test_hop_by_hop_fields_removed_both_ways(self):
        # RFC 9110 7.6.1: fields named in Connection are hop-by-hop; Proxy-Authenticate is for
        # the proxy. X-Forwarded-Proto is the proxy's to say; Via names it (7.6.3).
        r, data = self.request("GET", "/hop")
        self.assertEqual(data, b"ok")
        self.assertIsNone(r.getheader("X-Secret"))
        self.assertIsNone(r.getheader("Proxy-Authenticate"))
        self.assertEqual(r.getheader("X-Keep"), "k")
        self.request("GET", "/echo", headers={"Connection": "x-private", "X-Private": "secret",
                                             "X-Other": "o", "X-Forwarded-Proto": "https"})
        head = self.up.seen[-1].decode().lower()
        self.assertNotIn("x-private", head)
        self.assertIn("x-other: o", head)
        self.assertEqual(re.findall(r"x-forwarded-proto: (\S+)", head), ["http"])
        self.assertIn("via: 1.1 eddy-reverse-proxy", head)

    def test_slow_upstream_requests_do_not_hold_up_others(self):
        # Twelve requests the upstream sits on: others still go through at once (the client's
        # default of 10 fetches at a time queued them behind the hanging ones for 20 s).
        hanging = []
        try:
            for _ in range(12):
                s = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=20)
                s.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
                hanging.append(s)
            time.sleep(0.5)
            c = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=5)
            c.request("GET", "/echo")
            self.assertEqual(c.getresponse().read(), b"ok")
            c.close()
        finally:
            for s in hanging:
                s.close()

    def test_target_forwarded_whole(self):
        # An absolute-form target (RFC 9112 3.2.2) and a target longer than 4 KB.
        s = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=20)
        s.sendall(b"GET http://front.example/echo?a=1 HTTP/1.1\r\nHost: front.example\r\n"
                  b"Connection: close\r\n\r\n")
        answer = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            answer += d
        s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:100])
        self.assertTrue(self.up.seen[-1].startswith(b"GET /echo?a=1 HTTP/1.1"))
        q = "q=" + "a" * 6000 + "&end=1"
        r, data = self.request("GET", "/echo?" + q)
        self.assertEqual(r.status, 200)
        self.assertTrue(self.up.seen[-1].startswith(b"GET /echo?" + q.encode() + b" HTTP/1.1"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class FlowControlTest(unittest.TestCase):
    def test_client_that_does_not_read_does_not_make_the_proxy_buffer(self):
        # 64 MiB from the upstream to a client that reads the head and stops: the proxy used to
        # read it all and hold it (8 -> 118 MB RSS); now it pauses the upstream once 1 MiB waits
        # for the client, and TCP holds the upstream back.
        body = os.urandom(64 << 20)
        up = CountingServer(OK + b"Content-Length: %d\r\n\r\n" % len(body), body, timeout=60)
        proxy = Proc([PROXY, "--upstream", "http://127.0.0.1:%d" % up.port])
        try:
            rss_before = rss_kib(proxy.proc.pid)
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=60)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            got = s.recv(4096)
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
            stalled = up.wait_stalled()
            grown = rss_kib(proxy.proc.pid) - rss_before
            # What the upstream got out: socket buffers on both sides of the proxy (a few MiB
            # each on loopback) and the proxy's 1 MiB mark, far from the body.
            self.assertLess(stalled, len(body) // 2)
            self.assertLess(grown, 16 << 10, "proxy RSS grew by %d KiB" % grown)
            # The client reads on: everything arrives, in order.
            s.settimeout(60)
            while b"\r\n\r\n" not in got:
                got += s.recv(65536)
            head, rest = got.split(b"\r\n\r\n", 1)
            data = bytearray(rest)
            while len(data) < len(body):
                d = s.recv(1 << 20)
                if not d:
                    break
                data += d
            s.close()
            self.assertEqual(len(data), len(body))
            self.assertEqual(zlib.crc32(data), zlib.crc32(body))
        finally:
            up.stop()
            proxy.stop(self)

    def test_read_timeout_instead_of_a_time_for_the_whole_answer(self):
        up = RawUpstream({
            "/hang": None,
            "/trickle": [OK + b"Content-Length: 5\r\n\r\n", b"a", b"b", b"c", b"d", b"e"],
        })
        proxy = Proc([PROXY, "--upstream", "http://127.0.0.1:%d" % up.port,
                      "--upstream-read-timeout", "1"])
        log = None
        try:
            # Silent upstream: 504 from the read timeout (it was 20 s, the request timeout).
            # Which timeout ended the fetch is in the proxy's log line, not in how long it
            # took: a request timeout would say "no complete response within 20 s", and with
            # none at all the client's own 30 s would run out first.
            c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
            c.request("GET", "/hang")
            r = c.getresponse()
            r.read()
            c.close()
            self.assertEqual(r.status, 504)
            # An answer that takes 1.5 s in all but never 1 s between reads goes through.
            c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
            c.request("GET", "/trickle")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"abcde"))
            c.close()
        finally:
            log = proxy.stop(self)
            up.stop()
        self.assertEqual(re.findall(r"^upstream \S+/hang: .*$", log, re.M),
                         ["upstream http://127.0.0.1:%d/hang: timed out "
                          "(no data from the server for 1 s)" % up.port], log)
        self.assertNotIn("/trickle", log)


class CommandLineTest(unittest.TestCase):
    """--port and --upstream-read-timeout: anything but a port 0-65535 / a number of seconds is
    refused (atoi / atof took "abc" as 0: a random port, and no upstream read timeout)."""

    def test_malformed_numbers_refused(self):
        argv = [PROXY, "--upstream", "http://127.0.0.1:1"]
        assert_refused(self, "reverse_proxy", argv, "--port", BAD_PORTS)
        assert_refused(self, "reverse_proxy", argv + ["--port", "0"], "--upstream-read-timeout",
                       BAD_SECONDS)

    def test_trailing_option_without_value_refused(self):
        argv = [PROXY, "--upstream", "http://127.0.0.1:1", "--port", "0"]
        assert_needs_value(self, "reverse_proxy", argv,
                           ("--port", "--upstream", "--cert", "--key", "--upstream-ca",
                            "--upstream-read-timeout"))

    def test_unknown_option_refused(self):
        # "reverse_proxy --upstream URL --prot 9000" served on a random port; an unknown option
        # given last said it wanted a value, as a known one does.
        argv = [PROXY, "--upstream", "http://127.0.0.1:1", "--port", "0"]
        assert_unknown_refused(self, "reverse_proxy", argv)
        assert_unknown_refused(self, "reverse_proxy", [PROXY], ("--unknown",))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--api-server", required=True)
    args, rest = ap.parse_known_args()
    PROXY, API = args.proxy, args.api_server
    with tempfile.TemporaryDirectory() as d:
        CERTS = make_certs(d)
        unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
