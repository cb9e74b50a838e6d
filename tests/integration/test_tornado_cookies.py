#!/usr/bin/env python3
"""Cross-checks lib/web/cookies (through the cookie_tool program) against the real Tornado.

Both directions for every format:
  * signed values: eddy's create_signed_value is byte-identical to Tornado's and decodes with
    tornado.web.decode_signed_value; Tornado's v2 and v1 values (and v2 with a key version)
    decode in eddy; expiry boundaries, future timestamps, wrong name/secret and every
    single-character tampering give the same verdict on both sides.
  * XSRF tokens: the check runs through Tornado's own RequestHandler.check_xsrf_cookie on a
    real RequestHandler instance (an Application with xsrf_cookies, an HTTPServerRequest with
    the Cookie and X-Xsrftoken headers, and a mock connection -- the way Tornado's own tests
    build handlers without a server), so Tornado's private _decode_xsrf_token and
    _get_raw_xsrf_token are exercised as they are in production. Tornado-made tokens (via the
    handler's xsrf_token property, versions 2 and 1) are checked by eddy.
  * Cookie header parsing against HTTPServerRequest.cookies (what get_cookie reads), Set-Cookie
    against RequestHandler.set_cookie (both parsed back with http.cookies), reverse_url
    escaping against tornado.escape.url_escape(plus=False) and Application.reverse_url.

Documented, deliberate differences are asserted as such (see cookies.hpp): duplicate cookie
names (eddy: first wins; Tornado's dict: last wins), cookie names that are attribute words
(Python's SimpleCookie drops them), values needing quotes (eddy refuses them in Set-Cookie,
Python quotes them).

Run: test_tornado_cookies.py --tool path/to/cookie_tool. Exits 77 (ctest "skipped") when
tornado cannot be imported.
"""
import argparse
import binascii
import http.cookies
import logging
import random
import subprocess
import sys
import time
import unittest
from unittest import mock

try:
    import tornado.escape
    import tornado.httputil
    import tornado.web
except ImportError:  # pragma: no cover - depends on the machine
    tornado = None

TOOL = None
SECRET = "s3cr3t-\u00e9"  # Tornado encodes str secrets as UTF-8; we pass the same bytes
TS = 1700000000


