"""Lua binding, process helpers (tests/tcp_fork.lua): bind_socket + fork_processes(2) + a
TCPServer per child on the shared socket (add_socket): connections reach both children, each
answering its task id; SIGTERM to the parent ends the children and the parent. And outside a
fork: task_id() is nil, cpu_count() >= 1, bind_socket / socket_port / add_socket errors,
fork_processes refused once the loop exists."""
import json
import os
import signal
import subprocess
import time
import unittest

from luatest import HERE, alive, lua_binary, main
from tcp_events import WAIT, EventScript, connect, recv_line

SCRIPT = os.path.join(HERE, "tcp_fork.lua")


class ForkProcesses(unittest.TestCase):
    def test_two_children_share_the_port(self):
        parent = EventScript(SCRIPT, "--children", "2")
        port = int(parent.header["listening"])
        children = {}  # task id -> pid
        try:
            deadline = time.monotonic() + WAIT
            while len(children) < 2 and time.monotonic() < deadline:
                with connect(port) as sock:
                    ret_id, task_id, pid = map(int, recv_line(sock).split())
                self.assertEqual(ret_id, task_id)  # fork_processes' result is task_id()
                self.assertNotEqual(pid, parent.proc.pid)
                children[task_id] = pid
            self.assertEqual(sorted(children), [0, 1], children)
            self.assertNotEqual(children[0], children[1])
            # SIGTERM to the parent is forwarded; everything exits, the parent with 0.
            parent.proc.send_signal(signal.SIGTERM)
            self.assertEqual(parent.proc.wait(timeout=WAIT), 0, parent.stderr())
            deadline = time.monotonic() + WAIT
            while any(alive(p) for p in children.values()) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertFalse([p for p in children.values() if alive(p)])
        finally:
            parent.stop()
            for pid in children.values():  # only the children this test made
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)

    def test_helpers_outside_a_fork(self):
        proc = subprocess.run([lua_binary(), SCRIPT, "--checks", "1"], capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        c = json.loads(proc.stdout.splitlines()[-1])
        self.assertIsNone(c["task_id"])
        self.assertGreaterEqual(c["cpu_count"], 1)
        self.assertTrue(c["port_ok"])
        self.assertIn("address already in use", c["in_use"])
        self.assertIn("bind_socket not an address:0 failed", c["bad_address"])
        self.assertIn("unsupported option flags", c["bad_option"])
        self.assertIn("socket_port(0)", c["socket_port_bad"])
        self.assertIn("add_socket(0) failed", c["add_socket_bad"])
        self.assertIn("fork_processes must be called before the event loop exists",
                      c["fork_after_loop"])


if __name__ == "__main__":
    main()
