"""eddy.process.Subprocess: Tornado's process.Subprocess on eddy's C subprocess
(include/eddy/subprocess.h: posix_spawn, the exit watched through a pidfd).

    proc = eddy.process.Subprocess(["cat"], stdin=Subprocess.STREAM, stdout=Subprocess.STREAM)
    await proc.stdin.write(b"hello\\n")
    proc.stdin.close()                            # the child's EOF
    out = await proc.stdout.read_until_close()
    code = await proc.wait_for_exit()             # CalledProcessError unless 0

Thread: a Subprocess belongs to the IOLoop current when it was made (IOLoop.current()); every
method must be called on that loop's thread (RuntimeError otherwise; IOLoop.add_callback is the
way in from elsewhere). Callbacks and futures complete on that thread.

Lifetime: while the child runs, eddy's handle holds this object (so the exit callback and
wait_for_exit futures complete even when the caller dropped it). Once the child exited and its
exit was delivered, eddy releases the handle and every reference it held; the object then only
reports `returncode`. When the IOLoop is closed first, the handle is released without an exit:
the child is left running (eddy does not signal it), pending wait_for_exit futures fail with
RuntimeError, the exit callback is dropped uncalled, and from then on set_exit_callback(),
wait_for_exit() and send_signal() raise RuntimeError (eddy no longer watches the child, whose pid
could be reused later: a signal or a wait would be dropped unseen). The pipe streams are independent of the
child: each is the caller's to read, write and close, as in Tornado."""

import logging
import os
import subprocess
import threading

from . import _lowlevel as _ll
from ._errors import errno_of, os_error

gen_log = logging.getLogger("eddy.general")

CalledProcessError = subprocess.CalledProcessError  # tornado.process.CalledProcessError

# Popen's keywords Subprocess refuses (posix_spawn has no room for them, or eddy has no such
# option): named in the TypeError, so that nothing the caller asked for is dropped silently.
_POPEN_ONLY = ("bufsize", "executable", "preexec_fn", "universal_newlines", "text", "encoding",
               "errors", "startupinfo", "creationflags", "restore_signals", "pass_fds", "user",
               "group", "extra_groups", "umask", "pipesize")