def hexarg(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return "hex:" + binascii.hexlify(b).decode()


class _Tool:
    """cookie_tool --batch: one process for every call (under ASan each start of the tool
    costs most of a second, and the cross-check makes hundreds of calls)."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path, "--batch"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def call(self, args):
        line = "\t".join(binascii.hexlify(str(a).encode("utf-8")).decode() for a in args)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        out = []
        while True:
            got = self.proc.stdout.readline()
            if not got:  # the tool died (a sanitizer report ends it): say why
                raise AssertionError("cookie_tool %r died: %r" % (args, self.close()))
            if got.startswith(b"\x1e"):
                return int(got[1:]), b"".join(out)
            out.append(got)

    def close(self):
        """Ends the tool; returns what it wrote on stderr (a sanitizer's report)."""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


_TOOL_PROC = None


def tool(*args):
    """Runs a cookie_tool command; returns (ok, stdout lines)."""
    global _TOOL_PROC
    if _TOOL_PROC is None:
        _TOOL_PROC = _Tool(TOOL)
    rc, stdout = _TOOL_PROC.call(args)
    if rc not in (0, 1) or (rc == 1 and stdout != b"INVALID\n"):
        raise AssertionError("cookie_tool %r failed (%d): %r" % (args, rc, stdout))
    return rc == 0, stdout.decode("latin-1").splitlines()


def eddy_sign(secret, name, value, ts=TS):
    ok, out = tool("sign", hexarg(secret), hexarg(name), hexarg(value), ts)
    assert ok
    return out[0].encode("latin-1")


def eddy_verify(secret, name, signed, max_age_days=31, now=TS, min_version=1):
    ok, out = tool("verify", hexarg(secret), hexarg(name), hexarg(signed), repr(max_age_days),
                   repr(float(now)), min_version)
    return binascii.unhexlify(out[0]) if ok else None


def tornado_verify(secret, name, signed, max_age_days=31, now=TS, min_version=None):
    try:
        return tornado.web.decode_signed_value(secret, name, signed, max_age_days=max_age_days,
                                               clock=lambda: now, min_version=min_version)
    except Exception:  # v1 with a valid signature but a non-integer timestamp raises
        return None


def make_handler(cookie=None, xsrf_header=None, **settings):
    settings.setdefault("cookie_secret", SECRET)
    settings.setdefault("xsrf_cookies", True)
    app = tornado.web.Application([], **settings)
    headers = tornado.httputil.HTTPHeaders()
    if cookie is not None:
        headers["Cookie"] = cookie
    if xsrf_header is not None:
        headers["X-Xsrftoken"] = xsrf_header
    request = tornado.httputil.HTTPServerRequest(method="POST", uri="/", headers=headers,
                                                 connection=mock.Mock())
    return tornado.web.RequestHandler(app, request)


def tornado_xsrf_ok(submitted, cookie_value):
    handler = make_handler(cookie="_xsrf=" + cookie_value, xsrf_header=submitted)
    try:
        handler.check_xsrf_cookie()
        return True
    except tornado.web.HTTPError as e:
        assert e.status_code == 403
        return False


def eddy_xsrf_ok(submitted, cookie_value):
    return tool("xsrf-check", hexarg(submitted), hexarg(cookie_value))[0]


class TornadoTestCase(unittest.TestCase):
    def setUp(self):
        if tornado is None:
            self.skipTest("tornado is not importable")


class SignedValueTest(TornadoTestCase):
    VALUES = [b"", b"x", b"hello world", "\u00e9t\u00e9 \u2603".encode(), bytes(range(256)),
              b"|2|1:0|=", b"a" * 1000]

    def test_eddy_signs_like_tornado(self):
        for secret in ["", "k", SECRET, "x" * 200]:  # > 64 bytes: HMAC hashes the key
            for name in ["user", "_session", "n:|"]:
                for value in self.VALUES:
                    mine = eddy_sign(secret, name, value)
                    theirs = tornado.web.create_signed_value(secret, name, value,
                                                             clock=lambda: TS)
                    self.assertEqual(mine, theirs)
                    self.assertEqual(tornado_verify(secret, name, mine), value)

    def test_tornado_values_decode_in_eddy(self):
        for version in (1, 2):
            for value in self.VALUES:
                signed = tornado.web.create_signed_value(SECRET, "user", value, version=version,
                                                         clock=lambda: TS)
                self.assertEqual(eddy_verify(SECRET, "user", signed), value)
                self.assertIsNone(eddy_verify(SECRET, "other", signed))
                self.assertIsNone(eddy_verify("wrong", "user", signed))
        v1 = tornado.web.create_signed_value(SECRET, "user", b"v", version=1, clock=lambda: TS)
        self.assertIsNone(eddy_verify(SECRET, "user", v1, min_version=2))
        self.assertIsNone(tornado_verify(SECRET, "user", v1, min_version=2))

    def test_key_version(self):
        # Tornado's secret dict: "2|1:1|..." signed with secrets[1]. eddy has one secret and
        # ignores the key version, so it verifies with that key's secret.
        signed = tornado.web.create_signed_value({0: "old", 1: "new"}, "user", b"v",
                                                 clock=lambda: TS, key_version=1)
        self.assertTrue(signed.startswith(b"2|1:1|"))
        self.assertEqual(eddy_verify("new", "user", signed), b"v")
        self.assertIsNone(eddy_verify("old", "user", signed))

    def test_through_request_handler(self):
        signed = eddy_sign(SECRET, "user", b"bob", ts=int(time.time()))
        handler = make_handler(cookie="user=" + signed.decode())
        self.assertEqual(handler.get_secure_cookie("user"), b"bob")
        # And Tornado's set_secure_cookie output verifies in eddy.
        handler.set_secure_cookie("user", "alice")
        value = handler._new_cookie["user"].value
        self.assertEqual(eddy_verify(SECRET, "user", value, now=time.time()),
                         b"alice")

    def test_expiry_agrees(self):
        for version in (1, 2):
            for max_age in (31, 1, 0.5, 0):
                signed = (eddy_sign(SECRET, "n", b"v") if version == 2 else
                          tornado.web.create_signed_value(SECRET, "n", b"v", version=1,
                                                          clock=lambda: TS))
                for delta in (-1, 0, 1):
                    now = TS + max_age * 86400 + delta
                    expect = tornado_verify(SECRET, "n", signed, max_age, now)
                    self.assertEqual(eddy_verify(SECRET, "n", signed, max_age, now), expect,
                                     (version, max_age, delta))
                    self.assertEqual(expect is None, delta > 0)

    def test_future_timestamps(self):
        # v2: no future check in Tornado, none in eddy.
        far = TS + 400 * 86400
        v2 = eddy_sign(SECRET, "n", b"v", ts=far)
        self.assertEqual(tornado_verify(SECRET, "n", v2), b"v")
        self.assertEqual(eddy_verify(SECRET, "n", v2), b"v")
        # v1: more than 31 days ahead is refused by both; exactly 31 days passes.
        for ahead, ok in ((31 * 86400, True), (31 * 86400 + 1, False), (400 * 86400, False)):
            v1 = tornado.web.create_signed_value(SECRET, "n", b"v", version=1,
                                                 clock=lambda: TS + ahead)
            self.assertEqual(tornado_verify(SECRET, "n", v1) is not None, ok)
            self.assertEqual(eddy_verify(SECRET, "n", v1) is not None, ok)

    def test_tampering_agrees(self):
        samples = [
            eddy_sign(SECRET, "user", b"hello"),
            tornado.web.create_signed_value(SECRET, "user", b"hello", version=1,
                                            clock=lambda: TS),
        ]
        rng = random.Random(7)
        for signed in samples:
            variants = set()
            for i in range(len(signed)):
                for repl in (b"0", b"|", b":", b"A", b"f"):
                    variants.add(signed[:i] + repl + signed[i + 1:])
            variants.update(signed[:n] for n in range(len(signed)))
            variants.update({signed + b"0", signed + b"|", b"3" + signed[1:], b"x" + signed})
            variants = sorted(variants)
            rng.shuffle(variants)
            for v in variants[:250]:
                expect = tornado_verify(SECRET, "user", v)
                self.assertEqual(eddy_verify(SECRET, "user", v), expect, v)
                if v != signed:
                    self.assertIsNone(expect, v)


class XsrfTest(TornadoTestCase):
    def test_eddy_tokens_pass_tornado_check(self):
        ok, out = tool("xsrf-new", TS)
        self.assertTrue(ok)
        raw_hex, cookie = out
        _, (form,) = tool("xsrf-encode", "hex:" + raw_hex, TS + 60)
        self.assertNotEqual(form, cookie)  # fresh mask
        self.assertTrue(tornado_xsrf_ok(form, cookie))
        self.assertTrue(tornado_xsrf_ok(cookie, cookie))
        # Tornado decodes eddy's cookie to the same raw token and timestamp.
        handler = make_handler(cookie="_xsrf=" + cookie)
        version, token, timestamp = handler._get_raw_xsrf_token()
        self.assertEqual((version, token, timestamp), (2, binascii.unhexlify(raw_hex), TS))
        # A token of another raw value is refused by both.
        _, (_, other) = tool("xsrf-new", TS)
        self.assertFalse(tornado_xsrf_ok(other, cookie))
        self.assertFalse(eddy_xsrf_ok(other, cookie))

    def test_tornado_tokens_pass_eddy_check(self):
        for version in (2, 1):
            handler = make_handler(xsrf_cookie_version=version)
            token = handler.xsrf_token.decode()
            cookie = handler._new_cookie["_xsrf"].value
            raw = handler._get_raw_xsrf_token()[1]
            self.assertTrue(eddy_xsrf_ok(token, cookie), version)
            ok, out = tool("xsrf-decode", token)
            self.assertTrue(ok)
            self.assertEqual(binascii.unhexlify(out[0].split()[0]), raw)
            # A second request with that cookie: a new mask, same raw token.
            handler2 = make_handler(cookie="_xsrf=" + cookie, xsrf_cookie_version=version)
            token2 = handler2.xsrf_token.decode()
            if version == 2:
                self.assertNotEqual(token2, token)
            self.assertTrue(eddy_xsrf_ok(token2, cookie))
            # Mixed: a Tornado form token against an eddy-made cookie of the same raw token.
            _, (eddy_cookie,) = tool("xsrf-encode", hexarg(raw), TS)
            self.assertTrue(eddy_xsrf_ok(token2, eddy_cookie))
            self.assertTrue(tornado_xsrf_ok(token2, eddy_cookie))

    def test_v1_cookie_mixed_with_v2_token(self):
        ok, out = tool("xsrf-new", TS)
        raw_hex, token = out
        for cookie in (raw_hex, raw_hex.upper()):
            self.assertTrue(tornado_xsrf_ok(token, cookie))
            self.assertTrue(eddy_xsrf_ok(token, cookie))
            self.assertTrue(eddy_xsrf_ok(cookie, token))

    def test_malformed_agree(self):
        good = "2|01020304|60606060|123"  # raw "abcd"
        pairs = [
            (good, "61626364"), (good, "abcd"), (good, good), ("61626364", "abcd"),
            ("plain", "plain"), ("plain", "plaim"), ("6162636", "6162636"),
            ("2|01020304|60606060", good), ("2|01020304|60606060|1|2", good),
            ("2|0102030g|60606060|1", good), ("2|01020304|6060606|1", good),
            ("2|01020304|60606060|x", good), ("2|01020304|60606060|", good),
            ("3|01020304|60606060|1", good), ("1|61626364", "61626364"),
            ("22|01020304|60606060|1", good), ("1000|x", "1000|x"), ("0|x", "0|x"),
            ("2|01020304||1", "2|05060708||1"), (good, "2|01020304|60606061|123"),
            ("2|01020304|60606060|-5", good), ("2|01020304|6060606061|1", good),
            ("2|01020304|6060606061|1", "6162636465"), ("2|01020304|6060606061|1", "abcda"),
        ]
        for submitted, cookie in pairs:
            self.assertEqual(eddy_xsrf_ok(submitted, cookie), tornado_xsrf_ok(submitted, cookie),
                             (submitted, cookie))

    def test_decode_agrees_with_tornado(self):
        handler = make_handler()
        for token in ["2|deadbeef|00112233445566778899aabbccddeeff|1700000000",
                      "2|DEADBEEF|0011|0", "00112233", "xyz", "2|deadbeef|00|1|", "7|a|b|c"]:
            version, raw, ts = handler._decode_xsrf_token(token)
            ok, out = tool("xsrf-decode", token)
            self.assertEqual(ok, raw is not None, token)
            if ok:
                self.assertEqual(binascii.unhexlify(out[0].split()[0]), raw)
                if version == 2:
                    self.assertEqual(int(out[0].split()[1]), ts)


class CookieHeaderTest(TornadoTestCase):
    RESERVED = {"expires", "path", "comment", "domain", "max-age", "secure", "httponly",
                "version", "samesite"}

    def eddy_parse(self, header):
        ok, out = tool("parse-cookie", hexarg(header.encode("latin-1")))
        self.assertTrue(ok)
        pairs = []
        for line in out:
            k, _, v = line.partition(" ")
            pairs.append((binascii.unhexlify(k).decode("latin-1"),
                          binascii.unhexlify(v).decode("latin-1")))
        return pairs

    def tornado_parse(self, header):
        headers = tornado.httputil.HTTPHeaders()
        headers["Cookie"] = header
        req = tornado.httputil.HTTPServerRequest(method="GET", uri="/", headers=headers)
        return {k: m.value for k, m in req.cookies.items()}

    def compare(self, header):
        pairs = self.eddy_parse(header)
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names) or any(k.lower() in self.RESERVED for k in names):
            return False  # documented differences; checked separately
        self.assertEqual(dict(pairs), self.tornado_parse(header), header)
        return True

    def test_examples(self):
        for header in ["a=1; b=two ;c = 3;d=", "g; =h; b c=5; d:e=6", 'f="x\\"y\\054"; j=""',
                       'k="open; l="', 'a="\\400\\\\\\q\\"', 'a="\\377\\000z"',
                       "sig=2|1:0|10:1700000000|4:user|4:AP8=|abc; _xsrf=2|a|b|1",
                       "", " ; ;; \t", "a=\u00e9\u00ff", "x=1,y=2", 'q="a\\\nb"']:
            self.assertTrue(self.compare(header), header)

    def test_random_headers(self):
        rng = random.Random(1234)
        alphabet = "abc=; \t\"\\01,:|x\n\u00e9"
        compared = 0
        for _ in range(300):
            header = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))
            compared += self.compare(header)
        self.assertGreater(compared, 150)

    def test_documented_differences(self):
        header = "a=1; b=2; a=3"
        self.assertEqual(self.eddy_parse(header), [("a", "1"), ("b", "2"), ("a", "3")])
        self.assertEqual(self.tornado_parse(header), {"a": "3", "b": "2"})  # last wins there
        header = "path=1; Version=2; z=3"
        self.assertEqual(self.eddy_parse(header), [("path", "1"), ("Version", "2"), ("z", "3")])
        self.assertEqual(self.tornado_parse(header), {"z": "3"})


