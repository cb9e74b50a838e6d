"""A small RFC 6455 client over a raw socket, for conformance tests and the 9.x-style timing
script: it builds any frame (masking, fragmentation, reserved bits and opcodes, permessage-deflate
with zlib), sends it in chosen chops, and reads back what the server does as a list of events.

Standard library only (CI has no PyPI)."""
import base64
import hashlib
import os
import socket
import struct
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


def accept_key(key):
    """The Sec-WebSocket-Accept answering Sec-WebSocket-Key `key` (bytes; RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def mask_bytes(payload, key):
    """XORs payload with the 4-byte key, fast enough for 16 MiB (one big-integer XOR)."""
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One frame. rsv is the 3-bit RSV field as Autobahn numbers it (4 = RSV1, 2 = RSV2,
    1 = RSV3); length overrides the encoded payload length."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    return b"" if code is None else struct.pack("!H", code) + reason


def fragments(opcode, payload, size, rsv_first=0):
    """A message as frames of at most `size` payload bytes (at least one frame)."""
    parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    out = []
    for i, p in enumerate(parts):
        out.append(frame(opcode if i == 0 else 0, p, fin=i == len(parts) - 1,
                         rsv=rsv_first if i == 0 else 0))
    return b"".join(out)


def parse_extension(value):
    """'permessage-deflate; a; b=c' → ('permessage-deflate', {'a': None, 'b': 'c'})."""
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        name, _, v = p.partition("=")
        params[name.strip()] = v.strip().strip('"') if _ else None
    return parts[0], params


class Deflate:
    """Our side of permessage-deflate, from the server's response parameters. The window we
    inflate the server's messages with is exactly the one it agreed to, so a server that
    compresses with a larger window than it promised fails our inflate."""

    def __init__(self, params):
        self.params = params
        self.server_bits = int(params.get("server_max_window_bits") or 15)
        self.client_bits = int(params.get("client_max_window_bits") or 15)
        self.server_reset = "server_no_context_takeover" in params
        self.client_reset = "client_no_context_takeover" in params
        self._c = self._d = None

    def compress(self, data):
        if self._c is None or self.client_reset:
            # zlib cannot deflate raw streams with an 8-bit window; 9 keeps every match
            # distance under 256 anyway (zlib's MAX_DIST is the window minus 262).
            self._c = zlib.compressobj(6, zlib.DEFLATED, -max(self.client_bits, 9))
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def decompress(self, data):
        if self._d is None or self.server_reset:
            self._d = zlib.decompressobj(-self.server_bits)
        return self._d.decompress(data + b"\x00\x00\xff\xff")


class SocketReader:
    """Buffered reads from a socket: exactly n bytes, or up to a marker. A peer that ends the
    connection (or resets it) raises EOFError. `chunk` is the most one recv() takes."""

    def __init__(self, sock, chunk=1 << 20):
        self.sock = sock
        self.chunk = chunk
        self.buf = bytearray()

    def _fill(self):
        try:
            chunk = self.sock.recv(self.chunk)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise EOFError
        self.buf += chunk

    def read_head(self):
        """The bytes up to and including the blank line that ends an HTTP head."""
        return self._read_until(b"\r\n\r\n")

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def _read(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_any_frame(self):
        """One frame as either side sends it: (first byte, whether it was masked, payload
        unmasked)."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        key = self._read(4) if b1 & 0x80 else b""
        payload = self._read(n)
        return b0, bool(key), mask_bytes(payload, key) if key else payload


