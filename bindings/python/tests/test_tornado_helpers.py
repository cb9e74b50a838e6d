"""escape, httputil and template helpers: the same inputs through tornado's and eddy's, same
outputs; and HTTPServer's listen/bind/start/add_sockets over real sockets."""

import asyncio
import datetime
import http.client
import os
import select
import socket
import ssl
import sys
import tempfile
import time
import unittest

import support

import eddy.escape
import eddy.httpserver
import eddy.httputil
import eddy.options
import eddy.template
import eddy.web

try:
    import tornado.escape
    import tornado.httputil
    import tornado.options
    import tornado.template
except ImportError:  # CI installs python3-tornado (scripts/deps/core.txt)
    tornado = None

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
from raw_conn import RawHttpConnection  # noqa: E402
import tls_certs  # noqa: E402

MULTIPART = (b'--1234\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n'
             b'--1234\r\nContent-Disposition: form-data; name="files"; filename="ab.txt"\r\n'
             b'Content-Type: text/plain\r\n\r\nfile\r\nbody\r\n'
             b'--1234\r\nContent-Disposition: form-data; name="title"\r\n\r\nagain\r\n--1234--\r\n')


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class SameOutput(unittest.TestCase):
    def same(self, fn_name, *args, module="httputil", **kwargs):
        theirs = getattr(getattr(tornado, module), fn_name)(*args, **kwargs)
        mine = getattr(getattr(eddy, module), fn_name)(*args, **kwargs)
        self.assertEqual(mine, theirs, "%s%r" % (fn_name, args))
        return mine

    def test_escape(self):
        for value in ("<a href='x'>&amp;</a>", "plain", "é\"", b"bytes<"):
            self.same("xhtml_escape", value, module="escape")
        for value in ("a b&c=d/é", b"x y"):
            self.same("url_escape", value, module="escape")
            self.same("url_escape", value, plus=False, module="escape")
        self.same("url_unescape", "a+b%2Fc%C3%A9", module="escape")
        self.same("url_unescape", "a+b%2F", encoding=None, module="escape")
        self.same("url_unescape", "a+b", plus=False, module="escape")
        self.same("json_encode", {"a": "</script>", "b": [1, None]}, module="escape")
        self.same("json_decode", '{"a": [1, 2]}', module="escape")
        self.same("squeeze", "  a \t\n b  ", module="escape")
        self.same("parse_qs_bytes", "a=1&a=%FF&b=&c=x+y", module="escape")
        self.same("parse_qs_bytes", b"a=1&b=", keep_blank_values=True, module="escape")
        self.same("recursive_unicode", {b"k": [b"v", (b"t",)]}, module="escape")
        for text in ("see http://example.com/a?b=1&c=2 <now>.", "www.x.org/(a) and ftp://f/x",
                     "(http://p.org/x_(y)), 'https://q.org/\"z'", "no links here"):
            self.same("linkify", text, module="escape")
            self.same("linkify", text, require_protocol=True, extra_params='rel="nofollow"',
                      module="escape")
            self.same("linkify", text, permitted_protocols=["http", "ftp"],
                      extra_params=lambda href: 'class="ext"' if "x" in href else "",
                      module="escape")

    def test_httputil_functions(self):
        self.same("url_concat", "http://h/p?a=1", {"b": "2"})
        self.same("url_concat", "http://h/p", [("a", "1"), ("a", "2")])
        self.same("url_concat", "/p?x=1#frag", None)
        for netloc in ("example.com:8080", "example.com", "[::1]:80", "h:x"):
            self.same("split_host_and_port", netloc)
        self.same("parse_cookie", 'a=1; b="quoted"; c; d=x=y; ;e=')
        self.same("format_timestamp", 1600000000)
        self.same("format_timestamp", datetime.datetime(2020, 5, 6, 7, 8, 9))
        self.same("encode_username_password", "user", "pä")
        self.same("parse_request_start_line", "GET /a?b HTTP/1.1")
        self.same("parse_response_start_line", "HTTP/1.1 404 Not Found")
        for bad in ("GET /a", "GET /a HTTP/2"):
            with self.assertRaises(tornado.httputil.HTTPInputError):
                tornado.httputil.parse_request_start_line(bad)
            with self.assertRaises(eddy.httputil.HTTPInputError):
                eddy.httputil.parse_request_start_line(bad)
        self.assertEqual(sorted(eddy.httputil.qs_to_qsl({"a": [1, 2], "b": [3]})),
                         sorted(tornado.httputil.qs_to_qsl({"a": [1, 2], "b": [3]})))

    def test_hand_built_request(self):
        results = []
        for module in (tornado.httputil, eddy.httputil):
            headers = module.HTTPHeaders({"Host": "Example.com:8080", "Cookie": "a=1; b=2",
                                          "Content-Type": "application/x-www-form-urlencoded"})
            r = module.HTTPServerRequest(method="POST", uri="/p/a?x=1&x=2&e=", version="HTTP/1.1",
                                         headers=headers, body=b"f=3&x=4")
            r._parse_body()
            results.append((r.method, r.uri, r.path, r.query, r.version, r.host, r.host_name,
                            r.protocol, r.body, r.arguments, r.query_arguments,
                            r.body_arguments, sorted(r.cookies), r.full_url(),
                            r.request_time() >= 0))
        self.assertEqual(results[1], results[0])

    def test_headers(self):
        text = "Content-Type: text/html\r\nX-Multi: 1\r\nX-Multi: 2\r\nX-Long: a\r\n  b\r\n"
        mine = eddy.httputil.HTTPHeaders.parse(text)
        theirs = tornado.httputil.HTTPHeaders.parse(text)
        self.assertEqual(sorted(mine.get_all()), sorted(theirs.get_all()))
        self.assertEqual(mine["x-multi"], theirs["x-multi"])
        self.assertEqual(mine.get_list("X-MULTI"), theirs.get_list("X-MULTI"))
        self.assertEqual(mine["X-Long"], theirs["X-Long"])
        self.assertEqual(sorted(mine), sorted(theirs))

    def test_body_arguments(self):
        for ctype, body in (("application/x-www-form-urlencoded", b"a=1&a=2&b=&c=%20x"),
                            ("multipart/form-data; boundary=1234", MULTIPART),
                            ('multipart/form-data; boundary="1234"', MULTIPART),
                            ("multipart/form-data", MULTIPART),  # no boundary
                            ("multipart/form-data; boundary=1234", MULTIPART[:-10]),
                            ("multipart/form-data; boundary=1234",
                             MULTIPART.replace(b"form-data; name", b"inline; name")),
                            ("text/plain", b"a=1")):
            with self.subTest(ctype=ctype, body=body[-20:]):
                results = []
                for mod in (tornado.httputil, eddy.httputil):
                    arguments, files = {}, {}
                    try:
                        mod.parse_body_arguments(ctype, body, arguments, files)
                        error = None
                    except mod.HTTPInputError as e:
                        error = str(e)
                    results.append((arguments, {k: [(f.filename, f.body, f.content_type)
                                                    for f in v] for k, v in files.items()},
                                    error))
                self.assertEqual(results[1], results[0])


