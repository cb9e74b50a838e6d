"""The public names of Tornado's modules against eddy's: every name Tornado defines (functions,
classes, their public methods and attributes) exists in eddy unless it is in KNOWN_GAPS below,
and nothing in KNOWN_GAPS has quietly been added (then the list must shrink)."""

import importlib
import inspect
import unittest

import eddy  # noqa: F401  (installs eddy's event loop policy first, as applications do)

try:
    import tornado
except ImportError:  # CI installs python3-tornado (scripts/deps/core.txt)
    tornado = None

MODULES = ("web", "ioloop", "gen", "escape", "httputil", "locks", "queues", "httpserver",
           "options", "template", "locale", "testing", "websocket", "iostream", "tcpserver",
           "tcpclient", "netutil", "process")

# What eddy does not offer, with the reason (see the binding README's "Differences").
KNOWN_GAPS = {
    # the C layer routes and transforms; no tornado.routing rules, no WSGI
    "web.Application.add_transform", "web.Application.find_handler",
    "web.Application.get_handler_delegate", "web.Application.on_close",
    "web.Application.start_request", "web.FallbackHandler", "web.GZipContentEncoding",
    "web.OutputTransform",
    # no IOStream to hand over
    "web.RequestHandler.detach", "web.ErrorHandler.detach", "web.RedirectHandler.detach",
    "web.StaticFileHandler.detach",
    # HTTPServer is eddy's C server, not a Tornado TCPServer/Configurable
    "httpserver.HTTPServer.configurable_base", "httpserver.HTTPServer.configurable_default",
    "httpserver.HTTPServer.configure", "httpserver.HTTPServer.configured_class",
    "httpserver.HTTPServer.handle_stream", "httpserver.HTTPServer.initialize",
    "httpserver.HTTPServer.on_close", "httpserver.HTTPServer.start_request",
    "ioloop.IOLoop.configurable_base", "ioloop.IOLoop.configurable_default",
    # Tornado's internal coroutine machinery
    "gen.Runner", "gen.Multi", "gen.BadYieldError", "gen.KeyReuseError", "gen.LeakedCallbackError",
    "gen.ReturnValueIgnoredError", "gen.UnknownKeyError",
    # the HTTP/1 connection interfaces (eddy's connection is C)
    "httputil.HTTPConnection", "httputil.HTTPMessageDelegate",
    "httputil.HTTPServerConnectionDelegate",
    "httputil.doctests",
    # dates in the locale's words
    "locale.Locale.format_date", "locale.Locale.format_day",
    "locale.CSVLocale.format_date", "locale.CSVLocale.format_day",
    "locale.GettextLocale.format_date", "locale.GettextLocale.format_day",
    # testing helpers for Tornado's own suite
    "testing.setup_with_context_manager",
    # Tornado's WebSocket protocol objects and its client's HTTP-connection plumbing (eddy's
    # protocol and client are C)
    "websocket.WebSocketProtocol", "websocket.WebSocketProtocol13",
    "websocket.WebSocketHandler.get_websocket_protocol",
    "websocket.WebSocketHandler.on_ws_connection_close", "websocket.WebSocketHandler.detach",
    "websocket.WebSocketClientConnection.data_received",
    "websocket.WebSocketClientConnection.finish",
    "websocket.WebSocketClientConnection.get_websocket_protocol",
    "websocket.WebSocketClientConnection.headers_received",
    "websocket.WebSocketClientConnection.log_exception",
    "websocket.WebSocketClientConnection.on_connection_close",
    "websocket.WebSocketClientConnection.on_ws_connection_close",
    "websocket.WebSocketClientConnection.protocol", "websocket.WebSocketClientConnection.run",
    # IOStream: Tornado's transport hooks (eddy's transport is C)
    *("iostream.%s.%s" % (cls, name)
      for cls in ("BaseIOStream", "IOStream", "SSLIOStream", "PipeIOStream")
      for name in ("close_fd", "get_fd_error", "read_from_fd", "write_to_fd")),
    "iostream.doctests",
    # name resolution is eddy's (a worker thread), TLS is OpenSSL in C: no Resolver classes,
    # no ssl.SSLContext helpers
    "netutil.BlockingResolver", "netutil.DefaultExecutorResolver", "netutil.DefaultLoopResolver",
    "netutil.ExecutorResolver", "netutil.OverrideResolver", "netutil.Resolver",
    "netutil.ThreadedResolver", "netutil.ssl_options_to_context", "netutil.ssl_wrap_socket",
}


def tornado_names(module_name):
    """(dotted name, object) for what the module defines and its classes' public members."""
    module = importlib.import_module("tornado." + module_name)
    for name in dir(module):
        obj = getattr(module, name)
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if getattr(obj, "__module__", "") != module.__name__:
            continue  # imported from elsewhere (typing, the stdlib, another tornado module)
        if not (inspect.isclass(obj) or callable(obj)):
            continue
        yield "%s.%s" % (module_name, name), name, None
        if inspect.isclass(obj):
            for member in dir(obj):
                if not member.startswith("_"):
                    yield "%s.%s.%s" % (module_name, name, member), name, member


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class SameNames(unittest.TestCase):
    def test_public_names(self):
        missing = set()
        for module_name in MODULES:
            mine = importlib.import_module("eddy." + module_name)
            for dotted, name, member in tornado_names(module_name):
                obj = getattr(mine, name, None)
                if obj is None:
                    if member is None:  # (a missing class's members are not listed too)
                        missing.add(dotted)
                elif member is not None and not hasattr(obj, member):
                    missing.add(dotted)
        # eddy's request reads these from the C request on first use (instance attributes).
        missing -= {"httputil.HTTPServerRequest.cookies", "httputil.HTTPServerRequest.path",
                    "httputil.HTTPServerRequest.query"}
        self.assertEqual(sorted(missing - KNOWN_GAPS), [], "missing from eddy")
        self.assertEqual(sorted(KNOWN_GAPS - missing), [], "now present: drop from KNOWN_GAPS")


if __name__ == "__main__":
    unittest.main()
