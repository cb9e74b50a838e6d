"""Lua binding, WebSocket client (eddy.websocket_connect): tests/ws_client.lua connects over
real sockets to the C echo server (examples/echo_server /ws) and to a Lua server
(tests/ws_server.lua), and reports what it saw as JSON lines that are checked here: echo of
text/binary/JSON, compression, subprotocol, headers, ping/pong, close codes and reasons both
ways, refused port, connect timeout, refused handshake, bad arguments, callback form, limits,
compression level (against a raw server that reports the client's compressed frame).
The leak test repeats connect/echo/close cycles and checks that the Lua registry stays flat."""
import os
import socket
import subprocess
import sys
import threading
import unittest

from luatest import HERE, LuaServer, lua_binary, main, named_results

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import ws_wire  # noqa: E402  (raw frames, shared with the C server's tests)

ECHO_SERVER = None  # path given with --echo-server

class EchoServer:
    """examples/echo_server on a free port (it prints "... listening on 127.0.0.1:<port>")."""

    def __init__(self):
        self.proc = subprocess.Popen([ECHO_SERVER, "--port", "0", "--address", "127.0.0.1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.proc.kill()
            raise RuntimeError(f"echo_server did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()

def free_port():
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

class DeflateReporter:
    """A listener whose connections ws_wire.report_first_deflate_frame serves, one after the other, on a
    thread (socket errors ignored: the client may have given up; 10 s per read)."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(10)
                try:
                    ws_wire.report_first_deflate_frame(conn)
                except (OSError, ValueError, EOFError):
                    pass

    def stop(self):
        # shutdown() wakes the thread's accept(); close() alone might not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(10)

def run_client(*args):
    """Runs ws_client.lua; returns {scenario name: JSON object} and its stderr."""
    proc = subprocess.run([lua_binary(), os.path.join(HERE, "ws_client.lua"), *args],
                          capture_output=True, text=True, timeout=45)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines and lines[-1] == "done", (proc.returncode, proc.stdout, proc.stderr)
    return named_results(lines[:-1]), proc.stderr

class Client(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = EchoServer()
        cls.lua = LuaServer(os.path.join(HERE, "ws_server.lua"))
        # A listener that never accepts nor answers: the handshake can only time out.
        cls.silent = socket.socket()
        cls.silent.bind(("127.0.0.1", 0))
        cls.silent.listen(8)
        cls.echo_url = f"ws://127.0.0.1:{cls.echo.port}/ws"
        cls.deflate = DeflateReporter()

    @classmethod
    def tearDownClass(cls):
        cls.deflate.stop()
        cls.silent.close()
        cls.echo.stop()
        cls.lua.stop()

    def test_scenarios(self):
        r, err = run_client("--echo", self.echo_url, "--lua", f"ws://127.0.0.1:{self.lua.port}",
                            "--refused", str(free_port()), "--silent", str(self.silent.getsockname()[1]),
                            "--deflate", str(self.deflate.port))
        for name, obj in r.items():
            self.assertNotIn("error", obj, name)
        self.assertEqual(set(r), {"echo_c", "lua_server", "failures", "limits", "callbacks",
                                  "compression_level"})

        e = r["echo_c"]
        self.assertEqual((e["text"], e["text_binary"]), ("héllo", False))
        self.assertEqual((e["binary_hex"], e["binary_flag"]), ("0001ff", True))
        self.assertEqual(e["json"], '{"k":"v"}')
        self.assertTrue(e["big_ok"])
        self.assertTrue(e["compressed"])  # the echo server accepts permessage-deflate
        self.assertIsNone(e["subprotocol"])
        self.assertEqual(e["close_rc"], 0)
        self.assertTrue(e["after_close"])
        self.assertEqual(e["close_code"], 4001)  # the server echoes our code
        self.assertEqual(e["write_after_close"], e["closed_rc"])

        s = r["lua_server"]
        self.assertEqual(s["subprotocol"], "chat")
        self.assertEqual(s["greeting"], "open /ws/sub subprotocol=chat")
        self.assertEqual(s["headers_seen"], "x-test=1 cookie=v1")
        self.assertEqual(s["pongs"], ["abc"])
        self.assertEqual(s["echo"], "after ping")
        self.assertTrue(s["eof"])
        self.assertEqual((s["close_code"], s["close_reason"]), (4000, "asked to"))
        self.assertEqual(s["plain_text"], ["texte é", False])
        self.assertEqual((s["plain_binary"], s["plain_binary_flag"]), ([255, 0, 254], True))
        self.assertTrue(s["plain_eof"])
        self.assertEqual(s["plain_close_code"], 4002)
        stats = self.lua.get_json("/stats")  # the Lua server's on_close saw our close frame
        self.assertEqual((stats["last_code"], stats["last_reason"]), (4002, "client bye"))

        f = r["failures"]
        self.assertEqual((f["refused"]["conn"], f["refused"]["code"]), (False, f["econnrefused"]))
        self.assertIn("refused", f["refused"]["err"])
        self.assertEqual((f["timeout"]["conn"], f["timeout"]["code"]), (False, f["etimedout"]))
        self.assertEqual((f["origin"]["conn"], f["origin"]["code"]), (False, f["eproto"]))
        self.assertEqual((f["bad_url"]["conn"], f["bad_url"]["code"]), (False, f["einval"]))
        self.assertEqual((f["bad_header"]["conn"], f["bad_header"]["code"]), (False, f["einval"]))
        for name in ("misspelt", "bad_type", "negative", "nan"):
            self.assertEqual((f[name]["conn"], f[name]["code"]), (False, f["einval"]), name)
        self.assertIn("unsupported option max_mesage_size", f["misspelt"]["err"])
        self.assertIn("option max_message_size must be a number, not string", f["bad_type"]["err"])
        self.assertTrue(f["outside"])  # no callback outside a coroutine: a Lua error

        lim = r["limits"]
        self.assertTrue(lim["too_big_eof"])
        self.assertEqual(lim["too_big_code"], 1009)
        self.assertEqual(lim["callback_error_code"], 1011)
        self.assertIn("callback boom", err)

        c = r["callbacks"]
        self.assertEqual(c["messages"], ["one", "two", "<closed>"])
        self.assertEqual(c["close_code"], 1000)
        self.assertEqual((c["failed"], c["code"]), (True, f["econnrefused"]))

        # compression = { compression_level = 0, mem_level = 1 }: the client's frame is stored
        # blocks, longer than the message; at the default level under a quarter of it. Both
        # inflate to the message. Out-of-range values: nil, EDDY_EINVAL.
        z = r["compression_level"]
        for case in ("stored", "default"):
            self.assertEqual((z[case]["rsv1"], z[case]["same"], z[case]["eof"]), (64, True, True), case)
        self.assertGreater(z["stored"]["size"], z["length"], z)
        self.assertGreater(z["length"], 4 * z["default"]["size"], z)
        self.assertEqual(z["bad"], [{"conn": False, "code": z["einval"]}] * 5)

    def test_registry_flat_over_client_cycles(self):
        r, _ = run_client("--echo", self.echo_url, "--refused", str(free_port()), "--leak", "100")
        leak = r["leak"]
        self.assertNotIn("error", leak)
        self.assertEqual(leak["registry_after"], leak["registry_before"], leak)
        self.assertEqual(leak["registry_kept"], leak["registry_after"] + 1, leak)  # the measure sees refs
        # 100 cycles make 300 connection attempts; a leaked table or closure per connection
        # would add far more than this.
        self.assertLess(leak["memory_kb_after"] - leak["memory_kb_before"], 24, leak)

# A Lua WebSocket echo route on a Unix socket (EDDY_TEST_SOCK) and websocket_connect's
# unix_socket option; prints one JSON line.
UNIX_CLIENT = r"""
local eddy = require("eddy")
local path = os.getenv("EDDY_TEST_SOCK")
local app = eddy.Application({ { "/ws", {
  open = function(self) self:write_message(self:host() .. " " .. self:uri()) end,
  on_message = function(self, data) self:write_message(data) end,
} } })
app:listen_unix(path)
eddy.spawn(function()
  local out = {}
  local conn, err = eddy.websocket_connect("ws://app.invalid/ws?x=1", { unix_socket = path, timeout = 10 })
  if conn then
    out.first = conn:read_message()
    conn:write_message("over the socket")
    out.echo = conn:read_message()
    conn:close()
  else
    out.error = err
  end
  local _, merr, mcode = eddy.websocket_connect("ws://localhost/ws", { unix_socket = path .. ".missing" })
  out.missing = { err = merr, code = math.tointeger(mcode) }
  local _, lerr, lcode = eddy.websocket_connect("ws://localhost/ws", { unix_socket = "/" .. ("a"):rep(200) })
  out.too_long = { err = lerr, code = math.tointeger(lcode) }
  out.bad_type = select(2, eddy.websocket_connect("ws://localhost/ws", { unix_socket = 5 }))
  out.ENOENT, out.EINVAL = math.tointeger(eddy.core.EDDY_ENOENT), math.tointeger(eddy.core.EDDY_EINVAL)
  print(eddy.json.encode(out))
  eddy.stop()
end)
eddy.start()
"""


class UnixSocket(unittest.TestCase):
    def test_websocket_over_a_unix_socket(self):
        """websocket_connect's unix_socket (eddy_ws_options_set_unix_socket): the handshake
        and messages go over the socket, the URL giving Host and target."""
        import json
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, EDDY_TEST_SOCK=os.path.join(d, "ws.sock"))
            proc = subprocess.run([lua_binary(), "-e", UNIX_CLIENT], capture_output=True,
                                  text=True, timeout=30, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        r = json.loads(proc.stdout)
        self.assertEqual((r.get("first"), r.get("echo")),
                         ("app.invalid /ws?x=1", "over the socket"), r)
        self.assertEqual(r["missing"]["code"], r["ENOENT"], r)
        self.assertEqual(r["too_long"]["code"], r["EINVAL"], r)
        self.assertIn("unix_socket /aaa", r["too_long"]["err"])
        self.assertIn("option unix_socket must be a string", r["bad_type"])


if __name__ == "__main__":
    if "--echo-server" in sys.argv:
        i = sys.argv.index("--echo-server")
        ECHO_SERVER = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    main()
