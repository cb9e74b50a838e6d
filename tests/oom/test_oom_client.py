#!/usr/bin/env python3
"""eddy as a client keeps working when memory runs out, and works normally once it is back.

  test_oom_client.py --failmalloc failmalloc.so --fetch-tool fetch_tool [--ws-server ws_test_server]

FetchUnderFailures: fetch_tool runs HTTP fetches one after another against a local server (plain, gzip-coded,
chunked, redirected, keep-alive) under failmalloc (LD_PRELOAD), armed with SIGUSR1 once the
first fetch has answered: about one allocation in FAILMALLOC_EVERY fails. The process must not
die, every fetch must end (its done callback, or an error from eddy_fetch_start) with either
the right body or an error code — never a wrong body — and once failmalloc is disarmed
(SIGUSR2) the remaining fetches must all succeed. (The WebSocket client is not loaded here.)

EachAllocationInTurn: one fetch at a time, the first with its 1st allocation failing, the next
with its 2nd, and so on, until one passes with no allocation left to fail (failmalloc's
FAILMALLOC_NTH_FILE). fetch_tool arms and disarms failmalloc itself around each fetch
(--signal-each-fetch), so the window is exactly one fetch whatever the timing here. Some go
through a small Python proxy (an absolute-URI GET for http, a CONNECT tunnel for https). Once
the steps are over, fetch_tool holds no more descriptors than before them.

WsClientEachAllocationInTurn: the same for eddy's WebSocket client: ws_test_server
--connect-steps (under failmalloc) makes one exchange per stdin line (connect, a few messages
echoed by a second ws_test_server, unarmed, then close), arming failmalloc just before
eddy_websocket_connect and disarming it once the exchange ended; ws:// and wss:// (a TLS
ws_test_server with a certificate from the test CA).
"""
import argparse
import gzip
import http.server
import json
import os
import re
import signal
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from tunnel import read_head, serve_connect  # noqa: E402

import proc_fds  # noqa: E402 (beside this file)

ARGS = None
EVERY = ("50", "400")
FETCHES = 600        # per run; failmalloc is disarmed with TAIL fetches still to go
TAIL = 120
BODY = bytes(range(97, 123)) * 800  # 20,800 bytes
BIG = bytes(range(65, 91)) * 8000  # 208,000 bytes: 13 TLS records
GZ = gzip.compress(BODY)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body go as two writes

    def log_message(self, *args):
        pass

    def do_POST(self):
        """Echoes the request body (Content-Length or chunked) as it came, after the value of
        its X-Tag field if it has one."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        data = self.headers.get("X-Tag", "").encode() + data
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/plain")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/gzip":
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(GZ)))
            self.end_headers()
            self.wfile.write(GZ)
            return
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BODY), 5000):
                piece = BODY[i:i + 5000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BIG)))
            self.end_headers()
            self.wfile.write(BIG)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a fetch (out of memory) resets its connection


class UnixHandler(Handler):
    disable_nagle_algorithm = False  # no TCP_NODELAY on a Unix socket


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The same answers on a Unix socket (eddy_fetch_set_unix_socket)."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class HttpsServer(Server):
    """The same over TLS (the handshake in the handler's thread, on its first read)."""

    def __init__(self, address, certs):
        super().__init__(address, Handler)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs["server.crt"], certs["server.key"])

    def get_request(self):
        sock, address = super().get_request()
        sock.settimeout(10)
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


