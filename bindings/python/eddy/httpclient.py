"""Tornado's AsyncHTTPClient on eddy's C HTTP client (keep-alive pool, redirects, gzip, TLS).

    response = await eddy.httpclient.AsyncHTTPClient().fetch("http://127.0.0.1:8888/")
    print(response.code, response.headers["Content-Type"], response.body)

As in Tornado, fetch() raises HTTPClientError for a non-2xx answer unless raise_error=False;
a fetch that got no answer raises whatever raise_error says: ConnectionRefusedError,
socket.gaierror, ssl.SSLError, HTTPTimeoutError or HTTPStreamClosedError (599).
The connection pool belongs to the IOLoop: one client per IOLoop, as Tornado's singleton."""

import asyncio
import base64
import collections
import copy
import errno
import inspect
import os
import socket
import ssl
import urllib.parse
import weakref

from . import _tls
from . import lowlevel as _ll
from .httputil import HTTPHeaders, gen_log
from .ioloop import IOLoop

__all__ = ["AsyncHTTPClient", "HTTPRequest", "HTTPResponse", "HTTPClientError", "HTTPError",
           "HTTPTimeoutError", "HTTPStreamClosedError"]


class HTTPClientError(Exception):
    """A failed fetch: `code` is the HTTP status, or 599 when no answer arrived."""

    def __init__(self, code, message=None, response=None):
        self.code = code
        self.message = message or ("HTTP %d" % code)
        self.response = response
        super().__init__(code, self.message, response)

    def __str__(self):
        return "HTTP %d: %s" % (self.code, self.message)


HTTPError = HTTPClientError  # Tornado's older name


class HTTPTimeoutError(HTTPClientError):
    """599: the connect or request timeout ran out (tornado.simple_httpclient's name)."""

    def __init__(self, message):
        super().__init__(599, message=message)

    def __str__(self):
        return self.message or "Timeout"


class HTTPStreamClosedError(HTTPClientError):
    """599: the connection closed before the response was complete (Tornado's name)."""

    def __init__(self, message):
        super().__init__(599, message=message)

    def __str__(self):
        return self.message or "Stream closed"


def _network_error(status, detail=""):
    """The exception Tornado's simple_httpclient gives for a fetch that got no response: the
    OS's own error for a refused connection or an unknown name, ssl.SSLError for TLS (with
    eddy's reason: "certificate verification: certificate has expired"...), the 599 classes for
    timeouts and closed streams. OSError subclasses get eddy's detail as their text ("connect to
    127.0.0.1:9: Connection refused"), as a WebSocket connect's do."""
    name = _ll.eddy_strerror(status)
    if status == _ll.EDDY_ECONNREFUSED:
        return ConnectionRefusedError(errno.ECONNREFUSED, detail or "Connection refused")
    # A Unix socket's path (HTTPRequest's unix_socket): what socket.connect(AF_UNIX) raises.
    if status == _ll.EDDY_ENOENT:
        return FileNotFoundError(errno.ENOENT, detail or "No such file or directory")
    if status == _ll.EDDY_EACCES:
        return PermissionError(errno.EACCES, detail or "Permission denied")
    if status == _ll.EDDY_ERESOLVE:
        return socket.gaierror(socket.EAI_NONAME, detail or "Name or service not known")
    if status == _ll.EDDY_ETLS:
        return ssl.SSLError("%s: %s" % (name, detail) if detail else name)
    if status == _ll.EDDY_ETIMEDOUT:
        # Tornado's words for its three timeouts; eddy's detail says which one ran out.
        if detail.startswith("still queued"):
            return HTTPTimeoutError("Timeout in request queue")
        if detail.startswith("no connection"):
            return HTTPTimeoutError("Timeout while connecting")
        if detail.startswith("no complete response"):
            return HTTPTimeoutError("Timeout during request")
        if detail.startswith("no data from the server"):  # read_timeout (not Tornado's)
            return HTTPTimeoutError("Timeout while reading")
        return HTTPTimeoutError("Timeout")
    if status in (_ll.EDDY_EOF, _ll.EDDY_ECLOSED, _ll.EDDY_ECONNRESET):
        return HTTPStreamClosedError("Stream closed")
    if status == _ll.EDDY_EINVAL:
        return ValueError("invalid request (URL, method or header): %s" % name)
    # eddy's detail says more than the code: "the proxy refused the tunnel: HTTP/1.1 407 ...".
    return HTTPClientError(599, "%s: %s" % (name, detail) if detail else name)


