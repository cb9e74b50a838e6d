"""eddy.httpserver: the HTTPServer that Application.listen() returns."""

import logging
import numbers
import socket
import weakref

from . import _errors
from . import _lowlevel as _ll
from . import _tls
from .netutil import _is_inet_address

access_log = logging.getLogger("eddy.access")


def _log_request(req):
    """Tornado's access log line: INFO for < 400, WARNING for 4xx, ERROR for 5xx."""
    status = _ll.eddy_request_response_status(req)
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if access_log.isEnabledFor(level):
        method, uri, _, _, _, ip, _, _ = _ll.eddy_py_request_info(req)
        access_log.log(level, "%d %s %s (%s) %.2fms", status, method, uri, ip,
                       1000.0 * _ll.eddy_request_duration(req))


class _LoggedRequest:
    """What Application.log_request (and a log_function setting) gets for a finished request:
    the parts of a handler that log functions read."""

    __slots__ = ("_status", "request")

    def __init__(self, req):
        self._status = _ll.eddy_request_response_status(req)
        self.request = _FinishedRequest(req)

    def get_status(self):
        return self._status

    def _request_summary(self):
        r = self.request
        return "%s %s (%s)" % (r.method, r.uri, r.remote_ip)


class _FinishedRequest:
    __slots__ = ("method", "uri", "path", "query", "version", "remote_ip", "host", "protocol",
                 "_duration")

    def __init__(self, req):
        (self.method, self.uri, self.path, self.query, version, self.remote_ip, self.host,
         self.protocol) = _ll.eddy_py_request_info(req)
        self.version = "HTTP/1.1" if version == 11 else "HTTP/1.0"
        self._duration = _ll.eddy_request_duration(req)

    def request_time(self):
        return self._duration


_SIZE_MAX = 2 ** 64 - 1  # size_t's largest value (eddy builds for 64-bit Linux)


def _check_limit(name, value, kind):
    """The value for a size (kind: the least one eddy accepts) or a timeout (kind: float)
    setter, checked as the C setter would; ValueError naming the option otherwise."""
    if not isinstance(value, numbers.Real):  # "10" would pass int() but is a mistake
        raise ValueError("%s: a number, not %r" % (name, value))
    number = value
    if kind is float:
        try:
            number = float(value)
        except OverflowError:  # an int too large for a double
            raise ValueError("%s: %r is too large" % (name, value)) from None
        if not number >= 0:  # also refuses NaN, as eddy_server_set_*_timeout
            raise ValueError("%s: %r refused (a timeout is 0 or more seconds)" % (name, value))
        return number
    if not (0 <= number < float("inf")):  # size_t in C: a negative would wrap
        raise ValueError("%s: %r refused (a size is a count of 0 or more)" % (name, value))
    number = int(number)
    if number > _SIZE_MAX:
        raise ValueError("%s: %r is too large" % (name, value))
    if number < kind:
        raise ValueError("%s: %r refused (at least %d)" % (name, value, kind))
    return number


def _check_server_header(value):
    """server_header's value as the C setter takes it (None: no header), or ValueError."""
    if value is None or value is False:
        return None
    if not isinstance(value, str):
        raise ValueError("server_header: a string or False, not %r" % (value,))
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("server_header: %r is not encodable as UTF-8" % (value,)) from None
    # eddy_server_set_server_header's rule (RFC 9110 field value): HTAB and bytes from 0x20
    # on, DEL excepted. CR or LF would split the header.
    if any((b < 0x20 and b != 0x09) or b == 0x7F for b in data):
        raise ValueError("server_header: %r refused (control characters)" % (value,))
    return data or None  # "" sends none, as False


