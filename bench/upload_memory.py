#!/usr/bin/env python3
"""Peak memory a buffered upload costs the server, as a multiple of its size.

  python3 bench/upload_memory.py --server build/tests/integration/http_api_server [--mib 40]

Starts the server (http_api_server, body limit raised to 200 MiB), sends one POST of N MiB of
random bytes to /auto_length (which answers without reading the body: what is measured is
what the server itself holds) — as a raw body, as a multipart/form-data file, and as a raw
body in chunked coding (64 KiB chunks: its length is not known until the end) — and reports the growth of the process's peak RSS (VmHWM) for each, in MiB and per MiB sent.
A fresh server per upload, so each peak is its own.
"""
import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "abuse"))
from common import peak_rss_kib, start_server  # noqa: E402


def chunked(body, size=64 << 10):
    out = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
           for i in range(0, len(body), size)]
    return b"".join(out) + b"0\r\n\r\n"


def upload(server, content_type, body, framing):
    p, port = start_server(server, "--port", "0", "--host", "127.0.0.1", "--max-body-size",
                           str(200 << 20))
    try:
        before = peak_rss_kib(p.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            if framing == "chunked":
                s.sendall(b"POST /auto_length HTTP/1.1\r\nHost: a\r\nContent-Type: %s\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n" % content_type + chunked(body))
            else:
                s.sendall(b"POST /auto_length HTTP/1.1\r\nHost: a\r\nContent-Type: %s\r\n"
                          b"Content-Length: %d\r\n\r\n" % (content_type, len(body)) + body)
            status = s.recv(4096).split(b"\r\n")[0]
        if b" 200 " not in status:
            raise SystemExit(f"upload answered {status!r}")
        return (peak_rss_kib(p.pid) - before) / 1024
    finally:
        p.terminate()
        p.wait(30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--mib", type=int, default=40)
    args = ap.parse_args()
    data = os.urandom(1 << 20) * args.mib + b"x" * 12345  # not a power of two
    mib = len(data) / (1 << 20)
    multipart = (b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n"
                 + data + b"\r\n--XyZ--\r\n")
    print(f"| upload ({mib:.1f} MiB) | peak RSS growth (MiB) | per MiB sent |")
    print("|---|---|---|")
    for label, ctype, body, framing in (
            ("raw body", b"application/octet-stream", data, "length"),
            ("multipart file", b"multipart/form-data; boundary=XyZ", multipart, "length"),
            ("raw body, chunked", b"application/octet-stream", data, "chunked")):
        grown = upload(args.server, ctype, body, framing)
        print(f"| {label} | {grown:.1f} | {grown / mib:.2f} |")


if __name__ == "__main__":
    main()
