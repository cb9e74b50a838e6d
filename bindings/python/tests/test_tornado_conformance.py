"""The same handlers on python3-tornado and on eddy: every request must get the same answer.

`build_routes(web, gen)` defines the handlers against whichever `web` module it is given, so
the code served is identical; each case sends one request to both servers over http.client and
compares status, reason, body and the headers that carry meaning (Date, Server, Content-Length
and the hash inside an automatic Etag are implementation details and are left out)."""

import asyncio
import datetime
import http.client
import json
import logging
import os
import re
import tempfile
import threading
import time
import unittest
import urllib.parse

import support

import eddy.gen
import eddy.locale
import eddy.web

try:
    import tornado.gen
    import tornado.locale
    import tornado.ioloop
    import tornado.web
except ImportError:  # CI installs python3-tornado (scripts/deps/core.txt)
    tornado = None
# The expected errors of both servers would bury real failures.
logging.getLogger("tornado").setLevel(logging.CRITICAL)
logging.getLogger("eddy").setLevel(logging.CRITICAL)

STATIC_DIR = tempfile.mkdtemp(prefix="eddy-conf-static-")
with open(os.path.join(STATIC_DIR, "app.js"), "w") as _f:
    _f.write("console.log('static');\n")
with open(os.path.join(STATIC_DIR, "favicon.ico"), "wb") as _f:
    _f.write(bytes(range(256)))
os.mkdir(os.path.join(STATIC_DIR, "sub"))
with open(os.path.join(STATIC_DIR, "sub", "index.html"), "w") as _f:
    _f.write("<p>index</p>")
TEMPLATE_DIR = tempfile.mkdtemp(prefix="eddy-conf-templates-")
with open(os.path.join(TEMPLATE_DIR, "page.html"), "w") as _f:
    _f.write("<p>{{ name }}</p>{% for i in items %}<i>{{ i }}</i>{% end %}"
             "{% raw raw_html %}|{{ handler.settings['custom'] }}|{{ static_url('app.js') }}\n")

with open(os.path.join(TEMPLATE_DIR, "modules.html"), "w") as _f:
    _f.write("<html><head><title>m</title></head><body>\n"
             "{% module Entry('first') %}{% module Entry('second') %}\n"
             "{{ shout('quiet') }} {% module linkify('see http://example.com') %}\n"
             "{% module Template('entry_part.html', word='w<') %}\n"
             "{{ modules.Entry('via modules') }}</body></html>\n")
with open(os.path.join(TEMPLATE_DIR, "entry_part.html"), "w") as _f:
    _f.write("<p>{{ word }}</p>{{ set_resources(embedded_css='.part{}', "
             "javascript_files=['part.js', 'http://cdn.example/x.js']) }}")
with open(os.path.join(TEMPLATE_DIR, "locale.html"), "w") as _f:
    _f.write("{{ _('Hello') }}|{{ locale.code }}|{{ locale.list(['a', 'b', 'c']) }}|"
             "{{ _('%(n)d apple', '%(n)d apples', 2) % {'n': 2} }}|{{ pgettext('ctx', 'Hello') }}")
LOCALE_DIR = tempfile.mkdtemp(prefix="eddy-conf-locale-")
for _code, _rows in (("es", [("Hello", "Hola"), ("%(n)d apple", "%(n)d manzana", "singular"),
                             ("%(n)d apples", "%(n)d manzanas", "plural"),
                             ("%(commas)s and %(last)s", "%(commas)s y %(last)s")]),
                     ("fr_FR", [("Hello", "Bonjour"), ("bad", "row", "neither")])):
    with open(os.path.join(LOCALE_DIR, _code + ".csv"), "w") as _f:
        _f.write("\n".join(",".join('"%s"' % c for c in row) for row in _rows) + "\n")
SETTINGS = dict(static_path=STATIC_DIR, template_path=TEMPLATE_DIR, custom="from-settings",
                cookie_secret="conformance-secret")


