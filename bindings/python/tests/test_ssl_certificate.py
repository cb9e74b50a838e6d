"""HTTPServerRequest.get_ssl_certificate() over mutual TLS: the dict eddy decodes itself (with
OpenSSL, eddy.lowlevel.eddy_py_decode_certificate) is, key for key, the one the ssl module gives
for the same certificate (ssl.SSLSocket.getpeercert(); the oracle here is its private decoder
ssl._ssl._test_decode_cert, which reads a PEM file). The client certificates come from the
openssl command line at test time: a multi-RDN subject in UTF-8 (multi-valued RDNs, accents, CJK,
an emoji), BMPString and T61String values, an emailAddress, a 20-byte serial, every kind of
subjectAltName (DNS, email, URI, IPv4, IPv6, DirName, Registered ID, otherName), OCSP and
caIssuers URIs and CRL distribution points; and a bare v1 certificate with none of them.
binary_form=True gives the DER; no client certificate gives None."""

import http.client
import os
import re
import ssl
import subprocess
import sys
import tempfile
import unittest

import support

import eddy.lowlevel
import eddy.web

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import tls_certs  # noqa: E402

ORACLE = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
NO_ORACLE = ("this Python's ssl module has no _ssl._test_decode_cert (its private test hook) "
             "to compare eddy's dict with")

# Each client certificate: (its subject, the openssl config section of its extensions or None,
# its serial, the string mask its names are encoded with).
CA_SUBJECT = "/C=DE/O=Prüfstelle für Zertifikate/OU=Ébène+OU=Ñandú/CN=eddy cert CA ✓"
CLIENTS = {
    "full": ("/C=FR/ST=Île-de-France/L=Paris/O=Édition Ünïcode 日本語/OU=Team A+OU=Team B"
             "/CN=José Müller 🔐+UID=jm42/emailAddress=jose@example.test", "full",
             "0x7FEDCBA9876543210FEDCBA9876543210FEDCBA9", "utf8only"),
    "bmp": ("/CN=Ünïcode BMP 日本/O=BMP Org", "partial", "0x0100", "MASK:0x800"),
    "t61": ("/CN=Caf\u00e9 T61/O=Latin", None, "12345", "MASK:0x14"),
    "v1": ("/CN=minimal", None, "1", "utf8only"),
}

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[full]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = @alt
authorityInfoAccess = OCSP;URI:http://ocsp.example.test/, caIssuers;URI:http://ca.example.test/ca.crt, OCSP;URI:http://ocsp2.example.test/check, 1.2.3.4;URI:http://not-ocsp.example.test/
crlDistributionPoints = crl_one, crl_two
[alt]
DNS.1 = client.example.test
DNS.2 = *.wild.example.test
email.1 = jose@example.test
email.2 = other@example.test
URI.1 = https://example.test/path?q=1&r=%C3%A9
URI.2 = urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66
IP.1 = 192.0.2.10
IP.2 = 2001:db8::1
IP.3 = ::1
IP.4 = fe80::abcd:ef01:2:3
IP.5 = ::ffff:10.0.0.1
RID.1 = 1.2.3.4.5.6
RID.2 = 1.3.6.1.5.5.7.48.1
dirName.1 = dir_name
otherName.1 = 1.2.3.4;UTF8:some other name
otherName.2 = msUPN;UTF8:jose@example.test
[dir_name]
C = ES
O = Direccion
CN = dir name
[crl_one]
fullname = URI:http://crl.example.test/one.crl, URI:ldap://crl.example.test/cn=one
[crl_two]
fullname = email:crl@example.test, URI:http://crl2.example.test/two.crl
[partial]
authorityInfoAccess = caIssuers;URI:http://ca.example.test/only-issuers.crt
crlDistributionPoints = crl_no_uri
subjectAltName = DNS:bmp.example.test
[crl_no_uri]
fullname = email:crl@example.test
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=30)


