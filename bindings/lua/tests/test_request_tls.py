"""Lua binding, a request's TLS facts: tests/request_tls_server.lua serves the same routes over
HTTPS (asking for an optional client certificate signed by the test CA) and plain HTTP, and
reports what Handler:tls_server_name() and Handler:get_ssl_certificate() returned. Python's ssl
module is the client, over real loopback connections with certificates the openssl command
line makes at test time. Checked: plain HTTP has neither; the SNI name is the one the client
sent and none for a connection to an IP address (no SNI); without a client certificate the
answer is nil + EDDY_ENOENT, with one it is byte for byte the certificate's DER; once the
connection is gone it is nil + EDDY_ECLOSED; the dict form (binary_form = false) is refused.
The raw server (eddy.HTTPServer) reads the same through eddy.core."""
import http.client
import json
import os
import socket
import ssl
import sys
import tempfile
import unittest

from luatest import HERE, LuaServer, main

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import tls_certs  # noqa: E402  (CA, server, client certificates)

SERVER = os.path.join(HERE, "request_tls_server.lua")


class RequestTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = tls_certs.make_certs(cls.tmp.name)
        c = cls.certs
        cls.server = LuaServer(SERVER, "--cert", c["server.crt"], "--key", c["server.key"],
                               "--client-ca", c["ca.crt"])
        cls.plain_port = int(cls.server.proc.stdout.readline().split()[1])  # "plain <port>"
        cls.raw_port = int(cls.server.proc.stdout.readline().split()[1])  # "raw <port>"

    @classmethod
    def tearDownClass(cls):
        err = cls.server.stop()
        cls.tmp.cleanup()
        assert "eddy-lua: error" not in err, err

    def context(self, with_cert):
        ctx = ssl.create_default_context(cafile=self.certs["ca.crt"])
        if with_cert:
            ctx.load_cert_chain(self.certs["client.crt"], self.certs["client.key"])
        return ctx

    def tls_socket(self, name, with_cert, port=None):
        """A TLS connection to the server's loopback port that sends `name` as SNI (Python
        sends none for an IP address) and checks the certificate against it."""
        sock = socket.create_connection(("127.0.0.1", port or self.server.port), timeout=10)
        return self.context(with_cert).wrap_socket(sock, server_hostname=name)

    def get(self, path, name="localhost", with_cert=False, port=None):
        port = port or self.server.port
        conn = http.client.HTTPConnection(name, port, timeout=10)
        # With sock set, http.client does not connect again.
        conn.sock = self.tls_socket(name, with_cert, port)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            self.assertEqual(resp.status, 200, body)
            return json.loads(body)
        finally:
            conn.close()

    def client_der(self):
        with open(self.certs["client.crt"]) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def assert_refuses_dict_form(self, facts):
        self.assertIn("gives the DER form only", facts["dict_form"])

    def test_plain_http_has_neither(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.plain_port, timeout=10)
        try:
            conn.request("GET", "/who")
            facts = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        self.assertEqual((facts["sni"], facts["cert"], facts["code"]), (None, None, "EDDY_ENOENT"))

    def test_server_name_is_the_sni_sent(self):
        facts = self.get("/who", "localhost")
        self.assertEqual((facts["sni"], facts["cert"], facts["code"]),
                         ("localhost", None, "EDDY_ENOENT"))
        self.assert_refuses_dict_form(facts)
        facts = self.get("/who", "127.0.0.1")  # an IP address: no SNI
        self.assertEqual((facts["sni"], facts["cert"], facts["code"]), (None, None, "EDDY_ENOENT"))

    def test_client_certificate_is_its_der(self):
        facts = self.get("/who", "localhost", with_cert=True)
        self.assertEqual(facts["sni"], "localhost")
        self.assertEqual(facts["code"], None)
        self.assertEqual(bytes.fromhex(facts["cert"]), self.client_der())
        self.assert_refuses_dict_form(facts)

    def test_raw_server_reads_the_same(self):
        facts = self.get("/", "localhost", with_cert=True, port=self.raw_port)
        self.assertEqual((facts["sni"], facts["code"]), ("localhost", None))
        self.assertEqual(bytes.fromhex(facts["cert"]), self.client_der())
        facts = self.get("/", "127.0.0.1", port=self.raw_port)
        self.assertEqual((facts["sni"], facts["cert"], facts["code"]), (None, None, "EDDY_ENOENT"))

    def test_nothing_once_the_connection_is_gone(self):
        with self.tls_socket("localhost", with_cert=True) as tls:
            tls.sendall(b"GET /late HTTP/1.1\r\nHost: localhost\r\n\r\n")
        # /late reads its facts when it sees the close; /late_result waits for them.
        facts = self.get("/late_result")
        self.assertEqual((facts["sni"], facts["cert"], facts["code"]), (None, None, "EDDY_ECLOSED"))


if __name__ == "__main__":
    main()
