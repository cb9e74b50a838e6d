"""write_message's Future as in Tornado: it resolves once the message was written out, so a
producer awaiting it is held back by a slow reader, and it fails with WebSocketClosedError when
the peer goes first. Server side (WebSocketHandler) and client side (WebSocketClientConnection),
each against a raw-socket peer with a small SO_RCVBUF, on eddy and on python3-tornado.

The bound checked while 16 MiB flow: every message whose future resolved was handed to the
kernel, and the kernel cannot hold more than the sender's largest send buffer plus the
receiver's receive buffer beyond what the reader took. A future resolved at once (no
backpressure) breaks the bound as soon as the first bytes arrive."""

import base64
import hashlib
import os
import socket
import struct
import threading
import unittest

import impl_pair

from eddy import lowlevel as _ll

CHUNK = 64 * 1024
COUNT = 256  # 16 MiB
FRAME = CHUNK + 10  # a 64 KiB frame's header is 10 bytes (+4 for the client's mask)
RCVBUF = 8192
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def payload(i):
    return struct.pack(">I", i) * (CHUNK // 4)


def kernel_slack(sock):
    """Most bytes the kernel may hold between the two ends (see the module docstring)."""
    def read(path, field=0):
        try:
            with open(path) as f:
                return int(f.read().split()[field])
        except (OSError, ValueError, IndexError):
            return 64 << 20
    send_max = max(read("/proc/sys/net/ipv4/tcp_wmem", 2), 2 * read("/proc/sys/net/core/wmem_max"))
    return send_max + sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) + 2 * (FRAME + 4)


class Probe:
    """What the producer reports to the test (plain attributes, read from the other thread)."""

    def __init__(self):
        self.completed = 0       # messages whose future resolved
        self.pending_seen = 0    # futures not done right after write_message returned
        self.max_buffer = 0      # eddy: the largest eddy_ws_write_buffer_size seen
        self.queued = threading.Event()
        self.finished = threading.Event()
        self.outcomes = None     # abandon mode: per message, "ok" or the exception's class name
        self.error = None


async def produce(conn, probe, mode, buffer_size):
    """Writes COUNT messages: "stream" awaits each future before the next write; "abandon"
    writes them all, then gathers the outcomes once the peer dropped the connection."""
    import asyncio
    try:
        if mode == "stream":
            for i in range(COUNT):
                future = conn.write_message(payload(i), binary=True)
                if not future.done():
                    probe.pending_seen += 1
                size = buffer_size()
                if size is not None:
                    probe.max_buffer = max(probe.max_buffer, size)
                await future
                probe.completed = i + 1
        else:
            futures = [conn.write_message(payload(i), binary=True) for i in range(COUNT)]
            probe.queued.set()
            results = await asyncio.gather(*futures, return_exceptions=True)
            probe.outcomes = ["ok" if r is None else type(r).__name__ for r in results]
    except Exception as e:
        probe.error = e
    finally:
        probe.queued.set()
        probe.finished.set()


def make_app(web, websocket, probes):
    class Flood(websocket.WebSocketHandler):
        async def open(self):
            probe = probes[self.get_argument("id")]
            ws = getattr(self, "_ws", None)  # eddy's C connection, for the buffer getter
            await produce(self, probe, self.get_argument("mode"),
                          lambda: _ll.eddy_ws_write_buffer_size(ws) if ws is not None else None)

        def on_message(self, message):
            pass

    return web.Application([(r"/flood", Flood)])


# ---- the raw-socket peer ---------------------------------------------------------------------

def recv_until(sock, marker, buf):
    while marker not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        buf += data
    head, _, rest = bytes(buf).partition(marker)
    return head, bytearray(rest)


