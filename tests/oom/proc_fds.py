"""Open descriptors of a running process, from /proc (the out-of-memory tests' leak check)."""
import os
import time


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


def open_fds_settled(pid, before, seconds=5):
    """open_fds(pid) once it is back to `before` or `seconds` went by: the closes a process's
    loop makes after its last answer take a moment."""
    deadline = time.monotonic() + seconds
    while open_fds(pid) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    return open_fds(pid)
