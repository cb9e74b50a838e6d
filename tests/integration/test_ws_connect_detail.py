#!/usr/bin/env python3
"""The detail of a failed WebSocket connect (eddy_websocket_connect_error_detail), as the C
client ws_test_server --connect prints it ("connect failed <error>: <detail>"): a wss://
server whose certificate does not verify (untrusted, another name), raw servers that refuse or
break the opening handshake, a refused port, a server that never answers, and (only when this
host cannot reach any network, so the lookup fails locally) a name that does not resolve.
Certificates are made with openssl in a temporary directory (tls_certs.py); every socket is on
loopback and every wait is bounded."""
import argparse
import os
import random
import re
import string
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
from tls_certs import make_certs  # noqa: E402
from ws_wire import SocketReader, accept_key  # noqa: E402

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def run_client(binary, url, cafile=None, timeout=None):
    """ws_test_server --connect: its output lines (a failed connect is one line)."""
    env = dict(os.environ)
    env.pop("WS_TEST_CAFILE", None)
    env.pop("WS_TEST_CONNECT_TIMEOUT", None)
    if cafile:
        env["WS_TEST_CAFILE"] = cafile
    if timeout:
        env["WS_TEST_CONNECT_TIMEOUT"] = str(timeout)
    out = subprocess.run([binary, "--connect", url, "x"], capture_output=True, text=True,
                         timeout=30, env=env)
    check(out.returncode == 0 and "Sanitizer" not in out.stderr,
          f"client process exit {out.returncode} {out.stderr[-1500:]}")
    return out.stdout.splitlines()


