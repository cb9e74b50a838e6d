"""eddy.testing: one Tornado-style test suite (AsyncHTTPTestCase, gen_test, stop/wait,
ExpectLog) written once and run on tornado.testing and on eddy.testing; every test must end
the same way (passed, or failed for the same reason) on both."""

import logging
import os
import unittest

import eddy.gen
import eddy.testing
import eddy.web

try:
    import tornado.gen
    import tornado.testing
    import tornado.web
except ImportError:  # CI installs python3-tornado (scripts/deps/core.txt)
    tornado = None


def make_suite(testing, web, gen):
    class Hello(web.RequestHandler):
        def get(self):
            self.write("hello " + self.get_argument("n", "x"))

        def post(self):
            self.write(self.request.body)

    class Crash(web.RequestHandler):
        def get(self):
            raise ValueError("on purpose")

    class Cases(testing.AsyncHTTPTestCase):
        def get_app(self):
            return web.Application([(r"/", Hello), (r"/crash", Crash)])

        def test_fetch(self):
            r = self.fetch("/?n=1")
            self.assertEqual((r.code, r.body), (200, b"hello 1"))
            self.assertEqual(self.fetch("/missing").code, 404)
            self.assertEqual(self.fetch("/", method="POST", body="data").body, b"data")
            self.assertEqual(self.fetch(self.get_url("/?n=abs")).body, b"hello abs")
            self.assertTrue(self.get_url("/p").startswith("http://127.0.0.1:"))

        def test_fetch_raise_error(self):
            with self.assertRaises(Exception) as caught:
                self.fetch("/missing", raise_error=True)
            self.assertEqual(caught.exception.code, 404)

        def test_expect_log(self):
            with testing.ExpectLog("tornado.application" if web.__name__.startswith("tornado")
                                   else "eddy.application", "Uncaught exception"):
                self.assertEqual(self.fetch("/crash").code, 500)

        def test_expect_log_missing(self):  # fails on both: nothing was logged
            with testing.ExpectLog("some.logger", "never"):
                pass

        @testing.gen_test
        async def test_gen(self):
            r = await self.http_client.fetch(self.get_url("/"))
            self.assertEqual(r.body, b"hello x")
            await gen.sleep(0.01)

        @testing.gen_test(timeout=0.05)
        async def test_gen_timeout(self):  # fails on both: it sleeps past its timeout
            await gen.sleep(5)

        def test_stop_wait(self):
            self.io_loop.call_later(0.01, self.stop, "done")
            self.assertEqual(self.wait(), "done")
            self.io_loop.add_callback(self.stop, a=1)
            self.assertEqual(self.wait(), {"a": 1})

        def test_wait_timeout(self):  # fails on both: nothing calls stop()
            self.wait(timeout=0.05)

        def test_fresh_loop(self):
            self.assertIs(type(self.io_loop).current(), self.io_loop)

    return Cases


def make_https_suite(testing, web):
    class Hello(web.RequestHandler):
        def get(self):
            self.write("%s %s" % (self.request.protocol, self.get_argument("n", "x")))

    class HttpsCases(testing.AsyncHTTPSTestCase):
        def get_app(self):
            return web.Application([(r"/", Hello)])

        def test_fetch_over_https(self):
            self.assertTrue(self.get_url("/p").startswith("https://127.0.0.1:"))
            r = self.fetch("/?n=1")
            self.assertEqual((r.code, r.body), (200, b"https 1"))

        def test_certificate_is_not_trusted_by_default(self):  # fails on both
            self.fetch("/", raise_error=True, validate_cert=True)

        def test_ssl_options(self):
            options = self.get_ssl_options()
            self.assertTrue(os.path.exists(options["certfile"]))
            self.assertTrue(os.path.exists(options["keyfile"]))

    return HttpsCases


# The failures are expected: their log lines go nowhere (but still reach ExpectLog's filter).
logging.getLogger().addHandler(logging.NullHandler())


def outcomes(case_class):
    """{test name: "ok" | "fail" | "error"}."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case_class)
    out = {test.id().rsplit(".", 1)[-1]: "ok" for test in suite}  # (run() empties the suite)
    result = unittest.TestResult()
    suite.run(result)
    for test, trace in result.failures:
        out[test.id().rsplit(".", 1)[-1]] = "fail"
    for test, trace in result.errors:
        out[test.id().rsplit(".", 1)[-1]] = "error: " + trace.strip().splitlines()[-1]
    return out


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class SameOutcomes(unittest.TestCase):
    maxDiff = None

    def test_suite(self):
        theirs = outcomes(make_suite(tornado.testing, tornado.web, tornado.gen))
        mine = outcomes(make_suite(eddy.testing, eddy.web, eddy.gen))
        self.assertEqual(mine, theirs)
        # The suite really exercises both ends: passing and failing tests.
        self.assertEqual(sorted(k for k, v in mine.items() if v != "ok"),
                         ["test_expect_log_missing", "test_gen_timeout", "test_wait_timeout"])

    def test_https_suite(self):
        theirs = outcomes(make_https_suite(tornado.testing, tornado.web))
        mine = outcomes(make_https_suite(eddy.testing, eddy.web))
        # Both refuse the untrusted certificate, with their own exception types.
        for outcome in (theirs, mine):
            self.assertTrue(outcome["test_certificate_is_not_trusted_by_default"] != "ok")
            outcome["test_certificate_is_not_trusted_by_default"] = "refused"
        self.assertEqual(mine, theirs)
        self.assertEqual(mine["test_fetch_over_https"], "ok")


if __name__ == "__main__":
    unittest.main()
