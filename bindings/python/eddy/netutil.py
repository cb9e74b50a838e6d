"""eddy.netutil: Tornado's socket helpers, with Python's socket module.

bind_sockets / bind_unix_socket make listening sockets before any IOLoop exists (for
fork_processes, or to hand to TCPServer.add_sockets / HTTPServer.add_sockets); is_valid_ip
tells numeric addresses from names; add_accept_handler accepts on a socket with the IOLoop.
Thread: any (add_accept_handler: the IOLoop's)."""

import errno
import os
import socket
import stat

_DEFAULT_BACKLOG = 128


def _socket_address(fd):
    """getsockname() of `fd`, a socket someone else owns (an eddy listener's): (ip, port) for
    IPv4, (ip, port, flowinfo, scope_id) for IPv6, the path for a Unix socket; None when it
    cannot be read. The fd is borrowed: detached again, never closed."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        return sock.getsockname()
    except OSError:
        return None
    finally:
        sock.detach()


def bind_sockets(port, address=None, family=socket.AF_UNSPEC, backlog=_DEFAULT_BACKLOG,
                 flags=None, reuse_port=False):
    """Listening, non-blocking, close-on-exec TCP sockets for `address`:`port`, one per
    address the name resolves to (every interface when address is None or ""). port 0 picks
    a free port; all the sockets of one call then share it. family restricts the address
    family (socket.AF_INET / AF_INET6); flags are getaddrinfo's (default AI_PASSIVE);
    reuse_port sets SO_REUSEPORT. SO_REUSEADDR is always set; an IPv6 socket is IPv6-only (an
    IPv4 socket serves IPv4). The caller owns the returned socket objects.
    Raises OSError (socket.gaierror for a name that does not resolve); the sockets this call
    had bound by then are closed again."""
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform does not support SO_REUSEPORT")
    if address == "":
        address = None
    if not socket.has_ipv6 and family == socket.AF_UNSPEC:
        family = socket.AF_INET
    if flags is None:
        flags = socket.AI_PASSIVE
    infos = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, flags)
    # IPv4 first, so an IPv6 socket picked after it takes the same (port 0) port.
    infos.sort(key=lambda info: info[0])
    sockets = []
    seen = set()
    shared_port = None
    try:
        for af, socktype, proto, _canon, sockaddr in infos:
            if (af, sockaddr) in seen:
                continue
            seen.add((af, sockaddr))
            sock = socket.socket(af, socktype, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if af == socket.AF_INET6:
                    # Otherwise it would also take IPv4 and collide with the IPv4 socket.
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if port == 0 and shared_port is not None:
                    sockaddr = (sockaddr[0], shared_port) + tuple(sockaddr[2:])
                sock.setblocking(False)
                try:
                    sock.bind(sockaddr)
                except OSError as e:
                    # "localhost" may name ::1 on a host without IPv6: skip that one.
                    if (e.errno == errno.EADDRNOTAVAIL and address == "localhost"
                            and af == socket.AF_INET6):
                        sock.close()
                        continue
                    raise
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
            shared_port = sock.getsockname()[1]
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_unix_socket(file, mode=0o600, backlog=_DEFAULT_BACKLOG):
    """A listening, non-blocking Unix socket at path `file` with permissions `mode`. An
    existing socket file there is replaced; any other existing file raises ValueError. A
    `file` starting with a NUL ("\\0name", Python's spelling) is a Linux abstract socket: no
    file, so nothing is replaced and `mode` does not apply (OSError EADDRINUSE while another
    socket has the name). Tornado's os.stat raises ValueError for it."""
    abstract = ((isinstance(file, str) and file.startswith("\0"))
                or (isinstance(file, bytes) and file.startswith(b"\0")))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        if not abstract:
            try:
                st = os.stat(file)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISSOCK(st.st_mode):
                    raise ValueError("File %s exists and is not a socket" % file)
                os.remove(file)
        sock.bind(file)
        if not abstract:
            os.chmod(file, mode)  # before listen: no client connects meanwhile
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _is_inet_address(ip):
    """True when `ip` is an address inet_pton takes, IPv4 then IPv6: the test eddy's C layer
    makes for a trusted proxy (eddy_server_add_trusted_proxy) and a connect's source address
    (eddy_connect_options_set_source). Stricter than is_valid_ip (no "%zone"); a NUL inside
    raises ValueError here, where C would have read the address up to it: False."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, ip)
            return True
        except (OSError, ValueError):
            pass
    return False


def is_valid_ip(ip):
    """True when `ip` is a numeric IPv4 or IPv6 address (what getaddrinfo takes with
    AI_NUMERICHOST), False for names, "" and strings with a NUL."""
    if not ip or "\x00" in ip:
        return False
    try:
        socket.getaddrinfo(ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                           socket.AI_NUMERICHOST)
    except socket.gaierror as e:
        if e.args[0] == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:  # not encodable as IDNA: certainly not numeric
        return False
    return True


def add_accept_handler(sock, callback):
    """Accepts connections on the listening socket `sock` with the current IOLoop and calls
    `callback(connection, address)` (a socket object the callback owns) for each. Returns a
    function that stops it (the socket stays the caller's). Thread: the IOLoop's."""
    from .ioloop import IOLoop

    io_loop = IOLoop.current()
    removed = [False]

    def accept_handler(fd, events):
        # A bounded batch per readiness, as Tornado does: others get their turn.
        for _ in range(_DEFAULT_BACKLOG):
            if removed[0]:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            callback(connection, address)

    def remove_handler():
        io_loop.remove_handler(sock)
        removed[0] = True

    io_loop.add_handler(sock, accept_handler, IOLoop.READ)
    return remove_handler
