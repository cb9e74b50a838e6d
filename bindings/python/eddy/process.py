"""eddy.process: Tornado's multi-process helpers (cpu_count, fork_processes, task_id) and its
Subprocess (child processes with PipeIOStream pipes; eddy/_subprocess.py has it).

The pattern (Tornado 6's): bind the listening sockets, fork, then make the loop and the server
in each child and hand them the sockets:

    sockets = eddy.netutil.bind_sockets(8888)
    eddy.process.fork_processes(0)        # the parent stays here, supervising
    async def main():
        server = eddy.httpserver.HTTPServer(app)   # or a TCPServer, or app.listen's server
        server.add_sockets(sockets)
        await asyncio.Event().wait()
    asyncio.run(main())

The children share the sockets' accept queues: no connection is refused while one restarts.
fork_processes is os.fork in Python (so the interpreter's fork hooks run: random is reseeded,
locks of the logging module are reset). An eddy IOLoop that exists but never ran (the one an
Application made, in Tornado's `HTTPServer(app); server.bind(port); server.start(n)` pattern)
is reinitialised in each child: an asyncio loop and an eddy epoll fd, eventfd and timerfd of
the child's own (eddy_loop_reinit), so no child shares what the parent's loop polls. A loop that
ran already is refused (RuntimeError, as Tornado). Thread: the main thread, before any other
thread exists."""

import ctypes
import logging
import os
import signal
import sys

from . import _lowlevel as _ll
# Child processes with IOStream pipes (Tornado's process.Subprocess), in a module of their own.
from ._subprocess import CalledProcessError, Subprocess  # noqa: F401

gen_log = logging.getLogger("eddy.general")

_task_id = None

# Signals the supervising parent hands on to its children; after SIGTERM or SIGINT it restarts
# nothing and exits once they are gone.
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def cpu_count():
    """The number of CPUs this process may run on (its affinity mask; at least 1)."""
    return _ll.eddy_cpu_count()


def task_id():
    """This process's task id from fork_processes (0 .. n-1), or None when not forked."""
    return _task_id


def fork_processes(num_processes, max_restarts=None):
    """Forks `num_processes` children (0 or None: cpu_count()) and returns, in each child, its
    task id 0 .. num_processes-1. The parent does not return: it supervises. A child that dies
    from a signal or exits with a non-zero status is forked again with the same task id, at
    most `max_restarts` times in all (default 100; then the remaining children get SIGTERM and
    the parent raises RuntimeError). A child that exits with status 0 is not restarted; once
    every child has exited the parent exits with status 0 (sys.exit(0)).
    SIGTERM, SIGINT and SIGHUP sent to the parent are passed on to every child; after SIGTERM or
    SIGINT nothing is restarted, so the parent ends once its children did (eddy's addition:
    Tornado's parent would die and leave its children running). On Linux each child also gets
    SIGTERM when the parent dies. A SIGCHLD the caller ignores is set back to its default in
    the parent (which must reap its children to restart them); each child gets the caller's
    disposition back.
    An eddy IOLoop that exists but never ran is reinitialised in each child (its own asyncio
    loop and eddy loop fds; the applications and servers made on it stay), so the caller can
    go on with IOLoop.current().start() there.
    Raises RuntimeError, before forking anything, when an eddy IOLoop ran already (started,
    run_sync, or any of its callbacks run), an event loop is running, or an IOLoop of another
    thread exists (make them after forking: asyncio.run(main()) in the child), or when called
    again in a forked child."""
    global _task_id
    if sys.platform == "win32":
        raise RuntimeError("fork_processes needs os.fork (not available on Windows)")
    if _task_id is not None:
        raise RuntimeError("fork_processes: already forked (this is child %d)" % _task_id)
    loops = _refuse_live_ioloop()
    if max_restarts is None:
        max_restarts = 100
    if not num_processes or num_processes <= 0:
        num_processes = cpu_count()
    gen_log.info("Starting %d processes", num_processes)
    parent_pid = os.getpid()
    children = {}  # pid -> task id
    stopping = [False]
    previous = {}

    def forward(signum, frame):
        if os.getpid() != parent_pid:
            # A child between fork and restoring its handlers: act as it would have.
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)
            elif handler != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping[0] = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def spawn(task):
        pid = os.fork()
        if pid == 0:  # the child: back to the signal handling it had, then serve
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if previous_chld is not None:  # None: set outside Python; the default stays
                signal.signal(signal.SIGCHLD, previous_chld)
            _die_with_parent(parent_pid)
            for loop in loops:  # made before the fork, never run: fds of the child's own
                loop._after_fork()
            return True
        children[pid] = task
        if stopping[0]:  # SIGTERM / SIGINT came between fork() and the line above
            os.kill(pid, signal.SIGTERM)
        return False

    for signum in _FORWARDED:
        previous[signum] = signal.signal(signum, forward)
    # The parent must reap its children: with SIGCHLD ignored (SIG_IGN survives exec) the kernel
    # reaps them itself, os.wait() fails with ECHILD, and no crashed child would be restarted.
    # Each child gets the caller's disposition back.
    previous_chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    restarts = 0
    for task in range(num_processes):
        if spawn(task):
            _task_id = task
            return task
    while children:
        pid, status = os.wait()
        task = children.pop(pid, None)
        if task is None:
            continue
        if os.WIFSIGNALED(status):
            how = "killed by signal %d" % os.WTERMSIG(status)
        elif os.WEXITSTATUS(status) != 0:
            how = "exited with status %d" % os.WEXITSTATUS(status)
        else:
            gen_log.info("child %d (pid %d) exited normally", task, pid)
            continue
        if stopping[0]:
            gen_log.info("child %d (pid %d) %s while stopping", task, pid, how)
            continue
        gen_log.warning("child %d (pid %d) %s, restarting", task, pid, how)
        restarts += 1
        if restarts > max_restarts:
            for other in list(children):
                try:
                    os.kill(other, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if previous_chld is not None:
                signal.signal(signal.SIGCHLD, previous_chld)
            raise RuntimeError("Too many child restarts, giving up")
        if spawn(task):
            _task_id = task
            return task
    # Every child ended: the parent ends too, instead of returning to the code after
    # fork_processes (which would then run as if it were a child).
    sys.exit(0)


def _refuse_live_ioloop():
    """Raises RuntimeError when forking now would share a loop's state with the children;
    returns the IOLoops that exist but never ran (each child reinitialises them)."""
    import asyncio
    import threading

    from .ioloop import IOLoop

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # any running event loop: its selector's epoll fd would be shared the same way
        raise RuntimeError("fork_processes: called from a running event loop; call it before "
                           "asyncio.run() (bind the sockets, fork, then run the loop)")

    with IOLoop._lock:
        live = list(IOLoop._by_asyncio.values())
    for loop in live:
        if loop._pump.ran or loop.asyncio_loop.is_running():
            raise RuntimeError(
                "Cannot run in multiple processes: IOLoop instance has already been "
                "initialized (it ran before fork_processes / start(num_processes); its work "
                "cannot be split among the children). Fork before starting the loop: bind "
                "the sockets, fork, and only then run the IOLoop")
        if loop._ident != threading.get_ident():
            raise RuntimeError(
                "fork_processes: an eddy IOLoop of another thread exists; fork from the "
                "main thread before any other thread makes a loop")
    return live


def _die_with_parent(parent_pid):
    """Linux: SIGTERM when the parent dies, so a killed supervisor leaves no children."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
