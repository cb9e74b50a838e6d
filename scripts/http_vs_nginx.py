#!/usr/bin/env python3
"""Sends every case of tests/integration/conformance_cases.py to eddy's echo server and to a
local nginx (Debian's, one worker, in a temporary directory on a loopback port) and prints a
table of both answers next to what eddy's test expects. Not a CI test: a tool for audits.

    python3 scripts/http_vs_nginx.py [--echo build/examples/echo_server] [--nginx /usr/sbin/nginx]
                                     [--markdown]

Each answer is "statuses / close|open": the final statuses the server sent within a short
quiet period after the request, and whether it closed the connection. nginx serves
`return 200` for every location, so application-level differences (the echo JSON) do not
show; only the protocol handling does.
"""

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conformance_cases import CASES  # noqa: E402
from test_protocol import ConnectionClosed, ProtocolError, RawConn  # noqa: E402

QUIET = 0.4  # seconds without bytes after which a connection counts as left open
STATUS_RE = re.compile(rb"HTTP/\d\.\d (\d{3})")

NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, deadline):
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def exchange(port, data, method):
    """Returns (statuses, closed) for `data` sent on a fresh connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    out = b""
    closed = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed early: read what came
        s.settimeout(QUIET)
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            out += d
    finally:
        s.close()
    if not out and not closed:
        return "-", False
    if not STATUS_RE.match(out):
        return "no status line: %r" % out[:30], closed
    conn = RawConn.__new__(RawConn)  # parse what arrived, response by response
    conn.buf, conn.eof, conn.reset = out, True, False
    statuses = []
    try:
        while conn.buf:
            statuses.append(conn.read_response(method).status)
    except (ProtocolError, ConnectionClosed, ValueError) as e:
        statuses.append("unparsable (%s)" % e)
    return ",".join(map(str, statuses)), closed


def fmt(statuses, closed):
    return "%s / %s" % (statuses or "-", "close" if closed else "open")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", default=str(ROOT / "build" / "examples" / "echo_server"))
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    nginx_port, eddy_port = free_port(), free_port()
    conf = Path(tmp.name) / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp.name, port=nginx_port))
    nginx = subprocess.Popen([args.nginx, "-c", str(conf), "-p", tmp.name],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    eddy = subprocess.Popen([args.echo, "--port", str(eddy_port), "--address", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        if not wait_port(nginx_port, deadline) or not wait_port(eddy_port, deadline):
            sys.exit("a server did not start")
        rows = []
        for c in CASES:
            method = c.method or "GET"
            want = fmt(",".join(map(str, c.statuses)), c.after == "close")
            got_eddy = fmt(*exchange(eddy_port, c.data, method))
            got_nginx = fmt(*exchange(nginx_port, c.data, method))
            rows.append((c.name, want, got_eddy, got_nginx, c.rfc))
        if args.markdown:
            print("| case | expected (eddy test) | eddy | nginx 1.22 | RFC |")
            print("|---|---|---|---|---|")
            for r in rows:
                print("| %s |" % " | ".join(x.replace("|", "\\|") for x in r))
        else:
            w = max(len(r[0]) for r in rows)
            for name, want, e, n, rfc in rows:
                flag = ("E" if e != want else " ") + ("N" if n != e else " ")
                print("%s %-*s  want %-16s eddy %-16s nginx %-16s %s" % (flag, w, name, want, e, n, rfc))
            print("\nE: eddy differs from the expectation; N: nginx differs from eddy")
    finally:
        for p in (eddy, nginx):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        tmp.cleanup()


if __name__ == "__main__":
    main()
