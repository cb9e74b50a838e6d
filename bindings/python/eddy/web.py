"""eddy.web: Tornado's Application and RequestHandler on eddy's C web layer.

The C layer routes, parses, buffers and sends; this module gives it Tornado's shapes. Each route
hands its callbacks to a _RouteTarget (the route's userdata in C), which makes one handler
instance per request and binds it to the C handler; the C handler's release drops it.
A handler method that returns a coroutine detaches the C handler; the response is finished when
the coroutine returns (it runs as an asyncio task on the IOLoop's asyncio loop).
"""

import asyncio
import binascii
import datetime
import functools
import hashlib
import hmac
import http.cookies
import logging
import os
import re
import sys
import time
import traceback
import urllib.parse
import weakref

from . import _lowlevel as _ll
from . import _static, _ui, escape, httputil
from ._ui import TemplateModule, UIModule, is_absolute  # noqa: F401  (tornado.web's names)
from ._signing import (  # noqa: F401  (tornado.web's names)
    DEFAULT_SIGNED_VALUE_MIN_VERSION, DEFAULT_SIGNED_VALUE_VERSION,
    MAX_SUPPORTED_SIGNED_VALUE_VERSION, MIN_SUPPORTED_SIGNED_VALUE_VERSION, create_signed_value,
    decode_signed_value, get_signature_key_version)
from .httputil import HTTPFile, HTTPHeaders, ObjectDict  # noqa: F401
from .ioloop import IOLoop
from .iostream import StreamClosedError

access_log = logging.getLogger("eddy.access")
app_log = logging.getLogger("eddy.application")
gen_log = logging.getLogger("eddy.general")

_ARG_DEFAULT = object()
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_EDDY_ECLOSED = _ll.EDDY_ECLOSED


def _fail_closed(future):
    future.set_exception(StreamClosedError())
    future.exception()  # retrieved: no "never retrieved" warning when nobody awaits it
_EDDY_ESTATE = _ll.EDDY_ESTATE
_EDDY_EINVAL = _ll.EDDY_EINVAL


class HTTPError(Exception):
    """Raise it in a handler to answer with `status_code`; `log_message` goes to the log only."""

    def __init__(self, status_code=500, log_message=None, *args, **kwargs):
        self.status_code = status_code
        self.log_message = log_message
        self.args = args
        self.reason = kwargs.get("reason", None)
        if log_message and not args:
            self.log_message = log_message.replace("%", "%%")

    def __str__(self):
        message = "HTTP %d: %s" % (
            self.status_code,
            self.reason or httputil.responses.get(self.status_code, "Unknown"))
        if self.log_message:
            return message + " (" + (self.log_message % self.args) + ")"
        return message


class MissingArgumentError(HTTPError):
    def __init__(self, arg_name):
        super().__init__(400, "Missing argument %s" % arg_name)
        self.arg_name = arg_name


class Finish(Exception):
    """Raise it to end the request without an error (finish() is called with its args)."""


class _Done:
    """What finish() returns: an already completed awaitable (Tornado returns a Future)."""

    __slots__ = ()

    def __await__(self):
        return iter(())

    def done(self):
        return True

    def result(self):
        return None

    # The rest of the Future interface Tornado's finish() result offers (code that chains on it,
    # e.g. self.finish().add_done_callback(...), ran on Tornado and raised AttributeError here).
    def exception(self):
        return None

    def cancelled(self):
        return False

    def cancel(self, msg=None):
        return False

    def add_done_callback(self, fn, *, context=None):
        # As asyncio.Future's for a completed future: called soon with the future, not now.
        IOLoop.current().asyncio_loop.call_soon(fn, self, context=context)

    def remove_done_callback(self, fn):
        return 0


_DONE = _Done()


# ---- the request ---------------------------------------------------------------------------
class _Stream:
    __slots__ = ("_request",)

    def __init__(self, request):
        self._request = request

    def closed(self):
        h = self._request._h
        return h is None or bool(_ll.eddy_request_connection_closed(_ll.eddy_handler_request(h)))


class _Connection:
    __slots__ = ("stream",)

    def __init__(self, request):
        self.stream = _Stream(request)


class HTTPServerRequest:
    """The request of a handler (Tornado's HTTPServerRequest). Fields are read from the C request
    on first use and kept, so they stay readable after the handler finished. Built by hand
    (HTTPServerRequest(method="GET", uri="/x?a=1", headers=..., body=...), e.g. in tests), it
    holds what it was given, as Tornado's does."""

    def __init__(self, method=None, uri=None, version="HTTP/1.0", headers=None, body=None,
                 host=None, files=None, connection=None, start_line=None,
                 server_connection=None, _h=None):
        self._h = _h
        self._start_time = time.time()
        if _h is not None:
            return
        if start_line is not None:
            method, uri, version = start_line
        self.method, self.uri, self.version = method, uri, version
        self.headers = headers if headers is not None else HTTPHeaders()
        self.body = body or b""
        self.remote_ip = getattr(getattr(connection, "context", None), "remote_ip", None)
        self.protocol = getattr(getattr(connection, "context", None), "protocol", "http")
        self.host = host or self.headers.get("Host") or "127.0.0.1"
        self.host_name = httputil.split_host_and_port(self.host.lower())[0]
        self.files = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self.path, _, self.query = (uri or "").partition("?")
        self.query_arguments = escape.parse_qs_bytes(self.query, keep_blank_values=True)
        self.arguments = {k: list(v) for k, v in self.query_arguments.items()}
        self.body_arguments = {}

    def _parse_body(self):
        """Hand-built requests parse their body when asked (Tornado's _parse_body)."""
        httputil.parse_body_arguments(self.headers.get("Content-Type", ""), self.body,
                                      self.body_arguments, self.files, self.headers)
        for k, v in self.body_arguments.items():
            self.arguments.setdefault(k, []).extend(v)

    def _load_info(self):
        if self._h is None:
            raise RuntimeError("the request was already released")
        (self.method, self.uri, self.path, self.query, version, self.remote_ip, self.host,
         self.protocol) = _ll.eddy_py_request_info(_ll.eddy_handler_request(self._h))
        self.version = "HTTP/1.1" if version == 11 else "HTTP/1.0"
        self.host_name = httputil.split_host_and_port(self.host.lower())[0]

    def _req(self):
        if self._h is None:
            raise RuntimeError("the request was already released")
        return _ll.eddy_handler_request(self._h)

    def __getattr__(self, name):
        if name in ("method", "uri", "path", "query", "version", "remote_ip", "host", "protocol",
                    "host_name"):
            self._load_info()
        elif name == "headers":
            self.headers = HTTPHeaders()
            for key, value in _ll.eddy_py_request_headers(self._req()):
                self.headers.add(key, value)
        elif name == "body":
            self.body = _ll.eddy_py_request_body(self._req())
        elif name in ("arguments", "query_arguments", "body_arguments"):
            req = self._req()
            self.query_arguments = _group(_ll.eddy_py_request_arguments(req, _ll.EDDY_ARGS_QUERY))
            self.body_arguments = _group(_ll.eddy_py_request_arguments(req, _ll.EDDY_ARGS_BODY))
            arguments = {k: list(v) for k, v in self.query_arguments.items()}
            for k, v in self.body_arguments.items():
                arguments.setdefault(k, []).extend(v)
            self.arguments = arguments
        elif name == "files":
            self.files = {}
            for field, filename, ctype, body in _ll.eddy_py_request_files(self._req()):
                self.files.setdefault(field, []).append(
                    HTTPFile(filename=filename, body=body, content_type=ctype))
        elif name == "cookies":
            # As Tornado: the browser-like parse_cookie, then one SimpleCookie entry per name
            # (a name SimpleCookie refuses is left out). SimpleCookie.load() itself gives up at
            # the first piece it dislikes ("a=x y", a bare "b", a non-ASCII value), which left
            # every other cookie of the header out of request.cookies and clear_all_cookies().
            self.cookies = http.cookies.SimpleCookie()
            if "Cookie" in self.headers:
                for key, value in httputil.parse_cookie(self.headers["Cookie"]).items():
                    try:
                        self.cookies[key] = value
                    except http.cookies.CookieError:
                        pass
        elif name == "connection":
            self.connection = _Connection(self)
        else:
            raise AttributeError(name)
        return self.__dict__[name]

    def full_url(self):
        return self.protocol + "://" + self.host + self.uri

    def get_ssl_certificate(self, binary_form=False):
        """The certificate the client presented (Tornado's): None when it presented none (the
        server asks for one only with ssl_options' cert_reqs), over plain HTTP, or once the
        connection is gone. binary_form=True gives the DER bytes; otherwise the dict that
        ssl.SSLSocket.getpeercert() gives (a presented certificate has passed verification):
        subject and issuer (tuples of RDNs, each a tuple of (name, value) pairs, names as
        OpenSSL's long names: "commonName", "emailAddress"), version, serialNumber (upper-case
        hex), notBefore / notAfter ("Nov 30 12:00:00 2026 GMT"), and when the certificate has
        them subjectAltName (("DNS", ...), ("email", ...), ("URI", ...), ("IP Address", ...),
        ("DirName", <a name>), ("Registered ID", ...), ("othername", "<unsupported>"), or for
        the other names OpenSSL can print, ("othername", "UPN:user@example")), OCSP, caIssuers
        and crlDistributionPoints. eddy decodes it itself with OpenSSL, following the ssl module's
        decoder key for key (no temporary file, no private ssl hook). Errors: where the ssl module would
        raise ssl.SSLError (a name's value OpenSSL cannot convert to UTF-8) this raises
        ValueError; a string that is not UTF-8 raises UnicodeDecodeError, as there."""
        if self._h is None:
            return None
        der = _ll.eddy_py_request_tls_peer_certificate(self._req())
        if der is None or binary_form:
            return der
        return _ll.eddy_py_decode_certificate(der)

    def request_time(self):
        return time.time() - self._start_time

    def __repr__(self):
        try:
            return "%s(protocol=%r, host=%r, method=%r, uri=%r, version=%r, remote_ip=%r)" % (
                type(self).__name__, self.protocol, self.host, self.method, self.uri,
                self.version, self.remote_ip)
        except RuntimeError:
            return "%s(released)" % type(self).__name__


