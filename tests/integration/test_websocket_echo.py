#!/usr/bin/env python3
"""The conformance echo server's /ws (examples/echo_server.c) with python3-websockets: every
message comes back with the same type, with and without permessage-deflate, from any Origin;
the HTTP echo on the same port still answers."""
import argparse
import asyncio
import http.client
import subprocess
import sys

try:
    import websockets
except ImportError:  # a python3 outside Debian's (pyenv): use the Debian package
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets


async def echo(port):
    ok = True
    for comp in (None, "deflate"):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=comp,
                                      max_size=None) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
            ok &= ("permessage-deflate" in ext) == (comp == "deflate")
            for m in ("", "héllo", b"", b"\x00\xff" * 40000, "x" * 70000, [b"a", b"b"], ["c", "d"]):
                await ws.send(m)
                want = m if not isinstance(m, list) else m[0][:0].join(m)
                got = await ws.recv()
                ok &= got == want and type(got) is type(want)
        print(("ok   " if ok else "FAIL ") + f"echo_server /ws echo, compression={comp}", flush=True)
    # A cross-origin page (or a conformance client that sends an Origin) is answered too: the
    # echo has nothing for a same-origin rule to protect.
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws",
                                      origin="http://elsewhere.example:8000") as ws:
            await ws.send("from elsewhere")
            origin_ok = await ws.recv() == "from elsewhere"
    except websockets.exceptions.InvalidStatusCode as err:
        origin_ok = False
        print(f"     handshake with a foreign Origin refused: {err}")
    print(("ok   " if origin_ok else "FAIL ") + "echo_server /ws accepts any Origin", flush=True)
    return ok and origin_ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    proc = subprocess.Popen([args.server, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        ok = asyncio.run(echo(port))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/fixed")
        r = conn.getresponse()
        http_ok = r.status == 200 and r.read() == b"hello world\n"
        print(("ok   " if http_ok else "FAIL ") + "HTTP echo on the same port")
    finally:
        proc.terminate()
        code = proc.wait(30)
    print(("ok   " if code == 0 else "FAIL ") + f"clean exit ({code})")
    sys.exit(0 if ok and http_ok and code == 0 else 1)


if __name__ == "__main__":
    main()
