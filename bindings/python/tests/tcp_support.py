"""Shared by the raw-TCP tests: a TCPServer whose handle_stream is a per-test coroutine, run on
the test's own asyncio loop (eddy's policy) while blocking `socket` clients run on worker threads
(asyncio.to_thread), so both sides are real sockets and neither blocks the other."""

import asyncio
import socket
import unittest

import support  # noqa: F401  (quiet access log)

import eddy.iostream
import eddy.tcpserver

TIMEOUT = 20  # only against hangs: no test relies on it to pass


class HandlerServer(eddy.tcpserver.TCPServer):
    """Calls `handler(stream, address)`; records each stream and the handler's outcome."""

    def __init__(self, handler, **kwargs):
        super().__init__(**kwargs)
        self.handler = handler
        self.streams = []
        self.results = asyncio.Queue()

    async def handle_stream(self, stream, address):
        self.streams.append(stream)
        try:
            result = await self.handler(stream, address)
        except Exception as e:  # handed to the test, which asserts on it
            await self.results.put(e)
            return
        await self.results.put(result)

    async def result(self):
        return await asyncio.wait_for(self.results.get(), TIMEOUT)


def connect(port, host="127.0.0.1"):
    return socket.create_connection((host, port), timeout=TIMEOUT)


def recv_exactly(sock, n):
    """Up to n bytes: fewer only when the peer closed first."""
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_all(sock):
    """Everything until the peer closes."""
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk


def read_all_from(port):
    with connect(port) as s:
        return recv_all(s)


def send_and_read_all(port, data):
    with connect(port) as s:
        s.sendall(data)
        return recv_all(s)


def serve(handler, **kwargs):
    server = HandlerServer(handler, **kwargs)
    server.listen(0, "127.0.0.1")
    return server


class AsyncTestCase(unittest.TestCase):
    """Runs each `async def` test body with asyncio.run (a fresh eddy loop per test)."""

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 2))


async def in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)


async def closed_event(stream):
    """An asyncio.Event set by the stream's close callback (also counts its calls)."""
    event = asyncio.Event()
    event.calls = 0

    def on_close():
        event.calls += 1
        event.set()

    stream.set_close_callback(on_close)
    return event


StreamClosedError = eddy.iostream.StreamClosedError
