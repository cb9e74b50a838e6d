#!/usr/bin/env python3
"""Memory per WebSocket connection with permessage-deflate and context takeover: how much a
connection keeps between messages (its compressor and decompressor state), by route setting.

  python3 bench/websocket/deflate_memory.py --server build/tests/integration/ws_test_server \
      [--conns 1000] [--message-bytes 2000]

For each route of ws_test_server — /budget (no compression: the baseline), /ws (zlib's
defaults: level 6, memLevel 8, 32 KiB window), /lowmem (memLevel 1, a 512-byte server window:
eddy_ws_options_set_compression_level and the window bits of eddy_ws_options_set_compression)
— a fresh server is started, N raw-socket clients connect offering permessage-deflate (with
context takeover), each sends one compressed text message and reads its echo, and stays
connected. Reported: (VmRSS with them - VmRSS before) / N, and the echo's compressed size.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "abuse"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import ws_wire  # noqa: E402  (raw frames and handshake)
from common import raise_fd_limit, rss_kib, start_server  # noqa: E402

ROUTES = ("/budget", "/ws", "/lowmem")


def measure(server, path, conns, message):
    proc, port = start_server(server, "--port", "0")
    try:
        before = rss_kib(proc.pid)
        conns_open, echoed = [], 0
        for _ in range(conns):
            c = ws_wire.Conn(port, path, extensions="permessage-deflate", timeout=30)
            if c.status != 101:
                raise SystemExit(f"{path}: handshake answered {c.status}")
            if c.deflate:  # context takeover: the server keeps its zlib state afterwards
                c.send(ws_wire.frame(ws_wire.TEXT, c.deflate.compress(message), rsv=4))
            else:
                c.send(ws_wire.frame(ws_wire.TEXT, message))
            echoed = len(c.read_frame()[3])
            conns_open.append(c)
        after = rss_kib(proc.pid)
        for c in conns_open:
            c.close()
        return (after - before) * 1024 / conns, echoed
    finally:
        proc.terminate()
        proc.wait(30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--message-bytes", type=int, default=2000)
    args = ap.parse_args()
    raise_fd_limit(args.conns + 100)
    words = b"".join(b"word%d " % (i * 7919 % 500) for i in range(args.message_bytes))
    message = words[:args.message_bytes]
    print(f"| route | bytes per connection ({args.conns} conns, one {len(message)}-byte message each) | echo's payload bytes |")
    print("|---|---|---|")
    for path in ROUTES:
        per_conn, echoed = measure(args.server, path, args.conns, message)
        print(f"| {path} | {per_conn:,.0f} | {echoed} |")


if __name__ == "__main__":
    main()