class _Link:
    """The C handle's userdata: forwards the exit to the Subprocess and is told when eddy
    releases the handle (see eddy_py_subprocess_spawn). Holding the Subprocess strongly is what
    keeps a running child's object, callback and futures alive; the reference goes with the
    handle."""

    __slots__ = ("proc",)

    def __init__(self, proc):
        self.proc = proc

    def __call__(self, exit_status, term_signal):
        proc = self.proc
        if proc is not None:
            proc._on_exit(exit_status, term_signal)

    def _eddy_release(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            proc._on_release()


class Subprocess:
    """A child process with non-blocking pipes, as Tornado's (which wraps subprocess.Popen):
    Subprocess(args, stdin=None, stdout=None, stderr=None, cwd=None, env=None, close_fds=True,
    shell=False, process_group=None, start_new_session=False).

    args: a list (or tuple) of str / bytes / os.PathLike, the program first, looked up in PATH
    when it has no "/" (in the parent's PATH even when `env` is given); a str alone is the
    program without arguments, as Popen reads it; with shell=True a str is a /bin/sh command
    line (a list: its first item is the command line and the rest sh's $0, $1...). Keyword
    arguments only after `args`.

    stdin / stdout / stderr, each one of: Subprocess.STREAM (a pipe; the attribute of that name
    is then a PipeIOStream: write to `stdin`, read from `stdout` / `stderr`, and close them when
    done, as in Tornado); None (inherited from this process, the default); subprocess.DEVNULL;
    subprocess.PIPE (a pipe whose end is a blocking file object, as Popen gives; not for use on
    the loop's thread); subprocess.STDOUT (stderr only: the same as the child's stdout); an fd
    (int >= 0) or an object with fileno() (a file, a socket), which the child gets a copy of
    (the caller's stays open and the caller's).

    cwd: the child's working directory (str, bytes or os.PathLike). env: a mapping that replaces
    the environment (str or bytes keys and values). close_fds: True (the default) closes every
    fd above 2 in the child; False lets those without close-on-exec through (Python makes its
    own fds close-on-exec: os.set_inheritable() the ones to pass). process_group=0: the child
    leads a new process group (Ctrl-C at a terminal does not reach it; os.killpg(proc.pid, sig)
    reaches it and its own children); other values, and start_new_session=True (setsid), raise
    ValueError: eddy's spawn can only make a new group. Popen's other keywords raise TypeError.

    Errors: the exceptions Popen raises, before anything started: FileNotFoundError (no such
    program, or `cwd` does not exist; `filename` names which), PermissionError (not executable),
    OSError otherwise (EMFILE, ENOMEM, EINVAL for an fd that is not open, EIO); TypeError /
    ValueError for bad arguments (a NUL byte in an argument, STDOUT for stdin or stdout).

    Attributes: `pid`, `returncode` (None until the exit was delivered; then the exit code, or
    -N for a child killed by signal N, as Popen), `stdin` / `stdout` / `stderr` (a PipeIOStream
    for STREAM, a file object for PIPE, else None), `args` (as given), `io_loop`.

    How it differs from Tornado's: there is no SIGCHLD handler (eddy watches the child's pidfd,
    or polls it every 50 ms where pidfd_open is refused), so it works on every loop of every
    thread and initialize() / uninitialize() do nothing; there is no `proc` (no Popen object);
    wait_for_exit() does not replace the exit callback, and the callback set after the exit
    runs too."""

    STREAM = object()

    def __init__(self, args, *, stdin=None, stdout=None, stderr=None, cwd=None, env=None,
                 close_fds=True, shell=False, process_group=None, start_new_session=False,
                 **popen_kwargs):
        from .ioloop import IOLoop

        refused = sorted(popen_kwargs)
        if refused:
            known = [k for k in refused if k in _POPEN_ONLY]
            raise TypeError("eddy.process.Subprocess does not support %s (%s)" % (
                ", ".join(refused),
                "Popen options eddy's spawn has no room for" if known == refused
                else "unknown keyword arguments"))
        if start_new_session:
            raise ValueError("start_new_session=True is not supported (eddy cannot setsid); "
                             "process_group=0 gives the child a process group of its own")
        if process_group not in (None, 0):
            raise ValueError("process_group: only 0 (a new group led by the child) is "
                             "supported, not %r" % (process_group,))
        self.io_loop = IOLoop.current()
        self._ident = self.io_loop._ident
        self._check_thread()  # a loop of another thread made current here: refused
        self.args = args
        self.pid = None
        self.returncode = None
        self.stdin = self.stdout = self.stderr = None
        self._c = None  # the C handle while eddy holds it
        self._exit_callback = None
        self._waiters = []  # (future, raise_error) of wait_for_exit
        self._orphaned = False  # the IOLoop closed before the exit: eddy let the child go
        argv = _argv(args, shell)
        options = _ll.eddy_spawn_options_new()
        if options is None:
            raise MemoryError("eddy_spawn_options_new: out of memory")
        child_ends = []  # our fds the child gets a copy of: closed here once it started
        parent_ends = {}  # child fd -> our end of a subprocess.PIPE pipe
        try:
            for child_fd, spec in ((0, stdin), (1, stdout), (2, stderr)):
                _set_stdio(options, child_fd, spec, child_ends, parent_ends)
            if cwd is not None:
                _check(_ll.eddy_spawn_options_set_cwd(options, os.fspath(cwd)), "cwd")
            if env is not None:
                _check(_ll.eddy_py_spawn_options_set_env(options, _envp(env)), "env")
            _check(_ll.eddy_spawn_options_set_close_fds(options, int(bool(close_fds))),
                   "close_fds")
            if process_group == 0:
                _check(_ll.eddy_spawn_options_set_new_process_group(options, 1),
                       "process_group")
            rc, handle = _ll.eddy_py_subprocess_spawn(self.io_loop._eddy, argv, options,
                                                      _Link(self))
        except BaseException:
            for fd in list(parent_ends.values()):
                os.close(fd)
            raise
        finally:
            _ll.eddy_spawn_options_free(options)
            for fd in child_ends:
                os.close(fd)
        if rc < 0:
            for fd in parent_ends.values():
                os.close(fd)
            raise _spawn_error(rc, argv, cwd)
        self._c = handle
        self.pid = _ll.eddy_subprocess_pid(handle)
        from .iostream import PipeIOStream

        for child_fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            if child_fd in parent_ends:
                setattr(self, name, open(parent_ends[child_fd], "wb" if child_fd == 0 else "rb"))
            else:
                c_stream = _ll.eddy_subprocess_take_stream(handle, child_fd)
                if c_stream is not None:  # a STREAM pipe: ours from now on
                    setattr(self, name, PipeIOStream._adopt(c_stream))
        self.io_loop._pump.kick()  # eddy watches the child from its next pass

    # ---- the exit ------------------------------------------------------------------------------
    def set_exit_callback(self, callback):
        """Calls callback(returncode) on the loop's thread once the child exited (after this
        call returned; also when it had exited already). A second call replaces the callback not
        yet run, as in Tornado; None removes it. An exception the callback raises is logged
        (logger eddy.application). Dropped uncalled when the IOLoop is closed first; raises
        RuntimeError once it was (the exit can no longer be seen)."""
        self._check_thread()
        self._check_orphaned()
        if callback is not None and not callable(callback):
            raise TypeError("set_exit_callback: a callable or None is required")
        if self.returncode is not None:
            self._exit_callback = None
            if callback is not None:
                self._schedule(callback)
            return
        self._exit_callback = callback

    def wait_for_exit(self, raise_error=True):
        """Returns an asyncio Future that resolves to the returncode once the child exited (done
        already when it had). With raise_error (the default) a non-zero returncode fails it with
        subprocess.CalledProcessError(returncode, args) instead. Fails with RuntimeError when
        the IOLoop is closed before the child exited; raises RuntimeError when called after
        that. Any number may wait; the exit callback is left as it was (Tornado's replaces
        it)."""
        self._check_thread()
        self._check_orphaned()
        future = self.io_loop.asyncio_loop.create_future()
        if self.returncode is not None:
            self._settle(future, raise_error)
        else:
            self._waiters.append((future, raise_error))
        return future

    def _on_exit(self, exit_status, term_signal):
        """The C exit callback (the loop's thread, inside eddy's pass): eddy releases the handle
        when this returns, so it is forgotten first; user code runs later, from asyncio."""
        self._c = None
        if term_signal:
            self.returncode = -term_signal
        elif exit_status >= 0:
            self.returncode = exit_status
        else:
            # Another waitpid(-1) or SIGCHLD set to SIG_IGN took the status: Popen reports 0
            # then, and so does this (loudly).
            gen_log.warning("the exit status of child %d was lost (SIGCHLD ignored, or another "
                            "waitpid took it); returncode 0", self.pid)
            self.returncode = 0
        waiters, self._waiters = self._waiters, []
        for future, raise_error in waiters:
            self._settle(future, raise_error)
        callback, self._exit_callback = self._exit_callback, None
        if callback is not None:
            self._schedule(callback)

    def _on_release(self):
        """eddy released the handle: right after the exit, or first when the loop was freed."""
        self._c = None
        self._exit_callback = None
        self._orphaned = self.returncode is None
        waiters, self._waiters = self._waiters, []
        for future, _ in waiters:
            if future.done():
                continue
            try:
                future.set_exception(RuntimeError(
                    "the IOLoop was closed before child %d exited (it was left running)"
                    % self.pid))
            except RuntimeError:  # the asyncio loop is closed: done all the same
                pass
            if not future.cancelled():
                future.exception()  # nobody may await it now: no "never retrieved" warning

    def _settle(self, future, raise_error):
        if future.cancelled():
            return
        if self.returncode != 0 and raise_error:
            future.set_exception(CalledProcessError(self.returncode, self.args))
        else:
            future.set_result(self.returncode)

    def _schedule(self, callback):
        loop = self.io_loop
        loop.asyncio_loop.call_soon(loop._run_callback, callback, (self.returncode,), {})

    # ---- signals -------------------------------------------------------------------------------
    def send_signal(self, sig):
        """Sends signal `sig` to the child, as Popen.send_signal: nothing once it has exited
        (also when it exited and eddy has not noticed yet). eddy signals through the child's
        pidfd, so a reused pid is never hit. Raises OSError (EINVAL) for an invalid signal
        number, PermissionError when refused, RuntimeError once the IOLoop was closed before
        the exit (the child may still run, but eddy no longer knows whether the pid is its)."""
        self._check_thread()
        self._check_orphaned()
        if self._c is None:
            return
        rc = _ll.eddy_subprocess_kill(self._c, int(sig))
        if rc == _ll.EDDY_ESTATE:
            return  # exited: the exit is delivered on the loop's next pass
        if rc < 0:
            raise os_error(rc, "send_signal(%d) to child %d" % (int(sig), self.pid))

    def terminate(self):
        """send_signal(SIGTERM)."""
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self):
        """send_signal(SIGKILL)."""
        import signal

        self.send_signal(signal.SIGKILL)

    # ---- Tornado's SIGCHLD set-up ----------------------------------------------------------------
    @classmethod
    def initialize(cls):
        """Does nothing, for Tornado's code that calls it: Tornado installs a SIGCHLD handler
        here; eddy needs none (each loop watches its children's pidfds)."""

    @classmethod
    def uninitialize(cls):
        """Does nothing (see initialize)."""

    def _check_orphaned(self):
        if self._orphaned:
            raise RuntimeError("the IOLoop was closed before child %d exited (it was left "
                               "running; eddy no longer watches it)" % self.pid)

    def _check_thread(self):
        if threading.get_ident() != self._ident:
            raise RuntimeError("Subprocess used from another thread than its IOLoop's; use "
                               "IOLoop.add_callback to get onto the loop's thread")

    def __repr__(self):
        return "<eddy.process.Subprocess pid=%s returncode=%s>" % (self.pid, self.returncode)