def build_routes(web, gen):
    """Handlers written once, served by both implementations."""

    class RequestInfo(web.RequestHandler):
        def post(self):
            r = self.request
            self.write({
                "method": r.method, "uri": r.uri, "path": r.path, "query": r.query,
                "version": r.version, "ctype": r.headers.get("Content-Type"),
                "multi": r.headers.get_list("X-Multi"), "body": r.body.decode(),
                "remote_ip": r.remote_ip, "protocol": r.protocol, "host": r.host,
                "host_name": r.host_name, "full_url": r.full_url(),
                "arguments": {k: [v.decode() for v in vs] for k, vs in r.arguments.items()},
                "query_arguments": {k: [v.decode() for v in vs]
                                    for k, vs in r.query_arguments.items()},
                "body_arguments": {k: [v.decode() for v in vs]
                                   for k, vs in r.body_arguments.items()},
                "cookies": sorted(r.cookies), "request_time": r.request_time() >= 0,
                "files": {k: [(f.filename, f.body.decode(), f.content_type) for f in v]
                          for k, v in r.files.items()},
            })

        get = put = patch = delete = options = post

    class Arguments(web.RequestHandler):
        def post(self):
            self.write({
                "a": self.get_argument("a"), "all_a": self.get_arguments("a"),
                "q": self.get_query_argument("a", None), "qs": self.get_query_arguments("a"),
                "b": self.get_body_argument("b", None), "bs": self.get_body_arguments("b"),
                "strip": self.get_argument("s", None), "nostrip": self.get_argument("s", None,
                                                                                   strip=False),
                "nope": self.get_argument("nope", "default"), "none": self.get_arguments("nope"),
            })

        get = post

    class Missing(web.RequestHandler):
        def get(self):
            self.get_argument("needed")

    class Status(web.RequestHandler):
        def get(self):
            code = int(self.get_argument("code"))
            self.set_status(code, self.get_argument("reason", None))
            self.write("status=%d" % self.get_status())

    class Clear(web.RequestHandler):
        def get(self):
            self.set_header("X-Before", "1")
            self.set_status(404)
            self.write("junk")
            self.clear()
            self.write("clean %d" % self.get_status())

    class Headers(web.RequestHandler):
        def set_default_headers(self):
            self.set_header("X-Default", "d")
            self.set_header("X-Removed", "r")

        def get(self):
            self.add_header("X-Multi", "a")
            self.add_header("X-Multi", "b")
            self.set_header("X-Replace", "1")
            self.set_header("X-Replace", "2")
            self.clear_header("X-Removed")
            self.set_header("X-Int", 42)
            self.set_header("X-Date", datetime.datetime(2020, 1, 2, 3, 4, 5))
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.write("headers")

    class CustomError(web.RequestHandler):
        def write_error(self, status_code, **kwargs):
            exc = kwargs.get("exc_info", (None, None))[1]
            self.write("custom %d %s %s" % (status_code, self._reason,
                                            type(exc).__name__ if exc else "-"))

        def get(self, kind):
            if kind == "value":
                raise ValueError("boom")
            if kind == "http":
                raise web.HTTPError(418, "log %s", "only", reason="Short And Stout")
            if kind == "send":
                self.send_error(503, reason="Busy Now")
                return
            if kind == "finish":
                raise web.Finish("finished early")
            if kind == "list":
                self.write([1, 2])

    class PlainError(web.RequestHandler):
        def get(self, code):
            # The default error page escapes the reason; one with "<" is sent as "Unknown".
            raise web.HTTPError(int(code), reason=self.get_argument("reason", None))

    class Redirect(web.RequestHandler):
        def get(self):
            kind = self.get_argument("kind")
            if kind == "perm":
                self.redirect("/target", permanent=True)
            elif kind == "status":
                self.redirect("/target?x=1", status=307)
            elif kind.isdigit():  # any 3xx, as Tornado's redirect() takes
                self.redirect("/target", status=int(kind))
            else:
                self.redirect("/target")

    class Etag(web.RequestHandler):
        def get(self):
            self.write("etag body")

    class NoEtag(web.RequestHandler):
        def compute_etag(self):
            return None

        def get(self):
            self.write("no etag")

    class CustomEtag(web.RequestHandler):
        def compute_etag(self):
            return '"v-%s"' % self.get_argument("v")

        def get(self):
            self.write("custom etag")

    class ManualEtag(web.RequestHandler):
        def get(self):
            self.set_etag_header()
            self.write({"checked": self.check_etag_header()})

        def compute_etag(self):
            return '"manual"'

    class Decode(web.RequestHandler):
        def decode_argument(self, value, name=None):
            return "<%s:%s>" % (name, value.decode())

        def get(self, part):
            self.write("%s %s" % (part, self.get_argument("x")))

    class Reverse(web.RequestHandler):
        def get(self):
            self.write(self.reverse_url("named", 42, "x y") + " "
                       + self.reverse_url("named", b"b y\xff", "\u00e9"))

    class Named(web.RequestHandler):
        def initialize(self, prefix):
            self.prefix = prefix

        def get(self, number, word):
            self.write("%s %s %s" % (self.prefix, number, word))

    class Kwargs(web.RequestHandler):
        def get(self, first, second):
            self.write({"first": first, "second": second, "kw": self.path_kwargs,
                        "args": list(self.path_args)})

    class FinishDict(web.RequestHandler):
        def get(self):
            self.finish({"a": [1, "</script>"]})

    class NotFound(web.RequestHandler):
        def prepare(self):
            self.set_status(404)
            self.finish("custom 404 for " + self.request.path)

    class Slashes(web.RequestHandler):
        @web.addslash
        def get(self):
            self.write("with slash")

    class NoSlash(web.RequestHandler):
        @web.removeslash
        def get(self):
            self.write("without slash")

    class NeedsSetting(web.RequestHandler):
        def get(self):
            self.require_setting("not_there", "a test")

    class Settings(web.RequestHandler):
        def get(self):
            self.write({"custom": self.settings["custom"], "static": self.static_url("app.js"),
                        "static_nov": self.static_url("app.js", include_version=False),
                        "abs": self.static_url("app.js", include_host=True)})

    class Render(web.RequestHandler):
        def get(self):
            self.render("page.html", name="<b>", items=[1, "&"], raw_html="<br>")

    class Signed(web.RequestHandler):
        def get(self):
            if self.get_argument("set", None):
                self.set_secure_cookie("s", self.get_argument("set"))
                return
            if self.get_argument("attrs", None):
                self.set_secure_cookie("s", self.get_argument("attrs"), expires_days=None,
                                       path="/signed", httponly=True)
                self.set_secure_cookie("v1", "old", version=1, expires_days=2)
                return
            self.write({
                "from_request": (self.get_secure_cookie("s") or b"").decode(),
                "given": (self.get_secure_cookie("s", value=self.get_argument("v", "")) or
                          b"").decode(),
                "min2": (self.get_secure_cookie("s", min_version=2) or b"").decode(),
                "max_age": (self.get_secure_cookie(
                    "s", max_age_days=float(self.get_argument("max_age_days", 31))) or
                            b"").decode(),
                "version": self.get_secure_cookie_key_version("s"),
                "roundtrip": self.get_secure_cookie(
                    "n", value=self.create_signed_value("n", "made")).decode(),
            })

    class Cookies(web.RequestHandler):
        def get(self):
            self.set_cookie("plain", "v1")
            self.set_cookie("opts", "v2", domain="example.com", path="/p", httponly=True,
                            secure=True, samesite="Lax", max_age=60)
            self.clear_cookie("old")
            self.write({"seen": self.get_cookie("c"), "none": self.get_cookie("x", "dflt"),
                        "all": sorted((k, v.value) for k, v in self.cookies.items())})

    class Async(web.RequestHandler):
        async def get(self):
            await gen.sleep(0.01)
            self.write("slept")

    class Head(web.RequestHandler):
        def head(self):
            self.set_header("X-Head", "1")

        def get(self):
            self.write("get body")

    class Misc(web.RequestHandler):
        async def prepare(self):
            kind = self.get_argument("kind", "")
            if kind == "prepare_error":
                raise web.HTTPError(409)
            if kind == "prepare_finish":
                await gen.sleep(0)
                self.finish("finished in prepare")

        def get(self):
            kind = self.get_argument("kind", "")
            if kind == "chunks":
                self.write("one,")
                self.flush()
                self.write("two,")
                self.finish("three")
            elif kind == "bad_status":
                self.set_status(1000)
            elif kind == "bad_redirect":
                self.redirect("/x", status=200)
            elif kind == "bad_header":
                self.set_header("X-Bad", "a\r\nb")
            elif kind == "none":
                self.write(None)
            elif kind == "blank":
                self.write({"a": self.get_argument("a", "dflt"), "args": {
                    k: [v.decode() for v in vs] for k, vs in self.request.arguments.items()}})
            elif kind == "twice":
                self.finish("once")
                self.finish("twice")
            elif kind == "status_after_write":
                self.write("body first ")
                self.set_status(202)
                self.write(str(self.get_status()))
            elif kind == "header_types":
                self.set_header("X-Bytes", b"raw")
                self.write("ok")
            elif kind == "no_content":
                self.set_header("Content-Language", "en")
                self.set_status(204)
            elif kind == "float_header":
                self.set_header("X-Float", 1.5)

    class NoCache(web.StaticFileHandler):
        def set_extra_headers(self, path):
            self.set_header("X-Static", path)

    class OnlyGet(web.RequestHandler):
        def get(self):
            self.write("only get")

    return [
        web.url(r"/req", RequestInfo),
        (r"/args", Arguments),
        (r"/missing", Missing),
        (r"/status", Status),
        (r"/clear", Clear),
        (r"/headers", Headers),
        (r"/custom_error/(\w+)", CustomError),
        (r"/plain_error/(\d+)", PlainError),
        (r"/redirect", Redirect),
        (r"/etag", Etag),
        (r"/noetag", NoEtag),
        (r"/custometag", CustomEtag),
        (r"/manualetag", ManualEtag),
        (r"/decode/(\w+)", Decode),
        (r"/reverse", Reverse),
        web.url(r"/named/(\d+)/([^/]+)", Named, dict(prefix="n"), name="named"),
        (r"/kw/(?P<first>\w+)/(?P<second>\w+)", Kwargs),
        (r"/finish_dict", FinishDict),
        (r"/slash/?", Slashes),
        (r"/noslash/?", NoSlash),
        (r"/needs_setting", NeedsSetting),
        (r"/settings", Settings),
        (r"/render", Render),
        (r"/cookies", Cookies),
        (r"/signed", Signed),
        (r"/async", Async),
        (r"/head", Head),
        (r"/only_get", OnlyGet),
        (r"/nocache/(.*)", NoCache, dict(path=STATIC_DIR, default_filename="index.html")),
        (r"/misc", Misc),
        (r"/go/(\w+)", web.RedirectHandler, dict(url="/gone/{0}")),
        (r"/gone_forever", web.ErrorHandler, dict(status_code=410)),
    ], NotFound