def make_client_certs(d):
    """A CA (ca2) and the CLIENTS certificates it signs, in `d`; returns {name: (crt, key)}."""
    config = os.path.join(d, "certs.cnf")
    with open(config, "w", encoding="utf-8") as f:
        f.write(OPENSSL_CONFIG)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "ca2.key", cwd=d)
    openssl("req", "-x509", "-new", "-config", config, "-utf8", "-multivalue-rdn",
            "-key", "ca2.key", "-subj", CA_SUBJECT, "-days", "2", "-out", "ca2.crt", cwd=d)
    out = {}
    for name, (subject, section, serial, mask) in CLIENTS.items():
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", name + ".key", cwd=d)
        with open(config, "w", encoding="utf-8") as f:
            f.write(OPENSSL_CONFIG.replace("[req]\n", "[req]\nstring_mask = %s\n" % mask))
        openssl("req", "-new", "-config", config, "-utf8", "-multivalue-rdn", "-key",
                name + ".key", "-subj", subject, "-out", name + ".csr", cwd=d)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", "ca2.crt", "-CAkey", "ca2.key",
                "-set_serial", serial, "-days", "2", "-out", name + ".crt"]
        if section:
            args += ["-extfile", config, "-extensions", section]
        openssl(*args, cwd=d)
        out[name] = (os.path.join(d, name + ".crt"), os.path.join(d, name + ".key"))
    return out


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def make_app(seen):
    class Peer(eddy.web.RequestHandler):
        def get(self):
            try:
                seen[self.get_argument("name")] = (
                    self.request.get_ssl_certificate(),
                    self.request.get_ssl_certificate(binary_form=True))
            except Exception as e:  # the test reports it
                seen[self.get_argument("name")] = e
            self.write("ok")

    return eddy.web.Application([(r"/", Peer)])


class SslCertificateTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        try:
            cls.certs = tls_certs.make_certs(cls.tmp.name)
            cls.clients = make_client_certs(cls.tmp.name)
        except subprocess.CalledProcessError as e:
            cls.tmp.cleanup()
            raise RuntimeError("openssl %s: %s" % (e.cmd[1:], e.stderr.decode(errors="replace")))
        cls.seen = {}
        # CERT_OPTIONAL: a client certificate is asked for, checked against ca2, not required.
        cls.server = support.ServerThread(
            lambda: make_app(cls.seen),
            ssl_options={"certfile": cls.certs["server.crt"], "keyfile": cls.certs["server.key"],
                         "cert_reqs": ssl.CERT_OPTIONAL,
                         "ca_certs": os.path.join(cls.tmp.name, "ca2.crt")})

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def presented(self, name, client=None):
        """What the handler saw for a request made with `client` = (crt, key) or none."""
        context = ssl.create_default_context(cafile=self.certs["ca.crt"])
        if client:
            context.load_cert_chain(*client)
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=context,
                                           timeout=10)
        try:
            conn.request("GET", "/?name=" + name)
            response = conn.getresponse()
            self.assertEqual((response.status, response.read()), (200, b"ok"))
        finally:
            conn.close()
        seen = self.seen.pop(name)
        if isinstance(seen, Exception):
            raise seen
        return seen

    def test_each_certificate_as_the_ssl_module_decodes_it(self):
        for name, (crt, key) in self.clients.items():
            with self.subTest(cert=name):
                decoded, der = self.presented(name, (crt, key))
                self.assertEqual(der, der_of(crt))
                self.assertEqual(eddy.lowlevel.eddy_py_decode_certificate(der), decoded)
                if ORACLE is None:
                    self.skipTest(NO_ORACLE)
                self.assertEqual(decoded, ORACLE(crt))

    def test_fields_of_the_full_certificate(self):
        # What the comparison above covers, said without the oracle.
        decoded, _ = self.presented("full-fields", self.clients["full"])
        self.assertEqual(decoded["version"], 3)
        self.assertEqual(decoded["serialNumber"], "7FEDCBA9876543210FEDCBA9876543210FEDCBA9")
        self.assertRegex(decoded["notAfter"], r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$")
        subject = decoded["subject"]
        self.assertIn((("countryName", "FR"),), subject)
        self.assertIn((("emailAddress", "jose@example.test"),), subject)
        self.assertIn((("organizationName", "Édition Ünïcode 日本語"),), subject)
        multi = [rdn for rdn in subject if len(rdn) == 2]  # OU=Team A+OU=Team B, CN+UID
        self.assertEqual(sorted(map(sorted, multi)), [
            [("commonName", "José Müller 🔐"), ("userId", "jm42")],
            [("organizationalUnitName", "Team A"), ("organizationalUnitName", "Team B")]])
        self.assertIn((("commonName", "eddy cert CA ✓"),), decoded["issuer"])
        alt = decoded["subjectAltName"]
        self.assertEqual([v for k, v in alt if k == "IP Address"],
                         ["192.0.2.10", "2001:DB8:0:0:0:0:0:1", "0:0:0:0:0:0:0:1",
                          "FE80:0:0:0:ABCD:EF01:2:3", "0:0:0:0:0:FFFF:A00:1"])
        self.assertIn(("Registered ID", "1.2.3.4.5.6"), alt)
        self.assertIn(("Registered ID", "OCSP"), alt)
        self.assertIn(("othername", "<unsupported>"), alt)
        self.assertIn(("DirName", ((("countryName", "ES"),), (("organizationName", "Direccion"),),
                                   (("commonName", "dir name"),))), alt)
        self.assertEqual(decoded["OCSP"], ("http://ocsp.example.test/",
                                           "http://ocsp2.example.test/check"))
        self.assertEqual(decoded["caIssuers"], ("http://ca.example.test/ca.crt",))
        self.assertEqual(decoded["crlDistributionPoints"], (
            "http://crl.example.test/one.crl", "ldap://crl.example.test/cn=one",
            "http://crl2.example.test/two.crl"))

    def test_absent_extensions_have_no_key(self):
        decoded, _ = self.presented("partial", self.clients["bmp"])
        self.assertEqual(decoded["subjectAltName"], (("DNS", "bmp.example.test"),))
        self.assertEqual(decoded["caIssuers"], ("http://ca.example.test/only-issuers.crt",))
        self.assertNotIn("OCSP", decoded)  # an AIA without OCSP
        self.assertNotIn("crlDistributionPoints", decoded)  # points without a URI
        self.assertIn((("commonName", "Ünïcode BMP 日本"),), decoded["subject"])  # BMPString
        decoded, _ = self.presented("v1", self.clients["v1"])
        self.assertEqual(decoded["version"], 1)
        self.assertEqual(sorted(decoded), ["issuer", "notAfter", "notBefore", "serialNumber",
                                           "subject", "version"])

    def test_no_client_certificate(self):
        self.assertEqual(self.presented("none"), (None, None))

    def test_decoder_alone(self):
        decode = eddy.lowlevel.eddy_py_decode_certificate
        der = der_of(self.clients["full"][0])
        self.assertEqual(decode(bytearray(der)), decode(memoryview(der)))
        for bad in (b"", b"\x30\x03abc", der[:-1], der + b"\0", b"not a certificate"):
            with self.assertRaises(ValueError):
                decode(bad)
        with self.assertRaises(TypeError):
            decode("text")
        # A serial past 35 bytes: the ssl module keeps the first line of OpenSSL's printing.
        self.long_serial(decode)
        # A name that is not UTF-8: UnicodeDecodeError (a ValueError), as from the ssl module.
        self.not_utf8(decode)

    def long_serial(self, decode):
        d = self.tmp.name
        try:
            openssl("x509", "-req", "-in", "v1.csr", "-CA", "ca2.crt", "-CAkey", "ca2.key",
                    "-set_serial", "0x" + "7E" * 40, "-days", "2", "-out", "long.crt", cwd=d)
        except subprocess.CalledProcessError:
            return  # this openssl refuses such a serial
        decoded = decode(der_of(os.path.join(d, "long.crt")))
        self.assertTrue(decoded["serialNumber"].startswith("7E7E"), decoded["serialNumber"])
        if ORACLE is not None:
            self.assertEqual(decoded, ORACLE(os.path.join(d, "long.crt")))

    def not_utf8(self, decode):
        d = self.tmp.name
        with open(os.path.join(d, "bad.cnf"), "wb") as f:
            f.write(b"[bad]\nsubjectAltName = DNS:ok.test, DNS:\xff\xfe.test\n")
        openssl("x509", "-req", "-in", "v1.csr", "-CA", "ca2.crt", "-CAkey", "ca2.key",
                "-set_serial", "7", "-days", "2", "-extfile", "bad.cnf", "-extensions", "bad",
                "-out", "bad.crt", cwd=d)
        with self.assertRaises(UnicodeDecodeError) as caught:
            decode(der_of(os.path.join(d, "bad.crt")))
        self.assertEqual(caught.exception.object, b"\xff\xfe.test")
        if ORACLE is not None:
            with self.assertRaises(UnicodeDecodeError) as caught:
                ORACLE(os.path.join(d, "bad.crt"))
            self.assertEqual(caught.exception.object, b"\xff\xfe.test")


if __name__ == "__main__":
    unittest.main()