class Proxy(socketserver.ThreadingTCPServer):
    """A minimal HTTP forward proxy: CONNECT tunnels, and absolute-URI GETs, one after another
    on a kept-alive connection (each to the origin on a connection of its own). `seen`: the
    request lines it got."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.seen = []
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a fetch (out of memory) resets its connection


class ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.connection.settimeout(20)
        while True:
            line, head = read_head(self.rfile)
            if not line.endswith("\r\n"):
                return  # closed (a fetch cut short leaves an incomplete head)
            method, target, _ = line.split(" ", 2)
            self.server.seen.append(f"{method} {target}")
            if method == "CONNECT":
                serve_connect(self, target)
                return
            m = re.match(r"http://([^/:]+):(\d+)(/.*)", target)
            with socket.create_connection((m.group(1), int(m.group(2))), timeout=20) as upstream:
                upstream.sendall(f"{method} {m.group(3)} HTTP/1.1\r\n".encode() + b"".join(
                    h for h in head if not h.lower().startswith((b"connection", b"proxy-")))
                    + b"Connection: close\r\n\r\n")
                # The origin closes after its answer, which has a Content-Length and no
                # "Connection: close": the client may keep its connection to the proxy.
                data = b""
                while chunk := upstream.recv(65536):
                    data += chunk
            self.wfile.write(data)


def fnv1a(data):
    """fetch_tool's body_hash."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def start_server(cls):
    cls.server = Server(("127.0.0.1", 0), Handler)
    cls.port = cls.server.server_address[1]
    threading.Thread(target=cls.server.serve_forever, daemon=True).start()


def stop_server(cls):
    cls.server.shutdown()
    cls.server.server_close()


def env_for(every, seed):
    return dict(os.environ, LD_PRELOAD=os.path.abspath(ARGS.failmalloc),
                FAILMALLOC_EVERY=every, FAILMALLOC_SEED=str(seed))


