#!/usr/bin/env python3
"""WebSocket over TLS (wss://): eddy's WebSocket server behind eddy_server_set_tls, eddy's
client (ws_test_server --connect) with a CA given through eddy_ws_options_set_tls, and
python3-websockets as a wss client. Certificates are made with openssl in a temp dir."""
import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from tls_certs import make_certs  # noqa: E402
from ws_going_away import close_code_when_stopped  # noqa: E402

try:
    import websockets
except ImportError:  # pyenv's python3 does not see Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def start_server(binary, cert, key, *extra):
    proc = subprocess.Popen([binary, "--port", "0", "--tls-cert", cert, "--tls-key", key, *extra],
                            stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline().split()[-1])


def run_client(binary, url, *args, cafile=None):
    env = dict(os.environ)
    env.pop("WS_TEST_CAFILE", None)
    if cafile:
        env["WS_TEST_CAFILE"] = cafile
    out = subprocess.run([binary, "--connect", url, *args], capture_output=True, text=True,
                         timeout=30, env=env)
    check(out.returncode == 0 and "Sanitizer" not in out.stderr,
          f"client process exit {out.returncode} {out.stderr[-1500:]}")
    return out.stdout.splitlines()


async def python_client(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=ctx,
                                  compression="deflate") as ws:
        await ws.send("hello over tls")
        text = await ws.recv()
        await ws.send(b"\x00\x01" * 40000)
        data = await ws.recv()
    return text, data


def going_away_over_tls(binary, certs, free_order):
    """A server that stops with a wss:// connection open sends it a close frame with 1001
    (Going Away) through TLS, then ends the connection, whichever it frees first: its app or
    its loop (`free_order`)."""
    proc, port = start_server(binary, certs["server.crt"], certs["server.key"],
                              "--free", free_order)
    terminated = []

    def stop():
        proc.terminate()
        terminated.append(True)

    try:
        ctx = ssl.create_default_context(cafile=certs["ca.crt"])
        code = asyncio.run(close_code_when_stopped(f"wss://127.0.0.1:{port}/ws", stop, ssl=ctx))
        check(code == 1001, f"{free_order}: wss:// client sees the server's close 1001 (got {code})")
    finally:
        if not terminated:  # (a second SIGTERM could meet the server without its handler)
            proc.terminate()
        check(proc.wait(timeout=20) == 0, f"{free_order}: server exit status after going away")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    binary = ap.parse_args().server
    with tempfile.TemporaryDirectory() as d:
        certs = make_certs(d)
        ca = certs["ca.crt"]
        good, port = start_server(binary, certs["server.crt"], certs["server.key"])
        other, other_port = start_server(binary, certs["other.crt"], certs["other.key"])
        try:
            for extra in ([], ["--deflate"]):
                lines = run_client(binary, f"wss://127.0.0.1:{port}/ws", *extra, "hi", "b:bin",
                                   "y" * 70000, cafile=ca)
                check(lines[:1] == [f"connected deflate={1 if extra else 0}"] and
                      "text 2 hi" in lines and "binary 3" in lines and
                      f"text 70000 {'y' * 70000}" in lines and
                      lines[-1].startswith("close 1000"),
                      f"eddy client over wss:// {extra}: {lines[:1]} {lines[-1:]}")
            lines = run_client(binary, f"wss://localhost:{port}/ws", "hi", cafile=ca)
            check(lines[:1] == ["connected deflate=0"] and "text 2 hi" in lines,
                  f"wss:// by host name (SNI + name check): {lines[:2]}")
            lines = run_client(binary, f"wss://127.0.0.1:{port}/ws", "hi")
            check(len(lines) == 1 and lines[0].startswith("connect failed") and "TLS" in lines[0],
                  f"untrusted CA (system store only) refused: {lines}")
            lines = run_client(binary, f"wss://127.0.0.1:{other_port}/ws", "hi", cafile=ca)
            check(len(lines) == 1 and lines[0].startswith("connect failed") and "TLS" in lines[0],
                  f"certificate for another name refused: {lines}")
            # The HTTPS server answers a plain request with a plain-text 400 (as nginx): the
            # client sees a refused handshake with that status, not a silent close.
            lines = run_client(binary, f"ws://127.0.0.1:{port}/ws", "hi", cafile=ca)
            check(lines[:1] == ["refused 400 Bad Request"] and lines[-1].startswith("connect failed"),
                  f"plain ws:// to the TLS port fails cleanly: {lines}")
            text, data = asyncio.run(python_client(port, ca))
            check(text == "hello over tls" and data == b"\x00\x01" * 40000,
                  "python3-websockets over wss:// with compression: echo of text and binary")
            lines = run_client(binary, f"wss://127.0.0.1:{port}/ws", "still", cafile=ca)
            check("text 5 still" in lines, "server still serving after the failed handshakes")
            for free_order in ("app-first", "loop-first"):
                going_away_over_tls(binary, certs, free_order)
        finally:
            for p in (good, other):
                p.terminate()
                rc = p.wait(timeout=20)
                check(rc == 0, f"server exit status {rc}")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("all wss checks passed")


if __name__ == "__main__":
    main()