def build_hosts(web):
    """add_handlers() after construction: host patterns, tried before the constructor's."""

    class Host(web.RequestHandler):
        def initialize(self, tag):
            self.tag = tag

        def get(self, *args):
            self.write("%s %s %s" % (self.tag, self.request.host_name, list(args)))

    return [
        (r"vhost\.test", [(r"/vhost", Host, dict(tag="vhost")),
                          (r"/finish_dict", Host, dict(tag="shadow"))]),
        (r".*\.other\.test", [(r"/other/(\w+)", Host, dict(tag="other"))]),
    ]


def build_ui(web):
    class Entry(web.UIModule):
        def render(self, title):
            return "<div class='entry'>%s by %s</div>" % (title, type(self.handler).__name__)

        def embedded_css(self):
            return ".entry { color: red }"

        def css_files(self):
            return ["entry.css", "/abs/entry.css"]

        def embedded_javascript(self):
            return "var entries = 1;"

        def javascript_files(self):
            return "entry.js"

        def html_head(self):
            return "<meta name='entry'>"

        def html_body(self):
            return "<!-- entry -->"

    def shout(handler, text):
        return text.upper() + "/" + handler.request.method

    class Localized(web.RequestHandler):
        def get(self):
            if self.get_argument("render", None):
                self.render("locale.html")
                return
            self.write({"code": self.locale.code, "rtl": self.locale.rtl,
                        "hello": self.locale.translate("Hello"),
                        "one": self.locale.translate("%(n)d apple", "%(n)d apples", 1)})

    class Modules(web.RequestHandler):
        def get(self):
            self.render("modules.html")

    return (dict(ui_modules={"Entry": Entry}, ui_methods={"shout": shout}),
            [(r"/modules", Modules), (r"/locale", Localized)])