TEMPLATES = {
    "base.html": "<html>\n  <head><title>{% block title %}Default{% end %}</title></head>\n"
                 "  <body>\n    {% block body %}base body{% end %}\n"
                 "    {% include 'footer.html' %}\n  </body>\n</html>\n",
    "footer.html": "<footer>{{ footer }}   &   more</footer>",
    "page.html": "{% extends 'base.html' %}\n{% block title %}{{ title }}{% end %}\n"
                 "{% block body %}\n  <ul>\n  {% for i, item in enumerate(items) %}\n"
                 "    {% if i == 1 %}{% continue %}{% elif item == 'stop' %}{% break %}"
                 "{% else %}<li>{{ item }}</li>{% end %}\n  {% end %}\n  </ul>\n"
                 "  {% set total = sum(range(4)) %}total={{ total }}\n"
                 "  {% raw '<b>raw</b>' %} {{! not a tag }} {%! nor this %} {#! nor that #}\n"
                 "  {% apply shout %}  several    spaces  {% end %}\n"
                 "  {% comment ignored %}{# also ignored #}{{ json_encode({'a': '</x>'}) }}\n"
                 "  {% try %}{{ 1 / 0 }}{% except ZeroDivisionError %}div0{% finally %}!{% end %}\n"
                 "  {% while items %}{{ items.pop() }}{% end %}\n"
                 "  {% import math %}{% from os import path %}{{ math.floor(2.5) }}{{ path.sep }}\n"
                 "  {{ url_escape('a b') }} {{ linkify('x http://e.org/') }} {{ b'bytes' }}\n"
                 "  <pre>\n    kept   as is\n  </pre>\n{% end %}\n",
    "noescape.html": "{% autoescape None %}{{ '<i>' }}{% whitespace oneline %}a\n\n  b",
    "plain.txt": "keeps   all\n\n   whitespace {{ '<' }}",
    "sub/child.html": "{% extends '../base.html' %}{% block body %}child{% end %}",
}


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class SameTemplates(unittest.TestCase):
    def render(self, module, name, **loader_kwargs):
        loader = module.DictLoader(TEMPLATES, **loader_kwargs)
        return loader.load(name).generate(title="T<1>", items=["a", "skip", "c", "stop", "d"],
                                          footer="F&F", shout=lambda b: b.upper())

    def test_same_output(self):
        for name in TEMPLATES:
            for kwargs in ({}, {"autoescape": None}, {"whitespace": "all"}):
                with self.subTest(name=name, kwargs=kwargs):
                    self.assertEqual(self.render(eddy.template, name, **kwargs),
                                     self.render(tornado.template, name, **kwargs))

    def test_string_templates_and_errors(self):
        for text in ("a  {{ 1 + 1 }}\n\n b", "{{{ x }}}", "{ {x}", "x{", "{% if 1 %}{% end %}"):
            with self.subTest(text=text):
                self.assertEqual(eddy.template.Template(text).generate(x=1),
                                 tornado.template.Template(text).generate(x=1))
        for bad in ("{% if 1 %}", "{% end %}", "{% else %}", "{% for x in y %}{% except %}"
                    "{% end %}", "{% break %}", "{{ }}", "{% bogus %}", "{{ x", "{% x"):
            with self.subTest(bad=bad):
                self.assertRaises(tornado.template.ParseError, tornado.template.Template, bad)
                self.assertRaises(eddy.template.ParseError, eddy.template.Template, bad)


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class SameOptions(unittest.TestCase):
    def parser(self, module):
        p = module.OptionParser()
        p.define("port", default=8888, type=int, help="port", group="server")
        p.define("debug", default=False, group="app")
        p.define("name", default="x")
        p.define("ids", type=int, multiple=True)
        p.define("tags", type=str, multiple=True, default=["a"])
        p.define("ratio", type=float, default=0.5)
        p.define("wait", type=datetime.timedelta)
        p.define("with_underscore", default="u")
        seen = []
        p.define("watched", type=int, callback=seen.append)
        p.add_parse_callback(lambda: seen.append("parsed"))
        return p, seen

    def both(self, action):
        results = []
        for module in (tornado.options, eddy.options):
            p, seen = self.parser(module)
            try:
                out = action(p)
                results.append((out, sorted(p.as_dict().items(), key=str),
                                sorted(p.groups(), key=str), p.group_dict("server"), seen))
            except module.Error as e:
                results.append(("Error", str(e).split(":")[0]))
        self.assertEqual(results[1], results[0])

    def test_command_line(self):
        self.both(lambda p: p.parse_command_line(
            ["prog", "--port=80", "--debug", "--name=y", "--ids=1,3:5", "--tags=b,c",
             "--ratio=2.5", "--wait=1m 30s", "--with-underscore=v", "--watched=7", "rest", "--x"]))
        self.both(lambda p: p.parse_command_line(["prog", "--debug=false", "--", "--port=1"],
                                                 final=False))
        self.both(lambda p: p.parse_command_line(["prog", "--port"]))  # needs a value
        for wait in ("2h", "90", "1.5 min", "3 days", "1w 2d", "250ms"):
            self.both(lambda p: p.parse_command_line(["prog", "--wait=" + wait]))

    def test_config_file(self):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write("port = 81\nname = 'cfg'\nids = [4, 5]\ntags = 'p,q'\nunknown = 1\n"
                    "wait = '2h'\n")
        self.addCleanup(os.unlink, f.name)
        self.both(lambda p: p.parse_config_file(f.name))
        with open(f.name, "w") as out:
            out.write("port = 'eighty'\n")
        for module in (tornado.options, eddy.options):
            p, _ = self.parser(module)
            self.assertRaises(ValueError, p.parse_config_file, f.name)

    def test_attributes(self):
        for module in (tornado.options, eddy.options):
            p, seen = self.parser(module)
            p.port = 9
            p["name"] = "z"
            with self.assertRaises(module.Error):
                p.port = "nine"
            with self.assertRaises(AttributeError):
                p.nothing
            self.assertEqual((p.port, p.name, "port" in p, "with-underscore" in p, seen),
                             (9, "z", True, True, []))
        self.assertIn("logging", eddy.options.options)  # the global parser has them


