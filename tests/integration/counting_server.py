"""An origin that answers one request with a head and a large body, counting in `sent` the body
bytes the kernel took: a reader that stops (a client, or one down a proxy's line) stops the
count by TCP flow control, unless something in between holds the body in memory. Shared by
test_client.py (the client's pause) and test_reverse_proxy.py (the proxy's)."""
import socket
import threading
import time


class CountingServer:
    """Answers one request with `head` then `body` in `piece`-byte sends (`delay` seconds
    before each); `timeout` bounds each socket operation and, by default, wait_stalled()."""

    def __init__(self, head, body, piece=65536, delay=0.0, timeout=30.0):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.head, self.body, self.piece, self.delay = head, body, piece, delay
        self.timeout = timeout
        self.sent = 0
        self.conn = None
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        self.conn = c
        c.settimeout(self.timeout)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d:
                    return
                data += d
            c.sendall(self.head)
            view = memoryview(self.body)
            while self.sent < len(self.body):
                if self.delay:
                    time.sleep(self.delay)
                self.sent += c.send(view[self.sent:self.sent + self.piece])
        except OSError:
            pass

    def wait_stalled(self, quiet=1.0, limit=None):
        """Waits until `sent` stopped growing for `quiet` seconds (or the whole body went),
        at most `limit` seconds (default: the server's timeout); returns it."""
        deadline = time.monotonic() + (self.timeout if limit is None else limit)
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if self.sent != last:
                last, since = self.sent, time.monotonic()
            elif time.monotonic() - since >= quiet or last == len(self.body):
                return last
            time.sleep(0.05)
        return self.sent

    def stop(self):
        self.sock.close()
        if self.conn is not None:
            self.conn.close()
