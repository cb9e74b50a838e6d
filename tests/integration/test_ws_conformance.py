#!/usr/bin/env python3
"""WebSocket conformance battery against the conformance echo server's /ws
(examples/echo_server.c), case by case in the categories of the Autobahn|Testsuite
fuzzingclient (which is not installable here): 1 framing, 2 ping/pong, 3 reserved bits,
4 reserved opcodes, 5 fragmentation, 6 UTF-8 (with fail-fast), 7 close handling, 9 large
messages and fragments, 10 auto-fragmentation, 12/13 permessage-deflate with many offers, plus
the opening handshake's edge cases.

Every case runs on its own connection over a raw socket (ws_wire.py) and compares what the
server did (the events it sent, then whether it closed TCP) with what RFC 6455 / RFC 7692
require. Where a case must show that the server did *not* fail yet (Autobahn waits a second),
a ping is sent and its pong is the proof: no timing is involved.

  test_ws_conformance.py --server build/examples/echo_server [--only PREFIX]"""
import argparse
import os
import random
import socket
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_wire import (BINARY, CLOSE, PING, PONG, TEXT, Conn, close_payload, fragments,  # noqa: E402
                     frame, mask_bytes, parse_extension)

FAILURES = []
COUNT = [0]
ONLY = [""]


def check(cond, what):
    COUNT[0] += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def short(events, limit=6):
    """Events for a log line: payloads shortened."""
    out = []
    for e in events[:limit]:
        if len(e) > 1 and isinstance(e[1], bytes) and len(e[1]) > 16:
            e = (e[0], f"<{len(e[1])} bytes>") + tuple(e[2:])
        out.append(e)
    return repr(out) + (f" +{len(events) - limit}" if len(events) > limit else "")


def norm(events):
    """Close events without their reason (codes are what the cases fix)."""
    return [(e[0], e[1]) if e[0] == "close" else e for e in events]


def run_case(port, name, send, expect, fail=None, ext=None, chop=None, timeout=15):
    """send: bytes, or a callable given the connection. expect: events before the end.
    fail: the close code the server must fail with; None: the connection must still be open,
    so we close it with 1000 and expect the echo. Returns the connection's events."""
    if not name.startswith(ONLY[0]):
        return None
    c = Conn(port, extensions=ext, timeout=timeout)
    if c.status != 101:
        check(False, f"{name}: handshake status {c.status}")
        return None
    if callable(send):
        send(c)
    else:
        c.send(send, chop)
    if fail is None:
        c.send(frame(CLOSE, close_payload(1000)))
        want = list(expect) + [("close", 1000), ("eof",)]
    else:
        want = list(expect) + [("close", fail), ("eof",)]
    got = norm(c.events_until_eof())
    c.close()
    check(got == want, f"{name}: {short(got)}" + ("" if got == want else f" want {short(want)}"))
    return got


# ---- 1 framing -------------------------------------------------------------------------------

def cat1(port):
    for op, kind in ((TEXT, "text"), (BINARY, "binary")):
        for n in (0, 125, 126, 127, 128, 65535, 65536):
            data = b"*" * n if op == TEXT else b"\xfe" * n
            run_case(port, f"1 {kind} payload {n}", frame(op, data), [(kind, data)])
        data = b"*" * 65536 if op == TEXT else b"\xfe" * 65536
        run_case(port, f"1 {kind} payload 65536 in chops of 997", frame(op, data),
                 [(kind, data)], chop=997)
    # non-minimal length encodings are legal (RFC 6455 §5.2 only says "minimal" for senders)
    raw = struct.pack("!BBH", 0x81, 0x80 | 126, 5) + b"\0\0\0\0" + b"hello"
    run_case(port, "1 text with a 16-bit length for 5 bytes", raw, [("text", b"hello")])
    raw = struct.pack("!BBQ", 0x82, 0x80 | 127, 3) + b"\0\0\0\0" + b"abc"
    run_case(port, "1 binary with a 64-bit length for 3 bytes", raw, [("binary", b"abc")])
    run_case(port, "1 64-bit length with the top bit set",
             struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 63) + b"\0\0\0\0", [], fail=1002)
    run_case(port, "1 a frame announcing 2^62 bytes (over the 32 MiB limit)",
             struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 62) + b"\0\0\0\0", [], fail=1009)
    run_case(port, "1 fragments adding up past the limit",
             lambda c: c.send(frame(BINARY, b"", fin=False, length=17 << 20) +
                              b"\0" * (17 << 20) + frame(0, b"", length=17 << 20)),
             [], fail=1009, timeout=60)


# ---- 2 pings and pongs -----------------------------------------------------------------------

def cat2(port):
    run_case(port, "2.1 ping without payload", frame(PING), [("pong", b"")])
    run_case(port, "2.2 ping with text payload", frame(PING, b"Hello, world!"),
             [("pong", b"Hello, world!")])
    binp = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    run_case(port, "2.3 ping with binary payload", frame(PING, binp), [("pong", binp)])
    p125 = b"\xfe" * 125
    run_case(port, "2.4 ping with 125 bytes", frame(PING, p125), [("pong", p125)])
    run_case(port, "2.5 ping with 126 bytes", frame(PING, b"\xfe" * 126), [], fail=1002)
    run_case(port, "2.6 ping with 125 bytes, octet-wise", frame(PING, p125), [("pong", p125)],
             chop=1)
    run_case(port, "2.7 unsolicited pong without payload", frame(PONG), [])
    run_case(port, "2.8 unsolicited pong with payload", frame(PONG, b"unsolicited"), [])
    run_case(port, "2.9 unsolicited pong, then ping",
             frame(PONG, b"unsolicited") + frame(PING, b"ping"), [("pong", b"ping")])
    pings = [b"payload-%d" % i for i in range(10)]
    run_case(port, "2.10 ten pings", b"".join(frame(PING, p) for p in pings),
             [("pong", p) for p in pings])
    run_case(port, "2.11 ten pings, octet-wise", b"".join(frame(PING, p) for p in pings),
             [("pong", p) for p in pings], chop=1)


