"""Open descriptors of a running process, from /proc (the out-of-memory tests' leak check)."""
import os


def open_fds(pid, names=False):
    """How many descriptors process `pid` has open (the sorted targets with `names`)."""
    d = f"/proc/{pid}/fd"
    fds = os.listdir(d)
    if not names:
        return len(fds)
    out = []
    for fd in fds:
        try:
            out.append(os.readlink(os.path.join(d, fd)))
        except OSError:
            pass
    return sorted(out)
