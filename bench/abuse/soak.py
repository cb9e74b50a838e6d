#!/usr/bin/env python3
"""Soak: mixed load for --duration seconds against one eddy process — keep-alive requests,
pipelined batches, uploads, and aborted connections (half-sent heads, bodies cut short,
responses abandoned mid-way). Samples the server's RSS and open fds every few seconds and
reports them with the error count. Run it against the ASan build's prod_server too (leaks and
memory errors make the server exit non-zero at the end; the script reports that).

  python3 bench/abuse/soak.py --server build/tests/integration/prod_server --duration 600
  python3 bench/abuse/soak.py --server build-asan/tests/integration/prod_server --duration 60
"""
import argparse
import http.client
import os
import random
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import open_fds, rss_kib, start_server  # noqa: E402

STOP = threading.Event()
LOCK = threading.Lock()
COUNTS = {"keepalive": 0, "pipelined": 0, "upload": 0, "aborted": 0, "errors": 0}
ERRORS = []


def count(kind, n=1):
    with LOCK:
        COUNTS[kind] += n


def error(e):
    with LOCK:
        COUNTS["errors"] += 1
        if len(ERRORS) < 10:
            ERRORS.append(repr(e))


def keepalive(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not STOP.is_set():
        try:
            c.request("GET", "/info")
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(r.status)
            count("keepalive")
        except Exception as e:  # noqa: BLE001
            error(e)
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.close()


def pipelined(port):
    while not STOP.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            n = random.randint(2, 20)
            s.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1) +
                      b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            s.close()
            if data.count(b"HTTP/1.1 200") != n:
                raise RuntimeError(f"pipelined {n}, got {data.count(b'HTTP/1.1 200')}")
            count("pipelined", n)
        except Exception as e:  # noqa: BLE001
            error(e)


def upload(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not STOP.is_set():
        try:
            body = os.urandom(random.randint(0, 256 * 1024))
            c.request("POST", "/upload", body=body)
            r = c.getresponse()
            got = r.read()
            if r.status != 200 or int(got) != len(body):
                raise RuntimeError((r.status, got))
            count("upload")
        except Exception as e:  # noqa: BLE001
            error(e)
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.close()


def aborted(port):
    kinds = [b"GET /info HTTP/1.1\r\nHo",
             b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
             b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
             b"GET /big?mb=4 HTTP/1.1\r\nHost: x\r\n\r\n",
             b"GET /slow?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"]
    while not STOP.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            k = random.randrange(len(kinds))
            s.sendall(kinds[k])
            if k >= 3 and random.random() < 0.5:  # complete requests: take part of the answer
                s.recv(random.randint(1, 4096))
            if random.random() < 0.5:  # a reset instead of a FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()
            count("aborted")
        except Exception as e:  # noqa: BLE001
            error(e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--interval", type=float, default=5)
    a = ap.parse_args()
    srv, port = start_server(a.server, "--idle-timeout", "5")
    workers = [keepalive] * 3 + [pipelined] * 2 + [upload] * 2 + [aborted] * 2
    ts = [threading.Thread(target=w, args=(port,), daemon=True) for w in workers]
    for t in ts:
        t.start()
    samples = []
    end = time.time() + a.duration
    while time.time() < end and srv.poll() is None:
        time.sleep(min(a.interval, max(0.1, end - time.time())))
        if srv.poll() is None:
            samples.append((rss_kib(srv.pid), open_fds(srv.pid)))
            print(f"t={a.duration - (end - time.time()):.0f}s rss={samples[-1][0]}KiB "
                  f"fds={samples[-1][1]} {COUNTS}", flush=True)
    STOP.set()
    for t in ts:
        t.join(20)
    alive = srv.poll() is None
    srv.send_signal(signal.SIGTERM)
    try:
        status = srv.wait(timeout=30)
    except Exception:  # noqa: BLE001
        srv.kill()
        status = "killed"
    q = max(1, len(samples) // 4)
    first = max(s[0] for s in samples[:q]) if samples else 0
    last = max(s[0] for s in samples[-q:]) if samples else 0
    print(f"duration={a.duration:.0f}s {COUNTS} rss_first_quarter_max={first}KiB "
          f"rss_last_quarter_max={last}KiB server_alive={alive} exit_status={status}")
    if ERRORS:
        print("errors:", ERRORS)
    return 0 if alive and status == 0 and COUNTS["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
