"""eddy.httputil: the HTTP helpers of tornado.httputil that handlers see."""

import calendar
import collections.abc
import datetime
import email.utils
import http.client
import numbers
import time
import urllib.parse

responses = http.client.responses


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
