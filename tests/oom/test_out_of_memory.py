#!/usr/bin/env python3
"""Servers keep serving when memory runs out, and serve normally once it is back.

  test_out_of_memory.py --failmalloc failmalloc.so --echo-server echo_server
                        [--web-server web_test_app] [--ws-server ws_test_server]
                        [--tls-server tls_server] [--starttls-server starttls_server]

Each server runs under failmalloc (LD_PRELOAD): started unarmed, armed with SIGUSR1 while
clients load it for a few seconds (about one allocation in FAILMALLOC_EVERY fails, as malloc
does when memory runs out), disarmed with SIGUSR2. The server must still be running, the
failures must really have happened (failmalloc counts them), and requests made afterwards must
all be answered correctly: whatever an allocation failure interrupted was cleaned up (the
request answered with an error, or its connection closed), nothing left stuck or corrupted.
Under load, an answer is either right or an error status or a closed connection — never a
wrong body.
"""
import argparse
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import ws_wire  # noqa: E402

import proc_fds  # noqa: E402 (beside this file)

ARGS = None
LOAD_SECONDS = 3.0
EVERY = ("50", "400")  # a failure every ~50 allocations (most requests hit one), every ~400


class Server:
    def __init__(self, binary, every, seed, *args, port_args=("--port", "0"), env_extra=None):
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(ARGS.failmalloc),
                   FAILMALLOC_EVERY=every, FAILMALLOC_SEED=str(seed), **(env_extra or {}))
        self.proc = subprocess.Popen([binary, *port_args, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        if "listening" not in line:
            raise AssertionError(f"no listening line: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(line.strip().rsplit(":", 1)[-1].split()[-1])
        self.stderr = b""
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr += line

    def arm(self):
        self.proc.send_signal(signal.SIGUSR1)

    def disarm(self):
        """Stops the failures; returns how many allocations failed."""
        self.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.stderr.decode(errors="replace").splitlines():
                if line.startswith("failmalloc: "):
                    return int(line.split()[1])
            time.sleep(0.05)
        raise AssertionError(f"failmalloc did not report (server exit status "
                             f"{self.proc.poll()}): " + self.stderr.decode(errors="replace")[-3000:])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stdout.close()
        self._reader.join(5)
        self.proc.stderr.close()


def read_response(f):
    """(status, headers dict, body) from a buffered socket file; None when it closed first.
    A repeated field's values are joined by newlines."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if not h:
            return None
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        name = name.strip().lower()
        headers[name] = headers[name] + "\n" + value.strip() if name in headers else value.strip()
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
    else:
        body = f.read()
    return status, headers, body


def chunked(data, size):
    out = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
                   for i in range(0, len(data), size))
    return out + b"0\r\n\r\n"


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.wrong = []

    def add(self, what):
        with self.lock:
            self.counts[str(what)] = self.counts.get(str(what), 0) + 1

    def bad(self, what):
        with self.lock:
            self.wrong.append(what)


class OomCase(unittest.TestCase):
    """Loads a server from 4 threads while allocations fail; then checks it recovered."""

    binary = None
    server_args = ()
    port_args = ("--port", "0")

    def exchange(self, port, rng):
        """One connection's worth of requests; records outcomes in self.tally."""
        raise NotImplementedError

    def check_after(self, port):
        """Requests once memory is back: each must be answered right."""
        raise NotImplementedError

    def next_answer(self, f):
        """The next response on `f`, counted in the tally by status; None (counted as
        "closed") when the server closed the connection instead."""
        r = read_response(f)
        self.tally.add("closed" if r is None else r[0])
        return r

    def _load(self, port, seed, deadline):
        import random
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            try:
                self.exchange(port, rng)
            except socket.timeout:
                # Neither an answer nor a close: what the failure interrupted was left stuck.
                self.tally.bad("HUNG: no answer and no close within 10 s, after " +
                               self.doing.get(threading.get_ident(), "?"))
            except (OSError, EOFError, ValueError, IndexError, AssertionError) as e:
                if isinstance(e, AssertionError) and str(e).startswith("WRONG"):
                    self.tally.bad(str(e))
                self.tally.add("connection failed: " + type(e).__name__)
            except Exception as e:  # a bug in this test: fail rather than lose the thread
                self.tally.bad(f"CLIENT ERROR {e!r}")
                return

    def run_case(self, every, seed):
        self.tally = Tally()
        self.doing = {}  # thread → what its connection last sent (for the failure message)
        server = Server(self.binary, every, seed, *self.server_args, port_args=self.port_args)
        try:
            server.arm()
            deadline = time.monotonic() + LOAD_SECONDS
            threads = [threading.Thread(target=self._load, args=(server.port, seed * 10 + i,
                                                                 deadline))
                       for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(LOAD_SECONDS + 60)
            self.assertFalse(any(t.is_alive() for t in threads), "a client hung")
            failed = server.disarm()
            log = server.stderr.decode(errors="replace")
            self.assertTrue(server.alive(), "the server died:\n" + log[-3000:])
            self.assertGreater(failed, 0, "no allocation failed: the test tested nothing")
            self.assertEqual(self.tally.wrong, [], "wrong answers under memory pressure")
            try:
                self.check_after(server.port)
            except Exception as e:
                raise AssertionError(f"not serving after the failures stopped: {e!r}; server log: "
                                     + server.stderr.decode(errors="replace")[-3000:]) from e
            self.assertTrue(server.alive(), "the server died after the load:\n" + log[-3000:])
            print(f"\n  {type(self).__name__} every={every}: {failed} allocations failed; "
                  f"outcomes {sorted(self.tally.counts.items())}", file=sys.stderr)
        finally:
            server.stop()

    rates = EVERY

    def test_allocation_failures(self):
        if self.binary is None:
            self.skipTest("server not given")
        for i, every in enumerate(self.rates):
            with self.subTest(every=every):
                self.run_case(every, i + 1)


class EchoServer(OomCase):
    """The conformance echo server (raw HTTP server API): pipelined, chunked, large bodies."""

    def exchange(self, port, rng):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            for _ in range(rng.randint(1, 8)):
                kind = rng.choice(["fixed", "post", "chunked", "pipelined", "bad", "big"])
                self.doing[threading.get_ident()] = kind
                if kind == "bad":
                    s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header: 1\r\n\r\n")
                    r = self.next_answer(f)
                    if r is None:
                        return
                    if r[0] != 400 and r[0] < 500:
                        raise AssertionError(f"WRONG status {r[0]} for a bad request")
                    return
                if kind == "fixed":
                    reqs = [(b"GET /fixed HTTP/1.1\r\nHost: a\r\n\r\n", None)]
                elif kind == "pipelined":
                    reqs = [(b"GET /fixed HTTP/1.1\r\nHost: a\r\n\r\n", None)] * 4
                else:
                    size = {"post": rng.choice([0, 10, 3000]), "chunked": rng.choice([1, 5000]),
                            "big": 300000}[kind]
                    body = bytes(rng.randrange(33, 127) for _ in range(min(size, 64))) * (
                        size // 64 + 1)
                    body = body[:size]
                    if kind == "chunked":
                        head = b"POST /c?q=%d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        reqs = [(head % size + chunked(body, 1000), body)]
                    else:
                        reqs = [(b"POST /p?q=%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                                 % (size, size) + body, body)]
                s.sendall(b"".join(r for r, _ in reqs))
                for _, body in reqs:
                    r = self.next_answer(f)
                    if r is None:
                        return
                    status, _, got = r
                    if status == 200:
                        if body is None and got != b"hello world\n":
                            raise AssertionError(f"WRONG body {got[:100]!r}")
                        if body is not None and json.loads(got)["body"] != body.decode():
                            raise AssertionError(f"WRONG echo of a {len(body)}-byte body: "
                                                 f"{len(got)} bytes {got[:80]!r}...{got[-40:]!r}")
                    elif status < 500:
                        raise AssertionError(f"WRONG status {status}")

    def check_after(self, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            for size in (0, 10, 5000, 300000):
                body = b"z" * size
                s.sendall(b"POST /after HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                          + chunked(body, 777) if size else
                          b"GET /fixed HTTP/1.1\r\nHost: a\r\n\r\n")
                status, _, got = read_response(f)
                self.assertEqual(status, 200)
                if size:
                    self.assertEqual(json.loads(got)["body"], body.decode())
                else:
                    self.assertEqual(got, b"hello world\n")


BIG_TEXT = (b"The quick brown fox jumps over the lazy dog. " * 112)[:5000]  # web_test_app /big


def wrong_web_answer(path, status, headers, body):
    """Why web_test_app's answer to GET `path` is wrong, or None. An error status (5xx) is
    always acceptable when memory runs out; a success must be whole: every header its handler
    set (a Location, three Set-Cookie, the Content-Encoding of a gzipped body) and the body it
    wrote."""
    if status >= 500:
        return None
    if path == b"/big":
        coding = headers.get("content-encoding")
        if coding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as e:
                return f"a gzip body that does not decode ({e})"
        elif coding is not None:
            return f"Content-Encoding {coding!r}"
        if (status, headers.get("content-type"), body) != (200, "text/plain", BIG_TEXT):
            return (f"status {status}, Content-Type {headers.get('content-type')!r}, "
                    f"Content-Encoding {coding!r}, {len(body)} body bytes {body[:40]!r}")
    elif path == b"/redirect":
        if (status, headers.get("location")) != (302, "/hello"):
            return f"status {status}, Location {headers.get('location')!r}"
    elif path == b"/cookie/set":
        cookies = headers["set-cookie"].split("\n") if "set-cookie" in headers else []
        if status != 200 or len(cookies) != 3:
            return f"status {status} with {len(cookies)} Set-Cookie: {cookies} {body[:200]!r}"
    elif path == b"/cookie/kept":
        if (status, headers.get("set-cookie", "").split(";")[0], body) != (200, "kept=v", b"cleared"):
            return f"status {status}, Set-Cookie {headers.get('set-cookie')!r}, body {body[:40]!r}"
    elif path == b"/hello":
        if (status, headers.get("content-type"), body) != (200, "text/plain", b"hello"):
            return f"status {status}, Content-Type {headers.get('content-type')!r}, body {body!r}"
    return None


class WebApp(OomCase):
    """The web layer's test application: routing, handlers, cookies, arguments, gzip."""

    server_args = ("--compress",)
    PATHS = [b"/hello", b"/user/12/post/abc", b"/named/x/y", b"/args?a=1&b=2&a=3",
             b"/cookie/set", b"/rev/x/item/3", b"/reverse", b"/redirect", b"/etag_custom",
             b"/big", b"/stream", b"/nope", b"/err", b"/decode/%41%42"]

    def exchange(self, port, rng):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            for _ in range(rng.randint(1, 8)):
                path = rng.choice(self.PATHS)
                extra = rng.choice([b"", b"Accept-Encoding: gzip\r\n", b"Cookie: a=b; c=d\r\n"])
                s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n" + extra + b"\r\n")
                r = self.next_answer(f)
                if r is None:
                    return
                why = wrong_web_answer(path, *r)
                if why:
                    raise AssertionError(f"WRONG answer to {path}: {why}")

    def check_after(self, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            for path, want in ((b"/hello", b"hello"), (b"/args?a=1", None)):
                s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
                status, _, body = read_response(f)
                self.assertEqual(status, 200, body)
                if want:
                    self.assertIn(want, body)
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(f)[0], 404)


def get(path, extra=b"", last=True):
    """A GET request; the last of its connection says Connection: close."""
    return (b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n" + extra +
            (b"Connection: close\r\n" if last else b"") + b"\r\n")


def wrong_echo_answer(request, status, headers, body):
    """Why echo_server's answer to `request` is wrong, or None (5xx is acceptable)."""
    if status >= 500:
        return None
    if request.startswith(b"GET /fixed "):
        return None if (status, body) == (200, b"hello world\n") else f"{status} {body[:80]!r}"
    sent = request.split(b"\r\n\r\n", 1)[1]
    if b"chunked" in request:
        sent = b"".join(sent.split(b"\r\n")[1::2])  # the chunks' data (no CRLF inside it)
    try:
        echoed = json.loads(body)["body"].encode("latin-1")
    except (ValueError, KeyError) as e:
        return f"{status} {body[:80]!r} ({e!r})"
    return None if (status, echoed) == (200, sent) else f"{status}: echoed {echoed[:60]!r}"


class EachAllocationInTurn(unittest.TestCase):
    """Requests one at a time, the first with its 1st allocation failing, the next with its
    2nd, and so on (failmalloc's FAILMALLOC_NTH_FILE), until one passes with no allocation left
    to fail: every allocation such a request makes (its connection's included) fails once,
    deterministically. Each answer must be right, an error status or a closed connection —
    never one missing what the handler set, never no answer at all."""

    web_binary = None
    echo_binary = None
    ws_binary = None
    tls_binary = None
    starttls_binary = None
    MAX_STEPS = 400  # far more allocations than one of these requests makes

    @staticmethod
    def ask(port, requests):
        """The answers to `requests`, sent at once (pipelined) on a new connection, in order; a
        None ends them when the connection closed without a whole answer (which the client can
        tell)."""
        answers = []
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"".join(requests))
            f = s.makefile("rb")
            for _ in requests:
                try:
                    r = read_response(f)
                except (ValueError, IndexError, ConnectionResetError):
                    r = None  # cut inside a head or a chunk
                if r is not None and "content-length" in r[1] and \
                        len(r[2]) != int(r[1]["content-length"]):
                    r = None  # cut inside the body
                answers.append(r)
                if r is None:
                    break
        return answers

    @classmethod
    def http(cls, requests, wrong_answer):
        """(name, exchange) for step_through: requests pipelined on one connection;
        wrong_answer(request, status, headers, body) says what is wrong with an answer."""
        def exchange(port):
            outcome = []
            for request, r in zip(requests, cls.ask(port, requests)):
                if r is None:
                    outcome.append("closed")
                    break
                why = wrong_answer(request, *r)
                if why:
                    raise AssertionError(f"WRONG answer to {request[:30]!r}: {why}")
                outcome.append(r[0])
            return " ".join(map(str, outcome))
        return " + ".join(r.split(b"\r\n", 1)[0].decode() for r in requests), exchange

    @staticmethod
    def websocket(extensions, path="/ws", extra=b"", want=None, greeting=None):
        """(name, exchange) for step_through: a handshake and one echoed message. `want`:
        (field, value) the 101 must carry (set by the route's prepare); `greeting`: the text
        message the route's open sends first."""
        message = bytes(range(97, 123)) * 40

        def exchange(port):
            try:
                c = ws_wire.Conn(port, path, extensions=extensions, extra=extra, timeout=10)
            except (EOFError, ConnectionResetError):
                return "closed"
            try:
                if c.status != 101:
                    if c.status < 500:
                        raise AssertionError(f"WRONG handshake answer {c.status}")
                    return c.status
                if want and [v.split(";")[0] for v in c.headers.get(want[0], [])] != [want[1]]:
                    raise AssertionError(f"WRONG: a 101 without {want[0]}: {want[1]} "
                                         f"({c.headers})")
                if greeting is not None:
                    ended = expect_text(c, greeting, "greeting")
                    if ended:
                        return ended
                payload = c.deflate.compress(message) if c.deflate else message
                c.send(ws_wire.frame(ws_wire.TEXT, payload, rsv=4 if c.deflate else 0))
                return expect_text(c, message, "echo") or "echo"
            finally:
                c.close()

        def expect_text(c, text, what):
            """None when the next message is `text`; the outcome when the connection ended
            instead (a close frame, or none); AssertionError for anything else."""
            try:
                ev = c.next_event()
            except (EOFError, ConnectionResetError):
                return "closed"
            if ev[0] == "close":
                return f"close {ev[1]}"
            if ev != ("text", text):
                raise AssertionError(f"WRONG {what} {ev[0]} {ev[1][:40]!r}")
            return None
        return f"WebSocket echo on {path} ({extensions or 'no extension'})", exchange

    @staticmethod
    def nth_failed(server, nth_file):
        """Disarms failmalloc; True when the chosen allocation came (and failed)."""
        server.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(nth_file) as f:
                report = f.read()
            if report.startswith("done "):
                return report.split()[1] == "1"
            time.sleep(0.002)
        raise AssertionError(f"failmalloc did not report (server exit status {server.proc.poll()})")

    @staticmethod
    def open_fds(server, names=False):
        """How many descriptors the server has open (their targets with `names`)."""
        return proc_fds.open_fds(server.proc.pid, names)

    def step_through(self, binary, args, exchanges, port_args=("--port", "0"), max_steps=None):
        """Fails each allocation of each exchange in turn. An exchange is (name, function of
        the port returning an outcome: "closed", a status, ...; AssertionError when wrong)."""
        max_steps = max_steps or self.MAX_STEPS
        with tempfile.TemporaryDirectory() as d:
            nth_file = os.path.join(d, "nth")
            with open(nth_file, "w") as f:
                f.write("0")
            server = Server(binary, "1", 0, *args, port_args=port_args,
                            env_extra={"FAILMALLOC_NTH_FILE": nth_file})
            try:
                for what, exchange in exchanges:
                    before = exchange(server.port)  # nothing failing yet
                    fds = self.open_fds(server)
                    outcomes = {}
                    started = time.monotonic()
                    for n in range(1, max_steps + 1):
                        with open(nth_file, "w") as f:
                            f.write(str(n))
                        server.proc.send_signal(signal.SIGUSR1)  # handled before it reads on
                        try:
                            outcome = exchange(server.port)
                        except socket.timeout:
                            self.fail(f"{what}: no answer and no close within 10 s with its "
                                      f"allocation {n} failing")
                        except AssertionError as e:
                            self.fail(f"{what} with its allocation {n} failing: {e}")
                        failed = self.nth_failed(server, nth_file)
                        self.assertTrue(server.alive(), f"{what}: the server died at allocation "
                                        f"{n}:\n" + server.stderr.decode(errors="replace")[-3000:])
                        if not failed:
                            break
                        outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    else:
                        self.fail(f"{what}: still allocating after {max_steps} steps")
                    self.assertGreater(n, 1, f"{what}: no allocation failed: nothing was tested")
                    # Memory is back: the same exchange goes as it went before.
                    self.assertEqual(exchange(server.port), before, f"{what} after the failures")
                    # Nothing a failure interrupted holds on to its connection.
                    self.assertLessEqual(proc_fds.open_fds_settled(server.proc.pid, fds), fds,
                                         f"{what}: connections left open by the failures: "
                                         f"{self.open_fds(server, names=True)}")
                    print(f"\n  {what}: allocations 1..{n - 1} failed in turn "
                          f"({time.monotonic() - started:.1f} s); outcomes "
                          f"{sorted(outcomes.items(), key=str)}", file=sys.stderr)
            finally:
                server.stop()

    def test_web_app(self):
        if self.web_binary is None:
            self.skipTest("web server not given")
        requests = [get(b"/big", b"Accept-Encoding: gzip\r\n"), get(b"/redirect"),
                    get(b"/cookie/set"), get(b"/hello"), get(b"/args?a=1&b=2&a=3"),
                    get(b"/user/12/post/abc"), get(b"/stream"), get(b"/err"), get(b"/nope"),
                    get(b"/etag_custom"), get(b"/decode/%41%42"), get(b"/cookie/kept")]

        def wrong(request, status, headers, body):
            return wrong_web_answer(request.split()[1], status, headers, body)

        exchanges = [self.http([r], wrong) for r in requests]
        # Keep-alive: the second request reuses the connection (and what the first left).
        exchanges.append(self.http([get(b"/hello", last=False), get(b"/cookie/set", last=False),
                                    get(b"/big", b"Accept-Encoding: gzip\r\n")], wrong))
        self.step_through(self.web_binary, ("--compress",), exchanges)

    def test_echo_server(self):
        if self.echo_binary is None:
            self.skipTest("echo server not given")
        body = bytes(range(32, 127)) * 40
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                          for i in range(0, len(body), 1000))
        requests = [get(b"/fixed"),
                    b"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n" % len(body) + body,
                    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n"]
        exchanges = [self.http([r], wrong_echo_answer) for r in requests]
        # Pipelined: answered in order, the second after the first's answer went out.
        exchanges.append(self.http([get(b"/fixed", last=False), requests[1]], wrong_echo_answer))
        self.step_through(self.echo_binary, (), exchanges)

    def test_websocket(self):
        if self.ws_binary is None:
            self.skipTest("WebSocket server not given")
        self.step_through(self.ws_binary, (), [
            self.websocket(None), self.websocket("permessage-deflate"),
            # prepare sets X-Extra and a cookie: the 101 never goes without them
            self.websocket(None, "/proto", b"Sec-WebSocket-Protocol: chat\r\n",
                           ("x-extra", "yes"), b"proto=chat deflate=0"),
            self.websocket(None, "/proto", b"Sec-WebSocket-Protocol: chat\r\n",
                           ("set-cookie", "ws=1"), b"proto=chat deflate=0")])

    def test_tls(self):
        """One TLS handshake and two requests on its connection per step, a full handshake and
        then a resumed one (the session of an earlier connection): every allocation of the
        server's side (OpenSSL's own included: ~800 for a handshake, ~6 ms a step) fails in
        turn. A handshake that fails is refused (an alert, a reset, a close: even a record the
        client cannot decrypt, when OpenSSL fails after switching keys; never data).
        The server's first handshake goes with nothing failing (step_through's first exchange):
        OpenSSL 3.0 fetches HKDF and HMAC on first use, and an allocation failing inside those
        first fetches (EVP_KDF_fetch, EVP_MAC_fetch under SSL_do_handshake) leaves it unable to
        handshake for good ("digital envelope routines::unsupported"): 25 of the ~1,200
        allocations of a fresh server's first handshake do that, all inside libcrypto — its
        own state, which eddy cannot repair, so those are not stepped here."""
        if self.tls_binary is None:
            self.skipTest("TLS server not given")
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        body = bytes(range(97, 123)) * 200
        fnv = 2166136261
        for b in body:
            fnv = ((fnv ^ b) * 16777619) & 0xffffffff
        requests = [(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body, b"scheme=https path=/p body=%d fnv=%08x\n" % (len(body), fnv)),
                    (b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                     b"scheme=https path=/after\n")]
        sessions = []

        def exchange(port, resume, proxy_header=b""):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                raw.sendall(proxy_header)  # a PROXY header first (tls_server --proxy-protocol)
                s = ctx.wrap_socket(raw, session=sessions[0] if resume else None)
            except socket.timeout:
                raw.close()
                raise
            except ssl.SSLError as e:  # an alert, or what OpenSSL sent as it failed
                raw.close()
                return f"handshake refused: {e.reason}"
            except OSError as e:  # reset or closed by the server
                raw.close()
                return f"handshake refused: {type(e).__name__}"
            outcome = ["resumed" if s.session_reused else "full"]
            with s:
                f = s.makefile("rb")
                for request, want in requests:
                    try:
                        s.sendall(request)
                        r = read_response(f)
                    except socket.timeout:
                        raise
                    except (ssl.SSLError, OSError, ValueError, IndexError):
                        r = None  # cut inside the head or a chunk
                    if r is None:
                        outcome.append("closed")
                        break
                    status, _, got = r
                    if status < 500 and (status, got) != (200, want):
                        raise AssertionError(f"WRONG answer {status} {got[:100]!r}")
                    outcome.append(status)
                    if status != 200:
                        break
                if not sessions and s.session is not None:
                    sessions.append(s.session)  # the first one's (nothing failing then)
            return " ".join(map(str, outcome))

        import tls_certs
        with tempfile.TemporaryDirectory() as d:
            certs = tls_certs.make_certs(d)
            self.step_through(
                self.tls_binary, ("--cert", certs["server.crt"], "--key", certs["server.key"]),
                [("TLS full handshake and two requests", lambda port: exchange(port, False)),
                 ("TLS resumed handshake and two requests", lambda port: exchange(port, True))],
                port_args=(), max_steps=3000)
            # The PROXY protocol in front of TLS: the header is read off the socket before
            # the TLS stream exists (its handshake object, then the stream, allocated in turn).
            header = b"PROXY TCP4 203.0.113.7 192.0.2.1 4444 443\r\n"
            self.step_through(
                self.tls_binary, ("--cert", certs["server.crt"], "--key", certs["server.key"],
                                  "--proxy-protocol"),
                [("PROXY header, TLS handshake and two requests",
                  lambda port: exchange(port, False, header))],
                port_args=(), max_steps=3000)

    def test_starttls(self):
        """STARTTLS (eddy_stream_start_tls): a plaintext exchange, the upgrade of the connected
        socket, a line over TLS, with every allocation of the server's side failing in turn (the
        upgrade's own, the TLS stream's, OpenSSL's). Each step ends in the right answers, a
        refused handshake or a closed connection; never a wrong answer, never a hang."""
        if self.starttls_binary is None:
            self.skipTest("STARTTLS server not given")
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def line(sock):
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(1)
                if not chunk:
                    return None
                data += chunk
            return data

        def exchange(port):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                steps = [(None, b"220 ready\r\n"), (b"EHLO me\r\n", b"250 plain EHLO me\r\n"),
                         (b"STARTTLS\r\n", b"220 go ahead\r\n")]
                try:
                    for send, want in steps:
                        if send:
                            raw.sendall(send)
                        got = line(raw)
                        if got is None:
                            return "closed"
                        if got != want:
                            raise AssertionError(f"WRONG plaintext answer {got!r}")
                except (ConnectionResetError, BrokenPipeError):
                    return "closed"
                try:
                    s = ctx.wrap_socket(raw)
                except ssl.SSLError as e:
                    return f"handshake refused: {e.reason}"
                except OSError as e:
                    return f"handshake refused: {type(e).__name__}"
                try:
                    s.sendall(b"hello\r\n")
                    got = line(s)
                except (ssl.SSLError, OSError):
                    got = None
                finally:
                    s.close()
                if got is None:
                    return "upgraded, then closed"
                if got != b"250 tls hello\r\n":
                    raise AssertionError(f"WRONG answer over TLS {got!r}")
                return "upgraded"

        import tls_certs
        with tempfile.TemporaryDirectory() as d:
            certs = tls_certs.make_certs(d)
            self.step_through(
                self.starttls_binary, ("--cert", certs["server.crt"], "--key", certs["server.key"]),
                [("STARTTLS: plaintext, upgrade, a line over TLS", exchange)], max_steps=3000)


class WebSocketServer(OomCase):
    """The WebSocket echo server: handshakes, messages, fragments, compression."""

    def exchange(self, port, rng):
        ext = rng.choice([None, "permessage-deflate"])
        self.doing[threading.get_ident()] = f"handshake ({ext})"
        c = ws_wire.Conn(port, "/ws", extensions=ext, timeout=10)
        try:
            if c.status != 101:
                self.tally.add(c.status)
                return
            for _ in range(rng.randint(1, 10)):
                size = rng.choice([1, 100, 20000])
                msg = bytes(rng.randrange(97, 123) for _ in range(min(size, 50))) * (size // 50 + 1)
                msg = msg[:size]
                self.doing[threading.get_ident()] = f"a {size}-byte message ({ext})"
                if rng.random() < 0.3:
                    c.send(ws_wire.fragments(ws_wire.TEXT, msg, 37))
                else:
                    c.send(ws_wire.frame(ws_wire.TEXT, msg))
                ev = c.next_event()
                if ev[0] == "close":
                    self.tally.add("close %s" % ev[1])
                    return
                if ev != ("text", msg):
                    raise AssertionError(f"WRONG echo {ev[0]} of {len(ev[1])} bytes")
                self.tally.add("echo")
        finally:
            c.close()

    def check_after(self, port):
        for ext in (None, "permessage-deflate"):
            c = ws_wire.Conn(port, "/ws", extensions=ext, timeout=10)
            try:
                self.assertEqual(c.status, 101)
                for msg in (b"a", b"b" * 20000):
                    c.send(ws_wire.frame(ws_wire.TEXT, msg))
                    self.assertEqual(c.next_event(), ("text", msg))
            finally:
                c.close()


class TlsServer(OomCase):
    """The HTTPS test server (OpenSSL allocates through the same malloc): handshakes and
    keep-alive requests with bodies. One rate, 1 in 400 (TLS_EVERY): at 1 in 100, one run in
    three left OpenSSL 3.0 itself unable to handshake afterwards ("digital envelope routines::
    unsupported" on every later connection: its own state, not eddy's); at 400, ten runs of ten
    recovered. (Two of eddy's own such traps were found here and fixed: the socket BIO method and
    the WebSocket SHA-1 were made once, and a first attempt that failed stayed failed.)"""

    port_args = ()  # it picks its own port
    rates = (os.environ.get("TLS_EVERY", "400"),)

    @classmethod
    def setUpClass(cls):
        if cls.binary is None:
            return
        import tempfile
        import tls_certs
        cls.certs_dir = tempfile.TemporaryDirectory()
        certs = tls_certs.make_certs(cls.certs_dir.name)
        cls.server_args = ("--cert", certs["server.crt"], "--key", certs["server.key"])

    @classmethod
    def tearDownClass(cls):
        if cls.binary is not None:
            cls.certs_dir.cleanup()

    def connect(self, port):
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            return ctx.wrap_socket(raw)
        except BaseException:
            raw.close()
            raise

    def exchange(self, port, rng):
        import ssl
        self.doing[threading.get_ident()] = "handshake"
        try:
            s = self.connect(port)
        except ssl.SSLError:
            self.tally.add("handshake refused")  # the server's handshake ran out of memory
            return
        with s:
            f = s.makefile("rb")
            for _ in range(rng.randint(1, 6)):
                body = b"x" * rng.choice([0, 100, 5000])
                self.doing[threading.get_ident()] = f"a request with {len(body)} bytes"
                s.sendall(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                          % len(body) + body)
                r = self.next_answer(f)
                if r is None:
                    return
                status, _, got = r
                if status == 200 and not got.startswith(b"scheme=https path=/p"):
                    raise AssertionError(f"WRONG answer {got[:100]!r}")

    def check_after(self, port):
        s = self.connect(port)
        with s:
            f = s.makefile("rb")
            for _ in range(3):
                s.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
                status, _, got = read_response(f)
                self.assertEqual((status, got), (200, b"scheme=https path=/after\n"))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--failmalloc", required=True)
    ap.add_argument("--echo-server")
    ap.add_argument("--web-server")
    ap.add_argument("--ws-server")
    ap.add_argument("--tls-server")
    ap.add_argument("--starttls-server")
    ARGS, rest = ap.parse_known_args()
    EchoServer.binary = ARGS.echo_server
    WebApp.binary = ARGS.web_server
    EachAllocationInTurn.web_binary = ARGS.web_server
    EachAllocationInTurn.echo_binary = ARGS.echo_server
    EachAllocationInTurn.ws_binary = ARGS.ws_server
    EachAllocationInTurn.tls_binary = ARGS.tls_server
    EachAllocationInTurn.starttls_binary = ARGS.starttls_server
    WebSocketServer.binary = ARGS.ws_server
    TlsServer.binary = ARGS.tls_server
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
