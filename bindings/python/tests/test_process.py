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


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def run_script(script):
    return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=TIMEOUT,
                          env=dict(os.environ))


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
    def test_refused_once_an_ioloop_exists(self, fork):
        loop = asyncio.new_event_loop()
        ioloop = eddy.ioloop.IOLoop(loop, make_current=False)
        try:
            with self.assertRaisesRegex(RuntimeError, "IOLoop already exists"):
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
