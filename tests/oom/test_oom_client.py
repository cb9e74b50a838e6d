#!/usr/bin/env python3
"""eddy as a client keeps working when memory runs out, and works normally once it is back.

  test_oom_client.py --failmalloc failmalloc.so --fetch-tool fetch_tool

fetch_tool runs HTTP fetches one after another against a local server (plain, gzip-coded,
chunked, redirected, keep-alive) under failmalloc (LD_PRELOAD), armed with SIGUSR1 once the
first fetch has answered: about one allocation in FAILMALLOC_EVERY fails. The process must not
die, every fetch must end (its done callback, or an error from eddy_fetch_start) with either
the right body or an error code — never a wrong body — and once failmalloc is disarmed
(SIGUSR2) the remaining fetches must all succeed. (The WebSocket client is not loaded here.)
"""
import argparse
import gzip
import http.server
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

ARGS = None
EVERY = ("50", "400")
FETCHES = 600        # per run; failmalloc is disarmed with TAIL fetches still to go
TAIL = 120
BODY = bytes(range(97, 123)) * 800  # 20,800 bytes
GZ = gzip.compress(BODY)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

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
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a fetch (out of memory) resets its connection


def env_for(every, seed):
    return dict(os.environ, LD_PRELOAD=os.path.abspath(ARGS.failmalloc),
                FAILMALLOC_EVERY=every, FAILMALLOC_SEED=str(seed))


class FetchUnderFailures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(("127.0.0.1", 0), Handler)
        cls.port = cls.server.server_address[1]
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

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


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--failmalloc", required=True)
    ap.add_argument("--fetch-tool", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