def _group(pairs):
    out = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


# ---- handlers ------------------------------------------------------------------------------
class RequestHandler:
    """Subclass it and define get(), post(), ... (plain or async)."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    _template_loaders = {}
    _stream_request_body = False
    _finish_reported = False  # on_finish ran (WebSocketHandler: at the upgrade)
    path_args = None
    path_kwargs = None

    def __init__(self, application, request, **kwargs):
        self.application = application
        self.request = request
        self._h = request._h
        self._done = False
        self._headers_written = False
        self._auto_finish = True
        self._status_code = 200
        self._reason = "OK"
        self._in_write_error = False
        self._etag_header = None
        self.path_args = []
        self.path_kwargs = {}
        self.initialize(**kwargs)

    def initialize(self, **kwargs):
        pass

    @property
    def settings(self):
        return self.application.settings

    @property
    def ui(self):
        """The UI methods (bound to this handler) and `modules`, as templates see them."""
        ui = self.__dict__.get("_ui")
        if ui is None:
            ui = self.__dict__["_ui"] = _ui.handler_ui(self)
        return ui

    def _ui_module(self, name, cls):
        active = self.__dict__.setdefault("_active_modules", {})
        if name not in active:
            active[name] = cls(self)
        return active[name].render

    def _unimplemented_method(self, *args, **kwargs):
        raise HTTPError(405)

    head = get = post = delete = patch = put = options = _unimplemented_method

    def prepare(self):
        pass

    def on_finish(self):
        pass

    def on_connection_close(self):
        pass

    def set_default_headers(self):
        pass

    def data_received(self, chunk):
        raise NotImplementedError()

    @property
    def _finished(self):
        return self._done or self._h is None

    def _eddy_release(self):
        # Called by the C layer when the handler is released: every later call must fail
        # cleanly instead of touching freed memory.
        self._h = None
        self._done = True
        request = self.__dict__.get("request")
        if request is not None:
            request._h = None

    # ---- the response ----------------------------------------------------------------------
    def set_status(self, status_code, reason=None):
        if self._h is not None:
            rc = _ll.eddy_handler_set_status(self._h, status_code, reason)
            if rc == _EDDY_EINVAL:
                raise ValueError("invalid status %r or reason %r" % (status_code, reason))
        self._status_code = status_code
        self._reason = reason or httputil.responses.get(status_code, "Unknown")

    def get_status(self):
        return self._status_code

    def set_header(self, name, value):
        if self._h is not None:
            value = _header_value(value)
            self._check_header(_ll.eddy_handler_set_header(self._h, name, _wire(value)))
            if len(name) == 4 and name.lower() == "etag":
                self._etag_header = value

    def add_header(self, name, value):
        if self._h is not None:
            value = _header_value(value)
            self._check_header(_ll.eddy_handler_add_header(self._h, name, _wire(value)))
            if len(name) == 4 and name.lower() == "etag":
                self._etag_header = value

    def clear_header(self, name):
        if self._h is not None:
            _ll.eddy_handler_clear_header(self._h, name)
            if len(name) == 4 and name.lower() == "etag":
                self._etag_header = None

    def clear(self):
        """Drops the headers (cookies excepted) and the body written so far, sets status 200 and
        runs set_default_headers() again — as Tornado's clear()."""
        if self._h is not None:
            rc = _ll.eddy_handler_clear(self._h)
            if rc == _EDDY_ESTATE:
                raise RuntimeError("Cannot clear() after the headers were sent or finish()")
        self._status_code = 200
        self._reason = "OK"
        self._etag_header = None

    @staticmethod
    def _check_header(rc):
        # As in Tornado, headers set after they went out are dropped without an error (the C
        # layer logs it); unsafe names or values raise.
        if rc == _EDDY_EINVAL:
            raise ValueError("Unsafe header name or value")

    def write(self, chunk):
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(chunk, dict):
            chunk = escape.json_encode(chunk)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
        elif not isinstance(chunk, (bytes, str, bytearray, memoryview)):
            message = "write() only accepts bytes, unicode, and dict objects"
            if isinstance(chunk, list):
                message += (". Lists not accepted for security reasons; see "
                            "http://www.tornadoweb.org/en/stable/web.html"
                            "#tornado.web.RequestHandler.write")
            raise TypeError(message)
        rc = _ll.eddy_handler_write(self._h, chunk)
        if rc < 0 and rc != _EDDY_ECLOSED:
            raise RuntimeError("write() failed: %s" % _ll.eddy_strerror(rc))

    def flush(self, include_footers=False):
        """Sends what was written; the returned future resolves once it reached the kernel, or
        fails with eddy.iostream.StreamClosedError once the client has gone away (as Tornado's
        does: a streaming loop of write() and `await flush()` ends there)."""
        future = IOLoop.current().asyncio_loop.create_future()
        if self._h is None:
            future.set_result(None)
            return future
        waiting = self.__dict__.setdefault("_flush_futures", [])
        rc = _ll.eddy_handler_flush(self._h)
        self._headers_written = True
        if rc == _EDDY_ECLOSED:
            _fail_closed(future)
        elif rc < 0:
            future.set_result(None)
        else:
            waiting.append(future)
        return future

    def _fail_pending_flushes(self):
        # The connection is gone: what was being flushed never arrives (Tornado fails the
        # write futures with StreamClosedError).
        for future in self.__dict__.pop("_flush_futures", ()):
            if not future.done():
                _fail_closed(future)

    def _flushed(self, status):
        waiting = self.__dict__.get("_flush_futures")
        if waiting:
            future = waiting.pop(0)
            if not future.done():
                if status == _EDDY_ECLOSED:
                    _fail_closed(future)
                else:
                    future.set_result(None)

    def finish(self, chunk=None):
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        if self._in_write_error:
            return _DONE  # the C layer finishes the error page itself
        if _overrides(type(self), "compute_etag"):
            self._apply_etag()
        self._done = True
        _ll.eddy_handler_finish(self._h)
        return _DONE

    def render(self, template_name, **kwargs):
        """Renders the template and finishes with it; the CSS and JavaScript of the UI modules
        it used go before </head> and </body>."""
        if self._finished:
            raise RuntimeError("Cannot render() after finish()")
        html = self.render_string(template_name, **kwargs)
        return self.finish(_ui.insert_resources(self, html))

    def render_linked_js(self, js_files):
        return "".join('<script src="' + escape.xhtml_escape(p) + '" type="text/javascript">'
                       "</script>" for p in _ui.unique_static_urls(self, js_files))

    def render_embed_js(self, js_embed):
        return (b'<script type="text/javascript">\n//<![CDATA[\n' + b"\n".join(js_embed)
                + b"\n//]]>\n</script>")

    def render_linked_css(self, css_files):
        return "".join('<link href="' + escape.xhtml_escape(p) + '" type="text/css" '
                       'rel="stylesheet"/>' for p in _ui.unique_static_urls(self, css_files))

    def render_embed_css(self, css_embed):
        return b'<style type="text/css">\n' + b"\n".join(css_embed) + b"\n</style>"

    def render_string(self, template_name, **kwargs):
        """The template rendered (bytes, as Tornado's), from get_template_path() or the
        directory of the handler's module; the template_loader setting replaces the loader."""
        path = self.get_template_path() or os.path.dirname(
            os.path.abspath(sys.modules[type(self).__module__].__file__))
        loader = RequestHandler._template_loaders.get(path)
        if loader is None:
            loader = self.settings.get("template_loader") or self.create_template_loader(path)
            RequestHandler._template_loaders[path] = loader
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return loader.load(template_name).generate(**namespace)

    def create_template_loader(self, template_path):
        from . import template

        kwargs = {}
        if "autoescape" in self.settings:
            kwargs["autoescape"] = self.settings["autoescape"]
        if "template_whitespace" in self.settings:
            kwargs["whitespace"] = self.settings["template_whitespace"]
        return template.Loader(template_path, **kwargs)

    def get_template_path(self):
        return self.settings.get("template_path")

    def get_template_namespace(self):
        namespace = dict(handler=self, request=self.request, current_user=self.current_user,
                         locale=self.locale, _=self.locale.translate,
                         pgettext=self.locale.pgettext, static_url=self.static_url,
                         xsrf_form_html=self.xsrf_form_html, reverse_url=self.reverse_url)
        namespace.update(self.ui)
        return namespace

    def redirect(self, url, permanent=False, status=None):
        # Finished (or released by eddy since): the answer is gone, as Tornado says.
        if self._headers_written or self._finished or self._h is None:
            raise Exception("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not 300 <= status <= 399:
            raise ValueError("invalid redirect status %r" % status)
        if status in (301, 302, 303, 307, 308):
            rc = _ll.eddy_handler_redirect(self._h, url, status)
        else:
            # The other 3xx (300 Multiple Choices, say), which eddy_handler_redirect does not
            # take and Tornado's redirect() does: the same answer made by hand (the Location
            # value is checked by set_header as by the C redirect).
            self.set_status(status)
            self.set_header("Location", _header_value(url))
            rc = _ll.eddy_handler_finish(self._h)
            self._done = True
        if rc == _EDDY_EINVAL:
            raise ValueError("invalid redirect %r (status %r)" % (url, status))
        self._status_code = status
        if rc == _EDDY_ECLOSED:
            self._finish_closed()
        self._done = True

    def send_error(self, status_code=500, **kwargs):
        if self._headers_written or self._finished or self._h is None:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished and self._h is not None:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        reason = kwargs.get("reason")
        if "exc_info" in kwargs:
            exception = kwargs["exc_info"][1]
            if isinstance(exception, HTTPError) and exception.reason:
                reason = exception.reason
        self._error = (reason, kwargs)
        rc = _ll.eddy_handler_send_error(self._h, status_code)
        if rc == _EDDY_EINVAL and status_code != 500:
            rc = _ll.eddy_handler_send_error(self._h, 500)
        self._error = None
        if rc == _EDDY_ECLOSED:
            self._status_code = status_code if 100 <= status_code <= 599 else 500
            self._finish_closed()
        self._done = True

    def _finish_closed(self):
        # The client has gone: eddy sent nothing and left the (detached) C handler for us to
        # finish (web.h, eddy_handler_send_error / _redirect: EDDY_ECLOSED). Finished here, it is
        # released and on_finish runs, as Tornado's send_error() and redirect() end in finish()
        # whether or not the connection is still there; without this the handler, its request
        # and its Python object stayed alive for good and on_finish never ran.
        if not self._done and self._h is not None:
            self._done = True
            _ll.eddy_handler_finish(self._h)

    def _write_error_hook(self, status_code):
        reason, kwargs = getattr(self, "_error", None) or (None, {})
        self._status_code = status_code
        if reason:
            try:
                self.set_status(status_code, reason)
            except ValueError:
                # A reason eddy refuses (a "<", a control character): "Unknown", as Tornado's
                # set_status substitutes on this path. Raising here lost the whole error page
                # (an empty body after an "Uncaught exception in write_error").
                self.set_status(status_code, "Unknown")
        else:
            self._reason = httputil.responses.get(status_code, "Unknown")
        if status_code == 405:
            # The C layer's Allow lists every method the route was enabled for, which is all of
            # SUPPORTED_METHODS (they all reach Python, for Tornado's 405 from the default
            # methods); RFC 9110 15.5.6 wants the ones the resource supports: those the class
            # implements.
            self.set_header("Allow", ", ".join(_implemented_methods(type(self))))
        self._in_write_error = True
        try:
            self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        finally:
            self._in_write_error = False

    def write_error(self, status_code, **kwargs):
        if self.settings.get("serve_traceback") and "exc_info" in kwargs:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*kwargs["exc_info"]):
                self.write(line)
            self.finish()
        else:
            self.finish("<html><title>%(code)d: %(message)s</title>"
                        "<body>%(code)d: %(message)s</body></html>"
                        % {"code": status_code, "message": escape.xhtml_escape(self._reason)})

    # ---- arguments -------------------------------------------------------------------------
    def get_argument(self, name, default=_ARG_DEFAULT, strip=True):
        return self._get_argument(name, default, self.request.arguments, strip)

    def get_arguments(self, name, strip=True):
        return self._get_arguments(name, self.request.arguments, strip)

    def get_body_argument(self, name, default=_ARG_DEFAULT, strip=True):
        return self._get_argument(name, default, self.request.body_arguments, strip)

    def get_body_arguments(self, name, strip=True):
        return self._get_arguments(name, self.request.body_arguments, strip)

    def get_query_argument(self, name, default=_ARG_DEFAULT, strip=True):
        return self._get_argument(name, default, self.request.query_arguments, strip)

    def get_query_arguments(self, name, strip=True):
        return self._get_arguments(name, self.request.query_arguments, strip)

    def _get_argument(self, name, default, source, strip):
        values = self._get_arguments(name, source, strip)
        if not values:
            if default is _ARG_DEFAULT:
                raise MissingArgumentError(name)
            return default
        return values[-1]

    def _get_arguments(self, name, source, strip):
        values = []
        for v in source.get(name, []):
            s = self.decode_argument(v, name=name)
            if isinstance(s, str):
                s = _CONTROL_CHARS.sub(" ", s)
            if strip:
                s = s.strip()
            values.append(s)
        return values

    def decode_argument(self, value, name=None):
        try:
            return value.decode("utf-8") if isinstance(value, bytes) else value
        except UnicodeDecodeError:
            raise HTTPError(400, "Invalid unicode in %s: %r" % (name or "url", value[:40]))

    # ---- cookies ---------------------------------------------------------------------------
    @property
    def cookies(self):
        return self.request.cookies

    def get_cookie(self, name, default=None):
        # Tornado's: the value in request.cookies, where a name sent twice ("a=1; a=2") keeps
        # its last value (http.cookies / parse_cookie fill a dict). eddy_handler_get_cookie
        # gives the first one (its documented behaviour), which disagreed with Tornado.
        try:
            cookies = self.request.cookies
        except RuntimeError:  # released before its cookies were read: as before, none
            return default
        if cookies is not None and name in cookies:
            return cookies[name].value
        return default

    def set_cookie(self, name, value, domain=None, expires=None, path="/", expires_days=None,
                   **kwargs):
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if expires_days is not None and not expires:
            expires = time.time() + expires_days * 86400
        flags = 0
        max_age = -1
        samesite = None
        for key, val in kwargs.items():
            key = key.lower().replace("-", "_")
            if key == "secure" and val:
                flags |= _ll.EDDY_COOKIE_SECURE
            elif key == "httponly" and val:
                flags |= _ll.EDDY_COOKIE_HTTPONLY
            elif key == "max_age":
                max_age = int(val)
            elif key == "samesite":
                samesite = val
            elif key not in ("secure", "httponly", "comment", "version"):
                # As Tornado (its Morsel refuses it): a misspelt attribute must not go unseen,
                # e.g. http_only=True leaving the cookie readable by scripts. RFC 2109's comment
                # and version are left out: RFC 6265 user agents ignore them.
                raise http.cookies.CookieError("Invalid attribute %r" % key)
        _no_nul(domain, path, samesite)
        rc = _ll.eddy_handler_set_cookie(self._h, name, value, domain, path,
                                        httputil._to_unix_time(expires), max_age, flags, samesite)
        if rc == _EDDY_EINVAL:
            raise ValueError("Invalid cookie %r: %r" % (name, value))

    def clear_cookie(self, name, path="/", domain=None, **kwargs):
        _no_nul(path, domain)
        _ll.eddy_handler_clear_cookie(self._h, name, path, domain)

    def clear_all_cookies(self, path="/", domain=None):
        for name in self.request.cookies:
            self.clear_cookie(name, path=path, domain=domain)

    def require_setting(self, name, feature="this feature"):
        if not self.application.settings.get(name):
            raise Exception("You must define the '%s' setting in your application to use %s"
                            % (name, feature))

    def set_signed_cookie(self, name, value, expires_days=30, version=None, **kwargs):
        """Signs and timestamps `value` (Tornado's format); kwargs are set_cookie's."""
        self.require_setting("cookie_secret", "secure cookies")
        if (kwargs or version is not None or expires_days is None
                or isinstance(self.settings["cookie_secret"], dict)):
            # Cookie attributes, an old version or key versions: signed here in Python.
            self.set_cookie(name, self.create_signed_value(name, value, version=version),
                            expires_days=expires_days, **kwargs)
            return
        rc = _ll.eddy_handler_set_signed_cookie(self._h, name, value, float(expires_days))
        if rc < 0:
            raise ValueError("cannot set signed cookie %r: %s" % (name, _ll.eddy_strerror(rc)))

    set_secure_cookie = set_signed_cookie

    def get_signed_cookie(self, name, value=None, max_age_days=31, min_version=None):
        self.require_setting("cookie_secret", "secure cookies")
        if (value is None and min_version is None and max_age_days > 0
                and not isinstance(self.settings["cookie_secret"], dict)):
            # The request's cookie with one secret: verified in C. (Not for max_age_days <= 0:
            # C reads that as its default of 31 days, where Tornado refuses any cookie older
            # than now; decode_signed_value below does as Tornado.) Only when C reads the
            # value get_cookie gives: a name sent twice is the last one's here, the first's in C.
            raw = _ll.eddy_handler_get_cookie(self._h, name) if self._h is not None else None
            if raw is not None and raw.decode("utf-8", "replace") == self.get_cookie(name):
                return _ll.eddy_handler_get_signed_cookie(self._h, name, float(max_age_days))
        if value is None:
            value = self.get_cookie(name)
        return decode_signed_value(self.application.settings["cookie_secret"], name, value,
                                   max_age_days=max_age_days, min_version=min_version)

    get_secure_cookie = get_signed_cookie

    def create_signed_value(self, name, value, version=None):
        """A signed value for `name` (what set_signed_cookie sends), e.g. for a header."""
        self.require_setting("cookie_secret", "secure cookies")
        secret = self.application.settings["cookie_secret"]
        key_version = None
        if isinstance(secret, dict):
            if self.application.settings.get("key_version") is None:
                raise Exception("key_version setting must be used for secret_key dicts")
            key_version = self.application.settings["key_version"]
        return create_signed_value(secret, name, value, version=version,
                                   key_version=key_version)

    def get_signed_cookie_key_version(self, name, value=None):
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        return get_signature_key_version(value)

    get_secure_cookie_key_version = get_signed_cookie_key_version

    # ---- users, XSRF -----------------------------------------------------------------------
    @property
    def current_user(self):
        if not hasattr(self, "_current_user"):
            self._current_user = self.get_current_user()
        return self._current_user

    @current_user.setter
    def current_user(self, value):
        self._current_user = value

    def get_current_user(self):
        return None

    @property
    def locale(self):
        """The user's eddy.locale.Locale: get_user_locale(), else Accept-Language's."""
        if not hasattr(self, "_locale"):
            loc = self.get_user_locale()
            self._locale = loc if loc is not None else self.get_browser_locale()
        return self._locale

    @locale.setter
    def locale(self, value):
        self._locale = value

    def get_user_locale(self):
        """Override to pick the locale from the user's settings (None: use the browser's)."""
        return None

    def get_browser_locale(self, default="en_US"):
        """The closest supported locale to the request's Accept-Language (by q-value)."""
        from . import locale

        wanted = []
        for language in self.request.headers.get("Accept-Language", "").split(","):
            parts = language.strip().split(";")
            score = 1.0
            if len(parts) > 1 and parts[1].strip().startswith("q="):
                try:
                    score = float(parts[1].strip()[2:])
                    if score < 0:
                        raise ValueError()
                except (ValueError, TypeError):
                    score = 0.0
            if score > 0 and parts[0]:
                wanted.append((parts[0], score))
        if wanted:
            wanted.sort(key=lambda pair: pair[1], reverse=True)  # stable: ties keep order
            return locale.get(*[code for code, _ in wanted])
        return locale.get(default)

    def get_login_url(self):
        self.require_setting("login_url", "@tornado.web.authenticated")
        return self.application.settings["login_url"]

    @property
    def xsrf_token(self):
        if not hasattr(self, "_xsrf_token"):
            self._xsrf_token = _ll.eddy_handler_xsrf_token(self._h)
        return self._xsrf_token

    def xsrf_form_html(self):
        return ('<input type="hidden" name="_xsrf" value="'
                + escape.xhtml_escape(self.xsrf_token) + '"/>')

    def check_xsrf_cookie(self):
        """Raises HTTPError(403) unless the `_xsrf` argument or header matches the cookie.
        With the xsrf_cookies setting the C layer runs this check before prepare(); a class
        that overrides this method gets its own version called instead (as in Tornado)."""
        token = (self.get_argument("_xsrf", None) or self.request.headers.get("X-Xsrftoken")
                 or self.request.headers.get("X-Csrftoken"))
        if not token:
            raise HTTPError(403, "'_xsrf' argument missing from POST")
        token = _decode_xsrf_token(token)
        expected = _decode_xsrf_token(self.get_cookie("_xsrf") or "")
        if not token or not expected:
            raise HTTPError(403, "'_xsrf' argument has invalid format")
        if not hmac.compare_digest(token, expected):
            raise HTTPError(403, "XSRF cookie does not match POST argument")

    # ---- URLs ------------------------------------------------------------------------------
    def reverse_url(self, name, *args):
        return self.application.reverse_url(name, *args)

    def static_url(self, path, include_host=None, **kwargs):
        """The URL of a file under the static_path setting, with ?v=<content hash> unless
        include_version=False; include_host=True makes it absolute."""
        self.require_setting("static_path", "static_url")
        make = self.settings.get("static_handler_class", StaticFileHandler).make_static_url
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        base = self.request.protocol + "://" + self.request.host if include_host else ""
        return base + make(self.settings, path, **kwargs)

    def compute_etag(self):
        """The Etag of a 200 answer to GET/HEAD. eddy's default (None here) leaves it to the C
        layer, which hashes the body at finish; override it to return your own Etag, or None
        for no Etag (and no 304) — as in Tornado."""
        return None

    def set_etag_header(self):
        etag = self.compute_etag()
        if etag is not None:
            self.set_header("Etag", etag)

    def check_etag_header(self):
        """True when the request's If-None-Match matches the Etag header set so far (weak
        comparison; "*" matches any)."""
        computed = escape.utf8(self._etag_header or "")
        etags = re.findall(rb'\*|(?:W/)?"[^"]*"',
                           escape.utf8(self.request.headers.get("If-None-Match", "")))
        if not computed or not etags:
            return False
        if etags[0] == b"*":
            return True

        def strong(tag):
            return tag[2:] if tag.startswith(b"W/") else tag

        return any(strong(tag) == strong(computed) for tag in etags)

    def _apply_etag(self):
        """An overridden compute_etag() replaces the C layer's body hash (at finish, for a 200
        answer to GET/HEAD without an Etag header, as Tornado's finish() does)."""
        if (self._h is not None and self._status_code == 200 and self._etag_header is None
                and self.request.method in ("GET", "HEAD")):
            etag = self.compute_etag()
            _ll.eddy_handler_set_etag(self._h, None if etag is None else _header_value(etag))

    def _request_summary(self):
        return "%s %s (%s)" % (self.request.method, self.request.uri, self.request.remote_ip)

    # ---- the life cycle --------------------------------------------------------------------
    def _load_path_args(self, target):
        """The route's captures: named groups as path_kwargs, else positional path_args."""
        if target.named:
            h = self._h
            self.path_kwargs = {
                name: self.decode_argument(_ll.eddy_handler_path_kwarg(h, name) or b"", name)
                for name in target.named}
        elif target.groups:
            self.path_args = _ll.eddy_py_handler_path_args(self._h)
            if target.decodes_args:
                self.path_args = [self.decode_argument(a.encode("utf-8"))
                                  for a in self.path_args]

    def _own_xsrf_check(self):
        """An overridden check_xsrf_cookie() replaces the C layer's check (same methods)."""
        if (self.request.method not in ("GET", "HEAD", "OPTIONS")
                and self.settings.get("xsrf_cookies")):
            self.check_xsrf_cookie()

    # ---- streamed bodies (stream_request_body) ------------------------------------------------
    def _stream_step(self, fn, *args):
        """Runs prepare() or data_received(chunk) of a streamed-body handler in order: a step
        whose result is a coroutine is awaited before the next step and before the method runs
        (Tornado awaits prepare and each data_received before it reads on and before it calls
        the method). Before, the coroutines ran as free tasks: a data_received could still be
        running when the method ran, and an HTTPError from an async prepare was lost."""
        chain = self.__dict__.get("_stream_chain")
        if chain is not None:
            if chain.done() and self.__dict__.get("_stream_failed"):
                return  # answered by the failed step already
            if not chain.done():
                self._stream_chain = self._spawn_stream_step(self._stream_after(chain, fn, args))
                # A piece behind an awaiting step (the first one behind an async prepare,
                # which runs before streaming starts and so could not hold it): no more.
                self._hold_body()
                return
        result = fn(*args)  # a synchronous exception is the hook's (answered as before)
        if result is not None and _is_awaitable(result):
            self._stream_chain = self._spawn_stream_step(result)
            self._hold_body()

    def _hold_body(self):
        """Reads no more of the body while a step awaits, as Tornado's HTTP1Connection awaits
        prepare() and each data_received() before it reads on (TCP then slows the client).
        Without it the C layer kept reading and the pieces piled up in Python behind the
        awaiting step: a slow data_received (a disk, an upstream) let a fast client fill
        memory with up to max_body_size. A body read whole already cannot be held (EDDY_ESTATE):
        its pieces are in memory anyway."""
        if self.__dict__.get("_body_held") or self._finished:
            return
        if _ll.eddy_request_pause_body(_ll.eddy_handler_request(self._h)) == 0:
            self._body_held = True

    def _hold_for_prepare(self):
        """A coroutine prepare of a streamed body, still awaiting in the prepare hook: the C
        handler waits in prepare (eddy_handler_detach), which holds the body from the headers
        callback on, before streaming starts (_hold_body cannot pause it yet). As Tornado
        awaits prepare before it reads the body, and so before its 100 Continue: a client that
        sent `Expect: 100-continue` is asked for the body once prepare is done, and not at all
        when prepare answers (an HTTPError from an async auth check). _release_body resumes."""
        chain = self.__dict__.get("_stream_chain")
        if chain is None or chain.done() or self._finished:
            return
        if _ll.eddy_handler_detach(self._h) == 0:
            self._prepare_held = True

    def _release_body(self):
        """Reading resumes once the last awaiting step is done (see _hold_body)."""
        if self.__dict__.pop("_prepare_held", False):
            if not self._finished:
                # The C handler goes on from prepare: the body is read (its 100 Continue
                # written), and the method runs at its end. EDDY_ECLOSED: the client left; the
                # C layer finished the handler.
                _ll.eddy_handler_resume(self._h)
                self.application._ioloop._pump.kick()
            return
        if not self.__dict__.pop("_body_held", False) or self._finished:
            return  # a finished request's unread body closes its connection (C layer)
        _ll.eddy_request_resume_body(_ll.eddy_handler_request(self._h))
        self.application._ioloop._pump.kick()  # what was read meanwhile is delivered now

    def _spawn_stream_step(self, awaitable):
        task = asyncio.ensure_future(awaitable, loop=self.application._ioloop.asyncio_loop)
        task.add_done_callback(self._stream_step_done)
        return task

    async def _stream_after(self, chain, fn, args):
        try:
            await chain
        except BaseException:
            pass  # its own done callback answered it
        if self.__dict__.get("_stream_failed") or self._finished:
            return
        result = fn(*args)
        if result is not None and _is_awaitable(result):
            await result

    def _stream_step_done(self, task):
        # A failing step is answered at once, as Tornado's prepare()/data_received() errors
        # are; the later steps and the method then do not run.
        exc = asyncio.CancelledError() if task.cancelled() else task.exception()
        if exc is None and task is self.__dict__.get("_stream_chain"):
            self._release_body()  # the last step is done: the next piece may come
        if exc is None or self.__dict__.get("_stream_failed"):
            return
        self._stream_failed = True
        try:
            raise exc
        except BaseException as e:
            self._handle_request_exception(e)
        self.application._ioloop._pump.kick()

    async def _stream_steps_done(self, chain):
        try:
            await chain
        except BaseException:
            pass  # answered by _stream_step_done

    def _execute(self, target, method):
        if self.__dict__.get("_stream_failed"):
            return
        try:
            self._load_path_args(target)
            if method not in self.SUPPORTED_METHODS:
                raise HTTPError(405)
            chain = self.__dict__.get("_stream_chain")
            if chain is not None and not chain.done():
                # A streamed body's async prepare / data_received still runs: the method
                # waits for it (as Tornado's _execute awaits the body future).
                self._go_async(self._execute_async(self._stream_steps_done(chain), method))
                return
            if target.own_xsrf and not self._stream_request_body:
                self._own_xsrf_check()
            if target.has_prepare:
                result = self.prepare()
                if result is not None and _is_awaitable(result):
                    self._go_async(self._execute_async(result, method))
                    return
                if self._finished:
                    return
            result = getattr(self, method.lower())(*self.path_args, **self.path_kwargs)
            if result is not None and _is_awaitable(result):
                self._go_async(self._finish_async(result))
            elif not self._auto_finish and not self._finished:
                _ll.eddy_handler_detach(self._h)
            elif target.computes_etag and not self._finished:
                self._apply_etag()  # the C layer finishes right after this returns
        except (Exception, asyncio.CancelledError) as e:
            self._handle_request_exception(e)

    def _go_async(self, coro):
        _ll.eddy_handler_detach(self._h)
        # The task is kept by the handler, which the C handler keeps until it is released.
        self._task = self.application._ioloop.asyncio_loop.create_task(coro)

    async def _execute_async(self, prepared, method):
        try:
            await prepared
            if self._finished:
                return
            result = getattr(self, method.lower())(*self.path_args, **self.path_kwargs)
            if result is not None and _is_awaitable(result):
                await result
            if self._auto_finish and not self._finished:
                self.finish()
        except (Exception, asyncio.CancelledError) as e:
            # CancelledError too (a BaseException): escaping, it ended the task with the C
            # handler detached and unfinished, which nothing would ever release.
            self._handle_request_exception(e)
        finally:
            self.application._ioloop._pump.kick()

    async def _await_prepare(self, prepared):
        """A WebSocketHandler's coroutine prepare: awaited, then the handshake resumes
        (eddy_handler_resume) unless prepare finished the request; an HTTPError becomes its
        error page (403 ...), any other exception is logged and answered 500, as in Tornado."""
        try:
            await prepared
            if not self._finished:
                # EDDY_ECLOSED: the client left meanwhile; the C layer finished the handler.
                _ll.eddy_handler_resume(self._h)
        except (Exception, asyncio.CancelledError) as e:
            self._handle_request_exception(e)
        finally:
            self.application._ioloop._pump.kick()

    async def _finish_async(self, awaitable):
        try:
            await awaitable
            if self._auto_finish and not self._finished:
                self.finish()
        except (Exception, asyncio.CancelledError) as e:
            # CancelledError too (a BaseException): escaping, it ended the task with the C
            # handler detached and unfinished, which nothing would ever release.
            self._handle_request_exception(e)
        finally:
            self.application._ioloop._pump.kick()

    def _handle_request_exception(self, e):
        if isinstance(e, Finish):
            if not self._finished:
                self.finish(*e.args)
            return
        if isinstance(e, asyncio.CancelledError) and (
                self._finished or _ll.eddy_request_connection_closed(
                    _ll.eddy_handler_request(self._h))):
            # Cancelled after the answer, or once the client had gone (a long poll whose
            # on_connection_close cancelled what it awaited): nothing to report or send, but the
            # request ends here, so the handler is released and on_finish runs. A cancel while
            # the client still waits is an uncaught exception like any other (logged, 500).
            self._finish_closed()
            return
        try:
            self.log_exception(*sys.exc_info())
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            return
        status = e.status_code if isinstance(e, HTTPError) else 500
        self.send_error(status, exc_info=sys.exc_info())

    def log_exception(self, typ, value, tb):
        if isinstance(value, HTTPError):
            if value.log_message:
                gen_log.warning("%d %s: " + value.log_message, value.status_code,
                                self._request_summary(), *value.args)
        else:
            app_log.error("Uncaught exception %s\n%r", self._request_summary(), self.request,
                          exc_info=(typ, value, tb))