class SetCookieTest(TornadoTestCase):
    @staticmethod
    def parse_set_cookie(line):
        jar = http.cookies.SimpleCookie()
        jar.load(line)
        (name, morsel), = jar.items()
        attrs = {k: v for k, v in morsel.items() if v not in ("", False)}
        return name, morsel.value, attrs

    def eddy(self, name, value, domain="", path="/", expires=0, max_age=-1, secure=False,
             httponly=False, samesite=""):
        ok, out = tool("set-cookie", hexarg(name), hexarg(value), hexarg(domain), hexarg(path),
                       repr(float(expires)), max_age, int(secure), int(httponly), hexarg(samesite))
        return out[0] if ok else None

    def tornado(self, name, value, domain=None, path="/", expires=None, **kwargs):
        handler = make_handler()
        handler.set_cookie(name, value, domain=domain, path=path, expires=expires, **kwargs)
        return handler._new_cookie[name].OutputString()

    def test_same_cookie_as_tornado(self):
        cases = [
            (dict(name="a", value="b"), dict(name="a", value="b")),
            (dict(name="sid", value="2|1:0|x=", domain="example.com", path="/app",
                  expires=1700000000.9, max_age=3600, secure=True, httponly=True,
                  samesite="Lax"),
             dict(name="sid", value="2|1:0|x=", domain="example.com", path="/app",
                  expires=1700000000.9, max_age=3600, secure=True, httponly=True,
                  samesite="Lax")),
            (dict(name="x", value="", path="/", expires=TS - 365 * 86400),
             dict(name="x", value="", path="/", expires=TS - 365 * 86400)),
            (dict(name="n", value="v", samesite="Strict", max_age=0),
             dict(name="n", value="v", samesite="Strict", max_age=0)),
        ]
        for mine_kw, theirs_kw in cases:
            mine = self.eddy(**mine_kw)
            theirs = self.tornado(**theirs_kw)
            self.assertIsNotNone(mine)
            self.assertEqual(self.parse_set_cookie(mine), self.parse_set_cookie(theirs),
                             (mine, theirs))

    def test_refusals(self):
        # Everything Tornado refuses ([\x00-\x20] in name or value), eddy refuses.
        for name, value in [("a b", "v"), ("a", "v v"), ("a", "v\x01"), ("a\t", "v"),
                            ("a", "v\r\nSet-Cookie: evil=1"), ("a", "\x7f")]:
            self.assertIsNone(self.eddy(name, value), (name, value))
            if "\x7f" not in value:
                with self.assertRaises(ValueError):
                    self.tornado(name, value)
        # Values Python would have to quote are refused by eddy (documented difference).
        for value in ['a"b', "a;b", "a,b", "a\\b", "\u00e9"]:
            self.assertIsNone(self.eddy("a", value))
            self.assertTrue(self.tornado("a", value).startswith('a="'), value)
        # Injection through attributes.
        self.assertIsNone(self.eddy("a", "b", domain="x.com; Secure"))
        self.assertIsNone(self.eddy("a", "b", path="/\r\nX: y"))
        self.assertIsNone(self.eddy("a", "b", samesite="Bogus"))