def _argv(args, shell):
    """The argv bytes list eddy spawns, from Popen's forms of `args`."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    else:
        args = list(args)
    if shell:
        args = ["/bin/sh", "-c"] + args
    if not args:
        raise ValueError("Subprocess: args must name a program (it is empty)")
    argv = [os.fsencode(a) for a in args]
    if not argv[0]:
        raise ValueError("Subprocess: the program name is empty")
    return argv


def _envp(env):
    out = []
    for key, value in env.items():
        key, value = os.fsencode(key), os.fsencode(value)
        if not key or b"=" in key:
            raise ValueError("illegal environment variable name %r" % (key,))
        out.append(key + b"=" + value)
    return out


def _set_stdio(options, child_fd, spec, child_ends, parent_ends):
    """Connects the child's fd `child_fd` as `spec` (see Subprocess) says."""
    if spec is None:
        return  # inherited: the default
    if spec is Subprocess.STREAM:
        mode = _ll.EDDY_STDIO_PIPE
    elif spec is subprocess.DEVNULL or (isinstance(spec, int) and spec == subprocess.DEVNULL):
        mode = _ll.EDDY_STDIO_DEVNULL
    elif isinstance(spec, int) and spec == subprocess.STDOUT:
        if child_fd != 2:
            raise ValueError("subprocess.STDOUT is only for stderr")
        mode = _ll.EDDY_STDIO_STDOUT
    elif isinstance(spec, int) and spec == subprocess.PIPE:
        read_end, write_end = os.pipe()  # close-on-exec, as all of Python's fds
        ours, theirs = (write_end, read_end) if child_fd == 0 else (read_end, write_end)
        parent_ends[child_fd] = ours
        child_ends.append(theirs)
        _check(_ll.eddy_spawn_options_set_stdio_fd(options, child_fd, theirs), "stdio")
        return
    else:
        fd = spec if isinstance(spec, int) else getattr(spec, "fileno", None)
        if fd is None:
            raise TypeError("std%s: Subprocess.STREAM, None, subprocess.DEVNULL / PIPE / STDOUT, "
                            "an fd or an object with fileno() expected, not %r"
                            % (("in", "out", "err")[child_fd], spec))
        if not isinstance(fd, int):
            fd = fd()
        if fd < 0:
            raise ValueError("std%s: invalid file descriptor %d"
                             % (("in", "out", "err")[child_fd], fd))
        _check(_ll.eddy_spawn_options_set_stdio_fd(options, child_fd, fd), "stdio")
        return
    _check(_ll.eddy_spawn_options_set_stdio(options, child_fd, mode), "stdio")


def _check(rc, what):
    if rc == _ll.EDDY_ENOMEM:
        raise MemoryError("Subprocess %s: out of memory" % what)
    if rc < 0:
        raise ValueError("Subprocess %s: %s" % (what, _ll.eddy_strerror(rc)))


def _spawn_error(rc, argv, cwd):
    """Popen's exception for a failed spawn: FileNotFoundError / PermissionError with the
    system's message and `filename` the program (or the missing cwd), OSError otherwise."""
    program = os.fsdecode(argv[0])
    number = errno_of(rc)
    if number is None:
        return os_error(rc, "cannot start %s" % program)
    filename = program
    if rc == _ll.EDDY_ENOENT and cwd is not None and not os.path.isdir(cwd):
        filename = os.fsdecode(os.fspath(cwd))
    return OSError(number, os.strerror(number), filename)
