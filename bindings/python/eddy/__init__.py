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

_SUBMODULES = ("escape", "gen", "httpserver", "httputil", "ioloop", "locks", "lowlevel",
               "options", "template", "web")

_ioloop.install_policy()


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'eddy' has no attribute %r" % name)
