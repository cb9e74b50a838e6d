"""Lua binding, eddy.process.Subprocess (tests/subprocess.lua): real children over real pipes —
cat echoing stdin through the pipe streams, exit codes and CalledProcessError, death by a
signal (negative returncode) and signals after the exit (no-ops), /dev/null, 2>&1, a child
that leaves its stdin unread (writes fail, no SIGPIPE), a caller's
fd (a pipe this test reads), close_fds, cwd, env, a new process group, spawn errors naming
their cause, 40 children at once, an error in an exit callback; the registry back to its size
once every child was released; a loop freed (eddy.close(), and lua_close at the end of a
script) with a child running — under valgrind when installed; and a status lost to an ignored
SIGCHLD."""
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

from luatest import HERE, alive, lua_binary, main, named_results

SCRIPT = os.path.join(HERE, "subprocess.lua")
VALGRIND = shutil.which("valgrind")


def run_script(mode, *args, valgrind=False, pass_fds=(), preexec_fn=None):
    """Runs subprocess.lua; returns its JSON lines by name and its stderr."""
    cmd = [lua_binary(), SCRIPT, "--mode", mode, *args]
    if valgrind:
        cmd = [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite,indirect",
               "--keep-debuginfo=yes", "--num-callers=30",
               "--suppressions=" + os.path.join(HERE, "valgrind.supp"), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=55, pass_fds=pass_fds,
                          preexec_fn=preexec_fn, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-4000:])
    return named_results(proc.stdout.splitlines()), proc.stderr


class Subprocess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="eddy-lua-sp-")
        cls.dir = os.path.join(cls.tmp, "cwd")
        os.mkdir(cls.dir)
        cls.noexec = os.path.join(cls.tmp, "noexec.sh")
        with open(cls.noexec, "w") as f:
            f.write("#!/bin/sh\necho ran\n")
        os.chmod(cls.noexec, stat.S_IRUSR | stat.S_IWUSR)
        r, w = os.pipe()  # inheritable: pass_fds
        env_before = os.environ.get("EDDY_TEST_PARENT")
        os.environ["EDDY_TEST_PARENT"] = "from the parent"
        try:
            cls.lines, cls.stderr = run_script("main", "--fd", str(w), "--dir", cls.dir,
                                               "--noexec", cls.noexec, pass_fds=(w,))
        finally:
            if env_before is None:
                del os.environ["EDDY_TEST_PARENT"]
            os.close(w)
        with os.fdopen(r, "rb") as f:
            cls.via_fd = f.read()  # every writer (the script, its children) has exited

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def facts(self, name):
        f = self.lines[name]
        self.assertNotIn("failed", f, f)
        return f

    def test_cat_echoes_through_pipes(self):
        f = self.facts("cat_echo")
        self.assertEqual(f["out"], "hello\nworld\n")
        self.assertEqual(f["returncode"], 0)
        self.assertTrue(f["pid_ok"])
        self.assertEqual(f["streams"], [True, True, True])  # stdin, stdout IOStreams; no stderr
        self.assertTrue(f["running"])
        self.assertTrue(f["released"])  # the handle is gone after the exit

    def test_exit_code(self):
        f = self.facts("exit_code")
        self.assertTrue(f["raised"])
        self.assertEqual(f["raised_code"], 7)
        self.assertIn("returned non-zero exit status 7", f["message"])
        self.assertIn("sh -c exit 7", f["message"])
        self.assertEqual((f["no_raise"], f["callback"], f["late_callback"]), (7, 7, 7))
        self.assertEqual(f["zero"], 0)

    def test_signal_death(self):
        f = self.facts("signals")
        self.assertTrue(f["check"])
        self.assertIn("bad signal number 100000", f["bad_signal"])
        self.assertIn("signum must be an integer", f["not_integer"])
        self.assertTrue(f["terminate"])
        self.assertEqual(f["sigterm"], signal.SIGTERM)
        self.assertEqual(f["returncode"], -signal.SIGTERM)
        self.assertEqual(f["after_exit"], [False, False, False])  # no-ops once exited
        self.assertTrue(f["kill"])
        self.assertEqual((f["sigkill"], f["killed"]), (signal.SIGKILL, -signal.SIGKILL))
        self.assertIn("died with signal %d" % signal.SIGKILL, f["killed_message"])
        self.assertFalse(f["kill_in_callback"])

    def test_stdio_modes(self):
        f = self.facts("stdio_modes")
        self.assertEqual(f["devnull"], "done\n")  # cat read /dev/null: nothing, at once
        self.assertEqual(f["stderr_to_stdout"], "out\nerr\n")
        self.assertEqual(f["stderr_devnull"], "out\n")
        self.assertEqual((f["stderr_pipe"], f["stderr_pipe_rc"]), ("to-err\n", 3))

    def test_stdin_reader_gone(self):
        f = self.facts("stdin_reader_gone")
        self.assertEqual(f["returncode"], 0)
        # The bytes could not go: the write callback says so, the stream closed with an error
        # (the script itself was not killed by SIGPIPE: it went on to report this).
        self.assertEqual((f["write_ok"], f["write_code"]), (False, f["eclosed"]))
        self.assertLess(f["close_code"], 0)
        self.assertIsNotNone(f["close_err"])

    def test_callers_fd_and_close_fds(self):
        f = self.facts("fd")
        self.assertEqual(f["returncode"], 0)
        self.assertEqual(self.via_fd, b"via-fd\n")
        self.assertEqual((f["default"], f["kept"]), ("closed\n", "open\n"))

    def test_cwd_env_process_group(self):
        f = self.facts("cwd_env")
        self.assertEqual(f["cwd"], os.path.realpath(self.dir) + "\n")
        self.assertEqual(f["env"], "from eddy|unset||\n")  # the whole environment: no HOME
        self.assertEqual(f["env_inherited"], "from the parent\n")
        self.assertTrue(f["own_group"])
        self.assertTrue(f["parent_group"])
        self.assertEqual(f["groups_rc"], [-signal.SIGKILL, -signal.SIGKILL])

    def test_spawn_errors(self):
        f = self.facts("errors")
        self.assertIn('cannot run "eddy-test-no-such-program": no such program (EDDY_ENOENT)',
                      f["no_program"])
        self.assertIn("no such program (EDDY_ENOENT)", f["no_path"])
        self.assertIn("permission denied", f["not_executable"])
        self.assertIn("EDDY_EACCES", f["not_executable"])
        self.assertIn('no such working directory "/nonexistent/eddy-dir"', f["no_cwd"])
        self.assertIn("EDDY_EINVAL", f["bad_fd"])
        self.assertIn("args must be a list of strings", f["args_string"])
        self.assertIn("args needs a program", f["args_empty"])
        self.assertIn("args needs a program", f["args_empty_program"])
        self.assertIn("args[2] must be a string", f["args_number"])
        self.assertIn("args[2] must be a string without NUL", f["args_nul"])
        self.assertIn('unsupported option "shell"', f["unknown_option"])
        self.assertIn('stdin must be eddy.process.STREAM', f["bad_stdin"])
        self.assertIn('not "pipe"', f["bad_stdin"])
        self.assertIn("stdout must be", f["stdout_to_stdout"])
        self.assertIn("stdin must be", f["negative_fd"])
        self.assertIn("env.A must be a string", f["bad_env"])
        self.assertIn("env: a name must be", f["bad_env_name"])
        self.assertIn("cwd must be a non-empty string", f["bad_cwd"])
        self.assertIn("close_fds must be a boolean", f["bad_close_fds"])
        self.assertEqual(f["registry_kept"], 0)  # a failed spawn pins nothing

    def test_many_children(self):
        f = self.facts("many")
        self.assertEqual((f["good"], f["exits"]), (f["n"], f["n"]))

    def test_exit_callback_error_is_logged(self):
        self.assertEqual(self.facts("callback_error")["returncode"], 0)
        self.assertIn("eddy-lua: error in Subprocess exit callback", self.stderr)
        self.assertIn("boom in exit callback", self.stderr)

    def test_released_after_exit(self):
        f = self.lines["end"]
        self.assertIn("wait_for_exit only works inside a coroutine", f["outside_coroutine"])
        self.assertEqual(f["registry_delta"], 0)


