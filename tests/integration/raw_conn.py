"""Raw sockets for the HTTP tests that speak bytes themselves. RawConnection (test_http_api.py,
test_web.py): buffered, exact reads and reads up to a delimiter, with what arrived beyond kept
for the next read; each suite adds its own response parsing on top. RawHttpConnection (the
bindings' server-option tests): sends what http.client will not, reads the answer with it.
read_line: one CRLF-ended line and not a byte more (the STARTTLS tests)."""
import http.client
import socket


def read_line(sock):
    """One CRLF-ended line, read a byte at a time so that what follows it stays in the socket
    (a STARTTLS test hands the socket to TLS right after the server's line); shorter at EOF."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


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


class RawHttpConnection:
    """A loopback connection for what http.client cannot send (a head that never ends, exact
    field lines, a PROXY header), whose answers http.client reads. Every wait is bounded (10 s)
    and waits for an event, never a duration."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, data):
        """`data`: bytes, or a str sent as Latin-1."""
        self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)

    def response(self):
        """(status, the http.client response, its body)."""
        resp = http.client.HTTPResponse(self.sock)
        resp.begin()
        return resp.status, resp, resp.read()

    def closed(self):
        """True once the server closed the connection (EOF or reset); a timeout raises."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()
