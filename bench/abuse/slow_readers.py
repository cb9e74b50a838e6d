#!/usr/bin/env python3
"""Slow readers: N clients each ask for a 10 MiB response and never read it. With write
backpressure (the server writes the next piece only after the previous one reached the kernel)
the server's memory stays bounded instead of buffering N x 10 MiB. Samples RSS for --seconds,
then checks that a normal client is still served. Bounded by --seconds plus setup.

  python3 bench/abuse/slow_readers.py --server build/tests/integration/prod_server -n 1000
"""
import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import raise_fd_limit, rss_kib, start_server  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--mb", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    raise_fd_limit(a.n + 1000)
    srv, port = start_server(a.server, "--idle-timeout", "0")
    try:
        base = rss_kib(srv.pid)
        socks = []
        for i in range(a.n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: a slow reader
            s.bind((f"127.0.0.{2 + i % 8}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(f"GET /big?mb={a.mb} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            socks.append(s)
        samples = []
        end = time.time() + a.seconds
        while time.time() < end:
            samples.append(rss_kib(srv.pid))
            time.sleep(1)
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = c.recv(100).startswith(b"HTTP/1.1 200")
        c.close()
        half = samples[len(samples) // 2:]
        print(f"slow_readers={a.n} response={a.mb}MiB rss_before={base}KiB "
              f"rss_max={max(samples)}KiB rss_first={samples[0]}KiB rss_last={samples[-1]}KiB "
              f"per_reader={(max(samples) - base) / a.n:.0f}KiB "
              f"unbuffered_would_be={a.n * a.mb}MiB second_half_growth={max(half) - min(half)}KiB "
              f"normal_client_served={ok}")
        for s in socks:
            s.close()
        return 0 if ok and max(samples) - base < a.n * a.mb * 1024 // 10 else 1
    finally:
        srv.kill()
        srv.wait()


if __name__ == "__main__":
    sys.exit(main())