class FrameReader:
    """Reads frames from a socket, checking after every recv that the producer's completed
    count respects the kernel bound."""

    def __init__(self, sock, probe, buf, test):
        self.sock, self.probe, self.buf, self.test = sock, probe, buf, test
        self.received = len(buf)
        self.slack = kernel_slack(sock)

    def _fill(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the producer")
            self.received += len(data)
            self.buf += data
            completed = self.probe.completed
            self.test.assertLessEqual(
                completed * FRAME, self.received + self.slack,
                "%d messages reported written while the reader took %d bytes: the futures "
                "resolved before the bytes left the sender" % (completed, self.received))

    def frame(self):
        self._fill(2)
        b0, b1 = self.buf[0], self.buf[1]
        length, offset = b1 & 0x7F, 2
        if length == 126:
            self._fill(4)
            length, offset = struct.unpack(">H", self.buf[2:4])[0], 4
        elif length == 127:
            self._fill(10)
            length, offset = struct.unpack(">Q", self.buf[2:10])[0], 10
        mask = None
        if b1 & 0x80:
            self._fill(offset + 4)
            mask, offset = bytes(self.buf[offset:offset + 4]), offset + 4
        self._fill(offset + length)
        data = bytes(self.buf[offset:offset + length])
        del self.buf[:offset + length]
        if mask:
            data = _unmask(data, mask)
        return b0 & 0x0F, data


def _unmask(data, mask):
    n = len(data)
    key = int.from_bytes(mask * (n // 4) + mask[:n % 4], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def small_socket():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # before connect / listen
    sock.settimeout(20)
    return sock


def reset(sock):
    """Closes with RST (unread data, no linger), so the producer's writes fail at once."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class BackpressureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.probes = {}
        cls.servers = {}
        for name in impl_pair.NAMES:
            web, websocket, _ = impl_pair.modules(name)
            cls.servers[name] = impl_pair.serve(
                name, lambda web=web, websocket=websocket: make_app(web, websocket, cls.probes))

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers.values():
            server.stop()

    def each(self, check):
        for name in impl_pair.NAMES:
            with self.subTest(impl=name):
                check(name)

    def check_stream_probe(self, name, probe):
        self.assertIsNone(probe.error)
        self.assertEqual(probe.completed, COUNT)
        self.assertGreater(probe.pending_seen, 0)  # not resolved when write_message returned
        if name == "eddy":
            # Awaiting each future keeps at most the message just written in eddy's buffer.
            self.assertGreater(probe.max_buffer, 0)
            self.assertLessEqual(probe.max_buffer, FRAME + 4)

    # ---- WebSocketHandler.write_message ----
    def server_connect(self, name, mode):
        probe = Probe()
        key = "%s-%s-%d" % (name, mode, id(probe))
        self.probes[key] = probe
        sock = small_socket()
        sock.connect(("127.0.0.1", self.servers[name].port))
        nonce = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(("GET /flood?id=%s&mode=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n" % (key, mode, nonce)).encode())
        head, rest = recv_until(sock, b"\r\n\r\n", bytearray())
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        return sock, probe, rest

    def test_server_futures_follow_a_slow_reader(self):
        def check(name):
            sock, probe, rest = self.server_connect(name, "stream")
            try:
                reader = FrameReader(sock, probe, rest, self)
                for i in range(COUNT):
                    opcode, data = reader.frame()
                    self.assertEqual(opcode, 2)
                    if data != payload(i):
                        self.fail("message %d out of order or damaged" % i)
            finally:
                sock.close()
            self.assertTrue(probe.finished.wait(10))
            self.check_stream_probe(name, probe)
        self.each(check)

    def test_server_futures_fail_when_the_reader_leaves(self):
        def check(name):
            sock, probe, _ = self.server_connect(name, "abandon")
            self.assertTrue(probe.queued.wait(10))
            reset(sock)
            self.assertTrue(probe.finished.wait(10))
            self.assertIsNone(probe.error)
            self.assert_abandoned(probe.outcomes)
        self.each(check)

    def assert_abandoned(self, outcomes):
        self.assertEqual(len(outcomes), COUNT)
        failed = outcomes.index("WebSocketClosedError") if "WebSocketClosedError" in outcomes \
            else COUNT
        self.assertLess(failed, COUNT, "no future failed although the peer left")
        # What went out before the reset succeeded, everything after it failed.
        self.assertEqual(set(outcomes[:failed]) | {"ok"}, {"ok"})
        self.assertEqual(set(outcomes[failed:]), {"WebSocketClosedError"})

    # ---- WebSocketClientConnection.write_message ----
    def client_run(self, name, mode, peer):
        """Runs a websocket_connect client producing in `mode` against a raw server whose
        accepted connection goes to peer(sock, probe, rest) on a thread."""
        _, websocket, _ = impl_pair.modules(name)
        probe = Probe()
        listener = small_socket()  # accepted sockets inherit the small receive buffer
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        box = {}

        def serve():
            try:
                sock, _ = listener.accept()
                sock.settimeout(20)
                head, rest = recv_until(sock, b"\r\n\r\n", bytearray())
                key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:")][0]
                accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                             b"\r\n\r\n")
                peer(sock, probe, rest)
            except Exception as e:  # reported by the test below
                box["error"] = e
            finally:
                probe.queued.set()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()

        async def go():
            url = "ws://127.0.0.1:%d/" % listener.getsockname()[1]
            conn = await websocket.websocket_connect(url)
            ws = getattr(conn, "_ws", None)
            await produce(conn, probe, mode,
                          lambda: _ll.eddy_ws_write_buffer_size(ws) if ws is not None else None)
            if mode == "stream":
                conn.close()
                await conn.read_message()
        outcome = impl_pair.run(name, go, timeout=20)
        thread.join(20)
        listener.close()
        if "error" in box:
            raise box["error"]
        self.assertEqual(outcome[0], "ok", outcome)
        return probe

    def test_client_futures_follow_a_slow_reader(self):
        def peer(sock, probe, rest):
            reader = FrameReader(sock, probe, rest, self)
            try:
                for i in range(COUNT):
                    opcode, data = reader.frame()
                    self.assertEqual(opcode, 2)
                    if data != payload(i):
                        self.fail("message %d out of order or damaged" % i)
                opcode, _ = reader.frame()
                self.assertEqual(opcode, 8)  # the client's close
                sock.sendall(b"\x88\x02\x03\xe8")
            finally:
                sock.close()

        def check(name):
            self.check_stream_probe(name, self.client_run(name, "stream", peer))
        self.each(check)

    def test_client_futures_fail_when_the_server_leaves(self):
        def peer(sock, probe, rest):
            probe.queued.wait(10)
            reset(sock)

        def check(name):
            probe = self.client_run(name, "abandon", peer)
            self.assertIsNone(probe.error)
            self.assert_abandoned(probe.outcomes)
        self.each(check)


if __name__ == "__main__":
    unittest.main()
