"""StaticFileHandler's overridable methods (mixed into eddy.web.StaticFileHandler).

eddy's C layer serves a plain StaticFileHandler route itself (sendfile, Range, ETag). A
subclass that overrides any of these methods, or a route pattern that is not a literal prefix
plus one group, is served here instead, in Python, the way Tornado documents it: so
set_extra_headers, get_cache_time, get_content, validate_absolute_path... are honoured."""

import datetime
import email.utils
import hashlib
import mimetypes
import os
import re

# The methods whose override moves a route from the C server to this code.
OVERRIDABLE = ("get", "head", "compute_etag", "set_headers", "should_return_304",
               "get_absolute_path", "validate_absolute_path", "get_content",
               "get_content_version", "get_content_size", "get_modified_time",
               "get_content_type", "set_extra_headers", "get_cache_time", "parse_url_path",
               "prepare", "get_version", "make_static_url")

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header):
    """(start, end) of a single "bytes=a-b" range, end exclusive; "bytes=-n" gives (-n, None).
    None when the header is not one such range."""
    m = _RANGE_RE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:
        return -int(last), None
    return int(first), (int(last) + 1 if last else None)


class StaticFileMethods:
    CACHE_MAX_AGE = 86400 * 365 * 10  # 10 years, for URLs carrying ?v=

    _version_cache = {}

    async def get(self, path, include_body=True):
        from .web import HTTPError  # noqa: F401  (raised by the methods below)

        self.path = self.parse_url_path(path)
        del path
        self.absolute_path = self.validate_absolute_path(
            self.root, self.get_absolute_path(self.root, self.path))
        if self.absolute_path is None:
            return
        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return
        size = self.get_content_size()
        start = end = None
        wanted = parse_range(self.request.headers.get("Range", "") or "")
        if wanted:
            start, end = wanted
            if start < 0:
                start = max(start + size, 0)
            if start >= size or (end is not None and start >= end) or end == 0:
                self.set_status(416)
                self.set_header("Content-Type", "text/plain")
                self.set_header("Content-Range", "bytes */%s" % size)
                return
            if end is not None and end > size:
                end = size
            if size != (end or size) - start:
                self.set_status(206)
                self.set_header("Content-Range",
                                "bytes %s-%s/%s" % (start, (end or size) - 1, size))
        length = (end if end is not None else size) - (start or 0)
        self.set_header("Content-Length", length)
        if include_body:
            content = self.get_content(self.absolute_path, start, end)
            if isinstance(content, bytes):
                content = [content]
            for chunk in content:
                if self.request.connection.stream.closed():
                    return
                self.write(chunk)
                await self.flush()

    def head(self, path):
        return self.get(path, include_body=False)

    def compute_etag(self):
        version = self._get_cached_version(self.absolute_path)
        return '"%s"' % version if version else None

    def set_headers(self):
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", self.modified)
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            self.set_header("Expires", datetime.datetime.utcnow()
                            + datetime.timedelta(seconds=cache_time))
            self.set_header("Cache-Control", "max-age=" + str(cache_time))
        self.set_extra_headers(self.path)

    def should_return_304(self):
        if self.request.headers.get("If-None-Match"):
            return self.check_etag_header()
        since = self.request.headers.get("If-Modified-Since")
        if since is not None:
            parsed = email.utils.parsedate(since)
            if parsed is not None and self.modified is not None:
                return datetime.datetime(*parsed[:6]) >= self.modified
        return False

    @classmethod
    def get_absolute_path(cls, root, path):
        return os.path.abspath(os.path.join(root, path))

    def validate_absolute_path(self, root, absolute_path):
        from .web import HTTPError

        root = os.path.abspath(root)
        if not root.endswith(os.path.sep):
            root += os.path.sep
        if not (absolute_path + os.path.sep).startswith(root):
            raise HTTPError(403, "%s is not in root static directory", self.path)
        if os.path.isdir(absolute_path) and self.default_filename is not None:
            if not self.request.path.endswith("/"):
                if self.request.path.startswith("//"):
                    raise HTTPError(403, "cannot redirect path with two initial slashes")
                self.redirect(self.request.path + "/", permanent=True)
                return None
            absolute_path = os.path.join(absolute_path, self.default_filename)
        if not os.path.exists(absolute_path):
            raise HTTPError(404)
        if not os.path.isfile(absolute_path):
            raise HTTPError(403, "%s is not a file", self.path)
        return absolute_path

    @classmethod
    def get_content(cls, abspath, start=None, end=None):
        """The file's bytes from start to end (exclusive), in pieces of 64 KiB."""
        with open(abspath, "rb") as f:
            if start is not None:
                f.seek(start)
            remaining = None if end is None else end - (start or 0)
            while remaining is None or remaining > 0:
                piece = f.read(65536 if remaining is None else min(65536, remaining))
                if not piece:
                    return
                if remaining is not None:
                    remaining -= len(piece)
                yield piece

    @classmethod
    def get_content_version(cls, abspath):
        hasher = hashlib.sha512()
        data = cls.get_content(abspath)
        for piece in [data] if isinstance(data, bytes) else data:
            hasher.update(piece)
        return hasher.hexdigest()

    @classmethod
    def _get_cached_version(cls, abspath):
        if abspath not in cls._version_cache:
            try:
                cls._version_cache[abspath] = cls.get_content_version(abspath)
            except Exception:
                return None
        return cls._version_cache[abspath]

    def _stat(self):
        if not hasattr(self, "_stat_result"):
            self._stat_result = os.stat(self.absolute_path)
        return self._stat_result

    def get_content_size(self):
        return self._stat().st_size

    def get_modified_time(self):
        return datetime.datetime.utcfromtimestamp(int(self._stat().st_mtime))

    def get_content_type(self):
        mime_type, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding == "gzip":
            return "application/gzip"
        if encoding is not None:
            return "application/octet-stream"
        return mime_type or "application/octet-stream"

    def set_extra_headers(self, path):
        pass

    def get_cache_time(self, path, modified, mime_type):
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    def parse_url_path(self, url_path):
        if os.path.sep != "/":
            url_path = url_path.replace("/", os.path.sep)
        return url_path
