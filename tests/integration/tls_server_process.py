"""The tls_server test binary as a child process: started with its arguments, the port read from
its "listening on" line, stopped with SIGTERM (and a clean exit asserted), its stderr kept for
failure messages; and reading a socket to its end. Shared by test_tls.py and
test_tls_resume.py."""
import re
import subprocess
import tempfile

from child_log import read_log


def read_to_eof(s):
    """Everything `s` (a socket, plain or TLS) delivers until the peer ends the stream."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


class TlsServerProcess:
    def __init__(self, binary, *args):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("server did not start: %r %s" % (line, self.log()))
        self.port = int(m.group(1))

    def log(self):
        return read_log(self.stderr).decode(errors="replace")

    def stop(self, testcase):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        testcase.assertEqual(rc, 0, self.log())
        self.stderr.close()