class RawServer:
    """Answers each connection's request head with `answer` (bytes, or None: never answers),
    then closes it. Serves until stopped."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(10)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    if self.answer is None:
                        self.stop.wait(10)  # hold the connection until the client gives up
                    else:
                        conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(15)
        self.sock.close()


def failed(lines, error, detail_part, what):
    """The last line is "connect failed <error>: <detail>", whose detail holds `detail_part`
    (a "refused <status> <reason>" line may come first)."""
    line = lines[-1] if 1 <= len(lines) <= 2 else ""
    prefix = f"connect failed {error}: "
    check(line.startswith(prefix) and detail_part in line[len(prefix):],
          f"{what}: {lines}")


def tls_cases(binary, tls_server, certs):
    TLS = "TLS handshake or certificate verification failed"

    def server(cert, key):
        proc = subprocess.Popen([binary, "--port", "0", "--tls-cert", cert, "--tls-key", key],
                                stdout=subprocess.PIPE, text=True)
        return proc, int(proc.stdout.readline().split()[-1])

    procs = []
    try:
        good, port = server(certs["server.crt"], certs["server.key"])
        procs.append(good)
        selfsigned, self_port = server(certs["self.crt"], certs["self.key"])
        procs.append(selfsigned)
        other, other_port = server(certs["other.crt"], certs["other.key"])
        procs.append(other)
        # The CA is not given: the system's store does not know it.
        failed(run_client(binary, f"wss://127.0.0.1:{port}/ws"), TLS,
               "certificate verification: ", "wss:// with an unknown CA: EDDY_ETLS and why")
        failed(run_client(binary, f"wss://127.0.0.1:{self_port}/ws", cafile=certs["ca.crt"]),
               TLS, "certificate verification: self-signed certificate",
               "wss:// to a self-signed certificate")
        failed(run_client(binary, f"wss://127.0.0.1:{other_port}/ws", cafile=certs["ca.crt"]),
               TLS, "certificate verification: IP address mismatch",
               "wss:// to a certificate for another name")
        lines = run_client(binary, f"wss://127.0.0.1:{port}/ws", cafile=certs["ca.crt"])
        check(lines[:1] == ["connected deflate=0"], f"wss:// with the CA still connects: {lines}")
        # A server that requires a client certificate (the client has none): under TLS 1.3 the
        # client's handshake ends before the server's verdict, whose alert comes where the
        # WebSocket answer was awaited; still a TLS failure that names the alert.
        needs_cert = subprocess.Popen([tls_server, "--cert", certs["server.crt"], "--key",
                                       certs["server.key"], "--ca", certs["ca.crt"], "--verify",
                                       "required"], stdout=subprocess.PIPE, text=True)
        procs.append(needs_cert)
        cert_port = int(needs_cert.stdout.readline().rsplit(":", 1)[-1])
        failed(run_client(binary, f"wss://127.0.0.1:{cert_port}/ws", cafile=certs["ca.crt"]),
               TLS, "alert certificate required", "wss:// to a server that requires a certificate")
    finally:
        for p in procs:
            p.terminate()
            rc = p.wait(timeout=20)
            check(rc == 0, f"TLS server exit status {rc}")


def handshake_cases(binary):
    cases = [
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "protocol error",
         "the server answered 403 Forbidden", "a 403 answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "protocol error",
         "the server answered 200 OK", "a plain 200 page"),
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "protocol error",
         "no Upgrade: websocket", "a 101 without Upgrade"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "protocol error",
         "no Connection: upgrade", "a 101 without Connection: upgrade"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "protocol error",
         "Sec-WebSocket-Accept does not match", "a 101 with a wrong accept key"),
        (b"SSH-2.0-OpenSSH\x01\r\n\r\n", "protocol error",
         "not an HTTP response: SSH-2.0-OpenSSH\\x01", "no HTTP at all (quoted printable)"),
        (b"", "end of stream", "the server closed the connection before answering",
         "closed without an answer"),
    ]
    for answer, error, part, what in cases:
        srv = RawServer(answer)
        try:
            failed(run_client(binary, f"ws://127.0.0.1:{srv.port}/ws"), error, part, what)
        finally:
            srv.close()
    srv = RawServer(None)
    try:
        failed(run_client(binary, f"ws://127.0.0.1:{srv.port}/ws", timeout=0.5), "timed out",
               "no answer to the WebSocket handshake within 0.5 s", "a server that never answers")
    finally:
        srv.close()


def accept_for(head):
    """The Sec-WebSocket-Accept for the key in a request head."""
    return accept_key(re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", head).group(1))


def scripted(talk, client_args, env=None, timeout=None):
    """Runs the client against a one-connection server whose `talk(reader, head)` does the rest
    (reader: a ws_wire.SocketReader on the connection); returns (client lines, what talk
    returned)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sock.settimeout(20)
    result = {}

    def serve():
        try:
            conn, _ = sock.accept()
            with conn:
                conn.settimeout(10)
                reader = SocketReader(conn)
                result["talk"] = talk(reader, reader.read_head())
        except (OSError, EOFError) as e:
            result["error"] = e

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    url = f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"
    e = dict(os.environ, **(env or {}))
    out = subprocess.run([client_args[0], "--connect", url, *client_args[1:]],
                         capture_output=True, text=True, timeout=30, env=e)
    t.join(20)
    sock.close()
    check(out.returncode == 0 and "Sanitizer" not in out.stderr,
          f"client process exit {out.returncode} {out.stderr[-1500:]}")
    return out.stdout.splitlines(), result.get("talk")