def _check_trusted_downstream(value):
    """trusted_downstream as a list of numeric IPv4/IPv6 addresses (or "unix:": peers on a
    Unix socket, as nginx's set_real_ip_from unix:), or ValueError."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):  # one address, not a list of its characters
        raise ValueError("trusted_downstream: a list of addresses, not %r" % (value,))
    try:
        ips = list(value)  # read once: it may be an iterator
    except TypeError:
        raise ValueError("trusted_downstream: a list of addresses, not %r" % (value,)) from None
    for ip in ips:
        if not isinstance(ip, str) or (ip != "unix:" and not _is_inet_address(ip)):
            raise ValueError("trusted_downstream: %r is not a numeric IP address" % (ip,))
    return ips


def _applied(name, value, rc):
    """Raises when a setter refused a value that passed the checks above."""
    if rc < 0:
        raise ValueError("%s: %r refused (%s)" % (name, value, _ll.eddy_strerror(rc)))


class HTTPServer:
    """Serves an Application with an HTTP/1.1 server of its own (eddy_app_add_server): as in
    Tornado, each HTTPServer of one application has its own options and sockets (plain HTTP on
    one port and HTTPS on another, say) and the same routes.
    Options as Tornado's: xheaders, no_keep_alive, decompress_request, max_header_size,
    max_body_size, idle_connection_timeout, body_timeout, trusted_downstream, ssl_options (HTTPS:
    a dict with certfile, keyfile, ca_certs, cert_reqs; an ssl.SSLContext raises TypeError,
    see eddy._tls), protocol, max_buffer_size (max_body_size's default) and chunk_size (nothing
    to set in eddy); and eddy's max_header_fields (most header lines in a request, default
    1000; more get 431 and close), header_timeout (seconds for a request head to arrive once it
    started, and for the first request after connecting, default 30; then 408 and close; 0
    disables) and max_connections (most connections open at once, default 0 = no limit; at the
    limit the oldest idle keep-alive connection is closed for a new one, and when none is idle
    the new one is closed), server_header (the Server header's value; False sends none; default
    "eddy/<version>"), proxy_protocol (True: every connection starts with a PROXY v1/v2
    header, as HAProxy's send-proxy sends it; only behind such a proxy; with ssl_options the
    header comes first, then the TLS handshake: a proxy passing TLS through),
    max_body_memory (most request-body bytes held in memory over all connections, default
    1 GiB, 0 = no limit; counted until each request is finished, stream_request_body handlers'
    bodies not counted; a body that does not fit gets 503 and close, before any 100 Continue
    when its Content-Length does not fit) and body_arguments (default True, as Tornado: an
    application/x-www-form-urlencoded or multipart/form-data body is decoded into
    request.body_arguments and request.files, and one that cannot be decoded gets 400 without
    the handler running; False: form bodies are not decoded, arguments come from the query
    alone, there are no files, and every request reaches its handler with request.body as it
    came), body_min_rate and body_min_rate_grace (the least average rate of a request body in
    bytes per second, default 500, 0 = none, counted after the grace, default 20 s: a body
    that falls behind, such as one trickled a byte at a time, gets 408 and close;
    body_timeout alone only ends bodies that stop; eddy_server_set_body_min_rate; the one not
    given keeps its default).
    Any other keyword raises TypeError; a value eddy refuses (a max_header_size under 64,
    max_header_fields 0, a negative, NaN or non-numeric size or timeout, a server_header with
    control characters, a trusted_downstream entry that is not a numeric IP address) raises
    ValueError naming the option.
    Every option is checked before the C server is made, so a refused call changes nothing
    that serves. The C server can still refuse while applying when out of memory for
    server_header or a trusted_downstream entry: a ValueError naming the option, and that
    server, never listening, stays with the application unused."""

    def __init__(self, application, xheaders=False, no_keep_alive=False,
                 decompress_request=False, max_header_size=None,
                 max_body_size=None, idle_connection_timeout=None, body_timeout=None,
                 trusted_downstream=None, ssl_options=None, protocol=None, chunk_size=None,
                 max_buffer_size=None, max_header_fields=None, header_timeout=None,
                 max_connections=None, server_header=None, proxy_protocol=False,
                 max_body_memory=None, body_arguments=True, body_min_rate=None,
                 body_min_rate_grace=None, **kwargs):
        if kwargs:  # an option eddy does not know must not vanish silently
            raise TypeError("HTTPServer() got unexpected keyword argument(s): %s"
                            % ", ".join(sorted(kwargs)))
        # chunk_size: how much Tornado reads per call; eddy reads what the socket has, so there
        # is nothing to set. max_buffer_size: Tornado's default for max_body_size.
        del chunk_size
        body_size_name = "max_body_size"
        if max_body_size is None and max_buffer_size is not None:
            max_body_size, body_size_name = max_buffer_size, "max_buffer_size"
        # Every check comes before the server is made: a refused call leaves nothing behind.
        if protocol is not None and protocol not in ("http", "https"):
            raise ValueError("protocol must be 'http' or 'https', not %r" % (protocol,))
        server_header_bytes = _check_server_header(server_header)
        limits = [(name, setter, _check_limit(name, value, kind))
                  for name, value, setter, kind in (
                      ("max_header_size", max_header_size,
                       _ll.eddy_server_set_max_header_size, 64),
                      ("max_header_fields", max_header_fields,
                       _ll.eddy_server_set_max_header_fields, 1),
                      (body_size_name, max_body_size, _ll.eddy_server_set_max_body_size, 0),
                      ("max_body_memory", max_body_memory,
                       _ll.eddy_server_set_max_body_memory, 0),
                      ("max_connections", max_connections,
                       _ll.eddy_server_set_max_connections, 0),
                      ("header_timeout", header_timeout,
                       _ll.eddy_server_set_header_timeout, float),
                      ("idle_connection_timeout", idle_connection_timeout,
                       _ll.eddy_server_set_idle_timeout, float),
                      ("body_timeout", body_timeout, _ll.eddy_server_set_body_timeout, float))
                  if value is not None]
        # One C setter takes both: the one not given keeps eddy's default (500 B/s, 20 s).
        min_rate = None
        if body_min_rate is not None or body_min_rate_grace is not None:
            rate = 500.0 if body_min_rate is None else _check_limit(
                "body_min_rate", body_min_rate, float)
            if rate == float("inf"):
                raise ValueError("body_min_rate: %r refused (a finite rate)" % (body_min_rate,))
            grace = 20.0 if body_min_rate_grace is None else _check_limit(
                "body_min_rate_grace", body_min_rate_grace, float)
            min_rate = (rate, grace)
        trusted = _check_trusted_downstream(trusted_downstream)
        self.application = application
        # The context is built (certificates loaded) before anything is configured, so a
        # refused ssl_options changes nothing either.
        tls = _tls.server_context(ssl_options) if ssl_options is not None else None
        self._server = _ll.eddy_app_add_server(application._app)
        if self._server is None:
            if tls is not None:
                _ll.eddy_tls_context_free(tls)
            raise RuntimeError("eddy_app_add_server failed (out of memory, or the loop is gone)")
        s = self._server
        # Applying, to a server of this HTTPServer's own: TLS (its context checked above) and the
        # PROXY protocol cannot be refused; the two that allocate can, when out of memory.
        if tls is not None:
            try:
                rc = _ll.eddy_server_set_tls(s, tls)
            finally:
                _ll.eddy_tls_context_free(tls)  # the server keeps its own reference
            _applied("ssl_options", ssl_options, rc)
        if proxy_protocol:
            _applied("proxy_protocol", proxy_protocol, _ll.eddy_server_set_proxy_protocol(s, 1))
        # Then the two that allocate (they fail only when out of memory).
        if server_header is not None:
            _applied("server_header", server_header,
                     _ll.eddy_server_set_server_header(s, server_header_bytes))
        for ip in trusted:
            _applied("trusted_downstream", ip, _ll.eddy_server_add_trusted_proxy(s, ip))
        # The rest cannot be refused once checked; a refusal would be a bug, and says so.
        _applied("xheaders", xheaders, _ll.eddy_server_set_xheaders(s, int(bool(xheaders))))
        _applied("no_keep_alive", no_keep_alive,
                 _ll.eddy_server_set_no_keep_alive(s, int(bool(no_keep_alive))))
        _applied("decompress_request", decompress_request,
                 _ll.eddy_server_set_decompress_request(s, int(bool(decompress_request))))
        # body_arguments=False: form bodies reach the handler as bytes (no 400 for a bad one).
        _applied("body_arguments", body_arguments,
                 _ll.eddy_server_set_body_arguments(s, int(bool(body_arguments))))
        # Tornado's `protocol`: the scheme of every request (a TLS proxy in front), unless
        # xheaders took one from a trusted proxy's X-Scheme / X-Forwarded-Proto; the C server
        # applies that order, and request.protocol is its scheme. None: the connection's.
        _applied("protocol", protocol, _ll.eddy_server_set_protocol(s, protocol))
        for name, setter, value in limits:
            _applied(name, value, setter(s, value))
        if min_rate is not None:
            _applied("body_min_rate", min_rate, _ll.eddy_server_set_body_min_rate(s, *min_rate))
        if application._logs_in_python():
            # Weak: the C server belongs to the application and must not keep it alive.
            app_ref = weakref.ref(application)

            def log_request(req):
                app = app_ref()
                if app is not None:
                    app.log_request(_LoggedRequest(req))

            _ll.eddy_server_set_access_log(s, log_request)
        else:
            _ll.eddy_server_set_access_log(s, _log_request)
        for method in application._methods:
            _ll.eddy_server_allow_method(s, method)
        self._stopped = False

    def listen(self, port, address=None, family=None, backlog=128, flags=None,
               reuse_port=False):
        """Listens on address:port (every address when address is None or ""; port 0 picks a
        free port, see .port). As Tornado's (bind_sockets + add_sockets): one socket per
        address, an IPv6 socket IPv6-only (so "0.0.0.0" and "::" can both be listened on);
        family (socket.AF_INET / AF_INET6) restricts the addresses, flags are getaddrinfo's,
        reuse_port sets SO_REUSEPORT, backlog is the accept queue.
        Raises OSError when the address cannot be bound."""
        self._check_open()
        if backlog == 128 and flags is None and not family:
            listen_flags = _ll.EDDY_LISTEN_IPV6ONLY
            if reuse_port:
                listen_flags |= _ll.EDDY_LISTEN_REUSEPORT
            rc = _ll.eddy_server_listen(self._server, address or None, int(port), listen_flags)
            if rc < 0:
                raise _errors.os_error(rc, "cannot listen on %s:%s" % (address or "*", port))
        else:
            for fd in self._bind(port, address, family, backlog, flags, reuse_port):
                self._add_fd(fd)
        self._started()

    def bind(self, port, address=None, family=None, backlog=128, flags=None, reuse_port=False):
        """Binds now (as listen: every address); start() begins serving (Tornado's bind/start
        pair)."""
        fds = self._bind(port, address, family, backlog, flags, reuse_port)
        self.__dict__.setdefault("_pending_fds", []).extend(fds)

    def start(self, num_processes=1, max_restarts=None):
        """Serves the sockets given to bind(). num_processes != 1 (Tornado's multi-process
        pattern: app = Application(...); server = HTTPServer(app); server.bind(port);
        server.start(0); IOLoop.current().start()) first forks that many processes (0 or None:
        one per CPU) with eddy.process.fork_processes, max_restarts as there; the parent never
        returns (it supervises: restarts failed children, passes SIGTERM/SIGINT/SIGHUP on), and
        each child serves the bound sockets on the application's IOLoop, which is given fds of
        the child's own (eddy_loop_reinit: no epoll fd is shared with the parent).
        Raises RuntimeError, before forking, when the IOLoop ran already (started, run_sync,
        or from inside a coroutine): fork first, as in Tornado."""
        if num_processes != 1:
            from . import process

            process.fork_processes(num_processes, max_restarts)
        for fd in self.__dict__.pop("_pending_fds", []):
            self._add_fd(fd)
        self._started()

    def add_sockets(self, sockets):
        for sock in sockets:
            self.add_socket(sock)

    def add_socket(self, socket):
        """Serves an already listening socket (a socket object, or an fd that eddy then owns).
        A socket object keeps its own fd; eddy serves a duplicate."""
        import os

        fd = socket if isinstance(socket, int) else os.dup(socket.fileno())
        self._add_fd(fd)
        self._started()

    def _bind(self, port, address, family, backlog, flags, reuse_port):
        # Tornado's bind_sockets (every address of `address`, not only the first one; the
        # family and getaddrinfo flags as given): fds that eddy is then to own.
        import os

        from . import netutil

        sockets = netutil.bind_sockets(port, address, family or socket.AF_UNSPEC, backlog,
                                       flags, reuse_port)
        try:
            return [os.dup(sock.fileno()) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()

    def _check_open(self):
        # The C server goes with its application: after Application.close() it is gone.
        if self.application._app is None:
            raise RuntimeError("HTTPServer: its application was closed")

    def _add_fd(self, fd):
        if self.application._app is None:
            import os

            os.close(fd)  # eddy was to own it
            self._check_open()
        rc = _ll.eddy_server_add_fd(self._server, fd)
        if rc < 0:
            import os

            os.close(fd)
            raise _errors.os_error(rc, "cannot serve fd %d" % fd)

    def _started(self):
        # Listening keeps the application (and so its routes) alive until stop().
        self.application._ioloop._servers.add(self)

    @property
    def port(self):
        """The first listening TCP port (eddy's addition, handy with port 0)."""
        if self.application._app is None:  # the application (and its server) was freed
            return None
        return _ll.eddy_server_port(self._server)

    def local_addresses(self):
        """The local address of every listening socket, in the order they were added: (ip,
        port) for IPv4, (ip, port, flowinfo, scope_id) for IPv6, the path for a Unix socket
        (eddy's addition, as TCPServer.local_addresses; Tornado's HTTPServer keeps the socket
        objects in the private _sockets dict). `port` gives the first TCP socket's port only.
        [] before listening and once stopped. Thread: the IOLoop's."""
        if self.application._app is None:  # the application (and its server) was freed
            return []
        from . import netutil

        addresses = []
        for i in range(1 << 16):  # eddy_server_listening_fd is EDDY_ENOENT past the last one
            fd = _ll.eddy_server_listening_fd(self._server, i)
            if fd < 0:
                break
            address = netutil._socket_address(fd)
            if address is not None:
                addresses.append(address)
        return addresses

    def stop(self):
        """Stops accepting; requests in flight finish, then their connections close."""
        if not self._stopped:
            self._stopped = True
            if self.application._app is None:  # freed with its application already
                return
            _ll.eddy_server_shutdown(self._server, lambda: None)
            self.application._ioloop._servers.discard(self)

    async def close_all_connections(self):
        import asyncio

        while self.application._app is not None and _ll.eddy_server_connection_count(self._server):
            await asyncio.sleep(0.01)
