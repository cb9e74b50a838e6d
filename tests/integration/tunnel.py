"""Request heads and CONNECT tunnels for the small test proxies (test_client.py,
test_oom_client.py)."""
import socket
import threading


def relay(client, upstream):
    """Copies bytes both ways between two connected sockets until both sides end; each end's
    EOF is passed on as a half close. Closes `upstream` (the caller's server owns `client`)."""
    def copy(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    t.start()
    copy(client, upstream)
    t.join(20)
    upstream.close()


def serve_connect(handler, target):
    """Answers a CONNECT to `target` ("host:port") on a socketserver StreamRequestHandler:
    connects upstream, says 200, relays until both sides end."""
    host, port = target.rsplit(":", 1)
    upstream = socket.create_connection((host, int(port)), timeout=20)
    handler.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    handler.wfile.flush()
    relay(handler.connection, upstream)


def read_head(rfile):
    """(request line, [field lines as bytes]) from a proxy's client; an empty line when the
    client closed first (a line without CRLF: cut short)."""
    line = rfile.readline().decode()
    head = []
    while line:
        h = rfile.readline()
        if h in (b"\r\n", b""):
            break
        head.append(h)
    return line, head
