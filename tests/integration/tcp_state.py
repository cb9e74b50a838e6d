"""The server's side of a test's loopback connections, as the kernel reports it (/proc/net/tcp):
lets a test wait for an event there (the server read the bytes sent, the server closed its
socket) instead of sleeping and hoping the server got that far. 127.0.0.1 (IPv4) only.

Every wait is bounded by a deadline that only a hung server reaches; a passing run returns as
soon as the event happened."""
import time

ESTABLISHED, CLOSE_WAIT = "01", "08"


def _addr(port):
    return "0100007F:%04X" % port


def _rows():
    with open("/proc/net/tcp") as f:
        return [line.split() for line in f.readlines()[1:]]


def wait_server_read(port, client_ports, timeout=30):
    """Waits until the server on 127.0.0.1:`port` has read everything the connections from
    `client_ports` sent: their server-side sockets are accepted and have an empty receive queue
    in /proc/net/tcp. Without /proc, a pause stands in."""
    want = {(_addr(port), _addr(p)) for p in client_ports}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = [r for r in _rows() if r[3] == ESTABLISHED]
        except OSError:
            time.sleep(0.5)
            return
        unread = {(r[1], r[2]) for r in rows if (r[1], r[2]) in want and
                  int(r[4].split(":")[1], 16) > 0}
        seen = {(r[1], r[2]) for r in rows if (r[1], r[2]) in want}
        if seen == want and not unread:
            return
        time.sleep(0.02)
    raise AssertionError("the server did not read the connections' bytes within %d s" % timeout)


def wait_server_closed(port, client_port, timeout=30):
    """Waits until the server on 127.0.0.1:`port` has closed (or shut down for writing) its
    socket of the connection from `client_port`: that socket is no longer ESTABLISHED or
    CLOSE_WAIT (it is FIN_WAIT, LAST_ACK, TIME_WAIT... or gone). Returns True when it did, False
    at the deadline. Without /proc, a pause stands in (and True)."""
    key = (_addr(port), _addr(client_port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = {r[3] for r in _rows() if (r[1], r[2]) == key}
        except OSError:
            time.sleep(1.5)
            return True
        if not states & {ESTABLISHED, CLOSE_WAIT}:
            return True
        time.sleep(0.02)
    return False
