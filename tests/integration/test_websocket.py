#!/usr/bin/env python3
"""WebSocket tests (issue 5) against ws_test_server: every protocol rule with raw frames over a
socket, python3-websockets (Debian's 10.4) as a real client, and eddy's own client against
eddy and against a python3-websockets server."""
import argparse
import asyncio
import base64
import hashlib
import os
import re
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from tcp_state import wait_server_read
from ws_going_away import close_code_when_stopped
from ws_wire import frame  # the frame builder of the conformance battery (rsv 4 = RSV1)

try:
    import websockets
except ImportError:  # a python3 outside Debian's (pyenv): use the Debian package
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


# ---- raw frames ------------------------------------------------------------------------------

def handshake(port, path="/ws", extra=b"", key=None, version=b"13"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = key if key is not None else base64.b64encode(os.urandom(16))
    req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port +
           b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
           b"\r\nSec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n")
    s.sendall(req)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head, key


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    return b0 & 0x0F, b0 & 0x80, read_exact(s, n)


def expect_close(s, code, what):
    """Reads frames until a close frame; checks its code and that TCP closes after it."""
    try:
        while True:
            op, _, payload = read_frame(s)
            if op == 8:
                break
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        rest = s.recv(10)
        check(got == code and rest == b"", f"{what}: close {code} then TCP close (got {got})")
    except (EOFError, OSError) as e:
        check(False, f"{what}: close {code} ({e!r})")
    s.close()


def async_prepare_tests(port):
    """A prepare that detaches (an async authentication check) holds the handshake until it
    resumes, or refuses it: the 101 used to go out at once, open() ran before prepare ended
    and a 403 from it refused nothing."""
    t0 = time.monotonic()
    s, head, key = handshake(port, "/authws")
    waited = time.monotonic() - t0
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    op, _, p = read_frame(s) if head.startswith(b"HTTP/1.1 101") else (None, None, None)
    check(head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Accept: " + accept in head and
          b"X-Prepared: yes" in head and waited >= 0.12 and op == 1 and p == b"resumes=1",
          f"async prepare: the 101 and open() only after the resume ({waited:.2f} s, {p})")
    s.close()
    s, head, _ = handshake(port, "/authws?deny")
    rest = b""
    s.settimeout(5)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
    except OSError:
        pass
    s.close()
    check(head.startswith(b"HTTP/1.1 403") and
          b"\x81" not in rest[:1],
          f"async prepare refusing with 403 after its wait: no upgrade ({head[:40]!r})")
    # A client that closes (FIN) while prepare waits has left, as an HTTP client does: the
    # connection ends at once, and no 101 follows at the resume; also when it sent its first
    # frame in the handshake's packet. That frame used to wait unread in the connection, which
    # then did not see the FIN: the 101 went out after the wait, to a client that had left.
    outcomes = []
    for early in (b"", frame(1, b"early")):
        outcomes.append(handshake_then_fin(port, "/authws", base64.b64encode(os.urandom(16)),
                                           early))
    check(outcomes == [b"", b""],
          f"async prepare: a client that leaves while it waits gets no 101, with or without "
          f"its first frame sent ({[o[:12] for o in outcomes]})")


