"""eddy's error codes (include/eddy/common.h) as Python's OSError, with errno set.

Tornado's listen() / bind_sockets() raise the socket module's OSError, whose errno callers test
(EADDRINUSE above all), and process.Subprocess raises Popen's (FileNotFoundError,
PermissionError); eddy reports its own negative codes, mapped back here."""

import errno

from . import _lowlevel as _ll

_ERRNO = {
    _ll.EDDY_EADDRINUSE: errno.EADDRINUSE,
    _ll.EDDY_EADDRNOTAVAIL: errno.EADDRNOTAVAIL,
    _ll.EDDY_EACCES: errno.EACCES,
    _ll.EDDY_ENOENT: errno.ENOENT,
    _ll.EDDY_EMFILE: errno.EMFILE,
    _ll.EDDY_ENOMEM: errno.ENOMEM,
    _ll.EDDY_EINVAL: errno.EINVAL,
    _ll.EDDY_ENOTSUP: errno.EOPNOTSUPP,
    _ll.EDDY_ETIMEDOUT: errno.ETIMEDOUT,
    _ll.EDDY_ECONNREFUSED: errno.ECONNREFUSED,
    _ll.EDDY_ECONNRESET: errno.ECONNRESET,
    _ll.EDDY_EIO: errno.EIO,
}


def os_error(code, what):
    """OSError(errno, "<what>: <eddy's message>") for eddy error `code` (a negative int); the
    errno-specific subclass where Python has one (PermissionError for EACCES,
    FileNotFoundError for ENOENT, ...). A code with no errno counterpart gives an OSError whose
    errno is None."""
    message = "%s: %s" % (what, _ll.eddy_strerror(code))
    number = _ERRNO.get(code)
    if number is None:
        return OSError(message)
    return OSError(number, message)


def errno_of(code):
    """The errno number eddy error `code` stands for, or None."""
    return _ERRNO.get(code)
