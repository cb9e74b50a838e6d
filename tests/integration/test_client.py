#!/usr/bin/env python3
"""HTTP client tests: fetch_tool (eddy's client through its C API) against eddy's own servers,
Debian's nginx on a free loopback port (static files, gzip+chunked, redirects, https, keep-alive
reuse read back from nginx's access log), a CONNECT proxy, and raw Python servers for errors."""
import argparse
import atexit
import base64
import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import struct
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
from tunnel import read_head, relay, serve_connect  # noqa: E402

FETCH = SERVER = API_SERVER = None
# Debian puts nginx in /usr/sbin, which is not on every user's PATH.
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CERTS = None
TMP = None


def fetch(*args, timeout=60):
    p = subprocess.run([FETCH, *args], capture_output=True, timeout=timeout)
    assert p.returncode == 0, (p.returncode, p.stderr)
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]


def one(*args):
    results = fetch(*args)
    assert len(results) == 1, results
    return results[0]


def header(result, name):
    for n, v in result["headers"]:
        if n.lower() == name.lower():
            return v
    return None


class Proc:
    def __init__(self, cmd, pattern=r"listening on (\S+):(\d+)"):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err)
        self.port = None
        while self.port is None:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("did not start: %s" % cmd)
            m = re.search(pattern, line)
            if m:
                self.port = int(m.group(2))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.err.seek(0)
        self.log = self.err.read().decode(errors="replace")
        self.err.close()


def srv_log(proc):
    return proc.log


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx with a temporary prefix and config, in the foreground (`daemon off`) as a child of
    this process in a process group of its own, ended by its PID; retried on another port if it
    loses a race. A daemonized nginx left this process's tree: when ctest killed the suite on
    its timeout, nobody stopped it and it kept its ports and workers."""

    def __init__(self, root, api_port):
        self.dir = tempfile.mkdtemp(dir=TMP)
        self.proc = None
        atexit.register(self.stop)  # also when the suite dies before tearDownClass
        error_log = os.path.join(self.dir, "error.log")
        for attempt in range(5):
            self.port, self.tls_port = free_port(), free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            os.chmod(self.dir, 0o755)
            with open(conf, "w") as f:
                f.write(NGINX_CONF % dict(dir=self.dir, root=root, port=self.port,
                                          tls_port=self.tls_port, api=api_port,
                                          crt=CERTS["server.crt"], key=CERTS["server.key"]))
            self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf, "-e", error_log],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
            if self._listening(self.proc, 20.0):
                return
            self.stop()  # it lost a port (it exits then), or it hangs: the next attempt
        with open(error_log, errors="replace") as f:
            raise RuntimeError("nginx did not start: %s" % f.read()[-2000:])

    def _listening(self, proc, limit):
        """Whether both ports accept connections before `proc` exits or `limit` seconds pass."""
        deadline = time.monotonic() + limit
        waiting = [self.port, self.tls_port]
        while waiting and proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", waiting[0]), timeout=1).close()
                waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        return not waiting and proc.poll() is None

    def access_log(self):
        with open(os.path.join(self.dir, "access.log")) as f:
            return f.read().splitlines()

    def access_log_lines(self, prefix, count, timeout=10.0):
        """The log lines starting with prefix, once there are count of them (or the timeout).

        nginx writes a request's line after it sent the answer, so a client that has read the
        answer can look at the log before the line is there (seen in CI on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in self.access_log() if l.startswith(prefix)]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def stop(self):
        # The master ends its workers on SIGTERM (fast shutdown); the group is killed only if
        # it does not end in time. Once: the atexit call finds nothing left to do.
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


NGINX_CONF = """
daemon off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 64; }
http {
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    log_format conn '$request_uri $connection $connection_requests';
    access_log %(dir)s/access.log conn;
    keepalive_requests 100;
    gzip on;
    gzip_min_length 0;
    gzip_types text/plain;
    types { text/plain txt; application/octet-stream bin; }
    server {
        listen 127.0.0.1:%(port)d;
        listen 127.0.0.1:%(tls_port)d ssl;
        ssl_certificate %(crt)s;
        ssl_certificate_key %(key)s;
        root %(root)s;
        location /redir { return 302 /small.txt; }
        location /redir-rel { return 301 small.txt; }
        location /loop { return 302 /loop; }
        location /post303 { return 303 /method; }
        location /method { default_type text/plain; return 200 "$request_method auth=$http_authorization cookie=$http_cookie"; }
        location /same-origin { return 302 /method; }
        location /cross-origin { return 302 http://127.0.0.1:%(api)d/echo; }
        location /host { default_type text/plain; return 200 "host=$http_host auth=$http_authorization"; }
    }
}
"""


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A minimal HTTP proxy: CONNECT tunnels and absolute-URI GETs; it records what it saw."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.seen = []
        self.heads = []  # (request line, header lines)
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.connection.settimeout(20)
        line, head = read_head(self.rfile)
        self.server.seen.append(line.strip())
        self.server.heads.append((line.strip(), b"".join(head).decode()))
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            serve_connect(self, target)
        else:
            m = re.match(r"http://([^/:]+):(\d+)(/.*)", target)
            upstream = socket.create_connection((m.group(1), int(m.group(2))), timeout=20)
            upstream.sendall(("%s %s HTTP/1.1\r\n" % (method, m.group(3))).encode() + b"".join(
                h for h in head if not h.lower().startswith(b"connection")) + b"Connection: close\r\n\r\n")
            data = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                data += chunk
            data = data.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
            self.wfile.write(data)
            upstream.close()


