"""A buffered raw socket for the HTTP tests that speak bytes themselves (test_http_api.py,
test_web.py): exact reads, reads up to a delimiter, with what arrived beyond kept for the next
read. Each suite adds its own response parsing on top."""


class RawConnection:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed; buffered %r" % self.buf[:200])
        self.buf += d

    def read_until(self, delim):
        while delim not in self.buf:
            self._fill()
        i = self.buf.index(delim) + len(delim)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out