def _implemented_methods(cls):
    """The SUPPORTED_METHODS that the handler class defines a method for."""
    return [m for m in cls.SUPPORTED_METHODS
            if getattr(cls, m.lower(), RequestHandler._unimplemented_method)
            is not RequestHandler._unimplemented_method]


def _is_awaitable(value):
    return asyncio.iscoroutine(value) or asyncio.isfuture(value) or hasattr(value, "__await__")


def _header_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.datetime):
        return httputil.format_timestamp(value)
    raise TypeError("Unsupported header value %r" % value)


def _no_nul(*texts):
    """ValueError for a NUL in a string the C API takes NUL-terminated (a cookie's domain, path,
    samesite): SWIG would cut it there, so a path of "/a", NUL, "b" became "Path=/a" without a
    word. The C layer refuses the other control characters; this is Python's own error for an
    embedded NUL (as os.open gives)."""
    for text in texts:
        if text is not None and "\0" in text:
            raise ValueError("embedded null character in %r" % (text,))


def _wire(value):
    """A header value's bytes on the wire: Latin-1, as Tornado writes them and as request
    headers are read (so a request header echoed back keeps its bytes); a character beyond
    U+00FF raises UnicodeEncodeError, as in Tornado."""
    return value.encode("latin-1")


def _decode_xsrf_token(cookie):
    """The raw token of an XSRF cookie or argument (version 2 masked, or version 1)."""
    try:
        if cookie.startswith("2|"):
            _, mask, masked, _ts = cookie.split("|")
            mask = binascii.a2b_hex(mask)
            masked = binascii.a2b_hex(masked)
            return bytes(a ^ mask[i % len(mask)] for i, a in enumerate(masked))
        try:
            return binascii.a2b_hex(cookie.encode())
        except (binascii.Error, ValueError):
            return cookie.encode()
    except Exception:
        return None


