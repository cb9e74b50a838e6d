#!/usr/bin/env python3
"""WebSocket benchmark: eddy (ws_test_server's /ws) and Tornado (tornado_echo.py) in the same
run. Measures (1) echo throughput of small messages: C connections each keep W messages in
flight for D seconds, (2) memory per idle connection: the server's RSS growth for N idle
connections. Server and load generator are pinned to different cores with taskset.

  bench/websocket/run.py --eddy build/tests/integration/ws_test_server
      --load build/bench/ws_load [--conns 50] [--window 20] [--duration 10] [--idle 2000]

Throughput load: ws_load (bench/websocket/ws_load.c), a C client on eddy's own loop — a Python
client (python3-websockets) saturates its core at ~2,500 messages/s, below both servers, so it
would measure itself. Idle connections: python3-websockets (speed does not matter there).
"""
import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time

try:
    import websockets
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def throughput_c(load, port, conns, window, duration):
    out = subprocess.run(["taskset", "-c", "1", load, f"ws://127.0.0.1:{port}/ws", str(conns),
                          str(window), str(duration)], capture_output=True, text=True,
                         timeout=duration + 60)
    return float(out.stdout.split()[-1])


async def throughput(port, conns, window, duration):
    done = 0
    stop = time.monotonic() + duration

    async def one():
        nonlocal done
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None,
                                      ping_interval=None, max_queue=None) as ws:
            msg = "x" * 32
            for _ in range(window):
                await ws.send(msg)
            while time.monotonic() < stop:
                await ws.recv()
                done += 1
                await ws.send(msg)
            for _ in range(window):
                await ws.recv()

    start = time.monotonic()
    await asyncio.gather(*(one() for _ in range(conns)))
    return done / (time.monotonic() - start)


async def idle_memory(port, pid, n):
    before = rss_kib(pid)
    conns = []
    for i in range(0, n, 100):
        conns += await asyncio.gather(*(websockets.connect(f"ws://127.0.0.1:{port}/ws",
                                                           compression=None, ping_interval=None)
                                        for _ in range(min(100, n - i))))
    await asyncio.sleep(1)
    after = rss_kib(pid)
    await asyncio.gather(*(c.close() for c in conns))
    return (after - before) * 1024 / n


def start(cmd, core):
    p = subprocess.Popen(["taskset", "-c", str(core)] + cmd, stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline().split()[-1])
    return p, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eddy", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--idle", type=int, default=2000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {1})  # the load generator on core 1, servers on core 0
    servers = [("eddy", [args.eddy, "--port", "0"]),
               ("tornado", ["/usr/bin/python3", os.path.join(HERE, "tornado_echo.py"), "0"])]
    rows = []
    for name, cmd in servers:
        p, port = start(cmd, 0)
        try:
            rate = throughput_c(args.load, port, args.conns, args.window, args.duration)
            mem = asyncio.run(idle_memory(port, p.pid, args.idle))
        finally:
            p.terminate()
            p.wait()
        rows.append((name, rate, mem))
    print(f"| server | echo msgs/s (32 B, {args.conns} conns x {args.window} in flight) "
          f"| RSS per idle connection ({args.idle} conns) |")
    print("|---|---|---|")
    for name, rate, mem in rows:
        print(f"| {name} | {rate:,.0f} | {mem / 1024:.1f} KiB |")
    print(f"\neddy / tornado throughput: {rows[0][1] / rows[1][1]:.2f}x; "
          f"memory per idle connection: {rows[0][2] / rows[1][2]:.2f}x")


if __name__ == "__main__":
    main()