# eddy's defaults for a fetch that sets neither (client.h; Tornado's are the same): what bounds
# the wait in AsyncHTTPClient's queue, and what is left of the request timeout after it.
_DEFAULT_CONNECT_TIMEOUT = 20.0
_DEFAULT_REQUEST_TIMEOUT = 20.0


def _queue_timeout(request):
    """How long a fetch may wait for one of the max_clients slots: as Tornado, the shorter of
    its connect and request timeouts (one <= 0 is none); None when both are none."""
    timeouts = [float(t) for t in (
        _DEFAULT_CONNECT_TIMEOUT if request.connect_timeout is None else request.connect_timeout,
        _DEFAULT_REQUEST_TIMEOUT if request.request_timeout is None else request.request_timeout)
        if t > 0]
    return min(timeouts) if timeouts else None


class _Waiting:
    """A fetch in AsyncHTTPClient's queue: made and configured (so its errors came at fetch()),
    not started. `start(waited)` starts it; `timer` is its queue timeout."""
    __slots__ = ("f", "request", "future", "start", "since", "timer")

    def __init__(self, f, request, future, start, since):
        self.f, self.request, self.future, self.start, self.since = f, request, future, start, since
        self.timer = None


def _check_standard(request):
    """Tornado's checks for allow_nonstandard_methods=False: a known method, a body exactly for
    POST, PATCH and PUT (KeyError / ValueError, as Tornado's simple client raises them)."""
    if request.method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        raise KeyError("unknown method %s" % request.method)
    expected = request.method in ("POST", "PATCH", "PUT")
    present = request.body is not None or request.body_producer is not None
    if expected and not present:
        raise ValueError("Body must not be None for method %s (unless "
                         "allow_nonstandard_methods is true)" % request.method)
    if present and not expected:
        raise ValueError("Body must be None for method %s (unless "
                         "allow_nonstandard_methods is true)" % request.method)


def _proxy_of(request):
    """(host, port) of the request's proxy, or None. As curl_httpclient, proxy_auth_mode is
    "basic" (or None) and anything else a ValueError ("digest" too: the C client answers no
    407 challenge). Unlike curl_httpclient, which silently goes direct when either is missing,
    a proxy_host without a proxy_port (or the reverse) is a ValueError: a request meant for a
    proxy must not reach the origin directly."""
    mode = getattr(request, "proxy_auth_mode", None)
    if mode not in (None, "basic"):
        raise ValueError("Unsupported proxy_auth_mode %s" % mode)
    host = getattr(request, "proxy_host", None)
    port = getattr(request, "proxy_port", None)
    if not host and port is None:
        return None
    if not host or port is None:
        raise ValueError("proxy_host and proxy_port must be set together (got %r, %r)"
                         % (host, port))
    if not isinstance(host, str) or any(ord(c) <= 32 or ord(c) == 127 for c in host):
        raise ValueError("bad proxy_host %r" % (host,))
    if "://" in host:
        # curl takes a scheme there ("http://proxy"; "socks5://..." changes the protocol):
        # eddy speaks HTTP to its proxy only, so any other scheme is refused, not ignored.
        scheme, host = host.split("://", 1)
        if scheme.lower() != "http":
            raise ValueError("proxy_host %r: only HTTP proxies are supported"
                             % (scheme + "://" + host,))
        host = host.rstrip("/")
    if not host or "/" in host or "@" in host:
        raise ValueError("bad proxy_host %r (a host name or address)" % (host,))
    if host.startswith("[") and host.endswith("]"):  # an IPv6 literal as written in a URL
        host = host[1:-1]
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ValueError("bad proxy_port %r" % (port,)) from None
    if not 0 < port < 65536:
        raise ValueError("bad proxy_port %r" % (port,))
    return host.lower(), port


def _basic(username, password):
    """The value of a Basic Authorization / Proxy-Authorization header (RFC 7617: UTF-8)."""
    credentials = "%s:%s" % (username, password or "")
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


