#!/usr/bin/env python3
"""Stalled uploads: N clients each announce a large body (Content-Length), send all of it but
the last byte, and stall. A server that buffers request bodies holds N x the body in memory;
eddy bounds what bodies hold over all connections (eddy_server_set_max_body_memory, default
1 GiB) and answers the bodies that do not fit 503. Prints the server's RSS, how many uploads
were held and how many refused, and checks that a normal request is still served. Every wait
is bounded.

  python3 bench/abuse/stalled_uploads.py --server build/tests/integration/prod_server -n 20
  python3 bench/abuse/stalled_uploads.py --server ... -n 20 --max-body-memory 0   # no bound
"""
import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import peak_rss_kib, raise_fd_limit, rss_kib, start_server  # noqa: E402


def upload(port, size):
    """Sends the head and size-1 body bytes; returns (socket, status or None if it waits)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    chunk = b"u" * (1 << 20)
    sent = 0
    try:
        while sent < size - 1:
            n = min(len(chunk), size - 1 - sent)
            s.sendall(chunk[:n])
            sent += n
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(0.5)  # a refused upload is answered at once; a held one stays silent
    try:
        head = s.recv(4096)
    except socket.timeout:
        return s, None
    except ConnectionResetError:
        return s, "reset"
    return s, head.split(b"\r\n", 1)[0].decode(errors="replace") if head else "closed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--mib", type=int, default=90, help="each body's size")
    ap.add_argument("--max-body-memory", type=int, default=None,
                    help="passed to the server (default: eddy's, 1 GiB; 0: no bound)")
    a = ap.parse_args()
    raise_fd_limit(a.n + 100)
    flags = ["--idle-timeout", "0"]
    if a.max_body_memory is not None:
        flags += ["--max-body-memory", str(a.max_body_memory)]
    srv, port = start_server(a.server, *flags)
    socks, held, refused = [], 0, {}
    try:
        base = rss_kib(srv.pid)
        for _ in range(a.n):
            s, status = upload(port, a.mib << 20)
            socks.append(s)
            if status is None:
                held += 1
            else:
                refused[status] = refused.get(status, 0) + 1
        rss = rss_kib(srv.pid)
        probe = socket.create_connection(("127.0.0.1", port), timeout=10)
        probe.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = probe.recv(4096).split(b"\r\n", 1)[0].decode()
        probe.close()
        print(f"uploads={a.n} of {a.mib} MiB: held={held} refused={refused} "
              f"rss_before={base // 1024} MiB rss={rss // 1024} MiB "
              f"peak={peak_rss_kib(srv.pid) // 1024} MiB; a fresh request: {answer}")
        return 0 if answer.endswith("200 OK") else 1
    finally:
        for s in socks:
            s.close()
        srv.terminate()
        srv.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