class InterimProxy:
    """A CONNECT proxy that answers with `pieces` (sent one by one, a moment apart), then, when
    the last one says 2xx, relays to the origin on 127.0.0.1:`origin_port`."""

    def __init__(self, pieces, origin_port):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.pieces, self.origin_port, self.conns = pieces, origin_port, []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(c)
        c.settimeout(20)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                d = c.recv(4096)
                if not d:
                    return
                head += d
            for piece in self.pieces:
                c.sendall(piece)
                time.sleep(0.02)
            if self.pieces[-1].rsplit(b"\r\n\r\n", 2)[-2].split(b" ")[1].startswith(b"2"):
                relay(c, socket.create_connection(("127.0.0.1", self.origin_port), timeout=20))
        except OSError:
            pass

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class RawServer:
    """Accepts connections and answers each with `reply` (bytes, or None: say nothing)."""

    def __init__(self, reply, close=True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reply, self.close = reply, close
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(5)
            self.answer(c)

    def answer(self, c):
        try:
            c.recv(65536)
        except OSError:
            pass
        if self.reply is None:
            self.held.append(c)
            return
        c.sendall(self.reply)
        if self.close:
            c.close()
        else:
            self.held.append(c)

    def stop(self):
        self.sock.close()
        for c in self.held:
            c.close()


class ScriptServer:
    """Reads whole requests (head and Content-Length body) and lets `script(conn_no, req_no,
    head, body)` answer each: bytes to send, or None to close the connection without an answer.
    Keeps every request it read in `seen` as (conn_no, head, body)."""

    def __init__(self, script):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.script, self.seen, self.conns = script, [], []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        n = 0
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.talk, args=(c, n), daemon=True).start()
            n += 1

    def talk(self, c, conn_no):
        c.settimeout(10)
        buf, req_no = b"", 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                need = int(m.group(1)) if m else 0
                while len(buf) < need:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                body, buf = buf[:need], buf[need:]
                self.seen.append((conn_no, head, body))
                reply = self.script(conn_no, req_no, head, body)
                req_no += 1
                if reply is None:
                    c.close()
                    return
                c.sendall(reply)
        except OSError:
            return

    def stop(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


class TlsServer(RawServer):
    """A TLS server that answers each connection with `reply` and closes, with a close_notify
    (`notify`) or without one (a bare TCP close, as an attacker cutting the stream would); it
    records the requests it read."""

    def __init__(self, reply, notify, cert="server"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(CERTS[cert + ".crt"], CERTS[cert + ".key"])
        self.notify = notify
        self.requests = []
        super().__init__(reply)

    def answer(self, raw):
        c = raw
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data)
            c.sendall(self.reply)
            if self.notify:
                c = c.unwrap()  # close_notify; then the plain socket
        except (OSError, ssl.SSLError):
            pass
        c.close()  # an SSLSocket closes without close_notify


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        root = os.path.join(TMP, "www")
        os.mkdir(root)
        os.chmod(TMP, 0o755)  # nginx's workers may run as another user
        os.chmod(root, 0o755)
        cls.big = os.urandom(300_000)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(cls.big)
        cls.text = ("eddy client test line\n" * 2000).encode()
        with open(os.path.join(root, "text.txt"), "wb") as f:
            f.write(cls.text)
        with open(os.path.join(root, "small.txt"), "w") as f:
            f.write("small file\n")
        cls.api = Proc([API_SERVER, "--port", "0", "--host", "127.0.0.1"])
        cls.api6 = Proc([API_SERVER, "--port", "0", "--host", "::1"])
        cls.tls = Proc([SERVER, "--cert", CERTS["server.crt"], "--key", CERTS["server.key"]])
        cls.nginx = Nginx(root, cls.api.port)

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        for p in (cls.api, cls.api6, cls.tls):
            p.stop()

    def ng(self, path, tls=False):
        if tls:
            return "https://localhost:%d%s" % (self.nginx.tls_port, path)
        return "http://127.0.0.1:%d%s" % (self.nginx.port, path)

    # ---- nginx --------------------------------------------------------------------------------

    def test_nginx_static_binary(self):
        r = one(self.ng("/big.bin"))
        self.assertEqual(r["error"], "")
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["body_len"], len(self.big))
        self.assertEqual(header(r, "Content-Length"), str(len(self.big)))

    def test_nginx_gzip_chunked_decoded(self):
        r = one("--chunks", self.ng("/text.txt"))
        self.assertEqual(r["error"], "")
        # Decoded: the field is renamed, as Tornado does (the body is no longer gzip).
        self.assertIsNone(header(r, "Content-Encoding"))
        self.assertEqual(header(r, "X-Consumed-Content-Encoding"), "gzip")
        self.assertEqual(header(r, "Transfer-Encoding"), "chunked")
        self.assertEqual(r["body_len"], len(self.text))  # decoded size
        self.assertGreater(r["chunks"], 0)
        r = one(self.ng("/text.txt"))
        self.assertEqual(r["body"], self.text[:2000].decode())
        r = one("--no-decompress", "--header", "Accept-Encoding: gzip", self.ng("/text.txt"))
        self.assertEqual(header(r, "Content-Encoding"), "gzip")
        self.assertLess(r["body_len"], len(self.text))  # still compressed

    def test_nginx_keepalive_reuse_in_access_log(self):
        marker = "/small.txt?reuse=%d" % os.getpid()
        results = fetch("--sequential", "--repeat", "3", self.ng(marker))
        self.assertEqual([r["reused"] for r in results], [0, 1, 1])
        lines = [l.split() for l in self.nginx.access_log_lines(marker, 3)]
        self.assertEqual(len(lines), 3)
        self.assertEqual(len({l[1] for l in lines}), 1, lines)  # one connection
        self.assertEqual([l[2] for l in lines], ["1", "2", "3"])

    def test_nginx_https_keepalive(self):
        results = fetch("--cacert", CERTS["ca.crt"], "--sequential", "--repeat", "2",
                        self.ng("/small.txt?tls=1", tls=True))
        self.assertEqual([r["body"] for r in results], ["small file\n"] * 2)
        self.assertEqual(results[1]["reused"], 1)

    def test_redirects(self):
        r = one(self.ng("/redir"))
        self.assertEqual((r["status"], r["redirects"], r["body"]), (200, 1, "small file\n"))
        self.assertTrue(r["effective_url"].endswith("/small.txt"))
        r = one(self.ng("/redir-rel"))
        self.assertEqual((r["status"], r["body"]), (200, "small file\n"))
        r = one(self.ng("/loop"))
        self.assertEqual((r["status"], r["redirects"]), (302, 5))
        r = one("--max-redirects", "0", self.ng("/redir"))
        self.assertEqual((r["status"], r["redirects"]), (302, 0))

    def test_redirect_303_becomes_get(self):
        r = one("--data", "payload", self.ng("/post303"))
        self.assertEqual(r["status"], 200)
        self.assertTrue(r["body"].startswith("GET "), r["body"])

    def test_redirect_credentials(self):
        hdrs = ["--header", "Authorization: Bearer secret", "--header", "Cookie: c=1"]
        r = one(*hdrs, self.ng("/same-origin"))
        self.assertEqual(r["body"], "GET auth=Bearer secret cookie=c=1")
        r = one(*hdrs, self.ng("/cross-origin"))
        self.assertEqual(r["status"], 200)
        names = [n.lower() for n, _ in json.loads(r["body"])["headers"]]
        self.assertNotIn("authorization", names)
        self.assertNotIn("cookie", names)

    def test_own_host_header(self):
        # Tornado's client sends the application's Host as given (virtual hosts behind one
        # address); after a redirect the Location names the host.
        r = one("--header", "Host: vhost.example", self.ng("/host"))
        self.assertEqual(r["body"], "host=vhost.example auth=")
        r = one("--header", "Host: vhost.example", self.ng("/cross-origin"))
        self.assertEqual(r["status"], 200)
        hosts = [v for n, v in json.loads(r["body"])["headers"] if n.lower() == "host"]
        self.assertEqual(hosts, ["127.0.0.1:%d" % self.api.port])

    def test_url_credentials_become_basic_auth(self):
        # RFC 7617 basic credentials from the URL's userinfo (percent-decoded), as Tornado and
        # curl send them; never in the effective URL.
        url = self.ng("/host").replace("http://", "http://us%65r:p%40ss:w@")
        r = one(url)
        basic = "Basic " + base64.b64encode(b"user:p@ss:w").decode()
        self.assertEqual(r["body"], "host=127.0.0.1:%d auth=%s" % (self.nginx.port, basic))
        self.assertNotIn("@", r["effective_url"])
        self.assertNotIn("p%40ss", r["effective_url"])
        r = one(self.ng("/host").replace("http://", "http://alone@"))  # no password
        self.assertTrue(r["body"].endswith("auth=Basic " + base64.b64encode(b"alone:").decode()))
        # An Authorization header of the application's own wins.
        r = one("--header", "Authorization: Bearer t", url)
        self.assertTrue(r["body"].endswith("auth=Bearer t"), r["body"])
        # Kept over a same-origin redirect, dropped on a cross-origin one.
        r = one(self.ng("/same-origin").replace("http://", "http://us%65r:p%40ss:w@"))
        self.assertEqual(r["body"], "GET auth=%s cookie=" % basic)
        r = one(self.ng("/cross-origin").replace("http://", "http://us%65r:p%40ss:w@"))
        names = [n.lower() for n, _ in json.loads(r["body"])["headers"]]
        self.assertNotIn("authorization", names)
        # Userinfo outside RFC 3986's grammar is refused before anything is sent.
        r = one(self.ng("/host").replace("http://", "http://us[er@"))
        self.assertEqual(r, {"start_error": "EDDY_EINVAL"})

    # ---- eddy's own servers -------------------------------------------------------------------

    def test_eddy_server_chunked_stream(self):
        r = one("--chunks", "http://127.0.0.1:%d/stream?n=4&ms=5" % self.api.port)
        self.assertEqual(header(r, "Transfer-Encoding"), "chunked")
        self.assertEqual(r["body_len"], len("".join("chunk-%d\n" % i for i in range(4))))

    def test_eddy_server_post_streamed_and_continue(self):
        url = "http://127.0.0.1:%d/echo" % self.api.port
        r = one("--data", "hello body", "--expect-continue", url)
        self.assertEqual(json.loads(r["body"])["body"], "hello body")
        r = one("--stream-body", "abcdefghij" * 100, url)
        echoed = json.loads(r["body"])
        self.assertEqual(echoed["body"], "abcdefghij" * 100)
        self.assertIn(["Transfer-Encoding", "chunked"], echoed["headers"])

    def test_final_answer_before_100_continue_keeps_the_body(self):
        # RFC 9110 10.1.1: a server that answers "Expect: 100-continue" with a final status
        # decided without the content. The client waited one second for a 100, and that wait
        # ran on while the answer's body came slowly: the body went out after the server's
        # answer and the connection went back to the pool, the body ahead of the next request.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        after = []

        def serve():
            c, _ = srv.accept()
            c.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(65536)
            c.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\n")
            time.sleep(1.5)  # past the client's one-second wait for a 100
            c.sendall(b"nope")
            got = b""
            try:
                while True:  # until the client closes (fetch_tool frees its client at the end)
                    d = c.recv(65536)
                    if not d:
                        break
                    got += d
            except OSError:
                pass
            after.append(got)
            c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            r = one("--expect-continue", "--data", "THEBODY", "--timeout", "10",
                    "http://127.0.0.1:%d/" % port)
        finally:
            t.join(30)
            srv.close()
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 401, "nope"), r)
        self.assertEqual(after, [b""])

    def test_no_expect_continue_without_content(self):
        # RFC 9110 10.1.1: a client MUST NOT send a 100-continue expectation in a request
        # without content. A stream announced with length 0 has none: it went out with
        # "Content-Length: 0" and "Expect: 100-continue".
        srv = ScriptServer(lambda conn, req, head, body: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            url = "http://127.0.0.1:%d/" % srv.port
            for args in (["--stream-body", "", "--stream-length", "0"], ["--method", "POST"]):
                r = one("--expect-continue", *args, url)
                self.assertEqual((r["error"], r["body"]), ("", "ok"), r)
                head = srv.seen[-1][1]
                self.assertIn(b"Content-Length: 0", head)
                self.assertNotIn(b"Expect", head)
        finally:
            srv.stop()

    def test_streamed_body_not_replayed_by_a_redirect(self):
        # A streamed body cannot be sent again: a redirect that keeps the method (301/302 for
        # anything but POST, 307/308) is not followed. 301 after a streamed PUT was: the new
        # request went out with "0\r\n\r\n" as its whole body, and the echo got an empty PUT.
        target = "http://127.0.0.1:%d/echo" % self.api.port
        for status, method in ((301, "PUT"), (302, "PATCH"), (307, "POST")):
            raw = RawServer(b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                            % (status, target.encode()))
            try:
                r = one("--method", method, "--stream-body", "abcdefghij" * 10,
                        "http://127.0.0.1:%d/" % raw.port)
            finally:
                raw.stop()
            self.assertEqual((r["error"], r["status"], r["redirects"]), ("", status, 0), r)
        # POST after 302 becomes a GET without a body: that one is followed.
        raw = RawServer(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                        % target.encode())
        try:
            r = one("--stream-body", "abcdefghij" * 10, "http://127.0.0.1:%d/" % raw.port)
        finally:
            raw.stop()
        self.assertEqual((r["error"], r["status"], r["redirects"]), ("", 200, 1), r)
        self.assertEqual(json.loads(r["body"])["method"], "GET")

    def test_ipv6(self):
        r = one("http://[::1]:%d/echo?x=1" % self.api6.port)
        self.assertEqual(r["status"], 200)
        self.assertEqual(json.loads(r["body"])["host"], "[::1]:%d" % self.api6.port)

    def test_https_eddy_and_verification(self):
        r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/x" % self.tls.port)
        self.assertEqual(r["body"], "scheme=https path=/x\n")
        r = one("https://localhost:%d/x" % self.tls.port)  # our CA is not trusted by default
        self.assertEqual(r["error"], "EDDY_ETLS")
        r = one("--no-verify", "https://localhost:%d/x" % self.tls.port)
        self.assertEqual(r["status"], 200)

    def test_tls_session_resumed_on_new_connections(self):
        srv = Proc([SERVER, "--cert", CERTS["server.crt"], "--key", CERTS["server.key"], "--debug"])
        try:
            url = "https://localhost:%d/r" % srv.port
            results = fetch("--cacert", CERTS["ca.crt"], "--no-reuse", "--sequential", "--repeat", "3", url)
            self.assertEqual([r["reused"] for r in results], [0, 0, 0])  # new TCP connections
        finally:
            srv.stop()
        # The server's debug log tells full from resumed handshakes.
        log = srv_log(srv)
        self.assertEqual(log.count("server handshake done"), 3, log)
        self.assertEqual(log.count("resumed)"), 2, log)

    def test_bad_certificates(self):
        selfsigned = Proc([SERVER, "--cert", CERTS["self.crt"], "--key", CERTS["self.key"]])
        other = Proc([SERVER, "--cert", CERTS["other.crt"], "--key", CERTS["other.key"]])
        try:
            r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/" % selfsigned.port)
            self.assertEqual(r["error"], "EDDY_ETLS")
            # The reason comes with the code (eddy_fetch_error_detail), not only in the log.
            self.assertIn("certificate verification: self-signed certificate", r["detail"])
            r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/" % other.port)  # wrong name
            self.assertEqual(r["error"], "EDDY_ETLS")
            self.assertEqual(r["detail"], "certificate verification: hostname mismatch")
            r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/" % self.tls.port)
            self.assertEqual((r["error"], r["detail"]), ("", ""))
        finally:
            selfsigned.stop()
            other.stop()

    def test_new_tls_context_does_not_reuse_unverified_connections(self):
        # The first fetch goes with a context that verifies nothing, then the client gets a
        # verifying one (eddy_client_set_tls). The pool kept the first connection under its
        # origin alone, and the second fetch reused it: a self-signed certificate passed the
        # new context's check it never went through.
        selfsigned = Proc([SERVER, "--cert", CERTS["self.crt"], "--key", CERTS["self.key"]])
        try:
            results = fetch("--cacert", CERTS["ca.crt"], "--tls-switch", "--sequential", "--repeat",
                            "2", "https://localhost:%d/" % selfsigned.port)
        finally:
            selfsigned.stop()
        self.assertEqual([(r["error"], r["reused"]) for r in results],
                         [("", 0), ("EDDY_ETLS", 0)], results)
        self.assertIn("self-signed certificate", results[1]["detail"])

    def test_server_that_requires_a_client_certificate(self):
        # TLS 1.3: the client's handshake is done before the server has looked at the (empty)
        # certificate it sent; the server's "certificate required" alert comes where the
        # response was awaited. It must still be EDDY_ETLS with the alert named, not a reset
        # or a protocol error.
        srv = Proc([SERVER, "--cert", CERTS["server.crt"], "--key", CERTS["server.key"],
                    "--ca", CERTS["ca.crt"], "--verify", "required"])
        try:
            r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/x" % srv.port)
            self.assertEqual((r["error"], r["status"]), ("EDDY_ETLS", 0), r)
            self.assertIn("alert certificate required", r["detail"])
        finally:
            srv.stop()

    def test_many_concurrent_with_queue(self):
        urls = ["http://127.0.0.1:%d/echo?i=%d" % (self.api.port, i) for i in range(20)]
        results = fetch("--max-clients", "3", *urls)
        self.assertEqual(len(results), 20)
        self.assertTrue(all(r["status"] == 200 for r in results))
        self.assertEqual(sorted(json.loads(r["body"])["query"] for r in results),
                         sorted("i=%d" % i for i in range(20)))

    # ---- proxy --------------------------------------------------------------------------------

    def test_proxy_http_and_connect(self):
        proxy = ConnectProxy()
        try:
            p = "127.0.0.1:%d" % proxy.server_address[1]
            r = one("--proxy", p, self.ng("/small.txt?proxied=1"))
            self.assertEqual(r["body"], "small file\n")
            r = one("--proxy", p, "--cacert", CERTS["ca.crt"], self.ng("/small.txt", tls=True))
            self.assertEqual(r["body"], "small file\n", r)
            self.assertIn("GET http://127.0.0.1:%d/small.txt?proxied=1 HTTP/1.1" % self.nginx.port, proxy.seen)
            self.assertIn("CONNECT localhost:%d HTTP/1.1" % self.nginx.tls_port, proxy.seen)
        finally:
            proxy.shutdown()
            proxy.server_close()

    def test_proxy_authorization_goes_on_connect_not_into_the_tunnel(self):
        proxy = ConnectProxy()
        origin = TlsServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", notify=True)
        try:
            r = one("--proxy", "127.0.0.1:%d" % proxy.server_address[1], "--cacert", CERTS["ca.crt"],
                    "--header", "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
                    "https://localhost:%d/" % origin.port)
            self.assertEqual((r["error"], r["body"]), ("", "ok"), r)
            line, head = proxy.heads[0]
            self.assertTrue(line.startswith("CONNECT "), line)
            self.assertIn("Proxy-Authorization: Basic cHJveHk6c2VjcmV0\r\n", head)
            self.assertEqual(len(origin.requests), 1)
            self.assertNotIn(b"proxy-authorization", origin.requests[0].lower())
        finally:
            origin.stop()
            proxy.shutdown()
            proxy.server_close()

    def test_proxy_refusing_or_garbling_the_tunnel(self):
        # RFC 9110 9.3.6: only a 2xx opens the tunnel. The refusal's status line comes with the
        # error (a 407 asks for credentials, a 502 blames the origin: the application could not
        # tell them apart); an answer that is no status line ("HTTP/1.1 2", "HTTP/1.1 2000")
        # opened the tunnel, only its tenth byte was looked at.
        cases = ((b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
                  "the proxy refused the tunnel: HTTP/1.1 407 Proxy Authentication Required"),
                 (b"HTTP/1.1 502 Bad\x01Gateway\r\n\r\n", "the proxy refused the tunnel: HTTP/1.1 502 Bad\\x01Gateway"),
                 (b"HTTP/1.1 2\r\n\r\n", "the proxy's answer to CONNECT is no status line: HTTP/1.1 2"),
                 (b"HTTP/1.1 2000 OK\r\n\r\n",
                  "the proxy's answer to CONNECT is no status line: HTTP/1.1 2000 OK"),
                 (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                  "the proxy sent bytes after its answer to CONNECT"))
        for reply, detail in cases:
            proxy = RawServer(reply, close=False)
            try:
                r = one("--proxy", "127.0.0.1:%d" % proxy.port, "--timeout", "5",
                        "https://localhost:1/")
            finally:
                proxy.stop()
            self.assertEqual((r["error"], r["detail"]), ("EDDY_EPROTO", detail), reply)

    def test_proxy_interim_answers_before_the_connect_answer(self):
        # RFC 9110 15.2: a client accepts 1xx answers before the final one; only a 2xx final
        # answer opens the tunnel (9.3.6). The first head was taken as the answer: a proxy
        # sending 103 Early Hints (or 100) before its 200 failed every https fetch with EPROTO,
        # and a 407 after a 103 was reported as "refused the tunnel: HTTP/1.1 103".
        origin = TlsServer(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\norigin", notify=True)
        early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        cases = (([early, b"HTTP/1.1 200 Connection established\r\n\r\n"], ("", "origin", "")),
                 ([b"HTTP/1.1 100 Continue\r\n\r\n", early, b"HTTP/1.1 200 OK\r\n\r\n"],
                  ("", "origin", "")),
                 ([early, b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"],
                  ("EDDY_EPROTO", "",
                   "the proxy refused the tunnel: HTTP/1.1 407 Proxy Authentication Required")),
                 ([b"HTTP/1.1 101 Switching Protocols\r\n\r\n"],
                  ("EDDY_EPROTO", "", "the proxy refused the tunnel: HTTP/1.1 101 Switching Protocols")),
                 ([b"HTTP/1.1 150 Wait\r\n\r\n"] * 101 + [b"HTTP/1.1 200 OK\r\n\r\n"],
                  ("EDDY_EPROTO", "", "the proxy sent over 100 interim answers to CONNECT")))
        try:
            for answers, expected in cases:
                for pieces in (answers, [b"".join(answers)]):  # one head per read, or all at once
                    proxy = InterimProxy(pieces, origin.port)
                    try:
                        r = one("--proxy", "127.0.0.1:%d" % proxy.port, "--cacert", CERTS["ca.crt"],
                                "--timeout", "10", "https://localhost:%d/" % origin.port)
                    finally:
                        proxy.stop()
                    self.assertEqual((r["error"], r["body"], r["detail"]), expected, answers[:2])
        finally:
            origin.stop()

    def test_proxy_change_applies_to_fetches_started_after_it(self):
        # The client's proxy was read at each step of a fetch. Set while a direct fetch ran, the
        # direct connection went into the pool under the proxy's key and the next fetch, meant
        # for the proxy, reused it: straight to the origin (in absolute-form). Removed while a
        # fetch connected to the proxy, the proxy got an origin-form request.
        proxy = ConnectProxy()
        try:
            url = "http://127.0.0.1:%d/deferred?ms=500" % self.api.port
            p = "127.0.0.1:%d" % proxy.server_address[1]
            results = fetch("--proxy", p, "--proxy-after", "0.2", "--sequential", "--repeat", "2", url)
            self.assertEqual([(r["error"], r["reused"]) for r in results], [("", 0), ("", 0)], results)
            self.assertEqual(proxy.seen, ["GET %s HTTP/1.1" % url])  # the second fetch only
            proxy.seen.clear()
            results = fetch("--proxy", p, "--no-proxy-after-start", "--sequential", "--repeat", "2",
                            url)
            self.assertEqual([r["error"] for r in results], ["", ""], results)
            self.assertEqual(proxy.seen, ["GET %s HTTP/1.1" % url])  # the first fetch only
        finally:
            proxy.shutdown()
            proxy.server_close()

    # ---- TLS: the connect timeout, truncation -------------------------------------------------

    def test_connect_timeout_covers_the_tls_handshake(self):
        silent = RawServer(None)  # accepts, never answers the ClientHello
        try:
            p = subprocess.run([FETCH, "--connect-timeout", "1", "--timeout", "0",
                                "https://localhost:%d/" % silent.port],
                               capture_output=True, timeout=60)
            r = json.loads(p.stdout.decode().splitlines()[0])
            self.assertEqual(r["error"], "EDDY_ETIMEDOUT")
            # The fetch's connect timer ended it, not the TLS context's 10 s handshake timer.
            self.assertEqual(r["detail"], "no connection within 1 s")
            self.assertNotIn(b"handshake timed out", p.stderr)
        finally:
            silent.stop()

    def test_connect_timeout_covers_a_redirects_connection(self):
        # The connect timer stopped once the first connection was made: a Location naming a
        # server that never completes the connection (here its TLS handshake) was waited for
        # until the request timeout, or for ever without one. Each new connection gets it.
        silent = RawServer(None)
        start = RawServer(b"HTTP/1.1 302 Found\r\nLocation: https://localhost:%d/\r\n"
                          b"Content-Length: 0\r\n\r\n" % silent.port)
        try:
            r = one("--connect-timeout", "1", "--timeout", "8", "http://127.0.0.1:%d/" % start.port)
        finally:
            start.stop()
            silent.stop()
        self.assertEqual((r["error"], r["redirects"]), ("EDDY_ETIMEDOUT", 1), r)
        self.assertEqual(r["detail"], "no connection within 1 s")

    def test_timeout_in_the_queue_says_so(self):
        # max_clients 1: the first fetch holds the slot (the server never answers) until it is
        # cancelled; the second one's connect timer ends it while it is still queued.
        silent = RawServer(None)
        try:
            p = subprocess.run([FETCH, "--max-clients", "1", "--connect-timeout", "1", "--timeout",
                                "0", "--cancel-after", "4", "http://127.0.0.1:%d/a" % silent.port,
                                "http://127.0.0.1:%d/b" % silent.port],
                               capture_output=True, timeout=60)
            results = {json.loads(l)["effective_url"][-1]: json.loads(l)
                       for l in p.stdout.decode().splitlines()}
            self.assertEqual(results["b"]["error"], "EDDY_ETIMEDOUT")
            self.assertEqual(results["b"]["detail"], "still queued after 1 s (max_clients 1 fetches running)")
            self.assertEqual(results["a"]["error"], "EDDY_ECANCELED", results["a"])
        finally:
            silent.stop()

    def test_raising_max_clients_starts_queued_fetches(self):
        # max_clients 1 and three fetches to a server that never answers: one runs, two wait.
        # Raising the limit to 3 at 0.3 s starts the two at once; they used to wait for the
        # first to end (here: the cancel at 6 s, which also ends the test's fetches).
        silent = RawServer(None)
        try:
            urls = ["http://127.0.0.1:%d/%d" % (silent.port, i) for i in range(3)]
            p = subprocess.Popen([FETCH, "--max-clients", "1", "--max-clients-after", "0.3", "3",
                                  "--timeout", "0", "--cancel-after", "6"] + urls,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 5
            while len(silent.held) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            held_before_cancel = len(silent.held)
            out, err = p.communicate(timeout=60)
            self.assertEqual(held_before_cancel, 3, err)
            results = [json.loads(l) for l in out.decode().splitlines()]
            self.assertEqual([r["error"] for r in results], ["EDDY_ECANCELED"] * 3, err)
        finally:
            silent.stop()

    def test_host_names_only_from_san_and_no_partial_wildcards(self):
        # RFC 9525 §6.3: no fallback to the subject's CN; a wildcard is a whole left-most label.
        d = os.path.dirname(CERTS["ca.crt"])
        for name, subj, ext in (("cnonly", "/CN=localhost", None),
                                ("partial", "/CN=x", "subjectAltName=DNS:a*.eddy.test"),
                                ("wild", "/CN=x", "subjectAltName=DNS:*.eddy.test")):
            subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                            "-subj", subj, "-out", name + ".csr"], cwd=d, check=True,
                           capture_output=True, timeout=30)
            cmd = ["openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey",
                   "ca.key", "-CAcreateserial", "-days", "2", "-out", name + ".crt"]
            if ext:
                with open(os.path.join(d, name + ".ext"), "w") as f:
                    f.write(ext + "\n")
                cmd += ["-extfile", name + ".ext"]
            subprocess.run(cmd, cwd=d, check=True, capture_output=True, timeout=30)
            CERTS[name + ".crt"] = os.path.join(d, name + ".crt")
            CERTS[name + ".key"] = os.path.join(d, name + ".key")
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for cert, host, expected in (("cnonly", "localhost", "EDDY_ETLS"),
                                     ("partial", "abc.eddy.test", "EDDY_ETLS"),
                                     ("wild", "abc.eddy.test", "")):
            server = TlsServer(ok, notify=True, cert=cert)
            try:
                r = one("--cacert", CERTS["ca.crt"], "--connect-to", "127.0.0.1:%d" % server.port,
                        "https://%s:%d/" % (host, server.port))
                self.assertEqual(r["error"], expected, (cert, r))
            finally:
                server.stop()

    def test_tls_close_delimited_body_needs_close_notify(self):
        reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody-until-close"
        for notify, expected in ((True, ("", "body-until-close")), (False, ("EDDY_EOF", None))):
            server = TlsServer(reply, notify)
            try:
                r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/" % server.port)
                self.assertEqual(r["error"], expected[0], (notify, r))
                if expected[1] is not None:
                    self.assertEqual(r["body"], expected[1])
            finally:
                server.stop()
        # Framed bodies need no close_notify.
        server = TlsServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                           notify=False)
        try:
            r = one("--cacert", CERTS["ca.crt"], "https://localhost:%d/" % server.port)
            self.assertEqual((r["error"], r["body"]), ("", "ok"), r)
        finally:
            server.stop()

    # ---- connect_to (Tornado's hostname_mapping) ----------------------------------------------

    def test_connect_to_keeps_the_request_naming_the_url(self):
        port = self.api.port
        r = one("--connect-to", "127.0.0.1:%d" % port, "http://example.invalid:%d/echo?x=1" % port)
        self.assertEqual(r["status"], 200, r)
        seen = json.loads(r["body"])
        self.assertEqual(seen["uri"], "/echo?x=1")  # origin-form, not a proxy's absolute URL
        self.assertEqual(seen["host"], "example.invalid:%d" % port)
        self.assertEqual(r["effective_url"], "http://example.invalid:%d/echo?x=1" % port)
        # port 0: the URL's port; an IPv6 literal with or without brackets
        r = one("--connect-to", "127.0.0.1:0", "http://mapped.invalid:%d/echo" % port)
        self.assertEqual(json.loads(r["body"])["host"], "mapped.invalid:%d" % port)
        for literal in ("::1", "[::1]"):
            r = one("--connect-to", "%s:%d" % (literal, self.api6.port),
                    "http://six.invalid:%d/echo" % self.api6.port)
            self.assertEqual(json.loads(r["body"])["remote_ip"], "::1", r)
        # without it the name does not resolve ('!': refused by the resolver itself, no DNS
        # query leaves the host, as one for a ".invalid" name would)
        r = one("http://no-such-host!:%d/echo" % port)
        self.assertEqual(r["error"], "EDDY_ERESOLVE", r)

    def test_connect_to_over_tls_checks_the_urls_name(self):
        tls = self.nginx.tls_port
        r = one("--connect-to", "127.0.0.1:%d" % tls, "--cacert", CERTS["ca.crt"],
                "https://localhost:%d/small.txt" % tls)
        self.assertEqual((r["status"], r["body"]), (200, "small file\n"), r)
        # The certificate names localhost and 127.0.0.1: checked against the URL's name (not the
        # address connected to), other.test fails.
        r = one("--connect-to", "127.0.0.1:%d" % tls, "--cacert", CERTS["ca.crt"],
                "https://other.test:%d/small.txt" % tls)
        self.assertEqual(r["error"], "EDDY_ETLS", r)

    def test_connect_to_only_for_the_urls_origin(self):
        # A redirect to another origin connects there (here: to the real 127.0.0.1 nginx).
        r = one("--connect-to", "127.0.0.1:%d" % self.nginx.port,
                "http://first.invalid:%d/redir" % self.nginx.port)
        self.assertEqual(r["status"], 200, r)
        self.assertEqual(r["redirects"], 1)
        self.assertEqual(r["body"], "small file\n")
        # It maps an origin whose host is an address too, and the mapped connection is pooled
        # for it: both fetches reach eddy's API server (its 404), the second on the same
        # connection.
        results = fetch("--sequential", "--connect-to", "127.0.0.1:%d" % self.api.port,
                        "http://127.0.0.1:%d/small.txt" % self.nginx.port,
                        "http://127.0.0.1:%d/small.txt" % self.nginx.port)
        self.assertEqual([(r["status"], r["body"], r["reused"]) for r in results],
                         [(404, "not found", 0), (404, "not found", 1)], results)

    def test_connect_to_refused_with_proxy_and_bad_arguments(self):
        r = fetch("--proxy", "127.0.0.1:9", "--connect-to", "127.0.0.1:%d" % self.api.port,
                  "http://example.invalid/")
        self.assertEqual(r[-1], {"start_error": "EDDY_EINVAL"})
        for bad in ("a b:80", "[:80", ":80", "127.0.0.1:70000"):
            r = fetch("--connect-to", bad, "http://127.0.0.1:%d/echo" % self.api.port)
            self.assertEqual(r[0], {"connect_to_error": "EDDY_EINVAL"}, (bad, r))

    # ---- errors -------------------------------------------------------------------------------

    def test_refused_and_unresolvable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: refused
            r = one("http://127.0.0.1:%d/" % port)
        self.assertEqual(r["error"], "EDDY_ECONNREFUSED")
        # The detail says which address failed and why (eddy_fetch_error_detail).
        self.assertEqual(r["detail"], "connect to 127.0.0.1:%d: Connection refused" % port)
        r = one("http://eddy-test!/")  # refused by the resolver itself: no DNS query leaves
        self.assertEqual(r["error"], "EDDY_ERESOLVE")
        self.assertTrue(r["detail"].startswith("name resolution: eddy-test!: "), r)
        self.assertEqual(fetch("not a url")[0], {"start_error": "EDDY_EINVAL"})

    def test_timeout(self):
        silent = RawServer(None)
        try:
            r = one("--timeout", "0.5", "http://127.0.0.1:%d/" % silent.port)
            self.assertEqual(r["error"], "EDDY_ETIMEDOUT")
            self.assertEqual(r["detail"], "no complete response within 0.5 s")  # which timeout
        finally:
            silent.stop()

    def test_malformed_responses(self):
        for reply in (b"HELLO THERE\r\n\r\n",
                      b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                      b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
                      b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                      b"HTTP/1.1 200 OK\r\n Content-Length: 3\r\n\r\nabc",  # RFC 9112 2.2
                      b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",  # RFC 9112 5.1
                      b"HTTP/1.1 200 O\rK\r\nContent-Length: 5\r\n\r\nhello",  # bare CR, 2.2
                      b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 5\r\n\r\nhello",
                      # Control characters in the reason (RFC 9112 4), as in a field value.
                      b"HTTP/1.1 200 O\x00K\r\nContent-Length: 5\r\n\r\nhello",
                      b"HTTP/1.1 404 Not\x01Found\r\nContent-Length: 5\r\n\r\nhello",
                      b"HTTP/1.1 200 O\x7fK\r\nContent-Length: 5\r\n\r\nhello"):
            raw = RawServer(reply)
            try:
                r = one("http://127.0.0.1:%d/" % raw.port)
                self.assertIn(r["error"], ("EDDY_EPROTO", "EDDY_ETOOBIG", "EDDY_EOF"), (reply[:40], r))
            finally:
                raw.stop()

    def test_cancel_and_client_free(self):
        silent = RawServer(None)
        try:
            url = "http://127.0.0.1:%d/" % silent.port
            results = fetch("--cancel-after", "0.3", url, url)
            self.assertEqual([r["error"] for r in results], ["EDDY_ECANCELED"] * 2)
            # Freed with one running and one queued fetch: both end cancelled, nothing leaks.
            results = fetch("--max-clients", "1", "--free-client-after", "0.3", url, url)
            self.assertEqual([r["error"] for r in results], ["EDDY_ECANCELED"] * 2)
        finally:
            silent.stop()

    def test_idle_connection_closed_by_server(self):
        api = Proc([API_SERVER, "--port", "0", "--host", "127.0.0.1", "--idle-timeout", "0.2"])
        try:
            url = "http://127.0.0.1:%d/echo" % api.port
            # Pauses well over the idle timeout: a server a loaded machine runs late must still
            # have closed the pooled connection before the next request looks for it.
            results = fetch("--sequential", "--repeat", "3", "--pause", "1.5", url)
            self.assertEqual([r["status"] for r in results], [200, 200, 200])
            self.assertEqual([r["reused"] for r in results], [0, 0, 0])
        finally:
            api.stop()

    def early_answer_before_a_reset(self, tls, close_notify=False):
        # A server that refuses an upload early (413) and closes with the body unread makes its
        # kernel reset the connection; the client's next write then fails (ECONNRESET) before it
        # read the answer its kernel still holds. The fetch reports the 413, as curl does (and
        # Linux still hands out the queued answer after the failed send). The client is stopped
        # while the server answers and resets, so that both reach it at once and the write fails
        # before the read every time (not only when the machine is slow).
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        sock.settimeout(20)
        url = "%s://127.0.0.1:%d/upload" % ("https" if tls else "http", sock.getsockname()[1])
        answer = b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig"
        tls_args = ["--cacert", CERTS["ca.crt"]] if tls else []
        proc = subprocess.Popen([FETCH, *tls_args, "--timeout", "20", "--body-size", "30000000", url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            c, _ = sock.accept()
            c.settimeout(20)
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(CERTS["server.crt"], CERTS["server.key"])
                c = ctx.wrap_socket(c, server_side=True)
            got = b""
            while b"\r\n\r\n" not in got:  # the head; the body stays unread
                d = c.recv(65536)
                self.assertTrue(d)
                got += d
            time.sleep(0.5)  # the client fills the socket buffers and waits to write more
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                c.sendall(answer)
                if close_notify:  # sent, not waited for (the client is stopped)
                    c.setblocking(False)
                    with contextlib.suppress(ssl.SSLError, OSError):
                        c.unwrap()
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sock.close()
        self.assertEqual(proc.returncode, 0, err)
        results = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        self.assertEqual(len(results), 1, results)
        r = results[0]
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 413, "big"), r)

    def test_early_answer_before_a_reset_is_not_lost(self):
        self.early_answer_before_a_reset(tls=False)

    def test_early_answer_before_a_reset_is_not_lost_over_tls(self):
        # The same over TLS: a failed SSL_write leaves the records already received readable,
        # with or without the server's close_notify before its reset (curl prints the 413 too).
        self.early_answer_before_a_reset(tls=True)
        self.early_answer_before_a_reset(tls=True, close_notify=True)

    def test_redirect_with_a_large_body_is_followed(self):
        target = "http://127.0.0.1:%d/echo" % self.api.port
        page = b"<html>" + b" " * 100_000 + b"</html>"
        raw = RawServer(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: %d\r\n\r\n"
                        % (target.encode(), len(page)) + page)
        try:
            r = one("http://127.0.0.1:%d/start" % raw.port)
            self.assertEqual((r["error"], r["status"], r["redirects"]), ("", 200, 1), r)
        finally:
            raw.stop()

    def test_redirect_location_bytes_beyond_ascii(self):
        # A Location's host went into the Host field (and a CONNECT, or a name lookup) with
        # whatever bytes it had: now a host RFC 3986 does not allow is not followed, the
        # redirect comes back as it is. Raw UTF-8 in a path went into the request line as it
        # was: now it is percent-encoded, as browsers do.
        r = self.raw_one(b"HTTP/1.1 302 Found\r\nLocation: http://exm\xff\xff/\r\n"
                         b"Content-Length: 0\r\n\r\n")
        self.assertEqual((r["error"], r["status"], r["redirects"]), ("", 302, 0), r)
        seen = []

        class Echo(RawServer):
            def answer(self, c):
                head = c.recv(65536)
                seen.append(head.split(b"\r\n")[0])
                if len(seen) == 1:
                    c.sendall(b"HTTP/1.1 302 Found\r\nLocation: /caf\xc3\xa9?q=\xff\r\n"
                              b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                c.close()

        raw = Echo(None)
        try:
            r = one("--timeout", "30", "http://127.0.0.1:%d/start" % raw.port)
        finally:
            raw.stop()
        self.assertEqual((r["error"], r["status"], r["redirects"]), ("", 200, 1), r)
        self.assertEqual(seen[1], b"GET /caf%C3%A9?q=%FF HTTP/1.1")

    def test_status_line_version_and_interim_responses(self):
        r = self.raw_one(b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(r["error"], "EDDY_EPROTO")
        final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        # HTAB is allowed in a reason (RFC 9112 4); control characters are not (malformed).
        r = self.raw_one(b"HTTP/1.1 200 All\tgood\r\nContent-Length: 2\r\n\r\nok")
        self.assertEqual((r["error"], r["reason"]), ("", "All\tgood"))
        r = self.raw_one(b"HTTP/1.1 102 Processing\r\n\r\n" * 3 + final)
        self.assertEqual((r["error"], r["body"]), ("", "ok"))
        # The connection closed after an interim response: no response arrived (status 0, as
        # the header says), not the 103's status with no fields.
        r = self.raw_one(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        self.assertEqual((r["error"], r["status"], r["headers"]), ("EDDY_EOF", 0, []), r)
        # Endless interim responses are cut off (each resets the head limit).
        r = self.raw_one(b"HTTP/1.1 102 Processing\r\n\r\n" * 150 + final)
        self.assertEqual(r["error"], "EDDY_EPROTO")

    def test_close_delimited_body(self):
        raw = RawServer(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        try:
            r = one("http://127.0.0.1:%d/" % raw.port)
            self.assertEqual((r["error"], r["body"]), ("", "until the end"))
        finally:
            raw.stop()

    def raw_one(self, reply, *args, close=True):
        # The fetch's timeout only ends a fetch that waits for bytes that never come (a
        # held-open reply read past its end): 30 s, so a slow machine never reaches it.
        raw = RawServer(reply, close=close)
        try:
            return one("--timeout", "30", *args, "http://127.0.0.1:%d/" % raw.port)
        finally:
            raw.stop()

    def test_pooled_connection_the_server_closed(self):
        # The server answers with keep-alive framing, then closes: the next fetch must not take
        # that connection from the pool (it failed with EDDY_ENOMEM), but a new one.
        raw = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        try:
            results = fetch("--sequential", "--repeat", "4", "http://127.0.0.1:%d/" % raw.port)
            self.assertEqual([(r["error"], r["body"]) for r in results], [("", "hello")] * 4)
        finally:
            raw.stop()

    def test_only_idempotent_requests_are_sent_again(self):
        # The server reads the second request on the reused connection, then closes without an
        # answer (it may have carried it out). RFC 9112 9.3.1: a POST or PATCH must not be sent
        # again on the client's own; a GET, PUT or DELETE is, once, on a new connection.
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for method, resent in (("POST", False), ("PATCH", False), ("PUT", True),
                               ("DELETE", True), ("GET", True)):
            srv = ScriptServer(lambda conn, req, head, body: None if (conn, req) == (0, 1) else ok)
            try:
                args = ["--method", method] + (["--data", "item=42"] if method != "GET" else [])
                results = fetch("--timeout", "20", "--sequential", "--repeat", "2", *args,
                                "http://127.0.0.1:%d/order" % srv.port)
                self.assertEqual((results[0]["error"], results[0]["body"]), ("", "ok"), method)
                if resent:
                    self.assertEqual((results[1]["error"], results[1]["body"]), ("", "ok"), method)
                    self.assertEqual(len(srv.seen), 3, method)
                else:
                    self.assertIn(results[1]["error"], ("EDDY_EOF", "EDDY_ECONNRESET"), method)
                    self.assertEqual(len(srv.seen), 2, (method, srv.seen))
            finally:
                srv.stop()

    def test_connection_close_in_any_spelling_ends_reuse(self):
        # RFC 9112 9.6: "close" from either side ends the connection after this exchange; the
        # list may carry whitespace and empty members (RFC 9110 5.6.1). The server keeps the
        # connection open, so only the client's reading of the field decides.
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for field in (b"Connection: close\t\r\n", b"Connection: ,close\r\n",
                      b"Connection: keep-alive, close\r\n"):
            reply = ok.replace(b"\r\n\r\n", b"\r\n" + field + b"\r\n")
            srv = ScriptServer(lambda conn, req, head, body, reply=reply: reply)
            try:
                results = fetch("--sequential", "--repeat", "2", "http://127.0.0.1:%d/" % srv.port)
                self.assertEqual([(r["error"], r["body"], r["reused"]) for r in results],
                                 [("", "ok", 0), ("", "ok", 0)], field)
                self.assertEqual([conn for conn, _, _ in srv.seen], [0, 1], field)
            finally:
                srv.stop()
        srv = ScriptServer(lambda conn, req, head, body: ok)
        try:
            results = fetch("--sequential", "--repeat", "2", "--header", "Connection: close",
                            "http://127.0.0.1:%d/" % srv.port)
            self.assertEqual([r["reused"] for r in results], [0, 0])
            self.assertEqual([conn for conn, _, _ in srv.seen], [0, 1])
        finally:
            srv.stop()

    def test_chunked_framing_is_checked(self):
        # RFC 9112 7.1: chunk-data is followed by CRLF. Other bytes there gave a "successful"
        # body with them dropped.
        for chunks in (b"5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n", b"5\r\nhello\rX0\r\n\r\n",
                       b"5\r\nhello\nX0\r\n\r\n"):
            r = self.raw_one(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
            self.assertEqual(r["error"], "EDDY_EPROTO", (chunks, r))
        # The CRLF split from its chunk's data across reads is checked too.
        for tail, error in ((b"\r\n0\r\n\r\n", ""), (b"XY0\r\n\r\n", "EDDY_EPROTO"),
                            (b"\rY0\r\n\r\n", "EDDY_EPROTO")):
            def script(conn, req, head, body, tail=tail):
                return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello"
            srv = ScriptServer(script)
            try:
                proc = subprocess.Popen([FETCH, "--timeout", "20", "http://127.0.0.1:%d/" % srv.port],
                                        stdout=subprocess.PIPE)
                deadline = time.monotonic() + 10
                while not srv.seen and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.2)  # the first piece read on its own
                srv.conns[0].sendall(tail)
                out, _ = proc.communicate(timeout=30)
                r = json.loads(out)
                self.assertEqual(r["error"], error, (tail, r))
                if not error:
                    self.assertEqual(r["body"], "hello")
            finally:
                srv.stop()
        # "chunked" with list whitespace or an empty member is chunked to a list but not to the
        # parser: refused, never read to the close and handed over coded.
        for te in (b"chunked\t", b"chunked,", b"chunked\r\nTransfer-Encoding: "):
            r = self.raw_one(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te +
                             b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            self.assertEqual(r["error"], "EDDY_EPROTO", (te, r))

    def test_header_values_with_control_characters_are_refused(self):
        # client.h: EDDY_EINVAL for a control character in the value (RFC 9110 5.5); HTAB and
        # obs-text are fine.
        srv = ScriptServer(lambda conn, req, head, body: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        try:
            lines = fetch("--header", "X-A: a\x01b", "--header", "X-B: a\x1bb", "--header",
                          "X-C: a\x7fb", "--header", "X-D: a\tb", "--header", "X-E: caf\xe9",
                          "http://127.0.0.1:%d/" % srv.port)
            self.assertEqual([l for l in lines if "header_error" in l],
                             [{"header_error": "EDDY_EINVAL"}] * 3)
            head = srv.seen[0][1]
            self.assertNotIn(b"X-A", head)
            self.assertNotIn(b"X-B", head)
            self.assertNotIn(b"X-C", head)
            self.assertIn(b"X-D: a\tb", head)
        finally:
            srv.stop()

    def test_requests_that_cannot_be_sent_are_refused(self):
        # RFC 9110 9.3.8: no content in a TRACE; 7.2: the application's Host must be a host.
        srv = ScriptServer(lambda conn, req, head, body: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        try:
            url = "http://127.0.0.1:%d/" % srv.port
            self.assertEqual(one("--method", "TRACE", "--data", "secret", url),
                             {"start_error": "EDDY_EINVAL"})
            # 9.3.6: a CONNECT opens a tunnel, which a fetch is not (it would send an
            # origin-form target and read the tunnel as the body).
            self.assertEqual(one("--method", "CONNECT", url), {"start_error": "EDDY_EINVAL"})
            for host in ("a b", "", "x@y", "[::1"):
                self.assertEqual(one("--header", "Host: " + host, url),
                                 {"start_error": "EDDY_EINVAL"}, host)
            self.assertEqual(srv.seen, [])
            self.assertEqual(one("--method", "TRACE", url)["status"], 200)
            self.assertEqual(one("--header", "Host: example.com:8080", url)["status"], 200)
            self.assertIn(b"Host: example.com:8080\r\n", srv.seen[-1][1])
        finally:
            srv.stop()

    def test_redirect_to_get_drops_the_content_fields(self):
        # RFC 9110 15.4: when a redirect turns the request into a GET, the content's fields go
        # with the content.
        def script(conn, req, head, body):
            if head.startswith(b"POST"):
                return b"HTTP/1.1 303 See Other\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        srv = ScriptServer(script)
        try:
            r = one("--data", "x=1", "--header", "Content-Type: text/plain", "--header",
                    "Content-Encoding: identity", "--header", "Content-Language: en",
                    "--header", "X-Kept: 1", "http://127.0.0.1:%d/" % srv.port)
            self.assertEqual((r["error"], r["body"]), ("", "ok"))
            get = srv.seen[-1][1]
            self.assertTrue(get.startswith(b"GET /next "), get)
            self.assertNotIn(b"Content-", get)
            self.assertIn(b"X-Kept: 1", get)
        finally:
            srv.stop()
        # A Location with another scheme is not followed: the 3xx is the answer.
        r = self.raw_one(b"HTTP/1.1 302 Found\r\nLocation: mailto:x@y\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual((r["error"], r["status"], r["redirects"]), ("", 302, 0))

    def test_pooled_connection_that_receives_bytes_is_dropped(self):
        # Bytes on an idle pooled connection belong to no request: the connection is useless
        # from then on. The stream stopped watching once they were buffered, so the server's
        # close was never seen either, and the dead connection stayed (fd and pool slot) until
        # reuse or the idle timeout (60 s). Now the client closes it as the bytes arrive.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        closed_by_client = []
        first_done, close_seen = threading.Event(), threading.Event()

        def serve():
            try:
                c, _ = srv.accept()
                c.recv(65536)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                first_done.wait(30)  # the fetch ended: its connection is in the pool
                c.sendall(b"\r\n")
                # The client closes as the bytes arrive; the second fetch waits for this (the
                # test tells it to go on), so only a client that kept the connection waits out
                # the 30 s, which mean "never".
                c.settimeout(30)
                try:
                    closed_by_client.append(c.recv(100) == b"")
                except OSError:
                    closed_by_client.append(False)
                c.close()
                close_seen.set()
                c, _ = srv.accept()  # the second fetch: a new connection
                c.recv(65536)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                c.close()
            finally:
                close_seen.set()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        p = subprocess.Popen([FETCH, "--sequential", "--repeat", "2", "--pause-stdin",
                              "http://127.0.0.1:%d/" % port],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            results = [json.loads(p.stdout.readline())]
            first_done.set()
            close_seen.wait(60)
            p.stdin.write(b"go on\n")
            p.stdin.close()
            results.append(json.loads(p.stdout.readline()))
            self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
            srv.close()
        t.join(30)
        self.assertEqual([(r["error"], r["status"], r["reused"]) for r in results],
                         [("", 200, 0), ("", 200, 0)])
        self.assertEqual(closed_by_client, [True])

    def test_bodiless_statuses_end_at_their_head(self):
        # RFC 9112 6.3: 1xx, 204 and 304 end at the empty line, whatever their fields say (a
        # 304 may carry the representation's Content-Length, RFC 9110 8.6). The connection is
        # held open: reading a body would wait for the timeout.
        r = self.raw_one(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", close=False)
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 304, ""))
        r = self.raw_one(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", close=False)
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 204, ""))
        r = self.raw_one(b"HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=False)
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 200, "ok"))

    def test_trailers_are_not_merged(self):
        # RFC 9110 6.5.1: trailer fields never join the header section (a Location there must
        # not redirect anything), and they must not run into the last real field either.
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked"
                         b"\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: tv\r\nLocation: http://evil/\r\n\r\n")
        self.assertEqual((r["error"], r["body"]), ("", "hello"))
        self.assertEqual([h[0] for h in r["headers"]], ["Content-Type", "Transfer-Encoding"])
        self.assertEqual(header(r, "Transfer-Encoding"), "chunked")

    def test_unsupported_transfer_codings_are_refused(self):
        # RFC 9112 7.4: our requests carry no TE field, so chunked (once, last) is the only
        # transfer coding a server may apply. The parser undid chunked and left the rest: the
        # body of "gzip, chunked" came back still gzip-coded, as if it were the content.
        chunks = b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        for te in (b"gzip, chunked", b"chunked, gzip", b"identity", b"chunked, chunked",
                   b"chunked\r\nTransfer-Encoding: gzip"):  # two field lines: one list
            r = self.raw_one(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + chunks)
            self.assertEqual(r["error"], "EDDY_EPROTO", (te, r))
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked" + chunks)
        self.assertEqual((r["error"], r["body"]), ("", "abc"))
        # RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
        r = self.raw_one(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked" + chunks)
        self.assertEqual(r["error"], "EDDY_EPROTO", r)
        # A HEAD response reads no body: its field describes the GET's response.
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                         "--method", "HEAD", close=False)
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 200, ""))

    def test_field_values_lose_trailing_whitespace(self):
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nX-A: a b \t\r\nContent-Length: 2  \r\n\r\nok")
        self.assertEqual((r["error"], r["body"]), ("", "ok"))
        self.assertEqual([h[1] for h in r["headers"]], ["a b", "2"])

    def test_x_gzip_is_decoded(self):
        # RFC 9110 8.4.1.3: "x-gzip" is gzip.
        body = gzip.compress(b"x-gzip body " * 20)
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
        self.assertEqual((r["error"], r["body"]), ("", "x-gzip body " * 20))

    def test_only_a_body_coded_once_with_gzip_is_decoded(self):
        # RFC 9110 8.4: Content-Encoding lists the codings in the order applied, over all its
        # field lines (5.3). "gzip" then "br" was fed to the gzip decoder (the first line
        # alone was looked at) and the response lost as EDDY_EPROTO; such a body reaches the
        # application as it came, its fields intact.
        inner = gzip.compress(b"twice " * 30)
        twice = gzip.compress(inner)
        for fields, body in ((b"Content-Encoding: gzip\r\nContent-Encoding: br", inner),
                             (b"Content-Encoding: gzip\r\nContent-Encoding: gzip", twice),
                             (b"Content-Encoding: gzip, gzip", twice),
                             (b"Content-Encoding: br", inner)):
            r = self.raw_one(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\nContent-Length: %d\r\n\r\n"
                             % len(body) + body, "--max-body", str(len(body)))
            self.assertEqual((r["error"], r["body_len"]), ("", len(body)), fields)
            self.assertEqual([h for h in r["headers"] if h[0] == "X-Consumed-Content-Encoding"], [],
                             fields)
        # The coded size counts against the limit when nothing is decoded.
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: %d\r\n\r\n"
                         % len(inner) + inner, "--max-body", str(len(inner) - 1))
        self.assertEqual(r["error"], "EDDY_ETOOBIG")

    def test_truncated_gzip_is_an_error(self):
        whole = gzip.compress(os.urandom(1300))
        for body in (whole[: len(whole) // 2], whole[:-8]):  # cut in half; no CRC/length trailer
            r = self.raw_one(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                             % len(body) + body)
            self.assertEqual(r["error"], "EDDY_EPROTO", len(body))

    def test_gzip_body_limit_counts_decoded_bytes_once(self):
        # 600 KB decoded, in 16 KiB chunks, under a 1 MB limit: within it (the limit used to
        # be counted twice, failing at about half of it).
        data = os.urandom(600_000)
        z = gzip.compress(data)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(z[i:i + 16384]), z[i:i + 16384])
                          for i in range(0, len(z), 16384))
        r = self.raw_one(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked"
                         b"\r\n\r\n" + chunks + b"0\r\n\r\n", "--max-body", "1000000")
        self.assertEqual((r["error"], r["body_len"]), ("", 600_000))

    def test_gzip_bomb_and_oversized(self):
        r = one("--max-body", "1000", self.ng("/big.bin"))
        self.assertEqual(r["error"], "EDDY_ETOOBIG")
        bomb = gzip.compress(b"\0" * 5_000_000)
        raw = RawServer(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb)
        try:
            r = one("--max-body", "100000", "http://127.0.0.1:%d/" % raw.port)
            self.assertEqual(r["error"], "EDDY_ETOOBIG")
        finally:
            raw.stop()

    def test_gzip_body_reaches_a_chunk_callback_in_bounded_pieces(self):
        # 50 KB of gzip inflating to 50 MB, under the default limit, to a chunk callback (the
        # body is not kept): it was inflated whole into one string per read, and the callback
        # got pieces of tens of megabytes. Tornado hands out at most chunk_size (64 KiB).
        bomb = gzip.compress(b"\0" * 50_000_000, 9)
        raw = RawServer(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                        % len(bomb) + bomb)
        try:
            r = one("--chunks", "--timeout", "30", "http://127.0.0.1:%d/" % raw.port)
        finally:
            raw.stop()
        self.assertEqual((r["error"], r["body_len"]), ("", 50_000_000))
        self.assertLessEqual(r["max_chunk"], 65536, r["chunks"])


def flow(*args):
    """fetch_tool with pause/resume events: (the {"paused"}/{"resumed"} lines, the result)."""
    lines = fetch(*args)
    assert lines and "error" in lines[-1], lines
    return lines[:-1], lines[-1]


class FlowControlTest(unittest.TestCase):
    """eddy_fetch_pause_body / eddy_fetch_resume_body and eddy_fetch_set_read_timeout over real
    sockets (fetch_tool's --pause-after-bytes, --read-timeout)."""

    def test_paused_body_stops_the_server_and_arrives_whole_after_resume(self):
        body = os.urandom(32 << 20)
        srv = CountingServer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), body)
        # Paused for well over the read timeout: it must not fire (the consumer is slow, not
        # the server); no request timeout.
        p = subprocess.Popen([FETCH, "--chunks", "--pause-after-bytes", str(1 << 20), "--resume-stdin",
                              "--timeout", "0", "--read-timeout", "0.5",
                              "http://127.0.0.1:%d/" % srv.port],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            paused = json.loads(p.stdout.readline())
            self.assertEqual(paused["rc"], "EDDY_OK", paused)
            stalled = srv.wait_stalled()
            # The server is held back by TCP: what it got out is the socket buffers' worth
            # (a few MiB on loopback) plus one read eddy holds, not the body. A pause that
            # does nothing lets all 32 MiB go.
            self.assertLess(stalled, len(body) // 2, paused)
            time.sleep(0.3)
            self.assertEqual(srv.sent, stalled)
            p.stdin.write(b"go\n")
            p.stdin.flush()
            out, _ = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            srv.stop()
        lines = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
        self.assertEqual(lines[0], {"resumed": "EDDY_OK"})
        r = lines[-1]
        self.assertEqual((r["error"], r["body_len"]), ("", len(body)), r["detail"])
        self.assertEqual(r["paused_chunks"], 0)  # nothing delivered while paused
        self.assertEqual(r["chunk_crc"], zlib.crc32(body))

    def paused_many_times(self, reply, total, *args):
        raw = RawServer(reply)
        try:
            events, r = flow("--chunks", "--pause-after-bytes", str(total // 10), "--pause-count",
                             "6", "--resume-after", "0.02", "--timeout", "60", *args,
                             "http://127.0.0.1:%d/" % raw.port)
        finally:
            raw.stop()
        # Several pauses (a read may bring more than total / 10), each resumed.
        self.assertGreaterEqual(len(events), 6, events)
        self.assertEqual([e.get("rc", e.get("resumed")) for e in events], ["EDDY_OK"] * len(events))
        self.assertEqual([list(e)[0] for e in events], ["paused", "resumed"] * (len(events) // 2))
        return r

    def test_pause_and_resume_again_and_again_keep_the_body_whole(self):
        data = os.urandom(600_000)
        framings = {
            "length": b"Content-Length: %d\r\n\r\n" % len(data) + data,
            "chunked": b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
                b"%x\r\n%s\r\n" % (len(data[i:i + 7000]), data[i:i + 7000])
                for i in range(0, len(data), 7000)) + b"0\r\n\r\n",
            # Ends at the close, which comes while the body is paused: reported after the rest.
            "close": b"Connection: close\r\n\r\n" + data,
        }
        for name, rest in framings.items():
            with self.subTest(framing=name):
                r = self.paused_many_times(b"HTTP/1.1 200 OK\r\n" + rest, len(data))
                self.assertEqual((r["error"], r["body_len"]), ("", len(data)), r["detail"])
                self.assertEqual(r["chunk_crc"], zlib.crc32(data))
                self.assertEqual(r["paused_chunks"], 0)

    def test_pause_and_resume_over_tls(self):
        # Over TLS, what OpenSSL already decrypted but eddy has not delivered must come after
        # the resume (no socket event will announce it); the close_notify comes while paused.
        data = os.urandom(600_000)
        tls = TlsServer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data, notify=True)
        try:
            events, r = flow("--cacert", CERTS["ca.crt"], "--chunks", "--pause-after-bytes",
                             str(len(data) // 10), "--pause-count", "6", "--resume-after", "0.02",
                             "--timeout", "60", "https://localhost:%d/" % tls.port)
        finally:
            tls.stop()
        self.assertGreaterEqual(len(events), 6, events)
        self.assertEqual((r["error"], r["body_len"]), ("", len(data)), r["detail"])
        self.assertEqual(r["chunk_crc"], zlib.crc32(data))
        self.assertEqual(r["paused_chunks"], 0)

    def test_pause_inside_a_gzip_body(self):
        # Paused in the middle of what one read inflates to: the rest is decoded after the
        # resume, nothing is delivered before it, nothing lost.
        data = b"".join(b"%08d " % i + os.urandom(8).hex().encode() for i in range(200_000))
        gz = gzip.compress(data)
        reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gz) + gz
        r = self.paused_many_times(reply, len(data))
        self.assertEqual((r["error"], r["body_len"]), ("", len(data)), r["detail"])
        self.assertEqual(r["chunk_crc"], zlib.crc32(data))
        self.assertEqual(r["paused_chunks"], 0)

    def test_pause_and_resume_misuse(self):
        raw = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        try:
            url = "http://127.0.0.1:%d/" % raw.port
            # NULL; before the start (pause, resume); without a chunk callback (from the headers
            # callback); in done (pause, resume).
            r = one("--flow-misuse", "--timeout", "30", url)
            self.assertEqual(r["misuse"], ",".join(["EDDY_EINVAL"] + ["EDDY_ESTATE"] * 5))
            # With a chunk callback: a second pause is no error.
            _, r = flow("--flow-misuse", "--chunks", "--pause-after-bytes", "1", "--resume-after",
                        "0.01", "--timeout", "30", url)
            self.assertEqual(r["misuse"], "EDDY_EINVAL,EDDY_ESTATE,EDDY_ESTATE,0,EDDY_ESTATE,EDDY_ESTATE")
            self.assertEqual((r["error"], r["body_len"]), ("", 5))
        finally:
            raw.stop()

    def test_read_timeout_after_the_head_and_in_the_body(self):
        for name, reply, got in (("head", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0),
                                 ("body", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 10),
                                 ("nothing", b"", 0)):
            with self.subTest(stall_after=name):
                raw = RawServer(reply, close=False)
                try:
                    r = one("--chunks", "--read-timeout", "0.5", "--timeout", "30",
                            "http://127.0.0.1:%d/" % raw.port)
                finally:
                    raw.stop()
                # The detail names the timeout that ended it: the read timeout, not the request
                # timeout ("no complete response within 30 s").
                self.assertEqual(r["error"], "EDDY_ETIMEDOUT")
                self.assertEqual(r["detail"], "no data from the server for 0.5 s")
                self.assertEqual(r["body_len"], got)

    def test_read_timeout_waits_out_the_expect_continue_wait(self):
        # A server that says nothing until it has the body, and no 100 Continue: eddy sends the
        # body after its one-second wait. That wait is eddy's, not the server's silence.
        srv = ScriptServer(lambda conn, req, head, body: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + body[:2])
        try:
            r = one("--expect-continue", "--data", "hello", "--read-timeout", "0.3", "--timeout", "30",
                    "http://127.0.0.1:%d/" % srv.port)
        finally:
            srv.stop()
        self.assertEqual((r["error"], r["status"], r["body"]), ("", 200, "he"), r["detail"])

    def test_read_timeout_lets_a_slow_trickle_through(self):
        # 30 pieces 0.1 s apart: 3 s in all, well over the read timeout, never that long
        # between two reads. No request timeout.
        body = bytes(range(30))
        srv = CountingServer(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n", body, piece=1, delay=0.1)
        try:
            r = one("--chunks", "--read-timeout", "1.5", "--timeout", "0", "http://127.0.0.1:%d/" % srv.port)
        finally:
            srv.stop()
        self.assertEqual((r["error"], r["body_len"]), ("", 30), r["detail"])
        self.assertEqual(r["chunk_crc"], zlib.crc32(body))

    def test_read_timeout_does_not_count_a_slow_chunk_callback(self):
        # Each chunk callback takes longer than the read timeout while the server has long sent
        # everything: the time between reads counts from the end of the callback, not from
        # the read (counted from the read, it fired with the next bytes waiting).
        data = os.urandom(200_000)
        srv = CountingServer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data), data,
                             piece=20_000, delay=0.05)
        try:
            r = one("--chunks", "--chunk-sleep", "0.5", "--read-timeout", "0.3", "--timeout", "60",
                    "http://127.0.0.1:%d/" % srv.port)
        finally:
            srv.stop()
        self.assertEqual((r["error"], r["body_len"]), ("", len(data)), r["detail"])
        self.assertGreaterEqual(r["chunks"], 3)

    def test_read_timeout_waits_while_paused(self):
        data = os.urandom(300_000)
        raw = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data, close=False)
        try:
            events, r = flow("--chunks", "--pause-after-bytes", "1", "--resume-after", "1.5",
                             "--read-timeout", "0.4", "--timeout", "30",
                             "http://127.0.0.1:%d/" % raw.port)
        finally:
            raw.stop()
        self.assertEqual((r["error"], r["body_len"]), ("", len(data)), r["detail"])
        self.assertEqual(r["chunk_crc"], zlib.crc32(data))
        self.assertEqual(r["paused_chunks"], 0)


def upload_crc(pieces):
    """CRC-32 of fetch_tool's --upload-pieces body."""
    crc = 0
    for k in range(pieces):
        crc = zlib.crc32(struct.pack(">Q", k) + bytes([(k * 37 + 1) & 255]) * ((1 << 20) - 8), crc)
    return crc


class UploadSink:
    """Takes one streamed upload and reads nothing of it until go(): the client's writer meets
    full socket buffers. Then it reads the whole request (Content-Length or chunked) and answers
    "<length> <CRC-32>" — or, with reset=True, resets the connection instead."""

    def __init__(self, reset=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.reset, self.released = reset, threading.Event()
        self.conn = None
        threading.Thread(target=self.serve, daemon=True).start()

    def go(self):
        self.released.set()

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        self.conn = c
        self.released.wait(120)
        if self.reset:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            return
        try:
            c.settimeout(30)
            f = c.makefile("rb")
            head = {}
            f.readline()
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                head[name.strip().lower()] = value.strip()
            crc = n = 0
            if "content-length" in head:
                left = int(head["content-length"])
                while left:
                    data = f.read(min(left, 1 << 20))
                    if not data:
                        break
                    crc, n, left = zlib.crc32(data, crc), n + len(data), left - len(data)
            else:
                while True:
                    size = int(f.readline().split(b";")[0], 16)
                    if size == 0:
                        f.readline()
                        break
                    data = f.read(size)
                    crc, n = zlib.crc32(data, crc), n + len(data)
                    f.readline()
            body = b"%d %d" % (n, crc)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        c.close()

    def stop(self):
        self.released.set()
        self.sock.close()


class UploadFlowTest(unittest.TestCase):
    """eddy_fetch_flush_body / eddy_fetch_body_buffered: a streamed request body written piece by
    piece, each piece once the one before reached the kernel (fetch_tool's --upload-pieces)."""

    def run_upload(self, sink, pieces, *args):
        """fetch_tool's lines, and the bytes its writer had written when the sink began to read
        (once the writer stalled: no new piece for a second)."""
        p = subprocess.Popen([FETCH, "--upload-pieces", str(pieces), "--timeout", "0", *args,
                              "http://127.0.0.1:%d/" % sink.port], stdout=subprocess.PIPE)
        lines = []

        def read():
            for line in p.stdout:
                if line.strip():
                    lines.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            seen, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 60
            while time.monotonic() < deadline and p.poll() is None:
                if len(lines) != seen:
                    seen, quiet_since = len(lines), time.monotonic()
                elif seen > 0 and time.monotonic() - quiet_since > 1.0:
                    break
                time.sleep(0.05)
            before = max([l["written"] for l in list(lines) if "written" in l] or [0])
            sink.go()
            p.wait(timeout=120)
            reader.join(30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            sink.stop()
        if os.environ.get("UPLOADFLOW_DEBUG"):
            print("written before the server read:", before, lines[-1]["error"], file=sys.stderr)
        self.assertTrue(lines and "error" in lines[-1], lines[-5:])
        return before, lines

    def test_writer_waits_for_the_kernel_and_the_body_arrives_whole(self):
        pieces = 128
        total = pieces << 20
        for framing in ("length", "chunked"):
            with self.subTest(framing=framing):
                sink = UploadSink()
                extra = ["--upload-chunked"] if framing == "chunked" else []
                before, lines = self.run_upload(sink, pieces, *extra)
                r = lines[-1]
                self.assertEqual((r["error"], r["status"]), ("", 200), r["detail"])
                self.assertEqual(r["body"], "%d %d" % (total, upload_crc(pieces)))
                # Before the server read anything, the writer got as far as the socket
                # buffers hold (a few MiB on loopback) plus one piece: not the 128 MiB a
                # callback that fired before the bytes reached the kernel lets it write.
                self.assertGreaterEqual(before, 2 << 20, lines[:3])
                self.assertLess(before, total // 4, before)
                # What eddy holds in memory right after a write is that piece, its framing
                # and (before the connection) the head: never two pieces.
                buffered = max(l["buffered"] for l in lines if "written" in l)
                self.assertLess(buffered, (1 << 20) + 4096, buffered)
                self.assertEqual([l for l in lines if "flush_status" in l or "flush_lost" in l or
                                  "flush_error" in l or "write_error" in l], [])

    def test_a_reset_reaches_the_pending_flush(self):
        sink = UploadSink(reset=True)
        before, lines = self.run_upload(sink, 128)
        r = lines[-1]
        flushes = [l for l in lines if "flush_status" in l]
        # The writer was waiting for the kernel to take its piece: the callback gets the
        # fetch's error (before `done`, and once), not a success.
        self.assertNotEqual(r["error"], "", r)
        self.assertEqual([f["flush_status"] for f in flushes], [r["error"]], lines[-3:])
        self.assertEqual([l for l in lines if "flush_lost" in l], [])

    def test_a_cancel_reaches_the_pending_flush(self):
        sink = UploadSink()
        try:
            lines = fetch("--upload-pieces", "128", "--timeout", "0", "--cancel-after", "1.5",
                          "http://127.0.0.1:%d/" % sink.port)
        finally:
            sink.stop()
        r = lines[-1]
        self.assertEqual(r["error"], "EDDY_ECANCELED", r)
        flushes = [l for l in lines if "flush_status" in l]
        self.assertEqual([f["flush_status"] for f in flushes], ["EDDY_ECANCELED"], lines[-3:])
        self.assertEqual([l for l in lines if "flush_lost" in l], [])

    def test_flush_misuse(self):
        sink = UploadSink()
        sink.go()
        before, lines = self.run_upload(sink, 3, "--flow-misuse")
        r = lines[-1]
        self.assertEqual((r["error"], r["status"]), ("", 200), r["detail"])
        self.assertEqual(r["body"], "%d %d" % (3 << 20, upload_crc(3)))
        self.assertEqual(r["misuse"].split(","), [
            "EDDY_EINVAL", "EDDY_EINVAL", "EDDY_ESTATE", "0",  # NULL fetch, NULL cb, unstarted
            "EDDY_EINVAL", "EDDY_ESTATE", "EDDY_ESTATE",  # (pause/resume's own)
            "0",  # nothing written yet: accepted, called back from the loop
            "EDDY_ESTATE",  # (pause without a chunk callback)
            "EDDY_ESTATE", "EDDY_ESTATE",  # (pause/resume in done)
            "EDDY_ESTATE", "0"])  # flush in done: too late; nothing buffered
        self.assertEqual([l for l in lines if "flush_lost" in l or "flush_status" in l], [])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--fetch", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--api-server", required=True)
    args, rest = ap.parse_known_args()
    FETCH, SERVER, API_SERVER = args.fetch, args.server, args.api_server
    if not os.access(NGINX, os.X_OK):
        print("nginx not installed (scripts/deps/tls.txt: nginx-light)")
        sys.exit(1)
    with tempfile.TemporaryDirectory() as d:
        TMP = d
        os.mkdir(os.path.join(d, "certs"))
        CERTS = make_certs(os.path.join(d, "certs"))
        unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