def strict_handshake_cases(binary):
    def answer_with(status_line, extra=b"", then=b""):
        def talk(reader, head):
            reader.sock.sendall(then + status_line + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept_for(head) + b"\r\n" + extra + b"\r\n")
            return head
        return talk
    # RFC 9112 4: three digits, then a space. "1010" is no 101, nor any status line.
    for line in (b"HTTP/1.1 1010 Switching Protocols", b"HTTP/1.1 101x"):
        lines, _ = scripted(answer_with(line), [binary, "x"])
        failed(lines, "protocol error", "not an HTTP response: " + line.decode(), repr(line))
    # 101 over HTTP/1.0 fails the connect, but is no refusal for on_refused.
    lines, _ = scripted(answer_with(b"HTTP/1.0 101 Switching Protocols"), [binary, "x"])
    check(len(lines) == 1 and lines[0].startswith("connect failed protocol error"),
          f"HTTP/1.0 101: no refused line: {lines}")
    # Interim answers before the 101 are read past (RFC 9110 15.2).
    lines, _ = scripted(answer_with(b"HTTP/1.1 101 Switching Protocols",
                                    then=b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                                         b"Link: </a>\r\n\r\n"), [binary, "x"])
    check(lines[:1] == ["connected deflate=0"], f"1xx before the 101: {lines}")
    # RFC 7692 7.1.2.2: the answer's client_max_window_bits needs a value, at most the offer's.
    lines, _ = scripted(answer_with(b"HTTP/1.1 101 Switching Protocols",
                                    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
                        [binary, "--deflate", "x"])
    failed(lines, "protocol error",
           "unacceptable Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
           "valueless window bits")
    # Headers: the handshake's own are refused, Host replaces the URL's.
    env = {"WS_TEST_HEADERS": "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\nUpgrade: h2c\n"
                              "Host: example.com:8080\nX-Other: 1"}
    lines, head = scripted(answer_with(b"HTTP/1.1 101 Switching Protocols"), [binary, "x"], env)
    check(lines[:4] == ["header Sec-WebSocket-Key rc=-1", "header Upgrade rc=-1",
                        "header Host rc=0", "header X-Other rc=0"], f"header results: {lines}")
    check(head is not None and head.count(b"\r\nHost: ") + head.count(b"\r\nhost: ") == 1
          and b"\r\nHost: example.com:8080\r\n" in head and head.count(b"Sec-WebSocket-Key") == 1
          and b"h2c" not in head, f"the request head: {head!r}")

    # RFC 7692 7.1.1.2: having offered client_no_context_takeover, the client resets its
    # compressor per message even when the answer does not echo it.
    def deflate_talk(reader, head):
        reader.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_for(head) +
                     b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
        return [len(reader.read_any_frame()[2]) for _ in range(2)]
    rng = random.Random(7)  # letters without a pattern: only the first copy compresses badly
    message = "".join(rng.choice(string.ascii_lowercase) for _ in range(4000))
    lines, sizes = scripted(deflate_talk, [binary, "--deflate", message, message],
                            {"WS_TEST_CLIENT_NO_TAKEOVER": "1"})
    check(sizes is not None and sizes[0] == sizes[1] and sizes[0] > 100,
          f"no context takeover as offered: compressed sizes {sizes}")


    # RFC 7692 7.1.2.2: the answer may leave out client_max_window_bits although the offer gave
    # one ("the server may either ignore this value or use" it). A client limited to 9 bits
    # (WS_TEST_CLIENT_WINDOW) connects and still compresses within its own 512-byte window: a
    # random block sent twice is not found again 4,000 bytes back. It used to fail the connect
    # ("the server asked for a client window of 15 bits").
    block = "".join(rng.choice(string.ascii_lowercase) for _ in range(4000))
    lines, sizes = scripted(deflate_talk, [binary, "--deflate", block * 2, "x"],
                            {"WS_TEST_CLIENT_WINDOW": "9"})
    check(lines[:1] == ["connected deflate=1"] and sizes is not None and sizes[0] > 4000,
          f"an answer without client_max_window_bits: {lines[:2]}, compressed sizes {sizes}")


def connect_cases(binary):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    failed(run_client(binary, f"ws://127.0.0.1:{port}/ws"), "connection refused",
           f"connect to 127.0.0.1:{port}: Connection refused", "a refused port")
    # A valid URL host (RFC 3986 allows '!') that is no DNS name: glibc refuses it itself, so
    # nothing leaves loopback (a ".invalid" name is sent to the configured name server).
    failed(run_client(binary, "ws://no-such-host!/ws"),
           "host name could not be resolved", "name resolution: no-such-host!: ",
           "a name that does not resolve")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--tls-server", required=True)
    args = ap.parse_args()
    binary = args.server
    with tempfile.TemporaryDirectory() as d:
        tls_cases(binary, args.tls_server, make_certs(d))
    handshake_cases(binary)
    strict_handshake_cases(binary)
    connect_cases(binary)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("all connect-detail checks passed")


if __name__ == "__main__":
    main()
