"""eddy.process.fork_processes in subprocesses (the processes forked are the children of a
Python process this test starts; the test signals only those): Tornado 6's pattern (bind_sockets,
fork 2 children, a TCPServer in each) answers with each child's task id over real connections;
a child killed with SIGKILL comes back with the same task id; SIGTERM to the parent ends every
process; children exiting 0 end the parent with 0; too many restarts raise. In-process: the
refusal when an IOLoop exists, cpu_count and task_id."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import unittest
import unittest.mock

import eddy.ioloop
import eddy.process
from support import free_port

TIMEOUT = 30  # only against hangs

SERVE = textwrap.dedent("""
    import asyncio, os, sys
    import eddy.netutil, eddy.process, eddy.tcpserver

    sockets = eddy.netutil.bind_sockets(0, "127.0.0.1")
    print("port", sockets[0].getsockname()[1], os.getpid(), flush=True)
    task = eddy.process.fork_processes(2, max_restarts=5)
    assert task == eddy.process.task_id()

    class Answer(eddy.tcpserver.TCPServer):
        async def handle_stream(self, stream, address):
            # One connection per child: the next one must reach another process.
            self.stop()
            await stream.write(b"%d %d\\n" % (eddy.process.task_id(), os.getpid()))

    async def main():
        server = Answer()
        server.add_sockets(sockets)
        await asyncio.Event().wait()

    asyncio.run(main())
""")


def ask(port):
    """Connects and returns (task id, pid) from the child that accepted."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        line = b""
        while not line.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                raise AssertionError("connection closed without an answer: %r" % line)
            line += chunk
    task, pid = line.split()
    return int(task), int(pid)


def ask_when_listening(port, proc):
    """ask(port) once the subprocess has bound it (it binds right after starting)."""
    for _ in range(TIMEOUT * 20):
        try:
            return ask(port)
        except ConnectionRefusedError:
            if proc.poll() is not None:
                raise AssertionError("the server process exited with %s" % proc.returncode)
            time.sleep(0.05)
    raise AssertionError("nothing listened on port %d" % port)


