"""eddy.httpclient.AsyncHTTPClient against an eddy application in the same loop (and a refused
port), as a Tornado program would use it."""

import asyncio
import unittest

import support  # noqa: F401  (quiet access log)

import eddy.httpclient
import eddy.web
from eddy.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from eddy.web import RequestHandler


class Hello(RequestHandler):
    def get(self):
        self.set_header("X-Seen", self.request.headers.get("X-Test", "-"))
        self.write("hello")


class Echo(RequestHandler):
    def post(self):
        self.write({"got": self.request.body.decode(), "type": self.request.headers.get("Content-Type")})


class Redirect(RequestHandler):
    def get(self):
        self.redirect("/hello")


class Missing(RequestHandler):
    def get(self):
        self.send_error(404)


class Big(RequestHandler):
    def get(self):
        self.write("z" * 200000)


class AsyncHTTPClientTest(unittest.TestCase):
    def run_app(self, body):
        async def main():
            app = eddy.web.Application([(r"/hello", Hello), (r"/echo", Echo),
                                        (r"/redirect", Redirect), (r"/missing", Missing),
                                        (r"/big", Big)], compress_response=True)
            server = app.listen(0, "127.0.0.1")
            try:
                return await asyncio.wait_for(body("http://127.0.0.1:%d" % server.port), 20)
            finally:
                AsyncHTTPClient().close()
                server.stop()
        return asyncio.run(main())

    def test_get_headers_and_keep_alive(self):
        async def body(base):
            client = AsyncHTTPClient()
            self.assertIs(client, AsyncHTTPClient())  # one per IOLoop, as in Tornado
            r1 = await client.fetch(base + "/hello", headers={"X-Test": "yes"})
            r2 = await client.fetch(base + "/hello")
            return r1, r2
        r1, r2 = self.run_app(body)
        self.assertEqual((r1.code, r1.body, r1.headers["X-Seen"]), (200, b"hello", "yes"))
        self.assertEqual(r2.headers["X-Seen"], "-")
        self.assertTrue(r2.connection_reused, "the second fetch reused the pooled connection")

    def test_post_body_and_json(self):
        async def body(base):
            req = HTTPRequest(base + "/echo", method="POST", body="a=1",
                              headers={"Content-Type": "text/plain"})
            return await AsyncHTTPClient().fetch(req)
        r = self.run_app(body)
        self.assertEqual(r.code, 200)
        self.assertEqual(r.body, b'{"got": "a=1", "type": "text/plain"}')

    def test_redirect_followed_or_not(self):
        async def body(base):
            followed = await AsyncHTTPClient().fetch(base + "/redirect")
            kept = await AsyncHTTPClient().fetch(base + "/redirect", follow_redirects=False,
                                                 raise_error=False)
            return followed, kept
        followed, kept = self.run_app(body)
        self.assertEqual((followed.code, followed.body, followed.redirects), (200, b"hello", 1))
        self.assertTrue(followed.effective_url.endswith("/hello"))
        self.assertEqual((kept.code, kept.headers["Location"]), (302, "/hello"))

    def test_errors(self):
        async def body(base):
            client = AsyncHTTPClient()
            with self.assertRaises(HTTPClientError) as not_found:
                await client.fetch(base + "/missing")
            quiet = await client.fetch(base + "/missing", raise_error=False)
            with self.assertRaises(HTTPClientError) as refused:
                await client.fetch("http://127.0.0.1:%d/" % support.free_port(), connect_timeout=5)
            with self.assertRaises(HTTPClientError) as too_big:
                await client.fetch(base + "/big", max_body_size=1000)
            return not_found.exception, quiet, refused.exception, too_big.exception
        not_found, quiet, refused, too_big = self.run_app(body)
        self.assertEqual(not_found.code, 404)
        self.assertEqual(not_found.response.code, 404)
        self.assertEqual((quiet.code, type(quiet.error)), (404, HTTPClientError))
        self.assertEqual(refused.code, 599)
        self.assertEqual(too_big.code, 599)

    def test_gzip_decoded(self):
        async def body(base):
            return await AsyncHTTPClient().fetch(base + "/big")
        r = self.run_app(body)
        # The app compresses (compress_response) and the client asks for gzip by default: the
        # body arrives decoded, and smaller on the wire than the 200,000 bytes it decodes to.
        self.assertEqual(r.body, b"z" * 200000)


if __name__ == "__main__":
    unittest.main()