def handshake_then_fin(port, path, key, early=b""):
    """Sends a WebSocket handshake for `path` with `key` (and the bytes `early` in the same
    write), then a FIN; returns all the server sent until its close (with a reset's repr)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path.encode(), port) +
              b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n" + early)
    s.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        data += repr(e).encode()
    s.close()
    return data


def half_close_tests(port, stderr_path):
    """A client that half-closes (FIN) right behind its handshake still gets the 101, as any
    request followed by a half-close gets its answer (Tornado sends it, then on_close runs
    without a close code); the FIN then ends the session as a connection closed without a close
    frame (RFC 6455 §7.1.5: 1006). The FIN used to close the connection before the deferred
    upgrade wrote its 101: most such clients got nothing."""
    rounds = 30
    got = []
    for i in range(rounds):
        key = base64.b64encode(os.urandom(16))
        early = frame(1, b"early") if i % 3 == 2 else b""  # a frame before the FIN, every third
        data = handshake_then_fin(port, "/logclose", key, early)
        head, _, rest = data.partition(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        want_rest = b"\x81\x05early" if early else b""
        got.append(head.startswith(b"HTTP/1.1 101") and
                   b"Sec-WebSocket-Accept: " + accept in head and rest == want_rest)
    check(all(got), f"handshake then FIN: the 101 (and the echo of a frame sent before the FIN), "
                    f"then TCP close ({got.count(True)} of {rounds})")
    deadline = time.monotonic() + 5
    codes = []
    while time.monotonic() < deadline:
        with open(stderr_path) as f:
            codes = re.findall(r"logclose: on_close (\d+)", f.read())
        if len(codes) >= rounds:
            break
        time.sleep(0.05)
    check(codes == ["1006"] * rounds,
          f"handshake then FIN: every session ends with on_close 1006 ({len(codes)}: {set(codes)})")


def raw_tests(port):
    s, head, key = handshake(port)
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    check(head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Accept: " + accept in head,
          "handshake: 101 with the right Sec-WebSocket-Accept")
    # fragmented text with an interleaved ping, split across writes byte by byte for the header
    data = frame(1, b"hel", fin=False) + frame(9, b"p1") + frame(0, b"lo ", fin=False) + frame(0, "wörld".encode())
    for i in range(0, len(data), 3):
        s.sendall(data[i:i + 3])
    op1, _, p1 = read_frame(s)
    op2, _, p2 = read_frame(s)
    check((op1, p1) == (10, b"p1") and (op2, p2) == (1, "hello wörld".encode()),
          "fragmented message with an interleaved ping: pong first, then the whole message")
    s.sendall(frame(8, struct.pack("!H", 1000) + b"bye"))
    op, _, p = read_frame(s)
    check(op == 8 and p[:2] == struct.pack("!H", 1000) and s.recv(10) == b"",
          "close handshake: the code echoed, then the server closes TCP")
    s.close()

    rules = [
        ("unmasked client frame", frame(1, b"x", mask=False), 1002),
        ("RSV1 without an extension", frame(1, b"x", rsv=4), 1002),
        ("RSV2", frame(1, b"x", rsv=2), 1002),
        ("unknown data opcode 3", frame(3, b"x"), 1002),
        ("unknown control opcode 0xB", frame(0xB, b"x"), 1002),
        ("fragmented ping", frame(9, b"x", fin=False), 1002),
        ("oversized ping (126 bytes)", frame(9, b"x" * 126), 1002),
        ("continuation without a start", frame(0, b"x"), 1002),
        ("new message inside a fragmented one", frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
        ("invalid UTF-8 in text", frame(1, b"\xff\xfe"), 1007),
        ("invalid UTF-8 across fragments", frame(1, b"\xe2\x82", fin=False) + frame(0, b"\x28"), 1007),
        ("text ending inside a character", frame(1, b"\xe2\x82"), 1007),
        ("invalid UTF-8 in a close reason", frame(8, struct.pack("!H", 1000) + b"\xff"), 1007),
        ("close code 1005 on the wire", frame(8, struct.pack("!H", 1005)), 1002),
        ("close code 999", frame(8, struct.pack("!H", 999)), 1002),
        ("close code 5000", frame(8, struct.pack("!H", 5000)), 1002),
        ("one-byte close payload", frame(8, b"\x03"), 1002),
    ]
    for what, data, code in rules:
        s, head, _ = handshake(port)
        s.sendall(data)
        expect_close(s, code, what)

    s, head, _ = handshake(port, "/small")
    s.sendall(frame(2, b"x" * 1001))
    expect_close(s, 1009, "message over the limit (1000 bytes)")
    s, head, _ = handshake(port, "/small")
    s.sendall(frame(2, b"x" * 600, fin=False) + frame(0, b"x" * 600))
    expect_close(s, 1009, "fragmented message over the limit")
    s, head, _ = handshake(port, "/small")
    s.sendall(frame(2, b"x" * 1000))
    op, _, p = read_frame(s)
    check(op == 2 and len(p) == 1000, "a message exactly at the limit is echoed")
    s.close()

    import zlib
    s, head, _ = handshake(port, "/ws", b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    check(b"permessage-deflate" in head, "deflate negotiated on raw handshake")
    c = zlib.compressobj(wbits=-15)
    small = c.compress(b"hello") + c.flush(zlib.Z_SYNC_FLUSH)
    s.sendall(frame(1, small[:-4], rsv=4))
    op, _, p = read_frame(s)
    check(op == 1 and zlib.decompressobj(wbits=-15).decompress(p + b"\0\0\xff\xff") == b"hello",
          "compressed text echoed compressed")
    # An empty compressed payload is the empty message (some senders produce it for "").
    s.sendall(frame(1, b"", rsv=4))
    op, _, p = read_frame(s)
    check(op == 1 and zlib.decompressobj(wbits=-15).decompress(p + b"\0\0\xff\xff") == b"",
          "an empty compressed payload is the empty message")
    # A compressed message cut short (its sync flush stripped, then 3 more bytes) does not end
    # between deflate blocks: 1007, not a silently shortened message.
    s.close()
    s, head, _ = handshake(port, "/ws", b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(b"hello hello hello hello unique tail text") + c.flush(zlib.Z_SYNC_FLUSH)
    s.sendall(frame(2, body[:-4][:-3], rsv=4) + frame(1, b"after"))
    op, _, p = read_frame(s)
    check(op == 8 and p[:2] == struct.pack("!H", 1007),
          "a truncated compressed message fails the connection with 1007, no echo (%d %r)"
          % (op, p[:40]))
    s.close()
    # The route's compression level shows in what comes back: /stored compresses at level 0
    # (stored blocks: more bytes than the message), /ws at the default (far fewer).
    text = b"".join(b"word%d " % (i % 50) for i in range(3000))
    c = zlib.compressobj(wbits=-15)
    packed = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    echoed = {}
    for path in ("/stored", "/ws"):
        s, head, _ = handshake(port, path, b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        s.sendall(frame(1, packed[:-4], rsv=4))
        op, _, p = read_frame(s)
        check(op == 1 and zlib.decompressobj(wbits=-15).decompress(p + b"\0\0\xff\xff") == text,
              f"{path}: compressed echo decodes to the message")
        echoed[path] = len(p)
        s.close()
    check(echoed["/stored"] > len(text) > 4 * echoed["/ws"],
          f"compression level 0 stores, the default compresses ({echoed}, message {len(text)})")
    # The route's window limit (/lowmem: 9 bits, eddy_ws_options_set_compression) holds when
    # the offer allows more: the answer names 9 (RFC 7692 7.1.2.1: "the same or smaller value")
    # and a 3,000-byte random block sent twice is not found again 3,000 bytes back. It used to
    # answer and compress with the offer's 15 bits: any client chose the server's window memory.
    import random
    block = random.Random(3).randbytes(3000)
    for offer, bits in ((b"server_max_window_bits=15", b"9"), (b"server_max_window_bits=12", b"9"),
                        (b"server_max_window_bits=8", b"8")):
        s, head, _ = handshake(port, "/lowmem",
                               b"Sec-WebSocket-Extensions: permessage-deflate; " + offer + b"\r\n")
        check(b"; server_max_window_bits=" + bits + b"\r\n" in head,
              f"/lowmem answers {offer.decode()} with server_max_window_bits={bits.decode()}: {head!r}")
        s.sendall(frame(2, block * 2))
        op, _, p = read_frame(s)
        check(op == 2 and zlib.decompressobj(wbits=-15).decompress(p + b"\0\0\xff\xff") == block * 2
              and len(p) > len(block) * 2,
              f"/lowmem offered {offer.decode()}: compresses within its own window ({len(p)} bytes)")
        s.close()
    # a compression bomb: 40 MiB of zeros in ~40 KB; /ws's limit is 32 MiB after inflating
    c = zlib.compressobj(wbits=-15)
    big = b""
    chunk = b"\0" * (1 << 20)
    for _ in range(40):
        big += c.compress(chunk)
    big += c.flush(zlib.Z_SYNC_FLUSH)
    s, head, _ = handshake(port, "/ws", b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    s.sendall(frame(2, big[:-4], rsv=4))
    expect_close(s, 1009, f"compressed message of {len(big)} bytes inflating past the 32 MiB limit")

    # handshake refusals
    s, head, _ = handshake(port, version=b"8")
    check(head.startswith(b"HTTP/1.1 426") and b"Sec-WebSocket-Version: 13" in head,
          "version 8 → 426 with Sec-WebSocket-Version: 13")
    s.close()
    s, head, _ = handshake(port, extra=b"Sec-WebSocket-Version: 8\r\n")
    check(head.startswith(b"HTTP/1.1 426"), "two Sec-WebSocket-Version lines (13, 8) → 426")
    s.close()
    # Upgrade is a list: field lines combine (RFC 9110 5.3), whichever line names websocket.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    check(s.recv(4096).startswith(b"HTTP/1.1 101"), "Upgrade: h2c and Upgrade: websocket lines → 101")
    s.close()
    s, head, _ = handshake(port, key=b"short")
    check(head.startswith(b"HTTP/1.1 400"), "bad Sec-WebSocket-Key → 400")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
    check(s.recv(100).startswith(b"HTTP/1.1 400"), "no Upgrade header → 400")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: \r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    check(s.recv(100).startswith(b"HTTP/1.1 400"),
          "empty Host → 400 (RFC 6455 4.2.1: the server's authority; RFC 9110 4.2.1)")
    s.close()
    s, head, _ = handshake(port, extra=b"Origin: http://evil.example\r\n")
    check(head.startswith(b"HTTP/1.1 403"), "cross-origin → 403")
    s.close()
    s, head, _ = handshake(port, extra=b"Origin: http://127.0.0.1:%d\r\n" % port)
    check(head.startswith(b"HTTP/1.1 101"), "same origin → 101")
    s.close()

    # on_ping (eddy_ws_options_set_on_ping): runs with the payload after the automatic pong
    s, head, _ = handshake(port, "/onping")
    s.sendall(frame(9, b"abc") + frame(9, b"") + frame(1, b"echo"))
    got = [read_frame(s) for _ in range(5)]
    check([(op, p) for op, _, p in got] ==
          [(10, b"abc"), (1, b"ping:abc"), (10, b""), (1, b"ping:"), (1, b"echo")],
          f"on_ping: pong first, then the callback with the payload, in order ({got})")
    s.sendall(frame(9, b"close") + frame(9, b"late"))
    got = [read_frame(s) for _ in range(4)]
    check([(op, p[:2]) for op, _, p in got] ==
          [(10, b"cl"), (1, b"pi"), (8, struct.pack("!H", 4001)), (10, b"la")],
          "on_ping may close the connection; a ping after that gets its pong (RFC 6455 5.5.2) "
          f"but is not reported ({got})")
    s.sendall(frame(8, struct.pack("!H", 1000)))
    try:
        rest = s.recv(100)
    except OSError:
        rest = None
    check(rest == b"", f"connection closed after the close handshake ({rest!r})")
    s.close()

    # keep-alive: /ping sends a ping every 0.2 s and drops a peer that sends no pong within 1 s
    s, head, _ = handshake(port, "/ping")
    s.settimeout(15)
    pings, eof = 0, False
    try:
        while True:
            op, _, _ = read_frame(s)
            pings += op == 9
    except EOFError:
        eof = True
    except OSError:
        pass
    check(pings >= 1 and eof, f"a peer that never answers pings is dropped ({pings} pings, then EOF)")
    s.close()

    # close timeout: the server starts the close handshake and we never answer: it must drop
    # TCP after its close timeout (5 s by default) instead of waiting forever
    s, head, _ = handshake(port, "/closer")
    s.sendall(frame(1, b"x"))
    op, _, p = read_frame(s)
    check(op == 8 and p[:2] == struct.pack("!H", 4000), "server-initiated close: 4000 sent")
    s.settimeout(15)
    start = time.monotonic()
    try:
        rest = s.recv(10)
    except OSError:
        rest = None
    check(rest == b"", "server drops TCP when the client never answers the close "
          f"(after {time.monotonic() - start:.1f} s)")
    s.close()


# ---- python3-websockets as a client ----------------------------------------------------------

async def client_tests(port):
    for comp in (None, "deflate"):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=comp,
                                      max_size=None) as ws:
            ok = True
            for n in (0, 125, 126, 65535, 65536, 16 * 1024 * 1024):
                await ws.send("é" * (n // 2) + "a" * (n % 2))
                ok &= await ws.recv() == "é" * (n // 2) + "a" * (n % 2)
                payload = os.urandom(n) if n < 70000 else bytes(range(256)) * (n // 256)
                await ws.send(payload)
                ok &= await ws.recv() == payload
            await ws.send(["frag", "mented ", "text"])
            ok &= await ws.recv() == "fragmented text"
            await ws.send([b"\x00\x01", b"\x02"])
            ok &= await ws.recv() == b"\x00\x01\x02"
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            check(ok and (ext is None) == (comp is None),
                  f"python3-websockets echo 0..16 MiB text+binary, fragmented, compression={comp}")
    async with websockets.connect(f"ws://127.0.0.1:{port}/proto", subprotocols=["x", "chat"]) as ws:
        first = await ws.recv()
        check(ws.subprotocol == "chat" and ws.response_headers.get("X-Extra") == "yes" and
              first == "proto=chat deflate=1", f"subprotocol + extra header + deflate ({first})")
    async with websockets.connect(f"ws://127.0.0.1:{port}/ping") as ws:
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "pong", "keep-alive ping answered by the client → on_pong")
    async with websockets.connect(f"ws://127.0.0.1:{port}/closer") as ws:
        await ws.send("x")
        try:
            await ws.recv()
        except websockets.ConnectionClosed:
            pass
        check(ws.close_code == 4000 and ws.close_reason == "bye", "server close(4000, bye)")

    # 1,000 concurrent clients, 100 messages each, none lost
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    clients, per = 1000, 100

    async def one(i):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None,
                                      open_timeout=60, ping_interval=None) as ws:
            for k in range(per):
                await ws.send(f"{i}:{k}")
            got = [await ws.recv() for _ in range(per)]
            return got == [f"{i}:{k}" for k in range(per)]

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(clients)),
                                                    return_exceptions=True), 90)
    good = sum(1 for r in results if r is True)
    check(good == clients, f"{clients} concurrent clients x {per} messages echoed in order ({good} ok)")


# ---- a peer that sends but does not read ----------------------------------------------------

def message_memory_tests(port, stderr_path):
    """/budget: messages being received may hold 100,000 bytes over all the route's sessions."""
    held, _, _ = handshake(port, "/budget")
    big = frame(2, b"h" * 80000)
    held.sendall(big[:-20000])  # 60,000 of its 80,000 bytes, then a stall
    wait_server_read(port, [held.getsockname()[1]])
    over, _, _ = handshake(port, "/budget")
    over.sendall(frame(2, b"o" * 50000))  # 60,000 + 50,000: over
    expect_close(over, 1013, "a message over the route's max_message_memory")
    held.sendall(big[-20000:])
    op, _, payload = read_frame(held)
    check((op, payload) == (2, b"h" * 80000), "the held message completes and is echoed")
    fits, _, _ = handshake(port, "/budget")
    fits.sendall(frame(2, b"f" * 99000))  # the held message's bytes were given back
    op, _, payload = read_frame(fits)
    check((op, len(payload)) == (2, 99000), "a message that fits again is echoed (%d)" % len(payload))
    for s in (held, fits):
        s.close()
    with open(stderr_path) as f:
        log = f.read()
    # The count is what the sessions held when a read of the second message went over: the
    # held 60,000 bytes plus whatever part of the 50,000 earlier reads had taken (one read on
    # a quiet machine, several when the bytes trickle in).
    counts = [int(n) for n in re.findall(r"message refused: the sessions hold (\d+) bytes of "
                                          r"messages being received, max_message_memory is "
                                          r"100000", log)]
    check(len(counts) == 1 and 60000 <= counts[0] <= 100000,
          "the refusal is logged with the count (%s)" % counts)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def built_with_asan(binary):
    """The binary was built with AddressSanitizer, its runtime linked statically (clang's
    default) or not: either way it names __asan_init."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def idle_memory_after_messages_tests(server):
    """A connection that goes idle after a large message keeps no buffer of its size: 200
    connections each echo one 60,000-byte message and stay open. (Each kept its largest message
    buffer, up to 64 KiB, until it closed: 12 MB here.) A server of its own: in one that
    already freed large buffers, new ones reuse that memory and RSS would not tell."""
    if built_with_asan(server):
        print("skipped under ASan: freed buffers wait in its quarantine, so RSS cannot tell")
        return
    proc = subprocess.Popen([server, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[-1])
        measure_idle_memory_after_messages(port, proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def access_log_tests(server):
    """The handshake is logged once, with its 101 (Tornado logs it at the handshake): the
    connection leaves the HTTP server at the upgrade, and nothing logged it before. A refused
    handshake is logged as any answer."""
    log_dir = tempfile.mkdtemp(prefix="eddy-ws-log-")
    log_path = os.path.join(log_dir, "access.log")
    proc = subprocess.Popen([server, "--port", "0", "--access-log", log_path],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[-1])
        s, head, _ = handshake(port, "/ws?tag=logged")
        check(head.startswith(b"HTTP/1.1 101"), f"handshake: {head!r}")
        s.sendall(frame(1, b"x"))
        check(read_frame(s)[2] == b"x", "echo after the handshake")
        s.close()
        s, head, _ = handshake(port, "/ws?tag=refused", version=b"12")
        check(head.startswith(b"HTTP/1.1 426"), f"refused handshake: {head!r}")
        s.close()
        text = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "tag=refused" not in text:
            time.sleep(0.05)
            with open(log_path) as f:
                text = f.read()
        upgraded = [l for l in text.splitlines() if "tag=logged" in l]
        check(len(upgraded) == 1 and upgraded[0].endswith('"GET /ws?tag=logged HTTP/1.1" 101 0'),
              f"the upgrade is logged once with 101: {text!r}")
        check('"GET /ws?tag=refused HTTP/1.1" 426 ' in text, f"a refused handshake: {text!r}")
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(log_dir, ignore_errors=True)


def going_away_tests(server, free_order):
    """The server stops (SIGTERM: ws_test_server stops its loop, then frees its app and loop
    in `free_order`) with WebSocket connections open: each gets a close frame with 1001 (Going
    Away), then the end of TCP, instead of a connection that just vanishes (1006) — a raw
    client, one with a message just echoed, and python3-websockets."""
    proc = subprocess.Popen([server, "--port", "0", "--free", free_order],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[-1])
        terminated = []
        quiet, _, _ = handshake(port)
        busy, _, _ = handshake(port)
        busy.sendall(frame(1, b"still here"))
        check(read_frame(busy)[2] == b"still here", "echo before the server goes away")

        def stop():
            proc.terminate()
            terminated.append(True)

        code = asyncio.run(close_code_when_stopped(f"ws://127.0.0.1:{port}/ws", stop))
        check(code == 1001,
              f"{free_order}: python3-websockets sees the server's close 1001 (got {code})")
        expect_close(quiet, 1001, f"{free_order}: an idle connection when the server goes away")
        expect_close(busy, 1001,
                     f"{free_order}: a connection that just had an echo when the server goes away")
    finally:
        if not terminated:  # (a second SIGTERM could meet the server without its handler)
            proc.terminate()
        code = proc.wait(30)
    check(code == 0, f"{free_order}: server exits cleanly after going away (exit {code})")


def measure_idle_memory_after_messages(port, pid):
    conns = [handshake(port)[0] for _ in range(5)]  # the first connections' one-time costs
    for s in conns:
        s.close()
    time.sleep(0.2)
    before = rss_kib(pid)
    conns = []
    payload = os.urandom(60000)
    for _ in range(200):
        s, _, _ = handshake(port)
        data = frame(2, payload)
        # In two pieces, the server reading the first before the second is sent: a message
        # that arrives whole in one read is delivered from the read buffer without a copy.
        s.sendall(data[:30000])
        wait_server_read(port, [s.getsockname()[1]])
        s.sendall(data[30000:])
        op, _, echoed = read_frame(s)
        check((op, echoed) == (2, payload), "a 60,000-byte message is echoed")
        conns.append(s)
    per_connection = (rss_kib(pid) - before) * 1024 / len(conns)
    check(per_connection < 16384,
          "an idle connection after a 60,000-byte message holds %d bytes" % per_connection)
    for s in conns:
        s.close()


def small_window_handshake(port, path="/ws"):
    """A raw WebSocket connection whose receive buffer is 64 KiB (set before connect, so the
    window stays small): a client that reads slowly, or not at all."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return s, head


