"""What a python3-websockets client sees when the server it talks to stops: shared by
test_websocket.py (ws://) and test_wss.py (wss://)."""
import asyncio
import sys

try:
    import websockets
except ImportError:  # pyenv's python3 does not see Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets


async def close_code_when_stopped(url, stop, **connect_args):
    """Connects to `url`, has one message echoed, then calls stop() (e.g. SIGTERM to the
    server) and returns the code of the close frame that arrives: None when the connection
    ended without one, "no close" when it did not end within 10 s."""
    async with websockets.connect(url, ping_interval=None, **connect_args) as ws:
        await ws.send("x")
        await ws.recv()
        stop()
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
        except asyncio.TimeoutError:
            pass
    return "no close"