class HTTPRequest:
    """What to fetch (a subset of Tornado's HTTPRequest arguments)."""

    def __init__(self, url, method="GET", headers=None, body=None, connect_timeout=None,
                 request_timeout=None, follow_redirects=True, max_redirects=None,
                 decompress_response=True, max_body_size=None, expect_100_continue=False,
                 validate_cert=None, ca_certs=None, client_cert=None, client_key=None,
                 ssl_options=None, streaming_callback=None, header_callback=None,
                 user_agent=None, auth_username=None, auth_password=None, auth_mode=None,
                 body_producer=None, allow_nonstandard_methods=None, read_timeout=None,
                 proxy_host=None, proxy_port=None, proxy_username=None, proxy_password=None,
                 proxy_auth_mode=None, unix_socket=None, **unsupported):
        if unsupported:
            raise TypeError("unsupported HTTPRequest arguments: %s" % ", ".join(sorted(unsupported)))
        self.url = url
        self.method = method.upper()
        self.headers = HTTPHeaders(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        # Not Tornado's: the longest the server may stay silent once the request went out
        # (seconds between reads, nginx's proxy_read_timeout; eddy_fetch_set_read_timeout).
        # Over it the fetch fails with HTTPTimeoutError (599). None: none.
        self.read_timeout = read_timeout
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.decompress_response = decompress_response
        self.max_body_size = max_body_size
        self.expect_100_continue = expect_100_continue
        # TLS (eddy._tls): validate_cert=False checks neither chain nor host name (None: the
        # client's defaults, else True, as in Tornado); ca_certs is
        # trusted besides the system's CAs; client_cert/client_key for mutual TLS; ssl_options
        # (a dict) instead of those four. Checked here, so a bad one fails before any I/O.
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        self.client_cert = client_cert
        self.client_key = client_key
        self.ssl_options = ssl_options
        _tls.client_key(self)
        # As Tornado's: streaming_callback(chunk) gets the body's pieces (the response's body
        # is then empty). Beyond Tornado (whose simple client ignores the callback's result):
        # one that returns an awaitable (an async def, a Future) pauses the body until it is
        # done — no further piece, and the connection is not read (eddy_fetch_pause_body), so
        # a slow consumer holds the server back instead of buffering — and an exception it
        # raises fails the fetch, as one the callback raises does; header_callback(line) gets the status line, each header line and the
        # final "\r\n"; user_agent sets User-Agent; auth_username/auth_password send basic
        # auth (the only auth_mode of Tornado's simple client).
        self.streaming_callback = streaming_callback
        self.header_callback = header_callback
        self.user_agent = user_agent
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.auth_mode = auth_mode
        if auth_mode not in (None, "basic"):
            raise ValueError("unsupported auth_mode %s" % auth_mode)
        # As Tornado's: body_producer(write) is awaited after the request starts; each
        # write(chunk) goes out (chunked, or as the Content-Length header announced); the body
        # ends when it returns. Not with `body`.
        self.body_producer = body_producer
        # Tornado's allow_nonstandard_methods: True sends any method with or without a body,
        # which eddy always does (None, the default); False applies Tornado's checks at fetch.
        self.allow_nonstandard_methods = allow_nonstandard_methods
        if body is not None and body_producer is not None:
            raise ValueError("body and body_producer are mutually exclusive")
        # As Tornado's (curl_httpclient's) proxy arguments: the request goes through the HTTP
        # proxy proxy_host:proxy_port (http: the absolute URL in the request line; https: a
        # CONNECT tunnel, then TLS with the origin, certificate checked against the URL's name);
        # proxy_username/proxy_password send Basic Proxy-Authorization to the proxy (never to
        # the origin through an https tunnel). Checked again at fetch (after the client's
        # defaults were merged), here so that a bad one fails before any I/O.
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_auth_mode = proxy_auth_mode
        _proxy_of(self)
        # An eddy extension (Tornado's HTTPRequest has none; curl's --unix-socket): connect to
        # the Unix-domain stream socket at this path ("@name": a Linux abstract socket) instead
        # of the URL's host and port; the URL still gives the scheme, Host and path
        # ("http://localhost/v1.43/info" with unix_socket="/var/run/docker.sock"). https runs
        # TLS over the socket, checked against the URL's host. It applies to the URL's origin:
        # a redirect within it stays on the socket, one elsewhere goes over TCP. It takes
        # precedence over the client's hostname_mapping, and a proxy is not used for it.
        # Connections are pooled per socket. A missing path fails with FileNotFoundError, no
        # permission with PermissionError, nobody listening (or not a socket) with
        # ConnectionRefusedError. websocket_connect refuses a request that sets it.
        if unix_socket is not None:
            if isinstance(unix_socket, bytes):
                unix_socket = os.fsdecode(unix_socket)
            unix_socket = os.fspath(unix_socket)
            if not isinstance(unix_socket, str) or not unix_socket or "\0" in unix_socket:
                raise ValueError("bad unix_socket %r" % (unix_socket,))
        self.unix_socket = unix_socket


class HTTPResponse:
    def __init__(self, request, code, reason, headers, body, effective_url, error=None,
                 redirects=0, reused=False):
        self.request = request
        self.code = code
        self.reason = reason
        self.headers = headers
        self.body = body
        self.effective_url = effective_url
        self.error = error
        self.redirects = redirects
        self.connection_reused = reused

    def rethrow(self):
        if self.error:
            raise self.error

    def __repr__(self):
        return "HTTPResponse(code=%r, effective_url=%r)" % (self.code, self.effective_url)


class AsyncHTTPClient:
    """One per IOLoop (AsyncHTTPClient() returns the current loop's); fetch() is awaitable."""

    _by_loop = weakref.WeakKeyDictionary()

    def __new__(cls, force_instance=False, **kwargs):
        ioloop = IOLoop.current()
        if not force_instance and ioloop in cls._by_loop:
            # As Tornado: the loop's shared client comes back as it is. Tornado is silent about
            # the arguments it then ignores; eddy says so.
            if kwargs:
                gen_log.warning("AsyncHTTPClient: this IOLoop's client exists already; %s ignored "
                                "(force_instance=True makes a new one)", ", ".join(sorted(kwargs)))
            return cls._by_loop[ioloop]
        self = super().__new__(cls)
        self.io_loop = ioloop
        self._client = _ll.eddy_client_new(ioloop._eddy)
        if self._client is None:
            raise RuntimeError("eddy_client_new failed")
        # (_tls.client_key, (proxy host, port)) → an eddy client with that TLS context and
        # proxy (either may be None; never both: that is self._client).
        self._tls_clients = {}
        # max_clients bounds the fetches of this AsyncHTTPClient together, as Tornado's does,
        # whichever inner eddy client each one runs on (each has its own max_clients, and the
        # sum of those let max_clients times the number of TLS settings and proxies in use
        # reach the servers at once). `_active` counts those started and not yet done; the
        # others wait here, in fetch order (_Waiting), so the eddy clients' own queues stay
        # empty.
        self._active = 0
        self._queue = collections.deque()
        try:
            self._initialize(**kwargs)
        except Exception:
            _ll.eddy_client_free(self._client)
            raise
        if not force_instance:
            cls._by_loop[ioloop] = self
        return self

    def __init__(self, force_instance=False, **kwargs):
        pass

    def _initialize(self, max_clients=10, defaults=None, hostname_mapping=None,
                    max_buffer_size=104857600, max_body_size=None, **unsupported):
        """Tornado's SimpleAsyncHTTPClient.initialize arguments. Those eddy cannot honour raise
        TypeError instead of being ignored (resolver: eddy resolves names itself;
        max_header_size: the C client has its own fixed limit)."""
        if unsupported:
            raise TypeError("AsyncHTTPClient: unsupported argument(s): %s"
                            % ", ".join(sorted(unsupported)))
        _ll.eddy_client_set_max_clients(self._client, max_clients)
        for client in self._tls_clients.values():
            _ll.eddy_client_set_max_clients(client, max_clients)
        self._max_clients = max_clients
        # HTTPRequest arguments for the fetches that leave them None (Tornado's `defaults`).
        self.defaults = dict(defaults or {})
        # {host: host} or {(host, port): (host, port)}: where to connect instead, as Tornado's
        # OverrideResolver; the request (Host, TLS name and certificate check) keeps the URL.
        self.hostname_mapping = dict(hostname_mapping or {})
        # A response body over this fails with 599 (Tornado: max_body_size, which defaults to
        # max_buffer_size); a request's own max_body_size wins.
        self._max_body_size = max_body_size if max_body_size is not None else max_buffer_size

    def close(self):
        """Frees the client: fetches in flight end with HTTPClientError 599."""
        if self._client is not None:
            # Also after the loop was freed: eddy closed the clients then (no callbacks), and
            # their handles still need freeing.
            if self._by_loop.get(self.io_loop) is self:
                del self._by_loop[self.io_loop]
            # Those still queued end as the running ones do (EDDY_ECANCELED), and first: the
            # running ones' ends would start them.
            queued, self._queue = self._queue, collections.deque()
            for waiting in queued:
                self._discard(waiting)
                if not waiting.future.done():
                    waiting.future.set_exception(_network_error(_ll.EDDY_ECANCELED))
            _ll.eddy_client_free(self._client)
            self._client = None
            for client in self._tls_clients.values():
                _ll.eddy_client_free(client)
            self._tls_clients.clear()

    def fetch(self, request, raise_error=True, **kwargs):
        if not isinstance(request, HTTPRequest):
            args = dict(kwargs)
            for name, value in self.defaults.items():
                if args.get(name) is None:
                    args[name] = value
            request = HTTPRequest(request, **args)
        elif kwargs:
            raise ValueError("kwargs can't be used if request is an HTTPRequest object")
        elif any(getattr(request, name, None) is None for name in self.defaults):
            request = copy.copy(request)  # the caller's object stays as it was
            for name, value in self.defaults.items():
                if getattr(request, name, None) is None:
                    setattr(request, name, value)
        future = self.io_loop.asyncio_loop.create_future()
        if self._client is None:
            future.set_exception(HTTPClientError(599, "client closed"))
            return future
        try:
            if request.allow_nonstandard_methods is False:
                _check_standard(request)
            client = self._client_for(request)
        except Exception as e:
            future.set_exception(e)
            return future
        f = _ll.eddy_fetch_new(client, request.method, request.url)
        if f is None:
            future.set_exception(ValueError("bad method or URL: %r %r" % (request.method, request.url)))
            return future
        try:
            unix_socket = getattr(request, "unix_socket", None)
            if unix_socket is not None:
                # The request's own socket wins over the client's hostname_mapping (both say
                # where to connect; eddy refuses the two together).
                rc = _ll.eddy_fetch_set_unix_socket(f, unix_socket)
                if rc < 0:
                    raise ValueError("unix_socket %r: %s (at most 107 bytes)"
                                     % (unix_socket, _ll.eddy_strerror(rc)))
            else:
                self._connect_mapped(f, request.url, _proxy_of(request))
            self._configure(f, request)
            if request.max_body_size is None and self._max_body_size is not None:
                _check(_ll.eddy_fetch_set_max_body_size(f, int(self._max_body_size)))
        except Exception as e:
            _ll.eddy_fetch_free(f)
            future.set_exception(e)
            return future

        self._admit(_Waiting(f, request, future, lambda waited: self._start(
            f, request, raise_error, future, waited), self.io_loop.time()))
        return future

    # ---- max_clients: the queue in front of the inner eddy clients ---------------------------

    def _admit(self, waiting):
        """Starts the fetch if fewer than max_clients run, else queues it (as Tornado's
        fetch_impl): for at most _queue_timeout(), after which it fails with "Timeout in request
        queue"; a fetch whose future is cancelled meanwhile leaves the queue unstarted."""
        if self._active < self._max_clients and not self._queue:
            self._active += 1
            waiting.start(0.0)
            return
        timeout = _queue_timeout(waiting.request)
        if timeout is not None:
            waiting.timer = self.io_loop.call_later(timeout, self._queue_timed_out, waiting)
        self._queue.append(waiting)
        waiting.future.add_done_callback(lambda _: self._left_queue(waiting))
        self._start_queued()

    def _discard(self, waiting):
        """Frees a fetch that leaves the queue unstarted (its eddy_fetch was never started)."""
        if waiting.timer is not None:
            self.io_loop.remove_timeout(waiting.timer)
            waiting.timer = None
        if waiting.f is not None:
            _ll.eddy_fetch_free(waiting.f)
            waiting.f = None

    def _left_queue(self, waiting):
        """The future of a queued fetch was cancelled (or set by the caller): it never starts."""
        try:
            self._queue.remove(waiting)
        except ValueError:  # started, timed out or closed already
            return
        self._discard(waiting)

    def _queue_timed_out(self, waiting):
        waiting.timer = None
        try:
            self._queue.remove(waiting)
        except ValueError:
            return
        self._discard(waiting)
        if not waiting.future.done():
            waiting.future.set_exception(HTTPTimeoutError("Timeout in request queue"))

    def _release(self):
        """A started fetch ended: its slot goes to the first one queued."""
        self._active -= 1
        self._start_queued()

    def _start_queued(self):
        while self._queue and self._active < self._max_clients and self._client is not None:
            waiting = self._queue.popleft()
            if waiting.future.done():  # cancelled: its done callback has not run yet
                self._discard(waiting)
                continue
            if waiting.timer is not None:
                self.io_loop.remove_timeout(waiting.timer)
                waiting.timer = None
            waited = max(0.0, self.io_loop.time() - waiting.since)
            self._active += 1
            waiting.start(waited)

    def _start(self, f, request, raise_error, future, waited):
        """Starts the configured fetch `f`, `waited` seconds after fetch() was called."""
        if waited > 0:
            # The request timeout counts from fetch(), as eddy's own queue counts it (and
            # Tornado says: "time spent waiting in this queue still counts against the
            # request_timeout"): what is left of it goes to eddy.
            timeout = request.request_timeout
            timeout = _DEFAULT_REQUEST_TIMEOUT if timeout is None else float(timeout)
            if timeout > 0:
                left = timeout - waited
                if left <= 0:  # (the queue's timer, a little late)
                    _ll.eddy_fetch_free(f)
                    future.set_exception(HTTPTimeoutError("Timeout in request queue"))
                    self._release()
                    return
                _check(_ll.eddy_fetch_set_request_timeout(f, left))

        callback_error = []  # the first exception a streaming or header callback raised
        ended = []  # set once the outcome arrived: eddy frees the fetch after it
        # body_producer write() futures waiting for their bytes to reach the kernel, oldest
        # first (eddy_fetch_flush_body's completions come in call order, all before the outcome).
        flush_waiters = collections.deque()

        def cancel_unless_ended():
            if not ended:
                _ll.eddy_fetch_cancel(f)

        async def wait_then_resume(awaitable):
            try:
                await awaitable
            except Exception as e:  # as a callback's own exception: the fetch fails with it
                if not ended and not callback_error:
                    callback_error.append(e)
                    cancel_unless_ended()
                    self.io_loop._pump.kick()
                return
            if not ended and not callback_error:
                _ll.eddy_fetch_resume_body(f)
                self.io_loop._pump.kick()

        def done(outcome):
            if outcome[0] == "flushed":
                if flush_waiters:
                    written = flush_waiters.popleft()
                    if not written.done():
                        if outcome[1] == 0:
                            written.set_result(None)
                        else:  # the fetch ended first: the outcome says why
                            written.set_exception(HTTPStreamClosedError("Stream closed"))
                            written.exception()  # the producer may not await it any more
                return
            if outcome[0] in ("chunk", "headers"):
                if future.done() or callback_error:
                    return
                try:
                    if outcome[0] == "chunk":
                        result = request.streaming_callback(outcome[1])
                        if result is not None and inspect.isawaitable(result):
                            # Paused here, inside eddy's chunk callback (the pieces after
                            # this one are held); resumed once the awaitable is done.
                            _ll.eddy_fetch_pause_body(f)
                            asyncio.ensure_future(wait_then_resume(result),
                                                  loop=self.io_loop.asyncio_loop)
                    else:
                        _, code, reason, headers = outcome
                        request.header_callback("HTTP/1.1 %d %s\r\n" % (code, reason))
                        for name, value in headers:
                            request.header_callback("%s: %s\r\n" % (name, value))
                        request.header_callback("\r\n")
                except Exception as e:  # as Tornado: the fetch fails with it
                    callback_error.append(e)
                    # Not from inside eddy's body callback: on the loop's next pass.
                    self.io_loop.add_callback(cancel_unless_ended)
                except (SystemExit, KeyboardInterrupt) as e:
                    # Stops the loop (start() / run_sync() raise it), as from an asyncio
                    # callback; the fetch goes on if the loop is run again.
                    self.io_loop._interrupt(e, from_c=True)
                return
            ended.append(True)
            self._release()
            error, code, reason, headers, body, url, redirects, reused, detail = outcome
            if future.done():
                return
            if callback_error:
                future.set_exception(callback_error[0])
                return
            hdrs = HTTPHeaders()
            for name, value in headers:
                hdrs.add(name, value)
            response = HTTPResponse(request, code if not error else 599, reason, hdrs, body, url,
                                    redirects=redirects, reused=bool(reused))
            if error:
                response.error = _network_error(error, detail)
                if isinstance(response.error, HTTPClientError):
                    response.error.response = response
            elif not 200 <= code < 300:
                response.error = HTTPClientError(code, reason or None, response)
            # As Tornado 6: raise_error=False only keeps a response's own status from raising; a
            # fetch that got no response (refused, timed out, TLS...) raises all the same.
            if response.error and (raise_error or error):
                future.set_exception(response.error)
            else:
                future.set_result(response)

        rc = _ll.eddy_py_fetch_start_streaming(f, request.header_callback is not None,
                                               request.streaming_callback is not None, done)
        if rc < 0:
            _ll.eddy_fetch_free(f)
            future.set_exception(_network_error(rc))
            self._release()
            return
        self.io_loop._pump.kick()
        if request.body_producer is not None:
            asyncio.ensure_future(self._produce(request, f, ended, callback_error,
                                                cancel_unless_ended, flush_waiters),
                                  loop=self.io_loop.asyncio_loop)

    async def _produce(self, request, f, ended, errors, cancel, flush_waiters):
        """Runs the request's body_producer; the fetch (freed by eddy once it ended) is only
        touched while it has not."""
        aloop = self.io_loop.asyncio_loop

        def write(chunk):
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            written = aloop.create_future()
            # Ended, or ending (EDDY_ESTATE: its done callback is still to come).
            rc = _ll.EDDY_ESTATE if ended else _ll.eddy_fetch_write_body(f, bytes(chunk))
            if rc == _ll.EDDY_ESTATE:
                written.set_exception(HTTPStreamClosedError("Stream closed"))
                written.exception()
                return written
            if rc < 0:
                raise ValueError("body_producer write: %s" % _ll.eddy_strerror(rc))
            self.io_loop._pump.kick()
            # As Tornado's: the future resolves once the bytes were flushed (to the kernel),
            # so a producer that awaits each write goes no faster than the server reads; it
            # resolved at once, and a fast producer piled the whole body up in memory.
            if _ll.eddy_py_fetch_flush_body(f) == 0:
                flush_waiters.append(written)
            else:
                written.set_result(None)
            return written

        try:
            result = request.body_producer(write)
            if result is not None:
                await result
            if not ended:
                # EDDY_ESTATE: the fetch ended already (its done is still to come): a server
                # may answer once the announced length arrived, before the producer
                # returned; its response stands.
                rc = _ll.eddy_fetch_end_body(f)
                if rc != _ll.EDDY_ESTATE:
                    _check(rc)
                self.io_loop._pump.kick()
        except Exception as e:  # as Tornado: the fetch fails with the producer's exception
            if not ended and not errors:
                errors.append(e)
                cancel()

    def _connect_mapped(self, f, url, proxy=None):
        """hostname_mapping, as Tornado's OverrideResolver: a (host, port) key first, then the
        host alone. eddy connects to the target while the request (Host, request target, TLS
        name and certificate check) still names the URL, as Tornado's does. Through a proxy
        (`proxy` not None) the proxy connects, not eddy: a mapped URL is a ValueError then
        (eddy_fetch_set_connect_to is refused with a client proxy), not silently unmapped."""
        if not self.hostname_mapping:
            return
        parts = urllib.parse.urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:  # a bad port: eddy_fetch_start refuses the URL itself
            return
        if host is None:
            return
        port = port or (443 if parts.scheme == "https" else 80)
        target = self.hostname_mapping.get((host, port))
        if target is None:
            target = self.hostname_mapping.get(host)
            if target is None:
                return
        if proxy is not None:
            raise ValueError("hostname_mapping (%r) cannot apply through a proxy (%s:%d): the "
                             "proxy connects" % (host, proxy[0], proxy[1]))
        # A bare host keeps the URL's port (0 tells eddy so).
        new_host, new_port = target if isinstance(target, tuple) else (target, 0)
        rc = _ll.eddy_fetch_set_connect_to(f, str(new_host), int(new_port))
        if rc < 0:
            raise ValueError("hostname_mapping %r -> %r: %s" % (host, target, _ll.eddy_strerror(rc)))

    def _client_for(self, request):
        """The eddy client for the request's TLS arguments and proxy: eddy sets both per client
        (and pool: eddy_client_set_tls, eddy_client_set_proxy), so each distinct set gets its
        own client, made on first use and freed by close(). A request with neither uses the
        main client."""
        tls_key = _tls.client_key(request)
        proxy = _proxy_of(request)
        if tls_key is None and proxy is None:
            return self._client
        key = (tls_key, proxy)
        client = self._tls_clients.get(key)
        if client is not None:
            return client
        client = _ll.eddy_client_new(self.io_loop._eddy)
        if client is None:
            raise RuntimeError("eddy_client_new failed")
        try:
            if tls_key is not None:
                ctx = _tls.client_context(tls_key)
                try:
                    rc = _ll.eddy_client_set_tls(client, ctx)
                finally:
                    _ll.eddy_tls_context_free(ctx)  # the client keeps its own reference
                if rc < 0:
                    raise ValueError("eddy_client_set_tls: %s" % _ll.eddy_strerror(rc))
            if proxy is not None:
                rc = _ll.eddy_client_set_proxy(client, proxy[0], proxy[1])
                if rc < 0:
                    raise ValueError("proxy %s:%d: %s" % (proxy[0], proxy[1],
                                                          _ll.eddy_strerror(rc)))
        except BaseException:
            _ll.eddy_client_free(client)
            raise
        _ll.eddy_client_set_max_clients(client, self._max_clients)
        self._tls_clients[key] = client
        return client

    @staticmethod
    def _configure(f, request):
        for name, value in request.headers.get_all():
            _check(_ll.eddy_fetch_add_header(f, name, str(value)))
        if request.user_agent is not None and "User-Agent" not in request.headers:
            _check(_ll.eddy_fetch_add_header(f, "User-Agent", request.user_agent))
        if request.auth_username is not None and "Authorization" not in request.headers:
            _check(_ll.eddy_fetch_add_header(
                f, "Authorization", _basic(request.auth_username, request.auth_password)))
        # Only with a proxy (as curl_httpclient): eddy gives a request's Proxy-Authorization to
        # the proxy (on the CONNECT for https, never into the tunnel). A header the caller set
        # wins, as for Authorization.
        if (getattr(request, "proxy_username", None) and _proxy_of(request) is not None
                and "Proxy-Authorization" not in request.headers):
            _check(_ll.eddy_fetch_add_header(
                f, "Proxy-Authorization",
                _basic(request.proxy_username, request.proxy_password)))
        if request.body is not None:
            _check(_ll.eddy_fetch_set_body(f, request.body))
        if request.body_producer is not None:
            length = request.headers.get("Content-Length")
            _check(_ll.eddy_fetch_set_body_stream(f, int(length) if length is not None else -1))
        if request.connect_timeout is not None:
            _check(_ll.eddy_fetch_set_connect_timeout(f, float(request.connect_timeout)))
        if request.request_timeout is not None:
            _check(_ll.eddy_fetch_set_request_timeout(f, float(request.request_timeout)))
        if getattr(request, "read_timeout", None) is not None:
            _check(_ll.eddy_fetch_set_read_timeout(f, float(request.read_timeout)))
        if not request.follow_redirects:
            _check(_ll.eddy_fetch_set_max_redirects(f, 0))
        elif request.max_redirects is not None:
            _check(_ll.eddy_fetch_set_max_redirects(f, int(request.max_redirects)))
        if not request.decompress_response:
            _check(_ll.eddy_fetch_set_decompress(f, 0))
        if request.max_body_size is not None:
            _check(_ll.eddy_fetch_set_max_body_size(f, int(request.max_body_size)))
        if request.expect_100_continue:
            _check(_ll.eddy_fetch_set_expect_continue(f, 1))


def _check(rc):
    if rc < 0:
        raise ValueError(_ll.eddy_strerror(rc))