class LoopFreed(unittest.TestCase):
    def check_valgrind(self, report):
        tail = report[-6000:]
        self.assertIn("ERROR SUMMARY: 0 errors", report, tail)
        for kind in ("definitely", "indirectly"):
            self.assertNotRegex(report, kind + r" lost: [1-9]", tail)

    def test_close_with_a_child_running(self):
        lines, report = run_script("loop_freed", valgrind=VALGRIND is not None)
        a = lines["after_close"]
        try:
            # eddy leaves the child running (it is not signalled).
            self.assertTrue(alive(a["pid"]), a)
            self.assertTrue(a["handle"])
            self.assertIsNone(a["returncode"])
            self.assertFalse(a["ran"])  # no exit callback, no waiter, no close callback
            closed = "eddy: the event loop is closed"
            for name in ("send_signal", "kill", "set_exit_callback", "new"):
                self.assertIn(closed, a[name], (name, a))
            self.assertTrue(a["streams_closed"])
            self.assertEqual(a["write"], a["eclosed"])
            self.assertEqual(lines["registry"]["delta"], 0)
        finally:
            if alive(a["pid"]):
                os.kill(a["pid"], signal.SIGKILL)
        if VALGRIND:
            self.check_valgrind(report)

    def test_script_ends_with_a_child_running(self):
        lines, report = run_script("exit_running", valgrind=VALGRIND is not None)
        pid = lines["started"]["pid"]
        try:
            self.assertTrue(alive(pid))
        finally:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if VALGRIND:
            self.check_valgrind(report)


class LostStatus(unittest.TestCase):
    def test_sigchld_ignored(self):
        # An ignored SIGCHLD survives exec: the kernel reaps the child, eddy cannot know its
        # status, and says so (returncode false) rather than inventing one.
        def ignore_sigchld():
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        lines, _ = run_script("lost", preexec_fn=ignore_sigchld)
        f = lines["lost"]
        self.assertIs(f["returncode"], False)
        self.assertIn("exited with an unknown status", f["raised"])


if __name__ == "__main__":
    main()