def send_until_held(s, frames, limit, hold=2.0):
    """Sends frames (cycling) until the server takes nothing for `hold` seconds or `limit`
    bytes went out. Returns (frames begun, bytes sent, the unsent rest of the last frame)."""
    s.setblocking(False)
    count = sent = 0
    rest = b""
    while sent < limit:
        if not rest:
            rest = frames[count % len(frames)]
            count += 1
        if not select.select([], [s], [], hold)[1]:
            break  # held
        n = s.send(rest)
        sent += n
        rest = rest[n:]
    s.setblocking(True)
    return count, sent, rest


def backpressure_tests(port, pid):
    # Echoes of 1 MiB messages that the client never reads: past 4 MiB of queued output
    # (eddy_ws_options_set_max_queued_output's default) the server reads no more frames, so TCP
    # holds the client back. Before, it queued every echo: 480 MiB of RSS for 480 MiB sent.
    s, head = small_window_handshake(port)
    check(b" 101 " in head, "backpressure: handshake")
    messages = [frame(2, struct.pack("!I", i) + bytes([i % 251]) * ((1 << 20) - 4))
                for i in range(8)]
    rss_before = rss_kib(pid)
    count, sent, rest = send_until_held(s, messages, 256 << 20)
    grown = (rss_kib(pid) - rss_before) >> 10
    print("     held after %d messages (%.1f MiB), server RSS +%d MiB" % (count, sent / 2**20, grown))
    check(sent < (64 << 20), "a client that never reads is held (%.1f MiB sent)" % (sent / 2**20))
    check(grown < 160, "server memory stays bounded (+%d MiB)" % grown)
    other, head, _ = handshake(port)
    other.sendall(frame(1, b"still here"))
    check(read_frame(other) == (1, 0x80, b"still here"), "another connection is served meanwhile")
    other.close()
    # Now the client reads (in a thread) while it sends the rest of its last frame and one more
    # message: every message comes back, in order.
    s.settimeout(20)
    echoes = []

    def reader():
        try:
            for _ in range(count + 1):
                echoes.append(read_frame(s))
        except (OSError, EOFError):
            pass

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(rest + frame(2, b"last"))
    t.join(60)
    check(len(echoes) == count + 1 and
          all(op == 2 and len(p) == 1 << 20 and p[:4] == struct.pack("!I", i % 8)
              for i, (op, _, p) in enumerate(echoes[:count])) and
          echoes[-1] == (2, 0x80, b"last"),
          "all %d echoes arrive in order once the client reads (%d)" % (count + 1, len(echoes)))
    s.close()

    # A client that stops reading with echoes queued (below the route's 64 MiB queue limit, so
    # frames are still read), then sends a close: the server answers it, and its close timeout
    # (1 s on /deepqueue) bounds the wait for that answer to leave too. Before, the flush had no
    # limit: the connection, and everything queued for it, stayed as long as the client liked.
    def open_fds():
        return len(os.listdir("/proc/%d/fd" % pid))
    fds_before = open_fds()
    s, head = small_window_handshake(port, "/deepqueue")
    for i in range(12):  # 12 MiB of echoes: more than the kernel's buffers take
        s.sendall(frame(2, bytes([i]) * (1 << 20)))
    s.sendall(frame(8, struct.pack("!H", 1000)))
    deadline = time.monotonic() + 15
    while open_fds() > fds_before and time.monotonic() < deadline:
        time.sleep(0.1)
    check(open_fds() <= fds_before, "a client that answers nothing after its close frame is "
          "dropped at the close timeout (fds %d, before %d)" % (open_fds(), fds_before))
    s.close()

    # A flood of pings: the pongs are the queued output.
    s, head = small_window_handshake(port)
    pings = [b"".join(frame(9, b"p" * 125) for _ in range(4000))]
    rss_before = rss_kib(pid)
    count, sent, _ = send_until_held(s, pings, 512 << 20)
    grown = (rss_kib(pid) - rss_before) >> 10
    check(sent < (64 << 20) and grown < 160,
          "a ping flood that never reads its pongs is held (%.1f MiB sent, RSS +%d MiB)"
          % (sent / 2**20, grown))
    s.close()