class ReverseUrlTest(TornadoTestCase):
    def test_quote_matches_url_escape(self):
        for s in [bytes(range(1, 256)), "a/b c?d=e&f%\u00e9~".encode(), b"", b"-._~/"]:
            ok, out = tool("quote", hexarg(s))
            self.assertEqual(out[0] if out else "", tornado.escape.url_escape(s, plus=False))
        ok, out = tool("quote", "a/b", "slash")
        self.assertEqual(out[0], "a%2Fb")

    def test_application_reverse_url(self):
        app = tornado.web.Application([
            tornado.web.url(r"/u/([^/]+)/(.*)", tornado.web.RequestHandler, name="u")])
        for a, b in [("x y", "p/q r"), ("\u00e9", "%2F"), ("a+b", "?#")]:
            qa = tool("quote", hexarg(a))[1][0]
            qb = tool("quote", hexarg(b))[1][0]
            self.assertEqual("/u/%s/%s" % (qa, qb), app.reverse_url("u", a, b))


def main():
    global TOOL
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, help="path to the cookie_tool program")
    args, rest = parser.parse_known_args()
    TOOL = args.tool
    logging.getLogger("tornado").setLevel(logging.CRITICAL)  # "Invalid cookie signature" noise
    if tornado is None:
        print("tornado is not importable: skipping (install python3-tornado)")
        sys.exit(77)
    program = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    # A sanitizer report (UBSan goes on after it) is a failure even when every answer was right.
    stderr = _TOOL_PROC.close() if _TOOL_PROC else b""
    if stderr:
        print("cookie_tool wrote on stderr:\n" + stderr.decode("latin-1"))
        sys.exit(1)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
