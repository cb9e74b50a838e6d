"""What the TCP tests share: a Lua script that prints "listening <port>" and then JSON event lines
(tests/script_harness.lua's emit_named), read by a thread so that each wait is bounded."""
import json
import queue
import socket
import subprocess
import threading
import time

from luatest import lua_binary

WAIT = 20  # seconds any single expected event or answer may take before the test fails


class EventScript:
    """A Lua process whose stdout lines are read by a thread: header lines ("name value") first,
    then JSON events."""

    def __init__(self, script, *args, headers=("listening",)):
        self.proc = subprocess.Popen([lua_binary(), script, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.stderr_lines = []
        errs = queue.Queue()
        self._errs = errs
        self._pumps = [threading.Thread(target=self._pump, args=args, daemon=True)
                       for args in ((self.proc.stdout, self.lines), (self.proc.stderr, errs))]
        for t in self._pumps:
            t.start()
        self.header = {}
        for name in headers:
            line = self.next_line()
            if not line.startswith(name + " "):
                self.stop()
                raise RuntimeError(f"{script}: expected {name!r}, got {line!r}: {self.stderr()}")
            self.header[name] = line.split(" ", 1)[1].strip()
        self.pending = []

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line)
        q.put(None)

    def next_line(self, timeout=WAIT):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output from the Lua script in %d s: %s" % (timeout, self.stderr()))
        if line is None:
            raise AssertionError("the Lua script ended: %s" % self.stderr())
        return line.rstrip("\n")

    def event(self, name, timeout=WAIT, **match):
        """The next event called `name` whose fields include `match`; others are kept."""
        for i, ev in enumerate(self.pending):
            if ev["name"] == name and all(ev.get(k) == v for k, v in match.items()):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no event {name} {match}; saw {self.pending}: {self.stderr()}")
            ev = json.loads(self.next_line(left))
            if ev["name"] == name and all(ev.get(k) == v for k, v in match.items()):
                return ev
            self.pending.append(ev)

    def stderr(self):
        while True:
            try:
                line = self._errs.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.stderr_lines.append(line)
        return "".join(self.stderr_lines)

    def stop(self):
        """Ends the process (it was started here) and returns its stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self._pumps:  # they end at the pipes' EOF (children may hold them a while)
            t.join(timeout=WAIT)
        err = self.stderr()
        if not any(t.is_alive() for t in self._pumps):
            self.proc.stdout.close()
            self.proc.stderr.close()
        return err


def connect(port, timeout=WAIT):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"closed after {len(data)} of {n} bytes: {data[:80]!r}")
        data += chunk
    return data


def recv_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"closed before a full line: {data!r}")
        data += chunk
    return data


def recv_until_closed(sock):
    """Everything until the peer closes, and how it closed: "eof" or "reset"."""
    data = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(data), "reset"
        if not chunk:
            return bytes(data), "eof"
        data += chunk


CYCLE = bytes(range(251))


def pattern(offset, size):
    """Bytes `offset` .. `offset + size` of the endless sequence 0, 1, .. 250, 0, 1, .."""
    start = offset % 251
    return (CYCLE * (size // 251 + 2))[start:start + size]