class FetchUnderFailures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        start_server(cls)

    @classmethod
    def tearDownClass(cls):
        stop_server(cls)

    def run_case(self, every, seed):
        base = f"http://127.0.0.1:{self.port}"
        urls = [base + p for p in ("/plain", "/gzip", "/chunked", "/redirect")]
        proc = subprocess.Popen(
            [ARGS.fetch_tool, "--sequential", "--repeat", str(FETCHES // len(urls)),
             "--timeout", "10", *urls],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(every, seed))
        stderr = []
        reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
        reader.start()
        total = (FETCHES // len(urls)) * len(urls)
        results, errors, wrong = 0, {}, []
        armed = disarmed = False
        deadline = time.monotonic() + 120
        try:
            for line in proc.stdout:
                if time.monotonic() > deadline:
                    break
                results += 1
                r = json.loads(line)
                if not armed:
                    proc.send_signal(signal.SIGUSR1)
                    armed = True
                elif not disarmed and results >= total - TAIL:
                    proc.send_signal(signal.SIGUSR2)
                    disarmed = True
                    # fetch_tool may be ahead of what was read so far by what the pipe holds
                    # (64 KiB of ~2 KB lines) and a fetch in flight: judge from 40 on.
                    tail_from = results + 40
                error = r.get("start_error") or r.get("error")
                if error:
                    errors[error] = errors.get(error, 0) + 1
                    if disarmed and results >= tail_from:
                        wrong.append(f"fetch {results} failed after disarming: {r}")
                    continue
                if r["status"] != 200 or r["body_len"] != len(BODY) or \
                        r["body"].encode() != BODY[:2000]:
                    wrong.append(f"fetch {results}: WRONG answer {r['status']} "
                                 f"{r['body_len']} bytes from {r['url']}")
            rc = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            reader.join(10)
            proc.stdout.close()
            proc.stderr.close()
        log = b"".join(stderr).decode(errors="replace")
        self.assertEqual(rc, 0, f"fetch_tool ended with {rc} after {results} results: {log[-3000:]}")
        self.assertEqual(results, total, f"missing results: {log[-3000:]}")
        self.assertIn("failmalloc: ", log, "failmalloc did not report")
        failed = int(log.split("failmalloc: ", 1)[1].split()[0])
        self.assertGreater(failed, 0, "no allocation failed: nothing was tested")
        self.assertEqual(wrong, [])
        print(f"  every {every}: {failed} allocations failed; errors {errors}", file=sys.stderr)

    def test_fetches(self):
        for i, every in enumerate(EVERY):
            with self.subTest(every=every):
                self.run_case(every, i + 1)


POST_BODY = (bytes(range(65, 91)) * 200)[:5000]  # fetch_tool takes it as an argument: text


class SteppedProcess:
    """A client process under failmalloc (FAILMALLOC_NTH_FILE) that runs one exchange per line
    it gets on stdin, arming failmalloc for exactly that exchange: SIGUSR1 reads N from the nth
    file, SIGUSR2 writes "done F" there before the exchange's last line is printed."""

    def __init__(self, cmd, nth_file, env_extra=None):
        self.nth_file = nth_file
        with open(nth_file, "w") as f:
            f.write("0")
        self.name = os.path.basename(cmd[0])
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, LD_PRELOAD=os.path.abspath(ARGS.failmalloc),
                     FAILMALLOC_NTH_FILE=nth_file, **(env_extra or {})))
        self.stderr = []
        self._reader = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr),
                                         daemon=True)
        self._reader.start()
        self.pending = b""

    def log(self):
        return b"".join(self.stderr).decode(errors="replace")[-3000:]

    def open_fds(self, names=False):
        """How many descriptors the process has open (their targets with `names`)."""
        return proc_fds.open_fds(self.proc.pid, names)

    def check_fds(self, test, what, before):
        """Nothing a failure interrupted holds on to a descriptor: no more open than `before`
        (a little while given for closes the loop makes after the last line)."""
        test.assertLessEqual(proc_fds.open_fds_settled(self.proc.pid, before), before,
                             f"{what}: descriptors left open by the failures: "
                             f"{self.open_fds(names=True)}")

    def next_step(self, nth):
        """Starts the next exchange with its allocation `nth` failing (0: none)."""
        with open(self.nth_file, "w") as f:
            f.write(str(nth))
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def _lines(self, timeout, until=None):
        """Lines up to and including `until` (or one line); None when none came in time."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        out = []
        while True:
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    return None
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError(f"{self.name} ended (status {self.proc.wait(10)}): "
                                   f"{out} {self.log()}")
                self.pending += chunk
            line, self.pending = self.pending.split(b"\n", 1)
            out.append(line.decode(errors="replace"))
            if until is None or out[-1] == until:
                return out

    def nth_failed(self):
        """Whether the chosen allocation of the exchange that ended came (and failed)."""
        with open(self.nth_file) as f:
            report = f.read()
        if not report.startswith("done "):
            raise AssertionError(f"failmalloc did not report: {report!r}")
        return report.split()[1] == "1"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self._reader.join(10)
        self.proc.stderr.close()


class FetchTool(SteppedProcess):
    """A fetch_tool that makes one fetch per line it gets on stdin (--pause-stdin) and arms
    failmalloc for exactly that fetch (--signal-each-fetch): SIGUSR1 just before the fetch is
    made, SIGUSR2 first thing in its done callback, before the result line is printed. Its
    first fetch starts at once, before any line: one with nothing failing."""

    def __init__(self, args, nth_file):
        super().__init__([ARGS.fetch_tool, "--sequential", "--pause-stdin", "--signal-each-fetch",
                          "--repeat", "1000000", "--timeout", "5", *args], nth_file)
        self.started = False

    def fetch(self, nth):
        """One fetch with its allocation `nth` failing (0: none). Returns (result, whether
        that allocation came); result is None when fetch_tool gave nothing within 20 s."""
        if self.started:
            self.next_step(nth)
        else:
            assert nth == 0, "the first fetch starts unarmed"
            self.started = True
        lines = self._lines(20)
        if lines is None:
            return None, None
        return json.loads(lines[0]), self.nth_failed()


class EachAllocationInTurn(unittest.TestCase):
    """Each allocation of a fetch fails in turn, one fetch per step: the fetch must end with an
    error or the right answer (status, length and hash of the whole body) — never a wrong
    answer reported as success, never no end at all (a fetch still running when its 5 s request
    timeout ends it counts as hung) — and fetch_tool must live on. Once no allocation is left to
    fail, the same fetch works as before in the same process (nothing left stuck in the
    client: its pool, its lists)."""

    MAX_STEPS = 3000  # far more allocations than one of these fetches makes

    @classmethod
    def setUpClass(cls):
        start_server(cls)
        import tls_certs
        cls.certs_dir = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.certs_dir.name)
        cls.https = HttpsServer(("127.0.0.1", 0), cls.certs)
        cls.https_port = cls.https.server_address[1]
        threading.Thread(target=cls.https.serve_forever, daemon=True).start()
        cls.proxy = Proxy()

    @classmethod
    def tearDownClass(cls):
        stop_server(cls)
        cls.https.shutdown()
        cls.https.server_close()
        cls.proxy.shutdown()
        cls.proxy.server_close()
        cls.certs_dir.cleanup()

    def wrong(self, r, want, redirected):
        """Why a successful result is wrong, or None."""
        got = (r["status"], r["body_len"], r["body_hash"], r["redirects"])
        expected = (200, len(want), fnv1a(want), 1 if redirected else 0)
        if got != expected:
            return f"(status, body length, body hash, redirects) {got}, not {expected}"
        if redirected and not r["effective_url"].endswith("/plain"):
            return f"effective URL {r['effective_url']}"
        return None

    def step_through(self, what, path, args=(), want=BODY, redirected=False, pooled=False,
                     host="127.0.0.1", errors=("EDDY_ENOMEM",), proxied=False):
        """Fetches `path` with each of its allocations failing in turn. `pooled`: before each
        step a fetch with nothing failing leaves one idle connection, which the step's fetch
        reuses. `errors`: those a failing fetch may end with (out of memory says so).
        `proxied`: through the proxy (an absolute URI for http, a CONNECT tunnel for https)."""
        url = f"http://{host}:{self.port}{path}"
        if "--cacert" in args:
            url = f"https://{host}:{self.https_port}{path}"
        if proxied:
            args = ["--proxy", f"127.0.0.1:{self.proxy.server_address[1]}", *args]
            seen = len(self.proxy.seen)
        with tempfile.TemporaryDirectory() as d:
            tool = FetchTool([*args, url], os.path.join(d, "nth"))
            try:
                def normal(when):
                    r, _ = tool.fetch(0)
                    self.assertIsNotNone(r, f"{what}: no result {when}: {tool.log()}")
                    self.assertEqual(r.get("start_error") or r["error"], "",
                                     f"{what} {when}: {r}")
                    self.assertIsNone(self.wrong(r, want, redirected), f"{what} {when}")
                    return r

                normal("before the failures")
                fds = tool.open_fds()
                outcomes = {}
                started = time.monotonic()
                for n in range(1, self.MAX_STEPS + 1):
                    if pooled:
                        normal(f"before step {n} (to pool its connection)")
                    r, failed = tool.fetch(n)
                    if r is None:
                        self.fail(f"{what}: no end within 20 s with its allocation {n} failing: "
                                  + tool.log())
                    error = r.get("start_error") or r["error"]
                    if error == "EDDY_ETIMEDOUT":
                        self.fail(f"{what}: hung (its request timeout ended it) with its "
                                  f"allocation {n} failing: {r}")
                    if error and error not in errors:
                        self.fail(f"{what}: {error}, not {' or '.join(errors)}, with its "
                                  f"allocation {n} failing: {r}")
                    if not error:
                        why = self.wrong(r, want, redirected)
                        if why:
                            self.fail(f"{what}: WRONG answer with its allocation {n} failing: "
                                      f"{why}")
                    if not failed:
                        break
                    key = ("start " if r.get("start_error") else "") + (error or "right")
                    outcomes[key] = outcomes.get(key, 0) + 1
                else:
                    self.fail(f"{what}: still allocating after {self.MAX_STEPS} steps")
                self.assertGreater(n, 1, f"{what}: no allocation failed: nothing was tested")
                r = normal("after the failures")
                if pooled:
                    self.assertEqual(r["reused"], 1, f"{what}: the pool is not used after the "
                                     f"failures: {r}")
                tool.check_fds(self, what, fds)
                if proxied:
                    want_line = (f"CONNECT {host}:{self.https_port}" if "--cacert" in args
                                 else f"GET {url}")
                    self.assertIn(want_line, self.proxy.seen[seen:], f"{what}: not through "
                                  "the proxy")
                print(f"\n  {what}: allocations 1..{n - 1} failed in turn "
                      f"({time.monotonic() - started:.1f} s); outcomes "
                      f"{sorted(outcomes.items())}", file=sys.stderr)
            finally:
                tool.stop()

    def test_content_length(self):
        self.step_through("GET, Content-Length body", "/plain", ["--no-reuse"])

    def test_chunked(self):
        self.step_through("GET, chunked body", "/chunked", ["--no-reuse"])

    def test_gzip(self):
        self.step_through("GET, gzip-coded body", "/gzip", ["--no-reuse"])

    def test_host_name(self):
        # A name, looked up on a worker thread (the loop thread waits meanwhile: the order of
        # allocations stays that of one thread).
        # glibc's getaddrinfo says "Name or service not known" (EDDY_ERESOLVE) when an
        # allocation fails inside its NSS "files" lookup: its own report, not eddy's.
        self.step_through("GET by host name", "/plain", ["--no-reuse"], host="localhost",
                          errors=("EDDY_ENOMEM", "EDDY_ERESOLVE"))

    # OpenSSL's own allocations failing end its handshake or record with an error of its own
    # ("malloc failure; internal error" in 3.0, often only "internal error" later), which eddy
    # reports as EDDY_ETLS with that detail — never as the peer's EOF (EDDY_EOF: "connection
    # closed before the response ended").
    TLS_ERRORS = ("EDDY_ENOMEM", "EDDY_ETLS")

    def test_https(self):
        # The client's TLS handshake, the server's certificate verified, and a body of 13
        # records, several of which one read takes (a failure after the first one's data).
        # Its first fetch goes with nothing failing: OpenSSL 3.0 fetches its algorithms on
        # first use, and a failure inside that leaves it unable to handshake for good (its own
        # state; see test_out_of_memory.py's test_tls).
        self.step_through("GET over HTTPS", "/big",
                          ["--no-reuse", "--cacert", self.certs["ca.crt"]], want=BIG,
                          errors=self.TLS_ERRORS)

    def test_https_pooled(self):
        self.step_through("GET over HTTPS, over a pooled connection", "/big",
                          ["--cacert", self.certs["ca.crt"]], want=BIG, pooled=True,
                          errors=self.TLS_ERRORS)

    def test_redirect(self):
        self.step_through("GET, redirected", "/redirect", ["--no-reuse"], redirected=True)

    def test_proxy(self):
        self.step_through("GET through a proxy (absolute URI)", "/plain", ["--no-reuse"],
                          proxied=True)

    def test_proxy_pooled(self):
        self.step_through("GET through a proxy, over a pooled connection", "/plain",
                          pooled=True, proxied=True)

    def test_proxy_tunnel(self):
        # CONNECT, then the TLS handshake with the origin through the tunnel; its first fetch
        # goes with nothing failing, as test_https's (OpenSSL 3.0's first use of HKDF/HMAC).
        self.step_through("GET over HTTPS through a proxy's CONNECT tunnel", "/big",
                          ["--no-reuse", "--cacert", self.certs["ca.crt"]], want=BIG,
                          errors=self.TLS_ERRORS, proxied=True)

    def test_proxy_tunnel_pooled(self):
        self.step_through("GET over HTTPS through a CONNECT tunnel, over a pooled connection",
                          "/big", ["--cacert", self.certs["ca.crt"]], want=BIG, pooled=True,
                          errors=self.TLS_ERRORS, proxied=True)

    def test_pooled(self):
        self.step_through("GET over a pooled connection", "/plain", pooled=True)

    def unix_server(self):
        """A Unix-socket server for this test; its path. The URL's host resolves nowhere, so
        a fetch that went over TCP instead fails (EDDY_ERESOLVE)."""
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "s.sock")
        server = UnixServer(path, UnixHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return path

    def test_unix_socket(self):
        # The connect's own allocations (the address, the detail) and the fetch's setter.
        self.step_through("GET over a Unix socket", "/plain",
                          ["--no-reuse", "--unix-socket", self.unix_server()],
                          host="unix.invalid")

    def test_unix_socket_pooled(self):
        self.step_through("GET over a Unix socket, over a pooled connection", "/redirect",
                          ["--unix-socket", self.unix_server()], host="unix.invalid",
                          redirected=True, pooled=True)

    def test_redirect_pooled(self):
        self.step_through("GET, redirected, over a pooled connection", "/redirect",
                          redirected=True, pooled=True)

    # fetch_tool does not check what eddy_fetch_set_body, _add_header and _write_body return:
    # what eddy could not store must not leave a request that goes without it.
    def test_post(self):
        self.step_through("POST with a body and a header", "/echo",
                          ["--no-reuse", "--header", "X-Tag: tagged ", "--data", POST_BODY.decode()],
                          want=b"tagged " + POST_BODY)

    def test_post_expect_continue(self):
        # The body waits for the server's "100 Continue" (an interim response first).
        self.step_through("POST with Expect: 100-continue", "/echo",
                          ["--no-reuse", "--expect-continue", "--data", POST_BODY.decode()],
                          want=POST_BODY)

    def test_post_streamed(self):
        self.step_through("POST with a streamed (chunked) body", "/echo",
                          ["--no-reuse", "--stream-body", POST_BODY.decode()], want=POST_BODY)


WS_MESSAGES = ["hello", "b:" + "0123456789abcdef" * 4, "x" * 3000 + "end"]


class WsStepClient(SteppedProcess):
    """ws_test_server --connect-steps under failmalloc: one exchange per stdin line, the nth
    allocation of it failing (the nth file is read at its SIGUSR1)."""

    def __init__(self, url, deflate, nth_file, cafile=None):
        super().__init__([ARGS.ws_server, "--connect-steps", url,
                          *(["--deflate"] if deflate else []), *WS_MESSAGES], nth_file,
                         {"WS_TEST_CAFILE": cafile} if cafile else None)
        ready = self._lines(10)
        assert ready == ["ready"], f"ws_test_server did not start: {ready} {self.log()}"

    def exchange(self, nth):
        """One exchange with its allocation `nth` failing (0: none): (its lines without
        "end", whether that allocation came); lines None when it did not end within 20 s."""
        self.next_step(nth)
        lines = self._lines(20, until="end")
        if lines is None:
            return None, None
        return lines[:-1], self.nth_failed()


class WsClientEachAllocationInTurn(unittest.TestCase):
    """Each allocation of one WebSocket client exchange fails in turn: the client process must
    live on and end every exchange (no hang), every message it reports must be exactly the one
    sent (in order: echoes keep it), and an exchange ends either with all the echoes or with an
    error (a failed connect: EDDY_ENOMEM; a close code). Once nothing is left to fail, the
    exchange works as before in the same process. wss://: the same over TLS, against a second
    server with a certificate from the test CA."""

    MAX_STEPS = 3000

    @staticmethod
    def start_ws_server(*args):
        server = subprocess.Popen([ARGS.ws_server, "--port", "0", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = server.stdout.readline().decode()
        assert line.startswith("listening on "), line
        return server, int(line.split()[2])

    @staticmethod
    def stop_ws_server(server):
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        server.stdout.close()

    @classmethod
    def setUpClass(cls):
        if not ARGS.ws_server:
            raise unittest.SkipTest("no --ws-server")
        import tls_certs
        cls.certs_dir = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.certs_dir.name)
        cls.server, cls.port = cls.start_ws_server()
        cls.tls_server, cls.tls_port = cls.start_ws_server(
            "--tls-cert", cls.certs["server.crt"], "--tls-key", cls.certs["server.key"])

    @classmethod
    def tearDownClass(cls):
        cls.stop_ws_server(cls.server)
        cls.stop_ws_server(cls.tls_server)
        cls.certs_dir.cleanup()

    def expected(self, m):
        if m.startswith("b:"):
            return f"binary {len(m) - 2} {m[2:]}"
        return f"text {len(m)} {m}"

    # OpenSSL's own allocation failing ends the handshake with eddy_strerror(EDDY_ETLS)
    # (test_https's TLS_ERRORS).
    TLS_STATUS = "TLS handshake or certificate verification failed"

    def judge(self, lines, deflate, secure=False):
        """Why an exchange's lines are wrong, or None; and its outcome."""
        if not lines:
            return "nothing printed", None
        if lines[0] == "hung":
            return "hung (still going after 8 s)", None
        last = lines[-1]
        if last.startswith("connect failed ") or last.startswith("connect error "):
            if len(lines) != 1:
                return f"lines before a failed connect: {lines}", None
            # eddy_strerror(EDDY_ENOMEM), then what eddy_websocket_connect_error_detail adds
            head = " ".join(last.split()[:2])
            status = last[len(head) + 1:].split(": ", 1)[0]
            if status != "out of memory" and not (secure and status == self.TLS_STATUS):
                return f"{last!r}: {status!r}, not out of memory", None
            return None, f"{head} {status}"
        if lines[0] != f"connected deflate={int(deflate)}":
            return f"first line {lines[0]!r}", None
        if not last.startswith("close "):
            return f"no close at the end: {last[:200]!r}", None
        got = lines[1:-1]
        if got and got[-1].startswith("write failed "):
            # eddy_ws_write_message failed (out of memory): the client closed with 1011
            if got[-1] != "write failed out of memory":
                return f"{got[-1]!r}", None
            got = got[:-1]
        want = [self.expected(m) for m in WS_MESSAGES]
        for i, g in enumerate(got):
            if i >= len(want) or g != want[i]:
                return f"WRONG message {i}: {g[:200]!r}", None
        code = last.split()[1]
        if len(got) == len(want):
            return None, "all echoes, close " + code
        if code == "1000":
            return f"close 1000 with only {len(got)} of {len(want)} echoes", None
        return None, f"{len(got)} echoes, close {code}"

    def step_through(self, what, deflate, secure=False):
        url = f"ws://127.0.0.1:{self.port}/ws"
        if secure:
            url = f"wss://127.0.0.1:{self.tls_port}/ws"
        with tempfile.TemporaryDirectory() as d:
            client = WsStepClient(url, deflate, os.path.join(d, "nth"),
                                  self.certs["ca.crt"] if secure else None)
            try:
                def normal(when):
                    lines, _ = client.exchange(0)
                    self.assertIsNotNone(lines, f"{what}: no end {when}: {client.log()}")
                    why, outcome = self.judge(lines, deflate, secure)
                    self.assertIsNone(why, f"{what} {when}: {lines}")
                    self.assertEqual(outcome, "all echoes, close 1000", f"{what} {when}")

                # (wss: OpenSSL 3.0's first use of HKDF/HMAC happens here, with nothing failing.)
                normal("before the failures")
                fds = client.open_fds()
                outcomes = {}
                started = time.monotonic()
                for n in range(1, self.MAX_STEPS + 1):
                    lines, failed = client.exchange(n)
                    if lines is None:
                        self.fail(f"{what}: no end within 20 s with its allocation {n} failing: "
                                  + client.log())
                    why, outcome = self.judge(lines, deflate, secure)
                    if why:
                        self.fail(f"{what}: {why}, with its allocation {n} failing: "
                                  f"{[l[:200] for l in lines]}")
                    if not failed:
                        break
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                else:
                    self.fail(f"{what}: still allocating after {self.MAX_STEPS} steps")
                self.assertGreater(n, 1, f"{what}: no allocation failed: nothing was tested")
                normal("after the failures")
                client.check_fds(self, what, fds)
                print(f"\n  {what}: allocations 1..{n - 1} failed in turn "
                      f"({time.monotonic() - started:.1f} s); outcomes "
                      f"{sorted(outcomes.items())}", file=sys.stderr)
            finally:
                client.stop()

    def test_plain(self):
        self.step_through("WebSocket client exchange", False)

    def test_deflate(self):
        self.step_through("WebSocket client exchange, permessage-deflate", True)

    def test_tls(self):
        self.step_through("WebSocket client exchange over TLS (wss://)", False, secure=True)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--failmalloc", required=True)
    ap.add_argument("--fetch-tool", required=True)
    ap.add_argument("--ws-server")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
