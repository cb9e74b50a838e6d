"""eddy.httpserver: the HTTPServer that Application.listen() returns."""

import logging

from . import _lowlevel as _ll

access_log = logging.getLogger("eddy.access")


def _log_request(req):
    """Tornado's access log line: INFO for < 400, WARNING for 4xx, ERROR for 5xx."""
    status = _ll.eddy_request_response_status(req)
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if access_log.isEnabledFor(level):
        method, uri, _, _, _, ip, _, _ = _ll.eddy_py_request_info(req)
        access_log.log(level, "%d %s %s (%s) %.2fms", status, method, uri, ip,
                       1000.0 * _ll.eddy_request_duration(req))


class HTTPServer:
    """Serves an Application with eddy's HTTP/1.1 server (one server per application).
    Options as Tornado's: xheaders, no_keep_alive, decompress_request, max_header_size,
    max_body_size, idle_connection_timeout, body_timeout, trusted_downstream."""

    def __init__(self, application, xheaders=False, no_keep_alive=False,
                 decompress_request=False, max_header_size=None, max_body_size=None,
                 idle_connection_timeout=None, body_timeout=None, trusted_downstream=None,
                 **kwargs):
        self.application = application
        self._server = _ll.eddy_app_server(application._app)
        if self._server is None:
            raise RuntimeError("eddy_app_server failed")
        s = self._server
        _ll.eddy_server_set_xheaders(s, int(bool(xheaders)))
        _ll.eddy_server_set_no_keep_alive(s, int(bool(no_keep_alive)))
        _ll.eddy_server_set_decompress_request(s, int(bool(decompress_request)))
        if max_header_size is not None:
            _ll.eddy_server_set_max_header_size(s, int(max_header_size))
        if max_body_size is not None:
            _ll.eddy_server_set_max_body_size(s, int(max_body_size))
        if idle_connection_timeout is not None:
            _ll.eddy_server_set_idle_timeout(s, float(idle_connection_timeout))
        if body_timeout is not None:
            _ll.eddy_server_set_body_timeout(s, float(body_timeout))
        for ip in trusted_downstream or ():
            _ll.eddy_server_add_trusted_proxy(s, ip)
        _ll.eddy_server_set_access_log(s, _log_request)
        for method in application._methods:
            _ll.eddy_server_allow_method(s, method)
        self._stopped = False

    def listen(self, port, address=None, **kwargs):
        """Listens on address:port (every address when address is None or ""; port 0 picks a
        free port, see .port). Raises OSError when the address cannot be bound."""
        rc = _ll.eddy_app_listen(self.application._app, address or None, int(port))
        if rc < 0:
            raise OSError("cannot listen on %s:%s: %s" % (address or "*", port, _ll.eddy_strerror(rc)))
        # Listening keeps the application (and so its routes) alive until stop().
        self.application._ioloop._servers.add(self)

    @property
    def port(self):
        """The first listening TCP port (eddy's addition, handy with port 0)."""
        if self.application._app is None:  # the application (and its server) was freed
            return None
        return _ll.eddy_server_port(self._server)

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
