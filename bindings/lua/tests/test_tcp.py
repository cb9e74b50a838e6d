"""Lua binding, raw TCP: eddy.TCPServer and eddy.IOStream (tests/tcp_server.lua) driven by
Python sockets, and eddy.TCPClient (tests/tcp_client.lua) against that server, a refused port
and a listener whose accept queue is full. Checked: read_until, read_bytes exact and partial,
read_until_close, large writes with completion callbacks and under a write mark, the close
callback on the peer's close and reset, max_bytes exceeded (EDDY_ETOOBIG), read_until_regex
(a match across sends, max_bytes, bad patterns), callback-style
reads and writes, handle_stream raising (logged, connection closed, server unharmed), stop()
(inside handle_stream: the connection goes on, the port is closed), a Unix socket, and that
every stream's Lua references are released (registry size back to its baseline)."""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from luatest import HERE, lua_binary, main, named_results
from tcp_events import (WAIT, EventScript, connect, pattern, recv_exactly, recv_line,
                        recv_until_closed)

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
from loopback import has_ipv6_loopback  # noqa: E402

SERVER = os.path.join(HERE, "tcp_server.lua")
CLIENT = os.path.join(HERE, "tcp_client.lua")


def codes():
    """The EDDY_E* codes by name, from the built module."""
    proc = subprocess.run([lua_binary(), "-e", """
        local core = require("eddy.core")
        local out = {}
        for _, n in ipairs({"EDDY_EOF", "EDDY_ECONNRESET", "EDDY_ETOOBIG", "EDDY_ECLOSED",
                            "EDDY_ECONNREFUSED", "EDDY_ETIMEDOUT", "EDDY_ETLS", "EDDY_EINVAL",
                            "EDDY_ERESOLVE", "EDDY_EADDRNOTAVAIL"}) do
          out[#out + 1] = n .. "=" .. math.tointeger(core[n])
        end
        print(table.concat(out, " "))"""], capture_output=True, text=True, timeout=20, check=True)
    return {k: int(v) for k, v in (kv.split("=") for kv in proc.stdout.split())}


class ListenFamilies(unittest.TestCase):
    @unittest.skipUnless(has_ipv6_loopback(), "no ::1 on this host")
    def test_v4_and_v6_any_on_one_port_as_tornado(self):
        # As Tornado's listen (bind_sockets sets IPV6_V6ONLY), "::" takes IPv6 only, so
        # "0.0.0.0" and "::" share a port: the second listen was EADDRINUSE (dual-stack).
        proc = subprocess.run([lua_binary(), "-e", """
            local eddy = require("eddy")
            local tcp = eddy.TCPServer(function() end)
            local port = tcp:listen(0, "0.0.0.0")
            tcp:listen(port, "::")
            local app = eddy.Application({ { "/", { get = function(self) end } } })
            local web_port = app:listen(0, "0.0.0.0")
            app:listen(web_port, "::")
            print("ok")"""], capture_output=True, text=True, timeout=20)
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "ok"), proc.stderr)


# A TCPServer that answers each connection with its peer ("<ip> <port>"), and a client that
# connects with the options given as Lua source in EDDY_TEST_OPTS; prints a JSON line per case.
CONNECT_OPTIONS = r"""
local eddy = require("eddy")
local host = os.getenv("EDDY_TEST_HOST")
local cases = load("return " .. os.getenv("EDDY_TEST_CASES"))()
local server = eddy.TCPServer(function(stream, address, port)
  stream:write(address .. " " .. port .. "\n")
end)
local port = server:listen(0, host)
eddy.spawn(function()
  for _, case in ipairs(cases) do
    local ok, s, err, code = pcall(eddy.TCPClient().connect, eddy.TCPClient(), case.host or host,
                                   case.port or port, case.opts)
    local out = { case = case.name }
    if not ok then
      out.raised = tostring(s)
    elseif s then
      out.peer = s:read_until("\n"):gsub("\n$", "")
      s:close()
    else
      out.err, out.code = err, math.tointeger(code)
    end
    print(eddy.json.encode(out))
  end
  eddy.stop()
end)
eddy.start()
"""


