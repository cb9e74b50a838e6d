"""TLS options of Tornado's API on eddy, and the same code on python3-tornado: HTTPServer /
Application.listen(ssl_options=...), and the clients' HTTPRequest(validate_cert=, ca_certs=,
client_cert=, client_key=, ssl_options=) for AsyncHTTPClient.fetch over https:// and for
websocket_connect over wss://. Certificates come from the openssl command line at test time
(tests/integration/tls_certs.py: a CA, a server certificate for 127.0.0.1 signed by it, one for
another host name, a client certificate, and a self-signed one)."""

import hashlib
import os
import ssl
import sys
import tempfile
import unittest

import impl_pair
import support

import eddy.httpclient
import eddy.web
import eddy.websocket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import tls_certs  # noqa: E402


def cert_digest(der):
    return hashlib.sha256(der).hexdigest()[:16]


def make_app(web, websocket):
    class Hello(web.RequestHandler):
        def get(self):
            self.write("hello over " + self.request.protocol)
            der = self.request.get_ssl_certificate(binary_form=True)
            if der:  # the client's certificate, both forms (mutual TLS)
                subject = dict(pair[0] for pair in self.request.get_ssl_certificate()["subject"])
                self.write(" from %s %s" % (subject["commonName"], cert_digest(der)))

    class Echo(websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message("echo " + message)

    return web.Application([(r"/", Hello), (r"/ws", Echo)])


class Impl:
    """One implementation's modules, servers and a way to run its client code."""

    def __init__(self, name):
        self.name = name
        self.web, self.websocket, self.httpclient = impl_pair.modules(name)
        self.servers = {}

    def serve(self, key, ssl_options):
        self.servers[key] = impl_pair.serve(self.name, lambda: make_app(self.web, self.websocket),
                                            ssl_options=ssl_options)

    def stop(self):
        for server in self.servers.values():
            server.stop()

    def run(self, make_coro):
        return impl_pair.run(self.name, make_coro)

    def fetch(self, server, **tls):
        port = self.servers[server].port
        request = self.httpclient.HTTPRequest("https://127.0.0.1:%d/" % port, **tls)

        async def go():
            client = self.httpclient.AsyncHTTPClient()
            try:
                response = await client.fetch(request)
            finally:
                if self.name == "eddy":
                    client.close()
            return response.body.decode()
        return self.run(go)

    def fetch_with_defaults(self, server, defaults, by_url=False, **tls):
        """fetch through a client made with AsyncHTTPClient(defaults=...)."""
        url = "https://127.0.0.1:%d/" % self.servers[server].port
        request = url if by_url else self.httpclient.HTTPRequest(url, **tls)

        async def go():
            client = self.httpclient.AsyncHTTPClient(force_instance=True, defaults=defaults)
            try:
                response = await client.fetch(request)
            finally:
                client.close()
            return response.body.decode()
        return self.run(go)

    def ws(self, server, **tls):
        port = self.servers[server].port
        request = self.httpclient.HTTPRequest("wss://127.0.0.1:%d/ws" % port, **tls)

        async def go():
            conn = await self.websocket.websocket_connect(request)
            conn.write_message("hi")
            reply = await conn.read_message()
            conn.close()
            await conn.read_message()  # None once the close handshake completed
            return reply
        return self.run(go)


def is_tls_refusal(outcome):
    """A connection refused by TLS: ssl.SSLError (websocket_connect on both; Tornado's fetch),
    HTTPClientError 599 (eddy's fetch: every network failure), or the stream closing under the
    client (a server refusing the client's certificate after a TLS 1.3 handshake)."""
    kind, value = outcome
    if kind != "error":
        return False
    if isinstance(value, (ssl.SSLError, ConnectionError)):
        return True
    if getattr(value, "code", None) == 599:
        return True
    return type(value).__name__ == "StreamClosedError"


class TlsOptionsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = c = tls_certs.make_certs(cls.tmp.name)
        cls.impls = [Impl(name) for name in impl_pair.NAMES]
        for impl in cls.impls:
            # A dict as Tornado documents it; the mutual-TLS one requires a client certificate.
            impl.serve("ca", {"certfile": c["server.crt"], "keyfile": c["server.key"]})
            impl.serve("other", {"certfile": c["other.crt"], "keyfile": c["other.key"]})
            impl.serve("self", {"certfile": c["self.crt"], "keyfile": c["self.key"]})
            impl.serve("mutual", {"certfile": c["server.crt"], "keyfile": c["server.key"],
                                  "cert_reqs": ssl.CERT_REQUIRED, "ca_certs": c["ca.crt"]})

    @classmethod
    def tearDownClass(cls):
        for impl in cls.impls:
            impl.stop()
        cls.tmp.cleanup()

    def each(self, check):
        for impl in self.impls:
            with self.subTest(impl=impl.name):
                check(impl)

    def client_cert(self):
        return {"client_cert": self.certs["client.crt"], "client_key": self.certs["client.key"]}

    # ---- https:// with AsyncHTTPClient.fetch ----
    def test_fetch_refuses_an_unknown_ca_by_default(self):
        def check(impl):
            outcome = impl.fetch("ca")
            self.assertTrue(is_tls_refusal(outcome), outcome)
        self.each(check)

    def test_fetch_trusts_ca_certs(self):
        def check(impl):
            self.assertEqual(impl.fetch("ca", ca_certs=self.certs["ca.crt"]),
                             ("ok", "hello over https"))
            # ca_certs does not turn off the host-name check: other.crt names other.test.
            self.assertTrue(is_tls_refusal(impl.fetch("other", ca_certs=self.certs["ca.crt"])))
        self.each(check)

    def test_fetch_validate_cert_false_checks_neither_chain_nor_host(self):
        def check(impl):
            self.assertEqual(impl.fetch("self", validate_cert=False), ("ok", "hello over https"))
            self.assertEqual(impl.fetch("other", validate_cert=False), ("ok", "hello over https"))
        self.each(check)

    def test_fetch_client_defaults(self):
        # AsyncHTTPClient(defaults=...) fills what a request leaves unset, by URL or HTTPRequest
        # (AsyncHTTPSTestCase relies on it); what the request says itself wins.
        def check(impl):
            relaxed = dict(validate_cert=False)
            self.assertEqual(impl.fetch_with_defaults("self", relaxed, by_url=True),
                             ("ok", "hello over https"))
            self.assertEqual(impl.fetch_with_defaults("self", relaxed), ("ok", "hello over https"))
            self.assertTrue(is_tls_refusal(
                impl.fetch_with_defaults("self", relaxed, validate_cert=True)))
            self.assertTrue(is_tls_refusal(impl.fetch_with_defaults("self", {})))
        self.each(check)

    def test_fetch_mutual_tls(self):
        def check(impl):
            ca = self.certs["ca.crt"]
            self.assertTrue(is_tls_refusal(impl.fetch("mutual", ca_certs=ca)))
            # The handler sees the client's certificate: get_ssl_certificate(), both forms.
            self.assertEqual(impl.fetch("mutual", ca_certs=ca, **self.client_cert()),
                             ("ok", "hello over https from eddy test client " + self.client_digest()))
        self.each(check)

    def client_digest(self):
        with open(self.certs["client.crt"]) as f:
            return cert_digest(ssl.PEM_cert_to_DER_cert(f.read()))

    def test_fetch_ssl_options_dict(self):
        def check(impl):
            c = self.certs
            self.assertEqual(impl.fetch("mutual", ssl_options={
                "ca_certs": c["ca.crt"], "certfile": c["client.crt"], "keyfile": c["client.key"]}),
                ("ok", "hello over https from eddy test client " + self.client_digest()))
            self.assertEqual(impl.fetch("self", ssl_options={"cert_reqs": ssl.CERT_NONE}),
                             ("ok", "hello over https"))
            self.assertTrue(is_tls_refusal(impl.fetch("self", ssl_options={})))
        self.each(check)

    # ---- wss:// with websocket_connect(HTTPRequest(...)) ----
    def test_wss_refuses_an_unknown_ca_by_default(self):
        def check(impl):
            kind, error = impl.ws("ca")
            self.assertIsInstance(error, ssl.SSLError)
        self.each(check)

    def test_wss_trusts_ca_certs(self):
        def check(impl):
            self.assertEqual(impl.ws("ca", ca_certs=self.certs["ca.crt"]), ("ok", "echo hi"))
            self.assertTrue(is_tls_refusal(impl.ws("other", ca_certs=self.certs["ca.crt"])))
        self.each(check)

    def test_wss_validate_cert_false_checks_neither_chain_nor_host(self):
        def check(impl):
            self.assertEqual(impl.ws("self", validate_cert=False), ("ok", "echo hi"))
            self.assertEqual(impl.ws("other", validate_cert=False), ("ok", "echo hi"))
        self.each(check)

    def test_wss_mutual_tls(self):
        def check(impl):
            ca = self.certs["ca.crt"]
            # Refused after the TLS 1.3 handshake: how the client learns it varies (an alert
            # read as a reset, EOF or protocol error); what matters is that it fails.
            self.assertEqual(impl.ws("mutual", ca_certs=ca)[0], "error")
            self.assertEqual(impl.ws("mutual", ca_certs=ca, **self.client_cert()),
                             ("ok", "echo hi"))
        self.each(check)

    # ---- what eddy cannot map raises instead of being dropped ----
    def test_unmappable_options_raise(self):
        # Checked when the HTTPRequest is made (so also for websocket_connect), before any I/O.
        context = ssl.create_default_context()
        with self.assertRaises(TypeError) as caught:
            eddy.httpclient.HTTPRequest("https://127.0.0.1/", ssl_options=context)
        self.assertIn("SSLContext", str(caught.exception))
        with self.assertRaises(ValueError) as caught:
            eddy.httpclient.HTTPRequest("https://127.0.0.1/", ssl_options={"ciphers": "HIGH"})
        self.assertIn("ciphers", str(caught.exception))
        # A file that cannot be loaded fails the fetch / connect instead of being skipped.
        kind, error = self.impls[0].fetch("ca", ca_certs="/nonexistent/ca.pem")
        self.assertIsInstance(error, ValueError)
        kind, error = self.impls[0].ws("ca", client_cert="/nonexistent/client.pem")
        self.assertIsInstance(error, ValueError)
        with self.assertRaises(TypeError) as caught:
            support.ServerThread(lambda: make_app(eddy.web, eddy.websocket), ssl_options=context)
        self.assertIn("SSLContext", str(caught.exception))
        with self.assertRaises(ValueError):
            support.ServerThread(lambda: make_app(eddy.web, eddy.websocket),
                                 ssl_options={"certfile": self.certs["server.crt"],
                                              "keyfile": self.certs["server.key"],
                                              "ssl_version": ssl.PROTOCOL_TLS_SERVER})


if __name__ == "__main__":
    unittest.main()
