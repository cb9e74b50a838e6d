"""eddy for Python: Tornado's web, ioloop and gen API on eddy's C core.

`import eddy.web` gives Application and RequestHandler; `eddy.ioloop.IOLoop` runs eddy's loop
and an asyncio event loop together in one thread. The SWIG module is `eddy.lowlevel`.
Importing eddy installs an asyncio event loop policy whose loops also drive eddy (so
`asyncio.run(main())` works as it does with Tornado). Submodules load on first use, so
`import eddy as tornado` followed by `tornado.web.Application(...)` works."""

import importlib

from . import lowlevel as _lowlevel_proxy  # noqa: F401  (loads the extension early)
from . import ioloop as _ioloop

version = _lowlevel_proxy.eddy_version_string()
version_info = tuple(int(x) for x in version.split("."))

_SUBMODULES = ("escape", "gen", "httpclient", "httpserver", "httputil", "ioloop", "iostream", "locks",
               "locale", "lowlevel", "netutil", "options", "process", "queues", "tcpclient",
               "tcpserver", "template", "testing", "web", "websocket")

_ioloop.install_policy()


def _forward_logs():
    """eddy's C log lines go to the `eddy.server` logger (the C level filter follows it)."""
    import atexit
    import logging

    logger = logging.getLogger("eddy.server")
    levels = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}
    ll = _lowlevel_proxy

    def sink(level, message):
        logger.log(levels.get(level, logging.ERROR), "%s", message)

    ll.eddy_set_log_function(sink)
    level = logger.getEffectiveLevel()
    ll.eddy_set_log_level(0 if level <= logging.DEBUG else 1 if level <= logging.INFO else 2)
    # Back to the C default before the interpreter goes away.
    atexit.register(ll.eddy_set_log_function, None)


_forward_logs()


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'eddy' has no attribute %r" % name)
