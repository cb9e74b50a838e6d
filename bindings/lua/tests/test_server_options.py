"""Lua binding, the HTTP server's options: Application:listen(port, host, opts) and the raw
server's listen take Tornado's HTTPServer keywords (tests/server_options.lua starts one server
per case). Over loopback sockets: xheaders believed from a trusted proxy only (and not at all
when off), 431 for the head's size and its field count, 408 and close for a head that never
ends, Connection: close with no_keep_alive, max_connections closing the idle connection, gzip
request bodies and the Server header, 503 and close for a body over max_body_memory, form
bodies left undecoded with body_arguments = false (400 for a malformed one by default), the
PROXY protocol on the raw server, and in front of TLS (the header, then the handshake, on one
socket); one application listening on plain HTTP and HTTPS, each listen a server with only its
own options; and every bad option table raising an error that names the option, at the
caller's line."""
import gzip
import http.client
import json
import os
import socket
import ssl
import sys
import tempfile
import unittest

from luatest import HERE, LuaServer, lua_binary, main

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import tls_certs  # noqa: E402
from raw_conn import RawHttpConnection as Conn  # noqa: E402

SERVER = os.path.join(HERE, "server_options.lua")


class ServerOptions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = certs = tls_certs.make_certs(cls.tmp.name)
        cls.abstract = "eddy-lua-test-%d" % os.getpid()
        cls.server = LuaServer(SERVER, "--cert", certs["server.crt"], "--key", certs["server.key"],
                               "--unix", cls.tmp.name, "--abstract", cls.abstract)
        line = cls.server.proc.stdout.readline()
        info = json.loads(line)
        cls.ports, cls.refused = info["ports"], info["refused"]
        cls.then_refused = info["then_refused"]

    @classmethod
    def tearDownClass(cls):
        err = cls.server.stop()
        cls.tmp.cleanup()
        assert "eddy-lua: error" not in err, err

    def exchange(self, name, raw):
        c = Conn(self.ports[name])
        try:
            c.send(raw)
            return c.response()
        finally:
            c.close()

    def get(self, name, path, headers=""):
        return self.exchange(name, "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, headers))

    def test_xheaders_from_a_trusted_proxy_only(self):
        self.assertEqual(self.get("trusting", "/ip", "X-Real-IP: 203.0.113.7\r\n")[2],
                         b"203.0.113.7 http")
        # X-Forwarded-For is read from the right, skipping the trusted proxies.
        self.assertEqual(self.get("trusting", "/ip", "X-Forwarded-For: 198.51.100.1, 127.0.0.1\r\n"
                                  "X-Forwarded-Proto: https\r\n")[2], b"198.51.100.1 https")
        self.assertEqual(self.get("trusting", "/ip")[2], b"127.0.0.1 http")
        # The peer (127.0.0.1) is not a trusted proxy: its headers are ignored.
        self.assertEqual(self.get("untrusted", "/ip", "X-Real-IP: 203.0.113.7\r\n"
                                  "X-Forwarded-Proto: https\r\n")[2], b"127.0.0.1 http")
        self.assertEqual(self.get("off", "/ip", "X-Real-IP: 203.0.113.7\r\n")[2], b"127.0.0.1 http")

    def test_protocol(self):
        # Every request's scheme (a proxy terminating TLS in front); a scheme the proxy names
        # (xheaders) still wins.
        self.assertEqual(self.get("https_proxy", "/ip")[2], b"127.0.0.1 https")
        self.assertEqual(self.get("https_proxy", "/ip", "X-Forwarded-Proto: http\r\n")[2],
                         b"127.0.0.1 http")

    def test_header_size_and_fields_give_431(self):
        self.assertEqual(self.get("limits", "/", "X-Big: %s\r\n" % ("a" * 2000))[0], 431)
        self.assertEqual(self.get("limits", "/", "X-Big: %s\r\n" % ("a" * 900))[2], b"ok")
        fields = lambda n: "".join("X-%d: v\r\n" % i for i in range(1, n))  # noqa: E731 (+ Host)
        self.assertEqual(self.get("limits", "/", fields(5))[2], b"ok")
        for name in ("limits", "raw"):
            c = Conn(self.ports[name])
            try:
                proxy = "PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\n" if name == "raw" else ""
                c.send(proxy + "GET / HTTP/1.1\r\nHost: t\r\n" + fields(6) + "\r\n")
                self.assertEqual(c.response()[0], 431, name)
                self.assertTrue(c.closed(), name)
            finally:
                c.close()

    def test_header_timeout_gives_408_and_closes(self):
        c = Conn(self.ports["timeout"])
        try:
            c.send("GET / HTTP/1.1\r\nHost: t\r\n")  # the head never ends
            self.assertEqual(c.response()[0], 408)
            self.assertTrue(c.closed())
        finally:
            c.close()
        self.assertEqual(self.get("timeout", "/")[2], b"ok")

    def test_max_body_memory_gives_503_and_closes(self):
        # Its Content-Length does not fit in the bodies' budget: 503 and close, without waiting
        # for the body.
        c = Conn(self.ports["body_memory"])
        try:
            c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n"
                   "Expect: 100-continue\r\n\r\n")
            self.assertEqual(c.response()[0], 503)
            self.assertTrue(c.closed())
        finally:
            c.close()
        # One that fits is served.
        status, _, data = self.exchange("body_memory", b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                                        b"Content-Length: 50000\r\n\r\n" + b"a" * 50000)
        self.assertEqual((status, data), (200, b"-:" + b"a" * 50000))

    def test_no_keep_alive(self):
        c = Conn(self.ports["no_keep_alive"])
        try:
            c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            status, resp, body = c.response()
            self.assertEqual((status, body), (200, b"ok"))
            self.assertEqual(resp.getheader("Connection"), "close")
            self.assertTrue(c.closed())
        finally:
            c.close()

    def test_max_connections_closes_the_idle_one(self):
        first = Conn(self.ports["max_connections"])
        try:
            first.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(first.response()[2], b"ok")
            self.assertEqual(self.get("max_connections", "/")[2], b"ok")
            self.assertTrue(first.closed())
        finally:
            first.close()

    def test_decompress_request_and_server_header(self):
        body = gzip.compress(b"hello, decompressed")
        status, resp, data = self.exchange("misc", (
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            % len(body)).encode() + body)
        self.assertEqual((status, data), (200, b"gzip:hello, decompressed"))
        self.assertEqual(resp.getheader("Server"), "test-server/1")

    def test_body_arguments(self):
        def post(name, ctype, body):
            return self.exchange(name, "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\n"
                                 "Content-Length: %d\r\n\r\n%s" % (ctype, len(body), body))
        # false: form bodies are not decoded; each request reaches the handler, body unchanged.
        status, _, data = post("no_body_arguments", "multipart/form-data", "not multipart")
        self.assertEqual((status, data), (200, b"-:not multipart"))
        status, _, data = post("no_body_arguments", "application/x-www-form-urlencoded", "a=1")
        self.assertEqual((status, data), (200, b"-:a=1"))
        # The default (true, as Tornado): decoded, and a body that cannot be gets 400.
        self.assertEqual(post("off", "multipart/form-data", "not multipart")[0], 400)
        status, _, data = post("off", "application/x-www-form-urlencoded", "a=1")
        self.assertEqual((status, data), (200, b"1:a=1"))

    def test_raw_server_proxy_protocol_without_server_header(self):
        status, resp, data = self.exchange(
            "raw", "PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual((status, data), (200, b"203.0.113.9"))
        self.assertIsNone(resp.getheader("Server"))
        c = Conn(self.ports["raw"])  # no PROXY header: closed unanswered
        try:
            c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertTrue(c.closed())
        finally:
            c.close()

    def test_a_refused_listen_leaves_the_server_as_it_was(self):
        # None of the options before the refused one was set: the later listen without options
        # serves plain HTTP without a PROXY header, ignores X-Real-IP, sends the default Server
        # header and takes a 2000-byte header.
        status, resp, data = self.get("after_refused", "/ip", "X-Real-IP: 203.0.113.7\r\n")
        self.assertEqual((status, data), (200, b"127.0.0.1 http"))
        self.assertTrue(resp.getheader("Server").startswith("eddy/"), resp.getheader("Server"))
        self.assertEqual(self.get("after_refused", "/", "X-Big: %s\r\n" % ("a" * 2000))[2], b"ok")
        # No trusted proxy was added: with xheaders, the peer's X-Real-IP is believed.
        self.assertEqual(self.get("after_refused_trusted", "/ip", "X-Real-IP: 203.0.113.7\r\n")[2],
                         b"203.0.113.7 http")
        # Each refused call named its option.
        for key, option in (("xheaders", "protocol"), ("proxy", "protocol"),
                            ("tls", "protocol"), ("header_size", "header_timeout"),
                            ("server_header", "protocol"), ("trusted", "max_header_size"),
                            ("trusted_nul", "trusted_downstream")):
            self.assertIn("listen option " + option, self.then_refused[key], key)

    def https_get(self, name, method="GET", path="/ip", body=None, headers=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", self.ports[name], timeout=10, context=ctx)
        try:
            conn.request(method, path, body, headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Server"), resp.read()
        finally:
            conn.close()

    def post_echo(self, name, size):
        return self.exchange(name, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                             % (size, "x" * size))

    def test_each_listen_of_an_application_has_its_own_server(self):
        # One application, three listens: the same routes on each, every server with only its
        # own options. The HTTPS one: its Server header and 413 over 10 bytes; X-Real-IP ignored
        # (the third listen's xheaders are not carried back).
        status, server, data = self.https_get("two_https", headers={"X-Real-IP": "203.0.113.7"})
        self.assertEqual((status, server, data), (200, "tls/1", b"127.0.0.1 https"))
        self.assertEqual(self.https_get("two_https", "POST", "/echo", b"x" * 10)[::2],
                         (200, b"-:" + b"x" * 10))
        self.assertEqual(self.https_get("two_https", "POST", "/echo", b"x" * 11)[0], 413)
        # The first (the application's default server): plain HTTP, the default Server header,
        # an 11-byte body, X-Real-IP ignored: nothing of the later listens reached it.
        self.assertEqual(self.ports["default_server_port"], self.ports["two_plain"])
        for name in ("two_plain", "two_xheaders"):
            status, resp, data = self.post_echo(name, 11)
            self.assertEqual((status, data), (200, b"-:" + b"x" * 11), name)
            self.assertTrue(resp.getheader("Server").startswith("eddy/"), (name, resp.getheader("Server")))
        self.assertEqual(self.get("two_plain", "/ip", "X-Real-IP: 203.0.113.7\r\n")[2], b"127.0.0.1 http")
        # The third: its own xheaders, plain HTTP (the second's TLS not carried forward).
        self.assertEqual(self.get("two_xheaders", "/ip", "X-Real-IP: 203.0.113.7\r\n")[2],
                         b"203.0.113.7 http")
        # A listen refused for its certificate files: the next one serves plain HTTP with the
        # default Server header (nothing of the refused call applied).
        self.assertIn("ssl_options: certfile/keyfile", self.then_refused["bad_cert"])
        for name in ("bad_cert_first", "bad_cert_then"):
            status, resp, data = self.get(name, "/ip")
            self.assertEqual((status, data), (200, b"127.0.0.1 http"), name)
            self.assertTrue(resp.getheader("Server").startswith("eddy/"), (name, resp.getheader("Server")))

    def proxied_https_get(self, name, proxy=b"PROXY TCP4 10.9.8.7 127.0.0.1 5555 443\r\n"):
        # As a proxy passing TLS through (HAProxy mode tcp + send-proxy) does it: the PROXY
        # header on the TCP socket, then the client's TLS handshake on the same socket. Host:
        # localhost, the certificate's name (another host gets 421).
        context = ssl.create_default_context(cafile=self.certs["ca.crt"])
        with socket.create_connection(("127.0.0.1", self.ports[name]), timeout=10) as raw:
            raw.sendall(proxy)
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /ip HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                resp = http.client.HTTPResponse(tls)
                resp.begin()
                return resp.status, resp.getheader("Server"), resp.read()

    def test_proxy_protocol_in_front_of_tls(self):
        # ssl_options and proxy_protocol = true in one listen, on an application and on a raw
        # server, or over two listens of a raw server (in either order): the PROXY header's
        # address is the request's, its scheme https.
        for name in ("proxy_tls", "raw_proxy_tls", "tls_after_proxy", "proxy_after_tls"):
            self.assertNotIn(name, self.then_refused, name)
            status, server, data = self.proxied_https_get(name)
            self.assertEqual((status, data), (200, b"10.9.8.7 https"), name)
            # The options given with the combination are applied too.
            if name in ("proxy_tls", "proxy_after_tls"):
                self.assertEqual(server, "pt/1" if name == "proxy_tls" else "edge/3", name)
            # A TLS client that sends no PROXY header first is closed before its handshake (not
            # left waiting: a timeout fails).
            try:
                self.https_get(name)
            except OSError as e:
                self.assertNotIsInstance(e, socket.timeout, name)
            else:
                self.fail("%s: served HTTPS without a PROXY header" % name)
        # A PROXY v2 header (TCP over IPv4, 10.9.8.6 -> 127.0.0.1) in front of the handshake.
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11\x00\x0c"
              + socket.inet_aton("10.9.8.6") + socket.inet_aton("127.0.0.1")
              + (5555).to_bytes(2, "big") + (443).to_bytes(2, "big"))
        self.assertEqual(self.proxied_https_get("proxy_tls", v2)[::2], (200, b"10.9.8.6 https"))

    def test_tls_then_proxy_protocol_false(self):
        # ssl_options with proxy_protocol = false after a listen of a raw server that turned the
        # PROXY protocol on: TLS without PROXY headers.
        self.assertNotIn("tls_proxy_off", self.then_refused)
        status, _, data = self.https_get("tls_proxy_off")
        self.assertEqual((status, data), (200, b"127.0.0.1 https"))

    def test_bad_port_or_host_is_refused(self):
        for name, text in (("fractional_port", "port must be an integer in 0..65535, not 1.5"),
                           ("string_port", 'port must be an integer in 0..65535, not "80"'),
                           ("big_port", "port must be an integer in 0..65535, not 70000"),
                           ("number_host", "host must be a string without NUL or nil, not 127")):
            for key in (name, "raw_" + name):
                self.assertIn("eddy: listen: " + text, self.refused[key], key)

    def test_bad_options_raise_naming_the_option(self):
        expected = {
            "unknown": "unsupported listen option max_header_sise",
            "header_size": "listen option max_header_size = 10 refused: ",
            "header_fields": "listen option max_header_fields = 0 refused: ",
            "negative_body": "listen option max_body_size must be a non-negative integer",
            "negative_body_memory": "listen option max_body_memory must be a non-negative integer",
            "fractional_connections": "listen option max_connections must be a non-negative integer",
            "header_timeout": "listen option header_timeout = -1 refused: ",
            "body_timeout": "listen option body_timeout = -0.5 refused: ",
            "min_rate": "listen option body_min_rate = -1 refused: ",
            "min_rate_inf": "listen option body_min_rate = inf refused: ",
            "min_rate_grace": "listen option body_min_rate_grace = ",
            "idle_timeout": "listen option idle_connection_timeout = -1 refused: ",
            "nan_timeout": "listen option header_timeout = ",
            "xheaders_type": "listen option xheaders must be a boolean",
            "body_arguments_type": "listen option body_arguments must be a boolean",
            "trusted": "listen option trusted_downstream: \"not-an-ip\" refused",
            "trusted_type": "listen option trusted_downstream must be a table",
            "trusted_map": "listen option trusted_downstream must be a list of addresses",
            "trusted_entry": "listen option trusted_downstream[2] must be a string, not 10",
            "server_header": "listen option server_header = ",
            "server_header_true": "listen option server_header must be a string or false",
            "not_a_table": "listen options must be a table",
            "protocol": "listen option protocol = \"ftp\" refused: ",
        }
        for name, text in expected.items():
            for key in (name, "raw_" + name):
                self.assertIn(text, self.refused[key], key)
        self.assertIn("refused: " + "invalid argument", self.refused["header_size"].lower())
        # Called from a Lua function (not straight from pcall), the error has the caller's line.
        self.assertRegex(self.refused["where"], r"server_options\.lua:\d+: eddy: unsupported listen option nope")

    def unix_get(self, address):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(address)
            s.sendall(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data.decode("latin-1")
                data += chunk
        finally:
            s.close()

    def test_listen_unix(self):
        # Application:listen_unix (Tornado: bind_unix_socket handed to an HTTPServer): the
        # file's mode is 0600 by default, as Tornado's, or the mode given; the listen's server
        # options apply; "@name" is an abstract socket. (A Lua application could not listen on
        # a Unix socket.)
        import stat
        app_sock = os.path.join(self.tmp.name, "app.sock")
        group_sock = os.path.join(self.tmp.name, "group.sock")
        self.assertEqual(stat.S_IMODE(os.stat(app_sock).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(group_sock).st_mode), 0o660)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "bad.sock")))
        for address in (app_sock, group_sock, "\0" + self.abstract):
            reply = self.unix_get(address)
            self.assertTrue(reply.startswith("HTTP/1.1 200 OK\r\n"), (address, reply))
            self.assertTrue(reply.endswith("\r\n\r\nok"), (address, reply))
        self.assertIn("Server: unix/1\r\n", self.unix_get(group_sock))
        self.assertNotIn("Server: unix/1\r\n", self.unix_get(app_sock))
        self.assertIn("address already in use", self.refused["unix_in_use"].lower())
        self.assertIn("listen_unix: path must be", self.refused["unix_empty"])
        self.assertIn("listen_unix: mode must be", self.refused["unix_mode"])
        self.assertIn("listen_unix: mode must be", self.refused["unix_mode_type"])
        self.assertIn("unsupported listen option nope", self.refused["unix_option"])


class TrustedUnixProxy(unittest.TestCase):
    def test_unix_is_a_trusted_downstream(self):
        # "unix:" trusts peers on a Unix socket (eddy_server_add_trusted_proxy, nginx's
        # set_real_ip_from unix:); it was refused as not a numeric address.
        import subprocess
        proc = subprocess.run([lua_binary(), "-e", """
            local eddy = require("eddy")
            local app = eddy.Application({ { "/", { get = function(self) end } } })
            app:listen(0, "127.0.0.1", { xheaders = true, trusted_downstream = { "10.0.0.1", "unix:" } })
            print(pcall(app.listen, app, 0, "127.0.0.1", { trusted_downstream = { "unix" } }))"""],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("false"), proc.stdout)
        self.assertIn('"unix" refused', proc.stdout)


if __name__ == "__main__":
    main()