# ---- eddy's client ---------------------------------------------------------------------------

def run_client(server, url, *args):
    out = subprocess.run([server, "--connect", url, *args], capture_output=True, text=True,
                         timeout=30)
    # the client exits normally (under ASan: with no leak or error report)
    check(out.returncode == 0 and "Sanitizer" not in out.stderr,
          f"client process exit {out.returncode} {out.stderr[-2000:]}")
    return out.stdout.splitlines()


async def python_server_tests(server):
    async def echo(ws, path=None):
        async for m in ws:
            await ws.send(m)

    async with websockets.serve(echo, "127.0.0.1", 0, compression="deflate") as srv:
        port = srv.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        for extra in ([], ["--deflate"]):
            lines = await loop.run_in_executor(None, run_client, server,
                                               f"ws://127.0.0.1:{port}/", *extra, "hi", "b:bin",
                                               "x" * 70000)
            check(lines[:1] == [f"connected deflate={1 if extra else 0}"] and
                  "text 2 hi" in lines and "binary 3" in lines and
                  f"text 70000 {'x' * 70000}" in lines and lines[-1].startswith("close 1000"),
                  f"eddy client ↔ python3-websockets server {extra}: {lines[:1]} {lines[-1:]}")

    # A URL's fragment is no part of the request target (RFC 6455 §3): it is dropped.
    async def tell_path(ws, path=None):
        await ws.send(path if path is not None else ws.path)

    async with websockets.serve(tell_path, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        for url, target in ((f"ws://127.0.0.1:{port}/p?q=1#frag", "/p?q=1"),
                            (f"ws://127.0.0.1:{port}#frag", "/")):
            lines = await loop.run_in_executor(None, run_client, server, url)
            check(f"text {len(target)} {target}" in lines,
                  f"eddy client sends {url} as {target}: {lines}")

    # Credentials in the URL go as basic credentials, never in the request target (as the HTTP
    # client and Tornado do); the server sees the target and the Authorization field.
    async def tell_auth(ws, path=None):
        await ws.send((path if path is not None else ws.path) + " " +
                      ws.request_headers.get("Authorization", "none"))

    async with websockets.serve(tell_auth, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        for url, seen in ((f"ws://Aladdin:open%20sesame@127.0.0.1:{port}/a",
                           "/a Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
                          (f"ws://127.0.0.1:{port}/b", "/b none")):
            lines = await loop.run_in_executor(None, run_client, server, url)
            check(f"text {len(seen)} {seen}" in lines,
                  f"eddy client sends the userinfo of {url} as basic credentials: {lines}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    stderr_file = tempfile.NamedTemporaryFile(mode="w", suffix=".log")
    proc = subprocess.Popen([args.server, "--port", "0"], stdout=subprocess.PIPE, text=True,
                            stderr=stderr_file)
    try:
        port = int(proc.stdout.readline().split()[-1])
        raw_tests(port)
        async_prepare_tests(port)
        half_close_tests(port, stderr_file.name)
        message_memory_tests(port, stderr_file.name)
        backpressure_tests(port, proc.pid)
        asyncio.run(client_tests(port))
        for extra in ([], ["--deflate"]):
            lines = run_client(args.server, f"ws://127.0.0.1:{port}/ws", *extra, "hi", "b:bin")
            check(lines == [f"connected deflate={1 if extra else 0}", "text 2 hi", "binary 3",
                            "close 1000 "], f"eddy client ↔ eddy server {extra}: {lines}")
        lines = run_client(args.server, f"ws://127.0.0.1:{port}/no-such-route", "x")
        check(lines == ["refused 404 Not Found",
                        "connect failed protocol error: the server answered 404 Not Found"],
              f"eddy client: a non-101 answer → on_refused with the status, then EDDY_EPROTO: {lines}")
        lines = run_client(args.server, f"ws://127.0.0.1:{port}/closer", "x")
        check(lines[-1:] == ["close 4000 bye"], f"eddy client sees the server's close: {lines}")
        asyncio.run(python_server_tests(args.server))
        idle_memory_after_messages_tests(args.server)
        access_log_tests(args.server)
        for free_order in ("app-first", "loop-first"):
            going_away_tests(args.server, free_order)
        check(proc.poll() is None, "server still running")
    finally:
        proc.terminate()
        code = proc.wait(30)
    check(code == 0, f"server exits cleanly on SIGTERM (exit {code}; ASan reports on stderr)")
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