class Conn(SocketReader):
    """One WebSocket connection after a (checked) opening handshake."""

    def __init__(self, port, path="/ws", extensions=None, extra=b"", timeout=15,
                 first_bytes=b""):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock)
        key = base64.b64encode(os.urandom(16))
        req = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (path.encode(), port, key))
        if extensions is not None:
            req += b"Sec-WebSocket-Extensions: " + extensions.encode() + b"\r\n"
        try:
            self.sock.sendall(req + extra + b"\r\n" + first_bytes)
            head = self._read_until(b"\r\n\r\n").decode("latin-1")
        except BaseException:  # no handshake answer: nobody else will close the socket
            sock.close()
            raise
        lines = head.split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers.setdefault(name.strip().lower(), []).append(value.strip())
        want = accept_key(key).decode()
        self.accept_ok = self.headers.get("sec-websocket-accept") == [want]
        ext = self.headers.get("sec-websocket-extensions")
        self.extension = ext[0] if ext else None
        self.deflate = None
        if ext:
            name, params = parse_extension(ext[0])
            if name == "permessage-deflate":
                self.deflate = Deflate(params)
        self.frames_seen = []  # (fin, rsv, opcode) of every frame read, for RSV checks

    # -- raw I/O -----------------------------------------------------------------------------

    def send(self, data, chop=None):
        """Sends bytes at once, or in chops of `chop` bytes (each its own send with
        TCP_NODELAY, like Autobahn's octet-wise and frame-wise chopping). A peer that already
        failed the connection may reset it: that is not our error, the events tell."""
        try:
            if not chop:
                self.sock.sendall(data)
            else:
                for i in range(0, len(data), chop):
                    self.sock.sendall(data[i:i + chop])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_frames(self, frames):
        """Sends frames one send() each (frame-wise chops)."""
        for f in frames:
            self.send(f)

    def read_frame(self):
        b0, masked, payload = self.read_any_frame()
        if masked:
            raise AssertionError("the server masked a frame")
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F
        self.frames_seen.append((fin, rsv, opcode))
        return fin, rsv, opcode, payload

    # -- events ------------------------------------------------------------------------------

    def next_event(self):
        """The next thing the server did: ('text'|'binary', bytes), ('ping'|'pong', bytes),
        ('close', code or None, reason). Reassembles and inflates data messages. EOFError
        when the TCP connection ends."""
        message, opcode, compressed = [], None, False
        while True:
            fin, rsv, op, payload = self.read_frame()
            if op >= 8:
                if op == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    return ("close", code, payload[2:])
                return ("ping" if op == PING else "pong" if op == PONG else f"op{op}", payload)
            if opcode is None:
                opcode, compressed = op, bool(rsv & 4)
            message.append(payload)
            if fin:
                data = b"".join(message)
                if compressed:
                    data = self.deflate.decompress(data)
                return ("text" if opcode == TEXT else "binary" if opcode == BINARY else
                        f"op{opcode}", data)

    def events_until_eof(self):
        """Every event until the server closes TCP; a trailing ('eof',) tells that it did."""
        events = []
        try:
            while True:
                events.append(self.next_event())
        except EOFError:
            events.append(("eof",))
        except socket.timeout:
            events.append(("timeout",))
        return events

    def close(self):
        self.sock.close()


# ---- permessage-deflate in one call (binding tests, bench/websocket) ------------------------

def compressed_echo(port, path, message, timeout=10):
    """Offers permessage-deflate on `path`, sends `message` as one compressed text frame and
    returns the frame the server answered with: (fin, rsv, opcode, payload)."""
    c = Conn(port, path, extensions="permessage-deflate", timeout=timeout)
    try:
        if c.status != 101 or c.deflate is None:
            raise AssertionError("%s: no permessage-deflate (%d, %r)" % (path, c.status, c.extension))
        c.send(frame(TEXT, c.deflate.compress(message), rsv=4))
        return c.read_frame()
    finally:
        c.close()


def report_first_deflate_frame(conn):
    """The server side, over an accepted socket: accepts the handshake with
    permessage-deflate, reads the client's first frame and answers with a text frame
    "<RSV1 bit> <payload length> <the message it inflates to>" (wbits -15), then closes with
    1000 and reads the start of the client's answer."""
    reader = SocketReader(conn)
    head = reader._read_until(b"\r\n\r\n")
    key = b""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = accept_key(key)
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
                 b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    b0, _, payload = reader.read_any_frame()
    n = len(payload)
    if b0 & 0x40:
        payload = zlib.decompressobj(wbits=-15).decompress(payload + b"\0\0\xff\xff")
    report = b"%d %d " % (b0 & 0x40, n) + payload
    conn.sendall(frame(TEXT, report, mask=False) + frame(CLOSE, close_payload(1000), mask=False))
    reader._read(2)
