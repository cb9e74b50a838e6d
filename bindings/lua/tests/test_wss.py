"""Lua binding over TLS: tests/wss_server.lua serves HTTPS and wss:// (Application:listen and
the raw HTTPServer's listen with ssl_options) and tests/wss_client.lua connects with
eddy.websocket_connect's TLS options, all with certificates the openssl command line makes at
test time. Checked: a self-signed server is refused by default (EDDY_ETLS), accepted with
ca_certs pointing at its certificate or with validate_cert=false; a trusted certificate for
another host name is refused (host-name check); a server that requires a client certificate
accepts client_cert/client_key and refuses a client without; bad options are named in the
error; Python's ssl client sees the Lua servers' certificate and the "https" scheme."""
import os
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.request

from luatest import HERE, LuaServer, lua_binary, main, named_results

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import tls_certs  # noqa: E402  (CA, server, other-name, client and self-signed certificates)

SERVER = os.path.join(HERE, "wss_server.lua")


class Wss(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        tls_certs.make_certs(cls.dir)
        c = lambda name: os.path.join(cls.dir, name)  # noqa: E731
        cls.servers = []
        cls.self_signed = cls.start("--cert", c("self.crt"), "--key", c("self.key"))
        cls.other = cls.start("--cert", c("other.crt"), "--key", c("other.key"))
        cls.mutual = cls.start("--cert", c("server.crt"), "--key", c("server.key"),
                               "--client-ca", c("ca.crt"))

    @classmethod
    def start(cls, *args):
        server = LuaServer(SERVER, *args)
        cls.servers.append(server)
        server.raw_port = int(server.proc.stdout.readline().split()[1])  # "raw <port>"
        return server

    @classmethod
    def tearDownClass(cls):
        cls.errors = [s.stop() for s in cls.servers]
        cls.tmp.cleanup()

    def url(self, server):
        return "wss://127.0.0.1:%d/ws" % server.port

    def test_python_sees_an_https_server(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "self.crt"))
        with urllib.request.urlopen("https://127.0.0.1:%d/scheme" % self.self_signed.port,
                                    context=ctx, timeout=10) as resp:
            self.assertEqual(resp.read(), b"https")
        with urllib.request.urlopen("https://127.0.0.1:%d/" % self.self_signed.raw_port,
                                    context=ctx, timeout=10) as resp:
            self.assertEqual(resp.read(), b"raw https")
        # Without trusting it, Python's verification refuses the certificate too.
        with self.assertRaises(urllib.error.URLError) as cm:
            urllib.request.urlopen("https://127.0.0.1:%d/scheme" % self.self_signed.port,
                                   context=ssl.create_default_context(), timeout=10)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)

    def test_client_tls_options(self):
        proc = subprocess.run([lua_binary(), os.path.join(HERE, "wss_client.lua"),
                               "--self", self.url(self.self_signed), "--other", self.url(self.other),
                               "--mutual", self.url(self.mutual), "--certs", self.dir],
                              capture_output=True, text=True, timeout=45)
        lines = proc.stdout.splitlines()
        self.assertTrue(proc.returncode == 0 and lines and lines[-1] == "done",
                        (proc.returncode, proc.stdout, proc.stderr))
        r = named_results(lines[:-1])
        etls, einval = r["codes"]["etls"], r["codes"]["einval"]

        def connected(name):
            self.assertTrue(r[name]["ok"], (name, r[name]))
            self.assertEqual(r[name]["greeting"], "open scheme=https", name)
            self.assertEqual(r[name]["echo"], "over tls", name)

        def refused(name, code):
            self.assertFalse(r[name]["ok"], (name, r[name]))
            self.assertEqual(r[name]["code"], code, (name, r[name]))

        connected("trusted")
        # Verification is on by default: an unknown self-signed certificate is a TLS failure
        # with a message that says so.
        refused("default", etls)
        self.assertIn("certificate verification failed", r["default"]["err"])
        self.assertIn("give its CA in ca_certs", r["default"]["err"])
        # eddy's detail (eddy_websocket_connect_error_detail) comes fourth and ends the message.
        self.assertEqual(r["default"]["detail"], "certificate verification: self-signed certificate")
        self.assertIn(": certificate verification: self-signed certificate; to trust",
                      r["default"]["err"])
        refused("validate_true", etls)
        connected("no_validate")
        refused("wrong_host", etls)  # the chain is trusted; the name is not 127.0.0.1
        self.assertEqual(r["wrong_host"]["detail"], "certificate verification: IP address mismatch")
        self.assertNotIn("detail", r["missing_ca"])  # refused by eddy_websocket_connect itself
        connected("wrong_host_no_validate")
        self.assertFalse(r["no_client_cert"]["ok"], r["no_client_cert"])
        connected("client_cert")

        refused("missing_ca", einval)
        self.assertIn("ca_certs " + os.path.join(self.dir, "missing.pem"), r["missing_ca"]["err"])
        refused("key_without_cert", einval)
        self.assertTrue(r["key_without_cert"]["err"].startswith("client_key"), r["key_without_cert"])
        refused("not_a_string", einval)
        self.assertTrue(r["not_a_string"]["err"].startswith("ca_certs"), r["not_a_string"])
        refused("bad_client_cert", einval)
        self.assertTrue(r["bad_client_cert"]["err"].startswith("client_cert"), r["bad_client_cert"])

        self.assertEqual(r["callback"]["greeting"], "open scheme=https")
        errors = r["listen_errors"]["errors"]
        self.assertEqual(len(errors), 4)
        self.assertIn("certfile/keyfile", errors[0])
        self.assertIn("certfile/keyfile", errors[1])  # a key that does not match
        self.assertIn("certfile (a PEM file name) is required", errors[2])
        self.assertIn("cert_reqs (", errors[3])
        self.assertNotIn("eddy-lua: error", proc.stderr)


if __name__ == "__main__":
    main()
