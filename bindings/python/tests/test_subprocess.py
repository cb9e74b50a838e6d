"""eddy.process.Subprocess (Tornado's process.Subprocess on eddy_subprocess_*) with real programs
(cat, sh, sleep) over real pipes: echo through cat via the stdin / stdout streams, exit codes
and CalledProcessError, signals (terminate, kill, send_signal) as negative return codes and
signals after the exit ignored, DEVNULL / STDOUT / PIPE / an fd / a file / cwd / env /
process_group, spawn errors (Popen's exceptions, no fd left behind), set_exit_callback and
wait_for_exit before and after the exit, many children at once, a Tornado-style coroutine on
eddy.testing's IOLoop, the life cycle (the object is held while the child runs and let go after
its exit; closing the IOLoop first fails the waiters and drops the handle), and one scenario run
on eddy and on python3-tornado with the same results."""

import asyncio
import gc
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import unittest
import weakref

import impl_pair
from tcp_support import AsyncTestCase, TIMEOUT

import eddy.gen
import eddy.ioloop
import eddy.iostream
import eddy.process
import eddy.testing
from eddy.process import Subprocess

STREAM = Subprocess.STREAM


def open_fds():
    return set(os.listdir("/proc/self/fd"))


async def run(args, **kwargs):
    """(stdout bytes, returncode) of a child whose stdout is a STREAM."""
    proc = Subprocess(args, stdout=STREAM, **kwargs)
    out = await proc.stdout.read_until_close()
    return out, await proc.wait_for_exit(raise_error=False)


