"""A CONNECT tunnel's two-way copy, for the small test proxies (test_client.py, test_oom_client.py)."""
import socket
import threading


def relay(client, upstream):
    """Copies bytes both ways between two connected sockets until both sides end; each end's
    EOF is passed on as a half close. Closes `upstream` (the caller's server owns `client`)."""
    def copy(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    t.start()
    copy(client, upstream)
    t.join(20)
    upstream.close()
