"""What this host's loopback offers, for tests that skip what it lacks. Shared by the
integration tests and the Python and Lua bindings' tests (which put this folder on sys.path)."""
import socket


def has_ipv6_loopback():
    """True when a socket can be bound to ::1 (containers often run without IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
