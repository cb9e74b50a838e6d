#!/usr/bin/env python3
"""N concurrent idle keep-alive connections in one eddy process, clients spread over several
127.0.0.x source addresses. Each connection makes one request (so it is a kept-alive HTTP
connection, not a fresh socket), then sits idle. Reports the server's RSS per connection and
the latency of fresh requests while all N are open; then checks every idle connection still
works. Bounded: --deadline seconds for the whole run.

  python3 bench/abuse/idle_connections.py --server build/tests/integration/prod_server -n 100000
Exit status 0 only when every connection was served and still answers.
"""
import argparse
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import raise_fd_limit, rss_kib, start_server  # noqa: E402

REQ = b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--sources", type=int, default=8, help="127.0.0.2 .. 127.0.0.(1+sources)")
    ap.add_argument("--deadline", type=float, default=600)
    ap.add_argument("--skip-if-limited", action="store_true",
                    help="exit 77 (a skipped test) when the file limit cannot be raised enough")
    a = ap.parse_args()
    got = raise_fd_limit(a.n + 1000)
    if got < a.n + 100 and a.skip_if_limited:
        print(f"SKIPPED: RLIMIT_NOFILE is {got} here and cannot be raised (it needs {a.n + 100} "
              f"for {a.n} connections in one process)")
        sys.exit(77)
    if got < a.n + 100:
        raise SystemExit(f"RLIMIT_NOFILE is {got}: too low for {a.n} connections in one process "
                         f"(raise the hard limit: ulimit -Hn, or LimitNOFILE= in systemd)")
    end = time.time() + a.deadline
    srv, port = start_server(a.server, "--idle-timeout", "0")
    try:
        base = rss_kib(srv.pid)
        sel = selectors.DefaultSelector()
        socks = []
        pending = 0
        t0 = time.time()
        for i in range(a.n):
            s = socket.socket()
            s.setblocking(False)
            s.bind((f"127.0.0.{2 + i % a.sources}", 0))
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            sel.register(s, selectors.EVENT_WRITE, [0, b""])
            pending += 1
            # Keep the number of handshakes in flight bounded (the backlog is 1024).
            while pending > 512 or (i == a.n - 1 and pending):
                if time.time() > end:
                    raise SystemExit("deadline while connecting")
                for key, ev in sel.select(timeout=1):
                    st = key.data
                    if st[0] == 0:
                        try:
                            key.fileobj.send(REQ)
                        except OSError as e:
                            raise SystemExit(f"connect/send failed: {e}")
                        st[0] = 1
                        sel.modify(key.fileobj, selectors.EVENT_READ, st)
                    else:
                        b = key.fileobj.recv(4096)
                        if not b:
                            raise SystemExit("server closed an idle connection")
                        st[1] += b
                        if st[1].endswith(b"\n") and b"\r\n\r\n" in st[1]:
                            sel.unregister(key.fileobj)
                            pending -= 1
        setup = time.time() - t0
        time.sleep(2)
        rss = rss_kib(srv.pid)
        lat = []
        for _ in range(200):
            t = time.time()
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while c.recv(4096):
                pass
            c.close()
            lat.append(time.time() - t)
        lat.sort()
        # Every idle connection still answers.
        ok = 0
        for s in socks:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(REQ)
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"\n"):
                b = s.recv(4096)
                if not b:
                    break
                data += b
            ok += data.startswith(b"HTTP/1.1 200")
            s.close()
        print(f"connections={a.n} sources={a.sources} setup={setup:.1f}s "
              f"rss_before={base}KiB rss_with_all_open={rss}KiB "
              f"per_connection={(rss - base) * 1024 / a.n:.0f}B "
              f"fresh_request_latency_p50={lat[len(lat) // 2] * 1000:.2f}ms "
              f"p99={lat[int(len(lat) * 0.99)] * 1000:.2f}ms still_answering={ok}/{a.n}")
        return 0 if ok == a.n else 1
    finally:
        srv.kill()
        srv.wait()


if __name__ == "__main__":
    sys.exit(main())