def http_get(port):
    """GET / over a new connection: the numbers the child that answered wrote (task id, pid,
    ...)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise AssertionError("status %d: %r" % (response.status, body))
    finally:
        conn.close()
    return tuple(int(field) for field in body.split())  # task id, pid, then the handler's


def get_when_listening(port, proc):
    """http_get(port) once the subprocess has bound it."""
    for _ in range(TIMEOUT * 20):
        try:
            return http_get(port)
        except ConnectionRefusedError:
            if proc.poll() is not None:
                raise AssertionError("the server process exited with %s: %s"
                                     % (proc.returncode, proc.stderr.read().decode()))
            time.sleep(0.05)
    raise AssertionError("nothing listened on port %d" % port)


def epoll_registrations(pid, fd):
    """The registrations ("tfd: ..." lines) of epoll fd `fd` of process `pid`, from /proc."""
    with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
        lines = [line for line in f if line.startswith("tfd:")]
    if not lines:
        raise AssertionError("fd %d of pid %d watches nothing" % (fd, pid))
    return sorted(lines)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def run_script(script, env=None):
    return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=TIMEOUT,
                          env=dict(os.environ, **(env or {})))


class ForkProcesses(unittest.TestCase):
    def test_children_serve_restart_and_stop_with_the_parent(self):
        proc = subprocess.Popen([sys.executable, "-c", SERVE], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ))
        children = set()
        try:
            _, port, parent = proc.stdout.readline().split()
            port, parent = int(port), int(parent)
            self.assertEqual(parent, proc.pid)
            first = ask(port)
            second = ask(port)
            self.assertEqual({first[0], second[0]}, {0, 1})
            children.update((first[1], second[1]))
            self.assertNotIn(proc.pid, children)
            self.assertEqual(len(children), 2)

            victim = first if first[0] == 0 else second
            os.kill(victim[1], signal.SIGKILL)
            # Child 1 no longer accepts: only the restarted child 0 can answer.
            again = ask(port)
            children.add(again[1])
            self.assertEqual(again[0], 0)
            self.assertNotEqual(again[1], victim[1])

            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(TIMEOUT), 0)
            # The parent reaped its children before it exited.
            self.assertEqual([pid for pid in children if not gone(pid)], [])
            stderr = proc.stderr.read().decode()
            self.assertIn("child 0 (pid %d) killed by signal 9, restarting" % victim[1], stderr)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)
            for pid in children:  # only processes this test's subprocess forked
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)
            proc.stdout.close()
            proc.stderr.close()

    def test_tcpserver_bind_then_start_forks(self):
        """Tornado's older pattern: TCPServer.bind, start(2) (which forks), then the IOLoop."""
        script = textwrap.dedent("""
            import os, sys
            import eddy.ioloop, eddy.process, eddy.tcpserver

            class Answer(eddy.tcpserver.TCPServer):
                async def handle_stream(self, stream, address):
                    self.stop()
                    await stream.write(b"%d %d\\n" % (eddy.process.task_id(), os.getpid()))

            server = Answer()
            server.bind(int(sys.argv[1]), "127.0.0.1")
            server.start(2)
            eddy.ioloop.IOLoop.current().start()
        """)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", script, str(port)],
                                stderr=subprocess.PIPE, env=dict(os.environ))
        children = set()
        try:
            answers = [ask_when_listening(port, proc), ask(port)]
            self.assertEqual({task for task, _ in answers}, {0, 1})
            children.update(pid for _, pid in answers)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(TIMEOUT), 0)
            self.assertEqual([pid for pid in children if not gone(pid)], [])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)
            for pid in children:
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)
            proc.stderr.close()

    def test_httpserver_bind_then_start_forks(self):
        """Tornado's multi-process HTTP pattern: the Application (and its IOLoop) made before
        the fork, server.bind, server.start(2) forks, IOLoop.current().start() in each child.
        Two children answer with their own pids, each polling epoll instances (eddy's and
        asyncio's) that are not the parent's; one killed is restarted (max_restarts) with the
        same task id; SIGTERM to the parent ends them all."""
        script = textwrap.dedent("""
            import os, sys
            import eddy.httpserver, eddy.ioloop, eddy.process, eddy.web
            from eddy import _lowlevel

            def epoll_fds():
                # eddy's backend fd and the asyncio loop's selector fd, as the test reads them
                # in /proc: the registrations of one epoll instance are the same from any
                # process holding it.
                loop = eddy.ioloop.IOLoop.current()
                return (_lowlevel.eddy_loop_backend_fd(loop._eddy),
                        loop.asyncio_loop._selector.fileno())

            class Pid(eddy.web.RequestHandler):
                def get(self):
                    # One request per child: the next connection must reach another process.
                    server.stop()
                    self.set_header("Connection", "close")
                    self.write("%d %d %d %d\\n" % ((eddy.process.task_id(), os.getpid())
                                                   + epoll_fds()))

            app = eddy.web.Application([("/", Pid)])
            server = eddy.httpserver.HTTPServer(app)
            server.bind(int(sys.argv[1]), "127.0.0.1")
            print("%d %d" % epoll_fds(), flush=True)
            server.start(2, max_restarts=5)
            eddy.ioloop.IOLoop.current().start()
        """)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", script, str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ))
        children = set()
        try:
            parent_fds = [int(fd) for fd in proc.stdout.readline().split()]
            first = get_when_listening(port, proc)
            second = http_get(port)
            answers = [first, second]
            children.update(answer[1] for answer in answers)
            self.assertEqual({answer[0] for answer in answers}, {0, 1})
            self.assertEqual(len(children), 2)
            self.assertNotIn(proc.pid, children)
            # While both children still run: no epoll instance of theirs is the parent's.
            parent_sets = [epoll_registrations(proc.pid, fd) for fd in parent_fds]
            for answer in answers:
                child_sets = [epoll_registrations(answer[1], fd) for fd in answer[2:]]
                for parent_set, child_set in zip(parent_sets, child_sets):
                    self.assertNotEqual(parent_set, child_set)
            os.kill(first[1], signal.SIGKILL)
            again = http_get(port)  # only the restarted child still accepts
            children.add(again[1])
            self.assertEqual(again[0], first[0])
            self.assertNotIn(again[1], (first[1], second[1]))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(TIMEOUT), 0)
            self.assertEqual([pid for pid in children if not gone(pid)], [])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)
            for pid in children:  # only processes this test's subprocess forked
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)
            proc.stdout.close()
            proc.stderr.close()

    @unittest.mock.patch("os.fork", side_effect=AssertionError("forked despite the loop"))
    def test_httpserver_start_refused_once_the_loop_ran(self, fork):
        import eddy.httpserver
        import eddy.web

        loop = asyncio.new_event_loop()
        ioloop = eddy.ioloop.IOLoop(loop)
        try:
            app = eddy.web.Application([])
            server = eddy.httpserver.HTTPServer(app)
            server.bind(0, "127.0.0.1")
            ioloop.run_sync(lambda: None)
            with self.assertRaisesRegex(RuntimeError, "IOLoop instance has already been "
                                                      "initialized"):
                server.start(2)
            server.start()  # one process: serves on the loop that ran
            self.assertIsNotNone(server.port)
            server.stop()
        finally:
            ioloop.close()
            asyncio.set_event_loop(None)
        fork.assert_not_called()

    def test_children_exiting_zero_end_the_parent(self):
        result = run_script(textwrap.dedent("""
            import os, sys
            import eddy.process
            task = eddy.process.fork_processes(3)
            os.write(1, b"child %d\\n" % task)  # one write: atomic on the shared pipe
            sys.exit(0)
        """))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(result.stdout.decode().split("\n")[:-1]),
                         ["child 0", "child 1", "child 2"])

    def test_crashed_child_restarted_with_sigchld_ignored(self):
        # SIGCHLD ignored by the caller (or inherited so across exec): the kernel would reap the
        # children itself and os.wait() fail with ECHILD. The parent still restarts the crashed
        # child and ends with 0; the children keep the caller's SIG_IGN.
        result = run_script(textwrap.dedent("""
            import os, signal
            import eddy.process
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            marker = os.environ["EDDY_TEST_MARKER"]
            task = eddy.process.fork_processes(1, max_restarts=2)
            ignored = signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN
            os.write(1, b"start %d %d\\n" % (task, ignored))
            if not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(3)
            os._exit(0)
        """), env={"EDDY_TEST_MARKER": self.marker_path()})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.decode().split("\n")[:-1], ["start 0 1"] * 2)

    def marker_path(self):
        import tempfile

        directory = tempfile.mkdtemp(prefix="eddy-test-fork-")
        self.addCleanup(lambda: (os.path.exists(directory + "/m") and os.unlink(directory + "/m"),
                                 os.rmdir(directory)))
        return directory + "/m"

    def test_too_many_restarts_raise_in_the_parent(self):
        result = run_script(textwrap.dedent("""
            import os
            import eddy.process
            task = eddy.process.fork_processes(1, max_restarts=2)
            os.write(1, b"start %d\\n" % task)
            os._exit(3)
        """))
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"Too many child restarts", result.stderr)
        self.assertEqual(result.stdout.decode().split("\n")[:-1], ["start 0"] * 3)

    @unittest.mock.patch("os.fork", side_effect=AssertionError("forked despite the loop"))
    def test_refused_once_an_ioloop_ran(self, fork):
        loop = asyncio.new_event_loop()
        ioloop = eddy.ioloop.IOLoop(loop, make_current=False)
        try:
            ioloop.run_sync(lambda: None)  # an IOLoop that ran: its work cannot be split
            with self.assertRaisesRegex(RuntimeError, "IOLoop instance has already been "
                                                      "initialized"):
                eddy.process.fork_processes(2)
        finally:
            ioloop.close()

        async def main():
            with self.assertRaisesRegex(RuntimeError, "running event loop"):
                eddy.process.fork_processes(2)

        asyncio.run(main())
        self.assertIsNone(eddy.process.task_id())
        fork.assert_not_called()

    def test_cpu_count(self):
        self.assertEqual(eddy.process.cpu_count(), len(os.sched_getaffinity(0)))


if __name__ == "__main__":
    unittest.main()