class Pipes(AsyncTestCase):
    def test_cat_echoes_stdin_to_stdout(self):
        async def main():
            proc = Subprocess(["cat"], stdin=STREAM, stdout=STREAM)
            self.assertGreater(proc.pid, 0)
            self.assertIsNone(proc.returncode)
            self.assertIsInstance(proc.stdin, eddy.iostream.PipeIOStream)
            self.assertIsInstance(proc.stdout, eddy.iostream.PipeIOStream)
            self.assertIsNone(proc.stderr)  # inherited
            await proc.stdin.write(b"hello\n")
            self.assertEqual(await proc.stdout.read_until(b"\n"), b"hello\n")  # cat is live
            await proc.stdin.write(b"world\n" * 1000)
            proc.stdin.close()  # the child's EOF: cat ends
            self.assertEqual(await proc.stdout.read_until_close(), b"world\n" * 1000)
            self.assertEqual(await proc.wait_for_exit(), 0)
            self.assertEqual(proc.returncode, 0)

        self.run_async(main())

    def test_write_to_an_exited_childs_stdin_is_a_broken_pipe(self):
        # As Tornado: the stdin stream closes with BrokenPipeError once its reader is gone.
        async def main():
            proc = Subprocess(["true"], stdin=STREAM)
            self.assertEqual(await proc.wait_for_exit(), 0)
            with self.assertRaises(eddy.iostream.StreamClosedError) as caught:
                for _ in range(100):  # the close may come with the first write or before it
                    await proc.stdin.write(b"x" * 65536)
            self.assertIsInstance(caught.exception.real_error, BrokenPipeError)
            self.assertIsInstance(proc.stdin.error, BrokenPipeError)

        self.run_async(main())

    def test_stderr_stream_and_stderr_to_stdout(self):
        async def main():
            proc = Subprocess(["sh", "-c", "echo out; echo err >&2"], stdout=STREAM,
                              stderr=STREAM)
            out, err = await asyncio.gather(proc.stdout.read_until_close(),
                                            proc.stderr.read_until_close())
            self.assertEqual((out, err), (b"out\n", b"err\n"))
            self.assertEqual(await run(["sh", "-c", "echo out; echo err >&2"],
                                       stderr=subprocess.STDOUT), (b"out\nerr\n", 0))

        self.run_async(main())

    def test_devnull(self):
        async def main():
            # What the child's fds are, from inside: /dev/null where DEVNULL was asked.
            script = "readlink /proc/$$/fd/0; readlink /proc/$$/fd/2"
            out, code = await run(["sh", "-c", script], stdin=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            self.assertEqual(out, b"/dev/null\n/dev/null\n")
            # (The shell's own fd 1: a lone command would be exec'd with its redirection.)
            proc = Subprocess(["sh", "-c", "x=$(readlink /proc/$$/fd/1); echo $x >&2"],
                              stdout=subprocess.DEVNULL, stderr=STREAM)
            self.assertIsNone(proc.stdout)
            self.assertEqual(await proc.stderr.read_until_close(), b"/dev/null\n")
            self.assertEqual(await proc.wait_for_exit(), 0)

        self.run_async(main())

    def test_fd_file_and_pipe(self):
        async def main():
            # An int fd: the child writes into the caller's pipe; the caller's end stays open.
            r, w = os.pipe()
            proc = Subprocess(["sh", "-c", "echo via-fd"], stdout=w)
            os.fstat(w)  # still the caller's
            os.close(w)
            self.assertEqual(await proc.wait_for_exit(), 0)
            with open(r, "rb") as f:
                self.assertEqual(f.read(), b"via-fd\n")
            # A file object (its fileno()), for stdin and stdout.
            with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
                src.write(b"from a file\n")
                src.flush()
                src.seek(0)
                proc = Subprocess(["cat"], stdin=src, stdout=dst)
                self.assertEqual(await proc.wait_for_exit(), 0)
                dst.seek(0)
                self.assertEqual(dst.read(), b"from a file\n")
            # subprocess.PIPE: a blocking file object, as Popen gives.
            proc = Subprocess(["sh", "-c", "cat; echo done"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
            proc.stdin.write(b"piped\n")
            proc.stdin.close()
            self.assertEqual(await proc.wait_for_exit(), 0)
            os.set_blocking(proc.stdout.fileno(), False)  # a leaked write end must not hang
            self.assertEqual(proc.stdout.read(), b"piped\ndone\n")
            proc.stdout.close()

        self.run_async(main())

    def test_cwd_env_shell_and_args(self):
        async def main():
            with tempfile.TemporaryDirectory() as d:
                real = os.path.realpath(d).encode()
                for cwd in (d, d.encode(), __import__("pathlib").Path(d)):
                    self.assertEqual(await run(["pwd", "-P"], cwd=cwd), (real + b"\n", 0))
            env = {"EDDY_TEST_VAR": "from eddy", b"EDDY_BYTES": b"b\xffx",
                   "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            out, _ = await run(["sh", "-c", 'echo "$EDDY_TEST_VAR"; echo "$EDDY_BYTES"; '
                                            'echo "${HOME-unset}"'], env=env)
            self.assertEqual(out, b"from eddy\nb\xffx\nunset\n")
            # shell=True: a command line; a str without it is the program alone, as Popen.
            self.assertEqual(await run("echo $((6 * 7)) | cat", shell=True), (b"42\n", 0))
            self.assertEqual(await run("pwd", cwd="/"), (b"/\n", 0))
            # Arguments pass through untouched: spaces, quotes, non-UTF-8 bytes.
            args = ["printf", "%s|", "a b", "'\"", b"\xfe", "\u00e9"]
            self.assertEqual(await run(args), (b"a b|'\"|\xfe|\xc3\xa9|", 0))

        self.run_async(main())

    def test_close_fds(self):
        async def main():
            r, w = os.pipe()
            os.set_inheritable(r, True)  # passed on only with close_fds=False
            try:
                script = "[ -e /proc/$$/fd/%d ] && echo open || echo closed" % r
                self.assertEqual(await run(["sh", "-c", script]), (b"closed\n", 0))
                self.assertEqual(await run(["sh", "-c", script], close_fds=False),
                                 (b"open\n", 0))
            finally:
                os.close(r)
                os.close(w)

        self.run_async(main())

    def test_process_group(self):
        def group_of(pid):
            with open("/proc/%d/stat" % pid) as f:
                return int(f.read().rsplit(")", 1)[1].split()[2])

        async def main():
            own = Subprocess(["sleep", "30"], process_group=0)
            same = Subprocess(["sleep", "30"])
            self.assertEqual(group_of(own.pid), own.pid)
            self.assertEqual(group_of(same.pid), os.getpgrp())
            for proc in (own, same):
                proc.kill()
                self.assertEqual(await proc.wait_for_exit(raise_error=False), -signal.SIGKILL)

        self.run_async(main())


class ExitAndSignals(AsyncTestCase):
    def test_exit_code_and_called_process_error(self):
        async def main():
            args = ["sh", "-c", "exit 3"]
            proc = Subprocess(args)
            with self.assertRaises(subprocess.CalledProcessError) as cm:
                await proc.wait_for_exit()
            self.assertEqual(cm.exception.returncode, 3)
            self.assertEqual(cm.exception.cmd, args)
            self.assertIs(eddy.process.CalledProcessError, subprocess.CalledProcessError)
            self.assertEqual(await proc.wait_for_exit(raise_error=False), 3)
            self.assertEqual(proc.returncode, 3)

        self.run_async(main())

    def test_wait_for_exit_before_and_after_the_exit(self):
        async def main():
            proc = Subprocess(["sh", "-c", "read line; exit 5"], stdin=STREAM)
            first = proc.wait_for_exit(raise_error=False)
            second = proc.wait_for_exit()
            cancelled = proc.wait_for_exit()
            cancelled.cancel()
            await asyncio.sleep(0)
            self.assertFalse(first.done())  # the child waits for its line
            await proc.stdin.write(b"go\n")
            self.assertEqual(await first, 5)
            with self.assertRaises(subprocess.CalledProcessError):
                await second
            # After the exit: done at once, without a loop pass.
            late = proc.wait_for_exit(raise_error=False)
            self.assertTrue(late.done())
            self.assertEqual(late.result(), 5)
            late_error = proc.wait_for_exit()
            self.assertTrue(late_error.done())
            self.assertIsInstance(late_error.exception(), subprocess.CalledProcessError)
            proc.stdin.close()

        self.run_async(main())

    def test_terminate_kill_send_signal(self):
        async def main():
            for how, signum in (("terminate", signal.SIGTERM), ("kill", signal.SIGKILL),
                                ("send_signal", signal.SIGUSR1)):
                proc = Subprocess(["sleep", "30"])
                if how == "send_signal":
                    proc.send_signal(signal.SIGUSR1)
                else:
                    getattr(proc, how)()
                self.assertEqual(await proc.wait_for_exit(raise_error=False), -signum, how)
                self.assertEqual(proc.returncode, -signum)
                with self.assertRaises(subprocess.CalledProcessError) as cm:
                    await proc.wait_for_exit()
                self.assertEqual(cm.exception.returncode, -signum)

        self.run_async(main())

    def test_signals_after_the_exit_are_ignored(self):
        async def main():
            proc = Subprocess(["true"])
            calls = []

            def on_exit(code):
                proc.kill()  # inside the exit callback too (eddy refuses a kill there)
                calls.append(code)

            proc.set_exit_callback(on_exit)
            self.assertEqual(await proc.wait_for_exit(), 0)
            await asyncio.sleep(0)
            self.assertEqual(calls, [0])
            proc.kill()  # as Popen.send_signal: nothing once it has exited
            proc.terminate()
            proc.send_signal(signal.SIGUSR1)
            self.assertEqual(proc.returncode, 0)

        self.run_async(main())

    def test_bad_signal_number(self):
        async def main():
            proc = Subprocess(["sleep", "30"])
            with self.assertRaises(OSError) as cm:
                proc.send_signal(100000)
            self.assertEqual(cm.exception.errno, __import__("errno").EINVAL)
            proc.kill()
            self.assertEqual(await proc.wait_for_exit(raise_error=False), -signal.SIGKILL)

        self.run_async(main())

    def test_set_exit_callback(self):
        async def main():
            loop_thread = threading.get_ident()
            got = asyncio.Event()
            calls = []

            def on_exit(code):
                calls.append((code, threading.get_ident()))
                got.set()

            proc = Subprocess(["sh", "-c", "exit 4"])
            proc.set_exit_callback(lambda code: calls.append(("replaced", code)))
            proc.set_exit_callback(on_exit)  # replaces the first, as Tornado's
            await asyncio.wait_for(got.wait(), TIMEOUT)
            self.assertEqual(calls, [(4, loop_thread)])
            # Set after the exit: called too (from the loop, not inside the call).
            late = []
            proc.set_exit_callback(late.append)
            self.assertEqual(late, [])
            await asyncio.sleep(0)
            self.assertEqual(late, [4])
            # An exception in the callback is logged; the loop goes on.
            boom = Subprocess(["true"])
            boom.set_exit_callback(lambda code: 1 / 0)
            with self.assertLogs("eddy.application", "ERROR") as logs:
                await boom.wait_for_exit()
                await asyncio.sleep(0)
            self.assertIn("ZeroDivisionError", "\n".join(logs.output))
            with self.assertRaises(TypeError):
                boom.set_exit_callback("not callable")

        self.run_async(main())

    def test_lost_status_is_zero_and_logged(self):
        """SIGCHLD ignored: the kernel reaps the child and its status is gone (eddy's exit
        callback gets -1); returncode is 0, as Popen reports it, and a warning says so."""
        async def main():
            proc = Subprocess(["sh", "-c", "exit 3"])
            with self.assertLogs("eddy.general", "WARNING") as logs:
                self.assertEqual(await proc.wait_for_exit(), 0)
            self.assertIn("exit status of child %d was lost" % proc.pid, logs.output[0])

        previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        try:
            self.run_async(main())
        finally:
            signal.signal(signal.SIGCHLD, previous)

    def test_initialize_and_uninitialize_do_nothing(self):
        before = signal.getsignal(signal.SIGCHLD)
        Subprocess.initialize()
        self.assertEqual(signal.getsignal(signal.SIGCHLD), before)  # no SIGCHLD handler
        Subprocess.uninitialize()
        self.assertEqual(signal.getsignal(signal.SIGCHLD), before)

    def test_many_children_at_once(self):
        async def main():
            n = 40
            procs = [Subprocess(["sh", "-c", "echo %d; exit %d" % (i, i % 7)], stdout=STREAM)
                     for i in range(n)]
            outs = await asyncio.gather(*(p.stdout.read_until_close() for p in procs))
            codes = await asyncio.gather(*(p.wait_for_exit(raise_error=False) for p in procs))
            self.assertEqual(outs, [b"%d\n" % i for i in range(n)])
            self.assertEqual(codes, [i % 7 for i in range(n)])
            self.assertEqual(len({p.pid for p in procs}), n)

        self.run_async(main())

    def test_other_thread_refused(self):
        async def main():
            proc = Subprocess(["sleep", "30"])
            for call in (proc.kill, proc.wait_for_exit, lambda: proc.set_exit_callback(print)):
                with self.assertRaisesRegex(RuntimeError, "another thread"):
                    await asyncio.to_thread(call)
            proc.kill()
            await proc.wait_for_exit(raise_error=False)

        self.run_async(main())


class SpawnErrors(AsyncTestCase):
    def test_popen_exceptions_and_no_fd_left_behind(self):
        async def main():
            eddy.ioloop.IOLoop.current()  # the loop's own fds, made on first use
            before = open_fds()
            pipes = dict(stdin=STREAM, stdout=STREAM, stderr=STREAM)
            with self.assertRaises(FileNotFoundError) as cm:
                Subprocess(["/nonexistent/eddy-program"], **pipes)
            self.assertEqual(cm.exception.filename, "/nonexistent/eddy-program")
            with self.assertRaises(FileNotFoundError):
                Subprocess(["eddy-no-such-program-in-path"], stdout=subprocess.PIPE)
            with self.assertRaises(FileNotFoundError) as cm:
                Subprocess(["true"], cwd="/nonexistent/eddy-dir", **pipes)
            self.assertEqual(cm.exception.filename, "/nonexistent/eddy-dir")
            with tempfile.NamedTemporaryFile(suffix=".sh") as f:
                f.write(b"#!/bin/sh\n")
                f.flush()
                os.chmod(f.name, stat.S_IRUSR | stat.S_IWUSR)  # not executable
                with self.assertRaises(PermissionError) as cm:
                    Subprocess([f.name], stdin=subprocess.PIPE, stdout=STREAM)
                self.assertEqual(cm.exception.filename, f.name)
            # A caller's fd that is not open: EINVAL from eddy, as an OSError.
            with self.assertRaises(OSError) as cm:
                Subprocess(["true"], stdout=1000000)
            self.assertEqual(cm.exception.errno, __import__("errno").EINVAL)
            # Arguments refused before anything starts.
            with self.assertRaises(ValueError):
                Subprocess([])
            with self.assertRaisesRegex(ValueError, "null"):
                Subprocess(["echo", "a\0b"], stdout=STREAM)
            with self.assertRaisesRegex(ValueError, "only for stderr"):
                Subprocess(["true"], stdout=subprocess.STDOUT)
            with self.assertRaisesRegex(ValueError, "invalid file descriptor"):
                Subprocess(["true"], stdin=-7)
            with self.assertRaises(TypeError):
                Subprocess(["true"], stdin="not a stream")
            with self.assertRaisesRegex(TypeError, "preexec_fn"):
                Subprocess(["true"], preexec_fn=lambda: None)
            with self.assertRaisesRegex(ValueError, "process_group=0"):
                Subprocess(["true"], start_new_session=True)
            with self.assertRaises(ValueError):
                Subprocess(["true"], process_group=5)
            with self.assertRaises(ValueError):
                Subprocess(["true"], env={"A=B": "c"})
            self.assertEqual(open_fds(), before)

        self.run_async(main())


class TornadoStyle(eddy.testing.AsyncTestCase):
    """Tornado's own way: a gen.coroutine with yield, on eddy.testing's IOLoop."""

    @eddy.testing.gen_test
    @eddy.gen.coroutine
    def test_gen_coroutine(self):
        @eddy.gen.coroutine
        def call(cmd, data):
            proc = Subprocess(cmd, stdin=STREAM, stdout=STREAM, stderr=STREAM)
            yield proc.stdin.write(data)
            proc.stdin.close()
            out, err = yield [proc.stdout.read_until_close(), proc.stderr.read_until_close()]
            code = yield proc.wait_for_exit(raise_error=False)
            raise eddy.gen.Return((out, err, code))

        self.assertIs(Subprocess(["true"]).io_loop, self.io_loop)
        result = yield call(["sh", "-c", "tr a-z A-Z; echo warn >&2; exit 2"], b"shout\n")
        self.assertEqual(result, (b"SHOUT\n", b"warn\n", 2))


class LifeCycle(unittest.TestCase):
    def test_held_while_running_released_after_exit(self):
        async def main():
            exited = asyncio.Event()
            proc = Subprocess(["sh", "-c", "read line"], stdin=STREAM)
            proc.set_exit_callback(lambda code: exited.set())
            stdin = proc.stdin
            ref = weakref.ref(proc)
            del proc
            gc.collect()
            self.assertIsNotNone(ref())  # eddy's handle keeps a running child's object
            await stdin.write(b"x\n")
            await asyncio.wait_for(exited.wait(), TIMEOUT)
            stdin.close()
            gc.collect()
            self.assertIsNone(ref())  # and lets go of it after the exit

        asyncio.run(asyncio.wait_for(main(), TIMEOUT))

    def test_no_fd_or_object_left_after_many_runs(self):
        async def main():
            eddy.ioloop.IOLoop.current()  # the loop's own fds, made on first use
            before = open_fds()
            for i in range(30):
                proc = Subprocess(["sh", "-c", "cat; echo %d >&2" % i], stdin=STREAM,
                                  stdout=STREAM, stderr=STREAM)
                await proc.stdin.write(b"x")
                proc.stdin.close()
                out, err = await asyncio.gather(proc.stdout.read_until_close(),
                                                proc.stderr.read_until_close())
                self.assertEqual((out, err), (b"x", b"%d\n" % i))
                await proc.wait_for_exit()
                # Streams the caller never closes: each closes at its EOF (stdout / stderr).
            del proc
            await asyncio.sleep(0)
            gc.collect()
            self.assertEqual(open_fds(), before)
            self.assertEqual([o for o in gc.get_objects() if isinstance(o, Subprocess)], [])

        asyncio.run(asyncio.wait_for(main(), TIMEOUT))

    def test_ioloop_closed_before_the_exit(self):
        aloop = asyncio.new_event_loop()
        asyncio.set_event_loop(aloop)
        io_loop = eddy.ioloop.IOLoop.current()
        calls = []

        async def start():
            proc = Subprocess(["sleep", "30"], stdout=STREAM)
            proc.set_exit_callback(calls.append)
            return proc, proc.wait_for_exit()

        try:
            proc, waiting = aloop.run_until_complete(start())
            pid = proc.pid
            io_loop.close()
        finally:
            asyncio.set_event_loop(None)
        try:
            self.assertTrue(waiting.done())
            self.assertIsInstance(waiting.exception(), RuntimeError)
            self.assertIn("closed", str(waiting.exception()))
            self.assertTrue(proc.stdout.closed())  # the loop's close closed its streams
            # eddy no longer watches the child: a signal, a wait or a callback set now would be
            # dropped unseen, so each is refused.
            for call in (proc.kill, proc.wait_for_exit, lambda: proc.set_exit_callback(print)):
                with self.assertRaisesRegex(RuntimeError, "closed"):
                    call()
            self.assertIsNone(proc.returncode)
            self.assertEqual(calls, [])
            ref = weakref.ref(proc)
            del proc, waiting
            gc.collect()
            self.assertIsNone(ref())  # nothing eddy held keeps it
        finally:
            # eddy left the child running, as its header says: end and reap it here.
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


# The same scenario on eddy and on python3-tornado, each in a Python process of its own (Tornado's
# Subprocess installs a SIGCHLD handler for the whole process): what each observes must match.
SCENARIO = """
import asyncio, json, subprocess, sys
if sys.argv[1] == "eddy":
    import eddy.process as process
else:
    import tornado.process as process
S = process.Subprocess

async def main():
    seen = {}
    p = S(["cat"], stdin=S.STREAM, stdout=S.STREAM)
    seen["types"] = [type(p.stdin).__name__, type(p.stdout).__name__, p.stderr]
    await p.stdin.write(b"hello\\n")
    p.stdin.close()
    seen["cat"] = (await p.stdout.read_until_close()).decode()
    seen["cat_code"] = await p.wait_for_exit()
    p = S(["sh", "-c", "echo o; echo e >&2; cat"], stdout=S.STREAM, stderr=subprocess.STDOUT,
          stdin=subprocess.DEVNULL)
    seen["merged"] = (await p.stdout.read_until_close()).decode()
    seen["merged_code"] = await p.wait_for_exit()
    p = S(["sh", "-c", "exit 3"])
    try:
        await p.wait_for_exit()
    except process.CalledProcessError as e:
        seen["error"] = [type(e).__name__, e.returncode]
    seen["returncode"] = p.returncode
    p = S(["sleep", "30"])
    got = asyncio.get_running_loop().create_future()
    p.set_exit_callback(got.set_result)
    (p.kill if sys.argv[1] == "eddy" else p.proc.kill)()  # Tornado's: its Popen's
    seen["killed"] = await got
    seen["killed_returncode"] = p.returncode
    try:
        S(["/nonexistent/eddy-program"])
    except OSError as e:
        seen["missing"] = [type(e).__name__, e.errno, e.strerror, e.filename]
    S.initialize()
    S.uninitialize()
    print(json.dumps(seen, sort_keys=True))

asyncio.run(main())
"""


@unittest.skipIf(impl_pair.tornado is None, "python3-tornado is not installed")
class SameAsTornado(unittest.TestCase):
    def test_scenario(self):
        results = {}
        for name in ("eddy", "tornado"):
            done = subprocess.run([sys.executable, "-c", SCENARIO, name], capture_output=True,
                                  timeout=TIMEOUT, env=dict(os.environ))
            self.assertEqual(done.returncode, 0, done.stderr.decode())
            results[name] = done.stdout
        self.assertEqual(results["eddy"], results["tornado"])
        self.assertIn(b'"killed": -9', results["eddy"])

if __name__ == "__main__":
    unittest.main()
