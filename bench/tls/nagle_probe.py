#!/usr/bin/env python3
"""Median milliseconds from the end of a resumed TLS handshake to the end of the response, for a
client that leaves Nagle's algorithm on (Python's ssl + a plain socket, as http.client does).

    nagle_probe.py PORT [1.2|1.3] [CONNECTIONS]

A server that leaves the ACK of the client's Finished to the delayed-ACK timer makes every
resumed TLS 1.2 request wait for it (~40 ms on Linux). Prints "n/a" if nothing was resumed."""
import socket
import ssl
import statistics
import sys
import time

port = int(sys.argv[1])
version = sys.argv[2] if len(sys.argv) > 2 else "1.2"
count = int(sys.argv[3]) if len(sys.argv) > 3 else 20
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the benchmark's throwaway certificate
ctx.minimum_version = ctx.maximum_version = (ssl.TLSVersion.TLSv1_2 if version == "1.2"
                                             else ssl.TLSVersion.TLSv1_3)
session, waits = None, []
for _ in range(count + 1):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        s = ctx.wrap_socket(raw, session=session)
        start = time.perf_counter()
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        if s.session_reused:
            waits.append((time.perf_counter() - start) * 1000)
        session = s.session
        s.close()
print("%.1f" % statistics.median(waits) if waits else "n/a")