class ConnectOptions(unittest.TestCase):
    """TCPClient:connect's af / source_ip / source_port (eddy_connect_with_options): the server
    sees the bound source as the peer; af picks the family; eddy's refusals are clear."""

    def run_cases(self, host, cases):
        env = dict(os.environ, EDDY_TEST_HOST=host, EDDY_TEST_CASES=cases)
        proc = subprocess.run([lua_binary(), "-e", CONNECT_OPTIONS], capture_output=True,
                              text=True, timeout=30, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return {r.pop("case"): r for r in map(json.loads, proc.stdout.splitlines())}

    def test_source_address_and_port_are_the_peer(self):
        src_port = free_port("127.0.0.2")
        got = self.run_cases("127.0.0.1", """{
            { name = "ip", opts = { source_ip = "127.0.0.2" } },
            { name = "ip_port", opts = { source_ip = "127.0.0.2", source_port = %d } },
            { name = "inet", opts = { af = "inet" } },
            { name = "inet6_v4_host", opts = { af = "inet6" } },
            { name = "v6_source_v4_host", opts = { source_ip = "::1" } },
            { name = "not_local", opts = { source_ip = "10.255.255.1" } },
            { name = "name_source", opts = { source_ip = "localhost" } },
            { name = "port_range", opts = { source_port = 65536 } },
            { name = "bad_af", opts = { af = "ipx" } },
            { name = "bad_port_type", opts = { source_port = "80" } },
        }""" % src_port)
        c = codes()
        self.assertRegex(got["ip"]["peer"], r"^127\.0\.0\.2 \d+$")
        self.assertEqual(got["ip_port"]["peer"], "127.0.0.2 %d" % src_port)
        self.assertRegex(got["inet"]["peer"], r"^127\.0\.0\.1 \d+$")
        # A numeric IPv4 host has no IPv6 address: as getaddrinfo(AF_INET6) fails.
        self.assertEqual(got["inet6_v4_host"]["code"], c["EDDY_ERESOLVE"])
        self.assertEqual(got["v6_source_v4_host"]["code"], c["EDDY_EADDRNOTAVAIL"])
        self.assertEqual(got["not_local"]["code"], c["EDDY_EADDRNOTAVAIL"])
        for case, option in (("name_source", "source_ip localhost"),
                             ("port_range", "source_port 65536")):
            self.assertEqual(got[case]["code"], c["EDDY_EINVAL"], case)
            self.assertIn(option, got[case]["err"], case)
        self.assertIn('af must be "inet"', got["bad_af"]["raised"])
        self.assertIn("source_port must be a integer", got["bad_port_type"]["raised"])

    @unittest.skipUnless(has_ipv6_loopback(), "no ::1 on this host")
    def test_inet6_to_the_ipv6_loopback(self):
        got = self.run_cases("::1", """{
            { name = "inet6", host = "::1", opts = { af = "inet6" } },
            { name = "v6_source", host = "::1", opts = { af = "inet6", source_ip = "::1" } },
            { name = "inet_v6_host", host = "::1", opts = { af = "inet" } },
        }""")
        self.assertRegex(got["inet6"]["peer"], r"^::1 \d+$")
        self.assertRegex(got["v6_source"]["peer"], r"^::1 \d+$")
        self.assertEqual(got["inet_v6_host"]["code"], codes()["EDDY_ERESOLVE"])


def free_port(host):
    """A port nothing on `host` uses right now (bound and released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalAddresses(unittest.TestCase):
    def test_every_socket_after_port_zero(self):
        """TCPServer:local_addresses(): two listens on port 0 get a port each (port() shows
        the first only), a Unix socket its path; a client reaches each TCP one through it."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s")
            proc = subprocess.run([lua_binary(), "-e", """
                local eddy = require("eddy")
                local path = os.getenv("EDDY_TEST_SOCK")
                local tcp = eddy.TCPServer(function(stream)
                  stream:write("hi\\n")
                  stream:read_until_close()  -- close() now would drop the queued "hi"
                end)
                assert(#tcp:local_addresses() == 0)
                tcp:listen(0, "127.0.0.1")
                tcp:listen(0, "127.0.0.1")
                tcp:bind_unix(path)
                local a = tcp:local_addresses()
                local client = eddy.TCPClient()
                eddy.spawn(function()
                  local got = {}
                  for i = 1, 2 do
                    local s = assert(client:connect(a[i][1], a[i][2], { timeout = 10 }))
                    got[#got + 1] = (s:read_until("\\n"):gsub("\\n", ""))
                    s:close()
                  end
                  print(#a, a[1][1], a[1][2], a[2][1], a[2][2], a[3], tcp:port(),
                        table.concat(got))
                  tcp:stop()
                  print(#tcp:local_addresses())
                  eddy.stop()
                end)
                eddy.start()"""], capture_output=True, text=True, timeout=20,
                                  env=dict(os.environ, EDDY_TEST_SOCK=path))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first, second = proc.stdout.splitlines()
        n, ip1, port1, ip2, port2, unix, port, got = first.split("\t")
        self.assertEqual((n, ip1, ip2, unix, got), ("3", "127.0.0.1", "127.0.0.1", path, "hihi"))
        self.assertNotEqual(port1, port2)
        self.assertEqual(port, port1)
        self.assertEqual(second, "0")


class TCPServerStreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.codes = codes()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.unix_path = os.path.join(cls.tmp.name, "eddy.sock")
        cls.server = EventScript(SERVER, "--port", "0", "--unix", cls.unix_path,
                                 headers=("listening", "stoppable"))
        cls.port = int(cls.server.header["listening"])
        cls.stoppable = int(cls.server.header["stoppable"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def open(self, mode):
        sock = connect(self.port)
        sock.sendall(mode.encode() + b"\n")
        return sock

    def test_echo_read_until(self):
        sock = self.open("echo")
        with sock:
            hello = recv_line(sock).split()
            self.assertEqual((hello[0], hello[1], hello[3]), (b"hello", b"127.0.0.1", b"plain"))
            port = sock.getsockname()[1]
            self.assertEqual(int(hello[2]), port)  # handle_stream's port
            sock.sendall(b"one\ntwo\nthree")
            self.assertEqual(recv_exactly(sock, 8), b"one\ntwo\n")
            sock.sendall(b" and more\n")
            self.assertEqual(recv_line(sock), b"three and more\n")
        # The peer closed while a read was pending: the read gets EDDY_EOF.
        ev = self.server.event("echo_end", port=port)
        self.assertEqual(ev["code"], self.codes["EDDY_EOF"], ev)
        self.assertIn("(%d)" % self.codes["EDDY_EOF"], ev["err"])
        self.assertTrue(ev["closed"])

    def test_read_bytes_exact(self):
        with self.open("bytes") as sock:
            sock.sendall(b"abc")
            time.sleep(0.2)  # two segments: an exact read must not answer "abc" alone
            sock.sendall(b"defghij")
            self.assertEqual(recv_exactly(sock, 14), b"<abcde><fghij>")

    def test_read_bytes_partial(self):
        with self.open("partial") as sock:
            sock.sendall(b"abc")
            self.assertEqual(recv_exactly(sock, 5), b"<abc>")  # fewer than 100 bytes do
            sock.sendall(b"xy")
            self.assertEqual(recv_exactly(sock, 4), b"<xy>")

    def test_read_until_close(self):
        body = pattern(7, 1 << 20)
        with self.open("until_close") as sock:
            sock.sendall(body)
            sock.shutdown(socket.SHUT_WR)
            ev = self.server.event("until_close")
        self.assertEqual(ev["len"], len(body), ev)
        self.assertEqual(ev["sum"], sum(body) % 1000000007)
        # The close after a completed read_until_close reports no error.
        self.assertEqual((ev["close_err"], ev["close_code"]), (None, 0), ev)

    def test_large_writes_complete(self):
        n, size = 64, 65536
        with self.open("big %d %d" % (n, size)) as sock:
            time.sleep(0.2)  # let the kernel buffers fill: the writes must wait for us
            data, how = recv_until_closed(sock)
        self.assertEqual(how, "eof")
        self.assertEqual(len(data), n * size)
        self.assertEqual(data, pattern(0, n * size))
        ev = self.server.event("written")
        self.assertEqual((ev["done"], ev["ok"], ev["left"]), (n, n, 0), ev)
        self.assertGreater(ev["buffered"], 0, ev)  # write() queued without waiting

    def test_write_mark_bounds_the_buffer(self):
        n, size = 128, 65536
        with self.open("mark %d %d" % (n, size)) as sock:
            time.sleep(0.3)
            data, how = recv_until_closed(sock)
        ev = self.server.event("mark")
        self.assertLessEqual(ev["most"], ev["mark"], ev)  # never written above the mark
        self.assertGreater(ev["waited"], 0, ev)           # and it did have to wait
        self.assertGreater(ev["drains"], 0, ev)           # on_drain ran
        self.assertEqual((ev["drained"], ev["left"]), (True, 0), ev)  # a mark of 0: all sent
        self.assertEqual(len(data), n * size)
        self.assertEqual(data, pattern(0, n * size))

    def test_close_callback_on_peer_close(self):
        sock = self.open("idle fin")
        self.assertEqual(recv_line(sock), b"ready\n")
        sock.close()
        ev = self.server.event("closed", tag="fin")
        self.assertEqual(ev["code"], self.codes["EDDY_EOF"], ev)
        self.assertIsNotNone(ev["err"])

    def test_close_callback_on_reset(self):
        sock = self.open("idle rst")
        self.assertEqual(recv_line(sock), b"ready\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
        ev = self.server.event("closed", tag="rst")
        self.assertEqual(ev["code"], self.codes["EDDY_ECONNRESET"], ev)

    def test_max_bytes_exceeded(self):
        with self.open("limit") as sock:
            sock.sendall(b"x" * 40)
            _, how = recv_until_closed(sock)
        ev = self.server.event("limit")
        self.assertIsNone(ev["line"])
        self.assertEqual(ev["code"], ev["etoobig"], ev)
        self.assertEqual(ev["close_code"], ev["etoobig"], ev)
        self.assertIn("(%d)" % ev["etoobig"], ev["close_err"])

    def test_read_until_regex(self):
        with self.open("regex") as sock:
            # The blank line's end split across sends (pauses: separate reads), so the match
            # spans them; bytes after a match stay buffered for the next read.
            for piece in (b"GET / HTTP/1.0\r\nA: b\r", b"\n\r", b"\nab"):
                sock.sendall(piece)
                time.sleep(0.1)
            self.assertEqual(recv_exactly(sock, 26), b"<GET / HTTP/1.0\r\nA: b\r\n\r\n>")
            sock.sendall(b"cxx")  # "x+" waits for an x, then takes the whole run
            self.assertEqual(recv_exactly(sock, 7), b"<abcxx>")
            sock.sendall(b"1234567890;")  # no match within max_bytes 8
            recv_until_closed(sock)
        ev = self.server.event("regex")
        self.assertIn("read_until_regex: PCRE2 refuses the pattern \"(\"", ev["bad"])
        self.assertIn("the pattern must be a non-empty string", ev["empty"])
        self.assertIn("read_until_regex: bad pattern", self.server.stderr())  # eddy's log line
        # As read_until's max_bytes: the read and the close get EDDY_ETOOBIG.
        self.assertIsNone(ev["data"])
        self.assertEqual((ev["code"], ev["close_code"]), (ev["etoobig"], ev["etoobig"]), ev)

    def test_callback_style(self):
        with self.open("callbacks") as sock:
            sock.sendall(b"ping\n")
            data, how = recv_until_closed(sock)
        self.assertEqual(data, b"cb:ping\n")
        ev = self.server.event("callbacks")
        self.assertEqual((ev["line"], ev["write_ok"], ev["reading"]), ("ping\n", True, False), ev)

    def test_handle_stream_error_closes_only_that_connection(self):
        with self.open("boom") as sock:
            data, _ = recv_until_closed(sock)
        self.assertEqual(data, b"")
        deadline = time.monotonic() + WAIT
        while "boom in handle_stream" not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        err = self.server.stderr()
        self.assertIn("error in handle_stream (closing the connection)", err)
        self.assertIn("boom in handle_stream", err)
        with self.open("echo") as sock:  # the server goes on
            recv_line(sock)
            sock.sendall(b"still here\n")
            self.assertEqual(recv_line(sock), b"still here\n")

    def test_stop_inside_handle_stream(self):
        sock = connect(self.stoppable)
        with sock:
            line = recv_line(sock)
            self.assertTrue(line.startswith(b"stopped "), line)
            self.assertIn(b"the TCP server is stopped", line)  # listen after stop raises
            # The port is closed...
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", self.stoppable), timeout=WAIT).close()
            # ...and the connection accepted before goes on.
            sock.sendall(b"echo\nafter stop\n")
            self.assertEqual(recv_line(sock), b"echo\n")
            self.assertEqual(recv_line(sock), b"after stop\n")

    def test_unix_socket(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        with sock:
            sock.connect(self.unix_path)
            sock.sendall(b"echo\nover unix\n")
            self.assertEqual(recv_line(sock), b"hello  0 plain\n")  # no address, port 0
            self.assertEqual(recv_line(sock), b"over unix\n")

    def registry(self):
        with self.open("stats") as sock:
            return int(recv_line(sock))

    def test_streams_release_their_references(self):
        def cycle(n):
            for i in range(n):
                with self.open("echo") as sock:
                    recv_line(sock)
                    sock.sendall(b"x\n")
                    recv_line(sock)
                    port = sock.getsockname()[1]
                self.server.event("echo_end", port=port)
                with self.open("callbacks") as sock:
                    sock.sendall(b"y\n")
                    recv_until_closed(sock)
                self.server.event("callbacks")
                sock = self.open("idle leak")
                recv_line(sock)
                sock.close()
                self.server.event("closed", tag="leak")
        cycle(5)  # warm-up (free lists)
        before = self.registry()
        cycle(30)
        after = self.registry()
        self.assertEqual(after, before)


class TCPClientConnect(unittest.TestCase):
    """tcp_client.lua against tcp_server.lua, a refused port and a full accept queue."""

    def test_client(self):
        codes_ = codes()
        server = EventScript(SERVER, "--port", "0", headers=("listening", "stoppable"))
        server_port = server.header["listening"]
        refused = socket.socket()
        refused.bind(("127.0.0.1", 0))
        refused_port = refused.getsockname()[1]
        refused.close()  # nothing listens there now
        # A listener whose accept queue is full drops further SYNs: a connect there times out.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            try:
                f.connect(("127.0.0.1", full.getsockname()[1]))
            except BlockingIOError:
                pass
            fillers.append(f)
        time.sleep(0.05)
        try:
            proc = subprocess.run([lua_binary(), CLIENT, "--port", server.header["listening"],
                                   "--refused", str(refused_port),
                                   "--full", str(full.getsockname()[1])],
                                  capture_output=True, text=True, timeout=45)
        finally:
            for f in fillers:
                f.close()
            full.close()
            server.stop()
        self.assertEqual(proc.returncode, 0, (proc.stdout, proc.stderr))
        r = named_results(proc.stdout.splitlines())
        self.assertEqual(r["coroutine"], {"hello": "hello 127.0.0.1", "echo": "round trip\n",
                                          "nodelay": 0, "is_tls": False, "fileno": True}, r)
        self.assertEqual(r["callback"], {"echo": "by callback\n", "closed_after": True}, r)
        self.assertEqual(r["by_name"], {"hello": "hello 127.0.0.1"}, r)
        self.assertEqual(r["refused"]["code"], codes_["EDDY_ECONNREFUSED"], r)
        self.assertIn("(%d)" % codes_["EDDY_ECONNREFUSED"], r["refused"]["err"])
        self.assertEqual(r["refused_cb"]["code"], codes_["EDDY_ECONNREFUSED"], r)
        # Why, beyond the code (eddy_connect_error_detail), ends both messages.
        why = ": connect to 127.0.0.1:%d: Connection refused" % refused_port
        self.assertTrue(r["refused"]["err"].endswith(why), r)
        self.assertTrue(r["refused_cb"]["err"].endswith(why), r)
        if r["timeout"]["code"] == 0:
            self.skipTest("the kernel accepted past a full backlog: no timeout to test here")
        self.assertEqual(r["timeout"]["code"], codes_["EDDY_ETIMEDOUT"], r)
        # Bad input: clear errors, never a crash.
        e = r["errors"]
        self.assertIn("unsupported option bind", e["unknown_option"])
        self.assertIn("timeout must be a number", e["bad_timeout"])
        self.assertIn("only works inside a coroutine", e["no_coroutine"])
        self.assertEqual(e["bad_port"], codes_["EDDY_EINVAL"])
        self.assertIn("a read is already pending", e["second_read"])
        self.assertIn("max_bytes must be an integer > 0", e["bad_max_bytes"])
        self.assertIn("data must be a string", e["bad_write"])
        self.assertIn("eddy: listen on 127.0.0.1:%s failed: address already in use"
                      % server_port, e["listen_in_use"])
        self.assertIn("port must be an integer in 0..65535", e["listen_bad_port"])
        self.assertIn("option backlog must be an integer > 0", e["listen_bad_option"])
        self.assertIn("handle_stream must be a function", e["server_not_function"])
        # A closed stream: reads return nil, ECLOSED; writes ECLOSED; closed() true.
        c = r["closed"]
        self.assertEqual((c["read_code"], c["write"], c["closed"], c["fileno"]),
                         (codes_["EDDY_ECLOSED"], codes_["EDDY_ECLOSED"], True, None), c)
        self.assertEqual(c["late_close_cb"], [None, 0], c)


if __name__ == "__main__":
    main()
