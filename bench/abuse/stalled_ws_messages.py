#!/usr/bin/env python3
"""Stalled WebSocket messages: N clients each open a session on ws_test_server's /ws (32 MiB
message limit), send a binary frame announcing MiB+1 MiB with MiB of its payload, and stall.
Without a bound the server holds N x MiB; eddy bounds the bytes of messages being received
over a route's sessions (eddy_ws_options_set_max_message_memory, default 1 GiB) and closes the
sessions that go over with 1013. Prints the server's RSS and how many sessions were closed.
Every wait is bounded.

  python3 bench/abuse/stalled_ws_messages.py --server build/tests/integration/ws_test_server -n 40
"""
import argparse
import base64
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import peak_rss_kib, raise_fd_limit, rss_kib, start_server  # noqa: E402


def stalled_session(port, mib):
    """Opens a session and sends mib MiB of a (mib + 1) MiB frame; returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("handshake refused")
        head += chunk
    s.sendall(bytes([0x82, 0xFF]) + struct.pack("!Q", (mib + 1) << 20) + b"\0\0\0\0")
    chunk = b"x" * (1 << 20)
    try:
        for _ in range(mib):
            s.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return s


def closed_with(s):
    """The close code the server sent (None: the session is still open)."""
    s.settimeout(0.5)
    try:
        data = s.recv(16)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return "reset"
    if len(data) >= 4 and data[0] & 0x0F == 8:
        return struct.unpack("!H", data[2:4])[0]
    return "closed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--mib", type=int, default=30)
    a = ap.parse_args()
    raise_fd_limit(a.n + 100)
    srv, port = start_server(a.server, "--port", "0")
    socks = []
    try:
        base = rss_kib(srv.pid)
        socks = [stalled_session(port, a.mib) for _ in range(a.n)]
        time.sleep(0.5)
        codes = {}
        for s in socks:
            c = closed_with(s)
            codes[c] = codes.get(c, 0) + 1
        held = codes.pop(None, 0)
        print(f"sessions={a.n} each holding {a.mib} MiB of a message: held={held} closed={codes} "
              f"rss_before={base // 1024} MiB rss={rss_kib(srv.pid) // 1024} MiB "
              f"peak={peak_rss_kib(srv.pid) // 1024} MiB")
        return 0
    finally:
        for s in socks:
            s.close()
        srv.terminate()
        srv.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