# ---- 3 reserved bits, 4 reserved opcodes -----------------------------------------------------

def cat3_4(port):
    hello = frame(TEXT, b"Hello, world!")
    echo = [("text", b"Hello, world!")]
    run_case(port, "3.1 text with RSV=1", frame(TEXT, b"Hello", rsv=1), [], fail=1002)
    run_case(port, "3.2 text, text with RSV=2, ping",
             hello + frame(TEXT, b"Hello", rsv=2) + frame(PING), echo, fail=1002)
    run_case(port, "3.3 text, text with RSV=3, ping (frame-wise)",
             lambda c: c.send_frames([hello, frame(TEXT, b"Hello", rsv=3), frame(PING)]),
             echo, fail=1002)
    run_case(port, "3.4 text, text with RSV=4, ping (octet-wise)",
             hello + frame(TEXT, b"Hello", rsv=4) + frame(PING), echo, fail=1002, chop=1)
    run_case(port, "3.5 binary with RSV=5", frame(BINARY, b"\xff" * 8, rsv=5), [], fail=1002)
    run_case(port, "3.6 ping with RSV=6", frame(PING, b"p", rsv=6), [], fail=1002)
    run_case(port, "3.7 close with RSV=7", frame(CLOSE, close_payload(1000), rsv=7), [],
             fail=1002)
    for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        run_case(port, f"4 reserved opcode {op}", frame(op), [], fail=1002)
        run_case(port, f"4 text, reserved opcode {op} with payload, ping",
                 hello + frame(op, b"reserved") + frame(PING), echo, fail=1002)


# ---- 5 fragmentation -------------------------------------------------------------------------

def cat5(port):
    run_case(port, "5.1 ping in 2 fragments", frame(PING, b"frag", fin=False) +
             frame(0, b"ment"), [], fail=1002)
    run_case(port, "5.2 pong in 2 fragments", frame(PONG, b"frag", fin=False) +
             frame(0, b"ment"), [], fail=1002)
    two = [frame(TEXT, b"fragment1", fin=False), frame(0, b"fragment2")]
    whole = [("text", b"fragment1fragment2")]
    run_case(port, "5.3 text in 2 fragments", b"".join(two), whole)
    run_case(port, "5.4 text in 2 fragments, frame-wise", lambda c: c.send_frames(two), whole)
    run_case(port, "5.5 text in 2 fragments, octet-wise", b"".join(two), whole, chop=1)
    with_ping = [two[0], frame(PING, b"ping payload"), two[1]]
    want = [("pong", b"ping payload")] + whole
    run_case(port, "5.6 text in 2 fragments, ping between", b"".join(with_ping), want)
    run_case(port, "5.7 ... frame-wise", lambda c: c.send_frames(with_ping), want)
    run_case(port, "5.8 ... octet-wise", b"".join(with_ping), want, chop=1)
    with_pong = [two[0], frame(PONG, b"unsolicited"), two[1]]
    run_case(port, "5 text in 2 fragments, unsolicited pong between", b"".join(with_pong), whole)
    for fin, num in ((True, "5.9-5.11"), (False, "5.12-5.14")):
        data = frame(0, b"non-continuation payload", fin=fin) + frame(TEXT, b"Hello, world!")
        run_case(port, f"{num} continuation (FIN={int(fin)}) without a start, one chop", data,
                 [], fail=1002)
        run_case(port, f"{num} ... frame-wise", lambda c, fin=fin: c.send_frames(
            [frame(0, b"non-continuation payload", fin=fin), frame(TEXT, b"Hello, world!")]),
            [], fail=1002)
        run_case(port, f"{num} ... octet-wise", data, [], fail=1002, chop=1)
    run_case(port, "5.15 text in 2 fragments, then continuation without a start",
             b"".join(two) + frame(0, b"fragment3", fin=False) + frame(0, b"fragment4") +
             frame(TEXT, b"x"), whole, fail=1002)
    for fin, num in ((False, "5.16"), (True, "5.17")):
        one = frame(0, b"fragment1", fin=fin) + frame(TEXT, b"fragment2", fin=False) + \
            frame(0, b"fragment3")
        run_case(port, f"{num} 2x: continuation (FIN={int(fin)}) without a start, then a "
                 "message in 2 fragments", one + one, [], fail=1002)
    run_case(port, "5.18 text in 2 fragments, both with opcode text",
             frame(TEXT, b"fragment1", fin=False) + frame(TEXT, b"fragment2"), [], fail=1002)
    run_case(port, "5 binary fragments continued by a text frame",
             frame(BINARY, b"a", fin=False) + frame(TEXT, b"b"), [], fail=1002)

    def five(c, sync):
        # 5.19/5.20: 5 fragments with 2 pings between; a pong proves the first part was taken
        # before the rest is sent (Autobahn waits a second there).
        frags = [b"fragment%d" % i for i in range(1, 6)]
        part1 = [frame(TEXT, frags[0], fin=False), frame(0, frags[1], fin=False),
                 frame(PING, b"pongme 1!")]
        c.send_frames(part1) if sync else c.send(b"".join(part1))
        got = c.next_event()
        check(got == ("pong", b"pongme 1!"), f"5.19/5.20 first pong before the rest ({got})")
        part2 = [frame(0, frags[2], fin=False), frame(0, frags[3], fin=False),
                 frame(PING, b"pongme 2!"), frame(0, frags[4])]
        c.send_frames(part2) if sync else c.send(b"".join(part2))

    want = [("pong", b"pongme 2!"), ("text", b"".join(b"fragment%d" % i for i in range(1, 6)))]
    run_case(port, "5.19 5 fragments with 2 pings, in 2 parts", lambda c: five(c, False), want)
    run_case(port, "5.20 ... frame-wise", lambda c: five(c, True), want)


