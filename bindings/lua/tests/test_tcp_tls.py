"""Lua binding, raw TCP over TLS, with the certificates the other Lua TLS tests use
(tests/integration/tls_certs.py): eddy.TCPClient's ssl_options (tests/tcp_tls_client.lua)
against Python ssl echo servers and against Lua TCPServers with ssl_options
(tests/tcp_server.lua), and Python's ssl client against a Lua TLS TCPServer. Checked: a
trusted certificate connects (ca_certs); a self-signed one is refused by default (EDDY_ETLS on
the first read) and accepted with cert_reqs = "none" or its own certificate as ca_certs; a
certificate for another name is refused unless server_hostname names it; a server requiring a
client certificate refuses a client without and accepts certfile/keyfile; bad options are
errors naming them; plain bytes sent to a TLS server close only that connection."""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

from luatest import HERE, lua_binary, main, named_results
from tcp_events import WAIT, EventScript, recv_line, recv_until_closed

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import tls_certs  # noqa: E402

SERVER = os.path.join(HERE, "tcp_server.lua")
CLIENT = os.path.join(HERE, "tcp_tls_client.lua")


class PyTLSEcho:
    """A Python TLS server on 127.0.0.1 echoing each line until the client closes."""

    def __init__(self, cert, key, client_ca=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if client_ca:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(client_ca)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    def echo(self, conn):
        conn.settimeout(WAIT)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                f = tls.makefile("rb")
                for line in f:
                    tls.sendall(line)
        except (ssl.SSLError, OSError):
            pass  # a refused handshake: the client reports it

    def stop(self):
        self.running = False
        self.thread.join(timeout=WAIT)
        self.sock.close()


def run_client(certs, ports):
    proc = subprocess.run([lua_binary(), CLIENT, "--certs", certs,
                           *[a for name, port in ports.items() for a in ("--" + name, str(port))]],
                          capture_output=True, text=True, timeout=45)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return named_results(proc.stdout.splitlines())


class TCPClientTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        tls_certs.make_certs(cls.dir)
        cls.codes = {}
        proc = subprocess.run([lua_binary(), "-e", """
            local core = require("eddy.core")
            print(math.tointeger(core.EDDY_ETLS), math.tointeger(core.EDDY_EINVAL))"""],
                              capture_output=True, text=True, timeout=20, check=True)
        cls.etls, cls.einval = map(int, proc.stdout.split())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def c(self, name):
        return os.path.join(self.dir, name)

    def check_client(self, r, server_kind):
        ok = lambda name: (r[name]["ok"], r[name].get("echo"), r[name].get("tls"))  # noqa: E731
        for name in ("trusted", "self_unverified", "self_trusted", "other_sni", "mutual_with"):
            self.assertEqual(ok(name), (True, "ping\n", True), (server_kind, name, r[name]))
        # Refused certificates: the handshake fails after the connect, so the first read
        # reports EDDY_ETLS.
        for name in ("default_self", "other_name"):
            self.assertEqual((r[name]["ok"], r[name]["stage"], r[name]["code"]),
                             (False, "read", self.etls), (server_kind, name, r[name]))
        # No client certificate: the server ends the handshake (TLS 1.3: after the client
        # finished its part, so the alert may come as a reset): no answer either way.
        self.assertFalse(r["mutual_without"]["ok"], r["mutual_without"])
        self.assertEqual(r["mutual_without"]["stage"], "read")
        # An unreadable file: the connect fails at once, naming the option.
        self.assertEqual((r["bad_ca"]["ok"], r["bad_ca"]["code"]), (False, self.einval), r["bad_ca"])
        self.assertIn("ssl_options.ca_certs " + self.c("missing.pem"), r["bad_ca"]["err"])
        self.assertIn("unsupported ssl_options field verify", r["unknown_field"]["err"])
        self.assertIn('cert_reqs must be "none" or "required"', r["bad_reqs"]["err"])
        if server_kind == "lua":  # tcp_server.lua's greeting: the server side is TLS too
            first = r["trusted"]["first"].split()
            self.assertEqual((first[0], first[1], first[3]), ("hello", "127.0.0.1", "tls"), r)
        e = r["server_errors"]
        self.assertIn("eddy: ssl_options: certfile/keyfile: invalid argument", e["missing_cert"])
        self.assertIn("certfile (a PEM file name) is required", e["no_certfile"])
        self.assertIn("cert_reqs", e["bad_reqs"])
        self.assertIn("option ssl_options must be a table", e["bad_type"])
        self.assertIn("unsupported option ssl_options (give ssl_options to eddy.TCPServer",
                      e["in_listen"])

    def test_client_against_python_servers(self):
        servers = {
            "trusted": PyTLSEcho(self.c("server.crt"), self.c("server.key")),
            "self": PyTLSEcho(self.c("self.crt"), self.c("self.key")),
            "other": PyTLSEcho(self.c("other.crt"), self.c("other.key")),
            "mutual": PyTLSEcho(self.c("server.crt"), self.c("server.key"), self.c("ca.crt")),
        }
        try:
            r = run_client(self.dir, {k: s.port for k, s in servers.items()})
        finally:
            for s in servers.values():
                s.stop()
        self.check_client(r, "python")


    def lua_server(self, cert, client_ca=None):
        args = ["--port", "0", "--cert", self.c(cert + ".crt"), "--key", self.c(cert + ".key")]
        if client_ca:
            args += ["--client-ca", self.c(client_ca)]
        return EventScript(SERVER, *args, headers=("listening", "stoppable"))

    def test_client_against_lua_servers(self):
        servers = {"trusted": self.lua_server("server"), "self": self.lua_server("self"),
                   "other": self.lua_server("other"),
                   "mutual": self.lua_server("server", client_ca="ca.crt")}
        try:
            r = run_client(self.dir, {k: s.header["listening"] for k, s in servers.items()})
        finally:
            for s in servers.values():
                s.stop()
        self.check_client(r, "lua")

    def test_python_client_and_plain_bytes(self):
        server = self.lua_server("server")
        port = int(server.header["listening"])
        try:
            ctx = ssl.create_default_context(cafile=self.c("ca.crt"))
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=WAIT),
                                 server_hostname="127.0.0.1") as tls:
                tls.sendall(b"echo\n")
                hello = recv_line(tls).split()
                self.assertEqual((hello[0], hello[3]), (b"hello", b"tls"))
                tls.sendall(b"over tls\n")
                self.assertEqual(recv_line(tls), b"over tls\n")
            # Plain bytes to the TLS port: that handshake fails and only that connection closes.
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as plain:
                plain.sendall(b"echo\nnot tls\n")
                data, _ = recv_until_closed(plain)
                self.assertNotIn(b"not tls", data)
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=WAIT),
                                 server_hostname="127.0.0.1") as tls:
                tls.sendall(b"echo\nstill\n")
                recv_line(tls)
                self.assertEqual(recv_line(tls), b"still\n")
            # The server's second (plain) TCPServer in the same process is unaffected.
            with socket.create_connection(("127.0.0.1", int(server.header["stoppable"])),
                                          timeout=WAIT) as sock:
                self.assertTrue(recv_line(sock).startswith(b"stopped "))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
