"""eddy.httputil: the HTTP helpers of tornado.httputil that handlers see."""

import calendar
import collections
import collections.abc
import datetime
import email.utils
import http.client
import http.cookies
import logging
import numbers
import re
import time
import urllib.parse

from .escape import native_str, parse_qs_bytes, utf8

responses = http.client.responses
gen_log = logging.getLogger("eddy.general")


class HTTPInputError(Exception):
    """Malformed HTTP input (a request line, headers, a body)."""


class HTTPOutputError(Exception):
    """Malformed HTTP output."""


class ObjectDict(dict):
    """A dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value


RequestStartLine = collections.namedtuple("RequestStartLine", ["method", "path", "version"])
ResponseStartLine = collections.namedtuple("ResponseStartLine", ["version", "code", "reason"])
_HTTP_VERSION_RE = re.compile(r"^HTTP/1\.[0-9]$")


def parse_request_start_line(line):
    """RequestStartLine from "GET /path HTTP/1.1"; HTTPInputError when malformed."""
    try:
        method, path, version = line.split(" ")
    except ValueError:
        raise HTTPInputError("Malformed HTTP request line")
    if not _HTTP_VERSION_RE.match(version):
        raise HTTPInputError("Malformed HTTP version in HTTP Request-Line: %r" % version)
    return RequestStartLine(method, path, version)


def parse_response_start_line(line):
    """ResponseStartLine from "HTTP/1.1 200 OK"; HTTPInputError when malformed."""
    m = re.match(r"(HTTP/1.[0-9]) ([0-9]+) ([^\r]*)", native_str(line))
    if not m:
        raise HTTPInputError("Error parsing response start line")
    return ResponseStartLine(m.group(1), int(m.group(2)), m.group(3))


def split_host_and_port(netloc):
    """("host", port or None) from "host:port"."""
    m = re.match(r"^(.+):(\d+)$", netloc)
    if m:
        return m.group(1), int(m.group(2))
    return netloc, None


def qs_to_qsl(qs):
    """(name, value) pairs from a parse_qs-style dict."""
    for k, vs in qs.items():
        for v in vs:
            yield (k, v)


def encode_username_password(username, password):
    """b"user:password" for HTTP basic authentication."""
    return utf8(username) + b":" + utf8(password)


def parse_cookie(cookie):
    """A dict from a Cookie header, as browsers send it (lenient, like Tornado's)."""
    result = {}
    for chunk in cookie.split(";"):
        key, eq, val = chunk.partition("=")
        if not eq:
            key, val = "", key
        key, val = key.strip(), val.strip()
        if key or val:
            result[key] = http.cookies._unquote(val)
    return result


def parse_body_arguments(content_type, body, arguments, files, headers=None):
    """Adds a form body's fields to `arguments` (name → [bytes]) and its uploads to `files`
    (name → [HTTPFile]): application/x-www-form-urlencoded and multipart/form-data. Raises
    HTTPInputError for a malformed body; other content types are left alone."""
    form = content_type.startswith("application/x-www-form-urlencoded")
    multipart = content_type.startswith("multipart/form-data")
    if (form or multipart) and headers and "Content-Encoding" in headers:
        raise HTTPInputError("Unsupported Content-Encoding: %s" % headers["Content-Encoding"])
    if form:
        try:
            parsed = parse_qs_bytes(body, keep_blank_values=True)
        except Exception as e:
            raise HTTPInputError("Invalid x-www-form-urlencoded body: %s" % e) from e
        for name, values in parsed.items():
            if values:
                arguments.setdefault(name, []).extend(values)
    elif multipart:
        try:
            for field in content_type.split(";"):
                k, _, v = field.strip().partition("=")
                if k == "boundary" and v:
                    parse_multipart_form_data(utf8(v), body, arguments, files)
                    break
            else:
                raise HTTPInputError("multipart boundary not found")
        except Exception as e:
            raise HTTPInputError("Invalid multipart/form-data: %s" % e) from e


def parse_multipart_form_data(boundary, data, arguments, files):
    """parse_body_arguments' multipart/form-data half (`boundary` as bytes)."""
    if boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]
    end = data.rfind(b"--" + boundary + b"--")
    if end == -1:
        raise HTTPInputError("Invalid multipart/form-data: no final boundary found")
    for part in data[:end].split(b"--" + boundary + b"\r\n"):
        if not part:
            continue
        head_end = part.find(b"\r\n\r\n")
        if head_end == -1:
            raise HTTPInputError("multipart/form-data missing headers")
        headers = HTTPHeaders.parse(part[:head_end].decode("utf-8"))
        disposition = headers.get("Content-Disposition", "")
        if not disposition.startswith("form-data;") or not part.endswith(b"\r\n"):
            raise HTTPInputError("Invalid multipart/form-data")
        params = {}
        for item in disposition.split(";")[1:]:
            k, _, v = item.strip().partition("=")
            params[k] = v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v
        value = part[head_end + 4:-2]
        if not params.get("name"):
            raise HTTPInputError("multipart/form-data missing name")
        name = params["name"]
        if "filename" in params:
            files.setdefault(name, []).append(HTTPFile(
                filename=params["filename"], body=value,
                content_type=headers.get("Content-Type", "application/unknown")))
        else:
            arguments.setdefault(name, []).append(value)