class Hello(eddy.web.RequestHandler):
    def get(self):
        self.write("hello %d" % self.request.connection.stream.closed())


def request(port, method="GET", path="/", headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get(port, path="/"):
    return request(port, path=path)


class Listening(unittest.TestCase):
    def serve(self, start):
        """Runs start(app) on a fresh loop thread; returns (thread, app's port)."""
        box = {}

        def make_app():
            app = eddy.web.Application([(r"/", Hello)])
            box["port"] = start(app)
            return app

        thread = support.ServerThread(make_app)
        self.addCleanup(thread.stop)
        return box["port"]

    def test_reuse_port(self):
        port = self.serve(lambda app: app.listen(0, "127.0.0.1", reuse_port=True).port)
        second = self.serve(lambda app: app.listen(port, "127.0.0.1", reuse_port=True).port)
        self.assertEqual(second, port)
        self.assertEqual(get(port), (200, b"hello 0"))
        with self.assertRaises(OSError):  # without SO_REUSEPORT the port is taken
            self.serve(lambda app: app.listen(port, "127.0.0.1").port)

    def test_backlog_bind_start_add_sockets(self):
        port = self.serve(lambda app: app.listen(0, "127.0.0.1", backlog=16).port)
        self.assertEqual(get(port), (200, b"hello 0"))

        def bind_start(app):
            server = eddy.httpserver.HTTPServer(app)
            server.bind(0, "127.0.0.1")
            server.start()
            return server.port

        self.assertEqual(get(self.serve(bind_start)), (200, b"hello 0"))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        self.addCleanup(sock.close)

        def add_sockets(app):
            eddy.httpserver.HTTPServer(app).add_sockets([sock])
            return sock.getsockname()[1]

        self.assertEqual(get(self.serve(add_sockets)), (200, b"hello 0"))


class Scheme(eddy.web.RequestHandler):
    def get(self):
        self.write(self.request.protocol)

    def post(self):
        self.write("%d" % len(self.request.body))


class RemoteIP(eddy.web.RequestHandler):
    def get(self):
        self.write("%s %s" % (self.request.remote_ip, self.request.protocol))


class FormEcho(eddy.web.RequestHandler):
    def post(self):
        self.write("%r %r %r" % (sorted(self.request.body_arguments),
                                 sorted(self.request.files), self.request.body))


class ServerOptions(unittest.TestCase):
    """Tornado's HTTPServer keywords: protocol, max_buffer_size and chunk_size are honoured (or
    have nothing to set), and an unknown keyword is refused instead of ignored."""

    def serve(self, **options):
        thread = support.ServerThread(
            lambda: eddy.web.Application([(r"/", Scheme), (r"/ip", RemoteIP),
                                          (r"/form", FormEcho)]), **options)
        self.addCleanup(thread.stop)
        return thread.port

    def raw(self, port):
        conn = RawHttpConnection(port)
        self.addCleanup(conn.close)
        return conn

    def test_xheaders_from_a_trusted_downstream_only(self):
        port = self.serve(xheaders=True, trusted_downstream=["192.0.2.1", "127.0.0.1"])
        self.assertEqual(request(port, path="/ip", headers={"X-Real-IP": "203.0.113.7"}),
                         (200, b"203.0.113.7 http"))
        # X-Forwarded-For is read from the right, skipping the trusted proxies.
        self.assertEqual(request(port, path="/ip", headers={
            "X-Forwarded-For": "198.51.100.1, 127.0.0.1", "X-Forwarded-Proto": "https"}),
            (200, b"198.51.100.1 https"))
        # The peer (127.0.0.1) is not a trusted proxy: its headers are ignored.
        port = self.serve(xheaders=True, trusted_downstream=["192.0.2.1"])
        self.assertEqual(request(port, path="/ip", headers={
            "X-Real-IP": "203.0.113.7", "X-Forwarded-Proto": "https"}), (200, b"127.0.0.1 http"))
        for bad in (["not-an-ip"], "127.0.0.1", [1], ["unix"]):
            with self.assertRaises(ValueError, msg=bad):
                self.serve(xheaders=True, trusted_downstream=bad)
        # "unix:" trusts peers on a Unix socket only: a TCP peer stays unbelieved.
        port = self.serve(xheaders=True, trusted_downstream=["unix:"])
        self.assertEqual(request(port, path="/ip", headers={"X-Real-IP": "203.0.113.7"}),
                         (200, b"127.0.0.1 http"))

    def test_body_arguments(self):
        multipart = {"Content-Type": "multipart/form-data"}
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        # Off: form bodies are not decoded; each request reaches the handler, body unchanged.
        port = self.serve(body_arguments=False)
        self.assertEqual(request(port, "POST", "/form", multipart, b"not multipart"),
                         (200, b"[] [] b'not multipart'"))
        self.assertEqual(request(port, "POST", "/form", form, b"a=1"), (200, b"[] [] b'a=1'"))
        # The default (True, as Tornado): decoded, and a body that cannot be gets 400.
        port = self.serve()
        self.assertEqual(request(port, "POST", "/form", multipart, b"not multipart")[0], 400)
        self.assertEqual(request(port, "POST", "/form", form, b"a=1"),
                         (200, b"['a'] [] b'a=1'"))

    def test_max_header_size_gives_431(self):
        port = self.serve(max_header_size=1024)
        self.assertEqual(request(port, headers={"X-Big": "a" * 2000})[0], 431)
        self.assertEqual(request(port, headers={"X-Big": "a" * 900}), (200, b"http"))

    def test_header_timeout_gives_408_and_closes(self):
        port = self.serve(header_timeout=0.2)
        conn = self.raw(port)
        conn.send("GET / HTTP/1.1\r\nHost: t\r\n")  # the head never ends
        self.assertEqual(conn.response()[0], 408)
        self.assertTrue(conn.closed())
        self.assertEqual(request(port), (200, b"http"))

    def test_no_keep_alive(self):
        conn = self.raw(self.serve(no_keep_alive=True))
        conn.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, resp, body = conn.response()
        self.assertEqual((status, body), (200, b"http"))
        self.assertEqual(resp.getheader("Connection"), "close")
        self.assertTrue(conn.closed())

    def test_max_connections_closes_the_idle_one(self):
        port = self.serve(max_connections=1)
        first = self.raw(port)
        first.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(first.response()[2], b"http")
        self.assertEqual(request(port), (200, b"http"))
        self.assertTrue(first.closed())

    def test_protocol(self):
        self.assertEqual(request(self.serve()), (200, b"http"))
        port = self.serve(protocol="https")
        self.assertEqual(request(port), (200, b"https"))
        # With xheaders, a scheme the proxy names wins over `protocol` (Tornado's order).
        port = self.serve(protocol="https", xheaders=True)
        self.assertEqual(request(port), (200, b"https"))
        self.assertEqual(request(port, headers={"X-Forwarded-Proto": "http"}), (200, b"http"))
        self.assertEqual(request(port, headers={"X-Scheme": "http",
                                                "X-Forwarded-Proto": "https"}), (200, b"http"))
        self.assertEqual(request(port, headers={"X-Forwarded-Proto": "gopher"}), (200, b"https"))
        with self.assertRaises(ValueError):
            self.serve(protocol="ftp")

    def test_max_buffer_size_and_chunk_size(self):
        port = self.serve(max_buffer_size=10, chunk_size=4096)
        self.assertEqual(request(port, "POST", body=b"x" * 10), (200, b"10"))
        self.assertEqual(request(port, "POST", body=b"x" * 11)[0], 413)
        # max_body_size, when given, is the limit (max_buffer_size is only its default).
        port = self.serve(max_buffer_size=10, max_body_size=100)
        self.assertEqual(request(port, "POST", body=b"x" * 50), (200, b"50"))

    def test_max_body_memory_gives_503_and_closes(self):
        port = self.serve(max_body_memory=100000)
        # Its Content-Length does not fit in the bodies' budget: 503 and close, without waiting
        # for the body.
        conn = self.raw(port)
        conn.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n"
                  "Expect: 100-continue\r\n\r\n")
        self.assertEqual(conn.response()[0], 503)
        self.assertTrue(conn.closed())
        # One that fits is served.
        self.assertEqual(request(port, "POST", body=b"x" * 50000), (200, b"50000"))

    def test_body_min_rate_cuts_a_trickled_body(self):
        # 20000 bytes/s after 0.3 s: a body trickled at ~1000 bytes/s is cut with 408, though no
        # gap between its bytes comes near body_timeout (60 s).
        port = self.serve(body_min_rate=20000, body_min_rate_grace=0.3)
        conn = self.raw(port)
        conn.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if select.select([conn.sock], [], [], 0.05)[0]:
                break
            try:
                conn.send("x" * 50)
            except OSError:
                break
        self.assertLess(time.monotonic(), deadline, "a trickled body was never cut")
        self.assertEqual(conn.response()[0], 408)
        self.assertTrue(conn.closed())
        # One at the rate is served; 0 turns the minimum off.
        self.assertEqual(request(port, "POST", body=b"x" * 50000), (200, b"50000"))
        self.assertEqual(request(self.serve(body_min_rate=0), "POST", body=b"x"), (200, b"1"))
        for bad in ({"body_min_rate": -1}, {"body_min_rate": float("inf")},
                    {"body_min_rate_grace": float("nan")}, {"body_min_rate": "500"}):
            with self.assertRaises(ValueError, msg=bad):
                self.serve(**bad)

    def test_max_header_fields_and_refused_limits(self):
        # http.client sends Host and Accept-Encoding: two lines of its own.
        port = self.serve(max_header_fields=5)
        three = {"X-1": "a", "X-2": "b", "X-3": "c"}
        self.assertEqual(request(port, headers=three), (200, b"http"))
        self.assertEqual(request(port, headers=dict(three, **{"X-4": "d"}))[0], 431)
        conn = self.raw(port)  # exactly six field lines: 431 and close
        conn.send("GET / HTTP/1.1\r\nHost: t\r\n" + "".join("X-%d: v\r\n" % i for i in range(5))
                  + "\r\n")
        self.assertEqual(conn.response()[0], 431)
        self.assertTrue(conn.closed())
        # Values the server refuses raise instead of being dropped.
        app = eddy.web.Application([(r"/", Scheme)])
        for bad in ({"max_header_fields": 0}, {"max_header_size": 10}, {"body_timeout": -1},
                    {"max_body_size": -1}, {"max_body_memory": -1}, {"header_timeout": -1},
                    {"max_connections": -1}, {"idle_connection_timeout": float("nan")}):
            with self.assertRaises(ValueError, msg=bad):
                eddy.httpserver.HTTPServer(app, **bad)

    def test_server_header_and_proxy_protocol(self):
        status, resp, _ = self.raw_get(self.serve(server_header="edge/2"))
        self.assertEqual((status, resp.getheader("Server")), (200, "edge/2"))
        status, resp, _ = self.raw_get(self.serve(server_header=False))
        self.assertEqual((status, resp.getheader("Server")), (200, None))
        port = self.serve(proxy_protocol=True)
        conn = self.raw(port)
        conn.send("PROXY TCP4 10.9.8.7 127.0.0.1 5555 80\r\nGET /ip HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(conn.response()[::2], (200, b"10.9.8.7 http"))
        conn = self.raw(port)  # without the PROXY header: closed unanswered (http.h)
        conn.send("GET /ip HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(conn.closed())
        app = eddy.web.Application([(r"/", Scheme)])
        for bad in ({"server_header": "a\r\nb"}, {"server_header": 3}):
            with self.assertRaises(ValueError, msg=bad):
                eddy.httpserver.HTTPServer(app, **bad)

    def test_proxy_protocol_in_front_of_tls(self):
        # A proxy passing TLS through (HAProxy mode tcp + send-proxy): the PROXY header, then
        # the client's handshake, on one socket; the header's address is the request's.
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        certs = tls_certs.make_certs(tmp.name)
        port = self.serve(proxy_protocol=True,
                          ssl_options={"certfile": certs["server.crt"],
                                       "keyfile": certs["server.key"]})
        context = ssl.create_default_context(cafile=certs["ca.crt"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"PROXY TCP4 10.9.8.7 127.0.0.1 5555 443\r\n")
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /ip HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                answer = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        self.assertTrue(answer.endswith(b"\r\n\r\n10.9.8.7 https"), answer)

    def test_a_refused_call_leaves_the_server_as_it_was(self):
        # A call refused for one option must leave nothing that a later correct listen()
        # serves with (PROXY protocol on, TLS on, a trusted proxy list that makes X-Real-IP
        # ignored, a 1 KiB head limit, another Server header).
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        certs = tls_certs.make_certs(tmp.name)
        tls = {"certfile": certs["server.crt"], "keyfile": certs["server.key"]}
        refusals = []

        def make_app():
            app = eddy.web.Application([(r"/", Scheme), (r"/ip", RemoteIP)])
            for options, name in (
                    (dict(proxy_protocol=True, max_body_size=-1), "max_body_size"),
                    (dict(proxy_protocol=True, max_body_size="10"), "max_body_size"),
                    (dict(ssl_options=tls, proxy_protocol=True, max_body_size=-1),
                     "max_body_size"),
                    (dict(server_header="edge/2", max_header_size=10), "max_header_size"),
                    (dict(max_header_size=1024, trusted_downstream=["not-an-ip"]),
                     "trusted_downstream"),
                    (dict(trusted_downstream=["192.0.2.1", "127.0.0.1\0"]),
                     "trusted_downstream"),
                    (dict(server_header="edge/3", max_buffer_size=-5), "max_buffer_size"),
                    (dict(max_header_size=1024, header_timeout=float("nan")),
                     "header_timeout")):
                try:
                    eddy.httpserver.HTTPServer(app, **options)
                    refusals.append((name, "accepted"))
                except (ValueError, TypeError) as e:
                    refusals.append((name, "%s: %s" % (type(e).__name__, e)))
            return app

        thread = support.ServerThread(make_app, xheaders=True)  # then a correct call
        self.addCleanup(thread.stop)
        # Plain HTTP without a PROXY header is served; the default Server header is sent.
        status, resp, body = self.raw_get(thread.port)
        self.assertEqual((status, body), (200, b"http"))
        self.assertTrue(resp.getheader("Server").startswith("eddy/"), resp.getheader("Server"))
        self.assertEqual(request(thread.port, headers={"X-Big": "a" * 2000}), (200, b"http"))
        # No trusted proxy was added: every peer's X-Real-IP is believed (xheaders=True).
        self.assertEqual(request(thread.port, path="/ip", headers={"X-Real-IP": "203.0.113.7"}),
                         (200, b"203.0.113.7 http"))
        # Each call was refused with a ValueError naming the option.
        for name, message in refusals:
            self.assertIn("ValueError: " + name, message)

    def test_servers_of_one_application_keep_their_own_options(self):
        # As in Tornado: HTTPServer(app) twice gives two servers, plain HTTP and HTTPS at once,
        # each with its own options (nothing carried over from the other, defaults included),
        # both serving the same routes; stopping one leaves the other serving.
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        certs = tls_certs.make_certs(tmp.name)
        box = {}

        def make_app():
            app = eddy.web.Application([(r"/", Scheme), (r"/ip", RemoteIP)])
            https = app.listen(0, "127.0.0.1", server_header="tls/1", max_body_size=10,
                               ssl_options={"certfile": certs["server.crt"],
                                            "keyfile": certs["server.key"]})
            box["https"] = https
            box["https_port"] = https.port
            return app

        thread = support.ServerThread(make_app)  # the plain one, with every default
        self.addCleanup(thread.stop)
        context = ssl.create_default_context(cafile=certs["ca.crt"])

        def https_request(method="GET", path="/", body=None):
            conn = http.client.HTTPSConnection("127.0.0.1", box["https_port"], timeout=10,
                                               context=context)
            try:
                conn.request(method, path, body)
                resp = conn.getresponse()
                return resp.status, resp.getheader("Server"), resp.read()
            finally:
                conn.close()

        self.assertEqual(https_request(), (200, "tls/1", b"https"))
        self.assertEqual(https_request("POST", body=b"x" * 11)[0], 413)
        status, resp, body = self.raw_get(thread.port)
        self.assertEqual((status, body), (200, b"http"))
        self.assertTrue(resp.getheader("Server").startswith("eddy/"), resp.getheader("Server"))
        self.assertEqual(request(thread.port, "POST", body=b"x" * 11), (200, b"11"))
        thread.call(box["https"].stop)
        with self.assertRaises(OSError):
            https_request()
        self.assertEqual(request(thread.port, path="/ip"), (200, b"127.0.0.1 http"))

    def test_serving_after_the_application_closed(self):
        # The C server goes with its application: after close() an HTTPServer of it refuses
        # to serve (RuntimeError) instead of using freed memory, and an fd given to it is closed.
        def closed_app():
            app = eddy.web.Application([(r"/", Scheme)])
            box["server"] = eddy.httpserver.HTTPServer(app)
            app.close()
            for call in (lambda: box["server"].listen(0, "127.0.0.1"),
                         lambda: box["server"].add_socket(box["fd"])):
                try:
                    call()
                    box.setdefault("results", []).append("served")
                except RuntimeError as e:
                    box.setdefault("results", []).append(str(e))
            try:
                os.fstat(box["fd"])
                box["fd_closed"] = False
            except OSError:
                box["fd_closed"] = True
            return eddy.web.Application([(r"/", Scheme)])

        box = {"fd": socket.socket().detach()}
        thread = support.ServerThread(closed_app)
        self.addCleanup(thread.stop)
        self.assertEqual(box["results"], ["HTTPServer: its application was closed"] * 2)
        self.assertTrue(box["fd_closed"])  # by add_socket

    def raw_get(self, port):
        conn = self.raw(port)
        conn.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        return conn.response()

    def test_unknown_keyword_is_refused(self):
        app = eddy.web.Application([(r"/", Scheme)])
        with self.assertRaises(TypeError) as cm:
            eddy.httpserver.HTTPServer(app, no_such_option=1)
        self.assertIn("no_such_option", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
