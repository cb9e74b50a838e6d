"""eddy.escape: tornado.escape's helpers (HTML, JSON, URL, bytes/str)."""

import html
import json
import re
import urllib.parse

_XHTML_ESCAPE = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_XHTML_RE = re.compile("[&<>\"']")


def xhtml_escape(value):
    return _XHTML_RE.sub(lambda m: _XHTML_ESCAPE[m.group(0)], to_unicode(value))


def xhtml_unescape(value):
    return html.unescape(to_unicode(value))


def json_encode(value):
    # "</" is escaped so JSON can sit inside a <script> block.
    return json.dumps(value).replace("</", "<\\/")


def json_decode(value):
    return json.loads(value)


def squeeze(value):
    return re.sub(r"[\x00-\x20]+", " ", value).strip()


def url_escape(value, plus=True):
    quote = urllib.parse.quote_plus if plus else urllib.parse.quote
    return quote(utf8(value))


def url_unescape(value, encoding="utf-8", plus=True):
    if encoding is None:
        if plus:
            value = to_basestring(value).replace("+", " ")
        return urllib.parse.unquote_to_bytes(value)
    unquote = urllib.parse.unquote_plus if plus else urllib.parse.unquote
    return unquote(to_basestring(value), encoding=encoding)


def parse_qs_bytes(qs, keep_blank_values=False, strict_parsing=False):
    """urllib.parse.parse_qs with bytes values (the query may hold any encoding)."""
    if isinstance(qs, bytes):
        qs = qs.decode("latin1")
    result = urllib.parse.parse_qs(qs, keep_blank_values, strict_parsing, encoding="latin1",
                                   errors="strict")
    return {k: [v.encode("latin1") for v in vs] for k, vs in result.items()}


def utf8(value):
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError("Expected bytes, unicode, or None; got %r" % type(value))
    return value.encode("utf-8")


def to_unicode(value):
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise TypeError("Expected bytes, unicode, or None; got %r" % type(value))
    return value.decode("utf-8")


native_str = to_unicode
to_basestring = to_unicode
_unicode = to_unicode


def recursive_unicode(obj):
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(i) for i in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(i) for i in obj)
    if isinstance(obj, bytes):
        return to_unicode(obj)
    return obj


# A URL inside already-escaped text: a scheme with 1-3 slashes (or "www."), then characters
# other than spaces, "&" and parentheses (the entities &amp; and &quot; allowed) or a
# parenthesized run, the last one not punctuation, so "see http://x.org/a." stops before ".".
_URL_CHAR = r"(?:[^\s&()]|&amp;|&quot;)"
_URL_RE = re.compile(
    r"\b((?:([\w-]+):(/{1,3})|www[.])"
    r"(?:(?:%s*[^!\"#$%%&'()*+,.:;<=>?@\[\]^`{|}~\s])|(?:\(%s*\)))+)" % (_URL_CHAR, _URL_CHAR))


def linkify(text, shorten=False, extra_params="", require_protocol=False,
            permitted_protocols=("http", "https")):
    """HTML-escapes `text` and turns the URLs in it into links. extra_params: attributes for
    each <a> (or a function of the URL returning them); require_protocol: skip "www." links;
    permitted_protocols: the schemes that become links; shorten: clip long link texts."""
    if extra_params and not callable(extra_params):
        extra_params = " " + extra_params.strip()

    def make_link(m):
        url = m.group(1)
        proto = m.group(2)
        if require_protocol and not proto:
            return url
        if proto and proto not in permitted_protocols:
            return url
        href = url if proto else "http://" + url
        params = extra_params(href).strip() if callable(extra_params) else extra_params
        if callable(extra_params) and params:
            params = " " + params
        if shorten and len(url) > 30:
            params += ' title="%s"' % href
            url = url[:27] + "..."
        return '<a href="%s"%s>%s</a>' % (href, params, url)

    return _URL_RE.sub(make_link, xhtml_escape(text))
