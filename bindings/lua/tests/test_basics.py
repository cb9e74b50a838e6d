"""Lua binding, synchronous handlers: routing, captures, arguments, headers, cookies, redirects,
hooks, custom methods, streamed bodies — over real sockets against tests/server.lua."""
import hashlib
import http.client
import json
import os
import tempfile
import unittest
import urllib.parse

from luatest import HERE, LuaServer, main

BOUNDARY = "eddyLuaFilesBoundary"

def multipart(parts):
    """A multipart/form-data body of (Content-Disposition parameters, Content-Type or None,
    content) parts, and its Content-Type."""
    body = b""
    for disposition, ctype, content in parts:
        body += b"--" + BOUNDARY.encode() + b"\r\n"
        body += b"Content-Disposition: form-data; " + disposition.encode() + b"\r\n"
        if ctype:
            body += b"Content-Type: " + ctype.encode() + b"\r\n"
        body += b"\r\n" + content + b"\r\n"
    body += b"--" + BOUNDARY.encode() + b"--\r\n"
    return body, "multipart/form-data; boundary=" + BOUNDARY

class Basics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LuaServer(os.path.join(HERE, "server.lua"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_hello_and_head(self):
        status, resp, body = self.server.request("GET", "/")
        self.assertEqual((status, body), (200, b"Hello, world"))
        status, resp, body = self.server.request("HEAD", "/")
        self.assertEqual((status, body, resp.getheader("Content-Length")), (200, b"", "12"))

    def test_not_found_goes_to_default_handler_and_bad_method_405(self):
        status, _, body = self.server.request("GET", "/no/such/path")
        self.assertEqual((status, body), (404, b"nothing at /no/such/path"))
        status, resp, _ = self.server.request("DELETE", "/")
        self.assertEqual(status, 405)
        self.assertIn("GET", resp.getheader("Allow"))

    def test_json_api_with_capture(self):
        status, resp, body = self.server.request("GET", "/items/17?kind=big")
        self.assertEqual(status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("application/json"))
        self.assertEqual(json.loads(body), {"id": 17, "kind": "big"})
        status, _, body = self.server.request("PUT", "/items/5", body=json.dumps({"a": [1, "x\u00e9"], "b": None}))
        self.assertEqual(status, 201)
        self.assertEqual(json.loads(body), {"id": 5, "got": {"a": [1, "x\u00e9"], "b": None}})
        status, _, _ = self.server.request("PUT", "/items/5", body="{not json")
        self.assertEqual(status, 400)
        self.assertEqual(self.server.request("GET", "/items/abc")[0], 404)

    def test_named_capture_and_reverse_url(self):
        self.assertEqual(self.server.request("GET", "/named/alice")[2], b"who=alice")
        self.assertEqual(self.server.request("GET", "/reverse")[2], b"/items/42")

    def test_static_url_without_static_path(self):
        status, _, body = self.server.request("GET", "/static_url?path=a.css")
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith(b"nil: "), body)
        self.assertIn(b"static_path", body)

    def test_set_etag(self):
        # Without set_etag the answer gets the automatic ETag (compare below).
        self.assertIsNotNone(self.server.request("GET", "/")[1].getheader("ETag"))
        status, resp, body = self.server.request("GET", '/etag?etag="custom-1"')
        self.assertEqual((status, body, resp.getheader("ETag")), (200, b"etag body", '"custom-1"'))
        status, resp, body = self.server.request("GET", '/etag?etag="custom-1"',
                                                 headers={"If-None-Match": '"custom-1"'})
        self.assertEqual((status, body), (304, b""))
        # set_etag(nil): no ETag header at all, and If-None-Match never gives 304.
        status, resp, body = self.server.request("GET", "/etag")
        self.assertEqual((status, body, resp.getheader("ETag")), (200, b"etag body", None))
        status, resp, body = self.server.request("GET", "/etag", headers={"If-None-Match": "*"})
        self.assertEqual((status, body, resp.getheader("ETag")), (200, b"etag body", None))

    def test_arguments(self):
        status, _, body = self.server.request("GET", "/args?name=bob&x=1&x=2%203")
        self.assertEqual((status, body), (200, b"bob|1,2 3|name=bob&x=1&x=2 3"))
        self.assertEqual(self.server.request("GET", "/args?x=1")[0], 400)  # missing argument
        status, _, body = self.server.request("POST", "/args", body="a=b%26c",
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, body), (200, b"body:b&c:a=b%26c"))

    def test_tornado_argument_rules(self):
        # Tornado's get_argument: the last value; control characters become spaces and the ends
        # are stripped (strip=False keeps them); a body value wins over the query's; text that
        # is not UTF-8 is a 400.
        status, _, body = self.server.request("GET", "/last_args?a=first&a=%20x%01y%09%20")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"a": "x y", "raw": " x y\t ", "q": "x y",
                                            "list": ["first", "x y"], "missing": None})
        status, _, body = self.server.request(
            "POST", "/last_args?a=from-query", body="a=from-body",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(json.loads(body), {"a": "from-body", "body": "from-body",
                                            "query": "from-query"})
        status, _, body = self.server.request("GET", "/last_args?a=%ff")
        self.assertEqual(status, 400, body)

    def test_files(self):
        # Tornado's request.files: field -> files in arrival order, across interleaved parts; a
        # binary body with NUL bytes, CR LF and "--" (and a prefix of the boundary) kept exact;
        # no Content-Type -> application/octet-stream; a part without filename is an argument.
        binary = b"\x00\x01\xff\r\n--\r\n--eddyLua\x00\r\n\r\n--\x00end"  # BOUNDARY's prefix
        body, ctype = multipart([
            ('name="docs"; filename="a.txt"', "text/plain", b"first file\r\n"),
            ('name="note"', None, b"just text"),
            ('name="other"; filename="c.dat"', None, b"third"),
            ('name="docs"; filename="b.bin"', "application/x-eddy-binary", binary),
        ])
        status, _, data = self.server.request("POST", "/files", body=body, headers={"Content-Type": ctype})
        self.assertEqual(status, 200, data)
        got = json.loads(data)
        self.assertEqual(got["note"], "just text")
        self.assertEqual(got["arguments"], ["note"])
        self.assertEqual(sorted(got["files"]), ["docs", "other"])
        def entry(filename, ctype, content):
            return {"filename": filename, "content_type": ctype, "size": len(content),
                    "hex": content.hex(), "keys": "body,content_type,filename"}
        self.assertEqual(got["files"]["docs"], [entry("a.txt", "text/plain", b"first file\r\n"),
                                                entry("b.bin", "application/x-eddy-binary", binary)])
        self.assertEqual(got["files"]["other"], [entry("c.dat", "application/octet-stream", b"third")])
        # Not multipart: no files (an empty table), the arguments as usual.
        status, _, data = self.server.request(
            "POST", "/files", body="note=plain",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, json.loads(data)), (200, {"files": {}, "note": "plain",
                                                            "arguments": ["note"]}))

    def test_status_and_headers(self):
        status, resp, body = self.server.request("GET", "/headers", headers={"User-Agent": "lua-test"})
        self.assertEqual((status, resp.reason), (203, "Made Up"))
        self.assertEqual(resp.getheader("X-One"), "1")
        self.assertEqual(resp.headers.get_all("X-Many"), ["a", "b"])
        self.assertTrue(body.startswith(b"ua=lua-test n="))

    def test_cookies_and_signed_cookies(self):
        status, resp, body = self.server.request("GET", "/cookies")
        self.assertEqual(body, b"plain=nil signed=nil")
        cookies = resp.headers.get_all("Set-Cookie")
        self.assertTrue(any(c.startswith("plain=v1") and "HttpOnly" in c for c in cookies), cookies)
        signed = next(c for c in cookies if c.startswith("signed="))
        jar = "plain=v1; " + signed.split(";")[0]
        self.assertEqual(self.server.request("GET", "/cookies", headers={"Cookie": jar})[2],
                         b"plain=v1 signed=s1")
        forged = jar[:-3] + ("000" if not jar.endswith("000") else "111")
        self.assertEqual(self.server.request("GET", "/cookies", headers={"Cookie": forged})[2],
                         b"plain=v1 signed=nil")

    def test_request_fields(self):
        # Tornado's request.version, host_name, full_url(), request_time() and request.cookies.
        status, _, body = self.server.request(
            "GET", "/request_info?x=1&y=2&x=3",
            headers={"Host": "Example.COM:8080", "Cookie": 'a=1; b="q\\"x"; bad name=2; a=dup'})
        self.assertEqual(status, 200, body)
        got = json.loads(body)
        self.assertEqual(got["version"], "HTTP/1.1")
        self.assertEqual(got["host_name"], "example.com")
        self.assertEqual(got["full_url"], "http://Example.COM:8080/request_info?x=1&y=2&x=3")
        self.assertGreaterEqual(got["request_time"], 0)  # no upper bound: a loaded machine is slow
        self.assertEqual(got["cookies"], {"a": "1", "b": 'q"x'})
        status, _, body = self.server.request("GET", "/request_info", headers={"Host": "[::1]:80"})
        self.assertEqual((json.loads(body)["host_name"], json.loads(body)["cookies"]), ("[::1]", {}))

    def test_argument_dicts(self):
        # Tornado's arguments / query_arguments / body_arguments dicts and get_query_arguments /
        # get_body_arguments lists.
        status, _, body = self.server.request(
            "POST", "/request_info?x=1&y=2&x=3", body="x=b1&z=&x=b2",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, body)
        got = json.loads(body)
        self.assertEqual(got["query_arguments"], {"x": ["1", "3"], "y": ["2"]})
        self.assertEqual(got["body_arguments"], {"x": ["b1", "b2"], "z": [""]})
        self.assertEqual(got["arguments"], {"x": ["1", "3", "b1", "b2"], "y": ["2"], "z": [""]})
        self.assertEqual((got["query_x"], got["body_x"]), (["1", "3"], ["b1", "b2"]))
        self.assertGreaterEqual(got["request_time"], 0.05)

    def test_get_status_and_clear(self):
        status, resp, body = self.server.request("GET", "/status")
        self.assertEqual((status, body), (202, b"200,201,200,202"))
        self.assertEqual((resp.getheader("X-Dropped"), resp.getheader("X-Default")), (None, "again"))
        status, _, body = self.server.request("GET", "/status?error=1")
        self.assertEqual((status, body), (409, b"200,201,200,202 error 409"))

    def test_values_of_the_wrong_type_are_errors(self):
        status, resp, body = self.server.request("GET", "/bad_types")
        self.assertEqual(status, 200, body)
        lines = body.decode().split("\n")
        self.assertEqual(lines[0], "42")
        expected = [
            "write false", "eddy: write: the chunk must be a string, a number or a table (JSON), not nil",
            "write false", "eddy: write: the chunk must be a string, a number or a table (JSON), not boolean",
            "write false", "eddy: write: the chunk must be a string, a number or a table (JSON), not function",
            "write false", "json: number not representable",
            "set_header false", "eddy: set_header: the value must be a string or a number, not nil",
            "add_header false", "eddy: add_header: the value must be a string or a number, not table",
            "set_header false", "eddy: set_header: the value must be a string or a number, not boolean"]
        self.assertEqual(len(lines), 8, lines)
        for line, start, end in zip(lines[1:], expected[::2], expected[1::2]):
            self.assertTrue(line.startswith(start) and line.endswith(end), (line, start, end))
        self.assertEqual(resp.getheader("X-Number"), "5")
        for name in ("X-Nil", "X-Table", "X-Bool"):
            self.assertIsNone(resp.getheader(name))
        self.assertTrue(resp.getheader("Content-Type").startswith("text/html"), resp.getheader("Content-Type"))

    def test_nul_in_a_cookie_attribute_is_an_error(self):
        status, resp, body = self.server.request("GET", "/nul_cookie")
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith(b"false ") and b"NUL byte" in body, body)
        self.assertIsNone(resp.getheader("Set-Cookie"))

    def test_clear_all_cookies(self):
        status, resp, _ = self.server.request("GET", "/clear_all_cookies",
                                              headers={"Cookie": "a=1; b=2"})
        self.assertEqual(status, 200)
        cleared = sorted(c.split("=")[0] for c in resp.headers.get_all("Set-Cookie"))
        self.assertEqual(cleared, ["a", "b"])
        self.assertTrue(all("Path=/p" in c and "expires=" in c.lower()
                            for c in resp.headers.get_all("Set-Cookie")))

    def test_redirect(self):
        status, resp, _ = self.server.request("GET", "/redirect")
        self.assertEqual((status, resp.getheader("Location")), (302, "/"))
        self.assertEqual(self.server.request("GET", "/redirect?status=301")[0], 301)

    def test_hooks(self):
        self.assertEqual(self.server.request("GET", "/prepare")[2], b"method ran")
        self.assertEqual(self.server.request("GET", "/prepare?stop=1")[2], b"stopped in prepare")
        status, resp, _ = self.server.request("GET", "/default_headers")
        self.assertEqual((status, resp.getheader("X-Default")), (404, "yes"))
        status, _, body = self.server.request("GET", "/custom_error")
        self.assertEqual((status, body), (418, b"custom error page 418"))
        self.assertEqual(self.server.request("GET", "/init")[2], b"hi from kwargs")

    def test_on_finish_runs_per_request(self):
        before = self.server.get_json("/stats")["finished"]
        for _ in range(3):
            self.server.request("GET", "/")
        self.assertEqual(self.server.get_json("/stats")["finished"], before + 3)

    def test_custom_method_and_streamed_body(self):
        self.assertEqual(self.server.request("PURGE", "/custom")[:3:2], (200, b"purged"))
        body = b"z" * 300000
        status, _, data = self.server.request("POST", "/upload", body=body)
        self.assertEqual((status, data), (200, b"size=300000"))

    def test_raw_http_server(self):
        port = int(self.server.request("GET", "/raw_port")[2])
        def get(path, method="GET", body=None, headers={}):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()
        self.assertEqual(get("/x?y=1"), (200, b"raw GET /x"))
        self.assertEqual(get("/later"), (200, b"raw later"))
        self.assertEqual(get("/boom")[0], 500)
        self.assertEqual(get("/again"), (200, b"raw GET /again"))
        body, ctype = multipart([('name="f"; filename="x"', None, b"\x00\x00"),
                                 ('name="f"; filename="y"', None, b"abc"),
                                 ('name="g"; filename="z"', "text/plain", b"")])
        self.assertEqual(get("/files", "POST", body, {"Content-Type": ctype}),
                         (200, b"f=x:2 f=y:3 g=z:0"))

    def test_raw_http_server_abort(self):
        # core.eddy_request_abort: the client sees the answer is incomplete (IncompleteRead;
        # before the head only the close), and the server answers the next connection.
        port = int(self.server.request("GET", "/raw_port")[2])
        for path, partial in (("/abort_chunked", b"firstsecond"), ("/abort_short", b"12345")):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                with self.assertRaises(http.client.IncompleteRead) as cm:
                    resp.read()
                self.assertEqual(cm.exception.partial, partial)
            finally:
                conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/abort_nohead")
            with self.assertRaises(http.client.RemoteDisconnected):
                conn.getresponse()
        finally:
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/after")
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (200, b"raw GET /after"))
        finally:
            conn.close()

    def test_xsrf_cookies_and_a_route_opting_out(self):
        # server.lua's second application has xsrf_cookies: /form checks the token, /api has
        # the route option xsrf_check = false.
        port = int(self.server.request("GET", "/xsrf_port")[2])
        def req(method, path, body=None, headers={}):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp, resp.read()
            finally:
                conn.close()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        self.assertEqual(req("POST", "/form", "a=1", form)[0], 403)
        status, _, body = req("POST", "/api", "a=1", form)
        self.assertEqual((status, body), (200, b"posted /api"))
        status, resp, token = req("GET", "/form")
        cookie = next((c.split(";")[0].split("=", 1)[1] for c in resp.headers.get_all("Set-Cookie")
                       if c.startswith("_xsrf=")), None)
        self.assertTrue(status == 200 and token and cookie, (status, token, cookie))
        status, _, body = req("POST", "/form", "a=1&_xsrf=" + urllib.parse.quote(token.decode()),
                              dict(form, Cookie="_xsrf=" + cookie))
        self.assertEqual((status, body), (200, b"posted /form"))

class StaticUrl(unittest.TestCase):
    """Handler:static_url over a static_path holding css/a.css (server.lua --static DIR)."""
    CONTENT = b"body { color: #c0ffee }\n"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        os.mkdir(os.path.join(cls.tmp.name, "css"))
        with open(os.path.join(cls.tmp.name, "css", "a.css"), "wb") as f:
            f.write(cls.CONTENT)
        cls.server = LuaServer(os.path.join(HERE, "server.lua"), "--static", cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def test_versioned_url_served_with_long_cache(self):
        status, _, body = self.server.request("GET", "/static_url?path=css/a.css")
        url = "/static/css/a.css?v=" + hashlib.md5(self.CONTENT).hexdigest()
        self.assertEqual((status, body.decode()), (200, url))
        status, resp, body = self.server.request("GET", url)
        self.assertEqual((status, body), (200, self.CONTENT))
        self.assertEqual(resp.getheader("Cache-Control"), "max-age=315360000")

    def test_missing_file_gets_plain_url(self):
        status, _, body = self.server.request("GET", "/static_url?path=css/missing.css")
        self.assertEqual((status, body), (200, b"/static/css/missing.css"))

if __name__ == "__main__":
    main()
