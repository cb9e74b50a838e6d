#!/usr/bin/env python3
"""examples/command_stream (eddy_subprocess_spawn under a web route) with Python's http.client
and raw sockets: a child's output streamed whole, many requests at once, a client that leaves
early gets its child killed, and a client that does not read holds the child back (the pipe
fills) instead of the server's memory growing."""
import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

from cmdline_check import BAD_PORTS, assert_needs_value, assert_refused, assert_unknown_refused

TOOL = None
BOUND = 20  # seconds: every wait is bounded by this


class Server:
    def __init__(self):
        self.proc = subprocess.Popen([TOOL, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("command_stream did not start: %r" % line)
        self.port = int(m.group(1))
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.strip())
                self.cond.notify_all()

    def wait_line(self, pattern):
        """The first stdout line matching `pattern` (waits for it, bounded)."""
        deadline = time.monotonic() + BOUND
        with self.cond:
            while True:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line %r in %r" % (pattern, self.lines))
                self.cond.wait(left)

    def stop(self):
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=BOUND)
        assert self.proc.returncode == 0, (self.proc.returncode, err)
        return err

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")


def seq_text(n):
    return "".join("%d\n" % i for i in range(1, n + 1)).encode()


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=BOUND)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    headers = dict(resp.getheaders())
    conn.close()
    return resp.status, headers, body


def children_of(pid):
    """The pids whose parent is `pid`, from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry))
    return kids


class CommandStreamTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()

    def tearDown(self):
        err = self.server.stop()
        self.assertNotIn("ERROR", err.upper().replace("NO ERROR", ""))

    def test_output_streamed_whole(self):
        status, headers, body = get(self.server.port, "/seq/200000")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Transfer-Encoding"), "chunked")
        self.assertEqual(body, seq_text(200000))
        self.server.wait_line(r"exited with status 0")

    def test_many_at_once(self):
        results = {}

        def fetch(n):
            results[n] = get(self.server.port, "/seq/%d" % n)

        threads = [threading.Thread(target=fetch, args=(1000 + i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BOUND)
        self.assertEqual(sorted(results), [1000 + i for i in range(16)])
        for n, (status, _, body) in results.items():
            self.assertEqual(status, 200)
            self.assertEqual(body, seq_text(n))

    def test_client_leaving_kills_the_child(self):
        # The child dies of the SIGTERM sent when the connection's close is seen, or of SIGPIPE
        # when a write to the gone client failed first and its pipe was closed (a slower build).
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=BOUND)
        s.sendall(b"GET /seq/999999999 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or len(got) < 100000:
            chunk = s.recv(65536)
            self.assertTrue(chunk)
            got += chunk
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"))
        s.close()
        self.server.wait_line(r"killed by signal (15|13)")
        # The server goes on serving.
        self.assertEqual(get(self.server.port, "/seq/3")[2], b"1\n2\n3\n")

    def test_slow_client_holds_the_child_back(self):
        # seq 50000000 writes ~430 MB. A client that reads nothing fills its socket, the
        # server's flush does not complete, the server stops reading the pipe and seq blocks
        # on it: the server's memory does not grow by the output's size.
        rss_before = self.server.rss_kib()
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=BOUND)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /seq/50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + BOUND
        kids = []
        while not kids and time.monotonic() < deadline:
            kids = children_of(self.server.proc.pid)
            time.sleep(0.05)
        self.assertEqual(len(kids), 1)
        # Wait until seq stops making progress (the bytes it wrote stay the same over 10 samples
        # 50 ms apart), bounded. Then it has written at most what the buffers on the way hold:
        # the client's receive and the server's send buffer (a few MiB), the pipe, one piece.
        child = kids[0]
        written, same = -1, 0
        while same < 10 and time.monotonic() < deadline:
            try:
                with open("/proc/%d/io" % child) as f:
                    now = int(re.search(r"wchar: (\d+)", f.read()).group(1))
            except OSError:
                self.fail("seq ended: nothing held its output back")
            same = same + 1 if now == written else 0
            written = now
            time.sleep(0.05)
        self.assertEqual(same, 10, "seq never stopped writing")
        self.assertLess(written, 32 << 20)
        grown_kib = self.server.rss_kib() - rss_before
        self.assertLess(grown_kib, 64 * 1024, "server RSS grew %d KiB" % grown_kib)
        s.close()
        self.server.wait_line(r"killed by signal (15|13)")


class CommandLineTest(unittest.TestCase):
    """command_stream --port N: anything but a port number 0-65535 is refused (it was
    atoi()'d: "abc" served on a random port)."""

    def test_malformed_port_refused(self):
        assert_refused(self, "command_stream", [TOOL], "--port", BAD_PORTS)

    def test_trailing_option_without_value_refused(self):
        assert_needs_value(self, "command_stream", [TOOL, "--port", "0"],
                           ("--port", "--address"))

    def test_unknown_option_refused(self):
        # "command_stream --prot 9000" served on the default port 8888.
        assert_unknown_refused(self, "command_stream", [TOOL, "--port", "0"])


def main():
    global TOOL
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    args, rest = parser.parse_known_args()
    TOOL = args.tool
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