# ---- 6 UTF-8 ---------------------------------------------------------------------------------

def valid_utf8(b):
    try:
        b.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


def extendable(prefix):
    """True when some continuation makes prefix valid UTF-8. Only the byte after a lead is
    constrained beyond 80..BF (RFC 3629 §4), so trying each second byte with the remaining
    bytes at 0x80 decides it."""
    if valid_utf8(prefix):
        return True
    for extra in range(1, 4):
        for c in range(0x80, 0xC0):
            if valid_utf8(prefix + bytes([c]) + b"\x80" * (extra - 1)):
                return True
    return False


def fail_point(b):
    """Index of the byte that makes b impossible to complete (fail fast must close right
    there), len(b) when b is only truncated, None when valid."""
    if valid_utf8(b):
        return None
    for i in range(1, len(b) + 1):
        if not extendable(b[:i]):
            return i - 1
    return len(b)


def utf8_sequences():
    """(description, bytes): the sequences of Markus Kuhn's decoder test that Autobahn's 6.x
    uses, written from their definitions, plus boundaries of every range RFC 3629 fixes."""
    kosme = "κόσμε".encode()
    seqs = [("hello$world", b"hello\x24world"), ("U+00A2", b"hello\xc2\xa2world"),
            ("U+20AC", b"hello\xe2\x82\xacworld"), ("U+24B62", b"hello\xf0\xa4\xad\xa2world"),
            ("kosme", kosme)]
    seqs += [(f"kosme prefix {i}", kosme[:i]) for i in range(1, len(kosme))]
    firsts = [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80",
              b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"]
    lasts = [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xf7\xbf\xbf\xbf",
             b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"]
    seqs += [(f"first of length {len(s)}", s) for s in firsts]
    seqs += [(f"last of length {len(s)}", s) for s in lasts]
    seqs += [("U+D7FF", b"\xed\x9f\xbf"), ("U+E000", b"\xee\x80\x80"),
             ("U+FFFD", b"\xef\xbf\xbd"), ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
             ("U+110000", b"\xf4\x90\x80\x80")]
    seqs += [("lone continuation " + s.hex(), s) for s in
             (b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
              bytes(range(0x80, 0xc0)))]
    seqs += [("lonely 2-byte starts", b"".join(bytes([c]) + b" " for c in range(0xc0, 0xe0))),
             ("lonely 3-byte starts", b"".join(bytes([c]) + b" " for c in range(0xe0, 0xf0))),
             ("lonely 4-byte starts", b"".join(bytes([c]) + b" " for c in range(0xf0, 0xf8))),
             ("lonely 5-byte starts", b"".join(bytes([c]) + b" " for c in range(0xf8, 0xfc))),
             ("lonely 6-byte starts", b"\xfc \xfd ")]
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
               b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
               b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    seqs += [("last continuation missing " + s.hex(), s) for s in missing]
    seqs += [("concatenated incomplete", b"".join(missing))]
    seqs += [("impossible " + s.hex(), s) for s in (b"\xfe", b"\xff", b"\xfe\xfe\xff\xff")]
    overlong_slash = [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                      b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"]
    overlong_max = [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf8\x87\xbf\xbf\xbf",
                    b"\xfc\x83\xbf\xbf\xbf\xbf"]
    overlong_nul = [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xf8\x80\x80\x80\x80",
                    b"\xfc\x80\x80\x80\x80\x80"]
    seqs += [("overlong / " + s.hex(), s) for s in overlong_slash]
    seqs += [("maximum overlong " + s.hex(), s) for s in overlong_max]
    seqs += [("overlong NUL " + s.hex(), s) for s in overlong_nul]
    singles = [0xD800, 0xDB7F, 0xDB80, 0xDBFF, 0xDC00, 0xDF80, 0xDFFF]
    seqs += [(f"surrogate U+{cp:04X}", chr(cp).encode("utf-8", "surrogatepass"))
             for cp in singles]
    pairs = [(0xD800, 0xDC00), (0xD800, 0xDFFF), (0xDB7F, 0xDC00), (0xDB7F, 0xDFFF),
             (0xDB80, 0xDC00), (0xDB80, 0xDFFF), (0xDBFF, 0xDC00), (0xDBFF, 0xDFFF)]
    seqs += [(f"surrogate pair U+{a:04X} U+{b:04X}",
              chr(a).encode("utf-8", "surrogatepass") + chr(b).encode("utf-8", "surrogatepass"))
             for a, b in pairs]
    nonchars = [0xFFFE, 0xFFFF, 0x1FFFE, 0x1FFFF, 0x10FFFE, 0x10FFFF, 0xFDD0, 0xFDEF]
    seqs += [(f"noncharacter U+{cp:04X} (valid)", chr(cp).encode()) for cp in nonchars]
    seqs += [("specials U+FFF9..FFFD", "".join(chr(c) for c in range(0xFFF9, 0xFFFE)).encode())]
    # every lead byte with the edges of its first continuation range
    for lead in range(0xc0, 0x100):
        for second in (0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0):
            s = bytes([lead, second]) + b"\x80\x80"
            seqs.append((f"lead {lead:02x} then {second:02x}", s))
    return seqs


def cat6_basic(port):
    run_case(port, "6.1.1 empty text", frame(TEXT), [("text", b"")])
    run_case(port, "6.1.2 three empty fragments",
             frame(TEXT, fin=False) + frame(0, fin=False) + frame(0), [("text", b"")])
    run_case(port, "6.1.3 empty, non-empty, empty fragment",
             frame(TEXT, fin=False) + frame(0, b"middle", fin=False) + frame(0),
             [("text", b"middle")])
    s = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    run_case(port, "6.2.1 valid UTF-8 in one fragment", frame(TEXT, s), [("text", s)])
    cps = [ch.encode() for ch in s.decode()]
    run_case(port, "6.2.2 valid UTF-8, a fragment per code point",
             b"".join(frame(TEXT if k == 0 else 0, p, fin=k == len(cps) - 1)
                      for k, p in enumerate(cps)), [("text", s)])
    run_case(port, "6.2.3 valid UTF-8 in one frame, octet-wise", frame(TEXT, s),
             [("text", s)], chop=1)
    run_case(port, "6.2.4 valid UTF-8, a fragment per byte",
             b"".join(frame(TEXT if k == 0 else 0, s[k:k + 1], fin=k == len(s) - 1)
                      for k in range(len(s))), [("text", s)])
    bad = "κόσμε".encode() + b"\xed\xa0\x80" + b"edited"
    run_case(port, "6.3.1 invalid UTF-8 in one frame", frame(TEXT, bad), [], fail=1007)
    run_case(port, "6.3.2 invalid UTF-8, a fragment per byte",
             b"".join(frame(TEXT if k == 0 else 0, bad[k:k + 1], fin=k == len(bad) - 1)
                      for k in range(len(bad))), [], fail=1007)


def fail_fast_case(port, name, parts, in_one_frame):
    """parts: [valid start, bytes with the offending byte last, rest]. Sends the start and a
    ping (the pong proves it was accepted), then the offending part: the close 1007 must come
    before we send anything more."""
    if not name.startswith(ONLY[0]):
        return
    c = Conn(port)
    total = sum(len(p) for p in parts)
    key = os.urandom(4)
    if in_one_frame:
        # one frame whose payload arrives in chops (Autobahn 6.4.3/6.4.4): the masking key
        # continues across chops, so mask the whole payload once and cut it
        head = struct.pack("!BB", 0x81, 0x80 | total) if total < 126 else \
            struct.pack("!BBH", 0x81, 0x80 | 126, total)
        masked = mask_bytes(b"".join(parts), key)
        a, b = len(parts[0]), len(parts[0]) + len(parts[1])
        chunks = [head + key + masked[:a], masked[a:b], masked[b:]]
    else:
        chunks = [frame(TEXT, parts[0], fin=False), frame(0, parts[1], fin=False),
                  frame(0, parts[2])]
    c.send(chunks[0])
    if not in_one_frame:
        c.send(frame(PING, b"A"))
        first = c.next_event()
        check(first == ("pong", b"A"), f"{name}: the valid start is accepted ({first})")
    c.send(chunks[1])
    if not in_one_frame:
        c.send(frame(PING, b"B"))  # a pong for it would mean the server did not fail fast
    # (inside one frame nothing more can be sent: the rest stays unsent until the close)
    events = norm(c.events_until_eof())
    c.close()
    check(events == [("close", 1007), ("eof",)],
          f"{name}: failed with 1007 before the rest was sent: {short(events)}")


def cat6_utf8(port):
    p1 = "κόσμε".encode()
    for in_one, names in ((False, ("6.4.1", "6.4.2")), (True, ("6.4.3", "6.4.4"))):
        how = "chops of one frame" if in_one else "3 frames"
        fail_fast_case(port, f"{names[0]} fail fast, {how}, 2nd part holds U+110000",
                       [p1, b"\xf4\x90\x80\x80", b"edited"], in_one)
        fail_fast_case(port, f"{names[1]} fail fast, {how}, 2nd part is the bad byte only",
                       [p1 + b"\xf4", b"\x90", b"\x80\x80edited"], in_one)
    fail_fast_case(port, "6.4 fail fast on a surrogate's 2nd byte (ED A0)",
                   [b"ok", b"\xed\xa0", b"\x80rest"], False)
    fail_fast_case(port, "6.4 fail fast on an overlong's 2nd byte (E0 80)",
                   [b"ok", b"\xe0\x80", b"\x80rest"], False)
    fail_fast_case(port, "6.4 fail fast on F5", [b"ok", b"\xf5", b"\x80\x80\x80"], True)

    # 6.5-6.22: each sequence as one message in one frame, and a fragment per byte; valid
    # ones come back unchanged, invalid ones fail with 1007. The fail point is checked too:
    # the bytes after the offending one are only sent as a separate frame after it.
    for desc, s in utf8_sequences():
        point = fail_point(s)
        if point is None:
            run_case(port, f"6 valid {desc}", frame(TEXT, s), [("text", s)])
            run_case(port, f"6 valid {desc}, per byte",
                     b"".join(frame(TEXT if k == 0 else 0, s[k:k + 1], fin=k == len(s) - 1)
                              for k in range(len(s))), [("text", s)])
        else:
            run_case(port, f"6 invalid {desc}", frame(TEXT, s), [], fail=1007)
            if point < len(s) and point >= 1:
                fail_fast_case(port, f"6 invalid {desc}: fails at byte {point}",
                               [s[:point], s[point:point + 1], s[point + 1:] + b"."], False)

    # differential: random byte strings near the UTF-8 ranges against Python's decoder
    rng = random.Random(6455)
    alphabet = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
                0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xff]
    valid_msgs, checked = [], 0
    for _ in range(3000):
        s = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        if valid_utf8(s):
            valid_msgs.append(s)
        elif checked < 120:
            checked += 1
            point = fail_point(s)
            if point < len(s):
                fail_fast_case(port, f"6 random invalid {s.hex()}: fails at byte {point}",
                               [s[:point] or b"a", s[point:point + 1], s[point + 1:] + b"."],
                               False)
            else:  # only truncated: the message's end is where it fails
                run_case(port, f"6 random truncated {s.hex()}", frame(TEXT, s), [], fail=1007)
    # every valid one on one connection, fragmented at random points
    if "6 random valid".startswith(ONLY[0]) or ONLY[0].startswith("6 random valid"):
        c = Conn(port)
        ok = True
        for s in valid_msgs[:400]:
            cut = rng.randint(0, len(s))
            c.send(frame(TEXT, s[:cut], fin=False) + frame(0, s[cut:]))
            ok &= c.next_event() == ("text", s)
        c.close()
        check(ok, f"6 random valid sequences ({min(len(valid_msgs), 400)}) echoed, "
              "split at random points")


# ---- 7 close handling ------------------------------------------------------------------------

def cat7(port):
    hello = frame(TEXT, b"Hello World!")
    run_case(port, "7.1.1 message then close", hello, [("text", b"Hello World!")])
    run_case(port, "7.1.2 two closes", lambda c: c.send(
        frame(CLOSE, close_payload(1000)) + frame(CLOSE, close_payload(1000))),
        [], fail=1000)
    run_case(port, "7.1.3 ping after close", frame(CLOSE, close_payload(1000)) + frame(PING),
             [], fail=1000)
    run_case(port, "7.1.4 text after close", frame(CLOSE, close_payload(1000)) + hello,
             [], fail=1000)
    run_case(port, "7.1.5 fragment, close, fragment",
             frame(TEXT, b"fragment1", fin=False) + frame(CLOSE, close_payload(1000)) +
             frame(0, b"fragment2"), [], fail=1000)
    # 7.1.6 is informational in Autobahn; a clean end after the 256 KiB message is required
    big = frame(TEXT, b"BAsd7&jh23" * 26215)
    run_case(port, "7.1.6 256 KiB message, message, close, ping",
             big + hello + frame(CLOSE, close_payload(1000)) + frame(PING),
             [("text", b"BAsd7&jh23" * 26215), ("text", b"Hello World!")], fail=1000)
    # 7.3 close payloads
    if "7.3.1".startswith(ONLY[0]) or ONLY[0].startswith("7.3.1"):
        c = Conn(port)
        c.send(frame(CLOSE))
        ev = norm(c.events_until_eof())
        c.close()
        check(ev in ([("close", None), ("eof",)], [("close", 1000), ("eof",)]),
              f"7.3.1 empty close: answered empty or 1000, then TCP closed ({ev})")
    run_case(port, "7.3.2 close with a 1-byte payload", frame(CLOSE, b"\x03"), [], fail=1002)
    run_case(port, "7.3.3 close 1000 without reason", frame(CLOSE, close_payload(1000)), [],
             fail=1000)
    run_case(port, "7.3.4 close 1000 with reason", frame(CLOSE, close_payload(1000, b"Hello")),
             [], fail=1000)
    run_case(port, "7.3.5 close 1000 with a 123-byte reason",
             frame(CLOSE, close_payload(1000, b"*" * 123)), [], fail=1000)
    run_case(port, "7.3.6 close with a 124-byte reason (payload 126)",
             frame(CLOSE, close_payload(1000, b"*" * 124)), [], fail=1002)
    run_case(port, "7.5.1 close reason not UTF-8",
             frame(CLOSE, close_payload(1000, "κόσμε".encode() + b"\xed\xa0\x80edited")), [],
             fail=1007)
    # 7.7 valid codes are echoed (or answered with 1000); the IANA registry adds 1012-1014
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                 3000, 3999, 4000, 4999):
        if not f"7.7 close code {code}".startswith(ONLY[0]):
            continue
        c = Conn(port)
        c.send(frame(CLOSE, close_payload(code)))
        ev = norm(c.events_until_eof())
        c.close()
        check(ev in ([("close", code), ("eof",)], [("close", 1000), ("eof",)]),
              f"7.7 close code {code} echoed: {ev}")
    # 7.9 invalid codes fail with 1002 (1015 is local-only like 1005/1006)
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        run_case(port, f"7.9 close code {code}", frame(CLOSE, close_payload(code)), [],
                 fail=1002)
    # after the close handshake began nothing more is processed: a text, a ping, a second
    # (bad) close are all ignored
    run_case(port, "7 close then a bad frame", frame(CLOSE, close_payload(1000)) +
             frame(3) + frame(TEXT, b"\xff"), [], fail=1000)


# ---- 9 large messages and fragments, 10 auto-fragmentation ------------------------------------

def cat9_10(port):
    """A CI-sized subset of 9.x (the full sweep with timings: bench/websocket/large_messages.py)."""
    t0 = time.monotonic()
    for op, kind, byte in ((TEXT, "text", b"*"), (BINARY, "binary", b"\xfe")):
        data = byte * (16 << 20)
        run_case(port, f"9.{1 if op == TEXT else 2}.6 {kind} 16 MiB in one frame",
                 frame(op, data), [(kind, data)], timeout=60)
        data = byte * (4 << 20)
        run_case(port, f"9.{3 if op == TEXT else 4}.1 {kind} 4 MiB in 64-byte fragments",
                 fragments(op, data, 64), [(kind, data)], timeout=60)
        run_case(port, f"9.{3 if op == TEXT else 4}.9 {kind} 4 MiB in 4 MiB fragments",
                 fragments(op, data, 4 << 20), [(kind, data)], timeout=60)
        data = byte * (1 << 20)
        run_case(port, f"9.{5 if op == TEXT else 6}.1 {kind} 1 MiB in one frame, 64-byte chops",
                 frame(op, data), [(kind, data)], chop=64 * 64, timeout=60)

    def many(c, op, n):
        msg = (b"*" if op == TEXT else b"\xfe") * n
        f = frame(op, msg)
        ok = True
        for _ in range(1000):
            c.send(f)
            ok &= c.next_event() == ("text" if op == TEXT else "binary", msg)
        check(ok, f"9.{7 if op == TEXT else 8} 1000 round trips of {n} bytes")

    for op in (TEXT, BINARY):
        for n in (0, 4096):
            run_case(port, f"9.{7 if op == TEXT else 8} 1000 x {n}",
                     lambda c, op=op, n=n: many(c, op, n), [])
    data = b"*" * 65536
    run_case(port, "10.1.1 text 65536 in 1300-byte fragments", fragments(TEXT, data, 1300),
             [("text", data)])
    print(f"     (9.x subset took {time.monotonic() - t0:.1f} s)", flush=True)


# ---- 12/13 permessage-deflate ----------------------------------------------------------------

def corpus(n, seed):
    """Compressible, JSON-like text with repeats at long and short distances."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzäöü") for _ in range(rng.randint(2, 9)))
             for _ in range(400)]
    out, size = [], 0
    while size < n:
        rec = '{"id": %d, "name": "%s", "tags": ["%s", "%s"], "v": %f},\n' % (
            rng.randint(0, 99999), rng.choice(words), rng.choice(words), rng.choice(words),
            rng.random())
        out.append(rec)
        size += len(rec.encode())
    return "".join(out).encode()[:n].decode("utf-8", "ignore").encode()


def deflate_session(port, name, offer, expect_params, sizes=(16, 64, 256, 1024, 4096, 16384,
                                                                65536, 131072),
                    count=8, frag=0, binary=False, incompressible=False):
    """Negotiates with `offer`, checks the accepted parameters, then sends `count` compressed
    messages of each size (auto-fragmented to `frag` bytes) and checks each echo: same type,
    same bytes, RSV1 on the first frame only, and inflatable with exactly the window and
    context rules the server agreed to."""
    if not name.startswith(ONLY[0]):
        return
    c = Conn(port, extensions=offer, timeout=30)
    ext = c.extension
    if c.status != 101 or c.deflate is None:
        check(False, f"{name}: not negotiated ({c.status}, {ext})")
        return
    _, params = parse_extension(ext)
    ok_params = all(params.get(k, "absent") == v for k, v in expect_params.items())
    check(ok_params, f"{name}: response '{ext}'")
    op = BINARY if binary else TEXT
    kind = "binary" if binary else "text"
    ok, n = True, 0
    try:
        for size in sizes:
            for i in range(count):
                msg = (random.Random(size * 31 + i).randbytes(size) if incompressible else
                       corpus(size, seed=size * 31 + i))
                packed = c.deflate.compress(msg)
                c.frames_seen.clear()
                c.send(fragments(op, packed, frag, rsv_first=4) if frag else
                       frame(op, packed, rsv=4))
                got = c.next_event()
                rsv_ok = c.frames_seen[0][1] == 4 and all(r == 0 for _, r, _ in c.frames_seen[1:])
                if got != (kind, msg) or not rsv_ok:
                    ok = False
                    print(f"     {name}: size {size} #{i}: {short([got])} frames "
                          f"{c.frames_seen[:3]}", flush=True)
                    break
                n += 1
            if not ok:
                break
        c.send(frame(CLOSE, close_payload(1000)))
        end = norm(c.events_until_eof())
    except (zlib.error, EOFError, OSError) as e:
        ok, end = False, repr(e)
    c.close()
    check(ok and end == [("close", 1000), ("eof",)],
          f"{name}: {n} compressed {kind} messages echoed (frag {frag}), clean close {end}")


def cat12_13(port):
    ab_default = "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    deflate_session(port, "12 default Autobahn offer", ab_default,
                    {"client_no_context_takeover": None})
    deflate_session(port, "12 default Autobahn offer, binary, 256-byte fragments", ab_default,
                    {}, binary=True, frag=256, sizes=(8192, 131072), count=4)
    deflate_session(port, "12 incompressible binary (stored blocks)", ab_default, {},
                    binary=True, incompressible=True, sizes=(16, 4096, 131072), count=3)
    deflate_session(port, "12 plain offer, 4096-byte fragments", "permessage-deflate",
                    {"client_max_window_bits": "absent", "server_max_window_bits": "absent",
                     "server_no_context_takeover": "absent"},
                    frag=4096, sizes=(131072,), count=4)
    deflate_session(port, "13.2 server_no_context_takeover",
                    ab_default + "; server_no_context_takeover",
                    {"server_no_context_takeover": None})
    for bits in range(8, 16):
        deflate_session(port, f"13 server_max_window_bits={bits}",
                        ab_default + f"; server_max_window_bits={bits}",
                        {"server_max_window_bits": str(bits)}, sizes=(1024, 65536), count=3)
    deflate_session(port, "13.5 server_no_context_takeover + server_max_window_bits=9",
                    ab_default + "; server_no_context_takeover; server_max_window_bits=9",
                    {"server_no_context_takeover": None, "server_max_window_bits": "9"},
                    sizes=(1024, 65536), count=3)
    for bits in (8, 9, 12, 15):
        deflate_session(port, f"13 client_max_window_bits={bits}",
                        f"permessage-deflate; client_max_window_bits={bits}",
                        {}, sizes=(1024, 65536), count=3)
    deflate_session(port, "13 quoted client_max_window_bits=\"10\"",
                    'permessage-deflate; client_max_window_bits="10"', {}, sizes=(4096,),
                    count=3)
    deflate_session(port, "13.7 three offers: the first acceptable one wins",
                    ab_default + "; server_no_context_takeover; server_max_window_bits=9, " +
                    ab_default + "; server_no_context_takeover, " + ab_default,
                    {"server_no_context_takeover": None, "server_max_window_bits": "9"},
                    sizes=(1024, 16384), count=3)
    for bad in ("server_max_window_bits=16", "server_max_window_bits=7",
                "server_max_window_bits=08", "server_max_window_bits",
                "client_max_window_bits=0", "client_max_window_bits=16", "foo",
                "server_no_context_takeover; server_no_context_takeover",
                "server_no_context_takeover=1", "client_max_window_bits=1 0"):
        deflate_session(port, f"13 unacceptable first offer ({bad}) skipped",
                        f"permessage-deflate; {bad}, permessage-deflate; "
                        "server_no_context_takeover",
                        {"server_no_context_takeover": None}, sizes=(256,), count=2)
        name = f"13 only an unacceptable offer ({bad}): declined"
        if name.startswith(ONLY[0]):
            c = Conn(port, extensions=f"permessage-deflate; {bad}")
            c.send(frame(TEXT, b"plain"))
            got = c.next_event()
            c.close()
            check(c.status == 101 and c.extension is None and got == ("text", b"plain"),
                  f"{name}: {c.status} {c.extension} {got}")
    deflate_session(port, "13 unknown extension before permessage-deflate",
                    "x-webkit-deflate-frame, permessage-deflate", {}, sizes=(1024,), count=2)
    if "13 extensions in two header lines".startswith(ONLY[0]):
        c = Conn(port, extensions="x-foo",
                 extra=b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n")
        check(c.deflate is not None and c.deflate.server_reset,
              f"13 extensions in two header lines: {c.extension}")
        c.close()

    # protocol rules with deflate on
    pm = "permessage-deflate"
    run_case(port, "12 RSV1 on a continuation frame", lambda c: c.send(
        frame(TEXT, c.deflate.compress(b"abc")[:2], fin=False, rsv=4) +
        frame(0, b"\x00", rsv=4)), [], fail=1002, ext=pm)
    run_case(port, "12 RSV1 on a ping", frame(PING, b"x", rsv=4), [], fail=1002, ext=pm)
    def three_with_ping(c):
        p = c.deflate.compress(b"compressed " * 30)
        c.send(frame(TEXT, p[:3], fin=False, rsv=4) + frame(PING, b"between") +
               frame(0, p[3:6], fin=False) + frame(0, p[6:]))
    run_case(port, "12 compressed message in 3 fragments with a ping between", three_with_ping,
             [("pong", b"between"), ("text", b"compressed " * 30)], ext=pm)
    run_case(port, "12 uncompressed message with deflate on", frame(TEXT, b"plain text"),
             [("text", b"plain text")], ext=pm)
    run_case(port, "12 empty compressed message (one 00 byte)", frame(TEXT, b"\x00", rsv=4),
             [("text", b"")], ext=pm)
    run_case(port, "12 empty compressed message (no payload)", frame(BINARY, b"", rsv=4),
             [("binary", b"")], ext=pm)

    def empty_then_next(c):
        # an empty payload is an empty message; with context takeover it must not disturb the
        # inflater for the next message (it used to leave it inside a block header: 1007)
        c.send(frame(TEXT, c.deflate.compress(b"hello"), rsv=4) + frame(TEXT, b"", rsv=4) +
               frame(TEXT, c.deflate.compress(b"world"), rsv=4))
    run_case(port, "12 empty compressed message (no payload) between two others",
             empty_then_next, [("text", b"hello"), ("text", b""), ("text", b"world")], ext=pm)

    def many_final_blocks(c):
        # each final block restarts the inflater, copying its window (32 KiB once full) out
        # and back in; the copies count against the message size limit (32 MiB here), so 2
        # bytes of input cannot buy 64 KiB of copying without end: 600 restarts are over it
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        fill = z.compress(corpus(40000, 7)) + z.flush(zlib.Z_FINISH)
        c.send(frame(BINARY, fill + b"\x03\x00" * 600, rsv=4))
    run_case(port, "12 a message of 600 empty final blocks after a full window is over the "
             "size limit", many_final_blocks, [], fail=1009, ext=pm)

    def small_final_block(c):
        # ... while an ordinary message ending in a final block costs almost nothing
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.send(frame(TEXT, z.compress(b"hello") + z.flush(zlib.Z_FINISH), rsv=4))
    run_case(port, "12 a short message ending in a final block", small_final_block,
             [("text", b"hello")], ext=pm)

    def bfinal(c):
        # a sender may end a message with a final block (RFC 7692 §7.2.3.4); the next
        # message then starts a new deflate stream
        for text in (b"first message " * 20, b"second message " * 20):
            z = zlib.compressobj(6, zlib.DEFLATED, -15)
            c.send(frame(TEXT, z.compress(text) + z.flush(zlib.Z_FINISH), rsv=4))
    run_case(port, "12 messages ending in a BFINAL block", bfinal,
             [("text", b"first message " * 20), ("text", b"second message " * 20)], ext=pm)

    def bfinal_takeover(c):
        # ... and with context takeover the new stream may refer back to the previous
        # message (the sender keeps its window as a preset dictionary)
        first, second = corpus(3000, 1), corpus(3000, 1)[:2000] + b" and something new"
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.send(frame(TEXT, z.compress(first) + z.flush(zlib.Z_FINISH), rsv=4))
        z = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=first)
        packed = z.compress(second) + z.flush(zlib.Z_SYNC_FLUSH)
        c.send(frame(TEXT, packed[:-4], rsv=4))
    run_case(port, "12 a BFINAL message, then one referring back to it", bfinal_takeover,
             [("text", corpus(3000, 1)), ("text", corpus(3000, 1)[:2000] + b" and something new")],
             ext=pm)
    run_case(port, "12 corrupt deflate data", frame(BINARY, b"\xff\xff\xff\xff", rsv=4), [],
             fail=1007, ext=pm)
    run_case(port, "12 compressed text inflating to invalid UTF-8",
             lambda c: c.send(frame(TEXT, c.deflate.compress(b"ok \xed\xa0\x80"), rsv=4)), [],
             fail=1007, ext=pm)

    def compressed_fail_fast(c):
        # the bad bytes are in the first frame; the rest of the message never comes
        packed = c.deflate.compress(b"valid start " * 50 + b"\xf4\x90 and more")
        c.send(frame(TEXT, packed, fin=False, rsv=4) + frame(PING, b"A"))
    run_case(port, "12 compressed text with invalid UTF-8 fails before the message ends",
             compressed_fail_fast, [], fail=1007, ext=pm)


# ---- the opening handshake -------------------------------------------------------------------

def raw_request(port, request):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n")[0].decode("latin-1")
    status = int(head.split()[1]) if head.startswith("HTTP/") else None
    return status, head


def handshake_cases(port):
    def req(method=b"GET", version=b"HTTP/1.1", upgrade=b"websocket", connection=b"Upgrade",
            key=b"dGhlIHNhbXBsZSBub25jZQ==", ws_version=b"13", extra=b""):
        h = method + b" /ws " + version + b"\r\nHost: 127.0.0.1:%d\r\n" % port
        if upgrade is not None:
            h += b"Upgrade: " + upgrade + b"\r\n"
        if connection is not None:
            h += b"Connection: " + connection + b"\r\n"
        if key is not None:
            h += b"Sec-WebSocket-Key: " + key + b"\r\n"
        if ws_version is not None:
            h += b"Sec-WebSocket-Version: " + ws_version + b"\r\n"
        return h + extra + b"\r\n"

    cases = [
        ("RFC 6455 sample key", req(), {101}),
        ("Connection: keep-alive, Upgrade", req(connection=b"keep-alive, Upgrade"), {101}),
        ("Connection: upgrade (lower case)", req(connection=b"upgrade"), {101}),
        ("Connection in two header lines", req(connection=b"keep-alive",
                                               extra=b"Connection: Upgrade\r\n"), {101}),
        ("Upgrade: WebSocket (mixed case)", req(upgrade=b"WebSocket"), {101}),
        ("header names in lower case", req().replace(b"Upgrade:", b"upgrade:").replace(
            b"Sec-WebSocket-Key:", b"sec-websocket-key:"), {101}),
        ("no Upgrade", req(upgrade=None), {400}),
        ("Upgrade: h2c", req(upgrade=b"h2c"), {400}),
        ("no Connection", req(connection=None), {400}),
        ("Connection: keep-alive only", req(connection=b"keep-alive"), {400}),
        ("no Sec-WebSocket-Key", req(key=None), {400}),
        ("key of 15 bytes", req(key=b"AAAAAAAAAAAAAAAAAAAA"), {400}),
        ("key of 17 bytes", req(key=b"AAAAAAAAAAAAAAAAAAAAAAA="), {400}),
        ("key with a bad character", req(key=b"dGhlIHNhbXBsZSBub25j*Q=="), {400}),
        ("key not base64 at all", req(key=b"not base64 at all!!!!!!!"), {400}),
        ("key of 24 characters without padding", req(key=b"AAAAAAAAAAAAAAAAAAAAAAAA"), {400}),
        ("two Sec-WebSocket-Key fields", req(extra=b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"),
         {400}),
        ("version 8", req(ws_version=b"8"), {426}),
        ("version 14", req(ws_version=b"14"), {426}),
        ("no version", req(ws_version=None), {400, 426}),
        ("POST", req(method=b"POST", extra=b"Content-Length: 0\r\n"), {400, 405}),
        ("HEAD", req(method=b"HEAD"), {400}),  # what a GET that is no handshake gets
        ("HTTP/1.0", req(version=b"HTTP/1.0"), {400}),
    ]
    for what, request, statuses in cases:
        name = f"handshake: {what}"
        if not name.startswith(ONLY[0]):
            continue
        status, head = raw_request(port, request)
        extra_ok = True
        lower = head.lower()
        if status == 101:
            extra_ok = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head and \
                "\r\nupgrade: websocket\r\n" in lower + "\r\n" and \
                "\r\nconnection: upgrade\r\n" in lower + "\r\n" and \
                "Sec-WebSocket-Extensions" not in head and "Sec-WebSocket-Protocol" not in head
        if status == 426:  # RFC 9110 15.5.22: a 426 names the protocol in Upgrade
            extra_ok = "Sec-WebSocket-Version: 13" in head and \
                "\r\nupgrade: websocket\r\n" in lower + "\r\n" and \
                "\r\nconnection: upgrade\r\n" in lower + "\r\n"
        if status == 405:  # Allow names what the endpoint takes: GET (the handshake) and HEAD
            extra_ok = "\r\nAllow: GET, HEAD\r\n" in head + "\r\n"
        check(status in statuses and extra_ok,
              f"{name} → {status} (want {sorted(statuses)})" +
              ("" if extra_ok else f" headers: {head!r}"))

    if "handshake: frames in the same packet".startswith(ONLY[0]):
        c = Conn(port, first_bytes=frame(TEXT, b"early") + frame(PING, b"p"))
        ev = [c.next_event(), c.next_event()]
        c.close()
        check(c.status == 101 and ev == [("text", b"early"), ("pong", b"p")],
              f"handshake: frames in the same packet as the request are processed ({ev})")
    if "handshake: subprotocol".startswith(ONLY[0]):
        c = Conn(port, extra=b"Sec-WebSocket-Protocol: chat, superchat\r\n")
        check(c.status == 101 and "sec-websocket-protocol" not in c.headers and c.accept_ok,
              "handshake: an offered subprotocol the server does not pick is not answered")
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--only", default="", help="run the cases whose name starts with this")
    ap.add_argument("--skip-large", action="store_true", help="skip the 9.x subset")
    args = ap.parse_args()
    ONLY[0] = args.only
    proc = subprocess.Popen([args.server, "--port", "0"], stdout=subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        handshake_cases(port)
        cat1(port)
        cat2(port)
        cat3_4(port)
        cat5(port)
        cat6_basic(port)
        cat6_utf8(port)
        cat7(port)
        if not args.skip_large:
            cat9_10(port)
        cat12_13(port)
        check(proc.poll() is None, "the server is still running")
    finally:
        proc.terminate()
        code = proc.wait(30)
    check(code == 0, f"the server exits cleanly on SIGTERM (exit {code})")
    print(f"{COUNT[0] - len(FAILURES)} passed, {len(FAILURES)} failed "
          f"({time.monotonic() - start:.1f} s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
