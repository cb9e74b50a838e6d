#!/usr/bin/env python3
"""N concurrent idle keep-alive connections in one eddy process, clients spread over several
127.0.0.x source addresses. Each connection makes one request (so it is a kept-alive HTTP
connection, not a fresh socket), then sits idle. Reports the server's RSS per connection and
the latency of fresh requests while all N are open; then checks every idle connection still
works. Bounded: --deadline seconds for the whole run.

  python3 bench/abuse/idle_connections.py --server build/tests/integration/prod_server -n 100000

One process needs more than N file descriptors. Where RLIMIT_NOFILE can be raised that far, the
server runs one loop. Where it cannot (a container that caps the hard limit and drops
CAP_SYS_RESOURCE), the server runs several loop threads sharing the port, each with its own fd
table (prod_server --private-fds: the limit applies per table), and the clients are spread over
several processes. --private-fds asks for that mode whatever the limit.
Exit status 0 only when every connection was served and still answers.
"""
import argparse
import errno
import math
import multiprocessing
import os
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import raise_fd_limit, rss_kib, start_server  # noqa: E402

REQ = b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n"
# Room for what a process holds besides the connections (stdio, the selector, pipes).
FD_MARGIN = 300
# Linux: choose the source port at connect(), by the whole 4-tuple, instead of at bind(), where a
# port is reserved against every destination (and ports in TIME_WAIT are skipped one by one).
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def open_connections(port, indices, sources, end, in_flight):
    """Opens one connection per index (source address 127.0.0.(2 + index % sources)), makes one
    request on each and waits for its answer, with at most `in_flight` handshakes or requests
    under way. Returns the sockets, all idle."""
    sel = selectors.DefaultSelector()
    socks = []
    pending = 0
    last = indices[-1]
    for i in indices:
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.0.0.{2 + i % sources}", 0))
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            raise RuntimeError(f"connect from {s.getsockname()[0]} failed: {os.strerror(err)} "
                               f"(connection {i})")
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, [0, b""])
        pending += 1
        # Keep the number of handshakes in flight bounded (below the listen backlogs).
        while pending > in_flight or (i == last and pending):
            if time.time() > end:
                raise RuntimeError("deadline while connecting")
            for key, _ in sel.select(timeout=1):
                st = key.data
                if st[0] == 0:
                    try:
                        key.fileobj.send(REQ)
                    except OSError as e:
                        raise RuntimeError(f"connect/send failed: {e}")
                    st[0] = 1
                    sel.modify(key.fileobj, selectors.EVENT_READ, st)
                else:
                    b = key.fileobj.recv(4096)
                    if not b:
                        raise RuntimeError("server closed an idle connection")
                    st[1] += b
                    if st[1].endswith(b"\n") and b"\r\n\r\n" in st[1]:
                        sel.unregister(key.fileobj)
                        pending -= 1
    sel.close()
    return socks


def count_answering(socks):
    """Sends one more request on every idle connection; returns how many got a 200. Closes
    them with a reset, so that a second run does not find 100,000 ports in TIME_WAIT."""
    ok = 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(REQ)
    for s in socks:
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.endswith(b"\n"):
                b = s.recv(4096)
                if not b:
                    break
                data += b
        except OSError:
            pass
        ok += data.startswith(b"HTTP/1.1 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return ok


def client_process(pipe, port, indices, sources, end, in_flight):
    """One client process's share: opens its connections, says "ready", then on "check" counts
    those still answering."""
    try:
        raise_fd_limit(len(indices) + FD_MARGIN)
        t0 = time.time()
        socks = open_connections(port, indices, sources, end, in_flight)
        pipe.send(("ready", time.time() - t0))
        pipe.recv()
        pipe.send(("checked", count_answering(socks)))
    except Exception as e:  # reported to the parent, which fails the run
        pipe.send(("error", str(e)))


def fresh_request_latencies(port, count=200):
    lat = []
    for _ in range(count):
        t = time.time()
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while c.recv(4096):
            pass
        c.close()
        lat.append(time.time() - t)
    lat.sort()
    return lat


def receive(pipes, want, end):
    """One message from each client process, of kind `want`; an error or the deadline ends the
    run."""
    got = []
    for p in pipes:
        if not p.poll(max(0.0, end - time.time())):
            raise SystemExit(f"deadline waiting for the clients ({want})")
        kind, value = p.recv()
        if kind == "error":
            raise SystemExit(f"a client failed: {value}")
        got.append(value)
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--sources", type=int, default=8, help="127.0.0.2 .. 127.0.0.(1+sources)")
    ap.add_argument("--deadline", type=float, default=600)
    ap.add_argument("--private-fds", action="store_true",
                    help="use loop threads with their own fd tables even if the limit allows one")
    ap.add_argument("--skip-if-limited", action="store_true",
                    help="exit 77 (a skipped test) when this machine cannot hold N connections in "
                         "one process either way")
    a = ap.parse_args()
    end = time.time() + a.deadline
    limit = raise_fd_limit(a.n + 1000)
    flags = ["--idle-timeout", "0"]
    if limit >= a.n + FD_MARGIN and not a.private_fds:
        mode = "1 loop"
        clients = 1
    else:
        per_table = limit - FD_MARGIN
        # SO_REUSEPORT spreads connections by a hash of their addresses, not evenly: leave each
        # loop a fifth of its table spare (the spread is ~1% at these sizes).
        threads = max(2, math.ceil(a.n / (per_table * 0.8)))
        clients = math.ceil(a.n / per_table)
        flags += ["--threads", str(threads), "--private-fds"]
        mode = f"{threads} loop threads with their own fd tables (RLIMIT_NOFILE {limit})"
    try:
        srv, port = start_server(a.server, *flags)
    except SystemExit as e:
        if a.skip_if_limited and "--private-fds" in flags:
            print(f"SKIPPED: RLIMIT_NOFILE is {limit} here and the server could not give its "
                  f"threads their own fd tables ({e})")
            sys.exit(77)
        raise
    ctx = multiprocessing.get_context("fork")
    procs = []
    try:
        idle_lat = fresh_request_latencies(port)  # the "normal latency" to compare with
        base = rss_kib(srv.pid)
        pipes = []
        for k in range(clients):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=client_process,
                            args=(theirs, port, range(k, a.n, clients), a.sources, end,
                                  max(64, 512 // clients)))
            p.start()
            procs.append(p)
            pipes.append(mine)
        t0 = time.time()
        receive(pipes, "ready", end)
        setup = time.time() - t0
        time.sleep(2)
        rss = rss_kib(srv.pid)
        lat = fresh_request_latencies(port)
        for p in pipes:
            p.send("check")
        ok = sum(receive(pipes, "checked", end))
        print(f"connections={a.n} server={mode} client_processes={clients} sources={a.sources} "
              f"setup={setup:.1f}s rss_before={base}KiB rss_with_all_open={rss}KiB "
              f"per_connection={(rss - base) * 1024 / a.n:.0f}B "
              f"fresh_request_latency_p50={lat[len(lat) // 2] * 1000:.2f}ms "
              f"p99={lat[int(len(lat) * 0.99)] * 1000:.2f}ms "
              f"(with none open: p50={idle_lat[len(idle_lat) // 2] * 1000:.2f}ms "
              f"p99={idle_lat[int(len(idle_lat) * 0.99)] * 1000:.2f}ms) "
              f"still_answering={ok}/{a.n}")
        return 0 if ok == a.n else 1
    finally:
        for p in procs:
            p.kill()
            p.join()
        srv.kill()
        srv.wait()


if __name__ == "__main__":
    sys.exit(main())