def make_application(web, gen, log):
    routes, default = build_routes(web, gen)
    ui_settings, ui_routes = build_ui(web)
    app = web.Application(routes + ui_routes, default_handler_class=default,
                          default_host="vhost.test", log_function=lambda h: log.append(
                              (h.get_status(), h.request.method, h.request.uri)),
                          **ui_settings, **SETTINGS)
    for host, specs in build_hosts(web):
        app.add_handlers(host, specs)
    return app


def make_xsrf_application(web, gen, log):
    """xsrf_cookies on: the default check, a class that exempts itself, one with its own."""

    class Protected(web.RequestHandler):
        def post(self):
            self.write("protected ok")

        def get(self):
            self.write("get needs no token")

    class Exempt(web.RequestHandler):
        def check_xsrf_cookie(self):
            pass

        def post(self):
            self.write("exempt ok")

    class Custom(web.RequestHandler):
        def check_xsrf_cookie(self):
            if self.request.headers.get("X-Ok") != "yes":
                raise web.HTTPError(418, reason="No X-Ok")

        def prepare(self):
            self.write("prepared ")

        def post(self):
            self.write("custom ok")

    @web.stream_request_body
    class Streamed(Exempt):
        def data_received(self, chunk):
            pass

    return web.Application([(r"/protected", Protected), (r"/exempt", Exempt),
                            (r"/custom", Custom), (r"/streamed", Streamed)], xsrf_cookies=True)


LIVE_DIR = tempfile.mkdtemp(prefix="eddy-conf-live-")


def make_debug_application(web, gen, log):
    """debug=True: templates and static hashes are read again for each request."""

    class Live(web.RequestHandler):
        def get(self):
            self.render("live.html")

    return web.Application([(r"/live", Live)], debug=True, autoreload=False,
                           template_path=LIVE_DIR, static_path=LIVE_DIR)


# Headers compared on every answer (the others are implementation details).
COMPARED = ("content-type", "location", "etag", "set-cookie", "vary", "content-encoding",
            "cache-control", "accept-ranges", "content-range", "last-modified", "content-length")


# Reason phrases RFC 9110 renamed: eddy's C layer sends the new ones, Tornado the ones of the
# running Python's http.client table (the old ones before Python 3.13).
RENAMED_REASONS = {"Request Entity Too Large": "Content Too Large",
                   "Request-URI Too Long": "URI Too Long",
                   "Requested Range Not Satisfiable": "Range Not Satisfiable",
                   "Unprocessable Entity": "Unprocessable Content"}


