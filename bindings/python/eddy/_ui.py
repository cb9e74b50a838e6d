"""UI modules and UI methods (re-exported by eddy.web): Tornado's ui_modules / ui_methods
settings, {% module Name(...) %} in templates, and the CSS/JS that modules add to a page."""

import types

from . import escape
from .httputil import ObjectDict


class UIModule:
    """A reusable piece of a page: subclass it, implement render(*args, **kwargs), list it in
    the ui_modules setting and use {% module Name(...) %}. The resource methods return what
    render() adds to the page (collected once per handler, inserted by RequestHandler.render)."""

    def __init__(self, handler):
        self.handler = handler
        self.request = handler.request
        self.ui = handler.ui
        self.locale = handler.locale

    @property
    def current_user(self):
        return self.handler.current_user

    def render(self, *args, **kwargs):
        raise NotImplementedError()

    def embedded_javascript(self):
        return None

    def javascript_files(self):
        return None

    def embedded_css(self):
        return None

    def css_files(self):
        return None

    def html_head(self):
        return None

    def html_body(self):
        return None

    def render_string(self, path, **kwargs):
        return self.handler.render_string(path, **kwargs)


class _linkify(UIModule):
    def render(self, text, **kwargs):
        return escape.linkify(text, **kwargs)


class _xsrf_form_html(UIModule):
    def render(self):
        return self.handler.xsrf_form_html()


class TemplateModule(UIModule):
    """{% module Template("file.html", **kwargs) %}: renders another template. Inside it,
    set_resources(embedded_css=..., css_files=..., ...) adds page resources."""

    def __init__(self, handler):
        super().__init__(handler)
        self._resources = []

    def render(self, path, **kwargs):
        def set_resources(**resources):
            if resources not in self._resources:
                self._resources.append(resources)
            return ""

        return self.render_string(path, set_resources=set_resources, **kwargs)

    def _get(self, key):
        return [r[key] for r in self._resources if key in r]

    def _joined(self, key, sep):
        return sep.join(self._get(key)) or None

    def _files(self, key):
        out = []
        for value in self._get(key):
            out.extend([value] if isinstance(value, (str, bytes)) else value)
        return out or None

    def embedded_javascript(self):
        return self._joined("embedded_javascript", "\n")

    def javascript_files(self):
        return self._files("javascript_files")

    def embedded_css(self):
        return self._joined("embedded_css", "\n")

    def css_files(self):
        return self._files("css_files")

    def html_head(self):
        return self._joined("html_head", "")

    def html_body(self):
        return self._joined("html_body", "")


DEFAULT_MODULES = {"linkify": _linkify, "xsrf_form_html": _xsrf_form_html,
                   "Template": TemplateModule}


def load_modules(modules, into):
    """The ui_modules setting (a dict, a module or a list of them) into a name → class dict."""
    if isinstance(modules, types.ModuleType):
        load_modules({n: getattr(modules, n) for n in dir(modules)}, into)
    elif isinstance(modules, list):
        for m in modules:
            load_modules(m, into)
    else:
        for name, cls in modules.items():
            try:
                if issubclass(cls, UIModule):
                    into[name] = cls
            except TypeError:
                pass
    return into


def load_methods(methods, into):
    """The ui_methods setting (a dict, a module or a list of them): public lower-case
    callables."""
    if isinstance(methods, types.ModuleType):
        load_methods({n: getattr(methods, n) for n in dir(methods)}, into)
    elif isinstance(methods, list):
        for m in methods:
            load_methods(m, into)
    else:
        for name, fn in methods.items():
            if not name.startswith("_") and callable(fn) and name[0].lower() == name[0]:
                into[name] = fn
    return into


class _ModuleNamespace:
    """`_tt_modules` / `modules` in templates: Name(...) renders the handler's instance of the
    UI module (one per handler and name, so its resources are collected once)."""

    def __init__(self, handler, ui_modules):
        self._handler = handler
        self._ui_modules = ui_modules

    def __getitem__(self, key):
        return self._handler._ui_module(key, self._ui_modules[key])

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(str(e))


def handler_ui(handler):
    """The handler's `ui` dict: bound UI methods plus the module namespace."""
    app = handler.application
    ui = ObjectDict((name, _bind(handler, fn)) for name, fn in app.ui_methods.items())
    ui["_tt_modules"] = ui["modules"] = _ModuleNamespace(handler, app.ui_modules)
    return ui


def _bind(handler, fn):
    return lambda *args, **kwargs: fn(handler, *args, **kwargs)


def is_absolute(path):
    return any(path.startswith(x) for x in ["/", "http:", "https:"])


def insert_resources(handler, html):
    """RequestHandler.render's last step: the active modules' CSS/JS/head/body parts go
    before </head> and </body> of the rendered page (bytes)."""
    js_embed, js_files, css_embed, css_files, heads, bodies = [], [], [], [], [], []
    for module in handler.__dict__.get("_active_modules", {}).values():
        for part, embed, files in ((module.embedded_javascript(), js_embed, None),
                                   (module.javascript_files(), None, js_files),
                                   (module.embedded_css(), css_embed, None),
                                   (module.css_files(), None, css_files),
                                   (module.html_head(), heads, None),
                                   (module.html_body(), bodies, None)):
            if not part:
                continue
            if embed is not None:
                embed.append(escape.utf8(part))
            elif isinstance(part, (str, bytes)):
                files.append(escape.to_unicode(part))
            else:
                files.extend(part)

    def before(marker, piece, last):
        nonlocal html
        at = html.rindex(marker) if last else html.index(marker)
        html = html[:at] + piece + b"\n" + html[at:]

    if js_files:
        before(b"</body>", escape.utf8(handler.render_linked_js(js_files)), True)
    if js_embed:
        before(b"</body>", handler.render_embed_js(js_embed), True)
    if css_files:
        before(b"</head>", escape.utf8(handler.render_linked_css(css_files)), False)
    if css_embed:
        before(b"</head>", handler.render_embed_css(css_embed), False)
    if heads:
        before(b"</head>", b"".join(heads), False)
    if bodies:
        before(b"</body>", b"".join(bodies), False)
    return html


def unique_static_urls(handler, paths):
    out = []
    for path in paths:
        if not is_absolute(path):
            path = handler.static_url(path)
        if path not in out:
            out.append(path)
    return out
