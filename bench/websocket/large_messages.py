#!/usr/bin/env python3
"""Autobahn 9.x-style timings (large messages, many fragments, many round trips) and a 12.x-style
compressed run against eddy's conformance echo server and Tornado's WebSocket echo, in the same
run, with the same prebuilt bytes. Not a CI test: it measures.

  python3 bench/websocket/large_messages.py --eddy build/examples/echo_server [--repeat 3]

Each case sends prebuilt frames (built before the clock starts, so the Python client's framing
cost is not timed) and stops the clock when the whole echo has been read. The figure is the best
of --repeat runs. Both servers run pinned to core 0 (taskset), the client on core 1.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from ws_wire import BINARY, CLOSE, TEXT, Conn, close_payload, fragments, frame  # noqa: E402

MiB = 1 << 20


def cases():
    out = []
    for op, kind, byte in ((TEXT, "text", b"*"), (BINARY, "binary", b"\xfe")):
        n = "1" if op == TEXT else "2"
        for size in (64 << 10, 256 << 10, MiB, 4 * MiB, 8 * MiB, 16 * MiB):
            out.append((f"9.{n} {kind} {size >> 10} KiB, one frame", op, byte * size, None, 1))
        n = "3" if op == TEXT else "4"
        for frag in (64, 256, 1024, 4096, 16384, 65536, 256 << 10, MiB, 4 * MiB):
            out.append((f"9.{n} {kind} 4 MiB in {frag}-byte fragments", op, byte * (4 * MiB),
                        frag, 1))
        n = "5" if op == TEXT else "6"
        for chop in (64, 4096):
            out.append((f"9.{n} {kind} 1 MiB, one frame sent in {chop}-byte chops", op,
                        byte * MiB, -chop, 1))
        n = "7" if op == TEXT else "8"
        for size in (0, 64, 4096):
            out.append((f"9.{n} 1000 round trips of {size}-byte {kind}", op, byte * size, None,
                        1000))
    out.append(("16 MiB text in 64-byte fragments", TEXT, b"*" * (16 * MiB), 64, 1))
    out.append(("1000 x 64 KiB binary, pipelined", BINARY, b"\xfe" * (64 << 10), "pipe", 1000))
    return out


def run_case(port, op, data, frag, count, timeout):
    kind = "text" if op == TEXT else "binary"
    if frag is None or frag == "pipe":
        wire = frame(op, data)
    elif frag > 0:
        wire = fragments(op, data, frag)
    else:
        wire = frame(op, data)
    c = Conn(port, timeout=timeout)
    start = time.perf_counter()
    if frag == "pipe":
        # all messages written while the echoes are read (one thread writes, we read)
        def writer():
            for _ in range(count):
                c.sock.sendall(wire)
        t = threading.Thread(target=writer)
        t.start()
        ok = all(c.next_event() == (kind, data) for _ in range(count))
        t.join()
    elif count > 1:
        ok = True
        for _ in range(count):
            c.sock.sendall(wire)
            ok &= c.next_event() == (kind, data)
    elif frag is not None and frag < 0:
        chop = -frag
        for i in range(0, len(wire), chop):
            c.sock.sendall(wire[i:i + chop])
        ok = c.next_event() == (kind, data)
    else:
        c.sock.sendall(wire)
        ok = c.next_event() == (kind, data)
    elapsed = time.perf_counter() - start
    c.send(frame(CLOSE, close_payload(1000)))
    c.events_until_eof()
    c.close()
    return elapsed if ok else None


def deflate_case(port, size, frag, count):
    """12.x-style: count compressed text messages of `size` bytes, auto-fragmented."""
    from test_ws_conformance import corpus
    c = Conn(port, extensions="permessage-deflate; client_no_context_takeover; "
             "client_max_window_bits", timeout=120)
    if c.deflate is None:
        c.close()
        return None
    msgs = [corpus(size, seed=i) for i in range(count)]
    start = time.perf_counter()
    ok = True
    for m in msgs:
        packed = c.deflate.compress(m)
        c.sock.sendall(fragments(TEXT, packed, frag, rsv_first=4) if frag else
                       frame(TEXT, packed, rsv=4))
        ok &= c.next_event() == ("text", m)
    elapsed = time.perf_counter() - start
    c.close()
    return elapsed if ok else None


def start(cmd):
    p = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    port = int(line.replace(":", " ").split()[-1])
    return p, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eddy", required=True, help="examples/echo_server")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--case-timeout", type=float, default=60,
                    help="seconds a case may take before it is reported as '> N s'")
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    servers = {
        "eddy": [args.eddy, "--port", "0"],
        # Tornado's default limit is 10 MiB; 32 MiB like the echo server
        "tornado": [sys.executable if "/usr/bin" in sys.executable else "/usr/bin/python3",
                    os.path.join(HERE, "tornado_echo.py"), "0", "--max-size", str(32 * MiB),
                    "--deflate"],
    }
    results = {}
    for name, cmd in servers.items():
        proc, port = start(cmd)
        try:
            for title, op, data, frag, count in cases():
                if not title.startswith(args.only):
                    continue
                times = []
                for _ in range(args.repeat):
                    try:
                        times.append(run_case(port, op, data, frag, count, args.case_timeout))
                    except OSError as e:  # socket.timeout: more than --case-timeout
                        print(f"{name}: {title}: {e!r}", file=sys.stderr, flush=True)
                        times.append(float("inf"))
                    if times[-1] == float("inf"):
                        # the server is still busy with the abandoned case: start afresh
                        proc.terminate()
                        proc.wait(30)
                        proc, port = start(cmd)
                        break
                    if times[-1] is None or times[-1] > 5:
                        break  # slow cases are not worth repeating
                results.setdefault(title, {})[name] = None if None in times else min(times)
                print(f"  {name}: {title}: {results[title][name]}", file=sys.stderr, flush=True)
            for size, frag in ((16384, 0), (131072, 256)):
                title = f"12.x 200 compressed {size}-byte text messages, fragments {frag or '-'}"
                if not title.startswith(args.only):
                    continue
                times = [deflate_case(port, size, frag, 200) for _ in range(args.repeat)]
                results.setdefault(title, {})[name] = None if None in times else min(times)
        finally:
            proc.terminate()
            proc.wait(30)
    print("| case | eddy | tornado | tornado / eddy |")
    print("|---|---|---|---|")
    for title, r in results.items():
        e, t = r.get("eddy"), r.get("tornado")
        def fmt(v):
            if v is None:
                return "failed"
            if v == float("inf"):
                return f"> {args.case_timeout:.0f} s"
            return f"{v * 1000:.1f} ms" if v < 10 else f"{v:.1f} s"
        if e and t == float("inf"):
            ratio = f"> {args.case_timeout / e:.0f}x"
        else:
            ratio = f"{t / e:.1f}x" if e and t else "-"
        print(f"| {title} | {fmt(e)} | {fmt(t)} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