def _normalize(name, value):
    if name == "set-cookie":
        # Expiry dates depend on the clock: keep the attribute, not the date. Attribute order
        # carries no meaning; a deleted cookie is `n=""; expires=<past>` in Tornado and
        # `n=; expires=<past>; Max-Age=0` in eddy, which browsers treat the same.
        first, *attrs = [a.strip() for a in value.split(";")]
        attrs = sorted(re.sub(r"(?i)^expires=.*", "expires=<date>", a) for a in attrs
                       if a != "Max-Age=0")
        return "; ".join([first.replace('=""', "=")] + attrs)
    return value


class TornadoThread:
    """python3-tornado serving `routes` on 127.0.0.1:<free port>, on a plain asyncio loop."""

    def __init__(self, make_app):
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make_app,), daemon=True)
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("tornado did not start")

    def _run(self, make_app):
        self.aloop = asyncio.SelectorEventLoop()
        asyncio.set_event_loop(self.aloop)

        async def start():
            app = make_app()
            self.server = app.listen(0, "127.0.0.1")
            self.port = list(self.server._sockets.values())[0].getsockname()[1]

        self.aloop.run_until_complete(start())
        self.ready.set()
        self.aloop.run_forever()
        self.server.stop()
        # Let keep-alive connections end so no task is left pending when the loop closes.
        self.aloop.run_until_complete(asyncio.wait_for(self.server.close_all_connections(), 10))
        self.aloop.close()

    def stop(self):
        self.aloop.call_soon_threadsafe(self.aloop.stop)
        self.thread.join(20)


