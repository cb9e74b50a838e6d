"""Shared helpers for the bench scripts: start a test server, read its memory, raise fd
limits."""
import os
import re
import resource
import subprocess


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # root may raise the hard limit
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def start_server(binary, *flags):
    """Starts one of the test servers; returns (process, port) once its first line named the
    port: prod_server's "PORT n", ws_test_server's "listening on n", http_api_server's
    "listening on host:n"."""
    p = subprocess.Popen([binary, *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    m = re.match(r"(?:PORT |listening on (?:\S*:)?)(\d+)\s*$", line)
    if not m:
        p.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return p, int(m.group(1))


def _status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return _status_kib(pid, "VmRSS:")


def peak_rss_kib(pid):
    """The process's highest RSS so far (VmHWM)."""
    return _status_kib(pid, "VmHWM:")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))
