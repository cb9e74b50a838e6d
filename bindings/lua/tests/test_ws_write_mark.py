"""Lua binding, WebSocket backpressure (set_write_mark / write_buffer_size / wait_for_drain):
tests/ws_write_mark.lua sends 16 MiB in 16 KiB binary messages, waiting for the drain whenever
its write buffer is over a 64 KiB mark, to a peer that starts reading only once the producer
had to wait and then reads in small pieces. Both the server side (a Lua WebSocket handler,
read by a raw-socket client) and the client side (eddy.websocket_connect, read by a raw-socket
server) must: deliver every message intact and in order, never let the buffer grow past the
mark plus one message, and see the on_drain callback. A reader that leaves while the handler
waits makes wait_for_drain return false, and the server goes on serving."""
import base64
import hashlib
import json
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import unittest

from luatest import HERE, LuaServer, lua_binary, main

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import ws_wire  # noqa: E402  (frame building and unmasking of the conformance battery)

SCRIPT = os.path.join(HERE, "ws_write_mark.lua")
MARK, SIZE, COUNT = 64 * 1024, 16 * 1024, 1024  # 16 MiB: far more than the socket buffers hold
FRAME_OVERHEAD = 14  # the largest WebSocket frame header (with a mask)
ARGS = ["--mark", str(MARK), "--size", str(SIZE), "--count", str(COUNT)]


class Lines:
    """The JSON lines a process prints, read by a thread so that waiting for one is bounded."""

    def __init__(self, stream):
        self.q = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.q.put(line)
        self.q.put(None)

    def next(self, timeout=20):
        line = self.q.get(timeout=timeout)
        assert line is not None, "the process ended early"
        return json.loads(line)


def check_messages(test, messages):
    """Every message arrived, whole and in order."""
    test.assertEqual(len(messages), COUNT)
    for i, data in enumerate(messages, 1):
        if len(data) != SIZE or data[:8] != b"%08d" % i:
            test.fail(f"message {i}: {len(data)} bytes starting {data[:8]!r}")


def check_done(test, done):
    test.assertEqual(done["event"], "done")
    test.assertEqual(done["sent"], COUNT, done)
    test.assertNotIn("closed_while_waiting", done)
    test.assertNotIn("woke_above_mark", done)
    test.assertGreaterEqual(done["waits"], 1, done)
    test.assertGreaterEqual(done["drains"], 1, done)  # on_drain ran
    # The producer paused at the mark: the buffer never held more than the mark plus the one
    # message written before checking (without backpressure it would hold all 16 MiB).
    test.assertLessEqual(done["max_buffer"], MARK + SIZE + FRAME_OVERHEAD, done)
    test.assertTrue(done["bad_mark_refused"])


def small_window_socket():
    """A socket whose small receive window (set before connecting or accepting: shrinking it
    later stalls Linux TCP) keeps the kernel from soaking up the whole stream."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(20)
    return sock


class SlowPeer(ws_wire.SocketReader):
    """One end of a WebSocket connection that reads only when asked to, in small pieces."""

    def __init__(self, sock):
        sock.settimeout(20)
        super().__init__(sock, chunk=4096)

    def read_until(self, marker):
        return self._read_until(marker)

    def read_messages(self):
        """Binary messages until the peer's close frame, answered (masked when we are the
        client); returns the messages and the close code."""
        messages = []
        while True:
            b0, masked, payload = self.read_any_frame()
            opcode = b0 & 0x0F
            if opcode == ws_wire.CLOSE:
                self.sock.sendall(ws_wire.frame(ws_wire.CLOSE, payload[:2], mask=not masked))
                return messages, struct.unpack("!H", payload[:2])[0]
            assert opcode == ws_wire.BINARY and b0 & 0x80, (b0, len(payload))
            messages.append(payload)

    def close(self):
        self.sock.close()


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key + ws_wire.GUID).digest())


def slow_client(port, path):
    """Connects and runs the opening handshake (checked), then reads nothing until asked."""
    sock = small_window_socket()
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n" % (path.encode(), port, key))
    peer = SlowPeer(sock)
    head = peer.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ") and accept_value(key) in head, head
    return peer


def slow_server_accept(listener):
    """Accepts one client and answers its opening handshake; reads nothing more until asked."""
    sock, _ = listener.accept()
    peer = SlowPeer(sock)
    head = peer.read_until(b"\r\n\r\n").decode("latin-1")
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key:"))
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                 % accept_value(key.encode()))
    return peer


class WriteMark(unittest.TestCase):
    def test_server_handler_waits_for_a_slow_reader(self):
        server = LuaServer(SCRIPT, *ARGS)
        peer = None
        try:
            lines = Lines(server.proc.stdout)
            peer = slow_client(server.port, "/flood")
            # Read nothing until the handler had to wait for its buffer to drain.
            self.assertEqual(lines.next()["event"], "above_mark")
            messages, code = peer.read_messages()
            self.assertEqual(code, 1000)
            check_messages(self, messages)
            check_done(self, lines.next())
        finally:
            if peer:
                peer.close()
            err = server.stop()
        self.assertNotIn("eddy-lua: error", err)

    def test_waiting_handler_learns_that_the_reader_left(self):
        server = LuaServer(SCRIPT, *ARGS)
        try:
            lines = Lines(server.proc.stdout)
            peer = slow_client(server.port, "/flood")
            self.assertEqual(lines.next()["event"], "above_mark")
            peer.close()  # with unread data: the server's next write fails
            done = lines.next()
            self.assertTrue(done.get("closed_while_waiting"), done)  # wait_for_drain → false
            self.assertLess(done["sent"], COUNT, done)
            # The server goes on serving.
            peer = slow_client(server.port, "/flood")
            self.assertEqual(lines.next()["event"], "above_mark")
            messages, _ = peer.read_messages()
            self.assertEqual(len(messages), COUNT)
            self.assertEqual(lines.next()["sent"], COUNT)
            peer.close()
        finally:
            err = server.stop()
        self.assertNotIn("eddy-lua: error", err)

    def test_client_waits_for_a_slow_server(self):
        listener = small_window_socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = "ws://127.0.0.1:%d/" % listener.getsockname()[1]
        proc = subprocess.Popen([lua_binary(), SCRIPT, "--client", url, *ARGS],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peer = None
        try:
            lines = Lines(proc.stdout)
            peer = slow_server_accept(listener)
            self.assertEqual(lines.next()["event"], "above_mark")
            messages, code = peer.read_messages()
            self.assertEqual(code, 1000)
            check_messages(self, messages)
            check_done(self, lines.next())
            peer.close()
            _, err = proc.communicate(timeout=20)
            self.assertEqual(proc.returncode, 0, err)
            self.assertNotIn("eddy-lua: error", err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            if peer:
                peer.close()
            listener.close()


if __name__ == "__main__":
    main()