def fetch(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(headers or {})
    headers.setdefault("Host", "conformance.test:8000")  # the same on both servers
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        hdrs = {}
        for name, value in resp.getheaders():
            name = name.lower()
            if name in COMPARED or name.startswith("x-"):
                hdrs.setdefault(name, []).append(_normalize(name, value))
        return {"status": resp.status, "reason": RENAMED_REASONS.get(resp.reason, resp.reason),
                "headers": hdrs,
                "body": resp.read()}
    finally:
        conn.close()


class ServerPair(unittest.TestCase):
    """Serves make_app(web, gen, log) on python3-tornado and on eddy for the class's tests."""

    maxDiff = None
    make_app = staticmethod(make_application)

    @classmethod
    def setUpClass(cls):
        tornado.locale.load_translations(LOCALE_DIR)
        eddy.locale.load_translations(LOCALE_DIR)
        cls.tornado_log, cls.eddy_log = [], []
        cls.tornado = TornadoThread(
            lambda: cls.make_app(tornado.web, tornado.gen, cls.tornado_log))
        cls.eddy = support.ServerThread(
            lambda: cls.make_app(eddy.web, eddy.gen, cls.eddy_log))

    @classmethod
    def tearDownClass(cls):
        cls.tornado.stop()
        cls.eddy.stop()

    def same(self, method, path, body=None, headers=None, etag=False):
        """Sends the request to both; asserts equal answers and returns eddy's."""
        t = fetch(self.tornado.port, method, path, body, headers)
        e = fetch(self.eddy.port, method, path, body, headers)
        if not etag:  # automatic Etags are hashes (SHA-1 in Tornado): compare their presence
            for answer in (t, e):
                if "etag" in answer["headers"]:
                    answer["headers"]["etag"] = ["<hash>"]
        with self.subTest(method=method, path=path, headers=headers):
            self.assertEqual(e, t)
        return e


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class XsrfConformance(ServerPair):
    make_app = staticmethod(make_xsrf_application)

    def test_xsrf(self):
        token = {"Cookie": "_xsrf=abc123", "X-Xsrftoken": "abc123"}
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for path in ("/protected", "/exempt", "/custom", "/streamed"):
            self.same("POST", path, body="a=1", headers=form)
            self.same("POST", path, body="a=1", headers=dict(token, **form))
            self.same("POST", path, body="_xsrf=abc123", headers=dict(form, Cookie="_xsrf=abc123"))
            self.same("POST", path, body="a=1", headers=dict(form, **{"X-Ok": "yes"}))
        self.same("GET", "/protected")
        self.same("POST", "/protected", body="a", headers={"Cookie": "_xsrf=abc123",
                                                           "X-Xsrftoken": "wrong"})


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class DebugConformance(ServerPair):
    make_app = staticmethod(make_debug_application)

    def test_templates_and_static_hashes_reload(self):
        for version in ("one", "two"):
            with open(os.path.join(LIVE_DIR, "live.html"), "w") as f:
                f.write("version %s {{ static_url('s.css') }}" % version)
            with open(os.path.join(LIVE_DIR, "s.css"), "w") as f:
                f.write("/* %s */" % version)
            self.assertIn(b"version " + version.encode(), self.same("GET", "/live")["body"])


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class Conformance(ServerPair):

    def test_request_attributes(self):
        self.same("POST", "/req?a=1&a=2&q=%C3%A9", body="a=3&b=x+y",
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "X-Multi": "1", "Cookie": "c1=1; c2=2"})
        self.same("GET", "/req?only=query", headers={"Host": "example.com:8080"})
        for method in ("PUT", "PATCH", "DELETE", "OPTIONS"):
            self.same(method, "/req?m=1", body="" if method != "DELETE" else None)
        boundary = "XyZ"
        multipart = ("--XyZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"up\"; filename=\"f.txt\""
                     "\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n")
        self.same("POST", "/req", body=multipart,
                  headers={"Content-Type": "multipart/form-data; boundary=" + boundary})

    def test_arguments(self):
        self.same("POST", "/args?a=1&a=2&s=%20%20pad%20", body="a=3&b=4&b=5",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.same("GET", "/args?a=ctl%01char")
        self.same("GET", "/args")  # missing `a`: 400
        self.same("GET", "/missing")
        self.same("GET", "/args?a=%FF")  # invalid UTF-8: 400

    def test_status_and_reason(self):
        self.same("GET", "/status?code=201")
        self.same("GET", "/status?code=299&reason=Custom%20Reason")
        self.same("GET", "/status?code=404")

    def test_clear_and_headers(self):
        self.same("GET", "/clear")
        self.same("GET", "/headers")

    def test_errors(self):
        for kind in ("value", "http", "send", "finish", "list"):
            self.same("GET", "/custom_error/" + kind)
        for code in ("400", "403", "404", "405", "500", "503"):
            self.same("GET", "/plain_error/" + code)
        for reason in ("Fish%20%26%20Chips", "Say%20%22hi%22%20it's", "Bad%20%3Cname%3E"):
            self.same("GET", "/plain_error/400?reason=" + reason)

    def test_redirects(self):
        for kind in ("plain", "perm", "status", "300", "305", "399"):
            self.same("GET", "/redirect?kind=" + kind)
        self.same("GET", "/go/abc?keep=1&keep=2")
        self.same("GET", "/gone_forever")
        self.same("GET", "/slash")
        self.same("GET", "/slash?q=1")
        self.same("GET", "/slash/")
        self.same("POST", "/slash", body="")
        self.same("GET", "/noslash/?q=1")
        self.same("GET", "/noslash")

    def revalidate(self, path, tag=lambda etag: etag):
        """Each server gets its own Etag back in If-None-Match (the hashes differ)."""
        answers = []
        for port in (self.tornado.port, self.eddy.port):
            etag = fetch(port, "GET", path)["headers"]["etag"][0]
            answer = fetch(port, "GET", path, headers={"If-None-Match": tag(etag)})
            answer["headers"].pop("etag", None)
            answers.append(answer)
        self.assertEqual(answers[1], answers[0], path)
        return answers[1]

    def test_etags(self):
        self.assertEqual(self.same("GET", "/etag")["status"], 200)
        self.assertEqual(self.revalidate("/etag")["status"], 304)
        self.assertEqual(self.revalidate("/etag", lambda e: '"x", W/' + e)["status"], 304)
        self.assertEqual(self.revalidate("/etag", lambda e: '"other"')["status"], 200)
        self.same("GET", "/etag", headers={"If-None-Match": "*"})
        self.same("GET", "/noetag", etag=True)
        self.same("GET", "/custometag?v=1", etag=True)
        self.same("GET", "/custometag?v=1", headers={"If-None-Match": '"v-1"'}, etag=True)
        self.same("GET", "/custometag?v=2", headers={"If-None-Match": '"v-1"'}, etag=True)
        self.same("GET", "/custometag?v=1", headers={"If-None-Match": 'W/"v-1", "x"'},
                  etag=True)
        long_tag = "L" * 200  # longer than eddy's inline Etag buffer
        self.same("GET", "/custometag?v=" + long_tag, etag=True)
        self.same("GET", "/custometag?v=" + long_tag,
                  headers={"If-None-Match": '"v-%s"' % long_tag}, etag=True)
        self.same("GET", "/manualetag", etag=True)
        self.same("GET", "/manualetag", headers={"If-None-Match": '"manual"'}, etag=True)
        self.same("POST", "/etag", body="")  # no GET handler body: 405 either way

    def test_routing_and_urls(self):
        self.same("GET", "/decode/part?x=1")
        self.same("GET", "/reverse")
        self.same("GET", "/named/7/word")
        self.same("GET", "/kw/one/two")
        self.same("GET", "/finish_dict")
        self.same("GET", "/nowhere")  # default_handler_class
        self.same("GET", "/needs_setting")
        self.same("GET", "/settings", headers={"Host": "h.example"})
        self.same("GET", "/render")
        self.same("GET", "/modules")

    def test_hosts(self):
        for host, path in (("vhost.test", "/vhost"), ("VHOST.test:81", "/vhost"),
                           ("vhost.test", "/finish_dict"), ("conformance.test", "/vhost"),
                           ("a.other.test", "/other/x"), ("conformance.test", "/other/x"),
                           ("a.other.test", "/finish_dict"), ("a.other.test", "/nowhere")):
            self.same("GET", path, headers={"Host": host})

    def test_log_function(self):
        """log_function sees each finished request: status, method, uri, in order."""
        requests = [("GET", "/etag?log"), ("GET", "/missing?log"), ("POST", "/only_get?log"),
                    ("GET", "/custom_error/value?log"), ("GET", "/redirect?kind=perm&log")]
        logged = []
        for port, log in ((self.tornado.port, self.tornado_log), (self.eddy.port, self.eddy_log)):
            for method, path in requests:
                fetch(port, method, path, body="" if method == "POST" else None)
            # Both log after the answer went out: wait (bounded) for the last line.
            deadline = time.monotonic() + 10
            mine = []
            while len(mine) < len(requests) and time.monotonic() < deadline:
                time.sleep(0.01)
                mine = [entry for entry in list(log) if "log" in entry[2]]
            logged.append(mine)
        self.assertEqual(logged[1], logged[0])
        self.assertEqual([entry[0] for entry in logged[1]], [200, 400, 405, 500, 301])

    def test_urlspec_reverse(self):
        for pattern, args in ((r"/a/(\d+)/b/([^/]+)$", (1, "x y/z")), (r"/plain", ()),
                              (r"/(?P<name>\w+)/edit", ("é",))):
            with self.subTest(pattern=pattern):
                self.assertEqual(eddy.web.URLSpec(pattern, None).reverse(*args),
                                 tornado.web.URLSpec(pattern, None).reverse(*args))
        for bad, error in ((r"/a\d+/(\w+)", ValueError), (r"/(?:x|y)/(\w+)", ValueError),
                           (r"/x.*", AssertionError)):  # the last: too many arguments
            with self.subTest(pattern=bad):
                self.assertRaises(error, tornado.web.URLSpec(bad, None).reverse, "1")
                self.assertRaises(error, eddy.web.URLSpec(bad, None).reverse, "1")

    def test_locale(self):
        for accept in (None, "es", "es-MX,en;q=0.5", "de;q=0.9, fr-fr;q=0.95", "fr", "xx-yy-zz",
                       "en;q=0, es;q=0.1", "es;q=bad, fr_FR", "ar"):
            headers = {"Accept-Language": accept} if accept else {}
            self.same("GET", "/locale", headers=headers)
            self.same("GET", "/locale?render=1", headers=headers)

    def test_cookies(self):
        self.same("GET", "/cookies", headers={"Cookie": "c=seen"})
        # request.cookies as browsers send them: a piece SimpleCookie would refuse (a bare
        # name, a space, an unterminated quote, a bad name) does not hide the others.
        for header in ('a=1; b; c=seen', 'a=x y; c=seen', 'a=1; b="x; c=seen',
                       'a=1; {bad}=2; c=seen', '$Version=1; c=seen',
                       # A name sent twice: Tornado's get_cookie gives the last value.
                       'c=first; c=seen', 'c=first; a=1; c=seen'):
            self.same("GET", "/cookies", headers={"Cookie": header})

    def test_signed_cookies(self):
        secret = SETTINGS["cookie_secret"]
        v2 = tornado.web.create_signed_value(secret, "s", "two").decode()
        v1 = tornado.web.create_signed_value(secret, "s", "one", version=1).decode()
        forged = v2[:-1] + ("0" if v2[-1] != "0" else "1")
        for cookie, given in ((v2, v1), (v1, v2), (forged, forged), (v2, "garbage")):
            self.same("GET", "/signed?v=" + urllib.parse.quote(given),
                      headers={"Cookie": "s=" + cookie})
        # A name sent twice: Tornado verifies the last value (its get_cookie's).
        for first, last in ((forged, v2), (v2, forged)):
            self.same("GET", "/signed", headers={"Cookie": "s=%s; s=%s" % (first, last)})
        # max_age_days is Tornado's bound as given: 0 or less refuses every cookie that is not
        # from the future (eddy's C layer reads <= 0 as its default of 31 days).
        now = time.time()
        for age_days in (0.5, 10):
            old = tornado.web.create_signed_value(secret, "s", "old",
                                                  clock=lambda: now - age_days * 86400).decode()
            for max_age_days in ("31", "5", "1", "0", "-1"):
                self.same("GET", "/signed?max_age_days=" + max_age_days,
                          headers={"Cookie": "s=" + old})
        # What eddy's C layer signs, Tornado reads.
        set_cookie = fetch(self.eddy.port, "GET", "/signed?set=c-value")["headers"]["set-cookie"]
        value = set_cookie[0].split(";")[0].split("=", 1)[1].strip('"')
        self.assertEqual(tornado.web.decode_signed_value(secret, "s", value), b"c-value")
        # With cookie attributes or version 1: same attributes, values Tornado verifies.
        answers = [fetch(port, "GET", "/signed?attrs=a-value")["headers"]["set-cookie"]
                   for port in (self.tornado.port, self.eddy.port)]
        for mine, theirs in zip(answers[1], answers[0]):
            self.assertEqual(mine.split(";")[1:], theirs.split(";")[1:])
            name, value = mine.split(";")[0].split("=", 1)
            self.assertEqual(tornado.web.decode_signed_value(secret, name, value.strip('"')),
                             b"a-value" if name == "s" else b"old")
        self.assertTrue(answers[1][1].split("=", 1)[1].split("|")[0] != "2")  # version 1

    def test_misc(self):
        # (set_status(1000) is left out: Tornado 6.2 sends "HTTP/1.1 1000 Unknown", eddy a 500.)
        for kind in ("prepare_error", "prepare_finish", "chunks", "bad_redirect",
                     "bad_header", "none", "twice", "status_after_write", "header_types",
                     "float_header", "no_content"):
            self.same("GET", "/misc?kind=" + kind)
        self.assertEqual(fetch(self.eddy.port, "GET", "/misc?kind=bad_status")["status"], 500)
        self.same("GET", "/misc?kind=blank&a=&b=1&b=")
        self.same("POST", "/misc?kind=blank", body='{"a": 1}',
                  headers={"Content-Type": "application/json"})
        self.same("POST", "/misc?kind=blank", body="a=+x+&c=%zz",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})

    def test_static_subclass(self):
        """A StaticFileHandler subclass runs Tornado's documented methods (Python path)."""
        etag = fetch(self.eddy.port, "GET", "/nocache/app.js")["headers"]["etag"][0]
        modified = fetch(self.eddy.port, "GET", "/nocache/app.js")["headers"]["last-modified"][0]
        for path, headers in (("/nocache/app.js", {}), ("/nocache/app.js?v=1", {}),
                              ("/nocache/app.js", {"Range": "bytes=0-3"}),
                              ("/nocache/app.js", {"Range": "bytes=-5"}),
                              ("/nocache/app.js", {"Range": "bytes=5-"}),
                              ("/nocache/app.js", {"Range": "bytes=100-"}),
                              ("/nocache/app.js", {"Range": "bytes=0-1000"}),
                              ("/nocache/app.js", {"Range": "bytes=3-1"}),
                              ("/nocache/app.js", {"If-None-Match": etag}),
                              ("/nocache/app.js", {"If-Modified-Since": modified}),
                              ("/nocache/app.js", {"If-Modified-Since": "Thu, 01 Jan 1998 "
                                                                        "00:00:00 GMT"}),
                              ("/nocache/missing.js", {}), ("/nocache/../etc/passwd", {}),
                              ("/nocache/sub", {}), ("/nocache/sub/", {}),
                              ("/favicon.ico", {}), ("/robots.txt", {})):
            self.same("GET", path, headers=headers, etag=True)
        self.same("HEAD", "/nocache/app.js", etag=True)

    def test_methods(self):
        self.same("GET", "/async")
        self.same("HEAD", "/head")
        t = fetch(self.tornado.port, "HEAD", "/only_get")
        e = fetch(self.eddy.port, "HEAD", "/only_get")
        self.assertEqual((e["status"], e["body"]), (t["status"], t["body"]))
        self.same("POST", "/only_get", body="x")

    def test_signed_values_interoperate(self):
        secret = SETTINGS["cookie_secret"]
        signed = tornado.web.create_signed_value(secret, "name", "value")
        self.assertEqual(eddy.web.decode_signed_value(secret, "name", signed), b"value")
        mine = eddy.web.create_signed_value(secret, "name", "value")
        self.assertEqual(tornado.web.decode_signed_value(secret, "name", mine), b"value")
        self.assertIsNone(eddy.web.decode_signed_value(secret, "other", signed))
        self.assertIsNone(eddy.web.decode_signed_value("wrong", "name", signed))
        self.assertIsNone(eddy.web.decode_signed_value(secret, "name", signed,
                                                       max_age_days=-1))
        keys = {1: "one", 2: "two"}
        for key_version in (1, 2):
            mine = eddy.web.create_signed_value(keys, "n", "kv", key_version=key_version)
            self.assertEqual(tornado.web.decode_signed_value(keys, "n", mine), b"kv")
            self.assertEqual(tornado.web.get_signature_key_version(mine), key_version)
            theirs = tornado.web.create_signed_value(keys, "n", "kv", key_version=key_version)
            self.assertEqual(eddy.web.decode_signed_value(keys, "n", theirs), b"kv")
            self.assertEqual(eddy.web.get_signature_key_version(theirs), key_version)
        self.assertIsNone(eddy.web.decode_signed_value({3: "x"}, "n", theirs))


if __name__ == "__main__":
    unittest.main()