class HTTPHeaders(collections.abc.MutableMapping):
    """Case-insensitive, multi-valued headers: h["X"] is the values joined by ","; get_list()
    gives each one; add() appends."""

    def __init__(self, *args, **kwargs):
        self._dict = {}
        self._as_list = {}
        self._names = {}
        if args or kwargs:
            self.update(*args, **kwargs)

    @staticmethod
    def _norm(name):
        return "-".join(w.capitalize() for w in name.split("-"))

    def add(self, name, value):
        key = name.lower()
        if key in self._as_list:
            self._as_list[key].append(value)
            self._dict[key] = self._dict[key] + "," + value
        else:
            self._names[key] = self._norm(name)
            self._as_list[key] = [value]
            self._dict[key] = value

    def get_list(self, name):
        return list(self._as_list.get(name.lower(), []))

    def get_all(self):
        for key, values in self._as_list.items():
            for value in values:
                yield self._names[key], value

    def __setitem__(self, name, value):
        key = name.lower()
        self._names[key] = self._norm(name)
        self._dict[key] = value
        self._as_list[key] = [value]

    def __getitem__(self, name):
        return self._dict[name.lower()]

    def __delitem__(self, name):
        key = name.lower()
        del self._dict[key]
        del self._as_list[key]
        del self._names[key]

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._dict

    def __len__(self):
        return len(self._dict)

    def __iter__(self):
        return iter(self._names[k] for k in self._dict)

    def copy(self):
        return HTTPHeaders(list(self.get_all()))

    def parse_line(self, line):
        """Adds one "Name: value" line (a line starting with whitespace continues the last)."""
        if line[0].isspace():
            if not getattr(self, "_last_key", None):
                raise HTTPInputError("first header line cannot start with whitespace")
            new_part = " " + line.lstrip()
            self._as_list[self._last_key][-1] += new_part
            self._dict[self._last_key] += new_part
            return
        try:
            name, value = line.split(":", 1)
        except ValueError:
            raise HTTPInputError("no colon in header line")
        self.add(name, value.strip())
        self._last_key = name.lower()

    @classmethod
    def parse(cls, headers):
        """HTTPHeaders from a header block ("Name: value" lines)."""
        h = cls()
        for line in headers.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                h.parse_line(line)
        return h

    def __str__(self):
        return "".join("%s: %s\n" % (n, v) for n, v in self.get_all())

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, dict(self.items()))


class HTTPFile(dict):
    """An uploaded file: filename, body and content_type, as keys and as attributes."""

    __getattr__ = dict.get


def url_concat(url, args):
    if args is None:
        return url
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    query.extend(args.items() if isinstance(args, dict) else args)
    return urllib.parse.urlunparse(parsed._replace(query=urllib.parse.urlencode(query)))


def format_timestamp(ts):
    """An HTTP date from a Unix time, time tuple or datetime."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        secs = ts
    elif isinstance(ts, (tuple, time.struct_time)):
        secs = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        secs = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError("unknown timestamp type: %r" % ts)
    return email.utils.formatdate(secs, usegmt=True)


def _to_unix_time(value):
    if value is None:
        return 0.0
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return float(calendar.timegm(value.utctimetuple()))
        return value.timestamp()
    raise TypeError("unknown expires type: %r" % (value,))


def __getattr__(name):
    # tornado.httputil.HTTPServerRequest is the handler's request class, which lives in
    # eddy.web (it reads the C request); loaded lazily to avoid an import cycle.
    if name == "HTTPServerRequest":
        from .web import HTTPServerRequest

        return HTTPServerRequest
    raise AttributeError("module 'eddy.httputil' has no attribute %r" % name)
