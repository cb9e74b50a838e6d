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
import base64
import os
import resource
import socket
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "abuse"))
from common import raise_fd_limit, rss_kib  # noqa: E402

ROUTES = ("/budget", "/ws", "/lowmem")


def handshake(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit(f"{path}: closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"{path}: {head[:80]!r}")
    return s, b"permessage-deflate" in head


def masked_frame(payload, rsv1):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81 | (0x40 if rsv1 else 0)])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise SystemExit("connection closed")
        out += chunk
    return out


def read_frame_len(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    read_exact(s, n)
    return n


def measure(server, path, conns, message):
    proc = subprocess.Popen([server, "--port", "0"], stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().split()[-1])
        before = rss_kib(proc.pid)
        socks, echoed = [], 0
        for _ in range(conns):
            s, deflate = handshake(port, path)
            if deflate:
                c = zlib.compressobj(wbits=-15)
                s.sendall(masked_frame((c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH))[:-4], True))
            else:
                s.sendall(masked_frame(message, False))
            echoed = read_frame_len(s)
            socks.append(s)
        after = rss_kib(proc.pid)
        for s in socks:
            s.close()
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