_static_hashes = {}


def _static_version(root, path):
    """The SHA-512 of a static file's content (Tornado's get_content_version), cached per path
    until StaticFileHandler.reset()."""
    abspath = os.path.abspath(os.path.join(root, path))
    if abspath not in _static_hashes:
        try:
            with open(abspath, "rb") as f:
                _static_hashes[abspath] = hashlib.sha512(f.read()).hexdigest()
        except OSError:
            _static_hashes[abspath] = None
    return _static_hashes[abspath]


def authenticated(method):
    """Decorate a handler method: no current_user → redirect GET/HEAD to login_url, else 403."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    if urllib.parse.urlsplit(url).scheme:
                        next_url = self.request.full_url()
                    else:
                        next_url = self.request.uri
                    url += "?" + urllib.parse.urlencode(dict(next=next_url))
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return wrapper


def stream_request_body(cls):
    """Class decorator: request bodies arrive through data_received() instead of being
    buffered."""
    cls._stream_request_body = True
    return cls


def addslash(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.request.path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                uri = self.request.path + "/"
                if self.request.query:
                    uri += "?" + self.request.query
                self.redirect(uri, permanent=True)
                return None
            raise HTTPError(404)
        return method(self, *args, **kwargs)

    return wrapper


def removeslash(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.request.path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                uri = self.request.path.rstrip("/")
                if uri:
                    if self.request.query:
                        uri += "?" + self.request.query
                    self.redirect(uri, permanent=True)
                    return None
            else:
                raise HTTPError(404)
        return method(self, *args, **kwargs)

    return wrapper


class RedirectHandler(RequestHandler):
    """Redirects to `url` (str.format()ted with the path arguments), keeping the query."""

    def initialize(self, url, permanent=True):
        self._url = url
        self._permanent = permanent

    def get(self, *args, **kwargs):
        to_url = self._url.format(*args, **kwargs)
        if self.request.query_arguments:
            to_url = httputil.url_concat(
                to_url, [(k, v.decode("utf-8", "replace"))
                         for k, vs in self.request.query_arguments.items() for v in vs])
        self.redirect(to_url, permanent=self._permanent)


class StaticFileHandler(_static.StaticFileMethods, RequestHandler):
    """Files under {"path": root} for a route like r"/files/(.*)". The plain class with such a
    pattern (a literal prefix plus one group) is served by eddy's C static file code (sendfile,
    Range, ETag, .gz twins); a subclass that overrides its methods, or another pattern, is
    served in Python by the methods Tornado documents (see eddy._static)."""

    def initialize(self, path, default_filename=None):
        self.root = path
        self.default_filename = default_filename

    @classmethod
    def make_static_url(cls, settings, path, include_version=True):
        url = settings.get("static_url_prefix", "/static/") + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        return url + "?v=" + version if version else url

    @classmethod
    def get_version(cls, settings, path):
        """The content hash static_url() appends (None when the file cannot be read)."""
        return _static_version(settings["static_path"], path)

    @classmethod
    def reset(cls):
        """Forgets the cached content hashes (files changed on disk)."""
        _static_hashes.clear()
        _static.StaticFileMethods._version_cache.clear()

    @classmethod
    def _served_in_c(cls, pattern):
        """The route prefix when the C layer can serve this class at `pattern`, else None."""
        if any(getattr(cls, name) is not getattr(StaticFileHandler, name)
               for name in _static.OVERRIDABLE):
            return None
        prefix = pattern[:-1] if pattern.endswith("$") else pattern
        if not prefix.endswith("(.*)") or re.escape(prefix[:-4]) != prefix[:-4]:
            return None
        return prefix[:-4]


class ErrorHandler(RequestHandler):
    """Answers every request with `status_code`."""

    def initialize(self, status_code):
        self.set_status(status_code)

    def prepare(self):
        raise HTTPError(self._status_code)


# ---- routing -------------------------------------------------------------------------------
class URLSpec:
    def __init__(self, pattern, handler, kwargs=None, name=None):
        if not pattern.endswith("$"):
            pattern += "$"
        self.pattern = pattern
        self.regex = re.compile(pattern)
        self.handler_class = handler
        self.kwargs = kwargs or {}
        self.name = name

    def reverse(self, *args):
        """The path for these group values (each URL-escaped); ValueError for a pattern too
        complex to reverse."""
        parts = _reverse_parts(self.pattern)
        if parts is None:
            raise ValueError("Cannot reverse url regex " + self.pattern)
        # An AssertionError, as Tornado's reverse() raises.
        assert len(args) == len(parts) - 1, "required number of arguments not found"
        out = [parts[0]]
        for arg, literal in zip(args, parts[1:]):
            if not isinstance(arg, (str, bytes)):
                arg = str(arg)
            out.append(escape.url_escape(escape.utf8(arg), plus=False))
            out.append(literal)
        return "".join(out)

    def __repr__(self):
        return "%s(%r, %s, kwargs=%r, name=%r)" % (type(self).__name__, self.pattern,
                                                   self.handler_class, self.kwargs, self.name)


url = URLSpec


def _reverse_parts(pattern):
    """The literal pieces around the groups of a simple pattern ("/a/(\\d+)/b$" → ["/a/", "/b"]),
    or None when it cannot be reversed (nested or non-capturing groups, escapes like \\d
    outside a group)."""
    if re.compile(pattern).groups != pattern.count("("):
        return None
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$"):
        pattern = pattern[:-1]
    parts, literal, depth, i = [], "", 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and depth == 0:
            if i + 1 >= len(pattern) or pattern[i + 1].isalnum():
                return None  # \\d, \\w...: not a literal
            literal += pattern[i + 1]
            i += 2
            continue
        if c == "(":
            if depth == 0:
                parts.append(literal)
                literal = ""
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0:
            literal += c
        i += 1
    parts.append(literal)
    return parts


def _overrides(cls, name):
    return getattr(cls, name) is not getattr(RequestHandler, name)


class _RouteTarget:
    """The userdata of one C route: makes the handler instance and runs its life cycle."""

    __slots__ = ("app_ref", "cls", "kwargs", "named", "groups", "has_prepare", "decodes_args",
                 "computes_etag", "own_xsrf", "reload", "__weakref__")

    def __init__(self, app, cls, kwargs, regex):
        # A weak reference: the C route keeps this target, and the target must not keep the
        # application alive (Application.__del__ frees the C application and its routes).
        self.app_ref = weakref.ref(app)
        self.cls = cls
        self.kwargs = kwargs
        self.named = tuple(regex.groupindex)
        self.groups = regex.groups
        # Streamed bodies: prepare runs from the C prepare hook, before the first piece.
        self.has_prepare = _overrides(cls, "prepare") and not cls._stream_request_body
        self.decodes_args = _overrides(cls, "decode_argument")
        self.computes_etag = _overrides(cls, "compute_etag")
        self.own_xsrf = _overrides(cls, "check_xsrf_cookie")
        self.reload = not (app.settings.get("compiled_template_cache", True)
                           and app.settings.get("static_hash_cache", True))

    def _make(self, h):
        app = self.app_ref()
        if self.reload:
            if not app.settings.get("compiled_template_cache", True):
                for loader in RequestHandler._template_loaders.values():
                    loader.reset()
            if not app.settings.get("static_hash_cache", True):
                app.settings.get("static_handler_class", StaticFileHandler).reset()
        request = HTTPServerRequest(_h=h)
        handler = self.cls(app, request, **self.kwargs)
        _ll.eddy_py_handler_bind(h, handler)
        return handler

    def __call__(self, kind, h, handler, arg):
        try:
            if kind == 0:  # EDDY_PY_HOOK_METHOD
                if handler is None:
                    handler = self._make(h)
                handler._execute(self, arg)
            elif kind == 3:  # EDDY_PY_HOOK_CONNECTION_CLOSE
                if handler is not None:
                    handler._fail_pending_flushes()
                    handler.on_connection_close()
            elif kind == 5:  # EDDY_PY_HOOK_WRITE_ERROR
                if handler is None:
                    handler = self._make(h)
                handler._write_error_hook(arg)
            elif kind == 4:  # EDDY_PY_HOOK_DEFAULT_HEADERS
                if handler is None:
                    handler = self._make(h)
                handler.set_default_headers()
            elif kind == 2:  # EDDY_PY_HOOK_ON_FINISH
                if handler is not None:
                    handler._done = True
                    if not handler._finish_reported:  # a WebSocket's ran before open()
                        handler._finish_reported = True
                        handler.on_finish()
            elif kind == 7:  # EDDY_PY_HOOK_FLUSHED
                if handler is not None:
                    handler._flushed(arg)
            elif kind == 1:  # EDDY_PY_HOOK_PREPARE (routes with streamed bodies)
                if handler is None:
                    handler = self._make(h)
                if self.own_xsrf:
                    handler._own_xsrf_check()
                if handler._stream_request_body:
                    handler._stream_step(handler.prepare)
                    handler._hold_for_prepare()
                else:  # a WebSocketHandler's: the handshake (the C GET callback) follows
                    result = handler.prepare()
                    if result is not None and _is_awaitable(result):
                        # Tornado awaits a coroutine prepare before get() (the upgrade): the
                        # C handler waits in prepare (detached) until _await_prepare resumes
                        # it. The upgrade used to go out at once: open() ran before prepare
                        # ended and an HTTPError from it (an async auth check) refused nothing.
                        handler._go_async(handler._await_prepare(result))
            elif kind >= 8:  # EDDY_PY_HOOK_WS_*: WebSocketHandler events (eddy.websocket)
                if handler is None and kind in (8, 13, 14):  # open, check_origin, subprotocol
                    handler = self._make(h)
                if handler is not None:
                    return handler._ws_event(kind, arg, self)
            elif kind == 6:  # EDDY_PY_HOOK_DATA_RECEIVED
                if handler is None:
                    handler = self._make(h)
                handler._stream_step(handler.data_received, arg)
        except (SystemExit, KeyboardInterrupt) as e:
            # Not swallowed by the C trampoline (it could only report it as unraisable): it
            # stops the loop, which raises it from start() / run_sync(), as asyncio does.
            app = self.app_ref()
            (app._ioloop if app is not None else IOLoop.current())._interrupt(e, from_c=True)
        except Exception as e:
            if handler is None:
                app_log.error("Uncaught exception making %s", self.cls.__name__, exc_info=True)
                _ll.eddy_handler_send_error(h, 500)
            elif kind in (8, 9, 11, 12):  # open / on_message / on_ping / on_pong: close, 1011
                handler._fail(e)
            elif kind in (0, 1, 4, 6, 13, 14):  # before the upgrade: an error response
                handler._handle_request_exception(e)
            else:
                app_log.error("Uncaught exception in %s", self.cls.__name__, exc_info=True)


class Application:
    """Tornado's Application: Application([(r"/", MainHandler), ...], **settings)."""

    def __init__(self, handlers=None, default_host=None, transforms=None, **settings):
        self.settings = settings
        self.ui_modules = _ui.load_modules(settings.get("ui_modules", {}),
                                           dict(_ui.DEFAULT_MODULES))
        self.ui_methods = _ui.load_methods(settings.get("ui_methods", {}), {})
        self.default_host = default_host
        self.named_handlers = {}
        self._ioloop = IOLoop.current()
        self._app = _ll.eddy_app_new(self._ioloop._eddy)
        if self._app is None:
            raise RuntimeError("eddy_app_new failed")
        self._ioloop._apps.add(self)
        self._server = None
        self._methods = set()
        if settings.get("debug"):
            settings.setdefault("serve_traceback", True)
            # Templates and static hashes are read again for every request (as in Tornado).
            settings.setdefault("compiled_template_cache", False)
            settings.setdefault("static_hash_cache", False)
        if settings.get("cookie_secret"):
            secret = settings["cookie_secret"]
            if isinstance(secret, dict):
                secret = secret[max(secret)]
            _ll.eddy_app_set_cookie_secret(self._app, secret)
        if settings.get("xsrf_cookies"):
            _ll.eddy_app_set_xsrf_cookies(self._app, 1)
        if settings.get("compress_response") or settings.get("gzip"):
            _ll.eddy_app_set_compress_response(self._app, 1)
        if settings.get("static_path"):
            prefix = settings.get("static_url_prefix", "/static/")
            static_class = settings.get("static_handler_class", StaticFileHandler)
            static_args = dict(settings.get("static_handler_args", {}), path=settings["static_path"])
            pattern = re.escape(prefix) + r"(.*)"
            if static_class._served_in_c(pattern) is not None:
                self._add_static(prefix, settings["static_path"])
            else:  # a subclass with its own behaviour: a Python route, tried first
                self._add_route(None, URLSpec(pattern, static_class, static_args))
            for pattern in (r"/(favicon\.ico)", r"/(robots\.txt)"):  # as Tornado does
                self._add_route(None, URLSpec(pattern, static_class, static_args))
        if handlers:
            self._add_specs(None, handlers)
        if settings.get("default_handler_class"):
            route = self._add_route(None, URLSpec(r"(?!)", settings["default_handler_class"],
                                                   settings.get("default_handler_args")))
            _ll.eddy_app_set_default_route(self._app, route)

    def _add_static(self, prefix, root):
        rc = _ll.eddy_app_add_static(self._app, prefix, root)
        if rc < 0:
            raise ValueError("cannot serve %r at %r: %s" % (root, prefix, _ll.eddy_strerror(rc)))

    def add_handlers(self, host_pattern, host_handlers):
        """Routes for requests whose host name (lower-cased, no port) matches host_pattern.
        Host patterns are tried in the order added, before the Application's own handlers;
        when default_host matches host_pattern, these handlers also serve requests for
        unknown hosts (as in Tornado)."""
        if not host_pattern.endswith("$"):
            host_pattern += "$"
        self._add_specs(host_pattern, host_handlers)
        if self.default_host is not None and re.match(host_pattern, self.default_host):
            self._add_specs(None, host_handlers)

    def _add_specs(self, host, host_handlers):
        for spec in host_handlers:
            if isinstance(spec, (tuple, list)):
                spec = URLSpec(*spec)
            if issubclass(spec.handler_class, StaticFileHandler):
                prefix = spec.handler_class._served_in_c(spec.pattern)
                if prefix is not None and host is None:
                    self._add_static(prefix, spec.kwargs["path"])
                    continue
            self._add_route(host, spec)

    def _add_route(self, host, spec):
        target = _RouteTarget(self, spec.handler_class, spec.kwargs, spec.regex)
        if host is None:
            route = _ll.eddy_app_add_route(self._app, spec.pattern, target)
        else:
            route = _ll.eddy_app_add_host_route(self._app, host, spec.pattern, target)
        if route is None:
            raise ValueError("invalid route pattern %r" % spec.pattern)
        cls = spec.handler_class
        if getattr(cls, "_eddy_websocket", False):
            self._enable_websocket(route, cls, spec)
        else:
            self._enable_methods(route, cls)
        if spec.name:
            _ll.eddy_route_set_name(route, spec.name)
            self.named_handlers[spec.name] = spec
        return route

    def _enable_methods(self, route, cls):
        for method in cls.SUPPORTED_METHODS:
            _ll.eddy_py_route_enable(route, method)
            self._methods.add(method)
        _ll.eddy_py_route_enable(route, "write_error")
        _ll.eddy_py_route_enable(route, "on_connection_close")
        if _overrides(cls, "set_default_headers"):
            _ll.eddy_py_route_enable(route, "set_default_headers")
        if _overrides(cls, "on_finish"):
            _ll.eddy_py_route_enable(route, "on_finish")
        if _overrides(cls, "check_xsrf_cookie"):
            _ll.eddy_route_set_xsrf_check(route, 0)  # the class checks (or not) by itself
        if cls._stream_request_body:
            _ll.eddy_py_route_enable(route, "data_received")
            if _overrides(cls, "prepare") or _overrides(cls, "check_xsrf_cookie"):
                _ll.eddy_py_route_enable(route, "prepare")

    def _enable_websocket(self, route, cls, spec):
        """A WebSocketHandler route: the C layer does the handshake and the frames."""
        rc = cls._eddy_route_setup(self, route)
        if rc < 0:
            raise ValueError("cannot make %r a WebSocket route: %s"
                             % (spec.pattern, _ll.eddy_strerror(rc)))
        if _overrides(cls, "set_default_headers"):
            _ll.eddy_py_route_enable(route, "set_default_headers")
        if _overrides(cls, "prepare"):
            _ll.eddy_py_route_enable(route, "prepare")
        if _overrides(cls, "on_finish"):
            # For a handshake refused with an error page (prepare, check_origin, ...), as
            # Tornado's send_error ends in finish(); an upgraded connection's on_finish runs
            # before open() and not again when the session ends (_finish_reported).
            _ll.eddy_py_route_enable(route, "on_finish")
        # An error before the upgrade (HTTPError from prepare, a refused origin) goes through
        # send_error/write_error as in Tornado: HTTPError's reason and an overridden
        # write_error() reach the response.
        _ll.eddy_py_route_enable(route, "write_error")
        # A client that leaves while a coroutine prepare waits is told at once, as in Tornado
        # (on_connection_close, which runs on_close): it used to hear nothing at all, since
        # eddy_handler_resume then finishes the request without an upgrade.
        _ll.eddy_py_route_enable(route, "on_connection_close")

    def reverse_url(self, name, *args):
        if any(isinstance(a, bytes) for a in args) and name in self.named_handlers:
            # Tornado URL-escapes a bytes argument's own bytes; str() would give "b'...'"
            # (and the C layer takes text only). URLSpec.reverse is Tornado's algorithm.
            return self.named_handlers[name].reverse(*args)
        return _ll.eddy_py_app_reverse_url(self._app, name, [str(a) for a in args])

    def listen(self, port, address=None, *, family=None, backlog=128, flags=None,
               reuse_port=False, **kwargs):
        """Serves this application on port (0: a free one, see the result's .port); kwargs
        are HTTPServer options (xheaders, max_body_size, ...). Returns the HTTPServer."""
        from .httpserver import HTTPServer

        server = HTTPServer(self, **kwargs)
        server.listen(port, address, family=family, backlog=backlog, flags=flags,
                      reuse_port=reuse_port)
        return server

    def log_request(self, handler):
        """Writes the access log line of a finished request; the log_function setting replaces
        it. eddy calls it (and log_function) with a stand-in for the handler that offers
        get_status(), request (method, uri, path, version, remote_ip, host, request_time()) and
        _request_summary(): the handler object itself is released by then."""
        if "log_function" in self.settings:
            self.settings["log_function"](handler)
            return
        status = handler.get_status()
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        if access_log.isEnabledFor(level):
            access_log.log(level, "%d %s %.2fms", status, handler._request_summary(),
                           1000.0 * handler.request.request_time())

    def _logs_in_python(self):
        return "log_function" in self.settings or type(self).log_request is not Application.log_request

    def close(self):
        """Frees the C application (eddy's addition; Tornado has none): routes and server go."""
        if self._app is not None:
            self._ioloop._apps.discard(self)
            _ll.eddy_app_free(self._app)
            self._app = None

    def __del__(self):
        if getattr(self, "_app", None) is not None and self._ioloop._eddy is not None:
            _ll.eddy_app_free(self._app)
            self._app = None
